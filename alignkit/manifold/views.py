"""What each theme-3 explorer computes: pure functions of the control values.

Models are trained (or built) once per (manifold, model, size) and cached, so moving ε or
the solver steps only re-integrates. Every function runs on CPU by default; ``device=``
picks another device. Sizes shrink in fast mode (``ALIGNKIT_FAST=1``), the code path does not.
Taught in ``notebooks/05_generative_manifold_alignment.ipynb``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch

from alignkit._checks import check_choice, check_int, check_scalar
from alignkit.device import get_device, pick, torch_threads
from alignkit.manifold._inputs import check_panel_progress
from alignkit.manifold.dynamics import (
    MAX_SAMPLES,
    LyapunovAnalysis,
    density_shift,
    eps_sweep,
    generate,
    lyapunov_analysis,
)
from alignkit.manifold.fields import PERTURBATIONS, GenerativeModel, exact_model, perturb
from alignkit.manifold.manifolds import DENSITIES, MANIFOLDS, Manifold, get_manifold
from alignkit.manifold.training import train_flow_matching, train_score_model
from alignkit.numerics.ode import SOLVERS

__all__ = [
    "MODELS",
    "EPS_GRID",
    "LYAPUNOV_STEPS",
    "get_model",
    "eps_sweep",
    "SamplingView",
    "sampling_view",
    "LyapunovView",
    "lyapunov_view",
]

#: Model kinds of the explorers: the exact reference and the two trained models.
MODELS = ("exact", "flow", "score")
#: The ε values of the distance-vs-ε curve.
EPS_GRID = (0.0, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0)
ProgressFn = Callable[[int, int], None]
_REFERENCE_SIZE = 20000
#: lyapunov_view's solver steps (converged: see its docstring).
LYAPUNOV_STEPS = 30
DIVERGED_DISTANCE = 1e6  # what a diverged sample counts in a mean distance (flagged: huge)
BINS = 12  # azimuth histogram bins (TV noise floor ≈ 0.4 √(BINS/n))
PIECES = 3  # batched solves of an ε curve (of 3 grid values each), a progress report after each


def _sizes() -> dict[str, int]:
    return {
        "data": pick(256, 128),  # points behind the exact field
        "train_data": 2048,
        "train_steps": pick(1500, 700),
    }


def _remember(cache: dict[Any, Any], size: int, key: Any, value: Any) -> None:
    """Store ``value`` under ``key``, dropping the oldest entry when ``cache`` holds ``size``."""
    if len(cache) >= size:
        cache.pop(next(iter(cache)))
    cache[key] = value


_MODEL_CACHE: dict[tuple[object, ...], tuple[Manifold, GenerativeModel]] = {}
_MODEL_CACHE_SIZE = 16


def _build_model(
    manifold: str, embed_dim: int | None, density: str, model: str, train_steps: int, seed: int,
    device: str, data_size: int, progress: ProgressFn | None,
) -> tuple[Manifold, GenerativeModel]:  # fmt: skip
    m = get_manifold(manifold, embed_dim=embed_dim, density=density, device=device)
    if model == "exact":
        return m, exact_model(m.sample(data_size, seed=seed + 1))
    data = m.sample(_sizes()["train_data"], seed=seed + 1)
    train = train_flow_matching if model == "flow" else train_score_model
    width = 64 if m.embed_dim <= 3 else 128
    return m, train(data, steps=train_steps, width=width, seed=seed, progress=progress)


def _progress_fn(progress: Any) -> ProgressFn | None:
    """A ``(done, total)`` callback from a panel's ``Progress`` (anything with ``update``)."""
    if progress is None:
        return None
    return lambda done, total: progress.update(done, total, "training")


def get_model(
    manifold: str = "circle2d",
    model: str = "exact",
    *,
    embed_dim: int | None = None,
    density: str = "nonuniform",
    train_steps: int | None = None,
    seed: int = 0,
    device: str | torch.device | None = "cpu",
    data_size: int | None = None,
    progress: Any = None,
) -> tuple[Manifold, GenerativeModel]:
    """The manifold and a model of its data (trained once, then cached).

    ``model``: ``"exact"`` (reference flow of a finite sample), ``"flow"`` (conditional flow
    matching) or ``"score"`` (denoising score matching + probability-flow ODE);
    ``train_steps`` defaults to 1500 (700 in fast mode). ``data_size``: the number M of data
    points (drawn with ``seed + 1``) behind the exact field (default 256, fast 128; the
    trained models always see 2048). ``embed_dim``: None (the manifold's own space) or an
    integer D (isometric embedding in R^D). ``progress``: an object with
    ``update(done, total, description)`` (a live panel's progress bar) told about training.
    """
    manifold = check_choice(manifold, "manifold", MANIFOLDS)  # before the cache lookup
    model = check_choice(model, "model", MODELS)
    density = check_choice(density, "density", DENSITIES)
    progress = check_panel_progress(progress)
    steps = _sizes()["train_steps"] if train_steps is None else train_steps
    steps = check_int(steps, "train_steps", low=1, high=1_000_000)
    seed = check_int(seed, "seed", low=0)
    dev = str(get_device(device))
    dim = None if embed_dim is None else check_int(embed_dim, "embed_dim", low=1, high=64)
    size = _sizes()["data"] if data_size is None else data_size
    size = check_int(size, "data_size", low=1, high=100_000)
    key = (manifold, dim, density, model, steps, seed, dev, size)
    if key not in _MODEL_CACHE:
        with torch_threads(1):
            built = _build_model(*key, _progress_fn(progress))
        _remember(_MODEL_CACHE, _MODEL_CACHE_SIZE, key, built)
    return _MODEL_CACHE[key]


@dataclass(frozen=True)
class SamplingView:
    """Generated samples at one ε, their distances and density, and the ε curve.

    ``points``: (n, 3) samples in the manifold's base coordinates (Eᵀx, padded to 3);
    ``distance``: (n,); ``edges``/``hist``/``hist_true``: azimuth histograms; ``eps_grid``,
    ``distance_curve``, ``tv_curve``: (G,) mean distance and density shift (TV) vs ε;
    ``diverged``: some samples were not finite (drawn at 0); ``outline``: (M, 3).
    Diverged samples count 10⁶ in ``mean_distance`` and the distance curve (flagged as
    huge, as at the curve's ε) and are left out of the histograms and the TV (NaN when
    every sample diverged): no density from points that are not there.
    """

    manifold: str
    model: str
    perturbation: str
    eps: float
    points: torch.Tensor
    distance: torch.Tensor
    mean_distance: float
    tv: float
    edges: torch.Tensor
    hist: torch.Tensor
    hist_true: torch.Tensor
    eps_grid: torch.Tensor
    distance_curve: torch.Tensor
    tv_curve: torch.Tensor
    base_dim: int
    diverged: bool
    outline: torch.Tensor  # (M, 3) polylines that draw the manifold (NaN rows between)


@lru_cache(maxsize=8)
def _reference(manifold: Manifold) -> torch.Tensor:
    return manifold.sample(_REFERENCE_SIZE, seed=12345)


@lru_cache(maxsize=8)
def _outline(manifold: Manifold) -> torch.Tensor:
    """The manifold's outline in base coordinates, (M, 3) (see ``_Base.outline``); built
    once per manifold, not on every ε move (shared, like :func:`_reference`: not mutated)."""
    o = manifold.base.outline()
    pad = torch.zeros(o.shape[0], 3 - o.shape[1], dtype=o.dtype)
    pad[o.isnan().any(dim=1)] = float("nan")  # the gaps between pieces stay gaps
    return torch.cat([o, pad], dim=1)


@dataclass(frozen=True)
class _Curve:
    """Everything drawn at each ε of the grid, from its batched solves (a lookup per ε move)."""

    grid: torch.Tensor  # (G,)
    distance_curve: torch.Tensor  # (G,) mean distance (a diverged sample counts 10⁶)
    tv_curve: torch.Tensor  # (G,)
    points: torch.Tensor  # (G, n, 3) base coordinates, diverged samples drawn at 0
    distance: torch.Tensor  # (G, n)
    edges: torch.Tensor  # (BINS + 1,)
    hist: torch.Tensor  # (G, BINS)
    hist_true: torch.Tensor  # (BINS,)
    diverged: tuple[bool, ...]  # (G,)


_CURVE_CACHE: dict[tuple[object, ...], _Curve] = {}
_CURVE_CACHE_SIZE = 32


def _curve(
    manifold: Manifold, model: GenerativeModel, kind: str, n: int, steps: int, method: str,
    seed: int, progress: Any = None,
) -> _Curve:  # fmt: skip
    key = (manifold, model, kind, n, steps, method, seed)
    if key in _CURVE_CACHE:
        return _CURVE_CACHE[key]
    grid = torch.tensor(EPS_GRID, dtype=torch.float64)
    parts = []
    for k, part in enumerate(grid.tensor_split(PIECES)):  # batched pieces, for the progress bar
        if progress is not None:
            progress.update(k, PIECES, "ε curve")
        parts.append(eps_sweep(model, kind, part, n, steps=steps, method=method, seed=seed))
    x = torch.cat(parts)
    finite = torch.isfinite(x).all(dim=2)  # (G, n)
    x = torch.where(finite[..., None], x, torch.zeros_like(x))
    dist = manifold.distance_to_manifold(x.reshape(-1, model.dim)).double().cpu()
    dist = dist.reshape(len(EPS_GRID), n)
    flagged = torch.where(finite.cpu(), dist, torch.full_like(dist, DIVERGED_DISTANCE))
    # a loop over 9 histograms of finished samples, not over settings of the solve
    shifts = [_shift(manifold, xi, fi) for xi, fi in zip(x, finite, strict=True)]
    curve = _Curve(
        grid, flagged.mean(1), torch.tensor([s[0] for s in shifts], dtype=torch.float64),
        _base_points(manifold, x.reshape(-1, model.dim)).reshape(len(EPS_GRID), n, 3), dist,
        shifts[0][1], torch.stack([s[2] for s in shifts]), shifts[0][3],
        tuple(not bool(f.all()) for f in finite),
    )  # fmt: skip
    _remember(_CURVE_CACHE, _CURVE_CACHE_SIZE, key, curve)
    return curve


def _shift(
    manifold: Manifold, x: torch.Tensor, finite: torch.Tensor
) -> tuple[float, torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`density_shift` of the finite rows of ``x`` (NaN TV and histogram if none)."""
    ref = _reference(manifold)
    if bool(finite.any()):
        return density_shift(manifold, x[finite], ref, bins=BINS)
    _, edges, _, hist_true = density_shift(manifold, ref[:1], ref, bins=BINS)
    return float("nan"), edges, torch.full_like(hist_true, float("nan")), hist_true


def _base_points(manifold: Manifold, x: torch.Tensor) -> torch.Tensor:
    y = (x @ manifold.embedding.to(x)).double().cpu()
    return torch.cat([y, torch.zeros(y.shape[0], 3 - y.shape[1], dtype=y.dtype)], dim=1)


def sampling_view(
    manifold: str = "circle2d",
    model: str = "exact",
    perturbation: str = "bias",
    eps: float = 0.5,
    *,
    steps: int = 40,
    method: str = "rk4",
    n: int | None = None,
    embed_dim: int | None = None,
    density: str = "nonuniform",
    seed: int = 0,
    progress: Any = None,
) -> SamplingView:
    """Samples of ``model`` with an error of size ``eps``: how far off, how the density moves.

    ``n`` defaults to 1000 (400 in fast mode), for this ε and for each ε of the curve.
    At an ``eps`` of :data:`EPS_GRID` the samples are the curve's own (batched solves
    for the whole grid, cached per model, error kind, n and steps): moving ``eps`` along
    the grid solves nothing. ``progress`` (a live panel's) is told about the training of a
    new model and about the solve of a new ε curve. Every argument is checked before any
    compute (``get_model``'s too); ``perturbation="weights"`` needs a trained model.
    """
    manifold = check_choice(manifold, "manifold", MANIFOLDS)
    model = check_choice(model, "model", MODELS)
    perturbation = check_choice(perturbation, "perturbation", PERTURBATIONS)
    if perturbation == "weights" and model == "exact":
        raise ValueError(
            "perturbation 'weights' needs a trained model (model='flow' or 'score'), "
            f"got model={model!r}"
        )
    density = check_choice(density, "density", DENSITIES)
    progress = check_panel_progress(progress)
    eps = check_scalar(eps, "eps", low=0.0)
    steps = check_int(steps, "steps", low=1, high=1000)
    method = check_choice(method, "method", SOLVERS)
    n = check_int(pick(1000, 400) if n is None else n, "n", low=1, high=MAX_SAMPLES)
    with torch_threads(1):
        get_model(manifold, model, embed_dim=embed_dim, density=density, seed=seed,
                  progress=progress)  # fmt: skip
        return _sampling_view(
            manifold,
            model,
            perturbation,
            eps,
            steps,
            method,
            n,
            embed_dim,
            density,
            seed,
            progress,
        )


def _sampling_view(
    manifold: str, model: str, perturbation: str, eps: float, steps: int, method: str, n: int,
    embed_dim: int | None, density: str, seed: int, progress: Any,
) -> SamplingView:  # fmt: skip
    m, base = get_model(manifold, model, embed_dim=embed_dim, density=density, seed=seed)
    c = _curve(m, base, perturbation, n, steps, method, seed, progress)
    drawn = _outline(m)
    if eps in EPS_GRID:  # the curve's samples at this ε: a lookup
        i = EPS_GRID.index(eps)
        dist = c.distance[i]
        return SamplingView(
            manifold, model, perturbation, eps, c.points[i], dist, float(c.distance_curve[i]),
            float(c.tv_curve[i]), c.edges, c.hist[i], c.hist_true, c.grid, c.distance_curve,
            c.tv_curve, m.base_dim, c.diverged[i], drawn,
        )  # fmt: skip
    x = generate(perturb(base, perturbation, eps, seed=1), n, steps=steps, method=method, seed=seed)
    finite = torch.isfinite(x).all(dim=1)
    x = torch.where(finite[:, None], x, torch.zeros_like(x))
    dist = m.distance_to_manifold(x).double().cpu()
    tv, edges, hist, hist_true = _shift(m, x, finite)
    flagged = torch.where(finite.cpu(), dist, torch.full_like(dist, DIVERGED_DISTANCE))
    return SamplingView(
        manifold, model, perturbation, eps, _base_points(m, x), dist, float(flagged.mean()), tv,
        edges, hist, hist_true, c.grid, c.distance_curve, c.tv_curve, m.base_dim,
        not bool(finite.all()), drawn,
    )  # fmt: skip


@dataclass(frozen=True)
class LyapunovView:
    """Lyapunov vectors against true tangents, alignment over t and the exponents.

    ``points``: (n, 3) end points (base coordinates); ``vectors``/``tangents``: (n, 3, d)
    top-d Lyapunov vectors and true tangents (base coordinates); ``times``: (K+1,);
    ``alignment_median``/``_low``/``_high``: (K+1,) median and 10–90 % band of the mean
    cosine; ``exponents``: (n, D); ``mean_cosine``: at the end; ``intrinsic_dim``.
    """

    manifold: str
    model: str
    points: torch.Tensor
    vectors: torch.Tensor
    tangents: torch.Tensor
    times: torch.Tensor
    alignment_median: torch.Tensor
    alignment_low: torch.Tensor
    alignment_high: torch.Tensor
    exponents: torch.Tensor
    mean_cosine: float
    mean_distance: float
    intrinsic_dim: int
    base_dim: int
    outline: torch.Tensor  # (M, 3) polylines that draw the manifold (NaN rows between)
    analysis: LyapunovAnalysis


def _to_base(manifold: Manifold, v: torch.Tensor) -> torch.Tensor:
    """(n, D, k) -> (n, 3, k) in base coordinates."""
    b = torch.einsum("Dn,NDk->Nnk", manifold.embedding.to(v), v).double().cpu()
    pad = torch.zeros(b.shape[0], 3 - b.shape[1], b.shape[2], dtype=b.dtype)
    return torch.cat([b, pad], dim=1)


def lyapunov_view(
    manifold: str = "circle2d",
    model: str = "exact",
    *,
    n: int | None = None,
    steps: int | None = None,
    method: str = "rk4",
    embed_dim: int | None = None,
    density: str = "nonuniform",
    seed: int = 0,
    data_size: int | None = None,
    progress: Any = None,
) -> LyapunovView:
    """Lyapunov analysis of ``n`` trajectories (default 300, fast 120; 30 steps).

    The steps are equal in log(1 − t) for the exact field: at 30 its mean exponents are
    within 0.003 of 160 steps' on every manifold (the trained models' within 0.0002), so
    more steps would only cost time (``tests/test_manifold_dynamics.py`` checks it; 25
    steps are already 0.013 off there).

    ``data_size``: data points behind the exact field (see :func:`get_model`). ``progress``
    (a live panel's) is told about the training of a new model. Views are cached per model
    and settings (a switch back to a manifold is a lookup); they are shared: do not modify
    their tensors in place.
    """
    manifold = check_choice(manifold, "manifold", MANIFOLDS)  # all checked before training
    model = check_choice(model, "model", MODELS)
    density = check_choice(density, "density", DENSITIES)
    method = check_choice(method, "method", SOLVERS)
    progress = check_panel_progress(progress)
    n = check_int(pick(300, 120) if n is None else n, "n", low=1, high=MAX_SAMPLES)
    steps = check_int(LYAPUNOV_STEPS if steps is None else steps, "steps", low=1, high=1000)
    m, base = get_model(manifold, model, embed_dim=embed_dim, density=density, seed=seed,
                        data_size=data_size, progress=progress)  # fmt: skip
    key = (m, base, n, steps, method, seed)  # the model itself: a retrained one is new
    if key not in _LYAPUNOV_CACHE:
        view = _lyapunov_view(manifold, model, m, base, n, steps, method, seed)
        _remember(_LYAPUNOV_CACHE, _LYAPUNOV_CACHE_SIZE, key, view)
    return _LYAPUNOV_CACHE[key]


_LYAPUNOV_CACHE: dict[tuple[object, ...], LyapunovView] = {}
_LYAPUNOV_CACHE_SIZE = 32  # 5 manifolds × 3 models fit twice over (~0.1 MB each at n = 300)


def _lyapunov_view(
    manifold: str, model: str, m: Manifold, base: GenerativeModel, n: int, steps: int,
    method: str, seed: int,
) -> LyapunovView:  # fmt: skip
    with torch_threads(1):
        a = lyapunov_analysis(base, m, n, steps=steps, method=method, seed=seed)
    assert a.alignment is not None
    al = a.alignment.double().cpu()  # diverged samples are NaN rows: left out
    q = torch.nanquantile(al, torch.tensor([0.1, 0.5, 0.9], dtype=al.dtype), dim=0)
    d = m.dim
    return LyapunovView(
        manifold, model, _base_points(m, a.end), _to_base(m, a.vectors[..., :d]),
        _to_base(m, a.true_tangent), a.times.double().cpu(), q[1], q[0], q[2],
        a.exponents.double().cpu(), a.mean_cosine, float(a.distance.nanmean()), d, m.base_dim,
        _outline(m), a,
    )  # fmt: skip
