"""SGD noise, Gauss–Newton and the alignment factor against independent computations."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from alignkit.stability import noise
from alignkit.stability.models import make_model
from alignkit.stability.theory import sampling_factor

D64 = torch.float64


def _small_model(name: str):
    sizes = {"linear": (6, 10), "random_features": (5, 8), "mlp": (5, 3)}
    n, width = sizes[name]
    return make_model(name, n=n, width=width, device="cpu", dtype=D64)


def _point(model, seed: int = 0) -> torch.Tensor:
    return model.init([seed])[0]


@pytest.mark.parametrize("name", ["linear", "random_features", "mlp"])
def test_per_sample_gradients_match_autograd_loop(name: str) -> None:
    model = _small_model(name)
    theta = _point(model)
    got = noise.per_sample_gradients(model.apply, theta, model.x, model.y)
    rows = []
    for i in range(model.n):
        th = theta.clone().requires_grad_(True)
        loss = 0.5 * ((model.apply(th, model.x[i : i + 1]) - model.y[i : i + 1]) ** 2).sum()
        (g,) = torch.autograd.grad(loss, th)
        rows.append(g)
    torch.testing.assert_close(got, torch.stack(rows), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["linear", "mlp"])
def test_jacobians_and_gauss_newton_match_loop(name: str) -> None:
    model = _small_model(name)
    theta = _point(model, 3)
    jac = noise.per_sample_jacobians(model.apply, theta, model.x)
    loop = torch.stack(
        [
            torch.autograd.functional.jacobian(
                lambda th, i=i: model.apply(th, model.x[i : i + 1]).reshape(-1), theta
            )
            for i in range(model.n)
        ]
    )
    torch.testing.assert_close(jac, loop, rtol=1e-12, atol=1e-12)
    gn = sum(j.T @ j for j in loop) / model.n
    torch.testing.assert_close(noise.gauss_newton(jac), gn, rtol=1e-12, atol=1e-12)


def test_one_sample_covariance_matches_enumeration() -> None:
    model = _small_model("mlp")
    theta = _point(model, 1)
    grads = noise.per_sample_gradients(model.apply, theta, model.x, model.y)
    mean = grads.mean(0)
    explicit = sum(torch.outer(g - mean, g - mean) for g in grads) / model.n
    torch.testing.assert_close(noise.noise_covariance(grads), explicit, rtol=1e-12, atol=1e-14)
    # the textbook form (1/n) Σ g_i g_iᵀ − g gᵀ
    textbook = grads.T @ grads / model.n - torch.outer(mean, mean)
    torch.testing.assert_close(noise.noise_covariance(grads), textbook, rtol=1e-10, atol=1e-12)


def _enumerated_covariance(grads: torch.Tensor, batches: list[tuple[int, ...]]) -> torch.Tensor:
    means = torch.stack([grads[list(b)].mean(0) for b in batches])
    centred = means - grads.mean(0)  # every batch is equally likely, unbiased estimator
    return centred.T @ centred / len(batches)


@pytest.mark.parametrize("batch_size", [1, 2, 3, 5])
def test_minibatch_covariance_without_replacement_matches_all_subsets(batch_size: int) -> None:
    n, d = 5, 3
    grads = torch.randn(n, d, generator=torch.Generator().manual_seed(batch_size), dtype=D64)
    batches = list(itertools.combinations(range(n), batch_size))
    expected = _enumerated_covariance(grads, batches)
    got = noise.noise_covariance(grads, batch_size=batch_size, replacement=False)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-14)
    p = sampling_factor(n, batch_size)
    assert p == pytest.approx((n - batch_size) / (batch_size * (n - 1)))


@pytest.mark.parametrize("batch_size", [1, 2, 3])
def test_minibatch_covariance_with_replacement_matches_all_tuples(batch_size: int) -> None:
    n, d = 4, 3
    grads = torch.randn(n, d, generator=torch.Generator().manual_seed(7), dtype=D64)
    batches = list(itertools.product(range(n), repeat=batch_size))
    expected = _enumerated_covariance(grads, batches)
    got = noise.noise_covariance(grads, batch_size=batch_size, replacement=True)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-14)
    assert sampling_factor(n, batch_size, replacement=True) == 1 / batch_size


def test_mu_linear_regression_closed_form() -> None:
    """μ for f = xᵀθ/√p from plain numpy: g_i = r_i x_i/√p, H = XᵀX/(np)."""
    model = _small_model("linear")
    theta = _point(model, 2)
    x, y = model.x.numpy(), model.y.numpy()[:, 0]
    n, p = x.shape
    r = x @ theta.numpy() / math.sqrt(p) - y
    h = x.T @ x / (n * p)
    g_i = r[:, None] * x / math.sqrt(p)
    g = g_i.mean(0)
    sigma = g_i.T @ g_i / n - np.outer(g, g)
    expected = np.trace(sigma @ h) / (np.mean(r**2) * np.sum(h**2))
    got = noise.alignment_factor(model.apply, theta, model.x, model.y)
    assert float(got) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("n", [2, 5, 12])
def test_mu_orthogonal_inputs_is_n_minus_one_over_n(n: int) -> None:
    """Orthogonal equal-norm inputs: μ = (n − 1)/n at every θ (derivation in noise.py docs)."""
    p = n + 3
    x = 2.0 * torch.eye(n, p, dtype=D64)
    y = torch.randn(n, 1, generator=torch.Generator().manual_seed(n), dtype=D64)

    def apply(theta: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        return (inputs @ theta)[:, None] / math.sqrt(p)

    for seed in range(3):
        theta = torch.randn(p, generator=torch.Generator().manual_seed(seed), dtype=D64)
        mu = noise.alignment_factor(apply, theta, x, y)
        assert float(mu) == pytest.approx((n - 1) / n, rel=1e-12)


@pytest.mark.parametrize("name", ["linear", "random_features", "mlp"])
@pytest.mark.parametrize("route", ["parameters", "samples"])
def test_matrix_free_route_matches_explicit(name: str, route: str) -> None:
    model = _small_model(name)
    thetas = model.init([0, 1, 2])
    jac = torch.stack([noise.per_sample_jacobians(model.apply, t, model.x) for t in thetas])
    res = torch.stack([model.apply(t, model.x) - model.y for t in thetas])
    stats = noise.noise_alignment(jac, res, route=route)
    for s, theta in enumerate(thetas):
        grads = noise.per_sample_gradients(model.apply, theta, model.x, model.y)
        sigma = noise.noise_covariance(grads)
        gn = noise.gauss_newton(jac[s])
        assert float(stats.trace_noise_gn[s]) == pytest.approx(float(torch.trace(sigma @ gn)))
        assert float(stats.gn_frobenius[s]) == pytest.approx(float(torch.linalg.norm(gn)))
        lam = torch.linalg.eigvalsh(gn)[-1]
        assert float(stats.sharpness[s]) == pytest.approx(float(lam), rel=1e-9)
        mu = noise.alignment_factor(model.apply, theta, model.x, model.y)
        assert float(stats.mu[s]) == pytest.approx(float(mu), rel=1e-9)
        loss = noise.square_loss(model.apply, theta, model.x, model.y)
        assert float(stats.loss[s]) == pytest.approx(float(loss), rel=1e-12)


def test_power_iteration_matches_eigvalsh() -> None:
    m = noise.EIGH_MAX_SIZE + 40
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(3, m, 20, generator=gen, dtype=D64)
    mats = a @ a.transpose(-1, -2)
    got = noise.top_eigenvalue(mats)
    torch.testing.assert_close(got, torch.linalg.eigvalsh(mats)[:, -1], rtol=1e-8, atol=0)


def test_bound_and_ratio() -> None:
    mu, lr, b = torch.tensor([0.5, 0.1]), torch.tensor([0.1, 1.0]), torch.tensor([4, 16])
    bound = noise.alignment_bound(mu, lr, b)
    torch.testing.assert_close(bound, torch.sqrt(b / mu) / lr)
    fro = torch.tensor([3.0, 50.0])
    ratio = noise.alignment_ratio(fro, lr, b)
    torch.testing.assert_close(ratio, fro * lr / torch.sqrt(b.double()).float())
    # ratio <= 1/sqrt(mu)  <=>  ||H||_F <= bound
    assert ((ratio <= 1 / mu.sqrt()) == (fro <= bound)).all()
    # without replacement p < 1/B: looser, and infinite for full-batch GD
    loose = noise.alignment_bound(0.5, 0.1, 4, n=10, replacement=False)
    assert float(loose) > float(noise.alignment_bound(0.5, 0.1, 4))
    assert math.isinf(float(noise.alignment_bound(0.5, 0.1, 10, n=10, replacement=False)))
    assert math.isnan(float(noise.alignment_bound(float("nan"), 0.1, 4)))


@pytest.mark.parametrize("n", [2, 8, 50])
def test_bound_is_necessary_for_orthogonal_inputs(n: int) -> None:
    """Exact mean-square threshold (with replacement) never exceeds the bound.

    Orthogonal inputs, H = λ I on n directions: per direction
    E(1 − η λ n c/B)² = (1 − ηλ)² + η²λ²(n − 1)/B with c ~ Binomial(B, 1/n),
    so ηλ ≤ 2 / (1 + (n − 1)/B); the bound says ηλ ≤ √(B/(n − 1)) (μ = (n−1)/n).
    """
    lam = 0.3
    for b in range(1, n + 1):
        eta_star = 2 / (1 + (n - 1) / b) / lam
        fro = math.sqrt(n) * lam
        bound = float(noise.alignment_bound((n - 1) / n, eta_star, b))
        assert fro <= bound * (1 + 1e-12)


def test_bad_inputs_raise_value_errors_naming_the_argument() -> None:
    model = _small_model("mlp")
    theta = _point(model)
    with pytest.raises(ValueError, match="batch_size"):
        sampling_factor(5, 0)
    with pytest.raises(ValueError, match="batch_size"):
        sampling_factor(5, 6)
    with pytest.raises(ValueError, match="n must"):
        sampling_factor(0, 1)
    with pytest.raises(ValueError, match="batch_size"):
        noise.noise_covariance(torch.zeros(4, 3), batch_size=5)
    with pytest.raises(ValueError, match="lr"):
        noise.alignment_bound(0.5, 0.0, 4)
    with pytest.raises(ValueError, match="lr"):
        noise.alignment_ratio(1.0, -1.0, 4)
    with pytest.raises(ValueError, match="batch_size"):
        noise.alignment_bound(0.5, 0.1, 0)
    with pytest.raises(ValueError, match="batch_size"):
        noise.alignment_bound(0.5, 0.1, 11, n=10, replacement=False)
    with pytest.raises(ValueError, match="n must"):
        noise.alignment_bound(0.5, 0.1, 4, replacement=False)
    with pytest.raises(ValueError, match="mu"):
        noise.alignment_bound(-0.5, 0.1, 4)
    with pytest.raises(ValueError, match="theta"):
        noise.per_sample_gradients(model.apply, theta[None], model.x, model.y)
    with pytest.raises(ValueError, match="y"):
        noise.per_sample_gradients(model.apply, theta, model.x, model.y[:-1])
    with pytest.raises(ValueError, match="x"):
        noise.per_sample_jacobians(model.apply, theta, model.x[0])
    jac = noise.per_sample_jacobians(model.apply, theta, model.x)
    with pytest.raises(ValueError, match="residuals"):
        noise.noise_alignment(jac, torch.zeros(model.n + 1, 10, dtype=D64))
    with pytest.raises(ValueError, match="route"):
        noise.noise_alignment(jac, torch.zeros(model.n, 10, dtype=D64), route="fast")
    with pytest.raises(ValueError, match="jacobians"):
        noise.gauss_newton(torch.zeros(3, 4))


def test_inputs_whose_products_overflow_are_named() -> None:
    """A 1e300 Jacobian entry overflows JᵀJ: the error names ``jacobians`` on both routes
    (it said "matrix must be finite", an inner helper's argument); the same in
    alignment_factor, whose gradients overflow."""
    from alignkit.stability.noise import alignment_factor, noise_alignment

    gen = torch.Generator().manual_seed(0)
    j = torch.randn(5, 2, 3, dtype=torch.float64, generator=gen)
    r = torch.randn(5, 2, dtype=torch.float64, generator=gen)
    j[0, 0, 0] = 1e300
    for route in ("parameters", "samples"):
        with pytest.raises(ValueError, match=r"^jacobians are too large"):
            noise_alignment(j, r, route=route)

    def fn(th: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return x @ th.reshape(3, 1)

    x = torch.randn(6, 3, dtype=torch.float64, generator=gen)
    x[0, 0] = 1e300
    with pytest.raises(ValueError, match=r"^theta, x and y .* are too large"):
        alignment_factor(fn, torch.ones(3, dtype=torch.float64), x, torch.zeros(6, 1).double())
