"""The MLP of :mod:`microgrid.nn` in NumPy, with a hand-derived backward pass (no autograd).

Samples are rows: ``X`` is ``(m, d)``.  For layers ``l = 1..L`` with weights ``W_l``
``(d_l, d_{l-1})``, biases ``b_l`` and activations ``g_l``, and ``A_0 = X``::

    Z_l = A_{l-1} W_l^T + b_l          A_l = g_l(Z_l)            Y_hat = A_L

and, backwards from the mean loss ``L`` over the ``N`` output entries (``N = m`` for one output)::

    dZ_L = (sigmoid(Z_L) - Y) / N               BCE from the logit Z_L (sigmoid or linear output)
    dZ_L = loss'(A_L, Y) / N * g_L'(Z_L)        any other loss / output activation
    dW_l = dZ_l^T A_{l-1}     db_l = sum over rows of dZ_l
    dA_{l-1} = dZ_l W_l       dZ_{l-1} = dA_{l-1} * g_{l-1}'(Z_{l-1})

(``dX`` means ``dL/dX``; ``*`` is elementwise.)  ``docs/backprop.md`` derives each line.

Implementation, for speed (see ``benchmarks/bench_vectorized.py`` and ``docs/benchmarks.md``):

* the bias rides along in the matrix product: layer ``l`` keeps ``P_l = [W_l | b_l]``
  ``(d_l, d_{l-1} + 1)`` and multiplies the input with a column of ones, ``[A_{l-1} | 1]``, so
  ``Z_l = [A_{l-1} | 1] P_l^T`` and ``dP_l = [dW_l | db_l] = dZ_l^T [A_{l-1} | 1]`` in one call
  each; all ``P_l`` are views into one parameter vector, which the optimizer updates in one go;
* every ``(m, d)`` buffer is allocated once (per batch size) and stored column-major, so each
  elementwise operation is one contiguous loop; every operation writes into its buffer
  (``out=``): an iteration of full-batch training allocates nothing;
* BCE from the logit (the usual classifier) shares its work between the loss and the
  gradient.  With ``s = 1 - 2y`` (+1 for label 0, -1 for label 1) and ``t = s z``, the loss of
  an entry is ``softplus(t) = log(1 + u)`` with ``u = e^t``, and ``dL/dz = s sigmoid(t) / N =
  (s / N) / (1 + 1/u)``: one exponential serves both, and neither formula subtracts nearly
  equal numbers (``u = inf``, for ``t > 709``, gives the exact gradient; the loss is then
  recomputed in the overflow-free form ``max(t, 0) + log1p(e^-|t|)``);
* ReLU layers compare against a buffer of zeros (NumPy's loop for two arrays is faster than
  for an array and a scalar) and take ``relu'(z) = ceil(min(a, 1))`` from ``a = relu(z) >= 0``
  (1 where ``a > 0``, else 0: two fast loops, no bool-to-float conversion).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from microgrid.arrays import check_inputs, check_weights, network_dims
from microgrid.functional import (
    Activation,
    bce_with_logits,
    check_data,
    get_activation,
    get_loss,
    resolve_activations,
    uses_logits,
)
from microgrid.nn import MLP, initial_weights
from microgrid.optim import (
    Optimizer,
    TrainingDiverged,
    batch_indices,
    check_loss,
    check_training_args,
    make_optimizer,
)

__all__ = ["VectorizedMLP", "LossHistory", "TrainingDiverged"]

_ArrayFn = Callable[..., np.ndarray]
_sigmoid = get_activation("sigmoid").forward  # a linear output's probability: sigmoid(z)


def _column_major(m: int, d: int, fill: float | None = None) -> np.ndarray:
    """An ``(m, d)`` float64 array whose columns are contiguous (uninitialised unless ``fill``)."""
    a = np.empty((d, m)) if fill is None else np.full((d, m), fill)
    return a.T


def _flat(a: np.ndarray) -> np.ndarray:
    """A column-major ``(m, d)`` array as a 1-D view, column after column."""
    return a.T.reshape(-1)


class LossHistory(np.ndarray):
    """The losses :meth:`VectorizedMLP.fit` recorded: a float64 array whose entry ``j`` is the
    mean loss before the step of iteration ``iterations[j]`` (0-based).

    By default every iteration is recorded (``iterations`` is ``0, 1, ..., iters - 1``); with
    ``loss_every=k`` the iterations ``0, k, 2k, ...``.  Indexing returns plain arrays.
    """

    iterations: np.ndarray | None

    def __new__(cls, values: np.ndarray, iterations: np.ndarray) -> LossHistory:
        history = np.asarray(values, dtype=np.float64).view(cls)
        history.iterations = np.asarray(iterations, dtype=np.int64)
        return history

    def __array_finalize__(self, obj: object) -> None:
        # results of arithmetic keep the labels when they keep the length (h * 2, np.log(h))
        iterations = getattr(obj, "iterations", None)
        same = iterations is not None and self.shape == iterations.shape
        self.iterations = iterations if same else None

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]  # (plain arrays out)
        return np.asarray(self)[key]


class _Workspace:
    """The arrays of one forward + backward pass over ``m`` rows, allocated once.

    Lists are indexed by layer number ``l`` (entry 0 unused where a layer-0 value makes no sense):

    * ``A1s[l]`` ``(m, d_l + 1)`` = ``[A_l | 1]`` for ``l < L`` (``A1s[0]`` holds the batch ``X``),
    * ``A[l]`` the view ``A_l`` (without the ones; ``A[L]`` is the output ``Y_hat``),
    * ``Z[l]``, ``dZ[l]`` ``(m, d_l)``,
    * ``dA1s[l]`` ``(m, d_l + 1)`` = ``dL/d[A_l | 1]`` for ``0 < l < L`` and its view ``dA[l]``,
    * ``zeros[l]``, ``ones[l]`` ``(m, d_l)`` constants for ReLU layers (else None),
    * ``Y`` (targets), ``signs`` (``s = 1 - 2Y``), ``scaled_signs`` (``s / N``), ``U`` (``e^(s Z_L)``),
      ``softplus`` (``log(1 + U)``), ``work``, ``work2`` ``(m, d_L)``.

    ``np.dot`` writes only into row-major arrays, so products into a column-major ``C`` are
    computed as ``C^T = B^T A^T``; the ``...T`` lists hold those transposed (row-major) views.
    """

    def __init__(self, dims: Sequence[int], m: int, relu: Sequence[bool]) -> None:
        L = len(dims) - 1
        self.m = m
        self.n_entries = m * dims[-1]  # N: the loss is the mean over this many entries
        self.A1s: list[np.ndarray] = []
        for d in dims[:-1]:
            a1 = _column_major(m, d + 1)
            a1[:, d] = 1.0
            self.A1s.append(a1)
        self.A = [a1[:, :-1] for a1 in self.A1s] + [_column_major(m, dims[-1])]
        self.Z = [np.empty((m, 0))] + [_column_major(m, d) for d in dims[1:]]
        self.dZ = [np.empty((m, 0))] + [_column_major(m, d) for d in dims[1:]]
        self.dA1s = [np.empty((m, 0))] + [_column_major(m, d + 1) for d in dims[1:L]]
        self.dA = [a[:, :-1] for a in self.dA1s]
        self.A1sT = [a.T for a in self.A1s]
        self.ZT = [z.T for z in self.Z]
        self.dZT = [z.T for z in self.dZ]
        self.dA1sT = [a.T for a in self.dA1s]
        is_relu = [False, *relu[:-1]]  # hidden layers only (the output has its own code)
        none = np.empty((0, 0))  # (a layer that is not ReLU needs no constants)
        self.zeros = [_column_major(m, d, 0.0) if r else none for d, r in zip(dims, is_relu)]
        self.ones = [_column_major(m, d, 1.0) if r else none for d, r in zip(dims, is_relu)]
        k = dims[-1]
        self.Y, self.signs, self.scaled_signs = (_column_major(m, k) for _ in range(3))
        self.U, self.softplus, self.work, self.work2 = (_column_major(m, k) for _ in range(4))
        self.softplus_flat, self.U_flat = _flat(self.softplus), _flat(self.U)
        self.ones_N = np.ones(self.n_entries)

    def load(self, X: np.ndarray, Y: np.ndarray | None = None) -> None:
        """Copy a batch of rows (and their targets) into the buffers."""
        self.A[0][...] = X
        if Y is not None:
            self.Y[...] = Y
            np.multiply(Y, -2.0, out=self.signs)
            self.signs += 1.0
            np.multiply(self.signs, 1.0 / self.n_entries, out=self.scaled_signs)


class VectorizedMLP:
    """The MLP of :class:`microgrid.nn.MLP` on NumPy arrays: ``VectorizedMLP(9, [15, 1])`` (or
    ``VectorizedMLP([9, 15, 1])``) is 9 inputs, 15 hidden, 1 output.

    ``activations``, ``init`` and ``seed`` as for ``MLP``: the same seed draws the same weights.
    """

    def __init__(self, nin: int | Sequence[int], nouts: Sequence[int] | None = None,
                 activations: str | Sequence[str] | None = None, init: str = "he", seed: int = 0) -> None:
        self.dims = network_dims(nin, nouts, "VectorizedMLP")
        self.activations = resolve_activations(activations, len(self.dims) - 1)
        self._g: list[Activation] = [get_activation(a) for a in self.activations]
        sizes = [d_out * (d_in + 1) for d_in, d_out in zip(self.dims[:-1], self.dims[1:])]
        self._theta = np.zeros(sum(sizes))  # every parameter, layer by layer as P_l = [W_l | b_l]
        self._P = self._blocks(self._theta)
        self._PT = [P.T for P in self._P]  # live views, as the blocks
        self._relu = [a == "relu" for a in self.activations]
        self.set_weights(initial_weights(self.dims, init, seed))

    def _blocks(self, flat: np.ndarray) -> list[np.ndarray]:
        """Views of ``flat`` as the per-layer ``(d_l, d_{l-1} + 1)`` blocks ``[W_l | b_l]``."""
        blocks, start = [], 0
        for d_in, d_out in zip(self.dims[:-1], self.dims[1:]):
            stop = start + d_out * (d_in + 1)
            blocks.append(flat[start:stop].reshape(d_out, d_in + 1))
            start = stop
        return blocks

    def __repr__(self) -> str:
        return f"VectorizedMLP({self.dims}, activations={self.activations})"

    # -- weights --------------------------------------------------------------------------------
    @property
    def weights(self) -> list[np.ndarray]:
        """``[W1, b1, W2, b2, ...]`` as live views (writing to them changes the network)."""
        return [v for P in self._P for v in (P[:, :-1], P[:, -1])]

    def get_weights(self) -> list[np.ndarray]:
        """``[W1 (n1, n0), b1 (n1,), W2, b2, ...]`` as float64 copies."""
        return [np.array(w, order="C") for w in self.weights]  # always a copy, never a view

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Set every parameter from ``[W1, b1, ...]`` (ValueError naming the layer and shapes)."""
        weights = check_weights(self.dims, weights)
        for P, W, b in zip(self._P, weights[::2], weights[1::2]):
            P[:, :-1] = W
            P[:, -1] = b

    def to_scalar(self) -> MLP:
        """The same network as a :class:`~microgrid.nn.MLP` of Values, with these weights."""
        mlp = MLP(self.dims[0], self.dims[1:], activations=self.activations)
        mlp.set_weights(self.get_weights())
        return mlp

    @classmethod
    def from_scalar(cls, mlp: MLP) -> VectorizedMLP:
        """The NumPy twin of a :class:`~microgrid.nn.MLP`, with its current weights."""
        net = cls(mlp.dims, activations=mlp.activations)
        net.set_weights(mlp.get_weights())
        return net

    # -- the two passes -------------------------------------------------------------------------
    def _workspace(self, m: int) -> _Workspace:
        return _Workspace(self.dims, m, self._relu)

    def _forward(self, ws: _Workspace, output: bool = True) -> None:
        """``Z_l = [A_{l-1} | 1] P_l^T = A_{l-1} W_l^T + b_l`` and ``A_l = g_l(Z_l)``, l = 1..L
        (without ``A_L`` when ``output`` is False: training from the logit does not need it)."""
        L = len(self._P)
        for l in range(1, L + 1):
            np.dot(self._P[l - 1], ws.A1sT[l - 1], out=ws.ZT[l])  # Z_l^T = P_l [A_{l-1} | 1]^T
            if l < L and self._relu[l - 1]:
                np.maximum(ws.Z[l], ws.zeros[l], out=ws.A[l])
            elif l < L or output:
                self._g[l - 1].forward(ws.Z[l], out=ws.A[l])

    def _loss(self, ws: _Workspace, from_logits: bool, loss_fn: Callable[..., np.ndarray]) -> float:
        """Mean loss over the N output entries (after :meth:`_forward`)."""
        if from_logits:  # softplus(s z), s = 1 - 2y, from Z_L: finite for any finite logit
            per_entry = bce_with_logits(ws.Z[-1], ws.Y, out=ws.work, signs=ws.signs, work=ws.work2)
        else:
            per_entry = loss_fn(ws.A[-1], ws.Y, out=ws.work, check=False)  # labels checked by check_data
        return float(per_entry.sum()) / ws.n_entries

    def _output_gradient(self, ws: _Workspace, from_logits: bool, loss_derivative: _ArrayFn) -> None:
        """``dZ_L`` from the output ``A_L`` (after :meth:`_forward`)."""
        dZ_L, Y_hat = ws.dZ[-1], ws.A[-1]
        if from_logits:  # BCE of sigmoid(Z_L): dZ_L = (sigmoid(Z_L) - Y) / N
            p = Y_hat if self.activations[-1] == "sigmoid" else _sigmoid(ws.Z[-1], out=ws.work)
            np.subtract(p, ws.Y, out=dZ_L)
            dZ_L *= 1.0 / ws.n_entries
        else:  # dZ_L = dL/dA_L * g_L'(Z_L), with dL/dA_L = loss'(A_L, Y) / N
            loss_derivative(Y_hat, ws.Y, out=dZ_L)
            dZ_L *= 1.0 / ws.n_entries
            dZ_L *= self._g[-1].derivative(ws.Z[-1], Y_hat, out=ws.work)

    def _logit_step(self, ws: _Workspace, record: bool = True) -> float:
        """Forward pass, mean BCE and ``dZ_L`` from the logit, sharing one exponential:
        ``u = e^(s z)`` (``s = 1 - 2y``), loss ``log(1 + u)``, ``dZ_L = (s / N) / (1 + 1/u)``.

        Returns the loss; without ``record``, ``sum(u)`` instead when that is finite (then so
        is the loss: each ``log(1 + u) <= u``), which costs no logarithms.
        """
        self._forward(ws, output=False)
        u = np.multiply(ws.signs, ws.Z[-1], out=ws.U)
        np.exp(u, out=u)
        if record:
            np.log1p(u, out=ws.softplus)
            value = float(np.dot(ws.softplus_flat, ws.ones_N)) / ws.n_entries
        else:
            value = float(np.dot(ws.U_flat, ws.ones_N))
        if not math.isfinite(value):  # u overflowed (s z > 709), or the logits are not finite
            value = self._loss(ws, True, bce_with_logits)
        np.reciprocal(u, out=u)
        u += 1.0
        np.divide(ws.scaled_signs, u, out=ws.dZ[-1])  # (s / N) sigmoid(s z) = (sigmoid(z) - y) / N
        return value

    def _backward(self, ws: _Workspace, dP: list[np.ndarray]) -> None:
        """Hand-derived gradients into ``dP`` (the ``[dW_l | db_l]`` blocks), from ``ws.dZ[L]``.

        Layers count from 1 and Python lists from 0: ``self._P[l - 1]`` is ``P_l``,
        ``self._g[l - 1]`` is ``g_l`` and ``dP[l - 1]`` is ``dP_l``; the workspace lists are
        indexed by layer number.
        """
        for l in range(len(self._P), 0, -1):
            # [dW_l | db_l] = dZ_l^T [A_{l-1} | 1]: dW_l = dZ_l^T A_{l-1}, db_l = column sums of dZ_l
            np.dot(ws.dZT[l], ws.A1s[l - 1], out=dP[l - 1])
            if l > 1:
                # dL/d[A_{l-1} | 1] = dZ_l [W_l | b_l]; its last column (d/d of the ones) is unused
                np.dot(self._PT[l - 1], ws.dZT[l], out=ws.dA1sT[l - 1])
                # dZ_{l-1} = dA_{l-1} * g_{l-1}'(Z_{l-1})
                dZ = ws.dZ[l - 1]
                if self._relu[l - 2]:  # relu'(z) = ceil(min(a, 1)) for a = relu(z) >= 0
                    np.minimum(ws.A[l - 1], ws.ones[l - 1], out=dZ)
                    np.ceil(dZ, out=dZ)
                else:
                    self._g[l - 2].derivative(ws.Z[l - 1], ws.A[l - 1], out=dZ)
                dZ *= ws.dA[l - 1]

    def _problem(self, loss: str) -> tuple[bool, _ArrayFn, _ArrayFn]:
        """For ``loss``: whether it is computed from the logit, its array form and its derivative."""
        spec = get_loss(loss)
        return uses_logits(loss, self.activations[-1]), spec.fn, spec.derivative

    def _forward_rows(self, X: object) -> _Workspace:
        """A workspace holding the forward pass over the (checked) rows of ``X``."""
        X = check_inputs(X, self.dims[0])
        ws = self._workspace(len(X))
        ws.load(X)
        self._forward(ws)
        return ws

    def _loaded(self, X: object, y: object, loss: str) -> tuple[_Workspace, bool, _ArrayFn, _ArrayFn]:
        """A workspace holding the (checked) rows and targets, and :meth:`_problem`'s triple for ``loss``."""
        X, Y = check_data(X, y, self.dims, loss)
        ws = self._workspace(len(X))
        ws.load(X, Y)
        return (ws, *self._problem(loss))

    # -- public API -----------------------------------------------------------------------------
    def forward(self, X: object) -> np.ndarray:
        """The output activations ``A_L`` for the rows of ``X``, shape ``(m, dims[-1])``."""
        return np.array(self._forward_rows(X).A[-1], order="C")

    __call__ = forward

    def preactivations(self, X: object) -> list[np.ndarray]:
        """``[Z_1, ..., Z_L]``: every layer's pre-activations for the rows of ``X``."""
        return [np.array(Z, order="C") for Z in self._forward_rows(X).Z[1:]]

    def predict_proba(self, X: object) -> np.ndarray:
        """Output probabilities, ``sigmoid(z)`` of a linear output ``z`` (the output itself for any
        other activation): shape ``(m,)`` for a one-output network, else ``(m, k)``."""
        out = self.forward(X)
        if self.activations[-1] == "linear":
            _sigmoid(out, out=out)
        return out[:, 0] if out.shape[1] == 1 else out

    def predict(self, X: object, threshold: float = 0.5) -> np.ndarray:
        """Class 1 where the probability is ``>= threshold``, else 0 (int array)."""
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be strictly between 0 and 1, got {threshold}")
        return (self.predict_proba(X) >= threshold).astype(np.int64)

    def loss(self, X: object, y: object, loss: str = "bce") -> float:
        """The mean loss on ``(X, y)`` (forward pass only)."""
        ws, from_logits, loss_fn, _ = self._loaded(X, y, loss)
        self._forward(ws)
        return self._loss(ws, from_logits, loss_fn)

    def loss_and_grads(self, X: object, y: object, loss: str = "bce") -> tuple[float, list[np.ndarray]]:
        """The mean loss and its gradients ``[dW1, db1, ...]`` (layout of :meth:`get_weights`)."""
        ws, from_logits, loss_fn, loss_derivative = self._loaded(X, y, loss)
        grad = np.empty_like(self._theta)
        dP = self._blocks(grad)
        self._forward(ws)
        value = self._loss(ws, from_logits, loss_fn)
        self._output_gradient(ws, from_logits, loss_derivative)
        self._backward(ws, dP)
        return value, [np.array(g, order="C") for block in dP for g in (block[:, :-1], block[:, -1])]

    def numerical_grads(self, X: object, y: object, loss: str = "bce", eps: float = 1e-6) -> list[np.ndarray]:
        """Central differences ``(L(w + eps) - L(w - eps)) / (2 eps)`` of the mean loss for every
        weight, in the layout of :meth:`get_weights` (two forward passes per weight: for checks)."""
        ws, from_logits, loss_fn, _ = self._loaded(X, y, loss)

        def loss_now() -> float:
            self._forward(ws)
            return self._loss(ws, from_logits, loss_fn)

        grads = []
        for w in self.weights:  # live views: perturb one entry at a time, then restore it exactly
            g = np.empty(w.shape)
            for idx in np.ndindex(w.shape):
                saved = w[idx]
                w[idx] = saved + eps
                up = loss_now()
                w[idx] = saved - eps
                down = loss_now()
                w[idx] = saved
                g[idx] = (up - down) / (2.0 * eps)
            grads.append(g)
        return grads

    def fit(self, X: object, y: object, lr: float = 0.07, iters: int = 67_000,
            optimizer: str | Optimizer | None = None, batch_size: int | None = None, seed: int = 0,
            callback: Callable[[int, float], object] | None = None, loss: str = "bce",
            loss_every: int = 1) -> LossHistory:
        """Train with the hand-derived gradients; returns the loss before each step.

        ``optimizer``: ``None``/``"gd"`` (plain gradient descent), ``"momentum"``, ``"adam"`` with
        learning rate ``lr``, or an :class:`~microgrid.optim.Optimizer`.  ``batch_size=None``
        uses every row each iteration; otherwise mini-batches in an order drawn from ``seed``.

        ``loss_every=k`` records the loss of iterations ``0, k, 2k, ...`` only (the returned
        :class:`LossHistory` lists them in ``.iterations``) and calls ``callback(iteration,
        loss)`` after those; the default records and reports every iteration.  Whatever ``k``,
        every iteration is checked: a NaN or infinite loss raises :class:`TrainingDiverged`
        naming that iteration, with the weights left as before it.  (For BCE from the logit,
        an unrecorded iteration skips the logarithms and checks ``sum(e^(s z))``
        instead: when that is finite, so is every entry's loss ``log(1 + e^(s z))``.)
        """
        X, Y = check_data(X, y, self.dims, loss)
        batch = check_training_args(iters, batch_size, len(X), seed)
        if not isinstance(loss_every, numbers.Integral) or isinstance(loss_every, bool) or loss_every < 1:
            raise ValueError(f"loss_every must be a positive integer, got {loss_every!r}")
        opt = make_optimizer(optimizer, lr)
        from_logits, loss_fn, loss_derivative = self._problem(loss)

        def generic_step(ws: _Workspace, record: bool) -> float:  # forward, loss and dZ_L, any loss
            self._forward(ws)
            value = self._loss(ws, False, loss_fn)
            self._output_gradient(ws, False, loss_derivative)
            return value

        step = self._logit_step if from_logits else generic_step
        grad = np.zeros_like(self._theta)
        dP = self._blocks(grad)
        params, grads = [self._theta], [grad]
        recorded = np.arange(0, iters, loss_every)
        history = np.empty(len(recorded))
        workspaces: dict[int, _Workspace] = {}
        batches = batch_indices(len(X), batch, seed) if batch else None
        if batches is None:  # full batch: the rows are loaded once
            ws = self._workspace(len(X))
            ws.load(X, Y)
        opt._prepare(params, grads)  # checked once here: every step updates these same arrays
        update = opt._step
        # overflow on the way to divergence is reported once, as TrainingDiverged, not as warnings
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for it in range(iters):
                if batches is not None:  # a fresh batch of rows into the buffers for its size
                    rows = next(batches)
                    if len(rows) not in workspaces:
                        workspaces[len(rows)] = self._workspace(len(rows))
                    ws = workspaces[len(rows)]
                    ws.load(X[rows], Y[rows])
                record = it % loss_every == 0
                value = check_loss(step(ws, record), it, opt.lr)
                if record:
                    history[it // loss_every] = value
                    if callback is not None:
                        callback(it, value)
                self._backward(ws, dP)
                update(params, grads)
        return LossHistory(history, recorded)
