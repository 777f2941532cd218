"""Saving and loading a trained classifier as a plain ``.npz`` file (no pickle).

A model file holds only numeric and string arrays (``numpy.load(path, allow_pickle=False)`` reads
it).  :func:`load_model` reads only the entries below, each after checking that its ``.npy``
header fits the architecture and the bytes the member holds: loading never runs code and never
allocates more than the file contains.  Any other entry is refused.  Entries:

=====================  =====================================================================
``format``             ``"microgrid-mlp"`` (tells a model file from any other ``.npz``)
``format_version``     ``1``
``dims``               layer widths ``[n_inputs, hidden..., 1]``
``activations``        one activation name per layer (``"relu"``, ..., ``"sigmoid"``)
``W1, b1, W2, ...``    layer ``i``'s weights ``(dims[i], dims[i-1])`` and biases ``(dims[i],)``
``scaler``             ``"minmax"`` or ``"standard"``; its parameters as ``scaler.<name>``
``fill_values``        per-feature training medians, used for missing scores at prediction time
``feature_names``,     the names of the inputs and of the classes 0 and 1
``target_names``
``threshold``          probability at or above which class 1 is predicted
``microgrid_version``  the version that wrote the file
=====================  =====================================================================
"""

from __future__ import annotations

import math
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.npyio import NpzFile

from microgrid.app.budgets import format_bytes
from microgrid.data.preprocessing import SCALERS, Scaler, scaler_from_arrays
from microgrid.functional import get_activation
from microgrid.safety.atomic import atomic_file
from microgrid.safety.text import one_line, quote
from microgrid.vectorized import VectorizedMLP

__all__ = ["FORMAT", "FORMAT_VERSION", "MAX_MODEL_BYTES", "ModelFileError", "NonFiniteOutputError",
           "Classifier", "save_model", "load_model"]

FORMAT = "microgrid-mlp"
FORMAT_VERSION = 1
MAX_MODEL_BYTES = 2e9  #: bytes of arrays load_model reads by default (9-10000-10000-10000-1 takes 1.6 GB)


class ModelFileError(ValueError):
    """A file that is not a readable microgrid model (the message names the file and the problem)."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        super().__init__(f"{path}: {problem}")


class NonFiniteOutputError(ValueError):
    """The model's output for some row is NaN or infinite (finite numbers too large for float64)."""

    def __init__(self, row: int) -> None:
        self.row = row  # the first such row, counted from 0
        super().__init__(f"the model's outputs are not finite (first at row {row}, counting from 0): its "
                         "weights or scaler overflow float64 arithmetic")


@dataclass
class Classifier:
    """A trained network with its preprocessing: raw scores in, probability of class 1 out."""

    net: VectorizedMLP
    scaler: Scaler  # fitted on the training rows
    fill_values: np.ndarray
    feature_names: tuple[str, ...]
    target_names: tuple[str, ...]
    threshold: float = 0.5

    @property
    def n_features(self) -> int:
        return int(self.net.dims[0])

    def predict_proba(self, X_raw: np.ndarray) -> np.ndarray:
        """Probability of class 1 for raw rows (missing scores, NaN, take the training median);
        :class:`NonFiniteOutputError` (naming the first row) rather than a NaN."""
        X = np.asarray(X_raw, dtype=np.float64)
        X = np.where(np.isnan(X), self.fill_values, X)
        with np.errstate(all="ignore"):  # an overflow shows as a non-finite output, checked below
            proba = np.asarray(self.net.predict_proba(self.scaler.transform(X)), dtype=np.float64).reshape(-1)
        bad = ~np.isfinite(proba)
        if bad.any():
            raise NonFiniteOutputError(int(np.flatnonzero(bad)[0]))
        return proba


def save_model(path: str | Path, model: Classifier) -> None:
    """Write ``model`` to ``path`` (exactly that name; no suffix is added), all-or-nothing."""
    from microgrid import __version__

    arrays: dict[str, Any] = {  # entry -> array (Any: numpy.savez types its keywords so)
        "format": np.array(FORMAT),
        "format_version": np.array(FORMAT_VERSION),
        "dims": np.array(model.net.dims, dtype=np.int64),
        "activations": np.array(list(model.net.activations), dtype=str),
        "scaler": np.array(model.scaler.name),
        "fill_values": np.asarray(model.fill_values, dtype=np.float64),
        "feature_names": np.array(list(model.feature_names), dtype=str),
        "target_names": np.array(list(model.target_names), dtype=str),
        "threshold": np.array(float(model.threshold)),
        "microgrid_version": np.array(__version__),
    }
    for i, w in enumerate(model.net.get_weights()):  # W1, b1, W2, b2, ...
        arrays[f"{'Wb'[i % 2]}{i // 2 + 1}"] = np.asarray(w, dtype=np.float64)
    arrays.update({f"scaler.{name}": value for name, value in model.scaler.to_arrays().items()})
    with atomic_file(path, "wb") as f:  # all-or-nothing: a failed write leaves the old file
        np.savez(f, **arrays)  # uncompressed; no array here holds Python objects, so nothing is pickled


class _Archive:
    """The ``.npy`` members of a model ``.npz``, each read only after its header is checked against
    the bytes the zip says the member holds (zipfile never inflates a member past that size), and
    all sizes together against the limit before any is read."""

    def __init__(self, path: Path, npz: NpzFile, budget: float | None) -> None:
        assert npz.zip is not None  # np.load opened a zip archive
        self.path, self._npz, self._zip = path, npz, npz.zip
        self.members: dict[str, zipfile.ZipInfo] = {}
        for info in self._zip.infolist():
            if not info.filename.endswith(".npy"):
                raise ModelFileError(path, "not a microgrid model file (its member "
                                           f"{quote(info.filename)} is not a .npy array)")
            key = info.filename[: -len(".npy")]
            if key in self.members:
                raise ModelFileError(path, f"corrupt model file (more than one {quote(key)} entry)")
            self.members[key] = info
        total = sum(info.file_size for info in self.members.values())
        limit = MAX_MODEL_BYTES if budget is None else budget
        if total > limit:
            beyond = (f"the budget of {format_bytes(limit)}: raise --memory-budget" if budget is not None else
                      f"the limit of {format_bytes(limit)} for a model file (load_model's memory_budget)")
            raise ModelFileError(path, f"its arrays take {format_bytes(total)} uncompressed, more than "
                                       f"{beyond}")

    def _fail(self, key: str, exc: Exception) -> ModelFileError:  # the header or data did not read
        return ModelFileError(self.path, f"corrupt model file (entry {quote(key)}: "
                                         f"{one_line(str(exc), 400)})")

    def header(self, key: str) -> tuple[tuple[int, ...], np.dtype]:
        """The shape and dtype that entry ``key`` declares, checked against the member's size."""
        info = self.members[key]
        try:
            with self._zip.open(info) as f:
                version = np.lib.format.read_magic(f)
                read = _HEADER_READERS.get(version)
                if read is None:
                    raise ValueError(f".npy format version {version[0]}.{version[1]} is not supported")
                shape, _, dtype = read(f)
                offset = f.tell()
        except _ZIP_ERRORS as exc:
            raise self._fail(key, exc) from None
        if dtype.hasobject:
            raise ModelFileError(self.path, f"not a microgrid model file (entry {quote(key)} holds pickled "
                                            "Python objects, which are never loaded)")
        declared, held = math.prod(shape) * dtype.itemsize, info.file_size - offset
        if declared != held:
            raise ModelFileError(self.path, f"corrupt model file (entry {quote(key)} declares {declared} "
                                            f"bytes of data but holds {held}: shape {shape} of {dtype})")
        return tuple(shape), dtype

    def read(self, key: str) -> np.ndarray:
        """The array of entry ``key`` (call :meth:`header` first)."""
        try:
            return self._npz[key]
        except _ZIP_ERRORS as exc:
            raise self._fail(key, exc) from None

    def entry(self, key: str, kinds: str, ndim: int, what: str) -> np.ndarray:
        shape, dtype = self.header(key)
        if len(shape) != ndim or dtype.kind not in kinds:
            raise ModelFileError(self.path, f"entry {quote(key)} should be {what}, found {dtype} {shape}")
        return self.read(key)

    def text(self, key: str) -> str:
        return str(self.entry(key, "U", 0, "a text"))

    def texts(self, key: str) -> tuple[str, ...]:
        return tuple(str(s) for s in self.entry(key, "U", 1, "a list of texts"))

    def vector(self, key: str, what: str, n_inputs: int) -> np.ndarray:
        shape, dtype = self.header(key)
        if shape != (n_inputs,):
            raise ModelFileError(self.path, f"{what} have shape {shape}; the net has {n_inputs} inputs")
        if dtype.kind not in "iuf":
            raise ModelFileError(self.path, f"{what} must be numbers, found {dtype}")
        return self.read(key).astype(np.float64)


_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
# what reading a damaged or unusual zip member can raise (RuntimeError: an encrypted member;
# NotImplementedError: an unknown compression method)
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, ValueError, TypeError, RuntimeError)


def load_model(path: str | Path, memory_budget: float | None = None) -> Classifier:
    """Read a model written by :func:`save_model`; :class:`ModelFileError` for any part that does
    not fit the format, the architecture or the others, :class:`OSError` if the file cannot be read.
    The sizes the file declares are checked against ``memory_budget`` (bytes; ``None``:
    :data:`MAX_MODEL_BYTES`) before anything is read."""
    path = Path(path)
    mode = path.stat().st_mode
    if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode):  # opening a pipe would wait for a writer
        raise ModelFileError(path, "not a microgrid model file (a device or pipe, not a file)")
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic == b"\x93NUMPY":
        raise ModelFileError(path, "not a microgrid model file (one .npy array, not an .npz archive)")
    if magic[:4] != b"PK\x03\x04":  # neither an .npz (zip) nor an .npy file
        what = "pickled Python objects, which are never loaded" if magic[:1] == b"\x80" else "not NumPy data"
        raise ModelFileError(path, f"not a microgrid model file ({what}; expected a model.npz written by "
                                   "'microgrid train --out DIR')")
    try:
        npz = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as exc:
        raise ModelFileError(path, f"corrupt model file ({one_line(str(exc), 400)})") from None
    with npz:
        return _load(_Archive(path, npz, memory_budget))


def _load(archive: _Archive) -> Classifier:
    path = archive.path
    if "format" not in archive.members:
        raise ModelFileError(path, "not a microgrid model file (no 'format' entry; expected a model.npz "
                                   "written by 'microgrid train --out DIR')")
    tag = archive.text("format")
    if tag != FORMAT:
        raise ModelFileError(path, f"not a microgrid model file (format {quote(tag)})")
    required = ("format_version", "dims", "activations", "scaler", "fill_values", "feature_names",
                "target_names", "threshold")
    absent = [k for k in required if k not in archive.members]
    if absent:
        raise ModelFileError(path, f"incomplete model file: missing {', '.join(absent)}")
    version = float(archive.entry("format_version", "iu", 0, "a number"))
    if version != FORMAT_VERSION:
        raise ModelFileError(path, f"unsupported model format version {version:g} (this microgrid reads "
                                   f"version {FORMAT_VERSION})")
    dims = [int(d) for d in archive.entry("dims", "iu", 1, "a list of integers")]
    if len(dims) < 2 or min(dims) < 1:
        raise ModelFileError(path, f"bad architecture: dims {dims} (need >= 2 positive widths)")
    if dims[-1] != 1:
        raise ModelFileError(path, f"architecture {dims} has {dims[-1]} outputs; a binary classifier has 1")
    n_inputs, n_layers = dims[0], len(dims) - 1
    activations = archive.texts("activations")
    if len(activations) != n_layers:
        raise ModelFileError(path, f"{len(activations)} activations for {n_layers} layers")
    for name in activations:
        try:
            get_activation(name)
        except ValueError as exc:
            raise ModelFileError(path, str(exc)) from None
    if activations[-1] != "sigmoid":  # anything else would print "probabilities" outside [0, 1]
        raise ModelFileError(path, f"the output activation is {activations[-1]!r}; a classifier's output "
                                   "must be 'sigmoid' (a probability)")
    weights = _weights(archive, dims)
    feature_names, target_names = archive.texts("feature_names"), archive.texts("target_names")
    if len(feature_names) != n_inputs or len(target_names) != 2:
        raise ModelFileError(path, f"{len(feature_names)} feature names for {n_inputs} inputs, "
                                   f"{len(target_names)} class names for 2 classes")
    scaler, fill = _preprocessing(archive, n_inputs)
    threshold = float(archive.entry("threshold", "iuf", 0, "a number"))
    if not 0.0 < threshold < 1.0:
        raise ModelFileError(path, f"threshold {threshold} is not a probability strictly between 0 and 1")
    if "microgrid_version" in archive.members:  # optional, and only informative: checked, not kept
        archive.text("microgrid_version")
    known = {*required, "format", "microgrid_version", *(f"scaler.{k}" for k in scaler.to_arrays()),
             *(f"{c}{i}" for c in "Wb" for i in range(1, n_layers + 1))}
    unknown = sorted(k for k in archive.members if k not in known)
    if unknown:
        raise ModelFileError(path, f"unknown entry {quote(unknown[0])} (not part of a microgrid model file "
                                   f"version {FORMAT_VERSION})")
    net = VectorizedMLP(dims, activations=list(activations), seed=0)
    net.set_weights(weights)
    return Classifier(net=net, scaler=scaler, fill_values=fill, feature_names=feature_names,
                      target_names=target_names, threshold=threshold)


def _preprocessing(archive: _Archive, n_inputs: int) -> tuple[Scaler, np.ndarray]:
    scaler_name = archive.text("scaler")
    if scaler_name not in SCALERS:
        raise ModelFileError(archive.path, f"unknown scaler {quote(scaler_name)}")
    fill = archive.vector("fill_values", "fill_values", n_inputs)
    params = {key.split(".", 1)[1]: archive.vector(key, "scaler parameters", n_inputs)
              for key in archive.members if key.startswith("scaler.")}
    try:  # the scaler refuses parameters whose scale overflows, naming the feature
        scaler = scaler_from_arrays(scaler_name, params)
    except ValueError as exc:
        raise ModelFileError(archive.path, f"bad scaler parameters: {exc}") from None
    if not np.isfinite(fill).all():
        raise ModelFileError(archive.path, "fill_values must be finite numbers")
    return scaler, fill


def _weights(archive: _Archive, dims: list[int]) -> list[np.ndarray]:
    weights = []
    for i in range(1, len(dims)):
        for key, need in ((f"W{i}", (dims[i], dims[i - 1])), (f"b{i}", (dims[i],))):
            if key not in archive.members:
                raise ModelFileError(archive.path, f"missing {key} for architecture {dims}")
            shape, dtype = archive.header(key)
            if shape != need or dtype.kind != "f":
                raise ModelFileError(archive.path, f"{key} has shape {shape} ({dtype}); architecture {dims} "
                                                   f"needs float {need}")
            w = archive.read(key)
            if not np.isfinite(w).all():
                raise ModelFileError(archive.path, f"{key} contains NaN or infinite values")
            weights.append(w.astype(np.float64))
    return weights

