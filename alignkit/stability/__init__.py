"""Theme 1: SGD noise alignment and the linear stability of minima.

Compute (pure torch): :mod:`theory` (ρ(Q), η*), :mod:`simulate`, :mod:`toys`,
:mod:`quadratic`, :mod:`edge`. Figures: :mod:`plots`, :mod:`stability_plots`,
:mod:`escape_plots`. Explorers: :mod:`widgets`.
"""

from alignkit.stability.quadratic import QuadraticRun, gd_quadratic, regime
from alignkit.stability.simulate import LinearSGDRun, simulate_linear_sgd
from alignkit.stability.theory import (
    linear_stability_threshold,
    nonuniformity,
    sampling_factor,
    sharpness,
    spectral_radius,
    spectral_radius_curve,
    stability_operator,
    threshold_curve,
    threshold_upper_bounds,
)
from alignkit.stability.widgets import (
    escape_explorer,
    gd_explorer,
    region_explorer,
    simulation_explorer,
    threshold_explorer,
)

__all__ = [
    "QuadraticRun",
    "gd_quadratic",
    "regime",
    "LinearSGDRun",
    "simulate_linear_sgd",
    "linear_stability_threshold",
    "nonuniformity",
    "sampling_factor",
    "sharpness",
    "spectral_radius",
    "spectral_radius_curve",
    "stability_operator",
    "threshold_curve",
    "threshold_upper_bounds",
    "escape_explorer",
    "gd_explorer",
    "region_explorer",
    "simulation_explorer",
    "threshold_explorer",
]
