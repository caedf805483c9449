"""Figures of SGD leaving sharp minima (notebook 02): the 1-D escape toy and the u·v valley."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from alignkit.device import to_numpy
from alignkit.plotting import COLORS, apply_traces, base_layout, finish
from alignkit.stability.network_escape import NetworkEscape
from alignkit.stability.toys import EscapeRun, UVRun, escape_toy_losses, uv_data

__all__ = ["plot_escape", "update_escape", "plot_uv_valley", "plot_network_escape"]

_GRID = torch.linspace(-0.6, 1.6, 221, dtype=torch.float64)
_LANDSCAPE = escape_toy_losses(_GRID).mean(0)
_BIN_EDGES = np.linspace(-0.6, 1.6, 45)  # 44 bins of width 0.05 over the plotted range
_BIN_CENTRES = 0.5 * (_BIN_EDGES[:-1] + _BIN_EDGES[1:])


def _escape_traces(run: EscapeRun) -> dict[str, dict[str, object]]:
    final = to_numpy(run.path[~run.diverged, -1])
    counts, _ = np.histogram(final, bins=_BIN_EDGES)  # binned here: bars move without a redraw
    steps = np.arange(run.path.shape[1])
    near0, near1 = to_numpy(run.fraction_near(0.0)), to_numpy(run.fraction_near(1.0))
    lost = float(run.diverged.double().mean())
    title = (
        f"η = {run.lr:.3g}, B = {run.batch_size}: after {steps[-1]} steps {100 * near0[-1]:.0f}%"
        f" of runs at x = 0, {100 * near1[-1]:.0f}% still at x = 1, {100 * lost:.0f}% diverged"
    )
    return {
        # as a share of all runs, on a fixed axis (as the right panel): comparable across
        # settings, and a move only moves the bars
        "final positions": {
            "x": _BIN_CENTRES,
            "y": counts / run.path.shape[0],
            "customdata": counts,
        },
        "near x = 0 (flat, uniform)": {"x": steps, "y": near0},
        "near x = 1 (sharp for sample 2)": {"x": steps, "y": near1},
        "_layout": {"title.text": title},
    }


def plot_escape(
    run: EscapeRun, *, title: str | None = None, width: int | None = 900, height: int = 420
) -> go.Figure:
    """Left: the loss L(x) and where the runs end. Right: fraction of runs near each minimum."""
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=("loss and final positions", "where the runs are"),
        specs=[[{"secondary_y": True}, {}]],
    )  # fmt: skip
    fig.add_trace(
        go.Scatter(name="loss L(x) = (f₁ + f₂)/2", x=to_numpy(_GRID), y=to_numpy(_LANDSCAPE),
                   mode="lines", line={"color": COLORS["neutral"]}),
        row=1, col=1,
    )  # fmt: skip
    fig.add_trace(
        go.Bar(name="final positions", marker={"color": COLORS["main"]}, opacity=0.6,
               hovertemplate="x ∈ %{x:.3f} ± 0.025: %{customdata} runs (%{y:.1%})<extra></extra>"),
        row=1, col=1, secondary_y=True,
    )  # fmt: skip
    fig.add_traces(
        [
            go.Scatter(name="near x = 0 (flat, uniform)", mode="lines",
                       line={"color": COLORS["third"], "width": 3}),
            go.Scatter(name="near x = 1 (sharp for sample 2)", mode="lines",
                       line={"color": COLORS["bad"], "width": 3}),
        ],
        rows=[1, 1], cols=[2, 2],
    )  # fmt: skip
    t = _escape_traces(run)
    fig.update_xaxes(title_text="parameter x", range=[-0.6, 1.6], row=1, col=1)
    fig.update_yaxes(title_text="loss", range=[0, 0.3], row=1, col=1, secondary_y=False)
    # its own ticks (an overlaid axis syncs them to the loss axis: 0.17, 0.34, ...)
    fig.update_yaxes(title_text="share of runs ending there", range=[0, 1.02], row=1, col=1,
                     secondary_y=True, showgrid=False, tickmode="linear", dtick=0.2)  # fmt: skip
    fig.update_xaxes(title_text="SGD step", row=1, col=2)
    fig.update_yaxes(title_text="fraction of runs", range=[0, 1.02], row=1, col=2)
    fig.update_layout(bargap=0.05)
    return finish(fig, t, title=title, width=width, height=height, legend_below=True)


def update_escape(fig: go.Figure, run: EscapeRun) -> None:
    apply_traces(fig, _escape_traces(run))


def plot_uv_valley(
    runs: dict[str, UVRun], *, title: str | None = None, width: int | None = 640, height: int = 460
) -> go.Figure:
    """The valley of minima u v = 1, coloured by sharpness, and where each set of runs ends."""
    mean_sq = float((uv_data() ** 2).mean())
    u = np.geomspace(0.2, 5.0, 300)
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(name="minima u v = 1", x=u, y=1 / u, mode="markers",
                   marker={"size": 4, "color": mean_sq * (u**2 + u**-2), "colorscale": "Viridis",
                           "cmax": 12, "cmin": 2,
                           "colorbar": {"title": {"text": "sharpness"}, "x": 1.02}}),
    )  # fmt: skip
    palette = [COLORS["main"], COLORS["second"], COLORS["third"], COLORS["accent"]]
    for k, (name, run) in enumerate(runs.items()):
        ok = ~run.diverged
        fig.add_trace(
            go.Scatter(name=name, x=to_numpy(run.u[ok, -1]), y=to_numpy(run.v[ok, -1]),
                       mode="markers", marker={"size": 7, "color": palette[k % 4], "opacity": 0.7}),
        )  # fmt: skip
    fig.update_xaxes(title_text="u", type="log", range=[np.log10(0.2), np.log10(5)])
    fig.update_yaxes(title_text="v", type="log", range=[np.log10(0.2), np.log10(5)])
    base_layout(fig, title=title or "where SGD ends on the valley of minima", width=width,
                height=height, legend_below=True)  # fmt: skip
    return fig


def plot_network_escape(
    run: NetworkEscape, *, title: str | None = None, width: int | None = 900, height: int = 420
) -> go.Figure:
    """Left: training loss (log) with the GD → SGD switch. Right: the Gauss–Newton matrix
    G's λ_max and ‖G‖_F along the run (G = H only at a global minimum). The default title
    gives the Gauss–Newton thresholds at the switch, or says that the run diverged."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("training loss", "Gauss–Newton curvature"))
    steps = to_numpy(run.checkpoints)
    last = max(int(run.loss.numel()) - 1, 0)
    fig.add_traces(
        [
            go.Scatter(name="loss", y=to_numpy(run.loss), mode="lines",
                       line={"color": COLORS["neutral"]}),
            go.Scatter(name="λ_max(G), Gauss–Newton", x=steps, y=to_numpy(run.sharpness),
                       mode="lines+markers", line={"color": COLORS["main"]}),
            go.Scatter(name="‖G‖_F, Gauss–Newton", x=steps, y=to_numpy(run.frobenius),
                       mode="lines+markers", line={"color": COLORS["second"]}),
            go.Scatter(name="2/η", x=[0, last], y=[2 / run.lr] * 2, mode="lines",
                       line={"color": COLORS["main"], "dash": "dot"}),
        ],
        rows=[1, 1, 1, 1], cols=[1, 2, 2, 2],
    )  # fmt: skip
    if run.switch <= last:
        for col in (1, 2):
            fig.add_vline(
                x=run.switch, line={"color": COLORS["bad"], "dash": "dash"}, row=1, col=col
            )
    fig.update_xaxes(title_text="step (GD, then SGD after the red line)")
    fig.update_yaxes(title_text="loss (log)", type="log", row=1, col=1)
    fig.update_yaxes(title_text="G (= H only at a minimum)", row=1, col=2)
    head = f"GD then SGD with B = {run.batch_size} at η = {run.lr:g}"
    if run.diverged:
        default = (
            f"{head}: DIVERGED at step {run.diverged_step} "
            f"(loss {float(run.loss[-1]):.3g}); curves stop there"
        )
    else:
        default = (
            f"{head}<br>at the switch (loss {run.switch_loss:.1e}, not exactly a minimum), "
            f"Gauss–Newton: SGD η*(B) = {run.sgd_threshold:.3g}, GD 2/λ_max(G) = "
            f"{run.gd_threshold:.3g}"
        )
    base_layout(fig, title=title or default, width=width, height=height, legend_below=True)
    fig.update_layout(title_y=0.96)  # room for the two-line default title
    return fig
