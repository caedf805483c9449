"""Figures that look right in JupyterLab's light and dark themes (or in the one you choose).

Three modes, chosen with :func:`set_theme` or the ``ALIGNKIT_THEME`` environment variable
(the call wins; the default is ``"auto"``):

``"auto"``
    Figures are drawn with the light template, exactly as in light mode, so exports, the
    static site and JupyterLab Light show white figures as before. Every explorer panel
    also carries a small stylesheet (:func:`panel_style_widget`; a kernel cannot know the
    front end's theme, CSS can). It acts only while JupyterLab runs a dark theme
    (``body[data-jp-theme-light="false"]``) and only on figures whose paper is the light
    template's ``white``: the paper, plot area and legend become transparent, text, axis
    lines and dark marks (plotly's ink ``#2a3f5f``, ``#444``, ``#333``, black) take the
    theme's foreground ``--jp-ui-font-color1``, grid lines its ``--jp-border-color2``, and
    the kit's dark red (``COLORS["bad"]``) a lighter red. Data colours (Okabe–Ito) are
    kept: they read on both backgrounds; so are filled contour levels, table cells and
    hover labels (each drawn on its own box). 3-D scenes are drawn by WebGL, which CSS cannot
    recolour, so they keep a white inset. Once one panel is shown the stylesheet covers
    every light-template figure of the page (plain figures too). Panel chrome (status
    notes, errors) follows the theme as well.
``"light"``
    White figures everywhere (the paper is ``#ffffff``, which the stylesheet leaves alone).
``"dark"``
    plotly's ``plotly_dark`` template (background ``#111111``, JupyterLab Dark's own) and a
    lighter red for ``COLORS["bad"]``, for figures built afterwards.

A theme applies to figures built after the call: re-run the explorer cells. The rendered
site (:mod:`alignkit.site.page`) uses the same stylesheet under ``prefers-color-scheme: dark``.
"""

from __future__ import annotations

import os

import ipywidgets as W

from alignkit.plotting import _BAD_RED, COLORS

__all__ = [
    "THEMES",
    "ENV_VAR",
    "set_theme",
    "get_theme",
    "theme_layout",
    "theme_css",
    "panel_style_widget",
    "DARK_INKS",
]

THEMES = ("light", "dark", "auto")
ENV_VAR = "ALIGNKIT_THEME"
_STATE: dict[str, str | None] = {"theme": None}

#: Dark colours plotly's templates and the kit use for text and lines, as the browser
#: writes them in plotly's inline styles; on a dark background they would vanish.
DARK_INKS = (
    "rgb(42, 63, 95)",  # plotly_white's text and annotation ink #2a3f5f
    "rgb(68, 68, 68)",  # plotly's default line and legend-border ink #444
    "rgb(51, 51, 51)",  # slider ticks #333
    "rgb(0, 0, 0)",  # black (marker outlines, shapes)
)
_KIT_RED = "rgb(176, 0, 32)"  # COLORS["bad"] = #b00020
_DARK_RED = _BAD_RED["dark"]  # its stand-in on dark backgrounds (contrast 7:1 on #111111)


def _check_theme(value: object, name: str) -> str:
    if not isinstance(value, str) or value not in THEMES:
        raise ValueError(f"{name} must be one of {list(THEMES)}, got {value!r}")
    return value


def set_theme(theme: str) -> None:
    """Choose the figure theme for figures built from now on.

    Parameters
    ----------
    theme : {"light", "dark", "auto"}
        ``"auto"`` (the default) follows JupyterLab's theme through CSS; ``"light"`` and
        ``"dark"`` fix the figures' colours whatever the front end shows.

    Raises
    ------
    ValueError
        ``theme`` is not one of the three names.
    """
    _STATE["theme"] = _check_theme(theme, "theme")
    _apply_palette(get_theme())


def get_theme() -> str:
    """The current theme: the last :func:`set_theme`, else ``ALIGNKIT_THEME``, else ``"auto"``.

    Raises
    ------
    ValueError
        ``ALIGNKIT_THEME`` is set to something else than ``light``, ``dark`` or ``auto``.
    """
    chosen = _STATE["theme"]
    if chosen is not None:
        return chosen
    env = os.environ.get(ENV_VAR, "").strip()
    return _check_theme(env.lower(), ENV_VAR) if env else "auto"


def _apply_palette(theme: str) -> None:
    """Swap the kit's red for the theme's (unless the user set ``COLORS["bad"]`` themself)."""
    if COLORS["bad"] in _BAD_RED.values():
        COLORS["bad"] = _BAD_RED["dark" if theme == "dark" else "light"]


def theme_layout() -> dict[str, object]:
    """``fig.update_layout`` keywords of the current theme (template and backgrounds)."""
    theme = get_theme()
    _apply_palette(theme)
    if theme == "dark":
        return {"template": "plotly_dark"}
    if theme == "light":  # "#ffffff", not "white": the auto stylesheet leaves it alone
        return {"template": "plotly_white", "paper_bgcolor": "#ffffff"}
    return {"template": "plotly_white"}


def _any(attr: str, values: tuple[str, ...]) -> str:
    return ":is(" + ", ".join(f'[{attr}*="{v}"]' for v in values) + ")"


def theme_css(
    scope: str = 'body[data-jp-theme-light="false"]',
    *,
    fg: str = "var(--jp-ui-font-color1, rgba(255, 255, 255, 0.87))",
    muted: str = "var(--jp-ui-font-color2, rgba(255, 255, 255, 0.54))",
    grid: str = "var(--jp-border-color2, #424242)",
    surface: str = "var(--jp-layout-color2, #424242)",
    figures: bool = True,
) -> str:
    """The stylesheet that turns light-template figures dark under ``scope``.

    Parameters
    ----------
    scope : str
        CSS selector of the element (or ``@media``-free condition) under which dark
        colours apply; JupyterLab's dark themes by default.
    fg, muted, grid, surface : str
        CSS colours for text and lines, secondary text, grid lines and menu buttons.
    figures : bool, default=True
        Include the figure rules (``False``: only the panel chrome's).

    Returns
    -------
    str
        CSS text (no ``<style>`` tag).
    """
    for value, label in ((scope, "scope"), (fg, "fg"), (muted, "muted"), (grid, "grid"),
                         (surface, "surface")):  # fmt: skip
        if not isinstance(value, str) or not value.strip() or any(c in value for c in "{}<"):
            raise ValueError(f"{label} must be a CSS selector or colour (no braces), got {value!r}")
    if not isinstance(figures, bool):
        raise TypeError(f"figures must be a bool, got {figures!r}")
    white = ("background: white",)
    fig = f"{scope} .js-plotly-plot:has(.main-svg{_any('style', white)})"
    inks = _any("style", tuple(f"fill: {c}" for c in DARK_INKS))
    strokes = _any("style", tuple(f"stroke: {c}" for c in DARK_INKS))
    # white boxes, and the default "plotly" template's plot area #E5ECF6
    whites = _any("style", ("fill: white", "fill: rgb(255, 255, 255)", "fill: rgb(229, 236, 246)"))
    skip = ":not(.hoverlayer *):not(.menulayer *):not(.cell-text)"
    chrome = [  # the panel's status notes and errors, written with inline colours
        f'{scope} :has(> .alignkit-theme-css) [style*="color:#666"] '
        f"{{ color: {muted} !important; }}",
        f'{scope} :has(> .alignkit-theme-css) [style*="color:#b00020"] '
        f"{{ color: {_DARK_RED} !important; border-color: {_DARK_RED} !important; }}",
    ]
    if not figures:
        return "\n".join(chrome)
    rules = [
        f"{fig} .main-svg {{ background: transparent !important; }}",
        f"{fig} :is(.bglayer rect.bg, .plotbg *, .legend rect.bg){whites} "
        "{ fill: transparent !important; }",
        f"{fig} text{inks}{skip} {{ fill: {fg} !important; }}",
        f"{fig} :is(path, rect){inks}{skip}:not(.contourlayer *) {{ fill: {fg} !important; }}",
        f"{fig} :is(path, rect){strokes}{skip} {{ stroke: {fg} !important; }}",
        f"{fig} :is(.gridlayer, .zerolinelayer) path {{ stroke: {grid} !important; }}",
        f'{fig} [style*="fill: {_KIT_RED}"]:not(.hoverlayer *) {{ fill: {_DARK_RED} !important; }}',
        f'{fig} [style*="stroke: {_KIT_RED}"]:not(.hoverlayer *) '
        f"{{ stroke: {_DARK_RED} !important; }}",
        f"{fig} .menulayer rect.updatemenu-item-rect {{ fill: {surface} !important; }}",
        f"{fig} .menulayer text {{ fill: {fg} !important; }}",
        f"{fig} rect.slider-rail-rect {{ fill: {surface} !important; }}",
        f"{fig} .modebar-group {{ background: transparent !important; }}",
        f"{fig} .modebar-btn path {{ fill: {muted} !important; }}",
        f"{fig} .gl-container > div {{ background: #fff; border-radius: 6px; }}",
    ]
    return "\n".join(rules + chrome)


def panel_style_widget() -> W.HTML:
    """A hidden widget holding :func:`theme_css` for a panel (its figure rules in ``"auto"``).

    Put it inside the panel's box: its ``<style>`` follows the panel's lifetime (closing
    the panel removes it), and its chrome rules act on the box that holds it. The widget
    has the CSS class ``alignkit-theme-css``.
    """
    css = theme_css(figures=get_theme() == "auto")
    widget = W.HTML(
        value=f"<style>{css}</style>",
        layout=W.Layout(display="none", width="0px", height="0px"),
    )
    widget.add_class("alignkit-theme-css")
    return widget
