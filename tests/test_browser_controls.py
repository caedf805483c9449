"""Every notebook in a real JupyterLab: run all cells, move every visible control once.

For each notebook: no error output after "Run All"; then each visible slider gets one
arrow key (the other direction when it sits at its end) and each dropdown another option,
and the plot in the same cell must redraw with no error (red text) in that cell. After
the moves, every figure must draw the same traces (each with as many points and lines) as a
fresh ``Plotly.newPlot`` of its current data and layout in the same page: the cheap redraw
path (``alignkit.live.redraw``) must not have dropped any. Screenshots of each notebook go
to ``tests/artifacts/lab/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jupyterlab_driver import FRESH_DRAWING_JS, open_notebook, shared_lab

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
ARTIFACTS = Path(__file__).resolve().parent / "artifacts" / "lab"

# the plot drawn in the same cell as a control, summarised by its paths and title
_SIGNATURE = """(el) => {
  const cell = el.closest('.jp-Cell');
  const plots = cell ? [...cell.querySelectorAll('.js-plotly-plot')] : [];
  const captions = cell ? [...cell.querySelectorAll('.alignkit-caption')] : [];
  return plots.map(p => [...p.querySelectorAll('.main-svg .trace path, .main-svg .gtitle')]
    .map(e => (e.getAttribute('d') || e.textContent || '') + (e.getAttribute('transform') || ''))
    .join('|')).join('#') + captions.map(c => c.textContent).join('#');
}"""
_RED = """(el) => {
  const cell = el.closest('.jp-Cell');
  return cell ? [...cell.querySelectorAll('.jp-OutputArea *')]
    .filter(e => getComputedStyle(e).color === 'rgb(176, 0, 32)')
    .map(e => (e.textContent || '').trim()).filter(t => t) : [];
}"""

# per figure, its drawn traces (jupyterlab_driver.FRESH_DRAWING_JS): live, and from a fresh
# drawing of the same data and layout in the same page
_DRAWN = (
    "async () => {"
    + FRESH_DRAWING_JS
    + """
  const out = [];
  for (const gd of document.querySelectorAll('.jp-Notebook .js-plotly-plot'))
    out.push([drawnTraces(gd), await freshly(gd, drawnTraces)]);
  return out;
}"""
)


def _dropped_traces(page: Any, timeout_s: float = 10.0) -> list[str]:
    """Figures whose drawing differs from a fresh one (polled: a redraw may be in flight)."""
    waited, bad = 0.0, []
    while waited <= timeout_s:
        pairs = page.evaluate(_DRAWN)
        bad = [f"figure {i}: drawn {a}, fresh {b}" for i, (a, b) in enumerate(pairs) if a != b]
        if not bad:
            return []
        page.wait_for_timeout(500)
        waited += 0.5
    return bad


def _wait_change(page: Any, el: Any, before: str, timeout_s: float = 30.0) -> bool:
    deadline = timeout_s * 1000
    waited = 0
    while waited < deadline:
        if el.evaluate(_SIGNATURE) != before:
            return True
        page.wait_for_timeout(200)
        waited += 200
    return False


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_control_moves_its_figure(path: Path, browser: Any) -> None:
    lab = shared_lab(timeout=120)
    nb = open_notebook(browser, lab, path.name, timeout=120)
    try:
        nb.run_all(timeout=600)
        assert nb.error_outputs() == [], nb.diagnostics()
        page, stuck = nb.page, []
        handles = page.locator(".jp-Notebook .noUi-handle")
        for i in range(handles.count()):
            handle = handles.nth(i)
            if not handle.is_visible():
                continue  # a control the explorer hides (one idea per panel)
            handle.scroll_into_view_if_needed()
            before = handle.evaluate(_SIGNATURE)
            handle.focus()
            now = handle.get_attribute("aria-valuenow")
            top = handle.get_attribute("aria-valuemax")
            page.keyboard.press("ArrowLeft" if now == top else "ArrowRight")
            if not _wait_change(page, handle, before) or handle.evaluate(_RED):
                stuck.append(f"slider {i}: {handle.evaluate(_RED) or 'no redraw'}")
        selects = page.locator(".jp-Notebook .widget-dropdown select")
        for i in range(selects.count()):
            select = selects.nth(i)
            if not select.is_visible():
                continue
            options = select.locator("option")
            if options.count() < 2:
                continue
            select.scroll_into_view_if_needed()
            before = select.evaluate(_SIGNATURE)
            current = select.evaluate("s => s.selectedIndex")
            select.select_option(index=0 if current != 0 else 1)
            if not _wait_change(page, select, before) or select.evaluate(_RED):
                stuck.append(f"dropdown {i}: {select.evaluate(_RED) or 'no redraw'}")
        stuck += _dropped_traces(page)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{path.stem}.png"))
        assert stuck == [], f"{path.name}: {stuck}\n{nb.diagnostics()}"
        assert nb.error_outputs() == [], nb.diagnostics()
    finally:
        nb.close()
