"""μ over directions (alignment_range) and the exact η*(B) of constant-Hessian models."""

from __future__ import annotations

import math

import pytest
import torch

from alignkit.stability import noise, theory
from alignkit.stability.alignment_range import (
    alignment_range,
    constant_hessian_threshold,
    directional_alignment,
)
from alignkit.stability.models import make_model

D64 = torch.float64


def _random_jacobians(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=gen, dtype=D64)


@pytest.mark.parametrize(("n", "k", "d"), [(6, 2, 20), (5, 3, 8), (10, 1, 4)])
def test_sampled_directions_stay_inside_the_exact_range(n: int, k: int, d: int) -> None:
    """Every sampled μ(x) lies in [μ_min, μ_max]; the returned directions attain them;
    sampling near them approaches the extremes (independent route: the definition)."""
    jac = _random_jacobians((3, n, k, d), seed=n + d)
    span = alignment_range(jac)
    gen = torch.Generator().manual_seed(1)
    for s in range(3):
        x = torch.randn(20000, d, generator=gen, dtype=D64)
        mu = directional_alignment(jac[s], x)
        lo, hi = float(span.mu_min[s]), float(span.mu_max[s])
        assert 0 <= lo < hi
        assert float(mu.min()) >= lo - 1e-10 and float(mu.max()) <= hi + 1e-10
        at = directional_alignment(
            jac[s], torch.stack([span.direction_min[s], span.direction_max[s]])
        )
        torch.testing.assert_close(at, torch.tensor([lo, hi], dtype=D64), rtol=1e-9, atol=1e-12)
        # small random perturbations of the extreme directions stay close to the extremes
        near = span.direction_min[s] + 1e-3 * torch.randn(200, d, generator=gen, dtype=D64)
        assert float(directional_alignment(jac[s], near).min()) == pytest.approx(lo, rel=1e-4)
    assert span.rank.tolist() == [min(n * k, d)] * 3


def test_directional_alignment_is_the_last_iterate_mu_of_a_linear_model() -> None:
    """μ(x) from the definition = noise_alignment's μ with residuals r_i = J_i x."""
    jac = _random_jacobians((7, 2, 12), seed=3)
    x = _random_jacobians((5, 12), seed=4)
    residuals = torch.einsum("nkd,md->mnk", jac, x)
    last = noise.noise_alignment(jac.expand(5, *jac.shape), residuals).mu
    torch.testing.assert_close(directional_alignment(jac, x), last, rtol=1e-10, atol=0)


def test_orthogonal_samples_closed_form() -> None:
    """x_i = √c_i e_i: μ along e_i is (n − 1) c_i² / Σ c_j²."""
    c = torch.tensor([1.0, 2.0, 3.0, 0.5, 4.0], dtype=D64)
    n = c.numel()
    jac = torch.zeros(n, 1, n, dtype=D64)
    jac[torch.arange(n), 0, torch.arange(n)] = c.sqrt()
    span = alignment_range(jac)
    ref = (n - 1) * c**2 / (c**2).sum()
    assert float(span.mu_min) == pytest.approx(float(ref.min()), rel=1e-12)
    assert float(span.mu_max) == pytest.approx(float(ref.max()), rel=1e-12)
    assert float(span.direction_min.abs()[3]) == pytest.approx(1.0)  # e_i of the smallest c_i


def test_one_dimension_and_duplicate_samples() -> None:
    """d = 1: μ = Var(a_i) / mean(a)² in every direction. Identical samples: μ ≡ 0."""
    a = torch.tensor([0.5, 2.0, 1.0, 3.5], dtype=D64)
    span = alignment_range(a.sqrt()[:, None, None])
    expect = float(a.var(unbiased=False) / a.mean() ** 2)
    assert float(span.mu_min) == pytest.approx(expect, rel=1e-12)
    assert float(span.mu_max) == pytest.approx(expect, rel=1e-12)
    row = _random_jacobians((1, 1, 6), seed=5)
    twins = alignment_range(row.expand(3, 1, 6).clone())
    assert abs(float(twins.mu_min)) < 1e-12 and abs(float(twins.mu_max)) < 1e-12
    assert math.isnan(float(alignment_range(torch.zeros(4, 2, 3, dtype=D64)).mu_min))


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="jacobians"):
        alignment_range(torch.ones(3, 4))
    with pytest.raises(ValueError, match="jacobians"):
        alignment_range(torch.full((2, 1, 3), math.nan))
    with pytest.raises(TypeError, match="jacobians"):
        alignment_range([[[1.0]]])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rtol"):
        alignment_range(torch.ones(2, 1, 3), rtol=-1.0)
    with pytest.raises(ValueError, match="directions"):
        directional_alignment(torch.ones(2, 1, 3), torch.ones(4, 2))
    with pytest.raises(ValueError, match="model"):
        constant_hessian_threshold(make_model("mlp", n=8, width=4, device="cpu"), [1])


@pytest.mark.parametrize("name", ["linear", "random_features"])
def test_constant_hessian_threshold_matches_the_full_hessians(name: str) -> None:
    """The reduced H_i (φ_i φ_iᵀ/m for random features) give the η*(B) of the full
    d × d per-sample Hessians J_iᵀ J_i built from the model's Jacobians."""
    n, width = (6, 10) if name == "linear" else (2, 3)  # rank 20: explicit operator
    model = make_model(name, n=n, width=width, device="cpu", dtype=D64)
    theta = model.init([0])[0]
    jac = noise.per_sample_jacobians(model.apply, theta, model.x)
    full = jac.transpose(1, 2) @ jac
    sizes = sorted({b for b in (1, 2, 3, n) if b <= n})
    for replacement in (True, False):
        exact = theory.threshold_curve(full, sizes, replacement=replacement)
        ours = constant_hessian_threshold(model, sizes, replacement=replacement)
        torch.testing.assert_close(ours, exact, rtol=1e-9, atol=0)


@pytest.mark.parametrize("name", ["linear", "random_features"])
def test_threshold_obeys_the_mu_min_bound(name: str) -> None:
    """Theorem check between two routes: at η = η*(B), ‖H‖_F ≤ 1/(η √(μ_min / B))."""
    model = make_model(name, n=8, width=16 if name == "linear" else 8, device="cpu", dtype=D64)
    jac = noise.per_sample_jacobians(model.apply, model.init([0])[0], model.x)
    span = alignment_range(jac)
    fro = float(torch.linalg.norm(noise.gauss_newton(jac)))
    sizes = torch.tensor([1, 2, 4, 8])
    eta = constant_hessian_threshold(model, sizes)
    bound = 1.0 / (eta * torch.sqrt(float(span.mu_min) / sizes))
    assert bool((fro <= bound * (1 + 1e-9)).all())
    # with μ_max instead the inequality fails somewhere: μ_min is what the theorem needs
    loose = 1.0 / (eta * torch.sqrt(float(span.mu_max) / sizes))
    assert bool((fro > loose).any())
