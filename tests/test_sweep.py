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
from alignkit.stability.alignment_range import alignment_range
from alignkit.stability.models import MODELS, make_model
from alignkit.stability.sweep import (
    CONVERGED_LOSS,
    SweepResult,
    default_grid,
    load_sweep,
    minibatch_indices,
    sgd_sweep,
)
from alignkit.stability.sweep_cli import main as sweep_main
from alignkit.stability.sweep_result import (
    SweepDataError,
    compare_sweeps,
    save_sweep,
)

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
def test_bound_holds_at_the_converged_minima(name: str) -> None:
    """Linear stability with μ_min: ‖H‖_F η/√B ≤ 1/√μ_min at every converged minimum."""
    result = sgd_sweep(name, device="cpu")
    conv = result.converged
    assert bool(conv.any()) and bool(result.diverged.any())  # the grid spans the threshold
    assert not bool((conv & result.diverged).any())
    # most runs that did not diverge converged (the steps are long enough)
    assert int(conv.sum()) >= 0.8 * int((~result.diverged).sum())
    assert bool((result.loss[conv] < CONVERGED_LOSS).all())
    assert bool((result.mu_min[conv] > 0).all())
    assert bool((result.mu_min[conv] <= result.mu_max[conv]).all())
    worst = float((result.ratio[conv] * result.mu_min[conv].sqrt()).max())
    assert worst <= 1.0, f"bound violated for {name}: max ratio·√μ_min = {worst:.3f}"
    assert bool((result.gn_frobenius[conv] <= result.bound_min[conv]).all())


@pytest.mark.parametrize("name", ["linear", "random_features"])
def test_constant_hessian_runs_survive_exactly_below_the_threshold(name: str) -> None:
    """η*(B) from the theory decides the outcome: well below it every run converges,
    well above it no run converges; the last iterate's μ lies in [μ_min, μ_max]
    (exact: the linearisation is the model)."""
    n, width = SMALL[name]
    lrs = [2.0, 8.0, 32.0, 128.0]
    result = sgd_sweep(
        name, lrs=lrs, batch_sizes=[1, 4, 8], seeds=[0, 1], steps=1500, n=n, width=width,
        device="cpu", dtype=D64,
    )  # fmt: skip
    model = make_model(name, n=n, width=width, device="cpu", dtype=D64)
    jac = noise.per_sample_jacobians(model.apply, model.init([0])[0], model.x)
    full = jac.transpose(1, 2) @ jac
    from alignkit.stability.theory import threshold_curve

    exact = threshold_curve(full, [1, 4, 8], replacement=True)
    idx = {1: 0, 4: 1, 8: 2}
    expect = exact[[idx[int(b)] for b in result.batch_size]]
    # the full random-feature Hessians have rank 80 > 40: threshold_curve's power iteration
    rtol = 1e-8 if name == "linear" else 1e-5
    torch.testing.assert_close(result.threshold, expect, rtol=rtol, atol=0)
    q = result.lr / result.threshold
    assert bool((q < 0.8).any()) and bool((q > 1.25).any())
    assert bool(result.converged[q < 0.8].all())
    assert not bool(result.converged[q > 1.25].any())
    span = alignment_range(jac)
    assert bool((result.mu_min[~result.diverged] == span.mu_min).all())
    conv = result.converged
    assert bool((result.mu[conv] >= span.mu_min * (1 - 1e-6)).all())
    assert bool((result.mu[conv] <= span.mu_max * (1 + 1e-6)).all())
    assert bool(torch.isnan(sgd_sweep("mlp", lrs=[0.1], batch_sizes=[1], seeds=[0], steps=5,
                                      n=8, width=4, device="cpu").threshold).all())  # fmt: skip


@pytest.mark.parametrize("chunk_size", [None, 1])
def test_every_setting_of_a_chunk_diverging_is_a_flagged_result(chunk_size: int | None) -> None:
    """Issue 14: an all-diverged chunk used to raise IndexError."""
    alone = sgd_sweep(
        "linear", lrs=[100.0], batch_sizes=[1, 4], seeds=[0, 1], steps=50, device="cpu",
        chunk_size=chunk_size,
    )  # fmt: skip
    assert bool(alone.diverged.all()) and not bool(alone.converged.any())
    assert alone.counts == {"converged": 0, "not_converged": 0, "diverged": 4}
    assert bool(torch.isnan(alone.mu).all()) and bool(torch.isnan(alone.mu_min).all())
    mixed = sgd_sweep(
        "linear", lrs=[0.5, 100.0], batch_sizes=[1, 4], seeds=[0, 1], steps=50, device="cpu",
        chunk_size=chunk_size,
    )  # fmt: skip
    assert torch.equal(mixed.diverged, mixed.lr > 1)
    assert bool(torch.isfinite(mixed.mu_min[mixed.lr < 1]).all())


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


def _small_sweep() -> SweepResult:
    return sgd_sweep("linear", lrs=[0.5, 50.0], batch_sizes=[2], seeds=[0], steps=20, device="cpu")


def test_result_round_trips_through_npz(tmp_path: Path) -> None:
    result = _small_sweep()
    path = tmp_path / "sweep.npz"
    info = save_sweep({"linear": result}, path, {"command": "test", "git": {}, "date": "now",
                      "torch": torch.__version__, "threads": 1, "machine": {}})  # fmt: skip
    back = load_sweep(path)["linear"]
    assert isinstance(back, SweepResult) and back.grid_shape == result.grid_shape
    assert back.replacement is True and back.n == result.n and back.width == result.width
    torch.testing.assert_close(back.mu, result.mu, equal_nan=True)
    torch.testing.assert_close(back.mu_min, result.mu_min, equal_nan=True)
    assert torch.equal(back.diverged, result.diverged)
    assert torch.equal(back.converged, result.converged)
    assert info["grids"]["linear"]["diverged"] == 1 and len(info["sha256"]) == 64
    with pytest.raises(FileNotFoundError, match="alignkit.stability.sweep"):
        load_sweep(tmp_path / "missing.npz")


def _saved(tmp_path: Path) -> Path:
    path = tmp_path / "sweep.npz"
    save_sweep({"linear": _small_sweep()}, path, {"command": "test", "git": {}, "date": "now",
               "torch": torch.__version__, "threads": 1, "machine": {}})  # fmt: skip
    return path


def _rewrite_json(path: Path, change) -> None:
    meta = path.with_suffix(".json")
    info = json.loads(meta.read_text())
    change(info)
    meta.write_text(json.dumps(info))


def test_corrupt_or_inconsistent_files_raise_one_clear_error(tmp_path: Path) -> None:
    """Truncated, garbage, checksum mismatch, missing field, grid disagreement: each is a
    SweepDataError naming the file and the regenerating command (never a raw error)."""
    command = "alignkit.stability.sweep_cli --out"
    path = _saved(tmp_path)
    data = path.read_bytes()

    def expect_error(match: str) -> None:
        with pytest.raises(SweepDataError, match=match) as info:
            load_sweep(path)
        assert str(path) in str(info.value) and command in str(info.value)

    path.write_bytes(data[: len(data) // 2])  # truncated
    expect_error("sha256")
    with pytest.raises(SweepDataError, match="not a complete sweep file"):
        load_sweep(path, verify=False)  # even without the checksum: no BadZipFile
    path.write_bytes(b"\x00" * 100)
    with pytest.raises(SweepDataError, match="not a complete sweep file"):
        load_sweep(path, verify=False)
    path.write_bytes(data)
    load_sweep(path)  # intact again
    _rewrite_json(path, lambda info: info.pop("sha256"))
    expect_error("sha256")
    path = _saved(tmp_path)
    _rewrite_json(path, lambda info: info["grids"]["linear"].pop("steps"))
    expect_error("grids.linear.steps")
    path = _saved(tmp_path)
    _rewrite_json(path, lambda info: info["grids"]["linear"].update(lrs=[0.5, 60.0]))
    expect_error("lrs")
    for key in ("lrs", "batch_sizes", "seeds"):  # a null grid axis: named, not a TypeError
        path = _saved(tmp_path)
        _rewrite_json(path, lambda info, key=key: info["grids"]["linear"].update({key: None}))
        expect_error(f"grids.linear.{key} must be a list")
    path = _saved(tmp_path)
    path.with_suffix(".json").write_text("{not json")
    expect_error("unreadable")
    path.with_suffix(".json").unlink()
    expect_error("missing")
    # an array missing from an otherwise consistent file (checksum of the new file)
    path = _saved(tmp_path)
    with np.load(path) as arrays:
        kept = {k: arrays[k] for k in arrays.files if k != "linear.mu_min"}
    np.savez(path, **kept)
    import hashlib

    _rewrite_json(
        path, lambda info: info.update(sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    )
    expect_error("not a complete sweep file")


def test_command_line_writes_npz_and_provenance(tmp_path: Path) -> None:
    out = tmp_path / "s.npz"
    assert sweep_main(["--out", str(out), "--models", "linear", "--preset", "default"]) == 0
    info = json.loads(out.with_suffix(".json").read_text())
    for key in ("command", "git", "device", "torch", "data_seed", "date", "wall_time_s",
                "machine", "sha256", "converged_loss", "reproducibility"):  # fmt: skip
        assert key in info
    assert {"cpu", "torch", "threads"} <= set(info["machine"])
    grid = info["grids"]["linear"]
    result = load_sweep(out)["linear"]
    assert grid["settings"] == result.lr.numel()
    assert grid["converged"] + grid["not_converged"] + grid["diverged"] == grid["settings"]
    assert grid["converged"] == int(result.converged.sum())


SHIPPED = Path(__file__).resolve().parents[1] / "data" / "stability_sweep.npz"


def test_shipped_sweep_obeys_the_bound_at_converged_minima() -> None:
    if not SHIPPED.exists():
        pytest.skip("data/stability_sweep.npz not generated yet")
    for name, result in load_sweep(SHIPPED).items():
        conv = result.converged
        assert int(conv.sum()) >= 0.8 * int((~result.diverged).sum()), name
        worst = float((result.ratio[conv] * result.mu_min[conv].sqrt()).max())
        assert worst <= 1.0, f"{name}: max ratio·√μ_min = {worst:.3f}"
        if name != "mlp":  # constant Hessian: survival is decided by η*(B)
            q = result.lr / result.threshold
            assert not bool(result.converged[q > 1.1].any())


@pytest.mark.parametrize("name", sorted(MODELS))
def test_shipped_sweep_regenerates_within_tolerance(name: str) -> None:
    """Recompute a slice of the shipped data here: flags equal, diagnostics within
    REGEN_RTOL (not bit for bit: float32 rounding differs across machines)."""
    if not SHIPPED.exists():
        pytest.skip("data/stability_sweep.npz not generated yet")
    shipped = load_sweep(SHIPPED)[name]
    pick = shipped.converged & (shipped.seed == shipped.seed.min())
    pick &= shipped.lr == shipped.lr[pick].min()  # the safest slice: smallest η
    rows = torch.nonzero(pick).squeeze(1)[:2]
    here = sgd_sweep(
        name, lrs=[float(shipped.lr[rows[0]])], batch_sizes=shipped.batch_size[rows].tolist(),
        seeds=[int(shipped.seed[rows[0]])], steps=shipped.steps, n=shipped.n,
        width=shipped.width, data_seed=shipped.data_seed, device="cpu",
    )  # fmt: skip
    report = compare_sweeps(shipped, here, rows=rows)
    assert report["ok"], report


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


def test_view_and_title_count_only_converged_minima() -> None:
    """All-diverged sweep: an honest title (no 'violated at all 0 minima (max = nan)');
    a mixed sweep: the view keeps converged minima apart from the rest."""
    from alignkit.stability.plots.sweep import plot_sweep, sweep_title
    from alignkit.stability.views import sweep_view

    dead = sgd_sweep("linear", lrs=[100.0], batch_sizes=[1, 4], seeds=[0], steps=30, device="cpu")
    view = sweep_view(dead, 100.0, 1)
    title = sweep_title(view)
    assert "no converged minimum" in title and "nan" not in title and "VIOLATED" not in title
    assert view.x.numel() == 0 and view.n_diverged == 2 and math.isnan(view.worst_ratio)
    plot_sweep(view)  # draws without error
    mixed = sgd_sweep(
        "linear", lrs=[0.5, 100.0], batch_sizes=[1, 4], seeds=[0], steps=1000, n=16, width=64,
        device="cpu",
    )  # fmt: skip
    view = sweep_view(mixed, 0.5, 4)
    assert view.n_converged == int(mixed.converged.sum()) == view.x.numel() == 2
    assert int((view.outcome == 2).sum()) == 2 and view.threshold_lr.numel() == 2
    assert bool((view.bound_lr >= view.threshold_lr).all())  # the μ_min bound is necessary
    title = sweep_title(view)
    assert "holds at all 2 converged minima" in title
    fig = plot_sweep(view)
    names = {t.name for t in fig.data}
    assert {"converged minima", "not converged (not minima)", "exact η*(B) (notebook 01)"} <= names


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--out", "{file}/x.npz"], "--out"),  # under a file
        (["--out", "{tmp}/x"], "--out"),  # numpy would write x.npz, the JSON x.json
        (["--device", "tpu"], "device"),
        (["--chunk-size", "0"], "--chunk-size"),
        (["--data-seed", "-1"], "--data-seed"),
    ],
)
def test_sweep_cli_refuses_bad_arguments_before_running(
    tmp_path: Path, capsys: pytest.CaptureFixture, argv: list[str], named: str
) -> None:
    """A usage error (exit status 2, one message naming the argument, no traceback) before
    any sweep runs: nothing is written."""
    (tmp_path / "afile").write_text("")
    argv = [a.format(file=tmp_path / "afile", tmp=tmp_path) for a in argv]
    with pytest.raises(SystemExit) as info:
        sweep_main(["--preset", "default", "--models", "linear", *argv])
    err = capsys.readouterr().err
    assert info.value.code == 2 and named in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_seed_jitter_equals_a_loop_over_runs() -> None:
    """The k-th of a cell's m runs (in run order) sits at B · 2^(((k + 0.5)/m − 0.5)/4):
    the vectorised spread against a plain loop with per-cell counters, and an empty sweep."""
    from alignkit.stability.plots.sweep import _jitter

    rng = np.random.default_rng(0)
    for n in (0, 1, 7, 60):
        lr = rng.choice([0.05, 0.1, 0.2], n)
        b = rng.choice([1.0, 2.0, 4.0, 8.0], n)
        seen: dict[tuple[float, float], int] = {}
        want = np.empty(n)
        for j, key in enumerate(zip(lr.tolist(), b.tolist(), strict=True)):
            m = sum(1 for other in zip(lr.tolist(), b.tolist(), strict=True) if other == key)
            k = seen.get(key, 0)
            want[j] = key[1] * 2 ** (0.25 * ((k + 0.5) / m - 0.5))
            seen[key] = k + 1
        np.testing.assert_allclose(_jitter(lr, b), want, rtol=1e-15, atol=0)
