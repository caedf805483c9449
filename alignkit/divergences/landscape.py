"""The objective landscape D_f(P‖N(μ, σ²)) over (μ, σ), its local minima, and descent on it.

One batched evaluation gives the whole surface; :func:`descend_landscape` follows steepest
descent over the grid cells from a start to the local minimum whose basin holds it, then
refines that minimum with a quadratic fit on its 3×3 neighbourhood; :func:`refine_minimum`
refines it further off the grid and says whether the end is stationary. It is the
explorer's fast route to "where does gradient descent from here end up" (checked against
:func:`~alignkit.divergences.fit.fit_gaussian` in the tests). Taught in notebook 03.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from alignkit._checks import check_scalar, check_values
from alignkit.divergences._args import check_mixture
from alignkit.divergences.catalogue import Divergence, get
from alignkit.divergences.fit import (
    _infinite_tails,
    _kinked,
    _objective,
    _quadrature_grid,
    stationary,
)
from alignkit.divergences.mixture import GaussianMixture

__all__ = [
    "Landscape",
    "landscape",
    "LandscapeDescent",
    "descend_landscape",
    "RefinedMinimum",
    "refine_minimum",
]

Tensor = torch.Tensor


@dataclass(frozen=True)
class Landscape:
    """D_f(P‖N(μ, σ²)) on a (σ, μ) grid (σ log-spaced) and its local minima."""

    mus: Tensor  # (M,)
    sigmas: Tensor  # (L,)
    values: Tensor  # (L, M)
    minima: Tensor  # (P, 2): (μ, σ) of grid points lower than their 8 neighbours
    minima_values: Tensor  # (P,)


def landscape(
    target: GaussianMixture,
    name: str,
    *,
    mus: Tensor | None = None,
    sigmas: Tensor | None = None,
    per_std: float = 2.5,
    width: float = 7.0,
    **params: float,
) -> Landscape:
    """The divergence over a (σ, μ) grid (default 61 μ × 41 log-spaced σ) and its local minima.

    Parameters
    ----------
    target : GaussianMixture (1-D)
    name : str — catalogue name (``alpha=`` for the α family)
    mus : Tensor (M,), optional — default the target's mean ± 2 stds
    sigmas : Tensor (L,), optional — default log-spaced from a third of the narrowest
        mode's std to 2.5 target stds
    per_std : float — quadrature nodes per std of the narrowest mode
    width : float — the window covers every model ±``width`` of its σ

    Raises
    ------
    TypeError
        ``target`` not a GaussianMixture, ``mus``/``sigmas`` not real numbers.
    ValueError
        A d-D target, ``mus``/``sigmas`` empty, not 1-D or not finite, σ ≤ 0,
        ``per_std`` or ``width`` ≤ 0.
    """
    check_mixture(target, dim=1)
    div = get(name, **params)
    per_std = check_scalar(per_std, "per_std", low=0.0, high=1000.0, closed="right")
    width = check_scalar(width, "width", low=0.0, high=1000.0, closed="right")
    sd = math.sqrt(float(target.covariance()))
    m = float(target.mean())
    dt = target.means.dtype
    dev = target.means.device
    if mus is None:
        mus = torch.linspace(m - 2.0 * sd, m + 2.0 * sd, 61, dtype=dt)
    else:
        mus = check_values(mus, "mus", ndim=1).to(dt).to(dev)
        _increasing(mus, "mus")
    if sigmas is None:
        smin = float(target.stds.min())
        sigmas = torch.logspace(math.log10(smin / 3), math.log10(2.5 * sd), 41, dtype=dt)
    else:
        sigmas = check_values(sigmas, "sigmas", ndim=1, low=0.0, closed="neither").to(dt).to(dev)
        _increasing(sigmas, "sigmas")
    corners = torch.stack([mus[[0, -1]], sigmas[[-1, -1]]], -1)
    finite = ~_infinite_tails(target, [div], torch.log(sigmas)[None])[0]  # (L,)
    widest = sigmas[finite].max() if finite.any() else sigmas[-1]
    corners = torch.cat([corners, torch.stack([mus[[0, -1]], widest.expand(2)], -1)])
    nodes, h = _quadrature_grid(target, corners, per_std=per_std, width=width, divs=[div])
    mu_g = mus[None, :].expand(len(sigmas), len(mus))
    ls_g = torch.log(sigmas)[:, None].expand(len(sigmas), len(mus))
    vals, _ = _objective(target, [div], mu_g[None], ls_g[None], nodes, h)
    v = vals[0]
    pad = torch.nn.functional.pad(v[None, None], (1, 1, 1, 1), value=math.inf)[0, 0]
    neigh = torch.stack(
        [pad[1 + i : 1 + i + v.shape[0], 1 + j : 1 + j + v.shape[1]]
         for i in (-1, 0, 1) for j in (-1, 0, 1) if (i, j) != (0, 0)]
    )  # fmt: skip
    is_min = (v < neigh.min(0).values) & torch.isfinite(v)
    li, mi = torch.nonzero(is_min, as_tuple=True)
    minima = torch.stack([mus[mi], sigmas[li]], -1)
    return Landscape(mus, sigmas, v, minima, v[li, mi])


def _increasing(grid: Tensor, name: str) -> None:
    """A landscape axis must increase strictly (the minima compare grid neighbours)."""
    bad = torch.nonzero(grid[1:] <= grid[:-1]).flatten()
    if len(bad):
        i = int(bad[0])
        raise ValueError(
            f"{name} must be strictly increasing (a grid axis), got {name}[{i}] = "
            f"{float(grid[i]):g} ≥ {name}[{i + 1}] = {float(grid[i + 1]):g}"
        )


@dataclass(frozen=True)
class LandscapeDescent:
    """Steepest descent over the landscape grid from a start, and the refined minimum."""

    path: np.ndarray  # (T, 2): (μ, σ) of the visited grid points
    mean: float
    std: float
    on_edge: bool  # the minimum sits on the grid's border (the true one may lie outside)


_MAX_MEAN = 1e6  # |μ| and σ of a refined fit's start (the explorer's grid spans a few units)


def _check_landscape(land: object) -> None:
    if not isinstance(land, Landscape):
        raise TypeError(f"land must be a Landscape (from landscape()), got {type(land).__name__}")


def descend_landscape(land: Landscape, mean: float, std: float) -> LandscapeDescent:
    """Walk from the grid point nearest (``mean``, ``std``) to the lowest of its 8 neighbours
    until none is lower; refine the end point by a quadratic fit in (μ, log σ)."""
    _check_landscape(land)
    mean = check_scalar(mean, "mean")
    std = check_scalar(std, "std", low=0.0, closed="neither")
    v = land.values.detach().cpu().numpy()
    v = np.where(np.isfinite(v), v, np.inf)
    mus = land.mus.cpu().numpy().astype(np.float64)
    logs = np.log(land.sigmas.cpu().numpy().astype(np.float64))
    # the nearest grid point: past the grid's end, its end (a huge mean would tie every point)
    i = int(np.argmin(np.abs(logs - np.clip(math.log(std), logs[0], logs[-1]))))
    j = int(np.argmin(np.abs(mus - np.clip(mean, mus[0], mus[-1]))))
    n_l, n_m = v.shape
    path = [(i, j)]
    for _ in range(n_l * n_m):
        lo_i, hi_i, lo_j, hi_j = max(i - 1, 0), min(i + 2, n_l), max(j - 1, 0), min(j + 2, n_m)
        block = v[lo_i:hi_i, lo_j:hi_j]
        bi, bj = np.unravel_index(int(np.argmin(block)), block.shape)
        ni, nj = lo_i + int(bi), lo_j + int(bj)
        if v[ni, nj] >= v[i, j]:
            break
        i, j = ni, nj
        path.append((i, j))
    on_edge = i in (0, n_l - 1) or j in (0, n_m - 1)
    x, y = mus[j], logs[i]
    if not on_edge and np.isfinite(v[i - 1 : i + 2, j - 1 : j + 2]).all():
        x, y = _quadratic_min(
            v[i - 1 : i + 2, j - 1 : j + 2], mus[j - 1 : j + 2], logs[i - 1 : i + 2], x, y
        )
    pts = np.array([[mus[b], math.exp(logs[a])] for a, b in path])
    return LandscapeDescent(pts, float(x), float(math.exp(y)), on_edge)


def _quadratic_min(
    block: np.ndarray, xs: np.ndarray, ys: np.ndarray, x0: float, y0: float
) -> tuple[float, float]:
    """Minimiser of the least-squares quadratic through a 3×3 block (rows y, columns x);
    the centre if the fit is not convex or its minimiser leaves the block."""
    gy, gx = np.meshgrid(ys - y0, xs - x0, indexing="ij")
    a = np.stack([np.ones(9), gx.ravel(), gy.ravel(), gx.ravel() ** 2, gx.ravel() * gy.ravel(),
                  gy.ravel() ** 2], -1)  # fmt: skip
    c = np.linalg.lstsq(a, block.ravel(), rcond=None)[0]
    hess = np.array([[2 * c[3], c[4]], [c[4], 2 * c[5]]])
    if np.linalg.det(hess) <= 0 or hess[0, 0] <= 0:
        return x0, y0
    dx, dy = np.linalg.solve(hess, -c[1:3])
    if abs(dx) > abs(xs[2] - xs[0]) / 2 or abs(dy) > abs(ys[2] - ys[0]) / 2:
        return x0, y0
    return x0 + dx, y0 + dy


@dataclass(frozen=True)
class RefinedMinimum:
    """A landscape minimum refined off the grid (:func:`refine_minimum`)."""

    mean: float
    std: float
    value: float  # D_f(P‖N(mean, std²)) by quadrature
    converged: bool  # stationary there, by GaussianFit.converged's rule


def refine_minimum(
    target: GaussianMixture, div: Divergence, land: Landscape, mean: float, std: float
) -> RefinedMinimum:
    """Shrinking 3×3 stencils in (μ, log σ) around a grid minimum (``mean``, ``std``), each
    one batched quadrature call: move to the stencil's lowest point, or, when that is the
    centre, to the quadratic fit's minimiser and shrink ×4 (the grid alone was 1-10 % off).

    ``converged`` applies :func:`~alignkit.divergences.fit.stationary` (the rule of
    :attr:`GaussianFit.converged`: each scale-free gradient component, ∂D/∂(μ/σ) and
    ∂D/∂log σ, at most 5 % of max(D, 0.05); 15 % for total variation; or |D| at most
    :data:`~alignkit.divergences.fit.D_ZERO`, with a finite gradient) to central
    differences (step 1e-4) at the end; a non-finite D there is not converged. Where D is
    infinite one step away in σ (the α family's finite region ends there: Neyman χ² and
    α < 0 above a σ, Pearson χ² and α > 1 below one), the σ slope is one-sided and a slope
    pointing out of the region counts as stationary (held at the edge), as in
    :attr:`GaussianFit.converged`."""
    target = check_mixture(target)
    if not isinstance(div, Divergence):
        raise TypeError(f"div must be a Divergence (from get()), got {type(div).__name__}")
    _check_landscape(land)
    mean = check_scalar(mean, "mean", low=-_MAX_MEAN, high=_MAX_MEAN)
    std = check_scalar(std, "std", low=0.0, high=_MAX_MEAN, closed="right")
    x, y = mean, math.log(std)
    dx = float(land.mus[1] - land.mus[0])
    dy = float(torch.log(land.sigmas[1] / land.sigmas[0]))
    offsets = torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64)
    for _ in range(24):
        xs, ys = x + dx * offsets, y + dy * offsets
        mu_g, ls_g = xs[None, :].expand(3, 3), ys[:, None].expand(3, 3)
        block = _values(target, div, mu_g, ls_g).numpy()
        if not np.isfinite(block[1, 1]):
            break
        block = np.where(np.isfinite(block), block, np.inf)
        i, j = np.unravel_index(int(np.argmin(block)), block.shape)
        if (i, j) != (1, 1):
            x, y = float(xs[j]), float(ys[i])
            continue
        if np.isfinite(block).all():
            x, y = _quadratic_min(block, xs.numpy(), ys.numpy(), x, y)
        dx, dy = dx / 4, dy / 4
        if dx < 1e-5:
            break
    h, sd = 1e-4, math.exp(y)
    mu = torch.tensor([x, x + h * sd, x - h * sd, x, x], dtype=torch.float64)
    ls = torch.tensor([y, y, y, y + h, y - h], dtype=torch.float64)
    v = _values(target, div, mu, ls)
    up, down = bool(torch.isfinite(v[3])), bool(torch.isfinite(v[4]))
    if up and down:
        d_ls = (v[3] - v[4]) / (2 * h)
    elif down:  # D is infinite just above: σ sits on the finite region's upper edge
        d_ls = ((v[0] - v[4]) / h).clamp_min(0.0)  # falling towards the edge: held there
    else:  # infinite just below (or on both sides: not converged, v is checked below)
        d_ls = ((v[3] - v[0]) / h).clamp_max(0.0)  # rising away from the lower edge: held
    gradient = torch.stack([(v[1] - v[2]) / (2 * h), d_ls])
    ok = (
        bool(torch.isfinite(v[:3]).all())
        and (up or down)
        and bool(stationary(gradient.reshape(1, 1, 2), v[:1].reshape(1, 1), _kinked([div]))[0, 0])
    )
    return RefinedMinimum(x, sd, float(v[0]), ok)


def _values(target: GaussianMixture, div: Divergence, mu: Tensor, log_sigma: Tensor) -> Tensor:
    """D_f(target‖N(μ, σ²)) at the points (``mu``, ``log_sigma``) (any equal shapes), one
    quadrature grid for all of them."""
    pts = torch.stack([mu.reshape(-1), torch.exp(log_sigma).reshape(-1)], -1)
    nodes, h = _quadrature_grid(target, pts, per_std=3.0, divs=[div])
    out: Tensor = _objective(target, [div], mu[None], log_sigma[None], nodes, h)[0][0]
    return out
