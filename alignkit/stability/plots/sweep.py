"""The headline figure of notebook 02: minima found by SGD against the alignment bound.

Left: converged minima at (√B/η, ‖H‖_F √μ_min) with the bound y = x; runs that did not
converge are drawn apart (grey, not minima). Right: which (η, B) survive — every run at
(B, η) marked converged / not converged / diverged, with the exact η*(B) and the η the
μ_min bound allows for the models whose Hessian is constant.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from alignkit._traces import kept_points
from alignkit.device import to_numpy
from alignkit.plotting import COLORS, apply_traces, finish, place_legend, title_y
from alignkit.stability.views import SweepView

__all__ = ["plot_sweep", "update_sweep", "sweep_title"]

_OUTCOMES = ("converged", "not converged", "diverged")


def sweep_title(view: SweepView) -> str:
    """The figure title: counts, and the bound's verdict on converged minima only."""
    counts = (
        f"{view.n_converged} converged, {view.n_not_converged} not converged "
        f"(loss ≥ {view.converged_loss:.0e}), {view.n_diverged} diverged of {view.n_total} runs"
    )
    if view.n_converged == 0:
        return f"{view.model}: no converged minimum to test the bound on ({counts})"
    held = "holds" if view.worst_ratio <= 1 else "is VIOLATED"
    return (
        f"{view.model}: bound with μ_min {held} at all {view.n_converged} converged minima "
        f"(max ‖H‖_F√μ_min·η/√B = {view.worst_ratio:.4f}; with the last iterate's μ: "
        f"{view.worst_ratio_last:.4f})<br>{counts}. "
        f"Highlighted: η = {view.chosen_lr:.3g}, B = {view.chosen_batch}"
    )


def _jitter(lr: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spread the seeds of one (η, B) cell side by side (factor on B, log axis): the k-th of
    a cell's m runs (in order) at B · 2^(((k + 0.5)/m − 0.5)/4)."""
    if b.size == 0:
        return b.copy()
    b_index = np.unique(b, return_inverse=True)[1].reshape(-1)
    cell = np.unique(lr, return_inverse=True)[1].reshape(-1) * (b_index.max() + 1) + b_index
    counts = np.bincount(cell)
    order = np.argsort(cell, kind="stable")  # each cell's runs together, in their order
    rank = np.empty_like(cell)
    rank[order] = np.arange(cell.size) - (np.cumsum(counts) - counts)[cell[order]]
    return b * 2 ** (0.25 * ((rank + 0.5) / counts[cell] - 0.5))


def _sweep_traces(view: SweepView) -> dict[str, dict[str, object]]:
    x, y, ox, oy = (to_numpy(t) for t in (view.x, view.y, view.other_x, view.other_y))
    sel = to_numpy(view.selected)
    lr, b = to_numpy(view.lr), to_numpy(view.batch_size)
    fro, mu_min, mu = to_numpy(view.frobenius), to_numpy(view.mu_min), to_numpy(view.mu)
    both_x, both_y = np.concatenate([x, ox]), np.concatenate([y, oy])
    lo = float(min(both_x.min(), both_y.min())) / 1.5 if both_x.size else 0.1
    hi = float(max(both_x.max(), both_y.max())) * 1.5 if both_x.size else 10.0
    text = [f"η={a:.3g}, B={int(c)}" for a, c in zip(lr, b, strict=True)]
    other_text = [
        f"η={a:.3g}, B={int(c)}: not converged"
        for a, c in zip(to_numpy(view.other_lr), to_numpy(view.other_batch), strict=True)
    ]
    all_lr, all_b, outcome = (to_numpy(t) for t in (view.all_lr, view.all_batch, view.outcome))
    hx, hy = kept_points(x[sel], y[sel])  # (a NaN point when none is converged there)
    spread = _jitter(all_lr, all_b)
    traces: dict[str, dict[str, object]] = {
        "converged minima": {
            "x": x, "y": y, "text": text, "marker.color": np.log2(b) if b.size else [],
            "customdata": np.stack([fro, mu_min, mu], -1) if fro.size else [],
        },
        "not converged (not minima)": {"x": ox, "y": oy, "text": other_text},
        "bound ‖H‖_F√μ_min = √B/η": {"x": [lo, hi], "y": [lo, hi]},
        "highlighted (η, B)": {"x": hx, "y": hy},
    }  # fmt: skip
    for code, name in enumerate(_OUTCOMES):
        pick = outcome == code
        traces[f"runs: {name}"] = {"x": spread[pick], "y": all_lr[pick]}
    chosen = (all_lr == view.chosen_lr) & (all_b == view.chosen_batch)
    traces["highlighted runs"] = {"x": spread[chosen], "y": all_lr[chosen]}
    traces["your (η, B)"] = {"x": [view.requested_batch], "y": [view.requested_lr]}
    traces["exact η*(B) (notebook 01)"] = {
        "x": to_numpy(view.threshold_batch), "y": to_numpy(view.threshold_lr),
    }  # fmt: skip
    traces["largest η the μ_min bound allows"] = {
        "x": to_numpy(view.threshold_batch), "y": to_numpy(view.bound_lr),
    }  # fmt: skip
    traces["_layout"] = {"title.text": sweep_title(view)}
    return traces


def plot_sweep(
    view: SweepView, *, title: str | None = None, width: int | None = 980, height: int = 520
) -> go.Figure:
    """Left: ‖H‖_F√μ_min against √B/η for every converged minimum, with the bound y = x
    (not-converged runs grey, apart). Right: every run at (B, η) by outcome, with the
    exact η*(B) and the μ_min bound's largest η for constant-Hessian models."""
    fig = make_subplots(
        rows=1, cols=2, horizontal_spacing=0.16,
        subplot_titles=("converged minima lie below the line (bound with μ_min)",
                        "which η survive: outcome of every run"),
    )  # fmt: skip
    colorbar = {"title": {"text": "log₂ B"}, "x": 0.42, "len": 0.7, "thickness": 12}
    ring = {"size": 14, "color": "rgba(0,0,0,0)", "line": {"width": 2, "color": COLORS["second"]}}
    marks = {
        "converged": {"symbol": "circle", "color": COLORS["third"]},
        "not converged": {"symbol": "circle-open", "color": COLORS["neutral"]},
        "diverged": {"symbol": "x", "color": COLORS["bad"]},
    }
    fig.add_traces(
        [
            go.Scatter(name="converged minima", mode="markers",
                       marker={"size": 7, "colorscale": "Viridis", "colorbar": colorbar,
                               "opacity": 0.8},
                       hovertemplate="%{text}<br>√B/η=%{x:.3g}<br>‖H‖_F√μ_min=%{y:.3g}"
                                     "<br>‖H‖_F=%{customdata[0]:.3g}, μ_min=%{customdata[1]:.3g},"
                                     " last-iterate μ=%{customdata[2]:.3g}<extra></extra>"),
            go.Scatter(name="not converged (not minima)", mode="markers",
                       marker={"size": 6, "symbol": "circle-open", "color": COLORS["neutral"]},
                       hovertemplate="%{text}<br>√B/η=%{x:.3g}<br>‖H‖_F√μ_min=%{y:.3g}"
                                     "<extra></extra>"),
            go.Scatter(name="bound ‖H‖_F√μ_min = √B/η", mode="lines",
                       line={"color": COLORS["bad"], "dash": "dash"}),
            go.Scatter(name="highlighted (η, B)", mode="markers", marker=ring, showlegend=False),
        ]
        + [
            go.Scatter(name=f"runs: {name}", mode="markers",
                       marker={"size": 6, **marks[name]},
                       hovertemplate=f"{name}<br>B≈%{{x:.3g}}, η=%{{y:.3g}}<extra></extra>")
            for name in _OUTCOMES
        ]
        + [
            go.Scatter(name="highlighted runs", mode="markers", marker=ring, showlegend=False),
            go.Scatter(name="your (η, B)", mode="markers",
                       marker={"size": 13, "symbol": "star", "color": COLORS["second"]},
                       hovertemplate="sliders: B=%{x}, η=%{y:.3g}<br>(the ringed runs are the"
                                     " nearest grid point)<extra></extra>"),
            go.Scatter(name="exact η*(B) (notebook 01)", mode="lines+markers",
                       line={"color": "black"}),
            go.Scatter(name="largest η the μ_min bound allows", mode="lines",
                       line={"color": COLORS["bad"], "dash": "dot"}),
        ],
        rows=[1] * 11, cols=[1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2],
    )  # fmt: skip
    t = _sweep_traces(view)
    fig.update_xaxes(title_text="√B / η (log)", type="log", row=1, col=1)
    fig.update_yaxes(title_text="‖H‖_F · √μ_min (log)", type="log", row=1, col=1)
    fig.update_xaxes(title_text="batch size B (log)", type="log", row=1, col=2)
    fig.update_yaxes(title_text="learning rate η (log)", type="log", row=1, col=2)
    finish(fig, t, title=title, width=width, height=height, legend_below=True)
    text = fig.layout.title.text
    fig.update_layout(margin={"t": 130}, title={"font": {"size": 12}, "y": title_y(text, height)})
    return place_legend(fig)  # the plot area's height changed with the margin


def update_sweep(fig: go.Figure, view: SweepView) -> None:
    """Move the figure to a new view (model or highlighted (η, B))."""
    apply_traces(fig, _sweep_traces(view))
