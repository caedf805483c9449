"""Aligning the toy LM to a target with any f-divergence: f-DPG (exact and sampled) and f-DPO.

f-DPG (Go et al., ICML 2023) minimises D_f(P‖π_θ) = E_π[f(p/π)] (the kit's convention,
P the target). Its gradient is

    ∇_θ D_f = E_{x∼π}[ w(x) ∇ log π_θ(x) ],   w = f(u) − u f′(u),   u = p(x)/π(x),

so a sampled estimate with a leave-one-out baseline is unbiased; the enumeration gives the
exact objective and gradient to check it. f-DPO (Wang et al., ICLR 2024) learns from
preference pairs with the loss −log σ(β[f′(π/π_ref)(y_w) − f′(π/π_ref)(y_l)]); with
f(u) = u log u it is exactly DPO. Every divergence is trained in one batched run (settings on
a leading axis). Taught in ``notebooks/04_aligning_with_f_divergences.ipynb``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from alignkit._checks import check_int, check_scalar, check_shape
from alignkit.device import make_generator
from alignkit.divergences._args import (
    check_callback,
    check_divs,
    check_lm,
    per_sequence,
    real_tensor,
)
from alignkit.divergences.catalogue import Divergence, get
from alignkit.divergences.fit import Setting, check_settings, one_cpu_thread
from alignkit.divergences.quadrature import _batched_integrand, _Plan, _plan
from alignkit.divergences.toylm import ToyLM, metrics

__all__ = [
    "exact_objective",
    "dpg_weights",
    "sampled_gradient",
    "exact_gradient",
    "AlignmentRun",
    "train_fdpg",
    "preference_pairs",
    "fdpo_loss",
    "dpo_loss",
    "train_fdpo",
    "metrics",
]

Tensor = torch.Tensor
_MAX_DRAWS = 10_000_000  # samples or pairs per call: more would not fit in memory
_NORMALISED = 1e-5  # |log Σ_x p(x)| a target may show (float32 rounding of the log p)


def _divs(settings: Sequence[Setting]) -> list[Divergence]:
    return [get(n, alpha=a) if n == "alpha" else get(n) for n, a in settings]


def _log_rows(value: object, name: str, n_rows: int, n_seq: int | None, *,
              one_row: bool = False) -> Tensor:  # fmt: skip
    """Log-probabilities of shape (S, N) with S = ``n_rows`` (or (N,) when ``one_row``);
    N = ``n_seq`` when given. No NaN, no +inf (−inf is probability 0)."""
    t = real_tensor(value, name)
    if t.ndim == 0:
        raise ValueError(f"{name} must have shape (S, N) (log-probabilities per setting), got ()")
    n = t.shape[-1] if n_seq is None else n_seq
    ok = t.shape[-1:] == (n,) and (t.shape == (n_rows, n) or (one_row and t.ndim == 1))
    check_shape(t.shape, name, f"({n},) or ({n_rows}, {n})" if one_row else f"({n_rows}, {n})",
                ok)  # fmt: skip
    if bool((t == math.inf).any()):
        raise ValueError(f"{name} must be log-probabilities (−inf for 0), got +inf")
    return t


def _log_pair(divs: Sequence[Divergence], log_p: object, log_pi: object) -> tuple[Tensor, Tensor]:
    """(log_pi (S, N), log_p (N,) or (S, N)) with S = len(divs) and one N for both."""
    log_pi = _log_rows(log_pi, "log_pi", len(divs), None)
    lp = real_tensor(log_p, "log_p")
    if lp.shape[-1:] != log_pi.shape[-1:]:
        raise ValueError(
            "log_p and log_pi must have one entry per sequence on the last axis (the same N), "
            f"got shapes {tuple(lp.shape)} and {tuple(log_pi.shape)}"
        )
    lp = _log_rows(lp, "log_p", len(divs), log_pi.shape[-1], one_row=True)
    common = torch.promote_types(lp.dtype, log_pi.dtype)  # float32 with float64: float64
    return log_pi.to(common), lp.to(common)


def _check_pairs(pairs: object, lm: ToyLM) -> tuple[Tensor, Tensor]:
    """(winner indices, loser indices): two integer tensors (n,), n ≥ 1, ids in [0, N)."""
    n_seq = lm.n_sequences
    what = f"a tuple (winners, losers) of integer tensors (n,) with ids in [0, {n_seq - 1}]"
    if not isinstance(pairs, (tuple, list)) or len(pairs) != 2:
        raise TypeError(f"pairs must be {what}, got {type(pairs).__name__} {pairs!r:.60}")
    win, lose = pairs
    for t in (win, lose):
        if not isinstance(t, torch.Tensor) or t.dtype not in (torch.int64, torch.int32):
            got = t.dtype if isinstance(t, torch.Tensor) else type(t).__name__
            raise TypeError(f"pairs must be {what}, got {got}")
    if win.ndim != 1 or win.shape != lose.shape or win.numel() == 0:
        shapes = f"{tuple(win.shape)}, {tuple(lose.shape)}"
        raise ValueError(f"pairs must be {what}, got shapes {shapes}")
    both = torch.cat([win, lose])
    if int(both.min()) < 0 or int(both.max()) >= n_seq:
        raise ValueError(f"pairs must be {what}, got ids {int(both.min())}..{int(both.max())}")
    dev = lm.log_base.device
    return win.to(dev), lose.to(dev)


def _f0(divs: Sequence[Divergence], like: Tensor) -> Tensor:
    """f̃(0) = f(0) + f′(1) per setting (S,) for the normalised generator (the cost of model
    mass where p = 0)."""
    one = torch.ones(())
    out = [d.f_at_zero + (0.0 if d.name == "total_variation" else float(d.f_prime(one)))
           for d in divs]  # fmt: skip
    return torch.tensor(out, dtype=like.dtype, device=like.device)


def exact_objective(divs: Sequence[Divergence], log_p: Tensor, log_pi: Tensor) -> Tensor:
    """D_f(P‖π) for S settings by enumeration: log_p (N,) or (S, N), log_pi (S, N) -> (S,).

    Exact with target zeros: where p = 0 each sequence costs π(x)·f̃(0), ∞ for the
    zero-forcing divergences (f(0) = ∞) whenever π puts mass there.
    """
    divs = check_divs(divs)
    log_pi, log_p = _log_pair(divs, log_p, log_pi)
    return _exact_objective(divs, log_p, log_pi, _plan(divs, log_pi.dtype, log_pi.device),
                            _f0(divs, log_pi))  # fmt: skip


def _exact_objective(
    divs: Sequence[Divergence], log_p: Tensor, log_pi: Tensor, plan: _Plan, f0: Tensor
) -> Tensor:
    """:func:`exact_objective` with the per-setting constants (``plan``, ``f0`` (S,))
    computed once per training run, not per step; a target without zeros (every reward
    target) skips the masking (the same sum: the masked terms are all zero)."""
    support = torch.isfinite(log_p)
    if bool(support.all()):
        return _batched_integrand(divs, log_p, log_pi, plan).sum(-1)
    safe_p = torch.where(support, log_p, torch.zeros_like(log_p))
    inner = torch.where(support, _batched_integrand(divs, safe_p, log_pi, plan), 0.0).sum(-1)
    off = torch.where(support, 0.0, torch.exp(log_pi)).sum(-1)  # (S,)
    cost = torch.where(off > 0, off * f0, torch.zeros_like(off))
    return inner + torch.where(torch.isinf(f0) & (off > 0), math.inf, cost)


def _weight(d: Divergence, log_u: Tensor) -> Tensor:
    """w = f(u) − u f′(u) from log u (only its differences matter: a baseline absorbs shifts)."""
    if d.alpha_form is not None:  # scale·(1 − u^α)/α, −log u at α = 0
        a, c = d.alpha_form
        return c * (-log_u if a == 0.0 else -torch.expm1(a * log_u) / a)
    if d.name == "jensen_shannon":  # ½ log(2/(1 + u))
        return 0.5 * (math.log(2.0) - F.softplus(log_u))
    if d.name == "jeffreys":  # −log u − u + 1
        return -log_u - torch.expm1(log_u)
    return 0.5 * torch.sign(-log_u)  # total variation: ½ sign(1 − u)


def dpg_weights(divs: Sequence[Divergence], log_p: Tensor, log_pi: Tensor) -> Tensor:
    """The f-DPG weight w(x) = f(u) − u f′(u), u = p/π, per setting: (S, N).

    ``log_pi`` (S, N), ``log_p`` (N,) or (S, N), S = ``len(divs)``.
    """
    divs = check_divs(divs)
    log_pi, log_p = _log_pair(divs, log_p, log_pi)
    log_u = log_p - log_pi
    return torch.stack([_weight(d, log_u[..., s, :] if log_u.ndim > 1 else log_u)
                        for s, d in enumerate(divs)])  # fmt: skip


def exact_gradient(lm: ToyLM, divs: Sequence[Divergence], log_p: Tensor, logits: Tensor) -> Tensor:
    """∇_θ D_f(P‖π_θ) by autograd through the enumerated objective: logits (S, ...) -> same."""
    lm, divs = check_lm(lm), check_divs(divs)
    logits = _check_logits(logits, lm, len(divs))
    log_p = _log_rows(log_p, "log_p", len(divs), lm.n_sequences, one_row=True)
    theta = logits.detach().clone().requires_grad_(True)
    exact_objective(divs, log_p, lm.log_prob(theta)).sum().backward()
    assert theta.grad is not None
    return theta.grad


def sampled_gradient(
    lm: ToyLM,
    divs: Sequence[Divergence],
    log_p: Tensor,
    logits: Tensor,
    n_samples: int,
    *,
    seed: int | torch.Generator | None = 0,
) -> Tensor:
    """The f-DPG estimate (1/n) Σ_i (w(x_i) − b_i) ∇ log π(x_i), x_i ∼ π, with the
    leave-one-out baseline b_i (unbiased); one independent sample per setting: (S, ...)."""
    lm, divs = check_lm(lm), check_divs(divs)
    logits = _check_logits(logits, lm, len(divs))
    log_p = _log_rows(log_p, "log_p", len(divs), lm.n_sequences, one_row=True)
    n = check_int(n_samples, "n_samples", low=2, high=_MAX_DRAWS)
    theta = logits.detach().clone().requires_grad_(True)
    log_pi = lm.log_prob(theta)  # (S, N)
    gen = make_generator(seed, log_pi.device)
    idx = torch.multinomial(torch.exp(log_pi.detach()), n, replacement=True, generator=gen)
    w = torch.gather(dpg_weights(divs, log_p, log_pi.detach()), -1, idx)  # (S, n)
    baseline = (w.sum(-1, keepdim=True) - w) / (n - 1)
    surrogate = ((w - baseline) * torch.gather(log_pi, -1, idx)).mean(-1)
    surrogate.sum().backward()
    assert theta.grad is not None
    return theta.grad


def _check_logits(logits: object, lm: ToyLM, n_rows: int) -> Tensor:
    t = real_tensor(logits, "logits", finite=True)
    shape = (n_rows, *lm.base_logits.shape)
    check_shape(t.shape, "logits", str(shape), tuple(t.shape) == shape)
    if t.dtype not in (torch.float32, torch.float64):  # half precision: the kit computes in 64
        t = t.to(lm.base_logits.dtype)
    return t


@dataclass(frozen=True)
class AlignmentRun:
    """A batched training run: S settings trained together.

    ``logits`` (S, L, V+1, V) final parameters; ``log_pi`` (S, N) final model;
    ``objective`` (S, T+1) the trained loss per Adam step (D_f for f-DPG, the f-DPO loss);
    ``infinite`` (S,) settings whose objective is ∞ (not trained: flagged, not raised);
    ``final`` (S,) the objective at the returned model (after the L-BFGS polish, if any);
    ``rel_change`` (S,) |v_end − v_90%| / |v_end|, the relative change of the objective over
    the last 10 % of the run (Adam steps, or L-BFGS evaluations when polished): a
    convergence check (NaN where infinite).
    """

    settings: tuple[Setting, ...]
    logits: Tensor
    log_pi: Tensor
    objective: Tensor
    infinite: Tensor
    final: Tensor
    rel_change: Tensor


def _train(
    lm: ToyLM,
    settings: Sequence[Setting],
    loss: Callable[[Tensor, int], Tensor],
    *,
    steps: int,
    lr: float,
    progress: Callable[[int, int], None] | None,
) -> AlignmentRun:
    steps = check_int(steps, "steps", low=0, high=100_000)
    lr = check_scalar(lr, "lr", low=0.0, closed="neither")
    theta = lm.init_logits(len(settings)).requires_grad_(True)
    with one_cpu_thread(theta.device):
        return _train_loop(lm, settings, loss, theta, steps, lr, progress)


def _train_loop(
    lm: ToyLM,
    settings: Sequence[Setting],
    loss: Callable[[Tensor, int], Tensor],
    theta: Tensor,
    steps: int,
    lr: float,
    progress: Callable[[int, int], None] | None,
) -> AlignmentRun:
    opt = torch.optim.Adam([theta], lr=lr)
    history = []
    frozen = torch.zeros(len(settings), dtype=torch.bool, device=theta.device)
    for t in range(steps + 1):
        value = loss(theta, t)  # (S,)
        history.append(value.detach())
        frozen |= ~torch.isfinite(value.detach())
        if t == steps:
            break
        opt.zero_grad()
        torch.where(frozen, 0.0, value).sum().backward()
        assert theta.grad is not None
        theta.grad[frozen] = 0.0
        opt.step()
        if progress is not None:
            progress(t + 1, steps)
    theta = theta.detach()
    objective = torch.stack(history, -1)
    return AlignmentRun(
        tuple(settings), theta, lm.log_prob(theta), objective, frozen, objective[:, -1],
        _rel_change(objective, frozen),
    )  # fmt: skip


def _rel_change(history: Tensor, frozen: Tensor) -> Tensor:
    """|v_end − v_90%| / |v_end| per row of a (S, T) history; NaN for frozen rows."""
    end, earlier = history[:, -1], history[:, (9 * (history.shape[-1] - 1)) // 10]
    change = (end - earlier).abs() / end.abs().clamp_min(1e-300)
    return torch.where(frozen, math.nan, change)


def _polish(
    lm: ToyLM, divs: Sequence[Divergence], log_p: Tensor, run: AlignmentRun, iters: int
) -> AlignmentRun:
    """L-BFGS (strong-Wolfe line search) on each finite setting's exact D_f, from Adam's end.

    One optimiser per setting on purpose: a shared line search on the summed objective lets
    the worst-conditioned divergence (Neyman χ², D ~ 1e6 after Adam) dictate every step size.
    """
    logits, final, change = run.logits.clone(), run.final.clone(), run.rel_change.clone()
    with one_cpu_thread(logits.device):
        for s in range(len(divs)):
            if run.infinite[s]:
                continue
            theta = logits[s : s + 1].clone().requires_grad_(True)
            lp = log_p[s : s + 1] if log_p.ndim == 2 else log_p
            values: list[Tensor] = []

            def closure(theta: Tensor = theta, values: list[Tensor] = values,
                        d: Divergence = divs[s], lp: Tensor = lp) -> Tensor:  # fmt: skip
                theta.grad = None
                value = exact_objective([d], lp, lm.log_prob(theta)).sum()
                values.append(value.detach())
                value.backward()
                return value

            while len(values) < iters:  # restart L-BFGS when it stops early (stale curvature)
                before = len(values)
                opt = torch.optim.LBFGS([theta], max_iter=iters - len(values),
                                        tolerance_grad=1e-12, tolerance_change=1e-15,
                                        history_size=50, line_search_fn="strong_wolfe")  # fmt: skip
                opt.step(closure)
                if len(values) - before < 5:  # converged: a restart found nothing to do
                    break
            with torch.no_grad():
                end = exact_objective(divs[s : s + 1], lp, lm.log_prob(theta))[0]
            if not end <= final[s]:  # keep Adam's end if the polish did not improve it
                continue
            logits[s] = theta.detach()[0]
            history = torch.stack([*values, end]).unsqueeze(0)
            final[s], change[s] = end, _rel_change(history, run.infinite[s : s + 1])[0]
    return AlignmentRun(run.settings, logits, lm.log_prob(logits), run.objective,
                        run.infinite, final, change)  # fmt: skip


def train_fdpg(
    lm: ToyLM,
    log_p: Tensor,
    settings: Sequence[Setting],
    *,
    steps: int = 200,
    lr: float = 0.1,
    n_samples: int | None = None,
    seed: int = 0,
    polish: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> AlignmentRun:
    """f-DPG for every setting at once: exact gradients by enumeration (``n_samples=None``)
    or the sampled, baselined estimate with ``n_samples`` draws per setting and step.

    ``polish`` > 0 then runs up to that many L-BFGS iterations per finite setting on the
    exact D_f (Adam alone converges slowly for the ill-conditioned ones, e.g. Neyman χ²);
    ``run.final`` and ``run.rel_change`` report where it ended.
    """
    lm = check_lm(lm)
    settings = check_settings(settings)
    polish = check_int(polish, "polish", low=0, high=100_000)
    if n_samples is not None:
        n_samples = check_int(n_samples, "n_samples", low=2, high=_MAX_DRAWS)
    check_callback(progress, "progress")
    n_seq = lm.n_sequences
    if not isinstance(log_p, torch.Tensor):
        raise TypeError(f"log_p must be a torch.Tensor of shape ({n_seq},), got {type(log_p)}")
    if log_p.dtype == torch.bool or log_p.is_complex() or log_p.is_meta:
        raise TypeError(f"log_p must hold real numbers (cpu, cuda or mps), got {log_p!r:.60}")
    if not log_p.is_floating_point():
        log_p = log_p.to(lm.log_base.dtype)
    if log_p.shape[-1:] != (n_seq,) or log_p.ndim > 2:
        raise ValueError(
            f"log_p must have shape ({n_seq},) or (S, {n_seq}) (one log-probability per "
            f"enumerated sequence), got {tuple(log_p.shape)}"
        )
    if torch.isnan(log_p).any() or (log_p == math.inf).any():
        raise ValueError(
            "log_p must hold log-probabilities (−inf for probability 0), got NaN or +inf"
        )
    total = torch.logsumexp(log_p.double(), dim=-1)  # log Σ_x p(x): 0 for a distribution
    if not bool((total.abs() <= _NORMALISED).all()):
        worst = float(total[total.abs().argmax()] if total.ndim else total)
        raise ValueError(
            f"log_p must be normalised (log Σ_x p(x) = 0 within {_NORMALISED:g} for every row), "
            f"got log Σ_x p(x) = {worst:.6g}"
        )
    divs = _divs(settings)
    if log_p.ndim == 2 and log_p.shape[0] != len(divs):
        raise ValueError(
            f"log_p of shape (S, {n_seq}) needs one row per setting: {len(divs)} settings, "
            f"got {log_p.shape[0]} rows"
        )
    gen = make_generator(seed, lm.log_base.device)
    plan, f0 = _plan(divs, log_p.dtype, log_p.device), _f0(divs, log_p)

    def loss(theta: Tensor, t: int) -> Tensor:
        log_pi = lm.log_prob(theta)
        exact = _exact_objective(divs, log_p, log_pi, plan, f0)
        if n_samples is None:
            return exact
        n = check_int(n_samples, "n_samples", low=2, high=_MAX_DRAWS)
        idx = torch.multinomial(torch.exp(log_pi.detach()), n, replacement=True, generator=gen)
        w = torch.gather(dpg_weights(divs, log_p, log_pi.detach()), -1, idx)
        baseline = (w.sum(-1, keepdim=True) - w) / (n - 1)
        surrogate = ((w - baseline) * torch.gather(log_pi, -1, idx)).mean(-1)
        # the value reported is the exact D_f; the gradient is the sampled estimate's
        return exact.detach() + surrogate - surrogate.detach()

    run = _train(lm, settings, loss, steps=steps, lr=lr, progress=progress)
    return _polish(lm, divs, log_p, run, polish) if polish else run


def preference_pairs(
    lm: ToyLM, reward: Tensor, n_pairs: int, *, seed: int = 0
) -> tuple[Tensor, Tensor]:
    """Pairs drawn from the base model a, labelled by Bradley–Terry on ``reward``:
    P(y₁ ≻ y₂) = σ(r(y₁) − r(y₂)). Returns (winner indices, loser indices), each (n,).

    ``reward``: one finite real number per sequence (N,); integer rewards are converted.
    """
    lm = check_lm(lm)
    reward = per_sequence(reward, "reward", lm, rows=False)
    if not bool(torch.isfinite(reward).all()):
        raise ValueError("reward must be finite (one real number per sequence), got inf")
    reward = reward.to(lm.log_base.device)
    n = check_int(n_pairs, "n_pairs", low=1, high=_MAX_DRAWS)
    gen = make_generator(seed, lm.log_base.device)
    idx = torch.multinomial(torch.exp(lm.log_base), 2 * n, replacement=True, generator=gen)
    y1, y2 = idx[:n], idx[n:]
    u = torch.rand(n, generator=gen, dtype=reward.dtype, device=reward.device)
    first = u < torch.sigmoid(reward[y1] - reward[y2])
    return torch.where(first, y1, y2), torch.where(first, y2, y1)


def _f_prime_log(d: Divergence, log_u: Tensor) -> Tensor:
    """f′(u) from log u (up to an additive constant, which f-DPO's difference cancels)."""
    if d.alpha_form is not None:
        a, c = d.alpha_form
        return c * (log_u if a == 1.0 else torch.expm1((a - 1.0) * log_u) / (a - 1.0))
    if d.name == "jensen_shannon":
        return 0.5 * (math.log(2.0) + log_u - F.softplus(log_u))
    if d.name == "jeffreys":
        return log_u + 1.0 - torch.exp(-log_u)
    raise ValueError(
        "f-DPO needs a strictly convex f (f′ invertible); total variation's f′ is a step"
    )


def fdpo_loss(
    lm: ToyLM,
    divs: Sequence[Divergence],
    log_pi: Tensor,
    pairs: tuple[Tensor, Tensor],
    beta: float,
) -> Tensor:
    """−mean log σ(β[f′(π/π_ref)(y_w) − f′(π/π_ref)(y_l)]) per setting, π_ref = a: (S,).

    Note the ratio is model over reference: f(u) = u log u (registry ``"forward_kl"``) here
    means the regulariser KL(π‖π_ref), and the loss is exactly DPO's. ``log_pi`` has shape
    (S, N), S = ``len(divs)``.
    """
    lm, divs = check_lm(lm), check_divs(divs)
    log_pi = _log_rows(log_pi, "log_pi", len(divs), lm.n_sequences)
    win, lose = _check_pairs(pairs, lm)
    beta = check_scalar(beta, "beta", low=0.0, closed="neither")
    return _fdpo_loss(lm, divs, log_pi, win, lose, beta)


def _fdpo_loss(
    lm: ToyLM, divs: Sequence[Divergence], log_pi: Tensor, win: Tensor, lose: Tensor, beta: float
) -> Tensor:
    """:func:`fdpo_loss` on checked arguments (the training loop's per-step call)."""
    log_u = log_pi - lm.log_base  # (S, N)
    out = []
    for s, d in enumerate(divs):
        fp = _f_prime_log(d, log_u[s])
        out.append(-F.logsigmoid(beta * (fp[win] - fp[lose])).mean())
    return torch.stack(out)


def dpo_loss(lm: ToyLM, log_pi: Tensor, pairs: tuple[Tensor, Tensor], beta: float) -> Tensor:
    """DPO (Rafailov et al., NeurIPS 2023): −mean log σ(β[log π/π_ref(y_w) − log π/π_ref(y_l)]).

    ``log_pi`` (N,) or (S, N) -> loss () or (S,).
    """
    lm = check_lm(lm)
    log_pi = real_tensor(log_pi, "log_pi")
    check_shape(log_pi.shape, "log_pi", f"({lm.n_sequences},) or (S, {lm.n_sequences})",
                log_pi.ndim in (1, 2) and log_pi.shape[-1] == lm.n_sequences)  # fmt: skip
    if bool((log_pi == math.inf).any()):
        raise ValueError("log_pi must be log-probabilities (−inf for 0), got +inf")
    win, lose = _check_pairs(pairs, lm)
    beta = check_scalar(beta, "beta", low=0.0, closed="neither")
    margin = (log_pi[..., win] - lm.log_base[win]) - (log_pi[..., lose] - lm.log_base[lose])
    return -F.logsigmoid(beta * margin).mean(-1)


def train_fdpo(
    lm: ToyLM,
    pairs: tuple[Tensor, Tensor],
    settings: Sequence[Setting],
    *,
    beta: float = 0.5,
    steps: int = 200,
    lr: float = 0.1,
    progress: Callable[[int, int], None] | None = None,
) -> AlignmentRun:
    """f-DPO for every setting at once on the same preference pairs (full batch)."""
    lm = check_lm(lm)
    settings = check_settings(settings)
    pairs = _check_pairs(pairs, lm)
    beta = check_scalar(beta, "beta", low=0.0, closed="neither")
    check_callback(progress, "progress")
    divs = _divs(settings)
    for d in divs:  # reject generators without an invertible f′ before training
        _f_prime_log(d, torch.zeros(1, dtype=lm.log_base.dtype))

    def loss(theta: Tensor, t: int) -> Tensor:
        return _fdpo_loss(lm, divs, lm.log_prob(theta), *pairs, beta)

    return _train(lm, settings, loss, steps=steps, lr=lr, progress=progress)
