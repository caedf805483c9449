"""Hand-batched SGD for a grid of settings of one model (the inner loop of the sweeps).

:func:`alignkit.stability.sweep.sgd_sweep` trains S settings of one
:class:`~alignkit.stability.models.FunctionalModel` at once. Here the parameters are held
as contiguous per-layer tensors with a leading settings axis, and one SGD step is a few
batched matrix products with the analytic gradient of the square loss, updated in place
(``baddbmm_``), instead of ``vmap(grad)`` over the functional model: no autograd graph,
no flat parameter vector to split and re-assemble, no separate gradient buffer.

Settings that share a seed share their minibatch indices at every step (the indices are
a hash of (seed, step) and a smaller B takes the head of the same draw). They train as
one *group* of G consecutive rows: the minibatch is gathered once per group, and the
first layer (the one that touches the inputs) of all G settings is one matrix product
with the group's stacked weights, (B × p) @ (p × G·h), instead of G small ones.

Per setting s with minibatch indices i_1..i_B and rates c_b = η_s / B_s (0 on the
padding columns beyond B_s), one step is θ_s ← θ_s − Σ_b c_b ∇_θ ½‖f(x_{i_b}; θ_s) − y_{i_b}‖²,
plain SGD with step η_s on the mean loss of the minibatch. The indices of a block of
steps come from :func:`block_indices`, equal to
:func:`alignkit.stability.minibatch.minibatch_indices` step by step.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from alignkit.stability.minibatch import _hashed_indices
from alignkit.stability.models import FunctionalModel

__all__: list[str] = []

#: Minibatch indices precomputed at once, at most (steps × settings × columns): small
#: enough for the hash temporaries to stay in cache.
INDEX_BLOCK = 2**16
#: Minibatches are padded to at least this many columns: on a CPU the tiny batched
#: products of narrower ones cost as much (measured for the MLP at n = 32).
MIN_COLUMNS = 4


def block_indices(
    seeds: torch.Tensor, start: int, count: int, n: int, batch_size: int, replacement: bool
) -> torch.Tensor:
    """Minibatch indices of steps ``start, ..., start + count - 1``, shape (count, S, B).

    Row t equals ``minibatch_indices(seeds, start + t, n, batch_size, replacement=...)``
    (the same counter-based hash, vectorised over the steps as well).
    """
    steps = torch.arange(start, start + count, device=seeds.device, dtype=torch.int64)
    return _hashed_indices(seeds, steps, n, batch_size, replacement)


class GridSGD:
    """One model's parameters for S settings as per-layer tensors, with its step and loss.

    Layouts (S settings first, groups of G consecutive rows share a seed; each bias is
    folded into its weight as an extra input column, so one ``baddbmm_`` updates both):

    - ``"linear"``: θ as (S, 1, p); f = x θ / √p.
    - ``"random_features"``: Aᵀ as (S, k, m); f = φ(x) A / √m.
    - ``"mlp"``: [W1 | b1] as (S, h, p + 1) and [W2 | b2] as (S, k, h + 1);
      f = [tanh([x, 1] [W1 | b1]ᵀ), 1] [W2 | b2]ᵀ.

    Parameters
    ----------
    model : FunctionalModel
        One of ``"linear"``, ``"random_features"``, ``"mlp"``
        (:mod:`alignkit.stability.models`); the layouts follow their ``apply``.
    group : int
        G, the number of consecutive settings that share a seed (S is a multiple of G).
    """

    def __init__(self, model: FunctionalModel, group: int) -> None:
        if model.name not in ("linear", "random_features", "mlp"):
            raise ValueError(f"model must be linear, random_features or mlp, got {model.name!r}")
        x, y = model.x, model.y
        self.mlp, self.group = model.name == "mlp", group
        self.p, self.k, self.width = int(x.shape[1]), int(y.shape[1]), model.width
        self.y = y
        self.c = 1.0 / math.sqrt(model.width)  # the output scale of the linear models
        # inputs (with a ones column for the MLP's bias) and targets, gathered in one go
        self.x = torch.cat([x, torch.ones_like(x[:, :1])], dim=1) if self.mlp else x
        self.xy = torch.cat([self.x, y], dim=1)

    def split(self, theta: torch.Tensor) -> list[torch.Tensor]:
        """Flat parameters (S, d) in the model's ``apply`` order -> the layouts above."""
        S, p, k, w = theta.shape[0], self.p, self.k, self.width
        if not self.mlp:  # linear: k = 1 and m = p
            m = int(self.x.shape[1])
            return [theta.reshape(S, m, k).transpose(1, 2).contiguous()]
        w1, b1, w2, b2 = torch.split(theta, [w * p, w, k * w, k], dim=1)
        return [
            torch.cat([w1.reshape(S, w, p), b1[:, :, None]], dim=2),
            torch.cat([w2.reshape(S, k, w), b2[:, :, None]], dim=2),
        ]

    def join(self, parts: list[torch.Tensor]) -> torch.Tensor:
        """The layouts above -> flat parameters (S, d), in the model's ``apply`` order."""
        if not self.mlp:
            return parts[0].transpose(1, 2).flatten(1)
        w1, w2 = parts
        flat = [w1[..., :-1], w1[..., -1], w2[..., :-1], w2[..., -1]]
        return torch.cat([t.flatten(1) for t in flat], dim=1)

    def loss(self, parts: list[torch.Tensor]) -> torch.Tensor:
        """Full-batch loss (1/n) Σ_i ½‖f(x_i; θ_s) − y_i‖² of every setting, shape (S,)."""
        if self.mlp:
            w1, w2 = parts
            hidden = torch.tanh(torch.matmul(self.x, w1.transpose(1, 2)))  # (S, n, h)
            out = torch.matmul(hidden, w2[..., :-1].transpose(1, 2)) + w2[:, None, :, -1]
        else:
            out = torch.matmul(self.x, parts[0].transpose(1, 2)) * self.c  # (S, n, k)
        return 0.5 * ((out - self.y) ** 2).sum(-1).mean(-1)

    def stepper(
        self, parts: list[torch.Tensor], rate: torch.Tensor
    ) -> Callable[[torch.Tensor], None]:
        """The in-place SGD step of every setting, as a function of the minibatch indices.

        Parameters
        ----------
        parts : list of Tensor
            From :meth:`split`; the step updates them in place.
        rate : Tensor, shape (S, B)
            η_s / B_s on a setting's first B_s columns, 0 on the padding beyond.

        Returns
        -------
        callable
            ``step(idx)`` with ``idx`` of shape (S / G · B,): each group's B minibatch
            indices, group by group. Its buffers and views are made here, once, so a step
            is a handful of kernels writing into preallocated memory.
        """
        G, k, h = self.group, self.k, self.width
        S, B = rate.shape
        groups, cut = S // G, int(self.x.shape[1])
        batch = self.xy.new_empty(groups, B, self.xy.shape[1])  # the gathered minibatches
        flat_batch = batch.view(groups * B, self.xy.shape[1])
        xb, yb = batch[..., :cut], batch[..., cut:]  # (S/G, B, p), (S/G, B, k)
        if not self.mlp:
            wg = parts[0].view(groups, G * k, cut)  # each group's stacked weights
            wg_t = wg.transpose(1, 2)
            rates = rate.reshape(groups, G, B).transpose(1, 2)[..., None].contiguous()
            res = batch.new_empty(groups, B, G * k)
            res4, res_t = res.view(groups, B, G, k), res.transpose(1, 2)
            y4 = yb[:, :, None, :]

            def linear_step(idx: torch.Tensor) -> None:
                torch.index_select(self.xy, 0, idx, out=flat_batch)
                torch.bmm(xb, wg_t, out=res)
                res4.mul_(self.c).sub_(y4).mul_(rates)  # weighted residuals
                wg.baddbmm_(res_t, xb, alpha=-self.c)

            return linear_step

        w1, w2 = parts
        w1g = w1.view(groups, G * h, cut)  # each group's stacked first layers
        w1g_t, w2h_t = w1g.transpose(1, 2), w2[..., :-1].transpose(1, 2)
        rates = rate[:, None, :].contiguous()  # (S, 1, B)
        z = batch.new_empty(groups, B, G * h)
        z_rows = z.view(groups, B, G, h).permute(0, 2, 3, 1)  # as (S/G, G, h, B)
        hidden = batch.new_ones(S, h + 1, B)  # [tanh(z); 1] per setting
        hidden_rows = hidden.view(groups, G, h + 1, B)[:, :, :h]
        a, hidden_t = hidden[:, :h], hidden.transpose(1, 2)
        res = batch.new_empty(S, k, B)
        res4, y4 = res.view(groups, G, k, B), yb.transpose(1, 2)[:, None]
        back, dz = batch.new_empty(S, h, B), batch.new_empty(S, h, B)
        dzg = dz.view(groups, G * h, B)

        def mlp_step(idx: torch.Tensor) -> None:
            torch.index_select(self.xy, 0, idx, out=flat_batch)
            torch.bmm(xb, w1g_t, out=z).tanh_()  # hidden activations, (S/G, B, G·h)
            hidden_rows.copy_(z_rows)
            torch.bmm(w2, hidden, out=res)  # outputs, (S, k, B)
            res4.sub_(y4)
            res.mul_(rates)  # weighted residuals
            torch.bmm(w2h_t, res, out=back)
            torch.ops.aten.tanh_backward.grad_input(back, a, grad_input=dz)  # · (1 − a²)
            w2.baddbmm_(res, hidden_t, alpha=-1.0)
            w1g.baddbmm_(dzg, xb, alpha=-1.0)

        return mlp_step


def train_chunk(
    model: FunctionalModel,
    lr: torch.Tensor,
    bs: torch.Tensor,
    seeds: torch.Tensor,
    theta: torch.Tensor,
    *,
    steps: int,
    replacement: bool,
    check_every: int,
    divergence_factor: float,
) -> tuple[torch.Tensor, ...]:
    """SGD for one chunk of settings; returns (theta, diverged, step, history).

    The settings train as groups of G that share a seed (hence their minibatches), G
    the largest size that divides every seed's count, in hand-batched in-place steps
    (:class:`~alignkit.stability._grid_sgd.GridSGD`) on indices drawn for a block of
    steps at once. A diverged setting is frozen: its final point is kept, its working
    row set to zero with rate zero (so it stays zero), and a group leaves the batch
    once all its settings are frozen.
    """
    order = torch.argsort(seeds, stable=True)  # settings of a seed side by side
    lr, bs, seeds, theta = lr[order], bs[order], seeds[order], theta[order]
    counts = torch.unique_consecutive(seeds, return_counts=True)[1]
    grid = GridSGD(model, math.gcd(*counts.tolist()))
    G, dtype = grid.group, model.x.dtype
    bmax = min(model.n, max(int(bs.max()), MIN_COLUMNS))  # columns, padding included
    mask = torch.arange(bmax, device=bs.device)[None, :] < bs[:, None]
    rate = (mask * (lr / bs)[:, None]).to(dtype)  # η_s / B_s, 0 on the padding columns
    final = theta.clone()
    parts = grid.split(theta)
    loss0 = grid.loss(parts)
    threshold = divergence_factor * loss0.clamp_min(torch.finfo(dtype).tiny)
    div_step = torch.full_like(bs, -1)
    history = [loss0]
    rows = torch.arange(lr.numel(), device=bs.device)  # chunk rows in the working tensors
    live = torch.ones_like(bs, dtype=torch.bool)  # working rows not frozen
    group_seeds = seeds[::G]

    def freeze(new: torch.Tensor, t: int) -> None:
        nonlocal parts, rate, rows, live, group_seeds
        final[rows[new]] = grid.join(parts)[new]
        div_step[rows[new]] = t
        live = live & ~new
        for part in parts:
            part[new] = 0.0
        rate[new] = 0.0
        keep = live.view(-1, G).any(dim=1)  # groups with a live setting
        if not bool(keep.all()):
            rows_kept = keep.repeat_interleave(G)
            parts = [part[rows_kept] for part in parts]
            rate, rows, live = rate[rows_kept], rows[rows_kept], live[rows_kept]
            group_seeds = group_seeds[keep]

    start_bad = ~torch.isfinite(loss0)
    if bool(start_bad.any()):
        freeze(start_bad, 0)
    step = grid.stepper(parts, rate)
    t = 0
    while t < steps:
        stop = min(steps, (t // check_every + 1) * check_every)  # the next loss check
        block = max(1, INDEX_BLOCK // max(1, group_seeds.numel() * bmax))
        for start in range(t, stop, block) if rows.numel() else ():
            count = min(block, stop - start)
            idx = block_indices(group_seeds, start, count, model.n, bmax, replacement)
            for row in idx.reshape(count, -1):
                step(row)
        t = stop
        loss = history[-1].clone()
        if rows.numel():  # every setting of the chunk may have diverged
            current = grid.loss(parts)
            loss[rows[live]] = current[live]
            new = live & (~torch.isfinite(current) | (current > threshold[rows]))
            if bool(new.any()):
                freeze(new, t)
                step = grid.stepper(parts, rate)
        history.append(loss)
    final[rows[live]] = grid.join(parts)[live]
    diverged = div_step >= 0
    unsettled = ~diverged & (history[-1] > loss0)  # ended above its starting loss
    div_step = torch.where(unsettled, steps, div_step)
    back = torch.empty_like(order)
    back[order] = torch.arange(order.numel(), device=order.device)
    return final[back], (diverged | unsettled)[back], div_step[back], torch.stack(history, 1)[back]
