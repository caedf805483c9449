"""Theme 2 in 2-D: the closed-form gradient and Adam of the 2-D fits, and the 2-D explorer."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from alignkit.divergences.fit import _divergences, descend
from alignkit.divergences.fit_2d import (
    _adam,
    gaussian_log_prob_2d,
    grid_2d,
    value_and_grad_2d,
)
from alignkit.divergences.quadrature import _batched_integrand, _plan
from alignkit.divergences.views_2d import fit2d_explorer_view, target_2d
from alignkit.divergences.widgets import fit_2d_explorer

D = torch.float64
SETTINGS = [("forward_kl", math.nan), ("reverse_kl", math.nan), ("jensen_shannon", math.nan),
            ("total_variation", math.nan), ("jeffreys", math.nan), ("neyman_chi2", math.nan),
            ("alpha", 0.3), ("alpha", 1.6)]  # fmt: skip


def _start(n_s: int) -> torch.Tensor:
    mean = torch.tensor([[0.4, -0.3], [-1.5, 1.0]], dtype=D)
    raw = torch.tensor([[-0.6, -0.7, 0.3], [-0.5, -0.8, -0.2]], dtype=D)  # σ ≈ 0.5-0.6
    return torch.cat([mean, raw], -1).expand(n_s, 2, 5).clone()


def test_2d_gradient_matches_autograd_for_every_generator_kind() -> None:
    target = target_2d()
    divs = _divergences(SETTINGS)
    nodes, _, area = grid_2d(target)
    log_p = target.log_prob(nodes)
    theta = _start(len(divs)).requires_grad_(True)
    log_q = gaussian_log_prob_2d(nodes, theta[..., :2], theta[..., 2:])
    ref = _batched_integrand(divs, log_p, log_q).sum(-1) * area
    assert torch.isfinite(ref).all()
    ref.sum().backward()
    with torch.no_grad():
        plan = _plan(divs, D, torch.device("cpu"))
        val, grad = value_and_grad_2d(plan, log_p, nodes, theta, area)
    torch.testing.assert_close(val, ref.detach(), rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(grad, theta.grad, rtol=1e-8, atol=1e-12)


def test_closed_form_adam_is_torch_adam() -> None:
    """The 2-D fits' written-out Adam follows torch.optim.Adam (via ``descend``) step by step."""
    target = target_2d()
    divs = _divergences(SETTINGS[:3] + SETTINGS[6:])
    nodes, _, area = grid_2d(target)
    log_p = target.log_prob(nodes)
    plan = _plan(divs, D, torch.device("cpu"))

    def objective(theta: torch.Tensor) -> torch.Tensor:
        log_q = gaussian_log_prob_2d(nodes, theta[..., :2], theta[..., 2:])
        return _batched_integrand(divs, log_p, log_q).sum(-1) * area

    ref = _start(len(divs)).requires_grad_(True)
    path_ref: list[torch.Tensor] = []
    descend(lambda: objective(ref), [ref], lambda t: path_ref.append(ref.detach().clone()),
            steps=40, lr=0.05)  # fmt: skip
    theta = _start(len(divs))
    path: list[torch.Tensor] = []

    def value_and_grad() -> tuple[torch.Tensor, torch.Tensor]:
        return value_and_grad_2d(plan, log_p, nodes, theta, area)

    _adam(value_and_grad, theta, lambda t: path.append(theta.clone()), steps=40, lr=0.05)
    torch.testing.assert_close(torch.stack(path), torch.stack(path_ref), rtol=0, atol=1e-9)
    assert float((path[-1] - path[0]).abs().max()) > 0.1  # it moved


def test_fit2d_explorer_view_locks_covers_and_checks_input() -> None:
    rev = fit2d_explorer_view("reverse_kl", init_x=-2.0, init_y=-1.0)
    fwd = fit2d_explorer_view("forward_kl", init_x=-2.0, init_y=-1.0)
    target = target_2d()
    # forward KL: moment matching (the grid's mean and covariance), reverse KL: the mode
    np.testing.assert_allclose(fwd.means[0], target.mean().numpy(), atol=5e-3)
    np.testing.assert_allclose(fwd.covariances[0], target.covariance().numpy(), atol=2e-2)
    np.testing.assert_allclose(rev.means[0], [-2.0, -1.0], atol=0.05)
    assert np.linalg.eigvalsh(rev.covariances[0]).max() < 0.6**2 * 1.2
    assert rev.paths is not None and rev.paths.shape == (1, 201, 2)
    assert "mode-seeking" in rev.labels[0] and "mass-covering" in fwd.labels[0]
    wide = fit2d_explorer_view("forward_kl", separation=6.0)
    assert np.trace(wide.covariances[0]) > np.trace(fwd.covariances[0])
    with pytest.raises(ValueError, match="divergence must be one of"):
        fit2d_explorer_view("kl")
    with pytest.raises(ValueError, match="separation"):
        fit2d_explorer_view(separation=0.1)
    with pytest.raises(ValueError, match="init_x"):
        fit2d_explorer_view(init_x=math.inf)


def test_fit_2d_explorer_every_control_redraws() -> None:
    panel = fit_2d_explorer()
    try:
        moves = {"divergence": "forward_kl", "separation": 3.0, "init_x": -1.0, "init_y": 2.0}
        for name, value in moves.items():
            before = panel.figure.to_plotly_json()
            panel.set_state(**{name: value})
            panel.flush()
            assert panel.error is None, panel.error
            assert panel.figure.to_plotly_json() != before, name
        panel.set_state(divergence="alpha", alpha=-0.5)
        panel.flush()
        assert panel.error is None and "α = -0.5" in panel.figure.layout.title.text
    finally:
        panel.close()


@pytest.mark.parametrize(
    ("init", "name"),
    [((-1.0, 1.0), "init"), ((0.0, 0.0, 0.0), "init[2]"), ((0.0, float("nan"), 1.0), "init[1]")],
)
def test_fit2d_view_names_a_bad_start(init: tuple[float, ...], name: str) -> None:
    from alignkit.divergences.views_2d import fit2d_view

    with pytest.raises(ValueError, match=name.replace("[", r"\[")):
        fit2d_view(init=init)  # type: ignore[arg-type]
