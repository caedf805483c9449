"""What each theme-1 explorer computes: pure functions of the control values.

Each returns a frozen dataclass of tensors/floats that a plot function draws; no
widgets or plotly here, so every view is testable and usable without a notebook.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from alignkit._checks import check_bool, check_int, check_scalar, check_values
from alignkit.stability import theory as T
from alignkit.stability._hessians import _reduce
from alignkit.stability.conditions import MAX_COUNT, _sampling_factors, _upper_bounds
from alignkit.stability.directional import directional_moments
from alignkit.stability.simulate import LinearSGDRun, simulate_linear_sgd
from alignkit.stability.sweep import SweepResult
from alignkit.stability.toys import escape_toy_hessians, linear_regression_hessians

__all__ = [
    "RegionView",
    "region_view",
    "direction_region_view",
    "ThresholdView",
    "threshold_view",
    "SimulationView",
    "simulation_view",
    "ESCAPE_POINTS",
    "SweepView",
    "sweep_view",
]


def _escape_points() -> dict[str, tuple[float, float]]:
    points = {}
    for at in (0, 1):
        h = escape_toy_hessians(at)
        points[f"escape toy, x = {at}"] = (T.sharpness(h.mean(0)), T.nonuniformity(h))
    return points


#: (sharpness, non-uniformity) of the two minima of the 1-D escape toy (n = 2).
ESCAPE_POINTS: dict[str, tuple[float, float]] = _escape_points()


@dataclass(frozen=True)
class RegionView:
    """The (a, s) stability region for one (η, B, n) and where given minima fall."""

    lr: float
    batch_size: int
    n: int
    replacement: bool
    p: float
    a: torch.Tensor  # (num,) sharpness grid on [0, 2/η]
    s_max: torch.Tensor  # (num,) upper edge of the region (inf for GD)
    names: tuple[str, ...]
    points: torch.Tensor  # (P, 2): sharpness, non-uniformity
    stable: torch.Tensor  # (P,) bool: the 1-D test holds at the point
    #: True: the points are 1-D minima and the test is exact (an iff). False: they are
    #: directions (a_v, s_v) of one d-dimensional minimum, where the test is only necessary.
    exact: bool = True
    rho: float = math.nan  # ρ(Q) of that d-dimensional minimum (exact stability), else nan
    #: (λ_max(H), s of :func:`theory.nonuniformity`) of that minimum: not a test in d > 1.
    global_point: tuple[float, float] | None = None


def _check_points(points: Mapping[str, tuple[float, float]] | None) -> None:
    """``points``: None or a non-empty mapping name -> (sharpness >= 0, non-uniformity >= 0)."""
    if points is None:
        return
    if not isinstance(points, Mapping) or not points:
        raise TypeError(f"points must be a non-empty mapping name -> (a, s), got {points!r}")
    for key, value in points.items():
        if not isinstance(key, str):
            raise TypeError(f"points must have str names, got {key!r}")
        check_values(value, "points", low=0.0, ndim=1)
        if len(value) != 2:
            raise ValueError(f"points must map each name to (a, s), got {key!r}: {value!r}")


def region_view(
    lr: float,
    batch_size: int,
    *,
    n: int = 2,
    replacement: bool = True,
    points: Mapping[str, tuple[float, float]] | None = None,
) -> RegionView:
    """Stability region of the 1-D test (1 − ηa)² + η² p s² ≤ 1 and the given minima.

    Without ``points`` the minima are the escape toy's, whose loss has two samples: then
    ``n`` must be 2 (p, and so the region, depends on n).
    """
    _check_points(points)
    n = check_int(n, "n")  # (a str is a TypeError; the range: the toy's rule, the theory's)
    if points is None and n != 2:
        raise ValueError(f"n must be 2 for the escape toy's minima (two samples), got {n!r}")
    pts = dict(ESCAPE_POINTS if points is None else points)
    a, s_max = T.region_boundary(lr, batch_size, n, replacement=replacement, num=200)
    xy = torch.tensor(list(pts.values()), dtype=torch.float64).reshape(-1, 2)
    stable = T.stable_1d(xy[:, 0], xy[:, 1], lr, batch_size, n, replacement=replacement)
    p = T.sampling_factor(n, batch_size, replacement=replacement)
    return RegionView(lr, batch_size, n, replacement, p, a, s_max, tuple(pts), xy, stable)


def direction_region_view(
    per_sample_hessians: torch.Tensor,
    lr: float,
    batch_size: int,
    *,
    replacement: bool = False,
) -> RegionView:
    """The 1-D region with one d-dimensional minimum's eigen-directions as points.

    Each eigenvector v of H in its range (largest eigenvalue first) is placed at
    (a_v, s_v) = (vᵀHv, std_i vᵀH_i v) (:mod:`alignkit.stability.directional`): a point
    outside the region proves the minimum unstable; all inside is necessary, not
    sufficient. The view also carries the exact ρ(Q) and Wu, Ma & E's (λ_max(H), s).
    """
    h = T._as_hessians(per_sample_hessians)
    n = h.shape[0]
    evals, evecs = torch.linalg.eigh(h.mean(0))
    keep = evals > 1e-9 * max(float(evals[-1]), 0.0)
    if not bool(keep.any()):
        raise ValueError("per_sample_hessians must have a curved direction (H = 0 here)")
    dirs = evecs[:, keep].flip(1).T  # (r, d), largest eigenvalue first
    a_v, s_v = directional_moments(h, dirs)
    points = {
        ("v1 (top eigenvector)" if k == 0 else f"v{k + 1}"): (float(a_v[k]), float(s_v[k]))
        for k in range(a_v.numel())
    }
    base = region_view(lr, batch_size, n=n, replacement=replacement, points=points)
    rho = T.spectral_radius(h, base.lr, batch_size, replacement)
    glob = (T.sharpness(h.mean(0)), T.nonuniformity(h))
    return dataclasses.replace(base, exact=h.shape[1] == 1, rho=rho, global_point=glob)


@dataclass(frozen=True)
class ThresholdView:
    """ρ(Q(η)) over η for one B, and η*(B) over all B, for one set of per-sample Hessians."""

    batch_size: int
    replacement: bool
    lrs: torch.Tensor  # (G,)
    radius: torch.Tensor  # (G,)
    threshold: float  # η*(B)
    batch_sizes: torch.Tensor  # (K,)
    threshold_curve: torch.Tensor  # (K,)
    bound_directional: torch.Tensor  # (K,)
    bound_trace: torch.Tensor  # (K,)
    gd_threshold: float  # 2 / λ_max(H)
    radius_range: tuple[float, float]  # ρ's least and largest over lrs at every B (see below)


def threshold_view(
    batch_size: int,
    *,
    n: int = 10,
    d: int = 20,
    replacement: bool = False,
    seed: int = 0,
    num: int = 40,
) -> ThresholdView:
    """η* and ρ(Q) for over-parameterised linear regression (H_i = x_i x_iᵀ, d > n)."""
    replacement = check_bool(replacement, "replacement")
    num = check_int(num, "num", low=2, high=10_000)
    check_int(seed, "seed", low=0, high=2**63 - 1)
    n = check_int(n, "n", low=2, high=40)
    batch_size = check_int(batch_size, "batch_size", low=1)  # 3.0 -> 3: it indexes the curve
    T.sampling_factor(n, batch_size, replacement=replacement)
    d = check_int(d, "d", low=1, high=400)
    h, sizes, curve, bound, gd = _threshold_parts(n, d, seed, replacement)
    if batch_size <= sizes.numel():  # sizes are 1, 2, ...: η*(B) is the curve at B
        eta = float(curve[batch_size - 1])
    else:  # with replacement, B beyond the curve's 2n
        eta = T.linear_stability_threshold(h, batch_size, replacement)
    lrs = _lrs(gd, num)
    radius = T.spectral_radius_curve(h, lrs, batch_size, replacement=replacement)
    return ThresholdView(
        batch_size, replacement, lrs, radius, eta, sizes.clone(), curve.clone(),
        bound[:, 0].clone(), bound[:, 1].clone(), gd, _radius_range(n, d, seed, replacement, num),
    )  # fmt: skip


def _lrs(gd: float, num: int) -> torch.Tensor:
    return torch.linspace(0.02 * gd, 1.2 * gd, num, dtype=torch.float64)


@functools.lru_cache(maxsize=1)
def _radius_range(n: int, d: int, seed: int, replacement: bool, num: int) -> tuple[float, float]:
    """ρ(Q(η))'s least and largest value over the η grid at any B: ρ falls as B grows
    (Q = Q_GD + p(B) η² Σ, Σ the minibatch Hessians' covariance operator, positive, and
    p falling in B), so B = 1 gives the top and full-batch GD (p = 0, the limit of either
    sampling) the bottom. Q is self-adjoint
    and η ↦ Q(η) matrix-convex (η² E[H_ξ ⊗ H_ξ], positive), so ρ = λ_max(Q(η)) is convex
    in η and B = 1's top is at an end of the grid: two η, not the whole curve. GD's Q is
    (I − ηH) ⊗ (I − ηH): ρ = max_i (1 − ηλ_i)² over H's eigenvalues on its range. Tested
    against every B's whole curve. The explorer's ρ axis spans it, so a move of B leaves
    the axis still."""
    h, *_, gd = _threshold_parts(n, d, seed, replacement)
    lrs = _lrs(gd, num)
    top = T.spectral_radius_curve(h, lrs[[0, -1]], 1, replacement=replacement)
    lam = _reduce(h)[1]  # (r,) H's eigenvalues on its range
    bottom = (1.0 - lrs[:, None] * lam[None, :]).square().amax(1) if lam.numel() else top
    hi = float(top.max())
    # a log axis: ρ ≈ 0 (a GD step onto the minimum, η = 1/λ on the grid) is rounding there
    return max(float(bottom.min()), 1e-9 * hi), hi


@functools.lru_cache(maxsize=1)  # what does not depend on B: moving B recomputes ρ only
def _threshold_parts(
    n: int, d: int, seed: int, replacement: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """Hessians (n, d, d), batch sizes (K,), η*(B) (K,), the two upper bounds (K, 2), 2/λ_max."""
    _, h = linear_regression_hessians(n, d, seed=seed, device="cpu")
    sizes = torch.arange(1, (2 * n if replacement else n) + 1)
    curve = T.threshold_curve(h, sizes, replacement=replacement)
    bound = _upper_bounds(h, _sampling_factors(n, sizes.tolist(), replacement))
    return h, sizes, curve, bound, 2.0 / T.sharpness(h.mean(0))


@dataclass(frozen=True)
class SimulationView:
    """Linearised SGD from one minimum at (η, B): runs, their mean and median, η*."""

    lr: float
    batch_size: int
    threshold: float
    run: LinearSGDRun
    shown: int  # number of individual runs to draw


@functools.lru_cache(maxsize=8)  # an η move reuses them (and the seed's draws: simulate)
def _regression_threshold(
    n: int, d: int, seed: int, batch_size: int, replacement: bool
) -> tuple[torch.Tensor, float]:
    """The regression's per-sample Hessians (n, d, d) and η*(B) (never mutated)."""
    _, h = linear_regression_hessians(n, d, seed=seed, device="cpu")
    return h, T.linear_stability_threshold(h, batch_size, replacement)


def simulation_view(
    lr: float,
    batch_size: int,
    *,
    n: int = 10,
    d: int = 20,
    steps: int = 150,
    seeds: int = 256,
    replacement: bool = False,
    seed: int = 0,
    shown: int = 20,
) -> SimulationView:
    """Simulate linearised SGD on over-parameterised linear regression from random starts."""
    lr = check_scalar(lr, "lr", low=0.0, closed="neither")
    replacement = check_bool(replacement, "replacement")
    n = check_int(n, "n", low=1, high=10_000)
    T.sampling_factor(n, batch_size, replacement=replacement)
    d = check_int(d, "d", low=1, high=10_000)
    steps = check_int(steps, "steps", low=1, high=100_000)
    seeds = check_int(seeds, "seeds", low=1, high=1_000_000)
    seed = check_int(seed, "seed", low=0, high=2**62)
    shown = check_int(shown, "shown", low=0, high=1_000_000)
    h, eta = _regression_threshold(n, d, seed, int(batch_size), replacement)
    run = simulate_linear_sgd(
        h, lr, batch_size, steps=steps, seeds=seeds, replacement=replacement,
        seed=seed + 1, device="cpu",
    )  # fmt: skip
    return SimulationView(lr, batch_size, eta, run, min(shown, seeds))


def ratio_text(lr: float, threshold: float) -> str:
    """'η/η* = 1.07: above the threshold' for titles."""
    if math.isinf(threshold):
        return "no curved direction: every η is stable"
    q = lr / threshold
    side = "above" if q > 1 else "below"
    return f"η/η* = {q:.3g}: {side} the threshold"


@dataclass(frozen=True)
class SweepView:
    """One model's sweep, arranged for the headline plot, with one (η, B) highlighted.

    Converged minima (shape (M,)): ``x = √B/η`` and ``y = ‖H‖_F √μ_min``, μ_min the
    smallest alignment factor over directions at the minimum; mean-square stability of
    the linearised dynamics implies ``y ≤ x`` (with replacement). ``y_last`` uses the
    last iterate's μ instead (not implied by stability when μ > μ_min). Runs that did
    not converge are ``other_*`` (shape (U,), drawn apart, not minima). ``outcome``
    (shape (S,), every setting) is 0 converged, 1 not converged, 2 diverged, at
    (``all_lr``, ``all_batch``). ``threshold_batch``/``threshold_lr``: the exact η*(B)
    for constant-Hessian models (empty for the MLP); ``bound_lr``: the largest η the
    μ_min bound allows at the same B, √(B/μ_min)/‖H‖_F (constant-Hessian models).
    """

    model: str
    x: torch.Tensor
    y: torch.Tensor
    y_last: torch.Tensor
    lr: torch.Tensor
    batch_size: torch.Tensor
    frobenius: torch.Tensor
    mu_min: torch.Tensor
    mu: torch.Tensor
    selected: torch.Tensor  # (M,) bool: the highlighted (η, B), all seeds
    other_x: torch.Tensor
    other_y: torch.Tensor
    other_lr: torch.Tensor
    other_batch: torch.Tensor
    all_lr: torch.Tensor
    all_batch: torch.Tensor
    outcome: torch.Tensor
    threshold_batch: torch.Tensor
    threshold_lr: torch.Tensor
    bound_lr: torch.Tensor
    chosen_lr: float
    chosen_batch: int
    n_converged: int
    n_not_converged: int
    n_diverged: int
    n_total: int
    worst_ratio: float  # max y / x over converged minima (NaN if none; ≤ 1: bound held)
    worst_ratio_last: float  # the same with the last iterate's μ
    converged_loss: float
    replacement: bool
    requested_lr: float = math.nan  # the control values, before snapping to the grid
    requested_batch: int = 0


def sweep_view(result: SweepResult, lr: float, batch_size: int) -> SweepView:
    """Arrange a :class:`~alignkit.stability.sweep.SweepResult` for :func:`plot_sweep`.

    ``lr`` and ``batch_size`` pick the highlighted settings (the nearest grid values).
    """
    if not isinstance(result, SweepResult):
        raise TypeError(f"result must be a SweepResult, got {type(result).__name__}")
    lr = check_scalar(lr, "lr", low=0.0, closed="neither")
    batch_size = check_int(batch_size, "batch_size", low=1, high=MAX_COUNT)
    fro, mu_min, mu = (t.double() for t in (result.gn_frobenius, result.mu_min, result.mu))
    conv = result.converged & torch.isfinite(fro) & torch.isfinite(mu_min)
    other = ~result.converged & ~result.diverged & torch.isfinite(fro) & torch.isfinite(mu_min)
    lr_t, b_t = result.lr.double(), result.batch_size.double()
    lrs, sizes = torch.unique(lr_t), torch.unique(b_t)
    chosen_lr = float(lrs[(lrs.log() - math.log(lr)).abs().argmin()])
    chosen_b = int(sizes[(sizes - batch_size).abs().argmin()])
    x = b_t.sqrt() / lr_t
    y = fro * mu_min.clamp_min(0).sqrt()
    y_last = fro * mu.clamp_min(0).sqrt()
    selected = (lr_t == chosen_lr) & (b_t == chosen_b)
    any_conv = bool(conv.any())
    worst = float((y[conv] / x[conv]).max()) if any_conv else math.nan
    worst_last = float((y_last[conv] / x[conv]).max()) if any_conv else math.nan
    outcome = torch.where(result.diverged, 2, torch.where(result.converged, 0, 1))
    thr = result.threshold.double()
    if bool(torch.isfinite(thr).any()):
        keep = torch.isfinite(thr)
        first = torch.unique(b_t[keep], return_inverse=True)
        t_batch = first[0]
        t_lr = torch.stack([thr[keep][first[1] == j][0] for j in range(t_batch.numel())])
        finite = torch.isfinite(fro) & torch.isfinite(mu_min)
        const = (fro[finite][0], mu_min[finite][0].clamp_min(0)) if bool(finite.any()) else None
        bound_lr = (
            (t_batch / const[1]).sqrt() / const[0] if const is not None
            else torch.full_like(t_batch, math.nan)
        )  # fmt: skip
    else:
        t_batch = t_lr = bound_lr = torch.empty(0, dtype=torch.float64)
    counts = result.counts
    return SweepView(
        result.model, x[conv], y[conv], y_last[conv], lr_t[conv], b_t[conv], fro[conv],
        mu_min[conv], mu[conv], selected[conv], x[other], y[other], lr_t[other], b_t[other],
        lr_t, b_t, outcome, t_batch, t_lr, bound_lr, chosen_lr, chosen_b,
        counts["converged"], counts["not_converged"], counts["diverged"],
        int(result.lr.numel()), worst, worst_last, float(result.converged_loss),
        result.replacement, lr, batch_size,
    )  # fmt: skip
