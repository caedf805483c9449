"""Bad input across the whole public API: every public function, every parameter.

For each public function (module ``__all__`` walked, re-exports counted once) and each of
its parameters, :data:`TABLE` lists bad values: wrong types, bools where a number is
meant, NaN, ±inf, out-of-range numbers, non-integer sizes, integer-dtype / empty /
wrong-shape / NaN / asymmetric tensors, unknown names, B > n without replacement ...
Each must raise ``ValueError`` or ``TypeError`` whose message names the argument
(never a raw torch error, a silent clamp or a wrong answer).
``test_every_public_function_has_an_entry`` enumerates the API and fails when a public
function or parameter of a theme-1 or shared module has no entry and no commented
exemption, so a new function cannot slip by. Hypothesis adds random bad numbers for the
scalar and size parameters of the core functions.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import math
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ipywidgets as W
import plotly.graph_objects as go
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import alignkit
from alignkit import _checks, cli, device, live, theme
from alignkit.live.messages import one_message
from alignkit.live.prefetch import next_value
from alignkit.numerics import functional, hessian, hvp, lanczos, ode, trace
from alignkit.stability import (
    alignment,
    edge,
    minibatch,
    models,
    network_escape,
    noise,
    quadratic,
    secular,
    simulate,
    sweep,
    sweep_cli,
    sweep_result,
    theory,
    toys,
    views,
    widgets,
)

NAN, INF = math.nan, math.inf
META = torch.ones(2, device="meta")  # shapes, no numbers: every check refuses it

# --- packages whose public API this test must cover completely ---------------------
# Theme 1 and the shared layers: a public name here without an entry fails the test.
REQUIRED_PREFIXES = (
    "alignkit._checks", "alignkit.device", "alignkit.live", "alignkit.cli",
    "alignkit.numerics", "alignkit.stability", "alignkit.static", "alignkit.share",
    "alignkit.site", "alignkit.exercises", "alignkit.theme",
)  # fmt: skip
# Themes 2 and 3 (alignkit.divergences, alignkit.manifold) have their own bad-input tests;
# they are skipped here. Other shared modules (the static site builder) are enumerated and
# covered where the table has entries; a missing entry there is printed, not a failure.
OTHER_THEMES = ("alignkit.divergences", "alignkit.manifold")

# --- exemptions, each with its reason ---------------------------------------------
EXEMPT_FUNCTIONS: dict[str, str] = {
    # no parameters
    "alignkit.cli.doctor": "no parameters",
    "alignkit.cli.notebooks_dir": "no parameters",
    "alignkit.device.fast_mode": "no parameters",
    "alignkit.exercises.names": "no parameters",
    "alignkit.theme.get_theme": "no parameters (a bad ALIGNKIT_THEME: test_plotting_theme.py)",
    "alignkit.theme.theme_layout": "no parameters",
    "alignkit.theme.panel_style_widget": "no parameters",
    "alignkit.exercises.Exercise.compare": "a comparison each registry entry defines, not input",
    "alignkit.exercises.Exercise.form": "a check of an answer's form each entry defines, not input",
    # any object is a valid argument
    "alignkit.device.pick": "returns one of its two arguments unchanged; any object is valid",
    # exceptions and handles the kit builds for itself
    "alignkit.live.Interrupted": "an exception class",
    "alignkit.live.Progress": "handle the panel builds and passes to compute; not user input",
    "alignkit.live.Progress.update": "called by the kit's own compute functions with counts",
    # the tangent-field interface: called by the ODE solvers' inner loop on validated input
    "alignkit.numerics.tangent.TangentField": "an interface (no parameters); subclasses check",
    "alignkit.numerics.tangent.TangentField.batched": "solver inner loop, input validated there",
    "alignkit.numerics.tangent.TangentField.tangent": "solver inner loop, input validated there",
    "alignkit.numerics.tangent.MLPField.batched": "solver inner loop, input validated there",
    "alignkit.numerics.tangent.MLPField.tangent": "solver inner loop, input validated there",
}
# Frozen result dataclasses: containers filled by the kit's validated functions, not an
# input boundary (their constructors are exempt; their public methods are covered).
RESULT_CLASSES = {
    "alignkit.numerics.lanczos.EigenResult",
    "alignkit.numerics.lanczos.Estimate",
    "alignkit.stability.quadratic.QuadraticRun",
    "alignkit.stability.simulate.LinearSGDRun",
    "alignkit.stability.toys.EscapeRun",
    "alignkit.stability.toys.UVRun",
    "alignkit.stability.views.RegionView",
    "alignkit.stability.views.ThresholdView",
    "alignkit.stability.views.SimulationView",
    "alignkit.stability.views.SweepView",
    "alignkit.stability.sweep_record.SweepResult",
    "alignkit.stability.models.FunctionalModel",
    "alignkit.stability.alignment.AlignmentTrace",
    "alignkit.stability.network_escape.NetworkEscape",
    "alignkit.stability.edge.EdgeRun",
    "alignkit.stability.noise.NoiseAlignment",
    "alignkit.stability.alignment_range.AlignmentRange",
    "alignkit.numerics.ode.QRFlow",
    "alignkit.numerics.ode.SVDFlow",
    "alignkit.numerics.perron.PerronResult",
    "alignkit.static.StaticControl",
    "alignkit.site.build.SiteReport",
    "alignkit.exercises.Exercise",
}
# Figures draw a result object made by a validated compute or view function; their own
# keywords (title, width, height) go to plotly, which validates them. Not an input boundary.
EXEMPT_MODULE_PREFIXES = ("alignkit.stability.plots", "alignkit.plotting")
EXEMPT_PARAMS: dict[tuple[str, str], str] = {
    ("alignkit.live.LivePanel", "initial"): "any result type R of the panel's compute",
    ("alignkit.live.prefetch.next_value", "old"): "any value: a move that predicts no next "
    "value (a jump, an unknown option) gives None",
    ("alignkit.live.prefetch.next_value", "new"): "any value, as old",
    ("alignkit.exercises.check", "answer"): "any value is an answer: a wrong one is just wrong "
    "(one in the wrong form is told so)",
    ("alignkit._checks.check_shape", "shape"): "what was received: any tuple is reported as is",
    ("alignkit._checks.check_shape", "expected"): "free text describing the expected shape",
    ("alignkit._checks.check_values", "allow_empty"): "the helper's own mode switch",
    ("alignkit._checks.check_values", "dtype"): "the conversion target, any torch dtype",
}


# --- fixtures shared by the table (built lazily, once) ------------------------------
def _hs(n: int = 6, d: int = 4) -> torch.Tensor:
    return toys.linear_regression_hessians(n, d, seed=0, device="cpu")[1]


def _net() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    model = torch.nn.Linear(3, 1).double()
    x = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    return model, x, torch.randn(5, 1, generator=gen, dtype=torch.float64)


def _eye_matvec(v: torch.Tensor) -> torch.Tensor:
    return 2.0 * v


def _takes_n(*, n: int = 2) -> None:
    """An explorer-like function with one argument (for ``non_default``)."""


def _panel_base() -> dict[str, Any]:
    return {
        "controls": {"a": live.float_slider(0.5, 0.0, 1.0, 0.1, "a")},
        "compute": lambda a: a,
        "update": lambda fig, r: None,
        "figure": go.Figure(),
        "key": None,
        "min_interval_s": 0.0,
        "hide": (),
        "scheduler": None,
        "description": None,
        "threads": 1,
    }


@functools.cache
def _quiet(_message: str) -> None:
    """A log function for the site builder that prints nothing."""


def _empty_notebook() -> Any:
    import nbformat

    return nbformat.v4.new_notebook()


def _gd_panel() -> live.LivePanel[Any]:
    return widgets.gd_explorer()


@functools.cache
def _escape_run() -> toys.EscapeRun:
    return toys.simulate_escape_toy(0.5, 1, steps=3, seeds=4, device="cpu")


@functools.cache
def _fm() -> models.FunctionalModel:
    return models.make_model("linear", n=4, width=6, device="cpu")


@functools.cache
def _sweep_result() -> sweep_result.SweepResult:
    return sweep.sgd_sweep(
        "linear",
        lrs=[0.1],
        batch_sizes=[2],
        seeds=[0],
        steps=2,
        n=4,
        width=6,
        diagnostics=False,
        device="cpu",
    )


def _noise_base(with_y: bool) -> Callable[[], dict[str, Any]]:
    def base() -> dict[str, Any]:
        kw = {"fn": lambda th, x: x @ th, "theta": torch.ones(3, dtype=torch.float64), "x": NET[1]}
        return {**kw, "y": NET[2][:, 0]} if with_y else kw

    return base


def _optional(modname: str) -> Any:
    """The module, or None while a helper's new module is not in this checkout yet."""
    try:
        return importlib.import_module(modname)
    except ModuleNotFoundError:
        return None


def _exists(key: str) -> bool:
    """Whether a table key names an existing object (helpers add modules and functions while
    this test is written: their cases skip, and their entries are not stale, until then)."""
    parts = key.split(".")
    for cut in range(len(parts) - 1, 1, -1):
        mod = _optional(".".join(parts[:cut]))
        if mod is not None:
            obj: Any = mod
            for attr in parts[cut:]:
                if not hasattr(obj, attr):
                    return False
                obj = getattr(obj, attr)
            return True
    return False


def _lazy(modname: str, name: str) -> Callable[..., Any]:
    """A function of a module that may not exist yet (its cases skip until it does)."""

    def call(**kwargs: Any) -> Any:
        mod = _optional(modname)
        if mod is None or not hasattr(mod, name):
            pytest.skip(f"{modname}.{name} is not in this checkout")
        return getattr(mod, name)(**kwargs)

    return call


# --- bad-value vocabularies --------------------------------------------------------
POS = [0.0, NAN, INF, True, "0.1"]  # a positive real
NONNEG = [-1.0, NAN, INF, True, "1"]  # a real >= 0
REAL = [NAN, INF, True, "1"]  # any finite real


def count(low: int = 1) -> list[Any]:
    """Bad values for an integer parameter with lower bound ``low``."""
    return [low - 1, 1.5, True, "3"]  # (NaN takes the path of 1.5: not integer-valued)


FLAG = ["no", 1, None]
SEED = [-1, 1.5, True, "0"]
DEVICE = ["tpu", "cuda:99", "mps:1", 3]
DTYPE = [torch.int64, "float32"]
NAME = ["nope", 3]
HIDE = [["nope"], "lr", [3], None, 3]


def hess_bad(d: int = 4) -> list[Any]:
    """Bad per-sample Hessians (n, d, d)."""
    asym = _hs().clone()
    asym[0, 0, 1] += 1.0
    nan = _hs().clone()
    nan[0, 0, 0] = NAN
    eye = torch.eye(_hs().shape[-1], dtype=torch.float64)
    return [
        asym,
        nan,
        -_hs(),  # negative semi-definite: the numbers were wrong, silently
        _hs() - 0.5 * eye,  # indefinite
        torch.zeros(0, d, d),
        torch.ones(3, d, d - 1),
        torch.ones(d, d),
        torch.ones(2, d, d, dtype=torch.bool),
        "H",
    ]


def _tensor_bad(shape: tuple[int, ...]) -> list[Any]:
    """Bad floating tensors of an expected shape: NaN, inf, integer dtype, empty, list."""
    nan = torch.ones(shape, dtype=torch.float64)
    nan.view(-1)[0] = NAN
    return [nan, torch.ones(shape, dtype=torch.int64), torch.zeros(0), [1.0] * shape[0]]


@dataclass
class Entry:
    """How to call one public function well (``base``) and which values are bad."""

    call: Callable[..., Any]
    base: Callable[[], dict[str, Any]]
    bad: dict[str, list[Any]]
    match: dict[str, Any] = field(default_factory=dict)  # param -> token(s) in the message
    gaps: dict[str, str] = field(default_factory=dict)  # param -> owner: known missing check


H = _hs()
NET = _net()


def _enter_threads(**kw: Any) -> None:
    """torch_threads checks its argument on entering the block."""
    with device.torch_threads(**kw):
        pass


def _model_kw(**extra: Any) -> Callable[[], dict[str, Any]]:
    return lambda: {"model": NET[0], "x": NET[1], "y": NET[2], **extra}


_NET_BAD = {
    "model": ["linear", None],
    "x": [NET[1][:, :2].clone(), torch.full((5, 3), NAN, dtype=torch.float64), torch.zeros(0, 3)],
    "y": [NET[2][:3], torch.full((5, 1), NAN, dtype=torch.float64), [0.0] * 5],
    "loss": NAME,
    "params": [
        torch.zeros(7, dtype=torch.float64),
        torch.full((4,), NAN, dtype=torch.float64),
        torch.zeros(4, dtype=torch.float32),
        "theta",
    ],
}
_NET_MATCH = {"x": "x", "y": "y"}
_OP_BAD = {
    "matvec": ["A", None],
    "dim": count(1),
    "seed": SEED,
    "dtype": [torch.int64, "float32"],
    "device": DEVICE,
}

TABLE: dict[str, Entry] = {
    # ---- alignkit._checks ----
    "alignkit._checks.check_scalar": Entry(
        _checks.check_scalar,
        lambda: {"value": 0.5, "name": "lr", "low": 0.0, "high": 1.0, "closed": "both"},
        {
            "value": [NAN, INF, -1.0, 2.0, True, "x", None],
            "name": [3, ""],
            "low": ["a", NAN, 5.0],
            "high": ["a", NAN, -5.0],
            "closed": ["open", None],
        },
        match={"value": "lr", "name": "name", "low": "low", "high": "high"},
    ),
    "alignkit._checks.check_int": Entry(
        _checks.check_int,
        lambda: {"value": 3, "name": "steps", "low": 1, "high": 10},
        {
            "value": [0, 11, 1.5, NAN, True, "3"],
            "name": [None],
            "low": ["a", 20],
            "high": ["a", -20],
        },
        match={"value": "steps", "low": "low", "high": "high"},
    ),
    "alignkit._checks.check_bool": Entry(
        _checks.check_bool,
        lambda: {"value": True, "name": "flag"},
        {"value": ["no", 1, None, 0.0], "name": [3]},
        match={"value": "flag"},
    ),
    "alignkit._checks.check_instance": Entry(
        _checks.check_instance,
        lambda: {"value": 1, "name": "count", "kinds": int, "what": "an int"},
        {"value": ["1", None, True, 1.0], "name": [3], "kinds": [3], "what": [3]},
        match={"value": "count", "kinds": "kinds", "what": "what"},
    ),
    "alignkit._checks.check_choice": Entry(
        _checks.check_choice,
        lambda: {"value": "a", "name": "model", "choices": ["a", "b"]},
        {"value": ["c", 3, None], "name": [None], "choices": [["b"]]},
        match={"value": "model", "choices": "model"},
    ),
    "alignkit._checks.check_shape": Entry(
        _checks.check_shape,
        lambda: {"shape": (2,), "name": "x", "expected": "(2,)", "ok": True},
        {"ok": [False, "yes"], "name": [None]},
        match={"ok": "x"},
    ),
    "alignkit._checks.check_values": Entry(
        _checks.check_values,
        lambda: {"value": [1.0, 2.0], "name": "lrs", "low": 0.0},
        {
            "value": [[NAN], [-1.0], [], [True], "1", torch.tensor([True]), META],
            "name": [None],
            "low": ["a"],
            "high": [-1.0],
            "closed": ["open"],
            "ndim": [2],
        },
        match={"value": "lrs", "high": "high", "ndim": "lrs"},
    ),
    "alignkit._checks.check_float_dtype": Entry(
        _checks.check_float_dtype,
        lambda: {"dtype": torch.float32, "name": "dtype"},
        {"dtype": [torch.int64, "float32", None, torch.float16, torch.bfloat16], "name": [3]},
    ),
    # ---- alignkit.cli ----
    "alignkit.cli.main": Entry(cli.main, lambda: {"argv": ["doctor"]}, {"argv": ["doctor", [3]]}),
    # ---- alignkit.device ----
    "alignkit.device.get_device": Entry(
        device.get_device, lambda: {"device": "cpu"}, {"device": DEVICE}
    ),
    "alignkit.device.seed_everything": Entry(
        device.seed_everything, lambda: {"seed": 0}, {"seed": [*SEED, 2**40]}
    ),
    "alignkit.device.make_generator": Entry(
        device.make_generator,
        lambda: {"seed": 0, "device": "cpu"},
        {"seed": SEED, "device": DEVICE},
    ),
    "alignkit.device.describe": Entry(
        device.describe, lambda: {"device": "cpu"}, {"device": DEVICE}
    ),
    "alignkit.device.to_numpy": Entry(device.to_numpy, lambda: {"x": [1.0]}, {"x": [object()]}),
    "alignkit.device.torch_threads": Entry(
        _enter_threads, lambda: {"threads": None}, {"threads": [0, -1, 1.5, True, "1"]}
    ),
    # ---- alignkit.theme (figure colours; alignkit.plotting.set_theme forwards here) ----
    "alignkit.theme.set_theme": Entry(
        theme.set_theme, lambda: {"theme": "auto"}, {"theme": ["blue", "Dark", "", None, 3]}
    ),
    "alignkit.theme.theme_css": Entry(
        theme.theme_css,
        lambda: {},
        {
            "scope": ["", "body { x", 3],
            "fg": [None, "red;}"],
            "muted": ["</style>"],
            "grid": [""],
            "surface": [1.5],
            "figures": [1, "yes"],
        },
    ),
    # ---- alignkit.live ----
    "alignkit.live.LivePanel": Entry(
        live.LivePanel,
        _panel_base,
        {
            "controls": [{}, {"a": 3}, [1]],
            "compute": [3],
            "update": [None],
            "figure": [{}],
            "key": [3],
            "min_interval_s": [-1.0, NAN, True],
            "hide": [["nope"], [3], None, 3],
            "scheduler": [3],
            "description": [3],
            "threads": [0, -1, 1.5, True],
            "name": [3, b"gd"],
            "show_when": [3, {"nope": ("lr", (1,))}, {"lr": "lr"}, {"lr": ("lr", (1,))}],
            "cache_size": [-1, 1.5, True],
            "limits": [3, {"nope": lambda s: 1}, {"a": 3}],
            "prefetch": [1, "yes", None],
            "fixed": [3, ["n"], {3: 1}, {"class": 1}, {"a": 0.5}],
        },
    ),
    "alignkit.live.non_default": Entry(
        lambda function, values: live.non_default(function, **values),
        lambda: {"function": _takes_n, "values": {"n": 3}},
        {"function": [3, None], "values": [{"m": 3}]},
    ),
    "alignkit.live.messages.one_message": Entry(
        one_message,
        lambda: {"fig": go.FigureWidget(), "send": lambda *a, **k: None},
        {"fig": [3, None, go.Figure()], "send": [3, None, "send"]},
    ),
    "alignkit.live.prefetch.next_value": Entry(
        next_value,
        lambda: {
            "widget": W.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.1),
            "old": 0.4,
            "new": 0.5,
        },  # fmt: skip
        {"widget": [3, None, "slider"]},
    ),
    "alignkit.live.LivePanel.set_state": Entry(
        lambda **kw: live.LivePanel(**_panel_base()).set_state(**kw),
        lambda: {},
        {"values": [{"nope": 1}, {"a": 5.0}, {"a": NAN}, {"a": True}]},
        match={"values": ("set_state", "a must")},
    ),
    "alignkit.live.LivePanel.save": Entry(
        lambda **kw: _gd_panel().save(**kw),
        lambda: {"path": "/nonexistent/view.csv"},
        {"path": ["/tmp/view.unknown", 3, None]},
    ),
    "alignkit.live.LivePanel.static_figure": Entry(
        lambda **kw: widgets.gd_explorer().static_figure(**kw),
        lambda: {},
        {"options": [{"budget": 0}, {"budget": 1.5}]},
        match={"options": "budget"},
    ),
    "alignkit.live.float_slider": Entry(
        live.float_slider,
        lambda: {
            "value": 0.5,
            "low": 0.0,
            "high": 1.0,
            "step": 0.1,
            "description": "lr",
            "fmt": ".3g",
        },
        {
            "value": [5.0, NAN, True],
            "low": [NAN, 2.0],
            "high": [NAN, -1.0],
            "step": [0.0, 5.0, NAN],
            "description": [3],
            "fmt": [3, "nope", ".3~g"],
            "name": [3],
        },
    ),
    "alignkit.live.log_slider": Entry(
        live.log_slider,
        lambda: {
            "value": 0.5,
            "low": 0.01,
            "high": 1.0,
            "description": "lr",
            "steps_per_decade": 20,
        },
        {
            "value": [5.0, NAN, 0.0],
            "low": [0.0, -1.0, NAN],
            "high": [NAN, 0.001],
            "description": [None],
            "steps_per_decade": count(1),
            "name": [3],
        },
    ),
    "alignkit.live.int_slider": Entry(
        live.int_slider,
        lambda: {"value": 2, "low": 1, "high": 5, "description": "B", "step": 1},
        {
            "value": [9, 1.5, True],
            "low": [1.5, 9],
            "high": [1.5, 0],
            "description": [None],
            "step": count(1),
            "name": [3],
        },
    ),
    "alignkit.live.check_hide": Entry(
        live.check_hide,
        lambda: {"hide": (), "names": ("a",)},
        {"hide": [None, 3, "a", [3], ["b"]], "names": [3]},
    ),
    "alignkit.live.dropdown": Entry(
        live.dropdown,
        lambda: {"value": "a", "options": ["a", "b"], "description": "x"},
        {
            "value": ["c", 3],
            "options": ["ab", [1, 2], None, [], {"a": 1}],
            "description": [None],
            "name": [3],
        },
        match={"options": "options"},
    ),
    "alignkit.live.selection_slider": Entry(
        live.selection_slider,
        lambda: {"value": 0.5, "options": [0.5, 1.0], "description": "x"},
        {
            "value": [0.7, None, "a"],
            "options": ["ab", None, [], {"a": 1}],
            "description": [None],
            "fmt": [3, "{:q}", "{0}{1}"],
            "name": [3],
        },
        match={"options": "options"},
    ),
    # ---- alignkit.numerics ----
    "alignkit.numerics.functional.flat_params": Entry(
        functional.flat_params, lambda: {"model": NET[0]}, {"model": ["linear", torch.zeros(3)]}
    ),
    "alignkit.numerics.functional.loss_fn": Entry(
        functional.loss_fn,
        _model_kw(loss="mse"),
        {k: v for k, v in _NET_BAD.items() if k != "params"},
        match=_NET_MATCH,
    ),
    "alignkit.numerics.hessian.hessian_operator": Entry(
        hessian.hessian_operator, _model_kw(), {**_NET_BAD, "route": NAME}, match=_NET_MATCH
    ),
    "alignkit.numerics.hessian.hessian_vector_product": Entry(
        hessian.hessian_vector_product,
        _model_kw(v=torch.ones(4, dtype=torch.float64)),
        {
            **_NET_BAD,
            "v": [
                torch.ones(3, dtype=torch.float64),
                torch.full((4,), NAN, dtype=torch.float64),
                torch.zeros(0, 4),
                [1.0],
            ],
            "route": NAME,
        },
        match=_NET_MATCH,
    ),
    "alignkit.numerics.hessian.hessian_matrix": Entry(
        hessian.hessian_matrix,
        _model_kw(),
        {**_NET_BAD, "max_dim": [*count(1), 2], "chunk_size": count(1)},
        match=_NET_MATCH,
    ),
    "alignkit.numerics.hessian.per_sample_hessians": Entry(
        hessian.per_sample_hessians,
        _model_kw(),
        {**_NET_BAD, "max_dim": [0, 1.5, 2], "max_entries": [0, 1.5, 10], "chunk_size": count(1)},
        match=_NET_MATCH,
    ),
    "alignkit.numerics.hessian.top_eigenvalues": Entry(
        hessian.top_eigenvalues,
        _model_kw(),
        {
            **_NET_BAD,
            "k": [0, 5, 1.5],
            "method": NAME,
            "iters": count(1),
            "tol": NONNEG,
            "seed": SEED,
            "route": NAME,
        },
        match=_NET_MATCH,
    ),
    "alignkit.numerics.hessian.hutchinson_trace": Entry(
        hessian.hutchinson_trace,
        _model_kw(samples=4),
        {
            **_NET_BAD,
            "samples": count(1),
            "deflate": [-1, 5, 1.5],
            "block_size": count(1),
            "seed": SEED,
            "route": NAME,
        },
        match=_NET_MATCH,
    ),
    "alignkit.numerics.hessian.top_eigenvalues_and_trace": Entry(
        hessian.top_eigenvalues_and_trace,
        _model_kw(samples=4),
        {
            **_NET_BAD,
            "k": [0, 5, 1.5],
            "iters": count(1),
            "tol": NONNEG,
            "samples": count(1),
            "deflate": [-1, 5, 1.5],
            "block_size": count(1),
            "seed": SEED,
            "route": NAME,
        },
        match=_NET_MATCH,
    ),
    "alignkit.numerics.hessian.frobenius_norm": Entry(
        hessian.frobenius_norm,
        _model_kw(),
        {
            **_NET_BAD,
            "method": NAME,
            "samples": count(1),
            "block_size": count(1),
            "seed": SEED,
            "max_dim": count(1),
            "route": NAME,
        },
        match=_NET_MATCH,
    ),
    "alignkit.numerics.lanczos.operator_top_eigenvalues": Entry(
        lanczos.operator_top_eigenvalues,
        lambda: {"matvec": _eye_matvec, "dim": 4, "device": "cpu"},
        {**_OP_BAD, "k": [0, 5, 1.5], "method": NAME, "iters": count(1), "tol": NONNEG},
    ),
    "alignkit.numerics.trace.operator_trace": Entry(
        trace.operator_trace,
        lambda: {"matvec": _eye_matvec, "dim": 4, "samples": 3, "device": "cpu"},
        {**_OP_BAD, "samples": count(1), "deflate": [-1, 5, 1.5], "block_size": count(1)},
    ),
    "alignkit.numerics.trace.operator_top_eigenvalues_and_trace": Entry(
        trace.operator_top_eigenvalues_and_trace,
        lambda: {"matvec": _eye_matvec, "dim": 4, "samples": 3, "device": "cpu"},
        {
            **_OP_BAD,
            "k": [0, 5, 1.5],
            "iters": count(1),
            "tol": NONNEG,
            "samples": count(1),
            "deflate": [-1, 5, 1.5],
            "block_size": count(1),
        },
    ),
    "alignkit.numerics.hvp.hvp_operator": Entry(
        hvp.hvp_operator,
        lambda: {"f": lambda t: (t**2).sum(), "theta": torch.ones(3), "route": "auto"},
        {
            "f": ["f", None],
            "theta": [
                torch.ones(2, 3),
                torch.zeros(0),
                torch.full((3,), NAN),
                [1.0],
                torch.ones(3, dtype=torch.int64),
            ],
            "route": NAME,
        },
    ),
    "alignkit.numerics.hvp.resolve_route": Entry(
        hvp.resolve_route,
        lambda: {"route": "auto", "device": "cpu"},
        {"route": NAME, "device": ["tpu", 3, None]},
    ),
    "alignkit.numerics.trace.operator_frobenius_norm": Entry(
        trace.operator_frobenius_norm,
        lambda: {"matvec": _eye_matvec, "dim": 4, "samples": 3, "device": "cpu"},
        {**_OP_BAD, "samples": count(1), "block_size": count(1)},
    ),
    "alignkit.numerics.lanczos.lanczos": Entry(
        lanczos.lanczos,
        lambda: {
            "matvec": _eye_matvec,
            "start": torch.ones(4),
            "k": 1,
            "iters": 4,
            "tol": 1e-4,
            "generator": torch.Generator(),
        },
        {
            "matvec": [None],
            "start": [
                torch.zeros(4),
                torch.full((4,), NAN),
                torch.ones(2, 4),
                torch.ones(4, dtype=torch.int64),
                torch.zeros(0),
            ],
            "k": [0, 5, 1.5],
            "iters": count(1),
            "tol": NONNEG,
            "generator": [0, None],
        },
    ),
    "alignkit.numerics.lanczos.power_iteration": Entry(
        lanczos.power_iteration,
        lambda: {"matvec": _eye_matvec, "start": torch.ones(1, 4), "k": 1, "iters": 4, "tol": 1e-4},
        {
            "matvec": [None],
            "start": [torch.zeros(1, 4), torch.ones(4), torch.full((1, 4), NAN)],
            "k": [0, 2, 1.5],
            "iters": count(1),
            "tol": NONNEG,
        },
    ),
    "alignkit.numerics.lanczos.rademacher": Entry(
        lanczos.rademacher,
        lambda: {"shape": (3,), "generator": torch.Generator(), "dtype": torch.float32},
        {
            "shape": [(-1,), (1.5,), 3, "3"],
            "generator": [0],
            "dtype": [torch.bool, torch.uint8, "float32"],
        },
    ),
    # ---- alignkit.stability.theory (and .conditions, whose names it re-exports) ----
    "alignkit.stability.conditions.sampling_factor": Entry(
        theory.sampling_factor,
        lambda: {"n": 10, "batch_size": 2, "replacement": False},
        {"n": count(1), "batch_size": [0, 11, 1.5, True, NAN], "replacement": FLAG},
    ),
    "alignkit.stability.theory.sharpness": Entry(
        theory.sharpness,
        lambda: {"hessian": H.mean(0)},
        {
            "hessian": [
                torch.tensor([[1.0, NAN], [NAN, 1.0]]),
                torch.tensor([[0.0, 1.0], [0.0, 0.0]]),
                torch.zeros(0, 0),
                torch.ones(2, 3),
                H,
                "H",
                torch.eye(2, dtype=torch.bool),
            ]
        },
    ),
    "alignkit.stability.theory.nonuniformity": Entry(
        theory.nonuniformity,
        lambda: {"per_sample_hessians": H},
        {"per_sample_hessians": hess_bad()},
    ),
    "alignkit.stability.theory.stability_operator": Entry(
        theory.stability_operator,
        lambda: {"per_sample_hessians": H, "lr": 0.1, "batch_size": 2},
        {
            "per_sample_hessians": hess_bad(),
            "lr": [*POS, 1e200],
            "batch_size": [0, 7, 1.5, True],
            "replacement": FLAG,
            "restrict": FLAG,
        },
    ),
    "alignkit.stability.theory.spectral_radius": Entry(
        theory.spectral_radius,
        lambda: {"per_sample_hessians": H, "lr": 0.1, "batch_size": 2},
        {
            "per_sample_hessians": hess_bad(),
            "lr": [*POS, 1e200],
            "batch_size": [0, 7, 1.5, True],
            "replacement": FLAG,
        },
    ),
    "alignkit.stability.theory.spectral_radius_curve": Entry(
        theory.spectral_radius_curve,
        lambda: {"per_sample_hessians": H, "lrs": torch.tensor([0.1, 0.2]), "batch_size": 2},
        {
            "per_sample_hessians": hess_bad(),
            "lrs": [
                torch.tensor([0.1, NAN]),
                [0.1, -1.0],
                [],
                [True],
                "0.1",
                [1e200],
                torch.tensor([True]),
            ],
            "batch_size": [0, 7, 1.5, True],
            "replacement": FLAG,
            "iters": count(1),
            "tol": [0.0, -1.0, NAN, True],
        },
    ),
    "alignkit.stability.theory.linear_stability_threshold": Entry(
        theory.linear_stability_threshold,
        lambda: {"per_sample_hessians": H, "batch_size": 2},
        {
            "per_sample_hessians": hess_bad(),
            "batch_size": [0, 7, 1.5, True, NAN, "2"],
            "replacement": FLAG,
        },
    ),
    "alignkit.stability.theory.threshold_curve": Entry(
        theory.threshold_curve,
        lambda: {"per_sample_hessians": H, "batch_sizes": [1, 2]},
        {
            "per_sample_hessians": hess_bad(),
            "batch_sizes": [
                [1.5],
                [0],
                [7],
                [True],
                [],
                "12",
                torch.tensor([1.5]),
                torch.tensor([True]),
                [NAN],
            ],
            "replacement": FLAG,
            "iters": count(1),
            "tol": [0.0, -1.0, NAN, True],
        },
    ),
    "alignkit.stability.conditions.threshold_upper_bounds": Entry(
        theory.threshold_upper_bounds,
        lambda: {"per_sample_hessians": H, "batch_size": 2},
        {"per_sample_hessians": hess_bad(), "batch_size": [0, 7, 1.5, True], "replacement": FLAG},
    ),
    "alignkit.stability.conditions.region_boundary": Entry(
        theory.region_boundary,
        lambda: {"lr": 0.5, "batch_size": 1, "n": 2},
        {
            "lr": [*POS, 1e200],
            "batch_size": [0, 3, 1.5, True],
            "n": count(1),
            "replacement": FLAG,
            "num": [*count(2), 10**12],
        },
    ),
    "alignkit.stability.conditions.stable_1d": Entry(
        theory.stable_1d,
        lambda: {"sharpness": 2.0, "nonuniformity": 1.0, "lr": 0.5, "batch_size": 1, "n": 2},
        {
            "sharpness": [NAN, -1.0, True, "a", []],
            "nonuniformity": [NAN, -1.0, True, []],
            "lr": [*POS, 1e200],
            "batch_size": [0, 3, 1.5, True],
            "n": count(1),
            "replacement": FLAG,
        },
    ),
    "alignkit.stability.secular.top_eigenvalue_diag_lowrank": Entry(
        secular.top_eigenvalue_diag_lowrank,
        lambda: {
            "delta": torch.zeros(2, 3, dtype=torch.float64),
            "factor": torch.ones(3, 1, dtype=torch.float64),
            "coef": torch.ones(2, dtype=torch.float64),
        },
        {
            "delta": [
                torch.full((2, 3), NAN),
                torch.zeros(3),
                torch.zeros(2, 3, dtype=torch.bool),
                "d",
            ],
            "factor": [torch.full((3, 1), INF), torch.ones(4, 1), torch.ones(3), [[True]]],
            "coef": [torch.tensor([1.0, -1.0]), torch.ones(3), torch.tensor([NAN, 1.0]), "c"],
            "tol": [0.0, 1.0, -1.0, NAN, True],
            "iters": count(1),
        },
    ),
    # ---- toys, quadratic, simulate, minibatch, models ----
    "alignkit.stability.toys.escape_toy_losses": Entry(
        toys.escape_toy_losses,
        lambda: {"x": torch.tensor([0.5])},
        {"x": [torch.tensor([2]), torch.tensor([NAN]), torch.zeros(0), 0.5, [0.5]]},
    ),
    "alignkit.stability.toys.escape_toy_gradients": Entry(
        toys.escape_toy_gradients,
        lambda: {"x": torch.tensor([0.5])},
        {"x": [torch.tensor([2]), torch.tensor([INF]), torch.zeros(0), 0.5]},
    ),
    "alignkit.stability.toys.escape_toy_hessians": Entry(
        toys.escape_toy_hessians, lambda: {"at": 1}, {"at": [2, 0.5, True, NAN, "1"]}
    ),
    "alignkit.stability.toys.EscapeRun.fraction_near": Entry(
        lambda **kw: _escape_run().fraction_near(**kw),
        lambda: {"minimum": 1.0, "radius": 0.25},
        {"minimum": REAL, "radius": POS},
    ),
    "alignkit.stability.toys.simulate_escape_toy": Entry(
        toys.simulate_escape_toy,
        lambda: {"lr": 0.5, "batch_size": 1, "steps": 3, "seeds": 4},
        {
            "lr": POS,
            "batch_size": [0, 1.5, True, 10**12],
            "x0": [NAN, INF, True, 1e9],
            "steps": count(1),
            "seeds": count(1),
            "replacement": FLAG,
            "noise": NONNEG,
            "seed": SEED,
            "device": DEVICE,
        },
    ),
    "alignkit.stability.toys.uv_hessians": Entry(
        toys.uv_hessians,
        lambda: {
            "u": torch.tensor([1.0, 2.0]),
            "v": torch.tensor([1.0, 0.5]),
            "x": torch.tensor([0.5, 1.5]),
        },
        {"u": _tensor_bad((2,)), "v": [*_tensor_bad((2,)), torch.ones(3)], "x": _tensor_bad((2,))},
    ),
    "alignkit.stability.toys.linear_regression_hessians": Entry(
        toys.linear_regression_hessians,
        lambda: {"n": 3, "d": 4, "device": "cpu"},
        {"n": count(1), "d": count(1), "seed": SEED, "device": DEVICE},
    ),
    "alignkit.stability.toys.uv_data": Entry(toys.uv_data, lambda: {"n": 4}, {"n": count(2)}),
    "alignkit.stability.toys.simulate_uv_sgd": Entry(
        toys.simulate_uv_sgd,
        lambda: {"lr": 0.1, "batch_size": 2, "steps": 3, "seeds": 4},
        {
            "lr": POS,
            "batch_size": [0, "2", 1.5, True, 10**12],
            "u0": POS,
            "n": count(2),
            "steps": count(1),
            "seeds": count(1),
            "replacement": FLAG,
            "noise": NONNEG,
            "seed": SEED,
            "device": DEVICE,
        },
    ),
    "alignkit.stability.quadratic.gd_quadratic": Entry(
        quadratic.gd_quadratic,
        lambda: {"sharpness": 2.0, "lr": 0.3},
        {
            "sharpness": [*POS, torch.zeros(0), torch.tensor([True]), [1.0, NAN]],
            "lr": [*POS, torch.zeros(0), torch.tensor([True]), [0.1, NAN]],
            "x0": [0.0, NAN, INF, True],
            "steps": count(1),
        },
    ),
    "alignkit.stability.quadratic.regime": Entry(
        quadratic.regime,
        lambda: {"sharpness": 2.0, "lr": 0.3},
        {"sharpness": POS, "lr": POS},
    ),
    "alignkit.stability.simulate.simulate_linear_sgd": Entry(
        simulate.simulate_linear_sgd,
        lambda: {"per_sample_hessians": H, "lr": 0.1, "batch_size": 2, "steps": 2, "seeds": 2},
        {
            "per_sample_hessians": hess_bad(),
            "lr": [*POS, [], torch.tensor([True])],
            "batch_size": [0, 7, 1.5, True],
            "steps": count(1),
            "seeds": count(1),
            "replacement": FLAG,
            "seed": SEED,
            "device": DEVICE,
        },
    ),
    "alignkit.stability.minibatch.minibatch_indices": Entry(
        minibatch.minibatch_indices,
        lambda: {
            "seeds": torch.tensor([0, 1]),
            "step": 0,
            "n": 5,
            "batch_size": 2,
            "replacement": False,
        },
        {
            "seeds": [torch.tensor([0.5]), torch.tensor(0), [0, 1], torch.tensor([True])],
            "step": [-1, 1.5, True],
            "n": [0, -1, 1.5, 10**12],
            "batch_size": [0, 6, 1.5, True],
            "replacement": FLAG,
        },
    ),
    "alignkit.stability.minibatch.draw_minibatches": Entry(
        minibatch.draw_minibatches,
        lambda: {
            "shape": (3,),
            "n": 5,
            "batch_size": 2,
            "replacement": False,
            "generator": torch.Generator(),
        },
        {
            "shape": [(-1,), 3, (1.5,)],
            "n": [0, 1.5, 10**12],
            "batch_size": [0, 6, 1.5, True],
            "replacement": FLAG,
            "generator": [0, None],
        },
    ),
    "alignkit.stability.models.make_model": Entry(
        models.make_model,
        lambda: {"name": "linear", "n": 4, "width": 6, "device": "cpu"},
        {
            "name": NAME,
            "n": [*count(2), 5000],
            "width": [0, 1.5, True, 4],
            "data_seed": SEED,
            "device": DEVICE,
            "dtype": DTYPE,
        },
    ),
    "alignkit.stability.models.load_digits_subset": Entry(
        models.load_digits_subset,
        lambda: {"n": 4, "device": "cpu"},
        {"n": [0, 1.5, 5000, True], "seed": SEED, "device": DEVICE, "dtype": DTYPE},
    ),
    "alignkit.stability.models.FunctionalModel.init": Entry(
        lambda **kw: _fm().init(**kw),
        lambda: {"seeds": [0]},
        {"seeds": [[1.5], [-1], [], "ab", 3, [True]]},
    ),
    # ---- views ----
    "alignkit.stability.views.region_view": Entry(
        views.region_view,
        lambda: {"lr": 0.5, "batch_size": 1},
        {
            "lr": [*POS, 1e200],
            "batch_size": [0, 1.5, True],
            "n": count(1),
            "replacement": FLAG,
            "points": [
                {},
                {"a": (NAN, 1.0)},
                {"a": (1.0,)},
                {"a": (-1.0, 1.0)},
                [(1.0, 1.0)],
                {3: (1.0, 1.0)},
            ],
        },
    ),
    "alignkit.stability.views.threshold_view": Entry(
        views.threshold_view,
        lambda: {"batch_size": 2, "n": 4, "d": 6},
        {
            "batch_size": [0, 5, 1.5, True],
            "n": [1, 41, 1.5, True],
            "d": [0, 401, 1.5],
            "replacement": FLAG,
            "seed": SEED,
            "num": count(2),
        },
    ),
    "alignkit.stability.views.simulation_view": Entry(
        views.simulation_view,
        lambda: {"lr": 0.1, "batch_size": 2, "n": 4, "d": 6, "steps": 2, "seeds": 2},
        {
            "lr": POS,
            "batch_size": [0, 5, 1.5, True],
            "n": count(1),
            "d": count(1),
            "steps": count(1),
            "seeds": count(1),
            "replacement": FLAG,
            "seed": SEED,
            "shown": [-1, 1.5, True],
        },
    ),
    "alignkit.stability.views.sweep_view": Entry(
        views.sweep_view,
        lambda: {"result": _sweep_result(), "lr": 0.1, "batch_size": 2},
        {"result": [None, {}], "lr": POS, "batch_size": [0, 1.5, True]},
    ),
    # ---- widgets: values outside the control's range are refused, never clamped ----
    "alignkit.stability.widgets.gd_explorer": Entry(
        widgets.gd_explorer,
        lambda: {},
        {
            "lr": [5.0, 0.0, NAN, True],
            "sharpness": [0.1, 9.0, NAN],
            "steps": [0, 101, 1.5],
            "hide": HIDE,
        },
    ),
    "alignkit.stability.widgets.region_explorer": Entry(
        widgets.region_explorer,
        lambda: {},
        {
            "lr": [5.0, 0.0, NAN, True],
            "batch_size": [0, 17, 1.5, True],
            "sampling": NAME,
            "minima": NAME,
            "hide": HIDE,
        },
    ),
    "alignkit.stability.widgets.threshold_explorer": Entry(
        widgets.threshold_explorer,
        lambda: {},
        {
            "batch_size": [0, 21, 1.5, True],
            "sampling": NAME,
            "n": [1, 21, 1.5],
            "d": [0, 61, 1.5],
            "seed": [-1, 21, 1.5],
            "hide": HIDE,
        },
    ),
    "alignkit.stability.widgets.simulation_explorer": Entry(
        widgets.simulation_explorer,
        lambda: {},
        {
            "lr": [5.0, 0.0, NAN, True],
            "batch_size": [0, 11, 1.5, True],
            "sampling": NAME,
            "n": [1, 41, 1.5],
            "d": count(1),
            "seeds": count(1),
            "steps": count(1),
            "seed": [-1, 21, 1.5, True],
            "hide": HIDE,
        },
    ),
    "alignkit.stability.widgets.escape_explorer": Entry(
        widgets.escape_explorer,
        lambda: {},
        {
            "lr": [5.0, 0.0, NAN, True],
            "batch_size": [0, 9, 1.5, True],
            "sampling": NAME,
            "steps": count(1),
            "seeds": count(1),
            "seed": [-1, 21, 1.5, True],
            "hide": HIDE,
        },
    ),
    "alignkit.stability.widgets.sweep_explorer": Entry(
        widgets.sweep_explorer,
        lambda: {"source": "precomputed"},
        {
            "model": NAME,
            "lr": [100.0, 0.0, NAN, True],
            "batch_size": [0, 49, 1.5, True],
            "width": [3.0, True, "1"],
            "source": NAME,
            "hide": HIDE,
        },
    ),
    # ---- other owners' modules (theme 1) ----
    "alignkit.stability.sweep.sgd_sweep": Entry(
        sweep.sgd_sweep,
        lambda: {
            "model": "linear",
            "lrs": [0.1],
            "batch_sizes": [2],
            "seeds": [0],
            "steps": 2,
            "n": 4,
            "width": 6,
            "diagnostics": False,
            "device": "cpu",
        },
        {
            "model": NAME,
            "lrs": [[0.0], [NAN], [], [True], "0.1"],
            "batch_sizes": [[0], [5], [1.5]],
            "seeds": [[-1], [1.5], [2**40]],
            "steps": count(1),
            "n": count(2),
            "width": [0, 1.5, 4],
            "data_seed": SEED,
            "replacement": FLAG,
            "check_every": count(1),
            "divergence_factor": [0.5, NAN, True],
            "chunk_size": count(1),
            "diagnostics": FLAG,
            "keep_params": FLAG,
            "device": DEVICE,
            "dtype": DTYPE,
        },
    ),
    "alignkit.stability.sweep.default_grid": Entry(
        sweep.default_grid, lambda: {"model": "linear"}, {"model": NAME}
    ),
    "alignkit.stability.sweep_result.load_sweep": Entry(
        sweep_result.load_sweep,
        lambda: {},
        {"path": [3, b"data.npz"], "verify": FLAG},  # a missing file: FileNotFoundError
    ),
    "alignkit.stability.toys.uv_growth_rates": Entry(
        toys.uv_growth_rates,
        lambda: {"lr": 0.1},
        {"lr": POS, "u0": [*POS, 1e-300, 1e300], "n": count(2)},
    ),
    "alignkit.stability.sweep_record.SweepResult.to_arrays": Entry(
        lambda **kw: _sweep_result().to_arrays(**kw), lambda: {}, {"prefix": [3]}
    ),
    "alignkit.stability.sweep_record.SweepResult.from_arrays": Entry(
        sweep_result.SweepResult.from_arrays,
        lambda: {"arrays": _sweep_result().to_arrays()},
        {"arrays": [{}, 3], "prefix": [3, "nope_"]},
    ),
    "alignkit.stability.sweep_cli.main": Entry(
        sweep_cli.main, lambda: {"argv": ["--help"]}, {"argv": ["x", [3]]}
    ),
    "alignkit.stability.noise.square_loss": Entry(
        noise.square_loss,
        lambda: {
            "fn": lambda th, x: x @ th,
            "theta": torch.ones(3, dtype=torch.float64),
            "x": NET[1],
            "y": NET[2][:, 0],
        },
        {
            "fn": [None],
            "theta": _tensor_bad((3,)),
            "x": [torch.ones(5, 3, dtype=torch.int64), torch.full((5, 3), NAN), torch.zeros(0, 3)],
            "y": [NET[2][:3, 0], torch.full((5,), NAN)],
        },
    ),
    **{
        f"alignkit._checks.{name}": Entry(
            getattr(_checks, name),
            lambda: {"value": torch.ones(2), "name": "theta"},
            {"value": bad, "name": [None]},
            match={"value": "theta"},
        )
        for name, bad in (
            (
                "check_float_tensor",
                [torch.ones(2, dtype=torch.int64), torch.tensor([NAN]), [1.0], META],
            ),
            ("check_numeric", [True, "1", torch.tensor([True]), torch.zeros(0), META]),
            ("check_has_data", [META]),
            ("check_integer_valued", [torch.tensor([1.5])]),
        )
    },
    # ---- noise (shared; checks at the top added here) ----
    **{
        f"alignkit.stability.noise.{name}": Entry(
            getattr(noise, name),
            _noise_base(with_y),
            {
                "fn": [None, 3, lambda th, x: x[:, :2] @ th],  # (the last: a model for d = 2)
                "theta": [
                    *_tensor_bad((3,)),
                    None,
                    torch.ones(4, dtype=torch.float64),
                    torch.ones(3, dtype=torch.float16),
                    META,
                ],
                "x": [
                    torch.ones(5, 3, dtype=torch.int64),
                    torch.full((5, 3), NAN),
                    torch.zeros(0, 3),
                    None,
                    torch.ones(NET[1].shape[0], 4, dtype=torch.float64),  # p = 4, theta d = 3
                    NET[1].float(),
                ],
                **(
                    {
                        "y": [
                            NET[2][:3, 0],
                            torch.full((5,), NAN),
                            NET[2][:, 0].float(),
                            None,
                            torch.ones(NET[1].shape[0], 2, dtype=torch.float64),
                        ]
                    }
                    if with_y
                    else {}
                ),
            },
        )
        for name, with_y in (
            ("square_loss", True),
            ("per_sample_gradients", True),
            ("per_sample_jacobians", False),
            ("alignment_factor", True),
        )
    },
    "alignkit.stability.noise.noise_covariance": Entry(
        noise.noise_covariance,
        lambda: {"per_sample_grads": torch.ones(5, 3, dtype=torch.float64)},
        {
            "per_sample_grads": [
                torch.zeros(0, 3, dtype=torch.float64),
                torch.ones(3),
                torch.full((5, 3), NAN),
                torch.ones(5, 3, dtype=torch.int64),
            ],
            "batch_size": [0, 6, 1.5, True],
            "replacement": FLAG,
        },
    ),
    "alignkit.stability.noise.gauss_newton": Entry(
        noise.gauss_newton,
        lambda: {"jacobians": torch.ones(5, 1, 3, dtype=torch.float64)},
        {
            "jacobians": [
                torch.ones(5, 3),
                torch.full((5, 1, 3), NAN),
                torch.ones(5, 1, 3, dtype=torch.int64),
            ]
        },
    ),
    "alignkit.stability.noise.noise_alignment": Entry(
        noise.noise_alignment,
        lambda: {
            "jacobians": torch.ones(5, 1, 3, dtype=torch.float64),
            "residuals": torch.ones(5, 1, dtype=torch.float64),
        },
        {
            "jacobians": [
                torch.zeros(0, 1, 3, dtype=torch.float64),
                torch.ones(5, 3),
                torch.full((5, 1, 3), NAN),
                None,
                [[[1.0]]],
                META,
                torch.ones(5, 1, 3, dtype=torch.float16),
            ],
            "residuals": [
                torch.ones(4, 1, dtype=torch.float64),
                torch.full((5, 1), NAN),
                torch.ones(5, 1, dtype=torch.float32),
            ],
            "route": NAME,
        },
    ),
    "alignkit.stability.bound.alignment_bound": Entry(
        noise.alignment_bound,
        lambda: {"mu": 0.5, "lr": 0.1, "batch_size": 2, "n": 10, "replacement": False},
        {
            "mu": [-1.0, True, "a", None],
            "lr": [0.0, -1.0, INF, True],
            "batch_size": [0, 1.5, True],
            "n": [1, 1.5, True],
            "replacement": FLAG,
        },
    ),
    "alignkit.stability.bound.alignment_ratio": Entry(
        noise.alignment_ratio,
        lambda: {"gn_frobenius": 1.0, "lr": 0.1, "batch_size": 2},
        {"gn_frobenius": [-1.0, True, None], "lr": [0.0, NAN, True], "batch_size": [0, 1.5, True]},
    ),
    "alignkit.stability.noise.top_eigenvalue": Entry(
        noise.top_eigenvalue,
        lambda: {"matrix": torch.eye(3, dtype=torch.float64)},
        {
            "matrix": [
                torch.ones(2, 3),
                torch.full((3, 3), NAN),
                torch.eye(3, dtype=torch.int64),
                torch.eye(3, dtype=torch.float16),
                torch.eye(3, device="meta"),
            ],
            "tol": NONNEG,
            "max_iters": count(1),
        },
    ),
    # ---- alignment, network escape, edge of stability (helpers N1/N2) ----
    "alignkit.stability.alignment.alignment_during_training": Entry(
        alignment.alignment_during_training,
        lambda: {"steps": 2, "every": 1, "device": "cpu"},
        {
            "model": NAME,
            "lr": POS,
            "batch_size": [0, 1.5, True, 10**6],
            "steps": count(1),
            "every": count(1),
            "n": [1, 1.5, True],
            "width": [0, 1.5],
            "top_k": [0, 1.5, 10**7],
            "divergence_factor": [0.5, NAN, True],
            "seed": SEED,
            "device": DEVICE,
        },
    ),
    "alignkit.stability.alignment.eigenspaces": Entry(
        alignment.eigenspaces,
        lambda: {"matrix": torch.eye(3, dtype=torch.float64)},
        {
            "matrix": [
                torch.ones(2, 3),
                torch.full((3, 3), NAN),
                torch.tensor([[0.0, 1.0], [0.0, 0.0]]),
                torch.zeros(0, 0),
                torch.eye(3, dtype=torch.float16),
                torch.eye(3, device="meta"),
            ],
            "rtol": [-1.0, 2.0, NAN, True],
        },
    ),
    "alignkit.stability.alignment.top_eigenspace_share": Entry(
        alignment.top_eigenspace_share,
        lambda: {
            "curvature": torch.eye(3, dtype=torch.float64),
            "noise": torch.eye(3, dtype=torch.float64),
            "top_k": 1,
        },
        {
            "curvature": [torch.ones(2, 3), torch.full((3, 3), NAN)],
            "noise": [torch.eye(2), torch.full((3, 3), NAN), None, [[1.0]]],
            "top_k": [0, 4, 1.5, True],
            "rtol": [-1.0, NAN],
        },
    ),
    "alignkit.stability.network_escape.gd_then_sgd": Entry(
        network_escape.gd_then_sgd,
        lambda: {"gd_steps": 2, "sgd_steps": 2, "every": 1, "device": "cpu"},
        {
            "model": NAME,
            "lr": POS,
            "batch_size": [0, 1.5, True, 10**6],
            "gd_steps": count(1),
            "sgd_steps": count(1),
            "every": count(1),
            "n": [1, 1.5, True],
            "width": [0, 1.5],
            "divergence_factor": [0.5, NAN, True],
            "seed": SEED,
            "device": DEVICE,
        },
    ),
    "alignkit.stability.network_escape.gauss_newton_threshold": Entry(
        network_escape.gauss_newton_threshold,
        lambda: {"jacobians": torch.ones(5, 1, 3, dtype=torch.float64), "batch_size": 2},
        {
            "jacobians": [
                torch.ones(5, 3),
                torch.full((5, 1, 3), NAN),
                None,
                [[[1.0]]],
                META,
                torch.zeros(0, 1, 3, dtype=torch.float64),
            ],
            "batch_size": [0, 1.5, True],
            "replacement": FLAG,
            "rtol": [-1.0, NAN],
            "tol": [-1.0, NAN],
            "iters": count(1),
        },
    ),
    "alignkit.stability.edge.gd_sharpness_trajectory": Entry(
        edge.gd_sharpness_trajectory,
        lambda: {"lr": 0.1, "steps": 2, "every": 1, "width": 4, "n": 8, "device": "cpu"},
        {
            "lr": POS,
            "steps": count(1),
            "every": count(1),
            "width": count(1),
            "n": count(1),
            "seed": SEED,
            "device": DEVICE,
        },
    ),
    **{
        f"alignkit.stability.edge.EdgeRun.{meth}": Entry(
            (
                lambda m: (
                    lambda **kw: getattr(
                        edge.EdgeRun(
                            torch.ones(3), torch.tensor([0, 2]), torch.ones(2), 0.1, False
                        ),
                        m,
                    )(**kw)
                )
            )(meth),
            lambda: {"fraction": 0.9},
            {"fraction": POS},
        )
        for meth in ("first_at_edge", "mean_after_edge")
    },
    # ---- μ over directions, per-direction test (helpers S, N1) ----
    "alignkit.stability.alignment_range.alignment_range": Entry(
        _lazy("alignkit.stability.alignment_range", "alignment_range"),
        lambda: {"jacobians": torch.randn(5, 1, 3, dtype=torch.float64)},
        {
            "jacobians": [
                torch.ones(5, 3),
                torch.full((5, 1, 3), NAN),
                torch.ones(5, 1, 3, dtype=torch.float16),
                torch.ones(5, 1, 3, device="meta"),
            ],
            "rtol": [-1.0, NAN, True],
        },
    ),
    "alignkit.stability.alignment_range.directional_alignment": Entry(
        _lazy("alignkit.stability.alignment_range", "directional_alignment"),
        lambda: {
            "jacobians": torch.randn(5, 1, 3, dtype=torch.float64),
            "directions": torch.ones(2, 3, dtype=torch.float64),
        },
        {
            "jacobians": [torch.ones(5, 3), torch.full((5, 1, 3), NAN)],
            "directions": [
                torch.ones(2, 4),
                torch.full((2, 3), NAN),
                [1.0, 1.0, 1.0],
                torch.zeros(0, 3),
            ],
        },
    ),
    "alignkit.stability.alignment_range.constant_hessian_threshold": Entry(
        _lazy("alignkit.stability.alignment_range", "constant_hessian_threshold"),
        lambda: {"model": _fm(), "batch_sizes": [1, 2]},
        {"model": ["linear", None], "batch_sizes": [[1.5], [0], [], [True]], "replacement": FLAG},
    ),
    "alignkit.stability.directional.directional_moments": Entry(
        _lazy("alignkit.stability.directional", "directional_moments"),
        lambda: {"per_sample_hessians": H, "directions": torch.ones(4, dtype=torch.float64)},
        {
            "per_sample_hessians": hess_bad(),
            "directions": [
                torch.zeros(4),
                torch.full((4,), NAN),
                torch.ones(3),
                torch.zeros(0, 4),
                "v",
            ],
        },
    ),
    "alignkit.stability.directional.directional_test": Entry(
        _lazy("alignkit.stability.directional", "directional_test"),
        lambda: {
            "per_sample_hessians": H,
            "directions": torch.ones(4, dtype=torch.float64),
            "lr": 0.1,
            "batch_size": 2,
        },
        {
            "per_sample_hessians": hess_bad(),
            "directions": [torch.zeros(4), torch.full((4,), NAN), torch.ones(3)],
            "lr": [*POS, 1e200],
            "batch_size": [0, 7, 1.5, True],
            "replacement": FLAG,
        },
    ),
    # ---- sweep data (helper S) ----
    "alignkit.stability.sweep_result.compare_sweeps": Entry(
        _lazy("alignkit.stability.sweep_result", "compare_sweeps"),
        lambda: {"reference": _sweep_result(), "other": _sweep_result()},
        {"reference": [None, 3], "other": [None, 3], "rows": [torch.tensor([0, 0]), "a", 3]},
    ),
    "alignkit.stability.views.direction_region_view": Entry(
        _lazy("alignkit.stability.views", "direction_region_view"),
        lambda: {"per_sample_hessians": H, "lr": 0.1, "batch_size": 2},
        {
            "per_sample_hessians": hess_bad(),
            "lr": POS,
            "batch_size": [0, 7, 1.5, True],
            "replacement": FLAG,
        },
    ),
    "alignkit.stability.sweep_result.read_provenance": Entry(
        sweep_result.read_provenance,
        lambda: {},
        {"path": [3, "/nonexistent/sweep.npz"]},
        match={"path": ("path", "/nonexistent/sweep.npz")},
    ),
    "alignkit.stability.sweep_result.regenerate_command": Entry(
        sweep_result.regenerate_command, lambda: {"path": "data/x.npz"}, {"path": [3, None]}
    ),
    "alignkit.stability.sweep_result.save_sweep": Entry(
        sweep_result.save_sweep,
        lambda: {
            "results": {"linear": _sweep_result()},
            "path": "/tmp/alignkit-bad-input-sweep.npz",  # (never written: one value is bad)
            "provenance": {},
        },
        {
            "results": [{}, {"linear": 3}, [1]],
            "path": [
                3,
                "out",
                "x.NPZ",
                ".npz",
                "",
                "/tmp",
                "/nonexistent/dir/x.npz",
                alignkit.__file__ + "/x.npz",
            ],
            "provenance": [3, None],
        },  # fmt: skip
    ),
    "alignkit.stability.sweep_result.check_output_path": Entry(
        sweep_result.check_output_path,
        lambda: {"path": "/tmp/alignkit-x.npz"},
        {"path": [3, None, "out", "x.npz.tmp", "/nonexistent/dir/x.npz", "/tmp/"], "name": [3]},
    ),
    # ---- numerics added by themes 1 and 3 (helpers N1, M) ----
    "alignkit.numerics.perron.perron_root": Entry(
        _lazy("alignkit.numerics.perron", "perron_root"),
        lambda: {
            "apply": lambda x, idx: 0.5 * x,
            "start": torch.eye(2, dtype=torch.float64)[None],
            "iters": 20,  # an unchecked NaN would otherwise iterate 20000 times
        },
        {
            "apply": [None],
            "start": [torch.eye(2)[None] * NAN, torch.ones(2, 2), torch.zeros(0, 2, 2)],
            "weight": [torch.ones(3, 3), torch.full((2, 2), NAN)],
            "tol": [0.0, 1.0, NAN, True],
            "iters": count(1),
            "check_every": count(1),
            "what": [3],
        },
    ),
    **{
        f"alignkit.numerics.ode.{name}": Entry(
            _lazy("alignkit.numerics.ode", name),
            lambda: {
                "field": lambda x, t: -x,
                "x0": torch.ones(2, 3, dtype=torch.float64),
                "steps": 4,
            },
            {
                "field": [None, 3],
                "x0": [
                    torch.full((2, 3), NAN),
                    torch.ones(2, 3, dtype=torch.int64),
                    torch.zeros(0, 3),
                    [1.0],
                ],
                "t0": REAL,
                "t1": REAL,
                "steps": count(1),
                "method": NAME,
                "route": NAME,
                **extra,
            },
        )
        for name, extra in (
            ("solve", {"trajectory": FLAG}),
            ("flow_jacobian", {"spacing": NAME}),
            (
                "lyapunov_qr",
                {
                    "k": [0, 4, 1.5],
                    "record": FLAG,
                    "spacing": NAME,
                    "frame": [
                        torch.ones(3, 3),  # columns not orthonormal
                        torch.eye(2),  # D = 2, not 3
                        torch.eye(3).expand(5, 3, 3),  # 5 frames for 2 samples
                        torch.eye(3) * NAN,
                        torch.eye(3, dtype=torch.int64),
                        [[1.0, 0.0, 0.0]],
                        torch.zeros(3, 0),
                    ],
                },
            ),
            ("lyapunov_svd", {"record": FLAG, "spacing": NAME}),
        )
    },
    "alignkit.numerics.ode.ode_step": Entry(
        ode.ode_step,
        lambda: {
            "field": lambda x, t: -x,
            "x": torch.ones(3, dtype=torch.float64),
            "t": torch.tensor(0.0, dtype=torch.float64),
            "h": torch.tensor(0.1, dtype=torch.float64),
        },
        {  # type checks only: ode_step runs under vmap/jacfwd, where values are not readable
            "field": [None],
            "x": [torch.ones(3, dtype=torch.int64), [1.0, 2.0, 3.0], torch.ones(4, 3)],
            "t": ["0", None, torch.zeros(2)],
            "h": ["0.1", True, torch.ones(3)],
            "method": NAME,
        },
    ),
    "alignkit.numerics.grids.time_grid": Entry(
        ode.time_grid,
        lambda: {"t0": 0.0, "t1": 1.0, "steps": 4, "dtype": torch.float64, "device": "cpu"},
        {
            "t0": REAL,
            "t1": REAL,
            "steps": count(1),
            "dtype": DTYPE,
            "device": DEVICE,
            "spacing": NAME,
        },
    ),
    "alignkit.numerics.tangent.MLPField": Entry(
        _lazy("alignkit.numerics.tangent", "MLPField"),
        lambda: {
            "params": (torch.ones(4, 3), torch.ones(4), torch.ones(2, 4), torch.ones(2)),
            "dim": 2,
        },  # fmt: skip
        {
            "params": [
                None,
                (torch.ones(4, 3),),
                (torch.ones(4, 3), torch.ones(4), torch.ones(3, 4), torch.ones(3)),
                (torch.ones(4, 2), torch.ones(4), torch.ones(2, 4), torch.ones(2)),
                (torch.ones(4, 3, dtype=torch.int64), torch.ones(4, dtype=torch.int64)),
            ],
            "dim": count(1),
            "feature": [3],
            "scale": [3],
            "offset": ["t"],
        },
    ),
    "alignkit.numerics.tangent.gram_schmidt": Entry(
        _lazy("alignkit.numerics.tangent", "gram_schmidt"),
        lambda: {"a": torch.ones(2, 3, 4)},
        {
            "a": [
                torch.ones(3, 5, 2),
                torch.ones(4, 4),
                torch.ones(2, 3, 4, dtype=torch.int64),
                [1.0],
                torch.zeros(0, 3, 2),
                torch.zeros(2, 0, 4),
            ]
        },
    ),
    # ---- static site figures (kernel-free) ----
    "alignkit.static.control_grid": Entry(
        _lazy("alignkit.static", "control_grid"),
        lambda: {"controls": {"a": live.float_slider(0.5, 0.0, 1.0, 0.1, "a")}},
        {"controls": [3, {"a": 3}], "budget": count(1), "points": count(2)},
    ),
    "alignkit.static.static_figure": Entry(
        _lazy("alignkit.static", "static_figure"),
        lambda: {"panel": _gd_panel(), "budget": 4, "points": 2},
        {
            "panel": [3, None],
            "budget": count(1),
            "max_bytes": count(1),
            "max_seconds": POS,
            "points": count(2),
            "tag": [3],
        },
    ),
    "alignkit.static.static_html": Entry(
        _lazy("alignkit.static", "static_html"),
        lambda: {"fig": go.Figure()},
        {"fig": [3, None], "div_id": [3]},
    ),
    # ---- sharing, the site, exercises ----
    "alignkit.share.view_call": Entry(
        _lazy("alignkit.share", "view_call"),
        lambda: {"function": "gd_explorer", "state": {"lr": 0.5}},
        {"function": [3, "not a name", None], "state": [3, [("lr", 0.5)]]},
    ),
    "alignkit.share.save_figure": Entry(
        _lazy("alignkit.share", "save_figure"),
        lambda: {"fig": go.Figure(), "path": "/nonexistent/view.csv"},
        {
            "fig": [3, None],
            "path": [3, None, "/tmp/view.docx", "/nonexistent/view.csv"],
            "call": [3],
            "state": [3],
        },
    ),
    "alignkit.site.build.render_site": Entry(
        _lazy("alignkit.site.build", "render_site"),
        lambda: {"out": "/nonexistent-parent-file", "notebooks": ["nope"], "log": _quiet},
        {
            "out": [3, None, "", alignkit.__file__],  # (a file)
            "fast": [1, "yes"],
            "student": [1, "yes"],
            "notebooks": ["00_welcome", [3], ["nope"]],
            "folder": ["notebooks", 3],
            "timeout": [0, 1.5, True],
            "log": [3],
        },
    ),
    "alignkit.site.build.strip_solutions": Entry(
        _lazy("alignkit.site.build", "strip_solutions"), lambda: {"nb": None}, {"nb": [3, None]}
    ),
    "alignkit.site.build.write_student_notebooks": Entry(
        _lazy("alignkit.site.build", "write_student_notebooks"),
        lambda: {"out": "/tmp/alignkit-student-bad-input"},
        {"out": [3, None, "", "   "], "folder": ["notebooks", 3]},
    ),
    "alignkit.site.page.is_solution": Entry(
        _lazy("alignkit.site.page", "is_solution"), lambda: {"cell": {}}, {"cell": [3, None]}
    ),
    "alignkit.site.page.notebook_title": Entry(
        _lazy("alignkit.site.page", "notebook_title"), lambda: {"nb": None}, {"nb": [3, None]}
    ),
    "alignkit.site.page.notebook_summary": Entry(
        _lazy("alignkit.site.page", "notebook_summary"),
        lambda: {"nb": _empty_notebook()},
        {"nb": [3, None], "limit": [0, 1.5, True]},
    ),
    "alignkit.site.page.render_page": Entry(
        _lazy("alignkit.site.page", "render_page"),
        lambda: {"nb": _empty_notebook()},
        {"nb": [3, None], "index_href": [3]},
    ),
    "alignkit.exercises.check": Entry(
        _lazy("alignkit.exercises", "check"),
        lambda: {"exercise": "01-smallest-batch", "answer": None},
        {"exercise": ["nope", 3, None]},
    ),
}

VAR_KEYWORD = {  # **kwargs parameters: the bad value is a dict of keyword arguments
    ("alignkit.live.LivePanel.set_state", "values"),
    ("alignkit.live.LivePanel.static_figure", "options"),
}

# Checks missing in modules owned by other helpers (reported to them); each case is an
# expected failure until the owner adds the check, and passes (xpass) once they do.
GAPS: dict[str, str] = {}


# --- API enumeration ----------------------------------------------------------------
def _modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(alignkit.__path__, "alignkit."):
        name = info.name
        if name.startswith(OTHER_THEMES) or name.startswith(EXEMPT_MODULE_PREFIXES):
            continue
        parts = name.split(".")
        if any(p.startswith("_") for p in parts[1:]) and name != "alignkit._checks":
            continue
        names.append(name)
    return names


def _params(obj: Any) -> list[str]:
    target = obj.__init__ if inspect.isclass(obj) else obj
    sig = inspect.signature(target)
    return [p for p in sig.parameters if p not in ("self", "cls")]


def public_api() -> dict[str, list[str]]:
    """Every public function, class and public method with parameters -> parameter names."""
    api: dict[str, list[str]] = {}
    for modname in _modules():
        try:
            mod = importlib.import_module(modname)
        except Exception as exc:  # noqa: BLE001 - a module that does not import is a failure
            api[f"{modname} (import failed: {exc})"] = ["<module>"]
            continue
        for name in getattr(mod, "__all__", []):
            obj = getattr(mod, name)
            home = getattr(obj, "__module__", "")
            if not callable(obj) or not home.startswith("alignkit"):
                continue
            if home.startswith(EXEMPT_MODULE_PREFIXES + OTHER_THEMES):
                continue
            key = f"{home}.{obj.__qualname__}"
            if inspect.isclass(obj) and issubclass(obj, BaseException):
                continue  # exception and warning classes: raised by the kit, not called
            if inspect.isclass(obj):
                if key not in RESULT_CLASSES:
                    api[key] = _params(obj)
                for meth, fn in vars(obj).items():
                    fn = fn.__func__ if isinstance(fn, (classmethod, staticmethod)) else fn
                    if meth.startswith("_") or not inspect.isfunction(fn):
                        continue
                    params = [
                        p for p in inspect.signature(fn).parameters if p not in ("self", "cls")
                    ]
                    if params:
                        api[f"{key}.{meth}"] = params
            else:
                api[key] = _params(obj)
    return api


def test_every_public_function_has_an_entry() -> None:
    api = public_api()
    missing: list[str] = []
    optional: list[str] = []
    covered_params = 0
    for key, params in sorted(api.items()):
        if key in EXEMPT_FUNCTIONS:
            continue
        entry = TABLE.get(key)
        if entry is None:
            (missing if key.startswith(REQUIRED_PREFIXES) else optional).append(
                f"{key}{tuple(params)}: no entry"
            )
            continue
        for p in params:
            if (key, p) in EXEMPT_PARAMS:
                continue
            if not entry.bad.get(p):
                missing.append(f"{key}: parameter {p!r} has no bad values")
            else:
                covered_params += 1
    stale = sorted(k for k in set(TABLE) - set(api) if _exists(k))
    counted = {k: v for k, v in api.items() if k not in EXEMPT_FUNCTIONS}
    required = {k: v for k, v in counted.items() if k.startswith(REQUIRED_PREFIXES)}
    print(
        f"\npublic API enumerated: {len(counted)} functions/classes/methods with "
        f"{sum(map(len, counted.values()))} parameters ({len(required)} with "
        f"{sum(map(len, required.values()))} in theme 1 and the shared layers); "
        f"{covered_params} parameters have bad values; {_n_cases()} bad-value cases; "
        f"{len(EXEMPT_FUNCTIONS)} exempt callables, {len(EXEMPT_PARAMS)} exempt parameters"
    )
    if optional:
        print("not covered (outside theme 1 and the shared layers):\n  " + "\n  ".join(optional))
    assert not missing, "public API without bad-input entries:\n" + "\n".join(missing)
    assert not stale, f"table entries for names that are no longer public: {stale}"


def _cases() -> list[Any]:
    cases = []
    for key, entry in TABLE.items():
        for param, values in entry.bad.items():
            for i, value in enumerate(values):
                marks = []
                gap = entry.gaps.get(param) or GAPS.get(f"{key}:{param}")
                if gap:
                    marks.append(pytest.mark.xfail(reason=gap, strict=False))
                cases.append(
                    pytest.param(key, param, value, id=f"{key[9:]}-{param}-{i}", marks=marks)
                )
    return cases


def _n_cases() -> int:
    return sum(len(v) for e in TABLE.values() for v in e.bad.values())


@pytest.mark.parametrize(("key", "param", "value"), _cases())
def test_bad_value_is_rejected_naming_the_argument(key: str, param: str, value: Any) -> None:
    entry = TABLE[key]
    kwargs = entry.base()
    if (key, param) in VAR_KEYWORD:  # **values of LivePanel.set_state, **options of static_figure
        kwargs.update(value)
    else:
        kwargs[param] = value
    with pytest.raises((ValueError, TypeError)) as info:
        entry.call(**kwargs)
    message = str(info.value)
    assert "unexpected keyword argument" not in message, f"no parameter {param!r}: {message}"
    token = entry.match.get(param, param)
    tokens = token if isinstance(token, tuple) else (token,)
    assert any(t in message for t in tokens), f"message does not name {token!r}: {message}"


# --- the examples of issue 14, each exactly as reported ---------------------------
def _issue_examples() -> list[Any]:
    hs = _hs(10, 20)
    asym = torch.tensor([[1.0, 1.0], [0.0, 1.0]], dtype=torch.float64)
    cases = [
        # explorer arguments outside their control's range were clamped silently
        (lambda: widgets.gd_explorer(lr=5.0), ValueError, r"lr must be in \[0.01, 1.5\], got 5"),
        (lambda: widgets.sweep_explorer(lr=NAN, source="precomputed"), ValueError, "lr must"),
        (lambda: live.float_slider(5.0, 0.01, 1.5, 0.01, "η"), ValueError, r"value \(η\)"),
        # non-integer batch sizes truncated; bools passed as numbers; integer dtypes truncated
        (lambda: theory.linear_stability_threshold(hs, 1.5), TypeError, "batch_size must be an"),
        (lambda: theory.threshold_curve(hs, [1.5, 2]), TypeError, "batch_sizes must be an"),
        (lambda: quadratic.gd_quadratic(2.0, True), TypeError, "lr must be real numbers"),
        (lambda: toys.escape_toy_losses(torch.tensor([2])), TypeError, "x must be a floating"),
        # NaN or asymmetric Hessians gave a sharpness of -0.0 or 1.0
        (lambda: theory.sharpness(torch.full((2, 2), NAN)), ValueError, "hessian must be finite"),
        (lambda: theory.sharpness(asym), ValueError, "hessian must be symmetric"),
        # replacement='no' meant "with replacement"; unknown sampling names were a KeyError
        (lambda: theory.sampling_factor(10, 2, replacement="no"), TypeError, "replacement must"),
        (lambda: widgets.escape_explorer(sampling="nope"), ValueError, "sampling must be one of"),
        # empty inputs gave empty or NaN results
        (lambda: theory.threshold_curve(hs, []), ValueError, "batch_sizes must hold at least"),
        (lambda: quadratic.gd_quadratic(torch.zeros(0), 0.1), ValueError, "sharpness must not"),
        (lambda: toys.escape_toy_losses(torch.zeros(0)), ValueError, "x must not be empty"),
        # a huge finite lr overflowed into LinAlgError
        (lambda: theory.spectral_radius(hs, 1e200, 1), ValueError, r"lr must be in \(0, "),
        (lambda: theory.spectral_radius_curve(hs, [0.1, 1e200], 1), ValueError, "lrs must be in"),
        # LivePanel(threads=0) escaped the panel; an MPS index was not checked
        (lambda: live.LivePanel(**{**_panel_base(), "threads": 0}), ValueError, "threads must"),
        (lambda: device.get_device("mps:1"), ValueError, "mps:1"),
        # Lanczos from a zero start; B > n without replacement; n <= 0
        (lambda: lanczos.lanczos(_eye_matvec, torch.zeros(4), k=1, iters=4, tol=1e-4,
                                 generator=torch.Generator()), ValueError, "start must be non-"),
        (lambda: minibatch.minibatch_indices(torch.tensor([0]), 0, 5, 6, replacement=False),
         ValueError, r"batch_size must be an integer in \[1, 5\], got 6"),
        (lambda: minibatch.minibatch_indices(torch.tensor([0]), 0, 0, 1), ValueError, "n must be"),
    ]  # fmt: skip
    return [pytest.param(*c, id=f"example-{i}") for i, c in enumerate(cases)]


@pytest.mark.parametrize(("call", "error", "pattern"), _issue_examples())
def test_issue_examples(call: Callable[[], Any], error: type[Exception], pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        call()


def test_get_device_mps_index_without_mps() -> None:
    if device._mps_available():
        pytest.skip("this machine has MPS: 'mps:0' is valid here")
    with pytest.raises(ValueError, match="MPS is not available"):
        device.get_device("mps:0")


# --- random bad numbers (hypothesis) ----------------------------------------------
#: not a positive finite real: <= 0 (incl. -inf, -0.0), NaN, +inf, bools, short strings
BAD_POSITIVE = st.one_of(
    st.floats(max_value=0.0), st.sampled_from([NAN, INF]), st.booleans(), st.text(max_size=2)
)
#: not an integer >= 1: <= 0, non-integer floats (incl. NaN, ±inf), bools, strings
BAD_COUNT = st.one_of(
    st.integers(max_value=0),
    st.floats().filter(lambda f: not float(f).is_integer()),
    st.booleans(),
    st.text(max_size=2),
)
_H2 = _hs(3, 2)

PROPERTY_TABLE: list[tuple[str, Callable[..., Any], dict[str, Any], str, Any]] = [
    ("sampling_factor", theory.sampling_factor, {"n": 10, "batch_size": 2}, "n", BAD_COUNT),
    ("sampling_factor", theory.sampling_factor, {"n": 10, "batch_size": 2}, "batch_size",
     BAD_COUNT),
    ("linear_stability_threshold", theory.linear_stability_threshold,
     {"per_sample_hessians": _H2, "batch_size": 1}, "batch_size", BAD_COUNT),
    ("spectral_radius", theory.spectral_radius,
     {"per_sample_hessians": _H2, "lr": 0.1, "batch_size": 1}, "lr", BAD_POSITIVE),
    ("stability_operator", theory.stability_operator,
     {"per_sample_hessians": _H2, "lr": 0.1, "batch_size": 1}, "lr", BAD_POSITIVE),
    ("region_boundary", theory.region_boundary, {"lr": 0.5, "batch_size": 1, "n": 2}, "lr",
     BAD_POSITIVE),
    ("gd_quadratic", quadratic.gd_quadratic, {"sharpness": 2.0, "lr": 0.3}, "lr", BAD_POSITIVE),
    ("gd_quadratic", quadratic.gd_quadratic, {"sharpness": 2.0, "lr": 0.3}, "sharpness",
     BAD_POSITIVE),
    ("gd_quadratic", quadratic.gd_quadratic, {"sharpness": 2.0, "lr": 0.3}, "steps", BAD_COUNT),
    ("simulate_escape_toy", toys.simulate_escape_toy, {"lr": 0.5, "batch_size": 1}, "lr",
     BAD_POSITIVE),
    ("simulate_escape_toy", toys.simulate_escape_toy, {"lr": 0.5, "batch_size": 1}, "seeds",
     BAD_COUNT),
    ("simulate_linear_sgd", simulate.simulate_linear_sgd,
     {"per_sample_hessians": _H2, "lr": 0.1, "batch_size": 1}, "steps", BAD_COUNT),
    ("operator_top_eigenvalues", lanczos.operator_top_eigenvalues,
     {"matvec": _eye_matvec, "dim": 3}, "k", BAD_COUNT),
    ("gd_explorer", widgets.gd_explorer, {}, "lr",
     st.floats().filter(lambda f: not 0.01 <= f <= 1.5)),
    ("escape_explorer", widgets.escape_explorer, {}, "batch_size",
     st.one_of(st.integers(min_value=9), BAD_COUNT)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("fn", "base", "param", "strategy"),
    [pytest.param(*row[1:], id=f"{row[0]}-{row[3]}") for row in PROPERTY_TABLE],
)
def test_random_bad_numbers_are_rejected(
    fn: Callable[..., Any], base: dict[str, Any], param: str, strategy: Any
) -> None:
    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    @given(value=strategy)
    def check(value: Any) -> None:
        with pytest.raises((ValueError, TypeError)) as info:
            fn(**{**base, param: value})
        assert param in str(info.value), str(info.value)

    check()


@settings(max_examples=30, deadline=None)
@given(b=st.floats(min_value=1.0, max_value=10.0).filter(lambda f: not f.is_integer()))
def test_non_integer_batch_sizes_never_truncate(b: float) -> None:
    """The issue's linear_stability_threshold(Hs, 1.5) == B = 1 value can no longer happen."""
    with pytest.raises(TypeError, match="batch_size must be an integer"):
        theory.linear_stability_threshold(_hs(10, 4), b)
    with pytest.raises(TypeError, match="batch_sizes must be an integer"):
        theory.threshold_curve(_hs(10, 4), torch.tensor([b], dtype=torch.float64))
