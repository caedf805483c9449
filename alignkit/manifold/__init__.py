"""Theme 3: generative manifold alignment — why inexact models still sample on the manifold.

Layers, each importable on its own (the pattern of theme 1):

- compute (torch only, batched, cpu or cuda): :mod:`.manifolds` (circle, helix, torus,
  sphere; isometric embeddings in R^D; analytic distance, projection, tangents; densities),
  :mod:`.model` (the :class:`GenerativeModel` type and its check), :mod:`.exact` (exact
  reference flow of a finite data set), :mod:`.fields` (flow-matching and score models,
  controlled errors ε·δ), :mod:`.training` (conditional flow matching, denoising score
  matching), :mod:`.dynamics` (sampling, Lyapunov exponents/vectors, alignment with the
  true tangents, density shift), :mod:`.subspaces` (principal angles, top singular spans);
- views: :mod:`.views`, one pure function per explorer, control values -> result;
- figures: :mod:`.plots` (a folder: ``result -> go.Figure`` and ``update(fig, result)``);
- widgets: :mod:`.widgets`, thin wiring through :mod:`alignkit.live`.

The batched ODE solvers and the Jacobians through them live in
:mod:`alignkit.numerics.ode`. Taught in ``notebooks/05_generative_manifold_alignment.ipynb``.
"""

from alignkit.manifold.dynamics import (
    LyapunovAnalysis,
    density_shift,
    generate,
    lyapunov_analysis,
    principal_cosines,
)
from alignkit.manifold.fields import PERTURBATIONS, GenerativeModel, exact_model, perturb
from alignkit.manifold.manifolds import MANIFOLDS, Manifold, get_manifold
from alignkit.manifold.training import train_flow_matching, train_score_model

__all__ = [
    "MANIFOLDS",
    "Manifold",
    "get_manifold",
    "PERTURBATIONS",
    "GenerativeModel",
    "exact_model",
    "perturb",
    "train_flow_matching",
    "train_score_model",
    "generate",
    "lyapunov_analysis",
    "LyapunovAnalysis",
    "principal_cosines",
    "density_shift",
]
