"""Theme 2 figures: functions ``view -> go.Figure`` and ``update(fig, view)``.

No widgets and no global state: :mod:`.fits` (the fit explorer, all divergences side by
side, the α sweep), :mod:`.catalogue` (generators, the table, the f-distill weighting)
and :mod:`.fits2d` (the 2-D fits); :mod:`.alignment` (the toy LM, notebook 04).
"""

from alignkit.divergences.plots.alignment import plot_alignment, plot_tradeoff, update_alignment
from alignkit.divergences.plots.catalogue import plot_catalogue, plot_table, plot_weighting
from alignkit.divergences.plots.fits import (
    plot_alpha_sweep,
    plot_comparison,
    plot_fit,
    update_fit,
)
from alignkit.divergences.plots.fits2d import plot_fit2d, plot_fit2d_live, update_fit2d

__all__ = [
    "plot_alignment",
    "plot_tradeoff",
    "update_alignment",
    "plot_catalogue",
    "plot_table",
    "plot_weighting",
    "plot_alpha_sweep",
    "plot_comparison",
    "plot_fit",
    "update_fit",
    "plot_fit2d",
    "plot_fit2d_live",
    "update_fit2d",
]
