"""The README's table of browser latency per explorer, from ``benchmarks/results/latency.json``.

Run ``.venv/bin/python benchmarks/summary.py`` after ``latency.py`` to rewrite the table
between the README's markers (``--check`` only compares; ``tests/test_benchmark_summary.py``
fails while the README's table differs from the JSON). One row per explorer: its notebook,
the control ``latency.py`` pressed, the floor (a bare slider + figure pressed in the same
blocks, median ms), each phase's median (p95) as a multiple of the floor, and the run the
numbers come from (the latest run that measured the explorer).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
JSON = ROOT / "benchmarks/results/latency.json"
README = ROOT / "README.md"
START = "<!-- latency table (benchmarks/summary.py writes it from latency.json) -->"
END = "<!-- end of the latency table -->"
PHASES = ("cold", "warm", "ahead")


def _ratio(phase: Mapping[str, Any] | None, limits: Mapping[str, float]) -> str:
    """``1.23× (1.40×)``, bold where the median or p95 is over its limit; ``–`` if absent."""
    if not phase or phase.get("ratio_median") is None:
        return "–"
    med, p95 = float(phase["ratio_median"]), phase.get("ratio_p95")
    text = f"{med:.2f}× ({float(p95):.2f}×)" if p95 is not None else f"{med:.2f}×"
    over = med > limits["median"] or (p95 is not None and float(p95) > limits["p95"])
    return f"**{text}**" if over else text


def _run_of(data: Mapping[str, Any], name: str) -> str:
    """``abc1234, 2026-12-07``: the run an explorer's numbers come from. ``latency.py
    --merge`` replaces an explorer's entry with each run that lists it (``browser.parts``:
    per run, the explorers it measured and the run's index), so the latest such part."""
    for part in reversed(data["browser"].get("parts", [])):
        if name in part.get("explorers", ()):
            run = data["runs"][part["run"]]
            return f"{str(run['git_commit'])[:7]}, {str(run['date'])[:10]}"
    return "–"


def latency_table(data: Mapping[str, Any]) -> str:
    """The markdown table of ``latency.json``'s browser summary (see the module docstring).

    ``data`` missing the browser summary or the targets is a ``ValueError`` naming the key.
    """
    for key in ("browser", "targets", "runs"):
        if key not in data:
            raise ValueError(f"data must be latency.json's content, with {key!r}; it has "
                             f"{sorted(data)}")  # fmt: skip
    summary = data["browser"].get("summary")
    if not summary:
        raise ValueError("data['browser'] must hold 'summary' (a latency.py run with a browser)")
    limits = data["targets"]["browser_ratio"]
    head = ["notebook", "explorer", "control pressed", "floor (ms)",
            *(f"{p} × floor, median (p95)" for p in PHASES), "run"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, row in summary.items():
        stem, explorer = name.split("/", 1)
        if "skipped" in row:  # (latency.py could not measure it: says why)
            why = str(row["skipped"]).replace("|", "\\|")  # (a cell's text)
            floor, ratios = "–", [f"not measured: {why}", "–", "–"]
        else:
            floor = f"{float(row['floor_median_ms']):.1f}"
            ratios = [_ratio(row.get(p), limits) for p in PHASES]
        cells = [stem, explorer, str(row.get("slider", "–")), floor, *ratios,
                 _run_of(data, name)]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    met = ", ".join(
        f"{p} {data['targets'].get(f'browser_{p}_explorers_meeting_target', '–')}" for p in PHASES
    )
    lines.append("")
    lines.append(f"Explorers within {limits['median']}× (median) and {limits['p95']}× (p95) of "
                 f"the floor: {met}; bold: over either.")  # fmt: skip
    return "\n".join(lines)


def replace_table(readme: str, table: str) -> str:
    """``readme`` with the text between :data:`START` and :data:`END` replaced by ``table``;
    a README without both markers (in that order) is a ``ValueError``."""
    i, j = readme.find(START), readme.find(END)
    if i < 0 or j < i:
        raise ValueError(f"readme must hold the markers {START!r} and then {END!r}")
    return readme[: i + len(START)] + "\n" + table + "\n" + readme[j:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 if stale")
    args = parser.parse_args(argv)
    readme = README.read_text()
    new = replace_table(readme, latency_table(json.loads(JSON.read_text())))
    if args.check:
        print("README's latency table is " + ("up to date" if new == readme else "stale"))
        return 0 if new == readme else 1
    README.write_text(new)
    print(f"wrote the latency table into {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
