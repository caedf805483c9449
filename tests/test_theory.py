"""Linear stability of SGD: closed forms, brute-force enumeration, bisection, simulation."""

import itertools
import math
import warnings

import pytest
import torch

import alignkit.stability.theory as T
from alignkit.stability import _hessians, secular
from alignkit.stability.simulate import simulate_linear_sgd
from alignkit.stability.toys import escape_toy_hessians, linear_regression_hessians, uv_hessians


@pytest.fixture(scope="module")
def overparam() -> torch.Tensor:
    _, h = linear_regression_hessians(6, 12, seed=1)  # d > n: a valley of minima
    return h


def test_escape_toy_closed_forms() -> None:
    h0, h1 = escape_toy_hessians(0), escape_toy_hessians(1)
    assert T.sharpness(h0.mean(0)) == pytest.approx(2.0)
    assert T.sharpness(h1.mean(0)) == pytest.approx(2.0)
    assert T.nonuniformity(h0) == pytest.approx(0.0, abs=1e-12)
    assert T.nonuniformity(h1) == pytest.approx(1.8)
    # eta = 0.7: GD stable at both; SGD (B = 1, with replacement) unstable at x = 1 only.
    assert T.spectral_radius(h1, 0.7, 2) <= 1 and T.spectral_radius(h0, 0.7, 2) <= 1
    assert T.spectral_radius(h1, 0.7, 1, replacement=True) == pytest.approx(1.7476)
    assert T.spectral_radius(h0, 0.7, 1, replacement=True) == pytest.approx(0.16)
    assert bool(T.stable_1d(2.0, 0.0, 0.7, 1, 2, replacement=True))
    assert not bool(T.stable_1d(2.0, 1.8, 0.7, 1, 2, replacement=True))


@pytest.mark.parametrize("replacement", [False, True])
@pytest.mark.parametrize("batch", [1, 2])
def test_one_dimensional_threshold_formula(batch: int, replacement: bool) -> None:
    h = torch.tensor([0.3, 1.1, 2.5, 0.1], dtype=torch.float64).reshape(4, 1, 1)
    a = float(h.mean())
    s2 = float(((h - a) ** 2).mean())
    p = 1 / batch if replacement else (4 - batch) / (batch * 3)
    expected = 2 * a / (a**2 + p * s2)
    assert T.linear_stability_threshold(h, batch, replacement) == pytest.approx(expected)


@pytest.mark.parametrize(("n", "batch"), [(4, 1), (5, 2), (5, 3), (4, 4)])
def test_operator_matches_enumeration_of_minibatches(n: int, batch: int) -> None:
    """Q from the formula equals E[(I−ηH_ξ)⊗(I−ηH_ξ)] over every minibatch, exactly."""
    h = linear_regression_hessians(n, 3, seed=n + batch)[1]
    eta, eye = 0.2, torch.eye(3, dtype=torch.float64)
    for replacement in (False, True):
        if replacement:
            batches = list(itertools.product(range(n), repeat=batch))
        else:
            batches = list(itertools.combinations(range(n), batch))
        brute = sum(
            torch.kron(eye - eta * h[list(b)].mean(0), eye - eta * h[list(b)].mean(0))
            for b in batches
        ) / len(batches)
        q = T.stability_operator(h, eta, batch, replacement=replacement, restrict=False)
        assert torch.allclose(q, brute, atol=1e-12)


def _bisect(h: torch.Tensor, batch: int, replacement: bool) -> float:
    def radius(eta: float) -> float:
        q = T.stability_operator(h, eta, batch, replacement=replacement, restrict=True)
        return float(torch.linalg.eigvals(q).abs().max())

    lo, hi = 1e-6, 10.0
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if radius(mid) <= 1 + 1e-13 else (lo, mid)
    return lo


@pytest.mark.parametrize("replacement", [False, True])
@pytest.mark.parametrize("batch", [1, 2, 3, 6])
def test_threshold_formula_vs_bisection(
    overparam: torch.Tensor, batch: int, replacement: bool
) -> None:
    formula = T.linear_stability_threshold(overparam, batch, replacement)
    assert formula == pytest.approx(_bisect(overparam, batch, replacement), rel=1e-6)


def test_threshold_monotone_in_batch_and_gd_limit(overparam: torch.Tensor) -> None:
    curve = T.threshold_curve(overparam, [1, 2, 3, 4, 5, 6])
    assert bool((curve[1:] >= curve[:-1] - 1e-12).all())
    gd = 2 / T.sharpness(overparam.mean(0))
    assert float(curve[-1]) == pytest.approx(gd)
    assert float(curve[0]) < 0.7 * gd  # noise matters at B = 1


def test_necessary_conditions_bound_the_threshold(overparam: torch.Tensor) -> None:
    for batch in (1, 2, 4):
        eta = T.linear_stability_threshold(overparam, batch)
        directional, trace_form = T.threshold_upper_bounds(overparam, batch)
        assert eta <= directional * (1 + 1e-9) and eta <= trace_form * (1 + 1e-9)


def test_valley_has_eigenvalue_one_without_restriction(overparam: torch.Tensor) -> None:
    q = T.stability_operator(overparam, 1e-3, 2, restrict=False)
    assert float(torch.linalg.eigvalsh(q)[-1]) == pytest.approx(1.0, abs=1e-12)
    assert T.spectral_radius(overparam, 1e-3, 2) < 1


def test_matrix_free_routes_match_explicit(
    overparam: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    lrs = torch.tensor([0.02, 0.05, 0.1])
    monkeypatch.setattr(T, "LOWRANK_LIMIT", 0)  # the explicit r² × r² eigenvalues
    explicit_rho = T.spectral_radius_curve(overparam, lrs, 2)
    explicit_eta = T.threshold_curve(overparam, [1, 3, 6])
    monkeypatch.setattr(T, "EXPLICIT_LIMIT", 0)
    assert torch.allclose(T.spectral_radius_curve(overparam, lrs, 2, iters=3000), explicit_rho,
                          rtol=1e-6)  # fmt: skip
    assert torch.allclose(T.threshold_curve(overparam, [1, 3, 6], iters=3000), explicit_eta,
                          rtol=1e-6)  # fmt: skip


def _routes(h: torch.Tensor, sizes: list[int], lrs: torch.Tensor, batch: int, replacement: bool,
            monkeypatch: pytest.MonkeyPatch) -> tuple[torch.Tensor, ...]:  # fmt: skip
    """(η*(B), ρ(Q(η))) by the default route, then by explicit eigenvalues."""
    eta = T.threshold_curve(h, sizes, replacement=replacement)
    rho = T.spectral_radius_curve(h, lrs, batch, replacement=replacement)
    with monkeypatch.context() as m:
        m.setattr(T, "LOWRANK_LIMIT", 0)
        eta_x = T.threshold_curve(h, sizes, replacement=replacement)
        rho_x = T.spectral_radius_curve(h, lrs, batch, replacement=replacement)
    return eta, eta_x, rho, rho_x


@pytest.mark.parametrize("replacement", [False, True])
@pytest.mark.parametrize(("n", "d"), [(6, 12), (20, 60), (12, 8), (20, 20)])
def test_lowrank_route_matches_explicit_eigenvalues(
    n: int, d: int, replacement: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rank-one H_i (regression): the secular-equation route equals the dense r² × r² one."""
    h = linear_regression_hessians(n, d, seed=3)[1]
    hr, _ = T._reduce(h)
    assert T._lowrank(hr) is not None  # the route under test is taken
    gd = 2 / T.sharpness(h.mean(0))
    lrs = torch.linspace(0.02 * gd, 1.2 * gd, 25, dtype=torch.float64)
    sizes = list(range(1, (2 * n if replacement else n) + 1))
    eta, eta_x, rho, rho_x = _routes(h, sizes, lrs, 2, replacement, monkeypatch)
    assert torch.allclose(eta, eta_x, rtol=1e-12, atol=0)
    assert torch.allclose(rho, rho_x, rtol=1e-12, atol=0)


def test_lowrank_route_with_rank_two_samples_and_fallback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PSD H_i of rank 2 use 4 columns each; an indefinite H_i falls back to the dense route."""
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(5, 12, 2, generator=gen, dtype=torch.float64)
    h = x @ x.transpose(1, 2)  # n = 5 samples of rank 2 in d = 12: r = 10, R = 20
    assert T._lowrank(T._reduce(h)[0]) is not None
    lrs = torch.tensor([0.01, 0.05, 0.2], dtype=torch.float64)
    eta, eta_x, rho, rho_x = _routes(h, [1, 2, 5], lrs, 1, False, monkeypatch)
    assert torch.allclose(eta, eta_x, rtol=1e-12) and torch.allclose(rho, rho_x, rtol=1e-12)
    indefinite = h.clone()
    indefinite[0] -= 0.5 * torch.eye(12, dtype=torch.float64) * float(h[0].diagonal().mean())
    assert T._lowrank(T._reduce(indefinite)[0]) is None


def test_secular_top_eigenvalue_matches_dense_eigenvalues() -> None:
    """λ_max(diag δ + c U Uᵀ) against eigvalsh, incl. c = 0, a root at the pole, δ < 0."""
    gen = torch.Generator().manual_seed(0)
    delta = torch.randn(6, 30, generator=gen, dtype=torch.float64)
    u = torch.randn(30, 4, generator=gen, dtype=torch.float64)
    u[delta[0].argmax()] = 0.0  # setting 0: no weight on its largest δ ...
    coef = torch.tensor([1e-3, 0.0, 0.5, 1.0, 10.0, 1e4], dtype=torch.float64)  # ... and tiny c
    got = secular.top_eigenvalue_diag_lowrank(delta, u, coef)
    dense = torch.stack(
        [torch.linalg.eigvalsh(torch.diag(delta[g]) + coef[g] * u @ u.T)[-1] for g in range(6)]
    )
    assert torch.allclose(got, dense, rtol=1e-12, atol=1e-12)
    assert float(got[0]) == pytest.approx(float(delta[0].max()), rel=1e-12)  # e_N: eigenvector
    assert float(got[1]) == float(delta[1].max())  # c = 0: exactly max δ
    none = secular.top_eigenvalue_diag_lowrank(delta, u[:, :0], coef)  # R = 0: max δ
    assert torch.equal(none, delta.max(1).values)


def test_secular_top_eigenvalue_at_extreme_scales() -> None:
    """A tiny c with a huge U (c U Uᵀ of order 1e100): Newton's slope Σ (v·U_N)² c/(μ − δ_N)²
    must not underflow (it did, as w² with w = c/(μ − δ) ~ 1e-180: inf); against eigvalsh."""
    delta = torch.tensor([[0.0, 1e100], [0.0, 1e100]], dtype=torch.float64)
    u = torch.tensor([[1e90], [2e90]], dtype=torch.float64)
    coef = torch.tensor([1e-80, 1e-60], dtype=torch.float64)
    got = secular.top_eigenvalue_diag_lowrank(delta, u, coef)
    dense = torch.stack(
        [torch.linalg.eigvalsh(torch.diag(delta[g]) + coef[g] * u @ u.T)[-1] for g in range(2)]
    )
    assert torch.isfinite(got).all()
    assert torch.allclose(got, dense, rtol=1e-12, atol=0)


def test_secular_top_pair_inverse_iteration_and_its_fallback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The eigenpair from eigvalsh + one inverse-iteration step equals eigh's; a start
    orthogonal to the top eigenvector (inverse iteration cannot turn it) and a doubled top
    eigenvalue are answered right, the first through eigh (counted)."""
    gen = torch.Generator().manual_seed(1)
    q = torch.linalg.qr(torch.randn(3, 6, 6, generator=gen, dtype=torch.float64))[0]
    lam = torch.tensor([[0.1, 0.5, 1.0, 2.0, 3.0, 7.0]], dtype=torch.float64).repeat(3, 1)
    lam[2, -2] = 7.0  # setting 2: the top eigenvalue twice
    k = (q * lam[:, None, :]) @ q.mT
    top = q[:, :, -1]
    start = top + 0.3 * q[:, :, 0]  # close to the top eigenvector: no fallback
    start[1] = q[1, :, 0]  # setting 1: orthogonal to it
    calls: list[int] = []
    eigh = torch.linalg.eigh

    def counted(m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        calls.append(m.shape[0])
        return eigh(m)

    monkeypatch.setattr(torch.linalg, "eigh", counted)
    f, v = secular._top_pair(k, start)
    assert calls == [1]  # setting 1 only
    assert torch.allclose(f, torch.full((3,), 7.0, dtype=torch.float64), rtol=1e-14)
    residual = torch.linalg.vector_norm((k @ v[..., None])[..., 0] - f[:, None] * v, dim=1)
    assert float(residual.max()) < 1e-12 * 7.0
    assert torch.allclose(torch.linalg.vector_norm(v, dim=1), torch.ones(3, dtype=torch.float64))
    assert float((v[:2] * top[:2]).sum(1).abs().min()) == pytest.approx(1.0, abs=1e-12)
    plane = q[2, :, -2:]  # setting 2: v lies in the doubled top eigenspace
    assert float(torch.linalg.vector_norm(plane.T @ v[2])) == pytest.approx(1.0, abs=1e-12)


def test_secular_top_eigenvalue_with_repeated_diagonal_and_symmetric_factor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Equal δ and mirrored rows of U (a doubled eigenvalue of K, eigenvalues crossing as μ
    moves): the secular root still equals the dense top eigenvalue, in both K routes."""
    gen = torch.Generator().manual_seed(2)
    half = torch.randn(12, 3, generator=gen, dtype=torch.float64)
    u = torch.cat([half, half.flip(1)])  # (24, 3): swapping U's first and last column
    base = torch.rand(12, generator=gen, dtype=torch.float64)
    delta = torch.stack([torch.cat([base, base]), torch.zeros(24, dtype=torch.float64)])
    delta = torch.cat([delta, torch.linspace(-1, 1, 24, dtype=torch.float64)[None]])
    coef = torch.tensor([0.7, 2.0, 0.05], dtype=torch.float64)
    dense = torch.stack(
        [torch.linalg.eigvalsh(torch.diag(delta[g]) + coef[g] * u @ u.T)[-1] for g in range(3)]
    )
    got = secular.top_eigenvalue_diag_lowrank(delta, u, coef)
    assert torch.allclose(got, dense, rtol=1e-12, atol=1e-12)
    monkeypatch.setattr(secular, "OUTER_LIMIT", 0)  # the (k, R, N) product route
    assert torch.allclose(secular.top_eigenvalue_diag_lowrank(delta, u, coef), got, rtol=1e-14)


def _symmetric_of_rank(n: int, d: int, rank: int, seed: int) -> torch.Tensor:
    """(n, d, d) symmetric matrices of rank ``rank``, eigenvalues of both signs."""
    gen = torch.Generator().manual_seed(seed)
    u = torch.randn(n, d, rank, generator=gen, dtype=torch.float64)
    lam = torch.randn(n, rank, generator=gen, dtype=torch.float64)
    return (u * lam[:, None, :]) @ u.transpose(1, 2) / d


@pytest.mark.parametrize("kind", ["rank one (regression)", "rank two, both signs", "full rank"])
@pytest.mark.parametrize("chunk_bytes", [64 << 20, 4096])
@pytest.mark.parametrize("numpy_steps", [True, False], ids=["numpy steps", "torch steps"])
def test_simulation_equals_a_plain_loop_over_minibatches(
    kind: str, chunk_bytes: int, numpy_steps: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batched simulator (minibatch counts, freeze after the fact) equals a plain loop:
    with every H_i of low rank (two thin products a step, in chunks of steps, through numpy
    or torch) and without (one product with every H_i)."""
    from alignkit.stability import simulate
    from alignkit.stability.minibatch import draw_minibatches

    monkeypatch.setattr(simulate, "_DRAWS_BYTES", chunk_bytes)
    monkeypatch.setattr(simulate, "_NUMPY_ON_CPU", numpy_steps)
    # the steps' arithmetic on H_i of both signs too (the factors' signs); the public API
    # refuses such Hessians (not those of a minimum), so its PSD check is off here
    monkeypatch.setattr(_hessians, "_psd_or_raise", lambda *args: None)
    h = {
        "rank one (regression)": lambda: linear_regression_hessians(5, 8, seed=2)[1],
        "rank two, both signs": lambda: _symmetric_of_rank(5, 12, 2, seed=2),
        "full rank": lambda: _symmetric_of_rank(5, 8, 8, seed=2),
    }[kind]()
    hr, _ = T._reduce(h)
    factored = simulate._factors(hr) is not None
    assert factored == (kind != "full rank")
    gd = 2 / T.sharpness(h.mean(0))
    lrs, steps, seeds = torch.tensor([0.3, 1.5], dtype=torch.float64) * gd, 60, 16
    for batch, replacement in ((1, True), (2, False), (3, True)):
        run = simulate_linear_sgd(h, lrs, batch, steps=steps, seeds=seeds,
                                  replacement=replacement, seed=4)  # fmt: skip
        gen = torch.Generator().manual_seed(4)
        x = torch.randn(2, seeds, hr.shape[1], generator=gen, dtype=torch.float64)
        x = x / x.norm(dim=-1, keepdim=True)
        idx = draw_minibatches((steps, 2, seeds), 5, batch, replacement=replacement,
                               generator=gen)  # fmt: skip
        sq = torch.ones(2, seeds, steps + 1, dtype=torch.float64)
        frozen = torch.zeros(2, seeds, dtype=torch.bool)
        for t in range(steps):
            for g in range(2):
                for s in range(seeds):
                    if not frozen[g, s]:
                        hb = hr[idx[t, g, s]].mean(0)
                        x[g, s] = x[g, s] - lrs[g] * hb @ x[g, s]
                    sq[g, s, t + 1] = x[g, s] @ x[g, s]
                    frozen[g, s] |= not bool(sq[g, s, t + 1] <= 1e12)
        assert torch.equal(run.diverged, frozen) and bool(frozen[1].any())
        assert torch.allclose(run.sq_dist, sq, rtol=1e-10, atol=0)


def test_simulation_reuses_an_integer_seeds_draws() -> None:
    """A learning-rate move reuses the seed's starts and minibatches: the same result as
    drawn afresh; a generator seed is drawn from its state each time."""
    from alignkit.stability import simulate

    h = linear_regression_hessians(6, 9, seed=1)[1]
    first = simulate_linear_sgd(h, 0.05, 2, steps=30, seeds=8, seed=5)
    again = simulate_linear_sgd(h, 0.07, 2, steps=30, seeds=8, seed=5)
    key = next(reversed(simulate._DRAWS))
    assert key[0] == 5 and len(simulate._DRAWS) <= simulate._DRAWS_KEPT
    simulate._DRAWS.clear()
    fresh = simulate_linear_sgd(h, 0.07, 2, steps=30, seeds=8, seed=5)
    assert torch.equal(again.sq_dist, fresh.sq_dist)
    assert not torch.equal(first.sq_dist, again.sq_dist)
    with pytest.raises(TypeError):  # True == 1, but never the cached seed 1's draws
        simulate_linear_sgd(h, 0.07, 2, steps=30, seeds=8, seed=True)
    kept = list(simulate._DRAWS)
    gen = torch.Generator().manual_seed(5)
    a = simulate_linear_sgd(h, 0.05, 2, steps=30, seeds=8, seed=gen)
    b = simulate_linear_sgd(h, 0.05, 2, steps=30, seeds=8, seed=gen)
    assert not torch.equal(a.sq_dist, b.sq_dist) and list(simulate._DRAWS) == kept


@pytest.mark.parametrize("batch", [1, 3])
def test_simulated_sgd_crosses_at_threshold(overparam: torch.Tensor, batch: int) -> None:
    """Mean square over many seeds: contracts at 0.9 η*, blows up at 1.1 η*."""
    eta = T.linear_stability_threshold(overparam, batch)
    run = simulate_linear_sgd(overparam, torch.tensor([0.9 * eta, 1.1 * eta]), batch,
                              steps=300, seeds=1000, seed=3)  # fmt: skip
    assert float(run.mean[0, -1]) < 1e-2
    assert float(run.mean[1, -1]) > 1e2


def test_region_boundary_matches_1d_test() -> None:
    a, s_max = T.region_boundary(0.5, 2, 10)
    inside = T.stable_1d(a[1:-1], 0.999 * s_max[1:-1], 0.5, 2, 10)
    outside = T.stable_1d(a[1:-1], 1.001 * s_max[1:-1], 0.5, 2, 10)
    assert bool(inside.all()) and not bool(outside.any())
    assert float(a[-1]) == pytest.approx(4.0)
    _, gd = T.region_boundary(0.5, 10, 10)
    assert math.isinf(float(gd[0]))


def test_uv_sharpness() -> None:
    x = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    u = torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64)
    h = uv_hessians(u, 1 / u, x)
    for k in range(3):
        expected = float((x**2).mean()) * float(u[k] ** 2 + u[k] ** -2)
        assert T.sharpness(h[k].mean(0)) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("call", "pattern"),
    [
        (lambda h: T.spectral_radius(h, 0.0, 1), r"lr must be in \(0, inf\)"),
        (lambda h: T.spectral_radius(h, -1.0, 1), "lr must be"),
        (
            lambda h: T.linear_stability_threshold(h, 0),
            r"batch_size must be an integer in \[1, 6\]",
        ),
        (
            lambda h: T.linear_stability_threshold(h, 7),
            r"batch_size must be an integer in \[1, 6\]",
        ),
        (lambda h: T.spectral_radius(h[0], 0.1, 1), r"per_sample_hessians must have shape"),
        (lambda h: T.nonuniformity(h + torch.triu(torch.ones(12, 12), 1)), "symmetric"),
        (lambda h: T.sharpness(h), r"hessian must have shape \(d, d\)"),
        (lambda h: T.spectral_radius_curve(h, torch.tensor([0.1, float("nan")]), 1), "lrs must"),
    ],
)
def test_bad_input(overparam: torch.Tensor, call: object, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        call(overparam)  # type: ignore[operator]


def test_with_replacement_allows_any_batch(overparam: torch.Tensor) -> None:
    big = T.linear_stability_threshold(overparam, 50, replacement=True)
    assert big < 2 / T.sharpness(overparam.mean(0))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_theory_on_cuda_matches_cpu(overparam: torch.Tensor) -> None:
    gpu = overparam.to("cuda")
    assert T.linear_stability_threshold(gpu, 2) == pytest.approx(
        T.linear_stability_threshold(overparam, 2), rel=1e-9
    )
    lrs = torch.tensor([0.02, 0.1])
    assert torch.allclose(T.spectral_radius_curve(gpu, lrs, 2).cpu(),
                          T.spectral_radius_curve(overparam, lrs, 2), rtol=1e-9)  # fmt: skip
    run = simulate_linear_sgd(gpu, 0.05, 2, steps=20, seeds=8, device="cuda")
    assert run.sq_dist.device.type == "cuda"


# --- the per-direction test (necessary in d dimensions, exact in one) ---------------------


@pytest.mark.parametrize("replacement", [False, True])
def test_directional_test_is_the_explicit_operators_quadratic_form(
    overparam: torch.Tensor, replacement: bool
) -> None:
    """(1 − ηa_v)² + η²p s_v² equals vec(vvᵀ)ᵀ Q vec(vvᵀ) of the Kronecker-built Q."""
    from alignkit.stability.directional import directional_test

    gen = torch.Generator().manual_seed(0)
    v = torch.randn(5, 12, generator=gen, dtype=torch.float64)
    v = torch.cat([v, torch.linalg.eigh(overparam.mean(0))[1].T[-2:]])  # + top eigenvectors
    eta = 0.9 * T.linear_stability_threshold(overparam, 2, replacement)
    q = T.stability_operator(overparam, eta, 2, replacement=replacement, restrict=False)
    u = v / v.norm(dim=1, keepdim=True)
    outer = (u[:, :, None] * u[:, None, :]).reshape(len(u), -1)
    expected = torch.einsum("ki,ij,kj->k", outer, q, outer)
    got = directional_test(overparam, 3.0 * v, eta, 2, replacement=replacement)  # any scale
    assert torch.allclose(got, expected, rtol=1e-10, atol=1e-12)
    assert float(got.max()) <= float(torch.linalg.eigvalsh(q)[-1]) + 1e-12  # ≤ λ_max(Q)


@pytest.mark.parametrize(("batch", "replacement"), [(1, False), (2, False), (3, True)])
def test_one_dimension_directional_test_is_rho(batch: int, replacement: bool) -> None:
    from alignkit.stability.directional import directional_moments, directional_test

    h = torch.tensor([0.3, 1.1, 2.5, 0.1], dtype=torch.float64).reshape(4, 1, 1)
    for eta in (0.2, 0.6, 1.2):
        rho = T.spectral_radius(h, eta, batch, replacement)
        value = float(
            directional_test(h, torch.tensor([-2.0]), eta, batch, replacement=replacement)
        )
        assert value == pytest.approx(rho, rel=1e-12)
        a, s = directional_moments(h, torch.ones(1, dtype=torch.float64))
        assert (float(a), float(s)) == pytest.approx((T.sharpness(h.mean(0)), T.nonuniformity(h)))
        assert bool(T.stable_1d(a, s, eta, batch, 4, replacement=replacement)) == (rho <= 1)


def test_one_dimensional_test_with_global_nonuniformity_is_not_necessary() -> None:
    """Notebook 01's problem at 0.99 η*(B = 5): stable, yet (λ_max(H), s) fails the 1-D test."""
    from alignkit.stability.directional import directional_test

    _, h = linear_regression_hessians(10, 20, seed=0)
    eta = 0.99 * T.linear_stability_threshold(h, 5)
    rho = T.spectral_radius(h, eta, 5)
    assert rho == pytest.approx(0.9766, abs=1e-3) and rho < 1
    a, s = T.sharpness(h.mean(0)), T.nonuniformity(h)
    p = T.sampling_factor(10, 5)
    assert (1 - eta * a) ** 2 + eta**2 * p * s**2 == pytest.approx(1.2067, abs=1e-3)
    assert not bool(T.stable_1d(a, s, eta, 5, 10))
    assert s > 1 / (eta * math.sqrt(p))  # the "s ≤ 1/(η√p)" cap fails too
    evecs = torch.linalg.eigh(h.mean(0))[1].T[-10:]  # the range of H
    per_direction = directional_test(h, evecs, eta, 5)
    assert float(per_direction.max()) <= rho  # the necessary per-direction test holds


def test_directional_bad_input(overparam: torch.Tensor) -> None:
    from alignkit.stability.directional import directional_moments, directional_test

    with pytest.raises(ValueError, match="directions must have shape"):
        directional_moments(overparam, torch.ones(11, dtype=torch.float64))
    with pytest.raises(ValueError, match="non-zero"):
        directional_moments(overparam, torch.zeros(2, 12, dtype=torch.float64))
    with pytest.raises(ValueError, match="finite"):
        directional_moments(overparam, torch.full((12,), math.nan))
    with pytest.raises(TypeError, match="floating-point"):
        directional_moments(overparam, torch.ones(12, dtype=torch.int64))
    with pytest.raises(ValueError, match="lr must be"):
        directional_test(overparam, torch.ones(12, dtype=torch.float64), -0.1, 2)


# --- matrix-free branch above EXPLICIT_LIMIT: iterate to a tolerance, flag otherwise ---------


@pytest.fixture(scope="module")
def rank42() -> torch.Tensor:
    """n = 3 per-sample Hessians of rank 16 in d = 42: H has rank 42 > EXPLICIT_LIMIT."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(3, 42, 16, generator=gen, dtype=torch.float64) / 4.0
    return a @ a.transpose(1, 2)


def test_matrix_free_rho_converges_to_the_explicit_eigenvalue(rank42: torch.Tensor) -> None:
    assert T._reduce(rank42)[1].numel() == 42 > T.EXPLICIT_LIMIT
    eta = T.linear_stability_threshold(rank42, 2)
    lrs = torch.tensor([0.5 * eta], dtype=torch.float64)
    explicit = torch.linalg.eigvalsh(T.stability_operator(rank42, float(lrs[0]), 2))[-1:]
    # The former estimate, ‖Q X‖/‖X‖ after 500 power steps from I, is short by > 1e-5.
    hr, _ = T._reduce(rank42)
    x = torch.eye(42, dtype=torch.float64)[None]
    for _ in range(500):
        y = T._mixture_apply(hr, x, lrs, T.sampling_factor(3, 2))
        old = torch.linalg.matrix_norm(y) / torch.linalg.matrix_norm(x)
        x = y / torch.linalg.matrix_norm(y)[:, None, None]
    assert float(((explicit - old) / explicit).max()) > 1e-5
    with pytest.warns(T.ConvergenceWarning, match="did not reach relative tolerance"):
        T.spectral_radius_curve(rank42, lrs, 2, iters=500)  # flagged, not silently short
    with warnings.catch_warnings():
        warnings.simplefilter("error", T.ConvergenceWarning)
        full = T.spectral_radius_curve(rank42, lrs, 2)
    assert bool((full >= explicit * (1 - 1e-12)).all())  # a certified upper bound ...
    assert torch.allclose(full, explicit, rtol=1e-6, atol=0)  # ... within the tolerance


def test_matrix_free_threshold_matches_explicit(
    rank42: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", T.ConvergenceWarning)
        free = T.threshold_curve(rank42, [1, 3])
    with pytest.warns(T.ConvergenceWarning, match="lambda_max"):
        T.threshold_curve(rank42, [1], iters=3)
    assert float(free[1]) == pytest.approx(2 / T.sharpness(rank42.mean(0)), rel=1e-6)  # GD
    monkeypatch.setattr(T, "EXPLICIT_LIMIT", 42)
    explicit = T.threshold_curve(rank42, [1])
    assert float(free[0]) == pytest.approx(float(explicit[0]), rel=1e-6)
    assert float(free[0]) <= float(explicit[0]) * (1 + 1e-12)  # 1 / upper bound: η* from below


@pytest.mark.parametrize("tol", [0.0, 1.0, math.nan])
def test_bad_tolerance(overparam: torch.Tensor, tol: float) -> None:
    with pytest.raises(ValueError, match="tol must be"):
        T.spectral_radius_curve(overparam, 0.1, 2, tol=tol)
    with pytest.raises(ValueError, match="tol must be"):
        T.threshold_curve(overparam, [2], tol=tol)


def test_perron_root_closed_forms() -> None:
    """X ↦ A X A with A diagonal: ρ = max a_i², its eigenvector a rank-one matrix (cone edge)."""
    from alignkit.numerics.perron import perron_root

    a = torch.tensor([[0.9, 0.5, -0.95], [0.2, 0.3, 0.1]], dtype=torch.float64)  # two maps
    start = torch.eye(3, dtype=torch.float64).expand(2, 3, 3)
    res = perron_root(lambda x, idx: a[idx, :, None] * x * a[idx, None, :], start, tol=1e-10)
    assert bool(res.converged.all())
    assert res.value.tolist() == pytest.approx([0.9025, 0.09], rel=1e-9)
    assert bool((res.lower <= res.value).all()) and bool((res.value <= res.upper).all())
    with pytest.raises(ValueError, match="tol must be"):
        perron_root(lambda x, idx: x, start, tol=0.0)


def test_perron_root_without_an_upper_bound_is_flagged() -> None:
    """F(X) = tr(X) e₁e₁ᵀ makes every iterate singular: no Collatz–Wielandt bound, a warning."""
    from alignkit.numerics.perron import ConvergenceWarning, perron_root

    def rank_one(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(x)
        out[:, 0, 0] = x.diagonal(dim1=1, dim2=2).sum(1)
        return out

    with pytest.warns(ConvergenceWarning, match="1 of 1 values"):
        res = perron_root(rank_one, torch.eye(3, dtype=torch.float64)[None], iters=30)
    assert not bool(res.converged[0]) and float(res.value[0]) == pytest.approx(1.0)
    assert math.isinf(float(res.upper[0]))


def test_review_edge_cases_raise_named_errors() -> None:
    """Found by an independent review: a subnormal η and a minimum with no curvature."""
    from alignkit.stability.simulate import simulate_linear_sgd

    with pytest.raises(ValueError, match="lr must be in"):
        T.region_boundary(1e-320, 1, 2)
    with pytest.raises(ValueError, match="per_sample_hessians must have a curved direction"):
        simulate_linear_sgd(torch.zeros(3, 2, 2, dtype=torch.float64), 0.1, 2)


@pytest.mark.parametrize("a", [1e-300, 1e-150, 1e150, 1e300])
def test_hessians_of_any_size_give_the_closed_forms(a: float) -> None:
    """Everything depends on η H only: Hessians of 1e±300 (whose H ⊗ H over- or underflows
    float64, and which LAPACK's eigh refused) give GD's closed form η* = 2/λ_max(H̄) and the
    same ρ as at size 1 (ρ(Q) of GD on a diagonal H̄ is max_j (1 − η λ_j)²)."""
    import torch

    from alignkit.stability import theory

    h = torch.zeros(3, 2, 2, dtype=torch.float64)
    h[:, 0, 0] = a
    h[1, 1, 1] = 0.6 * a  # H̄ = diag(a, 0.2 a)
    eta_star = theory.linear_stability_threshold(h, 3)  # B = n without replacement: GD
    assert eta_star * a == pytest.approx(2.0, rel=1e-12)
    rho = theory.spectral_radius(h, 0.5 / a, 3)
    assert rho == pytest.approx(max((1 - 0.5) ** 2, (1 - 0.1) ** 2), rel=1e-12)


@pytest.mark.parametrize("a", [1.2e308, 1.6e308])
def test_hessians_near_float64s_largest_keep_the_closed_form(a: float) -> None:
    """Entries near 1.8e308: the power of two that scales them stays inside float64 (it
    overflowed there), and a Frobenius norm beyond float64 (1.6e308: 1.17 a) scales by the
    largest entry. η* = 2/λ_max(H̄) for GD; ρ needs the norm (a named error beyond it)."""
    import torch

    from alignkit.stability import theory

    h = torch.zeros(3, 2, 2, dtype=torch.float64)
    h[:, 0, 0] = a
    h[1, 1, 1] = 0.6 * a
    assert theory.linear_stability_threshold(h, 3) * a == pytest.approx(2.0, rel=1e-12)
    if a * (1 + 0.36) ** 0.5 < 1.79e308:
        assert theory.spectral_radius(h, 0.5 / a, 3) == pytest.approx(0.81, rel=1e-12)
    else:
        with pytest.raises(ValueError, match=r"^per_sample_hessians must have Frobenius norms"):
            theory.spectral_radius(h, 0.5 / a, 3)


def test_a_small_hessian_keeps_its_curvature_in_the_low_rank_route() -> None:
    """Eigenvalues are dropped as rounding against each H_i's own largest, not the set's:
    an H_i 1e-12 the size of another still steps its direction (as the plain loop does)."""
    from alignkit.stability import simulate

    h = torch.zeros(2000, 3, 3, dtype=torch.float64)  # (the small direction in H's range)
    h[0, 0, 0] = h[0, 2, 2] = 1.0
    h[1:, 1, 1] = 0.9e-12
    hr, _ = T._reduce(h)
    assert hr.shape[1] == 3
    owner, _, lam = simulate._factors(hr)  # type: ignore[misc]
    assert lam.numel() == 2001 and float(lam.abs().min()) == pytest.approx(0.9e-12)
    run = simulate_linear_sgd(h, 1e11, 1, steps=60, seeds=4, replacement=True, seed=0)
    simulate._DRAWS.clear()
    with pytest.MonkeyPatch.context() as mp:  # the dense route: one product with every H_i
        mp.setattr(simulate, "_factors", lambda hr: None)
        dense = simulate_linear_sgd(h, 1e11, 1, steps=60, seeds=4, replacement=True, seed=0)
    assert torch.allclose(run.sq_dist, dense.sq_dist, rtol=1e-10, atol=0)
    assert float(dense.sq_dist[..., -1].max()) < 0.95  # (the small direction did shrink)


def test_hessians_that_are_not_psd_are_refused_with_the_smallest_eigenvalue() -> None:
    """Negative or indefinite H_i (not the Hessians of a global minimum) gave wrong numbers
    silently: ρ = 1.0000 for −H (its growth factor is above 1), η* = 6.2e14 for −H and 0.108
    for H − 0.5 I (unstable at every η). Each is now a ValueError with the eigenvalue."""
    from alignkit.stability.views import direction_region_view

    _, h = linear_regression_hessians(10, 20, seed=0)
    h = h.double()
    worst = float(torch.linalg.eigvalsh(-h).amin())  # independent: the smallest eigenvalue
    calls = [
        lambda bad: T.spectral_radius(bad, 0.1, 2),
        lambda bad: T.linear_stability_threshold(bad, 2),
        lambda bad: T.threshold_upper_bounds(bad, 2),
        lambda bad: T.nonuniformity(bad),
        lambda bad: direction_region_view(bad, 0.1, 2),
        lambda bad: simulate_linear_sgd(bad, 0.1, 2, steps=2, seeds=2),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="per_sample_hessians must be positive semi") as info:
            call(-h)
        assert f"{worst:.3g}" in str(info.value)
        with pytest.raises(ValueError, match="positive semi-definite"):
            call(h - 0.5 * torch.eye(20, dtype=torch.float64))
    # the regression Hessians x xᵀ round their zero eigenvalues below 0 (about -1e-14 here)
    assert float(torch.linalg.eigvalsh(h).amin()) < 0
    assert T.linear_stability_threshold(h, 2) > 0


def test_the_psd_check_runs_again_after_any_edit() -> None:
    """The check is remembered by content (an explorer passes the same Hessians on every
    move), so no edit gets past it: in place, through ``.data``, through NumPy."""
    eye = torch.eye(4, dtype=torch.float64)
    for edit in (
        lambda h: h.sub_(10 * eye),
        lambda h: h.data.sub_(10 * eye),  # (does not bump the version counter)
        lambda h: h.numpy().__isub__(10 * eye.numpy()),
    ):
        h = linear_regression_hessians(6, 4, seed=0)[1].double().clone()
        T.spectral_radius(h, 0.1, 2)
        edit(h)
        with pytest.raises(ValueError, match="positive semi-definite"):
            T.spectral_radius(h, 0.1, 2)


def test_psd_hessians_in_float32_and_inference_mode_are_accepted() -> None:
    """float32 rounds an outer product's zero eigenvalues to about 1e-7 of its scale (the
    first check refused them); inference tensors have no version counter (it crashed)."""
    from alignkit.numerics.hessian import per_sample_hessians

    _, h = linear_regression_hessians(6, 4, seed=0)
    assert float(torch.linalg.eigvalsh(h.float().double()).amin()) < -1e-9
    assert T.spectral_radius(h.float(), 0.1, 2) == pytest.approx(
        T.spectral_radius(h, 0.1, 2), rel=1e-5
    )
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(8, 6, generator=gen)
    model = torch.nn.Linear(6, 1, bias=False)
    y = model(x).detach()  # an exact minimum: every H_i = x_i x_iᵀ (float32)
    hs = per_sample_hessians(model, x, y, loss="mse")
    assert T.nonuniformity(hs) > 0
    with torch.inference_mode():
        h_inf = linear_regression_hessians(6, 4, seed=0)[1].double()
        assert T.linear_stability_threshold(h_inf, 2) > 0
    assert T.linear_stability_threshold(h_inf, 2) > 0
