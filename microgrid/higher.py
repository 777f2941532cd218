"""Second derivatives from the engine: Hessians and Hessian-vector products.

Both start from :func:`microgrid.engine.grad` with ``create_graph=True``: the gradient
``g_i = d f / d x_i`` comes back as a :class:`Value` whose graph computes it, so differentiating
it once more gives a row of the Hessian::

    H[i][j] = d g_i / d x_j = d^2 f / (d x_i d x_j)

* :func:`hessian` does that for every ``i``: one recorded backward pass, then ``n`` float
  passes over the gradient graph.
* :func:`hvp` never forms ``H``: ``H v`` is the gradient of the scalar ``<g, v>`` (``v`` held
  constant), so it costs one recorded pass and one float pass whatever ``n`` is.
* :func:`numerical_hessian` takes central differences of the first derivatives instead,
  ``(g_i(x + eps e_j) - g_i(x - eps e_j)) / (2 eps)``, exact up to ``O(eps^2)`` for smooth ``f``
  (and rounding of order ``machine eps * |g| / eps``): what :func:`~microgrid.gradcheck.gradgradcheck`
  compares :func:`hessian` with.

Every function takes ``f``, a Python function of ``n`` :class:`Value` arguments returning a
:class:`Value`, and the point ``xs`` as ``n`` numbers.  ``f`` is evaluated on fresh leaves, so
no ``.grad`` anywhere is touched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from microgrid.arrays import central_differences, evaluate, finite_point
from microgrid.engine import Value, dot, grad, to_float

__all__ = ["hessian", "hvp", "value_grad_hessian", "numerical_hessian"]

ScalarFunction = Callable[..., Value]


def _leaves(xs: Iterable[Any]) -> list[Value]:
    """Fresh leaf Values at the point ``xs`` (numbers, or Values whose data is used)."""
    return [Value(data, label=f"x{i}") for i, data in enumerate(finite_point(xs, "xs"))]


def value_grad_hessian(
    f: ScalarFunction, xs: Sequence[Value | float]
) -> tuple[float, list[float], list[list[float]]]:
    """``f(xs)``, its gradient and its Hessian as floats, from one evaluation of ``f``.

    The Newton step needs all three; :func:`hessian` is this without the first two.
    """
    leaves = _leaves(xs)
    out = evaluate(f, leaves)
    gs = grad(out, leaves, create_graph=True)
    rows = [grad(g, leaves) for g in gs]
    return out.data, [g.data for g in gs], rows


def hessian(f: ScalarFunction, xs: Sequence[Value | float]) -> list[list[float]]:
    """The Hessian ``H[i][j] = d^2 f / (d x_i d x_j)`` at ``xs`` (a list of ``n`` lists of floats).

    Row ``i`` is the gradient of the recorded ``d f / d x_i``.  Each row is computed on its own,
    so symmetry is not imposed: for smooth ``f`` it holds up to rounding.
    """
    return value_grad_hessian(f, xs)[2]


def hvp(f: ScalarFunction, xs: Sequence[float], v: Sequence[float]) -> list[float]:
    """The Hessian-vector product ``H(xs) v`` without forming ``H``.

    ``sum_j H[i][j] v[j] = d/dx_i <grad f, v>`` with ``v`` constant: one recorded backward
    pass builds ``<grad f, v>`` as a graph, one float pass differentiates it.
    """
    leaves = _leaves(xs)
    direction = [to_float(vj, f"v[{j}]") for j, vj in enumerate(v)]
    if len(direction) != len(leaves):
        raise ValueError(f"hvp: v has {len(direction)} entries but xs has {len(leaves)}")
    gs = grad(evaluate(f, leaves), leaves, create_graph=True)
    return grad(dot(gs, direction), leaves)


def numerical_hessian(f: ScalarFunction, xs: Sequence[Value | float], eps: float = 1e-6
                      ) -> list[list[float]]:
    """Central differences of the engine's first derivatives: column ``j`` is
    ``(grad f(x + eps e_j) - grad f(x - eps e_j)) / (2 eps)``."""

    def gradient(x: np.ndarray) -> list[float]:
        leaves = [Value(v) for v in x.tolist()]
        return grad(evaluate(f, leaves), leaves)

    return central_differences(gradient, np.array([leaf.data for leaf in _leaves(xs)]), eps).T.tolist()
