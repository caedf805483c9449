"""Fit a Gaussian Q to a mixture target P by minimising D_f(P‖Q), by quadrature in log space.

One call fits a whole panel: settings (divergence, α) × initialisations are a batch of
independent parameter vectors optimised together (Adam on μ and log σ, its gradient in
closed form (:mod:`.quadrature`), or on the mean and a Cholesky factor in d-D). The
objective is the trapezoid rule on a fixed grid that resolves both the target's narrowest
mode and the widest model, with the integrand q·f̃(p/q) computed from log densities
(:meth:`Divergence.integrand`), so it stays finite and NaN-free when the model sits far
from the target. Settings whose objective becomes infinite or whose model leaves the
quadrature window are flagged (``diverged``), not raised.

Taught in ``notebooks/03_f_divergences_mode_seeking.ipynb``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real

import torch

from alignkit._checks import check_int, check_scalar, check_shape
from alignkit.device import make_generator
from alignkit.divergences._args import check_divs, check_mixture, real_tensor
from alignkit.divergences.catalogue import CATALOGUE, Divergence, get
from alignkit.divergences.descent import descend, one_cpu_thread
from alignkit.divergences.mixture import GaussianMixture
from alignkit.divergences.quadrature import (
    _EXP_FLOOR,
    _batched_integrand,
    _integrand_and_slope,
    _plan,
    _WithGradient,
    quadrature_value_and_grad,
)

__all__ = [
    "Setting",
    "GaussianFit",
    "fit_gaussian",
    "fit_panel",
    "quadrature_grid",
    "objective",
    "descend",
    "one_cpu_thread",
    "infinite_tails",
]

Tensor = torch.Tensor
_LOG_2PI = math.log(2.0 * math.pi)
#: A divergence setting: (registry name, α) with α ignored (NaN) outside the α family.
Setting = tuple[str, float]
#: A fit is converged when its scale-free gradient is at most this × max(D, D_FLOOR) (see
#: GaussianFit.converged), KINKED_RTOL × that for total variation; D_FLOOR lets a fit that
#: reaches D ≈ 0 (a target the model can represent) stop at Adam's last step size.
CONVERGED_RTOL = 0.05
KINKED_RTOL = 0.15
D_FLOOR = 0.05
#: A fit with |D| at most this is converged whatever its gradient: every f-divergence is
#: >= 0, so no step can lower it by more. (Descending log D, Adam is kicked about near an
#: exact fit, D -> 0: a Gaussian target's fit passed 7e-9 and ended at 1.8e-6, 0.1 % off
#: in σ, its scale-free gradient just over CONVERGED_RTOL × D_FLOOR.)
D_ZERO = 1e-5
#: The α family's integrand tail is covered up to this many target stds from the centre.
_TAIL_CAP = 20.0


@dataclass(frozen=True)
class GaussianFit:
    """Fitted Gaussians for S settings × I initialisations (leading axes squeezed by
    :func:`fit_gaussian`).

    Attributes
    ----------
    settings : tuple of (name, α)
    mean : Tensor, shape (S, I) in 1-D or (S, I, d)
    std : Tensor, shape (S, I) in 1-D; the covariance (S, I, d, d) in d-D
    value : Tensor, shape (S, I) — final divergence D_f(P‖Q)
    trajectory : Tensor, shape (S, I, T, 2) in 1-D (μ, σ per step) or (S, I, T, d) (means)
    values : Tensor, shape (S, I, T) — divergence per step
    diverged : Tensor of bool, shape (S, I) — objective not finite or model off the grid
    init : Tensor, shape (I, 2) in 1-D (μ₀, σ₀) or (I, d + 1) (mean₀, σ₀)
    converged : Tensor of bool, shape (S, I) — not diverged, and stationary at the end: the
        gradient in scale-free coordinates (the means in units of the model's own std, log
        stds, the 2-D shear) is at most :data:`CONVERGED_RTOL` × max(D, :data:`D_FLOOR`)
        in every coordinate (:data:`KINKED_RTOL` for total variation, whose trapezoid
        gradient keeps a few per cent of noise at its minimum); a log σ held at the finite
        region's edge, its gradient pointing out, counts as stationary there; so does a fit
        with |D| ≤ :data:`D_ZERO` and a finite gradient (D ≥ 0: no step lowers it more;
        such a fit is within D_ZERO of the least value, 0). Only converged fits are
        minima. It is a necessary condition checked at the last step, not a proof: a very
        shallow valley, or a flat one (total variation's), can pass it while more steps
        would still lower D (``tests/test_divergences_fit.py`` compares it with runs ten
        times longer).
    """

    settings: tuple[Setting, ...]
    mean: Tensor
    std: Tensor
    value: Tensor
    trajectory: Tensor
    values: Tensor
    diverged: Tensor
    init: Tensor
    converged: Tensor


def _settings(name: str | Sequence[Setting], params: dict[str, float]) -> list[Setting]:
    if isinstance(name, str):  # the α family's default α, as get("alpha") has it
        return [(name, params.get("alpha", 0.5 if name == "alpha" else math.nan))]
    return [(n, float(a)) for n, a in name]


def check_settings(settings: object, name: str = "settings") -> list[Setting]:
    """A non-empty sequence of (registry name, α) pairs, as a list; α is a real number (NaN
    allowed outside ``"alpha"``)."""
    what = f"a non-empty sequence of (name, α) pairs, name one of {list(CATALOGUE)}"
    if isinstance(settings, (str, bytes)) or not isinstance(settings, Sequence):
        raise TypeError(f"{name} must be {what}, got {type(settings).__name__} {settings!r:.60}")
    if len(settings) == 0:
        raise ValueError(f"{name} must be {what}, got an empty sequence")
    out = []
    for entry in settings:
        if isinstance(entry, (str, bytes)) or not isinstance(entry, Sequence):
            raise TypeError(f"{name} must be {what}, got the entry {entry!r:.60}")
        if len(entry) != 2:
            raise ValueError(f"{name} must be {what}, got the entry {tuple(entry)!r:.60}")
        n, a = entry
        if not isinstance(n, str):
            raise TypeError(f"{name} must be {what}, got the name {n!r} in {tuple(entry)!r:.60}")
        if n not in CATALOGUE:
            raise ValueError(f"{name} must be {what}, got the name {n!r}")
        if (
            isinstance(a, bool)
            or not isinstance(a, Real)
            and not (isinstance(a, torch.Tensor) and a.ndim == 0 and a.is_floating_point())
        ):
            raise TypeError(f"{name} must be {what}, got the α {a!r:.60} in the entry for {n!r}")
        out.append((n, float(a)))
    return out


def _divergences(settings: Sequence[Setting]) -> list[Divergence]:
    return [get(n, alpha=a) if n == "alpha" else get(n) for n, a in settings]


def quadrature_grid(
    target: GaussianMixture,
    models: Tensor | None = None,
    *,
    per_std: float = 3.0,
    width: float = 10.0,
    divs: Sequence[Divergence] = (),
) -> tuple[Tensor, float]:
    """1-D trapezoid nodes covering the target and the models, ``per_std`` nodes per std of
    the narrowest target mode (at least 200 intervals over the target's own window).

    The window is each mode ±``width`` of its std, the mixture ±``width`` overall stds, and
    each model row (μ, σ) of ``models`` (shape (M, 2)) ±``width`` σ — or, for the α family
    in ``divs``, ±``width`` of the integrand p^α q^{1−α}'s own tail std 1/√κ,
    κ = α/s² + (1 − α)/σ² (s the widest mode's std), which grows without bound near the
    edge of the finite region (:func:`infinite_tails`), up to that edge; capped at 20 target
    stds. The nodes lie on a lattice fixed by the target (its window's left end and h), so
    the grid of a batch contains the grid of each of its fits.
    Returns ``(nodes (N,), spacing h)``.
    """
    check_mixture(target, dim=1)
    per_std = check_scalar(per_std, "per_std", low=0.0, high=1000.0, closed="right")
    width = check_scalar(width, "width", low=0.0, high=1000.0, closed="right")
    if models is not None:
        models = real_tensor(models, "models", finite=True, nonempty=False)
        rows = models.numel() % 2 == 0 and bool((models.reshape(-1, 2)[:, 1] > 0).all())
        check_shape(models.shape, "models", "(M, 2) rows (μ, σ) with σ > 0", rows)
    if divs:
        check_divs(divs)
    return _quadrature_grid(target, models, per_std=per_std, width=width, divs=divs)


def _quadrature_grid(
    target: GaussianMixture,
    models: Tensor | None = None,
    *,
    per_std: float = 3.0,
    width: float = 10.0,
    divs: Sequence[Divergence] = (),
) -> tuple[Tensor, float]:
    """:func:`quadrature_grid` on checked arguments (the fits' and explorers' calls)."""
    mu, s = target.means, target.stds
    m, sd = float(target.mean()), math.sqrt(float(target.covariance()))
    lo = min(float((mu - width * s).min()), m - width * sd)
    hi = max(float((mu + width * s).max()), m + width * sd)
    # the spacing and the lattice depend on the target alone: a window widened for other
    # models or settings only adds nodes on the same lattice, so a fit gets the same
    # quadrature (up to far-tail nodes) alone or inside any batch
    t_lo, h = lo, min(float(s.min()) / per_std, (hi - lo) / 200)
    if models is not None and models.numel():
        models = models.reshape(-1, 2)
        lo = min(lo, float((models[:, 0] - width * models[:, 1]).min()))
        hi = max(hi, float((models[:, 0] + width * models[:, 1]).max()))
        alphas = [d.alpha_form[0] for d in divs if d.alpha_form is not None]
        alphas = [a for a in alphas if a < 0.0 or a > 1.0]
        if alphas:
            # models may travel up to the cliff of the finite region: cover it too
            a = torch.tensor(alphas, dtype=models.dtype, device=models.device)[:, None]
            edge = float(s.max()) * torch.sqrt(((1.0 - a) / (-a)).where(a < 0, (a - 1.0) / a))
            edge = edge * torch.where(a < 0, 0.999, 1.001)  # (A, 1)
            sig = torch.cat([models[:, 1].expand(len(alphas), -1), edge], 1)  # (A, M + 1)
            cen = torch.cat([models[:, 0].expand(len(alphas), -1), torch.full_like(edge, m)], 1)
            kappa = a / s.max() ** 2 + (1.0 - a) / sig**2
            tail = torch.where(kappa > 0, kappa.clamp_min(1e-300).rsqrt(), 0.0)
            tail = tail.clamp_max(_TAIL_CAP * sd / width)
            lo = min(lo, float((cen - width * tail).min()))
            hi = max(hi, float((cen + width * tail).max()))
    k_lo = math.floor((lo - t_lo) / h + 1e-9)
    k_hi = math.ceil((hi - t_lo) / h - 1e-9)
    k = torch.arange(k_lo, k_hi + 1, dtype=target.means.dtype, device=target.means.device)
    return t_lo + h * k, h


def _log_sigma_box(
    target: GaussianMixture, divs: Sequence[Divergence], dtype: torch.dtype
) -> tuple[Tensor, Tensor]:
    """Per-setting bounds (S, 1) on log σ keeping D_f finite (:func:`infinite_tails`), 0.1 %
    inside the cliff: σ < s√((1 − α)/(−α)) for α < 0, σ > s√((α − 1)/α) for α > 1."""
    s = float(target.stds.max())
    lo, hi = [], []
    for d in divs:
        a = d.alpha_form[0] if d.alpha_form is not None else 0.5
        hi.append(math.log(0.999 * s * math.sqrt((1 - a) / -a)) if a < 0 else math.inf)
        lo.append(math.log(1.001 * s * math.sqrt((a - 1) / a)) if a > 1 else -math.inf)
    dev = target.means.device
    return (torch.tensor(lo, dtype=dtype, device=dev)[:, None],
            torch.tensor(hi, dtype=dtype, device=dev)[:, None])  # fmt: skip


def _normal_log_prob(x: Tensor, mu: Tensor, log_sigma: Tensor) -> Tensor:
    z = (x - mu[..., None]) * torch.exp(-log_sigma)[..., None]
    return -0.5 * z * z - log_sigma[..., None] - 0.5 * _LOG_2PI


def objective(
    target: GaussianMixture,
    divs: Sequence[Divergence],
    mu: Tensor,
    log_sigma: Tensor,
    nodes: Tensor,
    h: float,
) -> tuple[Tensor, Tensor]:
    """D_f(P‖N(μ, σ²)) for S settings, by the trapezoid rule on ``nodes``.

    ``mu`` and ``log_sigma`` have shape (S, ...); returns (value, model mass on the grid),
    both of shape (S, ...). Differentiable (autograd) when ``mu`` or ``log_sigma`` requires
    a gradient; otherwise evaluated with densities floored at e^{−700} (the fits' fast path,
    :func:`~alignkit.divergences.quadrature._integrand_and_slope`), the same sums.
    """
    check_mixture(target, dim=1)
    divs = check_divs(divs)
    for t, name in ((mu, "mu"), (log_sigma, "log_sigma"), (nodes, "nodes")):
        if not isinstance(t, torch.Tensor) or not t.is_floating_point():
            raise TypeError(f"{name} must be a floating-point torch.Tensor, got {type(t).__name__}")
    if mu.shape != log_sigma.shape or mu.ndim == 0 or mu.shape[0] != len(divs):
        raise ValueError(
            f"mu and log_sigma must have one shape (S, ...) with S = len(divs) = {len(divs)}, "
            f"got {tuple(mu.shape)} and {tuple(log_sigma.shape)}"
        )
    check_shape(nodes.shape, "nodes", "(N,) with N ≥ 2", nodes.ndim == 1 and len(nodes) >= 2)
    h = check_scalar(h, "h", low=0.0, closed="neither")
    return _objective(target, divs, mu, log_sigma, nodes, h)


def _objective(
    target: GaussianMixture,
    divs: Sequence[Divergence],
    mu: Tensor,
    log_sigma: Tensor,
    nodes: Tensor,
    h: float,
) -> tuple[Tensor, Tensor]:
    """:func:`objective` on checked arguments."""
    log_p = target.log_prob(nodes)
    log_q = _normal_log_prob(nodes, mu, log_sigma)
    if torch.is_grad_enabled() and (mu.requires_grad or log_sigma.requires_grad):
        vals = _batched_integrand(divs, log_p, log_q)
        mass = torch.exp(log_q).sum(-1) * h
    else:
        vals = _integrand_and_slope(_plan(divs, log_q.dtype, log_q.device), log_p, log_q)[0]
        mass = torch.exp(log_q.clamp_min(_EXP_FLOOR)).sum(-1) * h
    value = vals.sum(-1) * h
    value = torch.where(_infinite_tails(target, divs, log_sigma), math.inf, value)
    return value, mass


def infinite_tails(
    target: GaussianMixture, divs: Sequence[Divergence], log_sigma: Tensor
) -> Tensor:
    """Where D_f(P‖N(μ, σ²)) is infinite in closed form, for the α family: (S, ...) bool.

    D_α involves ∫ p^α q^{1−α}; in the tails p ∝ exp(−x²/2s²) with s the widest mode's std.
    For α < 0 the integral is finite iff σ² < (1 − α)s²/(−α) (Neyman χ²: σ² < 2s²); for α > 1
    iff σ² > (α − 1)s²/α (Pearson χ²: σ² > s²/2). A truncated quadrature window cannot see
    this (it returns a finite number), so the objective takes ∞ from here. Other generators
    are finite for every Gaussian model.
    """
    check_mixture(target, dim=1)
    divs = check_divs(divs)
    if not isinstance(log_sigma, torch.Tensor) or not log_sigma.is_floating_point():
        raise TypeError(f"log_sigma must be a floating-point torch.Tensor, got {log_sigma!r:.60}")
    check_shape(log_sigma.shape, "log_sigma", f"(S, ...) with S = len(divs) = {len(divs)}",
                log_sigma.ndim >= 1 and log_sigma.shape[0] in (1, len(divs)))  # fmt: skip
    return _infinite_tails(target, divs, log_sigma)


def _infinite_tails(
    target: GaussianMixture, divs: Sequence[Divergence], log_sigma: Tensor
) -> Tensor:
    """:func:`infinite_tails` on checked arguments."""
    nan = math.nan
    shape = (-1,) + (1,) * (log_sigma.ndim - 1)
    a = torch.tensor([d.alpha_form[0] if d.alpha_form is not None else nan for d in divs],
                     dtype=log_sigma.dtype, device=log_sigma.device).reshape(shape)  # fmt: skip
    s2, var = target.stds.max() ** 2, torch.exp(2.0 * log_sigma.detach())
    below = (a < 0) & (var * (-a) >= (1.0 - a) * s2)
    above = (a > 1) & (var * a <= (a - 1.0) * s2)
    return below | above


def _inits_1d(target: GaussianMixture, init: object, seed: int | None) -> Tensor:
    sd = math.sqrt(float(target.covariance()))
    if init is None:
        mu0 = target.sample(1, seed=make_generator(seed)).reshape(1)
        # (not checked: a draw from the target with its std. On a target of far-apart narrow
        # modes its tail over the gaps still reaches under the floor: its first D reads low)
        return torch.stack([mu0, torch.full_like(mu0, sd)], -1)
    t = _init_tensor(init)
    if t.ndim == 0:
        t = torch.stack([t, torch.tensor(sd, dtype=torch.float64)])
    if t.ndim == 1 and t.shape[0] != 2:
        raise ValueError(f"init must be μ₀, (μ₀, σ₀) or shape (I, 2), got {t.tolist()}")
    t = t.reshape(-1, 2) if t.ndim == 1 else t
    if t.ndim != 2 or t.shape[-1] != 2 or t.shape[0] == 0 or not torch.isfinite(t).all():
        raise ValueError(f"init must be μ₀, (μ₀, σ₀) or shape (I, 2) finite, got {t.tolist()}")
    if (t[:, 1] <= 0).any():
        raise ValueError(f"init std σ₀ must be > 0, got {t[:, 1].tolist()}")
    t = t.to(target.means.device)
    _check_starts(target, t)
    return t


#: how deep under the quadrature's floor of e^{-700} a start may reach, as a fraction of
#: max(1, |KL|): the q-weighted mean of (−700 − log p)₊ over the start against its reverse
#: KL, and the p-weighted mean of (−700 − log q)₊ over the target against its forward KL
#: (both without floor, on ±12 standard deviations). Below the floor D and its slope are
#: the floor's: a far start read D = 698.6 and stood still, "converged", where D is 4609
#: (reverse KL at μ₀ = 50), and a narrow one 695 where it is 1301 (forward KL at
#: (10, 0.2)). For reverse KL the first depth is the error of D itself, for forward KL the
#: second. A start within the bound reads its own D (the trajectory's first value) to
#: about that fraction. The default start, a draw from the target with its std, is not
#: checked: on k_modes(3, 6.0) it reaches 4e-4 of the bound's measure, on modes 40 apart of
#: std 0.5 about 0.4 (a target beyond what these fits' quadrature resolves).
FLOOR_RTOL = 1e-2
_U = torch.linspace(-12.0, 12.0, 961, dtype=torch.float64)  # ±12 stds: past it, mass < 1e-32
_PHI = torch.exp(-0.5 * _U**2) / math.sqrt(2 * math.pi) * float(_U[1] - _U[0])


def _floor_depths(target: GaussianMixture, inits: Tensor) -> tuple[Tensor, Tensor]:
    """(I,) q-weighted depth of log p under the floor and p-weighted depth of log q, each
    over max(1, |KL|) of its direction (reverse, forward)."""
    u, phi = _U.to(inits.device), _PHI.to(inits.device)
    mu, sigma = inits[:, :1], inits[:, 1:]
    x = mu + sigma * u  # (I, U): where each start has its mass
    log_p = target.log_prob(x.reshape(-1)).reshape(x.shape)
    log_q_x = -0.5 * u**2 - torch.log(sigma * math.sqrt(2 * math.pi))
    reverse = ((log_q_x - log_p) * phi).sum(-1)
    deep_p = ((_EXP_FLOOR - log_p).clamp_min(0.0) * phi).sum(-1)
    y = target.means.reshape(-1, 1) + target.stds.reshape(-1, 1) * u  # (K, U): the target's
    log_q = _normal_log_prob(y.reshape(-1), mu[:, 0], torch.log(sigma[:, 0])).reshape(-1, *y.shape)
    weights = target.weights.reshape(1, -1, 1) * phi  # (1, K, U)
    forward = ((target.log_prob(y.reshape(-1)).reshape(y.shape) - log_q) * weights).sum((-1, -2))
    deep_q = ((_EXP_FLOOR - log_q).clamp_min(0.0) * weights).sum((-1, -2))
    return deep_p / reverse.abs().clamp_min(1.0), deep_q / forward.abs().clamp_min(1.0)


def _check_starts(target: GaussianMixture, inits: Tensor) -> None:
    """Refuse 1-D starts (I, 2) the fits' quadrature cannot evaluate: σ₀ under 1.5 node
    spacings (where a fit is flagged as unresolved, ``diverged``), or start and target so
    far apart that either density falls under the quadrature's floor where the other has
    its mass (:data:`FLOOR_RTOL`)."""
    _, h = _quadrature_grid(target)  # the spacing depends on the target alone
    narrow = inits[:, 1] < 1.5 * h
    if bool(narrow.any()):
        raise ValueError(
            f"init std σ₀ must be ≥ {1.5 * h:.3g} for this target (1.5 spacings of the fits' "
            f"quadrature nodes; a narrower fit is flagged unresolved), got "
            f"{inits[narrow, 1].tolist()}"
        )
    deep_p, deep_q = _floor_depths(target, inits)
    bad = (deep_p > FLOOR_RTOL) | (deep_q > FLOOR_RTOL)
    if not bool(bad.any()):
        return
    i = int(torch.nonzero(bad)[0])
    mu0, s0 = (float(v) for v in inits[i])
    m, sd = float(target.mean()), math.sqrt(float(target.covariance()))
    moments = torch.tensor([[m, sd]], dtype=inits.dtype, device=inits.device)
    ok = not bool((torch.stack(_floor_depths(target, moments)) > FLOOR_RTOL).any())
    example = f"; the target's mean and std ({m:.3g}, {sd:.3g}) are such a start" if ok else ""
    raise ValueError(
        f"init must start close enough to the target that neither density falls under the "
        f"fits' quadrature floor, e^-700, where the other has its mass (on average by at most "
        f"{FLOOR_RTOL:g} of their KL divergence), got (μ₀, σ₀) = ({mu0:g}, {s0:g}): "
        f"{float(deep_p[i]):.3g} of it under the floor for the target's log-density over the "
        f"start, {float(deep_q[i]):.3g} for the start's over the target{example}"
    )


def _init_tensor(init: object) -> Tensor:
    """``init`` as a float64 tensor on the cpu, or a ``TypeError`` naming it."""
    if isinstance(init, (str, bytes, bool)) or (
        isinstance(init, torch.Tensor) and (init.dtype == torch.bool or init.is_complex())
    ):
        raise TypeError(f"init must be real numbers (μ₀, σ₀ rows), got {init!r:.60}")
    try:
        return torch.as_tensor(init, dtype=torch.float64, device="cpu")
    except (TypeError, ValueError, RuntimeError, NotImplementedError) as exc:
        raise TypeError(f"init must be real numbers (μ₀, σ₀ rows), got {init!r:.60}") from exc


def fit_panel(
    target: GaussianMixture,
    settings: Sequence[Setting],
    init: object = None,
    *,
    steps: int = 300,
    lr: float = 0.05,
    seed: int | None = 0,
) -> GaussianFit:
    """Fit N(μ, σ²) to a 1-D ``target`` for every setting × initialisation in one batch.

    Parameters
    ----------
    target : GaussianMixture (1-D)
    settings : sequence of (name, α), length S (α ignored outside ``"alpha"``)
    init : μ₀, (μ₀, σ₀) or Tensor (I, 2); default one start drawn from the target
        (``seed``) with σ₀ the target's std.
    steps : int, default=300 — Adam steps (cosine-decayed learning rate ``lr``)

    Returns
    -------
    GaussianFit with leading axes (S, I).
    """
    check_mixture(target)
    settings = check_settings(settings)
    if seed is not None and not isinstance(seed, torch.Generator):
        seed = check_int(seed, "seed", low=0, high=2**63 - 1)  # checked even when init is given
    if not target.is_1d:
        return _fit_panel_nd(target, settings, init, steps=steps, lr=lr, seed=seed)
    steps = check_int(steps, "steps", low=1, high=100_000)
    lr = check_scalar(lr, "lr", low=0.0, closed="neither")
    divs = _divergences(settings)
    inits = _inits_1d(target, init, seed)
    n_s, n_i = len(divs), inits.shape[0]
    nodes, h = _quadrature_grid(target, inits, divs=divs)
    mu = inits[:, 0].expand(n_s, n_i).clone().requires_grad_(True)
    log_sigma = torch.log(inits[:, 1]).expand(n_s, n_i).clone().requires_grad_(True)
    path = torch.empty(n_s, n_i, steps + 1, 2, dtype=mu.dtype, device=mu.device)

    lo, hi = _log_sigma_box(target, divs, mu.dtype)
    plan, log_p = _plan(divs, mu.dtype, mu.device), target.log_prob(nodes)

    def value() -> Tensor:
        # project onto the finite region (the α family's cliff; inside it the objective is
        # finite, so :func:`infinite_tails` need not be checked per step), then the value
        # with its analytic gradient (same minimisers as autograd, a third of the work)
        with torch.no_grad():
            log_sigma.copy_(torch.minimum(torch.maximum(log_sigma, lo), hi))
            val, d_mu, d_ls = quadrature_value_and_grad(plan, log_p, mu, log_sigma, nodes, h)
        out: Tensor = _WithGradient.apply(mu, log_sigma, val, d_mu, d_ls)
        return out

    def record(t: int) -> None:
        path[:, :, t, 0] = mu
        path[:, :, t, 1] = torch.exp(log_sigma)

    values, frozen = descend(value, [mu, log_sigma], record, steps=steps, lr=lr)
    with torch.no_grad():
        val, mass = _objective(target, divs, mu, log_sigma, nodes, h)
        ends = nodes[[0, -1]]
        edge = _batched_integrand(
            divs, target.log_prob(ends), _normal_log_prob(ends, mu, log_sigma)
        ).amax(-1)
        # off the window: the model's mass leaves it, or the integrand has not decayed at
        # its ends (the divergence is infinite on the whole line, e.g. χ² with heavy tails)
        diverged = frozen | ~torch.isfinite(val) | (mass < 1 - 1e-6) | (edge * 1e6 > val)
        diverged |= torch.exp(log_sigma) < 1.5 * h  # narrower than the grid resolves
        _, d_mu, d_ls = quadrature_value_and_grad(plan, log_p, mu, log_sigma, nodes, h)
        out_of_box = ((log_sigma <= lo) & (d_ls > 0)) | ((log_sigma >= hi) & (d_ls < 0))
        gradient = torch.stack(
            [d_mu * torch.exp(log_sigma), torch.where(out_of_box, 0.0, d_ls)], -1
        )  # (S, I, 2): ∂D/∂(μ/σ), ∂D/∂log σ
        converged = stationary(gradient, val, _kinked(divs)) & ~diverged
    return GaussianFit(
        tuple(settings), mu.detach(), torch.exp(log_sigma).detach(), val, path, values,
        diverged, inits, converged,
    )  # fmt: skip


def stationary(gradient: Tensor, value: Tensor, kinked: Tensor | None = None) -> Tensor:
    """(S, I) whether every scale-free gradient component (S, I, k) is at most
    :data:`CONVERGED_RTOL` × max(|D|, :data:`D_FLOOR`), or :data:`KINKED_RTOL` × that for
    the settings ``kinked`` (S,) marks, or |D| at most :data:`D_ZERO` with a finite
    gradient (a NaN gradient or D: not stationary)."""
    rtol = torch.full(value.shape[:1], CONVERGED_RTOL, dtype=value.dtype, device=value.device)
    if kinked is not None:
        rtol = torch.where(kinked.to(value.device), KINKED_RTOL, rtol)
    bound = rtol.reshape(-1, *([1] * (value.ndim - 1))) * value.abs().clamp_min(D_FLOOR)
    near_zero = (value.abs() <= D_ZERO) & torch.isfinite(gradient).all(-1)
    ok: Tensor = (gradient.abs() <= bound[..., None]).all(-1) | near_zero
    return ok


def _kinked(divs: Sequence[Divergence]) -> Tensor:
    """(S,) settings whose generator has a kink at u = 1 (total variation, |u − 1|/2): their
    trapezoid gradient keeps a few per cent of noise at the minimum, where Adam settles."""
    return torch.tensor([d.name == "total_variation" for d in divs])


def fit_gaussian(
    target: GaussianMixture,
    name: str,
    *,
    init: object = None,
    seed: int | None = 0,
    steps: int = 300,
    **params: float,
) -> GaussianFit:
    """Fit one Gaussian to ``target`` by minimising D_f(target‖Gaussian) (``alpha=`` for α).

    Returns a :class:`GaussianFit` whose leading setting axis is removed (and the
    initialisation axis too when ``init`` is one start): ``mean``, ``std`` (the covariance
    in d-D), ``value`` and ``trajectory``.
    """
    check_mixture(target)
    get(name, **params)  # validates the name and α
    fit = fit_panel(target, _settings(name, params), init, steps=steps, seed=seed)
    one = fit.init.shape[0] == 1

    def sq(x: Tensor) -> Tensor:
        x = x[0]
        return x[0] if one else x

    return GaussianFit(
        fit.settings, sq(fit.mean), sq(fit.std), sq(fit.value), sq(fit.trajectory),
        sq(fit.values), sq(fit.diverged), fit.init, sq(fit.converged),
    )  # fmt: skip


def _fit_panel_nd(
    target: GaussianMixture,
    settings: Sequence[Setting],
    init: object,
    *,
    steps: int,
    lr: float,
    seed: int | None,
) -> GaussianFit:
    from alignkit.divergences.fit_2d import fit_panel_2d  # d-D fits build on this module

    return fit_panel_2d(target, settings, init, steps=steps, lr=lr, seed=seed)
