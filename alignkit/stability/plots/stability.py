"""Figures of linear stability (notebook 01): the (a, s) region, ρ(Q) and η*(B), simulations.

Each ``plot_*`` builds a figure with named traces; the matching ``update_*`` moves an
existing figure (a FigureWidget in a live panel) to a new result by trace name.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from alignkit.device import to_numpy
from alignkit.plotting import COLORS, apply_traces, base_layout, finish
from alignkit.stability.edge import EdgeRun
from alignkit.stability.views import RegionView, SimulationView, ThresholdView, ratio_text

__all__ = [
    "plot_region",
    "update_region",
    "plot_thresholds",
    "update_thresholds",
    "plot_simulation",
    "update_simulation",
    "plot_edge_of_stability",
]

A_MAX, S_MAX = 6.0, 4.0  # fixed axes for the 1-D minima so the region visibly reshapes
GLOBAL = "(λ_max(H), s) of Wu, Ma & E: not a test in d > 1"


def _region_axes(view: RegionView) -> tuple[float, float]:
    """Axis ranges: fixed for 1-D minima, else fixed by the minimum's own points (not by η)."""
    if view.exact and view.global_point is None:
        return A_MAX, S_MAX
    pts = to_numpy(view.points)
    a_top, s_top = float(pts[:, 0].max()), float(pts[:, 1].max())
    if view.global_point is not None:
        a_top, s_top = max(a_top, view.global_point[0]), max(s_top, view.global_point[1])
    return 1.5 * a_top, 1.25 * s_top


def _region_traces(view: RegionView) -> dict[str, dict[str, object]]:
    a_max, s_axis = _region_axes(view)
    a = to_numpy(view.a)
    s = np.minimum(to_numpy(view.s_max), s_axis * 1.5)
    edge_a = np.concatenate([a, [a[-1]]])
    edge_s = np.concatenate([s, [0.0]])
    pts = to_numpy(view.points)
    stable = to_numpy(view.stable)
    noise_cap = math.inf if view.p == 0 else 1.0 / (view.lr * math.sqrt(view.p))
    sampling = "with" if view.replacement else "without"
    head = f"η = {view.lr:.3g}, B = {view.batch_size} ({sampling} replacement, n = {view.n}, "
    if view.exact:
        verdict = f"{int(stable.sum())} of {len(stable)} minima stable"
        labels = ["stable" if ok else "unstable" for ok in stable]
    else:
        verdict = (
            f"{int(stable.sum())} of {len(stable)} eigen-directions pass the 1-D test "
            f"(necessary only); exact ρ(Q) = {view.rho:.4g}: "
            f"{'stable' if view.rho <= 1 else 'unstable'}"
        )
        labels = ["passes (necessary)" if ok else "fails: unstable" for ok in stable]
    glob = view.global_point
    return {
        "stable region": {"x": edge_a, "y": edge_s},
        "a = 2/η (GD limit)": {"x": [2 / view.lr] * 2, "y": [0, s_axis]},
        "s = 1/(η√p)": {
            "x": [0, a_max] if math.isfinite(noise_cap) else [],
            "y": [noise_cap] * 2 if math.isfinite(noise_cap) else [],
        },
        "minima (1-D) or directions v": {
            "x": pts[:, 0],
            "y": pts[:, 1],
            "text": [f"{n}: {lab}" for n, lab in zip(view.names, labels, strict=True)],
            "marker.color": [COLORS["third"] if ok else COLORS["bad"] for ok in stable],
            "marker.symbol": ["circle" if ok else "x" for ok in stable],
            "mode": "markers+text" if view.exact else "markers",
        },
        GLOBAL: {"x": [] if glob is None else [glob[0]], "y": [] if glob is None else [glob[1]]},
        "_layout": {
            "title.text": head + f"p = {view.p:.3g}):" + (" " if view.exact else "<br>") + verdict,
            "xaxis.range": [0, a_max],
            "yaxis.range": [0, s_axis],
            "yaxis.title.text": "non-uniformity s" if view.exact else "s_v = std_i vᵀH_i v",
            "xaxis.title.text": "sharpness a" if view.exact else "a_v = vᵀHv",
        },
    }


def plot_region(
    view: RegionView, *, title: str | None = None, width: int | None = 640, height: int = 500
) -> go.Figure:
    """The (a, s) region where the 1-D test (1 − ηa)² + η²p s² ≤ 1 holds, with points.

    For 1-D minima (``view.exact``) the region is exactly the stable set. For the
    eigen-directions of a d-dimensional minimum it is a necessary condition per direction;
    the title then gives the exact ρ(Q), and Wu, Ma & E's (λ_max(H), s) is drawn apart.
    """
    t = _region_traces(view)
    fig = go.Figure()
    fig.add_traces(
        [
            go.Scatter(name="stable region", mode="lines", fill="tozeroy",
                       fillcolor=COLORS["stable"], line={"color": COLORS["third"]},
                       hovertemplate="a=%{x:.3g}, s ≤ %{y:.3g}<extra></extra>"),
            go.Scatter(name="a = 2/η (GD limit)", mode="lines",
                       line={"color": COLORS["main"], "dash": "dash"}),
            go.Scatter(name="s = 1/(η√p)", mode="lines",
                       line={"color": COLORS["second"], "dash": "dot"}),
            go.Scatter(name="minima (1-D) or directions v", mode="markers+text",
                       textposition="top right",
                       marker={"size": 13, "line": {"width": 1, "color": "black"}},
                       hovertemplate="%{text}<br>a=%{x:.3g}, s=%{y:.3g}<extra></extra>"),
            go.Scatter(name=GLOBAL, mode="markers",
                       marker={"size": 13, "symbol": "diamond-open", "color": COLORS["neutral"]},
                       hovertemplate="λ_max(H)=%{x:.3g}, s=%{y:.3g}<extra></extra>"),
        ]
    )  # fmt: skip
    # five long legend entries: below the plot (on top they took five rows, into the title)
    return finish(fig, t, title=title, width=width, height=height, legend_below=True)


def update_region(fig: go.Figure, view: RegionView) -> None:
    apply_traces(fig, _region_traces(view))


def _threshold_traces(view: ThresholdView) -> dict[str, dict[str, object]]:
    lrs = to_numpy(view.lrs)
    sizes = to_numpy(view.batch_sizes)
    sampling = "with" if view.replacement else "without"
    radius = to_numpy(view.radius)
    return {
        "ρ(Q(η))": {"x": lrs, "y": radius},
        "ρ = 1": {"x": [lrs[0], lrs[-1]], "y": [1, 1]},
        "η* (this B)": {"x": [view.threshold] * 2, "y": [radius.min(), radius.max()]},
        "η*(B)": {"x": sizes, "y": to_numpy(view.threshold_curve)},
        "2/λ_max(H) (GD)": {"x": [sizes[0], sizes[-1]], "y": [view.gd_threshold] * 2},
        "bound: top direction": {"x": sizes, "y": to_numpy(view.bound_directional)},
        "bound: trace": {"x": sizes, "y": to_numpy(view.bound_trace)},
        "current B": {"x": [view.batch_size], "y": [view.threshold]},
        "_layout": {
            "title.text": f"B = {view.batch_size} ({sampling} replacement): "
            f"η* = {view.threshold:.4g}, GD limit 2/λ_max = {view.gd_threshold:.4g}",
            "yaxis.range": _log_range(*view.radius_range),  # every B's ρ: still as B moves
        },
    }


def _log_range(lo: float, hi: float, pad: float = 0.05) -> list[float]:
    """A log axis' range (log10 units) over [lo, hi], ``pad`` of the span each side."""
    a, b = math.log10(lo), math.log10(hi)
    return [a - pad * (b - a), b + pad * (b - a)]


def plot_thresholds(
    view: ThresholdView, *, title: str | None = None, width: int | None = 900, height: int = 500
) -> go.Figure:
    """Left: ρ(Q) against η for one B (stable below 1). Right: η*(B) with two upper bounds."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("spectral radius of Q", "threshold η*(B)"))
    c = COLORS
    fig.add_traces(
        [
            go.Scatter(name="ρ(Q(η))", mode="lines", line={"color": c["main"]}),
            go.Scatter(name="ρ = 1", mode="lines", line={"color": c["neutral"], "dash": "dot"}),
            go.Scatter(name="η* (this B)", mode="lines", line={"color": c["second"]}),
            go.Scatter(name="η*(B)", mode="lines+markers", line={"color": c["second"]}),
            go.Scatter(name="2/λ_max(H) (GD)", mode="lines",
                       line={"color": c["main"], "dash": "dash"}),
            go.Scatter(name="bound: top direction", mode="lines",
                       line={"color": c["accent"], "dash": "dot"}),
            go.Scatter(name="bound: trace", mode="lines",
                       line={"color": c["third"], "dash": "dot"}),
            go.Scatter(name="current B", mode="markers",
                       marker={"size": 14, "color": c["second"], "symbol": "diamond"}),
        ],
        rows=[1, 1, 1, 1, 1, 1, 1, 1],
        cols=[1, 1, 1, 2, 2, 2, 2, 2],
    )  # fmt: skip
    t = _threshold_traces(view)
    fig.update_xaxes(title_text="learning rate η", row=1, col=1)
    fig.update_yaxes(title_text="ρ(Q) (log scale)", type="log", row=1, col=1)
    fig.update_xaxes(title_text="batch size B", row=1, col=2)
    fig.update_yaxes(title_text="largest stable η", row=1, col=2)
    return finish(fig, t, title=title, width=width, height=height, legend_below=True)


def update_thresholds(fig: go.Figure, view: ThresholdView) -> None:
    apply_traces(fig, _threshold_traces(view))


def _simulation_traces(view: SimulationView) -> dict[str, dict[str, object]]:
    run = view.run
    steps = np.arange(run.sq_dist.shape[-1])
    floor = 1e-30
    runs = to_numpy(run.sq_dist[0, : view.shown]).clip(floor, None)
    xs = np.concatenate([np.append(steps, np.nan)] * view.shown)
    ys = np.concatenate([np.append(r, np.nan) for r in runs])
    frac = float(run.diverged[0].double().mean())
    return {
        "single runs": {"x": xs, "y": ys},
        "mean over seeds (theory's E‖x‖²)": {
            "x": steps,
            "y": to_numpy(run.mean[0]).clip(floor, None),
        },  # fmt: skip
        "median over seeds (typical run)": {
            "x": steps,
            "y": to_numpy(run.median[0]).clip(floor, None),
        },  # fmt: skip
        "_layout": {
            "title.text": f"η = {view.lr:.3g}, B = {view.batch_size}, η* = {view.threshold:.3g} — "
            f"{ratio_text(view.lr, view.threshold)}; {100 * frac:.0f}% of runs blew up"
        },
    }


def plot_simulation(
    view: SimulationView, *, title: str | None = None, width: int | None = 720, height: int = 420
) -> go.Figure:
    """Squared distance to the minimum along linearised SGD runs: single runs, mean, median."""
    fig = go.Figure()
    fig.add_traces(
        [
            go.Scatter(name="single runs", mode="lines",
                       line={"color": "rgba(127,127,127,0.35)", "width": 1}),
            go.Scatter(name="mean over seeds (theory's E‖x‖²)", mode="lines",
                       line={"color": COLORS["second"], "width": 3}),
            go.Scatter(name="median over seeds (typical run)", mode="lines",
                       line={"color": COLORS["main"], "width": 3, "dash": "dash"}),
        ]
    )  # fmt: skip
    t = _simulation_traces(view)
    fig.update_xaxes(title_text="SGD step t")
    fig.update_yaxes(title_text="‖x_t‖² / ‖x_0‖² (log scale)", type="log", range=[-12, 12])
    return finish(fig, t, title=title, width=width, height=height)


def update_simulation(fig: go.Figure, view: SimulationView) -> None:
    apply_traces(fig, _simulation_traces(view))


def plot_edge_of_stability(
    runs: list[EdgeRun], *, title: str | None = None, width: int | None = 900, height: int = 420
) -> go.Figure:
    """Sharpness against GD step with each run's 2/η (left), and the training loss (right)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("sharpness λ_max(H)", "training loss"))
    palette = [COLORS["main"], COLORS["second"], COLORS["third"], COLORS["accent"]]
    for k, run in enumerate(runs):
        colour = palette[k % len(palette)]
        steps = to_numpy(run.checkpoints)
        fig.add_trace(
            go.Scatter(name=f"η = {run.lr:g}", x=steps, y=to_numpy(run.sharpness),
                       mode="lines+markers", line={"color": colour}, legendgroup=str(k)),
            row=1, col=1,
        )  # fmt: skip
        fig.add_trace(
            go.Scatter(name=f"2/η = {2 / run.lr:.3g}", x=[0, steps[-1]], y=[2 / run.lr] * 2,
                       mode="lines", line={"color": colour, "dash": "dash"}, legendgroup=str(k)),
            row=1, col=1,
        )  # fmt: skip
        fig.add_trace(
            go.Scatter(name=f"loss, η = {run.lr:g}", y=to_numpy(run.loss), mode="lines",
                       line={"color": colour}, legendgroup=str(k), showlegend=False),
            row=1, col=2,
        )  # fmt: skip
    fig.update_xaxes(title_text="GD step", row=1, col=1)
    fig.update_yaxes(title_text="λ_max(H)", row=1, col=1)
    fig.update_xaxes(title_text="GD step", row=1, col=2)
    fig.update_yaxes(title_text="loss (log scale)", type="log", row=1, col=2)
    base_layout(fig, title=title or "gradient descent at the edge of stability", width=width,
                height=height)  # fmt: skip
    fig.update_layout(legend={"orientation": "v", "x": 1.02, "y": 1.0, "yanchor": "top"})
    return fig
