"""The routes ``hessian.py`` times (alignkit, the classical loop, PyHessian), their
convergence trajectories and the data. PyHessian (GPL) is imported here only, and only in the
benchmark environment (see ``hessian.py``)."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from sklearn.datasets import load_digits

from alignkit.numerics.hessian import (
    hutchinson_trace,
    top_eigenvalues,
    top_eigenvalues_and_trace,
)
from alignkit.numerics.lanczos import operator_top_eigenvalues, rademacher

try:  # GPL: only ever imported here, in the benchmark environment
    import pyhessian

    PYHESSIAN_STATUS = f"PyHessian {getattr(pyhessian, '__version__', '0.1')} importable"
except Exception as exc:  # noqa: BLE001 - any failure is recorded, (a) vs (b) still runs
    pyhessian = None
    PYHESSIAN_STATUS = f"unavailable: {type(exc).__name__}: {exc}"

Run = dict[str, float]  # eig, trace, trace_se (per-run standard error), eig_s, trace_s, total_s


def data() -> tuple[torch.Tensor, torch.Tensor]:
    x_np, y_np = load_digits(return_X_y=True)
    x = torch.tensor(x_np, dtype=torch.float32)
    x = (x - x.mean(0)) / x.std(0).clamp(min=1e-6)
    return x, torch.tensor(y_np)


def train(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, **kw: Any) -> None:
    opt = torch.optim.SGD(model.parameters(), **kw)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    for p in model.parameters():
        p.grad = None


def _se(values: list[float]) -> float:
    return float(np.std(values, ddof=1) / math.sqrt(len(values))) if len(values) > 1 else math.nan


def _run(eig: float, tr: float, se: float, t0: float, t1: float, t2: float) -> Run:
    return {"eig": eig, "trace": tr, "trace_se": se, "eig_s": t1 - t0, "trace_s": t2 - t1,
            "total_s": t2 - t0}  # fmt: skip


# ---------------------------------------------------------------- (b) classical loop
def classical(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    power_iters: int,
    probes: int,
    seed: int,
    start_seed: int = 0,
) -> Run:
    """Power iteration + Hutchinson on the retained double-backward graph."""
    t0 = time.perf_counter()
    params = [p for p in model.parameters() if p.requires_grad]
    loss = torch.nn.functional.cross_entropy(model(x), y)
    g = torch.autograd.grad(loss, params, create_graph=True)

    def hvp(v: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        gv = sum((gi * vi).sum() for gi, vi in zip(g, v, strict=True))
        return torch.autograd.grad(gv, params, retain_graph=True)

    gen = torch.Generator().manual_seed(start_seed)  # the same start vector as PyHessian's
    v = [torch.randn(p.shape, generator=gen) for p in params]
    lam = 0.0
    for _ in range(power_iters):
        norm = torch.sqrt(sum((vi**2).sum() for vi in v))
        v = [vi / norm for vi in v]
        hv = hvp(v)
        lam = float(sum((a * b).sum() for a, b in zip(hv, v, strict=True)))
        v = list(hv)
    t1 = time.perf_counter()
    gen = torch.Generator().manual_seed(seed)
    quads = []
    for _ in range(probes):
        z = [rademacher(tuple(p.shape), gen, dtype=p.dtype) for p in params]
        quads.append(float(sum((a * b).sum() for a, b in zip(hvp(z), z, strict=True))))
    t2 = time.perf_counter()
    return _run(lam, float(np.mean(quads)), _se(quads), t0, t1, t2)


# ---------------------------------------------------------------- (c) PyHessian
def run_pyhessian(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    power_iters: int,
    probes: int,
    seed: int,
    start_seed: int = 0,
) -> Run:
    for p in model.parameters():
        p.grad = None  # PyHessian calls loss.backward(): never accumulate over repeats
    t0 = time.perf_counter()
    torch.manual_seed(start_seed)  # PyHessian draws its start from the global generator
    h = pyhessian.hessian(model, torch.nn.CrossEntropyLoss(), data=(x, y), cuda=False)
    eig, _ = h.eigenvalues(maxIter=power_iters, tol=0.0)
    t1 = time.perf_counter()
    torch.manual_seed(seed)
    tr = h.trace(maxIter=probes, tol=0.0)
    t2 = time.perf_counter()
    for p in model.parameters():
        p.grad = None
    return _run(float(eig[0]), float(np.mean(tr)), _se(tr), t0, t1, t2)


# ---------------------------------------------------------------- (a) alignkit
def run_alignkit(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    n_eig: int,
    probes: int,
    deflate: int,
    start_seed: int,
    route: str,
    block: int,
) -> Run:
    """lambda_max alone (Lanczos), then lambda_max + trace from one shared Lanczos run."""
    kw: dict[str, Any] = {"loss": "cross_entropy", "iters": n_eig, "tol": 0.0, "route": route}
    t0 = time.perf_counter()
    top_eigenvalues(model, x, y, seed=start_seed, **kw)
    t1 = time.perf_counter()
    eig, tr = top_eigenvalues_and_trace(
        model, x, y, samples=probes, deflate=deflate, block_size=block, seed=start_seed, **kw
    )
    t2 = time.perf_counter()
    out = _run(float(eig.values[0]), float(tr.value), float(tr.stderr), t0, t1, t2)
    out["total_s"] = t2 - t1  # the combined call; eig_s is the separate lambda_max call
    out["trace_s"] = out["total_s"] - out["eig_s"]
    return out


def run_alignkit_power(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    power_iters: int,
    probes: int,
    seed: int,
    start_seed: int,
) -> Run:
    """(a0): PyHessian's algorithms (power iteration, plain Hutchinson) on alignkit's HVPs."""
    t0 = time.perf_counter()
    eig = top_eigenvalues(
        model, x, y, loss="cross_entropy", method="power", iters=power_iters, tol=0.0,
        seed=start_seed,
    )  # fmt: skip
    t1 = time.perf_counter()
    tr = hutchinson_trace(model, x, y, loss="cross_entropy", samples=probes, seed=seed)
    t2 = time.perf_counter()
    return _run(float(eig.values[0]), float(tr.value), float(tr.stderr), t0, t1, t2)


# ---------------------------------------------------------------- trajectories
def settle(estimates: list[float], ref: float, rtol: float) -> int | None:
    """Smallest number of HVPs after which every later estimate is within rtol of ref."""
    ok = [abs(e - ref) <= rtol * abs(ref) for e in estimates]
    for i in range(len(ok)):
        if all(ok[i:]):
            return i + 1
    return None


def power_trajectory(
    hvp: Callable[[torch.Tensor], torch.Tensor], start: torch.Tensor, steps: int
) -> list[float]:
    out, u = [], start
    for _ in range(steps):
        u = u / u.norm()
        w = hvp(u)
        out.append(float(u @ w))
        u = w
    return out


def lanczos_trajectory(
    matvec: Callable[[torch.Tensor], torch.Tensor], d: int, steps: int, start_seed: int
) -> list[float]:
    """Top Ritz value after j steps, j = 1..steps: Rayleigh-Ritz on the recorded basis."""
    ins: list[torch.Tensor] = []
    outs: list[torch.Tensor] = []

    def recording(v: torch.Tensor) -> torch.Tensor:
        w = matvec(v)
        ins.append(v.clone())
        outs.append(w.clone())
        return w

    operator_top_eigenvalues(recording, d, iters=steps, tol=0.0, seed=start_seed, device="cpu")
    q, w = torch.stack(ins).double(), torch.stack(outs).double()
    t = q @ w.T
    t = 0.5 * (t + t.T)
    return [float(torch.linalg.eigvalsh(t[:j, :j])[-1]) for j in range(1, len(ins) + 1)]


def pyhessian_trajectory(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, start_seed: int
) -> list[float]:
    """Rayleigh quotient at each of PyHessian's power iterations (its returned estimate)."""
    ph_module = sys.modules["pyhessian.hessian"]  # the module; pyhessian.hessian is the class

    record: list[float] = []
    original = ph_module.hessian_vector_product

    def recording(grads: Any, params: Any, v: Any) -> Any:
        hv = original(grads, params, v)
        record.append(float(sum((a * b).sum() for a, b in zip(hv, v, strict=True))))
        return hv

    ph_module.hessian_vector_product = recording
    try:
        run_pyhessian(model, x, y, steps, 1, 0, start_seed)
    finally:
        ph_module.hessian_vector_product = original
    return record[:steps]


def classical_hvp(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor
) -> Callable[[torch.Tensor], torch.Tensor]:
    params = [p for p in model.parameters() if p.requires_grad]
    loss = torch.nn.functional.cross_entropy(model(x), y)
    g = torch.autograd.grad(loss, params, create_graph=True)
    sizes = [p.numel() for p in params]

    def hvp(v: torch.Tensor) -> torch.Tensor:
        vs = [c.view_as(p) for c, p in zip(v.split(sizes), params, strict=True)]
        hv = torch.autograd.grad(g, params, grad_outputs=vs, retain_graph=True)
        return torch.cat([h.reshape(-1) for h in hv])

    return hvp
