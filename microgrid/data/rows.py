"""Reading one row of a Wisconsin data file: the two formats, the header, the cells of a row.

Shared by the loader's two readers (:mod:`csv` over the whole text, and the NumPy reader of
:mod:`microgrid.data.fast`), so that both accept the same rows and say the same about the others.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from microgrid.safety.text import quote

FEATURE_NAMES: tuple[str, ...] = (
    "clump thickness",
    "uniformity of cell size",
    "uniformity of cell shape",
    "marginal adhesion",
    "single epithelial cell size",
    "bare nuclei",
    "bland chromatin",
    "normal nucleoli",
    "mitoses",
)
SHIPPED_HEADER: tuple[str, ...] = ("", "ID", *(f"V{i}" for i in range(1, 10)), "class")

# Per format: number of columns, leading columns before the nine scores, missing-value token,
# and the class codes (text -> y).
class _Format(NamedTuple):
    """How one file format lays out a row: its column count, the ID column's number (1-based; the
    scores follow it), the missing-value token and the class labels."""

    columns: int
    skip: int
    missing: str
    classes: dict[str, int]


_FORMATS = {
    "csv": _Format(columns=12, skip=2, missing="NA", classes={"benign": 0, "malignant": 1}),
    "uci": _Format(columns=11, skip=1, missing="?", classes={"2": 0, "4": 1}),
}

# The IDs' dtype: NumPy 2's variable-width strings (16 bytes for an ID of up to 15 characters,
# a third of fixed-width unicode's 4 per character of the longest), else fixed-width unicode.
ID_DTYPE: np.dtype = getattr(getattr(np, "dtypes", None), "StringDType", lambda: np.dtype(str))()


def id_array(ids: Sequence[str] | np.ndarray) -> np.ndarray:
    """Sample IDs as the array a :class:`~microgrid.data.Dataset` holds (dtype :data:`ID_DTYPE`)."""
    if ID_DTYPE.kind == "U":
        return np.asarray(ids, dtype=str)
    array = np.asarray(ids)
    return array.astype(ID_DTYPE) if array.size else np.empty(0, dtype=ID_DTYPE)


class IdColumn:
    """The IDs of a file's rows, written into place a block at a time (no list of all of them)."""

    def __init__(self, bound: int) -> None:
        """Room for at most ``bound`` rows (untouched memory costs nothing until written)."""
        self._whole = np.empty(bound, dtype=ID_DTYPE) if ID_DTYPE.kind != "U" else None
        self._parts: list[np.ndarray] = []

    def put(self, at: int, ids: np.ndarray) -> None:
        """Rows ``at`` onwards hold ``ids`` (ASCII bytes or str)."""
        if self._whole is None:
            self._parts.append(ids)
        else:
            self._whole[at: at + len(ids)] = ids.astype(ID_DTYPE)

    def array(self, n: int) -> np.ndarray:
        """The IDs of the ``n`` rows put."""
        if self._whole is None:
            return id_array(np.concatenate(self._parts) if self._parts else [])
        self._whole.resize(n, refcheck=False)  # in place, no copy
        return self._whole


class DataError(ValueError):
    """A data file that does not follow its format; the message names file, line and problem."""

    def __init__(self, path: str, line: int | None, problem: str) -> None:
        self.path = path
        self.line = line
        self.problem = problem
        where = f"{path}, line {line}" if line is not None else path
        super().__init__(f"{where}: {problem}")


def _check_header(header: list[str], line: int, unlabelled: bool, name: str) -> None:
    expected = [h.lower() for h in SHIPPED_HEADER]
    given = [h.lower() for h in header]
    if given != expected and not (unlabelled and given == expected[:-1]):
        raise DataError(name, line, f"unrecognised header {quote(','.join(header))}: expected "
                                    f"{','.join(SHIPPED_HEADER)!r} (shipped CSV) or none (UCI)")


def _detect_format(first: list[str]) -> str:
    """``"csv"`` if the first row is a header (names an ``ID`` or ``class`` column), else ``"uci"``."""
    return "csv" if {"id", "class"} & {cell.lower() for cell in first} else "uci"


def _row(cells: list[str], line: int, fmt: str, unlabelled: bool, name: str) -> tuple[str, list[float], int]:
    """One data row's stripped cells as (ID, nine scores with NaN for missing, class or -1)."""
    n_cols, skip, missing_token, classes = _FORMATS[fmt]
    if unlabelled and len(cells) == n_cols - 1:
        cells = [*cells, missing_token]  # no class column: a sample to classify
    if len(cells) != n_cols:
        hint = " (a file in the shipped CSV format starts with its header line)" if (
            fmt == "uci" and len(cells) == _FORMATS["csv"].columns) else ""
        or_fewer = f", or {n_cols - 1} without the class" if unlabelled else ""
        raise DataError(name, line, f"expected {n_cols} comma-separated columns "
                                    f"({_describe(fmt)}{or_fewer}), found {len(cells)}{hint}")
    scores = [_score(cell, missing_token, name, line, j)
              for j, cell in enumerate(cells[skip: skip + len(FEATURE_NAMES)])]
    label = cells[-1]
    if unlabelled and label in (missing_token, ""):
        return cells[skip - 1], scores, -1
    if label not in classes:
        if label in (missing_token, ""):
            raise DataError(name, line, f"the class is missing ({quote(label)}): training needs the class of "
                                        "every row (microgrid predict classifies rows without one)")
        raise DataError(name, line, f"unknown class {quote(label)}: expected "
                                    f"{' or '.join(repr(c) for c in classes)}")
    return cells[skip - 1], scores, classes[label]


_SCORE_TEXT = re.compile(r"[+-]?[0-9]+(\.[0-9]*)?")  # plain decimal notation only


def _score(cell: str, missing_token: str, name: str, line: int, j: int) -> float:
    column = f"score {j + 1} ({FEATURE_NAMES[j]})"
    if cell == missing_token:
        return math.nan
    try:
        if not _SCORE_TEXT.fullmatch(cell.strip()):
            raise ValueError(cell)  # float() would also take '1_0', '1e1', 'inf', ' nan'
        value = float(cell)
    except ValueError:
        raise DataError(name, line, f"{column} is not a number: {quote(cell)} (a missing score is written "
                                    f"{missing_token!r} in this format)") from None
    if not (1.0 <= value <= 10.0) or value != int(value):
        raise DataError(name, line, f"{column} is {quote(cell)}: scores are whole numbers from 1 to 10")
    return value


def _describe(fmt: str) -> str:
    if fmt == "csv":
        return "row number, ID, 9 scores, class"
    return "ID, 9 scores, class 2 or 4"
