"""The sweep's hand-batched inner loop (alignkit.stability._grid_sgd) against plain loops.

tests/test_sweep.py checks each setting against an autograd SGD loop; here: the block
of indices equals the per-step sampler, and settings that diverge in the middle of a
run inside a group of settings sharing their seed are frozen at the right check with
the right parameters while their group mates train on, exactly as alone.
"""

from __future__ import annotations

import pytest
import torch

from alignkit.stability._grid_sgd import MIN_COLUMNS, GridSGD, block_indices
from alignkit.stability.models import make_model
from alignkit.stability.sweep import minibatch_indices, sgd_sweep

D64 = torch.float64
# (n, width, lrs): each grid has runs that diverge at different checks beside stable ones
CASES = {
    "mlp": (8, 4, [0.05, 0.5, 1.0]),
    "linear": (8, 20, [0.5, 2.0, 4.0]),
    "random_features": (8, 16, [2.0, 8.0, 16.0]),
}


@pytest.mark.parametrize("replacement", [True, False])
def test_block_of_indices_equals_the_per_step_sampler(replacement: bool) -> None:
    seeds = torch.tensor([0, 3, 2**32 - 1, 12345])
    block = block_indices(seeds, 7, 5, 10, 6, replacement)
    assert block.shape == (5, 4, 6)
    for t in range(5):
        expect = minibatch_indices(seeds, 7 + t, 10, 6, replacement=replacement)
        assert torch.equal(block[t], expect)


def _plain_run(model, lr: float, batch: int, seed: int, steps: int, check_every: int):
    """Autograd SGD with the sweep's loss checks; returns (theta, diverged step or -1)."""

    def loss_of(th: torch.Tensor, idx: torch.Tensor | None = None) -> torch.Tensor:
        x, y = (model.x, model.y) if idx is None else (model.x[idx], model.y[idx])
        return 0.5 * ((model.apply(th, x) - y) ** 2).sum(1).mean()

    theta = model.init([seed])[0].clone()
    loss0 = float(loss_of(theta))
    for t in range(steps):
        idx = minibatch_indices(torch.tensor([seed]), t, model.n, batch)[0]
        th = theta.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(loss_of(th, idx), th)
        theta = theta - lr * g
        if (t + 1) % check_every == 0 or t + 1 == steps:
            loss = float(loss_of(theta))
            if not loss < 100.0 * loss0:  # non-finite or above the divergence factor
                return theta, t + 1
    return theta, -1


@pytest.mark.parametrize("name", sorted(CASES))
def test_runs_diverging_inside_a_group_are_frozen_and_the_rest_train_on(name: str) -> None:
    n, width, lrs = CASES[name]
    kwargs = dict(
        lrs=lrs, batch_sizes=[1, 2, 3], seeds=[0, 1], steps=60, n=n, width=width,
        device="cpu", dtype=D64, check_every=5, keep_params=True, diagnostics=False,
    )  # fmt: skip
    grouped = sgd_sweep(name, **kwargs)  # type: ignore[arg-type]
    alone = sgd_sweep(name, chunk_size=1, **kwargs)  # type: ignore[arg-type]  # groups of one
    assert grouped.params is not None and alone.params is not None
    assert torch.equal(grouped.diverged_step, alone.diverged_step)
    # the same arithmetic up to the batched products' summation order (it differs with the
    # group's size on some CPUs: an AMD EPYC's BLAS gave a few ulps), which a stable run
    # keeps at ~1e-12 and a diverging one amplifies until it is frozen (1.7e-9 on |θ| ~ 12)
    steps = grouped.diverged_step
    stable = steps == -1
    torch.testing.assert_close(grouped.params[stable], alone.params[stable], rtol=1e-10,
                               atol=1e-12, equal_nan=True)  # fmt: skip
    torch.testing.assert_close(grouped.params[~stable], alone.params[~stable], rtol=1e-6,
                               atol=1e-12, equal_nan=True)  # fmt: skip
    assert bool(((steps > 5) & (steps < 60)).any()) and bool((steps == -1).any())
    model = make_model(name, n=n, width=width, device="cpu", dtype=D64)
    for s in range(grouped.lr.numel()):
        lr, b, seed = float(grouped.lr[s]), int(grouped.batch_size[s]), int(grouped.seed[s])
        theta, step = _plain_run(model, lr, b, seed, 60, 5)
        assert int(steps[s]) == step, (lr, b, seed)
        got = grouped.params[s]
        assert torch.equal(torch.isfinite(got), torch.isfinite(theta))
        ok = torch.isfinite(theta)  # unstable runs amplify rounding: relative to the row
        assert float((got[ok] - theta[ok]).abs().max() / theta[ok].abs().max()) < 1e-8


@pytest.mark.parametrize("name", sorted(CASES))
def test_padding_columns_change_nothing(name: str) -> None:
    """A step with B_s = 1 padded to 4 zero-rate columns equals the unpadded step."""
    n, width, lrs = CASES[name]
    model = make_model(name, n=n, width=width, device="cpu", dtype=D64)
    theta = model.init([0, 0])
    grid = GridSGD(model, group=2)
    idx = block_indices(torch.tensor([0]), 0, 1, n, MIN_COLUMNS, True)[0, 0]
    rates = torch.tensor([[0.1], [0.2]], dtype=D64)
    narrow = grid.split(theta)
    grid.stepper(narrow, rates)(idx[:1])
    wide = grid.split(theta)
    padded = torch.cat([rates, torch.zeros(2, MIN_COLUMNS - 1, dtype=D64)], dim=1)
    grid.stepper(wide, padded)(idx)
    torch.testing.assert_close(grid.join(wide), grid.join(narrow), rtol=1e-14, atol=1e-15)
    assert torch.equal(grid.split(grid.join(narrow))[0], narrow[0])  # join inverts split
