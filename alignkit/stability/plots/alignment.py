"""Figures of SGD noise alignment (notebook 02): noise against curvature, μ over training."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from alignkit.device import to_numpy
from alignkit.plotting import COLORS, base_layout
from alignkit.stability.alignment import AlignmentTrace

__all__ = ["plot_noise_alignment"]


def plot_noise_alignment(
    trace: AlignmentTrace, *, title: str | None = None, width: int | None = 940, height: int = 440
) -> go.Figure:
    """Left: noise variance along each curvature direction (log-log). Right: μ and the
    top-k noise share during training, with the loss."""
    fig = make_subplots(
        rows=1, cols=2, specs=[[{}, {"secondary_y": True}]],
        subplot_titles=("noise variance along curvature directions", "during training"),
    )  # fmt: skip
    lam, var = to_numpy(trace.curvature), to_numpy(trace.noise_variance)
    positive = var > 0
    fig.add_trace(
        go.Scatter(name="eigen-directions u_k of G", x=lam[positive], y=var[positive],
                   mode="markers", marker={"color": COLORS["main"], "size": 6, "opacity": 0.7},
                   hovertemplate="λ_k=%{x:.3g}<br>u_kᵀΣ₁u_k=%{y:.3g}<extra></extra>"),
        row=1, col=1,
    )  # fmt: skip
    fig.add_trace(
        go.Scatter(name="isotropic noise, same total", x=[lam.min(), lam.max()],
                   y=[trace.isotropic_variance] * 2, mode="lines",
                   line={"color": COLORS["neutral"], "dash": "dot"}),
        row=1, col=1,
    )  # fmt: skip
    steps = to_numpy(trace.steps)
    fig.add_traces(
        [
            go.Scatter(name="μ (alignment factor)", x=steps, y=to_numpy(trace.mu),
                       mode="lines+markers", line={"color": COLORS["second"]}),
            go.Scatter(name=f"noise share in top {trace.top_k} directions", x=steps,
                       y=to_numpy(trace.top_share), mode="lines+markers",
                       line={"color": COLORS["third"]}),
            go.Scatter(name=f"isotropic share {trace.top_k}/d", x=[steps[0], steps[-1]],
                       y=[trace.top_k / max(len(lam), 1)] * 2, mode="lines",
                       line={"color": COLORS["third"], "dash": "dot"}),
        ],
        rows=[1, 1, 1], cols=[2, 2, 2],
    )  # fmt: skip
    fig.add_trace(
        go.Scatter(name="training loss (right axis)", x=steps, y=to_numpy(trace.loss),
                   mode="lines", line={"color": COLORS["neutral"]}),
        row=1, col=2, secondary_y=True,
    )  # fmt: skip
    fig.update_xaxes(title_text="curvature λ_k (log)", type="log", row=1, col=1)
    fig.update_yaxes(title_text="noise variance u_kᵀ Σ₁ u_k (log)", type="log", row=1, col=1)
    fig.update_xaxes(title_text="SGD step", row=1, col=2)
    top = float(np.nanmax(np.r_[to_numpy(trace.mu), to_numpy(trace.top_share)]))
    fig.update_yaxes(title_text="μ, share", range=[0, 1.1 * max(top, 0.1)], row=1, col=2,
                     secondary_y=False)  # fmt: skip
    fig.update_yaxes(title_text="loss (log)", type="log", row=1, col=2, secondary_y=True,
                     showgrid=False)  # fmt: skip
    default = (
        f"{trace.model}: η = {trace.lr:g}, B = {trace.batch_size}; "
        f"final μ = {float(trace.mu[-1]):.3g}"
    )
    base_layout(fig, title=title or default, width=width, height=height, legend_below=True)
    return fig
