"""Update rules against hand-computed values; state, grouping, errors; the batch schedule."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from microgrid.optim import (
    SGD,
    Adam,
    TrainingDiverged,
    batch_indices,
    check_loss,
    check_training_args,
    make_optimizer,
)

from helpers import optimizer_trace
from strategies import floats_between


def test_plain_gradient_descent() -> None:
    # p <- p - lr g
    assert optimizer_trace(SGD(lr=0.1), 1.0, [0.5, -2.0]) == pytest.approx([0.95, 1.15], rel=1e-15)


def test_sgd_momentum_and_weight_decay_by_hand() -> None:
    # lr 0.1, mu 0.9, wd 0.01, p = 1, g = 0.5 twice:
    # step 1: g' = 0.5 + 0.01 * 1 = 0.51;  v = 0.51;                p = 1 - 0.051 = 0.949
    # step 2: g' = 0.5 + 0.00949 = 0.50949; v = 0.459 + 0.50949 = 0.96849; p = 0.949 - 0.096849 = 0.852151
    trace = optimizer_trace(SGD(lr=0.1, momentum=0.9, weight_decay=0.01), 1.0, [0.5, 0.5])
    assert trace == pytest.approx([0.949, 0.852151], rel=1e-14)
    # momentum alone: v = 1, 1.9, 2.71 for g = 1 with mu = 0.9; p = -0.1, -0.29, -0.561
    trace = optimizer_trace(SGD(lr=0.1, momentum=0.9), 0.0, [1.0, 1.0, 1.0])
    assert trace == pytest.approx([-0.1, -0.29, -0.561], rel=1e-14)


def test_adam_by_hand() -> None:
    # lr 0.1, betas (0.9, 0.999), eps 1e-8, p = 1, g = 0.5 then -1 (decimal arithmetic, 40 digits):
    # t=1: m = 0.05, v = 0.00025; m_hat = 0.05 / 0.1 = 0.5, v_hat = 0.00025 / 0.001 = 0.25
    #      p = 1 - 0.1 * 0.5 / (0.5 + 1e-8) = 0.90000000199999996000...
    # t=2: m = 0.9 * 0.05 - 0.1 * 1 = -0.055, v = 0.999 * 0.00025 + 0.001 * 1 = 0.00124975
    #      m_hat = -0.055 / 0.19 = -0.28947368421052631579, v_hat = 0.00124975 / 0.001999
    #      = 0.62518759379689844922, sqrt(v_hat) = 0.79068805087524779745
    #      p = p1 + 0.1 * 0.28947368421052631579 / (0.79068805087524779745 + 1e-8)
    #        = 0.93661035424056560281...
    want = [0.900000002, 0.9366103542405656]
    assert optimizer_trace(Adam(lr=0.1), 1.0, [0.5, -1.0]) == pytest.approx(want, rel=1e-15)


def test_adam_weight_decay_adds_to_the_gradient() -> None:
    # g' = g + wd p = 0.5 + 0.1 * 2 = 0.7: the first step is still lr * sign(g')
    trace = optimizer_trace(Adam(lr=0.01, weight_decay=0.1), 2.0, [0.5])
    assert trace == pytest.approx([2.0 - 0.01 * 0.7 / (0.7 + 1e-8)], rel=1e-15)


@given(st.sampled_from(["gd", "momentum", "adam"]), st.integers(0, 2**32 - 1), floats_between(1e-4, 0.5))
def test_grouping_does_not_change_the_result(name: str, seed: int, lr: float) -> None:
    """One flat array or several: the same elementwise rule, bit for bit (how both paths differ)."""
    rng = np.random.default_rng(seed)
    flat = rng.standard_normal(10)
    split = [flat[:6].reshape(2, 3).copy(), flat[6:].copy()]
    opt_flat, opt_split = make_optimizer(name, lr), make_optimizer(name, lr)
    for _ in range(4):
        g = rng.standard_normal(10)
        opt_flat.step([flat], [g])
        opt_split.step(split, [g[:6].reshape(2, 3), g[6:]])
    np.testing.assert_array_equal(flat, np.concatenate([split[0].ravel(), split[1]]))


def test_state_is_tied_to_the_parameter_shapes() -> None:
    opt = SGD(lr=0.1, momentum=0.5)
    p = [np.zeros(3)]
    opt.step(p, [np.ones(3)])
    with pytest.raises(ValueError, match=r"started on parameters of shapes \[\(3,\)\], now given \[\(4,\)\]"):
        opt.step([np.zeros(4)], [np.ones(4)])
    opt.reset()
    opt.step([np.zeros(4)], [np.ones(4)])
    with pytest.raises(ValueError, match=r"parameter 0 has shape \(2,\) but its gradient \(3,\)"):
        SGD(lr=0.1).step([np.zeros(2)], [np.zeros(3)])
    with pytest.raises(ValueError, match="2 parameter arrays but 1 gradient arrays"):
        SGD(lr=0.1).step([np.zeros(2), np.zeros(2)], [np.zeros(2)])
    with pytest.raises(ValueError, match="must be a float64 array"):
        SGD(lr=0.1).step([np.zeros(2, dtype=np.float32)], [np.zeros(2, dtype=np.float32)])


@pytest.mark.parametrize("make", [lambda: SGD(lr=0.1, momentum=0.9), lambda: Adam(lr=0.05)])
def test_fit_checks_its_optimizer_once_and_steps_as_step_does(make) -> None:
    from microgrid.vectorized import VectorizedMLP

    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((12, 2)), rng.integers(0, 2, 12)
    started = make()
    started.step([np.zeros(3)], [np.ones(3)])
    with pytest.raises(ValueError, match=r"started on parameters of shapes \[\(3,\)\]"):
        VectorizedMLP([2, 3, 1]).fit(X, y, iters=2, optimizer=started)
    # fit's loop (checked once, then unchecked steps) against step() with the gradients of each
    # iteration; the optimizer's state carries over from one fit to the next, as it does in step()
    net, ref = VectorizedMLP([2, 3, 1], seed=1), VectorizedMLP([2, 3, 1], seed=1)
    opt, ref_opt = make(), make()
    for _ in range(2):
        net.fit(X, y, iters=3, optimizer=opt)
    for _ in range(6):
        ref_opt.step(ref.weights, ref.loss_and_grads(X, y)[1])
    for a, b in zip(net.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_adam_reset_restarts_the_bias_correction() -> None:
    opt = Adam(lr=0.1)
    first = optimizer_trace(opt, 1.0, [0.5])
    opt.reset()
    assert opt.t == 0 and optimizer_trace(opt, 1.0, [0.5]) == first


def test_make_optimizer_and_argument_errors() -> None:
    assert isinstance(make_optimizer(None, 0.1), SGD) and make_optimizer("gd", 0.1).momentum == 0.0
    assert make_optimizer("momentum", 0.1).momentum == 0.9 and isinstance(make_optimizer("adam", 0.1), Adam)
    opt = Adam(lr=0.3)
    assert make_optimizer(opt, 0.1) is opt
    with pytest.raises(ValueError, match="unknown optimizer 'sgd2'; choose from gd, momentum, adam"):
        make_optimizer("sgd2", 0.1)
    for bad in (0.0, -1.0, math.inf, math.nan):  # one message, which never says 0 is allowed
        with pytest.raises(ValueError, match=f"learning rate must be positive and finite, got {bad}"):
            SGD(lr=bad)
    with pytest.raises(TypeError, match="learning rate must be a number, got str '0.1'"):
        Adam(lr="0.1")
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\), got 1.0"):
        SGD(lr=0.1, momentum=1.0)
    assert SGD(lr=0.1, momentum=np.nextafter(1.0, 0.0)).momentum < 1.0 and SGD(lr=5e-324).lr == 5e-324
    with pytest.raises(ValueError, match="beta2"):
        Adam(lr=0.1, betas=(0.9, 1.5))


def test_divergence_check() -> None:
    assert check_loss(0.5, 3, 0.1) == 0.5
    with pytest.raises(TrainingDiverged, match=r"the loss became nan at iteration 4; try a smaller"):
        check_loss(math.nan, 3, 0.1)


def test_every_epoch_draws_a_new_order() -> None:
    """Epoch e is the e-th permutation of default_rng(seed), cut into batches (seed 0 draws
    [2, 0, 1, 3], then [3, 2, 1, 0]: a schedule that reused the first would fail here)."""
    rng = np.random.default_rng(0)
    orders = [rng.permutation(4) for _ in range(3)]
    batches = batch_indices(4, 2, seed=0)
    for order in orders:
        np.testing.assert_array_equal(np.concatenate([next(batches), next(batches)]), order)
    assert not np.array_equal(orders[0], orders[1])


def test_batch_indices_visit_every_row_once_per_epoch() -> None:
    batches = batch_indices(10, 4, seed=3)
    epoch = [next(batches) for _ in range(3)]
    assert [len(b) for b in epoch] == [4, 4, 2]
    assert sorted(np.concatenate(epoch).tolist()) == list(range(10))
    again = batch_indices(10, 4, seed=3)
    assert all(np.array_equal(a, next(again)) for a in epoch)
    assert check_training_args(5, None, 10) is None and check_training_args(5, 20, 10) is None
    assert check_training_args(5, 4, 10) == 4


@pytest.mark.parametrize("make", [lambda: SGD(lr=0.1), lambda: SGD(lr=0.1, momentum=0.9),
                                  lambda: Adam(lr=0.1)])
def test_a_bare_array_is_refused_not_silently_left_unchanged(make):
    p = np.ones(3)
    with pytest.raises(TypeError, match="params must be a list of NumPy arrays"):
        make().step(p, [np.ones(3)])
    with pytest.raises(TypeError, match="grads must be a list of NumPy arrays, got a list holding list"):
        make().step([p], [[1.0, 1.0, 1.0]])
    assert p.tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("make", [lambda: SGD(lr=0.1, weight_decay=math.inf),
                                  lambda: Adam(lr=0.1, eps=math.inf),
                                  lambda: SGD(lr=0.1, momentum=math.nan)])
def test_non_finite_hyperparameters_are_refused(make):
    with pytest.raises(ValueError, match=r"must be (non-negative and finite|in \[0, 1\)), got (inf|nan)"):
        make()
