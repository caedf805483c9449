"""Linearised SGD near a minimum, many seeds and learning rates at once.

x_{t+1} = (I − η H_ξ) x_t with H_ξ the mean of per-sample Hessians over a random
minibatch. Its second moment follows Q(η, B) exactly (see ``theory``), so the mean of
‖x_t‖² over seeds grows iff η > η*, while a typical (median) run can still shrink near
the threshold: mean-square and almost-sure stability differ.

Taught in ``notebooks/01_sgd_stability.ipynb``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch

from alignkit._checks import check_bool, check_int, check_values
from alignkit.device import get_device, make_generator
from alignkit.stability.minibatch import draw_minibatches
from alignkit.stability.theory import _as_hessians, _reduce

__all__ = ["LinearSGDRun", "simulate_linear_sgd"]

_BLOW_UP = 1e12  # squared distance (relative to the start) at which a run is frozen


@dataclass(frozen=True)
class LinearSGDRun:
    """Result of :func:`simulate_linear_sgd`.

    Attributes
    ----------
    sq_dist : Tensor, shape (G, S, steps + 1)
        ‖P x_t‖² / ‖P x_0‖², P the projector on the range of H (the valley directions
        never move), for G learning rates and S seeds.
    diverged : Tensor of bool, shape (G, S)
        Runs frozen after growing by 1e12.
    lrs : Tensor, shape (G,)
    batch_size : int
    """

    sq_dist: torch.Tensor
    diverged: torch.Tensor
    lrs: torch.Tensor
    batch_size: int

    @property
    def mean(self) -> torch.Tensor:
        """Mean over seeds of the squared distance, shape (G, steps + 1)."""
        return self.sq_dist.mean(1)

    @property
    def median(self) -> torch.Tensor:
        """Median over seeds, shape (G, steps + 1)."""
        return self.sq_dist.median(1).values


#: draws kept per integer seed (a learning-rate move reuses the starts and minibatches)
_DRAWS: OrderedDict[tuple[object, ...], tuple[torch.Tensor, torch.Tensor]] = OrderedDict()
_DRAWS_KEPT = 4
_DRAWS_LOCK = threading.Lock()  # (a user's threads may share the cache)
_DRAWS_BYTES = 64 << 20  # larger draws are made afresh each call
_NUMPY_ON_CPU = True  # the low-rank steps on CPU through numpy (:func:`_numpy_steps`)


def _draws(
    seed: int | torch.Generator | None,
    dev: torch.device,
    shape: tuple[int, int, int],
    n: int,
    r: int,
    batch_size: int,
    replacement: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit starts (G, S, r) and minibatch counts (steps, G, S, n): how often each sample is
    in each minibatch (the minibatch sum of H_i x is then a weighted sum, no gather per
    step). All minibatches in one draw, after the starts, from ``seed``'s generator.
    An integer seed's draws are a pure function of the arguments: the last few are kept
    (read-only)."""
    steps, g, seeds = shape
    key = (seed, str(dev), shape, n, r, batch_size, replacement)
    cache = (
        isinstance(seed, int)
        and not isinstance(seed, bool)  # (True == 1: refused by make_generator, never cached)
        and steps * g * seeds * (n + r) * 8 <= _DRAWS_BYTES
    )
    if cache:
        with _DRAWS_LOCK:
            found = _DRAWS.get(key)
            if found is not None:
                _DRAWS.move_to_end(key)
                return found
    gen = make_generator(seed, dev)
    x = torch.randn(g, seeds, r, generator=gen, device=dev, dtype=torch.float64)
    x = x / x.norm(dim=-1, keepdim=True).clamp_min(1e-300)
    idx = draw_minibatches(shape, n, batch_size, replacement=replacement, generator=gen)
    counts = torch.zeros(steps, g, seeds, n, device=dev, dtype=torch.float64)
    counts.scatter_add_(-1, idx, torch.ones_like(idx, dtype=torch.float64))
    if cache:
        with _DRAWS_LOCK:
            _DRAWS[key] = (x, counts)
            while len(_DRAWS) > _DRAWS_KEPT:
                _DRAWS.popitem(last=False)
    return x, counts


def _factors(hr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """Each H_i (n, r, r) as its eigenpairs with |λ| above rounding (64 ε of its own
    largest |λ|: a small H_i keeps its curvature): owner sample (K,), eigenvectors as rows
    (K, r) and eigenvalues (K,); None when K ≥ n r / 2 (then the two products per step
    cost more than one with every H_i)."""
    n, r = hr.shape[0], hr.shape[1]
    lam, vec = torch.linalg.eigh(hr)
    own = lam.abs().amax(-1, keepdim=True)  # (n, 1)
    keep = (lam.abs() > 64 * torch.finfo(lam.dtype).eps * own) & (own > 0)
    if 2 * int(keep.sum()) >= n * r:
        return None
    owner = torch.arange(n, device=hr.device)[:, None].expand(n, r)[keep]
    return owner, vec.transpose(1, 2)[keep], lam[keep]


def _factored(
    x: torch.Tensor,
    counts: torch.Tensor,
    factors: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    rate: torch.Tensor,
    out: torch.Tensor,
) -> None:
    """Run from starts ``x`` (G, S, r) with every H_i of low rank (:func:`_factors`):
    Σ_i c_i H_i x = Σ_k c_(owner k) λ_k v_k (v_kᵀ x), two thin products a step. Fills
    ``out[1:]`` (steps, G, S) with ‖x_t‖²; the weights and iterates of a chunk of steps at
    a time (at most :data:`_DRAWS_BYTES` each)."""
    owner, rows, lam = factors  # (K,), (K, r), (K,)
    steps, g, seeds, _ = counts.shape
    k, r = lam.numel(), rows.shape[1]
    cols, scale = rows.T.contiguous(), rate * lam  # (r, K), (G, 1, K): η / B λ_k
    x = x.reshape(g * seeds, r)
    chunk = max(1, _DRAWS_BYTES // (g * seeds * (k + r) * 8))
    # one eigenpair per sample, in order (a regression's rank-one H_i): no gather
    identity = k == counts.shape[-1] and bool((owner == torch.arange(k, device=owner.device)).all())
    step = _numpy_steps if x.device.type == "cpu" and _NUMPY_ON_CPU else _torch_steps
    for t0 in range(0, steps, chunk):
        c = min(chunk, steps - t0)
        block = counts[t0 : t0 + c]
        if not identity:  # (index_select: a third of the time of block[..., owner])
            block = block.index_select(-1, owner)
        weights = (block * scale).view(c, g * seeds, k)
        xs = step(x, weights, cols, rows)
        x = xs[-1]
        out[t0 + 1 : t0 + 1 + c] = (xs * xs).sum(-1).view(c, g, seeds)


def _torch_steps(
    x: torch.Tensor, weights: torch.Tensor, cols: torch.Tensor, rows: torch.Tensor
) -> torch.Tensor:
    """Iterates (c, N, r) of x ← x − ((x cols) ⊙ w_t) rows from ``x`` (N, r), weights
    (c, N, K); written in place, three operations a step."""
    xs = torch.empty(weights.shape[0], *x.shape, device=x.device, dtype=x.dtype)
    for t in range(weights.shape[0]):
        x = torch.addmm(x, (x @ cols).mul_(weights[t]), rows, alpha=-1.0, out=xs[t])
    return xs


def _numpy_steps(
    x: torch.Tensor, weights: torch.Tensor, cols: torch.Tensor, rows: torch.Tensor
) -> torch.Tensor:
    """:func:`_torch_steps` on CPU tensors through numpy (the same products in the same
    order): a step of the explorer's size, (256, 10) by (10, 10), costs torch ~35 µs of
    dispatch and numpy ~13 µs (measured: 150 steps 5.2 vs 1.9 ms), and the explorer runs
    150 of them per learning rate."""
    xn, wn = x.numpy(), weights.numpy()
    cn, rn = cols.numpy(), rows.numpy()
    xs = np.empty((wn.shape[0], *xn.shape), dtype=xn.dtype)
    tmp = np.empty_like(xn)
    y = np.empty((xn.shape[0], cn.shape[1]), dtype=xn.dtype)
    with np.errstate(over="ignore", invalid="ignore"):  # (runs past 1e12 are frozen after,
        for t in range(wn.shape[0]):  # as on the torch route, which does not warn)
            np.matmul(xn, cn, out=y)
            y *= wn[t]
            np.matmul(y, rn, out=tmp)
            xn = np.subtract(xn, tmp, out=xs[t])
    return torch.from_numpy(xs)


def simulate_linear_sgd(
    per_sample_hessians: torch.Tensor,
    lr: float | torch.Tensor,
    batch_size: int,
    *,
    steps: int = 200,
    seeds: int = 256,
    replacement: bool = False,
    seed: int | torch.Generator | None = 0,
    device: str | torch.device | None = None,
) -> LinearSGDRun:
    """Simulate linearised SGD from random starts for G learning rates × S seeds at once.

    Parameters
    ----------
    per_sample_hessians : Tensor, shape (n, d, d)
    lr : float or Tensor, shape (G,)
    batch_size : int
        B in [1, n] (any B ≥ 1 with replacement).
    steps, seeds : int
        Number of SGD steps and of independent runs per learning rate.
    replacement : bool, default=False
    seed : int or Generator, default=0
        Seeds the starting points and the minibatch draws. An integer seed's draws are
        kept (the last four, up to 64 MB each): a call that differs only in ``lr`` draws
        nothing and gets the same starts and minibatches.

    Returns
    -------
    LinearSGDRun
        ``(n, d, d), (G,) -> (G, S, steps + 1)``.

    Notes
    -----
    A step applies the minibatch's mean Hessian to every run at once: as one product with
    every H_i, or, when the H_i have low rank (a regression's are rank one), as two thin
    products with their eigenvectors (:func:`_factors`), whichever needs fewer multiplications.
    """
    h = _as_hessians(per_sample_hessians)
    n = h.shape[0]
    replacement = check_bool(replacement, "replacement")
    batch_size = check_int(batch_size, "batch_size", low=1, high=None if replacement else n)
    steps = check_int(steps, "steps", low=1, high=100_000)
    seeds = check_int(seeds, "seeds", low=1, high=10_000_000)
    lrs = check_values(lr, "lr", low=0.0, closed="neither").reshape(-1)
    dev = get_device(device)
    hr, _ = _reduce(h)  # work on the range of H: the valley never moves
    if hr.shape[1] == 0:
        raise ValueError(
            "per_sample_hessians must have a curved direction (every H_i is 0: SGD does not move)"
        )
    hr, lrs = hr.to(dev), lrs.to(dev)
    g, r = lrs.numel(), hr.shape[1]
    x, counts = _draws(seed, dev, (steps, g, seeds), n, r, batch_size, replacement)
    rate = lrs[:, None, None] / batch_size
    out = torch.empty(steps + 1, g, seeds, device=dev, dtype=torch.float64)
    out[0] = 1.0
    factors = _factors(hr)
    if factors is not None:
        _factored(x, counts, factors, rate, out)
    else:
        h_rows = hr.reshape(n * r, r).T  # x @ h_rows = every H_i x, (..., n r)
        for t in range(steps):
            hx = (x @ h_rows).view(g, seeds, n, r)
            x = x - rate * (counts[t][..., None] * hx).sum(2)
            out[t + 1] = (x * x).sum(-1)
    # Freeze each run at its first step beyond _BLOW_UP (or NaN): later steps repeat it.
    blown = ~(out <= _BLOW_UP)
    diverged = blown.any(0)
    first = blown.to(torch.uint8).argmax(0)  # (G, S): first blown step (0 if none)
    later = torch.arange(steps + 1, device=dev)[:, None, None] > first
    out = torch.where(later & diverged, out.gather(0, first[None]), out)
    return LinearSGDRun(out.permute(1, 2, 0), diverged, lrs, batch_size)
