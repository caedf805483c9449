"""Argument checks used at every public boundary (one place, one message style).

Out-of-range values raise ``ValueError`` and wrong types raise ``TypeError``; the
message names the argument, the accepted range or choices and the value received.
"""

from __future__ import annotations

import decimal
import keyword
import math
from collections.abc import Iterable, Mapping
from numbers import Integral, Real
from typing import Any, TypeVar

import numpy as np
import torch

__all__ = [
    "check_instance",
    "check_scalar",
    "check_int",
    "check_bool",
    "check_choice",
    "check_shape",
    "check_values",
    "check_float_dtype",
    "check_float_tensor",
    "check_numeric",
    "check_integer_valued",
    "check_has_data",
    "FLOAT_DTYPES",
]

T = TypeVar("T")
_CLOSED = ("both", "left", "right", "neither")


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty str (the argument's name), got {name!r}")
    return name


def _describe_range(low: float | None, high: float | None, closed: str) -> str:
    left = "[" if closed in ("both", "left") else "("
    right = "]" if closed in ("both", "right") else ")"
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    return f"{left}{lo}, {hi}{right}"


def _check_bounds(low: Any, high: Any, closed: Any) -> None:
    for bound, label in ((low, "low"), (high, "high")):
        if bound is not None and (isinstance(bound, bool) or not isinstance(bound, Real)):
            raise TypeError(f"{label} must be a real number or None, got {bound!r}")
        if bound is not None and math.isnan(float(bound)):
            raise ValueError(f"{label} must not be NaN, got {bound!r}")
    if low is not None and high is not None and float(low) > float(high):
        raise ValueError(f"low must be <= high, got low={low!r} > high={high!r}")
    if closed not in _CLOSED:
        raise ValueError(f"closed must be one of {list(_CLOSED)}, got {closed!r}")


def _scalar_item(value: Any) -> Any:
    """Unwrap 0-d tensors and numpy scalars; return anything else unchanged."""
    if isinstance(value, (bool, Real)):
        return value
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", 1) == 0:
        return item()
    return value


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
    which bounds belong to the interval. Bools are rejected (``TypeError``): a flag is
    never a number.
    """
    name = _check_name(name)
    _check_bounds(low, high, closed)
    interval = _describe_range(low, high, closed)
    scalar = _scalar_item(value)
    if isinstance(scalar, bool) or not isinstance(scalar, Real):
        raise TypeError(
            f"{name} must be a real number in {interval}, got {type(value).__name__} {value!r}"
        )
    v = float(scalar)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number in {interval}, got {v!r}")
    lo_ok = low is None or (v >= low if closed in ("both", "left") else v > low)
    hi_ok = high is None or (v <= high if closed in ("both", "right") else v < high)
    if not (lo_ok and hi_ok):
        raise ValueError(f"{name} must be in {interval}, got {_distinct(v, low, high)}")
    return v


def _distinct(v: float, *bounds: float | None) -> str:
    """``v`` short (``:g``), or in full when that would print like a bound it is outside of
    ("must be in [0.2, 4], got 0.2" for 0.19999999999999)."""
    short = f"{v:g}"
    shown = {f"{b:g}" for b in bounds if b is not None}
    return repr(v) if short in shown and v not in bounds else short


def check_int(value: Any, name: str, *, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` as an int in ``[low, high]``, or raise.

    Integer-valued floats (``4.0``) are accepted; ``1.5``, NaN, bools and strings are a
    ``TypeError``.
    """
    name = _check_name(name)
    _check_bounds(low, high, "both")
    interval = _describe_range(low, high, "both")
    scalar = _scalar_item(value)
    if isinstance(scalar, bool) or not isinstance(scalar, Integral):
        if isinstance(scalar, float) and scalar.is_integer():
            scalar = int(scalar)
        else:
            raise TypeError(
                f"{name} must be an integer in {interval}, got {type(value).__name__} {value!r}"
            )
    v = int(scalar)
    if (low is not None and v < low) or (high is not None and v > high):
        raise ValueError(f"{name} must be an integer in {interval}, got {_short_int(v)}")
    return v


def _short_int(v: int) -> str:
    """``v`` in full up to 18 digits, else in scientific form (1e308 as an int has 309)."""
    if len(str(abs(v))) <= 18:
        return str(v)
    return f"{decimal.Decimal(v):.5e}"  # (rounded, exactly: a float would overflow past 1e308)


def _is_python_name(name: object) -> bool:
    """A str usable as a Python name in a call (an identifier, not a keyword)."""
    return isinstance(name, str) and name.isidentifier() and not keyword.iskeyword(name)


def check_bool(value: Any, name: str) -> bool:
    """Return ``value`` if it is a bool (or numpy bool), else raise ``TypeError``.

    ``replacement="no"`` or ``1`` is a mistake, not a flag: truthiness is never used.
    """
    name = _check_name(name)
    if isinstance(value, bool):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")


def check_instance(value: Any, name: str, kinds: type | tuple[type, ...], what: str) -> Any:
    """Return ``value`` if it is an instance of ``kinds``, else ``TypeError`` naming ``what``."""
    name = _check_name(name)
    kind_tuple = kinds if isinstance(kinds, tuple) else (kinds,)
    if not kind_tuple or not all(isinstance(k, type) for k in kind_tuple):
        raise TypeError(f"kinds must be a type or a tuple of types, got {kinds!r}")
    if not isinstance(what, str):
        raise TypeError(f"what must be a str describing the expected type, got {what!r}")
    if (
        not isinstance(value, kinds)
        or isinstance(value, bool)
        and bool not in (kinds if isinstance(kinds, tuple) else (kinds,))
    ):
        raise TypeError(f"{name} must be {what}, got {type(value).__name__} {value!r:.80}")
    return value


def check_choice(value: Any, name: str, choices: Mapping[str, T] | Iterable[str]) -> str:
    """Return ``value`` if it is one of ``choices`` (a registry's keys), or raise."""
    name = _check_name(name)
    if isinstance(choices, (str, bytes)) or not isinstance(choices, (Mapping, Iterable)):
        raise TypeError(f"choices must be a registry or a collection of names, got {choices!r}")
    options = sorted(choices)
    if not isinstance(value, str):  # a wrong type is a TypeError, as everywhere in the kit
        raise TypeError(f"{name} must be one of {options} (a str), got {value!r}")
    if value not in options:
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value


def check_shape(shape: tuple[int, ...], name: str, expected: str, ok: bool) -> None:
    """Raise a ``ValueError`` describing the expected shape when ``ok`` is false."""
    name = _check_name(name)
    if not isinstance(ok, (bool, np.bool_, torch.Tensor)):
        raise TypeError(f"ok must be a bool (whether {name} has the right shape), got {ok!r}")
    if not bool(ok):
        raise ValueError(f"{name} must have shape {expected}, got {tuple(shape)}")


#: The floating dtypes the kit computes in (torch has no half-precision eigensolvers on CPU).
FLOAT_DTYPES = (torch.float32, torch.float64)


def check_float_dtype(dtype: Any, name: str = "dtype") -> torch.dtype:
    """Return ``dtype`` if it is torch.float32 or torch.float64, else raise."""
    name = _check_name(name)
    if not isinstance(dtype, torch.dtype):
        raise TypeError(
            f"{name} must be a torch floating dtype such as torch.float32, got {dtype!r}"
        )
    if dtype not in FLOAT_DTYPES:
        raise ValueError(
            f"{name} must be a floating-point dtype (torch.float32 or torch.float64), got {dtype}"
        )
    return dtype


def check_has_data(value: torch.Tensor, name: str) -> torch.Tensor:
    """``value`` itself, unless it lives on the ``meta`` device (shapes only, no numbers)."""
    name = _check_name(name)
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if value.device.type == "meta":
        raise ValueError(
            f"{name} must hold numbers on a real device (cpu, cuda, mps), got a meta tensor"
        )
    return value


def check_values(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    closed: str = "both",
    ndim: int | None = None,
    allow_empty: bool = False,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """Return a number, sequence or tensor of real numbers as a tensor of ``dtype``, or raise.

    Rejects (``TypeError``) strings, bools, bool/complex tensors and anything that is not
    numbers; (``ValueError``) empty inputs unless ``allow_empty``, a wrong ``ndim``,
    non-finite entries and entries outside the interval. The message shows the first
    bad entry. Integer tensors are converted (exactly) to ``dtype``.
    """
    name = _check_name(name)
    _check_bounds(low, high, closed)
    interval = _describe_range(low, high, closed)
    scalar = _scalar_item(value)
    if isinstance(scalar, (bool, str, bytes)):
        raise TypeError(f"{name} must be real numbers in {interval}, got {value!r}")
    if isinstance(value, (list, tuple)) and any(isinstance(v, (bool, str)) for v in value):
        raise TypeError(f"{name} must be real numbers in {interval}, got {value!r}")
    try:
        # Python numbers go straight to float64 (no float32 rounding on the way).
        t = value if isinstance(value, torch.Tensor) else torch.as_tensor(value, dtype=dtype)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise TypeError(f"{name} must be real numbers in {interval}, got {value!r}") from exc
    if t.dtype == torch.bool or t.is_complex():
        raise TypeError(f"{name} must hold real numbers in {interval}, got a {t.dtype} tensor")
    check_has_data(t, name)
    if ndim is not None and t.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {tuple(t.shape)}")
    if t.numel() == 0 and not allow_empty:
        raise ValueError(f"{name} must not be empty, got shape {tuple(t.shape)}")
    t = t.to(dtype)
    finite = torch.isfinite(t)
    if not bool(finite.all()):
        bad = t[~finite].flatten()[0].item()
        raise ValueError(f"{name} must be finite numbers in {interval}, got {bad!r}")
    ok = torch.ones_like(t, dtype=torch.bool)
    if low is not None:
        ok &= t >= low if closed in ("both", "left") else t > low
    if high is not None:
        ok &= t <= high if closed in ("both", "right") else t < high
    if not bool(ok.all()):
        bad = t[~ok].flatten()[0].item()
        raise ValueError(f"{name} must be in {interval}, got {bad:g}")
    return t


def check_float_tensor(value: Any, name: str) -> torch.Tensor:
    """Return ``value`` if it is a finite float32/float64 tensor (else TypeError/ValueError)."""
    name = _check_name(name)
    if not isinstance(value, torch.Tensor) or value.dtype not in FLOAT_DTYPES:
        got = value.dtype if isinstance(value, torch.Tensor) else type(value).__name__
        raise TypeError(f"{name} must be a float32 or float64 torch.Tensor, got {got}")
    check_has_data(value, name)
    if not bool(torch.isfinite(value).all()):
        raise ValueError(f"{name} must be finite (got NaN or inf entries)")
    return value


def check_numeric(value: Any, name: str) -> None:
    """Refuse bools, strings, bool/complex tensors (TypeError) and empty tensors (ValueError)."""
    name = _check_name(name)
    if (
        value is None
        or isinstance(value, (bool, str, bytes))
        or (isinstance(value, torch.Tensor) and (value.dtype == torch.bool or value.is_complex()))
    ):
        raise TypeError(f"{name} must be real numbers, got {value!r}")
    if isinstance(value, torch.Tensor):
        check_has_data(value, name)
    if isinstance(value, torch.Tensor) and value.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(value.shape)}")


def check_integer_valued(value: torch.Tensor, name: str) -> None:
    """Refuse a tensor with a non-integer entry (a batch size of 1.5), naming it."""
    name = _check_name(name)
    if not isinstance(value, torch.Tensor) or value.dtype == torch.bool or value.is_complex():
        got = value.dtype if isinstance(value, torch.Tensor) else type(value).__name__
        raise TypeError(f"{name} must be a real tensor of integers >= 1, got {got}")
    frac = value != value.round()
    if bool(frac.any()):
        raise TypeError(f"{name} must be integers >= 1, got {value[frac].flatten()[0]:g}")
