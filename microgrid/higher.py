"""Second derivatives from the engine: :func:`~microgrid.engine.grad` with ``create_graph=True``
returns ``g_i = d f / d x_i`` as a Value whose graph computes it, and differentiating it once more
gives a row of the Hessian, ``H[i][j] = d g_i / d x_j = d^2 f / (d x_i d x_j)``.  ``f`` takes ``n``
Values and returns a Value; it runs on fresh leaves at the point ``xs`` (no ``.grad`` is touched).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from microgrid.arrays import central_differences, evaluate, finite_point
from microgrid.engine import Value, dot, grad, to_float

__all__ = ["hessian", "hvp", "value_grad_hessian", "numerical_hessian"]

def _leaves(xs: Iterable[Any]) -> list[Value]:
    """Fresh leaf Values at the point ``xs`` (numbers, or Values whose data is used)."""
    return [Value(data, label=f"x{i}") for i, data in enumerate(finite_point(xs, "xs"))]


def value_grad_hessian(f: Callable[..., Value], xs: Sequence[Value | float]
                       ) -> tuple[float, list[float], list[list[float]]]:
    """``f(xs)``, its gradient and its Hessian as floats (a Newton step's three), from one
    evaluation of ``f``."""
    leaves = _leaves(xs)
    out = evaluate(f, leaves)
    gs = grad(out, leaves, create_graph=True)
    return out.data, [g.data for g in gs], [grad(g, leaves) for g in gs]


def hessian(f: Callable[..., Value], xs: Sequence[Value | float]) -> list[list[float]]:
    """The Hessian ``H[i][j] = d^2 f / (d x_i d x_j)`` at ``xs``, as ``n`` lists of floats: row
    ``i`` is the gradient of the recorded ``d f / d x_i`` (symmetric up to rounding, not imposed)."""
    return value_grad_hessian(f, xs)[2]


def hvp(f: Callable[..., Value], xs: Sequence[float], v: Sequence[float]) -> list[float]:
    """The Hessian-vector product ``H(xs) v = d/dx <grad f, v>`` (``v`` constant), without ``H``:
    one recorded and one float pass whatever ``n`` is."""
    leaves = _leaves(xs)
    direction = [to_float(vj, f"v[{j}]") for j, vj in enumerate(v)]
    if len(direction) != len(leaves):
        raise ValueError(f"hvp: v has {len(direction)} entries but xs has {len(leaves)}")
    gs = grad(evaluate(f, leaves), leaves, create_graph=True)
    return grad(dot(gs, direction), leaves)


def numerical_hessian(f: Callable[..., Value], xs: Sequence[Value | float], eps: float = 1e-6
                      ) -> list[list[float]]:
    """Central differences of the engine's first derivatives, for
    :func:`~microgrid.gradcheck.gradgradcheck`: column ``j`` is
    ``(grad f(x + eps e_j) - grad f(x - eps e_j)) / (2 eps)``, exact up to ``O(eps^2)``."""

    def gradient(x: np.ndarray) -> list[float]:
        leaves = [Value(v) for v in x.tolist()]
        return grad(evaluate(f, leaves), leaves)

    return central_differences(gradient, np.array(finite_point(xs, "xs")), eps).T.tolist()
