"""The per-direction stability test: necessary in any dimension, exact in one.

For a unit vector v, ⟨vvᵀ, Q(vvᵀ)⟩ = E_ξ[(vᵀ(I − ηH_ξ)v)²] = (1 − η a_v)² + η² p s_v², with
a_v = vᵀHv and s_v² = Var_i(vᵀH_i v) (population variance over the n samples). Q is
self-adjoint with λ_max(Q) = ρ(Q) and ‖vvᵀ‖_F = 1, so a mean-square stable minimum has

    (1 − η a_v)² + η² p s_v² ≤ ρ(Q) ≤ 1   for every unit v.

In one dimension v = 1 and this is ρ(Q) itself: the test is then an iff. In d dimensions it
is only necessary, and only with the direction's own s_v: the 1-D formula with
s = √λ_max((1/n) Σ (H_i − H)²) (:func:`alignkit.stability.theory.nonuniformity`, Wu, Ma & E
2018) uses the largest spread of H_i v over all directions, which is ≥ s_v for every v, and
can fail at a stable minimum. Taught in ``notebooks/01_sgd_stability.ipynb``.
"""

from __future__ import annotations

import torch

from alignkit._checks import check_scalar, check_shape
from alignkit.stability import theory as T

__all__ = ["directional_moments", "directional_test"]


def directional_moments(
    per_sample_hessians: torch.Tensor, directions: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sharpness a_v = vᵀHv and non-uniformity s_v = std_i(vᵀH_i v) along each direction.

    Parameters
    ----------
    per_sample_hessians : Tensor, shape (n, d, d)
        Symmetric H_i.
    directions : Tensor, shape (d,) or (K, d)
        Non-zero vectors, normalised here to unit length.

    Returns
    -------
    (a_v, s_v) : Tensors, shape (K,) (K = 1 for a single direction), float64.
    """
    h = T._as_hessians(per_sample_hessians)
    return _moments(h, directions)


def _moments(h: torch.Tensor, directions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    v = T._tensor(directions, "directions")
    if not v.is_floating_point():
        raise TypeError(f"directions must be a floating-point tensor, got dtype {v.dtype}")
    v = v.to(dtype=torch.float64, device=h.device)
    v = v.reshape(1, -1) if v.ndim == 1 else v
    d = h.shape[1]
    check_shape(tuple(v.shape), "directions", f"(d,) or (K, d) with d = {d}",
                v.ndim == 2 and v.shape[1] == d and v.shape[0] >= 1)  # fmt: skip
    if not bool(torch.isfinite(v).all()):
        raise ValueError("directions must be finite (got NaN or inf entries)")
    norms = v.norm(dim=1)
    if bool((norms == 0).any()):
        raise ValueError("directions must be non-zero vectors, got a zero row")
    u = v / norms[:, None]
    quad = torch.einsum("kd,nde,ke->kn", u, h, u)  # (K, n): vᵀ H_i v
    return quad.mean(1), quad.var(1, unbiased=False).clamp_min(0).sqrt()


def directional_test(
    per_sample_hessians: torch.Tensor,
    directions: torch.Tensor,
    lr: float,
    batch_size: int,
    *,
    replacement: bool = False,
) -> torch.Tensor:
    """⟨vvᵀ, Q(η, B) vvᵀ⟩ = (1 − η a_v)² + η² p s_v² for each unit direction v, shape (K,).

    A lower bound on ρ(Q) for every v: a value above 1 proves the minimum mean-square
    unstable at (η, B); values ≤ 1 for all v are necessary, not sufficient (d > 1).

    Parameters
    ----------
    per_sample_hessians : Tensor, shape (n, d, d)
        Symmetric H_i at the minimum.
    directions : Tensor, shape (d,) or (K, d)
        Non-zero directions (normalised here).
    lr : float
        η > 0.
    batch_size : int
        B in [1, n] (any B ≥ 1 with replacement).
    replacement : bool, default=False
        Sample the minibatch with replacement.
    """
    h = T._as_hessians(per_sample_hessians)
    a, s = _moments(h, directions)
    lr = check_scalar(lr, "lr", low=0.0, closed="neither")
    T._check_lrs(lr, h, "lr")  # η² s² must not overflow
    p = T.sampling_factor(h.shape[0], batch_size, replacement=replacement)
    return (1 - lr * a) ** 2 + lr**2 * p * s**2
