"""Kernel-free explorers: a :class:`~alignkit.live.LivePanel` as a plain figure that still moves.

A rendered page has no kernel, so a panel's callbacks cannot run there. This module
precomputes the panel's own ``compute`` over a small grid of control values and draws each
result with the panel's own ``update`` function (so the live and static figures are drawn
by the same plot code), then stores the results as plotly ``frames``. Native plotly sliders
(one per slider control) and dropdown menus (one per dropdown) select among them; a short
script (:data:`FRAME_SCRIPT`) combines the controls' positions into a frame name, animates
to it (``redraw: false`` where every trace is an SVG scatter or bar and the layout only
changes in ways ``animate`` handles), autoranges again the axes the figure autoranges
(animate leaves them where the first frame put them), and keeps the controls' values in
the page's URL fragment, so that a link restores a view.

The grid is chosen per control within a frame ``budget`` and a byte budget: every option
of a dropdown or checkbox, evenly spaced positions of a slider (including its current
value), fewer positions for the sliders when the product exceeds the budget, and a control
held at its current value when even two positions do not fit.
"""

from __future__ import annotations

import base64
import contextlib
import html
import inspect
import itertools
import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

from alignkit._checks import check_instance, check_int, check_scalar
from alignkit._traces import fits_float32
from alignkit.device import pick, torch_threads
from alignkit.live.redraw import axis_key
from alignkit.plotting import place_legend
from alignkit.static_script import FRAME_SCRIPT

if TYPE_CHECKING:
    from alignkit.live import LivePanel

__all__ = ["StaticControl", "control_grid", "static_figure", "static_html", "FRAME_SCRIPT"]

SLIDER_POINTS = 9  # most positions per slider before the budget trims them
_SVG_TYPES = {"scatter", "bar"}
_SLIDER_PX = 80  # vertical room per native slider
_LAYOUT_ANIMATABLE = {"xaxis", "yaxis", "xaxis2", "yaxis2", "xaxis3", "yaxis3"}


@dataclass(frozen=True)
class StaticControl:
    """One control of a static figure: its name, kind and the values it can take.

    ``kind`` is ``"slider"`` (a native plotly slider) or ``"menu"`` (a dropdown menu);
    ``labels`` are what the reader sees and what the URL fragment stores.
    """

    name: str
    description: str
    kind: str
    values: tuple[Any, ...]
    labels: tuple[str, ...]
    current: int


def _label(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    return f"{float(value):.3g}"


def _slider_values(widget: W.Widget, points: int) -> list[Any]:
    """Evenly spaced positions of a slider (log-spaced for a log slider), current included."""
    if isinstance(widget, W.FloatLogSlider):
        lo, hi = widget.base**widget.min, widget.base**widget.max
        values: list[Any] = list(np.geomspace(lo, hi, points))
    elif isinstance(widget, W.IntSlider):
        grid = np.linspace(widget.min, widget.max, points).round().astype(int)
        values = sorted({int(v) for v in grid})
    else:
        step = float(widget.step or 0) or (widget.max - widget.min) / 100
        grid = np.linspace(widget.min, widget.max, points)
        snapped = {round(round((v - widget.min) / step) * step + widget.min, 12) for v in grid}
        values = sorted(snapped)
    current = widget.value
    # the current view is always a frame: it replaces the nearest interior position
    # (the range's ends stay), or joins the ends when there is no interior position
    interior = range(1, len(values) - 1)
    if interior:
        nearest = min(interior, key=lambda i: abs(float(values[i]) - float(current)))
        values[nearest] = current
    else:
        values.append(current)
    values = sorted(set(values), key=float)
    return [type(current)(v) if isinstance(current, int) else float(v) for v in values]


def _options(widget: W.Widget) -> tuple[list[Any], list[str]]:
    values = list(getattr(widget, "_options_values", ()) or ())
    labels = list(getattr(widget, "_options_labels", ()) or ())
    if not values:
        values = list(widget.options)
        labels = [str(v) for v in values]
    return values, [str(label) for label in labels]


def control_grid(
    controls: Mapping[str, W.Widget], *, budget: int = 48, points: int = SLIDER_POINTS
) -> list[StaticControl]:
    """The static controls for a panel's visible controls, within ``budget`` frames.

    Dropdowns, toggle/radio buttons and selection sliders keep every option, checkboxes
    both values; numeric sliders get up to ``points`` positions, fewer when the product of
    all sizes exceeds ``budget``. Controls that cannot get two positions stay fixed (and
    are left out). Hidden controls (``layout.display == "none"``) are left out.
    """
    check_instance(controls, "controls", Mapping, "a mapping of names to ipywidgets controls")
    for key, widget in controls.items():
        check_instance(widget, f"controls[{key!r}]", W.ValueWidget, "an ipywidgets control")
    budget = check_int(budget, "budget", low=1)
    points = check_int(points, "points", low=2)
    visible = {
        name: w for name, w in controls.items() if getattr(w.layout, "display", None) != "none"
    }
    option_like = (W.Dropdown, W.ToggleButtons, W.RadioButtons, W.SelectionSlider)
    fixed: dict[str, tuple[str, list[Any], list[str]]] = {}  # option controls: every option
    sliders: dict[str, W.Widget] = {}
    for name, w in visible.items():
        if isinstance(w, option_like):
            values, labels = _options(w)
            kind = "slider" if isinstance(w, W.SelectionSlider) else "menu"
            fixed[name] = (kind, values, labels)
        elif isinstance(w, W.Checkbox):
            fixed[name] = ("menu", [False, True], ["off", "on"])
        elif isinstance(w, (W.FloatSlider, W.FloatLogSlider, W.IntSlider)):
            sliders[name] = w

    def size_of(name: str, per: int) -> int:
        return len(fixed[name][1]) if name in fixed else len(_slider_values(sliders[name], per))

    # in panel order (the explorer's main control first), each control that still fits
    chosen: list[str] = []
    for name in visible:
        if name not in fixed and name not in sliders:
            continue
        need = size_of(name, 2)
        if need > 1 and math.prod(size_of(n, 2) for n in chosen) * need <= budget:
            chosen.append(name)
    per = points  # then as many slider positions as the budget allows
    while per > 2 and math.prod(size_of(n, per) for n in chosen) > budget:
        per -= 1
    kept: dict[str, tuple[str, list[Any], list[str]]] = {}
    for name in chosen:
        if name in fixed:
            kept[name] = fixed[name]
        else:
            grid = _slider_values(sliders[name], per)
            kept[name] = ("slider", grid, [_label(v) for v in grid])
    out = []
    for name in visible:  # panel order
        if name not in kept:
            continue
        kind, values, labels = kept[name]
        current = controls[name].value
        index = next((i for i, v in enumerate(values) if v == current), 0)
        description = str(getattr(controls[name], "description", "") or name)
        out.append(StaticControl(name, description, kind, tuple(values), tuple(labels), index))
    return out


def _layout_diff(layout: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in layout.items() if base.get(k) != v and k not in ("template",)}


def _as_float32(obj: Any) -> Any:
    """float64 arrays (plotly's base64 ``{"dtype": "f8", "bdata": ...}``) -> float32.

    Half the bytes; the eye cannot tell on a plot.
    """
    if isinstance(obj, dict):
        if obj.get("dtype") == "f8" and isinstance(obj.get("bdata"), str):
            wide = np.frombuffer(base64.b64decode(obj["bdata"]), dtype="<f8")
            if not fits_float32(wide):
                return obj  # e.g. a diverging run's 1e300, a log axis's 1e-300 floor
            data = wide.astype("<f4")
            return {**obj, "dtype": "f4", "bdata": base64.b64encode(data.tobytes()).decode()}
        return {k: _as_float32(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_as_float32(v) for v in obj]
    return obj


def _autoranged(fig: go.Figure) -> dict[str, Any]:
    """``{"xaxis.autorange": True, ...}`` for the cartesian axes ``fig`` leaves to plotly.

    plotly.js's animate keeps an autoranged axis where the first frame put it (the data of
    later frames can leave it), so :data:`FRAME_SCRIPT` re-autoranges these after each.
    """
    layout = fig.to_dict()["layout"]
    out: dict[str, Any] = {}
    for trace in fig.data:
        if "xaxis" not in trace:  # 3-D, polar, ...: no cartesian axes
            continue
        for letter in "xy":
            key = axis_key(trace[f"{letter}axis"], letter)
            axis = layout.get(key, {})
            auto = axis.get("autorange", True)
            if axis.get("range") is None and auto is not False:
                out[f"{key}.autorange"] = auto
    return out


def _render(panel: LivePanel[Any], base: go.Figure, state: dict[str, Any]) -> go.Figure:
    """Compute and draw one state with the panel's own functions (on the panel's threads)."""
    fig = go.Figure(base)
    kwargs = dict(state)
    if "progress" in inspect.signature(panel.compute).parameters:
        from alignkit.live import Progress

        kwargs["progress"] = Progress(W.FloatProgress())
    with torch_threads(panel.threads):
        panel.update(fig, panel.compute(**kwargs))
    return fig


def static_figure(
    panel: LivePanel[Any],
    *,
    budget: int = 48,
    max_bytes: int = 4_000_000,
    max_seconds: float | None = None,
    points: int = SLIDER_POINTS,
    tag: str | None = None,
) -> go.Figure:
    """A plain ``go.Figure`` of the panel whose sliders and menus move without a kernel.

    Parameters
    ----------
    panel : LivePanel
        The live explorer; its ``compute`` runs once per frame, its ``update`` draws it.
    budget : int, default=48
        Most frames (combinations of control values).
    max_bytes : int, default=4_000_000
        Byte budget for all frames together; fewer slider positions when one frame is big.
    max_seconds : float, optional
        Time budget for computing the frames (default 20 s, 5 s in fast mode); fewer
        positions when one compute is slow.
    points : int, default=9
        Most positions per slider.
    tag : str, optional
        Prefix of this figure's entries in the URL fragment (default: the panel's key).

    Returns
    -------
    go.Figure
        Frames named ``"i-j-..."`` (indices into each control's values), one native
        slider per slider control and one dropdown per menu control, and
        ``layout.meta["alignkit"]`` describing them for :data:`FRAME_SCRIPT`.
    """
    from alignkit.live import LivePanel

    check_instance(panel, "panel", LivePanel, "an alignkit.live.LivePanel")
    if tag is not None:
        check_instance(tag, "tag", str, "a str or None")
    budget = check_int(budget, "budget", low=1)
    max_bytes = check_int(max_bytes, "max_bytes", low=10_000)
    if max_seconds is None:
        max_seconds = pick(20.0, 5.0)
    max_seconds = check_scalar(max_seconds, "max_seconds", low=0.0, closed="neither")
    base = panel.redraw.autoranged(panel.figure)  # frames autorange: no sender re-pins them
    state = panel.state
    started = time.perf_counter()
    first = _render(panel, base, state)
    seconds = time.perf_counter() - started
    frame_bytes = len(pio.to_json(go.Figure(data=_as_float32(first.to_dict()["data"]))))
    # a frame also carries a picture that changed (alignkit._raster's layout images)
    frame_bytes += sum(len(image.source or "") for image in first.layout.images)
    budget = min(budget, max_bytes // max(frame_bytes, 1), int(max_seconds / max(seconds, 1e-3)))
    budget = max(1, budget)
    controls = control_grid(panel.controls, budget=budget, points=points)
    corner = {c.name: c.values[-1] for c in controls if c.kind == "slider"}
    if corner:  # cost often grows along a slider (n, d, steps): probe the far corner too
        t0 = time.perf_counter()
        with contextlib.suppress(Exception):  # a rejected setting simply gets no frame
            _render(panel, base, {**state, **corner})
        typical = (seconds + time.perf_counter() - t0) / 2
        if budget * typical > max_seconds:
            budget = max(1, int(max_seconds / max(typical, 1e-3)))
            controls = control_grid(panel.controls, budget=budget, points=points)
    base_layout = first.to_dict()["layout"]
    frames = []
    missing: dict[str, str] = {}  # frame name -> why the compute refused that setting
    notes: dict[str, str] = {}  # frame name -> a value the panel's limits moved (and where)
    svg_only = all(t.type in _SVG_TYPES for t in first.data)
    animatable_layout = True
    varying: set[str] = set()  # layout keys that differ from the first frame's in some frame
    rendered: list[tuple[str, dict[str, Any]]] = []
    for idx in itertools.product(*(range(len(c.values)) for c in controls)):
        values = {c.name: c.values[i] for c, i in zip(controls, idx, strict=True)}
        name = "-".join(str(i) for i in idx)
        shown, note = _as_limited(panel, {**state, **values})
        if note:  # what the live panel does there: a value it does not offer moves to the
            notes[name] = note  # nearest one it does (and the page says so)
        try:
            fig = (
                first
                if all(i == c.current for c, i in zip(controls, idx, strict=True))
                else (_render(panel, base, shown))
            )
        except Exception as exc:  # a setting the compute rejects: no frame, and the page
            # says why instead of leaving the last frame under the new controls' values
            missing[name] = _reason(exc)
            continue
        as_dict = fig.to_dict()
        diff = _layout_diff(as_dict["layout"], base_layout)
        if set(diff) - _LAYOUT_ANIMATABLE:
            animatable_layout = False
        varying.update(diff)
        rendered.append((name, as_dict))
    # plotly.js merges a frame's layout into the drawn one: every frame carries every key
    # that varies anywhere, or a frame equal to the first would keep an earlier frame's
    # (a hidden axis, a range, a scene's place)
    for name, as_dict in rendered:
        frames.append(
            go.Frame(
                name=name,
                data=_as_float32(as_dict["data"]),
                layout={k: as_dict["layout"].get(k) for k in (varying | {"title"})},
                traces=list(range(len(as_dict["data"]))),
            )
        )
    out = go.Figure(first)
    out.frames = frames
    redraw = not (svg_only and animatable_layout)
    sliders: list[dict[str, Any]] = []
    menus: list[dict[str, Any]] = []
    meta_controls: list[dict[str, Any]] = []
    n_sliders = sum(c.kind == "slider" for c in controls)
    for c in controls:
        if c.kind == "slider":
            sliders.append(
                {
                    "active": c.current,
                    "currentvalue": {"prefix": f"{c.description}: ", "font": {"size": 12}},
                    "pad": {"t": 0, "b": 0},
                    "yanchor": "top",
                    "len": 0.9,
                    "x": 0.05,
                    "steps": [{"label": label, "method": "skip", "args": []} for label in c.labels],
                    "name": c.name,
                }
            )
            meta_controls.append({"name": c.name, "kind": "slider", "index": len(sliders) - 1})
        else:
            menus.append(
                {
                    "type": "dropdown",
                    "active": c.current,
                    "x": 0.0,
                    "xanchor": "left",
                    "yanchor": "top",
                    "showactive": True,
                    "buttons": [
                        {"label": f"{c.description}: {label}", "method": "skip", "args": []}
                        for label in c.labels
                    ],
                    "name": c.name,
                }
            )
            meta_controls.append({"name": c.name, "kind": "menu", "index": len(menus) - 1})
        meta_controls[-1]["labels"] = list(c.labels)
        meta_controls[-1]["description"] = c.description
    kept = {c.name for c in controls}
    fixed = [  # the visible controls this page cannot move, at the values its frames use
        [str(getattr(w, "description", "") or name), _label(w.value)]
        for name, w in panel.controls.items()
        if name not in kept and getattr(w.layout, "display", None) != "none"
    ]
    # sliders stacked under whatever the figure already has below its plot (axis titles,
    # a legend): their y is in paper units, so convert the pixel offsets
    # menus go under the title's lines (the most any frame has), above what the figure
    # already has over its plot (a legend, subplot titles), whose room is kept
    own = _title_lines(out.layout.title.text)
    lines = [_title_lines(f.layout.title.text) for f in frames] + [own]
    extra = 20 * max(0, max(lines) - own)
    title_px = 12 + 20 * max(lines)
    top = (out.layout.margin.t or 60) + extra + 35 * len(menus)
    below = out.layout.margin.b if out.layout.margin.b is not None else 80
    if out.layout.legend.orientation == "h" and (out.layout.legend.y or 1) < 0:
        below = max(below, 110)
    height = (out.layout.height or 420) + _SLIDER_PX * n_sliders + 35 * len(menus)
    bottom = below + _SLIDER_PX * n_sliders
    plot_px = max(height - top - bottom, 50)
    for k, slider in enumerate(sliders):
        slider["y"] = -(below + _SLIDER_PX * k) / plot_px
    for k, menu in enumerate(menus):  # under the title, left (the mode bar is top right)
        menu["y"] = 1 + (top - title_px - 35 * k) / plot_px
    out.update_layout(
        sliders=sliders,
        updatemenus=menus,
        height=height,
        width=None,  # as wide as the page's column (config responsive), never cut off
        autosize=True,
        margin={"b": bottom, "t": top},
        meta={
            "alignkit": {
                "tag": tag or panel.key or "explorer",
                "controls": meta_controls,
                "frames": [f.name for f in frames],
                "missing": missing,
                "notes": notes,
                "fixed": fixed,
                "redraw": redraw,
                "autorange": _autoranged(first),
            }
        },
    )
    return place_legend(out)  # the plot area's height changed: legend offsets are in it


def _title_lines(text: str | None) -> int:
    """Lines of a title: 1 + its ``<br>`` breaks."""
    return 1 + (text or "").count("<br>")


def _as_limited(panel: LivePanel[Any], state: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """``state`` as the live panel would hold it, and what moved ("" if nothing).

    A live panel's ``limits`` never offer some combinations: a slider's knob moves down to
    its bound there (B ≤ n), a menu's or selection slider's value to the nearest option it
    offers (a sweep's η values per model). A page's frame for such a combination shows the
    same, and says so.
    """
    from alignkit.live.controls import _nearest, _offered, limit_values

    limits = getattr(panel, "_limits", None) or {}
    out, moved = dict(state), []
    for name, bound in limit_values(panel.controls, limits, state).items():
        value, widget = state[name], panel.controls[name]
        if isinstance(bound, tuple):
            offered = _offered(bound)
            if value in offered:
                continue
            out[name] = _nearest(offered, value)
            why = "is not offered with the other controls as set"
        elif value > bound:
            out[name], why = bound, f"is above its limit here ({_label(bound)})"
        else:
            continue
        what = str(getattr(widget, "description", "") or name)
        moved.append(f"{what} = {_label(value)} {why}: showing {_label(out[name])}")
    return out, "; ".join(moved)


def _reason(exc: Exception) -> str:
    """The first line of a refused setting's message, short enough for the page."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return text if len(text) <= 200 else text[:199] + "…"


def _fixed_note(meta: Mapping[str, Any]) -> str:
    """One line under a static explorer: what this page moves, what it holds fixed."""
    moves = [str(c.get("description") or c["name"]) for c in meta.get("controls", [])]
    fixed = [f"{d} = {v}" for d, v in meta.get("fixed", [])]
    if not fixed:
        return ""
    text = (
        f"Precomputed for this page: {', '.join(moves) or 'no control'} "
        f"{'moves' if len(moves) == 1 else 'move'} over a few values; "
        f"{'; '.join(fixed)} {'is' if len(fixed) == 1 else 'are'} held where the notebook set "
        f"{'it' if len(fixed) == 1 else 'them'}. "
        "Open the notebook with a kernel to move every control."
    )
    return f"<p class='alignkit-static-note'>{html.escape(text)}</p>"


def static_html(fig: go.Figure, *, div_id: str | None = None) -> str:
    """The figure as an HTML fragment (no plotly.js: the page includes it once).

    Wrapped in a ``<div data-alignkit-static=...>`` so that page builders recognise it.
    """
    check_instance(fig, "fig", go.Figure, "a plotly go.Figure")
    if div_id is not None:
        check_instance(div_id, "div_id", str, "a str or None")
    meta = (fig.layout.meta or {}) if fig.layout.meta else {}
    tag = html.escape(str(meta.get("alignkit", {}).get("tag", "figure")), quote=True)
    body = pio.to_html(
        fig,
        include_plotlyjs=False,
        full_html=False,
        post_script=FRAME_SCRIPT if fig.frames else None,
        div_id=div_id,
        config={"responsive": True, "displaylogo": False},
        auto_play=False,
    )
    note = _fixed_note(meta.get("alignkit", {})) if fig.frames else ""
    return f"<div data-alignkit-static='{tag}'>{body}{note}</div>"


def describe(fig: go.Figure) -> str:
    """One line: the controls of a static figure and its number of frames (for logs)."""
    meta = (fig.layout.meta or {}).get("alignkit", {}) if fig.layout.meta else {}
    names = [c["name"] for c in meta.get("controls", [])]
    return json.dumps({"controls": names, "frames": len(fig.frames or ())})


def sequence_labels(values: Sequence[Any]) -> list[str]:
    """Labels as the static controls show them (``_label`` of each value)."""
    return [_label(v) for v in values]
