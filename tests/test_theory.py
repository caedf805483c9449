"""Linear stability of SGD: closed forms, brute-force enumeration, bisection, simulation."""

import itertools
import math

import pytest
import torch

import alignkit.stability.theory as T
from alignkit.stability.simulate import simulate_linear_sgd
from alignkit.stability.toys import escape_toy_hessians, linear_regression_hessians, uv_hessians


@pytest.fixture(scope="module")
def overparam() -> torch.Tensor:
    _, h = linear_regression_hessians(6, 12, seed=1)  # d > n: a valley of minima
    return h


def test_escape_toy_closed_forms() -> None:
    h0, h1 = escape_toy_hessians(0), escape_toy_hessians(1)
    assert T.sharpness(h0.mean(0)) == pytest.approx(2.0)
    assert T.sharpness(h1.mean(0)) == pytest.approx(2.0)
    assert T.nonuniformity(h0) == pytest.approx(0.0, abs=1e-12)
    assert T.nonuniformity(h1) == pytest.approx(1.8)
    # eta = 0.7: GD stable at both; SGD (B = 1, with replacement) unstable at x = 1 only.
    assert T.spectral_radius(h1, 0.7, 2) <= 1 and T.spectral_radius(h0, 0.7, 2) <= 1
    assert T.spectral_radius(h1, 0.7, 1, replacement=True) == pytest.approx(1.7476)
    assert T.spectral_radius(h0, 0.7, 1, replacement=True) == pytest.approx(0.16)
    assert bool(T.stable_1d(2.0, 0.0, 0.7, 1, 2, replacement=True))
    assert not bool(T.stable_1d(2.0, 1.8, 0.7, 1, 2, replacement=True))


@pytest.mark.parametrize("replacement", [False, True])
@pytest.mark.parametrize("batch", [1, 2])
def test_one_dimensional_threshold_formula(batch: int, replacement: bool) -> None:
    h = torch.tensor([0.3, 1.1, 2.5, 0.1], dtype=torch.float64).reshape(4, 1, 1)
    a = float(h.mean())
    s2 = float(((h - a) ** 2).mean())
    p = 1 / batch if replacement else (4 - batch) / (batch * 3)
    expected = 2 * a / (a**2 + p * s2)
    assert T.linear_stability_threshold(h, batch, replacement) == pytest.approx(expected)


@pytest.mark.parametrize(("n", "batch"), [(4, 1), (5, 2), (5, 3), (4, 4)])
def test_operator_matches_enumeration_of_minibatches(n: int, batch: int) -> None:
    """Q from the formula equals E[(I−ηH_ξ)⊗(I−ηH_ξ)] over every minibatch, exactly."""
    h = linear_regression_hessians(n, 3, seed=n + batch)[1]
    eta, eye = 0.2, torch.eye(3, dtype=torch.float64)
    for replacement in (False, True):
        if replacement:
            batches = list(itertools.product(range(n), repeat=batch))
        else:
            batches = list(itertools.combinations(range(n), batch))
        brute = sum(
            torch.kron(eye - eta * h[list(b)].mean(0), eye - eta * h[list(b)].mean(0))
            for b in batches
        ) / len(batches)
        q = T.stability_operator(h, eta, batch, replacement=replacement, restrict=False)
        assert torch.allclose(q, brute, atol=1e-12)


def _bisect(h: torch.Tensor, batch: int, replacement: bool) -> float:
    def radius(eta: float) -> float:
        q = T.stability_operator(h, eta, batch, replacement=replacement, restrict=True)
        return float(torch.linalg.eigvals(q).abs().max())

    lo, hi = 1e-6, 10.0
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if radius(mid) <= 1 + 1e-13 else (lo, mid)
    return lo


@pytest.mark.parametrize("replacement", [False, True])
@pytest.mark.parametrize("batch", [1, 2, 3, 6])
def test_threshold_formula_vs_bisection(
    overparam: torch.Tensor, batch: int, replacement: bool
) -> None:
    formula = T.linear_stability_threshold(overparam, batch, replacement)
    assert formula == pytest.approx(_bisect(overparam, batch, replacement), rel=1e-6)


def test_threshold_monotone_in_batch_and_gd_limit(overparam: torch.Tensor) -> None:
    curve = T.threshold_curve(overparam, [1, 2, 3, 4, 5, 6])
    assert bool((curve[1:] >= curve[:-1] - 1e-12).all())
    gd = 2 / T.sharpness(overparam.mean(0))
    assert float(curve[-1]) == pytest.approx(gd)
    assert float(curve[0]) < 0.7 * gd  # noise matters at B = 1


def test_necessary_conditions_bound_the_threshold(overparam: torch.Tensor) -> None:
    for batch in (1, 2, 4):
        eta = T.linear_stability_threshold(overparam, batch)
        directional, trace_form = T.threshold_upper_bounds(overparam, batch)
        assert eta <= directional * (1 + 1e-9) and eta <= trace_form * (1 + 1e-9)


def test_valley_has_eigenvalue_one_without_restriction(overparam: torch.Tensor) -> None:
    q = T.stability_operator(overparam, 1e-3, 2, restrict=False)
    assert float(torch.linalg.eigvalsh(q)[-1]) == pytest.approx(1.0, abs=1e-12)
    assert T.spectral_radius(overparam, 1e-3, 2) < 1


def test_matrix_free_routes_match_explicit(
    overparam: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    lrs = torch.tensor([0.02, 0.05, 0.1])
    explicit_rho = T.spectral_radius_curve(overparam, lrs, 2)
    explicit_eta = T.threshold_curve(overparam, [1, 3, 6])
    monkeypatch.setattr(T, "EXPLICIT_LIMIT", 0)
    assert torch.allclose(T.spectral_radius_curve(overparam, lrs, 2, iters=3000), explicit_rho,
                          rtol=1e-6)  # fmt: skip
    assert torch.allclose(T.threshold_curve(overparam, [1, 3, 6], iters=3000), explicit_eta,
                          rtol=1e-6)  # fmt: skip


@pytest.mark.parametrize("batch", [1, 3])
def test_simulated_sgd_crosses_at_threshold(overparam: torch.Tensor, batch: int) -> None:
    """Mean square over many seeds: contracts at 0.9 η*, blows up at 1.1 η*."""
    eta = T.linear_stability_threshold(overparam, batch)
    run = simulate_linear_sgd(overparam, torch.tensor([0.9 * eta, 1.1 * eta]), batch,
                              steps=300, seeds=1000, seed=3)  # fmt: skip
    assert float(run.mean[0, -1]) < 1e-2
    assert float(run.mean[1, -1]) > 1e2


def test_region_boundary_matches_1d_test() -> None:
    a, s_max = T.region_boundary(0.5, 2, 10)
    inside = T.stable_1d(a[1:-1], 0.999 * s_max[1:-1], 0.5, 2, 10)
    outside = T.stable_1d(a[1:-1], 1.001 * s_max[1:-1], 0.5, 2, 10)
    assert bool(inside.all()) and not bool(outside.any())
    assert float(a[-1]) == pytest.approx(4.0)
    _, gd = T.region_boundary(0.5, 10, 10)
    assert math.isinf(float(gd[0]))


def test_uv_sharpness() -> None:
    x = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    u = torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64)
    h = uv_hessians(u, 1 / u, x)
    for k in range(3):
        expected = float((x**2).mean()) * float(u[k] ** 2 + u[k] ** -2)
        assert T.sharpness(h[k].mean(0)) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("call", "pattern"),
    [
        (lambda h: T.spectral_radius(h, 0.0, 1), r"lr must be in \(0, inf\)"),
        (lambda h: T.spectral_radius(h, -1.0, 1), "lr must be"),
        (
            lambda h: T.linear_stability_threshold(h, 0),
            r"batch_size must be an integer in \[1, 6\]",
        ),
        (
            lambda h: T.linear_stability_threshold(h, 7),
            r"batch_size must be an integer in \[1, 6\]",
        ),
        (lambda h: T.spectral_radius(h[0], 0.1, 1), r"per_sample_hessians must have shape"),
        (lambda h: T.nonuniformity(h + torch.triu(torch.ones(12, 12), 1)), "symmetric"),
        (lambda h: T.sharpness(h), r"hessian must have shape \(d, d\)"),
        (lambda h: T.spectral_radius_curve(h, torch.tensor([0.1, float("nan")]), 1), "lrs must"),
    ],
)
def test_bad_input(overparam: torch.Tensor, call: object, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        call(overparam)  # type: ignore[operator]


def test_with_replacement_allows_any_batch(overparam: torch.Tensor) -> None:
    big = T.linear_stability_threshold(overparam, 50, replacement=True)
    assert big < 2 / T.sharpness(overparam.mean(0))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_theory_on_cuda_matches_cpu(overparam: torch.Tensor) -> None:
    gpu = overparam.to("cuda")
    assert T.linear_stability_threshold(gpu, 2) == pytest.approx(
        T.linear_stability_threshold(overparam, 2), rel=1e-9
    )
    lrs = torch.tensor([0.02, 0.1])
    assert torch.allclose(T.spectral_radius_curve(gpu, lrs, 2).cpu(),
                          T.spectral_radius_curve(overparam, lrs, 2), rtol=1e-9)  # fmt: skip
    run = simulate_linear_sgd(gpu, 0.05, 2, steps=20, seeds=8, device="cuda")
    assert run.sq_dist.device.type == "cuda"
