"""When a live panel computes: the event-loop scheduler, progress handles and the result cache.

A control change marks the panel *pending* and asks a scheduler (the kernel's running
asyncio loop, or :class:`_Immediate` in plain Python) to run one compute; changes that
arrive before it runs only move the pending state. :class:`ResultCache` keeps the last
results by control values, so moving a control back to a value it had redraws without
computing (every explorer's ``compute`` is a pure function of its control values).
"""

from __future__ import annotations

import asyncio
import math
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import ipywidgets as W

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
    compute_ms: list[float] = field(default_factory=list)  # compute + figure update
    update_ms: list[float] = field(default_factory=list)  # figure update alone
    cached: list[bool] = field(default_factory=list)  # per update: served from the cache
    n_computes: int = 0
    n_changes: int = 0


def _key_value(value: Any) -> Any:
    """A float to 12 significant digits (cache keys); anything else as it is."""
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.12g}")
    return value


class ResultCache(Generic[R]):
    """The last ``size`` results of a pure compute, keyed by its control values (LRU).

    A key is the tuple of ``(name, value)`` pairs, floats to 12 significant digits (a
    slider's value reached by the browser's steps and the same value computed here differ
    in the last bits); state with an unhashable value is never cached. ``size=0`` turns
    the cache off.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, R] = OrderedDict()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(state: Mapping[str, Any]) -> Hashable | None:
        """The cache key of a control state, or ``None`` if a value is unhashable."""
        items = tuple(sorted((k, _key_value(v)) for k, v in state.items()))
        try:
            hash(items)
        except TypeError:
            return None
        return items

    def get(self, key: Hashable | None) -> tuple[bool, R | None]:
        """``(True, result)`` on a hit (and mark it most recent), else ``(False, None)``."""
        if key is None or self.size == 0 or key not in self._items:
            self.misses += 1
            return False, None
        self._items.move_to_end(key)
        self.hits += 1
        return True, self._items[key]

    def __contains__(self, key: Hashable | None) -> bool:
        """Whether ``key`` has a result (no hit or miss counted, no recency change)."""
        return key is not None and key in self._items

    def put(self, key: Hashable | None, result: R) -> None:
        if key is None or self.size == 0:
            return
        self._items[key] = result
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
