"""Counter-based minibatch sampling for batched SGD sweeps.

The minibatch of a setting at step t is a function of (seed, t) only, computed with a
32-bit integer hash in int64 tensor arithmetic: vectorised over settings, identical on
CPU and CUDA, and independent of which other settings share the batch. Used by
:func:`alignkit.stability.sweep.sgd_sweep` (notebook 02).
"""

from __future__ import annotations

import torch

from alignkit._checks import check_bool, check_int

__all__ = ["minibatch_indices", "draw_minibatches", "SEED_MAX"]

SEED_MAX = 0xFFFFFFFF  # seeds live in [0, 2**32)
_MULT = 0x45D9F3B  # odd, < 2**31: products of 32-bit values stay inside int64
_GOLDEN = 0x9E3779B1


def _hash32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer mix (int64 tensors holding values in [0, 2**32))."""
    x = ((x >> 16) ^ x) * _MULT & SEED_MAX
    x = ((x >> 16) ^ x) * _MULT & SEED_MAX
    return (x >> 16) ^ x


#: Largest n or B drawn from (a larger one only fails at allocation, as a raw error).
SIZE_MAX = 10_000_000


def _check_sampling(n: int, batch_size: int, replacement: bool) -> tuple[int, int, bool]:
    n = check_int(n, "n", low=1, high=SIZE_MAX)
    replacement = check_bool(replacement, "replacement")
    batch_size = check_int(batch_size, "batch_size", low=1, high=SIZE_MAX if replacement else n)
    return n, batch_size, replacement


def minibatch_indices(
    seeds: torch.Tensor, step: int, n: int, batch_size: int, *, replacement: bool = True
) -> torch.Tensor:
    """Minibatch indices of each setting at one step (counter-based, device-independent).

    Setting s with batch size B_s uses the first B_s columns: a uniform B_s-subset of
    ``range(n)`` (the head of a random permutation) without replacement, or B_s
    independent uniform draws with replacement.

    Parameters
    ----------
    seeds : Tensor of int64, shape (S,)
        Per-setting seeds in [0, 2**32).
    step : int
        Step counter t >= 0.
    n : int
        Number of samples.
    batch_size : int
        Number of columns returned (the largest B of the settings), in [1, n].
    replacement : bool, default=True

    Returns
    -------
    Tensor of int64, shape (S, batch_size)

    Raises
    ------
    TypeError, ValueError
        ``seeds`` not a 1-D integer tensor, ``n`` < 1, ``batch_size`` outside [1, n]
        without replacement (or < 1 with), ``step`` < 0, ``replacement`` not a bool.
        Seed values are not range-checked here (that would synchronise a GPU every
        step); :func:`~alignkit.stability.sweep.sgd_sweep` checks them once.
    """
    n, batch_size, replacement = _check_sampling(n, batch_size, replacement)
    step = check_int(step, "step", low=0, high=SEED_MAX)
    if not isinstance(seeds, torch.Tensor) or seeds.ndim != 1:
        raise TypeError(f"seeds must be a 1-D integer tensor (S,), got {seeds!r}")
    if seeds.is_floating_point() or seeds.is_complex() or seeds.dtype == torch.bool:
        raise TypeError(f"seeds must be an integer tensor, got {seeds.dtype}")
    steps = torch.full((1,), step, device=seeds.device, dtype=torch.int64)
    return _hashed_indices(seeds, steps, n, batch_size, replacement)[0]


def _hashed_indices(
    seeds: torch.Tensor, steps: torch.Tensor, n: int, batch_size: int, replacement: bool
) -> torch.Tensor:
    """The counter-based hash behind :func:`minibatch_indices`, vectorised over steps as well
    (no argument checks: callers check once). ``seeds`` (S,), ``steps`` (T,) int64 ->
    indices (T, S, batch_size)."""
    base = _hash32(_hash32(seeds.to(torch.int64) & SEED_MAX)[None, :] ^ (steps[:, None] & SEED_MAX))
    cols = n if not replacement else batch_size
    j = torch.arange(cols, device=seeds.device, dtype=torch.int64)
    keys = _hash32((base[..., None] + j * _GOLDEN) & SEED_MAX)  # (T, S, cols)
    if replacement:
        return (keys * n) >> 32
    return torch.argsort(keys, dim=-1)[..., :batch_size]


def draw_minibatches(
    shape: tuple[int, ...],
    n: int,
    batch_size: int,
    *,
    replacement: bool,
    generator: torch.Generator,
) -> torch.Tensor:
    """Random minibatch indices from ``generator``, shape ``(*shape, batch_size)``.

    With replacement: independent uniform draws from [0, n). Without: the first
    ``batch_size`` entries of a random permutation of range(n), for every index of ``shape``.
    """
    n, batch_size, replacement = _check_sampling(n, batch_size, replacement)
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__iter__"):
        raise TypeError(f"shape must be a tuple of integers >= 0, got {shape!r}")
    shape = tuple(check_int(s, "shape", low=0) for s in shape)
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    dev = generator.device
    if replacement:
        return torch.randint(0, n, (*shape, batch_size), generator=generator, device=dev)
    return torch.rand(*shape, n, generator=generator, device=dev).argsort(-1)[..., :batch_size]
