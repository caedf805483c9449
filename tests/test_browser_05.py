"""Notebook 05 in a real JupyterLab: moving ε in the sampling explorer changes the samples."""

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

EPS = 0  # the first slider of notebook 05 is the sampling explorer's error size ε

PROBE = (
    "from alignkit.live import _OPEN_PANELS\n"
    "p = _OPEN_PANELS['sampling_explorer']\n"
    "r = p.result\n"
    "print(repr(p.state['eps']), '%.6f' % float(r.points.abs().sum()), r.eps, p.error)\n"
)


@pytest.fixture(scope="module")
def manifold() -> Iterator[NotebookPage]:
    if find_chromium() is None:
        pytest.skip(f"BROWSER TESTS NOT RUN: {INSTALL_HINT}")
    with notebook_after_run_all("05_generative_manifold_alignment.ipynb") as nb:
        yield nb


def test_notebook_05_runs_and_samples_move_with_eps(manifold: NotebookPage) -> None:
    assert manifold.error_outputs() == [], manifold.diagnostics()
    manifold.wait_for_plots(3, timeout=90)  # sampling, Lyapunov, counter-example panels
    assert "ε = 0.5" in manifold.plot_title(EPS), manifold.plot_title(EPS)
    before_kernel = manifold.kernel_eval(PROBE).split()
    assert before_kernel[0] == "0.5" and before_kernel[3] == "None", before_kernel
    before = manifold.trace_signature(EPS)
    lat = manifold.measure_key_latency(EPS, "ArrowRight", presses=2, timeout=30)
    assert all(x.mutation_ms is not None for x in lat), manifold.diagnostics()
    assert float(manifold.slider_readout(EPS)) == pytest.approx(1.0, abs=1e-9)  # grid 0.5, 0.75, 1
    assert manifold.trace_signature(EPS) != before, "the density/ε panels did not change"
    assert "ε = 1:" in manifold.plot_title(EPS), manifold.plot_title(EPS)
    after_kernel = manifold.kernel_eval(PROBE).split()
    assert after_kernel[0] == "1.0" and after_kernel[2] == "1.0", after_kernel
    assert after_kernel[1] != before_kernel[1], "the generated samples did not change"
    assert after_kernel[3] == "None" and manifold.red_text(EPS) == []
