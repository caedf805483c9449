"""Gaussian mixtures in 1-D and d-D: the multi-modal targets of the fits in notebook 03."""

from __future__ import annotations

import math

import torch

from alignkit._checks import check_float_dtype, check_int, check_scalar, check_shape
from alignkit.device import get_device, make_generator
from alignkit.divergences._args import real_tensor

__all__ = ["GaussianMixture", "bimodal", "k_modes"]

Tensor = torch.Tensor
_LOG_2PI = math.log(2.0 * math.pi)


def _tensor(x: object, name: str, dtype: torch.dtype, device: torch.device | None) -> Tensor:
    if isinstance(x, torch.Tensor):  # bool, complex and meta tensors: refused, naming x
        real_tensor(x, name, nonempty=False)
    try:
        t = torch.as_tensor(x, dtype=dtype, device=device)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise TypeError(f"{name} must be array-like of numbers, got {type(x).__name__}") from exc
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} must be finite, got {t.tolist()}")
    return t


class GaussianMixture:
    """Σ_k w_k N(μ_k, Σ_k) in 1-D (``means`` shape (K,)) or d-D (``means`` shape (K, d)).

    Parameters
    ----------
    means : array-like, shape (K,) or (K, d)
    stds : array-like, shape (K,), optional
        Standard deviations (1-D), or isotropic ones in d-D; > 0. Default 1.
    weights : array-like, shape (K,), optional
        Non-negative, summing to 1 (default uniform).
    covs : array-like, shape (K, d, d), optional
        Covariances in d-D (symmetric positive definite); overrides ``stds``.

    dtype : torch.dtype, default torch.float64
        A floating dtype (an integer one would truncate the parameters).
    device : str or torch.device, optional
        ``"cpu"``, ``"cuda[:N]"`` or ``"mps"`` (checked by :func:`~alignkit.device.get_device`);
        default: where ``means`` lives (cpu for lists).

    Raises
    ------
    ValueError
        std ≤ 0, weights negative or not summing to 1, covariances not positive definite,
        shapes that do not match, a non-floating ``dtype``, a device this machine lacks.
    TypeError
        ``dtype`` not a torch dtype, ``device`` not a str or torch.device, parameters that
        are not real numbers.
    """

    def __init__(
        self,
        means: object,
        stds: object | None = None,
        weights: object | None = None,
        *,
        covs: object | None = None,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> None:
        dtype = check_float_dtype(dtype, "dtype")
        dev = get_device(device) if device is not None else None
        mu = _tensor(means, "means", dtype, dev)
        ok = mu.ndim in (1, 2) and mu.shape[0] >= 1 and (mu.ndim == 1 or mu.shape[1] >= 1)
        check_shape(mu.shape, "means", "(K,) or (K, d), K and d ≥ 1", ok)
        k = mu.shape[0]
        self.dim = 1 if mu.ndim == 1 else mu.shape[1]
        self.is_1d = mu.ndim == 1
        w = torch.full((k,), 1.0 / k, dtype=dtype, device=mu.device)
        if weights is not None:
            w = _tensor(weights, "weights", dtype, mu.device)
            check_shape(w.shape, "weights", f"({k},): one per row of means", w.shape == (k,))
            if (w < 0).any() or abs(w.sum().item() - 1.0) > 1e-6:
                raise ValueError(
                    f"weights must be non-negative and sum to 1, got {w.tolist()} "
                    f"(sum {w.sum().item():.6g})"
                )
        if covs is not None:
            if self.is_1d:
                raise ValueError("covs is for d-D mixtures (means of shape (K, d)); use stds")
            cov = _tensor(covs, "covs", dtype, mu.device)
            d = self.dim
            check_shape(cov.shape, "covs", f"({k}, {d}, {d})", cov.shape == (k, d, d))
            chol, info = torch.linalg.cholesky_ex(0.5 * (cov + cov.transpose(-1, -2)))
            if (info != 0).any() or not torch.allclose(cov, cov.transpose(-1, -2)):
                raise ValueError("covs must be symmetric positive definite matrices")
        else:
            s = torch.ones(k, dtype=dtype, device=mu.device) if stds is None else None
            if s is None:
                s = _tensor(stds, "stds", dtype, mu.device)
            check_shape(s.shape, "stds", f"({k},): one per row of means", s.shape == (k,))
            if (s <= 0).any():
                raise ValueError(f"stds must be > 0, got {s.tolist()}")
            self.stds = s
            eye = torch.eye(self.dim, dtype=dtype, device=mu.device)
            chol = s[:, None, None] * eye
        self.means, self.weights, self.chol = mu, w, chol

    @property
    def covariances(self) -> Tensor:
        """Component covariances, shape (K, d, d) (d = 1 for a 1-D mixture)."""
        return self.chol @ self.chol.transpose(-1, -2)

    def log_prob(self, x: Tensor) -> Tensor:
        """log density; x of shape (...,) in 1-D or (..., d) in d-D -> shape (...).

        ``x`` may hold ±inf (log density −inf), not NaN (``ValueError`` naming ``x``)."""
        if not (isinstance(x, torch.Tensor) and x.is_floating_point() and not x.is_meta):
            x = real_tensor(x, "x", nonempty=False)  # refuses None, str, bool, complex, meta
        x = x.to(device=self.means.device, dtype=self.means.dtype)
        if bool(torch.isnan(x).any()):  # ±inf is fine: the density there is 0 (log −inf)
            bad = int(torch.isnan(x).sum())
            raise ValueError(f"x must not contain NaN (±inf is allowed), got {bad} NaN entries")
        if self.is_1d:
            z = (x[..., None] - self.means) / self.stds  # (..., K)
            comp = -0.5 * z * z - torch.log(self.stds) - 0.5 * _LOG_2PI
        else:
            check_shape(x.shape, "x", f"(..., {self.dim})", x.ndim >= 1 and x.shape[-1] == self.dim)
            far = torch.isinf(x).any(-1)  # (...): density 0 (the solve would mix inf and 0)
            if bool(far.any()):
                out = self.log_prob(torch.where(torch.isinf(x), torch.zeros_like(x), x))
                return out.masked_fill(far, -math.inf)
            diff = (x[..., None, :] - self.means).unsqueeze(-1)  # (..., K, d, 1)
            chol = self.chol.expand(*diff.shape[:-2], self.dim, self.dim)
            z = torch.linalg.solve_triangular(chol, diff, upper=False).squeeze(-1)
            log_det = torch.log(torch.diagonal(self.chol, dim1=-2, dim2=-1)).sum(-1)
            comp = -0.5 * (z * z).sum(-1) - log_det - 0.5 * self.dim * _LOG_2PI
        return torch.logsumexp(comp + torch.log(self.weights), dim=-1)

    def pdf(self, x: Tensor) -> Tensor:
        """Density at x (shapes as :meth:`log_prob`)."""
        return torch.exp(self.log_prob(x))

    def mean(self) -> Tensor:
        """Mixture mean, shape () in 1-D or (d,) (d = 1 too, for means given as (K, 1))."""
        m = (self.weights[:, None] * self.means.reshape(len(self.weights), -1)).sum(0)
        return m[0] if self.is_1d else m

    def covariance(self) -> Tensor:
        """Mixture covariance (law of total variance), shape (d, d); variance () in 1-D."""
        mu = self.means.reshape(len(self.weights), -1)
        m = self.mean().reshape(-1)
        centred = mu - m
        outer = centred[:, :, None] * centred[:, None, :]
        cov = (self.weights[:, None, None] * (self.covariances + outer)).sum(0)
        return cov.squeeze() if self.is_1d else cov

    def sample(self, n: int, *, seed: int | torch.Generator | None = 0) -> Tensor:
        """n draws, shape (n,) in 1-D or (n, d), from a local generator (``seed=``)."""
        n = check_int(n, "n", low=1, high=100_000_000)  # (800 MB of float64 per dimension)
        gen = make_generator(seed, self.means.device)
        comp = torch.multinomial(self.weights, n, replacement=True, generator=gen)
        eps = torch.randn(
            n, self.dim, dtype=self.means.dtype, device=self.means.device, generator=gen
        )
        x = self.means.reshape(len(self.weights), -1)[comp] + (
            self.chol[comp] @ eps[..., None]
        ).squeeze(-1)
        return x.squeeze(-1) if self.is_1d else x

    def __repr__(self) -> str:
        return (
            f"GaussianMixture(dim={self.dim}, means={self.means.tolist()}, "
            f"weights={self.weights.tolist()})"
        )


def k_modes(
    n_modes: int = 2,
    separation: float = 4.0,
    *,
    std: float = 0.5,
    weight_first: float | None = None,
) -> GaussianMixture:
    """K equal-width modes on a line, ``separation`` apart, centred on 0 (1-D).

    ``weight_first`` gives the first (leftmost) mode that weight and shares the rest
    equally; default uniform.
    """
    k = check_int(n_modes, "n_modes", low=1, high=8)
    separation = check_scalar(separation, "separation", low=0.0)
    std = check_scalar(std, "std", low=0.0, closed="neither")
    if weight_first is not None:
        weight_first = check_scalar(weight_first, "weight_first", low=0.0, high=1.0,
                                    closed="neither")  # fmt: skip
    means = (torch.arange(k, dtype=torch.float64) - (k - 1) / 2) * separation
    if weight_first is None or k == 1:
        w = torch.full((k,), 1.0 / k, dtype=torch.float64)
    else:
        w = torch.full((k,), (1.0 - weight_first) / (k - 1), dtype=torch.float64)
        w[0] = weight_first
    return GaussianMixture(means, torch.full((k,), float(std), dtype=torch.float64), w)


def bimodal() -> GaussianMixture:
    """½N(−2, 0.5²) + ½N(2, 0.5²): the target whose forward-KL fit is N(0, 4.25)."""
    return k_modes(2, 4.0, std=0.5)
