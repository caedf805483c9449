"""Linear (mean-square) stability of SGD at a minimum, from per-sample Hessians.

Near a global minimum θ* of L = (1/n) Σ ℓ_i, linearised SGD is x_{t+1} = (I − η H_ξ) x_t
with H_ξ the mean of the per-sample Hessians H_i over a minibatch of size B. Its second
moment E[x xᵀ] evolves by the self-adjoint operator

    Q(η, B) = I − η C + η² D,   C = H ⊗ I + I ⊗ H,
    D = (1 − p) H ⊗ H + p (1/n) Σ H_i ⊗ H_i,

with p = (n − B) / (B (n − 1)) without replacement and p = 1/B with replacement.
Q preserves the cone of PSD matrices, so its spectral radius is its largest eigenvalue,
and ρ(Q) ≤ 1 ⟺ η D ⪯ C ⟺ η ≤ η* = 1 / λ_max(C⁻¹ D) (after Mulayoff & Michaeli, with
C as written here; papers that halve C write 2/λ_max). Directions where every H_i
vanishes (the valley of an over-parameterised minimum) give eigenvalue exactly 1 for any
η, so everything here is computed on the range of H, where C is invertible.

Taught in ``notebooks/01_sgd_stability.ipynb``. References: Wu, Ma & E (NeurIPS 2018);
Wu, Wang & Su (NeurIPS 2022); Mulayoff & Michaeli (exact mean-square linear stability).
"""

from __future__ import annotations

import math

import torch

from alignkit._checks import check_bool, check_int, check_scalar, check_shape
from alignkit.numerics.perron import ConvergenceWarning, perron_root
from alignkit.stability._hessians import (
    LR_MAX_1D,
    LR_MIN_1D,
    LR_SCALE_LIMIT,
    _as_hessians,
    _batch_sizes,
    _check_lrs,
    _normalised,
    _reduce,
    _tensor,
)
from alignkit.stability.conditions import (
    _sampling_factors,
    region_boundary,
    sampling_factor,
    stable_1d,
    threshold_upper_bounds,
)
from alignkit.stability.secular import top_eigenvalue_diag_lowrank

__all__ = [
    "sampling_factor",
    "sharpness",
    "nonuniformity",
    "stability_operator",
    "spectral_radius",
    "spectral_radius_curve",
    "linear_stability_threshold",
    "threshold_curve",
    "threshold_upper_bounds",
    "region_boundary",
    "stable_1d",
    "ConvergenceWarning",
    "EXPLICIT_LIMIT",
    "LOWRANK_LIMIT",
    "LR_MAX_1D",
    "LR_MIN_1D",
    "LR_SCALE_LIMIT",
]

EXPLICIT_LIMIT = 40  # largest rank r for which the r² × r² operator is built explicitly
#: most columns R = Σ_i rank(H_i)² of the low-rank route (PSD H_i, and only when 4R ≤ r²)
LOWRANK_LIMIT = 64


def _lowrank(hr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """M = (1/n) Σ H_i ⊗ H_i as U Uᵀ on the symmetric matrices, for the low-rank route.

    ``hr`` (n, r, r) in the eigenbasis of H. Returns U (r(r+1)/2, R) in the orthonormal
    basis E_jj, (E_jk + E_kj)/√2 (j < k) of symmetric matrices, and the index pairs (j, k)
    of that basis; None unless every H_i is PSD with R = n · max rank(H_i)² at most
    ``LOWRANK_LIMIT`` and 4R ≤ r² (below that the explicit route is as cheap). The Perron
    root of every operator here has a symmetric (PSD) eigenvector, so the largest eigenvalue
    on the symmetric matrices is the one on all matrices.
    """
    n, r, _ = hr.shape
    evals, evecs = torch.linalg.eigh(hr)  # ascending: the kept eigenvalues come last
    scale = float(evals.abs().max())
    if scale == 0 or bool((evals < -1e-12 * scale).any()):
        return None
    k = int((evals > 1e-12 * scale).sum(1).max())
    cols = n * k * k
    if cols > LOWRANK_LIMIT or 4 * cols > r * r:
        return None
    f = evecs[..., -k:] * evals[:, None, -k:].clamp_min(0).sqrt()  # H_i = F_i F_iᵀ, (n, r, k)
    # H_i ⊗ H_i = Σ_ab vec(f_a f_bᵀ) vec(f_a f_bᵀ)ᵀ: one column per (i, a, b).
    outer = f[:, :, None, :, None] * f[:, None, :, None, :]  # (n, r, r, k, k)
    outer = outer.permute(1, 2, 0, 3, 4).reshape(r, r, cols) / math.sqrt(n)
    j, m = torch.triu_indices(r, r, device=hr.device)
    weight = torch.full(j.shape, math.sqrt(0.5), dtype=hr.dtype, device=hr.device)
    weight[j == m] = 0.5
    return (outer[j, m] + outer[m, j]) * weight[:, None], j, m


def sharpness(hessian: torch.Tensor) -> float:
    """a = λ_max(H) of a symmetric ``(d, d)`` matrix (finite, d >= 1)."""
    h = _tensor(hessian, "hessian")
    ok = h.ndim == 2 and h.shape[0] == h.shape[1] and h.shape[0] >= 1
    check_shape(tuple(h.shape), "hessian", "(d, d) with d >= 1", ok)
    h = h.to(torch.float64)
    if not bool(torch.isfinite(h).all()):
        raise ValueError("hessian must be finite (got NaN or inf entries)")
    scale = float(h.abs().max()) or 1.0
    asym = float((h - h.T).abs().max())
    if asym > 1e-6 * scale:
        raise ValueError(f"hessian must be symmetric, H = Hᵀ (got max |H − Hᵀ| = {asym:.3g})")
    return float(torch.linalg.eigvalsh(h)[-1])


def nonuniformity(per_sample_hessians: torch.Tensor) -> float:
    """s = sqrt(λ_max((1/n) Σ H_i² − H²)) (Wu, Ma & E 2018), computed as (1/n) Σ (H_i − H)².

    In one dimension the std of the h_i. In d dimensions it is ≥ every directional s_v, so
    :func:`stable_1d` with it is not a necessary condition there (notebook 01).
    """
    h = _as_hessians(per_sample_hessians)
    centred = h - h.mean(0)
    second = (centred @ centred).mean(0)
    return math.sqrt(max(float(torch.linalg.eigvalsh(second)[-1]), 0.0))


def _c_and_parts(h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """C (diagonal, r²), H⊗H and M = (1/n) Σ H_i⊗H_i in the reduced eigenbasis."""
    hr, lam = _reduce(h)
    r = lam.numel()
    c_diag = (lam[:, None] + lam[None, :]).reshape(r * r)
    hh = torch.kron(torch.diag(lam), torch.diag(lam))
    m = torch.einsum("nij,nkl->ikjl", hr, hr).reshape(r * r, r * r) / hr.shape[0]
    return c_diag, hh, m


def stability_operator(
    per_sample_hessians: torch.Tensor,
    lr: float,
    batch_size: int,
    *,
    replacement: bool = False,
    restrict: bool = True,
) -> torch.Tensor:
    """The matrix of Q(η, B), shape (r², r²) on the range of H (``restrict``) or (d², d²)."""
    h = _as_hessians(per_sample_hessians)
    lr = check_scalar(lr, "lr", low=0.0, closed="neither")
    _check_lrs(lr, h, "lr")
    restrict = check_bool(restrict, "restrict")
    p = sampling_factor(h.shape[0], batch_size, replacement=replacement)
    if restrict:
        h, _ = _reduce(h)
    d = h.shape[1]
    eye = torch.eye(d, dtype=h.dtype, device=h.device)
    hbar = h.mean(0)
    c = torch.kron(hbar, eye) + torch.kron(eye, hbar)
    m = torch.einsum("nij,nkl->ikjl", h, h).reshape(d * d, d * d) / h.shape[0]
    dmat = (1 - p) * torch.kron(hbar, hbar) + p * m
    return torch.eye(d * d, dtype=h.dtype, device=h.device) - lr * c + lr**2 * dmat


def _mixture_apply(h: torch.Tensor, x: torch.Tensor, lrs: torch.Tensor, p: float) -> torch.Tensor:
    """X ↦ (1−p)(I−ηH)X(I−ηH) + p (1/n) Σ (I−ηH_i) X (I−ηH_i), batched: x (G, r, r)."""
    eye = torch.eye(h.shape[1], dtype=h.dtype, device=h.device)
    a_full = eye - lrs[:, None, None] * h.mean(0)  # (G, r, r)
    a_each = eye - lrs[:, None, None, None] * h[None]  # (G, n, r, r)
    full = a_full @ x @ a_full
    each = (a_each @ x[:, None] @ a_each).mean(1)
    return (1 - p) * full + p * each


def spectral_radius_curve(
    per_sample_hessians: torch.Tensor,
    lrs: torch.Tensor | float,
    batch_size: int,
    *,
    replacement: bool = False,
    iters: int = 20_000,
    tol: float = 1e-6,
) -> torch.Tensor:
    """ρ(Q(η, B)) on the range of H for many learning rates at once.

    Shapes ``(n, d, d), (G,) -> (G,)``. PSD H_i of low rank (linear regression: rank one)
    take the low-rank route: in the eigenbasis of H, Q = diag + pη² U Uᵀ with U of rank n ·
    rank(H_i)², whose top eigenvalue solves a secular equation exactly
    (:mod:`alignkit.stability.secular`; O(r² n²) per Newton step, not O(r⁶)). Otherwise,
    explicit batched eigenvalues when the rank r of H is at most ``EXPLICIT_LIMIT``. Above
    it, matrix-free power iteration on X ↦ E[(I−ηH_ξ) X (I−ηH_ξ)] from the identity (the
    iterates stay in the PSD cone, so they find the Perron eigenvalue, which is ρ), run per
    η until the certified bracket lo ≤ ρ ≤ hi (Rayleigh quotient; Collatz–Wielandt)
    satisfies hi − lo ≤ ``tol`` · hi; hi is returned
    (:func:`alignkit.numerics.perron.perron_root`). Settings still open after ``iters``
    iterations raise a :class:`ConvergenceWarning`. When many eigenvalues of Q lie close to
    ρ (weakly curved directions), the plain power estimate after a few hundred iterations
    underestimates ρ.
    """
    h = _as_hessians(per_sample_hessians)
    eta = _check_lrs(lrs, h, "lrs").to(h.device)
    h, scale = _normalised(h)  # the same η H, at any size of H
    eta = eta * scale
    p = sampling_factor(h.shape[0], batch_size, replacement=replacement)
    iters = check_int(iters, "iters", low=1)
    tol = check_scalar(tol, "tol", low=0.0, high=1.0, closed="neither")
    hr, lam = _reduce(h)
    r = lam.numel()
    if r == 0:
        return torch.ones_like(eta)  # every direction is flat: nothing grows or shrinks
    low = _lowrank(hr)
    if low is not None:  # Q = diag((1−ηλ_j)(1−ηλ_k) − pη²λ_jλ_k) + pη² U Uᵀ
        u, j, k = low
        lj, lk, e = lam[j], lam[k], eta[:, None]
        delta = (1 - e * lj) * (1 - e * lk) - p * e**2 * lj * lk
        return top_eigenvalue_diag_lowrank(delta, u, p * eta**2)
    if r <= EXPLICIT_LIMIT:
        c_diag, hh, m = _c_and_parts(h)
        dmat = (1 - p) * hh + p * m
        q = torch.eye(r * r, dtype=h.dtype, device=h.device) - eta[:, None, None] * torch.diag(
            c_diag
        )
        q = q + eta[:, None, None] ** 2 * dmat
        return torch.linalg.eigvalsh(q).abs().amax(-1)
    x = torch.eye(r, dtype=h.dtype, device=h.device).expand(eta.numel(), r, r)
    return perron_root(
        lambda x, idx: _mixture_apply(hr, x, eta[idx], p), x, tol=tol, iters=iters, what="rho(Q)"
    ).value


def spectral_radius(
    per_sample_hessians: torch.Tensor, lr: float, batch_size: int, replacement: bool = False
) -> float:
    """ρ(Q(η, B)) on the range of H; the minimum is mean-square stable iff ρ ≤ 1.

    Parameters
    ----------
    per_sample_hessians : Tensor, shape (n, d, d)
        Symmetric H_i at the minimum (Gauss–Newton: PSD).
    lr : float
        η > 0.
    batch_size : int
        B in [1, n] (any B ≥ 1 with replacement).
    replacement : bool, default=False
        Sample the minibatch with replacement.
    """
    lr = check_scalar(lr, "lr", low=0.0, closed="neither")
    _check_lrs(lr, _as_hessians(per_sample_hessians), "lr")
    curve = spectral_radius_curve(per_sample_hessians, lr, batch_size, replacement=replacement)
    return float(curve[0])


def threshold_curve(
    per_sample_hessians: torch.Tensor,
    batch_sizes: torch.Tensor | list[int],
    *,
    replacement: bool = False,
    iters: int = 20_000,
    tol: float = 1e-6,
) -> torch.Tensor:
    """η*(B) = 1 / λ_max(C⁻¹ D(B)) for many batch sizes at once, shapes ``(K,) -> (K,)``.

    ``inf`` where no direction is curved (every H_i = 0). PSD H_i of low rank take the
    low-rank route (C^-1/2 D C^-1/2 = diagonal + p Ũ Ũᵀ, top eigenvalue from a secular
    equation, as in :func:`spectral_radius_curve`); else explicit eigenvalues up to rank
    ``EXPLICIT_LIMIT``; above it power iteration on X ↦ C⁻¹D(X) (it preserves the PSD
    cone: C⁻¹ is a Hadamard product with the PSD Cauchy matrix 1/(λ_j + λ_k)) until the
    certified bracket on λ_max(C⁻¹D) (generalised Rayleigh quotient ⟨X, DX⟩/⟨X, CX⟩;
    Collatz–Wielandt) is narrower than ``tol`` relative, else a :class:`ConvergenceWarning`;
    returns 1 / (the bracket's upper end), a lower bound on η*.
    """
    h, scale = _normalised(_as_hessians(per_sample_hessians))  # η*(H) = η*(H / s) / s
    n = h.shape[0]
    replacement = check_bool(replacement, "replacement")
    sizes = _batch_sizes(batch_sizes, None if replacement else n)
    iters = check_int(iters, "iters", low=1)
    tol = check_scalar(tol, "tol", low=0.0, high=1.0, closed="neither")
    p = _sampling_factors(n, sizes, replacement).to(h.device)
    hr, lam = _reduce(h)
    r = lam.numel()
    if r == 0:
        return torch.full_like(p, math.inf)
    low = _lowrank(hr)
    if low is not None:  # C^-1/2 D C^-1/2 = diag((1−p)λ_jλ_k/(λ_j+λ_k)) + p C^-1/2 U Uᵀ C^-1/2
        u, j, k = low
        lj, lk = lam[j], lam[k]
        c = lj + lk
        delta = (1 - p[:, None]) * (lj * lk / c)[None]
        return 1.0 / top_eigenvalue_diag_lowrank(delta, u * c.rsqrt()[:, None], p) / scale
    if r <= EXPLICIT_LIMIT:
        c_diag, hh, m = _c_and_parts(h)
        s = c_diag.rsqrt()
        dmat = hh[None] + p[:, None, None] * (m - hh)[None]  # (1−p) H⊗H + p M
        sym = s[:, None] * dmat * s[None, :]
        return 1.0 / torch.linalg.eigvalsh(sym)[..., -1] / scale
    # Matrix-free: power iteration on C⁻¹D; C⁻¹ divides entry (j, k) by λ_j + λ_k.
    c = lam[:, None] + lam[None, :]
    diag = torch.diag(lam)

    def apply(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        full = diag @ x @ diag
        each = (hr[None] @ x[:, None] @ hr[None]).mean(1)
        q = p[idx][:, None, None]
        return ((1 - q) * full + q * each) / c

    x = torch.eye(r, dtype=h.dtype, device=h.device).expand(p.numel(), r, r)
    top = perron_root(apply, x, weight=c, tol=tol, iters=iters, what="lambda_max(C^-1 D)")
    return 1.0 / top.value / scale


def linear_stability_threshold(
    per_sample_hessians: torch.Tensor, batch_size: int, replacement: bool = False
) -> float:
    """η*: the largest learning rate for which the minimum is mean-square stable.

    Stable iff η ≤ η* = 1 / λ_max(C⁻¹ D) on the range of H. η* never decreases with B
    and equals 2 / λ_max(H) for gradient descent (B = n without replacement).
    """
    n = _as_hessians(per_sample_hessians).shape[0]
    sampling_factor(n, batch_size, replacement=replacement)  # names batch_size in its errors
    return float(threshold_curve(per_sample_hessians, [batch_size], replacement=replacement)[0])
