"""The live panel without a browser: simulated control changes."""

import asyncio
from typing import Any

import ipywidgets as W
import plotly.graph_objects as go
import pytest

from alignkit.live import Interrupted, LivePanel, Progress
from alignkit.stability import gd_explorer


class ManualScheduler:
    """Collects scheduled callbacks; the test decides when they run."""

    def __init__(self) -> None:
        self.queue: list[Any] = []

    def call_later(self, delay: float, fn: Any) -> "ManualScheduler._H":
        handle = self._H(fn)
        self.queue.append(handle)
        return handle

    def run_all(self) -> None:
        while self.queue:
            h = self.queue.pop(0)
            if not h.cancelled:
                h.fn()

    class _H:
        def __init__(self, fn: Any) -> None:
            self.fn, self.cancelled = fn, False

        def cancel(self) -> None:
            self.cancelled = True


def _line_panel(scheduler: Any = None, **kw: Any) -> tuple[LivePanel, list[float]]:
    calls: list[float] = []

    def compute(slope: float) -> list[float]:
        calls.append(slope)
        if slope < 0:
            raise ValueError(f"slope must be >= 0, got {slope}")
        return [slope * x for x in range(5)]

    def update(fig: go.FigureWidget, ys: list[float]) -> None:
        fig.update_traces(selector={"name": "line"}, y=ys)

    fig = go.Figure(go.Scatter(name="line", x=list(range(5)), y=[0] * 5))
    slider = W.FloatSlider(value=1.0, min=-5, max=5)
    panel = LivePanel({"slope": slider}, compute, update, fig, scheduler=scheduler, **kw)
    return panel, calls


def test_change_updates_figure() -> None:
    panel, calls = _line_panel()
    assert list(panel.figure.data[0].y) == [0, 1, 2, 3, 4]
    panel.controls["slope"].value = 2.0
    assert list(panel.figure.data[0].y) == [0, 2, 4, 6, 8]
    assert calls == [1.0, 2.0]
    assert panel.error is None and len(panel.latencies_ms) == 2
    assert all(ms >= 0 for ms in panel.latencies_ms)


def test_error_is_shown_and_panel_recovers() -> None:
    panel, _ = _line_panel()
    panel.controls["slope"].value = -1.0
    assert panel.error == "ValueError: slope must be >= 0, got -1.0"
    assert "slope must be &gt;= 0" in panel.status.value and "#b00020" in panel.status.value
    assert list(panel.figure.data[0].y) == [0, 1, 2, 3, 4]  # last good figure stays
    panel.controls["slope"].value = 3.0
    assert panel.error is None and "#b00020" not in panel.status.value
    assert list(panel.figure.data[0].y) == [0, 3, 6, 9, 12]


def test_burst_with_manual_scheduler_computes_once_on_last_value() -> None:
    sched = ManualScheduler()
    panel, calls = _line_panel(scheduler=sched)
    for i in range(100):
        panel.controls["slope"].value = i / 25
    sched.run_all()
    assert calls == [1.0, 99 / 25]
    assert list(panel.figure.data[0].y)[-1] == pytest.approx(4 * 99 / 25)


def test_burst_on_a_real_event_loop_coalesces() -> None:
    """100 changes, each a separate event-loop turn (like separate comm messages)."""

    async def scenario() -> tuple[LivePanel, list[float]]:
        panel, calls = _line_panel()  # default scheduler: the running loop
        for i in range(100):
            panel.controls["slope"].value = i / 25
            await asyncio.sleep(0)
        await asyncio.sleep(0.1)
        return panel, calls

    panel, calls = asyncio.run(scenario())
    assert len(calls) < 20, f"computed {len(calls)} times for 100 changes"
    assert calls[-1] == 99 / 25
    assert list(panel.figure.data[0].y)[-1] == pytest.approx(4 * 99 / 25)


def test_reset_and_state() -> None:
    panel, calls = _line_panel()
    panel.set_state(slope=2.5)
    assert panel.state == {"slope": 2.5}
    panel.reset()  # back to a computed state: served from the result cache
    assert panel.state == {"slope": 1.0} and calls == [1.0, 2.5]
    assert list(panel.figure.data[0].y) == [0, 1, 2, 3, 4] and panel.stats.cached[-1]
    with pytest.raises(ValueError, match="unknown controls"):
        panel.set_state(nope=1)


def test_same_key_closes_previous_panel() -> None:
    first, calls_first = _line_panel(key="t-key")
    second, _ = _line_panel(key="t-key")
    n = len(calls_first)
    first.controls["slope"].value = 4.0  # closed panel no longer observes its slider
    assert len(calls_first) == n
    assert first.widget.comm is None and first.controls["slope"].comm is None
    second.close()


def test_hide_unknown_control() -> None:
    with pytest.raises(ValueError, match="hide must name controls"):
        _line_panel(hide=("nope",))


def test_progress_and_interrupt() -> None:
    seen: list[float] = []

    def compute(n: int, progress: Progress) -> int:
        for i in range(n):
            progress.update(i + 1, n)
            seen.append(progress.bar.value)
        return n

    fig = go.Figure(go.Scatter(name="s", x=[0], y=[0]))
    panel = LivePanel({"n": W.IntSlider(value=3)}, compute, lambda f, r: None, fig, scheduler=None)
    assert seen == [1, 2, 3] and panel.error is None

    def stopping(n: int, progress: Progress) -> int:
        progress.cancelled = True
        progress.update(0, 1)
        return n

    panel2 = LivePanel({"n": W.IntSlider(value=3)}, stopping, lambda f, r: None, fig)
    assert panel2.error is None and "superseded" in panel2.status.value
    with pytest.raises(Interrupted):
        Progress(W.FloatProgress(), cancelled=True).update(1, 2)


def test_gd_explorer_moves_and_shows_bad_values() -> None:
    panel = gd_explorer(lr=0.3, sharpness=2.0)
    before = list(panel.figure.data[1].x)
    panel.controls["lr"].value = 1.2
    assert list(panel.figure.data[1].x) != before
    assert "diverges" in panel.figure.layout.title.text
    panel.compute = lambda **s: (_ for _ in ()).throw(RuntimeError("boom"))  # type: ignore[assignment]
    panel.controls["lr"].value = 0.5
    assert panel.error == "RuntimeError: boom"
    panel.close()


def test_gd_explorer_bad_arguments() -> None:
    with pytest.raises(ValueError, match="lr must be"):
        gd_explorer(lr=-0.1)


def test_initial_result_is_not_recomputed() -> None:
    calls: list[float] = []

    def compute(slope: float) -> float:
        calls.append(slope)
        return slope

    fig = go.Figure(go.Scatter(name="s", x=[0], y=[0]))
    panel = LivePanel({"slope": W.FloatSlider(value=1.0)}, compute, lambda f, r: None, fig,
                      initial=1.0)  # fmt: skip
    assert calls == [] and panel.result == 1.0
    panel.controls["slope"].value = 2.0
    assert calls == [2.0] and panel.result == 2.0


def test_show_when_hides_a_control_that_would_change_nothing() -> None:
    from alignkit.divergences.widgets import fit_explorer

    panel = fit_explorer(divergence="reverse_kl")
    alpha = panel.controls["alpha"]
    assert alpha.layout.display == "none"  # α means nothing for reverse KL
    panel.set_state(divergence="alpha")
    panel.flush()
    assert alpha.layout.display is None
    before = panel.figure.layout.title.text
    panel.set_state(alpha=2.0)
    panel.flush()
    assert panel.figure.layout.title.text != before  # visible, and it moves the figure
    panel.close()


def test_moving_back_is_served_from_the_cache_and_the_cache_is_bounded() -> None:
    panel, calls = _line_panel(cache_size=2)
    for v in (2.0, 3.0, 2.0):  # 1.0 leaves the 2-entry cache when 3.0 comes in
        panel.controls["slope"].value = v
    assert calls == [1.0, 2.0, 3.0]
    assert list(panel.figure.data[0].y) == [0, 2, 4, 6, 8] and panel.result == [0, 2, 4, 6, 8]
    assert panel.stats.cached == [False, False, False, True]
    assert "(cached)" in panel.status.value
    panel.controls["slope"].value = 1.0  # evicted: computed again
    assert calls == [1.0, 2.0, 3.0, 1.0] and list(panel.figure.data[0].y) == [0, 1, 2, 3, 4]
    assert len(panel.cache) == 2 and panel.cache.hits == 1


def test_cache_off_refresh_and_new_compute_recompute() -> None:
    panel, calls = _line_panel(cache_size=0)
    panel.controls["slope"].value = 2.0
    panel.controls["slope"].value = 1.0
    assert calls == [1.0, 2.0, 1.0] and not any(panel.stats.cached)
    cached, calls2 = _line_panel()
    cached.controls["slope"].value = 2.0
    cached.refresh()  # data behind the panel may have changed: compute again
    assert calls2 == [1.0, 2.0, 2.0]
    cached.compute = lambda slope: [0.0] * 5  # a new compute drops the old results
    cached.controls["slope"].value = 1.0
    assert list(cached.figure.data[0].y) == [0.0] * 5 and calls2 == [1.0, 2.0, 2.0]


def test_errors_are_not_cached() -> None:
    panel, calls = _line_panel()
    panel.controls["slope"].value = -1.0
    panel.controls["slope"].value = 1.0  # cached
    panel.controls["slope"].value = -1.0  # failed before: computed (and fails) again
    assert calls == [1.0, -1.0, -1.0] and panel.error is not None
    with pytest.raises(ValueError, match="cache_size must be"):
        _line_panel(cache_size=-1)


def test_split_package_keeps_every_public_name_at_alignkit_live() -> None:
    import alignkit.live as live

    for name in live.__all__:
        assert getattr(live, name).__module__ == "alignkit.live", name
    from alignkit.live import _OPEN_PANELS, LivePanel  # noqa: F401 - browser tests use both


def test_limits_end_a_slider_where_the_compute_stops_accepting() -> None:
    """B ≤ n without replacement: the B slider ends at n, moves down with n, and set_state
    checks B against the maximum the new state gives (no silent clamp of a requested value)."""
    from alignkit.stability.widgets import threshold_explorer

    panel = threshold_explorer(n=10, batch_size=2)
    b = panel.controls["batch_size"]
    assert b.max == 10  # without replacement (default): B runs to n
    panel.set_state(n=20, batch_size=15)  # both at once: 15 is valid for n = 20
    panel.flush()
    assert (b.value, b.max, panel.error) == (15, 20, None)
    panel.controls["n"].value = 8  # the knob moves down with the end, and the figure redraws
    panel.flush()
    assert (b.value, b.max, panel.error) == (8, 8, None) and panel.state["batch_size"] == 8
    with pytest.raises(ValueError, match=r"batch_size must be an integer in \[1, 5\], got 7"):
        panel.set_state(n=5, batch_size=7)
    assert panel.state["n"] == 8 and b.max == 8  # a refused set_state changes nothing
    panel.set_state(sampling="with replacement")
    panel.flush()
    assert b.max == 20 and panel.error is None
    for value in range(1, 21):  # every position of the slider draws a figure
        b.value = value
        panel.flush()
        assert panel.error is None, (value, panel.error)
    panel.close()


def test_limits_offer_a_dropdown_only_the_options_the_compute_accepts() -> None:
    """Weight noise needs a trained model: with the exact model the option is not offered, a
    value that stops being offered moves to the first option, set_state checks the new state."""
    seen: list[tuple[str, str]] = []

    def compute(model: str, kind: str) -> str:
        if kind == "weights" and model == "exact":
            raise ValueError("weights need a trained model")
        seen.append((model, kind))
        return kind

    panel = LivePanel(
        {"model": W.Dropdown(options=["exact", "flow"], value="flow"),
         "kind": W.Dropdown(options=["bias", "weights", "smooth"], value="weights")},
        compute, lambda f, r: None, go.Figure(), scheduler=None, min_interval_s=0.0,
        limits={"kind": lambda s: [k for k in ("bias", "weights", "smooth")
                                   if k != "weights" or s["model"] != "exact"]},
    )  # fmt: skip
    kind = panel.controls["kind"]
    assert tuple(kind.options) == ("bias", "weights", "smooth")
    panel.controls["model"].value = "exact"
    panel.flush()
    assert tuple(kind.options) == ("bias", "smooth") and kind.value == "bias"
    assert panel.error is None and seen[-1] == ("exact", "bias")
    panel.set_state(kind="smooth")
    panel.controls["model"].value = "flow"  # offered again; the current value is kept
    panel.flush()
    assert tuple(kind.options) == ("bias", "weights", "smooth") and kind.value == "smooth"
    with pytest.raises(ValueError, match=r"kind must be one of \['bias', 'smooth'\]"):
        panel.set_state(model="exact", kind="weights")
    assert panel.state == {"model": "flow", "kind": "smooth"}
    panel.set_state(model="exact", kind="smooth")  # both at once (computed before: cached)
    panel.flush()
    assert panel.error is None and panel.state == {"model": "exact", "kind": "smooth"}
    assert ("exact", "weights") not in seen and panel.stats.cached[-1]
    panel.close()


def test_status_line_goes_out_before_the_figure() -> None:
    # the browser draws a figure's message in one long task: a status line sent after it
    # would change the explorer's output again after the redraw
    panel, _ = _line_panel()
    panel.status.value = ""  # (the same "computed in 0.0 ms" again would send nothing)
    order: list[str] = []
    panel.status.observe(lambda c: order.append("status"), names="value")
    panel.figure.observe(
        lambda c: c["new"] and order.append("figure"),
        names=["_py2js_update", "_py2js_animate", "_py2js_restyle"],
    )
    panel.controls["slope"].value = 2.0
    panel.flush()
    assert order[:2] == ["status", "figure"], order
    assert "computed in" in panel.status.value and panel.error is None


def test_update_called_with_control_values_points_to_set_state() -> None:
    """``panel.update(lr=0.4)`` reads as "set lr": it raised a raw TypeError from the
    explorer's update function; now one that names set_state. update(fig, result) draws."""
    from alignkit.stability.widgets import gd_explorer

    panel = gd_explorer()
    try:
        with pytest.raises(TypeError, match=r"to move the controls use set_state\(lr=0.4\)"):
            panel.update(lr=0.4)
        other = panel.compute(**{**panel.state, "lr": 0.4})
        before = panel.figure.to_json()
        panel.update(panel.figure, other)
        assert panel.figure.to_json() != before
    finally:
        panel.close()
