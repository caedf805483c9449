"""The descent shared by the Gaussian fits: Adam on log D for a batch of independent
settings, run with one CPU thread (:func:`descend`, :func:`one_cpu_thread`; the toy LM's
f-DPG uses the thread guard too). Re-exported by :mod:`alignkit.divergences.fit`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

from alignkit.device import torch_threads

__all__ = ["descend", "one_cpu_thread"]

Tensor = torch.Tensor


@contextmanager
def one_cpu_thread(device: torch.device) -> Iterator[None]:
    """Run the block with one torch CPU thread (restored after) when ``device`` is the CPU.

    The training loops here are thousands of small-tensor steps: one thread is as fast on an
    idle machine and does not collapse on a busy one (as ``alignkit.live`` measured for
    panels). Does nothing on a GPU.
    """
    with torch_threads(1 if device.type == "cpu" else None):
        yield


def descend(
    value: Callable[[], Tensor],
    params: list[Tensor],
    record: Callable[[int], None],
    *,
    steps: int,
    lr: float,
) -> tuple[Tensor, Tensor]:
    """Adam on log D for a batch of independent settings; returns (values (..., T+1), frozen).

    ``value()`` returns the objective per setting (any shape); settings whose objective
    stops being finite are frozen (their gradient is zeroed) and reported. Descending
    log D instead of D has the same minimisers and keeps the χ²-type objectives, which
    span hundreds of decades, from swamping Adam's moment estimates.
    """
    with one_cpu_thread(params[0].device):
        return _descend(value, params, record, steps=steps, lr=lr)


def _descend(
    value: Callable[[], Tensor],
    params: list[Tensor],
    record: Callable[[int], None],
    *,
    steps: int,
    lr: float,
) -> tuple[Tensor, Tensor]:
    opt = torch.optim.Adam(params, lr=lr, betas=(0.9, 0.9))
    history: list[Tensor] = []
    frozen: Tensor | None = None
    for t in range(steps + 1):
        val = value()
        with torch.no_grad():
            record(t)
            history.append(val.detach())
            bad = ~torch.isfinite(val)
            frozen = bad if frozen is None else frozen | bad
        if t == steps:
            break
        opt.zero_grad(set_to_none=False)
        torch.log(torch.where(frozen, 1.0, val).clamp_min(1e-300)).sum().backward()
        with torch.no_grad():
            for p in params:
                assert p.grad is not None
                keep = frozen.reshape(frozen.shape + (1,) * (p.ndim - frozen.ndim))
                p.grad.masked_fill_(keep | ~torch.isfinite(p.grad), 0.0)
        for group in opt.param_groups:  # cosine decay to 1% of lr
            group["lr"] = lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t / steps)))
        opt.step()
    assert frozen is not None
    return torch.stack(history, -1), frozen
