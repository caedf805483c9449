"""Hand-written forward mode (alignkit.numerics.tangent) against torch.func and differences."""

from __future__ import annotations

import pytest
import torch

from alignkit.manifold.fields import init_mlp
from alignkit.numerics.ode import SOLVERS, flow_jacobian, lyapunov_qr, lyapunov_svd, solve
from alignkit.numerics.tangent import MLPField, gram_schmidt, tangent_frames

F64 = torch.float64


def _field(dim: int = 2, width: int = 16, seed: int = 0, **kw: object) -> MLPField:
    params = init_mlp([dim + 1, width, width, width, dim], seed=seed, dtype=F64)
    return MLPField(params, dim, **kw)  # type: ignore[arg-type]


def _score_like(dim: int = 3) -> MLPField:
    b = torch.tensor([0.3, -0.2, 0.5][:dim], dtype=F64)
    return _field(
        dim,
        feature=lambda t: torch.log(3.0 * torch.exp(-2.0 * t)),
        scale=lambda t: -1.7 * torch.exp(-2.0 * t),
        offset=lambda t: (1.0 + t) * b,
    )


X = torch.randn(7, 3, dtype=F64, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("field", [_field(3), _score_like(3)], ids=["flow", "score"])
def test_tangent_rows_are_the_jvp_and_match_finite_differences(field: MLPField) -> None:
    t = torch.tensor(0.4, dtype=F64)
    u = torch.randn(2, 7, 3, dtype=F64, generator=torch.Generator().manual_seed(2))
    out = field.tangent(torch.cat([X[None], u]), t)
    assert torch.allclose(out[0], torch.func.vmap(field, in_dims=(0, None))(X, t), atol=1e-13)
    assert torch.allclose(field.batched(X, t), out[0], atol=1e-13)
    for j in range(2):
        jvp = torch.func.vmap(lambda x, v: torch.func.jvp(lambda y: field(y, t), (x,), (v,))[1])
        assert torch.allclose(out[1 + j], jvp(X, u[j]), atol=1e-12)
        e = 1e-6  # central differences, an independent route
        fd = (field.batched(X + e * u[j], t) - field.batched(X - e * u[j], t)) / (2 * e)
        assert torch.allclose(out[1 + j], fd, atol=1e-7)


@pytest.mark.parametrize("method", sorted(SOLVERS))
def test_lyapunov_qr_tangent_route_equals_the_generic_route(method: str) -> None:
    field = _score_like(3)
    for k in (3, 2):
        kw = {"t1": 0.9, "steps": 9, "method": method, "k": k, "record": True}
        fast = lyapunov_qr(field, X, route="tangent", **kw)  # type: ignore[arg-type]
        ref = lyapunov_qr(field, X, route="generic", **kw)  # type: ignore[arg-type]
        for name in ("x", "q", "log_r", "path", "q_path"):
            a, b = getattr(fast, name), getattr(ref, name)
            assert a.shape == b.shape and torch.allclose(a, b, atol=1e-11), name


def test_lyapunov_qr_per_sample_frames_take_the_same_numbers_on_both_routes() -> None:
    field = _score_like(3)
    g = torch.Generator().manual_seed(1)
    frames = torch.linalg.qr(torch.randn(X.shape[0], 3, 2, dtype=X.dtype, generator=g)).Q
    kw = {"t1": 0.9, "steps": 9, "frame": frames}
    fast = lyapunov_qr(field, X, route="tangent", **kw)  # type: ignore[arg-type]
    ref = lyapunov_qr(field, X, route="generic", **kw)  # type: ignore[arg-type]
    assert fast.log_r.shape == (X.shape[0], 9, 2)
    assert torch.allclose(fast.log_r, ref.log_r, atol=1e-11)
    assert torch.allclose(fast.q, ref.q, atol=1e-11)
    grid = torch.linspace(0.0, 0.9, 10, dtype=X.dtype)
    whole, split = (  # chunks of 3 samples take their own rows of the frames
        tangent_frames(field, X, frames, grid, SOLVERS["rk4"], qr=True, record=False, chunk=c)
        for c in (None, 3)
    )
    assert torch.allclose(whole.log_r, split.log_r, atol=1e-13)
    assert torch.allclose(whole.frame, split.frame, atol=1e-13)


def test_svd_and_flow_jacobian_tangent_routes_equal_generic_and_differences() -> None:
    field = _field(2)
    x0 = X[:, :2].contiguous()
    fast = lyapunov_svd(field, x0, steps=15, record=True, route="tangent")
    ref = lyapunov_svd(field, x0, steps=15, record=True, route="generic")
    assert torch.allclose(fast.exponents, ref.exponents, atol=1e-11)
    assert torch.allclose(fast.path, ref.path, atol=1e-12)  # type: ignore[arg-type]
    assert torch.allclose(fast.u_path.abs(), ref.u_path.abs(), atol=1e-9)  # type: ignore[union-attr]
    end, jac = flow_jacobian(field, x0, steps=15)  # auto: tangent route
    e = 1e-6
    for j in range(2):
        step = torch.zeros(2, dtype=F64)
        step[j] = e
        fd = (solve(field, x0 + step, steps=15) - solve(field, x0 - step, steps=15)) / (2 * e)
        assert torch.allclose(jac[..., j], fd, atol=1e-7)
    assert torch.allclose(end, solve(field, x0, steps=15, route="generic"), atol=1e-13)


def test_chunks_and_the_generic_route_agree_in_float32() -> None:
    params = init_mlp([3, 64, 64, 64, 2], seed=0)
    field = MLPField(params, 2)
    x0 = torch.randn(300, 2, generator=torch.Generator().manual_seed(3))
    grid = torch.linspace(0.0, 1.0, 21)
    eye = torch.eye(2)
    whole = tangent_frames(field, x0, eye, grid, SOLVERS["rk4"], qr=True, record=False, chunk=300)
    parts = tangent_frames(field, x0, eye, grid, SOLVERS["rk4"], qr=True, record=False, chunk=64)
    assert torch.allclose(whole.log_r, parts.log_r, atol=1e-6)  # type: ignore[arg-type]
    ref = lyapunov_qr(field, x0, steps=20, route="generic")
    assert float((whole.log_r.sum(1) - ref.exponents).abs().max()) < 1e-5  # type: ignore[union-attr]


@pytest.mark.parametrize("k", [2, 10])
def test_gram_schmidt_is_qr_with_a_positive_diagonal(k: int) -> None:
    a = torch.randn(k, 5, 12, dtype=F64, generator=torch.Generator().manual_seed(k))
    q, log_r = gram_schmidt(a)
    q_ref, r_ref = torch.linalg.qr(a.permute(1, 2, 0))
    sign = torch.sign(torch.diagonal(r_ref, dim1=-2, dim2=-1))
    assert torch.allclose(q.permute(1, 2, 0), q_ref * sign.unsqueeze(-2), atol=1e-10)
    assert torch.allclose(log_r, torch.log(torch.diagonal(r_ref, dim1=-2, dim2=-1).abs()))


def test_auto_route_falls_back_when_autograd_or_vmap_must_flow_through() -> None:
    field = _field(2)
    x0 = X[:3, :2].clone().requires_grad_(True)
    end = solve(field, x0, steps=4)  # generic: the gradient flows
    end.sum().backward()
    assert x0.grad is not None and bool(torch.isfinite(x0.grad).all())
    ps = tuple(torch.stack([p, 1.1 * p]) for p in field.params)

    def run(*p: torch.Tensor) -> torch.Tensor:
        return solve(MLPField(p, 2), X[:3, :2], steps=4)

    both = torch.func.vmap(run)(*ps)  # params wrapped by vmap: the generic route
    assert torch.allclose(both[0], solve(field, X[:3, :2], steps=4), atol=1e-13)


def test_bad_routes() -> None:
    with pytest.raises(ValueError, match="route"):
        lyapunov_qr(_field(2), X[:, :2], steps=2, route="fast")
    with pytest.raises(ValueError, match="TangentField"):
        lyapunov_qr(lambda x, t: -x, X[:, :2], steps=2, route="tangent")
    with pytest.raises(ValueError, match="generic"):
        solve(_field(2), X[:, :2].clone().requires_grad_(True), steps=2, route="tangent")


def test_exact_field_tangents_match_torch_func_and_the_generic_route() -> None:
    from alignkit.manifold.fields import exact_model

    data = torch.randn(40, 3, dtype=F64, generator=torch.Generator().manual_seed(4))
    field = exact_model(data).velocity
    t = torch.tensor(0.9, dtype=F64)
    u = torch.randn(3, 7, 3, dtype=F64, generator=torch.Generator().manual_seed(5))
    out = field.tangent(torch.cat([X[None], u]), t)  # type: ignore[attr-defined]
    assert torch.allclose(out[0], torch.func.vmap(field, in_dims=(0, None))(X, t), atol=1e-12)
    for j in range(3):
        jvp = torch.func.vmap(lambda x, v: torch.func.jvp(lambda y: field(y, t), (x,), (v,))[1])
        assert torch.allclose(out[1 + j], jvp(X, u[j]), atol=1e-9)
    fast = lyapunov_svd(field, X, t1=0.99, steps=12, record=True)
    ref = lyapunov_svd(field, X, t1=0.99, steps=12, record=True, route="generic")
    assert torch.allclose(fast.exponents, ref.exponents, atol=1e-9)
    assert torch.allclose(fast.path, ref.path, atol=1e-10)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["bias", "endpoint", "smooth"])
def test_perturbed_fields_keep_the_tangent_route_and_its_numbers(kind: str) -> None:
    from alignkit.manifold.fields import exact_model, flow_model, perturb

    data = torch.randn(30, 3, dtype=F64, generator=torch.Generator().manual_seed(6))
    for base in (exact_model(data), flow_model(_field(3).params, 3)):
        field = perturb(base, kind, 0.4, seed=2).velocity
        t = torch.tensor(0.6, dtype=F64)
        u = torch.randn(2, 7, 3, dtype=F64, generator=torch.Generator().manual_seed(7))
        out = field.tangent(torch.cat([X[None], u]), t)  # type: ignore[attr-defined]
        assert torch.allclose(out[0], torch.func.vmap(field, in_dims=(0, None))(X, t), atol=1e-12)
        for j in range(2):
            jvp = torch.func.vmap(
                lambda x, v, f=field, tt=t: torch.func.jvp(lambda y: f(y, tt), (x,), (v,))[1]
            )
            assert torch.allclose(out[1 + j], jvp(X, u[j]), atol=1e-9)
        kw = {"t1": 0.95, "steps": 10}
        assert torch.allclose(solve(field, X, **kw), solve(field, X, route="generic", **kw))  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["bias", "smooth"])
def test_batched_error_sweep_equals_one_solve_per_error_size(kind: str) -> None:
    from alignkit.manifold.fields import exact_model, perturb
    from alignkit.manifold.views import eps_sweep

    data = torch.randn(30, 2, dtype=F64, generator=torch.Generator().manual_seed(8))
    model = exact_model(data)
    eps = torch.tensor([0.0, 0.3, 1.2], dtype=F64)
    x = eps_sweep(model, kind, eps, 5, steps=8)
    x0 = torch.randn(5, 2, dtype=F64, generator=torch.Generator().manual_seed(0))
    for i, e in enumerate(eps.tolist()):
        one = perturb(model, kind, e, seed=1).velocity
        ref = solve(one, x0, t1=model.t_end, steps=8, route="generic")
        assert torch.allclose(x[i], ref, atol=1e-9)
