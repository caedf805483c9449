"""Figures of Gaussian fits to a mixture (notebook 03): the explorer, side by side, α sweep."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from alignkit._raster import (
    KEY_MARGIN,
    add_colour_key,
    cached_grid_image,
    colour_key,
    grid_range,
    hover_grid,
    image_edits,
)
from alignkit.device import to_numpy
from alignkit.divergences.views import LOG_CLIP, ComparisonView, FitView
from alignkit.plotting import COLORS, apply_traces, base_layout, finish, keep_zoom, line_style

__all__ = ["plot_fit", "update_fit", "plot_comparison", "plot_alpha_sweep"]

#: how a fit's title or legend entry flags a fit that is not a minimum (not stationary)
NOT_STATIONARY = " (not converged: not stationary)"

#: the panels' paper domains (the landscape's colour key to its right, its labels in the
#: right margin)
DENSITIES, LANDSCAPE = (0.0, 0.43), (0.53, 0.955)


def _fit_traces(view: FitView) -> dict[str, dict[str, object]]:
    value = "∞" if not math.isfinite(view.value) else f"{view.value:.3g}"
    edge = " (minimum on the grid's edge)" if view.on_edge else ""
    if not math.isfinite(view.value):
        edge += " (D is infinite at the start: no descent, not a fit)"
    elif not view.converged:
        edge += NOT_STATIONARY
    title = (
        f"{view.label} ({view.behaviour}): fit μ = {view.mean:.2f}, σ = {view.std:.2f}, "
        f"D = {value}{edge}"
    )
    f32 = np.float32
    x = view.x.astype(f32)
    points = np.concatenate([view.minima, view.path, [[view.mean, view.std]]])  # (K, 2)
    return {
        "target p": {"x": x, "y": view.target_pdf.astype(f32)},
        "start": {"x": x, "y": view.init_pdf.astype(f32)},
        "fit q": {"x": x, "y": view.fit_pdf.astype(f32)},
        # the landscape is a picture (alignkit._raster): moving the start moves points only
        "log₁₀ D": hover_grid(
            view.log_exact.astype(f32), view.mus.astype(f32), view.sigmas.astype(f32)
        ),  # fmt: skip
        "log₁₀ D colour bar": colour_key(view.log_values, clipped=(-LOG_CLIP, LOG_CLIP)),
        "local minima": {"x": view.minima[:, 0], "y": view.minima[:, 1]},
        "descent": {"x": view.path[:, 0], "y": view.path[:, 1]},
        "end": {"x": [view.mean], "y": [view.std]},
        "_layout": {
            "title.text": title,
            # the landscape's axes fixed at its cells' extent (what plotly's autorange shows),
            # so a move of the start alone moves points instead of redrawing the figure
            "xaxis2.range": grid_range(view.mus, points[:, 0]),
            "yaxis2.range": grid_range(view.sigmas, points[:, 1], log=True),
            **image_edits(_landscape_image(view)),
        },
    }


def _landscape_image(view: FitView) -> dict[str, object]:
    """The landscape's layout image (memoised: built once for the figure and its update)."""
    return cached_grid_image(view.log_values, view.mus, view.sigmas, xref="x2", yref="y2",
                             log_y=True)  # fmt: skip


def plot_fit(
    view: FitView, *, title: str | None = None, width: int | None = 900, height: int = 440
) -> go.Figure:
    """Target and fitted Gaussian (left); the landscape log₁₀ D over (μ, σ) with its local
    minima and the descent from the start (right). Taught in notebook 03."""
    fig = make_subplots(
        rows=1, cols=2, column_widths=[0.5, 0.5], horizontal_spacing=0.1,
        subplot_titles=("densities", "landscape log₁₀ D(P‖N(μ, σ²))"),
    )  # fmt: skip
    fig.add_traces(
        [
            go.Scatter(name="target p", mode="lines", fill="tozeroy",
                       line={"color": COLORS["neutral"]}),
            go.Scatter(name="start", mode="lines", line={"color": COLORS["accent"], "dash": "dot"}),
            go.Scatter(name="fit q", mode="lines", line={"color": COLORS["main"], "width": 3}),
            go.Scatter(name="log₁₀ D", mode="none", showlegend=False,
                       hovertemplate="μ=%{x:.2f}, σ=%{y:.2f}, log₁₀D=%{customdata:.2f}"
                                     "<extra></extra>"),
            go.Scatter(name="local minima", mode="markers",
                       marker={"symbol": "x", "size": 10, "color": "white",
                               "line": {"width": 1, "color": "black"}}),
            go.Scatter(name="descent", mode="lines+markers", marker={"size": 4},
                       line={"color": COLORS["second"]}),
            go.Scatter(name="end", mode="markers",
                       marker={"size": 12, "color": COLORS["second"], "symbol": "star"}),
        ],
        rows=[1, 1, 1, 1, 1, 1, 1], cols=[1, 1, 1, 2, 2, 2, 2],
    )  # fmt: skip
    fig.add_layout_image(**_landscape_image(view))  # (images[0]: the live updates swap it)
    # room for the landscape's colour key on the right (make_subplots: 0..0.45, 0.55..1)
    for k, domain in enumerate((DENSITIES, LANDSCAPE)):
        fig.layout[f"xaxis{k + 1 if k else ''}"].domain = domain
        fig.layout.annotations[k].x = sum(domain) / 2  # the subplot titles, centred again
    add_colour_key(fig, "log₁₀ D colour bar", x=(LANDSCAPE[1] + 0.01, 1.0), y=(0.1, 0.9))
    fig.update_xaxes(title_text="x", row=1, col=1)
    fig.update_yaxes(title_text="density", row=1, col=1)
    # (no grid over the landscape: plotly draws the grid above a layout image)
    fig.update_xaxes(title_text="mean μ", showgrid=False, zeroline=False, row=1, col=2)
    fig.update_yaxes(title_text="std σ (log scale)", type="log", showgrid=False, row=1, col=2)
    traces = _fit_traces(view)
    keep_zoom(fig, traces["_layout"], ("xaxis2", "yaxis2"))
    finish(fig, traces, title=title, width=width, height=height)
    fig.update_layout(margin_r=KEY_MARGIN)
    return fig


def update_fit(fig: go.Figure, view: FitView) -> None:
    """Move a :func:`plot_fit` figure to a new view (traces by name)."""
    traces = _fit_traces(view)
    keep_zoom(fig, traces["_layout"], ("xaxis2", "yaxis2"))
    apply_traces(fig, traces)


def plot_comparison(
    view: ComparisonView, *, start: int = 0, title: str | None = None, width: int | None = 980,
    height: int = 520,
) -> go.Figure:  # fmt: skip
    """Every named catalogue divergence's fit from the same start, one small panel each
    (the α sweep's settings are drawn by :func:`plot_alpha_sweep` instead)."""
    fit = view.fit
    shown = [s for s, (name, _) in enumerate(fit.settings) if name != "alpha"]
    shown = shown or list(range(len(view.labels)))
    n = len(shown)
    cols = 4
    rows = math.ceil(n / cols)
    names = []
    for s in shown:
        label = view.labels[s]
        bad = (
            " ⚠ diverged" if bool(fit.diverged[s, start])
            else " (not converged)" if not bool(fit.converged[s, start]) else ""
        )  # fmt: skip
        names.append(
            f"{label}{bad}<br>μ={float(fit.mean[s, start]):.2f}, σ={float(fit.std[s, start]):.2f}"
        )
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=names, vertical_spacing=0.16)
    x = view.x
    for k, s in enumerate(shown):
        r, c = k // cols + 1, k % cols + 1
        mu, sd = float(fit.mean[s, start]), float(fit.std[s, start])
        q = np.exp(-0.5 * ((x - mu) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))
        fig.add_trace(go.Scatter(x=x, y=view.target_pdf, name="target p", mode="lines",
                                 fill="tozeroy", line={"color": COLORS["neutral"]},
                                 showlegend=k == 0, legendgroup="p"), row=r, col=c)  # fmt: skip
        fig.add_trace(go.Scatter(x=x, y=q, name="fit q", mode="lines",
                                 line={"color": COLORS["main"], "width": 2.5},
                                 showlegend=k == 0, legendgroup="q"), row=r, col=c)  # fmt: skip
    fig.update_annotations(font_size=11)
    for k in range(n):  # axis titles on the outer panels (the inner ones share them)
        r, c = k // cols + 1, k % cols + 1
        if c == 1:
            fig.update_yaxes(title_text="density", row=r, col=c)
        if k + cols >= n:  # nothing below it
            fig.update_xaxes(title_text="x", row=r, col=c)
    base_layout(fig, width=width, height=height, legend_below=False)
    mu0, s0 = (float(v) for v in fit.init[start])
    fig.update_layout(
        title_text=title or f"All divergences from the same start (μ₀ = {mu0:g}, σ₀ = {s0:g})"
    )
    return fig


def plot_alpha_sweep(
    alphas: np.ndarray, stds: np.ndarray, means: np.ndarray, *, title: str | None = None,
    width: int | None = 720, height: int = 400,
) -> go.Figure:  # fmt: skip
    """Fitted σ and |μ| against α (the α slider from locking to covering), one line per start."""
    alphas = to_numpy(alphas)
    stds, means = to_numpy(stds), to_numpy(means)
    fig = make_subplots(rows=1, cols=2, subplot_titles=("fitted σ", "fitted |μ|"))
    for i in range(stds.shape[1]):  # one colour per start in both panels (one legend entry)
        style = line_style(i)
        fig.add_trace(go.Scatter(x=alphas, y=stds[:, i], mode="lines+markers", line=style,
                                 name=f"start {i + 1}", legendgroup=str(i), marker={"size": 4}),
                      row=1, col=1)  # fmt: skip
        fig.add_trace(go.Scatter(x=alphas, y=np.abs(means[:, i]), mode="lines+markers",
                                 name=f"start {i + 1}", legendgroup=str(i), showlegend=False,
                                 line=style, marker={"size": 4}), row=1, col=2)  # fmt: skip
    fig.update_xaxes(title_text="α (0: reverse KL, 1: forward KL)")
    fig.update_yaxes(title_text="σ of the fit", row=1, col=1)
    fig.update_yaxes(title_text="|μ| of the fit", row=1, col=2)
    base_layout(fig, width=width, height=height)
    fig.update_layout(title_text=title or "The α family moves the fit from locking to covering")
    return fig
