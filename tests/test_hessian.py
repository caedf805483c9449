"""Hessian tools against independent numbers.

References are written out here: a hand-coded MLP loss differentiated twice by
``torch.autograd.functional.hessian``, X^T X / n for linear regression, ``eigvalsh`` of the
explicit matrix, and the exact variance of Hutchinson's estimator. Stochastic checks use
fixed seeds and a stated tolerance of 4 standard deviations of the estimator.
"""

from __future__ import annotations

import math

import pytest
import torch

from alignkit.numerics.hessian import (
    flat_params,
    frobenius_norm,
    hessian_matrix,
    hessian_operator,
    hessian_vector_product,
    hutchinson_trace,
    loss_fn,
    per_sample_hessians,
    top_eigenvalues,
)
from alignkit.numerics.lanczos import (
    operator_frobenius_norm,
    operator_top_eigenvalues,
    operator_trace,
)

F64 = torch.float64
# torch's forward-mode AD scripts its decompositions once and warns about torch.jit.script
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")


def _mlp(sizes: tuple[int, ...], act: type[torch.nn.Module], seed: int) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    layers: list[torch.nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(act())
    return torch.nn.Sequential(*layers).to(F64)


def _reference_loss(sizes: tuple[int, ...], act: str, x: torch.Tensor, y: torch.Tensor, loss: str):
    """The same MLP loss written by hand from the flat vector (W1, b1, W2, b2, ...)."""
    nonlin = {"tanh": torch.tanh, "softplus": torch.nn.functional.softplus}[act]

    def f(theta: torch.Tensor) -> torch.Tensor:
        h, i = x, 0
        for k in range(len(sizes) - 1):
            w = theta[i : i + sizes[k] * sizes[k + 1]].reshape(sizes[k + 1], sizes[k])
            i += sizes[k] * sizes[k + 1]
            b = theta[i : i + sizes[k + 1]]
            i += sizes[k + 1]
            h = h @ w.T + b
            if k < len(sizes) - 2:
                h = nonlin(h)
        if loss == "mse":
            return 0.5 * ((h - y) ** 2).sum(1).mean()
        return (torch.logsumexp(h, 1) - h.gather(1, y[:, None])[:, 0]).mean()

    return f


CASES = [
    ((3, 5, 2), "tanh", "mse"),
    ((4, 3, 3, 2), "softplus", "mse"),
    ((3, 4, 3), "tanh", "cross_entropy"),
    ((2, 6, 4), "softplus", "cross_entropy"),
]


def _case(sizes, act, loss, n=9, seed=0):
    acts = {"tanh": torch.nn.Tanh, "softplus": torch.nn.Softplus}
    model = _mlp(sizes, acts[act], seed)
    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(n, sizes[0], generator=gen, dtype=F64)
    if loss == "mse":
        y = torch.randn(n, sizes[-1], generator=gen, dtype=F64)
    else:
        y = torch.randint(0, sizes[-1], (n,), generator=gen)
    ref = torch.autograd.functional.hessian(
        _reference_loss(sizes, act, x, y, loss), flat_params(model)
    )
    return model, x, y, ref


@pytest.mark.parametrize(("sizes", "act", "loss"), CASES)
def test_hvp_and_matrix_match_autograd_hessian(sizes, act, loss) -> None:
    model, x, y, ref = _case(sizes, act, loss)
    d = ref.shape[0]
    assert d == sum(p.numel() for p in model.parameters())
    v = torch.randn(d, dtype=F64, generator=torch.Generator().manual_seed(3))
    hv = hessian_vector_product(model, x, y, v, loss=loss)
    assert hv.shape == (d,)
    torch.testing.assert_close(hv, ref @ v, rtol=1e-10, atol=1e-12)
    block = torch.stack([v, 2 * v, -v])  # (b, d) is vmapped
    torch.testing.assert_close(hessian_vector_product(model, x, y, block, loss=loss), block @ ref)
    torch.testing.assert_close(hessian_matrix(model, x, y, loss=loss), ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(hessian_matrix(model, x, y, loss=loss, chunk_size=7), ref)
    f = loss_fn(model, x, y, loss=loss)
    expected = _reference_loss(sizes, act, x, y, loss)(flat_params(model))
    torch.testing.assert_close(f(flat_params(model)), expected)


@pytest.mark.parametrize(("sizes", "act", "loss"), CASES)
def test_per_sample_hessians_average_to_the_hessian(sizes, act, loss) -> None:
    model, x, y, ref = _case(sizes, act, loss)
    hs = per_sample_hessians(model, x, y, loss=loss, chunk_size=4)
    assert hs.shape == (x.shape[0], ref.shape[0], ref.shape[0])
    torch.testing.assert_close(hs.mean(0), ref, rtol=1e-10, atol=1e-12)
    one = torch.autograd.functional.hessian(
        _reference_loss(sizes, act, x[2:3], y[2:3], loss), flat_params(model)
    )
    torch.testing.assert_close(hs[2], one)


def test_params_argument_evaluates_elsewhere_and_float32_works() -> None:
    model, x, y, _ = _case((3, 5, 2), "tanh", "mse")
    theta = flat_params(model) + 0.3
    moved = _mlp((3, 5, 2), torch.nn.Tanh, 0)
    torch.nn.utils.vector_to_parameters(theta, moved.parameters())
    torch.testing.assert_close(
        hessian_matrix(model, x, y, params=theta), hessian_matrix(moved, x, y)
    )
    v = torch.randn(theta.shape[0], dtype=F64)
    ref = hessian_vector_product(model, x, y, v)
    m32 = model.to(torch.float32)
    out = hessian_vector_product(m32, x.float(), y.float(), v)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out.double(), ref, rtol=1e-4, atol=1e-5)


def test_frozen_parameters_are_not_part_of_theta() -> None:
    model, x, y, _ = _case((3, 5, 2), "tanh", "mse")
    model[0].weight.requires_grad_(False)
    assert flat_params(model).shape == (5 + 10 + 2,)
    assert hessian_matrix(model, x, y).shape == (17, 17)


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize(("n", "p"), [(20, 4), (5, 8)])
def test_linear_regression_hessian_is_gram_over_n(bias: bool, n: int, p: int) -> None:
    # loss 'mse' is (1/n) sum_i 1/2 (x_i^T w - y_i)^2, so H = X^T X / n (factor 1, not 2).
    gen = torch.Generator().manual_seed(n + p)
    x = torch.randn(n, p, generator=gen, dtype=F64)
    y = torch.randn(n, 1, generator=gen, dtype=F64)
    model = torch.nn.Linear(p, 1, bias=bias).to(F64)
    xa = torch.cat([x, torch.ones(n, 1, dtype=F64)], 1) if bias else x
    gram = xa.T @ xa / n
    torch.testing.assert_close(hessian_matrix(model, x, y), gram)
    hs = per_sample_hessians(model, x, y)
    torch.testing.assert_close(hs, xa[:, :, None] * xa[:, None, :])  # H_i = x_i x_i^T
    eig = torch.linalg.eigvalsh(gram).flip(0)
    for method in ("lanczos", "power"):
        r = top_eigenvalues(model, x, y, k=2, method=method, tol=1e-7, iters=500)
        torch.testing.assert_close(r.values, eig[:2], rtol=1e-6, atol=1e-9)
    assert math.isclose(hutchinson_trace(model, x, y, deflate=xa.shape[1]).value.item(),
                        (xa**2).sum().item() / n, rel_tol=1e-9)  # fmt: skip
    assert math.isclose(frobenius_norm(model, x, y).value.item(), gram.norm().item(), rel_tol=1e-12)


def _spd(d: int, seed: int, spectrum: torch.Tensor | None = None) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=gen, dtype=F64))
    lam = spectrum if spectrum is not None else torch.linspace(-1.0, 10.0, d, dtype=F64)
    return q @ torch.diag(lam) @ q.T


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize(
    "spectrum",
    [
        "spread",  # indefinite, well separated top
        "clustered",  # top eigenvalues 10, 9.9, 9.8: a hard case for power iteration
        "repeated",  # 5 equal eigenvalues: Lanczos must restart after breakdown
    ],
)
def test_operator_eigenvalues_match_eigvalsh(k: int, spectrum: str) -> None:
    d = 40
    lam = {
        "spread": torch.linspace(-1.0, 10.0, d, dtype=F64),
        "clustered": torch.cat([torch.rand(d - 3, dtype=F64) * 5, torch.tensor([9.8, 9.9, 10.0])]),
        "repeated": torch.cat([torch.ones(d - 5, dtype=F64), torch.full((5,), 4.0, dtype=F64)]),
    }[spectrum]
    a = _spd(d, 0, lam)
    top = torch.linalg.eigvalsh(a).flip(0)[:k]
    lz = operator_top_eigenvalues(lambda v: a @ v, d, k=k, tol=1e-10, dtype=F64, device="cpu")
    assert lz.converged and lz.values.shape == (k,) and lz.vectors.shape == (k, d)
    torch.testing.assert_close(lz.values, top, rtol=1e-8, atol=1e-8)
    assert (lz.values - top).abs().le(lz.residuals + 1e-12).all()  # the residual bound holds
    pw = operator_top_eigenvalues(
        lambda v: a @ v, d, k=k, method="power", iters=3000, tol=1e-6, dtype=F64, device="cpu"
    )
    torch.testing.assert_close(pw.values, top, rtol=1e-7, atol=1e-7)
    torch.testing.assert_close((pw.vectors @ a @ pw.vectors.T).diagonal(), top, rtol=1e-7, atol=0)
    assert lz.matvecs < pw.matvecs


def test_model_eigenvalues_match_eigvalsh() -> None:
    model, x, y, ref = _case((3, 6, 2), "tanh", "mse", n=12)
    top = torch.linalg.eigvalsh(ref).flip(0)[:3]
    r = top_eigenvalues(model, x, y, k=3, tol=1e-10)
    assert r.converged
    torch.testing.assert_close(r.values, top, rtol=1e-8, atol=1e-10)


def _hutchinson_sd(a: torch.Tensor) -> float:
    """Exact standard deviation of z^T A z for Rademacher z: sqrt(2 (||A||_F^2 - sum A_ii^2))."""
    return math.sqrt(2 * ((a**2).sum() - (a.diagonal() ** 2).sum()).item())


@pytest.mark.parametrize(("seed", "block_size"), [(0, 1), (1, 25), (2, 40)])
def test_hutchinson_trace_within_four_sigma(seed: int, block_size: int) -> None:
    model, x, y, ref = _case((4, 6, 3), "tanh", "mse", n=15, seed=seed)
    samples = 300
    est = hutchinson_trace(model, x, y, samples=samples, seed=seed, block_size=block_size)
    sd = _hutchinson_sd(ref)
    assert est.matvecs == samples
    assert abs(est.value.item() - ref.trace().item()) <= 4 * sd / math.sqrt(samples)
    assert 0.7 < est.stderr.item() / (sd / math.sqrt(samples)) < 1.3  # stderr is honest


def test_deflated_trace_is_unbiased_and_exact_at_full_rank() -> None:
    d = 30
    a = _spd(
        d, 4, torch.cat([torch.linspace(0, 0.5, d - 3, dtype=F64), torch.tensor([5.0, 8, 20])])
    )

    def mv(v: torch.Tensor) -> torch.Tensor:
        return v @ a  # works for (d,) and (b, d): a is symmetric

    kw = {"dtype": F64, "device": "cpu"}
    full = operator_trace(mv, d, samples=1, deflate=d, **kw)
    assert math.isclose(full.value.item(), a.trace().item(), rel_tol=1e-10)
    # mean of 200 independent deflated estimates, each with 2 probes: unbiased
    ests = torch.stack(
        [operator_trace(mv, d, samples=2, deflate=3, seed=s, **kw).value for s in range(200)]
    )
    assert abs(ests.mean().item() - a.trace().item()) <= 4 * ests.std().item() / math.sqrt(200)
    plain = operator_trace(mv, d, samples=200, block_size=50, **kw)
    deflated = operator_trace(mv, d, samples=200, deflate=6, block_size=50, **kw)
    assert deflated.matvecs == 206
    assert deflated.stderr < plain.stderr / 10  # deflating the 3 outliers removes most variance
    assert plain.stderr.item() == pytest.approx(_hutchinson_sd(a) / math.sqrt(200), rel=0.3)


def test_frobenius_exact_and_stochastic() -> None:
    model, x, y, ref = _case((4, 6, 3), "softplus", "mse", n=15)
    exact = frobenius_norm(model, x, y, method="exact")
    assert exact.stderr.item() == 0.0
    torch.testing.assert_close(exact.value, torch.linalg.matrix_norm(ref))
    samples = 400
    est = frobenius_norm(model, x, y, method="stochastic", samples=samples, block_size=100)
    a2 = ref @ ref  # ||A z||^2 = z^T A^2 z: Hutchinson on A^2
    sd_sq = _hutchinson_sd(a2) / math.sqrt(samples)
    assert abs(est.value.item() ** 2 - a2.trace().item()) <= 4 * sd_sq
    auto_small = frobenius_norm(model, x, y)  # d <= max_dim: exact
    torch.testing.assert_close(auto_small.value, exact.value)
    auto_big = frobenius_norm(
        model, x, y, max_dim=10, samples=samples, block_size=200
    )  # stochastic
    assert auto_big.matvecs == samples and auto_big.stderr > 0
    op = operator_frobenius_norm(lambda v: ref @ v, ref.shape[0], samples=samples, dtype=F64)
    assert abs(op.value.item() ** 2 - a2.trace().item()) <= 4 * sd_sq


@pytest.mark.parametrize(
    ("call", "pattern"),
    [
        (lambda m, x, y: top_eigenvalues(m, x, y, k=0), "k must be an integer in \\[1, 17\\]"),
        (lambda m, x, y: top_eigenvalues(m, x, y, k=18), "k must be an integer in"),
        (lambda m, x, y: top_eigenvalues(m, x, y, iters=0), "iters must be an integer in"),
        (lambda m, x, y: top_eigenvalues(m, x, y, tol=-1.0), "tol must be in \\[0, inf\\]"),
        (lambda m, x, y: top_eigenvalues(m, x, y, method="qr"), "method must be one of"),
        (lambda m, x, y: hutchinson_trace(m, x, y, samples=0), "samples must be an integer"),
        (lambda m, x, y: hutchinson_trace(m, x, y, deflate=18), "deflate must be an integer"),
        (lambda m, x, y: frobenius_norm(m, x, y, method="max"), "method must be one of"),
        (lambda m, x, y: loss_fn(m, x, y, loss="hinge"), "loss must be one of \\['cross_entr"),
        (lambda m, x, y: hessian_vector_product(m, x, y, torch.ones(5)), "v must have shape"),
        (lambda m, x, y: hessian_vector_product(m, x, y, torch.ones(2, 3, 17)), "v must have"),
        (lambda m, x, y: hessian_matrix(m, x, y, params=torch.ones(16)), "params must have"),
        (lambda m, x, y: hessian_matrix(m, x, y, max_dim=10), "d=17 .* above max_dim=10"),
        (lambda m, x, y: per_sample_hessians(m, x, y, max_entries=100), "max_entries=100"),
        (lambda m, x, y: hessian_matrix(m, x[:3], y), "y must have shape \\(3, ...\\)"),
        (lambda m, x, y: hessian_matrix(m, x, y[:, 0]), "y must have the model output's"),
        (lambda m, x, y: hessian_matrix(m, x.float(), y), "x must have the model's dtype"),
        (lambda m, x, y: hessian_matrix(m, x, y, loss="cross_entropy"), "integer class labels"),
    ],
)
def test_bad_input_raises_value_error_naming_the_argument(call, pattern: str) -> None:
    model, x, y, _ = _case((3, 2, 3), "tanh", "mse", n=6)  # d = 8 + 9 = 17
    with pytest.raises(ValueError, match=pattern):
        call(model, x, y)


def test_mse_shape_hint_and_operator_arguments() -> None:
    model = torch.nn.Linear(3, 1).to(F64)
    x, y = torch.randn(5, 3, dtype=F64), torch.randn(5, dtype=F64)
    with pytest.raises(ValueError, match="reshape y to \\(n, 1\\)"):
        hessian_matrix(model, x, y)
    with pytest.raises(ValueError, match="dim must be an integer"):
        operator_trace(lambda v: v, 0)
    with pytest.raises(ValueError, match="block_size must be an integer"):
        operator_frobenius_norm(lambda v: v, 3, block_size=0)
    mv = hessian_operator(model, x, y[:, None])
    assert mv(torch.ones(2, 4, dtype=F64)).shape == (2, 4)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    model, x, y, ref = _case((3, 5, 2), "tanh", "mse")
    v = torch.randn(ref.shape[0], dtype=F64)
    out = hessian_vector_product(model.cuda(), x.cuda(), y.cuda(), v.cuda())
    assert out.device.type == "cuda"
    torch.testing.assert_close(out.cpu(), ref @ v)
    r = top_eigenvalues(model, x.cuda(), y.cuda(), tol=1e-10)
    torch.testing.assert_close(r.values.cpu(), torch.linalg.eigvalsh(ref)[-1:])


def test_half_precision_and_meta_starts_are_named() -> None:
    """lanczos and perron_root refuse a float16 or meta start naming it (were torch's raw
    NotImplementedError / RuntimeError)."""
    from alignkit.numerics.lanczos import lanczos
    from alignkit.numerics.perron import perron_root

    def matvec(v: torch.Tensor) -> torch.Tensor:
        return 2.0 * v

    for bad, exc in ((torch.ones(4, dtype=torch.float16), TypeError),
                     (torch.ones(4, device="meta"), ValueError)):  # fmt: skip
        with pytest.raises(exc, match=r"^start "):
            lanczos(matvec, bad, k=1, iters=4, tol=1e-8, generator=torch.Generator())
        with pytest.raises(exc, match=r"^start "):
            perron_root(lambda x, idx: x, bad.reshape(1, 2, 2), what="test")


def test_hessian_products_that_overflow_are_named() -> None:
    """An input of 1e160 makes the Hessian's entries overflow float64: the error names the
    data and the model (it was LAPACK's eigh failing on the tridiagonal), on both methods;
    lanczos itself raises its NonFiniteProduct (a ValueError)."""
    from alignkit.numerics.hessian import top_eigenvalues
    from alignkit.numerics.lanczos import NonFiniteProduct, lanczos

    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1).double()
    x = torch.randn(5, 3, dtype=torch.float64)
    y = torch.randn(5, 1, dtype=torch.float64)
    assert torch.isfinite(top_eigenvalues(model, x, y).values).all()
    x[0, 0] = 1e160
    for method in ("lanczos", "power"):
        with pytest.raises(ValueError, match=r"^x, y and the model's parameters .* overflow"):
            top_eigenvalues(model, x, y, method=method)
    with pytest.raises(NonFiniteProduct, match=r"^matvec returned inf or NaN"):
        lanczos(lambda v: v * math.inf, torch.ones(3, dtype=torch.float64), k=1, iters=3,
                tol=0.0, generator=torch.Generator())  # fmt: skip
