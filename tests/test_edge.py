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
