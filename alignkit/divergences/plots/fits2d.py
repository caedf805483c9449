"""Figures of the 2-D Gaussian fits (notebook 03): several divergences side by side, and the
live 2-D explorer's one fit with its descent."""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go

from alignkit._raster import cached_grid_image, grid_range, hover_grid, image_edits
from alignkit.divergences.plots.fits import NOT_STATIONARY
from alignkit.divergences.views_2d import Fit2DView
from alignkit.plotting import COLORS, apply_traces, base_layout, keep_zoom

__all__ = ["plot_fit2d", "plot_fit2d_live", "update_fit2d"]

_CYCLE = [COLORS["main"], COLORS["second"], COLORS["third"], COLORS["accent"]]


def _ellipse(mean: np.ndarray, cov: np.ndarray, radius: float = 2.0) -> np.ndarray:
    vals, vecs = np.linalg.eigh(cov)
    t = np.linspace(0, 2 * np.pi, 100)
    circle = np.stack([np.cos(t), np.sin(t)])
    return mean[:, None] + radius * vecs @ (np.sqrt(np.maximum(vals, 0))[:, None] * circle)


def _unconverged(view: Fit2DView, s: int) -> str:
    """:data:`NOT_STATIONARY` for a fit that is not a minimum, else ''."""
    if view.converged is None or bool(view.converged[s]):
        return ""
    return NOT_STATIONARY


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
        flag = " ⚠" if view.diverged[s] else _unconverged(view, s)
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


#: the live figure's hover grid (and CSV cells) takes every HOVER_STRIDE-th grid node
HOVER_STRIDE = 2
_TARGET: dict[str, Any] = {"colorscale": "Greys", "opacity": 0.75}  # the target's picture


def _live_traces(view: Fit2DView) -> dict[str, dict[str, object]]:
    mean, cov = view.means[0], view.covariances[0]
    e = _ellipse(mean, cov)
    flag = " ⚠ diverged" if view.diverged[0] else _unconverged(view, 0)
    value = f"{view.values[0]:.3g}" if np.isfinite(view.values[0]) else "∞"
    sd = np.sqrt(np.maximum(np.linalg.eigvalsh(cov), 0.0))
    title = (
        f"{view.labels[0]}: mean ({mean[0]:.2f}, {mean[1]:.2f}), axes σ = {sd[1]:.2f}, "
        f"{sd[0]:.2f}, D = {value}{flag}"
    )
    path = view.paths[0] if view.paths is not None else mean[None]
    start = view.start if view.start is not None else np.full(3, np.nan)
    image = cached_grid_image(view.density, view.axis_x, view.axis_y, **_TARGET)
    points = np.concatenate([e.T, path[:, :2], [start[:2]], [mean]])  # (K, 2)
    k = HOVER_STRIDE
    return {
        "target p": hover_grid(
            view.density[::k, ::k].astype(np.float32),
            view.axis_x[::k].astype(np.float32),
            view.axis_y[::k].astype(np.float32),
        ),  # fmt: skip
        "start": {"x": [start[0]], "y": [start[1]]},
        "descent of the mean": {"x": path[:, 0], "y": path[:, 1]},
        "fit (2σ ellipse)": {"x": e[0], "y": e[1]},
        "fit mean": {"x": [mean[0]], "y": [mean[1]]},
        "_layout": {
            "title.text": title,
            # fixed at the picture's extent (and any point beyond it), so that a move of
            # the start moves points instead of redrawing the figure
            "xaxis.range": grid_range(view.axis_x, points[:, 0]),
            "yaxis.range": grid_range(view.axis_y, points[:, 1]),
            **image_edits(image),
        },
    }


def plot_fit2d_live(view: Fit2DView, *, width: int | None = 640, height: int = 560) -> go.Figure:
    """One fit on the 2-D target: the target density (a picture, :mod:`alignkit._raster`),
    the start, the descent of the mean and the fitted 2σ ellipse (the 2-D explorer of
    notebook 03; :func:`update_fit2d` moves it). Hovering the density shows its value at
    every other grid node (:data:`HOVER_STRIDE`)."""
    fig = go.Figure(
        [
            go.Scatter(name="target p", mode="none", showlegend=False,
                       hovertemplate="x₁=%{x:.2f}, x₂=%{y:.2f}, p=%{customdata:.3g}"
                                     "<extra></extra>"),
            go.Scatter(name="start", mode="markers",
                       marker={"color": COLORS["accent"], "size": 11, "symbol": "x"}),
            go.Scatter(name="descent of the mean", mode="lines",
                       line={"color": COLORS["accent"], "dash": "dot"}),
            go.Scatter(name="fit (2σ ellipse)", mode="lines",
                       line={"color": COLORS["main"], "width": 3}),
            go.Scatter(name="fit mean", mode="markers",
                       marker={"color": COLORS["main"], "size": 10}),
        ]
    )  # fmt: skip
    # (memoised: the update below finds it built)
    fig.add_layout_image(**cached_grid_image(view.density, view.axis_x, view.axis_y, **_TARGET))
    # (no grid: plotly draws it above a layout image)
    fig.update_xaxes(title_text="x₁", showgrid=False, zeroline=False)
    fig.update_yaxes(title_text="x₂", scaleanchor="x", scaleratio=1, showgrid=False,
                     zeroline=False)  # fmt: skip
    base_layout(fig, width=width, height=height)
    update_fit2d(fig, view)
    return fig


def update_fit2d(fig: go.Figure, view: Fit2DView) -> None:
    """Move a :func:`plot_fit2d_live` figure to a new view (traces by name); the axes move
    only when the picture's extent (or a point beyond it) does, so a zoom survives."""
    traces = _live_traces(view)
    keep_zoom(fig, traces["_layout"], ("xaxis", "yaxis"))
    apply_traces(fig, traces)
