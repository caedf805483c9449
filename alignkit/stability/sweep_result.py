"""The result of a batched SGD sweep, its ``.npz`` form and the shipped-data loader."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from alignkit.device import to_numpy
from alignkit.stability.noise import alignment_bound, alignment_ratio

__all__ = ["SweepResult", "load_sweep", "DEFAULT_PATH"]

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "data" / "stability_sweep.npz"


@dataclass(frozen=True)
class SweepResult:
    """One batched SGD sweep: S = len(lrs) × len(batch_sizes) × len(seeds) settings.

    Settings are ordered lr-major (``reshape(grid_shape)`` gives axes (η, B, seed)).

    Attributes
    ----------
    model : str
    lr, batch_size, seed : Tensor, shape (S,)
        The grid, flattened.
    loss : Tensor, shape (S,)
        Final full-batch loss L = (1/n) Σ ½ ‖f_i − y_i‖² (non-finite when diverged).
    sharpness : Tensor, shape (S,)
        λ_max of the Gauss–Newton matrix G at the final point (NaN when diverged).
    gn_frobenius : Tensor, shape (S,)
        ‖G‖_F at the final point, i.e. ‖H‖_F at the (near-)global minimum found.
    mu : Tensor, shape (S,)
        Alignment factor Tr(Σ₁ G) / (2 L ‖G‖_F²) at the final point.
    diverged : Tensor of bool, shape (S,)
    diverged_step : Tensor of int64, shape (S,)
        Step at which divergence was detected, −1 if never (``steps`` for a run that
        ended above its initial loss without blowing up).
    loss_history : Tensor, shape (S, R)
        Full-batch loss at ``history_steps``.
    history_steps : Tensor of int64, shape (R,)
    grid_shape : tuple of int
        (len(lrs), len(batch_sizes), len(seeds)).
    n, num_params, steps : int
    replacement : bool
        Minibatches drawn with replacement (p = 1/B) or without.
    params : Tensor, shape (S, d), optional
        Final parameters (``keep_params=True``), else ``None``.
    """

    model: str
    lr: torch.Tensor
    batch_size: torch.Tensor
    seed: torch.Tensor
    loss: torch.Tensor
    sharpness: torch.Tensor
    gn_frobenius: torch.Tensor
    mu: torch.Tensor
    diverged: torch.Tensor
    diverged_step: torch.Tensor
    loss_history: torch.Tensor
    history_steps: torch.Tensor
    grid_shape: tuple[int, int, int]
    n: int
    num_params: int
    steps: int
    replacement: bool
    params: torch.Tensor | None = None

    @property
    def ratio(self) -> torch.Tensor:
        """‖H‖_F η / √B, shape (S,); the bound says ≤ 1/√μ (with replacement)."""
        return alignment_ratio(self.gn_frobenius, self.lr, self.batch_size)

    @property
    def bound(self) -> torch.Tensor:
        """Largest stable ‖H‖_F, 1 / (η √(p μ)), shape (S,) (√(B/μ)/η with replacement)."""
        return alignment_bound(
            self.mu, self.lr, self.batch_size, n=self.n, replacement=self.replacement
        )

    def to_arrays(self, prefix: str = "") -> dict[str, np.ndarray]:
        """Flat dict of numpy arrays (for ``np.savez``), keys ``prefix + field``."""
        return {
            prefix + f.name: np.asarray(to_numpy(getattr(self, f.name)))
            for f in fields(self)
            if getattr(self, f.name) is not None
        }

    @classmethod
    def from_arrays(cls, arrays: Any, prefix: str = "") -> SweepResult:
        """Inverse of :meth:`to_arrays` (tensors on the CPU)."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            if prefix + f.name not in arrays:
                continue
            a = np.asarray(arrays[prefix + f.name])
            if f.name == "model":
                values[f.name] = str(a)
            elif f.name == "grid_shape":
                values[f.name] = tuple(int(v) for v in a)
            elif f.name in ("n", "num_params", "steps"):
                values[f.name] = int(a)
            elif f.name == "replacement":
                values[f.name] = bool(a)
            else:
                values[f.name] = torch.from_numpy(a.copy())
        return cls(**values)


def load_sweep(path: str | Path | None = None) -> dict[str, SweepResult]:
    """Read a precomputed sweep (one :class:`SweepResult` per model, CPU tensors).

    Parameters
    ----------
    path : str or Path, optional
        The ``.npz`` written by ``python -m alignkit.stability.sweep_cli``; ``None`` (default)
        reads the shipped ``data/stability_sweep.npz``.

    Returns
    -------
    dict
        Model name -> SweepResult. Provenance is in the JSON next to the file.
    """
    path = DEFAULT_PATH if path is None else Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"no sweep at {path}; create it with "
            f"`python -m alignkit.stability.sweep_cli --out {path}`"
        )
    with np.load(path, allow_pickle=False) as arrays:
        names = [str(v) for v in arrays["models"]]
        return {name: SweepResult.from_arrays(arrays, prefix=f"{name}.") for name in names}
