"""Theme 1 figures: functions ``result -> go.Figure`` and ``update(fig, result)``.

No widgets and no global state: the same functions draw the live panels and any static
figure. One module per subject: :mod:`.quadratic` (GD on a quadratic), :mod:`.stability`
(region, ρ(Q) and η*(B), simulation, edge of stability), :mod:`.escape` (escape toy, u·v
valley, network escape), :mod:`.alignment` (noise alignment) and :mod:`.sweep` (the
headline sweep).
"""

from alignkit.stability.plots.alignment import plot_noise_alignment
from alignkit.stability.plots.escape import (
    plot_escape,
    plot_network_escape,
    plot_uv_valley,
    update_escape,
)
from alignkit.stability.plots.quadratic import plot_quadratic_gd, update_quadratic_gd
from alignkit.stability.plots.stability import (
    plot_edge_of_stability,
    plot_region,
    plot_simulation,
    plot_thresholds,
    update_region,
    update_simulation,
    update_thresholds,
)
from alignkit.stability.plots.sweep import plot_sweep, update_sweep

__all__ = [
    "plot_noise_alignment",
    "plot_escape",
    "plot_network_escape",
    "plot_uv_valley",
    "update_escape",
    "plot_quadratic_gd",
    "update_quadratic_gd",
    "plot_edge_of_stability",
    "plot_region",
    "plot_simulation",
    "plot_thresholds",
    "update_region",
    "update_simulation",
    "update_thresholds",
    "plot_sweep",
    "update_sweep",
]
