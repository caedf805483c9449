"""The two Hessian-vector-product routes and the shared Lanczos run, against independent numbers.

Every route is checked against the explicit Hessian of a hand-written loss
(``torch.autograd.functional.hessian``, via ``tests/test_hessian.py``'s cases); the combined
eigenvalue + trace run against ``eigvalsh``, the exact trace and the separate deflated
estimator it must reproduce exactly.
"""

from __future__ import annotations

import math

import pytest
import torch

from alignkit.numerics.hessian import (
    frobenius_norm,
    hessian_operator,
    hessian_vector_product,
    hutchinson_trace,
    top_eigenvalues,
    top_eigenvalues_and_trace,
)
from alignkit.numerics.hvp import HVP_ROUTES, hvp_operator, resolve_route
from alignkit.numerics.lanczos import lanczos, operator_top_eigenvalues
from alignkit.numerics.trace import operator_top_eigenvalues_and_trace, operator_trace
from tests.test_hessian import CASES, F64, _case, _hutchinson_sd, _spd

ROUTES = ("double_backward", "forward_over_reverse")
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(("sizes", "act", "loss"), CASES)
def test_every_route_matches_the_explicit_hessian(route, sizes, act, loss) -> None:
    model, x, y, ref = _case(sizes, act, loss)
    d = ref.shape[0]
    gen = torch.Generator().manual_seed(3)
    v = torch.randn(d, dtype=F64, generator=gen)
    hv = hessian_vector_product(model, x, y, v, loss=loss, route=route)
    torch.testing.assert_close(hv, ref @ v, rtol=1e-10, atol=1e-12)
    block = torch.randn(4, d, dtype=F64, generator=gen)
    op = hessian_operator(model, x, y, loss=loss, route=route)
    torch.testing.assert_close(op(block), block @ ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(op(v), ref @ v, rtol=1e-10, atol=1e-12)  # the graph is reused
    with torch.no_grad():  # building the graph needs grad mode: the operator turns it on
        torch.testing.assert_close(
            hessian_operator(model, x, y, loss=loss, route=route)(v), ref @ v
        )


def test_auto_is_double_backward_on_cpu_and_routes_evaluate_elsewhere() -> None:
    assert resolve_route("auto", "cpu") == "double_backward"
    assert resolve_route("auto", torch.device("cuda")) == "forward_over_reverse"
    assert resolve_route("forward_over_reverse", "cpu") == "forward_over_reverse"
    assert set(HVP_ROUTES) == {"auto", *ROUTES}
    model, x, y, _ = _case((3, 5, 2), "tanh", "mse")
    v = torch.randn(3 * 5 + 5 + 5 * 2 + 2, dtype=F64)
    auto = hessian_vector_product(model, x, y, v)
    assert torch.equal(auto, hessian_vector_product(model, x, y, v, route="double_backward"))
    theta = torch.nn.utils.parameters_to_vector(model.parameters()) + 0.3  # params= moves H
    moved = _case((3, 5, 2), "tanh", "mse")[0]
    torch.nn.utils.vector_to_parameters(theta, moved.parameters())
    ref = hessian_vector_product(moved, x, y, v, route="forward_over_reverse")
    for route in ROUTES:
        out = hessian_vector_product(model, x, y, v, params=theta, route=route)
        torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-12)
    assert all(p.grad is None for p in model.parameters())  # nothing leaks into .grad


@pytest.mark.parametrize("route", ROUTES)
def test_hvp_operator_on_a_closed_form_function(route: str) -> None:
    # f = sum(theta^4) / 4 + (a . theta)^2  =>  H = diag(3 theta^2) + 2 a a^T
    gen = torch.Generator().manual_seed(0)
    theta, a = torch.randn(7, dtype=F64, generator=gen), torch.randn(7, dtype=F64, generator=gen)
    exact = torch.diag(3 * theta**2) + 2 * torch.outer(a, a)
    op = hvp_operator(lambda t: (t**4).sum() / 4 + (a @ t) ** 2, theta, route=route)
    eye = torch.eye(7, dtype=F64)
    torch.testing.assert_close(op(eye), exact, rtol=1e-12, atol=1e-12)
    linear = hvp_operator(lambda t: a @ t, theta, route=route)  # H = 0
    torch.testing.assert_close(linear(eye), torch.zeros(7, 7, dtype=F64))


@pytest.mark.parametrize("route", ROUTES)
def test_model_spectrum_tools_agree_with_eigvalsh_on_every_route(route: str) -> None:
    model, x, y, ref = _case((3, 6, 2), "tanh", "mse", n=12)
    d = ref.shape[0]
    top = torch.linalg.eigvalsh(ref).flip(0)[:3]
    r = top_eigenvalues(model, x, y, k=3, tol=1e-10, route=route)
    torch.testing.assert_close(r.values, top, rtol=1e-8, atol=1e-10)
    full = hutchinson_trace(model, x, y, samples=2, deflate=d, route=route)
    assert math.isclose(full.value.item(), ref.trace().item(), rel_tol=1e-9)
    fro = frobenius_norm(model, x, y, method="stochastic", samples=300, route=route)
    sd_sq = _hutchinson_sd(ref @ ref) / math.sqrt(300)
    assert abs(fro.value.item() ** 2 - (ref @ ref).trace().item()) <= 4 * sd_sq
    eig, tr = top_eigenvalues_and_trace(
        model, x, y, k=2, tol=1e-10, samples=2, deflate=d, route=route
    )
    torch.testing.assert_close(eig.values, top[:2], rtol=1e-8, atol=1e-10)
    assert math.isclose(tr.value.item(), ref.trace().item(), rel_tol=1e-9)


def test_lanczos_with_tol_zero_runs_every_step_in_float32() -> None:
    # one dominant eigenvalue: the top Ritz vector's last component rounds to 0 in float32
    # after a few steps; that zero residual used to stop a tol=0 run after 5-7 of 60 steps
    lam = torch.cat([torch.tensor([1e4]), torch.linspace(0, 1, 199)])
    gen = torch.Generator().manual_seed(0)
    res, q, tri = lanczos(
        lambda v: lam * v, torch.randn(200, generator=gen), k=1, iters=60, tol=0.0, generator=gen
    )
    assert res.matvecs == 60 and q.shape == (60, 200) and tri.shape == (60, 60)
    torch.testing.assert_close(q @ q.T, torch.eye(60), atol=1e-4, rtol=0)
    assert res.values.item() == pytest.approx(1e4, rel=1e-6)


def _spiked(d: int = 40) -> torch.Tensor:
    spikes = torch.tensor([30.0, 20, 12, 8], dtype=F64)
    return _spd(d, 5, torch.cat([torch.linspace(0.1, 1.0, d - 4, dtype=F64), spikes]))


def test_shared_lanczos_run_reuses_the_eigen_vectors_exactly() -> None:
    a, d = _spiked(), 40
    kw = {"dtype": F64, "device": "cpu"}

    def mv(v: torch.Tensor) -> torch.Tensor:
        return v @ a

    eig, tr = operator_top_eigenvalues_and_trace(mv, d, k=2, tol=1e-8, samples=30, seed=4, **kw)
    alone = operator_top_eigenvalues(mv, d, k=2, tol=1e-8, seed=4, **kw)
    torch.testing.assert_close(eig.values, torch.linalg.eigvalsh(a).flip(0)[:2])
    assert eig.matvecs == alone.matvecs < d and tr.matvecs == 30  # no second Lanczos
    # the same start, basis and probes as the separate deflated estimator with that many steps
    sep = operator_trace(mv, d, samples=30, deflate=eig.matvecs, seed=4, **kw)
    torch.testing.assert_close(tr.value, sep.value, rtol=1e-12, atol=0)
    torch.testing.assert_close(tr.stderr, sep.stderr, rtol=1e-12, atol=0)
    more, tr_more = operator_top_eigenvalues_and_trace(
        mv, d, k=2, tol=1e-8, samples=30, deflate=25, seed=4, **kw
    )
    assert more.matvecs == 25 and more.converged  # deflate forces steps past convergence
    exact, tr_exact = operator_top_eigenvalues_and_trace(mv, d, samples=2, deflate=d, **kw)
    assert math.isclose(tr_exact.value.item(), a.trace().item(), rel_tol=1e-10)


def test_shared_lanczos_trace_is_unbiased_and_beats_plain_hutchinson() -> None:
    a, d = _spiked(), 40
    kw = {"dtype": F64, "device": "cpu", "k": 1, "tol": 1e-3, "samples": 4, "block_size": 4}
    ests = torch.stack(
        [
            operator_top_eigenvalues_and_trace(lambda v: v @ a, d, seed=s, **kw)[1].value
            for s in range(200)
        ]
    )
    assert abs(ests.mean().item() - a.trace().item()) <= 4 * ests.std().item() / math.sqrt(200)
    plain_sd = _hutchinson_sd(a) / math.sqrt(4)
    assert ests.std().item() < plain_sd / 2  # the eigen-solve's vectors took the spikes out


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("route", HVP_ROUTES)
def test_cuda_routes_match_the_explicit_hessian(route: str) -> None:
    model, x, y, ref = _case((3, 5, 2), "tanh", "mse")
    d = ref.shape[0]
    model, x, y = model.cuda(), x.cuda(), y.cuda()
    block = torch.randn(3, d, dtype=F64, generator=torch.Generator().manual_seed(1))
    out = hessian_vector_product(model, x, y, block.cuda(), route=route)
    assert out.device.type == "cuda"
    torch.testing.assert_close(out.cpu(), block @ ref, rtol=1e-10, atol=1e-12)
    eig, tr = top_eigenvalues_and_trace(
        model, x, y, k=2, tol=1e-10, samples=2, deflate=d, route=route
    )
    torch.testing.assert_close(eig.values.cpu(), torch.linalg.eigvalsh(ref).flip(0)[:2])
    assert math.isclose(tr.value.item(), ref.trace().item(), rel_tol=1e-9)


def test_tol_zero_lanczos_restarts_after_a_breakdown_and_stays_exact() -> None:
    # 3 distinct eigenvalues: each Krylov block is exhausted after 3 steps, so the runs below
    # restart; every vector must still be orthonormal and the full deflation exact
    d = 24
    a = _spd(d, 2, torch.tensor([1.0, 2.0, 5.0], dtype=F64).repeat(d // 3))
    gen = torch.Generator().manual_seed(0)
    start = torch.randn(d, generator=gen, dtype=F64)
    res, q, tri = lanczos(lambda v: a @ v, start, k=3, iters=d, tol=0.0, generator=gen)
    assert res.matvecs == 9 and res.converged  # 5 found once per block: three blocks
    torch.testing.assert_close(q @ q.T, torch.eye(9, dtype=F64), atol=1e-10, rtol=0)
    torch.testing.assert_close(q @ a @ q.T, tri, atol=1e-10, rtol=0)
    torch.testing.assert_close(res.values, torch.tensor([5.0, 5.0, 5.0], dtype=F64))
    kw = {"samples": 2, "deflate": d, "dtype": F64, "device": "cpu"}
    full = operator_trace(lambda v: v @ a, d, **kw)
    assert full.matvecs == d + 2  # deflate vectors, restarting past each exhausted block
    assert math.isclose(full.value.item(), a.trace().item(), rel_tol=1e-10)
    eig, tr = operator_top_eigenvalues_and_trace(lambda v: v @ a, d, tol=0.0, **kw)
    assert eig.matvecs == d and math.isclose(tr.value.item(), a.trace().item(), rel_tol=1e-10)
