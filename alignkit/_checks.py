"""Argument checks used at every public boundary (one place, one message style).

Out-of-range values raise ``ValueError`` and wrong types raise ``TypeError``; the
message names the argument, the accepted range or choices and the value received.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from numbers import Integral, Real
from typing import Any, TypeVar

__all__ = ["check_scalar", "check_int", "check_choice", "check_shape"]

T = TypeVar("T")


def _describe_range(low: float | None, high: float | None, closed: str) -> str:
    left = "[" if closed in ("both", "left") else "("
    right = "]" if closed in ("both", "right") else ")"
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    return f"{left}{lo}, {hi}{right}"


def check_scalar(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    closed: str = "both",
) -> float:
    """Return ``value`` as a finite float inside the interval, or raise.

    ``closed`` is one of ``"both"``, ``"left"``, ``"right"``, ``"neither"`` and says
    which bounds belong to the interval.
    """
    if isinstance(value, bool) or not isinstance(value, Real):
        item = getattr(value, "item", None)  # 0-d tensors and numpy scalars
        scalar = item() if callable(item) and getattr(value, "ndim", 1) == 0 else None
        if isinstance(scalar, bool) or not isinstance(scalar, Real):
            raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
        value = scalar
    v = float(value)
    interval = _describe_range(low, high, closed)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number in {interval}, got {v!r}")
    lo_ok = low is None or (v >= low if closed in ("both", "left") else v > low)
    hi_ok = high is None or (v <= high if closed in ("both", "right") else v < high)
    if not (lo_ok and hi_ok):
        raise ValueError(f"{name} must be in {interval}, got {v:g}")
    return v


def check_int(value: Any, name: str, *, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` as an int in ``[low, high]``, or raise."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise TypeError(f"{name} must be an integer, got {type(value).__name__} ({value!r})")
    v = int(value)
    if (low is not None and v < low) or (high is not None and v > high):
        raise ValueError(
            f"{name} must be an integer in {_describe_range(low, high, 'both')}, got {v}"
        )
    return v


def check_choice(value: Any, name: str, choices: Mapping[str, T] | Iterable[str]) -> str:
    """Return ``value`` if it is one of ``choices`` (a registry's keys), or raise."""
    options = sorted(choices)
    if value not in options:
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return str(value)


def check_shape(shape: tuple[int, ...], name: str, expected: str, ok: bool) -> None:
    """Raise a ``ValueError`` describing the expected shape when ``ok`` is false."""
    if not ok:
        raise ValueError(f"{name} must have shape {expected}, got {tuple(shape)}")
