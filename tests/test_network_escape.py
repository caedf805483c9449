"""GD → SGD escape in a network: the Gauss–Newton thresholds at the switch are the exact
η*(B) of the explicit route, and a diverging run is a flagged result."""

import math

import pytest
import torch

from alignkit.stability.models import make_model
from alignkit.stability.network_escape import gauss_newton_threshold, gd_then_sgd
from alignkit.stability.noise import per_sample_jacobians
from alignkit.stability.plots.escape import plot_network_escape
from alignkit.stability.theory import linear_stability_threshold


@pytest.mark.parametrize(("name", "n", "width"),
                         [("mlp", 3, 2), ("linear", 6, 10), ("random_features", 3, 4)])  # fmt: skip
def test_threshold_matches_the_explicit_operator(name: str, n: int, width: int) -> None:
    fm = make_model(name, n=n, width=width, dtype=torch.float64)
    jac = per_sample_jacobians(fm.apply, fm.init([1])[0], fm.x)
    hessians = torch.einsum("nkd,nke->nde", jac, jac)  # explicit d × d G_i = J_iᵀ J_i
    for b, replacement in ((1, True), (2, True), (2, False), (n, False)):
        eta, converged = gauss_newton_threshold(jac, b, replacement=replacement)
        assert converged
        exact = linear_stability_threshold(hessians, b, replacement=replacement)
        assert eta == pytest.approx(exact, rel=1e-8)
    # GD (B = n without replacement): 2 / λ_max(G)
    lam = float(torch.linalg.eigvalsh(hessians.mean(0))[-1])
    assert gauss_newton_threshold(jac, n, replacement=False)[0] == pytest.approx(2 / lam)


def test_threshold_of_zero_jacobians_is_infinite() -> None:
    assert gauss_newton_threshold(torch.zeros(4, 2, 5), 1) == (math.inf, True)
    with pytest.raises(ValueError, match="jacobians"):
        gauss_newton_threshold(torch.full((4, 2, 5), math.nan), 1)
    with pytest.raises(ValueError, match="jacobians"):
        gauss_newton_threshold(torch.zeros(4, 5), 1)


def test_switch_records_the_gauss_newton_thresholds() -> None:
    run = gd_then_sgd("mlp", lr=0.5, batch_size=2, gd_steps=200, sgd_steps=20, every=100, n=8,
                      width=4)  # fmt: skip
    assert not run.diverged and run.diverged_step is None and run.threshold_converged
    k = run.checkpoints.tolist().index(run.switch)
    assert run.gd_threshold == pytest.approx(2 / float(run.sharpness[k]))
    assert run.switch_loss == pytest.approx(float(run.loss[run.switch]))
    assert 0 < run.sgd_threshold < run.gd_threshold  # SGD's η* is below GD's
    assert 0 < run.end_sgd_threshold < run.end_gd_threshold
    assert math.isfinite(run.hessian_sharpness) and run.hessian_sharpness > 0
    assert "Gauss–Newton" in plot_network_escape(run).layout.title.text


def test_a_diverging_run_is_flagged_not_a_crash() -> None:
    run = gd_then_sgd("mlp", lr=100.0, batch_size=2, gd_steps=20, sgd_steps=20, every=5, n=8,
                      width=4)  # fmt: skip
    assert run.diverged and run.diverged_step is not None and run.diverged_step <= 20
    assert run.loss.numel() == run.diverged_step + 1
    assert math.isnan(run.sgd_threshold) and math.isnan(run.gd_threshold)
    fig = plot_network_escape(run)
    assert "DIVERGED" in fig.layout.title.text


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="lr must be"):
        gd_then_sgd(lr=0.0)
    with pytest.raises(ValueError, match="divergence_factor"):
        gd_then_sgd(divergence_factor=1.0)
    with pytest.raises(ValueError, match="batch_size"):
        gd_then_sgd(batch_size=0)
