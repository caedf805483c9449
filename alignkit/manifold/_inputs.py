"""Argument checks shared by the theme-3 modules (point sets, progress callbacks).

Messages follow :mod:`alignkit._checks`: the argument's name, what is valid, what was given.
"""

from __future__ import annotations

from typing import Any

import torch

from alignkit._checks import FLOAT_DTYPES, check_has_data, check_shape

__all__ = ["check_points", "check_callable_progress", "check_panel_progress"]


def check_points(
    x: Any, name: str, *, dim: int | None = None, min_rows: int = 0, finite: bool = True
) -> torch.Tensor:
    """Return ``x`` if it is a floating-point (N, D) tensor with values, else raise.

    ``dim``: the required D (any D ≥ 1 when None); ``min_rows``: the least N; ``finite``:
    refuse NaN/inf entries (the message counts the rows that have one).
    """
    d = "D" if dim is None else str(dim)
    if not isinstance(x, torch.Tensor) or x.dtype not in FLOAT_DTYPES:
        got = x.dtype if isinstance(x, torch.Tensor) else type(x).__name__
        raise TypeError(
            f"{name} must be a floating-point tensor (torch.float32 or torch.float64) of "
            f"shape (N, {d}), got {got}"
        )
    check_has_data(x, name)
    expected = f"(N, {d})" + (f", N >= {min_rows}" if min_rows > 0 else "")
    ok = x.ndim == 2 and x.shape[0] >= min_rows and x.shape[1] >= 1
    check_shape(tuple(x.shape), name, expected, ok and (dim is None or x.shape[1] == dim))
    if finite and x.numel():
        bad = ~torch.isfinite(x).all(dim=1)
        if bool(bad.any()):
            first = int(bad.nonzero()[0, 0])
            raise ValueError(
                f"{name} must be finite, got NaN or inf entries in {int(bad.sum())} of "
                f"{x.shape[0]} rows (first: row {first}, {x[first].tolist()!r:.80})"
            )
    return x


def check_callable_progress(progress: Any) -> Any:
    """``progress`` is None or a callable ``progress(done, total)`` (a training callback)."""
    if progress is not None and not callable(progress):
        raise TypeError(
            "progress must be None or a callable progress(done, total), "
            f"got {type(progress).__name__} {progress!r:.80}"
        )
    return progress


def check_panel_progress(progress: Any) -> Any:
    """``progress`` is None or has a callable ``update(done, total, description)``."""
    if progress is not None and not callable(getattr(progress, "update", None)):
        raise TypeError(
            "progress must be None or an object with an update(done, total, description) "
            f"method (a live panel's Progress), got {type(progress).__name__} {progress!r:.80}"
        )
    return progress
