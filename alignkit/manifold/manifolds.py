"""Data manifolds with analytic projections, distances and tangent spaces (theme 3).

Each manifold lives in a base space R^n (n = 2 or 3) and is optionally embedded in R^D
(n ≤ D ≤ 64) by a random isometry ``x = E y`` (``E`` of shape (D, n), orthonormal
columns). For a point ``x`` in R^D, with ``y = Eᵀx`` and the off-plane part ``x − E y``,
``distance_to_manifold(x)² = |x − E y|² + dist_base(y)²`` and the closest point is
``E · project_base(y)``. Densities along the manifold: ``"uniform"`` (with respect to its
length or area) and ``"nonuniform"`` (uniform reweighted by ``(1 + 0.8 u)/1.8`` with ``u``
the first base coordinate over its largest value: more mass on the +x side).

Taught in ``notebooks/05_generative_manifold_alignment.ipynb``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from alignkit._checks import check_choice, check_float_dtype, check_int
from alignkit.device import get_device, make_generator
from alignkit.manifold._inputs import check_points

MAX_POINTS = 1_000_000  # n of one sample() call, as generate()'s MAX_SAMPLES

__all__ = ["MANIFOLDS", "DENSITIES", "Manifold", "get_manifold", "MAX_EMBED_DIM"]

MAX_EMBED_DIM = 64
DENSITIES = ("uniform", "nonuniform")
_TILT = 0.8  # strength of the non-uniform density


def _scaled(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``v / s`` and ``s`` (keepdim), ``s`` the largest |entry| of each row (1 for a zero
    row): the squares of a norm of ``v / s`` neither overflow nor underflow (float32
    squares overflow from |v| ≈ 1.8e19, float64's from 1.3e154; torch's norms do not rescale)."""
    s = v.abs().amax(dim=-1, keepdim=True)
    s = torch.where(s > 0, s, torch.ones_like(s))
    return v / s, s


def _norm(v: torch.Tensor) -> torch.Tensor:
    """Euclidean norm over the last axis, ``(..., n) -> (...)``, for any finite size."""
    w, s = _scaled(v)
    return w.norm(dim=-1) * s.squeeze(-1)


def _unit(v: torch.Tensor) -> torch.Tensor:
    """Rows scaled to length 1 (a zero row stays zero), for any finite size."""
    w, _ = _scaled(v)
    return w / w.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def _polylines(pieces: list[torch.Tensor]) -> torch.Tensor:
    """Polylines (k_i, n) -> one (Σ k_i + pieces, n) array, a NaN row after each piece."""
    gap = torch.full((1, pieces[0].shape[1]), float("nan"), dtype=pieces[0].dtype)
    return torch.cat([part for piece in pieces for part in (piece, gap)])


def _ring(radius: float, height: float, k: int = 61) -> torch.Tensor:
    """(k, 3): the circle of ``radius`` around the z axis at ``height`` (closed)."""
    phi = torch.linspace(0.0, 2 * math.pi, k, dtype=torch.float64)
    return torch.stack([radius * phi.cos(), radius * phi.sin(), torch.full_like(phi, height)], -1)


def _angle_frame(phi: torch.Tensor) -> torch.Tensor:
    """(N,) -> (N, 3): the unit vector (−sin φ, cos φ, 0)."""
    return torch.stack([-phi.sin(), phi.cos(), torch.zeros_like(phi)], dim=-1)


class _Base:
    """A manifold in its base space R^n: subclasses give the closed forms."""

    name: str
    dim: int  # intrinsic dimension d
    ambient: int  # n
    extent: float  # max |first coordinate| on the manifold

    def project(self, y: torch.Tensor) -> torch.Tensor:  # (N, n) -> (N, n)
        raise NotImplementedError

    def tangent(self, p: torch.Tensor) -> torch.Tensor:  # points on it (N, n) -> (N, n, d)
        raise NotImplementedError

    def tangent_at(self, y: torch.Tensor) -> torch.Tensor:  # any points (N, n) -> (N, n, d)
        """The tangent basis at the closest point of each row of ``y``."""
        return self.tangent(self.project(y))

    def uniform(self, n: int, gen: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
        raise NotImplementedError

    def outline(self) -> torch.Tensor:
        """Polylines that draw the manifold, (M, n) float64, a NaN row after each piece.

        The whole curve, or a wireframe of a surface: cheaper to draw than a point cloud
        (a 3-D scene's cost grows with its markers), and exact.
        """
        raise NotImplementedError


class _Circle(_Base):
    dim, extent = 1, 1.0

    def __init__(self, ambient: int) -> None:
        self.ambient = ambient
        self.name = "circle2d" if ambient == 2 else "circle3d"

    def project(self, y: torch.Tensor) -> torch.Tensor:
        phi = torch.atan2(y[:, 1], y[:, 0])  # the origin goes to φ = 0
        pts = [phi.cos(), phi.sin()] + ([torch.zeros_like(phi)] if self.ambient == 3 else [])
        return torch.stack(pts, dim=-1)

    def tangent(self, p: torch.Tensor) -> torch.Tensor:
        phi = torch.atan2(p[:, 1], p[:, 0])
        return _angle_frame(phi)[:, : self.ambient, None]

    def uniform(self, n: int, gen: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
        phi = 2 * math.pi * torch.rand(n, generator=gen, device=gen.device, dtype=dtype)
        pts = [phi.cos(), phi.sin()] + ([torch.zeros_like(phi)] if self.ambient == 3 else [])
        return torch.stack(pts, dim=-1)

    def outline(self) -> torch.Tensor:
        return _polylines([_ring(1.0, 0.0, 121)[:, : self.ambient]])


class _Helix(_Base):
    """γ(s) = (cos s, sin s, c (s − s_mid)) for s in [0, 4π] (two turns, pitch 2πc)."""

    name, dim, ambient, extent = "helix", 1, 3, 1.0
    c, s_max = 0.15, 4 * math.pi

    def curve(self, s: torch.Tensor) -> torch.Tensor:
        z = self.c * (s - self.s_max / 2)
        return torch.stack([s.cos(), s.sin(), z], dim=-1)

    def parameter(self, y: torch.Tensor) -> torch.Tensor:
        """Arc parameter s of the closest point (Newton from three starts), (N,).

        |y − γ(s)|² = r² + 1 − 2 r cos(s − φ) + (z − c (s − s_mid))²: the starts are the
        three parameters at y's azimuth φ (one per turn) nearest to where the z term alone
        is smallest (clamped to the helix); farther turns only add to the z term. 30 Newton
        steps from each start; a start whose step left it unchanged (a fixed point: every
        later step computes the same) drops out of the batch, so the later steps run on the
        few starts still moving (the same result, several times faster). Checked against a
        dense grid of s on far, near-axis and beyond-the-end points (``tests/test_manifold.py``).
        """
        base = torch.atan2(y[:, 1], y[:, 0])
        s_z = (y[:, 2] / self.c + self.s_max / 2).clamp(0.0, self.s_max)
        nearest = torch.round((s_z - base) / (2 * math.pi))  # the turn at s_z
        turns = nearest[:, None] + torch.arange(-1, 2, dtype=y.dtype, device=y.device)
        s = (base[:, None] + 2 * math.pi * turns).clamp(0.0, self.s_max)  # (N, 3)
        out = s.reshape(-1).clone()  # every start's result, written as the batch shrinks
        idx = torch.arange(out.numel(), device=y.device)  # the starts still moving
        sa = s.reshape(-1)
        x0, x1, z = (y[:, None, i].expand(s.shape).reshape(-1) for i in range(3))
        for _ in range(30):
            cs, sn = sa.cos(), sa.sin()
            dz = z - self.c * (sa - self.s_max / 2)
            # f(s) = |y − γ(s)|²/2: f' = x₀ sin s − x₁ cos s − c dz, f'' = x₀ cos s + x₁ sin s + c²
            g = x0 * sn - x1 * cs - self.c * dz
            hess = x0 * cs + x1 * sn + self.c**2
            step = torch.where(hess > 1e-3, g / hess.clamp_min(1e-3), g)
            new = (sa - step.clamp(-0.5, 0.5)).clamp(0.0, self.s_max)
            out[idx] = new
            moving = (new != sa).nonzero().squeeze(1)
            if moving.numel() == 0:
                break
            idx, sa, x0, x1, z = idx[moving], new[moving], x0[moving], x1[moving], z[moving]
        s = out.view(s.shape)
        dist = (y[:, None, :] - self.curve(s)).norm(dim=-1)  # (inf beyond 1.8e19 in float32:
        # any start then, as float32 cannot tell them apart there; the distance is _norm's)
        return s.gather(1, dist.argmin(dim=1, keepdim=True)).squeeze(1)

    def project(self, y: torch.Tensor) -> torch.Tensor:
        return self.curve(self.parameter(y))

    def tangent(self, p: torch.Tensor) -> torch.Tensor:
        return self._tangent(self.parameter(p))

    def tangent_at(self, y: torch.Tensor) -> torch.Tensor:
        return self._tangent(self.parameter(y))  # one Newton solve, not one per projection

    def _tangent(self, s: torch.Tensor) -> torch.Tensor:
        d = torch.stack([-s.sin(), s.cos(), torch.full_like(s, self.c)], dim=-1)
        return _unit(d)[:, :, None]

    def uniform(self, n: int, gen: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
        s = self.s_max * torch.rand(n, generator=gen, device=gen.device, dtype=dtype)
        return self.curve(s)  # |γ'| is constant: uniform in s is uniform in length

    def outline(self) -> torch.Tensor:
        return _polylines([self.curve(torch.linspace(0.0, self.s_max, 241, dtype=torch.float64))])


class _Torus(_Base):
    """Torus of radii R = 1 (tube centre) and r = 0.4 (tube) around the z axis."""

    name, dim, ambient = "torus", 2, 3
    big, small = 1.0, 0.4
    extent = big + small

    def _centre(self, y: torch.Tensor) -> torch.Tensor:
        phi = torch.atan2(y[:, 1], y[:, 0])  # the z axis goes to φ = 0
        return self.big * torch.stack([phi.cos(), phi.sin(), torch.zeros_like(phi)], dim=-1)

    def project(self, y: torch.Tensor) -> torch.Tensor:
        c = self._centre(y)
        return c + self.small * _unit(y - c)

    def tangent(self, p: torch.Tensor) -> torch.Tensor:
        phi = torch.atan2(p[:, 1], p[:, 0])
        rho = p[:, :2].norm(dim=-1)
        theta = torch.atan2(p[:, 2], rho - self.big)
        e_theta = torch.stack(
            [-theta.sin() * phi.cos(), -theta.sin() * phi.sin(), theta.cos()], dim=-1
        )
        return torch.stack([_angle_frame(phi), e_theta], dim=-1)

    def uniform(self, n: int, gen: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
        out: list[torch.Tensor] = []
        got = 0
        while got < n:  # rejection on the area element (R + r cos θ) dθ dφ
            m = 2 * (n - got) + 64
            u = torch.rand(m, 3, generator=gen, device=gen.device, dtype=dtype)
            phi, theta = 2 * math.pi * u[:, 0], 2 * math.pi * u[:, 1]
            keep = u[:, 2] * (self.big + self.small) < self.big + self.small * theta.cos()
            phi, theta = phi[keep], theta[keep]
            rho = self.big + self.small * theta.cos()
            pts = torch.stack([rho * phi.cos(), rho * phi.sin(), self.small * theta.sin()], -1)
            out.append(pts)
            got += pts.shape[0]
        return torch.cat(out)[:n]

    def outline(self) -> torch.Tensor:
        """8 rings around the z axis (every 45° of the tube) and 12 tube circles."""
        theta = torch.linspace(0.0, 2 * math.pi, 9, dtype=torch.float64)[:-1].tolist()
        rings = [
            _ring(self.big + self.small * math.cos(t), self.small * math.sin(t)) for t in theta
        ]
        t = torch.linspace(0.0, 2 * math.pi, 25, dtype=torch.float64)
        rho, z = self.big + self.small * t.cos(), self.small * t.sin()  # one tube circle
        tubes = [
            torch.stack([rho * math.cos(phi), rho * math.sin(phi), z], -1)
            for phi in torch.linspace(0.0, 2 * math.pi, 13, dtype=torch.float64)[:-1].tolist()
        ]
        return _polylines(rings + tubes)


class _Sphere(_Base):
    name, dim, ambient, extent = "sphere", 2, 3, 1.0

    def project(self, y: torch.Tensor) -> torch.Tensor:
        return _unit(y)

    def tangent(self, p: torch.Tensor) -> torch.Tensor:
        phi = torch.atan2(p[:, 1], p[:, 0])
        theta = torch.acos((p[:, 2] / p.norm(dim=-1).clamp_min(1e-12)).clamp(-1, 1))
        e_theta = torch.stack(
            [theta.cos() * phi.cos(), theta.cos() * phi.sin(), -theta.sin()], dim=-1
        )
        return torch.stack([_angle_frame(phi), e_theta], dim=-1)

    def uniform(self, n: int, gen: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
        return _unit(torch.randn(n, 3, generator=gen, device=gen.device, dtype=dtype))

    def outline(self) -> torch.Tensor:
        """5 parallels (every 30° of latitude) and 8 meridians (every 45° of longitude)."""
        lat = [math.radians(a) for a in (-60, -30, 0, 30, 60)]
        parallels = [_ring(math.cos(a), math.sin(a)) for a in lat]
        t = torch.linspace(0.0, math.pi, 31, dtype=torch.float64)
        meridians = [
            torch.stack([t.sin() * math.cos(phi), t.sin() * math.sin(phi), t.cos()], -1)
            for phi in torch.linspace(0.0, 2 * math.pi, 9, dtype=torch.float64)[:-1].tolist()
        ]
        return _polylines(parallels + meridians)


#: Manifolds by name (the explorer's dropdown) -> their closed forms in the base space.
MANIFOLDS: dict[str, _Base] = {
    "circle2d": _Circle(2),
    "circle3d": _Circle(3),
    "helix": _Helix(),
    "torus": _Torus(),
    "sphere": _Sphere(),
}


@dataclass(frozen=True, eq=False)  # compared (and cached) by identity
class Manifold:
    """A named manifold, its density and its isometric embedding in R^D.

    Attributes: ``name``, ``dim`` (intrinsic d), ``base_dim`` (n), ``embed_dim`` (D),
    ``density``, ``embedding`` (Tensor (D, n), orthonormal columns; identity when D = n).
    """

    name: str
    base: _Base
    embedding: torch.Tensor
    density: str

    @property
    def dim(self) -> int:
        return self.base.dim

    @property
    def base_dim(self) -> int:
        return self.base.ambient

    @property
    def embed_dim(self) -> int:
        return int(self.embedding.shape[0])

    def _split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` (N, D), floating and finite (else TypeError/ValueError naming x) -> (Eᵀx, off)."""
        check_points(x, "x", dim=self.embed_dim)
        e = self.embedding.to(x)
        y = x @ e
        return y, x - y @ e.T

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """Closest point on the manifold, ``(N, D) -> (N, D)``.

        ``x`` (like every method's) must be a finite floating-point tensor (N, D): a
        ``TypeError`` for an integer, bool or complex one, a ``ValueError`` for NaN/inf.
        """
        y, _ = self._split(x)
        return self.base.project(y) @ self.embedding.to(x).T

    def distance_to_manifold(self, x: torch.Tensor) -> torch.Tensor:
        """Euclidean distance of each row to the manifold, ``(N, D) -> (N,)``."""
        y, off = self._split(x)
        return _norm(torch.cat([y - self.base.project(y), off], dim=-1))

    def tangent_basis(self, x: torch.Tensor) -> torch.Tensor:
        """Orthonormal basis of the tangent space at the closest point, ``(N, D) -> (N, D, d)``."""
        y, _ = self._split(x)
        t = self.base.tangent_at(y)
        return torch.einsum("Dn,Nnd->NDd", self.embedding.to(x), t)

    def azimuth(self, x: torch.Tensor) -> torch.Tensor:
        """Angle around the base z axis of the closest point, in (−π, π], ``(N, D) -> (N,)``.

        The coordinate along the manifold whose histogram shows density shifts.
        """
        y, _ = self._split(x)
        p = self.base.project(y)
        return torch.atan2(p[:, 1], p[:, 0])

    def sample(
        self, n: int, *, seed: int | torch.Generator | None = 0, dtype: torch.dtype = torch.float32
    ) -> torch.Tensor:
        """``n`` points from the manifold's density, shape (n, D), on the embedding's device.

        ``n`` in [1, MAX_POINTS]; ``dtype`` torch.float32 or torch.float64."""
        n = check_int(n, "n", low=1, high=MAX_POINTS)
        dtype = check_float_dtype(dtype)
        gen = make_generator(seed, self.embedding.device)
        if self.density == "uniform":
            pts = self.base.uniform(n, gen, dtype)
        else:
            chunks, got = [], 0
            while got < n:
                cand = self.base.uniform(2 * (n - got) + 64, gen, dtype)
                u = torch.rand(cand.shape[0], generator=gen, device=gen.device, dtype=dtype)
                weight = (1 + _TILT * cand[:, 0] / self.base.extent) / (1 + _TILT)
                chunks.append(cand[u < weight])
                got += chunks[-1].shape[0]
            pts = torch.cat(chunks)[:n]
        return pts @ self.embedding.to(pts).T


def get_manifold(
    name: str,
    *,
    embed_dim: int | None = None,
    density: str = "uniform",
    embed_seed: int = 0,
    device: str | torch.device | None = None,
) -> Manifold:
    """The manifold ``name`` (see :data:`MANIFOLDS`) with a density and an embedding.

    Parameters
    ----------
    name : {"circle2d", "circle3d", "helix", "torus", "sphere"}
    embed_dim : int, optional
        Ambient dimension D, base dimension ≤ D ≤ 64; default the base dimension (no
        embedding). For D > n the isometry is the Q factor of a seeded Gaussian matrix.
    density : {"uniform", "nonuniform"}, default="uniform"
    embed_seed : int, default=0
        Seed of the embedding (≥ 0; checked even when unused, D = n).
    device : str or torch.device, optional

    Raises
    ------
    ValueError
        Unknown name or density (the message lists the valid ones); D out of range;
        ``embed_seed`` < 0.
    TypeError
        A name or density that is not a str, a non-integer ``embed_dim`` or ``embed_seed``.
    """
    name = check_choice(name, "name", MANIFOLDS)
    density = check_choice(density, "density", DENSITIES)
    embed_seed = check_int(embed_seed, "embed_seed", low=0, high=2**63 - 1)
    base = MANIFOLDS[name]
    n = base.ambient
    dim = n if embed_dim is None else check_int(embed_dim, "embed_dim", low=n, high=MAX_EMBED_DIM)
    dev = get_device(device)
    if dim == n:
        emb = torch.eye(n, dtype=torch.float64, device=dev)
    else:
        gen = make_generator(embed_seed, dev)
        g = torch.randn(dim, n, generator=gen, device=dev, dtype=torch.float64)
        emb, _ = torch.linalg.qr(g)
    return Manifold(name, base, emb, density)
