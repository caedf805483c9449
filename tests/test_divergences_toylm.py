"""Theme 2 toy LM: enumeration, targets, exact vs sampled f-DPG gradient, f-DPO = DPO."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from alignkit.divergences import divergence, get, names
from alignkit.divergences.align import (
    dpo_loss,
    exact_gradient,
    exact_objective,
    fdpo_loss,
    metrics,
    preference_pairs,
    sampled_gradient,
    train_fdpg,
    train_fdpo,
)
from alignkit.divergences.toylm import (
    constraint_target,
    count_reward,
    reward_target,
    sequence_log_prob,
    toy_lm,
)

NAMED = [(n, math.nan) for n in names() if n != "alpha"]


@pytest.fixture(scope="module")
def lm():  # type: ignore[no-untyped-def]
    return toy_lm(4, 6, seed=0)


def test_enumeration_and_autoregressive_probabilities(lm) -> None:  # type: ignore[no-untyped-def]
    assert lm.n_sequences == 4**6 == 4096
    assert torch.exp(lm.log_base).sum().item() == pytest.approx(1.0, abs=1e-12)
    # one sequence by the chain rule, written out independently
    x = lm.sequences[1234]
    logp, prev = 0.0, 4
    for t, tok in enumerate(x.tolist()):
        logp += torch.log_softmax(lm.base_logits[t, prev], -1)[tok].item()
        prev = tok
    assert lm.log_base[1234].item() == pytest.approx(logp, abs=1e-12)
    small = toy_lm(3, 2, seed=1)
    assert [tuple(s) for s in small.sequences.tolist()] == list(
        itertools.product(range(3), repeat=2)
    )
    batched = sequence_log_prob(lm.init_logits(3), lm.sequences)
    assert batched.shape == (3, 4096) and torch.equal(batched[2], lm.log_base)


def test_targets(lm) -> None:  # type: ignore[no-untyped-def]
    log_p, ok = constraint_target(lm, token=0, count=2)
    assert torch.isinf(log_p[~ok]).all() and torch.exp(log_p).sum().item() == pytest.approx(1.0)
    a = torch.exp(lm.log_base)
    torch.testing.assert_close(torch.exp(log_p[ok]), a[ok] / a[ok].sum())  # a restricted to c
    r = count_reward(lm)
    for beta in (0.2, 1.0):
        w = a * torch.exp(r / beta)
        torch.testing.assert_close(torch.exp(reward_target(lm, r, beta)), w / w.sum())
    with pytest.raises(ValueError, match="beta"):
        reward_target(lm, r, 0.0)


def test_exact_objective_matches_discrete_divergence(lm) -> None:  # type: ignore[no-untyped-def]
    divs = [get(n) for n, _ in NAMED]
    log_pi = lm.log_prob(lm.init_logits(len(divs)) * 0.7)
    for log_p in (reward_target(lm, count_reward(lm), 0.3), constraint_target(lm)[0]):
        got = exact_objective(divs, log_p, log_pi)
        want = torch.stack([divergence(n, torch.exp(log_p), torch.exp(log_pi[s]))
                            for s, (n, _) in enumerate(NAMED)])  # fmt: skip
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)


def test_sampled_fdpg_gradient_is_unbiased(lm) -> None:  # type: ignore[no-untyped-def]
    settings = [("forward_kl", math.nan), ("reverse_kl", math.nan), ("jensen_shannon", math.nan),
                ("alpha", -0.5)]  # fmt: skip
    divs = [get(n, alpha=a) if n == "alpha" else get(n) for n, a in settings]
    log_p = reward_target(lm, count_reward(lm), 0.3)
    theta = lm.init_logits(len(divs))
    exact = exact_gradient(lm, divs, log_p, theta)
    draws = torch.stack([sampled_gradient(lm, divs, log_p, theta, 4000, seed=k) for k in range(8)])
    mean = draws.mean(0)
    for s in range(len(divs)):
        rel = (torch.norm(mean[s] - exact[s]) / torch.norm(exact[s])).item()
        single = (torch.norm(draws[0, s] - exact[s]) / torch.norm(exact[s])).item()
        assert rel < 0.08, settings[s]  # 32,000 draws: Monte Carlo error only
        assert rel < single  # averaging independent estimates converges to the exact gradient


def test_fdpo_with_u_log_u_is_exactly_dpo(lm) -> None:  # type: ignore[no-untyped-def]
    r = count_reward(lm)
    pairs = preference_pairs(lm, r, 500, seed=3)
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(2, *lm.base_logits.shape, generator=gen, dtype=torch.float64)
    log_pi = lm.log_prob(lm.init_logits(2) + 0.3 * noise)
    for beta in (0.1, 1.0):
        got = fdpo_loss(lm, [get("forward_kl"), get("alpha", alpha=1.0)], log_pi, pairs, beta)
        want = dpo_loss(lm, log_pi, pairs, beta)
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    win, lose = pairs
    assert (r[win] >= r[lose]).float().mean() > 0.6  # Bradley–Terry labels follow the reward
    with pytest.raises(ValueError, match="strictly convex"):
        train_fdpo(lm, pairs, [("total_variation", math.nan)], steps=1)


def test_batched_training_reverse_kl_collapses_forward_kl_covers(lm) -> None:  # type: ignore[no-untyped-def]
    r = count_reward(lm)
    log_p = reward_target(lm, r, 0.2)
    settings = [("forward_kl", math.nan), ("jensen_shannon", math.nan), ("reverse_kl", math.nan)]
    run = train_fdpg(lm, log_p, settings, steps=120, lr=0.1)
    assert (run.objective[:, -1] < run.objective[:, 0]).all() and not run.infinite.any()
    m = metrics(lm, run.log_pi, log_p, reward=r)
    fkl, js, rkl = 0, 1, 2
    assert m["alignment"][rkl] > m["alignment"][js] > m["alignment"][fkl]
    assert m["entropy"][rkl] < m["entropy"][js] < m["entropy"][fkl]
    # the batched run equals a run of one setting alone
    alone = train_fdpg(lm, log_p, settings[2:], steps=120, lr=0.1)
    torch.testing.assert_close(alone.log_pi[0], run.log_pi[2])


def test_constraint_target_is_infinite_for_zero_forcing_divergences(lm) -> None:  # type: ignore[no-untyped-def]
    log_p, ok = constraint_target(lm)
    run = train_fdpg(lm, log_p, NAMED, steps=2, lr=0.1)
    for s, (name, _) in enumerate(NAMED):
        assert bool(run.infinite[s]) == math.isinf(get(name).f_at_zero), name


def test_sampled_fdpg_training_tracks_the_exact_run(lm) -> None:  # type: ignore[no-untyped-def]
    log_p = reward_target(lm, count_reward(lm), 0.3)
    settings = [("jensen_shannon", math.nan), ("reverse_kl", math.nan)]
    exact = train_fdpg(lm, log_p, settings, steps=60, lr=0.1)
    sampled = train_fdpg(lm, log_p, settings, steps=60, lr=0.1, n_samples=512, seed=1)
    start, end_exact, end_sampled = (
        exact.objective[:, 0],
        exact.objective[:, -1],
        sampled.objective[:, -1],
    )
    assert (end_sampled < 0.5 * start).all()  # the sampled gradient trains
    assert ((end_sampled - end_exact).abs() < 0.25 * (start - end_exact)).all()


def test_lbfgs_polish_reaches_a_stationary_point(lm) -> None:  # type: ignore[no-untyped-def]
    """Adam alone leaves Neyman χ² ~1e6 above its minimum; the polish must reach a point where
    the exact gradient (autograd through the enumeration) has vanished."""
    log_p = reward_target(lm, count_reward(lm), 0.1)
    settings = [("neyman_chi2", math.nan), ("reverse_kl", math.nan)]
    adam = train_fdpg(lm, log_p, settings, steps=30)
    run = train_fdpg(lm, log_p, settings, steps=30, polish=600)
    assert adam.final[0] > 1e3 and run.final[0] < 2.0  # Neyman: ~1e6 -> 1.81
    assert (run.final <= adam.final).all() and (run.rel_change < 1e-3).all()
    torch.testing.assert_close(exact_objective(
        [get(n) for n, _ in settings], log_p, run.log_pi), run.final)  # fmt: skip
    divs = [get(n) for n, _ in settings]
    g_adam = exact_gradient(lm, divs, log_p, adam.logits).flatten(1).norm(dim=1)
    g_end = exact_gradient(lm, divs, log_p, run.logits).flatten(1).norm(dim=1)
    assert (g_end < 1e-3 * g_adam).all(), (g_adam, g_end)


def test_train_fdpg_rejects_a_target_of_the_wrong_shape(lm) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="log_p.*4096.*\\(5,\\)"):
        train_fdpg(lm, torch.zeros(5), [("forward_kl", math.nan)], steps=1)
    with pytest.raises(TypeError, match="log_p"):
        train_fdpg(lm, [0.0] * 4096, [("forward_kl", math.nan)], steps=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="polish"):
        train_fdpg(lm, torch.zeros(4096), [("forward_kl", math.nan)], steps=1, polish=-1)
    good = lm.log_base
    for bad in (
        torch.full((4096,), math.nan),
        good.clone().index_fill_(0, torch.tensor([7]), math.inf),
    ):
        with pytest.raises(ValueError, match="log_p must hold log-probabilities"):
            train_fdpg(lm, bad, [("forward_kl", math.nan)], steps=1)
    for bad in (torch.zeros(4096), torch.stack([good, good + 0.01])):  # sums 4096; e^0.01
        with pytest.raises(ValueError, match="log_p must be normalised"):
            train_fdpg(lm, bad, [("forward_kl", math.nan)], steps=1)
    two = [("forward_kl", math.nan), ("reverse_kl", math.nan)]
    train_fdpg(lm, torch.stack([good, good]), two, steps=1)  # one normalised row per setting
    with pytest.raises(ValueError, match="one row per setting: 1 settings, got 2 rows"):
        train_fdpg(lm, torch.stack([good, good]), two[:1], steps=1)
