"""Theme 2 in 2-D: the closed-form gradient and Adam of the 2-D fits, and the 2-D explorer."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from alignkit.divergences.fit import _divergences, descend, fit_panel
from alignkit.divergences.fit_2d import (
    _adam,
    _Buffers,
    _Grid,
    _Objective,
    gaussian_log_prob_2d,
    grid_2d,
    value_and_grad_2d,
)
from alignkit.divergences.mixture import GaussianMixture
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
    """The 2-D fits' written-out Adam (NumPy, closed-form gradient) follows torch.optim.Adam
    (via ``descend``) on the autograd objective step by step."""
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
    theta = _start(len(divs)).numpy()
    path: list[np.ndarray] = []
    _adam(_Objective(plan, _Grid.build(nodes, log_p, area)), theta,
          lambda t: path.append(theta.copy()), steps=40, lr=0.05)  # fmt: skip
    np.testing.assert_allclose(np.stack(path), torch.stack(path_ref).numpy(), rtol=0, atol=1e-9)
    assert float(np.abs(path[-1] - path[0]).max()) > 0.1  # it moved


def test_gradient_far_from_the_grid_centre_matches_autograd() -> None:
    """log q and the moments are quadratics in the node about the grid's centre: a narrow
    model far off centre (the worst case for that expansion) still matches autograd."""
    target = target_2d(6.0)
    divs = _divergences(SETTINGS)
    nodes, _, area = grid_2d(target)
    log_p = target.log_prob(nodes)
    corner = nodes.amax(0) - 3.0  # three units inside the grid's corner
    theta = torch.cat([corner, torch.tensor([-0.7, -0.9, 0.3], dtype=D)]).expand(
        len(divs), 1, 5).clone().requires_grad_(True)  # fmt: skip
    log_q = gaussian_log_prob_2d(nodes, theta[..., :2], theta[..., 2:])
    ref = _batched_integrand(divs, log_p, log_q).sum(-1) * area
    ref.sum().backward()
    val, grad = value_and_grad_2d(_plan(divs, D, torch.device("cpu")), log_p, nodes,
                                  theta.detach(), area)  # fmt: skip
    torch.testing.assert_close(val, ref.detach(), rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(grad, theta.grad, rtol=1e-8, atol=1e-12)


def test_fit_panel_2d_follows_autograd_adam_over_a_whole_fit() -> None:
    """A whole explorer-sized fit (200 steps, the widest target the explorer reaches) equals
    torch.optim.Adam on the autograd objective (an independent route: no closed-form
    gradient, no feature expansion), for one setting (the explorer's case, computed on
    Python floats) and for a batch of settings (NumPy arrays). Smooth generators only:
    total variation's kink makes its descent sensitive to the last bit of any route."""
    target = target_2d(6.0)
    settings = [SETTINGS[i] for i in (0, 1, 2, 5, 6, 7)]
    start = torch.tensor([[0.5, 0.5, 1.0], [-4.0, 3.0, 1.0]], dtype=D)
    fit = fit_panel(target, settings, start, steps=200)
    singles = [fit_panel(target, [settings[i]], start[:1], steps=200) for i in (0, 1, 2, 4)]
    divs = _divergences(settings)
    nodes, _, area = grid_2d(target)
    log_p = target.log_prob(nodes)
    raw0 = torch.stack([start[:, 2].log(), start[:, 2].log(), torch.zeros(2, dtype=D)], -1)
    ref = torch.cat([start[:, :2], raw0], -1).expand(len(divs), 2, 5).clone()
    ref.requires_grad_(True)
    path: list[torch.Tensor] = []

    def objective() -> torch.Tensor:
        log_q = gaussian_log_prob_2d(nodes, ref[..., :2], ref[..., 2:])
        return _batched_integrand(divs, log_p, log_q).sum(-1) * area

    descend(objective, [ref], lambda t: path.append(ref[..., :2].detach().clone()), steps=200,
            lr=0.05)  # fmt: skip
    torch.testing.assert_close(fit.trajectory, torch.stack(path, -2), rtol=0, atol=1e-8)
    for i, single in zip((0, 1, 2, 4), singles, strict=True):  # near, other, generic rows
        torch.testing.assert_close(single.trajectory[0, 0], fit.trajectory[i, 0], rtol=0,
                                   atol=1e-10)  # fmt: skip
    assert not fit.diverged.any()
    assert float((fit.trajectory[..., -1, :] - fit.trajectory[..., 0, :]).norm(dim=-1).min()) > 0.1


def _fit_2d_run(device: str = "cpu") -> torch.Tensor:
    """A short batched 2-D fit (three settings, two starts) on ``device``: its trajectory."""
    target = GaussianMixture([[-3.0, -1.5], [3.0, -1.5], [0.0, 3.3]], [0.6, 0.6, 0.6],
                             [0.4, 0.35, 0.25], device=device)  # fmt: skip
    start = torch.tensor([[0.5, 0.5, 1.0], [-4.0, 3.0, 1.0]], dtype=D, device=device)
    fit = fit_panel(target, [SETTINGS[i] for i in (0, 1, 6)], start, steps=60)
    assert fit.trajectory.device.type == torch.device(device).type
    return fit.trajectory.cpu()


def test_fit_2d_off_cpu_branch_equals_the_cpu_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """The 2-D fit's buffers keep W on the host and, off the CPU, copy it to the device
    each step and read results back by copies (no shared views). Forced on the CPU, that
    branch must give the same fit bit for bit: a stale copy would not."""
    cpu_run = _fit_2d_run()
    original = _Buffers.__init__

    def off_cpu(self: _Buffers, nodes: torch.Tensor, shape: tuple[int, ...]) -> None:
        original(self, nodes, shape)
        self.cpu = False

    monkeypatch.setattr(_Buffers, "__init__", off_cpu)
    torch.testing.assert_close(_fit_2d_run(), cpu_run, rtol=0, atol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fit_2d_on_cuda_matches_cpu() -> None:
    torch.testing.assert_close(_fit_2d_run("cuda"), _fit_2d_run(), rtol=0, atol=1e-8)


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


@pytest.mark.parametrize("separation", [1.0, 3.5, 6.0, 8.0])
def test_the_explorers_square_holds_the_target_and_the_starts(separation: float) -> None:
    """The picture's square is the same for every separation of the slider (1 to 6), holds
    the target's mass (trapezoid sum, not the density's own formula: a sum over the
    pictured nodes) and the starts the sliders offer (±5); beyond 6 it grows with the
    separation."""
    view = fit2d_explorer_view("reverse_kl", separation=separation)
    half = max(6.0, separation)
    for axis in (view.axis_x, view.axis_y):
        assert axis[0] == -half and axis[-1] == half
    area = (view.axis_x[1] - view.axis_x[0]) * (view.axis_y[1] - view.axis_y[0])
    assert float(np.trapezoid(np.trapezoid(view.density, dx=1.0), dx=1.0) * area) > 1 - 1e-5
    panel = fit_2d_explorer()
    try:
        for name in ("init_x", "init_y"):
            slider = panel.controls[name]
            assert -half <= slider.min and slider.max <= half
    finally:
        panel.close()


def test_the_2d_explorer_says_when_its_fit_is_not_a_minimum() -> None:
    """The title flags a fit that is not stationary after the explorer's 200 steps (forward
    KL from a far start on close modes), and only such a fit; its gradient check is
    FitPanel.converged's, so 2000 more steps from its end move it on."""
    from alignkit.divergences.plots.fits2d import plot_fit2d_live

    far = fit2d_explorer_view("forward_kl", separation=1.0, init_x=4.0, init_y=4.0)
    assert not bool(far.diverged[0]) and not bool(far.converged[0])
    assert "(not converged: not stationary)" in plot_fit2d_live(far).layout.title.text
    near = fit2d_explorer_view("forward_kl", separation=1.0, init_x=0.5, init_y=0.5)
    assert bool(near.converged[0])
    assert "not converged" not in plot_fit2d_live(near).layout.title.text
    longer = fit2d_explorer_view("forward_kl", separation=1.0, init_x=4.0, init_y=4.0,
                                 steps=2200)  # fmt: skip
    assert float(np.abs(longer.means[0] - far.means[0]).max()) > 1e-3
