"""Explorers for theme 3: thin wiring of controls -> view -> figure via ``alignkit.live``."""

from __future__ import annotations

from collections.abc import Sequence

from alignkit.live import LivePanel, Progress, dropdown, float_slider, int_slider
from alignkit.manifold.fields import PERTURBATIONS
from alignkit.manifold.manifolds import MANIFOLDS
from alignkit.manifold.plots.lyapunov import plot_lyapunov, update_lyapunov
from alignkit.manifold.plots.sampling import plot_sampling, update_sampling
from alignkit.manifold.views import MODELS, LyapunovView, SamplingView, lyapunov_view, sampling_view

__all__ = ["sampling_explorer", "lyapunov_explorer"]


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

    Errors of size ε in the velocity (``bias``, ``smooth``) or the weights move samples along
    the manifold (the density changes, the distance stays small); ``endpoint`` (an error in
    the predicted clean sample) is the counter-example that leaves it. ``key`` names the
    panel: re-running a cell with the same key replaces its panel.
    """
    view = sampling_view(manifold, model, perturbation, eps, steps=steps)  # validates
    controls = {
        "manifold": dropdown(manifold, sorted(MANIFOLDS), "manifold"),
        "model": dropdown(model, MODELS, "model"),
        "perturbation": dropdown(perturbation, PERTURBATIONS, "error kind"),
        "eps": float_slider(eps, 0.0, 2.0, 0.05, "error size ε"),
        "steps": int_slider(steps, 2, 100, "solver steps"),
    }
    return LivePanel(
        controls, sampling_view, update_sampling, plot_sampling(view),
        key=key, hide=hide, initial=view, name="sampling_explorer",
    )  # fmt: skip


def lyapunov_explorer(
    *,
    manifold: str = "circle2d",
    model: str = "exact",
    hide: Sequence[str] = (),
    key: str = "lyapunov_explorer",
) -> LivePanel[LyapunovView]:
    """Lyapunov vectors of the sampling flow against the manifold's tangents (notebook 05)."""
    view = lyapunov_view(manifold, model)

    def compute(manifold: str, model: str, progress: Progress | None = None) -> LyapunovView:
        return lyapunov_view(manifold, model, progress=progress)

    controls = {
        "manifold": dropdown(manifold, sorted(MANIFOLDS), "manifold"),
        "model": dropdown(model, MODELS, "model"),
    }
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
