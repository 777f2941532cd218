"""Trace a function of one example once; replay its graph over a whole batch with NumPy.

The graph the engine builds for one example is the same for every example, so :func:`trace`
builds it once, on placeholder Values for the example's inputs (and target), and a
:class:`Program` replays it over all rows at once (docs/trace.md walks through it):

* every node is a **column**: its values over the rows in ``V[:, c]``, its gradients in ``G[:, c]``;
* forward runs the nodes oldest first, backward newest first, each with its op's array rule
  (:data:`ARRAY_RULES`, keyed by the engine's op names): ``g_parent += g_node * d node/d parent``
  for every row in one NumPy call; a parameter's gradient is the sum over the rows;
* the nodes of one op at one depth (longest path from a leaf) are one **block** of adjacent
  columns: one call on an ``(N, k)`` array.  ``dot`` nodes reading the same inputs with
  parameters as weights are one matrix product, ``Z = [X | 1] [W | b]^T``, whose backward is
  ``[dW | db] = gZ^T [X | 1]`` and ``gX = gZ W``.  Blocks of the data only run once per batch.

**The engine's numbers.**  Each array rule is its float rule's formula, with the same kinks and
IEEE special values; sums (``math.fsum`` in the engine) and ``np.tanh`` differ by rounding only.
The engine's *zero rule* (an exactly-0 gradient or local derivative passes nothing, even against
inf or NaN) would cost a pass over every product, so the replay multiplies plainly: NaN and inf
never turn finite again, so finite parameter gradients prove the plain products exact; otherwise
the backward pass runs again with the rule.

**What one trace cannot see.**  An ``if``, ``max`` or ``.data`` on the *data* runs once, for the
traced example, and the program replays that choice for every row.  :meth:`Program.check` traces
the first rows again and compares their graphs; write such choices without branches, e.g. BCE
from a logit ``z`` as ``((1 - 2 * y) * z).softplus()``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from microgrid.arrays import evaluate, real_array
from microgrid.engine import Value, is_grad_enabled, topological_order
from microgrid.optim import Optimizer, batch_indices, check_loss, check_training_args, make_optimizer

__all__ = ["ARRAY_RULES", "ArrayRule", "Program", "trace"]

Array = np.ndarray


# -- the engine's op table on arrays, and how an edge applies a local derivative -------------------


@dataclass(frozen=True)
class ArrayRule:
    """One op on arrays: ``forward(a, p, out, s)`` writes ``y = op(a)`` into ``out``;
    ``local(y, a, p, s)`` gives ``dy/da[i]`` per operand (an array, or a number the same in every
    row); ``show(a, y, p)`` writes both as text from the operands' names (:meth:`Program.source`).
    ``p`` is the op's constant (``c`` of ``x ** c``, leaky_relu's slope, a dot's number of
    weights); ``s`` a scratch array (zeros), for the rules that ask, passing work from ``y`` to
    ``dy/da``."""

    forward: Callable[[list[Array], Any, Array, Any], Any]
    local: Callable[[Array, list[Array], Any, Any], tuple]
    show: Callable[[list[str], str, Any], tuple[str, list[str]]]
    scratch: bool = False


def _exp_minus_abs(x: Array, s: Array) -> Array:
    return np.exp(np.negative(np.abs(x, out=s), out=s), out=s)


def _sigmoid(x: Array, out: Array, s: Array) -> Array:
    """The engine's two forms, ``1 / (1 + e^-x)`` for x >= 0 and ``e^x / (1 + e^x)`` below, from
    ``e = e^-|x|``, kept in ``s`` for the derivative."""
    e = _exp_minus_abs(x, s)
    return np.divide(np.where(x >= 0.0, 1.0, e), 1.0 + e, out=out)


def _softplus(x: Array, out: Array, s: Array) -> Array:
    """``max(x, 0) + log1p(e^-|x|)``, with ``e^-|x|`` kept in ``s`` for the derivative."""
    np.log1p(_exp_minus_abs(x, s), out=out)
    out += np.maximum(x, 0.0)
    return out


def _pow(x: Array, c: Any) -> Array:
    # a full array of exponents: for a scalar one NumPy computes x**2, x**0.5 and x**-1 by other
    # formulas than C's pow, which the engine follows
    return np.power(x, np.full(x.shape, c))


def _pow_local(y: Array, a: list[Array], p: Any, s: Any) -> tuple:
    if len(a) == 1:  # x ** c:  c x^(c-1), 0 when c = 0
        return (0.0 if p == 0.0 else p * _pow(a[0], p - 1.0),)
    base, ex = a  # a ** b:  b a^(b-1) (0 at b = 0 for every a),  y ln a (0 where a = 0 and b >= 0)
    return (np.where(ex == 0.0, 0.0, ex * np.power(base, ex - 1.0)),
            np.where((base == 0.0) & (ex >= 0.0), 0.0, y * np.log(base)))


class _Quotient:
    """A local derivative applied by dividing, as the engine's ``Quotient``: an edge passes
    ``rule(g, *parts)`` (``g / b``), and is flat (passes nothing) where even the largest ``g``
    would pass 0."""

    def __init__(self, rule: Callable[..., Array], *parts: Array) -> None:
        self.rule, self.parts = rule, parts

    def times(self, g: Array) -> Array:
        return self.rule(g, *self.parts)

    def flat(self) -> Array:
        return self.rule(np.finfo(np.float64).max, *self.parts) == 0.0


def _slope(g: Any, a: Any, b: Any) -> Array:
    """``-g·a/b²`` as the engine computes it (``_numerics.fslope``): from the mantissas, the
    power of two applied last; zero, inf or nan operands give ``-((g·a)/b)/b``."""
    g, a, b = np.broadcast_arrays(np.asarray(g, dtype=np.float64), a, b)
    (mg, eg), (ma, ea), (mb, eb) = np.frexp(g), np.frexp(a), np.frexp(b)
    regular = (g != 0.0) & (a != 0.0) & (b != 0.0) & np.isfinite(g) & np.isfinite(a) & np.isfinite(b)
    with np.errstate(all="ignore"):
        return np.where(regular, np.ldexp(-(mg * ma) / mb / mb, eg + ea - 2 * eb), -((g * a) / b) / b)


def _sum(terms: Sequence[Array], out: Array) -> Array:
    np.copyto(out, terms[0])
    for t in terms[1:]:
        out += t
    return out


def _set(out: Array, value: Array) -> Array:
    out[...] = value
    return out


def _show_pow(a: list[str], y: str, p: Any) -> tuple[str, list[str]]:
    if len(a) == 1:
        return f"{a[0]} ** {p:g}", [f"{p:g} * {a[0]} ** {p - 1.0:g}"]
    return f"{a[0]} ** {a[1]}", [f"{a[1]} * {a[0]} ** ({a[1]} - 1)", f"{y} * log({a[0]})"]


def _show_dot(a: list[str], y: str, n: int) -> tuple[str, list[str]]:
    text = " + ".join([f"{a[i]} * {a[n + i]}" for i in range(n)] + a[2 * n :])
    return text, [*a[n : 2 * n], *a[:n], "1"]


def _unary(name: str, local: str) -> Callable[[list[str], str, Any], tuple[str, list[str]]]:
    return lambda a, y, p: (f"{name}({a[0]})", [local.format(a[0], y=y)])


# fmt: off
#: The array form of every op of the engine's table, by the op's name (``"**"`` is both ``x ** c``,
#: one operand and ``p = c``, and ``a ** b``, two operands).
ARRAY_RULES: dict[str, ArrayRule] = {
    "+": ArrayRule(lambda a, p, o, s: np.add(a[0], a[1], out=o), lambda y, a, p, s: (1.0, 1.0),
                   lambda a, y, p: (f"{a[0]} + {a[1]}", ["1", "1"])),
    "-": ArrayRule(lambda a, p, o, s: np.subtract(a[0], a[1], out=o), lambda y, a, p, s: (1.0, -1.0),
                   lambda a, y, p: (f"{a[0]} - {a[1]}", ["1", "-1"])),
    "*": ArrayRule(lambda a, p, o, s: np.multiply(a[0], a[1], out=o), lambda y, a, p, s: (a[1], a[0]),
                   lambda a, y, p: (f"{a[0]} * {a[1]}", [a[1], a[0]])),
    "/": ArrayRule(lambda a, p, o, s: np.divide(a[0], a[1], out=o),
                   lambda y, a, p, s: (_Quotient(np.divide, a[1]), _Quotient(_slope, a[0], a[1])),
                   lambda a, y, p: (f"{a[0]} / {a[1]}", [f"1 / {a[1]}", f"-{a[0]} / {a[1]} ** 2"])),
    "**": ArrayRule(lambda a, p, o, s: _set(o, _pow(a[0], p) if len(a) == 1 else np.power(a[0], a[1])),
                    _pow_local, _show_pow),
    "neg": ArrayRule(lambda a, p, o, s: np.negative(a[0], out=o), lambda y, a, p, s: (-1.0,),
                     lambda a, y, p: (f"-{a[0]}", ["-1"])),
    "exp": ArrayRule(lambda a, p, o, s: np.exp(a[0], out=o), lambda y, a, p, s: (y,), _unary("exp", "{y}")),
    "log": ArrayRule(lambda a, p, o, s: np.log(a[0], out=o), lambda y, a, p, s: (_Quotient(np.divide, a[0]),),
                     _unary("log", "1 / {0}")),
    "tanh": ArrayRule(lambda a, p, o, s: np.tanh(a[0], out=o), lambda y, a, p, s: ((1.0 - y) * (1.0 + y),),
                      _unary("tanh", "(1 - {y}) * (1 + {y})")),
    # sigma' = sigma(x) sigma(-x), and sigma(-x) = e / (1 + e) for x >= 0, 1 / (1 + e) below
    "sigmoid": ArrayRule(lambda a, p, o, s: _sigmoid(a[0], o, s),
                         lambda y, a, p, s: (y * (np.where(a[0] <= 0.0, 1.0, s) / (1.0 + s)),),
                         _unary("sigmoid", "{y} * sigmoid(-{0})"), scratch=True),
    # relu against an array of zeros (s): NumPy's loop for two arrays is faster than for a number
    "relu": ArrayRule(lambda a, p, o, s: np.maximum(a[0], s, out=o),
                      lambda y, a, p, s: (np.greater(a[0], 0.0),), _unary("relu", "({0} > 0)"), scratch=True),
    "leaky_relu": ArrayRule(lambda a, p, o, s: _set(o, np.where(a[0] <= 0.0, p * a[0], a[0])),
                            lambda y, a, p, s: (np.where(a[0] > 0.0, 1.0, p),),
                            lambda a, y, p: (f"leaky_relu({a[0]}, {p:g})", [f"where({a[0]} > 0, 1, {p:g})"])),
    # softplus' = sigma(x), from the same e = e^-|x|
    "softplus": ArrayRule(lambda a, p, o, s: _softplus(a[0], o, s),
                          lambda y, a, p, s: (np.where(a[0] >= 0.0, 1.0, s) / (1.0 + s),),
                          _unary("softplus", "sigmoid({0})"), scratch=True),
    "abs": ArrayRule(lambda a, p, o, s: np.abs(a[0], out=o),
                     lambda y, a, p, s: (np.greater(a[0], 0.0) - np.less(a[0], 0.0) * 1.0,),  # 0 at 0 and NaN
                     _unary("abs", "sign({0})")),
    "sqrt": ArrayRule(lambda a, p, o, s: np.sqrt(a[0], out=o), lambda y, a, p, s: (0.5 / y,),
                      _unary("sqrt", "0.5 / {y}")),
    "sum": ArrayRule(lambda a, p, o, s: _sum(a, o), lambda y, a, p, s: (1.0,) * len(a),
                     lambda a, y, p: (" + ".join(a), ["1"] * len(a))),
    "dot": ArrayRule(lambda a, p, o, s: _sum([a[i] * a[p + i] for i in range(p)] + a[2 * p :], o),
                     lambda y, a, p, s: (*a[p : 2 * p], *a[:p], 1.0), _show_dot),
    # in recorded derivatives (grad(..., create_graph=True)): -g·a/b², and a 0 set by convention
    "-g*a/b^2": ArrayRule(lambda a, p, o, s: _set(o, _slope(*a)),
                          lambda y, a, p, s: (_slope(1.0, a[1], a[2]), _slope(a[0], 1.0, a[2]),
                                              -2.0 * (y / a[2])),
                          lambda a, y, p: (f"-{a[0]} * {a[1]} / {a[2]} ** 2",
                                           [f"-{a[1]} / {a[2]} ** 2", f"-{a[0]} / {a[2]} ** 2",
                                            f"-2 * {y} / {a[2]}"])),
    "zero": ArrayRule(lambda a, p, o, s: np.copyto(o, 0.0), lambda y, a, p, s: (1.0,),
                      lambda a, y, p: ("0", ["1"])),
}
# fmt: on


def _times(g: Array, d: Any, careful: bool) -> Array:
    """``g * d``; with ``careful``, 0 wherever ``g`` or ``d`` is 0 (the engine's zero rule)."""
    if isinstance(d, _Quotient):
        return np.where(d.flat() | (g == 0.0), 0.0, d.times(g)) if careful else d.times(g)
    if isinstance(d, float) and (d == 1.0 or not careful):
        return g if d == 1.0 else np.zeros_like(g) if d == 0.0 else g * d
    return np.where((g == 0.0) | (d == 0.0), 0.0, g * d) if careful else g * d


# -- tracing one example; checking that other rows build the same graph ----------------------------


def trace(fn: Callable[..., Value], x: Sequence[float] | Array,
          y: float | Sequence[float] | Array | None = None, params: Sequence[Value] | None = None) -> Program:
    """Trace ``fn`` on the example ``x`` (and target ``y``) into a :class:`Program`.

    ``fn(xs)``, or ``fn(xs, ys)`` when ``y`` is given, receives the example as placeholder Values
    (``ys`` is one Value for a number ``y``, a list for a sequence) and returns a Value: typically
    the example's loss. ``params``: the leaves to differentiate and train, e.g.
    ``model.parameters()``; by default every leaf that is not a placeholder (constants such as the
    ``2`` of ``2 * x`` included).
    """
    if not is_grad_enabled():
        raise RuntimeError("trace records the graph of fn, which no_grad() switches off")
    inputs, targets, args = _placeholders(x, y)
    root = evaluate(fn, args, "trace")
    return Program(fn, root, inputs, targets, y is not None and np.ndim(y) == 0, params)


def _placeholders(x: object, y: object) -> tuple[list[Value], list[Value], list[Any]]:
    """Leaf Values holding the example ``x`` (and ``y``), and the arguments to call ``fn`` with."""
    row = real_array(x, "x")
    if row.ndim != 1:
        raise ValueError(f"x must be one example (a 1-D sequence of numbers), got shape {row.shape}")
    inputs = [Value(v, f"x[{i}]") for i, v in enumerate(row.tolist())]
    if y is None:
        return inputs, [], [inputs]
    t = real_array(y, "y")
    if t.ndim > 1:
        raise ValueError(f"y must be a number or a 1-D sequence of numbers, got shape {t.shape}")
    targets = [Value(v, f"y[{i}]") for i, v in enumerate(t.reshape(-1).tolist())]
    return inputs, targets, [inputs, targets[0] if t.ndim == 0 else targets]


def _constant(v: Value) -> Any:
    """The constant of ``v``'s op (the engine keeps it on the node, with no public name)."""
    return v._param


def _signature(root: Value, holders: list[Value]) -> list[tuple]:
    """The graph as data: each node's op, constant and parents (by position), or which
    placeholder or number a leaf is."""
    nodes = topological_order(root)[::-1]
    where = {id(v): i for i, v in enumerate(nodes)}
    held = {id(v): i for i, v in enumerate(holders)}
    return [(v.op, repr(_constant(v)), tuple(where[id(p)] for p in v.parents)) if v.parents
            else ("placeholder", held[id(v)]) if id(v) in held
            else ("number", repr(v.data)) for v in nodes]


def _describe(entry: tuple | None) -> str:
    if entry is None:
        return "missing"
    if entry[0] in ("placeholder", "number"):
        return f"the {entry[0]} {entry[1]}"
    return f"op {entry[0]!r}" + ("" if entry[1] == "None" else f" ({entry[1]})")


def _relative(a: float, b: float) -> float:
    if a == b or (a != a and b != b):
        return 0.0
    if not (math.isfinite(a) and math.isfinite(b)):
        return math.inf
    return abs(a - b) / max(abs(a), abs(b))


# -- the plan: blocks of adjacent columns, and where their gradients go ----------------------------


def _span(idx: Sequence[int]) -> slice | None:
    """``slice(a, b)`` when ``idx`` is ``a, a + 1, ..., b - 1``, else None."""
    if len(idx) and list(idx) == list(range(idx[0], idx[0] + len(idx))):
        return slice(int(idx[0]), int(idx[0]) + len(idx))
    return None


class _Key(NamedTuple):
    """Nodes with equal keys form one block."""

    stage: str  # "data" (no parameter upstream: computed once per batch) or "params"
    depth: int
    op: str  # the engine's op name, or "matmul"
    arity: int
    const: Any  # the op's constant (for a matrix product: the number of weights)
    shared: tuple[int, ...] = ()  # the inputs (ids) that all members of a matrix product read


def _key(v: Value, depth: int, needs: bool, is_param: set[int]) -> _Key:
    """The block ``v`` joins.  A ``dot`` node whose weights (or inputs) and bias are parameters
    joins the matrix product of the ``dot`` nodes that read the same inputs."""
    stage, ps = "params" if needs else "data", v.parents
    if v.op == "dot":
        n = len(ps) // 2
        for ws, xs in ((ps[:n], ps[n : 2 * n]), (ps[n : 2 * n], ps[:n])):  # dot(w, x) or dot(x, w)
            if all(id(w) in is_param for w in ws + ps[2 * n :]) and not all(id(x) in is_param for x in xs):
                return _Key(stage, depth, "matmul", len(ps), n, tuple(map(id, xs)))
    return _Key(stage, depth, v.op, len(ps), _constant(v))


def _split(m: Value, key: _Key) -> tuple[tuple[Value, ...], tuple[Value, ...]]:
    """A block member's parents read from ``V``, and (a matrix product) its row of ``[W | b]``:
    the side of ``dot(w, x)`` or ``dot(x, w)`` that is not the shared inputs, then the bias."""
    if key.op != "matmul":
        return m.parents, ()
    n, ps = key.const, m.parents
    first, second = ps[:n], ps[n : 2 * n]
    xs, ws = (second, first) if tuple(map(id, second)) == key.shared else (first, second)
    return xs, ws + ps[2 * n :]


@dataclass
class _Target:
    """The entries ``idx`` (columns of ``G``, or places in the gradient vector) that one
    contribution of gradient goes to.  ``add`` is False when no other contribution reaches them:
    the contribution is then written, and they need no zeroing first."""

    idx: list[int]
    add: bool

    def __post_init__(self) -> None:
        self.span = _span(self.idx)
        # an entry named twice gets its contributions in successive passes (not np.add.at)
        self.passes: list[tuple[list[int], list[int]]] = []
        left = list(range(len(self.idx)))
        while left:
            first = {self.idx[pos]: pos for pos in reversed(left)}
            self.passes.append((list(first.values()), list(first)))
            left = [pos for pos in left if pos not in first.values()]


@dataclass
class _Block:
    """``k`` nodes of one op at one depth, written to the adjacent columns ``out`` of ``V``.

    ``operands[j]`` holds the columns of the members' ``j``-th parents; for a matrix product
    (``matmul``) ``operands[0]`` holds the shared inputs and ``W`` the places of ``[W | b]`` in
    the parameter vector, a row per member (the bias rides along: ``Z = [X | 1] [W | b]^T``).
    ``targets[j]``: where the gradient for operand ``j`` goes (None when it leads to no
    parameter), then for a matrix product where ``[dW | db]`` goes.
    """

    op: str
    param: Any
    members: list[Value]
    out: slice
    operands: list[list[int]]
    stage: str  # "data" (once per batch: no parameter upstream) or "params"
    matmul: bool = False
    W: list[list[int]] = field(default_factory=list)  # each member's places of [w | b]
    bias: bool = False
    sends: list[bool] = field(default_factory=list)  # whether operand j leads to a parameter
    targets: list[_Target | None] = field(default_factory=list)


# -- the program: plan, run, check, print ----------------------------------------------------------


class Program:
    """A traced graph, replayed over batches of rows.

    ``params`` lists the parameters in the order of the gradients :meth:`loss_and_grads`
    returns; their values are read from the Values at each call, and :meth:`fit` writes them back.
    """

    def __init__(self, fn: Callable[..., Value], root: Value, inputs: list[Value], targets: list[Value],
                 scalar_target: bool = False, params: Sequence[Value] | None = None) -> None:
        self._fn, self.root, self.n_inputs, self.n_targets = fn, root, len(inputs), len(targets)
        self._holders, self._scalar_target = inputs + targets, scalar_target
        self.nodes = topological_order(root)[::-1]  # oldest first: every node after its parents
        held = {id(v) for v in self._holders}
        self.params = list(params if params is not None else
                           [v for v in self.nodes if not v.parents and id(v) not in held])
        for p in self.params:
            if not isinstance(p, Value) or p.parents or id(p) in held:
                raise ValueError(f"params must be leaf Values other than the placeholders, got {p!r:.80}")
        if len({id(p) for p in self.params}) != len(self.params):
            raise ValueError("params lists a Value twice")
        self._plan()
        self._theta = np.array([p.data for p in self._theta_params])  # the parameters, in the plan's order
        self._grad = np.zeros_like(self._theta)
        self._workspaces: dict[int, _Workspace] = {}

    def _plan(self) -> None:
        """Group the nodes into blocks, give every value a column and every parameter a place."""
        is_param = {id(p) for p in self.params}
        rows, needs = {id(v) for v in self._holders}, set(is_param)  # vary by row; depend on a parameter
        self._consts: dict[int, float] = {}  # the same number in every row: constants, and nodes of them
        depth: dict[int, int] = {}
        groups: dict[_Key, list[Value]] = {}
        for v in self.nodes:
            ps = v.parents
            if not any(id(p) in rows or id(p) in needs for p in ps):
                depth[id(v)] = 0
                if id(v) not in rows and id(v) not in is_param:
                    self._consts[id(v)] = v.data
                continue
            depth[id(v)] = 1 + max(depth[id(p)] for p in ps)
            rows.update([id(v)] if any(id(p) in rows for p in ps) else [])
            needs.update([id(v)] if any(id(p) in needs for p in ps) else [])
            groups.setdefault(_key(v, depth[id(v)], id(v) in needs, is_param), []).append(v)
        keys = sorted(groups, key=lambda k: (k.stage != "data", k.depth))  # stable: in creation order
        # the parameter vector: each matrix product's [W | b] row by row, then the others
        place: dict[int, int] = {}
        for key in keys:
            if key.op == "matmul":
                for w in [w for m in groups[key] for w in _split(m, key)[1]]:
                    place.setdefault(id(w), len(place))
        for p in self.params:
            place.setdefault(id(p), len(place))
        self._place, self._theta_params = place, sorted(self.params, key=lambda p: place[id(p)])
        self._order = [place[id(p)] for p in self.params]
        # the columns: the inputs, the targets, the parameters and constants that blocks read, the
        # blocks; after the inputs and after each block a column of ones (for a bias to ride along)
        col = {id(v): i for i, v in enumerate(self._holders[: self.n_inputs])}
        self._ones = [self.n_inputs]
        self._targets_at = self.n_inputs + 1
        col.update((id(v), self._targets_at + i) for i, v in enumerate(self._holders[self.n_inputs :]))
        self._broadcast = []
        width = len(self._holders) + 1
        for v in [p for key in keys for m in groups[key] for p in _split(m, key)[0]] + [self.root]:
            if id(v) not in col and (id(v) in is_param or id(v) in self._consts):
                col[id(v)], width = width, width + 1
                self._broadcast.append(v)
        self.blocks: list[_Block] = []
        for key in keys:
            members = groups[key]
            out = slice(width, width + len(members))
            col.update((id(m), out.start + i) for i, m in enumerate(members))
            self._ones.append(out.stop)
            width = out.stop + 1
            reads, weights = zip(*[_split(m, key) for m in members])
            matmul = key.op == "matmul"  # the shared inputs are one operand; else operand j: each one's j-th
            operands = [reads[0]] if matmul else [[r[j] for r in reads] for j in range(key.arity)]
            self.blocks.append(_Block("dot" if matmul else key.op, key.const, members, out,
                                      [[col[id(v)] for v in vs] for vs in operands], key.stage, matmul,
                                      [[place[id(w)] for w in ws] for ws in weights] if matmul else [],
                                      matmul and key.arity % 2 == 1,
                                      [any(id(v) in needs for v in vs) for vs in operands]))
        self._col, self.n_columns = col, width
        self._root_col = col[id(self.root)]
        self._params_read = [(col[id(p)], place[id(p)]) for p in self._broadcast if id(p) in is_param]
        self._plan_gradients()

    def _plan_gradients(self) -> None:
        """Where each block's gradients go.  An entry that several contributions reach is zeroed
        before the backward pass and added to; the others are written."""
        count = Counter([("p", i) for _, i in self._params_read])
        for b in self.blocks:
            if b.stage == "params":
                count.update([("G", c) for j, send in enumerate(b.sends) if send for c in b.operands[j]])
                count.update([("p", i) for row in b.W for i in row])

        def target(where: str, idx: list[int]) -> _Target:
            return _Target(idx, add=any(count[(where, i)] > 1 for i in idx))

        for b in self.blocks:
            b.targets = [target("G", b.operands[j]) if send and b.stage == "params" else None
                         for j, send in enumerate(b.sends)]
            if b.matmul:
                b.targets.append(target("p", [i for row in b.W for i in row]))
        self._zero_cols = sorted({c for b in self.blocks for t in b.targets[: len(b.operands)]
                                  if t is not None and t.add for c in t.idx})
        self._params_target = target("p", [i for _, i in self._params_read])
        # the gradient vector needs zeroing when a place is added to, or reached by nothing
        self._zero_grad = any(n > 1 for (where, _), n in count.items() if where == "p") or \
            len({i for (where, i) in count if where == "p"}) < len(self.params)

    # -- running ----------------------------------------------------------------------------------
    def _workspace(self, n: int) -> _Workspace:
        return self._workspaces.get(n) or self._workspaces.setdefault(n, _Workspace(self, n))

    def _loaded(self, X: object, y: object) -> _Workspace:
        """The workspace of ``X``'s rows, holding them and the parameters' current values."""
        X, Y = self._batch(X, y)
        self._theta[:] = [p.data for p in self._theta_params]
        ws = self._workspace(len(X))
        with np.errstate(all="ignore"):
            ws.load(X, Y)
        return ws

    def _batch(self, X: object, y: object) -> tuple[Array, Array]:
        X = real_array(X, "X")
        if X.ndim != 2 or X.shape[1] != self.n_inputs:
            raise ValueError(f"X must have shape (rows, {self.n_inputs}), got {X.shape}")
        if not self.n_targets:
            if y is not None:
                raise ValueError("the traced function takes no target: call without y")
            return X, np.empty((len(X), 0))
        if y is None:
            raise ValueError(f"the traced function takes a target: pass y ({self.n_targets} per row)")
        Y = real_array(y, "y")
        Y = Y.reshape(-1, 1) if Y.ndim == 1 and self.n_targets == 1 else Y
        if Y.shape != (len(X), self.n_targets):
            raise ValueError(f"y must have shape ({len(X)}, {self.n_targets}) for {len(X)} rows, "
                             f"got {Y.shape}")
        return X, Y

    def forward(self, X: object, y: object = None) -> Array:
        """The traced function's value for every row of ``X`` (and ``y``): shape ``(rows,)``."""
        ws = self._loaded(X, y)
        with np.errstate(all="ignore"):
            ws.forward()
        return ws.V[:, self._root_col].copy()

    def loss_and_grads(self, X: object, y: object = None, reduction: str = "mean") -> tuple[float, Array]:
        """The mean (or, with ``reduction="sum"``, the sum) of the function over the rows, and its
        gradient with respect to every parameter, in the order of :attr:`params`."""
        ws = self._loaded(X, y)
        scale = _reduction(reduction, ws.n)
        with np.errstate(all="ignore"):
            value = ws.forward() * scale
            ws.backward(scale)
        return value, self._grad[self._order]

    def fit(self, X: object, y: object = None, lr: float = 0.07, iters: int = 100,
            optimizer: str | Optimizer | None = None, batch_size: int | None = None, seed: int = 0,
            callback: Callable[[int, float], object] | None = None, reduction: str = "mean") -> Array:
        """Train the parameters on the rows: each iteration a forward pass, a backward pass and an
        optimizer step (``None``/``"gd"``, ``"momentum"``, ``"adam"`` or an
        :class:`~microgrid.optim.Optimizer`), on mini-batches of ``batch_size`` rows in an order
        drawn from ``seed`` (all rows by default).  Returns the loss before each step.  The
        parameters' Values hold the trained values afterwards; after a
        :class:`~microgrid.optim.TrainingDiverged`, the values before the step that diverged."""
        X, Y = self._batch(X, y)
        batch = check_training_args(iters, batch_size, len(X), seed)
        _reduction(reduction, 1)
        opt = make_optimizer(optimizer, lr)
        batches = batch_indices(len(X), batch, seed) if batch else None
        self._theta[:] = [p.data for p in self._theta_params]
        theta, grad = self._theta, self._grad  # shared by the workspaces of every batch size
        update = opt.updater([theta], [grad])  # checked once: every step updates these same arrays
        history = np.empty(iters)
        try:
            with np.errstate(all="ignore"):
                for it in range(iters):
                    if batches is not None or it == 0:  # all rows: loaded once
                        rows = np.arange(len(X)) if batches is None else next(batches)
                        ws = self._workspace(len(rows))
                        ws.load(X[rows], Y[rows])
                    scale = _reduction(reduction, ws.n)
                    history[it] = check_loss(ws.forward() * scale, it, opt.lr)
                    if callback is not None:
                        callback(it, history[it])
                    ws.backward(scale)
                    update()
        finally:
            for p, v in zip(self._theta_params, theta.tolist()):
                p.data = v
        return history

    # -- checking ---------------------------------------------------------------------------------
    def check(self, X: object, y: object = None, rows: int = 5) -> float:
        """Trace the function again on each of the first ``rows`` rows: its graph must be the
        traced one (else ValueError naming the row and the first node that differs: the function
        takes a branch on the data), and the engine's output the replayed one.  Returns the
        largest relative difference between the two outputs over those rows."""
        X, Y = self._batch(X, y)
        X, Y = X[:rows], Y[:rows]
        replayed = self.forward(X, Y if self.n_targets else None)
        traced = _signature(self.root, self._holders)
        worst = 0.0
        for r in range(len(X)):
            t = (Y[r, 0] if self._scalar_target else Y[r]) if self.n_targets else None
            inputs, targets, args = _placeholders(X[r], t)
            root = evaluate(self._fn, args, "check")
            graph = _signature(root, inputs + targets)
            for i, (a, b) in enumerate(zip([*traced, None], [*graph, None])):
                if a != b:
                    raise ValueError(f"row {r} builds another graph than the traced example (a branch on "
                                     f"the data?): node {i} of {len(traced)} is {_describe(b)} where the "
                                     f"trace has {_describe(a)}")
            worst = max(worst, _relative(replayed[r], root.data))
        return worst

    # -- the program as text ----------------------------------------------------------------------
    def source(self, rows: int | None = None) -> str:
        """The program as NumPy-like text, one line per block operation, forward then backward,
        with each result's shape (``N`` rows, or ``rows``): ``x``, ``y`` are the batch's inputs and
        targets, ``v1, v2, ...`` the blocks' values and ``g1, g2, ...`` their gradients
        (``g = d loss / d v`` for the mean loss), ``W1, b1, ...`` the parameters of the matrix
        products, ``p`` the parameter vector and ``gp`` its gradient."""
        n = "N" if rows is None else str(rows)
        names = {i: ("x", i) for i in range(self.n_inputs)}  # column -> (array, column in it)
        names.update((self._targets_at + i, ("y", i)) for i in range(self.n_targets))
        names.update((self._col[id(v)], (f"{self._consts[id(v)]:g}", -1) if id(v) in self._consts
                      else ("p", self._place[id(v)])) for v in self._broadcast)
        width = {"x": self.n_inputs, "y": self.n_targets}
        for k, b in enumerate(self.blocks, 1):
            width[f"v{k}"] = len(b.members)
            names.update((b.out.start + j, (f"v{k}", j)) for j in range(len(b.members)))

        def read(cols: list[int], grad: bool = False) -> str:
            runs: list[tuple[str, list[int]]] = []  # consecutive columns of one array
            for c in cols:
                name, j = names[c]
                if runs and runs[-1][0] == name and j >= 0:
                    runs[-1][1].append(j)
                else:
                    runs.append((name, [j] if j >= 0 else []))
            texts = [_columns(("g" + name.lstrip("v") + ("_row" if name == "p" else "")) if grad else name,
                              idx, width.get(name, 0)) if idx else name for name, idx in runs]
            if len(texts) > 1 and not any(idx for _, idx in runs):  # numbers only
                return f"[{', '.join(texts)}]"
            return texts[0] if len(texts) == 1 else f"cat({', '.join(texts)})"

        def line(text: str, shape: str, note: str = "") -> str:
            return f"{text:<34} # {shape}{note}"

        forward = [f"# forward, {n} rows: x ({n}, {self.n_inputs})" +
                   (f", y ({n}, {self.n_targets})" if self.n_targets else "") + f", p ({len(self._theta)},)"]
        backward: list[str] = []
        matmuls = 0
        for k, b in enumerate(self.blocks, 1):
            args, g = [read(cols) for cols in b.operands], f"g{k}"
            back = []
            if b.matmul:
                matmuls += 1
                W, d = f"W{matmuls}", len(b.operands[0])
                Wb, dWb, X1 = (f"[{W} | b{matmuls}]", f"[d{W} | db{matmuls}]", f"[{args[0]} | 1]") if b.bias \
                    else (W, f"d{W}", args[0])
                forward.append(line(f"v{k} = {args[0]} @ {W}.T" + (f" + b{matmuls}" if b.bias else ""),
                                    f"({n}, {len(b.members)})",
                                    f"  {Wb} = p[{_places(b.W)}].reshape({len(b.W)}, {len(b.W[0])})"))
                tP = b.targets[1]
                back.append(line(f"gp[{_places(b.W)}] += ({g}.T @ {X1}).ravel()" if tP and tP.add else
                                 f"{dWb} = {g}.T @ {X1}", f"({len(b.W)}, {len(b.W[0])})"))
                if b.sends[0]:
                    back.append(line(f"{read(b.operands[0], True)} {_assign(b.targets[0])} {g} @ {W}",
                                     f"({n}, {d})"))
            else:
                text, locals_ = ARRAY_RULES[b.op].show(args, f"v{k}", b.param)
                forward.append(line(f"v{k} = {text}", f"({n}, {len(b.members)})",
                                    "  data only: once per batch" if b.stage == "data" else ""))
                for j, local in enumerate(locals_):
                    if b.sends[j]:
                        times = g if local == "1" else f"-{g}" if local == "-1" else f"{g} * {local}"
                        back.append(line(f"{read(b.operands[j], True)} {_assign(b.targets[j])} {times}",
                                         f"({n}, {len(b.members)})"))
            if b.stage == "params":
                backward = back + backward
        if self._params_read:
            cols = [c for c, _ in self._params_read]
            backward.append(line(f"gp[{[i for _, i in self._params_read]}] += {read(cols, True)}.sum(0)",
                                 f"({len(cols)},)"))
        return "\n".join([*forward, line(f"loss = {read([self._root_col])}.sum() / {n}", "()"),
                          "# backward", line(f"{read([self._root_col], True)} = 1 / {n}", f"({n}, 1)"),
                          *backward])

    def __repr__(self) -> str:
        return (f"Program({len(self.nodes)} nodes in {len(self.blocks)} blocks, {self.n_inputs} inputs, "
                f"{self.n_targets} targets, {len(self.params)} parameters)")


def _reduction(reduction: str, n: int) -> float:
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    return 1.0 / n if reduction == "mean" else 1.0


def _columns(name: str, idx: list[int], width: int) -> str:
    """Columns ``idx`` of the array ``name`` (of ``width`` columns) as NumPy writes them."""
    span = _span(idx)
    if name in ("p", "gp_row"):
        return f"{name}[{idx[0]}]" if len(idx) == 1 else f"{name}[{idx}]"
    if span is not None and len(idx) == width:
        return name
    return f"{name}[:, {span.start}:{span.stop}]" if span is not None else f"{name}[:, {idx}]"


def _places(idx: list[list[int]]) -> str:
    flat = [i for row in idx for i in row]
    span = _span(flat)
    return f"{span.start}:{span.stop}" if span is not None else str(flat)


def _assign(target: _Target | None) -> str:
    return "+=" if target is not None and target.add else "="


# -- replay: the arrays of a plan for N rows, and each block's forward and backward step -----------


class _Workspace:
    """``V`` and ``G`` for ``n`` rows (column-major, so a block of adjacent columns is one
    contiguous piece of memory), the buffers of gathered operands, and each block's steps bound
    to them: a pass allocates only the temporaries of the rules' formulas."""

    def __init__(self, prog: Program, n: int) -> None:
        self.prog, self.n = prog, n
        self.V, self.G = np.zeros((prog.n_columns, n)).T, np.zeros((prog.n_columns, n)).T
        for v in prog._broadcast:
            if id(v) in prog._consts:
                self.V[:, prog._col[id(v)]] = prog._consts[id(v)]
        self.V[:, prog._ones] = 1.0
        self.gathers = 0  # operands gathered rather than viewed
        self.loads: list[Callable[[], None]] = []  # the blocks of the data only
        self.steps: list[Callable[[], None]] = []
        self.backs: list[Callable[[bool], None]] = []
        for b in prog.blocks:
            forward, backward = (self._matmul if b.matmul else self._elementwise)(b)
            (self.loads if b.stage == "data" else self.steps).append(forward)
            if b.stage == "params":
                self.backs.insert(0, backward)
        self.send_params = self.sender(prog._params_target, prog._grad)

    def read(self, cols: list[int], ones: bool = False) -> tuple[Array, Callable[[], None] | None]:
        """An ``(n, k)`` array holding the columns ``cols`` of ``V`` (and, with ``ones``, a column
        of ones after them): a view, or a buffer and the gather that fills it."""
        span = _span(cols)
        if span is not None and (not ones or span.stop in self.prog._ones):
            return self.V[:, span.start : span.stop + ones], None
        self.gathers += 1
        buf = np.ones((len(cols) + ones, self.n)).T
        into = buf[:, : len(cols)]

        def gather() -> None:
            np.take(self.V, cols, axis=1, out=into, mode="clip")
        return buf, gather

    def sender(self, target: _Target, dest: Array) -> Callable[[Array, Any, bool], None]:
        """``send(g, d, careful)``: ``g * d`` (with the zero rule when ``careful``) written or
        added into ``target``'s entries of ``dest``: columns of ``G``, or the gradient vector."""
        at = (lambda i: (slice(None), i)) if dest.ndim == 2 else (lambda i: i)
        if target.span is not None and not target.add:
            view = dest[at(target.span)]

            def write(g: Array, d: Any, careful: bool) -> None:
                if careful or not isinstance(d, np.ndarray):
                    np.copyto(view, _times(g, d, careful))
                else:
                    np.multiply(g, d, out=view)
            return write

        def scatter(g: Array, d: Any, careful: bool) -> None:
            c = _times(g, d, careful)
            for pos, idx in target.passes:
                if target.add:
                    dest[at(idx)] += c[at(pos)]
                else:
                    dest[at(idx)] = c[at(pos)]
        return scatter

    def _elementwise(self, b: _Block) -> tuple[Callable[[], None], Callable[[bool], None]]:
        rule, p, y, g = ARRAY_RULES[b.op], b.param, self.V[:, b.out], self.G[:, b.out]
        scratch = np.zeros((len(b.members), self.n)).T if rule.scratch else None
        reads = [self.read(cols) for cols in b.operands]
        args, gathers = [a for a, _ in reads], [f for _, f in reads if f is not None]
        sends = [self.sender(t, self.G) if t is not None else None for t in b.targets]

        def forward() -> None:
            for gather in gathers:
                gather()
            rule.forward(args, p, y, scratch)

        def backward(careful: bool) -> None:  # g_operand (+)= g * d y / d operand
            for send, d in zip(sends, rule.local(y, args, p, scratch)):
                if send is not None:
                    send(g, d, careful)
        return forward, backward

    def _matmul(self, b: _Block) -> tuple[Callable[[], None], Callable[[bool], None]]:
        prog, d = self.prog, len(b.operands[0])
        X1, gather = self.read(b.operands[0], ones=b.bias)  # [X | 1]: the bias rides along
        Z, gZ = self.V[:, b.out], self.G[:, b.out]
        P, fill = _places_view(prog._theta, b.W)  # [W | b]
        W = P[:, :d]
        fills = [f for f in (gather, fill) if f is not None]
        tX, tP = b.targets
        assert tP is not None
        send_X = self.sender(tX, self.G) if tX is not None else None
        send_P = self.sender(tP, prog._grad)
        dP = prog._grad[tP.span].reshape(P.shape) if tP.span is not None and not tP.add else None
        dX = self.G[:, tX.span] if tX is not None and tX.span is not None and not tX.add else None

        def forward() -> None:
            for f in fills:
                f()
            np.matmul(P, X1.T, out=Z.T)  # Z = [X | 1] [W | b]^T, as Z^T = P X1^T (Z^T is row-major)

        def backward(careful: bool) -> None:
            if careful:  # the zero rule inside the products: a term with a factor 0 drops out
                send_P(_times(gZ[:, :, None], X1[:, None, :], True).sum(0).ravel(), 1.0, False)
                if send_X is not None:
                    send_X(_times(gZ[:, :, None], W, True).sum(1), 1.0, False)
                return
            if dP is not None:
                np.matmul(gZ.T, X1, out=dP)  # [dW | db] = gZ^T [X | 1]: db is the column sums of gZ
            else:
                send_P((gZ.T @ X1).ravel(), 1.0, False)
            if dX is not None:
                np.matmul(W.T, gZ.T, out=dX.T)  # gX = gZ W
            elif send_X is not None:
                send_X(gZ @ W, 1.0, False)
        return forward, backward

    # -- the passes -------------------------------------------------------------------------------
    def load(self, X: Array, Y: Array) -> None:
        """The rows into their columns, then the blocks of the data only."""
        self.V[:, : self.prog.n_inputs] = X
        self.V[:, self.prog._targets_at : self.prog._targets_at + self.prog.n_targets] = Y
        for step in self.loads:
            step()

    def forward(self) -> float:
        """The blocks that depend on the parameters; returns the sum of the outputs."""
        if self.prog._params_read:  # the parameters that elementwise blocks read
            cols, at = zip(*self.prog._params_read)
            self.V[:, cols] = self.prog._theta[list(at)]
        for step in self.steps:
            step()
        return float(self.V[:, self.prog._root_col].sum())

    def backward(self, seed: float, careful: bool = False) -> None:
        """Every parameter's gradient of ``seed`` times the sum of the outputs (``seed = 1/N``:
        the mean) into the program's gradient vector."""
        prog, G = self.prog, self.G
        if prog._zero_grad:
            prog._grad.fill(0.0)
        if prog._zero_cols:
            G[:, prog._zero_cols] = 0.0
        G[:, prog._root_col] = seed
        for step in self.backs:
            step(careful)
        if prog._params_read:
            self.send_params(G[:, [c for c, _ in prog._params_read]].sum(axis=0), 1.0, False)
        if not careful and not math.isfinite(prog._grad.sum()):
            self.backward(seed, careful=True)  # a NaN or inf on the way: again, with the zero rule


def _places_view(theta: Array, idx: list[list[int]]) -> tuple[Array, Callable[[], None] | None]:
    """The entries ``idx`` (a table) of the parameter vector: a view when they are adjacent row
    by row, else a buffer and the gather that fills it."""
    span = _span([i for row in idx for i in row])
    if span is not None:
        return theta[span].reshape(len(idx), len(idx[0])), None
    buf = np.empty((len(idx), len(idx[0])))

    def gather() -> None:
        np.take(theta, idx, out=buf)
    return buf, gather
