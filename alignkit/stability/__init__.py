"""Theme 1: SGD noise alignment and the linear stability of minima.

Layers, each importable on its own (the pattern every theme follows):

- compute (torch only, batched, cpu or cuda): :mod:`.theory` (ρ(Q), η*(B)),
  :mod:`.conditions` (p, the 1-D test, the region, upper bounds on η*), :mod:`.secular`
  (top eigenvalue of diagonal + low-rank PSD: the exact fast route for rank-one samples),
  :mod:`.directional` (the per-direction test), :mod:`.simulate` (linearised SGD),
  :mod:`.toys` (escape toy, u·v valley, regression), :mod:`.quadratic`, :mod:`.edge`
  (edge of stability), :mod:`.noise` (noise covariance, alignment factor μ), :mod:`.bound`
  (the ‖H‖_F ≤ √(B/μ)/η bound and its ratio),
  :mod:`.alignment_range` (μ over directions), :mod:`.alignment`, :mod:`.network_escape`,
  :mod:`.models`, :mod:`.minibatch`, :mod:`.sweep` / :mod:`.sweep_record` /
  :mod:`.sweep_result` (batched SGD sweeps; the hand-batched steps in ``_grid_sgd``) and
  :mod:`.sweep_cli` (the precompute command);
- views: :mod:`.views`, one pure function per explorer, control values -> result;
- figures: :mod:`.plots` (a folder: ``result -> go.Figure`` and ``update(fig, result)``);
- widgets: :mod:`.widgets`, thin wiring of controls to a view and a figure through
  :mod:`alignkit.live`.

Curvature tools that are not about stability (Hessian-vector products, Lanczos, power
iteration, Hutchinson) live in :mod:`alignkit.numerics`.
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
