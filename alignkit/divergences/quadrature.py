"""The quadrature behind the Gaussian fits: the batched integrand and its analytic slope.

:func:`_batched_integrand` gives q·f̃(p/q) for a batch of settings (autograd-friendly; the
landscape, the 2-D fits and the toy LM use it); :func:`quadrature_value_and_grad` gives the
1-D trapezoid objective with its gradient in (μ, log σ) in closed form, no autograd graph —
the 1-D fits' inner loop (:mod:`alignkit.divergences.fit`). Taught in notebook 03.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from alignkit.divergences.catalogue import _LOG2, _NEAR_KL, Divergence
from alignkit.divergences.catalogue import _alpha_integrand as alpha_integrand

__all__: list[str] = []  # the fits' inner loop: callers check the arguments

Tensor = torch.Tensor
_LOG_2PI = math.log(2.0 * math.pi)
#: Exponents below this are raised to it in the fits' quadrature (see _integrand_and_slope).
_EXP_FLOOR = -700.0


@dataclass(frozen=True)
class _Plan:
    """How S settings are evaluated together: one generic α-family pass over every row
    (named members included; rows that are not generic α get a harmless α = ½ and are
    overwritten), then the rows within 10⁻³ of α = 0 or 1 (their exact branch) and the
    other generators one by one — a loop over a few rows, never over the α values."""

    divs: tuple[Divergence, ...]
    alpha: Tensor  # (S,) α of the generic α rows, ½ elsewhere
    scale: Tensor  # (S,)
    generic: bool  # any generic α row
    near: tuple[int, ...]
    other: tuple[int, ...]
    #: the generic rows' per-step constants, (S,) each: 1 − α, c/(α(α − 1)) and −c/α
    one_minus: Tensor
    value_scale: Tensor
    slope_scale: Tensor


def _plan(divs: Sequence[Divergence], dtype: torch.dtype, device: torch.device) -> _Plan:
    forms = [d.alpha_form for d in divs]
    near = tuple(i for i, f in enumerate(forms)
                 if f is not None and min(abs(f[0]), abs(f[0] - 1.0)) < _NEAR_KL)  # fmt: skip
    other = tuple(i for i, f in enumerate(forms) if f is None)
    gen = [f is not None and i not in near for i, f in enumerate(forms)]
    alpha = [f[0] if g and f is not None else 0.5 for f, g in zip(forms, gen, strict=True)]
    scale = [f[1] if g and f is not None else 1.0 for f, g in zip(forms, gen, strict=True)]
    a_t = torch.tensor(alpha, dtype=dtype, device=device)
    c_t = torch.tensor(scale, dtype=dtype, device=device)
    return _Plan(tuple(divs), a_t, c_t, any(gen), near, other, 1.0 - a_t,
                 c_t / (a_t * (a_t - 1.0)), -c_t / a_t)  # fmt: skip


def _batched_integrand(
    divs: Sequence[Divergence], log_p: Tensor, log_q: Tensor, plan: _Plan | None = None
) -> Tensor:
    """q·f̃(p/q) for S settings: log_q (S, ..., N); log_p broadcasting, or one row per setting
    (S, ..., N). One batched call for the α-family settings (named members included), one
    call per other generator (rows sharing one go together, :class:`_Plan`): a loop over
    generator kinds, never over α values or rows."""
    plan = plan or _plan(divs, log_q.dtype, log_q.device)
    per_setting = log_p.ndim == log_q.ndim  # rows (S, ..., N): one target per setting
    shape = (-1,) + (1,) * (log_q.ndim - 1)
    if plan.generic:
        a, c = plan.alpha.reshape(shape), plan.scale.reshape(shape)
        out = alpha_integrand(log_p, log_q, a, c)
    else:
        dtype = torch.promote_types(log_p.dtype, log_q.dtype)
        out = torch.empty(log_q.shape, dtype=dtype, device=log_q.device)
    groups: dict[object, list[int]] = {}  # rows sharing a generator: one call per group
    for i in plan.near:
        groups.setdefault(plan.divs[i].alpha_form, []).append(i)
    for i in plan.other:
        groups.setdefault(plan.divs[i].name, []).append(i)
    n_rows = log_q.shape[0]
    for rows in groups.values():
        d = plan.divs[rows[0]]
        if len(rows) == n_rows:  # every row (e.g. one divergence over a β row): no scatter
            idx: Tensor | slice = slice(None)
        else:
            idx = torch.tensor(rows, device=log_q.device)
        lp_rows = log_p[idx] if per_setting else log_p
        if d.alpha_form is not None:
            vals = alpha_integrand(lp_rows, log_q[idx], *d.alpha_form)
        else:
            vals = d.pointwise(lp_rows, log_q[idx])
        if len(rows) == n_rows:
            return vals
        out[idx] = vals
    return out


def _other_value_and_slope(
    name: str, lp: Tensor, lq: Tensor, p: Tensor | None = None
) -> tuple[Tensor, Tensor] | None:
    """q·f̃(p/q) and its slope in log q in closed form for the generators outside the α
    family (``None`` for any other): sharing the exponentials between the two (``p``:
    exp(lp) when the caller has it)."""
    p, q = (torch.exp(lp) if p is None else p), torch.exp(lq)
    if name == "jensen_shannon":  # ½[p(log p − log m) + q(log q − log m)], m = (p + q)/2
        # log(p + q): both are at least e⁻⁷⁰⁰ (floored), so the sum is a normal double
        log_m = torch.log(p + q).sub_(_LOG2)
        slope = 0.5 * q * (lq - log_m)
        return 0.5 * p * (lp - log_m) + slope, slope
    if name == "total_variation":  # ½|p − q| (subgradient 0 where p = q)
        diff = p - q
        return 0.5 * diff.abs(), -0.5 * q * torch.sign(diff)
    if name == "jeffreys":  # (p − q)(log p − log q)
        diff, d = p - q, lp - lq
        return diff * d, -q * d - diff
    return None


def _near_value_and_slope(
    a: float, c: float, lp: Tensor, lq: Tensor, p: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """The α family within 10⁻³ of α = 0 or 1 (:func:`alpha_integrand`'s exact branches:
    [q·r_α − (p − q)]/(α − 1) near 0, [p·r_{α−1} − (p − q)]/α near 1, r_β = expm1(βd)/β,
    r_0 = d) and its slope −c·q·r_α."""
    p, q, d = (torch.exp(lp) if p is None else p), torch.exp(lq), lp - lq
    if a == 0.0:  # reverse KL: p − q − q·d and −q·d, the same floats in fewer passes
        diff = p - q
        qd = q.mul_(d)
        value = diff.sub_(qd)
        return (value if c == 1.0 else value.mul_(c)), qd.mul_(-c)
    if a == 1.0:  # forward KL: p·d − (p − q), slope −c·(p − q) = −c·q·expm1(d) exactly
        diff = p - q
        value = torch.mul(p, d).sub_(diff)
        return (value if c == 1.0 else value.mul_(c)), diff.mul_(-c)
    r = torch.expm1(a * d) / a
    if abs(a) < _NEAR_KL:
        value = (q * r - (p - q)) / (a - 1.0)
    else:
        b = a - 1.0
        value = (p * (d if b == 0.0 else torch.expm1(b * d) / b) - (p - q)) / a
    return c * value, -c * q * r


def _integrand_and_slope(
    plan: _Plan, log_p: Tensor, log_q: Tensor, floored: tuple[Tensor, Tensor] | None = None
) -> tuple[Tensor, Tensor]:
    """q·f̃(p/q) and its derivative in log q, (S, ..., N) each, without autograd.

    α family: q·f_α = (T − q − α(p − q))/(α(α − 1)) with T = p^α q^{1−α}, so its slope is
    −(T − q)/α = −q·expm1(αd)/α (d = log p − log q; −q·d at α = 0, the exact limit).
    ``log_p`` broadcasts against ``log_q`` (one target for every setting). Exponents below
    −700 are raised to −700 (a density of 10⁻³⁰⁴ instead of less, far below every sum's
    resolution): the CPU's exp takes a slow path for results below the smallest normal
    double, 20× slower, and the far tails of the quadrature window are full of them. The
    α family's exponent log T is floored only once formed (its size is what makes the
    divergence infinite beyond the cliff), never log p inside it. ``floored`` = (floored
    log p, its exp), when a descent computed them once for all its steps.
    """
    # the rows outside the generic pass (within 10⁻³ of α = 0 or 1, other generators) are
    # finite wherever the model is a Gaussian, so both their densities are floored
    lp, p_floored = floored if floored is not None else (log_p.clamp_min(_EXP_FLOOR), None)
    rows: dict[int, tuple[Tensor, Tensor]] = {}
    single = log_q.shape[0] == 1  # one setting: its row keeps the leading axis, no copies
    for i in plan.near:
        a_i, c_i = plan.divs[i].alpha_form  # type: ignore[misc]
        lq_i = (log_q if single else log_q[i]).clamp_min(_EXP_FLOOR)
        rows[i] = _near_value_and_slope(a_i, c_i, lp, lq_i, p_floored)
    for i in plan.other:
        div, lq = plan.divs[i], (log_q if single else log_q[i]).clamp_min(_EXP_FLOOR)
        known = _other_value_and_slope(div.name, lp, lq, p_floored)
        if known is None:  # a generator without a closed form here: autograd, elementwise
            with torch.enable_grad():
                lq = lq.detach().requires_grad_(True)
                value_i = div.pointwise(lp, lq)
                known = value_i.detach(), torch.autograd.grad(value_i.sum(), lq)[0]
        rows[i] = known
    if single and not plan.generic:
        return rows[0]
    if plan.generic:
        shape = (-1,) + (1,) * (log_q.ndim - 1)
        a, one_minus = plan.alpha.reshape(shape), plan.one_minus.reshape(shape)
        q = torch.exp(log_q.clamp_min(_EXP_FLOOR))
        p = torch.exp(lp) if p_floored is None else p_floored
        arg = torch.addcmul(a * log_p, one_minus, log_q).clamp_min_(_EXP_FLOOR)
        t_q = torch.exp_(arg).sub_(q)  # T − q
        value = torch.addcmul(t_q, a, p - q, value=-1.0).mul_(plan.value_scale.reshape(shape))
        slope = t_q.mul_(plan.slope_scale.reshape(shape))
    else:
        value, slope = torch.empty_like(log_q), torch.empty_like(log_q)
    for i, (value_i, slope_i) in rows.items():
        value[i], slope[i] = value_i, slope_i
    return value, slope


class _WithGradient(torch.autograd.Function):
    """Returns ``value`` (S, ...) with precomputed gradients ``d_a``, ``d_b`` of two parameter
    tensors (shapes (S, ...) or (S, ..., k)): autograd then only scales them."""

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        param_a: Tensor,
        param_b: Tensor,
        value: Tensor,
        d_a: Tensor,
        d_b: Tensor,
    ) -> Tensor:
        ctx.save_for_backward(d_a, d_b)
        return value.clone()

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad: Tensor
    ) -> tuple[Tensor, Tensor, None, None, None]:
        d_a, d_b = ctx.saved_tensors  # type: ignore[attr-defined]

        def scaled(d: Tensor) -> Tensor:
            return grad.reshape(grad.shape + (1,) * (d.ndim - grad.ndim)) * d

        return scaled(d_a), scaled(d_b), None, None, None


def quadrature_value_and_grad(
    plan: _Plan, log_p: Tensor, mu: Tensor, log_sigma: Tensor, nodes: Tensor, h: float
) -> tuple[Tensor, Tensor, Tensor]:
    """Trapezoid D_f(P‖N(μ, σ²)) and its analytic gradient in (μ, log σ), no autograd.

    With z = (x − μ)/σ, ∂log q/∂μ = z/σ and ∂log q/∂log σ = z² − 1, so both derivatives are
    h·Σ slope·(…) over the nodes (:func:`_integrand_and_slope`). Shapes: ``mu``,
    ``log_sigma`` (S, ...); ``log_p`` (N,) on ``nodes`` (N,); returns three (S, ...) tensors.
    """
    inv = torch.exp(-log_sigma)[..., None]
    z = (nodes - mu[..., None]).mul_(inv)
    z2 = z * z
    log_q = torch.sub(-(log_sigma[..., None] + 0.5 * _LOG_2PI), z2, alpha=0.5)
    g, slope = _integrand_and_slope(plan, log_p, log_q)
    row = slope.unsqueeze(-2)  # (S, ..., 1, N): the three sums over nodes as dot products
    value = g.sum(-1) * h
    d_mu = (row @ z.unsqueeze(-1))[..., 0, 0] * (inv[..., 0] * h)
    d_ls = ((row @ z2.unsqueeze(-1))[..., 0, 0] - slope.sum(-1)) * h
    return value, d_mu, d_ls
