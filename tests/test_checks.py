import math

import pytest
import torch

from alignkit._checks import check_choice, check_int, check_scalar, check_shape


@pytest.mark.parametrize("value", [0.1, 1, 3.0, torch.tensor(2.0)])
def test_check_scalar_accepts_in_range(value: object) -> None:
    assert check_scalar(value, "lr", low=0, closed="right") == float(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "closed", "pattern"),
    [
        (0.0, "right", r"lr must be in \(0, inf\], got 0"),
        (-1.0, "both", r"lr must be in \[0, inf\], got -1"),
        (math.nan, "both", r"lr must be a finite number"),
        (math.inf, "both", r"lr must be a finite number"),
    ],
)
def test_check_scalar_rejects(value: float, closed: str, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        check_scalar(value, "lr", low=0, closed=closed)


def test_check_scalar_types() -> None:
    with pytest.raises(TypeError, match="lr must be a real number"):
        check_scalar("0.1", "lr")
    with pytest.raises(TypeError, match="lr must be a real number"):
        check_scalar(True, "lr")


def test_check_int() -> None:
    assert check_int(3, "batch_size", low=1, high=8) == 3
    assert check_int(4.0, "batch_size", low=1) == 4
    with pytest.raises(ValueError, match=r"batch_size must be an integer in \[1, 8\], got 9"):
        check_int(9, "batch_size", low=1, high=8)
    with pytest.raises(TypeError, match="batch_size must be an integer"):
        check_int(2.5, "batch_size")
    # an integer-valued float far out of range: the value short, not its 309 digits
    with pytest.raises(
        ValueError, match=r"steps must be an integer in \[1, 100\], got 1\.00000e\+308$"
    ):
        check_int(1e308, "steps", low=1, high=100)
    with pytest.raises(ValueError, match=r"got -1\.23457e\+19$"):
        check_int(-12345678901234567890, "steps", low=1)


def test_check_choice_lists_options() -> None:
    assert check_choice("b", "model", {"a": 1, "b": 2}) == "b"
    with pytest.raises(ValueError, match=r"model must be one of \['a', 'b'\], got 'c'"):
        check_choice("c", "model", {"b": 1, "a": 2})
    with pytest.raises(TypeError, match=r"model must be one of \['a', 'b'\] \(a str\), got 3"):
        check_choice(3, "model", {"b": 1, "a": 2})  # a wrong type: TypeError, not ValueError


def test_check_shape() -> None:
    check_shape((2, 3, 3), "H", "(n, d, d)", True)
    with pytest.raises(ValueError, match=r"H must have shape \(n, d, d\), got \(2, 3\)"):
        check_shape((2, 3), "H", "(n, d, d)", False)


def test_good_values_pass_unchanged() -> None:
    """The new checks accept every legitimate form and keep Python floats exact (float64)."""
    import numpy as np

    from alignkit._checks import check_bool, check_float_dtype, check_values

    assert float(check_values(1.6, "lr")) == 1.6  # not rounded through float32
    assert check_values([1, 2], "b").dtype == torch.float64
    assert (
        check_values(torch.tensor([0.5], dtype=torch.float32), "lr", low=0).dtype == torch.float64
    )
    assert check_int(np.int64(3), "n") == 3 and check_int(torch.tensor(4), "n") == 4
    assert check_bool(np.bool_(True), "replacement") is True
    assert check_float_dtype(torch.float64) == torch.float64
    assert check_scalar(np.float32(0.25), "lr") == 0.25


def test_a_value_just_outside_prints_unlike_the_bound() -> None:
    """0.19999999999999 against [0.2, 4] printed as "got 0.2", which reads as inside."""
    from alignkit._checks import check_scalar

    with pytest.raises(ValueError, match=r"must be in \[0\.2, 4\], got 0\.19999999999999$"):
        check_scalar(0.19999999999999, "init_std", low=0.2, high=4.0)
    with pytest.raises(ValueError, match=r"got 5$"):
        check_scalar(5.0, "init_std", low=0.2, high=4.0)


def test_a_float32_grid_value_is_that_grid_value() -> None:
    """torch.tensor(0.1) is float32's 0.1 (0.10000000149...): the ε slider's 0.1, not an
    error whose message said "got 0.1"."""
    import torch

    from alignkit.manifold.widgets import sampling_explorer

    panel = sampling_explorer(eps=torch.tensor(0.1))
    try:
        assert panel.controls["eps"].value == 0.1
    finally:
        panel.close()
    with pytest.raises(ValueError, match=r"got 0\.12$"):
        sampling_explorer(eps=0.12)


def test_counts_beyond_memory_are_named_not_raw() -> None:
    """Sample and probe counts no machine holds: a ValueError naming the count, not the
    allocator's RuntimeError, a MemoryError or an OverflowError."""
    import torch

    from alignkit.divergences.mixture import GaussianMixture
    from alignkit.numerics.trace import operator_trace
    from alignkit.stability.conditions import sampling_factor

    with pytest.raises(ValueError, match=r"^n must be an integer in \[1, 1e\+08\]"):
        GaussianMixture([0.0]).sample(10**12)
    with pytest.raises(ValueError, match=r"^samples must be an integer in \[1, 1e\+07\]"):
        operator_trace(lambda v: v, 3, samples=2**64)
    with pytest.raises(ValueError, match=r"^n must be an integer in \[1, 1e\+12\]"):
        sampling_factor(2**64, 3)
    assert operator_trace(lambda v: 2.0 * v, 3, samples=4, dtype=torch.float64).value > 0


def test_helpers_name_what_they_were_given() -> None:
    """check_integer_valued on a list or a complex tensor, check_choice without a registry:
    TypeErrors naming the argument (were AttributeError / NotImplementedError / a bare
    TypeError from sorted)."""
    import torch

    from alignkit._checks import check_choice, check_integer_valued

    with pytest.raises(TypeError, match=r"^b must be a real tensor of integers"):
        check_integer_valued([1.5], "b")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^b must be a real tensor of integers"):
        check_integer_valued(torch.tensor([1 + 0j]), "b")
    with pytest.raises(TypeError, match=r"^choices must be"):
        check_choice("x", "n", None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^b must be integers >= 1, got 1.5"):
        check_integer_valued(torch.tensor([1.5]), "b")
