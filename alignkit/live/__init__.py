"""Live explorers: controls -> pure compute -> FigureWidget update, debounced and cached.

- :mod:`.panel`: :class:`LivePanel` (layout, scheduling of computes, errors, sharing);
- :mod:`.scheduler`: the event-loop scheduler, :class:`Progress`, :class:`Interrupted`
  and the result cache;
- :mod:`.controls`: the control factories every explorer uses (:func:`float_slider`,
  :func:`log_slider`, :func:`int_slider`, :func:`dropdown`, :func:`selection_slider` for a
  precomputed grid's values) and the argument checks
  (:func:`check_hide` for the explorers' ``hide``; :func:`non_default` for a panel's
  ``fixed``, the arguments its call passes besides the controls).
- :mod:`.prefetch`: the slider's next step computed ahead while the kernel is idle (a walk
  over a slider is then a cache lookup per press);
- :mod:`.redraw`: how an update reaches the browser (only the changed points move when
  that draws exactly what a full redraw would; the figure's title is a caption);
- :mod:`.view`: buttons, layout, status lines.

Every public name is importable from ``alignkit.live`` (and documented as living there).
"""

from __future__ import annotations

from alignkit.live.controls import (
    check_hide,
    dropdown,
    float_slider,
    int_slider,
    log_slider,
    non_default,
    selection_slider,
)
from alignkit.live.panel import _OPEN_PANELS, LivePanel
from alignkit.live.scheduler import Interrupted, Progress

__all__ = [
    "LivePanel",
    "Progress",
    "Interrupted",
    "float_slider",
    "log_slider",
    "int_slider",
    "dropdown",
    "selection_slider",
    "check_hide",
    "non_default",
]

for _obj in (
    LivePanel,
    Progress,
    Interrupted,
    float_slider,
    log_slider,
    int_slider,
    dropdown,
    selection_slider,
    check_hide,
    non_default,
):
    _obj.__module__ = __name__  # one public home, as before the split into modules
del _obj
_ = _OPEN_PANELS  # re-exported: browser tests and benchmarks find open panels here
