"""Gradient descent at the edge of stability: sharpness over training (notebook 01).

Full-batch GD on a small tanh MLP (digits, square loss). Cohen et al. (ICLR 2021)
observed that the sharpness λ_max(H) first rises (progressive sharpening) and then
hovers around 2/η instead of exceeding it, while the loss keeps decreasing, non-monotonically.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from alignkit._checks import check_int, check_scalar
from alignkit.device import get_device, make_generator
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

    def first_at_edge(self, fraction: float = 0.9) -> int | None:
        """First checkpoint step with sharpness ≥ ``fraction`` · 2/η, or None if never."""
        fraction = check_scalar(fraction, "fraction", low=0.0, closed="neither")
        hits = (self.sharpness >= fraction * 2.0 / self.lr).nonzero()
        return int(self.checkpoints[hits[0, 0]]) if hits.numel() else None

    def mean_after_edge(self, fraction: float = 0.9) -> float:
        """Mean sharpness from :meth:`first_at_edge` on, as a fraction of 2/η (nan if never)."""
        first = self.first_at_edge(fraction)
        if first is None:
            return math.nan
        return float(self.sharpness[self.checkpoints >= first].mean()) * self.lr / 2.0


def _tanh_mlp(width: int, seed: int, device: torch.device) -> torch.nn.Module:
    """64-``width``-10 tanh MLP with nn.Linear's default law U(±1/√fan_in), drawn from a
    local generator seeded by ``seed`` (torch's global generator is neither read nor reseeded).
    """
    gen = make_generator(seed, "cpu")
    with torch.device("meta"):
        first, second = torch.nn.Linear(64, width), torch.nn.Linear(width, 10)
    model = torch.nn.Sequential(first, torch.nn.Tanh(), second).to_empty(device="cpu")
    with torch.no_grad():
        for layer in (model[0], model[2]):
            assert isinstance(layer, torch.nn.Linear)
            bound = 1.0 / layer.in_features**0.5
            for param in (layer.weight, layer.bias):
                torch.nn.init.uniform_(param, -bound, bound, generator=gen)
    return model.to(device)


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
    model = _tanh_mlp(width, seed, dev)
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
