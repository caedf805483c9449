"""The browser half of ``benchmarks/latency.py``: every explorer against the bare-figure floor.

Not run on its own; see ``benchmarks/latency.py`` for the protocol. Also holds the
helpers both halves use (:func:`stats`, :func:`ratio`, :data:`TARGETS`).
"""

from __future__ import annotations

import json
import os
import re
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from jupyterlab_driver import (  # noqa: E402
    KeyLatency,
    chromium,
    find_chromium,
    open_notebook,
    running_lab,
)

TARGETS = {"kernel_median_ms": 20.0, "kernel_p95_ms": 50.0, "ratio_median": 1.5, "ratio_p95": 2.5}
SETTLE_MS = 150
PHASES = ("cold", "warm", "ahead")
MISS_S = 5.0  # a press with no redraw within this many seconds counts as missed
NOTEBOOK_DIR = ROOT / "notebooks"

BASELINE_NOTEBOOK = {
    "cells": [
        {
            "cell_type": "code",
            "execution_count": None,
            "id": "bare-slider-figure",
            "metadata": {},
            "outputs": [],
            "source": textwrap.dedent(
                """\
                import time
                import numpy as np
                import ipywidgets as W
                import plotly.graph_objects as go

                x = np.linspace(0.0, 1.0, 200)
                fig = go.FigureWidget(
                    go.Scatter(x=x, y=np.sin(2 * np.pi * 0.3 * x), mode="lines", name="line"),
                    layout=dict(height=400, width=600),
                )
                slider = W.FloatSlider(value=0.3, min=0.01, max=1.5, step=0.01,
                                       continuous_update=True, description="k")
                kernel_ms = []

                def on_change(change):
                    t = time.perf_counter()
                    with fig.batch_update():
                        fig.data[0].y = np.sin(2 * np.pi * change["new"] * x)
                    kernel_ms.append((time.perf_counter() - t) * 1e3)

                slider.observe(on_change, names="value")
                W.VBox([slider, fig])
                """
            ),
        }
    ],
    "metadata": {
        "kernelspec": {
            "display_name": "Python 3 (ipykernel)",
            "language": "python",
            "name": "python3",
        },
        "language_info": {"name": "python"},
    },
    "nbformat": 4,
    "nbformat_minor": 5,
}


def stats(values: list[float]) -> dict[str, float | int | None]:
    """Median, p95, mean, min, max and count of a list of milliseconds."""
    if not values:
        return {"n": 0, "median": None, "p95": None, "mean": None, "min": None, "max": None}
    a = np.asarray(values, dtype=float)
    return {
        "n": int(a.size),
        "median": round(float(np.median(a)), 3),
        "p95": round(float(np.percentile(a, 95)), 3),
        "mean": round(float(a.mean()), 3),
        "min": round(float(a.min()), 3),
        "max": round(float(a.max()), 3),
    }


def ratio(a: float | int | None, b: float | int | None) -> float | None:
    return None if a is None or not b else round(float(a) / float(b), 2)


# --- (b) browser ------------------------------------------------------------------------
# Finds, in the cell that built an explorer, its first visible slider handle.
# Finds, in the cell that built an explorer, its first visible slider handle, else its first
# visible dropdown (then also the index of the cell's plot among the notebook's plots).
_FIRST_SLIDER_JS = """(cell) => {
  const w = window.jupyterapp.shell.currentWidget;
  const node = w.content.widgets[cell].node;
  const visible = (sel) =>
    Array.from(node.querySelectorAll(sel)).find(e => e.offsetParent !== null);
  const label = (e, box) => {
    const b = e.closest(box), l = b && b.querySelector('.widget-label');
    return l ? (l.textContent || '').trim() : '';
  };
  const h = visible('.noUi-handle');
  if (h) {
    const all = Array.from(document.querySelectorAll('.jp-Notebook .noUi-handle'));
    return {kind: 'slider', index: all.indexOf(h), label: label(h, '.widget-slider'), plot: null};
  }
  const s = visible('.widget-dropdown select');
  const plot = node.querySelector('.js-plotly-plot');
  if (!s || !plot) return null;
  const selects = Array.from(document.querySelectorAll('.jp-Notebook .widget-dropdown select'));
  const plots = Array.from(document.querySelectorAll('.jp-Notebook .js-plotly-plot'));
  return {kind: 'dropdown', index: selects.indexOf(s), label: label(s, '.widget-dropdown'),
          plot: plots.indexOf(plot)};
}"""
_SELECT_JS = """(i) => {
  const s = document.querySelectorAll('.jp-Notebook .widget-dropdown select')[i];
  return [s.selectedIndex, 0, s.options.length - 1];
}"""
_HANDLE_JS = """(i) => {
  const h = document.querySelectorAll('.jp-Notebook .noUi-handle')[i];
  return [h.getAttribute('aria-valuenow'), h.getAttribute('aria-valuemin'),
          h.getAttribute('aria-valuemax')].map(Number);
}"""
# CPython's full collections (generation 2) in a kernel, each one's ms, into _GC: after a
# notebook's Run All one takes 200-330 ms (~470 000 tracked objects, most of them plotly's
# and torch's), and now and then one falls inside a press (run with kernel_eval, in the
# explorers' kernel and the floor's; installed once per kernel).
_GC_SETUP = """
import gc as _gc, time as _time
if "_GC" not in globals():
    _GC, _GC_T = [], [0.0]
    def _gc_cb(phase, info):
        if info["generation"] == 2:
            if phase == "start":
                _GC_T[0] = _time.perf_counter()
            else:
                _GC.append(round((_time.perf_counter() - _GC_T[0]) * 1e3, 1))
    _gc.callbacks.append(_gc_cb)
"""
_GC_READ = "import json as _j\nprint(_j.dumps(_GC)); _GC.clear()"
# Kernel-side probes (run with kernel_eval, outside the timed presses).
_KERNEL_SETUP = (
    _GC_SETUP
    + """
from alignkit.live import _OPEN_PANELS as _P
import numpy as _np

def _nbytes(v):
    if isinstance(v, dict):
        return sum(_nbytes(x) for x in v.values())
    if isinstance(v, (list, tuple)):
        return sum(_nbytes(x) for x in v)
    if isinstance(v, _np.ndarray):
        return int(v.nbytes)
    return len(v) if isinstance(v, str) else 8

def _miss(key):
    return False, None

def _record_messages(fig, sink):
    send, animate, relayout = fig._send_update_msg, fig._send_animate_msg, fig._send_relayout_msg
    def rec(restyle_data, relayout_data, trace_indexes=None, **kw):
        sink.append([_nbytes(restyle_data) + _nbytes(relayout_data), len(trace_indexes or [])])
        return send(restyle_data, relayout_data, trace_indexes, **kw)
    def rec_animate(styles_data, relayout_data, trace_indexes, animation_opts):
        sink.append([_nbytes(styles_data) + _nbytes(relayout_data), len(trace_indexes or [])])
        return animate(styles_data, relayout_data, trace_indexes, animation_opts)
    def rec_relayout(layout_data, **kw):  # the title after moved points: same update
        if sink:
            sink[-1][0] += _nbytes(layout_data)
        return relayout(layout_data, **kw)
    fig._send_update_msg, fig._send_animate_msg = rec, rec_animate
    fig._send_relayout_msg = rec_relayout
"""
)


def _explorer_cells(path: Path) -> list[tuple[int, str, str]]:
    """(cell index, explorer function, panel key) for each cell that builds an explorer."""
    cells = json.loads(path.read_text())["cells"]
    out = []
    for i, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        found = re.search(r"\b(\w+_explorer)\(", source)
        if found:
            key = re.search(r"key\s*=\s*[\"'](\w+)[\"']", source)
            out.append((i, found.group(1), key.group(1) if key else found.group(1)))
    return out


class _Walker:
    """Arrow presses that bounce off the slider's ends, and turn back after a missed press."""

    def __init__(self, kind: str = "slider", plot: int | None = None) -> None:
        self.kind, self.plot = kind, plot  # a dropdown: the next option down / up
        self.forward, self.back = (
            ("ArrowRight", "ArrowLeft") if kind == "slider" else ("ArrowDown", "ArrowUp")
        )
        self.key = self.forward
        self.missed = False

    def focus(self, nb: Any, index: int) -> None:
        if self.kind == "slider":
            nb.focus_slider(index)
        else:
            select = nb.page.locator(".jp-Notebook .widget-dropdown select").nth(index)
            select.scroll_into_view_if_needed()
            select.focus()

    def next_key(self, nb: Any, index: int) -> str:
        js = _HANDLE_JS if self.kind == "slider" else _SELECT_JS
        now, low, high = nb.page.evaluate(js, index)
        if now >= high:
            self.key = self.back
        elif now <= low:
            self.key = self.forward
        return self.key

    def reverse(self) -> None:
        self.key = self.back if self.key == self.forward else self.forward


def _press(nb: Any, index: int, walker: _Walker) -> KeyLatency:
    key = walker.next_key(nb, index)
    if walker.kind == "dropdown":  # (a closed select ignores arrow keys: choose the option)
        option = nb.page.evaluate(_SELECT_JS, index)[0] + (1 if key == walker.forward else -1)
        lat = nb.measure_select(
            index, option, plot_index=walker.plot, timeout=MISS_S, settle_ms=SETTLE_MS
        )
    else:
        lat = nb.measure_key(
            index, key, plot_index=walker.plot, timeout=MISS_S, settle_ms=SETTLE_MS
        )
    if lat.mutation_ms is None and not walker.missed:
        walker.reverse()  # e.g. a value the explorer refuses (its panel shows the error)
    walker.missed = lat.mutation_ms is None  # after a miss, keep the new direction
    return lat


def _mutation(lats: list[KeyLatency]) -> list[float]:
    return [x.mutation_ms for x in lats if x.mutation_ms is not None]


def _browser_stats(lats: list[KeyLatency]) -> dict[str, Any]:
    paint = [x.paint_ms for x in lats if x.paint_ms is not None]
    last = [x.last_ms for x in lats if x.last_ms is not None]
    return {
        "keydown_to_redraw_ms": stats(_mutation(lats)),
        "keydown_to_last_mutation_ms": stats(last),
        "keydown_to_next_frame_ms": stats(paint),
        "missed_presses": sum(x.mutation_ms is None for x in lats),
        "raw_keydown_to_redraw_ms": [
            None if x.mutation_ms is None else round(x.mutation_ms, 1) for x in lats
        ],
    }


def _read_gc(nb: Any) -> list[float]:
    """The full collections' ms logged in ``nb``'s kernel since the last read (then cleared)."""
    return [float(x) for x in json.loads(nb.kernel_eval(_GC_READ).strip().splitlines()[-1])]


def _kernel_part(nb: Any, key: str, lo: int, hi: int) -> dict[str, Any]:
    """Kernel-side numbers of the panel's updates lo..hi (the same presses)."""
    text = nb.kernel_eval(
        f"import json as _j\n_k = _P[{key!r}]; _s = _k.stats; _r = slice({lo}, {hi})\n"
        "print(_j.dumps([_s.latencies_ms[_r], _s.compute_ms[_r], _s.update_ms[_r],"
        " _s.cached[_r], _MSGS, _k.error, _k.redraw.paths[_r]]))"
    )
    lat, comp, upd, cached, msgs, error, paths = json.loads(text.strip().splitlines()[-1])
    return {
        "kernel_latency_ms": stats(lat),
        "kernel_compute_plus_update_ms": stats(comp),
        "kernel_figure_update_ms": stats(upd),
        "kernel_compute_ms": stats([c - u for c, u in zip(comp, upd, strict=True)]),
        "updates": len(lat),
        "cache_hits": int(sum(cached)),
        "update_message_bytes": stats([float(m[0]) for m in msgs]),
        "traces_restyled_per_update": stats([float(m[1]) for m in msgs]),
        "updates_moving_points_only": sum(p == "points" for p in paths),
        "panel_error": error,
    }


def _measure_explorer(
    nb: Any, base: Any, cell: int, key: str, presses: int, warm: int, block: int
) -> dict[str, Any]:
    found = nb.page.evaluate(_FIRST_SLIDER_JS, cell)
    if not found or found["index"] < 0:
        return {"skipped": "no visible slider or dropdown in the explorer's cell"}
    index = found["index"]
    nb.kernel_eval(f"_MSGS = []\n_record_messages(_P[{key!r}].figure, _MSGS)")
    walker, base_walker = _Walker(found["kind"], found["plot"]), _Walker()
    for page, i, w in ((nb, index, walker), (base, 0, base_walker)):  # warm-up, not recorded
        page.page.bring_to_front()
        w.focus(page, i)
        _press(page, i, w)
        page.page.wait_for_timeout(SETTLE_MS)
    probe = [_press(nb, index, walker) for _ in range(2)]  # is a press seen as a redraw?
    if all(x.mutation_ms is None for x in probe):
        return {"skipped": f"no redraw of the plot seen after presses of {found['kind']} {index}"}
    out: dict[str, Any] = {
        "slider": found["label"],
        "control": found["kind"],
        "slider_index": index,
    }
    floor: list[KeyLatency] = []
    for phase, n_presses in (("cold", presses), ("warm", warm), ("ahead", presses)):
        if phase == "warm":
            walker.reverse()  # walk back over values this phase's cold presses computed
        # cold: the cache stores but never answers (every press computes); warm: it answers;
        # ahead: an emptied cache, with the panel computing the next step ahead (as a user
        # sees it on values not visited yet)
        lookups = {
            "cold": "_c.get = _miss; _k.ahead.enabled = False",
            "warm": "_c.__dict__.pop('get', None)",
            "ahead": "_c.clear(); _k.ahead.enabled = True; _k.ahead.done = 0",
        }[phase]
        n_start = int(
            nb.kernel_eval(
                f"_k = _P[{key!r}]; _c = _k.cache; {lookups}\n_MSGS.clear(); _GC.clear()\n"
                f"print(len(_k.latencies_ms))"
            )
        )
        base.kernel_eval("_GC.clear()")
        lats: list[KeyLatency] = []
        while len(lats) < n_presses:
            n = min(block, n_presses - len(lats))
            nb.page.bring_to_front()
            walker.focus(nb, index)
            for _ in range(n):  # each press settles SETTLE_MS (its last mutation)
                lats.append(_press(nb, index, walker))
            base.page.bring_to_front()
            base.focus_slider(0)
            for _ in range(n):
                floor.append(_press(base, 0, base_walker))
        n_end = int(nb.kernel_eval(f"print(len(_P[{key!r}].latencies_ms))").strip())
        part = _browser_stats(lats)
        part.update(_kernel_part(nb, key, n_start, n_end))
        # full collections during the phase's presses (explorer's kernel; floor's kernel)
        part["kernel_full_collections_ms"] = _read_gc(nb)
        part["floor_kernel_full_collections_ms"] = _read_gc(base)
        if phase == "ahead":
            part["computed_ahead"] = int(nb.kernel_eval(f"print(_P[{key!r}].ahead.done)").strip())
        out[phase] = part
    out["floor_same_blocks"] = _browser_stats(floor)
    for phase in PHASES:
        met = []
        measures = (("keydown_to_redraw_ms", ""), ("keydown_to_last_mutation_ms", "_last"))
        for what, suffix in measures:
            fm, pm = out["floor_same_blocks"][what], out[phase][what]
            r = {"median": ratio(pm["median"], fm["median"]), "p95": ratio(pm["p95"], fm["p95"])}
            out[phase][f"ratio_to_floor{suffix}"] = r
            met.append(
                None
                if r["median"] is None or r["p95"] is None
                else r["median"] <= TARGETS["ratio_median"] and r["p95"] <= TARGETS["ratio_p95"]
            )
        # met only when the first redraw and the last (titles included) are both within
        out[phase]["target_met"] = None if None in met else all(met)
    if found["kind"] == "slider":  # (the driver finds a cell's red text through a slider)
        out["red_text_in_panel"] = nb.red_text(index)
        out["slider_readout_after"] = nb.slider_readout(index)
    return out


# The same gd_explorer figure updated by a bare callback (no LivePanel), beside the panel:
# separates what the panel adds from what the figure itself costs plotly.js to redraw.
_OVERHEAD_CELLS = [
    "from alignkit.stability import gd_explorer\ngd_explorer()",
    textwrap.dedent(
        """\
        import ipywidgets as W
        import plotly.graph_objects as go
        from alignkit.stability.plots.quadratic import plot_quadratic_gd, update_quadratic_gd
        from alignkit.stability.widgets import _gd_compute

        fig = go.FigureWidget(plot_quadratic_gd(_gd_compute(0.3, 2.0, 30)))
        slider = W.FloatSlider(value=0.3, min=0.01, max=1.5, step=0.01, continuous_update=True)

        def on_change(change):
            with fig.batch_update():
                update_quadratic_gd(fig, _gd_compute(change["new"], 2.0, 30))

        slider.observe(on_change, names="value")
        W.VBox([slider, fig])
        """
    ),
]


def _notebook(sources: list[str]) -> str:
    cells = [
        {"cell_type": "code", "execution_count": None, "id": f"cell-{i}", "metadata": {},
         "outputs": [], "source": src}
        for i, src in enumerate(sources)
    ]  # fmt: skip
    return json.dumps({**BASELINE_NOTEBOOK, "cells": cells}, indent=1)


def _alternate(
    where: dict[str, tuple[Any, int]], walkers: dict[str, _Walker], presses: int, block: int
) -> dict[str, list[KeyLatency]]:
    """``presses`` presses of each (page, slider) of ``where``, in alternating blocks."""
    lats: dict[str, list[KeyLatency]] = {name: [] for name in where}
    first = next(iter(where))
    while len(lats[first]) < presses:
        n = min(block, presses - len(lats[first]))
        for name, (page, index) in where.items():
            page.page.bring_to_front()
            walkers[name].focus(page, index)
            for _ in range(n):
                lats[name].append(_press(page, index, walkers[name]))
    return lats


def _panel_overhead(context: Any, lab: Any, base: Any, presses: int, block: int) -> dict[str, Any]:
    """gd_explorer's panel vs its figure under a bare callback vs the floor (cold presses)."""
    nb = open_notebook(context, lab, "_panel_overhead.ipynb", timeout=120)
    try:
        nb.run_all(timeout=300)
        nb.wait_for_plots(2)
        nb.kernel_eval(_KERNEL_SETUP + "_P['gd_explorer'].cache.get = _miss")
        where = {
            "gd_explorer_panel": (nb, nb.page.evaluate(_FIRST_SLIDER_JS, 0)["index"]),
            "same_figure_bare_callback": (nb, nb.page.evaluate(_FIRST_SLIDER_JS, 1)["index"]),
            "floor": (base, 0),
        }
        lats = _alternate(where, {name: _Walker() for name in where}, presses, block)
    finally:
        nb.close()
    out: dict[str, Any] = {name: _browser_stats(v) for name, v in lats.items()}
    med = {name: out[name]["keydown_to_redraw_ms"]["median"] for name in out}
    out["ratio_panel_to_bare_callback"] = ratio(
        med["gd_explorer_panel"], med["same_figure_bare_callback"]
    )
    out["ratio_bare_callback_to_floor"] = ratio(med["same_figure_bare_callback"], med["floor"])
    return out


# An explorer beside a twin of its figure under a bare callback (what a hand-written
# notebook would do: results memoised per value, ``update`` inside ``batch_update``).
_TWIN_CELLS = [
    textwrap.dedent(
        """\
        from alignkit.divergences import widgets as _w2
        from alignkit.manifold import widgets as _w3
        from alignkit.stability import widgets as _w1

        _fn = next(getattr(m, __NAME__) for m in (_w1, _w2, _w3) if hasattr(m, __NAME__))
        p = _fn()
        p
        """
    ),
    textwrap.dedent(
        """\
        import ipywidgets as W
        import plotly.graph_objects as go

        SLIDERS = (W.FloatSlider, W.IntSlider, W.FloatLogSlider, W.SelectionSlider)
        shown = [k for k, w in p.controls.items() if w.layout.display != "none"]
        k = next((k for k in shown if isinstance(p.controls[k], SLIDERS)), None)
        k = k or next(k for k in shown if isinstance(p.controls[k], W.Dropdown))
        w = p.controls[k]
        if isinstance(w, W.Dropdown):
            twin = W.Dropdown(options=w.options, value=w.value)
        elif isinstance(w, W.SelectionSlider):
            twin = W.SelectionSlider(options=w.options, value=w.value)
        elif isinstance(w, W.FloatLogSlider):
            twin = W.FloatLogSlider(value=w.value, min=w.min, max=w.max, step=w.step, base=w.base)
        else:
            twin = type(w)(value=w.value, min=w.min, max=w.max, step=w.step)
        fig = go.FigureWidget(p.redraw.autoranged(p.figure))  # as the plot function made it
        memo = {}

        def on_change(change):
            v = change["new"]
            if v not in memo:
                memo[v] = p.compute(**{**p.state, k: v})
            with fig.batch_update():
                p.update(fig, memo[v])

        twin.observe(on_change, names="value")
        W.VBox([twin, fig])
        """
    ),
]


def _twin(context: Any, lab: Any, base: Any, name: str, presses: int, block: int) -> dict[str, Any]:
    """``name``'s panel vs the same figure under a bare callback vs the floor (warm presses:
    a first pass over the values fills the panel's cache and the twin's memo)."""
    path = f"_twin_{name}.ipynb"
    lab.root_dir.joinpath(path).write_text(
        _notebook([c.replace("__NAME__", repr(name)) for c in _TWIN_CELLS])
    )
    nb = open_notebook(context, lab, path, timeout=120)
    try:
        nb.run_all(timeout=300)
        nb.wait_for_plots(2)
        found = [nb.page.evaluate(_FIRST_SLIDER_JS, cell) for cell in (0, 1)]
        where = {
            "panel": (nb, found[0]["index"]),
            "same_figure_bare_callback": (nb, found[1]["index"]),
            "floor": (base, 0),
        }
        walkers = {
            "panel": _Walker(found[0]["kind"], found[0]["plot"]),
            "same_figure_bare_callback": _Walker(found[1]["kind"], found[1]["plot"]),
            "floor": _Walker(),
        }
        for k in ("panel", "same_figure_bare_callback"):  # fill the caches, not recorded
            page, index = where[k]
            walkers[k].focus(page, index)
            for _ in range(presses):
                _press(page, index, walkers[k])
            walkers[k].reverse()
        lats = _alternate(where, walkers, presses, block)
    finally:
        nb.close()
    out: dict[str, Any] = {k: _browser_stats(v) for k, v in lats.items()}
    med = {k: out[k]["keydown_to_redraw_ms"]["median"] for k in lats}
    out["ratio_panel_to_bare_callback"] = ratio(med["panel"], med["same_figure_bare_callback"])
    out["ratio_bare_callback_to_floor"] = ratio(med["same_figure_bare_callback"], med["floor"])
    out["ratio_panel_to_floor"] = ratio(med["panel"], med["floor"])
    return out


def browser_side(
    notebooks: list[str],
    presses: int,
    warm: int,
    block: int = 5,
    *,
    no_delay: bool = True,
    twins: bool = True,
) -> dict[str, Any]:
    """The bare floor and every explorer of ``notebooks`` in one JupyterLab and browser.

    ``no_delay``: the server loads ``alignkit_server`` (kernel websockets with
    ``TCP_NODELAY``, as installed); ``False`` turns it off, leaving Nagle's delay on.
    ``twins``: each explorer that no press moved points-only (a heatmap, contour or 3-D
    figure) is then pressed beside a twin of its figure under a bare callback (warm).
    """
    executable = find_chromium()
    if executable is None:
        return {"skipped": "no Chromium found: install it with `apt-get install chromium`"}
    extra = {
        "_baseline_bare_slider.ipynb": json.dumps(BASELINE_NOTEBOOK, indent=1),
        "_panel_overhead.ipynb": _notebook(_OVERHEAD_CELLS),
    }
    result: dict[str, Any] = {
        "notebooks": notebooks,
        "presses_cold": presses,
        "presses_warm": warm,
        "method": (
            "JupyterLab 4 in headless Chromium; the first visible slider of each explorer's "
            "cell gets arrow presses (bouncing off its ends, so every press moves it; an "
            "explorer without a slider: its first dropdown gets the next option, timed from "
            "the change, as headless Chromium ignores arrow keys on a closed select); "
            "keydown (capture listener) -> first mutation of the plot's trace paths ('redraw') "
            "and -> the last mutation of the plot within the settle time ('last': the title "
            "after moved points, every redraw the press caused); one press "
            f"at a time (redraw, then {SETTLE_MS} ms); the explorer's page and the bare-figure "
            f"page alternate in blocks of {block} presses, and each explorer is compared with "
            "the floor presses of its own blocks. 'cold': the panel's result cache answers no "
            "lookup (every press computes) and nothing is computed ahead; 'warm': presses walk "
            "back over values the cold presses computed (served from the cache; cache_hits says "
            "how many); 'ahead': the cache emptied, presses walk on over values not visited "
            "yet while the panel computes the next step ahead when idle (LivePanel's "
            "prefetch; computed_ahead says how many)"
        ),
        "fast_mode": os.environ.get("ALIGNKIT_FAST") == "1",
        "explorers": {},
        "notebook_errors": {},
    }
    config = {"ServerApp": {"jpserver_extensions": {"alignkit_server": no_delay}}}
    with (
        running_lab(extra_files=extra, timeout=120, server_config=config) as lab,
        chromium(executable) as context,
    ):
        result["chromium"] = context.browser.version
        base = open_notebook(context, lab, "_baseline_bare_slider.ipynb", timeout=120)
        try:
            base.run_all(timeout=120)
            base.wait_for_plots(1)
            base.kernel_eval(_GC_SETUP)
            if "00" in notebooks:
                print("  panel overhead: gd_explorer vs its figure without a panel ...")
                result["panel_overhead_gd_explorer"] = _panel_overhead(
                    context, lab, base, presses, block
                )
            for stem in notebooks:
                path = next(NOTEBOOK_DIR.glob(f"{stem}*.ipynb"))
                print(f"  {path.name}: run all ...", flush=True)
                nb = open_notebook(context, lab, path.name, timeout=120)
                try:
                    nb.run_all(timeout=900)
                    errors = nb.error_outputs()
                    if errors:
                        result["notebook_errors"][path.stem] = errors
                        continue
                    nb.kernel_eval(_KERNEL_SETUP)
                    for cell, explorer, key in _explorer_cells(path):
                        name = f"{path.stem}/{key}"
                        print(f"    {name} (cell {cell}) ...", flush=True)
                        entry = {"explorer": explorer, "key": key, "cell": cell}
                        try:
                            entry.update(
                                _measure_explorer(nb, base, cell, key, presses, warm, block)
                            )
                        except Exception as exc:  # noqa: BLE001 (keep the other explorers)
                            entry["skipped"] = f"failed: {exc!r}"[:300]
                        result["explorers"][name] = entry
                        _print_row(name, entry)
                finally:
                    nb.close()
            # explorers plotly must redraw whole: is it the panel, or the figure itself?
            full = sorted({
                e["explorer"] for e in result["explorers"].values()
                if "warm" in e and e["warm"]["updates_moving_points_only"] == 0
            }) if twins else []  # fmt: skip
            result["same_figure_bare_callback"] = {}
            for name in full:
                print(f"    {name} vs the same figure under a bare callback ...", flush=True)
                try:
                    t = _twin(context, lab, base, name, warm, block)
                except Exception as exc:  # noqa: BLE001 (a failed twin must not lose the run)
                    result["same_figure_bare_callback"][name] = {"error": repr(exc)[:300]}
                    print(f"      failed: {exc!r}"[:200])
                    continue
                result["same_figure_bare_callback"][name] = t
                print(f"      panel / bare callback {t['ratio_panel_to_bare_callback']}, "
                      f"bare callback / floor {t['ratio_bare_callback_to_floor']}")  # fmt: skip
        finally:
            base.close()
        # the extension logs each kernel websocket whose socket reports TCP_NODELAY set
        said = lab.log_path.read_text(errors="replace").count("websocket sends without delay")
        result["server_tcp_nodelay"] = {"requested": no_delay, "websockets_confirmed": said}
    return result


def _print_row(name: str, e: dict[str, Any]) -> None:
    if "skipped" in e:
        print(f"      skipped: {e['skipped']}")
        return
    f = e["floor_same_blocks"]["keydown_to_redraw_ms"]
    for phase in PHASES:
        p = e[phase]
        m = p["keydown_to_redraw_ms"]
        print(
            f"      {phase}: redraw median {m['median']} p95 {m['p95']} ms vs floor "
            f"{f['median']} / {f['p95']} -> ratio {p['ratio_to_floor']}, last "
            f"{p['ratio_to_floor_last']}, points-only {p['updates_moving_points_only']}; kernel "
            f"{p['kernel_latency_ms']['median']} ms (compute {p['kernel_compute_ms']['median']},"
            f" figure {p['kernel_figure_update_ms']['median']}), cache hits {p['cache_hits']}"
            f"/{p['updates']}, message {p['update_message_bytes']['median']} B; full "
            f"collections (ms) {p['kernel_full_collections_ms']}, floor's "
            f"{p['floor_kernel_full_collections_ms']}",
            flush=True,
        )
