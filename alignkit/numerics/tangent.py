"""Fields that carry their own tangents: hand-written forward mode, batched, no autograd.

The generic route of :mod:`alignkit.numerics.ode` lifts a single-sample field with
``vmap(jacfwd(step))``: it works for any field but builds a Jacobian per stage through
``torch.func``. A :class:`TangentField` also knows its Jacobian–vector products: the
*stacked* state ``s`` of shape ``(1 + k, N, D)`` holds the points ``s[0]`` and ``k`` tangent
vectors ``s[1:]`` of every sample, and ``field.tangent(s, t)`` returns ``[v(s[0]),
Dv(s[0])·s[1], …, Dv(s[0])·s[k]]``. Every explicit Runge–Kutta step is a linear combination
of field values, so the solver's step applied to this stacked system is exactly the step
together with its Jacobian applied to the tangents (forward mode by hand).

:class:`MLPField` is ``v(x, t) = scale(t) · MLP([x, feature(t)]) + offset(t)`` with SiLU
hidden layers: the points and the tangents go through ONE matrix product per layer
(``(1 + k) N`` rows), the activation's derivative σ'(h) = s + h(s − s²) (s = s(h) the
logistic function, computed once) scales the tangent rows, and autograd records nothing.

:func:`tangent_frames` runs a solver on the stacked system in sample chunks that fit the CPU
cache, re-orthonormalising the tangents by Gram–Schmidt (``qr=True``, small k) or
``torch.linalg.qr`` (larger k), or keeping them as a Jacobian (``qr=False``). Used by
:func:`alignkit.numerics.ode.lyapunov_qr`, :func:`~alignkit.numerics.ode.lyapunov_svd`,
:func:`~alignkit.numerics.ode.flow_jacobian` and :func:`~alignkit.numerics.ode.solve` when
the field is a :class:`TangentField` (theme 3's flow and score models are).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from alignkit._checks import check_choice, check_int, check_shape

__all__ = ["ROUTES", "TangentField", "MLPField", "gram_schmidt"]

TimeFn = Callable[[torch.Tensor], torch.Tensor]
Step = Callable[..., torch.Tensor]
_GRAM_SCHMIDT_MAX_K = 8  # Gram–Schmidt by hand up to k columns, torch.linalg.qr above
_CACHE_FLOATS = 3 * 2**16  # 768 KiB of float32 per layer buffer (measured: 512 samples x 3 x 128)


class TangentField:
    """A velocity field that also propagates tangent vectors (subclass and implement).

    ``field(x, t)``: the velocity, ``(..., D), () -> (..., D)`` (single sample or batched;
    the generic ``torch.func`` route calls it); ``field.batched(x, t)``: ``(N, D) -> (N, D)``
    without ``vmap``; ``field.tangent(s, t)``: ``(1 + k, N, D) -> (1 + k, N, D)``, the velocity
    of ``s[0]`` then the Jacobian–vector products ``Dv(s[0]) · s[j]``.
    """

    dim: int

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def batched(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self(x, t)

    def tangent(self, s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


#: Routes of :mod:`alignkit.numerics.ode` (its module docstring): any field, or a TangentField.
ROUTES = ("auto", "generic", "tangent")


def _wrapped(value: torch.Tensor) -> bool:
    return bool(torch._C._functorch.is_functorch_wrapped_tensor(value))


def use_tangent_route(field: object, x: torch.Tensor, route: str) -> bool:
    """Whether to take the stacked-tangent route (validated ``route``)."""
    route = check_choice(route, "route", ROUTES)
    if route == "generic":
        return False
    if not isinstance(field, TangentField):
        if route == "tangent":
            raise ValueError(
                "route='tangent' needs a TangentField (e.g. alignkit.numerics.tangent.MLPField), "
                f"got field of type {type(field).__name__}; use route='auto' or 'generic'"
            )
        return False
    tensors = [x, *getattr(field, "params", ())]
    grad = torch.is_grad_enabled() and any(v.requires_grad for v in tensors)
    plain = not grad and not any(_wrapped(v) for v in tensors)
    if route == "tangent" and not plain:
        raise ValueError(
            "route='tangent' does not record autograd or torch.func transforms; "
            "use route='generic' to differentiate through the solver"
        )
    return plain


def _identity(t: torch.Tensor) -> torch.Tensor:
    return t


@dataclass(frozen=True, eq=False)
class MLPField(TangentField):
    """``v(x, t) = scale(t) · MLP([x, feature(t)]) + offset(t)``, SiLU hidden layers.

    Parameters
    ----------
    params : tuple of Tensors
        ``(W₁, b₁, …, W_L, b_L)``, ``W₁`` of shape (width, D + 1) (the last input column is
        the time feature), ``W_L`` of shape (D, width).
    dim : int
        D.
    feature : callable ``t -> ()``, optional
        The time input of the MLP (default: t itself; e.g. log σ(t) for a score model).
    scale : callable ``t -> ()``, optional
        A scalar factor of the output (default 1).
    offset : callable ``t -> (D,)``, optional
        A term added to the velocity that does not depend on x (a constant error).
    """

    params: tuple[torch.Tensor, ...]
    dim: int
    feature: TimeFn | None = None
    scale: TimeFn | None = None
    offset: TimeFn | None = None

    def __post_init__(self) -> None:
        dim = check_int(self.dim, "dim", low=1)
        p = self.params
        if not isinstance(p, (tuple, list)) or not all(isinstance(v, torch.Tensor) for v in p):
            raise TypeError(f"params must be a tuple of tensors (W1, b1, ...), got {type(p)}")
        if len(p) < 2 or len(p) % 2 or not all(v.is_floating_point() for v in p):
            raise ValueError(
                f"params must be an even number (>= 2) of float tensors (W1, b1, ...), "
                f"got {len(p)} with dtypes {[v.dtype for v in p]}"
            )
        fan_in = dim + 1
        for i in range(0, len(p), 2):
            w, b = p[i], p[i + 1]
            ok = w.ndim == 2 and w.shape[1] == fan_in and tuple(b.shape) == (w.shape[0],)
            check_shape(tuple(w.shape), f"params[{i}]", f"(out, {fan_in}) with a bias (out,)", ok)
            fan_in = w.shape[0]
        check_shape(tuple(p[-2].shape), "params[-2]", f"({dim}, width): D outputs", fan_in == dim)
        for name in ("feature", "scale", "offset"):
            fn = getattr(self, name)
            if fn is not None and not callable(fn):
                raise TypeError(f"{name} must be callable as {name}(t), got {fn!r}")
        object.__setattr__(self, "params", tuple(p))

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        p = self.params
        z = torch.cat([x, (self.feature or _identity)(t) * torch.ones_like(x[..., :1])], dim=-1)
        n = len(p) // 2
        for i in range(n):
            z = z @ p[2 * i].T + p[2 * i + 1]
            if i < n - 1:
                z = torch.nn.functional.silu(z)
        if self.scale is not None:
            z = self.scale(t) * z
        if self.offset is not None:
            z = z + self.offset(t).to(z)
        return z

    def batched(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.tangent(x.unsqueeze(0), t)[0]

    def tangent(self, s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``(1 + k, N, D) -> (1 + k, N, D)``: one matrix product per layer for all rows."""
        p = self.params
        rows, n, d = s.shape
        layers = len(p) // 2
        first = p[0]
        z = s.reshape(rows * n, d)
        for i in range(layers):
            w, b = p[2 * i], p[2 * i + 1]
            if i == 0:  # the time column enters the points only, as a bias
                b = torch.addcmul(b, first[:, d], (self.feature or _identity)(t).to(b))
                w = first[:, :d]
            # few outputs (the last layer): W·zᵀ is several times faster than z·Wᵀ on CPU
            h = (w @ z.T).T.contiguous() if w.shape[0] < 8 else z @ w.T
            head = h[:n]
            head += b
            if i < layers - 1:
                sig = torch.sigmoid(head)  # s(h), once for the points and the tangents
                if rows > 1:  # tangents · σ'(h), σ'(h) = s + h (s − s²)
                    deriv = torch.addcmul(sig, head, sig - sig * sig)
                    h[n:].view(rows - 1, n, -1).mul_(deriv)
                head.mul_(sig)  # SiLU h·s(h), in place
            z = h
        out = z.view(rows, n, -1)
        if self.scale is not None:
            out = out * self.scale(t).to(out)
        if self.offset is not None:
            out[0] += self.offset(t).to(out)
        return out


def gram_schmidt(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """QR of k stacked columns with a positive diagonal: ``(k, N, D) -> (k, N, D), (N, k)``.

    Returns the orthonormal columns (same layout) and ``log R_jj``. Modified Gram–Schmidt by
    hand for k ≤ 8 (the frame is re-orthonormalised every step, so the columns are close to
    orthogonal and well conditioned); ``torch.linalg.qr`` (Householder) above.
    """
    if not isinstance(a, torch.Tensor) or not a.is_floating_point():
        raise TypeError(f"a must be a float tensor (k, N, D), got {a!r}")
    ok = a.ndim == 3 and 1 <= a.shape[0] <= a.shape[2] and a.shape[1] >= 1
    check_shape(tuple(a.shape), "a", "(k, N, D), 1 <= k <= D, N >= 1", ok)
    k = a.shape[0]
    if k > _GRAM_SCHMIDT_MAX_K:
        q, r = torch.linalg.qr(a.permute(1, 2, 0))
        diag = torch.diagonal(r, dim1=-2, dim2=-1)
        sign = torch.where(diag < 0, -1.0, 1.0).to(q)
        return (q * sign.unsqueeze(-2)).permute(2, 0, 1), torch.log(diag.abs())
    cols: list[torch.Tensor] = []
    logs: list[torch.Tensor] = []
    for j in range(k):
        v = a[j]
        for u in cols:
            v = v - (v * u).sum(-1, keepdim=True) * u
        norm = torch.linalg.vector_norm(v, dim=-1, keepdim=True)
        cols.append(v / norm)
        logs.append(torch.log(norm[:, 0]))
    return torch.stack(cols), torch.stack(logs, dim=-1)


@dataclass(frozen=True)
class TangentRun:
    """Raw output of :func:`tangent_frames` (layouts for :mod:`alignkit.numerics.ode`).

    ``x``: (N, D); ``frame``: (N, D, k) end tangents (orthonormal with ``qr``, else the
    Jacobian applied to the start frame); ``log_r``: (N, K, k) or None; ``path``:
    (N, K + 1, D) or None; ``frame_path``: (N, K + 1, D, k) or None.
    """

    x: torch.Tensor
    frame: torch.Tensor
    log_r: torch.Tensor | None
    path: torch.Tensor | None
    frame_path: torch.Tensor | None


def _chunk_size(n: int, rows: int, field: TangentField) -> int:
    width = max((int(w.shape[0]) for w in getattr(field, "params", ())[::2]), default=64)
    return max(64, min(n, _CACHE_FLOATS // max(rows * width, 1)))


def tangent_frames(
    field: TangentField,
    x0: torch.Tensor,
    frame0: torch.Tensor,
    grid: torch.Tensor,
    step: Step,
    *,
    qr: bool,
    record: bool,
    chunk: int | None = None,
) -> TangentRun:
    """Push points and a frame of tangents through ``step`` on the stacked system.

    Parameters
    ----------
    field : TangentField
    x0 : Tensor (N, D)
    frame0 : Tensor (D, k) or (N, D, k)
        Start tangents, the same for every sample or one frame per sample.
    grid : Tensor (K + 1,)
        Times.
    step : callable ``(field, s, t, h) -> s_next``
        A solver step of :data:`alignkit.numerics.ode.SOLVERS`.
    qr : bool
        Re-orthonormalise after every step and record ``log R_jj``.
    record : bool
        Keep the points and frames at every grid time.
    chunk : int, optional
        Samples per chunk (default: as many as keep one layer's rows near 1 MiB).
    """
    n, d = x0.shape
    k = frame0.shape[-1]
    size = chunk or _chunk_size(n, 1 + k, field)
    fn = field.tangent
    ts = list(grid[:-1].unbind())
    hts = (grid[1:] - grid[:-1]).tolist()  # Python floats: fewer tensor ops per stage
    parts: list[tuple[torch.Tensor, ...]] = []
    with torch.no_grad():
        for i, xc in enumerate(x0.split(size)):
            m = xc.shape[0]
            s = torch.empty(1 + k, m, d, dtype=x0.dtype, device=x0.device)
            s[0] = xc
            if frame0.ndim == 2:
                s[1:] = frame0.T.unsqueeze(1)
            else:  # this chunk's frames (m, D, k) as k tangents (k, m, D)
                s[1:] = frame0[i * size : i * size + m].permute(2, 0, 1)
            logs, path, frames = [], [s[0].clone()], [s[1:].clone()]
            for t, h in zip(ts, hts, strict=True):
                s = step(fn, s, t, h)
                if qr:
                    q, lr = gram_schmidt(s[1:])
                    s = torch.cat([s[:1], q])
                    logs.append(lr)
                if record:
                    path.append(s[0])
                    frames.append(s[1:])
            out = [s[0], s[1:].permute(1, 2, 0)]
            if qr:
                out.append(torch.stack(logs, dim=1))
            if record:
                out.append(torch.stack(path, dim=1))
                out.append(torch.stack(frames, dim=1).permute(2, 1, 3, 0))
            parts.append(tuple(out))
    cat = [torch.cat(col) for col in zip(*parts, strict=True)]
    log_r = cat.pop(2) if qr else None
    return TangentRun(
        x=cat[0],
        frame=cat[1],
        log_r=log_r,
        path=cat[2] if record else None,
        frame_path=cat[3] if record else None,
    )


def stacked_solve(
    field: TangentField, x0: torch.Tensor, grid: torch.Tensor, step: Step, *, record: bool
) -> torch.Tensor:
    """Points only through ``field.batched`` (no ``vmap``): (N, D) or (N, K + 1, D)."""
    x = x0
    path: Sequence[torch.Tensor] = [x]
    fn = field.batched
    with torch.no_grad():
        for i in range(grid.numel() - 1):
            x = step(fn, x, grid[i], grid[i + 1] - grid[i])
            if record:
                path = [*path, x]
    return torch.stack(list(path), dim=1) if record else x
