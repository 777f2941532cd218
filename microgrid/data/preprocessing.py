"""Feature scaling fit on training rows only (nothing about the test rows leaks into training;
the parameters save as plain arrays, :meth:`Scaler.to_arrays`), and reproducible train/test splits
(index arrays; random ones drawn from ``numpy.random.default_rng(seed)``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from microgrid.arrays import check_seed, real_array

__all__ = ["Scaler", "MinMaxScaler", "StandardScaler", "SCALERS", "make_scaler", "scaler_from_arrays",
           "tutorial_split", "stratified_split", "stratified_kfold"]


class Scaler:
    """An affine per-feature map ``x -> (x - shift) / scale`` whose parameters come from :meth:`fit`."""

    name = ""
    _param_names: tuple[str, ...] = ()  # the parameters saved, e.g. ("min", "max")
    _params: tuple[np.ndarray, ...] = ()  # in the order of _param_names, once fitted
    shift_: np.ndarray | None = None
    scale_: np.ndarray | None = None
    _fit_params: Callable[[np.ndarray], None]  # from the training rows
    _set_params: Callable[[np.ndarray, np.ndarray], None]  # from values fitted or saved, checked

    def _matrix(self, X: np.ndarray, what: str) -> np.ndarray:
        """``X`` as a float64 (rows, features) array; unless ``what`` is fit, as wide as the fit."""
        where, shift = f"{type(self).__name__}.{what}", None if what == "fit" else self.shift_
        if what != "fit" and shift is None:
            raise ValueError(f"{where}: call fit() first")
        X = real_array(X, f"{where}: X")
        if X.ndim != 2:
            raise ValueError(f"{where}: expected a 2-D array (rows, features), got shape {X.shape}")
        if shift is not None and X.shape[1] != len(shift):
            raise ValueError(f"{where}: fitted on {len(shift)} features, got {X.shape[1]}")
        return X

    def fit(self, X: np.ndarray) -> Scaler:
        """Learn the parameters from the training rows ``X`` (n, d); returns ``self``."""
        X = self._matrix(X, "fit")
        if X.shape[0] == 0:
            raise ValueError(f"{type(self).__name__}.fit: no rows to fit on")
        if not np.isfinite(X).all():
            raise ValueError(f"{type(self).__name__}.fit: X has NaN or infinite values; "
                             "drop or impute missing values first")
        self._fit_params(X)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """``(X - shift) / scale`` with the fitted parameters."""
        X = self._matrix(X, "transform")
        return (X - self.shift_) / self.scale_

    def fit_transform(self, X: np.ndarray) -> np.ndarray:
        return self.fit(X).transform(X)

    def inverse_transform(self, Z: np.ndarray) -> np.ndarray:
        """Undo :meth:`transform`: ``Z * scale + shift``."""
        Z = self._matrix(Z, "inverse_transform")
        return Z * self.scale_ + self.shift_

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The fitted parameters as float64 arrays (for ``numpy.savez``)."""
        if not self._params:
            raise ValueError(f"{type(self).__name__}.to_arrays: call fit() first")
        return {name: np.array(p, dtype=np.float64) for name, p in zip(self._param_names, self._params)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Scaler:
        """Rebuild a fitted scaler from :meth:`to_arrays` output (ValueError if it is not one)."""
        missing = [n for n in cls._param_names if n not in arrays]
        if missing:
            raise ValueError(f"{cls.__name__}: missing parameter(s) {', '.join(missing)}")
        params = [np.asarray(arrays[n], dtype=np.float64) for n in cls._param_names]
        shapes = {p.shape for p in params}
        if len(shapes) != 1 or params[0].ndim != 1 or not all(np.isfinite(p).all() for p in params):
            raise ValueError(f"{cls.__name__}: parameters must be finite 1-D arrays of one length, "
                             f"got shapes {[p.shape for p in params]}")
        scaler = cls()
        scaler._set_params(*params)
        return scaler

    def _keep(self, params: tuple[np.ndarray, ...], shift: np.ndarray, spread: np.ndarray, what: str) -> None:
        """Keep ``params`` and map ``x -> (x - shift) / spread`` (a spread of 0 counts as 1); ValueError
        naming the first feature (counted from 0) whose ``spread`` (``what``) is not finite."""
        bad = np.flatnonzero(~np.isfinite(spread))
        if bad.size:
            j = int(bad[0])
            raise ValueError(f"{type(self).__name__}: for feature {j}, {what} ({spread[j]:g}) overflows "
                             "float64 (values too large to scale)")
        self._params = params
        self.shift_, self.scale_ = shift, np.where(spread > 0, spread, 1.0)


class MinMaxScaler(Scaler):
    """Map each feature's training range ``[min, max]`` to ``[0, 1]``: ``(x - min) / (max - min)``;
    a feature constant on the training rows is only shifted (its range counts as 1)."""

    name = "minmax"
    _param_names = ("min", "max")

    def _fit_params(self, X: np.ndarray) -> None:
        self._set_params(X.min(axis=0), X.max(axis=0))

    def _set_params(self, lo: np.ndarray, hi: np.ndarray) -> None:
        if (hi < lo).any():
            raise ValueError("MinMaxScaler: max is below min for some feature")
        with np.errstate(over="ignore"):
            span = hi - lo
        self._keep((lo, hi), lo, span, "the range max - min")


class StandardScaler(Scaler):
    """Centre each feature on its training mean and divide by its training standard deviation
    (population form, ``ddof=0``): ``(x - mean) / std``; a constant feature keeps ``std = 1``."""

    name = "standard"
    _param_names = ("mean", "std")

    def _fit_params(self, X: np.ndarray) -> None:
        # a column of one repeated value is constant even where its mean and std round (0.1 repeated
        # has a computed std of ~1e-17): take the value itself and std 0, so it maps to exactly 0
        constant = (X == X[:1]).all(axis=0)
        with np.errstate(over="ignore", invalid="ignore"):
            mean, std = X.mean(axis=0), X.std(axis=0)
        self._set_params(np.where(constant, X[0], mean), np.where(constant, 0.0, std))

    def _set_params(self, mean: np.ndarray, std: np.ndarray) -> None:
        if (std < 0).any():
            raise ValueError("StandardScaler: std must be non-negative")
        self._keep((mean, std), mean, std, "the standard deviation")  # inf too when the mean overflows


SCALERS: dict[str, type[Scaler]] = {"minmax": MinMaxScaler, "standard": StandardScaler}


def make_scaler(name: str) -> Scaler:
    """A new, unfitted scaler by name (``"minmax"`` or ``"standard"``)."""
    if name not in SCALERS:
        raise ValueError(f"unknown scaler {name!r}; choose from {', '.join(SCALERS)}")
    return SCALERS[name]()


def scaler_from_arrays(name: str, arrays: dict[str, np.ndarray]) -> Scaler:
    """A fitted scaler of kind ``name`` from saved parameters."""
    return type(make_scaler(name)).from_arrays(arrays)


# ---- splits --------------------------------------------------------------------------------

TUTORIAL_TRAIN_ROWS = 500
TUTORIAL_TEST_START = 501


def tutorial_split(n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """The classic tutorial's split, in file order: rows 0–499 train, rows 501 to the end test
    (its ``[0:500]`` and ``[501:683]`` of the 683 complete rows; row 500 is in neither)."""
    if isinstance(n_rows, bool) or not isinstance(n_rows, (int, np.integer)):
        raise TypeError(f"n_rows must be an integer, got {type(n_rows).__name__}: {n_rows!r}")
    if n_rows <= TUTORIAL_TEST_START:
        raise ValueError(f"the tutorial split needs more than {TUTORIAL_TEST_START} rows "
                         f"(train 0-{TUTORIAL_TRAIN_ROWS - 1}, test {TUTORIAL_TEST_START}-...), "
                         f"got {n_rows}; use a stratified split for smaller data")
    return np.arange(TUTORIAL_TRAIN_ROWS), np.arange(TUTORIAL_TEST_START, n_rows)


def _labels(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {y.shape}")
    if y.size == 0:
        raise ValueError("labels are empty: there are no rows to split")
    if y.dtype.kind == "f" and np.isnan(y).any():
        raise ValueError(f"labels contain NaN (first at row {int(np.flatnonzero(np.isnan(y))[0])})")
    return y


def stratified_split(y: np.ndarray, test_size: float = 0.25, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Sorted ``(train_idx, test_idx)`` keeping each class's share in both parts: from each class of
    ``n_c`` rows, ``round(test_size * n_c)`` (at least 1, at most ``n_c - 1``) drawn for the test set."""
    y = _labels(y)
    if not (isinstance(test_size, (int, float, np.floating)) and 0.0 < test_size < 1.0):
        raise ValueError(f"test_size must be a fraction strictly between 0 and 1, got {test_size!r}")
    rng = np.random.default_rng(check_seed(seed))
    test_parts = []
    for cls in np.unique(y):
        members = np.flatnonzero(y == cls)
        if len(members) < 2:
            raise ValueError(f"class {cls.item()!r} has {len(members)} row; a stratified split needs "
                             "at least 2 per class")
        n_test = min(max(int(round(test_size * len(members))), 1), len(members) - 1)
        test_parts.append(rng.permutation(members)[:n_test])
    test = np.sort(np.concatenate(test_parts))
    return np.setdiff1d(np.arange(len(y)), test), test


def stratified_kfold(y: np.ndarray, k: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` folds (sorted ``(train_idx, test_idx)`` each) whose class shares match the whole, each row
    tested once: each class's rows shuffled, the classes laid end to end, row ``i`` of that sequence to
    fold ``i mod k``; so a fold has within one row of ``n_c / k`` of each class and of ``n / k`` in all."""
    y = _labels(y)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
        raise ValueError(f"k-fold cross-validation needs an integer k >= 2, got {k!r}")
    if len(y) < k:
        raise ValueError(f"cannot make {k} folds of {len(y)} rows")
    classes, counts = np.unique(y, return_counts=True)
    if counts.min() < k:
        small = classes[np.argmin(counts)].item()
        raise ValueError(f"class {small!r} has only {counts.min()} rows: cannot make {k} folds that each "
                         "contain every class")
    rng = np.random.default_rng(check_seed(seed))
    order = np.concatenate([rng.permutation(np.flatnonzero(y == c)) for c in classes])
    fold_of = np.empty(len(y), dtype=np.int64)
    fold_of[order] = np.arange(len(y)) % k
    return [(np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)) for f in range(k)]
