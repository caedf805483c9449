"""The panel's cheap redraw path draws exactly what a full redraw draws (plotly.js, Chromium).

:class:`alignkit.live.redraw.Sender` sends an update either as plotly's animate without
redraw (only the changed points move) or as a full update. The first is exact only under
the conditions in its docstring; these tests check the outcome, not the conditions. Every
explorer of every theme is built, every visible control is moved (its first slider over
several presses, each other control to a neighbouring value; for the explorers whose
slider moves points, also seeded random walks over all controls) and every message the
FigureWidget sends is recorded. In headless Chromium the recorded messages are replayed
on the initial figure with the calls plotly's widget makes (``Plotly.update``,
``Plotly.animate``, ``Plotly.relayout``); the result is compared with a fresh
``Plotly.newPlot`` of the panel's figure after every press that took the cheap path (a
later full redraw would mend what it drew wrong) and at the end: the axis ranges, tick
labels, subplot titles, hover texts, heatmap images and colour-bar labels must be equal,
and every trace's drawn paths and points, the axis titles and colour-bar labels the same
shapes at the same places (to within plotly's own
1 px layout tolerance, see :data:`PX`); the caption (drawn over plotly's hidden title,
which the cheap path does not send) must show the final figure's title.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go
import pytest
from jupyterlab_driver import PLOTLY_JS
from plotly.basedatatypes import Undefined
from plotly.io.json import to_json_plotly
from test_explorer_contract import EXPLORERS

from alignkit.live import LivePanel
from alignkit.live.messages import MESSAGE_TRAITS
from alignkit.live.redraw import Sender
from alignkit.live.view import caption_color, caption_html

SLIDERS = (W.IntSlider, W.FloatSlider, W.FloatLogSlider, W.SelectionSlider)
MESSAGES = MESSAGE_TRAITS  # plotly.py's message traits
#: explorers whose first slider must move points only (scatter/bar traces, no heatmap,
#: contour or 3-D scene); the others redraw the figure for that slider.
POINTS_FIRST_SLIDER = {
    "gd_explorer",
    "region_explorer",
    "threshold_explorer",
    "simulation_explorer",
    "escape_explorer",
    "sweep_explorer",
    "alignment_explorer",
    "sampling_explorer",  # (its default manifold is a circle of the plane: flat axes)
}


def _plain(obj: Any) -> Any:
    """JSON-ready message: plotly's Undefined (leave as is) becomes a marker for JS."""
    if obj is Undefined:
        return "__undef__"
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def _neighbour(widget: W.ValueWidget, up: bool = True) -> Any:
    """The value one keyboard press away (bouncing off the ends)."""
    if isinstance(widget, (W.SelectionSlider, W.Dropdown)):
        n = len(widget.options)
        j = widget.index + (1 if up else -1)
        j = j if 0 <= j < n else widget.index - (1 if up else -1)
        opt = widget.options[j]
        return opt[1] if isinstance(opt, tuple) else opt
    if isinstance(widget, W.FloatLogSlider):
        import math

        e = math.log(widget.value, widget.base) + (widget.step if up else -widget.step)
        e = e if widget.min <= e <= widget.max else e - 2 * (widget.step if up else -widget.step)
        return widget.base**e
    if isinstance(widget, W.Checkbox):
        return not widget.value
    step = widget.step if up else -widget.step
    v = widget.value + step
    return v if widget.min <= v <= widget.max else widget.value - step


def _scripted_moves(panel: LivePanel[Any]) -> list[tuple[str, bool]]:
    """The first slider over several presses, then each other control once."""
    visible = [k for k, w in panel.controls.items() if w.layout.display != "none"]
    sliders = [k for k in visible if isinstance(panel.controls[k], SLIDERS)]
    moves = [(sliders[0], True)] * 4 + [(sliders[0], False)] * 2 if sliders else []
    return moves + [(k, True) for k in visible if not sliders or k != sliders[0]]


def _random_moves(panel: LivePanel[Any], seed: int, n: int = 25) -> list[tuple[str, bool]]:
    """``n`` presses, mostly of sliders, each a random control (of those shown) and way."""
    rng = np.random.default_rng(seed)
    visible = [k for k, w in panel.controls.items() if w.layout.display != "none"]
    sliders = [k for k in visible if isinstance(panel.controls[k], SLIDERS)] or visible
    pools = [sliders if rng.random() < 0.8 else visible for _ in range(n)]
    return [(str(rng.choice(pool)), bool(rng.random() < 0.5)) for pool in pools]


def _record(
    panel: LivePanel[Any], moves: list[tuple[str, bool]] | None = None
) -> tuple[dict, list[dict], dict]:
    fig = panel.figure
    initial = json.loads(to_json_plotly(fig.to_dict()))
    sent: list[dict] = []

    def keep(change: dict) -> None:
        if change["new"] is not None:
            sent.append(
                {"kind": change["name"], "msg": json.loads(to_json_plotly(_plain(change["new"])))}
            )

    fig.observe(keep, names=list(MESSAGES))
    for name, up in _scripted_moves(panel) if moves is None else moves:
        w = panel.controls[name]
        if w.layout.display == "none" or getattr(w, "disabled", False):
            continue
        w.value = _neighbour(w, up)
        panel.flush()  # playwright's loop is the running one here: compute now
        assert panel.error is None, (name, panel.error)
        if panel.redraw.paths[-1] == "points":
            # a checkpoint: the replay is compared with a fresh drawing after every cheap
            # press (a later full redraw would hide what it drew wrong)
            state = json.loads(to_json_plotly(fig.to_dict()))
            move = f"{name} {'up' if up else 'down'}"
            sent.append({"kind": "press", "msg": {"move": move, "state": state}})
    fig.unobserve(keep, names=list(MESSAGES))
    return initial, sent, json.loads(to_json_plotly(fig.to_dict()))


def _messages(sent: list[dict]) -> list[dict]:
    """The recorded messages without the press checkpoints."""
    return [m for m in sent if m["kind"] != "press"]


_REPLAY_JS = """async ([initial, sent, final]) => {
  const fix = v => v === "__undef__" ? undefined
    : Array.isArray(v) ? v.map(fix)
    : (v && typeof v === 'object' && !v.dtype)
      ? Object.fromEntries(Object.entries(v).map(([k, e]) => [k, fix(e)]))
    : v;
  const a = document.getElementById('a'), b = document.getElementById('b');
  Plotly.purge(a); Plotly.purge(b);
  const snap = el => {
    const fl = el._fullLayout, axes = {};
    for (const k of Object.keys(fl))
      if (/^[xy]axis\\d*$/.test(k)) axes[k] = fl[k].range.map(v => +(+v).toPrecision(9));
    const q = s => Array.from(el.querySelectorAll(s));
    return {
      axes,
      paths: q('.cartesianlayer .trace path').map(e => (e.getAttribute('d') || '')
        .replace(/\\d+\\.\\d{3,}/g, s => (+s).toFixed(2))),
      points: q('.cartesianlayer .trace .point')
        .map(e => e.getAttribute('transform') || e.getAttribute('d') || ''),
      fills: q('.cartesianlayer .trace .point').map(e => e.style.fill),  // per-point colours
      texts: q('.cartesianlayer .textpoint text').map(e => e.textContent),  // drawn text
      textPlaces: q('.cartesianlayer .textpoint text')
        .map(e => ['x', 'y', 'transform'].map(k => e.getAttribute(k)).join(' ')),
      images: q('image').map(e => e.getAttribute('href')),  // heatmaps, layout images
      boxes: q('image').map(e => ['x', 'y', 'width', 'height'].map(k => +e.getAttribute(k))),
      bars: q('.colorbar text').map(e => e.textContent),  // colour bars' labels
      barPlaces: q('.colorbar text').map(e => {  // and where they are drawn
        const r = e.getBoundingClientRect(), o = el.getBoundingClientRect();
        return `${e.textContent} ${(r.x - o.x).toFixed(1)} ${(r.y - o.y).toFixed(1)}`;
      }),
      // each axis layer's labels (d3 appends a tick new to an axis: the order is not drawn)
      ticks: q('.xtick text, .ytick text').map(e => e.closest('g.subplot').getAttribute('class')
        + ' ' + e.parentNode.parentNode.getAttribute('class') + ' ' + e.textContent).sort(),
      // the axis titles' places (plotly moves a title off the tick labels it would cover)
      axisTitles: q('g[class^="g-x"] text, g[class^="g-y"] text').map(e => e.textContent + ' '
        + ['x', 'y', 'transform'].map(k => e.getAttribute(k)).join(' ')),
      hover: el._fullData.map(t => [t.text, t.hovertext, t.customdata]),  // what hover shows
      titles: q('.annotation-text').map(e => e.textContent),  // (the title: the caption)
    };
  };
  await Plotly.newPlot(a, initial.data, initial.layout);
  const presses = [];
  for (const {kind, msg} of sent) {
    if (kind === 'press') {  // a checkpoint: this press's drawing against a fresh one
      Plotly.purge(b);  // (a 3-D scene's WebGL context freed: Chromium keeps but a few)
      await Plotly.newPlot(b, msg.state.data, msg.state.layout);
      presses.push([msg.move, snap(a), snap(b)]);
      continue;
    }
    const m = fix(msg);
    if (kind === '_py2js_update')
      await Plotly.update(a, m.style_data || {}, m.layout_data || {}, m.style_traces);
    else if (kind === '_py2js_animate')
      await Plotly.animate(a, {data: m.style_data, layout: m.layout_data, traces: m.style_traces},
                           m.animation_opts);
    else if (kind === '_py2js_relayout') await Plotly.relayout(a, m.relayout_data);
    else await Plotly.restyle(a, m.restyle_data, m.restyle_traces);
  }
  await Plotly.newPlot(b, final.data, final.layout);
  return [snap(a), snap(b), presses];
}"""


@pytest.fixture(scope="module")
def page(browser: Any) -> Any:
    pg = browser.new_page()
    pg.set_viewport_size({"width": 1400, "height": 1000})
    pg.set_content("<html><body><div id='a'></div><div id='b'></div></body></html>")
    pg.add_script_tag(path=str(PLOTLY_JS))
    yield pg
    pg.close()


#: plotly.js re-lays the frame after a full update only when a margin moves by more than a
#: pixel (``Plots.didMarginChange``); a 1 px move of an automargin (new tick labels) is
#: kept in ``_size`` but not drawn, so a full update can leave the plot area 1 px from a
#: fresh drawing's, and the points path then keeps drawing in that area.
PX = 1.0
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")


def _same_geometry(replayed: list[str], fresh: list[str]) -> bool:
    """The same drawing commands, every coordinate within :data:`PX` pixels."""
    if len(replayed) != len(fresh):
        return False
    for a, b in zip(replayed, fresh, strict=True):
        if _NUMBER.sub("#", a) != _NUMBER.sub("#", b):
            return False
        xa = np.array(_NUMBER.findall(a), dtype=float)
        xb = np.array(_NUMBER.findall(b), dtype=float)
        if xa.shape != xb.shape or not np.all(np.abs(xa - xb) <= PX):
            return False
    return True


def _assert_same_drawing(replayed: dict, fresh: dict, where: str) -> None:
    assert fresh["paths"], "no trace drawn: the snapshot's selectors find nothing"
    for part in ("axes", "titles", "ticks", "hover", "images", "bars", "fills", "texts"):
        assert replayed[part] == fresh[part], f"{part} differ {where}"
    assert np.allclose(replayed["boxes"], fresh["boxes"], atol=PX, rtol=0), f"images moved {where}"
    for part in ("points", "paths", "axisTitles", "barPlaces", "textPlaces"):
        assert _same_geometry(replayed[part], fresh[part]), f"{part} differ {where}"


def _assert_replay_draws_fresh(page: Any, initial: dict, sent: list[dict], final: dict) -> None:
    """The replay equals a fresh drawing after every press (``_record``'s checkpoints) and at
    the end."""
    replayed, fresh, presses = page.evaluate(_REPLAY_JS, [initial, sent, final])
    for k, (move, a, b) in enumerate(presses):
        _assert_same_drawing(a, b, f"after press {k + 1} ({move})")
    _assert_same_drawing(replayed, fresh, f"after {len(_messages(sent))} messages")


@pytest.mark.browser
@pytest.mark.parametrize(("name", "explorer"), EXPLORERS, ids=[n for n, _ in EXPLORERS])
def test_cheap_redraws_draw_what_a_full_redraw_draws(name: str, explorer: Any, page: Any) -> None:
    panel = explorer()
    try:
        initial, sent, final = _record(panel)
    finally:
        panel.close()
    assert _messages(sent), "moving the controls sent nothing"
    _assert_replay_draws_fresh(page, initial, sent, final)
    # a live panel's title is its caption (plotly's own title is hidden and not sent)
    title = final["layout"]["title"]
    assert panel.caption.value == caption_html(title["text"], title.get("font", {}).get("size"))
    short = name.split(".")[-1]
    animates = sum(m["kind"] == "_py2js_animate" for m in sent)
    if short in POINTS_FIRST_SLIDER:
        assert panel.redraw.paths[1:5].count("points") >= 3, panel.redraw.paths
        assert animates >= 3


def _array(value: Any) -> np.ndarray:
    """A plotly JSON array: a list, or plotly's typed array ``{"dtype", "bdata"}``."""
    if isinstance(value, dict):
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).astype(float)
    return np.asarray(value, dtype=float)


@pytest.mark.browser
def test_recoloured_points_draw_what_a_full_redraw_draws(page: Any) -> None:
    """ε moves of the sampling explorer on a circle of the plane recolour its samples (their
    distance) inside the animate: the replay's point colours are a fresh drawing's."""
    from alignkit.manifold.widgets import sampling_explorer

    panel = sampling_explorer(perturbation="endpoint", eps=0.5)  # (distances move with ε)
    try:
        initial, sent, final = _record(panel, [("eps", True), ("eps", False), ("eps", False)])
        paths = panel.redraw.paths
    finally:
        panel.close()
    assert paths[-2:] == ["points"] * 2, paths  # (the first may move the density's pin)
    # the colours the last full drawing had (the build's, or a full update's) are not the
    # final ones: only the animates can have recoloured the points
    index = [t.get("name") for t in final["data"]].index("samples")
    sent_colours = _array(initial["data"][index]["marker"]["color"])
    for m in [m["msg"] for m in sent if m["kind"] == "_py2js_update"][-1:]:
        sent_colours = _array(m["style_data"]["marker.color"][m["style_traces"].index(index)])
    final_colours = _array(final["data"][index]["marker"]["color"])
    assert sent_colours.shape == final_colours.shape and sent_colours.size > 100
    assert np.abs(sent_colours - final_colours).max() > 0.05
    _assert_replay_draws_fresh(page, initial, sent, final)


#: explorers whose first slider redraws the figure but other controls move points (the
#: fit explorers' pictures: a new target moves the axes, a new start does not)
POINTS_OTHER_CONTROLS = {"fit_explorer", "fit_2d_explorer"}
WALKERS = [
    (n, e) for n, e in EXPLORERS if n.split(".")[-1] in POINTS_FIRST_SLIDER | POINTS_OTHER_CONTROLS
]


@pytest.mark.browser
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(("name", "explorer"), WALKERS, ids=[n for n, _ in WALKERS])
def test_random_walks_redraw_what_a_full_redraw_draws(
    name: str, explorer: Any, seed: int, page: Any
) -> None:
    """25 presses of random controls, mixing both paths (a walk of sweep once emptied a
    trace in a full update, then picked it to keep its subplot in the frame)."""
    panel = explorer()
    try:
        initial, sent, final = _record(panel, _random_moves(panel, seed))
        paths = panel.redraw.paths
    finally:
        panel.close()
    assert "points" in paths, paths
    _assert_replay_draws_fresh(page, initial, sent, final)


_FRAME_JS = """async (full) => {
  const a = document.getElementById('a');
  Plotly.purge(a);
  await Plotly.newPlot(a, [{x: [0, 1], y: [1, 2]}, {x: [0, 1], y: [3, 4], xaxis: 'x2', yaxis: 'y2'},
                           {type: 'bar', x: [0, 1], y: [1, 1]}],
                       {xaxis: {domain: [0, .4], range: [-1, 2]}, yaxis: {range: [0, 5]},
                        xaxis2: {domain: [.6, 1], range: [-1, 2]},
                        yaxis2: {range: [0, 5], anchor: 'x2'}});
  const frame = full ? {data: [{y: [2, 3]}, {}, {}], traces: [0, 1, 2]}
                     : {data: [{y: [2, 3]}], traces: [0]};
  await Plotly.animate(a, frame, {transition: {duration: 0}, frame: {duration: 0, redraw: false}});
  return a.querySelectorAll('.cartesianlayer .trace').length;
}"""


@pytest.mark.browser
def test_plotly_animate_keeps_only_the_frames_traces(page: Any) -> None:
    """The premise of ``Sender._frame``: plotly.js's animate without redraw drops the drawn
    traces a frame leaves out (here a scatter on another subplot and a bar on the same
    one); with empty edits for them, all three stay."""
    assert page.evaluate(_FRAME_JS, False) == 1
    assert page.evaluate(_FRAME_JS, True) == 3


@pytest.mark.browser
def test_fit_landscape_axes_are_what_plotly_autoranges(page: Any) -> None:
    """The fit figure fixes its landscape's axes (so moving the start moves points only)
    and draws the landscape as a picture over them: both must equal plotly's own autorange
    of the same values drawn as a heatmap (its cells' outer edges)."""
    from alignkit.divergences.plots import plot_fit
    from alignkit.divergences.views import fit_view

    view = fit_view()
    fig = json.loads(to_json_plotly(plot_fit(view).to_dict()))
    fixed = [fig["layout"][k]["range"] for k in ("xaxis2", "yaxis2")]
    image = fig["layout"]["images"][0]
    placed = [[image["x"], image["x"] + image["sizex"]], [image["y"] - image["sizey"], image["y"]]]
    for k in ("xaxis2", "yaxis2"):
        del fig["layout"][k]["range"]
    del fig["layout"]["images"]
    cells = {"type": "heatmap", "x": view.mus.tolist(), "y": view.sigmas.tolist(),
             "z": view.log_values.tolist(), "xaxis": "x2", "yaxis": "y2"}  # fmt: skip
    fig["data"] = [cells]
    auto = page.evaluate(
        """async (fig) => {
          const a = document.getElementById('a'); Plotly.purge(a);
          await Plotly.newPlot(a, fig.data, fig.layout);
          return [a._fullLayout.xaxis2.range, a._fullLayout.yaxis2.range];
        }""",
        fig,
    )
    assert np.allclose(fixed, auto, rtol=1e-5, atol=1e-6), (fixed, auto)
    assert np.allclose(placed, auto, rtol=1e-5, atol=1e-6), (placed, auto)


def test_fit_landscape_keeps_a_users_zoom_while_the_start_moves() -> None:
    from alignkit.divergences.widgets import fit_explorer

    panel = fit_explorer()
    try:
        fig = panel.figure
        fig.layout.xaxis2.range = [0.0, 1.0]  # as a zoom in the browser sets it
        panel.controls["init_mean"].value = _neighbour(panel.controls["init_mean"])
        panel.flush()
        assert panel.error is None and fig.layout.xaxis2.range == (0.0, 1.0)
        panel.controls["n_modes"].value = _neighbour(panel.controls["n_modes"])
        panel.flush()  # a new landscape: its own extent again
        assert fig.layout.xaxis2.range != (0.0, 1.0)
        assert list(fig.layout.xaxis2.range) == fig.layout.meta["ranges"][0]
    finally:
        panel.close()


def test_sender_picks_the_path() -> None:
    """Points for scatter x/y under pinned axes, every drawn trace in the frame; a full
    update for anything else."""
    fig = go.FigureWidget(
        [
            go.Scatter(x=[0, 1, 2], y=[1, 2, 3]),
            go.Scatter(x=[0, 1], y=[5, 6], xaxis="x2", yaxis="y2"),
            go.Scatter(x=[0, 1], y=[0, 0], visible=False),
        ],
        layout={"xaxis2": {"domain": [0.6, 1]}, "xaxis": {"domain": [0, 0.4]}},
    )
    s = Sender(fig)
    assert s.pinned["xaxis"] == [0.0, 2.0] and s.pinned["yaxis"] == [0.9, 3.1]
    frames: list[dict] = []
    fig.observe(lambda c: c["new"] and frames.append(c["new"]), names=["_py2js_animate"])

    def move(y: list[float]) -> None:
        fig.data[0].y = y
        fig.layout.title.text = f"max {max(y)}"

    assert s.send(lambda: move([1.5, 2.0, 2.5])) == "points"  # inside, over half the range
    assert fig.layout.yaxis.range == (0.9, 3.1) and fig.layout.title.text == "max 2.5"
    # plotly.js redraws each subplot from the frame's traces alone: the unchanged trace
    # on the other subplot goes too (no data), the hidden one does not
    assert frames[-1]["style_traces"] == [0, 1]
    assert frames[-1]["style_data"][1] == {} and list(frames[-1]["style_data"][0]) == ["y"]
    assert s.send(lambda: move([1.0, 2.0, 9.0])) == "figure"  # left the range: re-pinned
    # the top moves to the padded data and half their span more; the bottom (still
    # under the data) stays
    assert fig.layout.yaxis.range == (0.9, 13.8)
    assert s.send(lambda: move([2.0, 2.1, 2.2])) == "figure"  # shrank under an eighth: re-pinned
    assert fig.layout.yaxis.range == (1.88, 2.32)  # padded, and half their span spare
    assert s.send(lambda: setattr(fig.data[0].line, "color", "red")) == "figure"
    # a colour bar's labels: plotly's animate leaves them as drawn (the fit landscape's key
    # is a text trace instead, alignkit._raster)
    assert s.send(lambda: setattr(fig.data[1].marker.colorbar, "title", "c")) == "figure"
    assert s.send(lambda: None) == "none"
    fig.layout.yaxis.range = [0, 10]  # as a zoom in the browser would set it
    assert s.send(lambda: move([2.0, 3.0, 4.0])) == "points"
    assert "yaxis" not in s.pinned and fig.layout.yaxis.range == (0, 10)


#: a drawn-label trace's text edits: (before, after, x after) and whether the animate may
#: carry them (plotly's animate does not draw a label that was empty or missing before)
LABEL_CASES = [
    (["A", "B", "C"], ["P", "Q", "R"], None, True),
    (["A", "B", "C"], ["P", "Q", "R", "S"], [0, 1, 2, 2.5], True),  # points and labels grow
    (["A", "B", "C"], ["P", "Q"], [0, 1], True),
    ("A", "Z", None, True),  # one label for every point
    (["A", "", "C"], ["A", "B", "C"], None, False),
    (["A", None, "C"], ["A", "B", "C"], None, False),
    (["A", "B"], ["A", "B", "C"], None, False),  # fewer labels than points before
    (["A", "B", "C"], ["A", "", "C"], None, False),
]


@pytest.mark.browser
@pytest.mark.parametrize(("before", "after", "x", "cheap"), LABEL_CASES)
def test_drawn_labels_move_in_the_frame_only_when_animate_draws_them(
    before: Any, after: Any, x: Any, cheap: bool, page: Any
) -> None:
    """A scatter's drawn labels ride in the animate frame only while every label, before
    and after, is a non-empty string, one per point, and the replay then draws what a
    fresh drawing does. Others go as a full update, as before such labels could ride:
    plotly.js 4 draws a label that was empty or missing with neither (its text element
    was removed; checked in Chromium), so the kit's drawn labels are never empty."""
    fig = go.FigureWidget(go.Figure(
        [go.Scatter(x=[0, 1, 2], y=[0, 1, 2], mode="markers+text", text=before,
                    textposition="top center")],
        layout={"xaxis": {"range": [-1, 3]}, "yaxis": {"range": [-1, 3]}, "width": 500,
                "height": 400},
    ))  # fmt: skip
    sender = Sender(fig)
    initial = json.loads(to_json_plotly(fig.to_dict()))
    sent: list[dict] = []
    fig.observe(lambda c: sent.append({"kind": c["name"], "msg": json.loads(
        to_json_plotly(_plain(c["new"])))}) if c["new"] is not None else None,
        names=list(MESSAGES))  # fmt: skip

    def update() -> None:
        if x is not None:
            fig.data[0].update(x=x, y=x)
        fig.data[0].text = after

    path = sender.send(update)
    assert path == ("points" if cheap else "figure")
    if cheap:
        final = json.loads(to_json_plotly(fig.to_dict()))
        _assert_replay_draws_fresh(page, initial, sent, final)


def test_frame_keeps_each_subplot_with_a_trace_plotly_draws() -> None:
    """A subplot without edits keeps its fewest-points trace that has points (plotly skips
    an empty one, and would drop the subplot's layer); a run between edited traces is
    whole; a trace that empties or fills redraws the figure (animate cannot add or
    remove a trace's drawing)."""
    fig = go.FigureWidget(
        [
            go.Scatter(x=[0, 1, 2], y=[1, 2, 3]),
            go.Scatter(x=[], y=[]),
            go.Scatter(x=[0, 1, 2, 3], y=[1, 2, 3, 2]),
            go.Scatter(x=[0, 1], y=[1, 2]),
            go.Scatter(x=[0, 1], y=[5, 6], xaxis="x2", yaxis="y2"),
            go.Bar(x=[0, 1], y=[1, 2], xaxis="x2", yaxis="y2"),
        ],
        layout={
            "xaxis2": {"domain": [0.6, 1]},
            "xaxis": {"domain": [0, 0.4]},
            "yaxis2": {"anchor": "x2"},
        },
    )
    s = Sender(fig)
    frames: list[dict] = []
    fig.observe(lambda c: c["new"] and frames.append(c["new"]), names=["_py2js_animate"])
    assert s.send(lambda: setattr(fig.data[4], "y", [5.5, 6.0])) == "points"
    assert frames[-1]["style_traces"] == [3, 4, 5]  # fewest points with points; every bar
    assert s.send(lambda: (setattr(fig.data[0], "y", [1, 2, 2]),
                           setattr(fig.data[3], "y", [1, 1]))) == "points"  # fmt: skip
    assert frames[-1]["style_traces"] == [0, 2, 3, 4, 5]  # 0 to 3 (1 is not drawn); x2-y2
    assert s.send(lambda: setattr(fig.data[3], "y", [])) == "figure"  # empties
    assert s.send(lambda: setattr(fig.data[1], "y", [2.0])) == "points"  # no x: still empty
    assert s.send(lambda: fig.data[1].update(x=[1.0], y=[2.0])) == "figure"  # fills


def test_a_drawn_heatmap_anywhere_sends_full_updates() -> None:
    """An animate frame would wipe a heatmap (it cannot be animated), even on another
    subplot: its figure's scatter moves redraw the figure; hidden, it does not count."""
    fig = go.FigureWidget(
        [
            go.Scatter(x=[0, 1, 2], y=[1, 2, 3]),
            go.Heatmap(z=[[1, 2], [3, 4]], xaxis="x2", yaxis="y2"),
        ],
        layout={"xaxis2": {"domain": [0.6, 1]}, "xaxis": {"domain": [0, 0.4]}},
    )
    s = Sender(fig)
    assert sorted(s.pinned) == ["xaxis", "yaxis"]  # the heatmap's axes keep plotly's autorange
    assert s.send(lambda: setattr(fig.data[0], "y", [1.5, 2.0, 2.5])) == "figure"
    assert s.send(lambda: setattr(fig.data[1], "z", [[0, 1], [1, 0]])) == "figure"
    assert s.send(lambda: setattr(fig.data[1], "visible", False)) == "figure"
    assert s.send(lambda: setattr(fig.data[0], "y", [1.4, 2.0, 2.5])) == "points"


def test_colours_move_with_the_points_only_on_a_fixed_scale_one_per_point() -> None:
    """marker.color goes in the animate for a colour array on a fixed scale with one colour a
    point; an autoscaled or shared scale, or a wrong count, redraws the figure."""

    def sender(**marker: Any) -> tuple[go.FigureWidget, Sender]:
        fig = go.FigureWidget(
            go.Scatter(
                x=[0, 1, 2], y=[0, 1, 2], mode="markers", marker={"color": [0, 1, 2], **marker}
            ),
            layout={"xaxis": {"range": [-1, 3]}, "yaxis": {"range": [-1, 3]}},
        )
        return fig, Sender(fig)

    fig, s = sender(cmin=0, cmax=2)
    assert s.send(lambda: setattr(fig.data[0].marker, "color", [2, 1, 0])) == "points"
    assert s.send(lambda: setattr(fig.data[0].marker, "color", [2, 1])) == "figure"  # 2 for 3
    for marker in ({}, {"cmin": 0}, {"cmin": 0, "cmax": 2, "cauto": True},
                   {"cmin": 0, "cmax": 2, "coloraxis": "coloraxis"}):  # fmt: skip
        fig, s = sender(**marker)
        assert s.send(lambda f=fig: setattr(f.data[0].marker, "color", [2, 1, 0])) == "figure"


def test_data_back_at_a_pins_own_extent_keep_the_pin() -> None:
    """The pin is the extent rounded to 6 digits; the same data must not count as leaving it."""
    y = [0.06039886639, 0.64048517636]  # its padded extent rounds inward at 6 digits
    fig = go.FigureWidget(go.Scatter(x=[0.0, 1.0], y=y))
    s = Sender(fig)
    pin = list(s.pinned["yaxis"])
    assert s.send(lambda: setattr(fig.data[0], "y", [0.1, 0.5])) == "points"
    assert s.send(lambda: setattr(fig.data[0], "y", y)) == "points"
    assert list(fig.layout.yaxis.range) == pin
    # data inside the pin whose padding is not (a wider span pads more): no re-pin
    assert s.send(lambda: setattr(fig.data[0], "y", [pin[0] + 1e-6, pin[1] - 1e-6])) == "points"
    assert list(fig.layout.yaxis.range) == pin


def test_pins_hold_their_data_and_settle_in_one_redraw() -> None:
    """Pins round outward; a pin that grew past 8x its data shrinks in the same redraw; a
    bar axis keeps zero as its edge."""
    x = np.linspace(0.0, np.pi, 50)  # lines only: no padding on x, pi rounds down at 6 digits
    fig = go.FigureWidget(go.Scatter(x=x, y=np.sin(x), mode="lines"))
    s = Sender(fig)
    assert s.pinned["xaxis"][1] >= np.pi
    assert (
        s.send(lambda: setattr(fig.data[0], "y", 0.5 + 0.4 * np.sin(2 * x))) == "points"
    )  # y inside

    fig = go.FigureWidget(go.Scatter(x=[0.0, 1.0], y=[-100.0, 1.0]))
    s = Sender(fig)
    assert s.send(lambda: setattr(fig.data[0], "y", [7.0, 8.0])) == "figure"
    assert s.send(lambda: setattr(fig.data[0], "y", [7.0, 8.01])) == "points"  # settled

    fig = go.FigureWidget(go.Bar(x=[0, 1, 2], y=[-30.0, 2.0, 3.0]))
    s = Sender(fig)
    assert s.send(lambda: setattr(fig.data[0], "y", [1.0, 2.0, 3.0])) == "figure"
    assert fig.layout.yaxis.range[0] == 0.0  # no room left below the bars' zero


def test_sender_sends_partial_edits_when_update_raises() -> None:
    fig = go.FigureWidget(go.Scatter(x=[0, 1], y=[0, 1]))
    s = Sender(fig)

    def broken() -> None:
        fig.data[0].y = [1, 0]
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        s.send(broken)
    assert tuple(fig.data[0].y) == (1, 0) and not fig._batch_trace_edits


def test_static_frames_autorange_the_pinned_axes() -> None:
    """The site's frames are not updated through the sender: its pins must not reach them."""
    from alignkit.stability.widgets import gd_explorer
    from alignkit.static import static_figure

    panel = gd_explorer()
    try:
        assert panel.redraw.pinned  # the |x_t| panel's axes
        assert all(panel.figure.layout[a].range is not None for a in panel.redraw.pinned)
        static = static_figure(panel, budget=4)
        assert all(static.layout[a].range is None for a in panel.redraw.pinned)
        assert static.layout.xaxis.range == (-2.5, 2.5)  # the explorer's own fixed range stays
    finally:
        panel.close()


def test_caption_keeps_plotly_title_tags_and_escapes_the_rest() -> None:
    assert caption_html("a < b<br>c <b>d</b> <sup>2</sup>", 15) == (
        "<div style='font-size:15px'>a &lt; b<br>c <b>d</b> <sup>2</sup></div>"
    )
    assert caption_html("<script>x</script>", 15).count("<script>") == 0
    assert caption_html(None) == "" and caption_html("") == ""


@pytest.mark.parametrize(
    ("theme", "ink"), [("auto", None), ("light", "#2a3f5f"), ("dark", "#f2f5fa")]
)
def test_caption_colour_follows_the_figure(theme: str, ink: str | None) -> None:
    """Auto: JupyterLab's colour (CSS); explicit light / dark: the template's title colour, so
    that a white figure in a dark JupyterLab (or the reverse) keeps a readable caption."""
    from alignkit.stability.widgets import gd_explorer
    from alignkit.theme import set_theme

    set_theme(theme)
    try:
        panel = gd_explorer()
        assert caption_color(panel.figure) == ink
        assert (
            (f"color:{ink}" in panel.caption.value)
            if ink
            else ("color:" not in panel.caption.value)
        )
        panel.close()
    finally:
        set_theme("auto")


# The scene's camera as WebGL draws it (gl-plot3d's, not the layout's target): sampled at
# every draw call after the switch, as the angle in degrees between its ``up`` and the one
# it settles at. plotly.js eases the camera into place over ~0.5 s either way; a turn (a
# new ``up``) starts it far off: measured, 26 degrees at the first draw from a camera with
# y or x up, against 2-7 degrees without a turn.
_SWITCH_JS = """async ([flat, solid, upBefore]) => {
  const a = document.getElementById('a'); Plotly.purge(a);
  if (upBefore) {
    flat = JSON.parse(JSON.stringify(flat));
    flat.layout.scene.camera.up = upBefore;
  }
  await Plotly.newPlot(a, flat.data, flat.layout);
  await new Promise(r => setTimeout(r, 300));
  const ups = [];
  const sample = () => {
    const sc = a._fullLayout.scene && a._fullLayout.scene._scene;
    const cam = sc && sc.glplot && sc.glplot.camera;
    if (cam && cam.up) ups.push(Array.from(cam.up));
  };
  const protos = [WebGLRenderingContext.prototype, WebGL2RenderingContext.prototype];
  const saved = protos.map(p => [p.drawArrays, p.drawElements]);
  for (const p of protos) {
    const [da, de] = [p.drawArrays, p.drawElements];
    p.drawArrays = function (...x) { sample(); return da.apply(this, x); };
    p.drawElements = function (...x) { sample(); return de.apply(this, x); };
  }
  try {
    await Plotly.react(a, solid.data, solid.layout);  // what a full update ends as
    await new Promise(r => setTimeout(r, 1000));
  } finally {
    protos.forEach((p, i) => { [p.drawArrays, p.drawElements] = saved[i]; });
  }
  Plotly.purge(a);
  const unit = v => { const n = Math.hypot(...v); return v.map(x => x / n); };
  const last = unit(ups[ups.length - 1] || [0, 0, 1]);
  return ups.map(u => {
    const c = unit(u).reduce((s, x, i) => s + x * last[i], 0);
    return Math.acos(Math.min(1, Math.max(-1, c))) * 180 / Math.PI;
  });
}"""


@pytest.mark.browser
def test_a_switch_from_a_flat_to_a_solid_manifold_draws_once(page: Any) -> None:
    """A manifold of the plane is drawn on flat axes, one in R³ in the scene, whose camera
    (z up) is the same for both: a full update that changed the camera's up made plotly.js
    turn the camera over (550-590 ms of drawing). Checked on the camera WebGL draws with
    (see _SWITCH_JS), not on time: a timed bound (400 ms) failed on a quiet machine too
    (440 ms without a turn)."""
    from alignkit.manifold.plots import plot_lyapunov
    from alignkit.manifold.views import lyapunov_view

    flat, solid = (
        json.loads(to_json_plotly(plot_lyapunov(lyapunov_view(m, "exact", n=20, steps=10))))
        for m in ("circle2d", "circle3d")
    )
    assert flat["layout"]["scene"]["camera"] == solid["layout"]["scene"]["camera"]
    assert flat["layout"]["xaxis"]["visible"] and not solid["layout"]["xaxis"]["visible"]
    angles = page.evaluate(_SWITCH_JS, [flat, solid, None])  # (degrees, one per draw call)
    assert angles and max(angles) < 12, [round(a, 1) for a in angles]
    # the check can fail: the same switch from a camera with y up turns it
    turned = page.evaluate(_SWITCH_JS, [flat, solid, {"x": 0, "y": 1, "z": 0}])
    assert turned and max(turned) > 18, [round(a, 1) for a in turned]


def test_a_new_landscape_moves_points_and_swaps_the_picture() -> None:
    """The fit landscape is a layout image and its colour key's labels a text trace
    (alignkit._raster): a new divergence over the same axes goes as one animate frame
    carrying the points, the key's labels and the picture, never a full update; the
    replays above check the drawing after every such press against a fresh one."""
    from alignkit.divergences.widgets import fit_explorer

    panel = fit_explorer()
    try:
        fig, sent = panel.figure, []
        fig.observe(lambda c: sent.append((c["name"], c["new"])) if c["new"] else None,
                    names=list(MESSAGES))  # fmt: skip
        before = fig.layout.images[0].source
        labels = fig.data[-1].text
        panel.controls["divergence"].value = "forward_kl"
        panel.flush()
        assert panel.error is None and panel.redraw.paths[-1] == "points"
        assert fig.layout.images[0].source != before
        assert [name for name, _ in sent] == ["_py2js_animate"], sent
        frame = sent[0][1]
        assert frame["layout_data"]["images[0].source"] == fig.layout.images[0].source
        key = next(i for i, t in enumerate(fig.data) if t.name == "log₁₀ D colour bar")
        edit = frame["style_data"][frame["style_traces"].index(key)]
        assert list(edit["text"]) == list(fig.data[key].text) != list(labels)
    finally:
        panel.close()


def test_a_new_weight_keeps_the_landscape_axes() -> None:
    """The landscape's σ axis ends at 1.8 × the target's widest std over every weight, so a
    move of the weight (same modes, same separation) keeps the axes: points and the new
    picture; a new separation moves them (a full redraw)."""
    from alignkit.divergences.views import fit_view
    from alignkit.divergences.widgets import fit_explorer

    tops = {w: float(fit_view(weight=w).sigmas[-1]) for w in (0.05, 0.3, 0.5, 0.95)}
    assert len(set(tops.values())) == 1, tops
    panel = fit_explorer()
    try:
        for value in (0.3, 0.85, 0.05):
            panel.controls["weight"].value = value
            panel.flush()
            assert panel.error is None
        assert panel.redraw.paths[-3:] == ["points"] * 3, panel.redraw.paths
        panel.controls["separation"].value = 6.0
        panel.flush()
        assert panel.error is None and panel.redraw.paths[-1] == "figure"
    finally:
        panel.close()


@pytest.mark.browser
@pytest.mark.parametrize("divergence, cell", [
    ("reverse_kl", "(9, 7)"), ("pearson_chi2", "clipped"), ("pearson_chi2", "infinite")
])  # fmt: skip
def test_the_landscape_picture_hovers_its_values(page: Any, divergence: str, cell: str) -> None:
    """Over the fit landscape (a picture), the hover label names the cell under the
    pointer and its log10 D, as the heatmap's did: the value as computed where the
    picture's colour is clipped (|log10 D| > LOG_CLIP), 'Infinity' where D is."""
    from alignkit.divergences.plots import plot_fit
    from alignkit.divergences.views import LOG_CLIP, fit_view

    view = fit_view(divergence)
    fig = json.loads(to_json_plotly(plot_fit(view).to_dict()))
    exact = view.log_exact
    with np.errstate(invalid="ignore"):
        pick = {
            "(9, 7)": np.zeros_like(exact, dtype=bool),
            "clipped": np.isfinite(exact) & (exact > LOG_CLIP + 1),
            "infinite": np.isposinf(exact),
        }[cell]
    pick[9, 7] |= cell == "(9, 7)"
    i, j = (int(k) for k in np.argwhere(pick)[0])  # row i (sigma), column j (mu)
    xy = page.evaluate(
        """async ([fig, mu, sig]) => {
          const a = document.getElementById('a'); Plotly.purge(a);
          await Plotly.newPlot(a, fig.data, fig.layout);
          const xa = a._fullLayout.xaxis2, ya = a._fullLayout.yaxis2;
          const box = a.querySelector('.nsewdrag[data-subplot="x2y2"]').getBoundingClientRect();
          return [box.left + xa.l2p(mu), box.top + ya.l2p(Math.log10(sig))];
        }""",
        [fig, float(view.mus[j]), float(view.sigmas[i])],
    )
    page.mouse.move(*xy)
    page.wait_for_timeout(200)
    label = page.evaluate(
        "() => [...document.querySelectorAll('#a .hoverlayer .hovertext')].map(e => e.textContent)"
    )
    value = "Infinity" if cell == "infinite" else f"{exact[i, j]:.2f}"
    want = f"μ={view.mus[j]:.2f}, σ={view.sigmas[i]:.2f}, log₁₀D={value}"
    assert label == [want], label


def test_the_2d_fit_moves_its_start_as_points_over_its_picture() -> None:
    """The 2-D fit's target density is a layout image (alignkit._raster) over axes fixed at
    its extent, one square for every separation of the slider: a move of the start or of
    the separation moves points (and swaps the picture), the axes holding the picture and
    every point."""
    from alignkit.divergences.widgets import fit_2d_explorer

    panel = fit_2d_explorer()
    try:
        fig = panel.figure
        moves = (("init_x", 1.5), ("init_y", -2.0), ("separation", 3.0), ("separation", 6.0),
                 ("separation", 1.0))  # fmt: skip
        sent: list[tuple[str, dict]] = []
        fig.observe(lambda c: c["new"] and sent.append((c["name"], c["new"])), names=list(MESSAGES))
        for name, value in moves:
            panel.controls[name].value = value
            panel.flush()
            assert panel.error is None
        assert panel.redraw.paths[-5:] == ["points"] * 5, panel.redraw.paths
        # a new picture rides in the points' animate frame: one message a press
        assert [kind for kind, _ in sent] == ["_py2js_animate"] * 5, sent
        pictures = ["images[0].source" in msg["layout_data"] for _, msg in sent]
        assert pictures == [False, False, True, True, True], pictures
        image = fig.layout.images[0]
        for axis, lo, hi in (("xaxis", image.x, image.x + image.sizex),
                             ("yaxis", image.y - image.sizey, image.y)):  # fmt: skip
            a, b = fig.layout[axis].range
            values = np.concatenate([np.asarray(t[axis[0]], dtype=float) for t in fig.data])
            values = values[np.isfinite(values)]
            assert a <= min(lo, values.min()) and b >= max(hi, values.max()), axis
    finally:
        panel.close()


def test_points_plotly_moved_into_its_defaults_still_count() -> None:
    """The browser reports each trace's full data; plotly.py then moves every property
    equal to it (here a one-point trace's x, y and type) from ``fig._data`` into its
    defaults. The sender must still see that trace's point: left out of an animate frame
    in the middle of its subplot's run, plotly.js reorders its layer (seen in JupyterLab,
    the fit explorer's colour-bar trace)."""
    fig = go.FigureWidget(
        [
            go.Scatter(x=[0, 1], y=[1, 2]),
            go.Scatter(x=[0.5], y=[1.5]),
            go.Scatter(x=[0, 1], y=[2, 3]),
        ],
        layout={"xaxis": {"range": [-1, 2]}, "yaxis": {"range": [0, 4]}},
    )
    s = Sender(fig)
    fig._last_trace_edit_id = 7  # as after an edit the browser answers
    delta = {"uid": fig.data[1].uid, "x": [0.5], "y": [1.5], "type": "scatter"}
    fig._js2py_traceDeltas = {"trace_deltas": [delta], "trace_edit_id": 7}
    assert "x" not in fig._data[1] and fig.data[1].x == (0.5,)  # moved, still the value

    def move() -> None:
        fig.data[0].y = [2, 1]
        fig.data[2].y = [3, 2]

    sent: list[Any] = []
    fig._send_animate_msg = lambda **kw: sent.append(list(kw["trace_indexes"]))
    assert s.send(move) == "points"
    assert sent == [[0, 1, 2]]  # the one-point trace in the frame, between the edited two


def test_the_2d_fit_keeps_a_users_zoom_while_the_start_moves() -> None:
    from alignkit.divergences.widgets import fit_2d_explorer

    panel = fit_2d_explorer()
    try:
        fig = panel.figure
        fig.layout.xaxis.range, fig.layout.yaxis.range = [0.0, 1.0], [0.0, 1.0]  # a zoom
        panel.controls["init_x"].value = _neighbour(panel.controls["init_x"])
        panel.flush()
        assert panel.error is None and fig.layout.xaxis.range == (0.0, 1.0)
        assert panel.redraw.paths[-1] == "points"
        panel.controls["separation"].value = _neighbour(panel.controls["separation"])
        panel.flush()  # the same square for every separation of the slider: still zoomed
        assert panel.error is None and fig.layout.xaxis.range == (0.0, 1.0)
        assert panel.redraw.paths[-1] == "points"
    finally:
        panel.close()
