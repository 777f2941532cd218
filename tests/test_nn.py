"""The scalar MLP: structure, names, initialization, weight exchange, loss, training."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given

from microgrid.engine import Value, topological_order, vsum
from microgrid.functional import ACTIVATIONS, LEAKY_ALPHA, check_data, get_activation, resolve_activations
from microgrid.nn import INITS, MLP, Layer, Neuron, initial_weights
from microgrid.optim import SGD, TrainingDiverged
from microgrid.vectorized import VectorizedMLP

from strategies import activation_names, float_lists, moderate

# independent float references of each activation
REFERENCE = {
    "relu": lambda z: max(z, 0.0),
    "leaky_relu": lambda z: z if z > 0 else LEAKY_ALPHA * z,
    "tanh": math.tanh,
    "sigmoid": lambda z: math.exp(-math.log1p(math.exp(-z))),  # 1/(1 + e^-z) as exp(-softplus(-z))
    "linear": lambda z: z,
}


# -- activation table -------------------------------------------------------------------------


def test_activation_table_names_and_errors() -> None:
    assert set(ACTIVATIONS) == {"relu", "leaky_relu", "tanh", "sigmoid", "linear"}
    with pytest.raises(ValueError, match="unknown activation 'gelu'; choose from relu, leaky_relu"):
        get_activation("gelu")
    assert resolve_activations(None, 3) == ["relu", "relu", "linear"]  # micrograd's MLP, nn.Linear last
    assert resolve_activations("tanh", 2) == ["tanh", "linear"]
    assert resolve_activations(["linear"], 1) == ["linear"]
    with pytest.raises(ValueError, match="2 activations given for 3 layers"):
        resolve_activations(["relu", "sigmoid"], 3)


def test_an_unknown_activation_is_refused_even_without_hidden_layers() -> None:
    for build in (lambda: MLP(3, [2], activations="foo"), lambda: VectorizedMLP([3, 2], activations="foo"),
                  lambda: MLP(3, [4, 2], activations="foo"), lambda: resolve_activations("foo", 1)):
        with pytest.raises(ValueError, match="unknown activation 'foo'; choose from relu"):
            build()
    with pytest.raises(TypeError, match="activations must be a name or a sequence of names, got int"):
        resolve_activations(5, 2)  # type: ignore[arg-type]
    assert VectorizedMLP([3, 2], activations="tanh").activations == ["linear"]  # a known name: accepted


@given(activation_names(), moderate)
def test_activation_forms_agree(name: str, z: float) -> None:
    act = get_activation(name)
    a = act.forward(np.array([z]))[0]
    assert a == pytest.approx(REFERENCE[name](z), rel=1e-14, abs=1e-300)
    assert act.scalar(Value(z)).data == pytest.approx(a, rel=1e-15, abs=1e-300)
    v = Value(z)
    act.scalar(v).backward()
    d = act.derivative(np.array([z]), np.array([a]))[0]
    assert v.grad == pytest.approx(d, rel=1e-14, abs=1e-15)  # 1 - tanh^2 cancels: absolute accuracy
    if name not in ("relu", "leaky_relu") or abs(z) > 1e-3:  # central difference of the reference
        h = 1e-6
        assert d == pytest.approx((REFERENCE[name](z + h) - REFERENCE[name](z - h)) / (2 * h), abs=1e-7)


def test_activation_extremes_and_kinks() -> None:
    z = np.array([-1000.0, -40.0, 0.0, 40.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # no overflow anywhere
        s = get_activation("sigmoid").forward(z)
        ds = get_activation("sigmoid").derivative(z, s)
    assert s[0] < 1e-300 and s[1] == pytest.approx(math.exp(-40.0), rel=1e-14) and s[2] == 0.5 and s[4] == 1.0
    assert ds[1] == pytest.approx(math.exp(-40.0), rel=1e-13)
    assert ds[3] == pytest.approx(math.exp(-40.0), rel=1e-13)  # sigma(z) sigma(-z): no cancellation
    assert ds[2] == 0.25
    relu = get_activation("relu")
    # relu'(0) = 0 and leaky_relu'(0) = alpha, as in the engine
    assert relu.derivative(z, relu.forward(z)).tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]
    leaky = get_activation("leaky_relu")
    assert leaky.derivative(z, leaky.forward(z)).tolist() == [LEAKY_ALPHA] * 3 + [1.0, 1.0]
    out = np.empty(5)
    assert leaky.forward(z, out=out) is out and out[0] == -10.0


# -- neurons, layers, names ----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_neuron_is_one_dot_node_and_one_activation_node(name: str) -> None:
    n = Neuron(3, name, weights=[0.5, -1.0, 2.0], bias=0.25)
    x = [1.0, 2.0, 0.3]
    out = n(x)
    z = 0.5 * 1.0 - 1.0 * 2.0 + 2.0 * 0.3 + 0.25
    assert out.data == pytest.approx(REFERENCE[name](z), rel=1e-15)
    if name == "linear":
        assert out.op == "dot"
    else:
        assert out.op == name and out.parents[0].op == "dot"
    dot_node = out if name == "linear" else out.parents[0]
    assert dot_node.parents[:3] == tuple(n.w) and dot_node.parents[-1] is n.b
    assert n.logit(x).data == pytest.approx(z, rel=1e-15)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_a_layer_builds_what_its_neurons_build_one_by_one(name: str) -> None:
    layer = Layer(3, 4, name, seed=2)
    x = [Value(0.5), 1.0, Value(-2.0)]  # Values and a number
    outs = layer(x)
    dots = outs if name == "linear" else [o.parents[0] for o in outs]
    for n, out, z in zip(layer.neurons, outs, dots):
        alone = n(x)
        assert (out.data, out.op, out.local_grads) == (alone.data, alone.op, alone.local_grads)
        assert z.parents[:3] == tuple(n.w) and z.parents[-1] is n.b
        assert z.parents[3] is x[0] and z.parents[5] is x[2]
    assert len({id(z.parents[4]) for z in dots}) == 1  # the number became one leaf for all neurons
    assert [z.data for z in layer.logits(x)] == [z.data for z in dots]
    # newest first: each neuron's activation right before its own dot (made one after the other)
    order = topological_order(vsum(outs))[1:]
    expected = [node for o, z in zip(outs[::-1], dots[::-1]) for node in ((z,) if o is z else (o, z))]
    assert order[: len(expected)] == expected
    for call in (layer, layer.logits):
        with pytest.raises(ValueError, match=re.escape(f"Layer(3, 4, {name!r}) takes 3 inputs, got 2")):
            call([1.0, 2.0])


def test_parameter_names_and_labels() -> None:
    mlp = MLP(2, [3, 1])
    names = [name for name, _ in mlp.named_parameters()]
    assert len(names) == 3 * 2 + 3 + 3 + 1 == len(mlp.parameters())
    assert names[:4] == ["layers.0.neurons.0.w.0", "layers.0.neurons.0.w.1", "layers.0.neurons.0.b",
                         "layers.0.neurons.1.w.0"]
    assert names[-1] == "layers.1.neurons.0.b"
    assert all(p.label == name for name, p in mlp.named_parameters())
    assert [n for n, _ in Layer(2, 1).named_parameters()] == ["neurons.0.w.0", "neurons.0.w.1", "neurons.0.b"]
    assert mlp.dims == [2, 3, 1] and mlp.activations == ["relu", "linear"]
    assert repr(mlp) == "MLP(2 -> 3 relu -> 1 linear)"


def test_mlp_forward_matches_numpy_and_logits() -> None:
    mlp = MLP(3, [4, 2], activations=["tanh", "linear"], seed=7)
    W1, b1, W2, b2 = mlp.get_weights()
    x = np.array([0.2, -1.0, 0.5])
    expected = W2 @ np.tanh(W1 @ x + b1) + b2
    out = mlp(x.tolist())
    assert isinstance(out, list) and [o.data for o in out] == pytest.approx(expected.tolist(), rel=1e-14)
    single = MLP(3, [4, 1], activations=["relu", "sigmoid"], seed=7)
    p = single(x.tolist())
    z = single.logits(x.tolist())
    assert isinstance(p, Value) and p.data == pytest.approx(1.0 / (1.0 + math.exp(-z.data)), rel=1e-15)
    default = MLP(3, [4, 1], seed=7)  # the same weights, a linear output: the logit itself
    assert default(x.tolist()).data == z.data == default.logits(x.tolist()).data
    assert default.predict_proba([x]) == pytest.approx([p.data], rel=1e-15)
    with pytest.raises(ValueError, match="takes 3 inputs, got 2"):
        mlp([1.0, 2.0])


def test_one_neuron_hidden_layer_works() -> None:
    mlp = MLP(2, [16, 1, 1])
    X, y = np.array([[0.1, 0.2], [0.5, -0.3]]), [1, 0]
    loss = mlp.loss(X, y)
    loss.backward()
    grads = mlp.get_grads()
    assert math.isfinite(loss.data) and len(grads) == 6
    assert [g.shape for g in grads] == [(16, 2), (16,), (1, 16), (1,), (1, 1), (1,)]

    # the same network on the vectorized path: hand-derived gradients, and central differences
    net = VectorizedMLP(mlp.dims, activations=mlp.activations)
    net.set_weights(mlp.get_weights())
    Z = net.preactivations(X)
    assert np.all(Z[1] > 0.0), "the one-neuron layer should be active on both rows (seed 0 weights)"
    assert min(np.min(np.abs(z)) for z in Z[:2]) > 1e-3  # no relu kink within a difference step
    manual_loss, manual = net.loss_and_grads(X, y)
    numeric = net.numerical_grads(X, y, eps=1e-6)
    assert math.isclose(loss.data, manual_loss, rel_tol=1e-12)
    for k, (a, m, n) in enumerate(zip(grads, manual, numeric)):
        assert np.any(a != 0.0), f"tensor {k}: no gradient flows through the one-neuron layer"
        scale = np.max(np.abs(m))
        assert np.max(np.abs(a - m)) <= 1e-10 * scale, f"tensor {k}: autograd vs hand-derived"
        np.testing.assert_allclose(a, n, rtol=1e-5, atol=1e-8, err_msg=f"tensor {k}: autograd vs fd")


def test_inputs_are_shared_leaves() -> None:
    mlp = MLP(3, [4, 1])
    out = mlp([1.0, 2.0, 3.0])
    leaves = [n for n in topological_order(out) if n.is_leaf and not n.label]
    assert sorted(v.data for v in leaves) == [1.0, 2.0, 3.0]  # 3 input leaves, not 3 per neuron


def test_zero_grad() -> None:
    mlp = MLP(2, [2, 1])
    mlp.loss([[1.0, 2.0]], [1]).backward()
    assert any(p.grad != 0.0 for p in mlp.parameters())
    mlp.zero_grad()
    assert all(p.grad == 0.0 for p in mlp.parameters())


# -- initialization ----------------------------------------------------------------------------


def test_scaled_normal_is_the_tutorial_draw_and_both_paths_agree() -> None:
    rng = np.random.default_rng(11)
    expected = []
    for n_in, n_out in ((9, 15), (15, 1)):
        expected += [rng.standard_normal((n_out, n_in)) / np.sqrt(n_in), np.zeros(n_out)]
    for init in INITS:
        scalar = MLP(9, [15, 1], init=init, seed=11).get_weights()
        vector = VectorizedMLP([9, 15, 1], init=init, seed=11).get_weights()
        for a, b in zip(scalar, vector):
            np.testing.assert_array_equal(a, b)
    for a, b in zip(MLP(9, [15, 1], init="scaled_normal", seed=11).get_weights(), expected):
        np.testing.assert_array_equal(a, b)


def test_the_default_draw_is_micrograds_uniform() -> None:
    rng = np.random.default_rng(3)
    W1, W2 = rng.uniform(-1.0, 1.0, (15, 9)), rng.uniform(-1.0, 1.0, (1, 15))
    for net in (MLP(9, [15, 1], seed=3), VectorizedMLP([9, 15, 1], seed=3)):
        got = net.get_weights()
        np.testing.assert_array_equal(got[0], W1)
        np.testing.assert_array_equal(got[2], W2)
        assert not got[1].any() and not got[3].any()
    W, _ = initial_weights([400, 300], seed=0)
    assert -1.0 <= W.min() < -0.999 and 0.999 < W.max() <= 1.0  # micrograd's random.uniform(-1, 1)


@pytest.mark.parametrize("init, std", [("uniform", math.sqrt(1 / 3)), ("he", math.sqrt(2 / 400)),
                                       ("xavier", math.sqrt(2 / 700)), ("scaled_normal", math.sqrt(1 / 400))])
def test_init_scales(init: str, std: float) -> None:
    W, b = initial_weights([400, 300], init=init, seed=0)
    assert W.shape == (300, 400) and not b.any()
    assert W.std() == pytest.approx(std, rel=0.01)  # 120,000 draws: sampling error ~0.2%
    assert abs(W.mean()) < 0.01 * std


def test_init_errors_and_reproducibility() -> None:
    with pytest.raises(ValueError, match="unknown init 'lecun'"):
        initial_weights([2, 1], init="lecun")
    with pytest.raises(ValueError, match="positive integers"):
        MLP(2, [0, 1])
    with pytest.raises(ValueError, match=r"list of layer widths after the inputs, e.g. \[15, 1\]"):
        MLP(9, 15)
    for bad, error in ((-1, ValueError), (1.5, TypeError), ("a", TypeError)):  # NumPy's own message
        with pytest.raises(error, match=f"seed must be a non-negative integer, got {bad!r}"):  # would not
            MLP(2, [3, 1], seed=bad)  # say which argument
        with pytest.raises(error, match="seed must be a non-negative integer"):
            VectorizedMLP([2, 3, 1], seed=bad)
    a, b = MLP(4, [3, 1], seed=5).get_weights(), MLP(4, [3, 1], seed=5).get_weights()
    c = MLP(4, [3, 1], seed=6).get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(a, b)) and not np.array_equal(a[0], c[0])


# -- weight exchange -----------------------------------------------------------------------------


def test_weights_round_trip_between_paths() -> None:
    rng = np.random.default_rng(3)
    mlp = MLP(3, [5, 2, 1], activations=["tanh", "relu", "sigmoid"])
    ws = [rng.standard_normal(w.shape) for w in mlp.get_weights()]
    mlp.set_weights(ws)
    for a, b in zip(mlp.get_weights(), ws):
        np.testing.assert_array_equal(a, b)
    net = VectorizedMLP.from_scalar(mlp)
    assert net.activations == mlp.activations
    for a, b in zip(net.get_weights(), ws):
        np.testing.assert_array_equal(a, b)
    back = net.to_scalar()
    for a, b in zip(back.get_weights(), ws):
        np.testing.assert_array_equal(a, b)
    X = rng.uniform(size=(4, 3))
    assert [back(x).data for x in X.tolist()] == pytest.approx(net.predict_proba(X).tolist(), rel=1e-14)


@pytest.mark.parametrize("net", [MLP(3, [2, 1]), VectorizedMLP([3, 2, 1])], ids=["scalar", "vectorized"])
def test_set_weights_errors_name_layer_and_shapes(net) -> None:
    good = net.get_weights()
    with pytest.raises(ValueError, match=r"expected 4 arrays \[W1, b1, \.\.\., W2, b2\] .* got 3"):
        net.set_weights(good[:3])
    with pytest.raises(ValueError, match=r"layer 2: W2 must have shape \(1, 2\) .* got \(2, 1\)"):
        net.set_weights([good[0], good[1], np.zeros((2, 1)), good[3]])
    with pytest.raises(ValueError, match=r"layer 1: b1 must have shape \(2,\)"):
        net.set_weights([good[0], np.zeros(3), good[2], good[3]])
    with pytest.raises(ValueError, match="layer 1: W1 contains NaN"):
        net.set_weights([np.full((2, 3), np.nan), *good[1:]])
    for a, b in zip(net.get_weights(), good):  # a failed set leaves the weights alone
        np.testing.assert_array_equal(a, b)


# -- loss and data checks -------------------------------------------------------------------------


@given(float_lists(moderate, 3))
def test_mean_bce_matches_a_direct_formula(ws: list[float]) -> None:
    mlp = MLP(2, [1], activations=["sigmoid"])
    mlp.set_weights([np.array([ws[:2]]), np.array(ws[2:])])
    X = np.array([[0.3, -0.2], [1.0, 0.5], [-0.7, 0.1]])
    y = np.array([1, 0, 1])
    z = X @ np.array(ws[:2]) + ws[2]
    expected = np.mean(np.logaddexp(0.0, z) - y * z)  # -[y log p + (1-y) log(1-p)]
    assert mlp.loss(X, y).data == pytest.approx(expected, rel=1e-13, abs=1e-15)


def test_loss_uses_the_logit_only_for_a_sigmoid_or_linear_output() -> None:
    X, y = [[0.5]], [1]
    for output in ("sigmoid", "linear"):
        net = MLP(1, [1], activations=[output])
        net.set_weights([np.array([[4.0]]), np.array([0.0])])
        loss = net.loss(X, y)
        assert loss.op == "/" and loss.parents[0].parents[0].op == "softplus"
        assert loss.data == pytest.approx(math.log1p(math.exp(-2.0)), rel=1e-15)  # BCE of sigmoid(2)
    relu = MLP(1, [1], activations=["relu"])
    relu.set_weights([np.array([[4.0]]), np.array([0.0])])
    # relu output 2.0 is a probability only once clamped to 1 - 1e-12 for bce: -log(1 - 1e-12)
    assert relu.loss(X, y).data == pytest.approx(1e-12, rel=1e-3)


@pytest.mark.parametrize("X, y, message", [
    (np.zeros((3, 2)), [0, 1, 0], "X has 2 columns but the network takes 3 inputs"),
    (np.zeros(3), [0], r"X must be a 2-D array \(rows, features\), got shape \(3,\)"),
    (np.array([[0.0, 1.0, np.nan]]), [1], r"X contains NaN or infinite values \(first at row 0, column 2\)"),
    (np.zeros((3, 3)), [0, 1], "X has 3 rows but y has 2"),
    (np.zeros((2, 3)), [0, 2], r"labels must be 0 or 1 for the bce loss; y\[1\] is 2$"),
    (np.zeros((0, 3)), [], "X has no rows"),
    (np.zeros((2, 3)), [[0, 1], [1, 0]], r"y must have shape \(2,\) or \(2, 1\)"),
])
def test_bad_data_is_named(X, y, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_data(X, y, [3, 4, 1], "bce")
    with pytest.raises(ValueError, match=message):
        MLP(3, [4, 1]).loss(X, y)


def test_the_shared_checks_are_still_importable_from_nn() -> None:
    import microgrid.arrays
    import microgrid.functional
    import microgrid.nn

    homes = {"check_dims": microgrid.arrays, "network_dims": microgrid.arrays,
             "check_weights": microgrid.arrays, "check_inputs": microgrid.arrays,
             "check_data": microgrid.functional}
    for name, home in homes.items():
        assert name in microgrid.nn.__all__ and name in home.__all__
        assert getattr(microgrid.nn, name) is getattr(home, name)


def test_mse_accepts_real_targets_but_not_nan() -> None:
    X, Y = check_data([[1.0]], [2.5], [1, 1], "mse")
    assert Y.tolist() == [[2.5]]
    with pytest.raises(ValueError, match="y contains NaN"):
        check_data([[1.0]], [np.nan], [1, 1], "mse")


# -- training ------------------------------------------------------------------------------------


def test_scalar_fit_takes_optimizer_steps() -> None:
    X = np.array([[0.1, 0.9], [0.8, 0.2], [0.4, 0.4]])
    y = np.array([1, 0, 1])
    mlp = MLP(2, [3, 1], activations=["tanh", "sigmoid"], seed=4)
    reference = MLP(2, [3, 1], activations=["tanh", "sigmoid"], seed=4)
    seen = []
    history = mlp.fit(X, y, lr=0.5, iters=3, callback=lambda i, loss: seen.append((i, loss)))
    # the same three steps by hand: w <- w - lr * grad
    for it in range(3):
        reference.zero_grad()
        loss = reference.loss(X, y)
        loss.backward()
        assert history[it] == loss.data and seen[it] == (it, loss.data)
        reference.set_weights([w - 0.5 * g for w, g in zip(reference.get_weights(), reference.get_grads())])
    for a, b in zip(mlp.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-15, atol=1e-17)
    assert history[-1] < history[0]


def test_scalar_fit_reports_divergence() -> None:
    mlp = MLP(1, [2, 1], activations=["linear", "linear"])
    with pytest.raises(TrainingDiverged, match=r"iteration \d+; try a smaller learning rate") as info:
        mlp.fit([[1.0], [2.0]], [1.0, 3.0], iters=50, loss="mse", optimizer=SGD(lr=1e100))
    assert "(lr is 1e+100)" in str(info.value) and not math.isfinite(info.value.loss)


@pytest.mark.parametrize("row, error, message", [
    ({0: 5.0, 1: 7.0}, TypeError, "got dict"),  # would use the keys
    ("57", TypeError, "got str"),  # would parse the characters
    ({5.0, 7.0}, TypeError, "got set"),  # no order
    (1.0, TypeError, "got float"),
    (np.ones((2, 2)), ValueError, r"got an array of shape \(2, 2\)"),
    ([1.0, 2.0, 3.0], ValueError, "takes 2 inputs, got 3"),
])
def test_a_row_must_be_a_sequence_of_inputs(row, error, message):
    with pytest.raises(error, match=message):
        MLP(2, [3, 1])(row)


def test_a_row_may_be_a_list_tuple_or_1d_array_of_numbers_or_values():
    mlp = MLP(2, [3, 1], seed=4)
    expected = mlp([1.5, -2.0]).data
    for row in ((1.5, -2.0), np.array([1.5, -2.0]), [np.float32(1.5), -2], [Value(1.5), Value(-2.0)]):
        assert mlp(row).data == expected


@pytest.mark.parametrize("bad, message", [
    (np.ones((4, 2)) + 1j, "X must be real numbers, got complex values"),  # not the real part, warned
    ([["1", "2"]] * 4, "X must be numbers, got text"),  # not parsed
    (np.array([[1, "2"]] * 4, dtype=object), "X must be real numbers, got str '2'"),
    (np.array([[10**400, 1]] * 4, dtype=object), "X must be an array of numbers"),  # not OverflowError
    ([[1.0, 2.0], [1.0]] * 2, "X must be an array of numbers"),  # ragged
])
def test_inputs_that_are_not_real_numbers_are_named(bad, message):
    from microgrid.vectorized import VectorizedMLP

    for net in (VectorizedMLP([2, 3, 1]), MLP(2, [3, 1])):
        with pytest.raises(ValueError, match=re.escape(message)):
            net.fit(bad, [0, 1, 0, 1], iters=1)


def test_weights_that_are_not_real_numbers_are_named():
    mlp = MLP(2, [3, 1])
    good = mlp.get_weights()
    with pytest.raises(ValueError, match=r"weights must be a list \[W1, b1, \.\.\., W2, b2\], got NoneType"):
        mlp.set_weights(None)
    for bad, message in ((good[0] + 1j, "layer 1: W1 must be real numbers"),
                         (good[0].astype(str), "layer 1: W1 must be numbers, got text")):
        with pytest.raises(ValueError, match=message):
            mlp.set_weights([bad, *good[1:]])
    assert all((a == b).all() for a, b in zip(mlp.get_weights(), good))  # unchanged


@pytest.mark.parametrize("weights, bias, message", [
    ([math.nan, 1.0], 0.0, r"Neuron\(2\): weights and bias must be finite"),
    ([1.0, 2.0], math.inf, r"Neuron\(2\): weights and bias must be finite"),
    (["1", "2"], 0.0, r"Neuron\(2\): weights must be numbers, got text"),
    ([1.0, 2.0], "2", r"Neuron\(2\): bias must be numbers, got text"),
    (np.ones((2, 2)), 0.0, r"expected 2 weights and one bias, got shapes \(2, 2\) and \(\)"),
    ([1.0, 2.0, 3.0], 0.0, r"expected 2 weights and one bias, got shapes \(3,\)"),
    ([1.0, 2.0], [1.0, 2.0], r"got shapes \(2,\) and \(2,\)"),
])
def test_a_neuron_checks_its_parameters_as_a_layer_does(weights, bias, message):
    with pytest.raises(ValueError, match=message):
        Neuron(2, weights=weights, bias=bias)


def test_clear_errors_for_misplaced_arguments():
    from microgrid.data.preprocessing import stratified_split, tutorial_split
    from microgrid.engine import grad

    with pytest.raises(ValueError, match="nouts is the list of layer widths .* got None"):
        MLP(3, None)
    with pytest.raises(TypeError, match="grad: inputs must be a Value or a sequence of Values, got float"):
        grad(Value(2.0) * 3, 2.0)
    with pytest.raises(TypeError, match="n_rows must be an integer, got str"):
        tutorial_split("683")
    train, test = stratified_split(np.array([0, 0, 0, 1, 1, 1]), test_size=np.float32(0.34))
    assert len(test) == 2 and len(train) == 4


def test_networks_of_values_have_a_documented_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    import tracemalloc

    import microgrid.arrays

    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"MLP of widths \[9, 10000000, 1\] would have 110,000,001 "
                                             r"parameters, more than the limit of 10,000,000 "
                                             r"\(microgrid.arrays.MAX_VALUE_PARAMETERS\)"):
            MLP(9, [10**7, 1])
        with pytest.raises(ValueError, match=r"Layer of widths \[9, 10000000\]"):
            Layer(9, 10**7)
        with pytest.raises(ValueError, match=r"Neuron of widths \[100000000, 1\]"):
            Neuron(10**8)
        assert tracemalloc.get_traced_memory()[1] < 1e6  # refused before anything was built
    finally:
        tracemalloc.stop()
    monkeypatch.setattr(microgrid.arrays, "MAX_VALUE_PARAMETERS", 13)  # [2, 3, 1]: 3 x 3 + 4 x 1
    assert len(MLP(2, [3, 1]).parameters()) == 13 and len(Layer(2, 3).parameters()) == 9
    monkeypatch.setattr(microgrid.arrays, "MAX_VALUE_PARAMETERS", 12)
    with pytest.raises(ValueError, match="would have 13 parameters, more than the limit of 12"):
        MLP(2, [3, 1])
    assert len(Layer(2, 3).parameters()) == 9 and len(Neuron(11).parameters()) == 12  # at or below it
    with pytest.raises(ValueError, match="Neuron of widths \\[12, 1\\] would have 13 parameters"):
        Neuron(12)
