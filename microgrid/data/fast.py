"""The data loader's fast path: large files read with NumPy, a block of lines at a time.

:func:`parse_fast` reads the files almost all data files are — ASCII, one record per line,
quotes only around whole fields — in two passes over the file, never held whole: one counts its
lines (the most rows it can hold), the other reads about 128 kB of lines at a time with array
operations over their bytes, writing straight into result arrays of that many rows.  A line whose
cells are not the plain kind (a score other than ``1``..``10`` or the missing-value token, an
unknown class, white space around a cell, the wrong number of columns, a very long cell) is read
again by the loader's own row reader (:func:`microgrid.data.rows._row`, after :mod:`csv`), so
it yields the same values or raises the same :class:`~microgrid.data.DataError` as a file read
without the fast path.  Anything else about the file (non-ASCII text, NUL bytes, a lone carriage
return, quotes that are not around whole fields, no data rows) returns ``None``: the caller then
reads the whole file with :mod:`csv`.

Memory: the results (72 bytes of scores, 16 of class and line number, 16 for an ID of up to 15
characters per row) and, per block, a few arrays of a word per byte of the block (a few MB).
A 1,000,000-row UCI file (28.5 MB) loads in 0.9 s with a peak of 3.8 times its size
(``benchmarks/bench_load.py``).
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np

from microgrid.data.rows import (
    _FORMATS,
    FEATURE_NAMES,
    DataError,
    IdColumn,
    _check_header,
    _detect_format,
    _row,
)

__all__ = ["parse_fast"]

BLOCK_BYTES = 1 << 17  # lines are read about 128 kB at a time (the per-block arrays stay a few MB)
MAX_FAST_ID = 64  # longer IDs go through the row reader (the byte matrix is rows x this)
_COMMA, _NEWLINE, _QUOTE = ord(","), ord("\n"), ord('"')
_SPACE = np.zeros(256, dtype=bool)  # what str.strip() removes, among ASCII characters
_SPACE[[*range(9, 14), *range(28, 33)]] = True
_N = len(FEATURE_NAMES)

Parsed = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str, int]


class _Fallback(Exception):
    """The file is not of the kind the fast path reads: read it all with csv instead."""


def parse_fast(source: bytes | BinaryIO, name: str, unlabelled: bool, drop: bool,
               max_bytes: int | None = None) -> Parsed | None:
    """``(X, y, ids, lines, format, n_incomplete)`` of a data file (its bytes, or a binary file
    open at its start, read a block at a time and never whole), with the rows that lack a score
    left out when ``drop``; ``None`` for a file to be read with :mod:`csv` (also one of more than
    ``max_bytes``, which the caller refuses)."""
    file = io.BytesIO(source) if isinstance(source, bytes) else source
    origin = file.tell()
    try:
        bound = _count_lines(file, max_bytes)
        file.seek(origin)
        return _Reader(_blocks(file), bound, name, unlabelled, drop).read()
    except _Fallback:
        return None


def _chunks(file: BinaryIO) -> Iterator[bytes]:
    """The file's bytes, :data:`BLOCK_BYTES` at a time, without a leading UTF-8 byte-order mark;
    :class:`_Fallback` at the first byte that is not ASCII text (or is NUL)."""
    first = True
    while chunk := file.read(BLOCK_BYTES):
        if first and chunk.startswith(b"\xef\xbb\xbf"):
            chunk = chunk[3:]
        first = False
        if b"\0" in chunk or (chunk and np.frombuffer(chunk, dtype=np.uint8).max() >= 128):
            raise _Fallback
        yield chunk


def _count_lines(file: BinaryIO, max_bytes: int | None) -> int:
    """How many rows the file can hold at most (its line count), checking it is ASCII text."""
    count, size = 1, 0
    for chunk in _chunks(file):
        count += chunk.count(b"\n")
        size += len(chunk)
        if max_bytes is not None and size > max_bytes:
            raise _Fallback
    if size == 0:
        raise _Fallback
    return count


def _blocks(file: BinaryIO) -> Iterator[bytes]:
    """The file's text in blocks of whole lines (the last one may lack its newline)."""
    rest: list[bytes] = []  # the start of a line that began in earlier chunks (joined once)
    for chunk in _chunks(file):
        cut = chunk.rfind(b"\n") + 1
        if cut == 0:
            rest.append(chunk)
            continue
        yield b"".join([*rest, chunk[:cut]])
        rest = [chunk[cut:]]
    if any(rest):
        yield b"".join(rest)


class _Reader:
    def __init__(self, blocks: Iterator[bytes], bound: int, name: str, unlabelled: bool, drop: bool) -> None:
        self.blocks, self.bound, self.name, self.unlabelled, self.drop = blocks, bound, name, unlabelled, drop
        self.line = 1  # the number of the file's line where the next block starts
        self.limit = csv.field_size_limit()

    def read(self) -> Parsed:
        first = self._header()
        self.spec = _FORMATS[self.fmt]
        bound = self.bound
        X = np.empty((bound, _N))
        y = np.empty(bound, dtype=np.int64)
        lines = np.empty(bound, dtype=np.int64)
        ids = IdColumn(bound)
        n = n_incomplete = 0
        for block in itertools.chain([first], self.blocks):
            if not block:
                continue
            bx, by, bids, blines = self._block(block, self.line)
            self.line += block.count(b"\n")
            incomplete = np.isnan(bx).any(axis=1)
            n_incomplete += int(incomplete.sum())
            if self.drop and incomplete.any():
                keep = ~incomplete
                bx, by, bids, blines = bx[keep], by[keep], bids[keep], blines[keep]
            k = len(by)
            if n + k > bound:
                raise _Fallback  # the file grew since its lines were counted
            X[n: n + k], y[n: n + k], lines[n: n + k] = bx, by, blines
            ids.put(n, bids)
            n += k
        if n + n_incomplete * self.drop == 0:
            raise _Fallback  # no rows: the csv reader says which message
        for array in (X, y, lines):  # in place (realloc), no copy
            array.resize((n, *array.shape[1:]), refcheck=False)
        return X, y, ids.array(n), lines, self.fmt, n_incomplete

    def _header(self) -> bytes:
        """Skip blank lines; tell the format from the first row; for the CSV format check the header.
        Returns the rest of the block the header (or the first row) is in."""
        block, pos = b"", 0
        while True:
            if pos >= len(block):
                block, pos = next(self.blocks, b""), 0
                if not block:
                    raise _Fallback  # nothing but blank lines
            end = block.find(b"\n", pos)
            end = len(block) if end < 0 else end + 1
            text = block[pos: end].decode("ascii")
            if '"' in text and text.count('"') % 2:
                raise _Fallback  # a quoted field spanning lines
            if "\r" in text.rstrip("\r\n") or text.endswith("\r"):
                raise _Fallback
            try:
                cells = [c.strip() for c in next(csv.reader([text.rstrip("\r\n")], strict=True), [])]
            except csv.Error:
                raise _Fallback from None
            if cells and any(cells):
                break
            pos, self.line = end, self.line + 1
        self.fmt = _detect_format(cells)
        if self.fmt == "csv":
            _check_header(cells, self.line, self.unlabelled, self.name)
            pos, self.line = end, self.line + 1
        return block[pos:]

    def _block(self, block: bytes, line0: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The rows of a block of whole lines starting at line ``line0``: X, y, IDs (bytes), lines."""
        if b"\r" in block:
            block = block.replace(b"\r\n", b"\n")
            if b"\r" in block:
                raise _Fallback  # a lone carriage return: csv takes it as a line end
        if not block.endswith(b"\n"):
            block += b"\n"
        original = block
        if b'"' in block:
            block = _unquote(block)
        arr = np.frombuffer(block, dtype=np.uint8)
        is_sep = (arr == _COMMA) | (arr == _NEWLINE)
        seps = np.flatnonzero(is_sep)
        ends_at = np.flatnonzero(arr[seps] == _NEWLINE)  # index in seps of each line's newline
        n_lines = len(ends_at)
        fields = np.diff(ends_at, prepend=-1)
        line_start = np.empty(n_lines, dtype=np.int64)
        line_start[0] = 0
        line_start[1:] = seps[ends_at[:-1]] + 1
        X = np.full((n_lines, _N), np.nan)
        y = np.full(n_lines, -2, dtype=np.int64)  # -2: no row on this line (a blank line)
        id_start = np.zeros(n_lines, dtype=np.int64)
        id_len = np.zeros(n_lines, dtype=np.int64)
        redo = ~((fields == 1) & (seps[ends_at] == line_start))  # all but empty lines, until read below
        n_cols = self.spec.columns
        widths = (n_cols, n_cols - 1) if self.unlabelled else (n_cols,)
        for width in widths:
            rows = np.flatnonzero(fields == width)
            if rows.size:
                ok = self._cells(arr, seps, ends_at[rows], line_start[rows], width,
                                 X, y, id_start, id_len, rows)
                redo[rows[ok]] = False
        lines = line0 + np.arange(n_lines)
        width = int(id_len.max(initial=0))  # only rows read above have an ID length
        ids = np.zeros(n_lines, dtype=f"S{max(1, width)}")
        if width:
            fast = np.flatnonzero(id_len)  # an empty ID stays as np.zeros left it: b""
            cols = np.arange(width)
            index = np.minimum(id_start[fast, None] + cols, len(arr) - 1)
            chars = np.where(cols < id_len[fast, None], arr[index], 0).astype(np.uint8)
            ids[fast] = chars.view(f"S{width}").ravel()
        slow: dict[int, str] = {}
        if redo.any():
            starts = np.flatnonzero(np.frombuffer(original, dtype=np.uint8) == _NEWLINE)
            for i in np.flatnonzero(redo):
                a = 0 if i == 0 else int(starts[i - 1]) + 1
                text = original[a: int(starts[i])].decode("ascii")
                line = int(lines[i])
                try:
                    cells = [c.strip() for c in next(csv.reader([text], strict=True), [])]
                except csv.Error as exc:  # as the whole-file reader says it
                    raise DataError(self.name, line, f"not valid comma-separated text: {exc}") from None
                if not cells or not any(cells):
                    continue  # a blank line
                ident, X[i], y[i] = _row(cells, line, self.fmt, self.unlabelled, self.name)
                slow[int(i)] = ident
        longest = max(map(len, slow.values()), default=0)
        if longest > ids.dtype.itemsize:
            ids = ids.astype(f"S{longest}")
        for row, ident in slow.items():
            ids[row] = ident.encode("ascii")
        present = y > -2
        return X[present], y[present], ids[present], lines[present]

    def _cells(self, arr: np.ndarray, seps: np.ndarray, line_end: np.ndarray, line_start: np.ndarray,
               width: int, X: np.ndarray, y: np.ndarray, id_start: np.ndarray, id_len: np.ndarray,
               rows: np.ndarray) -> np.ndarray:
        """Read the lines of ``width`` cells (``rows`` of the block) whose cells are all plain into
        X, y and the ID positions; returns which of them were (the others are read by _row)."""
        _, skip, missing, classes = self.spec
        E = seps[line_end[:, None] + np.arange(1 - width, 1)]  # each cell's end (its separator)
        S = np.empty_like(E)
        S[:, 0] = line_start
        S[:, 1:] = E[:, :-1] + 1
        L = E - S
        ok = L.max(axis=1) <= min(self.limit, 10_000)
        # scores: 1..9, 10, or the missing-value token
        s, n = S[:, skip: skip + _N], L[:, skip: skip + _N]
        c0, c1 = arr[s], arr[np.minimum(s + 1, len(arr) - 1)]  # c1 matters only for a 2-byte cell
        digit = (n == 1) & (c0 >= ord("1")) & (c0 <= ord("9"))
        ten = (n == 2) & (c0 == ord("1")) & (c1 == ord("0"))
        gap = _matches(arr, s, n, missing)
        ok &= (digit | ten | gap).all(axis=1)
        values = np.where(digit, c0.astype(np.float64) - ord("0"), np.where(ten, 10.0, np.nan))
        # the class (the last cell; none in a line one cell short, which is a sample to classify)
        label = np.full(len(rows), -3, dtype=np.int64)
        if width == self.spec.columns:
            ls, ln = S[:, -1], L[:, -1]
            for text, code in classes.items():
                label[_matches(arr, ls, ln, text)] = code
            if self.unlabelled:
                label[_matches(arr, ls, ln, missing) | (ln == 0)] = -1
        elif self.unlabelled:
            label[:] = -1
        ok &= label > -3
        # the ID: taken as it is unless white space surrounds it (str.strip) or it is long
        i_s, i_n = S[:, skip - 1], L[:, skip - 1]
        last = np.maximum(i_s + i_n - 1, 0)
        ok &= (i_n == 0) | ~(_SPACE[arr[i_s]] | _SPACE[arr[last]])
        ok &= i_n <= MAX_FAST_ID
        good = rows[ok]
        X[good], y[good] = values[ok], label[ok]
        id_start[good], id_len[good] = i_s[ok], i_n[ok]
        return ok


def _matches(arr: np.ndarray, start: np.ndarray, length: np.ndarray, text: str) -> np.ndarray:
    """Which cells (``start``, ``length`` in ``arr``) hold exactly ``text``."""
    code = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    hit = length == len(code)
    for k, c in enumerate(code):
        hit &= arr[np.minimum(start + k, len(arr) - 1)] == c
    return hit


def _unquote(block: bytes) -> bytes:
    """``block`` without the quotes around whole fields (``"benign"`` -> ``benign``), as csv reads
    them; :class:`_Fallback` if any quote is anything else (inside a field, around a comma or a
    line break, doubled)."""
    arr = np.frombuffer(block, dtype=np.uint8)
    q = np.flatnonzero(arr == _QUOTE)
    if len(q) % 2:
        raise _Fallback
    opens, closes = q[0::2], q[1::2]
    before = np.where(opens > 0, arr[np.maximum(opens - 1, 0)], _NEWLINE)
    after = arr[closes + 1]  # the block ends with a newline, so a closing quote is never last
    at_field_edges = ((before == _COMMA) | (before == _NEWLINE)) & ((after == _COMMA) | (after == _NEWLINE))
    if not at_field_edges.all():
        raise _Fallback
    seps = np.cumsum((arr == _COMMA) | (arr == _NEWLINE), dtype=np.int32)
    if (seps[opens] != seps[closes]).any():  # a separator between a pair of quotes
        raise _Fallback
    return block.replace(b'"', b"")
