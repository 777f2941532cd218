"""microgrid: a small, exact scalar autograd engine, and the same MLP twice (scalar and NumPy)."""

from microgrid.engine import Value, dot, grad, is_grad_enabled, no_grad, vsum
from microgrid.higher import hessian, hvp

__version__ = "0.1.0"

__all__ = ["Value", "dot", "grad", "hessian", "hvp", "is_grad_enabled", "no_grad", "vsum", "__version__"]
