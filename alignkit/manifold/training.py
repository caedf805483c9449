"""Training the theme-3 models: conditional flow matching and denoising score matching.

Both fit a small SiLU MLP with Adam on a fixed data set drawn from a manifold; minibatches,
noise and times come from one seeded ``torch.Generator``. Sizes are small enough to train
in seconds on a CPU (2-D/3-D data, width 64, a few thousand steps).

A run whose loss or weights stop being finite (too large an ``lr``; ``lr`` itself must be in
(0, 1e30], as Adam keeps it in float32) is *flagged*, not an error: training stops at that
step, ``info["diverged"]`` is True and ``info["diverged_step"]`` the 1-based step (None for a
finished run), ``final_loss`` is NaN.
The model's users (:func:`~alignkit.manifold.fields.perturb`,
:func:`~alignkit.manifold.dynamics.generate`, ``lyapunov_analysis``, ``eps_sweep``) refuse
such a model with a ``ValueError`` naming ``model``: it has no samples to show.

References: Lipman et al., "Flow Matching for Generative Modeling" (ICLR 2023), eq. (23)
with σ_min = 0 (the linear path); Vincent, "A Connection Between Score Matching and
Denoising Autoencoders" (Neural Computation 2011); Song et al., "Score-Based Generative
Modeling through Stochastic Differential Equations" (ICLR 2021), the probability-flow ODE.
Taught in ``notebooks/05_generative_manifold_alignment.ipynb``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch

from alignkit._checks import check_int, check_scalar
from alignkit.device import make_generator
from alignkit.manifold._inputs import check_callable_progress, check_points
from alignkit.manifold.fields import (
    GenerativeModel,
    NoiseSchedule,
    Params,
    _mlp_apply,
    flow_model,
    init_mlp,
    score_model,
)

__all__ = ["train_flow_matching", "train_score_model"]

Loss = Callable[[Params, torch.Tensor, torch.Generator], torch.Tensor]
Progress = Callable[[int, int], None]


MAX_LR = 1e30  # Adam's learning rate: above float32's range (~3.4e38) it cannot step


def _fit(
    data: torch.Tensor, loss_fn: Loss, *, steps: int, width: int, depth: int, batch: int,
    lr: float, seed: int | torch.Generator | None, progress: Progress | None = None,
) -> tuple[Params, dict[str, object]]:  # fmt: skip
    check_points(data, "data", min_rows=2)
    steps = check_int(steps, "steps", low=1, high=1_000_000)
    width = check_int(width, "width", low=1, high=4096)
    depth = check_int(depth, "depth", low=1, high=64)
    batch = check_int(batch, "batch", low=1, high=1_000_000)
    lr = check_scalar(lr, "lr", low=0.0, high=MAX_LR, closed="right")  # Adam keeps lr in float32
    progress = check_callable_progress(progress)
    dim = data.shape[1]
    gen = make_generator(seed, data.device)
    sizes = [dim + 1] + [width] * depth + [dim]
    params = tuple(
        p.requires_grad_() for p in init_mlp(sizes, seed=gen, device=data.device, dtype=data.dtype)
    )
    opt = torch.optim.Adam(params, lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=lr * 0.05)
    losses = torch.full((steps,), float("nan"))
    diverged_step: int | None = None
    start = time.perf_counter()
    for k in range(steps):
        idx = torch.randint(data.shape[0], (batch,), generator=gen, device=data.device)
        loss = loss_fn(params, data[idx], gen)
        losses[k] = loss.detach()
        if not bool(torch.isfinite(losses[k])):  # diverged: stop, flag (the weights are gone)
            diverged_step = k + 1
            break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if progress is not None and (k + 1) % 50 == 0:
            progress(k + 1, steps)  # may raise to cancel (a live panel's newer value)
    if diverged_step is None and not all(bool(torch.isfinite(p).all()) for p in params):
        diverged_step = steps  # the last update left non-finite weights
    done = losses[: diverged_step or steps]
    info: dict[str, object] = {
        "steps": steps, "width": width, "depth": depth, "batch": batch, "lr": lr,
        "train_seconds": time.perf_counter() - start,
        "final_loss": float("nan") if diverged_step else float(done[-50:].mean()),
        "loss_history": losses, "diverged": diverged_step is not None,
        "diverged_step": diverged_step,
    }  # fmt: skip
    return tuple(p.detach() for p in params), info


def train_flow_matching(
    data: torch.Tensor,
    *,
    steps: int = 2000,
    width: int = 64,
    depth: int = 3,
    batch: int = 256,
    lr: float = 3e-3,
    seed: int | torch.Generator | None = 0,
    progress: Progress | None = None,
) -> GenerativeModel:
    """Conditional flow matching on the linear path, ``(M, D)`` data -> a ``"flow"`` model.

    Loss: E |v_θ(x_t, t) − (x₁ − x₀)|², x_t = (1 − t) x₀ + t x₁, x₀ ~ N(0, I), x₁ ~ data,
    t ~ U(0, 1). ``depth`` hidden layers of ``width`` units. Runs on ``data``'s device.
    ``progress(done, total)`` is called every 50 steps (it may raise to stop training).

    ``data`` must be a finite floating-point (M, D) tensor, M ≥ 2 (else a ``TypeError``
    or ``ValueError`` naming it). ``info``: ``steps``, ``width``, ``depth``, ``batch``,
    ``lr``, ``train_seconds``, ``final_loss`` (mean of the last 50 losses; NaN if diverged),
    ``loss_history`` (steps,) (NaN after a divergence), ``diverged`` (bool: the loss or the
    weights stopped being finite; training stopped there) and ``diverged_step`` (1-based
    step, or None). A diverged model is flagged, not raised: its users refuse it by name.
    """

    def loss(params: Params, x1: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        x0 = torch.randn(x1.shape, generator=gen, device=x1.device, dtype=x1.dtype)
        t = torch.rand((x1.shape[0], 1), generator=gen, device=x1.device, dtype=x1.dtype)
        xt = (1 - t) * x0 + t * x1
        pred = _mlp_apply(params, torch.cat([xt, t], dim=-1))
        return (pred - (x1 - x0)).square().sum(-1).mean()

    params, info = _fit(
        data,
        loss,
        steps=steps,
        width=width,
        depth=depth,
        batch=batch,
        lr=lr,
        seed=seed,
        progress=progress,
    )
    return flow_model(params, data.shape[1], info)


def train_score_model(
    data: torch.Tensor,
    *,
    steps: int = 2000,
    width: int = 64,
    depth: int = 3,
    batch: int = 256,
    lr: float = 3e-3,
    sigma_min: float = 0.01,
    sigma_max: float = 3.0,
    seed: int | torch.Generator | None = 0,
    progress: Progress | None = None,
) -> GenerativeModel:
    """Denoising score matching, ``(M, D)`` data -> a ``"score"`` model (probability-flow ODE).

    Loss: E |ε̂_θ(y + σ ε, log σ) − ε|², log σ ~ U(log σ_min, log σ_max); the score is
    s = −ε̂/σ. ``progress(done, total)``, ``data`` and ``info`` (``diverged``,
    ``diverged_step``: a run whose loss goes non-finite is flagged) as in
    :func:`train_flow_matching`.
    """
    sigma_min = check_scalar(sigma_min, "sigma_min", low=0.0, closed="neither")
    sigma_max = check_scalar(sigma_max, "sigma_max", low=sigma_min, closed="neither")
    lo, hi = math.log(sigma_min), math.log(sigma_max)

    def loss(params: Params, y: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        noise = torch.randn(y.shape, generator=gen, device=y.device, dtype=y.dtype)
        u = torch.rand((y.shape[0], 1), generator=gen, device=y.device, dtype=y.dtype)
        log_sigma = lo + (hi - lo) * u
        pred = _mlp_apply(params, torch.cat([y + log_sigma.exp() * noise, log_sigma], dim=-1))
        return (pred - noise).square().sum(-1).mean()

    params, info = _fit(
        data,
        loss,
        steps=steps,
        width=width,
        depth=depth,
        batch=batch,
        lr=lr,
        seed=seed,
        progress=progress,
    )
    return score_model(params, data.shape[1], NoiseSchedule(sigma_min, sigma_max), info)
