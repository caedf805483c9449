"""Experiment (issue 15): does plotly's animate path redraw explorer figures faster than restyle?

Run ``ALIGNKIT_FAST=1 .venv/bin/python benchmarks/latency_animate.py`` (about 5 minutes).
Writes ``benchmarks/results/latency_animate.json`` and prints a table.

One JupyterLab, one headless Chromium (``tests/jupyterlab_driver.py``), the bare-figure
floor page of ``benchmarks/latency_browser.py``. Per explorer figure (gd_explorer,
simulation_explorer, sweep_explorer; the panel adds nothing, so each figure is driven by a
bare slider callback; ``sweep_fixed`` is sweep_explorer's figure with its right panel's axes
fixed to the sliders' ranges, as animate needs) one notebook holds the same figure four
times, each updated by the explorer's own ``update_*`` function, sent four ways:

- ``restyle``: inside ``fig.batch_update()`` (what LivePanel does today: one update message);
- ``animate``: inside ``fig.batch_animate(duration=0)`` (plotly.py's public API; plotly.js
  ``Plotly.animate`` with its default ``frame.redraw = true``);
- ``animate_noredraw``: the same edits sent as an animate message with ``redraw: false``
  (private plotly.py API ``_perform_batch_animate``): only the changed traces' points move;
- ``hybrid``: as ``animate_noredraw`` for the trace edits, then the layout edits (titles)
  as a separate relayout message (animate without redraw does not redraw titles).

Presses alternate in blocks of 4 between the four copies and the floor page; timings are
keydown -> first mutation of that plot's trace paths ("redraw"), -> next animation frame, and
-> the last mutation of the plot's SVG within 400 ms ("last": all the redraws the press
caused, e.g. the full redraw that ``animate`` defers until after its transition).
After the presses every copy has seen the same slider values; the rendered state of each
(title text, every axis range, trace data, trace paths) is compared with ``restyle``'s: a
way that differs is not a correct replacement (axes do not autorange under animate).
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))

import latency_browser as lb  # noqa: E402
from jupyterlab_driver import chromium, find_chromium, open_notebook, running_lab  # noqa: E402

MODES = ("restyle", "animate", "animate_noredraw", "hybrid")
EXPLORERS = tuple(os.environ.get("EXPLORERS", "gd,sim,sweep,sweep_fixed").split(","))
SETUP = textwrap.dedent(
    """\
    import math
    import ipywidgets as W
    import plotly.graph_objects as go
    from alignkit.stability.plots import plot_simulation, update_simulation
    from alignkit.stability.plots.quadratic import plot_quadratic_gd, update_quadratic_gd
    from alignkit.stability.plots.sweep import plot_sweep, update_sweep
    from alignkit.stability.sweep import load_sweep
    from alignkit.stability.views import simulation_view, sweep_view
    from alignkit.stability.widgets import _gd_compute

    NO_REDRAW = {"transition": {"duration": 0, "easing": "linear"},
                 "frame": {"duration": 0, "redraw": False}}
    SPECS = {  # plot, update, compute(slider value), slider (low, high, step; None: log)
        "gd": (plot_quadratic_gd, update_quadratic_gd, lambda v: _gd_compute(v, 2.0, 30),
               0.01, 1.5, 0.01, 0.3),
        "sim": (plot_simulation, update_simulation,
                lambda v: simulation_view(v, 2, n=10, d=20, steps=150, seeds=256,
                                          replacement=False, seed=0),
                0.005, 0.5, 0.005, 0.1),
        "sweep": (plot_sweep, update_sweep,
                  lambda v: sweep_view(load_sweep()["mlp"], v, 4), 0.01, 64.0, None, 0.16),
    }

    def _plot_sweep_fixed(view):  # the right panel's axes fixed to the sliders' ranges
        fig = plot_sweep(view)
        fig.update_xaxes(range=[math.log10(0.8), math.log10(60)], row=1, col=2)
        fig.update_yaxes(range=[math.log10(0.008), math.log10(80)], row=1, col=2)
        return fig

    SPECS["sweep_fixed"] = (_plot_sweep_fixed, *SPECS["sweep"][1:])

    def make(name, mode):
        plot, update, compute, lo, hi, step, v0 = SPECS[name]
        fig = go.FigureWidget(plot(compute(v0)))
        if step is None:
            s = W.FloatLogSlider(value=v0, base=10, min=math.log10(lo), max=math.log10(hi),
                                 step=0.05, continuous_update=True, description=mode)
        else:
            s = W.FloatSlider(value=v0, min=lo, max=hi, step=step, continuous_update=True,
                              description=mode)

        def on_change(change):
            r = compute(change["new"])
            if mode == "restyle":
                with fig.batch_update():
                    update(fig, r)
            elif mode == "animate":
                with fig.batch_animate(duration=0, easing="linear"):
                    update(fig, r)
            else:
                fig._in_batch_mode = True
                try:
                    update(fig, r)
                    layout = {}
                    if mode == "hybrid":
                        layout = dict(fig._batch_layout_edits)
                        fig._batch_layout_edits.clear()
                finally:
                    fig._in_batch_mode = False
                    fig._perform_batch_animate(NO_REDRAW)
                if layout:
                    fig.update_layout(layout)

        s.observe(on_change, names="value")
        return W.VBox([s, fig])
    """
)
# The rendered state of the i-th plot of the page.
_STATE_JS = """(i) => {
  const p = document.querySelectorAll('.jp-Notebook .js-plotly-plot')[i];
  const t = p.querySelector('.gtitle'), fl = p._fullLayout, axes = {};
  for (const k of Object.keys(fl)) if (/^[xy]axis\\d*$/.test(k)) axes[k] = fl[k].range.slice();
  const data = p.data.map(d => [Array.from(d.x || []).map(Number),
                                Array.from(d.y || []).map(Number)]);
  const paths = Array.from(p.querySelectorAll('.scatterlayer .trace path'))
    .map(e => e.getAttribute('d') || '');
  return {title: t ? t.textContent : null, axes, data, paths};
}"""


# Keydown -> the LAST mutation of the plot's SVG (titles included) within the settle time:
# when every redraw the press caused (a deferred full redraw included) has finished.
_ARM_LAST_JS = """(i) => {
  const p = document.querySelectorAll('.jp-Notebook .js-plotly-plot')[i];
  const rec = {t0: null, tLast: null};
  const obs = new MutationObserver(() => { if (rec.t0 !== null) rec.tLast = performance.now(); });
  obs.observe(p, {subtree: true, attributes: true, childList: true, characterData: true});
  const onKey = () => { if (rec.t0 === null) rec.t0 = performance.now();
                        document.removeEventListener('keydown', onKey, true); };
  document.addEventListener('keydown', onKey, true);
  rec.stop = () => { obs.disconnect(); document.removeEventListener('keydown', onKey, true); };
  window.__last = rec;
}"""
_TAKE_LAST_JS = """() => { const r = window.__last; r.stop();
  return r.t0 === null || r.tLast === null ? null : r.tLast - r.t0; }"""
LAST_SETTLE_MS = 400


def _measure(context: Any, lab: Any, base: Any, name: str, presses: int, block: int) -> dict:
    nb = open_notebook(context, lab, f"_animate_{name}.ipynb", timeout=120)
    try:
        nb.run_all(timeout=300)
        nb.wait_for_plots(len(MODES))
        where = {m: (nb, nb.page.evaluate(lb._FIRST_SLIDER_JS, i + 1)["index"])
                 for i, m in enumerate(MODES)}  # fmt: skip
        where["floor"] = (base, 0)
        plots = {m: i for i, m in enumerate(MODES)}
        lats: dict[str, list] = {k: [] for k in where}
        last: dict[str, list] = {k: [] for k in where}
        walkers = {k: lb._Walker(plot=plots.get(k)) for k in where}
        while len(lats["floor"]) < presses:
            n = min(block, presses - len(lats["floor"]))
            for k, (page, index) in where.items():
                page.page.bring_to_front()
                page.focus_slider(index)
                for _ in range(n):
                    page.page.evaluate(_ARM_LAST_JS, plots.get(k, 0))
                    lats[k].append(lb._press(page, index, walkers[k]))
                    page.page.wait_for_timeout(LAST_SETTLE_MS)
                    last[k].append(page.page.evaluate(_TAKE_LAST_JS))
        nb.page.wait_for_timeout(500)
        states = {m: nb.page.evaluate(_STATE_JS, i) for i, m in enumerate(MODES)}
        readouts = {m: nb.slider_readout(where[m][1]) for m in MODES}
    finally:
        nb.close()
    out: dict[str, Any] = {k: lb._browser_stats(v) for k, v in lats.items()}
    for k, v in last.items():
        out[k]["keydown_to_last_mutation_ms"] = lb.stats([x for x in v if x is not None])
    floor = out["floor"]["keydown_to_redraw_ms"]["median"]
    ref = states["restyle"]
    restyle = out["restyle"]["keydown_to_redraw_ms"]["median"]
    for m in MODES:
        s, e = states[m], out[m]
        med = e["keydown_to_redraw_ms"]["median"]
        e["ratio_to_floor"] = lb.ratio(med, floor)
        e["ratio_to_restyle"] = lb.ratio(med, restyle)
        e["slider_readout_after"] = readouts[m]
        same = {key: s[key] == ref[key] for key in ("title", "axes", "data", "paths")}
        e["same_as_restyle"] = same
        e["correct"] = all(same.values()) and readouts[m] == readouts["restyle"]
        if not same["axes"]:
            e["axes"], e["axes_restyle"] = s["axes"], ref["axes"]
        if not same["title"]:
            e["title"], e["title_restyle"] = s["title"], ref["title"]
    return out


def main() -> int:
    presses = int(os.environ.get("PRESSES", 20))
    block = 4
    executable = find_chromium()
    if executable is None:
        print("no Chromium found")
        return 1
    extra = {"_baseline_bare_slider.ipynb": json.dumps(lb.BASELINE_NOTEBOOK, indent=1)}
    for name in EXPLORERS:
        extra[f"_animate_{name}.ipynb"] = lb._notebook(
            [SETUP] + [f"make({name!r}, {m!r})" for m in MODES]
        )
    load_before = os.getloadavg()
    result: dict[str, Any] = {"method": __doc__, "presses": presses, "block": block,
                              "fast_mode": os.environ.get("ALIGNKIT_FAST") == "1"}  # fmt: skip
    with running_lab(extra_files=extra, timeout=120) as lab, chromium(executable) as context:
        result["chromium"] = context.browser.version
        base = open_notebook(context, lab, "_baseline_bare_slider.ipynb", timeout=120)
        try:
            base.run_all(timeout=120)
            base.wait_for_plots(1)
            for name in EXPLORERS:
                print(f"  {name} ...", flush=True)
                result[name] = _measure(context, lab, base, name, presses, block)
        finally:
            base.close()
    result["load_average_1_5_15_min_before"] = load_before
    result["load_average_1_5_15_min_after"] = os.getloadavg()
    out = ROOT / os.environ.get("OUT", "benchmarks/results/latency_animate.json")
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    print(f"{'figure / way':26s} redraw med  p95   frame med  last med  /floor /restyle correct")
    for name in EXPLORERS:
        for k in (*MODES, "floor"):
            e = result[name][k]
            r, f = e["keydown_to_redraw_ms"], e["keydown_to_next_frame_ms"]
            la = e["keydown_to_last_mutation_ms"]["median"]
            print(f"{name + ' / ' + k:26s} {r['median']:8.1f} {r['p95']:6.1f} {f['median']:9.1f}"
                  f" {la:9.1f}"
                  f"  {e.get('ratio_to_floor', '')!s:>6} {e.get('ratio_to_restyle', '')!s:>6}"
                  f"  {e.get('correct', '')}")  # fmt: skip
    print("load", load_before, "->", result["load_average_1_5_15_min_after"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
