"""Command line for precomputing SGD sweeps into ``data/`` (CPU or GPU).

``python -m alignkit.stability.sweep_cli --out data/stability_sweep.npz [--device cuda]``
runs :func:`alignkit.stability.sweep.sgd_sweep` for each model on the ``big`` preset
grid and writes the ``.npz`` (read it with :func:`alignkit.stability.sweep.load_sweep`)
plus a provenance ``.json`` next to it (:func:`alignkit.stability.sweep_result.save_sweep`):
command, git commit, machine (CPU model, torch version, threads), grids, counts of
converged / not converged / diverged runs, sha256 of the ``.npz``, date and wall time.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from alignkit._checks import check_int
from alignkit.device import DEFAULT_DTYPE, describe, get_device
from alignkit.stability.models import MODELS
from alignkit.stability.sweep import DEFAULT_PATH, default_grid, sgd_sweep
from alignkit.stability.sweep_result import check_output_path, save_sweep

#: What a regeneration on another machine reproduces (the recompute cell of notebook 02
#: and tests/test_sweep.py check it with :data:`alignkit.stability.sweep_result.REGEN_RTOL`).
REPRODUCIBILITY = (
    "Arrays are not reproduced bit for bit in general: float32 rounding depends on the CPU, "
    "the torch version, the thread count and on how many settings train together (a slice "
    "recomputed alone on the same machine already moves the final losses at the 1e-14 "
    "level). The final losses of converged runs differ, the last iterate's mu (a 0/0 limit "
    "at losses ~1e-14) can move by tens of percent, and runs near the threshold may change "
    "outcome. Check a regeneration on a slice with "
    "alignkit.stability.sweep_result.compare_sweeps (flags equal; ||H||_F, sharpness, "
    "mu_min, mu_max within REGEN_RTOL = 1e-4)."
)

__all__ = ["PRESETS", "main"]

#: The bigger precomputed grids (``--preset big``): model -> sgd_sweep keywords.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "big": {
        "linear": dict(
            lrs=np.geomspace(0.5, 32.0, 13),
            batch_sizes=(1, 2, 4, 8, 16, 32),
            seeds=tuple(range(8)),
            steps=3000,
            n=32,
            width=128,
        ),
        "random_features": dict(
            lrs=np.geomspace(1.0, 64.0, 13),
            batch_sizes=(1, 2, 4, 8, 16),
            seeds=tuple(range(8)),
            steps=3000,
            n=16,
            width=256,
        ),
        "mlp": dict(
            lrs=np.geomspace(0.05, 1.6, 11),
            batch_sizes=(1, 2, 4, 8, 16),
            seeds=tuple(range(6)),
            steps=4000,
            n=16,
            width=32,
        ),
    },
}


def _git_commit() -> dict[str, Any]:
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": bool(status.strip())}


def machine() -> dict[str, Any]:
    """CPU model, platform, torch version and thread count (arrays differ across machines)."""
    cpu = platform.processor() or None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: precompute sweeps into an ``.npz`` plus a provenance ``.json``."""
    if argv is not None and (
        isinstance(argv, (str, bytes)) or not all(isinstance(a, str) for a in argv)
    ):
        raise TypeError(f"argv must be a list of str (or None), got {argv!r}")
    parser = argparse.ArgumentParser(
        prog="python -m alignkit.stability.sweep_cli", description=main.__doc__
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_PATH, help="output .npz path")
    parser.add_argument("--models", nargs="+", default=sorted(MODELS), choices=sorted(MODELS))
    parser.add_argument("--preset", default="big", choices=["default", *sorted(PRESETS)])
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps")
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--chunk-size", type=int, default=None)
    args = parser.parse_args(argv)
    try:  # every argument checked before the sweep runs (it can take an hour)
        device = get_device(args.device)
        check_output_path(args.out, "--out")
        check_int(args.data_seed, "--data-seed", low=0)
        if args.chunk_size is not None:
            check_int(args.chunk_size, "--chunk-size", low=1)
    except (TypeError, ValueError) as exc:
        parser.error(str(exc))  # a usage line and the message, exit status 2
    results = {}
    grids: dict[str, Any] = {}
    began = time.perf_counter()
    for name in args.models:
        kwargs = dict(
            default_grid(name) if args.preset == "default" else PRESETS[args.preset][name]
        )
        tic = time.perf_counter()
        results[name] = sgd_sweep(
            name, data_seed=args.data_seed, chunk_size=args.chunk_size, device=device, **kwargs
        )
        grids[name] = {"wall_time_s": round(time.perf_counter() - tic, 2)}
        print(f"{name}: {results[name].counts}, {grids[name]['wall_time_s']} s")
    info = describe(device)
    words = list(sys.argv[1:] if argv is None else argv)
    provenance = {
        "command": " ".join(["python -m alignkit.stability.sweep_cli", *words]),
        "git": _git_commit(),
        "device": info["device"],
        "gpu_name": info["gpu_name"],
        "torch": info["torch"],
        "threads": info["threads"],
        "machine": machine(),
        "data_seed": args.data_seed,
        "preset": args.preset,
        "replacement": True,
        "dtype": str(DEFAULT_DTYPE),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "wall_time_s": round(time.perf_counter() - began, 2),
        "reproducibility": REPRODUCIBILITY,
        "grids": grids,
    }
    save_sweep(results, args.out, provenance)
    print(f"wrote {args.out} and {args.out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
