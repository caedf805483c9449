"""The theme-3 model type: a velocity field from a Gaussian prior to the data.

:class:`GenerativeModel` is what :mod:`.exact`, :mod:`.fields` and :mod:`.training` build
and :mod:`.dynamics` integrates; :func:`check_model` is the check every function taking a
model runs first (the right type, finite weights: a diverged training run is refused).
Taught in ``notebooks/05_generative_manifold_alignment.ipynb``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from alignkit.numerics.ode import Field

__all__ = ["GenerativeModel", "check_model", "Params", "TimeScale"]

Params = tuple[torch.Tensor, ...]
TimeScale = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True, eq=False)  # compared (and cached) by identity
class GenerativeModel:
    """A velocity field from a prior N(0, prior_std² I) at t = 0 to the data at ``t_end``.

    ``output_scale(t)``: velocity error per unit error of the model's output;
    ``endpoint_scale(t)``: velocity error per unit error of the predicted clean sample.
    ``params``/``build``: the MLP weights and ``params -> velocity`` (None for the exact field).
    """

    kind: str
    dim: int
    prior_std: float
    t_end: float
    velocity: Field
    output_scale: TimeScale
    endpoint_scale: TimeScale
    device: torch.device
    dtype: torch.dtype
    params: Params | None = None
    build: Callable[[Params], Field] | None = None
    info: dict[str, Any] = field(default_factory=dict)


def check_model(model: Any, name: str = "model") -> GenerativeModel:
    """Return ``model`` if it is a usable :class:`GenerativeModel`, else raise.

    ``TypeError`` for another object; ``ValueError`` for a model whose training diverged
    (``info["diverged"]``) or whose weights are not all finite: its samples would be NaN.
    """
    if not isinstance(model, GenerativeModel):
        raise TypeError(
            f"{name} must be a GenerativeModel (from exact_model, train_flow_matching, "
            f"train_score_model or perturb), got {type(model).__name__} {model!r:.80}"
        )
    if model.info.get("diverged") or (
        model.params is not None and not all(bool(torch.isfinite(p).all()) for p in model.params)
    ):
        at = model.info.get("diverged_step")
        why = f"its training diverged at step {at}" if at is not None else "got NaN or inf weights"
        raise ValueError(
            f"{name} must have finite parameters: {why} (info['diverged']); "
            "train it again with a smaller lr"
        )
    return model
