"""An exactly enumerable toy language model, targets to align it to, and alignment metrics.

Sequences are x = (x_1, …, x_L) over a vocabulary of V tokens; all V^L of them are
enumerated (4^6 = 4,096 by default), so every expectation, divergence and gradient can be
computed exactly. The model π_θ is a position-dependent bigram (autoregressive):
π_θ(x) = Π_t softmax(θ[t, x_{t−1}])[x_t] (x_0 a start symbol), with parameters of shape
(L, V + 1, V) — batched over any leading settings axis. It can represent the base model a(x)
exactly but not targets that couple distant positions, so the divergence's choice decides
which compromise it makes. Taught in ``notebooks/04_aligning_with_f_divergences.ipynb``.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

import torch

from alignkit._checks import check_has_data, check_int, check_scalar, check_shape
from alignkit.device import get_device, make_generator
from alignkit.divergences._args import broadcast, check_lm, per_sequence, real_tensor

MAX_SETTINGS = 100_000  # settings S of one logits tensor (init_logits)

__all__ = [
    "ToyLM",
    "toy_lm",
    "sequence_log_prob",
    "constraint_target",
    "count_reward",
    "reward_target",
    "entropy",
    "kl",
    "metrics",
]

Tensor = torch.Tensor


@dataclass(frozen=True)
class ToyLM:
    """The enumerated sequence space and the base model a(x).

    Attributes
    ----------
    vocab, length : int
    sequences : Tensor (N, L) long — all V^L sequences, lexicographic
    base_logits : Tensor (L, V + 1, V) — the base model's bigram logits
    log_base : Tensor (N,) — log a(x)
    """

    vocab: int
    length: int
    sequences: Tensor
    base_logits: Tensor
    log_base: Tensor

    @property
    def n_sequences(self) -> int:
        return self.sequences.shape[0]

    def init_logits(self, n_settings: int) -> Tensor:
        """Start every setting from the base model: logits (S, L, V + 1, V), S in [1, 1e5]."""
        n_settings = check_int(n_settings, "n_settings", low=1, high=MAX_SETTINGS)
        return self.base_logits.expand(n_settings, *self.base_logits.shape).clone()

    @functools.cached_property
    def _lexicographic(self) -> bool:
        """Whether ``sequences`` is the full enumeration in lexicographic order."""
        grid = torch.cartesian_prod(*[torch.arange(self.vocab)] * self.length)
        return self.sequences.shape == (self.vocab**self.length, self.length) and bool(
            torch.equal(self.sequences.cpu(), grid.reshape(-1, self.length))
        )

    def log_prob(self, logits: Tensor) -> Tensor:
        """log π_θ(x) for every sequence: logits (..., L, V + 1, V) -> (..., N).

        For the full lexicographic enumeration (what :func:`toy_lm` builds) the sum over
        positions is built by broadcasting, prefix by prefix (no gather: its backward is a
        scatter, ~4× slower); otherwise :func:`sequence_log_prob`. ``logits`` must be a
        float32/float64 tensor; non-finite logits (a diverged run's) give non-finite
        log-probabilities, which the training loops flag.
        """
        self._check_logits(logits)
        if not self._lexicographic or logits.shape[-3:] != self.base_logits.shape:
            return sequence_log_prob(logits, self.sequences)
        table = torch.log_softmax(logits, dim=-1)  # (..., L, V+1, V)
        vocab, lead = self.vocab, table.shape[:-3]
        acc = table[..., 0, vocab, :]  # the first token after the start symbol: (..., V)
        for t in range(1, self.length):  # (..., V^t) -> (..., V^t, V): prefix + next token
            prev = acc.reshape(*lead, -1, vocab, 1)
            acc = (prev + table[..., t, None, :vocab, :]).reshape(*lead, -1)
        return acc

    def _check_logits(self, logits: object) -> None:
        shape = (self.length, self.vocab + 1, self.vocab)
        if not isinstance(logits, Tensor) or logits.dtype not in (torch.float32, torch.float64):
            got = logits.dtype if isinstance(logits, Tensor) else type(logits).__name__
            raise TypeError(f"logits must be a float32 or float64 tensor (..., {shape}), got {got}")
        check_shape(tuple(logits.shape), "logits", f"(..., {', '.join(map(str, shape))})",
                    tuple(logits.shape[-3:]) == shape)  # fmt: skip

    def decode(self, index: int) -> str:
        """A sequence as a string of token ids, e.g. ``"013300"``; ``index`` in [0, N)."""
        index = check_int(index, "index", low=0, high=self.n_sequences - 1)
        return "".join(str(int(t)) for t in self.sequences[index])


def sequence_log_prob(logits: Tensor, sequences: Tensor) -> Tensor:
    """Σ_t log softmax(θ[t, x_{t−1}])[x_t].

    Shapes: logits (..., L, V+1, V), sequences (N, L) -> (..., N).
    """
    logits = real_tensor(logits, "logits", finite=True)
    check_shape(logits.shape, "logits", "(..., L, V + 1, V) with V ≥ 1",
                logits.ndim >= 3 and logits.shape[-1] >= 1
                and logits.shape[-2] == logits.shape[-1] + 1)  # fmt: skip
    n_len, n_prev, vocab = logits.shape[-3:]
    if isinstance(sequences, torch.Tensor):
        check_has_data(sequences, "sequences")
    if not isinstance(sequences, torch.Tensor) or sequences.dtype not in (
        torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8
    ):  # fmt: skip
        got = sequences.dtype if isinstance(sequences, torch.Tensor) else type(sequences).__name__
        raise TypeError(f"sequences must be an integer tensor (N, L) of token ids, got {got}")
    check_shape(sequences.shape, "sequences", f"(N, {n_len})",
                sequences.ndim == 2 and sequences.shape[1] == n_len)  # fmt: skip
    if sequences.numel() and (int(sequences.min()) < 0 or int(sequences.max()) >= vocab):
        raise ValueError(
            f"sequences must hold token ids in [0, {vocab - 1}], "
            f"got {int(sequences.min())}..{int(sequences.max())}"
        )
    if sequences.device != logits.device:
        raise ValueError(
            f"logits and sequences must be on one device, got {logits.device} and "
            f"{sequences.device}"
        )
    table = torch.log_softmax(logits, dim=-1)  # (..., L, V+1, V)
    prev = torch.cat(
        [torch.full_like(sequences[:, :1], n_prev - 1), sequences[:, :-1]], dim=1
    )  # start symbol V, then the previous token
    flat = table.reshape(*table.shape[:-3], n_len * n_prev * vocab)
    pos = torch.arange(n_len, device=sequences.device)
    idx = (pos * n_prev + prev) * vocab + sequences  # (N, L)
    return flat[..., idx].sum(-1)


def toy_lm(
    vocab: int = 4,
    length: int = 6,
    *,
    seed: int = 0,
    temperature: float = 1.0,
    device: str | torch.device | None = None,
) -> ToyLM:
    """Enumerate all ``vocab``^``length`` sequences and draw a random bigram base model.

    The base logits are standard normal / ``temperature`` (seeded), so a(x) is a smooth,
    full-support distribution over sequences.
    """
    vocab = check_int(vocab, "vocab", low=2, high=16)
    length = check_int(length, "length", low=1, high=12)
    if vocab**length > 2**21:
        raise ValueError(f"vocab**length must be at most 2**21 to enumerate, got {vocab}**{length}")
    temperature = check_scalar(temperature, "temperature", low=0.0, closed="neither")
    dev = get_device(device)
    seqs = torch.tensor(list(itertools.product(range(vocab), repeat=length)), device=dev)
    gen = make_generator(seed, "cpu")
    base = torch.randn(length, vocab + 1, vocab, generator=gen, dtype=torch.float64) / temperature
    base = base.to(dev)
    return ToyLM(vocab, length, seqs, base, sequence_log_prob(base, seqs))


def _normalise(log_w: Tensor) -> Tensor:
    return log_w - torch.logsumexp(log_w, dim=-1, keepdim=True)


def constraint_target(lm: ToyLM, *, token: int = 0, count: int = 2) -> tuple[Tensor, Tensor]:
    """GDC-style target p(x) ∝ a(x)·1[x contains ``token`` exactly ``count`` times].

    Returns ``(log p (N,), satisfied (N,) bool)``; log p = −inf off the constraint set.
    """
    lm = check_lm(lm)
    token = check_int(token, "token", low=0, high=lm.vocab - 1)
    count = check_int(count, "count", low=0, high=lm.length)
    ok = (lm.sequences == token).sum(-1) == count
    log_p = torch.where(ok, lm.log_base, torch.full_like(lm.log_base, -math.inf))
    return _normalise(log_p), ok


def count_reward(lm: ToyLM, *, token: int = 0, cap: int = 3) -> Tensor:
    """r(x) = min(#{t: x_t = token}, cap): rewards a token, but only up to ``cap`` uses (N,)."""
    lm = check_lm(lm)
    token = check_int(token, "token", low=0, high=lm.vocab - 1)
    cap = check_int(cap, "cap", low=1, high=lm.length)
    return (lm.sequences == token).sum(-1).clamp(max=cap).to(lm.log_base.dtype)


def reward_target(lm: ToyLM, reward: Tensor, beta: float | Tensor) -> Tensor:
    """RLHF-style target p(x) ∝ a(x)·exp(r(x)/β); β a float or a tensor (B,) -> log p (..., N).

    ``reward`` has one finite entry per sequence (N,).
    """
    lm = check_lm(lm)
    reward = per_sequence(reward, "reward", lm, rows=False)
    if not bool(torch.isfinite(reward).all()):
        raise ValueError("reward must be finite (one real number per sequence), got inf")
    if isinstance(beta, (list, tuple)) or isinstance(beta, torch.Tensor) and beta.ndim > 0:
        b = real_tensor(beta, "beta")
        check_shape(b.shape, "beta", "() or (B,)", b.ndim == 1)
    else:
        b = torch.tensor(check_scalar(beta, "beta", low=0.0, closed="neither"), dtype=torch.float64)
    b = b.to(lm.log_base.dtype).to(lm.log_base.device)
    if (b <= 0).any() or not torch.isfinite(b).all():
        raise ValueError(f"beta must be finite and > 0, got {b.tolist()}")
    reward = reward.to(lm.log_base.dtype).to(lm.log_base.device)
    scaled = reward / b[..., None]
    if not bool(torch.isfinite(scaled).all()):  # a tiny β: r − max r (the same target) is
        scaled = (reward - reward.max()) / b[..., None]  # ≤ 0, −inf (mass 0) not inf − inf
    return _normalise(lm.log_base + scaled)


def _log_probs(value: object, name: str) -> Tensor:
    """Log-probabilities (..., N): real, no NaN, no +inf (−inf is probability 0)."""
    t = real_tensor(value, name)
    if t.ndim == 0:
        raise ValueError(f"{name} must have shape (..., N) (log-probabilities), got ()")
    if bool((t == math.inf).any()):
        raise ValueError(f"{name} must be log-probabilities (≤ 0, −inf for 0), got inf")
    total = torch.logsumexp(t.double(), dim=-1)  # log Σ p over the last axis: 0
    worst = float(total.abs().max()) if total.numel() else 0.0
    if not worst <= 1e-4:  # (NaN too: every entry −inf is no distribution)
        raise ValueError(
            f"{name} must be normalised log-probabilities (log Σ exp = 0 on the last axis, "
            f"to 1e-4), got log Σ exp off by {worst:.3g}"
        )
    return t


def entropy(log_q: Tensor) -> Tensor:
    """H(Q) = −Σ q log q in nats, on the last axis (exact over the enumeration)."""
    log_q = _log_probs(log_q, "log_q")
    return -(torch.exp(log_q) * torch.where(torch.isfinite(log_q), log_q, 0.0)).sum(-1)


def kl(log_p: Tensor, log_q: Tensor) -> Tensor:
    """KL(P‖Q) = Σ p (log p − log q) on the last axis, with 0 log 0 = 0."""
    log_p, log_q = _log_probs(log_p, "log_p"), _log_probs(log_q, "log_q")
    broadcast(log_p, log_q, "log_p and log_q")
    p = torch.exp(log_p)
    diff = torch.where(p > 0, log_p - log_q, 0.0)
    return (p * diff).sum(-1)


def metrics(
    lm: ToyLM, log_pi: Tensor, log_p: Tensor, *, satisfied: Tensor | None = None,
    reward: Tensor | None = None,
) -> dict[str, Tensor]:  # fmt: skip
    """Per setting (S,): ``alignment`` (mass on the constraint set, or E_π[r]), ``entropy``
    (nats), ``kl_base`` = KL(π‖a), ``kl_target`` = KL(p‖π), ``target_entropy``.

    Shapes: ``log_pi`` (N,) or (S, N); ``log_p`` (N,) or (S, N); ``satisfied`` (N,) bool
    or ``reward`` (N,) real.
    """
    lm = check_lm(lm)
    log_pi = _log_probs(per_sequence(log_pi, "log_pi", lm), "log_pi")
    log_p = _log_probs(per_sequence(log_p, "log_p", lm), "log_p")
    if log_p.ndim == 2 and log_p.shape[0] != (log_pi.shape[0] if log_pi.ndim == 2 else 1):
        raise ValueError(
            f"log_p of shape (S, N) needs one row per row of log_pi: {tuple(log_pi.shape)}, "
            f"got {tuple(log_p.shape)}"
        )
    pi = torch.exp(log_pi)
    if satisfied is not None and reward is not None:
        raise ValueError("metrics takes satisfied= or reward=, not both")
    if satisfied is not None:
        if not isinstance(satisfied, torch.Tensor) or satisfied.dtype != torch.bool:
            got = satisfied.dtype if isinstance(satisfied, torch.Tensor) else type(satisfied)
            raise TypeError(f"satisfied must be a bool tensor ({lm.n_sequences},), got {got}")
        check_shape(satisfied.shape, "satisfied", f"({lm.n_sequences},)",
                    satisfied.shape == (lm.n_sequences,))  # fmt: skip
        align = (pi * satisfied.to(pi.dtype)).sum(-1)
    elif reward is not None:
        reward = per_sequence(reward, "reward", lm, rows=False)
        if not bool(torch.isfinite(reward).all()):
            raise ValueError("reward must be finite (one real number per sequence), got inf")
        align = (pi * reward.to(pi.dtype)).sum(-1)
    else:
        raise ValueError("metrics needs satisfied= (constraint) or reward= (reward target)")
    return {
        "alignment": align,
        "entropy": entropy(log_pi),
        "kl_base": kl(log_pi, lm.log_base),
        "kl_target": kl(log_p.expand_as(log_pi), log_pi),
        "target_entropy": entropy(log_p).expand(log_pi.shape[:-1]),
    }
