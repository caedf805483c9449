"""Send less per figure update: only the properties whose values changed, lean arrays.

Helpers of :func:`alignkit.plotting.apply_traces`. A live update rebuilds every trace's
data from a result, but often most of it is what the figure already holds (a loss curve
that only a second control moves, a fixed manifold). Plotly validates and copies each
assigned array before it notices that nothing changed, and plotly.js redraws every trace
named in an update; comparing with the figure's own current values first skips both.
The comparison is with what the figure holds now (not a memo of what was sent), so
changes made by other code or by the browser (zoom) are never masked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

#: Arrays at least this long are sent as float32 when every finite value fits float32
#: comfortably (7 significant digits are beyond what a plot or a hover label shows).
LEAN_MIN_SIZE = 256
_F32_LOW, _F32_HIGH = 1e-30, 1e30


def lean(value: Any) -> Any:
    """``value`` as plotly should receive it: a long float64 array becomes float32 when
    its finite magnitudes lie in [1e-30, 1e30] (or are 0); anything else is unchanged."""
    if type(value).__module__.startswith("torch"):
        value = value.detach().cpu().numpy()
    if not isinstance(value, np.ndarray) or value.dtype != np.float64:
        return value
    if value.size < LEAN_MIN_SIZE or not fits_float32(value):
        return value
    return value.astype(np.float32)


def kept_points(x: Any, y: Any) -> tuple[Any, Any]:
    """``(x, y)``, or one NaN point (drawn as nothing) when they hold no point: a trace that
    empties and fills again as a control moves (a highlight with nothing to highlight at
    some settings) then keeps its drawing, and the live update moves its points instead of
    redrawing the figure (:mod:`alignkit.live.redraw`: plotly's animate neither adds nor
    removes a trace's drawing)."""
    if np.size(x) and np.size(y):
        return x, y
    return np.array([np.nan]), np.array([np.nan])


def fits_float32(values: np.ndarray) -> bool:
    """Whether float32 keeps every finite value of ``values`` (magnitudes 0 or in
    [1e-30, 1e30]: no overflow to inf, no tiny log-axis floor flushed to 0)."""
    mag = np.abs(values[np.isfinite(values)])
    mag = mag[mag != 0]
    return not (mag.size and (mag.min() < _F32_LOW or mag.max() > _F32_HIGH))


def _same(current: Any, new: Any) -> bool:
    """Whether the figure's ``current`` value already equals ``new`` (False when unsure)."""
    if new is None or current is None:
        return new is None and current is None
    if isinstance(new, (np.ndarray, list, tuple)) or isinstance(current, (np.ndarray, tuple)):
        if isinstance(new, (list, tuple)) and any(isinstance(v, Mapping) for v in new):
            return False  # e.g. annotations: plotly compares those itself
        try:
            a, b = np.asarray(new), np.asarray(current)
        except (ValueError, TypeError):
            return False
        if a.shape != b.shape:
            return False
        if a.dtype.kind in "fiub" and b.dtype.kind in "fiub":
            return a.dtype == b.dtype and bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
        return bool(a.tolist() == b.tolist())
    if isinstance(new, (str, bool, int, float, np.generic)):
        try:
            return bool(type(current) is type(new) and current == new) or (
                isinstance(new, np.generic) and bool(current == new)
            )
        except (TypeError, ValueError):
            return False
    return False


def _lookup(obj: Any, key: str) -> Any:
    """``obj[key]``; on a plain dict a dotted key walks the nested dicts (and lists, by
    ``name[i]``: ``images[0].source``)."""
    if isinstance(obj, Mapping):
        for part in key.split("."):
            name, _, index = part.partition("[")
            obj = obj[name]
            if index:
                obj = obj[int(index.rstrip("]"))]
        return obj
    return obj[key]


def changed_props(obj: Any, props: Mapping[str, Any]) -> dict[str, Any]:
    """The part of ``props`` (nested dicts, dotted or plain keys) that differs from ``obj``.

    ``obj`` is a plotly trace or layout, or its plain dict (``fig._data[i]``,
    ``fig._layout``: the same values without plotly's per-key validation, several times
    faster); a key it cannot resolve counts as changed (on a dict: any key not spelled
    as stored, e.g. ``title_text``, which is then simply sent). Arrays in the result are
    passed through :func:`lean`.
    """
    out: dict[str, Any] = {}
    for key, new in props.items():
        new = lean(new)
        try:
            current = _lookup(obj, key)
        except (KeyError, ValueError, TypeError, AttributeError, IndexError):
            out[key] = new
            continue
        if isinstance(new, Mapping):
            if hasattr(current, "_props") or isinstance(current, Mapping):
                sub = changed_props(current, new)
                if sub:
                    out[key] = sub
            else:
                out[key] = new
        elif not _same(current, new):
            out[key] = new
    return out
