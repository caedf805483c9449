"""Fixed-step ODE solvers through which Jacobians flow (Euler, Heun, RK4), batched.

A *field* is a single-sample function ``field(x, t) -> v`` with ``x`` of shape ``(D,)``,
``t`` a 0-d tensor and ``v`` of shape ``(D,)``. The solvers lift it over a leading batch
axis with ``torch.func.vmap``; because every step is plain torch, forward-mode tangents
(``jvp``/``jacfwd``) pass through the solver. :func:`flow_jacobian` returns the Jacobian of
the discrete flow map of every sample; :func:`lyapunov_qr` propagates an orthonormal
frame with the step Jacobians and re-orthonormalises it by QR after every step (the
discrete variational equation, Benettin's method: its exponents depend on the start frame
over a finite time); :func:`lyapunov_svd` multiplies the step Jacobians into the flow-map
Jacobian and takes its singular values and vectors (frame-independent finite-time Lyapunov
exponents log σ_i / T, ordered; for small D and moderate contraction).

Two routes (``route=``): ``"generic"`` lifts any single-sample field with
``vmap(jacfwd(step))``; ``"tangent"`` runs the solver on the stacked points and tangents of
a :class:`~alignkit.numerics.tangent.TangentField` (an MLP field propagates them by hand, one
matrix product per layer, no autograd; :mod:`alignkit.numerics.tangent`). ``"auto"`` (the
default) takes the tangent route for a ``TangentField`` unless something asks for autograd or
``torch.func`` to flow through (inputs or weights that require grad, or wrapped by
``vmap``/``jacfwd``). Both routes compute the same numbers up to rounding (tested).

Shape signature: ``(N, D) -> (N, D)`` for :func:`solve`, ``(N, D) -> (N, D), (N, D, D)``
for :func:`flow_jacobian`. Used by theme 3 (``notebooks/05_generative_manifold_alignment``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import torch
from torch.func import jacfwd, vmap

from alignkit._checks import (
    check_bool,
    check_choice,
    check_float_tensor,
    check_has_data,
    check_int,
    check_shape,
)
from alignkit.numerics._frames import start_frame
from alignkit.numerics.grids import SPACINGS, time_grid
from alignkit.numerics.tangent import ROUTES, TangentField, stacked_solve, tangent_frames
from alignkit.numerics.tangent import use_tangent_route as _use_tangent

__all__ = [
    "Field",
    "SOLVERS",
    "ROUTES",
    "ode_step",
    "SPACINGS",
    "time_grid",
    "solve",
    "flow_jacobian",
    "QRFlow",
    "lyapunov_qr",
    "SVDFlow",
    "lyapunov_svd",
]

Field = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _euler(field: Field, x: torch.Tensor, t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    return x + h * field(x, t)


def _heun(field: Field, x: torch.Tensor, t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    k1 = field(x, t)
    k2 = field(x + h * k1, t + h)
    return x + 0.5 * h * (k1 + k2)


def _rk4(field: Field, x: torch.Tensor, t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    k1 = field(x, t)
    k2 = field(x + 0.5 * h * k1, t + 0.5 * h)
    k3 = field(x + 0.5 * h * k2, t + 0.5 * h)
    k4 = field(x + h * k3, t + h)
    return x + h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


#: Fixed-step explicit solvers by name: one step ``(field, x, t, h) -> x_next``.
SOLVERS: dict[str, Callable[[Field, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "euler": _euler,
    "heun": _heun,
    "rk4": _rk4,
}


def ode_step(
    field: Field, x: torch.Tensor, t: torch.Tensor, h: torch.Tensor, *, method: str = "rk4"
) -> torch.Tensor:
    """One step of ``method`` for a single sample: ``(D,) -> (D,)``.

    Type checks only (it may run under ``vmap``/``jacfwd``, where values cannot be read).
    """
    _check_field(field)
    for value, name in ((x, "x"), (t, "t"), (h, "h")):
        if not isinstance(value, (torch.Tensor, float, int)) or isinstance(value, bool):
            raise TypeError(f"{name} must be a tensor or a real number, got {value!r}")
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor (D,), got {x!r}")
    check_shape(tuple(x.shape), "x", "(D,), one sample", x.ndim == 1)  # shapes are readable
    check_has_data(x, "x")  # (the device is readable under vmap too)
    for value, name in ((t, "t"), (h, "h")):
        if isinstance(value, torch.Tensor):
            check_shape(tuple(value.shape), name, "() (a scalar)", value.ndim == 0)
    return SOLVERS[check_choice(method, "method", SOLVERS)](field, x, t, h)


def _check_x0(x0: torch.Tensor) -> torch.Tensor:
    if not isinstance(x0, torch.Tensor) or not x0.is_floating_point():
        got = x0.dtype if isinstance(x0, torch.Tensor) else type(x0).__name__
        raise TypeError(f"x0 must be a torch.Tensor of floats, shape (N, D), got {got}")
    ok = x0.ndim == 2 and x0.shape[0] >= 1 and x0.shape[1] >= 1
    check_shape(tuple(x0.shape), "x0", "(N, D), N and D >= 1", ok)
    return check_float_tensor(x0, "x0")  # float32/64 (half precision: TypeError), finite


def _check_field(field: Field) -> None:
    if not callable(field):
        raise TypeError(f"field must be callable as field(x, t), got {type(field).__name__}")


def solve(
    field: Field,
    x0: torch.Tensor,
    *,
    t0: float = 0.0,
    t1: float = 1.0,
    steps: int = 50,
    method: str = "rk4",
    trajectory: bool = False,
    route: str = "auto",
) -> torch.Tensor:
    """Integrate ``dx/dt = field(x, t)`` for every row of ``x0`` with fixed steps.

    Parameters
    ----------
    field : callable ``(x: (D,), t: ()) -> (D,)``
        Single-sample velocity field (lifted with ``vmap``).
    x0 : Tensor, shape (N, D)
        Starting points at ``t0``.
    t0, t1 : float
        Start and end times, ``t1 > t0``.
    steps : int, default=50
        Number of equal steps (≥ 1).
    method : {"euler", "heun", "rk4"}, default="rk4"
    trajectory : bool, default=False
        Return every step, shape ``(N, steps + 1, D)``, instead of the end points ``(N, D)``.
    route : {"auto", "generic", "tangent"}, default="auto"
        ``"tangent"``/``"auto"`` call a :class:`TangentField` batched, without ``vmap``.
    """
    _check_field(field)
    trajectory = check_bool(trajectory, "trajectory")
    x = _check_x0(x0)
    grid = time_grid(t0, t1, steps, dtype=x.dtype, device=x.device)
    one = SOLVERS[check_choice(method, "method", SOLVERS)]
    if _use_tangent(field, x, route):
        assert isinstance(field, TangentField)
        return stacked_solve(field, x, grid, one, record=trajectory)
    step = vmap(lambda y, t, h: one(field, y, t, h), in_dims=(0, None, None))
    path = [x]
    for k in range(grid.numel() - 1):
        x = step(x, grid[k], grid[k + 1] - grid[k])
        if trajectory:
            path.append(x)
    return torch.stack(path, dim=1) if trajectory else x


def flow_jacobian(
    field: Field,
    x0: torch.Tensor,
    *,
    t0: float = 0.0,
    t1: float = 1.0,
    steps: int = 50,
    method: str = "rk4",
    route: str = "auto",
    spacing: str = "uniform",
) -> tuple[torch.Tensor, torch.Tensor]:
    """End points and Jacobians of the discrete flow map, forward mode through the solver.

    Returns ``(x1, J)`` with ``x1`` of shape ``(N, D)`` and ``J[i] = ∂x1_i/∂x0_i`` of shape
    ``(N, D, D)``; computed by ``vmap(jacfwd(...))`` over the whole solve (no Python loop over
    samples). For long solves with strong contraction prefer :func:`lyapunov_qr`.
    ``route``: see the module docstring (a :class:`TangentField` pushes the identity frame
    through the solver by hand). ``spacing``: the time grid, as in :func:`time_grid`.
    """
    _check_field(field)
    x = _check_x0(x0)
    grid = time_grid(t0, t1, steps, dtype=x.dtype, device=x.device, spacing=spacing)
    one = SOLVERS[check_choice(method, "method", SOLVERS)]
    if _use_tangent(field, x, route):
        assert isinstance(field, TangentField)
        eye = torch.eye(x.shape[1], dtype=x.dtype, device=x.device)
        run = tangent_frames(field, x, eye, grid, one, qr=False, record=False)
        return run.x, run.frame

    def flow(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for k in range(grid.numel() - 1):
            y = one(field, y, grid[k], grid[k + 1] - grid[k])
        return y, y

    jac, end = vmap(jacfwd(flow, has_aux=True))(x)
    return end, jac


@dataclass(frozen=True)
class QRFlow:
    """Result of :func:`lyapunov_qr` for N samples, D dimensions, K steps, k vectors.

    ``x``: (N, D) end points; ``q``: (N, D, k) orthonormal frame at the end (column j spans,
    with columns < j, the image of the first j start directions; from the default frame over
    long times the forward Lyapunov vectors, most expanding first, but over a finite time,
    or from another frame, the order is the start frame's, not the exponents');
    ``log_r``: (N, K, k) log |R_jj| of every step;
    ``times``: (K + 1,); ``path``: (N, K + 1, D) or None; ``q_path``: (N, K + 1, D, k) or None.
    """

    x: torch.Tensor
    q: torch.Tensor
    log_r: torch.Tensor
    times: torch.Tensor
    path: torch.Tensor | None
    q_path: torch.Tensor | None

    @property
    def exponents(self) -> torch.Tensor:
        """Finite-time Lyapunov exponents over [t0, t1], shape (N, k): Σ log|R_jj| / (t1 − t0)."""
        span = self.times[-1] - self.times[0]
        return self.log_r.sum(dim=1) / span


def _qr_positive(m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """QR with a non-negative diagonal of R (unique, so frames do not flip sign)."""
    q, r = torch.linalg.qr(m)
    sign = torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))
    sign = torch.where(sign == 0, torch.ones_like(sign), sign)
    return q * sign.unsqueeze(-2), r * sign.unsqueeze(-1)


def lyapunov_qr(
    field: Field,
    x0: torch.Tensor,
    *,
    t0: float = 0.0,
    t1: float = 1.0,
    steps: int = 50,
    method: str = "rk4",
    k: int | None = None,
    record: bool = False,
    route: str = "auto",
    spacing: str = "uniform",
    frame: torch.Tensor | None = None,
) -> QRFlow:
    """Finite-time Lyapunov exponents and vectors by QR re-orthonormalisation.

    Every step maps the frame ``Q`` (start: ``frame``, by default the first ``k`` standard
    basis vectors) by the step Jacobian (``vmap(jacfwd(step))``, forward mode through the
    solver step), then ``J Q = Q' R``; ``Σ log|R_jj|`` over steps are the exponents times
    the time span.

    Parameters
    ----------
    field, x0, t0, t1, steps, method
        As in :func:`solve`.
    k : int, optional
        Number of directions to follow (1 ≤ k ≤ D); default D.
    record : bool, default=False
        Keep the trajectory and the frame after every step (``path``, ``q_path``).
    route : {"auto", "generic", "tangent"}, default="auto"
        ``"tangent"`` (``"auto"`` for a :class:`TangentField`): the frame is pushed through
        the solver as tangents of the stacked system and re-orthonormalised by Gram–Schmidt
        (small k), in cache-sized sample chunks, without autograd.
    spacing : {"uniform", "log1m"}, default="uniform"
        The time grid, as in :func:`lyapunov_svd`.
    frame : Tensor (D, k) or (N, D, k), optional
        Start frame, orthonormal columns (``QᵀQ = I`` within 1e-4 when it or ``x0`` is
        float32, else 1e-8), one for all samples or one per sample. Over a finite time the
        exponents depend on it (from the flow-map Jacobian's right singular vectors they
        are :func:`lyapunov_svd`'s).

    Returns
    -------
    QRFlow
    """
    _check_field(field)
    record = check_bool(record, "record")
    x = _check_x0(x0)
    n, dim = x.shape
    k = None if k is None else check_int(k, "k", low=1, high=dim)
    q0 = start_frame(frame, n, dim, k, x)
    k = q0.shape[-1]
    grid = time_grid(t0, t1, steps, dtype=x.dtype, device=x.device, spacing=spacing)
    one = SOLVERS[check_choice(method, "method", SOLVERS)]
    if _use_tangent(field, x, route):
        assert isinstance(field, TangentField)
        run = tangent_frames(field, x, q0, grid, one, qr=True, record=record)
        assert run.log_r is not None
        return QRFlow(run.x, run.frame, run.log_r, grid, run.path, run.frame_path)

    def step(y: torch.Tensor, t: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, ...]:
        nxt = one(field, y, t, h)
        return nxt, nxt

    step_jac = vmap(jacfwd(step, has_aux=True), in_dims=(0, None, None))
    q = q0.expand(n, dim, k).contiguous()
    log_r, path, q_path = [], [x], [q]
    for i in range(grid.numel() - 1):
        jac, x = step_jac(x, grid[i], grid[i + 1] - grid[i])
        q, r = _qr_positive(jac @ q)
        log_r.append(torch.log(torch.diagonal(r, dim1=-2, dim2=-1)))
        if record:
            path.append(x)
            q_path.append(q)
    return QRFlow(
        x=x,
        q=q,
        log_r=torch.stack(log_r, dim=1),
        times=grid,
        path=torch.stack(path, dim=1) if record else None,
        q_path=torch.stack(q_path, dim=1) if record else None,
    )


@dataclass(frozen=True)
class SVDFlow:
    """Result of :func:`lyapunov_svd` for N samples, D dimensions, K steps.

    ``x``: (N, D) end points; ``exponents``: (N, D) finite-time Lyapunov exponents
    log σ_i(DΦ) / (t1 − t0), largest first; ``vectors``: (N, D, D) left singular vectors of
    DΦ (columns, at the end points: the directions the flow stretches most first);
    ``times``: (K + 1,); ``path``: (N, K + 1, D) or None; ``jac_path``: (N, K + 1, D, D)
    flow-map Jacobians from t0 to every grid time, or None; ``u_path`` (computed when first
    read): (N, K + 1, D, D) their left singular vectors, or None.
    """

    x: torch.Tensor
    exponents: torch.Tensor
    vectors: torch.Tensor
    times: torch.Tensor
    path: torch.Tensor | None
    jac_path: torch.Tensor | None

    @cached_property
    def u_path(self) -> torch.Tensor | None:
        return None if self.jac_path is None else torch.linalg.svd(self.jac_path)[0]


def _svd_finite_rows(jac: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """U and σ of each (D, D) Jacobian of ``jac`` (N, D, D); NaN for a non-finite one."""
    finite = torch.isfinite(jac).flatten(1).all(1)
    if bool(finite.all()):
        u, sig, _ = torch.linalg.svd(jac)
        return u, sig
    u = torch.full_like(jac, float("nan"))
    sig = torch.full(jac.shape[:2], float("nan"), dtype=jac.dtype, device=jac.device)
    if bool(finite.any()):
        u[finite], sig[finite], _ = torch.linalg.svd(jac[finite])
    return u, sig


def lyapunov_svd(
    field: Field,
    x0: torch.Tensor,
    *,
    t0: float = 0.0,
    t1: float = 1.0,
    steps: int = 50,
    method: str = "rk4",
    record: bool = False,
    route: str = "auto",
    spacing: str = "uniform",
) -> SVDFlow:
    """Finite-time Lyapunov exponents and vectors from the SVD of the flow-map Jacobian.

    The step Jacobians (``vmap(jacfwd(step))``, forward mode through the solver) are
    multiplied into ``J = DΦ_{t0→t}``; ``J = U diag(σ) Vᵀ`` gives exponents
    ``log σ_i / (t1 − t0)`` (ordered, independent of any start frame) and vectors ``U``.
    Memory N·D² (N·(K+1)·D² with ``record``); meant for D up to ~64 and contractions that
    stay above the dtype's resolution (use :func:`lyapunov_qr` for long, stiff solves).

    Parameters
    ----------
    field, x0, t0, t1, steps, method
        As in :func:`solve`.
    record : bool, default=False
        Keep the trajectory and the flow-map Jacobian after every step (``path``,
        ``jac_path``; ``u_path``, their left singular vectors, on first access).
    route : {"auto", "generic", "tangent"}, default="auto"
        See the module docstring (a :class:`TangentField` pushes the identity through the
        solver by hand).
    spacing : {"uniform", "log1m"}, default="uniform"
        The time grid (:func:`time_grid`): ``"log1m"`` steps equally in log(1 − t), for a
        field singular at t = 1 (``t1 < 1``).

    Returns
    -------
    SVDFlow
        A trajectory that blows up (a non-finite flow-map Jacobian) is flagged, not an
        error: its exponents and vectors are NaN.
    """
    _check_field(field)
    record = check_bool(record, "record")
    x = _check_x0(x0)
    n, dim = x.shape
    grid = time_grid(t0, t1, steps, dtype=x.dtype, device=x.device, spacing=spacing)
    one = SOLVERS[check_choice(method, "method", SOLVERS)]
    if _use_tangent(field, x, route):
        assert isinstance(field, TangentField)
        eye = torch.eye(dim, dtype=x.dtype, device=x.device)
        run = tangent_frames(field, x, eye, grid, one, qr=False, record=record)
        x, jac, path_t, jac_path = run.x, run.frame, run.path, run.frame_path
    else:

        def step(y: torch.Tensor, t: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, ...]:
            nxt = one(field, y, t, h)
            return nxt, nxt

        step_jac = vmap(jacfwd(step, has_aux=True), in_dims=(0, None, None))
        jac = torch.eye(dim, dtype=x.dtype, device=x.device).expand(n, dim, dim).contiguous()
        path, jacs = [x], [jac]
        for i in range(grid.numel() - 1):
            j_step, x = step_jac(x, grid[i], grid[i + 1] - grid[i])
            jac = j_step @ jac
            if record:
                path.append(x)
                jacs.append(jac)
        path_t = torch.stack(path, dim=1) if record else None
        jac_path = torch.stack(jacs, dim=1) if record else None
    u, sig = _svd_finite_rows(jac)
    return SVDFlow(
        x=x,
        exponents=torch.log(sig) / (grid[-1] - grid[0]),
        vectors=u,
        times=grid,
        path=path_t,
        jac_path=jac_path,
    )
