"""2-D Gaussian fits (mean and full covariance) to a 2-D mixture, by grid quadrature.

The same batched Adam-on-log-D descent as the 1-D fits (:func:`~alignkit.divergences.fit.descend`,
written out without autograd on the host: :func:`_adam`), over settings × initialisations,
with the covariance parametrised by its Cholesky factor (log-diagonal, so it stays positive
definite) and the gradient in closed form (:class:`_Objective`: node-sized tensor work
for the integrand and six moments of its slope, the rest on a few numbers per setting on
the host). Taught in notebook 03 (the 2-D section).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from alignkit._checks import check_int, check_scalar, check_shape
from alignkit.device import make_generator
from alignkit.divergences._args import check_mixture
from alignkit.divergences.fit import (
    GaussianFit,
    Setting,
    _batched_integrand,
    _divergences,
    _init_tensor,
    _kinked,
    check_settings,
    one_cpu_thread,
    stationary,
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
    check_mixture(target, dim=2)
    per_std = check_scalar(per_std, "per_std", low=0.0, high=100.0, closed="right")
    max_n = check_int(max_n, "max_n", low=2, high=2000)
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
    -> (..., N). ``x`` must be finite; a non-finite mean or raw (a diverged fit's) gives
    non-finite values, which the fits flag."""
    for t, name, last in ((x, "x", 2), (mean, "mean", 2), (raw, "raw", 3)):
        if not isinstance(t, torch.Tensor) or not t.is_floating_point():
            raise TypeError(f"{name} must be a floating-point torch.Tensor, got {t!r:.60}")
        check_shape(t.shape, name, f"(..., {last})", t.ndim >= 1 and t.shape[-1] == last)
    check_shape(x.shape, "x", "(N, 2)", x.ndim == 2)
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"x must be finite, got {x[~torch.isfinite(x)][0].item()!r}")
    if mean.shape[:-1] != raw.shape[:-1]:
        raise ValueError(
            f"mean (..., 2) and raw (..., 3) must share their leading axes, got "
            f"{tuple(mean.shape)} and {tuple(raw.shape)}"
        )
    a, c, b = torch.exp(raw[..., 0]), torch.exp(raw[..., 1]), raw[..., 2]
    z1 = (x[:, 0] - mean[..., 0, None]) / a[..., None]
    z2 = (x[:, 1] - mean[..., 1, None] - b[..., None] * z1) / c[..., None]
    return -0.5 * (z1 * z1 + z2 * z2) - (raw[..., 0] + raw[..., 1])[..., None] - _LOG_2PI


def _columns(a: np.ndarray) -> list[Any]:
    """The last axis of ``a`` (..., k) as k columns: Python floats when ``a`` holds one
    setting (the explorers' case: the same IEEE arithmetic as arrays, without NumPy's
    per-operation dispatch on a few numbers), else arrays (...)."""
    if a.size == a.shape[-1]:
        return a.reshape(-1).tolist()
    return list(np.moveaxis(a, -1, 0))


class _Objective:
    """The grid-quadrature D_f(P‖N(m, LLᵀ)) and its gradient in θ = (m₁, m₂, r₀, r₁, b), no
    autograd, on one target grid (:class:`_Grid`).

    With z₁ = (x₁ − m₁)/a, z₂ = (x₂ − m₂ − b·z₁)/c (a = e^{r₀}, c = e^{r₁}), the derivatives
    of log q are ∂m₁: z₁/a − (b/c)z₂/a, ∂m₂: z₂/c, ∂r₀: z₁² − (b/c)z₁z₂ − 1, ∂r₁: z₂² − 1,
    ∂b: z₁z₂/c; so every gradient is made of the moments Σ s·uᵢuⱼ, u = (1, z₁, z₂), of the
    integrand's slope s in log q (:func:`~alignkit.divergences.quadrature._integrand_and_slope`),
    one small matrix product; u itself is one product W·(1, x₁ − c₁, x₂ − c₂) with the
    nodes about the grid's centre c (rounding of a few ulps of |m − c|/σ, checked against
    autograd far off centre in the tests). θ lives on the host (NumPy; one setting's five numbers as
    Python floats): the per-setting algebra and Adam are a few numbers each, whose
    per-operation dispatch as tensors was most of a small fit's time; only the node-sized
    work runs as tensors, written into buffers kept across steps.
    """

    def __init__(self, plan: _Plan, grid: _Grid) -> None:
        self.plan, self.grid = plan, grid
        self._buf: _Buffers | None = None

    def __call__(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """θ (S, ..., 5) -> value (S, ...) and gradient (S, ..., 5), NumPy."""
        g, shape = self.grid, theta.shape[:-1]
        if self._buf is None or self._buf.shape != shape:
            self._buf = _Buffers(g.nodes, shape)
        buf = self._buf
        inv = np.exp(-theta[..., 2:4])  # one array op: the same exp for any batch size
        m1, m2, r0, r1, b = _columns(theta)
        ia, ic = _columns(inv)
        bc, k = b * ic, -(r0 + r1 + _LOG_2PI)
        # u = (1, z₁, z₂) = W·(1, x₁ − c₁, x₂ − c₂): one product with the centred nodes
        d1, d2 = m1 - g.centre[0], m2 - g.centre[1]
        w = buf.w
        w[..., 1, 0], w[..., 1, 1] = -d1 * ia, ia
        w[..., 2, 0], w[..., 2, 1], w[..., 2, 2] = bc * ia * d1 - ic * d2, -bc * ia, ic
        torch.mm(buf.device_w(), g.centred, out=buf.u2)
        if not isinstance(k, float):  # a batch: (S, ..., 1) to broadcast over the nodes
            k = torch.from_numpy(k[..., None]).to(g.nodes.device)
        log_q = torch.mul(buf.z1, buf.z1).addcmul_(buf.z2, buf.z2).mul_(-0.5).add_(k)
        val, slope = _integrand_and_slope(self.plan, g.log_p, log_q, g.floored)
        torch.mul(buf.u, slope.unsqueeze(-2), out=buf.su)
        torch.bmm(buf.su3, buf.u3t, out=buf.mom)
        torch.sum(val, -1, out=buf.value)
        s0, s1, s2, _, s11, s12, _, _, s22 = _columns(buf.host(buf.mom).reshape(shape + (9,)))
        grad = [(s1 - bc * s2) * ia, s2 * ic, s11 - bc * s12 - s0, s22 - s0, s12 * ic]
        if isinstance(s0, float):
            grad_np = np.array(grad).reshape(theta.shape)
        else:
            grad_np = np.stack(grad, -1)
        return buf.host(buf.value) * g.area, grad_np * g.area


class _Buffers:
    """:class:`_Objective`'s tensors for one batch shape (S, ...), reused across steps:
    u (S, ..., 3, N) with rows 1, z₁, z₂ and its views, u times the slope, the nodes'
    coordinates broadcast to a row's shape, the moments (B, 3, 3) and values (S, ...)."""

    def __init__(self, nodes: Tensor, shape: tuple[int, ...]) -> None:
        n, batch = nodes.shape[0], math.prod(shape)
        self.shape, self.cpu = shape, nodes.device.type == "cpu"
        self.u = nodes.new_ones(shape + (3, n))
        self.u2 = self.u.view(batch * 3, n)
        self.su = torch.empty_like(self.u)
        self.z1, self.z2 = self.u[..., 1, :], self.u[..., 2, :]
        self.u3t = self.u.view(batch, 3, n).transpose(1, 2)
        self.su3 = self.su.view(batch, 3, n)
        self.mom = nodes.new_empty(batch, 3, 3)
        self.value = nodes.new_empty(shape)
        dtype = self.value.cpu().numpy().dtype
        self.w = np.zeros(shape + (3, 3), dtype=dtype)  # W, written on the host per step
        self.w[..., 0, 0] = 1.0
        self._w = torch.from_numpy(self.w).view(batch * 3, 3)  # its tensor view

    def device_w(self) -> Tensor:
        """W (B·3, 3) on the nodes' device (a view of the host array on the CPU)."""
        return self._w if self.cpu else self._w.to(self.u.device)

    def host(self, t: Tensor) -> np.ndarray:
        """``t`` as a NumPy array (a view on the CPU)."""
        return t.numpy() if self.cpu else t.cpu().numpy()


def value_and_grad_2d(
    plan: _Plan, log_p: Tensor, nodes: Tensor, theta: Tensor, area: float
) -> tuple[Tensor, Tensor]:
    """The grid-quadrature D_f(P‖N(m, LLᵀ)) (S, ...) and its gradient (S, ..., 5) in
    θ = (m₁, m₂, r₀, r₁, b) (S, ..., 5), no autograd, for ``log_p`` (N,) on ``nodes`` (N, 2):
    :class:`_Objective` on that grid (the fits' inner loop)."""
    grid = _Grid.build(nodes, log_p, area)
    value, grad = _Objective(plan, grid)(theta.detach().cpu().numpy())
    return torch.from_numpy(value).to(theta), torch.from_numpy(grad).to(theta)


def _adam(
    value_and_grad: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    theta: np.ndarray,
    record: Callable[[int], None],
    *,
    steps: int,
    lr: float,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`~alignkit.divergences.fit.descend`'s algorithm (Adam on log D, betas (0.9, 0.9),
    ε = 10⁻⁸, cosine decay to 1 % of ``lr``, settings frozen once not finite) written out on
    one NumPy parameter array ``theta`` (S, ..., k), updated in place, with the gradient
    given in closed form: the same update as ``torch.optim.Adam`` without autograd,
    optimizer bookkeeping and per-operation dispatch on a few numbers, which were most of
    the time of a single small fit. Returns (values (S, ..., T+1), frozen (S, ...))."""
    m, v = np.zeros_like(theta), np.zeros_like(theta)
    history = np.empty(theta.shape[:-1] + (steps + 1,), dtype=theta.dtype)
    frozen = np.zeros(theta.shape[:-1], dtype=bool)
    for t in range(steps + 1):
        val, grad = value_and_grad(theta)
        record(t)
        history[..., t] = val
        ok = np.isfinite(val)
        frozen |= ~ok
        if t == steps:
            break
        # d log D = dD / D (0 where frozen, or D ≤ 1e-300 as log's clamp gives), NaN-free
        ok &= ~frozen & (val > 1e-300)
        if ok.all():
            g = grad / val[..., None]
        else:
            g = grad / np.where(ok, val, 1.0)[..., None]
            g[~ok] = 0.0
        if not np.isfinite(g).all():
            g[~np.isfinite(g)] = 0.0
        rate = lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t / steps)))
        m *= 0.9
        m += 0.1 * g
        v *= 0.9
        v += 0.1 * (g * g)
        bias = 1.0 - 0.9 ** (t + 1)  # the same for both moments (β₁ = β₂)
        denom = np.sqrt(v)
        denom /= math.sqrt(bias)
        denom += 1e-8
        theta -= (rate / bias) * m / denom
    return history, frozen


def _covariance(raw: Tensor) -> Tensor:
    a, c, b = torch.exp(raw[..., 0]), torch.exp(raw[..., 1]), raw[..., 2]
    zero = torch.zeros_like(a)
    chol = torch.stack([torch.stack([a, zero], -1), torch.stack([b, c], -1)], -2)
    return chol @ chol.transpose(-1, -2)


@dataclass(frozen=True)
class _Grid:
    """A target's quadrature grid: nodes (N, 2), cell area, log p (N,), log p floored with
    its exp (see ``_integrand_and_slope``), and the nodes about their centre."""

    nodes: Tensor
    area: float
    log_p: Tensor
    floored: tuple[Tensor, Tensor]
    centre: tuple[float, float]  # the nodes' bounding-box centre
    centred: Tensor  # (3, N): rows 1, x₁ − c₁, x₂ − c₂

    @staticmethod
    def build(nodes: Tensor, log_p: Tensor, area: float) -> _Grid:
        lp = log_p.clamp_min(_EXP_FLOOR)
        c = 0.5 * (nodes.amin(0) + nodes.amax(0))
        centred = torch.cat([torch.ones_like(nodes[:1, :1]).expand(1, len(nodes)),
                             (nodes - c).t()]).contiguous()  # fmt: skip
        c1, c2 = c.tolist()
        return _Grid(nodes, area, log_p, (lp, torch.exp(lp)), (c1, c2), centred)


_GRIDS: OrderedDict[tuple[object, ...], _Grid] = OrderedDict()
_GRIDS_LOCK = threading.Lock()


def _target_grid(target: GaussianMixture) -> _Grid:
    """:func:`grid_2d`'s grid with log p on it (:class:`_Grid`), memoised per target (the
    last 16; keyed by its parameters' values, the tensors are never mutated): a fit from
    another start or with another divergence reuses it."""
    key = tuple((t.dtype, str(t.device), t.detach().cpu().numpy().tobytes())
                for t in (target.means, target.chol, target.weights))  # fmt: skip
    with _GRIDS_LOCK:  # panels may compute in threads
        if key not in _GRIDS:
            nodes, _, area = grid_2d(target)
            _GRIDS[key] = _Grid.build(nodes, target.log_prob(nodes), area)
            while len(_GRIDS) > 16:
                _GRIDS.popitem(last=False)
        _GRIDS.move_to_end(key)
        return _GRIDS[key]


def _inits(target: GaussianMixture, init: object, seed: int | None) -> Tensor:
    sd = float(torch.diagonal(target.covariance()).sqrt().mean())
    if init is None:
        m0 = target.sample(1, seed=make_generator(seed))
        return torch.cat([m0, torch.tensor([[sd]], dtype=m0.dtype)], -1)
    t = _init_tensor(init)
    if t.ndim == 0 or t.ndim > 2 or t.shape[-1] != 3 or t.numel() == 0:
        raise ValueError(
            f"init must be (x₀, y₀, σ₀) or rows of shape (I, 3), got shape {tuple(t.shape)}"
        )
    t = t.reshape(-1, 3)
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
    check_mixture(target)
    settings = check_settings(settings)
    if seed is not None and not isinstance(seed, torch.Generator):
        seed = check_int(seed, "seed", low=0, high=2**63 - 1)  # checked even when init is given
    if target.dim != 2:
        raise ValueError(f"target must be 1-D or 2-D, got dimension {target.dim}")
    steps = check_int(steps, "steps", low=1, high=100_000)
    lr = check_scalar(lr, "lr", low=0.0, closed="neither")
    divs = _divergences(settings)
    inits = _inits(target, init, seed)
    n_s, n_i = len(divs), inits.shape[0]
    grid = _target_grid(target)
    dtype, device = inits.dtype, inits.device
    start = inits.detach().cpu().numpy()
    theta = np.empty((n_s, n_i, 5), dtype=start.dtype)  # (mean, raw), on the host
    theta[..., :2] = start[:, :2]
    theta[..., 2] = theta[..., 3] = np.log(start[:, 2])
    theta[..., 4] = 0.0
    path = np.empty((n_s, n_i, steps + 1, 2), dtype=theta.dtype)
    objective = _Objective(_plan(divs, dtype, device), grid)

    def record(t: int) -> None:
        path[:, :, t] = theta[..., :2]

    with torch.no_grad(), one_cpu_thread(device), np.errstate(all="ignore"):  # NaN: flagged
        values_np, frozen_np = _adam(objective, theta, record, steps=steps, lr=lr)
    with torch.no_grad():
        out = torch.from_numpy(theta).to(device=device, dtype=dtype)
        mean, raw = out[..., :2], out[..., 2:]
        log_q = gaussian_log_prob_2d(grid.nodes, mean, raw)
        val = _batched_integrand(divs, grid.log_p, log_q).sum(-1) * grid.area
        mass = torch.exp(log_q).sum(-1) * grid.area
        frozen = torch.from_numpy(frozen_np).to(device)
        diverged = frozen | ~torch.isfinite(val) | (mass < 0.995)
        _, grad = objective(theta)  # at the end: θ = (m₁, m₂, r₀, r₁, b)
        scale = np.concatenate([np.exp(theta[..., 2:4]), np.ones_like(theta[..., 2:])], -1)
        gradient = torch.from_numpy(grad * scale).to(device=device, dtype=dtype)  # m in stds
        converged = stationary(gradient, val, _kinked(divs)) & ~diverged
    values = torch.from_numpy(values_np).to(device)
    return GaussianFit(
        tuple(settings), mean.clone(), _covariance(raw), val, torch.from_numpy(path).to(device),
        values, diverged, inits, converged,
    )  # fmt: skip
