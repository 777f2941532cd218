"""The scalar autograd engine: the op table, :class:`Value`, and the backward walk.

Read it top to bottom.  Each operation is one row of the table: a forward function on floats
beside the rule for its local derivatives.  A :class:`Value` method such as ``__mul__`` applies
a row: the new node keeps its ``parents`` (a tuple, in argument order), its op, and the local
derivatives d out / d parent_i, computed once, right then.  ``backward`` visits the nodes newest
first (each after all of its consumers) and passes each parent g · (local derivative).

A rule is ordinary arithmetic, so it also runs on Values: ``grad(..., create_graph=True)``
records the derivative as a graph of its own, to differentiate again.  IEEE 754 semantics
throughout (``log(0) = -inf``, ``1 / Value(0) = inf``; nothing raises); the float functions,
exact sums and the ``no_grad`` switch are in ``microgrid._numerics``.  docs/engine.md has it all.
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Union, cast

from microgrid._numerics import (
    OrderedByData,
    Quotient,
    data,
    div,
    fdiv,
    fdot,
    fexp,
    flog,
    fpow,
    fsigmoid,
    fslope,
    fsoftplus,
    fsqrt,
    fsum,
    grad_mode,
    is_grad_enabled,
    log,
    no_grad,
    power,
    sigmoid,
    sign,
    to_float,
)

__all__ = ["Value", "Op", "vsum", "dot", "no_grad", "is_grad_enabled", "grad", "topological_order"]

Number = int | float
Operand = Union["Value", int, float]  # noqa: UP007 (a forward reference)


class Op:
    """One kind of operation: ``forward(x, p)`` computes the output from the parents' floats
    ``x`` (and the op's constant ``p``, e.g. leaky_relu's slope); ``local(out, x, p)`` gives
    ``d out / d x[i]`` for every parent.  ``out`` and ``x`` are floats when a node is made, and
    Values when :func:`grad` records the derivative itself (``create_graph=True``)."""

    __slots__ = ("name", "forward", "local")

    def __init__(self, name: str, forward: Callable[[Sequence[float], Any], float],
                 local: Callable[[Any, Sequence[Any], Any], tuple]) -> None:
        self.name, self.forward, self.local = name, forward, local

    def __call__(self, *parents: Operand, param: Any = None) -> Value:
        """The node ``op(*parents)``; numbers become constant leaves."""
        return _apply(self, as_values(parents), param)

    def __repr__(self) -> str:
        return f"Op({self.name!r})"


def _power_rule(out: Any, x: Sequence[Any], p: Any) -> tuple:
    """out = a^b:  d/da = b·a^(b-1), and 0 at b = 0 for every a (a^0 = 1; 0·a^-1 can be nan);
    d/db = a^b·ln a, and 0 at a = 0 when b >= 0 (its limit there, as PyTorch takes it)."""
    a, b = x
    da = b * power(a, b - 1.0)
    if data(b) == 0.0:
        da = zeroed(da)
    db = 0.0 if data(a) == 0.0 and data(b) >= 0.0 else out * log(a)
    return da, db


def _power_of_x_rule(out: Any, x: Sequence[Any], p: float) -> tuple:
    """out = x^p, p a number:  d/dx = p·x^(p-1), and 0 at p = 0 (x^0 = 1 for every x)."""
    return (0.0 if p == 0.0 else p * power(x[0], p - 1.0),)


def _quotient_rule(out: Any, x: Sequence[Any], p: Any) -> tuple:
    """out = a/b:  d/da = 1/b,  d/db = -a/b².  Kept as quotients: an edge passes g/b and
    -g·a/b² (see ``slope``), which neither overflow nor lose digits where 1/b or a/b would."""
    a, b = x
    return Quotient(div, b), Quotient(slope, a, b)


def _slope_rule(out: Any, x: Sequence[Any], p: Any) -> tuple:
    """out = -g·a/b²:  d/dg = -a/b²,  d/da = -g/b²,  d/db = 2g·a/b³ = -2·out/b."""
    g, a, b = x
    return slope(1.0, a, b), slope(g, 1.0, b), -2.0 * div(out, b)


def _dot_rule(out: Any, x: Sequence[Any], n: int) -> tuple:
    """out = w·x (+ bias), parents (w_1..w_n, x_1..x_n[, bias]):  d/dw_i = x_i, d/dx_i = w_i,
    d/dbias = 1."""
    return (*x[n : 2 * n], *x[:n], *((1.0,) if len(x) > 2 * n else ()))


# The op table.  A row: the op's name; its forward, on the inputs' floats x (p: the op's
# constant); its rule: the local derivatives d out / d x[i], from the output out and inputs x.
# fmt: off
ADD  = Op("+",    lambda x, p: x[0] + x[1],       lambda out, x, p: (1.0, 1.0))
SUB  = Op("-",    lambda x, p: x[0] - x[1],       lambda out, x, p: (1.0, -1.0))
MUL  = Op("*",    lambda x, p: x[0] * x[1],       lambda out, x, p: (x[1], x[0]))
DIV  = Op("/",    lambda x, p: fdiv(x[0], x[1]),  _quotient_rule)
NEG  = Op("neg",  lambda x, p: -x[0],             lambda out, x, p: (-1.0,))
POW  = Op("**",   lambda x, p: fpow(x[0], x[1]),  _power_rule)
POWC = Op("**",   lambda x, p: fpow(x[0], p),     _power_of_x_rule)
EXP  = Op("exp",  lambda x, p: fexp(x[0]),        lambda out, x, p: (out,))
LOG  = Op("log",  lambda x, p: flog(x[0]),        lambda out, x, p: (Quotient(div, x[0]),))
SQRT = Op("sqrt", lambda x, p: fsqrt(x[0]),       lambda out, x, p: (div(0.5, out),))
TANH = Op("tanh", lambda x, p: math.tanh(x[0]),   lambda out, x, p: ((1.0 - out) * (1.0 + out),))
# sigmoid' = σ(x)·σ(-x) (= out·(1 - out), without its cancellation near 1); softplus' = σ(x)
SIGMOID  = Op("sigmoid",  lambda x, p: fsigmoid(x[0]),  lambda out, x, p: (out * sigmoid(-x[0]),))
SOFTPLUS = Op("softplus", lambda x, p: fsoftplus(x[0]), lambda out, x, p: (sigmoid(x[0]),))
# relu' = 0 and abs' = 0 at x = 0; leaky_relu' = p (its slope) there
ABS  = Op("abs",  lambda x, p: abs(x[0]),         lambda out, x, p: (sign(x[0]),))
RELU = Op("relu", lambda x, p: 0.0 if x[0] <= 0.0 else x[0],
                  lambda out, x, p: (1.0,) if x[0] > 0.0 else (0.0,))  # shared tuples
LEAKY = Op("leaky_relu", lambda x, p: p * x[0] if x[0] <= 0.0 else x[0],
                         lambda out, x, p: (1.0 if data(x[0]) > 0.0 else p,))
# n-ary, one node each: the sum of x; and dot, whose parents are (w_1..w_n, x_1..x_n[, bias])
VSUM = Op("sum",  lambda x, p: fsum(x),           lambda out, x, p: (1.0,) * len(x))
DOT  = Op("dot",  fdot,                           _dot_rule)
# in recorded derivatives only: -g·a/b² (what division passes to b), and a 0 set by convention
SLOPE = Op("-g*a/b^2", lambda x, p: fslope(*x),   _slope_rule)
ZERO = Op("zero", lambda x, p: 0.0,               lambda out, x, p: (1.0,))
# fmt: on


class Value(OrderedByData):
    """A scalar that remembers how it was computed: ``data`` is a float; ``grad`` accumulates
    ``d root / d self`` over :meth:`backward` calls."""

    # _id: creation number (parents are always older than children, so newest first is a reverse
    # topological order); _g, _mark: scratch space of a backward pass.
    __slots__ = ("data", "grad", "label", "_parents", "_op", "_local", "_param", "_id", "_g",
                 "_mark")
    # NumPy hands ``array * value`` to Value's reflected operators (which reject arrays with a
    # clear TypeError) instead of building an object array of Values element by element
    __array_ufunc__ = None

    def __init__(self, data: Number, label: str = "") -> None:
        if not isinstance(label, str):
            raise TypeError(f"Value label must be a str, got {type(label).__name__}: {label!r:.60}")
        self.data: float = data if type(data) is float else to_float(data)
        self.grad: float = 0.0
        self.label: str = label
        self._parents: tuple[Value, ...] = ()
        self._op: Op | None = None
        self._local: tuple = ()
        self._param: Any = None
        self._id: int = next(_creation)
        self._g: Any = 0.0
        self._mark: object = None

    # -- backpropagation --------------------------------------------------------------------
    def backward(self, grad: float = 1.0) -> None:
        """Add ``grad * d self / d node`` to ``node.grad`` for every node this value depends on.

        One call's gradients are summed privately, then added: ``k`` calls add ``k`` times the
        gradient.  The local derivatives are those recorded when the graph was built (rebuild it
        after changing ``data``); the pass keeps scratch values on the nodes, so two threads must
        not walk graphs that share nodes at the same time."""
        if isinstance(grad, Value):
            raise TypeError("backward(grad=...) takes a number; use microgrid.grad(..., "
                            "create_graph=True) to differentiate through a gradient")
        for node in self._backprop(to_float(grad, "backward grad")):
            node.grad += node._g

    def _backprop(self, seed: float) -> list[Value]:
        """One pass: ``seed * d self / d node`` in ``node._g`` for every node, which it returns.

        The zero rule: a node whose gradient is 0 passes nothing, and neither does an edge whose
        local derivative is 0, even where the other factor is inf or nan (0 × inf would be nan).
        """
        order = _reachable(self, 0.0)  # newest first: each node after all of its consumers
        self._g = seed
        for node in order:
            g = node._g
            if g and node._parents:
                for p, d in zip(node._parents, node._local):
                    if d:
                        p._g += g * d
        return order

    # -- each operation makes one node from a row of the table ------------------------------
    def __add__(self, other: Operand) -> Value:
        return _apply(ADD, (self, _lift(other)))

    def __radd__(self, other: Operand) -> Value:
        return _apply(ADD, (_lift(other), self))

    def __sub__(self, other: Operand) -> Value:
        return _apply(SUB, (self, _lift(other)))

    def __rsub__(self, other: Operand) -> Value:
        return _apply(SUB, (_lift(other), self))

    def __mul__(self, other: Operand) -> Value:
        return _apply(MUL, (self, _lift(other)))

    def __rmul__(self, other: Operand) -> Value:
        return _apply(MUL, (_lift(other), self))

    def __truediv__(self, other: Operand) -> Value:
        return _apply(DIV, (self, _lift(other)))

    def __rtruediv__(self, other: Operand) -> Value:
        return _apply(DIV, (_lift(other), self))

    def __neg__(self) -> Value:
        return _apply(NEG, (self,))

    def __pos__(self) -> Value:
        return self

    def __pow__(self, other: Operand) -> Value:
        if isinstance(other, Value):
            return _apply(POW, (self, other))
        return _apply(POWC, (self,), to_float(other, "exponent"))

    def __rpow__(self, other: Operand) -> Value:
        return _apply(POW, (_lift(other), self))

    def exp(self) -> Value:
        return _apply(EXP, (self,))

    def log(self) -> Value:
        return _apply(LOG, (self,))

    def tanh(self) -> Value:
        return _apply(TANH, (self,))

    def sigmoid(self) -> Value:
        return _apply(SIGMOID, (self,))

    def relu(self) -> Value:
        return _apply(RELU, (self,))

    def leaky_relu(self, alpha: float = 0.01) -> Value:
        return _apply(LEAKY, (self,), to_float(alpha, "alpha"))

    def softplus(self) -> Value:
        return _apply(SOFTPLUS, (self,))

    def abs(self) -> Value:
        return _apply(ABS, (self,))

    __abs__ = abs

    def sqrt(self) -> Value:
        return _apply(SQRT, (self,))

    # -- the recorded graph, read-only ------------------------------------------------------
    @property
    def parents(self) -> tuple[Value, ...]:
        """The inputs of the op that produced this value, in argument order (empty for leaves)."""
        return self._parents

    @property
    def op(self) -> str:
        """Short name of the producing op (``"+"``, ``"tanh"``, ...); ``""`` for a leaf."""
        return self._op.name if self._op is not None else ""

    @property
    def local_grads(self) -> tuple[float, ...]:
        """``d self / d parent_i`` for each parent, as recorded at forward time."""
        return self._local

    @property
    def is_leaf(self) -> bool:
        return not self._parents

    def __repr__(self) -> str:
        lab = f", label={self.label!r}" if self.label else ""
        return f"Value(data={self.data!r}, grad={self.grad!r}{lab})"

    def __float__(self) -> float:
        return self.data

    def item(self) -> float:
        """``data`` as a plain float (PyTorch's ``loss.item()``); nothing is recorded."""
        return self.data

    # ``int(v)``, ``round(v)``, ``round(v, n)``: of ``data``, as for a float (ValueError or
    # OverflowError for nan and inf), plain numbers, nothing recorded
    def __int__(self) -> int:
        return int(self.data)

    def __round__(self, ndigits: int | None = None) -> float | int:
        return round(self.data, ndigits)


_creation = itertools.count()
_get_data = operator.attrgetter("data")
_get_id = operator.attrgetter("_id")


def _apply(op: Op, parents: tuple[Value, ...], param: Any = None) -> Value:
    """Create the node ``op(parents)``: its value and, unless in no_grad, its local derivatives."""
    x = list(map(_get_data, parents))
    out = op.forward(x, param)
    node = Value.__new__(Value)
    node.data = out
    node.grad = 0.0
    node.label = ""
    node._id = next(_creation)
    node._g = 0.0
    node._mark = None
    if grad_mode.threads == 0 or grad_mode.local.depth == 0:
        node._parents = parents
        node._op = op
        node._local = op.local(out, x, param)
        node._param = param
    else:
        node._parents = ()
        node._op = None
        node._local = ()
        node._param = None
    return node


def _lift(x: Operand) -> Value:
    """A Value as it is; a number as a new constant leaf."""
    return x if isinstance(x, Value) else Value(to_float(x, "operand"))


_ONLY_VALUES = frozenset({Value})


def as_values(xs: Iterable[Operand]) -> tuple[Value, ...]:
    """``xs`` as a tuple of Values: each Value as it is, each number as a new constant leaf."""
    values = tuple(xs)
    if _ONLY_VALUES.issuperset(map(type, values)):  # the common case, checked at C speed
        return cast("tuple[Value, ...]", values)
    return tuple(map(_lift, values))


def vsum(values: Iterable[Operand]) -> Value:
    """Sum of many values as a single node (``d sum / d v_i = 1``)."""
    return _apply(VSUM, as_values(values))


def dot(ws: Sequence[Operand], xs: Sequence[Operand], bias: Operand | None = None) -> Value:
    """``sum_i ws[i] * xs[i] (+ bias)`` as a single node, parents ``(*ws, *xs[, bias])``, its terms
    added with one rounding (``math.fsum``): their order does not matter."""
    ws_t, xs_t = as_values(ws), as_values(xs)
    if len(ws_t) != len(xs_t):
        raise ValueError(f"dot: {len(ws_t)} weights but {len(xs_t)} inputs")
    return dot_values(ws_t, xs_t, _lift(bias) if bias is not None else None)


def dot_values(ws: Sequence[Value], xs: Sequence[Value], bias: Value | None) -> Value:
    """:func:`dot` without its checks (a layer checks its input row once for all of its neurons)."""
    parents = (*ws, *xs, bias) if bias is not None else (*ws, *xs)
    return _apply(DOT, parents, len(ws))


def slope(g: Any, a: Any, b: Any) -> Any:
    """``-g·a/b²``: :func:`~microgrid._numerics.fslope` on floats, a recorded node on Values."""
    if type(g) is float and type(a) is float and type(b) is float:
        return fslope(g, a, b)
    return _apply(SLOPE, as_values((g, a, b)))


def zeroed(term: Any) -> Any:
    """0 in place of ``term``: on a Value, a node of value 0 whose derivative is ``term``'s, so
    that a term set to 0 by a convention (b·a^(b-1) at b = 0) keeps its higher derivatives."""
    return 0.0 if type(term) is float else _apply(ZERO, (term,))


# -- the walk's order, and the recorded backward pass of grad(..., create_graph=True) ---------
def _reachable(root: Value, start: Any) -> list[Value]:
    """Every node ``root`` depends on (itself included), newest first, each with ``_g = start``:
    a list read while it grows (no recursion, no depth limit), a fresh marker per pass (no set)."""
    mark = object()
    root._mark = mark
    root._g = start
    nodes = [root]
    for node in nodes:  # the loop also reads the nodes appended while it runs
        for p in node._parents:
            if p._mark is not mark:
                p._mark = mark
                p._g = start
                nodes.append(p)
    nodes.sort(key=_get_id, reverse=True)
    return nodes


def topological_order(root: Value) -> list[Value]:
    """Nodes reachable from ``root``, each before all of its parents (root first): the order
    :meth:`Value.backward` processes nodes in."""
    return _reachable(root, 0.0)


def _times(g: Any, d: Any) -> Any:
    """``g * d`` without recording a multiplication by the constant 1 (keeps gradient graphs
    small); a quotient's ``g / b`` or ``-g·a/b²``."""
    if isinstance(d, Quotient):
        return d.times(g)
    if type(g) is float and g == 1.0:
        return d
    if type(d) is float and d == 1.0:
        return g
    return g * d


def _recorded_backprop(root: Value) -> list[Value]:
    """:meth:`Value._backprop` with each local derivative recomputed by its op's rule on Values,
    so the gradients in ``node._g`` are themselves recorded graphs, of the same values bit for
    bit (see :func:`_recorded_term`)."""
    order = _reachable(root, None)  # None: nothing received yet (no 0 + g is recorded)
    root._g = 1.0
    for node in order:
        g = node._g
        op = node._op
        if g is not None and op is not None:  # (a node with parents always has its op)
            for p, d in zip(node._parents, op.local(node, node._parents, node._param)):
                c = _recorded_term(g, d)
                if c is not None:
                    p._g = _plus_zero(c) if p._g is None else p._g + c
    return order


def _recorded_term(g: Any, d: Any) -> Any:
    """What an edge passes on the recorded path: ``g * d``, where the float path passes it.
    Where the zero rule passes nothing (g or d is 0), nothing if that 0 is a constant (a number, or
    a quotient of numbers: no recorded graph computes it); if it is recorded, a term of value 0
    whose derivative is that of ``g * d`` (its own may not be 0: d/db of b·a^(b-1) at b = 0 is a^-1)."""
    d_is_zero = not (d.data if isinstance(d, Value) else d)
    if data(g) and not d_is_zero:
        return _times(g, d)
    constant = not any(isinstance(x, Value) for x in (d.parts if isinstance(d, Quotient) else (d,)))
    if (type(g) is float and not g) or (d_is_zero and constant):
        return None
    return zeroed(_times(g, d))


def _plus_zero(c: Any) -> Any:
    """``c``, but ``0.0 + c`` where ``c`` is -0.0: the float path sums from 0.0, so a gradient
    is never -0.0 on either path."""
    x = data(c)
    return c if x or math.copysign(1.0, x) > 0.0 else 0.0 + c


def _pass_grad(x: Value, order_mark: object) -> Any:
    """The gradient the last pass left on ``x``, or 0 if the pass did not reach it."""
    return x._g if x._mark is order_mark and x._g is not None else 0.0


def grad(output: Value, inputs: Value | Sequence[Value], create_graph: bool = False) -> Any:
    """Gradients of the scalar ``output`` w.r.t. ``inputs``, without touching any ``.grad``.

    Returns a float per input (a list if ``inputs`` is a sequence).  With ``create_graph=True``
    each gradient is a :class:`Value` whose own graph computes it, so it can be differentiated
    again (to any order).  Inputs that ``output`` does not depend on get 0."""
    if not isinstance(output, Value):
        raise TypeError(f"grad: output must be a Value, got {type(output).__name__}")
    single = isinstance(inputs, Value)
    if isinstance(inputs, Value):
        xs = [inputs]
    elif isinstance(inputs, Iterable):
        xs = list(inputs)
    else:
        raise TypeError("grad: inputs must be a Value or a sequence of Values, got "
                        f"{type(inputs).__name__}")
    for i, x in enumerate(xs):
        if not isinstance(x, Value):
            raise TypeError(f"grad: inputs[{i}] must be a Value, got {type(x).__name__}")
    if create_graph:
        if not is_grad_enabled():
            raise RuntimeError("grad(create_graph=True) cannot record a graph inside no_grad()")
        order = _recorded_backprop(output)
        gs = [_pass_grad(x, output._mark) for x in xs]
        for node in order:  # drop references from the graph to its gradient graph (no cycles)
            node._g = 0.0
        res: list[Any] = [g if isinstance(g, Value) else Value(g) for g in gs]
    else:
        output._backprop(1.0)
        res = [float(_pass_grad(x, output._mark)) for x in xs]
    return res[0] if single else res
