"""The two formats of a Wisconsin data file, and the reader of any file: :mod:`csv` over the whole
text, each row's cells checked, every problem named by its line."""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from microgrid.safety.text import quote

FEATURE_NAMES: tuple[str, ...] = (
    "clump thickness", "uniformity of cell size", "uniformity of cell shape", "marginal adhesion",
    "single epithelial cell size", "bare nuclei", "bland chromatin", "normal nucleoli", "mitoses")
SHIPPED_HEADER: tuple[str, ...] = ("", "ID", *(f"V{i}" for i in range(1, 10)), "class")


class Format(NamedTuple):
    """How one file format lays out a row: its column count, the ID column's number (1-based; the
    scores follow it), the missing-value token, the class labels (text -> y), the columns in words."""

    columns: int
    skip: int
    missing: str
    classes: dict[str, int]
    layout: str


FORMATS = {
    "csv": Format(12, 2, "NA", {"benign": 0, "malignant": 1}, "row number, ID, 9 scores, class"),
    "uci": Format(11, 1, "?", {"2": 0, "4": 1}, "ID, 9 scores, class 2 or 4"),
}

# The IDs' dtype: NumPy 2's variable-width strings (16 bytes for an ID of up to 15 characters,
# a third of fixed-width unicode's 4 per character of the longest), else fixed-width unicode.
ID_DTYPE: np.dtype = getattr(getattr(np, "dtypes", None), "StringDType", lambda: np.dtype(str))()


def id_array(ids: Sequence[str] | np.ndarray) -> np.ndarray:
    """Sample IDs (str, or ASCII bytes) as the array a :class:`~microgrid.data.Dataset` holds
    (dtype :data:`ID_DTYPE`; NumPy 1: as wide as the longest ID)."""
    array = np.asarray(ids)
    if ID_DTYPE.kind == "U":
        return array.astype(f"U{max(1, int(np.char.str_len(array).max(initial=0)))}")
    return array.astype(ID_DTYPE, copy=False)


class DataError(ValueError):
    """A data file that does not follow its format; the message names file, line and problem."""

    def __init__(self, path: str, line: int | None, problem: str) -> None:
        self.path, self.line, self.problem = path, line, problem
        where = f"{path}, line {line}" if line is not None else path
        super().__init__(f"{where}: {problem}")


def check_header(header: list[str], line: int, unlabelled: bool, name: str) -> None:
    """DataError unless ``header`` is the shipped one (case aside; with ``unlabelled``, also without
    its class column)."""
    expected = [h.lower() for h in SHIPPED_HEADER]
    given = [h.lower() for h in header]
    if given != expected and not (unlabelled and given == expected[:-1]):
        raise DataError(name, line, f"unrecognised header {quote(','.join(header))}: expected "
                                    f"{','.join(SHIPPED_HEADER)!r} (shipped CSV) or none (UCI)")


def detect_format(first: list[str]) -> str:
    """``"csv"`` if the first row is a header (names an ``ID`` or ``class`` column), else ``"uci"``."""
    return "csv" if {"id", "class"} & {cell.lower() for cell in first} else "uci"


#: X, y, ids, lines, format, and how many rows lack a score
Parsed = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str, int]


def parse_csv(raw: bytes, name: str, unlabelled: bool, drop: bool) -> Parsed:
    """``(X, y, ids, lines, format, n_incomplete)`` of a data file's bytes, read with :mod:`csv`,
    with the rows that lack a score left out when ``drop``; DataError for anything else."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if _CONTROL.search(raw, 0, 4096):  # control bytes: binary data (an image, a spreadsheet...)
            raise DataError(name, None, f"not a text file (byte {exc.start} is not UTF-8)") from None
        where = raw.count(b"\n", 0, exc.start) + 1
        raise DataError(name, where, f"byte 0x{exc.object[exc.start]:02x} is not UTF-8 (text saved in "
                                     "another encoding? save the file as UTF-8)") from None
    if "\0" in text:
        raise DataError(name, None, "not a text file: it contains NUL bytes (UTF-16 text? save it as UTF-8)")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[tuple[int, list[str]]] = []
    start = 1  # where the next record starts (a quoted field may span lines)
    try:
        for record in reader:
            cells = [c.strip() for c in record]
            if any(cells):
                rows.append((reader.line_num, cells))
            start = reader.line_num + 1
    except csv.Error as exc:  # a stray or unclosed quote, a field over the csv module's size limit
        raise DataError(name, start, f"not valid comma-separated text: {exc}") from None
    if not rows:
        raise DataError(name, None, "the file has no rows")
    fmt = detect_format(rows[0][1])
    if fmt == "csv":
        line, header = rows.pop(0)
        check_header(header, line, unlabelled, name)
        if not rows:
            raise DataError(name, None, "the file has a header but no rows")
    ids, scores, labels = zip(*(_row(cells, line, fmt, unlabelled, name) for line, cells in rows))
    X, y = np.array(scores, dtype=np.float64), np.array(labels, dtype=np.int64)
    lines = np.array([line for line, _ in rows], dtype=np.int64)
    incomplete = np.isnan(X).any(axis=1)
    keep = ~incomplete if drop else slice(None)
    return X[keep], y[keep], id_array(ids)[keep], lines[keep], fmt, int(incomplete.sum())


_CONTROL = re.compile(rb"[\x00-\x08\x0e-\x1f\x7f]")  # in no text file but white space (\t \n \v \f \r)


def _row(cells: list[str], line: int, fmt: str, unlabelled: bool, name: str) -> tuple[str, list[float], int]:
    """One data row's stripped cells as (ID, nine scores with NaN for missing, class or -1)."""
    n_cols, skip, missing_token, classes, layout = FORMATS[fmt]
    if unlabelled and len(cells) == n_cols - 1:
        cells = [*cells, missing_token]  # no class column: a sample to classify
    if len(cells) != n_cols:
        hint = " (a file in the shipped CSV format starts with its header line)" if (
            fmt == "uci" and len(cells) == FORMATS["csv"].columns) else ""
        or_fewer = f", or {n_cols - 1} without the class" if unlabelled else ""
        raise DataError(name, line, f"expected {n_cols} comma-separated columns "
                                    f"({layout}{or_fewer}), found {len(cells)}{hint}")
    scores = [_score(cell, missing_token, name, line, j)
              for j, cell in enumerate(cells[skip: skip + len(FEATURE_NAMES)])]
    label = cells[-1]
    if label in (missing_token, "") and not unlabelled:
        raise DataError(name, line, f"the class is missing ({quote(label)}): training needs the class of "
                                    "every row (microgrid predict classifies rows without one)")
    if label not in classes and label not in (missing_token, ""):
        raise DataError(name, line, f"unknown class {quote(label)}: expected "
                                    f"{' or '.join(repr(c) for c in classes)}")
    return cells[skip - 1], scores, classes.get(label, -1)


_SCORE_TEXT = re.compile(r"[+-]?[0-9]+(\.[0-9]*)?")  # plain decimal notation only


def _score(cell: str, missing_token: str, name: str, line: int, j: int) -> float:
    column = f"score {j + 1} ({FEATURE_NAMES[j]})"
    if cell == missing_token:
        return math.nan
    if not _SCORE_TEXT.fullmatch(cell):  # float() would also take '1_0', '1e1', 'inf', ' nan'
        raise DataError(name, line, f"{column} is not a number: {quote(cell)} (a missing score is written "
                                    f"{missing_token!r} in this format)")
    value = float(cell)
    if not (1.0 <= value <= 10.0) or value != int(value):
        raise DataError(name, line, f"{column} is {quote(cell)}: scores are whole numbers from 1 to 10")
    return value
