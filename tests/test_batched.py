"""Many networks in one pass (microgrid.vectorized.fit_many) against training each network alone."""

from __future__ import annotations

import numpy as np
import pytest

from microgrid.data import load_wisconsin
from microgrid.optim import TrainingDiverged
from microgrid.vectorized import VectorizedMLP, fit_many


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    d = load_wisconsin()
    return (d.X[:80] - 1.0) / 9.0, d.y[:80].astype(np.float64)


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@pytest.mark.parametrize("optimizer", ["gd", "momentum", "adam"])
@pytest.mark.parametrize("batch_size", [None, 16])
@pytest.mark.parametrize("acts, loss", [(None, "bce"), (["tanh", "relu", "linear"], "mse")])
def test_each_network_trains_as_it_would_alone(data, optimizer, batch_size, acts, loss) -> None:
    X, y = data
    dims = [9, 6, 4, 1] if acts else [9, 7, 1]
    rng = np.random.default_rng(0)
    rows = [np.sort(rng.choice(80, size=n, replace=False)) for n in (72, 71, 80, 64)]  # folds, all rows
    lrs, seeds = [0.05, 0.05, 0.2, 0.1], [3, 1, 4, 1]
    nets = [VectorizedMLP(dims, activations=acts, seed=s) for s in (0, 1, 2, 3)]
    alone = [VectorizedMLP(dims, activations=acts, seed=s) for s in (0, 1, 2, 3)]
    history = fit_many(nets, X, y, lr=lrs, iters=30, optimizer=optimizer, batch_size=batch_size,
                       seeds=seeds, rows=rows, loss=loss)
    assert history.shape == (4, 30)
    for k in range(4):
        h = alone[k].fit(X[rows[k]], y[rows[k]], lr=lrs[k], iters=30, optimizer=optimizer,
                         batch_size=batch_size, seed=seeds[k], loss=loss)
        assert rel(history[k], np.asarray(h)) <= 1e-12
        for a, b in zip(nets[k].get_weights(), alone[k].get_weights()):
            assert rel(a, b) <= 1e-12
        assert not np.allclose(nets[k].get_weights()[0], VectorizedMLP(dims, seed=k).get_weights()[0])


@pytest.mark.parametrize("optimizer", ["gd", "momentum", "adam"])
@pytest.mark.parametrize("batch_size", [None, 16])
def test_each_network_on_its_own_data_set_trains_as_it_would_alone(data, optimizer, batch_size) -> None:
    X, y = data
    rng = np.random.default_rng(1)
    # three folds, each scaled on its own training rows (so each network sees different numbers)
    folds = [np.sort(rng.choice(80, size=n, replace=False)) for n in (72, 71, 64)]
    Xs = [(X[r] - X[r].mean(axis=0)) / (X[r].std(axis=0) + 0.5) for r in folds]
    ys = [y[r] for r in folds]
    rows = [None, np.arange(0, 71, 2), None]  # a data set's own row numbers, or all of its rows
    nets = [VectorizedMLP([9, 6, 1], seed=s) for s in range(3)]
    own = [np.arange(len(x)) if r is None else r for x, r in zip(Xs, rows)]
    history = fit_many(nets, Xs, ys, lr=0.05, iters=25, optimizer=optimizer, batch_size=batch_size,
                       seeds=[2, 7, 2], rows=own)
    for k in range(3):
        alone = VectorizedMLP([9, 6, 1], seed=k)
        mine = slice(None) if rows[k] is None else rows[k]
        h = alone.fit(Xs[k][mine], ys[k][mine], lr=0.05, iters=25, optimizer=optimizer,
                      batch_size=batch_size, seed=[2, 7, 2][k])
        assert rel(history[k], np.asarray(h)) <= 1e-12
        for a, b in zip(nets[k].get_weights(), alone.get_weights()):
            assert rel(a, b) <= 1e-12
    # without rows, each network trains on all rows of its own data set
    nets = [VectorizedMLP([9, 6, 1], seed=s) for s in range(3)]
    history = fit_many(nets, Xs, ys, lr=0.05, iters=5, optimizer=optimizer)
    for k in range(3):
        h = VectorizedMLP([9, 6, 1], seed=k).fit(Xs[k], ys[k], lr=0.05, iters=5, optimizer=optimizer)
        assert rel(history[k], np.asarray(h)) <= 1e-12


def test_seeds_and_learning_rates_on_shared_rows(data) -> None:
    X, y = data
    nets = [VectorizedMLP([9, 5, 1], seed=s) for s in range(3)]
    calls = []
    history = fit_many(nets, X, y, lr=[0.1, 0.3, 0.3], iters=12,
                       callback=lambda i, losses: calls.append(losses))
    assert len(calls) == 12 and np.array_equal(np.array(calls).T, history)
    for s, lr in enumerate([0.1, 0.3, 0.3]):
        alone = VectorizedMLP([9, 5, 1], seed=s)
        assert rel(history[s], np.asarray(alone.fit(X, y, lr=lr, iters=12))) <= 1e-12


def test_divergence_names_the_network_and_keeps_weights_from_before(data) -> None:
    X, y = data
    nets = [VectorizedMLP([9, 3, 1], activations=["linear", "linear"], seed=s) for s in (0, 1)]
    alone = VectorizedMLP([9, 3, 1], activations=["linear", "linear"], seed=1)
    with pytest.raises(TrainingDiverged) as solo:
        alone.fit(X, y, lr=50.0, iters=500, loss="mse")
    with pytest.raises(TrainingDiverged, match=r"network 1: training diverged: .* at iteration \d+") as info:
        fit_many(nets, X, y, lr=[0.01, 50.0], iters=500, loss="mse")
    assert info.value.iteration == solo.value.iteration
    for a, b in zip(nets[1].get_weights(), alone.get_weights()):
        assert np.isfinite(a).all() and rel(a, b) <= 1e-9


def test_bad_arguments_are_named(data) -> None:
    X, y = data
    two = [VectorizedMLP([9, 3, 1], seed=s) for s in (0, 1)]
    with pytest.raises(ValueError, match="all must have one shape"):
        fit_many([VectorizedMLP([9, 3, 1]), VectorizedMLP([9, 4, 1])], X, y, iters=1)
    with pytest.raises(ValueError, match="3 learning rates given for 2 networks"):
        fit_many(two, X, y, lr=[0.1, 0.1, 0.1], iters=1)
    with pytest.raises(ValueError, match=r"rows\[0\] must be a non-empty 1-D array of row numbers below 80"):
        fit_many([VectorizedMLP([9, 3, 1])], X, y, rows=[[80]], iters=1)
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'"):
        fit_many([VectorizedMLP([9, 3, 1])], X, y, optimizer="rmsprop", iters=1)
    with pytest.raises(TypeError, match="non-empty list of VectorizedMLP"):
        fit_many([], X, y, iters=1)
    with pytest.raises(ValueError, match="3 data sets given for 2 networks"):
        fit_many(two, [X] * 3, [y] * 3, iters=1)
    with pytest.raises(ValueError, match="X holds 2 data sets .* y must be a list of as many"):
        fit_many(two, [X, X], y, iters=1)
    with pytest.raises(ValueError, match=r"data set 1: X has 8 columns but the network takes 9 inputs"):
        fit_many(two, [X, X[:, :8]], [y, y], iters=1)
    with pytest.raises(ValueError, match=r"rows\[1\] must be a non-empty 1-D array of row numbers below 40"):
        fit_many(two, [X, X[:40]], [y, y[:40]], rows=[[50], [50]], iters=1)


def test_a_network_given_twice_is_refused(data) -> None:
    X, y = data
    net, other = VectorizedMLP([9, 3, 1]), VectorizedMLP([9, 3, 1])
    before = net.get_weights()
    with pytest.raises(ValueError, match="network 2 is network 0 given again"):
        fit_many([net, other, net], X, y, iters=1)
    assert all(np.array_equal(a, b) for a, b in zip(net.get_weights(), before))  # nothing trained
    twin = VectorizedMLP([9, 3, 1])  # equal weights, another network: accepted
    history = fit_many([net, twin], X, y, iters=2)
    np.testing.assert_array_equal(history[0], history[1])
