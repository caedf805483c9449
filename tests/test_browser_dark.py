"""Figures in JupyterLab's dark theme, measured in a real JupyterLab (headless Chromium).

JupyterLab starts in *JupyterLab Dark* (its user settings, as a user who picked the theme)
with the default figure theme (``"auto"``: no code change). Notebook 00 runs, and a small
notebook adds a theme-2 explorer (heatmap, colour bar, lines) and a plain table figure.
For every text of every figure, the test reads the computed fill and the background it is
actually drawn on (the page's backgrounds, the figure's paper, any plot-area or legend box
under it, a table cell for cell text), composites them and asserts WCAG contrast >= 4.5.
It checks that the panel's stylesheet was not sanitised away, that a redraw after a slider
move stays readable, then switches JupyterLab to *JupyterLab Light* live and checks that
every text is drawn exactly as plotly wrote it (the stylesheet is inert there) on a white
paper. Screenshots go to ``tests/artifacts/lab/`` (``dark_*.png``, ``light_*.png``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import plotly.graph_objects as go
import pytest
from jupyterlab_driver import (
    DARK_THEME,
    INSTALL_HINT,
    LabServer,
    NotebookPage,
    find_chromium,
    open_notebook,
    running_lab,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

ARTIFACTS = Path(__file__).resolve().parent / "artifacts" / "lab"
SITE_ARTIFACTS = ARTIFACTS.parent / "site"
WELCOME = "00_welcome.ipynb"
EXTRA = "dark_theme_check.ipynb"
MIN_TEXT_CONTRAST = 4.5  # WCAG AA for text
_PLOTLY = "application/vnd.plotly.v1+json"


def _extra_notebook() -> str:
    cells = [
        "from alignkit.divergences.plots import plot_table\n"
        "from alignkit.divergences.views import catalogue_view\n"
        "from alignkit.divergences.widgets import fit_explorer\n\n"
        "plot_table(catalogue_view(alpha=0.5))",
        'fit_explorer(divergence="reverse_kl", init_mean=1.0)',
        "import plotly.graph_objects as go\n"  # a 3-D scene: WebGL text that CSS cannot reach
        "from alignkit.plotting import base_layout, set_theme\n\n"
        'base_layout(go.Figure(go.Scatter3d(x=[0, 1], y=[0, 1], z=[0, 1], name="p")), title="3-D")',
        'from alignkit.stability.widgets import gd_explorer\n\nset_theme("dark")\ngd_explorer()',
        'set_theme("light")\nplot_table(catalogue_view(alpha=0.5))',
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    return str(nbformat.writes(nb))


# Page-side measurement: every visible text of every plotly figure of the notebook.
_MEASURE = r"""
(root) => {
  const parse = (c) => {
    const m = (c || '').match(/rgba?\(([^)]+)\)/);
    if (!m) return c === 'white' ? [255, 255, 255, 1] : null;
    const p = m[1].split(',').map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, below) => {
    const a = top[3];
    return [0, 1, 2].map(i => top[i] * a + below[i] * (1 - a)).concat([1]);
  };
  const lum = (c) => {
    const l = c.slice(0, 3).map(v => { v /= 255;
      return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * l[0] + 0.7152 * l[1] + 0.0722 * l[2];
  };
  const contrast = (a, b) => {
    const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
  };
  const pageBackground = (el) => {  // the HTML ancestors' backgrounds, root first
    const chain = [];
    for (let e = el; e; e = e.parentElement) chain.push(e);
    let bg = [255, 255, 255, 1];  // the canvas
    for (const e of chain.reverse()) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c[3] > 0) bg = over(c, bg);
    }
    return bg;
  };
  const shapeFill = (el) => {
    const cs = getComputedStyle(el);
    const c = parse(cs.fill);
    if (!c) return null;
    c[3] *= Number(cs.fillOpacity) * Number(cs.opacity);
    return c[3] > 0 ? c : null;
  };
  const inside = (box, x, y) => box.left <= x && x <= box.right && box.top <= y && y <= box.bottom;
  const out = [];
  document.querySelectorAll(root + ' .js-plotly-plot').forEach((plot, k) => {
    let base = pageBackground(plot);
    const paper = plot.querySelector('.main-svg');
    const paperColour = parse(getComputedStyle(paper).backgroundColor);
    if (paperColour && paperColour[3] > 0) base = over(paperColour, base);
    const boxes = Array.from(plot.querySelectorAll(
      '.bglayer rect, .plotbg rect, .plotbg path, .legend rect.bg'));
    plot.querySelectorAll('text').forEach(t => {
      const text = (t.textContent || '').trim();
      const r = t.getBoundingClientRect();
      if (!text || r.width === 0 || t.closest('.hoverlayer')) return;
      const cs = getComputedStyle(t);
      if (cs.display === 'none' || cs.visibility === 'hidden') return;
      const x = (r.left + r.right) / 2, y = (r.top + r.bottom) / 2;
      let bg = base;
      const under = boxes.slice();
      const cell = t.closest('.column-cell');
      if (cell) under.push(...cell.querySelectorAll('rect.cell-rect'));
      const menu = t.closest('.updatemenu-button, .updatemenu-header');
      if (menu) under.push(...menu.querySelectorAll('rect'));
      for (const b of under) {
        const f = shapeFill(b);
        if (f && inside(b.getBoundingClientRect(), x, y)) bg = over(f, bg);
      }
      const fill = parse(cs.fill);
      fill[3] *= Number(cs.fillOpacity) * Number(cs.opacity);
      out.push({plot: k, text: text.slice(0, 24), fill: cs.fill,
                inline: ((t.getAttribute('style') || '').match(/fill: ([^;]+)/) || [])[1] || '',
                bg: bg.slice(0, 3).map(Math.round).join(','),
                contrast: contrast(over(fill, bg), bg)});
    });
  });
  return out;
}
"""

_PAPERS = """(root) => Array.from(document.querySelectorAll(root + ' .js-plotly-plot'))
  .map(p => getComputedStyle(p.querySelector('.main-svg')).backgroundColor)"""


def _measure(nb: NotebookPage) -> list[dict[str, Any]]:
    return list(nb.page.evaluate(_MEASURE, ".jp-Notebook"))


def _low_contrast(texts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [t for t in texts if t["contrast"] < MIN_TEXT_CONTRAST]


def _screenshot(nb: NotebookPage, name: str, index: int = 0) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    area = nb.page.locator(".jp-OutputArea-child:has(.js-plotly-plot)").nth(index)
    area.scroll_into_view_if_needed()
    area.screenshot(path=str(path))
    return path


def _set_lab_theme(nb: NotebookPage, name: str, light: bool) -> None:
    nb.page.evaluate(
        "(t) => window.jupyterapp.commands.execute('apputils:change-theme', {theme: t})", name
    )
    nb.page.wait_for_function(
        "(v) => document.body.dataset.jpThemeLight === v", arg=str(light).lower(), timeout=30_000
    )
    nb.page.wait_for_timeout(500)  # the theme's stylesheet loads after the attribute flips


@pytest.fixture(scope="module")
def dark_lab() -> Iterator[LabServer]:
    if find_chromium() is None:
        pytest.skip(f"BROWSER TESTS NOT RUN: {INSTALL_HINT}")
    with running_lab(timeout=120, settings=DARK_THEME, extra_files={EXTRA: _extra_notebook()}) as s:
        yield s


@pytest.fixture(scope="module")
def welcome(dark_lab: LabServer, browser: Any) -> Iterator[NotebookPage]:
    nb = open_notebook(browser, dark_lab, WELCOME, timeout=120)
    try:
        nb.run_all(timeout=180)
        nb.wait_for_plots(1, timeout=60)
        yield nb
    finally:
        nb.close()


def test_lab_is_dark_and_the_panel_stylesheet_survives(welcome: NotebookPage) -> None:
    assert welcome.error_outputs() == [], welcome.diagnostics()
    assert welcome.page.evaluate("() => document.body.dataset.jpThemeLight") == "false"
    n_styles = welcome.page.evaluate(
        "() => document.querySelectorAll('.jp-OutputArea-output .alignkit-theme-css style').length"
    )
    assert n_styles >= 1, "the panel's <style> was sanitised away or never shown"
    papers = welcome.page.evaluate(_PAPERS, ".jp-Notebook")
    assert papers and all(p == "rgba(0, 0, 0, 0)" for p in papers), papers
    notes = welcome.page.evaluate(  # the panel's grey status line, e.g. "computed in 3 ms"
        """() => Array.from(document.querySelectorAll(
              '.jp-OutputArea-output :has(> .alignkit-theme-css) [style*="color:#666"]'))
            .map(e => getComputedStyle(e).color)"""
    )
    assert notes and all(c != "rgb(102, 102, 102)" for c in notes), notes


def test_dark_text_contrast_notebook_00(welcome: NotebookPage) -> None:
    texts = _measure(welcome)
    path = _screenshot(welcome, "dark_00_welcome_explorer")
    assert len(texts) >= 10, texts  # title, tick labels, axis titles, legend
    low = _low_contrast(texts)
    assert not low, f"text below {MIN_TEXT_CONTRAST}:1 in JupyterLab Dark: {low}"
    assert all(t["bg"] == "17,17,17" for t in texts), {t["bg"] for t in texts}  # #111
    print(
        f"\nJupyterLab Dark, notebook 00: {len(texts)} texts, contrast min "
        f"{min(t['contrast'] for t in texts):.2f}; screenshot {path}"
    )


def test_dark_stays_readable_after_a_redraw(welcome: NotebookPage) -> None:
    before = welcome.trace_signature(0)
    welcome.measure_key_latency(0, "ArrowRight", presses=2)
    assert welcome.trace_signature(0) != before, "the explorer did not redraw"
    report = welcome.kernel_eval(
        "from alignkit.live import _OPEN_PANELS as _p\nprint(repr(_p['gd_explorer'].error))"
    )
    assert report.strip() == "None", report
    low = _low_contrast(_measure(welcome))
    assert not low, f"after a redraw: {low}"


def test_theme_2_explorer_table_scene_and_chosen_themes(dark_lab: LabServer, browser: Any) -> None:
    """A theme-2 explorer, a table, a 3-D scene (auto); then set_theme("dark"), ("light")."""
    nb = open_notebook(browser, dark_lab, EXTRA, timeout=120)
    try:
        nb.run_all(timeout=180)
        nb.page.wait_for_function(  # the FigureWidgets draw an empty plot first, then theirs
            """() => {
              const plots = document.querySelectorAll('.jp-Notebook .js-plotly-plot');
              return plots.length >= 5 && [1, 3].every(i => plots[i].querySelector('.trace path'))
                && plots[3].querySelector('.main-svg').style.background !== ''
                && plots[0].querySelectorAll('.cell-text').length > 20;
            }""",
            timeout=60_000,
        )
        nb.page.wait_for_timeout(500)
        assert nb.error_outputs() == [], nb.diagnostics()
        texts = _measure(nb)
        _screenshot(nb, "dark_theme2_table", 0)
        path = _screenshot(nb, "dark_theme2_fit_explorer", 1)
        _screenshot(nb, "dark_scene_inset", 2)
        _screenshot(nb, "dark_set_theme_dark_explorer", 3)
        _screenshot(nb, "dark_set_theme_light_table", 4)
        cells = [t for t in texts if t["plot"] == 0 and t["bg"] != "17,17,17"]
        assert cells, "the table's cell texts keep their light cells"
        assert {t["plot"] for t in texts} == {0, 1, 2, 3, 4}
        papers = nb.page.evaluate(_PAPERS, ".jp-Notebook")
        assert papers == ["rgba(0, 0, 0, 0)"] * 3 + ["rgb(17, 17, 17)", "rgb(255, 255, 255)"]
        scene = nb.page.evaluate(
            """() => {
              const plot = document.querySelectorAll('.jp-Notebook .js-plotly-plot')[2];
              const s = plot.querySelector('.gl-container > div');
              return s && getComputedStyle(s).backgroundColor;
            }"""
        )
        assert scene == "rgb(255, 255, 255)", f"the 3-D scene has no white inset: {scene}"
        chosen = [t for t in texts if t["plot"] >= 3 and t["inline"] and t["fill"] != t["inline"]]
        assert not chosen, f"the stylesheet recoloured a figure whose theme was set: {chosen}"
        low = _low_contrast(texts)
        assert not low, f"text below {MIN_TEXT_CONTRAST}:1 in JupyterLab Dark: {low}"
        print(
            f"\ntheme-2 explorer and table in JupyterLab Dark: {len(texts)} texts, contrast "
            f"min {min(t['contrast'] for t in texts):.2f}; screenshot {path}"
        )
    finally:
        nb.close()


def test_switching_to_light_leaves_figures_as_plotly_draws_them(welcome: NotebookPage) -> None:
    """Live switch to JupyterLab Light: no re-run, and every figure is the light one."""
    welcome.page.bring_to_front()
    _set_lab_theme(welcome, "JupyterLab Light", light=True)
    try:
        texts = _measure(welcome)
        path = _screenshot(welcome, "light_00_welcome_explorer")
        changed = [t for t in texts if t["inline"] and t["fill"] != t["inline"]]
        assert not changed, f"the stylesheet acted in light mode: {changed}"
        papers = welcome.page.evaluate(_PAPERS, ".jp-Notebook")
        assert papers and all(p == "rgb(255, 255, 255)" for p in papers), papers
        assert not _low_contrast(texts)
        assert all(t["bg"] == "255,255,255" for t in texts)
        print(f"\nJupyterLab Light: {len(texts)} texts as plotly drew them; screenshot {path}")
    finally:
        _set_lab_theme(welcome, "JupyterLab Dark", light=False)
    assert not _low_contrast(_measure(welcome)), "back in dark: text unreadable"


def _site_page(out: Path) -> Path:
    """A rendered page (alignkit.site) with a static explorer, a figure and a table."""
    from alignkit.divergences.plots import plot_table
    from alignkit.divergences.views import catalogue_view
    from alignkit.site.page import render_page
    from alignkit.stability.widgets import gd_explorer
    from alignkit.static import static_html

    panel = gd_explorer()
    try:
        explorer = static_html(panel.static_figure())
        still = json.loads(go.Figure(panel.figure).to_json())
    finally:
        panel.close()
    table = json.loads(plot_table(catalogue_view(alpha=0.5)).to_json())
    cell = nbformat.v4.new_code_cell("gd_explorer()")
    cell.outputs = [
        nbformat.v4.new_output("display_data", {"text/html": explorer, "text/plain": "panel"}),
        nbformat.v4.new_output("display_data", {_PLOTLY: still, "text/plain": "figure"}),
        nbformat.v4.new_output("display_data", {_PLOTLY: table, "text/plain": "table"}),
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Dark page"), cell])
    path = out / "page.html"
    path.write_text(render_page(nb))
    return path


def test_site_page_follows_prefers_color_scheme(browser: Any, tmp_path: Path) -> None:
    """The rendered site: a dark system gets dark, readable figures; a light one, plotly's."""
    url = _site_page(tmp_path).as_uri()
    SITE_ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page()
    try:
        for scheme in ("dark", "light"):
            page.emulate_media(color_scheme=scheme)
            page.goto(url)
            page.wait_for_function(
                "() => document.querySelectorAll('.js-plotly-plot .main-svg text').length > 30"
                " && document.querySelectorAll('.js-plotly-plot').length >= 3",
                timeout=60_000,
            )
            texts = list(page.evaluate(_MEASURE, "body"))
            papers = page.evaluate(_PAPERS, "body")
            page.screenshot(path=str(SITE_ARTIFACTS / f"{scheme}_page.png"), full_page=True)
            assert {t["plot"] for t in texts} == {0, 1, 2}, texts
            low = _low_contrast(texts)
            assert not low, f"{scheme}: text below {MIN_TEXT_CONTRAST}:1: {low}"
            if scheme == "dark":
                assert all(p == "rgba(0, 0, 0, 0)" for p in papers), papers
                on_page = [t for t in texts if t["bg"] == "22,24,28"]  # --bg #16181c
                assert len(on_page) > len(texts) // 2
                sliders = [t for t in texts if t["text"].startswith("learning rate η")]
                assert sliders, "the static explorer's slider label was not measured"
            else:
                assert all(p == "rgb(255, 255, 255)" for p in papers), papers
                changed = [t for t in texts if t["inline"] and t["fill"] != t["inline"]]
                assert not changed, f"the dark rules acted on a light page: {changed}"
            print(
                f"\nsite page, {scheme} scheme: {len(texts)} texts, contrast min "
                f"{min(t['contrast'] for t in texts):.2f}"
            )
    finally:
        page.close()
