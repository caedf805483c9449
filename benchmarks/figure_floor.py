"""What the heavy explorers' figures cost in JupyterLab with no panel at all: each figure's floor.

Run ``ALIGNKIT_FAST=1 .venv/bin/python benchmarks/figure_floor.py`` (about 4 minutes).
Writes ``benchmarks/results/figure_floor.json`` and prints a table.

``benchmarks/latency.py`` times an explorer's press in JupyterLab against the bare-figure
floor (a slider and a 200-point line). A press whose figure shows a 3-D trace (or, before
the fit explorers' grids became pictures, a heatmap or contour), or whose axes move, is
redrawn whole by plotly.js (the kit's :class:`alignkit.live.redraw.Sender` can move only
scatter and bar points by animate).
This benchmark asks how low such a press could go with that figure: one notebook, in the
same JupyterLab and Chromium as ``latency.py``, holds the bare floor cell and, per heavy
explorer, its figure at the defaults as a plain ``FigureWidget`` under a bare slider
callback. The callback re-sends one scatter trace's ``y`` (the same values to 1e-9), which makes
plotly.js recompute and redraw the whole figure, as a full update from a panel does; the
kernel work is a microsecond-scale assignment, so a press measures messages, FigureWidget
and plotly.js alone. Presses alternate in blocks between the floor and each figure, so all
see the same machine load; the same keydown -> first plot mutation timing as
``latency.py``. A ratio above 1.5 here means the issue's browser target (median <= 1.5x
the floor) cannot be met with that figure redrawn whole, whatever the panel does.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))

from jupyterlab_driver import chromium, find_chromium, open_notebook, running_lab  # noqa: E402
from latency_browser import (  # noqa: E402
    BASELINE_NOTEBOOK,
    SETTLE_MS,
    _press,
    _Walker,
    ratio,
    stats,
)

# Every explorer with a heavy trace, as its notebook calls it: key -> (module, function, kwargs)
HEAVY_EXPLORERS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "fit_explorer": (
        "alignkit.divergences.widgets", "fit_explorer",
        {"divergence": "reverse_kl", "init_mean": 1.0},
    ),
    "fit_2d_explorer": (
        "alignkit.divergences.widgets", "fit_2d_explorer",
        {"divergence": "reverse_kl", "init_x": -1.6, "init_y": -0.6},
    ),
    "sampling_explorer": (
        "alignkit.manifold.widgets", "sampling_explorer",
        {"manifold": "circle2d", "model": "exact", "perturbation": "bias", "eps": 0.5},
    ),
    "lyapunov_explorer": (
        "alignkit.manifold.widgets", "lyapunov_explorer",
        {"manifold": "circle2d", "model": "exact"},
    ),
    "counter_example": (
        "alignkit.manifold.widgets", "sampling_explorer",
        {"manifold": "circle2d", "model": "exact", "perturbation": "endpoint", "eps": 0.5},
    ),
}  # fmt: skip
FIGURE_CELL = """\
import importlib
import ipywidgets as W
import numpy as np
import plotly.graph_objects as go

def bare_figure(module, name, kwargs):
    panel = getattr(importlib.import_module(module), name)(**kwargs)
    fig = go.FigureWidget(panel.figure)
    panel.close()
    k = next(i for i, t in enumerate(fig.data) if t.type == "scatter" and t.y is not None)
    y0 = np.asarray(fig.data[k].y, dtype=float)
    slider = W.FloatSlider(value=0.3, min=0.01, max=1.5, step=0.01, continuous_update=True)

    def on_change(change):
        # the same values to 1e-9 (plotly.py sends nothing for equal values): plotly.js
        # recomputes and redraws the whole figure
        fig.data[k].y = y0 * (1 + 1e-9 * change["new"])

    slider.observe(on_change, names="value")
    return W.VBox([slider, fig])

W.VBox([bare_figure(*spec) for spec in {explorers!r}.values()])
"""


def notebook(explorers: dict[str, tuple[str, str, dict[str, Any]]]) -> nbformat.NotebookNode:
    nb = nbformat.from_dict(json.loads(json.dumps(BASELINE_NOTEBOOK)))
    nb.cells.append(nbformat.v4.new_code_cell(FIGURE_CELL.format(explorers=explorers)))
    return nb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--blocks", type=int, default=5, help="alternation blocks")
    parser.add_argument("--block", type=int, default=4, help="presses per block")
    parser.add_argument("--explorers", nargs="*", help="names (default: every heavy explorer)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/figure_floor.json"))
    args = parser.parse_args()
    chosen = {k: v for k, v in HEAVY_EXPLORERS.items() if not args.explorers or k in args.explorers}
    names = ["floor", *chosen]
    raw: dict[str, list[float]] = {n: [] for n in names}
    with tempfile.TemporaryDirectory() as tmp:
        nbformat.write(notebook(chosen), Path(tmp) / "figure_floor.ipynb")
        with running_lab(Path(tmp), timeout=120) as lab, chromium(find_chromium()) as ctx:
            nb = open_notebook(ctx, lab, "figure_floor.ipynb", timeout=120)
            nb.run_all(timeout=600)
            nb.page.wait_for_timeout(2000)
            # slider i drives plot i (the floor's, then one per figure, in order)
            walkers = [_Walker("slider", i) for i in range(len(names))]
            for i, w in enumerate(walkers):  # warm-up, not recorded
                w.focus(nb, i)
                _press(nb, i, w)
                nb.page.wait_for_timeout(SETTLE_MS)
            for _ in range(args.blocks):
                for i, name in enumerate(names):
                    walkers[i].focus(nb, i)
                    for _ in range(args.block):
                        lat = _press(nb, i, walkers[i])
                        if lat.mutation_ms is not None:
                            raw[name].append(round(lat.mutation_ms, 1))
                        nb.page.wait_for_timeout(SETTLE_MS)
            nb.close()
    floor = stats(raw["floor"])
    figures = {}
    for name in chosen:
        s = stats(raw[name])
        figures[name] = {
            "keydown_to_redraw_ms": s,
            "ratio_to_floor": {q: ratio(s[q], floor[q]) for q in ("median", "p95")},
            "raw_keydown_to_redraw_ms": raw[name],
        }
    out = {
        "benchmark": __doc__.split("\n")[0],
        "protocol": __doc__,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "args": vars(args),
        "floor": {"keydown_to_redraw_ms": floor, "raw_keydown_to_redraw_ms": raw["floor"]},
        "figures": figures,
    }
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"floor: median {floor['median']} ms, p95 {floor['p95']} ms")
    for name, r in figures.items():
        s = r["keydown_to_redraw_ms"]
        print(
            f"{name:>24}: median {s['median']} ms ({r['ratio_to_floor']['median']}x), "
            f"p95 {s['p95']} ms ({r['ratio_to_floor']['p95']}x), n = {s['n']}"
        )


if __name__ == "__main__":
    main()
