"""2-D Gaussian fits (mean and full covariance) to a 2-D mixture, by grid quadrature.

The same batched Adam-on-log-D descent as the 1-D fits (:func:`~alignkit.divergences.fit.descend`,
written out without autograd: :func:`_adam`),
over settings × initialisations, with the covariance parametrised by its Cholesky factor
(log-diagonal, so it stays positive definite) and the gradient in closed form
(:func:`value_and_grad_2d`). Taught in notebook 03 (the 2-D section).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
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
from alignkit.divergences.quadrature import _EXP_FLOOR, _integrand_and_slope, _Plan, _plan

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
    plan: _Plan, log_p: Tensor, nodes: Tensor, theta: Tensor, area: float,
    floored: tuple[Tensor, Tensor] | None = None,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    """The grid-quadrature D_f(P‖N(m, LLᵀ)) and its gradient in θ = (m₁, m₂, r₀, r₁, b), no
    autograd.

    With z₁ = (x₁ − m₁)/a, z₂ = (x₂ − m₂ − b·z₁)/c (a = e^{r₀}, c = e^{r₁}), the derivatives
    of log q are ∂m₁: z₁/a − (b/c)z₂/a, ∂m₂: z₂/c, ∂r₀: z₁² − (b/c)z₁z₂ − 1, ∂r₁: z₂² − 1,
    ∂b: z₁z₂/c; so every gradient is made of the moments Σ s·uᵢuⱼ, u = (1, z₁, z₂), of the
    integrand's slope s in log q (:func:`~alignkit.divergences.quadrature._integrand_and_slope`),
    one small matrix product. Shapes: ``theta`` (S, ..., 5), ``log_p`` (N,) on ``nodes``
    (N, 2); returns value (S, ...) and gradient (S, ..., 5). ``floored``: log p floored and
    its exp, computed once per descent (see ``_integrand_and_slope``).
    """
    m1, m2, r0, r1, b = theta.unsqueeze(-1).unbind(-2)  # (S, ..., 1) each
    inv_a, inv_c = torch.exp(-r0), torch.exp(-r1)
    z1 = (nodes[:, 0] - m1).mul_(inv_a)
    z2 = torch.addcmul(nodes[:, 1] - m2, b, z1, value=-1.0).mul_(inv_c)
    log_q = torch.sub(-(r0 + r1 + _LOG_2PI), torch.addcmul(z1 * z1, z2, z2), alpha=0.5)
    g, slope = _integrand_and_slope(plan, log_p, log_q, floored)
    u = torch.stack([torch.ones_like(z1), z1, z2], -2)  # (S, ..., 3, N)
    mom = (u * slope.unsqueeze(-2)) @ u.transpose(-1, -2)  # (S, ..., 3, 3)
    s0, s1, s2 = mom[..., 0, 0], mom[..., 0, 1], mom[..., 0, 2]
    s11, s12, s22 = mom[..., 1, 1], mom[..., 1, 2], mom[..., 2, 2]
    ia, ic, bc = inv_a[..., 0], inv_c[..., 0], b[..., 0] * inv_c[..., 0]
    grad = torch.stack([(s1 - bc * s2) * ia, s2 * ic, s11 - bc * s12 - s0, s22 - s0, s12 * ic],
                       -1)  # fmt: skip
    return g.sum(-1) * area, grad * area


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


_GRIDS: OrderedDict[tuple[object, ...], tuple[Tensor, float, Tensor, tuple[Tensor, Tensor]]]
_GRIDS = OrderedDict()
_GRIDS_LOCK = threading.Lock()


def _target_grid(target: GaussianMixture) -> tuple[Tensor, float, Tensor, tuple[Tensor, Tensor]]:
    """:func:`grid_2d`'s nodes and cell area, log p on them, and log p floored with its exp,
    memoised per target (the last 16; keyed by its parameters' values, the tensors are
    never mutated): a fit from another start or with another divergence reuses them."""
    key = tuple((t.dtype, str(t.device), t.detach().cpu().numpy().tobytes())
                for t in (target.means, target.chol, target.weights))  # fmt: skip
    with _GRIDS_LOCK:  # panels may compute in threads
        if key not in _GRIDS:
            nodes, _, area = grid_2d(target)
            log_p = target.log_prob(nodes)
            lp = log_p.clamp_min(_EXP_FLOOR)
            nodes = nodes.t().contiguous().t()  # column-major: nodes[:, i] contiguous
            _GRIDS[key] = (nodes, area, log_p, (lp, torch.exp(lp)))
            while len(_GRIDS) > 16:
                _GRIDS.popitem(last=False)
        _GRIDS.move_to_end(key)
        return _GRIDS[key]


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
    nodes, area, log_p, floored = _target_grid(target)
    raw0 = torch.stack([inits[:, 2].log(), inits[:, 2].log(), torch.zeros_like(inits[:, 2])], -1)
    theta = torch.cat([inits[:, :2], raw0], -1).expand(n_s, n_i, 5).clone()  # (mean, raw)
    mean, raw = theta[..., :2], theta[..., 2:]  # views: they follow theta's updates
    path = torch.empty(n_s, n_i, steps + 1, 2, dtype=theta.dtype, device=theta.device)
    plan = _plan(divs, theta.dtype, theta.device)

    def value_and_grad() -> tuple[Tensor, Tensor]:
        return value_and_grad_2d(plan, log_p, nodes, theta, area, floored)

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
