"""Theme 2: f-divergences — mode-seeking vs mass-covering fits, and aligning models.

Layers (the pattern of theme 1):

- compute (torch only, batched, cpu or cuda): :mod:`.catalogue` (the registry of
  generators, limits and exact discrete divergences; the convention D_f(P‖Q) = E_Q[f(p/q)]
  is stated there), :mod:`.mixture` (Gaussian mixtures), :mod:`.fit` / :mod:`.fit_2d`
  (Gaussian fits by log-space quadrature, batched over divergences × α × initialisations;
  the quadrature and its closed-form gradient: :mod:`.quadrature`), :mod:`.landscape`
  (the objective over (μ, σ), its local minima, descent on it), :mod:`.toylm` (the
  exactly enumerable toy LM, its targets) and :mod:`.align` (f-DPG exact and sampled,
  f-DPO, metrics; every divergence in one batched run);
- views: :mod:`.views` and :mod:`.views_2d` (the 2-D fits), one pure function per explorer;
- figures: :mod:`.plots`;
- widgets: :mod:`.widgets`.
"""

from alignkit.divergences.catalogue import CATALOGUE, LABELS, Divergence, divergence, get, names
from alignkit.divergences.fit import GaussianFit, fit_gaussian, fit_panel
from alignkit.divergences.mixture import GaussianMixture

__all__ = [
    "CATALOGUE",
    "LABELS",
    "Divergence",
    "divergence",
    "get",
    "names",
    "GaussianFit",
    "GaussianMixture",
    "fit_gaussian",
    "fit_panel",
]
