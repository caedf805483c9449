"""A static explorer shows a frame as a fresh drawing of that frame would (plotly.js, Chromium).

The page script (:data:`alignkit.static_script.FRAME_SCRIPT`) animates to the frame the
controls name. plotly.js's animate keeps autoranged axes where the first frame put them, so
without the script's re-autorange the data of a later frame can leave the plot (threshold's
η* curve ran off its B axis). Each page here opens with a URL fragment naming the far corner
of its controls (as a shared link would), and the drawing must match a fresh
``Plotly.newPlot`` of the figure's data and layout at that frame: axis ranges (to plotly's
padding, which depends on pixel sizes), tick labels, and each trace's points and lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from jupyterlab_driver import FRESH_DRAWING_JS
from test_explorer_contract import EXPLORERS
from test_redraw_browser import PLOTLY_JS

from alignkit.static import static_figure, static_html

pytestmark = pytest.mark.browser

# explorers whose frames move their data across autoranged cartesian axes
STATIC = {"threshold_explorer", "sweep_explorer", "alignment_explorer", "gd_explorer"}

_SNAP = (
    "async () => {"
    + FRESH_DRAWING_JS
    + """
  const gd = document.querySelector('.js-plotly-plot');
  const snap = el => {
    const fl = el._fullLayout, axes = {};
    for (const k of Object.keys(fl))
      if (/^[xy]axis\\d*$/.test(k)) axes[k] = fl[k].range.map(Number);
    return {
      axes,
      ticks: [...el.querySelectorAll('.xtick text, .ytick text')].map(e => e.textContent).sort(),
      traces: drawnTraces(el),
    };
  };
  return [gd.getAttribute('data-alignkit-frame'), snap(gd), await freshly(gd, snap)];
}"""
)


@pytest.mark.parametrize(
    ("name", "explorer"),
    [(n, e) for n, e in EXPLORERS if n.split(".")[-1] in STATIC],
    ids=[n for n, _ in EXPLORERS if n.split(".")[-1] in STATIC],
)
def test_a_linked_frame_draws_as_a_fresh_figure(
    name: str, explorer: Any, browser: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALIGNKIT_FAST", "1")
    panel = explorer()
    try:
        fig = static_figure(panel, budget=12)
    finally:
        panel.close()
    meta = fig.layout.meta["alignkit"]
    corner = [c for c in meta["controls"] if len(c["labels"]) > 1]
    assert corner, "no control with two positions"
    fragment = "&".join(
        f"{quote(meta['tag'] + '.' + c['name'])}={quote(c['labels'][-1])}" for c in corner
    )
    page_path = tmp_path / "page.html"
    page_path.write_text(
        f"<html><head><script src='file://{PLOTLY_JS}'></script></head>"
        f"<body>{static_html(fig)}</body></html>"
    )
    page = browser.new_page()
    try:
        page.goto(f"file://{page_path}#{fragment}")
        page.wait_for_function(
            "() => { const g = document.querySelector('.js-plotly-plot');"
            " return g && g.getAttribute('data-alignkit-frame') !== null; }"
        )
        want = "-".join(str(len(c["labels"]) - 1) if c in corner else "0" for c in meta["controls"])
        for _ in range(20):  # the animate, then the relayout, may still be under way
            frame, shown, fresh = page.evaluate(_SNAP)
            if frame == want and _same(shown, fresh):
                break
            page.wait_for_timeout(250)
    finally:
        page.close()
    assert frame == want
    assert shown["traces"] == fresh["traces"] and shown["ticks"] == fresh["ticks"]
    assert _same(shown, fresh), (shown["axes"], fresh["axes"])


def _same(shown: dict, fresh: dict) -> bool:
    """Same traces and tick labels; axis ends within 0.1 % of the span."""
    if shown["traces"] != fresh["traces"] or shown["ticks"] != fresh["ticks"]:
        return False
    for axis, (lo, hi) in fresh["axes"].items():
        got, tol = shown["axes"][axis], 1e-3 * (hi - lo)
        if abs(got[0] - lo) > tol or abs(got[1] - hi) > tol:
            return False
    return True


def test_static_meta_names_the_autoranged_axes() -> None:
    """Fixed ranges and 3-D scenes are left alone; an unset cartesian axis is autoranged."""
    import plotly.graph_objects as go

    from alignkit.static import _autoranged

    fig = go.Figure(
        [
            go.Scatter(x=[0, 1], y=[0, 1]),
            go.Scatter(x=[0, 1], y=[0, 1], xaxis="x2", yaxis="y2"),
            go.Scatter3d(x=[0], y=[0], z=[0]),
        ],
        layout={"xaxis2": {"range": [0, 2]}, "yaxis2": {"autorange": "reversed"}},
    )
    assert _autoranged(fig) == {
        "xaxis.autorange": True,
        "yaxis.autorange": True,
        "yaxis2.autorange": "reversed",
    }
