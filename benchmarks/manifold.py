"""Lyapunov exponents and vectors of a flow: the kit's batched routes vs a per-sample loop.

Problem (issue 12): 4,096 samples x 100 solver steps (``--methods``, default RK4, the kit's
default solver; the kit's default step count is 50, the issue asks 100) of a velocity field
given by a 3x128 SiLU MLP in R^2 (input [x, t], random init, seed 0), ``--dtypes`` (default
float32, for every route), on CPU with ``--threads`` threads (default 1, for every route).

Routes, same algorithm (push an orthonormal frame through each step's Jacobian, QR after
every step, exponents = sum of log |R_ii| / T):
(a) alignkit: ``alignkit.numerics.ode.lyapunov_qr`` on the kit's flow-model field
    (``flow_model(params).velocity``, an ``MLPField``) with the default ``route="auto"``:
    the tangent route of ``alignkit.numerics.tangent`` (points and frame stacked through one
    matrix product per layer, SiLU derivative by hand, Gram-Schmidt, cache-sized chunks);
(a') the kit's generic route (``route="generic"``: ``vmap(jacfwd(rk4_step))``, any field),
    timed ``--generic-repeats`` times, for the record;
(b) the loop: for every sample and every step, ``torch.autograd.functional.jacobian`` of the
    solver step, then QR, on the plain field ``mlp_apply(params, [x, t])`` (the same
    function, checked). Timed on ``--repeats`` chunks of ``--loop-samples`` samples,
    interleaved with the batched runs, and extrapolated linearly from the median chunk (its
    cost is linear in the number of samples).
Check: (a)'s exponents of the looped samples equal (b)'s to ``1e-5`` (absolute); both are
also compared with a float64 run of the same weights (the rounding of each route).

Part 2 (``--part cfm``, needs torchcfm, which is never a kit dependency): flow-matching
training to a fixed quality on the unit circle (4,096 uniform data points, batch 256, an MLP
with 3 hidden layers of 64), quality = mean distance to the circle of 2,000 samples (RK4,
100 steps, the kit's solver for every route). Routes: the kit's ``train_flow_matching``
(σ = 0 linear path, Adam 3e-3 with cosine decay over the planned steps, SiLU; one run per
planned step count in ``--cfm-steps``) and torchcfm 1.0.7's README recipe
(``ConditionalFlowMatcher(sigma)``, ``torchcfm.models.MLP(w=64)`` (SELU), Adam at its default
1e-3; checkpoints every 500 steps) with σ = 0.1 (the tutorials' value) and σ = 0. Reported:
training seconds to reach ``--quality`` (evaluation time excluded) and the best quality seen.
torchcfm lives in a separate environment that also sees the main one::

    .venv/bin/python -m venv .venv-bench
    echo "import site; site.addsitedir('$PWD/.venv/lib/python3.11/site-packages')" \\
        > .venv-bench/lib/python3.11/site-packages/_alignkit_venv.pth
    .venv-bench/bin/pip install --no-deps torchcfm==1.0.7 pot
    .venv-bench/bin/python benchmarks/manifold.py --part cfm

Run: ``.venv/bin/python benchmarks/manifold.py`` -> ``benchmarks/results/manifold.json`` (each
part updates its own key of the JSON).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads sleep (shared CPUs)

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from alignkit.device import describe, get_device  # noqa: E402
from alignkit.manifold.fields import flow_model, init_mlp, mlp_apply  # noqa: E402
from alignkit.numerics.ode import lyapunov_qr, ode_step, solve  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _loop(field, x0: torch.Tensor, steps: int, method: str) -> torch.Tensor:  # type: ignore[no-untyped-def]
    """Route (b): one autograd Jacobian per sample and step; returns exponents (n, D)."""
    grid = torch.linspace(0.0, 1.0, steps + 1, dtype=x0.dtype, device=x0.device)
    out = []
    for x in x0:
        q = torch.eye(x.numel(), dtype=x.dtype, device=x.device)
        logs = torch.zeros(x.numel(), dtype=x.dtype, device=x.device)
        for k in range(steps):
            t, h = grid[k], grid[k + 1] - grid[k]
            jac = torch.autograd.functional.jacobian(
                lambda y, t=t, h=h: ode_step(field, y, t, h, method=method), x
            )
            with torch.no_grad():
                x = ode_step(field, x, t, h, method=method)
                q, r = torch.linalg.qr(jac @ q)
                sign = torch.sign(torch.diagonal(r))
                q, r = q * sign, r * sign[:, None]
                logs += torch.log(torch.diagonal(r))
        out.append(logs / (grid[-1] - grid[0]))
    return torch.stack(out)


def run(args: argparse.Namespace, method: str, dtype: torch.dtype) -> dict[str, object]:
    """Time both routes for one solver and dtype; check the exponents agree."""
    dev = get_device(args.device)
    params = init_mlp([3, 128, 128, 128, 2], seed=0, device=dev, dtype=dtype)

    def field(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:  # the loop's field
        return mlp_apply(params, torch.cat([x, t.reshape(1).to(x)]))

    kit_field = flow_model(params, 2).velocity  # the kit's: an MLPField, same function
    gen = torch.Generator(device=dev).manual_seed(1)
    x0 = torch.randn(args.samples, 2, generator=gen, device=dev, dtype=dtype)
    tt = torch.tensor(0.3, dtype=dtype, device=dev)
    same = max(float((kit_field(x, tt) - field(x, tt)).abs().max()) for x in x0[:64])
    assert same == 0.0, f"the kit's field differs from the loop's by {same}"

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize()

    lyapunov_qr(kit_field, x0[:64], steps=2, method=method)  # warm-up
    lyapunov_qr(kit_field, x0[:64], steps=2, method=method, route="generic")
    batched, generic, loop_chunks, diffs, loop_exps = [], [], [], [], []
    chunk = args.loop_samples
    for r in range(args.repeats):  # the routes interleaved; medians reported
        sync()
        t0 = time.perf_counter()
        res = lyapunov_qr(kit_field, x0, steps=args.steps, method=method)
        sync()
        batched.append(time.perf_counter() - t0)
        if r < args.generic_repeats:
            sync()
            t0 = time.perf_counter()
            gen_res = lyapunov_qr(kit_field, x0, steps=args.steps, method=method, route="generic")
            sync()
            generic.append(time.perf_counter() - t0)
        sub = x0[r * chunk : (r + 1) * chunk]
        sync()
        t0 = time.perf_counter()
        loop_exp = _loop(field, sub, args.steps, method)
        sync()
        loop_chunks.append(time.perf_counter() - t0)
        loop_exps.append(loop_exp)
        diffs.append(float((res.exponents[r * chunk : (r + 1) * chunk] - loop_exp).abs().max()))
    looped = x0[: args.repeats * chunk]
    p64 = tuple(p.double() for p in params)
    ref = lyapunov_qr(flow_model(p64, 2).velocity, looped.double(), steps=args.steps,
                      method=method).exponents  # fmt: skip
    err_kit = float((res.exponents[: looped.shape[0]].double() - ref).abs().max())
    err_loop = float((torch.cat(loop_exps).double() - ref).abs().max())
    t_batched = sorted(batched)[len(batched) // 2]
    t_generic = sorted(generic)[len(generic) // 2] if generic else None
    t_loop_sub = sorted(loop_chunks)[len(loop_chunks) // 2]
    t_loop = t_loop_sub * args.samples / chunk
    diff = max(diffs)
    gen_diff = float((gen_res.exponents - res.exponents).abs().max()) if generic else None
    print(
        f"{method} {dtype}: batched {t_batched:.2f} s (generic route {t_generic} s), loop "
        f"{t_loop:.1f} s (extrapolated from {args.loop_samples} samples: {t_loop_sub:.2f} s), "
        f"speed-up {t_loop / t_batched:.0f}x, max |Δλ| = {diff:.2e}; vs float64: kit "
        f"{err_kit:.1e}, loop {err_loop:.1e}",
        flush=True,
    )
    return {
        "method": method,
        "steps": args.steps,
        "dtype": str(dtype),
        "route": "tangent (lyapunov_qr's default route='auto' on the kit's MLPField)",
        "batched_seconds_median": t_batched,
        "batched_seconds_all": batched,
        "generic_route_seconds_median": t_generic,
        "generic_route_seconds_all": generic,
        "generic_route_speedup_over_loop": t_loop / t_generic if t_generic else None,
        "tangent_vs_generic_max_abs_exponent_difference": gen_diff,
        "loop_seconds_per_chunk_median": t_loop_sub,
        "loop_seconds_per_chunk_all": loop_chunks,
        "loop_samples_per_chunk": chunk,
        "loop_seconds_extrapolated": t_loop,
        "speedup": t_loop / t_batched,
        "max_abs_exponent_difference": diff,
        "exponents_match_1e-5": diff < 1e-5,
        "samples_compared": int(looped.shape[0]),
        "max_abs_difference_to_float64_kit": err_kit,
        "max_abs_difference_to_float64_loop": err_loop,
        "mean_exponents": res.exponents.mean(0).tolist(),
    }


def _quality(manifold, velocity, n: int = 2000) -> float:  # type: ignore[no-untyped-def]
    gen = torch.Generator().manual_seed(3)
    x0 = torch.randn(n, 2, generator=gen)
    with torch.no_grad():
        x = solve(velocity, x0, steps=100, method="rk4")
    return float(manifold.distance_to_manifold(x).mean())


def run_cfm(args: argparse.Namespace) -> dict[str, object]:
    """Time-to-quality of flow-matching training: the kit vs torchcfm's recipe."""
    from alignkit.manifold.manifolds import get_manifold
    from alignkit.manifold.training import train_flow_matching

    circle = get_manifold("circle2d", device="cpu")
    data = circle.sample(4096, seed=1)
    routes: dict[str, object] = {}
    kit = []
    for steps in [int(s) for s in args.cfm_steps.split(",")]:
        model = train_flow_matching(data, steps=steps, width=64, depth=3, batch=256, seed=0)
        q = _quality(circle, model.velocity)
        kit.append({"steps": steps, "train_seconds": model.info["train_seconds"], "quality": q})
        print(
            f"kit {steps} steps: {model.info['train_seconds']:.1f} s, quality {q:.4f}", flush=True
        )
    reached = [r for r in kit if r["quality"] < args.quality]
    routes["alignkit"] = {
        "runs": kit,
        "seconds_to_quality": min(r["train_seconds"] for r in reached) if reached else None,
        "best_quality": min(r["quality"] for r in kit),
    }
    try:
        import torchcfm
        from torchcfm.conditional_flow_matching import ConditionalFlowMatcher
        from torchcfm.models.models import MLP
    except ImportError as exc:
        routes["torchcfm"] = f"not run: {exc} (see the module docstring)"
        return routes
    for sigma in (0.1, 0.0):
        torch.manual_seed(0)  # torchcfm draws from the global generator
        net = MLP(dim=2, time_varying=True, w=64)
        opt = torch.optim.Adam(net.parameters())
        matcher = ConditionalFlowMatcher(sigma=sigma)
        gen = torch.Generator().manual_seed(0)
        elapsed, curve, hit = 0.0, [], None
        for k in range(1, max(int(s) for s in args.cfm_steps.split(",")) + 1):
            t0 = time.perf_counter()
            x1 = data[torch.randint(data.shape[0], (256,), generator=gen)]
            x0 = torch.randn(x1.shape, generator=gen)
            t, xt, ut = matcher.sample_location_and_conditional_flow(x0, x1)
            loss = ((net(torch.cat([xt, t[:, None]], dim=-1)) - ut) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            elapsed += time.perf_counter() - t0
            if k % 500 == 0:

                def field(x: torch.Tensor, tt: torch.Tensor, net=net) -> torch.Tensor:  # type: ignore[no-untyped-def]
                    return net(torch.cat([x, tt.reshape(1).to(x)]))

                q = _quality(circle, field)
                curve.append({"steps": k, "train_seconds": elapsed, "quality": q})
                if hit is None and q < args.quality:
                    hit = elapsed
        print(f"torchcfm sigma={sigma}: best {min(c['quality'] for c in curve):.4f}", flush=True)
        routes[f"torchcfm_sigma_{sigma}"] = {
            "version": torchcfm.__version__,
            "checkpoints": curve,
            "seconds_to_quality": hit,
            "best_quality": min(c["quality"] for c in curve),
        }
    return routes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=4096)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--loop-samples", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--generic-repeats", type=int, default=1)
    ap.add_argument("--methods", default="rk4")
    ap.add_argument("--dtypes", default="float32")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/manifold.json")
    ap.add_argument("--part", choices=["lyapunov", "cfm", "all"], default="lyapunov")
    ap.add_argument("--quality", type=float, default=0.025)
    ap.add_argument("--cfm-steps", default="1500,3000,6000,9000")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    old = json.loads(args.out.read_text()) if args.out.exists() else {}
    if args.part in ("cfm", "all"):
        old["flow_matching"] = {
            "problem": "flow matching on the unit circle to mean distance < quality; "
            "see the module docstring",
            "quality": args.quality,
            "routes": run_cfm(args),
            "threads": args.threads,
            "load_average_at_end": os.getloadavg() if hasattr(os, "getloadavg") else None,
        }
        if args.part == "cfm":
            args.out.write_text(json.dumps(old, indent=2) + "\n")
            return
    runs = [
        run(args, method, getattr(torch, dt))
        for dt in args.dtypes.split(",")
        for method in args.methods.split(",")
    ]
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    result = {
        **old,
        "problem": f"{args.samples} samples x {args.steps} solver steps, 3x128 SiLU MLP field "
        "in R^2, Lyapunov exponents + vectors by QR; kit = lyapunov_qr (default route: the "
        "tangent route; the generic torch.func route timed too); loop = one autograd Jacobian "
        "per sample "
        "and step, timed on repeats x loop_samples_per_chunk samples (chunks interleaved with the "
        "batched runs), extrapolated linearly from the median chunk",
        "runs": runs,
        "threads": args.threads,
        "device": describe(args.device),
        "machine": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average_at_end": load,
        "commit": commit,
        "command": "python benchmarks/manifold.py "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "out"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
