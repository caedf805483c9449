"""Cheap stability conditions: the sampling factor p, the one-dimensional test, its region in
the (a, s) plane and two necessary upper bounds on η* (directional and trace forms).

The exact criterion, ρ(Q(η, B)) ≤ 1, is in :mod:`alignkit.stability.theory` (which
re-exports these names). Taught in ``notebooks/01_sgd_stability.ipynb``.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from alignkit._checks import check_bool, check_int, check_scalar, check_values
from alignkit.stability._hessians import LR_MAX_1D, LR_MIN_1D, _as_hessians

__all__ = ["sampling_factor", "threshold_upper_bounds", "stable_1d", "region_boundary"]

#: Most training samples n (and batch sizes): far beyond any data set, inside what floats hold.
MAX_COUNT = 10**12


def sampling_factor(n: int, batch_size: int, *, replacement: bool = False) -> float:
    """p: the minibatch-mean covariance is p times the one-sample covariance.

    ``(n − B) / (B (n − 1))`` without replacement (0 for B = n: gradient descent),
    ``1 / B`` with replacement.
    """
    n = check_int(n, "n", low=1, high=MAX_COUNT)
    replacement = check_bool(replacement, "replacement")
    high = MAX_COUNT if replacement else n
    batch_size = check_int(batch_size, "batch_size", low=1, high=high)
    return float(_factor(n, batch_size, replacement))


def _sampling_factors(n: int, sizes: list[int], replacement: bool) -> torch.Tensor:
    """:func:`sampling_factor` for many batch sizes already checked (1 <= B, and B <= n
    without replacement), float64 (K,): one tensor expression, not K checked calls."""
    return _factor(n, torch.tensor(sizes, dtype=torch.float64), replacement)


def _factor(n: int, b: Any, replacement: bool) -> Any:
    """p for checked n and B (an int, or a float64 tensor of them): the one formula."""
    if replacement:
        return 1.0 / b
    return b * 0.0 if n == 1 else (n - b) / (b * (n - 1))


def threshold_upper_bounds(
    per_sample_hessians: torch.Tensor, batch_size: int, *, replacement: bool = False
) -> tuple[float, float]:
    """Two cheap necessary conditions η* ≤ bound (directional and trace forms).

    ``2a / (a² + (p/n) Σ (vᵀH_i v − a)²)`` with v the top eigenvector of H, and
    ``2 Tr(H) / ((1 − p) ‖H‖_F² + (p/n) Σ ‖H_i‖_F²)``.
    """
    h = _as_hessians(per_sample_hessians)
    p = sampling_factor(h.shape[0], batch_size, replacement=replacement)
    directional, trace_form = _upper_bounds(h, torch.tensor([p], dtype=torch.float64)).tolist()[0]
    return directional, trace_form


def _upper_bounds(h: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """:func:`threshold_upper_bounds` for checked Hessians (n, d, d) and many p (K,): (K, 2)."""
    p = p.to(h)
    hbar = h.mean(0)
    evals, evecs = torch.linalg.eigh(hbar)
    a, v = evals[-1], evecs[:, -1]
    if float(a) <= 0:
        return torch.full((p.numel(), 2), math.inf, dtype=h.dtype, device=h.device)
    quad = torch.einsum("i,nij,j->n", v, h, v)
    directional = 2 * a / (a**2 + p * ((quad - a) ** 2).mean())
    frob = (1 - p) * (hbar**2).sum() + p * (h**2).sum((1, 2)).mean()
    trace_form = 2 * torch.trace(hbar) / frob
    return torch.stack([directional, trace_form], 1)


def stable_1d(
    sharpness: torch.Tensor | float,
    nonuniformity: torch.Tensor | float,
    lr: float,
    batch_size: int,
    n: int,
    *,
    replacement: bool = False,
) -> torch.Tensor:
    """(1 − ηa)² + η² p s² ≤ 1: the one-dimensional stability test, elementwise.

    Exact (an iff) for one-dimensional minima (H_i scalars, a = mean, s = std). In d
    dimensions it is a *necessary* condition only for a direction's own pair
    a_v = vᵀHv, s_v = std_i(vᵀH_i v) (see :mod:`alignkit.stability.directional`), not for
    (λ_max(H), :func:`nonuniformity`): that s bounds the spread over all directions at
    once, and a stable minimum can fail the test with it.
    """
    check_values(sharpness, "sharpness", low=0.0)
    check_values(nonuniformity, "nonuniformity", low=0.0)
    lr = check_scalar(lr, "lr", low=0.0, high=LR_MAX_1D, closed="neither")
    p = sampling_factor(n, batch_size, replacement=replacement)
    a = torch.as_tensor(sharpness, dtype=torch.float64)
    s = torch.as_tensor(nonuniformity, dtype=torch.float64)
    return (1 - lr * a) ** 2 + lr**2 * p * s**2 <= 1 + 1e-12


def region_boundary(
    lr: float, batch_size: int, n: int, *, replacement: bool = False, num: int = 200
) -> tuple[torch.Tensor, torch.Tensor]:
    """Upper edge of the region where :func:`stable_1d` holds, in the (a, s) plane.

    The region of stable minima in one dimension; in d dimensions, where each direction's
    (a_v, s_v) must lie (necessary only). Returns ``a`` on [0, 2/η] (shape (num,)) and
    s_max(a) = sqrt(a (2 − ηa) / (η p)), ``inf`` where p = 0 (GD only needs a ≤ 2/η).
    """
    lr = check_scalar(lr, "lr", low=LR_MIN_1D, high=LR_MAX_1D, closed="right")
    num = check_int(num, "num", low=2, high=10_000_000)
    p = sampling_factor(n, batch_size, replacement=replacement)
    a = torch.linspace(0.0, 2.0 / lr, num, dtype=torch.float64)
    inside = (a * (2.0 - lr * a)).clamp_min(0.0)
    s_max = (inside / (lr * p)).sqrt() if p > 0 else torch.full_like(a, math.inf)
    return a, s_max
