"""Numerical tools shared by every theme (not about any one of them).

- :mod:`alignkit.numerics.hessian`: Hessians of a training loss through ``torch.func``
  (Hessian-vector products, explicit and per-sample Hessians, top eigenvalues, trace,
  Frobenius norm) for a model given as a pure function of its flat parameters.
- :mod:`alignkit.numerics.functional`: a module and its data as a pure function of the flat
  parameters (loss conventions, ``loss_fn``), the plumbing under ``hessian``.
- :mod:`alignkit.numerics.lanczos`: matrix-free Lanczos, power iteration and Hutchinson
  (optionally deflated) on any ``matvec``.
- :mod:`alignkit.numerics.perron`: the Perron root of a cone-preserving linear map to a
  certified tolerance (lower and upper bounds each step; a warning when they do not meet).
- :mod:`alignkit.numerics.ode`: batched fixed-step solvers (Euler, Heun, RK4) through which
  Jacobians flow, flow-map Jacobians and finite-time Lyapunov exponents and vectors (QR).

A theme imports these; they never import a theme.
"""
