"""Batched SGD sweeps against plain single-model SGD loops, divergence, the bound."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from alignkit.stability import noise
from alignkit.stability.models import MODELS, make_model
from alignkit.stability.sweep import (
    SweepResult,
    default_grid,
    load_sweep,
    minibatch_indices,
    sgd_sweep,
)
from alignkit.stability.sweep_cli import main as sweep_main

D64 = torch.float64
SMALL = {"linear": (8, 20), "random_features": (8, 16), "mlp": (8, 4)}


def test_minibatch_indices_are_valid_and_grid_independent() -> None:
    seeds = torch.tensor([0, 1, 2, 7, 2**32 - 1])
    for t in range(5):
        idx = minibatch_indices(seeds, t, 10, 6, replacement=False)
        assert idx.shape == (5, 6) and int(idx.min()) >= 0 and int(idx.max()) < 10
        assert all(len(set(row.tolist())) == 6 for row in idx)  # no repeats
        alone = minibatch_indices(seeds[3:4], t, 10, 6, replacement=False)
        assert torch.equal(alone[0], idx[3])
        # a smaller B uses the head of the same draw
        assert torch.equal(minibatch_indices(seeds, t, 10, 2, replacement=False), idx[:, :2])
        wr = minibatch_indices(seeds, t, 10, 6, replacement=True)
        assert int(wr.min()) >= 0 and int(wr.max()) < 10
        assert torch.equal(minibatch_indices(seeds, t, 10, 3, replacement=True), wr[:, :3])
    assert not torch.equal(
        minibatch_indices(seeds, 0, 10, 6, replacement=True),
        minibatch_indices(seeds, 1, 10, 6, replacement=True),
    )


@pytest.mark.parametrize("replacement", [False, True])
def test_minibatch_indices_are_uniform(replacement: bool) -> None:
    seeds = torch.arange(400)
    counts = torch.zeros(7)
    for t in range(25):
        idx = minibatch_indices(seeds, t, 7, 3, replacement=replacement)
        counts += torch.bincount(idx.reshape(-1), minlength=7)
    freq = counts / counts.sum()
    assert float((freq - 1 / 7).abs().max()) < 0.01  # 30,000 draws


def _plain_sgd(model, lr: float, batch: int, seed: int, steps: int, replacement: bool):
    """One model, an ordinary autograd loop, the sweep's minibatch indices."""
    theta = model.init([seed])[0].clone()
    seed_t = torch.tensor([seed])
    for t in range(steps):
        idx = minibatch_indices(seed_t, t, model.n, batch, replacement=replacement)[0]
        th = theta.clone().requires_grad_(True)
        out = model.apply(th, model.x[idx])
        loss = 0.5 * ((out - model.y[idx]) ** 2).sum(1).mean()
        (g,) = torch.autograd.grad(loss, th)
        theta = theta - lr * g
    return theta


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("replacement", [True, False])
def test_each_setting_equals_a_plain_sgd_loop(name: str, replacement: bool) -> None:
    n, width = SMALL[name]
    lrs, batches, seeds, steps = [0.05, 0.2], [1, 3, 8], [0, 5], 12
    result = sgd_sweep(
        name,
        lrs=lrs,
        batch_sizes=batches,
        seeds=seeds,
        steps=steps,
        n=n,
        width=width,
        replacement=replacement,
        keep_params=True,
        device="cpu",
        dtype=D64,
        check_every=5,
    )
    model = make_model(name, n=n, width=width, device="cpu", dtype=D64)
    assert result.params is not None
    assert result.lr.shape == (12,) and result.grid_shape == (2, 3, 2)
    for s in range(result.lr.numel()):
        lr, b, seed = float(result.lr[s]), int(result.batch_size[s]), int(result.seed[s])
        theta = _plain_sgd(model, lr, b, seed, steps, replacement)
        torch.testing.assert_close(result.params[s], theta, rtol=1e-10, atol=1e-12)
        loss = noise.square_loss(model.apply, theta, model.x, model.y)
        assert float(result.loss[s]) == pytest.approx(float(loss), rel=1e-10)
        assert float(result.loss_history[s, -1]) == pytest.approx(float(loss), rel=1e-10)
    # diagnostics at one final point vs the explicit d×d route
    theta = result.params[-1]
    mu = noise.alignment_factor(model.apply, theta, model.x, model.y)
    gn = noise.gauss_newton(noise.per_sample_jacobians(model.apply, theta, model.x))
    assert float(result.mu[-1]) == pytest.approx(float(mu), rel=1e-8)
    assert float(result.gn_frobenius[-1]) == pytest.approx(float(torch.linalg.norm(gn)))
    assert float(result.sharpness[-1]) == pytest.approx(float(torch.linalg.eigvalsh(gn)[-1]))
    assert result.history_steps.tolist() == [0, 5, 10, 12]


def test_chunking_does_not_change_results() -> None:
    kwargs = dict(
        lrs=[0.1, 0.3],
        batch_sizes=[1, 2, 8],
        seeds=[0, 1],
        steps=15,
        n=8,
        width=4,
        device="cpu",
        dtype=D64,
        keep_params=True,
    )
    whole = sgd_sweep("mlp", **kwargs)  # type: ignore[arg-type]
    pieces = sgd_sweep("mlp", chunk_size=1, **kwargs)  # type: ignore[arg-type]
    assert whole.params is not None and pieces.params is not None
    torch.testing.assert_close(whole.params, pieces.params, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(whole.mu, pieces.mu, rtol=1e-10, atol=0)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_huge_learning_rate_is_flagged_not_raised(name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = sgd_sweep(
            name, lrs=[1e-3, 1e6], batch_sizes=[1, 4], seeds=[0], steps=30, device="cpu"
        )
    huge = result.lr > 1
    assert bool(result.diverged[huge].all()) and not bool(result.diverged[~huge].any())
    assert bool(torch.isnan(result.mu[huge]).all())
    assert bool((result.diverged_step[huge] > 0).all())
    assert bool((result.diverged_step[~huge] == -1).all())
    assert bool(torch.isfinite(result.mu[~huge]).all())


@pytest.mark.parametrize("name", sorted(MODELS))
def test_bound_holds_at_the_minima_found(name: str) -> None:
    """The paper's claim: ‖H‖_F η/√B ≤ 1/√μ wherever SGD (with replacement) stays."""
    result = sgd_sweep(name, device="cpu")
    ok = ~result.diverged
    assert bool(ok.any()) and bool(result.diverged.any())  # the grid spans the threshold
    ratio, mu = result.ratio[ok], result.mu[ok]
    assert bool(torch.isfinite(ratio).all()) and bool((mu > 0).all())
    worst = float((ratio * mu.sqrt()).max())
    assert worst <= 1.0, f"bound violated for {name}: max ratio·√μ = {worst:.3f}"
    assert bool((result.gn_frobenius[ok] <= result.bound[ok]).all())


def test_bad_inputs_raise_value_errors_naming_the_argument() -> None:
    kw = dict(batch_sizes=[1], seeds=[0], steps=2, n=8, width=4, device="cpu")
    with pytest.raises(ValueError, match="lrs"):
        sgd_sweep("mlp", lrs=[0.1, 0.0], **kw)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lrs"):
        sgd_sweep("mlp", lrs=[-1.0], **kw)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lrs"):
        sgd_sweep("mlp", lrs=[[0.1, 0.2]], **kw)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lrs"):
        sgd_sweep("mlp", lrs=[math.nan], **kw)  # type: ignore[arg-type]
    base = dict(lrs=[0.1], seeds=[0], steps=2, n=8, width=4, device="cpu")
    with pytest.raises(ValueError, match="batch_sizes"):
        sgd_sweep("mlp", batch_sizes=[0], **base)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="batch_sizes"):
        sgd_sweep("mlp", batch_sizes=[9], **base)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="batch_sizes"):
        sgd_sweep("mlp", batch_sizes=[], **base)  # type: ignore[arg-type]
    full = dict(lrs=[0.1], batch_sizes=[1], seeds=[0], n=8, width=4, device="cpu")
    with pytest.raises(ValueError, match="model"):
        sgd_sweep("resnet", **full)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="steps"):
        sgd_sweep("mlp", steps=0, **full)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="chunk_size"):
        sgd_sweep("mlp", steps=2, chunk_size=0, **full)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="seeds"):
        sgd_sweep("mlp", lrs=[0.1], batch_sizes=[1], seeds=[-1], steps=2, device="cpu")
    with pytest.raises(ValueError, match="width"):
        make_model("linear", n=10, width=5)
    with pytest.raises(ValueError, match="model"):
        default_grid("cnn")


def test_result_round_trips_through_npz(tmp_path: Path) -> None:
    result = sgd_sweep(
        "linear", lrs=[0.5, 50.0], batch_sizes=[2], seeds=[0], steps=20, device="cpu"
    )
    path = tmp_path / "sweep.npz"
    np.savez(path, models=np.array(["linear"]), **result.to_arrays(prefix="linear."))
    back = load_sweep(path)["linear"]
    assert isinstance(back, SweepResult) and back.grid_shape == result.grid_shape
    assert back.replacement is True and back.n == result.n
    torch.testing.assert_close(back.mu, result.mu, equal_nan=True)
    assert torch.equal(back.diverged, result.diverged)
    with pytest.raises(FileNotFoundError, match="alignkit.stability.sweep"):
        load_sweep(tmp_path / "missing.npz")


def test_command_line_writes_npz_and_provenance(tmp_path: Path) -> None:
    out = tmp_path / "s.npz"
    assert sweep_main(["--out", str(out), "--models", "linear", "--preset", "default"]) == 0
    info = json.loads(out.with_suffix(".json").read_text())
    for key in ("command", "git", "device", "torch", "data_seed", "date", "wall_time_s"):
        assert key in info
    assert info["grids"]["linear"]["settings"] == load_sweep(out)["linear"].lr.numel()


def test_shipped_sweep_satisfies_the_bound() -> None:
    path = Path(__file__).resolve().parents[1] / "data" / "stability_sweep.npz"
    if not path.exists():
        pytest.skip("data/stability_sweep.npz not generated yet")
    for name, result in load_sweep(path).items():
        ok = ~result.diverged
        assert bool(ok.any()), name
        worst = float((result.ratio[ok] * result.mu[ok].sqrt()).max())
        assert worst <= 1.0, f"{name}: max ratio·√μ = {worst:.3f}"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    kwargs = dict(
        lrs=[0.1, 100.0],
        batch_sizes=[1, 4],
        seeds=[0, 1],
        steps=20,
        n=8,
        width=4,
        dtype=D64,
        keep_params=True,
    )
    cpu = sgd_sweep("mlp", device="cpu", **kwargs)  # type: ignore[arg-type]
    gpu = sgd_sweep("mlp", device="cuda", **kwargs)  # type: ignore[arg-type]
    assert torch.equal(cpu.diverged, gpu.diverged.cpu())
    ok = ~cpu.diverged
    assert cpu.params is not None and gpu.params is not None
    torch.testing.assert_close(cpu.params[ok], gpu.params.cpu()[ok], rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(cpu.mu, gpu.mu.cpu(), rtol=1e-8, atol=0, equal_nan=True)
