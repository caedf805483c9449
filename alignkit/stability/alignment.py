"""SGD noise alignment along one training run (notebook 02).

Trains one functional model (``alignkit.stability.models``) with SGD and, every few
steps, measures how the one-sample noise covariance Σ₁ lines up with the Gauss–Newton
matrix G (= H at a global minimum): the alignment factor μ = Tr(Σ₁G) / (2L‖G‖_F²), the
share of the noise's variance that lies in the top-k curvature directions of G (k/d for
isotropic noise), and, at the end, the noise variance u_kᵀΣ₁u_k along each eigenvector
u_k of G against its curvature λ_k.

Reference: Wu, Wang & Su, NeurIPS 2022 (the alignment property of SGD noise).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from alignkit._checks import check_choice, check_int, check_scalar
from alignkit.device import get_device, make_generator
from alignkit.stability.models import MODELS, make_model
from alignkit.stability.noise import (
    gauss_newton,
    noise_alignment,
    noise_covariance,
    per_sample_gradients,
    per_sample_jacobians,
    square_loss,
)

__all__ = ["AlignmentTrace", "alignment_during_training"]


@dataclass(frozen=True)
class AlignmentTrace:
    """Measurements at K checkpoints of one SGD run, plus the final spectra.

    Attributes
    ----------
    steps, loss, mu, sharpness, gn_frobenius, top_share : Tensor, shape (K,)
        ``top_share`` = Tr(P_k Σ₁) / Tr(Σ₁), P_k the projector on the top ``top_k``
        eigenvectors of G: the share of the noise in the sharpest directions.
    top_k : int
        Number of directions in ``top_share`` (``isotropic share`` = top_k / d).
    curvature : Tensor, shape (m,)
        Eigenvalues λ_k of G at the last checkpoint (largest first, λ_k > 0).
    noise_variance : Tensor, shape (m,)
        u_kᵀ Σ₁ u_k along the matching eigenvectors.
    isotropic_variance : float
        Tr(Σ₁)/d: the variance along every direction if the noise were isotropic.
    lr : float
    batch_size : int
    model : str
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
    seed: int = 0,
    device: str | torch.device | None = None,
) -> AlignmentTrace:
    """SGD (with replacement) on one model; noise-vs-curvature statistics every ``every`` steps.

    Uses float64 and explicit d × d matrices: meant for the small default models.
    """
    model = check_choice(model, "model", MODELS)
    lr = check_scalar(lr, "lr", low=0.0, closed="neither")
    steps = check_int(steps, "steps", low=1, high=100_000)
    every = check_int(every, "every", low=1)
    dev = get_device(device)
    fm = make_model(model, n=n, width=width, device=dev, dtype=torch.float64)
    batch_size = check_int(batch_size, "batch_size", low=1, high=fm.n)
    top_k = check_int(top_k, "top_k", low=1, high=fm.num_params)
    theta = fm.init([seed])[0]
    gen = make_generator(seed, dev)

    rows: list[list[float]] = []
    for t in range(steps + 1):
        if t % every == 0 or t == steps:
            jac = per_sample_jacobians(fm.apply, theta, fm.x)
            stats = noise_alignment(jac, fm.apply(theta, fm.x) - fm.y)
            grads = per_sample_gradients(fm.apply, theta, fm.x, fm.y)
            sigma = noise_covariance(grads)  # one-sample Σ₁
            gn = gauss_newton(jac)
            top = torch.linalg.eigh(gn).eigenvectors[:, -top_k:]  # (d, k)
            share = torch.trace(top.T @ sigma @ top) / torch.trace(sigma)
            rows.append([t, float(stats.loss), float(stats.mu), float(stats.sharpness),
                         float(stats.gn_frobenius), float(share)])  # fmt: skip
            if not rows[-1][1] < 1e6:  # diverged: stop measuring (NaN-safe)
                break
        if t == steps:
            break
        idx = torch.randint(0, fm.n, (batch_size,), generator=gen, device=dev)
        g = torch.func.grad(square_loss, argnums=1)(fm.apply, theta, fm.x[idx], fm.y[idx])
        theta = theta - lr * g
    evals, evecs = torch.linalg.eigh(gn)
    keep = evals > 1e-10 * evals[-1].clamp_min(1e-300)
    evals, evecs = evals[keep].flip(0), evecs[:, keep].flip(1)
    variance = torch.einsum("dk,de,ek->k", evecs, sigma, evecs)
    table = torch.tensor(rows, dtype=torch.float64).T
    return AlignmentTrace(
        table[0], table[1], table[2], table[3], table[4], table[5], top_k, evals, variance,
        float(torch.trace(sigma)) / sigma.shape[0], lr, batch_size, model,
    )  # fmt: skip
