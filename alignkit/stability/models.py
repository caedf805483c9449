"""Three functional models for the SGD stability sweeps (notebook 01, theme 1).

Every model is a pure function ``apply(theta, x) -> outputs`` of a *flat* parameter
vector, so a whole grid of settings is one tensor ``theta`` of shape ``(S, d)`` and
``torch.func.vmap`` lifts any per-setting computation to the grid:

- ``"linear"``: over-parameterized linear regression, f(x) = xᵀθ / √p on Gaussian
  inputs x ∈ R^p with p > n and a scalar teacher target (H_i = x_i x_iᵀ / p).
- ``"random_features"``: a fixed random first layer φ(x) = tanh(W x / √64) on the
  digits (W ~ N(0, 1), computed once) and a trained linear head, f = φ(x) A / √m
  with A ∈ R^{m×10}; ``apply`` takes the features φ(x).
- ``"mlp"``: a 64-h-10 tanh network on the digits, all 10 outputs trained,
  parameters (W1, b1, W2, b2) flattened in the order of
  ``nn.Sequential(nn.Linear(64, h), nn.Tanh(), nn.Linear(h, 10)).parameters()``.

The digits are scikit-learn's bundled 8×8 images (``load_digits``), each pixel
standardized over the full set of 1797 images, with one-hot targets. Square loss
throughout: L(θ) = (1/n) Σ_i ½ ‖f(x_i; θ) − y_i‖².
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from alignkit._checks import check_choice, check_float_dtype, check_int
from alignkit.device import DEFAULT_DTYPE, get_device, make_generator

__all__ = ["FunctionalModel", "MODELS", "make_model", "load_digits_subset"]

Apply = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class FunctionalModel:
    """A model as a pure function of a flat parameter vector, with its data.

    Attributes
    ----------
    name : str
        Registry key (``"linear"``, ``"random_features"`` or ``"mlp"``).
    apply : callable
        ``apply(theta, x)`` with ``theta`` of shape (d,) and ``x`` of shape (m, p)
        returns the outputs, shape (m, k). Lift with ``torch.func.vmap`` for a grid.
    x : Tensor, shape (n, p)
        Training inputs (for ``"random_features"``: the features φ(x_i), shape (n, m),
        since the fixed first layer is applied once when the model is built).
    y : Tensor, shape (n, k)
        Training targets.
    num_params : int
        d, the length of the flat parameter vector.
    width : int
        The model's size knob (input dimension p, number of features m, hidden width h).
    init_kind : str
        ``"normal"`` (θ ~ N(0, 1)) or ``"torch_linear"`` (PyTorch's ``nn.Linear`` default,
        U(−1/√fan_in, 1/√fan_in) for weights and biases).
    """

    name: str
    apply: Apply
    x: torch.Tensor
    y: torch.Tensor
    num_params: int
    width: int
    init_kind: str

    @property
    def n(self) -> int:
        """Number of training samples."""
        return int(self.x.shape[0])

    def init(self, seeds: list[int] | tuple[int, ...]) -> torch.Tensor:
        """Initial parameters for each seed, shape (len(seeds), d).

        Drawn with a CPU generator per seed (so CPU and CUDA runs start from the same
        point), then moved to the model's device and dtype.
        """
        if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__"):
            raise TypeError(f"seeds must be a list of integer seeds, got {seeds!r}")
        seeds = [check_int(s, "seeds", low=0, high=2**63 - 1) for s in seeds]
        if not seeds:
            raise ValueError("seeds must hold at least one integer seed, got []")
        rows = []
        for seed in seeds:
            gen = make_generator(seed, device="cpu")
            rows.append(_init_vector(self, gen))
        return torch.stack(rows).to(device=self.x.device, dtype=self.x.dtype)


def _init_vector(model: FunctionalModel, gen: torch.Generator) -> torch.Tensor:
    d = model.num_params
    if model.init_kind == "normal":
        return torch.randn(d, generator=gen, dtype=torch.float64)
    h = model.width
    p, k = int(model.x.shape[1]), int(model.y.shape[1])
    parts = []
    for numel, fan_in in ((h * p, p), (h, p), (k * h, h), (k, h)):
        bound = 1.0 / math.sqrt(fan_in)
        parts.append((torch.rand(numel, generator=gen, dtype=torch.float64) * 2 - 1) * bound)
    return torch.cat(parts)


def load_digits_subset(
    n: int,
    *,
    seed: int = 0,
    device: str | torch.device | None = None,
    dtype: torch.dtype = DEFAULT_DTYPE,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A random subset of scikit-learn's bundled digits, standardized, one-hot targets.

    Parameters
    ----------
    n : int
        Number of samples, in [1, 1797].
    seed : int, default=0
        Chooses the subset.
    device : str or torch.device, optional
        ``None`` (default) means :func:`alignkit.device.get_device`.
    dtype : torch.dtype, default=float32

    Returns
    -------
    x : Tensor, shape (n, 64)
        Pixels standardized per feature over all 1797 images (constant pixels are 0).
    y : Tensor, shape (n, 10)
        One-hot labels.
    """
    from sklearn.datasets import load_digits

    n = check_int(n, "n", low=1, high=1797)
    seed = check_int(seed, "seed", low=0, high=2**63 - 1)
    dtype = check_float_dtype(dtype)
    dev = get_device(device)
    data = load_digits()
    x_all = torch.as_tensor(data.data, dtype=torch.float64)
    std = x_all.std(dim=0)
    x_all = (x_all - x_all.mean(dim=0)) / torch.where(std > 0, std, torch.ones_like(std))
    gen = make_generator(seed, device="cpu")
    idx = torch.randperm(x_all.shape[0], generator=gen)[:n]
    labels = torch.as_tensor(data.target, dtype=torch.int64)[idx]
    y = torch.nn.functional.one_hot(labels, 10).to(torch.float64)
    return x_all[idx].to(device=dev, dtype=dtype), y.to(device=dev, dtype=dtype)


def _make_linear(
    n: int, width: int, seed: int, device: torch.device, dtype: torch.dtype
) -> FunctionalModel:
    if width <= n:
        raise ValueError(
            f"width must be larger than n for over-parameterized linear regression "
            f"(width > {n}), got {width}"
        )
    gen = make_generator(seed, device="cpu")
    x = torch.randn(n, width, generator=gen, dtype=torch.float64)
    teacher = torch.randn(width, generator=gen, dtype=torch.float64)
    y = (x @ teacher / math.sqrt(width))[:, None]
    scale = 1.0 / math.sqrt(width)

    def apply(theta: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        return (inputs @ theta)[:, None] * scale

    return FunctionalModel(
        "linear",
        apply,
        x.to(device=device, dtype=dtype),
        y.to(device=device, dtype=dtype),
        width,
        width,
        "normal",
    )


def _make_random_features(
    n: int, width: int, seed: int, device: torch.device, dtype: torch.dtype
) -> FunctionalModel:
    x, y = load_digits_subset(n, seed=seed, device="cpu", dtype=torch.float64)
    gen = make_generator(seed + 1, device="cpu")
    first_layer = torch.randn(width, x.shape[1], generator=gen, dtype=torch.float64)
    features = torch.tanh(x @ first_layer.T / math.sqrt(x.shape[1]))  # fixed: computed once
    k = int(y.shape[1])
    scale = 1.0 / math.sqrt(width)

    def apply(theta: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        return inputs @ theta.reshape(width, k) * scale

    return FunctionalModel(
        "random_features",
        apply,
        features.to(device=device, dtype=dtype),
        y.to(device=device, dtype=dtype),
        width * k,
        width,
        "normal",
    )


def _make_mlp(
    n: int, width: int, seed: int, device: torch.device, dtype: torch.dtype
) -> FunctionalModel:
    x, y = load_digits_subset(n, seed=seed, device=device, dtype=dtype)
    p, k, h = int(x.shape[1]), int(y.shape[1]), width
    sizes = [h * p, h, k * h, k]
    d = sum(sizes)

    def apply(theta: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        w1, b1, w2, b2 = torch.split(theta, sizes)
        hidden = torch.tanh(inputs @ w1.reshape(h, p).T + b1)
        return hidden @ w2.reshape(k, h).T + b2

    return FunctionalModel("mlp", apply, x, y, d, h, "torch_linear")


MODELS: dict[str, Callable[[int, int, int, torch.device, torch.dtype], FunctionalModel]] = {
    "linear": _make_linear,
    "random_features": _make_random_features,
    "mlp": _make_mlp,
}

#: Default (n, width) per model: full size, fast mode.
DEFAULT_SIZES: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "linear": ((32, 128), (16, 48)),
    "random_features": ((32, 64), (16, 32)),
    "mlp": ((32, 12), (16, 6)),
}


def make_model(
    name: str,
    *,
    n: int | None = None,
    width: int | None = None,
    data_seed: int = 0,
    device: str | torch.device | None = None,
    dtype: torch.dtype = DEFAULT_DTYPE,
) -> FunctionalModel:
    """Build one of the registered functional models with its training data.

    Parameters
    ----------
    name : {"linear", "random_features", "mlp"}
        Registry key in :data:`MODELS`.
    n : int, optional
        Number of training samples (``None``: the model's default, smaller in fast mode).
    width : int, optional
        Input dimension (linear, must exceed n), number of random features, or hidden
        width of the MLP. ``None``: the model's default.
    data_seed : int, default=0
        Seeds the data (Gaussian inputs, digits subset) and the fixed random features.
    device : str or torch.device, optional
        ``None`` (default) means :func:`alignkit.device.get_device`.
    dtype : torch.dtype, default=float32

    Returns
    -------
    FunctionalModel

    Raises
    ------
    ValueError
        Unknown ``name``, ``n`` or ``width`` out of range.
    """
    from alignkit.device import pick

    name = check_choice(name, "name", MODELS)
    full, fast = DEFAULT_SIZES[name]
    default_n, default_width = pick(full, fast)
    n = check_int(default_n if n is None else n, "n", low=2, high=1797)
    width = check_int(default_width if width is None else width, "width", low=1, high=100_000)
    data_seed = check_int(data_seed, "data_seed", low=0, high=2**31 - 1)
    dtype = check_float_dtype(dtype)
    return MODELS[name](n, width, data_seed, get_device(device), dtype)
