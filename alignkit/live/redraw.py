"""How a live panel sends one update to the browser: move the points, or redraw the figure.

plotly.js answers a data restyle (``Plotly.update``, what ``fig.batch_update()`` sends)
with a full redraw: every subplot, axis, tick label and text of the figure is rebuilt,
which for the kit's multi-panel figures costs several times a one-trace figure. Its
animate path with ``redraw: false`` instead moves only the changed traces' points and
lines. That is exact only when nothing else needs redrawing, so :class:`Sender` uses it
only when

- every drawn trace of the figure is ``scatter`` or ``bar`` (the animatable cartesian
  traces), and of the edited ones only ``x`` / ``y`` change, text shown on hover, a
  scatter's drawn labels (one non-empty string per point, before and after: see
  ``Sender._text``), or a scatter's per-point colours on a fixed colour scale
  (``marker.color``, ``cmin`` and ``cmax`` set). Hidden traces (``visible=False``:
  a 3-D scene's, while a 2-D manifold is drawn on flat axes,
  :mod:`alignkit.manifold.plots._scene`) do not count.
  plotly.js redraws each subplot from the frame's traces alone and drops the others, so
  the frame carries every drawn trace, the unchanged ones with an empty edit (no data);
- every axis of an edited trace has a fixed range: the sender pins the autoranged axes of
  such traces to ranges it computes from the data (5 % padding, zero included for bars
  and ``tozero`` fills), and moves a pin only when the data (not their padding) leave it,
  then with half the data's span to spare that way, or when the padded data shrink to
  under an eighth of it (then with the same spare on the sides they left). A slider
  move then normally keeps the axes still, so positions can be compared (a walk over
  threshold's B or alignment's β, whose curves change span 5x, re-fitted at every turn
  with a third; data whose span alternates by more than 8x still redraw every time);
- the layout edits are the figure title's text (and its height, ``title.y``). A live
  panel draws its title as a caption over plotly's hidden one
  (:func:`alignkit.live.view.figure_box`), so a new title is a text change; plotly's
  relayout of a title re-lays the whole frame (measured in JupyterLab: about as slow as
  the points' move itself). Without a caption the title
  goes as a relayout after the points.

One more edit goes beside the points: a layout image's picture and place
(``images[i].source``, ``x``, ``y``, ``sizex``, ``sizey``: plotly redraws the images only).
It rides in the animate frame (one message), or goes in a relayout when no point moves. A
grid drawn as a picture (:mod:`alignkit._raster`: the fit explorers' landscape and target)
thus changes without a full redraw, its colour key's labels moving as points. A colour
bar's labels (``marker.colorbar.*``) redraw the figure: plotly's animate leaves them as
they were drawn (tried, and caught by the replays).

Anything else (a heatmap, contour or 3-D trace, a changed axis range, a colour, a
visibility) is sent as one full update, as before. (A moved pin sent inside the animate
frame, where plotly moves the axis itself, was tried: the tick labels then differ from a
full redraw's. So was a relayout of the new range beside the points, as a zoom does: plotly
redraws the axis without its title (``addAxRangeSequence``: ``skipTitle``), which stays
where the old tick labels pushed it, and the margins with it; forcing the titles (a
``ticks`` relayout, 14 ms in Chromium on the fit explorer) and the points' move (11 ms)
cost more than its full update (18 ms). So a moved pin redraws the figure.) With a
caption, the title reaches only the Python figure and the caption: a second view of
``panel.figure`` shows plotly's title as of the last full update.

Whichever path, each of plotly.py's messages leaves the kernel as one comm message, not
four (:mod:`alignkit.live.messages`): one for an edit, two for moved points with a title
and no caption (the frame, then the relayout).

``tests/test_redraw_browser.py`` replays what the sender sends in Chromium and checks the
drawn figure equals a fresh drawing of the same figure. The sender uses plotly.py's batch
internals (``_in_batch_mode``, ``_batch_trace_edits``, ``_perform_batch_animate``,
``_perform_plotly_relayout``, the plain dicts ``fig._data`` and ``fig._layout``), which
those tests exercise.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import plotly.graph_objects as go

from alignkit.live.messages import SENDERS, one_message
from alignkit.live.view import caption_color, caption_html

ANIMATABLE = frozenset({"scatter", "bar"})
POINT_KEYS = frozenset({"x", "y", "hovertext", "customdata"})  # (the last two: hover only)
TEXT_LAYOUT = re.compile(r"title\.(text|y)")  # (y: a title's lines, plotting.title_y)
#: layout edits plotly.js redraws alone (a layout image's picture and place: relayout)
IMAGE_LAYOUT = re.compile(r"images\.\d+\.(source|x|y|sizex|sizey)")
_ITEM = re.compile(r"\.(\d+)\.")  # images.0.source -> images[0].source
NO_REDRAW = {"transition": {"duration": 0}, "frame": {"duration": 0, "redraw": False}}
PAD = 0.05  # of the data span, each side (plotly's autorange pads about as much)
KEEP = 1 / 8  # keep a pinned range while the data fill at least this fraction of it
SLACK = 0.5  # a pin the data left moves this fraction of the span beyond them
_AXIS_KEY = re.compile(r"([xy])axis(\d*)")


def axis_key(ref: str | None, letter: str) -> str:
    """Trace axis reference ('x2') -> layout key ('xaxis2')."""
    ref = ref or letter
    return f"{letter}axis{ref[1:]}"


def _numbers(values: Any, log: bool) -> np.ndarray | None:
    """Finite values (positive on a log axis, as log10), or None for non-numeric data."""
    if values is None:
        return np.empty(0)
    try:
        a = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError):
        return None
    a = a[np.isfinite(a)]
    if log:
        a = a[a > 0]
        return np.log10(a)
    return a


def _layout_axis(layout: Any, key: str) -> Any:
    """``layout[key]``, or None for an axis the layout does not define."""
    try:
        return layout[key]
    except KeyError:  # plotly's PlotlyKeyError for an undefined xaxisN / yaxisN
        return None


class Sender:
    """Sends a FigureWidget's updates the cheapest exact way (see the module docstring).

    ``paths`` records, per update, ``"points"`` (animate without redraw), ``"figure"``
    (full update) or ``"none"`` (nothing changed).
    """

    def __init__(self, fig: go.FigureWidget, caption: Any = None) -> None:
        self.fig = fig
        for name in SENDERS:  # one comm message per edit, not four
            setattr(fig, name, one_message(fig, getattr(fig, name)))
        self.caption = caption  # an ipywidgets HTML drawn over the title, or None
        self.paths: list[str] = []
        self._axes_of: list[tuple[str, str]] | None = None
        # the caption's font size and colour: fixed by the figure's layout and template
        self._title_size = fig.layout.title.font.size
        self._ink = caption_color(fig) if caption is not None else None
        self._show_title(fig.layout.title.text)
        self.pinned: dict[str, list[float]] = {}
        for axis in self._pinnable():
            extents = self._extents(axis, {})
            if extents is not None:
                self._set_range(axis, extents[1])

    # --- which axes the sender pins -------------------------------------------------
    # Per update the sender reads the figure's plain dicts (``fig._data``, ``fig._layout``):
    # plotly's getters validate every key and cost more than the rest of an update.
    def _traces_on(self, axis: str) -> list[int]:
        n = len(self.fig._data)
        if self._axes_of is None or len(self._axes_of) != n:
            data = [self._trace(i) for i in range(n)]
            self._axes_of = [
                (axis_key(t.get("xaxis"), "x"), axis_key(t.get("yaxis"), "y")) for t in data
            ]
        k = 0 if axis[0] == "x" else 1
        return [i for i, axes in enumerate(self._axes_of) if axes[k] == axis]

    def _trace(self, i: int) -> Mapping[str, Any]:
        """Trace ``i``'s plain dict over plotly.py's defaults for it: the browser reports
        each trace's full data, and plotly.py then moves every property equal to it (a
        short list of points, the type) from ``fig._data`` to ``fig._data_defaults``."""
        t = self.fig._data[i]
        defaults = getattr(self.fig, "_data_defaults", None) or []
        found = defaults[i] if i < len(defaults) else None
        return {**found, **t} if found else t

    def _raw_axis(self, axis: str) -> Mapping[str, Any]:
        return self.fig._layout.get(axis) or {}

    def _pinnable(self) -> list[str]:
        layout = self.fig.layout
        keys = {axis_key(getattr(t, f"{c}axis", None), c) for t in self.fig.data for c in "xy"}
        out = []
        for axis in sorted(keys):
            ax = _layout_axis(layout, axis)
            if ax is None or ax.range is not None or ax.autorange not in (None, True):
                continue  # fixed by the figure, or reversed
            if ax.type not in (None, "-", "linear", "log") or ax.matches or ax.scaleanchor:
                continue
            traces = [self.fig.data[i] for i in self._traces_on(axis)]
            if traces and all(self._plain(t) for t in traces):
                out.append(axis)
        return out

    @staticmethod
    def _plain(trace: Any) -> bool:
        """A trace whose extent is its x / y data (no error bars, no stacking)."""
        if trace.type not in ANIMATABLE:
            return False
        if trace.type == "bar" and (trace.orientation not in (None, "v") or trace.base is not None):
            return False
        for err in ("error_x", "error_y"):
            e = getattr(trace, err, None)
            if e is not None and e.visible:
                return False
        return True

    # --- the data extent of an axis ------------------------------------------------
    def _extents(
        self, axis: str, edits: Mapping[int, Mapping[str, Any]]
    ) -> tuple[list[float], list[float]] | None:
        """The data's extent on ``axis`` (zero included where bars or fills reach it) and the
        padded range plotly's autorange would show, or None (no numeric data)."""
        letter, log = axis[0], self._raw_axis(axis).get("type") == "log"
        parts, zero, lines_only, bar_pad = [], False, True, 0.0
        for i in self._traces_on(axis):
            t = self._trace(i)
            visible = edits.get(i, {}).get("visible", t.get("visible"))
            if visible in (False, "legendonly"):
                continue
            a = _numbers(edits.get(i, {}).get(letter, t.get(letter)), log)
            if a is None:
                return None
            parts.append(a)
            kind = t.get("type", "scatter")
            if kind == "bar" and letter == "y":
                zero = True
            if kind == "bar" and letter == "x" and a.size > 1:
                gaps = np.diff(np.unique(a))
                bar_pad = max(bar_pad, 0.5 * float(gaps.min()))
            if (t.get("fill") or "").startswith(f"tozero{letter}"):
                zero = True
            if kind != "scatter" or (t.get("mode") or "lines") != "lines":
                lines_only = False
        data = np.concatenate(parts) if parts else np.empty(0)
        if data.size == 0:
            return None
        lo, hi = float(data.min()), float(data.max())
        if zero and not log:
            lo, hi = min(lo, 0.0), max(hi, 0.0)
        span = hi - lo
        if span == 0.0:
            span = max(abs(lo), 1.0) * (0.5 if log else 0.2)
            return [lo, hi], [lo - span, hi + span]
        pad = max(0.0 if (letter == "x" and lines_only) else PAD * span, bar_pad)
        return [lo, hi], [
            lo - (0.0 if zero and lo == 0.0 else pad),
            hi + (0.0 if zero and hi == 0.0 else pad),
        ]

    @staticmethod
    def _rounded(extent: list[float]) -> list[float]:
        """``extent`` to 6 significant digits (a short message), rounded outward so that it
        still holds the data (beyond float noise), unless that empties it."""
        out = []
        for v, side in zip(extent, (-1.0, 1.0), strict=True):
            r = float(f"{v:.6g}")
            if (v - r) * side > 1e-12 * abs(v):  # rounded inward: one 6th-digit step out
                r = float(f"{r + side * 10.0 ** (math.floor(math.log10(abs(r or v))) - 5):.6g}")
            out.append(r)
        return out if out[0] < out[1] else [float(v) for v in extent]

    def _set_range(self, axis: str, extent: list[float]) -> None:
        rounded = self._rounded(extent)
        self.pinned[axis] = rounded
        self.fig.layout[axis].range = rounded

    def _repin(self, edits: Mapping[int, Mapping[str, Any]]) -> None:
        """Move the pins of axes whose data left them or shrank (inside a batch)."""
        for axis in list(self.pinned):
            current = self._raw_axis(axis).get("range")
            if current is None or list(current) != self.pinned[axis]:
                del self.pinned[axis]  # zoomed or set by hand: no longer the sender's
                continue
            if not any(i in edits for i in self._traces_on(axis)):
                continue
            extents = self._extents(axis, edits)
            if extents is None:
                continue
            data, new = extents[0], self._rounded(extents[1])  # rounded as a pin would be
            lo, hi = current
            slack = SLACK * (new[1] - new[0])  # room for the next moves that way
            if data[0] < lo or data[1] > hi:  # the data (not their padding) left: grow
                lo = new[0] - slack if data[0] < lo else lo
                hi = new[1] + slack if data[1] > hi else hi
            if new[1] - new[0] < KEEP * (hi - lo):
                # under an eighth: fit them again, with slack on the sides the pin had room
                # (a bar's zero stays the edge)
                lo = new[0] if new[0] == 0.0 or lo >= new[0] else max(lo, new[0] - slack)
                hi = new[1] if new[1] == 0.0 or hi <= new[1] else min(hi, new[1] + slack)
            if [lo, hi] != list(current):
                self._set_range(axis, [lo, hi])

    def autoranged(self, fig: go.Figure) -> go.Figure:
        """A copy of ``fig`` with the axes this sender pins given back to plotly's autorange.

        For drawings that are not updated through the sender (the static site's frames).
        """
        out = go.Figure(fig)
        for axis in self.pinned:
            out.layout[axis].range = None
        return out

    # --- sending ------------------------------------------------------------------
    def _points_only(
        self, traces: Mapping[int, Mapping[str, Any]], layout: Mapping[str, Any]
    ) -> bool:
        """Whether ``traces`` (points) and ``layout`` (title) edits can go as points moved."""
        if any(not TEXT_LAYOUT.fullmatch(k) for k in layout):
            return False
        if any(self._trace(i).get("type", "scatter") not in ANIMATABLE for i in self._drawn()):
            return False  # the frame would wipe it (see _frame)
        for i, edit in traces.items():
            t = self._trace(i)
            keys = POINT_KEYS | self._text(t, edit) | self._colours(t, edit)
            if t.get("type") not in ANIMATABLE or not set(edit) <= keys:
                return False
            if (self._length(t, {}) == 0) != (self._length(t, edit) == 0):
                return False  # plotly's animate neither adds nor removes a trace's drawing
            for letter in "xy":
                ax = self._raw_axis(axis_key(t.get(f"{letter}axis"), letter))
                if ax.get("range") is None or ax.get("autorange") not in (None, False):
                    return False
        return True

    def _show_title(self, text: str | None) -> None:
        if self.caption is not None:
            value = caption_html(text, self._title_size, self._ink)
            if self.caption.value != value:
                self.caption.value = value

    def _drawn(self) -> list[int]:
        """The indexes of the traces plotly draws (visible, not legend-only)."""
        n = len(self.fig._data)
        return [i for i in range(n) if self._trace(i).get("visible", True) is True]

    @staticmethod
    def _length(trace: Mapping[str, Any], edit: Mapping[str, Any]) -> int:
        """Points plotly draws of a trace (its ``_length``): the shorter of x and y."""
        sizes = [np.size(v) for k in "xy" if (v := edit.get(k, trace.get(k))) is not None]
        return min(sizes) if sizes else 0

    def _frame(self, traces: dict[int, dict[str, Any]]) -> None:
        """Add to the animate frame the unchanged traces plotly.js needs there (empty edits).

        plotly.js (4.x, ``Plots.transition`` -> cartesian ``plot``) redraws each subplot
        from the frame's traces with points alone: a trace layer (scatter, bar) of a
        subplot with none of them is removed, a bar not in the frame is removed, and the
        frame's scatter traces are moved next to each other (d3's ``order``). So, per
        subplot, the frame holds every bar and a run of consecutive scatter traces: from
        the first edited to the last, or the one with fewest points where none of those
        has points. Fills that reach another trace, stacks and ``zorder`` (drawn across
        layers) take every drawn trace. An empty edit sends no data; the trace is only
        redrawn where it is.
        """
        data = [self._trace(i) for i in range(len(self.fig._data))]
        shown = [i for i in self._drawn() if self._length(data[i], traces.get(i, {})) > 0]
        groups: dict[tuple[str, str, str], list[int]] = {}
        for i in shown:
            t = data[i]
            if t.get("zorder") or t.get("stackgroup") or (t.get("fill") or "").startswith("tonext"):
                groups = {("", "", "all"): shown}
                break
            key = (t.get("xaxis") or "x", t.get("yaxis") or "y", t.get("type", "scatter"))
            groups.setdefault(key, []).append(i)
        keep = set(traces)
        for (_, _, kind), members in groups.items():
            edited = [i for i in members if i in traces]
            if kind != "scatter":
                keep.update(members)
            elif edited:
                keep.update(i for i in members if edited[0] <= i <= edited[-1])
            else:
                keep.add(min(members, key=lambda i: self._length(data[i], {})))
        edits = {i: traces.get(i, {}) for i in sorted(keep)}
        traces.clear()
        traces.update(edits)

    @staticmethod
    def _colours(trace: Mapping[str, Any], edit: Mapping[str, Any]) -> frozenset[str]:
        """``{"marker.color"}`` when a scatter's per-point colours change from an array to an
        array on a fixed colour scale (``cmin`` and ``cmax`` set): plotly.js's animate
        recolours the points, and no colour bar moves (checked in Chromium)."""
        marker = trace.get("marker") or {}
        new, old = edit.get("marker.color"), marker.get("color")
        if trace.get("type", "scatter") != "scatter" or new is None or old is None:
            return frozenset()
        if np.ndim(new) != 1 or np.ndim(old) != 1 or isinstance(old, str) or isinstance(new, str):
            return frozenset()
        if marker.get("cmin") is None or marker.get("cmax") is None or marker.get("cauto"):
            return frozenset()  # an autoscaled bar would move with the colours
        if marker.get("coloraxis") is not None or np.size(new) != Sender._length(trace, edit):
            return frozenset()  # a shared colour axis; colours that are not one per point
        return frozenset({"marker.color"})

    @staticmethod
    def _text(trace: Mapping[str, Any], edit: Mapping[str, Any]) -> frozenset[str]:
        """``{"text"}`` when a new ``text`` of the trace (its plain dict) can go in the frame:
        text shown only on hover (a scatter's or a bar's), or a scatter's drawn labels while
        every label, before and after, is a non-empty string, one per point (a colour key's,
        :mod:`alignkit._raster`). plotly.js's animate then draws them where a fresh drawing
        puts them (checked in Chromium). It does not draw a label that was empty or missing
        before (its text element was removed), nor does its full update, so those go as a
        full update, as before drawn labels could ride in the frame."""
        if trace.get("type", "scatter") == "scatter":
            if "text" not in (trace.get("mode") or ""):
                return frozenset({"text"})
            old, new = trace.get("text"), edit.get("text", trace.get("text"))
            ok = all(
                Sender._labels(v, Sender._length(trace, e))
                for v, e in ((old, {}), (new, edit))
            )  # fmt: skip
            return frozenset({"text"}) if ok else frozenset()
        drawn = trace.get("textposition") != "none" or trace.get("texttemplate") is not None
        return frozenset() if drawn else frozenset({"text"})

    @staticmethod
    def _labels(text: Any, points: int) -> bool:
        """Whether ``text`` is one non-empty string per point (or one for all of them)."""
        if isinstance(text, str):
            return bool(text)
        if text is None or np.ndim(text) != 1 or np.size(text) != points:
            return False
        return all(isinstance(t, str) and t for t in text)

    def send(self, apply: Callable[[], None]) -> str:
        """Run ``apply`` (the explorer's ``update(fig, result)``) and send its edits."""
        fig = self.fig
        fig._in_batch_mode = True
        try:
            apply()
            self._repin(fig._batch_trace_edits)
            if "title.text" in fig._batch_layout_edits:
                self._show_title(fig._batch_layout_edits["title.text"])
        finally:
            fig._in_batch_mode = False
            path = self._flush()
        self.paths.append(path)
        return path

    def _flush(self) -> str:
        fig = self.fig
        traces, layout = fig._batch_trace_edits, fig._batch_layout_edits
        if not traces and not layout:
            return "none"
        # a layout image's picture and place: plotly.js redraws the images alone
        images = {k: v for k, v in layout.items() if IMAGE_LAYOUT.fullmatch(k)}
        text = {k: v for k, v in layout.items() if k not in images}
        points = dict(traces)
        if (points or images) and self._points_only(points, text):
            traces.clear()
            layout.clear()
            # plotly.js's own spelling: images[0].source
            relayout = {_ITEM.sub(r"[\1].", k): v for k, v in images.items()}
            if points:  # the pictures ride in the frame: one message (in JupyterLab a
                traces.update(points)  # second message drew 10-20 ms after the first)
                self._frame(traces)
                layout.update(relayout)
                fig._perform_batch_animate(NO_REDRAW)
            elif relayout:  # pictures alone: drawn without plotly's defaults
                fig.plotly_relayout(relayout)  # (0.5 against 5 ms for a Plotly.update)
            if text and self.caption is not None:  # the caption shows it: no plotly redraw
                fig._perform_plotly_relayout(text)  # (the figure's state, not sent)
            elif text:
                fig.plotly_relayout(text)
            return "points"
        restyle, relayout, indexes = fig._build_update_params_from_batch()
        fig.plotly_update(restyle_data=restyle, relayout_data=relayout, trace_indexes=indexes)
        traces.clear()
        layout.clear()
        return "figure"
