"""Hessians of a network's training loss through ``torch.func`` (theme 1).

One design throughout: a model and its data become a pure function of the *flat* parameter
vector theta of shape (d,) (``loss_fn``), and every Hessian product is forward-over-reverse,
``jvp(grad(f), (theta,), (v,))``, so nothing of size d x d is ever built except by the two
explicit helpers for small models. The matrix-free algorithms (Lanczos, power iteration,
Hutchinson) live in :mod:`alignkit.numerics.lanczos` and work on any ``matvec``.

Loss convention (the kit's, see ``alignkit.stability.models``):
L(theta) = (1/n) sum_i l_i(theta) with

- ``"mse"``: l_i = 1/2 ||f(x_i) - y_i||^2, summed over outputs. For a linear model
  f(x) = x^T theta this gives H = X^T X / n exactly (the 1/2 cancels the 2).
- ``"cross_entropy"``: l_i = -log softmax(f(x_i))[y_i], y_i an integer class.

The model must treat samples independently (no batch norm in training mode) for
:func:`per_sample_hessians` to mean anything. Taught in ``notebooks/01_sgd_stability.ipynb``
(sharpness, non-uniformity and ||H||_F of trained networks).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.func import functional_call, grad, hessian, jvp, vmap

from alignkit._checks import check_choice, check_int, check_shape
from alignkit.numerics.functional import (
    LOSSES,
    _closure,
    _prepare,
    _unflatten,
    flat_params,
    loss_fn,
)
from alignkit.numerics.lanczos import (
    EigenResult,
    Estimate,
    operator_frobenius_norm,
    operator_top_eigenvalues,
    operator_trace,
)

__all__ = [
    "LOSSES",
    "EXPLICIT_MAX_DIM",
    "flat_params",
    "loss_fn",
    "hessian_operator",
    "hessian_vector_product",
    "hessian_matrix",
    "per_sample_hessians",
    "top_eigenvalues",
    "hutchinson_trace",
    "frobenius_norm",
]

Tensor = torch.Tensor
Matvec = Callable[[Tensor], Tensor]

EXPLICIT_MAX_DIM = 4096
"""Largest d for which the explicit d x d Hessian is built by default (128 MiB in float64)."""


def _operator(f: Callable[[Tensor], Tensor], theta: Tensor) -> Matvec:
    """Forward-over-reverse H v; a (b, d) block of directions is vmapped."""
    g = grad(f)

    def hvp(v: Tensor) -> Tensor:
        return jvp(g, (theta,), (v,))[1]

    def matvec(v: Tensor) -> Tensor:
        return vmap(hvp)(v) if v.ndim == 2 else hvp(v)

    return matvec


def _prepared_operator(
    model: torch.nn.Module, x: Tensor, y: Tensor, loss: str, params: Tensor | None
) -> tuple[Matvec, Tensor]:
    spec, theta = _prepare(model, x, y, loss, params)
    return _operator(_closure(model, spec, x, y, loss), theta), theta


def hessian_operator(
    model: torch.nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    loss: str = "mse",
    params: Tensor | None = None,
) -> Matvec:
    """The Hessian of the training loss as a ``matvec``, (d,) -> (d,) or (b, d) -> (b, d).

    Each call is one forward-over-reverse product ``jvp(grad(f))``; a (b, d) block is
    ``vmap``-ed. Pass it to the ``operator_*`` functions of :mod:`alignkit.numerics.lanczos`.
    ``params`` (d,) evaluates at theta other than the model's current parameters.
    Other arguments as in :func:`loss_fn`.
    """
    return _prepared_operator(model, x, y, loss, params)[0]


def hessian_vector_product(
    model: torch.nn.Module,
    x: Tensor,
    y: Tensor,
    v: Tensor,
    *,
    loss: str = "mse",
    params: Tensor | None = None,
) -> Tensor:
    """H v for the Hessian H of the training loss, never forming H.

    Parameters
    ----------
    model, x, y, loss
        As in :func:`loss_fn`.
    v : Tensor, shape (d,) or (b, d)
        Direction(s) in parameter space (cast to the model's dtype).
    params : Tensor, shape (d,), optional
        Where to evaluate H; default: the model's current parameters.

    Returns
    -------
    Tensor, shape of ``v``
        ``(d,) -> (d,)`` or ``(b, d) -> (b, d)``: forward-over-reverse, ``jvp`` over ``grad``.

    Raises
    ------
    ValueError
        If ``v`` is not of shape (d,) or (b, d), or as in :func:`loss_fn`.
    """
    matvec, theta = _prepared_operator(model, x, y, loss, params)
    d = theta.shape[0]
    if not isinstance(v, Tensor):
        raise TypeError(f"v must be a torch.Tensor of shape ({d},) or (b, {d}), got {v!r}")
    ok = v.ndim in (1, 2) and v.shape[-1] == d and v.shape[0] >= 1 and v.device == theta.device
    check_shape(tuple(v.shape), "v", f"({d},) or (b, {d}) with b >= 1, on {theta.device}", ok)
    if v.dtype == torch.bool or v.is_complex() or not bool(torch.isfinite(v).all()):
        raise ValueError(f"v must hold finite real numbers, got a {v.dtype} tensor with NaN/inf")
    return matvec(v.to(theta.dtype))


def _check_dim(d: int, max_dim: int) -> None:
    max_dim = check_int(max_dim, "max_dim", low=1)
    if d > max_dim:
        raise ValueError(
            f"model has d={d} trainable parameters, above max_dim={max_dim} for an explicit "
            "d x d Hessian; use the matrix-free top_eigenvalues, hutchinson_trace or "
            "frobenius_norm, or raise max_dim"
        )


def _check_chunk(chunk_size: int | None) -> int | None:
    return None if chunk_size is None else check_int(chunk_size, "chunk_size", low=1)


def hessian_matrix(
    model: torch.nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    loss: str = "mse",
    params: Tensor | None = None,
    max_dim: int = EXPLICIT_MAX_DIM,
    chunk_size: int | None = 128,
) -> Tensor:
    """The explicit Hessian of the training loss (small models only).

    Built column by column as H e_j with the same forward-over-reverse product,
    ``vmap``-ed over the identity in chunks of ``chunk_size`` columns (``None``: all at once).

    Returns
    -------
    Tensor, shape (d, d)

    Raises
    ------
    ValueError
        If d > ``max_dim`` (default :data:`EXPLICIT_MAX_DIM` = 4096), or as in :func:`loss_fn`.
    """
    hvp, theta = _prepared_operator(model, x, y, loss, params)
    d = theta.shape[0]
    _check_dim(d, max_dim)
    chunk_size = _check_chunk(chunk_size)
    eye = torch.eye(d, dtype=theta.dtype, device=theta.device)
    return vmap(hvp, chunk_size=chunk_size)(eye)


def per_sample_hessians(
    model: torch.nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    loss: str = "mse",
    params: Tensor | None = None,
    max_dim: int = EXPLICIT_MAX_DIM,
    max_entries: int = 2**27,
    chunk_size: int | None = None,
) -> Tensor:
    """The per-sample Hessians H_i = nabla^2 l_i(theta), whose mean is the Hessian.

    ``torch.func.hessian`` (jacfwd over jacrev) of one sample's loss, ``vmap``-ed over the
    samples in chunks of ``chunk_size``. They feed the non-uniformity s and the mean-square
    stability operator Q of theme 1.

    Returns
    -------
    Tensor, shape (n, d, d)
        ``(n, ...), (n, ...) -> (n, d, d)``.

    Raises
    ------
    ValueError
        If d > ``max_dim``, if n * d^2 > ``max_entries`` (default 2^27, 1 GiB in float64),
        or as in :func:`loss_fn`.
    """
    spec, theta = _prepare(model, x, y, loss, params)
    n, d = x.shape[0], theta.shape[0]
    _check_dim(d, max_dim)
    chunk_size = _check_chunk(chunk_size)
    max_entries = check_int(max_entries, "max_entries", low=1)
    if n * d * d > max_entries:
        raise ValueError(
            f"x has n={n} samples and the model d={d} parameters: n*d^2={n * d * d} entries "
            f"exceed max_entries={max_entries}; pass fewer samples or raise max_entries"
        )
    per_sample = LOSSES[loss]

    def one(th: Tensor, xi: Tensor, yi: Tensor) -> Tensor:
        out = functional_call(model, _unflatten(spec, th), (xi.unsqueeze(0),))
        return per_sample(out, yi.unsqueeze(0))[0]

    hess: Callable[[Tensor, Tensor, Tensor], Tensor] = hessian(one)
    return vmap(hess, in_dims=(None, 0, 0), chunk_size=chunk_size)(theta, x, y)


def top_eigenvalues(
    model: torch.nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    loss: str = "mse",
    k: int = 1,
    method: str = "lanczos",
    iters: int = 100,
    tol: float = 1e-4,
    seed: int | torch.Generator | None = 0,
    params: Tensor | None = None,
) -> EigenResult:
    """The k largest Hessian eigenvalues (``values[0]`` is the sharpness a), matrix-free.

    Lanczos (default) or power iteration on :func:`hessian_operator`; see
    :func:`alignkit.numerics.lanczos.operator_top_eigenvalues` for ``k``, ``method``,
    ``iters``, ``tol`` (residual ||Hu - lambda u|| <= tol |lambda|) and ``seed``.

    Returns
    -------
    EigenResult
        ``values`` (k,), ``vectors`` (k, d), ``residuals`` (k,), ``matvecs``, ``converged``.
    """
    matvec, theta = _prepared_operator(model, x, y, loss, params)
    d, dt, dev = theta.shape[0], theta.dtype, theta.device
    return operator_top_eigenvalues(
        matvec, d, k=k, method=method, iters=iters, tol=tol, seed=seed, dtype=dt, device=dev
    )


def hutchinson_trace(
    model: torch.nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    loss: str = "mse",
    samples: int = 100,
    deflate: int = 0,
    block_size: int = 1,
    seed: int | torch.Generator | None = 0,
    params: Tensor | None = None,
) -> Estimate:
    """Tr(H) by Hutchinson's estimator with Rademacher probes, matrix-free.

    ``deflate = m`` first spends m Lanczos steps and treats that subspace exactly
    (unbiased, lower variance); ``block_size`` probes share one ``vmap``-ed call. See
    :func:`alignkit.numerics.lanczos.operator_trace`.

    Returns
    -------
    Estimate
        ``value`` (), ``stderr`` (), ``matvecs`` = deflate + samples.
    """
    matvec, theta = _prepared_operator(model, x, y, loss, params)
    d, dt, dev = theta.shape[0], theta.dtype, theta.device
    kw = {"samples": samples, "deflate": deflate, "block_size": block_size}
    return operator_trace(matvec, d, **kw, seed=seed, dtype=dt, device=dev)


FROBENIUS_METHODS = ("auto", "exact", "stochastic")


def frobenius_norm(
    model: torch.nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    loss: str = "mse",
    method: str = "auto",
    samples: int = 100,
    block_size: int = 1,
    seed: int | torch.Generator | None = 0,
    params: Tensor | None = None,
    max_dim: int = EXPLICIT_MAX_DIM,
) -> Estimate:
    """||H||_F, the quantity the alignment bound ||H||_F <= sqrt(B / mu) / eta controls.

    Parameters
    ----------
    method : {"auto", "exact", "stochastic"}, default="auto"
        ``"exact"`` builds H (:func:`hessian_matrix`, d <= ``max_dim``); ``"stochastic"``
        estimates sqrt(E ||H z||^2) with ``samples`` Rademacher probes z;
        ``"auto"`` is exact when d <= ``max_dim`` and stochastic otherwise.
    samples, block_size, seed
        For the stochastic estimate, as in :func:`hutchinson_trace`.
    Other parameters as in :func:`hessian_vector_product`.

    Returns
    -------
    Estimate
        ``value`` (), ``stderr`` () (0 when exact), ``matvecs`` (d when exact).
    """
    method = check_choice(method, "method", FROBENIUS_METHODS)
    max_dim = check_int(max_dim, "max_dim", low=1)
    samples = check_int(samples, "samples", low=1)
    block_size = check_int(block_size, "block_size", low=1)
    if seed is not None and not isinstance(seed, torch.Generator):
        check_int(seed, "seed", low=0, high=2**63 - 1)
    matvec, theta = _prepared_operator(model, x, y, loss, params)
    d = theta.shape[0]
    if method == "exact" or (method == "auto" and d <= max_dim):
        h = hessian_matrix(model, x, y, loss=loss, params=theta, max_dim=max_dim)
        value = torch.linalg.matrix_norm(h)
        return Estimate(value, torch.zeros_like(value), d)
    dt, dev = theta.dtype, theta.device
    return operator_frobenius_norm(
        matvec, d, samples=samples, block_size=block_size, seed=seed, dtype=dt, device=dev
    )
