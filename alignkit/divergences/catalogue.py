"""The f-divergence catalogue: generators, their limits, and exact discrete divergences.

Convention (the one place it is stated in code; notebook 03 states it once for readers):
target P (density p), model Q (density q),

    D_f(P‖Q) = E_Q[f(p/q)] = Σ_x q(x) f(p(x)/q(x)),   f convex, f(1) = 0.

So forward KL = KL(P‖Q) (f = u log u, mass-covering) and reverse KL = KL(Q‖P)
(f = −log u, mode-seeking). Where q = 0 < p the term is p·f′(∞); where p = 0 < q it is
q·f(0); these limits make the divergence exact with zeros (∞ exactly when one of them
is ∞ and the mass it multiplies is positive).

Normalisations used by the kit: Jensen–Shannon is ½KL(P‖M) + ½KL(Q‖M) with M = (P+Q)/2
(bounded by log 2); squared Hellinger is Σ(√p − √q)² **without** a ½ (bounded by 2);
total variation is ½Σ|p − q|; the α (Amari) family is
f_α(u) = (u^α − 1 − α(u − 1)) / (α(α − 1)), with α → 1 forward KL and α → 0 reverse KL
(plus a linear term that integrates to zero), evaluated exactly at α = 0 and α = 1.

Taught in ``notebooks/03_f_divergences_mode_seeking.ipynb``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from alignkit._checks import check_choice, check_scalar, check_values
from alignkit.divergences._args import broadcast, real_tensor

__all__ = [
    "Divergence",
    "CATALOGUE",
    "LABELS",
    "names",
    "get",
    "divergence",
    "check_distribution",
    "alpha_integrand",
]

Tensor = torch.Tensor
_LOG2 = math.log(2.0)


_Integrand = Callable[[Tensor, Tensor], Tensor]
#: Within this distance of α = 0 or 1 the α integrand switches to its expm1 form.
_NEAR_KL = 1e-3


def _ratio_expm1(d: Tensor, a: Tensor) -> Tensor:
    """expm1(a·d)/a, equal to d where a = 0 (the exact limit, no tiny offset)."""
    zero = a == 0
    safe = torch.where(zero, torch.ones_like(a), a)
    unused = torch.where(zero, torch.zeros_like(d), d)  # no inf (and NaN gradient) off-branch
    return torch.where(zero, d, torch.expm1(safe * unused) / safe)


def alpha_integrand(
    log_p: Tensor, log_q: Tensor, alpha: float | Tensor, scale: float | Tensor = 1.0
) -> Tensor:
    """scale·q·f_α(p/q) from log densities, batched over α (checked; see
    :func:`_alpha_integrand`, which the fits call in their inner loop).

    Raises
    ------
    TypeError
        ``log_p``, ``log_q``, ``alpha`` or ``scale`` not real numbers.
    ValueError
        Non-finite log densities, shapes that do not broadcast, a non-finite α or scale.
    """
    log_p, log_q = _log_densities(log_p, log_q)
    shape = broadcast(log_p, log_q, "log_p and log_q")
    if isinstance(alpha, torch.Tensor) and alpha.ndim > 0:
        a_t = real_tensor(alpha, "alpha", finite=True)
        broadcast(torch.empty(shape), a_t, "alpha and log_p, log_q")
        a_t = check_values(a_t, "alpha", low=-ALPHA_LIMIT, high=ALPHA_LIMIT, dtype=a_t.dtype)
        alpha = a_t.to(log_p.dtype)
    else:
        alpha = check_scalar(alpha, "alpha", low=-ALPHA_LIMIT, high=ALPHA_LIMIT)  # α(α − 1) finite
    if isinstance(scale, torch.Tensor) and scale.ndim > 0:
        s_t = real_tensor(scale, "scale", finite=True)
        broadcast(torch.empty(shape), s_t, "scale and log_p, log_q")
        scale = s_t.to(log_p.dtype)
    else:
        scale = check_scalar(scale, "scale")
    return _alpha_integrand(log_p, log_q, alpha, scale)


def _log_densities(log_p: object, log_q: object) -> tuple[Tensor, Tensor]:
    """Two tensors of finite log densities (the integrands' domain), one dtype and device."""
    lp = real_tensor(log_p, "log_p", finite=True)
    lq = real_tensor(log_q, "log_q", finite=True)
    if lp.device != lq.device:
        raise ValueError(f"log_p and log_q must be on one device, got {lp.device} and {lq.device}")
    dtype = torch.promote_types(lp.dtype, lq.dtype)
    return lp.to(dtype), lq.to(dtype)


def _alpha_integrand(
    log_p: Tensor, log_q: Tensor, alpha: float | Tensor, scale: float | Tensor = 1.0
) -> Tensor:
    """scale·q·f_α(p/q) from finite log densities, batched over α; never NaN.

    q·f_α(p/q) = (p^α q^{1−α} − q − α(p − q)) / (α(α − 1)): the only term that can be
    large is exp(α log p + (1 − α) log q), and it overflows only when the true value does.
    Within 10⁻³ of α = 0 or α = 1 the exact rearrangements
    [q·expm1(αd)/α − (p − q)]/(α − 1) and [p·expm1(βd)/β − (p − q)]/α (d = log p − log q,
    β = α − 1) avoid the cancellation, and give reverse KL and forward KL exactly at
    α = 0 and α = 1. ``alpha`` and ``scale`` broadcast with the log densities, e.g. shape
    (S, 1, 1) against (S, I, N) for S settings, I starts and N quadrature nodes.
    """
    if not isinstance(alpha, torch.Tensor) or alpha.ndim == 0:  # one α: only its branch
        return _alpha_integrand_scalar(log_p, log_q, float(alpha)) * scale
    a = torch.as_tensor(alpha, dtype=log_p.dtype, device=log_p.device)
    p, q = torch.exp(log_p), torch.exp(log_q)
    near0 = a.abs() < _NEAR_KL
    near1 = (a - 1.0).abs() < _NEAR_KL
    generic = ~(near0 | near1)
    ag = torch.where(generic, a, torch.full_like(a, 0.5))
    top = torch.exp(ag * log_p + (1.0 - ag) * log_q)
    out = (top - q - ag * (p - q)) / (ag * (ag - 1.0))
    if bool(near0.any()) or bool(near1.any()):
        d = log_p - log_q
        a0 = torch.where(near0, a, torch.zeros_like(a))
        a1 = torch.where(near1, a, torch.ones_like(a))
        kl0 = (q * _ratio_expm1(d, a0) - (p - q)) / (a0 - 1.0)
        kl1 = (p * _ratio_expm1(d, a1 - 1.0) - (p - q)) / a1
        out = torch.where(near0, kl0, torch.where(near1, kl1, out))
    return torch.as_tensor(scale, dtype=out.dtype, device=out.device) * out


def _alpha_integrand_scalar(log_p: Tensor, log_q: Tensor, a: float) -> Tensor:
    p, q = torch.exp(log_p), torch.exp(log_q)
    if abs(a) < _NEAR_KL:  # [q·expm1(αd)/α − (p − q)]/(α − 1); reverse KL + (p − q) at 0
        d = log_p - log_q
        ratio = d if a == 0.0 else torch.expm1(a * d) / a
        return (q * ratio - (p - q)) / (a - 1.0)
    if abs(a - 1.0) < _NEAR_KL:  # [p·expm1(βd)/β − (p − q)]/α, β = α − 1
        d, b = log_p - log_q, a - 1.0
        ratio = d if b == 0.0 else torch.expm1(b * d) / b
        return (p * ratio - (p - q)) / a
    top = torch.exp(a * log_p + (1.0 - a) * log_q)
    return (top - q - a * (p - q)) / (a * (a - 1.0))


def _js(log_p: Tensor, log_q: Tensor) -> Tensor:
    log_m = torch.logaddexp(log_p, log_q) - _LOG2
    return 0.5 * (torch.exp(log_p) * (log_p - log_m) + torch.exp(log_q) * (log_q - log_m))


def _tv(log_p: Tensor, log_q: Tensor) -> Tensor:
    return 0.5 * torch.abs(torch.exp(log_p) - torch.exp(log_q))


def _jeffreys(log_p: Tensor, log_q: Tensor) -> Tensor:
    return (torch.exp(log_p) - torch.exp(log_q)) * (log_p - log_q)


@dataclass(frozen=True)
class Divergence:
    """One f-divergence: its generator f, derivative, limits and behaviour.

    Attributes
    ----------
    name : str
        Registry name (``names()``); ``label`` is the human name with parameters.
    f, f_prime, f_second : callable Tensor -> Tensor
        The generator f(u), f′(u), f″(u) for u > 0 (elementwise).
    f_at_zero : float
        f(0) = lim_{u→0} f(u) (``math.inf`` when the divergence is zero-forcing).
    f_prime_at_infinity : float
        f′(∞) = lim_{u→∞} f(u)/u (``math.inf`` when the divergence is zero-avoiding).
    params : dict
        ``{"alpha": α}`` for the α family, else empty.
    """

    name: str
    label: str
    f: Callable[[Tensor], Tensor]
    f_prime: Callable[[Tensor], Tensor]
    f_second: Callable[[Tensor], Tensor]
    f_at_zero: float
    f_prime_at_infinity: float
    # q·f̃(p/q) from (log p, log q), f̃(u) = f(u) − f′(1)(u − 1): the quadrature integrand
    pointwise: _Integrand = field(repr=False)
    # (α, scale) when f̃ = scale·f_α: lets a batched fit stack it with the α family
    alpha_form: tuple[float, float] | None = None
    params: dict[str, float] = field(default_factory=dict)

    @property
    def behaviour(self) -> str:
        """``"mode-seeking"`` iff f(0) = ∞ only, ``"mass-covering"`` iff f′(∞) = ∞ only,
        ``"both"`` when both are infinite, ``"neither"`` when both are finite."""
        zero_forcing = math.isinf(self.f_at_zero)
        zero_avoiding = math.isinf(self.f_prime_at_infinity)
        if zero_forcing and zero_avoiding:
            return "both"
        if zero_forcing:
            return "mode-seeking"
        return "mass-covering" if zero_avoiding else "neither"

    def h(self, r: Tensor) -> Tensor:
        """The f-distill weighting h(r) = r² f″(r) of a density ratio r = p/q > 0."""
        r = real_tensor(r, "r", finite=True)
        if not bool((r > 0).all()):
            bad = r[~(r > 0)].flatten()[0].item()
            raise ValueError(f"r must be density ratios > 0, got {bad:g}")
        return r * r * self.f_second(r)

    def integrand(self, log_p: Tensor, log_q: Tensor) -> Tensor:
        """q·f̃(p/q) from finite log densities (shapes broadcast); never NaN.

        f̃(u) = f(u) − f′(1)(u − 1) ≥ 0 gives the same divergence for normalised P and Q
        (E_Q[p/q − 1] = 0); written in log densities it overflows only where the true
        value does (then it is ``inf``).
        """
        log_p, log_q = _log_densities(log_p, log_q)
        broadcast(log_p, log_q, "log_p and log_q")
        return self.pointwise(log_p, log_q)


#: |α| of the α family at most this: beyond ~1e154, α(α − 1) overflows (NaN divergences).
ALPHA_LIMIT = 1e6


def _alpha(alpha: float) -> Divergence:
    a = check_scalar(alpha, "alpha", low=-ALPHA_LIMIT, high=ALPHA_LIMIT)  # α(α − 1) finite
    f_zero = 1.0 / a if a > 0 else math.inf
    f_inf = 1.0 / (1.0 - a) if a < 1 else math.inf

    def f(u: Tensor) -> Tensor:
        if a == 1.0:
            return torch.xlogy(u, u) - u + 1.0
        if a == 0.0:
            return -torch.log(u) + u - 1.0
        if min(abs(a), abs(a - 1.0)) < _NEAR_KL:  # the cancellation-free form near KL
            return _alpha_integrand(torch.log(u), torch.zeros_like(u), a)
        return (u**a - 1.0 - a * (u - 1.0)) / (a * (a - 1.0))

    def f_prime(u: Tensor) -> Tensor:
        if a == 1.0:
            return torch.log(u)
        if a == 0.0:
            return 1.0 - 1.0 / u
        return (u ** (a - 1.0) - 1.0) / (a - 1.0)

    return Divergence(
        "alpha", f"α-divergence (α = {a:g})", f, f_prime, lambda u: u ** (a - 2.0),
        f_zero, f_inf,
        pointwise=lambda lp, lq: _alpha_integrand(lp, lq, a),
        alpha_form=(a, 1.0), params={"alpha": a},
    )  # fmt: skip


def _scaled(
    name: str, label: str, alpha: float, scale: float, limits: tuple[float, float], **fs: Callable
) -> Divergence:
    """A named member of the α family: f = scale·f_α + c(u − 1), with its own closed-form
    f, f′, f″ and limits ``(f(0), f′(∞))``; the quadrature uses scale·f_α (same divergence)."""
    return Divergence(
        name, label, fs["f"], fs["f_prime"], fs["f_second"], *limits,
        pointwise=lambda lp, lq: _alpha_integrand(lp, lq, alpha, scale), alpha_form=(alpha, scale),
    )  # fmt: skip


def _self_conjugate(
    name: str,
    label: str,
    f: Callable[[Tensor], Tensor],
    f_prime: Callable[[Tensor], Tensor],
    f_second: Callable[[Tensor], Tensor],
    f_zero: float,
    pointwise: _Integrand,
) -> Divergence:
    return Divergence(name, label, f, f_prime, f_second, f_zero, f_zero, pointwise)


def _catalogue() -> dict[str, Callable[..., Divergence]]:
    one = torch.ones_like
    return {
        "forward_kl": lambda: _scaled(
            "forward_kl", "forward KL", 1.0, 1.0, (0.0, math.inf),
            f=lambda u: torch.xlogy(u, u), f_prime=lambda u: torch.log(u) + 1.0,
            f_second=lambda u: 1.0 / u,
        ),
        "reverse_kl": lambda: _scaled(
            "reverse_kl", "reverse KL", 0.0, 1.0, (math.inf, 0.0),
            f=lambda u: -torch.log(u), f_prime=lambda u: -1.0 / u, f_second=lambda u: u**-2,
        ),
        "jensen_shannon": lambda: _self_conjugate(
            "jensen_shannon", "Jensen–Shannon",
            lambda u: 0.5 * (torch.xlogy(u, u) - (1.0 + u) * torch.log((1.0 + u) / 2.0)),
            lambda u: 0.5 * torch.log(2.0 * u / (1.0 + u)),
            lambda u: 0.5 / (u * (1.0 + u)), 0.5 * _LOG2, _js,
        ),
        "squared_hellinger": lambda: _scaled(
            "squared_hellinger", "squared Hellinger", 0.5, 0.5, (1.0, 1.0),
            f=lambda u: (torch.sqrt(u) - 1.0) ** 2, f_prime=lambda u: 1.0 - u**-0.5,
            f_second=lambda u: 0.5 * u**-1.5,
        ),
        "total_variation": lambda: _self_conjugate(
            "total_variation", "total variation",
            lambda u: 0.5 * torch.abs(u - 1.0), lambda u: 0.5 * torch.sign(u - 1.0),
            lambda u: torch.zeros_like(u), 0.5, _tv,
        ),
        "pearson_chi2": lambda: _scaled(
            "pearson_chi2", "Pearson χ²", 2.0, 2.0, (1.0, math.inf),
            f=lambda u: (u - 1.0) ** 2, f_prime=lambda u: 2.0 * (u - 1.0),
            f_second=lambda u: 2.0 * one(u),
        ),
        "neyman_chi2": lambda: _scaled(
            "neyman_chi2", "Neyman χ²", -1.0, 2.0, (math.inf, 1.0),
            f=lambda u: (1.0 - u) ** 2 / u, f_prime=lambda u: 1.0 - u**-2,
            f_second=lambda u: 2.0 * u**-3,
        ),
        "jeffreys": lambda: _self_conjugate(
            "jeffreys", "Jeffreys",
            lambda u: (u - 1.0) * torch.log(u), lambda u: torch.log(u) + 1.0 - 1.0 / u,
            lambda u: 1.0 / u + u**-2, math.inf, _jeffreys,
        ),
        "alpha": _alpha,
    }  # fmt: skip


_FACTORIES = _catalogue()
#: Registry name -> factory; the dropdowns offer these keys.
CATALOGUE: tuple[str, ...] = tuple(_FACTORIES)
#: Registry name -> label shown in figures.
LABELS: dict[str, str] = {
    "forward_kl": "forward KL",
    "reverse_kl": "reverse KL",
    "jensen_shannon": "Jensen–Shannon",
    "squared_hellinger": "squared Hellinger",
    "total_variation": "total variation",
    "pearson_chi2": "Pearson χ²",
    "neyman_chi2": "Neyman χ²",
    "jeffreys": "Jeffreys",
    "alpha": "α-divergence",
}


def names() -> list[str]:
    """The catalogue's registry names, in teaching order (``"alpha"`` last)."""
    return list(CATALOGUE)


def get(name: str, **params: float) -> Divergence:
    """The divergence ``name`` (``alpha=`` for the α family, default α = 0.5).

    Raises
    ------
    ValueError
        Unknown name (the message lists the valid names), α not finite, or a parameter
        the divergence does not take.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    check_choice(name, "divergence name", _FACTORIES)
    if name == "alpha":
        unknown = sorted(set(params) - {"alpha"})
        if unknown:
            raise ValueError(f"the α-divergence takes only alpha=, got {unknown}")
        return _alpha(params.get("alpha", 0.5))
    if params:
        raise ValueError(f"divergence {name!r} takes no parameters, got {sorted(params)}")
    return _FACTORIES[name]()


def check_distribution(p: Tensor, name: str, *, atol: float = 1e-6) -> Tensor:
    """Return ``p`` as a float tensor after checking it is a distribution on the last axis.

    Integer and half-precision tensors become float64 (exactly); bool and complex are refused
    (``TypeError``), as are tensors without data (the meta device).
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty str (the argument's name), got {name!r}")
    atol = check_scalar(atol, "atol", low=0.0)
    if p is None or isinstance(p, (str, bytes)):
        raise TypeError(f"{name} must be a tensor of probabilities, got {type(p)}")
    p = real_tensor(p, name, nonempty=False)
    if p.ndim == 0 or p.shape[-1] == 0:
        raise ValueError(f"{name} must have shape (..., K) with K ≥ 1, got {tuple(p.shape)}")
    if not torch.isfinite(p).all():
        raise ValueError(f"{name} must be finite, got non-finite entries")
    if (p < 0).any():
        raise ValueError(f"{name} must be non-negative, got minimum {p.min().item():.3g}")
    sums = p.sum(-1)
    worst = (sums - 1.0).abs().max().item() if sums.numel() else 0.0  # (0, K): no rows
    if worst > atol:
        raise ValueError(f"{name} must sum to 1 on the last axis (±{atol:g}); off by {worst:.3g}")
    return p


def divergence(name: str, p: Tensor, q: Tensor, **params: float) -> Tensor:
    """D_f(P‖Q) = Σ q f(p/q) for discrete distributions on the last axis, exact with zeros.

    Parameters
    ----------
    name : str
        A catalogue name (``names()``); ``alpha=`` for the α family.
    p, q : Tensor, shape (..., K)
        Target and model probabilities (non-negative, summing to 1), broadcast together.

    Returns
    -------
    Tensor, shape (...)
        The divergence; ``inf`` exactly where a zero of q meets target mass and
        f′(∞) = ∞, or a zero of p meets model mass and f(0) = ∞.
    """
    div = get(name, **params)
    p = check_distribution(p, "p")
    q = check_distribution(q, "q")
    broadcast(p, q, "p and q")
    if p.device != q.device:
        raise ValueError(f"p and q must be on one device, got {p.device} and {q.device}")
    p, q = torch.broadcast_tensors(p, q.to(p.dtype))
    both = (p > 0) & (q > 0)
    log_p = torch.log(torch.where(both, p, 1.0))
    log_q = torch.log(torch.where(both, q, 1.0))
    inner = torch.where(both, div.pointwise(log_p, log_q), 0.0).sum(-1)
    # zeros: with the normalised f̃ = f − f′(1)(u − 1), f̃(0) = f(0) + f′(1), f̃′(∞) = f′(∞) − f′(1)
    slope = div.f_prime(torch.ones((), dtype=p.dtype)).item()
    only_q = torch.where((p == 0) & (q > 0), q, 0.0).sum(-1)
    only_p = torch.where((q == 0) & (p > 0), p, 0.0).sum(-1)
    at_zero = _times(only_q, div.f_at_zero + slope)
    return inner + at_zero + _times(only_p, div.f_prime_at_infinity - slope)


def _times(mass: Tensor, value: float) -> Tensor:
    """mass·value with 0·∞ = 0 (no mass, no cost)."""
    if math.isinf(value):
        return torch.where(mass > 0, torch.full_like(mass, value), torch.zeros_like(mass))
    return mass * value
