"""The README's latency table is latency.json's (benchmarks/summary.py), and the table says
what the JSON holds: the rows, the ratios, the bold marks of a missed target, the run."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _summary() -> ModuleType:
    spec = importlib.util.spec_from_file_location("summary", ROOT / "benchmarks/summary.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _data() -> dict[str, Any]:
    phase = {"ratio_median": 1.2, "ratio_p95": 1.4}
    day = "2026-01-0{}T00:00:00+00:00"
    return {
        "runs": [{"git_commit": c * 40, "date": day.format(k + 1)} for k, c in enumerate("abcd")],
        "browser": {
            "summary": {
                "01_x/first": {"slider": "η", "floor_median_ms": 30.04, "cold": phase,
                               "warm": {"ratio_median": 1.6, "ratio_p95": 1.0},
                               "ahead": {"ratio_median": 1.0, "ratio_p95": 2.6}},
                "02_y/second": {"slider": "B", "floor_median_ms": 25.0, "cold": phase,
                                "warm": {"ratio_median": 1.4}},  # (no p95)
                "02_y/third": {"skipped": "no visible slider | dropdown"},
            },
            # first measured by run 0, again by run 2; run 3 ran notebook 01 and failed
            # there (no explorer of it listed), so its numbers are still run 2's
            "parts": [
                {"run": 0, "explorers": ["01_x/first", "02_y/second"]},
                {"run": 1, "explorers": ["02_y/third"]},
                {"run": 2, "explorers": ["01_x/first"]},
                {"run": 3, "explorers": []},
            ],
        },
        "targets": {"browser_ratio": {"median": 1.5, "p95": 2.5},
                    "browser_cold_explorers_meeting_target": "2/2"},
    }  # fmt: skip


def test_the_readme_table_is_the_json_s() -> None:
    summary = _summary()
    readme = (ROOT / "README.md").read_text()
    table = summary.latency_table(json.loads(summary.JSON.read_text()))
    assert summary.replace_table(readme, table) == readme, (
        "README's latency table differs from benchmarks/results/latency.json: run "
        "`.venv/bin/python benchmarks/summary.py`"
    )
    data = json.loads(summary.JSON.read_text())
    for name in data["browser"]["summary"]:  # every explorer of the JSON has its row
        assert f"| {name.split('/')[0]} | {name.split('/')[1]} |" in readme


def test_a_row_holds_its_ratios_marks_a_missed_target_and_names_its_run() -> None:
    lines = _summary().latency_table(_data()).splitlines()
    first = next(line for line in lines if "| first |" in line)
    assert "| 30.0 |" in first
    assert "| 1.20× (1.40×) |" in first  # cold: within both limits
    assert "| **1.60× (1.00×)** |" in first  # warm: median over 1.5×
    assert "| **1.00× (2.60×)** |" in first  # ahead: p95 over 2.5×
    assert first.endswith("| ccccccc, 2026-01-03 |")  # its latest run, not the failed one
    second = next(line for line in lines if "| second |" in line)
    assert "| 1.40× | – | aaaaaaa, 2026-01-01 |" in second  # warm without p95; no ahead
    third = next(line for line in lines if "| third |" in line)
    assert (
        "| – | not measured: no visible slider \\| dropdown | – | – | bbbbbbb, 2026-01-02 |"
        in third
    )
    assert "cold 2/2, warm –, ahead –" in lines[-1]


def test_bad_input_names_what_is_missing() -> None:
    summary = _summary()
    with pytest.raises(ValueError, match="'targets'"):
        summary.latency_table({"browser": {}, "runs": []})
    with pytest.raises(ValueError, match="summary"):
        summary.latency_table({"browser": {}, "runs": [], "targets": {}})
    with pytest.raises(ValueError, match="markers"):
        summary.replace_table("no markers here", "table")
    end_first = f"{summary.END}\n{summary.START}"
    with pytest.raises(ValueError, match="markers"):
        summary.replace_table(end_first, "table")
