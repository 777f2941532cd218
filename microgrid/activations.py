"""Activation functions: one table shared by the scalar graph (:mod:`microgrid.nn`) and the NumPy
fast path (:mod:`microgrid.vectorized`).

Each :class:`Activation` holds the same function three ways:

* ``scalar(v)``  — on a :class:`~microgrid.engine.Value`: one engine node (the engine records its
  local derivative), or no node at all for ``"linear"``;
* ``forward(z, out=None)``  — elementwise ``a = g(z)`` on an array;
* ``derivative(z, a, out=None)``  — elementwise ``g'(z)``, given both the pre-activation ``z`` and
  ``a = g(z)`` (whichever gives the cheaper or more accurate formula).

The array forms write into ``out`` when it is given (no allocation: the training loop reuses its
buffers) and return it.  Conventions at the kinks match the engine: ``relu'(0) = 0`` and
``leaky_relu'(0) = alpha``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from microgrid.engine import Value
from microgrid.safety.text import quote

__all__ = ["Activation", "ACTIVATIONS", "LEAKY_ALPHA", "get_activation", "resolve_activations"]

LEAKY_ALPHA = 0.01  #: slope of leaky_relu for z < 0

ArrayFn = Callable[..., np.ndarray]


@dataclass(frozen=True)
class Activation:
    """An activation function ``g`` with its scalar form, array form and array derivative."""

    name: str
    scalar: Callable[[Value], Value]
    forward: ArrayFn  # (z, out=None) -> g(z)
    derivative: ArrayFn  # (z, a, out=None) -> g'(z)

    def __repr__(self) -> str:
        return f"Activation({self.name!r})"


def _buffer(z: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    return np.empty(np.shape(z), dtype=np.float64) if out is None else out


# -- relu: g(z) = max(z, 0);  g'(z) = 1 if z > 0 else 0 -----------------------------------------


def _relu(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    out = _buffer(z, out)
    if np.may_share_memory(z, out):
        return np.maximum(z, 0.0, out=out)
    # max(z, 0) against an array of zeros: NumPy's vectorized loop for two arrays is ~2x faster
    # than its loop for an array and a scalar
    out.fill(0.0)
    return np.maximum(z, out, out=out)


def _relu_derivative(z: np.ndarray, a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    # sign(a) with a = relu(z) >= 0: 1 where z > 0, else 0 (computed in float64 throughout:
    # a comparison would need a bool -> float cast, which allocates a buffer on every call)
    return np.sign(a, out=_buffer(z, out))


# -- leaky_relu: g(z) = z if z > 0 else alpha z;  g'(z) = 1 if z > 0 else alpha -----------------


def _leaky_relu(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    out = np.multiply(z, LEAKY_ALPHA, out=_buffer(z, out))
    return np.maximum(z, out, out=out)  # max(z, alpha z) for 0 < alpha < 1


def _leaky_relu_derivative(z: np.ndarray, a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    out = np.sign(z, out=_buffer(z, out))
    np.maximum(out, 0.0, out=out)  # 1 where z > 0, else 0
    out *= 1.0 - LEAKY_ALPHA
    out += LEAKY_ALPHA
    return out


# -- tanh: g'(z) = 1 - tanh(z)^2 = 1 - a^2 ------------------------------------------------------


def _tanh(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return np.tanh(z, out=_buffer(z, out))


def _tanh_derivative(z: np.ndarray, a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    out = np.multiply(a, a, out=_buffer(z, out))
    return np.subtract(1.0, out, out=out)


# -- sigmoid: g(z) = 1 / (1 + e^-z);  g'(z) = sigma(z) sigma(-z) --------------------------------
# 1/(1 + e^-z) keeps full relative accuracy for negative z (no 1 - x cancellation).  For
# z < -709, e^-z overflows to inf and 1/(1 + inf) = 0: the correctly rounded limit, so the
# overflow is expected and not reported.


def _sigmoid(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    out = np.negative(z, out=_buffer(z, out))
    with np.errstate(over="ignore"):
        np.exp(out, out=out)
    out += 1.0
    return np.reciprocal(out, out=out)


def _sigmoid_derivative(z: np.ndarray, a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    # sigma(z) sigma(-z) rather than a (1 - a): no cancellation when a is close to 1 (as the engine)
    out = _sigmoid(np.negative(z, out=_buffer(z, out)), out=out)
    out *= a
    return out


# -- linear: g(z) = z;  g'(z) = 1 -----------------------------------------------------------------


def _identity(v: Value) -> Value:
    return v  # no node: the neuron's dot node is its output


def _linear(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    out = _buffer(z, out)
    np.copyto(out, z)
    return out


def _linear_derivative(z: np.ndarray, a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    out = _buffer(z, out)
    out.fill(1.0)
    return out


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("relu", Value.relu, _relu, _relu_derivative),
        Activation("leaky_relu", lambda v: v.leaky_relu(LEAKY_ALPHA), _leaky_relu, _leaky_relu_derivative),
        Activation("tanh", Value.tanh, _tanh, _tanh_derivative),
        Activation("sigmoid", Value.sigmoid, _sigmoid, _sigmoid_derivative),
        Activation("linear", _identity, _linear, _linear_derivative),
    )
}


def get_activation(name: str) -> Activation:
    """The activation called ``name``; ValueError listing the valid names otherwise."""
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown activation {quote(name)}; choose from {', '.join(ACTIVATIONS)}") from None


def resolve_activations(activations: str | Sequence[str] | None, n_layers: int) -> list[str]:
    """One activation name per layer.

    ``None``: ReLU on every hidden layer and a sigmoid output.  A single name: that activation on
    the hidden layers, still a sigmoid output (and checked, even for a network with no hidden
    layer).  A sequence: exactly one name per layer.  Every name must be known (ValueError).
    """
    if activations is None or isinstance(activations, str):
        hidden = "relu" if activations is None else activations
        get_activation(hidden)  # checked even when there is no hidden layer to use it
        names = [hidden] * (n_layers - 1) + ["sigmoid"]
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
