"""Batched SGD sweep vs a naive loop of torch.nn models: throughput ratio.

Same grid of (η, B, seed) settings, same MLP (64-h-10, tanh) on the same digits
subset, same initial points, same minibatch indices, same number of steps:

- batched: :func:`alignkit.stability.sweep.sgd_sweep` (``diagnostics=False``, one loss
  check at the end): hand-batched forward and analytic gradient in a few ``bmm`` per
  step for all settings, updated in place; settings sharing a seed share their
  minibatch gather and one first-layer product (:mod:`alignkit.stability._grid_sgd`);
- vmap (the route the sweep used before, for the breakdown): the same settings, one
  ``vmap(grad)`` of the functional model per step and per batch size, indices drawn per
  step with :func:`minibatch_indices`, a fancy-indexed gather, one loss check at the end;
- naive: one ``nn.Sequential`` per setting and an ordinary loop with
  ``torch.optim.SGD`` (zero_grad, forward, backward, step). The minibatch indices are
  computed before the timer starts (which favours the naive loop). When the grid is
  large the naive loop runs on a random subset of settings and its time is
  extrapolated per setting (stated in the JSON).

Run it single-threaded (``OMP_NUM_THREADS=1``; ``--threads 1`` sets torch's threads too).

Throughput = settings × steps / second; the ratio is batched / naive. Each timing is
the best of ``--repeats`` runs, batched, vmap and naive interleaved so that all see the
same machine load. The naive runs' final parameters are compared with
the batched ones (they must agree to float tolerance).

Usage::

    python benchmarks/sweep.py                  # cpu, writes benchmarks/results/sweep.json
    python benchmarks/sweep.py --device cuda --out benchmarks/results/sweep_cuda.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import grad, vmap

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alignkit.device import describe, get_device  # noqa: E402
from alignkit.stability.models import make_model  # noqa: E402
from alignkit.stability.sweep import minibatch_indices, sgd_sweep  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _naive_setting(
    x: torch.Tensor,
    y: torch.Tensor,
    theta0: torch.Tensor,
    lr: float,
    indices: torch.Tensor,
    hidden: int,
) -> tuple[float, torch.Tensor]:
    """Time one ordinary training loop; return (seconds, final flat parameters)."""
    device = x.device
    model = nn.Sequential(nn.Linear(64, hidden), nn.Tanh(), nn.Linear(hidden, 10))
    model = model.to(device=device, dtype=x.dtype)
    with torch.no_grad():
        torch.nn.utils.vector_to_parameters(theta0.clone(), model.parameters())  # no aliasing
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    _sync(device)
    tic = time.perf_counter()
    for idx in indices:
        opt.zero_grad()
        loss = 0.5 * ((model(x[idx]) - y[idx]) ** 2).sum(1).mean()
        loss.backward()
        opt.step()
    with torch.no_grad():
        final = 0.5 * ((model(x) - y) ** 2).sum(1).mean()
    final.item()
    _sync(device)
    seconds = time.perf_counter() - tic
    return seconds, torch.nn.utils.parameters_to_vector(model.parameters()).detach()


def _vmap_route(
    model: Any, lrs: np.ndarray, batch_sizes: list[int], seeds: list[int], steps: int
) -> tuple[float, torch.Tensor]:
    """The sweep's previous inner loop, timed: per batch size, all (η, seed) settings take
    one ``vmap(grad)`` step of the functional model; one full-batch loss at the end.

    Returns (seconds, final parameters in the sweep's (η, B, seed) order, shape (S, d)).
    """
    x, y, n = model.x, model.y, model.n

    def batch_loss(th: torch.Tensor, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        return 0.5 * ((model.apply(th, xb) - yb) ** 2).sum(-1).mean()

    def full_loss(th: torch.Tensor) -> torch.Tensor:
        return 0.5 * ((model.apply(th, x) - y) ** 2).sum(-1).mean()

    step_grad, losses = vmap(grad(batch_loss)), vmap(full_loss)
    seed_t = torch.tensor(seeds, device=x.device).repeat(len(lrs))  # (η, seed) order
    lr_col = torch.tensor(lrs, dtype=x.dtype, device=x.device).repeat_interleave(len(seeds))
    theta0 = model.init(seeds).repeat(len(lrs), 1)
    finals = []
    _sync(x.device)
    tic = time.perf_counter()
    for b in batch_sizes:
        theta = theta0.clone()
        for t in range(steps):
            idx = minibatch_indices(seed_t, t, n, b, replacement=True)
            theta = torch.addcmul(
                theta, lr_col[:, None], step_grad(theta, x[idx], y[idx]), value=-1
            )
        losses(theta).sum().item()
        finals.append(theta.view(len(lrs), len(seeds), -1))
    _sync(x.device)
    seconds = time.perf_counter() - tic
    return seconds, torch.stack(finals, dim=1).reshape(-1, theta0.shape[1])


def run(args: argparse.Namespace) -> dict[str, Any]:
    device = get_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    lrs = np.geomspace(0.01, 1.0, args.num_lrs)
    batch_sizes = [b for b in (1, 2, 4, 8, 16, 32) if b <= args.n][: args.num_batch_sizes]
    seeds = list(range(args.num_seeds))
    grid = dict(lrs=lrs, batch_sizes=batch_sizes, seeds=seeds, steps=args.steps)
    common = dict(n=args.n, width=args.hidden, device=device, check_every=args.steps)

    # warm-up (first vmap trace, allocator), then best of repeats
    warm = dict(common, check_every=1)
    sgd_sweep(
        "mlp",
        lrs=lrs[:2],
        batch_sizes=batch_sizes[:2],
        seeds=[0],
        steps=5,
        diagnostics=False,
        **warm,
    )  # type: ignore[arg-type]
    model = make_model("mlp", n=args.n, width=args.hidden, device=device)
    settings = len(lrs) * len(batch_sizes) * len(seeds)
    gen = np.random.default_rng(args.seed)
    subset = np.sort(gen.choice(settings, size=min(args.naive_subset, settings), replace=False))
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    batched_times: list[float] = []
    vmap_times: list[float] = []
    vmap_final = torch.empty(0)
    naive_times = np.full((args.repeats, len(subset)), np.inf)
    finals: list[torch.Tensor] = []
    result = None
    for rep in range(args.repeats):  # interleaved, so both sides see the same machine load
        _sync(device)
        tic = time.perf_counter()
        result = sgd_sweep("mlp", diagnostics=False, keep_params=True, **grid, **common)  # type: ignore[arg-type]
        result.loss.sum().item()
        _sync(device)
        batched_times.append(time.perf_counter() - tic)
        if not args.skip_vmap:
            seconds, vmap_final = _vmap_route(model, lrs, batch_sizes, seeds, args.steps)
            vmap_times.append(seconds)
        finals = []
        for j, s in enumerate(subset):
            seed, b, lr = int(result.seed[s]), int(result.batch_size[s]), float(result.lr[s])
            seed_t = torch.tensor([seed], device=device)
            indices = [
                minibatch_indices(seed_t, t, model.n, b, replacement=True)[0]
                for t in range(args.steps)
            ]
            theta0 = model.init([seed])[0]
            naive_times[rep, j], final = _naive_setting(
                model.x, model.y, theta0, lr, indices, args.hidden
            )
            finals.append(final)
    assert result is not None and result.params is not None
    naive_best = naive_times.min(axis=0)
    checks: list[dict[str, Any]] = []
    for s, final in zip(subset, finals, strict=True):
        ref = result.params[s]
        diff = float((final - ref).abs().max() / ref.abs().max().clamp_min(1e-12))
        checks.append(
            {
                "lr": round(float(result.lr[s]), 5),
                "batch_size": int(result.batch_size[s]),
                "seed": int(result.seed[s]),
                "diverged": bool(result.diverged[s]),
                "final_loss": float(result.loss[s]),
                "relative_param_difference": diff,
            }
        )

    stable = [c for c in checks if not c["diverged"]]
    naive_per_setting = float(np.mean(naive_best))
    naive_total = naive_per_setting * settings
    batched = min(batched_times)
    work = settings * args.steps
    vmap_part: dict[str, Any] = {}
    if vmap_times:
        ok = ~result.diverged
        ref = result.params[ok]
        scale = ref.abs().amax(dim=1).clamp_min(1e-12)
        vmap_diff = ((vmap_final[ok] - ref).abs().amax(dim=1) / scale).max()
        vmap_part = {
            "vmap_seconds": round(min(vmap_times), 4),
            "vmap_all_seconds": [round(t, 4) for t in vmap_times],
            "ratio_vmap_over_naive": round(naive_total / min(vmap_times), 2),
            "speedup_batched_over_vmap": round(min(vmap_times) / batched, 2),
            "vmap_parity_max_over_non_diverged": float(vmap_diff),
        }
    out = {
        "benchmark": "batched SGD sweep vs naive loop of torch.nn models",
        "command": " ".join([sys.executable.split("/")[-1], *sys.argv]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "setup": describe(device),
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "load_average_1min_before": load_before,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "model": f"MLP 64-{args.hidden}-10 tanh, square loss on 10 one-hot outputs",
        "n": args.n,
        "dtype": "float32",
        "grid": {
            "lrs": [float(v) for v in lrs],
            "batch_sizes": batch_sizes,
            "seeds": len(seeds),
            "settings": settings,
            "steps": args.steps,
            "sampling": "with replacement, counter-based indices shared by both sides",
        },
        "routes": {
            "batched": (
                "sgd_sweep(diagnostics=False, check_every=steps, keep_params=True): all "
                "settings, every step: minibatch gather, forward and analytic gradient as "
                "batched bmm (settings sharing a seed share the gather and one first-layer "
                "product), in-place update; chunks by batch size; full-batch loss check "
                "(divergence and convergence flags) at the end; the timer includes "
                "building the model and the data"
            ),
            "vmap": (
                "the sweep's previous inner loop: per batch size, vmap(grad) of the "
                "functional model per step on x[idx], indices from minibatch_indices per "
                "step, functional update, full-batch loss at the end"
            ),
            "naive": (
                "one nn.Sequential(Linear, Tanh, Linear) per setting, torch.optim.SGD: "
                "zero_grad, forward on the minibatch, backward, step; indices precomputed "
                "outside the timer; full-batch loss at the end"
            ),
        },
        "repeats": args.repeats,
        "batched_seconds": round(batched, 4),
        "batched_all_seconds": [round(t, 4) for t in batched_times],
        "naive_subset_settings": len(subset),
        "naive_seconds_per_setting": round(naive_per_setting, 5),
        "naive_seconds_extrapolated": round(naive_total, 2),
        "naive_extrapolated": len(subset) < settings,
        "note": (
            f"the naive loop ran on a random subset of {len(subset)} of {settings} settings "
            "(best of repeats per setting); its total is the mean per-setting time x settings"
            if len(subset) < settings
            else "the naive loop ran on every setting"
        ),
        "throughput_batched": round(work / batched, 1),
        "throughput_naive": round(work / naive_total, 1),
        "ratio": round(naive_total / batched, 2),
        **vmap_part,
        "parity": {
            "what": "max |θ_naive − θ_batched| / max |θ_batched| at the end, per subset setting",
            "max_over_non_diverged": max(
                (c["relative_param_difference"] for c in stable), default=None
            ),
            "non_diverged_over_1e-4": [c for c in stable if c["relative_param_difference"] > 1e-4],
            "settings": checks,
        },
    }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps")
    parser.add_argument("--num-lrs", type=int, default=10)
    parser.add_argument("--num-batch-sizes", type=int, default=5)
    parser.add_argument("--num-seeds", type=int, default=20)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=12)
    parser.add_argument("--naive-subset", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--seed", type=int, default=0, help="chooses the naive subset")
    parser.add_argument("--skip-vmap", action="store_true", help="do not time the vmap route")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "sweep.json")
    args = parser.parse_args()
    result = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        json.dumps(
            {
                k: result.get(k)
                for k in (
                    "ratio",
                    "batched_seconds",
                    "naive_seconds_extrapolated",
                    "vmap_seconds",
                    "ratio_vmap_over_naive",
                    "load_average_1min",
                )
            },
            indent=2,
        )
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
