"""Argument checks shared by theme 2's public functions (tensors, mixtures, the toy LM).

Messages follow :mod:`alignkit._checks`: the argument's name first, then what is valid, then
the value received. Wrong types raise ``TypeError``, wrong values ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch

from alignkit._checks import check_has_data, check_shape

if TYPE_CHECKING:  # imported where used: mixture, toylm and the catalogue import this module
    from alignkit.divergences.mixture import GaussianMixture
    from alignkit.divergences.toylm import ToyLM

Tensor = torch.Tensor


def real_tensor(value: Any, name: str, *, finite: bool = False, nonempty: bool = True) -> Tensor:
    """``value`` as a real floating tensor (lists, arrays, integer and half-precision tensors
    become float64, exactly).

    Refuses (``TypeError``) None, strings, bools and bool/complex tensors; (``ValueError``)
    tensors without data (the meta device), empty tensors unless ``nonempty=False``, and
    NaN (or any non-finite entry when ``finite``).
    """
    if value is None or isinstance(value, (str, bytes, bool)):
        raise TypeError(f"{name} must be a tensor of real numbers, got {type(value).__name__}")
    t = value
    if not isinstance(t, torch.Tensor):
        try:
            t = torch.as_tensor(value, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise TypeError(
                f"{name} must be a tensor of real numbers, got {type(value).__name__}"
            ) from exc
    if t.dtype == torch.bool or t.is_complex():
        raise TypeError(f"{name} must hold real numbers, got a {t.dtype} tensor")
    check_has_data(t, name)
    if not t.is_floating_point() or t.dtype in (torch.float16, torch.bfloat16):
        t = t.to(torch.float64)  # exact: no result is computed in half precision
    if nonempty and t.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(t.shape)}")
    bad = ~torch.isfinite(t) if finite else torch.isnan(t)
    if bool(bad.any()):
        what = "finite" if finite else "real numbers (no NaN)"
        raise ValueError(f"{name} must be {what}, got {t[bad].flatten()[0].item()!r}")
    return t


def broadcast(a: Tensor, b: Tensor, names: str) -> tuple[int, ...]:
    """The broadcast shape of ``a`` and ``b``, or a ``ValueError`` naming both ("p and q")."""
    try:
        return tuple(torch.broadcast_shapes(a.shape, b.shape))
    except RuntimeError as exc:
        raise ValueError(
            f"{names} must have shapes that broadcast together, "
            f"got {tuple(a.shape)} and {tuple(b.shape)}"
        ) from exc


def check_mixture(target: Any, name: str = "target", *, dim: int | None = None) -> GaussianMixture:
    """``target`` if it is a :class:`GaussianMixture` (of dimension ``dim`` when given)."""
    from alignkit.divergences.mixture import GaussianMixture

    if not isinstance(target, GaussianMixture):
        raise TypeError(f"{name} must be a GaussianMixture, got {type(target).__name__}")
    if dim is not None and target.dim != dim:
        raise ValueError(f"{name} must be a {dim}-D GaussianMixture, got dimension {target.dim}")
    return target


def check_lm(lm: Any, name: str = "lm") -> ToyLM:
    """``lm`` if it is a :class:`ToyLM` (built by :func:`~alignkit.divergences.toylm.toy_lm`)."""
    from alignkit.divergences.toylm import ToyLM

    if not isinstance(lm, ToyLM):
        raise TypeError(f"{name} must be a ToyLM (from toy_lm()), got {type(lm).__name__}")
    return lm


def per_sequence(value: Any, name: str, lm: ToyLM, *, rows: bool = True) -> Tensor:
    """A real tensor with one entry per enumerated sequence: shape (N,), or (S, N) if ``rows``
    (``-inf`` allowed, NaN refused)."""
    t = real_tensor(value, name)
    n = lm.n_sequences
    ok = t.shape[-1:] == (n,) and (t.ndim == 1 or (rows and t.ndim == 2))
    check_shape(t.shape, name, f"({n},) or (S, {n})" if rows else f"({n},)", ok)
    return t


def check_divs(divs: Any, name: str = "divs") -> list[Any]:
    """A non-empty sequence of :class:`~alignkit.divergences.catalogue.Divergence`."""
    from alignkit.divergences.catalogue import Divergence

    if isinstance(divs, (str, bytes)) or not isinstance(divs, Sequence):
        raise TypeError(
            f"{name} must be a sequence of Divergence objects (from get()), got "
            f"{type(divs).__name__} {divs!r:.60}"
        )
    if len(divs) == 0:
        raise ValueError(f"{name} must hold at least one Divergence, got an empty sequence")
    for d in divs:
        if not isinstance(d, Divergence):
            raise TypeError(
                f"{name} must hold Divergence objects (from get()), got {type(d).__name__}"
            )
    return list(divs)


def check_names(values: Any, name: str, choices: Sequence[str]) -> tuple[str, ...]:
    """A non-empty tuple of names, each one of ``choices`` (a bare string is refused)."""
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, tuple)):
        raise TypeError(
            f"{name} must be a non-empty tuple of names from {sorted(choices)}, "
            f"got {type(values).__name__} {values!r:.60}"
        )
    if len(values) == 0:
        raise ValueError(f"{name} must be a non-empty tuple of names from {sorted(choices)}")
    for v in values:
        if not isinstance(v, str):
            raise TypeError(f"{name} must hold names (str) from {sorted(choices)}, got {v!r}")
        if v not in choices:
            raise ValueError(f"{name} must hold names from {sorted(choices)}, got {v!r}")
    return tuple(values)


def check_callback(value: Any, name: str = "progress") -> Callable[..., Any] | None:
    """``value`` if it is None or callable."""
    if value is not None and not callable(value):
        raise TypeError(
            f"{name} must be None or a callable (step, total), got {type(value).__name__}"
        )
    return value
