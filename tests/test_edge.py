"""Edge of stability on a small MLP: sharpness rises to 2/η and hovers (Cohen et al. 2021)."""

import pytest

from alignkit.stability.edge import gd_sharpness_trajectory


def test_sharpness_hovers_at_two_over_lr() -> None:
    run = gd_sharpness_trajectory(0.3, steps=400, every=20, seed=0)
    limit = 2 / 0.3
    assert not run.diverged
    assert float(run.sharpness[0]) < 0.75 * limit  # starts flat: progressive sharpening follows
    assert float(run.sharpness.max()) > limit  # crosses 2/η ...
    assert abs(float(run.sharpness[-1]) - limit) < 0.12 * limit  # ... and comes back to it
    diffs = run.loss[1:] - run.loss[:-1]
    assert float(diffs.max()) > 0  # the loss is non-monotone at the edge
    assert float(run.loss[-1]) < 0.1 * float(run.loss[0])  # yet training makes progress


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="lr must be"):
        gd_sharpness_trajectory(0.0)
    with pytest.raises(ValueError, match="every must be"):
        gd_sharpness_trajectory(0.1, every=0)


def test_library_leaves_the_global_generator_alone() -> None:
    import torch

    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    gd_sharpness_trajectory(0.3, steps=2, every=1, seed=5)
    assert torch.equal(torch.random.get_rng_state(), before)


def test_initialisation_is_nn_linear_default_law_from_the_seed() -> None:
    """Same weights as seeding the global generator and building nn.Linear (old behaviour)."""
    import torch

    from alignkit.stability.edge import _tanh_mlp

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        ref = torch.nn.Sequential(torch.nn.Linear(64, 5), torch.nn.Tanh(), torch.nn.Linear(5, 10))
    ours = _tanh_mlp(5, 7, torch.device("cpu"))
    for a, b in zip(ref.parameters(), ours.parameters(), strict=True):
        assert torch.equal(a, b)


def test_edge_summaries() -> None:
    import math

    import torch

    from alignkit.stability.edge import EdgeRun

    run = EdgeRun(torch.zeros(5), torch.tensor([0, 10, 20, 30]),
                  torch.tensor([2.0, 4.6, 5.2, 4.8]), 0.4, False)  # fmt: skip
    assert run.first_at_edge() == 10  # 4.6 >= 0.9 * 5
    assert run.mean_after_edge() == pytest.approx((4.6 + 5.2 + 4.8) / 3 / 5)
    assert run.first_at_edge(1.0) == 20
    never = EdgeRun(torch.zeros(2), torch.tensor([0, 10]), torch.tensor([1.0, 2.0]), 0.4, False)
    assert never.first_at_edge() is None and math.isnan(never.mean_after_edge())
    with pytest.raises(ValueError, match="fraction"):
        run.first_at_edge(0.0)
