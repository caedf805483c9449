"""Hessians of a network's training loss through ``torch.func`` (theme 1).

One design throughout: a model and its data become a pure function of the *flat* parameter
vector theta of shape (d,) (``loss_fn``), and every Hessian product goes through
:func:`alignkit.numerics.hvp.hvp_operator`: ``route="auto"`` picks a double backward on a
retained gradient graph (built once per call) on CPU and forward-over-reverse
``jvp(grad(f))``, ``vmap``-ed over blocks, elsewhere. Nothing of size d x d is ever built
except by the two explicit helpers for small models (always forward-over-reverse). The
matrix-free algorithms (Lanczos, power iteration, Hutchinson) live in
:mod:`alignkit.numerics.lanczos` and :mod:`alignkit.numerics.trace` and work on any
``matvec``; :func:`top_eigenvalues_and_trace` shares one Lanczos run between the two.

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
from torch.func import functional_call, hessian, vmap

from alignkit._checks import check_choice, check_int, check_shape
from alignkit.numerics.functional import (
    LOSSES,
    _closure,
    _prepare,
    _unflatten,
    flat_params,
    loss_fn,
)
from alignkit.numerics.hvp import HVP_ROUTES, _make
from alignkit.numerics.lanczos import (
    EigenResult,
    Estimate,
    NonFiniteProduct,
    operator_top_eigenvalues,
)
from alignkit.numerics.trace import (
    MAX_PROBES,
    operator_frobenius_norm,
    operator_top_eigenvalues_and_trace,
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
    "top_eigenvalues_and_trace",
    "frobenius_norm",
]

Tensor = torch.Tensor
Matvec = Callable[[Tensor], Tensor]

EXPLICIT_MAX_DIM = 4096
"""Largest d for which the explicit d x d Hessian is built by default (128 MiB in float64)."""


def _prepared_operator(
    model: torch.nn.Module,
    x: Tensor,
    y: Tensor,
    loss: str,
    params: Tensor | None,
    route: str = "forward_over_reverse",
) -> tuple[Matvec, Tensor]:
    route = check_choice(route, "route", HVP_ROUTES)
    spec, theta = _prepare(model, x, y, loss, params)
    return _make(_closure(model, spec, x, y, loss), theta, route), theta


def hessian_operator(
    model: torch.nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    loss: str = "mse",
    params: Tensor | None = None,
    route: str = "auto",
) -> Matvec:
    """The Hessian of the training loss as a ``matvec``, (d,) -> (d,) or (b, d) -> (b, d).

    ``route`` (``"auto"``, ``"double_backward"``, ``"forward_over_reverse"``) picks how each
    product is computed (:func:`alignkit.numerics.hvp.hvp_operator`; ``"auto"``: a double
    backward on a gradient graph built here once, on CPU). Pass it to the ``operator_*``
    functions of :mod:`alignkit.numerics.lanczos` and :mod:`alignkit.numerics.trace`.
    ``params`` (d,) evaluates at theta other than the model's current parameters.
    Other arguments as in :func:`loss_fn`.
    """
    return _prepared_operator(model, x, y, loss, params, route)[0]


def hessian_vector_product(
    model: torch.nn.Module,
    x: Tensor,
    y: Tensor,
    v: Tensor,
    *,
    loss: str = "mse",
    params: Tensor | None = None,
    route: str = "auto",
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
    route : {"auto", "double_backward", "forward_over_reverse"}, default="auto"
        How the product is computed (:func:`alignkit.numerics.hvp.hvp_operator`).

    Returns
    -------
    Tensor, shape of ``v``
        ``(d,) -> (d,)`` or ``(b, d) -> (b, d)``.

    Raises
    ------
    ValueError
        If ``v`` is not of shape (d,) or (b, d), or as in :func:`loss_fn`.
    """
    route = check_choice(route, "route", HVP_ROUTES)
    spec, theta = _prepare(model, x, y, loss, params)
    d = theta.shape[0]
    if not isinstance(v, Tensor):
        raise TypeError(f"v must be a torch.Tensor of shape ({d},) or (b, {d}), got {v!r}")
    ok = v.ndim in (1, 2) and v.shape[-1] == d and v.shape[0] >= 1 and v.device == theta.device
    check_shape(tuple(v.shape), "v", f"({d},) or (b, {d}) with b >= 1, on {theta.device}", ok)
    if v.dtype == torch.bool or v.is_complex() or not bool(torch.isfinite(v).all()):
        raise ValueError(f"v must hold finite real numbers, got a {v.dtype} tensor with NaN/inf")
    return _make(_closure(model, spec, x, y, loss), theta, route)(v.to(theta.dtype))


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
    route: str = "auto",
) -> EigenResult:
    """The k largest Hessian eigenvalues (``values[0]`` is the sharpness a), matrix-free.

    Lanczos (default) or power iteration on :func:`hessian_operator`; see
    :func:`alignkit.numerics.lanczos.operator_top_eigenvalues` for ``k``, ``method``,
    ``iters``, ``tol`` (residual ||Hu - lambda u|| <= tol |lambda|) and ``seed``, and
    :func:`hessian_operator` for ``route``.

    Returns
    -------
    EigenResult
        ``values`` (k,), ``vectors`` (k, d), ``residuals`` (k,), ``matvecs``, ``converged``.
    """
    matvec, theta = _prepared_operator(model, x, y, loss, params, route)
    d, dt, dev = theta.shape[0], theta.dtype, theta.device
    try:
        return operator_top_eigenvalues(
            matvec, d, k=k, method=method, iters=iters, tol=tol, seed=seed, dtype=dt, device=dev
        )
    except NonFiniteProduct as exc:
        raise ValueError(
            f"x, y and the model's parameters give Hessian products that overflow {dt} "
            "(inf or NaN): rescale the data or the model"
        ) from exc


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
    route: str = "auto",
) -> Estimate:
    """Tr(H) by Hutchinson's estimator with Rademacher probes, matrix-free.

    ``deflate = m`` first spends m Lanczos steps and treats that subspace exactly
    (unbiased, lower variance); ``block_size`` probes share one ``matvec`` call. See
    :func:`alignkit.numerics.trace.operator_trace`, and :func:`hessian_operator` for
    ``route``. To get the top eigenvalues as well, :func:`top_eigenvalues_and_trace` shares
    their Lanczos vectors with the deflation.

    Returns
    -------
    Estimate
        ``value`` (), ``stderr`` (), ``matvecs`` = deflate + samples.
    """
    matvec, theta = _prepared_operator(model, x, y, loss, params, route)
    d, dt, dev = theta.shape[0], theta.dtype, theta.device
    kw = {"samples": samples, "deflate": deflate, "block_size": block_size}
    return operator_trace(matvec, d, **kw, seed=seed, dtype=dt, device=dev)


def top_eigenvalues_and_trace(
    model: torch.nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    loss: str = "mse",
    k: int = 1,
    iters: int = 100,
    tol: float = 1e-4,
    samples: int = 100,
    deflate: int = 0,
    block_size: int = 1,
    seed: int | torch.Generator | None = 0,
    params: Tensor | None = None,
    route: str = "auto",
) -> tuple[EigenResult, Estimate]:
    """The k largest Hessian eigenvalues and Tr(H) from one operator and one Lanczos run.

    The Lanczos vectors found for the eigenvalues (at least ``deflate`` of them) deflate the
    Hutchinson trace estimate, so the trace costs ``samples`` products beyond the eigen-solve
    (:func:`alignkit.numerics.trace.operator_top_eigenvalues_and_trace`, which documents
    ``k``, ``iters``, ``tol``, ``samples``, ``deflate``, ``block_size`` and ``seed``; the
    other arguments are as in :func:`top_eigenvalues`).

    Returns
    -------
    eigen : EigenResult
        ``values`` (k,), ``vectors`` (k, d), ``residuals`` (k,); ``matvecs`` = Lanczos steps.
    trace : Estimate
        ``value`` (), ``stderr`` (); ``matvecs`` = ``samples`` (total: the sum of both).
    """
    matvec, theta = _prepared_operator(model, x, y, loss, params, route)
    d, dt, dev = theta.shape[0], theta.dtype, theta.device
    kw = {"samples": samples, "deflate": deflate, "block_size": block_size}
    return operator_top_eigenvalues_and_trace(
        matvec, d, k=k, iters=iters, tol=tol, **kw, seed=seed, dtype=dt, device=dev
    )


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
    route: str = "auto",
) -> Estimate:
    """||H||_F, the quantity the alignment bound ||H||_F <= sqrt(B / mu) / eta controls.

    Parameters
    ----------
    method : {"auto", "exact", "stochastic"}, default="auto"
        ``"exact"`` builds H (:func:`hessian_matrix`, d <= ``max_dim``); ``"stochastic"``
        estimates sqrt(E ||H z||^2) with ``samples`` Rademacher probes z;
        ``"auto"`` is exact when d <= ``max_dim`` and stochastic otherwise.
    samples, block_size, seed, route
        For the stochastic estimate, as in :func:`hutchinson_trace`.
    Other parameters as in :func:`hessian_vector_product`.

    Returns
    -------
    Estimate
        ``value`` (), ``stderr`` () (0 when exact), ``matvecs`` (d when exact).
    """
    method = check_choice(method, "method", FROBENIUS_METHODS)
    max_dim = check_int(max_dim, "max_dim", low=1)
    samples = check_int(samples, "samples", low=1, high=MAX_PROBES)
    block_size = check_int(block_size, "block_size", low=1)
    route = check_choice(route, "route", HVP_ROUTES)
    if seed is not None and not isinstance(seed, torch.Generator):
        check_int(seed, "seed", low=0, high=2**63 - 1)
    spec, theta = _prepare(model, x, y, loss, params)
    d = theta.shape[0]
    if method == "exact" or (method == "auto" and d <= max_dim):
        h = hessian_matrix(model, x, y, loss=loss, params=theta, max_dim=max_dim)
        value = torch.linalg.matrix_norm(h)
        return Estimate(value, torch.zeros_like(value), d)
    matvec = _make(_closure(model, spec, x, y, loss), theta, route)
    dt, dev = theta.dtype, theta.device
    return operator_frobenius_norm(
        matvec, d, samples=samples, block_size=block_size, seed=seed, dtype=dt, device=dev
    )
