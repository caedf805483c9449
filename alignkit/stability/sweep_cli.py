"""Command line for precomputing SGD sweeps into ``data/`` (CPU or GPU).

``python -m alignkit.stability.sweep_cli --out data/stability_sweep.npz [--device cuda]``
runs :func:`alignkit.stability.sweep.sgd_sweep` for each model on the ``big`` preset
grid and writes the ``.npz`` (read it with :func:`alignkit.stability.sweep.load_sweep`)
plus a provenance ``.json`` next to it: command, git commit, device, torch version,
seeds, date and wall time.
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np

from alignkit.device import DEFAULT_DTYPE, describe, get_device
from alignkit.stability.models import MODELS
from alignkit.stability.sweep import DEFAULT_PATH, default_grid, sgd_sweep

__all__ = ["PRESETS", "main"]

#: The bigger precomputed grids (``--preset big``): model -> sgd_sweep keywords.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "big": {
        "linear": dict(
            lrs=np.geomspace(0.25, 16.0, 17),
            batch_sizes=(1, 2, 4, 8, 16, 32),
            seeds=tuple(range(8)),
            steps=1000,
        ),
        "random_features": dict(
            lrs=np.geomspace(0.5, 64.0, 15),
            batch_sizes=(1, 2, 4, 8, 16, 32),
            seeds=tuple(range(8)),
            steps=1000,
        ),
        "mlp": dict(
            lrs=np.geomspace(0.01, 1.28, 15),
            batch_sizes=(1, 2, 4, 8, 16, 32),
            seeds=tuple(range(6)),
            steps=1000,
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


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: precompute sweeps into an ``.npz`` plus a provenance ``.json``."""
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
    device = get_device(args.device)
    arrays: dict[str, np.ndarray] = {"models": np.array(args.models)}
    grids: dict[str, Any] = {}
    began = time.perf_counter()
    for name in args.models:
        kwargs = dict(
            default_grid(name) if args.preset == "default" else PRESETS[args.preset][name]
        )
        tic = time.perf_counter()
        result = sgd_sweep(
            name, data_seed=args.data_seed, chunk_size=args.chunk_size, device=device, **kwargs
        )
        arrays.update(result.to_arrays(prefix=f"{name}."))
        grids[name] = {
            "lrs": [float(v) for v in kwargs["lrs"]],
            "batch_sizes": [int(v) for v in kwargs["batch_sizes"]],
            "seeds": [int(v) for v in kwargs["seeds"]],
            "steps": int(kwargs["steps"]),
            "n": result.n,
            "num_params": result.num_params,
            "settings": int(result.lr.numel()),
            "diverged": int(result.diverged.sum()),
            "wall_time_s": round(time.perf_counter() - tic, 2),
        }
        print(
            f"{name}: {grids[name]['settings']} settings, {grids[name]['diverged']} diverged, "
            f"{grids[name]['wall_time_s']} s"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cast(Any, np.savez_compressed)(args.out, **arrays)
    info = describe(device)
    provenance = {
        "command": " ".join(["python -m alignkit.stability.sweep_cli", *sys.argv[1:]])
        if argv is None
        else " ".join(["python -m alignkit.stability.sweep_cli", *argv]),
        "git": _git_commit(),
        "device": info["device"],
        "gpu_name": info["gpu_name"],
        "torch": info["torch"],
        "threads": info["threads"],
        "data_seed": args.data_seed,
        "preset": args.preset,
        "replacement": True,
        "dtype": str(DEFAULT_DTYPE),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "wall_time_s": round(time.perf_counter() - began, 2),
        "grids": grids,
    }
    args.out.with_suffix(".json").write_text(json.dumps(provenance, indent=2) + "\n")
    print(f"wrote {args.out} and {args.out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
