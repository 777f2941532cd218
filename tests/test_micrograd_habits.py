"""micrograd's code runs on microgrid with only its imports changed.

micrograd's ``MLP`` ends in a linear layer and leaves the loss to the user; so does microgrid's by
default.  Here: the lecture's 4-sample squared-error loop and the demo notebook's max-margin loop
on two moons, each checked against the vectorized network (hand-derived gradients) trained the same
way; a Value converting like a float; a custom Module finding its own parameters.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from microgrid import Value
from microgrid.nn import MLP, Layer, Module, Neuron
from microgrid.optim import SGD
from microgrid.vectorized import VectorizedMLP

# -- the lecture's loop: MLP(3, [4, 4, 1]), squared error on +-1 targets, lr 0.05, 100 steps -------

XS = [[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]]
YS = [1.0, -1.0, -1.0, 1.0]


def lecture_losses(n: Any) -> list[float]:
    """The lecture's training loop, as written there, recording the losses."""
    losses = []
    for _ in range(100):
        ypred = [n(x) for x in XS]
        loss = sum((yout - ygt) ** 2 for ygt, yout in zip(YS, ypred))
        for p in n.parameters():
            p.grad = 0.0
        loss.backward()
        for p in n.parameters():
            p.data += -0.05 * p.grad
        losses.append(loss.data)
    return losses


def test_the_lecture_loop_learns_and_matches_the_vectorized_network() -> None:
    learned = []
    for seed in range(10):
        losses = lecture_losses(MLP(3, [4, 4, 1], seed=seed))
        # the same steps on the NumPy twin: the mean over 4 rows instead of the sum, so lr 4 x 0.05;
        # the two scalings round differently, and a run that oscillates (seed 0) amplifies that to
        # ~1e-5 by step 80, so the first 60 steps are compared
        twin = VectorizedMLP(3, [4, 4, 1], seed=seed).fit(XS, YS, lr=0.2, iters=100, loss="mse")
        assert losses[:60] == pytest.approx(4.0 * np.asarray(twin[:60]), rel=1e-8, abs=1e-12)
        if losses[-1] < 0.1:
            learned.append(seed)
    assert learned == [2, 4, 6, 8]


@pytest.mark.slow
def test_the_lecture_loop_learns_about_as_often_as_with_micrograd() -> None:
    micrograd_nn = pytest.importorskip("micrograd.nn")
    state = random.getstate()
    try:
        theirs = 0
        for seed in range(10):
            random.seed(seed)  # micrograd draws its weights from the random module
            theirs += lecture_losses(micrograd_nn.MLP(3, [4, 4, 1]))[-1] < 0.1
    finally:
        random.setstate(state)
    # micrograd 0.1.0 learns for 4 or 5 seeds: its backward pass visits each node's parents in the
    # order of a set of objects (by memory address), so its rounding, and a borderline run, vary
    ours = sum(lecture_losses(MLP(3, [4, 4, 1], seed=seed))[-1] < 0.1 for seed in range(10))
    # the same U(-1, 1) starts, drawn by another generator; over seeds 0-399: 119 vs 107
    assert ours == 4 and abs(ours - theirs) <= 1


def test_the_default_output_is_a_score_not_a_probability() -> None:
    # a sigmoid output (the default before) cannot reach the -1 targets: the loss stays above 2
    squashed = lecture_losses(MLP(3, [4, 4, 1], activations=["relu", "relu", "sigmoid"], seed=2))
    assert squashed[-1] > 2.0
    assert lecture_losses(MLP(3, [4, 4, 1], seed=2))[-1] < 0.1


# -- the demo notebook's loop: MLP(2, [16, 16, 1]), max-margin loss + L2, SGD with a decaying lr ---


@pytest.mark.slow
def test_the_demo_loop_reaches_full_accuracy_on_the_moons() -> None:
    from sklearn.datasets import make_moons

    X, y = make_moons(n_samples=100, noise=0.1, random_state=1337)
    y = y * 2 - 1  # +-1 targets, NumPy integers (as in the demo)
    model = MLP(2, [16, 16, 1])

    def loss() -> tuple[Value, float]:  # the demo's loss, as written there
        inputs = [list(map(Value, xrow)) for xrow in X]
        scores = list(map(model, inputs))
        losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(y, scores)]
        data_loss = sum(losses) * (1.0 / len(losses))
        alpha = 1e-4
        reg_loss = alpha * sum(p * p for p in model.parameters())
        total_loss = data_loss + reg_loss
        accuracy = [(yi > 0) == (scorei.data > 0) for yi, scorei in zip(y, scores)]
        return total_loss, sum(accuracy) / len(accuracy)

    # the twin: hinge loss max(0, 1 - s z) on 0/1 labels, L2 as weight decay (d/dp 1e-4 p^2 = 2e-4 p)
    twin = VectorizedMLP(2, [16, 16, 1])
    opt = SGD(lr=1.0, weight_decay=2e-4)
    history = []
    for k in range(100):
        total_loss, acc = loss()
        model.zero_grad()
        total_loss.backward()
        learning_rate = 1.0 - 0.9 * k / 100
        for p in model.parameters():
            p.data -= learning_rate * p.grad
        history.append(total_loss.data)

        theta = np.concatenate([w.ravel() for w in twin.get_weights()])
        opt.lr = learning_rate
        data_loss = twin.fit(X, (y + 1) // 2, iters=1, optimizer=opt, loss="hinge")[0]
        assert total_loss.data == pytest.approx(data_loss + 1e-4 * float(theta @ theta), rel=1e-10)
    assert history[0] > 0.5 and history[-1] < 0.05
    total_loss, acc = loss()
    assert acc == 1.0
    for ours, theirs in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_allclose(ours, theirs, rtol=1e-8, atol=1e-10)


# -- a Value converts like a float ---------------------------------------------------------------


def _outcome(f: Callable[[Any], Any], x: Any) -> Any:
    """``f(x)``, or the type of the exception it raises."""
    try:
        return f(x)
    except (ValueError, OverflowError) as exc:
        return type(exc)


@given(st.floats(), st.none() | st.integers(-3, 3))
def test_int_float_and_round_of_a_value_are_those_of_its_number(x: float, ndigits: int | None) -> None:
    v = Value(x)
    for f in (int, float, round, lambda a: round(a, ndigits)):
        got, expected = _outcome(f, v), _outcome(f, x)
        assert type(got) is type(expected)  # a plain int or float (or the same exception)
        assert got == expected or (isinstance(got, float) and math.isnan(got) and math.isnan(expected))
    assert v.is_leaf and v.data == x or math.isnan(x)


def test_conversions_of_a_computed_value_record_nothing() -> None:
    a = Value(1.25)
    y = a * 2.0  # 2.5
    converted = (int(y), float(y), round(y), round(y, 1), round(a, 1))
    assert converted == (2, 2.5, 2, 2.5, 1.2)  # round half to even, as for floats
    assert [type(c) for c in converted] == [int, float, int, float, float]
    y.backward()  # the graph is as it was: dy/da = 2
    assert a.grad == 2.0 and y.op == "*"


# -- a Module subclass finds its own parameters --------------------------------------------------


class SkipNet(Module):
    """``out = head(relu_layer(x) + x) + gate * x[0]``, with a shared scale used twice."""

    def __init__(self) -> None:
        self.width = 2  # not parameters: numbers, strings, lists of numbers
        self.name = "skip"
        self.sizes = [2, 2, 1]
        self.body = Layer(2, 2, seed=1)
        self.head = Neuron(2, "linear", weights=[0.5, -0.25], bias=0.1)
        self.scale = Value(1.5)
        self.extras = (Value(0.3), [Value(-0.2), self.scale])  # nested; the shared scale again
        self.again = self.head  # a Module held twice is walked once

    def __call__(self, x: list[float]) -> Value:
        h = [hi + xi for hi, xi in zip(self.body(x), x)]
        return self.head(h) * self.scale + self.extras[0] * x[0] + self.extras[1][0]


def test_a_custom_module_lists_its_parameters_in_order_each_once() -> None:
    net = SkipNet()
    by_hand = [
        ("body.neurons.0.w.0", net.body.neurons[0].w[0]), ("body.neurons.0.w.1", net.body.neurons[0].w[1]),
        ("body.neurons.0.b", net.body.neurons[0].b),
        ("body.neurons.1.w.0", net.body.neurons[1].w[0]), ("body.neurons.1.w.1", net.body.neurons[1].w[1]),
        ("body.neurons.1.b", net.body.neurons[1].b),
        ("head.w.0", net.head.w[0]), ("head.w.1", net.head.w[1]), ("head.b", net.head.b),
        ("scale", net.scale), ("extras.0", net.extras[0]), ("extras.1.0", net.extras[1][0]),
    ]
    found = net.named_parameters()
    assert [name for name, _ in found] == [name for name, _ in by_hand]
    assert all(p is q for (_, p), (_, q) in zip(found, by_hand))
    assert [id(p) for p in net.parameters()] == [id(p) for _, p in by_hand]

    out = net([1.0, -2.0])
    out.backward()
    assert all(p.grad != 0.0 for p in (net.scale, net.extras[0], net.extras[1][0], net.head.b))
    net.zero_grad()
    assert all(p.grad == 0.0 for _, p in by_hand)


def test_modules_that_refer_to_each_other_are_walked_once() -> None:
    class Cell(Module):
        def __init__(self, w: float) -> None:
            self.w = Value(w)
            self.partner: Cell | None = None

    a, b = Cell(1.0), Cell(2.0)
    a.partner, b.partner = b, a  # a cycle
    assert [(n, p.data) for n, p in a.named_parameters()] == [("w", 1.0), ("partner.w", 2.0)]
    assert Module().named_parameters() == []


def test_the_networks_name_their_parameters_as_before() -> None:
    mlp = MLP(2, [3, 1])
    names = [name for name, _ in mlp.named_parameters()]
    expected = [f"layers.{i}.neurons.{j}.{p}" for i, (n_in, n_out) in enumerate([(2, 3), (3, 1)])
                for j in range(n_out) for p in [*(f"w.{k}" for k in range(n_in)), "b"]]
    assert names == expected
    weights = mlp.get_weights()  # the same parameters, in get_weights' layout
    flat = np.concatenate([np.column_stack([W, b]).ravel() for W, b in zip(weights[::2], weights[1::2])])
    assert [p.data for p in mlp.parameters()] == flat.tolist()


# -- BCE and probabilities of a linear output: sigmoid(z) ---------------------------------------


@pytest.mark.parametrize("output", ["linear", "sigmoid"])
def test_bce_gradients_of_a_linear_or_sigmoid_output_agree_three_ways(output: str) -> None:
    rng = np.random.default_rng(4)
    X, y = rng.normal(size=(12, 3)), rng.integers(0, 2, size=12)
    acts = ["tanh", output]
    mlp = MLP(3, [5, 1], activations=acts, seed=2)
    graph = mlp.loss(X, y)
    graph.backward()
    net = VectorizedMLP(3, [5, 1], activations=acts, seed=2)
    value, grads = net.loss_and_grads(X, y)
    z = net.preactivations(X)[-1][:, 0]
    assert value == pytest.approx(np.mean(np.logaddexp(0.0, z) - y * z), rel=1e-13)
    assert graph.data == pytest.approx(value, rel=1e-13)
    for auto, hand, numeric in zip(mlp.get_grads(), grads, net.numerical_grads(X, y)):
        np.testing.assert_allclose(hand, auto, rtol=1e-11, atol=1e-15)
        np.testing.assert_allclose(hand, numeric, rtol=1e-5, atol=1e-8)
    p = 1.0 / (1.0 + np.exp(-z))
    np.testing.assert_allclose(net.predict_proba(X), p, rtol=1e-15)
    np.testing.assert_allclose(mlp.predict_proba(X), p, rtol=1e-13)
    assert mlp.predict(X).tolist() == net.predict(X).tolist() == (p >= 0.5).astype(int).tolist()
