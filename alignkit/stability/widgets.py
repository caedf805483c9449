"""Explorers for theme 1: thin wiring of controls -> compute -> figure via ``alignkit.live``."""

from __future__ import annotations

from collections.abc import Sequence

from alignkit.live import LivePanel, float_slider, int_slider
from alignkit.stability.plots import plot_quadratic_gd, update_quadratic_gd
from alignkit.stability.quadratic import QuadraticRun, gd_quadratic

__all__ = ["gd_explorer"]


def _gd_compute(lr: float, sharpness: float, steps: int) -> QuadraticRun:
    return gd_quadratic(sharpness, lr, steps=steps)


def gd_explorer(
    *, lr: float = 0.3, sharpness: float = 2.0, steps: int = 30, hide: Sequence[str] = ()
) -> LivePanel[QuadraticRun]:
    """Gradient descent on a x²/2 with a learning-rate slider (notebook 00).

    Watch the regimes change at lr = 1/a (oscillation starts) and lr = 2/a (divergence).
    """
    run = gd_quadratic(sharpness, lr, steps=steps)  # validates the arguments
    controls = {
        "lr": float_slider(lr, 0.01, 1.5, 0.01, "learning rate η"),
        "sharpness": float_slider(sharpness, 0.5, 5.0, 0.1, "sharpness a"),
        "steps": int_slider(steps, 1, 100, "steps"),
    }
    return LivePanel(
        controls, _gd_compute, update_quadratic_gd, plot_quadratic_gd(run),
        key="gd_explorer", hide=hide,
    )  # fmt: skip
