"""Per-example losses, for a :class:`~microgrid.engine.Value` (the scalar graph) or an array (the
NumPy path), and their derivatives with respect to the network output for the NumPy path.

A network's loss is the mean of the per-example loss over every output entry (over the ``m``
rows for a one-output network).  Labels ``y`` are 0 or 1 for ``bce`` and ``hinge``.

* ``bce_with_logits(z, y)`` — binary cross-entropy of ``p = sigmoid(z)``, computed from the logit
  ``z``: ``-[y log p + (1 - y) log(1 - p)] = softplus(z) - y z``, which for ``y`` in {0, 1} is
  ``softplus(s z)`` with ``s = 1 - 2y``.  ``softplus`` never overflows, so the loss is finite and
  its derivative ``sigmoid(z) - y`` exact even for ``z = +-1000``.  Used whenever the output
  activation is a sigmoid.
* ``bce(p, y)`` — the same loss from a probability, for any other output activation: ``p`` is
  clamped to ``[PROB_EPS, 1 - PROB_EPS]`` (derivative 0 where the clamp acts) so ``log`` stays
  finite.
* ``mse(a, y) = (a - y)^2``
* ``hinge(a, y) = max(0, 1 - s a)`` with ``s = 2y - 1`` (labels 0/1 mapped to -1/+1).

The array functions accept ``out=`` to write into a preallocated buffer, and
:func:`check_data` checks a whole data set ``(X, y)`` against a network's widths and a loss's
label rule once, before training.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from microgrid.arrays import check_inputs, real_array
from microgrid.engine import Value

__all__ = [
    "PROB_EPS",
    "Loss",
    "LOSSES",
    "get_loss",
    "uses_logits",
    "softplus",
    "bce_with_logits",
    "bce",
    "bce_derivative",
    "mse",
    "mse_derivative",
    "hinge",
    "hinge_derivative",
    "check_data",
]

PROB_EPS = 1e-12  #: probabilities are clamped to [PROB_EPS, 1 - PROB_EPS] in the probability form of BCE


def _check_label(y: Any) -> float:
    if isinstance(y, Value):
        y = y.data
    if y not in (0, 1):
        raise ValueError(f"a binary label must be 0 or 1, got {y!r}")
    return float(y)


# -- binary cross-entropy from the logit ---------------------------------------------------------


def _array_labels(y: Any, output: Any, binary: bool, check: bool = True) -> np.ndarray:
    """``y`` as float64 of the output's shape (no silent broadcasting), 0/1 if ``binary``.

    ``check=False`` takes ``y`` as given: for training loops, whose labels were checked once.
    """
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
    """``softplus(z) - y z``: BCE of ``sigmoid(z)`` against labels ``y`` in {0, 1}.

    For a Value, one ``softplus`` node (of ``z`` for y = 0, of ``-z`` for y = 1).  For arrays,
    ``softplus((1 - 2y) z)``; ``signs`` may pass ``1 - 2y`` precomputed and ``work`` a scratch
    array (as training loops do, to allocate nothing).
    """
    if isinstance(z, Value):
        return z.softplus() if _check_label(y) == 0.0 else (-z).softplus()
    z = np.asarray(z, dtype=np.float64)
    if signs is None:
        signs = 1.0 - 2.0 * _array_labels(y, z, binary=True)
    out = np.multiply(signs, z, out=out)
    return softplus(out, out=out, work=work)


# -- binary cross-entropy from a probability -----------------------------------------------------


def _clamped(p: Value) -> Value:
    """``p`` itself inside [PROB_EPS, 1 - PROB_EPS]; outside, a constant at the bound (derivative 0)."""
    if p.data < PROB_EPS:
        return Value(PROB_EPS)
    if p.data > 1.0 - PROB_EPS:
        return Value(1.0 - PROB_EPS)
    return p


def bce(p: Any, y: Any, out: np.ndarray | None = None, check: bool = True) -> Any:
    """``-[y log p + (1 - y) log(1 - p)]`` with ``p`` clamped to ``[PROB_EPS, 1 - PROB_EPS]``."""
    if isinstance(p, Value):
        q = _clamped(p)
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
        return (1.0 - (2.0 * _check_label(y) - 1.0) * a).relu()
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
    """A per-example loss ``fn(output, y)`` and its array derivative ``d fn / d output``."""

    name: str
    fn: Callable[..., Any]
    derivative: Callable[..., np.ndarray]
    binary_labels: bool  # labels must be 0 or 1

    def __repr__(self) -> str:
        return f"Loss({self.name!r})"


LOSSES: dict[str, Loss] = {
    "bce": Loss("bce", bce, bce_derivative, binary_labels=True),
    "mse": Loss("mse", mse, mse_derivative, binary_labels=False),
    "hinge": Loss("hinge", hinge, hinge_derivative, binary_labels=True),
}


def get_loss(name: str) -> Loss:
    """The loss called ``name``; ValueError listing the valid names otherwise."""
    try:
        return LOSSES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown loss {name!r}; choose from {', '.join(LOSSES)}") from None


def uses_logits(loss: str, output_activation: str) -> bool:
    """True when the loss is computed from the output's logit: BCE on a sigmoid output."""
    return loss == "bce" and output_activation == "sigmoid"


def check_data(X: object, y: object, dims: Sequence[int], loss: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate inputs ``X`` (n, dims[0]) and targets ``y`` for ``loss``.

    Returns ``X`` as float64 ``(n, d)`` and the targets as float64 ``(n, k)``, ``k = dims[-1]``
    (a 1-D ``y`` is accepted for a one-output network).  ValueError says what is wrong.
    """
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
