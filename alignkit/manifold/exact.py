"""The exact reference flow of a finite data set (theme 3).

The exact velocity of the linear path x_t = (1 − t) x₀ + t x₁ for data {y_j} and
x₀ ~ N(0, I): ``v(x, t) = (m(x, t) − x)/(1 − t)`` with the posterior mean
``m = Σ_j w_j y_j``, ``w ∝ exp(−|x − t y_j|² / (2 (1 − t)²))``; singular at t = 1, so it
is integrated to :data:`EXACT_T_END`. Re-exported by :mod:`.fields`.
Taught in ``notebooks/05_generative_manifold_alignment.ipynb``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch

from alignkit.manifold._inputs import check_points
from alignkit.manifold.model import GenerativeModel
from alignkit.numerics.tangent import TangentField

__all__ = ["EXACT_T_END", "exact_model"]

EXACT_T_END = 0.999  # the exact field is singular at t = 1
_ROWS = 512  # samples per block of the exact field's batched velocity (measured: ~15 % faster)


@dataclass(frozen=True, eq=False)
class _ExactField(TangentField):
    """v(x, t) = (m(x, t) − x)/(1 − t) with its Jacobian–vector products by hand.

    With w the posterior weights and m = Σ w_j y_j: ∂m/∂x · u = t/(1 − t)² C u, C the
    weights' covariance Σ_j w_j (y_j − m)(y_j − m)ᵀ. For D ≤ 8 (and float64 available)
    everything up to C is float64 (:meth:`_posterior`): the logits by one product,
    ``(t x·y_j − t²|y_j|²/2)/(1 − t)²`` (the |x|² term is the same for every j and cancels
    in the softmax; float64 keeps the cancellation harmless up to t = 0.999), unnormalised
    exp weights, then ONE (N, M) @ (M, 1 + D + D²) product with the data's moments gives
    Σw, m and C = Σ_j w_j y_j y_jᵀ − m mᵀ (no (N, M, D) array, no separate softmax),
    accurate near t = 1 where C is tiny; otherwise float32, centred, (y_j − m) per sample.
    """

    data: torch.Tensor
    dim: int

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:  # one sample (D,)
        s = 1.0 - t
        logits = -(x - t * self.data).square().sum(-1) / (2.0 * s * s)
        m = torch.softmax(logits, dim=0) @ self.data
        return (m - x) / s

    def _weights(self, x: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s = 1.0 - t
        ty = t * self.data
        if self.dim <= 8:  # |x − t y|² coordinate by coordinate: no (N, M, D) array
            sq = (x[:, :1] - ty[:, 0]).square_()
            for d in range(1, self.dim):
                sq += (x[:, d : d + 1] - ty[:, d]).square_()
        else:
            sq = (x[:, None, :] - ty).square().sum(-1)
        w = torch.softmax(sq.mul_(-0.5 / (s * s)), dim=-1)
        return w, w @ self.data

    def batched(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if self._float64 is None:
            return (self._weights(x, t)[1] - x) / (1.0 - t)
        if x.shape[0] > _ROWS:  # (rows, M) float64 blocks that stay in the CPU cache
            return torch.cat([self.batched(part, t) for part in x.split(_ROWS)])
        m = self._posterior(x, t, 1 + self.dim)[:, 1:]
        return ((m - x.double()) / (1.0 - float(t))).to(x.dtype)

    @cached_property
    def _float64(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
        """Float64 ``[yᵀ; |y|²]`` (D + 1, M) and the moments ``[1, y]ᵀ`` (1 + D, M) and
        ``[1, y, y yᵀ flattened]`` (M, 1 + D + D²); None for D > 8 or without float64."""
        if self.dim > 8 or self.data.device.type == "mps":
            return None
        y = self.data.double()
        yy = (y[:, :, None] * y[:, None, :]).reshape(y.shape[0], -1)
        moments = torch.cat([torch.ones_like(y[:, :1]), y, yy], dim=1)
        first_t = moments[:, : 1 + self.dim].T.contiguous()
        return torch.cat([y.T, y.square().sum(1)[None]]).contiguous(), first_t, moments

    def _posterior(self, x: torch.Tensor, t: torch.Tensor, cols: int) -> torch.Tensor:
        """Posterior means of ``[1, y, y yᵀ][:cols]`` under the weights w(x, t), float64 (N, cols).

        Logits ``a (x·y_j − t |y_j|²/2)``, ``a = t/(1 − t)²``: −|x − t y_j|²/(2 (1 − t)²) up
        to a term that does not depend on j (softmax-invariant), by one product
        ``[a x, −a t/2] @ [yᵀ; |y|²]``; the row maximum subtracted, exp in place, one product
        with the moments; column 0 is Σ w.
        """
        assert self._float64 is not None
        y_aug, first_t, moments = self._float64
        n, d = x.shape
        tt = float(t)
        a = tt / (1.0 - tt) ** 2
        x_aug = torch.empty(n, d + 1, dtype=y_aug.dtype, device=x.device)
        x_aug[:, :d] = x
        x_aug[:, :d] *= a
        x_aug[:, d] = -0.5 * tt * a
        logits = x_aug @ y_aug  # (N, M)
        logits -= logits.amax(dim=1, keepdim=True)
        # floored at −87 (weights ≥ e⁻⁸⁷ ≈ 1.6e-38: their sum is far below the float64
        # rounding of Σw ≥ 1): exp of far-underflowing inputs takes 15-40x longer on CPU
        w = logits.clamp_(min=-87.0).exp_()
        if cols == first_t.shape[0]:  # [1, y]ᵀ @ wᵀ: ~2x faster than w @ [1, y] (few columns)
            sums = (first_t @ w.T).T
        else:
            sums = w @ moments[:, :cols]
        return sums / sums[:, :1]

    def tangent(self, s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        x, u = s[0], s[1:]
        if self._float64 is not None:  # C = E[y yᵀ] − m mᵀ in float64
            n, d = x.shape
            sums = self._posterior(x, t, 1 + d + d * d)  # (N, 1 + D + D²): 1, m, E[y yᵀ]
            m64 = sums[:, 1 : 1 + d]
            tt = float(t)
            sc = 1.0 - tt
            c = tt / sc**3  # Dv·u = (t/(1 − t)² C u − u)/(1 − t)
            cov = torch.baddbmm(sums[:, 1 + d :].reshape(n, d, d), m64[:, :, None],
                                m64[:, None, :], beta=c, alpha=-c)  # fmt: skip
            out = torch.empty_like(s)
            out[0] = (m64 - x.double()) / sc
            cov_u = torch.matmul(u.transpose(0, 1), cov.to(u.dtype)).transpose(0, 1)  # C = Cᵀ
            torch.sub(cov_u, u, alpha=1.0 / sc, out=out[1:])
            return out
        w, m = self._weights(x, t)
        yc = self.data - m[:, None, :]  # (N, M, D)
        proj = torch.einsum("nmd,knd->knm", yc, u) * w  # w_j (y_j − m)·u
        cov_u = torch.einsum("knm,nmd->knd", proj, yc)
        scale = 1.0 - t
        return torch.cat([((m - x) / scale)[None], (t / scale**2 * cov_u - u) / scale])


def exact_model(data: torch.Tensor) -> GenerativeModel:
    """The exact linear-path flow of the empirical distribution of ``data`` (M, D).

    ``data``: a finite floating-point tensor with M ≥ 1 rows (``TypeError`` for another
    dtype or object, ``ValueError`` for NaN/inf entries, a wrong shape or a meta tensor).
    """
    check_points(data, "data", min_rows=1)
    velocity = _ExactField(data, int(data.shape[1]))
    one = lambda t: torch.ones_like(t)  # noqa: E731
    end = lambda t: 1.0 / (1.0 - t)  # noqa: E731
    return GenerativeModel(
        "exact", int(data.shape[1]), 1.0, EXACT_T_END, velocity, one, end, data.device,
        data.dtype, info={"data_size": int(data.shape[0])},
    )  # fmt: skip
