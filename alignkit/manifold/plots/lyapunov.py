"""Lyapunov vectors against the manifold's tangents (notebook 05)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from alignkit.device import to_numpy
from alignkit.manifold.plots._scene import (
    MANIFOLD_LINE,
    SOLID,
    first_column,
    flat_axes_layout,
    flat_or_solid,
    scene_layout,
)
from alignkit.manifold.views import LyapunovView
from alignkit.plotting import COLORS, apply_traces, finish

__all__ = ["plot_lyapunov", "update_lyapunov"]

SHOWN = 120  # trajectories whose vectors are drawn
_WIDTHS, _SPACING = (0.36, 0.32, 0.32), 0.1  # the columns (make_subplots)
_SCENE_DOMAIN = first_column(_WIDTHS, _SPACING)  # where the scene sits when shown
HALF = 0.18  # half-length of a drawn vector


def _segments(points: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """(n, 3), (n, 3, d) -> (3 n d, 3) segment end points separated by NaN rows."""
    n, _, d = vectors.shape
    out = np.full((n, d, 3, 3), np.nan, dtype=np.float32)
    for j in range(d):  # d ≤ 2: a loop over tangent directions, not samples
        out[:, j, 0] = points - HALF * vectors[:, :, j]
        out[:, j, 1] = points + HALF * vectors[:, :, j]
    return out.reshape(-1, 3)


def _traces(v: LyapunovView) -> dict[str, dict[str, object]]:
    p = to_numpy(v.points)[:SHOWN]
    lyap = _segments(p, to_numpy(v.vectors)[:SHOWN])
    true = _segments(p, to_numpy(v.tangents)[:SHOWN])
    ref = to_numpy(v.outline).astype(np.float32)
    t = to_numpy(v.times)
    ex = to_numpy(v.exponents)
    d, dim = v.intrinsic_dim, ex.shape[1]
    labels = np.array([f"λ{i + 1}" for i in range(dim)])
    idx = np.arange(dim)
    tangent_ix, normal_ix = idx[:d], idx[d:]
    normal_max = float(np.nanmean(ex[:, d:], axis=0).max()) if dim > d else float("nan")
    lost = int(to_numpy(v.analysis.diverged).sum())
    flag = f" — {lost} of {ex.shape[0]} trajectories diverged (left out)" if lost else ""
    pairs = {
        "manifold": {"x": ref[:, 0], "y": ref[:, 1], "z": ref[:, 2]},
        "true tangents": {"x": true[:, 0], "y": true[:, 1], "z": true[:, 2]},
        "Lyapunov vectors": {"x": lyap[:, 0], "y": lyap[:, 1], "z": lyap[:, 2]},
    }
    shown = flat_or_solid(v.base_dim, pairs, _SCENE_DOMAIN)
    return {
        **shown,
        "alignment 90 %": {"x": t, "y": to_numpy(v.alignment_high)},
        "alignment 10 %": {"x": t, "y": to_numpy(v.alignment_low)},
        "alignment (median)": {"x": t, "y": to_numpy(v.alignment_median)},
        "tangent exponents": {
            "x": np.repeat(labels[tangent_ix], ex.shape[0]),
            "y": ex[:, tangent_ix].T.reshape(-1),
        },
        "normal exponents": {
            "x": np.repeat(labels[normal_ix], ex.shape[0]),
            "y": ex[:, normal_ix].T.reshape(-1),
        },
        "_layout": {
            "title.text": (
                f"{v.model} model on {v.manifold}: mean |cos| (top-{d} Lyapunov vectors vs "
                f"tangents) = {v.mean_cosine:.3f} at t = {float(t[-1]):.3g}; largest mean "
                f"normal exponent {normal_max:.2f}{flag}"
            ),
            **shown["_layout"],
        },
    }


def plot_lyapunov(
    view: LyapunovView, *, title: str | None = None, width: int | None = 1100, height: int = 470
) -> go.Figure:
    """Top-d Lyapunov vectors (orange) and true tangents (grey) at the end points, over the
    manifold's outline (light grey) (left),
    alignment (mean principal-angle cosine) over t (middle), exponents by index (right).

    Taught in ``notebooks/05_generative_manifold_alignment.ipynb``.
    """
    fig = make_subplots(
        rows=1, cols=3, column_widths=list(_WIDTHS), horizontal_spacing=_SPACING,
        subplot_titles=("Lyapunov vectors vs tangents", "alignment along the flow",
                        "Lyapunov exponents"),
    )  # fmt: skip
    band = "rgba(0,114,178,0.18)"
    lines = {
        "manifold": {"color": MANIFOLD_LINE, "width": 2},
        "true tangents": {"color": COLORS["neutral"], "width": 7},
        "Lyapunov vectors": {"color": COLORS["second"], "width": 3},
    }
    fig.add_traces(
        [
            *(go.Scatter(name=name, mode="lines", line=line, legendrank=k + 1,
                         hoverinfo="skip" if name == "manifold" else None)
              for k, (name, line) in enumerate(lines.items())),
            go.Scatter(name="alignment 90 %", mode="lines", line={"width": 0},
                       showlegend=False, hoverinfo="skip"),
            go.Scatter(name="alignment 10 %", mode="lines", line={"width": 0}, fill="tonexty",
                       fillcolor=band, showlegend=False, hoverinfo="skip"),
            go.Scatter(name="alignment (median)", mode="lines", line={"color": COLORS["main"]}),
            go.Box(name="tangent exponents", marker={"color": COLORS["third"]},
                   boxpoints=False),
            go.Box(name="normal exponents", marker={"color": COLORS["second"]},
                   boxpoints=False),
        ],
        rows=[1] * 8,
        cols=[1, 1, 1, 2, 2, 2, 3, 3],
    )  # fmt: skip
    fig.add_traces(  # the same three over the first column, for manifolds in R³
        [go.Scatter3d(name=name + SOLID, mode="lines", line=line, scene="scene", legendrank=k + 1,
                      hoverinfo="skip" if name == "manifold" else None)
         for k, (name, line) in enumerate(lines.items())]
    )  # fmt: skip
    fig.update_layout(**flat_axes_layout(), **scene_layout())  # (then shown per manifold)
    fig.update_xaxes(title_text="time t", row=1, col=2)
    fig.update_yaxes(title_text="mean |cos| of principal angles", range=[0, 1.02], row=1, col=2)
    fig.update_yaxes(title_text="finite-time exponent", row=1, col=3)
    return finish(fig, _traces(view), title=title, width=width, height=height, legend_below=True)


def update_lyapunov(fig: go.Figure, view: LyapunovView) -> None:
    """Move an existing :func:`plot_lyapunov` figure to a new view (traces by name)."""
    apply_traces(fig, _traces(view))
