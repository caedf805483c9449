"""Kernel-side latency of every explorer of every theme, at every control position (CPU).

Run ``.venv/bin/python benchmarks/explorers.py`` (all themes, a few minutes) or
``--themes stability`` (one theme; its entries are merged into the existing JSON) or
``--quick`` (fewer positions and repeats, for development); writes
``benchmarks/results/explorers.json``.

Explorers are found the way ``tests/test_explorer_contract.py`` finds them (every
``*_explorer`` of each theme's ``widgets`` module). Each is built at its defaults (and at
the extra start states of :data:`STARTS`, the worst combinations identified); from each
start, every *visible* control is moved over its whole range while the others stay put:
each option of a dropdown or selection slider, a handful of positions including both ends
of a numeric slider. A control that another one shows only for some of its values
(``show_when``) is moved with that other control at the first value that shows it; a
control the explorer hides (``hide``) is not moved (a user cannot reach it).

The positions are visited in a cycle, ``--repeats`` times, so each timed move comes from
the previous position of the same control (never a no-op). The panel runs without an
event loop (each change computes at once), so ``panel.latencies_ms`` is compute + figure
update for one control change, the work a Jupyter kernel does per slider message; the
panel's result cache (which redraws a value seen before without computing) is cleared
before each move, so every timed move computes (caches inside an explorer of what the
moved control does not change are kept: that is their purpose). Per
position the JSON holds the median over the repeats (``median_ms``), the first visit
(``first_ms``, which includes any one-off work such as training a model, then cached) and
the figure update alone (``update_only_ms``: the same result replayed into the figure with
the explorer's own ``update``; the baseline measured side by side). Target (issue 15):
median <= 50 ms at every position of every explorer. A position whose first visit takes
over ``ONCE_MS`` is not repeated (its ``repeats`` is 1), to keep the run a few minutes.
Caveat: an explorer cache keyed by the moved control itself (theme 3's ε curves, keyed by
steps, kind and manifold) answers that position's repeats, so its median is a cache hit;
its ``first_ms`` is its cold cost. ``worst_per_explorer`` therefore gives, beside the worst
median, the slowest first visit (``--summary`` rewrites that table from the stored runs).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import inspect
import json
import math
import os
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as W
import torch

from alignkit.device import describe

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 50.0
ONCE_MS = 1000.0  # a position whose first visit takes longer is timed once (repeats = 1)
WIDGET_MODULES = {
    "stability": "alignkit.stability.widgets",
    "divergences": "alignkit.divergences.widgets",
    "manifold": "alignkit.manifold.widgets",
}

#: explorer -> extra start states (keyword arguments) beside the defaults: the worst
#: combinations identified (largest operators, most samples, most modes, ...).
STARTS: dict[str, list[dict[str, Any]]] = {
    "threshold_explorer": [{"n": 20, "d": 60, "sampling": "with replacement"}],
    "simulation_explorer": [{"batch_size": 1, "sampling": "with replacement", "lr": 0.5}],
    "escape_explorer": [{"batch_size": 8, "sampling": "with replacement", "lr": 1.2}],
    "region_explorer": [{"minima": "regression n = 10, d = 20: directions", "batch_size": 16}],
    "fit_explorer": [{"divergence": "alpha", "alpha": -3.0, "n_modes": 5, "separation": 8.0}],
}


def discover(themes: list[str]) -> dict[str, dict[str, Callable[..., Any]]]:
    """theme -> {explorer name -> explorer function}, as the contract test finds them."""
    found: dict[str, dict[str, Callable[..., Any]]] = {}
    for theme in themes:
        module = importlib.import_module(WIDGET_MODULES[theme])
        found[theme] = {
            attr: getattr(module, attr)
            for attr in getattr(module, "__all__", dir(module))
            if attr.endswith("_explorer") and inspect.isfunction(getattr(module, attr))
        }
    return found


def positions(widget: W.ValueWidget, quick: bool) -> list[Any]:
    """The values a control is moved over: every option, or both ends and a few between."""
    if hasattr(widget, "options") and not isinstance(widget, W.FloatLogSlider):
        values = [o[1] if isinstance(o, tuple) else o for o in widget.options]
        if quick and len(values) > 4:
            values = [values[0], values[len(values) // 2], values[-1]]
        return values
    if isinstance(widget, (W.Checkbox, W.ToggleButton)):
        return [False, True]
    k = 3 if quick else 5
    fractions = [j / (k - 1) for j in range(k)]
    if isinstance(widget, W.FloatLogSlider):
        lo, hi, step = widget.min, widget.max, widget.step
        values = [
            float(widget.base ** (lo + round(f * (hi - lo) / step) * step)) for f in fractions
        ]
        values[0], values[-1] = float(widget.base**lo), float(widget.base**hi)
    elif isinstance(widget, W.IntSlider):
        values = [round(widget.min + f * (widget.max - widget.min)) for f in fractions]
    elif isinstance(widget, W.FloatSlider):
        lo, hi, step = widget.min, widget.max, widget.step
        values = [lo + round(f * (hi - lo) / step) * step for f in fractions]
        values = [round(min(max(v, lo), hi), 10) for v in values]
        values[0], values[-1] = lo, hi
    else:
        raise TypeError(f"no positions for a {type(widget).__name__}")
    return list(dict.fromkeys(values))


def _visible(panel: Any, name: str) -> bool:
    return panel.controls[name].layout.display != "none"


def _reveal(panel: Any, name: str) -> tuple[str, Any] | None:
    """For a control hidden by a show_when rule: (other, value that shows it), else None."""
    rule = getattr(panel, "_show_when", {}).get(name)
    return None if rule is None else (rule[0], rule[1][0])


def _set(panel: Any, name: str, value: Any) -> None:
    """Set one control (untimed; nothing happens if it holds the value already)."""
    if panel.controls[name].value != value:
        _move(panel, name, value)


def _move(panel: Any, name: str, value: Any) -> float | str:
    """Set one control; the latency (ms) of the update it triggered, or the error.

    The panel's result cache (if it has one) is cleared first, so the move computes.
    """
    cache = getattr(panel, "cache", None)
    if cache is not None:
        cache.clear()
    before = len(panel.latencies_ms)
    panel.controls[name].value = value
    if panel.error is not None:
        return panel.error
    if len(panel.latencies_ms) == before:  # e.g. a compute that was superseded
        return f"no update (status: {panel.status.value})"
    return panel.latencies_ms[-1]


def sweep_control(panel: Any, name: str, repeats: int, quick: bool) -> dict[str, Any]:
    widget = panel.controls[name]
    start = widget.value
    values = positions(widget, quick)
    if len(values) < 2:
        return {"skipped": f"a single position {values!r}"}
    cycle = values if values[0] != start else [*values[1:], values[0]]
    times: dict[int, list[float]] = {j: [] for j in range(len(values))}
    errors: dict[int, str] = {}
    results: dict[int, Any] = {}
    for rep in range(repeats):
        for value in cycle:
            j = values.index(value)
            if rep and times[j] and times[j][0] > ONCE_MS:
                continue  # far over target at the first visit: not repeated (keeps runs short)
            if widget.value == value:
                continue  # the positions between were skipped: no move to time
            got = _move(panel, name, value)
            if isinstance(got, str):
                errors[j] = got
            else:
                times[j].append(got)
                results[j] = panel.result
    rows = []
    for j, value in enumerate(values):
        row: dict[str, Any] = {"value": value}
        if j in errors:
            row["error"] = errors[j]
        if times[j]:
            t0 = time.perf_counter()
            with panel.figure.batch_update():
                panel.update(panel.figure, results[j])
            row.update(
                median_ms=round(statistics.median(times[j]), 2),
                first_ms=round(times[j][0], 2),
                max_ms=round(max(times[j]), 2),
                update_only_ms=round((time.perf_counter() - t0) * 1e3, 2),
                repeats=len(times[j]),
            )
        rows.append(row)
    _set(panel, name, start)
    return {"positions": rows}


def measure(
    explorer: Callable[..., Any], start: dict[str, Any], repeats: int, quick: bool
) -> dict[str, Any]:
    panel = explorer(**start)
    try:
        controls: dict[str, Any] = {}
        for name in list(panel.controls):
            reveal = None if _visible(panel, name) else _reveal(panel, name)
            if not _visible(panel, name) and reveal is None:
                controls[name] = {"skipped": "hidden by the explorer"}
                continue
            if reveal is not None:
                saved = panel.controls[reveal[0]].value
                _set(panel, reveal[0], reveal[1])
            controls[name] = sweep_control(panel, name, repeats, quick)
            if reveal is not None:
                controls[name]["with"] = {reveal[0]: reveal[1]}
                _set(panel, reveal[0], saved)
    finally:
        panel.close()
    return {"start": start or "defaults", "controls": controls}


def _worst(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The position with the largest median, the one with the slowest first visit (a
    position's cold cost: one-off work such as training, and any explorer cache the
    repeats of that position then hit), and the refused positions."""
    worst: dict[str, Any] = {"median_ms": -math.inf}
    first: dict[str, Any] = {"first_ms": -math.inf}
    errors = []
    for run in runs:
        for name, entry in run["controls"].items():
            for row in entry.get("positions", []):
                if "error" in row:
                    errors.append({"start": run["start"], "control": name, **row})
                if row.get("median_ms", -math.inf) > worst["median_ms"]:
                    worst = {"start": run["start"], "control": name, **row}
                if row.get("first_ms", -math.inf) > first["first_ms"]:
                    first = {"start": run["start"], "control": name, **row}
    return {"worst": worst, "worst_first_visit": first, "errors": errors}


def run_theme(explorers: dict[str, Callable[..., Any]], repeats: int, quick: bool) -> dict:
    rows = {}
    for name, explorer in explorers.items():
        starts = [{}, *STARTS.get(name, [])]
        t0 = time.perf_counter()
        runs = [measure(explorer, start, repeats, quick) for start in starts]
        summary = _worst(runs)
        worst = summary["worst"]
        rows[name] = {
            "worst_position": worst,
            "worst_first_visit": summary["worst_first_visit"],
            "meets_target": worst["median_ms"] <= TARGET_MS,
            # positions the explorer refuses with a message in the panel (e.g. B > n
            # without replacement): not latencies, listed so that they are seen
            "refused_positions": summary["errors"],
            "runs": runs,
            "seconds": round(time.perf_counter() - t0, 1),
        }
        print(f"{name:22s} worst median {worst['median_ms']:8.2f} ms at "
              f"{worst.get('control')}={worst.get('value')!r} (start {worst.get('start')}); "
              f"{'ok' if rows[name]['meets_target'] else 'SLOW'}"
              f"{'; refused: ' + str(len(summary['errors'])) if summary['errors'] else ''}",
              flush=True)  # fmt: skip
    return rows


def _per_explorer(report: dict[str, Any]) -> dict[str, Any]:
    """Per explorer: the worst median (the target's measure) and the slowest first visit."""
    out = {}
    for theme, section in report["themes"].items():
        for name, row in section["explorers"].items():
            first = row.get("worst_first_visit") or _worst(row["runs"])["worst_first_visit"]
            out[f"{theme}.{name}"] = {
                "median_ms": row["worst_position"]["median_ms"],
                "control": row["worst_position"].get("control"),
                "value": row["worst_position"].get("value"),
                "start": row["worst_position"].get("start"),
                "meets_target": row["meets_target"],
                "slowest_first_visit_ms": first.get("first_ms"),
                "slowest_first_visit_at": {first.get("control"): first.get("value")},
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--themes", nargs="+", choices=list(WIDGET_MODULES),
                        default=list(WIDGET_MODULES))  # fmt: skip
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="3 positions, 1 repeat")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/explorers.json"))
    parser.add_argument("--summary", action="store_true",
                        help="only rewrite worst_per_explorer from the stored runs")  # fmt: skip
    args = parser.parse_args()
    if args.summary:
        path = Path(args.out)
        stored = json.loads(path.read_text())
        stored["worst_per_explorer"] = _per_explorer(stored)
        path.write_text(json.dumps(stored, indent=1, default=str) + "\n")
        return
    repeats = 1 if args.quick else args.repeats
    torch.set_num_threads(1)  # what LivePanel does while computing
    out = Path(args.out)
    report = json.loads(out.read_text()) if out.exists() else {}
    if "themes" not in report:  # the single-theme format of earlier runs
        report = {"themes": {}}
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()  # fmt: skip
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "alignkit", "benchmarks"],
                           cwd=ROOT, capture_output=True, text=True).stdout.strip()  # fmt: skip
    for theme, explorers in discover(args.themes).items():
        load = os.getloadavg()
        rows = run_theme(explorers, repeats, args.quick)
        report["themes"][theme] = {
            "explorers": rows,
            "all_meet_target": all(r["meets_target"] for r in rows.values()),
            "quick": args.quick,
            "repeats": repeats,
            "load_average_before": [round(x, 2) for x in load],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "git_commit": commit,
            "uncommitted_changes": bool(dirty),
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
    report.update(
        benchmark="kernel-side latency per explorer and control position "
        "(compute + figure update), median over repeats",
        target_median_ms=TARGET_MS,
        machine={**describe("cpu"), "cpu_count": os.cpu_count()},
        worst_per_explorer=_per_explorer(report),
    )
    out.write_text(json.dumps(report, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
