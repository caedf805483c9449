"""Exercise checkers: say right or wrong (with a hint) without printing the solution.

In a notebook, after an exercise::

    from alignkit.exercises import check
    check("01-smallest-batch", answer)

The expected answer is computed by the kit when the cell runs (never stored as a typed
number), so the student copy (``alignkit student``) can check answers too.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
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
    #: what is wrong with the answer's form (a str instead of an int, an unknown name), or
    #: None: said instead of the hint, which would mislead a right answer in the wrong form
    form: Callable[[Any], str | None] = lambda got: None


def _smallest_stable_batch() -> int:
    import torch

    from alignkit.stability import theory
    from alignkit.stability.toys import linear_regression_hessians

    _, hessians = linear_regression_hessians(10, 20, seed=0)
    sizes = torch.arange(1, 11)
    curve = theory.threshold_curve(hessians, sizes)
    return int(sizes[curve >= 0.2][0])


def _larger_batch_converges_at_larger_lr() -> bool:
    import torch

    from alignkit.stability.sweep_result import load_sweep

    mlp = load_sweep()["mlp"]
    tops = []
    for b in torch.unique(mlp.batch_size).tolist():
        rows = mlp.converged & (mlp.batch_size == b)
        if bool(rows.any()):
            tops.append(float(mlp.lr[rows].max()))
    return len(tops) > 1 and all(a <= b for a, b in zip(tops, tops[1:], strict=False))


@functools.lru_cache(maxsize=1)
def _converged_distance_matches_first_order() -> bool:
    """Notebook 05: bias ε = 1, 640 RK4 steps, against (1 − T) ln(1/(1 − T)) b·n + offset."""
    import math

    import torch

    from alignkit.manifold.dynamics import generate
    from alignkit.manifold.fields import perturb
    from alignkit.manifold.views import get_model

    circle, exact = get_model("circle2d", "exact")
    biased = perturb(exact, "bias", 1.0, seed=1)
    z, t = torch.zeros(2), torch.tensor(0.5)
    b = biased.velocity(z, t) - exact.velocity(z, t)
    dist = float(circle.distance_to_manifold(generate(biased, 200, steps=640, seed=0)).mean())
    x0 = generate(exact, 200, steps=640, seed=0)
    r0 = x0.norm(dim=1)
    gain = (1 - exact.t_end) * math.log(1 / (1 - exact.t_end))
    estimate = float((r0 - 1 + gain * (x0 / r0[:, None]) @ b).abs().mean())
    return 0.5 * estimate < dist < 2 * estimate


def _light_mode_divergences() -> frozenset[str]:
    import math

    from alignkit.device import pick
    from alignkit.divergences import names as divergence_names
    from alignkit.divergences.fit import fit_panel
    from alignkit.divergences.views import target_mixture

    target = target_mixture(n_modes=2, separation=4.0, weight=0.8)
    settings = [(n, math.nan) for n in divergence_names() if n != "alpha"]
    fits = fit_panel(target, settings, init=(1.5, 0.5), steps=pick(300, 200))
    means, stds = fits.mean[:, 0].tolist(), fits.std[:, 0].tolist()
    return frozenset(
        name for (name, _), mu, sd in zip(settings, means, stds, strict=True) if mu > 1 and sd < 1
    )


def _entropy_increases_with_alpha() -> bool:
    from alignkit.device import pick
    from alignkit.divergences.align import metrics, train_fdpg
    from alignkit.divergences.toylm import count_reward, reward_target, toy_lm

    lm = toy_lm(4, 6, seed=0)
    reward = count_reward(lm)
    target = reward_target(lm, reward, 0.1)
    alphas = (-1.0, 0.0, 0.5, 1.0, 2.0)
    run = train_fdpg(lm, target, [("alpha", a) for a in alphas], steps=pick(300, 150), polish=300)
    entropy = metrics(lm, run.log_pi, target, reward=reward)["entropy"].tolist()
    return all(h1 < h2 for h1, h2 in zip(entropy[:-1], entropy[1:], strict=True))


def _plain(answer: Any) -> Any:
    """A numpy scalar or a one-value tensor/array as its Python value (``np.True_``,
    ``torch.tensor(4)``: what a computed answer often is); anything else unchanged."""
    import numpy as np
    import torch

    if isinstance(answer, np.generic):
        return answer.item()
    if isinstance(answer, torch.Tensor) and answer.numel() == 1:
        return answer.item()
    if isinstance(answer, np.ndarray) and answer.size == 1:
        return answer.item()
    return answer


def _same_bool(got: Any, want: bool) -> bool:
    """A True/False answer: only a real bool can be right."""
    return isinstance(got, bool) and got == want


def _an_int(got: Any) -> str | None:
    if isinstance(got, bool) or not isinstance(got, (int, float)):
        return f"the answer is a whole number (an int), got {got!r} ({type(got).__name__})"
    return None


def _a_bool(got: Any) -> str | None:
    if not isinstance(got, bool):
        return f"the answer is True or False (a bool), got {got!r} ({type(got).__name__})"
    return None


def _divergence_names(got: Any) -> str | None:
    from alignkit.divergences import names as divergence_names

    valid = [n for n in divergence_names() if n != "alpha"]
    if isinstance(got, str) or not hasattr(got, "__iter__"):
        return f"the answer is a list of names among {valid}, got {got!r}"
    unknown = [g for g in got if g not in valid]
    if unknown:
        return (
            f"the answer's names are those of alignkit.divergences.names() without 'alpha', "
            f"{valid}; got {unknown}"
        )
    return None


def _same_names(got: Any, want: frozenset[str]) -> bool:
    if isinstance(got, str) or not hasattr(got, "__iter__"):
        return False
    return frozenset(str(g) for g in got) == want


EXERCISES: dict[str, Exercise] = {
    "01-smallest-batch": Exercise(
        question="notebook 01: the smallest batch size (without replacement) for which the "
        "regression minimum (n = 10, d = 20, seed 0) is linearly stable at eta = 0.2 (an int)",
        expected=_smallest_stable_batch,
        hint="eta*(B) never decreases with B: compute T.threshold_curve(H, torch.arange(1, 11)) "
        "and find the first B whose threshold is at least 0.2.",
        form=_an_int,
    ),
    "05-solver-steps": Exercise(
        question="notebook 05: with the bias error eps = 1 on the circle and enough RK4 steps, "
        "does the mean distance agree within a factor of 2 with the first-order estimate "
        "(1 - T) ln(1/(1 - T)) b.n plus each sample's offset at eps = 0 (True or False)",
        expected=_converged_distance_matches_first_order,
        hint="a distance from a coarse grid is solver error (it can be too large or too small): "
        "increase the steps (10 ... 640) until the distance stops changing, then compare.",
        compare=_same_bool,
        form=_a_bool,
    ),
    "02-larger-batch": Exercise(
        question="notebook 02: in the shipped MLP sweep, does a larger B let SGD converge at a "
        "larger (or equal) largest learning rate (True or False)",
        expected=_larger_batch_converges_at_larger_lr,
        hint="for each batch size keep the converged runs (sweep.converged) and take the largest "
        "lr among them; then compare across batch sizes.",
        compare=_same_bool,
        form=_a_bool,
    ),
    "03-light-mode": Exercise(
        question="notebook 03: the catalogue divergences (names from divergences.names(), "
        "without 'alpha') whose fit from mu0 = 1.5, sigma0 = 0.5 ends on the light mode (a list)",
        expected=_light_mode_divergences,
        hint="f(0) alone does not decide it (Jensen-Shannon and squared Hellinger have a finite "
        "f(0), Jeffreys an infinite one): run one fit_panel call from (1.5, 0.5) and keep the "
        "fits whose mean is near the light mode with a narrow std.",
        compare=_same_names,
        form=_divergence_names,
    ),
    "04-entropy-alpha": Exercise(
        question="notebook 04: does the trained model's entropy increase with alpha over "
        "(-1, 0, 0.5, 1, 2) against the beta = 0.1 reward target (True or False)",
        expected=_entropy_increases_with_alpha,
        hint="alpha <= 0 is mode-seeking and alpha >= 1 mass-covering: train all five alphas "
        "in one train_fdpg call and compare metrics(...)['entropy'].",
        compare=_same_bool,
        form=_a_bool,
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
    if isinstance(answer, Iterator):  # (a generator: read it once, for both checks)
        answer = list(answer)
    wrong_form = item.form(_plain(answer))
    if wrong_form is not None:
        print(f"Not an answer of this exercise's kind: {wrong_form}.")
        return False
    try:
        right = bool(item.compare(_plain(answer), item.expected()))
    except (TypeError, ValueError, RuntimeError):  # (a tensor of several values as an int)
        right = False
    if right:
        print("Right.")
    else:
        print(f"Not quite. Hint: {item.hint}")
    return right
