"""Device choice, seeding, dtype and fast mode: read in one place.

``get_device()`` prefers cuda, then mps, then cpu; an argument wins over the
``ALIGNKIT_DEVICE`` environment variable, which wins over the automatic choice.
Fast mode (``ALIGNKIT_FAST=1``, used by tests and CI) shrinks problem sizes; it
never changes the code path.
"""

from __future__ import annotations

import os
import platform
import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np
import torch

from alignkit._checks import check_int

__all__ = [
    "get_device",
    "seed_everything",
    "make_generator",
    "describe",
    "fast_mode",
    "pick",
    "to_numpy",
    "torch_threads",
    "DEFAULT_DTYPE",
]

DEFAULT_DTYPE = torch.float32
_DEVICE_PATTERN = re.compile(r"^(cpu|mps|cuda)(:\d+)?$")
T = TypeVar("T")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def get_device(device: str | torch.device | None = None) -> torch.device:
    """Return the torch device to compute on.

    Parameters
    ----------
    device : str or torch.device, optional
        ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``. ``None`` (default) reads
        ``ALIGNKIT_DEVICE`` and otherwise picks cuda > mps > cpu.

    Raises
    ------
    ValueError
        If the name is not a device name, or names a device this machine lacks.
    """
    if isinstance(device, torch.device):
        name = str(device)
        source = "device"
    elif device is None:
        env = os.environ.get("ALIGNKIT_DEVICE", "").strip()
        if not env:
            if torch.cuda.is_available():
                return torch.device("cuda")
            if _mps_available():
                return torch.device("mps")
            return torch.device("cpu")
        name, source = env, "ALIGNKIT_DEVICE"
    elif isinstance(device, str):
        name, source = device.strip(), "device"
    else:
        raise TypeError(f"device must be a str, torch.device or None, got {type(device).__name__}")
    if not _DEVICE_PATTERN.match(name):
        raise ValueError(f"{source} must be one of 'cpu', 'cuda', 'cuda:N' or 'mps', got {name!r}")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(
                f"{source}={name!r} but CUDA is not available on this machine "
                "(use 'cpu', or install a CUDA build of torch: see `alignkit doctor`)"
            )
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise ValueError(
                f"{source}={name!r} but only {torch.cuda.device_count()} CUDA device(s) exist"
            )
    if name.startswith("mps"):
        if not _mps_available():
            raise ValueError(
                f"{source}={name!r} but MPS is not available on this machine (use 'cpu')"
            )
        if name not in ("mps", "mps:0"):
            raise ValueError(f"{source}={name!r} but there is one MPS device: 'mps' or 'mps:0'")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators (for notebooks only).

    Library functions never rely on this: they take ``seed=`` and build a local
    generator with :func:`make_generator`.
    """
    seed = check_int(seed, "seed", low=0, high=2**32 - 1)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_generator(
    seed: int | torch.Generator | None, device: torch.device | str | None = None
) -> torch.Generator:
    """Turn ``seed`` into a ``torch.Generator`` on ``device``.

    An int seeds a fresh generator, a generator is returned as is, ``None`` seeds
    from the operating system's entropy (not reproducible).
    """
    if isinstance(seed, torch.Generator):
        return seed
    if seed is not None:
        seed = check_int(seed, "seed", low=0, high=2**63 - 1)
    dev = get_device(device)
    gen = torch.Generator(device=dev)
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(seed)
    return gen


_FAST_ON, _FAST_OFF = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def fast_mode() -> bool:
    """True when ``ALIGNKIT_FAST`` is set to a true value (1, true, yes, on); unset, empty
    or 0, false, no, off: False; anything else is a ``ValueError`` (``ALIGNKIT_FAST=2`` was
    read as off, silently)."""
    value = os.environ.get("ALIGNKIT_FAST", "").strip().lower()
    if value not in _FAST_ON + _FAST_OFF:
        raise ValueError(
            f"ALIGNKIT_FAST must be one of {list(_FAST_ON)} (on) or {list(_FAST_OFF)} (off), "
            f"got {os.environ['ALIGNKIT_FAST']!r}"
        )
    return value in _FAST_ON


def pick(full: T, fast: T) -> T:
    """Return ``fast`` in fast mode and ``full`` otherwise (sizes only, never code paths)."""
    return fast if fast_mode() else full


def to_numpy(x: Any) -> np.ndarray:
    """Detach a tensor (any device) to a numpy array; the one plot-boundary helper."""
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu").numpy()
    out = np.asarray(x)
    if out.dtype == object:
        raise TypeError(f"x must be a tensor, array or numbers, got {type(x).__name__} {x!r}")
    return out


def describe(device: str | torch.device | None = None) -> dict[str, Any]:
    """Facts about the compute setup: torch version, device, GPU name and memory.

    Returns
    -------
    dict with keys ``torch``, ``python``, ``platform``, ``device``, ``cuda_available``,
    ``cuda_version``, ``gpu_name``, ``gpu_memory_gb``, ``mps_available``, ``fast_mode``,
    ``threads``.
    """
    dev = get_device(device)
    info: dict[str, Any] = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": str(dev),
        "cuda_available": torch.cuda.is_available(),
        "cuda_version": torch.version.cuda,
        "gpu_name": None,
        "gpu_memory_gb": None,
        "mps_available": _mps_available(),
        "fast_mode": fast_mode(),
        "threads": torch.get_num_threads(),
    }
    if dev.type == "cuda":
        props = torch.cuda.get_device_properties(dev)
        info["gpu_name"] = props.name
        info["gpu_memory_gb"] = round(props.total_memory / 2**30, 1)
    return info


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with ``threads`` torch CPU threads (restored after); ``None`` leaves
    torch's setting alone.

    Interactive and training loops here are many small-tensor steps: one thread is as fast on
    an idle machine and does not collapse on a busy one (a 2-thread pool on a busy 2-core
    machine made such work ~50x slower).
    """
    if threads is not None:
        threads = check_int(threads, "threads", low=1, high=1024)
    saved = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(saved)
