"""Numerical tools shared by every theme (not about any one of them).

- :mod:`alignkit.numerics.hessian`: Hessians of a training loss through ``torch.func``
  (Hessian-vector products, explicit and per-sample Hessians, top eigenvalues, trace,
  Frobenius norm) for a model given as a pure function of its flat parameters.
- :mod:`alignkit.numerics.functional`: a module and its data as a pure function of the flat
  parameters (loss conventions, ``loss_fn``), the plumbing under ``hessian``.
- :mod:`alignkit.numerics.hvp`: Hessian-vector products of any scalar function of a flat
  vector, by the route that is cheaper on the device (double backward on a retained
  gradient graph on CPU, ``jvp`` over ``grad`` with ``vmap``-ed blocks elsewhere).
- :mod:`alignkit.numerics.lanczos`: matrix-free Lanczos and power iteration on any ``matvec``.
- :mod:`alignkit.numerics.trace`: Hutchinson trace (optionally Lanczos-deflated, or sharing
  the eigen-solve's Lanczos run) and Frobenius-norm estimates on any ``matvec``.
- :mod:`alignkit.numerics.perron`: the Perron root of a cone-preserving linear map to a
  certified tolerance (lower and upper bounds each step; a warning when they do not meet).
- :mod:`alignkit.numerics.ode`: batched fixed-step solvers (Euler, Heun, RK4) through which
  Jacobians flow, flow-map Jacobians and finite-time Lyapunov exponents and vectors (QR).
- :mod:`alignkit.numerics.grids`: their time grids (equal in t, or in log(1 − t) for fields
  singular at t = 1).
- :mod:`alignkit.numerics.tangent`: fields that propagate their own tangents (``MLPField``:
  points and tangents through one matrix product per layer, no autograd) and Gram–Schmidt;
  ``ode``'s fast route (``route="tangent"``), tested against ``torch.func`` jvp.

A theme imports these; they never import a theme.
"""
