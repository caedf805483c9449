"""Samples of an inexact model: off the manifold or along it? (notebook 05)."""

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
from alignkit.manifold.views import SamplingView
from alignkit.plotting import COLORS, apply_traces, finish

__all__ = ["plot_sampling", "update_sampling"]

DISTANCE_MAX = 0.3  # colour scale of the distance to the manifold
#: Samples drawn: the first ``DRAWN`` of the view's (i.i.d. draws, so a uniform subset); the
#: title's numbers, the histograms and the curves use them all. Outside fast mode a view holds
#: 1000: plotly.js's script for a live ε move of 1000 coloured points took 37.5 ms against
#: 20.1 ms for 400, and the next frame came 37.8 against 33.3 ms after the move began (one
#: run: ``benchmarks/figure_draw.py``, ``sampling_points``).
DRAWN = 400
_WIDTHS, _SPACING = (0.34, 0.33, 0.33), 0.13  # the columns (make_subplots)
#: Where the scene sits when it is shown: the first column, as make_subplots lays it out.
_SCENE_DOMAIN = first_column(_WIDTHS, _SPACING)


def _traces(v: SamplingView) -> dict[str, dict[str, object]]:
    p = to_numpy(v.points[:DRAWN]).astype(np.float32)
    ref = to_numpy(v.outline).astype(np.float32)
    centres = to_numpy(0.5 * (v.edges[1:] + v.edges[:-1]))
    width = float(v.edges[1] - v.edges[0])
    at = int(np.argmin(np.abs(to_numpy(v.eps_grid) - v.eps)))
    flag = " — some samples diverged (placed at 0)" if v.diverged else ""
    pairs = {
        "manifold": {"x": ref[:, 0], "y": ref[:, 1], "z": ref[:, 2]},
        "samples": {
            "x": p[:, 0],
            "y": p[:, 1],
            "z": p[:, 2],
            "marker.color": to_numpy(v.distance[:DRAWN]).astype(np.float32),
        },
    }
    shown = flat_or_solid(v.base_dim, pairs, _SCENE_DOMAIN)
    return {
        **shown,
        "samples (density)": {"x": centres, "y": to_numpy(v.hist) / width, "width": width},
        "data (density)": {"x": centres, "y": to_numpy(v.hist_true) / width},
        "mean distance": {"x": to_numpy(v.eps_grid), "y": to_numpy(v.distance_curve)},
        "density shift (TV)": {"x": to_numpy(v.eps_grid), "y": to_numpy(v.tv_curve)},
        "this ε": {
            "x": [v.eps, v.eps],
            "y": [v.mean_distance, v.tv],
        },
        "_layout": {
            "title.text": (
                f"{v.model} model on {v.manifold}, {v.perturbation} error ε = {v.eps:.3g}: "
                f"mean distance {v.mean_distance:.3f}, density shift {v.tv:.2f}"
                f" (curve at ε = {float(v.eps_grid[at]):.2g}: {float(v.distance_curve[at]):.3f})"
                f"{flag}"
            ),
            **shown["_layout"],
        },
    }  # fmt: skip


def _samples_title(n: int) -> str:
    drawn = f"{DRAWN} of {n} samples" if n > DRAWN else "samples"
    return f"{drawn} (colour: distance)"


def plot_sampling(
    view: SamplingView, *, title: str | None = None, width: int | None = 1100, height: int = 470
) -> go.Figure:
    """Samples coloured by distance (the first :data:`DRAWN`) over the manifold's outline
    (left; a curve drawn whole, a surface as a wireframe), azimuth density vs the data
    (middle), and mean distance and density shift (total variation of the azimuth
    histogram) vs ε (right).

    A manifold of the plane is drawn on flat axes (SVG: a live ε move recolours and moves
    the points without a redraw), one in R³ in a 3-D scene at the same place
    (:func:`~alignkit.manifold.plots._scene.flat_or_solid`).

    Taught in ``notebooks/05_generative_manifold_alignment.ipynb``.
    """
    fig = make_subplots(
        rows=1, cols=3, column_widths=list(_WIDTHS), horizontal_spacing=_SPACING,
        subplot_titles=(_samples_title(len(view.points)), "density along the manifold",
                        "error size ε"),
    )  # fmt: skip
    marker = {
        "colorscale": "Viridis",
        "cmin": 0.0,
        "cmax": DISTANCE_MAX,
        "colorbar": {
            "title": "dist.",
            "x": _SCENE_DOMAIN["x"][1] + 0.012,
            "len": 0.6,
            "thickness": 10,
        },  # (clear of the middle panel's axis title)
    }
    outline = {"color": MANIFOLD_LINE, "width": 2}
    fig.add_traces(
        [
            go.Scatter(name="manifold", mode="lines", hoverinfo="skip", line=outline,
                       legendrank=1),
            go.Scatter(name="samples", mode="markers", marker={"size": 4, **marker},
                       legendrank=2),
            go.Bar(name="samples (density)", marker={"color": COLORS["main"]}, opacity=0.6),
            go.Scatter(name="data (density)", mode="lines", line={"color": COLORS["second"],
                       "shape": "hvh", "width": 2}),
            go.Scatter(name="mean distance", mode="lines+markers",
                       line={"color": COLORS["main"]}),
            go.Scatter(name="density shift (TV)", mode="lines+markers",
                       line={"color": COLORS["third"], "dash": "dot"}),
            go.Scatter(name="this ε", mode="markers", showlegend=False,
                       marker={"color": COLORS["bad"], "size": 11, "symbol": "circle-open",
                               "line": {"width": 2}}),
        ],
        rows=[1, 1, 1, 1, 1, 1, 1],
        cols=[1, 1, 2, 2, 3, 3, 3],
    )  # fmt: skip
    fig.add_traces(  # the same two over the first column, for manifolds in R³
        [
            go.Scatter3d(name="manifold" + SOLID, mode="lines", hoverinfo="skip", scene="scene",
                         line=outline, legendrank=1),
            go.Scatter3d(name="samples" + SOLID, mode="markers", scene="scene",
                         marker={"size": 2.5, **marker}, legendrank=2),
        ]
    )  # fmt: skip
    fig.update_layout(**flat_axes_layout(), **scene_layout())  # (then shown per manifold)
    fig.update_xaxes(title_text="azimuth φ (rad)", row=1, col=2)
    fig.update_yaxes(title_text="density (1/rad)", rangemode="tozero", row=1, col=2)
    fig.update_xaxes(title_text="error size ε", row=1, col=3)
    fig.update_yaxes(title_text="distance / TV", rangemode="tozero", row=1, col=3)
    return finish(fig, _traces(view), title=title, width=width, height=height, legend_below=True)


def update_sampling(fig: go.Figure, view: SamplingView) -> None:
    """Move an existing :func:`plot_sampling` figure to a new view (traces by name)."""
    apply_traces(fig, _traces(view))
