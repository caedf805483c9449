"""Bad input found by an independent fuzz of the public API, each case as it was reported.

Each was a raw error (KeyError, torch RuntimeError, OSError, ...), a silent wrong answer
(NaN, complex points, a bool taken as 1) or a message naming the wrong argument. Each must
now be a ``ValueError`` / ``TypeError`` naming the argument, its valid range and the value.
The wide tables live in ``test_bad_input.py`` (theme 1 and shared layers),
``test_divergences_bad_input.py`` and ``test_manifold_bad_input.py``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import pytest
import torch

from alignkit import cli
from alignkit.divergences import align, catalogue, fit_2d, landscape, toylm
from alignkit.divergences.alignment_rows import AlignmentRows
from alignkit.divergences.mixture import GaussianMixture
from alignkit.manifold import get_manifold
from alignkit.manifold.fields import NoiseSchedule
from alignkit.manifold.training import train_flow_matching
from alignkit.share import save_figure, view_call
from alignkit.stability.sweep import load_sweep
from alignkit.stability.sweep_result import compare_sweeps, save_sweep
from alignkit.stability.widgets import escape_explorer, region_explorer, sweep_explorer

LONG = "a" * 300  # one name longer than any file system allows (255 bytes)


def _set_state(make: Callable[[], Any], **values: Any) -> Callable[[], None]:
    def call() -> None:
        panel = make()
        try:
            panel.set_state(**values)
        finally:
            panel.close()

    return call


def _lm() -> toylm.ToyLM:
    return toylm.toy_lm(3, 3, seed=0)


def _mixture() -> GaussianMixture:
    return GaussianMixture([-1.0, 1.0], [0.5, 0.5], [0.5, 0.5])


def _refine(**kw: Any) -> Any:
    mix = _mixture()
    args = {"target": mix, "div": catalogue.get("reverse_kl"), "mean": 0.5, "std": 1.0,
            "land": landscape.landscape(mix, "reverse_kl")} | kw  # fmt: skip
    return landscape.refine_minimum(**args)


CASES = [
    # explorer set_state: an unknown choice was a KeyError from a slider's limit
    (_set_state(escape_explorer, sampling="nope"), ValueError, "sampling must be one of"),
    (_set_state(escape_explorer, sampling=["a"]), ValueError, "sampling must be one of"),
    (_set_state(region_explorer, minima="x"), ValueError, "minima must be one of"),
    (_set_state(sweep_explorer, model="nope"), ValueError, "model must be one of"),
    # ... and a bool was taken as the option 1
    (_set_state(sweep_explorer, batch_size=True), TypeError, "batch_size must be one of"),
    # manifold sampling: complex points, an integer-dtype crash, an allocator error
    (lambda: get_manifold("circle2d").sample(3, dtype=torch.complex64), ValueError, "dtype"),
    (lambda: get_manifold("circle2d").sample(3, dtype=torch.int64), ValueError, "dtype"),
    (lambda: get_manifold("circle2d").sample(10**12), ValueError, r"n must be .* \[1, 1e\+06\]"),
    # refine_minimum had no checks at all
    (lambda: _refine(target=None), TypeError, "target must be"),
    (lambda: _refine(div="reverse_kl"), TypeError, "div must be a Divergence"),
    (lambda: _refine(mean=math.inf), ValueError, "mean must be"),
    (lambda: _refine(mean=math.nan), ValueError, "mean must be"),
    (lambda: _refine(std=0.0), ValueError, "std must be"),
    (lambda: _refine(land="grid"), TypeError, "land must be a Landscape"),
    # ToyLM's methods
    (lambda: _lm().init_logits(-1), ValueError, "n_settings must be"),
    (lambda: _lm().init_logits(1.5), TypeError, "n_settings must be"),
    (lambda: _lm().log_prob(None), TypeError, "logits must be a float32 or float64"),
    (lambda: _lm().log_prob(torch.zeros(1, 3, 4, 3, dtype=torch.int64)), TypeError, "logits"),
    (lambda: _lm().log_prob(torch.zeros(1, 2, 4, 3)), ValueError, "logits must have shape"),
    (lambda: _lm().decode(10**6), ValueError, r"index must be an integer in \[0, 26\]"),
    (lambda: _lm().decode(-1), ValueError, "index must be"),
    (lambda: _lm().decode(None), TypeError, "index must be"),
    # a learning rate beyond float32: Adam's overflow error
    (lambda: train_flow_matching(torch.randn(8, 2), steps=1, width=4, depth=1, batch=4, lr=1e40),
     ValueError, r"lr must be in \(0, 1e\+30\]"),
    # NaN results returned as if valid
    (lambda: catalogue.alpha_integrand(torch.zeros(3), torch.zeros(3), alpha=1e300),
     ValueError, "alpha must be in"),
    (lambda: catalogue.alpha_integrand(torch.zeros(3), torch.zeros(3),
                                       alpha=torch.tensor([0.5, 1e300, 2.0], dtype=torch.float64)),
     ValueError, "alpha must be in"),
    (lambda: fit_2d.gaussian_log_prob_2d(torch.full((2, 2), math.nan), torch.zeros(2),
                                         torch.zeros(3)), ValueError, "x must be finite"),
    (lambda: NoiseSchedule().sigma(torch.tensor([5.0, -3.0])), ValueError, "t must be in"),
    (lambda: NoiseSchedule().sigma(torch.tensor([math.nan])), ValueError, "t must be finite"),
    # the message blamed sigma_max for a sigma_min too large
    (lambda: NoiseSchedule(sigma_min=5.0), ValueError, "sigma_min must be < sigma_max"),
    # a call line that is not Python
    (lambda: view_call("f", {"a b": 1}), ValueError, "state's keys must be Python names"),
    (lambda: view_call("class", {"a": 1}), ValueError, "function must be a Python name"),
    # OS errors of paths
    (lambda: save_figure(go.Figure(), f"/tmp/{LONG}.json"), ValueError, "path must be a writable"),
    (lambda: load_sweep(""), ValueError, "path must be a file name"),
    # messages that did not name what they got
    (lambda: AlignmentRows(None, [0.2]), TypeError, "alphas must be a sequence"),
    (lambda: AlignmentRows([0.5], [0.2], first_row="alpha"), ValueError,
     "first_row must be None or 'beta', got 'alpha'"),
    (lambda: AlignmentRows([0.5], [0.2], first_row=1), TypeError,
     "first_row must be None or 'beta', got int"),
    (lambda: compare_sweeps(None, None), TypeError, "reference must be a SweepResult, got"),
    (lambda: save_sweep([], "x.npz", {}), TypeError, "results must be a dict"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "error", "pattern"), [pytest.param(*c, id=f"case-{i}")
                                                         for i, c in enumerate(CASES)])  # fmt: skip
def test_reported_bad_input(call: Callable[[], Any], error: type[Exception], pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        call()


def test_existing_folder_as_figure_path(tmp_path: Path) -> None:
    folder = tmp_path / "view.json"
    folder.mkdir()
    with pytest.raises(ValueError, match="path must be a writable file name.*Is a directory"):
        save_figure(go.Figure(), folder)


def test_render_refuses_a_bad_out_before_running_anything(tmp_path: Path) -> None:
    """The name is checked first: no notebook runs, no folder is made (exit status 2, a
    one-line message); ``student`` too."""
    assert cli.main(["student", str(tmp_path / LONG)]) == 2
    out = tmp_path / "site" / LONG
    assert cli.main(["render", "--out", str(out), "00_welcome"]) == 2
    assert not (tmp_path / "site").exists()


def test_mixed_precision_objective_equals_one_precision() -> None:
    """float32 log π with float64 log p (two divergences): was an index_put dtype error."""
    lm = _lm()
    log_p = toylm.reward_target(lm, toylm.count_reward(lm), 0.5)
    divs = [catalogue.get("reverse_kl"), catalogue.get("forward_kl")]
    log_pi = lm.log_prob(lm.init_logits(2))
    mixed = align.exact_objective(divs, log_p, log_pi.float())
    torch.testing.assert_close(mixed, align.exact_objective(divs, log_p, log_pi), rtol=1e-6, atol=0)
    g32 = align.exact_gradient(lm, divs, log_p, lm.init_logits(2).float())
    g64 = align.exact_gradient(lm, divs, log_p, lm.init_logits(2))
    torch.testing.assert_close(g32.double(), g64, rtol=1e-4, atol=1e-6)


def test_descent_from_far_outside_the_grid_starts_at_its_nearest_end() -> None:
    """A huge mean tied every grid point (float32 distances) and started on the left edge."""
    land = landscape.landscape(_mixture(), "reverse_kl")
    far_right = landscape.descend_landscape(land, 1e20, 1.0).path[0]
    assert far_right[0] == pytest.approx(float(land.mus[-1]))
    assert landscape.descend_landscape(land, -1e20, 1.0).path[0][0] == pytest.approx(
        float(land.mus[0])
    )
