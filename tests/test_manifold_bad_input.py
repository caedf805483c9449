"""Theme 3 (alignkit.manifold): bad input is refused by name, a diverging run is flagged.

Table-driven: each row is (callable, kwargs, expected exception type, regex). The regex
starts with the argument's own name: every message names the parameter, the valid range
or choices and the value given; never a raw torch/KeyError/AttributeError, a silent clamp
or a plausible number computed from NaNs. The audit's reproductions (/tmp/api_s16) are the
rows; each failed before the fix. The divergence tests train at lr = 1e12.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest
import torch

from alignkit.manifold import views
from alignkit.manifold.dynamics import (
    density_shift,
    eps_sweep,
    generate,
    lyapunov_analysis,
    principal_cosines,
    prior_sample,
    top_left_singular_vectors,
)
from alignkit.manifold.fields import (
    GenerativeModel,
    NoiseSchedule,
    exact_model,
    flow_model,
    init_mlp,
    mlp_apply,
    perturb,
    score_model,
)
from alignkit.manifold.manifolds import Manifold, get_manifold
from alignkit.manifold.training import train_flow_matching, train_score_model

NAN = math.nan
TINY = {"steps": 3, "width": 8, "depth": 2, "batch": 8}  # a training run of a few ms


@cache
def _m() -> Manifold:
    return get_manifold("circle2d", device="cpu")


@cache
def _data() -> torch.Tensor:
    return _m().sample(32, seed=0)


@cache
def _exact() -> GenerativeModel:
    return exact_model(_data())


def _nan_data() -> torch.Tensor:
    d = _data().clone()
    d[0, 0] = NAN
    return d


@cache
def _params() -> tuple[torch.Tensor, ...]:
    """An MLP 3 -> 8 -> 2 (a flow field on R²)."""
    return init_mlp([3, 8, 2], seed=0)


@cache
def _frame() -> torch.Tensor:
    """(5, 4, 2): five orthonormal 2-frames in R^4."""
    g = torch.Generator().manual_seed(0)
    return torch.linalg.qr(torch.randn(5, 4, 2, generator=g, dtype=torch.float64))[0]


def _method(name: str) -> Callable[..., Any]:
    return lambda x: getattr(_m(), name)(x)


def _typed_x(dtype: torch.dtype) -> Callable[[], dict[str, Any]]:
    return lambda: {"x": torch.tensor([[2, 0]]).to(dtype)}


Row = tuple[str, Callable[..., Any], Callable[[], dict[str, Any]], type, str]
M, D, X, E, F, P = _m, _data, _exact, _nan_data, _frame, _params
ROWS: list[Row] = [
    # 1. training: data must be finite, floating, on a real device
    ("fm-nan-data", train_flow_matching, lambda: {"data": E(), **TINY}, ValueError,
     r"^data must be finite"),
    ("score-nan-data", train_score_model, lambda: {"data": E(), **TINY}, ValueError,
     r"^data must be finite"),
    ("fm-int-data", train_flow_matching, lambda: {"data": D().round().long(), **TINY},
     TypeError, r"^data must be a floating-point tensor.*got torch.int64"),
    ("fm-complex-data", train_flow_matching, lambda: {"data": D().to(torch.complex64), **TINY},
     TypeError, r"^data must be a floating-point tensor"),
    ("fm-meta-data", train_flow_matching, lambda: {"data": D().to("meta"), **TINY},
     ValueError, r"^data must hold numbers on a real device"),
    # 2. density_shift: (N, D) samples and reference, N >= 1, finite, floating
    ("ds-nan-samples", density_shift,
     lambda: {"manifold": M(), "samples": torch.full((32, 2), NAN), "reference": D()},
     ValueError, r"^samples must be finite.*32 of 32 rows"),
    ("ds-empty-samples", density_shift,
     lambda: {"manifold": M(), "samples": D()[:0], "reference": D()},
     ValueError, r"^samples must have shape \(N, 2\), N >= 1, got \(0, 2\)"),
    ("ds-nan-reference", density_shift,
     lambda: {"manifold": M(), "samples": D(), "reference": E()},
     ValueError, r"^reference must be finite"),
    ("ds-empty-reference", density_shift,
     lambda: {"manifold": M(), "samples": D(), "reference": D()[:0]},
     ValueError, r"^reference must have shape"),
    ("ds-bad-samples-shape", density_shift,
     lambda: {"manifold": M(), "samples": torch.zeros(4, 3), "reference": D()},
     ValueError, r"^samples must have shape \(N, 2\)"),
    ("ds-int-samples", density_shift,
     lambda: {"manifold": M(), "samples": D().long(), "reference": D()},
     TypeError, r"^samples must be a floating-point tensor"),
    ("ds-complex-reference", density_shift,
     lambda: {"manifold": M(), "samples": D(), "reference": D().to(torch.complex128)},
     TypeError, r"^reference must be a floating-point tensor"),
    # 3. exact_model: data floating, finite, 2-D, N >= 1
    ("exact-nan-data", exact_model, lambda: {"data": E()}, ValueError, r"^data must be finite"),
    ("exact-inf-data", exact_model, lambda: {"data": D() * math.inf}, ValueError,
     r"^data must be finite"),
    ("exact-complex-data", exact_model, lambda: {"data": D().to(torch.complex64)}, TypeError,
     r"^data must be a floating-point tensor"),
    ("exact-bool-data", exact_model, lambda: {"data": D() > 0}, TypeError,
     r"^data must be a floating-point tensor.*torch.bool"),
    ("exact-meta-data", exact_model, lambda: {"data": D().to("meta")}, ValueError,
     r"^data must hold numbers on a real device"),
    # 4. principal_cosines: tensors (..., D, k), same leading shape and D, orthonormal
    ("pc-not-orthonormal-a", principal_cosines, lambda: {"a": 2 * F(), "b": F()}, ValueError,
     r"^a must have orthonormal columns"),
    ("pc-not-orthonormal-b", principal_cosines, lambda: {"a": F(), "b": F() + 0.1},
     ValueError, r"^b must have orthonormal columns"),
    ("pc-broadcast", principal_cosines, lambda: {"a": F()[0], "b": F()}, ValueError,
     r"^b must have shape \(4, q\) \(a's leading shape and D\), got \(5, 4, 2\)"),
    ("pc-d-mismatch", principal_cosines, lambda: {"a": F(), "b": F()[:, :3]}, ValueError,
     r"^b must have shape \(5, 4, q\)"),
    ("pc-none", principal_cosines, lambda: {"a": None, "b": F()}, TypeError,
     r"^a must be a floating-point torch.Tensor"),
    ("pc-list", principal_cosines, lambda: {"a": F().tolist(), "b": F()}, TypeError,
     r"^a must be a floating-point torch.Tensor"),
    ("pc-int", principal_cosines, lambda: {"a": F(), "b": 3}, TypeError,
     r"^b must be a floating-point torch.Tensor"),
    ("pc-int-dtype", principal_cosines, lambda: {"a": F().long(), "b": F()}, TypeError,
     r"^a must be a floating-point torch.Tensor"),
    ("pc-nan", principal_cosines, lambda: {"a": F() * NAN, "b": F()}, ValueError,
     r"^a must be finite"),
    ("pc-1d", principal_cosines, lambda: {"a": F()[0, :, 0], "b": F()[0]}, ValueError,
     r"^a must have shape \(\.\.\., D, k\)"),
    ("tlsv-nan", top_left_singular_vectors,
     lambda: {"jac": torch.full((3, 2, 2), NAN), "k": 1}, ValueError, r"^jac must be finite"),
    # 5. progress: None, a callable (training) or an object with .update (views)
    ("fm-progress-int", train_flow_matching, lambda: {"data": D(), "progress": 3, **TINY},
     TypeError, r"^progress must be None or a callable"),
    ("score-progress-str", train_score_model, lambda: {"data": D(), "progress": "x", **TINY},
     TypeError, r"^progress must be None or a callable"),
    ("get-model-progress", views.get_model, lambda: {"progress": 3}, TypeError,
     r"^progress must be None or an object with an update"),
    ("sampling-progress", views.sampling_view, lambda: {"progress": 3, "n": 8, "steps": 2},
     TypeError, r"^progress must be None or an object with an update"),
    ("lyapunov-progress", views.lyapunov_view, lambda: {"progress": 3, "n": 4, "steps": 2},
     TypeError, r"^progress must be None or an object with an update"),
    # 6. names checked before the cache lookup (a list is unhashable)
    ("get-model-manifold-list", views.get_model, lambda: {"manifold": ["circle2d"]},
     TypeError, r"^manifold must be one of \['circle2d'"),
    ("get-model-density-list", views.get_model, lambda: {"density": ["uniform"]}, TypeError,
     r"^density must be one of \['nonuniform', 'uniform'\]"),
    ("sampling-manifold-list", views.sampling_view, lambda: {"manifold": ["circle2d"]},
     TypeError, r"^manifold must be one of"),
    ("sampling-perturbation-list", views.sampling_view,
     lambda: {"perturbation": ["bias"], "n": 8, "steps": 2}, TypeError,
     r"^perturbation must be one of"),
    ("lyapunov-density-list", views.lyapunov_view, lambda: {"density": ["uniform"]},
     TypeError, r"^density must be one of"),
    # 7. Manifold methods: x floating and finite
    *[
        (f"{meth}-nan", _method(meth),
         lambda: {"x": torch.tensor([[NAN, 1.0]])}, ValueError, r"^x must be finite")
        for meth in ("project", "tangent_basis", "distance_to_manifold", "azimuth")
    ],
    *[
        (f"{meth}-{dt}", _method(meth), _typed_x(dt), TypeError,
         r"^x must be a floating-point tensor")
        for meth in ("project", "tangent_basis", "distance_to_manifold", "azimuth")
        for dt in (torch.int64, torch.bool, torch.complex64, torch.float16, torch.bfloat16)
    ],
    # 8. the wrong object as model or manifold
    ("perturb-model-none", perturb, lambda: {"model": None, "kind": "bias", "eps": 0.5},
     TypeError, r"^model must be a GenerativeModel"),
    ("generate-model-str", generate, lambda: {"model": "exact", "n": 4}, TypeError,
     r"^model must be a GenerativeModel"),
    ("prior-model-int", prior_sample, lambda: {"model": 3, "n": 4}, TypeError,
     r"^model must be a GenerativeModel"),
    ("sweep-model-none", eps_sweep,
     lambda: {"model": None, "kind": "bias", "eps": torch.tensor([0.1]), "n": 4}, TypeError,
     r"^model must be a GenerativeModel"),
    ("lyap-model-obj", lyapunov_analysis, lambda: {"model": object(), "manifold": M(), "n": 4},
     TypeError, r"^model must be a GenerativeModel"),
    ("lyap-manifold-str", lyapunov_analysis,
     lambda: {"model": X(), "manifold": "circle2d", "n": 4}, TypeError,
     r"^manifold must be a Manifold"),
    ("ds-manifold-none", density_shift,
     lambda: {"manifold": None, "samples": D(), "reference": D()}, TypeError,
     r"^manifold must be a Manifold"),
    # 9. messages use the parameter's own name; NoiseSchedule checks its numbers
    ("get-manifold-name", get_manifold, lambda: {"name": "klein"}, ValueError,
     r"^name must be one of \['circle2d', 'circle3d', 'helix', 'sphere', 'torus'\], "
     r"got 'klein'"),
    ("get-manifold-name-int", get_manifold, lambda: {"name": 3}, TypeError,
     r"^name must be one of"),
    ("get-manifold-embed-seed", get_manifold, lambda: {"name": "circle2d", "embed_seed": -1},
     ValueError, r"^embed_seed must be an integer in \[0, "),
    ("get-manifold-embed-seed-str", get_manifold,
     lambda: {"name": "circle2d", "embed_dim": 4, "embed_seed": "0"}, TypeError,
     r"^embed_seed must be an integer"),
    ("perturb-kind", perturb, lambda: {"model": X(), "kind": "drift", "eps": 0.1}, ValueError,
     r"^kind must be one of \['bias', 'endpoint', 'smooth', 'weights'\], got 'drift'"),
    ("perturb-weights-exact", perturb, lambda: {"model": X(), "kind": "weights", "eps": 0.1},
     ValueError, r"^kind 'weights' needs a trained model"),
    ("perturb-direction-complex", perturb,
     lambda: {"model": X(), "kind": "bias", "eps": 0.1,
              "direction": torch.tensor([1.0, 0.0], dtype=torch.complex64)},
     TypeError, r"^direction must be a floating-point tensor"),
    ("sweep-kind", eps_sweep,
     lambda: {"model": X(), "kind": "drift", "eps": torch.tensor([0.1]), "n": 4}, ValueError,
     r"^kind must be one of"),
    ("schedule-nan", NoiseSchedule, lambda: {"sigma_min": NAN}, ValueError,
     r"^sigma_min must be a finite number in \(0, inf\)"),
    ("schedule-negative", NoiseSchedule, lambda: {"sigma_min": -1.0}, ValueError,
     r"^sigma_min must be in \(0, inf\), got -1"),
    ("schedule-str", NoiseSchedule, lambda: {"sigma_max": "3"}, TypeError,
     r"^sigma_max must be a real number"),
    ("schedule-order", NoiseSchedule, lambda: {"sigma_min": 1.0, "sigma_max": 0.5}, ValueError,
     r"^sigma_min must be < sigma_max, got sigma_min=1, sigma_max=0.5"),
    # the MLP building blocks (public in fields.__all__)
    ("init-mlp-none", init_mlp, lambda: {"sizes": None}, TypeError,
     r"^sizes must be a sequence of layer widths"),
    ("init-mlp-zero-width", init_mlp, lambda: {"sizes": [3, 0, 2]}, ValueError,
     r"^sizes\[1\] must be an integer in \[1, 65536\], got 0"),
    ("init-mlp-one-layer", init_mlp, lambda: {"sizes": [3]}, ValueError,
     r"^sizes must list at least 2 layer widths"),
    ("init-mlp-int-dtype", init_mlp, lambda: {"sizes": [3, 2], "dtype": torch.int64},
     ValueError, r"^dtype must be a floating-point dtype"),
    ("mlp-apply-params-str", mlp_apply, lambda: {"params": "w", "z": torch.zeros(4, 3)},
     TypeError, r"^params must be a tuple \(W₁, b₁, …\) of floating tensors"),
    ("mlp-apply-z-shape", mlp_apply, lambda: {"params": P(), "z": torch.zeros(4, 4)},
     ValueError, r"^z must have shape \(\.\.\., 3\), got \(4, 4\)"),
    ("mlp-apply-z-int", mlp_apply, lambda: {"params": P(), "z": torch.zeros(4, 3).long()},
     TypeError, r"^z must be a tensor of the params' dtype torch.float32, got torch.int64"),
    ("flow-model-dim", flow_model, lambda: {"params": P(), "dim": 3}, ValueError,
     r"^params must map 4 inputs \(\[x, t\]\) to 3 outputs"),
    ("score-model-schedule", score_model, lambda: {"params": P(), "dim": 2, "schedule": None},
     TypeError, r"^schedule must be a NoiseSchedule"),
    # sizes that would only fail at allocation (the theme-1 bound 10⁶)
    ("fm-steps-huge", train_flow_matching, lambda: {"data": D(), "steps": 10**12},
     ValueError, r"^steps must be an integer in \[1, 1e\+06\], got 1000000000000"),
    ("generate-n-huge", generate, lambda: {"model": X(), "n": 10**12}, ValueError,
     r"^n must be an integer in \[1, 1e\+06\]"),
    ("ds-bins-huge", density_shift,
     lambda: {"manifold": M(), "samples": D(), "reference": D(), "bins": 10**12}, ValueError,
     r"^bins must be an integer in \[2, 1e\+06\]"),
    ("generate-steps-huge", generate, lambda: {"model": X(), "n": 4, "steps": 10**12},
     ValueError, r"^steps must be an integer in \[1, 1e\+06\]"),
    ("lyap-steps-huge", lyapunov_analysis,
     lambda: {"model": X(), "manifold": M(), "n": 4, "steps": 10**12}, ValueError,
     r"^steps must be an integer in \[1, 1e\+06\]"),
    ("get-manifold-embed-seed-huge", get_manifold,
     lambda: {"name": "circle2d", "embed_seed": 2**70}, ValueError,
     r"^embed_seed must be an integer in \[0, 9.22337e\+18\]"),
    ("sampling-n-huge", views.sampling_view, lambda: {"n": 10**12}, ValueError,
     r"^n must be an integer in \[1, 1e\+06\]"),
    # eps_sweep's eps: a 1-D sequence of finite numbers >= 0
    ("sweep-eps-str-item", eps_sweep,
     lambda: {"model": X(), "kind": "bias", "eps": [0.1, "a"], "n": 4}, TypeError,
     r"^eps must be real numbers"),
    ("sweep-eps-2d", eps_sweep,
     lambda: {"model": X(), "kind": "bias", "eps": torch.tensor([[0.1]]), "n": 4},
     ValueError, r"^eps must have 1 dimension"),
    ("sweep-eps-nan", eps_sweep,
     lambda: {"model": X(), "kind": "bias", "eps": torch.tensor([NAN]), "n": 4},
     ValueError, r"^eps must be finite"),
    # meta tensors (shapes, no numbers) and a seed named by its own parameter
    ("pc-meta", principal_cosines, lambda: {"a": F().to("meta"), "b": F()}, ValueError,
     r"^a must hold numbers on a real device"),
    ("tlsv-meta", top_left_singular_vectors,
     lambda: {"jac": torch.zeros(3, 2, 2, device="meta"), "k": 1}, ValueError,
     r"^jac must hold numbers on a real device"),
    ("mlp-apply-z-meta", mlp_apply,
     lambda: {"params": P(), "z": torch.zeros(4, 3, device="meta")}, ValueError,
     r"^z must be on the params' device cpu, got meta"),
    ("perturb-direction-meta", perturb,
     lambda: {"model": X(), "kind": "bias", "eps": 0.1,
              "direction": torch.ones(2, device="meta")},
     ValueError, r"^direction must hold numbers on a real device"),
    ("sweep-error-seed", eps_sweep,
     lambda: {"model": X(), "kind": "bias", "eps": [0.1], "n": 4, "error_seed": -1},
     ValueError, r"^error_seed must be an integer in \[0, 9.22337e\+18\], got -1"),
    ("get-model-train-steps-huge", views.get_model, lambda: {"train_steps": 10**12},
     ValueError, r"^train_steps must be an integer in \[1, 1e\+06\]"),
]  # fmt: skip

# Already refused by name before the fix (kept so that the new checks keep the names):
GUARDS: list[Row] = [
    ("get-model-density-unknown", views.get_model, lambda: {"density": "gauss"}, ValueError,
     r"^density must be one of \['nonuniform', 'uniform'\], got 'gauss'"),
    ("sampling-weights-exact", views.sampling_view,
     lambda: {"perturbation": "weights", "n": 8, "steps": 2}, ValueError,
     r"^perturbation 'weights' needs a trained model"),
    ("lyapunov-method", views.lyapunov_view, lambda: {"method": "leapfrog"}, ValueError,
     r"^method must be one of"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("fn", "kwargs", "error", "pattern"),
    [pytest.param(fn, kw, err, pat, id=name) for name, fn, kw, err, pat in ROWS + GUARDS],
)
def test_bad_input_is_refused_by_name(
    fn: Callable[..., Any], kwargs: Callable[[], dict[str, Any]], error: type, pattern: str
) -> None:
    with pytest.raises(error, match=pattern):
        fn(**kwargs())


def test_valid_input_still_works() -> None:
    """The checks accept what the kit itself passes (no false alarms)."""
    f = _frame()
    cos = principal_cosines(f, f.flip(-1))
    assert cos.shape == (5, 2) and torch.allclose(cos, torch.ones(5, 2, dtype=f.dtype))
    assert principal_cosines(f[..., :1], f).shape == (5, 1)  # p != q is fine
    assert principal_cosines(f.float(), f.float()).dtype == torch.float32
    m = _m()
    assert m.distance_to_manifold(torch.zeros(0, 2)).shape == (0,)  # no points: no distances
    tv, _, p, q = density_shift(m, _data(), _data(), bins=8)
    assert tv == 0.0 and float(p.sum()) == pytest.approx(1.0)


@pytest.mark.parametrize("train", [train_flow_matching, train_score_model])
def test_a_diverging_training_run_is_flagged_and_its_model_refused(
    train: Callable[..., GenerativeModel],
) -> None:
    ok = train(_data(), **TINY)
    assert ok.info["diverged"] is False and ok.info["diverged_step"] is None
    bad = train(_data(), steps=20, width=8, depth=2, batch=8, lr=1e12)
    assert bad.info["diverged"] is True
    step = bad.info["diverged_step"]
    assert isinstance(step, int) and 1 <= step <= 20
    assert math.isnan(bad.info["final_loss"])
    history = bad.info["loss_history"]
    assert not math.isfinite(float(history[step - 1]))  # the step it went non-finite
    assert bool(torch.isfinite(history[: step - 1]).all()) and bool(history[step:].isnan().all())
    pattern = rf"^model must have finite parameters: its training diverged at step {step}"
    for call in (
        lambda: generate(bad, 4, steps=2),
        lambda: lyapunov_analysis(bad, _m(), 4, steps=2),
        lambda: perturb(bad, "bias", 0.1),
        lambda: eps_sweep(bad, "bias", torch.tensor([0.1]), 4, steps=2),
    ):
        with pytest.raises(ValueError, match=pattern):
            call()


def test_diverging_trajectories_are_flagged_not_a_crash() -> None:
    """A finite model whose trajectories blow up: generate returns the non-finite samples
    (sampling_view flags them), lyapunov_analysis flags them and reports NaN, not numbers
    (before: a raw _LinAlgError from the SVD)."""
    # dx/dt = 2 x³ blows up before t = 1 from |x₀| > 0.5 per coordinate: some rows, not all
    cubic = dataclasses.replace(_exact(), velocity=lambda x, t: 2.0 * x**3, t_end=1.0)
    x = generate(cubic, 12, steps=10)
    finite = torch.isfinite(x).all(dim=1)
    assert 0 < int(finite.sum()) < 12
    a = lyapunov_analysis(cubic, _m(), 12, steps=10)
    assert torch.equal(a.diverged, ~finite)
    for rows in (a.end, a.exponents, a.vectors, a.true_tangent, a.cosines, a.distance):
        assert bool(torch.isnan(rows[a.diverged]).all())
        assert bool(torch.isfinite(rows[~a.diverged]).all())
    assert a.alignment is not None and bool(torch.isnan(a.alignment[a.diverged]).all())
    assert a.mean_cosine == pytest.approx(float(a.cosines[~a.diverged].mean()))
    wild = perturb(train_flow_matching(_data(), **TINY), "weights", 1e8, seed=1)
    every = lyapunov_analysis(wild, _m(), 6, steps=3)  # every trajectory blows up
    assert bool(every.diverged.all()) and math.isnan(every.mean_cosine)
    assert bool(torch.isnan(every.exponents).all())


def test_sampling_view_keeps_diverged_samples_out_of_the_density() -> None:
    """Diverged samples (drawn at 0) count 10⁶ in the mean distance, as on the ε curve, and
    no histogram is made of them (before: they all fell in the azimuth-0 bin: a TV number)."""
    v = views.sampling_view(perturbation="bias", eps=1e38, n=16, steps=2)  # every one diverges
    assert v.diverged and v.mean_distance == views.DIVERGED_DISTANCE
    assert math.isnan(v.tv) and bool(v.hist.isnan().all())
    assert float(v.hist_true.sum()) == pytest.approx(1.0)
    x, finite = _data().clone(), torch.ones(32, dtype=torch.bool)
    x[:5], finite[:5] = 0.0, False  # five diverged samples, drawn at 0
    tv, _, p, _ = views._shift(_m(), x, finite)
    ref_tv, _, ref_p, _ = density_shift(_m(), _data()[5:], views._reference(_m()), bins=views.BINS)
    assert tv == ref_tv and torch.equal(p, ref_p)
