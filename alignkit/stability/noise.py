"""SGD noise for the square loss and its alignment with the Gauss–Newton matrix.

Convention (used everywhere in the kit): a model ``fn(theta, x) -> (m, k)`` of a flat
parameter vector θ ∈ R^d, per-sample losses ℓ_i(θ) = ½ ‖f(x_i; θ) − y_i‖² and the
empirical loss L(θ) = (1/n) Σ_i ℓ_i(θ). Residuals r_i = f(x_i; θ) − y_i ∈ R^k,
per-sample Jacobians J_i = ∂f(x_i; θ)/∂θ ∈ R^{k×d}, per-sample gradients
g_i = J_iᵀ r_i, full gradient g = (1/n) Σ_i g_i.

- One-sample SGD noise covariance: Σ₁(θ) = (1/n) Σ_i g_i g_iᵀ − g gᵀ.
- Minibatch of size B: Σ_B = p Σ₁ with p = (n − B) / (B (n − 1)) when the batch is
  drawn without replacement and p = 1/B with replacement.
- Gauss–Newton matrix: G(θ) = (1/n) Σ_i J_iᵀ J_i (= the Hessian H at a global minimum).
- Alignment factor (Wu, Wang & Su 2022): μ(θ) = Tr(Σ₁ G) / (2 L(θ) ‖G‖_F²).
- Linear-stability bound: a mean-square stable minimum has η² p μ ‖H‖_F² ≤ 1, i.e.
  ‖H‖_F ≤ (1/η) √(B/μ) with replacement (the paper's O(√B/η) form), where μ must be a
  lower bound of μ over the directions of θ − θ* (μ_min of
  :mod:`alignkit.stability.alignment_range`); the last iterate's μ is not one in general
  (:func:`alignment_bound`, :func:`alignment_ratio`: in :mod:`alignkit.stability.bound`,
  re-exported here).

References
----------
L. Wu, M. Wang, W. Su, "The alignment property of SGD noise and how it helps select flat
minima: a stability analysis", NeurIPS 2022. Taught in notebook 02 (flat minima and noise
alignment); the range of μ over directions is in :mod:`alignkit.stability.alignment_range`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.func import grad, jacrev, vmap

from alignkit._checks import (
    check_choice,
    check_float_tensor,
    check_int,
    check_scalar,
    check_shape,
)
from alignkit.stability.bound import alignment_bound, alignment_ratio
from alignkit.stability.theory import sampling_factor

__all__ = [
    "square_loss",
    "per_sample_gradients",
    "per_sample_jacobians",
    "noise_covariance",
    "gauss_newton",
    "alignment_factor",
    "NoiseAlignment",
    "noise_alignment",
    "alignment_bound",
    "alignment_ratio",
    "top_eigenvalue",
]

Model = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

#: Largest symmetric matrix handed to ``eigvalsh``; larger ones use power iteration.
EIGH_MAX_SIZE = 192


def _outputs_like(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return out.reshape(y.shape)


def _check_fn(fn: Model) -> None:
    if not callable(fn):
        raise TypeError(f"fn must be callable as fn(theta, x), got {type(fn).__name__}")


def _check_data(
    theta: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    *,
    fn: Model | None = None,
    needs_y: bool = True,
) -> None:
    """theta, x (and y) are finite float tensors of one dtype and matching shapes; with ``fn``,
    ``fn(theta, x[:1])`` runs (a model that cannot take this theta or x is a ValueError
    naming them, not a raw error from inside the model)."""
    check_float_tensor(theta, "theta")
    check_float_tensor(x, "x")
    if y is not None or needs_y:
        check_float_tensor(y, "y")
    for t, name in ((x, "x"), (y, "y")):
        if t is not None and t.dtype != theta.dtype:
            raise TypeError(f"{name} must have theta's dtype {theta.dtype}, got {t.dtype}")
    check_shape(
        tuple(theta.shape), "theta", "(d,) with d >= 1", theta.ndim == 1 and theta.numel() >= 1
    )
    check_shape(tuple(x.shape), "x", "(n, p)", x.ndim == 2 and x.shape[0] >= 1)
    if y is not None:
        check_shape(
            tuple(y.shape),
            "y",
            f"({x.shape[0]},) or ({x.shape[0]}, k)",
            y.ndim in (1, 2) and y.shape[0] == x.shape[0],
        )
    if fn is not None:
        try:
            out = fn(theta, x[:1])
        except (RuntimeError, IndexError, ValueError) as exc:
            raise ValueError(
                f"fn(theta, x) must accept theta of shape {tuple(theta.shape)} and x of shape "
                f"{tuple(x.shape)}: the model raised {type(exc).__name__}: {exc}"
            ) from exc
        width = 1 if y is None or y.ndim == 1 else y.shape[1]
        if not isinstance(out, torch.Tensor) or (y is not None and out.numel() != width):
            raise ValueError(
                f"fn(theta, x) must return (m, {width}) outputs for m rows of x (y's width), "
                f"got {tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__}"
            )


def _sample_loss(
    fn: Model, theta: torch.Tensor, xi: torch.Tensor, yi: torch.Tensor
) -> torch.Tensor:
    out = fn(theta, xi[None])
    return 0.5 * ((out.reshape(yi.shape) - yi) ** 2).sum()


def square_loss(fn: Model, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """L(θ) = (1/n) Σ_i ½ ‖f(x_i; θ) − y_i‖².

    Shapes ``(d,), (n, p), (n, k) -> ()``.
    """
    _check_fn(fn)
    _check_data(theta, x, y, fn=fn)
    out = _outputs_like(fn(theta, x), y)
    return 0.5 * ((out - y) ** 2).reshape(y.shape[0], -1).sum(-1).mean()


def per_sample_gradients(
    fn: Model, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """Per-sample gradients g_i = ∇ℓ_i(θ) by ``vmap(grad(ℓ))``.

    Parameters
    ----------
    fn : callable
        ``fn(theta, x)`` with theta (d,) and x (m, p), returning (m, k) (or (m,) when
        ``y`` is 1-D).
    theta : Tensor, shape (d,)
    x : Tensor, shape (n, p)
    y : Tensor, shape (n, k) or (n,)

    Returns
    -------
    Tensor, shape (n, d)
    """
    _check_fn(fn)
    _check_data(theta, x, y, fn=fn)
    return vmap(grad(_sample_loss, argnums=1), in_dims=(None, None, 0, 0))(fn, theta, x, y)


def per_sample_jacobians(fn: Model, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-sample output Jacobians J_i = ∂f(x_i; θ)/∂θ by ``vmap(jacrev(f))``.

    Shapes ``(d,), (n, p) -> (n, k, d)`` (k = 1 for a scalar output).
    """
    _check_fn(fn)
    _check_data(theta, x, fn=fn, needs_y=False)

    def one(th: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
        return fn(th, xi[None]).reshape(-1)

    return vmap(jacrev(one), in_dims=(None, 0))(theta, x)


def noise_covariance(
    per_sample_grads: torch.Tensor,
    *,
    batch_size: int = 1,
    replacement: bool = False,
) -> torch.Tensor:
    """SGD noise covariance Σ_B = p [(1/n) Σ g_i g_iᵀ − g gᵀ] (explicit, for small d).

    Parameters
    ----------
    per_sample_grads : Tensor, shape (..., n, d)
        g_i, e.g. from :func:`per_sample_gradients`; leading axes are settings.
    batch_size : int, default=1
        B in [1, n]; ``batch_size=1`` (either sampling) gives the one-sample Σ₁.
    replacement : bool, default=False
        How the minibatch is drawn (see :func:`alignkit.stability.theory.sampling_factor`).

    Returns
    -------
    Tensor, shape (..., d, d)
        The covariance of the minibatch gradient (1/B) Σ_{i∈batch} g_i.
    """
    check_float_tensor(per_sample_grads, "per_sample_grads")
    ok = per_sample_grads.ndim >= 2 and min(per_sample_grads.shape) >= 1
    check_shape(tuple(per_sample_grads.shape), "per_sample_grads", "(..., n, d), all >= 1", ok)
    n = int(per_sample_grads.shape[-2])
    p = sampling_factor(n, batch_size, replacement=replacement)
    g = per_sample_grads.mean(dim=-2, keepdim=True)
    centred = per_sample_grads - g
    return p * centred.transpose(-1, -2) @ centred / n


def gauss_newton(jacobians: torch.Tensor) -> torch.Tensor:
    """Gauss–Newton matrix G = (1/n) Σ_i J_iᵀ J_i.

    Shapes ``(..., n, k, d) -> (..., d, d)``.
    """
    check_float_tensor(jacobians, "jacobians")
    check_shape(tuple(jacobians.shape), "jacobians", "(..., n, k, d)", jacobians.ndim >= 3)
    n = jacobians.shape[-3]
    return torch.einsum("...nkd,...nke->...de", jacobians, jacobians) / n


def _check_products(value: torch.Tensor, name: str) -> None:
    """Refuse, naming the inputs, a product of them that overflowed float (JᵀJ of entries
    ~1e154 and up): every later number would be inf or NaN."""
    if not bool(torch.isfinite(value).all()):
        raise ValueError(
            f"{name} are too large: their products overflow {value.dtype} (got inf); "
            "rescale the data or the model"
        )


def alignment_factor(
    fn: Model, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """μ(θ) = Tr(Σ₁ G) / (2 L ‖G‖_F²), built from explicit d×d matrices (small d only).

    The reference route: per-sample gradients by ``vmap(grad)``, Σ₁ by
    :func:`noise_covariance`, G by :func:`gauss_newton`. :func:`noise_alignment`
    computes the same number matrix-free from Jacobians and residuals.

    Shapes ``(d,), (n, p), (n, k) -> ()``.
    """
    _check_fn(fn)
    _check_data(theta, x, y, fn=fn)
    grads = per_sample_gradients(fn, theta, x, y)
    _check_products(grads, "theta, x and y (their per-sample gradients)")
    sigma = noise_covariance(grads)
    gn = gauss_newton(per_sample_jacobians(fn, theta, x))
    loss = square_loss(fn, theta, x, y)
    return (sigma * gn).sum() / (2 * loss * (gn**2).sum())


def top_eigenvalue(
    matrix: torch.Tensor, *, tol: float = 1e-10, max_iters: int = 2000
) -> torch.Tensor:
    """λ_max of symmetric positive semi-definite matrices, batched.

    ``eigvalsh`` for sizes up to ``EIGH_MAX_SIZE``; larger ones use power iteration from
    a fixed (non-random) start vector until every Rayleigh quotient changes by less than
    ``tol`` (relative) over 10 iterations, or ``max_iters`` iterations.

    Shapes ``(..., m, m) -> (...)``.
    """
    check_float_tensor(matrix, "matrix")
    tol = check_scalar(tol, "tol", low=0.0)
    max_iters = check_int(max_iters, "max_iters", low=1)
    check_shape(
        tuple(matrix.shape),
        "matrix",
        "(..., m, m)",
        matrix.ndim >= 2 and matrix.shape[-1] == matrix.shape[-2],
    )
    m = matrix.shape[-1]
    if m <= EIGH_MAX_SIZE:
        return torch.linalg.eigvalsh(matrix)[..., -1]
    max_iters = check_int(max_iters, "max_iters", low=1)
    tiny = torch.finfo(matrix.dtype).tiny
    v = torch.linspace(1.0, 2.0, m, dtype=matrix.dtype, device=matrix.device)
    v = v.expand(*matrix.shape[:-1]).unsqueeze(-1)
    previous = torch.zeros(matrix.shape[:-2], dtype=matrix.dtype, device=matrix.device)
    estimate = previous
    for it in range(1, max_iters + 1):
        w = matrix @ v
        norm = w.norm(dim=-2, keepdim=True)
        estimate = (v * w).sum((-2, -1))  # Rayleigh quotient of the unit vector v
        v = w / norm.clamp_min(tiny)
        if it % 10 == 0:
            change = (estimate - previous).abs() <= tol * estimate.abs()
            if bool(change.all()):
                break
            previous = estimate
    return estimate


@dataclass(frozen=True)
class NoiseAlignment:
    """Noise and curvature statistics at S points (from :func:`noise_alignment`).

    Attributes
    ----------
    loss : Tensor, shape (...)
        L(θ) = (1/n) Σ ½ ‖r_i‖².
    trace_noise_gn : Tensor, shape (...)
        Tr(Σ₁ G), one-sample noise against the Gauss–Newton matrix.
    gn_frobenius : Tensor, shape (...)
        ‖G‖_F (= ‖H‖_F at a global minimum).
    sharpness : Tensor, shape (...)
        λ_max(G).
    mu : Tensor, shape (...)
        Tr(Σ₁ G) / (2 L ‖G‖_F²).
    """

    loss: torch.Tensor
    trace_noise_gn: torch.Tensor
    gn_frobenius: torch.Tensor
    sharpness: torch.Tensor
    mu: torch.Tensor


def noise_alignment(
    jacobians: torch.Tensor,
    residuals: torch.Tensor,
    *,
    route: str = "auto",
) -> NoiseAlignment:
    """Tr(Σ₁G), ‖G‖_F, λ_max(G) and μ without forming Σ₁, batched over settings.

    Uses Tr(Σ₁ G) = (1/n) Σ_i g_iᵀ G g_i − gᵀ G g with g_i = J_iᵀ r_i, evaluated either
    with G itself (d×d, ``route="parameters"``) or with the sample Gram matrix
    K = J Jᵀ (nk×nk, ``route="samples"``): g_iᵀ G g_i = (1/n) ‖K_{:,i} r_i‖²,
    ‖G‖_F = ‖K‖_F / n and λ_max(G) = λ_max(K) / n. ``"auto"`` picks the smaller one.

    Parameters
    ----------
    jacobians : Tensor, shape (..., n, k, d)
        Per-sample output Jacobians J_i (e.g. :func:`per_sample_jacobians`).
    residuals : Tensor, shape (..., n, k)
        r_i = f(x_i; θ) − y_i.
    route : {"auto", "parameters", "samples"}, default="auto"

    Returns
    -------
    NoiseAlignment
        Fields of shape (...), the leading axes of the inputs.
    """
    route = check_choice(route, "route", ("auto", "parameters", "samples"))
    check_float_tensor(jacobians, "jacobians")
    check_float_tensor(residuals, "residuals")
    if residuals.dtype != jacobians.dtype:
        raise TypeError(
            f"residuals must have jacobians' dtype {jacobians.dtype}, got {residuals.dtype}"
        )
    ok = jacobians.ndim >= 3 and min(jacobians.shape) >= 1
    check_shape(tuple(jacobians.shape), "jacobians", "(..., n, k, d), all >= 1", ok)
    check_shape(
        tuple(residuals.shape),
        "residuals",
        f"{tuple(jacobians.shape[:-1])}",
        residuals.shape == jacobians.shape[:-1],
    )
    n, k, d = jacobians.shape[-3:]
    if route == "auto":
        route = "parameters" if d <= n * k else "samples"
    r = residuals
    loss = 0.5 * (r**2).sum((-2, -1)) / n
    if route == "parameters":
        gn = gauss_newton(jacobians)
        _check_products(gn, "jacobians")
        gi = torch.einsum("...nkd,...nk->...nd", jacobians, r)
        g = gi.mean(-2)
        first = (gi * (gi @ gn)).sum(-1).mean(-1)
        second = (g * (g.unsqueeze(-2) @ gn).squeeze(-2)).sum(-1)
        fro2 = (gn**2).sum((-2, -1))
        sharp = top_eigenvalue(gn)
    else:
        flat = jacobians.reshape(*jacobians.shape[:-3], n * k, d)
        gram = flat @ flat.transpose(-1, -2)
        _check_products(gram, "jacobians")
        blocks = gram.reshape(*gram.shape[:-2], n, k, n, k)
        u = torch.einsum("...jaib,...ib->...jai", blocks, r)
        first = (u**2).sum((-3, -2, -1)) / n**2
        kr = (gram @ r.reshape(*r.shape[:-2], n * k, 1)).squeeze(-1)
        second = (kr**2).sum(-1) / n**3
        fro2 = (gram**2).sum((-2, -1)) / n**2
        sharp = top_eigenvalue(gram) / n
    trace = first - second
    mu = trace / (2 * loss * fro2)
    return NoiseAlignment(loss, trace, fro2.sqrt(), sharp, mu)
