"""Sampling, Lyapunov analysis and tangent alignment of generative flows (theme 3).

For a model's flow map Φ from t = 0 to t_end, the finite-time Lyapunov exponents and
vectors are the log-singular values (divided by t_end) and left singular vectors of the
flow-map Jacobian DΦ, propagated by forward mode through the solver
(:func:`alignkit.numerics.ode.lyapunov_svd`): ordered and independent of any start frame.
The first d vectors (the most expanding directions) at time t span the *estimated tangent
space*; its alignment with the manifold's true tangent space at the closest point is
measured by the cosines of the principal angles (singular values of Tᵀ U_d). Alignment near
t_end together with strongly negative remaining (normal) exponents is the mechanism by which
errors of the field move samples along the manifold instead of off it.

Taught in ``notebooks/05_generative_manifold_alignment.ipynb``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch

from alignkit._checks import (
    check_bool,
    check_choice,
    check_instance,
    check_int,
    check_values,
)
from alignkit.device import make_generator
from alignkit.manifold._inputs import check_points
from alignkit.manifold.fields import (
    PERTURBATIONS,
    GenerativeModel,
    check_model,
    error_sweep_field,
    perturb,
)
from alignkit.manifold.manifolds import MAX_POINTS, Manifold
from alignkit.manifold.subspaces import (
    _principal_cosines,
    principal_cosines,
    top_left_singular_vectors,
)
from alignkit.numerics.ode import SOLVERS, SVDFlow, flow_jacobian, lyapunov_svd, solve, time_grid

__all__ = [
    "prior_sample",
    "generate",
    "eps_sweep",
    "principal_cosines",
    "top_left_singular_vectors",
    "LyapunovAnalysis",
    "lyapunov_analysis",
    "density_shift",
]


MAX_SAMPLES = MAX_POINTS  # n of one call (the theme-1 bound): memory n·D, or n·K·D² recorded
MAX_STEPS = 1_000_000  # solver steps of one call (the same bound)
MAX_SEED = 2**63 - 1  # what a torch.Generator takes


def prior_sample(
    model: GenerativeModel, n: int, *, seed: int | torch.Generator | None = 0
) -> torch.Tensor:
    """``n`` starting points from the model's prior N(0, prior_std² I), shape (n, D)."""
    model = check_model(model)
    n = check_int(n, "n", low=1, high=MAX_SAMPLES)
    gen = make_generator(seed, model.device)
    z = torch.randn(n, model.dim, generator=gen, device=model.device, dtype=model.dtype)
    return model.prior_std * z


def generate(
    model: GenerativeModel,
    n: int,
    *,
    steps: int = 50,
    method: str = "rk4",
    seed: int | torch.Generator | None = 0,
    trajectory: bool = False,
) -> torch.Tensor:
    """Samples of the model: the ODE solved from the prior, ``(n, D)`` or ``(n, steps+1, D)``.

    ``model`` must be a :class:`GenerativeModel` with finite weights (a diverged training
    run is refused: ``ValueError`` naming ``model``). Trajectories that blow up are not an
    error: their rows come back non-finite (``sampling_view`` flags them as diverged).
    """
    model = check_model(model)
    steps = check_int(steps, "steps", low=1, high=MAX_STEPS)
    method = check_choice(method, "method", SOLVERS)
    trajectory = check_bool(trajectory, "trajectory")
    x0 = prior_sample(model, n, seed=seed)
    return solve(
        model.velocity, x0, t1=model.t_end, steps=steps, method=method, trajectory=trajectory
    )


def eps_sweep(
    model: GenerativeModel,
    kind: str,
    eps: torch.Tensor,
    n: int,
    *,
    steps: int = 40,
    method: str = "rk4",
    seed: int = 0,
    error_seed: int = 1,
) -> torch.Tensor:
    """Samples for every error size at once, ``(G,) -> (G, n, D)`` (same prior draws).

    All G perturbed models are integrated in one batched solve: the G parameter sets
    (``weights``) or the error size carried as an extra, constant state coordinate.
    ``eps``: a 1-D tensor (or sequence) of finite error sizes ≥ 0.
    """
    model = check_model(model)
    kind = check_choice(kind, "kind", PERTURBATIONS)
    eps = check_values(eps, "eps", low=0.0, ndim=1)
    seed = check_int(seed, "seed", low=0, high=MAX_SEED)
    error_seed = check_int(error_seed, "error_seed", low=0, high=MAX_SEED)
    steps = check_int(steps, "steps", low=1, high=MAX_STEPS)
    method = check_choice(method, "method", SOLVERS)
    g = eps.numel()
    x0 = prior_sample(model, n, seed=seed)
    if kind == "weights":
        noisy = [perturb(model, kind, float(e), seed=error_seed) for e in eps]
        params = tuple(torch.stack(ps) for ps in zip(*[m.params for m in noisy], strict=True))
        assert model.build is not None
        build = model.build

        def one(*p: torch.Tensor) -> torch.Tensor:
            return solve(build(p), x0, t1=model.t_end, steps=steps, method=method)

        return torch.func.vmap(one)(*params)
    unit = perturb(model, kind, 1.0, seed=error_seed)  # v + 1·δ: δ = unit − v
    fast = error_sweep_field(unit)  # batched, no vmap, when the error is known by hand

    def field(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        x, e = z[:-1], z[-1]
        base = model.velocity(x, t)
        return torch.cat([base + e * (unit.velocity(x, t) - base), torch.zeros_like(z[-1:])])

    e_col = eps.to(x0).repeat_interleave(n)[:, None]
    z0 = torch.cat([x0.repeat(g, 1), e_col], dim=1)
    z1 = solve(fast or field, z0, t1=model.t_end, steps=steps, method=method)
    return z1[:, :-1].reshape(g, n, model.dim)


@dataclass(frozen=True)
class LyapunovAnalysis:
    """Lyapunov exponents/vectors of N trajectories and their alignment with the manifold.

    ``start``, ``end``: (N, D); ``exponents``: (N, D) finite-time exponents
    log σ_i(DΦ) / t_end over [0, t_end], most expanding first (the last D − d are the normal
    ones when aligned); ``vectors``: (N, D, D) Lyapunov vectors (left singular vectors of DΦ)
    at the end points (columns);
    ``true_tangent``: (N, D, d) at the closest points; ``cosines``: (N, d) principal-angle
    cosines between the top-d vectors and the true tangents at the end; ``times``: (K+1,);
    ``alignment``: (N, K+1) mean cosine along the trajectory (None if not recorded);
    ``distance``: (N,) distance of the end points to the manifold; ``diverged``: (N,) bool,
    trajectories whose end point or flow-map Jacobian is not finite (a field that blows
    up): flagged, their rows of every per-sample field above except ``start`` are NaN and
    :attr:`mean_cosine` leaves them out.
    """

    start: torch.Tensor
    end: torch.Tensor
    exponents: torch.Tensor
    vectors: torch.Tensor
    true_tangent: torch.Tensor
    cosines: torch.Tensor
    times: torch.Tensor
    alignment: torch.Tensor | None
    distance: torch.Tensor
    intrinsic_dim: int
    diverged: torch.Tensor

    @property
    def mean_cosine(self) -> float:
        """Mean over samples and angles of the cosines at the end (1 = perfect alignment);
        diverged samples left out (NaN when every sample diverged)."""
        return float(self.cosines[~self.diverged].mean())

    @property
    def normal_exponents(self) -> torch.Tensor:
        """The D − d smallest exponents, (N, D − d)."""
        return self.exponents[:, self.intrinsic_dim :]


def _rows_finite(fl: SVDFlow) -> torch.Tensor:
    """(N,) whether each trajectory's end point, vectors (and recorded path) are finite."""
    ok = torch.isfinite(fl.x).all(1) & torch.isfinite(fl.vectors).flatten(1).all(1)
    for rec in (fl.path, fl.jac_path):
        if rec is not None:
            ok &= torch.isfinite(rec).flatten(1).all(1)
    return ok


def _finite_svd(
    run: Callable[[torch.Tensor], SVDFlow],
    ends: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    x0: torch.Tensor,
) -> tuple[SVDFlow | None, torch.Tensor]:
    """``run`` on the rows of ``x0`` whose trajectories stay finite, and their (N,) mask.

    The usual case is one call. When a trajectory blows up (a row comes back non-finite:
    :func:`~alignkit.numerics.ode.lyapunov_svd` gives NaN for a non-finite Jacobian; or the
    SVD fails), ``ends`` (end points and flow-map Jacobians, no SVD) finds the rows that
    stay finite and ``run`` is repeated on those.
    """
    ok = torch.ones(x0.shape[0], dtype=torch.bool, device=x0.device)
    for _ in range(3):
        if not bool(ok.any()):
            break
        try:
            fl: SVDFlow | None = run(x0[ok])
        except torch.linalg.LinAlgError:  # a non-finite flow-map Jacobian
            fl = None
        rows = None if fl is None else _rows_finite(fl)
        if fl is not None and rows is not None and bool(rows.all()):
            return fl, ok
        if rows is None:
            x1, jac = ends(x0[ok])
            rows = torch.isfinite(x1).all(1) & torch.isfinite(jac).flatten(1).all(1)
        ok[ok.clone()] = rows
    return None, torch.zeros_like(ok)


def lyapunov_analysis(
    model: GenerativeModel,
    manifold: Manifold,
    n: int,
    *,
    steps: int = 50,
    method: str = "rk4",
    seed: int | torch.Generator | None = 0,
    record: bool = True,
) -> LyapunovAnalysis:
    """Lyapunov exponents and vectors of ``n`` model trajectories, aligned against ``manifold``.

    ``record`` keeps the alignment at every step (memory N·(K+1)·D·D). A model that stops
    short of t = 1 (the exact field, singular there) is stepped equally in log(1 − t)
    (:func:`~alignkit.numerics.ode.time_grid`), the others equally in t. ``model`` must
    have finite weights (a diverged training run: ``ValueError`` naming ``model``);
    trajectories that blow up are flagged in ``diverged`` (their rows NaN), not an error.
    Samples whose flow map's σ_min/σ_max falls below 100 × the dtype's epsilon (a float32
    model, strongly contracting) raise a ``RuntimeWarning``: their smallest exponents are not
    resolved (notebook 05 casts such a model's weights to float64).
    """
    model = check_model(model)
    check_instance(manifold, "manifold", Manifold, "a Manifold (from get_manifold)")
    n = check_int(n, "n", low=1, high=MAX_SAMPLES)
    steps = check_int(steps, "steps", low=1, high=MAX_STEPS)
    record = check_bool(record, "record")
    if model.dim != manifold.embed_dim:
        raise ValueError(
            f"model dimension {model.dim} must equal the manifold's embed_dim {manifold.embed_dim}"
        )
    check_choice(method, "method", SOLVERS)
    x0 = prior_sample(model, n, seed=seed)
    # the exact field scales like 1/(1 − t) near its end (t_end < 1): equal steps in
    # log(1 − t) resolve it (equal steps in t left its exponents unconverged at 40 steps)
    spacing = "log1m" if model.t_end < 1.0 else "uniform"
    grid = dict(t1=model.t_end, steps=steps, method=method, spacing=spacing)
    fl, ok = _finite_svd(
        lambda x: lyapunov_svd(model.velocity, x, record=record, **grid),  # type: ignore[arg-type]
        lambda x: flow_jacobian(model.velocity, x, **grid),  # type: ignore[arg-type]
        x0,
    )
    d, dim = manifold.dim, model.dim
    parts: dict[str, torch.Tensor | None] = {}
    if fl is not None:
        _warn_unresolved(fl.exponents * float(fl.times[-1] - fl.times[0]), x0.dtype)
        alignment = None
        if record:  # the top-d left singular vectors of every recorded flow-map Jacobian
            assert fl.path is not None and fl.jac_path is not None
            m, k1 = fl.path.shape[:2]
            t_all = manifold.tangent_basis(fl.path.reshape(-1, dim)).reshape(m, k1, dim, d)
            tangent = t_all[:, -1]  # the end points are the path's last points
            u_top = top_left_singular_vectors(fl.jac_path, d)
            alignment = _principal_cosines(u_top, t_all.to(u_top)).mean(-1).to(fl.x.dtype)
        else:
            tangent = manifold.tangent_basis(fl.x)
        parts = {
            "end": fl.x, "exponents": fl.exponents, "vectors": fl.vectors,
            "true_tangent": tangent, "cosines": _principal_cosines(fl.vectors[..., :d], tangent),
            "alignment": alignment, "distance": manifold.distance_to_manifold(fl.x),
        }  # fmt: skip
    times = fl.times if fl is not None else time_grid(
        0.0, model.t_end, steps, dtype=x0.dtype, device=x0.device, spacing=spacing
    )  # fmt: skip
    if fl is None or not bool(ok.all()):  # flagged rows are NaN (never numbers from NaNs)
        shapes = {
            "end": (dim,), "exponents": (dim,), "vectors": (dim, dim), "true_tangent": (dim, d),
            "cosines": (d,), "alignment": (times.numel(),) if record else None, "distance": (),
        }  # fmt: skip
        for key, shape in shapes.items():
            part = parts.get(key)
            if shape is None:
                parts[key] = None
                continue
            full = torch.full((n, *shape), float("nan"), dtype=x0.dtype, device=x0.device)
            if part is not None:
                full = full.to(part.dtype)
                full[ok] = part
            parts[key] = full
    out = {"start": x0, "times": times, "intrinsic_dim": d, "diverged": ~ok, **parts}
    return LyapunovAnalysis(**out)  # type: ignore[arg-type]


def _warn_unresolved(log_sigma: torch.Tensor, dtype: torch.dtype) -> None:
    """Warn when a flow map's σ_min/σ_max is below 100 × ``dtype``'s epsilon (log σ, (N, D)):
    its smallest exponents are then not resolved by the dtype (−inf where σ rounds to 0)."""
    limit = 100 * torch.finfo(dtype).eps
    spread = log_sigma[:, -1] - log_sigma[:, 0]  # log(σ_min / σ_max), −inf when σ_min = 0
    unresolved = int((spread < math.log(limit)).sum())
    if unresolved:
        warnings.warn(
            f"lyapunov_analysis: {unresolved} of {log_sigma.shape[0]} samples have a flow map "
            f"whose σ_min/σ_max is below 100 × {dtype}'s epsilon ({limit:.0e}): their smallest "
            "exponents are not resolved (they may be rounding; −inf where σ rounds to 0); "
            "analyse a float64 model (a trained model's weights can be cast, e.g. flow_model(tuple("
            "p.double() for p in model.params), model.dim))",
            RuntimeWarning,
            stacklevel=3,
        )


def density_shift(
    manifold: Manifold, samples: torch.Tensor, reference: torch.Tensor, *, bins: int = 24
) -> tuple[float, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Total-variation distance between azimuth histograms of ``samples`` and ``reference``.

    Returns ``(tv, edges (bins+1,), p_samples (bins,), p_reference (bins,))``; histograms
    are probabilities over equal bins of (−π, π]. ``tv`` is ½ Σ |p − q| in [0, 1].
    ``samples`` (N, D) and ``reference`` (R, D), D the manifold's ``embed_dim``, N, R ≥ 1,
    must be finite floating tensors: a NaN sample has no azimuth (``ValueError`` naming the
    argument; ``sampling_view`` replaces diverged samples by 0 and flags them first).
    """
    check_instance(manifold, "manifold", Manifold, "a Manifold (from get_manifold)")
    bins = check_int(bins, "bins", low=2, high=1_000_000)
    check_points(samples, "samples", dim=manifold.embed_dim, min_rows=1)
    check_points(reference, "reference", dim=manifold.embed_dim, min_rows=1)
    edges = torch.linspace(-torch.pi, torch.pi, bins + 1, dtype=torch.float64)

    def hist(x: torch.Tensor) -> torch.Tensor:
        a = manifold.azimuth(x).double().cpu()
        idx = ((a + torch.pi) / (2 * torch.pi) * bins).long().clamp(0, bins - 1)
        return torch.bincount(idx, minlength=bins).double() / max(a.numel(), 1)

    p, q = hist(samples), hist(reference)
    return 0.5 * float((p - q).abs().sum()), edges, p, q
