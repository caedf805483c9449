"""Manifolds of theme 3 against closed forms (alignkit.manifold.manifolds)."""

from __future__ import annotations

import math

import pytest
import torch

from alignkit.manifold.manifolds import MANIFOLDS, get_manifold

F64 = torch.float64
CASES = [(name, dim) for name in sorted(MANIFOLDS) for dim in (None, 7)]


@pytest.mark.parametrize(("name", "embed_dim"), CASES)
def test_samples_projection_and_tangents(name: str, embed_dim: int | None) -> None:
    m = get_manifold(name, embed_dim=embed_dim, density="nonuniform", device="cpu")
    x = m.sample(400, seed=1, dtype=F64)
    assert x.shape == (400, m.embed_dim)
    assert float(m.distance_to_manifold(x).max()) < 1e-12  # samples lie on it
    assert torch.allclose(m.project(x), x, atol=1e-12)
    noisy = x + 0.05 * torch.randn(x.shape, dtype=F64, generator=torch.Generator().manual_seed(2))
    p = m.project(noisy)
    assert torch.allclose(m.project(p), p, atol=1e-12)  # idempotent
    # the distance is the length of the residual, which is normal to the tangent space
    assert torch.allclose((noisy - p).norm(dim=-1), m.distance_to_manifold(noisy), atol=1e-12)
    basis = m.tangent_basis(noisy)
    eye = torch.eye(m.dim, dtype=F64).expand(400, m.dim, m.dim)
    assert torch.allclose(basis.transpose(1, 2) @ basis, eye, atol=1e-12)  # orthonormal
    normal = (noisy - p) / (noisy - p).norm(dim=-1, keepdim=True)
    inner = (basis.transpose(1, 2) @ normal[..., None]).abs().amax(dim=(1, 2))
    inside = torch.ones(400, dtype=torch.bool)
    if name == "helix":  # a point beyond an end of the helix projects onto the end point
        inside = (p @ m.embedding)[:, 2].abs() < 0.9
    assert float(inner[inside].max()) < 1e-9
    # tangent = direction of nearby points on the manifold (finite differences)
    q = m.project(p + 1e-5 * basis[..., 0])
    chord = (q - p) / (q - p).norm(dim=-1, keepdim=True)
    cos = (chord * basis[..., 0]).sum(-1).abs()[inside]
    assert torch.allclose(cos, torch.ones_like(cos), atol=1e-6)
    # no point is closer than the projection (against a dense sample of the manifold)
    dense = m.sample(20000, seed=3, dtype=F64)
    brute = torch.cdist(noisy[:50], dense).min(dim=1).values
    assert bool((m.distance_to_manifold(noisy[:50]) <= brute + 1e-12).all())
    assert float((brute - m.distance_to_manifold(noisy[:50])).max()) < 0.05  # sample gaps


@pytest.mark.parametrize(
    ("name", "point", "distance"),
    [
        ("circle2d", [3.0, 4.0], 4.0),
        ("circle2d", [0.0, 0.5], 0.5),
        ("circle3d", [2.0, 0.0, 1.0], math.sqrt(2.0)),
        ("torus", [1.5, 0.0, 0.0], 0.1),
        ("torus", [0.0, 0.0, 0.0], 0.6),
        ("torus", [0.0, 1.0, 0.7], 0.3),
        ("sphere", [0.0, 0.0, 3.0], 2.0),
        ("sphere", [0.1, -0.2, 0.2], 0.7),
    ],
)
def test_known_distances(name: str, point: list[float], distance: float) -> None:
    m = get_manifold(name, device="cpu")
    x = torch.tensor([point], dtype=F64)
    assert float(m.distance_to_manifold(x)) == pytest.approx(distance, abs=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, F64])
@pytest.mark.parametrize("embed_dim", [None, 5])
def test_huge_and_tiny_points_keep_their_closed_forms(
    dtype: torch.dtype, embed_dim: int | None
) -> None:
    """Far beyond where the squares of a norm overflow (float32 from |x| ≈ 1.8e19) and
    below where they underflow: the sphere's distance | |x| − 1 | and projection x/|x|
    (a norm that overflowed gave inf and a projection of 0)."""
    m = get_manifold("sphere", embed_dim=embed_dim, device="cpu")
    u = torch.tensor([[2.0, -3.0, 6.0]], dtype=F64) / 7.0  # a unit vector of the base space
    scale = 3e20 if dtype == torch.float32 else 3e200
    for size, distance in ((scale, scale), (1e-30, 1.0)):
        x = ((size * u) @ m.embedding.T).to(dtype)  # (1, D)
        assert float(m.distance_to_manifold(x)) == pytest.approx(distance, rel=1e-6)
        p = m.project(x).double() @ m.embedding  # back to base coordinates
        torch.testing.assert_close(p, u, rtol=0, atol=1e-6)
    for name in sorted(MANIFOLDS):  # every manifold: a huge point is as far as its size
        m = get_manifold(name, embed_dim=embed_dim, device="cpu")
        x = torch.zeros(2, m.embed_dim, dtype=dtype)
        x[0, 0], x[1, -1] = scale, -scale
        d = m.distance_to_manifold(x)
        assert torch.isfinite(d).all() and d.double().div(scale).sub(1).abs().max() < 1e-6
        assert torch.isfinite(m.project(x)).all()


def test_helix_distance_along_its_principal_normal_and_binormal() -> None:
    m = get_manifold("helix", device="cpu")
    s = torch.linspace(0.5, 4 * math.pi - 0.5, 9, dtype=F64)
    c = 0.15
    on = torch.stack([s.cos(), s.sin(), c * (s - 2 * math.pi)], -1)
    outward = torch.stack([s.cos(), s.sin(), torch.zeros_like(s)], -1)  # minus principal normal
    tangent = torch.stack([-s.sin(), s.cos(), torch.full_like(s, c)], -1) / math.hypot(1, c)
    binormal = torch.linalg.cross(tangent, outward)
    for direction in (outward, binormal):
        d = m.distance_to_manifold(on + 0.1 * direction)
        assert torch.allclose(d, torch.full_like(d, 0.1), atol=1e-10)
    assert torch.allclose(m.tangent_basis(on)[..., 0].abs(), tangent.abs(), atol=1e-10)


def test_helix_projection_is_the_closest_point_of_a_dense_grid() -> None:
    """Far points (a box twice the helix's size), points near its axis and beyond its ends:
    the projection is at least as close as the best of 40001 parameters, and within 1e-5."""
    m = get_manifold("helix", device="cpu")
    g = torch.Generator().manual_seed(4)
    box = 6 * torch.rand(3000, 3, dtype=F64, generator=g) - 3
    axis = torch.cat(
        [0.05 * torch.randn(1000, 2, dtype=F64, generator=g),
         4 * torch.rand(1000, 1, dtype=F64, generator=g) - 2], dim=1,
    )  # fmt: skip
    near = m.sample(2000, seed=5, dtype=F64)
    near = near + 0.3 * torch.randn(near.shape, dtype=F64, generator=g)
    y = torch.cat([box, axis, near])
    s = torch.linspace(0.0, 4 * math.pi, 40001, dtype=F64)
    curve = torch.stack([s.cos(), s.sin(), 0.15 * (s - 2 * math.pi)], -1)
    brute = torch.cat([torch.cdist(part, curve).min(dim=1).values for part in y.split(1000)])
    got = m.distance_to_manifold(y)
    assert bool((got <= brute + 1e-12).all())
    assert float((brute - got).max()) < 1e-5  # the grid is that close to the minimum


@pytest.mark.parametrize("name", sorted(MANIFOLDS))
def test_embedding_is_an_isometry(name: str) -> None:
    low = get_manifold(name, device="cpu")
    high = get_manifold(name, embed_dim=64, embed_seed=5, device="cpu")
    e = high.embedding
    assert torch.allclose(e.T @ e, torch.eye(low.base_dim, dtype=F64), atol=1e-12)
    y = low.sample(200, seed=0, dtype=F64) * 1.3  # off-manifold points of the base space
    x = y @ e.T
    exact = "donot_use_mm_for_euclid_dist"
    assert torch.allclose(
        torch.cdist(x, x, compute_mode=exact), torch.cdist(y, y, compute_mode=exact), atol=1e-12
    )
    assert torch.allclose(high.distance_to_manifold(x), low.distance_to_manifold(y), atol=1e-12)
    # a step orthogonal to the embedded base space adds in quadrature
    off = torch.randn(200, 64, dtype=F64, generator=torch.Generator().manual_seed(1))
    off = off - (off @ e) @ e.T
    off = 0.2 * off / off.norm(dim=-1, keepdim=True)
    expect = (low.distance_to_manifold(y).square() + 0.04).sqrt()
    assert torch.allclose(high.distance_to_manifold(x + off), expect, atol=1e-12)


def _implicit(name: str, p: torch.Tensor) -> torch.Tensor:
    """Each manifold's own equation at points p (N, n): zero exactly on it."""
    radius = p[:, :2].norm(dim=1)
    if name in ("circle2d", "circle3d"):
        return (radius - 1).abs() + (p[:, 2].abs() if name == "circle3d" else 0)
    if name == "sphere":
        return p.norm(dim=1) - 1
    if name == "torus":
        return ((radius - 1).square() + p[:, 2].square()).sqrt() - 0.4
    s = p[:, 2] / 0.15 + 2 * math.pi  # helix: z = c (s − 2π), (x, y) = (cos s, sin s)
    inside = (s >= -1e-12) & (s <= 4 * math.pi + 1e-12)
    gap = (p[:, 0] - s.cos()).abs() + (p[:, 1] - s.sin()).abs()
    return torch.where(inside, gap, torch.ones_like(gap))


@pytest.mark.parametrize("name", sorted(MANIFOLDS))
def test_outline_lies_on_the_manifold_and_covers_it(name: str) -> None:
    outline = MANIFOLDS[name].outline()
    gaps = outline.isnan().any(dim=1)
    assert bool(gaps[-1]) and not bool(gaps[0])  # pieces, each ended by a NaN row
    pts = outline[~gaps]
    assert float(_implicit(name, pts).abs().max()) < 1e-12
    # within a piece consecutive vertices are close (a missing NaN row would join two pieces)
    piece = torch.cumsum(gaps.long(), 0)[~gaps]
    same = piece[1:] == piece[:-1]
    assert float((pts[1:] - pts[:-1]).norm(dim=1)[same].max()) < 0.15
    # every point of the manifold is near the outline: the curves whole, a surface's cells
    x = get_manifold(name, density="uniform", device="cpu").sample(4000, seed=3, dtype=F64)
    near = torch.cdist(x, pts).min(dim=1).values.max()
    assert float(near) < (0.03 if MANIFOLDS[name].dim == 1 else 0.3)


def test_densities() -> None:
    uniform = get_manifold("circle2d", device="cpu").sample(40000, seed=0, dtype=F64)
    tilted = get_manifold("circle2d", density="nonuniform", device="cpu").sample(
        40000, seed=0, dtype=F64
    )
    # p(φ) ∝ 1 + 0.8 cos φ  =>  E[cos φ] = 0.4; uniform: 0
    assert float(uniform[:, 0].mean()) == pytest.approx(0.0, abs=0.015)
    assert float(tilted[:, 0].mean()) == pytest.approx(0.4, abs=0.015)
    torus = get_manifold("torus", device="cpu").sample(40000, seed=0, dtype=F64)
    # uniform in area: E[ρ] = R + r² / (2R) = 1.08 (ρ = R + r cos θ weighted by ρ)
    assert float(torus[:, :2].norm(dim=-1).mean()) == pytest.approx(1.08, abs=0.005)
    a = get_manifold("sphere", device="cpu").sample(10, seed=4)
    assert torch.equal(a, get_manifold("sphere", device="cpu").sample(10, seed=4))


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"name": "klein"}, r"name must be one of \['circle2d', 'circle3d', 'helix',"),
        ({"name": "torus", "embed_dim": 2}, r"embed_dim must be an integer in \[3, 64\], got 2"),
        ({"name": "circle2d", "embed_dim": 65}, r"embed_dim must be an integer in \[2, 64\]"),
        ({"name": "sphere", "density": "gaussian"}, r"density must be one of"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        get_manifold(**kwargs)  # type: ignore[arg-type]


def test_bad_points() -> None:
    m = get_manifold("sphere", device="cpu")
    with pytest.raises(ValueError, match=r"x must have shape \(N, 3\), got \(4, 2\)"):
        m.distance_to_manifold(torch.zeros(4, 2))
    with pytest.raises(ValueError, match=r"n must be an integer in \[1, 1e\+06\], got 0"):
        m.sample(0)
