"""The sampling explorer's ε moves are lookups into the ε curve's batched solve (issue 15)."""

from __future__ import annotations

import ipywidgets as W
import pytest
import torch

from alignkit.manifold.dynamics import generate
from alignkit.manifold.fields import perturb
from alignkit.manifold.views import EPS_GRID, get_model, sampling_view
from alignkit.manifold.widgets import sampling_explorer


@pytest.mark.parametrize("kind", ["bias", "endpoint"])
def test_view_at_a_grid_eps_is_the_curve_point_and_the_direct_solve(kind: str) -> None:
    m, model = get_model("circle2d", "exact", seed=3)  # the view's seed: model and draws
    for eps in (0.0, 0.35, 2.0):
        v = sampling_view("circle2d", "exact", kind, eps, n=70, steps=15, seed=3)
        i = EPS_GRID.index(eps)
        # the curve's own point: marker and curve agree exactly
        assert v.mean_distance == float(v.distance_curve[i])
        assert v.tv == float(v.tv_curve[i])
        # an independent route: one plain solve of the perturbed model from the same draws
        x = generate(perturb(model, kind, eps, seed=1), 70, steps=15, seed=3)
        assert torch.allclose(v.points[:, :2], x.double(), atol=1e-4, rtol=1e-4)
        assert torch.allclose(v.distance, m.distance_to_manifold(x).double(), atol=1e-4)


def test_view_off_the_grid_still_solves_that_eps() -> None:
    _, model = get_model("circle2d", "exact")
    v = sampling_view("circle2d", "exact", "bias", 0.3, n=50, steps=12)
    assert 0.3 not in EPS_GRID and v.eps == 0.3
    x = generate(perturb(model, "bias", 0.3, seed=1), 50, steps=12, seed=0)
    assert torch.allclose(v.points[:, :2], x.double(), atol=1e-6)


class _Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[float, float, str]] = []

    def update(self, done: float, total: float, description: str = "") -> None:
        self.seen.append((done, total, description))


def test_a_new_curve_reports_progress_and_a_cached_one_does_not() -> None:
    first, again = _Recorder(), _Recorder()
    sampling_view("circle2d", "exact", "smooth", 0.5, n=41, steps=7, progress=first)
    assert [s for s in first.seen if s[2] == "ε curve"] == [(0, 3, "ε curve"), (1, 3, "ε curve"),
                                                           (2, 3, "ε curve")]  # fmt: skip
    sampling_view("circle2d", "exact", "smooth", 1.5, n=41, steps=7, progress=again)
    assert again.seen == []


def test_eps_slider_positions_are_the_grid() -> None:
    panel = sampling_explorer(eps=0.35)
    slider = panel.controls["eps"]
    assert isinstance(slider, W.SelectionSlider)
    assert [v for _, v in slider.options] == list(EPS_GRID) and slider.value == 0.35
    panel.set_state(eps=1.5)
    panel.flush()
    assert panel.error is None and "ε = 1.5" in panel.figure.layout.title.text
    panel.close()
    with pytest.raises(ValueError, match=r"eps must be one of the ε grid's values .*got 0.3"):
        sampling_explorer(eps=0.3)


def test_a_lyapunov_view_is_computed_once_per_model_and_settings() -> None:
    """A switch back to a manifold is a lookup; another model, n or seed is a new analysis,
    and the cached view is the one a fresh analysis gives (same draws, same numbers)."""
    from alignkit.manifold import views
    from alignkit.manifold.dynamics import lyapunov_analysis

    first = views.lyapunov_view("circle2d", "exact", n=23, steps=6, seed=2)
    assert views.lyapunov_view("circle2d", "exact", n=23, steps=6, seed=2) is first
    assert views.lyapunov_view("circle2d", "exact", n=24, steps=6, seed=2) is not first
    other = views.lyapunov_view("circle2d", "exact", n=23, steps=6, seed=2, data_size=50)
    assert other is not first  # another exact field (50 data points): not the cached view
    m, model = get_model("circle2d", "exact", seed=2)
    fresh = lyapunov_analysis(model, m, 23, steps=6, seed=2)
    assert torch.equal(first.exponents, fresh.exponents.double())
    assert first.mean_cosine == fresh.mean_cosine


@pytest.mark.parametrize("size", [1e-30, 1e30])
def test_a_direction_of_any_finite_size_is_the_same_unit_error(size: float) -> None:
    """The bias's direction is normalised: 1e30 (its squared norm overflows float32) and
    1e-30 (underflows) give the error of the unit vector (was: no error, or refused)."""
    _, model = get_model("circle2d", "exact")
    unit = perturb(model, "bias", 0.5, direction=torch.tensor([0.6, -0.8]))
    scaled = perturb(model, "bias", 0.5, direction=torch.tensor([0.6, -0.8]) * size)
    z, t = torch.tensor([[0.3, 0.1]]), torch.tensor(0.4)
    torch.testing.assert_close(scaled.velocity(z[0], t), unit.velocity(z[0], t))
    assert not torch.equal(unit.velocity(z[0], t), model.velocity(z[0], t))


def test_the_lyapunov_explorer_switches_manifold_without_computing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Built with every manifold's exact-field view in the cache: a first switch of manifold
    looks it up (the analysis would take 40-60 ms there)."""
    from alignkit.manifold import views
    from alignkit.manifold.manifolds import MANIFOLDS
    from alignkit.manifold.widgets import lyapunov_explorer

    panel = lyapunov_explorer()
    try:

        def refuse(*args: object, **kwargs: object) -> None:
            raise AssertionError("computed a view the explorer should have had")

        monkeypatch.setattr(views, "_lyapunov_view", refuse)
        for name in sorted(MANIFOLDS, reverse=True):
            panel.set_state(manifold=name)
            panel.flush()
            assert panel.error is None and panel.result.manifold == name
    finally:
        panel.close()
