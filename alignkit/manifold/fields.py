"""Generative velocity fields and their controlled errors (theme 3).

A :class:`GenerativeModel` carries a single-sample velocity ``v(x, t)`` (``(D,), () ->
(D,)``) that carries the prior at ``t = 0`` to the data near ``t = t_end``, integrated by
:mod:`alignkit.numerics.ode`. Three kinds:

- ``"exact"``: the exact velocity of the linear path x_t = (1 − t) x₀ + t x₁ for a finite
  data set {y_j} and x₀ ~ N(0, I): ``v(x, t) = (m(x, t) − x)/(1 − t)`` with the posterior
  mean ``m = Σ_j w_j y_j``, ``w ∝ exp(−|x − t y_j|² / (2 (1 − t)²))`` (the reference;
  :mod:`.exact`, re-exported here, as :class:`GenerativeModel` from :mod:`.model`);
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
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch

from alignkit._checks import (
    check_choice,
    check_float_dtype,
    check_float_tensor,
    check_has_data,
    check_instance,
    check_int,
    check_scalar,
    check_shape,
    check_values,
)
from alignkit.device import make_generator
from alignkit.manifold.exact import EXACT_T_END, exact_model
from alignkit.manifold.model import GenerativeModel, Params, TimeScale, check_model
from alignkit.numerics.ode import Field
from alignkit.numerics.tangent import MLPField, TangentField

__all__ = [
    "GenerativeModel",
    "check_model",
    "NoiseSchedule",
    "PERTURBATIONS",
    "EXACT_T_END",
    "exact_model",
    "mlp_apply",
    "init_mlp",
    "flow_model",
    "score_model",
    "perturb",
]


def init_mlp(
    sizes: Sequence[int], *, seed: int | torch.Generator | None = 0, device: Any = None,
    dtype: torch.dtype = torch.float32,
) -> Params:  # fmt: skip
    """Weights (W₁, b₁, …) of an MLP with layer ``sizes`` (PyTorch's default uniform init).

    ``sizes``: a sequence of at least two layer widths, integers in [1, 65536];
    ``dtype``: a floating dtype.
    """
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
        raise TypeError(f"sizes must be a sequence of layer widths (ints >= 1), got {sizes!r:.80}")
    if len(sizes) < 2:
        raise ValueError(f"sizes must list at least 2 layer widths (in, out), got {list(sizes)}")
    sizes = [check_int(w, f"sizes[{i}]", low=1, high=65536) for i, w in enumerate(sizes)]
    dtype = check_float_dtype(dtype, "dtype")
    gen = make_generator(seed, device)
    out: list[torch.Tensor] = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        bound = 1.0 / math.sqrt(fan_in)
        for shape in ((fan_out, fan_in), (fan_out,)):
            u = torch.rand(shape, generator=gen, device=gen.device, dtype=dtype)
            out.append((2.0 * u - 1.0) * bound)
    return tuple(out)


def _check_params(params: Any, dim: int | None = None) -> Params:
    """``params`` is (W₁, b₁, …) of one floating dtype with chained shapes (as from init_mlp);
    with ``dim``: ``in = dim + 1`` and ``out = dim`` (a model's field on R^dim)."""
    ok = (
        isinstance(params, (tuple, list)) and len(params) >= 2 and len(params) % 2 == 0
        and all(isinstance(p, torch.Tensor) and p.is_floating_point() for p in params)
    )  # fmt: skip
    if not ok:
        got = type(params).__name__ if not isinstance(params, (tuple, list)) else (
            f"{len(params)} items of types {sorted({type(p).__name__ for p in params})}"
        )  # fmt: skip
        raise TypeError(
            f"params must be a tuple (W₁, b₁, …) of floating tensors, as from init_mlp, got {got}"
        )
    shapes = [tuple(p.shape) for p in params]
    width = shapes[0][1] if len(shapes[0]) == 2 else -1
    for i in range(0, len(params), 2):
        w, b = shapes[i], shapes[i + 1]
        if len(w) != 2 or w[1] != width or b != (w[0],):
            raise ValueError(
                f"params must chain (out, in) weights and (out,) biases, got shapes {shapes}"
            )
        width = w[0]
    if len({p.dtype for p in params}) != 1 or len({p.device for p in params}) != 1:
        raise ValueError("params must share one dtype and one device, got "
                         f"{sorted({str(p.dtype) for p in params})}")  # fmt: skip
    if dim is not None and (shapes[0][1] != dim + 1 or shapes[-1] != (dim,)):
        raise ValueError(
            f"params must map {dim + 1} inputs ([x, t]) to {dim} outputs for dim={dim}, got "
            f"shapes {shapes}"
        )
    return tuple(params)


def mlp_apply(params: Params, z: torch.Tensor) -> torch.Tensor:
    """SiLU MLP, ``(..., in) -> (..., out)``; works per sample and batched.

    ``params`` as from :func:`init_mlp`; ``z`` a tensor of their dtype whose last axis is
    ``in`` (else ``TypeError``/``ValueError`` naming it). No finiteness check: it runs
    inside ``vmap`` and the solvers, where a data-dependent check cannot run.
    """
    params = _check_params(params)
    if not isinstance(z, torch.Tensor) or z.dtype != params[0].dtype:
        got = z.dtype if isinstance(z, torch.Tensor) else type(z).__name__
        raise TypeError(f"z must be a tensor of the params' dtype {params[0].dtype}, got {got}")
    n_in = params[0].shape[1]
    check_shape(tuple(z.shape), "z", f"(..., {n_in})", z.ndim >= 1 and z.shape[-1] == n_in)
    if z.device != params[0].device:
        raise ValueError(f"z must be on the params' device {params[0].device}, got {z.device}")
    return _mlp_apply(params, z)


def _mlp_apply(params: Params, z: torch.Tensor) -> torch.Tensor:
    """:func:`mlp_apply` without the checks (the training loop's own weights)."""
    n = len(params) // 2
    for i in range(n):
        z = z @ params[2 * i].T + params[2 * i + 1]
        if i < n - 1:
            z = torch.nn.functional.silu(z)
    return z


def flow_model(params: Params, dim: int, info: dict[str, Any] | None = None) -> GenerativeModel:
    """A flow-matching model: ``v(x, t) = MLP([x, t])`` from N(0, I) at 0 to data at 1.

    ``params``: (W₁, b₁, …) mapping ``dim + 1`` inputs to ``dim`` outputs (checked).
    """
    dim = check_int(dim, "dim", low=1)
    params = _check_params(params, dim)
    if info is not None and not isinstance(info, dict):
        raise TypeError(f"info must be a dict or None, got {type(info).__name__}")

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
        hi = check_scalar(self.sigma_max, "sigma_max", low=0.0, closed="neither")
        if lo >= hi:
            raise ValueError(
                f"sigma_min must be < sigma_max, got sigma_min={lo:g}, sigma_max={hi:g}"
            )
        object.__setattr__(self, "sigma_min", lo)
        object.__setattr__(self, "sigma_max", hi)

    @property
    def log_ratio(self) -> float:
        return math.log(self.sigma_max / self.sigma_min)

    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        """σ(t) for times ``t`` in [0, 1] (a real tensor of any shape; checked)."""
        t = check_float_tensor(t, "t")
        return self._sigma(check_values(t, "t", low=0.0, high=1.0, allow_empty=True, dtype=t.dtype))

    def _sigma(self, t: torch.Tensor) -> torch.Tensor:  # (the ODE's, unchecked)
        return self.sigma_max * torch.exp(-self.log_ratio * t)


def score_model(
    params: Params, dim: int, schedule: NoiseSchedule, info: dict[str, Any] | None = None
) -> GenerativeModel:
    """A score model: noise predictor ε̂ = MLP([x, log σ]) and its probability-flow ODE.

    ``params`` as in :func:`flow_model`; ``schedule`` a :class:`NoiseSchedule`.
    """
    dim = check_int(dim, "dim", low=1)
    params = _check_params(params, dim)
    check_instance(schedule, "schedule", NoiseSchedule, "a NoiseSchedule")
    if info is not None and not isinstance(info, dict):
        raise TypeError(f"info must be a dict or None, got {type(info).__name__}")
    big_l = schedule.log_ratio

    def log_sigma(t: torch.Tensor) -> torch.Tensor:
        return torch.log(schedule._sigma(t))

    def scale(t: torch.Tensor) -> torch.Tensor:
        return -schedule._sigma(t) * big_l

    def build(p: Params) -> Field:  # v = −σ L · MLP([x, log σ]), tangents by hand
        return MLPField(p, dim, feature=log_sigma, scale=scale)

    out = lambda t: schedule._sigma(t) * big_l  # noqa: E731
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
    if direction is not None:
        check_has_data(direction, "direction")
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
            if not bool(torch.isfinite(direction).all()) or not bool((direction != 0).any()):
                raise ValueError(f"direction must be a finite, non-zero vector, got {direction}")
            b = direction.to(device=model.device, dtype=torch.float64)
            b = b / b.abs().amax()  # scaled first: |b|² neither overflows nor underflows
            b = b.to(dtype)
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
