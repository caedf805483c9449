"""Explorers pressed beside the bare-figure floor in one JupyterLab (shared by the scripts
that compare variants of an explorer: ``latency_controls.py``, ``latency_messages.py``).

Not run on its own. The floor is ``latency_browser.BASELINE_NOTEBOOK`` (a bare slider and a
200-point line); the server loads ``alignkit_server`` as installed; presses and their
statistics are ``latency_browser``'s.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))

from jupyterlab_driver import chromium, open_notebook, running_lab  # noqa: E402
from latency_browser import (  # noqa: E402
    _FIRST_SLIDER_JS,
    BASELINE_NOTEBOOK,
    _browser_stats,
    _Walker,
    ratio,
)

FLOOR = "_floor.ipynb"


@contextlib.contextmanager
def lab_with_floor(executable: str, notebooks: Mapping[str, str]) -> Iterator[tuple[Any, Any, Any]]:
    """JupyterLab serving ``notebooks`` (file name -> JSON) and the floor's, in headless
    Chromium ``executable``; yields (browser context, lab, the floor's page)."""
    extra = {FLOOR: json.dumps(BASELINE_NOTEBOOK, indent=1), **notebooks}
    config = {"ServerApp": {"jpserver_extensions": {"alignkit_server": True}}}
    with (
        running_lab(extra_files=extra, timeout=120, server_config=config) as lab,
        chromium(executable) as context,
    ):
        floor = open_notebook(context, lab, FLOOR, timeout=120)
        floor.run_all(timeout=120)
        floor.wait_for_plots(1)
        try:
            yield context, lab, floor
        finally:
            floor.close()


def open_explorer(context: Any, lab: Any, name: str) -> tuple[Any, int, _Walker]:
    """Run notebook ``name`` (one explorer's cell): its page, first slider and a walker."""
    nb = open_notebook(context, lab, name, timeout=120)
    nb.run_all(timeout=300)
    nb.wait_for_plots(1)
    found = nb.page.evaluate(_FIRST_SLIDER_JS, 0)
    return nb, found["index"], _Walker(found["kind"], found["plot"])


def against_floor(
    lats: Mapping[str, list[Any]],
) -> tuple[dict[str, Any], dict[str, float], dict[str, dict[str, float | None]]]:
    """Each pressed page's statistics, redraw medians, and ratios to ``"floor"``'s."""
    row: dict[str, Any] = {k: _browser_stats(v) for k, v in lats.items()}
    med = {k: row[k]["keydown_to_redraw_ms"]["median"] for k in lats}
    p95 = {k: row[k]["keydown_to_redraw_ms"]["p95"] for k in lats}
    ratios = {
        k: {"median": ratio(med[k], med["floor"]), "p95": ratio(p95[k], p95["floor"])}
        for k in lats
        if k != "floor"
    }
    return row, med, ratios
