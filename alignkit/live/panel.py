"""The live panel: controls -> pure compute -> FigureWidget update, debounced.

Every explorer in the kit is a :class:`LivePanel`. A control change marks the
panel *pending* and schedules one compute on the kernel's event loop; changes that
arrive before it runs only move the pending state, so a burst of slider events
computes the latest value once (stale values are dropped, never queued). After a
compute the next one waits at least ``min_interval_s`` so events queued during a
slow compute coalesce too; a change after a quiet spell runs at once. Results are
cached by control values (``compute`` is pure), so moving back redraws at once.
Errors raised by ``compute`` or ``update`` are shown in the panel (red) and kept in
:attr:`LivePanel.error`; the next change recomputes and clears them. Each update
records its latency (first unserved control change -> figure updated) in
:attr:`LivePanel.latencies_ms`.

``compute(**state)`` is pure (no widgets); ``update(fig, result)`` sets traces by
name; its edits go to the browser together (:mod:`alignkit.live.redraw` picks
plotly's cheapest exact way: move the changed points, or redraw the figure).
"""

from __future__ import annotations

import inspect
import os
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

import ipywidgets as W
import plotly.graph_objects as go

from alignkit._checks import check_int
from alignkit.device import torch_threads
from alignkit.live import view
from alignkit.live.controls import (
    _check_control_value,
    _check_fixed,
    _check_limits,
    _check_panel_args,
    _check_show_when,
    apply_limits,
    limit_values,
)
from alignkit.live.prefetch import Prefetcher
from alignkit.live.redraw import Sender
from alignkit.live.scheduler import (
    Interrupted,
    Progress,
    ResultCache,
    _default_scheduler,
    _Handle,
    _Stats,
)

__all__ = ["LivePanel"]

R = TypeVar("R")

_OPEN_PANELS: dict[str, LivePanel[Any]] = {}


class LivePanel(Generic[R]):
    """A figure that redraws when its controls move.

    Parameters
    ----------
    controls : mapping of str to ipywidgets value widget
        Keyword name of ``compute`` -> the control that sets it.
    compute : callable ``(**state) -> R``
        Pure function of the control values (may take ``progress=`` for long work).
    update : callable ``(fig: go.FigureWidget, result: R) -> None``
        Sets traces and layout of the figure from a result (its edits are sent together).
    figure : plotly.graph_objects.Figure
        The initial figure (from the plot function); wrapped in a ``FigureWidget``.
    key : str, optional
        Re-creating a panel with the same key closes the previous one (re-running
        a notebook cell does not stack observers or leak widgets).
    min_interval_s : float, default=1/60
        Minimum time between the end of one compute and the start of the next.
    hide : sequence of str, default=()
        Names of controls to hide (one idea per panel).
    scheduler : object with ``call_later(delay, fn)``, optional
        Defaults to the running asyncio loop (the Jupyter kernel's), else computes
        immediately. Tests pass their own.
    threads : int or None, default=1
        torch CPU threads while computing. Interactive work is small tensors, for
        which one thread is fastest and immune to oversubscription (measured here:
        a 2-thread pool on a busy 2-core machine ran such updates ~50x slower).
        ``None`` leaves torch's setting alone.
    initial : R, optional
        The result for the current control values, when the caller already computed
        it to build ``figure`` (saves computing it twice); else computed at once.
    name : str, optional
        The explorer function's name, used by :meth:`call` (default: ``key``).
    show_when : mapping, optional
        ``{control: (other, values)}``: show ``control`` only while ``other``'s value is
        one of ``values`` (e.g. the α slider only for the α family), so that every visible
        control changes the figure.
    limits : mapping, optional
        ``{slider: fn(state) -> maximum}`` or ``{dropdown: fn(state) -> options}``: a control
        whose valid values depend on others (B ≤ n without replacement; weight noise only for
        a trained model) offers only what the compute accepts.
    cache_size : int, default=32
        How many results to keep by control values (``compute`` is pure): moving a
        control back redraws without computing. ``0`` turns the cache off;
        :meth:`refresh` and assigning :attr:`compute` clear it.
    fixed : mapping, optional
        The explorer's arguments that are not controls but change what it computes (e.g.
        ``n``, ``seeds``, ``steps``), by name: :meth:`call` passes them too, so that its
        line reproduces the view (:func:`alignkit.live.non_default` gives those that differ
        from the explorer's defaults).
    prefetch : bool, default=True
        After a slider moved one step, compute the next step's result while the kernel
        is idle, so that walking the slider is a cache lookup per press
        (:class:`alignkit.live.prefetch.Prefetcher`: only on the kernel's event loop, for a
        quick compute without progress reporting).
    """

    def __init__(
        self,
        controls: Mapping[str, W.ValueWidget],
        compute: Callable[..., R],
        update: Callable[[go.FigureWidget, R], None],
        figure: go.Figure,
        *,
        key: str | None = None,
        min_interval_s: float = 1 / 60,
        hide: Sequence[str] = (),
        scheduler: Any | None = None,
        description: str | None = None,
        threads: int | None = 1,
        initial: R | None = None,
        name: str | None = None,
        show_when: Mapping[str, tuple[str, Sequence[Any]]] | None = None,
        cache_size: int = 32,
        limits: Mapping[str, Callable[[Mapping[str, Any]], Any]] | None = None,
        prefetch: bool = True,
        fixed: Mapping[str, Any] | None = None,
    ) -> None:
        _check_panel_args(controls, compute, update, figure, key, min_interval_s, hide, threads)
        if scheduler is not None and not callable(getattr(scheduler, "call_later", None)):
            raise TypeError(
                f"scheduler must have a call_later(delay, fn) method or be None, got {scheduler!r}"
            )
        if description is not None and not isinstance(description, str):
            raise TypeError(f"description must be a str or None, got {description!r}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be the explorer's name (a str) or None, got {name!r}")
        unknown = sorted(set(hide) - set(controls))
        if unknown:
            raise ValueError(f"hide must name controls among {sorted(controls)}, got {unknown}")
        if key is not None and key in _OPEN_PANELS:
            _OPEN_PANELS.pop(key).close()
        self.key = key
        self.name = name or key  # the explorer function's name, for call()
        self.fixed = _check_fixed(fixed, controls)  # its other arguments, for call()
        self.controls = dict(controls)
        self.cache: ResultCache[R] = ResultCache(check_int(cache_size, "cache_size", low=0))
        if not isinstance(prefetch, bool):
            raise TypeError(f"prefetch must be True or False, got {prefetch!r}")
        self.ahead = Prefetcher(self, prefetch)
        self.compute = compute
        self.update = update
        self.min_interval_s = float(min_interval_s)
        self._scheduler = scheduler
        self.threads = threads
        self.defaults = self.state
        self.stats = _Stats()
        self.error: str | None = None
        self.result: R | None = None

        self.figure = go.FigureWidget(figure)
        self.caption = W.HTML()  # the figure's title, drawn over plotly's (see redraw.py)
        self.redraw = Sender(self.figure, self.caption)  # moves points when exact
        self.status = W.HTML(value="", layout=W.Layout(min_height="1.5em"))
        self.progress_bar = W.FloatProgress(
            value=0.0, min=0.0, max=1.0, layout=W.Layout(visibility="hidden", width="95%")
        )
        self.reset_button, self.share_button, self.save_button = view.buttons(
            [self.reset, self._show_call, self._save_here]
        )
        self.share_box = W.Textarea(
            value="", layout=W.Layout(display="none", width="95%", height="4.5em")
        )
        for name in hide:
            self.controls[name].layout.display = "none"
        self._show_when = _check_show_when(show_when, self.controls, hide)
        for other in {rule[0] for rule in self._show_when.values()}:
            self.controls[other].observe(lambda _c: self._apply_show_when(), names="value")
        self._apply_show_when()
        self._limits = _check_limits(limits, self.controls)
        for widget in self.controls.values() if self._limits else ():  # before _on_change
            widget.observe(self._apply_limits, names="value")
        self._apply_limits()
        buttons = W.HBox(
            [self.reset_button, self.share_button, self.save_button],
            layout=W.Layout(flex_flow="row wrap"),
        )
        column = [*self.controls.values(), buttons, self.share_box, self.progress_bar]
        self._figure_box = view.figure_box(self.figure, self.caption)
        self.widget = view.arrange(column, self._figure_box, self.status, description)

        self._pending = False
        self._first_pending: float | None = None
        self._handle: _Handle | None = None
        self._last_end = -float("inf")
        self._holding = False
        self._in_run = False  # a compute is running (a change then waits its turn)
        self._running: Progress | None = None
        for widget in self.controls.values():
            widget.observe(self._on_change, names="value")
        if key is not None:
            _OPEN_PANELS[key] = self
        if initial is None:
            self._mark_pending()
            self._run()  # draw the first figure synchronously
        else:
            self.result = initial
            self.cache.put(self.cache.key(self.state), initial)

    # --- compute and dependent controls -------------------------------------------
    @property
    def compute(self) -> Callable[..., R]:
        """The pure compute ``(**state) -> R``; assigning another clears the result cache."""
        return self._compute

    @compute.setter
    def compute(self, fn: Callable[..., R]) -> None:
        self._compute = fn
        self._takes_progress = "progress" in inspect.signature(fn).parameters
        self.cache.clear()

    @property
    def update(self) -> Callable[..., None]:
        """``update(fig, result)``: draws a compute's result on ``fig`` (the explorer's
        update function). To move the controls, use :meth:`set_state`."""
        return self._update

    @update.setter
    def update(self, fn: Callable[[go.FigureWidget, R], None]) -> None:
        try:
            own = set(inspect.signature(fn).parameters)
        except (TypeError, ValueError):  # (a callable without a signature)
            own = set()

        def drawn(*args: Any, **kwargs: Any) -> None:
            if kwargs and not args and not set(kwargs) <= own:  # panel.update(lr=0.4)
                moves = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
                raise TypeError(
                    f"update(fig, result) draws a result on a figure; to move the controls "
                    f"use set_state({moves})"
                )
            fn(*args, **kwargs)

        self._update = drawn

    def _apply_limits(self, _change: Any = None) -> None:
        if getattr(self, "_limiting", False):
            return
        self._limiting, holding, self._holding = True, getattr(self, "_holding", False), True
        try:  # the change that triggered this schedules the compute (its observer runs next)
            apply_limits(self.controls, self._limits, self.state)
        finally:
            self._limiting, self._holding = False, holding

    def _apply_show_when(self) -> None:
        for dependent, (other, values) in self._show_when.items():
            shown = self.controls[other].value in values
            self.controls[dependent].layout.display = None if shown else "none"

    # --- state -----------------------------------------------------------------
    @property
    def state(self) -> dict[str, Any]:
        """The control values, as keyword arguments of ``compute`` (serialisable)."""
        return {name: w.value for name, w in self.controls.items()}

    def set_state(self, **values: Any) -> None:
        """Set several controls at once; triggers one compute."""
        unknown = sorted(set(values) - set(self.controls))
        if unknown:
            raise ValueError(
                f"set_state got unknown controls {unknown}; known: {sorted(self.controls)}"
            )
        for name, value in values.items():  # refuse what a widget would clamp or reject: first
            # the unlimited ones (the limits read them), then the limited at their new bounds
            if name not in self._limits:
                _check_control_value(name, self.controls[name], value)
        merged = {**self.state, **values}
        highs = limit_values(self.controls, self._limits, merged)
        for name, value in values.items():
            if name in self._limits:
                _check_control_value(name, self.controls[name], value, high=highs[name])
        self._holding = True
        try:
            self._limiting = True  # the options it changes fire observers: not at the old state
            try:
                apply_limits(self.controls, self._limits, merged)
            finally:
                self._limiting = False
            for name, value in values.items():
                self.controls[name].value = value
        finally:
            self._holding = False
        self._mark_pending()
        self._schedule()

    def call(self) -> str:
        """The one-line call that reproduces this view, e.g. ``gd_explorer(lr=0.5, ...)``.

        Paste it into a cell: the explorers take their controls' names as arguments, and
        the line also passes the explorer's other arguments that the panel was built with
        (:attr:`fixed`: e.g. ``n``, ``seeds``, ``steps``).
        """
        from alignkit.share import view_call

        extra = {"key": self.key} if self.key and self.name and self.key != self.name else {}
        return view_call(self.name or "explorer", {**self.state, **self.fixed, **extra})

    def save(self, path: str | Path) -> Path:
        """Save the current view: ``.png``/``.svg``/``.pdf`` (kaleido), ``.html``, ``.json``
        (call, control values and figure) or ``.csv`` (the plotted points)."""
        from alignkit.share import save_figure

        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a str or pathlib.Path, got {path!r}")

        return save_figure(go.Figure(self.figure), path, call=self.call(), state=self.state)

    def _show_call(self) -> None:
        self.share_box.value = self.call()
        self.share_box.layout.display = None

    def _save_here(self) -> None:
        self.status.value = view.save_here(self)

    def reset(self) -> None:
        """Put every control back to its default value (one compute)."""
        self.set_state(**self.defaults)

    @property
    def latencies_ms(self) -> list[float]:
        """Per update: milliseconds from the first unserved control change to figure updated."""
        return self.stats.latencies_ms

    @property
    def n_computes(self) -> int:
        return self.stats.n_computes

    # --- scheduling ------------------------------------------------------------
    def _on_change(self, change: Mapping[str, Any]) -> None:
        self.stats.n_changes += 1
        if self._holding:
            return
        name = next((k for k, w in self.controls.items() if w is change.get("owner")), None)
        if name is not None:
            self.ahead.moved(name, change.get("old"), change.get("new"))
        if self._running is not None:  # a long compute that reports progress: cancel it
            self._running.cancelled = True
        self._mark_pending()
        self._schedule()

    def _mark_pending(self) -> None:
        self._pending = True
        if self._first_pending is None:
            self._first_pending = time.perf_counter()

    def _schedule(self) -> None:
        if self._handle is not None:
            return  # a compute is already scheduled; it will read the newest state
        delay = max(0.0, self._last_end + self.min_interval_s - time.perf_counter())
        if delay == 0.0 and self._scheduler is None and not self._in_run:
            # a change after a quiet spell: compute now, in the control's own callback, as
            # a bare callback would (a trip through the kernel's event loop cost ~3-5 ms);
            # changes arriving within min_interval_s of this compute are still coalesced
            self._run()
            return
        scheduler = self._scheduler or _default_scheduler()
        self._handle = scheduler.call_later(delay, self._run)

    def flush(self) -> None:
        """Run a pending compute now (for scripts and tests without an event loop)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._run()

    def refresh(self) -> None:
        """Recompute with the current state (e.g. after changing data behind the panel)."""
        self.cache.clear()
        self._mark_pending()
        self.flush()

    def _run(self) -> None:
        self._handle = None
        if not self._pending or self._in_run:
            return
        self._in_run = True
        try:
            self._run_pending()
        finally:
            self._in_run = False
        if self._pending:
            self._schedule()
        else:
            self.ahead.after_update(self._scheduler or _default_scheduler())

    def _run_pending(self) -> None:
        self._pending = False
        started = self._first_pending or time.perf_counter()
        self._first_pending = None
        state = self.state
        t0 = time.perf_counter()
        key = self.cache.key(state)
        try:
            with torch_threads(self.threads):
                hit, result = self.cache.get(key)
                if not hit:
                    if self._takes_progress:
                        self._running = Progress(self.progress_bar)
                        result = self.compute(**state, progress=self._running)
                    else:
                        result = self.compute(**state)
                    self.ahead.compute_ms = (time.perf_counter() - t0) * 1e3
                    self.cache.put(key, result)
                t_update = time.perf_counter()
                # the status line before the figure: the browser draws the figure's message
                # in one long task, and a status sent after it would change the output that
                # much later (measured in JupyterLab: 3-21 ms after the redraw)
                self.status.value = view.timing_html((t_update - t0) * 1e3, hit)
                self.redraw.send(lambda: self.update(self.figure, cast(R, result)))
        except Interrupted:
            self._show_note("superseded by a newer value")
        except KeyboardInterrupt:
            self.error = "interrupted"
            self._show_error("Interrupted (kernel interrupt); move a control to run again.")
        except Exception as exc:  # shown in the panel, never lost in the kernel log
            self.error = f"{type(exc).__name__}: {exc}"
            self._show_error(self.error, traceback.format_exc())
        else:
            self.result = result
            self.error = None
            end = time.perf_counter()
            self.stats.latencies_ms.append((end - started) * 1e3)
            self.stats.compute_ms.append((end - t0) * 1e3)
            self.stats.update_ms.append((end - t_update) * 1e3)
            self.stats.cached.append(hit)
        finally:
            self.stats.n_computes += 1
            self._running = None
            self.progress_bar.layout.visibility = "hidden"
            self._last_end = time.perf_counter()

    def _show_error(self, message: str, details: str = "") -> None:
        self.status.value = view.error_html(message, details)

    def _show_note(self, message: str) -> None:
        self.status.value = view.note_html(message)

    # --- lifetime and display --------------------------------------------------
    def close(self) -> None:
        """Unobserve the controls and close every widget of the panel (once; again is a no-op)."""
        if getattr(self, "_closed", False):
            return
        self._closed = True
        self.ahead.cancel()
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        for widget in self.controls.values():
            widget.unobserve(self._on_change, names="value")
        for widget in (*self.controls.values(), self.figure, self.status, self.progress_bar):
            widget.close()
        for button in (self.reset_button, self.share_button, self.save_button, self.share_box):
            button.close()
        for widget in (*self._figure_box.children, self._figure_box):  # caption and its CSS
            widget.close()
        self.widget.close()
        if self.key is not None and _OPEN_PANELS.get(self.key) is self:
            del _OPEN_PANELS[self.key]

    def static_figure(self, **options: Any) -> go.Figure:
        """This panel as a plain figure whose controls move without a kernel.

        See :func:`alignkit.static.static_figure` (options: ``budget``, ``max_bytes``,
        ``max_seconds``, ``points``, ``tag``).
        """
        from alignkit.static import static_figure

        return static_figure(self, **options)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return view.mimebundle(self, **kwargs)

    def __repr__(self) -> str:
        return f"LivePanel(key={self.key!r}, state={self.state!r})"
