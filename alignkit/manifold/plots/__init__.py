"""Theme 3 figures: functions ``view -> go.Figure`` and ``update(fig, view)``.

No widgets and no global state. :mod:`.sampling` (samples coloured by distance, density
along the manifold, distance and density shift vs ε) and :mod:`.lyapunov` (Lyapunov
vectors against the true tangents, alignment over t, exponents).
"""

from alignkit.manifold.plots.lyapunov import plot_lyapunov, update_lyapunov
from alignkit.manifold.plots.sampling import plot_sampling, update_sampling

__all__ = ["plot_sampling", "update_sampling", "plot_lyapunov", "update_lyapunov"]
