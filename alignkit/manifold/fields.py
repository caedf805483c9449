"""Generative velocity fields and their controlled errors (theme 3).

A :class:`GenerativeModel` carries a single-sample velocity ``v(x, t)`` (``(D,), () ->
(D,)``) that carries the prior at ``t = 0`` to the data near ``t = t_end``, integrated by
:mod:`alignkit.numerics.ode`. Three kinds:

- ``"exact"``: the exact velocity of the linear path x_t = (1 − t) x₀ + t x₁ for a finite
  data set {y_j} and x₀ ~ N(0, I): ``v(x, t) = (m(x, t) − x)/(1 − t)`` with the posterior
  mean ``m = Σ_j w_j y_j``, ``w ∝ exp(−|x − t y_j|² / (2 (1 − t)²))`` (the reference);
- ``"flow"``: an MLP trained by conditional flow matching (:mod:`.training`);
- ``"score"``: an MLP noise predictor ε̂(x, σ) trained by denoising score matching, sampled
  with the probability-flow ODE of the variance-exploding path σ(t) = σ_max^{1−t} σ_min^t:
  ``dx/dt = σ(t)² L s(x, σ) = −σ(t) L ε̂(x, σ)``, ``L = ln(σ_max/σ_min)``.

:func:`perturb` adds an error ε·δ to the model's *output* (velocity for exact/flow, ε̂ for
score; ``"smooth"`` random field, constant ``"bias"``, ``"weights"`` noise), or, as the
counter-example, a constant error ε·b in the predicted clean sample (``"endpoint"``), which
becomes a velocity error that grows as fast as the field contracts toward the data.

References: Lipman et al., "Flow Matching for Generative Modeling" (ICLR 2023); Song et
al., "Score-Based Generative Modeling through Stochastic Differential Equations" (ICLR
2021). Taught in ``notebooks/05_generative_manifold_alignment.ipynb``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import torch

from alignkit._checks import check_choice, check_scalar, check_shape
from alignkit.device import make_generator
from alignkit.manifold._inputs import check_points
from alignkit.numerics.ode import Field
from alignkit.numerics.tangent import MLPField, TangentField

__all__ = [
    "GenerativeModel",
    "check_model",
    "NoiseSchedule",
    "PERTURBATIONS",
    "exact_model",
    "mlp_apply",
    "init_mlp",
    "flow_model",
    "score_model",
    "perturb",
]

Params = tuple[torch.Tensor, ...]
TimeScale = Callable[[torch.Tensor], torch.Tensor]
EXACT_T_END = 0.999  # the exact field is singular at t = 1
_ROWS = 512  # samples per block of the exact field's batched velocity (measured: ~15 % faster)


@dataclass(frozen=True, eq=False)  # compared (and cached) by identity
class GenerativeModel:
    """A velocity field from a prior N(0, prior_std² I) at t = 0 to the data at ``t_end``.

    ``output_scale(t)``: velocity error per unit error of the model's output;
    ``endpoint_scale(t)``: velocity error per unit error of the predicted clean sample.
    ``params``/``build``: the MLP weights and ``params -> velocity`` (None for the exact field).
    """

    kind: str
    dim: int
    prior_std: float
    t_end: float
    velocity: Field
    output_scale: TimeScale
    endpoint_scale: TimeScale
    device: torch.device
    dtype: torch.dtype
    params: Params | None = None
    build: Callable[[Params], Field] | None = None
    info: dict[str, Any] = field(default_factory=dict)


def check_model(model: Any, name: str = "model") -> GenerativeModel:
    """Return ``model`` if it is a usable :class:`GenerativeModel`, else raise.

    ``TypeError`` for another object; ``ValueError`` for a model whose training diverged
    (``info["diverged"]``) or whose weights are not all finite: its samples would be NaN.
    """
    if not isinstance(model, GenerativeModel):
        raise TypeError(
            f"{name} must be a GenerativeModel (from exact_model, train_flow_matching, "
            f"train_score_model or perturb), got {type(model).__name__} {model!r:.80}"
        )
    if model.info.get("diverged") or (
        model.params is not None and not all(bool(torch.isfinite(p).all()) for p in model.params)
    ):
        at = model.info.get("diverged_step")
        why = f"its training diverged at step {at}" if at is not None else "got NaN or inf weights"
        raise ValueError(
            f"{name} must have finite parameters: {why} (info['diverged']); "
            "train it again with a smaller lr"
        )
    return model


@dataclass(frozen=True, eq=False)
class _ExactField(TangentField):
    """v(x, t) = (m(x, t) − x)/(1 − t) with its Jacobian–vector products by hand.

    With w the posterior weights and m = Σ w_j y_j: ∂m/∂x · u = t/(1 − t)² C u, C the
    weights' covariance Σ_j w_j (y_j − m)(y_j − m)ᵀ. For D ≤ 8 (and float64 available)
    everything up to C is float64 (:meth:`_posterior`): the logits by one product,
    ``(t x·y_j − t²|y_j|²/2)/(1 − t)²`` (the |x|² term is the same for every j and cancels
    in the softmax; float64 keeps the cancellation harmless up to t = 0.999), unnormalised
    exp weights, then ONE (N, M) @ (M, 1 + D + D²) product with the data's moments gives
    Σw, m and C = Σ_j w_j y_j y_jᵀ − m mᵀ (no (N, M, D) array, no separate softmax),
    accurate near t = 1 where C is tiny; otherwise float32, centred, (y_j − m) per sample.
    """

    data: torch.Tensor
    dim: int

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:  # one sample (D,)
        s = 1.0 - t
        logits = -(x - t * self.data).square().sum(-1) / (2.0 * s * s)
        m = torch.softmax(logits, dim=0) @ self.data
        return (m - x) / s

    def _weights(self, x: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s = 1.0 - t
        ty = t * self.data
        if self.dim <= 8:  # |x − t y|² coordinate by coordinate: no (N, M, D) array
            sq = (x[:, :1] - ty[:, 0]).square_()
            for d in range(1, self.dim):
                sq += (x[:, d : d + 1] - ty[:, d]).square_()
        else:
            sq = (x[:, None, :] - ty).square().sum(-1)
        w = torch.softmax(sq.mul_(-0.5 / (s * s)), dim=-1)
        return w, w @ self.data

    def batched(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if self._float64 is None:
            return (self._weights(x, t)[1] - x) / (1.0 - t)
        if x.shape[0] > _ROWS:  # (rows, M) float64 blocks that stay in the CPU cache
            return torch.cat([self.batched(part, t) for part in x.split(_ROWS)])
        m = self._posterior(x, t, 1 + self.dim)[:, 1:]
        return ((m - x.double()) / (1.0 - float(t))).to(x.dtype)

    @cached_property
    def _float64(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
        """Float64 ``[yᵀ; |y|²]`` (D + 1, M) and the moments ``[1, y]ᵀ`` (1 + D, M) and
        ``[1, y, y yᵀ flattened]`` (M, 1 + D + D²); None for D > 8 or without float64."""
        if self.dim > 8 or self.data.device.type == "mps":
            return None
        y = self.data.double()
        yy = (y[:, :, None] * y[:, None, :]).reshape(y.shape[0], -1)
        moments = torch.cat([torch.ones_like(y[:, :1]), y, yy], dim=1)
        first_t = moments[:, : 1 + self.dim].T.contiguous()
        return torch.cat([y.T, y.square().sum(1)[None]]).contiguous(), first_t, moments

    def _posterior(self, x: torch.Tensor, t: torch.Tensor, cols: int) -> torch.Tensor:
        """Posterior means of ``[1, y, y yᵀ][:cols]`` under the weights w(x, t), float64 (N, cols).

        Logits ``a (x·y_j − t |y_j|²/2)``, ``a = t/(1 − t)²``: −|x − t y_j|²/(2 (1 − t)²) up
        to a term that does not depend on j (softmax-invariant), by one product
        ``[a x, −a t/2] @ [yᵀ; |y|²]``; the row maximum subtracted, exp in place, one product
        with the moments; column 0 is Σ w.
        """
        assert self._float64 is not None
        y_aug, first_t, moments = self._float64
        n, d = x.shape
        tt = float(t)
        a = tt / (1.0 - tt) ** 2
        x_aug = torch.empty(n, d + 1, dtype=y_aug.dtype, device=x.device)
        x_aug[:, :d] = x
        x_aug[:, :d] *= a
        x_aug[:, d] = -0.5 * tt * a
        logits = x_aug @ y_aug  # (N, M)
        logits -= logits.amax(dim=1, keepdim=True)
        # floored at −87 (weights ≥ e⁻⁸⁷ ≈ 1.6e-38: their sum is far below the float64
        # rounding of Σw ≥ 1): exp of far-underflowing inputs takes 15-40x longer on CPU
        w = logits.clamp_(min=-87.0).exp_()
        if cols == first_t.shape[0]:  # [1, y]ᵀ @ wᵀ: ~2x faster than w @ [1, y] (few columns)
            sums = (first_t @ w.T).T
        else:
            sums = w @ moments[:, :cols]
        return sums / sums[:, :1]

    def tangent(self, s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        x, u = s[0], s[1:]
        if self._float64 is not None:  # C = E[y yᵀ] − m mᵀ in float64
            n, d = x.shape
            sums = self._posterior(x, t, 1 + d + d * d)  # (N, 1 + D + D²): 1, m, E[y yᵀ]
            m64 = sums[:, 1 : 1 + d]
            tt = float(t)
            sc = 1.0 - tt
            c = tt / sc**3  # Dv·u = (t/(1 − t)² C u − u)/(1 − t)
            cov = torch.baddbmm(sums[:, 1 + d :].reshape(n, d, d), m64[:, :, None],
                                m64[:, None, :], beta=c, alpha=-c)  # fmt: skip
            out = torch.empty_like(s)
            out[0] = (m64 - x.double()) / sc
            cov_u = torch.matmul(u.transpose(0, 1), cov.to(u.dtype)).transpose(0, 1)  # C = Cᵀ
            torch.sub(cov_u, u, alpha=1.0 / sc, out=out[1:])
            return out
        w, m = self._weights(x, t)
        yc = self.data - m[:, None, :]  # (N, M, D)
        proj = torch.einsum("nmd,knd->knm", yc, u) * w  # w_j (y_j − m)·u
        cov_u = torch.einsum("knm,nmd->knd", proj, yc)
        scale = 1.0 - t
        return torch.cat([((m - x) / scale)[None], (t / scale**2 * cov_u - u) / scale])


def exact_model(data: torch.Tensor) -> GenerativeModel:
    """The exact linear-path flow of the empirical distribution of ``data`` (M, D).

    ``data``: a finite floating-point tensor with M ≥ 1 rows (``TypeError`` for another
    dtype or object, ``ValueError`` for NaN/inf entries, a wrong shape or a meta tensor).
    """
    check_points(data, "data", min_rows=1)
    velocity = _ExactField(data, int(data.shape[1]))
    one = lambda t: torch.ones_like(t)  # noqa: E731
    end = lambda t: 1.0 / (1.0 - t)  # noqa: E731
    return GenerativeModel(
        "exact", int(data.shape[1]), 1.0, EXACT_T_END, velocity, one, end, data.device,
        data.dtype, info={"data_size": int(data.shape[0])},
    )  # fmt: skip


def init_mlp(
    sizes: Sequence[int], *, seed: int | torch.Generator | None = 0, device: Any = None,
    dtype: torch.dtype = torch.float32,
) -> Params:  # fmt: skip
    """Weights (W₁, b₁, …) of an MLP with layer ``sizes`` (PyTorch's default uniform init)."""
    gen = make_generator(seed, device)
    out: list[torch.Tensor] = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        bound = 1.0 / math.sqrt(fan_in)
        for shape in ((fan_out, fan_in), (fan_out,)):
            u = torch.rand(shape, generator=gen, device=gen.device, dtype=dtype)
            out.append((2.0 * u - 1.0) * bound)
    return tuple(out)


def mlp_apply(params: Params, z: torch.Tensor) -> torch.Tensor:
    """SiLU MLP, ``(..., in) -> (..., out)``; works per sample and batched."""
    n = len(params) // 2
    for i in range(n):
        z = z @ params[2 * i].T + params[2 * i + 1]
        if i < n - 1:
            z = torch.nn.functional.silu(z)
    return z


def flow_model(params: Params, dim: int, info: dict[str, Any] | None = None) -> GenerativeModel:
    """A flow-matching model: ``v(x, t) = MLP([x, t])`` from N(0, I) at 0 to data at 1."""

    def build(p: Params) -> Field:  # v = MLP([x, t]), tangents by hand (numerics.tangent)
        return MLPField(p, dim)

    one = lambda t: torch.ones_like(t)  # noqa: E731
    end = lambda t: 1.0 / (1.0 - t).clamp_min(1e-3)  # noqa: E731
    return GenerativeModel(
        "flow", dim, 1.0, 1.0, build(params), one, end, params[0].device, params[0].dtype,
        params, build, dict(info or {}),
    )  # fmt: skip


@dataclass(frozen=True)
class NoiseSchedule:
    """σ(t) = σ_max^{1−t} σ_min^t for the score model's probability-flow ODE."""

    sigma_min: float = 0.01
    sigma_max: float = 3.0

    def __post_init__(self) -> None:  # 0 < σ_min < σ_max, finite (else named errors)
        lo = check_scalar(self.sigma_min, "sigma_min", low=0.0, closed="neither")
        hi = check_scalar(self.sigma_max, "sigma_max", low=lo, closed="neither")
        object.__setattr__(self, "sigma_min", lo)
        object.__setattr__(self, "sigma_max", hi)

    @property
    def log_ratio(self) -> float:
        return math.log(self.sigma_max / self.sigma_min)

    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        return self.sigma_max * torch.exp(-self.log_ratio * t)


def score_model(
    params: Params, dim: int, schedule: NoiseSchedule, info: dict[str, Any] | None = None
) -> GenerativeModel:
    """A score model: noise predictor ε̂ = MLP([x, log σ]) and its probability-flow ODE."""
    big_l = schedule.log_ratio

    def log_sigma(t: torch.Tensor) -> torch.Tensor:
        return torch.log(schedule.sigma(t))

    def scale(t: torch.Tensor) -> torch.Tensor:
        return -schedule.sigma(t) * big_l

    def build(p: Params) -> Field:  # v = −σ L · MLP([x, log σ]), tangents by hand
        return MLPField(p, dim, feature=log_sigma, scale=scale)

    out = lambda t: schedule.sigma(t) * big_l  # noqa: E731
    end = lambda t: big_l * torch.ones_like(t)  # noqa: E731
    info = {"sigma_min": schedule.sigma_min, "sigma_max": schedule.sigma_max, **(info or {})}
    return GenerativeModel(
        "score", dim, schedule.sigma_max, 1.0, build(params), out, end, params[0].device,
        params[0].dtype, params, build, info,
    )  # fmt: skip


#: Error kinds of :func:`perturb` ("endpoint" is the counter-example).
PERTURBATIONS = ("smooth", "bias", "weights", "endpoint")


def _smooth_field(dim: int, gen: torch.Generator, dtype: torch.dtype) -> Field:
    """Random Fourier field δ(x) = √(2/K) Σ_k a_k cos(ω_k·x + φ_k)/√D, E|δ|² = 1, ℓ = 0.5."""
    k = 32
    dev = gen.device
    omega = torch.randn(k, dim, generator=gen, device=dev, dtype=dtype) / 0.5
    phase = 2 * math.pi * torch.rand(k, generator=gen, device=dev, dtype=dtype)
    amp = torch.randn(k, dim, generator=gen, device=dev, dtype=dtype) * math.sqrt(2.0 / (k * dim))

    def delta(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.cos(omega @ x + phase) @ amp

    delta.fourier = (omega, phase, amp)  # type: ignore[attr-defined]
    return delta


def perturb(
    model: GenerativeModel,
    kind: str,
    eps: float,
    *,
    seed: int | torch.Generator | None = 0,
    direction: torch.Tensor | None = None,
) -> GenerativeModel:
    """The model with an error of size ``eps`` of the given kind.

    Parameters
    ----------
    model : GenerativeModel
    kind : {"smooth", "bias", "weights", "endpoint"}
        ``smooth``: ε·δ(x), a random smooth field with E|δ|² = 1, added to the output;
        ``bias``: ε·b, a constant unit vector, added to the output; ``weights``: every MLP
        weight w → w + ε·ξ·rms(W), ξ ~ N(0, 1) (trained models only); ``endpoint``: the
        predicted clean sample shifted by ε·b (velocity error ε b · endpoint_scale(t)).
    eps : float
        Error size, ≥ 0.
    seed : int or torch.Generator, default=0
        Draws δ, b or ξ.
    direction : Tensor (D,), optional
        The unit vector b for ``bias``/``endpoint`` (default: random, from ``seed``).

    Raises
    ------
    TypeError
        ``model`` is not a GenerativeModel; ``direction`` is not a real floating tensor.
    ValueError
        Unknown kind (lists the valid ones), eps < 0, ``weights`` on the exact model, a
        model with non-finite weights (a diverged training run).
    """
    model = check_model(model)
    kind = check_choice(kind, "kind", PERTURBATIONS)
    eps = check_scalar(eps, "eps", low=0.0)
    if kind == "weights" and model.params is None:
        raise ValueError(
            "kind 'weights' needs a trained model (model.kind 'flow' or 'score'), "
            f"got model.kind={model.kind!r}"
        )
    if direction is not None and (
        not isinstance(direction, torch.Tensor) or not direction.is_floating_point()
    ):
        got = direction.dtype if isinstance(direction, torch.Tensor) else type(direction).__name__
        raise TypeError(f"direction must be a floating-point tensor ({model.dim},), got {got}")
    if eps == 0.0:
        return model
    dtype = model.dtype
    gen = make_generator(seed, model.device)
    base = model.velocity
    info = {**model.info, "perturbation": kind, "eps": eps}
    if kind == "weights":
        assert model.params is not None and model.build is not None
        noisy = tuple(
            p + eps * p.square().mean().sqrt() * torch.randn(
                p.shape, generator=gen, device=p.device, dtype=p.dtype
            )
            for p in model.params
        )  # fmt: skip
        return replace(model, velocity=model.build(noisy), params=noisy, info=info)
    if kind == "smooth":
        delta = _smooth_field(model.dim, gen, dtype)
        scale = model.output_scale
    else:
        if direction is None:
            b = torch.randn(model.dim, generator=gen, device=gen.device, dtype=dtype)
        else:
            check_shape(tuple(direction.shape), "direction", f"({model.dim},)",
                        tuple(direction.shape) == (model.dim,))  # fmt: skip
            if not bool(torch.isfinite(direction).all()) or float(direction.norm()) == 0.0:
                raise ValueError(f"direction must be a finite, non-zero vector, got {direction}")
            b = direction.to(device=model.device, dtype=dtype)
        b = b / b.norm()
        delta = lambda x, t: b  # noqa: E731
        scale = model.output_scale if kind == "bias" else model.endpoint_scale

    if isinstance(base, TangentField):  # keeps the batched and tangent routes
        smooth = getattr(delta, "fourier", None)
        field = _Perturbed(base, model.dim, eps, scale, None if smooth else b, smooth)
        return replace(model, velocity=field, info=info)

    def velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return base(x, t) + eps * scale(t) * delta(x, t).to(x)

    return replace(model, velocity=velocity, info=info)


@dataclass(frozen=True, eq=False)
class _Perturbed(TangentField):
    """``v + ε·scale(t)·δ(x)``: δ = b (constant) or the Fourier field (ω, φ, a), by hand."""

    base: TangentField
    dim: int
    eps: float
    scale: TimeScale
    b: torch.Tensor | None
    fourier: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None

    def _delta(self, x: torch.Tensor) -> torch.Tensor:
        if self.fourier is None:
            assert self.b is not None
            return self.b.to(x)
        omega, phase, amp = self.fourier
        return torch.cos(x @ omega.T + phase) @ amp

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.base(x, t) + self.eps * self.scale(t) * self._delta(x)

    def batched(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.base.batched(x, t) + self.eps * self.scale(t) * self._delta(x)

    def tangent(self, s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        out = self.base.tangent(s, t)
        c = self.eps * self.scale(t)
        out[0] += c * self._delta(s[0])
        if self.fourier is not None:  # Dδ·u = −(sin(ωx + φ) ⊙ ωu) a
            omega, phase, amp = self.fourier
            sin = torch.sin(s[0] @ omega.T + phase)
            out[1:] -= c * ((sin * (s[1:] @ omega.T)) @ amp)
        return out


@dataclass(frozen=True, eq=False)
class _ErrorSweep(TangentField):
    """State (x, e) with e constant: ``v(x) + e·ε·scale(t)·δ(x)`` for a grid of error sizes.

    Only the velocity (single sample and batched); used by ``views.eps_sweep`` to integrate
    every error size in one batched solve (see :func:`error_sweep_field`).
    """

    unit: _Perturbed
    dim: int

    def _v(self, z: torch.Tensor, t: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
        x, e = z[..., :-1], z[..., -1:]
        u = self.unit
        err = e * (u.eps * u.scale(t)) * u._delta(x)
        return torch.cat([base + err, torch.zeros_like(e)], dim=-1)

    def __call__(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self._v(z, t, self.unit.base(z[..., :-1], t))

    def batched(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self._v(z, t, self.unit.base.batched(z[..., :-1], t))


def error_sweep_field(unit: GenerativeModel) -> Field | None:
    """For a model perturbed with ε = 1 (bias, endpoint or smooth): the field of the state
    (x, e), ``(D + 1,) -> (D + 1,)``, that adds e times the error; None for other models."""
    if isinstance(unit.velocity, _Perturbed):
        return _ErrorSweep(unit.velocity, unit.dim + 1)
    return None
