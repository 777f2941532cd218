"""The vectorized MLP: against a straightforward NumPy reference, against the scalar MLP, and
its training loop (equivalence, extremes, errors, allocations)."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest

from microgrid.data import load_wisconsin
from microgrid.nn import MLP
from microgrid.optim import SGD, Adam, TrainingDiverged
from microgrid.vectorized import VectorizedMLP


@pytest.fixture(scope="module")
def wisconsin() -> tuple[np.ndarray, np.ndarray]:
    data = load_wisconsin()
    return (data.X - 1.0) / 9.0, data.y.astype(np.float64)


def reference_step(W1, b1, W2, b2, X, y):
    """The tutorial's computation, written independently: samples as columns, fresh arrays."""
    Xc, Y, m = X.T, y[None, :], X.shape[0]
    Z1 = W1 @ Xc + b1[:, None]
    A1 = np.maximum(Z1, 0.0)
    Z2 = W2 @ A1 + b2[:, None]
    Yh = 1.0 / (1.0 + np.exp(-Z2))
    loss = -np.mean(Y * np.log(Yh) + (1.0 - Y) * np.log(1.0 - Yh))
    dZ2 = (Yh - Y) / m
    dZ1 = (W2.T @ dZ2) * (Z1 > 0)
    return loss, [dZ1 @ Xc.T, dZ1.sum(axis=1), dZ2 @ A1.T, dZ2.sum(axis=1)]


def test_loss_and_grads_match_the_straightforward_computation(wisconsin) -> None:
    X, y = wisconsin
    net = VectorizedMLP([9, 15, 1], init="scaled_normal", seed=1)
    ws = net.get_weights()
    ws[1] += 0.1  # nonzero biases
    net.set_weights(ws)
    loss, grads = net.loss_and_grads(X, y)
    ref_loss, ref_grads = reference_step(*ws, X, y)
    assert loss == pytest.approx(ref_loss, rel=1e-13)
    for g, r in zip(grads, ref_grads):
        np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-15)
    assert net.loss(X, y) == loss


def test_fit_follows_the_straightforward_loop(wisconsin) -> None:
    X, y = wisconsin
    net = VectorizedMLP([9, 15, 1], seed=2)
    W1, b1, W2, b2 = net.get_weights()
    history = net.fit(X[:300], y[:300], lr=0.07, iters=200)
    for it in range(200):
        loss, (dW1, db1, dW2, db2) = reference_step(W1, b1, W2, b2, X[:300], y[:300])
        assert history[it] == pytest.approx(loss, rel=1e-12)
        W1, b1, W2, b2 = W1 - 0.07 * dW1, b1 - 0.07 * db1, W2 - 0.07 * dW2, b2 - 0.07 * db2
    for got, expected in zip(net.get_weights(), (W1, b1, W2, b2)):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)
    assert history[-1] < 0.7 * history[0]


def test_forward_matches_the_scalar_network() -> None:
    rng = np.random.default_rng(0)
    acts = ["leaky_relu", "tanh", "sigmoid", "linear"]
    net = VectorizedMLP([3, 5, 4, 3, 2], activations=acts, seed=3)
    mlp = net.to_scalar()
    X = rng.uniform(-2, 2, size=(6, 3))
    out = net.forward(X)
    assert out.shape == (6, 2)
    expected = [[v.data for v in mlp(x)] for x in X.tolist()]
    np.testing.assert_allclose(out, expected, rtol=1e-13)
    Zs = net.preactivations(X)
    assert [Z.shape for Z in Zs] == [(6, 5), (6, 4), (6, 3), (6, 2)]
    np.testing.assert_allclose(Zs[-1], out)  # linear output: A_L = Z_L
    np.testing.assert_allclose(Zs[0], X @ net.get_weights()[0].T + net.get_weights()[1])


@pytest.mark.parametrize("optimizer", ["gd", "momentum", "adam"])
@pytest.mark.parametrize("batch_size", [None, 7])
def test_training_equivalence_with_the_scalar_network(wisconsin, optimizer: str, batch_size) -> None:
    """Same weights, same optimizer, 20 steps on the same rows: the same weights to 1e-10."""
    X, y = wisconsin
    X, y = X[:24], y[:24]
    mlp = MLP(9, [6, 4, 1], activations=["tanh", "relu", "sigmoid"], seed=5)
    net = VectorizedMLP.from_scalar(mlp)
    h_scalar = mlp.fit(X, y, lr=0.05, iters=20, optimizer=optimizer, batch_size=batch_size, seed=9)
    h_vector = net.fit(X, y, lr=0.05, iters=20, optimizer=optimizer, batch_size=batch_size, seed=9)
    np.testing.assert_allclose(h_scalar, h_vector, rtol=1e-12)
    start = VectorizedMLP([9, 6, 4, 1], activations=["tanh", "relu", "sigmoid"], seed=5).get_weights()
    for a, b, w0 in zip(mlp.get_weights(), net.get_weights(), start):
        scale = np.max(np.abs(b))
        assert np.max(np.abs(a - b)) <= 1e-10 * scale
        assert not np.array_equal(b, w0)  # they did move


def test_minibatches_are_reproducible_from_the_seed(wisconsin) -> None:
    X, y = wisconsin
    runs = [VectorizedMLP([9, 4, 1]).fit(X, y, lr=0.1, iters=30, batch_size=64, seed=s) for s in (1, 1, 2)]
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_bce_is_exact_at_logits_of_1000() -> None:
    net = VectorizedMLP([1, 1])  # p = sigmoid(w x + b)
    for w, label, loss, dz in [(1000.0, 0, 1000.0, 1.0), (1000.0, 1, 0.0, 0.0),
                               (-1000.0, 1, 1000.0, -1.0), (-1000.0, 0, 0.0, 0.0)]:
        net.set_weights([np.array([[w]]), np.array([0.0])])
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            value, (dW, db) = net.loss_and_grads([[1.0]], [label])
        assert value == loss and dW[0, 0] == dz and db[0] == dz  # dL/dz = sigmoid(z) - y, z = w * 1
        mlp = net.to_scalar()
        graph = mlp.loss([[1.0]], [label])
        graph.backward()
        assert graph.data == loss and mlp.get_grads()[0][0, 0] == dz


@pytest.mark.parametrize("X, y, message", [
    (np.zeros((4, 8)), np.zeros(4), "X has 8 columns but the network takes 9 inputs"),
    (np.full((4, 9), np.nan), np.zeros(4), "X contains NaN or infinite values"),
    (np.zeros((4, 9)), np.array([0, 1, 2, 1]), "labels must be 0 or 1"),
    (np.zeros((4, 9)), np.array([0.5, 1, 0, 1]), "labels must be 0 or 1"),
    (np.zeros((4, 9)), np.zeros(5), "X has 4 rows but y has 5"),
])
def test_bad_input_is_named(X, y, message: str) -> None:
    net = VectorizedMLP([9, 3, 1])
    for call in (net.fit, net.loss_and_grads, net.loss):
        with pytest.raises(ValueError, match=message):
            call(X, y)


def test_bad_training_arguments() -> None:
    net = VectorizedMLP([2, 1])
    X, y = np.zeros((3, 2)), np.zeros(3)
    with pytest.raises(ValueError, match="iters must be a non-negative integer"):
        net.fit(X, y, iters=-1)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        net.fit(X, y, batch_size=0)
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'"):
        net.fit(X, y, optimizer="rmsprop")
    with pytest.raises(ValueError, match="learning rate must be positive"):
        net.fit(X, y, lr=0.0)
    with pytest.raises(ValueError, match="unknown loss 'l1'"):
        net.fit(X, y, loss="l1")
    assert net.fit(X, y, iters=0).shape == (0,)


def test_divergence_names_the_iteration_and_keeps_the_last_finite_weights() -> None:
    net = VectorizedMLP([1, 3, 1], activations=["linear", "linear"], seed=1)
    X, y = np.array([[1.0], [3.0]]), np.array([2.0, -1.0])
    seen: list[float] = []
    with pytest.raises(TrainingDiverged) as info:
        net.fit(X, y, lr=1e3, iters=1000, loss="mse", callback=lambda i, loss: seen.append(loss))
    err = info.value
    assert isinstance(err, ValueError)
    assert err.iteration == len(seen) and not math.isfinite(err.loss)
    assert f"at iteration {err.iteration + 1}; try a smaller learning rate (lr is 1000)" in str(err)
    assert all(np.isfinite(w).all() for w in net.get_weights())


def test_callback_sees_every_iteration(wisconsin) -> None:
    X, y = wisconsin
    calls: list[tuple[int, float]] = []
    history = VectorizedMLP([9, 3, 1]).fit(X, y, iters=25, callback=lambda i, loss: calls.append((i, loss)))
    assert calls == list(enumerate(history.tolist()))


def test_predictions(wisconsin) -> None:
    X, y = wisconsin
    net = VectorizedMLP([9, 15, 1], seed=0)
    net.fit(X[:500], y[:500], iters=300, optimizer=Adam(lr=0.01))
    p = net.predict_proba(X[500:])
    assert p.shape == (183,) and ((0 < p) & (p < 1)).all()
    np.testing.assert_array_equal(net.predict(X[500:]), (p >= 0.5).astype(int))
    assert np.mean(net.predict(X[501:]) == y[501:]) > 0.95
    assert net.predict(X[:5], threshold=0.999).sum() <= net.predict(X[:5]).sum()
    with pytest.raises(ValueError, match="threshold must be strictly between 0 and 1"):
        net.predict(X, threshold=1.0)


def test_weights_view_is_live_and_get_weights_copies() -> None:
    net = VectorizedMLP([2, 2, 1])
    copy = net.get_weights()
    net.weights[1][:] = 3.0
    assert net.get_weights()[1].tolist() == [3.0, 3.0] and copy[1].tolist() == [0.0, 0.0]
    copy[0][:] = 9.0
    assert not (net.get_weights()[0] == 9.0).any()


def test_numerical_grads_match_a_closed_form() -> None:
    # L(w, b) = mean((w x + b - y)^2): dL/dw = 2 mean((w x + b - y) x), dL/db = 2 mean(w x + b - y)
    net = VectorizedMLP([1, 1], activations=["linear"])
    net.set_weights([np.array([[0.7]]), np.array([-0.2])])
    x, y = np.array([0.5, -1.0, 2.0]), np.array([1.0, 0.3, -0.4])
    r = 0.7 * x - 0.2 - y
    dW, db = net.numerical_grads(x[:, None], y, loss="mse")
    assert dW[0, 0] == pytest.approx(2 * np.mean(r * x), rel=1e-9)
    assert db[0] == pytest.approx(2 * np.mean(r), rel=1e-9)
    assert net.get_weights()[0][0, 0] == 0.7  # restored exactly


@pytest.mark.skipif(int(np.__version__.split(".")[0]) < 2,
                    reason="measured on NumPy 2; NumPy 1.24 allocates a 6 kB scratch per iteration in the "
                           "leaky_relu/mse case (its ufunc machinery, not a microgrid array)")
def test_full_batch_iterations_allocate_no_arrays(wisconsin) -> None:
    """Every buffer is reused: no iteration allocates anything the size of a batch or a layer."""
    X, y = wisconsin
    largest: list[int] = []

    def callback(i: int, loss: float) -> None:
        current, peak = tracemalloc.get_traced_memory()
        if i >= 2:
            largest.append(peak - callback.start)
        tracemalloc.reset_peak()
        callback.start = tracemalloc.get_traced_memory()[0]

    callback.start = 0
    cases = [(None, "bce", SGD(lr=0.07)), (["tanh", "sigmoid"], "bce", Adam(lr=0.01)),
             (["leaky_relu", "linear"], "mse", SGD(lr=0.01, momentum=0.9, weight_decay=0.1))]
    for acts, loss, optimizer in cases:
        net = VectorizedMLP([9, 15, 1], activations=acts)
        tracemalloc.start()
        try:
            net.fit(X, y, iters=20, optimizer=optimizer, loss=loss, callback=callback)
        finally:
            tracemalloc.stop()
        # an (n, 1) array of the 683 rows alone would take 5464 bytes
        assert max(largest) < 2000, (acts, loss, max(largest))


@pytest.mark.parametrize("seed, error", [(None, TypeError), (-1, ValueError), (1.5, TypeError)])
@pytest.mark.parametrize("batch_size", [None, 2])
def test_fit_refuses_an_unrepeatable_seed_even_when_it_is_unused(seed, error, batch_size):
    X, y = np.ones((4, 2)), np.array([0, 1, 0, 1])
    for net in (VectorizedMLP([2, 3, 1]), VectorizedMLP([2, 3, 1]).to_scalar()):
        with pytest.raises(error, match="seed must be a non-negative integer"):
            net.fit(X, y, iters=1, batch_size=batch_size, seed=seed)
        net.fit(X, y, iters=1, batch_size=batch_size, seed=0)  # the line: 0 is the smallest seed


def test_loss_every_records_some_iterations_and_trains_identically(wisconsin) -> None:
    X, y = wisconsin
    every = VectorizedMLP([9, 4, 1], seed=3)
    some = VectorizedMLP([9, 4, 1], seed=3)
    calls: list[tuple[int, float]] = []
    h1 = every.fit(X, y, iters=23)
    h7 = some.fit(X, y, iters=23, loss_every=7, callback=lambda i, loss: calls.append((i, loss)))
    assert h1.iterations.tolist() == list(range(23))
    assert h7.iterations.tolist() == [0, 7, 14, 21]
    np.testing.assert_array_equal(h7, np.asarray(h1)[h7.iterations])  # the same numbers, bit for bit
    assert calls == list(zip(h7.iterations.tolist(), h7.tolist()))
    for a, b in zip(every.get_weights(), some.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert type(h7[1:]) is np.ndarray  # slices are plain arrays: their labels would be wrong
    with pytest.raises(ValueError, match="loss_every must be a positive integer, got 0"):
        some.fit(X, y, iters=3, loss_every=0)


@pytest.mark.parametrize("loss_every", [1, 5])
def test_divergence_is_caught_at_the_same_iteration_whatever_loss_every(loss_every: int) -> None:
    X, y = np.array([[1.0], [3.0], [-2.0]]), np.array([1.0, 0.0, 1.0])
    net = VectorizedMLP([1, 3, 1], activations=["linear", "sigmoid"], seed=1)
    ref = VectorizedMLP([1, 3, 1], activations=["linear", "sigmoid"], seed=1)
    errors = []
    for model, k in ((ref, 1), (net, loss_every)):
        with pytest.raises(TrainingDiverged) as info:
            model.fit(X, y, lr=1e150, iters=200, loss_every=k)
        errors.append(info.value)
    assert errors[0].iteration == errors[1].iteration and errors[0].iteration > 0
    for a, b in zip(ref.get_weights(), net.get_weights()):
        np.testing.assert_array_equal(a, b)  # both stopped before the same step
        assert np.isfinite(b).all()


def test_fit_loss_stays_exact_when_the_exponential_overflows() -> None:
    # logit s z = 1000 for both rows: e^1000 overflows, the loss is 1000 exactly and the gradient
    # (sigmoid(z) - y) / N = +-1/2, from the overflow-free form
    net = VectorizedMLP([1, 1])
    net.set_weights([np.array([[1000.0]]), np.array([0.0])])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        history = net.fit([[1.0], [-1.0]], [0, 1], lr=1e-6, iters=1)
    assert history[0] == 1000.0
    assert net.get_weights()[0][0, 0] == 1000.0 - 1e-6 * (0.5 + 0.5)


def test_predict_says_1_at_exactly_the_threshold() -> None:
    net = VectorizedMLP([2, 1])
    net.set_weights([np.zeros((1, 2)), np.zeros(1)])  # sigmoid(0) = 0.5 exactly, for every row
    X = np.ones((3, 2))
    assert net.predict_proba(X).tolist() == [0.5, 0.5, 0.5]
    assert net.predict(X, threshold=0.5).tolist() == [1, 1, 1]
    assert net.predict(X, threshold=np.nextafter(0.5, 1.0)).tolist() == [0, 0, 0]
    assert net.predict(X, threshold=5e-324).tolist() == [1, 1, 1]  # the smallest threshold above 0
    assert net.predict(X, threshold=np.nextafter(1.0, 0.0)).tolist() == [0, 0, 0]
    for bad in (0.0, 1.0):
        with pytest.raises(ValueError, match="threshold must be strictly between 0 and 1"):
            net.predict(X, threshold=bad)
    with pytest.raises(TypeError, match="threshold must be a number"):
        net.predict(X, threshold="0.5")


@pytest.mark.parametrize("optimizer", ["gd", "adam"])
def test_a_multi_output_step_averages_over_every_entry(optimizer: str) -> None:
    """Three outputs on four rows: the loss is the mean over 12 entries, so one step is the
    scalar graph's gradient of that mean (1/(m k), not 1/m)."""
    rng = np.random.default_rng(4)
    X, Y = rng.standard_normal((4, 2)), rng.integers(0, 2, (4, 3)).astype(float)
    for acts, loss in ((None, "bce"), (["tanh"], "mse")):
        net = VectorizedMLP([2, 3], activations=acts, seed=2)
        mlp = net.to_scalar()
        mlp.loss(X, Y, loss).backward()
        opt = SGD(lr=0.5) if optimizer == "gd" else Adam(lr=0.5)
        expected = net.get_weights()
        opt.step(expected, mlp.get_grads())
        net.fit(X, Y, iters=1, optimizer=optimizer, lr=0.5, loss=loss)
        for a, b in zip(net.get_weights(), expected):
            np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)


def test_network_size_has_a_documented_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    import microgrid.arrays

    with pytest.raises(ValueError, match=r"VectorizedMLP of widths \[9, 100000000, 1\] would have "
                                         r"1,100,000,001 parameters, more than the limit of 250,000,000 "
                                         r"\(microgrid.arrays.MAX_PARAMETERS\)"):
        VectorizedMLP(9, [10**8, 1])  # refused before anything is allocated
    monkeypatch.setattr(microgrid.arrays, "MAX_PARAMETERS", 13)  # [2, 3, 1]: 3 x 3 + 4 x 1
    assert VectorizedMLP([2, 3, 1]).dims == [2, 3, 1]
    monkeypatch.setattr(microgrid.arrays, "MAX_PARAMETERS", 12)
    with pytest.raises(ValueError, match="would have 13 parameters, more than the limit of 12"):
        VectorizedMLP([2, 3, 1])
