"""The 3-D scene shared by the theme-3 figures (2-D manifolds are drawn from above)."""

from __future__ import annotations

from typing import Any

_RANGE = [-2.0, 2.0]
#: Colour of the manifold's outline: light grey, under the samples and vectors.
MANIFOLD_LINE = "rgb(190, 190, 190)"


def scene_layout(base_dim: int) -> dict[str, Any]:
    """``fig.update_layout`` keywords for the scene: top view for R², oblique for R³.

    Both keep z as the camera's up: a change of ``up`` inside a full redraw makes plotly.js
    turn the camera over about 0.5 s (measured in Chromium: an update that also moved the
    camera from a y-up to a z-up view kept drawing for 550 ms, one with the same up 10 ms).
    The top view therefore looks down from slightly in front (eye (0, −0.1, 1.2): 4.8° off
    the vertical), which puts +y up on the screen.
    """
    eye = {"x": 0.0, "y": -0.1, "z": 1.2} if base_dim == 2 else {"x": 1.0, "y": 1.0, "z": 0.7}
    up = {"x": 0.0, "y": 0.0, "z": 1.0}
    # one tick a unit: plotly's automatic 0.5 steps overlapped in the small oblique scene
    axis = {"range": _RANGE, "showspikes": False, "dtick": 1}
    return {
        "scene.camera": {"eye": eye, "up": up, "projection": {"type": "orthographic"}},
        "scene.xaxis": {**axis, "title": "x"},
        "scene.yaxis": {**axis, "title": "y"},
        "scene.zaxis": {**axis, "title": "z", "visible": base_dim == 3},
        "scene.aspectmode": "cube",
    }
