"""2-D Gaussian fits (mean and full covariance) to a 2-D mixture, by grid quadrature.

The same batched Adam-on-log-D descent as the 1-D fits (:func:`~alignkit.divergences.fit.descend`),
over settings × initialisations, with the covariance parametrised by its Cholesky factor
(log-diagonal, so it stays positive definite). Taught in notebook 03 (the 2-D section).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from alignkit._checks import check_int, check_scalar
from alignkit.device import make_generator
from alignkit.divergences.fit import (
    GaussianFit,
    Setting,
    _batched_integrand,
    _divergences,
    descend,
)
from alignkit.divergences.mixture import GaussianMixture

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
    mean = inits[:, :2].expand(n_s, n_i, 2).clone().requires_grad_(True)
    raw0 = torch.stack([inits[:, 2].log(), inits[:, 2].log(), torch.zeros_like(inits[:, 2])], -1)
    raw = raw0.expand(n_s, n_i, 3).clone().requires_grad_(True)
    path = torch.empty(n_s, n_i, steps + 1, 2, dtype=mean.dtype, device=mean.device)

    def value() -> Tensor:
        log_q = gaussian_log_prob_2d(nodes, mean, raw)
        return _batched_integrand(divs, log_p, log_q).sum(-1) * area

    def record(t: int) -> None:
        path[:, :, t] = mean

    values, frozen = descend(value, [mean, raw], record, steps=steps, lr=lr)
    with torch.no_grad():
        log_q = gaussian_log_prob_2d(nodes, mean, raw)
        val = _batched_integrand(divs, log_p, log_q).sum(-1) * area
        mass = torch.exp(log_q).sum(-1) * area
        diverged = frozen | ~torch.isfinite(val) | (mass < 0.995)
    return GaussianFit(
        tuple(settings), mean.detach(), _covariance(raw.detach()), val, path, values,
        diverged, inits,
    )  # fmt: skip
