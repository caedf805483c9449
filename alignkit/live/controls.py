"""Control factories (one vocabulary for every explorer) and the panel's argument checks.

Every factory refuses a value outside its range (ipywidgets would clamp it silently) and
returns a ``continuous_update`` widget: the panel debounces, so every move redraws.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ipywidgets as W
import plotly.graph_objects as go
from traitlets import TraitError

from alignkit._checks import _is_python_name, check_choice, check_int, check_scalar

_STYLE = {"description_width": "110px"}
_LAYOUT = {"width": "290px"}


def check_hide(hide: Any, names: Sequence[str] | None = None) -> tuple[str, ...]:
    """``hide`` as a tuple of control names: a list, tuple or set of str, each among
    ``names`` when given (explorers check it before any compute)."""
    if names is not None and not (
        isinstance(names, (list, tuple)) and all(isinstance(n, str) for n in names)
    ):
        raise TypeError(f"names must be a list or tuple of control names or None, got {names!r}")
    ok = isinstance(hide, (list, tuple, set, frozenset)) and all(isinstance(h, str) for h in hide)
    if not ok:
        among = "" if names is None else f" among {list(names)}"
        raise TypeError(
            f"hide must be a sequence of control names{among} (a list or tuple), got {hide!r}"
        )
    if names is not None:
        unknown = sorted(set(hide) - set(names))
        if unknown:
            raise ValueError(f"hide must name controls among {sorted(names)}, got {unknown}")
    return tuple(hide)


def non_default(function: Callable[..., Any], **values: Any) -> dict[str, Any]:
    """Those of ``values`` (an explorer's arguments that are not controls, by name) that
    differ from ``function``'s defaults: what a panel's ``fixed`` needs for its
    :meth:`~alignkit.live.LivePanel.call` to reproduce the view, and no more."""
    if not callable(function):
        raise TypeError(f"function must be the explorer (a callable), got {function!r}")
    params = inspect.signature(function).parameters
    unknown = sorted(set(values) - set(params))
    if unknown:
        raise ValueError(f"values must be arguments of {function.__name__}, got {unknown}")
    empty = inspect.Parameter.empty
    return {
        k: v for k, v in values.items()
        if params[k].default is empty or type(v) is not type(params[k].default)
        or v != params[k].default
    }  # fmt: skip


def _check_fixed(fixed: Any, controls: Mapping[str, Any]) -> dict[str, Any]:
    """A panel's ``fixed``: a mapping of Python names (not controls) to values, or None."""
    if fixed is None:
        return {}
    if not isinstance(fixed, Mapping):
        raise TypeError(
            f"fixed must be a mapping of argument names to values or None, got {fixed!r}"
        )
    for name in fixed:
        if not _is_python_name(name):
            raise ValueError(f"fixed's keys must be Python names (not keywords), got {name!r}")
    both = sorted(set(fixed) & set(controls))
    if both:
        raise ValueError(f"fixed must not name controls (their values are the state), got {both}")
    return dict(fixed)


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
    check_hide(hide)
    if threads is not None:
        check_int(threads, "threads", low=1, high=1024)


def _check_show_when(
    show_when: Any, controls: Mapping[str, W.ValueWidget], hide: Sequence[str]
) -> dict[str, tuple[str, tuple[Any, ...]]]:
    """``{control: (other, values)}`` checked against the panel's controls (hidden ones dropped)."""
    if show_when is None:
        return {}
    if not isinstance(show_when, Mapping):
        raise TypeError(f"show_when must be a mapping or None, got {show_when!r}")
    out: dict[str, tuple[str, tuple[Any, ...]]] = {}
    for dependent, rule in show_when.items():
        ok = isinstance(rule, tuple) and len(rule) == 2 and rule[0] in controls
        if dependent not in controls or not ok or dependent == rule[0]:
            raise ValueError(
                "show_when must map a control to (another control, values), controls "
                f"{sorted(controls)}; got {dependent!r}: {rule!r}"
            )
        if dependent not in hide:
            out[dependent] = (rule[0], tuple(rule[1]))
    return out


Limit = Callable[[Mapping[str, Any]], Any]


def _check_limits(
    limits: Any, controls: Mapping[str, W.ValueWidget]
) -> dict[str, tuple[Limit, Any]]:
    """``{control: fn(state) -> its bound}`` checked: a slider's maximum, or the options a
    dropdown offers; each kept with the control's own maximum / options."""
    if limits is None:
        return {}
    if not isinstance(limits, Mapping):
        raise TypeError(f"limits must be a mapping or None, got {limits!r}")
    kinds = (W.IntSlider, W.FloatSlider, W.Dropdown, W.SelectionSlider)
    known = sorted(n for n, w in controls.items() if isinstance(w, kinds))
    out: dict[str, tuple[Limit, Any]] = {}
    for name, fn in limits.items():
        if name not in known or not callable(fn):
            raise ValueError(
                f"limits must map a slider or dropdown among {known} to a function of the "
                f"control values giving its maximum (or its options); got {name!r}: {fn!r}"
            )
        widget = controls[name]
        if isinstance(widget, W.SelectionSlider):  # (label, value) pairs: labels kept
            top: Any = _pairs(widget)
        else:
            top = tuple(widget.options) if isinstance(widget, W.Dropdown) else widget.max
        out[name] = (fn, top)
    return out


def _pairs(widget: W.SelectionSlider) -> tuple[tuple[str, Any], ...]:
    """A selection slider's options as (label, value) pairs, as it was given them."""
    return tuple(zip(widget._options_labels, widget._options_values, strict=True))


def _offered(options: Sequence[Any]) -> list[Any]:
    """The values of options given plain or as (label, value) pairs (a selection slider's)."""
    return [o[1] if isinstance(o, tuple) else o for o in options]


def _nearest(values: Sequence[Any], value: Any) -> Any:
    """The option nearest ``value`` (in ratio when all are positive numbers), else the first."""
    try:
        x = float(value)
        ys = [float(v) for v in values]
    except (TypeError, ValueError):
        return values[0]
    if x > 0 and all(y > 0 for y in ys):
        return values[min(range(len(ys)), key=lambda i: abs(math.log(ys[i] / x)))]
    return values[min(range(len(ys)), key=lambda i: abs(ys[i] - x))]


def apply_limits(
    controls: Mapping[str, W.ValueWidget],
    limits: Mapping[str, tuple[Limit, Any]],
    state: Mapping[str, Any],
) -> None:
    """Bound each limited control at ``state``: a slider's maximum (inside its own range; a value
    above a lowered maximum moves down to it, as the knob does), a dropdown's options (a value no
    longer offered moves to the first one). The reader never reaches a setting the compute
    refuses."""
    for name, bound in limit_values(controls, limits, state).items():
        widget = controls[name]
        if isinstance(widget, W.SelectionSlider):  # a grid of its own per state: the value
            if _pairs(widget) != bound:  # moves to the nearest offered one (η to the nearest η)
                keep = widget.value
                widget.options = bound
                values = _offered(bound)
                widget.value = keep if keep in values else _nearest(values, keep)
        elif isinstance(widget, W.Dropdown):
            if tuple(widget.options) != bound:
                keep = widget.value
                widget.options = bound  # ipywidgets moves the value to the first option
                if keep in bound:
                    widget.value = keep
        elif widget.max != bound:
            widget.max = bound


def limit_values(
    controls: Mapping[str, W.ValueWidget],
    limits: Mapping[str, tuple[Limit, Any]],
    state: Mapping[str, Any],
) -> dict[str, Any]:
    """Each limited control's bound at ``state``: a slider's maximum (inside its own range), a
    dropdown's options (those of its own it still offers, in its order; never none)."""
    out: dict[str, Any] = {}
    for name, (fn, top) in limits.items():
        if isinstance(controls[name], W.SelectionSlider):  # (label, value) pairs
            allowed = set(fn(state))
            out[name] = tuple(pair for pair in top if pair[1] in allowed) or top
        elif isinstance(controls[name], W.Dropdown):
            allowed = set(fn(state))
            out[name] = tuple(o for o in top if o in allowed) or top
        else:
            out[name] = min(top, max(controls[name].min, fn(state)))
    return out


def _check_control_value(name: str, widget: W.ValueWidget, value: Any, *, high: Any = None) -> None:
    """``value`` fits ``widget`` (with ``high`` as its maximum, or a dropdown's options, if
    given): sliders would clamp silently, dropdowns and selection sliders raise a raw
    traitlets error."""
    if isinstance(widget, W.FloatLogSlider):
        low, high = widget.base**widget.min, widget.base**widget.max
        check_scalar(value, name, low=low * (1 - 1e-12), high=high * (1 + 1e-12))
    elif isinstance(widget, W.IntSlider):
        check_int(value, name, low=widget.min, high=int(widget.max if high is None else high))
    elif isinstance(widget, W.FloatSlider):
        check_scalar(value, name, low=widget.min, high=widget.max if high is None else high)
    elif isinstance(widget, (W.Dropdown, W.SelectionSlider)):  # a choice among options
        options = _offered(widget.options if high is None else high)
        if isinstance(value, bool) and not any(isinstance(o, bool) for o in options):
            raise TypeError(f"{name} must be one of {options}, got a bool {value!r}")  # (True == 1)
        try:
            offered = any(value == o for o in options)
        except (TypeError, ValueError, RuntimeError):  # e.g. an array: no single truth value
            offered = False
        if not offered:
            raise ValueError(f"{name} must be one of {options}, got {value!r}")


def _value_name(name: str | None, description: Any) -> str:
    """What an error calls a control's value: the explorer's argument ``name`` when given."""
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a str or None, got {name!r}")
    return name or f"value ({description})"


def _check_range(
    value: Any,
    low: Any,
    high: Any,
    description: Any,
    *,
    step: Any | None = None,
    name: str | None = None,
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
    check_scalar(value, _value_name(name, description), low=lo, high=hi)


def float_slider(
    value: float,
    low: float,
    high: float,
    step: float,
    description: str,
    *,
    fmt: str = ".3g",
    name: str | None = None,
) -> W.FloatSlider:
    """A continuous float slider (updates while dragging; the panel debounces).

    ``value`` outside ``[low, high]`` is a ``ValueError`` (ipywidgets would clamp it silently)
    naming ``name`` (the explorer's argument the slider sets) or else the description.
    """
    _check_range(value, low, high, description, step=step, name=name)
    if not isinstance(fmt, str):
        raise TypeError(f"fmt must be a format string such as '.3g', got {fmt!r}")
    try:
        return W.FloatSlider(
            value=value, min=low, max=high, step=step, description=description,
            readout_format=fmt, continuous_update=True, style=_STYLE, layout=W.Layout(**_LAYOUT),
        )  # fmt: skip
    except TraitError:  # ipywidgets checks the readout format (a d3 format)
        raise ValueError(f"fmt must be a d3 number format such as '.3g', got {fmt!r}") from None


def log_slider(
    value: float,
    low: float,
    high: float,
    description: str,
    *,
    steps_per_decade: int = 20,
    name: str | None = None,
) -> W.FloatLogSlider:
    """A slider over ``[low, high]`` on a log scale (``0 < low``; ``value`` inside; an error
    names ``name``, as :func:`float_slider`'s)."""

    check_scalar(low, "low", low=0.0, closed="neither")
    _check_range(value, low, high, description, name=name)
    steps_per_decade = check_int(steps_per_decade, "steps_per_decade", low=1, high=10_000)
    return W.FloatLogSlider(
        value=value, base=10, min=math.log10(low), max=math.log10(high),
        step=1 / steps_per_decade, description=description, readout_format=".3g",
        continuous_update=True, style=_STYLE, layout=W.Layout(**_LAYOUT),
    )  # fmt: skip


def int_slider(
    value: int, low: int, high: int, description: str, *, step: int = 1, name: str | None = None
) -> W.IntSlider:
    """An integer slider (``value`` an integer inside ``[low, high]``; an error names
    ``name``, as :func:`float_slider`'s)."""
    lo, hi = check_int(low, "low"), check_int(high, "high")
    value = check_int(value, _value_name(name, description), low=lo, high=hi)
    step = check_int(step, "step", low=1)
    _check_range(value, low, high, description, name=name)
    return W.IntSlider(
        value=value, min=low, max=high, step=step, description=description,
        continuous_update=True, style=_STYLE, layout=W.Layout(**_LAYOUT),
    )  # fmt: skip


def selection_slider(
    value: Any,
    options: Sequence[Any],
    description: str,
    *,
    fmt: str = "{:.3g}",
    name: str | None = None,
) -> W.SelectionSlider:
    """A slider over given values (a precomputed grid: every move lands on one), styled like
    the others. ``value`` must be one of ``options`` (a ``ValueError`` naming ``name``);
    labels are ``fmt.format(v)``."""
    if not isinstance(options, (list, tuple)) or not options:
        raise TypeError(f"options must be a non-empty list or tuple, got {options!r}")
    if not isinstance(description, str):
        raise TypeError(f"description must be a str, got {description!r}")
    if not isinstance(fmt, str):
        raise TypeError(f"fmt must be a format string such as '{{:.3g}}', got {fmt!r}")
    what = "value" if name is None else _value_name(name, description)
    if value not in options:
        raise ValueError(f"{what} must be one of {list(options)}, got {value!r}")
    try:
        labels = [fmt.format(v) for v in options]
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise ValueError(f"fmt must format every option, such as '{{:.3g}}', got {fmt!r}") from exc
    return W.SelectionSlider(
        options=list(zip(labels, options, strict=True)), value=value, description=description,
        continuous_update=True, style=_STYLE, layout=W.Layout(**_LAYOUT),
    )  # fmt: skip


def dropdown(
    value: str, options: Sequence[str], description: str, *, name: str | None = None
) -> W.Dropdown:
    """A dropdown over a registry's names (``value`` must be one of them; an error names
    ``name``, the explorer's argument, when given)."""
    is_list = isinstance(options, (list, tuple)) and bool(options)
    if not is_list or not all(isinstance(o, str) for o in options):
        raise TypeError(f"options must be a non-empty list or tuple of str, got {options!r}")
    if not isinstance(description, str):
        raise TypeError(f"description must be a str, got {description!r}")
    check_choice(value, "value" if name is None else _value_name(name, description), options)
    return W.Dropdown(
        value=value, options=list(options), description=description, style=_STYLE,
        layout=W.Layout(**_LAYOUT),
    )  # fmt: skip
