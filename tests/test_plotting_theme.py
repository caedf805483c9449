"""Figure themes: ``set_theme("light" | "dark" | "auto")``, ``ALIGNKIT_THEME`` and the stylesheet.

The browser side (the stylesheet acting in JupyterLab's dark theme, contrast measured on
the drawn figure) is ``tests/test_browser_dark.py``; here: the Python side and the colours.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import plotly.graph_objects as go
import plotly.io as pio
import pytest

from alignkit import plotting, theme
from alignkit.plotting import COLORS, base_layout


@pytest.fixture(autouse=True)
def _restore_theme(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(theme.ENV_VAR, raising=False)
    saved, bad = theme._STATE["theme"], COLORS["bad"]
    theme._STATE["theme"] = None
    yield
    theme._STATE["theme"] = saved
    COLORS["bad"] = bad


def _luminance(colour: str) -> float:
    """WCAG 2.x relative luminance of ``#rrggbb``."""
    rgb = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_contrast_formula_matches_known_values() -> None:
    assert _contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert _contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)  # WCAG's AA grey


def test_default_is_auto_and_figures_are_unchanged() -> None:
    assert theme.get_theme() == "auto"
    fig = base_layout(go.Figure(go.Scatter(x=[0, 1], y=[1, 0])), title="t")
    assert fig.layout.template == pio.templates["plotly_white"]
    assert fig.layout.paper_bgcolor is None  # the template's "white", which the CSS keys on
    assert pio.templates["plotly_white"].layout.paper_bgcolor == "white"
    assert COLORS["bad"] == "#b00020"


def test_set_theme_dark_and_light() -> None:
    plotting.set_theme("dark")
    assert theme.get_theme() == "dark"
    fig = base_layout(go.Figure())
    assert fig.layout.template == pio.templates["plotly_dark"]
    assert COLORS["bad"] == theme._DARK_RED
    theme.set_theme("light")
    fig = base_layout(go.Figure())
    assert fig.layout.template == pio.templates["plotly_white"]
    assert fig.layout.paper_bgcolor == "#ffffff"  # not "white": the auto CSS leaves it alone
    assert COLORS["bad"] == "#b00020"
    theme.set_theme("auto")
    assert base_layout(go.Figure()).layout.paper_bgcolor is None


def test_an_explorer_built_after_set_theme_dark_is_dark() -> None:
    from alignkit.stability.widgets import gd_explorer

    theme.set_theme("dark")
    panel = gd_explorer()
    try:
        assert panel.figure.layout.template.layout.paper_bgcolor == "rgb(17,17,17)"
    finally:
        panel.close()


def test_user_colour_for_bad_is_left_alone() -> None:
    COLORS["bad"] = "purple"
    theme.set_theme("dark")
    assert COLORS["bad"] == "purple"


def test_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(theme.ENV_VAR, " Dark ")
    assert theme.get_theme() == "dark"
    assert base_layout(go.Figure()).layout.template == pio.templates["plotly_dark"]
    theme.set_theme("light")  # the call wins over the environment
    assert theme.get_theme() == "light"
    theme._STATE["theme"] = None
    monkeypatch.setenv(theme.ENV_VAR, "night")
    with pytest.raises(ValueError, match=r"ALIGNKIT_THEME must be one of \['light', 'dark', "):
        theme.get_theme()


@pytest.mark.parametrize("bad", ["blue", "Dark", "", None, 3, ["dark"]])
def test_bad_theme_is_a_value_error_naming_argument_and_values(bad: object) -> None:
    with pytest.raises(ValueError, match=r"theme must be one of \['light', 'dark', 'auto'\]"):
        plotting.set_theme(bad)  # type: ignore[arg-type]
    assert theme.get_theme() == "auto"  # nothing changed


def test_kit_colours_read_on_both_backgrounds() -> None:
    """Data colours kept in dark mode must stand out from JupyterLab Dark's #111111 (3:1,
    WCAG's non-text contrast), the dark red included; the light red from white."""
    for role in ("main", "second", "third", "accent", "neutral"):
        assert _contrast(COLORS[role], "#111111") >= 3.0, role
        assert _contrast(COLORS[role], "#ffffff") >= 3.0, role
    assert _contrast(theme._DARK_RED, "#111111") >= 4.5
    assert _contrast("#b00020", "#111111") < 3.0  # why it is swapped
    assert _contrast("#b00020", "#ffffff") >= 4.5


def test_stylesheet_rules() -> None:
    css = theme.theme_css()
    rules = [r for r in css.splitlines() if r.strip()]
    assert all(r.startswith('body[data-jp-theme-light="false"] ') for r in rules)
    assert all(r.count("{") == 1 and r.endswith("}") for r in rules)
    scoped = [r for r in rules if ".js-plotly-plot" in r]
    assert scoped and all('.main-svg:is([style*="background: white"])' in r for r in scoped)
    for ink in theme.DARK_INKS:  # every dark ink is recoloured as text fill and as stroke
        assert f'[style*="fill: {ink}"]' in css and f'[style*="stroke: {ink}"]' in css
    assert ":not(.hoverlayer *)" in css and ":not(.cell-text)" in css  # labels on own boxes
    assert ":not(.contourlayer *)" in css  # a colour scale's black level stays black
    chrome = theme.theme_css(figures=False)
    assert ".js-plotly-plot" not in chrome and "color:#b00020" in chrome
    site = theme.theme_css("@media-free-scope", fg="#eee")
    assert "#eee" in site and "var(--jp-ui-font-color1" not in site


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"scope": ""}, ValueError, "scope must be"),
        ({"scope": "body { x"}, ValueError, "scope must be"),
        ({"fg": 3}, ValueError, "fg must be"),
        ({"grid": "</style>"}, ValueError, "grid must be"),
        ({"figures": 1}, TypeError, "figures must be a bool"),
    ],
)
def test_theme_css_bad_input(kwargs: dict[str, object], error: type, pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        theme.theme_css(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["auto", "light", "dark"])
def test_panel_style_widget(name: str) -> None:
    theme.set_theme(name)
    widget = theme.panel_style_widget()
    try:
        assert "alignkit-theme-css" in widget._dom_classes
        assert widget.layout.display == "none"
        style = re.fullmatch(r"<style>(.*)</style>", widget.value, re.S)
        assert style is not None
        assert (".js-plotly-plot" in style.group(1)) == (name == "auto")
        assert "color:#666" in style.group(1)  # the chrome follows the theme in every mode
    finally:
        widget.close()


def test_every_panel_carries_the_stylesheet() -> None:
    from alignkit.stability.widgets import gd_explorer

    panel = gd_explorer()
    try:
        styles = [c for c in panel.widget.children if "alignkit-theme-css" in c._dom_classes]
        assert len(styles) == 1  # a direct child of the panel's box (the chrome rules need it)
        assert ".js-plotly-plot" in styles[0].value
    finally:
        panel.close()
