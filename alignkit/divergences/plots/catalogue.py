"""Figures of the catalogue (notebook 03): generators f(u), the limits table, h(r)."""

from __future__ import annotations

import math

import plotly.graph_objects as go

from alignkit.divergences.views import CatalogueView
from alignkit.plotting import base_layout, line_style

__all__ = ["plot_catalogue", "plot_table", "plot_weighting"]


def _fmt(v: float) -> str:
    return "∞" if math.isinf(v) else f"{v:.3g}"


def plot_catalogue(
    view: CatalogueView, *, title: str | None = None, width: int | None = 720, height: int = 440
) -> go.Figure:
    """Each generator f(u) on (0, 4]: its value at 0 and its slope at ∞ decide the behaviour."""
    fig = go.Figure()
    for k, (label, f) in enumerate(zip(view.labels, view.f, strict=True)):
        fig.add_trace(go.Scatter(x=view.u, y=f, mode="lines", name=label, line=line_style(k)))
    fig.update_xaxes(title_text="u = p/q")
    fig.update_yaxes(title_text="f(u)", range=[-1.2, 4.0])
    base_layout(fig, width=width, height=height, legend_below=True)
    fig.update_layout(title_text=title or "Generators f(u): f(1) = 0, convex")
    return fig


def plot_table(
    view: CatalogueView, *, title: str | None = None, width: int | None = 720, height: int = 360
) -> go.Figure:
    """The table f(0), f′(∞), behaviour, computed from the registry."""
    cells = [
        list(view.labels),
        [_fmt(v) for v in view.f_at_zero],
        [_fmt(v) for v in view.f_prime_at_infinity],
        list(view.behaviour),
    ]
    colors = [["#fde0dd" if "mode" in b else "#ddeeff" if "mass" in b else "#eeeeee"
               for b in view.behaviour]]  # fmt: skip
    fig = go.Figure(
        go.Table(
            header={"values": ["divergence", "f(0)", "f′(∞)", "behaviour"], "align": "left"},
            cells={"values": cells, "align": "left", "fill_color": colors * 4},
        )
    )
    base_layout(fig, width=width, height=height)
    fig.update_layout(
        title_text=title or "f(0) = ∞: mode-seeking · f′(∞) = ∞: mass-covering",
        margin={"t": 60},
    )
    return fig


def plot_weighting(
    view: CatalogueView, *, title: str | None = None, width: int | None = 720, height: int = 440
) -> go.Figure:
    """The f-distill weighting h(r) = r² f″(r) against the density ratio r (log-log)."""
    fig = go.Figure()
    for k, (label, h) in enumerate(zip(view.labels, view.h, strict=True)):
        if (h > 0).any():  # (the same style as in plot_catalogue: k counts every divergence)
            fig.add_trace(go.Scatter(x=view.r, y=h, mode="lines", name=label, line=line_style(k)))
    fig.update_xaxes(title_text="density ratio r = p/q", type="log")
    fig.update_yaxes(title_text="h(r) = r² f″(r)", type="log")
    base_layout(fig, width=width, height=height, legend_below=True)
    fig.update_layout(title_text=title or "Which samples a distillation loss weights up")
    return fig
