"""Theme 1: SGD noise alignment and the linear stability of minima."""

from alignkit.stability.quadratic import QuadraticRun, gd_quadratic, regime
from alignkit.stability.widgets import gd_explorer

__all__ = ["QuadraticRun", "gd_quadratic", "regime", "gd_explorer"]
