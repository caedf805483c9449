"""Perron root of maps that preserve the cone of PSD matrices, batched, with a bracket.

A linear map F on symmetric r × r matrices that maps PSD matrices to PSD matrices has its
spectral radius as an eigenvalue with a PSD eigenvector (Krein–Rutman). Power iteration from
a positive definite start stays in the cone and converges to it. Two bounds certify the
estimate at every step, for a PSD iterate X (up to rounding):

* lower: the Rayleigh quotient ⟨X, W∘F(X)⟩ / ⟨X, W∘X⟩ ≤ λ_max(F) when F is self-adjoint for
  the inner product ⟨X, W∘Y⟩ (W > 0 entrywise, W = 1 for the Frobenius one);
* upper (Collatz–Wielandt): with X ≻ 0 and μ = λ_max(X^{-1/2} F(X) X^{-1/2}), F(X) ⪯ μ X,
  hence Fᵏ(Y) ⪯ c μᵏ X for every PSD Y (F is monotone in the PSD order) and ρ(F) ≤ μ; likewise
  λ_min(X^{-1/2} F(X) X^{-1/2}) ≤ ρ(F).

Used by :mod:`alignkit.stability.theory` for the second-moment map of SGD above the size
where its matrix is built explicitly.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch

from alignkit._checks import check_float_tensor, check_int, check_scalar, check_shape

__all__ = ["ConvergenceWarning", "PerronResult", "perron_root"]


class ConvergenceWarning(RuntimeWarning):
    """An iterative eigenvalue did not reach its tolerance within the allowed iterations."""


@dataclass(frozen=True)
class PerronResult:
    """Estimates ``value`` (G,), certified ``lower`` ≤ ρ ≤ ``upper`` (G,), ``converged`` (G,)."""

    value: torch.Tensor
    lower: torch.Tensor
    upper: torch.Tensor
    converged: torch.Tensor
    iterations: int


def _check_args(apply: object, start: torch.Tensor, weight: torch.Tensor | None, what: str) -> None:
    if not callable(apply):
        raise TypeError(f"apply must be callable as apply(X, idx), got {type(apply).__name__}")
    if not isinstance(what, str):
        raise TypeError(f"what must be a str (a name for the warning), got {what!r}")
    if not isinstance(start, torch.Tensor) or not start.is_floating_point():
        raise TypeError(f"start must be a floating-point tensor (G, r, r), got {start!r}")
    ok = start.ndim == 3 and start.shape[0] >= 1 and start.shape[1] == start.shape[2] >= 1
    check_shape(tuple(start.shape), "start", "(G, r, r) with G, r >= 1", ok)
    check_float_tensor(start, "start")  # float32/64 (half precision: TypeError), real, finite
    if weight is not None:
        if not isinstance(weight, torch.Tensor):
            raise TypeError(f"weight must be a tensor (r, r) or None, got {weight!r}")
        r = start.shape[1]
        check_shape(tuple(weight.shape), "weight", f"({r}, {r})", tuple(weight.shape) == (r, r))
        if not bool(torch.isfinite(weight).all()):
            raise ValueError("weight must be finite (got NaN or inf entries)")


def perron_root(
    apply: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    start: torch.Tensor,
    *,
    weight: torch.Tensor | None = None,
    tol: float = 1e-6,
    iters: int = 20_000,
    check_every: int = 10,
    what: str = "Perron root",
) -> PerronResult:
    """Largest eigenvalue of G PSD-cone-preserving maps at once, to a relative tolerance.

    Parameters
    ----------
    apply : callable, ``(X (k, r, r), idx (k,)) -> (k, r, r)``
        Applies map ``idx[j]`` to ``X[j]`` (only the settings still running are passed).
    start : Tensor, shape (G, r, r)
        Positive definite start matrices (the identity is a good one).
    weight : Tensor, shape (r, r), optional
        Entrywise weight W of the inner product for which F is self-adjoint (default 1).
    tol : float, default=1e-6
        A setting stops when upper − lower ≤ tol · upper, in (0, 1).
    iters : int, default=20000
        Maximum number of applications per setting (>= 1).
    check_every : int, default=10
        How often the upper bound (one Cholesky and eigenvalue solve per setting) is formed.
    what : str
        Name used in the warning.

    Returns
    -------
    PerronResult
        ``value`` is the bracket's upper end (in practice it converges much faster than
        the lower one; its lower end where no upper bound was found, e.g. the iterate
        became singular), so ρ ≤ value ≤ (1 + tol) ρ once converged. Settings still open
        after ``iters`` raise a :class:`ConvergenceWarning` that names the widest bracket.
    """
    tol = check_scalar(tol, "tol", low=0.0, high=1.0, closed="neither")
    iters = check_int(iters, "iters", low=1)
    check_every = check_int(check_every, "check_every", low=1)
    _check_args(apply, start, weight, what)
    x = 0.5 * (start + start.transpose(-1, -2))
    g = x.shape[0]
    w = torch.ones_like(x[0]) if weight is None else weight.to(x)
    lo = torch.full((g,), -math.inf, dtype=x.dtype, device=x.device)
    hi = torch.full((g,), math.inf, dtype=x.dtype, device=x.device)
    idx = torch.arange(g, device=x.device)
    done_at = iters
    for k in range(1, iters + 1):
        y = apply(x, idx)
        y = 0.5 * (y + y.transpose(1, 2))
        theta = (w * x * y).sum((1, 2)) / (w * x * x).sum((1, 2))
        lo[idx] = torch.maximum(lo[idx], theta)
        if k % check_every == 0 or k == iters:
            chol, info = torch.linalg.cholesky_ex(x)
            ok = info == 0
            if bool(ok.any()):
                half = torch.linalg.solve_triangular(chol[ok], y[ok], upper=False)
                m = torch.linalg.solve_triangular(chol[ok], half.transpose(1, 2), upper=False)
                ev = torch.linalg.eigvalsh(0.5 * (m + m.transpose(1, 2)))
                sel = idx[ok]
                # An upper value below the (rounding-robust) Rayleigh bound is rounding noise
                # of an ill-conditioned X: keep the previous bounds there.
                sane = ev[:, -1] >= lo[sel] * (1 - 1e-12)
                sel, ev = sel[sane], ev[sane]
                hi[sel] = torch.minimum(hi[sel], ev[:, -1])
                lo[sel] = torch.maximum(lo[sel], ev[:, 0])
            closed = torch.isfinite(hi[idx]) & (hi[idx] - lo[idx] <= tol * hi[idx].abs())
            idx, y = idx[~closed], y[~closed]
            if idx.numel() == 0:
                done_at = k
                break
        norm = torch.linalg.matrix_norm(y).clamp_min(torch.finfo(y.dtype).tiny)
        x = y / norm[:, None, None]
    converged = torch.isfinite(hi) & (hi - lo <= tol * hi.abs())
    if not bool(converged.all()):
        open_ = (~converged).nonzero()[:, 0]
        widest = int(open_[(hi[open_] - lo[open_]).argmax()])
        warnings.warn(
            f"{what}: {open_.numel()} of {g} values did not reach relative tolerance {tol:g} "
            f"in {iters} iterations (widest bracket [{float(lo[widest]):.9g}, "
            f"{float(hi[widest]):.9g}]); raise iters or tol",
            ConvergenceWarning,
            stacklevel=3,
        )
    value = torch.where(torch.isfinite(hi), hi, lo)
    return PerronResult(value, lo, hi, converged, done_at)
