"""Shared hypothesis strategies for the test suite.

One section per topic; add new strategies to the matching section (or a new one) instead of
defining look-alikes in test files.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
from hypothesis import strategies as st

from microgrid.engine import Value, dot, vsum

# --------------------------------------------------------------------------------------------
# Floats
# --------------------------------------------------------------------------------------------

#: Every float64, including nan, +-inf, -0.0 and subnormals.
any_floats = st.floats(allow_nan=True, allow_infinity=True, width=64)

#: Every finite float64 (huge magnitudes included).
finite_floats = st.floats(allow_nan=False, allow_infinity=False, width=64)

#: Values that exercise the IEEE special cases of every op: signed zeros, infinities, nan, the
#: overflow edges of exp and pow, a negative base for fractional powers, tiny and huge numbers.
SPECIAL_FLOATS: tuple[float, ...] = (
    0.0, -0.0, 1.0, -1.0, 0.5, -8.0, 1 / 3, 2.0, 10.0, 709.8, 1000.0, -1000.0,
    1e-310, 1e308, -1e308, math.inf, -math.inf, math.nan,
)


#: A real number in each form the engine accepts beside a Value: a Python float (nan and +-inf
#: included) or int (beyond float range too), a bool, and NumPy float64, float32 and int64
#: scalars.  ``exact_number`` turns any of them into the Python int or float it stands for.
real_operands: st.SearchStrategy[Any] = st.one_of(
    any_floats,
    st.integers(-(2**70), 2**70),
    st.sampled_from([2**53 + 1, -(2**53) - 1, 10**400, -(10**400)]),  # not floats; beyond float range
    st.booleans(),
    any_floats.map(np.float64),
    st.floats(width=32).map(np.float32),
    st.integers(-(2**63), 2**63 - 1).map(np.int64),
)


def exact_number(x: Any) -> int | float:
    """The Python int or float a ``real_operands`` example stands for (exactly: float32 widens
    to float64 without rounding)."""
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x)
    return x


#: Finite nonzero floats of every magnitude, subnormal to the largest, either sign: the exponent
#: is drawn uniformly, so tiny and huge operands are as likely as ordinary ones.
wide_floats: st.SearchStrategy[float] = st.builds(
    lambda m, e, negative: -math.ldexp(m, e) if negative else math.ldexp(m, e),
    st.floats(0.5, 1.0, exclude_max=True), st.integers(-1073, 1024), st.booleans(),
).filter(lambda x: x != 0.0)


def floats_between(lo: float, hi: float) -> st.SearchStrategy[float]:
    """Finite floats in the closed interval ``[lo, hi]``."""
    return st.floats(min_value=lo, max_value=hi, allow_nan=False, allow_infinity=False)


def floats_away_from_zero(lo: float, hi: float) -> st.SearchStrategy[float]:
    """Floats with ``lo <= |x| <= hi`` and either sign: away from a kink or pole at 0."""
    return st.tuples(floats_between(lo, hi), st.booleans()).map(lambda t: -t[0] if t[1] else t[0])


# --------------------------------------------------------------------------------------------
# Engine: op inputs (domains away from kinks and poles, so central differences are accurate)
# --------------------------------------------------------------------------------------------

moderate = floats_between(-10.0, 10.0)  #: any smooth op's inputs
positive = floats_between(0.1, 10.0)  #: log, sqrt, a positive base of a power
nonzero = floats_away_from_zero(0.1, 10.0)  #: denominators
off_kink = floats_away_from_zero(1e-3, 100.0)  #: relu / leaky_relu / abs, both sides of 0
exponents = floats_between(-3.0, 3.0)  #: exponents of ``x ** c`` for x > 0
integer_exponents = st.integers(-4, 5).map(float)  #: exponents for any nonzero base
leaky_alphas = floats_between(0.0, 0.5)


def float_lists(elements: st.SearchStrategy[float], n: int) -> st.SearchStrategy[list[float]]:
    """Exactly ``n`` floats drawn from ``elements``."""
    return st.lists(elements, min_size=n, max_size=n)


# --------------------------------------------------------------------------------------------
# Engine: every op as a spec under test (tests/test_engine_ops.py and tests/test_higher.py),
# with float64 references by math/NumPy
# --------------------------------------------------------------------------------------------


def ieee_exact_sum(xs: Sequence[float]) -> float:
    """The correctly rounded sum of finite terms whose running sums stay finite; otherwise
    (nan, inf, overflow) the IEEE result of summing left to right, as NumPy gives it."""
    plain, running = 0.0, []
    for x in xs:
        plain += x
        running.append(plain)
    if not all(map(math.isfinite, running)):
        return plain
    return float(sum(map(Fraction, xs), Fraction(0)))  # int / int division: correctly rounded


def dot_reference(x: Sequence[float], n: int, with_bias: bool) -> float:
    """Float products (NumPy) and the bias, summed once with a single correct rounding."""
    terms = [float(np.multiply(w, v)) for w, v in zip(x[:n], x[n : 2 * n])]
    if with_bias:
        terms.append(x[2 * n])
    return ieee_exact_sum(terms)


def pow_reference(a: float, b: float) -> float:
    # elementwise with array operands: with a scalar exponent of 0.5 NumPy switches to sqrt and
    # gives sqrt(-inf) = nan, where C99 pow (and NumPy's general loop) gives (-inf) ** 0.5 = inf
    return float(np.power(np.array([a], dtype=np.float64), np.array([b], dtype=np.float64))[0])


def leaky_reference(x: float, alpha: float) -> float:
    return float(np.where(x > 0.0, x, np.multiply(alpha, x)))


def sigmoid_reference(x: float) -> float:
    # sigma(x) = exp(-log(1 + e^-x)), through NumPy's stable logaddexp: independent of the
    # engine's two-branch formula
    return float(np.exp(-np.logaddexp(0.0, -x)))


@dataclass(frozen=True)
class OpSpec:
    """One op under test.

    ``build(values, c)`` applies the op to the input Values (``c``: exponent, alpha or the
    number on the left, else None); ``reference(xs, c)`` is the float64 result by math/NumPy for
    any inputs (nan/inf included); ``args`` gives one strategy per input, away from kinks and
    poles; ``const`` draws ``c``.
    """

    name: str
    op: str
    build: Callable[[Sequence[Value], float | None], Value]
    reference: Callable[[Sequence[float], float | None], float]
    args: tuple[st.SearchStrategy[float], ...]
    const: st.SearchStrategy[float] | None = None

    @property
    def arity(self) -> int:
        return len(self.args)


f64 = np.float64

# fmt: off
OPS: tuple[OpSpec, ...] = (
    # binary, Value on both sides
    OpSpec("add", "+", lambda v, c: v[0] + v[1], lambda x, c: np.add(f64(x[0]), x[1]), (moderate,) * 2),
    OpSpec("sub", "-", lambda v, c: v[0] - v[1], lambda x, c: np.subtract(f64(x[0]), x[1]), (moderate,) * 2),
    OpSpec("mul", "*", lambda v, c: v[0] * v[1], lambda x, c: np.multiply(f64(x[0]), x[1]), (moderate,) * 2),
    OpSpec("div", "/", lambda v, c: v[0] / v[1], lambda x, c: np.divide(f64(x[0]), x[1]),
           (moderate, nonzero)),
    OpSpec("pow_value", "**", lambda v, c: v[0] ** v[1], lambda x, c: pow_reference(x[0], x[1]),
           (positive, exponents)),
    # a Value and a number (on the right, then on the left)
    OpSpec("pow_const", "**", lambda v, c: v[0] ** c, lambda x, c: pow_reference(x[0], c),
           (positive,), exponents),
    OpSpec("pow_int_const", "**", lambda v, c: v[0] ** c, lambda x, c: pow_reference(x[0], c),
           (nonzero,), integer_exponents),
    OpSpec("radd", "+", lambda v, c: c + v[0], lambda x, c: np.add(f64(c), x[0]), (moderate,), moderate),
    OpSpec("rsub", "-", lambda v, c: c - v[0], lambda x, c: np.subtract(f64(c), x[0]), (moderate,), moderate),
    OpSpec("rmul", "*", lambda v, c: c * v[0], lambda x, c: np.multiply(f64(c), x[0]), (moderate,), moderate),
    OpSpec("rdiv", "/", lambda v, c: c / v[0], lambda x, c: np.divide(f64(c), x[0]), (nonzero,), moderate),
    OpSpec("rpow", "**", lambda v, c: c ** v[0], lambda x, c: pow_reference(c, x[0]), (exponents,), positive),
    # unary
    OpSpec("neg", "neg", lambda v, c: -v[0], lambda x, c: np.negative(f64(x[0])), (moderate,)),
    OpSpec("exp", "exp", lambda v, c: v[0].exp(), lambda x, c: np.exp(f64(x[0])), (moderate,)),
    OpSpec("log", "log", lambda v, c: v[0].log(), lambda x, c: np.log(f64(x[0])), (positive,)),
    OpSpec("tanh", "tanh", lambda v, c: v[0].tanh(), lambda x, c: np.tanh(f64(x[0])), (moderate,)),
    OpSpec("sigmoid", "sigmoid", lambda v, c: v[0].sigmoid(), lambda x, c: sigmoid_reference(x[0]),
           (floats_between(-30.0, 30.0),)),
    OpSpec("relu", "relu", lambda v, c: v[0].relu(), lambda x, c: np.maximum(f64(x[0]), 0.0), (off_kink,)),
    OpSpec("leaky_relu", "leaky_relu", lambda v, c: v[0].leaky_relu(c), lambda x, c: leaky_reference(x[0], c),
           (off_kink,), leaky_alphas),
    OpSpec("leaky_relu_default", "leaky_relu", lambda v, c: v[0].leaky_relu(),
           lambda x, c: leaky_reference(x[0], 0.01), (off_kink,)),
    OpSpec("softplus", "softplus", lambda v, c: v[0].softplus(), lambda x, c: np.logaddexp(0.0, x[0]),
           (floats_between(-30.0, 30.0),)),
    OpSpec("abs", "abs", lambda v, c: abs(v[0]), lambda x, c: np.abs(f64(x[0])), (off_kink,)),
    OpSpec("abs_method", "abs", lambda v, c: v[0].abs(), lambda x, c: np.abs(f64(x[0])), (off_kink,)),
    OpSpec("sqrt", "sqrt", lambda v, c: v[0].sqrt(), lambda x, c: np.sqrt(f64(x[0])), (positive,)),
    # n-ary: one node, many parents
    OpSpec("vsum", "sum", lambda v, c: vsum(v), lambda x, c: ieee_exact_sum(x), (moderate,) * 5),
    OpSpec("dot", "dot", lambda v, c: dot(v[:3], v[3:]), lambda x, c: dot_reference(x, 3, False),
           (moderate,) * 6),
    OpSpec("dot_bias", "dot", lambda v, c: dot(v[:3], v[3:6], bias=v[6]),
           lambda x, c: dot_reference(x, 3, True), (moderate,) * 7),
)
# fmt: on


# --------------------------------------------------------------------------------------------
# Engine: random expression graphs (DAGs with shared subexpressions)
# --------------------------------------------------------------------------------------------
#
# A program is a list of steps; step i computes node ``n_inputs + i`` from *earlier* nodes,
# chosen with replacement, so nodes are reused (a + a, diamonds, long shared paths).  Every
# step kind is smooth on the whole real line and keeps values bounded, so finite differences
# apply anywhere.  The same program runs on floats (with ``math``, an independent reference)
# and on ``Value`` objects (through the engine).


@dataclass(frozen=True)
class StepKind:
    """One kind of program step: the same formula for floats and for Values (``on_floats`` None:
    a kind for properties that compare the engine with itself, where no float reference is due)."""

    name: str
    arity: int
    on_floats: Callable[..., float] | None
    on_values: Callable[..., Any]


def _fsigmoid(x: float) -> float:
    return 0.5 * (1.0 + math.tanh(0.5 * x))  # an identity, independent of the engine's form


STEP_KINDS: tuple[StepKind, ...] = (
    StepKind("add", 2, lambda a, b: a + b, lambda a, b: a + b),
    StepKind("sub", 2, lambda a, b: a - b, lambda a, b: a - b),
    StepKind("mul", 2, lambda a, b: math.tanh(a) * b, lambda a, b: a.tanh() * b),
    StepKind("square", 1, lambda a: math.tanh(a) ** 2, lambda a: a.tanh() ** 2),
    StepKind("neg", 1, lambda a: -a, lambda a: -a),
    StepKind("tanh", 1, math.tanh, lambda a: a.tanh()),
    StepKind("sigmoid", 1, _fsigmoid, lambda a: a.sigmoid()),
    StepKind("softplus", 1, lambda a: float(np.logaddexp(0.0, a)), lambda a: a.softplus()),
    StepKind("exp_tanh", 1, lambda a: math.exp(math.tanh(a)), lambda a: a.tanh().exp()),
    StepKind("log1p_sq", 1, lambda a: math.log(1.0 + a * a), lambda a: (1.0 + a * a).log()),
    StepKind("sqrt1p_sq", 1, lambda a: math.sqrt(1.0 + a * a), lambda a: (1.0 + a * a).sqrt()),
    StepKind("div", 2, lambda a, b: a / (1.0 + b * b), lambda a, b: a / (1.0 + b * b)),
    StepKind("rdiv", 1, lambda a: 2.0 / (1.5 + math.tanh(a)), lambda a: 2.0 / (1.5 + a.tanh())),
    StepKind("pow", 2, lambda a, b: (1.0 + _fsigmoid(a)) ** math.tanh(b),
             lambda a, b: (1.0 + a.sigmoid()) ** b.tanh()),
    StepKind("vsum3", 3, lambda a, b, c: a + b + c, lambda a, b, c: vsum([a, b, c])),
    StepKind("dot2b", 5, lambda w0, w1, x0, x1, bias: math.tanh(w0) * x0 + math.tanh(w1) * x1 + bias,
             lambda w0, w1, x0, x1, bias: dot([w0.tanh(), w1.tanh()], [x0, x1], bias)),
)


#: Every op of the engine as it is, at its edges: no smoothing, so programs over these kinds meet
#: poles, kinks, overflow, saturation and nan; for comparing the engine's two backward paths.
EDGE_STEP_KINDS: tuple[StepKind, ...] = tuple(StepKind(name, arity, None, build) for name, arity, build in (
    ("add", 2, lambda a, b: a + b), ("sub", 2, lambda a, b: a - b), ("mul", 2, lambda a, b: a * b),
    ("div", 2, lambda a, b: a / b), ("neg", 1, lambda a: -a), ("pow", 2, lambda a, b: a**b),
    ("square", 1, lambda a: a**2), ("root", 1, lambda a: a**0.5), ("inverse", 1, lambda a: a**-1),
    ("power0", 1, lambda a: a**0), ("exp", 1, lambda a: a.exp()), ("log", 1, lambda a: a.log()),
    ("tanh", 1, lambda a: a.tanh()), ("sigmoid", 1, lambda a: a.sigmoid()), ("relu", 1, lambda a: a.relu()),
    ("leaky_relu", 1, lambda a: a.leaky_relu(0.1)), ("softplus", 1, lambda a: a.softplus()),
    ("abs", 1, lambda a: abs(a)), ("sqrt", 1, lambda a: a.sqrt()),
    ("one_minus_tanh", 1, lambda a: 1.0 - a.tanh()), ("relu_log", 1, lambda a: a.log().relu()),
    ("times_zero", 1, lambda a: a * 0.0), ("times_huge", 1, lambda a: a * 1e300),
    ("tiny_over", 1, lambda a: 1e-310 / a), ("vsum3", 3, lambda a, b, c: vsum([a, b, c])),
    ("dot2b", 5, lambda w0, w1, x0, x1, bias: dot([w0, w1], [x0, x1], bias)),
))

#: Inputs at the engine's edges: signed zeros, infinities, nan, subnormals, huge numbers, tanh and
#: sigmoid saturated (|x| > 19, 800), relu's and pow's kinks; and ordinary numbers among them.
EDGE_FLOATS: tuple[float, ...] = (
    0.0, -0.0, math.inf, -math.inf, math.nan, 5e-324, 1e-310, -1e-310, 1e-300, 1e308, -1e308,
    20.5, -20.5, 40.0, 800.0, -800.0, 1.0, -1.0, 2.0, 0.5,
)
edge_floats = st.one_of(st.sampled_from(EDGE_FLOATS), st.floats(-3.0, 3.0))


@dataclass(frozen=True)
class ExprProgram:
    """A random DAG: ``inputs`` are the leaf values; step i applies a kind to earlier node ids."""

    inputs: tuple[float, ...]
    steps: tuple[tuple[StepKind, tuple[int, ...]], ...]

    @property
    def n_nodes(self) -> int:
        return len(self.inputs) + len(self.steps)

    def on_floats(self, inputs: Sequence[float] | None = None) -> list[float]:
        """Every node's value computed with plain floats and ``math`` (the reference)."""
        return self._run(self.inputs if inputs is None else inputs, lambda k, args: k.on_floats(*args))

    def on_values(self, leaves: Sequence[Any]) -> list[Any]:
        """Every node built with the engine from the given leaf ``Value`` objects."""
        return self._run(leaves, lambda k, args: k.on_values(*args))

    def _run(self, leaves: Sequence[Any], apply: Callable[[StepKind, list[Any]], Any]) -> list[Any]:
        nodes = list(leaves)
        for kind, operand_ids in self.steps:
            nodes.append(apply(kind, [nodes[i] for i in operand_ids]))
        return nodes


@st.composite
def expr_programs(
    draw: st.DrawFn,
    kinds: Sequence[StepKind] = STEP_KINDS,
    max_inputs: int = 4,
    max_steps: int = 14,
    values: st.SearchStrategy[float] | None = None,
) -> ExprProgram:
    """A random program; operands favour recent nodes (deep graphs) but reuse any earlier one."""
    n_inputs = draw(st.integers(1, max_inputs))
    inputs = tuple(draw(float_lists(floats_between(-2.0, 2.0) if values is None else values, n_inputs)))
    steps = []
    for i in range(draw(st.integers(1, max_steps))):
        kind = draw(st.sampled_from(kinds))
        n_avail = n_inputs + i
        recent = st.integers(max(0, n_avail - 3), n_avail - 1)
        operand_ids = draw(st.lists(st.one_of(recent, st.integers(0, n_avail - 1)),
                                    min_size=kind.arity, max_size=kind.arity))
        steps.append((kind, tuple(operand_ids)))
    return ExprProgram(inputs, tuple(steps))


# --------------------------------------------------------------------------------------------
# Wisconsin data files (both formats) and binary classification outputs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WisconsinRecord:
    """One sample as written in a data file: sample code, nine scores (None = missing), class."""

    id: str
    scores: tuple[int | None, ...]
    malignant: bool


def render_wisconsin(records: Sequence[WisconsinRecord], fmt: str) -> str:
    """The text of a data file: ``"csv"`` (the shipped MASS::biopsy layout) or ``"uci"``.

    Written here from the format descriptions in microgrid/data/README.md, independently of
    the loader, so loading this text checks the loader against the formats.
    """
    lines = []
    if fmt == "csv":
        lines.append('"","ID","V1","V2","V3","V4","V5","V6","V7","V8","V9","class"')
        for i, r in enumerate(records, start=1):
            scores = ",".join("NA" if s is None else str(s) for s in r.scores)
            label = "malignant" if r.malignant else "benign"
            lines.append(f'"{i}","{r.id}",{scores},"{label}"')
    elif fmt == "uci":
        for r in records:
            scores = ",".join("?" if s is None else str(s) for s in r.scores)
            lines.append(f"{r.id},{scores},{4 if r.malignant else 2}")
    else:
        raise ValueError(fmt)
    return "\n".join(lines) + "\n"


def wisconsin_records(
    min_size: int = 1, max_size: int = 30, missing: bool = True
) -> st.SearchStrategy[list[WisconsinRecord]]:
    """Lists of plausible samples; scores 1..10, some missing when ``missing``."""
    score = st.integers(1, 10)
    scores = st.tuples(*[st.one_of(st.none(), score) if missing else score for _ in range(9)])
    record = st.builds(WisconsinRecord, id=st.integers(1, 99_999_999).map(str), scores=scores,
                       malignant=st.booleans())
    return st.lists(record, min_size=min_size, max_size=max_size)


@st.composite
def labels_and_scores(draw: st.DrawFn, min_size: int = 2, max_size: int = 60, ties: bool = True):
    """``(y, scores)``: 0/1 labels with both classes present and scores in [0, 1].

    With ``ties`` the scores come from a few distinct values, so many are equal (ROC AUC ties).
    """
    n = draw(st.integers(min_size, max_size))
    y = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n).filter(lambda v: 0 < sum(v) < len(v)))
    if ties:
        levels = draw(st.lists(floats_between(0.0, 1.0), min_size=1, max_size=4))
        scores = draw(st.lists(st.sampled_from(levels), min_size=n, max_size=n))
    else:
        scores = draw(st.lists(floats_between(0.0, 1.0), min_size=n, max_size=n))
    return np.array(y, dtype=np.int64), np.array(scores, dtype=np.float64)


# --------------------------------------------------------------------------------------------
# Expression text for microgrid.app.expr (the safe parser behind `microgrid graph --expr`)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExprText:
    """An expression as text, values for its variables, and the same formula as a float function.

    ``reference(values)`` computes the formula with Python floats and ``math``, independently of
    the parser and of the engine (for comparing values and finite differences).
    """

    text: str
    values: dict[str, float]
    reference: Callable[[dict[str, float]], float]


# Functions that are smooth everywhere, with an independent float form (no kinks: finite
# differences work at any point).
_SMOOTH_FUNCTIONS: dict[str, Callable[[float], float]] = {
    "tanh": math.tanh,
    "sigmoid": _fsigmoid,
    "softplus": lambda x: float(np.logaddexp(0.0, x)),
}


@st.composite
def _expr_node(draw: st.DrawFn, names: Sequence[str], depth: int) -> tuple[str, Callable[[dict], float]]:
    kinds = ["name", "number"] + (["add", "sub", "mul", "div", "square", "neg", "call"] if depth > 0 else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "name":
        name = draw(st.sampled_from(names))
        return name, lambda v: v[name]
    if kind == "number":
        c = draw(floats_between(-3.0, 3.0).map(lambda x: round(x, 3)))
        return repr(c), lambda v: c
    left_text, left = draw(_expr_node(names, depth - 1))
    if kind == "neg":
        return f"-({left_text})", lambda v: -left(v)
    if kind == "square":
        return f"({left_text}) ** 2", lambda v: left(v) ** 2
    if kind == "call":
        fname = draw(st.sampled_from(sorted(_SMOOTH_FUNCTIONS)))
        f = _SMOOTH_FUNCTIONS[fname]
        return f"{fname}({left_text})", lambda v: f(left(v))
    right_text, right = draw(_expr_node(names, depth - 1))
    if kind == "add":
        return f"({left_text}) + ({right_text})", lambda v: left(v) + right(v)
    if kind == "sub":
        return f"({left_text}) - ({right_text})", lambda v: left(v) - right(v)
    if kind == "mul":
        return f"({left_text}) * ({right_text})", lambda v: left(v) * right(v)
    # a denominator that cannot vanish: u / (1 + w * w)
    return (f"({left_text}) / (1 + ({right_text}) * ({right_text}))",
            lambda v: left(v) / (1.0 + right(v) * right(v)))


@st.composite
def expression_texts(draw: st.DrawFn, max_depth: int = 4) -> ExprText:
    """Random well-formed expressions over 1–3 variables with values in [-2, 2]."""
    names = draw(st.lists(st.sampled_from(["a", "b", "c", "x1", "weight"]), min_size=1, max_size=3,
                          unique=True))
    text, reference = draw(_expr_node(names, max_depth))
    values = {n: draw(floats_between(-2.0, 2.0)) for n in names}
    return ExprText(text, values, reference)


# --------------------------------------------------------------------------------------------
# Networks: architectures, activations, weights and data for MLP / VectorizedMLP
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NetCase:
    """A network and a batch: layer widths, one activation per layer, a loss, weights
    ``[W1, b1, ...]`` and rows ``X`` (n, dims[0]) with targets ``y`` (n, dims[-1])."""

    dims: tuple[int, ...]
    activations: tuple[str, ...]
    loss: str
    weights: tuple[np.ndarray, ...]
    X: np.ndarray
    y: np.ndarray


def activation_names() -> st.SearchStrategy[str]:
    """Every name of the shared activation table."""
    from microgrid.functional import ACTIVATIONS

    return st.sampled_from(tuple(ACTIVATIONS))


@st.composite
def net_cases(
    draw: st.DrawFn,
    max_depth: int = 4,
    max_width: int = 20,
    max_rows: int = 4,
    max_outputs: int = 2,
    losses: Sequence[str] = ("bce", "mse", "hinge"),
) -> NetCase:
    """Depth 1..max_depth layers of widths 1..max_width, any activation per layer, any loss.

    Weights are ``N(0, scale^2 / fan_in)`` with ``scale`` in [0.5, 2] and biases ``N(0, 0.5^2)``;
    inputs uniform in [-1, 1] (so activations stay O(1) and finite differences stay accurate);
    labels 0/1 (real targets for mse), all drawn from a hypothesis-chosen seed.
    """
    depth = draw(st.integers(1, max_depth))
    widths = draw(st.lists(st.integers(1, max_width), min_size=depth, max_size=depth))
    dims = (*widths, draw(st.integers(1, max_outputs)))
    activations = tuple(draw(st.lists(activation_names(), min_size=depth, max_size=depth)))
    loss = draw(st.sampled_from(tuple(losses)))
    n_rows = draw(st.integers(1, max_rows))
    scale = draw(floats_between(0.5, 2.0))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    weights: list[np.ndarray] = []
    for fan_in, fan_out in zip(dims[:-1], dims[1:]):
        weights.append(rng.standard_normal((fan_out, fan_in)) * scale / math.sqrt(fan_in))
        weights.append(0.5 * rng.standard_normal(fan_out))
    X = rng.uniform(-1.0, 1.0, size=(n_rows, dims[0]))
    y = rng.normal(size=(n_rows, dims[-1])) if loss == "mse" else rng.integers(0, 2, size=(n_rows, dims[-1]))
    return NetCase(dims, activations, loss, tuple(weights), X, y.astype(np.float64))


# --------------------------------------------------------------------------------------------
# Traced programs (microgrid.trace): one example's function as a random graph over every op
# --------------------------------------------------------------------------------------------
#
# A graph has ``n_inputs`` placeholder leaves (one example's inputs), ``params`` (leaves shared by
# every row) and steps; step i builds node ``n_inputs + len(params) + i`` from earlier nodes with
# engine ops only.  Between them the kinds use every op of the engine's table.  Kinks (relu,
# leaky_relu, abs) see their input plus a random offset, so no rounding difference between two
# ways of summing can move a row across a kink; denominators, logarithms, square roots and bases
# of powers see ``1 + a * a``.  ``layer`` is k ``dot`` nodes reading the same operands with
# parameters as weights (one matrix product in a trace), the weights of one neuron distinct, so
# no two of its products cancel exactly.


TRACE_KINDS: dict[str, tuple[int, Callable[..., Any]]] = {
    # name: (operands, build(operands, const, params, weights)) on Values
    "add": (2, lambda v, c, ps, w: v[0] + v[1]),
    "sub": (2, lambda v, c, ps, w: v[0] - v[1]),
    "mul": (2, lambda v, c, ps, w: v[0].tanh() * v[1]),
    "div": (2, lambda v, c, ps, w: v[0] / (1.0 + v[1] * v[1])),
    "rdiv": (1, lambda v, c, ps, w: 2.0 / (1.5 + v[0].tanh())),
    "powc": (1, lambda v, c, ps, w: (1.0 + v[0] * v[0]) ** c),
    "pow": (2, lambda v, c, ps, w: (1.0 + v[0].sigmoid()) ** v[1].tanh()),
    "rpow": (1, lambda v, c, ps, w: 2.0 ** v[0].tanh()),
    "neg": (1, lambda v, c, ps, w: -v[0]),
    "exp": (1, lambda v, c, ps, w: v[0].tanh().exp()),
    "log": (1, lambda v, c, ps, w: (1.0 + v[0] * v[0]).log()),
    "tanh": (1, lambda v, c, ps, w: v[0].tanh()),
    "sigmoid": (1, lambda v, c, ps, w: v[0].sigmoid()),
    "softplus": (1, lambda v, c, ps, w: v[0].softplus()),
    "relu": (1, lambda v, c, ps, w: (v[0] + c).relu()),
    "leaky_relu": (1, lambda v, c, ps, w: (v[0] + c).leaky_relu(abs(c) / 4)),
    "abs": (1, lambda v, c, ps, w: (v[0] + c).abs()),
    "sqrt": (1, lambda v, c, ps, w: (1.0 + v[0] * v[0]).sqrt()),
    "sum": (3, lambda v, c, ps, w: vsum(v)),
    "dot": (5, lambda v, c, ps, w: dot([v[0], v[1]], [v[2], v[3]], v[4])),
    "layer": (2, lambda v, c, ps, w: vsum([dot([ps[i] for i in row[:-1]], v, ps[row[-1]]).tanh()
                                           for row in w])),
    "layer_relu": (3, lambda v, c, ps, w: vsum([dot(v, [ps[i] for i in row[:-1]], ps[row[-1]]).relu()
                                                for row in w])),
}


@dataclass(frozen=True)
class TraceGraph:
    """A random function of one example: ``steps`` of ``(kind, operand ids, const, weights)``
    over ``n_inputs`` inputs and the parameter values ``params``; ``rows`` a batch of examples."""

    n_inputs: int
    params: tuple[float, ...]
    steps: tuple[tuple[str, tuple[int, ...], float, tuple[tuple[int, ...], ...]], ...]
    rows: np.ndarray

    def build(self, inputs: Sequence[Any], params: Sequence[Any]) -> Any:
        """The root Value: the sum of the last (up to three) nodes, built with the engine."""
        nodes = [*inputs, *params]
        for kind, operand_ids, c, weights in self.steps:
            nodes.append(TRACE_KINDS[kind][1]([nodes[i] for i in operand_ids], c, params, weights))
        last = nodes[self.n_inputs + len(self.params):][-3:]
        return vsum(last) if len(last) > 1 else last[0] + 0.0


SPECIAL_ROW_VALUES: tuple[float, ...] = (0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 1e-310, math.inf, -math.inf,
                                         math.nan)
"""Row values for the special-value properties: signed zeros, infinities, NaN, a subnormal, and
numbers whose sums and products are exact (so any two orders of summation agree)."""


@st.composite
def trace_graphs(draw: st.DrawFn, kinds: Sequence[str] = tuple(TRACE_KINDS), max_steps: int = 10,
                 max_rows: int = 5, special: bool = False) -> TraceGraph:
    """A random graph over one example and a batch of rows: inputs uniform in [-2, 2] drawn from
    a hypothesis-chosen seed (or, with ``special``, from :data:`SPECIAL_ROW_VALUES`)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n_inputs = draw(st.integers(1, 3))
    n_params = draw(st.integers(4, 7))
    params = tuple(rng.uniform(-1.0, 1.0, n_params).tolist())
    steps = []
    for i in range(draw(st.integers(1, max_steps))):
        kind = draw(st.sampled_from(tuple(kinds)))
        arity = TRACE_KINDS[kind][0]
        n_avail = n_inputs + n_params + i
        recent = st.integers(max(0, n_avail - 3), n_avail - 1)
        operands = tuple(draw(st.lists(st.one_of(recent, st.integers(0, n_avail - 1)),
                                       min_size=arity, max_size=arity)))
        c = float(rng.choice([-1.5, -1.0, 0.0, 0.5, 1.0, 2.0, 3.0])) if kind == "powc" else \
            float(rng.uniform(0.1, 1.0) * rng.choice([-1.0, 1.0]))
        weights: tuple[tuple[int, ...], ...] = ()
        if kind.startswith("layer"):  # k neurons: distinct weights within a neuron, and a bias
            k = draw(st.integers(1, 4))
            weights = tuple(tuple(rng.choice(n_params, size=arity + 1, replace=False).tolist())
                            for _ in range(k))
        steps.append((kind, operands, c, weights))
    n_rows = draw(st.integers(1, max_rows))
    if special:
        rows = np.array(draw(st.lists(st.lists(st.sampled_from(SPECIAL_ROW_VALUES), min_size=n_inputs,
                                                max_size=n_inputs), min_size=n_rows, max_size=n_rows)))
    else:
        rows = rng.uniform(-2.0, 2.0, size=(n_rows, n_inputs))
    return TraceGraph(n_inputs, params, tuple(steps), rows)
