"""Theme 2: f-divergences — mode-seeking vs mass-covering fits, and aligning models.

Layers (the pattern of theme 1):

- compute (torch only, batched, cpu or cuda): :mod:`.catalogue` (the registry of
  generators, limits and exact discrete divergences; the convention D_f(P‖Q) = E_Q[f(p/q)]
  is stated there), :mod:`.mixture` (Gaussian mixtures), :mod:`.fit` (Gaussian fits by
  quadrature, batched over divergences × α × initialisations, and the landscape);
- views: :mod:`.views`, one pure function per explorer;
- figures: :mod:`.plots`;
- widgets: :mod:`.widgets`.
"""

from alignkit.divergences.catalogue import CATALOGUE, LABELS, Divergence, divergence, get, names

__all__ = ["CATALOGUE", "LABELS", "Divergence", "divergence", "get", "names"]
