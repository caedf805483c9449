"""Noise alignment along training: noise variance follows curvature; μ is stable; the
top-k share is basis-invariant; a diverged run is a flagged result."""

import pytest
import torch

from alignkit.stability.alignment import (
    alignment_during_training,
    eigenspaces,
    top_eigenspace_share,
)
from alignkit.stability.models import make_model
from alignkit.stability.noise import alignment_factor, gauss_newton, per_sample_jacobians
from alignkit.stability.plots.alignment import plot_noise_alignment

SMALL = {"n": 16, "width": 16}


@pytest.fixture(scope="module")
def trace():  # type: ignore[no-untyped-def]
    return alignment_during_training("random_features", lr=0.3, batch_size=4, steps=60,
                                     every=20, **SMALL)  # fmt: skip


def test_noise_concentrates_in_sharp_directions(trace) -> None:  # type: ignore[no-untyped-def]
    logs = torch.stack([trace.curvature.log(), trace.noise_variance.clamp_min(1e-300).log()])
    assert float(torch.corrcoef(logs)[0, 1]) > 0.8
    assert bool((trace.top_share > 2 * trace.isotropic_share).all())


def test_one_definition_of_isotropic(trace) -> None:  # type: ignore[no-untyped-def]
    # random features: G = I_10 ⊗ K, every eigenvalue 10-fold; top-5 rounds up to 10
    assert trace.multiplicity.tolist() == [10] * trace.curvature.numel()
    assert trace.top_dim.tolist() == [10] * 4
    rank = int(trace.rank[-1])
    assert rank == int(trace.multiplicity.sum()) == 10 * SMALL["n"]
    torch.testing.assert_close(trace.isotropic_share, trace.top_dim / trace.rank.double())
    # Σ₁ lies in the range of G (g_i = J_iᵀ r_i): the eigenspaces hold all of Tr(Σ₁)
    total = float((trace.noise_variance * trace.multiplicity).sum())
    assert total == pytest.approx(rank * trace.isotropic_variance, rel=1e-10)


def test_measurements_match_the_reference_route(trace) -> None:  # type: ignore[no-untyped-def]
    fm = make_model("random_features", dtype=torch.float64, **SMALL)
    theta = fm.init([0])[0]  # step 0 is measured before any SGD step
    mu = alignment_factor(fm.apply, theta, fm.x, fm.y)  # vmap(grad) route, explicit Σ₁
    assert float(trace.mu[0]) == pytest.approx(float(mu), rel=1e-10)
    gn = gauss_newton(per_sample_jacobians(fm.apply, theta, fm.x))
    assert float(trace.sharpness[0]) == pytest.approx(float(torch.linalg.eigvalsh(gn)[-1]))
    assert float(trace.gn_frobenius[0]) == pytest.approx(float(torch.linalg.matrix_norm(gn)))


def test_mu_is_positive_and_steady(trace) -> None:  # type: ignore[no-untyped-def]
    assert bool((trace.mu > 0).all())
    assert float(trace.mu.max() / trace.mu.min()) < 2.0
    assert float(trace.loss[-1]) < float(trace.loss[0])
    assert trace.steps.tolist() == [0, 20, 40, 60]
    assert not trace.diverged and trace.diverged_step is None


def _rotated(evals: torch.Tensor, block: int, seed: int) -> torch.Tensor:
    """U Λ Uᵀ with U = a fixed orthogonal basis rotated by a random R inside the first block."""
    gen = torch.Generator().manual_seed(seed)
    d = evals.numel()
    u, _ = torch.linalg.qr(torch.randn(d, d, generator=torch.Generator().manual_seed(0),
                                       dtype=torch.float64))  # fmt: skip
    r, _ = torch.linalg.qr(torch.randn(block, block, generator=gen, dtype=torch.float64))
    rot = torch.eye(d, dtype=torch.float64)
    rot[:block, :block] = r
    basis = u @ rot
    return basis @ torch.diag(evals) @ basis.T


def test_top_share_is_invariant_under_rotations_in_a_repeated_eigenspace() -> None:
    evals = torch.tensor([3.0, 3.0, 3.0, 3.0, 2.0, 1.0, 1.0, 0.5, 0.0, 0.0], dtype=torch.float64)
    a = torch.randn(10, 10, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    sigma = a @ a.T
    u, _ = torch.linalg.qr(torch.randn(10, 10, generator=torch.Generator().manual_seed(0),
                                       dtype=torch.float64))  # fmt: skip
    for k, dim in ((1, 4), (2, 4), (4, 4), (5, 5), (6, 7), (7, 7), (8, 8)):
        proj = u[:, :dim] @ u[:, :dim].T  # the closed-form projector on the top `dim`
        expected = float(torch.trace(proj @ sigma) / torch.trace(sigma))
        for seed in range(4):
            share, got_dim = top_eigenspace_share(_rotated(evals, 4, seed), sigma, k)
            assert got_dim == dim
            assert share == pytest.approx(expected, rel=1e-9)
    _, _, labels = eigenspaces(_rotated(evals, 4, 0))
    assert labels.tolist() == [0, 0, 0, 0, 1, 2, 2, 3, 4, 4]


def test_trace_does_not_depend_on_the_thread_count() -> None:
    before = torch.get_num_threads()
    runs = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            runs.append(alignment_during_training("random_features", lr=0.3, batch_size=4,
                                                  steps=10, every=10, **SMALL))  # fmt: skip
    finally:
        torch.set_num_threads(before)
    one, two = runs
    torch.testing.assert_close(one.top_share, two.top_share, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(one.noise_variance, two.noise_variance, rtol=1e-9, atol=1e-15)
    assert one.top_dim.tolist() == two.top_dim.tolist()


def test_a_diverging_run_is_flagged_not_a_crash() -> None:
    trace = alignment_during_training("random_features", lr=100.0, batch_size=4, steps=40,
                                      every=10, **SMALL)  # fmt: skip
    assert trace.diverged and trace.diverged_step is not None and trace.diverged_step <= 40
    assert bool(torch.isfinite(trace.loss).all()) and int(trace.steps[-1]) < trace.diverged_step
    fig = plot_noise_alignment(trace)
    assert "DIVERGED" in fig.layout.title.text


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="lr must be"):
        alignment_during_training(lr=-1.0)
    with pytest.raises(ValueError, match="model must be one of"):
        alignment_during_training("resnet")
    with pytest.raises(ValueError, match="divergence_factor"):
        alignment_during_training(divergence_factor=0.5)
    with pytest.raises(ValueError, match="top_k"):
        top_eigenspace_share(torch.eye(3), torch.eye(3), 4)
    with pytest.raises(ValueError, match="noise"):
        top_eigenspace_share(torch.eye(3), torch.eye(2), 1)
