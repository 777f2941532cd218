"""Safe arithmetic expressions over :class:`~microgrid.engine.Value`, for ``microgrid graph --expr``.

Python's :mod:`ast` parses the text (and runs nothing); the tree is checked against a whitelist
(the language is in docs/visualization.md) before a single value is computed.  Every number becomes
a float :class:`Value` before any arithmetic, so ``9**9**9**9`` is ``inf``, not a huge integer."""

from __future__ import annotations

import ast
import keyword
import operator
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from microgrid.engine import Value
from microgrid.safety.text import quote

__all__ = ["ExpressionError", "Expression", "parse_expression", "evaluate", "parse_assignment",
           "FUNCTIONS", "MAX_LENGTH", "MAX_DEPTH"]

MAX_LENGTH = 500  #: characters
MAX_DEPTH = 250  #: nesting of the syntax tree (a sum of MAX_LENGTH // 2 terms is this deep)

#: name -> the Value method it calls
FUNCTIONS: dict[str, Callable[..., Value]] = {name: getattr(Value, name) for name in (
    "exp", "log", "tanh", "sigmoid", "relu", "leaky_relu", "softplus", "abs", "sqrt")}
_OPTIONAL_NUMBER_ARG = {"leaky_relu": "alpha"}  # functions taking (x, number)

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.Pow: operator.pow}
_UNARY = (ast.USub, ast.UAdd)
# What the user wrote, in words, for the common kinds of rejected syntax.
_FORBIDDEN = {
    ast.Attribute: "attribute access", ast.Subscript: "indexing", ast.Lambda: "lambda",
    ast.ListComp: "a comprehension", ast.SetComp: "a comprehension", ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a comprehension", ast.Compare: "a comparison", ast.BoolOp: "and/or",
    ast.IfExp: "a conditional expression", ast.NamedExpr: "an assignment", ast.List: "a list",
    ast.Tuple: "a tuple", ast.Dict: "a dict", ast.Set: "a set", ast.JoinedStr: "an f-string",
    ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield",  # (a slice is inside indexing)
}


class ExpressionError(ValueError):
    """The expression text is not allowed or cannot be evaluated (a one-line message)."""


def _snippet(text: str, limit: int = 40) -> str:
    return quote(" ".join(text.split()), limit)


def _fail(node: ast.AST, what: str) -> ExpressionError:
    col = getattr(node, "col_offset", None)
    where = f" at column {col + 1}" if col is not None else ""
    return ExpressionError(f"{what}{where} is not allowed")


@dataclass(frozen=True)
class Expression:
    """A checked expression: its text, syntax tree and variable names (in order of appearance)."""

    text: str
    tree: ast.Expression
    variables: tuple[str, ...]

    def evaluate(self, values: Mapping[str, float]) -> tuple[Value, dict[str, Value]]:
        """Build the graph: ``(root, {name: leaf})``, each leaf labelled with its name (and used for
        every occurrence of it: ``a * a`` has two edges from ``a``)."""
        missing = [n for n in self.variables if n not in values]
        if missing:
            given = ", ".join(sorted(values)) or "none"
            raise ExpressionError(f"variable {quote(missing[0])} has no value (values given for: {given})")
        leaves = {}
        for name in self.variables:
            try:
                leaves[name] = Value(values[name], label=name)
            except TypeError as exc:
                raise ExpressionError(f"value of {quote(name)} must be a number: {exc}") from None
        result = _build(self.tree.body, leaves)
        return (result if isinstance(result, Value) else Value(result)), leaves


def parse_expression(text: str) -> Expression:
    """Parse and check ``text``; raises :class:`ExpressionError` for anything not whitelisted."""
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expression is {len(text)} characters long; the limit is {MAX_LENGTH}")
    if not text.strip():
        raise ExpressionError("expression is empty")
    if any(ord(ch) < 32 for ch in text):
        raise ExpressionError("expression must be one line of printable text")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        col = f" at column {exc.offset}" if exc.offset else ""
        raise ExpressionError(f"not a valid expression{col}: {exc.msg} in {_snippet(text)}") from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ExpressionError(f"cannot parse {_snippet(text)}: {type(exc).__name__}") from None
    return Expression(text, tree, _check(tree))


def evaluate(text: str, values: Mapping[str, float]) -> tuple[Value, dict[str, Value]]:
    """``parse_expression(text).evaluate(values)``: the root and the labelled variable leaves."""
    return parse_expression(text).evaluate(values)


def parse_assignment(text: str) -> tuple[str, float]:
    """``"a=2.5"`` -> ``("a", 2.5)``, as given to ``--set``; ``inf``/``nan`` are allowed."""
    name, eq, number = text.partition("=")
    # Python reads identifiers in NFKC form ("ℌ" is "H"): read the name as the parser will
    name = unicodedata.normalize("NFKC", name.strip())
    if not eq or not name or not number.strip():
        raise ExpressionError(f"expected NAME=NUMBER, got {_snippet(text)}")
    _check_variable_name(name, None)
    try:
        if "_" in number or not number.isascii():  # float() also takes '1_0' and other scripts' digits
            raise ValueError(number)
        value = float(number)
    except ValueError:
        raise ExpressionError(f"value of {quote(name)} is not a number: {_snippet(number)}") from None
    return name, value


def _check_variable_name(name: str, node: ast.AST | None) -> None:
    if not name.isidentifier() or keyword.iskeyword(name):
        raise ExpressionError(f"{quote(name)} is not a valid variable name")
    if name in FUNCTIONS:
        raise ExpressionError(f"{quote(name)} is a function, not a variable: call it as {name}(x)")
    if name.startswith("__"):
        raise (_fail(node, f"the name {quote(name)}") if node is not None
               else ExpressionError(f"names starting with '__' are not allowed: {quote(name)}"))


def _check(tree: ast.Expression) -> tuple[str, ...]:
    """Walk the tree iteratively (no recursion on hostile input); return the variable names."""
    variables: dict[str, None] = {}
    stack: list[tuple[ast.AST, int]] = [(tree.body, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ExpressionError(f"expression is nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, ast.Constant):
            _number(node)  # a string, or a huge integer literal, fails here, not during arithmetic
        elif isinstance(node, ast.Name):
            _check_variable_name(node.id, node)
            variables[node.id] = None
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _BINARY:
                raise _fail(node, f"the operator {_op_text(node.op)}")
            stack += [(node.right, depth + 1), (node.left, depth + 1)]
        elif isinstance(node, ast.UnaryOp):
            if type(node.op) not in _UNARY:
                raise _fail(node, f"the operator {_op_text(node.op)}")
            stack.append((node.operand, depth + 1))
        elif isinstance(node, ast.Call):
            stack += [(a, depth + 1) for a in reversed(_check_call(node))]
        else:
            raise _fail(node, _FORBIDDEN.get(type(node), f"Python syntax ({type(node).__name__})"))
    return tuple(variables)


def _check_call(node: ast.Call) -> list[ast.expr]:
    if not isinstance(node.func, ast.Name):
        raise _fail(node.func, _FORBIDDEN.get(type(node.func), "calling an expression"))
    name = node.func.id
    if name not in FUNCTIONS:
        raise ExpressionError(f"unknown function {quote(name)} at column {node.col_offset + 1}; "
                              f"allowed: {', '.join(FUNCTIONS)}")
    if node.keywords:
        raise _fail(node, f"a keyword argument in {name}(...)")
    if any(isinstance(a, ast.Starred) for a in node.args):
        raise _fail(node, f"*unpacking in {name}(...)")
    most = 2 if name in _OPTIONAL_NUMBER_ARG else 1
    if not 1 <= len(node.args) <= most:
        takes = f"1 or 2 arguments (x, {_OPTIONAL_NUMBER_ARG[name]})" if most == 2 else "1 argument"
        raise ExpressionError(f"{name}() takes {takes}, got {len(node.args)} at column {node.col_offset + 1}")
    if len(node.args) == 2 and _literal_number(node.args[1]) is None:
        raise ExpressionError(f"the {_OPTIONAL_NUMBER_ARG[name]} of {name}() must be a number "
                              f"(column {node.args[1].col_offset + 1})")
    return list(node.args[:1])


def _op_text(op: ast.AST) -> str:
    symbols = {ast.FloorDiv: "//", ast.Mod: "%", ast.MatMult: "@", ast.LShift: "<<", ast.RShift: ">>",
               ast.BitOr: "|", ast.BitAnd: "&", ast.BitXor: "^", ast.Invert: "~", ast.Not: "not"}
    return repr(symbols.get(type(op), type(op).__name__))


def _number(node: ast.Constant) -> float:
    value = node.value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(node, f"the constant {value!r:.30}")
    try:
        return float(value)
    except OverflowError:
        col = node.col_offset + 1
        raise ExpressionError(f"the number at column {col} is too large for a float") from None


def _literal_number(node: ast.AST) -> float | None:
    """The float of a number literal, or of ``-literal`` / ``+literal``; None for anything else."""
    sign = 1.0
    while isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        sign = -sign if isinstance(node.op, ast.USub) else sign
        node = node.operand
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return sign * _number(node)
    return None


def _lift(x: Value | float) -> Value:
    return x if isinstance(x, Value) else Value(x)


def _build(node: ast.AST, leaves: Mapping[str, Value]) -> Value | float:
    """Evaluate a checked tree.  Number literals stay floats until they meet an operator (so
    ``x ** 2`` is one node with one operand, the exponent a parameter of the op)."""
    literal = _literal_number(node)
    if literal is not None:
        return literal  # "-3" is the constant -3, not neg(3)
    if isinstance(node, ast.Name):
        return leaves[node.id]
    if isinstance(node, ast.UnaryOp):
        operand = _lift(_build(node.operand, leaves))
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_lift(_build(node.left, leaves)), _build(node.right, leaves))
    assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)  # all _check lets through
    x = _lift(_build(node.args[0], leaves))
    return FUNCTIONS[node.func.id](x, *(_literal_number(a) for a in node.args[1:]))

