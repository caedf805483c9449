"""Fixed-step ODE solvers and Jacobians through them (alignkit.numerics.ode)."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from alignkit.numerics.ode import (
    SOLVERS,
    flow_jacobian,
    lyapunov_qr,
    lyapunov_svd,
    ode_step,
    solve,
    time_grid,
)

A = torch.tensor([[-0.5, 2.0], [-2.0, -0.3]], dtype=torch.float64)


def linear(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return A @ x


def nonlinear(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return torch.stack([torch.sin(x[1]) - t * x[0], x[0] * x[1] - x[1] ** 3 + t])


X0 = torch.tensor([[1.0, 0.5], [-0.3, 0.8], [0.2, -1.1]], dtype=torch.float64)


@pytest.mark.parametrize(("method", "order"), [("euler", 1), ("heun", 2), ("rk4", 4)])
def test_solvers_converge_at_their_order(method: str, order: int) -> None:
    exact = X0 @ torch.linalg.matrix_exp(A).T
    err = [float((solve(linear, X0, steps=s, method=method) - exact).abs().max()) for s in (40, 80)]
    assert math.log2(err[0] / err[1]) == pytest.approx(order, abs=0.25)


def test_trajectory_shape_and_end() -> None:
    path = solve(nonlinear, X0, steps=7, trajectory=True)
    assert path.shape == (3, 8, 2)
    assert torch.equal(path[:, 0], X0)
    assert torch.allclose(path[:, -1], solve(nonlinear, X0, steps=7))


@pytest.mark.parametrize("method", sorted(SOLVERS))
def test_batched_flow_jacobian_equals_per_sample_autograd(method: str) -> None:
    end, jac = flow_jacobian(nonlinear, X0, t1=0.8, steps=12, method=method)
    for i in range(X0.shape[0]):
        one = lambda y: solve(nonlinear, y[None], t1=0.8, steps=12, method=method)[0]  # noqa: E731
        ref = torch.autograd.functional.jacobian(one, X0[i])
        assert torch.allclose(jac[i], ref, atol=1e-10, rtol=0)
        assert torch.allclose(end[i], one(X0[i]))


def test_flow_jacobian_of_a_linear_field_is_the_matrix_exponential() -> None:
    _, jac = flow_jacobian(linear, X0, steps=60)
    assert torch.allclose(jac, torch.linalg.matrix_exp(A).expand(3, 2, 2), atol=1e-7)


def test_lyapunov_exponents_of_a_diagonal_field_are_its_rates() -> None:
    rates = torch.tensor([0.4, -1.5, -3.0], dtype=torch.float64)
    x0 = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    qr = lyapunov_qr(lambda x, t: rates * x, x0, t1=2.0, steps=40, record=True)
    assert torch.allclose(qr.exponents, rates.expand(5, 3), atol=1e-6)  # RK4 error only
    assert torch.allclose(qr.q.abs(), torch.eye(3, dtype=torch.float64).expand(5, 3, 3))
    assert qr.path is not None and qr.q_path is not None and qr.q_path.shape == (5, 41, 3, 3)


def test_qr_exponents_sum_to_the_log_determinant_and_top_vector_matches_svd() -> None:
    _, jac = flow_jacobian(nonlinear, X0, t1=0.8, steps=30)
    qr = lyapunov_qr(nonlinear, X0, t1=0.8, steps=30)
    logdet = torch.linalg.slogdet(jac).logabsdet / 0.8
    assert torch.allclose(qr.exponents.sum(-1), logdet, atol=1e-10)
    # first frame vector = image of e1 under the flow map, normalised
    image = jac[:, :, 0] / jac[:, :, 0].norm(dim=-1, keepdim=True)
    assert torch.allclose(qr.q[:, :, 0], image, atol=1e-10)


def test_svd_exponents_are_log_singular_values_of_the_matrix_exponential() -> None:
    # non-normal linear field: the flow map is exp(B T); its singular values are the closed form
    b = torch.tensor([[-0.5, 4.0], [0.0, -2.0]], dtype=torch.float64)
    fl = lyapunov_svd(lambda x, t: b @ x, X0, t1=1.5, steps=200, record=True)
    sig = torch.linalg.svdvals(torch.linalg.matrix_exp(1.5 * b))
    assert torch.allclose(fl.exponents, (sig.log() / 1.5).expand(3, 2), atol=1e-8)
    assert bool((fl.exponents[:, 0] >= fl.exponents[:, 1]).all())  # ordered
    u = torch.linalg.svd(torch.linalg.matrix_exp(1.5 * b))[0]
    assert torch.allclose(
        (fl.vectors.transpose(1, 2) @ u).abs(),
        torch.eye(2, dtype=b.dtype).expand(3, 2, 2),
        atol=1e-8,
    )
    assert fl.u_path is not None and fl.u_path.shape == (3, 201, 2, 2)


def test_a_trajectory_that_blows_up_is_flagged_not_an_error() -> None:
    # dx/dt = x²: from x0 = 2 it reaches infinity at t = 0.5, from −1 it stays finite
    field = lambda x, t: x.square()  # noqa: E731
    x0 = torch.tensor([[-1.0], [2.0]], dtype=torch.float64)
    fl = lyapunov_svd(field, x0, t1=1.0, steps=50)
    assert bool(fl.exponents[1].isnan().all()) and bool(fl.vectors[1].isnan().all())
    # the finite row as computed alone; closed form x(t) = x0/(1 − x0 t), ∂x/∂x0 = 1/(1 − x0 t)²
    alone = lyapunov_svd(field, x0[:1], t1=1.0, steps=50)
    assert torch.equal(fl.exponents[0], alone.exponents[0])
    assert math.isclose(float(alone.exponents[0, 0]), -2 * math.log(2.0), abs_tol=1e-6)


def test_svd_exponents_do_not_depend_on_the_frame_qr_ones_do() -> None:
    # the same non-normal field in rotated coordinates: SVD exponents agree, QR's (which start
    # from the standard basis) do not
    b = torch.tensor([[-0.5, 4.0], [0.0, -2.0]], dtype=torch.float64)
    c, s = math.cos(0.7), math.sin(0.7)
    r = torch.tensor([[c, -s], [s, c]], dtype=torch.float64)
    rb = r @ b @ r.T
    ex = [lyapunov_svd(lambda x, t, m=m: m @ x, X0, steps=80).exponents for m in (b, rb)]
    assert torch.allclose(ex[0], ex[1], atol=1e-8)
    qr = [lyapunov_qr(lambda x, t, m=m: m @ x, X0, steps=80).exponents for m in (b, rb)]
    assert float((qr[0] - qr[1]).abs().max()) > 0.1


def test_qr_from_the_right_singular_vectors_gives_the_svd_exponents() -> None:
    # over a finite time QR's exponents depend on the start frame; from the flow-map
    # Jacobian's right singular vectors V (J V = U Σ, already orthogonal) they are log σ / T
    _, jac = flow_jacobian(nonlinear, X0, t1=0.8, steps=30)
    v = torch.linalg.svd(jac).Vh.transpose(-1, -2)
    sig = torch.linalg.svdvals(jac)
    qr = lyapunov_qr(nonlinear, X0, t1=0.8, steps=30, frame=v)
    assert torch.allclose(qr.exponents, sig.log() / 0.8, atol=1e-10)
    top = lyapunov_qr(nonlinear, X0, t1=0.8, steps=30, frame=v[..., :1])  # k from the frame
    assert top.exponents.shape == (3, 1)
    assert torch.allclose(top.exponents[:, 0], sig[:, 0].log() / 0.8, atol=1e-10)
    shared = lyapunov_qr(nonlinear, X0, t1=0.8, steps=30, frame=v[0])  # one (D, k) for all
    assert torch.allclose(shared.exponents[0], qr.exponents[0], atol=1e-12)
    assert float((shared.exponents[1:] - qr.exponents[1:]).abs().max()) > 1e-3
    with pytest.raises(ValueError, match=r"k = 1 must equal the frame's columns, frame has 2"):
        lyapunov_qr(nonlinear, X0, frame=v, k=1)
    # a float32 frame is held to float32's tolerance, even against float64 samples
    c, s = math.cos(0.3), math.sin(0.3)
    turned = torch.tensor([[c, -s], [s, c]], dtype=torch.float32)
    assert lyapunov_qr(nonlinear, X0, steps=5, frame=turned).exponents.shape == (3, 2)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"steps": 0}, r"steps must be an integer in \[1, 1e\+09\], got 0"),
        ({"method": "midpoint"}, r"method must be one of \['euler', 'heun', 'rk4'\]"),
        ({"t1": -1.0}, r"t1 must be in"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        solve(linear, X0, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=pattern):
        lyapunov_qr(linear, X0, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=pattern):
        lyapunov_svd(linear, X0, **kwargs)  # type: ignore[arg-type]


def test_bad_x0() -> None:
    with pytest.raises(ValueError, match=r"x0 must have shape \(N, D\)"):
        solve(linear, X0[0])
    with pytest.raises(TypeError, match="x0 must be a torch.Tensor"):
        solve(linear, [[1.0, 2.0]])  # type: ignore[arg-type]


def test_log1m_grid_is_equally_spaced_in_log_one_minus_t() -> None:
    grid = time_grid(0.0, 0.999, 30, dtype=torch.float64, device="cpu", spacing="log1m")
    assert grid[0] == 0.0 and grid[-1] == 0.999 and (grid.diff() > 0).all()
    steps = torch.log1p(-grid).diff()
    torch.testing.assert_close(steps, torch.full_like(steps, math.log(1e-3) / 30))
    for t1 in (1.0, 1.5):
        with pytest.raises(ValueError, match="t1"):
            time_grid(0.0, t1, 30, dtype=torch.float64, device="cpu", spacing="log1m")
    with pytest.raises(ValueError, match="spacing"):
        time_grid(0.0, 0.5, 30, dtype=torch.float64, device="cpu", spacing="log")


def test_log1m_grid_resolves_a_field_singular_at_one() -> None:
    """dx/dt = −x/(1 − t) + 1 (exact: x(t) = (1 − t)(1 + ln(1/(1 − t))) from x(0) = 1) up to
    t = 0.999: 20 RK4 steps equal in log(1 − t) end within 1e-3 (relative), 20 equal steps in t
    are off by a factor of about 50; the flow-map derivative (1 − t) is right on both grids."""
    field = lambda x, t: -x / (1 - t) + 1.0  # noqa: E731
    x0 = torch.ones(1, 1, dtype=torch.float64)
    exact_x, exact_j = 1e-3 * (1 + math.log(1e3)), 1e-3
    errors = {}
    for spacing in ("log1m", "uniform"):
        x, jac = flow_jacobian(field, x0, t1=0.999, steps=20, spacing=spacing, route="generic")
        errors[spacing] = abs(float(x) / exact_x - 1)
        assert abs(float(jac) / exact_j - 1) < 1e-10
    assert errors["log1m"] < 1e-3 and errors["uniform"] > 10.0


@pytest.mark.parametrize(
    ("call", "exc", "pattern"),
    [
        (lambda: solve(lambda x, t: -x, torch.ones(2, 3, device="meta")), ValueError,
         r"^x0 must hold numbers"),
        (lambda: solve(lambda x, t: -x, torch.ones(2, 3, dtype=torch.float16)), TypeError,
         r"^x0 must be a float32 or float64"),
        (lambda: solve(lambda x, t: -x, torch.ones(2, 3), steps=2**64), ValueError,
         r"^steps must be an integer in \[1, 1e\+09\]"),
        (lambda: ode_step(lambda x, t: -x, torch.ones(3, device="meta"), 0.0, 0.1), ValueError,
         r"^x must hold numbers"),
        (lambda: lyapunov_svd(lambda x, t: -x, torch.ones(2, 3, device="meta")), ValueError,
         r"^x0 must hold numbers"),
    ],
)  # fmt: skip
def test_meta_half_and_huge_inputs_are_named(call: Any, exc: type, pattern: str) -> None:
    """A meta tensor (no numbers), half precision and a step count no grid can hold: errors
    naming the argument, not torch's ("Tensor.item() cannot be called on meta tensors",
    "Overflow when unpacking long long")."""
    with pytest.raises(exc, match=pattern):
        call()
