"""Notebook 01 in a real JupyterLab: moving η in the region explorer reshapes the region."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from jupyterlab_driver import (
    INSTALL_HINT,
    NotebookPage,
    find_chromium,
    notebook_after_run_all,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(400)]

REGION_LR = 0  # the first slider of notebook 01 is the region explorer's learning rate


@pytest.fixture(scope="module")
def stability() -> Iterator[NotebookPage]:
    if find_chromium() is None:
        pytest.skip(f"BROWSER TESTS NOT RUN: {INSTALL_HINT}")
    with notebook_after_run_all("01_sgd_stability.ipynb") as nb:
        yield nb


def test_notebook_01_runs_and_region_moves_with_the_learning_rate(
    stability: NotebookPage,
) -> None:
    assert stability.error_outputs() == [], stability.diagnostics()
    stability.wait_for_plots(4, timeout=90)  # region, thresholds, simulation, edge of stability
    before = stability.trace_signature(REGION_LR)
    title = stability.plot_title(REGION_LR)
    assert "1 of 2 minima stable" in title, title  # η = 0.7, B = 1: x = 1 is unstable
    lat = stability.measure_key_latency(REGION_LR, "ArrowLeft", presses=5)
    assert all(x.mutation_ms is not None for x in lat), stability.diagnostics()
    assert stability.trace_signature(REGION_LR) != before, "the region did not change"
    assert stability.red_text(REGION_LR) == []
    assert float(stability.slider_readout(REGION_LR)) == pytest.approx(0.65, abs=1e-9)
