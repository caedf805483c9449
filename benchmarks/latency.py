"""Latency of the live explorers in a real JupyterLab, each against the bare-figure floor.

Run ``ALIGNKIT_FAST=1 .venv/bin/python benchmarks/latency.py`` (about 6–10 minutes for all
notebooks; ``--notebooks 00 01 02`` measures a part and ``--merge`` adds it to the JSON).
Writes ``benchmarks/results/latency.json`` and prints a summary.

(a) Kernel side (notebook 00's ``gd_explorer``). A real ipykernel (started with
    jupyter_client, as Jupyter starts it, so widget messages really go out over its comms)
    runs the explorer on its own event loop: the panel's default scheduler is that running
    loop. The lr slider gets ``--updates`` new values; each next value is set once the
    previous update has finished, either paced at 30 Hz (keyboard auto-repeat; the
    headline) or back to back. The panel's result cache is off here (every update
    computes). Baseline, same kernel, same pacing: a bare ``FloatSlider`` observed by a
    callback that sets a 200-point line of a bare ``FigureWidget`` inside ``batch_update``.

(b) Browser. JupyterLab in headless Chromium (``tests/jupyterlab_driver.py``). The floor is
    a temporary notebook with a bare FloatSlider -> FigureWidget 200-point line, open in
    its own page for the whole run. Each notebook is run ("Run All") in a second page, and
    for every explorer cell the first visible slider gets arrow presses, timed from keydown
    to the first mutation of the plot's trace paths (and to the next animation frame), and
    to the last mutation of the explorer's cell output within the settle time (its title
    caption and status line included: everything the press changed). Each phase also
    lists CPython's full garbage collections (generation 2) that ran in the explorers'
    kernel and in the floor's during its presses, in ms: after a Run All one takes
    200-330 ms (~470 000 tracked objects, mostly plotly's and torch's), and the press it
    falls in is an outlier of that phase. The
    explorer's page and the floor page alternate in blocks of 5 presses, so each explorer's
    ratio is against floor presses taken under the same machine load (2 shared cores).
    "cold": the panel's result cache stores results but answers no lookup (every press
    computes, nothing is computed ahead); "warm": presses walk back over values already
    computed (cache hits); "ahead": with the cache emptied, presses walk on over values not
    visited yet while the panel computes the next slider step ahead when idle. Per
    explorer, the same presses' kernel-side numbers (latency, compute, figure update,
    update message bytes, traces restyled) say where the time goes. The server loads
    ``alignkit_server`` (kernel websockets with ``TCP_NODELAY``), as the kit installs it;
    ``--nagle`` serves without it, to show what Nagle's delay costs floor and explorers.

Targets (issue 15): browser redraw median <= 1.5x and p95 <= 2.5x the floor, per explorer,
for the first redraw and for the last mutation alike (``target_met``);
kernel median <= 20 ms and p95 <= 50 ms for gd_explorer.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata as md
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from latency_browser import PHASES, TARGETS, browser_side, ratio, stats  # noqa: E402

MARK = "@@LATENCY@@"
PACED_HZ = 30.0

# Runs inside the kernel (top-level await: the kernel's own running event loop).
KERNEL_CODE = """
import asyncio, json, time
import numpy as np
import ipywidgets as W
import plotly.graph_objects as go
from alignkit.stability import gd_explorer

N_UPDATES = {n_updates}
LR_GRID = [round(0.05 + 0.01 * i, 2) for i in range(141)]  # the slider's own steps


def lr_values(n):
    # Walk the grid back and forth from 0.3: every value differs from the previous one.
    i, step, out = LR_GRID.index(0.3), 1, []
    while len(out) < n:
        if not 0 <= i + step < len(LR_GRID):
            step = -step
        i += step
        out.append(LR_GRID[i])
    return out


async def wait_for(count, target, timeout=10.0):
    deadline = time.perf_counter() + timeout
    while count() < target:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"update {{target}} never came: the scheduler did not fire")
        await asyncio.sleep(0.0005)


async def drive_panel(period):
    panel = gd_explorer(lr=0.3, sharpness=2.0, steps=30)
    panel.cache.size = 0  # every update computes (the walk revisits values)
    pure = []
    inner = panel.compute

    def timed_compute(**state):
        t = time.perf_counter()
        result = inner(**state)
        pure.append((time.perf_counter() - t) * 1e3)
        return result

    panel.compute = timed_compute
    first = len(panel.latencies_ms)  # the synchronous first draw is not an update
    errors = []
    for k, value in enumerate(lr_values(N_UPDATES)):
        t_set = time.perf_counter()
        panel.controls["lr"].value = value
        await wait_for(lambda: len(panel.latencies_ms), first + k + 1)
        if panel.error:
            errors.append(panel.error)
        rest = period - (time.perf_counter() - t_set)
        if rest > 0:
            await asyncio.sleep(rest)
    out = dict(
        latency_ms=panel.latencies_ms[first:],
        compute_plus_update_ms=panel.stats.compute_ms[first:],
        pure_compute_ms=pure,
        n_computes=panel.n_computes - first,
        errors=errors,
        last_lr_in_figure_title=panel.figure.layout.title.text,
    )
    panel.close()
    return out


async def drive_baseline(period):
    x = np.linspace(0.0, 1.0, 200)
    fig = go.FigureWidget(
        go.Scatter(x=x, y=np.sin(2 * np.pi * 0.3 * x), mode="lines", name="line"),
        layout=dict(height=400, width=600),
    )
    slider = W.FloatSlider(value=0.3, min=0.01, max=1.5, step=0.01)
    ends = []

    def on_change(change):
        with fig.batch_update():
            fig.data[0].y = np.sin(2 * np.pi * change["new"] * x)
        ends.append(time.perf_counter())

    slider.observe(on_change, names="value")
    lat = []
    for k, value in enumerate(lr_values(N_UPDATES)):
        t_set = time.perf_counter()
        slider.value = value
        await wait_for(lambda: len(ends), k + 1)
        lat.append((ends[-1] - t_set) * 1e3)
        rest = period - (time.perf_counter() - t_set)
        if rest > 0:
            await asyncio.sleep(rest)
    slider.close()
    fig.close()
    return dict(latency_ms=lat)


_result = {{}}
for _name, _period in (("paced_30hz", 1 / {hz}), ("back_to_back", 0.0)):
    _result[_name] = dict(panel=await drive_panel(_period), baseline=await drive_baseline(_period))
print("{mark}" + json.dumps(_result))
"""


# --- (a) kernel side ------------------------------------------------------------------
def kernel_side(n_updates: int) -> dict[str, Any]:
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3", startup_timeout=120)
    chunks: list[str] = []
    errors: list[str] = []

    def hook(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream":
            chunks.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            errors.append("\n".join(msg["content"]["traceback"]))

    try:
        code = KERNEL_CODE.format(n_updates=n_updates, hz=PACED_HZ, mark=MARK)
        kc.execute_interactive(code, timeout=600, output_hook=hook)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    text = "".join(chunks)
    if errors or MARK not in text:
        raise RuntimeError(f"kernel benchmark failed:\n{''.join(errors)}\n{text[-2000:]}")
    raw = json.loads(text.split(MARK, 1)[1].strip().splitlines()[0])
    out: dict[str, Any] = {
        "method": (
            "real ipykernel via jupyter_client, top-level await on the kernel's running loop; "
            "lr slider set to a new value after the previous update finished"
        ),
        "n_updates": n_updates,
    }
    for mode, r in raw.items():
        p, b = r["panel"], r["baseline"]
        panel = {
            "latency_ms": stats(p["latency_ms"]),
            "compute_plus_update_ms": stats(p["compute_plus_update_ms"]),
            "pure_compute_ms": stats(p["pure_compute_ms"]),
            "n_computes": p["n_computes"],
            "errors": p["errors"],
        }
        base = {"latency_ms": stats(b["latency_ms"])}
        out[mode] = {
            "pacing": (
                f"one change every {1e3 / PACED_HZ:.1f} ms (keyboard auto-repeat)"
                if mode == "paced_30hz"
                else "next change as soon as the previous update finished"
            ),
            "panel": panel,
            "baseline_bare_figurewidget": base,
            "ratio_panel_over_baseline": {
                "median": ratio(panel["latency_ms"]["median"], base["latency_ms"]["median"]),
                "p95": ratio(panel["latency_ms"]["p95"], base["latency_ms"]["p95"]),
            },
        }
    return out


# --- the run ----------------------------------------------------------------------------
def _git(*args: str, cwd: Path = ROOT) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def _versions() -> dict[str, str | None]:
    names = [
        "alignkit", "jupyterlab", "jupyter_server", "ipykernel", "ipywidgets",
        "jupyterlab_widgets", "plotly", "anywidget", "torch", "numpy", "playwright",
    ]  # fmt: skip
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


ALL_NOTEBOOKS = ["00", "01", "02", "03", "04", "05"]


def _summary_table(explorers: dict[str, Any]) -> dict[str, Any]:
    """One row per explorer: the cold and warm ratios and where the kernel time goes."""
    rows: dict[str, Any] = {}
    for name, e in explorers.items():
        if "skipped" in e:
            rows[name] = {"skipped": e["skipped"]}
            continue
        row: dict[str, Any] = {
            "slider": e["slider"],
            "floor_median_ms": e["floor_same_blocks"]["keydown_to_redraw_ms"]["median"],
        }
        for phase in PHASES:
            if phase not in e:  # (a run before the "ahead" phase existed)
                continue
            p = e[phase]
            row[phase] = {
                "redraw_median_ms": p["keydown_to_redraw_ms"]["median"],
                "redraw_p95_ms": p["keydown_to_redraw_ms"]["p95"],
                "ratio_median": p["ratio_to_floor"]["median"],
                "ratio_p95": p["ratio_to_floor"]["p95"],
                "last_median_ms": p.get("keydown_to_last_mutation_ms", {}).get("median"),
                "ratio_last_median": p.get("ratio_to_floor_last", {}).get("median"),
                "ratio_last_p95": p.get("ratio_to_floor_last", {}).get("p95"),
                "updates_moving_points_only": p.get("updates_moving_points_only"),
                "target_met": p["target_met"],
                "kernel_latency_median_ms": p["kernel_latency_ms"]["median"],
                "kernel_compute_median_ms": p["kernel_compute_ms"]["median"],
                "kernel_figure_update_median_ms": p["kernel_figure_update_ms"]["median"],
                "cache_hits": f"{p['cache_hits']}/{p['updates']}",
            }
            if "computed_ahead" in p:
                row[phase]["computed_ahead"] = p["computed_ahead"]
            if "kernel_full_collections_ms" in p:  # (runs since ed026d9 log them)
                row[phase]["full_collections_ms"] = p["kernel_full_collections_ms"]
                row[phase]["floor_full_collections_ms"] = p["floor_kernel_full_collections_ms"]
        rows[name] = row
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=200, help="kernel-side updates per mode")
    parser.add_argument("--presses", type=int, default=16, help="cold presses per explorer")
    parser.add_argument("--warm", type=int, default=16, help="warm (cached) presses per explorer")
    parser.add_argument(
        "--notebooks", nargs="+", default=ALL_NOTEBOOKS, help="notebook prefixes to measure"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/latency.json")
    parser.add_argument("--no-browser", action="store_true", help="kernel side only")
    parser.add_argument("--no-kernel", action="store_true", help="browser side only")
    parser.add_argument(
        "--no-twins", action="store_true",
        help="skip the full-redraw explorers' twins (their figure under a bare callback)",
    )  # fmt: skip
    parser.add_argument(
        "--nagle", action="store_true",
        help="serve JupyterLab without alignkit_server (Nagle's delay on), for comparison",
    )  # fmt: skip
    parser.add_argument(
        "--merge", action="store_true",
        help="add this run's explorers (and kernel part, if run) to the existing JSON",
    )  # fmt: skip
    args = parser.parse_args(argv)

    import alignkit

    t_start = time.perf_counter()
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    kernel: dict[str, Any] | None = None
    if not args.no_kernel:
        print(f"(a) kernel side: {args.updates} updates per mode in a real ipykernel ...")
        kernel = kernel_side(args.updates)
    browser: dict[str, Any] = {"skipped": "--no-browser"}
    if not args.no_browser:
        print(f"(b) browser: notebooks {args.notebooks}, {args.presses} cold + {args.warm} "
              "warm presses per explorer ...", flush=True)  # fmt: skip
        browser = browser_side(
            args.notebooks, args.presses, args.warm, no_delay=not args.nagle,
            twins=not args.no_twins,
        )  # fmt: skip
    commit = _git("rev-parse", "HEAD")
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    run = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": commit,
        "git_tracked_files_modified": dirty,
        "load_average_1_5_15_min_before": load_before,
        "load_average_1_5_15_min_after": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "notebooks": None if args.no_browser else args.notebooks,
        "kernel_part": kernel is not None,
        "server_tcp_nodelay": browser.get("server_tcp_nodelay"),
        "wall_s": round(time.perf_counter() - t_start, 1),
    }
    result: dict[str, Any] = {}
    if args.merge and args.out.exists():
        result = json.loads(args.out.read_text())
        if "runs" not in result:
            result = {}
    if not result:
        result = {"runs": [], "kernel": None, "browser": {"explorers": {}, "parts": []}}
    result.update(
        benchmark="live explorers: keydown -> redraw in JupyterLab vs the bare-figure floor",
        machine={
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "alignkit_describe": alignkit.describe(),
        },
        versions=_versions(),
    )
    result["runs"].append(run)
    if kernel is not None:
        result["kernel"] = kernel
    if "skipped" not in browser:
        b = result["browser"]
        explorers = browser.pop("explorers")
        b["explorers"].update(explorers)
        b["parts"].append({**browser, "run": len(result["runs"]) - 1,
                           "explorers": sorted(explorers)})  # fmt: skip
        b["summary"] = _summary_table(b["explorers"])
    result["targets"] = _targets(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2, default=str) + "\n")
    tmp.replace(args.out)
    _print_summary(result)
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


def _targets(r: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "browser_ratio": {"median": TARGETS["ratio_median"], "p95": TARGETS["ratio_p95"]}
    }
    k = r.get("kernel")
    if k:
        head = k["paced_30hz"]["panel"]["latency_ms"]
        out["kernel_median_ms"] = {
            "target": TARGETS["kernel_median_ms"], "value": head["median"],
            "met": head["median"] <= TARGETS["kernel_median_ms"],
        }  # fmt: skip
        out["kernel_p95_ms"] = {
            "target": TARGETS["kernel_p95_ms"], "value": head["p95"],
            "met": head["p95"] <= TARGETS["kernel_p95_ms"],
        }  # fmt: skip
    rows = r["browser"].get("summary", {})
    for phase in PHASES:
        met = [n for n, row in rows.items() if phase in row and row[phase]["target_met"]]
        out[f"browser_{phase}_explorers_meeting_target"] = f"{len(met)}/{len(rows)}"
    return out


def _f(x: float | None, width: int = 5, digits: int = 2) -> str:
    return f"{x:{width}.{digits}f}" if x is not None else f"{'-':>{width}}"


def _print_summary(r: dict[str, Any]) -> None:
    k = r.get("kernel")
    if k:
        print("\nkernel side, gd_explorer (ms)   median     p95")
        for mode in ("paced_30hz", "back_to_back"):
            m = k[mode]
            rows = [
                ("panel latency", m["panel"]["latency_ms"]),
                ("panel compute+update", m["panel"]["compute_plus_update_ms"]),
                ("pure compute", m["panel"]["pure_compute_ms"]),
                ("baseline bare figure", m["baseline_bare_figurewidget"]["latency_ms"]),
            ]
            print(f"  [{mode}]")
            for label, s in rows:
                print(f"    {label:22s} {s['median']:8.2f} {s['p95']:8.2f}")
    rows = r["browser"].get("summary", {})
    if rows:
        print(
            "\nbrowser keydown -> redraw (last)  floor  cold med/p95 (last med/p95)"
            "  warm med/p95 (last med/p95)  ahead med/p95"
        )
        for name, row in rows.items():
            if "skipped" in row:
                print(f"  {name:48s} skipped: {row['skipped']}")
                continue
            c, w, a = row["cold"], row["warm"], row.get("ahead", {})
            print(
                f"  {name:48s} {_f(row['floor_median_ms'], 6, 1)}  {_f(c['ratio_median'])} "
                f"{_f(c['ratio_p95'])} ({_f(c.get('ratio_last_median'))} "
                f"{_f(c.get('ratio_last_p95'))})  {_f(w['ratio_median'])} {_f(w['ratio_p95'])}"
                f" ({_f(w.get('ratio_last_median'))} {_f(w.get('ratio_last_p95'))})"
                f"  ahead {_f(a.get('ratio_median'))} {_f(a.get('ratio_p95'))}"
                f"  met {c['target_met']}/{w['target_met']}/{a.get('target_met')}, points-only "
                f"{c.get('updates_moving_points_only')}, cold compute "
                f"{c['kernel_compute_median_ms']} ms, hits ahead {a.get('cache_hits')}"
            )
    for part in r["browser"].get("parts", []):
        o = part.get("panel_overhead_gd_explorer")
        if o:
            meds = {k: v["keydown_to_redraw_ms"]["median"] for k, v in o.items() if "_ms" in str(v)}
            print(f"panel overhead (gd_explorer, medians ms): {meds}; panel / bare callback "
                  f"{o['ratio_panel_to_bare_callback']}, bare callback / floor "
                  f"{o['ratio_bare_callback_to_floor']}")  # fmt: skip
    for name, t in r["targets"].items():
        print(f"target {name}: {t}")


if __name__ == "__main__":
    raise SystemExit(main())
