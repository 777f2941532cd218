"""Higher-order derivatives: grad(create_graph=True), hessian, hvp, gradgradcheck, newton example.

References are independent of the engine: closed forms for every op up to the third derivative,
central differences (of the engine's float gradients, and of plain-float programs), scikit-learn
and NumPy for the logistic regression of ``examples/newton.py``.
"""

from __future__ import annotations

import doctest
import importlib.util
import math
import re
import sys
from collections.abc import Callable, Sequence
from itertools import product
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import microgrid
from microgrid.engine import Op, Value, _apply, grad, topological_order
from microgrid.gradcheck import GradcheckError, gradcheck, gradgradcheck
from microgrid.higher import hessian, hvp, numerical_hessian, value_grad_hessian

from strategies import OPS, OpSpec, expr_programs, float_lists, floats_between, positive

ROOT = Path(__file__).resolve().parents[1]

# --------------------------------------------------------------------------------------------
# Derivative tensors by the engine, and closed forms
# --------------------------------------------------------------------------------------------

Partials = dict[tuple[int, ...], float]  # sorted multi-index -> d^k f / dx_i dx_j ...


def engine_partials(out: Value, leaves: Sequence[Value], order: int) -> dict[tuple[int, ...], float]:
    """Every *ordered* partial derivative up to ``order`` (``(i, j)`` is d/dx_j of d f/dx_i),
    by differentiating the recorded gradients again; the last order uses the float path."""
    result: dict[tuple[int, ...], float] = {}
    frontier: dict[tuple[int, ...], Value] = {(): out}
    for k in range(1, order + 1):
        record = k < order
        next_frontier = {}
        for index, value in frontier.items():
            for i, g in enumerate(grad(value, leaves, create_graph=record)):
                next_frontier[index + (i,)] = g
                result[index + (i,)] = g.data if record else g
        frontier = next_frontier
    return result


def assert_partials_match(actual: dict[tuple[int, ...], float], closed: Partials, context: str) -> None:
    """Each ordered partial equals the closed form of its sorted index (0 where not listed)."""
    scale = max([1.0, *map(abs, closed.values())])
    bad = []
    for index, value in actual.items():
        expected = closed.get(tuple(sorted(index)), 0.0)
        if not math.isclose(value, expected, rel_tol=1e-9, abs_tol=1e-11 * scale):
            bad.append(f"d{index}: engine {value!r}, closed form {expected!r}")
    assert not bad, f"{context}:\n" + "\n".join(bad)


def _sig(x: float) -> float:
    return 0.5 * (1.0 + math.tanh(0.5 * x))  # sigmoid, by an identity the engine does not use


def _sech2(x: float) -> float:
    e = math.exp(-2.0 * abs(x))
    return 4.0 * e / (1.0 + e) ** 2


def _power(c: float, x: float) -> Partials:
    """d^k/dx^k x^c = c (c-1) ... (c-k+1) x^(c-k)."""
    return {(0,) * k: math.prod(c - m for m in range(k)) * x ** (c - k) for k in (1, 2, 3)}


def _unary(d1: float, d2: float, d3: float) -> Partials:
    return {(0,): d1, (0, 0): d2, (0, 0, 0): d3}


def _tanh(x: float) -> Partials:
    t, s = math.tanh(x), _sech2(x)  # t' = s, s' = -2 t s
    return _unary(s, -2.0 * t * s, -2.0 * s * s + 4.0 * t * t * s)


def _sigmoid(x: float) -> Partials:
    d1 = _sig(x) * _sig(-x)  # s' = s(1 - s); s'' = s'(1 - 2s); s''' = s'(1 - 6 s')
    return _unary(d1, d1 * (_sig(-x) - _sig(x)), d1 * (1.0 - 6.0 * d1))


def _pow_value(a: float, b: float) -> Partials:
    """Partials of a^b; index 0 is the base, 1 the exponent."""
    p, L = a**b, math.log(a)
    return {
        (0,): b * a ** (b - 1), (1,): p * L,
        (0, 0): b * (b - 1) * a ** (b - 2), (0, 1): a ** (b - 1) * (1 + b * L), (1, 1): p * L * L,
        (0, 0, 0): b * (b - 1) * (b - 2) * a ** (b - 3),
        (0, 0, 1): a ** (b - 2) * ((2 * b - 1) + b * (b - 1) * L),
        (0, 1, 1): a ** (b - 1) * L * (2 + b * L),
        (1, 1, 1): p * L**3,
    }


def _dot(xs: Sequence[float], n: int, with_bias: bool) -> Partials:
    """Partials of sum_i w_i x_i (+ b): parents (w..., x..., b)."""
    closed: Partials = {}
    for i in range(n):
        closed[(i,)] = xs[n + i]
        closed[(n + i,)] = xs[i]
        closed[(i, n + i)] = 1.0
    if with_bias:
        closed[(2 * n,)] = 1.0
    return closed


#: spec name (see strategies.OPS) -> (inputs, constant) -> nonzero partials of order 1 to 3
CLOSED_FORMS: dict[str, Callable[[Sequence[float], float | None], Partials]] = {
    "add": lambda x, c: {(0,): 1.0, (1,): 1.0},
    "sub": lambda x, c: {(0,): 1.0, (1,): -1.0},
    "mul": lambda x, c: {(0,): x[1], (1,): x[0], (0, 1): 1.0},
    # a / b: d/da = 1/b, d/db = -a/b^2, d2/dadb = -1/b^2, d2/db2 = 2a/b^3, d3/dadb2 = 2/b^3, ...
    "div": lambda x, c: {(0,): 1 / x[1], (1,): -x[0] / x[1] ** 2, (0, 1): -1 / x[1] ** 2,
                         (1, 1): 2 * x[0] / x[1] ** 3, (0, 1, 1): 2 / x[1] ** 3,
                         (1, 1, 1): -6 * x[0] / x[1] ** 4},
    "pow_value": lambda x, c: _pow_value(x[0], x[1]),
    "pow_const": lambda x, c: _power(c, x[0]),
    "pow_int_const": lambda x, c: _power(c, x[0]),
    "radd": lambda x, c: {(0,): 1.0},
    "rsub": lambda x, c: {(0,): -1.0},
    "rmul": lambda x, c: {(0,): c},
    "rdiv": lambda x, c: {k: c * v for k, v in _power(-1.0, x[0]).items()},
    "rpow": lambda x, c: {(0,) * k: c ** x[0] * math.log(c) ** k for k in (1, 2, 3)},
    "neg": lambda x, c: {(0,): -1.0},
    "exp": lambda x, c: _unary(*[math.exp(x[0])] * 3),
    "log": lambda x, c: _unary(1 / x[0], -1 / x[0] ** 2, 2 / x[0] ** 3),
    "tanh": lambda x, c: _tanh(x[0]),
    "sigmoid": lambda x, c: _sigmoid(x[0]),
    # piecewise linear: the first derivative is piecewise constant, every higher one is 0
    "relu": lambda x, c: {(0,): 1.0 if x[0] > 0 else 0.0},
    "leaky_relu": lambda x, c: {(0,): 1.0 if x[0] > 0 else c},
    "leaky_relu_default": lambda x, c: {(0,): 1.0 if x[0] > 0 else 0.01},
    # softplus' = sigmoid: its higher derivatives are sigmoid's, one order up
    "softplus": lambda x, c: {(0,): _sig(x[0]),
                              **{k + (0,): v for k, v in _sigmoid(x[0]).items() if len(k) < 3}},
    "abs": lambda x, c: {(0,): math.copysign(1.0, x[0])},
    "abs_method": lambda x, c: {(0,): math.copysign(1.0, x[0])},
    "sqrt": lambda x, c: _power(0.5, x[0]),
    "vsum": lambda x, c: {(i,): 1.0 for i in range(len(x))},
    "dot": lambda x, c: _dot(x, 3, False),
    "dot_bias": lambda x, c: _dot(x, 3, True),
}


def test_closed_forms_cover_every_op_of_the_engine_table() -> None:
    assert set(CLOSED_FORMS) == {s.name for s in OPS}


@pytest.mark.parametrize("spec", OPS, ids=lambda s: s.name)
@given(data=st.data())
def test_derivatives_of_every_op_up_to_third_order(spec: OpSpec, data: st.DataObject) -> None:
    """All first, second and third partials (mixed ones too, in every order) match closed forms."""
    xs = [data.draw(s, label=f"x{i}") for i, s in enumerate(spec.args)]
    c = data.draw(spec.const, label="c") if spec.const is not None else None
    leaves = [Value(x) for x in xs]
    out = spec.build(leaves, c)
    assert_partials_match(engine_partials(out, leaves, 3), CLOSED_FORMS[spec.name](xs, c), spec.name)


#: Ops whose operands share a node: the rules must differentiate through the output ``y``
#: they reuse (a / a uses y / b) and through both arguments at once.
SHARED = {
    "a*a": (lambda a: a * a, lambda a: _unary(2 * a, 2.0, 0.0)),
    "a/a": (lambda a: a / a, lambda a: _unary(0.0, 0.0, 0.0)),
    "a**a": (lambda a: a**a, lambda a: _unary(
        a**a * (math.log(a) + 1),
        a**a * ((math.log(a) + 1) ** 2 + 1 / a),
        a**a * ((math.log(a) + 1) ** 3 + 3 * (math.log(a) + 1) / a - 1 / a**2))),
    "tanh(a)*a": (lambda a: a.tanh() * a, lambda a: _unary(
        math.tanh(a) + a * _sech2(a),
        2 * _sech2(a) - 2 * a * math.tanh(a) * _sech2(a),
        -6 * math.tanh(a) * _sech2(a) + a * (4 * math.tanh(a) ** 2 * _sech2(a) - 2 * _sech2(a) ** 2))),
}


@pytest.mark.parametrize("name", SHARED)
@given(a=positive)
def test_derivatives_through_shared_operands(name: str, a: float) -> None:
    build, closed = SHARED[name]
    leaf = Value(a)
    assert_partials_match(engine_partials(build(leaf), [leaf], 3), closed(a), name)


def test_fourth_derivative_of_exp_is_exp_and_of_a_cubic_is_zero() -> None:
    x = Value(0.3)
    e, cubic = x.exp(), x**3
    for _ in range(4):
        e, cubic = grad(e, x, create_graph=True), grad(cubic, x, create_graph=True)
    assert math.isclose(e.data, math.exp(0.3), rel_tol=1e-15)
    assert cubic.data == 0.0


def test_pow_mixed_second_derivative_at_a_zero_exponent() -> None:
    """The rule may not shortcut d/da (a ** b) = b a^(b-1) to the float 0 at b = 0 (a != 0)."""
    a, b = Value(2.0), Value(0.0)
    d_da = grad(a**b, a, create_graph=True)  # b a^(b-1): 0 here, but not constant in b
    assert grad(d_da, b) == 0.5  # d2/dadb = a^(b-1) (1 + b ln a) = 1/a


#: op with a kink at 0, and its documented slope there (see test_engine_ops.KINK_SLOPES)
KINKS: dict[str, tuple[Callable[[Value], Value], float]] = {
    "relu": (lambda v: v.relu(), 0.0),
    "leaky_relu(0.2)": (lambda v: v.leaky_relu(0.2), 0.2),
    "leaky_relu()": (lambda v: v.leaky_relu(), 0.01),
    "abs": (abs, 0.0),
}


@pytest.mark.parametrize("x0", [0.0, -0.0], ids=["+0", "-0"])
@pytest.mark.parametrize("name", KINKS)
def test_second_derivatives_at_the_kink(name: str, x0: float) -> None:
    """At the kink the recorded first derivative is the documented slope s and is locally
    constant; through a product it shows up in the second derivative: (x op(x))'' = 2 s."""
    op, slope = KINKS[name]
    x = Value(x0)
    first = grad(op(x), x, create_graph=True)
    assert first.data == slope
    assert grad(first, x) == 0.0
    x = Value(x0)
    first = grad(x * op(x), x, create_graph=True)  # op(x) + x op'(x) = 0 at the kink
    assert first.data == 0.0
    assert grad(first, x) == 2.0 * slope
    assert hessian(lambda v: v * op(v), [x0]) == [[2.0 * slope]]
    # and mixed: d2/dx dw (w op(x)) = op'(x) = s
    x, w = Value(x0), Value(1.5)
    assert hessian(lambda u, v: v * op(u), [x0, 1.5]) == [[0.0, slope], [slope, 0.0]]
    gx = grad(w * op(x), x, create_graph=True)
    assert gx.data == 1.5 * slope and grad(gx, w) == slope


# --------------------------------------------------------------------------------------------
# Random expression graphs
# --------------------------------------------------------------------------------------------


def program_function(program) -> Callable[..., Value]:
    return lambda *leaves: program.on_values(leaves)[-1]


def float_second_differences(program, h: float = 1e-4) -> np.ndarray:
    """``d2 f / dx_i dx_j`` by central second differences of the plain-float program."""
    x0 = np.array(program.inputs)
    n = len(x0)

    def f(x: np.ndarray) -> float:
        return program.on_floats(list(x))[-1]

    H = np.empty((n, n))
    for i, j in product(range(n), repeat=2):
        ei, ej = np.eye(n)[i] * h, np.eye(n)[j] * h
        H[i, j] = (f(x0 + ei + ej) - f(x0 + ei - ej) - f(x0 - ei + ej) + f(x0 - ei - ej)) / (4 * h * h)
    return H


@given(program=expr_programs())
def test_hessian_of_random_graphs_matches_finite_differences(program) -> None:
    f = program_function(program)
    H = np.array(hessian(f, program.inputs))
    # central differences of the engine's float gradients: O(eps^2) accurate
    assert np.allclose(H, numerical_hessian(f, program.inputs, eps=1e-5), rtol=1e-5, atol=1e-6)
    # second differences of the program on plain floats: no engine involved at all
    assert np.allclose(H, float_second_differences(program), rtol=1e-4, atol=1e-5)
    assert gradgradcheck(f, program.inputs)


@given(program=expr_programs())
def test_hessian_is_symmetric(program) -> None:
    H = np.array(hessian(program_function(program), program.inputs))
    assert np.allclose(H, H.T, rtol=1e-12, atol=1e-13), H - H.T


@given(program=expr_programs(max_inputs=3, max_steps=8))
def test_third_derivatives_of_random_graphs_match_differences_of_the_hessian(program) -> None:
    f = program_function(program)
    leaves = [Value(x) for x in program.inputs]
    third = engine_partials(f(*leaves), leaves, 3)
    eps = 1e-5
    for k, x in enumerate(program.inputs):
        up, down = list(program.inputs), list(program.inputs)
        up[k], down[k] = x + eps, x - eps
        dH = (np.array(hessian(f, up)) - np.array(hessian(f, down))) / (2 * eps)
        for i, j in product(range(len(leaves)), repeat=2):
            assert math.isclose(third[(i, j, k)], dH[i, j], rel_tol=1e-5, abs_tol=1e-6), (i, j, k)


@given(program=expr_programs(), data=st.data())
def test_hvp_equals_hessian_times_vector(program, data: st.DataObject) -> None:
    f = program_function(program)
    v = data.draw(float_lists(floats_between(-2.0, 2.0), len(program.inputs)), label="v")
    expected = np.array(hessian(f, program.inputs)) @ np.array(v)
    assert np.allclose(hvp(f, program.inputs, v), expected, rtol=1e-12, atol=1e-12)


@given(program=expr_programs())
def test_grad_agrees_with_backward_on_both_paths(program) -> None:
    leaves = [Value(x) for x in program.inputs]
    out = program.on_values(leaves)[-1]
    fast = grad(out, leaves)
    recorded = grad(out, leaves, create_graph=True)
    assert all(type(g) is float for g in fast)
    assert all(isinstance(g, Value) for g in recorded)
    out.backward()
    for leaf, g, r in zip(leaves, fast, recorded):
        # a leaf used twice collects its terms in another order on the recorded path
        assert g == leaf.grad
        assert math.isclose(r.data, leaf.grad, rel_tol=1e-13, abs_tol=1e-15)


def graph_snapshot(root: Value) -> list[tuple[int, tuple[int, ...], float]]:
    return [(id(v), tuple(map(id, v.parents)), v.grad) for v in topological_order(root)]


@given(program=expr_programs())
def test_create_graph_false_leaves_no_graph_behind(program) -> None:
    leaves = [Value(x) for x in program.inputs]
    out = program.on_values(leaves)[-1]
    before = graph_snapshot(out)
    first_id_after = Value(0.0)._id  # creation numbers: nothing in between means no new Value
    grads = grad(out, leaves)
    assert Value(0.0)._id == first_id_after + 1, "grad(create_graph=False) created Values"
    assert all(type(g) is float for g in grads)
    assert graph_snapshot(out) == before  # no new parents, no .grad touched


def test_differentiating_through_grad_touches_no_grad_attribute() -> None:
    x, y = Value(0.7, "x"), Value(-1.3, "y")
    out = (x * y).tanh() + x**3
    out.backward()  # existing .grad values must survive unchanged
    grads_before = {id(v): v.grad for v in topological_order(out)}
    gx, gy = grad(out, [x, y], create_graph=True)
    gxx, gxy = grad(gx, [x, y], create_graph=True)
    grad(gxx + gxy * gy, [x, y])
    for v in topological_order(out):
        assert v.grad == grads_before[id(v)]
    for g in (gx, gy, gxx, gxy):
        assert all(v.grad == 0.0 or id(v) in grads_before for v in topological_order(g))


# --------------------------------------------------------------------------------------------
# hessian / hvp / gradgradcheck: API and error messages
# --------------------------------------------------------------------------------------------


def test_hessian_of_a_quadratic_form_is_its_matrix() -> None:
    A = np.array([[2.0, -1.0, 0.5], [-1.0, 3.0, 0.0], [0.5, 0.0, 1.0]])

    def quadratic(*x: Value) -> Value:
        return 0.5 * sum((float(A[i, j]) * x[i] * x[j] for i in range(3) for j in range(3)), start=Value(0.0))

    assert hessian(quadratic, [0.3, -2.0, 5.0]) == A.tolist()
    assert hvp(quadratic, [0.3, -2.0, 5.0], [1.0, 2.0, -1.0]) == (A @ [1.0, 2.0, -1.0]).tolist()
    value, gradient, H = value_grad_hessian(quadratic, [1.0, 0.0, 0.0])
    assert (value, gradient, H) == (1.0, A[0].tolist(), A.tolist())


def test_hessian_and_hvp_are_exported_at_package_level() -> None:
    assert microgrid.hessian is hessian and microgrid.hvp is hvp and microgrid.grad is grad


def test_hessian_does_not_touch_the_callers_values() -> None:
    x = Value(2.0)
    assert hessian(lambda a: a**3, [x]) == [[12.0]]
    assert x.grad == 0.0 and x.is_leaf


def test_the_point_may_be_a_numpy_array() -> None:
    point = np.array([1.0, 2.0])
    assert hessian(lambda a, b: a * a * b, point) == [[4.0, 2.0], [2.0, 0.0]]
    assert hvp(lambda a, b: a * a * b, point, np.array([1.0, 1.0])) == [6.0, 2.0]


def test_helpers_reject_bad_input_with_clear_messages() -> None:
    with pytest.raises(TypeError, match=r"f \(<lambda>\) must return a Value, got float"):
        hessian(lambda a: 1.0, [1.0])
    with pytest.raises(ValueError, match="xs is empty"):
        hessian(lambda: Value(1.0), [])
    with pytest.raises(ValueError, match=r"xs\[1\] is nan"):
        hessian(lambda a, b: a * b, [1.0, math.nan])
    with pytest.raises(TypeError, match=r"xs\[0\] must be a real number"):
        hessian(lambda a: a, ["1"])
    with pytest.raises(TypeError, match="sequence of Values or numbers"):
        hessian(lambda a: a, 1.0)
    with pytest.raises(ValueError, match="v has 1 entries but xs has 2"):
        hvp(lambda a, b: a * b, [1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="eps must be positive"):
        gradgradcheck(lambda a: a * a, [1.0], eps=0.0)
    with pytest.raises(ValueError, match="atol must be non-negative and finite, got -1"):
        gradgradcheck(lambda a: a * a * a, [1.0], atol=-1)  # would fail every entry, not say why


#: x^2 with a derivative rule that is right on floats but reads its operand as a number, so the
#: recorded gradient loses its dependence on x: exactly the bug gradgradcheck is for.
FLOAT_ONLY_SQUARE = Op("square", lambda a, p: a[0] * a[0], lambda y, a, p: (2.0 * float(a[0]),))


def square_times(a: Value, b: Value) -> Value:
    """a^2 b, with the square from FLOAT_ONLY_SQUARE."""
    return _apply(FLOAT_ONLY_SQUARE, (a,)) * b


def test_gradgradcheck_reports_wrong_second_derivatives_in_a_table() -> None:
    a, b = Value(1.5, "a"), Value(-0.5, "b")
    assert gradgradcheck(lambda u, v: u * u * v, [a, b])
    assert gradcheck(square_times, [a, b])  # its first derivatives are right...
    assert gradgradcheck(square_times, [a, b], raise_exception=False) is False  # ...its second are not
    with pytest.raises(GradcheckError) as info:
        gradgradcheck(square_times, [a, b])
    message = str(info.value)
    assert "1 of 4 second derivatives of square_times" in message
    lines = message.splitlines()
    assert lines[1].split()[:4] == ["df/d", "then", "d/d", "numerical"]
    rows = [line.split() for line in lines[3:]]
    assert [row[:2] for row in rows] == [["a", "a"], ["a", "b"], ["b", "a"], ["b", "b"]]
    # d2/da2 (a^2 b) = 2b = -1, but the recorded d/da = b * (2a as a constant) gives 0
    numerical, analytical = float(rows[0][2]), float(rows[0][3])
    assert rows[0][-2:] == ["<--", "mismatch"] and analytical == 0.0 and math.isclose(numerical, -1.0)
    assert not any("mismatch" in row for row in rows[1:])
    assert [float(row[3]) for row in rows[1:]] == [3.0, 3.0, 0.0]  # 2a, 2a, 0: right


#: a * b^2 with a derivative rule that forgets the b term: d/da = b^2 (right), d/db = 0 (wrong).
#: Its "gradient" (b^2, 0) is no gradient field, so even its numerical Hessian is not symmetric.
FORGETFUL = Op("forgetful", lambda a, p: a[0] * a[1] * a[1], lambda y, a, p: (a[1] * a[1], 0.0 * a[0]))


def forgetful(a: Value, b: Value) -> Value:
    return _apply(FORGETFUL, (a, b))


def test_numerical_hessian_rows_are_differences_of_one_gradient_entry() -> None:
    """numerical_hessian[i][j] = (g_i(x + eps e_j) - g_i(x - eps e_j)) / 2 eps, the convention
    of hessian (row i is the derivative of g_i); with g = (b^2, 0): [[0, 2b], [0, 0]]."""
    a0, b0 = 0.7, -1.5
    numerical = numerical_hessian(forgetful, [a0, b0])
    assert numerical[0][0] == 0.0 and numerical[1] == [0.0, 0.0]
    assert math.isclose(numerical[0][1], 2.0 * b0, rel_tol=1e-8)
    assert hessian(forgetful, [a0, b0]) == [[0.0, 2.0 * b0], [0.0, 0.0]]  # the same orientation
    assert gradgradcheck(forgetful, [a0, b0])  # ...so the check compares like with like


# --------------------------------------------------------------------------------------------
# Drawing the gradient graph
# --------------------------------------------------------------------------------------------


def test_draw_dot_draws_the_graph_of_a_derivative() -> None:
    from microgrid.viz import draw_dot

    x = Value(0.5, label="x")
    first = grad(x**3 * x.tanh(), x, create_graph=True)  # 3x^2 tanh x + x^3 (1 - tanh^2 x)
    source = draw_dot(first).source
    ops = set(re.findall(r'\bv\d+_op \[label="?([^" ]+)"? ', source))
    assert ops == {"**", "tanh", "*", "-", "+"}
    assert f"data {first.data:.4g}" in source  # the root is f'(0.5) = 0.4449
    assert '"{ x | data 0.5' in source


# --------------------------------------------------------------------------------------------
# The worked example of docs/engine.md
# --------------------------------------------------------------------------------------------


def doc_section() -> str:
    text = (ROOT / "docs" / "engine.md").read_text()
    assert "\n## Higher-order gradients\n" in text
    return text.split("\n## Higher-order gradients\n", 1)[1].split("\n## ", 1)[0]


def doc_examples() -> list[doctest.Example]:
    return doctest.DocTestParser().get_examples(doc_section())


def test_doc_examples_run_and_print_what_the_doc_says() -> None:
    test = doctest.DocTestParser().get_doctest(doc_section(), {}, "docs/engine.md", "docs/engine.md", 0)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    result = runner.run(test)
    assert result.attempted >= 5 and result.failed == 0


def test_doc_numbers_are_the_closed_forms() -> None:
    # the printed lines with numbers: f and its first three derivatives, the Hessian, H v
    outputs = [numbers for ex in doc_examples()
               if len(numbers := [float(t) for t in re.findall(r"-?\d+\.\d+", ex.want)]) >= 2]
    assert [len(o) for o in outputs] == [4, 4, 2]
    derivatives, hessian_rows, product_ = outputs
    # f(x) = x^3 tanh x at x = 0.5, with t = tanh x, s = 1 - t^2
    x = 0.5
    t, s = math.tanh(x), _sech2(x)
    closed = [x**3 * t, 3 * x**2 * t + x**3 * s, 6 * x * t + 6 * x**2 * s - 2 * x**3 * t * s,
              6 * t + 18 * x * s - 18 * x**2 * t * s - 2 * x**3 * s * (s - 2 * t * t)]
    assert np.allclose(derivatives, closed, rtol=0, atol=1e-12)
    # g(a, b) = a^2 b + exp(a b) at (1, 0.5)
    a, b = 1.0, 0.5
    e = math.exp(a * b)
    H = np.array([[2 * b + b * b * e, 2 * a + e * (1 + a * b)], [2 * a + e * (1 + a * b), a * a * e]])
    assert np.allclose(hessian_rows, H.ravel(), rtol=0, atol=1e-10)
    assert np.allclose(product_, H @ [1.0, -1.0], rtol=0, atol=1e-10)


# --------------------------------------------------------------------------------------------
# examples/newton.py
# --------------------------------------------------------------------------------------------


def load_newton_example():
    spec = importlib.util.spec_from_file_location("newton_example", ROOT / "examples" / "newton.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it runs
    spec.loader.exec_module(module)
    return module


def test_newton_example_converges_fast_to_the_scikit_learn_minimum(capsys) -> None:
    from sklearn.linear_model import LogisticRegression

    newton = load_newton_example()
    n_rows, l2 = 150, 1e-2
    result = newton.main(["--rows", str(n_rows), "--l2", str(l2)])
    printed = capsys.readouterr().out
    assert "Newton's method" in printed and "Gradient descent" in printed

    # Newton: quadratic convergence, ten steps at most; gradient descent: monotone and far slower
    assert result.newton.steps <= 10
    assert result.gd.steps >= 10 * result.newton.steps
    assert all(b <= a for a, b in zip(result.gd.losses, result.gd.losses[1:]))
    assert result.gd.losses[-1] - result.newton.losses[-1] <= 1e-8
    assert np.abs(np.array(result.gd.params) - result.newton.params).max() <= 1e-4

    # the same minimum by scikit-learn, which minimises C sum_i loss_i + |w|^2 / 2 (the bias not
    # penalised): our mean loss + l2/2 |w|^2 is that times l2, with C = 1 / (n l2)
    X, y = newton.load_data(n_rows, seed=0)
    model = LogisticRegression(C=1.0 / (n_rows * l2), tol=1e-12, max_iter=10_000).fit(X, y)
    sk_params = [*model.coef_[0], model.intercept_[0]]
    assert np.allclose(result.newton.params, sk_params, atol=1e-5)

    # and the engine's Hessian at the minimum is the closed form X~' diag(p(1-p)) X~ / n + l2 I_w
    Xb = np.hstack([X, np.ones((n_rows, 1))])
    p = 1.0 / (1.0 + np.exp(-Xb @ result.newton.params))
    H = Xb.T @ (Xb * (p * (1 - p))[:, None]) / n_rows + l2 * np.diag([1.0] * 9 + [0.0])
    f = newton.logistic_loss(newton.signed_rows(X, y), l2)
    assert np.allclose(hessian(f, result.newton.params), H, rtol=1e-10, atol=1e-13)
