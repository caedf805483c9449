"""The headline figure of notebook 02: minima found by SGD against the alignment bound."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from alignkit.device import to_numpy
from alignkit.plotting import COLORS, apply_traces, finish
from alignkit.stability.views import SweepView

__all__ = ["plot_sweep", "update_sweep"]


def _sweep_traces(view: SweepView) -> dict[str, dict[str, object]]:
    x, y = to_numpy(view.x), to_numpy(view.y)
    sel = to_numpy(view.selected)
    lr, b = to_numpy(view.lr), to_numpy(view.batch_size)
    fro = to_numpy(view.frobenius)
    lo = float(min(x.min(), y.min())) / 1.5 if x.size else 0.1
    hi = float(max(x.max(), y.max())) * 1.5 if x.size else 10.0
    text = [f"η={a:.3g}, B={int(c)}" for a, c in zip(lr, b, strict=True)]
    held = "holds" if view.worst_ratio <= 1 else "is VIOLATED"
    title = (
        f"{view.model}: bound {held} at all {x.size} minima found (max ‖H‖_F√μ·η/√B = "
        f"{view.worst_ratio:.3g}); {view.n_diverged} of {view.n_total} runs diverged. "
        f"Highlighted: η = {view.chosen_lr:.3g}, B = {view.chosen_batch}"
    )
    return {
        "minima found by SGD": {
            "x": x,
            "y": y,
            "text": text,
            "marker.color": np.log2(b),
            "customdata": fro,
        },  # fmt: skip
        "bound ‖H‖_F√μ = √B/η": {"x": [lo, hi], "y": [lo, hi]},
        "highlighted (η, B)": {"x": x[sel], "y": y[sel]},
        "‖H‖_F of the minima": {"x": lr, "y": fro, "marker.color": np.log2(b), "text": text},
        "highlighted ‖H‖_F": {"x": lr[sel], "y": fro[sel]},
        "_layout": {"title.text": title},
    }


def plot_sweep(
    view: SweepView, *, title: str | None = None, width: int | None = 980, height: int = 480
) -> go.Figure:
    """Left: ‖H‖_F√μ against √B/η for every minimum found, with the bound y = x.
    Right: ‖H‖_F against η, coloured by batch size (larger η, smaller B: flatter minima)."""
    fig = make_subplots(
        rows=1, cols=2,
        subplot_titles=("alignment bound: stable minima lie below the line",
                        "flatness of the minima found"),
    )  # fmt: skip
    colorbar = {"title": {"text": "log₂ B"}, "x": 1.02}
    fig.add_traces(
        [
            go.Scatter(name="minima found by SGD", mode="markers",
                       marker={"size": 7, "colorscale": "Viridis", "colorbar": colorbar,
                               "opacity": 0.75},
                       hovertemplate="%{text}<br>√B/η=%{x:.3g}<br>‖H‖_F√μ=%{y:.3g}"
                                     "<br>‖H‖_F=%{customdata:.3g}<extra></extra>"),
            go.Scatter(name="bound ‖H‖_F√μ = √B/η", mode="lines",
                       line={"color": COLORS["bad"], "dash": "dash"}),
            go.Scatter(name="highlighted (η, B)", mode="markers",
                       marker={"size": 14, "color": "rgba(0,0,0,0)",
                               "line": {"width": 2, "color": COLORS["second"]}}),
            go.Scatter(name="‖H‖_F of the minima", mode="markers", showlegend=False,
                       marker={"size": 7, "colorscale": "Viridis", "opacity": 0.75},
                       hovertemplate="%{text}<br>‖H‖_F=%{y:.3g}<extra></extra>"),
            go.Scatter(name="highlighted ‖H‖_F", mode="markers", showlegend=False,
                       marker={"size": 14, "color": "rgba(0,0,0,0)",
                               "line": {"width": 2, "color": COLORS["second"]}}),
        ],
        rows=[1, 1, 1, 1, 1], cols=[1, 1, 1, 2, 2],
    )  # fmt: skip
    t = _sweep_traces(view)
    fig.update_xaxes(title_text="√B / η (log)", type="log", row=1, col=1)
    fig.update_yaxes(title_text="‖H‖_F · √μ (log)", type="log", row=1, col=1)
    fig.update_xaxes(title_text="learning rate η (log)", type="log", row=1, col=2)
    fig.update_yaxes(title_text="‖H‖_F at the minimum (log)", type="log", row=1, col=2)
    finish(fig, t, title=title, width=width, height=height, legend_below=True)
    fig.update_layout(margin={"t": 110}, title_font_size=13)
    return fig


def update_sweep(fig: go.Figure, view: SweepView) -> None:
    apply_traces(fig, _sweep_traces(view))
