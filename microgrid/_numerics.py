"""The arithmetic under :mod:`microgrid.engine`: IEEE-754 float functions that never raise
(``fdiv``, ``fpow``, ``fexp``...: ``inf``/``nan`` where ``math`` would raise, as NumPy gives them),
exact sums (``fsum``, ``fdot``: one rounding), the helpers of the derivative rules (``div``,
``power``, ``log``...: on floats and, recorded, on Values), comparands, and ``no_grad``.
"""

from __future__ import annotations

import math
import numbers
import operator
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np


# -- grad mode (thread-local, nestable) ------------------------------------------------------------
class _Depth(threading.local):
    depth = 0  # how many no_grad blocks this thread is inside


class _GradMode:
    """How many threads are inside a :func:`no_grad` block (``threads``), and this thread's depth
    (``local.depth``).  While ``threads`` is 0 every thread records: the engine reads that one
    integer, and looks at its own thread only when some thread has switched recording off."""

    def __init__(self) -> None:
        self.threads = 0
        self.local = _Depth()
        self.lock = threading.Lock()


grad_mode = _GradMode()


def is_grad_enabled() -> bool:
    """True unless the current thread is inside a :func:`no_grad` block."""
    return grad_mode.threads == 0 or grad_mode.local.depth == 0


@contextmanager
def no_grad() -> Iterator[None]:
    """Inside this block ops compute values but record no parents (each result is a leaf); per
    thread, nesting (it ends when the outermost block exits)."""
    depth = grad_mode.local.depth
    grad_mode.local.depth = depth + 1
    if depth == 0:
        with grad_mode.lock:
            grad_mode.threads += 1
    try:
        yield
    finally:
        grad_mode.local.depth = depth
        if depth == 0:
            with grad_mode.lock:
                grad_mode.threads -= 1


# -- IEEE-style float functions: never raise, always return a float (inf or nan where NumPy would)
def fdiv(a: float, b: float) -> float:
    """``a / b``; ``±inf`` or ``nan`` at ``b = 0``."""
    try:
        return a / b
    except ZeroDivisionError:
        if a != a or a == 0.0:
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)


def fpow(a: float, b: float) -> float:
    """``a ** b`` as C's ``pow`` (IEEE 754) gives it."""
    try:
        return math.pow(a, b)
    except (OverflowError, ValueError):
        with np.errstate(all="ignore"):
            return float(np.power(np.float64(a), np.float64(b)))


def fexp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def flog(x: float) -> float:
    if x > 0.0:
        return math.log(x)  # also log(inf) = inf
    if x == 0.0:
        return -math.inf
    return math.nan  # negative or nan


def fsigmoid(x: float) -> float:
    """σ(x) = 1/(1 + e⁻ˣ) = eˣ/(1 + eˣ): the form whose exponential cannot overflow."""
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)  # x < 0, or nan (which e / (1 + e) keeps)
    return e / (1.0 + e)


def fsoftplus(x: float) -> float:
    """log(1 + eˣ) = max(x, 0) + log1p(e^-|x|)."""
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def fsqrt(x: float) -> float:
    return math.sqrt(x) if x >= 0.0 else math.nan


def fsum(terms: Sequence[float]) -> float:
    """Exactly rounded sum (``math.fsum``); inf/nan as plain summation gives them, never raising."""
    try:
        return math.fsum(terms)
    except (OverflowError, ValueError):  # inf + -inf, or an intermediate overflow
        return sum(terms)


def fdot(x: Sequence[float], n: int) -> float:
    """``x[0]·x[n] + … + x[n-1]·x[2n-1]`` (+ ``x[2n]``, a bias), the products summed exactly."""
    return fsum([*map(operator.mul, x[:n], x[n : 2 * n]), *x[2 * n :]])


def fslope(g: float, a: float, b: float) -> float:
    """``-g·a/b²``, within 2 ulp: the mantissas are multiplied and divided (no intermediate can
    overflow or underflow) and the power of two is applied last.  Zero, inf or nan operands
    give the IEEE value of ``-((g·a)/b)/b``."""
    if g and a and b and g - g == 0.0 and a - a == 0.0 and b - b == 0.0:  # finite, nonzero
        (mg, eg), (ma, ea), (mb, eb) = math.frexp(g), math.frexp(a), math.frexp(b)
        m = -(mg * ma) / mb / mb
        try:
            return math.ldexp(m, eg + ea - 2 * eb)
        except OverflowError:
            return math.copysign(math.inf, m)
    return -fdiv(fdiv(g * a, b), b)


# -- the helpers of the derivative rules: one rule serves floats (the fast backward) and Values
# (grad(..., create_graph=True), which records the derivative as a graph)
def data(x: Any) -> float:
    """A float as it is; a Value's ``data``."""
    return x if type(x) is float else x.data


def div(a: Any, b: Any) -> Any:
    return fdiv(a, b) if type(a) is float and type(b) is float else a / b


def power(a: Any, b: Any) -> Any:
    return fpow(a, b) if type(a) is float and type(b) is float else a**b


def log(x: Any) -> Any:
    return flog(x) if type(x) is float else x.log()


def sigmoid(x: Any) -> Any:
    return fsigmoid(x) if type(x) is float else x.sigmoid()


def sign(x: Any) -> float:
    """1, -1 or 0 (at ±0 and nan): a constant, on a Value too."""
    d = data(x)
    return 1.0 if d > 0.0 else (-1.0 if d < 0.0 else 0.0)


class Quotient(float):
    """A local derivative that the backward walk applies by dividing: ``g * d`` is
    ``rule(g, *parts)``, e.g. ``g / b`` for d(a/b)/da = 1/b, so no reciprocal is ever stored
    where it would overflow (1/b for a subnormal b) or lose digits.  As a float it is the
    derivative itself, ``rule(1, *parts)``, which ``local_grads`` shows.  It is false (a flat
    edge, which passes nothing) only where the edge passes 0 for every gradient, even the
    largest float: a derivative that merely rounds to 0 (1e-300/1e20² for -a/b²) is not flat.
    ``parts`` are floats, or Values on the recorded path (``rule`` then records)."""

    rule: Callable[..., Any]
    parts: tuple[Any, ...]
    flat: bool

    def __new__(cls, rule: Callable[..., Any], *parts: Any) -> Quotient:
        numbers = tuple(map(data, parts))
        self = super().__new__(cls, rule(1.0, *numbers))
        self.rule = rule
        self.parts = parts
        self.flat = rule(sys.float_info.max, *numbers) == 0.0
        return self

    def __bool__(self) -> bool:
        return not self.flat

    def times(self, g: Any) -> Any:
        """What an edge with this derivative passes for the gradient ``g``."""
        return self.rule(g, *self.parts)

    __rmul__ = __mul__ = times  # g * d, d * g


# -- numbers as floats, and what a Value compares with ---------------------------------------------
def to_float(x: Any, what: str = "Value data") -> float:
    """``x`` as a Python float: any real number (a Python or NumPy int or float, a Fraction...);
    an int beyond float range becomes ``±inf``, as IEEE conversion rounds it.  Anything else
    (a string, None, a complex number, a bool array...) raises ``TypeError`` naming ``what``."""
    if type(x) is float:
        return x
    if isinstance(x, (numbers.Real, np.integer, np.floating)) and not isinstance(x, np.bool_):
        try:
            return float(x)
        except OverflowError:
            return -math.inf if x < 0 else math.inf
    raise TypeError(f"{what} must be a real number, got {type(x).__name__}: {x!r:.60}")


def comparand(x: object) -> Any:
    """What a Value's ``data`` is compared with: a Value's ``data``, or the number itself (a NumPy
    scalar as a Python int or float, so the comparison is exact, as Python compares int and
    float); ``NotImplemented`` for anything else, so Python raises its usual TypeError."""
    if isinstance(x, OrderedByData):  # a Value
        return x.data
    if isinstance(x, np.integer):  # before float: np.float64 is a float subclass whose
        return int(x)  # comparisons return np.bool_
    if isinstance(x, np.floating):  # float16/32/64 convert exactly; a wider long double is kept
        return float(x) if x.dtype.itemsize <= 8 else x
    if isinstance(x, numbers.Real):  # int (bool too), float, Fraction...: compared exactly by Python
        return x
    return NotImplemented


def _compare(op: Callable[[Any, Any], Any]) -> Callable[[Any, object], bool]:
    def compare(self: Any, other: object) -> bool:
        o = comparand(other)
        return NotImplemented if o is NotImplemented else bool(op(self.data, o))

    return compare


class OrderedByData:
    """``<``, ``<=``, ``>``, ``>=`` of ``data`` with a Value or a real number: a plain bool,
    nothing recorded.  ``==`` and ``hash`` stay those of ``object`` (identity): a Value is a node
    of a graph, kept in sets and dicts by identity (two nodes holding the same number are
    still two nodes).  NaN compares False with everything, as a float."""

    __slots__ = ()
    data: float
    __lt__, __le__ = _compare(operator.lt), _compare(operator.le)
    __gt__, __ge__ = _compare(operator.gt), _compare(operator.ge)
