"""Figure of the 2-D Gaussian fits (notebook 03)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from alignkit.divergences.views import Fit2DView
from alignkit.plotting import COLORS, base_layout

__all__ = ["plot_fit2d"]

_CYCLE = [COLORS["main"], COLORS["second"], COLORS["third"], COLORS["accent"]]


def _ellipse(mean: np.ndarray, cov: np.ndarray, radius: float = 2.0) -> np.ndarray:
    vals, vecs = np.linalg.eigh(cov)
    t = np.linspace(0, 2 * np.pi, 100)
    circle = np.stack([np.cos(t), np.sin(t)])
    return mean[:, None] + radius * vecs @ (np.sqrt(np.maximum(vals, 0))[:, None] * circle)


def plot_fit2d(
    view: Fit2DView, *, title: str | None = None, width: int | None = 640, height: int = 560
) -> go.Figure:
    """Target density (contours) and each fit's 2σ ellipse and mean."""
    fig = go.Figure(
        go.Contour(x=view.axis_x, y=view.axis_y, z=view.density, name="target p",
                   colorscale="Greys", showscale=False, contours={"coloring": "fill"},
                   ncontours=12, opacity=0.6)
    )  # fmt: skip
    for s, label in enumerate(view.labels):
        e = _ellipse(view.means[s], view.covariances[s])
        color = _CYCLE[s % len(_CYCLE)]
        flag = " ⚠" if view.diverged[s] else ""
        fig.add_trace(go.Scatter(x=e[0], y=e[1], mode="lines", name=f"{label}{flag}",
                                 line={"color": color, "width": 3}, legendgroup=label))  # fmt: skip
        fig.add_trace(go.Scatter(x=[view.means[s, 0]], y=[view.means[s, 1]], mode="markers",
                                 marker={"color": color, "size": 10}, legendgroup=label,
                                 showlegend=False, name=f"{label} mean"))  # fmt: skip
    fig.update_xaxes(title_text="x₁")
    fig.update_yaxes(title_text="x₂", scaleanchor="x", scaleratio=1)
    base_layout(fig, width=width, height=height)
    fig.update_layout(title_text=title or "2-D: Gaussian fits (2σ ellipses) to a three-mode target")
    return fig
