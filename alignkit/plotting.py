"""Shared figure vocabulary: one layout helper for every plot function in the kit."""

from __future__ import annotations

import plotly.graph_objects as go

__all__ = ["base_layout", "apply_traces", "COLORS"]

# Colour-blind-safe (Okabe-Ito); by role, so the same idea has the same colour everywhere.
COLORS = {
    "main": "#0072B2",
    "second": "#D55E00",
    "third": "#009E73",
    "accent": "#CC79A7",
    "neutral": "#7f7f7f",
    "stable": "rgba(0,158,115,0.18)",
    "unstable": "rgba(213,94,0,0.12)",
    "bad": "#b00020",
}


def base_layout(
    fig: go.Figure,
    *,
    title: str | None = None,
    width: int | None = None,
    height: int | None = 420,
) -> go.Figure:
    """Apply the kit's layout (explicit size, white template, legend on top) in place."""
    fig.update_layout(
        template="plotly_white",
        title={
            "text": title or "",
            "x": 0.01,
            "xanchor": "left",
            "y": 0.985,
            "yanchor": "top",
            "font": {"size": 15},
        },  # fmt: skip
        width=width,
        height=height,
        margin={"l": 60, "r": 20, "t": 95, "b": 55},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0.0},
        font={"size": 13},
    )
    return fig


def apply_traces(fig: go.Figure, traces: dict[str, dict[str, object]]) -> None:
    """Set the data of each trace selected by name (the live ``update_*`` functions' core).

    ``traces`` maps a trace ``name`` to the properties to set; the key ``"_layout"``
    holds ``fig.update_layout`` keywords instead.
    """
    for name, props in traces.items():
        if name == "_layout":
            fig.update_layout(**props)
        else:
            fig.update_traces(selector={"name": name}, **props)
