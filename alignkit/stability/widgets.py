"""Explorers for theme 1: thin wiring of controls -> compute -> figure via ``alignkit.live``."""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import ipywidgets as W
import torch

from alignkit._checks import _scalar_item, check_choice, check_int, check_scalar
from alignkit.live import (
    LivePanel,
    check_hide,
    dropdown,
    float_slider,
    int_slider,
    non_default,
    selection_slider,
)
from alignkit.live.controls import _nearest
from alignkit.stability.models import MODELS
from alignkit.stability.plots.escape import plot_escape, update_escape
from alignkit.stability.plots.quadratic import plot_quadratic_gd, update_quadratic_gd
from alignkit.stability.plots.stability import (
    plot_region,
    plot_simulation,
    plot_thresholds,
    update_region,
    update_simulation,
    update_thresholds,
)
from alignkit.stability.plots.sweep import plot_sweep, update_sweep
from alignkit.stability.quadratic import QuadraticRun, gd_quadratic
from alignkit.stability.sweep import SweepResult, default_grid, load_sweep, sgd_sweep
from alignkit.stability.toys import EscapeRun, linear_regression_hessians, simulate_escape_toy
from alignkit.stability.views import (
    RegionView,
    SimulationView,
    SweepView,
    ThresholdView,
    direction_region_view,
    region_view,
    simulation_view,
    sweep_view,
    threshold_view,
)

__all__ = [
    "gd_explorer",
    "region_explorer",
    "threshold_explorer",
    "simulation_explorer",
    "escape_explorer",
    "sweep_explorer",
]

SAMPLING = {"without replacement": False, "with replacement": True}
WIDTH_FACTORS = (0.5, 1.0, 2.0, 4.0)


def _check_sampling(sampling: str) -> str:
    return check_choice(sampling, "sampling", SAMPLING)


def _sampling(replacement: bool) -> str:
    return "with replacement" if replacement else "without replacement"


def _gd_compute(lr: float, sharpness: float, steps: int) -> QuadraticRun:
    return gd_quadratic(sharpness, lr, steps=steps)


def gd_explorer(
    *, lr: float = 0.3, sharpness: float = 2.0, steps: int = 30, hide: Sequence[str] = ()
) -> LivePanel[QuadraticRun]:
    """Gradient descent on a x²/2 with a learning-rate slider (notebook 00).

    Watch the regimes change at lr = 1/a (oscillation starts) and lr = 2/a (divergence).
    Arguments outside their slider's range are a ``ValueError`` (never clamped).
    """
    check_hide(hide, ("lr", "sharpness", "steps"))
    lr = check_scalar(lr, "lr", low=0.01, high=1.5)
    sharpness = check_scalar(sharpness, "sharpness", low=0.5, high=5.0)
    steps = check_int(steps, "steps", low=1, high=100)
    run = gd_quadratic(sharpness, lr, steps=steps)  # validates the arguments
    controls = {
        "lr": float_slider(lr, 0.01, 1.5, 0.01, "learning rate η", name="lr"),
        "sharpness": float_slider(sharpness, 0.5, 5.0, 0.1, "sharpness a", name="sharpness"),
        "steps": int_slider(steps, 1, 100, "steps", name="steps"),
    }
    return LivePanel(
        controls, _gd_compute, update_quadratic_gd, plot_quadratic_gd(run),
        key="gd_explorer", hide=hide, initial=run,
    )  # fmt: skip


#: Points of the region explorer: the 1-D escape toy's two minima, or the eigen-directions
#: of notebook 01's regression minimum (n, d, data seed) = (10, 20, 0).
REGION_MINIMA = {
    "escape toy (1-D, n = 2)": None,
    "regression n = 10, d = 20: directions": (10, 20, 0),
}


def _batch_limit(state: Mapping[str, Any], high: int, n: int) -> int:
    """The batch-size slider's end: ``high`` with replacement, the ``n`` samples without."""
    return high if SAMPLING[state["sampling"]] else n


def _region_n(state: Mapping[str, Any]) -> int:
    spec = REGION_MINIMA[state["minima"]]
    return 2 if spec is None else spec[0]


def region_explorer(
    *,
    lr: float = 0.7,
    batch_size: int = 1,
    sampling: str = "with replacement",
    minima: str = "escape toy (1-D, n = 2)",
    hide: Sequence[str] = (),
) -> LivePanel[RegionView]:
    """The (sharpness, non-uniformity) stability region reshaping as η and B move (notebook 01).

    ``minima`` picks the points: the two minima of the 1-D escape toy (two samples, n = 2):
    x = 0 (a = 2, s = 0) and x = 1 (a = 2, s = 1.8), where the region is exactly the stable
    set; or each eigen-direction v of notebook 01's regression minimum at (vᵀHv, std_i vᵀH_i v),
    where lying inside is only necessary (the title gives the exact ρ(Q)).
    """
    check_hide(hide, ("lr", "batch_size", "sampling", "minima"))
    lr = check_scalar(lr, "lr", low=0.05, high=2.0)
    batch_size = check_int(batch_size, "batch_size", low=1, high=16)
    sampling = _check_sampling(sampling)
    minima = check_choice(minima, "minima", REGION_MINIMA)
    hessians: dict[str, torch.Tensor] = {}

    def compute(lr: float, batch_size: int, sampling: str, minima: str) -> RegionView:
        spec = REGION_MINIMA[minima]
        if spec is None:
            return region_view(lr, batch_size, n=2, replacement=SAMPLING[sampling])
        if minima not in hessians:
            hessians[minima] = linear_regression_hessians(spec[0], spec[1], seed=spec[2],
                                                          device="cpu")[1]  # fmt: skip
        return direction_region_view(hessians[minima], lr, batch_size,
                                     replacement=SAMPLING[sampling])  # fmt: skip

    view = compute(lr, batch_size, sampling, minima)
    controls = {
        "lr": float_slider(lr, 0.05, 2.0, 0.01, "learning rate η", name="lr"),
        "batch_size": int_slider(batch_size, 1, 16, "batch size B", name="batch_size"),
        "sampling": dropdown(sampling, list(SAMPLING), "sampling", name="sampling"),
        "minima": dropdown(minima, list(REGION_MINIMA), "points", name="minima"),
    }
    return LivePanel(
        controls, compute, update_region, plot_region(view), key="region_explorer", hide=hide,
        initial=view, limits={"batch_size": lambda s: _batch_limit(s, 16, _region_n(s))},
    )  # fmt: skip


def threshold_explorer(
    *,
    batch_size: int = 2,
    sampling: str = "without replacement",
    n: int = 10,
    d: int = 20,
    seed: int = 0,
    hide: Sequence[str] = (),
) -> LivePanel[ThresholdView]:
    """ρ(Q(η)) for one batch size and η*(B) for all, on over-parameterised linear regression."""
    check_hide(hide, ("batch_size", "sampling", "n", "d", "seed"))
    batch_size = check_int(batch_size, "batch_size", low=1, high=20)
    sampling = _check_sampling(sampling)
    n = check_int(n, "n", low=2, high=20)
    d = check_int(d, "d", low=1, high=60)
    seed = check_int(seed, "seed", low=0, high=20)

    def compute(batch_size: int, sampling: str, n: int, d: int, seed: int) -> ThresholdView:
        return threshold_view(batch_size, n=n, d=d, replacement=SAMPLING[sampling], seed=seed)

    view = compute(batch_size, sampling, n, d, seed)
    controls = {
        "batch_size": int_slider(batch_size, 1, 20, "batch size B", name="batch_size"),
        "sampling": dropdown(sampling, list(SAMPLING), "sampling", name="sampling"),
        "n": int_slider(n, 2, 20, "samples n", name="n"),
        "d": int_slider(d, 1, 60, "parameters d", name="d"),
        "seed": int_slider(seed, 0, 20, "data seed", name="seed"),
    }
    return LivePanel(
        controls, compute, update_thresholds, plot_thresholds(view),
        key="threshold_explorer", hide=hide, initial=view,
        limits={"batch_size": lambda s: _batch_limit(s, 20, s["n"])},
    )  # fmt: skip


def simulation_explorer(
    *,
    lr: float = 0.1,
    batch_size: int = 2,
    sampling: str = "without replacement",
    n: int = 10,
    d: int = 20,
    seeds: int = 256,
    steps: int = 150,
    seed: int = 0,
    hide: Sequence[str] = (),
) -> LivePanel[SimulationView]:
    """Linearised SGD runs from the same minimum: mean (mean-square) vs median (typical)."""
    check_hide(hide, ("lr", "batch_size", "sampling", "seed"))
    lr = check_scalar(lr, "lr", low=0.005, high=0.5)
    n = check_int(n, "n", low=2, high=40)
    batch_size = check_int(batch_size, "batch_size", low=1, high=n)
    sampling = _check_sampling(sampling)
    d = check_int(d, "d", low=1, high=400)
    seeds = check_int(seeds, "seeds", low=1, high=100_000)
    steps = check_int(steps, "steps", low=1, high=10_000)
    seed = check_int(seed, "seed", low=0, high=20)

    def compute(lr: float, batch_size: int, sampling: str, seed: int) -> SimulationView:
        return simulation_view(
            lr, batch_size, n=n, d=d, steps=steps, seeds=seeds,
            replacement=SAMPLING[sampling], seed=seed,
        )  # fmt: skip

    view = compute(lr, batch_size, sampling, seed)
    controls = {
        "lr": float_slider(lr, 0.005, 0.5, 0.005, "learning rate η", name="lr"),
        "batch_size": int_slider(batch_size, 1, n, "batch size B", name="batch_size"),
        "sampling": dropdown(sampling, list(SAMPLING), "sampling", name="sampling"),
        "seed": int_slider(seed, 0, 20, "seed", name="seed"),
    }
    return LivePanel(
        controls, compute, update_simulation, plot_simulation(view),
        key="simulation_explorer", hide=hide, initial=view,
        fixed=non_default(simulation_explorer, n=n, d=d, seeds=seeds, steps=steps),
    )  # fmt: skip


def escape_explorer(
    *,
    lr: float = 0.7,
    batch_size: int = 1,
    sampling: str = "with replacement",
    steps: int = 60,
    seeds: int = 200,
    seed: int = 0,
    hide: Sequence[str] = (),
) -> LivePanel[EscapeRun]:
    """SGD from the sharp, non-uniform minimum x = 1 of the escape toy (notebook 02)."""
    check_hide(hide, ("lr", "batch_size", "sampling", "seed"))
    lr = check_scalar(lr, "lr", low=0.05, high=1.2)
    batch_size = check_int(batch_size, "batch_size", low=1, high=8)
    sampling = _check_sampling(sampling)
    steps = check_int(steps, "steps", low=1, high=10_000)
    seeds = check_int(seeds, "seeds", low=1, high=100_000)
    seed = check_int(seed, "seed", low=0, high=20)

    def compute(lr: float, batch_size: int, sampling: str, seed: int) -> EscapeRun:
        return simulate_escape_toy(
            lr, batch_size, steps=steps, seeds=seeds, replacement=SAMPLING[sampling],
            seed=seed, device="cpu",
        )  # fmt: skip

    run = compute(lr, batch_size, sampling, seed)
    controls = {
        "lr": float_slider(lr, 0.05, 1.2, 0.01, "learning rate η", name="lr"),
        "batch_size": int_slider(batch_size, 1, 8, "batch size B", name="batch_size"),
        "sampling": dropdown(sampling, list(SAMPLING), "sampling", name="sampling"),
        "seed": int_slider(seed, 0, 20, "seed", name="seed"),
    }
    return LivePanel(
        controls, compute, update_escape, plot_escape(run), key="escape_explorer", hide=hide,
        initial=run, limits={"batch_size": lambda s: _batch_limit(s, 8, 2)},
        fixed=non_default(escape_explorer, steps=steps, seeds=seeds),
    )  # fmt: skip


def sweep_explorer(
    *,
    model: str = "mlp",
    lr: float = 0.2,
    batch_size: int = 4,
    width: float = 1.0,
    source: str = "auto",
    hide: Sequence[str] = (),
) -> LivePanel[SweepView]:
    """Minima found by SGD over a (η, B, seed) sweep against the alignment bound (notebook 02).

    ``source="precomputed"`` reads ``data/stability_sweep.npz`` (with provenance);
    ``"live"`` runs :func:`~alignkit.stability.sweep.sgd_sweep` on this kernel's device
    (once per model and width, then cached); ``"auto"`` is live on a GPU and precomputed
    on a CPU. ``width`` multiplies the model's default width (live only: the shipped
    sweep has one width per model, so the control is hidden there). The η and B sliders
    stop at the chosen model's sweep settings (every move highlights another one): ``lr``
    must be one of the model's η values (to 1 %), ``batch_size`` one of its B values.
    """
    from alignkit.device import get_device

    check_hide(hide, ("model", "lr", "batch_size", "width"))
    model = check_choice(model, "model", MODELS)
    lr = check_scalar(lr, "lr", low=0.01, high=64.0)
    batch_size = check_int(batch_size, "batch_size", low=1, high=48)
    width = _scalar_item(width)  # (a NumPy or torch scalar too)
    if isinstance(width, bool) or not isinstance(width, numbers.Real):
        raise TypeError(f"width must be one of {list(WIDTH_FACTORS)}, got {width!r}")
    width = float(width)
    source = check_choice(source, "source", ("auto", "live", "precomputed"))
    if width not in WIDTH_FACTORS:
        raise ValueError(f"width must be one of {list(WIDTH_FACTORS)}, got {width!r}")
    live = source == "live" or (source == "auto" and get_device().type == "cuda")
    shipped = {} if live else load_sweep()
    names = sorted(MODELS) if live else sorted(shipped)
    cache: dict[tuple[str, float], SweepResult] = {(k, 1.0): v for k, v in shipped.items()}
    grids = {m: _sweep_grid(shipped.get(m), m) for m in names}

    def compute(model: str, lr: float, batch_size: int, width: float) -> SweepView:
        if (model, width) not in cache:
            if not live:
                raise ValueError(
                    f"width must be 1.0 with the precomputed sweep (it holds one width per "
                    f"model; source='live' trains the others), got {width!r}"
                )
            default = default_grid(model)["width"]
            cache[model, width] = sgd_sweep(model, width=max(1, round(default * width)))
        return sweep_view(cache[model, width], lr, batch_size)

    if model not in names:
        raise ValueError(f"model must be one of {names}, got {model!r}")
    lrs, sizes = grids[model]
    near = _nearest(lrs, lr)  # in ratio, as a model switch moves the slider
    if abs(near / lr - 1) > 0.01:
        shown = [float(f"{v:.3g}") for v in lrs]
        raise ValueError(f"lr must be one of the {model} sweep's η values {shown}, got {lr:g}")
    if batch_size not in sizes:
        raise ValueError(
            f"batch_size must be one of the {model} sweep's B values {list(sizes)}, "
            f"got {batch_size}"
        )
    view = compute(model, near, batch_size, width)
    every_lr = sorted({v for g in grids.values() for v in g[0]})  # the panel's limits offer
    every_b = sorted({v for g in grids.values() for v in g[1]})  # the chosen model's own
    controls = {
        "model": dropdown(model, names, "model", name="model"),
        "lr": selection_slider(near, every_lr, "learning rate η", name="lr"),
        "batch_size": selection_slider(
            batch_size, every_b, "batch size B", fmt="{}", name="batch_size"
        ),
        "width": W.Dropdown(
            value=width,
            options=list(WIDTH_FACTORS),
            description="width ×",
            style={"description_width": "110px"},
        ),
    }
    hidden = tuple(hide) if live else (*hide, "width")
    where = "live sweep on this device" if live else "precomputed sweep (data/stability_sweep.npz)"
    limits = {  # each model's own grid: a model switch moves η and B to its nearest settings
        "lr": lambda state: grids[state["model"]][0],
        "batch_size": lambda state: grids[state["model"]][1],
    }
    return LivePanel(
        controls, compute, update_sweep, plot_sweep(view), key="sweep_explorer",
        hide=hidden, description=f"<i>{where}</i>", initial=view, limits=limits,
        fixed=non_default(sweep_explorer, source=source),
    )  # fmt: skip


def _sweep_grid(
    result: SweepResult | None, model: str
) -> tuple[tuple[float, ...], tuple[int, ...]]:
    """The (η values, B values) of a shipped sweep, or of a live one's default grid."""
    if result is None:
        grid = default_grid(model)
        return tuple(sorted(grid["lrs"])), tuple(sorted(int(b) for b in grid["batch_sizes"]))
    lrs = sorted(set(result.lr.double().reshape(-1).tolist()))
    sizes = sorted({int(b) for b in result.batch_size.reshape(-1).tolist()})
    return tuple(lrs), tuple(sizes)
