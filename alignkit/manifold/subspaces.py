"""Subspace tools of the Lyapunov analysis (theme 3): principal angles, top singular spans.

:func:`principal_cosines` measures how well the estimated tangent space (the top Lyapunov
vectors) matches the manifold's true one; :func:`top_left_singular_vectors` gives that
estimated space from a flow-map Jacobian, in closed form for D = 2, 3. Both are used by
:func:`alignkit.manifold.dynamics.lyapunov_analysis` (and re-exported there).
Taught in ``notebooks/05_generative_manifold_alignment.ipynb``.
"""

from __future__ import annotations

import math

import torch

from alignkit._checks import check_has_data, check_int, check_shape

__all__ = ["principal_cosines", "top_left_singular_vectors"]

_ORTHO_TOL = 1e-4  # |AᵀA − I| allowed (float32 rounding of a float64 frame is ~1e-7)


def _check_frame(x: object, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        got = x.dtype if isinstance(x, torch.Tensor) else type(x).__name__
        raise TypeError(f"{name} must be a floating-point torch.Tensor (..., D, k), got {got}")
    ok = x.ndim >= 2 and x.shape[-2] >= 1 and x.shape[-1] >= 1
    check_shape(tuple(x.shape), name, "(..., D, k), D and k >= 1", ok)
    check_has_data(x, name)
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} must be finite (got NaN or inf entries)")
    return x


def _check_orthonormal(x: torch.Tensor, name: str) -> None:
    gram = x.transpose(-1, -2) @ x
    eye = torch.eye(x.shape[-1], dtype=x.dtype, device=x.device)
    err = float((gram - eye).abs().max())
    tol = max(_ORTHO_TOL, 64 * torch.finfo(x.dtype).eps)
    if not err <= tol:
        raise ValueError(
            f"{name} must have orthonormal columns (|{name}ᵀ{name} − I| <= {tol:g}), got "
            f"a deviation of {err:g}"
        )


def principal_cosines(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosines of the principal angles between spans of orthonormal ``a`` and ``b``.

    ``(..., D, p), (..., D, q) -> (..., min(p, q))``, largest first (1 = aligned).
    ``a`` and ``b``: finite floating tensors with the same leading shape and D (no
    broadcasting), orthonormal columns to 1e-4 (``|AᵀA − I|``, entrywise); anything else is
    a ``TypeError``/``ValueError`` naming the argument (never a silently clamped cosine).
    """
    a = _check_frame(a, "a")
    b = _check_frame(b, "b")
    if b.shape[:-1] != a.shape[:-1]:
        lead = ", ".join(str(s) for s in a.shape[:-1])
        raise ValueError(
            f"b must have shape ({lead}, q) (a's leading shape and D), got {tuple(b.shape)}"
        )
    dtype = torch.promote_types(a.dtype, b.dtype)
    a, b = a.to(dtype), b.to(dtype)
    _check_orthonormal(a, "a")
    _check_orthonormal(b, "b")
    return _principal_cosines(a, b)


def _principal_cosines(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """:func:`principal_cosines` without the checks (frames the kit built itself)."""
    m = a.transpose(-1, -2) @ b
    if min(m.shape[-2:]) == 1:  # one angle: the singular value of a row or column, its norm
        return torch.linalg.vector_norm(m, dim=(-2, -1)).clamp(max=1.0)[..., None]
    if m.shape[-2:] == (2, 2):  # σ₁² the top eigenvalue of M Mᵀ = [[p, q], [q, r]], σ₂ = |det|/σ₁
        p, r = m[..., 0, :].square().sum(-1), m[..., 1, :].square().sum(-1)
        q = (m[..., 0, :] * m[..., 1, :]).sum(-1)
        det = m[..., 0, 0] * m[..., 1, 1] - m[..., 0, 1] * m[..., 1, 0]
        root = torch.sqrt((p - r).square() + 4.0 * q.square())  # σ₁² − σ₂², no cancellation
        s1 = ((p + r + root) / 2.0).sqrt()
        s2 = torch.where(s1 > 0, det.abs() / s1.clamp(min=torch.finfo(m.dtype).tiny), 0.0)
        return torch.stack([s1, s2], dim=-1).clamp(max=1.0)
    return torch.linalg.svdvals(m).clamp(max=1.0)


_GAP = 1e-3  # closed forms where the eigenvalue gap is at least this fraction of |J|²


def top_left_singular_vectors(jac: torch.Tensor, k: int) -> torch.Tensor:
    """An orthonormal basis of the span of the top-``k`` left singular vectors of each J.

    ``(..., D, D) -> (..., D, k)``, float64. For D = 2 (k = 1) and D = 3 (k = 1 or 2) in
    closed form from A = J Jᵀ (float64): the top eigenvector of a 2×2 A from its angle
    ½ atan2(2 a₀₁, a₀₀ − a₁₁); for D = 3 the top (k = 1) or bottom (k = 2, then its
    orthogonal complement) eigenvalue by the trigonometric solution of the characteristic
    cubic, the eigenvector as the longest cross product of two rows of A − λI. Matrices
    whose gap at that eigenvalue is below 1e-3 |A| (ill-conditioned subspace, e.g. J = I
    at the start), other D and k: the SVD (LAPACK), as before. Principal cosines against
    this basis equal those against the SVD's first k columns to float64 rounding / gap.
    """
    if not isinstance(jac, torch.Tensor) or not jac.is_floating_point():
        raise TypeError(f"jac must be a float tensor (..., D, D), got {type(jac).__name__}")
    ok = jac.ndim >= 2 and jac.shape[-1] == jac.shape[-2] >= 1
    check_shape(tuple(jac.shape), "jac", "(..., D, D)", ok)
    check_has_data(jac, "jac")
    if not bool(torch.isfinite(jac).all()):
        raise ValueError("jac must be finite (got NaN or inf entries)")
    d = jac.shape[-1]
    k = check_int(k, "k", low=1, high=d)
    if (d, k) not in ((2, 1), (3, 1), (3, 2)):
        return torch.linalg.svd(jac)[0][..., :k].double()
    shape = jac.shape[:-2]
    j = jac.reshape(-1, d, d).double()
    a = j @ j.transpose(1, 2)
    if d == 2:
        diff, off = a[:, 0, 0] - a[:, 1, 1], a[:, 0, 1]
        theta = 0.5 * torch.atan2(2.0 * off, diff)
        basis = torch.stack([theta.cos(), theta.sin()], dim=-1)[:, :, None]
        gap = torch.sqrt(diff.square() + 4.0 * off.square())  # λ₁ − λ₂
        scale = a[:, 0, 0] + a[:, 1, 1]
    else:
        basis, gap, scale = _eigvec3(a, top=k == 1)
        if k == 2:
            basis = _complement(basis)
    bad = (~(gap > _GAP * scale)).nonzero().squeeze(1)  # NaN gaps included
    if bad.numel():
        basis[bad] = torch.linalg.svd(j[bad])[0][..., :k]
    return basis.reshape(*shape, d, k)


def _eigvec3(a: torch.Tensor, *, top: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Top or bottom unit eigenvector (B, 3, 1) of symmetric (B, 3, 3) ``a``, its gap, λ₁."""
    q = a.diagonal(dim1=1, dim2=2).sum(-1) / 3.0
    b = a - q[:, None, None] * torch.eye(3, dtype=a.dtype, device=a.device)
    p = (b.square().sum((1, 2)) / 6.0).sqrt()
    ratio = (torch.linalg.det(b) / (2.0 * p**3)).clamp(-1.0, 1.0)  # NaN where p = 0: the SVD
    phi = torch.acos(ratio) / 3.0
    lam1 = q + 2.0 * p * phi.cos()
    lam3 = q + 2.0 * p * torch.cos(phi + 2.0 * math.pi / 3.0)
    lam2 = 3.0 * q - lam1 - lam3
    lam = lam1 if top else lam3
    c = a - lam[:, None, None] * torch.eye(3, dtype=a.dtype, device=a.device)
    r = c.unbind(1)
    cross = torch.stack([torch.linalg.cross(r[i], r[j]) for i, j in ((0, 1), (0, 2), (1, 2))], 1)
    norms = torch.linalg.vector_norm(cross, dim=-1)  # (B, 3)
    best = norms.argmax(1)
    pick = torch.arange(a.shape[0], device=a.device)
    vec = cross[pick, best] / norms[pick, best, None]
    return vec[:, :, None], (lam1 - lam2) if top else (lam2 - lam3), lam1


def _complement(n: torch.Tensor) -> torch.Tensor:
    """An orthonormal basis (B, 3, 2) of the plane orthogonal to unit vectors n (B, 3, 1)."""
    n = n[:, :, 0]
    e = torch.nn.functional.one_hot(n.abs().argmin(1), 3).to(n)
    b1 = e - (e * n).sum(-1, keepdim=True) * n
    b1 = b1 / torch.linalg.vector_norm(b1, dim=-1, keepdim=True)
    return torch.stack([b1, torch.linalg.cross(n, b1)], dim=-1)
