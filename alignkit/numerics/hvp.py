"""Hessian-vector products of a scalar function of a flat vector, by one of two routes.

``f: (d,) -> ()`` (e.g. :func:`alignkit.numerics.functional.loss_fn`) and a point theta (d,)
become a ``matvec`` v -> H v with H = nabla^2 f(theta), never forming H:

- ``"double_backward"`` (reverse over reverse): the gradient's graph
  g = grad(f)(theta) is built ONCE per operator (``create_graph=True``) and every product
  is one backward pass through it, ``H v = d(g . v)/d theta`` with ``retain_graph=True``
  (Pearlmutter 1994; the route of PyHessian). A (b, d) block is b such passes.
- ``"forward_over_reverse"``: ``jvp(grad(f), (theta,), (v,))`` through ``torch.func``; a
  (b, d) block is one ``vmap``-ed call. Nothing is built in advance.
- ``"auto"`` (default): ``"double_backward"`` on CPU, ``"forward_over_reverse"`` elsewhere.

Measured on the digits MLP of ``benchmarks/hessian.py`` (d = 50,826, n = 1797, 1 CPU thread;
``benchmarks/results/hessian.json``, "profile"): a double-backward product costs about half a
forward-over-reverse one, and about 0.6x a 16-probe ``vmap``-ed block per probe; batching the
double backward (``is_grads_batched=True``) costs about 1.8x single passes per probe. So on
CPU the retained graph wins, one vector at a time. On a GPU the batched ``vmap`` route stays
the default, as large blocks are where it should pay; no GPU was available to measure it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.func import grad, jvp, vmap

from alignkit._checks import check_choice, check_float_tensor

__all__ = ["HVP_ROUTES", "resolve_route", "hvp_operator"]

Tensor = torch.Tensor
Matvec = Callable[[Tensor], Tensor]

HVP_ROUTES = ("auto", "double_backward", "forward_over_reverse")
"""Names accepted by ``route=``; ``"auto"`` resolves per device (:func:`resolve_route`)."""


def resolve_route(route: str, device: str | torch.device) -> str:
    """The concrete route ``"auto"`` means on ``device`` (other names are returned as is).

    ``"double_backward"`` on CPU, ``"forward_over_reverse"`` on any other device.
    """
    route = check_choice(route, "route", HVP_ROUTES)
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"device must be a str or torch.device, got {type(device).__name__}")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"device must name a torch device, got {device!r}") from exc
    if route != "auto":
        return route
    return "double_backward" if dev.type == "cpu" else "forward_over_reverse"


def _forward_over_reverse(f: Callable[[Tensor], Tensor], theta: Tensor) -> Matvec:
    g = grad(f)

    def hvp(v: Tensor) -> Tensor:
        return jvp(g, (theta,), (v,))[1]

    def matvec(v: Tensor) -> Tensor:
        return vmap(hvp)(v) if v.ndim == 2 else hvp(v)

    return matvec


def _double_backward(f: Callable[[Tensor], Tensor], theta: Tensor) -> Matvec:
    th = theta.detach().requires_grad_(True)
    with torch.enable_grad():
        g = torch.autograd.grad(f(th), th, create_graph=True)[0]

    def hvp(v: Tensor) -> Tensor:
        if not g.requires_grad:  # f is at most linear in theta: H = 0
            return torch.zeros_like(v)
        (hv,) = torch.autograd.grad(g, th, grad_outputs=v, retain_graph=True, allow_unused=True)
        return torch.zeros_like(v) if hv is None else hv

    def matvec(v: Tensor) -> Tensor:
        return torch.stack([hvp(row) for row in v]) if v.ndim == 2 else hvp(v)

    return matvec


def _make(f: Callable[[Tensor], Tensor], theta: Tensor, route: str) -> Matvec:
    """The operator on checked arguments (``route`` already checked)."""
    if resolve_route(route, theta.device) == "double_backward":
        return _double_backward(f, theta)
    return _forward_over_reverse(f, theta)


def hvp_operator(f: Callable[[Tensor], Tensor], theta: Tensor, *, route: str = "auto") -> Matvec:
    """The Hessian of ``f`` at ``theta`` as a ``matvec``, (d,) -> (d,) or (b, d) -> (b, d).

    Parameters
    ----------
    f : callable, (d,) -> ()
        A scalar function, twice differentiable by autograd (and ``torch.func`` for
        ``"forward_over_reverse"``).
    theta : Tensor, shape (d,)
        Where to evaluate the Hessian: finite, floating point.
    route : {"auto", "double_backward", "forward_over_reverse"}, default="auto"
        How each product is computed (see the module docstring).

    Returns
    -------
    callable
        ``matvec(v)``: v of shape (d,) or (b, d), theta's dtype and device -> H v, same shape.
        With ``"double_backward"`` the gradient's graph is built here, once.

    Raises
    ------
    TypeError, ValueError
        ``f`` not callable, ``theta`` not a finite floating (d,) tensor, unknown ``route``.
    """
    if not callable(f):
        raise TypeError(f"f must be callable, (d,) -> (), got {type(f).__name__}")
    if not isinstance(theta, Tensor) or not theta.is_floating_point():
        raise TypeError(f"theta must be a floating-point torch.Tensor of shape (d,), got {theta!r}")
    if theta.ndim != 1 or theta.shape[0] == 0:
        raise ValueError(f"theta must have shape (d,) with d >= 1, got {tuple(theta.shape)}")
    check_float_tensor(theta, "theta")  # float32/64 (half precision: TypeError), real, finite
    check_choice(route, "route", HVP_ROUTES)
    return _make(f, theta.detach(), route)
