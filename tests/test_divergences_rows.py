"""Theme 2, alignment explorer: a control's row trained in one batched run reproduces each
setting trained alone; lookups along the row train nothing; the batched inner loops (toy LM
log-probabilities by broadcasting, grouped integrands) agree with their plain routes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from alignkit.divergences import get, names
from alignkit.divergences.alignment_rows import AlignmentRows
from alignkit.divergences.quadrature import _batched_integrand
from alignkit.divergences.toylm import ToyLM, sequence_log_prob, toy_lm
from alignkit.divergences.views import AlignmentView, alignment_view
from alignkit.divergences.widgets import _positions, alignment_explorer

STEPS = 12  # short runs: the claim is batch == alone, not convergence
BETAS = [0.05, 0.1, 0.2, 0.5, 1.0]
ALPHAS = [round(-3.0 + 0.25 * k, 10) for k in range(29)]  # -3 .. 4


def _same(a: AlignmentView, b: AlignmentView) -> None:
    assert a.label == b.label and a.sequences == b.sequences and a.infinite == b.infinite
    np.testing.assert_allclose(a.model_probs, b.model_probs, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(a.objective, b.objective, rtol=1e-9, atol=1e-15)
    for k, v in a.metrics.items():
        assert v == pytest.approx(b.metrics[k], rel=1e-9, abs=1e-12), k


def _alone(divergence: str, alpha: float, beta: float, target: str) -> AlignmentView:
    return alignment_view(divergence, alpha, beta, target=target, steps=STEPS)


def test_beta_row_is_one_run_equal_to_each_setting_alone() -> None:
    rows = AlignmentRows(ALPHAS, BETAS, steps=STEPS)
    first = rows.view("jensen_shannon", 0.5, 0.2, "reward")
    assert rows.runs == [1]  # the first view: that setting alone
    _same(first, _alone("jensen_shannon", 0.5, 0.2, "reward"))
    rows.view("jensen_shannon", 0.5, 1.0, "reward")  # β moved: every β in one run
    assert rows.runs == [1, len(BETAS)]
    for b in (0.05, 0.5, 1.0):
        _same(
            rows.view("jensen_shannon", 0.5, b, "reward"),
            _alone("jensen_shannon", 0.5, b, "reward"),
        )
    assert rows.runs == [1, len(BETAS)]  # lookups only
    # a value off the grid (set from code) trains that setting alone
    rows.view("jensen_shannon", 0.5, 0.3, "reward")
    assert rows.runs[-1] == 1


def test_divergence_and_target_rows_equal_each_setting_alone() -> None:
    rows = AlignmentRows(ALPHAS, BETAS, steps=STEPS)
    rows.view("reverse_kl", -1.5, 0.5, "reward")
    rows.view("forward_kl", -1.5, 0.5, "reward")  # divergence moved: all of them, α = -1.5
    assert rows.runs == [1, len(names())]
    for name in names():
        _same(rows.view(name, -1.5, 0.5, "reward"), _alone(name, -1.5, 0.5, "reward"))
    assert rows.runs == [1, len(names())]
    got = rows.view("alpha", -1.5, 0.5, "constraint")  # target moved: both targets
    assert rows.runs[-1] == 2
    alone = _alone("alpha", -1.5, 0.5, "constraint")
    assert got.infinite and alone.infinite  # zero-forcing (α ≤ 0) on the constraint: ∞, flagged
    _same(got, alone)
    # β does not matter on the constraint target: no run
    rows.view("alpha", -1.5, 0.05, "constraint")
    assert rows.runs[-1] == 2 and len(rows.runs) == 3


def test_alpha_window_and_bounded_memory() -> None:
    rows = AlignmentRows(ALPHAS, BETAS, steps=STEPS, max_row=5, max_rows=2)
    rows.view("alpha", 0.5, 0.2, "reward")
    rows.view("alpha", 1.5, 0.2, "reward")  # α moved: the 5 grid positions nearest 1.5
    assert rows.runs[-1] == 5
    for a in (1.0, 2.0):
        _same(rows.view("alpha", a, 0.2, "reward"), _alone("alpha", a, 0.2, "reward"))
    assert len(rows.runs) == 2
    rows.view("alpha", -3.0, 0.2, "reward")  # outside the window: a new row, at the edge
    assert rows.runs[-1] == 5 and len(rows.rows) == 2
    rows.view("alpha", 3.0, 0.2, "reward")
    assert len(rows.rows) == 2  # the oldest row was dropped


def test_rows_reject_bad_controls() -> None:
    rows = AlignmentRows(ALPHAS, BETAS, steps=STEPS)
    with pytest.raises(ValueError, match="divergence"):
        rows.view("nope", 0.5, 0.2, "reward")
    with pytest.raises(ValueError, match="beta"):
        rows.view("reverse_kl", 0.5, 0.0, "reward")
    with pytest.raises(ValueError, match="alpha"):
        rows.view("alpha", 9.0, 0.2, "reward")
    with pytest.raises(ValueError, match="target"):
        rows.view("reverse_kl", 0.5, 0.2, "other")
    with pytest.raises(ValueError, match="max_row"):
        AlignmentRows(ALPHAS, BETAS, max_row=1)
    assert rows.runs == []


def test_first_row_beta_trains_every_beta_position_at_once() -> None:
    rows = AlignmentRows(ALPHAS, BETAS, steps=STEPS, first_row="beta")
    got = rows.view("reverse_kl", 0.5, 0.2, "reward")
    assert rows.runs == [len(BETAS)]  # the whole β row, not the setting alone
    _same(got, _alone("reverse_kl", 0.5, 0.2, "reward"))
    for b in BETAS:
        _same(rows.view("reverse_kl", 0.5, b, "reward"), _alone("reverse_kl", 0.5, b, "reward"))
    assert rows.runs == [len(BETAS)]  # lookups only
    off_grid = AlignmentRows(ALPHAS, BETAS, steps=STEPS, first_row="beta")
    _same(off_grid.view("reverse_kl", 0.5, 0.3, "reward"), _alone("reverse_kl", 0.5, 0.3, "reward"))
    assert off_grid.runs == [len(BETAS) + 1]  # a β off the grid: with every grid position
    off_grid.view("reverse_kl", 0.5, 1.0, "reward")
    assert off_grid.runs == [len(BETAS) + 1]
    single = AlignmentRows(ALPHAS, [0.2], steps=STEPS, first_row="beta")  # β on its grid
    single.view("reverse_kl", 0.5, 0.2, "reward")
    assert single.runs == [1]  # that one setting, once
    on_constraint = AlignmentRows(ALPHAS, BETAS, steps=STEPS, first_row="beta")
    on_constraint.view("reverse_kl", 0.5, 0.2, "constraint")  # β does not matter there
    assert on_constraint.runs == [1]
    with pytest.raises(ValueError, match=r"first_row must be None or 'beta', got 'alpha'"):
        AlignmentRows(ALPHAS, BETAS, first_row="alpha")


def test_explorer_slider_positions_and_lookups() -> None:
    panel = alignment_explorer(steps=STEPS)
    try:
        betas = _positions(panel.controls["beta"])
        alphas = _positions(panel.controls["alpha"])
        assert (
            len(betas) == 41 and betas[0] == pytest.approx(0.05) and betas[-1] == pytest.approx(5.0)
        )
        assert len(alphas) == 141 and alphas[70] == pytest.approx(0.5)
        rows = panel.compute.__closure__  # (the explorer's AlignmentRows, in its compute)
        trained = next(c.cell_contents for c in rows if isinstance(c.cell_contents, AlignmentRows))
        assert trained.runs == [42]  # built with every β position trained (and 0.2, off them)
        panel.controls["beta"].value = betas[3]
        computes = panel.stats.n_computes
        panel.cache.clear()
        panel.controls["beta"].value = betas[30]
        assert panel.error is None and panel.stats.n_computes == computes + 1
        assert trained.runs == [42]  # both moves were lookups
        _same(panel.result, _alone("reverse_kl", 0.5, betas[30], "reward"))
    finally:
        panel.close()


def test_broadcast_log_prob_equals_the_gather_route() -> None:
    lm = toy_lm(4, 6, seed=0)
    theta = torch.randn(3, 6, 5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(lm.log_prob(theta), sequence_log_prob(theta, lm.sequences))
    # sequences in another order: the general route
    perm = torch.randperm(lm.n_sequences, generator=torch.Generator().manual_seed(2))
    shuffled = ToyLM(4, 6, lm.sequences[perm], lm.base_logits, lm.log_base[perm])
    torch.testing.assert_close(shuffled.log_prob(theta), lm.log_prob(theta)[:, perm])


def test_grouped_integrand_equals_one_row_at_a_time() -> None:
    gen = torch.Generator().manual_seed(3)
    divs = [get("reverse_kl"), get("jensen_shannon"), get("reverse_kl"), get("alpha", alpha=0.3),
            get("jensen_shannon"), get("forward_kl")]  # fmt: skip
    log_q = torch.log_softmax(torch.randn(len(divs), 50, dtype=torch.float64, generator=gen), -1)
    log_p = torch.log_softmax(torch.randn(len(divs), 50, dtype=torch.float64, generator=gen), -1)
    got = _batched_integrand(divs, log_p, log_q)
    for i, d in enumerate(divs):
        torch.testing.assert_close(got[i], d.integrand(log_p[i], log_q[i]))
    same = [get("reverse_kl")] * 4  # one group covering every row
    got = _batched_integrand(same, log_p[:4], log_q[:4])
    assert not math.isnan(float(got.sum()))
    torch.testing.assert_close(
        got, torch.stack([same[0].integrand(log_p[i], log_q[i]) for i in range(4)])
    )
