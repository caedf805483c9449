"""Time grids of the fixed-step solvers (:mod:`alignkit.numerics.ode`).

Equal steps in t, or equal steps in log(1 − t) for a field that grows like 1/(1 − t) near
t = 1 (the exact flow of a finite data set, :mod:`alignkit.manifold.fields`), where equal
steps in t resolve the end too coarsely.
"""

from __future__ import annotations

import math

import torch

from alignkit._checks import check_choice, check_float_dtype, check_int, check_scalar

__all__ = ["SPACINGS", "time_grid"]

#: Time grids: equal steps, or equal steps in log(1 − t) (for fields singular at t = 1).
SPACINGS = ("uniform", "log1m")


#: Most steps of a time grid (its times are one tensor of steps + 1 entries).
MAX_GRID_STEPS = 10**9


def time_grid(
    t0: float,
    t1: float,
    steps: int,
    *,
    dtype: torch.dtype,
    device: torch.device,
    spacing: str = "uniform",
) -> torch.Tensor:
    """The ``steps + 1`` times from ``t0`` to ``t1`` (validated): equally spaced, or with
    ``spacing="log1m"`` equally spaced in log(1 − t) (``t1 < 1``), for a field that scales
    like 1/(1 − t) near t = 1, where equal steps would resolve the end too coarsely."""
    from alignkit.device import get_device

    dtype = check_float_dtype(dtype)
    device = get_device(device)
    steps = check_int(steps, "steps", low=1, high=MAX_GRID_STEPS)
    spacing = check_choice(spacing, "spacing", SPACINGS)
    t0 = check_scalar(t0, "t0")
    if spacing == "uniform":
        t1 = check_scalar(t1, "t1", low=t0, closed="neither")
        return torch.linspace(t0, t1, steps + 1, dtype=dtype, device=device)
    t0 = check_scalar(t0, "t0", high=1.0, closed="left")
    t1 = check_scalar(t1, "t1", low=t0, high=1.0, closed="neither")
    logs = torch.linspace(math.log1p(-t0), math.log1p(-t1), steps + 1, dtype=torch.float64)
    grid = -torch.expm1(logs)
    grid[0], grid[-1] = t0, t1  # exact ends
    return grid.to(dtype=dtype, device=device)
