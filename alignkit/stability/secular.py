"""Largest eigenvalue of a diagonal plus a PSD low-rank matrix, batched (secular equation).

For ``A = diag(δ) + c U Uᵀ`` with ``U`` of shape (N, R), c ≥ 0 and R ≪ N, a number
μ > max δ is an eigenvalue of A iff 1 is an eigenvalue of the R × R matrix

    K(μ) = c Uᵀ (μ I − diag δ)⁻¹ U        (x = c (μ − δ)⁻¹ U y,  y = Uᵀ x),

and since K(μ) decreases (Loewner order) as μ grows, λ_max(A) is the μ where
λ_max(K(μ)) = 1, or max δ if λ_max(K) ≤ 1 just above max δ. The function
φ(μ) = 1 / λ_max(K(μ)) = λ_min(K(μ)⁻¹) is increasing and *concave* on (max δ, ∞):
yᵀK⁻¹y = min {Σ_N (μ − δ_N) x_N² / c : Uᵀx = y} is a minimum of affine functions of μ.
So Newton's method on φ(μ) = 1 started left of the root never overshoots it and
converges monotonically (each tangent lies above φ), quadratically near the root. Each
step costs O(N R²) instead of the O(N³) of a dense eigenvalue solve.

Used by :mod:`alignkit.stability.theory`: for per-sample Hessians of low rank (linear
regression: H_i = x_i x_iᵀ), the second-moment operators of SGD are exactly of this form
in the eigenbasis of H (the H ⊗ H and C parts are diagonal there, Σ H_i ⊗ H_i has rank
Σ rank(H_i)²).
"""

from __future__ import annotations

import warnings

import torch

from alignkit._checks import check_int, check_scalar, check_shape, check_values
from alignkit.numerics.perron import ConvergenceWarning

__all__ = ["top_eigenvalue_diag_lowrank"]


def top_eigenvalue_diag_lowrank(
    delta: torch.Tensor,
    factor: torch.Tensor,
    coef: torch.Tensor,
    *,
    tol: float = 1e-14,
    iters: int = 100,
) -> torch.Tensor:
    """λ_max(diag(δ_g) + c_g U Uᵀ) for G settings at once.

    Parameters
    ----------
    delta : Tensor, shape (G, N)
        The diagonals (finite).
    factor : Tensor, shape (N, R)
        U, shared by all settings.
    coef : Tensor, shape (G,)
        c_g ≥ 0.
    tol : float, default=1e-14
        Stop when a Newton step is below ``tol`` times the scale max |δ| + c‖U‖².
    iters : int, default=100
        Maximum Newton steps (a :class:`ConvergenceWarning` if some setting is still moving).

    Returns
    -------
    Tensor, shape (G,)
        The largest eigenvalues (from below: every iterate is a lower bound).
    """
    tol = check_scalar(tol, "tol", low=0.0, high=1.0, closed="neither")
    iters = check_int(iters, "iters", low=1)
    delta = check_values(delta, "delta", ndim=2)
    factor = check_values(factor, "factor", ndim=2, allow_empty=True)
    coef = check_values(coef, "coef", low=0.0, ndim=1)
    g, n = delta.shape
    check_shape(tuple(factor.shape), "factor", f"({n}, R) (N = {n} rows, as delta)",
                factor.shape[0] == n)  # fmt: skip
    check_shape(tuple(coef.shape), "coef", f"({g},) (one per row of delta)", coef.shape[0] == g)
    top = delta.max(1).values
    if factor.shape[1] == 0 or factor.shape[0] == 0:
        return top
    gram = torch.linalg.eigvalsh(factor.T @ factor)[-1]  # ‖U‖²: max δ ≤ λ_max(A) ≤ max δ + c‖U‖²
    width = coef * gram
    scale = top.abs() + width
    out = top.clone()
    idx = torch.nonzero(width > 0).flatten()
    # Start at the best of three lower bounds on λ_max(A): just right of the pole at max δ,
    # the Rayleigh quotients at the unit vectors (δ_N + c ‖U_N‖²), and the Rayleigh quotient
    # of x = (μ̂ − δ)⁻¹ U y, y the top eigenvector of K(μ̂) at the upper bound μ̂ = max δ +
    # c‖U‖² (one step of inverse iteration: close to the top eigenvector of A). Each is below
    # the root, unless the root lies within 1e-12 width of max δ (then accepted as is).
    d, c = delta[idx], coef[idx, None]
    gap = (top[idx] + width[idx])[:, None] - d
    gap = torch.where(gap > 0, gap, torch.ones_like(gap))
    y = torch.linalg.eigh((factor.T[None] * (c / gap)[:, None, :]) @ factor)[1][:, :, -1]
    x = (y @ factor.T) / gap  # (k, N)
    rq = ((d * x**2).sum(1) + coef[idx] * ((x @ factor) ** 2).sum(1)) / (x**2).sum(1)
    mu = (
        torch.stack(
            [
                top[idx] + 1e-12 * width[idx],
                (d + c * (factor**2).sum(1)).max(1).values,
                torch.nan_to_num(rq, nan=-torch.inf),
            ]
        )
        .max(0)
        .values
    )
    for _ in range(iters):
        if idx.numel() == 0:
            break
        gap = mu[:, None] - delta[idx]  # (k, N), > 0
        w = coef[idx, None] / gap
        k = (factor.T[None] * w[:, None, :]) @ factor  # (k, R, R)
        evals, evecs = torch.linalg.eigh(k)
        f, v = evals[:, -1], evecs[:, :, -1]
        uv = v @ factor.T  # (k, N)
        slope = (uv**2 * w / gap).sum(1)  # −f'(μ) > 0
        step = (f - 1.0) * f / slope  # Newton on φ = 1/f: (1 − φ)/φ' with φ' = slope/f²
        done = (f <= 1.0) | (step <= tol * scale[idx])
        mu = torch.where(f > 1.0, mu + step.clamp_min(0), mu)
        out[idx[done]] = mu[done]
        idx, mu = idx[~done], mu[~done]
    if idx.numel():
        out[idx] = mu
        warnings.warn(
            f"top_eigenvalue_diag_lowrank: {idx.numel()} setting(s) still moving after "
            f"{iters} Newton steps (lower bounds returned)",
            ConvergenceWarning,
            stacklevel=2,
        )
    return out
