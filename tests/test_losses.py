"""Losses on Values and arrays: closed forms, extreme logits, derivatives, label checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from microgrid.engine import Value, topological_order
from microgrid.functional import (
    LOSSES,
    PROB_EPS,
    bce,
    bce_derivative,
    bce_with_logits,
    get_loss,
    hinge,
    hinge_derivative,
    mse,
    mse_derivative,
    uses_logits,
)

from strategies import floats_between, moderate

labels = st.sampled_from([0, 1])


def reference_bce(p: float, y: int) -> float:
    return -(y * math.log(p) + (1 - y) * math.log(1 - p))


@given(moderate, labels)
def test_bce_with_logits_is_bce_of_the_sigmoid(z: float, y: int) -> None:
    p = 1.0 / (1.0 + math.exp(-z))
    assume(0.0 < p < 1.0)
    expected = reference_bce(p, y)
    v = Value(z)
    loss = bce_with_logits(v, y)
    loss.backward()
    assert loss.data == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert v.grad == pytest.approx(p - y, rel=1e-12, abs=1e-15)  # dL/dz = sigmoid(z) - y (p - 1 cancels)
    arr = bce_with_logits(np.array([z]), np.array([y]))
    assert arr[0] == pytest.approx(loss.data, rel=1e-14, abs=1e-300)


@pytest.mark.parametrize("z, y, loss, grad", [
    (1000.0, 0, 1000.0, 1.0), (1000.0, 1, 0.0, 0.0), (-1000.0, 1, 1000.0, -1.0), (-1000.0, 0, 0.0, 0.0),
    (40.0, 1, math.exp(-40.0), -math.exp(-40.0)),  # tiny losses keep their relative accuracy
])
def test_bce_with_logits_at_extreme_logits(z: float, y: int, loss: float, grad: float) -> None:
    v = Value(z)
    out = bce_with_logits(v, y)
    out.backward()
    assert out.data == pytest.approx(loss, rel=1e-14, abs=0)
    assert v.grad == pytest.approx(grad, rel=1e-14, abs=0)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        arr = bce_with_logits(np.array([z]), np.array([float(y)]))
    assert arr[0] == pytest.approx(loss, rel=1e-14, abs=0)


def test_bce_clamps_the_probability() -> None:
    # p = 0 with y = 1: -log(1e-12), finite, and no gradient through the clamp
    p = Value(0.0)
    out = bce(p, 1)
    out.backward()
    assert out.data == pytest.approx(-math.log(PROB_EPS), rel=1e-15) and p.grad == 0.0
    assert bce(np.array([0.0, 1.0, 1.5]), np.array([1.0, 0.0, 0.0])).tolist() == pytest.approx(
        [-math.log(PROB_EPS), -math.log(PROB_EPS), -math.log(PROB_EPS)], rel=1e-4)
    assert bce_derivative(np.array([0.0, 1.0, 1.5, -0.1]), np.zeros(4)).tolist() == [0.0, 0.0, 0.0, 0.0]


@given(floats_between(0.01, 0.99), labels)
def test_bce_value_and_array_forms_agree(p: float, y: int) -> None:
    v = Value(p)
    out = bce(v, y)
    out.backward()
    assert out.data == pytest.approx(reference_bce(p, y), rel=1e-13)
    expected_grad = (p - y) / (p * (1 - p))
    assert v.grad == pytest.approx(expected_grad, rel=1e-13)
    assert bce(np.array([p]), np.array([y]))[0] == pytest.approx(out.data, rel=1e-14)
    assert bce_derivative(np.array([p]), np.array([y]))[0] == pytest.approx(expected_grad, rel=1e-13)


@given(moderate, moderate)
def test_mse(a: float, y: float) -> None:
    v = Value(a)
    out = mse(v, y)
    out.backward()
    assert out.data == pytest.approx((a - y) ** 2, rel=1e-14, abs=1e-300)
    assert v.grad == pytest.approx(2 * (a - y), rel=1e-14, abs=1e-300)
    assert mse(np.array([a]), np.array([y]))[0] == pytest.approx(out.data, rel=1e-15, abs=1e-300)
    assert mse_derivative(np.array([a]), np.array([y]))[0] == pytest.approx(v.grad, rel=1e-15, abs=1e-300)


@given(moderate, labels)
def test_hinge(a: float, y: int) -> None:
    s = 2 * y - 1
    v = Value(a)
    out = hinge(v, y)
    out.backward()
    assert out.data == pytest.approx(max(0.0, 1.0 - s * a), rel=1e-14, abs=1e-15)
    assert v.grad == (-s if 1.0 - s * a > 0 else 0.0)
    assert hinge(np.array([a]), np.array([y]))[0] == pytest.approx(out.data, rel=1e-15, abs=1e-15)
    assert hinge_derivative(np.array([a]), np.array([y]))[0] == v.grad


def test_hinge_values() -> None:
    a = np.array([2.0, 0.5, -1.0, 1.0, -3.0])
    y = np.array([1.0, 1.0, 1.0, 1.0, 0.0])
    assert hinge(a, y).tolist() == [0.0, 0.5, 2.0, 0.0, 0.0]
    assert hinge_derivative(a, y).tolist() == [0.0, -1.0, -1.0, 0.0, 0.0]  # 0 at the kink (margin 0)


def test_out_buffers_are_used() -> None:
    a, y = np.array([0.2, 0.9]), np.array([0.0, 1.0])
    for fn in (mse, hinge, bce, bce_with_logits, mse_derivative, hinge_derivative, bce_derivative):
        out = np.empty(2)
        assert fn(a, y, out=out) is out


def test_table_and_label_errors() -> None:
    assert set(LOSSES) == {"bce", "mse", "hinge"}
    assert get_loss("mse").binary_labels is False and get_loss("hinge").binary_labels is True
    with pytest.raises(ValueError, match="unknown loss 'l1'; choose from bce, mse, hinge"):
        get_loss("l1")
    with pytest.raises(ValueError, match="a binary label must be 0 or 1, got 0.5"):
        bce_with_logits(Value(1.0), 0.5)
    with pytest.raises(ValueError, match="got 2"):
        hinge(Value(1.0), 2)
    assert uses_logits("bce", "sigmoid")
    assert not uses_logits("bce", "tanh") and not uses_logits("mse", "sigmoid")


@pytest.mark.parametrize("fn", [bce, bce_with_logits, hinge])
def test_array_forms_check_their_labels_like_the_value_forms(fn):
    out = np.array([0.5, 0.25])
    with pytest.raises(ValueError, match="labels must be 0 or 1, got 2.0"):
        fn(out, np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"labels have shape \(1,\) but the outputs \(2,\)"):
        fn(out, np.array([1.0]))  # would broadcast into a wrong number
    with pytest.raises(ValueError):
        fn(Value(0.5), 2)


def test_mse_array_form_refuses_broadcasting():
    with pytest.raises(ValueError, match=r"labels have shape \(2, 1\) but the outputs \(2,\)"):
        mse(np.array([0.5, 0.25]), np.array([[1.0], [0.0]]))


@given(floats_between(-50.0, 50.0), st.sampled_from([0, 1]))
def test_a_value_label_gives_the_same_loss_and_gradient_without_a_branch(z: float, y: int) -> None:
    """A traced target is a Value: BCE from the logit and the hinge loss then build one graph for
    both labels, with the numbers of the float label bit for bit."""
    for fn in (bce_with_logits, hinge):
        a, b = Value(z), Value(z)
        by_number, by_value = fn(a, y), fn(b, Value(float(y)))
        by_number.backward()
        by_value.backward()
        assert by_value.data == by_number.data and b.grad == a.grad
        other = fn(Value(z), Value(float(1 - y)))  # the other label: the same ops
        assert [v.op for v in topological_order(other)] == [v.op for v in topological_order(by_value)]
