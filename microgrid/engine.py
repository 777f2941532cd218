"""The scalar autograd engine: :class:`Value`, its operations, and the backward walk.

Every operation creates one new :class:`Value` that remembers

* ``parents`` — the inputs, as a tuple in argument order (``a + a`` has two edges);
* ``op``      — a short name such as ``"+"`` or ``"tanh"``;
* the *local derivatives* ``d out / d parent_i``, computed once, at forward time.

Each operation is declared once, in the table below, as a forward function on floats beside a
derivative rule.  The rule is written with ordinary arithmetic, so it works on floats (the fast
default, used by :meth:`Value.backward`) and on :class:`Value` objects (used by
:func:`grad` with ``create_graph=True`` to record the derivative itself as a graph, which can then
be differentiated again).

``backward`` walks the graph in reverse topological order without recursion: it collects the
nodes in a growing list and processes them newest first (every node is created after its
parents, so that order puts each node after all of its consumers); graphs of millions of nodes work.  Each pass sums its
gradients in a private table and only then adds them to ``.grad``: calling ``backward`` ``k``
times leaves exactly ``k`` times the gradient everywhere.

Numerics follow IEEE 754 / NumPy: ``log(0) = -inf``, ``log(-1) = nan``, ``exp(1000) = inf``,
``1 / Value(0) = inf``; no op lets ``OverflowError``, ``ZeroDivisionError`` or a math domain
error escape.
"""

from __future__ import annotations

import itertools
import math
import numbers
import operator
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Union, cast

import numpy as np

__all__ = [
    "Value",
    "Op",
    "vsum",
    "dot",
    "no_grad",
    "is_grad_enabled",
    "grad",
    "topological_order",
]

Number = int | float
Operand = Union["Value", int, float]  # noqa: UP007 (a forward reference)

_INF = math.inf
_NAN = math.nan


# --------------------------------------------------------------------------------------------
# Grad mode (thread-local, nestable)
# --------------------------------------------------------------------------------------------

_mode = threading.local()  # .depth: how many no_grad blocks this thread is inside
_lock = threading.Lock()
_threads_in_no_grad = 0  # fast path: while 0, no thread-local lookup is needed


def is_grad_enabled() -> bool:
    """True unless the current thread is inside a :func:`no_grad` block."""
    return _threads_in_no_grad == 0 or getattr(_mode, "depth", 0) == 0


@contextmanager
def no_grad() -> Iterator[None]:
    """Inside this block ops compute values but record no parents (each result is a leaf).

    The setting is per thread and nests: it ends when the outermost block exits.
    """
    global _threads_in_no_grad
    depth = getattr(_mode, "depth", 0)
    _mode.depth = depth + 1
    if depth == 0:
        with _lock:
            _threads_in_no_grad += 1
    try:
        yield
    finally:
        _mode.depth = depth
        if depth == 0:
            with _lock:
                _threads_in_no_grad -= 1


# --------------------------------------------------------------------------------------------
# IEEE-style float helpers: never raise, always return a float (inf / nan where NumPy would).
# --------------------------------------------------------------------------------------------


def _fdiv(a: float, b: float) -> float:
    try:
        return a / b
    except ZeroDivisionError:
        if a != a or a == 0.0:
            return _NAN
        return math.copysign(_INF, a) * math.copysign(1.0, b)


def _fpow(a: float, b: float) -> float:
    try:
        return math.pow(a, b)
    except (OverflowError, ValueError):
        with np.errstate(all="ignore"):
            return float(np.power(np.float64(a), np.float64(b)))


def _fexp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return _INF


def _flog(x: float) -> float:
    if x > 0.0:
        return math.log(x)  # also log(inf) = inf
    if x == 0.0:
        return -_INF
    return _NAN  # negative or nan


def _fsigmoid(x: float) -> float:
    # two branches so exp never overflows: sigma(x) = 1/(1+e^-x) = e^x/(1+e^x)
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    if x != x:
        return _NAN
    e = math.exp(x)
    return e / (1.0 + e)


def _fsoftplus(x: float) -> float:
    # log(1 + e^x) = max(x, 0) + log1p(e^-|x|)
    if x != x:
        return _NAN
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def _fsqrt(x: float) -> float:
    return math.sqrt(x) if x >= 0.0 else _NAN


# Helpers used inside derivative rules: they accept floats *or* Values, so one rule serves the
# float backward pass and the recorded (create_graph) backward pass.


def _div(a: Any, b: Any) -> Any:
    if isinstance(a, Value) or isinstance(b, Value):
        return a / b
    return _fdiv(a, b)


def _pow(a: Any, b: Any) -> Any:
    if isinstance(a, Value) or isinstance(b, Value):
        return a**b
    return _fpow(a, b)


def _log(x: Any) -> Any:
    return x.log() if isinstance(x, Value) else _flog(x)


def _sigmoid(x: Any) -> Any:
    return x.sigmoid() if isinstance(x, Value) else _fsigmoid(x)


def _data(x: Any) -> float:
    return x.data if isinstance(x, Value) else x


def _sign(x: Any) -> float:
    d = _data(x)
    return 1.0 if d > 0.0 else (-1.0 if d < 0.0 else 0.0)


# --------------------------------------------------------------------------------------------
# The op table: forward on floats, and local derivatives d out / d args.
# --------------------------------------------------------------------------------------------


class Op:
    """One kind of operation.

    ``forward(args, param) -> float`` computes the output from the parents' floats.
    ``local(out, args, param) -> tuple`` gives ``d out / d args[i]`` for every parent; ``out``
    and ``args`` are floats on the fast path and :class:`Value` objects when the derivative is
    itself recorded.
    """

    __slots__ = ("name", "forward", "local")

    def __init__(
        self,
        name: str,
        forward: Callable[[Sequence[float], Any], float],
        local: Callable[[Any, Sequence[Any], Any], tuple],
    ) -> None:
        self.name = name
        self.forward = forward
        self.local = local

    def __call__(self, *parents: Operand, param: Any = None) -> Value:
        """The node ``op(*parents)`` (numbers become constant leaves): how an op of your own is used."""
        return _apply(self, _lift_all(parents), param)

    def __repr__(self) -> str:
        return f"Op({self.name!r})"


def _fsum(terms: Iterable[float]) -> float:
    """Exactly rounded sum (math.fsum); inf/nan as plain summation gives them, never an exception."""
    terms = list(terms)
    try:
        return math.fsum(terms)
    except (OverflowError, ValueError):  # inf + -inf, or an intermediate overflow
        return sum(terms)


def _dot_forward(a: Sequence[float], n: int) -> float:
    terms = list(map(operator.mul, a[:n], a[n : 2 * n]))
    terms += a[2 * n :]  # the bias, if any
    try:
        return math.fsum(terms)  # exactly rounded sum of the products (and the bias)
    except (OverflowError, ValueError):  # inf + -inf, or an intermediate overflow
        return sum(terms)


def _dot_local(out: Any, a: Sequence[Any], n: int) -> tuple:
    # d/dw_i = x_i, d/dx_i = w_i, d/dbias = 1
    return (*a[n : 2 * n], *a[:n], *((1.0,) if len(a) > 2 * n else ()))


# fmt: off
#   name            forward (floats)                                local derivatives (floats or Values)
ADD     = Op("+",    lambda a, p: a[0] + a[1],                     lambda y, a, p: (1.0, 1.0))
SUB     = Op("-",    lambda a, p: a[0] - a[1],                     lambda y, a, p: (1.0, -1.0))
MUL     = Op("*",    lambda a, p: a[0] * a[1],                     lambda y, a, p: (a[1], a[0]))
# y = a/b:  dy/da = 1/b,  dy/db = -a/b^2 = -y/b
DIV     = Op("/",    lambda a, p: _fdiv(a[0], a[1]),               lambda y, a, p: (_div(1.0, a[1]), -_div(y, a[1])))
NEG     = Op("neg",  lambda a, p: -a[0],                           lambda y, a, p: (-1.0,))
# y = x^c (c a constant): dy/dx = c x^(c-1)
POWC    = Op("**",   lambda a, p: _fpow(a[0], p),                  lambda y, a, p: (0.0 if p == 0.0 else p * _pow(a[0], p - 1.0),))
# y = a^b: dy/da = b a^(b-1),  dy/db = a^b ln a  (taken as 0 where a = 0 and b >= 0, as PyTorch)
POW     = Op("**",   lambda a, p: _fpow(a[0], a[1]),
             lambda y, a, p: (0.0 if _data(a[1]) == 0.0 and _data(a[0]) == 0.0 else a[1] * _pow(a[0], a[1] - 1.0),
                              0.0 if (_data(a[0]) == 0.0 and _data(a[1]) >= 0.0) else y * _log(a[0])))
EXP     = Op("exp",  lambda a, p: _fexp(a[0]),                     lambda y, a, p: (y,))                 # (e^x)' = e^x
LOG     = Op("log",  lambda a, p: _flog(a[0]),                     lambda y, a, p: (_div(1.0, a[0]),))   # (ln x)' = 1/x
TANH    = Op("tanh", lambda a, p: math.tanh(a[0]),                 lambda y, a, p: ((1.0 - y) * (1.0 + y),))  # 1 - tanh^2
# sigma' = sigma(x) sigma(-x)  (= y (1 - y), but without cancellation for large x)
SIGMOID = Op("sigmoid", lambda a, p: _fsigmoid(a[0]),              lambda y, a, p: (y * _sigmoid(-a[0]),))
RELU    = Op("relu", lambda a, p: 0.0 if a[0] <= 0.0 else a[0],     lambda y, a, p: (1.0,) if a[0] > 0.0 else (0.0,))  # 0 at the kink
LEAKY   = Op("leaky_relu", lambda a, p: p * a[0] if a[0] <= 0.0 else a[0],
             lambda y, a, p: (1.0 if _data(a[0]) > 0.0 else p,))
# softplus(x) = log(1 + e^x);  softplus' = sigma(x)
SOFTPLUS = Op("softplus", lambda a, p: _fsoftplus(a[0]),           lambda y, a, p: (_sigmoid(a[0]),))
ABS     = Op("abs",  lambda a, p: abs(a[0]),                       lambda y, a, p: (_sign(a[0]),))       # 0 at 0
SQRT    = Op("sqrt", lambda a, p: _fsqrt(a[0]),                    lambda y, a, p: (_div(0.5, y),))      # 1/(2 sqrt x)
# n-ary: one node with many parents
VSUM    = Op("sum",  lambda a, p: _fsum(a),                    lambda y, a, p: (1.0,) * len(a))
DOT     = Op("dot",  _dot_forward,                                 _dot_local)
# fmt: on


# --------------------------------------------------------------------------------------------
# Value
# --------------------------------------------------------------------------------------------


def _to_float(x: Any, what: str = "Value data") -> float:
    if type(x) is float:
        return x
    if isinstance(x, (numbers.Real, np.integer, np.floating)) and not isinstance(x, np.bool_):
        try:
            return float(x)
        except OverflowError:  # an int beyond float range rounds to +-inf, as IEEE conversion does
            return -_INF if x < 0 else _INF
    raise TypeError(f"{what} must be a real number, got {type(x).__name__}: {x!r:.60}")


def _comparand(x: object) -> Any:
    """What a Value's ``data`` is compared with: a Value's ``data``, or the number itself (a NumPy
    scalar as a Python int or float, so the comparison is exact, as Python compares int and
    float); ``NotImplemented`` for anything else, so Python raises its usual TypeError."""
    if isinstance(x, Value):
        return x.data
    if isinstance(x, np.integer):  # before float: np.float64 is a float subclass whose
        return int(x)  # comparisons return np.bool_
    if isinstance(x, np.floating):  # float16/32/64 convert exactly; a wider long double is kept
        return float(x) if x.dtype.itemsize <= 8 else x
    if isinstance(x, (int, float)):  # bool included, as in float comparisons
        return x
    if isinstance(x, numbers.Real):  # e.g. fractions.Fraction: compared exactly by Python
        return x
    return NotImplemented


_get_data = operator.attrgetter("data")
_get_id = operator.attrgetter("_id")
_creation = itertools.count()


class Value:
    """A scalar that remembers how it was computed.

    ``data`` is a float; ``grad`` accumulates ``d root / d self`` over :meth:`backward` calls.
    """

    # _id: creation number (parents are always older than children, so sorting by it
    # newest-first is a reverse topological order); _g, _mark: scratch space of a backward pass.
    __slots__ = ("data", "grad", "label", "_parents", "_op", "_local", "_param", "_id", "_g", "_mark")
    # NumPy hands ``array * value`` to Value's reflected operators (which reject arrays with a clear
    # TypeError) instead of building an object array of Values element by element
    __array_ufunc__ = None

    def __init__(self, data: Number, label: str = "") -> None:
        if not isinstance(label, str):
            raise TypeError(f"Value label must be a str, got {type(label).__name__}: {label!r:.60}")
        self.data: float = data if type(data) is float else _to_float(data)
        self.grad: float = 0.0
        self.label: str = label
        self._parents: tuple[Value, ...] = ()
        self._op: Op | None = None
        self._local: tuple = ()
        self._param: Any = None
        self._id: int = next(_creation)
        self._g: Any = 0.0
        self._mark: object = None

    # -- read-only views of the recorded graph ---------------------------------------------
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

    # -- comparisons: of ``data``, a plain bool, nothing recorded ------------------------------
    # ``==`` and ``hash`` are NOT defined here: they stay those of ``object`` (identity), because
    # a Value is a node of a graph, kept in sets and dicts by identity (two nodes holding the
    # same number are still two nodes).  The order comparisons compare the numbers, so
    # ``max(values)`` and ``sorted(values)`` work; NaN compares False with everything, as a float.
    def __lt__(self, other: object) -> bool:
        o = _comparand(other)
        return NotImplemented if o is NotImplemented else bool(self.data < o)

    def __le__(self, other: object) -> bool:
        o = _comparand(other)
        return NotImplemented if o is NotImplemented else bool(self.data <= o)

    def __gt__(self, other: object) -> bool:
        o = _comparand(other)
        return NotImplemented if o is NotImplemented else bool(self.data > o)

    def __ge__(self, other: object) -> bool:
        o = _comparand(other)
        return NotImplemented if o is NotImplemented else bool(self.data >= o)

    # -- building nodes ---------------------------------------------------------------------
    # -- arithmetic -------------------------------------------------------------------------
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
        return _apply(POWC, (self,), _to_float(other, "exponent"))

    def __rpow__(self, other: Operand) -> Value:
        return _apply(POW, (_lift(other), self))

    # -- functions --------------------------------------------------------------------------
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
        return _apply(LEAKY, (self,), _to_float(alpha, "alpha"))

    def softplus(self) -> Value:
        return _apply(SOFTPLUS, (self,))

    def abs(self) -> Value:
        return _apply(ABS, (self,))

    __abs__ = abs

    def sqrt(self) -> Value:
        return _apply(SQRT, (self,))

    # -- backpropagation --------------------------------------------------------------------
    def backward(self, grad: float = 1.0) -> None:
        """Add ``grad * d self / d node`` to ``node.grad`` for every node this value depends on.

        Gradients of one call are summed privately and added at the end, so ``k`` calls leave
        exactly ``k`` times the gradient.  On a leaf this just adds ``grad`` to its own ``.grad``.
        The local derivatives are those recorded when the graph was built (rebuild it after
        changing ``data``), and the pass keeps scratch values on the nodes: two threads must not
        walk graphs that share nodes at the same time.
        """
        if isinstance(grad, Value):
            raise TypeError("backward(grad=...) takes a number; use microgrid.grad(..., create_graph=True) "
                            "to differentiate through a gradient")
        seed = _to_float(grad, "backward grad")
        for node in _backprop(self, seed, create_graph=False):
            node.grad += node._g


def _apply(op: Op, parents: tuple[Value, ...], param: Any = None) -> Value:
    """Create the node ``op(parents)``: its value and, unless in no_grad, its local derivatives."""
    args = list(map(_get_data, parents))
    y = op.forward(args, param)
    out = Value.__new__(Value)
    out.data = y
    out.grad = 0.0
    out.label = ""
    out._id = next(_creation)
    out._g = 0.0
    out._mark = None
    if _threads_in_no_grad == 0 or getattr(_mode, "depth", 0) == 0:
        out._parents = parents
        out._op = op
        out._local = op.local(y, args, param)
        out._param = param
    else:
        out._parents = ()
        out._op = None
        out._local = ()
        out._param = None
    return out


def _lift(x: Operand) -> Value:
    """A Value as it is; a number as a new constant leaf."""
    return x if isinstance(x, Value) else Value(_to_float(x, "operand"))


def _lift_all(xs: Iterable[Operand]) -> tuple[Value, ...]:
    values = tuple(xs)
    if _ONLY_VALUES.issuperset(map(type, values)):  # the common case, checked at C speed
        return cast("tuple[Value, ...]", values)
    return tuple(x if isinstance(x, Value) else Value(_to_float(x, "operand")) for x in values)


_ONLY_VALUES = frozenset({Value})


def vsum(values: Iterable[Operand]) -> Value:
    """Sum of many values as a single node (``d sum / d v_i = 1``)."""
    parents = _lift_all(values)
    return _apply(VSUM, parents)


def dot(ws: Sequence[Operand], xs: Sequence[Operand], bias: Operand | None = None) -> Value:
    """``sum_i ws[i] * xs[i] (+ bias)`` as a single node.

    The products and the bias are added with one correct rounding (``math.fsum``), so the
    result does not depend on their order; with an infinite or overflowing term it is what
    plain summation gives (inf or nan).

    Parents are ``(*ws, *xs[, bias])``; ``d/dw_i = x_i``, ``d/dx_i = w_i``, ``d/dbias = 1``.
    """
    ws_t = _lift_all(ws)
    xs_t = _lift_all(xs)
    if len(ws_t) != len(xs_t):
        raise ValueError(f"dot: {len(ws_t)} weights but {len(xs_t)} inputs")
    return _dot(ws_t, xs_t, _lift(bias) if bias is not None else None)


def _dot(ws: Sequence[Value], xs: Sequence[Value], bias: Value | None) -> Value:
    """:func:`dot` without the checks, for callers whose operands are Values of equal counts
    already (a layer checks its input row once for all of its neurons)."""
    parents = (*ws, *xs, bias) if bias is not None else (*ws, *xs)
    return _apply(DOT, parents, len(ws))


# --------------------------------------------------------------------------------------------
# The backward walk
# --------------------------------------------------------------------------------------------


def _reachable(root: Value, start: Any) -> list[Value]:
    """Every node ``root`` depends on (itself included), newest first, each with ``_g = start``.

    Collected into a list that is read while it grows (each node read adds its unseen parents
    at the end; no recursion, so no depth limit); a fresh marker object per pass tells visited
    nodes apart without a set.  Every node is created after its parents, so newest-first
    creation order is a reverse topological order: when a node is reached in that order, every
    node that consumes it has already passed its gradient on.
    """
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
    """Nodes reachable from ``root``, each before all of its parents (root first).

    This is the order :meth:`Value.backward` processes nodes in.
    """
    return _reachable(root, 0.0)


def _times(g: Any, d: Any) -> Any:
    """``g * d`` without recording a multiplication by the constant 1 (keeps gradient graphs small)."""
    if type(g) is float and g == 1.0:
        return d
    if type(d) is float and d == 1.0:
        return g
    return g * d


def _backprop(root: Value, seed: Any, create_graph: bool) -> list[Value]:
    """Gradients of ``root`` (times ``seed``) w.r.t. every node it depends on.

    Returns the nodes in processing order with this pass's gradient in ``node._g``.  Each node
    passes ``g * d node / d parent`` to each parent (the chain rule; contributions along several
    paths add up).  An edge whose local derivative is exactly 0 passes nothing, even when ``g``
    is inf or NaN (a "strong zero": where a function is flat, its input cannot move the root).
    With ``create_graph`` the local derivatives are recomputed from the op's rule on
    :class:`Value` objects, so the gradients are themselves recorded graphs; there only constant
    zeros are skipped (a recorded derivative that is 0 here is kept: its own derivative may not be).
    """
    if not create_graph:
        order = _reachable(root, 0.0)
        root._g = seed
        for node in order:
            parents = node._parents
            if parents:
                g = node._g
                for p, d in zip(parents, node._local):
                    if d:  # a flat edge passes nothing, even a NaN or inf gradient
                        p._g += g * d
        return order
    order = _reachable(root, None)  # None: no contribution yet (avoids recording 0 + g)
    root._g = seed
    for node in order:
        parents = node._parents
        g = node._g
        op = node._op
        if parents and g is not None and op is not None:  # (a node with parents always has its op)
            for p, d in zip(parents, op.local(node, parents, node._param)):
                if type(d) is float and d == 0.0:  # a constant flat edge passes nothing
                    continue
                c = _times(g, d)
                p._g = c if p._g is None else p._g + c
    return order


def _pass_grad(x: Value, order_mark: object) -> Any:
    """The gradient the last pass left on ``x``, or 0 if the pass did not reach it."""
    return x._g if x._mark is order_mark and x._g is not None else 0.0


def grad(
    output: Value, inputs: Value | Sequence[Value], create_graph: bool = False
) -> Any:
    """Gradients of the scalar ``output`` w.r.t. ``inputs``, without touching any ``.grad``.

    Returns a float per input (a list if ``inputs`` is a sequence).  With ``create_graph=True``
    each gradient is a :class:`Value` whose own graph computes it, so it can be differentiated
    again (to any order).  Inputs that ``output`` does not depend on get 0.
    """
    if not isinstance(output, Value):
        raise TypeError(f"grad: output must be a Value, got {type(output).__name__}")
    single = isinstance(inputs, Value)
    if isinstance(inputs, Value):
        xs = [inputs]
    elif isinstance(inputs, Iterable):
        xs = list(inputs)
    else:
        raise TypeError(f"grad: inputs must be a Value or a sequence of Values, got {type(inputs).__name__}")
    for i, x in enumerate(xs):
        if not isinstance(x, Value):
            raise TypeError(f"grad: inputs[{i}] must be a Value, got {type(x).__name__}")
    if create_graph:
        if not is_grad_enabled():
            raise RuntimeError("grad(create_graph=True) cannot record a graph inside no_grad()")
        order = _backprop(output, 1.0, create_graph=True)
        gs = [_pass_grad(x, output._mark) for x in xs]
        for node in order:  # drop references from the graph to its gradient graph (no cycles)
            node._g = 0.0
        res: list[Any] = [g if isinstance(g, Value) else Value(g) for g in gs]
    else:
        _backprop(output, 1.0, create_graph=False)
        res = [float(_pass_grad(x, output._mark)) for x in xs]
    return res[0] if single else res
