"""What each theme-2 explorer computes: pure functions of the control values.

Each returns a frozen dataclass of arrays/floats that a plot function draws; no widgets or
plotly here, so every view is testable and what the benchmarks time.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from alignkit._checks import check_choice, check_int, check_scalar, check_values
from alignkit.device import to_numpy
from alignkit.divergences._args import check_callback, check_names
from alignkit.divergences.align import metrics, train_fdpg
from alignkit.divergences.catalogue import LABELS, get, names
from alignkit.divergences.fit import GaussianFit, fit_panel
from alignkit.divergences.landscape import (
    Landscape,
    descend_landscape,
    landscape,
    refine_minimum,
)
from alignkit.divergences.mixture import GaussianMixture, k_modes
from alignkit.divergences.toylm import (
    ToyLM,
    constraint_target,
    count_reward,
    entropy,
    reward_target,
    toy_lm,
)
from alignkit.divergences.views_2d import Fit2DView, fit2d_explorer_view, fit2d_view, target_2d

__all__ = [
    "FitView",
    "fit_view",
    "target_mixture",
    "target_2d",
    "CatalogueView",
    "catalogue_view",
    "ComparisonView",
    "comparison_view",
    "Fit2DView",
    "fit2d_view",
    "fit2d_explorer_view",
    "AlignmentView",
    "alignment_view",
    "TradeoffView",
    "tradeoff_view",
    "TARGETS",
]


def target_mixture(n_modes: int, separation: float, weight: float) -> GaussianMixture:
    """The explorers' target: ``n_modes`` modes of std 0.5, ``separation`` apart, the first
    (leftmost) of weight ``weight`` and the others sharing the rest."""
    n_modes = check_int(n_modes, "n_modes", low=1, high=5)
    separation = check_scalar(separation, "separation", low=0.5, high=8.0)
    weight = check_scalar(weight, "weight", low=0.05, high=0.95)
    return k_modes(n_modes, separation, std=0.5, weight_first=None if n_modes == 1 else weight)


def _label(name: str, alpha: float) -> str:
    return f"α-divergence, α = {alpha:.3g}" if name == "alpha" else LABELS[name]


#: the fit landscape's log₁₀ D is drawn clipped to [−LOG_CLIP, LOG_CLIP] (its colour key
#: says "≥" / "≤" at a clipped end); infinite D is left out (NaN). Hover and CSV give the
#: value unclipped (``FitView.log_exact``)
LOG_CLIP = 4.0


@dataclass(frozen=True)
class FitView:
    """A Gaussian fit to a 1-D mixture for one divergence, from one start, on its landscape."""

    label: str
    behaviour: str
    x: np.ndarray  # (G,) plot axis
    target_pdf: np.ndarray  # (G,)
    fit_pdf: np.ndarray  # (G,)
    init_pdf: np.ndarray  # (G,)
    mean: float
    std: float
    value: float  # D_f(P‖fit) at the refined minimum
    on_edge: bool
    converged: bool  # stationary by GaussianFit.converged's rule (refine_minimum)
    mus: np.ndarray  # (M,) landscape axes
    sigmas: np.ndarray  # (L,)
    log_values: np.ndarray  # (L, M) log10 of the divergence, clipped to ±LOG_CLIP for display
    log_exact: np.ndarray  # (L, M) log10 of the divergence as computed (hover and CSV): +inf
    # where D is infinite, NaN where the quadrature gave none
    minima: np.ndarray  # (P, 2) local minima (μ, σ)
    path: np.ndarray  # (T, 2) descent path (μ, σ)


def _normal_pdf(x: np.ndarray, mean: float, std: float) -> np.ndarray:
    return np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))


@functools.lru_cache(maxsize=32)
def _widest_std(n_modes: int, separation: float) -> float:
    """The target's largest std over the weights it takes (0.05 to 0.95): the landscape's σ
    axis ends at 1.8 × it for every weight, so that a move of the weight keeps the axes (a
    live panel then moves points and swaps the picture). The variance is concave in the
    first mode's weight w (−(Σ w_i m_i)² is), so its maximum on [0.05, 0.95] is at the
    vertex of the parabola through w = 0.05, 0.5, 0.95, clamped to the interval."""

    def std(w: float) -> float:
        return math.sqrt(float(target_mixture(n_modes, separation, w).covariance()))

    if n_modes == 1:
        return std(0.5)
    ends = (0.05, 0.5, 0.95)
    v0, v1, v2 = (std(w) ** 2 for w in ends)
    curve = v0 - 2 * v1 + v2  # (a parabola in w: second difference over steps of 0.45)
    vertex = 0.5 - 0.45 * (v2 - v0) / (2 * curve) if curve < 0 else 0.5
    return max(std(w) for w in (*ends, min(max(vertex, 0.05), 0.95)))


@functools.lru_cache(maxsize=32)
def _fit_landscape(
    divergence: str, alpha: float, n_modes: int, separation: float, weight: float, resolution: int
) -> Landscape:
    """The explorer's landscape, memoised: moving only the start reuses it (a pure function
    of its arguments; the result is never mutated)."""
    params = {"alpha": alpha} if divergence == "alpha" else {}
    target = target_mixture(n_modes, separation, weight)
    lo, hi = float(target.means.min()) - 1.5, float(target.means.max()) + 1.5
    mus = torch.linspace(lo, hi, resolution, dtype=torch.float64)
    n_sig = max(9, (3 * resolution) // 4)
    top = max(1.8 * _widest_std(n_modes, separation), 1.5)
    sigmas = torch.logspace(math.log10(0.2), math.log10(top), n_sig, dtype=torch.float64)
    return landscape(target, divergence, mus=mus, sigmas=sigmas, per_std=2.0, width=6.0, **params)


def fit_view(
    divergence: str = "reverse_kl",
    alpha: float = 0.5,
    *,
    n_modes: int = 2,
    separation: float = 4.0,
    weight: float = 0.5,
    init_mean: float = 1.0,
    init_std: float = 0.5,
    resolution: int = 25,
) -> FitView:
    """Where descent from (``init_mean``, ``init_std``) ends for D_f(target‖N(μ, σ²)).

    The landscape is evaluated once on a ``resolution`` × (¾ ``resolution``) grid over
    (μ, log σ) (memoised per divergence and target, so moving the start only re-descends)
    and descended cell by cell (:func:`descend_landscape`), then refined off the grid on the
    quadrature objective (:func:`~alignkit.divergences.landscape.refine_minimum`, which says
    whether the end is stationary: ``converged``).
    """
    check_choice(divergence, "divergence", names())
    alpha = check_scalar(alpha, "alpha", low=-3.0, high=4.0)
    init_std = check_scalar(init_std, "init_std", low=0.05, closed="neither")
    init_mean = check_scalar(init_mean, "init_mean", low=-20.0, high=20.0)
    resolution = check_int(resolution, "resolution", low=9, high=201)
    params = {"alpha": alpha} if divergence == "alpha" else {}
    div = get(divergence, **params)
    target = target_mixture(n_modes, separation, weight)
    lo, hi = float(target.means.min()) - 1.5, float(target.means.max()) + 1.5
    key_alpha = alpha if divergence == "alpha" else 0.0  # α matters only to the α family
    land = _fit_landscape(divergence, key_alpha, int(n_modes), float(separation), float(weight),
                          resolution)  # fmt: skip
    walk = descend_landscape(land, init_mean, init_std)
    x = np.linspace(lo - 2.5, hi + 2.5, 200)
    vals = to_numpy(land.values)
    fit = refine_minimum(target, div, land, walk.mean, walk.std)
    mean, std, value = fit.mean, fit.std, fit.value
    with np.errstate(divide="ignore", invalid="ignore"):  # (D <= 0, a rounding of 0: -inf)
        log_exact = np.log10(np.maximum(vals, 0.0))
    # drawn: infinite D left out, the rest clipped (-inf, D = 0, to the key's low end)
    log_v = np.clip(np.where(log_exact == np.inf, np.nan, log_exact), -LOG_CLIP, LOG_CLIP)
    return FitView(
        label=_label(divergence, alpha), behaviour=div.behaviour, x=x,
        target_pdf=to_numpy(target.pdf(torch.from_numpy(x))),
        fit_pdf=_normal_pdf(x, mean, std), init_pdf=_normal_pdf(x, init_mean, init_std),
        mean=mean, std=std, value=value, on_edge=walk.on_edge, converged=fit.converged,
        mus=to_numpy(land.mus), sigmas=to_numpy(land.sigmas), log_values=log_v,
        log_exact=log_exact,
        minima=to_numpy(land.minima).reshape(-1, 2), path=walk.path,
    )  # fmt: skip


@dataclass(frozen=True)
class CatalogueView:
    """Generators f(u), their limits and the f-distill weightings h(r), per divergence."""

    labels: tuple[str, ...]
    u: np.ndarray  # (G,)
    f: np.ndarray  # (D, G)
    r: np.ndarray  # (H,) log-spaced
    h: np.ndarray  # (D, H)
    f_at_zero: tuple[float, ...]
    f_prime_at_infinity: tuple[float, ...]
    behaviour: tuple[str, ...]


def catalogue_view(alpha: float = 0.5) -> CatalogueView:
    """Every catalogue divergence (the α family at ``alpha``) on u ∈ (0, 4] and r ∈ [10⁻², 10²]."""
    alpha = check_scalar(alpha, "alpha")
    divs = [get(n, alpha=alpha) if n == "alpha" else get(n) for n in names()]
    u = torch.linspace(1e-3, 4.0, 400, dtype=torch.float64)
    r = torch.logspace(-2, 2, 200, dtype=torch.float64)
    return CatalogueView(
        tuple(_label(d.name, alpha) for d in divs), to_numpy(u),
        np.stack([to_numpy(d.f(u)) for d in divs]), to_numpy(r),
        np.stack([to_numpy(d.h(r)) for d in divs]),
        tuple(d.f_at_zero for d in divs), tuple(d.f_prime_at_infinity for d in divs),
        tuple(d.behaviour for d in divs),
    )  # fmt: skip


@dataclass(frozen=True)
class ComparisonView:
    """Every catalogue divergence (and an α sweep) fitted from the same starts in one call."""

    labels: tuple[str, ...]  # (S,)
    x: np.ndarray  # (G,)
    target_pdf: np.ndarray  # (G,)
    fit: GaussianFit  # leading axes (S, I)


def comparison_view(
    *,
    n_modes: int = 2,
    separation: float = 4.0,
    weight: float = 0.5,
    inits: tuple[tuple[float, float], ...] = ((1.0, 1.0),),
    alphas: tuple[float, ...] = (),
    steps: int = 300,
) -> ComparisonView:
    """Fit every catalogue divergence (α family at each of ``alphas``) × start, batched.

    ``inits`` is a non-empty sequence of (μ₀, σ₀) rows (σ₀ > 0); ``alphas`` a possibly
    empty sequence of finite α.
    """
    target = target_mixture(n_modes, separation, weight)
    if inits is None or isinstance(inits, (str, bytes)):
        raise TypeError(f"inits must be a non-empty sequence of (μ₀, σ₀) rows, got {inits!r}")
    starts = check_values(inits, "inits", ndim=2)
    if starts.shape[-1] != 2 or not bool((starts[:, 1] > 0).all()):
        raise ValueError(
            f"inits must be rows (μ₀, σ₀) with σ₀ > 0, shape (I, 2), got {starts.tolist()}"
        )
    if alphas is None or isinstance(alphas, (str, bytes)):
        raise TypeError(f"alphas must be a sequence of real numbers (may be empty), got {alphas!r}")
    alpha_values = check_values(alphas, "alphas", ndim=1, allow_empty=True).tolist()
    settings = [(n, math.nan) for n in names() if n != "alpha"]
    settings += [("alpha", float(a)) for a in alpha_values]
    fit = fit_panel(target, settings, starts, steps=steps)
    x = np.linspace(float(target.means.min()) - 4, float(target.means.max()) + 4, 300)
    labels = tuple(_label(n, a) for n, a in settings)
    return ComparisonView(labels, x, to_numpy(target.pdf(torch.from_numpy(x))), fit)


# --- the toy LM (notebook 04) ---------------------------------------------------------
TARGETS = ("reward", "constraint")


@dataclass(frozen=True)
class AlignmentView:
    """One divergence's f-DPG run on the toy LM: distributions, curve and metrics."""

    label: str
    target: str
    beta: float
    sequences: tuple[str, ...]  # (K,) the K most likely sequences under the target
    target_probs: np.ndarray  # (K,)
    base_probs: np.ndarray  # (K,)
    model_probs: np.ndarray  # (K,)
    objective: np.ndarray  # (T+1,) D_f(P‖π) per step
    metrics: dict[str, float]  # alignment, entropy, kl_base, kl_target, target_entropy
    base_metrics: dict[str, float]
    infinite: bool


@functools.lru_cache(maxsize=64)
def _lm_target(target: str, beta: float) -> tuple[ToyLM, torch.Tensor, dict[str, torch.Tensor]]:
    """The toy LM, log p (N,) and the metric's input (memoised: never mutated)."""
    check_choice(target, "target", TARGETS)
    lm = toy_lm(4, 6, seed=0)
    if target == "reward":
        r = count_reward(lm)
        return lm, reward_target(lm, r, beta), {"reward": r}
    log_p, ok = constraint_target(lm)
    return lm, log_p, {"satisfied": ok}


def alignment_view(
    divergence: str = "reverse_kl",
    alpha: float = 0.5,
    beta: float = 0.2,
    *,
    target: str = "reward",
    steps: int = 150,
    n_samples: int | None = None,
    top: int = 30,
    progress: Callable[[int, int], None] | None = None,
) -> AlignmentView:
    """Train the toy LM with f-DPG on one divergence (exact gradients, or ``n_samples``)."""
    check_choice(divergence, "divergence", names())
    beta = check_scalar(beta, "beta", low=0.01, high=100.0)
    alpha = check_scalar(alpha, "alpha", low=-3.0, high=4.0)
    top = check_int(top, "top", low=1, high=200)
    check_choice(target, "target", TARGETS)
    check_callback(progress, "progress")
    lm, log_p, what = _lm_target(target, beta)
    setting = (divergence, alpha if divergence == "alpha" else math.nan)
    run = train_fdpg(lm, log_p, [setting], steps=steps, n_samples=n_samples,
                     progress=progress)  # fmt: skip
    return _alignment_result(divergence, alpha, beta, target, run.log_pi[0], run.objective[0],
                             bool(run.infinite[0]), top)  # fmt: skip


def _alignment_result(
    divergence: str, alpha: float, beta: float, target: str, log_pi: torch.Tensor,
    objective: torch.Tensor, infinite: bool, top: int,
) -> AlignmentView:  # fmt: skip
    """The view of one trained model ``log_pi`` (N,) with its loss curve ``objective``."""
    lm, log_p, what = _lm_target(target, beta)
    order = torch.argsort(log_p, descending=True)[:top]
    m = metrics(lm, log_pi[None], log_p, **what)
    base = metrics(lm, lm.log_base[None], log_p, **what)
    return AlignmentView(
        _label(divergence, alpha), target, beta, tuple(lm.decode(int(i)) for i in order),
        to_numpy(torch.exp(log_p[order])), to_numpy(torch.exp(lm.log_base[order])),
        to_numpy(torch.exp(log_pi[order])), to_numpy(objective),
        {k: float(v[0]) for k, v in m.items()}, {k: float(v[0]) for k, v in base.items()},
        infinite,
    )  # fmt: skip


@dataclass(frozen=True)
class TradeoffView:
    """Alignment and diversity for every divergence × β, trained in one batched run."""

    labels: tuple[str, ...]  # (D,)
    betas: np.ndarray  # (B,)
    alignment: np.ndarray  # (B, D)
    entropy: np.ndarray  # (B, D)
    kl_base: np.ndarray  # (B, D)
    target_alignment: np.ndarray  # (B,)
    target_entropy: np.ndarray  # (B,)
    infinite: np.ndarray  # (B, D)
    rel_change: np.ndarray  # (B, D) of the objective over training's last 10 % (AlignmentRun's)


def tradeoff_view(
    divergences: tuple[str, ...] = ("forward_kl", "jensen_shannon", "reverse_kl"),
    betas: tuple[float, ...] = (1.0, 0.5, 0.2, 0.1),
    *,
    steps: int = 150,
) -> TradeoffView:
    """f-DPG on the reward target for every (β, divergence) pair as one batch of settings.

    ``divergences``: a non-empty tuple of catalogue names (not ``"alpha"``); ``betas``: a
    non-empty tuple of β > 0.
    """
    divergences = check_names(divergences, "divergences", [n for n in names() if n != "alpha"])
    if betas is None or isinstance(betas, (str, bytes)):
        raise TypeError(f"betas must be a non-empty sequence of numbers > 0, got {betas!r}")
    b = check_values(betas, "betas", low=0.0, closed="neither", ndim=1)
    betas = tuple(b.tolist())
    steps = check_int(steps, "steps", low=0, high=100_000)
    lm = toy_lm(4, 6, seed=0)
    r = count_reward(lm)
    log_p = reward_target(lm, r, b)  # (B, N)
    settings = [(n, math.nan) for _ in betas for n in divergences]
    rows = log_p.repeat_interleave(len(divergences), dim=0)  # one target row per setting
    run = train_fdpg(lm, rows, settings, steps=steps)
    m = metrics(lm, run.log_pi, rows, reward=r)
    shape = (len(betas), len(divergences))
    p = torch.exp(log_p)
    return TradeoffView(
        tuple(LABELS[n] for n in divergences), to_numpy(b),
        to_numpy(m["alignment"].reshape(shape)), to_numpy(m["entropy"].reshape(shape)),
        to_numpy(m["kl_base"].reshape(shape)), to_numpy((p * r).sum(-1)),
        to_numpy(entropy(log_p)), to_numpy(run.infinite.reshape(shape)),
        to_numpy(run.rel_change.reshape(shape)),
    )  # fmt: skip
