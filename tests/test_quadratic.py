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


def test_batched_iterates_equal_the_closed_form() -> None:
    """The recursion, batched, against x_t = (1 - η a)^t x_0 (an independent route)."""
    a = torch.tensor([0.5, 2.0, 2.0, 3.0, 40.0], dtype=torch.float64)
    lr = torch.tensor([0.3, 0.5, 1.0, 0.9, 0.0499], dtype=torch.float64)
    run = gd_quadratic(a, lr, x0=-0.7, steps=60)
    t = torch.arange(61, dtype=torch.float64)
    closed = -0.7 * (1 - lr * a)[:, None] ** t[None, :]
    torch.testing.assert_close(run.iterates, closed, rtol=1e-12, atol=1e-300)


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


@pytest.mark.parametrize(("a", "lr", "side"), [(2.0, 0.3, "below"), (5.0, 1.5, "above")])
def test_the_title_says_where_the_distance_leaves_its_fixed_panel(
    a: float, lr: float, side: str
) -> None:
    """The distance panel is fixed at 10⁻¹⁶ … 10¹⁶; |x_t| = |1 − η a|^t leaves it at the first
    t with t·|log₁₀|1 − η a|| > 16 (closed form), and the title says from which step."""
    import math

    from alignkit.stability.plots.quadratic import plot_quadratic_gd

    rate = abs(1 - lr * a)
    first = math.floor(16 / abs(math.log10(rate))) + 1
    title = plot_quadratic_gd(gd_quadratic(a, lr, steps=100)).layout.title.text
    assert f"is {side} 10" in title and f"from step {first}" in title, title
    short = plot_quadratic_gd(gd_quadratic(a, lr, steps=first - 1)).layout.title.text
    assert "off the right panel" not in short
