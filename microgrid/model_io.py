"""Saving and loading a trained classifier as a plain ``.npz`` file (no pickle).

A model file holds only numeric and string arrays, so ``numpy.load(path, allow_pickle=False)``
reads it and loading can never run code.  Entries:

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

import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from microgrid.activations import get_activation
from microgrid.preprocessing import SCALERS, Scaler, scaler_from_arrays
from microgrid.vectorized import VectorizedMLP

__all__ = ["FORMAT", "FORMAT_VERSION", "ModelFileError", "Classifier", "save_model", "load_model"]

FORMAT = "microgrid-mlp"
FORMAT_VERSION = 1


class ModelFileError(ValueError):
    """A file that is not a readable microgrid model (the message names the file and the problem)."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        super().__init__(f"{path}: {problem}")


@dataclass
class Classifier:
    """A trained network with its preprocessing: raw scores in, probability of class 1 out."""

    net: VectorizedMLP
    scaler: Scaler  # fitted on the training rows
    fill_values: np.ndarray
    feature_names: tuple[str, ...]
    target_names: tuple[str, ...]
    threshold: float = 0.5
    info: dict[str, str] = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        """How many scores a row must have (the network's input width)."""
        return int(self.net.dims[0])

    def predict_proba(self, X_raw: np.ndarray) -> np.ndarray:
        """Probability of class 1 for raw rows (missing scores, NaN, take the training median)."""
        X = np.asarray(X_raw, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"the model takes {self.n_features} features per row, got shape {X.shape}")
        X = np.where(np.isnan(X), self.fill_values, X)
        return np.asarray(self.net.predict_proba(self.scaler.transform(X)), dtype=np.float64).reshape(-1)

    def predict(self, X_raw: np.ndarray) -> np.ndarray:
        """Class 1 where :meth:`predict_proba` is at or above ``threshold``, else 0."""
        return (self.predict_proba(X_raw) >= self.threshold).astype(np.int64)


def save_model(path: str | Path, model: Classifier) -> None:
    """Write ``model`` to ``path`` (exactly that name; no suffix is added)."""
    from microgrid import __version__

    arrays: dict[str, np.ndarray] = {
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
    weights = model.net.get_weights()
    for i in range(len(weights) // 2):
        arrays[f"W{i + 1}"] = np.asarray(weights[2 * i], dtype=np.float64)
        arrays[f"b{i + 1}"] = np.asarray(weights[2 * i + 1], dtype=np.float64)
    for name, value in model.scaler.to_arrays().items():
        arrays[f"scaler.{name}"] = value
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of the file, read eagerly, with file-level failures as ModelFileError."""
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic[:4] != b"PK\x03\x04" and magic != b"\x93NUMPY":  # neither an .npz (zip) nor an .npy file
        what = "pickled Python objects, which are never loaded" if magic[:1] == b"\x80" else "not NumPy data"
        raise ModelFileError(path, f"not a microgrid model file ({what}; expected a model.npz written by "
                                   "'microgrid train --out DIR')")
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ModelFileError(path, "not a microgrid model file (one .npy array, not an .npz archive)")
        with data:
            return {key: data[key] for key in data.files}
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise ModelFileError(path, f"corrupt model file ({exc})") from None
    except ModelFileError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc):
            raise ModelFileError(path, "not a microgrid model file (it holds pickled Python objects, "
                                       "which are never loaded)") from None
        raise ModelFileError(path, f"not a microgrid model file ({exc})") from None


def _number(arrays: dict[str, np.ndarray], key: str, path: Path, kinds: str = "iuf") -> float:
    value = arrays[key]
    if value.shape != () or value.dtype.kind not in kinds:
        raise ModelFileError(path, f"entry {key!r} should be a number, found {value.dtype} {value.shape}")
    return float(value)


def _text(arrays: dict[str, np.ndarray], key: str, path: Path) -> str:
    value = arrays[key]
    if value.ndim != 0 or value.dtype.kind != "U":
        raise ModelFileError(path, f"entry {key!r} should be a text, found {value.dtype} {value.shape}")
    return str(value)


def load_model(path: str | Path) -> Classifier:
    """Read a model written by :func:`save_model`, checking that every part fits together.

    Raises :class:`ModelFileError` for a missing tag, an unknown version, arrays whose shapes do
    not match the stated architecture, unknown activation or scaler names, or non-finite numbers;
    :class:`OSError` if the file cannot be opened.
    """
    path = Path(path)
    arrays = _read_npz(path)
    if "format" not in arrays:
        raise ModelFileError(path, "not a microgrid model file (no 'format' entry; expected a model.npz "
                                   "written by 'microgrid train --out DIR')")
    if _text(arrays, "format", path) != FORMAT:
        raise ModelFileError(path, f"not a microgrid model file (format {str(arrays['format'])!r})")
    required = ("format_version", "dims", "activations", "scaler", "fill_values", "feature_names",
                "target_names", "threshold")
    absent = [k for k in required if k not in arrays]
    if absent:
        raise ModelFileError(path, f"incomplete model file: missing {', '.join(absent)}")
    version = _number(arrays, "format_version", path, kinds="iu")
    if version != FORMAT_VERSION:
        raise ModelFileError(path, f"unsupported model format version {version:g} (this microgrid reads "
                                   f"version {FORMAT_VERSION})")
    dims = arrays["dims"]
    if dims.ndim != 1 or dims.dtype.kind not in "iu" or len(dims) < 2 or (dims < 1).any():
        raise ModelFileError(path, f"bad architecture: dims {dims.tolist()} (need >= 2 positive widths)")
    dims_list = [int(d) for d in dims]
    if dims_list[-1] != 1:
        raise ModelFileError(path, f"architecture {dims_list} has {dims_list[-1]} outputs; a binary "
                                   "classifier has 1")
    n_layers = len(dims_list) - 1
    if arrays["activations"].ndim != 1 or arrays["activations"].dtype.kind != "U":
        raise ModelFileError(path, "entry 'activations' should be a list of texts, found "
                                   f"{arrays['activations'].dtype} {arrays['activations'].shape}")
    activations = [str(a) for a in arrays["activations"]]
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
    weights: list[np.ndarray] = []
    for i in range(1, n_layers + 1):
        for key, shape in ((f"W{i}", (dims_list[i], dims_list[i - 1])), (f"b{i}", (dims_list[i],))):
            if key not in arrays:
                raise ModelFileError(path, f"missing {key} for architecture {dims_list}")
            w = arrays[key]
            if w.shape != shape or w.dtype.kind != "f":
                raise ModelFileError(path, f"{key} has shape {w.shape} ({w.dtype}); architecture {dims_list} "
                                           f"needs float {shape}")
            if not np.isfinite(w).all():
                raise ModelFileError(path, f"{key} contains NaN or infinite values")
            weights.append(w.astype(np.float64))
    extra = sorted(k for k in arrays if k[:1] in "Wb" and k[1:].isdigit() and int(k[1:]) > n_layers)
    if extra:
        raise ModelFileError(path, f"weights {', '.join(extra)} do not fit architecture {dims_list}")
    scaler_name = _text(arrays, "scaler", path)
    if scaler_name not in SCALERS:
        raise ModelFileError(path, f"unknown scaler {scaler_name!r}")
    params = {k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith("scaler.")}
    try:
        scaler = scaler_from_arrays(scaler_name, params)
    except ValueError as exc:
        raise ModelFileError(path, f"bad scaler parameters: {exc}") from None
    fill = arrays["fill_values"]
    for what, arr in (("scaler parameters", scaler.shift_), ("fill_values", fill)):
        if arr.shape != (dims_list[0],):
            raise ModelFileError(path, f"{what} have shape {arr.shape}; the net has {dims_list[0]} inputs")
    if fill.dtype.kind != "f" or not np.isfinite(fill).all():
        raise ModelFileError(path, "fill_values must be finite numbers")
    for key in ("feature_names", "target_names"):
        if arrays[key].ndim != 1 or arrays[key].dtype.kind != "U":
            raise ModelFileError(path, f"entry {key!r} should be a list of texts")
    feature_names = tuple(str(s) for s in arrays["feature_names"])
    target_names = tuple(str(s) for s in arrays["target_names"])
    if len(feature_names) != dims_list[0] or len(target_names) != 2:
        raise ModelFileError(path, f"{len(feature_names)} feature names for {dims_list[0]} inputs, "
                                   f"{len(target_names)} class names for 2 classes")
    threshold = _number(arrays, "threshold", path)
    if not 0.0 < threshold < 1.0:
        raise ModelFileError(path, f"threshold {threshold} is not a probability strictly between 0 and 1")
    net = VectorizedMLP(dims_list, activations=activations, seed=0)
    net.set_weights(weights)
    info = {"microgrid_version": str(arrays["microgrid_version"])} if "microgrid_version" in arrays else {}
    return Classifier(net=net, scaler=scaler, fill_values=fill.astype(np.float64),
                      feature_names=feature_names, target_names=target_names, threshold=threshold, info=info)
