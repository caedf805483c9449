"""The exact field's Jacobian–vector products from float64 second moments (float32 data)."""

from __future__ import annotations

import torch

from alignkit.manifold.fields import exact_model
from alignkit.manifold.manifolds import get_manifold


def test_float32_tangent_near_t_end_matches_a_float64_jvp() -> None:
    """Near t = 1 the weights' covariance is tiny and scaled by t/(1 − t)²: the second-moment
    route (E[y yᵀ] − m mᵀ, float64) must still match torch.func.jvp of the float64 field."""
    data = get_manifold("helix").sample(128, seed=1)  # float32, (M, 3)
    f32 = exact_model(data).velocity
    f64 = exact_model(data.double()).velocity
    gen = torch.Generator().manual_seed(0)
    x = data[:50] * 0.999 + 0.002 * torch.randn(50, 3, generator=gen)  # near the data
    u = torch.randn(3, 50, 3, generator=gen)
    for tv in (0.3, 0.9, 0.999):
        t = torch.tensor(tv)
        out = f32.tangent(torch.cat([x[None], u]), t)  # type: ignore[attr-defined]
        for j in range(3):
            ref = torch.func.vmap(
                lambda a, v, t=t: torch.func.jvp(lambda y: f64(y, t.double()), (a,), (v,))[1]
            )(x.double(), u[j].double())
            err = (out[1 + j].double() - ref).abs().max() / ref.abs().max()
            assert err < 1e-4, (tv, j, float(err))
