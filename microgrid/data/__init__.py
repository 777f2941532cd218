"""The Wisconsin Breast Cancer (original) data, shipped with the package, and its loader.

Each row is one fine-needle aspirate of a breast mass: nine cytology scores (integers 1–10) given by
a pathologist, and the diagnosis.  A file is in one of the two formats of :data:`.rows.FORMATS` (the
shipped CSV, with its header; UCI's ``breast-cancer-wisconsin.data``, without), told apart by the
first line.  ``README.md`` in this directory gives the source, citation and licence."""
from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import BinaryIO

import numpy as np

from microgrid.data import fast
from microgrid.data.rows import FEATURE_NAMES, SHIPPED_HEADER, DataError, parse_csv
from microgrid.safety.overwrite import special

__all__ = ["DataError", "Dataset", "load_wisconsin", "shipped_path", "FEATURE_NAMES", "TARGET_NAMES",
           "SHIPPED_SHA256", "SHIPPED_HEADER"]

SHIPPED_FILE = "biopsy.csv"
MAX_FILE_BYTES = 50_000_000  # refuse to read more (the shipped file is 25 kB)
SHIPPED_SHA256 = "6ed32fbab327224ec749cacbc1e4750114aae622dc651d522043b6cf0d735b7e"
TARGET_NAMES: tuple[str, ...] = ("benign", "malignant")  # y = 0, y = 1
_MISSING_MODES = ("drop", "median", "keep")

DESCRIPTION = """\
Breast Cancer Wisconsin (Original): fine-needle aspirates of breast masses collected by
Dr. William H. Wolberg, University of Wisconsin Hospitals, Madison (up to 15 July 1992).
Nine cytology scores from 1 to 10 per sample; class benign (0) or malignant (1).
699 samples, 16 with a missing 'bare nuclei' score (683 complete).  UCI Machine Learning
Repository, CC BY 4.0.  Mangasarian & Wolberg, "Cancer diagnosis via linear programming",
SIAM News 23(5), 1990."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """Rows of the Wisconsin data, in file order.

    ``X``: float64 ``(n, 9)`` raw scores 1–10 (NaN where missing, only with ``missing="keep"``);
    ``y``: int64 ``(n,)``, 1 = malignant (-1: no class given, only with ``unlabelled=True``);
    ``ids``: the sample codes as strings (not unique: some patients gave several samples), of
    NumPy's variable-width ``StringDType`` (NumPy 1: fixed-width ``str``);
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
    n_missing_rows: int = 0

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
    """The shipped copy (default) or ``path`` in either file format.  Rows that lack a score: ``missing``
    ``"drop"`` (683 of the 699 shipped rows remain), ``"median"`` (of that feature over the rows of this
    file that have it, test rows included) or ``"keep"`` (NaN).  ``unlabelled=True`` also accepts rows
    without a class (its column left out, or the format's missing-value token): their ``y`` is -1.
    :class:`DataError` for a malformed or altered file, :class:`OSError` when it cannot be read."""
    if missing not in _MISSING_MODES:
        raise ValueError(f"missing must be one of {', '.join(_MISSING_MODES)}; got {missing!r}")
    shipped = shipped_path()
    file = shipped if path is None else Path(path)
    name, drop = str(file), missing == "drop"
    if special(file):  # before opening: opening a pipe would wait for a writer
        raise DataError(name, None, "not a regular file (a device, pipe or socket is not a data file)")
    with open(file, "rb") as f:
        source: BinaryIO = f
        if shipped.exists() and file.samefile(shipped):  # small: read whole and checked
            raw = _read_limited(f, name)
            digest = hashlib.sha256(raw).hexdigest()
            if digest != SHIPPED_SHA256:
                raise DataError(name, None, f"the shipped data file was altered (sha256 {digest}, expected "
                                            f"{SHIPPED_SHA256}); reinstall microgrid-autograd")
            source = io.BytesIO(raw)
        parsed = fast.parse_fast(source, name, unlabelled, drop, MAX_FILE_BYTES)
        if parsed is None:
            source.seek(0)
            parsed = parse_csv(_read_limited(source, name), name, unlabelled, drop)
    X, y, ids, lines, fmt, n_incomplete = parsed
    if missing == "median" and n_incomplete:  # X is this call's own array: filled in place
        for j in np.flatnonzero(np.isnan(X).any(axis=0)):
            gaps = np.isnan(X[:, j])
            if gaps.all():
                raise DataError(name, None, f"column {FEATURE_NAMES[j]!r} has no values to take a median of")
            X[gaps, j] = np.median(X[~gaps, j])
    return Dataset(X=X, y=y, ids=ids, lines=lines, source=name, format=fmt, n_missing_rows=n_incomplete)


def _read_limited(f: BinaryIO, name: str) -> bytes:
    """The rest of ``f``, refused beyond :data:`MAX_FILE_BYTES`."""
    raw = f.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise DataError(name, None, f"the file is larger than {MAX_FILE_BYTES // 10**6} MB; a Wisconsin "
                                    "data file has a few hundred rows of 11 short columns")
    return raw
