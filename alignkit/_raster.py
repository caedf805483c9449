"""A heatmap drawn as a picture: a layout image, a colour bar and a hover grid.

plotly.js redraws a heatmap trace pixel by pixel (``zsmooth="best"``) and encodes it as a
PNG on every update of its figure, and a figure holding one cannot take the live panel's
cheap path (:mod:`alignkit.live.redraw`: animate moves scatter and bar points only). A
grid of values drawn here instead becomes

- a layout image (PNG data URI, :func:`grid_image`): the values bilinearly interpolated
  between cell centres, as plotly's ``zsmooth="best"`` does, coloured with plotly's own
  colour scale, over the cells' extent (half a step beyond the first and last centre);
- a colour key (:func:`add_colour_key`, :func:`colour_key`): a fixed strip of the colour
  scale and a text trace of the values' labels beside it, so a new grid changes only the
  labels' points and text (they move in the live panel's animate frame);
- a hover grid (:func:`hover_grid`): a scatter trace with ``mode="none"`` (nothing drawn)
  whose ``customdata`` holds the values, for hover labels and the CSV export.

An update then moves points and swaps the image (plotly redraws only the images), and
the browser scales the image smoothly.
"""

from __future__ import annotations

import base64
import math
import re
import struct
import zlib
from typing import Any

import numpy as np
from plotly.colors import get_colorscale, hex_to_rgb, unlabel_rgb

__all__ = [
    "KEY_MARGIN", "cached_grid_image", "grid_range", "image_edits",
    "grid_image", "add_colour_key", "colour_key", "hover_grid", "png_data_uri", "value_ticks",
]  # fmt: skip

#: ``meta["alignkit"]`` of a trace that only draws a colour key's labels (no data: not
#: exported)
COLOUR_BAR = "colour bar"

#: an image's pixels along its longer side, about (whole pixels per cell, at least one);
#: the browser smooths between them
IMAGE_PX = 100


def png_data_uri(rgba: np.ndarray) -> str:
    """An (H, W, 4) uint8 RGBA array as a ``data:image/png;base64,...`` URI (8-bit RGBA,
    every row filtered "Up" (the difference to the row above, small on smooth pictures),
    zlib level 6)."""
    if rgba.dtype != np.uint8 or rgba.ndim != 3 or rgba.shape[2] != 4:
        raise ValueError(f"rgba must be an (H, W, 4) uint8 array, got {rgba.dtype} {rgba.shape}")
    h, w, _ = rgba.shape
    flat = rgba.reshape(h, 4 * w)
    up = np.concatenate([flat[:1], flat[1:] - flat[:-1]])  # uint8: modulo 256, as PNG's
    rows = np.concatenate([np.full((h, 1), 2, np.uint8), up], axis=1)  # filter type 2

    def chunk(tag: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(tag + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", crc)

    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6))
        + chunk(b"IEND", b"")
    )
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _stops(colorscale: str | list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """A plotly colour scale as positions (S,) and RGB colours (S, 3)."""
    scale = get_colorscale(colorscale) if isinstance(colorscale, str) else colorscale
    pos = np.array([float(p) for p, _ in scale])
    rgb = np.array(
        [hex_to_rgb(c) if c.startswith("#") else unlabel_rgb(c) for _, c in scale], dtype=float
    )
    return pos, rgb


def _upsampled(z: np.ndarray, factor: int) -> np.ndarray:
    """``z`` (L, M) at ``factor`` pixels per cell: bilinear between the cell centres,
    constant in the outer half cells (pixel centres at (k + 0.5) / factor - 0.5 cells).
    Non-finite cells are missing: a pixel of such a cell is NaN, and its finite
    neighbours interpolate over the finite cells alone (weights renormalised), as plotly's
    ``zsmooth="best"`` draws a heatmap with gaps."""
    missing = ~np.isfinite(z)
    if missing.any():
        filled = _upsampled(np.where(missing, 0.0, z), factor)
        weight = _upsampled((~missing).astype(float), factor)
        own = np.repeat(np.repeat(missing, factor, axis=0), factor, axis=1)  # pixel's cell
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(own | (weight <= 0), np.nan, filled / weight)

    def weights(n: int) -> tuple[np.ndarray, np.ndarray]:
        t = np.clip((np.arange(n * factor) + 0.5) / factor - 0.5, 0.0, n - 1.0)
        i = np.minimum(np.floor(t).astype(int), max(n - 2, 0))
        return i, t - i

    (i, fy), (j, fx) = weights(z.shape[0]), weights(z.shape[1])
    i1 = np.minimum(i + 1, z.shape[0] - 1)
    j1 = np.minimum(j + 1, z.shape[1] - 1)
    top = z[i][:, j] * (1 - fx) + z[i][:, j1] * fx
    bottom = z[i1][:, j] * (1 - fx) + z[i1][:, j1] * fx
    out: np.ndarray = top * (1 - fy[:, None]) + bottom * fy[:, None]
    return out


def _value_range(z: np.ndarray) -> tuple[float, float]:
    finite = z[np.isfinite(z)]
    if finite.size == 0:
        return 0.0, 1.0
    return float(finite.min()), float(finite.max())


#: colour levels of an image (8-bit colour channels cannot show finer steps)
LEVELS = 1024


def _lut(colorscale: str | list[Any]) -> np.ndarray:
    """(LEVELS, 4) uint8 RGBA: the scale at evenly spaced positions 0..1 (RGB interpolated
    between the stops, as plotly.js does)."""
    pos, rgb = _stops(colorscale)
    s = np.linspace(0.0, 1.0, LEVELS)
    lut = np.full((LEVELS, 4), 255, dtype=np.uint8)
    for k in range(3):
        lut[:, k] = np.round(np.interp(s, pos, rgb[:, k]))
    return lut


_LUTS: dict[str, np.ndarray] = {}


def _colours(z: np.ndarray, colorscale: str | list[Any], lo: float, hi: float) -> np.ndarray:
    """RGBA (…, 4) uint8 of ``z`` on ``colorscale`` over [lo, hi]; NaN is transparent."""
    key = repr(colorscale)
    if key not in _LUTS:
        _LUTS[key] = _lut(colorscale)
    s = (z - lo) * ((LEVELS - 1) / (hi - lo)) if hi > lo else z * 0.0 + (LEVELS - 1) / 2
    finite = np.isfinite(s)
    index = np.clip(np.rint(np.where(finite, s, 0.0)), 0, LEVELS - 1).astype(np.intp)
    out = _LUTS[key][index]
    out[..., 3] = np.where(finite, 255, 0)
    return out


def _edges(centres: np.ndarray) -> tuple[float, float]:
    """The cells' outer edges: half a step beyond the first and last centre (plotly's)."""
    c = np.asarray(centres, dtype=float)
    if c.size == 1:
        return float(c[0]) - 0.5, float(c[0]) + 0.5
    return float(1.5 * c[0] - 0.5 * c[1]), float(1.5 * c[-1] - 0.5 * c[-2])


def grid_range(centres: np.ndarray, points: np.ndarray, *, log: bool = False) -> list[float]:
    """An axis range, in the axis's units (log10 on a log axis), over the cells around
    ``centres`` (M,) as a picture or heatmap covers them (half a step beyond the first and
    last centre), widened to show any of ``points`` (K,) beyond them (a start or fit off
    the grid)."""
    c, pts = np.asarray(centres, dtype=float), np.asarray(points, dtype=float)
    pts = pts[np.isfinite(pts)]
    if log:
        c, pts = np.log10(c), np.log10(pts[pts > 0.0])
    lo, hi = _edges(c)
    pad = 0.03 * (hi - lo)  # room for a marker beyond the cells
    if pts.size and pts.min() < lo:
        lo = float(pts.min()) - pad
    if pts.size and pts.max() > hi:
        hi = float(pts.max()) + pad
    return [float(lo), float(hi)]


#: a layout image's keys that a new grid changes (its picture and place)
IMAGE_EDITS = ("source", "x", "y", "sizex", "sizey")


def image_edits(image: dict[str, Any], index: int = 0) -> dict[str, Any]:
    """A live update's layout edits (``images[i].source`` ...) moving layout image
    ``index`` to :func:`grid_image`'s ``image``."""
    return {f"images[{index}].{k}": image[k] for k in IMAGE_EDITS}


def grid_image(
    z: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    *,
    colorscale: str | list[Any] = "Viridis",
    xref: str = "x",
    yref: str = "y",
    log_y: bool = False,
    opacity: float = 1.0,
    factor: int | None = None,
) -> dict[str, Any]:
    """A layout image (``fig.add_layout_image(**...)``) drawing ``z`` (L, M) over cell
    centres ``x`` (M,) and ``y`` (L,), evenly spaced (in log10 for ``log_y``: a log axis),
    coloured from its finite minimum to maximum; NaN cells are transparent. ``factor``:
    pixels per cell (default: about :data:`IMAGE_PX` pixels along the longer side)."""
    z = np.asarray(z, dtype=float)
    if z.ndim != 2 or z.shape != (np.size(y), np.size(x)):
        raise ValueError(f"z must have shape (len(y), len(x)) = {(np.size(y), np.size(x))}, "
                         f"got {z.shape}")  # fmt: skip
    yc = np.log10(np.asarray(y, dtype=float)) if log_y else np.asarray(y, dtype=float)
    x0, x1 = _edges(np.asarray(x, dtype=float))
    y0, y1 = _edges(yc)
    lo, hi = _value_range(z)
    factor = factor or max(1, round(IMAGE_PX / max(z.shape)))
    rgba = _colours(_upsampled(z, factor), colorscale, lo, hi)[::-1]  # row 0 at the top
    return {
        "source": png_data_uri(np.ascontiguousarray(rgba)),
        "xref": xref, "yref": yref, "x": x0, "y": y1, "sizex": x1 - x0, "sizey": y1 - y0,
        "xanchor": "left", "yanchor": "top", "sizing": "stretch", "layer": "below",
        "opacity": opacity,
    }  # fmt: skip


def cached_grid_image(
    z: np.ndarray, x: np.ndarray, y: np.ndarray, **options: Any
) -> dict[str, Any]:
    """:func:`grid_image`, memoised on the values and options (32 grids): a live figure
    that walks back over grids it has shown encodes none of them again. Do not mutate the
    result."""
    arrays = [np.ascontiguousarray(a, dtype=np.float64) for a in (z, x, y)]
    key = (*(a.tobytes() for a in arrays), arrays[0].shape, repr(sorted(options.items())))
    if key not in _CACHE:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))  # the oldest first
        _CACHE[key] = grid_image(*arrays, **options)
    return _CACHE[key]


_CACHE: dict[tuple[Any, ...], dict[str, Any]] = {}
_CACHE_SIZE = 32


def value_ticks(lo: float, hi: float, n: int = 5) -> tuple[list[float], list[str]]:
    """About ``n`` round values in [lo, hi] (steps 1, 2 or 5 × 10^k) and their labels: at
    least 3 where the range holds them (a finer step when the first holds 2)."""
    raw = (hi - lo) / n
    if not (math.isfinite(lo) and math.isfinite(hi) and math.isfinite(raw)) or raw <= 0:
        return [lo], [_minus(f"{lo:.3g}")]
    power = 10.0 ** math.floor(math.log10(raw))
    steps = [m * power for m in (0.1, 0.2, 0.5, 1, 2, 5, 10)]
    i = next(i for i, s in enumerate(steps) if s >= raw * (1 - 1e-9))
    while True:
        step = steps[i]
        first = math.ceil(lo / step - 1e-9)
        values = [k * step for k in range(first, math.floor(hi / step + 1e-9) + 1)]
        if len(values) >= 3 or i == 0:
            break
        i -= 1
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    top = max(abs(v) for v in values) or step
    if abs(math.log10(step)) > 6 or top >= 1e7:  # exponent labels, the digits a step needs
        digits = min(15, max(1, math.floor(math.log10(top)) - math.floor(math.log10(step)) + 1))
        return values, [_minus(f"{v:.{digits}g}") for v in values]
    labels = [f"{v:.{decimals}f}" for v in values]
    labels = [t.rstrip("0").rstrip(".") if "." in t else t for t in labels]  # 0.5, 1 (plotly's)
    return values, [_minus("0" if t in ("-0", "") else t) for t in labels]


def _minus(label: str) -> str:
    """A label's leading minus as the minus sign (as plotly writes tick labels)."""
    return "−" + label[1:] if label.startswith("-") else label


#: the colour key's strip: its share of the key's axes (its labels sit to the right)
KEY_STRIP = 0.45
#: the right margin (px) a figure with a colour key at its right edge needs: the labels
#: (up to about 35 px) run past the key's domain into it, at any figure width
KEY_MARGIN = 45
#: between a colour key's strip and its labels, of the key's width
KEY_GAP = 0.08
#: a colour key's strip: pixels along the scale (the browser smooths between them)
KEY_PX = 256


def add_colour_key(
    fig: Any, name: str, *, x: tuple[float, float], y: tuple[float, float],
    colorscale: str | list[Any] = "Viridis",
) -> None:  # fmt: skip
    """Add to ``fig`` a colour key for :func:`grid_image` pictures: a strip of
    ``colorscale`` (a layout image, bottom = the picture's minimum, top = its maximum) and
    its labels (a text trace named ``name``, filled by :func:`colour_key`), on hidden
    axes of their own at paper domains ``x``, ``y`` (range 0..1, not zoomable).

    plotly's own colour bar would do as much, but a new grid then changes its labels: a
    restyle that plotly.js's animate does not draw. A text trace's labels move with the
    other points in one animate frame (:mod:`alignkit.live.redraw`). The labels run past
    the key's domain: at the figure's right edge, leave a right margin of
    :data:`KEY_MARGIN` px."""
    used = [k[5:] for k in fig.layout.to_plotly_json() if re.fullmatch(r"xaxis\d*", k)]
    used += [(t.xaxis or "x")[1:] for t in fig.data]
    n = 1 + max(int(k or 1) for k in used) if used else 2
    hidden = {"range": [0.0, 1.0], "visible": False, "fixedrange": True}
    fig.update_layout({f"xaxis{n}": {"domain": list(x), "anchor": f"y{n}", **hidden},
                       f"yaxis{n}": {"domain": list(y), "anchor": f"x{n}", **hidden}})  # fmt: skip
    strip = _colours(np.linspace(1.0, 0.0, KEY_PX)[:, None], colorscale, 0.0, 1.0)  # top first
    fig.add_layout_image(
        source=png_data_uri(np.ascontiguousarray(strip)), xref=f"x{n}", yref=f"y{n}", x=0.0,
        y=1.0, sizex=KEY_STRIP, sizey=1.0, xanchor="left", yanchor="top", sizing="stretch",
        layer="below",
    )  # fmt: skip
    fig.add_scatter(
        name=name, x=[], y=[], xaxis=f"x{n}", yaxis=f"y{n}", mode="text",
        textposition="middle right", cliponaxis=False, showlegend=False, hoverinfo="skip",
        meta={"alignkit": COLOUR_BAR},
    )  # fmt: skip


def colour_key(z: np.ndarray, *, clipped: tuple[float, float] | None = None) -> dict[str, Any]:
    """The labels of :func:`add_colour_key`'s key for a :func:`grid_image` of ``z``: its
    trace edit (``x``, ``y`` on the key's 0..1 scale, ``text``), about 5 round values
    from the finite minimum (bottom) to the maximum (top). ``clipped``: the (low, high)
    that ``z`` was clipped to for display; a label at a clipped end reads "≤ low" /
    "≥ high" (those cells hold that value or beyond)."""
    lo, hi = _value_range(np.asarray(z, dtype=float))
    values, labels = value_ticks(lo, hi)
    if clipped is not None:

        def at(a: float, b: float) -> bool:  # equal up to rounding (a tick is k · step)
            return abs(a - b) <= 1e-9 * max(1.0, abs(b))

        labels = [
            f"≥ {t}" if at(v, hi) and at(hi, clipped[1])
            else f"≤ {t}" if at(v, lo) and at(lo, clipped[0]) else t
            for v, t in zip(values, labels, strict=True)
        ]  # fmt: skip
    where = [(v - lo) / (hi - lo) if hi > lo else 0.5 for v in values]
    return {"x": [KEY_STRIP + KEY_GAP] * len(where), "y": where, "text": labels}


def hover_grid(z: np.ndarray, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """The hover grid's trace edit for ``z`` (L, M) over ``x`` (M,), ``y`` (L,): every
    cell centre (row-major), its value as ``customdata``."""
    xx, yy = np.meshgrid(np.asarray(x), np.asarray(y))
    return {"x": xx.ravel(), "y": yy.ravel(), "customdata": np.asarray(z).ravel()}
