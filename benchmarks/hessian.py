"""Top Hessian eigenvalue + trace of a digits MLP: alignkit vs double-backward vs PyHessian.

PyHessian is GPL: it is never a dependency of alignkit and never imported by it. It lives
in a separate environment that also sees the main one (torch, scikit-learn, alignkit)::

    .venv/bin/python -m venv .venv-bench
    echo "import site; site.addsitedir('$PWD/.venv/lib/python3.11/site-packages')" \\
        > .venv-bench/lib/python3.11/site-packages/_alignkit_venv.pth
    .venv-bench/bin/pip install --no-deps PyHessian==0.1
    .venv-bench/bin/python benchmarks/hessian.py            # -> benchmarks/results/hessian.json

Run with ``.venv/bin/python`` instead and route (c) is recorded as unavailable.

Problem: scikit-learn's bundled digits (1797 x 64, standardized pixels), a tanh MLP
64-256-128-10 (d = 50,826), mean cross-entropy, float32, on CPU with ``--threads`` threads.
Checkpoints: "brief" (100 full-batch GD steps, lr 0.05; ~93% train accuracy) and
"converged" (200 more steps with momentum 0.9; 100% train accuracy).

Routes: (a) alignkit: Lanczos on forward-over-reverse HVPs (``jvp`` over ``grad``) for
lambda_max, Lanczos-deflated Hutchinson for the trace; (a0) alignkit's own power iteration and
plain Hutchinson, to separate the per-HVP cost from the algorithms; (b) the classical loop:
``g = autograd.grad(L, params, create_graph=True)``, then ``Hv = autograd.grad(g.v, params)``
on the retained graph, power iteration + plain Hutchinson; (c) PyHessian 0.1
(``hessian.eigenvalues`` + ``hessian.trace``, the same algorithms as (b)).

Matched accuracy, fixed in advance and checked after the fact:
- lambda_max: each route gets the smallest number of HVPs after which its estimate stays
  within ``--eig-rtol`` (relative) of a float64 reference (Lanczos to residual 1e-9), read
  off a recorded convergence trajectory from the same start vector as the timed runs.
- trace: each route gets the number of Rademacher probes that makes its predicted standard
  error ``--trace-rse`` x Tr(H), from per-probe standard deviations measured in pilot runs
  (plain Hutchinson for a0, b, c; deflated for a, whose deflation size is picked to
  minimise its total HVPs). Reference: deflated Hutchinson (80 Lanczos vectors, 800 probes).
Timed runs: ``--repeats`` rounds, routes interleaved in rotating order, medians reported;
each timed run starts from the model and data (operator or gradient graph built inside).
"""

from __future__ import annotations

import os

# Idle OpenMP threads sleep instead of spinning: on a shared 2-core machine a spinning
# runtime slows every route 10-30x whenever another process runs (measured here).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import copy  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

from alignkit.numerics.hessian import (  # noqa: E402
    flat_params,
    hessian_operator,
    hutchinson_trace,
    top_eigenvalues,
)
from alignkit.numerics.lanczos import operator_top_eigenvalues, rademacher  # noqa: E402

warnings.filterwarnings("ignore")  # torch's jit.script deprecation, create_graph cycles
RESULT = Path(__file__).parent / "results" / "hessian.json"

try:  # GPL: only ever imported here, in the benchmark environment
    import pyhessian

    PYHESSIAN_STATUS = f"PyHessian {getattr(pyhessian, '__version__', '0.1')} importable"
except Exception as exc:  # noqa: BLE001 - any failure is recorded, (a) vs (b) still runs
    pyhessian = None
    PYHESSIAN_STATUS = f"unavailable: {type(exc).__name__}: {exc}"


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


# ---------------------------------------------------------------- (b) classical loop
def classical(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    power_iters: int,
    probes: int,
    seed: int,
    start_seed: int = 0,
) -> tuple[float, float, float, float]:
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
    return lam, float(np.mean(quads)), t1 - t0, t2 - t1


# ---------------------------------------------------------------- (c) PyHessian
def run_pyhessian(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    power_iters: int,
    probes: int,
    seed: int,
    start_seed: int = 0,
) -> tuple[float, float, float, float]:
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
    return float(eig[0]), float(np.mean(tr)), t1 - t0, t2 - t1


# ---------------------------------------------------------------- (a) alignkit
def run_alignkit(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    lanczos_iters: int,
    probes: int,
    deflate: int,
    seed: int,
    block: int,
    power: bool = False,
) -> tuple[float, float, float, float]:
    t0 = time.perf_counter()
    method = "power" if power else "lanczos"
    eig = top_eigenvalues(
        model, x, y, loss="cross_entropy", method=method, iters=lanczos_iters, tol=0.0, seed=0
    )
    t1 = time.perf_counter()
    tr = hutchinson_trace(
        model,
        x,
        y,
        loss="cross_entropy",
        samples=probes,
        deflate=deflate,
        block_size=block,
        seed=seed,
    )
    t2 = time.perf_counter()
    return float(eig.values[0]), float(tr.value), t1 - t0, t2 - t1


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


def probe_sd(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, deflate: int, probes: int, seed: int
) -> float:
    est = hutchinson_trace(
        model, x, y, loss="cross_entropy", samples=probes, deflate=deflate, block_size=16, seed=seed
    )
    return float(est.stderr) * math.sqrt(probes)


def median(xs: list[float]) -> float:
    return float(np.median(xs))


def benchmark(
    name: str, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, args: argparse.Namespace
) -> dict[str, Any]:
    t_start = time.perf_counter()
    with torch.no_grad():
        out = model(x)
        loss = float(torch.nn.functional.cross_entropy(out, y))
        acc = float((out.argmax(1) == y).float().mean())
    d = flat_params(model).numel()
    # reference in float64
    m64, x64 = copy.deepcopy(model).double(), x.double()
    ref_eig = top_eigenvalues(m64, x64, y, loss="cross_entropy", k=5, iters=300, tol=1e-9)
    lam = float(ref_eig.values[0])
    ref_tr = hutchinson_trace(  # float32: rounding is far below the Monte Carlo error
        model,
        x,
        y,
        loss="cross_entropy",
        samples=args.ref_probes,
        deflate=args.ref_deflate,
        block_size=25,
        seed=12345,
    )
    tr_ref, tr_se = float(ref_tr.value), float(ref_tr.stderr)
    v = torch.randn(d, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    hv_a = hessian_operator(m64, x64, y, loss="cross_entropy")(v)
    hv_b = classical_hvp(m64, x64, y)(v)
    route_agreement = float((hv_a - hv_b).norm() / hv_b.norm())
    del m64, x64
    # convergence trajectories (float32) from start vectors drawn with seeds 0..starts-1, each
    # route's own way (seed 0 is the timed runs' start); a route's HVP budget is the largest
    # count over the starts, so every start reaches the tolerance
    matvec = hessian_operator(model, x, y, loss="cross_entropy")
    params = [p for p in model.parameters() if p.requires_grad]
    trajs: dict[str, list[list[float]]] = {"a_lanczos": [], "a0_power": [], "b_power": []}
    for s in range(args.starts):
        trajs["a_lanczos"].append(lanczos_trajectory(matvec, d, args.max_lanczos, s))
        start = torch.randn(1, d, generator=torch.Generator().manual_seed(s))[0]
        trajs["a0_power"].append(power_trajectory(matvec, start, args.max_power))
        gen = torch.Generator().manual_seed(s)  # per-parameter randn, as PyHessian draws it
        start_b = torch.cat([torch.randn(p.shape, generator=gen).reshape(-1) for p in params])
        trajs["b_power"].append(
            power_trajectory(classical_hvp(model, x, y), start_b, args.max_power)
        )
        if pyhessian is not None:
            trajs.setdefault("c_pyhessian", [])
            trajs["c_pyhessian"].append(pyhessian_trajectory(model, x, y, args.max_power, s))
    counts = {k: [settle(t, lam, args.eig_rtol) for t in ts] for k, ts in trajs.items()}
    hvps: dict[str, int | None] = {}
    for k, c in counts.items():
        reached = [v for v in c if v is not None]
        hvps[k] = max(reached) if len(reached) == len(c) else None
    # trace pilots: per-probe standard deviations
    sd_plain = probe_sd(model, x, y, 0, args.pilot_probes, seed=777)
    target = args.trace_rse * abs(tr_ref)
    n_plain = max(2, math.ceil((sd_plain / target) ** 2))
    candidates = {}
    for m in args.deflate_options:
        sd_m = sd_plain if m == 0 else probe_sd(model, x, y, m, args.pilot_probes, seed=778)
        candidates[m] = {"sd": sd_m, "probes": max(2, math.ceil((sd_m / target) ** 2))}
    m_a = min(candidates, key=lambda m: m + candidates[m]["probes"])
    n_a = candidates[m_a]["probes"]
    # timed runs
    runs: dict[str, Callable[[int], tuple[float, float, float, float]]] = {}
    if hvps["a_lanczos"] is not None:
        runs["a"] = lambda s: run_alignkit(
            model, x, y, hvps["a_lanczos"] or 1, n_a, m_a, s, args.block
        )
    if hvps["a0_power"] is not None:
        runs["a0"] = lambda s: run_alignkit(
            model, x, y, hvps["a0_power"] or 1, n_plain, 0, s, 1, power=True
        )
    if hvps["b_power"] is not None:
        runs["b"] = lambda s: classical(model, x, y, hvps["b_power"] or 1, n_plain, s)
    if pyhessian is not None and hvps.get("c_pyhessian") is not None:
        runs["c"] = lambda s: run_pyhessian(model, x, y, hvps["c_pyhessian"] or 1, n_plain, s)
    times: dict[str, dict[str, list[float]]] = {
        k: {"eig_s": [], "trace_s": [], "total_s": [], "eig_rel_err": [], "trace_rel_err": []}
        for k in runs
    }
    keys = list(runs)
    for r in range(args.repeats):
        for k in keys[r % len(keys) :] + keys[: r % len(keys)]:
            e, t, te, tt = runs[k](1000 + r)
            rec = times[k]
            rec["eig_s"].append(te)
            rec["trace_s"].append(tt)
            rec["total_s"].append(te + tt)
            rec["eig_rel_err"].append(abs(e - lam) / abs(lam))
            rec["trace_rel_err"].append(abs(t - tr_ref) / abs(tr_ref))
    routes: dict[str, Any] = {}
    label = {
        "a": "alignkit: Lanczos + deflated Hutchinson (jvp over grad)",
        "a0": "alignkit: power iteration + plain Hutchinson (jvp over grad)",
        "b": "classical double-backward: power iteration + Hutchinson",
        "c": "PyHessian 0.1: eigenvalues() + trace()",
    }
    hv_key = {"a": "a_lanczos", "a0": "a0_power", "b": "b_power", "c": "c_pyhessian"}
    for k, rec in times.items():
        n_eig = hvps[hv_key[k]] or 0
        n_tr = (m_a + n_a) if k == "a" else n_plain
        routes[k] = {
            "route": label[k],
            "hvps_eig": n_eig,
            "hvps_trace": n_tr,
            "eig_s_median": median(rec["eig_s"]),
            "trace_s_median": median(rec["trace_s"]),
            "total_s_median": median(rec["total_s"]),
            "total_s_min": min(rec["total_s"]),
            "ms_per_hvp_trace": 1e3 * median(rec["trace_s"]) / n_tr,
            "trace_rel_err_rms": float(np.sqrt(np.mean(np.square(rec["trace_rel_err"])))),
            **{key: rec[key] for key in ("eig_rel_err", "trace_rel_err", "total_s")},
        }
    ratios = {}
    for num, den in (("c", "a"), ("b", "a"), ("c", "b"), ("a0", "a"), ("c", "a0")):
        if num in routes and den in routes:
            for part in ("total", "eig", "trace"):
                key = f"{part}_s_median"
                ratios[f"{part}: {num} / {den}"] = routes[num][key] / routes[den][key]
    return {
        "checkpoint": name,
        "train_loss": loss,
        "train_accuracy": acc,
        "d": d,
        "reference": {
            "lambda_max": lam,
            "top5_eigenvalues": [float(t) for t in ref_eig.values],
            "lambda_converged": ref_eig.converged,
            "trace": tr_ref,
            "trace_stderr": tr_se,
            "trace_reference_hvps": ref_tr.matvecs,
            "hvp_route_agreement_float64": route_agreement,
        },
        "matched_accuracy": {
            "eig_rtol": args.eig_rtol,
            "hvps_to_eig_rtol": hvps,
            "hvps_to_eig_rtol_per_start": counts,
            "trace_target_rse": args.trace_rse,
            "probe_sd_plain": sd_plain,
            "deflation_candidates": candidates,
            "deflate_chosen": m_a,
            "probes_plain": n_plain,
            "probes_deflated": n_a,
        },
        "routes": routes,
        "time_ratios_median": ratios,
        "trajectories_rel_err_start0": {
            k: [abs(e - lam) / abs(lam) for e in ts[0][:40]] for k, ts in trajs.items()
        },
        "seconds": time.perf_counter() - t_start,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--eig-rtol", type=float, default=1e-3)
    p.add_argument("--trace-rse", type=float, default=0.01)
    p.add_argument("--ref-probes", type=int, default=800)
    p.add_argument("--ref-deflate", type=int, default=80)
    p.add_argument("--pilot-probes", type=int, default=64)
    p.add_argument("--deflate-options", type=int, nargs="+", default=[0, 10, 20, 40])
    p.add_argument("--max-lanczos", type=int, default=40)
    p.add_argument("--max-power", type=int, default=100)
    p.add_argument("--starts", type=int, default=3, help="start vectors per route for counts")
    p.add_argument("--block", type=int, default=16, help="probes per vmapped call in (a)")
    p.add_argument("--checkpoints", nargs="+", default=["brief", "converged"])
    p.add_argument("--out", type=Path, default=RESULT)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    load_before = os.getloadavg()
    x, y = data()
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(64, 256),
        torch.nn.Tanh(),
        torch.nn.Linear(256, 128),
        torch.nn.Tanh(),
        torch.nn.Linear(128, 10),
    )
    results = []
    train(model, x, y, 100, lr=0.05)
    if "brief" in args.checkpoints:
        results.append(benchmark("brief: 100 GD steps, lr 0.05", model, x, y, args))
    if "converged" in args.checkpoints:
        train(model, x, y, 200, lr=0.05, momentum=0.9)
        results.append(benchmark("converged: +200 steps, lr 0.05, momentum 0.9", model, x, y, args))
    report = {
        "benchmark": "top Hessian eigenvalue + trace, digits MLP 64-256-128-10 (tanh), CE",
        "protocol": __doc__,
        "pyhessian": PYHESSIAN_STATUS,
        "environment": {
            "torch": torch.__version__,
            "python": platform.python_version(),
            "threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(),
            "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        },
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "checkpoints": results,
        "wall_seconds": time.perf_counter() - t0,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    for res in results:
        print(res["checkpoint"], json.dumps(res["matched_accuracy"]["hvps_to_eig_rtol"]))
        for k, r in res["routes"].items():
            print(
                f"  {k:3s} {r['route']:62s} eig {r['hvps_eig']:4d} HVPs {r['eig_s_median']:6.2f}s"
                f"  trace {r['hvps_trace']:4d} HVPs {r['trace_s_median']:6.2f}s"
            )
        for k, v in res["time_ratios_median"].items():
            print(f"  {k}: {v:.2f}x")
    print(f"wall {report['wall_seconds']:.0f}s, load {load_before} -> {os.getloadavg()}")


if __name__ == "__main__":
    main()
