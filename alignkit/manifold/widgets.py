"""Explorers for theme 3: thin wiring of controls -> view -> figure via ``alignkit.live``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import ipywidgets as W

from alignkit._checks import check_int, check_scalar
from alignkit.live import LivePanel, Progress, check_hide, dropdown, int_slider, selection_slider
from alignkit.manifold.fields import PERTURBATIONS
from alignkit.manifold.manifolds import MANIFOLDS
from alignkit.manifold.plots.lyapunov import plot_lyapunov, update_lyapunov
from alignkit.manifold.plots.sampling import plot_sampling, update_sampling
from alignkit.manifold.views import (
    EPS_GRID,
    MODELS,
    LyapunovView,
    SamplingView,
    lyapunov_view,
    sampling_view,
)

__all__ = ["sampling_explorer", "lyapunov_explorer"]

EPS_MAX = EPS_GRID[-1]  # the ε slider's positions are the ε grid's values, up to EPS_MAX
STEPS_MAX = 100  # the solver-steps slider's range is [1, STEPS_MAX]


def _grid_slider(value: float, description: str) -> W.SelectionSlider:
    """A slider over :data:`EPS_GRID` (styled like the panel's other sliders).

    Its positions are the ε curve's own: a move looks the samples up, nothing is solved.
    """
    value = check_scalar(value, "eps", low=0.0, high=EPS_MAX)
    near = min(EPS_GRID, key=lambda e: abs(e - value))
    if abs(near - value) > 1e-6 * abs(near):  # relative: float32's 0.1 is 0.1, 1e-9 is not 0
        raise ValueError(f"eps must be one of the ε grid's values {list(EPS_GRID)}, got {value!r}")
    return selection_slider(near, list(EPS_GRID), description, fmt="{:g}", name="eps")


def sampling_explorer(
    *,
    manifold: str = "circle2d",
    model: str = "exact",
    perturbation: str = "bias",
    eps: float = 0.5,
    steps: int = 40,
    hide: Sequence[str] = (),
    key: str = "sampling_explorer",
) -> LivePanel[SamplingView]:
    """Samples of an inexact model: pick manifold, model, error kind and size ε (notebook 05).

    Errors of size ε in the velocity (``bias``, ``smooth``) move samples along the manifold
    (the density changes, the distance stays small); noise on the ``weights`` of a trained
    model (at large ε another field, contracting onto a curve far from the data) and
    ``endpoint`` (an error in the predicted clean sample) are counter-examples that leave it.
    ``eps`` one of :data:`~alignkit.manifold.views.EPS_GRID` (0 to 2, the ε slider's
    positions: the ε curve's own samples, so an ε move solves nothing), ``steps`` in [1, 100].
    ``key`` names the panel: re-running a cell with the same key replaces its panel.
    """
    eps_slider = _grid_slider(eps, "error size ε")
    eps = eps_slider.value
    steps = check_int(steps, "steps", low=1, high=STEPS_MAX)
    check_hide(hide, ("manifold", "model", "perturbation", "eps", "steps"))
    controls = {
        "eps": eps_slider,  # the main control first (the static site's frames vary it first)
        "manifold": dropdown(manifold, sorted(MANIFOLDS), "manifold", name="manifold"),
        "model": dropdown(model, MODELS, "model", name="model"),
        "perturbation": dropdown(perturbation, PERTURBATIONS, "error kind", name="perturbation"),
        "steps": int_slider(steps, 1, STEPS_MAX, "solver steps", name="steps"),
    }
    view = sampling_view(manifold, model, perturbation, eps, steps=steps)  # validates the rest
    return LivePanel(
        controls, sampling_view, update_sampling, plot_sampling(view),
        key=key, hide=hide, initial=view, name="sampling_explorer",
        limits={"perturbation": _perturbations_for},  # weight noise needs a trained model
    )  # fmt: skip


def _perturbations_for(state: Mapping[str, Any]) -> tuple[str, ...]:
    """The error kinds the chosen model accepts (the exact field has no weights)."""
    return tuple(p for p in PERTURBATIONS if p != "weights" or state["model"] != "exact")


def lyapunov_explorer(
    *,
    manifold: str = "circle2d",
    model: str = "exact",
    hide: Sequence[str] = (),
    key: str = "lyapunov_explorer",
) -> LivePanel[LyapunovView]:
    """Lyapunov vectors of the sampling flow against the manifold's tangents (notebook 05).

    Built with the exact field's view of every manifold computed (about 50 ms each on a
    laptop CPU), so that a first switch of manifold is a lookup; a trained model's views are
    computed on first use, after its training.
    """
    check_hide(hide, ("manifold", "model"))

    def compute(manifold: str, model: str, progress: Progress | None = None) -> LyapunovView:
        return lyapunov_view(manifold, model, progress=progress)

    controls = {
        "manifold": dropdown(manifold, sorted(MANIFOLDS), "manifold", name="manifold"),
        "model": dropdown(model, MODELS, "model", name="model"),
    }
    view = lyapunov_view(manifold, model)
    if "manifold" not in hide:  # the exact field's views, cached: a first switch is a lookup
        for other in sorted(MANIFOLDS):
            lyapunov_view(other, "exact")
    return LivePanel(
        controls,
        compute,
        update_lyapunov,
        plot_lyapunov(view),
        key=key,
        hide=hide,
        initial=view,
        name="lyapunov_explorer",
    )
