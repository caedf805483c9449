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

from alignkit._checks import check_bool, check_int, check_scalar, check_shape, check_values
from alignkit.numerics.perron import ConvergenceWarning, perron_root

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
]

EXPLICIT_LIMIT = 40  # largest rank r for which the r² × r² operator is built explicitly


#: largest η of the closed-form 1-D test: η² must stay a finite float (every such η diverges).
LR_MAX_1D = 1e150
#: smallest η of the region boundary, whose sharpness axis ends at 2/η (must stay finite).
LR_MIN_1D = 1e-150

#: largest η · max_i ‖H_i‖_F accepted (every such η diverges): near 1e100 η² D overflows
#: float64 in the matrix-free iteration (measured: NaN at 1e99, rank 60), so 1e50 keeps margin.
LR_SCALE_LIMIT = 1e50


def _tensor(value: torch.Tensor, name: str) -> torch.Tensor:
    """A real tensor from ``value`` (bools, complex numbers and non-numbers are a TypeError)."""
    try:
        t = value if isinstance(value, torch.Tensor) else torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise TypeError(f"{name} must be a real tensor, got {type(value).__name__}") from exc
    if t.dtype == torch.bool or t.is_complex():
        raise TypeError(f"{name} must hold real numbers, got a {t.dtype} tensor")
    return t


def _as_hessians(per_sample_hessians: torch.Tensor) -> torch.Tensor:
    h = _tensor(per_sample_hessians, "per_sample_hessians")
    check_shape(
        tuple(h.shape), "per_sample_hessians", "(n, d, d)", h.ndim == 3 and h.shape[1] == h.shape[2]
    )
    if h.shape[0] < 1 or h.shape[1] < 1:
        raise ValueError(f"per_sample_hessians must have n >= 1 and d >= 1, got {tuple(h.shape)}")
    if not bool(torch.isfinite(h).all()):
        raise ValueError("per_sample_hessians must be finite (got NaN or inf entries)")
    h = h.to(torch.float64)
    scale = float(h.abs().max()) or 1.0
    asym = float((h - h.transpose(1, 2)).abs().max())
    if asym > 1e-6 * scale:
        raise ValueError(
            f"per_sample_hessians must be symmetric matrices, H_i = H_iᵀ "
            f"(got max |H_i − H_iᵀ| = {asym:.3g})"
        )
    return h


def sampling_factor(n: int, batch_size: int, *, replacement: bool = False) -> float:
    """p: the minibatch-mean covariance is p times the one-sample covariance.

    ``(n − B) / (B (n − 1))`` without replacement (0 for B = n: gradient descent),
    ``1 / B`` with replacement.
    """
    n = check_int(n, "n", low=1)
    replacement = check_bool(replacement, "replacement")
    batch_size = check_int(batch_size, "batch_size", low=1, high=None if replacement else n)
    if replacement:
        return 1.0 / batch_size
    return 0.0 if n == 1 else (n - batch_size) / (batch_size * (n - 1))


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


def _reduce(h: torch.Tensor, rtol: float = 1e-9) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample Hessians in the eigenbasis of the range of H: (n, r, r) and eigenvalues (r,)."""
    h = h.to(torch.float64)
    evals, evecs = torch.linalg.eigh(h.mean(0))
    keep = evals > rtol * max(float(evals[-1]), 0.0)
    if not bool(keep.any()):
        return h.new_zeros((h.shape[0], 0, 0)), evals[:0]
    basis = evecs[:, keep]
    return basis.T @ h @ basis, evals[keep]


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


def _check_lrs(
    lrs: torch.Tensor | float, h: torch.Tensor | None = None, name: str = "lr"
) -> torch.Tensor:
    """Learning rates as a float64 vector (G,): finite, > 0 and, given the Hessians h,
    small enough that η² D does not overflow (η · max_i ‖H_i‖_F <= ``LR_SCALE_LIMIT``)."""
    t = check_values(lrs, name, low=0.0, closed="neither").reshape(-1)
    if h is not None:
        scale = float(torch.linalg.matrix_norm(h).max())
        if scale > 0 and float(t.max()) * scale > LR_SCALE_LIMIT:
            limit = LR_SCALE_LIMIT / scale
            raise ValueError(
                f"{name} must be in (0, {limit:.3g}] for these Hessians (η · max ‖H_i‖_F <= "
                f"{LR_SCALE_LIMIT:g}; larger η overflow float64 and diverge anyway), "
                f"got {float(t.max()):g}"
            )
    return t


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

    Shapes ``(n, d, d), (G,) -> (G,)``. Explicit batched eigenvalues when the rank r of
    H is at most ``EXPLICIT_LIMIT``. Above it, matrix-free power iteration on
    X ↦ E[(I−ηH_ξ) X (I−ηH_ξ)] from the identity (the iterates stay in the PSD cone, so
    they find the Perron eigenvalue, which is ρ), run per η until the certified bracket
    lo ≤ ρ ≤ hi (Rayleigh quotient; Collatz–Wielandt) satisfies hi − lo ≤ ``tol`` · hi;
    hi is returned (:func:`alignkit.numerics.perron.perron_root`). Settings still open
    after ``iters`` iterations raise a :class:`ConvergenceWarning`. When many eigenvalues
    of Q lie close to ρ (weakly curved directions), the plain power estimate after a few
    hundred iterations underestimates ρ.
    """
    h = _as_hessians(per_sample_hessians)
    eta = _check_lrs(lrs, h, "lrs").to(h.device)
    p = sampling_factor(h.shape[0], batch_size, replacement=replacement)
    iters = check_int(iters, "iters", low=1)
    tol = check_scalar(tol, "tol", low=0.0, high=1.0, closed="neither")
    hr, lam = _reduce(h)
    r = lam.numel()
    if r == 0:
        return torch.ones_like(eta)  # every direction is flat: nothing grows or shrinks
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

    ``inf`` where no direction is curved (every H_i = 0). Explicit eigenvalues up to rank
    ``EXPLICIT_LIMIT``; above it power iteration on X ↦ C⁻¹D(X) (it preserves the PSD
    cone: C⁻¹ is a Hadamard product with the PSD Cauchy matrix 1/(λ_j + λ_k)) until the
    certified bracket on λ_max(C⁻¹D) (generalised Rayleigh quotient ⟨X, DX⟩/⟨X, CX⟩;
    Collatz–Wielandt) is narrower than ``tol`` relative, else a :class:`ConvergenceWarning`;
    returns 1 / (the bracket's upper end), a lower bound on η*.
    """
    h = _as_hessians(per_sample_hessians)
    n = h.shape[0]
    replacement = check_bool(replacement, "replacement")
    sizes = _batch_sizes(batch_sizes, None if replacement else n)
    iters = check_int(iters, "iters", low=1)
    tol = check_scalar(tol, "tol", low=0.0, high=1.0, closed="neither")
    p = torch.tensor(
        [sampling_factor(n, b, replacement=replacement) for b in sizes],
        dtype=torch.float64,
        device=h.device,
    )
    hr, lam = _reduce(h)
    r = lam.numel()
    if r == 0:
        return torch.full_like(p, math.inf)
    if r <= EXPLICIT_LIMIT:
        c_diag, hh, m = _c_and_parts(h)
        s = c_diag.rsqrt()
        dmat = hh[None] + p[:, None, None] * (m - hh)[None]  # (1−p) H⊗H + p M
        sym = s[:, None] * dmat * s[None, :]
        return 1.0 / torch.linalg.eigvalsh(sym)[..., -1]
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
    return 1.0 / top.value


def _batch_sizes(batch_sizes: torch.Tensor | list[int] | int, high: int | None) -> list[int]:
    """A non-empty list of integer batch sizes (1.5, bools and strings are a TypeError)."""
    if isinstance(batch_sizes, (str, bytes, bool)):
        raise TypeError(f"batch_sizes must be integers >= 1, got {batch_sizes!r}")
    if isinstance(batch_sizes, torch.Tensor):
        if batch_sizes.dtype == torch.bool or batch_sizes.is_complex():
            raise TypeError(f"batch_sizes must be integers >= 1, got a {batch_sizes.dtype} tensor")
        values = batch_sizes.reshape(-1).tolist()
    elif hasattr(batch_sizes, "__iter__"):
        values = list(batch_sizes)
    else:
        values = [batch_sizes]
    if not values:
        raise ValueError("batch_sizes must hold at least one integer batch size >= 1, got []")
    return [check_int(b, "batch_sizes", low=1, high=high) for b in values]


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


def threshold_upper_bounds(
    per_sample_hessians: torch.Tensor, batch_size: int, *, replacement: bool = False
) -> tuple[float, float]:
    """Two cheap necessary conditions η* ≤ bound (directional and trace forms).

    ``2a / (a² + (p/n) Σ (vᵀH_i v − a)²)`` with v the top eigenvector of H, and
    ``2 Tr(H) / ((1 − p) ‖H‖_F² + (p/n) Σ ‖H_i‖_F²)``.
    """
    h = _as_hessians(per_sample_hessians)
    p = sampling_factor(h.shape[0], batch_size, replacement=replacement)
    hbar = h.mean(0)
    evals, evecs = torch.linalg.eigh(hbar)
    a, v = float(evals[-1]), evecs[:, -1]
    if a <= 0:
        return math.inf, math.inf
    quad = torch.einsum("i,nij,j->n", v, h, v)
    directional = 2 * a / (a**2 + p * float(((quad - a) ** 2).mean()))
    frob = (1 - p) * float((hbar**2).sum()) + p * float((h**2).sum((1, 2)).mean())
    trace_form = 2 * float(torch.trace(hbar)) / frob
    return directional, trace_form


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
    num = check_int(num, "num", low=2)
    p = sampling_factor(n, batch_size, replacement=replacement)
    a = torch.linspace(0.0, 2.0 / lr, num, dtype=torch.float64)
    inside = (a * (2.0 - lr * a)).clamp_min(0.0)
    s_max = (inside / (lr * p)).sqrt() if p > 0 else torch.full_like(a, math.inf)
    return a, s_max
