"""A grid drawn as a picture (alignkit._raster) against independent routes: plotly's own
colour scale sampler for the colours, pypng's reader (shipped in plotly) for the PNG."""

from __future__ import annotations

import base64
import math

import numpy as np
import pytest
from _plotly_utils.png import Reader
from hypothesis import given
from hypothesis import strategies as st
from plotly.colors import sample_colorscale, unlabel_rgb

from alignkit._raster import colour_key, grid_image, hover_grid, png_data_uri, value_ticks


def _decode(uri: str) -> np.ndarray:
    assert uri.startswith("data:image/png;base64,")
    w, h, rows, info = Reader(bytes=base64.b64decode(uri.split(",", 1)[1])).asRGBA8()
    return np.array([list(r) for r in rows], dtype=np.uint8).reshape(h, w, 4)


def _plotly_rgb(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    s = ((np.asarray(values, dtype=float) - lo) / (hi - lo)).ravel().tolist()
    return np.array([unlabel_rgb(c) for c in sample_colorscale("Viridis", s)], dtype=float)


def test_png_round_trips_exactly() -> None:
    rgba = np.random.default_rng(0).integers(0, 256, size=(7, 5, 4), dtype=np.uint8)
    assert np.array_equal(_decode(png_data_uri(rgba)), rgba)


def test_png_refuses_what_is_not_rgba8() -> None:
    with pytest.raises(ValueError, match=r"rgba must be an \(H, W, 4\) uint8 array"):
        png_data_uri(np.zeros((3, 3, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="rgba must be"):
        png_data_uri(np.zeros((3, 3, 4), dtype=np.float32))


def test_cells_are_coloured_as_plotly_colours_them() -> None:
    """With 3 pixels per cell, pixel 3k+1 sits on cell k's centre: its colour is plotly's
    colour of z there (to the 1/1023 step of the image's colour levels)."""
    rng = np.random.default_rng(1)
    z = rng.normal(size=(4, 6))
    image = grid_image(z, np.arange(6.0), np.arange(4.0), factor=3)
    px = _decode(image["source"])[::-1]  # row 0 at the bottom, as z
    centres = px[1::3, 1::3, :3].astype(float)
    expected = _plotly_rgb(z, z.min(), z.max()).reshape(4, 6, 3)
    assert np.abs(centres - expected).max() <= 1.0
    assert (px[..., 3] == 255).all()


def test_between_centres_the_values_are_interpolated_bilinearly() -> None:
    """On a plane z = a + b x + c y bilinear interpolation is exact: every pixel has the
    colour of the plane at its centre (constant beyond the outer centres)."""
    x, y = np.linspace(0.0, 5.0, 6), np.linspace(0.0, 3.0, 4)
    z = 0.3 + 0.7 * x[None, :] - 0.4 * y[:, None]
    f = 4
    px = _decode(grid_image(z, x, y, factor=f)["source"])[::-1].astype(float)
    # pixel centres in cell units, clamped to the outer centres
    u = np.clip((np.arange(6 * f) + 0.5) / f - 0.5, 0, 5)
    v = np.clip((np.arange(4 * f) + 0.5) / f - 0.5, 0, 3)
    plane = 0.3 + 0.7 * u[None, :] - 0.4 * v[:, None]
    expected = _plotly_rgb(plane, z.min(), z.max()).reshape(4 * f, 6 * f, 3)
    assert np.abs(px[..., :3] - expected).max() <= 1.0


def test_image_covers_the_cells_and_nan_is_transparent() -> None:
    """The image spans the cells' outer edges (half a step beyond the outer centres, in
    log10 on a log axis); a NaN cell's pixels are transparent."""
    z = np.ones((3, 4))
    z[1, 2] = np.nan
    sig = np.array([0.1, 1.0, 10.0])
    image = grid_image(z, np.array([0.0, 1.0, 2.0, 3.0]), sig, log_y=True, factor=1)
    assert (image["x"], image["sizex"]) == (-0.5, 4.0)
    assert math.isclose(image["y"], 1.5) and math.isclose(image["sizey"], 3.0)
    alpha = _decode(image["source"])[::-1, :, 3]
    assert alpha[1, 2] == 0 and (np.delete(alpha.ravel(), 1 * 4 + 2) == 255).all()
    with pytest.raises(ValueError, match=r"z must have shape \(len\(y\), len\(x\)\)"):
        grid_image(np.ones((4, 3)), np.arange(4.0), np.arange(3.0))


@given(
    st.floats(-1e6, 1e6, allow_nan=False),
    st.floats(1e-6, 1e6, allow_nan=False),
)
def test_ticks_are_round_values_inside_the_range(lo: float, span: float) -> None:
    span = max(span, 1e-6 * abs(lo))  # (a span float64 resolves at lo)
    hi = lo + span
    values, labels = value_ticks(lo, hi)
    assert 3 <= len(values) <= 8 and len(labels) == len(values)
    assert all(lo - 1e-9 * span <= v <= hi + 1e-9 * span for v in values)
    step = values[1] - values[0]
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert min(abs(mantissa - m) for m in (1, 2, 5, 10)) < 1e-6
    assert np.allclose([float(t.replace("−", "-")) for t in labels], values, rtol=1e-9,
                       atol=1e-9 * span)  # fmt: skip


def test_colour_key_labels_sit_where_their_values_are_coloured() -> None:
    z = np.array([[-0.17, 0.4], [0.9, 1.39]])
    key = colour_key(z)
    where, labels = key["y"], key["text"]
    assert labels == ["0", "0.5", "1"] and len(key["x"]) == 3
    assert np.allclose(-0.17 + np.array(where) * (1.39 + 0.17), [0.0, 0.5, 1.0])


def test_colour_key_says_where_values_were_clipped() -> None:
    """A label at an end the values were clipped to reads "≥" / "≤" (those cells hold that
    value or beyond); ends inside the clip range read plainly."""
    clipped = colour_key(np.array([[-4.0, 0.0], [1.0, 4.0]]), clipped=(-4.0, 4.0))["text"]
    assert clipped[0] == "≤ −4" and clipped[-1] == "≥ 4" and "0" in clipped
    inside = colour_key(np.array([[-3.9, 0.0], [1.0, 3.9]]), clipped=(-4.0, 4.0))["text"]
    assert not any(t.startswith(("≤", "≥")) for t in inside)
    rounded = colour_key(np.array([[0.0, 0.3]]), clipped=(0.0, 0.3))["text"]  # 6 × 0.05 ≠ 0.3
    assert rounded[0] == "≤ 0" and rounded[-1] == "≥ 0.3"


def test_colour_key_strip_runs_from_the_minimum_at_the_bottom() -> None:
    """The key's strip is the colour scale, bottom (the pictures' minimum) to top, on its
    own hidden axes; its labels' trace is a key, not data."""
    import plotly.graph_objects as go

    from alignkit._raster import COLOUR_BAR, KEY_PX, add_colour_key

    fig = go.Figure(go.Scatter(x=[0, 1], y=[0, 1]))
    add_colour_key(fig, "key", x=(0.9, 1.0), y=(0.1, 0.9))
    assert fig.layout.xaxis2.domain == (0.9, 1.0) and fig.layout.yaxis2.domain == (0.1, 0.9)
    assert fig.layout.xaxis2.visible is False and fig.layout.yaxis2.fixedrange is True
    trace = fig.data[1]
    assert (trace.xaxis, trace.yaxis, trace.mode) == ("x2", "y2", "text")
    assert trace.meta == {"alignkit": COLOUR_BAR}
    image = fig.layout.images[0]
    rgb = _decode(image.source)[..., :3]
    assert rgb.shape[0] == KEY_PX
    assert tuple(rgb[-1, 0]) == (68, 1, 84) and tuple(rgb[0, 0]) == (253, 231, 37)  # Viridis


def test_hover_grid_holds_every_cell() -> None:
    z = np.arange(6.0).reshape(2, 3)
    grid = hover_grid(z, np.array([10.0, 20.0, 30.0]), np.array([1.0, 2.0]))
    assert grid["x"].tolist() == [10, 20, 30] * 2 and grid["y"].tolist() == [1, 1, 1, 2, 2, 2]
    assert grid["customdata"].tolist() == z.ravel().tolist()


def test_a_missing_cell_blanks_only_itself() -> None:
    """A NaN cell's own pixels are transparent; its finite neighbours interpolate over the
    finite cells alone (as plotly's zsmooth="best" draws gaps), not blanked halfway."""
    from alignkit._raster import _upsampled

    row = _upsampled(np.array([[0.0, 1.0, np.nan]]), 4)[0]
    assert np.isnan(row[8:]).all() and np.isfinite(row[:8]).all()
    assert np.allclose(row[4:8], [0.625, 0.875, 1.0, 1.0])  # cell 1: toward cell 0, then flat


def test_extreme_ranges_still_get_short_labels() -> None:
    for lo, hi in [(-1.7e308, 1.7e308), (1e300, 1.7e308), (0.0, 1e-320), (3.0, 3.0)]:
        values, labels = value_ticks(lo, hi)
        assert values and len(labels) == len(values) and max(map(len, labels)) <= 12, labels


def test_the_cache_takes_a_colour_scale_list_and_returns_the_same_picture() -> None:
    from alignkit._raster import cached_grid_image

    z = np.arange(6.0).reshape(2, 3)
    scale = [[0.0, "#000000"], [1.0, "#ffffff"]]
    once = cached_grid_image(z, np.arange(3.0), np.arange(2.0), colorscale=scale)
    assert once == grid_image(z, np.arange(3.0), np.arange(2.0), colorscale=scale)
    assert cached_grid_image(z, np.arange(3.0), np.arange(2.0), colorscale=scale) is once
