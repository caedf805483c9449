"""SGD noise alignment along one training run (notebook 02).

Trains one functional model (``alignkit.stability.models``) with SGD and, every few
steps, measures how the one-sample noise covariance Σ₁ lines up with the Gauss–Newton
matrix G (= H at a global minimum): the alignment factor μ = Tr(Σ₁G) / (2L‖G‖_F²), the
share of the noise's variance that lies in the top-k eigenspace of G, and, at the end,
the noise variance per direction in each eigenspace of G against its curvature.

Everything here is basis-invariant: an eigenvalue of G repeated m times (the random
feature model's G = I_10 ⊗ K repeats each one 10 times) is one eigenspace, and only
traces over whole eigenspaces are reported, never values along single eigenvectors that
``eigh`` picks arbitrarily inside it. Σ₁ lies in the range of G (g_i = J_iᵀr_i), so
"isotropic noise" means isotropic within that range, of dimension r = rank(G): variance
Tr(Σ₁)/r per direction, and a share dim(P)/r in a subspace P of it.

Reference: Wu, Wang & Su, "The alignment property of SGD noise and how it helps select
flat minima: a stability analysis", NeurIPS 2022.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from alignkit._checks import (
    FLOAT_DTYPES,
    check_choice,
    check_float_tensor,
    check_int,
    check_scalar,
    check_shape,
)
from alignkit.device import get_device, make_generator
from alignkit.stability.models import MODELS, make_model
from alignkit.stability.noise import (
    gauss_newton,
    noise_covariance,
    per_sample_jacobians,
    square_loss,
)

__all__ = [
    "AlignmentTrace",
    "alignment_during_training",
    "eigenspaces",
    "top_eigenspace_share",
]

#: Eigenvalues within this × λ_max of each other count as one (repeated) eigenvalue.
TIE_RTOL = 1e-8
#: Eigenvalues below this × λ_max count as zero (outside the range of G).
RANK_RTOL = 1e-10


def _symmetric(matrix: torch.Tensor, name: str) -> torch.Tensor:
    """A finite, symmetric, non-empty (d, d) floating tensor, else ValueError naming it."""
    if not isinstance(matrix, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(matrix).__name__}")
    square = matrix.ndim == 2 and matrix.shape[0] == matrix.shape[1] and matrix.shape[0] >= 1
    check_shape(tuple(matrix.shape), name, "(d, d) with d >= 1", square)
    if matrix.dtype not in FLOAT_DTYPES:
        raise ValueError(f"{name} must be float32 or float64, got {matrix.dtype}")
    check_float_tensor(matrix, name)  # finite, on a real device
    scale = float(matrix.abs().max()) or 1.0
    if float((matrix - matrix.T).abs().max()) > 1e-8 * scale:
        raise ValueError(f"{name} must be symmetric")
    return matrix


def eigenspaces(
    matrix: torch.Tensor, *, rtol: float = TIE_RTOL
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Eigen-decomposition of a symmetric matrix grouped into eigenspaces (ties merged).

    Eigenvalues sorted largest first; a new group starts where the gap to the previous
    eigenvalue exceeds ``rtol`` × max |λ|.

    Shapes ``(d, d) -> (d,), (d, d), (d,)``: eigenvalues (descending), eigenvectors
    (columns, same order) and the group label of each (0 for the top eigenspace).
    """
    matrix = _symmetric(matrix, "matrix")
    rtol = check_scalar(rtol, "rtol", low=0.0, high=1.0, closed="left")
    evals, evecs = torch.linalg.eigh(matrix)
    evals, evecs = evals.flip(0), evecs.flip(1)
    scale = float(evals.abs().max()) if evals.numel() else 0.0
    gaps = (evals[:-1] - evals[1:]) > rtol * scale
    labels = torch.cat([gaps.new_zeros(1, dtype=torch.long), gaps.long().cumsum(0)])
    return evals, evecs, labels


def top_eigenspace_share(
    curvature: torch.Tensor, noise: torch.Tensor, top_k: int, *, rtol: float = TIE_RTOL
) -> tuple[float, int]:
    """Tr(P_k Σ) / Tr(Σ), P_k the projector on the eigenvectors of G with λ ≥ λ_k (ties in).

    Unlike "the top k eigenvectors", P_k does not depend on the basis ``eigh`` picks inside
    a repeated eigenvalue: it holds every eigenspace that meets the top k, so its dimension
    may exceed k.

    Parameters
    ----------
    curvature : Tensor, shape (d, d)
        G, symmetric.
    noise : Tensor, shape (d, d)
        Σ, symmetric positive semi-definite.
    top_k : int
        k in [1, d].
    rtol : float, default=1e-8
        Tie tolerance relative to max |λ| (see :func:`eigenspaces`).

    Returns
    -------
    (float, int)
        The share (nan if Tr Σ = 0) and dim P_k.
    """
    curvature = _symmetric(curvature, "curvature")
    d = curvature.shape[-1]
    check_float_tensor(noise, "noise")
    check_shape(tuple(noise.shape), "noise", f"({d}, {d})", tuple(noise.shape) == (d, d))
    noise = _symmetric(noise, "noise")
    top_k = check_int(top_k, "top_k", low=1, high=d)
    _, evecs, labels = eigenspaces(curvature, rtol=rtol)
    inside = labels <= labels[top_k - 1]
    basis = evecs[:, inside]
    total = float(torch.trace(noise))
    share = float(torch.trace(basis.T @ noise @ basis)) / total if total > 0 else math.nan
    return share, int(inside.sum())


@dataclass(frozen=True)
class AlignmentTrace:
    """Measurements at K checkpoints of one SGD run, plus the spectra at the last one.

    Attributes
    ----------
    steps, loss, mu, sharpness, gn_frobenius : Tensor, shape (K,)
        Step, L, μ = Tr(Σ₁G)/(2L‖G‖_F²), λ_max(G) and ‖G‖_F.
    top_share : Tensor, shape (K,)
        Tr(P Σ₁)/Tr(Σ₁), P the top-``top_k`` eigenspace of G, ties included
        (:func:`top_eigenspace_share`).
    top_dim, rank : Tensor, shape (K,), int64
        dim P and r = rank(G).
    isotropic_share : Tensor, shape (K,)
        dim P / r: the share isotropic noise in the range of G would put in P.
    top_k : int
        The k asked for.
    curvature : Tensor, shape (m,)
        The distinct positive eigenvalues λ_j of G at ``spectra_step`` (largest first).
    noise_variance : Tensor, shape (m,)
        Tr(P_j Σ₁)/dim P_j: noise variance per direction in each eigenspace P_j.
    multiplicity : Tensor, shape (m,), int64
        dim P_j.
    isotropic_variance : float
        Tr(Σ₁)/r: the variance per direction if the noise were isotropic in the range of G.
    spectra_step : int
        The checkpoint of ``curvature`` and ``noise_variance`` (the last measured).
    lr : float
    batch_size : int
    model : str
    diverged : bool
        The loss became non-finite or exceeded ``divergence_factor`` × its initial value;
        training stopped there and the last checkpoint is the last finite one.
    diverged_step : int or None
    """

    steps: torch.Tensor
    loss: torch.Tensor
    mu: torch.Tensor
    sharpness: torch.Tensor
    gn_frobenius: torch.Tensor
    top_share: torch.Tensor
    top_k: int
    curvature: torch.Tensor
    noise_variance: torch.Tensor
    isotropic_variance: float
    lr: float
    batch_size: int
    model: str
    top_dim: torch.Tensor
    rank: torch.Tensor
    isotropic_share: torch.Tensor
    multiplicity: torch.Tensor
    spectra_step: int
    diverged: bool = False
    diverged_step: int | None = None


@dataclass(frozen=True)
class _Spectra:
    curvature: torch.Tensor
    noise_variance: torch.Tensor
    multiplicity: torch.Tensor
    isotropic_variance: float


def _measure(
    jac: torch.Tensor, residuals: torch.Tensor, top_k: int
) -> tuple[list[float], _Spectra]:
    """Row (loss, μ, λ_max, ‖G‖_F, top share, dim P, rank) and the grouped spectra."""
    n = jac.shape[0]
    grads = torch.einsum("nkd,nk->nd", jac, residuals)  # g_i = J_iᵀ r_i
    sigma = noise_covariance(grads)  # one-sample Σ₁
    gn = gauss_newton(jac)
    loss = 0.5 * float((residuals**2).sum()) / n
    fro2 = float((gn**2).sum())
    mu = float((sigma * gn).sum()) / (2 * loss * fro2)
    evals, evecs, labels = eigenspaces(gn)
    rank = int((evals > RANK_RTOL * evals[0].clamp_min(0)).sum())
    variance = torch.einsum("dj,de,ej->j", evecs, sigma, evecs)  # u_jᵀ Σ₁ u_j
    groups = int(labels[-1]) + 1
    sums = variance.new_zeros(groups).index_add_(0, labels, variance)
    sizes = torch.bincount(labels, minlength=groups)
    lam = evals.new_zeros(groups).index_add_(0, labels, evals) / sizes
    total = float(variance.sum())
    inside = labels <= labels[top_k - 1]
    share = float(variance[inside].sum()) / total if total > 0 else math.nan
    positive = lam > RANK_RTOL * float(evals[0].clamp_min(0))
    spectra = _Spectra(
        lam[positive], sums[positive] / sizes[positive], sizes[positive], total / max(rank, 1)
    )
    row = [loss, mu, float(evals[0]), math.sqrt(fro2), share, int(inside.sum()), rank]
    return row, spectra


def alignment_during_training(
    model: str = "random_features",
    *,
    lr: float = 0.5,
    batch_size: int = 4,
    steps: int = 400,
    every: int = 20,
    n: int | None = None,
    width: int | None = None,
    top_k: int = 5,
    divergence_factor: float = 100.0,
    seed: int = 0,
    device: str | torch.device | None = None,
) -> AlignmentTrace:
    """SGD (with replacement) on one model; noise-vs-curvature statistics every ``every`` steps.

    Uses float64 and explicit d × d matrices: meant for the small default models. A run
    whose loss becomes non-finite or exceeds ``divergence_factor`` × its initial loss
    stops there and is returned flagged (``diverged``), measured up to its last finite
    checkpoint.
    """
    model = check_choice(model, "model", MODELS)
    lr = check_scalar(lr, "lr", low=0.0, closed="neither")
    steps = check_int(steps, "steps", low=1, high=100_000)
    every = check_int(every, "every", low=1)
    divergence_factor = check_scalar(
        divergence_factor, "divergence_factor", low=1.0, closed="neither"
    )
    seed = check_int(seed, "seed", low=0, high=2**63 - 1)
    dev = get_device(device)
    fm = make_model(model, n=n, width=width, device=dev, dtype=torch.float64)
    batch_size = check_int(batch_size, "batch_size", low=1, high=fm.n)
    top_k = check_int(top_k, "top_k", low=1, high=fm.num_params)
    theta = fm.init([seed])[0]
    gen = make_generator(seed, dev)
    step_grad = torch.func.grad(square_loss, argnums=1)

    rows: list[list[float]] = []
    spectra: _Spectra | None = None
    loss0 = float(square_loss(fm.apply, theta, fm.x, fm.y))
    diverged_step: int | None = None if math.isfinite(loss0) else 0
    for t in range(steps + 1) if diverged_step is None else ():
        if t > 0:
            loss = float(square_loss(fm.apply, theta, fm.x, fm.y))
            if not loss <= divergence_factor * loss0:  # also catches NaN and inf
                diverged_step = t
                break
        if t % every == 0 or t == steps:
            jac = per_sample_jacobians(fm.apply, theta, fm.x)
            residuals = (fm.apply(theta, fm.x) - fm.y).reshape(jac.shape[:2])
            row, spectra = _measure(jac, residuals, top_k)
            rows.append([float(t), *row])
        if t == steps:
            break
        idx = torch.randint(0, fm.n, (batch_size,), generator=gen, device=dev)
        theta = theta - lr * step_grad(fm.apply, theta, fm.x[idx], fm.y[idx])
    table = torch.tensor(rows, dtype=torch.float64).reshape(-1, 8).T
    empty = torch.zeros(0, dtype=torch.float64)
    if spectra is None:  # non-finite before the first measurement
        spectra = _Spectra(empty, empty, empty.long(), math.nan)
    return AlignmentTrace(
        steps=table[0].long(), loss=table[1], mu=table[2], sharpness=table[3],
        gn_frobenius=table[4], top_share=table[5], top_k=top_k,
        curvature=spectra.curvature, noise_variance=spectra.noise_variance,
        isotropic_variance=spectra.isotropic_variance, lr=lr, batch_size=batch_size,
        model=model, top_dim=table[6].long(), rank=table[7].long(),
        isotropic_share=table[6] / table[7], multiplicity=spectra.multiplicity,
        spectra_step=int(table[0, -1]) if table.shape[1] else 0,
        diverged=diverged_step is not None, diverged_step=diverged_step,
    )  # fmt: skip
