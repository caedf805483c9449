import pytest
import torch

from alignkit.stability.quadratic import gd_quadratic, regime


def _loop(a: float, lr: float, x0: float, steps: int) -> list[float]:
    xs = [x0]
    for _ in range(steps):
        xs.append(xs[-1] - lr * a * xs[-1])  # gradient of a x^2 / 2 is a x
    return xs


@pytest.mark.parametrize(("a", "lr"), [(2.0, 0.1), (2.0, 0.75), (2.0, 1.0), (3.0, 0.9), (0.5, 1)])
def test_matches_explicit_gradient_steps(a: float, lr: float) -> None:
    run = gd_quadratic(a, lr, x0=1.5, steps=20)
    assert torch.allclose(run.iterates[0], torch.tensor(_loop(a, lr, 1.5, 20), dtype=torch.float64))


def test_batched_threshold_is_two_over_a() -> None:
    lrs = torch.linspace(0.05, 2.0, 391, dtype=torch.float64)
    run = gd_quadratic(1.6, lrs, steps=40)
    assert run.iterates.shape == (391, 41)
    first = lrs[run.diverged].min().item()
    assert 2 / 1.6 < first <= 2 / 1.6 + (lrs[1] - lrs[0]).item() + 1e-12


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"sharpness": 1.0, "lr": -0.1}, "lr must be in \\(0, 1e\\+06\\], got -0.1"),
        ({"sharpness": 1.0, "lr": 0.0}, "lr must be"),
        ({"sharpness": float("nan"), "lr": 0.1}, "sharpness must be"),
        ({"sharpness": 1.0, "lr": 0.1, "steps": 0}, "steps must be an integer in"),
        ({"sharpness": 1.0, "lr": 0.1, "x0": 0.0}, "x0 must be non-zero"),
    ],
)
def test_bad_input(kwargs: dict, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        gd_quadratic(**kwargs)


def test_regime_names() -> None:
    assert "monotonically" in regime(2.0, 0.3)
    assert "oscillating" in regime(2.0, 0.7)
    assert "edge" in regime(2.0, 1.0)
    assert "diverges" in regime(2.0, 1.2)
