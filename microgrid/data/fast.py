"""The data loader's fast path: :func:`numpy.loadtxt` over a plain data file, a block of lines at a time.

A plain file is ASCII text, one row a line, no white space but line ends, its scores ``1``..``10`` or
the missing-value token, its classes the format's, quotes only around whole cells.  For any other file
(a blank line, a space, ``5.0``, an ID over 15 characters, any error) :func:`parse_fast` returns ``None``
and the loader reads it with :mod:`csv`, which names the line of each problem.  loadtxt only splits the
lines into cells of bytes (its own parsing takes ``1e1``, `` 5`` and ``"a"b``): the cells are checked here.
"""
from __future__ import annotations

import csv
import io
from typing import BinaryIO

import numpy as np

from microgrid.data.rows import (
    FEATURE_NAMES,
    FORMATS,
    ID_DTYPE,
    Format,
    Parsed,
    check_header,
    detect_format,
    id_array,
)

__all__ = ["parse_fast"]

BLOCK_CHARS = 1 << 18  # text read and converted a block at a time
ID_WIDTH = 18  # bytes of an ID cell: 15 characters and quotes (a longer one goes to csv)
_ODD = bytes([0, 9, 11, 12, *range(28, 33)])  # NUL, and what str.strip() takes off a cell but \n, \r
_N = len(FEATURE_NAMES)


class _Fallback(Exception):
    """Not a plain file: the caller reads it with csv."""


def parse_fast(source: BinaryIO, name: str, unlabelled: bool, drop: bool, max_bytes: int) -> Parsed | None:
    """``(X, y, ids, lines, format, n_incomplete)`` of a plain data file (a binary file open at its
    start), with the rows that lack a score left out when ``drop``; ``None`` for any other file
    (also one of more than ``max_bytes``, which the caller refuses)."""
    start, bound, size = source.tell(), 1, 0  # bound: the line count, the most rows the file can hold
    while chunk := source.read(BLOCK_CHARS):
        if size == 0 and chunk.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark
            chunk = chunk[3:]
        size += len(chunk)
        if size > max_bytes or not chunk.isascii() or len(chunk.translate(None, _ODD)) < len(chunk):
            return None
        bound += chunk.count(b"\n")
    if not size:
        return None
    source.seek(start)
    text = io.TextIOWrapper(source, encoding="utf-8-sig", newline=None)  # \r\n and \r end lines, as for csv
    try:
        return _read(text, bound, name, unlabelled, drop)
    except (_Fallback, ValueError, csv.Error):  # a row loadtxt cannot split, a bad header
        return None
    finally:
        text.detach()  # leaves ``source`` open for the caller


def _read(text: io.TextIOWrapper, bound: int, name: str, unlabelled: bool, drop: bool) -> Parsed:
    first = text.readline()
    cells = [c.strip() for c in next(csv.reader([first], strict=True), [])]
    if not any(cells):
        raise _Fallback  # an empty file or a blank first line
    fmt, line = detect_format(cells), 1
    spec = FORMATS[fmt]
    if fmt == "csv":
        check_header(cells, line, unlabelled, name)
        first, line = text.readline(), 2
    labelled = first.count(",") + 1 == spec.columns  # else a row without its class, or a wrong width
    if not labelled and not (unlabelled and first.count(",") + 2 == spec.columns):
        raise _Fallback
    dtype = [(f"c{i}", f"S{ID_WIDTH}") for i in range(spec.skip)] + [("x", "S3", (_N,))]
    dtype += [("y", "S12")] * labelled
    X = np.empty((bound, _N))
    y, lines = np.empty(bound, dtype=np.int64), np.empty(bound, dtype=np.int64)
    ids = np.empty(bound, dtype=ID_DTYPE if ID_DTYPE.kind != "U" else f"S{ID_WIDTH}")
    n = n_incomplete = 0
    while block := first + text.read(BLOCK_CHARS):
        first = ""
        if not block.endswith("\n"):
            block += text.readline()  # the rest of its last line
        count = block.count("\n") + (not block.endswith("\n"))
        rows = np.loadtxt(io.StringIO(block), dtype=dtype, delimiter=",", comments=None, ndmin=1)
        if len(rows) != count:
            raise _Fallback  # loadtxt skips blank lines, which csv counts
        for i in range(spec.skip - 1):
            _unquoted(rows[f"c{i}"])  # a row number: only its quoting matters
        bx, bids = _scores(rows["x"], spec.missing), _unquoted(rows[f"c{spec.skip - 1}"])
        by = _classes(_unquoted(rows["y"]), spec, unlabelled) if labelled else np.full(count, -1)
        incomplete = np.isnan(bx).any(axis=1)
        n_incomplete += int(incomplete.sum())
        keep = ~incomplete if drop else slice(None)
        bx, by, bids, blines = bx[keep], by[keep], bids[keep], (line + np.arange(count))[keep]
        line, k = line + count, len(by)
        if n + k > bound:
            raise _Fallback  # the file grew since its lines were counted
        X[n: n + k], y[n: n + k], ids[n: n + k], lines[n: n + k] = bx, by, bids, blines
        n += k
    for array in (X, y, ids, lines):  # in place (realloc), no copy
        array.resize((n, *array.shape[1:]), refcheck=False)
    return X, y, id_array(ids), lines, fmt, n_incomplete


def _unquoted(cells: np.ndarray) -> np.ndarray:
    """Bytes cells as csv reads them: a pair of quotes around a whole cell removed; _Fallback for
    any other quote and for a cell that fills its width (it may have been cut)."""
    if (np.char.str_len(cells) >= cells.itemsize).any():
        raise _Fallback
    quotes = np.char.count(cells, b'"')
    whole = (quotes == 2) & np.char.startswith(cells, b'"') & np.char.endswith(cells, b'"')
    if (quotes.astype(bool) > whole).any():
        raise _Fallback
    return np.where(whole, np.char.strip(cells, b'"'), cells) if whole.any() else cells


def _scores(cells: np.ndarray, missing: str) -> np.ndarray:
    """The scores of ``(rows, 9)`` three-byte cells, looked up by their first two bytes in a table
    of 1..10, NaN for ``missing``, else -1."""
    table = np.full(1 << 16, -1.0)
    for text, value in [*((str(v), float(v)) for v in range(1, 11)), (missing, np.nan)]:
        table[int.from_bytes(text.encode().ljust(2, b"\0"), "big")] = value
    b = np.ascontiguousarray(cells).view(np.uint8).reshape(*cells.shape, 3)
    values = table[b[..., 0].astype(np.intp) << 8 | b[..., 1]]
    if ((values < 0) | (b[..., 2] != 0)).any():
        raise _Fallback
    return values


def _classes(cells: np.ndarray, spec: Format, unlabelled: bool) -> np.ndarray:
    """The class of each cell; with ``unlabelled``, -1 for the missing-value token or an empty cell."""
    y = np.full(len(cells), -2)
    for text, code in spec.classes.items():
        y[cells == text.encode()] = code
    if unlabelled:
        y[(cells == spec.missing.encode()) | (cells == b"")] = -1
    if (y == -2).any():
        raise _Fallback
    return y
