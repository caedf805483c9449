"""Exercise checkers: right answers pass, wrong ones get a hint, the solution is never printed."""

from __future__ import annotations

import pytest

from alignkit.exercises import EXERCISES, check, names


def test_smallest_batch_checker_against_rho(capsys: pytest.CaptureFixture) -> None:
    from alignkit.stability import theory
    from alignkit.stability.toys import linear_regression_hessians

    _, h = linear_regression_hessians(10, 20, seed=0)
    # independent route: the first B whose spectral radius at eta = 0.2 is <= 1
    answer = next(b for b in range(1, 11) if theory.spectral_radius(h, 0.2, b) <= 1 + 1e-12)
    assert check("01-smallest-batch", answer)
    assert capsys.readouterr().out.strip() == "Right."
    assert not check("01-smallest-batch", answer - 1)
    out = capsys.readouterr().out
    assert out.startswith("Not quite. Hint:") and str(answer) not in out
    assert not check("01-smallest-batch", "ten")  # a wrong type is just wrong
    # a computed answer is often a numpy or torch scalar: the same answer
    import numpy as np
    import torch

    for same in (np.int64(answer), torch.tensor(answer), torch.tensor([answer]), np.array(answer)):
        assert check("01-smallest-batch", same), type(same)
    assert not check("01-smallest-batch", torch.tensor([answer, answer]))  # several: wrong
    assert not check("01-smallest-batch", np.float64(answer + 0.5))


def test_no_answer_asks_for_one(capsys: pytest.CaptureFixture) -> None:
    assert not check("01-smallest-batch", None)
    assert "Write your answer first" in capsys.readouterr().out


def test_unknown_exercise_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="exercise must be one of"):
        check("99-nope", 1)
    assert names() == sorted(EXERCISES)


def test_solver_steps_checker(capsys: pytest.CaptureFixture) -> None:
    assert check("05-solver-steps", True)  # converged: the first-order estimate holds
    import numpy as np
    import torch

    assert check("05-solver-steps", np.True_) and check("05-solver-steps", torch.tensor(True))
    assert not check("05-solver-steps", 1) and not check("05-solver-steps", torch.tensor(1))
    assert not check("05-solver-steps", False)
    assert not check("05-solver-steps", "decreases")  # the old answer is not accepted
    assert "Hint" in capsys.readouterr().out


def test_theme_2_checkers(capsys: pytest.CaptureFixture) -> None:
    from alignkit.exercises import _light_mode_divergences

    light = _light_mode_divergences()
    assert "reverse_kl" in light and "forward_kl" not in light  # mode-seeking vs covering
    assert check("03-light-mode", sorted(light))
    assert not check("03-light-mode", ["forward_kl"])
    assert not check("03-light-mode", "reverse_kl")  # a bare string is not a list of names
    assert check("04-entropy-alpha", True)
    assert not check("04-entropy-alpha", "yes")
    assert "Hint" in capsys.readouterr().out


def test_sweep_checker_reads_the_shipped_data() -> None:
    import torch

    from alignkit.stability.sweep_result import load_sweep

    mlp = load_sweep()["mlp"]  # independent: the largest converged lr per batch size, by hand
    tops = [
        float(mlp.lr[mlp.converged & (mlp.batch_size == b)].max())
        for b in torch.unique(mlp.batch_size).tolist()
        if bool((mlp.converged & (mlp.batch_size == b)).any())
    ]
    want = tops == sorted(tops)
    assert check("02-larger-batch", want) and not check("02-larger-batch", not want)


def test_an_answer_in_the_wrong_form_is_told_so_not_hinted(capsys: pytest.CaptureFixture) -> None:
    """A right answer typed as a string, or catalogue labels instead of names, got the
    hint ("Not quite"), which points away from a right answer; now the form is named."""
    cases = [
        ("01-smallest-batch", "4", ["an int", "'4'"]),
        ("02-larger-batch", "True", ["True or False", "'True'"]),
        ("05-solver-steps", 1, ["True or False", "1 (int)"]),
        ("03-light-mode", ["reverse_kl", "foo"], ["['foo']", "'forward_kl'"]),
        ("03-light-mode", ["reverse KL"], ["['reverse KL']", "'reverse_kl'"]),
        ("03-light-mode", "reverse_kl", ["a list of names"]),
    ]
    for exercise, answer, words in cases:
        assert not check(exercise, answer)
        out = capsys.readouterr().out
        assert out.startswith("Not an answer of this exercise's kind:"), out
        assert "Hint" not in out and all(w in out for w in words), (answer, out)


def test_a_right_answer_from_a_generator_is_right(capsys: pytest.CaptureFixture) -> None:
    """The form check must not use up a generator before the comparison reads it."""
    from alignkit.exercises import _light_mode_divergences

    want = sorted(_light_mode_divergences())
    assert check("03-light-mode", (n for n in want)) and check("03-light-mode", iter(want))
    assert capsys.readouterr().out.count("Right.") == 2
