"""What :func:`~microgrid.check.gradcheck` and :func:`~microgrid.higher.gradgradcheck` share.

The tolerance rule (an entry passes when ``|analytical - numerical| <= atol + rtol |numerical|``,
both finite), the checks on the point and the tolerances, the row labels, the plain-text table
of a failed check and its exception.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from microgrid.engine import Value, to_float

__all__ = ["GradcheckError", "check_tolerances", "check_tol", "finite_point", "input_labels", "compare",
           "cell", "format_table"]


class GradcheckError(AssertionError):
    """Analytical and numerical derivatives disagree; the message holds a table of them."""


def cell(x: object) -> str:
    """One table cell: a float with 10 significant digits (inf/nan as words), anything else as ``str``."""
    if isinstance(x, float):
        return f"{x:.10g}" if math.isfinite(x) else str(x)
    return str(x)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table: a header line, a rule, one line per row; floats shown with 10 digits."""
    cells = [[str(h) for h in headers], *([cell(c) for c in row] for row in rows)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def check_tolerances(who: str, eps: float, atol: float, rtol: float) -> None:
    """ValueError unless ``eps > 0`` and ``atol, rtol >= 0``, all finite (a negative tolerance
    would make every check fail, whatever the derivatives)."""
    for name, value, low_ok in (("eps", eps, False), ("atol", atol, True), ("rtol", rtol, True)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise TypeError(f"{who}: {name} must be a number, got {type(value).__name__}")
        if not (math.isfinite(value) and (value >= 0.0 if low_ok else value > 0.0)):
            raise ValueError(f"{who}: {name} must be {'non-negative' if low_ok else 'positive'} and finite, "
                             f"got {value}")


def check_tol(who: str, tol: float) -> None:
    """ValueError unless ``tol`` (the relative tolerance between two exact gradients) is a positive
    finite number."""
    tol_is_number = isinstance(tol, (int, float, np.integer, np.floating)) and not isinstance(tol, bool)
    if not (tol_is_number and math.isfinite(tol) and tol > 0):
        raise ValueError(f"{who}: tol must be a positive finite number, got {tol!r}")


def finite_point(xs: Iterable[Value | float], what: str) -> list[float]:
    """The values of ``xs`` (numbers, or Values whose data is used) as floats; TypeError or
    ValueError naming ``what[i]`` unless each is a finite real number."""
    if isinstance(xs, (Value, str, bytes)) or not isinstance(xs, Iterable):
        raise TypeError(f"{what} must be a sequence of Values or numbers, got {type(xs).__name__}")
    point = []
    for i, x in enumerate(xs):
        data = x.data if isinstance(x, Value) else to_float(x, f"{what}[{i}]")
        if not math.isfinite(data):
            raise ValueError(f"{what}[{i}] is {data}: derivatives need a finite point")
        point.append(data)
    if not point:
        raise ValueError(f"{what} is empty: f needs at least one input")
    return point


def input_labels(inputs: Sequence[object]) -> list[str]:
    """Each input's label if it is a labelled Value, else ``inputs[i]``: the rows of a check's table."""
    return [x.label if isinstance(x, Value) and x.label else f"inputs[{i}]" for i, x in enumerate(inputs)]


def compare(analytical: float, numerical: float, atol: float, rtol: float) -> tuple[float, float, bool]:
    """``(|analytical - numerical|, atol + rtol |numerical|, passed)``; passing needs both finite."""
    diff = abs(analytical - numerical)
    allowed = atol + rtol * abs(numerical)
    return diff, allowed, math.isfinite(numerical) and math.isfinite(analytical) and diff <= allowed
