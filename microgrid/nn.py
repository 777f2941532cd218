"""A multilayer perceptron of scalar :class:`~microgrid.engine.Value` objects, and the initial
weights both networks draw.

Every weight is a leaf ``Value`` named after its place (``layers.0.neurons.3.w.7``); a neuron is
two nodes, ``z = dot(w, x, bias=b)`` and ``a = g(z)`` (none for ``"linear"``).  The NumPy twin,
:mod:`microgrid.vectorized`, exchanges weights as ``[W1 (n1, n0), b1 (n1,), W2, b2, ...]``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from microgrid.arrays import (
    check_dims,
    check_inputs,
    check_number,
    check_seed,
    check_size,
    check_weights,
    network_dims,
    real_array,
    unflatten,
)
from microgrid.engine import Value, as_values, dot, dot_values, no_grad, vsum
from microgrid.functional import (
    bce_with_logits,
    check_data,
    get_activation,
    get_loss,
    resolve_activations,
    uses_logits,
)
from microgrid.optim import Optimizer, batch_indices, check_loss, check_training_args, make_optimizer
from microgrid.trace import Program, trace

_sigmoid = get_activation("sigmoid").forward  # a linear output's probability: sigmoid(z)

__all__ = ["Module", "Neuron", "Layer", "MLP", "INITS", "initial_weights", "check_dims", "network_dims",
           "check_weights", "check_inputs", "check_data"]

#: how each init draws a layer's weights ``W`` of shape ``(fan_out, fan_in)`` from a NumPy generator
INITS: dict[str, Callable[[np.random.Generator, int, int], np.ndarray]] = {
    "uniform": lambda rng, n_out, n_in: rng.uniform(-1.0, 1.0, (n_out, n_in)),  # U(-1, 1), micrograd's
    # N(0, 1) scaled: std sqrt(2 / fan_in) keeps the variance through ReLUs (He)
    "he": lambda rng, n_out, n_in: rng.standard_normal((n_out, n_in)) * math.sqrt(2.0 / n_in),
    # std sqrt(2 / (fan_in + fan_out)) (Glorot)
    "xavier": lambda rng, n_out, n_in: rng.standard_normal((n_out, n_in)) * math.sqrt(2.0 / (n_in + n_out)),
    # std 1 / sqrt(fan_in), the classic tutorial's
    "scaled_normal": lambda rng, n_out, n_in: rng.standard_normal((n_out, n_in)) / math.sqrt(n_in),
}


def initial_weights(dims: Sequence[int], init: str = "uniform", seed: int = 0) -> list[np.ndarray]:
    """``[W1, b1, W2, b2, ...]`` for layer widths ``dims``: zero biases, and each ``W`` an
    ``(n_out, n_in)`` block drawn by :data:`INITS` from ``numpy.random.default_rng(seed)``, layer
    after layer."""
    dims = check_dims(dims)
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; choose from {', '.join(INITS)}")
    rng = np.random.default_rng(check_seed(seed))
    return [w for fan_in, fan_out in zip(dims[:-1], dims[1:])
            for w in (INITS[init](rng, fan_out, fan_in), np.zeros(fan_out))]


# -- modules ------------------------------------------------------------------------------------
class Module:
    """Anything with parameters in its attributes, as ``torch.nn.Module``: every ``Value``,
    ``Module`` and (nested) list or tuple of them, in attribute order, each parameter once."""

    def named_parameters(self) -> list[tuple[str, Value]]:
        """Every parameter under the first dotted name reaching it (``layers.0.neurons.3.w.7``)."""
        found: list[tuple[str, Value]] = []
        _collect(self, "", found, set())
        return found

    def parameters(self) -> list[Value]:
        return [p for _, p in self.named_parameters()]

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = 0.0


def _collect(item: object, name: str, found: list[tuple[str, Value]], seen: set[int]) -> None:
    """Append to ``found`` the parameters reachable from ``item`` (named from ``name``), each Value
    and Module whose id is not in ``seen`` visited once."""
    children: Iterable[tuple[object, object]]
    if isinstance(item, (Value, Module)):
        if id(item) in seen:
            return
        seen.add(id(item))
        if isinstance(item, Value):
            found.append((name, item))
            return
        children = getattr(item, "__dict__", {}).items()
    elif isinstance(item, (list, tuple)):
        children = enumerate(item)
    else:
        return
    for key, value in children:
        _collect(value, f"{name}.{key}" if name else str(key), found, seen)


class Neuron(Module):
    """``g(w . x + b)``: a dot node then an activation node; ``weights`` (``nin`` of them) and
    ``bias`` set the parameters, else they are drawn as for a one-neuron layer."""

    def __init__(self, nin: int, activation: str = "relu", *, weights: Sequence[float] | None = None,
                 bias: float = 0.0, init: str = "uniform", seed: int = 0) -> None:
        check_size(check_dims([nin, 1]), "Neuron", values=True)
        if weights is None:
            weights = initial_weights([nin, 1], init, seed)[0][0]
        w = real_array(weights, f"Neuron({nin}): weights")
        b = real_array(bias, f"Neuron({nin}): bias")
        if w.shape != (nin,) or b.shape != ():
            raise ValueError(f"Neuron({nin}): expected {nin} weights and one bias, got shapes {w.shape} and "
                             f"{b.shape}")
        if not (np.isfinite(w).all() and np.isfinite(b)):
            raise ValueError(f"Neuron({nin}): weights and bias must be finite, got {w.tolist()} and "
                             f"{float(b)}")
        self.nin, self.activation = nin, activation
        self._act = get_activation(activation)
        self.w = [Value(float(wi), f"w.{k}") for k, wi in enumerate(w)]
        self.b = Value(float(b), "b")

    def logit(self, x: Sequence[Value | float]) -> Value:
        """The pre-activation ``z = w . x + b`` (one node)."""
        return dot(self.w, x, bias=self.b)

    def __call__(self, x: Sequence[Value | float]) -> Value:
        """The activation ``g(z)`` of :meth:`logit` (two nodes; one for ``"linear"``)."""
        return self._act.scalar(self.logit(x))

    def __repr__(self) -> str:
        return f"Neuron({self.nin}, {self.activation!r})"


class Layer(Module):
    """``nout`` neurons sharing the inputs and the activation; ``W`` (nout, nin) and ``b`` (nout,)
    set the parameters, else they are drawn with ``init`` from ``seed``."""

    def __init__(self, nin: int, nout: int, activation: str = "relu", *, W: np.ndarray | None = None,
                 b: np.ndarray | None = None, init: str = "uniform", seed: int = 0) -> None:
        check_size(check_dims([nin, nout]), "Layer", values=True)
        if W is None:
            W = initial_weights([nin, nout], init, seed)[0]  # its biases are zeros
        W, b = check_weights([nin, nout], [W, np.zeros(nout) if b is None else b])
        self.nin, self.nout, self.activation = nin, nout, activation
        self.neurons = [Neuron(nin, activation, weights=W[j], bias=b[j]) for j in range(nout)]
        for name, p in self.named_parameters():
            p.label = name

    def _row(self, x: Sequence[Value | float]) -> Sequence[Value]:
        """The inputs as Values, lifted and checked once for all of the neurons."""
        xs = as_values(x)
        if len(xs) != self.nin:
            raise ValueError(f"{self!r} takes {self.nin} inputs, got {len(xs)}")
        return xs

    def logits(self, x: Sequence[Value | float]) -> list[Value]:
        """Every neuron's pre-activation ``z_j = w_j . x + b_j`` for the inputs ``x``."""
        xs = self._row(x)
        return [dot_values(n.w, xs, n.b) for n in self.neurons]

    def __call__(self, x: Sequence[Value | float]) -> list[Value]:
        """Every neuron's activation ``g(z_j)`` for the inputs ``x`` (two nodes each, as a Neuron's)."""
        xs = self._row(x)
        return [n._act.scalar(dot_values(n.w, xs, n.b)) for n in self.neurons]

    def __repr__(self) -> str:
        return f"Layer({self.nin}, {self.nout}, {self.activation!r})"


class MLP(Module):
    """A multilayer perceptron on Values: ``MLP(9, [15, 1])`` (or ``MLP([9, 15, 1])``) is 9
    inputs, 15 hidden, 1 output.

    ``activations``: one name per layer, one for every hidden layer, or None (ReLU).  The output
    is linear unless named, as in micrograd and PyTorch: ``model(x)`` is a score, for BCE a logit
    ``z``, and :meth:`loss` and :meth:`predict_proba` apply ``sigmoid(z)``.  ``init`` (a key of
    :data:`INITS`; micrograd's ``U(-1, 1)`` unless named) and ``seed`` draw the weights, as
    :class:`~microgrid.vectorized.VectorizedMLP`; ``microgrid train`` uses ``"he"``.
    """

    def __init__(self, nin: int | Sequence[int], nouts: Sequence[int] | None = None,
                 activations: str | Sequence[str] | None = None, init: str = "uniform",
                 seed: int = 0) -> None:
        self.dims = network_dims(nin, nouts, "MLP")
        check_size(self.dims, "MLP", values=True)
        self.activations = resolve_activations(activations, len(self.dims) - 1)
        weights = initial_weights(self.dims, init, seed)
        self.layers = [Layer(n_in, n_out, act, W=W, b=b) for n_in, n_out, act, W, b in zip(
            self.dims[:-1], self.dims[1:], self.activations, weights[::2], weights[1::2])]
        for name, p in self.named_parameters():
            p.label = name

    def __repr__(self) -> str:
        hidden = " -> ".join(f"{d} {a}" for d, a in zip(self.dims[1:], self.activations))
        return f"MLP({self.dims[0]} -> {hidden})"

    # -- forward ----------------------------------------------------------------------------
    def _inputs(self, x: Sequence[Value | float]) -> list[Value]:
        """One row as Values: a list, tuple or 1-D array of numbers or Values (not a dict, set or
        string, whose order or meaning is not that of a row; the first layer checks its length)."""
        if isinstance(x, np.ndarray):
            if x.ndim != 1:
                raise ValueError(f"one row of {self.dims[0]} inputs expected, got an array of shape "
                                 f"{x.shape}")
        elif not isinstance(x, (list, tuple)):
            raise TypeError(f"one row of {self.dims[0]} inputs expected (a list, tuple or 1-D array), got "
                            f"{type(x).__name__}")
        return [v if isinstance(v, Value) else Value(v) for v in x]

    def _hidden(self, x: Sequence[Value | float]) -> list[Value]:
        h = self._inputs(x)
        for layer in self.layers[:-1]:
            h = layer(h)
        return h

    def __call__(self, x: Sequence[Value | float]) -> Value | list[Value]:
        """Output activation(s) for one input row: a Value for one output, else a list."""
        out = self.layers[-1](self._hidden(x))
        return out[0] if len(out) == 1 else out

    def logits(self, x: Sequence[Value | float]) -> Value | list[Value]:
        """Output pre-activation(s) ``z`` for one input row (the logit: BCE's sigmoid's argument)."""
        out = self.layers[-1].logits(self._hidden(x))
        return out[0] if len(out) == 1 else out

    def _entry_losses(self, x: Sequence[Value | float], y: Sequence[Value | float], loss: str) -> list[Value]:
        """The loss of each output of one example; BCE on a linear or sigmoid output from the logits
        (:func:`~microgrid.functional.bce_with_logits`)."""
        from_logits = uses_logits(loss, self.activations[-1])
        h = self._hidden(x)
        outputs = self.layers[-1].logits(h) if from_logits else self.layers[-1](h)
        per_entry = bce_with_logits if from_logits else get_loss(loss).fn
        return [per_entry(o, t) for o, t in zip(outputs, y)]

    def loss(self, X: object, y: object, loss: str = "bce") -> Value:
        """The mean loss over the rows of ``X`` as one graph (a Value to call ``backward()`` on)."""
        X, Y = check_data(X, y, self.dims, loss)
        terms = [t for row, ys in zip(X.tolist(), Y.tolist()) for t in self._entry_losses(row, ys, loss)]
        return vsum(terms) / len(terms)

    def predict_proba(self, X: object) -> np.ndarray:
        """Output probabilities for the rows of ``X`` (nothing recorded): ``sigmoid(z)`` of a linear
        output ``z``, else the output itself; shape ``(m,)`` for one output, else ``(m, k)``."""
        X = check_inputs(X, self.dims[0])
        with no_grad():
            out = np.array([[o.data for o in self.layers[-1](self._hidden(row))] for row in X.tolist()],
                           dtype=np.float64).reshape(len(X), self.dims[-1])
        if self.activations[-1] == "linear":
            _sigmoid(out, out=out)
        return out[:, 0] if out.shape[1] == 1 else out

    def predict(self, X: object, threshold: float = 0.5) -> np.ndarray:
        """Class 1 where the probability is ``>= threshold``, else 0 (int array)."""
        threshold = check_number(threshold, "threshold", 0.0, 1.0, open_low=True, open_high=True)
        return (self.predict_proba(X) >= threshold).astype(np.int64)

    def example_loss(self, loss: str = "bce") -> Callable[[list[Value], list[Value]], Value]:
        """The loss of one example as a function of its inputs and targets (lists of Values), as
        :meth:`loss` adds it up for every row; with Values as targets it has no branch on them, so
        one trace of it serves every row (:meth:`compile`)."""
        get_loss(loss)  # an unknown loss fails here, not at the first call

        def example(x: list[Value], y: list[Value]) -> Value:
            terms = self._entry_losses(x, y, loss)
            return terms[0] if len(terms) == 1 else vsum(terms) / len(terms)
        return example

    def compile(self, loss: str = "bce") -> Program:
        """The mean ``loss`` over a batch as a traced program (:func:`microgrid.trace.trace`): the
        graph of one example, replayed over every row with NumPy.  Its ``loss_and_grads(X, Y)``
        gives the gradients in the order of :meth:`parameters` (:meth:`as_arrays` lays them out as
        ``[W1, b1, ...]``); its ``fit`` trains this network's Values."""
        get_loss(loss)  # an unknown loss fails here, not at the first call
        if loss == "bce" and not uses_logits(loss, self.activations[-1]):
            raise ValueError(f"bce on a {self.activations[-1]} output clamps the probability, a choice on "
                             "the data that one trace cannot follow: use a linear or sigmoid output, or mse "
                             "or hinge")
        return trace(self.example_loss(loss), np.zeros(self.dims[0]), np.zeros(self.dims[-1]),
                     params=self.parameters())

    def as_arrays(self, vector: Sequence[float] | np.ndarray) -> list[np.ndarray]:
        """A value per parameter, in the order of :meth:`parameters` (a traced gradient), as
        ``[W1 (n1, n0), b1 (n1,), W2, b2, ...]``."""
        return unflatten(np.asarray(vector, dtype=np.float64), self.dims)

    # -- weights as arrays --------------------------------------------------------------------
    def get_weights(self) -> list[np.ndarray]:
        """``[W1 (n1, n0), b1 (n1,), W2, b2, ...]`` as float64 arrays (copies)."""
        return self.as_arrays([p.data for p in self.parameters()])

    def get_grads(self) -> list[np.ndarray]:
        """The parameters' ``.grad`` in the layout of :meth:`get_weights`."""
        return self.as_arrays([p.grad for p in self.parameters()])

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Set every parameter from ``[W1, b1, ...]`` (ValueError naming the layer and shapes)."""
        weights = check_weights(self.dims, weights)
        rows = [np.column_stack([W, b]).ravel() for W, b in zip(weights[::2], weights[1::2])]
        for p, v in zip(self.parameters(), np.concatenate(rows).tolist()):
            p.data = v

    # -- training -----------------------------------------------------------------------------
    def fit(self, X: object, y: object, lr: float = 0.07, iters: int = 100,
            optimizer: str | Optimizer | None = None, batch_size: int | None = None, seed: int = 0,
            callback: Callable[[int, float], object] | None = None, loss: str = "bce",
            engine: str = "scalar") -> np.ndarray:
        """Train as :meth:`VectorizedMLP.fit <microgrid.vectorized.VectorizedMLP.fit>` (its
        arguments, the loss before each step): ``engine="scalar"`` builds the graph of every row at
        every iteration (slow), ``"traced"`` replays one traced example (:meth:`compile`)."""
        if engine not in ("scalar", "traced"):
            raise ValueError(f"engine must be 'scalar' or 'traced', got {engine!r}")
        X, Y = check_data(X, y, self.dims, loss)
        if engine == "traced":
            return self.compile(loss).fit(X, Y, lr=lr, iters=iters, optimizer=optimizer,
                                          batch_size=batch_size, seed=seed, callback=callback)
        batch = check_training_args(iters, batch_size, len(X), seed)
        opt = make_optimizer(optimizer, lr)
        params = self.parameters()
        batches = batch_indices(len(X), batch, seed) if batch else None
        history = np.empty(iters)
        for it in range(iters):
            rows = next(batches) if batches else slice(None)
            self.zero_grad()
            graph = self.loss(X[rows], Y[rows], loss)
            graph.backward()
            history[it] = check_loss(graph.data, it, opt.lr)
            if callback is not None:
                callback(it, graph.data)
            opt.step(params)  # the optimizer's Value form (one rule for both networks)
        return history
