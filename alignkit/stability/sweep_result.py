"""Saving, loading and comparing batched SGD sweeps (``.npz`` + provenance ``.json``).

The sweep's record itself, :class:`SweepResult`, lives in
:mod:`alignkit.stability.sweep_record` and is re-exported here.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import zipfile
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from alignkit._checks import check_bool, check_shape
from alignkit.stability.sweep_record import CONVERGED_LOSS, SETTLED_CHECKS, SweepResult

__all__ = [
    "SweepResult",
    "SweepDataError",
    "REGEN_RTOL",
    "compare_sweeps",
    "save_sweep",
    "check_output_path",
    "load_sweep",
    "read_provenance",
    "regenerate_command",
    "DEFAULT_PATH",
    "CONVERGED_LOSS",
    "SETTLED_CHECKS",
]

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "data" / "stability_sweep.npz"


#: Relative tolerances for a regenerated sweep (another machine, torch version or thread
#: count) against the shipped one, at settings that converged in both; the diverged and
#: converged flags must agree. Bit-identical arrays are not expected: float32 rounding
#: (which depends on the CPU, torch, threads and how many settings train together) moves
#: each SGD trajectory a little. For the linear and random-feature models ‖H‖_F, λ_max,
#: μ_min and μ_max depend on the data only; for the MLP the minimum moves slightly
#: (re-running an MLP slice in float64 instead of float32 moved ‖H‖_F by 2e-7 and μ_min
#: by 3e-6, relative).
#: The last iterate's μ is not compared: it is a 0/0 limit at losses ~1e-14 (the same
#: float64 re-run moved it by 10%), and so is the final loss (only "< tolerance" counts).
REGEN_RTOL = {"gn_frobenius": 1e-4, "sharpness": 1e-4, "mu_min": 1e-4, "mu_max": 1e-4}


def compare_sweeps(
    reference: SweepResult, other: SweepResult, *, rows: torch.Tensor | None = None
) -> dict[str, Any]:
    """Check a regenerated slice ``other`` against ``reference[rows]`` within REGEN_RTOL.

    Parameters
    ----------
    reference : SweepResult
        E.g. the shipped data.
    other : SweepResult
        The same settings recomputed, in the order of ``rows``.
    rows : Tensor of int64, shape (S',), optional
        Settings of ``reference`` that ``other`` recomputes (default: all).

    Returns
    -------
    dict
        ``ok`` (bool), ``flags_equal`` (diverged and converged flags agree),
        ``max_rel_diff`` per field over settings converged in both, ``rtol`` used, and
        ``loss`` (max final loss of the converged settings, both runs).
    """
    for arg, value in (("reference", reference), ("other", other)):
        if not isinstance(value, SweepResult):
            raise TypeError(f"{arg} must be a SweepResult, got {type(value).__name__}")
    if rows is None:
        idx = torch.arange(reference.lr.numel())
    else:
        try:
            idx = torch.as_tensor(rows)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise TypeError(
                f"rows must be integer indices (a tensor or list), got {rows!r}"
            ) from exc
        if idx.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
            raise TypeError(f"rows must be integer indices, got dtype {idx.dtype}")
        check_shape(tuple(idx.shape), "rows", "(S',) indices", idx.ndim == 1)
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= reference.lr.numel()):
            raise ValueError(
                f"rows must be in [0, {reference.lr.numel() - 1}], got {idx.tolist()[:8]}"
            )
    if idx.numel() != other.lr.numel():
        raise ValueError(f"rows must select {other.lr.numel()} settings, got {idx.numel()}")
    same_grid = torch.allclose(reference.lr[idx].double(), other.lr.double(), rtol=1e-12) and (
        torch.equal(reference.batch_size[idx], other.batch_size)
    )
    if not same_grid:
        raise ValueError("other must recompute the settings reference[rows] (η and B differ)")
    flags = torch.equal(reference.diverged[idx], other.diverged) and torch.equal(
        reference.converged[idx], other.converged
    )
    both = reference.converged[idx] & other.converged
    diffs: dict[str, float] = {}
    for key in REGEN_RTOL:
        a = getattr(reference, key)[idx][both].double()
        b = getattr(other, key)[both].double()
        diffs[key] = float(((a - b).abs() / a.abs()).max()) if a.numel() else math.nan
    ok = flags and all(diffs[k] <= REGEN_RTOL[k] for k in REGEN_RTOL if not math.isnan(diffs[k]))
    loss = [float(r.loss[i][c].max()) if bool(c.any()) else math.nan
            for r, i, c in ((reference, idx, reference.converged[idx]),
                            (other, torch.arange(other.lr.numel()), other.converged))]  # fmt: skip
    return {"ok": ok, "flags_equal": flags, "max_rel_diff": diffs, "rtol": REGEN_RTOL,
            "loss": loss}  # fmt: skip


class SweepDataError(ValueError):
    """A precomputed sweep file that is missing a part, corrupt, or disagrees with its
    provenance JSON; the message names the file and the command that regenerates it."""


#: Provenance fields the loader requires (written by :func:`save_sweep`).
REQUIRED_PROVENANCE = (
    "command", "git", "date", "torch", "threads", "machine", "sha256", "converged_loss",
    "grids",
)  # fmt: skip
#: Per-model grid fields the loader compares with the arrays.
REQUIRED_GRID = ("lrs", "batch_sizes", "seeds", "steps", "n", "num_params", "settings")


def _check_path(path: Any, name: str = "path") -> Path:
    """``path`` as a Path (a str or os.PathLike), else a TypeError naming it."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or pathlib.Path, got {path!r}")
    if not os.fspath(path):
        raise ValueError(f"{name} must be a file name, got an empty one ({path!r})")
    return Path(path)


def check_output_path(path: Any, name: str = "path") -> Path:
    """``path`` as a Path to a new or existing ``.npz`` in an existing, writable folder.

    Checked before anything is computed or written (numpy would append ``.npz`` to any
    other name and the provenance JSON would then miss the file).
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str (the argument's name in messages), got {name!r}")
    out = _check_path(path, name)
    if out.suffix != ".npz" or not out.stem:
        raise ValueError(f"{name} must be a file name ending in .npz, got {str(path)!r}")
    folder = out.expanduser().resolve().parent
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise ValueError(
            f"{name} must be in an existing, writable folder, got {str(path)!r} "
            f"({folder} is {'not writable' if folder.is_dir() else 'not a folder'})"
        )
    try:
        is_folder = out.exists() and not out.is_file()
    except OSError as exc:  # e.g. a name too long for the file system
        raise ValueError(
            f"{name} must be a usable file name, got {str(path)!r} ({exc.strerror})"
        ) from exc
    if is_folder:
        raise ValueError(f"{name} must name a file, got the folder {str(path)!r}")
    return out


def regenerate_command(path: str | Path) -> str:
    """The shell command that rewrites ``path`` and its provenance JSON."""
    _check_path(path)
    return f"python -m alignkit.stability.sweep_cli --out {path}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_sweep(
    results: dict[str, SweepResult], path: str | Path, provenance: dict[str, Any]
) -> dict[str, Any]:
    """Write sweeps to ``path`` (``.npz``) and a provenance JSON next to it.

    Parameters
    ----------
    results : dict
        Model name -> SweepResult.
    path : str or Path
        The ``.npz`` to write; the JSON goes to ``path.with_suffix(".json")``.
    provenance : dict
        How the data was made (command, git, machine, ...); this function adds the grids,
        ``converged_loss`` and the sha256 of the written ``.npz``.

    Returns
    -------
    dict
        The provenance written.
    """
    if not isinstance(results, dict):
        raise TypeError(f"results must be a dict of model name -> SweepResult, got {results!r:.60}")
    if not results:
        raise ValueError("results must hold at least one model (name -> SweepResult), got {}")
    for name, result in results.items():
        if not isinstance(result, SweepResult):
            raise TypeError(f"results[{name!r}] must be a SweepResult, got {type(result).__name__}")
    path = check_output_path(path)
    if not isinstance(provenance, dict):
        raise TypeError(f"provenance must be a dict, got {type(provenance).__name__}")
    arrays: dict[str, np.ndarray] = {"models": np.array(list(results))}
    grids: dict[str, Any] = {}
    for name, r in results.items():
        arrays.update(r.to_arrays(prefix=f"{name}."))
        lrs, bs, seeds = (torch.unique(t).tolist() for t in (r.lr, r.batch_size, r.seed))
        grids[name] = {
            "lrs": [float(v) for v in lrs],
            "batch_sizes": [int(v) for v in bs],
            "seeds": [int(v) for v in seeds],
            "steps": r.steps,
            "n": r.n,
            "width": r.width,
            "num_params": r.num_params,
            "settings": int(r.lr.numel()),
            **r.counts,
            **dict(provenance.get("grids", {}).get(name, {})),
        }
    path.parent.mkdir(parents=True, exist_ok=True)
    cast(Any, np.savez_compressed)(path, **arrays)
    info = {
        **provenance,
        "converged_loss": CONVERGED_LOSS,
        "settled_checks": SETTLED_CHECKS,
        "grids": grids,
        "sha256": _sha256(path),
    }
    path.with_suffix(".json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def read_provenance(path: str | Path | None = None) -> dict[str, Any]:
    """The provenance JSON of a sweep file, checked for the required fields."""
    path = DEFAULT_PATH if path is None else _check_path(path)
    meta = path.with_suffix(".json")
    fix = f"regenerate both with `{regenerate_command(path)}`"
    try:
        info = json.loads(meta.read_text())
    except FileNotFoundError:
        raise SweepDataError(f"{path}: provenance {meta.name} is missing; {fix}") from None
    except (OSError, ValueError) as err:
        raise SweepDataError(
            f"{path}: provenance {meta.name} is unreadable ({err}); {fix}"
        ) from None
    if not isinstance(info, dict):
        raise SweepDataError(f"{path}: provenance {meta.name} is not a JSON object; {fix}")
    missing = [key for key in REQUIRED_PROVENANCE if key not in info]
    grids = info.get("grids")
    if not missing and isinstance(grids, dict):
        missing = [
            f"grids.{name}.{key}"
            for name, grid in grids.items()
            for key in REQUIRED_GRID
            if not isinstance(grid, dict) or key not in grid
        ]
    if missing or not isinstance(grids, dict):
        raise SweepDataError(f"{path}: provenance lacks {missing or ['grids']}; {fix}")
    return info


def _check_grid(name: str, result: SweepResult, grid: dict[str, Any], where: str) -> None:
    """Raise SweepDataError when the arrays' grid differs from the provenance's."""
    for key in ("lrs", "batch_sizes", "seeds"):
        if not isinstance(grid.get(key), list):
            raise SweepDataError(
                f"{where}: provenance grids.{name}.{key} must be a list, got {grid.get(key)!r}"
            )
    lrs, bs, seeds = (torch.unique(t).tolist() for t in (result.lr, result.batch_size, result.seed))
    checks = {
        "lrs": np.allclose(lrs, grid["lrs"], rtol=1e-12, atol=0) if len(lrs) == len(
            grid["lrs"]) else False,
        "batch_sizes": [int(v) for v in bs] == list(grid["batch_sizes"]),
        "seeds": [int(v) for v in seeds] == list(grid["seeds"]),
        "steps": result.steps == grid["steps"],
        "n": result.n == grid["n"],
        "num_params": result.num_params == grid["num_params"],
        "settings": result.lr.numel() == grid["settings"]
        == math.prod(result.grid_shape) == result.loss.numel(),
    }  # fmt: skip
    bad = [key for key, ok in checks.items() if not ok]
    if bad:
        raise SweepDataError(f"{where}: {name} arrays disagree with the provenance on {bad}")


def load_sweep(path: str | Path | None = None, *, verify: bool = True) -> dict[str, SweepResult]:
    """Read a precomputed sweep (one :class:`SweepResult` per model, CPU tensors).

    Parameters
    ----------
    path : str or Path, optional
        The ``.npz`` written by ``python -m alignkit.stability.sweep_cli`` (via
        :func:`save_sweep`); ``None`` (default) reads the shipped ``data/stability_sweep.npz``.
    verify : bool, default=True
        Check the file against its provenance JSON first: required fields present, the
        sha256 of the ``.npz`` equal to the recorded one, and each model's grid (η, B,
        seeds, steps, n, d, number of settings) equal to the recorded grid.

    Returns
    -------
    dict
        Model name -> SweepResult. Provenance: :func:`read_provenance`.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    SweepDataError
        (a ``ValueError``) Truncated or corrupt file, missing array or provenance field,
        checksum mismatch or grid disagreement; the message names the file and the
        command that regenerates it.
    """
    verify = check_bool(verify, "verify")
    path = DEFAULT_PATH if path is None else _check_path(path)
    fix = f"regenerate it with `{regenerate_command(path)}`"
    if not path.exists():
        raise FileNotFoundError(f"no sweep at {path}; create it with `{regenerate_command(path)}`")
    info = read_provenance(path) if verify else None
    if info is not None and _sha256(path) != info["sha256"]:
        raise SweepDataError(
            f"{path}: sha256 differs from the one in {path.with_suffix('.json').name} "
            f"(file changed or truncated after it was written); {fix}"
        )
    try:
        with np.load(path, allow_pickle=False) as arrays:
            names = [str(v) for v in arrays["models"]]
            results = {name: SweepResult.from_arrays(arrays, prefix=f"{name}.") for name in names}
    except (OSError, EOFError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as err:
        raise SweepDataError(
            f"{path}: not a complete sweep file ({type(err).__name__}: {err}); {fix}"
        ) from None
    if info is not None:
        if sorted(names) != sorted(info["grids"]):
            raise SweepDataError(
                f"{path}: models {names} differ from the provenance's {sorted(info['grids'])}; "
                f"{fix}"
            )
        for name, result in results.items():
            _check_grid(name, result, info["grids"][name], f"{path} ({fix})")
    return results
