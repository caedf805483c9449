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

from alignkit.divergences.catalogue import _LOG2, _NEAR_KL, Divergence, alpha_integrand

__all__ = ["quadrature_value_and_grad"]

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
    return _Plan(tuple(divs), a_t, c_t, any(gen), near, other)


def _batched_integrand(
    divs: Sequence[Divergence], log_p: Tensor, log_q: Tensor, plan: _Plan | None = None
) -> Tensor:
    """q·f̃(p/q) for S settings: log_q (S, ..., N); log_p broadcasting, or one row per setting
    (S, ..., N). One batched call for the α-family settings (named members included), one
    call per other row (:class:`_Plan`): a loop over generator kinds, never over α values."""
    plan = plan or _plan(divs, log_q.dtype, log_q.device)
    per_setting = log_p.ndim == log_q.ndim  # rows (S, ..., N): one target per setting
    lp = (lambda i: log_p[i]) if per_setting else (lambda i: log_p)  # noqa: E731
    shape = (-1,) + (1,) * (log_q.ndim - 1)
    if plan.generic:
        a, c = plan.alpha.reshape(shape), plan.scale.reshape(shape)
        out = alpha_integrand(log_p, log_q, a, c)
    else:
        out = torch.empty_like(log_q)
    for i in plan.near:
        out[i] = alpha_integrand(lp(i), log_q[i], *plan.divs[i].alpha_form)  # type: ignore[misc]
    for i in plan.other:
        out[i] = plan.divs[i].integrand(lp(i), log_q[i])
    return out


def _slope_other(name: str, log_p: Tensor, log_q: Tensor) -> Tensor | None:
    """∂(q·f̃(p/q))/∂log q in closed form for the generators outside the α family."""
    p, q = torch.exp(log_p), torch.exp(log_q)
    if name == "jensen_shannon":  # ½[p(log p − log m) + q(log q − log m)], m = (p + q)/2
        return 0.5 * q * (log_q - torch.logaddexp(log_p, log_q) + _LOG2)
    if name == "total_variation":  # ½|p − q| (subgradient 0 where p = q)
        return -0.5 * q * torch.sign(p - q)
    if name == "jeffreys":  # (p − q)(log p − log q)
        return -q * (log_p - log_q) - (p - q)
    return None


def _integrand_and_slope(plan: _Plan, log_p: Tensor, log_q: Tensor) -> tuple[Tensor, Tensor]:
    """q·f̃(p/q) and its derivative in log q, (S, ..., N) each, without autograd.

    α family: q·f_α = (T − q − α(p − q))/(α(α − 1)) with T = p^α q^{1−α}, so its slope is
    −(T − q)/α = −q·expm1(αd)/α (d = log p − log q; −q·d at α = 0, the exact limit).
    ``log_p`` broadcasts against ``log_q`` (one target for every setting). Exponents below
    −700 are raised to −700 (a density of 10⁻³⁰⁴ instead of less, far below every sum's
    resolution): the CPU's exp takes a slow path for results below the smallest normal
    double, 20× slower, and the far tails of the quadrature window are full of them. The
    α family's exponent log T is floored only once formed (its size is what makes the
    divergence infinite beyond the cliff), never log p inside it.
    """
    shape = (-1,) + (1,) * (log_q.ndim - 1)
    q = torch.exp(log_q.clamp_min(_EXP_FLOOR))
    if plan.generic:
        a, c = plan.alpha.reshape(shape), plan.scale.reshape(shape)
        p = torch.exp(log_p.clamp_min(_EXP_FLOOR))
        arg = torch.addcmul(a * log_p, 1.0 - a, log_q).clamp_min_(_EXP_FLOOR)
        t_q = torch.exp_(arg).sub_(q)  # T − q
        value = torch.addcmul(t_q, a, p - q, value=-1.0).mul_(c / (a * (a - 1.0)))
        slope = t_q.mul_(-c / a)
    else:
        value, slope = torch.empty_like(log_q), torch.empty_like(log_q)
    # the rows outside the generic pass (within 10⁻³ of α = 0 or 1, other generators) are
    # finite wherever the model is a Gaussian, so both their densities are floored
    lp = log_p.clamp_min(_EXP_FLOOR)
    for i in plan.near:
        a_i, c_i = plan.divs[i].alpha_form  # type: ignore[misc]
        lq = log_q[i].clamp_min(_EXP_FLOOR)
        value[i] = alpha_integrand(lp, lq, a_i, c_i)
        d = lp - lq
        ratio = d if a_i == 0.0 else torch.expm1(a_i * d) / a_i
        slope[i] = -c_i * q[i] * ratio
    for i in plan.other:
        div = plan.divs[i]
        lq = log_q[i].clamp_min(_EXP_FLOOR)
        value[i] = div.integrand(lp, lq)
        known = _slope_other(div.name, lp, lq)
        if known is None:  # a generator without a closed form here: autograd, elementwise
            with torch.enable_grad():
                lq = lq.detach().requires_grad_(True)
                known = torch.autograd.grad(div.integrand(lp, lq).sum(), lq)[0]
        slope[i] = known
    return value, slope


class _WithGradient(torch.autograd.Function):
    """Returns ``value`` with the precomputed gradients ``d_mu``, ``d_ls`` of (μ, log σ)."""

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        mu: Tensor,
        log_sigma: Tensor,
        value: Tensor,
        d_mu: Tensor,
        d_ls: Tensor,
    ) -> Tensor:
        ctx.save_for_backward(d_mu, d_ls)
        return value.clone()

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad: Tensor
    ) -> tuple[Tensor, Tensor, None, None, None]:
        d_mu, d_ls = ctx.saved_tensors  # type: ignore[attr-defined]
        return grad * d_mu, grad * d_ls, None, None, None


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
