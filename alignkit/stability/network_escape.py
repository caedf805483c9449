"""A network leaves a point found by gradient descent when SGD takes over (notebook 02).

Full-batch GD trains a functional model (``alignkit.stability.models``) to a low-loss
point whose sharpness sits near GD's limit 2/η; then, at the same learning rate, SGD with
a small batch continues from there. At the switch the run records the *Gauss–Newton*
linear-stability thresholds: 2/λ_max(G) for GD and η*(B) for SGD (with replacement),
from the per-sample Gauss–Newton matrices G_i = J_iᵀJ_i. These equal the Hessian-based
thresholds of notebook 01 only at a global minimum (zero residuals); away from one they
are the thresholds of the linearised (Gauss–Newton) model at that point, and the run
also records the switch loss and the true Hessian's top eigenvalue there, so the gap can
be seen.

References: Wu, Ma & E, "How SGD selects the global minima in over-parameterized
learning: a dynamical stability perspective", NeurIPS 2018; Mulayoff & Michaeli, COLT
2024 (the exact mean-square threshold η* = 1/λ_max(C⁻¹D)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from alignkit._checks import (
    check_bool,
    check_choice,
    check_float_tensor,
    check_int,
    check_scalar,
    check_shape,
)
from alignkit.device import get_device, make_generator
from alignkit.numerics.lanczos import operator_top_eigenvalues
from alignkit.stability.models import MODELS, FunctionalModel, make_model
from alignkit.stability.noise import noise_alignment, per_sample_jacobians, square_loss
from alignkit.stability.theory import sampling_factor

__all__ = ["NetworkEscape", "gd_then_sgd", "gauss_newton_threshold"]


@dataclass(frozen=True)
class NetworkEscape:
    """One GD → SGD run.

    Attributes
    ----------
    loss : Tensor, shape (T,)
        Training loss at every step, T = gd_steps + sgd_steps + 1 (shorter if diverged).
    checkpoints : Tensor, shape (K,)
        Steps where the curvature was measured.
    sharpness, frobenius, mu : Tensor, shape (K,)
        λ_max(G), ‖G‖_F and μ of the Gauss–Newton matrix G = (1/n) Σ J_iᵀJ_i at each
        checkpoint (G = H only at a global minimum).
    switch : int
        The step where SGD takes over.
    lr : float
    batch_size : int
    switch_loss : float
        L at the switch (the GN thresholds below are measured there; nan if diverged first).
    gd_threshold : float
        2/λ_max(G) at the switch: the GD threshold of the Gauss–Newton linearisation.
    sgd_threshold : float
        η*(B) of SGD with replacement from the per-sample G_i at the switch
        (:func:`gauss_newton_threshold`).
    threshold_converged : bool
        The Lanczos solve behind ``sgd_threshold`` met its tolerance.
    hessian_sharpness : float
        λ_max of the true Hessian of L at the switch (Lanczos on Hessian-vector products),
        to compare with the Gauss–Newton ``sharpness`` there.
    end_gd_threshold, end_sgd_threshold : float
        The same two Gauss–Newton thresholds at the last step (nan if diverged).
    diverged : bool
        The loss became non-finite or exceeded ``divergence_factor`` × its initial value;
        the run stopped there (``loss`` ends at that step).
    diverged_step : int or None
        The step where it did, None if it did not.
    """

    loss: torch.Tensor
    checkpoints: torch.Tensor
    sharpness: torch.Tensor
    frobenius: torch.Tensor
    mu: torch.Tensor
    switch: int
    lr: float
    batch_size: int
    switch_loss: float = math.nan
    gd_threshold: float = math.nan
    sgd_threshold: float = math.nan
    threshold_converged: bool = False
    hessian_sharpness: float = math.nan
    end_gd_threshold: float = math.nan
    end_sgd_threshold: float = math.nan
    diverged: bool = False
    diverged_step: int | None = None


def gauss_newton_threshold(
    jacobians: torch.Tensor,
    batch_size: int,
    *,
    replacement: bool = True,
    rtol: float = 1e-9,
    tol: float = 1e-8,
    iters: int = 100,
) -> tuple[float, bool]:
    """η*(B) = 1/λ_max(C⁻¹D) for the per-sample Gauss–Newton matrices H_i = J_iᵀJ_i.

    The same threshold as :func:`alignkit.stability.theory.linear_stability_threshold`
    on H_i = J_iᵀJ_i, restricted to the range of H = (1/n) Σ H_i, but never forming a
    d × d matrix: the range is found from the nk × nk Gram matrix K = JJᵀ/n = UΛUᵀ, in
    whose eigenbasis H_i = A_iᵀA_i with A = √n UΛ^{1/2} (n, k, r), and λ_max of the
    symmetric C^{-1/2} D C^{-1/2} on r × r matrices comes from Lanczos. Cost per product
    ~4 n k r²; memory ~``iters`` r².

    Parameters
    ----------
    jacobians : Tensor, shape (n, k, d)
        Per-sample output Jacobians J_i
        (e.g. :func:`alignkit.stability.noise.per_sample_jacobians`).
    batch_size : int
        B ≥ 1 (B ≤ n without replacement).
    replacement : bool, default=True
    rtol : float, default=1e-9
        Eigenvalues of K below ``rtol`` × the largest count as zero (outside the range).
    tol : float, default=1e-8
        Lanczos residual tolerance (relative).
    iters : int, default=100
        Most Lanczos steps.

    Returns
    -------
    (float, bool)
        η*(B) (``inf`` if every J_i is zero) and whether Lanczos converged.
    """
    check_float_tensor(jacobians, "jacobians")
    ok = jacobians.ndim == 3 and min(jacobians.shape) >= 1
    check_shape(tuple(jacobians.shape), "jacobians", "(n, k, d), all >= 1", ok)
    replacement = check_bool(replacement, "replacement")
    rtol = check_scalar(rtol, "rtol", low=0.0, high=1.0, closed="neither")
    tol = check_scalar(tol, "tol", low=0.0, closed="neither")
    iters = check_int(iters, "iters", low=1)
    jac = jacobians.to(torch.float64)
    if not bool(torch.isfinite(jac).all()):
        raise ValueError("jacobians must be finite (got NaN or inf entries)")
    n, k, _ = jac.shape
    p = sampling_factor(n, batch_size, replacement=replacement)
    flat = jac.reshape(n * k, -1)
    lam, u = torch.linalg.eigh(flat @ flat.T / n)
    keep = lam > rtol * max(float(lam[-1]), 0.0)
    if not bool(keep.any()):
        return math.inf, True
    lam, u = lam[keep], u[:, keep]
    r = lam.numel()
    a = (math.sqrt(n) * u * lam.sqrt()).reshape(n, k, r)  # A_i = J_i V, V the range basis
    a_flat = a.reshape(n * k, r)
    w = (lam[:, None] + lam[None, :]).rsqrt()  # C^{-1/2}, entrywise on r × r matrices

    def matvec(vec: torch.Tensor) -> torch.Tensor:
        x = vec.reshape(r, r) * w
        full = lam[:, None] * x * lam[None, :]
        ax = a_flat @ x  # (nk, r): A_i X
        small = torch.einsum("nkr,nlr->nkl", ax.reshape(n, k, r), a)  # A_i X A_iᵀ
        back = torch.einsum("nkl,nlr->nkr", small, a).reshape(n * k, r)
        each = a_flat.T @ back / n  # (1/n) Σ A_iᵀ (A_i X A_iᵀ) A_i
        return (w * ((1 - p) * full + p * each)).reshape(-1)

    res = operator_top_eigenvalues(
        matvec, r * r, k=1, iters=min(iters, r * r), tol=tol, seed=0,
        dtype=torch.float64, device=jac.device,
    )  # fmt: skip
    return 1.0 / float(res.values[0]), bool(res.converged)


def _hessian_sharpness(fm: FunctionalModel, theta: torch.Tensor) -> float:
    """λ_max of the true Hessian of the training loss at θ, by Lanczos on jvp(grad(L))."""
    apply, x, y = fm.apply, fm.x, fm.y

    def loss(th: torch.Tensor) -> torch.Tensor:
        return square_loss(apply, th, x, y)

    grad_fn = torch.func.grad(loss)

    def hvp(v: torch.Tensor) -> torch.Tensor:
        return torch.func.jvp(grad_fn, (theta,), (v,))[1]

    res = operator_top_eigenvalues(
        hvp, theta.numel(), k=1, iters=100, tol=1e-8, seed=0, dtype=theta.dtype,
        device=theta.device,
    )  # fmt: skip
    return float(res.values[0])


def gd_then_sgd(
    model: str = "mlp",
    *,
    lr: float = 0.5,
    batch_size: int = 4,
    gd_steps: int = 1000,
    sgd_steps: int = 1000,
    every: int = 50,
    n: int | None = None,
    width: int | None = None,
    divergence_factor: float = 100.0,
    seed: int = 0,
    device: str | torch.device | None = None,
) -> NetworkEscape:
    """GD for ``gd_steps``, then SGD (with replacement, batch ``batch_size``) at the same lr.

    A diverged run (loss non-finite or above ``divergence_factor`` × the initial loss) is
    returned flagged (``diverged``, ``diverged_step``) with what was measured up to then.
    At the switch, :func:`gauss_newton_threshold` gives SGD's η*(B) and 2/λ_max(G) GD's
    threshold, both for the Gauss–Newton linearisation at that (not necessarily minimal)
    point; see :class:`NetworkEscape`.
    """
    model = check_choice(model, "model", MODELS)
    lr = check_scalar(lr, "lr", low=0.0, closed="neither")
    gd_steps = check_int(gd_steps, "gd_steps", low=1, high=1_000_000)
    sgd_steps = check_int(sgd_steps, "sgd_steps", low=1, high=1_000_000)
    every = check_int(every, "every", low=1)
    divergence_factor = check_scalar(
        divergence_factor, "divergence_factor", low=1.0, closed="neither"
    )
    seed = check_int(seed, "seed", low=0, high=2**63 - 1)
    dev = get_device(device)
    fm = make_model(model, n=n, width=width, device=dev, dtype=torch.float64)
    batch_size = check_int(batch_size, "batch_size", low=1, high=fm.n)
    theta = fm.init([seed])[0]
    gen = make_generator(seed, dev)

    step_grad = torch.func.grad(square_loss, argnums=1)
    losses: list[float] = []
    rows: list[list[float]] = []
    at_switch: dict[str, float | bool] = {}
    diverged_step: int | None = None
    total = gd_steps + sgd_steps
    for t in range(total + 1):
        losses.append(float(square_loss(fm.apply, theta, fm.x, fm.y)))
        if not losses[-1] <= divergence_factor * losses[0]:  # also catches NaN and inf
            diverged_step = t
            break
        if t % every == 0 or t in (gd_steps, total):
            jac = per_sample_jacobians(fm.apply, theta, fm.x)
            stats = noise_alignment(jac, fm.apply(theta, fm.x) - fm.y)
            rows.append([t, float(stats.sharpness), float(stats.gn_frobenius), float(stats.mu)])
            if t == gd_steps:
                eta_sgd, ok = gauss_newton_threshold(jac, batch_size, replacement=True)
                at_switch |= {
                    "switch_loss": losses[-1],
                    "gd_threshold": 2.0 / float(stats.sharpness),
                    "sgd_threshold": eta_sgd,
                    "threshold_converged": ok,
                    "hessian_sharpness": _hessian_sharpness(fm, theta),
                }
            if t == total:
                eta_sgd, ok = gauss_newton_threshold(jac, batch_size, replacement=True)
                at_switch |= {
                    "end_gd_threshold": 2.0 / float(stats.sharpness),
                    "end_sgd_threshold": eta_sgd,
                    "threshold_converged": ok and bool(at_switch["threshold_converged"]),
                }
        if t == total:
            break
        if t < gd_steps:
            theta = theta - lr * step_grad(fm.apply, theta, fm.x, fm.y)
        else:
            idx = torch.randint(0, fm.n, (batch_size,), generator=gen, device=dev)
            theta = theta - lr * step_grad(fm.apply, theta, fm.x[idx], fm.y[idx])
    table = torch.tensor(rows, dtype=torch.float64).reshape(-1, 4).T
    return NetworkEscape(
        torch.tensor(losses, dtype=torch.float64), table[0].long(), table[1], table[2],
        table[3], gd_steps, lr, batch_size, **at_switch,  # type: ignore[arg-type]
        diverged=diverged_step is not None, diverged_step=diverged_step,
    )  # fmt: skip
