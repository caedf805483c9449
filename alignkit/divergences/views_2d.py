"""What the 2-D fits show (notebook 03): pure functions of the control values.

:func:`fit2d_view` fits several divergences from one start (the static comparison);
:func:`fit2d_explorer_view` fits one divergence (or α) from a start the learner moves, on a
three-mode target whose spread is a control, with the descent path of the mean.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch

from alignkit._checks import check_choice, check_int, check_scalar
from alignkit.device import to_numpy
from alignkit.divergences._args import check_names
from alignkit.divergences.catalogue import LABELS, get, names
from alignkit.divergences.fit import fit_panel
from alignkit.divergences.mixture import GaussianMixture

__all__ = ["target_2d", "Fit2DView", "fit2d_view", "fit2d_explorer_view"]

_MEANS = ((-2.0, -1.0), (2.0, -1.0), (0.0, 2.2))


def target_2d(separation: float = 4.0) -> GaussianMixture:
    """The 2-D explorers' target: three modes of std 0.6, weights 0.4, 0.35, 0.25, at
    (−2, −1), (2, −1), (0, 2.2) scaled by ``separation``/4 (the two lower modes are
    ``separation`` apart)."""
    separation = check_scalar(separation, "separation", low=0.5, high=8.0)
    means = [[separation / 4.0 * v for v in m] for m in _MEANS]
    return GaussianMixture(means, [0.6, 0.6, 0.6], [0.4, 0.35, 0.25])


@dataclass(frozen=True)
class Fit2DView:
    """2-D target density on a grid and the Gaussian fits (means, covariances) per divergence."""

    labels: tuple[str, ...]
    axis_x: np.ndarray  # (n,)
    axis_y: np.ndarray  # (n,)
    density: np.ndarray  # (n, n) target density, [y, x]
    means: np.ndarray  # (S, 2)
    covariances: np.ndarray  # (S, 2, 2)
    values: np.ndarray  # (S,)
    diverged: np.ndarray  # (S,)
    paths: np.ndarray | None = None  # (S, T, 2) descent of the mean
    start: np.ndarray | None = None  # (3,) (x₀, y₀, σ₀)
    converged: np.ndarray | None = None  # (S,) stationary at the end (FitPanel.converged)


#: half the side of the square the target is drawn on, for separations up to this (the
#: explorer's slider ends at 6): its modes ±3 of their std and the starts (±5) inside, so
#: a new separation moves the modes inside still axes (a live panel moves points only)
FRAME = 6.0
_FRAME_NODES = 81  # nodes per side: 0.15 apart at the frame of 6, four per mode std (0.6)


@functools.lru_cache(maxsize=16)
def _density(separation: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The target density on its display grid, the square ±max(:data:`FRAME`, separation)
    (memoised per separation; read-only arrays)."""
    target = target_2d(separation)
    half = max(FRAME, separation)
    axis = torch.linspace(-half, half, _FRAME_NODES, dtype=torch.float64)
    gx, gy = torch.meshgrid(axis, axis, indexing="xy")  # rows y, columns x
    nodes = torch.stack([gx.reshape(-1), gy.reshape(-1)], -1)
    dens = to_numpy(target.pdf(nodes)).reshape(_FRAME_NODES, _FRAME_NODES)
    xs, ys = to_numpy(axis), to_numpy(axis.clone())
    for arr in (xs, ys, dens):
        arr.setflags(write=False)
    return xs, ys, dens


def _view(
    settings: list[tuple[str, float]],
    labels: tuple[str, ...],
    separation: float,
    init: tuple[float, float, float],
    steps: int,
) -> Fit2DView:
    target = target_2d(separation)
    start = torch.tensor([init], dtype=torch.float64)
    fit = fit_panel(target, settings, start, steps=steps)
    xs, ys, dens = _density(float(separation))
    return Fit2DView(
        labels, xs, ys, dens, to_numpy(fit.mean[:, 0]), to_numpy(fit.std[:, 0]),
        to_numpy(fit.value[:, 0]), to_numpy(fit.diverged[:, 0]),
        paths=to_numpy(fit.trajectory[:, 0]), start=np.asarray(init, dtype=np.float64),
        converged=to_numpy(fit.converged[:, 0]),
    )  # fmt: skip


def fit2d_view(
    divergences: tuple[str, ...] = ("forward_kl", "reverse_kl", "jensen_shannon"),
    *,
    init: tuple[float, float, float] = (0.5, 0.5, 1.0),
    separation: float = 4.0,
    steps: int = 200,
) -> Fit2DView:
    """Fit N(m, Σ) to a three-mode 2-D mixture with each divergence, from one start."""
    divergences = check_names(divergences, "divergences", [n for n in names() if n != "alpha"])
    if not isinstance(init, (tuple, list)) or len(init) != 3:
        raise ValueError(f"init must be a tuple (mean_x, mean_y, std) of 3 numbers, got {init!r}")
    init = (check_scalar(init[0], "init[0] (mean_x)"), check_scalar(init[1], "init[1] (mean_y)"),
            check_scalar(init[2], "init[2] (std)", low=0.0, closed="neither"))  # fmt: skip
    settings = [(n, math.nan) for n in divergences]
    return _view(settings, tuple(LABELS[d] for d in divergences), separation, init, steps)


def fit2d_explorer_view(
    divergence: str = "reverse_kl",
    alpha: float = 0.5,
    *,
    separation: float = 4.0,
    init_x: float = 0.5,
    init_y: float = 0.5,
    init_std: float = 1.0,
    steps: int = 200,
) -> Fit2DView:
    """One divergence's fit of N(m, Σ) to the three-mode target from (``init_x``,
    ``init_y``) with covariance ``init_std``²·I; ``alpha`` is used for ``"alpha"``.

    Returns a :class:`Fit2DView` with one setting (S = 1), its mean path and the start.
    """
    check_choice(divergence, "divergence", names())
    alpha = check_scalar(alpha, "alpha", low=-3.0, high=4.0)
    init_x = check_scalar(init_x, "init_x", low=-10.0, high=10.0)
    init_y = check_scalar(init_y, "init_y", low=-10.0, high=10.0)
    init_std = check_scalar(init_std, "init_std", low=0.05, high=10.0)
    steps = check_int(steps, "steps", low=1, high=5000)
    a = alpha if divergence == "alpha" else math.nan
    div = get(divergence, alpha=alpha) if divergence == "alpha" else get(divergence)
    name = f"α-divergence, α = {alpha:.3g}" if divergence == "alpha" else LABELS[divergence]
    label = f"{name} ({div.behaviour})"
    return _view([(divergence, a)], (label,), separation, (init_x, init_y, init_std), steps)
