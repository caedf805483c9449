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
    """Left: noise variance per direction in each eigenspace of G against its curvature
    (log-log). Right: μ and the noise share in the top-k eigenspace during training, with
    the isotropic share dim P / rank(G) and the loss. Both panels count directions in the
    range of G (where Σ₁ lives); a diverged run says so in the default title."""
    fig = make_subplots(
        rows=1, cols=2, specs=[[{}, {"secondary_y": True}]],
        subplot_titles=(f"noise vs curvature at step {trace.spectra_step}", "during training"),
    )  # fmt: skip
    lam, var = to_numpy(trace.curvature), to_numpy(trace.noise_variance)
    mult = to_numpy(trace.multiplicity)
    positive = var > 0
    lo, hi = (float(lam.min()), float(lam.max())) if lam.size else (np.nan, np.nan)
    fig.add_trace(
        go.Scatter(name="eigenspaces P_j of G", x=lam[positive], y=var[positive],
                   customdata=mult[positive], mode="markers",
                   marker={"color": COLORS["main"], "size": 7, "opacity": 0.7},
                   hovertemplate="λ_j=%{x:.3g}<br>Tr(P_jΣ₁)/dim P_j=%{y:.3g}"
                                 "<br>dim P_j=%{customdata}<extra></extra>"),
        row=1, col=1,
    )  # fmt: skip
    fig.add_trace(
        go.Scatter(name="isotropic in range(G): Tr(Σ₁)/rank(G)", x=[lo, hi],
                   y=[trace.isotropic_variance] * 2, mode="lines",
                   line={"color": COLORS["neutral"], "dash": "dot"}),
        row=1, col=1,
    )  # fmt: skip
    steps = to_numpy(trace.steps)
    dims = to_numpy(trace.top_dim)
    dim_label = f"{int(dims[-1])}" if dims.size else "?"
    fig.add_traces(
        [
            go.Scatter(name="μ (alignment factor)", x=steps, y=to_numpy(trace.mu),
                       mode="lines+markers", line={"color": COLORS["second"]}),
            go.Scatter(name=f"noise share in the top-{trace.top_k} eigenspace "
                            f"(dim {dim_label}, ties included)", x=steps,
                       y=to_numpy(trace.top_share), mode="lines+markers",
                       line={"color": COLORS["third"]}),
            go.Scatter(name="isotropic share: dim / rank(G)", x=steps,
                       y=to_numpy(trace.isotropic_share), mode="lines",
                       line={"color": COLORS["third"], "dash": "dot"}),
        ],
        rows=[1, 1, 1], cols=[2, 2, 2],
    )  # fmt: skip
    fig.add_trace(
        go.Scatter(name="training loss (right axis)", x=steps, y=to_numpy(trace.loss),
                   mode="lines", line={"color": COLORS["neutral"]}),
        row=1, col=2, secondary_y=True,
    )  # fmt: skip
    fig.update_xaxes(title_text="curvature λ_j (log)", type="log", row=1, col=1)
    fig.update_yaxes(title_text="noise variance per direction (log)", type="log", row=1, col=1)
    fig.update_xaxes(title_text="SGD step", row=1, col=2)
    values = np.r_[to_numpy(trace.mu), to_numpy(trace.top_share), 0.1]
    top = float(np.nanmax(values[np.isfinite(values)]))
    fig.update_yaxes(title_text="μ, share", range=[0, 1.1 * top], row=1, col=2,
                     secondary_y=False)  # fmt: skip
    fig.update_yaxes(title_text="loss (log)", type="log", row=1, col=2, secondary_y=True,
                     showgrid=False, exponentformat="power")  # fmt: skip
    head = f"{trace.model}: η = {trace.lr:g}, B = {trace.batch_size}"
    if trace.diverged:
        default = (
            f"{head}: DIVERGED at step {trace.diverged_step}; "
            f"measured up to step {trace.spectra_step} only"
        )
    else:
        loss = to_numpy(trace.loss)
        default = (
            f"{head}; loss {loss[0]:.3g} → {loss[-1]:.3g}; final μ = {float(trace.mu[-1]):.3g}"
        )
    base_layout(fig, title=title or default, width=width, height=height, legend_below=True)
    return fig
