"""A live panel computes the slider's next step ahead, while idle, into its result cache."""

from typing import Any

import ipywidgets as W
import plotly.graph_objects as go
import pytest
from test_live import ManualScheduler

from alignkit.live import LivePanel, Progress, dropdown, log_slider, selection_slider
from alignkit.live.prefetch import PREFETCH_MAX_MS, next_value
from alignkit.live.scheduler import ResultCache


def test_next_value_of_each_slider_kind() -> None:
    f = W.FloatSlider(value=0.1, min=0.005, max=0.5, step=0.005)
    assert next_value(f, 0.1, 0.105) == pytest.approx(0.11)
    assert next_value(f, 0.105, 0.1) == pytest.approx(0.095)
    assert next_value(f, 0.1, 0.10500000000000001) == pytest.approx(0.11)  # browser rounding
    assert next_value(f, 0.1, 0.2) is None  # a jump predicts nothing
    assert next_value(f, 0.495, 0.5) is None  # the end
    i = W.IntSlider(value=3, min=1, max=10)
    assert next_value(i, 3, 4) == 5 and isinstance(next_value(i, 3, 4), int)
    assert next_value(i, 2, 1) is None and next_value(i, 9, 10) is None
    g = log_slider(0.2, 0.05, 5.0, "β")  # 20 steps a decade
    nxt = next_value(g, 0.2, 0.2 * 10**0.05)
    assert nxt == pytest.approx(0.2 * 10**0.1)
    assert next_value(g, 5.0 / 10**0.05, 5.0) is None
    s = selection_slider(0.5, [0.125, 0.25, 0.5, 1.0], "η")
    assert next_value(s, 0.25, 0.5) == 1.0 and next_value(s, 0.5, 0.25) == 0.125
    assert next_value(s, 0.5, 1.0) is None and next_value(s, 0.125, 1.0) is None
    assert next_value(dropdown("a", ["a", "b", "c"], "d"), "a", "b") is None


def test_cache_keys_agree_to_twelve_digits() -> None:
    c: ResultCache[int] = ResultCache(4)
    c.put(c.key({"lr": 0.1 + 0.005, "n": 3}), 1)
    assert c.key({"lr": 0.105, "n": 3}) in c
    assert c.get(c.key({"lr": 0.105, "n": 3})) == (True, 1)
    assert c.key({"lr": 0.1051, "n": 3}) not in c


def _panel(
    scheduler: Any, compute: Any = None, **kw: Any
) -> tuple[LivePanel[list[float]], list[float]]:
    calls: list[float] = []

    def line(slope: float) -> list[float]:
        calls.append(slope)
        if slope > 1.25:
            raise ValueError(f"slope must be <= 1.25, got {slope}")
        return [slope * x for x in range(5)]

    def update(fig: go.FigureWidget, ys: list[float]) -> None:
        fig.update_traces(selector={"name": "line"}, y=ys)

    fig = go.Figure(go.Scatter(name="line", x=list(range(5)), y=[0] * 5))
    slider = W.FloatSlider(value=1.0, min=0.0, max=2.0, step=0.1)
    panel = LivePanel({"slope": slider}, compute or line, update, fig, scheduler=scheduler, **kw)
    return panel, calls


def test_one_step_computes_the_next_ahead_and_the_press_is_a_lookup() -> None:
    sched = ManualScheduler()
    panel, calls = _panel(sched)
    panel.controls["slope"].value = 1.1
    sched.run_all()  # the move's compute, then the next step's, ahead
    assert calls[-2:] == [1.1, pytest.approx(1.2)] and panel.ahead.done == 1
    assert list(panel.figure.data[0].y) == pytest.approx([1.1 * x for x in range(5)])
    panel.controls["slope"].value = 1.2000000000000002  # as a browser's step may send it
    n = len(calls)
    sched.run_all()
    assert panel.stats.cached[-1] is True
    assert list(panel.figure.data[0].y) == pytest.approx([1.2 * x for x in range(5)])
    # the next ahead (1.3) raises: nothing cached, no error shown until a press gets there
    assert calls[n:] == [pytest.approx(1.3)] and panel.error is None
    panel.controls["slope"].value = 1.3
    sched.run_all()
    assert panel.error == "ValueError: slope must be <= 1.25, got 1.3"


def test_nothing_ahead_after_a_jump_without_a_loop_or_when_off() -> None:
    sched = ManualScheduler()
    panel, calls = _panel(sched)
    panel.controls["slope"].value = 0.5  # a jump
    sched.run_all()
    assert calls == [1.0, 0.5] and panel.ahead.done == 0  # (1.0: the first drawing)
    plain, calls = _panel(None)  # plain Python: no event loop to run it on
    plain.controls["slope"].value = 1.1
    assert calls == [1.0, 1.1] and plain.ahead.done == 0
    off, calls = _panel(sched, prefetch=False)
    off.controls["slope"].value = 1.1
    sched.run_all()
    off.ahead.after_update(sched)
    sched.run_all()
    assert calls == [1.0, 1.1]
    uncached, calls = _panel(sched, cache_size=0)  # no cache to keep a result in
    uncached.controls["slope"].value = 1.1
    sched.run_all()
    assert calls == [1.0, 1.1] and uncached.ahead.done == 0
    with pytest.raises(TypeError, match="prefetch must be True or False, got 1"):
        _panel(sched, prefetch=1)


def test_a_newer_move_cancels_the_compute_ahead() -> None:
    sched = ManualScheduler()
    panel, calls = _panel(sched)
    panel.controls["slope"].value = 1.1
    sched.queue.pop(0).fn()  # the move's compute; the next step's is now queued
    assert len(sched.queue) == 1
    panel.controls["slope"].value = 1.0  # back one step before it ran (a lookup)
    sched.run_all()
    assert calls == [1.0, 1.1, pytest.approx(0.9)]  # 1.2 never computed


def test_long_or_slow_computes_are_never_done_ahead() -> None:
    sched = ManualScheduler()
    seen: list[float] = []

    def with_progress(slope: float, progress: Progress | None = None) -> list[float]:
        seen.append(slope)
        return [slope] * 5

    panel, _ = _panel(sched, compute=with_progress)
    panel.controls["slope"].value = 1.1
    sched.run_all()
    assert seen == [1.0, 1.1]
    slow, calls = _panel(sched)
    slow.controls["slope"].value = 1.1
    slow.ahead.compute_ms = PREFETCH_MAX_MS + 1  # as if that compute had been slow
    sched.queue.clear()
    slow.ahead.after_update(sched)
    assert sched.queue == []


def test_an_interrupt_during_the_compute_ahead_stops_only_it() -> None:
    sched = ManualScheduler()
    state = {"interrupt": False}

    def line(slope: float) -> list[float]:
        if state["interrupt"]:
            raise KeyboardInterrupt
        return [slope] * 5

    panel, _ = _panel(sched, compute=line)
    panel.controls["slope"].value = 1.1
    sched.queue.pop(0).fn()  # the move's compute
    state["interrupt"] = True
    sched.run_all()  # the compute ahead is interrupted: nothing raised, nothing cached
    assert panel.ahead.done == 0 and panel.error is None
    assert panel.cache.key({"slope": 1.2}) not in panel.cache
