"""Which value a live panel computes ahead: the slider's next step the way it last moved.

A student walking a slider with the arrow keys (or dragging it slowly) moves one step at
a time, mostly the same way. Shortly after each redraw (:data:`PREFETCH_DELAY_S`), while
the kernel is idle, the panel's :class:`Prefetcher` computes the result one more step
along and keeps it in the panel's result cache, so the next press is a lookup. Only a move
of exactly one step predicts the next value; a jump, a dropdown or an end of the slider
predicts nothing.
"""

from __future__ import annotations

import math
import time
from typing import Any

import ipywidgets as W

from alignkit.device import torch_threads
from alignkit.live.controls import _pairs
from alignkit.live.scheduler import _Immediate

__all__ = ["next_value", "PREFETCH_MAX_MS", "PREFETCH_DELAY_S"]  # (Prefetcher: LivePanel's)

# A compute is done ahead only while the panel's last compute took at most this long: the
# kernel cannot answer a press while it runs (a press arriving then waits for it).
PREFETCH_MAX_MS = 80.0

# ... and starts this long after the redraw was sent: on a machine with few cores a compute
# started at once slows the browser drawing that very redraw (measured on 2 cores: the 2-D fit
# explorer's redraws took 75 ms instead of 51 ms)
PREFETCH_DELAY_S = 0.08

_REL = 1e-9  # a move "of one step" to this relative tolerance (float sliders' rounding)


def _one_step(delta: float, step: float) -> int:
    """+1 / -1 when ``delta`` is one ``step`` up / down (to float rounding), else 0."""
    if step <= 0.0 or not math.isfinite(delta):
        return 0
    if abs(abs(delta) - step) <= _REL * max(step, abs(delta)) + 1e-12 * step:
        return 1 if delta > 0 else -1
    return 0


def next_value(widget: W.ValueWidget, old: Any, new: Any) -> Any | None:
    """The value one more step the way ``old -> new`` went, or ``None`` when a move of
    ``widget`` does not predict one (not a single step, an end of the slider, not a
    slider). ``widget`` that is not an ipywidgets value widget is a ``TypeError``."""
    if not isinstance(widget, W.ValueWidget):
        raise TypeError(f"widget must be an ipywidgets value widget (a slider), got {widget!r}")
    if isinstance(widget, W.SelectionSlider):
        values = [v for _, v in _pairs(widget)]
        try:
            i, j = values.index(old), values.index(new)
        except ValueError:
            return None
        k = j + (j - i)
        return values[k] if abs(j - i) == 1 and 0 <= k < len(values) else None
    if not isinstance(widget, (W.IntSlider, W.FloatSlider, W.FloatLogSlider)):
        return None
    if not (isinstance(old, (int, float)) and isinstance(new, (int, float))):
        return None
    log = isinstance(widget, W.FloatLogSlider)  # (its min, max and step: exponents)
    if log and (old <= 0 or new <= 0):
        return None
    at = new if not log else math.log(new, widget.base)  # the position, where steps are even
    way = _one_step(at - (old if not log else math.log(old, widget.base)), float(widget.step))
    nxt = at + way * widget.step
    slack = _REL * (1.0 if log else float(widget.max - widget.min))
    if way == 0 or not widget.min - slack <= nxt <= widget.max + slack:
        return None
    if log:
        return float(widget.base**nxt)
    if isinstance(widget, W.IntSlider):
        return int(nxt)
    return float(min(max(nxt, widget.min), widget.max))


class Prefetcher:
    """A panel's computes ahead: after each redraw, the result one slider step further.

    It runs only on a real event loop (the kernel's: never in plain Python, where it would
    compute at once), for a compute without progress reporting (long work is never done
    ahead) whose last run took at most :data:`PREFETCH_MAX_MS`, and only while nothing
    else is pending; its result goes to the panel's cache (an error is left for the press
    that reaches that value to show). ``enabled=False`` turns it off.
    """

    def __init__(self, panel: Any, enabled: bool = True) -> None:
        self.panel = panel
        self.enabled = enabled
        self.last_move: tuple[str, Any, Any] | None = None
        self.compute_ms: float | None = None  # the panel's last compute (not a lookup)
        self.done = 0  # results computed ahead
        self._handle: Any = None

    def moved(self, name: str, old: Any, new: Any) -> None:
        """A user's change of control ``name``: what was planned ahead is stale."""
        self.last_move = (name, old, new)
        self.cancel()

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def after_update(self, scheduler: Any) -> None:
        """Plan the next step's compute on ``scheduler`` (after a redraw)."""
        panel = self.panel
        if not self.enabled or self.last_move is None or panel._takes_progress:
            return
        if panel.cache.size == 0:  # nowhere to keep it
            return
        if self.compute_ms is not None and self.compute_ms > PREFETCH_MAX_MS:
            return
        if isinstance(scheduler, _Immediate):
            return
        name, old, new = self.last_move
        nxt = next_value(panel.controls[name], old, new)
        if nxt is None:
            return
        state = {**panel.state, name: nxt}
        key = panel.cache.key(state)
        if key is None or key in panel.cache:
            return
        self.cancel()
        self._handle = scheduler.call_later(PREFETCH_DELAY_S, lambda: self._run(state, key))

    def _run(self, state: dict[str, Any], key: Any) -> None:
        self._handle = None
        panel = self.panel
        if panel._pending or panel._in_run or getattr(panel, "_closed", False):
            return
        if key in panel.cache:
            return
        t0 = time.perf_counter()
        try:
            with torch_threads(panel.threads):
                result = panel.compute(**state)
        except (Exception, KeyboardInterrupt):  # an error: the press that reaches this value
            return  # computes and shows it; a kernel interrupt while idle stops only this work
        self.compute_ms = (time.perf_counter() - t0) * 1e3
        self.done += 1
        panel.cache.put(key, result)
