"""Numerical tools shared by every theme (not about any one of them).

- :mod:`alignkit.numerics.hessian`: Hessians of a training loss through ``torch.func``
  (Hessian-vector products, explicit and per-sample Hessians, top eigenvalues, trace,
  Frobenius norm) for a model given as a pure function of its flat parameters.
- :mod:`alignkit.numerics.lanczos`: matrix-free Lanczos, power iteration and Hutchinson
  (optionally deflated) on any ``matvec``.

A theme imports these; they never import a theme.
"""
