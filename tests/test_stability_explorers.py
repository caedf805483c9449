"""Theme-1 explorers: views agree with the theory, panels move and survive bad values."""

import pytest
import torch

from alignkit.stability import theory as T
from alignkit.stability.views import ESCAPE_POINTS, region_view, simulation_view, threshold_view
from alignkit.stability.widgets import region_explorer, simulation_explorer, threshold_explorer


def test_escape_points_are_the_closed_forms() -> None:
    assert ESCAPE_POINTS["escape toy, x = 0"] == pytest.approx((2.0, 0.0), abs=1e-12)
    assert ESCAPE_POINTS["escape toy, x = 1"] == pytest.approx((2.0, 1.8))


def test_region_view_flags_the_sharp_nonuniform_minimum() -> None:
    sgd = region_view(0.7, 1, n=2, replacement=True)
    assert sgd.stable.tolist() == [True, False]
    gd = region_view(0.7, 2, n=2, replacement=False)
    assert gd.stable.tolist() == [True, True] and gd.p == 0


def test_threshold_view_consistent_with_theory() -> None:
    view = threshold_view(3, n=8, d=16, seed=2)
    inside = view.radius[view.lrs < view.threshold * 0.999]
    outside = view.radius[view.lrs > view.threshold * 1.001]
    assert bool((inside <= 1 + 1e-9).all()) and bool((outside > 1).all())
    assert float(view.threshold_curve[2]) == pytest.approx(view.threshold)
    assert bool((view.threshold_curve <= view.bound_directional * (1 + 1e-9)).all())


def test_threshold_view_takes_an_integral_float_batch_size() -> None:
    """check_int accepts 3.0 as 3; the view then indexes its curve with the int (3.0 was a
    raw IndexError)."""
    as_float, as_int = threshold_view(3.0, n=8, d=16, seed=2), threshold_view(3, n=8, d=16, seed=2)
    assert as_float.threshold == as_int.threshold and as_float.batch_size == 3


def test_threshold_view_reuses_the_curve_and_reaches_past_it() -> None:
    """η*(B) read off the cached curve equals the direct computation, for B within the
    curve and (with replacement) beyond its 2n; the cache does not leak between settings."""
    from alignkit.stability.toys import linear_regression_hessians

    for n, d, b, replacement in ((20, 60, 7, True), (3, 10, 20, True), (12, 8, 12, False)):
        view = threshold_view(b, n=n, d=d, replacement=replacement, seed=1)
        h = linear_regression_hessians(n, d, seed=1)[1]
        direct = T.linear_stability_threshold(h, b, replacement)
        assert view.threshold == pytest.approx(direct, rel=1e-12)
        assert view.gd_threshold == pytest.approx(2 / T.sharpness(h.mean(0)))
        assert view.batch_sizes.numel() == (2 * n if replacement else n)


@pytest.mark.parametrize(("n", "d", "replacement"), [(10, 20, False), (6, 30, True), (4, 3, True)])
def test_threshold_radius_range_holds_every_batch_size(n: int, d: int, replacement: bool) -> None:
    """The ρ axis' range (B = 1's top, full-batch GD's bottom) holds the ρ curve of every B
    the explorer's slider reaches, enumerated; without replacement B = n attains the bottom."""
    top = 20 if replacement else n
    curves = torch.stack(
        [
            threshold_view(b, n=n, d=d, replacement=replacement, seed=4).radius
            for b in range(1, top + 1)
        ]
    )
    lo, hi = threshold_view(3, n=n, d=d, replacement=replacement, seed=4).radius_range
    assert float(curves.max()) == pytest.approx(hi, rel=1e-12)  # B = 1 is the top
    assert float(curves.min()) >= lo * (1 - 1e-12)
    assert bool((curves[:-1] >= curves[1:] * (1 - 1e-9)).all())  # ρ falls as B grows
    if not replacement:
        assert float(curves[-1].min()) == pytest.approx(lo, rel=1e-12)


def test_threshold_radius_range_bottom_is_not_rounding() -> None:
    """n = 2, d = 1 on 60 η: a grid η hits 1/λ, where GD's ρ is 0 up to rounding (4.9e-32):
    the log axis' bottom stays within 9 decades of its top."""
    lo, hi = threshold_view(2, n=2, d=1, num=60).radius_range
    assert lo == pytest.approx(1e-9 * hi)


def test_threshold_explorer_keeps_its_rho_axis_as_b_moves() -> None:
    panel = threshold_explorer()
    rng = list(panel.figure.layout.yaxis.range)
    for b in (1, 5, 10, 3):
        panel.controls["batch_size"].value = b
        panel.flush()
        assert panel.error is None and list(panel.figure.layout.yaxis.range) == rng
    assert panel.redraw.paths[-4:] == ["points"] * 4  # no full redraw: the axes stayed
    y = panel.figure.data[0].y
    assert min(y) >= 10 ** rng[0] and max(y) <= 10 ** rng[1]
    panel.controls["n"].value = 20  # another problem: another axis
    panel.flush()
    assert panel.error is None and list(panel.figure.layout.yaxis.range) != rng
    panel.close()


def test_simulation_view_mean_vs_median_near_threshold() -> None:
    """Just above η*, the mean over seeds grows while the typical run still shrinks."""
    view = simulation_view(0.12, 2, steps=150, seeds=512)
    assert view.lr > view.threshold
    assert float(view.run.mean[0, -1]) > 1.0 > float(view.run.median[0, -1])


def test_region_explorer_changes_and_reports_bad_batch() -> None:
    panel = region_explorer()
    colours = list(panel.figure.data[3].marker.color)
    panel.controls["lr"].value = 0.3  # both minima stable now
    assert list(panel.figure.data[3].marker.color) != colours
    with pytest.raises(ValueError, match=r"batch_size must be an integer in \[1, 2\], got 3"):
        panel.set_state(sampling="without replacement", batch_size=3)  # B > n = 2
    panel.set_state(sampling="without replacement")  # the B slider now ends at n = 2
    panel.flush()
    assert panel.controls["batch_size"].max == 2 and panel.error is None
    panel.reset()
    assert panel.error is None and panel.state["lr"] == 0.7
    panel.close()


def test_threshold_and_simulation_explorers_move() -> None:
    panel = threshold_explorer()
    before = panel.figure.layout.title.text
    panel.controls["batch_size"].value = 5
    assert panel.error is None and panel.figure.layout.title.text != before
    panel.close()
    sim = simulation_explorer(seeds=64, steps=40)
    y0 = list(sim.figure.data[1].y)
    sim.controls["lr"].value = 0.3
    assert sim.error is None and list(sim.figure.data[1].y) != y0
    sim.close()


def test_linear_sgd_bad_input() -> None:
    from alignkit.stability.simulate import simulate_linear_sgd

    h = torch.eye(2, dtype=torch.float64).expand(3, 2, 2)
    with pytest.raises(ValueError, match=r"batch_size must be an integer in \[1, 3\]"):
        simulate_linear_sgd(h, 0.1, 4)
    with pytest.raises(ValueError, match="lr must be"):
        simulate_linear_sgd(h, torch.tensor([0.1, -0.1]), 1)
    assert T.linear_stability_threshold(h, 3) == pytest.approx(2.0)


def test_escape_toy_sgd_leaves_the_nonuniform_minimum_gd_does_not() -> None:
    from alignkit.stability.toys import simulate_escape_toy

    sgd = simulate_escape_toy(0.7, 1, steps=100, seeds=400, replacement=True, seed=0)
    gd = simulate_escape_toy(0.7, 2, steps=100, seeds=50, replacement=False, seed=0)
    assert float(sgd.fraction_near(0.0)[-1]) > 0.9  # escaped to the flat, uniform minimum
    assert float(gd.fraction_near(1.0)[-1]) == 1.0  # GD stays: a = 2 <= 2 / 0.7
    with pytest.raises(ValueError, match=r"batch_size must be an integer in \[1, 2\]"):
        simulate_escape_toy(0.7, 3, replacement=False)


@pytest.mark.parametrize(
    ("lr", "batch", "replacement"), [(0.7, 1, True), (1.1, 3, True), (0.9, 1, False)]
)
def test_escape_toy_equals_a_plain_loop_with_autograd_gradients(
    lr: float, batch: int, replacement: bool
) -> None:
    """The batched run (every step's minibatches drawn at once) equals a loop over steps
    and seeds that draws each step's minibatches then, with the gradients from autograd of
    the losses (not the closed-form branches the run uses)."""
    from alignkit.stability.minibatch import draw_minibatches
    from alignkit.stability.toys import escape_toy_losses, simulate_escape_toy

    steps, seeds = 25, 12
    run = simulate_escape_toy(lr, batch, steps=steps, seeds=seeds, replacement=replacement,
                              seed=7, device="cpu")  # fmt: skip
    gen = torch.Generator().manual_seed(7)
    x = 1.0 + 1e-3 * torch.randn(seeds, generator=gen, dtype=torch.float64)
    path = [x.clone()]
    for _ in range(steps):
        idx = draw_minibatches((seeds,), 2, batch, replacement=replacement, generator=gen)
        new = x.clone()
        for s in range(seeds):
            xs = x[s].clone().requires_grad_(True)
            loss = escape_toy_losses(xs)[idx[s]].mean()
            (grad,) = torch.autograd.grad(loss, xs)
            new[s] = x[s] - lr * grad
        x = new
        path.append(x.clone())
    assert torch.allclose(run.path, torch.stack(path, 1), rtol=1e-12, atol=0)
    assert not bool(run.diverged.any())


@pytest.mark.parametrize(
    ("lr", "batch", "replacement"),
    [(0.7, 1, True), (0.7, 2, False), (3.0, 1, True), (0.05, 2, True)],
)
def test_escape_toy_numpy_steps_equal_the_torch_steps(
    lr: float, batch: int, replacement: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the CPU the escape toy steps through NumPy: the same path as the torch steps to
    the last bit, runs that diverge (lr = 3: most of them) flagged and frozen alike, and the
    minibatches drawn in chunks as there (a small _DRAW_BYTES: chunks of 3 steps)."""
    from alignkit.stability import toys

    monkeypatch.setattr(toys, "_DRAW_BYTES", 3 * 40 * batch * 8)
    runs = []
    for numpy_steps in (True, False):
        monkeypatch.setattr(toys, "_NUMPY_ON_CPU", numpy_steps)
        runs.append(toys.simulate_escape_toy(lr, batch, steps=50, seeds=40,
                                             replacement=replacement, seed=3))  # fmt: skip
    fast, plain = runs
    assert torch.equal(fast.diverged, plain.diverged)
    assert torch.equal(fast.path.nan_to_num(), plain.path.nan_to_num())
    assert torch.equal(fast.path.isnan(), plain.path.isnan())
    assert bool(fast.diverged.any()) == (lr == 3.0)


def test_uv_valley_gd_above_two_over_a_moves_to_flatter_minima() -> None:
    from alignkit.stability.toys import simulate_uv_sgd, uv_data

    mean_sq = float((uv_data() ** 2).mean())
    start = mean_sq * (3.0**2 + 3.0**-2)  # sharpness of (3, 1/3), about 10.08
    run = simulate_uv_sgd(0.25, 8, replacement=False, steps=600, seeds=64)  # GD, 2/η = 8
    ok = ~run.diverged
    end = mean_sq * (run.u[ok, -1] ** 2 + run.v[ok, -1] ** 2)
    assert float(ok.double().mean()) > 0.9
    assert float(end.median()) < 2 / 0.25 < start
    assert float((run.u[ok, -1] * run.v[ok, -1] - 1).abs().max()) < 1e-3  # still a minimum


def test_escape_explorer_moves() -> None:
    from alignkit.stability.widgets import escape_explorer

    panel = escape_explorer(seeds=50, steps=30)
    before = panel.figure.layout.title.text
    panel.controls["batch_size"].value = 4
    assert panel.error is None and panel.figure.layout.title.text != before
    panel.close()


def test_sweep_view_and_explorer_on_shipped_data() -> None:
    from alignkit.stability.sweep import load_sweep
    from alignkit.stability.views import sweep_view
    from alignkit.stability.widgets import sweep_explorer

    results = load_sweep()
    assert set(results) == {"linear", "mlp", "random_features"}
    for result in results.values():
        view = sweep_view(result, 0.16, 4)
        assert view.worst_ratio <= 1.0  # the bound with μ_min at every converged minimum
        ok = result.converged  # only converged runs are minima
        assert view.x.numel() == int(ok.sum()) and bool(view.selected.any())
        assert torch.allclose(view.x * view.y.reciprocal(), (1 / (result.ratio[ok] *
                              result.mu_min[ok].double().sqrt())).double(), rtol=1e-4)  # fmt: skip
    panel = sweep_explorer(model="mlp", source="precomputed")
    assert panel.controls["width"].layout.display == "none"  # one width shipped
    before = panel.figure.layout.title.text
    panel.set_state(model="linear", lr=1.0)
    assert panel.error is None and panel.figure.layout.title.text != before
    assert "linear" in panel.figure.layout.title.text
    panel.close()
    with pytest.raises(ValueError, match="source must be one of"):
        sweep_explorer(source="cloud")
    with pytest.raises(ValueError, match="width must be one of"):
        sweep_explorer(width=3.0)


def test_sweep_sliders_stop_at_the_models_own_settings() -> None:
    """Every η and B position is a setting of the chosen model's sweep (the highlighted one);
    a model switch moves both to that model's nearest settings; an η off the grid is refused
    (the slider used to show η = 0.2 over a highlighted η = 0.5)."""
    from alignkit.stability.sweep import load_sweep
    from alignkit.stability.widgets import sweep_explorer

    shipped = load_sweep()
    panel = sweep_explorer(model="mlp", source="precomputed")
    try:
        for model in ("mlp", "linear", "random_features", "mlp"):
            panel.set_state(model=model)
            panel.flush()
            result = shipped[model]
            grid_lr = sorted(set(result.lr.double().reshape(-1).tolist()))
            grid_b = sorted({int(b) for b in result.batch_size.reshape(-1).tolist()})
            lr_slider, b_slider = panel.controls["lr"], panel.controls["batch_size"]
            assert list(lr_slider._options_values) == grid_lr
            assert list(b_slider._options_values) == grid_b
            for value in grid_lr[:: max(1, len(grid_lr) // 4)]:
                lr_slider.value = value
                panel.flush()
                assert panel.error is None and panel.result.chosen_lr == value
                assert panel.result.chosen_batch == b_slider.value
    finally:
        panel.close()
    with pytest.raises(ValueError, match=r"lr must be one of the mlp sweep's η values .*got 0.16"):
        sweep_explorer(model="mlp", lr=0.16, source="precomputed")
    with pytest.raises(ValueError, match=r"batch_size must be one of the mlp sweep's B values"):
        sweep_explorer(model="mlp", batch_size=3, source="precomputed")


def test_sweep_explorer_live_recomputes_per_width() -> None:
    from alignkit.stability.widgets import sweep_explorer

    panel = sweep_explorer(model="mlp", source="live", lr=0.2)  # a grid value in both modes
    assert panel.controls["width"].layout.display != "none"
    first = panel.result
    panel.controls["width"].value = 2.0
    assert panel.error is None and panel.result is not first
    assert not torch.equal(panel.result.frobenius, first.frobenius)
    panel.close()


def test_network_leaves_the_gd_minimum_for_a_flatter_one_under_sgd() -> None:
    from alignkit.stability.network_escape import gd_then_sgd

    run = gd_then_sgd(lr=0.5, batch_size=4, gd_steps=600, sgd_steps=600, every=100, n=32,
                      width=12)  # fmt: skip
    at_switch = list(run.checkpoints.tolist()).index(run.switch)
    assert float(run.sharpness[at_switch]) <= 2 / 0.5 * 1.02  # GD: held at or below 2/η
    assert float(run.loss[run.switch :].max()) > 100 * float(run.loss[run.switch])  # the jump
    assert float(run.frobenius[-1]) < 0.8 * float(run.frobenius[at_switch])  # flatter
    assert float(run.loss[-1]) < 0.01  # and a minimum again


def test_direction_region_view_points_are_eigen_directions_and_rho_is_exact() -> None:
    """Per-direction points (vᵀHv, std_i vᵀH_i v); a failing direction proves instability."""
    from alignkit.stability.toys import linear_regression_hessians
    from alignkit.stability.views import direction_region_view

    _, h = linear_regression_hessians(10, 20, seed=0)
    eta = T.linear_stability_threshold(h, 5)
    evals, evecs = torch.linalg.eigh(h.mean(0))
    v1 = evecs[:, -1]
    q = torch.einsum("i,nij,j->n", v1, h, v1)
    stable = direction_region_view(h, 0.99 * eta, 5)
    assert (
        not stable.exact and stable.names[0] == "v1 (top eigenvector)" and len(stable.names) == 10
    )
    assert stable.points[0].tolist() == pytest.approx(
        [float(evals[-1]), float(q.std(unbiased=False))]
    )
    assert stable.rho == pytest.approx(T.spectral_radius(h, 0.99 * eta, 5)) and stable.rho < 1
    assert bool(stable.stable.all())  # necessary condition holds at a stable minimum
    assert stable.global_point == pytest.approx((T.sharpness(h.mean(0)), T.nonuniformity(h)))
    assert not bool(T.stable_1d(*stable.global_point, 0.99 * eta, 5, 10))  # not a valid test
    unstable = direction_region_view(h, 2.2 / float(evals[-1]), 5)  # beyond GD's 2/λ_max
    assert not bool(unstable.stable[0]) and unstable.rho > 1


def test_region_explorer_switches_to_directions() -> None:
    panel = region_explorer()
    assert "1 of 2 minima stable" in panel.figure.layout.title.text
    panel.set_state(minima="regression n = 10, d = 20: directions", lr=0.26, batch_size=5,
                    sampling="without replacement")  # fmt: skip
    title = panel.figure.layout.title.text
    assert panel.error is None and "10 of 10 eigen-directions pass" in title and "ρ(Q)" in title
    assert len(panel.figure.data[3].x) == 10 and len(panel.figure.data[4].x) == 1
    assert panel.figure.layout.xaxis.range[1] > 6.0  # axes follow the minimum's own points
    panel.close()
    with pytest.raises(ValueError, match="minima must be one of"):
        region_explorer(minima="mlp")


def test_escape_toy_region_needs_its_two_samples() -> None:
    """p depends on n; the toy has two samples, so another n would give a wrong region."""
    with pytest.raises(ValueError, match="n must be 2"):
        region_view(1.0, 1, n=1, replacement=False)
    with pytest.raises(TypeError, match="n must be an integer"):  # (was a ValueError)
        region_view(0.7, 1, n="abc")
    gd = region_view(1.0, 2, n=2, replacement=False)  # B = n: gradient descent, p = 0
    assert gd.p == 0 and bool(gd.stable.all())


def test_sweep_explorer_wrong_types_are_type_errors() -> None:
    from alignkit.stability.widgets import sweep_explorer

    with pytest.raises(TypeError, match="width must be one of"):
        sweep_explorer(width="1", source="precomputed")
    import numpy as np
    import torch

    for scalar in (np.int64(1), np.float32(1.0), torch.tensor(1.0)):  # a number: accepted
        panel = sweep_explorer(width=scalar, source="precomputed")
        assert panel.state["width"] == 1.0
        panel.close()
    with pytest.raises(TypeError, match="source must be one of"):
        sweep_explorer(source=["auto"])
    with pytest.raises(ValueError, match="source must be one of"):
        sweep_explorer(source="nope")


def test_escape_toy_draws_in_chunks_the_same_minibatches(monkeypatch: pytest.MonkeyPatch) -> None:
    """The minibatches of many steps are drawn at once, at most _DRAW_BYTES of indexes: a
    budget of one step's draw gives the same paths bit for bit."""
    from alignkit.stability import toys

    whole = toys.simulate_escape_toy(0.9, 3, steps=40, seeds=16, seed=2, device="cpu")
    monkeypatch.setattr(toys, "_DRAW_BYTES", 16 * 3 * 8)
    chunked = toys.simulate_escape_toy(0.9, 3, steps=40, seeds=16, seed=2, device="cpu")
    assert torch.equal(whole.path, chunked.path)
