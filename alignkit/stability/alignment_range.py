"""The alignment factor μ over directions at a minimum, and η*(B) for constant Hessians.

The last iterate's μ(θ) = Tr(Σ₁ G) / (2 L ‖G‖_F²) (:mod:`alignkit.stability.noise`) is
a 0/0 limit at a global minimum θ*: its value depends on the direction from which θ
approaches θ*. Linearising the outputs, f(x_i; θ* + x) ≈ y_i + J_i x with per-sample
Jacobians J_i (k × d), gives r_i = J_i x, H_i = J_iᵀ J_i, G = H = (1/n) Σ H_i,
g_i = H_i x, 2L = xᵀ H x, and for a direction x = θ − θ*

    μ(x) = [ (1/n) Σ_i xᵀ H_i G H_i x − xᵀ H G H x ] / ( xᵀ H x · ‖G‖_F² ),

a generalized Rayleigh quotient of two positive semi-definite matrices. Directions in
the common null space of the H_i change neither term, so over x in range(H) the extreme
values are the extreme generalized eigenvalues. :func:`alignment_range` computes them
in the (≤ n·k)-dimensional row space of the stacked Jacobian, via the sample Gram matrix
K = J Jᵀ = U Λ Uᵀ: with U_i the k rows of U that belong to sample i, the whitened
problem is the r × r symmetric matrix

    W = [ Σ_i U_iᵀ U_i diag(Λ²/n) U_iᵀ U_i − diag(Λ/n)² ] / Σ (Λ/n)²,

whose smallest and largest eigenvalues are μ_min and μ_max (no division by small
eigenvalues of H, so it stays accurate on ill-conditioned Jacobians).

Why μ_min is the number the bound needs (linearised SGD with replacement, p = 1/B,
S_t = E[x_t x_tᵀ]): Tr(H S_{t+1}) ≥ η² p Tr(A S_t) ≥ η² p μ_min ‖H‖_F² Tr(H S_t) with
A the numerator's matrix, so a mean-square stable minimum has
‖H‖_F ≤ 1 / (η √(p μ_min)). The bound with the last iterate's μ is not implied when
μ > μ_min. μ_min = 0 (the bound is then vacuous) when some direction gives every sample
the same gradient, e.g. two identical samples.

For models linear in their parameters (``"linear"``, ``"random_features"`` of
:mod:`alignkit.stability.models`) the J_i do not depend on θ: the linearisation is exact,
and :func:`constant_hessian_threshold` gives the exact mean-square threshold η*(B) of
notebook 01 (:func:`alignkit.stability.theory.threshold_curve`). Taught in notebook 02.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from alignkit._checks import FLOAT_DTYPES, check_choice, check_has_data, check_scalar, check_shape
from alignkit.stability.models import FunctionalModel
from alignkit.stability.theory import threshold_curve

__all__ = [
    "AlignmentRange",
    "alignment_range",
    "directional_alignment",
    "constant_hessian_threshold",
    "CONSTANT_HESSIAN_MODELS",
]

#: Models whose per-sample Hessians H_i = J_iᵀ J_i do not depend on θ.
CONSTANT_HESSIAN_MODELS = ("linear", "random_features")


def _check_jacobians(jacobians: torch.Tensor) -> torch.Tensor:
    if not isinstance(jacobians, torch.Tensor):
        raise TypeError(f"jacobians must be a torch.Tensor, got {type(jacobians).__name__}")
    check_shape(
        tuple(jacobians.shape),
        "jacobians",
        "(..., n, k, d) with n, k, d >= 1",
        jacobians.ndim >= 3 and min(jacobians.shape[-3:]) >= 1,
    )
    if not jacobians.is_floating_point():
        jacobians = jacobians.to(torch.get_default_dtype())
    check_has_data(jacobians, "jacobians")
    if jacobians.dtype not in FLOAT_DTYPES:
        raise TypeError(f"jacobians must be float32 or float64, got {jacobians.dtype}")
    if not bool(torch.isfinite(jacobians).all()):
        raise ValueError("jacobians must be finite (got NaN or inf entries)")
    return jacobians


@dataclass(frozen=True)
class AlignmentRange:
    """Extremes of μ(x) over directions x in range(H) (from :func:`alignment_range`).

    Attributes
    ----------
    mu_min, mu_max : Tensor, shape (...)
        Smallest and largest μ(x); NaN where every J_i is zero (no curved direction).
    direction_min, direction_max : Tensor, shape (..., d)
        Unit directions x in parameter space that attain them.
    rank : Tensor of int64, shape (...)
        Dimension of range(H) (kept eigenvalues of K = J Jᵀ).
    """

    mu_min: torch.Tensor
    mu_max: torch.Tensor
    direction_min: torch.Tensor
    direction_max: torch.Tensor
    rank: torch.Tensor


def _range(flat: torch.Tensor, n: int, k: int, rtol: float) -> tuple[torch.Tensor, ...]:
    """(mu_min, mu_max, x_min, x_max, rank) for stacked Jacobians ``flat`` (S, n·k, d).

    Batched over S: eigenvalues of K below the cut are masked out of W (their rows and
    columns zeroed, their diagonal set above every kept eigenvalue), so each setting
    keeps its own rank without a loop.
    """
    gram = flat @ flat.transpose(-1, -2)
    lam, u = torch.linalg.eigh(gram)  # ascending, (S, nk)
    top = lam[:, -1:].clamp_min(0)
    keep = (lam > rtol * top) & (top > 0)
    h = torch.where(keep, lam, 0.0) / n  # eigenvalues of G in the row space
    blocks = u.reshape(-1, n, k, n * k)  # U_i, (S, n, k, nk)
    # Σ_i U_iᵀ P_i U_i with P_i = U_i diag(n h²) U_iᵀ (k × k): never forms n (nk)² blocks
    p_i = (blocks * (n * h**2)[:, None, None, :]) @ blocks.transpose(-1, -2)
    first = u.transpose(-1, -2) @ (p_i @ blocks).reshape(-1, n * k, n * k)
    fro2 = (h**2).sum(-1).clamp_min(torch.finfo(flat.dtype).tiny)
    w = (first - torch.diag_embed(h**2)) / fro2[:, None, None]
    both = keep[:, :, None] & keep[:, None, :]
    w = torch.where(both, 0.5 * (w + w.transpose(-1, -2)), 0.0)
    above = w.diagonal(dim1=-2, dim2=-1).clamp_min(0).sum(-1, keepdim=True) + 1.0
    w = w + torch.diag_embed(torch.where(keep, 0.0, above))
    evals, evecs = torch.linalg.eigh(w)
    rank = keep.sum(-1)
    hi_index = (rank - 1).clamp_min(0)
    mu_min = evals[:, 0]
    mu_max = evals.gather(1, hi_index[:, None]).squeeze(1)
    # x = V h^{-1/2} z with V = Jᵀ U Λ^{-1/2}: x ∝ Jᵀ U Λ^{-1} z
    z = torch.stack(
        [evecs[:, :, 0], evecs.gather(2, hi_index[:, None, None].expand(-1, n * k, 1))[..., 0]], -1
    )
    coeff = z / torch.where(keep, lam, 1.0)[:, :, None]
    dirs = flat.transpose(-1, -2) @ (u @ coeff)  # (S, d, 2)
    dirs = dirs / dirs.norm(dim=-2, keepdim=True).clamp_min(torch.finfo(flat.dtype).tiny)
    none = rank == 0
    mu_min = torch.where(none, torch.nan, mu_min)
    mu_max = torch.where(none, torch.nan, mu_max)
    return mu_min, mu_max, dirs[..., 0], dirs[..., 1], rank


def alignment_range(jacobians: torch.Tensor, *, rtol: float = 1e-10) -> AlignmentRange:
    """μ_min and μ_max of the linearised alignment factor over directions, exactly.

    Parameters
    ----------
    jacobians : Tensor, shape (..., n, k, d)
        Per-sample output Jacobians J_i at a minimum (e.g.
        :func:`alignkit.stability.noise.per_sample_jacobians`); leading axes are settings.
    rtol : float, default=1e-10
        Eigenvalues of K = J Jᵀ below ``rtol`` × the largest count as zero (they span
        the null space of H, where μ is undefined).

    Returns
    -------
    AlignmentRange
        Fields of shape (...) (directions (..., d)).

    Notes
    -----
    Cost per setting: one (n·k) × (n·k) ``eigh`` and one r × r ``eigh``, r = rank(H) ≤ n·k.
    """
    jacobians = _check_jacobians(jacobians)
    rtol = check_scalar(rtol, "rtol", low=0, high=1, closed="left")
    n, k, d = (int(s) for s in jacobians.shape[-3:])
    lead = jacobians.shape[:-3]
    flat = jacobians.reshape(-1, n * k, d)
    lo, hi, xlo, xhi, rank = _range(flat, n, k, rtol)
    return AlignmentRange(
        lo.reshape(lead),
        hi.reshape(lead),
        xlo.reshape(*lead, d),
        xhi.reshape(*lead, d),
        rank.reshape(lead),
    )


def directional_alignment(jacobians: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """μ(x) of the linearised model for given directions x, from the definition.

    g_i = H_i x with H_i = J_iᵀ J_i, g = (1/n) Σ g_i, G = (1/n) Σ H_i and
    μ(x) = [(1/n) Σ g_iᵀ G g_i − gᵀ G g] / (xᵀ G x · ‖G‖_F²) (NaN where xᵀ G x = 0).

    Parameters
    ----------
    jacobians : Tensor, shape (n, k, d)
    directions : Tensor, shape (m, d)
        Any non-zero vectors (the scale cancels).

    Returns
    -------
    Tensor, shape (m,)
    """
    jacobians = _check_jacobians(jacobians)
    check_shape(tuple(jacobians.shape), "jacobians", "(n, k, d)", jacobians.ndim == 3)
    n, _, d = jacobians.shape
    if not isinstance(directions, torch.Tensor):
        raise TypeError(f"directions must be a torch.Tensor, got {type(directions).__name__}")
    check_shape(
        tuple(directions.shape), "directions", f"(m, {d})", directions.ndim == 2
        and directions.shape[1] == d,
    )  # fmt: skip
    check_has_data(directions, "directions")
    if directions.shape[0] == 0 or not bool(torch.isfinite(directions).all()):
        raise ValueError(
            f"directions must be finite with m >= 1 rows, got {tuple(directions.shape)}"
        )
    x = directions.to(jacobians.dtype)
    gn = torch.einsum("nkd,nke->de", jacobians, jacobians) / n
    r = torch.einsum("nkd,md->mnk", jacobians, x)  # r_i = J_i x
    g_i = torch.einsum("nkd,mnk->mnd", jacobians, r)  # g_i = H_i x
    g = g_i.mean(1)
    first = (g_i * (g_i @ gn)).sum(-1).mean(-1)
    second = (g * (g @ gn)).sum(-1)
    curvature = (x * (x @ gn)).sum(-1)
    return (first - second) / (curvature * (gn**2).sum())


def constant_hessian_threshold(
    model: FunctionalModel,
    batch_sizes: torch.Tensor | list[int],
    *,
    replacement: bool = True,
) -> torch.Tensor:
    """Exact mean-square threshold η*(B) of SGD on a model linear in its parameters.

    Uses :func:`alignkit.stability.theory.threshold_curve` on the per-sample Hessians.
    ``"linear"``: H_i = x_i x_iᵀ / p. ``"random_features"``: f = φ(x)ᵀ A / √m with
    A ∈ R^{m×k}, so H_i = (φ_i φ_iᵀ / m) ⊗ I_k; the k output columns of A follow the
    same linear recursion with the same minibatches, so the threshold is that of the
    m × m Hessians φ_i φ_iᵀ / m (k times smaller).

    Parameters
    ----------
    model : FunctionalModel
        ``"linear"`` or ``"random_features"`` (see :data:`CONSTANT_HESSIAN_MODELS`).
    batch_sizes : sequence of int, shape (K,)
    replacement : bool, default=True
        How minibatches are drawn (the sweeps draw with replacement).

    Returns
    -------
    Tensor, shape (K,), float64, on the CPU
        η*(B); SGD at η < η*(B) converges in mean square, above it E‖θ − θ*‖² grows.
    """
    if not isinstance(model, FunctionalModel):
        raise TypeError(f"model must be a FunctionalModel, got {type(model).__name__}")
    check_choice(model.name, "model.name", CONSTANT_HESSIAN_MODELS)
    x = model.x.detach().to(device="cpu", dtype=torch.float64)
    scale = 1.0 / model.width
    hessians = scale * x[:, :, None] * x[:, None, :]  # (n, p, p) or (n, m, m)
    return threshold_curve(hessians, batch_sizes, replacement=replacement)
