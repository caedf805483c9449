"""Theme 2 catalogue: generators and exact discrete divergences vs closed forms."""

from __future__ import annotations

import math

import pytest
import torch

from alignkit.divergences import divergence, get, names

P = torch.tensor([[0.2, 0.3, 0.5], [0.1, 0.6, 0.3]], dtype=torch.float64)
Q = torch.tensor([[0.4, 0.4, 0.2], [0.25, 0.25, 0.5]], dtype=torch.float64)
LOG2 = math.log(2.0)


def _kl(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    return (p * (p / q).log()).sum(-1)


# closed forms written independently of the kit's generators
CLOSED = {
    "forward_kl": lambda p, q: _kl(p, q),
    "reverse_kl": lambda p, q: _kl(q, p),
    "jensen_shannon": lambda p, q: 0.5 * _kl(p, (p + q) / 2) + 0.5 * _kl(q, (p + q) / 2),
    "squared_hellinger": lambda p, q: ((p.sqrt() - q.sqrt()) ** 2).sum(-1),
    "total_variation": lambda p, q: 0.5 * (p - q).abs().sum(-1),
    "pearson_chi2": lambda p, q: ((p - q) ** 2 / q).sum(-1),
    "neyman_chi2": lambda p, q: ((p - q) ** 2 / p).sum(-1),
    "jeffreys": lambda p, q: _kl(p, q) + _kl(q, p),
    "alpha": lambda p, q: (1 - (p**0.5 * q**0.5).sum(-1)) / (0.5 * 0.5),
}
# (f(0), f'(∞), behaviour) from the table in SCIENCE.md, theme 2
TABLE = {
    "forward_kl": (0.0, math.inf, "mass-covering"),
    "reverse_kl": (math.inf, 0.0, "mode-seeking"),
    "jensen_shannon": (0.5 * LOG2, 0.5 * LOG2, "neither"),
    "squared_hellinger": (1.0, 1.0, "neither"),
    "total_variation": (0.5, 0.5, "neither"),
    "pearson_chi2": (1.0, math.inf, "mass-covering"),
    "neyman_chi2": (math.inf, 1.0, "mode-seeking"),
    "jeffreys": (math.inf, math.inf, "both"),
    "alpha": (2.0, 2.0, "neither"),  # default α = ½
}


def test_registry_lists_every_divergence() -> None:
    assert names() == list(TABLE)


@pytest.mark.parametrize("name", list(CLOSED))
def test_divergence_matches_closed_form_batched(name: str) -> None:
    got = divergence(name, P, Q)
    assert got.shape == (2,)
    torch.testing.assert_close(got, CLOSED[name](P, Q), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", list(TABLE))
def test_limits_and_behaviour_match_the_table(name: str) -> None:
    d = get(name)
    f0, finf, behaviour = TABLE[name]
    assert d.f_at_zero == f0 and d.f_prime_at_infinity == finf and d.behaviour == behaviour
    tiny, huge = torch.tensor(1e-12, dtype=torch.float64), torch.tensor(1e12, dtype=torch.float64)
    if math.isinf(f0):
        assert d.f(tiny).item() > 20
    else:
        assert d.f(tiny).item() == pytest.approx(f0, abs=1e-5)
    if math.isinf(finf):
        assert (d.f(huge) / huge).item() > 20
    else:
        assert (d.f(huge) / huge).item() == pytest.approx(finf, abs=1e-4)


@pytest.mark.parametrize("name", list(TABLE))
def test_generator_is_convex_with_f1_zero_and_matching_derivatives(name: str) -> None:
    d = get(name)
    u = torch.logspace(-3, 3, 400, dtype=torch.float64)
    assert d.f(torch.ones(1, dtype=torch.float64)).item() == pytest.approx(0.0, abs=1e-15)
    f = d.f(u)
    slopes = torch.diff(f) / torch.diff(u)
    assert (torch.diff(slopes) >= -1e-9).all()  # convex: secant slopes increase
    eps = 1e-6
    for x in (0.3, 2.0, 7.0):  # f' and f'' against central differences (away from TV's kink)
        t = torch.tensor([x - eps, x, x + eps], dtype=torch.float64)
        fd1 = (d.f(t[2:]) - d.f(t[:1])) / (2 * eps)
        assert d.f_prime(t[1:2]).item() == pytest.approx(fd1.item(), rel=1e-6, abs=1e-8)
        fd2 = (d.f_prime(t[2:]) - d.f_prime(t[:1])) / (2 * eps)
        assert d.f_second(t[1:2]).item() == pytest.approx(fd2.item(), rel=1e-5, abs=1e-8)


def test_h_weighting_closed_forms() -> None:
    r = torch.tensor([0.25, 1.0, 4.0], dtype=torch.float64)
    torch.testing.assert_close(get("forward_kl").h(r), r)
    torch.testing.assert_close(get("reverse_kl").h(r), torch.ones_like(r))
    torch.testing.assert_close(get("jensen_shannon").h(r), r / (2 * (1 + r)))
    torch.testing.assert_close(get("pearson_chi2").h(r), 2 * r**2)
    torch.testing.assert_close(get("alpha", alpha=3.0).h(r), r**3)


def test_alpha_identities() -> None:
    torch.testing.assert_close(
        divergence("alpha", P, Q, alpha=0.5), 2 * divergence("squared_hellinger", P, Q)
    )
    torch.testing.assert_close(
        divergence("alpha", P, Q, alpha=2.0), 0.5 * CLOSED["pearson_chi2"](P, Q)
    )
    torch.testing.assert_close(
        divergence("alpha", P, Q, alpha=-1.0), 0.5 * CLOSED["neyman_chi2"](P, Q)
    )


def test_alpha_limits_are_exact_and_continuous() -> None:
    fkl, rkl = _kl(P, Q), _kl(Q, P)
    torch.testing.assert_close(divergence("alpha", P, Q, alpha=1.0), fkl, rtol=1e-14, atol=0)
    torch.testing.assert_close(divergence("alpha", P, Q, alpha=0.0), rkl, rtol=1e-14, atol=0)
    for eps in (1e-4, 1e-7, 1e-10, 1e-13):  # O(α) away, no cancellation blow-up
        torch.testing.assert_close(
            divergence("alpha", P, Q, alpha=1 - eps), fkl, rtol=3 * eps, atol=0
        )
        torch.testing.assert_close(divergence("alpha", P, Q, alpha=eps), rkl, rtol=3 * eps, atol=0)
        torch.testing.assert_close(divergence("alpha", P, Q, alpha=-eps), rkl, rtol=3 * eps, atol=0)
    u = torch.tensor([0.1, 3.0], dtype=torch.float64)
    torch.testing.assert_close(get("alpha", alpha=1e-12).f(u), -u.log() + u - 1, rtol=1e-9, atol=0)


def test_zeros_give_inf_exactly_where_the_table_says() -> None:
    p = torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64)  # target misses a state
    q = torch.tensor([0.3, 0.3, 0.4], dtype=torch.float64)
    for name, (f0, finf, _) in TABLE.items():
        model_mass_off_target = divergence(name, p, q).item()  # q > 0 = p: costs q·f(0)
        target_mass_off_model = divergence(name, q, p).item()  # p > 0 = q: costs p·f'(∞)
        assert math.isinf(model_mass_off_target) == math.isinf(f0), name
        assert math.isinf(target_mass_off_model) == math.isinf(finf), name
    # finite values match the limits: TV = ½Σ|p−q|, forward KL skips p = 0 terms
    assert divergence("total_variation", p, q).item() == pytest.approx(0.4)
    expected = 2 * 0.5 * math.log(0.5 / 0.3)
    assert divergence("forward_kl", p, q).item() == pytest.approx(expected)
    assert divergence("jensen_shannon", p, torch.tensor([0.0, 0.0, 1.0])).item() == pytest.approx(
        LOG2
    )
    assert divergence(
        "squared_hellinger", p, torch.tensor([0.0, 0.0, 1.0])
    ).item() == pytest.approx(2)


def test_bad_input_names_the_argument() -> None:
    with pytest.raises(ValueError, match="divergence name.*forward_kl.*got 'kl'"):
        get("kl")
    with pytest.raises(ValueError, match="p must be non-negative"):
        divergence("forward_kl", torch.tensor([1.2, -0.2]), torch.tensor([0.5, 0.5]))
    with pytest.raises(ValueError, match="q must sum to 1"):
        divergence("forward_kl", torch.tensor([0.5, 0.5]), torch.tensor([0.5, 0.6]))
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError, match="alpha must be a finite number"):
            get("alpha", alpha=bad)
    with pytest.raises(ValueError, match="takes no parameters"):
        get("forward_kl", alpha=0.3)
