"""Every engine op, one table: forward vs math/NumPy, derivatives vs central differences,
IEEE special values (nothing raises, results as NumPy's float64, gradients as closed forms with
the documented conventions at kinks and poles), second derivatives.

The table ``OPS`` (tests/strategies.py) drives every test here; a new op gets all the checks by
adding one row.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from fractions import Fraction
from itertools import product

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from microgrid.engine import Value, dot, grad, vsum

from strategies import (
    OPS,
    SPECIAL_FLOATS,
    OpSpec,
    any_floats,
    f64,
    pow_reference,
    sigmoid_reference,
    wide_floats,
)

# --------------------------------------------------------------------------------------------
# Numerical helpers
# --------------------------------------------------------------------------------------------


def agrees(actual: float, expected: float, rel: float = 1e-12, abs_tol: float = 2e-323) -> bool:
    """Same nan-ness, same infinity, else relatively close (signed zeros count as equal)."""
    if math.isnan(expected):
        return math.isnan(actual)
    if math.isinf(expected):
        return actual == expected
    return math.isfinite(actual) and math.isclose(actual, expected, rel_tol=rel, abs_tol=abs_tol)


def central_difference(f: Callable[[list[float]], float], xs: Sequence[float], i: int) -> float:
    """``(f(x + h e_i) - f(x - h e_i)) / 2h`` with a step relative to ``|x_i|``."""
    h = 1e-6 * max(1.0, abs(xs[i]))
    up, down = list(xs), list(xs)
    up[i] += h
    down[i] -= h
    return (f(up) - f(down)) / (up[i] - down[i])  # the actual (rounded) step


# --------------------------------------------------------------------------------------------
# First derivatives in closed form, valid at every float (nan, +-inf, +-0.0 included)
# --------------------------------------------------------------------------------------------
#
# Each entry gives d out / d input_i for every Value input, computed with NumPy/math in float64,
# with the engine's documented conventions where the closed form has no value: relu'(0) = 0,
# leaky_relu'(0) = alpha, abs'(0) = 0 (at -0.0 too; at nan every comparison is False, so these
# give 0, alpha, 0 as relu does in PyTorch), d/dx x**0 = 0 (x**0 is the constant 1), and for
# a ** b: d/da = 0 when b = 0, for every a (nan, inf and subnormals too); d/db = 0 at a = 0 when
# b >= 0 (a^b ln a -> 0 as a -> 0+; as PyTorch).  sqrt' = 1 / (2 sqrt x) is +inf at 0 (and
# -inf at -0.0, where sqrt(-0.0) = -0.0: what 0.5 / sqrt(x) gives in IEEE arithmetic).


def _ieee(f: Callable[[], float]) -> float:
    with np.errstate(all="ignore"):
        return float(f())


def pow_partials(a: float, b: float) -> tuple[float, float]:
    """``(d/da, d/db)`` of ``a ** b``: ``b a^(b-1)`` (0 at b = 0 for every a: a^0 = 1) and
    ``a^b ln a`` (0 at a = 0 for b >= 0)."""
    da = 0.0 if b == 0.0 else _ieee(lambda: np.multiply(b, pow_reference(a, b - 1.0)))
    db = 0.0 if (a == 0.0 and b >= 0.0) else _ieee(lambda: np.multiply(pow_reference(a, b), np.log(f64(a))))
    return da, db


def power_slope(x: float, c: float) -> float:
    """d/dx x ** c for a constant c: ``c x^(c-1)``, and 0 for c = 0 (x ** 0 is constant)."""
    return 0.0 if c == 0.0 else _ieee(lambda: np.multiply(c, pow_reference(x, c - 1.0)))


def quotient_slope(a: float, b: float) -> float:
    """d/db a / b = -a / b^2: exactly rounded (rational arithmetic) at finite a and nonzero
    finite b, else the IEEE value of -(a / b) / b (a pole at b = 0, inf or nan inputs)."""
    if math.isfinite(a) and math.isfinite(b) and b != 0.0:
        exact = -Fraction(a) / Fraction(b) ** 2
        try:
            return float(exact)
        except OverflowError:
            return -math.inf if exact < 0 else math.inf
    return _ieee(lambda: -np.divide(np.divide(f64(a), b), b))


def step(x: float, below: float, at: float) -> float:
    """1 for x > 0, ``below`` for x < 0, ``at`` for x = 0 (either sign) or nan."""
    return 1.0 if x > 0.0 else (below if x < 0.0 else at)


def tanh_slope(x: float) -> float:
    """sech^2 x = 4 e^-2|x| / (1 + e^-2|x|)^2 (no overflow); nan at nan."""
    e = math.exp(-2.0 * abs(x))
    return 4.0 * e / (1.0 + e) ** 2


# fmt: off
#: spec name -> (inputs, constant) -> d out / d input_i for each Value input
FIRST_DERIVATIVES: dict[str, Callable[[Sequence[float], float | None], tuple[float, ...]]] = {
    "add": lambda x, c: (1.0, 1.0),
    "sub": lambda x, c: (1.0, -1.0),
    "mul": lambda x, c: (x[1], x[0]),
    "div": lambda x, c: (_ieee(lambda: np.divide(1.0, f64(x[1]))), quotient_slope(x[0], x[1])),
    "pow_value": lambda x, c: pow_partials(x[0], x[1]),
    "pow_const": lambda x, c: (power_slope(x[0], c),),
    "pow_int_const": lambda x, c: (power_slope(x[0], c),),
    "radd": lambda x, c: (1.0,),
    "rsub": lambda x, c: (-1.0,),
    "rmul": lambda x, c: (c,),
    "rdiv": lambda x, c: (quotient_slope(c, x[0]),),
    "rpow": lambda x, c: (pow_partials(c, x[0])[1],),
    "neg": lambda x, c: (-1.0,),
    "exp": lambda x, c: (_ieee(lambda: np.exp(f64(x[0]))),),
    "log": lambda x, c: (_ieee(lambda: np.divide(1.0, f64(x[0]))),),
    "tanh": lambda x, c: (tanh_slope(x[0]),),
    "sigmoid": lambda x, c: (_ieee(lambda: sigmoid_reference(x[0]) * sigmoid_reference(-x[0])),),
    "relu": lambda x, c: (step(x[0], 0.0, 0.0),),
    "leaky_relu": lambda x, c: (step(x[0], c, c),),
    "leaky_relu_default": lambda x, c: (step(x[0], 0.01, 0.01),),
    "softplus": lambda x, c: (_ieee(lambda: sigmoid_reference(x[0])),),
    "abs": lambda x, c: (step(x[0], -1.0, 0.0),),
    "abs_method": lambda x, c: (step(x[0], -1.0, 0.0),),
    "sqrt": lambda x, c: (_ieee(lambda: np.divide(0.5, np.sqrt(f64(x[0])))),),
    "vsum": lambda x, c: (1.0,) * len(x),
    "dot": lambda x, c: (*x[3:6], *x[:3]),
    "dot_bias": lambda x, c: (*x[3:6], *x[:3], 1.0),
}
# fmt: on


def grad_abs_tol(name: str, xs: Sequence[float]) -> float:
    """Absolute error allowed besides a relative 1e-12 (infinities and nan must match exactly)."""
    if name == "tanh":
        # 1 - tanh^2 is computed from the output, as PyTorch does: accurate absolutely (a few
        # ulp of 1), not relatively, in the tails
        return 4 * 2.0**-53
    return 2e-323  # four subnormal ulps, as agrees() allows for values


def test_first_derivative_table_covers_every_op() -> None:
    assert set(FIRST_DERIVATIVES) == {s.name for s in OPS}


def run(spec: OpSpec, xs: Sequence[float], c: float | None) -> tuple[list[Value], Value, float]:
    """Build the op on fresh leaves, backpropagate, and compute the NumPy reference."""
    leaves = [Value(x) for x in xs]
    out = spec.build(leaves, c)
    out.backward()
    with np.errstate(all="ignore"):
        expected = float(spec.reference(xs, c))
    return leaves, out, expected


# --------------------------------------------------------------------------------------------
# Forward and first derivatives on smooth domains
# --------------------------------------------------------------------------------------------


def test_table_covers_every_op_name() -> None:
    names = {s.op for s in OPS}
    assert names == {"+", "-", "*", "/", "**", "neg", "exp", "log", "tanh", "sigmoid", "relu",
                     "leaky_relu", "softplus", "abs", "sqrt", "sum", "dot"}


@pytest.mark.parametrize("spec", OPS, ids=lambda s: s.name)
@given(data=st.data())
def test_op_forward_and_derivatives(spec: OpSpec, data: st.DataObject) -> None:
    xs = [data.draw(s, label=f"x{i}") for i, s in enumerate(spec.args)]
    c = data.draw(spec.const, label="c") if spec.const is not None else None
    leaves, out, expected = run(spec, xs, c)

    assert out.op == spec.op
    assert type(out.data) is float
    assert all(any(p is leaf for p in out.parents) for leaf in leaves)
    assert agrees(out.data, expected, rel=1e-12), (out.data, expected)

    def f(z: list[float]) -> float:
        return float(spec.reference(z, c))

    scale = max(1.0, abs(expected))
    for i, leaf in enumerate(leaves):
        fd = central_difference(f, xs, i)
        assert math.isclose(leaf.grad, fd, rel_tol=1e-6, abs_tol=1e-7 * scale), (i, leaf.grad, fd)


# --------------------------------------------------------------------------------------------
# IEEE semantics: nothing raises, results equal NumPy's float64 results, gradients the closed forms
# --------------------------------------------------------------------------------------------


def ieee_mismatch(spec: OpSpec, xs: Sequence[float], c: float | None) -> str | None:
    """None if the op on these inputs behaves as NumPy does (its value) and as the closed form
    of its derivative does (each input's gradient), else a description."""
    try:
        leaves, out, expected = run(spec, xs, c)
    except Exception as exc:  # noqa: BLE001 - any escaping exception is the failure reported
        return f"{spec.name}{tuple(xs)} c={c}: raised {type(exc).__name__}: {exc}"
    if type(out.data) is not float or not all(type(v.grad) is float for v in leaves):
        return f"{spec.name}{tuple(xs)} c={c}: data or grad not a float"
    if not agrees(out.data, expected):
        return f"{spec.name}{tuple(xs)} c={c}: got {out.data!r}, NumPy gives {expected!r}"
    slopes = FIRST_DERIVATIVES[spec.name](xs, c)
    abs_tol = grad_abs_tol(spec.name, xs)
    for i, (leaf, slope) in enumerate(zip(leaves, slopes, strict=True)):
        if not agrees(leaf.grad, slope, rel=1e-12, abs_tol=abs_tol):
            return f"{spec.name}{tuple(xs)} c={c}: d/dx{i} is {leaf.grad!r}, the closed form gives {slope!r}"
    return None


@pytest.mark.parametrize("spec", OPS, ids=lambda s: s.name)
def test_op_on_special_values(spec: OpSpec) -> None:
    """Every combination of special values (two distinct per call for n-ary ops)."""
    consts = SPECIAL_FLOATS if spec.const is not None else (None,)
    problems = []
    for combo in product(SPECIAL_FLOATS, repeat=min(spec.arity, 2)):
        xs = [combo[i % len(combo)] for i in range(spec.arity)]
        problems += [p for c in consts if (p := ieee_mismatch(spec, xs, c))]
    assert not problems, f"{len(problems)} mismatches, e.g.\n" + "\n".join(problems[:10])


@pytest.mark.parametrize("spec", OPS, ids=lambda s: s.name)
@given(data=st.data())
def test_op_on_any_floats(spec: OpSpec, data: st.DataObject) -> None:
    xs = data.draw(st.lists(any_floats, min_size=spec.arity, max_size=spec.arity), label="xs")
    c = data.draw(any_floats, label="c") if spec.const is not None else None
    problem = ieee_mismatch(spec, xs, c)
    assert problem is None, problem


# --------------------------------------------------------------------------------------------
# The documented conventions where the derivative has no closed-form value, exactly
# --------------------------------------------------------------------------------------------

#: op at its kink, and the slope the engine documents there (the one-sided slope from the left
#: for relu and leaky_relu, as PyTorch; 0 for abs, the subgradient PyTorch also picks)
KINK_SLOPES: dict[str, tuple[Callable[[Value], Value], float]] = {
    "relu": (lambda v: v.relu(), 0.0),
    "leaky_relu(0.2)": (lambda v: v.leaky_relu(0.2), 0.2),
    "leaky_relu()": (lambda v: v.leaky_relu(), 0.01),
    "abs": (lambda v: v.abs(), 0.0),
    "builtin abs": (abs, 0.0),
}


@pytest.mark.parametrize("x", [0.0, -0.0], ids=["+0", "-0"])
@pytest.mark.parametrize("name", KINK_SLOPES)
def test_first_derivative_at_the_kink_is_the_documented_slope(name: str, x: float) -> None:
    op, slope = KINK_SLOPES[name]
    v = Value(x)
    out = op(v)
    assert out.data == 0.0 and out.local_grads == (slope,)
    out.backward()
    assert v.grad == slope
    w = Value(x)
    assert grad(op(w), w) == slope
    assert grad(op(w), w, create_graph=True).data == slope  # the recorded rule agrees
    # through a chain, the slope multiplies: d/dx 3 op(x) + x = 3 slope + 1
    u = Value(x)
    (3.0 * op(u) + u).backward()
    assert u.grad == 3.0 * slope + 1.0


@pytest.mark.parametrize(
    ("a", "b", "d_da", "d_db"),
    [
        (0.0, 0.0, 0.0, 0.0),  # 0 ** b = 1 at b = 0: b a^(b-1) would be 0 * inf
        (-0.0, 0.0, 0.0, 0.0),
        (0.0, 2.0, 0.0, 0.0),  # a^b ln a -> 0 as a -> 0+ for b > 0: 0 * -inf would be nan
        (-0.0, 3.0, 0.0, 0.0),
        (0.0, 0.5, math.inf, 0.0),
        (0.0, 1.0, 1.0, 0.0),
        (0.0, -1.0, -math.inf, -math.inf),  # b < 0: no convention, the IEEE value of the formula
        (2.0, 0.0, 0.0, math.log(2.0)),  # a != 0: the plain formulas
    ],
)
def test_power_derivatives_at_a_zero_base(a: float, b: float, d_da: float, d_db: float) -> None:
    base, exponent = Value(a), Value(b)
    out = base**exponent
    assert out.local_grads == (d_da, d_db)
    out.backward()
    assert (base.grad, exponent.grad) == (d_da, d_db)
    base, exponent = Value(a), Value(b)
    recorded = grad(base**exponent, [base, exponent], create_graph=True)
    assert [g.data for g in recorded] == [d_da, d_db]
    # a number as the base takes the same rule for d/db
    exponent = Value(b)
    (a**exponent).backward()
    assert exponent.grad == d_db


@pytest.mark.parametrize(("x", "c", "slope"), [(0.0, 0.0, 0.0), (math.nan, 0.0, 0.0), (math.inf, 0.0, 0.0),
                                               (0.0, 2.0, 0.0), (0.0, 0.5, math.inf), (0.0, 1.0, 1.0)])
def test_power_of_a_constant_derivative_at_zero(x: float, c: float, slope: float) -> None:
    v = Value(x)
    (v**c).backward()
    assert v.grad == slope  # x ** 0 is the constant 1: slope 0 wherever x is


@pytest.mark.parametrize("b", [0.0, -0.0], ids=["+0", "-0"])
@pytest.mark.parametrize("a", [5e-324, 1e-310, math.nan, math.inf, -math.inf, 0.0, -0.0, 2.0, -3.0, 1e308])
def test_power_slope_in_the_base_is_zero_at_a_zero_exponent_for_every_base(a: float, b: float) -> None:
    # a^0 = 1 for every a, so d/da = 0 (PyTorch too), where b·a^(b-1) would be 0·inf or 0·nan
    base, exponent = Value(a), Value(b)
    out = base**exponent
    out.backward()
    assert out.data == 1.0 and out.local_grads[0] == 0.0 and base.grad == 0.0
    base = Value(a)
    assert grad(base ** Value(b), base, create_graph=True).data == 0.0
    # just off b = 0 the formula holds again
    base, exponent = Value(a), Value(1e-300)
    (base**exponent).backward()
    assert agrees(base.grad, power_slope(a, 1e-300))


def exactly_rounded(q: Fraction) -> float:
    """The float nearest to ``q`` (IEEE round to nearest even; ±inf beyond the largest float)."""
    try:
        return float(q)
    except OverflowError:
        return math.inf if q > 0 else -math.inf


def test_division_passes_its_gradient_by_dividing() -> None:
    # 1/b would be inf: d/dx (x / 1e-310) * 0 is 0, not 0 * inf = nan (PyTorch: 0)
    x = Value(1.0)
    ((x / 1e-310) * 0.0).backward()
    assert x.grad == 0.0
    x = Value(1.0)
    ((x / 1e-310) * 1e-300).backward()
    assert x.grad == exactly_rounded(Fraction(1e-300) / Fraction(1e-310))
    # -y/b from the subnormal y = 1e-310 / 19.5 would lose digits: -g·a/b² keeps them
    x = Value(19.5)
    ((1e-310 / x) * 1e300).backward()
    assert x.grad == exactly_rounded(-Fraction(1e300) * Fraction(1e-310) / Fraction(19.5) ** 2)
    assert x.grad == -2.6298487836949296e-13  # (-y/b gives -2.6298487837080527e-13)


@given(g=wide_floats, a=wide_floats, b=wide_floats)
def test_division_gradients_are_exact_at_every_magnitude(g: float, a: float, b: float) -> None:
    """d/da (a/b)·g = g/b, correctly rounded; d/db = -g·a/b², within 2 ulp; both paths alike."""
    av, bv = Value(a), Value(b)
    ((av / bv) * g).backward()
    assert av.grad == exactly_rounded(Fraction(g) / Fraction(b))
    exact = -Fraction(g) * Fraction(a) / Fraction(b) ** 2
    nearest = exactly_rounded(exact)
    assume(abs(nearest) < 1e308)  # near the overflow threshold 2 ulp may round either way
    assert abs(Fraction(bv.grad) - exact) <= 2 * Fraction(math.ulp(nearest)), (bv.grad, nearest)
    av2, bv2 = Value(a), Value(b)
    recorded = grad((av2 / bv2) * g, [av2, bv2], create_graph=True)
    assert [r.data for r in recorded] == [av.grad, bv.grad]


@given(g=wide_floats, x=wide_floats.map(abs))
def test_log_gradient_is_exact_at_every_magnitude(g: float, x: float) -> None:
    v = Value(x)
    (v.log() * g).backward()
    assert v.grad == exactly_rounded(Fraction(g) / Fraction(x))  # g/x, where 1/x would overflow


def test_sqrt_derivative_at_zero_is_infinite() -> None:
    v = Value(0.0)
    out = v.sqrt()
    out.backward()
    assert (out.data, out.local_grads, v.grad) == (0.0, (math.inf,), math.inf)
    w = Value(0.0)
    assert grad(w.sqrt(), w) == math.inf
    assert grad(w.sqrt(), w, create_graph=True).data == math.inf
    u = Value(0.25)
    u.sqrt().backward()
    assert u.grad == 1.0  # 1 / (2 sqrt x)


def test_sums_are_correctly_rounded_even_with_cancellation() -> None:
    # naive left-to-right summation gives 0.0 for both
    assert vsum([Value(1e16), Value(1.0), Value(-1e16)]).data == 1.0
    assert dot([Value(1e8), Value(1.0), Value(-1e8)], [Value(1e8), Value(1.0), Value(1e8)]).data == 1.0


@pytest.mark.parametrize(
    ("expression", "build", "expected"),
    [
        ("log(0)", lambda: Value(0.0).log(), -math.inf),
        ("log(-1)", lambda: Value(-1.0).log(), math.nan),
        ("exp(1000)", lambda: Value(1000.0).exp(), math.inf),
        ("exp(-1000)", lambda: Value(-1000.0).exp(), 0.0),
        ("1/Value(0)", lambda: 1 / Value(0.0), math.inf),
        ("-1/Value(0)", lambda: -1 / Value(0.0), -math.inf),
        ("1/Value(-0.0)", lambda: 1 / Value(-0.0), -math.inf),
        ("0/Value(0)", lambda: 0 / Value(0.0), math.nan),
        ("Value(-8)**(1/3)", lambda: Value(-8.0) ** (1 / 3), math.nan),
        ("Value(10)**1000", lambda: Value(10.0) ** 1000, math.inf),
        ("Value(-10)**1001", lambda: Value(-10.0) ** 1001, -math.inf),
        ("Value(0)**-1", lambda: Value(0.0) ** -1, math.inf),
        ("Value(10)**Value(1000)", lambda: Value(10.0) ** Value(1000.0), math.inf),
        ("sqrt(-1)", lambda: Value(-1.0).sqrt(), math.nan),
        ("sigmoid(1000)", lambda: Value(1000.0).sigmoid(), 1.0),
        ("sigmoid(-1000)", lambda: Value(-1000.0).sigmoid(), 0.0),
        ("tanh(1000)", lambda: Value(1000.0).tanh(), 1.0),
        ("tanh(-1000)", lambda: Value(-1000.0).tanh(), -1.0),
        ("softplus(1000)", lambda: Value(1000.0).softplus(), 1000.0),
        ("softplus(-1000)", lambda: Value(-1000.0).softplus(), 0.0),
        ("vsum([inf, -inf])", lambda: vsum([Value(math.inf), Value(-math.inf)]), math.nan),
        ("vsum([1e308, 1e308])", lambda: vsum([Value(1e308), Value(1e308)]), math.inf),
        ("vsum([-1e308, -1e308, 1])", lambda: vsum([Value(-1e308), Value(-1e308), Value(1.0)]), -math.inf),
        ("dot overflow", lambda: dot([Value(1e308), Value(1e308)], [Value(1.0), Value(1.0)]), math.inf),
        ("dot inf - inf", lambda: dot([Value(1e200), Value(1e200)], [Value(1e200), Value(-1e200)]), math.nan),
    ],
    ids=lambda p: p if isinstance(p, str) else "",
)
def test_ieee_cases(expression: str, build: Callable[[], Value], expected: float) -> None:
    out = build()
    out.backward()  # the derivative rules must not raise either
    if math.isnan(expected):
        assert math.isnan(out.data), expression
    else:
        assert out.data == expected, expression


def sech2(x: float) -> float:
    """1 / cosh(x)^2 = 4 e^-2|x| / (1 + e^-2|x|)^2, without overflow."""
    e = math.exp(-2.0 * abs(x))
    return 4.0 * e / (1.0 + e) ** 2


@pytest.mark.parametrize("x", [1000.0, -1000.0, 710.0, -710.0, 40.0, -40.0, 10.0, -10.0])
def test_squashing_functions_are_finite_and_exact_at_large_inputs(x: float) -> None:
    v, w = Value(x), Value(x)
    s, t = v.sigmoid(), w.tanh()
    s.backward()
    t.backward()
    assert agrees(s.data, sigmoid_reference(x), rel=1e-14, abs_tol=1e-300)
    assert t.data == math.tanh(x)
    # sigma' = sigma(x) sigma(-x) keeps full relative precision, even in the tails
    assert agrees(v.grad, sigmoid_reference(x) * sigmoid_reference(-x), rel=1e-13, abs_tol=1e-300)
    # tanh' = 1 - tanh^2 from the output (as PyTorch): absolutely, not relatively, accurate;
    # exactly 0 once tanh has rounded to +-1
    assert math.isfinite(w.grad) and abs(w.grad - sech2(x)) <= 4 * 2.0**-53


def test_sigmoid_is_accurate_far_in_the_tail() -> None:
    # 1 - sigma(x) would cancel; the engine's value and slope keep full relative precision
    for x in (-30.0, -300.0, -700.0):
        v = Value(x)
        out = v.sigmoid()
        out.backward()
        tail = math.exp(x) / (1.0 + math.exp(x))
        assert math.isclose(out.data, tail, rel_tol=1e-14)
        assert math.isclose(v.grad, tail / (1.0 + math.exp(x)), rel_tol=1e-14)


# --------------------------------------------------------------------------------------------
# Second derivatives through grad(create_graph=True) (a light check; see test_higher.py)
# --------------------------------------------------------------------------------------------


def _s(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


#: d^2/dx^2 of each unary op (spec name -> f''(x, c)), in closed form.
SECOND_DERIVATIVES: dict[str, Callable[[float, float | None], float]] = {
    "pow_const": lambda x, c: c * (c - 1.0) * x ** (c - 2.0),
    "pow_int_const": lambda x, c: c * (c - 1.0) * x ** (c - 2.0),
    "radd": lambda x, c: 0.0,
    "rsub": lambda x, c: 0.0,
    "rmul": lambda x, c: 0.0,
    "rdiv": lambda x, c: 2.0 * c / x**3,
    "rpow": lambda x, c: c**x * math.log(c) ** 2,
    "neg": lambda x, c: 0.0,
    "exp": lambda x, c: math.exp(x),
    "log": lambda x, c: -1.0 / x**2,
    "tanh": lambda x, c: -2.0 * math.tanh(x) / math.cosh(x) ** 2,
    "sigmoid": lambda x, c: _s(x) * (1.0 - _s(x)) * (1.0 - 2.0 * _s(x)),
    "relu": lambda x, c: 0.0,
    "leaky_relu": lambda x, c: 0.0,
    "leaky_relu_default": lambda x, c: 0.0,
    "softplus": lambda x, c: _s(x) * (1.0 - _s(x)),
    "abs": lambda x, c: 0.0,
    "abs_method": lambda x, c: 0.0,
    "sqrt": lambda x, c: -0.25 * x**-1.5,
}

UNARY = [s for s in OPS if s.arity == 1]


def test_second_derivative_table_covers_every_unary_op() -> None:
    assert set(SECOND_DERIVATIVES) == {s.name for s in UNARY}


@pytest.mark.parametrize("spec", UNARY, ids=lambda s: s.name)
@given(data=st.data())
def test_second_derivative_of_unary_op(spec: OpSpec, data: st.DataObject) -> None:
    x = data.draw(spec.args[0], label="x")
    c = data.draw(spec.const, label="c") if spec.const is not None else None
    v = Value(x)
    out = spec.build([v], c)
    first = grad(out, v, create_graph=True)
    assert isinstance(first, Value)
    out.backward()
    assert first.data == v.grad  # the recorded derivative has the same value as the fast one
    second = grad(first, v)
    expected = SECOND_DERIVATIVES[spec.name](x, c)
    assert math.isclose(second, expected, rel_tol=1e-9, abs_tol=1e-12 * max(1.0, abs(expected)))


@pytest.mark.parametrize("b0", [0.0, 0.5, -1.0])
def test_mixed_second_derivative_of_power_is_symmetric(b0: float) -> None:
    a, b = Value(2.0), Value(b0)
    da, db = grad(a**b, [a, b], create_graph=True)
    expected = 2.0 ** (b0 - 1.0) * (1.0 + b0 * math.log(2.0))  # d/db (b a^(b-1))
    assert math.isclose(grad(da, b), expected, rel_tol=1e-14)
    assert math.isclose(grad(db, a), expected, rel_tol=1e-14)
