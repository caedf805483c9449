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
64-256-128-10 (d = 50,826), mean cross-entropy, float32, on CPU with ``--threads`` threads
(default: torch's, i.e. ``OMP_NUM_THREADS``; the committed JSON used 1 on a 2-core machine).
Checkpoints: "brief" (100 full-batch GD steps, lr 0.05; ~93% train accuracy) and
"converged" (200 more steps with momentum 0.9; 100% train accuracy).

Routes: (a) alignkit as a user calls it (``route="auto"``: a double backward on the gradient
graph, built once per call, on CPU): ``top_eigenvalues`` (Lanczos) for lambda_max alone, and
``top_eigenvalues_and_trace`` for lambda_max + trace, where the Lanczos vectors of the
eigen-solve (and, if it pays, a few more Lanczos steps) deflate the Hutchinson trace: one
Lanczos run, no second one; (a1) the same algorithms on the forward-over-reverse products
(``jvp`` over ``grad``, 16-probe ``vmap`` blocks), alignkit's route before; (a0) alignkit's
power iteration and plain Hutchinson on its "auto" products, to separate the per-HVP cost
from the algorithms; (b) the classical loop: ``g = autograd.grad(L, params,
create_graph=True)``, then ``Hv = autograd.grad(g.v, params)`` on the retained graph, power
iteration + plain Hutchinson; (c) PyHessian 0.1 (``hessian.eigenvalues`` +
``hessian.trace``, the same algorithms as (b)). For (a) and (a1) "trace" time is total minus
the separate lambda_max call (the trace has no call of its own there).

Matched accuracy, fixed in advance and checked after the fact:
- lambda_max: each route gets the smallest number of HVPs after which its estimate stays
  within ``--eig-rtol`` (relative) of a float64 reference (Lanczos to residual 1e-9), read
  off a recorded convergence trajectory from the same start vector as the timed runs.
- trace: each route gets the number of Rademacher probes that makes its predicted standard
  error ``--trace-rse`` x Tr(H), from per-probe standard deviations measured in pilot runs of
  ``--pilot-probes`` probes with their own seeds (plain Hutchinson for a0, b, c; for a and a1
  deflated by max(m, the lambda_max Lanczos steps) vectors, m from ``--deflate-options``
  picked to minimise the total HVPs). Each timed run's own standard error is recorded too
  ("trace_predicted_rse"): it is how accurate that run says it is, to compare with the target.
  Reference: deflated Hutchinson (80 Lanczos vectors, 800 probes).
Timed runs: ``--repeats`` rounds, routes interleaved in rotating order, medians reported;
each timed run starts from the model and data (operator or gradient graph built inside).
Round r starts every eigen-solve from start seed r mod ``--starts`` (the starts the HVP
counts cover); (a) draws its probes from the same generator, the others from seed 1000 + r.
"profile": where the time goes for (a) and (c) (graph build, products, the rest), and the
cost of one product per route and block size.
"""

from __future__ import annotations

import os

# Idle OpenMP threads sleep instead of spinning: on a shared 2-core machine a spinning
# runtime slows every route 10-30x whenever another process runs (measured here).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import copy  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from hessian_probes import median, pilots, profile, trace_accuracy  # noqa: E402 - benchmarks/
from hessian_routes import (  # noqa: E402
    PYHESSIAN_STATUS,
    Run,
    classical,
    classical_hvp,
    data,
    lanczos_trajectory,
    power_trajectory,
    pyhessian,
    pyhessian_trajectory,
    run_alignkit,
    run_alignkit_power,
    run_pyhessian,
    settle,
    train,
)

from alignkit.numerics.hessian import (  # noqa: E402
    flat_params,
    hessian_operator,
    hutchinson_trace,
    top_eigenvalues,
)

warnings.filterwarnings("ignore")  # torch's jit.script deprecation, create_graph cycles
RESULT = Path(__file__).parent / "results" / "hessian.json"


def benchmark(
    name: str, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, args: argparse.Namespace
) -> dict[str, Any]:
    t_start = time.perf_counter()
    load_before = os.getloadavg()
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
        seed=12345,
    )
    tr_ref, tr_se = float(ref_tr.value), float(ref_tr.stderr)
    v = torch.randn(d, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    hv_b = classical_hvp(m64, x64, y)(v)
    agreement = {
        route: float((hessian_operator(m64, x64, y, loss="cross_entropy", route=route)(v) - hv_b)
                     .norm() / hv_b.norm())
        for route in ("double_backward", "forward_over_reverse")
    }  # fmt: skip
    del m64, x64
    # convergence trajectories (float32) from start vectors drawn with seeds 0..starts-1, each
    # route's own way; a route's HVP budget is the largest count over the starts, so every
    # start reaches the tolerance (timed round r starts from seed r mod starts)
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
    n_lz = hvps["a_lanczos"] or args.max_lanczos
    # trace pilots: per-probe standard deviations (their own start and probes)
    target = args.trace_rse * abs(tr_ref)
    plain, candidates = pilots(
        matvec, d, n_lz, args.deflate_options, args.pilot_probes, target, seed=777
    )
    n_plain = int(plain["probes"])
    m_a = min(candidates, key=lambda m: candidates[m]["lanczos_steps"] + candidates[m]["probes"])
    n_a = int(candidates[m_a]["probes"])
    steps_a = int(candidates[m_a]["lanczos_steps"])
    del matvec
    # timed runs
    runs: dict[str, Callable[[int], Run]] = {}
    starts = args.starts
    if hvps["a_lanczos"] is not None:
        for key, route, block in (("a", "auto", 1), ("a1", "forward_over_reverse", args.block)):
            runs[key] = lambda r, route=route, block=block: run_alignkit(
                model, x, y, n_lz, n_a, m_a, r % starts, route, block
            )
    if hvps["a0_power"] is not None:
        runs["a0"] = lambda r: run_alignkit_power(
            model, x, y, hvps["a0_power"] or 1, n_plain, 1000 + r, r % starts
        )
    if hvps["b_power"] is not None:
        runs["b"] = lambda r: classical(
            model, x, y, hvps["b_power"] or 1, n_plain, 1000 + r, r % starts
        )
    if pyhessian is not None and hvps.get("c_pyhessian") is not None:
        runs["c"] = lambda r: run_pyhessian(
            model, x, y, hvps["c_pyhessian"] or 1, n_plain, 1000 + r, r % starts
        )
    recs: dict[str, list[Run]] = {k: [] for k in runs}
    keys = list(runs)
    for r in range(args.repeats):
        for k in keys[r % len(keys) :] + keys[: r % len(keys)]:
            recs[k].append(runs[k](r))
    routes: dict[str, Any] = {}
    label = {
        "a": "alignkit, route auto (double backward on CPU): Lanczos; Lanczos-deflated "
        "Hutchinson sharing the Lanczos run",
        "a1": "alignkit, forward-over-reverse (jvp over grad, vmap blocks): the same algorithms",
        "a0": "alignkit, route auto: power iteration + plain Hutchinson",
        "b": "classical double-backward: power iteration + Hutchinson",
        "c": "PyHessian 0.1: eigenvalues() + trace()",
    }
    hv_key = {"a": "a_lanczos", "a1": "a_lanczos", "a0": "a0_power", "b": "b_power",
              "c": "c_pyhessian"}  # fmt: skip
    for k, rec in recs.items():
        n_eig = hvps[hv_key[k]] or 0
        n_tr = (steps_a - n_eig + n_a) if k in ("a", "a1") else n_plain
        col = {f: [run[f] for run in rec] for f in rec[0]}
        routes[k] = {
            "route": label[k],
            "hvps_eig": n_eig,
            "hvps_trace": n_tr,
            "hvps_total": n_eig + n_tr,
            "eig_s_median": median(col["eig_s"]),
            "trace_s_median": median(col["trace_s"]),
            "total_s_median": median(col["total_s"]),
            "total_s_min": min(col["total_s"]),
            "ms_per_hvp_total": 1e3 * median(col["total_s"]) / (n_eig + n_tr),
            "eig_rel_err": [abs(e - lam) / abs(lam) for e in col["eig"]],
            "trace_rel_err": [abs(t - tr_ref) / abs(tr_ref) for t in col["trace"]],
            "trace_predicted_rse": [se / abs(tr_ref) for se in col["trace_se"]],
            "total_s": col["total_s"],
        }
        routes[k]["trace_rel_err_rms"] = float(np.sqrt(np.mean(np.square(
            routes[k]["trace_rel_err"]))))  # fmt: skip
    ratios = {}
    for num, den in (("c", "a"), ("b", "a"), ("a1", "a"), ("c", "b"), ("a0", "a"), ("c", "a0")):
        if num in routes and den in routes:
            for part in ("total", "eig", "trace"):
                key = f"{part}_s_median"
                ratios[f"{part}: {num} / {den}"] = routes[num][key] / routes[den][key]
    ratios_min = {
        f"total: {num} / a": routes[num]["total_s_min"] / routes["a"]["total_s_min"]
        for num in ("c", "b", "a1", "a0")
        if num in routes and "a" in routes
    }
    accuracy = trace_accuracy(model, x, y, tr_ref, n_lz, m_a, n_a, n_plain, args.accuracy_seeds)
    prof = profile(
        model, x, y, n_lz, m_a, n_a, hvps.get("c_pyhessian") or hvps["b_power"] or 1, n_plain
    )
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
            "hvp_route_vs_classical_float64": agreement,
        },
        "matched_accuracy": {
            "eig_rtol": args.eig_rtol,
            "hvps_to_eig_rtol": hvps,
            "hvps_to_eig_rtol_per_start": counts,
            "trace_target_rse": args.trace_rse,
            "pilot_probes": args.pilot_probes,
            "plain": plain,
            "deflation_candidates (m: Lanczos steps max(m, eig steps))": candidates,
            "deflate_chosen": m_a,
            "lanczos_steps_a": steps_a,
            "probes_plain": n_plain,
            "probes_deflated": n_a,
            "statement": "every route gets the HVPs its own pilot predicts for the same target "
            "standard error and the same lambda_max tolerance; trace_predicted_rse is each "
            "timed run's own standard error over the reference trace (compare it with "
            "trace_target_rse), trace_rel_err its actual error against the reference",
        },
        "routes": routes,
        "time_ratios_median": ratios,
        "time_ratios_of_minima": ratios_min,
        "trace_accuracy_untimed": accuracy,
        "profile": prof,
        "trajectories_rel_err_start0": {
            k: [abs(e - lam) / abs(lam) for e in ts[0][:40]] for k, ts in trajs.items()
        },
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "seconds": time.perf_counter() - t_start,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--eig-rtol", type=float, default=1e-3)
    p.add_argument("--trace-rse", type=float, default=0.01)
    p.add_argument("--ref-probes", type=int, default=800)
    p.add_argument("--ref-deflate", type=int, default=80)
    p.add_argument("--pilot-probes", type=int, default=128)
    p.add_argument("--deflate-options", type=int, nargs="+", default=[0, 10, 16, 20, 30, 40])
    p.add_argument("--max-lanczos", type=int, default=40)
    p.add_argument("--max-power", type=int, default=100)
    p.add_argument("--starts", type=int, default=3, help="start vectors per route for counts")
    p.add_argument("--block", type=int, default=16, help="probes per vmapped call in (a1)")
    p.add_argument("--checkpoints", nargs="+", default=["brief", "converged"])
    p.add_argument("--accuracy-seeds", type=int, default=12, help="untimed trace-error runs")
    p.add_argument("--out", type=Path, default=RESULT)
    p.add_argument(
        "--merge", action="store_true", help="keep --out's other checkpoints (run them apart)"
    )
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
    if args.merge and args.out.exists():  # checkpoints run in separate processes (short locks)
        old = json.loads(args.out.read_text())
        ran = {r["checkpoint"] for r in results}
        kept = [r for r in old.get("checkpoints", []) if r["checkpoint"] not in ran]
        order = sorted(kept + results, key=lambda r: not r["checkpoint"].startswith("brief"))
        report["checkpoints"] = order
        report["environment"]["earlier_parts"] = old.get("environment")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    for res in results:
        print(res["checkpoint"], json.dumps(res["matched_accuracy"]["hvps_to_eig_rtol"]))
        for k, r in res["routes"].items():
            print(
                f"  {k:3s} eig {r['hvps_eig']:4d} HVPs {r['eig_s_median']:6.2f}s  trace "
                f"{r['hvps_trace']:4d} HVPs {r['trace_s_median']:6.2f}s  total "
                f"{r['total_s_median']:6.2f}s  rse {np.median(r['trace_predicted_rse']):.4f}"
            )
        for k, v in res["time_ratios_median"].items():
            print(f"  {k}: {v:.2f}x")
        print("  profile", json.dumps(res["profile"], indent=None))
    print(f"wall {report['wall_seconds']:.0f}s, load {load_before} -> {os.getloadavg()}")


if __name__ == "__main__":
    main()
