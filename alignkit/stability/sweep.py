"""Batched SGD sweeps over a grid of (learning rate η, batch size B, seed).

All S settings of a grid train at once: each step draws the minibatch indices of every
setting, masks the columns beyond each setting's own B, and updates all parameters in
a few batched matrix products with the analytic gradient
(:mod:`alignkit.stability._grid_sgd`; settings that share a seed share their
minibatches and their first-layer product). Only the steps are a Python loop. Settings
are sorted by B and cut into chunks of at most ``chunk_size`` so that each chunk only
pads to its own largest B.

Randomness is counter-based: the minibatch of setting s at step t is a hash of
(seed_s, t), so a setting's run does not depend on the rest of the grid, on the
chunking or on the device, and settings that share a seed share their initial point
and their sample order (common random numbers across η and B).

At the end, at each non-diverged final point (in float64), the sweep records the loss,
λ_max and ‖·‖_F of the Gauss–Newton matrix G (the Hessian at a global minimum), the
last iterate's alignment factor μ of :mod:`alignkit.stability.noise` and the range
[μ_min, μ_max] of μ over directions (:mod:`alignkit.stability.alignment_range`).
Diverged runs (non-finite loss, or loss above ``divergence_factor`` × the initial loss
at a check) are frozen and flagged; a run whose final loss is above its initial loss
is flagged as well (``diverged_step`` = ``steps``). A run has *converged* when its
full-batch loss is below ``CONVERGED_LOSS`` at each of the last ``SETTLED_CHECKS``
loss checks; only converged runs sit at a minimum. For the models linear in their
parameters the result also carries the exact threshold η*(B).

Precompute a bigger sweep (CPU or GPU) with
``python -m alignkit.stability.sweep_cli --out data/stability_sweep.npz`` and read it back
with :func:`load_sweep`. Taught in notebook 02 (flat minima and noise alignment).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.func import jacrev, vmap

from alignkit._checks import check_bool, check_choice, check_int, check_scalar, check_shape
from alignkit.device import DEFAULT_DTYPE, get_device, pick, to_numpy
from alignkit.stability._grid_sgd import MIN_COLUMNS, train_chunk
from alignkit.stability.alignment_range import (
    CONSTANT_HESSIAN_MODELS,
    alignment_range,
    constant_hessian_threshold,
)
from alignkit.stability.minibatch import SEED_MAX, minibatch_indices
from alignkit.stability.models import MODELS, FunctionalModel, make_model
from alignkit.stability.noise import noise_alignment
from alignkit.stability.sweep_result import (
    CONVERGED_LOSS,
    DEFAULT_PATH,
    SETTLED_CHECKS,
    SweepResult,
    load_sweep,
)

__all__ = [
    "SweepResult",
    "sgd_sweep",
    "minibatch_indices",
    "load_sweep",
    "default_grid",
    "DEFAULT_PATH",
    "CONVERGED_LOSS",
    "SETTLED_CHECKS",
]

_DIAG_BYTES = 2**27  # Jacobian memory per diagnostics chunk
_CHUNK_OVERHEAD = 1024  # per-step cost of one more chunk, in sample evaluations


#: Default grids per model: (lrs, batch sizes, seeds, steps, n, width), full size and
#: fast mode. Sizes and steps are chosen so that (nearly) every run below the threshold
#: converges (loss < CONVERGED_LOSS) within ``steps``: n = 16 digits for the random-feature
#: and MLP models (their feature / tangent-kernel matrices are much better conditioned
#: than at n = 32) and a wide enough MLP.
_GRIDS: dict[str, tuple[tuple[Any, ...], tuple[Any, ...]]] = {
    "linear": (
        (np.geomspace(0.5, 32.0, 7), (1, 2, 4, 8, 16, 32), (0, 1, 2, 3), 3000, 32, 128),
        ((0.5, 2.0, 8.0, 32.0), (1, 4, 16), (0, 1), 1000, 16, 64),
    ),
    "random_features": (
        (np.geomspace(1.0, 64.0, 7), (1, 2, 4, 8, 16), (0, 1, 2, 3), 3000, 16, 256),
        ((2.0, 4.0, 16.0, 64.0), (1, 4, 16), (0, 1), 1500, 16, 128),
    ),
    "mlp": (
        (np.geomspace(0.05, 1.6, 6), (1, 2, 4, 8, 16), (0, 1, 2, 3), 4000, 16, 32),
        ((0.2, 0.4, 0.8), (1, 4, 16), (0,), 1500, 16, 32),
    ),
}


def default_grid(model: str) -> dict[str, Any]:
    """The default ``lrs``, ``batch_sizes``, ``seeds``, ``steps``, ``n`` and ``width``
    of :func:`sgd_sweep` (smaller in fast mode)."""
    model = check_choice(model, "model", MODELS)
    lrs, bs, seeds, steps, n, width = pick(*_GRIDS[model])
    return {
        "lrs": tuple(float(v) for v in lrs),
        "batch_sizes": bs,
        "seeds": seeds,
        "steps": steps,
        "n": n,
        "width": width,
    }


def _axis(values: Any, name: str) -> list[Any]:
    """A grid axis as a non-empty list of Python scalars, or ValueError naming it."""
    raw = np.asarray(to_numpy(values))
    check_shape(raw.shape, name, "(m,) with m >= 1", raw.ndim <= 1 and raw.size >= 1)
    return [v.item() for v in raw.reshape(-1)]


def _check_grid(lrs: Any, batch_sizes: Any, seeds: Any, n: int) -> tuple[torch.Tensor, ...]:
    lr = torch.tensor(
        [check_scalar(v, "lrs", low=0, closed="neither") for v in _axis(lrs, "lrs")],
        dtype=torch.float64,
    )
    bs = [check_int(b, "batch_sizes", low=1, high=n) for b in _axis(batch_sizes, "batch_sizes")]
    sd = [check_int(s, "seeds", low=0, high=SEED_MAX) for s in _axis(seeds, "seeds")]
    return lr, torch.tensor(bs, dtype=torch.int64), torch.tensor(sd, dtype=torch.int64)


def _plan_chunks(sorted_b: torch.Tensor, chunk_size: int) -> list[torch.Tensor]:
    """Cut settings sorted by B into chunks of at most ``chunk_size`` positions.

    A chunk pads every setting to its largest B (at least ``MIN_COLUMNS``); a group of
    equal B joins the current chunk only while the padding costs less than one extra
    chunk's per-step overhead (``_CHUNK_OVERHEAD`` sample evaluations), so small grids
    run as one chunk and large grids mostly group equal batch sizes.
    """
    chunks: list[torch.Tensor] = []
    values, counts = torch.unique_consecutive(sorted_b, return_counts=True)
    start, size, bmax = 0, 0, 0
    for value, c in zip(values.tolist(), counts.tolist(), strict=True):
        b = max(value, MIN_COLUMNS)
        while c > 0:
            if size and (size * (b - bmax) > _CHUNK_OVERHEAD or size == chunk_size):
                chunks.append(torch.arange(start, start + size))
                start, size = start + size, 0
            take = min(c, chunk_size - size)
            size, bmax, c = size + take, b, c - take
    chunks.append(torch.arange(start, start + size))
    return chunks


_DIAG_KEYS = ("loss", "sharpness", "gn_frobenius", "mu", "mu_min", "mu_max")


def _diagnostics(model: FunctionalModel, theta: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(loss, sharpness, ‖G‖_F, μ, μ_min, μ_max) at each row of theta (S, d).

    All from the per-sample Jacobians at the final point: μ is the last iterate's,
    [μ_min, μ_max] its range over directions of the linearised model there.
    """

    def one(th: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
        return model.apply(th, xi[None]).reshape(-1)

    jac = vmap(vmap(jacrev(one), in_dims=(None, 0)), in_dims=(0, None))
    out = vmap(model.apply, in_dims=(0, None))
    n, k, d = model.n, int(model.y.shape[1]), model.num_params
    size = max(1, _DIAG_BYTES // (8 * n * k * d))
    parts = []
    fixed = model.name in CONSTANT_HESSIAN_MODELS  # J_i does not depend on θ: one range
    span = None
    for start in range(0, theta.shape[0], size):
        th = theta[start : start + size]
        jacobians = jac(th, model.x)
        stats = noise_alignment(jacobians, out(th, model.x) - model.y)
        if span is None or not fixed:
            span = alignment_range(jacobians[:1] if fixed else jacobians)
        lo, hi = span.mu_min.expand(th.shape[0]), span.mu_max.expand(th.shape[0])
        parts.append(
            torch.stack([stats.loss, stats.sharpness, stats.gn_frobenius, stats.mu, lo, hi])
        )
    if not parts:
        empty = torch.empty(0, dtype=theta.dtype, device=theta.device)
        return tuple(empty for _ in _DIAG_KEYS)
    return tuple(torch.cat(parts, dim=1))


def sgd_sweep(
    model: str = "mlp",
    *,
    lrs: Sequence[float] | torch.Tensor | None = None,
    batch_sizes: Sequence[int] | torch.Tensor | None = None,
    seeds: Sequence[int] | torch.Tensor | None = None,
    steps: int | None = None,
    n: int | None = None,
    width: int | None = None,
    data_seed: int = 0,
    replacement: bool = True,
    check_every: int = 10,
    divergence_factor: float = 100.0,
    chunk_size: int | None = None,
    diagnostics: bool = True,
    keep_params: bool = False,
    device: str | torch.device | None = None,
    dtype: torch.dtype = DEFAULT_DTYPE,
) -> SweepResult:
    """Train one model per (η, B, seed) setting with SGD, all settings batched.

    Parameters
    ----------
    model : {"linear", "random_features", "mlp"}, default="mlp"
        See :mod:`alignkit.stability.models`.
    lrs, batch_sizes, seeds : sequences, shape (m,), optional
        The grid axes (η > 0, B in [1, n], seed in [0, 2**32)); ``None`` takes
        :func:`default_grid` (smaller in fast mode). S is the product of the lengths.
    steps : int, optional
        SGD steps per setting (``None``: the default grid's).
    n, width, data_seed :
        Passed to :func:`alignkit.stability.models.make_model` (``None``: the default
        grid's n and width).
    replacement : bool, default=True
        Draw minibatches with replacement (p = 1/B, the setting of the paper's bound).
    check_every : int, default=10
        Steps between full-batch loss checks (divergence test and ``loss_history``).
    divergence_factor : float, default=100
        A run is diverged (and frozen) once its loss is non-finite or above this × its
        initial loss; it is also flagged if it ends above its initial loss.
    chunk_size : int, optional
        Settings trained together (memory knob); ``None``: all at once, at most 4096.
    diagnostics : bool, default=True
        Compute sharpness, ‖G‖_F, μ and [μ_min, μ_max] at the final points (NaN
        otherwise). ``converged`` and, for ``"linear"`` and ``"random_features"``, the
        exact ``threshold`` η*(B) are always computed.
    keep_params : bool, default=False
        Also return the final parameters, shape (S, d).
    device : str or torch.device, optional
        ``None`` (default) means :func:`alignkit.device.get_device`.
    dtype : torch.dtype, default=float32
        Training dtype; the diagnostics always run in float64 (float32 on mps).

    Returns
    -------
    SweepResult
        Fields of shape (S,) on ``device``.

    Raises
    ------
    ValueError
        Unknown model, η <= 0, B outside [1, n], bad seeds, steps or sizes.
    """
    model = check_choice(model, "model", MODELS)
    diagnostics = check_bool(diagnostics, "diagnostics")
    keep_params = check_bool(keep_params, "keep_params")
    dev = get_device(device)
    grid = default_grid(model)
    n = grid["n"] if n is None else n
    width = grid["width"] if width is None else width
    fm = make_model(model, n=n, width=width, data_seed=data_seed, device=dev, dtype=dtype)
    lr_ax, b_ax, s_ax = _check_grid(
        grid["lrs"] if lrs is None else lrs,
        grid["batch_sizes"] if batch_sizes is None else batch_sizes,
        grid["seeds"] if seeds is None else seeds,
        fm.n,
    )
    steps = check_int(grid["steps"] if steps is None else steps, "steps", low=1, high=10**6)
    check_every = check_int(check_every, "check_every", low=1)
    divergence_factor = check_scalar(
        divergence_factor, "divergence_factor", low=1, closed="neither"
    )
    chunk = check_int(4096 if chunk_size is None else chunk_size, "chunk_size", low=1)

    axes = [torch.arange(a.numel()) for a in (lr_ax, b_ax, s_ax)]
    i_lr, i_b, i_s = (g.reshape(-1) for g in torch.meshgrid(*axes, indexing="ij"))
    lr_all, b_all, s_all = lr_ax[i_lr], b_ax[i_b], s_ax[i_s]
    diag_dtype = fm.x.dtype if dev.type == "mps" else torch.float64
    diag_model = (  # built only when the diagnostics need it in another dtype
        fm
        if diag_dtype == fm.x.dtype or not diagnostics
        else make_model(
            model, n=fm.n, width=fm.width, data_seed=data_seed, device=dev, dtype=diag_dtype
        )
    )
    uniq, inverse = torch.unique(s_ax, return_inverse=True)
    init_all = fm.init([int(s) for s in uniq])[inverse]  # (len(seeds), d)

    order = torch.argsort(b_all, stable=True)
    S = lr_all.numel()
    records = max(1, math.ceil(steps / check_every)) + 1
    nan = torch.full((S,), math.nan, dtype=diag_dtype, device=dev)
    out = {key: nan.clone() for key in _DIAG_KEYS}
    diverged = torch.zeros(S, dtype=torch.bool, device=dev)
    div_step = torch.full((S,), -1, dtype=torch.int64, device=dev)
    history = torch.full((S, records), math.nan, dtype=dtype, device=dev)
    params = torch.empty((S, fm.num_params), dtype=dtype, device=dev) if keep_params else None
    for sel in _plan_chunks(b_all[order], chunk):
        sel = order[sel]
        seeds_c = s_all[sel].to(dev)
        theta, div_c, step_c, hist_c = train_chunk(
            fm,
            lr_all[sel].to(dev),
            b_all[sel].to(dev),
            seeds_c,
            init_all[i_s[sel]].clone(),
            steps=steps,
            replacement=replacement,
            check_every=check_every,
            divergence_factor=divergence_factor,
        )
        sel = sel.to(dev)
        diverged[sel], div_step[sel], history[sel] = div_c, step_c, hist_c
        if params is not None:
            params[sel] = theta
        out["loss"][sel] = hist_c[:, -1].to(nan.dtype)
        ok = sel[~div_c]
        if diagnostics and ok.numel():
            stats = _diagnostics(diag_model, theta[~div_c].to(diag_model.x.dtype))
            for key, value in zip(_DIAG_KEYS, stats, strict=True):
                out[key][ok] = value
    settled = history[:, -min(SETTLED_CHECKS, records) :] < CONVERGED_LOSS
    converged = ~diverged & settled.all(dim=1)
    if model in CONSTANT_HESSIAN_MODELS:
        curve = constant_hessian_threshold(fm, b_ax, replacement=replacement)
        threshold = curve.to(device=dev, dtype=nan.dtype)[i_b.to(dev)]
    else:
        threshold = nan.clone()
    hist_steps = torch.tensor(
        [0] + [t for t in range(1, steps + 1) if t % check_every == 0 or t == steps]
    )
    return SweepResult(
        model=model,
        lr=lr_all.to(dev),
        batch_size=b_all.to(dev),
        seed=s_all.to(dev),
        diverged=diverged,
        converged=converged,
        threshold=threshold,
        converged_loss=CONVERGED_LOSS,
        diverged_step=div_step,
        loss_history=history,
        history_steps=hist_steps.to(dev),
        grid_shape=(lr_ax.numel(), b_ax.numel(), s_ax.numel()),
        n=fm.n,
        num_params=fm.num_params,
        steps=steps,
        width=fm.width,
        data_seed=int(data_seed),
        replacement=replacement,
        params=params,
        **out,
    )
