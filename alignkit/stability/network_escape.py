"""A network leaves a minimum found by gradient descent when SGD takes over (notebook 02).

Full-batch GD trains a functional model (``alignkit.stability.models``) to a minimum that
is stable for GD (sharpness ≤ 2/η); then, at the same learning rate, SGD with a small
batch continues from that point. If the minimum is too sharp or too non-uniform for SGD,
the loss jumps and training settles in a flatter minimum.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from alignkit._checks import check_choice, check_int, check_scalar
from alignkit.device import get_device, make_generator
from alignkit.stability.models import MODELS, make_model
from alignkit.stability.noise import noise_alignment, per_sample_jacobians, square_loss

__all__ = ["NetworkEscape", "gd_then_sgd"]


@dataclass(frozen=True)
class NetworkEscape:
    """Loss at every step ``(gd_steps + sgd_steps + 1,)``; sharpness, ‖H‖_F and μ at
    ``checkpoints`` ``(K,)``; SGD starts at step ``switch``."""

    loss: torch.Tensor
    checkpoints: torch.Tensor
    sharpness: torch.Tensor
    frobenius: torch.Tensor
    mu: torch.Tensor
    switch: int
    lr: float
    batch_size: int


def gd_then_sgd(
    model: str = "mlp",
    *,
    lr: float = 0.5,
    batch_size: int = 4,
    gd_steps: int = 1000,
    sgd_steps: int = 1000,
    every: int = 50,
    n: int | None = None,
    width: int | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
) -> NetworkEscape:
    """GD for ``gd_steps``, then SGD (with replacement, batch ``batch_size``) at the same lr."""
    model = check_choice(model, "model", MODELS)
    lr = check_scalar(lr, "lr", low=0.0, closed="neither")
    gd_steps = check_int(gd_steps, "gd_steps", low=1, high=1_000_000)
    sgd_steps = check_int(sgd_steps, "sgd_steps", low=1, high=1_000_000)
    every = check_int(every, "every", low=1)
    dev = get_device(device)
    fm = make_model(model, n=n, width=width, device=dev, dtype=torch.float64)
    batch_size = check_int(batch_size, "batch_size", low=1, high=fm.n)
    theta = fm.init([seed])[0]
    gen = make_generator(seed, dev)

    step_grad = torch.func.grad(square_loss, argnums=1)
    losses, rows = [], []
    total = gd_steps + sgd_steps
    for t in range(total + 1):
        losses.append(float(square_loss(fm.apply, theta, fm.x, fm.y)))
        if not losses[-1] < 1e6:  # diverged (also NaN): stop, keep what we have
            break
        if t % every == 0 or t in (gd_steps, total):
            jac = per_sample_jacobians(fm.apply, theta, fm.x)
            stats = noise_alignment(jac, fm.apply(theta, fm.x) - fm.y)
            rows.append([t, float(stats.sharpness), float(stats.gn_frobenius), float(stats.mu)])
        if t == total:
            break
        if t < gd_steps:
            theta = theta - lr * step_grad(fm.apply, theta, fm.x, fm.y)
        else:
            idx = torch.randint(0, fm.n, (batch_size,), generator=gen, device=dev)
            theta = theta - lr * step_grad(fm.apply, theta, fm.x[idx], fm.y[idx])
    table = torch.tensor(rows, dtype=torch.float64).T
    return NetworkEscape(
        torch.tensor(losses), table[0].long(), table[1], table[2], table[3],
        gd_steps, lr, batch_size,
    )  # fmt: skip
