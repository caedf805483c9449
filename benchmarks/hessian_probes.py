"""Pilot runs, the profile and the untimed trace-accuracy check of ``hessian.py``."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from hessian_routes import pyhessian  # sibling module (benchmarks/)

from alignkit.numerics.functional import loss_fn
from alignkit.numerics.hessian import (
    flat_params,
    hessian_operator,
    hutchinson_trace,
    top_eigenvalues_and_trace,
)
from alignkit.numerics.lanczos import _lanczos, rademacher
from alignkit.numerics.trace import operator_top_eigenvalues_and_trace


def pilots(
    matvec: Callable[[torch.Tensor], torch.Tensor],
    d: int,
    n_eig: int,
    options: list[int],
    probes: int,
    target: float,
    seed: int,
) -> tuple[dict[str, float], dict[int, dict[str, float]]]:
    """Per-probe standard deviations: plain Hutchinson, and deflated by max(m, n_eig) vectors.

    One Lanczos run from its own start (as ``top_eigenvalues_and_trace`` runs it: n_eig
    steps, on to m), the same Rademacher probes for every candidate.
    """
    gen = torch.Generator().manual_seed(seed)
    start = torch.randn(d, generator=gen)
    steps = max([*options, n_eig])
    _, q, _ = _lanczos(matvec, start, k=1, iters=steps, tol=0.0, generator=gen)
    z = rademacher((probes, d), gen, dtype=torch.float32)

    def sd_of(zs: torch.Tensor) -> float:
        return float(np.std([float(zi @ matvec(zi)) for zi in zs], ddof=1))

    def need(sd: float) -> int:
        return max(2, math.ceil((sd / target) ** 2))

    sd_plain = sd_of(z)
    plain = {"sd": sd_plain, "probes": need(sd_plain)}
    deflated = {}
    for m in options:
        qm = q[: max(m, n_eig)]
        sd = sd_of(z - (z @ qm.T) @ qm)
        deflated[m] = {"lanczos_steps": max(m, n_eig), "sd": sd, "probes": need(sd)}
    return plain, deflated


def median(xs: list[float]) -> float:
    return float(np.median(xs))


def _median_time(fn: Callable[[], Any], reps: int) -> float:
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return median(times)


def profile(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    n_eig_a: int,
    deflate: int,
    probes_a: int,
    n_eig_c: int,
    probes_c: int,
    reps: int = 5,
) -> dict[str, Any]:
    """Where the time goes: one product per route and block size; build / products / rest."""
    d = flat_params(model).numel()
    gen = torch.Generator().manual_seed(99)
    v, block = torch.randn(d, generator=gen), torch.randn(16, d, generator=gen)
    out: dict[str, Any] = {
        "forward_ms": 1e3 * _median_time(lambda: model(x), reps),
        "ms_per_product": {},
        "build_ms": {},
    }
    for route in ("double_backward", "forward_over_reverse"):
        out["build_ms"][route] = 1e3 * _median_time(
            lambda r=route: hessian_operator(model, x, y, loss="cross_entropy", route=r), reps
        )
        mv = hessian_operator(model, x, y, loss="cross_entropy", route=route)
        one = _median_time(lambda mv=mv: mv(v), reps)
        out["ms_per_product"][f"{route}, one vector"] = 1e3 * one
        out["ms_per_product"][f"{route}, block of 16"] = (
            1e3 * _median_time(lambda mv=mv: mv(block), max(2, reps // 2)) / 16
        )
    th = flat_params(model).requires_grad_(True)
    f = loss_fn(model, x, y, loss="cross_entropy")
    g = torch.autograd.grad(f(th), th, create_graph=True)[0]
    out["ms_per_product"]["double_backward, block of 16 with is_grads_batched (not a route)"] = (
        1e3
        * _median_time(
            lambda: torch.autograd.grad(
                g, th, grad_outputs=block, retain_graph=True, is_grads_batched=True
            ),
            max(2, reps // 2),
        )
        / 16
    )
    # (a) as it runs in the benchmark, with its products timed
    spent = [0.0, 0]

    def timed(mv: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
        def call(u: torch.Tensor) -> torch.Tensor:
            t = time.perf_counter()
            w = mv(u)
            spent[0] += time.perf_counter() - t
            spent[1] += 1 if u.ndim == 1 else u.shape[0]
            return w

        return call

    t0 = time.perf_counter()
    mv = hessian_operator(model, x, y, loss="cross_entropy")
    t1 = time.perf_counter()
    operator_top_eigenvalues_and_trace(
        timed(mv), d, iters=n_eig_a, tol=0.0, samples=probes_a, deflate=deflate, device="cpu"
    )
    t2 = time.perf_counter()
    out["a_breakdown"] = {
        "operator_build_s": t1 - t0,
        "products": spent[1],
        "products_s": spent[0],
        "rest_s (Lanczos, probes, projections, Python)": t2 - t1 - spent[0],
    }
    if pyhessian is not None:
        ph_module = sys.modules["pyhessian.hessian"]
        original = ph_module.hessian_vector_product
        spent[:] = [0.0, 0]

        def timed_ph(grads: Any, params: Any, vec: Any) -> Any:
            t = time.perf_counter()
            hv = original(grads, params, vec)
            spent[0] += time.perf_counter() - t
            spent[1] += 1
            return hv

        for p in model.parameters():
            p.grad = None
        ph_module.hessian_vector_product = timed_ph
        try:
            t0 = time.perf_counter()
            h = pyhessian.hessian(model, torch.nn.CrossEntropyLoss(), data=(x, y), cuda=False)
            t1 = time.perf_counter()
            h.eigenvalues(maxIter=n_eig_c, tol=0.0)
            h.trace(maxIter=probes_c, tol=0.0)
            t2 = time.perf_counter()
        finally:
            ph_module.hessian_vector_product = original
            for p in model.parameters():
                p.grad = None
        out["c_breakdown"] = {
            "graph_build_s": t1 - t0,
            "products": spent[1],
            "products_s": spent[0],
            "rest_s (power iteration, probes, Python)": t2 - t1 - spent[0],
        }
    return out


def trace_accuracy(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    tr_ref: float,
    n_eig: int,
    deflate: int,
    probes_a: int,
    probes_plain: int,
    seeds: int,
) -> dict[str, Any]:
    """Actual errors of the two trace estimators as timed, over ``seeds`` fresh seeds (untimed).

    (a)'s shared Lanczos run with its deflation and probes, and plain Hutchinson with the
    plain probe count (the estimator of a0, b and c: Rademacher probes, the same law).
    """
    if seeds < 1:
        return {}
    kw: dict[str, Any] = {"loss": "cross_entropy"}
    err_a, err_p, rse_a, rse_p = [], [], [], []
    for s in range(seeds):
        _, tr = top_eigenvalues_and_trace(
            model, x, y, iters=n_eig, tol=0.0, samples=probes_a, deflate=deflate,
            seed=5000 + s, **kw,
        )  # fmt: skip
        plain = hutchinson_trace(model, x, y, samples=probes_plain, seed=6000 + s, **kw)
        err_a.append(float(tr.value) / tr_ref - 1)
        err_p.append(float(plain.value) / tr_ref - 1)
        rse_a.append(float(tr.stderr) / abs(tr_ref))
        rse_p.append(float(plain.stderr) / abs(tr_ref))

    def rms(v: list[float]) -> float:
        return float(np.sqrt(np.mean(np.square(v))))

    return {
        "seeds": seeds,
        "a: rms_rel_err": rms(err_a),
        "plain (a0, b, c): rms_rel_err": rms(err_p),
        "a: predicted_rse_pooled": rms(rse_a),
        "plain (a0, b, c): predicted_rse_pooled": rms(rse_p),
        "a: rel_err": err_a,
        "plain: rel_err": err_p,
        "note": "rms_rel_err includes the reference's own standard error "
        "(reference.trace_stderr / trace); predicted_rse_pooled is the root mean square "
        "of the runs' own standard errors",
    }
