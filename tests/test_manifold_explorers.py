"""Theme 3 views, figures and explorers (small sizes; fast mode)."""

from __future__ import annotations

import math

import pytest
import torch

from alignkit.manifold.dynamics import generate
from alignkit.manifold.fields import perturb
from alignkit.manifold.views import EPS_GRID, eps_sweep, get_model, lyapunov_view, sampling_view
from alignkit.manifold.widgets import lyapunov_explorer, sampling_explorer


@pytest.mark.parametrize("kind", ["bias", "smooth", "endpoint"])
def test_batched_eps_sweep_equals_one_solve_per_eps(kind: str) -> None:
    _, model = get_model("circle2d", "exact")
    eps = torch.tensor([0.0, 0.3, 1.2])
    batched = eps_sweep(model, kind, eps, 50, steps=20, seed=5)
    for i, e in enumerate(eps.tolist()):
        one = generate(perturb(model, kind, e, seed=1), 50, steps=20, seed=5)
        # float32; the endpoint error is amplified by 1/(1 − t) up to 1000
        assert torch.allclose(batched[i], one, atol=1e-4, rtol=1e-4)


def test_batched_weight_noise_sweep_equals_one_solve_per_eps() -> None:
    _, model = get_model("circle2d", "flow", train_steps=50)
    eps = torch.tensor([0.0, 0.5])
    batched = eps_sweep(model, "weights", eps, 30, steps=10, seed=5)
    for i, e in enumerate(eps.tolist()):
        one = generate(perturb(model, "weights", e, seed=1), 30, steps=10, seed=5)
        assert torch.allclose(batched[i], one, atol=1e-5)


def test_sampling_view_distance_stays_small_while_density_moves() -> None:
    v = sampling_view("circle2d", "exact", "bias", 1.0, n=300)
    assert v.points.shape == (300, 3) and v.distance.shape == (300,)
    assert v.eps_grid.tolist() == list(EPS_GRID)
    assert float(v.distance_curve.max()) < 0.2  # up to ε = 2
    assert float(v.tv_curve[-1]) > float(v.tv_curve[0]) + 0.2
    assert v.hist.sum().item() == pytest.approx(1.0) and not v.diverged
    counter = sampling_view("circle2d", "exact", "endpoint", 1.0, n=300)
    assert counter.mean_distance > 5 * v.mean_distance
    # the drawn outline: the unit circle in the scene's z = 0 plane, NaN rows kept gaps
    gap = v.outline.isnan().any(dim=1)
    assert v.outline.shape[1] == 3 and bool(v.outline[gap].isnan().all())
    ring = v.outline[~gap]
    assert torch.allclose(ring[:, :2].norm(dim=1), torch.ones(len(ring), dtype=ring.dtype))
    assert bool((ring[:, 2] == 0).all())


def test_lyapunov_view_on_a_surface() -> None:
    v = lyapunov_view("sphere", "exact", n=60, steps=20)
    assert v.vectors.shape == (60, 3, 2) and v.tangents.shape == (60, 3, 2)
    assert v.exponents.shape == (60, 3)
    assert float(v.exponents[:, 2].mean()) < 0.0
    assert v.alignment_low.shape == v.times.shape
    # a manifold embedded in R^5 is drawn in its base space, as its points are
    w = lyapunov_view("sphere", "exact", n=40, steps=20, embed_dim=5)
    outline = w.outline[~w.outline.isnan().any(dim=1)]
    assert torch.allclose(outline.norm(dim=1), torch.ones(len(outline), dtype=outline.dtype))
    assert torch.cdist(w.points, outline).min(dim=1).values.max() < 0.35


def test_explorers_update_and_report_errors() -> None:
    panel = sampling_explorer(eps=0.2)
    before = panel.figure.data[1].x  # "samples"
    panel.set_state(eps=1.0)
    panel.flush()
    assert panel.error is None
    assert not (panel.figure.data[1].x == before).all()
    assert "ε = 1" in panel.figure.layout.title.text
    assert "weights" not in panel.controls["perturbation"].options  # exact model: no weights
    with pytest.raises(ValueError, match=r"perturbation must be one of \['smooth', 'bias', 'end"):
        panel.set_state(perturbation="weights")
    for eps in (0.3, math.nan, "1"):  # off the ε grid of the selection slider
        with pytest.raises(ValueError, match=r"eps must be one of \[0\.0, 0\.1, 0\.2"):
            panel.set_state(eps=eps)
    panel.set_state(perturbation="bias")
    panel.flush()
    assert panel.error is None
    panel.close()
    lyap = lyapunov_explorer()
    assert "mean |cos|" in lyap.figure.layout.title.text
    lyap.close()


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"manifold": "mobius"}, r"manifold must be one of \['circle2d', 'circle3d', 'helix'"),
        ({"eps": -0.5}, r"eps must be in \[0, inf\], got -0.5"),
        ({"steps": 0}, r"steps must be an integer in \[1, 1000\], got 0"),
        ({"model": "gan"}, r"model must be one of \['exact', 'flow', 'score'\]"),
        ({"manifold": "torus", "embed_dim": 2}, r"embed_dim must be an integer in \[3, 64\]"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        sampling_view(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        (
            {"embed_dim": 3.7},
            TypeError,
            r"embed_dim must be an integer in \[1, 64\], got float 3.7",
        ),
        ({"embed_dim": "16"}, TypeError, r"embed_dim must be an integer"),
        ({"embed_dim": float("nan")}, TypeError, r"embed_dim must be an integer"),
        ({"embed_dim": 100}, ValueError, r"embed_dim must be an integer in \[1, 64\], got 100"),
    ],
)
def test_bad_embed_dim(kwargs: dict[str, object], error: type, pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        sampling_view("helix", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(error, match=pattern):
        lyapunov_view("helix", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"hide": 5}, TypeError, r"hide must be a sequence of control names among"),
        ({"hide": "eps"}, TypeError, r"hide must be a sequence of control names among"),
        ({"hide": ["size"]}, ValueError, r"hide must name controls among"),
        ({"steps": 200}, ValueError, r"steps must be an integer in \[1, 100\], got 200"),
        ({"eps": 3.0}, ValueError, r"eps must be in \[0, 2\], got 3"),
        ({"eps": 0.3}, ValueError, r"eps must be one of the ε grid's values"),
        ({"eps": 1e-9}, ValueError, r"eps must be one of the ε grid's values .*got 1e-09"),
    ],
)
def test_bad_explorer_arguments(kwargs: dict[str, object], error: type, pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        sampling_explorer(**kwargs)  # type: ignore[arg-type]


def test_explorers_accept_what_the_views_accept() -> None:
    panel = sampling_explorer(steps=1)  # one solver step is a valid (coarse) solve
    assert panel.error is None
    panel.close()
    with pytest.raises(TypeError, match=r"hide must be a sequence of control names among"):
        lyapunov_explorer(hide=5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"data_size must be an integer in \[1, 100000\]"):
        get_model("circle2d", data_size=0)


def test_training_reports_progress_and_can_be_cancelled() -> None:
    from alignkit.manifold.training import train_flow_matching

    data = get_model("circle2d", "exact")[0].sample(256, seed=0)
    seen: list[tuple[int, int]] = []
    train_flow_matching(data, steps=120, width=8, progress=lambda k, n: seen.append((k, n)))
    assert seen == [(50, 120), (100, 120)]

    class Stop(Exception):
        pass

    def stop(k: int, n: int) -> None:
        raise Stop

    with pytest.raises(Stop):
        train_flow_matching(data, steps=120, width=8, progress=stop)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    from alignkit.manifold.dynamics import lyapunov_analysis
    from alignkit.manifold.fields import exact_model
    from alignkit.manifold.manifolds import get_manifold

    out = {}
    for dev in ("cpu", "cuda"):
        m = get_manifold("sphere", device=dev)
        model = exact_model(m.sample(64, seed=1, dtype=torch.float64))
        a = lyapunov_analysis(model, m, 50, steps=20, seed=0)
        assert a.end.device.type == dev
        out[dev] = a
    # the prior draws differ between devices' generators: compare statistics, not samples
    assert out["cuda"].mean_cosine == pytest.approx(out["cpu"].mean_cosine, abs=0.1)
    assert float(out["cuda"].normal_exponents.max()) < 0.0


def test_lyapunov_figure_flags_diverged_trajectories() -> None:
    """Rows a diverging model's flow lost are NaN in the view: the figure draws the others
    and says how many were left out (never a plausible number from NaNs)."""
    import dataclasses

    from alignkit.manifold.plots.lyapunov import plot_lyapunov

    v = lyapunov_view("circle2d", "exact", n=20, steps=5)
    lost = torch.zeros(20, dtype=torch.bool)
    lost[:3] = True
    ex = v.exponents.clone()
    ex[:3] = math.nan
    v = dataclasses.replace(
        v, exponents=ex, analysis=dataclasses.replace(v.analysis, diverged=lost)
    )
    title = plot_lyapunov(v).layout.title.text
    assert "3 of 20 trajectories diverged (left out)" in title
    assert "nan" not in title.split("normal exponent")[1].split("—")[0]
    clean = plot_lyapunov(lyapunov_view("circle2d", "exact", n=20, steps=5)).layout.title.text
    assert "diverged" not in clean


def test_a_flat_manifold_is_drawn_on_flat_axes_and_eps_moves_points_only() -> None:
    """circle2d: the samples on flat axes (scatter, SVG), the 3-D pair hidden and empty; an ε
    move recolours and moves them without a redraw; the sphere shows the scene there."""
    from alignkit.manifold.plots.sampling import _SCENE_DOMAIN

    panel = sampling_explorer(perturbation="endpoint", eps=0.5)
    try:
        fig = panel.figure
        by_name = {t.name: t for t in fig.data}
        flat, solid = by_name["samples"], by_name["samples (3-D)"]
        assert flat.type == "scatter" and flat.visible is True and len(flat.x) > 100
        assert solid.visible is False and len(solid.x) == 0
        assert list(fig.layout.xaxis.domain) == _SCENE_DOMAIN["x"]  # the scene's place
        assert fig.layout.yaxis.scaleanchor == "x"  # equal scale
        colours = list(flat.marker.color)
        panel.set_state(eps=0.35)
        panel.flush()
        panel.set_state(eps=0.2)
        panel.flush()
        assert panel.error is None and panel.redraw.paths[-1] == "points", panel.redraw.paths
        assert list(by_name["samples"].marker.color) != colours
        panel.set_state(manifold="sphere")
        panel.flush()
        assert panel.redraw.paths[-1] == "figure"
        assert by_name["samples"].visible is False and len(by_name["samples"].x) == 0
        assert by_name["samples (3-D)"].visible is True and len(by_name["samples (3-D)"].z) > 100
        assert fig.layout.xaxis.visible is False
        assert list(fig.layout.scene.domain.x) == _SCENE_DOMAIN["x"]
    finally:
        panel.close()


@pytest.mark.parametrize("manifold", ["circle2d", "helix"])
def test_the_figure_draws_the_first_drawn_samples_and_counts_them_all(manifold: str) -> None:
    """More samples than DRAWN: the first DRAWN are drawn (flat or in the scene), the panel's
    title says how many of how many, and the title's mean distance is over all of them."""
    from alignkit.manifold.plots.sampling import DRAWN, plot_sampling, update_sampling

    n = DRAWN + 150
    v = sampling_view(manifold, "exact", "endpoint", 0.5, n=n, steps=10)
    fig = plot_sampling(v)
    pair = ("samples", "samples (3-D)")
    shown = next(t for t in fig.data if t.visible is not False and t.name in pair)
    assert len(shown.x) == DRAWN and len(shown.marker.color) == DRAWN
    assert shown.x[-1] == pytest.approx(float(v.points[DRAWN - 1, 0]))
    assert fig.layout.annotations[0].text == f"{DRAWN} of {n} samples (colour: distance)"
    all_mean = float(v.distance.mean())
    assert f"mean distance {all_mean:.3f}" in fig.layout.title.text
    assert abs(float(v.distance[:DRAWN].mean()) - all_mean) > 5e-4  # (the title is not the drawn)
    update_sampling(fig, sampling_view(manifold, "exact", "endpoint", 1.0, n=n, steps=10))
    assert len(shown.x) == DRAWN
    few = plot_sampling(sampling_view(manifold, "exact", "endpoint", 0.5, n=DRAWN - 1, steps=10))
    assert few.layout.annotations[0].text == "samples (colour: distance)"
