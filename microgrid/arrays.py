"""The checks every library module runs on user input (TypeError for a wrong type, ValueError for
a wrong value, each saying what is wrong), and the central differences the gradient checks share.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from microgrid.engine import Value, to_float

__all__ = ["real_array", "check_number", "check_int", "check_seed", "check_dims", "network_dims",
           "check_size", "MAX_PARAMETERS", "MAX_VALUE_PARAMETERS", "layer_blocks", "unflatten",
           "check_weights", "check_inputs", "finite_point", "evaluate", "central_differences"]

#: the most parameters a :class:`~microgrid.vectorized.VectorizedMLP` may have: its float64
#: weights then take 2 GB, and training holds about six float64 per parameter (12 GB)
MAX_PARAMETERS = 250_000_000
#: the most parameters of a network of Values (``MLP``, ``Layer``, ``Neuron``): each parameter is a
#: Value of about 260 bytes (2.6 GB)
MAX_VALUE_PARAMETERS = 10_000_000


def real_array(x: object, what: str) -> np.ndarray:
    """``x`` as a new float64 array; ValueError naming ``what`` for text, complex or non-numbers
    (which ``np.asarray(x, dtype=np.float64)`` would parse, cut to their real part with a mere
    warning, or let raise ``OverflowError``: huge integers)."""
    try:
        a = np.asarray(x)
    except ValueError as exc:  # e.g. ragged nested lists
        raise ValueError(f"{what} must be an array of numbers ({exc})") from None
    if a.dtype.kind in "USV":
        raise ValueError(f"{what} must be numbers, got text ({a.dtype})")
    if a.dtype.kind == "c":
        raise ValueError(f"{what} must be real numbers, got complex values")
    if a.dtype.kind == "O":
        odd = next((v for v in a.flat if isinstance(v, (str, bytes, complex))), None)
        if odd is not None:
            raise ValueError(f"{what} must be real numbers, got {type(odd).__name__} {odd!r}")
    try:
        return a.astype(np.float64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{what} must be an array of numbers ({exc})") from None


def check_number(x: object, what: str, low: float = -math.inf, high: float = math.inf, *,
                 open_low: bool = False, open_high: bool = False) -> float:
    """``x`` as a float: TypeError unless it is a real number (a bool is not), ValueError unless it
    is finite and within ``[low, high]`` (a bound excluded where open)."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, numbers.Real):
        raise TypeError(f"{what} must be a number, got {type(x).__name__} {x!r:.60}")
    v = to_float(x)  # an int beyond float range is inf
    above, below = (v > low if open_low else v >= low), (v < high if open_high else v <= high)
    if not (math.isfinite(v) and above and below):
        if (low, high, open_low) == (0.0, math.inf, True):
            rule = "positive and finite"
        elif (low, high) == (0.0, math.inf):
            rule = "non-negative and finite"
        elif open_low and open_high:
            rule = f"strictly between {low:g} and {high:g}"
        else:
            rule = f"in {'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}"
        raise ValueError(f"{what} must be {rule}, got {v}")
    return v


def check_int(x: object, what: str, low: int = 0) -> int:
    """``x`` as an int: TypeError unless it is an integer (a bool is not), ValueError below ``low``."""
    rule = {0: "a non-negative integer", 1: "a positive integer"}.get(low, f"an integer >= {low}")
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, numbers.Integral):
        raise TypeError(f"{what} must be {rule}, got {x!r:.60}")
    if x < low:
        raise ValueError(f"{what} must be {rule}, got {x!r}")
    return int(x)


def check_seed(seed: object) -> int:
    """``seed`` if it is a non-negative integer (``None`` is refused: a run must be repeatable)."""
    return check_int(seed, "seed", 0)


def check_dims(dims: Sequence[int]) -> list[int]:
    """``dims`` as a list of positive ints with at least an input and an output width."""
    dims = list(dims)
    if len(dims) < 2:
        raise ValueError(f"dims must list at least the input and output widths, got {dims}")
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, numbers.Integral):
            raise TypeError(f"layer widths must be positive integers, got {dims}")
        if d < 1:
            raise ValueError(f"layer widths must be positive integers, got {dims}")
    return [int(d) for d in dims]


def network_dims(nin: int | Sequence[int], nouts: Sequence[int] | None, who: str) -> list[int]:
    """The layer widths from either constructor shape: ``(9, [15, 1])`` or ``([9, 15, 1])``."""
    if nouts is None:
        if isinstance(nin, numbers.Integral):
            raise ValueError(f"nouts is the list of layer widths after the inputs, e.g. "
                             f"{who}({nin}, [15, 1]) (or all widths in one list: {who}([{nin}, 15, 1])); "
                             f"got None")
        if isinstance(nin, (str, bytes)) or not isinstance(nin, Iterable):
            raise ValueError(f"{who} takes the input width and the layer widths, e.g. {who}(9, [15, 1]), "
                             f"or all widths in one list, {who}([9, 15, 1]); got {nin!r}")
        return check_dims(nin)
    if isinstance(nouts, (numbers.Number, str, bytes)) or not isinstance(nouts, Iterable):
        raise ValueError(f"nouts is the list of layer widths after the inputs, e.g. [15, 1]; got {nouts!r}")
    if not isinstance(nin, numbers.Integral) or isinstance(nin, bool):
        raise ValueError(f"with nouts given, the first argument is the number of inputs (an int), "
                         f"got {nin!r}; give the widths once: {who}(9, [15, 1]) or {who}([9, 15, 1])")
    return check_dims([int(nin), *nouts])


def check_size(dims: Sequence[int], who: str, values: bool = False) -> int:
    """The number of parameters of a network of widths ``dims``; ValueError if it is more than
    :data:`MAX_PARAMETERS` (:data:`MAX_VALUE_PARAMETERS` for a network of ``values``)."""
    n = sum((d_in + 1) * d_out for d_in, d_out in zip(dims[:-1], dims[1:]))
    name = "MAX_VALUE_PARAMETERS" if values else "MAX_PARAMETERS"
    limit = MAX_VALUE_PARAMETERS if values else MAX_PARAMETERS
    if n > limit:
        raise ValueError(f"{who} of widths {list(dims)} would have {n:,} parameters, more than the limit of "
                         f"{limit:,} (microgrid.arrays.{name})")
    return n


def layer_blocks(flat: np.ndarray, dims: Sequence[int], K: int = 1) -> list[np.ndarray]:
    """Views of ``flat`` as each layer's blocks ``[W_l | b_l]``, ``(d_l, d_{l-1} + 1)`` for one
    network, else ``(K, d_l, d_{l-1} + 1)`` (layer after layer; in a layer, network after network)."""
    blocks, start = [], 0
    for d_in, d_out in zip(dims[:-1], dims[1:]):
        stop = start + K * d_out * (d_in + 1)
        blocks.append(flat[start:stop].reshape((K,) * (K > 1) + (d_out, d_in + 1)))
        start = stop
    return blocks


def unflatten(flat: np.ndarray, dims: Sequence[int]) -> list[np.ndarray]:
    """``[W1 (n1, n0), b1 (n1,), W2, b2, ...]`` (copies) from ``flat`` laid out as
    :func:`layer_blocks` lays out one network."""
    return [np.array(g, order="C") for P in layer_blocks(flat, dims) for g in (P[:, :-1], P[:, -1])]


def check_weights(dims: Sequence[int], weights: Sequence[np.ndarray]) -> list[np.ndarray]:
    """``[W1, b1, ...]`` checked against ``dims``, as float64 copies (ValueError naming the layer)."""
    n_layers = len(dims) - 1
    if not isinstance(weights, (list, tuple)):
        raise ValueError(f"weights must be a list [W1, b1, ..., W{n_layers}, b{n_layers}], got "
                         f"{type(weights).__name__}")
    if len(weights) != 2 * n_layers:
        raise ValueError(f"expected {2 * n_layers} arrays [W1, b1, ..., W{n_layers}, b{n_layers}] for "
                         f"dims {list(dims)}, got {len(weights)}")
    out = []
    for i, w in enumerate(weights):
        layer, kind = i // 2 + 1, "Wb"[i % 2]
        expected = (dims[layer], dims[layer - 1]) if kind == "W" else (dims[layer],)
        arr = real_array(w, f"layer {layer}: {kind}{layer}")
        if arr.shape != expected:
            raise ValueError(f"layer {layer}: {kind}{layer} must have shape {expected} for dims "
                             f"{list(dims)}, got {arr.shape}")
        if not np.isfinite(arr).all():
            raise ValueError(f"layer {layer}: {kind}{layer} contains NaN or infinite values")
        out.append(arr)
    return out


def check_inputs(X: object, n_inputs: int) -> np.ndarray:
    """``X`` as a finite float64 ``(n, n_inputs)`` array with at least one row, else ValueError."""
    X = real_array(X, "X")
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D array (rows, features), got shape {X.shape}")
    if X.shape[1] != n_inputs:
        raise ValueError(f"X has {X.shape[1]} columns but the network takes {n_inputs} inputs")
    if X.shape[0] == 0:
        raise ValueError("X has no rows")
    bad = ~np.isfinite(X)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise ValueError(f"X contains NaN or infinite values (first at row {r}, column {c}); "
                         "drop or impute missing values first")
    return X


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


def evaluate(f: Callable[..., Value], args: Sequence[Value], who: str = "") -> Value:
    """``f(*args)``; TypeError (naming ``who`` and ``f``) unless it returns a Value."""
    out = f(*args)
    if not isinstance(out, Value):
        name = getattr(f, "__name__", type(f).__name__)
        prefix = f"{who}: " if who else ""
        raise TypeError(f"{prefix}f ({name}) must return a Value, got {type(out).__name__}")
    return out


def central_differences(f: Callable[[np.ndarray], Any], x: np.ndarray, eps: float) -> np.ndarray:
    """``(f(x + eps e_i) - f(x - eps e_i)) / (2 eps)`` for every entry ``i`` of the float64 array
    ``x``: shape ``x.shape`` followed by the shape of ``f``'s value.  The entries of ``x`` itself
    are nudged one at a time (``f`` reads ``x``) and restored exactly."""
    out = []
    for i in np.ndindex(x.shape):
        saved = x[i]
        x[i] = saved + eps
        up = np.asarray(f(x), dtype=np.float64)
        x[i] = saved - eps
        down = np.asarray(f(x), dtype=np.float64)
        x[i] = saved
        out.append((up - down) / (2.0 * eps))
    return np.array(out).reshape(x.shape + np.shape(out[0]))
