"""Matrix-free trace and Frobenius-norm estimates of a symmetric operator given as a ``matvec``.

- :func:`operator_trace`: Hutchinson's estimator, optionally deflated by a Lanczos basis.
- :func:`operator_top_eigenvalues_and_trace`: the top eigenvalues and the trace from ONE
  Lanczos run: the vectors found for the eigenvalues also deflate the trace, so the trace
  costs only its probes (plus any extra deflation steps asked for).
- :func:`operator_frobenius_norm`: sqrt(E ||A z||^2).

Shapes: ``d`` is the operator's dimension; a block of ``b`` probes is (b, d). The Lanczos and
power-iteration solvers these build on are in :mod:`alignkit.numerics.lanczos`.
"""

from __future__ import annotations

import math

import torch

from alignkit._checks import check_float_dtype, check_int, check_scalar
from alignkit.device import DEFAULT_DTYPE, get_device, make_generator
from alignkit.numerics.lanczos import (
    EigenResult,
    Estimate,
    Matvec,
    _check_matvec,
    _lanczos,
    rademacher,
)

__all__ = ["operator_trace", "operator_top_eigenvalues_and_trace", "operator_frobenius_norm"]

#: Most probe vectors of one estimate (beyond it, memory and time run out before an answer).
MAX_PROBES = 10_000_000


def _mean_and_stderr(samples: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    n = samples.shape[0]
    mean = samples.mean()
    if n < 2:
        return mean, torch.full_like(mean, math.nan)
    return mean, samples.std() / math.sqrt(n)


def _probe_blocks(samples: int, block_size: int) -> list[int]:
    sizes = [block_size] * (samples // block_size)
    return sizes + ([samples % block_size] if samples % block_size else [])


_PROJECT_ROWS = 32  # probes drawn and projected together (Q is read once per chunk)


def _deflated_hutchinson(
    matvec: Matvec,
    q: torch.Tensor,
    samples: int,
    block_size: int,
    gen: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard error of z^T P A P z, P = I - Q^T Q, over Rademacher z.

    ``q`` (m, d) has orthonormal rows (m = 0: plain Hutchinson).
    """
    quads = []
    chunk = max(block_size, _PROJECT_ROWS)  # project many probes per pass over Q
    for c in _probe_blocks(samples, chunk):
        zc = rademacher((c, q.shape[1]), gen, dtype=q.dtype)
        if q.shape[0] > 0:
            zc = zc - (zc @ q.T) @ q
        for z in zc.split(block_size):
            az = matvec(z[0]).unsqueeze(0) if block_size == 1 else matvec(z)
            quads.append((z * az).sum(dim=1))
    return _mean_and_stderr(torch.cat(quads))


def operator_trace(
    matvec: Matvec,
    dim: int,
    *,
    samples: int = 100,
    deflate: int = 0,
    block_size: int = 1,
    seed: int | torch.Generator | None = 0,
    dtype: torch.dtype = DEFAULT_DTYPE,
    device: str | torch.device | None = None,
) -> Estimate:
    """Hutchinson trace estimate, optionally deflated by a Lanczos basis.

    Tr(A) = E[z^T A z] for Rademacher z (Hutchinson 1989), with variance
    2 (||A||_F^2 - sum_i A_ii^2) per probe. With ``deflate = m > 0``, m Lanczos steps from a
    random start give an orthonormal Q (m, d) capturing the top of the spectrum, and
    Tr(A) = Tr(Q A Q^T) + E[z^T P A P z] with P = I - Q^T Q: the first term is exact (the sum
    of the Lanczos alphas), the second is Hutchinson on what is left, unbiased and with a
    much smaller variance when a few eigenvalues dominate (as for network Hessians). This is
    the deflation idea of Hutch++ (Meyer, Musco, Musco & Woodruff, SOSA 2021) with a Krylov
    sketch (Chen & Hallman, SIMAX 2023).

    Parameters
    ----------
    matvec : callable, (d,) -> (d,), or (b, d) -> (b, d) when ``block_size > 1``
    dim : int
        d (>= 1).
    samples : int, default=100
        Number of Rademacher probes (>= 1; the standard error needs >= 2).
    deflate : int, default=0
        Lanczos steps used for deflation, in [0, d]. Total matvecs: ``deflate + samples``.
    block_size : int, default=1
        Probes per ``matvec`` call (>= 1); > 1 needs a batched ``matvec``.
    seed, dtype, device
        As in :func:`alignkit.numerics.lanczos.operator_top_eigenvalues`.

    Returns
    -------
    Estimate
        ``value`` (), ``stderr`` () (Monte Carlo only; the deflated part is exact), matvecs.
    """
    _check_matvec(matvec)
    dtype = check_float_dtype(dtype)
    dim = check_int(dim, "dim", low=1)
    samples = check_int(samples, "samples", low=1, high=MAX_PROBES)
    deflate = check_int(deflate, "deflate", low=0, high=dim)
    block_size = check_int(block_size, "block_size", low=1)
    dev = get_device(device)
    gen = make_generator(seed, dev)
    exact = torch.zeros((), dtype=dtype, device=dev)
    q = torch.zeros(0, dim, dtype=dtype, device=dev)
    matvecs = 0
    if deflate > 0:
        start = torch.randn(dim, generator=gen, device=dev, dtype=dtype)
        lz, q, tri = _lanczos(
            matvec, start, k=1, iters=deflate, tol=0.0, generator=gen, min_steps=deflate
        )  # min_steps: restart past an exhausted Krylov block, up to deflate vectors
        matvecs += lz.matvecs
        exact = torch.diagonal(tri).sum()  # Tr(Q A Q^T) = sum_j q_j^T A q_j
    mean, stderr = _deflated_hutchinson(matvec, q, samples, block_size, gen)
    return Estimate(exact + mean, stderr, matvecs + samples)


def operator_top_eigenvalues_and_trace(
    matvec: Matvec,
    dim: int,
    *,
    k: int = 1,
    iters: int = 100,
    tol: float = 1e-4,
    samples: int = 100,
    deflate: int = 0,
    block_size: int = 1,
    seed: int | torch.Generator | None = 0,
    dtype: torch.dtype = DEFAULT_DTYPE,
    device: str | torch.device | None = None,
) -> tuple[EigenResult, Estimate]:
    """The top ``k`` eigenpairs and the trace from one Lanczos run.

    Lanczos runs from a random start until the top ``k`` pairs converge (``tol``, as in
    :func:`alignkit.numerics.lanczos.operator_top_eigenvalues`) or ``iters`` steps pass, and
    on to at least ``deflate`` steps. All m vectors Q (m, d) it built then deflate the trace:
    Tr(A) = Tr(Q A Q^T) + E[z^T P A P z], P = I - Q^T Q, the first term exact (the sum of the
    Lanczos alphas), the second Hutchinson with ``samples`` Rademacher probes. So the vectors
    the eigenvalues needed anyway reduce the trace's variance at no cost (the "reuse" of
    :func:`operator_trace`'s deflation). The eigenpairs are read from the whole basis, so
    steps beyond the eigen-solve's own only sharpen them.

    Parameters
    ----------
    matvec : callable, (d,) -> (d,), or (b, d) -> (b, d) when ``block_size > 1``
    dim : int
        d (>= 1).
    k, iters, tol
        As in :func:`alignkit.numerics.lanczos.operator_top_eigenvalues` (Lanczos only).
    samples : int, default=100
        Rademacher probes for the trace (>= 1; the standard error needs >= 2).
    deflate : int, default=0
        Lanczos steps the trace is deflated by, at least, in [0, d] (0: only the vectors the
        eigenvalues needed).
    block_size : int, default=1
        Probes per ``matvec`` call (>= 1); > 1 needs a batched ``matvec``.
    seed, dtype, device
        As in :func:`alignkit.numerics.lanczos.operator_top_eigenvalues`; one generator
        draws the start vector, then the probes.

    Returns
    -------
    eigen : EigenResult
        ``values`` (k,), ``vectors`` (k, d), ``residuals`` (k,); ``matvecs`` = Lanczos steps m.
    trace : Estimate
        ``value`` (), ``stderr`` () (Monte Carlo part only); ``matvecs`` = ``samples`` (the
        probes: the total is ``eigen.matvecs + trace.matvecs``).
    """
    _check_matvec(matvec)
    dtype = check_float_dtype(dtype)
    dim = check_int(dim, "dim", low=1)
    k = check_int(k, "k", low=1, high=dim)
    iters = check_int(iters, "iters", low=1)
    tol = check_scalar(tol, "tol", low=0.0)
    samples = check_int(samples, "samples", low=1, high=MAX_PROBES)
    deflate = check_int(deflate, "deflate", low=0, high=dim)
    block_size = check_int(block_size, "block_size", low=1)
    dev = get_device(device)
    gen = make_generator(seed, dev)
    start = torch.randn(dim, generator=gen, device=dev, dtype=dtype)
    eig, q, tri = _lanczos(
        matvec, start, k=k, iters=max(iters, k), tol=tol, generator=gen, min_steps=deflate
    )
    mean, stderr = _deflated_hutchinson(matvec, q, samples, block_size, gen)
    return eig, Estimate(torch.diagonal(tri).sum() + mean, stderr, samples)


def operator_frobenius_norm(
    matvec: Matvec,
    dim: int,
    *,
    samples: int = 100,
    block_size: int = 1,
    seed: int | torch.Generator | None = 0,
    dtype: torch.dtype = DEFAULT_DTYPE,
    device: str | torch.device | None = None,
) -> Estimate:
    """Estimate ||A||_F = sqrt(E ||A z||^2) with Rademacher z (E z z^T = I).

    The mean of ||A z||^2 is unbiased for ||A||_F^2; its square root is reported with the
    delta-method standard error stderr(mean) / (2 ||A||_F) (slightly biased low, by Jensen).
    Parameters as in :func:`operator_trace`.
    """
    _check_matvec(matvec)
    dtype = check_float_dtype(dtype)
    dim = check_int(dim, "dim", low=1)
    samples = check_int(samples, "samples", low=1, high=MAX_PROBES)
    block_size = check_int(block_size, "block_size", low=1)
    dev = get_device(device)
    gen = make_generator(seed, dev)
    sq = []
    for b in _probe_blocks(samples, block_size):
        z = rademacher((b, dim), gen, dtype=dtype)
        az = matvec(z[0]).unsqueeze(0) if block_size == 1 else matvec(z)
        sq.append(az.pow(2).sum(dim=1))
    mean, stderr = _mean_and_stderr(torch.cat(sq))
    norm = mean.clamp(min=0.0).sqrt()
    return Estimate(norm, stderr / (2 * norm.clamp(min=torch.finfo(norm.dtype).tiny)), samples)
