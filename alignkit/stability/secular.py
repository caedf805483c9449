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
from collections.abc import Callable

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
    gram_values, gram_vectors = torch.linalg.eigh(factor.T @ factor)
    gram = gram_values[-1]  # ‖U‖²: max δ ≤ λ_max(A) ≤ max δ + c‖U‖²
    width = coef * gram
    scale = top.abs() + width
    out = top.clone()
    idx = torch.nonzero(width > 0).flatten()
    # Start at the best of three lower bounds on λ_max(A): just right of the pole at max δ,
    # the Rayleigh quotients at the unit vectors (δ_N + c ‖U_N‖²), and the Rayleigh quotient
    # of x = (μ̂ − δ)⁻¹ U y, y the top eigenvector of K(μ̂) at the upper bound μ̂ = max δ +
    # c‖U‖² (one step of inverse iteration: close to the top eigenvector of A). Each is below
    # the root, unless the root lies within 1e-12 width of max δ (then accepted as is).
    r = factor.shape[1]
    secular_matrix = _secular_matrices(factor)
    d, c = delta[idx], coef[idx, None]
    gap = (top[idx] + width[idx])[:, None] - d
    gap = torch.where(gap > 0, gap, torch.ones_like(gap))
    # y from inverse iteration started at UᵀU's top eigenvector (K(μ̂) with equal gaps)
    start = gram_vectors[:, -1].expand(idx.numel(), r)
    y = _top_pair(secular_matrix(c / gap), start)[1]
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
    stop = tol * scale[idx]
    v = y  # K's top eigenvector at the last μ: the start of the next inverse iteration
    for _ in range(iters):
        if idx.numel() == 0:
            break
        gap = mu[:, None] - d  # (k, N), > 0
        w = c / gap
        f, v = _top_pair(secular_matrix(w), v)  # of K(μ), (k, R, R)
        slope = ((v @ factor.T) ** 2 * w / gap).sum(1)  # −f'(μ) > 0 (w², not: it underflows)
        step = (f - 1.0) * f / slope  # Newton on φ = 1/f: (1 − φ)/φ' with φ' = slope/f²
        done = (f <= 1.0) | (step <= stop)
        mu = torch.where(f > 1.0, mu + step.clamp_min(0), mu)
        if bool(done.any()):
            out[idx[done]] = mu[done]
            keep = ~done
            idx, mu, d, c, stop, v = idx[keep], mu[keep], d[keep], c[keep], stop[keep], v[keep]
    if idx.numel():
        out[idx] = mu
        warnings.warn(
            f"top_eigenvalue_diag_lowrank: {idx.numel()} setting(s) still moving after "
            f"{iters} Newton steps (lower bounds returned)",
            ConvergenceWarning,
            stacklevel=2,
        )
    return out


#: most entries N R² of the flattened outer products U_N U_Nᵀ (32 MiB in float64)
OUTER_LIMIT = 1 << 22


def _secular_matrices(factor: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """w (k, N) ↦ Uᵀ diag(w_k) U (k, R, R), for K(μ) = Uᵀ diag(c / (μ − δ)) U.

    Below ``OUTER_LIMIT`` one matrix product with the rows' outer products [U_N U_Nᵀ]_N
    flattened (N, R²), built once; above it the product with a (k, R, N) temporary.
    """
    n, r = factor.shape
    if n * r * r <= OUTER_LIMIT:
        outer = (factor[:, :, None] * factor[:, None, :]).reshape(n, r * r)
        return lambda w: (w @ outer).reshape(-1, r, r)
    return lambda w: (factor.T[None] * w[:, None, :]) @ factor


def _top_pair(k: torch.Tensor, start: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Largest eigenvalue (k,) and a unit eigenvector (k, R) of symmetric PSD ``k`` (k, R, R).

    The eigenvalue from ``eigvalsh``; the eigenvector from one step of inverse iteration
    with the shift 1e-14 f above it, started at ``start`` (the eigenvector at the previous
    iterate: close). On CPU that is about half of ``eigh``'s cost (which computes every
    eigenvector). Where the vector is not an eigenvector to 1e-11 (residual ‖Kv − fv‖ / f;
    up to 2e-13 on the explorers' problems; larger after a start orthogonal to the new top,
    or a singular solve), ``eigh`` answers instead.
    """
    f = torch.linalg.eigvalsh(k)[:, -1]
    shift = f + 1e-14 * f.abs() + torch.finfo(k.dtype).tiny
    eye = torch.eye(k.shape[-1], dtype=k.dtype, device=k.device)
    x = torch.linalg.solve_ex(k - shift[:, None, None] * eye, start[..., None])[0][..., 0]
    v = x / torch.linalg.vector_norm(x, dim=1, keepdim=True)
    residual = torch.linalg.vector_norm((k @ v[..., None])[..., 0] - f[:, None] * v, dim=1)
    bad = ~(residual <= 1e-11 * f.abs())  # NaN (a singular solve) is bad too
    if bool(bad.any()):
        evals, evecs = torch.linalg.eigh(k[bad])
        f[bad], v[bad] = evals[:, -1], evecs[:, :, -1]
    return f, v
