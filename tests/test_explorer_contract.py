"""The contract every explorer of every theme keeps (README, "Sharing and teaching").

An explorer ``name_explorer(**controls)`` returns a LivePanel whose key is its name and
whose controls are named like its arguments, so that ``panel.call()`` gives a line that
reproduces the view; and the static (kernel-free) figure builds from it.
"""

from __future__ import annotations

import functools
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


#: a cheap value other than the default for each explorer argument that is not a control
#: (``hide`` and ``key`` aside): a new such argument fails the test below until listed here
_OTHER_VALUE = {
    ("stability.simulation_explorer", "n"): 12,
    ("stability.simulation_explorer", "d"): 10,
    ("stability.simulation_explorer", "seeds"): 16,
    ("stability.simulation_explorer", "steps"): 20,
    ("stability.escape_explorer", "steps"): 10,
    ("stability.escape_explorer", "seeds"): 20,
    ("stability.sweep_explorer", "source"): "precomputed",  # (what "auto" picks on a CPU)
    ("divergences.alignment_explorer", "steps"): 20,
}
#: values above that draw what the defaults draw on a CPU
_SAME_ON_CPU = {("stability.sweep_explorer", "source")}


@pytest.mark.parametrize(("name", "explorer"), EXPLORERS, ids=[n for n, _ in EXPLORERS])
def test_call_passes_the_arguments_that_are_not_controls(
    name: str, explorer: Callable[..., Any]
) -> None:
    """An explorer built with another ``n``, ``seeds``, ``steps``... gives a call that passes
    it, and pasting that call draws the same figure (not the defaults' figure)."""
    params = inspect.signature(explorer).parameters
    panel = explorer()
    controls = set(panel.controls)
    try:
        assert panel.fixed == {}, "at the defaults the call passes the controls only"
    finally:
        panel.close()
    others = [k for k in params if k not in controls and k not in ("hide", "key")]
    missing = [k for k in others if (name, k) not in _OTHER_VALUE]
    assert missing == [], f"list a cheap non-default value of {name}'s {missing} above"
    if not others:
        return
    values = {k: _OTHER_VALUE[name, k] for k in others}
    assert all(values[k] != params[k].default for k in others)
    panel = explorer(**values)
    try:
        call = panel.call()
        for k, v in values.items():
            assert f"{k}={v!r}" in call, call
        again = eval(call, {explorer.__name__: explorer})
        try:
            assert again.call() == call and again.fixed == values
            assert again.figure.to_json() == panel.figure.to_json()
        finally:
            again.close()
        if all((name, k) in _SAME_ON_CPU for k in others):
            return
        default = explorer()
        try:  # (so the figure check above could fail)
            assert default.figure.to_json() != panel.figure.to_json()
        finally:
            default.close()
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


#: controls whose moves train a model or solve a new ε curve (seconds each): not moved here
_SLOW_MOVES = (
    {("manifold.sampling_explorer", c) for c in ("model", "steps", "manifold", "perturbation")}
    | {("manifold.lyapunov_explorer", "model")}
    | {("divergences.alignment_explorer", c) for c in ("alpha", "divergence")}
)


def _ends(widget: Any) -> list[Any]:
    """A control's first and last position (a choice's first and last option)."""
    if getattr(widget, "options", None):
        values = [o[1] if isinstance(o, tuple) else o for o in widget.options]
        return [values[0], values[-1]]
    if hasattr(widget, "min") and hasattr(widget, "max"):
        return [widget.min, widget.max]
    return []


def _batch_edits(fig: Any, update: Callable[[], None]) -> Any:
    """Run ``update`` in a batch; return its edits (copied) after applying them to ``fig``."""
    import copy

    fig._in_batch_mode = True
    try:
        update()
    finally:
        fig._in_batch_mode = False
    edits = copy.deepcopy((dict(fig._batch_trace_edits), dict(fig._batch_layout_edits)))
    restyle, relayout, indexes = fig._build_update_params_from_batch()
    fig.plotly_update(restyle_data=restyle, relayout_data=relayout, trace_indexes=indexes)
    fig._batch_trace_edits.clear()
    fig._batch_layout_edits.clear()
    return edits


@pytest.mark.parametrize(("name", "explorer"), EXPLORERS, ids=[n for n, _ in EXPLORERS])
def test_update_edits_equal_plotly_update_route(
    name: str, explorer: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The explorer's update records the same edits, and leaves the same figure, through
    ``apply_traces``' attribute assignment (``plotting._assign``) as through plotly's
    ``update``: over each control's two ends, there and back."""
    import plotly.graph_objects as go

    from alignkit import plotting

    panel = explorer()
    results = []
    try:
        for arg, widget in panel.controls.items():
            if (name, arg) in _SLOW_MOVES or widget.layout.display == "none":
                continue
            start = widget.value
            for value in _ends(widget):
                widget.value = value
                panel.flush()
                if panel.error is None:  # a combination an explorer refuses (shown in it)
                    results.append(panel.result)
            widget.value = start
            panel.flush()
        base = panel.figure.to_dict()
    finally:
        panel.close()
    assert len(results) >= 2
    fast, plain = go.FigureWidget(base), go.FigureWidget(base)
    fast_assign = plotting._assign
    for result in results + results[::-1]:
        monkeypatch.setattr(plotting, "_assign", lambda obj, changed: obj.update(changed))
        want = _batch_edits(plain, functools.partial(panel.update, plain, result))
        monkeypatch.setattr(plotting, "_assign", fast_assign)
        got = _batch_edits(fast, functools.partial(panel.update, fast, result))
        assert list(got[0]) == list(want[0]) and list(got[1]) == list(want[1])
        pairs = zip(got[0].values(), want[0].values(), strict=True)
        for mine, theirs in ((got[1], want[1]), *pairs):
            assert list(mine) == list(theirs)  # the same keys, in the same order
            for key in theirs:
                assert _same(mine[key], theirs[key]), (name, key)
    drawn = [fast.to_plotly_json(), plain.to_plotly_json()]
    for figure in drawn:
        for trace in figure["data"]:
            trace.pop("uid")
    assert _same(*drawn), name


def _same(a: Any, b: Any) -> bool:
    """Equal values: dicts key by key, lists element by element, arrays with dtype and NaNs."""
    import numpy as np

    if isinstance(a, dict) or isinstance(b, dict):
        return (
            isinstance(a, dict)
            and isinstance(b, dict)
            and a.keys() == b.keys()
            and all(_same(a[k], b[k]) for k in a)
        )
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        x, y = np.asarray(a), np.asarray(b)
        if x.dtype != y.dtype or x.shape != y.shape:
            return False
        return bool(np.array_equal(x, y, equal_nan=x.dtype.kind == "f"))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b) or (a != a and b != b)  # NaN scalars
