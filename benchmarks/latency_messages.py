"""One comm message per figure edit against plotly.py's four, side by side in JupyterLab.

Run ``ALIGNKIT_FAST=1 .venv/bin/python benchmarks/latency_messages.py`` (about a minute per
explorer). Writes ``benchmarks/results/latency_messages.json`` and prints each explorer's
medians.

A live panel's figure sends each edit as one comm message
(:func:`alignkit.live.messages.one_message`); plotly.py's FigureWidget sends four (the two
edit ids, the message, the message back to None). Here each explorer is built twice, each
in a notebook (and kernel) of its own in one JupyterLab: as the kit builds it ("one
message") and with the figure's senders put back to plotly.py's ("plotly's four"). Every
control but the one pressed is hidden; the panels' caches answer no lookup and compute
nothing ahead (``latency.py``'s cold phase: every press computes). The two and the
bare-figure floor (a bare slider and a 200-point line) are pressed in alternating blocks of
5, with ``latency.py``'s timing (keydown -> first mutation of the plot's traces). Each
kernel's CPU time over its presses (``time.process_time``, all its threads) is read before
and after.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))

from jupyterlab_driver import find_chromium  # noqa: E402
from latency import _git  # noqa: E402
from latency_browser import _alternate, _notebook, _Walker  # noqa: E402
from side_by_side import against_floor, lab_with_floor, open_explorer  # noqa: E402

PRESSES = 20
BLOCK = 5
#: explorer -> (its module, the control pressed: latency.py's first visible slider)
EXPLORERS = {
    "threshold_explorer": ("stability", "batch_size"),
    "simulation_explorer": ("stability", "lr"),
    "fit_explorer": ("divergences", "n_modes"),
    "sampling_explorer": ("manifold", "eps"),
}
VARIANTS = ("one message", "plotly's four")
_CPU = "import time as _t\nprint(_t.process_time())"


def _cell(module: str, explorer: str, control: str, plotly_senders: bool) -> str:
    restore = (
        "from alignkit.live.messages import SENDERS\n"
        "for _n in SENDERS:  # plotly.py's own senders back on the figure\n"
        "    setattr(p.figure, _n, getattr(type(p.figure), _n).__get__(p.figure))\n"
        if plotly_senders
        else ""
    )
    return (
        f"from alignkit.{module}.widgets import {explorer}\n"
        f"_all = list({explorer}().controls)\n"
        f"p = {explorer}(hide=tuple(k for k in _all if k != {control!r}))\n"
        + restore
        + "p.cache.get = lambda key: (False, None)  # every press computes\n"
        "p.ahead.enabled = False\n"
        "p"
    )


def _cpu(nb: Any) -> float:
    return float(nb.kernel_eval(_CPU).strip().splitlines()[-1])


def measure(explorers: list[str], presses: int) -> dict[str, Any]:
    executable = find_chromium()
    if executable is None:
        return {"skipped": "no Chromium found: install it with `apt-get install chromium`"}
    notebooks = {
        f"_{explorer}_{k}.ipynb": _notebook(
            [_cell(EXPLORERS[explorer][0], explorer, EXPLORERS[explorer][1], k == 1)]
        )
        for explorer in explorers
        for k in range(len(VARIANTS))
    }
    out: dict[str, Any] = {}
    with lab_with_floor(executable, notebooks) as (context, lab, floor):
        for explorer in explorers:
            print(f"  {explorer} ({EXPLORERS[explorer][1]}) ...", flush=True)
            pages, where, walkers = [], {}, {}
            try:
                for k, variant in enumerate(VARIANTS):
                    nb, index, walkers[variant] = open_explorer(
                        context, lab, f"_{explorer}_{k}.ipynb"
                    )
                    pages.append(nb)
                    where[variant] = (nb, index)
                where["floor"], walkers["floor"] = (floor, 0), _Walker()
                before = {v: _cpu(where[v][0]) for v in VARIANTS}
                lats = _alternate(where, walkers, presses, BLOCK)
                cpu = {v: (_cpu(where[v][0]) - before[v]) / presses * 1e3 for v in VARIANTS}
            finally:
                for nb in pages:
                    nb.close()
            row, med, ratios = against_floor(lats)
            for v in VARIANTS:
                row[v]["kernel_cpu_per_press_ms"] = round(cpu[v], 2)
                row[v]["ratio_to_floor"] = ratios[v]
            row["one_message_minus_plotly_median_ms"] = round(
                med[VARIANTS[0]] - med[VARIANTS[1]], 2
            )
            out[explorer] = row
            print("    " + ", ".join(
                f"{v} {med[v]:.1f} ms ({ratios[v]['median']}x, kernel CPU "
                f"{cpu[v]:.1f} ms a press)" for v in VARIANTS
            ) + f", floor {med['floor']:.1f} ms", flush=True)  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--explorers", nargs="+", default=list(EXPLORERS), choices=EXPLORERS)
    parser.add_argument("--presses", type=int, default=PRESSES)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks/results/latency_messages.json"
    )
    args = parser.parse_args(argv)
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    explorers = measure(args.explorers, args.presses)
    result = {
        "benchmark": __doc__.splitlines()[0],
        "protocol": __doc__,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_tracked_files_modified": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "fast_mode": os.environ.get("ALIGNKIT_FAST") == "1",
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_1_5_15_min_before": load_before,
            "load_average_1_5_15_min_after": os.getloadavg() if hasattr(os, "getloadavg") else None,
        },
        "presses": args.presses,
        "block": BLOCK,
        "explorers": explorers,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
