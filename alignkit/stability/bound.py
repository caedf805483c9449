"""The linear-stability bound on the Gauss–Newton norm from the alignment factor μ.

A mean-square stable minimum has η² p μ ‖H‖_F² ≤ 1, i.e. ‖H‖_F ≤ (1/η) √(B/μ) with
replacement (Wu, Wang & Su, NeurIPS 2022), where μ must be a lower bound of μ over the
directions of θ − θ* (μ_min of :mod:`alignkit.stability.alignment_range`). μ itself is
measured by :mod:`alignkit.stability.noise` (which re-exports these names). Taught in
notebook 02.
"""

from __future__ import annotations

import torch

from alignkit._checks import check_bool, check_int, check_integer_valued, check_numeric

__all__ = ["alignment_bound", "alignment_ratio"]


def _setting(value: float | torch.Tensor, name: str) -> torch.Tensor:
    """A setting (lr, batch size): finite and > 0 everywhere, else ValueError."""
    check_numeric(value, name)
    t = torch.as_tensor(value)
    t = t if t.is_floating_point() else t.to(torch.get_default_dtype())
    bad = ~torch.isfinite(t) | (t <= 0)
    if bool(bad.any()):
        raise ValueError(f"{name} must be in (0, inf), got {t[bad].flatten()[0].item():g}")
    return t


def _measurement(value: float | torch.Tensor, name: str) -> torch.Tensor:
    """A measured quantity (mu, norm): NaN passes through (diverged runs), < 0 raises."""
    check_numeric(value, name)
    t = torch.as_tensor(value)
    t = t if t.is_floating_point() else t.to(torch.get_default_dtype())
    bad = t < 0
    if bool(bad.any()):
        raise ValueError(f"{name} must be in [0, inf], got {t[bad].flatten()[0].item():g}")
    return t


def alignment_bound(
    mu: float | torch.Tensor,
    lr: float | torch.Tensor,
    batch_size: int | torch.Tensor,
    *,
    n: int | None = None,
    replacement: bool = True,
) -> torch.Tensor:
    """Largest ‖H‖_F a mean-square stable minimum can have: 1 / (η √(p μ)).

    With replacement p = 1/B and this is the paper's ‖H‖_F ≤ (1/η) √(B/μ). Without
    replacement p = (n − B) / (B (n − 1)) ≤ 1/B, so the bound is looser (infinite for
    full-batch GD, B = n, where only λ_max ≤ 2/η remains).

    Derivation (linearized SGD, S_t = E[x_t x_tᵀ]): Tr(H S_{t+1}) ≥ η² p E Tr(Σ₁ G)
    ≥ η² p μ ‖H‖_F² Tr(H S_t) when μ ≤ μ(x) for every direction x (e.g. μ = μ_min of
    :func:`alignkit.stability.alignment_range.alignment_range`), so E[2L] can only stay
    bounded if η² p μ ‖H‖_F² ≤ 1.

    Parameters
    ----------
    mu : float or Tensor, shape (S,)
        Alignment factor, >= 0 (NaN passes through, e.g. for diverged runs).
    lr : float or Tensor, shape (S,)
        Learning rate η > 0.
    batch_size : int or Tensor, shape (S,)
        B >= 1 (and <= n).
    n : int, optional
        Number of samples; required when ``replacement=False``.
    replacement : bool, default=True

    Returns
    -------
    Tensor, shape (S,) (broadcast of the inputs)

    Raises
    ------
    ValueError
        Non-positive ``mu``, ``lr`` or ``batch_size``, ``batch_size > n``, or missing ``n``.
    """
    mu_t = _measurement(mu, "mu")
    lr_t = _setting(lr, "lr")
    b = _setting(batch_size, "batch_size")
    check_integer_valued(b, "batch_size")
    replacement = check_bool(replacement, "replacement")
    if bool((b < 1).any()):
        raise ValueError(f"batch_size must be >= 1, got {b[b < 1].flatten()[0].item():g}")
    if replacement:
        p = 1.0 / b
    else:
        if n is None:
            raise ValueError("n must be given when replacement=False (p depends on n)")
        n = check_int(n, "n", low=2)
        if bool((b > n).any()):
            raise ValueError(
                f"batch_size must be in [1, {n}], got {b[b > n].flatten()[0].item():g}"
            )
        p = (n - b) / (b * (n - 1))
    return 1.0 / (lr_t * torch.sqrt(p * mu_t))


def alignment_ratio(
    gn_frobenius: float | torch.Tensor,
    lr: float | torch.Tensor,
    batch_size: int | torch.Tensor,
) -> torch.Tensor:
    """‖H‖_F η / √B: the bound (with replacement) says this is at most 1/√μ.

    Shapes ``(S,), (S,), (S,) -> (S,)``.
    """
    fro = _measurement(gn_frobenius, "gn_frobenius")
    lr_t = _setting(lr, "lr")
    b = _setting(batch_size, "batch_size")
    check_integer_valued(b, "batch_size")
    if bool((b < 1).any()):
        raise ValueError(f"batch_size must be >= 1, got {b[b < 1].flatten()[0].item():g}")
    return fro * lr_t / torch.sqrt(b)
