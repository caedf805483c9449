"""A model and its data as a pure function of the flat parameter vector theta (d,).

The plumbing under :mod:`alignkit.numerics.hessian`: loss conventions, flattening a
module's trainable parameters, input validation, and ``loss_fn(model, x, y)``.

Loss convention: L(theta) = (1/n) sum_i l_i(theta) with ``"mse"``: l_i = 1/2 ||f(x_i) - y_i||^2
(summed over outputs) and ``"cross_entropy"``: l_i = -log softmax(f(x_i))[y_i].
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.func import functional_call

from alignkit._checks import check_choice, check_shape

__all__ = ["LOSSES", "flat_params", "loss_fn"]

Tensor = torch.Tensor


def _half_squared_error(out: Tensor, y: Tensor) -> Tensor:
    if out.shape != y.shape:
        hint = " (reshape y to (n, 1))" if out.shape == (*y.shape, 1) else ""
        raise ValueError(
            f"y must have the model output's shape {tuple(out.shape)} for loss='mse', "
            f"got {tuple(y.shape)}{hint}"
        )
    return 0.5 * (out - y).pow(2).reshape(out.shape[0], -1).sum(1)


def _cross_entropy(out: Tensor, y: Tensor) -> Tensor:
    if out.ndim != 2 or y.shape != out.shape[:1]:
        raise ValueError(
            "loss='cross_entropy' needs model outputs of shape (n, C) and integer labels y "
            f"of shape (n,), got outputs {tuple(out.shape)} and y {tuple(y.shape)}"
        )
    return F.cross_entropy(out, y, reduction="none")


LOSSES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "mse": _half_squared_error,
    "cross_entropy": _cross_entropy,
}
"""Per-sample losses, ``(outputs (n, ...), y (n, ...)) -> (n,)``."""


def _spec(model: torch.nn.Module) -> list[tuple[str, torch.Size]]:
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    spec = [(name, p.shape) for name, p in model.named_parameters() if p.requires_grad]
    if not spec:
        raise ValueError("model must have at least one parameter with requires_grad=True")
    return spec


def flat_params(model: torch.nn.Module) -> Tensor:
    """The model's trainable parameters as one detached vector, shape (d,).

    Order: ``model.named_parameters()``, each tensor flattened row-major.
    """
    _spec(model)
    params = [p for _, p in model.named_parameters() if p.requires_grad]
    if len({(p.dtype, p.device) for p in params}) > 1:
        raise ValueError("model parameters must share one dtype and device (call model.to(...))")
    return torch.cat([p.detach().reshape(-1) for p in params])


def _unflatten(spec: list[tuple[str, torch.Size]], theta: Tensor) -> dict[str, Tensor]:
    sizes = [s.numel() for _, s in spec]
    return {name: c.view(s) for (name, s), c in zip(spec, theta.split(sizes), strict=True)}


def _prepare(
    model: torch.nn.Module, x: Tensor, y: Tensor, loss: str, params: Tensor | None
) -> tuple[list[tuple[str, torch.Size]], Tensor]:
    """Validate the public inputs once; return the parameter spec and theta (d,)."""
    check_choice(loss, "loss", LOSSES)
    spec = _spec(model)
    own = flat_params(model)
    d = sum(s.numel() for _, s in spec)
    if params is None:
        theta = own
    else:
        if not isinstance(params, Tensor):
            raise TypeError(f"params must be a torch.Tensor of shape ({d},), got {params!r}")
        theta = params.detach()
        check_shape(tuple(theta.shape), "params", f"({d},)", theta.shape == (d,))
        if theta.dtype != own.dtype or theta.device != own.device:
            raise ValueError(
                f"params must have the model's dtype {own.dtype} and device {own.device}, "
                f"got {theta.dtype} on {theta.device}"
            )
        if not bool(torch.isfinite(theta).all()):
            raise ValueError("params must be finite (got NaN or inf entries)")
    for name, t in (("x", x), ("y", y)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.device != theta.device:
            raise ValueError(
                f"{name} must be on the model's device {theta.device}, got {t.device} "
                f"(use {name}.to(device))"
            )
    check_shape(tuple(x.shape), "x", "(n, ...) with n >= 1", x.ndim >= 1 and x.shape[0] >= 1)
    check_shape(
        tuple(y.shape), "y", f"({x.shape[0]}, ...)", y.ndim >= 1 and y.shape[0] == x.shape[0]
    )
    if x.is_floating_point() and x.dtype != theta.dtype:
        raise ValueError(f"x must have the model's dtype {theta.dtype}, got {x.dtype}")
    for name, t in (("x", x), ("y", y)):
        if t.dtype == torch.bool or t.is_complex():
            raise TypeError(f"{name} must hold real numbers or integer labels, got {t.dtype}")
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} must be finite (got NaN or inf entries)")
    if loss == "cross_entropy" and y.is_floating_point():
        raise ValueError(
            f"y must hold integer class labels for loss='cross_entropy', got {y.dtype}"
        )
    try:  # one sample through the model: a shape mismatch is named here, not deep in torch
        with torch.no_grad():
            out = functional_call(model, _unflatten(spec, theta), (x[:1],))
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        raise ValueError(
            f"x of shape {tuple(x.shape)} does not fit the model (one sample failed: {exc})"
        ) from exc
    LOSSES[loss](out, y[:1])  # names y when its shape does not match the outputs
    return spec, theta


def _closure(
    model: torch.nn.Module, spec: list[tuple[str, torch.Size]], x: Tensor, y: Tensor, loss: str
) -> Callable[[Tensor], Tensor]:
    per_sample = LOSSES[loss]

    def f(theta: Tensor) -> Tensor:
        out = functional_call(model, _unflatten(spec, theta), (x,))
        return per_sample(out, y).mean()

    return f


def loss_fn(
    model: torch.nn.Module, x: Tensor, y: Tensor, *, loss: str = "mse"
) -> Callable[[Tensor], Tensor]:
    """The training loss as a pure function of the flat parameters.

    Parameters
    ----------
    model : torch.nn.Module
        Any module; its trainable parameters become theta (see :func:`flat_params`).
    x : Tensor, shape (n, ...)
        Inputs, on the model's device and dtype.
    y : Tensor, shape (n, ...)
        Targets: the output's shape for ``"mse"``, integer labels (n,) for ``"cross_entropy"``.
    loss : {"mse", "cross_entropy"}, default="mse"
        Per-sample loss from :data:`LOSSES` (``"mse"`` is 1/2 ||f - y||^2).

    Returns
    -------
    callable
        ``f(theta)``, (d,) -> (), the mean loss; differentiable with ``torch.func``.

    Raises
    ------
    ValueError
        On an unknown ``loss`` or inputs of the wrong shape, device or dtype.
    """
    spec, _ = _prepare(model, x, y, loss, None)
    return _closure(model, spec, x, y, loss)
