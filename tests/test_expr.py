"""The safe expression parser: values and gradients against float references, the whitelist,
hostile inputs (never executed), and ``NAME=NUMBER`` assignments."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from microgrid.app.expr import (
    FUNCTIONS,
    MAX_DEPTH,
    MAX_LENGTH,
    ExpressionError,
    evaluate,
    parse_assignment,
    parse_expression,
)
from microgrid.engine import Value
from microgrid.safety.text import quote

from helpers import one_line_error, run_cli
from strategies import ExprText, expression_texts


def central_difference(f, values: dict[str, float], name: str) -> float:
    h = 1e-6 * max(1.0, abs(values[name]))
    up, down = dict(values), dict(values)
    up[name] += h
    down[name] -= h
    return (f(up) - f(down)) / (up[name] - down[name])


# --------------------------------------------------------------------------------------------
# What valid expressions build
# --------------------------------------------------------------------------------------------


def test_tanh_example_value_gradients_and_labels() -> None:
    root, leaves = evaluate("tanh(a*b + c)", {"a": 2, "b": -3, "c": 10})
    t = math.tanh(2 * -3 + 10)
    assert root.data == t
    root.backward()
    dz = 1 - t * t
    assert math.isclose(leaves["a"].grad, dz * -3) and math.isclose(leaves["b"].grad, dz * 2)
    assert math.isclose(leaves["c"].grad, dz)
    assert {n: v.label for n, v in leaves.items()} == {"a": "a", "b": "b", "c": "c"}
    assert root.op == "tanh" and root.parents[0].op == "+"
    (mul, c) = root.parents[0].parents
    assert mul.op == "*" and mul.parents == (leaves["a"], leaves["b"]) and c is leaves["c"]


@given(expr=expression_texts())
def test_random_expressions_match_the_float_reference(expr: ExprText) -> None:
    assume(len(expr.text) <= MAX_LENGTH)  # longer ones are refused (tested on their own)
    root, leaves = evaluate(expr.text, expr.values)
    ref = expr.reference(expr.values)
    assert math.isclose(root.data, ref, rel_tol=1e-9, abs_tol=1e-12), (expr.text, root.data, ref)
    root.backward()
    for name, leaf in leaves.items():  # one leaf per name, however often it appears
        fd = central_difference(expr.reference, expr.values, name)
        assert math.isclose(leaf.grad, fd, rel_tol=1e-5, abs_tol=1e-6 * (1 + abs(ref))), (expr.text, name)


def test_a_repeated_name_is_one_shared_leaf() -> None:
    root, leaves = evaluate("a*a + a", {"a": 3.0})
    (a,) = leaves.values()
    assert root.parents[0].parents == (a, a) and root.parents[1] is a
    root.backward()
    assert a.grad == 2 * 3.0 + 1


def test_variables_are_listed_in_order_of_appearance() -> None:
    assert parse_expression("c * exp(a) + b - a").variables == ("c", "a", "b")
    assert parse_expression("2 ** 3").variables == ()


def test_number_literals() -> None:
    root, _ = evaluate("-3 * a", {"a": 2.0})
    assert root.op == "*" and root.parents[0].is_leaf and root.parents[0].data == -3.0  # no neg node
    root, _ = evaluate("a ** 2", {"a": 5.0})
    assert root.op == "**" and len(root.parents) == 1 and root.data == 25.0  # x ** constant
    root, _ = evaluate("2 ** a", {"a": 3.0})
    assert len(root.parents) == 2 and root.data == 8.0
    root, _ = evaluate("a ** -0.5", {"a": 4.0})
    assert root.data == 0.5
    root, _ = evaluate("1e-3 + 2", {})
    assert root.data == 2.001 and isinstance(root, Value)
    root, _ = evaluate("7", {})
    assert root.data == 7.0 and root.is_leaf
    root, _ = evaluate("-a + +a", {"a": 1.5})
    assert root.data == 0.0 and root.parents[0].op == "neg"


def test_huge_numbers_become_ieee_values_instantly() -> None:
    root, _ = evaluate("9**9**9**9", {})  # a Python int tower would never finish
    assert root.data == math.inf
    root, _ = evaluate("a / 0", {"a": 1.0})
    assert root.data == math.inf
    with pytest.raises(ExpressionError, match="too large for a float"):
        parse_expression("1" + "0" * 400)


REFERENCE = {
    "exp": math.exp, "log": math.log, "tanh": math.tanh, "sigmoid": lambda x: 1 / (1 + math.exp(-x)),
    "relu": lambda x: max(x, 0.0), "leaky_relu": lambda x: x if x > 0 else 0.01 * x,
    "softplus": lambda x: math.log1p(math.exp(x)), "abs": abs, "sqrt": math.sqrt,
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
@pytest.mark.parametrize("x", [0.7, -0.7])
def test_every_whitelisted_function(name: str, x: float) -> None:
    if name in ("log", "sqrt") and x < 0:
        x = -x
    root, _ = evaluate(f"{name}(a)", {"a": x})
    assert root.op == name
    assert math.isclose(root.data, REFERENCE[name](x), rel_tol=1e-12)
    assert set(FUNCTIONS) == set(REFERENCE)
    # the derivative, through a product so the chain rule is involved: d/da (b f(a)), d/db = f(a)
    root, leaves = evaluate(f"b * {name}(a)", {"a": x, "b": -1.5})
    root.backward()
    fd = central_difference(lambda v: v["b"] * REFERENCE[name](v["a"]), {"a": x, "b": -1.5}, "a")
    assert math.isclose(leaves["a"].grad, fd, rel_tol=1e-7, abs_tol=1e-9), (name, leaves["a"].grad, fd)
    assert math.isclose(leaves["b"].grad, REFERENCE[name](x), rel_tol=1e-12)


@pytest.mark.parametrize("alpha", [0.2, 0.01, -0.5])
@pytest.mark.parametrize("x", [0.7, -0.7])
def test_leaky_relu_slope_reaches_the_gradient(alpha: float, x: float) -> None:
    root, leaves = evaluate(f"leaky_relu(a, {alpha})", {"a": x})
    root.backward()
    assert leaves["a"].grad == (1.0 if x > 0 else alpha)


#: powers with a variable in the exponent (the engine's two-parent ``**``), as float functions
POWERS: dict[str, Callable[[dict[str, float]], float]] = {
    "a ** b": lambda v: v["a"] ** v["b"],
    "b ** a": lambda v: v["b"] ** v["a"],
    "2 ** a": lambda v: 2.0 ** v["a"],
    "(a + b) ** (a * b)": lambda v: (v["a"] + v["b"]) ** (v["a"] * v["b"]),
    "a ** -b": lambda v: v["a"] ** -v["b"],
}


@pytest.mark.parametrize("text", POWERS)
@pytest.mark.parametrize(("a", "b"), [(0.7, 1.3), (2.5, 0.4), (1.1, 3.0)])
def test_powers_with_a_variable_exponent_have_both_derivatives(text: str, a: float, b: float) -> None:
    values = {"a": a, "b": b}
    root, leaves = evaluate(text, values)
    assert root.op == "**" and len(root.parents) == 2
    assert math.isclose(root.data, POWERS[text](values), rel_tol=1e-12)
    root.backward()
    for name, leaf in leaves.items():
        fd = central_difference(POWERS[text], values, name)
        assert math.isclose(leaf.grad, fd, rel_tol=1e-7), (text, name, leaf.grad, fd)


def test_leaky_relu_takes_a_number_as_slope() -> None:
    root, _ = evaluate("leaky_relu(a, 0.2)", {"a": -2.0})
    assert root.data == -0.4
    root, _ = evaluate("leaky_relu(a, -0.5)", {"a": -2.0})
    assert root.data == 1.0


def test_unset_variables_are_named() -> None:
    expression = parse_expression("a + b * c")
    with pytest.raises(ExpressionError, match=r"variable 'b' has no value \(values given for: a\)"):
        expression.evaluate({"a": 1.0})
    with pytest.raises(ExpressionError, match="value of 'a' must be a number"):
        expression.evaluate({"a": "1", "b": 1.0, "c": 1.0})  # type: ignore[dict-item]


# --------------------------------------------------------------------------------------------
# Hostile and invalid input: one-line ExpressionError, nothing executed
# --------------------------------------------------------------------------------------------

HOSTILE = [
    ("__import__('os').system('x')", "attribute access"),
    ("__import__('os')", "unknown function '__import__'"),
    ("a.__class__", "attribute access"),
    ("a.__class__.__mro__", "attribute access"),
    ("(lambda: 1)()", "lambda"),
    ("[x for x in a]", "comprehension"),
    ("(x for x in a)", "comprehension"),
    ("{x: 1 for x in a}", "comprehension"),
    ("a[0]", "indexing"),
    ("a[0:1]", "indexing"),
    ("exp(a, b)", "exp() takes 1 argument, got 2"),
    ("exp()", "exp() takes 1 argument, got 0"),
    ("exp(x=a)", "keyword argument"),
    ("exp(**a)", "keyword argument"),
    ("exp(*a)", "unpacking"),
    ("leaky_relu(a, b)", "must be a number"),
    ("leaky_relu(a, 0.1, 2)", "takes 1 or 2 arguments"),
    ("import os", "not a valid expression"),
    ("a; b", "not a valid expression"),
    ("a = 1", "not a valid expression"),
    ("(a := 1)", "an assignment"),
    ("eval('1')", "unknown function 'eval'"),
    ("open('/etc/passwd')", "unknown function 'open'"),
    ("__builtins__", "the name '__builtins__'"),
    ("exp", "'exp' is a function"),
    ("exp(a)(b)", "calling an expression"),
    ("'text'", "the constant 'text'"),
    ("b'bytes'", "the constant"),
    ("True + a", "the constant True"),
    ("None", "the constant None"),
    ("1j * a", "the constant 1j"),
    ("...", "the constant Ellipsis"),
    ("a if b else c", "conditional expression"),
    ("a < b", "comparison"),
    ("a and b", "and/or"),
    ("not a", "'not'"),
    ("~a", "'~'"),
    ("a // b", "'//'"),
    ("a % b", "'%'"),
    ("a @ b", "'@'"),
    ("a ^ b", "'^'"),
    ("a, b", "a tuple"),
    ("[a]", "a list"),
    ("{a}", "a set"),
    ("{'k': a}", "a dict"),
    ("f'{a}'", "f-string"),
    ("a\nb", "one line"),
    ("a\x00", "one line"),
    ("", "empty"),
    ("   ", "empty"),
    ("a +", "not a valid expression"),
    ("a" * (MAX_LENGTH + 1), f"limit is {MAX_LENGTH}"),
    ("exp(" * 201 + "a" + ")" * 201, "characters long"),
    ("-" * (MAX_DEPTH + 5) + "a", "nested more than"),
]


@pytest.mark.parametrize("text, message", HOSTILE)
def test_hostile_input_is_a_one_line_error(text: str, message: str) -> None:
    with pytest.raises(ExpressionError) as info:
        parse_expression(text).evaluate({"a": 1.0, "b": 2.0, "c": 3.0})
    assert message in str(info.value)
    assert "\n" not in str(info.value) and len(str(info.value)) < 200
    assert isinstance(info.value, ValueError)


def test_builtin_names_are_only_variables() -> None:
    root, leaves = evaluate("print + open", {"print": 1.0, "open": 2.0})
    assert root.data == 3.0 and set(leaves) == {"print", "open"}
    with pytest.raises(ExpressionError, match="'print' has no value"):
        evaluate("print", {})


def test_payloads_are_never_executed(tmp_path: Path) -> None:
    target = tmp_path / "pwned"
    payloads = [
        f"__import__('pathlib').Path({str(target)!r}).touch()",
        f"(lambda: __import__('os').system('touch {target}'))()",
        f"[__import__('os').system('touch {target}') for x in [1]]",
        f"exp(__import__('os').system('touch {target}'))",
        f"a if __import__('os').system('touch {target}') else b",
    ]
    for text in payloads:
        with pytest.raises(ExpressionError):
            evaluate(text, {"a": 1.0, "b": 1.0})
    assert not target.exists()


def assert_parses_or_fails_cleanly(text: str) -> None:
    """Either a Value comes out, or an ExpressionError with a one-line message: nothing else."""
    try:
        expression = parse_expression(text)
        root, _ = expression.evaluate(dict.fromkeys(expression.variables, 0.5))
    except ExpressionError as exc:
        assert "\n" not in str(exc)
    else:
        assert isinstance(root, Value)


@given(st.text(max_size=60))
def test_any_text_parses_or_fails_cleanly(text: str) -> None:
    assert_parses_or_fails_cleanly(text)


@given(st.text(alphabet="ab()+-*/.,[]_=:'\" 0123456789explambdaimport", max_size=50))
def test_expression_like_text_parses_or_fails_cleanly(text: str) -> None:
    assert_parses_or_fails_cleanly(text)


# --------------------------------------------------------------------------------------------
# NAME=NUMBER
# --------------------------------------------------------------------------------------------


def test_parse_assignment() -> None:
    assert parse_assignment("a=2") == ("a", 2.0)
    assert parse_assignment(" weight = -3.5e-2 ") == ("weight", -0.035)
    name, value = parse_assignment("x=inf")
    assert name == "x" and value == math.inf
    bad = {"a": "NAME=NUMBER", "=3": "NAME=NUMBER", "a=": "NAME=NUMBER", "a=b": "not a number",
           "exp=1": "is a function", "1a=2": "not a valid variable name",
           "class=1": "not a valid variable name",
           "__x=1": "'__'", "a.b=1": "not a valid variable name"}
    for text, message in bad.items():
        with pytest.raises(ExpressionError, match=message):
            parse_assignment(text)


def test_a_long_sum_is_not_too_deep() -> None:
    # "a+a+...+a" is a left-leaning tree as deep as it has terms: the longest allowed one must work
    terms = (MAX_LENGTH + 1) // 2
    root, leaves = evaluate("+".join(["a"] * terms), {"a": 1.5})
    root.backward()
    assert root.data == 1.5 * terms and leaves["a"].grad == terms
    with pytest.raises(ExpressionError, match=f"nested more than {MAX_DEPTH} levels deep"):
        parse_expression("-" * (MAX_DEPTH + 1) + "a")


# --------------------------------------------------------------------------------------------
# Every limit on both sides of its line
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, factor", [("a * +2", 2.0), ("a * -2", -2.0), ("a * +-2", -2.0),
                                          ("a * -+2", -2.0), ("a * --2", 2.0), ("a * ++2", 2.0),
                                          ("+a * 2", 2.0), ("-a * 2", -2.0)])
def test_signs_of_literals_and_variables(text: str, factor: float) -> None:
    root, leaves = evaluate(text, {"a": 1.5})
    root.backward()
    assert root.data == 1.5 * factor and leaves["a"].grad == factor


@pytest.mark.parametrize("slope", ["+0.2", "-0.2", "--0.2"])
def test_the_sign_of_leaky_relus_slope(slope: str) -> None:
    root, leaves = evaluate(f"leaky_relu(a, {slope})", {"a": -1.0})
    root.backward()
    assert leaves["a"].grad == float(slope.replace("--", ""))


def test_the_length_limit_is_exact() -> None:
    longest = "aa" + "+a" * ((MAX_LENGTH - 2) // 2)
    assert len(longest) == MAX_LENGTH
    assert evaluate(longest, {"a": 1.0, "aa": 1.0})[0].data == (MAX_LENGTH - 2) // 2 + 1
    with pytest.raises(ExpressionError, match=f"expression is {MAX_LENGTH + 1} characters long; the limit "
                                              f"is {MAX_LENGTH}"):
        parse_expression(longest + "a")


def test_the_depth_limit_is_exact() -> None:
    assert evaluate("-" * (MAX_DEPTH - 1) + "a", {"a": 2.0})[0].data == (-1) ** (MAX_DEPTH - 1) * 2.0
    with pytest.raises(ExpressionError, match=f"nested more than {MAX_DEPTH} levels deep"):
        parse_expression("-" * MAX_DEPTH + "a")


def test_the_largest_integer_literal_is_the_largest_float() -> None:
    assert evaluate("1" + "0" * 308, {})[0].data == 1e308
    with pytest.raises(ExpressionError, match="the number at column 1 is too large for a float"):
        parse_expression("1" + "0" * 309)


@pytest.mark.parametrize("text, ok", [("a\x1f", False), ("a\x00", False), ("a\t+b", False), ("a + b", True),
                                      ("_a + b", True), ("__a + b", False)])
def test_characters_and_names_at_their_limits(text: str, ok: bool) -> None:
    if ok:
        assert len(parse_expression(text).variables) == 2
    else:
        with pytest.raises(ExpressionError):
            parse_expression(text)


@pytest.mark.parametrize("number, value", [("10", 10.0), ("+2.5", 2.5), ("1e3", 1000.0), (" 7 ", 7.0),
                                           ("-inf", -math.inf), ("1_0", None), ("1e1_0", None),
                                           ("\u0661\u0660", None), ("\uff11", None), ("\u0967", None),
                                           ("1\u00a0", None)])
def test_set_takes_the_numbers_every_other_option_takes(number: str, value: float | None) -> None:
    """ASCII digits only, no '_': what float() alone would also take is refused, as options.py does."""
    if value is None:
        with pytest.raises(ExpressionError, match="value of 'a' is not a number"):
            parse_assignment(f"a={number}")
    else:
        assert parse_assignment(f"a={number}") == ("a", value)
    assert parse_assignment("_b=1") == ("_b", 1.0)


@pytest.mark.parametrize("number", ["1_0", "\u0661\u0660"])
def test_graph_set_refuses_them_in_one_line(tmp_path: Path, number: str) -> None:
    argv = ["graph", "--expr", "2*a", "--set", f"a={number}", "-o", str(tmp_path / "g.dot")]
    one_line_error(*run_cli(argv), f"microgrid graph: error: value of 'a' is not a number: {quote(number)}")
    assert not (tmp_path / "g.dot").exists()
