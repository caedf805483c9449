"""The 3-D scene shared by the theme-3 figures, and the flat axes beside it for 2-D manifolds.

A figure that shows manifolds of both kinds holds each drawn thing twice: ``name``, a
``scatter`` on flat axes (``xaxis``/``yaxis``, equal scale), and ``name + SOLID``, a
``scatter3d`` in the scene over the same place. :func:`flat_or_solid` fills the pair for one
manifold: the flat trace for a manifold of the plane (base dimension 2), the 3-D one
otherwise, the other hidden and empty. A 2-D manifold is then drawn in SVG, so a live
panel moves its points without a WebGL redraw (:class:`alignkit.live.redraw.Sender`).
"""

from __future__ import annotations

from typing import Any

_RANGE = [-2.0, 2.0]
#: Colour of the manifold's outline: light grey, under the samples and vectors.
MANIFOLD_LINE = "rgb(190, 190, 190)"
#: Name suffix of a pair's 3-D trace.
SOLID = " (3-D)"
_HIDDEN_SCENE = {"x": [0.0, 0.001], "y": [0.0, 0.001]}  # a flat view's scene: a point, no axes


def scene_layout() -> dict[str, Any]:
    """``fig.update_layout`` keywords for the scene: an oblique, orthographic view, z up.

    The camera is the same for every manifold (a plane's is drawn on the flat axes
    instead): a change of the camera's ``up`` inside a full redraw makes plotly.js turn the
    camera over for about 0.5 s (measured in Chromium: 550 ms of drawing, against 10 ms
    with the same up).
    """
    eye = {"x": 1.0, "y": 1.0, "z": 0.7}
    up = {"x": 0.0, "y": 0.0, "z": 1.0}
    # one tick a unit: plotly's automatic 0.5 steps overlapped in the small oblique scene
    axis = {"range": _RANGE, "showspikes": False, "dtick": 1}
    return {
        "scene.camera": {"eye": eye, "up": up, "projection": {"type": "orthographic"}},
        "scene.xaxis": {**axis, "title": "x"},
        "scene.yaxis": {**axis, "title": "y"},
        "scene.zaxis": {**axis, "title": "z"},
        "scene.aspectmode": "cube",
    }


def first_column(widths: tuple[float, ...], spacing: float) -> dict[str, list[float]]:
    """The first column's domain of ``make_subplots(rows=1, column_widths=widths,
    horizontal_spacing=spacing)``: where the scene sits when it is shown."""
    return {
        "x": [0.0, (1 - (len(widths) - 1) * spacing) * widths[0] / sum(widths)],
        "y": [0.0, 1.0],
    }


def flat_axes_layout() -> dict[str, Any]:
    """``fig.update_layout`` keywords for the flat axes (``xaxis``, ``yaxis``): the scene's
    range, equal scale (the plot area shrinks to a square, not the ranges)."""
    axis = {"range": _RANGE, "dtick": 1, "constrain": "domain", "zeroline": False}
    return {
        "xaxis": {**axis, "title": {"text": "x"}},
        "yaxis": {**axis, "title": {"text": "y"}, "scaleanchor": "x", "scaleratio": 1},
    }


def flat_or_solid(
    base_dim: int, traces: dict[str, dict[str, Any]], domain: dict[str, list[float]]
) -> dict[str, dict[str, Any]]:
    """The pairs' trace edits and the layout edits (``"_layout"``) for one manifold.

    ``traces`` maps a pair's ``name`` to its 3-D props (``x``, ``y``, ``z`` and others);
    ``domain`` is where the scene sits when shown. Base dimension 2: the flat traces get
    ``x``, ``y`` and the other props, the scene shrinks to a hidden point; 3: the 3-D traces
    get them all and the flat axes are hidden.
    """
    flat = base_dim == 2
    out: dict[str, dict[str, Any]] = {}
    for name, props in traces.items():
        planar = {k: v for k, v in props.items() if k != "z"}  # what a flat scatter takes
        shown, hidden = (name, name + SOLID) if flat else (name + SOLID, name)
        out[shown] = {**(planar if flat else props), "visible": True}
        # the other one emptied: every array it holds (points, colours) and hidden
        out[hidden] = {**{k: [] for k in (props if flat else planar)}, "visible": False}
    layout = {
        "xaxis.visible": flat,
        "yaxis.visible": flat,
        "scene.domain": _HIDDEN_SCENE if flat else domain,
        **{f"scene.{a}axis.visible": not flat for a in "xyz"},
    }
    return {**out, "_layout": layout}
