"""Kernel-free explorers: the static figure's frames are what the live panel draws."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import plotly.graph_objects as go
import pytest

from alignkit.live import LivePanel, dropdown, float_slider, int_slider
from alignkit.static import control_grid, static_figure, static_html


def _array(value: Any) -> np.ndarray:
    """A trace array as plotly stores it (a list, or base64 ``bdata`` in figure JSON)."""
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).astype(float)
    return np.asarray(value, dtype=float)


def _panel(key: str = "toy") -> LivePanel[dict[str, float]]:
    controls = {
        "slope": float_slider(1.0, 0.0, 2.0, 0.1, "slope"),
        "points": int_slider(5, 2, 9, "points"),
        "shape": dropdown("line", ["line", "square"], "shape"),
    }

    def compute(slope: float, points: int, shape: str) -> dict[str, float]:
        return {"slope": slope, "points": points, "power": 1.0 if shape == "line" else 2.0}

    def update(fig: go.Figure, r: dict[str, float]) -> None:
        x = np.linspace(0, 1, int(r["points"]))
        fig.update_traces(x=x, y=r["slope"] * x ** r["power"], selector={"name": "curve"})
        fig.layout.title.text = f"slope {r['slope']:.2f}"

    fig = go.Figure(go.Scatter(name="curve", x=[0, 1], y=[0, 1]))
    return LivePanel(controls, compute, update, fig, key=key)


def test_grid_keeps_every_option_and_fits_the_budget() -> None:
    panel = _panel()
    grid = control_grid(panel.controls, budget=20)
    sizes = {c.name: len(c.values) for c in grid}
    assert sizes["shape"] == 2  # every dropdown option
    assert np.prod(list(sizes.values())) <= 20 + 2  # the current value may add one position
    for c in grid:  # the current view is always one of the frames
        assert panel.controls[c.name].value == c.values[c.current]
    slope = next(c for c in grid if c.name == "slope")
    assert slope.values[0] == 0.0 and slope.values[-1] == 2.0  # the range's ends
    panel.close()


def test_frames_equal_what_the_live_panel_draws_at_that_state() -> None:
    panel = _panel("toy-frames")
    fig = static_figure(panel, budget=12)
    meta = fig.layout.meta["alignkit"]
    assert len(fig.frames) == len(meta["frames"]) >= 4
    names = [c["name"] for c in meta["controls"]]
    grid = {c.name: c for c in control_grid(panel.controls, budget=12)}
    frame = fig.frames[-1]  # independent route: move the live panel there and compare
    idx = [int(i) for i in frame.name.split("-")]
    panel.set_state(**{n: grid[n].values[i] for n, i in zip(names, idx, strict=True)})
    panel.flush()
    live = panel.figure.data[0]
    np.testing.assert_allclose(_array(frame.data[0].y), np.asarray(live.y), rtol=1e-6)
    assert frame.layout.title.text == panel.figure.layout.title.text
    panel.close()


def test_html_carries_the_frame_script_and_no_plotly_js() -> None:
    panel = _panel("toy-html")
    page = static_html(static_figure(panel, budget=6))
    assert "data-alignkit-static='toy-html'" in page
    assert "plotly_sliderchange" in page and "history.replaceState" in page
    assert "cdn.plot.ly" not in page and len(page) < 200_000  # plotly.js is the page's, once
    panel.close()


def test_static_figure_json_round_trips() -> None:
    panel = _panel("toy-json")
    fig = static_figure(panel, budget=4)
    again = go.Figure(json.loads(fig.to_json()))
    assert len(again.frames) == len(fig.frames)
    panel.close()


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"budget": 0}, "budget"), ({"max_seconds": float("nan")}, "max_seconds"),
     ({"max_bytes": 5}, "max_bytes"), ({"budget": 2.5}, "budget")],
)  # fmt: skip
def test_bad_options_name_the_argument(kwargs: dict[str, object], name: str) -> None:
    panel = _panel(f"toy-bad-{name}")
    with pytest.raises((ValueError, TypeError), match=name):
        static_figure(panel, **kwargs)  # type: ignore[arg-type]
    panel.close()


def test_float32_frames_keep_float64_where_values_would_overflow() -> None:
    """A diverging run's 1e300 stays float64 (no silent inf, no overflow warning)."""
    import warnings

    from alignkit.static import _as_float32

    def packed(values: list[float]) -> dict[str, str]:
        raw = np.asarray(values, dtype="<f8").tobytes()
        return {"dtype": "f8", "bdata": base64.b64encode(raw).decode()}

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        huge = packed([1.0, 1e300, float("inf")])
        assert _as_float32(huge) == huge
        floor = packed([1.0, 1e-300])  # a log axis's floor: float32 would flush it to 0
        assert _as_float32(floor) == floor
        small = _as_float32(packed([1.0, float("nan"), 3.0]))
    assert small["dtype"] == "f4"
    np.testing.assert_array_equal(_array(small)[[0, 2]], [1.0, 3.0])


def test_a_page_names_the_controls_it_holds_fixed() -> None:
    """A budget too small for every control leaves some out: the note under the figure names
    them with the values its frames use, and the controls it does move."""
    from alignkit.stability.widgets import region_explorer

    panel = region_explorer()
    try:
        fig = static_figure(panel, budget=3)
    finally:
        panel.close()
    meta = fig.layout.meta["alignkit"]
    moved = {c["name"] for c in meta["controls"]}
    assert meta["fixed"] and len(moved) < 4
    page = static_html(fig)
    assert "alignkit-static-note" in page and "held where the notebook set" in page
    for description, value in meta["fixed"]:
        assert f"{description} = {value}" in page
    assert fig.layout.width is None and fig.layout.autosize  # as wide as the column


def test_the_byte_budget_counts_a_frames_picture(monkeypatch: pytest.MonkeyPatch) -> None:
    """A frame of the fit explorer carries its landscape's picture (a layout image) besides
    its data: the byte budget must count both, so the frames' pictures and data together
    stay within ``max_bytes``."""
    from alignkit.divergences.widgets import fit_explorer

    monkeypatch.setenv("ALIGNKIT_FAST", "1")
    panel = fit_explorer()
    try:
        fig = static_figure(panel, max_bytes=150_000)
    finally:
        panel.close()
    from alignkit.static import _as_float32  # the frames' encoding

    data = sum(
        len(go.Figure(data=_as_float32(go.Figure(data=f.data).to_dict()["data"])).to_json())
        for f in fig.frames
    )
    pictures = sum(len(i.source) for f in fig.frames for i in (f.layout.images or ()))
    assert pictures > 0 and len(fig.frames) >= 2
    assert data + pictures <= 150_000, (len(fig.frames), data, pictures)


def test_every_frame_carries_every_layout_key_that_varies() -> None:
    """plotly.js merges a frame's layout into the drawn one: a frame equal to the first in
    some key must still carry it, or going back to it keeps another frame's value (the
    Lyapunov explorer's circle, on flat axes, under the hidden axes and the scene of a
    manifold in R³)."""
    from alignkit.manifold.widgets import lyapunov_explorer

    panel = lyapunov_explorer()
    try:
        fig = static_figure(panel, budget=12)
    finally:
        panel.close()
    keys = {frozenset(f.layout.to_plotly_json()) for f in fig.frames}
    assert len(keys) == 1 and {"xaxis", "scene", "title"} <= next(iter(keys))
    flat = [f for f in fig.frames if "circle2d" in f.layout.title.text]
    solid = [f for f in fig.frames if "circle2d" not in f.layout.title.text]
    assert flat and solid
    assert all(f.layout.xaxis.visible is True and f.layout.scene.domain.x[1] < 0.01 for f in flat)
    assert all(f.layout.xaxis.visible is False and f.layout.scene.domain.x[1] > 0.2 for f in solid)
