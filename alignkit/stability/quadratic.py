"""Gradient descent on a 1-D quadratic: the seed of theme 1 (notebook 00).

Loss f(x) = a x^2 / 2 with sharpness a > 0. Gradient descent x_{t+1} = (1 - lr a) x_t
contracts iff |1 - lr a| < 1, i.e. lr < 2 / a; it oscillates for 1/a < lr < 2/a,
bounces forever at lr = 2/a and diverges above.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from alignkit._checks import check_int, check_scalar, check_values

__all__ = ["QuadraticRun", "gd_quadratic", "regime"]


@dataclass(frozen=True)
class QuadraticRun:
    """Result of :func:`gd_quadratic` for S settings.

    Attributes
    ----------
    iterates : Tensor, shape (S, steps + 1)
        x_0, ..., x_steps.
    loss : Tensor, shape (S, steps + 1)
        a x_t^2 / 2.
    sharpness, lr : Tensor, shape (S,)
    diverged : Tensor of bool, shape (S,)
        |x_steps| > |x_0| (the iterate grew: lr > 2 / a).
    """

    iterates: torch.Tensor
    loss: torch.Tensor
    sharpness: torch.Tensor
    lr: torch.Tensor
    diverged: torch.Tensor


def gd_quadratic(
    sharpness: float | torch.Tensor,
    lr: float | torch.Tensor,
    *,
    x0: float = 1.0,
    steps: int = 30,
) -> QuadraticRun:
    """Run gradient descent on f(x) = a x^2 / 2, batched over settings.

    Parameters
    ----------
    sharpness : float or Tensor, shape (S,)
        a = f''(x) in (0, 1e6].
    lr : float or Tensor, shape (S,)
        Learning rate in (0, 1e6]; one value or one per ``sharpness``.
    x0 : float, default=1.0
        Starting point (non-zero, |x0| <= 1e6).
    steps : int, default=30
        Number of gradient steps, in [1, 10000].

    Returns
    -------
    QuadraticRun
        Shapes ``(S,), (S,) -> (S, steps + 1)``.

    Raises
    ------
    ValueError
        If ``lr`` or ``sharpness`` is not positive and finite, ``x0`` is 0 or
        ``steps`` is out of range.
    """
    a = check_values(sharpness, "sharpness", low=0.0, high=1e6, closed="right").reshape(-1)
    eta = check_values(lr, "lr", low=0.0, high=1e6, closed="right").reshape(-1)
    if a.numel() != eta.numel() and 1 not in (a.numel(), eta.numel()):
        raise ValueError(
            f"lr must have one value or as many as sharpness ({a.numel()}), got {eta.numel()}"
        )
    x0 = check_scalar(x0, "x0", low=-1e6, high=1e6)
    if x0 == 0.0:
        raise ValueError("x0 must be non-zero (x0 = 0 is the minimum itself), got 0")
    steps = check_int(steps, "steps", low=1, high=10_000)
    a, eta = torch.broadcast_tensors(a, eta)
    iterates = torch.empty(a.numel(), steps + 1, dtype=torch.float64)
    x = torch.full_like(a, x0)
    iterates[:, 0] = x
    for k in range(1, steps + 1):  # the gradient step itself, every setting at once
        x = x - eta * (a * x)  # x <- x - η f'(x), f'(x) = a x
        iterates[:, k] = x
    loss = 0.5 * a[:, None] * iterates**2
    diverged = iterates[:, -1].abs() > abs(x0)
    return QuadraticRun(iterates, loss, a, eta, diverged)


def regime(sharpness: float, lr: float) -> str:
    """Name the behaviour of GD for these values (the figure's title)."""
    sharpness = check_scalar(sharpness, "sharpness", low=0.0, closed="neither")
    lr = check_scalar(lr, "lr", low=0.0, closed="neither")
    q = lr * sharpness
    if abs(q - 2.0) < 1e-9:
        return "edge of stability: lr = 2/a, the iterate bounces forever"
    if q > 2.0:
        return "diverges: lr > 2/a"
    if q > 1.0:
        return "converges while oscillating: 1/a < lr < 2/a"
    if q == 1.0:
        return "converges in one step: lr = 1/a"
    return "converges monotonically: lr < 1/a"
