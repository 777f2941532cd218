"""Optimizers, one update rule each, for both networks: on Values as in PyTorch
(``opt = SGD(model.parameters(), lr=0.1)``, then ``opt.zero_grad()``, ``loss.backward()``,
``opt.step()``), or on lists of float64 arrays (``SGD(lr=0.1).step(params, grads)``, in place).
The Value form gathers ``.data`` and ``.grad`` into arrays and runs the same rule, so both agree
bit for bit; the state (velocities, moments) is allocated on the first step.  Also here: the
mini-batch schedule and the divergence error of both training loops.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np

from microgrid.arrays import check_int, check_number, check_seed
from microgrid.engine import Value

__all__ = ["Optimizer", "SGD", "Adam", "OPTIMIZERS", "make_optimizer", "TrainingDiverged", "check_loss",
           "check_training_args", "batch_indices"]

OPTIMIZERS = ("gd", "momentum", "adam")  #: names accepted by :func:`make_optimizer`


def _value_params(params: object, who: str) -> list[Value]:
    """``params`` as a list of distinct Values (what ``model.parameters()`` returns)."""
    if isinstance(params, numbers.Number):
        raise TypeError(f"{who}'s first argument is the parameters, e.g. {who}(model.parameters(), "
                        f"lr={params!r}); for the array form give the learning rate by name: "
                        f"{who}(lr={params!r})")
    if isinstance(params, (Value, np.ndarray, str, bytes)) or not isinstance(params, Iterable):
        raise TypeError(f"{who} takes an iterable of Values (e.g. model.parameters()), "
                        f"got {type(params).__name__}")
    values = list(params)
    others = sorted({type(p).__name__ for p in values if not isinstance(p, Value)})
    if others:
        raise TypeError(f"{who} takes Values (e.g. model.parameters()), "
                        f"got a list holding {', '.join(others)}")
    if not values:
        raise ValueError(f"{who} got an empty list of parameters")
    if len({id(p) for p in values}) != len(values):
        raise ValueError(f"{who} got the same parameter more than once (it would be updated twice per step)")
    return values


class Optimizer:
    """Base class: ``Optimizer(params, lr)`` on Values, ``Optimizer(lr=lr)`` on arrays."""

    def __init__(self, params: Iterable[Value] | None, lr: float) -> None:
        self.params = None if params is None else _value_params(params, type(self).__name__)
        self.lr = check_number(lr, "learning rate", 0.0, open_low=True)
        self._shapes: list[tuple[int, ...]] | None = None

    def reset(self) -> None:
        """Forget the state (velocities, moments, step count)."""
        self._shapes = None

    def _values(self) -> list[Value]:
        if self.params is None:
            who = type(self).__name__
            raise TypeError(f"this {who} holds no Values: build it as {who}(model.parameters(), lr=...) "
                            f"to call step() and zero_grad(), or call step(params, grads) with arrays")
        return self.params

    def zero_grad(self) -> None:
        """Set every parameter's ``.grad`` to 0 (before the next ``backward()``)."""
        for p in self._values():
            p.grad = 0.0

    def step(self, params: Sequence[np.ndarray] | Iterable[Value] | None = None,
             grads: Sequence[np.ndarray] | None = None) -> None:
        """One update.  ``step()``: on the Values given at construction, from their ``.grad``
        (``step(values)``: on these Values); ``step(params, grads)``: on float64 arrays, in place."""
        if grads is not None:
            self.updater(params, grads)()  # type: ignore[arg-type]
            return
        values = self._values() if params is None else _value_params(params, type(self).__name__)
        data = np.fromiter((p.data for p in values), np.float64, len(values))
        grad = np.fromiter((p.grad for p in values), np.float64, len(values))
        self.updater([data], [grad])()
        for p, x in zip(values, data.tolist()):
            p.data = x

    def updater(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray]) -> Callable[[], None]:
        """Check the arrays once (setting up the state for new ones) and return the update that steps
        ``params`` from ``grads`` in place, checking and allocating nothing."""
        for what, arrays in (("params", params), ("grads", grads)):
            if not isinstance(arrays, (list, tuple)):  # a bare array would be iterated row by row
                raise TypeError(f"{what} must be a list of NumPy arrays (updated in place), "
                                f"got {type(arrays).__name__}")
            others = ", ".join(sorted({type(a).__name__ for a in arrays if not isinstance(a, np.ndarray)}))
            if others:
                raise TypeError(f"{what} must be a list of NumPy arrays, got a list holding {others}")
        if len(params) != len(grads):
            raise ValueError(f"{len(params)} parameter arrays but {len(grads)} gradient arrays")
        for i, (p, g) in enumerate(zip(params, grads)):
            if p.shape != g.shape:
                raise ValueError(f"parameter {i} has shape {p.shape} but its gradient {g.shape}")
            if p.dtype != np.float64:
                raise ValueError(f"parameter {i} must be a float64 array, got {p.dtype}")
        shapes = [p.shape for p in params]
        if self._shapes is None:
            self._shapes = shapes
            self._start(params)
        elif shapes != self._shapes:
            raise ValueError(f"this optimizer was started on parameters of shapes {self._shapes}, "
                             f"now given {shapes}; use a new optimizer (or reset()) for other parameters")
        return functools.partial(self._step, params, grads)

    def _start(self, params: Sequence[np.ndarray]) -> None:  # pragma: no cover
        raise NotImplementedError  # allocate the state for parameters of these shapes

    def _step(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray]) -> None:  # pragma: no cover
        raise NotImplementedError  # the update, on arrays updater() has checked


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum and weight decay.

    ``g <- g + wd p``; ``v <- mu v + g`` (``v = g`` at the first step); ``p <- p - lr v``.  This is
    ``torch.optim.SGD(params, lr, momentum, dampening=0, weight_decay, nesterov=False)``: the same
    operations in the same order (PyTorch fuses some of them, so the two agree to rounding)."""

    def __init__(self, params: Iterable[Value] | None = None, lr: float = 0.01, momentum: float = 0.0,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        self.momentum = check_number(momentum, "momentum", 0.0, 1.0, open_high=True)
        self.weight_decay = check_number(weight_decay, "weight decay", 0.0)
        self._velocity: list[np.ndarray] = []
        self._scratch: list[np.ndarray] = []

    def __repr__(self) -> str:
        return f"SGD(lr={self.lr}, momentum={self.momentum}, weight_decay={self.weight_decay})"

    def _start(self, params: Sequence[np.ndarray]) -> None:
        self._velocity = [np.zeros_like(p) for p in params] if self.momentum else []
        self._scratch = [np.empty_like(p) for p in params]

    def _step(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray]) -> None:
        lr, mu, wd = self.lr, self.momentum, self.weight_decay
        for i, (p, g) in enumerate(zip(params, grads)):
            d, buf = g, self._scratch[i]
            if wd:
                np.multiply(p, wd, out=buf)
                buf += d
                d = buf  # g + wd p
            if mu:
                v = self._velocity[i]
                v *= mu
                v += d
                d = v  # mu v + g
            np.multiply(d, lr, out=buf)
            p -= buf


class Adam(Optimizer):
    """Adam with bias-corrected moments and optional (L2) weight decay.

    ``g <- g + wd p``; ``m <- b1 m + (1 - b1) g``; ``v <- b2 v + (1 - b2) g^2``;
    ``p <- p - (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)`` at step ``t = 1, 2, ...``.
    This is ``torch.optim.Adam(params, lr, betas, eps, weight_decay, amsgrad=False)`` — eps added
    after the square root — with its operations in the same order (``m`` moves by ``(1 - b1)(g - m)``,
    as ``torch.lerp`` does), so the two agree to rounding."""

    def __init__(self, params: Iterable[Value] | None = None, lr: float = 0.001,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"betas must be a pair (b1, b2), got {betas!r}")
        self.betas = (check_number(betas[0], "beta1", 0.0, 1.0, open_high=True),
                      check_number(betas[1], "beta2", 0.0, 1.0, open_high=True))
        self.eps = check_number(eps, "eps", 0.0)
        self.weight_decay = check_number(weight_decay, "weight decay", 0.0)
        self.t = 0
        self._m: list[np.ndarray] = []
        self._v: list[np.ndarray] = []
        self._scratch: list[tuple[np.ndarray, np.ndarray]] = []

    def __repr__(self) -> str:
        return f"Adam(lr={self.lr}, betas={self.betas}, eps={self.eps}, weight_decay={self.weight_decay})"

    def reset(self) -> None:
        super().reset()
        self.t = 0

    def _start(self, params: Sequence[np.ndarray]) -> None:
        self._m = [np.zeros_like(p) for p in params]
        self._v = [np.zeros_like(p) for p in params]
        self._scratch = [(np.empty_like(p), np.empty_like(p)) for p in params]

    def _step(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray]) -> None:
        self.t += 1
        b1, b2 = self.betas
        step_size = self.lr / (1.0 - b1**self.t)  # lr / bias correction 1
        root_c2 = math.sqrt(1.0 - b2**self.t)  # sqrt(bias correction 2)
        for p, g, m, v, (s1, s2) in zip(params, grads, self._m, self._v, self._scratch):
            d = g
            if self.weight_decay:
                np.multiply(p, self.weight_decay, out=s1)
                np.add(g, s1, out=s1)
                d = s1  # g + wd p
            np.subtract(d, m, out=s2)
            s2 *= 1.0 - b1
            m += s2  # m = b1 m + (1 - b1) g, as m + (1 - b1)(g - m)
            v *= b2
            np.multiply(d, 1.0 - b2, out=s2)
            s2 *= d
            v += s2  # v = b2 v + (1 - b2) g^2
            np.sqrt(v, out=s2)
            s2 /= root_c2
            s2 += self.eps  # sqrt(v_hat) + eps
            np.multiply(m, step_size, out=s1)
            s1 /= s2
            p -= s1  # lr m_hat / (sqrt(v_hat) + eps)


def make_optimizer(optimizer: str | Optimizer | None, lr: float) -> Optimizer:
    """An optimizer from a name (``None``/``"gd"``, ``"momentum"`` = SGD with momentum 0.9,
    ``"adam"``) and ``lr``; an :class:`Optimizer` is returned as is, with its own learning rate."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    if optimizer in (None, "gd", "momentum"):
        return SGD(lr=lr, momentum=0.9 if optimizer == "momentum" else 0.0)
    if optimizer == "adam":
        return Adam(lr=lr)
    raise ValueError(f"unknown optimizer {optimizer!r}; choose from {', '.join(OPTIMIZERS)} "
                     "or pass an Optimizer")


# -- shared by both training loops ----------------------------------------------------------------
class TrainingDiverged(ValueError):
    """The loss became NaN or infinite at ``iteration`` (0-based; the message counts from 1)."""

    def __init__(self, message: str, iteration: int | None = None, loss: float | None = None,
                 network: int | None = None) -> None:
        super().__init__(message)
        self.iteration = iteration
        self.loss = loss
        self.network = network  # which of several networks trained together (fit_many), if any


def check_loss(loss: float, iteration: int, lr: float, network: int | None = None) -> float:
    """``loss`` if it is finite, else :class:`TrainingDiverged` (naming ``network`` if given)."""
    if not math.isfinite(loss):
        who = "" if network is None else f"network {network}: "
        raise TrainingDiverged(f"{who}training diverged: the loss became {loss} at iteration "
                               f"{iteration + 1}; try a smaller learning rate (lr is {lr:g})",
                               iteration, loss, network=network)
    return loss


def check_training_args(iters: int, batch_size: int | None, n_rows: int, seed: int = 0) -> int | None:
    """Validate ``iters``, ``batch_size`` and ``seed``; returns the batch size, or None for full batch."""
    check_seed(seed)
    check_int(iters, "iters", 0)
    if batch_size is None:
        return None
    batch = check_int(batch_size, "batch_size", 1)
    return None if batch >= n_rows else batch


def batch_indices(n_rows: int, batch_size: int, seed: int = 0) -> Iterator[np.ndarray]:
    """Row indices of successive mini-batches, without end: each epoch visits every row once, in
    an order drawn from ``numpy.random.default_rng(seed)`` (its last batch may be shorter)."""
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(n_rows)
        for start in range(0, n_rows, batch_size):
            yield order[start : start + batch_size]
