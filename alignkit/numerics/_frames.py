"""Start frames of :func:`alignkit.numerics.ode.lyapunov_qr`: orthonormal columns, validated.

A frame is ``(D, k)`` (the same for every sample) or ``(N, D, k)`` (one per sample); its
columns are the directions Benettin's QR method follows. Over a finite time the method's
exponents depend on this choice (started at the right singular vectors of the flow-map
Jacobian, they are its singular values' logs: the SVD's exponents).
"""

from __future__ import annotations

import torch

from alignkit._checks import check_float_tensor, check_shape

__all__ = ["start_frame"]


def start_frame(
    frame: torch.Tensor | None, n: int, dim: int, k: int | None, like: torch.Tensor
) -> torch.Tensor:
    """The validated start frame ``(D, k)`` or ``(N, D, k)``, in ``like``'s dtype and device.

    ``None``: the first ``k`` standard basis vectors (``k`` default ``dim``). A given frame
    must have ``D = dim`` rows, ``N = n`` samples when it is 3-D, ``k`` (if given) columns,
    finite entries, and orthonormal columns (``QᵀQ = I`` within 1e-4 when the frame or
    ``like`` is float32, else 1e-8); otherwise a ``ValueError`` naming ``frame``
    (``TypeError`` for a non-tensor).
    """
    if frame is None:
        return torch.eye(dim, dim if k is None else k, dtype=like.dtype, device=like.device)
    frame = check_float_tensor(frame, "frame")
    want = f"(D, k) or (N, D, k) with D = {dim}, N = {n}, 1 <= k <= D"
    ok = frame.ndim in (2, 3) and frame.shape[-2] == dim and 1 <= frame.shape[-1] <= dim
    check_shape(tuple(frame.shape), "frame", want, ok and (frame.ndim == 2 or len(frame) == n))
    if k is not None and frame.shape[-1] != k:
        raise ValueError(f"k = {k} must equal the frame's columns, frame has {frame.shape[-1]}")
    single = torch.float32 in (frame.dtype, like.dtype)  # the less precise of the two
    frame = frame.detach().to(dtype=like.dtype, device=like.device)
    gram = frame.transpose(-1, -2) @ frame
    eye = torch.eye(frame.shape[-1], dtype=gram.dtype, device=gram.device)
    err = float((gram - eye).abs().max())
    tol = 1e-4 if single else 1e-8
    if err > tol:
        raise ValueError(
            f"frame must have orthonormal columns (|QᵀQ − I| <= {tol:g}), got an error of {err:.3g}"
        )
    return frame
