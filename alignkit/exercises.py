"""Exercise checkers: say right or wrong (with a hint) without printing the solution.

In a notebook, after an exercise::

    from alignkit.exercises import check
    check("01-smallest-batch", answer)

The expected answer is computed by the kit when the cell runs (never stored as a typed
number), so the student copy (``alignkit student``) can check answers too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from alignkit._checks import check_choice

__all__ = ["Exercise", "EXERCISES", "check", "names"]


@dataclass(frozen=True)
class Exercise:
    """One exercise: what the answer is (a description), how to compute it, and a hint."""

    question: str
    expected: Callable[[], Any]
    hint: str
    compare: Callable[[Any, Any], bool] = lambda got, want: bool(got == want)


def _smallest_stable_batch() -> int:
    import torch

    from alignkit.stability import theory
    from alignkit.stability.toys import linear_regression_hessians

    _, hessians = linear_regression_hessians(10, 20, seed=0)
    sizes = torch.arange(1, 11)
    curve = theory.threshold_curve(hessians, sizes)
    return int(sizes[curve >= 0.2][0])


def _distance_shrinks_with_steps() -> str:
    from alignkit.manifold.views import sampling_view

    coarse, fine = (
        sampling_view("circle2d", "exact", "bias", 1.0, steps=s).mean_distance for s in (10, 80)
    )
    dist = [coarse, fine]
    return "decreases" if dist[1] < dist[0] else "does not decrease"


EXERCISES: dict[str, Exercise] = {
    "01-smallest-batch": Exercise(
        question="notebook 01: the smallest batch size (without replacement) for which the "
        "regression minimum (n = 10, d = 20, seed 0) is linearly stable at eta = 0.2 (an int)",
        expected=_smallest_stable_batch,
        hint="eta*(B) never decreases with B: compute T.threshold_curve(H, torch.arange(1, 11)) "
        "and find the first B whose threshold is at least 0.2.",
    ),
    "05-solver-steps": Exercise(
        question="notebook 05: as the number of RK4 steps grows, the mean distance to the circle "
        "('decreases' or 'does not decrease')",
        expected=_distance_shrinks_with_steps,
        hint="the normal contraction rate 1/(1 - t) grows without bound near t = 1: what can a "
        "coarse solver do with a fast contraction? Try sampling_view(..., steps=s) for a few s.",
        compare=lambda got, want: str(got).strip().lower() == want,
    ),
}


def names() -> list[str]:
    """The exercise ids."""
    return sorted(EXERCISES)


def check(exercise: str, answer: Any) -> bool:
    """Print whether ``answer`` is right (and a hint when it is not); return it as a bool."""
    exercise = check_choice(exercise, "exercise", EXERCISES)
    item = EXERCISES[exercise]
    if answer is None:
        print(f"Write your answer first: {item.question}.")
        return False
    try:
        right = item.compare(answer, item.expected())
    except (TypeError, ValueError):
        right = False
    if right:
        print("Right.")
    else:
        print(f"Not quite. Hint: {item.hint}")
    return right
