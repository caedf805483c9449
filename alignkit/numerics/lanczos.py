"""Matrix-free spectral tools for any symmetric operator given as a ``matvec``.

Everything here sees the operator only through ``matvec: (d,) -> (d,)`` (a Hessian-vector
product, an explicit matrix, a Gauss-Newton product, ...), so the same Lanczos, power
iteration and Hutchinson code serves the Hessians of :mod:`alignkit.numerics.hessian`
and any other operator of the kit. Shapes: ``d`` is the operator's dimension.

Stopping rule shared by both eigen-solvers: a pair (lambda, u) with ||u|| = 1 has
converged when its residual ||A u - lambda u|| <= tol * |lambda|; then some eigenvalue of A
lies within that residual of lambda (Parlett, *The Symmetric Eigenvalue Problem*, Thm 4.5.1).

The trace and Frobenius estimators (Hutchinson, deflated Hutchinson, one Lanczos run shared
by the top eigenvalues and the trace) live in :mod:`alignkit.numerics.trace`; their names
are still importable from here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from alignkit._checks import (
    check_choice,
    check_float_dtype,
    check_float_tensor,
    check_int,
    check_scalar,
)
from alignkit.device import DEFAULT_DTYPE, get_device, make_generator

__all__ = [
    "EigenResult",
    "Estimate",
    "EIGEN_METHODS",
    "operator_top_eigenvalues",
    "lanczos",
    "power_iteration",
    "rademacher",
]

Matvec = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class EigenResult:
    """Top eigenpairs of a symmetric operator.

    Attributes
    ----------
    values : Tensor, shape (k,)
        Eigenvalue estimates, largest first (Lanczos: algebraic order; power iteration:
        in the order found, largest magnitude first).
    vectors : Tensor, shape (k, d)
        Unit eigenvector estimates, row ``i`` pairs with ``values[i]``.
    residuals : Tensor, shape (k,)
        ||A u_i - lambda_i u_i||: an eigenvalue of A lies within this of ``values[i]``.
    matvecs : int
        Number of operator applications spent.
    converged : bool
        Every residual is <= tol * |lambda_i| (False: ``iters`` ran out first).
    """

    values: torch.Tensor
    vectors: torch.Tensor
    residuals: torch.Tensor
    matvecs: int
    converged: bool


@dataclass(frozen=True)
class Estimate:
    """A (possibly stochastic) scalar estimate.

    Attributes
    ----------
    value : Tensor, shape ()
        The estimate.
    stderr : Tensor, shape ()
        Its standard error (0 for exact values, nan with a single sample).
    matvecs : int
        Number of operator applications spent (0 for explicit matrices).
    """

    value: torch.Tensor
    stderr: torch.Tensor
    matvecs: int


class NonFiniteProduct(ValueError):
    """The operator gave inf or NaN: its entries overflow the dtype (the caller names why)."""


def _finite(w: torch.Tensor) -> torch.Tensor:
    """``w`` (a product of the operator), unless it holds inf or NaN (then
    :class:`NonFiniteProduct`, instead of LAPACK's failure on the tridiagonal later)."""
    if not bool(torch.isfinite(w).all()):
        raise NonFiniteProduct(
            "matvec returned inf or NaN: the operator's entries overflow "
            f"{w.dtype} (rescale what it is built from)"
        )
    return w


def _check_matvec(matvec: Matvec) -> None:
    if not callable(matvec):
        raise TypeError(f"matvec must be callable, (d,) -> (d,), got {type(matvec).__name__}")


def _check_generator(generator: torch.Generator) -> None:
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")


def _check_start(start: torch.Tensor, ndim: int, expected: str) -> None:
    """A finite floating start block whose every vector is non-zero (they get normalised)."""
    if not isinstance(start, torch.Tensor) or not start.is_floating_point():
        raise TypeError(f"start must be a floating-point torch.Tensor {expected}, got {start!r}")
    if start.ndim != ndim or start.numel() == 0:
        raise ValueError(f"start must have shape {expected}, got {tuple(start.shape)}")
    check_float_tensor(start, "start")  # float32/64 (half precision: TypeError), real, finite
    if bool((start.reshape(-1, start.shape[-1]).norm(dim=-1) == 0).any()):
        raise ValueError("start must be non-zero (a zero start vector has no direction)")


def rademacher(
    shape: tuple[int, ...], generator: torch.Generator, *, dtype: torch.dtype
) -> torch.Tensor:
    """Independent +-1 entries with probability 1/2 each, on the generator's device."""
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__iter__"):
        raise TypeError(f"shape must be a tuple of integers >= 0, got {shape!r}")
    shape = tuple(check_int(s, "shape", low=0) for s in shape)
    _check_generator(generator)
    if not isinstance(dtype, torch.dtype) or dtype == torch.bool or dtype.is_complex:
        raise TypeError(f"dtype must be a real torch dtype (not bool), got {dtype!r}")
    if not dtype.is_floating_point and dtype.is_signed is False:
        raise ValueError(f"dtype must be signed (entries are -1 and +1), got {dtype}")
    bits = torch.randint(0, 2, shape, generator=generator, device=generator.device, dtype=dtype)
    return bits.mul_(2).sub_(1)  # the stream of randint's int64 bits, drawn in dtype directly


def _reorthogonalise(w: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """w minus its projection on q's orthonormal rows: classical Gram-Schmidt, repeated once
    when the first pass removed most of w (Daniel, Gragg, Kaufman & Stewart 1976)."""
    before = w.norm()
    w = w - q.T @ (q @ w)
    if bool(w.norm() < 0.7071 * before):
        w = w - q.T @ (q @ w)
    return w


def _tridiagonal(alpha: list[torch.Tensor], beta: list[torch.Tensor]) -> torch.Tensor:
    a = torch.stack(alpha)
    t = torch.diag(a)
    if len(beta) > 0:
        b = torch.stack(beta)
        t = t + torch.diag(b, 1) + torch.diag(b, -1)
    return t


def lanczos(
    matvec: Matvec,
    start: torch.Tensor,
    *,
    k: int,
    iters: int,
    tol: float,
    generator: torch.Generator,
) -> tuple[EigenResult, torch.Tensor, torch.Tensor]:
    """Lanczos with full reorthogonalisation from ``start`` (d,).

    Returns (result, basis Q of shape (m, d), tridiagonal T = Q A Q^T of shape (m, m)).

    ``tol = 0`` runs ``iters`` steps unless the Krylov space is exhausted first (a residual
    that rounds to 0 does not stop it). A breakdown
    (beta ~ 0) means the block's span is invariant and its Ritz values are exact; the
    iteration then restarts from a random vector orthogonal to the basis, and stops once the
    k-th value found is >= the top of the last finished block, which bounds every eigenvalue
    not yet seen. So exactly repeated eigenvalues are found once per block: an operator with
    few distinct eigenvalues still gives k pairs, but a repeated eigenvalue inside a rich
    spectrum is found once (use power iteration there). Reference: Golub & Van Loan,
    *Matrix Computations* (4th ed.), Sec. 10.1; Parlett (1998), Ch. 13.

    Raises
    ------
    TypeError, ValueError
        ``matvec`` not callable; ``start`` not a finite, non-zero floating vector (d,);
        ``k`` outside [1, d]; ``iters`` < 1; ``tol`` < 0; ``generator`` not a Generator.
    """
    _check_matvec(matvec)
    _check_start(start, 1, "(d,)")
    k = check_int(k, "k", low=1, high=start.shape[0])
    iters = check_int(iters, "iters", low=1)
    tol = check_scalar(tol, "tol", low=0.0)
    _check_generator(generator)
    return _lanczos(matvec, start, k=k, iters=iters, tol=tol, generator=generator)


def _lanczos(
    matvec: Matvec,
    start: torch.Tensor,
    *,
    k: int,
    iters: int,
    tol: float,
    generator: torch.Generator,
    min_steps: int = 0,
) -> tuple[EigenResult, torch.Tensor, torch.Tensor]:
    """:func:`lanczos` on checked arguments; at least ``min_steps`` steps (capped at d) even
    after the top k pairs have converged (the extra vectors deflate a trace estimate)."""
    d = start.shape[0]
    m_max = min(max(iters, min_steps), d)
    basis = torch.empty(m_max + 1, d, dtype=start.dtype, device=start.device)  # rows set below
    basis[0] = start / start.norm()
    alpha: list[torch.Tensor] = []
    beta: list[torch.Tensor] = []
    values = s_top = residuals = tri = torch.zeros(0)
    converged, block = False, 0
    for j in range(m_max):
        w = _finite(matvec(basis[j]))
        alpha.append(torch.dot(w, basis[j]))
        w = w - alpha[j] * basis[j]  # the three-term recurrence, then full reorthogonalisation
        if j > 0:
            w = w - beta[j - 1] * basis[j - 1]  # beta is 0 where a block restarted
        q = basis[: j + 1]
        w = _reorthogonalise(w, q)
        b = w.norm()
        beta.append(b)
        eps = torch.finfo(w.dtype).eps
        if tol == 0 and j + 1 < m_max:  # only a breakdown to test: skip the eigh's when a
            off = torch.stack(beta[:-1]) if j > 0 else b.new_zeros(1)  # bound rules it out
            gershgorin = torch.stack(alpha).abs().max() + 2 * off.max()  # >= |eigenvalues|
            if not bool(b <= 100 * eps * gershgorin):
                basis[j + 1] = w / b
                continue
        tri = _tridiagonal(alpha, beta[:-1])
        theta, s = torch.linalg.eigh(tri)
        top = min(k, j + 1)
        values, s_top = theta.flip(0)[:top], s.flip(1)[:, :top]
        residuals = (b * s_top[-1]).abs()
        tiny = torch.finfo(values.dtype).tiny
        breakdown = bool(b <= 100 * eps * theta.abs().max())
        theta_b, s_b = torch.linalg.eigh(tri[block:, block:])  # the current block alone
        if breakdown:  # the block is exact: its top bounds all eigenvalues not yet seen
            converged = top == k and (j + 1 == d or bool(values[-1] >= theta_b[-1]))
        elif tol > 0:
            conv_top = bool((residuals <= tol * values.abs().clamp(min=tiny)).all())
            conv_block = bool((b * s_b[-1, -1]).abs() <= tol * theta_b[-1].abs().clamp(min=tiny))
            converged = top == k and conv_top and conv_block
        else:  # tol = 0: run on (a float32 residual can round to exactly 0 long before)
            converged = False
        if (converged and j + 1 >= min_steps) or j + 1 == m_max:
            break
        if breakdown:
            beta[-1] = torch.zeros_like(b)
            w = torch.randn(d, generator=generator, device=w.device, dtype=w.dtype)
            w = _reorthogonalise(_reorthogonalise(w, q), q)
            b = w.norm()
            block = j + 1
        basis[j + 1] = w / b
    m = len(alpha)
    basis = basis[:m]
    result = EigenResult(values, s_top.T @ basis, residuals, m, converged)
    return result, basis, tri


def power_iteration(
    matvec: Matvec,
    start: torch.Tensor,
    *,
    k: int,
    iters: int,
    tol: float,
) -> EigenResult:
    """Power iteration with deflation by orthogonalisation, ``iters`` steps per eigenvalue.

    Finds the largest-magnitude eigenvalues (equal to the largest ones for a PSD operator,
    e.g. a Hessian at a minimum). ``start`` has shape (k, d): one start per eigenvalue,
    each finite and non-zero.
    """
    _check_matvec(matvec)
    _check_start(start, 2, "(k, d)")
    k = check_int(k, "k", low=1, high=min(start.shape))
    iters = check_int(iters, "iters", low=1)
    tol = check_scalar(tol, "tol", low=0.0)
    found: list[torch.Tensor] = []
    vals: list[torch.Tensor] = []
    res: list[torch.Tensor] = []
    matvecs, converged = 0, True
    for i in range(k):
        w = start[i]
        u = lam = r = torch.zeros((), dtype=w.dtype, device=w.device)
        ok = False
        for _ in range(iters):
            for f in found:
                w = w - torch.dot(f, w) * f
            u = w / w.norm()
            w = _finite(matvec(u))
            matvecs += 1
            lam = torch.dot(u, w)
            r = (w - lam * u).norm()
            if r <= tol * lam.abs():
                ok = True
                break
        converged = converged and ok
        found.append(u)
        vals.append(lam)
        res.append(r)
    return EigenResult(torch.stack(vals), torch.stack(found), torch.stack(res), matvecs, converged)


EIGEN_METHODS = ("lanczos", "power")


def operator_top_eigenvalues(
    matvec: Matvec,
    dim: int,
    *,
    k: int = 1,
    method: str = "lanczos",
    iters: int = 100,
    tol: float = 1e-4,
    seed: int | torch.Generator | None = 0,
    dtype: torch.dtype = DEFAULT_DTYPE,
    device: str | torch.device | None = None,
) -> EigenResult:
    """Top ``k`` eigenpairs of a symmetric operator known only through ``matvec``.

    Parameters
    ----------
    matvec : callable, (d,) -> (d,)
        The operator A, symmetric.
    dim : int
        d, the operator's dimension (>= 1).
    k : int, default=1
        Number of eigenpairs, in [1, d].
    method : {"lanczos", "power"}, default="lanczos"
        Lanczos (largest algebraic eigenvalues, few matvecs) or power iteration with
        deflation (largest magnitude; ``iters`` per eigenvalue).
    iters : int, default=100
        Maximum Lanczos steps in total, or power steps per eigenvalue (>= 1).
    tol : float, default=1e-4
        Stop when every residual ||A u - lambda u|| <= tol * |lambda| (>= 0; 0 runs all ``iters``).
    seed : int, torch.Generator or None, default=0
        Random start vector (Gaussian).
    dtype : torch.dtype, default=float32
    device : str or torch.device, optional
        Where the vectors live; ``None`` means :func:`alignkit.device.get_device`.

    Returns
    -------
    EigenResult
        ``values`` (k,), ``vectors`` (k, d), residuals, matvec count, converged flag.

    Raises
    ------
    ValueError
        If ``dim``, ``k``, ``iters`` or ``tol`` is out of range or ``method`` is unknown.
    """
    _check_matvec(matvec)
    dtype = check_float_dtype(dtype)
    dim = check_int(dim, "dim", low=1)
    k = check_int(k, "k", low=1, high=dim)
    method = check_choice(method, "method", EIGEN_METHODS)
    iters = check_int(iters, "iters", low=1)
    tol = check_scalar(tol, "tol", low=0.0)
    dev = get_device(device)
    gen = make_generator(seed, dev)
    if method == "power":
        start = torch.randn(k, dim, generator=gen, device=dev, dtype=dtype)
        return power_iteration(matvec, start, k=k, iters=iters, tol=tol)
    start = torch.randn(dim, generator=gen, device=dev, dtype=dtype)
    return lanczos(matvec, start, k=k, iters=max(iters, k), tol=tol, generator=gen)[0]


_MOVED = ("operator_trace", "operator_frobenius_norm")


def __getattr__(name: str) -> Any:
    """The trace estimators moved to :mod:`alignkit.numerics.trace`; old imports still work."""
    if name in _MOVED:
        from alignkit.numerics import trace  # lazy: trace imports this module

        return getattr(trace, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
