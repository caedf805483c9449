"""The live panel: controls -> pure compute -> FigureWidget update, debounced.

Every explorer in the kit is a :class:`LivePanel`. A control change marks the
panel *pending* and schedules one compute on the kernel's event loop; changes that
arrive before it runs only move the pending state, so a burst of slider events
computes the latest value once (stale values are dropped, never queued). After a
compute the next one waits at least ``min_interval_s`` so events queued during a
slow compute coalesce too. Errors raised by ``compute`` or ``update`` are shown in
the panel (red) and kept in :attr:`LivePanel.error`; the next change recomputes and
clears them. Each update records its latency (first unserved control change ->
figure updated) in :attr:`LivePanel.latencies_ms`.

``compute(**state)`` is pure (no widgets); ``update(fig, result)`` sets traces by
name and runs inside ``fig.batch_update()``.
"""

from __future__ import annotations

import asyncio
import html
import inspect
import os
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import ipywidgets as W
import plotly.graph_objects as go
import torch

from alignkit._checks import check_choice, check_int, check_scalar

__all__ = [
    "LivePanel",
    "Progress",
    "Interrupted",
    "float_slider",
    "log_slider",
    "int_slider",
    "dropdown",
]

R = TypeVar("R")


class Interrupted(Exception):
    """Raised inside ``compute`` by :meth:`Progress.update` when the panel cancels it."""


class _Handle(Protocol):
    def cancel(self) -> None: ...


class _Immediate:
    """Stand-in scheduler when no event loop runs (plain Python): run at once."""

    def call_later(self, delay: float, fn: Callable[[], None]) -> _Handle | None:
        fn()
        return None


def _default_scheduler() -> Any:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    try:  # ipykernel's loop may be set but not "running" in this frame's sense
        loop = asyncio.get_event_loop_policy().get_event_loop()
        if loop.is_running():
            return loop
    except RuntimeError:
        pass
    return _Immediate()


@dataclass
class Progress:
    """Progress handle passed to a ``compute`` that accepts a ``progress`` argument.

    Call ``progress.update(done, total)`` from inside long work; the panel's bar
    moves, and :class:`Interrupted` is raised if the panel cancelled the work.
    """

    bar: W.FloatProgress
    cancelled: bool = False

    def update(self, done: float, total: float, description: str = "") -> None:
        if self.cancelled:
            raise Interrupted("cancelled by a newer control value")
        self.bar.layout.visibility = "visible"
        self.bar.max = float(max(total, 1e-12))
        self.bar.value = float(done)
        if description:
            self.bar.description = description


@dataclass
class _Stats:
    latencies_ms: list[float] = field(default_factory=list)
    compute_ms: list[float] = field(default_factory=list)
    n_computes: int = 0
    n_changes: int = 0


_OPEN_PANELS: dict[str, LivePanel[Any]] = {}


def _check_panel_args(
    controls: Any,
    compute: Any,
    update: Any,
    figure: Any,
    key: Any,
    min_interval_s: Any,
    hide: Any,
    threads: Any,
) -> None:
    """Validate :class:`LivePanel`'s arguments (before any widget is built)."""
    if not isinstance(controls, Mapping) or not controls:
        raise TypeError(f"controls must be a non-empty mapping name -> widget, got {controls!r}")
    for name, widget in controls.items():
        if not isinstance(name, str) or not isinstance(widget, W.ValueWidget):
            raise TypeError(
                f"controls must map str names to ipywidgets value widgets, got {name!r}: "
                f"{type(widget).__name__}"
            )
    for label, fn in (("compute", compute), ("update", update)):
        if not callable(fn):
            raise TypeError(f"{label} must be callable, got {type(fn).__name__}")
    if not isinstance(figure, go.Figure):
        raise TypeError(f"figure must be a plotly go.Figure, got {type(figure).__name__}")
    if key is not None and not isinstance(key, str):
        raise TypeError(f"key must be a str or None, got {key!r}")
    check_scalar(min_interval_s, "min_interval_s", low=0.0, high=60.0)
    if isinstance(hide, str) or not all(isinstance(h, str) for h in hide):
        raise TypeError(f"hide must be a sequence of control names (str), got {hide!r}")
    if threads is not None:
        check_int(threads, "threads", low=1, high=1024)


class LivePanel(Generic[R]):
    """A figure that redraws when its controls move.

    Parameters
    ----------
    controls : mapping of str to ipywidgets value widget
        Keyword name of ``compute`` -> the control that sets it.
    compute : callable ``(**state) -> R``
        Pure function of the control values (may take ``progress=`` for long work).
    update : callable ``(fig: go.FigureWidget, result: R) -> None``
        Sets traces and layout of the figure from a result (called in ``batch_update``).
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
        self.controls = dict(controls)
        self.compute = compute
        self.update = update
        self.min_interval_s = float(min_interval_s)
        self._scheduler = scheduler
        self.threads = threads
        self._takes_progress = "progress" in inspect.signature(compute).parameters
        self.defaults = self.state
        self.stats = _Stats()
        self.error: str | None = None
        self.result: R | None = None

        self.figure = go.FigureWidget(figure)
        self.status = W.HTML(value="", layout=W.Layout(min_height="1.5em"))
        self.progress_bar = W.FloatProgress(
            value=0.0, min=0.0, max=1.0, layout=W.Layout(visibility="hidden", width="95%")
        )
        self.reset_button = W.Button(
            description="Reset", tooltip="Back to the default values", icon="undo"
        )
        self.reset_button.on_click(lambda _b: self.reset())
        self.share_button = W.Button(
            description="Share", tooltip="Show the call that reproduces this view", icon="link"
        )
        self.share_button.on_click(lambda _b: self._show_call())
        self.save_button = W.Button(
            description="Save", tooltip="Save the figure (PNG) and its data (CSV) here",
            icon="download",
        )  # fmt: skip
        self.save_button.on_click(lambda _b: self._save_here())
        self.share_box = W.Textarea(
            value="", layout=W.Layout(display="none", width="95%", height="4.5em")
        )
        for name in hide:
            self.controls[name].layout.display = "none"
        self._show_when = self._check_show_when(show_when, hide)
        self._apply_show_when()
        column: list[W.Widget] = []
        if description:
            column.append(W.HTML(description))
        buttons = W.HBox(
            [self.reset_button, self.share_button, self.save_button],
            layout=W.Layout(flex_flow="row wrap"),
        )
        for button in (self.reset_button, self.share_button, self.save_button):
            button.layout.width = "auto"
        column += [*self.controls.values(), buttons, self.share_box, self.progress_bar]
        self.widget = W.VBox(
            [
                W.HBox(  # controls beside the figure; the figure wraps below on narrow screens
                    [
                        W.VBox(column, layout=W.Layout(width="300px", min_width="260px")),
                        self.figure,
                    ],
                    layout=W.Layout(flex_flow="row wrap", align_items="flex-start"),
                ),
                self.status,
            ]
        )

        self._pending = False
        self._first_pending: float | None = None
        self._handle: _Handle | None = None
        self._last_end = -float("inf")
        self._holding = False
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

    # --- dependent controls ------------------------------------------------------
    def _check_show_when(
        self, show_when: Mapping[str, tuple[str, Sequence[Any]]] | None, hide: Sequence[str]
    ) -> dict[str, tuple[str, tuple[Any, ...]]]:
        if show_when is None:
            return {}
        if not isinstance(show_when, Mapping):
            raise TypeError(f"show_when must be a mapping or None, got {show_when!r}")
        out: dict[str, tuple[str, tuple[Any, ...]]] = {}
        for dependent, rule in show_when.items():
            ok = isinstance(rule, tuple) and len(rule) == 2 and rule[0] in self.controls
            if dependent not in self.controls or not ok or dependent == rule[0]:
                raise ValueError(
                    "show_when must map a control to (another control, values), controls "
                    f"{sorted(self.controls)}; got {dependent!r}: {rule!r}"
                )
            if dependent not in hide:
                out[dependent] = (rule[0], tuple(rule[1]))
        for other in {rule[0] for rule in out.values()}:
            self.controls[other].observe(lambda _c: self._apply_show_when(), names="value")
        return out

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
        for name, value in values.items():  # refuse what a widget would clamp or reject
            _check_control_value(name, self.controls[name], value)
        self._holding = True
        try:
            for name, value in values.items():
                self.controls[name].value = value
        finally:
            self._holding = False
        self._mark_pending()
        self._schedule()

    def call(self) -> str:
        """The one-line call that reproduces this view, e.g. ``gd_explorer(lr=0.5, ...)``.

        Paste it into a cell: the explorers take their controls' names as arguments.
        """
        from alignkit.share import view_call

        extra = {"key": self.key} if self.key and self.name and self.key != self.name else {}
        return view_call(self.name or "explorer", {**self.state, **extra})

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
        stem = f"{self.key or 'explorer'}-{time.strftime('%Y%m%d-%H%M%S')}"
        try:
            written = [self.save(Path.cwd() / f"{stem}.csv")]
            written.append(self.save(Path.cwd() / f"{stem}.png"))
        except ValueError as exc:  # e.g. no Chromium for the PNG: the CSV is still there
            self._show_error(str(exc))
            return
        self._show_note("saved " + ", ".join(p.name for p in written))

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
        scheduler = self._scheduler or _default_scheduler()
        delay = max(0.0, self._last_end + self.min_interval_s - time.perf_counter())
        self._handle = scheduler.call_later(delay, self._run)

    def flush(self) -> None:
        """Run a pending compute now (for scripts and tests without an event loop)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._run()

    def refresh(self) -> None:
        """Recompute with the current state (e.g. after changing data behind the panel)."""
        self._mark_pending()
        self.flush()

    def _run(self) -> None:
        self._handle = None
        if not self._pending:
            return
        self._pending = False
        started = self._first_pending or time.perf_counter()
        self._first_pending = None
        state = self.state
        t0 = time.perf_counter()
        saved_threads = torch.get_num_threads()
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        try:
            if self._takes_progress:
                self._running = Progress(self.progress_bar)
                result = self.compute(**state, progress=self._running)
            else:
                result = self.compute(**state)
            with self.figure.batch_update():
                self.update(self.figure, result)
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
            self.status.value = (
                f"<span style='color:#666;font-size:smaller'>updated in "
                f"{(end - t0) * 1e3:.1f} ms</span>"
            )
        finally:
            torch.set_num_threads(saved_threads)
            self.stats.n_computes += 1
            self._running = None
            self.progress_bar.layout.visibility = "hidden"
            self._last_end = time.perf_counter()
        if self._pending:
            self._schedule()

    def _show_error(self, message: str, details: str = "") -> None:
        body = f"<b>&#9888; {html.escape(message)}</b>"
        if details:
            body += (
                "<details><summary>traceback</summary><pre style='font-size:smaller'>"
                f"{html.escape(details)}</pre></details>"
            )
        self.status.value = (
            "<div style='color:#b00020;border-left:3px solid #b00020;padding-left:6px'>"
            f"{body}</div>"
        )

    def _show_note(self, message: str) -> None:
        self.status.value = f"<span style='color:#666'>{html.escape(message)}</span>"

    # --- lifetime and display --------------------------------------------------
    def close(self) -> None:
        """Unobserve the controls and close every widget of the panel (once; again is a no-op)."""
        if getattr(self, "_closed", False):
            return
        self._closed = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        for widget in self.controls.values():
            widget.unobserve(self._on_change, names="value")
        for widget in (*self.controls.values(), self.figure, self.status, self.progress_bar):
            widget.close()
        for button in (self.reset_button, self.share_button, self.save_button, self.share_box):
            button.close()
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
        bundle = self.widget._repr_mimebundle_(**kwargs)
        if os.environ.get("ALIGNKIT_STATIC") == "1" and isinstance(bundle, dict):
            # rendering a static site: add a kernel-free figure the page shows instead
            from alignkit.static import static_html

            fig = self.static_figure()
            bundle["text/html"] = static_html(fig)
            still = go.Figure(fig.to_dict()["data"], layout=self.figure.layout.to_plotly_json())
            bundle["application/vnd.plotly.v1+json"] = still.to_plotly_json()  # thumbnails
        return bundle

    def __repr__(self) -> str:
        return f"LivePanel(key={self.key!r}, state={self.state!r})"


# --- control factories (one vocabulary for every explorer) ---------------------
def _check_control_value(name: str, widget: W.ValueWidget, value: Any) -> None:
    """``value`` fits ``widget`` as it is: sliders would clamp silently, dropdowns raise."""
    if isinstance(widget, W.FloatLogSlider):
        low, high = widget.base**widget.min, widget.base**widget.max
        check_scalar(value, name, low=low * (1 - 1e-12), high=high * (1 + 1e-12))
    elif isinstance(widget, W.IntSlider):
        check_int(value, name, low=widget.min, high=widget.max)
    elif isinstance(widget, W.FloatSlider):
        check_scalar(value, name, low=widget.min, high=widget.max)
    elif isinstance(widget, W.Dropdown):
        options = [o[1] if isinstance(o, tuple) else o for o in widget.options]
        if value not in options:
            raise ValueError(f"{name} must be one of {options}, got {value!r}")


def _check_range(
    value: Any, low: Any, high: Any, description: Any, *, step: Any | None = None
) -> None:
    """A control's value inside its range: the slider never clamps behind the user's back."""
    if not isinstance(description, str):
        raise TypeError(f"description must be a str, got {description!r}")
    lo = check_scalar(low, "low")
    hi = check_scalar(high, "high")
    if lo >= hi:
        raise ValueError(f"low must be < high, got low={lo:g}, high={hi:g}")
    if step is not None:
        check_scalar(step, "step", low=0.0, high=hi - lo, closed="right")
    check_scalar(value, f"value ({description})", low=lo, high=hi)


_STYLE = {"description_width": "110px"}
_LAYOUT = {"width": "290px"}


def float_slider(
    value: float, low: float, high: float, step: float, description: str, *, fmt: str = ".3g"
) -> W.FloatSlider:
    """A continuous float slider (updates while dragging; the panel debounces).

    ``value`` outside ``[low, high]`` is a ``ValueError`` (ipywidgets would clamp it silently).
    """
    _check_range(value, low, high, description, step=step)
    if not isinstance(fmt, str):
        raise TypeError(f"fmt must be a format string such as '.3g', got {fmt!r}")
    return W.FloatSlider(
        value=value, min=low, max=high, step=step, description=description,
        readout_format=fmt, continuous_update=True, style=_STYLE, layout=W.Layout(**_LAYOUT),
    )  # fmt: skip


def log_slider(
    value: float, low: float, high: float, description: str, *, steps_per_decade: int = 20
) -> W.FloatLogSlider:
    """A slider over ``[low, high]`` on a log scale (``0 < low``; ``value`` inside)."""
    import math

    check_scalar(low, "low", low=0.0, closed="neither")
    _check_range(value, low, high, description)
    steps_per_decade = check_int(steps_per_decade, "steps_per_decade", low=1, high=10_000)
    return W.FloatLogSlider(
        value=value, base=10, min=math.log10(low), max=math.log10(high),
        step=1 / steps_per_decade, description=description, readout_format=".3g",
        continuous_update=True, style=_STYLE, layout=W.Layout(**_LAYOUT),
    )  # fmt: skip


def int_slider(value: int, low: int, high: int, description: str, *, step: int = 1) -> W.IntSlider:
    """An integer slider (``value`` an integer inside ``[low, high]``)."""
    value = check_int(value, "value", low=check_int(low, "low"), high=check_int(high, "high"))
    step = check_int(step, "step", low=1)
    _check_range(value, low, high, description)
    return W.IntSlider(
        value=value, min=low, max=high, step=step, description=description,
        continuous_update=True, style=_STYLE, layout=W.Layout(**_LAYOUT),
    )  # fmt: skip


def dropdown(value: str, options: Sequence[str], description: str) -> W.Dropdown:
    """A dropdown over a registry's names (``value`` must be one of them)."""
    if isinstance(options, str) or not all(isinstance(o, str) for o in options):
        raise TypeError(f"options must be a sequence of str, got {options!r}")
    if not isinstance(description, str):
        raise TypeError(f"description must be a str, got {description!r}")
    check_choice(value, "value", options)
    return W.Dropdown(
        value=value, options=list(options), description=description, style=_STYLE,
        layout=W.Layout(**_LAYOUT),
    )  # fmt: skip
