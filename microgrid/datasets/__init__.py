"""The Wisconsin Breast Cancer (original) data, shipped with the package, and its loader.

Each row is one fine-needle aspirate of a breast mass: nine cytology scores (integers 1–10)
given by a pathologist, and the diagnosis.  :func:`load_wisconsin` reads the shipped copy
(``biopsy.csv``, checked against its sha256) or any file in one of two formats, told apart by
the first line:

* **shipped CSV** (``MASS::biopsy``): a header ``"","ID","V1",…,"V9","class"``; then the row
  number, the sample code, the nine scores (``NA`` when missing), and ``benign``/``malignant``;
* **UCI** (``breast-cancer-wisconsin.data``): no header; the sample code, the nine scores
  (``?`` when missing), and the class coded 2 = benign, 4 = malignant.

A file that breaks its format raises :class:`DataError` naming the file, the line and the problem.
See ``README.md`` in this directory for the source, citation and licence.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import re
import stat
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import numpy as np

from microgrid.text import quote

__all__ = [
    "DataError",
    "Dataset",
    "load_wisconsin",
    "shipped_path",
    "FEATURE_NAMES",
    "TARGET_NAMES",
    "SHIPPED_SHA256",
    "SHIPPED_HEADER",
]

SHIPPED_FILE = "biopsy.csv"
MAX_FILE_BYTES = 50_000_000  # refuse to read more (the shipped file is 25 kB)
SHIPPED_SHA256 = "6ed32fbab327224ec749cacbc1e4750114aae622dc651d522043b6cf0d735b7e"
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
TARGET_NAMES: tuple[str, ...] = ("benign", "malignant")  # y = 0, y = 1
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
_MISSING_MODES = ("drop", "median", "keep")

DESCRIPTION = """\
Breast Cancer Wisconsin (Original): fine-needle aspirates of breast masses collected by
Dr. William H. Wolberg, University of Wisconsin Hospitals, Madison (up to 15 July 1992).
Nine cytology scores from 1 to 10 per sample; class benign (0) or malignant (1).
699 samples, 16 with a missing 'bare nuclei' score (683 complete).  UCI Machine Learning
Repository, CC BY 4.0.  Mangasarian & Wolberg, "Cancer diagnosis via linear programming",
SIAM News 23(5), 1990."""


class DataError(ValueError):
    """A data file that does not follow its format; the message names file, line and problem."""

    def __init__(self, path: str, line: int | None, problem: str) -> None:
        self.path = path
        self.line = line
        self.problem = problem
        where = f"{path}, line {line}" if line is not None else path
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True, eq=False)
class Dataset:
    """Rows of the Wisconsin data, in file order.

    ``X``: float64 ``(n, 9)`` raw scores 1–10 (NaN where missing, only with ``missing="keep"``);
    ``y``: int64 ``(n,)``, 1 = malignant (-1: no class given, only with ``unlabelled=True``);
    ``ids``: the sample codes as strings (not unique: some patients gave several samples);
    ``lines``: the line of each row in ``source``.
    """

    X: np.ndarray
    y: np.ndarray
    ids: np.ndarray
    lines: np.ndarray
    feature_names: tuple[str, ...] = FEATURE_NAMES
    target_names: tuple[str, ...] = TARGET_NAMES
    description: str = DESCRIPTION
    source: str = ""
    format: str = "csv"
    n_missing_rows: int = field(default=0)

    def __len__(self) -> int:
        return len(self.y)

    @property
    def labelled(self) -> np.ndarray:
        """Boolean mask of the rows whose class the file gives."""
        return self.y >= 0

    def class_counts(self) -> dict[str, int]:
        """How many rows of each class, by name (rows without a class are not counted)."""
        counts = np.bincount(self.y[self.labelled], minlength=len(self.target_names))
        return {name: int(c) for name, c in zip(self.target_names, counts)}


def shipped_path() -> Path:
    """Where the shipped ``biopsy.csv`` is installed."""
    return Path(str(resources.files(__name__).joinpath(SHIPPED_FILE)))


def load_wisconsin(path: str | Path | None = None, missing: str = "drop",
                   unlabelled: bool = False) -> Dataset:
    """Read the Wisconsin data: the shipped copy (default) or ``path`` in either file format.

    ``missing`` says what to do with rows that lack a score: ``"drop"`` them (683 of the 699
    shipped rows remain), fill the gap with the ``"median"`` of that feature over the rows of
    this file that have it, or ``"keep"`` it as NaN.  (Imputing from every row of the file also
    looks at test rows; the training command uses ``"drop"``.)

    ``unlabelled=True`` also accepts rows without a class (new samples to classify): the class
    column left out, or written as the format's missing-value token; their ``y`` is -1.

    Raises :class:`DataError` for a malformed or altered file and :class:`OSError` when the file
    cannot be read.
    """
    if missing not in _MISSING_MODES:
        raise ValueError(f"missing must be one of {', '.join(_MISSING_MODES)}; got {missing!r}")
    shipped = shipped_path()
    file = shipped if path is None else Path(path)
    name = str(file)
    raw = _read_limited(file, name)
    if _same_file(file, shipped):
        digest = hashlib.sha256(raw).hexdigest()
        if digest != SHIPPED_SHA256:
            raise DataError(name, None, f"the shipped data file was altered (sha256 {digest}, expected "
                                        f"{SHIPPED_SHA256}); reinstall microgrid-autograd")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(name, None, f"not a text file (byte {exc.start} is not UTF-8)") from None
    if "\0" in text:
        raise DataError(name, None, "not a text file: it contains NUL bytes (UTF-16 text? save it as UTF-8)")
    X, y, ids, lines, fmt = _parse(text, name, unlabelled)
    incomplete = np.isnan(X).any(axis=1)
    if missing == "drop":
        keep = ~incomplete
        X, y, ids, lines = X[keep], y[keep], ids[keep], lines[keep]
    elif missing == "median" and incomplete.any():
        X = X.copy()
        for j in np.flatnonzero(np.isnan(X).any(axis=0)):
            known = X[~np.isnan(X[:, j]), j]
            if known.size == 0:
                raise DataError(name, None, f"column {FEATURE_NAMES[j]!r} has no values to take a median of")
            X[np.isnan(X[:, j]), j] = np.median(known)
    return Dataset(X=X, y=y, ids=ids, lines=lines, source=name, format=fmt,
                   n_missing_rows=int(incomplete.sum()))


def _read_limited(file: Path, name: str) -> bytes:
    """The bytes of a regular file of at most :data:`MAX_FILE_BYTES` (DataError otherwise)."""
    mode = file.stat().st_mode  # before opening: opening a pipe would wait for a writer
    if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):  # a directory: open() says "Is a directory"
        raise DataError(name, None, "not a regular file (a device, pipe or socket is not a data file)")
    with open(file, "rb") as f:
        raw = f.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise DataError(name, None, f"the file is larger than {MAX_FILE_BYTES // 10**6} MB; a Wisconsin data "
                                    "file has a few hundred rows of 11 short columns")
    return raw


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or a.samefile(b)
    except OSError:
        return False


def _detect_format(first: list[str]) -> str:
    """``"csv"`` if the first row is a header (names an ``ID`` or ``class`` column), else ``"uci"``."""
    return "csv" if {"id", "class"} & {cell.lower() for cell in first} else "uci"


def _parse(text: str, name: str, unlabelled: bool = False
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[tuple[int, list[str]]] = []
    while True:
        first_line = reader.line_num + 1  # where the next record starts (a quoted field may span lines)
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # a stray or unclosed quote, a field over the csv module's size limit
            raise DataError(name, first_line, f"not valid comma-separated text: {exc}") from None
        if cells and any(c.strip() for c in cells):
            rows.append((reader.line_num, [c.strip() for c in cells]))
    if not rows:
        raise DataError(name, None, "the file has no rows")
    fmt = _detect_format(rows[0][1])
    spec = _FORMATS[fmt]
    if fmt == "csv":
        line, header = rows.pop(0)
        expected = [h.lower() for h in SHIPPED_HEADER]
        given = [h.lower() for h in header]
        if given != expected and not (unlabelled and given == expected[:-1]):
            raise DataError(name, line, f"unrecognised header {quote(','.join(header))}: expected "
                                        f"{','.join(SHIPPED_HEADER)!r} (shipped CSV) or none (UCI)")
        if not rows:
            raise DataError(name, None, "the file has a header but no rows")
    n_cols, skip, missing_token, classes = spec
    X = np.empty((len(rows), len(FEATURE_NAMES)))
    y = np.empty(len(rows), dtype=np.int64)
    ids: list[str] = []
    for i, (line, cells) in enumerate(rows):
        if unlabelled and len(cells) == n_cols - 1:
            cells = [*cells, missing_token]  # no class column: a sample to classify
        if len(cells) != n_cols:
            hint = " (a file in the shipped CSV format starts with its header line)" if (
                fmt == "uci" and len(cells) == _FORMATS["csv"].columns) else ""
            raise DataError(name, line, f"expected {n_cols} comma-separated columns ({_describe(fmt)}), "
                                        f"found {len(cells)}{hint}")
        ids.append(cells[skip - 1])
        for j, cell in enumerate(cells[skip: skip + len(FEATURE_NAMES)]):
            X[i, j] = _score(cell, missing_token, name, line, j)
        label = cells[-1]
        if unlabelled and label in (missing_token, ""):
            y[i] = -1
            continue
        if label not in classes:
            raise DataError(name, line, f"unknown class {quote(label)}: expected "
                                        f"{' or '.join(repr(c) for c in classes)}")
        y[i] = classes[label]
    lines = np.array([line for line, _ in rows], dtype=np.int64)
    return X, y, np.array(ids, dtype=str), lines, fmt


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
