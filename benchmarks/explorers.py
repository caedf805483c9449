"""Kernel-side latency of every theme-1 explorer at its default sizes (CPU).

Run ``.venv/bin/python benchmarks/explorers.py``; writes ``benchmarks/results/explorers.json``.

Each explorer is built with its defaults and one control is stepped through a cycle of
values ``--updates`` times; the panel runs without an event loop (each change computes at
once), so ``panel.latencies_ms`` is compute + figure update for one control change, the
same work a Jupyter kernel does per slider message. Baseline, in the same run: replaying the
*same* results into the figure with the explorer's own ``update`` function (figure update
only, no compute), so ``ratio = total / update-only`` says how much the science costs on
top of the plotting. Target (issue 4): median <= 50 ms per explorer on CPU.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import torch

from alignkit.device import describe
from alignkit.stability import widgets

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 50.0

# explorer -> (control to move, values cycled through)
MOVES: dict[str, tuple[str, list[Any]]] = {
    "gd_explorer": ("lr", [0.2, 0.5, 0.9, 1.1, 0.7]),
    "region_explorer": ("lr", [0.5, 0.6, 0.8, 1.0, 0.7]),
    "threshold_explorer": ("batch_size", [1, 3, 5, 8, 2]),
    "simulation_explorer": ("lr", [0.05, 0.1, 0.15, 0.2, 0.12]),
    "escape_explorer": ("lr", [0.5, 0.6, 0.8, 0.9, 0.7]),
    "sweep_explorer": ("lr", [0.02, 0.08, 0.32, 1.0, 0.16]),
}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(name: str, updates: int) -> dict[str, Any]:
    panel = getattr(widgets, name)()
    control, values = MOVES[name]
    results = []
    for k in range(updates):
        panel.controls[control].value = values[k % len(values)]
        results.append(panel.result)
    assert panel.error is None, panel.error
    total = panel.latencies_ms  # explorers pass their first result: no start-up entry
    update_only = []
    for result in results:
        t0 = time.perf_counter()
        with panel.figure.batch_update():
            panel.update(panel.figure, result)
        update_only.append((time.perf_counter() - t0) * 1e3)
    panel.close()
    median = statistics.median(total)
    return {
        "control": control,
        "updates": len(total),
        "median_ms": round(median, 2),
        "p95_ms": round(_percentile(total, 0.95), 2),
        "update_only_median_ms": round(statistics.median(update_only), 2),
        "ratio_total_to_update_only": round(median / statistics.median(update_only), 2),
        "meets_target": median <= TARGET_MS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=40)
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/explorers.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)  # what LivePanel does while computing
    rows = {name: measure(name, args.updates) for name in MOVES}
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()  # fmt: skip
    report = {
        "benchmark": "kernel-side latency per explorer (compute + figure update)",
        "target_median_ms": TARGET_MS,
        "explorers": rows,
        "machine": {**describe("cpu"), "cpu_count": os.cpu_count()},
        "git_commit": commit,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    for name, row in rows.items():
        print(f"{name:22s} median {row['median_ms']:7.2f} ms  p95 {row['p95_ms']:7.2f} ms  "
              f"update-only {row['update_only_median_ms']:6.2f} ms  "
              f"{'ok' if row['meets_target'] else 'SLOW'}")  # fmt: skip


if __name__ == "__main__":
    main()
