"""The engine as a graph: what a node records, exact gradients on shared subexpressions and
random DAGs, the accumulation rule of ``backward``, ``grad``, ``no_grad``, a 1,000,000-op chain,
and the worked example of docs/engine.md.  (Per-op checks: test_engine_ops.py.)
"""

from __future__ import annotations

import doctest
import gc
import math
import operator
import re
import sys
import threading
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import microgrid
from microgrid.engine import Op, Value, _apply, dot, grad, is_grad_enabled, no_grad, topological_order, vsum

from strategies import (
    EDGE_STEP_KINDS,
    ExprProgram,
    any_floats,
    edge_floats,
    exact_number,
    expr_programs,
    real_operands,
)

DOC = Path(__file__).resolve().parents[1] / "docs" / "engine.md"

def central_difference(f: Callable[[list[float]], float], xs: Sequence[float], i: int) -> float:
    h = 1e-6 * max(1.0, abs(xs[i]))
    up, down = list(xs), list(xs)
    up[i] += h
    down[i] -= h
    return (f(up) - f(down)) / (up[i] - down[i])


def build(program: ExprProgram) -> tuple[list[Value], list[Value], Value]:
    """The program's leaves, all its nodes, and a root that consumes every step node."""
    leaves = [Value(x) for x in program.inputs]
    nodes = program.on_values(leaves)
    return leaves, nodes, vsum(nodes[len(leaves):])


def grads_of(nodes: Sequence[Value]) -> list[float]:
    return [n.grad for n in nodes]


# --------------------------------------------------------------------------------------------
# What a node records
# --------------------------------------------------------------------------------------------


def test_parents_are_a_tuple_in_argument_order() -> None:
    a, b, c = Value(1.0), Value(2.0), Value(3.0)
    cases = {
        "a - b": (a - b, (a, b)),
        "b - a": (b - a, (b, a)),
        "a / b": (a / b, (a, b)),
        "b ** a": (b**a, (b, a)),
        "a + a": (a + a, (a, a)),
        "-a": (-a, (a,)),
        "a ** 2": (a**2, (a,)),
        "a.tanh()": (a.tanh(), (a,)),
        "vsum([c, a, b, a])": (vsum([c, a, b, a]), (c, a, b, a)),
        "dot([a, b], [c, a], bias=b)": (dot([a, b], [c, a], bias=b), (a, b, c, a, b)),
    }
    for name, (node, expected) in cases.items():
        assert type(node.parents) is tuple, name
        assert len(node.parents) == len(expected), name
        assert all(p is q for p, q in zip(node.parents, expected)), name
    assert a.parents == () and a.op == ""
    with pytest.raises(AttributeError):
        (a + b).parents = (b, a)  # read-only view


@pytest.mark.parametrize("build_op", [lambda v: 2.0 - v, lambda v: 2 ** v, lambda v: 2 / v, lambda v: 2 + v])
def test_number_on_the_left_becomes_the_first_parent(build_op: Callable[[Value], Value]) -> None:
    v = Value(3.0)
    out = build_op(v)
    assert len(out.parents) == 2
    assert out.parents[0].data == 2.0 and out.parents[0].is_leaf
    assert out.parents[1] is v


def test_conversion_of_numbers_to_float() -> None:
    for x, expected in [(3, 3.0), (-7, -7.0), (np.int64(5), 5.0), (np.int32(-2), -2.0),
                        (np.float32(0.5), 0.5), (2.5, 2.5)]:
        v = Value(x)
        assert type(v.data) is float and v.data == expected, x
        assert type(v.grad) is float and v.grad == 0.0
    assert Value(np.float32(0.1)).data == float(np.float32(0.1))  # widened exactly, not re-rounded


def test_integers_beyond_float_range_become_infinities() -> None:
    # float(10**400) raises OverflowError; IEEE conversion rounds to +-inf, and so must Value
    for x, expected in [(10**400, math.inf), (-(10**400), -math.inf), (2**1024, math.inf)]:
        v = Value(x)
        assert type(v.data) is float and v.data == expected
        assert (Value(1.0) * x).data == expected  # an operand is converted the same way
    assert Value(2**1023).data == 2.0**1023  # the largest power of two that fits stays exact


def test_numpy_float64_becomes_a_python_float() -> None:
    # np.float64 subclasses float: it must be converted too, or data, .grad and repr carry it
    w = Value(1.0)
    nodes = [Value(np.float64(0.25)), w * np.float64(3.0), dot([w], np.array([2.0]))]
    nodes[-1].backward(np.float64(2.0))
    assert [type(n.data) for n in nodes] == [float, float, float]
    assert type(w.grad) is float
    assert repr(nodes[0]) == "Value(data=0.25, grad=0.0)"


@pytest.mark.parametrize(
    ("bad", "name"),
    [("1.0", "str"), (None, "NoneType"), ([1.0], "list"), ((1.0,), "tuple"), (1 + 2j, "complex"),
     (np.complex128(1.0), "complex"), ({"x": 1}, "dict")],
)
def test_non_numbers_raise_type_error_naming_the_type(bad: object, name: str) -> None:
    with pytest.raises(TypeError, match=name):
        Value(bad)  # type: ignore[arg-type]
    v = Value(1.0)
    for use in (lambda: v + bad, lambda: bad * v, lambda: v ** bad, lambda: vsum([v, bad]),
                lambda: dot([v], [bad]), lambda: v.leaky_relu(bad)):
        with pytest.raises(TypeError, match=name):
            use()


def test_repr_shows_data_and_grad() -> None:
    v = Value(2.5)
    (v * 3.0).backward()
    assert "data=2.5" in repr(v) and "grad=3.0" in repr(v)
    assert "label='x'" in repr(Value(1.0, "x"))


def test_value_uses_slots() -> None:
    v = Value(1.0)
    assert not hasattr(v, "__dict__")
    with pytest.raises(AttributeError):
        v.extra = 1  # type: ignore[attr-defined]


def test_local_grads_are_recorded_at_forward_time() -> None:
    a, b = Value(3.0), Value(-2.0)
    assert (a * b).local_grads == (-2.0, 3.0)
    assert (a / b).local_grads == (-0.5, -0.75)  # 1/b, -a/b^2
    assert dot([a], [b], bias=a).local_grads == (-2.0, 3.0, 1.0)


# --------------------------------------------------------------------------------------------
# Shared subexpressions: exact gradients
# --------------------------------------------------------------------------------------------


def test_reuse_cases_have_exact_gradients() -> None:
    a = Value(3.0)
    (a + a).backward()
    assert a.grad == 2.0

    a = Value(3.0)
    (a * a).backward()
    assert a.grad == 6.0  # 2a

    a = Value(3.0)
    (a - a).backward()
    (a / a).backward()
    assert a.grad == 0.0

    a = Value(3.0)
    d = (a + 1.0) * (a - 1.0)
    d.backward()
    assert (d.data, a.grad) == (8.0, 6.0)  # d/da (a^2 - 1) = 2a


def test_diamond() -> None:
    a = Value(3.0)
    b = a * 2.0
    c = b + b * b  # c = 2a + 4a^2
    c.backward()
    assert c.data == 42.0
    assert b.grad == 13.0  # 1 + 2b
    assert a.grad == 26.0  # 2 + 8a


def test_double_diamond_with_shared_middle() -> None:
    x = Value(0.5)
    u, v = x.exp(), x.tanh()
    m = u * v  # both branches meet, then split again
    y = m.sigmoid() + m * m
    y.backward()
    s = 1.0 / (1.0 + math.exp(-m.data))
    dm = s * (1.0 - s) + 2.0 * m.data
    dx = dm * (math.exp(0.5) * math.tanh(0.5) + math.exp(0.5) * (1.0 - math.tanh(0.5) ** 2))
    assert math.isclose(m.grad, dm, rel_tol=1e-15)
    assert math.isclose(x.grad, dx, rel_tol=1e-14)


def test_dot_and_vsum_with_repeated_parents() -> None:
    a, b = Value(2.0), Value(5.0)
    y = dot([a, a, b], [a, b, a], bias=a)  # a*a + a*b + b*a + a
    y.backward()
    assert y.data == 26.0
    assert len(y.parents) == 7
    assert a.grad == 15.0  # 2a + 2b + 1
    assert b.grad == 4.0  # 2a

    a, b = Value(2.0), Value(5.0)
    vsum([a, a, b, a]).backward()
    assert (a.grad, b.grad) == (3.0, 1.0)


def test_exponentially_many_paths_are_summed_in_linear_time() -> None:
    a = Value(1.0)
    x = a
    for _ in range(60):
        x = x + x  # 2^60 paths from x to a; a path-enumerating engine would never finish
    x.backward()
    assert x.data == 2.0**60
    assert a.grad == 2.0**60


@given(program=expr_programs())
def test_random_dag_matches_float_reference_and_finite_differences(program: ExprProgram) -> None:
    leaves, nodes, root = build(program)
    reference = program.on_floats()
    scale = 1.0 + sum(abs(r) for r in reference)
    for node, ref in zip(nodes, reference):
        assert math.isclose(node.data, ref, rel_tol=1e-12, abs_tol=1e-12 * scale)
    root.backward()

    def f(xs: list[float]) -> float:
        return math.fsum(program.on_floats(xs)[len(xs):])

    for i, leaf in enumerate(leaves):
        fd = central_difference(f, program.inputs, i)
        assert math.isclose(leaf.grad, fd, rel_tol=1e-5, abs_tol=1e-7 * scale), (i, leaf.grad, fd)


@given(program=expr_programs())
def test_topological_order_puts_every_node_before_its_parents(program: ExprProgram) -> None:
    leaves, nodes, root = build(program)
    order = topological_order(root)
    position = {id(n): i for i, n in enumerate(order)}
    assert order[0] is root
    assert len(position) == len(order)  # each node once
    ancestors, todo = {id(root)}, [root]
    while todo:
        for p in todo.pop().parents:
            if id(p) not in ancestors:
                ancestors.add(id(p))
                todo.append(p)
    assert set(position) == ancestors  # exactly the nodes the root depends on
    for node in order:
        # so, walking the order, a node is reached only after all of its consumers
        assert all(position[id(p)] > position[id(node)] for p in node.parents)


# --------------------------------------------------------------------------------------------
# backward: the accumulation rule
# --------------------------------------------------------------------------------------------


@given(program=expr_programs(), k=st.integers(2, 5))
def test_k_backward_calls_give_exactly_k_times_the_gradient(program: ExprProgram, k: int) -> None:
    leaves, nodes, root = build(program)
    everything = topological_order(root)  # intermediates included
    root.backward()
    once = grads_of(everything)
    root.backward()
    assert grads_of(everything) == [2.0 * g for g in once]  # exactly, not approximately
    for _ in range(k - 2):
        root.backward()
    expected = [0.0] * len(once)
    for _ in range(k):  # k additions of one pass, in float, is what .grad holds
        expected = [e + g for e, g in zip(expected, once)]
    assert grads_of(everything) == expected


def test_backward_twice_on_a_chain_does_not_double_count_intermediates() -> None:
    # an engine that seeds root.grad = 1 and propagates the accumulated .grad gives
    # a.grad = 18 here after two calls (the second pass re-sends the first pass's b.grad)
    a = Value(1.0)
    b = a * 2.0
    c = b * 3.0
    c.backward()
    c.backward()
    assert (c.grad, b.grad, a.grad) == (2.0, 6.0, 12.0)


def test_backward_seed_scales_every_gradient() -> None:
    def run(seed: float) -> list[float]:
        a, b = Value(0.7), Value(-1.3)
        y = (a * b).tanh() + a.exp() / b
        y.backward(seed)
        return grads_of(topological_order(y))

    one = run(1.0)
    assert run(2.0) == [2.0 * g for g in one]  # scaling by 2 is exact in float
    assert run(-0.5) == [-0.5 * g for g in one]
    assert all(math.isclose(g3, 3.0 * g, rel_tol=1e-15) for g3, g in zip(run(3.0), one))


def test_backward_on_a_leaf_adds_the_seed() -> None:
    v = Value(4.0)
    v.backward()
    assert v.grad == 1.0
    v.backward(2.5)
    assert v.grad == 3.5


def test_backward_from_an_intermediate_reaches_only_its_ancestors() -> None:
    a, b = Value(2.0), Value(3.0)
    left = a * 2.0
    root = left + b
    left.backward()
    assert (a.grad, b.grad, root.grad, left.grad) == (2.0, 0.0, 0.0, 1.0)


@pytest.mark.parametrize(("bad", "message"), [([1.0], "list"), ("1", "str"), (None, "NoneType"),
                                              (Value(1.0), "number")])
def test_backward_seed_must_be_a_number(bad: object, message: str) -> None:
    v = Value(1.0) * 2.0
    with pytest.raises(TypeError, match=message):
        v.backward(bad)  # type: ignore[arg-type]


@pytest.mark.slow
def test_million_op_chain_forward_and_backward_without_recursion() -> None:
    limit = sys.getrecursionlimit()
    assert limit <= 100_000  # the default is kept: depth must not come from the Python stack
    x = Value(0.5)
    y, middle = x, None
    for i in range(500_000):
        y = -(y + 1.0)  # two ops; applied twice it is the identity, slope (-1)^2
        if i == 249_999:
            middle = y
    y.backward()
    assert y.data == 0.5
    assert x.grad == 1.0 and middle.grad == 1.0
    assert sys.getrecursionlimit() == limit


# --------------------------------------------------------------------------------------------
# grad(): gradients without touching .grad
# --------------------------------------------------------------------------------------------


@given(program=expr_programs())
def test_grad_equals_backward_and_leaves_grad_alone(program: ExprProgram) -> None:
    leaves, nodes, root = build(program)
    gs = grad(root, leaves)
    assert isinstance(gs, list) and all(type(g) is float for g in gs)
    assert all(n.grad == 0.0 for n in topological_order(root))
    root.backward()
    assert gs == grads_of(leaves)


def test_grad_single_input_unreachable_input_and_bad_arguments() -> None:
    a, b, other = Value(2.0), Value(3.0), Value(7.0)
    y = a * b
    assert grad(y, a) == 3.0
    assert grad(y, [b, other, a]) == [2.0, 0.0, 3.0]  # no path: gradient 0
    assert grad(y, other, create_graph=True).data == 0.0
    with pytest.raises(TypeError, match="float"):
        grad(1.0, a)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"inputs\[1\]"):
        grad(y, [a, 2.0])  # type: ignore[list-item]


def test_grad_create_graph_records_a_differentiable_gradient() -> None:
    x = Value(1.5)
    y = x**3 * x.exp()
    dy = grad(y, x, create_graph=True)  # 3x^2 e^x + x^3 e^x
    d2y = grad(dy, x)  # (6x + 6x^2 + x^3) e^x
    e = math.exp(1.5)
    assert math.isclose(dy.data, (3 * 1.5**2 + 1.5**3) * e, rel_tol=1e-14)
    assert math.isclose(d2y, (6 * 1.5 + 6 * 1.5**2 + 1.5**3) * e, rel_tol=1e-13)
    assert x.grad == 0.0


class _Traceable(Value):
    """A Value that can be weakly referenced (Value's __slots__ leave out __weakref__)."""


#: y = 2x whose recorded derivative is a _Traceable constant 2: a node that exists only in the
#: gradient graph, so a weak reference to it shows whether anything else keeps that graph alive
TRACED_DOUBLE = Op("double", lambda a, p: 2.0 * a[0],
                   lambda y, a, p: (_Traceable(2.0) if isinstance(a[0], Value) else 2.0,))


@pytest.mark.parametrize("nested", [False, True], ids=["gradient is the node", "node inside the gradient"])
def test_create_graph_leaves_no_reference_from_the_graph_to_its_gradient(nested: bool) -> None:
    """grad(create_graph=True) builds each gradient in the nodes' scratch slot ``_g``; once it
    returns, no node of the original graph may still hold (and keep alive) the gradient graph."""
    x = Value(0.8)
    doubled = _apply(TRACED_DOUBLE, (x,))
    # y = 2x, or y = 2x e^x + tanh(2x) (the gradient then is a graph with the traced node inside)
    y = (doubled * x.exp() + doubled.tanh()) if nested else doubled
    original = topological_order(y)
    (g,) = grad(y, [x], create_graph=True)
    traced = [n for n in topological_order(g) if isinstance(n, _Traceable)]
    assert len(traced) == 1 and (g is traced[0]) != nested
    t = math.tanh(1.6)
    expected = 2.0 * math.exp(0.8) + 1.6 * math.exp(0.8) + 2.0 * (1.0 - t * t) if nested else 2.0
    assert math.isclose(g.data, expected, rel_tol=1e-14)
    ref = weakref.ref(traced[0])
    del g, traced
    gc.collect()
    assert ref() is None, "the original graph still references the gradient graph"
    # (``original`` keeps every node of y's graph alive, so the reference is not gone with them)
    assert all(type(n._g) is float and n._g == 0.0 for n in original)


def test_create_graph_gradient_is_not_held_by_the_graph() -> None:
    x, w = Value(0.3), Value(-1.2)
    y = (x * w).tanh() + x.exp() * w
    original = {id(n) for n in topological_order(y)}
    gx, gw = grad(y, [x, w], create_graph=True)
    for g in (gx, gw):
        assert not [r for r in gc.get_referrers(g) if id(r) in original]
    assert all(n._g == 0.0 for n in topological_order(y))
    # and the gradient graph still depends on the original leaves
    assert grad(gx, w) != 0.0


def test_pow_with_value_exponent_has_zero_base_slope_at_zero_exponent() -> None:
    # b * a ** (b - 1) would be 0 * inf = nan; like x ** 0 (and PyTorch) the slope is 0
    a, b = Value(0.0), Value(0.0)
    (a**b).backward()
    c = Value(0.0)
    (c**0).backward()
    assert (a.grad, c.grad) == (0.0, 0.0)


# --------------------------------------------------------------------------------------------
# no_grad
# --------------------------------------------------------------------------------------------


def test_no_grad_records_no_parents() -> None:
    a = Value(2.0)
    with no_grad():
        assert not is_grad_enabled()
        y = (a * 3.0).tanh()
        z = dot([a], [a], bias=a)
    assert is_grad_enabled()
    assert y.data == math.tanh(6.0) and z.data == 6.0
    for node in (y, z):
        assert (node.parents, node.op, node.local_grads) == ((), "", ())
    y.backward()
    assert (y.grad, a.grad) == (1.0, 0.0)
    assert (a * 3.0).parents[0] is a  # recording again after the block


def test_no_grad_nests() -> None:
    a = Value(1.0)
    with no_grad():
        with no_grad():
            assert not (a + 1.0).parents
        assert not is_grad_enabled() and not (a + 1.0).parents  # inner exit keeps it off
    assert is_grad_enabled() and (a + 1.0).parents


def test_no_grad_is_restored_after_an_exception() -> None:
    a = Value(1.0)
    with pytest.raises(ZeroDivisionError):
        with no_grad():
            with pytest.raises(KeyError):
                with no_grad():
                    raise KeyError("inner")
            assert not is_grad_enabled()
            raise ZeroDivisionError
    assert is_grad_enabled() and (a * 2.0).parents


@pytest.mark.parametrize("no_grad_in", ["worker", "main"])
def test_no_grad_in_one_thread_does_not_affect_another(no_grad_in: str) -> None:
    entered, release = threading.Event(), threading.Event()
    seen: dict[str, tuple] = {}

    def hold_no_grad() -> None:
        with no_grad():
            entered.set()
            assert release.wait(10)
            seen["inside"] = (Value(1.0) * 2.0).parents

    def record() -> None:
        a = Value(1.0)
        seen["other"] = (a * 2.0).parents[:1] == (a,), is_grad_enabled()

    if no_grad_in == "worker":
        t = threading.Thread(target=hold_no_grad)
        t.start()
        assert entered.wait(10)
        record()  # main records while the worker is inside no_grad
        release.set()
    else:
        t = threading.Thread(target=record)
        release.set()
        with no_grad():
            t.start()  # the worker records while main is inside no_grad
            t.join(10)
            seen["inside"] = (Value(1.0) * 2.0).parents
    t.join(10)
    assert seen["other"] == (True, True)
    assert seen["inside"] == ()
    assert is_grad_enabled()


def test_no_grad_under_concurrent_use() -> None:
    stop = threading.Event()
    recorded_without_parents = []

    def toggler() -> None:
        while not stop.is_set():
            with no_grad():
                with no_grad():
                    Value(1.0) + 1.0  # noqa: B018

    workers = [threading.Thread(target=toggler) for _ in range(3)]
    for w in workers:
        w.start()
    try:
        a = Value(1.0)
        for _ in range(20_000):
            if not (a + 1.0).parents:
                recorded_without_parents.append(1)
    finally:
        stop.set()
        for w in workers:
            w.join(10)
    assert not recorded_without_parents
    assert is_grad_enabled()


def test_create_graph_is_refused_inside_no_grad() -> None:
    a = Value(1.0)
    y = a * a
    with no_grad(), pytest.raises(RuntimeError, match="no_grad"):
        grad(y, a, create_graph=True)


# --------------------------------------------------------------------------------------------
# Comparisons: <, <=, >, >= compare data; == and hash stay identity
# --------------------------------------------------------------------------------------------

ORDER_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


@given(x=any_floats, other=real_operands)
def test_comparisons_with_a_number_on_either_side_are_those_of_the_numbers(x: float, other: object) -> None:
    v = Value(x)
    ref = exact_number(other)  # Python compares a float with an int or float exactly
    for name, op in ORDER_OPS.items():
        for result, expected in ((op(v, other), op(x, ref)), (op(other, v), op(ref, x))):
            assert type(result) is bool, (name, type(other))  # not np.bool_, not a Value
            assert result is expected, (name, x, other)


@given(x=any_floats, y=any_floats)
def test_comparisons_between_values_are_those_of_their_floats(x: float, y: float) -> None:
    a, b = Value(x), Value(y)
    for op in ORDER_OPS.values():
        assert op(a, b) is op(x, y)


def test_nan_compares_false_with_everything() -> None:
    nan = Value(math.nan)
    for op in ORDER_OPS.values():
        for other in (nan, Value(math.nan), Value(1.0), 1, math.inf, -math.inf, math.nan, np.float64(0.0)):
            assert op(nan, other) is False and op(other, nan) is False


def test_comparisons_of_integers_are_exact_not_rounded() -> None:
    big = Value(2**53)  # float(2**53 + 1) would round to 2**53
    assert big < 2**53 + 1 and big < np.int64(2**53 + 1) and np.int64(2**53 + 1) > big
    assert not big < 2**53 and big <= 2**53
    assert Value(1e308) < 10**400 and Value(-1e308) > -(10**400) and Value(math.inf) > 10**400
    wide = np.longdouble(1.0) + np.longdouble(2.0) ** -60  # equals 1.0 where long double is float64
    assert (Value(1.0) < wide) is bool(wide > 1.0)  # compared as long doubles, not rounded to 1.0


@given(xs=st.lists(st.floats(allow_nan=False), min_size=1, max_size=12))
def test_max_min_and_sorted_order_by_data(xs: list[float]) -> None:
    values = [Value(x) for x in xs]
    by_data = sorted(range(len(xs)), key=xs.__getitem__)  # a stable sort of the floats
    assert [id(v) for v in sorted(values)] == [id(values[i]) for i in by_data]
    by_data_reversed = sorted(range(len(xs)), key=xs.__getitem__, reverse=True)
    assert [id(v) for v in sorted(values, reverse=True)] == [id(values[i]) for i in by_data_reversed]
    assert max(values) is values[xs.index(max(xs))]  # the first of the largest, as for floats
    assert min(values) is values[xs.index(min(xs))]
    three = 3.0
    assert max(values[0], three) is (three if three > xs[0] else values[0])  # mixed with a number


def test_comparisons_record_nothing() -> None:
    a, b = Value(2.0, "a"), Value(3.0, "b")
    L = a * b + a
    before = topological_order(L)
    assert (a < b, L > a, L >= 8, 2 <= L) == (True, True, True, True)
    assert topological_order(L) == before and a.is_leaf and L.parents == before[0].parents
    L.backward()
    assert (a.grad, b.grad) == (4.0, 2.0)  # b + 1 and a: the comparisons added nothing


def test_equality_and_hash_stay_identity() -> None:
    a, b = Value(1.0), Value(1.0)
    assert a == a and a != b and not (a == b)  # two nodes holding the same number are two nodes
    assert a != 1.0 and not (a == 1.0)  # compare .data for numeric equality
    assert a <= b and a >= b  # while the order comparisons look at the numbers
    assert hash(a) == object.__hash__(a)
    assert len({a, b}) == 2 and {a: "a", b: "b"}[b] == "b"


@pytest.mark.parametrize("bad", ["1", None, [1.0], 1j, np.bool_(True), np.array(1.0), np.array([1.0, 2.0]),
                                 object()], ids=lambda b: type(b).__name__)
def test_comparing_with_a_non_number_is_pythons_type_error(bad: object) -> None:
    v = Value(1.0)
    for name, op in ORDER_OPS.items():
        with pytest.raises(TypeError, match=f"'{re.escape(name)}' not supported|not supported between"):
            op(v, bad)
        with pytest.raises(TypeError, match="not supported between"):
            op(bad, v)


# --------------------------------------------------------------------------------------------
# The worked example of docs/engine.md
# --------------------------------------------------------------------------------------------


def worked_example() -> dict[str, Value]:
    """L = tanh(a*b + c), a = 2, b = -3, c = 10, as in the doc, with every node named."""
    a, b, c = Value(2.0, "a"), Value(-3.0, "b"), Value(10.0, "c")
    e = a * b
    n = e + c
    L = n.tanh()
    L.backward()
    return {"a": a, "b": b, "c": c, "e": e, "n": n, "L": L}


def doc_table() -> dict[str, tuple[float, float]]:
    """``node -> (data, grad)`` from the table between the worked-example markers."""
    section = DOC.read_text().split("<!-- worked-example -->")[1]
    rows = re.findall(r"^\|\s*`?(\w+)`?\s*\|[^|]*\|\s*([-+0-9.e]+)\s*\|\s*([-+0-9.e]+)\s*\|$", section, re.M)
    return {name: (float(data), float(g)) for name, data, g in rows}


def test_worked_example_numbers_in_the_doc() -> None:
    table = doc_table()
    nodes = worked_example()
    assert set(table) == set(nodes)
    for name, (data, g) in table.items():
        assert math.isclose(nodes[name].data, data, rel_tol=5e-6), name
        assert math.isclose(nodes[name].grad, g, rel_tol=5e-6), name


def test_doc_examples_run() -> None:
    result = doctest.testfile(str(DOC), module_relative=False, globs={"microgrid": microgrid},
                              optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_worked_example_closed_form() -> None:
    nodes = worked_example()
    t = math.tanh(4.0)
    slope = (1.0 - t) * (1.0 + t)  # the engine's form of 1 - tanh^2 (no cancellation near |t| = 1)
    assert nodes["L"].data == math.tanh(4.0)
    assert (nodes["a"].grad, nodes["b"].grad, nodes["c"].grad) == (-3.0 * slope, 2.0 * slope, slope)


@pytest.mark.parametrize("label", [3, None, b"a", ["a"]])
def test_label_must_be_text(label: object) -> None:
    with pytest.raises(TypeError, match="label must be a str"):
        Value(1.0, label)  # type: ignore[arg-type]


@pytest.mark.parametrize("array", [np.array([2.0]), np.array(2.0), np.ones((2, 2))])
def test_an_array_on_either_side_is_a_clear_type_error(array):
    # not an object array of Values built element by element on one side and an error on the other
    for combine in (lambda a, v: a * v, lambda a, v: v * a, lambda a, v: a + v, lambda a, v: v - a):
        with pytest.raises(TypeError, match="operand must be a real number, got ndarray"):
            combine(array, Value(3.0))
    out = np.float64(2.0) * Value(3.0)  # a NumPy scalar is a number
    assert isinstance(out, Value) and out.data == 6.0


def test_calling_an_op_makes_its_node() -> None:
    # an op of one's own (docs/engine.md, "add your own op"): forward on floats, rule on floats or Values
    cube = Op("cube", lambda a, p: a[0] ** 3, lambda y, a, p: (3.0 * a[0] ** 2,))
    x = Value(2.0)
    y = cube(x)
    assert (y.data, y.op, y.parents, y.local_grads) == (8.0, "cube", (x,), (12.0,))
    assert grad(grad(y, x, create_graph=True), x) == 12.0  # d/dx 3x^2 = 6x, recorded through the rule
    scaled = Op("scaled", lambda a, p: p * a[0] + a[1], lambda y, a, p: (p, 1.0))
    z = scaled(x, 1, param=5.0)  # a number becomes a constant leaf, as in arithmetic
    assert z.data == 11.0 and z.parents[0] is x and z.parents[1].is_leaf and z.local_grads == (5.0, 1.0)
    with no_grad():
        assert cube(x).is_leaf
    with pytest.raises(TypeError, match="operand must be a real number, got str"):
        cube("2")


def test_item_is_the_data_as_a_float_like_pytorch():
    a = Value(2)
    loss = (a * 3.5).tanh()
    assert loss.item() == loss.data == math.tanh(7.0) and type(loss.item()) is float
    assert type(a.item()) is float and a.item() == 2.0


# -- the zero rule of docs/engine.md: a 0 gradient or a 0 local derivative passes nothing ------


@pytest.mark.parametrize("build, at, expected, recorded", [
    (lambda x: x.relu().sqrt(), -1.0, 0.0, 0.0),  # relu flat below 0; sqrt'(0) = inf upstream
    (lambda x: (x**0 - 1).sqrt(), 2.0, 0.0, 0.0),  # x^0 constant; sqrt'(0) = inf
    (lambda x: x.relu() * math.nan, -2.0, 0.0, 0.0),  # a NaN gradient does not cross a flat relu
    (lambda x: x.relu() * math.nan, 2.0, math.nan, math.nan),  # ... but does cross a live one
    # tanh' rounded to exactly 0: a flat edge on both paths (recorded, a term of value 0 whose
    # own derivative is kept)
    (lambda x: (x * 1000).tanh() * math.inf, 1.0, 0.0, 0.0),
])
def test_a_flat_edge_passes_zero_whatever_arrives(build, at, expected, recorded) -> None:
    def same(a: float, b: float) -> bool:
        return a == b or (math.isnan(a) and math.isnan(b))

    x = Value(at)
    build(x).backward()
    assert same(x.grad, expected)
    y = Value(at)
    assert same(grad(build(y), y), expected)
    z = Value(at)
    assert same(grad(build(z), z, create_graph=True).data, recorded)


def same_float(a: float, b: float) -> bool:
    """The same float: equal with the same sign (of zero too), or both nan."""
    return (a != a and b != b) or (a == b and math.copysign(1.0, a) == math.copysign(1.0, b))


def both_paths(build: Callable[..., Value], *at: float) -> tuple[list[float], list[float], list[float]]:
    """Each input's gradient by grad(), by grad(create_graph=True) and by backward()."""
    leaves = [Value(x) for x in at]
    fast = grad(build(*leaves), leaves)
    leaves = [Value(x) for x in at]
    recorded = [g.data for g in grad(build(*leaves), leaves, create_graph=True)]
    leaves = [Value(x) for x in at]
    build(*leaves).backward()
    return fast, recorded, [v.grad for v in leaves]


@pytest.mark.parametrize("build, at, expected", [
    # log'(0) = inf, but relu passes log's node nothing: a node that received no gradient passes
    # none (0 × inf would be nan)
    (lambda x: x.log().relu(), (0.0,), [0.0]),
    # tanh(20.5) rounds to 1: sqrt' = inf reaches tanh, whose derivative 1 - 1² is exactly 0
    (lambda x: (1.0 - x.tanh()).sqrt(), (20.5,), [0.0]),
    # a^0 = 1 for every a: flat in a; sqrt'(0) = inf times ln 2 for b
    (lambda a, b: (a**b - 1.0).sqrt(), (2.0, 0.0), [0.0, math.inf]),
], ids=["relu(log x) at 0", "sqrt(1 - tanh x) at 20.5", "sqrt(a**b - 1) at (2, 0)"])
def test_the_zero_rule_examples_of_the_doc_on_both_paths(build, at, expected) -> None:
    fast, recorded, backward = both_paths(build, *at)
    assert fast == recorded == backward == expected


def test_a_gradient_is_never_minus_zero() -> None:
    # x's only term, 1e-200 · -1e-200, underflows to -0.0; the sum of a node's terms starts at 0
    fast, recorded, backward = both_paths(lambda x: (x * -1e-200) * 1e-200, 3.0)
    assert all(same_float(g, 0.0) for g in fast + recorded + backward)


@given(program=expr_programs(EDGE_STEP_KINDS, max_inputs=3, max_steps=10, values=edge_floats))
def test_backward_and_create_graph_give_the_same_gradient_bit_for_bit(program: ExprProgram) -> None:
    """Random graphs over every op, at the edges (±0, ±inf, nan, subnormals, saturated tanh and
    sigmoid, the kinks): one derivative, NaN where NaN, the same sign of zero."""
    def build(*leaves: Value) -> Value:
        return vsum(program.on_values(leaves)[len(leaves):])

    fast, recorded, backward = both_paths(build, *program.inputs)
    assert all(map(same_float, fast, recorded)), (fast, recorded)
    assert all(map(same_float, fast, backward)), (fast, backward)


def test_value_power_with_exponent_zero_is_flat_in_the_base() -> None:
    a, b = Value(2.0), Value(0.0)
    ((a**b) - 1).sqrt().backward()
    assert a.grad == 0.0 and b.grad == math.inf  # d/db = inf * 2^0 ln 2
    # recorded: the derivative in a is an expression (0 here) whose own derivative in b is 1/a
    a, b = Value(2.0), Value(0.0)
    da = grad(a**b, a, create_graph=True)
    assert da.data == 0.0 and grad(da, b) == pytest.approx(0.5, rel=1e-15)


def test_flat_edges_change_no_finite_gradient(tmp_path) -> None:
    """Skipping g * 0 changes nothing when g is finite: a ReLU network's gradients equal the
    hand-derived NumPy ones, off-units included."""
    from microgrid.nn import MLP
    from microgrid.vectorized import VectorizedMLP

    rng = np.random.default_rng(5)
    X, y = rng.standard_normal((30, 4)), (rng.random(30) > 0.5).astype(float)
    mlp = MLP(4, [16, 1], seed=2)
    mlp.loss(X, y).backward()
    net = VectorizedMLP.from_scalar(mlp)
    _, grads = net.loss_and_grads(X, y)
    for got, want in zip(mlp.get_grads(), grads):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    off = (net.preactivations(X)[0] <= 0.0).mean()
    assert 0.2 < off < 0.8  # many (row, unit) pairs were off: their flat edges were skipped


#: C99 / IEEE 754 pow at the special points (Annex F.10.4.4); math.pow raises at (-0.0, -0.5)
C_POW = [(-math.inf, 0.5, math.inf), (-0.0, 0.5, 0.0), (-math.inf, -0.5, 0.0), (-0.0, -0.5, math.inf)]


@pytest.mark.parametrize("x, c, expected", C_POW)
def test_fractional_powers_follow_c_pow_and_sqrt_follows_sqrt(x, c, expected) -> None:
    got = (Value(x) ** c).data
    assert got == expected and math.copysign(1.0, got) == 1.0  # +inf, +0.0: C's pow
    if not (x == 0.0 and c < 0):
        assert got == math.pow(x, c)
    root = Value(x).sqrt().data  # sqrt as IEEE and NumPy have it: nan below 0, sqrt(-0.0) = -0.0
    with np.errstate(invalid="ignore"):
        want = float(np.sqrt(x))
    same_zero_sign = math.copysign(1, root) == math.copysign(1, want)
    assert (math.isnan(root) and math.isnan(want)) or (root == want and same_zero_sign)
