"""The fast routes of the Lyapunov view compute the previous routes' numbers.

Each fast route is checked against an independent one: the exact field's float64 posterior
(one product for the logits, floored exp) against ``torch.func`` (``route="generic"``, the
single-sample softmax formula); the helix's shrinking Newton batch against the plain
30-step loop; the closed-form top singular vectors against LAPACK's SVD in float64.
"""

from __future__ import annotations

import math

import pytest
import torch

from alignkit.manifold.dynamics import (
    lyapunov_analysis,
    principal_cosines,
    prior_sample,
    top_left_singular_vectors,
)
from alignkit.manifold.fields import exact_model
from alignkit.manifold.manifolds import MANIFOLDS, get_manifold
from alignkit.numerics.ode import lyapunov_svd

F64 = torch.float64


def _model(name: str, dtype: torch.dtype = torch.float32, size: int = 256):  # type: ignore[no-untyped-def]
    m = get_manifold(name, density="nonuniform")
    return m, exact_model(m.sample(size, seed=1).to(dtype))


@pytest.mark.parametrize("name", ["circle2d", "helix"])
def test_exact_tangent_route_equals_torch_func_in_float64(name: str) -> None:
    """Same math, both in float64: the fused route against vmap(jacfwd) of the softmax."""
    _, model = _model(name, F64)
    x0 = prior_sample(model, 30, seed=0)
    kw = {"t1": model.t_end, "steps": 40, "record": True}
    fast = lyapunov_svd(model.velocity, x0, **kw)  # type: ignore[arg-type]
    ref = lyapunov_svd(model.velocity, x0, route="generic", **kw)  # type: ignore[arg-type]
    torch.testing.assert_close(fast.path, ref.path, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(fast.jac_path, ref.jac_path, rtol=1e-7, atol=1e-9)
    torch.testing.assert_close(fast.exponents, ref.exponents, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", ["circle2d", "helix"])
def test_float32_route_is_at_least_as_close_to_float64_as_the_softmax_route(name: str) -> None:
    """Float32 data (as the explorer runs): the fast route's exponents are within 1e-3 of the
    float64 ones for 95 % of the trajectories, no worse than the float32 softmax route
    (whose float32 logits are the larger error: measured 3e-4 against 4e-3 on the circle)."""
    _, m32 = _model(name)
    _, m64 = _model(name, F64)
    x0 = prior_sample(m32, 60, seed=0)
    kw = {"t1": m32.t_end, "steps": 40}
    ref = lyapunov_svd(m64.velocity, x0.double(), route="generic", **kw).exponents  # type: ignore[arg-type]
    fast = lyapunov_svd(m32.velocity, x0, **kw).exponents.double()  # type: ignore[arg-type]
    old = lyapunov_svd(m32.velocity, x0, route="generic", **kw).exponents.double()  # type: ignore[arg-type]
    err_fast = (fast - ref).abs().amax(1).quantile(0.95)
    err_old = (old - ref).abs().amax(1).quantile(0.95)
    assert err_fast < 1e-3 and err_fast <= err_old + 1e-6, (float(err_fast), float(err_old))


def test_batched_velocity_near_t_end_matches_float64() -> None:
    """Far-away data give logits of −1e6 (floored before exp): the velocity stays exact."""
    m, model = _model("helix")
    field64 = exact_model(model.velocity.data.double()).velocity  # type: ignore[attr-defined]
    gen = torch.Generator().manual_seed(3)
    x = torch.cat([m.sample(40, seed=5) + 0.01 * torch.randn(40, 3, generator=gen),
                   3.0 * torch.randn(40, 3, generator=gen)])  # fmt: skip
    for tv in (0.2, 0.9, 0.999):
        t = torch.tensor(tv)
        got = model.velocity.batched(x, t).double()  # type: ignore[attr-defined]
        ref = torch.func.vmap(field64, in_dims=(0, None))(x.double(), t.double())
        assert float((got - ref).abs().max() / ref.abs().max()) < 1e-6, tv


def _plain_parameter(helix: object, y: torch.Tensor) -> torch.Tensor:
    """The helix's closest-point Newton as it was: 30 steps for every start."""
    c, s_max = helix.c, helix.s_max  # type: ignore[attr-defined]
    base = torch.atan2(y[:, 1], y[:, 0])
    turns = torch.arange(-1, 4, dtype=y.dtype)
    s = (base[:, None] + 2 * math.pi * turns).clamp(0.0, s_max)
    x, z = y[:, None, :2], y[:, None, 2]
    for _ in range(30):
        cs, sn = s.cos(), s.sin()
        dz = z - c * (s - s_max / 2)
        g = x[..., 0] * sn - x[..., 1] * cs - c * dz
        hess = x[..., 0] * cs + x[..., 1] * sn + c**2
        step = torch.where(hess > 1e-3, g / hess.clamp_min(1e-3), g)
        s = (s - step.clamp(-0.5, 0.5)).clamp(0.0, s_max)
    dist = (y[:, None, :] - helix.curve(s)).norm(dim=-1)  # type: ignore[attr-defined]
    return s.gather(1, dist.argmin(dim=1, keepdim=True)).squeeze(1)


def test_helix_newton_with_a_shrinking_batch_is_the_plain_loop() -> None:
    helix = MANIFOLDS["helix"]
    gen = torch.Generator().manual_seed(0)
    y = torch.cat([1.5 * torch.randn(3000, 3, generator=gen),  # near the axis too
                   helix.curve(4 * math.pi * torch.rand(500, generator=gen))])  # fmt: skip
    for dtype in (torch.float32, F64):
        yy = y.to(dtype)
        fast = helix.parameter(yy)  # type: ignore[attr-defined]
        assert torch.equal(fast, _plain_parameter(helix, yy))
    m = get_manifold("helix")
    fast_t = m.tangent_basis(y)
    ref_t = m.base.tangent(m.base.project(y))  # the projection's own Newton solve, as before
    assert float((fast_t - ref_t).abs().max()) < 1e-6


def _random_jacobians(d: int, gen: torch.Generator) -> torch.Tensor:
    """Well- and ill-conditioned (σ down to 1e-12), near-identity, identity and rank-1 J."""
    q1 = torch.linalg.qr(torch.randn(400, d, d, dtype=F64, generator=gen))[0]
    q2 = torch.linalg.qr(torch.randn(400, d, d, dtype=F64, generator=gen))[0]
    logs = -12 * torch.rand(400, d, dtype=F64, generator=gen)
    general = q1 @ torch.diag_embed(10.0**logs) @ q2.mT
    near = torch.eye(d, dtype=F64) + 1e-3 * torch.randn(50, d, d, dtype=F64, generator=gen)
    rank1 = torch.randn(5, d, 1, dtype=F64, generator=gen) @ torch.randn(5, 1, d, dtype=F64)
    return torch.cat([general, near, torch.eye(d, dtype=F64).expand(3, d, d), rank1])


@pytest.mark.parametrize(("d", "k"), [(2, 1), (3, 1), (3, 2), (4, 2)])
def test_top_left_singular_vectors_span_the_svds(d: int, k: int) -> None:
    gen = torch.Generator().manual_seed(d * 10 + k)
    jac = _random_jacobians(d, gen)
    u, sig, _ = torch.linalg.svd(jac)
    got = top_left_singular_vectors(jac.float(), k)  # float32 input, as recorded
    ref = torch.linalg.svd(jac.float().double())[0][..., :k]
    assert got.shape == (jac.shape[0], d, k) and got.dtype == F64
    gram = got.mT @ got  # orthonormal: to float64 rounding in closed form (d <= 3), and to a
    # few float32 ulps from float32 LAPACK (d = 4, as before: 1.13e-6 on an AMD EPYC's)
    atol = 1e-12 if d <= 3 else 16 * torch.finfo(torch.float32).eps
    torch.testing.assert_close(gram, torch.eye(k, dtype=F64).expand_as(gram), rtol=0, atol=atol)
    if d == 4:  # no closed form: LAPACK on the input, as before
        assert torch.equal(got, torch.linalg.svd(jac.float())[0][..., :k].double())
        return
    gap = (sig[:, k - 1] - sig[:, k]) / sig[:, 0]
    clear = gap > 1e-2  # a well-defined subspace: the same one
    cos = principal_cosines(got, ref)
    assert float((1 - cos[clear]).abs().max()) < 1e-9
    ident = torch.isclose(jac, torch.eye(d, dtype=F64)).all((1, 2))
    torch.testing.assert_close(got[ident], ref[ident])  # J = I: the SVD's own frame, as before


def test_alignment_equals_the_float64_svd_route() -> None:
    """The view's alignment curve: closed-form top vectors against the SVD of the Jacobians."""
    m, model = _model("sphere")
    a = lyapunov_analysis(model, m, 40, steps=20, seed=0)
    fl = lyapunov_svd(model.velocity, a.start, t1=model.t_end, steps=20, record=True,
                      spacing="log1m")  # the exact field's grid  # fmt: skip
    assert fl.jac_path is not None and fl.path is not None and a.alignment is not None
    u = torch.linalg.svd(fl.jac_path.double())[0][..., :2]
    t_all = m.tangent_basis(fl.path.reshape(-1, 3)).reshape(40, 21, 3, 2).double()
    ref = torch.linalg.svdvals(u.mT @ t_all).clamp(max=1.0).mean(-1)
    torch.testing.assert_close(a.alignment.double(), ref, rtol=0, atol=1e-6)


def test_one_and_two_angle_principal_cosines_are_the_svd_values() -> None:
    gen = torch.Generator().manual_seed(1)
    a = torch.linalg.qr(torch.randn(300, 3, 2, dtype=F64, generator=gen))[0]
    b = torch.linalg.qr(torch.randn(300, 3, 1, dtype=F64, generator=gen))[0]
    c = torch.linalg.qr(torch.randn(300, 3, 2, dtype=F64, generator=gen))[0]
    near = torch.linalg.qr(a + 1e-9 * torch.randn(300, 3, 2, dtype=F64, generator=gen))[0]
    for x, y in (
        (a, b),
        (b, a),
        (a[..., :1], b),
        (a, c),
        (a, near),
        (a, a),
        (a.float(), c.float()),
    ):
        ref = torch.linalg.svdvals(x.mT @ y).clamp(max=1.0)
        torch.testing.assert_close(
            principal_cosines(x, y), ref, rtol=0, atol=1e-12 if x.dtype == F64 else 1e-6
        )


@pytest.mark.parametrize(
    ("jac", "k", "error", "pattern"),
    [
        (torch.zeros(4, 2, 3), 1, ValueError, r"jac must have shape \(\.\.\., D, D\)"),
        (torch.zeros(4, 3, 3), 0, ValueError, r"k must be an integer in \[1, 3\]"),
        (torch.zeros(4, 3, 3), 4, ValueError, r"k must be an integer in \[1, 3\]"),
        ([[1.0]], 1, TypeError, "jac must be a float tensor"),
        (torch.zeros(4, 3, 3, dtype=torch.long), 1, TypeError, "jac must be a float tensor"),
    ],
)
def test_top_left_singular_vectors_bad_input(
    jac: object, k: int, error: type, pattern: str
) -> None:
    with pytest.raises(error, match=pattern):
        top_left_singular_vectors(jac, k)  # type: ignore[arg-type]
