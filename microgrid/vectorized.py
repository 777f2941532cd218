"""The MLP of :mod:`microgrid.nn` in NumPy with a hand-derived backward pass (no autograd), and one
kernel that trains ``K`` such networks of one shape at once (one network is ``K = 1``).

Samples are rows: ``X`` is ``(m, d)``.  For layers ``l = 1..L`` with weights ``W_l``
``(d_l, d_{l-1})``, biases ``b_l`` and activations ``g_l``, and ``A_0 = X``::

    Z_l = A_{l-1} W_l^T + b_l          A_l = g_l(Z_l)            Y_hat = A_L

and, backwards from the mean loss over the ``N`` output entries (``N = m`` for one output)::

    dZ_L = (sigmoid(Z_L) - Y) / N               BCE from the logit Z_L (sigmoid or linear output)
    dZ_L = loss'(A_L, Y) / N * g_L'(Z_L)        any other loss / output activation
    dW_l = dZ_l^T A_{l-1}     db_l = sum over rows of dZ_l
    dA_{l-1} = dZ_l W_l       dZ_{l-1} = dA_{l-1} * g_{l-1}'(Z_{l-1})

(``dX`` means ``dL/dX``; ``*`` is elementwise.)  ``docs/backprop.md`` derives each line, and
with ``docs/benchmarks.md`` tells how the kernel gets close to the NumPy floor.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from microgrid.arrays import (
    central_differences,
    check_inputs,
    check_int,
    check_number,
    check_seed,
    check_size,
    check_weights,
    layer_blocks,
    network_dims,
    unflatten,
)
from microgrid.functional import (
    Activation,
    Loss,
    bce_with_logits,
    check_data,
    get_activation,
    get_loss,
    resolve_activations,
    uses_logits,
)
from microgrid.nn import MLP, initial_weights
from microgrid.optim import (
    OPTIMIZERS,
    Optimizer,
    TrainingDiverged,
    batch_indices,
    check_loss,
    check_training_args,
    make_optimizer,
)

__all__ = ["VectorizedMLP", "LossHistory", "TrainingDiverged", "fit_many"]

_sigmoid = get_activation("sigmoid").forward  # a linear output's probability: sigmoid(z)


class LossHistory(np.ndarray):
    """The losses :meth:`VectorizedMLP.fit` recorded: a float64 array whose entry ``j`` is the mean
    loss before the step of iteration ``iterations[j]`` (``0, k, 2k, ...`` for ``loss_every=k``).
    Indexing returns plain arrays."""

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


class _Pass:
    """The buffers of one forward and backward pass of ``K`` networks over ``n`` rows each.

    By layer number ``l``: ``A1T[l]`` ``(K, d_l + 1, n)`` is ``[A_l | 1]^T`` (``A1T[0]`` holds the
    rows), ``A1[l]`` its transpose, ``AT[l]`` the view ``A_l^T`` (``AT[L]`` the output), ``ZT[l]``,
    ``dZT[l]``, ``dA1T[l] = dL/d[A_l | 1]^T`` and ``dAT[l]`` its view without the ones.  Output
    sized ``(K, d_L, n)``: ``YT``, ``signs`` (``1 - 2Y``), ``scale`` (``1/N_k``), ``mask`` (1),
    each 0 on padding, and scratch.  For one network the leading axis is dropped and products are
    ``np.dot``'s (BLAS even where an inner dimension is 1, where ``np.matmul`` loops slowly).
    ``forward[l]``/``derivative[l]`` are ``g_{l+1}``'s; ReLU's get array constants (faster)."""

    def __init__(self, dims: Sequence[int], g: Sequence[Activation], K: int, n: int) -> None:
        self.K, self.mm = K, (np.dot if K == 1 else np.matmul)
        one = (lambda a: a[0]) if K == 1 else (lambda a: a)
        self.forward: list[Callable[..., np.ndarray]] = [act.forward for act in g]
        self.derivative: list[Callable[..., np.ndarray]] = [act.derivative for act in g]
        for l, (act, d) in enumerate(zip(g, dims[1:])):
            if act.name == "relu":
                zeros, ones = one(np.zeros((K, d, n))), one(np.ones((K, d, n)))
                self.forward[l] = lambda z, out, f=act.forward, c=zeros: f(z, out, c)
                self.derivative[l] = lambda z, a, out, f=act.derivative, c=ones: f(z, a, out, c)
        self.inputs = np.empty((K, dims[0] + 1, n))  # every network's rows (and the ones), to load
        self.inputs[:, -1] = 1.0
        self.A1T = [one(self.inputs)] + [one(np.ones((K, d + 1, n))) for d in dims[1:-1]]
        self.A1 = [np.swapaxes(a, -1, -2) for a in self.A1T]
        self.AT = [a[..., :-1, :] for a in self.A1T] + [one(np.empty((K, dims[-1], n)))]
        self.ZT, self.dZT = ([np.empty(0)] + [one(np.empty((K, d, n))) for d in dims[1:]] for _ in range(2))
        self.dA1T = [np.empty((0, 0))] + [one(np.empty((K, d + 1, n))) for d in dims[1:-1]]
        self.dAT = [a[..., :-1, :] for a in self.dA1T]
        self.targets = np.zeros((5, K, dims[-1], n))  # YT, signs, scale, mask, scaled_signs, to load
        self.YT, self.signs, self.scale, self.mask, self.scaled_signs = (one(t) for t in self.targets)
        self.N = np.ones(K)  # each network's number of entries
        self.U, self.work, self.work2 = (one(np.empty((K, dims[-1], n))) for _ in range(3))
        self.loss_values = np.zeros(K)  # each network's mean loss
        # each network's entries in a row (one network: a 1-D array), to sum by mask in one product
        rows_of = (lambda a: a.reshape(-1)) if K == 1 else (lambda a: a.reshape(K, 1, -1))
        self.U_rows, self.work_rows = rows_of(self.U), rows_of(self.work)
        self.mask_column = self.mask.reshape(-1) if K == 1 else self.mask.reshape(K, -1, 1)
        self.means_out = self.loss_values.reshape(K, 1, 1)

    def load(self, data: Sequence[tuple[np.ndarray, np.ndarray | None]], rows: Sequence[Any]) -> None:
        """Network ``k`` gets the rows ``rows[k]`` of its ``(X, Y)`` = ``data[k]`` (``Y`` None: no
        targets, for a forward pass); the rest of its ``n`` columns are padding."""
        Y3, signs, scale, mask, scaled = self.targets
        for k, ((X, Y), r) in enumerate(zip(data, rows)):
            x = X[r]
            m = len(x)
            self.inputs[k, :-1, :m] = x.T
            self.inputs[k, :-1, m:] = 0.0
            if Y is not None:
                Y3[k, :, :m] = Y[r].T
                Y3[k, :, m:] = 0.0
                self.N[k] = m * Y.shape[1]
                mask[k, :, :m], mask[k, :, m:] = 1.0, 0.0
                np.multiply(mask[k], 1.0 / self.N[k], out=scale[k])
                np.multiply(Y3[k], -2.0, out=signs[k])
                signs[k] += 1.0
                signs[k, :, m:] = 0.0
        np.multiply(signs, scale, out=scaled)

    def means(self, rows: np.ndarray) -> bool:
        """Each network's mean of its entries in ``rows`` (``U_rows`` or ``work_rows``) into
        ``loss_values``; True when every mean is finite."""
        if self.K == 1:
            value = self.loss_values[0] = float(np.dot(rows, self.mask_column)) / self.N[0]
            return math.isfinite(value)
        np.matmul(rows, self.mask_column, out=self.means_out)
        self.loss_values /= self.N
        return bool(np.isfinite(self.loss_values).all())


def _forward(P: Sequence[np.ndarray], ws: _Pass, output: bool = True) -> None:
    """``Z_l^T = P_l [A_{l-1} | 1]^T`` and ``A_l = g_l(Z_l)``, l = 1..L (without ``A_L`` when
    ``output`` is False: training from the logit does not need it)."""
    L = len(P)
    for l in range(1, L + 1):
        ws.mm(P[l - 1], ws.A1T[l - 1], out=ws.ZT[l])
        if l < L or output:
            ws.forward[l - 1](ws.ZT[l], ws.AT[l])


def _output_step(ws: _Pass, loss: Loss, from_logits: bool, record: bool = True) -> bool:
    """Each network's mean loss into ``ws.loss_values``, and ``dZ_L``; True when every loss is finite.

    From the logits (BCE on a sigmoid or linear output), ``u = e^(s z)`` serves both: the loss
    ``log(1 + u)`` and ``dZ_L = (s/N) / (1 + 1/u)``.  Without ``record``, ``mean(u)`` stands in
    for the loss when it is finite (then so is the loss: ``log(1 + u) <= u``): no logarithms.
    Otherwise ``dZ_L = loss'(A_L, Y) / N * g_L'(Z_L)``."""
    if from_logits:
        u = np.multiply(ws.signs, ws.ZT[-1], out=ws.U)
        np.exp(u, out=u)
        if record:
            np.log1p(u, out=ws.work)
        finite = ws.means(ws.work_rows if record else ws.U_rows)
        np.reciprocal(u, out=u)
        u += 1.0
        np.divide(ws.scaled_signs, u, out=ws.dZT[-1])  # (s / N) sigmoid(s z) = (sigmoid(z) - y) / N
        if finite:
            return True
        # u overflowed (s z > 709), or the logits are not finite: the overflow-free form
        bce_with_logits(ws.ZT[-1], ws.YT, out=ws.work, signs=ws.signs, work=ws.work2)
    else:
        loss.fn(ws.AT[-1], ws.YT, out=ws.work, check=False)  # labels checked by check_data
        dZ_L = loss.derivative(ws.AT[-1], ws.YT, out=ws.dZT[-1])
        dZ_L *= ws.scale
        dZ_L *= ws.derivative[-1](ws.ZT[-1], ws.AT[-1], ws.work2)
    return ws.means(ws.work_rows)


def _backward(P: Sequence[np.ndarray], PT: Sequence[np.ndarray], ws: _Pass, dP: Sequence[np.ndarray]) -> None:
    """The gradients ``[dW_l | db_l]`` into ``dP[l - 1]``, from ``dZ_L`` (lists count layers from
    0: ``P[l - 1]`` is ``P_l``; the pass's lists by layer number)."""
    for l in range(len(P), 0, -1):
        ws.mm(ws.dZT[l], ws.A1[l - 1], out=dP[l - 1])  # [dW_l | db_l] = dZ_l^T [A_{l-1} | 1]
        if l > 1:
            # dL/d[A_{l-1} | 1]^T = P_l^T dZ_l^T (the row for the ones is unused)
            if ws.K > 1 and PT[l - 1].shape[-1] == 1:  # an outer product: matmul would loop slowly
                np.multiply(PT[l - 1], ws.dZT[l], out=ws.dA1T[l - 1])
            else:
                ws.mm(PT[l - 1], ws.dZT[l], out=ws.dA1T[l - 1])
            dZ = ws.derivative[l - 2](ws.ZT[l - 1], ws.AT[l - 1], ws.dZT[l - 1])
            dZ *= ws.dAT[l - 1]  # dZ_{l-1} = dA_{l-1} * g_{l-1}'(Z_{l-1})


class VectorizedMLP:
    """The MLP of :class:`microgrid.nn.MLP` on NumPy arrays, with its arguments (the same seed draws
    the same weights): ``VectorizedMLP(9, [15, 1])`` is 9 inputs, 15 hidden, 1 output.  At most
    :data:`~microgrid.arrays.MAX_PARAMETERS` parameters."""

    def __init__(self, nin: int | Sequence[int], nouts: Sequence[int] | None = None,
                 activations: str | Sequence[str] | None = None, init: str = "uniform",
                 seed: int = 0) -> None:
        self.dims = network_dims(nin, nouts, "VectorizedMLP")
        self.activations = resolve_activations(activations, len(self.dims) - 1)
        self._g = [get_activation(a) for a in self.activations]
        self._theta = np.zeros(check_size(self.dims, "VectorizedMLP"))
        self._P = layer_blocks(self._theta, self.dims)  # P_l = [W_l | b_l], views of theta
        self.set_weights(initial_weights(self.dims, init, seed))

    def __repr__(self) -> str:
        return f"VectorizedMLP({self.dims}, activations={self.activations})"

    # -- weights --------------------------------------------------------------------------------
    @property
    def weights(self) -> list[np.ndarray]:
        """``[W1, b1, W2, b2, ...]`` as live views (writing to them changes the network)."""
        return [v for P in self._P for v in (P[:, :-1], P[:, -1])]

    def get_weights(self) -> list[np.ndarray]:
        """``[W1 (n1, n0), b1 (n1,), W2, b2, ...]`` as float64 copies."""
        return [np.array(w, order="C") for w in self.weights]

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Set every parameter from ``[W1, b1, ...]`` (ValueError naming the layer and shapes)."""
        for view, w in zip(self.weights, check_weights(self.dims, weights)):
            view[...] = w

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

    # -- one pass over all rows -----------------------------------------------------------------
    def _pass(self, X: np.ndarray, Y: np.ndarray | None = None) -> _Pass:
        """A pass over every row of the (checked) ``X``, its forward computed."""
        ws = _Pass(self.dims, self._g, 1, len(X))
        ws.load([(X, Y)], [slice(None)])
        _forward(self._P, ws)
        return ws

    def _loss(self, ws: _Pass, loss: str) -> float:
        """The mean loss of a pass (after its forward), summed pairwise; ``dZ_L`` left in ``ws.dZT[L]``."""
        from_logits = uses_logits(loss, self.activations[-1])
        with np.errstate(over="ignore", divide="ignore"):  # e^(s z) may overflow or underflow
            _output_step(ws, get_loss(loss), from_logits)
        if from_logits:  # each entry's loss in the overflow-free form
            bce_with_logits(ws.ZT[-1], ws.YT, out=ws.work, signs=ws.signs, work=ws.work2)
        return float(ws.work.sum()) / ws.work.size

    def forward(self, X: object) -> np.ndarray:
        """The output activations ``A_L`` for the rows of ``X``, shape ``(m, dims[-1])``."""
        return np.array(self._pass(check_inputs(X, self.dims[0])).AT[-1].T, order="C")

    __call__ = forward

    def preactivations(self, X: object) -> list[np.ndarray]:
        """``[Z_1, ..., Z_L]``: every layer's pre-activations for the rows of ``X``."""
        return [np.array(Z.T, order="C") for Z in self._pass(check_inputs(X, self.dims[0])).ZT[1:]]

    def predict_proba(self, X: object) -> np.ndarray:
        """Output probabilities, as :meth:`MLP.predict_proba <microgrid.nn.MLP.predict_proba>`."""
        out = self.forward(X)
        if self.activations[-1] == "linear":
            _sigmoid(out, out)
        return out[:, 0] if out.shape[1] == 1 else out

    def predict(self, X: object, threshold: float = 0.5) -> np.ndarray:
        """Class 1 where the probability is ``>= threshold``, else 0 (int array)."""
        threshold = check_number(threshold, "threshold", 0.0, 1.0, open_low=True, open_high=True)
        return (self.predict_proba(X) >= threshold).astype(np.int64)

    def loss(self, X: object, y: object, loss: str = "bce") -> float:
        """The mean loss on ``(X, y)`` (forward pass only)."""
        return self._loss(self._pass(*check_data(X, y, self.dims, loss)), loss)

    def loss_and_grads(self, X: object, y: object, loss: str = "bce") -> tuple[float, list[np.ndarray]]:
        """The mean loss and its gradients ``[dW1, db1, ...]`` (layout of :meth:`get_weights`)."""
        ws = self._pass(*check_data(X, y, self.dims, loss))
        value = self._loss(ws, loss)
        grads = np.empty(self._theta.size)
        _backward(self._P, [P.T for P in self._P], ws, layer_blocks(grads, self.dims))
        return value, unflatten(grads, self.dims)

    def numerical_grads(self, X: object, y: object, loss: str = "bce", eps: float = 1e-6) -> list[np.ndarray]:
        """Central differences ``(L(w + eps) - L(w - eps)) / (2 eps)`` of the mean loss for every
        weight, in the layout of :meth:`get_weights` (two forward passes per weight: for checks)."""
        ws = self._pass(*check_data(X, y, self.dims, loss))

        def loss_now(_: np.ndarray) -> float:
            _forward(self._P, ws)
            return self._loss(ws, loss)

        return unflatten(central_differences(loss_now, self._theta, eps), self.dims)

    def fit(self, X: object, y: object, lr: float = 0.07, iters: int = 67_000,
            optimizer: str | Optimizer | None = None, batch_size: int | None = None, seed: int = 0,
            callback: Callable[[int, float], object] | None = None, loss: str = "bce",
            loss_every: int = 1) -> LossHistory:
        """Train with the hand-derived gradients; returns the loss before each step.

        ``optimizer``: ``None``/``"gd"``, ``"momentum"``, ``"adam"`` (with ``lr``) or an
        :class:`~microgrid.optim.Optimizer`; ``batch_size=None`` uses every row each iteration,
        else mini-batches in an order drawn from ``seed``.  ``loss_every=k`` records (and calls
        ``callback(iteration, loss)`` for) iterations ``0, k, 2k, ...`` only, listed in the
        :class:`LossHistory`'s ``.iterations``; every iteration is checked all the same, and a NaN
        or infinite loss raises :class:`TrainingDiverged` with the weights as before that step
        (unrecorded BCE-from-logit steps check ``mean(e^(s z)) >= mean(log(1 + e^(s z)))``)."""
        X, Y = check_data(X, y, self.dims, loss)
        batch = check_training_args(iters, batch_size, len(X), seed)
        loss_every = check_int(loss_every, "loss_every", 1)
        report = None if callback is None else (lambda it, losses: callback(it, float(losses[0])))
        history = _train([self], [(X, Y)], [np.arange(len(X))], [make_optimizer(optimizer, lr)], [seed],
                         iters, [batch], loss, report, loss_every, numbered=False)
        return LossHistory(history[0], np.arange(0, iters, loss_every))


def _stack(nets: Sequence[VectorizedMLP], opts: Sequence[Optimizer]
           ) -> tuple[list[np.ndarray], list[np.ndarray], list[Callable[[], None]]]:
    """The blocks ``P_l`` being trained (one network's own; ``K`` networks' in a stacked copy), their
    gradients ``dP_l``, and an optimizer update per run of networks sharing an optimizer object."""
    first, K = nets[0], len(nets)
    theta = first._theta if K == 1 else np.empty(K * first._theta.size)
    P = layer_blocks(theta, first.dims, K)
    if K > 1:
        for k, net in enumerate(nets):
            for block, own in zip(P, net._P):
                block[k] = own
    grad = np.zeros_like(theta)
    dP = layer_blocks(grad, first.dims, K)
    groups = [k for k in range(K) if k == 0 or opts[k] is not opts[k - 1]] + [K]
    if len(groups) == 2:
        return P, dP, [opts[0].updater([theta], [grad])]
    return P, dP, [opts[a].updater([p[a:b] for p in P], [d[a:b] for d in dP])
                   for a, b in zip(groups, groups[1:])]


def _train(nets: Sequence[VectorizedMLP], data: Sequence[tuple[np.ndarray, np.ndarray]],
           rows: Sequence[np.ndarray], opts: Sequence[Optimizer], seeds: Sequence[int], iters: int,
           batches: Sequence[int | None], loss: str, callback: Callable[[int, np.ndarray], object] | None,
           loss_every: int, numbered: bool) -> np.ndarray:
    """The training loop of ``K`` networks of one shape (``opts[k]`` steps network ``k``; a run of
    networks with one optimizer object shares its update); returns the losses recorded, ``(K,
    iterations)``.  On :class:`TrainingDiverged` every network keeps its weights from before."""
    first, K = nets[0], len(nets)
    dims, g = first.dims, first._g
    P, dP, updates = _stack(nets, opts)
    PT = [np.swapaxes(p, -1, -2) for p in P]
    from_logits = uses_logits(loss, first.activations[-1])
    spec = get_loss(loss)
    orders = [None if b is None else batch_indices(len(r), b, s) for r, b, s in zip(rows, batches, seeds)]
    full = all(o is None for o in orders)
    passes: dict[int, _Pass] = {}
    if full:  # the rows are loaded once
        ws = _Pass(dims, g, K, max(len(r) for r in rows))
        ws.load(data, rows)
    history = np.empty((len(range(0, iters, loss_every)), K))
    try:
        # overflow on the way to divergence is reported once, as TrainingDiverged, not as warnings
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for it in range(iters):
                if not full:  # fresh batches into the buffers for their size
                    picked = [r if o is None else r[next(o)] for r, o in zip(rows, orders)]
                    n = max(len(p) for p in picked)
                    if n not in passes:
                        passes[n] = _Pass(dims, g, K, n)
                    ws = passes[n]
                    ws.load(data, picked)
                record = it % loss_every == 0
                _forward(P, ws, output=not from_logits)
                if not _output_step(ws, spec, from_logits, record):
                    k = int(np.flatnonzero(~np.isfinite(ws.loss_values))[0])
                    check_loss(float(ws.loss_values[k]), it, opts[k].lr, network=k if numbered else None)
                if record:
                    history[it // loss_every] = ws.loss_values
                    if callback is not None:
                        callback(it, ws.loss_values.copy())
                _backward(P, PT, ws, dP)
                for update in updates:
                    update()
    finally:  # the trained weights, or those from before the step that diverged
        if K > 1:
            for k, net in enumerate(nets):
                for block, own in zip(P, net._P):
                    own[...] = block[k]
    return history.T.copy()


def fit_many(nets: Sequence[VectorizedMLP], X: object, y: object, lr: float | Sequence[float] = 0.07,
             iters: int = 67_000, optimizer: str | None = None, batch_size: int | None = None,
             seeds: int | Sequence[int] = 0, rows: Sequence[object] | None = None,
             callback: Callable[[int, np.ndarray], object] | None = None, loss: str = "bce") -> np.ndarray:
    """Train every network in ``nets`` in one pass; returns the losses, shape ``(K, iters)``.

    ``X``/``y``: one data set for every network, or ``K`` of them (``X[k]`` ``(n_k, d)`` and
    ``y[k]``).  ``nets[k]`` trains on rows ``rows[k]`` of its data (all if None) with ``lr`` (or
    ``lr[k]``) and seed ``seeds`` (or ``seeds[k]``) as its own ``fit`` would (up to the order in
    which BLAS adds, ~1e-15 a step); ``optimizer`` is a name.  ``callback(iteration, losses)`` gets
    the ``K`` losses.  A NaN or infinite loss raises :class:`~microgrid.optim.TrainingDiverged`
    naming the network and iteration, every network left as before that iteration."""
    nets = list(nets)
    if not nets or not all(isinstance(n, VectorizedMLP) for n in nets):
        raise TypeError("fit_many takes a non-empty list of VectorizedMLP networks")
    first, K = nets[0], len(nets)
    for k, net in enumerate(nets):
        if net.dims != first.dims or net.activations != first.activations:
            raise ValueError(f"network {k} is {net!r} but network 0 is {first!r}: all must have one shape")
        same = next(j for j, other in enumerate(nets) if other is net)
        if same < k:
            raise ValueError(f"network {k} is network {same} given again: each network trains once per pass")
    data = _data_sets(X, y, K, first.dims, loss)
    row_sets = [np.arange(len(d[0])) for d in data] if rows is None else _per_network(rows, K, "row sets")
    row_sets = [_check_rows(r, len(d[0]), k) for k, (r, d) in enumerate(zip(row_sets, data))]
    seeds = [check_seed(s) for s in _per_network(seeds, K, "seeds")]
    batches = [check_training_args(iters, batch_size, len(r), s) for r, s in zip(row_sets, seeds)]
    if optimizer is not None and optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; fit_many takes one of {', '.join(OPTIMIZERS)}")
    rates = _per_network(lr, K, "learning rates")
    opts: list[Optimizer] = []
    for k in range(K):
        opts.append(opts[-1] if k and rates[k] == rates[k - 1] else make_optimizer(optimizer, rates[k]))
    return _train(nets, data, row_sets, opts, seeds, iters, batches, loss, callback, 1, numbered=True)


def _per_network(values: object, K: int, what: str) -> list:
    """``values`` as a list of ``K`` (one value repeated, or a sequence of exactly ``K``)."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        return [values] * K
    values = list(values)
    if len(values) != K:
        raise ValueError(f"{len(values)} {what} given for {K} networks")
    return values


def _data_sets(X: object, y: object, K: int, dims: Sequence[int],
               loss: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(X, Y)`` for each network, checked: one data set shared by all (the same arrays ``K``
    times), or ``K`` of them when ``X`` is a list or tuple of 2-D arrays (a single ``X`` is 2-D)."""
    if isinstance(X, (list, tuple)) and X and all(np.ndim(x) == 2 for x in X):
        if not isinstance(y, (list, tuple)) or len(y) != len(X):
            raise ValueError(f"X holds {len(X)} data sets (one per network): y must be a list of as many "
                             "label arrays")
        data = []
        for k, (x, t) in enumerate(zip(_per_network(X, K, "data sets"), y)):
            try:
                data.append(check_data(x, t, dims, loss))
            except ValueError as exc:
                raise ValueError(f"data set {k}: {exc}") from None
        return data
    return [check_data(X, y, dims, loss)] * K


def _check_rows(r: object, n: int, k: int) -> np.ndarray:
    """Network ``k``'s row indices: a non-empty 1-D array of integers in ``[0, n)``."""
    a = np.asarray(r)
    if a.ndim != 1 or len(a) == 0 or a.dtype.kind not in "iu" or (a < 0).any() or (a >= n).any():
        raise ValueError(f"rows[{k}] must be a non-empty 1-D array of row numbers below {n}")
    return a.astype(np.intp)
