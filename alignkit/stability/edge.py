"""Gradient descent at the edge of stability: sharpness over training (notebook 01).

Full-batch GD on a small tanh MLP (digits, square loss). Cohen et al. (ICLR 2021)
observed that the sharpness λ_max(H) first rises (progressive sharpening) and then
hovers around 2/η instead of exceeding it, while the loss keeps decreasing, non-monotonically.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from alignkit._checks import check_int, check_scalar
from alignkit.device import get_device
from alignkit.numerics.hessian import top_eigenvalues
from alignkit.stability.models import load_digits_subset

__all__ = ["EdgeRun", "gd_sharpness_trajectory"]


@dataclass(frozen=True)
class EdgeRun:
    """Loss at every step ``(steps + 1,)``; sharpness at ``checkpoints`` ``(K,)``; the lr."""

    loss: torch.Tensor
    checkpoints: torch.Tensor
    sharpness: torch.Tensor
    lr: float
    diverged: bool


def gd_sharpness_trajectory(
    lr: float,
    *,
    steps: int = 600,
    every: int = 20,
    width: int = 32,
    n: int = 256,
    seed: int = 0,
    device: str | torch.device | None = None,
) -> EdgeRun:
    """Train a 64-``width``-10 tanh MLP with full-batch GD; record loss and sharpness.

    Loss ½‖f(x_i) − y_i‖² averaged over ``n`` digits (one-hot y); the sharpness is the
    top Hessian eigenvalue by Lanczos (matrix-free, every ``every`` steps).
    """
    lr = check_scalar(lr, "lr", low=0.0, closed="neither")
    steps = check_int(steps, "steps", low=1, high=100_000)
    every = check_int(every, "every", low=1)
    width = check_int(width, "width", low=1, high=4096)
    dev = get_device(device)
    x, y = load_digits_subset(n, seed=seed, device=dev)
    torch.manual_seed(seed)  # nn.Linear's initialiser reads the global generator
    model = torch.nn.Sequential(
        torch.nn.Linear(64, width), torch.nn.Tanh(), torch.nn.Linear(width, 10)
    ).to(dev)
    losses, marks, sharp = [], [], []
    diverged = False
    for t in range(steps + 1):
        loss = 0.5 * ((model(x) - y) ** 2).sum(1).mean()
        losses.append(loss.item())
        if not losses[-1] < 1e6:  # also catches NaN
            diverged = True
            break
        if t % every == 0 or t == steps:
            top = top_eigenvalues(model, x, y, loss="mse", iters=30, tol=1e-3, seed=t)
            marks.append(t)
            sharp.append(float(top.values[0]))
        if t == steps:
            break
        model.zero_grad()
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                if p.grad is not None:
                    p.sub_(lr * p.grad)
    return EdgeRun(torch.tensor(losses), torch.tensor(marks), torch.tensor(sharp), lr, diverged)
