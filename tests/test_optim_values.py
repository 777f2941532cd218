"""Optimizers on Value parameters (PyTorch habits): the same rule as the array form, and the
scalar network trained through ``model.parameters()`` equals the vectorized one trained alike."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from microgrid.data import load_wisconsin
from microgrid.data.preprocessing import MinMaxScaler
from microgrid.engine import Value
from microgrid.nn import MLP
from microgrid.optim import SGD, Adam
from microgrid.vectorized import VectorizedMLP

from helpers import optimizer_trace
from strategies import float_lists, floats_between, moderate

# -- independent references: PyTorch's update rules in plain Python floats, in its operation order.
# (Against torch 2.13 itself, which fuses multiply-adds, the two agree to within 6e-16 of the
# parameters' scale over 30 steps: checked once by hand, torch is not a test dependency.) --


def torch_sgd(p: float, grads: list[float], lr: float, momentum: float, wd: float) -> list[float]:
    """torch.optim.SGD (dampening 0, no Nesterov), one parameter, as its single-tensor loop does."""
    trace, buf = [], None
    for g in grads:
        d = g + wd * p if wd else g
        if momentum:
            buf = d if buf is None else buf * momentum + d
            d = buf
        p = p + (-lr) * d
        trace.append(p)
    return trace


def torch_adam(p: float, grads: list[float], lr: float, b1: float, b2: float, eps: float,
               wd: float) -> list[float]:
    """torch.optim.Adam (amsgrad off): lerp for m, addcmul for v, eps after the square root."""
    trace, m, v = [], 0.0, 0.0
    for t, g in enumerate(grads, start=1):
        d = g + wd * p if wd else g
        m = m + (1 - b1) * (d - m)  # exp_avg.lerp_(grad, 1 - beta1), weight < 0.5
        v = v * b2 + (1 - b2) * d * d  # exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        step_size = lr / (1 - b1**t)
        denom = math.sqrt(v) / math.sqrt(1 - b2**t) + eps
        p = p + (-step_size) * m / denom  # param.addcdiv_(exp_avg, denom, value=-step_size)
        trace.append(p)
    return trace


def value_trace(make, p0: float, grads: list[float]) -> list[float]:
    p = Value(p0)
    opt = make([p])
    trace = []
    for g in grads:
        opt.zero_grad()
        assert p.grad == 0.0
        p.grad = g  # what backward() would leave
        opt.step()
        trace.append(p.data)
    return trace


@given(moderate, float_lists(moderate, 6), floats_between(1e-4, 1.0), st.sampled_from([0.0, 0.5, 0.9]),
       st.sampled_from([0.0, 0.01]))
def test_sgd_is_torchs_rule_in_both_forms(p0, grads, lr, mu, wd) -> None:
    want = torch_sgd(p0, grads, lr, mu, wd)
    assert value_trace(lambda ps: SGD(ps, lr=lr, momentum=mu, weight_decay=wd), p0, grads) == want
    assert optimizer_trace(SGD(lr=lr, momentum=mu, weight_decay=wd), p0, grads) == want


@given(moderate, float_lists(moderate, 6), floats_between(1e-4, 1.0),
       st.sampled_from([(0.9, 0.999), (0.5, 0.9), (0.0, 0.0)]), st.sampled_from([1e-8, 0.1]),
       st.sampled_from([0.0, 0.01]))
def test_adam_is_torchs_rule_in_both_forms(p0, grads, lr, betas, eps, wd) -> None:
    want = torch_adam(p0, grads, lr, *betas, eps, wd)
    make = lambda ps: Adam(ps, lr=lr, betas=betas, eps=eps, weight_decay=wd)  # noqa: E731
    assert value_trace(make, p0, grads) == want
    assert optimizer_trace(make(None), p0, grads) == want


def test_adam_first_step_is_lr_times_the_sign_of_the_gradient() -> None:
    # t = 1: m_hat = g, v_hat = g^2, so the step is lr g / (|g| + eps)
    p = Value(1.0)
    opt = Adam([p], lr=0.1)
    p.grad = -3.0
    opt.step()
    assert p.data == pytest.approx(1.0 + 0.1 * 3.0 / (3.0 + 1e-8), rel=1e-15)


# -- the acceptance test: scalar network through model.parameters() == the vectorized network --


@pytest.fixture(scope="module")
def wisconsin_rows() -> tuple[np.ndarray, np.ndarray]:
    data = load_wisconsin()
    X, y = MinMaxScaler().fit(data.X[:500]).transform(data.X), data.y
    return X[:120], y[:120]


@pytest.mark.parametrize("name, make", [
    ("SGD momentum 0.9", lambda params: SGD(params, lr=0.1, momentum=0.9)),
    ("Adam", lambda params: Adam(params, lr=0.01)),
    ("SGD weight decay", lambda params: SGD(params, lr=0.05, momentum=0.5, weight_decay=0.01)),
    ("Adam weight decay", lambda params: Adam(params, lr=0.02, betas=(0.8, 0.99), weight_decay=0.01)),
])
def test_scalar_mlp_trained_pytorch_style_equals_the_vectorized_mlp(wisconsin_rows, name, make) -> None:
    X, y = wisconsin_rows
    model = MLP(9, [15, 1], seed=3)
    net = VectorizedMLP(9, [15, 1], seed=3)
    np.testing.assert_array_equal(np.concatenate([w.ravel() for w in model.get_weights()]),
                                  np.concatenate([w.ravel() for w in net.get_weights()]))  # same start
    opt = make(model.parameters())
    losses = []
    for _ in range(20):
        loss = model.loss(X, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.data)
    history = net.fit(X, y, iters=20, optimizer=make(None))
    np.testing.assert_allclose(losses, history, rtol=1e-12, atol=0)
    for got, want in zip(model.get_weights(), net.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-14)
    moved = np.abs(np.concatenate([w.ravel() for w in net.get_weights()])
                   - np.concatenate([w.ravel() for w in VectorizedMLP(9, [15, 1], seed=3).get_weights()]))
    assert moved.max() > 1e-3  # the weights did move: the equality is not of two idle networks
    assert history[-1] < history[0]


def test_zero_grad_is_needed_gradients_accumulate_like_pytorch() -> None:
    w = Value(2.0)
    opt = SGD([w], lr=0.1)
    (w * 3.0).backward()
    (w * 3.0).backward()  # without zero_grad the gradients add up: 6, as in PyTorch
    assert w.grad == 6.0
    opt.step()
    assert w.data == pytest.approx(2.0 - 0.6, rel=1e-15)
    opt.zero_grad()
    assert w.grad == 0.0


def test_value_form_and_array_form_keep_their_own_state() -> None:
    opt = SGD(lr=0.1, momentum=0.9)
    with pytest.raises(TypeError, match=r"this SGD holds no Values: build it as "
                                        r"SGD\(model.parameters\(\), lr=...\)"):
        opt.step()
    with pytest.raises(TypeError, match="holds no Values"):
        opt.zero_grad()
    with pytest.raises(TypeError, match="SGD takes Values .*got a list holding ndarray"):
        opt.step([np.zeros(2)])  # arrays need their gradients: step(params, grads)


@pytest.mark.parametrize("args, error, message", [
    ((0.1,), TypeError, r"SGD's first argument is the parameters, e.g. SGD\(model.parameters\(\), lr=0.1\); "
                        r"for the array form give the learning rate by name: SGD\(lr=0.1\)"),
    ((Value(1.0),), TypeError, "SGD takes an iterable of Values .*got Value"),
    ((np.zeros(3),), TypeError, "SGD takes an iterable of Values .*got ndarray"),
    (([1.0, Value(1.0)],), TypeError, "SGD takes Values .*got a list holding float"),
    (([],), ValueError, "SGD got an empty list of parameters"),
    (("abc",), TypeError, "got str"),
])
def test_bad_parameter_lists_are_named(args, error, message) -> None:
    with pytest.raises(error, match=message):
        SGD(*args)


def test_a_parameter_listed_twice_is_refused() -> None:
    w = Value(1.0)
    with pytest.raises(ValueError, match="Adam got the same parameter more than once"):
        Adam([w, w], lr=0.1)


def test_a_generator_of_parameters_is_read_once() -> None:
    model = MLP(2, [3, 1])
    opt = Adam((p for p in model.parameters()), lr=0.1)
    assert len(opt.params) == len(model.parameters()) == 13


# -- one constructor shape for both networks ----------------------------------------------------


@pytest.mark.parametrize("cls", [MLP, VectorizedMLP])
def test_both_networks_take_both_constructor_shapes(cls) -> None:
    a = cls(9, [15, 1], activations=["tanh", "sigmoid"], init="xavier", seed=4)
    b = cls([9, 15, 1], activations=["tanh", "sigmoid"], init="xavier", seed=4)
    assert a.dims == b.dims == [9, 15, 1] and a.activations == b.activations == ["tanh", "sigmoid"]
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    other = VectorizedMLP if cls is MLP else MLP
    for wa, wb in zip(a.get_weights(), other(9, [15, 1], activations=["tanh", "sigmoid"], init="xavier",
                                             seed=4).get_weights()):
        np.testing.assert_array_equal(wa, wb)  # the same keywords draw the same network on both paths


@pytest.mark.parametrize("cls", [MLP, VectorizedMLP])
@pytest.mark.parametrize("args, message", [
    ((9,), r"nouts is the list of layer widths after the inputs, e.g. {cls}\(9, \[15, 1\]\) "
           r"\(or all widths in one list: {cls}\(\[9, 15, 1\]\)\); got None"),
    (([9, 15], [1]), r"with nouts given, the first argument is the number of inputs \(an int\), "
                     r"got \[9, 15\]"),
    (([3, 2], "tanh"), r"nouts is the list of layer widths after the inputs, e.g. \[15, 1\]; got 'tanh'"),
    ((9, 15), r"nouts is the list of layer widths after the inputs, e.g. \[15, 1\]; got 15"),
    (("9",), r"{cls} takes the input width and the layer widths"),
    ((9, [0, 1]), r"layer widths must be positive integers, got \[9, 0, 1\]"),
])
def test_constructor_mistakes_are_named(cls, args, message) -> None:
    with pytest.raises(ValueError, match=message.format(cls=cls.__name__)):
        cls(*args)
