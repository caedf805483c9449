"""Linearised SGD near a minimum, many seeds and learning rates at once.

x_{t+1} = (I − η H_ξ) x_t with H_ξ the mean of per-sample Hessians over a random
minibatch. Its second moment follows Q(η, B) exactly (see ``theory``), so the mean of
‖x_t‖² over seeds grows iff η > η*, while a typical (median) run can still shrink near
the threshold: mean-square and almost-sure stability differ.

Taught in ``notebooks/01_sgd_stability.ipynb``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from alignkit._checks import check_bool, check_int, check_values
from alignkit.device import get_device, make_generator
from alignkit.stability.minibatch import draw_minibatches
from alignkit.stability.theory import _as_hessians, _reduce

__all__ = ["LinearSGDRun", "simulate_linear_sgd"]

_BLOW_UP = 1e12  # squared distance (relative to the start) at which a run is frozen


@dataclass(frozen=True)
class LinearSGDRun:
    """Result of :func:`simulate_linear_sgd`.

    Attributes
    ----------
    sq_dist : Tensor, shape (G, S, steps + 1)
        ‖P x_t‖² / ‖P x_0‖², P the projector on the range of H (the valley directions
        never move), for G learning rates and S seeds.
    diverged : Tensor of bool, shape (G, S)
        Runs frozen after growing by 1e12.
    lrs : Tensor, shape (G,)
    batch_size : int
    """

    sq_dist: torch.Tensor
    diverged: torch.Tensor
    lrs: torch.Tensor
    batch_size: int

    @property
    def mean(self) -> torch.Tensor:
        """Mean over seeds of the squared distance, shape (G, steps + 1)."""
        return self.sq_dist.mean(1)

    @property
    def median(self) -> torch.Tensor:
        """Median over seeds, shape (G, steps + 1)."""
        return self.sq_dist.median(1).values


def simulate_linear_sgd(
    per_sample_hessians: torch.Tensor,
    lr: float | torch.Tensor,
    batch_size: int,
    *,
    steps: int = 200,
    seeds: int = 256,
    replacement: bool = False,
    seed: int | torch.Generator | None = 0,
    device: str | torch.device | None = None,
) -> LinearSGDRun:
    """Simulate linearised SGD from random starts for G learning rates × S seeds at once.

    Parameters
    ----------
    per_sample_hessians : Tensor, shape (n, d, d)
    lr : float or Tensor, shape (G,)
    batch_size : int
        B in [1, n] (any B ≥ 1 with replacement).
    steps, seeds : int
        Number of SGD steps and of independent runs per learning rate.
    replacement : bool, default=False
    seed : int or Generator, default=0
        Seeds the starting points and the minibatch draws.

    Returns
    -------
    LinearSGDRun
        ``(n, d, d), (G,) -> (G, S, steps + 1)``.
    """
    h = _as_hessians(per_sample_hessians)
    n = h.shape[0]
    replacement = check_bool(replacement, "replacement")
    batch_size = check_int(batch_size, "batch_size", low=1, high=None if replacement else n)
    steps = check_int(steps, "steps", low=1, high=100_000)
    seeds = check_int(seeds, "seeds", low=1, high=10_000_000)
    lrs = check_values(lr, "lr", low=0.0, closed="neither").reshape(-1)
    dev = get_device(device)
    hr, _ = _reduce(h)  # work on the range of H: the valley never moves
    if hr.shape[1] == 0:
        raise ValueError(
            "per_sample_hessians must have a curved direction (every H_i is 0: SGD does not move)"
        )
    hr, lrs = hr.to(dev), lrs.to(dev)
    g, r = lrs.numel(), hr.shape[1]
    gen = make_generator(seed, dev)
    x = torch.randn(g, seeds, r, generator=gen, device=dev, dtype=torch.float64)
    x = x / x.norm(dim=-1, keepdim=True).clamp_min(1e-300)
    # All minibatches at once (one draw, not one per step): (steps, G, S, B).
    idx = draw_minibatches((steps, g, seeds), n, batch_size, replacement=replacement, generator=gen)
    # How often each sample is in each minibatch, (steps, G, S, n): the minibatch sum of
    # H_i x is then one matrix product for all i and a weighted sum (no gather per step).
    counts = torch.zeros(steps, g, seeds, n, device=dev, dtype=torch.float64)
    counts.scatter_add_(-1, idx, torch.ones_like(idx, dtype=torch.float64))
    h_rows = hr.reshape(n * r, r).T  # x @ h_rows = every H_i x, (..., n r)
    rate = lrs[:, None, None] / batch_size
    out = torch.empty(steps + 1, g, seeds, device=dev, dtype=torch.float64)
    out[0] = 1.0
    for t in range(steps):
        hx = (x @ h_rows).view(g, seeds, n, r)
        x = x - rate * (counts[t][..., None] * hx).sum(2)
        out[t + 1] = (x * x).sum(-1)
    # Freeze each run at its first step beyond _BLOW_UP (or NaN): later steps repeat it.
    blown = ~(out <= _BLOW_UP)
    diverged = blown.any(0)
    first = blown.to(torch.uint8).argmax(0)  # (G, S): first blown step (0 if none)
    later = torch.arange(steps + 1, device=dev)[:, None, None] > first
    out = torch.where(later & diverged, out.gather(0, first[None]), out)
    return LinearSGDRun(out.permute(1, 2, 0), diverged, lrs, batch_size)
