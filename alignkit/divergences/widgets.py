"""Explorers for theme 2: thin wiring of controls -> view -> figure via ``alignkit.live``."""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as W

from alignkit.divergences.alignment_rows import AlignmentRows
from alignkit.divergences.catalogue import names
from alignkit.divergences.plots.alignment import plot_alignment, update_alignment
from alignkit.divergences.plots.fits import plot_fit, update_fit
from alignkit.divergences.plots.fits2d import plot_fit2d_live, update_fit2d
from alignkit.divergences.views import TARGETS, AlignmentView, FitView, fit_view
from alignkit.divergences.views_2d import Fit2DView, fit2d_explorer_view
from alignkit.live import (
    LivePanel,
    Progress,
    dropdown,
    float_slider,
    int_slider,
    log_slider,
    non_default,
)

__all__ = ["fit_explorer", "fit_2d_explorer", "alignment_explorer"]


def _compute(
    divergence: str,
    alpha: float,
    n_modes: int,
    separation: float,
    weight: float,
    init_mean: float,
    init_std: float,
) -> FitView:
    return fit_view(
        divergence, alpha, n_modes=n_modes, separation=separation, weight=weight,
        init_mean=init_mean, init_std=init_std,
    )  # fmt: skip


def fit_explorer(
    *,
    divergence: str = "reverse_kl",
    alpha: float = 0.5,
    n_modes: int = 2,
    separation: float = 4.0,
    weight: float = 0.5,
    init_mean: float = 1.0,
    init_std: float = 0.5,
    hide: Sequence[str] = (),
) -> LivePanel[FitView]:
    """One Gaussian fitted to a mixture: pick the divergence (or slide α), move the target
    and the start; the landscape shows every local minimum and where descent ends (notebook 03).

    ``alpha`` is used when ``divergence="alpha"``.
    """
    controls = {
        "divergence": dropdown(divergence, names(), "divergence", name="divergence"),
        "alpha": float_slider(alpha, -3.0, 4.0, 0.05, "α (α family)", name="alpha"),
        "n_modes": int_slider(n_modes, 1, 5, "modes", name="n_modes"),
        "separation": float_slider(separation, 1.0, 8.0, 0.1, "separation", name="separation"),
        "weight": float_slider(weight, 0.05, 0.95, 0.05, "weight, mode 1", name="weight"),
        "init_mean": float_slider(init_mean, -8.0, 8.0, 0.1, "start μ₀", name="init_mean"),
        "init_std": log_slider(init_std, 0.2, 4.0, "start σ₀", name="init_std"),
    }
    view = _compute(divergence, alpha, n_modes, separation, weight, init_mean, init_std)
    return LivePanel(
        controls, _compute, update_fit, plot_fit(view), key="fit_explorer", hide=hide,
        initial=view, show_when={"alpha": ("divergence", ("alpha",))},
    )  # fmt: skip


def _compute_2d(
    divergence: str, alpha: float, separation: float, init_x: float, init_y: float
) -> Fit2DView:
    return fit2d_explorer_view(divergence, alpha, separation=separation, init_x=init_x,
                               init_y=init_y)  # fmt: skip


def fit_2d_explorer(
    *,
    divergence: str = "reverse_kl",
    alpha: float = 0.5,
    separation: float = 4.0,
    init_x: float = 0.5,
    init_y: float = 0.5,
    hide: Sequence[str] = (),
) -> LivePanel[Fit2DView]:
    """A full-covariance Gaussian fitted to the three-mode 2-D target: pick the divergence
    (or slide α), spread the modes, move the start; the figure shows the descent of the
    mean and the fitted 2σ ellipse (notebook 03). ``alpha`` is used when
    ``divergence="alpha"``."""
    controls = {
        "divergence": dropdown(divergence, names(), "divergence", name="divergence"),
        "alpha": float_slider(alpha, -3.0, 4.0, 0.05, "α (α family)", name="alpha"),
        "separation": float_slider(separation, 1.0, 6.0, 0.1, "separation", name="separation"),
        "init_x": float_slider(init_x, -5.0, 5.0, 0.1, "start x₁", name="init_x"),
        "init_y": float_slider(init_y, -5.0, 5.0, 0.1, "start x₂", name="init_y"),
    }
    view = _compute_2d(divergence, alpha, separation, init_x, init_y)
    return LivePanel(
        controls, _compute_2d, update_fit2d, plot_fit2d_live(view), key="fit_2d_explorer",
        hide=hide, initial=view, show_when={"alpha": ("divergence", ("alpha",))},
    )  # fmt: skip


def alignment_explorer(
    *,
    divergence: str = "reverse_kl",
    alpha: float = 0.5,
    beta: float = 0.2,
    target: str = "reward",
    steps: int = 150,
    hide: Sequence[str] = (),
) -> LivePanel[AlignmentView]:
    """Train the toy LM live with f-DPG (exact gradients) for the chosen divergence, β and
    target; the bar shows progress and a newer control value cancels the run (notebook 04).

    A move to a value not trained yet trains that control's row in one batched run (every
    divergence, both targets, or the 25 β or α slider positions nearest;
    :class:`~alignkit.divergences.alignment_rows.AlignmentRows`); moves along the row after
    that are lookups. Built on the reward target with the whole β row at the starting
    values trained (one run of the 41 β positions, and the starting β when it is not one
    of them, as the default 0.2 is not: about 1 s on one core), so moving β from there
    never trains.
    """
    controls = {
        "divergence": dropdown(divergence, names(), "divergence", name="divergence"),
        "alpha": float_slider(alpha, -3.0, 4.0, 0.05, "α (α family)", name="alpha"),
        "beta": log_slider(beta, 0.05, 5.0, "β (reward target)", name="beta"),
        "target": dropdown(target, TARGETS, "target", name="target"),
    }
    rows = AlignmentRows(_positions(controls["alpha"]), _positions(controls["beta"]), steps=steps,
                         first_row=None if "beta" in hide else "beta")  # fmt: skip

    def compute(
        divergence: str, alpha: float, beta: float, target: str, progress: Progress | None = None
    ) -> AlignmentView:
        return rows.view(divergence, alpha, beta, target,
                         None if progress is None else progress.update)  # fmt: skip

    view = compute(divergence, alpha, beta, target)
    return LivePanel(
        controls, compute, update_alignment, plot_alignment(view), key="alignment_explorer",
        hide=hide, initial=view,
        show_when={"alpha": ("divergence", ("alpha",)), "beta": ("target", ("reward",))},
        fixed=non_default(alignment_explorer, steps=steps),
    )  # fmt: skip


def _positions(slider: W.FloatSlider | W.FloatLogSlider) -> list[float]:
    """Every position a slider can take (a log slider's in its base's exponent)."""
    n = round((slider.max - slider.min) / slider.step)
    exps = [slider.min + k * slider.step for k in range(n + 1)]
    if isinstance(slider, W.FloatLogSlider):
        return [slider.base**e for e in exps]
    return exps
