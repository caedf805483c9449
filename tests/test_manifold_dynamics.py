"""Theme 3 models and dynamics: samples on the manifold, Lyapunov alignment, errors move along."""

from __future__ import annotations

import pytest
import torch

from alignkit.manifold.dynamics import (
    LyapunovAnalysis,
    density_shift,
    generate,
    lyapunov_analysis,
    principal_cosines,
)
from alignkit.manifold.fields import GenerativeModel, exact_model, perturb
from alignkit.manifold.manifolds import Manifold, get_manifold
from alignkit.manifold.training import train_flow_matching, train_score_model
from alignkit.manifold.views import LYAPUNOV_STEPS
from alignkit.numerics.ode import flow_jacobian, lyapunov_svd, solve

N, STEPS = 300, 40


@pytest.fixture(scope="module")
def circle() -> Manifold:
    return get_manifold("circle2d", density="nonuniform", device="cpu")


@pytest.fixture(scope="module")
def exact(circle: Manifold) -> GenerativeModel:
    return exact_model(circle.sample(128, seed=1))


@pytest.fixture(scope="module")
def analysis(exact: GenerativeModel, circle: Manifold) -> LyapunovAnalysis:
    return lyapunov_analysis(exact, circle, N, steps=STEPS, seed=3)


def test_exact_field_puts_samples_on_the_data(exact: GenerativeModel, circle: Manifold) -> None:
    x = generate(exact, N, steps=STEPS, seed=3)
    assert float(circle.distance_to_manifold(x).mean()) < 3e-3
    # the reference flow of a finite data set ends (up to 1 − t_end = 1e-3) at data points
    data = circle.sample(128, seed=1)
    nearest = torch.cdist(x, data).min(dim=1).values
    assert float(nearest.median()) < 0.01


def test_lyapunov_vectors_align_with_tangents_near_the_end(analysis: LyapunovAnalysis) -> None:
    assert analysis.mean_cosine >= 0.95
    assert analysis.alignment is not None
    early = float(analysis.alignment[:, analysis.times < 0.25].mean())  # the first quarter of t
    assert float(analysis.alignment[:, -1].mean()) > early + 0.2  # alignment grows with t
    # normal directions contract, much faster than the tangent one
    assert float(analysis.normal_exponents.max()) < 0.0
    gap = analysis.exponents[:, 0] - analysis.exponents[:, 1]
    assert float(gap.median()) > 3.0
    # the estimated tangent bundle is orthonormal
    q = analysis.vectors
    assert torch.allclose(q.transpose(1, 2) @ q, torch.eye(2).expand(N, 2, 2), atol=1e-5)


def test_exponents_are_log_singular_values_of_the_whole_solve_jacobian(
    exact: GenerativeModel, circle: Manifold
) -> None:
    # independent route: one jacfwd through the whole solve (not the product of step
    # Jacobians, nor the hand-written tangents), on the analysis's grid (equal in log(1 − t))
    model = exact_model(circle.sample(128, seed=1).double())
    a = lyapunov_analysis(model, circle, 20, steps=STEPS, seed=3, record=False)
    _, jac = flow_jacobian(model.velocity, a.start, t1=model.t_end, steps=STEPS,
                           route="generic", spacing="log1m")  # fmt: skip
    expected = torch.linalg.svdvals(jac).log() / model.t_end
    assert torch.allclose(a.exponents, expected, atol=1e-8)


def test_helix_in_r16_also_aligns() -> None:
    helix = get_manifold("helix", embed_dim=16, device="cpu")
    a = lyapunov_analysis(exact_model(helix.sample(128, seed=1)), helix, 100, steps=30, seed=2)
    assert a.mean_cosine >= 0.95
    assert float(a.normal_exponents.mean(0).max()) < -1.0  # all 15 normal directions contract
    # (a few samples near a boundary between data points' basins can expand transiently)
    assert float((a.normal_exponents.max(dim=1).values < 0).double().mean()) > 0.9
    assert float(a.distance.mean()) < 0.01


def test_aligned_errors_move_samples_along_the_manifold(
    exact: GenerativeModel, circle: Manifold
) -> None:
    reference = circle.sample(20000, seed=2)
    x0 = generate(exact, N, steps=STEPS, seed=3)
    tv0, *_ = density_shift(circle, x0, reference)
    for kind in ("bias", "smooth"):
        x = generate(perturb(exact, kind, 1.0, seed=4), N, steps=STEPS, seed=3)
        dist = float(circle.distance_to_manifold(x).mean())
        tv, *_ = density_shift(circle, x, reference)
        assert dist < 0.06, kind  # an error of size 1 in v moves samples off by < 0.06 ...
        assert tv > tv0 + 0.15, kind  # ... but visibly along the manifold


def test_counter_example_leaves_the_manifold(exact: GenerativeModel, circle: Manifold) -> None:
    x = generate(perturb(exact, "endpoint", 0.5, seed=4), N, steps=STEPS, seed=3)
    assert float(circle.distance_to_manifold(x).mean()) > 0.25
    # the samples land on the circle shifted by b, and the top Lyapunov vector is that circle's
    # tangent: the alignment holds, what fails is the bounded error near t = 1
    b = torch.tensor([1.0, 0.0])
    shifted = perturb(exact, "endpoint", 1.0, direction=b)
    a = lyapunov_analysis(shifted, circle, 100, steps=STEPS, record=False)
    rel = a.end - b
    assert float((rel.norm(dim=1) - 1.0).abs().mean()) < 0.03  # on the shifted circle
    tangent = torch.stack([-rel[:, 1], rel[:, 0]], dim=1) / rel.norm(dim=1, keepdim=True)
    cos = (a.vectors[:, :, 0] * tangent).sum(1).abs()
    assert float(cos.mean()) >= 0.95 and float(a.distance.mean()) > 0.5


@pytest.mark.filterwarnings("ignore:lyapunov_analysis:RuntimeWarning")  # exponents unused
def test_weight_noise_breaks_the_alignment_itself(circle: Manifold) -> None:
    model = train_flow_matching(circle.sample(1024, seed=1), steps=400, width=32, seed=0)
    clean = lyapunov_analysis(model, circle, 100, steps=25, seed=2, record=False)
    noisy = lyapunov_analysis(
        perturb(model, "weights", 2.0, seed=1), circle, 100, steps=25, seed=2, record=False
    )
    assert clean.mean_cosine >= 0.85
    assert noisy.mean_cosine < 0.7  # a random line in the plane has mean |cos| 2/π ≈ 0.64
    assert float(noisy.distance.mean()) > 3 * float(clean.distance.mean())


def test_trained_models_learn_the_circle(circle: Manifold) -> None:
    data = circle.sample(1024, seed=1)
    for train in (train_flow_matching, train_score_model):
        model = train(data, steps=300, width=32, seed=0)
        first, last = (
            model.info["loss_history"][:30].mean(),
            model.info["loss_history"][-30:].mean(),
        )
        assert last < first
        x = generate(model, 200, steps=20, seed=3)
        assert float(circle.distance_to_manifold(x).mean()) < 0.5
        again = train(data, steps=300, width=32, seed=0)  # seeded: reproducible
        assert all(torch.equal(a, b) for a, b in zip(model.params, again.params, strict=True))  # type: ignore[arg-type]
        noisy = perturb(model, "weights", 0.3, seed=1)
        assert noisy.params is not None and not torch.equal(noisy.params[0], model.params[0])  # type: ignore[index]


def test_batched_flow_jacobian_equals_per_sample_autograd(circle: Manifold) -> None:
    data = circle.sample(32, seed=1).double()
    model = exact_model(data)
    x0 = torch.randn(6, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    _, jac = flow_jacobian(model.velocity, x0, t1=0.9, steps=15)
    for i in range(6):
        one = lambda y: solve(model.velocity, y[None], t1=0.9, steps=15)[0]  # noqa: E731
        ref = torch.autograd.functional.jacobian(one, x0[i])
        assert torch.allclose(jac[i], ref, atol=1e-5, rtol=0)


def test_principal_cosines() -> None:
    e = torch.eye(3)
    assert torch.allclose(principal_cosines(e[:, :2], e[:, 1:]), torch.tensor([1.0, 0.0]))
    r = torch.tensor([[0.6], [0.8], [0.0]])
    assert float(principal_cosines(e[:, :1], r)) == pytest.approx(0.6)


def test_bad_arguments(exact: GenerativeModel, circle: Manifold) -> None:
    with pytest.raises(ValueError, match=r"eps must be in \[0, inf\], got -0.1"):
        perturb(exact, "bias", -0.1)
    with pytest.raises(ValueError, match=r"kind must be one of \['bias', 'endpoint',"):
        perturb(exact, "drift", 0.1)
    with pytest.raises(ValueError, match="needs a trained model"):
        perturb(exact, "weights", 0.1)
    with pytest.raises(ValueError, match=r"steps must be an integer in \[1, 1e\+06\], got 0"):
        generate(exact, 10, steps=0)
    with pytest.raises(ValueError, match=r"method must be one of"):
        generate(exact, 10, method="leapfrog")
    with pytest.raises(ValueError, match=r"direction must have shape \(2,\), got \(3,\)"):
        perturb(exact, "bias", 0.1, direction=torch.ones(3))
    with pytest.raises(ValueError, match="non-zero"):
        perturb(exact, "endpoint", 0.1, direction=torch.zeros(2))
    b = perturb(exact, "bias", 1.0, direction=torch.tensor([0.0, 2.0]))
    x, t = torch.tensor([0.3, 0.1]), torch.tensor(0.5)
    assert torch.allclose(b.velocity(x, t) - exact.velocity(x, t), torch.tensor([0.0, 1.0]))
    sphere = get_manifold("sphere", device="cpu")
    with pytest.raises(ValueError, match="model dimension 2 must equal the manifold's embed_dim 3"):
        lyapunov_analysis(exact, sphere, 10)


FINE = 4096  # equal steps in t: within ~0.002 of the converged exponents (10240: 0.0003)


@pytest.fixture(scope="module")
def fine_exponents(exact: GenerativeModel, circle: Manifold) -> tuple[torch.Tensor, torch.Tensor]:
    """40 start points and the mean exponents of their flow over FINE equal steps in t."""
    start = lyapunov_analysis(exact, circle, 40, steps=2, seed=3, record=False).start
    fine = lyapunov_svd(exact.velocity, start, t1=exact.t_end, steps=FINE)
    return start, fine.exponents.mean(0)


def test_exact_field_exponents_are_converged_in_the_steps(
    exact: GenerativeModel, circle: Manifold, fine_exponents: tuple[torch.Tensor, torch.Tensor]
) -> None:
    """The analysis steps the exact field (singular at t = 1) equally in log(1 − t): its
    exponents at STEPS steps equal those of FINE equal steps in t (an independent grid) to
    0.01; equal steps in t at STEPS are far off (the tangent exponent even comes out > 0)."""
    start, fine = fine_exponents
    a = lyapunov_analysis(exact, circle, 40, steps=STEPS, seed=3, record=False)
    torch.testing.assert_close(a.start, start)
    coarse = lyapunov_svd(exact.velocity, start, t1=exact.t_end, steps=STEPS)
    torch.testing.assert_close(a.exponents.mean(0), fine, rtol=0, atol=0.01)
    assert float((coarse.exponents.mean(0) - fine).abs().max()) > 0.5


def test_the_views_default_steps_are_converged(
    exact: GenerativeModel, circle: Manifold, fine_exponents: tuple[torch.Tensor, torch.Tensor]
) -> None:
    """At the explorer's step count the exact field's mean exponents are within 0.01 of
    FINE equal steps in t (10 steps are not: 0.06 off on the circle, the slowest case)."""
    start, fine = fine_exponents
    a = lyapunov_analysis(exact, circle, 40, steps=LYAPUNOV_STEPS, seed=3, record=False)
    torch.testing.assert_close(a.exponents.mean(0), fine, rtol=0, atol=0.01)


def test_unresolved_smallest_exponents_are_warned_about() -> None:
    """A linear flow v = A x with A = R diag(2, −12) Rᵀ (a 45° turn: the flow map mixes the
    axes) has exponents (2, −12) exactly: σ_min/σ_max = e⁻¹⁴ ≈ 8e-7 is below 100 float32
    epsilons (a RuntimeWarning) and resolved in float64 (no warning, the closed form)."""
    import math
    import warnings

    def linear(dtype: torch.dtype) -> GenerativeModel:
        c = math.sqrt(0.5)
        r = torch.tensor([[c, -c], [c, c]], dtype=dtype)
        a = r @ torch.diag(torch.tensor([2.0, -12.0], dtype=dtype)) @ r.T
        one = lambda t: torch.ones_like(t)  # noqa: E731
        return GenerativeModel(
            "flow", 2, 1.0, 1.0, lambda x, t: a @ x, one, one, torch.device("cpu"), dtype
        )

    circle = get_manifold("circle2d")
    with pytest.warns(RuntimeWarning, match="8 of 8 samples .* not resolved"):
        lyapunov_analysis(linear(torch.float32), circle, 8, steps=40, record=False)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="lyapunov_analysis")
        exact = lyapunov_analysis(linear(torch.float64), circle, 8, steps=40, record=False)
    want = torch.tensor([2.0, -12.0], dtype=torch.float64).expand(8, 2)
    assert torch.allclose(exact.exponents, want, atol=1e-2)
