"""The contract every explorer of every theme keeps (README, "Sharing and teaching").

An explorer ``name_explorer(**controls)`` returns a LivePanel whose key is its name and
whose controls are named like its arguments, so that ``panel.call()`` gives a line that
reproduces the view; and the static (kernel-free) figure builds from it.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

import pytest

from alignkit.live import LivePanel

WIDGET_MODULES = [
    "alignkit.stability.widgets",
    "alignkit.divergences.widgets",
    "alignkit.manifold.widgets",
]


def _explorers() -> list[tuple[str, Callable[..., Any]]]:
    found = []
    for name in WIDGET_MODULES:
        module = importlib.import_module(name)
        for attr in getattr(module, "__all__", dir(module)):
            fn = getattr(module, attr)
            if attr.endswith("_explorer") and inspect.isfunction(fn):
                found.append((f"{name.split('.')[1]}.{attr}", fn))
    return found


EXPLORERS = _explorers()


def test_every_theme_has_explorers() -> None:
    themes = {name.split(".")[0] for name, _ in EXPLORERS}
    assert themes == {"stability", "divergences", "manifold"}, themes


@pytest.mark.parametrize(("name", "explorer"), EXPLORERS, ids=[n for n, _ in EXPLORERS])
def test_call_round_trips_and_static_figure_builds(name: str, explorer: Callable[..., Any]) -> None:
    panel = explorer()
    try:
        assert isinstance(panel, LivePanel)
        assert panel.name == explorer.__name__, "the panel names its explorer (for call())"
        params = inspect.signature(explorer).parameters
        missing = [c for c in panel.controls if c not in params]
        assert missing == [], f"{name} has controls it does not take as arguments: {missing}"
        again = explorer(**eval(panel.call().split("(", 1)[1].join(["dict(", ""]), {}))
        assert again.state == panel.state
        fig = panel.static_figure(budget=4, max_seconds=3.0)
        assert len(fig.frames) >= 1 and fig.layout.meta["alignkit"]["tag"] == panel.key
        # no per-label overflow measurement (each one lays out the whole JupyterLab page)
        axes = [k for k in panel.figure.layout if k.startswith(("xaxis", "yaxis"))]
        assert axes and all(panel.figure.layout[k].ticklabeloverflow == "allow" for k in axes)
    finally:
        panel.close()


def _off_control(widget: Any) -> Any:
    """A value the control cannot show: past a slider's end, or no option of a dropdown."""
    import ipywidgets as W

    if isinstance(widget, W.FloatLogSlider):
        return widget.base ** (widget.max + 1.0)
    if isinstance(widget, (W.IntSlider, W.FloatSlider)):
        return widget.max + 10 * widget.step
    # a choice among options: one of the same type that is not offered (another type is a
    # TypeError, checked by tests/test_bad_input.py)
    values = [o[1] if isinstance(o, tuple) else o for o in widget.options]
    if values and all(isinstance(v, (int, float)) for v in values):
        return max(values) + 1.0
    return "no such option"


@pytest.mark.parametrize(("name", "explorer"), EXPLORERS, ids=[n for n, _ in EXPLORERS])
def test_a_value_off_its_control_is_refused_naming_the_argument(
    name: str, explorer: Callable[..., Any]
) -> None:
    """``explorer(arg=value)`` with a value its control cannot take raises a ValueError that
    names ``arg`` (the argument the user typed), not the slider's label."""
    panel = explorer()
    controls = dict(panel.controls)
    panel.close()
    for arg, widget in controls.items():
        bad = _off_control(widget)
        with pytest.raises(ValueError) as info:
            explorer(**{arg: bad}).close()
        message = str(info.value)
        assert message.startswith(f"{arg} must"), f"{name}({arg}={bad!r}): {message}"
