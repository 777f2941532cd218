"""Many networks of one shape trained in one pass: cross-validation folds, seeds, learning rates.

:func:`fit_many` trains ``K`` :class:`~microgrid.vectorized.VectorizedMLP` networks (same layer
sizes and activations, any weights) as one computation with a leading model axis: the weights
of layer ``l`` are stacked into ``P_l`` of shape ``(K, d_l, d_{l-1} + 1)`` and every product is
one ``np.matmul`` over the stack,

    Z_l[k]^T = P_l[k] [A_{l-1}[k] | 1]^T        dP_l[k] = dZ_l[k]^T [A_{l-1}[k] | 1]

so the Python and NumPy call overhead of an iteration is paid once for all ``K``.  The math is
:mod:`microgrid.vectorized`'s, model by model (see its docstring and ``docs/backprop.md``).

Each network may train on its own rows (a fold's training rows) or its own data set (rows
scaled for its fold alone), with its own seed (its mini-batch order) and its own learning rate.
Networks whose batch has fewer rows than the largest are padded with rows of weight 0: a padded
row adds exactly 0 to every gradient and to the loss, and each network's loss is the mean over
its own ``N_k`` entries.  The result for
network ``k`` is what ``nets[k].fit(X[rows[k]], y[rows[k]], lr=lr[k], seed=seeds[k], ...)``
gives alone, up to the order in which BLAS adds the products (agreement to ~1e-15 per step,
checked by ``tests/test_batched.py``).  The optimizer rules are :mod:`microgrid.optim`'s, one
optimizer per run of consecutive networks with the same learning rate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from microgrid.functional import bce_with_logits, check_data, get_loss, uses_logits
from microgrid.optim import (
    OPTIMIZERS,
    Optimizer,
    batch_indices,
    check_loss,
    check_seed,
    check_training_args,
    make_optimizer,
)
from microgrid.vectorized import VectorizedMLP

__all__ = ["fit_many"]


class _Stack:
    """The buffers of one pass of ``K`` networks over ``n`` (padded) rows each.

    Row-major ``(K, d, n)`` arrays hold each network's ``(n, d)`` matrices transposed
    (``ZT[l][k] = Z_l[k]^T``): elementwise work runs over contiguous memory and ``np.matmul``
    reads the transposes as views.
    """

    def __init__(self, dims: Sequence[int], relu: Sequence[bool], K: int, n: int) -> None:
        L = len(dims) - 1
        self.n = n
        self.A1sT = []  # [A_l | 1]^T, (K, d_l + 1, n), for l < L; A1sT[0] holds the inputs
        for d in dims[:-1]:
            a = np.empty((K, d + 1, n))
            a[:, d, :] = 1.0
            self.A1sT.append(a)
        self.AT = [a[:, :-1, :] for a in self.A1sT] + [np.empty((K, dims[-1], n))]
        self.ZT = [np.empty(0)] + [np.empty((K, d, n)) for d in dims[1:]]
        self.dZT = [np.empty(0)] + [np.empty((K, d, n)) for d in dims[1:]]
        self.dA1sT = [np.empty((K, 0, n))] + [np.empty((K, d + 1, n)) for d in dims[1:L]]
        self.dAT = [a[:, :-1, :] for a in self.dA1sT]
        is_relu = [False, *relu[:-1]]
        none = np.empty((0, 0, 0))  # (a layer that is not ReLU needs no constants)
        self.zeros = [np.zeros((K, d, n)) if r else none for d, r in zip(dims, is_relu)]
        self.ones = [np.ones((K, d, n)) if r else none for d, r in zip(dims, is_relu)]
        k = dims[-1]
        self.YT, self.signs, self.scaled_signs, self.weight = (np.zeros((K, k, n)) for _ in range(4))
        self.U, self.work, self.work2 = (np.empty((K, k, n)) for _ in range(3))

    def load(self, data: Sequence[tuple[np.ndarray, np.ndarray]], rows: Sequence[np.ndarray]) -> None:
        """Network ``k`` gets rows ``rows[k]`` of its ``X``/``Y`` = ``data[k]``; the rest of its ``n``
        rows are padding (weight 0, sign 0).  ``weight`` = 1/N_k on real entries, the loss's
        averaging weights."""
        self.weight.fill(0.0)
        self.signs.fill(0.0)
        for k, ((X, Y), r) in enumerate(zip(data, rows)):
            m = len(r)
            self.A1sT[0][k, :-1, :m] = X[r].T
            self.A1sT[0][k, :-1, m:] = 0.0
            self.YT[k, :, :m] = Y[r].T
            self.YT[k, :, m:] = 0.0
            self.weight[k, :, :m] = 1.0 / (m * Y.shape[1])
            np.multiply(Y[r].T, -2.0, out=self.signs[k, :, :m])
            self.signs[k, :, :m] += 1.0
        np.multiply(self.signs, self.weight, out=self.scaled_signs)


def _per_network(values: object, K: int, what: str) -> list:
    """``values`` as a list of ``K`` (one value repeated, or a sequence of exactly ``K``)."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        return [values] * K
    values = list(values)
    if len(values) != K:
        raise ValueError(f"{len(values)} {what} given for {K} networks")
    return values


def fit_many(nets: Sequence[VectorizedMLP], X: object, y: object, lr: float | Sequence[float] = 0.07,
             iters: int = 67_000, optimizer: str | None = None, batch_size: int | None = None,
             seeds: int | Sequence[int] = 0, rows: Sequence[object] | None = None,
             callback: Callable[[int, np.ndarray], object] | None = None, loss: str = "bce") -> np.ndarray:
    """Train every network in ``nets`` in one pass; returns the losses, shape ``(K, iters)``.

    ``X``/``y`` are one data set for every network, or sequences of ``K`` data sets (``X[k]``, an
    ``(n_k, d)`` array, and ``y[k]`` for network ``k``: e.g. each fold's rows scaled on its own).
    ``nets[k]`` trains on rows ``rows[k]`` of its ``X``/``y`` (all rows if ``rows`` is None) with
    learning rate ``lr`` (or ``lr[k]``) and mini-batch seed ``seeds`` (or ``seeds[k]``), exactly as
    ``nets[k].fit(X[rows[k]], y[rows[k]], lr=..., iters, optimizer, batch_size, seed=...,
    loss=loss)`` would, and is left holding its trained weights.  ``optimizer`` is a name (``"gd"``,
    ``"momentum"``, ``"adam"``).  ``callback(iteration, losses)`` gets the ``K`` losses of every
    iteration.  A NaN or infinite loss raises :class:`~microgrid.optim.TrainingDiverged` saying
    which network and iteration; every network is then left as before that iteration.
    """
    nets = list(nets)
    if not nets or not all(isinstance(n, VectorizedMLP) for n in nets):
        raise TypeError("fit_many takes a non-empty list of VectorizedMLP networks")
    first = nets[0]
    for k, net in enumerate(nets):
        if net.dims != first.dims or net.activations != first.activations:
            raise ValueError(f"network {k} is {net!r} but network 0 is {first!r}: all must have one shape")
    K, L = len(nets), len(first.dims) - 1
    data = _data_sets(X, y, K, first.dims, loss)
    row_sets = [np.arange(len(d[0])) for d in data] if rows is None else _per_network(rows, K, "row sets")
    row_sets = [_check_rows(r, len(d[0]), k) for k, (r, d) in enumerate(zip(row_sets, data))]
    seeds = [check_seed(s) for s in _per_network(seeds, K, "seeds")]
    batches = [check_training_args(iters, batch_size, len(r), s) for r, s in zip(row_sets, seeds)]
    if optimizer is not None and optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; fit_many takes one of {', '.join(OPTIMIZERS)}")
    rates = _per_network(lr, K, "learning rates")
    groups: list[tuple[int, int, Optimizer]] = []  # (start, stop, optimizer): networks in a row
    for k in range(K):  # with one learning rate share one optimizer
        if groups and rates[k] == rates[groups[-1][0]]:
            groups[-1] = (groups[-1][0], k + 1, groups[-1][2])
        else:
            groups.append((k, k + 1, make_optimizer(optimizer, rates[k])))
    spec = get_loss(loss)
    from_logits = uses_logits(loss, first.activations[-1])

    # layer l's weights of every network, stacked: P[l - 1] is (K, d_l, d_{l-1} + 1), contiguous
    P = [np.stack([net._P[l] for net in nets]) for l in range(L)]
    dP = [np.zeros_like(p) for p in P]
    PT = [p.transpose(0, 2, 1) for p in P]
    steps = [([p[a:b] for p in P], [d[a:b] for d in dP], opt) for a, b, opt in groups]
    relu = [a == "relu" for a in first.activations]
    g = [net_g for net_g in first._g]

    full = all(b is None for b in batches)
    orders = [None if b is None else batch_indices(len(r), b, s) for r, b, s in zip(row_sets, batches, seeds)]
    stacks: dict[int, _Stack] = {}

    def stack_for(n: int) -> _Stack:
        if n not in stacks:
            stacks[n] = _Stack(first.dims, relu, K, n)
        return stacks[n]

    if full:
        ws = stack_for(max(len(r) for r in row_sets))
        ws.load(data, row_sets)
    history = np.empty((K, iters))
    losses = np.empty(K)
    for params, grads, opt in steps:  # checked once here: every step updates these same arrays
        opt._prepare(params, grads)
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for it in range(iters):
                if not full:
                    picked = [r if o is None else r[next(o)] for r, o in zip(row_sets, orders)]
                    ws = stack_for(max(len(p) for p in picked))
                    ws.load(data, picked)
                # forward: Z_l^T = P_l [A_{l-1} | 1]^T, A_l = g_l(Z_l)
                for l in range(1, L + 1):
                    np.matmul(P[l - 1], ws.A1sT[l - 1], out=ws.ZT[l])
                    if l < L and relu[l - 1]:
                        np.maximum(ws.ZT[l], ws.zeros[l], out=ws.AT[l])
                    elif l < L or not from_logits:
                        g[l - 1].forward(ws.ZT[l], out=ws.AT[l])
                # loss and dZ_L, as VectorizedMLP does, each entry weighted by 1/N_k (0 for padding)
                dZ_L = ws.dZT[L]
                if from_logits:
                    u = np.multiply(ws.signs, ws.ZT[L], out=ws.U)  # t = s z; u = e^t
                    np.exp(u, out=u)
                    np.log1p(u, out=ws.work)  # log(1 + e^t) = softplus(t)
                    if not np.isfinite(ws.work).all():  # overflow: the overflow-free form
                        bce_with_logits(ws.ZT[L], ws.YT, out=ws.work, signs=ws.signs, work=ws.work2)
                    np.reciprocal(u, out=u)
                    u += 1.0
                    np.divide(ws.scaled_signs, u, out=dZ_L)  # (s / N) sigmoid(t) = (sigmoid(z) - y) / N
                else:
                    spec.fn(ws.AT[L], ws.YT, out=ws.work, check=False)
                    spec.derivative(ws.AT[L], ws.YT, out=dZ_L)
                    dZ_L *= ws.weight
                    dZ_L *= g[L - 1].derivative(ws.ZT[L], ws.AT[L], out=ws.work2)
                ws.work *= ws.weight
                np.sum(ws.work, axis=(1, 2), out=losses)
                if not np.isfinite(losses).all():
                    k = int(np.flatnonzero(~np.isfinite(losses))[0])
                    check_loss(float(losses[k]), it, float(rates[k]), network=k)
                history[:, it] = losses
                if callback is not None:
                    callback(it, losses.copy())
                # backward, layer by layer
                for l in range(L, 0, -1):
                    np.matmul(ws.dZT[l], ws.A1sT[l - 1].transpose(0, 2, 1), out=dP[l - 1])
                    if l > 1:
                        if first.dims[l] == 1:  # an outer product: broadcasting beats matmul's loop
                            np.multiply(PT[l - 1], ws.dZT[l], out=ws.dA1sT[l - 1])
                        else:
                            np.matmul(PT[l - 1], ws.dZT[l], out=ws.dA1sT[l - 1])
                        dZ = ws.dZT[l - 1]
                        if relu[l - 2]:  # relu'(z) = ceil(min(a, 1)) for a = relu(z) >= 0
                            np.minimum(ws.AT[l - 1], ws.ones[l - 1], out=dZ)
                            np.ceil(dZ, out=dZ)
                        else:
                            g[l - 2].derivative(ws.ZT[l - 1], ws.AT[l - 1], out=dZ)
                        dZ *= ws.dAT[l - 1]
                for params, grads, opt in steps:
                    opt._step(params, grads)
    finally:  # the trained weights, or those from before the step that diverged
        for k, net in enumerate(nets):
            for block, stacked in zip(net._P, P):
                block[...] = stacked[k]
    return history


def _data_sets(X: object, y: object, K: int, dims: Sequence[int],
               loss: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(X, Y)`` for each network, checked: one data set shared by all (the same arrays ``K``
    times), or ``K`` of them when ``X`` is a list or tuple of 2-D arrays (a single ``X`` is 2-D)."""
    if isinstance(X, (list, tuple)) and X and all(np.ndim(x) == 2 for x in X):
        if not isinstance(y, (list, tuple)) or len(y) != len(X):
            raise ValueError(f"X holds {len(X)} data sets (one per network): y must be a list of as many "
                             "label arrays")
        if len(X) != K:
            raise ValueError(f"{len(X)} data sets given for {K} networks")
        data = []
        for k, (x, t) in enumerate(zip(X, y)):
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

