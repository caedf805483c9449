"""What a live panel shows besides its figure: buttons, the layout, status lines, saving.

Helpers of :class:`alignkit.live.LivePanel` (not public API): they build widgets and
HTML, so the panel module keeps only the scheduling and the compute -> figure path.
"""

from __future__ import annotations

import html
import os
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as W
import plotly.graph_objects as go

from alignkit.theme import panel_style_widget

_BUTTONS = (  # description, tooltip, icon
    ("Reset", "Back to the default values", "undo"),
    ("Share", "Show the call that reproduces this view", "link"),
    ("Save", "Save the figure (PNG) and its data (CSV) here", "download"),
)


def buttons(actions: Sequence[Callable[[], None]]) -> list[W.Button]:
    """The Reset, Share and Save buttons, each running its action (in that order)."""
    out = []
    for (description, tooltip, icon), action in zip(_BUTTONS, actions, strict=True):
        button = W.Button(description=description, tooltip=tooltip, icon=icon)
        button.on_click(lambda _b, act=action: act())
        button.layout.width = "auto"
        out.append(button)
    return out


# The live figure's title is drawn by a caption over plotly's (hidden) title: a new title
# is then one text change, where plotly would redraw the figure's frame (see redraw.py).
_CAPTION_CSS = (
    ".alignkit-figure-box { position: relative; }"
    " .alignkit-figure-box .js-plotly-plot .gtitle { visibility: hidden; }"
    " .alignkit-caption { position: absolute; top: 2px; left: 9px; right: 9px; z-index: 2;"
    " margin: 0; pointer-events: none; }"
    " .alignkit-caption .widget-html-content { height: auto; line-height: 1.25;"
    " white-space: nowrap; overflow: hidden; text-overflow: ellipsis;"
    ' font-family: "Open Sans", verdana, arial, sans-serif;'
    " color: var(--jp-ui-font-color1, #2a3f5f); }"
)
_TITLE_TAGS = re.compile(r"&lt;(/?(?:br|b|i|em|sup|sub)\s*/?)&gt;", re.IGNORECASE)


def caption_html(title: str | None, size: float | None = None, color: str | None = None) -> str:
    """A plotly title as HTML: its own tags (``<br>``, ``<b>``, ``<sup>`` ...) kept, the
    rest escaped (a title such as ``"lr < 1/a"`` stays text). ``color``: the figure's text
    colour where its colours are fixed (explicit light or dark theme); else the caption
    follows JupyterLab's theme, as the figure does."""
    text = _TITLE_TAGS.sub(r"<\1>", html.escape(title or "", quote=False))
    ink = f";color:{html.escape(color)}" if color else ""
    return f"<div style='font-size:{size or 15:g}px{ink}'>{text}</div>" if text else ""


def caption_color(fig: Any) -> str | None:
    """The title colour a caption needs: None while the figure follows JupyterLab's theme
    (the kit's ``"auto"``), else its template's text colour (plotly_white or plotly_dark)."""
    template = fig.layout.template.layout
    fixed = fig.layout.paper_bgcolor is not None or template.paper_bgcolor not in (None, "white")
    if not fixed:
        return None
    return fig.layout.title.font.color or fig.layout.font.color or template.font.color


def figure_box(figure: W.Widget, caption: W.HTML) -> W.Box:
    """The figure with its caption laid over the title's place (and the caption's CSS)."""
    caption.add_class("alignkit-caption")
    style = W.HTML(f"<style>{_CAPTION_CSS}</style>", layout=W.Layout(display="none"))
    box = W.Box([figure, caption, style])
    box.add_class("alignkit-figure-box")
    return box


def arrange(
    column: Sequence[W.Widget], figure: W.Widget, status: W.Widget, description: str | None
) -> W.VBox:
    """Controls (and ``description``) beside the figure, the status line below both."""
    head: list[W.Widget] = [W.HTML(description)] if description else []
    return W.VBox(
        [
            W.HBox(  # controls beside the figure; the figure wraps below on narrow screens
                [
                    W.VBox([*head, *column], layout=W.Layout(width="300px", min_width="260px")),
                    figure,
                ],
                layout=W.Layout(flex_flow="row wrap", align_items="flex-start"),
            ),  # fmt: skip
            status,
            panel_style_widget(),  # figures and chrome follow JupyterLab's dark theme
        ]
    )


def error_html(message: str, details: str = "") -> str:
    """A red status line (the colour browser tests look for), with a folded traceback."""
    body = f"<b>&#9888; {html.escape(message)}</b>"
    if details:
        body += (
            "<details><summary>traceback</summary><pre style='font-size:smaller'>"
            f"{html.escape(details)}</pre></details>"
        )
    return f"<div style='color:#b00020;border-left:3px solid #b00020;padding-left:6px'>{body}</div>"


def note_html(message: str) -> str:
    return f"<span style='color:#666'>{html.escape(message)}</span>"


def timing_html(ms: float, cached: bool) -> str:
    """The status line after a move: the kernel's compute time (a cache lookup: cached)."""
    suffix = " (cached)" if cached else ""
    return f"<span style='color:#666;font-size:smaller'>computed in {ms:.1f} ms{suffix}</span>"


def save_here(panel: Any) -> str:
    """Save the panel's view as CSV and PNG in the working directory; the status HTML."""
    stem = f"{panel.key or 'explorer'}-{time.strftime('%Y%m%d-%H%M%S')}"
    try:
        written = [panel.save(Path.cwd() / f"{stem}.csv")]
        written.append(panel.save(Path.cwd() / f"{stem}.png"))
    except ValueError as exc:  # e.g. no Chromium for the PNG: the CSV is still there
        return error_html(str(exc))
    return note_html("saved " + ", ".join(p.name for p in written))


def mimebundle(panel: Any, **kwargs: Any) -> Any:
    """The panel's widget bundle; with ``ALIGNKIT_STATIC=1`` also a kernel-free figure."""
    bundle = panel.widget._repr_mimebundle_(**kwargs)
    if os.environ.get("ALIGNKIT_STATIC") == "1" and isinstance(bundle, dict):
        # rendering a static site: add a kernel-free figure the page shows instead
        from alignkit.static import static_html

        fig = panel.static_figure()
        bundle["text/html"] = static_html(fig)
        still = go.Figure(fig.to_dict()["data"], layout=panel.figure.layout.to_plotly_json())
        bundle["application/vnd.plotly.v1+json"] = still.to_plotly_json()  # thumbnails
    return bundle
