"""Inputs of the linear-stability computations: per-sample Hessians, learning rates, batch
sizes, the sampling factor p and the reduction to the range of H (private helpers shared by
:mod:`alignkit.stability.theory`, :mod:`alignkit.stability.conditions` and the simulators).
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch

from alignkit._checks import check_has_data, check_int, check_shape, check_values

#: largest η of the closed-form 1-D test: η² must stay a finite float (every such η diverges).
LR_MAX_1D = 1e150
#: smallest η of the region boundary, whose sharpness axis ends at 2/η (must stay finite).
LR_MIN_1D = 1e-150

#: largest η · max_i ‖H_i‖_F accepted (every such η diverges): near 1e100 η² D overflows
#: float64 in the matrix-free iteration (measured: NaN at 1e99, rank 60), so 1e50 keeps margin.
LR_SCALE_LIMIT = 1e50


def _tensor(value: torch.Tensor, name: str) -> torch.Tensor:
    """A real tensor from ``value`` (bools, complex numbers and non-numbers are a TypeError)."""
    try:
        t = value if isinstance(value, torch.Tensor) else torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise TypeError(f"{name} must be a real tensor, got {type(value).__name__}") from exc
    if t.dtype == torch.bool or t.is_complex():
        raise TypeError(f"{name} must hold real numbers, got a {t.dtype} tensor")
    return check_has_data(t, name)


def _as_hessians(per_sample_hessians: torch.Tensor) -> torch.Tensor:
    h = _tensor(per_sample_hessians, "per_sample_hessians")
    check_shape(
        tuple(h.shape), "per_sample_hessians", "(n, d, d)", h.ndim == 3 and h.shape[1] == h.shape[2]
    )
    if h.shape[0] < 1 or h.shape[1] < 1:
        raise ValueError(f"per_sample_hessians must have n >= 1 and d >= 1, got {tuple(h.shape)}")
    if not bool(torch.isfinite(h).all()):
        raise ValueError("per_sample_hessians must be finite (got NaN or inf entries)")
    h = h.to(torch.float64)
    scale = float(h.abs().max()) or 1.0
    asym = float((h - h.transpose(1, 2)).abs().max())
    if asym > 1e-6 * scale:
        raise ValueError(
            f"per_sample_hessians must be symmetric matrices, H_i = H_iᵀ "
            f"(got max |H_i − H_iᵀ| = {asym:.3g})"
        )
    given = per_sample_hessians.dtype if isinstance(per_sample_hessians, torch.Tensor) else None
    _check_psd(h, given if given is not None and given.is_floating_point else torch.float64)
    return h


#: how far below 0 an eigenvalue of an H_i may round, as a fraction of max_i ‖H_i‖_F: at
#: least PSD_RTOL, and PSD_EPS · d machine epsilons of the dtype the Hessians came in (an
#: outer product x xᵀ rounds its zero eigenvalues to about 1e-16 of ‖x‖² in float64, 1e-7 in
#: float32)
PSD_RTOL, PSD_EPS = 1e-10, 50.0
#: fingerprints of per-sample Hessians already found PSD (most recent last), so that an
#: explorer's compute, which passes the same Hessians on every move (often as a new
#: tensor), pays the check once: a Cholesky factorisation per H_i, 92 ms at n = 40, d = 400
#: on one core, against about 1 ms for the fingerprint
_FOUND_PSD: OrderedDict[tuple[object, ...], None] = OrderedDict()
_FOUND_SIZE = 64


def _fingerprint(h: torch.Tensor, dtype: torch.dtype) -> tuple[object, ...]:
    """Shape, dtype and three sums of ``h`` (n, d, d) float64: any edit changes them (by
    value, not by identity: an edit through ``.data``, NumPy or a shared storage too)."""
    n, d = h.shape[0], h.shape[1]
    w_n = torch.arange(1, n + 1, dtype=h.dtype, device=h.device)
    w_d = torch.arange(1, d + 1, dtype=h.dtype, device=h.device)
    weighted = (h * w_n[:, None, None] * w_d[None, :, None] + h * w_d).sum()
    return (tuple(h.shape), dtype, float(h.sum()), float((h * h).sum()), float(weighted))


def _check_psd(h: torch.Tensor, dtype: torch.dtype) -> None:
    """:func:`_psd_or_raise` on ``h`` (float64, from ``dtype``), once per content."""
    key = _fingerprint(h, dtype)
    if key in _FOUND_PSD:
        _FOUND_PSD.move_to_end(key)
        return
    _psd_or_raise(h, dtype)
    _FOUND_PSD[key] = None
    while len(_FOUND_PSD) > _FOUND_SIZE:
        _FOUND_PSD.popitem(last=False)


def _psd_or_raise(h: torch.Tensor, dtype: torch.dtype = torch.float64) -> None:
    """Refuse per-sample Hessians with an H_i that is not positive semi-definite.

    The analysis is that of a global minimum, where every H_i ⪰ 0 (Gauss–Newton); with an
    indefinite or negative H_i its reduction to the range of H drops directions that grow
    and the numbers are wrong. Test: a Cholesky factorisation of each H_i / s + δ I (s the
    largest entry, δ = max(:data:`PSD_RTOL`, :data:`PSD_EPS` · d · eps(``dtype``)) ·
    max_i ‖H_i / s‖_F); on failure the smallest eigenvalue is reported.
    """
    top = float(h.abs().amax())
    if top == 0.0:
        return
    hs = h / top
    rtol = max(PSD_RTOL, PSD_EPS * h.shape[-1] * torch.finfo(dtype).eps)
    tol = rtol * float(torch.linalg.matrix_norm(hs).amax())
    eye = torch.eye(h.shape[-1], dtype=h.dtype, device=h.device)
    _, info = torch.linalg.cholesky_ex(hs + tol * eye)
    if not bool((info != 0).any()):
        return
    low = torch.linalg.eigvalsh(hs).amin(-1)  # (n,)
    i = int(torch.argmin(low))
    raise ValueError(
        "per_sample_hessians must be positive semi-definite, every H_i ⪰ 0 (the Hessians "
        f"of a global minimum), got H_{i} with smallest eigenvalue {float(low[i]) * top:.3g} "
        f"(its largest |entry| {top:.3g})"
    )


def _reduce(h: torch.Tensor, rtol: float = 1e-9) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample Hessians in the eigenbasis of the range of H: (n, r, r) and eigenvalues (r,)."""
    h = h.to(torch.float64)
    evals, evecs = torch.linalg.eigh(h.mean(0))
    keep = evals > rtol * max(float(evals[-1]), 0.0)
    if not bool(keep.any()):
        return h.new_zeros((h.shape[0], 0, 0)), evals[:0]
    basis = evecs[:, keep]
    return basis.T @ h @ basis, evals[keep]


def _normalised(h: torch.Tensor) -> tuple[torch.Tensor, float]:
    """``h / s`` and ``s``, a power of two near the largest ‖H_i‖_F (1 for zero Hessians).

    Every stability quantity depends on η and H through η H only, so a routine can work on
    H / s with η s (thresholds: η*(H) = η*(H / s) / s). Hessians of 1e±200 then neither
    overflow in H ⊗ H nor fall under LAPACK's thresholds. A power of two scales exactly:
    on random full-rank PSD Hessians (the explicit route) the numbers are the same as
    without it, bit for bit; on notebook 01's regression Hessians (the low-rank secular
    route, whose Newton iteration stops on a tolerance) they agree to 3e-14.
    """
    top, norm = _largest(h)
    if top == 0.0:
        return h, 1.0
    # (a norm beyond float64, of entries near its largest: the largest entry instead; 2^1023
    # is the largest power of two float64 holds)
    power = min(round(math.log2(norm if math.isfinite(norm) else top)), 1023)
    scale = math.ldexp(1.0, power)
    return (h / scale, scale) if scale != 1.0 else (h, 1.0)


def _largest(h: torch.Tensor) -> tuple[float, float]:
    """The largest |entry| and the largest ‖H_i‖_F of ``h`` (0, 0 when empty or zero); the
    norm is taken of h / (largest entry), so its squares do not overflow: it is inf only
    when the norm itself is beyond float64."""
    top = float(h.abs().amax()) if h.numel() else 0.0
    if top == 0.0:
        return 0.0, 0.0
    return top, top * float(torch.linalg.matrix_norm(h / top).max())


def _check_lrs(
    lrs: torch.Tensor | float, h: torch.Tensor | None = None, name: str = "lr"
) -> torch.Tensor:
    """Learning rates as a float64 vector (G,): finite, > 0 and, given the Hessians h,
    small enough that η² D does not overflow (η · max_i ‖H_i‖_F <= ``LR_SCALE_LIMIT``)."""
    t = check_values(lrs, name, low=0.0, closed="neither").reshape(-1)
    if h is not None:
        top, scale = _largest(h)
        if not math.isfinite(scale):  # ‖H_i‖_F itself beyond float64: no η fits
            raise ValueError(
                f"per_sample_hessians must have Frobenius norms below float64's 1.8e308 "
                f"(then {name} can be checked against them), got entries up to {top:.3g}"
            )
        if scale > 0 and float(t.max()) * scale > LR_SCALE_LIMIT:
            limit = LR_SCALE_LIMIT / scale
            raise ValueError(
                f"{name} must be in (0, {limit:.3g}] for these Hessians (η · max ‖H_i‖_F <= "
                f"{LR_SCALE_LIMIT:g}; larger η overflow float64 and diverge anyway), "
                f"got {float(t.max()):g}"
            )
    return t


def _batch_sizes(batch_sizes: torch.Tensor | list[int] | int, high: int | None) -> list[int]:
    """A non-empty list of integer batch sizes (1.5, bools and strings are a TypeError)."""
    if isinstance(batch_sizes, (str, bytes, bool)):
        raise TypeError(f"batch_sizes must be integers >= 1, got {batch_sizes!r}")
    if isinstance(batch_sizes, torch.Tensor):
        if batch_sizes.dtype == torch.bool or batch_sizes.is_complex():
            raise TypeError(f"batch_sizes must be integers >= 1, got a {batch_sizes.dtype} tensor")
        values = batch_sizes.reshape(-1).tolist()
    elif hasattr(batch_sizes, "__iter__"):
        values = list(batch_sizes)
    else:
        values = [batch_sizes]
    if not values:
        raise ValueError("batch_sizes must hold at least one integer batch size >= 1, got []")
    return [check_int(b, "batch_sizes", low=1, high=high) for b in values]
