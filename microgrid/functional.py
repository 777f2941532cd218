"""The activation and loss tables of both networks (:mod:`microgrid.nn`, :mod:`~.vectorized`).

Each function works on a :class:`~microgrid.engine.Value` and on arrays (writing into ``out`` when
given); array derivatives take ``z`` and ``a = g(z)``, with ``relu'(0) = 0`` and
``leaky_relu'(0) = alpha`` as in the engine.  A label may be a Value (a traced target,
:mod:`microgrid.trace`): ``bce_with_logits`` and ``hinge`` then build one graph, no branch on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from microgrid.arrays import check_inputs, real_array
from microgrid.engine import Value
from microgrid.safety.text import quote

__all__ = ["Activation", "ACTIVATIONS", "LEAKY_ALPHA", "get_activation", "resolve_activations",
           "PROB_EPS", "Loss", "LOSSES", "get_loss", "uses_logits", "softplus", "bce_with_logits", "bce",
           "bce_derivative", "mse", "mse_derivative", "hinge", "hinge_derivative", "check_data"]

LEAKY_ALPHA = 0.01  #: slope of leaky_relu for z < 0

@dataclass(frozen=True)
class Activation:
    name: str
    scalar: Callable[[Value], Value] = field(repr=False)  # one node (none for "linear")
    forward: Callable[..., np.ndarray] = field(repr=False)  # (z, out=None) -> g(z)
    derivative: Callable[..., np.ndarray] = field(repr=False)  # (z, a, out=None) -> g'(z)


# -- relu: g(z) = max(z, 0);  g'(z) = 1 if z > 0 else 0 -----------------------------------------
# (The constant may be an array of z's shape: NumPy's loop over two arrays is faster than over an
# array and a scalar, and a training loop keeps both arrays.)
def _relu(z: np.ndarray, out: np.ndarray | None = None, zeros: Any = 0.0) -> np.ndarray:
    return np.maximum(z, zeros, out=out)


def _relu_derivative(z: np.ndarray, a: np.ndarray, out: np.ndarray | None = None, ones: Any = 1.0
                     ) -> np.ndarray:
    # ceil(min(a, 1)) from a = relu(z) >= 0: 1 where z > 0, else 0, in two float loops (a comparison
    # would cast bool to float through a buffer allocated at every call)
    out = np.minimum(a, ones, out=out)
    return np.ceil(out, out=out)


# -- leaky_relu: g(z) = z if z > 0 else alpha z;  g'(z) = 1 if z > 0 else alpha -----------------
def _leaky_relu(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    out = np.multiply(z, LEAKY_ALPHA, out=out)
    return np.maximum(z, out, out=out)  # max(z, alpha z) for 0 < alpha < 1


def _leaky_relu_derivative(z: np.ndarray, a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    out = np.sign(z, out=out)
    np.maximum(out, 0.0, out=out)  # 1 where z > 0, else 0
    out *= 1.0 - LEAKY_ALPHA
    out += LEAKY_ALPHA
    return out


# -- tanh: g'(z) = 1 - tanh(z)^2 = 1 - a^2 ------------------------------------------------------
def _tanh_derivative(z: np.ndarray, a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    out = np.multiply(a, a, out=out)
    return np.subtract(1.0, out, out=out)


# -- sigmoid: g(z) = 1 / (1 + e^-z);  g'(z) = sigma(z) sigma(-z) --------------------------------
# 1/(1 + e^-z) keeps full relative accuracy for negative z; for z < -709 e^-z overflows to inf and
# 1/(1 + inf) = 0 is the correctly rounded limit, so the overflow is not reported.

def _sigmoid(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    out = np.negative(z, out=out)
    with np.errstate(over="ignore"):
        np.exp(out, out=out)
    out += 1.0
    return np.reciprocal(out, out=out)


def _sigmoid_derivative(z: np.ndarray, a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    # sigma(z) sigma(-z) rather than a (1 - a): no cancellation when a is close to 1 (as the engine)
    out = _sigmoid(np.negative(z, out=out), out=out)
    out *= a
    return out


# -- linear: g(z) = z;  g'(z) = 1 -----------------------------------------------------------------
def _linear_derivative(z: np.ndarray, a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    out = np.empty(np.shape(z)) if out is None else out
    out.fill(1.0)
    return out


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("relu", Value.relu, _relu, _relu_derivative),
        Activation("leaky_relu", lambda v: v.leaky_relu(LEAKY_ALPHA), _leaky_relu, _leaky_relu_derivative),
        Activation("tanh", Value.tanh, np.tanh, _tanh_derivative),
        Activation("sigmoid", Value.sigmoid, _sigmoid, _sigmoid_derivative),
        # no node on a Value (the neuron's dot node is its output); np.positive copies an array
        Activation("linear", lambda v: v, np.positive, _linear_derivative),
    )
}


def get_activation(name: str) -> Activation:
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown activation {quote(name)}; choose from {', '.join(ACTIVATIONS)}") from None


def resolve_activations(activations: str | Sequence[str] | None, n_layers: int) -> list[str]:
    """One activation name per layer: ``None`` is ReLU on the hidden layers and a linear output (a
    score, or a logit for BCE, as micrograd and PyTorch), one name is that on the hidden layers
    (checked even if there is none) and a linear output; else exactly one known name each."""
    if activations is None or isinstance(activations, str):
        hidden = "relu" if activations is None else activations
        get_activation(hidden)  # checked even when there is no hidden layer to use it
        names = [hidden] * (n_layers - 1) + ["linear"]
    elif not isinstance(activations, Iterable):
        kind = type(activations).__name__
        raise TypeError(f"activations must be a name or a sequence of names, got {kind}")
    else:
        names = list(activations)
        if len(names) != n_layers:
            raise ValueError(f"{len(names)} activations given for {n_layers} layers: {names}")
    for name in names:
        get_activation(name)
    return names


# == losses =======================================================================================
PROB_EPS = 1e-12  #: probabilities are clamped to [PROB_EPS, 1 - PROB_EPS] in the probability form of BCE


def _check_label(y: Any) -> float:
    if isinstance(y, Value):
        y = y.data
    if y not in (0, 1):
        raise ValueError(f"a binary label must be 0 or 1, got {y!r}")
    return float(y)


# -- binary cross-entropy from the logit ---------------------------------------------------------
def _array_labels(y: Any, output: Any, binary: bool, check: bool = True) -> np.ndarray:
    """``y`` as float64 of the output's shape (no silent broadcasting), 0/1 if ``binary``; as given
    with ``check=False`` (training loops, whose labels were checked once)."""
    y = np.asarray(y, dtype=np.float64)
    if not check:
        return y
    if y.shape != np.shape(output):
        raise ValueError(f"labels have shape {y.shape} but the outputs {np.shape(output)}")
    if binary and not ((y == 0.0) | (y == 1.0)).all():
        bad = y[(y != 0.0) & (y != 1.0)][0]
        raise ValueError(f"labels must be 0 or 1, got {float(bad)!r}")
    return y


def softplus(t: np.ndarray, out: np.ndarray | None = None, work: np.ndarray | None = None) -> np.ndarray:
    """``log(1 + e^t) = max(t, 0) + log1p(e^-|t|)`` elementwise: never overflows, and keeps full
    relative accuracy where the result is tiny (``t`` very negative).  ``work`` is scratch space
    of ``t``'s shape (allocated if not given)."""
    work = np.abs(t, out=work)
    np.negative(work, out=work)
    np.exp(work, out=work)
    np.log1p(work, out=work)
    out = np.maximum(t, 0.0, out=out)
    out += work
    return out


def bce_with_logits(z: Any, y: Any, out: np.ndarray | None = None, signs: np.ndarray | None = None,
                    work: np.ndarray | None = None) -> Any:
    """``softplus(z) - y z = softplus((1 - 2y) z)``: BCE of ``sigmoid(z)`` against labels ``y`` in
    {0, 1}; one ``softplus`` node on a Value (of ``(1 - 2y) z`` for a Value label).  ``signs`` may
    pass ``1 - 2y`` precomputed and ``work`` a scratch array (training loops allocate nothing)."""
    if isinstance(z, Value):
        if isinstance(y, Value):
            return ((1.0 - 2.0 * y) * z).softplus()
        return z.softplus() if _check_label(y) == 0.0 else (-z).softplus()
    z = np.asarray(z, dtype=np.float64)
    if signs is None:
        signs = 1.0 - 2.0 * _array_labels(y, z, binary=True)
    out = np.multiply(signs, z, out=out)
    return softplus(out, out=out, work=work)


# -- binary cross-entropy from a probability -----------------------------------------------------
def bce(p: Any, y: Any, out: np.ndarray | None = None, check: bool = True) -> Any:
    """``-[y log p + (1 - y) log(1 - p)]`` with ``p`` clamped to ``[PROB_EPS, 1 - PROB_EPS]``."""
    if isinstance(p, Value):  # outside the clamp, a constant at the bound (derivative 0)
        q = Value(PROB_EPS) if p.data < PROB_EPS else Value(1.0 - PROB_EPS) if p.data > 1.0 - PROB_EPS else p
        return -(q.log() if _check_label(y) == 1.0 else (1.0 - q).log())
    y = _array_labels(y, p, binary=True, check=check)
    pc = np.clip(p, PROB_EPS, 1.0 - PROB_EPS)
    out = np.multiply(y, np.log(pc), out=out)
    out += (1.0 - y) * np.log(1.0 - pc)  # log(1 - p) as the scalar graph computes it
    return np.negative(out, out=out)


def bce_derivative(p: np.ndarray, y: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``d bce / d p = (p - y) / (p (1 - p))`` inside the clamp, 0 outside it."""
    p = np.asarray(p, dtype=np.float64)
    inside = (p >= PROB_EPS) & (p <= 1.0 - PROB_EPS)
    pc = np.clip(p, PROB_EPS, 1.0 - PROB_EPS)
    out = np.subtract(pc, y, out=out)
    out /= pc * (1.0 - pc)
    out *= inside
    return out


# -- mean squared error -------------------------------------------------------------------------
def mse(a: Any, y: Any, out: np.ndarray | None = None, check: bool = True) -> Any:
    """``(a - y)^2``."""
    if isinstance(a, Value):
        return (a - y) ** 2
    out = np.subtract(a, _array_labels(y, a, binary=False, check=check), out=out)
    return np.square(out, out=out)


def mse_derivative(a: np.ndarray, y: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``d mse / d a = 2 (a - y)``."""
    out = np.subtract(a, y, out=out)
    out *= 2.0
    return out


# -- hinge --------------------------------------------------------------------------------------
def hinge(a: Any, y: Any, out: np.ndarray | None = None, check: bool = True) -> Any:
    """``max(0, 1 - s a)`` with ``s = 2y - 1``: zero once the score has the label's sign with margin 1."""
    if isinstance(a, Value):
        return (1.0 - (2.0 * (y if isinstance(y, Value) else _check_label(y)) - 1.0) * a).relu()
    s = 2.0 * _array_labels(y, a, binary=True, check=check) - 1.0
    out = np.multiply(s, a, out=out)
    np.subtract(1.0, out, out=out)
    return np.maximum(out, 0.0, out=out)


def hinge_derivative(a: np.ndarray, y: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``d hinge / d a = -s`` where the margin ``1 - s a`` is positive, else 0 (0 at the kink, as relu)."""
    s = 2.0 * np.asarray(y, dtype=np.float64) - 1.0
    active = (1.0 - s * a) > 0.0
    out = np.negative(s, out=out)
    out *= active
    return out


# -- the table ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Loss:
    """A per-entry loss ``fn(output, y)`` (a network's is the mean over its output entries) and its
    array derivative ``d fn / d output``."""

    name: str
    fn: Callable[..., Any] = field(repr=False)
    derivative: Callable[..., np.ndarray] = field(repr=False)
    binary_labels: bool = field(repr=False)  # labels must be 0 or 1


LOSSES: dict[str, Loss] = {
    "bce": Loss("bce", bce, bce_derivative, binary_labels=True),
    "mse": Loss("mse", mse, mse_derivative, binary_labels=False),
    "hinge": Loss("hinge", hinge, hinge_derivative, binary_labels=True),
}


def get_loss(name: str) -> Loss:
    try:
        return LOSSES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown loss {name!r}; choose from {', '.join(LOSSES)}") from None


def uses_logits(loss: str, output_activation: str) -> bool:
    """True when the loss is computed from the output's logit ``z``: BCE on a sigmoid output, or
    on a linear one (whose output is the logit; its probability is ``sigmoid(z)``)."""
    return loss == "bce" and output_activation in ("sigmoid", "linear")


def check_data(X: object, y: object, dims: Sequence[int], loss: str) -> tuple[np.ndarray, np.ndarray]:
    """``X`` as float64 ``(n, dims[0])`` and the targets ``y`` for ``loss`` as float64 ``(n,
    dims[-1])`` (a 1-D ``y`` for one output); a ValueError says what is wrong."""
    spec = get_loss(loss)
    X = check_inputs(X, dims[0])
    Y = real_array(y, "y")
    n, n_out = X.shape[0], dims[-1]
    if Y.ndim == 1 and n_out == 1:
        Y = Y.reshape(-1, 1)
    if Y.ndim != 2 or Y.shape[1] != n_out:
        raise ValueError(f"y must have shape ({n},) or ({n}, {n_out}) for {n_out} output(s), got {Y.shape}")
    if Y.shape[0] != n:
        raise ValueError(f"X has {n} rows but y has {Y.shape[0]}")
    if spec.binary_labels:
        bad = (Y != 0.0) & (Y != 1.0)
        if bad.any():
            r = np.argwhere(bad)[0][0]
            value = f"{Y[r, 0]:g}" if Y.shape[1] == 1 else str(Y[r].tolist())
            raise ValueError(f"labels must be 0 or 1 for the {loss} loss; y[{r}] is {value}")
    elif not np.isfinite(Y).all():
        raise ValueError("y contains NaN or infinite values")
    return X, Y
