"""Figures for theme 1 (pure: data in, ``go.Figure`` out; no widgets)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from alignkit.device import to_numpy
from alignkit.plotting import COLORS, apply_traces, finish
from alignkit.stability.quadratic import QuadraticRun, regime

__all__ = ["plot_quadratic_gd", "update_quadratic_gd"]

_X_LIMIT = 2.5
_LOG_RANGE = 16  # the distance panel shows 10⁻¹⁶ … 10¹⁶


def _quadratic_traces(run: QuadraticRun) -> dict[str, dict[str, object]]:
    a = float(run.sharpness[0])
    lr = float(run.lr[0])
    xs = np.linspace(-_X_LIMIT, _X_LIMIT, 201)
    path = to_numpy(run.iterates[0])
    shown = np.clip(path, -1e6, 1e6)
    dist = np.maximum(np.abs(path), 1e-300)
    t = np.arange(path.size)
    title = f"η = {lr:.3g}, 2/a = {2 / a:.3g}: η·a = {lr * a:.3g} (threshold 2) — {regime(a, lr)}"
    off = np.flatnonzero((dist < 10.0**-_LOG_RANGE) | (dist > 10.0**_LOG_RANGE))
    if off.size:  # the panel's fixed range: say where the curve leaves it
        side = "below 10⁻¹⁶" if dist[off[0]] < 1.0 else "above 10¹⁶"
        title += f"; |x_t| is {side}, off the right panel, from step {int(t[off[0]])}"
    return {
        "loss a x²/2": {"x": xs, "y": 0.5 * a * xs**2},
        "GD iterates": {"x": shown, "y": 0.5 * a * shown**2},
        "|x_t|": {"x": t, "y": dist},
        "_layout": {"title.text": title},
    }


def plot_quadratic_gd(
    run: QuadraticRun, *, title: str | None = None, width: int | None = 820, height: int = 440
) -> go.Figure:
    """Gradient descent on a x²/2: iterates on the loss (left), distance |x_t| (right, log).

    Taught in ``notebooks/00_welcome.ipynb``.
    """
    traces = _quadratic_traces(run)
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=("iterates on the loss", "distance to the minimum")
    )
    fig.add_traces(
        [
            go.Scatter(name="loss a x²/2", mode="lines", line={"color": COLORS["neutral"]}),
            go.Scatter(name="GD iterates", mode="lines+markers", line={"color": COLORS["main"]},
                       marker={"size": 6}),
            go.Scatter(name="|x_t|", mode="lines+markers", line={"color": COLORS["second"]},
                       marker={"size": 4}),
        ],
        rows=[1, 1, 1],
        cols=[1, 1, 2],
    )  # fmt: skip
    fig.update_xaxes(title_text="parameter x", range=[-_X_LIMIT, _X_LIMIT], row=1, col=1)
    fig.update_yaxes(title_text="loss f(x)", range=[0, 0.5 * 5.0 * _X_LIMIT**2], row=1, col=1)
    fig.update_xaxes(title_text="step t", row=1, col=2)
    # a fixed 10⁻¹⁶ … 10¹⁶ (float64 precision up): slopes compare across η and a, and a
    # slider move only moves the points; faster convergence or divergence leaves the panel
    fig.update_yaxes(title_text="|x_t − x*| (log scale)", type="log",
                     range=[-_LOG_RANGE, _LOG_RANGE],
                     row=1, col=2)  # fmt: skip
    return finish(fig, traces, title=title, width=width, height=height, legend_below=True)


def update_quadratic_gd(fig: go.Figure, run: QuadraticRun) -> None:
    """Move an existing :func:`plot_quadratic_gd` figure to a new run (traces by name)."""
    apply_traces(fig, _quadratic_traces(run))
