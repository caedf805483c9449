"""2-D Gaussian fits (mean and full covariance) to a 2-D mixture, by grid quadrature.

The same batched Adam-on-log-D descent as the 1-D fits (:func:`~alignkit.divergences.fit.descend`,
written out without autograd: :func:`_adam`),
over settings × initialisations, with the covariance parametrised by its Cholesky factor
(log-diagonal, so it stays positive definite) and the gradient in closed form
(:func:`value_and_grad_2d`). Taught in notebook 03 (the 2-D section).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from alignkit._checks import check_int, check_scalar
from alignkit.device import make_generator
from alignkit.divergences.fit import (
    GaussianFit,
    Setting,
    _batched_integrand,
    _divergences,
    one_cpu_thread,
)
from alignkit.divergences.mixture import GaussianMixture
from alignkit.divergences.quadrature import _integrand_and_slope, _Plan, _plan

__all__ = ["fit_panel_2d", "grid_2d", "gaussian_log_prob_2d"]

Tensor = torch.Tensor
_LOG_2PI = math.log(2.0 * math.pi)


def grid_2d(
    target: GaussianMixture, *, per_std: float = 2.0, max_n: int = 90
) -> tuple[Tensor, Tensor, float]:
    """Square-grid nodes (N², 2) over the target's box, with axes (n,) and cell area.

    The box is each mode ±7 of its largest std and the mixture ±4.5 overall stds per axis;
    ``per_std`` nodes per std of the narrowest mode (at most ``max_n`` per axis).
    """
    sd_mode = torch.linalg.eigvalsh(target.covariances).amax(-1).sqrt()  # (K,)
    sd_all = torch.diagonal(target.covariance()).sqrt()  # (2,)
    m = target.mean()
    lo = torch.minimum((target.means - 7 * sd_mode[:, None]).amin(0), m - 4.5 * sd_all)
    hi = torch.maximum((target.means + 7 * sd_mode[:, None]).amax(0), m + 4.5 * sd_all)
    span = float((hi - lo).max())
    smallest = float(torch.linalg.eigvalsh(target.covariances).amin().sqrt())
    n = min(max_n, max(41, int(math.ceil(span / (smallest / per_std))) + 1))
    centre = 0.5 * (lo + hi)
    axis = torch.linspace(-span / 2, span / 2, n, dtype=m.dtype, device=m.device)
    gx, gy = torch.meshgrid(axis + centre[0], axis + centre[1], indexing="ij")
    step = span / (n - 1)
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], -1), axis, step * step


def gaussian_log_prob_2d(x: Tensor, mean: Tensor, raw: Tensor) -> Tensor:
    """log N(x; mean, L Lᵀ) with L = [[e^{r0}, 0], [r2, e^{r1}]]; x (N, 2), mean/raw (..., 2|3)
    -> (..., N)."""
    a, c, b = torch.exp(raw[..., 0]), torch.exp(raw[..., 1]), raw[..., 2]
    z1 = (x[:, 0] - mean[..., 0, None]) / a[..., None]
    z2 = (x[:, 1] - mean[..., 1, None] - b[..., None] * z1) / c[..., None]
    return -0.5 * (z1 * z1 + z2 * z2) - (raw[..., 0] + raw[..., 1])[..., None] - _LOG_2PI


def value_and_grad_2d(
    plan: _Plan, log_p: Tensor, nodes: Tensor, mean: Tensor, raw: Tensor, area: float
) -> tuple[Tensor, Tensor, Tensor]:
    """The grid-quadrature D_f(P‖N(m, LLᵀ)) and its gradient in (m, raw), no autograd.

    With z₁ = (x₁ − m₁)/a, z₂ = (x₂ − m₂ − b·z₁)/c (a = e^{r₀}, c = e^{r₁}, b = r₂), the
    derivatives of log q are ∂m₁: z₁/a − (b/c)z₂/a, ∂m₂: z₂/c, ∂r₀: z₁² − (b/c)z₁z₂ − 1,
    ∂r₁: z₂² − 1, ∂b: z₁z₂/c; each gradient is a sum over the nodes of the integrand's
    slope in log q (:func:`~alignkit.divergences.quadrature._integrand_and_slope`) times
    one of them. Shapes: ``mean`` (S, ..., 2), ``raw`` (S, ..., 3), ``log_p`` (N,) on
    ``nodes`` (N, 2); returns value (S, ...), d_mean (S, ..., 2), d_raw (S, ..., 3).
    """
    a, c, b = torch.exp(raw[..., 0:1]), torch.exp(raw[..., 1:2]), raw[..., 2:3]
    z1 = (nodes[:, 0] - mean[..., 0:1]) / a
    z2 = (nodes[:, 1] - mean[..., 1:2]).sub_(b * z1).div_(c)
    log_q = (z1 * z1 + z2 * z2).mul_(-0.5).sub_(raw[..., 0:1] + raw[..., 1:2] + _LOG_2PI)
    g, slope = _integrand_and_slope(plan, log_p, log_q)
    s1, s2 = slope * z1, slope * z2
    s0, s11, s22, s12 = (slope.sum(-1), (s1 * z1).sum(-1), (s2 * z2).sum(-1),
                         (s1 * z2).sum(-1))  # fmt: skip
    s1, s2 = s1.sum(-1), s2.sum(-1)
    a, c, b = a[..., 0], c[..., 0], b[..., 0]
    d_mean = torch.stack([(s1 - b / c * s2) / a, s2 / c], -1) * area
    d_raw = torch.stack([s11 - b / c * s12 - s0, s22 - s0, s12 / c], -1) * area
    return g.sum(-1) * area, d_mean, d_raw


def _adam(
    value_and_grad: Callable[[], tuple[Tensor, Tensor]],
    theta: Tensor,
    record: Callable[[int], None],
    *,
    steps: int,
    lr: float,
) -> tuple[Tensor, Tensor]:
    """:func:`~alignkit.divergences.fit.descend`'s algorithm (Adam on log D, betas (0.9, 0.9),
    ε = 10⁻⁸, cosine decay to 1 % of ``lr``, settings frozen once not finite) written out on
    one parameter tensor ``theta`` (S, ..., k) with the gradient given in closed form: the
    same update as ``torch.optim.Adam`` without autograd and optimizer bookkeeping, which
    were most of the time of a single small fit. Returns (values (S, ..., T+1), frozen)."""
    m, v = torch.zeros_like(theta), torch.zeros_like(theta)
    history: list[Tensor] = []
    frozen: Tensor | None = None
    for t in range(steps + 1):
        val, grad = value_and_grad()
        record(t)
        history.append(val)
        bad = ~torch.isfinite(val)
        frozen = bad if frozen is None else frozen | bad
        if t == steps:
            break
        # d log D = dD / D (0 where frozen, or D ≤ 1e-300 as log's clamp gives), NaN-free
        inv = torch.where(frozen | (val <= 1e-300), 0.0, 1.0 / val)[..., None]
        g = (grad * inv).nan_to_num_(0.0, 0.0, 0.0)
        rate = lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t / steps)))
        m.mul_(0.9).add_(g, alpha=0.1)
        v.mul_(0.9).addcmul_(g, g, value=0.1)
        bias = 1.0 - 0.9 ** (t + 1)  # the same for both moments (β₁ = β₂)
        denom = (v.sqrt() / math.sqrt(bias)).add_(1e-8)
        theta.addcdiv_(m, denom, value=-rate / bias)
    assert frozen is not None
    return torch.stack(history, -1), frozen


def _covariance(raw: Tensor) -> Tensor:
    a, c, b = torch.exp(raw[..., 0]), torch.exp(raw[..., 1]), raw[..., 2]
    zero = torch.zeros_like(a)
    chol = torch.stack([torch.stack([a, zero], -1), torch.stack([b, c], -1)], -2)
    return chol @ chol.transpose(-1, -2)


def _inits(target: GaussianMixture, init: object, seed: int | None) -> Tensor:
    sd = float(torch.diagonal(target.covariance()).sqrt().mean())
    if init is None:
        m0 = target.sample(1, seed=make_generator(seed))
        return torch.cat([m0, torch.tensor([[sd]], dtype=m0.dtype)], -1)
    t = torch.as_tensor(init, dtype=torch.float64).reshape(-1, 3)
    if not torch.isfinite(t).all() or (t[:, 2] <= 0).any():
        raise ValueError(f"init must be rows (x₀, y₀, σ₀) with σ₀ > 0, got {t.tolist()}")
    return t.to(target.means.device)


def fit_panel_2d(
    target: GaussianMixture,
    settings: Sequence[Setting],
    init: object = None,
    *,
    steps: int = 300,
    lr: float = 0.05,
    seed: int | None = 0,
) -> GaussianFit:
    """Fit N(m, Σ) to a 2-D ``target`` for S settings × I starts (rows (x₀, y₀, σ₀)).

    Returns a :class:`GaussianFit` with ``mean`` (S, I, 2), ``std`` the covariance
    (S, I, 2, 2), ``trajectory`` the means (S, I, T, 2).
    """
    if target.dim != 2:
        raise ValueError(f"target must be 1-D or 2-D, got dimension {target.dim}")
    steps = check_int(steps, "steps", low=1, high=100_000)
    lr = check_scalar(lr, "lr", low=0.0, closed="neither")
    divs = _divergences(settings)
    inits = _inits(target, init, seed)
    n_s, n_i = len(divs), inits.shape[0]
    nodes, _, area = grid_2d(target)
    log_p = target.log_prob(nodes)
    raw0 = torch.stack([inits[:, 2].log(), inits[:, 2].log(), torch.zeros_like(inits[:, 2])], -1)
    theta = torch.cat([inits[:, :2], raw0], -1).expand(n_s, n_i, 5).clone()  # (mean, raw)
    mean, raw = theta[..., :2], theta[..., 2:]  # views: they follow theta's updates
    path = torch.empty(n_s, n_i, steps + 1, 2, dtype=theta.dtype, device=theta.device)
    plan = _plan(divs, theta.dtype, theta.device)

    def value_and_grad() -> tuple[Tensor, Tensor]:
        val, d_mean, d_raw = value_and_grad_2d(plan, log_p, nodes, mean, raw, area)
        return val, torch.cat([d_mean, d_raw], -1)

    def record(t: int) -> None:
        path[:, :, t] = mean

    with torch.no_grad(), one_cpu_thread(theta.device):
        values, frozen = _adam(value_and_grad, theta, record, steps=steps, lr=lr)
    with torch.no_grad():
        log_q = gaussian_log_prob_2d(nodes, mean, raw)
        val = _batched_integrand(divs, log_p, log_q).sum(-1) * area
        mass = torch.exp(log_q).sum(-1) * area
        diverged = frozen | ~torch.isfinite(val) | (mass < 0.995)
    return GaussianFit(
        tuple(settings), mean.clone(), _covariance(raw), val, path, values,
        diverged, inits,
    )  # fmt: skip
