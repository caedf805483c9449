"""One executed notebook -> one self-contained HTML page that opens offline.

plotly.js is inlined once per page (from the installed plotly package), math is turned
into MathML at build time (``latex2mathml``; browsers render MathML natively, so no MathJax
and no CDN), code is highlighted with Pygments, and fonts are the system's. Outputs are
chosen in this order: a static explorer (``text/html`` marked by :mod:`alignkit.static`),
a plotly figure (its JSON, drawn by the page's single plotly.js), PNG/SVG images, HTML,
then plain text. A live widget with no static fallback is shown as a note.
"""

from __future__ import annotations

import base64
import html
import re
from typing import Any

import mistune
import plotly.io as pio
from latex2mathml.converter import convert as latex_to_mathml
from plotly.offline import get_plotlyjs
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

from alignkit._checks import check_instance, check_int
from alignkit.theme import theme_css

__all__ = ["notebook_title", "notebook_summary", "render_page", "is_solution", "STATIC_MARK"]

STATIC_MARK = "data-alignkit-static"
_WIDGET = "application/vnd.jupyter.widget-view+json"
_PLOTLY = "application/vnd.plotly.v1+json"
_MATH = re.compile(r"\$\$(.+?)\$\$|(?<![\\$])\$(?!\s)(.+?)(?<![\s\\])\$", re.S)
_markdown = mistune.create_markdown(escape=False, plugins=["table", "strikethrough"])
_formatter = HtmlFormatter(cssclass="hl")


def _math(tex: str, display: bool) -> str:
    try:
        out = latex_to_mathml(tex.strip(), display="block" if display else "inline")
    except Exception:  # unknown macro: show the TeX itself rather than fail the page
        return f"<code class='tex'>{html.escape(tex)}</code>"
    return str(out)


def markdown_html(text: str) -> str:
    """Markdown with ``$...$`` / ``$$...$$`` math rendered to MathML."""
    maths: list[str] = []

    def keep(m: re.Match[str]) -> str:
        display = m.group(1) is not None
        maths.append(_math(m.group(1) if display else m.group(2), display))
        return f"@@MATH{len(maths) - 1}@@"

    body = str(_markdown(_MATH.sub(keep, text)))
    return re.sub(r"@@MATH(\d+)@@", lambda m: maths[int(m.group(1))], body)


def _check_notebook(nb: Any, name: str = "nb") -> None:
    if not hasattr(nb, "cells") or not isinstance(nb.cells, list):
        raise TypeError(f"{name} must be a notebook (nbformat.read(...)), got {type(nb).__name__}")


def is_solution(cell: Any) -> bool:
    """A hidden exercise solution: tagged ``solution``, or ``hide-cell`` + ``# Solution``."""
    check_instance(cell, "cell", dict, "a notebook cell (a dict)")
    tags = set(cell.get("metadata", {}).get("tags", []))
    source = "".join(cell.get("source", ""))
    return "solution" in tags or ("hide-cell" in tags and source.lstrip().startswith("# Solution"))


def notebook_title(nb: Any) -> str:
    """The notebook's first level-1 heading (``"notebook"`` without one)."""
    _check_notebook(nb)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return _plain_text(line[2:])
    return "notebook"


def _plain_text(markdown: str) -> str:
    """Inline markdown as plain text: emphasis, code and math marks dropped (``*on*`` → on)."""
    text = re.sub(r"(\*\*|\*|__|_)(\S(?:.*?\S)?)\1", r"\2", markdown)
    return " ".join(re.sub(r"[`$\\]", "", text).split())


def notebook_summary(nb: Any, limit: int = 220) -> str:
    """The first paragraph after the title, as plain text (for the index)."""
    _check_notebook(nb)
    limit = check_int(limit, "limit", low=10)
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        paragraphs = [p for p in cell.source.split("\n\n") if p.strip() and not p.startswith("#")]
        if paragraphs:
            text = _plain_text(paragraphs[0])
            for more in paragraphs[1:]:  # a paragraph that announces a list: the list too
                if not text.endswith(":") or len(text) > limit:
                    break
                items = re.split(r"(?m)^\s*(?:[*+-]|\d+\.)\s+", more)  # (wrapped lines)
                text += " " + "; ".join(_plain_text(i) for i in items if i.strip())
            return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"
    return ""


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _output_html(out: Any, figure_id: list[int]) -> str:
    kind = out.get("output_type")
    if kind == "stream":
        cls = "stderr" if out.get("name") == "stderr" else "stream"
        return f"<pre class='{cls}'>{html.escape(_text(out.get('text', '')))}</pre>"
    if kind == "error":
        trace = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(out.get("traceback", [])))
        return f"<pre class='error'>{html.escape(trace)}</pre>"
    data = out.get("data", {})
    page_html = _text(data.get("text/html", ""))
    if STATIC_MARK in page_html:
        return f"<div class='explorer'>{page_html}</div>"
    if _PLOTLY in data:
        figure_id[0] += 1
        fig = pio.from_json(__import__("json").dumps(data[_PLOTLY]), skip_invalid=True)
        fig.update_layout(width=None, autosize=True)  # the column's width, never cut off
        div = pio.to_html(
            fig, include_plotlyjs=False, full_html=False, div_id=f"fig{figure_id[0]}",
            config={"responsive": True, "displaylogo": False},
        )  # fmt: skip
        return f"<div class='figure'>{div}</div>"
    if "image/png" in data:
        return f"<img alt='figure' src='data:image/png;base64,{_text(data['image/png'])}'/>"
    if "image/svg+xml" in data:
        svg = base64.b64encode(_text(data["image/svg+xml"]).encode()).decode()
        return f"<img alt='figure' src='data:image/svg+xml;base64,{svg}'/>"
    if page_html:
        return f"<div class='html'>{page_html}</div>"
    if _WIDGET in data:
        return "<p class='note'>(a live explorer: open the notebook with a kernel to use it)</p>"
    if "text/plain" in data:
        return f"<pre class='stream'>{html.escape(_text(data['text/plain']))}</pre>"
    return ""


def _cell_html(cell: Any, figure_id: list[int]) -> str:
    if cell.cell_type == "markdown":
        return f"<section class='md'>{markdown_html(cell.source)}</section>"
    if cell.cell_type != "code":
        return ""
    code = highlight(cell.source, PythonLexer(), _formatter) if cell.source.strip() else ""
    outputs = "".join(_output_html(o, figure_id) for o in cell.get("outputs", []))
    body = f"<div class='code'>{code}</div><div class='outputs'>{outputs}</div>"
    if is_solution(cell):
        return f"<details class='solution'><summary>Show the solution</summary>{body}</details>"
    return f"<section class='cell'>{body}</section>"


CSS = """
:root { --fg:#1b1b1b; --bg:#fff; --muted:#666; --code:#f6f8fa; --line:#e3e3e3; }
@media (prefers-color-scheme: dark) {
  :root { --fg:#e6e6e6; --bg:#16181c; --muted:#a0a0a0; --code:#22252b; --line:#333; }
}
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif;
  color: var(--fg); background: var(--bg); max-width: 1040px; margin: 0 auto;
  padding: 1.5rem; line-height: 1.55; font-size: 16px; }
body.presenter { font-size: 22px; max-width: 1400px; }
pre, code { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
.code .hl, pre { background: var(--code); padding: .6rem .8rem; border-radius: 6px;
  overflow-x: auto; font-size: .85em; }
.code .hl pre { padding: 0; margin: 0; background: none; }
pre.stderr { border-left: 3px solid #D55E00; }
pre.error { border-left: 3px solid #b00020; color: #b00020; }
.figure, .explorer { background: #fff; border: 1px solid var(--line); border-radius: 6px;
  margin: .5rem 0; overflow-x: auto; }
details.solution { border: 1px dashed var(--line); padding: .4rem .8rem; border-radius: 6px; }
nav.top { display: flex; gap: 1rem; align-items: center; font-size: .9em; color: var(--muted); }
nav.top button { font: inherit; }
.note, .alignkit-static-note { color: var(--muted); font-style: italic; }
.alignkit-static-note { font-size: .85em; margin: .2rem .6rem .5rem; }
table { border-collapse: collapse; } td, th { border: 1px solid var(--line); padding: .2rem .5rem; }
math[display="block"] { margin: .8rem 0; font-size: 1.1em; }
"""
# A reader whose system is dark gets dark figures too: the stylesheet JupyterLab Dark gets
# (alignkit.theme), scoped by the media query and drawn in the page's own colours; code is
# highlighted with a dark Pygments style.
CSS += (
    _formatter.get_style_defs(".hl")
    + "\n@media (prefers-color-scheme: dark) {\n"
    ".figure, .explorer { background: var(--bg); }\n"
    "pre.error { color: #ff6e7f; } a { color: #8ab4f8; }\n"
    + theme_css("body", fg="var(--fg)", muted="var(--muted)", grid="var(--line)",
                surface="var(--code)")
    + "\n"
    + HtmlFormatter(style="github-dark").get_style_defs(".hl")
    + "\n.code .hl { background: var(--code); }\n}\n"
)  # fmt: skip


#: The presenter button: larger prose (CSS) and larger figure text (every plotly figure's
#: font, its titles' and its axes' scaled by 1.4, back to the figure's own sizes on a second
#: press; figures keep their size, so their text is what grows).
PRESENTER_JS = """
function alignkitPresenter() {
  var on = document.body.classList.toggle('presenter');
  document.querySelectorAll('.js-plotly-plot').forEach(function (gd) {
    if (!gd.layout) { return; }
    if (gd._alignkitFont === undefined) {
      gd._alignkitFont = (gd.layout.font && gd.layout.font.size) || 12;
    }
    Plotly.relayout(gd, {'font.size': gd._alignkitFont * (on ? 1.4 : 1)});
  });
}
"""


def page_shell(title: str, body: str, *, plotly: bool, extra_head: str = "") -> str:
    """A full HTML page: inline CSS, plotly.js inlined once when the page has figures."""
    script = f"<script type='text/javascript'>{get_plotlyjs()}</script>" if plotly else ""
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{CSS}"
        f"</style>{extra_head}{script}</head><body>{body}</body></html>"
    )


def render_page(nb: Any, *, index_href: str = "index.html") -> str:
    """The HTML page of an executed notebook."""
    _check_notebook(nb)
    check_instance(index_href, "index_href", str, "a relative link, a str")
    figure_id = [0]
    cells = "".join(_cell_html(c, figure_id) for c in nb.cells)
    nav = (
        f"<nav class='top'><a href='{index_href}'>&larr; all notebooks</a>"
        "<button type='button' onclick='alignkitPresenter()'>presenter mode</button>"
        "<span class='note'>A static page: each explorer switches between precomputed views "
        "(the note under it says which); with a figure selected (Tab or a click), the arrow "
        "keys move its controls. Open the notebook in JupyterLab for every control, Reset "
        "and Share.</span></nav>"
        f"<script>{PRESENTER_JS}</script>"
    )
    return page_shell(notebook_title(nb), nav + cells, plotly=True)
