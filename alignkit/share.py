"""Sharing one view of an explorer: the call that reproduces it, and files of its figure and data.

- :func:`view_call`: ``region_explorer(lr=0.3, batch_size=8, sampling='with replacement')``,
  a line to paste into a cell (the explorers take their controls' names as arguments).
- :func:`save_figure`: the current figure as PNG/SVG/PDF (kaleido, which drives the system's
  Chromium), or HTML (a page that opens offline), or JSON (the call, the control values and
  the figure), or CSV (one row per plotted point or grid cell: trace, x, y, z; z empty for
  a line or bar).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

from alignkit._checks import _is_python_name, check_instance
from alignkit._raster import COLOUR_BAR

__all__ = ["view_call", "save_figure", "FORMATS"]

FORMATS = ("png", "svg", "pdf", "html", "json", "csv")


def _literal(value: Any) -> str:
    """Python source that evaluates to ``value`` exactly (a float: its short form when that
    is the same number, else its repr; NaN and ±inf as ``float("nan")``, ...)."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return f'float("{value}")'  # str gives "nan", "inf", "-inf"
        short = f"{value:.6g}"
        return short if float(short) == value else repr(value)
    if isinstance(value, np.generic):
        return _literal(value.item())
    return repr(value)


def view_call(function: str, state: Mapping[str, Any]) -> str:
    """The one-line call that reproduces a view, e.g. ``gd_explorer(lr=0.5, sharpness=2.0)``."""
    check_instance(function, "function", str, "the explorer's name, a str")
    check_instance(state, "state", Mapping, "a mapping of control names to values")
    if not _is_python_name(function):
        raise ValueError(f"function must be a Python name (not a keyword), got {function!r}")
    for name in state:
        if not _is_python_name(name):
            raise ValueError(f"state's keys must be Python names (not keywords), got {name!r}")
    args = ", ".join(f"{name}={_literal(v)}" for name, v in state.items())
    return f"{function}({args})"


def _rows(fig: go.Figure) -> list[tuple[str, Any, Any, Any]]:
    """(trace, x, y, z) per point: a line's or bar's points (z empty), a 3-D trace's points,
    and a heatmap's or contour's every cell (x and y of the cell, z its value), as also a
    grid drawn as a picture (its hover grid: ``mode="none"``, the values as customdata)."""
    rows: list[tuple[str, Any, Any, Any]] = []
    for k, trace in enumerate(fig.data):
        if isinstance(trace.meta, dict) and trace.meta.get("alignkit") == COLOUR_BAR:
            continue  # a colour bar's placeholder point, not data
        name = trace.name or f"trace {k}"
        x, y, z = (getattr(trace, key, None) for key in "xyz")
        if z is not None and np.ndim(z) == 2:  # a grid: z[i, j] at (x[j], y[i])
            zs = np.asarray(z, dtype=float)
            xs = np.arange(zs.shape[1]) if x is None else np.asarray(x).reshape(-1)
            ys = np.arange(zs.shape[0]) if y is None else np.asarray(y).reshape(-1)
            rows += [(name, xs[j].item(), ys[i].item(), zs[i, j].item())
                     for i in range(zs.shape[0]) for j in range(zs.shape[1])]  # fmt: skip
            continue
        if y is None:
            continue
        ys = np.asarray(y).reshape(-1)
        xs = np.arange(ys.size) if x is None else np.asarray(x).reshape(-1)
        if z is None and getattr(trace, "mode", None) == "none":
            z = getattr(trace, "customdata", None)  # a grid drawn as a picture (_raster)
            z = z if z is not None and np.size(z) == ys.size else None
        zcol: list[Any] = [""] * ys.size if z is None else np.asarray(z).reshape(-1).tolist()
        rows += list(zip([name] * ys.size, xs.tolist(), ys.tolist(), zcol, strict=False))
    return rows


def save_figure(
    fig: go.Figure, path: str | Path, *, call: str | None = None, state: Mapping[str, Any] = {}
) -> Path:
    """Write ``fig`` to ``path``; the format is the suffix (one of :data:`FORMATS`).

    Raises ``ValueError`` naming ``path`` for an unknown suffix or a folder that does not
    exist, and for PNG/SVG/PDF when kaleido cannot find a Chromium to draw with.
    """
    check_instance(fig, "fig", go.Figure, "a plotly go.Figure")
    check_instance(path, "path", (str, Path), "a str or pathlib.Path")
    if call is not None:
        check_instance(call, "call", str, "a str or None")
    check_instance(state, "state", Mapping, "a mapping of control names to values")
    target = Path(path)
    fmt = target.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ValueError(f"path must end in one of {['.' + f for f in FORMATS]}, got {str(path)!r}")
    still = go.Figure(fig)
    still.frames = ()
    try:
        if not target.parent.is_dir():
            raise ValueError(f"path must be in an existing folder, got {str(path)!r}")
        _write(still, target, fmt, call, state)
    except OSError as exc:  # a folder of that name, a name too long, no permission ...
        raise ValueError(
            f"path must be a writable file name, got {str(path)!r} ({exc.strerror or exc})"
        ) from exc
    return target


def _write(
    still: go.Figure, target: Path, fmt: str, call: str | None, state: Mapping[str, Any]
) -> None:
    if fmt in ("png", "svg", "pdf"):
        try:
            pio.write_image(still, target, format=fmt, scale=2 if fmt == "png" else 1)
        except Exception as exc:  # kaleido without a browser: say what to install
            raise ValueError(
                f"path {str(target)!r}: could not draw a {fmt.upper()} ({type(exc).__name__}: "
                f"{exc}); kaleido needs Chromium (`apt-get install chromium`)"
            ) from exc
    elif fmt == "html":
        pio.write_html(still, target, include_plotlyjs=True, full_html=True)
    elif fmt == "json":
        payload = {"call": call, "state": dict(state), "figure": json.loads(still.to_json())}
        target.write_text(json.dumps(payload, default=str, indent=1))
    else:
        with target.open("w", newline="") as handle:
            writer = csv.writer(handle)
            if call:
                writer.writerow([f"# {call}"])
            writer.writerow(["trace", "x", "y", "z"])
            writer.writerows(_rows(still))
