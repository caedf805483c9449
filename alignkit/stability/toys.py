"""Toy problems with exactly known per-sample Hessians (theme 1).

* the 1-D escape example of Wu, Ma & E (2018): two minima with the same sharpness, one
  sharp for each sample; SGD leaves the non-uniform one;
* the two-parameter scalar model f(x) = u v x: a hyperbola of minima u v = c whose
  sharpness grows away from u = v;
* over-parameterised linear regression, H_i = x_i x_iᵀ.

Taught in ``notebooks/01_sgd_stability.ipynb`` and
``notebooks/02_flat_minima_noise_alignment.ipynb``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from alignkit._checks import check_bool, check_int, check_scalar, check_values
from alignkit.device import get_device, make_generator
from alignkit.stability.minibatch import draw_minibatches

__all__ = [
    "ESCAPE_CURVATURES",
    "escape_toy_losses",
    "escape_toy_gradients",
    "escape_toy_hessians",
    "EscapeRun",
    "simulate_escape_toy",
    "uv_hessians",
    "linear_regression_hessians",
    "uv_data",
    "UVRun",
    "simulate_uv_sgd",
    "uv_growth_rates",
]

#: curvature of sample i's second basin: f_i(x) = min(x², c_i (x − 1)²).
ESCAPE_CURVATURES = (0.1, 1.9)


def _float_tensor(x: torch.Tensor, name: str, *, ndim: int | None = None) -> torch.Tensor:
    """``x`` itself if it is a non-empty, finite, floating-point tensor (else raise)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a floating-point torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor (float32 or float64), got {x.dtype}: "
            f"integer inputs would truncate (use {name}.double())"
        )
    check_values(x, name, ndim=ndim, dtype=x.dtype)
    return x


def escape_toy_losses(x: torch.Tensor) -> torch.Tensor:
    """f_i(x) = min(x², c_i (x − 1)²) for both samples, shape ``(...) -> (2, ...)``."""
    x = _float_tensor(x, "x")
    c = _curvatures(x)
    return torch.minimum(x**2, c * (x - 1) ** 2)


def escape_toy_gradients(x: torch.Tensor) -> torch.Tensor:
    """f_i'(x) for both samples, shape ``(...) -> (2, ...)`` (the branch that is the min)."""
    return _escape_gradients(_float_tensor(x, "x"))


def _curvatures(x: torch.Tensor) -> torch.Tensor:
    """The samples' curvatures c_i, shaped (2, 1, ...) to broadcast over ``x``."""
    return torch.tensor(ESCAPE_CURVATURES, dtype=x.dtype, device=x.device).reshape(2, *[1] * x.ndim)


def _escape_gradients(x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
    c = _curvatures(x) if c is None else c  # (a loop over steps passes them made once)
    return _branch_gradients(x, c, torch.where)


def _branch_gradients(x: Any, c: Any, where: Callable[..., Any]) -> Any:
    """f_i'(x) = 2x or 2c_i(x − 1), the branch that is the min: one formula for tensors
    (``torch.where``) and arrays (``np.where``), so both step routes compute it alike."""
    return where(x**2 <= c * (x - 1) ** 2, 2 * x, 2 * c * (x - 1))


def escape_toy_hessians(at: float) -> torch.Tensor:
    """Per-sample Hessians ``(2, 1, 1)`` at the minimum x = 0 or x = 1.

    At 0 both are 2 (a = 2, s = 0); at 1 they are 0.2 and 3.8 (a = 2, s = 1.8).
    """
    if isinstance(at, bool) or at not in (0, 1):
        raise ValueError(f"at must be 0 or 1 (the two minima), got {at!r}")
    values = [2.0, 2.0] if at == 0 else [2 * c for c in ESCAPE_CURVATURES]
    return torch.tensor(values, dtype=torch.float64).reshape(2, 1, 1)


@dataclass(frozen=True)
class EscapeRun:
    """SGD on the escape toy for S seeds: ``path`` (S, steps + 1), ``diverged`` (S,)."""

    path: torch.Tensor
    diverged: torch.Tensor
    lr: float
    batch_size: int

    def fraction_near(self, minimum: float, radius: float = 0.25) -> torch.Tensor:
        """Fraction of seeds within ``radius`` of ``minimum`` at every step, shape (steps + 1,)."""
        minimum = check_scalar(minimum, "minimum")
        radius = check_scalar(radius, "radius", low=0.0, closed="neither")
        return ((self.path - minimum).abs() < radius).to(torch.float64).mean(0)


_DRAW_BYTES = 16 << 20  # minibatch indexes drawn at once by simulate_escape_toy


def simulate_escape_toy(
    lr: float,
    batch_size: int,
    *,
    x0: float = 1.0,
    steps: int = 100,
    seeds: int = 200,
    replacement: bool = True,
    noise: float = 1e-3,
    seed: int | torch.Generator | None = 0,
    device: str | torch.device | None = None,
) -> EscapeRun:
    """Run SGD on L = (f_1 + f_2)/2 from x0 (+ tiny Gaussian jitter) for many seeds at once.

    ``batch_size`` is 1 or 2 (n = 2); B = 2 without replacement is gradient descent.
    A run whose |x| exceeds 1e6 is flagged ``diverged`` and frozen.
    """
    lr = check_scalar(lr, "lr", low=0.0, closed="neither")
    replacement = check_bool(replacement, "replacement")
    batch_size = check_int(batch_size, "batch_size", low=1, high=1_000_000 if replacement else 2)
    x0 = check_scalar(x0, "x0", low=-1e6, high=1e6)
    steps = check_int(steps, "steps", low=1, high=100_000)
    seeds = check_int(seeds, "seeds", low=1, high=10_000_000)
    noise = check_scalar(noise, "noise", low=0.0)
    dev = get_device(device)
    gen = make_generator(seed, dev)
    x = x0 + noise * torch.randn(seeds, generator=gen, device=dev, dtype=torch.float64)
    # the minibatches of many steps in one draw, at most _DRAW_BYTES of indexes (on the CPU
    # the same numbers as a draw a step)
    chunk = max(1, _DRAW_BYTES // (seeds * batch_size * 8))

    def draw(t: int) -> torch.Tensor:  # (min(chunk, steps - t), S, B)
        shape = (min(chunk, steps - t), seeds)
        return draw_minibatches(shape, 2, batch_size, replacement=replacement, generator=gen)

    run = _escape_numpy if dev.type == "cpu" and _NUMPY_ON_CPU else _escape_torch
    path, diverged = run(x, lr, steps, chunk, draw)
    return EscapeRun(path, diverged, lr, batch_size)


_NUMPY_ON_CPU = True  # the escape toy's steps on CPU through NumPy (:func:`_escape_numpy`)


def _escape_torch(
    x: torch.Tensor, lr: float, steps: int, chunk: int, draw: Callable[[int], torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """SGD from ``x`` (S,): path (S, steps + 1) and diverged (S,), frozen past |x| > 1e6;
    ``draw(t)`` gives the minibatches of the ``chunk`` steps from step t."""
    path = [x]
    diverged = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
    rows = torch.arange(x.shape[0], device=x.device)[:, None]
    c = _curvatures(x)
    for t in range(steps):
        if t % chunk == 0:
            idx = draw(t)
        grads = _escape_gradients(x, c).T  # (S, 2)
        step = grads[rows, idx[t % chunk]].mean(-1)
        x = torch.where(diverged, x, x - lr * step)
        diverged = diverged | ~torch.isfinite(x) | (x.abs() > 1e6)
        path.append(x)
    return torch.stack(path, 1), diverged


def _escape_numpy(
    x: torch.Tensor, lr: float, steps: int, chunk: int, draw: Callable[[int], torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`_escape_torch` on a CPU tensor through NumPy, the same operations in the same
    order (equal to the last bit, diverging runs included; tested): a step is a dozen
    operations on a few hundred numbers, which cost torch more in dispatch than in
    arithmetic (the explorer's run, 60 steps of 200 seeds with its draws: 4.0 -> 2.0 ms)."""
    xn = x.numpy()
    path = np.empty((xn.shape[0], steps + 1))
    path[:, 0] = xn
    diverged = np.zeros(xn.shape[0], dtype=bool)
    rows = np.arange(xn.shape[0])[:, None]
    c = np.asarray(ESCAPE_CURVATURES, dtype=np.float64)[:, None]  # (2, 1)
    with np.errstate(over="ignore", invalid="ignore"):  # (a diverging run: flagged, frozen)
        for t in range(steps):
            if t % chunk == 0:
                idx = draw(t).numpy()
            grads = _branch_gradients(xn, c, np.where).T  # (S, 2)
            step = grads[rows, idx[t % chunk]].mean(-1)
            xn = np.where(diverged, xn, xn - lr * step)
            diverged |= ~np.isfinite(xn) | (np.abs(xn) > 1e6)
            path[:, t + 1] = xn
    return torch.from_numpy(path), torch.from_numpy(diverged)


def uv_hessians(u: torch.Tensor, v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-sample Hessians of ℓ_i = ½ (u v x_i − y_i)² at a minimum (u v x_i = y_i).

    H_i = x_i² J Jᵀ with J = (v, u): shapes ``(P,), (P,), (n,) -> (P, n, 2, 2)`` for P
    points of the hyperbola. Sharpness is mean(x²)(u² + v²), smallest at |u| = |v|.
    """
    u, v, x = (_float_tensor(t, name, ndim=1) for t, name in ((u, "u"), (v, "v"), (x, "x")))
    if v.shape != u.shape:
        raise ValueError(f"v must have the shape of u {tuple(u.shape)}, got {tuple(v.shape)}")
    j = torch.stack([v, u], -1)  # (P, 2)
    outer = j[:, :, None] * j[:, None, :]  # (P, 2, 2)
    return (x**2)[None, :, None, None] * outer[:, None]


def linear_regression_hessians(
    n: int,
    d: int,
    *,
    seed: int | torch.Generator | None = 0,
    device: str | torch.device | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian inputs X (n, d) and per-sample Hessians H_i = x_i x_iᵀ (n, d, d).

    For ℓ_i = ½ (x_iᵀθ − y_i)²; with d > n the minima form an affine valley of
    dimension d − n, and H has rank n.
    """
    n = check_int(n, "n", low=1, high=100_000)
    d = check_int(d, "d", low=1, high=100_000)
    dev = get_device(device)
    x = torch.randn(n, d, generator=make_generator(seed, dev), device=dev, dtype=torch.float64)
    return x, x[:, :, None] * x[:, None, :]


def uv_data(n: int = 8) -> torch.Tensor:
    """Inputs x_i evenly spread on [0.5, 1.5] (targets y_i = x_i, so minima are u v = 1)."""
    n = check_int(n, "n", low=2, high=1_000_000)
    return torch.linspace(0.5, 1.5, n, dtype=torch.float64)


@dataclass(frozen=True)
class UVRun:
    """SGD on ℓ_i = ½ (u v x_i − x_i)² for S seeds: ``u``, ``v`` of shape (S, steps + 1)."""

    u: torch.Tensor
    v: torch.Tensor
    diverged: torch.Tensor  # (S,)
    lr: float
    batch_size: int


def simulate_uv_sgd(
    lr: float,
    batch_size: int,
    *,
    u0: float = 3.0,
    n: int = 8,
    steps: int = 300,
    seeds: int = 128,
    replacement: bool = True,
    noise: float = 0.01,
    seed: int | torch.Generator | None = 0,
    device: str | torch.device | None = None,
) -> UVRun:
    """SGD on the scalar model f(x) = u v x from near the minimum (u0, 1/u0), many seeds at once.

    Runs whose |u| or |v| exceed 1e3 are flagged ``diverged`` and frozen.
    """
    lr = check_scalar(lr, "lr", low=0.0, closed="neither")
    u0 = check_scalar(u0, "u0", low=0.0, high=1e3, closed="right")
    n = check_int(n, "n", low=2, high=1_000_000)
    replacement = check_bool(replacement, "replacement")
    batch_size = check_int(batch_size, "batch_size", low=1, high=1_000_000 if replacement else n)
    steps = check_int(steps, "steps", low=1, high=100_000)
    seeds = check_int(seeds, "seeds", low=1, high=10_000_000)
    noise = check_scalar(noise, "noise", low=0.0)
    dev = get_device(device)
    gen = make_generator(seed, dev)
    x = uv_data(n).to(dev)
    jitter = noise * torch.randn(2, seeds, generator=gen, device=dev, dtype=torch.float64)
    u, v = u0 + jitter[0], 1.0 / u0 + jitter[1]
    idx = draw_minibatches((steps, seeds), n, batch_size, replacement=replacement, generator=gen)
    us, vs = [u], [v]
    diverged = torch.zeros(seeds, dtype=torch.bool, device=dev)
    for t in range(steps):
        xb = x[idx[t]]  # (S, B)
        r = (u * v)[:, None] * xb * xb - xb * xb  # residual times x: (u v x − x) x
        grad_u, grad_v = (r * v[:, None]).mean(1), (r * u[:, None]).mean(1)
        u = torch.where(diverged, u, u - lr * grad_u)
        v = torch.where(diverged, v, v - lr * grad_v)
        diverged |= ~((u.abs() < 1e3) & (v.abs() < 1e3))
        us.append(u)
        vs.append(v)
    return UVRun(torch.stack(us, 1), torch.stack(vs, 1), diverged, lr, batch_size)


def uv_growth_rates(lr: float, *, u0: float = 3.0, n: int = 8) -> tuple[float, float]:
    """Per-step growth of the distance to the minimum (u0, 1/u0) under B = 1 SGD.

    Every H_i = x_i² J Jᵀ (J = (v, u)) points along J, so linearised one-sample SGD
    multiplies the distance along J by 1 − η a_i with a_i = x_i² (u0² + u0⁻²), i uniform.
    Returns (E log|1 − η a_i|, E (1 − η a_i)²): the log-rate of a typical run (almost-sure
    growth when > 0) and the mean-square growth factor (ρ(Q) for B = 1 with replacement).
    """
    lr = check_scalar(lr, "lr", low=0.0, closed="neither")
    u0 = check_scalar(u0, "u0", low=1e-100, high=1e100)  # u0² + u0⁻² stays finite
    factors = 1 - lr * uv_data(n) ** 2 * (u0**2 + u0**-2)
    return float(factors.abs().log().mean()), float((factors**2).mean())
