"""The record of one batched SGD sweep (:class:`SweepResult`) and when a run counts as converged.

Made by :func:`alignkit.stability.sweep.sgd_sweep`; saved, loaded and compared by
:mod:`alignkit.stability.sweep_result` (which re-exports these names).
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from typing import Any

import numpy as np
import torch

from alignkit.device import to_numpy
from alignkit.stability.noise import alignment_bound, alignment_ratio

__all__ = ["SweepResult", "CONVERGED_LOSS", "SETTLED_CHECKS"]

#: A run has converged when its full-batch loss L is below this at each of the last
#: ``SETTLED_CHECKS`` loss checks (every ``check_every`` steps) and it did not diverge.
CONVERGED_LOSS = 1e-6
SETTLED_CHECKS = 3


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
        The last iterate's alignment factor Tr(Σ₁ G) / (2 L ‖G‖_F²) (a 0/0 limit at a
        minimum: it depends on the direction of θ − θ*).
    mu_min, mu_max : Tensor, shape (S,)
        Range of μ over directions of the model linearised at the final point
        (:func:`alignkit.stability.alignment_range.alignment_range`); the bound that
        linear stability implies uses ``mu_min``.
    diverged : Tensor of bool, shape (S,)
    converged : Tensor of bool, shape (S,)
        Not diverged and full-batch loss below ``converged_loss`` at each of the last
        ``SETTLED_CHECKS`` checks of ``loss_history``: the run sits at a minimum.
    threshold : Tensor, shape (S,)
        Exact mean-square threshold η*(B) of the setting's batch size for the models
        linear in their parameters (constant Hessian), NaN for the MLP.
    converged_loss : float
        The loss tolerance of ``converged`` (``CONVERGED_LOSS``).
    diverged_step : Tensor of int64, shape (S,)
        Step at which divergence was detected, −1 if never (``steps`` for a run that
        ended above its initial loss without blowing up).
    loss_history : Tensor, shape (S, R)
        Full-batch loss at ``history_steps``.
    history_steps : Tensor of int64, shape (R,)
    grid_shape : tuple of int
        (len(lrs), len(batch_sizes), len(seeds)).
    n, num_params, steps : int
    width, data_seed : int
        The model's size knob and data seed (rebuild it with ``make_model``).
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
    mu_min: torch.Tensor
    mu_max: torch.Tensor
    diverged: torch.Tensor
    converged: torch.Tensor
    threshold: torch.Tensor
    converged_loss: float
    diverged_step: torch.Tensor
    loss_history: torch.Tensor
    history_steps: torch.Tensor
    grid_shape: tuple[int, int, int]
    n: int
    num_params: int
    steps: int
    width: int
    data_seed: int
    replacement: bool
    params: torch.Tensor | None = None

    @property
    def ratio(self) -> torch.Tensor:
        """‖H‖_F η / √B, shape (S,); the bound says ≤ 1/√μ (with replacement)."""
        return alignment_ratio(self.gn_frobenius, self.lr, self.batch_size)

    @property
    def bound(self) -> torch.Tensor:
        """1 / (η √(p μ)) with the last iterate's μ, shape (S,) (√(B/μ)/η with replacement)."""
        return alignment_bound(
            self.mu, self.lr, self.batch_size, n=self.n, replacement=self.replacement
        )

    @property
    def bound_min(self) -> torch.Tensor:
        """1 / (η √(p μ_min)), shape (S,): the largest ‖H‖_F of a mean-square stable
        minimum of the linearised dynamics (infinite where μ_min = 0)."""
        return alignment_bound(
            self.mu_min.clamp_min(0),
            self.lr,
            self.batch_size,
            n=self.n,
            replacement=self.replacement,
        )

    @property
    def counts(self) -> dict[str, int]:
        """Number of settings that converged, did not converge, diverged."""
        conv, div = int(self.converged.sum()), int(self.diverged.sum())
        return {
            "converged": conv,
            "not_converged": int(self.lr.numel()) - conv - div,
            "diverged": div,
        }

    def to_arrays(self, prefix: str = "") -> dict[str, np.ndarray]:
        """Flat dict of numpy arrays (for ``np.savez``), keys ``prefix + field``."""
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str, got {prefix!r}")
        return {
            prefix + f.name: np.asarray(to_numpy(getattr(self, f.name)))
            for f in fields(self)
            if getattr(self, f.name) is not None
        }

    @classmethod
    def from_arrays(cls, arrays: Any, prefix: str = "") -> SweepResult:
        """Inverse of :meth:`to_arrays` (tensors on the CPU)."""
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str, got {prefix!r}")
        if not (hasattr(arrays, "__contains__") and hasattr(arrays, "__getitem__")):
            raise TypeError(f"arrays must be a mapping (e.g. np.load(...)), got {arrays!r}")
        values: dict[str, Any] = {}
        for f in fields(cls):
            if prefix + f.name not in arrays:
                continue
            a = np.asarray(arrays[prefix + f.name])
            if f.name == "model":
                values[f.name] = str(a)
            elif f.name == "grid_shape":
                values[f.name] = tuple(int(v) for v in a)
            elif f.name in ("n", "num_params", "steps", "width", "data_seed"):
                values[f.name] = int(a)
            elif f.name == "converged_loss":
                values[f.name] = float(a)
            elif f.name == "replacement":
                values[f.name] = bool(a)
            else:
                values[f.name] = torch.from_numpy(a.copy())
        required = [f.name for f in fields(cls) if f.default is MISSING]
        absent = [name for name in required if name not in values]
        if absent:
            where = "arrays" if not values else "prefix"
            raise ValueError(
                f"{where}: no complete sweep under prefix {prefix!r} (missing "
                f"{[prefix + a for a in absent][:5]}{' ...' if len(absent) > 5 else ''})"
            )
        return cls(**values)
