"""Noise alignment along training: noise variance follows curvature; μ is stable."""

import pytest
import torch

from alignkit.stability.alignment import alignment_during_training


@pytest.fixture(scope="module")
def trace():  # type: ignore[no-untyped-def]
    return alignment_during_training("random_features", lr=0.3, batch_size=4, steps=60,
                                     every=20, n=32, width=16)  # fmt: skip


def test_noise_concentrates_in_sharp_directions(trace) -> None:  # type: ignore[no-untyped-def]
    logs = torch.stack([trace.curvature.log(), trace.noise_variance.clamp_min(1e-300).log()])
    assert float(torch.corrcoef(logs)[0, 1]) > 0.8
    isotropic = trace.top_k / trace.curvature.numel()
    assert bool((trace.top_share > 2 * isotropic).all())


def test_mu_is_positive_and_steady(trace) -> None:  # type: ignore[no-untyped-def]
    assert bool((trace.mu > 0).all())
    assert float(trace.mu.max() / trace.mu.min()) < 2.0
    assert float(trace.loss[-1]) < float(trace.loss[0])
    assert trace.steps.tolist() == [0, 20, 40, 60]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="lr must be"):
        alignment_during_training(lr=-1.0)
    with pytest.raises(ValueError, match="model must be one of"):
        alignment_during_training("resnet")
