"""u·v valley growth rates: the mean square is ρ(Q), the log-rate is what a typical run does."""

import pytest
import torch

from alignkit.stability.theory import spectral_radius
from alignkit.stability.toys import uv_data, uv_growth_rates, uv_hessians


@pytest.mark.parametrize("lr", [0.05, 0.17, 0.3])
def test_mean_square_rate_is_the_spectral_radius(lr: float) -> None:
    h = uv_hessians(torch.tensor([3.0]), torch.tensor([1 / 3]), uv_data())[0]
    assert uv_growth_rates(lr)[1] == pytest.approx(spectral_radius(h, lr, 1, replacement=True))


def test_log_rate_is_the_typical_runs_rate() -> None:
    gen = torch.Generator().manual_seed(0)
    a = uv_data() ** 2 * (9 + 1 / 9)
    steps, runs = 400, 2000
    idx = torch.randint(0, a.numel(), (steps, runs), generator=gen)
    log_dist = (1 - 0.17 * a[idx]).abs().log().sum(0)  # log |x_T / x_0| of each run
    rate, mean_square = uv_growth_rates(0.17)
    assert rate < 0 < mean_square - 1  # typical runs shrink, the second moment grows
    assert float(log_dist.median()) / steps == pytest.approx(rate, abs=0.02)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="lr"):
        uv_growth_rates(0.0)
    with pytest.raises(ValueError, match="u0"):
        uv_growth_rates(0.1, u0=-1.0)
