"""Sampling, Lyapunov analysis and tangent alignment of generative flows (theme 3).

For a model's flow map Φ from t = 0 to t_end, the finite-time Lyapunov exponents and
vectors are the log-singular values (divided by t_end) and left singular vectors of the
flow-map Jacobian DΦ, propagated by forward mode through the solver
(:func:`alignkit.numerics.ode.lyapunov_svd`): ordered and independent of any start frame.
The first d vectors (the most expanding directions) at time t span the *estimated tangent
space*; its alignment with the manifold's true tangent space at the closest point is
measured by the cosines of the principal angles (singular values of Tᵀ U_d). Alignment near
t_end together with strongly negative remaining (normal) exponents is the mechanism by which
errors of the field move samples along the manifold instead of off it.

Taught in ``notebooks/05_generative_manifold_alignment.ipynb``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from alignkit._checks import check_choice, check_int, check_shape
from alignkit.device import make_generator
from alignkit.manifold.fields import PERTURBATIONS, GenerativeModel, error_sweep_field, perturb
from alignkit.manifold.manifolds import Manifold
from alignkit.numerics.ode import SOLVERS, lyapunov_svd, solve

__all__ = [
    "prior_sample",
    "generate",
    "eps_sweep",
    "principal_cosines",
    "top_left_singular_vectors",
    "LyapunovAnalysis",
    "lyapunov_analysis",
    "density_shift",
]


def prior_sample(
    model: GenerativeModel, n: int, *, seed: int | torch.Generator | None = 0
) -> torch.Tensor:
    """``n`` starting points from the model's prior N(0, prior_std² I), shape (n, D)."""
    n = check_int(n, "n", low=1)
    gen = make_generator(seed, model.device)
    z = torch.randn(n, model.dim, generator=gen, device=model.device, dtype=model.dtype)
    return model.prior_std * z


def generate(
    model: GenerativeModel,
    n: int,
    *,
    steps: int = 50,
    method: str = "rk4",
    seed: int | torch.Generator | None = 0,
    trajectory: bool = False,
) -> torch.Tensor:
    """Samples of the model: the ODE solved from the prior, ``(n, D)`` or ``(n, steps+1, D)``."""
    x0 = prior_sample(model, n, seed=seed)
    return solve(
        model.velocity, x0, t1=model.t_end, steps=steps, method=method, trajectory=trajectory
    )


def eps_sweep(
    model: GenerativeModel,
    kind: str,
    eps: torch.Tensor,
    n: int,
    *,
    steps: int = 40,
    method: str = "rk4",
    seed: int = 0,
    error_seed: int = 1,
) -> torch.Tensor:
    """Samples for every error size at once, ``(G,) -> (G, n, D)`` (same prior draws).

    All G perturbed models are integrated in one batched solve: the G parameter sets
    (``weights``) or the error size carried as an extra, constant state coordinate.
    """
    kind = check_choice(kind, "perturbation", PERTURBATIONS)
    if bool((eps < 0).any()):
        raise ValueError(f"eps must be ≥ 0, got {eps.min().item():g}")
    g = eps.numel()
    x0 = prior_sample(model, n, seed=seed)
    if kind == "weights":
        noisy = [perturb(model, kind, float(e), seed=error_seed) for e in eps]
        params = tuple(torch.stack(ps) for ps in zip(*[m.params for m in noisy], strict=True))
        assert model.build is not None
        build = model.build

        def one(*p: torch.Tensor) -> torch.Tensor:
            return solve(build(p), x0, t1=model.t_end, steps=steps, method=method)

        return torch.func.vmap(one)(*params)
    unit = perturb(model, kind, 1.0, seed=error_seed)  # v + 1·δ: δ = unit − v
    fast = error_sweep_field(unit)  # batched, no vmap, when the error is known by hand

    def field(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        x, e = z[:-1], z[-1]
        base = model.velocity(x, t)
        return torch.cat([base + e * (unit.velocity(x, t) - base), torch.zeros_like(z[-1:])])

    e_col = eps.to(x0).repeat_interleave(n)[:, None]
    z0 = torch.cat([x0.repeat(g, 1), e_col], dim=1)
    z1 = solve(fast or field, z0, t1=model.t_end, steps=steps, method=method)
    return z1[:, :-1].reshape(g, n, model.dim)


def principal_cosines(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosines of the principal angles between spans of orthonormal ``a`` and ``b``.

    ``(..., D, p), (..., D, q) -> (..., min(p, q))``, largest first (1 = aligned).
    """
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


@dataclass(frozen=True)
class LyapunovAnalysis:
    """Lyapunov exponents/vectors of N trajectories and their alignment with the manifold.

    ``start``, ``end``: (N, D); ``exponents``: (N, D) finite-time exponents
    log σ_i(DΦ) / t_end over [0, t_end], most expanding first (the last D − d are the normal
    ones when aligned); ``vectors``: (N, D, D) Lyapunov vectors (left singular vectors of DΦ)
    at the end points (columns);
    ``true_tangent``: (N, D, d) at the closest points; ``cosines``: (N, d) principal-angle
    cosines between the top-d vectors and the true tangents at the end; ``times``: (K+1,);
    ``alignment``: (N, K+1) mean cosine along the trajectory (None if not recorded);
    ``distance``: (N,) distance of the end points to the manifold.
    """

    start: torch.Tensor
    end: torch.Tensor
    exponents: torch.Tensor
    vectors: torch.Tensor
    true_tangent: torch.Tensor
    cosines: torch.Tensor
    times: torch.Tensor
    alignment: torch.Tensor | None
    distance: torch.Tensor
    intrinsic_dim: int

    @property
    def mean_cosine(self) -> float:
        """Mean over samples and angles of the cosines at the end (1 = perfect alignment)."""
        return float(self.cosines.mean())

    @property
    def normal_exponents(self) -> torch.Tensor:
        """The D − d smallest exponents, (N, D − d)."""
        return self.exponents[:, self.intrinsic_dim :]


def lyapunov_analysis(
    model: GenerativeModel,
    manifold: Manifold,
    n: int,
    *,
    steps: int = 50,
    method: str = "rk4",
    seed: int | torch.Generator | None = 0,
    record: bool = True,
) -> LyapunovAnalysis:
    """Lyapunov exponents and vectors of ``n`` model trajectories, aligned against ``manifold``.

    ``record`` keeps the alignment at every step (memory N·(K+1)·D·D). A model that stops
    short of t = 1 (the exact field, singular there) is stepped equally in log(1 − t)
    (:func:`~alignkit.numerics.ode.time_grid`), the others equally in t.
    """
    if model.dim != manifold.embed_dim:
        raise ValueError(
            f"model dimension {model.dim} must equal the manifold's embed_dim {manifold.embed_dim}"
        )
    check_choice(method, "method", SOLVERS)
    x0 = prior_sample(model, n, seed=seed)
    # the exact field scales like 1/(1 − t) near its end (t_end < 1): equal steps in
    # log(1 − t) resolve it (equal steps in t left its exponents unconverged at 40 steps)
    spacing = "log1m" if model.t_end < 1.0 else "uniform"
    fl = lyapunov_svd(model.velocity, x0, t1=model.t_end, steps=steps, method=method,
                      record=record, spacing=spacing)  # fmt: skip
    d = manifold.dim
    alignment = None
    if record:  # the top-d left singular vectors of every recorded flow-map Jacobian
        assert fl.path is not None and fl.jac_path is not None
        k1 = fl.path.shape[1]
        flat = fl.path.reshape(-1, model.dim)
        t_all = manifold.tangent_basis(flat).reshape(n, k1, model.dim, d)
        tangent = t_all[:, -1]  # the end points are the path's last points
        u_top = top_left_singular_vectors(fl.jac_path, d)
        alignment = principal_cosines(u_top, t_all.to(u_top)).mean(-1).to(fl.x.dtype)
    else:
        tangent = manifold.tangent_basis(fl.x)
    cosines = principal_cosines(fl.vectors[..., :d], tangent)
    return LyapunovAnalysis(
        start=x0, end=fl.x, exponents=fl.exponents, vectors=fl.vectors, true_tangent=tangent,
        cosines=cosines, times=fl.times, alignment=alignment,
        distance=manifold.distance_to_manifold(fl.x), intrinsic_dim=d,
    )  # fmt: skip


def density_shift(
    manifold: Manifold, samples: torch.Tensor, reference: torch.Tensor, *, bins: int = 24
) -> tuple[float, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Total-variation distance between azimuth histograms of ``samples`` and ``reference``.

    Returns ``(tv, edges (bins+1,), p_samples (bins,), p_reference (bins,))``; histograms
    are probabilities over equal bins of (−π, π]. ``tv`` is ½ Σ |p − q| in [0, 1].
    """
    bins = check_int(bins, "bins", low=2)
    edges = torch.linspace(-torch.pi, torch.pi, bins + 1, dtype=torch.float64)

    def hist(x: torch.Tensor) -> torch.Tensor:
        a = manifold.azimuth(x).double().cpu()
        idx = ((a + torch.pi) / (2 * torch.pi) * bins).long().clamp(0, bins - 1)
        return torch.bincount(idx, minlength=bins).double() / max(a.numel(), 1)

    p, q = hist(samples), hist(reference)
    return 0.5 * float((p - q).abs().sum()), edges, p, q
