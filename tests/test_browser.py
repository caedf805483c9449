"""Notebook 00 in a real JupyterLab, driven by headless Chromium.

Runs every cell, checks that no error is shown and that the live explorer drew its plotly
figure, then moves the learning-rate slider with the keyboard and checks that the figure
redraws and that the panel's status shows no error. Keydown -> redraw latencies are
printed (``pytest -s`` shows them); nothing is written to the repository.

Skips only when no Chromium executable is installed (``apt-get install chromium``).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterator

import pytest
from jupyterlab_driver import (
    INSTALL_HINT,
    LabServer,
    NotebookPage,
    find_chromium,
    open_notebook,
    running_lab,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

NOTEBOOK = "00_welcome.ipynb"
LR_SLIDER = 0  # the explorer's first control: the learning rate
PRESSES = 6


@pytest.fixture(scope="module")
def lab() -> Iterator[LabServer]:
    """JupyterLab over a temporary copy of notebooks/ (started once for this module)."""
    if find_chromium() is None:
        pytest.skip(f"BROWSER TESTS NOT RUN: {INSTALL_HINT}")
    with running_lab(timeout=120) as server:
        yield server


@pytest.fixture(scope="module")
def welcome(lab: LabServer, browser: object) -> Iterator[NotebookPage]:
    """Notebook 00 opened in JupyterLab with every cell run (once for this module)."""
    nb = open_notebook(browser, lab, NOTEBOOK, timeout=120)
    try:
        nb.run_all(timeout=180)
        yield nb
    finally:
        nb.close()


def test_runs_without_errors_and_draws_the_explorer(welcome: NotebookPage) -> None:
    errors = welcome.error_outputs()
    assert not errors, f"error output in {NOTEBOOK}: {errors}\n{welcome.diagnostics()}"
    welcome.wait_for_plots(1, timeout=60)
    signature = welcome.trace_signature(LR_SLIDER)
    assert signature and "M" in signature, "the explorer's plot has no drawn trace path"
    assert welcome.n_sliders() >= 3, "gd_explorer shows learning rate, sharpness, steps"
    assert welcome.red_text(LR_SLIDER) == []


def test_learning_rate_slider_redraws_the_figure(welcome: NotebookPage) -> None:
    welcome.wait_for_plots(1, timeout=60)
    before_path = welcome.trace_signature(LR_SLIDER)
    before_value = welcome.slider_readout(LR_SLIDER)

    latencies = welcome.measure_key_latency(LR_SLIDER, "ArrowRight", presses=PRESSES)

    after_value = welcome.slider_readout(LR_SLIDER)
    assert after_value != before_value, f"slider did not move ({before_value!r})"
    assert float(after_value) == pytest.approx(float(before_value) + 0.01 * PRESSES, abs=1e-9)
    missed = [i for i, lat in enumerate(latencies) if lat.mutation_ms is None]
    assert not missed, f"no redraw after key presses {missed}\n{welcome.diagnostics()}"
    assert welcome.trace_signature(LR_SLIDER) != before_path, "trace path did not change"
    assert welcome.red_text(LR_SLIDER) == [], "the panel's status shows an error"
    assert welcome.error_outputs() == []

    # The kernel saw the last value (no stale update) and its panel reports no error.
    report = welcome.kernel_eval(
        "import json as _j\nfrom alignkit.live import _OPEN_PANELS as _p\n"
        "_k = _p['gd_explorer']\n"
        "print(_j.dumps([_k.controls['lr'].value, _k.error, len(_k.latencies_ms)]))"
    )
    lr, error, n_updates = json.loads(report)
    assert lr == pytest.approx(float(after_value)), report
    assert error is None, report
    assert n_updates >= 2, report

    ms = [lat.mutation_ms for lat in latencies if lat.mutation_ms is not None]
    print(
        f"\nkeydown -> redraw (ms) over {len(ms)} presses: "
        f"{', '.join(f'{v:.0f}' for v in ms)}; median {statistics.median(ms):.0f}, "
        f"max {max(ms):.0f}"
    )


def test_burst_of_presses_ends_on_the_last_value(welcome: NotebookPage) -> None:
    """Presses faster than the kernel answers: the figure must end on the last value."""
    welcome.wait_for_plots(1, timeout=60)
    welcome.focus_slider(LR_SLIDER)
    start = float(welcome.slider_readout(LR_SLIDER))
    for _ in range(12):
        welcome.press("ArrowLeft")
    end = float(welcome.slider_readout(LR_SLIDER))
    assert end == pytest.approx(start - 0.12, abs=1e-9)
    expected = f"η = {end:.3g}, 2/a = 1: η·a = {end * 2.0:.3g}"  # sharpness a = 2 in notebook 00
    try:
        welcome.page.wait_for_function(
            """([s, text]) => {
                return window.__ak.titleOf(window.__ak.plotFor(s, null)).startsWith(text);
            }""",
            arg=[LR_SLIDER, expected],
            timeout=15_000,
        )
    except Exception as exc:
        raise AssertionError(
            f"figure title stayed {welcome.plot_title(LR_SLIDER)!r}, expected {expected!r}\n"
            + welcome.diagnostics()
        ) from exc
    assert welcome.red_text(LR_SLIDER) == []
