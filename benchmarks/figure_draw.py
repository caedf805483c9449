"""What plotly.js alone needs to redraw each explorer's figure, against a bare figure.

Run ``ALIGNKIT_FAST=1 .venv/bin/python benchmarks/figure_draw.py`` (about 3 minutes).
Writes ``benchmarks/results/figure_draw.json`` and prints a table.

``benchmarks/latency.py`` times a press in JupyterLab from keydown to redraw: kernel,
messages, FigureWidget and plotly.js together. For the explorers that plotly.js must
redraw whole (a heatmap, contour or 3-D trace in the figure: the kit's
:class:`alignkit.live.redraw.Sender` cannot move their points by animate), this benchmark
isolates plotly.js's own part. No kernel, no widget: one headless Chromium page
(``tests/jupyterlab_driver.py``'s Chromium and flags) holds the explorer's figure, drawn
from its JSON, and the bare figure of the latency floor (one 200-point line). Each update is
``Plotly.update`` of every trace's data with the same arrays (what a full update from the
kernel makes plotly.js do: recompute and redraw the whole figure), timed to the promise
("js") and to the next animation frame after it ("frame": the browser has painted,
WebGL included; animation frames come at the display rate, 60 Hz here, so a redraw that
ends within the frame reads about 16.7 ms however short it is). Updates alternate in
blocks of 5 between the bare figure and the explorer's, so both see the same machine load.
Per explorer the same is measured on the figure without its heavy traces (heatmap,
contour, scatter3d) and, where it has any, with those alone.

``scene_cost`` measures the same on a one-trace 3-D scene alone, by canvas size (10
points) and by points (a 400 px square).

``sampling_points`` times what a live ε move of the sampling explorer makes plotly.js do
(circle2d, 1000 samples: the explorer's default outside fast mode): ``Plotly.animate``
without redraw of the samples' points and colours (:class:`alignkit.live.redraw.Sender`'s
path), over the ε grid's samples, with every sample drawn against the first
:data:`alignkit.manifold.plots.sampling.DRAWN` (what the figure draws), in alternating blocks.

The WebGL of headless Chromium here is SwiftShader (software), as the renderer string
in the JSON says: on a machine with a GPU the 3-D scenes draw far faster, so the 3-D
numbers are this machine's, not a laptop browser's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
from pathlib import Path
from typing import Any

import plotly
from plotly.io.json import to_json_plotly

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from explorers import discover  # noqa: E402
from jupyterlab_driver import CHROMIUM_ARGS, PLOTLY_JS, find_chromium  # noqa: E402

HEAVY = frozenset({"heatmap", "contour", "scatter3d"})
BARE = {
    "data": [{"type": "scatter", "mode": "lines", "x": list(range(200)),
              "y": [((i * 37) % 101) / 100 for i in range(200)]}],
    "layout": {"width": 600, "height": 400},
}  # fmt: skip


def _alternating(prep: str, call: str) -> str:
    """JS that draws ``figs`` in their own divs, then times one update of each in
    alternating blocks of ``block`` (after one untimed warm-up update each); returns per
    figure the ms to the update's promise (js) and to the next animation frame (frame).
    ``prep`` (JS statements, untimed) and ``call`` (the awaited update) see ``gd`` (the
    div) and ``f`` (the next of ``frames[i]``, or null without frames)."""
    return (
        """async ([figs, frames, n, block]) => {
  const divs = figs.map((f, i) => {
    const d = document.createElement('div'); d.id = 'f' + i; document.body.appendChild(d);
    return d; });
  for (let i = 0; i < figs.length; i++) {
    const f = JSON.parse(JSON.stringify(figs[i]));
    await Plotly.newPlot(divs[i], f.data, f.layout); }
  const out = figs.map(() => ({js: [], frame: []}));
  let step = 0;
  const once = async (i) => {
    const gd = divs[i], f = frames ? frames[i][step++ % frames[i].length] : null;
    """
        + prep
        + """
    const t0 = performance.now();
    await """
        + call
        + """;
    const t1 = performance.now();
    await new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));
    out[i].js.push(t1 - t0); out[i].frame.push(performance.now() - t0); };
  for (let i = 0; i < figs.length; i++) await once(i);  // warm-up, not recorded
  out.forEach(o => { o.js = []; o.frame = []; });
  for (let done = 0; done < n; done += block)
    for (let i = 0; i < figs.length; i++)
      for (let k = 0; k < block; k++) await once(i);
  divs.forEach(d => { Plotly.purge(d); d.remove(); });
  return out; }"""
    )


# every trace's data again, by Plotly.update (what a full update from the kernel makes
# plotly.js do: recompute and redraw the whole figure)
PAGE_JS = _alternating(
    """const idx = gd.data.map((_, k) => k), upd = {};
    for (const key of ['x', 'y', 'z']) upd[key] = gd.data.map(t => t[key]);""",
    "Plotly.update(gd, upd, {}, idx)",
)

# the samples' points and colours moved by animate without redraw (the live panel's path),
# every drawn trace in the frame, the others with an empty edit
ANIMATE_JS = _alternating(
    """const at = gd.data.findIndex(t => t.name === 'samples');
    const drawn = gd.data.map((_, k) => k).filter(k => gd.data[k].visible !== false);
    const data = drawn.map(k => k === at ? {x: f.x, y: f.y, 'marker.color': f.c} : {});""",
    """Plotly.animate(gd, {data: data, traces: drawn, layout: {}},
                         {transition: {duration: 0}, frame: {duration: 0, redraw: false}})""",
)


RENDERER_JS = """() => { const g = document.createElement('canvas').getContext('webgl');
  if (!g) return 'no WebGL';
  const e = g.getExtension('WEBGL_debug_renderer_info');
  return e ? g.getParameter(e.UNMASKED_RENDERER_WEBGL) : g.getParameter(g.RENDERER); }"""


def explorer_figures() -> dict[str, dict[str, Any]]:
    """Explorer name -> its figure as plotly JSON (the explorer at its defaults)."""
    figs = {}
    for explorers in discover(["stability", "divergences", "manifold"]).values():
        for name, make in explorers.items():
            panel = make()
            figs[name] = json.loads(to_json_plotly(panel.figure.to_dict()))
            panel.close()
    return figs


def variants(fig: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The figure as drawn, without its heavy traces and (if any) with those alone."""
    heavy = [t for t in fig["data"] if t.get("type") in HEAVY]
    out = {"figure": fig}
    if heavy:
        light = [t for t in fig["data"] if t.get("type") not in HEAVY]
        out["without heavy traces"] = {**fig, "data": light}
        out["heavy traces only"] = {**fig, "data": heavy}
    return out


def scene_figures() -> dict[str, dict[str, Any]]:
    """One-trace 3-D scenes by canvas size (10 points) and by points (a 400 px scene).

    What a scene's redraw costs under this machine's WebGL: the canvas's area, the points.
    """
    import numpy as np

    xyz = np.random.default_rng(0).normal(size=(3, 2000)).round(4).tolist()

    def scene(side: int, points: int) -> dict[str, Any]:
        trace = {"type": "scatter3d", "mode": "markers", "marker": {"size": 2},
                 **{k: xyz[i][:points] for i, k in enumerate("xyz")}}  # fmt: skip
        margin = {"l": 0, "r": 0, "t": 0, "b": 0}
        return {"data": [trace], "layout": {"width": side, "height": side, "margin": margin}}

    sizes = {f"{side} px, 10 points": scene(side, 10) for side in (200, 400, 800)}
    return sizes | {f"400 px, {n} points": scene(400, n) for n in (300, 1000, 2000)}


def sampling_points(page: Any, n: int, block: int) -> dict[str, Any]:
    """ms of a live ε move of the sampling figure, all 1000 samples drawn vs the first DRAWN."""
    import numpy as np

    from alignkit.manifold.plots.sampling import DRAWN, plot_sampling
    from alignkit.manifold.views import EPS_GRID, sampling_view

    total = 1000

    def view(eps: float) -> Any:
        return sampling_view("circle2d", "exact", "bias", eps, n=total)

    views = [view(float(e)) for e in EPS_GRID]
    fig = json.loads(to_json_plotly(plot_sampling(views[0]).to_dict()))
    figs, frames = [], []
    for k in (total, DRAWN):
        f = json.loads(json.dumps(fig))
        frame = [
            {"x": np.asarray(v.points[:k, 0]).tolist(), "y": np.asarray(v.points[:k, 1]).tolist(),
             "c": np.asarray(v.distance[:k]).tolist()}
            for v in views
        ]  # fmt: skip
        trace = next(t for t in f["data"] if t.get("name") == "samples")
        trace.update(x=frame[0]["x"], y=frame[0]["y"])
        trace["marker"]["color"] = frame[0]["c"]
        figs.append(f)
        frames.append(frame)
    every, first = page.evaluate(ANIMATE_JS, [figs, frames, n, block])
    res: dict[str, Any] = {"moves": len(first["js"])}
    for k, times in ((total, every), (DRAWN, first)):
        res[f"{k}_points_js_ms"] = _median(times["js"])
        res[f"{k}_points_frame_ms"] = _median(times["frame"])
    res["js_ratio"] = round(_median(every["js"]) / _median(first["js"]), 2)
    res["frame_ratio"] = round(_median(every["frame"]) / _median(first["frame"]), 2)
    return res


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 2)


def measure(page: Any, fig: dict[str, Any], n: int, block: int) -> dict[str, Any]:
    """Median js / frame ms of ``fig`` and of the bare figure, updated in alternation."""
    bare, this = page.evaluate(PAGE_JS, [[BARE, fig], None, n, block])
    res = {
        "js_ms": _median(this["js"]), "frame_ms": _median(this["frame"]),
        "bare_js_ms": _median(bare["js"]), "bare_frame_ms": _median(bare["frame"]),
        "updates": len(this["frame"]),
    }  # fmt: skip
    res["js_ratio_to_bare"] = round(res["js_ms"] / res["bare_js_ms"], 2)
    res["frame_ratio_to_bare"] = round(res["frame_ms"] / res["bare_frame_ms"], 2)
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--updates", type=int, default=30, help="timed updates per figure")
    parser.add_argument("--block", type=int, default=5, help="updates per alternation block")
    parser.add_argument("--explorers", nargs="*", help="names (default: every explorer)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/figure_draw.json"))
    parser.add_argument(
        "--points-only", action="store_true",
        help="measure sampling_points alone and replace that entry of the existing JSON",
    )  # fmt: skip
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    figs = {} if args.points_only else explorer_figures()
    if args.explorers:
        figs = {k: v for k, v in figs.items() if k in args.explorers}
    report: dict[str, Any] = {
        "benchmark": __doc__.split("\n")[0],
        "protocol": __doc__,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "load_average_before": os.getloadavg()[0]},
        "plotly": plotly.__version__,
        "args": vars(args),
        "explorers": {},
    }  # fmt: skip
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=find_chromium(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_content("<html><body></body></html>")
        page.add_script_tag(path=str(PLOTLY_JS))
        report["webgl_renderer"] = page.evaluate(RENDERER_JS)
        for name, fig in figs.items():
            types = sorted({t.get("type", "scatter") for t in fig["data"]})
            entry: dict[str, Any] = {"trace_types": types,
                                     "heavy": sorted(HEAVY.intersection(types))}  # fmt: skip
            for label, f in variants(fig).items():
                entry[label] = measure(page, f, args.updates, args.block)
            report["explorers"][name] = entry
            row = ", ".join(f"{k} js {v['js_ms']} ms ({v['js_ratio_to_bare']}x), "
                            f"frame {v['frame_ms']} ms ({v['frame_ratio_to_bare']}x)"
                            for k, v in entry.items() if isinstance(v, dict))  # fmt: skip
            print(f"{name}: {row}", flush=True)
        report["sampling_points"] = res = sampling_points(page, args.updates, args.block)
        print(f"sampling explorer's ε move: {res}", flush=True)
        report["scene_cost"] = {}
        for label, f in ({} if args.points_only else scene_figures()).items():
            report["scene_cost"][label] = res = measure(page, f, args.updates, args.block)
            print(f"3-D scene {label}: frame {res['frame_ms']} ms "
                  f"({res['frame_ratio_to_bare']}x the bare figure)", flush=True)  # fmt: skip
        browser.close()
    report["machine"]["load_average_after"] = os.getloadavg()[0]
    if args.points_only and Path(args.out).exists():  # the other entries as they were
        old = json.loads(Path(args.out).read_text())
        old["sampling_points"] = {**report["sampling_points"], "date": report["date"],
                                  "machine": report["machine"]}  # fmt: skip
        report = {**old, "protocol": report["protocol"]}  # (the protocol as it is now)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
