"""apply_traces sends only what changed, and long arrays as float32 where nothing is lost."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from alignkit import plotting
from alignkit._traces import LEAN_MIN_SIZE, changed_props, lean
from alignkit.plotting import apply_traces


def _widget() -> tuple[go.FigureWidget, list[Any]]:
    fig = go.FigureWidget(
        [go.Scatter(name="a", x=[0.0, 1.0], y=[0.0, 1.0]), go.Scatter(name="b", x=[0.0], y=[0.0])]
    )
    sent: list[Any] = []

    def record(restyle_data: Any, relayout_data: Any, trace_indexes: Any = None, **_: Any) -> None:
        sent.append((restyle_data, relayout_data, trace_indexes))

    fig._send_update_msg = record  # type: ignore[method-assign]
    return fig, sent


def _apply(fig: go.FigureWidget, traces: dict[str, dict[str, object]]) -> None:
    with fig.batch_update():
        apply_traces(fig, traces)


def test_only_changed_traces_and_layout_are_sent() -> None:
    fig, sent = _widget()
    x = np.linspace(0, 1, 5)
    traces = {
        "a": {"x": x, "y": x**2},
        "b": {"x": x, "y": -x, "marker": {"color": "red"}},
        "_layout": {"title.text": "t1"},
    }
    _apply(fig, traces)
    assert len(sent) == 1 and sent[0][2] == [0, 1] and sent[0][1] == {"title.text": "t1"}
    _apply(fig, {k: dict(v) for k, v in traces.items()})  # equal values, new arrays
    assert len(sent) == 1, "an update with nothing new sent a message"
    _apply(fig, {**traces, "b": {"x": x, "y": x, "marker": {"color": "red"}}})
    restyle, relayout, idx = sent[-1]
    assert len(sent) == 2 and idx == [1] and set(restyle) == {"y"} and not relayout
    np.testing.assert_array_equal(fig.data[1].y, x)
    _apply(fig, {"_layout": {"title.text": "t2"}, "b": {"marker": {"color": "blue"}}})
    assert sent[-1][1] == {"title.text": "t2"} and fig.data[1].marker.color == "blue"


def test_compares_with_what_the_figure_holds_now() -> None:
    fig, sent = _widget()
    _apply(fig, {"a": {"y": [5.0, 6.0]}})
    fig.data[0].y = [0.0, 0.0]  # changed behind apply_traces' back (other code, a browser edit)
    _apply(fig, {"a": {"y": [5.0, 6.0]}})
    assert list(fig.data[0].y) == [5.0, 6.0]
    assert changed_props(fig.data[0], {"y": [5.0, 6.0], "x": [0.0, 1.0]}) == {}
    assert changed_props(fig.data[0], {"y": [5.0, float("nan")]}) != {}
    assert changed_props(fig.layout, {"no_such_thing": 1}) == {"no_such_thing": 1}


def test_lean_arrays_are_float32_only_where_nothing_visible_is_lost() -> None:
    n = LEAN_MIN_SIZE
    wide = np.linspace(-3.0, 3.0, n)
    assert lean(wide).dtype == np.float32
    np.testing.assert_allclose(lean(wide), wide, rtol=1e-7, atol=1e-7)
    assert lean(torch.linspace(0, 1, n, dtype=torch.float64)).dtype == np.float32
    with_gaps = np.r_[wide[:-2], np.nan, np.inf]
    assert lean(with_gaps).dtype == np.float32  # gaps stay gaps
    assert np.isnan(lean(with_gaps)[-2]) and np.isinf(lean(with_gaps)[-1])
    tiny = np.full(n, 1e-300)  # a log axis floor: float32 would make it 0
    assert lean(tiny).dtype == np.float64
    assert lean(np.full(n, 1e40)).dtype == np.float64
    assert lean(wide[: n - 1]).dtype == np.float64  # short: a few bytes, keep exact
    assert lean([1.0, 2.0]) == [1.0, 2.0] and lean("x") == "x"
    fig, sent = _widget()
    _apply(fig, {"a": {"x": wide, "y": wide}})
    assert fig.data[0].y.dtype == np.float32
    _apply(fig, {"a": {"x": wide, "y": wide}})  # float64 again: equal after lean, not resent
    assert len(sent) == 1


def test_changed_props_walks_into_a_layout_images_list() -> None:
    """``images[0].source`` resolves on the figure's plain layout dict: an unchanged picture
    is not sent again, a new one is (and plotly records it as that image's edit)."""
    fig = go.FigureWidget()
    fig.add_layout_image(source="data:image/png;base64,AAAA", x=0, y=1, sizex=1, sizey=1)
    raw = fig._layout
    assert changed_props(raw, {"images[0].source": "data:image/png;base64,AAAA"}) == {}
    assert changed_props(raw, {"images[0].x": 0.5}) == {"images[0].x": 0.5}
    with fig.batch_update():
        apply_traces(fig, {"_layout": {"images[0].x": 0.5, "images[0].y": 1}})
        assert dict(fig._batch_layout_edits) == {"images.0.x": 0.5}
    assert fig.layout.images[0].x == 0.5


def _edits(fig: go.FigureWidget, assign: Any, obj: Any, changed: dict[str, Any]) -> Any:
    """What ``assign(obj, changed)`` records in a batch (then dropped, the figure unchanged)."""
    fig._in_batch_mode = True
    try:
        assign(obj, changed)
        return copy.deepcopy((dict(fig._batch_trace_edits), dict(fig._batch_layout_edits)))
    finally:
        fig._in_batch_mode = False
        fig._batch_trace_edits.clear()
        fig._batch_layout_edits.clear()


def test_fast_assignment_records_what_plotly_update_records() -> None:
    """In a batch, ``_assign`` sets attributes where ``update`` would parse paths: the same
    edits for values, dotted paths and a new array; dicts and lists of dicts still merge
    (``update``'s way, keeping the marker's size and the annotation's text); a magic
    underscore works; a bad property or value is plotly's own ValueError, naming it."""
    fig = go.FigureWidget([go.Scatter(name="a", x=[0.0], y=[0.0], marker={"size": 9})])
    fig.update_layout(annotations=[{"text": "keep", "x": 0, "y": 0}], title={"text": "t"})
    trace = fig.data[0]
    x = np.linspace(0, 1, 300, dtype=np.float32)
    cases = [
        (trace, {"x": x, "y": [1.0, 2.0], "marker.color": [0.5, 0.7], "visible": True}),
        (trace, {"marker": {"color": "red"}, "text": ["p", "q"]}),  # a dict merges
        (fig.layout, {"title.text": "new", "xaxis.range": [0.0, 2.0], "title_font_size": 9}),
        (fig.layout, {"annotations": [{"x": 1}], "meta": {"ranges": [1]}}),  # merged elementwise
    ]
    for obj, changed in cases:
        plain = _edits(fig, lambda o, c: o.update(c), obj, changed)
        fast = _edits(fig, plotting._assign, obj, changed)
        assert plain[1].keys() == fast[1].keys() and plain[0].keys() == fast[0].keys()
        pairs = zip(plain[0].values(), fast[0].values(), strict=True)
        for mine, theirs in ((plain[1], fast[1]), *pairs):
            assert list(mine) == list(theirs)  # the same keys, in the same order
            for key in mine:
                np.testing.assert_equal(np.asarray(theirs[key], dtype=object),
                                        np.asarray(mine[key], dtype=object))  # fmt: skip
    merged = _edits(fig, plotting._assign, fig.layout, {"annotations": [{"x": 1}]})
    assert merged[1] == {"annotations.0.x": 1}  # the annotation's text stays
    marker = _edits(fig, plotting._assign, trace, {"marker": {"color": "red"}})
    assert marker[0] == {0: {"marker.color": "red"}}  # the marker's size stays
    for obj, bad, named in (
        (trace, {"nonsense": 1}, "nonsense"),
        (trace, {"marker.size": "big"}, "size"),
        (fig.layout, {"xaxis.rnage": [0, 1]}, "rnage"),
    ):
        fig._in_batch_mode = True
        try:
            with pytest.raises(ValueError, match=named):
                plotting._assign(obj, bad)
        finally:
            fig._in_batch_mode = False
            fig._batch_trace_edits.clear()
            fig._batch_layout_edits.clear()


def test_fast_assignment_outside_a_batch_sends_one_message() -> None:
    fig, sent = _widget()
    plotting._assign(fig.data[0], {"x": [1.0, 2.0], "y": [3.0, 4.0], "marker.color": "red"})
    assert len(sent) == 1 and set(sent[0][0]) == {"x", "y", "marker.color"}


def test_fast_assignment_leaves_to_update_what_update_treats_its_own_way() -> None:
    """Compound arrays given as plotly objects, [] or None (update merges them or leaves
    them), a key starting with "_" (update refuses it), and a bad key after good ones
    (update records nothing before it raises): the same edits, or the same error with
    nothing recorded, as ``update``."""

    def figure() -> go.FigureWidget:
        fig = go.FigureWidget([go.Scatter(name="a", x=[0.0], y=[0.0])])
        fig.update_layout(
            annotations=[{"text": t, "x": 0, "y": 0} for t in "ABC"],
            shapes=[{"type": "line", "x0": 0, "x1": 1, "y0": 0, "y1": 1}],
        )
        return fig

    cases = [
        ("layout", {"annotations": []}),
        ("layout", {"annotations": None}),
        ("layout", {"annotations": [go.layout.Annotation(text="Z")]}),
        ("layout", {"shapes": [go.layout.Shape(type="rect", x0=0, x1=2, y0=0, y1=2)]}),
        ("trace", {"marker": go.scatter.Marker(color="red"), "y": [1.0]}),
    ]
    for where, changed in cases:
        got, want = figure(), figure()
        edits = [
            _edits(f, assign, f.layout if where == "layout" else f.data[0], changed)
            for f, assign in ((got, plotting._assign), (want, lambda o, c: o.update(c)))
        ]
        assert repr(edits[0]) == repr(edits[1]), changed
    for bad in ({"_bogus": 1}, {"x": [1.0, 2.0], "bogus": 3}):
        fig = figure()
        fig._in_batch_mode = True
        try:
            with pytest.raises(ValueError, match="bogus"):
                plotting._assign(fig.data[0], bad)
            assert not fig._batch_trace_edits and not fig._batch_layout_edits
        finally:
            fig._in_batch_mode = False
