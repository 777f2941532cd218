"""microgrid: a small, exact scalar autograd engine, and the same MLP twice (scalar and NumPy).

The names below load the engine when first used (``from microgrid import Value``), so that
``import microgrid`` alone is instant: the ``microgrid`` command answers Ctrl-C from its start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from microgrid.engine import Value, dot, grad, is_grad_enabled, no_grad, vsum
    from microgrid.higher import hessian, hvp

__version__ = "0.1.0"

__all__ = ["Value", "dot", "grad", "hessian", "hvp", "is_grad_enabled", "no_grad", "vsum", "__version__"]

_MODULE = {"hessian": "higher", "hvp": "higher"}  # the others are the engine's


def __getattr__(name: str) -> object:
    if name not in __all__:
        raise AttributeError(f"module 'microgrid' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"microgrid.{_MODULE.get(name, 'engine')}"), name)
    globals()[name] = value
    return value
