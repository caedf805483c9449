"""Every explorer's figure, drawn by plotly.js in Chromium: no legend entry covers a title,
and neither leaves the figure.

``base_layout`` puts the legend in a row on the plot area's top edge, where make_subplots
also puts the top row's subplot titles; it lifts the legend above them (the fit and
alignment explorers drew "start", "fit q" and "base a" over "densities" and "top
sequences of the target"). Checked on the drawn boxes: each legend entry against every
annotation (subplot titles), axis title and the figure title, for the live figure and
for its static (site) version, and for every plain figure the notebooks show.
"""

from __future__ import annotations

import json
from typing import Any

import plotly.io as pio
import pytest
import test_redraw_browser as _redraw
from conftest import executed_notebook
from plotly.io.json import to_json_plotly
from test_explorer_contract import EXPLORERS
from test_notebooks import NOTEBOOKS

from alignkit.static import static_figure

pytestmark = pytest.mark.browser

_OVERLAPS = """async (fig) => {
  const a = document.getElementById('a');
  Plotly.purge(a);
  await Plotly.newPlot(a, fig.data, fig.layout);
  const box = e => {
    const r = e.getBoundingClientRect();
    return [r.left, r.top, r.right, r.bottom];
  };
  const hit = (p, q) => p[0] < q[2] && q[0] < p[2] && p[1] < q[3] && q[1] < p[3];
  const named = s => [...a.querySelectorAll(s)].map(e => [e.textContent, box(e)])
    .filter(([t]) => t.trim());
  const legend = named('.legend .traces');
  const titles = named('.annotation, .gtitle, [class^="g-x"][class$="title"], '
                       + '[class^="g-y"][class$="title"]');
  const out = [];
  for (const [l, lb] of legend)
    for (const [t, tb] of titles) if (hit(lb, tb)) out.push(l + ' over ' + t);
  const paper = box(a.querySelector('.main-svg'));
  for (const [l, lb] of legend.concat(named('.gtitle')))
    if (lb[1] < paper[1] || lb[3] > paper[3]) out.push(l + ' outside the figure');
  return [legend.length, out];
}"""


page = _redraw.page  # the module's headless page with plotly.js loaded (a fixture)


@pytest.mark.parametrize(("name", "explorer"), EXPLORERS, ids=[n for n, _ in EXPLORERS])
def test_no_legend_entry_covers_a_title(
    name: str, explorer: Any, page: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALIGNKIT_FAST", "1")
    panel = explorer()
    try:
        live = json.loads(to_json_plotly(panel.figure.to_dict()))
        static = json.loads(pio.to_json(static_figure(panel, budget=2)))
    finally:
        panel.close()
    for kind, fig in (("live", live), ("static", static)):
        entries, overlaps = page.evaluate(_OVERLAPS, fig)
        assert overlaps == [], f"{name} ({kind}): {overlaps}"
        if name == "divergences.fit_explorer":
            assert entries >= 5, "the legend selector finds no entries"


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_figures_keep_legends_clear(path: Any, page: Any) -> None:
    """The plain (non-explorer) figures a notebook shows, from its own run (fast mode)."""
    figures = [
        (i, out["data"]["application/vnd.plotly.v1+json"])
        for i, cell in enumerate(executed_notebook(path).cells)
        for out in cell.get("outputs", [])
        if "application/vnd.plotly.v1+json" in out.get("data", {})
    ]
    for i, fig in figures:
        _, overlaps = page.evaluate(_OVERLAPS, fig)
        assert overlaps == [], f"{path.name}, cell {i}: {overlaps}"


_KEY_BOXES = """async ([fig, width]) => {
  const a = document.getElementById('a');
  Plotly.purge(a);
  a.style.width = width + 'px';
  await Plotly.newPlot(a, fig.data, fig.layout);
  const box = e => { const r = e.getBoundingClientRect(); return [r.left, r.right]; };
  const labels = [...a.querySelectorAll('.textpoint text')].map(box);
  const image = [...a.querySelectorAll('image')].map(box);
  const paper = box(a.querySelector('.main-svg'));
  a.style.width = '';
  return {labels, image, paper};
}"""


@pytest.mark.parametrize("width", [900, 600, 400, 320])
def test_fit_colour_key_labels_stay_in_the_figure(width: int, page: Any) -> None:
    """The fit landscape's colour key (alignkit._raster.add_colour_key): its labels, the
    longest a landscape gives included, lie inside the figure and right of the landscape
    picture at any width (they run into the right margin: KEY_MARGIN)."""
    from alignkit.divergences.plots.fits import plot_fit
    from alignkit.divergences.views import fit_view

    view = fit_view("total_variation", n_modes=5, separation=8.0, weight=0.05)  # "−0.05"
    fig = plot_fit(view, width=None)
    drawn = page.evaluate(_KEY_BOXES, [json.loads(to_json_plotly(fig.to_dict())), width])
    assert drawn["labels"] and len(drawn["image"]) == 2, drawn
    left, right = drawn["paper"]
    landscape_right = drawn["image"][0][1]
    assert all(landscape_right < lo and hi <= right for lo, hi in drawn["labels"]), drawn
    assert any(t.startswith("−") for t in fig.data[-1].text)  # (a wide label is drawn)
