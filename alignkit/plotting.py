"""Shared figure vocabulary: one layout helper for every plot function in the kit."""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go
from plotly.basedatatypes import BasePlotlyType, BaseTraceType

__all__ = ["base_layout", "apply_traces", "finish", "presenter_mode", "set_theme", "COLORS"]

# The kit's red for failures, per theme: #b00020 would vanish on a dark background (2.6:1 on
# #111111); the dark one reads there (7:1). The dark theme swaps it (alignkit.theme).
_BAD_RED = {"light": "#b00020", "dark": "#ff6e7f"}
_DARK_START = os.environ.get("ALIGNKIT_THEME", "").strip().lower() == "dark"

# Colour-blind-safe (Okabe-Ito); by role, so the same idea has the same colour everywhere.
COLORS = {
    "main": "#0072B2",
    "second": "#D55E00",
    "third": "#009E73",
    "accent": "#CC79A7",
    "neutral": "#7f7f7f",
    "stable": "rgba(0,158,115,0.18)",
    "unstable": "rgba(213,94,0,0.12)",
    "bad": _BAD_RED["dark" if _DARK_START else "light"],
}


#: Colours of traces that have no role (one per divergence, per start): Okabe-Ito, with the
#: roles' colours first, grey for black (readable on a dark page) and yellow last (faint on white).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#56B4E9", "#E69F00", "#7f7f7f", "#F0E442")


def line_style(k: int) -> dict[str, str]:
    """The k-th line of a figure with many: the palette's colours, then the same dashed."""
    return {"color": PALETTE[k % len(PALETTE)], "dash": "solid" if k < len(PALETTE) else "dash"}


def set_theme(theme: str) -> None:
    """Figure colours for figures built from now on: ``"light"``, ``"dark"`` or ``"auto"``.

    ``"auto"`` (the default, or ``ALIGNKIT_THEME``) follows JupyterLab's light or dark
    theme; see :func:`alignkit.theme.set_theme`. Re-run the explorer cells after switching.
    """
    from alignkit.theme import set_theme as _set_theme

    _set_theme(theme)


_PRESENTER = {"on": False}
PRESENTER_SCALE = 1.45  # font and line scale for a projector


def presenter_mode(on: bool = True) -> None:
    """Larger fonts and thicker lines in every figure drawn from now on (for a projector).

    Re-run the explorer cells after switching. ``presenter_mode(False)`` goes back.
    """
    if not isinstance(on, bool):
        raise TypeError(f"on must be a bool, got {type(on).__name__}")
    _PRESENTER["on"] = on


def _scale(size: float) -> float:
    return round(size * PRESENTER_SCALE) if _PRESENTER["on"] else size


def base_layout(
    fig: go.Figure,
    *,
    title: str | None = None,
    width: int | None = None,
    height: int | None = 420,
    legend_below: bool = False,
) -> go.Figure:
    """Apply the kit's layout (explicit size, the theme's template, legend on top) in place.

    ``legend_below`` puts the legend under the plot (for figures with many traces). The
    template follows :func:`alignkit.theme.set_theme` (light by default; see
    :mod:`alignkit.theme` for JupyterLab's dark theme).
    """
    from alignkit.theme import theme_layout

    fig.update_layout(
        **theme_layout(),
        title={
            "text": title or "",
            "x": 0.01,
            "xanchor": "left",
            "y": title_y(title, height),
            "yanchor": "top",
            "font": {"size": _scale(15)},
        },  # fmt: skip
        width=width,
        height=height,
        margin={"l": 60, "r": 20, "t": 95, "b": 55},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0.0},
        font={"size": _scale(13)},
        colorway=list(PALETTE),  # traces without a colour of their own: the kit's palette
    )
    # powers of ten as 1e-15, never SI prefixes ("1f", "10B" on a ratio or a distance); with
    # "power" (10⁻¹⁵, superscripts) two legends met their axis titles in the layout tests
    # ticklabeloverflow "allow": plotly's default ("hide past div") measures every tick
    # label's box after each draw, and in JupyterLab each measurement lays out the whole
    # notebook page (profiled: 364 ms of one 560 ms full redraw of the threshold explorer)
    fig.update_xaxes(exponentformat="e", ticklabeloverflow="allow")
    fig.update_yaxes(exponentformat="e", ticklabeloverflow="allow")
    if _PRESENTER["on"]:
        fig.update_traces(line={"width": 3.5}, selector={"type": "scatter"})
        if height is not None:
            fig.update_layout(height=round(height * 1.2))
    if legend_below:
        fig.update_layout(legend={"y": -0.2, "yanchor": "top"}, margin={"b": 120})
    elif _top_subplot_titles(fig):  # room above the top row's subplot titles
        fig.update_layout(margin={"t": fig.layout.margin.t + _scale(TITLE_ROOM)})
    return place_legend(fig)


#: pixels a subplot title (its font and padding) takes above the plot area
TITLE_ROOM = 24
#: pixels from the plot area's bottom to a legend below it (tick labels, an axis title)
BELOW_ROOM = 52


def place_legend(fig: go.Figure) -> go.Figure:
    """Put a horizontal legend clear of the titles, in pixels (in place; returns ``fig``).

    A legend below the plot starts :data:`BELOW_ROOM` px under it; one on top sits above
    make_subplots' top-row titles (:data:`TITLE_ROOM`). Legend positions are in units of
    the plot area's height, so this is computed from the figure's current height and
    margins: call it again after changing them (the static site adds sliders).
    """
    legend, margin = fig.layout.legend, fig.layout.margin
    if legend.orientation != "h" or legend.y is None:
        return fig
    plot_px = max((fig.layout.height or 450) - (margin.t or 0) - (margin.b or 0), 50)
    if legend.yanchor == "top" and legend.y < 0:
        fig.update_layout(legend={"y": -_scale(BELOW_ROOM) / plot_px})
    elif legend.yanchor == "bottom" and _top_subplot_titles(fig):
        fig.update_layout(legend={"y": 1.02 + _scale(TITLE_ROOM) / plot_px})
    return fig


def title_y(text: str | None, height: int | None) -> float:
    """The title's ``y`` (container units, anchored at its top) for a figure ``height`` px tall.

    plotly.js draws a title of several lines (``<br>``) about one line higher than its
    ``yanchor="top"`` says, so that its first line is cut by the figure's edge: such a
    title goes 12 px lower.
    """
    return 0.985 - (12 / (height or 450) if text and "<br>" in text else 0.0)


def _top_subplot_titles(fig: go.Figure) -> bool:
    """Whether an annotation sits on the plot area's top edge (make_subplots' titles)."""
    return any(
        a.yref == "paper" and a.yanchor == "bottom" and (a.y or 0.0) >= 0.999
        for a in fig.layout.annotations
    )


def apply_traces(fig: go.Figure, traces: dict[str, dict[str, object]]) -> None:
    """Set the data of each trace selected by name (the live ``update_*`` functions' core).

    ``traces`` maps a trace ``name`` to the properties to set; the key ``"_layout"``
    holds ``fig.update_layout`` keywords instead. Only properties whose values differ
    from the figure's current ones are set (a live update then sends, and the browser
    redraws, only the traces that changed), and long float64 arrays go as float32 where
    that loses nothing visible (see :mod:`alignkit._traces`).
    """
    from alignkit._traces import changed_props

    # compared with the figure's plain dicts (plotly's getters validate every key: slow)
    raw_data: list[Any] = getattr(fig, "_data", None) or [None] * len(fig.data)
    raw_layout = getattr(fig, "_layout", None)
    by_name: dict[object, list[tuple[BaseTraceType, Any]]] = {}
    for trace, raw in zip(fig.data, raw_data, strict=True):
        by_name.setdefault(trace.name if raw is None else raw.get("name"), []).append((trace, raw))
    for name, props in traces.items():
        if name == "_layout":
            if "title.text" in props:  # a title of several lines sits lower (title_y)
                layout = raw_layout if raw_layout is not None else fig.layout.to_plotly_json()
                text = props["title.text"] if isinstance(props["title.text"], str) else None
                if (layout.get("title") or {}).get("y") is not None or (text and "<br>" in text):
                    props = {**props, "title.y": title_y(text, layout.get("height"))}
            changed = changed_props(fig.layout if raw_layout is None else raw_layout, props)
            for key in [k for k in changed if k.startswith("images[")]:
                # a layout image's own update: plotly's path lookup of images[i].x from
                # the layout costs several times more
                index, prop = key[len("images[") :].split("].", 1)
                fig.layout.images[int(index)][prop] = changed.pop(key)
            if changed:
                _assign(fig.layout, changed)
            continue
        for trace, raw in by_name.get(name, []):
            changed = changed_props(trace if raw is None else raw, props)
            if changed:
                _assign(trace, changed)


def _assign(obj: Any, changed: dict[str, Any]) -> None:
    """``obj.update(changed)`` (a trace or the layout), several times faster inside a batch.

    In batch mode (a live panel's :class:`~alignkit.live.redraw.Sender`) a plain value (a
    number, a string, an array, a non-empty list of plain values) is set as an attribute
    of its dotted path's object: the same validation and the same recorded edit as
    ``update``, without plotly's path parsing (measured: 0.12 against 0.72 ms for
    ``title.text``). What ``update`` treats its own way goes through it, one key at a time,
    in order: dicts and plotly objects, which it merges into what is there, lists of them
    (merged element by element), empty lists and None (no change to a compound array),
    and keys with a part starting with "_". If any attribute cannot be set (a key plotly
    does not know, a magic underscore, a bad value), the edits recorded so far are taken
    back and ``update(changed)`` runs instead: it records nothing and raises plotly's
    error, as before. Outside a batch (where ``update`` groups the edits in one message)
    everything goes through ``update``.
    """
    figure: Any = getattr(obj, "figure", None)
    if not getattr(figure, "_in_batch_mode", False):
        obj.update(changed)
        return
    traces = {k: copy.copy(v) for k, v in figure._batch_trace_edits.items()}
    layout = copy.copy(figure._batch_layout_edits)
    try:
        for key, value in changed.items():  # in order, as update sets them
            if _update_merges(key, value):
                obj.update({key: value})
                continue
            *path, last = key.split(".")
            target = obj
            for part in path:
                target = getattr(target, part)
            setattr(target, last, value)
    except (AttributeError, ValueError, TypeError, KeyError):
        figure._batch_trace_edits.clear()
        figure._batch_trace_edits.update(traces)
        figure._batch_layout_edits.clear()
        figure._batch_layout_edits.update(layout)
        obj.update(changed)  # plotly's own error, nothing recorded (or its own path rules)


def _update_merges(key: str, value: Any) -> bool:
    """Whether plotly's ``update`` does more with ``value`` than set it (see _assign)."""
    if value is None or isinstance(value, (Mapping, BasePlotlyType)):
        return True
    if isinstance(value, (list, tuple)) and (
        not value or any(isinstance(v, (Mapping, BasePlotlyType)) for v in value)
    ):
        return True
    return any(part.startswith("_") for part in key.split("."))


def keep_zoom(fig: go.Figure, layout: dict[str, Any], axes: tuple[str, ...]) -> None:
    """Leave out of ``layout`` (a live update's ``"_layout"`` edits) the computed ranges of
    ``axes`` while they equal the last ones set, so that a user's zoom survives the
    updates that do not move them (a move of the start over a fixed landscape). The last
    ranges set are kept in ``layout.meta["ranges"]``."""
    ranges = [layout[f"{axis}.range"] for axis in axes]
    meta = fig.layout.meta
    if isinstance(meta, dict) and meta.get("ranges") == ranges:
        for axis in axes:
            del layout[f"{axis}.range"]
    layout["meta"] = {"ranges": ranges}


def finish(
    fig: go.Figure,
    traces: dict[str, dict[str, object]],
    *,
    title: str | None = None,
    width: int | None = None,
    height: int | None = 420,
    legend_below: bool = False,
) -> go.Figure:
    """Fill a freshly built figure from ``traces`` (as :func:`apply_traces`) and lay it out.

    The title is ``title`` if given, else the one in ``traces["_layout"]``.
    """
    base_layout(fig, width=width, height=height, legend_below=legend_below)
    apply_traces(fig, traces)
    if title:
        fig.update_layout(title_text=title, title_y=title_y(title, fig.layout.height))
    return fig
