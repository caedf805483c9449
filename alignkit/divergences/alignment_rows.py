"""The alignment explorer's training, one control's row of positions per run.

Training the toy LM (150 f-DPG steps) costs far more than a slider move may (issue 15:
≤ 50 ms). f-DPG trains any number of settings in one batched run, so when a control moves
to a value not trained yet, :class:`AlignmentRows` trains, in ONE run, the row of that
control's positions at the other controls' current values — every divergence at the
current β, both targets, and the ``max_row`` (25) slider positions nearest the new β or α
(the β slider has 41, the α slider 141: a 25-setting run costs about 0.5 s on one CPU
core, the whole 41-position β row about 1 s) — and keeps the row (the last ``max_rows``
rows). Later moves along that control are lookups. Each setting of a row is
trained exactly as :func:`alignment_view` trains it alone (Adam is per coordinate and the
settings' losses are summed, so the batch changes nothing but float rounding; tested).
Used by :func:`alignkit.divergences.widgets.alignment_explorer` (notebook 04).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from alignkit._checks import check_choice, check_int, check_scalar
from alignkit.divergences.align import train_fdpg
from alignkit.divergences.catalogue import names
from alignkit.divergences.views import TARGETS, AlignmentView, _alignment_result, _lm_target

__all__ = ["AlignmentRows"]

#: (divergence, α or NaN outside the α family, β or NaN for the constraint target, target)
Point = tuple[str, float, float, str]
_CONTROLS = ("divergence", "alpha", "beta", "target")


def _point(divergence: str, alpha: float, beta: float, target: str) -> Point:
    """The setting a state trains: α only for the α family, β only for the reward target."""
    return (divergence, alpha if divergence == "alpha" else math.nan,
            beta if target == "reward" else math.nan, target)  # fmt: skip


def _key(p: Point) -> tuple[object, ...]:
    """Hashable lookup key: α and log β rounded to 1e-9, so a slider value that differs from
    its grid position by float rounding (the browser computes it) finds the trained row."""
    a = None if math.isnan(p[1]) else round(p[1], 9)
    b = None if math.isnan(p[2]) else round(math.log10(p[2]), 9)
    return (p[0], a, b, p[3])


@dataclass(frozen=True)
class _Row:
    points: tuple[Point, ...]
    log_pi: torch.Tensor  # (S, N) trained models
    objective: torch.Tensor  # (S, T+1)
    infinite: torch.Tensor  # (S,)


class AlignmentRows:
    """f-DPG results for the alignment explorer, trained a control's row at a time.

    Parameters
    ----------
    alphas, betas : sequence of float
        The α and β slider positions (the rows' grids).
    steps : int
        Adam steps per run (as :func:`alignment_view`).
    max_rows : int, default=8
        Rows kept (LRU); each row holds (S, 4096) float64 models, S ≤ ``max_row``.
    max_row : int, default=25
        Most slider positions per run: a longer grid (the β slider's 41 positions, the α
        slider's 141) is trained as the ``max_row`` positions nearest the new value.
    top : int, default=30
        Sequences shown per view.
    first_row : {None, "beta"}, default=None
        What the first view trains: that setting alone, or (``"beta"``, on the reward
        target) the whole β row around it, every β slider position in one run (about 1 s
        on one CPU core instead of 0.07 s), so that no later β move at those values trains.
    """

    def __init__(
        self, alphas: Sequence[float], betas: Sequence[float], *, steps: int = 150,
        max_rows: int = 8, max_row: int = 25, top: int = 30, first_row: str | None = None,
    ) -> None:  # fmt: skip
        for name, grid in (("alphas", alphas), ("betas", betas)):
            if isinstance(grid, (str, bytes)) or not isinstance(grid, Sequence):
                raise TypeError(f"{name} must be a sequence of numbers, got {grid!r:.60}")
        self.alphas = tuple(check_scalar(a, "alphas", low=-3.0, high=4.0) for a in alphas)
        self.betas = tuple(check_scalar(b, "betas", low=0.01, high=100.0) for b in betas)
        if not self.alphas or not self.betas:
            raise ValueError("alphas and betas must each hold at least one position")
        self.steps = check_int(steps, "steps", low=0, high=100_000)
        self.max_rows = check_int(max_rows, "max_rows", low=1, high=1000)
        self.max_row = check_int(max_row, "max_row", low=2, high=1000)
        self.top = check_int(top, "top", low=1, high=200)
        if first_row is not None and not isinstance(first_row, str):
            raise TypeError(f"first_row must be None or 'beta', got {type(first_row).__name__}")
        if first_row is not None and first_row != "beta":
            raise ValueError(f"first_row must be None or 'beta', got {first_row!r}")
        self.first_row = first_row
        self.rows: OrderedDict[tuple[object, ...], _Row] = OrderedDict()
        self.runs: list[int] = []  # settings trained per run (for the report and tests)
        self._last: Point | None = None

    def view(
        self, divergence: str, alpha: float, beta: float, target: str,
        progress: Callable[[int, int], None] | None = None,
    ) -> AlignmentView:  # fmt: skip
        """The view at these control values: a lookup, or one batched run of the row of
        the control that moved (a single setting when none or several moved)."""
        check_choice(divergence, "divergence", names())
        check_choice(target, "target", TARGETS)
        alpha = check_scalar(alpha, "alpha", low=-3.0, high=4.0)
        beta = check_scalar(beta, "beta", low=0.01, high=100.0)
        p = _point(divergence, alpha, beta, target)
        found = self._find(p)
        if found is None:
            self._train(self._row(p, (divergence, alpha, beta, target)), progress)
            found = self._find(p)
            assert found is not None
        row, s = found
        self._last = p
        return _alignment_result(divergence, alpha, beta, target, row.log_pi[s],
                                 row.objective[s], bool(row.infinite[s]), self.top)  # fmt: skip

    def _find(self, p: Point) -> tuple[_Row, int] | None:
        key = _key(p)
        for row_key, row in reversed(self.rows.items()):
            for s, q in enumerate(row.points):
                if _key(q) == key:
                    self.rows.move_to_end(row_key)
                    return row, s
        return None

    def _row(self, p: Point, raw: tuple[str, float, float, str]) -> list[Point]:
        """The row to train for ``p``: along the one control that differs from the last
        point, the others at their current (``raw``) values; or ``p`` alone."""
        if self._last is None:
            if self.first_row == "beta" and p[3] == "reward":  # every β position, and β
                betas = [*self.betas, raw[2]]  # (β off the grid: added to it)
                if _nearest(self.betas, raw[2]) is not None:
                    betas = _window(self.betas, raw[2], len(self.betas))
                return [_point(raw[0], raw[1], b, p[3]) for b in betas]
            return [p]
        before, now = _key(self._last), _key(p)
        moved = {c for c, a, b in zip(_CONTROLS, before, now, strict=True) if a != b}
        div, alpha, beta, target = raw
        # a divergence move shows or hides α, a target move β: those change with them
        if moved - {"alpha"} == {"divergence"}:
            return [_point(n, alpha, beta, target) for n in names()]
        if moved == {"alpha"}:
            alphas = _window(self.alphas, alpha, self.max_row)
            return [_point(div, a, beta, target) for a in alphas]
        if moved == {"beta"}:
            betas = _window(self.betas, beta, self.max_row)
            return [_point(div, alpha, b, target) for b in betas]
        if moved - {"beta"} == {"target"}:
            return [_point(div, alpha, beta, t) for t in TARGETS]
        return [p]

    def _train(self, points: list[Point], progress: Callable[[int, int], None] | None) -> None:
        log_p = torch.stack([_lm_target(t, 1.0 if math.isnan(b) else b)[1]
                             for _, _, b, t in points])  # fmt: skip
        lm = _lm_target(points[0][3], 1.0)[0]
        settings = [(d, a) for d, a, _, _ in points]
        run = train_fdpg(lm, log_p, settings, steps=self.steps, progress=progress)
        self.runs.append(len(points))
        key = (len(self.runs),)
        self.rows[key] = _Row(tuple(points), run.log_pi, run.objective, run.infinite)
        while len(self.rows) > self.max_rows:
            self.rows.popitem(last=False)


def _nearest(grid: Sequence[float], value: float) -> int | None:
    """The index of ``value``'s grid position (to 1e-9, relative above 1), or None when it
    is off the grid (set from code, not by the slider)."""
    nearest = min(range(len(grid)), key=lambda i: abs(grid[i] - value))
    return nearest if abs(grid[nearest] - value) <= 1e-9 * max(1.0, abs(value)) else None


def _window(grid: Sequence[float], value: float, size: int) -> list[float]:
    """The ``size`` grid positions nearest ``value`` (a contiguous run) with ``value`` itself
    in place of its grid position; ``[value]`` alone when it is off the grid (the row would
    not be reached by sliding)."""
    nearest = _nearest(grid, value)
    if nearest is None:
        return [value]
    lo = max(0, min(nearest - size // 2, len(grid) - size))
    out = list(grid[lo : lo + size])
    out[nearest - lo] = value
    return out
