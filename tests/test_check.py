"""Gradient checks: gradcheck, the three-way comparison, its report, and `microgrid check`."""

from __future__ import annotations

import dataclasses
import math
import re
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from microgrid.app.cli import main
from microgrid.engine import TANH, Value
from microgrid.functional import ACTIVATIONS, PROB_EPS, uses_logits
from microgrid.gradcheck import (
    RELATIVE_FLOOR,
    Difference,
    GradcheckError,
    check_manual_gradient,
    compare_gradients,
    gradcheck,
    gradgradcheck,
)
from microgrid.nn import MLP, initial_weights
from microgrid.vectorized import VectorizedMLP

from strategies import NetCase, expr_programs, float_lists, floats_between, net_cases

KINK_MARGIN = 1e-4  # finite differences with eps = 1e-6 cannot straddle a kink this far away


def near_kink(case: NetCase) -> bool:
    """True if a relu/leaky pre-activation, a hinge margin or a BCE clamp edge is within reach."""
    net = VectorizedMLP(case.dims, activations=case.activations)
    net.set_weights(case.weights)
    for Z, act in zip(net.preactivations(case.X), case.activations):
        if act in ("relu", "leaky_relu") and np.min(np.abs(Z)) < KINK_MARGIN:
            return True
    out = net.forward(case.X)
    if case.loss == "hinge":
        return bool(np.min(np.abs(1.0 - (2.0 * case.y - 1.0) * out)) < KINK_MARGIN)
    if case.loss == "bce" and not uses_logits("bce", case.activations[-1]):
        moving = out != 0.0  # an exactly-zero relu output stays 0 under small perturbations
        edge = np.minimum(np.abs(out - PROB_EPS), np.abs(out - (1.0 - PROB_EPS)))
        return bool(np.any(moving & (edge < KINK_MARGIN)))
    return False


def rel_diff(a: np.ndarray, b: np.ndarray, floor: float) -> float:
    """max |a - b| relative to the tensors' largest entry, or to ``floor`` if that is larger."""
    scale = max(np.max(np.abs(a)), np.max(np.abs(b)), floor)
    return 0.0 if scale == 0.0 else float(np.max(np.abs(a - b)) / scale)


# -- the property: autograd == hand-derived, and both == central differences -------------------


@given(net_cases())
@example(NetCase(  # both rows reach the same output and their hinge terms cancel in every tensor
    dims=(1, 1, 1, 1, 1), activations=("relu",) * 4, loss="hinge",
    weights=tuple(np.array(v) for v in ([[0.06286511]], [-0.06605243], [[0.32021133]], [0.05245006],
                                        [[-0.26783469]], [0.18079753], [[0.65200002]], [0.47354048])),
    X=np.array([[0.08724998], [0.87014485]]), y=np.array([[0.0], [1.0]])))
def test_autograd_equals_hand_derived_and_finite_differences(case: NetCase) -> None:
    assume(not near_kink(case))
    mlp = MLP(case.dims[0], case.dims[1:], activations=case.activations)
    mlp.set_weights(case.weights)
    graph = mlp.loss(case.X, case.y, case.loss)
    graph.backward()
    autograd = mlp.get_grads()

    net = VectorizedMLP(case.dims, activations=case.activations)
    net.set_weights(case.weights)
    loss, manual = net.loss_and_grads(case.X, case.y, case.loss)
    numeric = net.numerical_grads(case.X, case.y, case.loss, eps=1e-6)

    assert math.isclose(graph.data, loss, rel_tol=1e-12, abs_tol=1e-300)
    # where a tensor's exact gradient is ~0 (rows cancel), both paths keep only rounding noise of
    # the size of the terms: measure it against a millionth of the largest gradient or of the
    # largest row's term (each row's gradient / N), as the rows may cancel in every tensor at once
    rows = [net.loss_and_grads(case.X[i:i + 1], case.y[i:i + 1], case.loss)[1] for i in range(len(case.X))]
    terms = max((np.max(np.abs(g)) for row in rows for g in row), default=0.0) / len(case.X)
    floor = RELATIVE_FLOOR * max(terms, *(np.max(np.abs(g)) for g in autograd))
    for k, (a, m, n) in enumerate(zip(autograd, manual, numeric)):
        assert a.shape == m.shape == n.shape == case.weights[k].shape
        assert rel_diff(a, m, floor) <= 1e-10, f"tensor {k}: autograd vs hand-derived"
        np.testing.assert_allclose(a, n, rtol=1e-3, atol=1e-5, err_msg=f"tensor {k}: autograd vs fd")
        np.testing.assert_allclose(m, n, rtol=1e-3, atol=1e-5, err_msg=f"tensor {k}: hand vs fd")


# -- gradcheck -----------------------------------------------------------------------------------


@given(expr_programs())
def test_gradcheck_passes_on_smooth_expression_graphs(program) -> None:
    def f(*leaves: Value) -> Value:
        return program.on_values(leaves)[-1]

    assert gradcheck(f, list(program.inputs)) is True


def test_gradcheck_reports_a_derivative_the_graph_does_not_see() -> None:
    # x**2 is computed outside the graph, so the engine sees only the 3 y term
    def f(x: Value, y: Value) -> Value:
        return Value(x.data**2) + 3.0 * y

    with pytest.raises(GradcheckError) as info:
        gradcheck(f, [Value(1.5, "x"), Value(-2.0, "y")])
    message = str(info.value)
    assert isinstance(info.value, AssertionError)
    assert "1 of 2 derivatives" in message
    x_line = next(line for line in message.splitlines() if line.strip().startswith("x "))
    assert "<-- mismatch" in x_line
    numbers = [float(t) for t in x_line.split()[1:5]]  # value, numerical, analytical, abs diff
    assert numbers[0] == 1.5 and numbers[1] == pytest.approx(3.0, abs=1e-6) and numbers[2] == 0.0
    y_line = next(line for line in message.splitlines() if line.strip().startswith("y "))
    assert "mismatch" not in y_line
    assert gradcheck(f, [1.5, -2.0], raise_exception=False) is False


def test_gradcheck_does_not_touch_the_inputs_grads() -> None:
    x = Value(0.7)
    x.grad = 5.0
    assert gradcheck(lambda v: v.tanh() * v, [x])
    assert x.grad == 5.0


def test_gradcheck_catches_a_kink_and_bad_arguments() -> None:
    with pytest.raises(GradcheckError):
        gradcheck(lambda v: v.relu(), [0.0])  # numerical 0.5, analytical 0
    with pytest.raises(TypeError, match="must return a Value"):
        gradcheck(lambda v: 1.0, [0.5])
    with pytest.raises(ValueError, match="eps must be positive"):
        gradcheck(lambda v: v, [0.5], eps=0.0)
    with pytest.raises(TypeError, match=r"inputs\[0\]"):
        gradcheck(lambda v: v, ["a"])


def test_gradcheck_refuses_arguments_that_would_fake_a_mismatch() -> None:
    # a NaN point or a negative tolerance used to be reported as derivatives that "disagree"
    with pytest.raises(ValueError, match=r"inputs\[1\] is nan: derivatives need a finite point"):
        gradcheck(lambda a, b: a * b, [1.0, math.nan])
    with pytest.raises(ValueError, match="atol must be non-negative and finite, got -1"):
        gradcheck(lambda v: v * v, [1.0], atol=-1)
    with pytest.raises(ValueError, match="rtol must be non-negative and finite, got nan"):
        gradcheck(lambda v: v * v, [1.0], rtol=math.nan)
    with pytest.raises(TypeError, match="inputs must be a sequence of Values or numbers, got float"):
        gradcheck(lambda v: v * v, 1.0)
    assert gradcheck(lambda v: v * v, [1.0], atol=0.0)  # zero tolerances are allowed


# -- compare_gradients and its report -----------------------------------------------------------


def test_difference_definition() -> None:
    d = Difference.between(np.array([1.0, -4.0]), np.array([1.5, -4.0]))
    assert d.max_abs == 0.5 and d.max_rel == 0.5 / 4.0
    assert Difference.between(np.zeros(3), np.zeros(3)) == Difference(0.0, 0.0)
    assert Difference.between(np.array([0.0]), np.array([1e-18]), floor=1e-6).max_rel == pytest.approx(1e-12)


def _small_problem() -> tuple[list[int], list[np.ndarray], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    dims = [4, 6, 3, 1]
    weights = initial_weights(dims, seed=1)
    for b in weights[1::2]:
        b[:] = 0.3 * rng.standard_normal(b.shape)
    X = rng.uniform(0.0, 1.0, size=(12, 4))
    y = rng.integers(0, 2, size=12)
    return dims, weights, X, y


def test_compare_gradients_report_holds_the_three_gradients() -> None:
    dims, weights, X, y = _small_problem()
    report = compare_gradients(dims, weights, X, y, activations=["tanh", "relu", "sigmoid"])

    mlp = MLP(4, [6, 3, 1], activations=["tanh", "relu", "sigmoid"])
    mlp.set_weights(weights)
    mlp.loss(X, y).backward()
    net = VectorizedMLP(dims, activations=["tanh", "relu", "sigmoid"])
    net.set_weights(weights)
    loss, manual = net.loss_and_grads(X, y)
    for got, expected in zip(report.autograd, mlp.get_grads()):
        np.testing.assert_array_equal(got, expected)
    for got, expected in zip(report.manual, manual):
        np.testing.assert_array_equal(got, expected)
    assert [t.name for t in report.tensors] == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert [t.shape for t in report.tensors] == [w.shape for w in weights]
    floor = RELATIVE_FLOOR * max(np.max(np.abs(g)) for g in report.autograd)
    for t, a, m, n in zip(report.tensors, report.autograd, report.manual, report.numeric):
        assert t.autograd_vs_manual == Difference.between(a, m, floor)
        assert t.manual_vs_numeric == Difference.between(m, n, floor)
        assert t.autograd_vs_manual.max_rel <= 1e-12
        assert t.autograd_vs_numeric.max_abs < 1e-8
    assert report.loss_manual == pytest.approx(loss, rel=0, abs=0)
    assert report.ok and report.exact_ok and report.numeric_ok and report.traced_ok
    traced_loss, traced = mlp.compile().loss_and_grads(X, y)
    assert report.loss_traced == traced_loss and report.worst_autograd_vs_traced <= 1e-12
    for t, got, expected in zip(report.tensors, report.traced, mlp.as_arrays(traced)):
        np.testing.assert_array_equal(got, expected)
        assert t.autograd_vs_traced.max_rel <= 1e-12
    text = str(report)
    assert text == report.table()
    assert "4-6-3-1 (tanh, relu, sigmoid)" in text and "W3" in text and "MISMATCH" not in text
    assert "auto-trace abs" in text and "autograd vs traced: worst rel diff" in text


def test_compare_gradients_leaves_out_the_trace_of_bce_on_a_non_sigmoid_output() -> None:
    """BCE from a probability clamps it, a choice on the data: no traced column, and still a verdict."""
    dims, weights, X, y = _small_problem()
    report = compare_gradients(dims, weights, X, y, activations=["tanh", "relu", "tanh"])
    assert report.traced is None and report.loss_traced is None and report.worst_autograd_vs_traced is None
    assert report.traced_ok and all(t.autograd_vs_traced is None for t in report.tensors)
    assert "autograd vs traced: not traced (bce on a tanh output clamps the probability" in report.table()
    traced = compare_gradients(dims, weights, X, y, activations=["tanh", "relu", "tanh"], loss="mse")
    assert traced.worst_autograd_vs_traced is not None and traced.worst_autograd_vs_traced <= 1e-12


def test_compare_gradients_flags_finite_differences_across_a_kink() -> None:
    # zero inputs and zero biases put every relu pre-activation exactly at 0, where relu has no
    # derivative: the engine and the hand-derived pass both use 0, central differences 1/2
    dims = [3, 4, 1]
    weights = initial_weights(dims, seed=0)
    X = np.zeros((5, 3))
    y = np.array([0, 1, 1, 0, 1])
    report = compare_gradients(dims, weights, X, y)
    assert report.exact_ok and not report.numeric_ok and not report.ok
    assert report.kink_distance == 0.0
    assert "near a kink" in report.table() and "MISMATCH" in report.table()


def test_compare_gradients_catches_a_wrong_hand_derived_derivative(monkeypatch: pytest.MonkeyPatch) -> None:
    """Break the NumPy derivative of tanh (a(1 - a) instead of 1 - a^2): only the hand-derived
    path uses it, so autograd and finite differences both disagree with it."""
    tanh = ACTIVATIONS["tanh"]
    wrong = dataclasses.replace(tanh, derivative=lambda z, a, out=None: np.multiply(a, 1.0 - a, out=out))
    monkeypatch.setitem(ACTIVATIONS, "tanh", wrong)
    dims, weights, X, y = _small_problem()
    report = compare_gradients(dims, weights, X, y, activations=["tanh", "tanh", "sigmoid"])
    assert not report.exact_ok and not report.ok
    by_name = {t.name: t for t in report.tensors}
    assert by_name["W1"].autograd_vs_manual.max_rel > 1e-3 and not by_name["W1"].numeric_ok
    assert by_name["W3"].autograd_vs_manual.max_rel < 1e-12  # the output layer does not use tanh'
    assert by_name["W1"].autograd_vs_numeric.max_abs < 1e-8  # autograd still matches the witness
    assert report.table().splitlines()[-1].endswith(
        ": MISMATCH in the hand-derived gradient only (autograd agrees)")


def test_compare_gradients_catches_a_wrong_autograd_derivative(monkeypatch: pytest.MonkeyPatch) -> None:
    """Break the engine's tanh rule (1 - y instead of 1 - y^2): only autograd uses it, so the
    hand-derived gradients and finite differences agree with each other and not with autograd."""
    monkeypatch.setattr(TANH, "local", lambda y, a, p: (1.0 - y,))
    dims, weights, X, y = _small_problem()
    report = compare_gradients(dims, weights, X, y, activations=["tanh", "tanh", "sigmoid"])
    assert not report.numeric_ok and not report.exact_ok and not report.ok
    by_name = {t.name: t for t in report.tensors}
    for name in ("W1", "b1", "W2", "b2"):  # every tensor below a tanh layer
        t = by_name[name]
        assert not t.numeric_ok, name
        assert t.autograd_vs_numeric.max_rel > 1e-2, name
        assert t.autograd_vs_manual.max_rel > 1e-2, name
        assert t.manual_vs_numeric.max_abs < 1e-8, name  # the witnesses agree with each other
    for name in ("W3", "b3"):  # the output layer's gradients use tanh's values, not its slope
        assert by_name[name].numeric_ok and by_name[name].autograd_vs_numeric.max_abs < 1e-8, name
    verdicts = report.table().splitlines()[-2:]
    assert verdicts[0].startswith("autograd vs hand-derived") and verdicts[0].endswith(": MISMATCH")
    assert verdicts[1].startswith("both vs finite differences")
    assert verdicts[1].endswith(": MISMATCH in autograd only (the hand-derived gradient agrees)")


def test_compare_gradients_takes_either_network_without_changing_it() -> None:
    dims, weights, X, y = _small_problem()
    mlp = MLP(4, [6, 3, 1], seed=2)
    before = mlp.get_weights()
    from_mlp = compare_gradients(mlp, None, X, y)
    net = VectorizedMLP.from_scalar(mlp)
    from_net = compare_gradients(net, None, X, y)
    for a, b in zip(from_mlp.manual, from_net.manual):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(mlp.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="activations come from the model"):
        compare_gradients(mlp, None, X, y, activations="tanh")
    with pytest.raises(ValueError, match="layer 1"):
        compare_gradients(dims, [np.zeros((2, 2))] + weights[1:], X, y)


# -- the command ---------------------------------------------------------------------------------


def test_check_command_on_the_shipped_data(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--samples", "40", "--hidden", "6,4", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "9-6-4-1 (relu, relu, sigmoid), mean bce over 40 rows" in out
    rows = [line.split() for line in out.splitlines() if re.match(r"\s*[Wb]\d ", line)]
    assert [r[0] for r in rows] == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert "auto-hand abs      rel  auto-trace abs      rel  auto-fd abs" in out
    for row in rows:
        auto_hand_abs, auto_hand_rel, auto_trace_abs, auto_trace_rel = map(float, row[3:7])
        assert auto_hand_abs <= 1e-12 and auto_hand_rel <= 1e-12
        assert auto_trace_abs <= 1e-12 and auto_trace_rel <= 1e-12
    loss = re.search(r"loss: autograd (\S+), hand-derived (\S+), traced (\S+) \(abs diff: hand (\S+), "
                     r"traced (\S+)\)", out)
    assert loss is not None
    auto, hand, traced, d_hand, d_traced = map(float, loss.groups())
    assert d_hand == float(f"{abs(auto - hand):.1e}") and d_traced == float(f"{abs(auto - traced):.1e}")
    assert traced == pytest.approx(auto, rel=1e-14)
    assert "autograd vs traced: worst rel diff" in out and "OK" in out and "MISMATCH" not in out


def test_check_command_exits_1_when_gradients_disagree(capsys: pytest.CaptureFixture[str]) -> None:
    # a huge finite-difference step makes the central differences visibly wrong for tanh
    assert main(["check", "--samples", "20", "--activation", "tanh", "--eps", "0.5"]) == 1
    assert "MISMATCH" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--hidden", "16,x"], "argument --hidden: expected positive integers separated by commas"),
    (["--hidden", "0"], "argument --hidden: expected positive integers separated by commas"),
    (["--samples", "0"], "argument --samples: expected a positive integer, got '0'"),
    (["--samples", "5000"], "--samples must be between 1 and 683"),
    (["--samples", "684"], "--samples must be between 1 and 683 (the complete rows), got 684"),
    (["--eps", "-1"], "argument --eps: expected a step between 1e-12 and 1, got '-1'"),
    (["--tol", "nan"], "argument --tol: expected a positive number, got 'nan'"),
    (["--seed", "-2"], "argument --seed: expected a non-negative integer, got '-2'"),
])
def test_check_command_usage_errors(argv: list[str], message: str,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("option, message", [
    ({"atol": -1.0}, "atol must be non-negative and finite"),
    ({"rtol": float("nan")}, "rtol must be non-negative and finite"),
    ({"eps": 0.0}, "eps must be positive and finite"),
    ({"tol": -1.0}, "tol must be positive and finite"),
    ({"tol": float("inf")}, "tol must be positive and finite"),
    ({"tol": 0.0}, "tol must be positive and finite"),  # 0 would fail two exact gradients over rounding
])
def test_compare_gradients_refuses_tolerances_that_decide_the_verdict(option, message):
    X, y = np.ones((2, 2)), np.array([0, 1])
    with pytest.raises(ValueError, match=f"compare_gradients: {message}"):
        compare_gradients([2, 3, 1], None, X, y, **option)


def test_gradcheck_reads_its_point_as_hessian_does():
    assert gradcheck(lambda a, b: a * b, [Fraction(1, 3), 2.0])
    with pytest.raises(ValueError, match=r"gradcheck: inputs\[0\] is inf: derivatives need a finite point"):
        gradcheck(lambda a: a * 0, [10**400])  # not OverflowError
    with pytest.raises(ValueError, match="gradcheck: inputs is empty"):
        gradcheck(lambda: Value(1.0), [])
    with pytest.raises(TypeError, match=r"gradcheck: inputs\[0\] must be a real number, got str"):
        gradcheck(lambda a: a, ["1"])


# --------------------------------------------------------------------------------------------
# check_manual_gradient: your own hand-derived gradient vs autograd vs finite differences
# --------------------------------------------------------------------------------------------


def L_ab(a, b):
    return a * b + a  # a is used twice: dL/da = b + 1, dL/db = a


def table_row(table: str, label: str) -> list[str]:
    (row,) = [line.split() for line in table.splitlines() if line.split()[:1] == [label]]
    return row


def test_check_manual_gradient_passes_a_correct_hand_gradient() -> None:
    a, b, eps = 2.0, -3.0, 1e-6
    report = check_manual_gradient(L_ab, lambda a, b: [b + 1.0, a], [a, b])
    fd_a = ((a + eps) * b + (a + eps) - ((a - eps) * b + (a - eps))) / (2 * eps)  # plain floats
    fd_b = (a * (b + eps) + a - (a * (b - eps) + a)) / (2 * eps)
    assert (report.value, report.manual, report.autograd) == (-4.0, [-2.0, 2.0], [-2.0, 2.0])
    assert report.numeric == [fd_a, fd_b]
    assert report.ok and report.exact_ok and report.numeric_ok and report.worst_autograd_vs_manual == 0.0
    table = str(report)
    assert table == report.table() and "mismatch" not in table
    assert table.splitlines()[0] == ("gradient check of L_ab at (a=2, b=-3): hand-derived vs autograd "
                                     "vs finite differences, float64")
    row = table_row(table, "a")
    assert [float(x) for x in row[1:5]] == [2.0, -2.0, -2.0, float(f"{fd_a:.10g}")]
    assert row[5:9] == ["0.0e+00", "0.0e+00", f"{abs(-2.0 - fd_a):.1e}", f"{abs(-2.0 - fd_a) / 2.0:.1e}"]
    assert table.endswith("autograd vs hand-derived: worst rel diff 0.0e+00 (tolerance 1e-10): OK\n"
                          "both vs finite differences (|g - fd| <= 1e-05 + 0.001 |fd|): OK")


def test_check_manual_gradient_shows_a_wrong_hand_gradient() -> None:
    report = check_manual_gradient(L_ab, lambda a, b: [b, a], [2.0, -3.0])  # forgot the second use of a
    assert not report.ok and not report.exact_ok and not report.numeric_ok
    assert report.rel_autograd_vs_manual() == [1.0 / 3.0, 0.0]  # |-2 - (-3)| / 3
    table = report.table()
    row_a, row_b = table_row(table, "a"), table_row(table, "b")
    assert row_a[2:4] == ["-3", "-2"] and row_a[5:7] == ["1.0e+00", "3.3e-01"]
    assert row_a[-2:] == ["<--", "mismatch"] and "mismatch" not in row_b
    assert "worst rel diff 3.3e-01 (tolerance 1e-10): MISMATCH" in table
    assert table.endswith("both vs finite differences (|g - fd| <= 1e-05 + 0.001 |fd|): MISMATCH in the "
                          "hand-derived gradient only (autograd agrees)")


def smooth3(x, y, z):
    return x * y.tanh() + (0.5 * x).exp() * z - (y * z).sigmoid()


def smooth3_grad(x, y, z):
    t, s = math.tanh(y), 1.0 / (1.0 + math.exp(-y * z))
    return [t + 0.5 * math.exp(0.5 * x) * z, x * (1.0 - t * t) - s * (1.0 - s) * z,
            math.exp(0.5 * x) - s * (1.0 - s) * y]


@given(point=float_lists(floats_between(-2.0, 2.0), 3), k=st.integers(0, 2))
@example(point=[-0.5, -1.0, -2.0], k=1)  # d/dy is exactly 0 there: its two terms of 0.21 cancel
def test_check_manual_gradient_on_random_points(point: list[float], k: int) -> None:
    right = check_manual_gradient(smooth3, smooth3_grad, point)
    assert right.ok, right.table()
    exact = smooth3_grad(*point)
    assert all(math.isclose(a, m, rel_tol=1e-12, abs_tol=1e-14) for a, m in zip(right.autograd, exact))

    def wrong(*xs: float) -> list[float]:
        g = smooth3_grad(*xs)
        g[k] += 1e-3 * (1.0 + abs(g[k]))  # a small slip in one partial
        return g

    report = check_manual_gradient(smooth3, wrong, point)
    assert not report.exact_ok and not report.numeric_ok and not report.ok
    marked = [label for label in ("x", "y", "z") if "mismatch" in table_row(report.table(), label)]
    assert marked == [("x", "y", "z")[k]]


def test_check_manual_gradient_names_rows_and_leaves_grads_alone() -> None:
    a, b = Value(2.0, "weight"), Value(-3.0)
    report = check_manual_gradient(L_ab, lambda a, b: (b + 1.0, a), [a, b])
    assert report.labels == ("weight", "b") and report.ok and (a.grad, b.grad) == (0.0, 0.0)
    anon = check_manual_gradient(lambda *xs: xs[0] * xs[1], lambda *xs: np.array([xs[1], xs[0]]), [2, 3])
    assert anon.labels == ("inputs[0]", "inputs[1]") and anon.name == "f" and anon.ok
    one = check_manual_gradient(lambda x: x.tanh(), lambda x: 1.0 - math.tanh(x) ** 2, [0.3])  # a bare number
    assert one.ok and one.labels == ("x",)


@pytest.mark.parametrize(("args", "error", "message"), [
    ((L_ab, lambda a, b: [1.0], [2.0, 3.0]), ValueError, "returned 1 partial derivative for 2 inputs"),
    ((L_ab, lambda a, b: [1.0, 2.0, 3.0], [2.0, 3.0]), ValueError, "returned 3 partial derivatives for 2"),
    ((L_ab, lambda a, b: "ab", [2.0, 3.0]), TypeError, "must return a sequence of 2 numbers .* got str"),
    ((L_ab, lambda a, b: {a, b}, [2.0, 3.0]), TypeError, "got set"),
    ((L_ab, lambda a, b: [1.0, None], [2.0, 3.0]), TypeError, r"manual_grad\(...\)\[1\] must be a real"),
    ((L_ab, lambda a, b: [1.0, 2.0], [2.0, math.nan]), ValueError, r"point\[1\] is nan"),
    ((L_ab, lambda a, b: [1.0, 2.0], [math.inf, 1.0]), ValueError, r"point\[0\] is inf"),
    ((L_ab, lambda a, b: [1.0, 2.0], 2.0), TypeError, "point must be a sequence"),
    ((L_ab, lambda a, b: [1.0, 2.0], []), ValueError, "point is empty"),
    ((3, lambda a, b: [1.0, 2.0], [2.0, 3.0]), TypeError, "f must be a function, got int"),
    ((L_ab, [1.0, 2.0], [2.0, 3.0]), TypeError, "manual_grad must be a function, got list"),
    ((L_ab, lambda a: [1.0], [2.0, 3.0]), TypeError, "manual_grad cannot take the 2 inputs of point"),
    ((L_ab, lambda a, b, c: [1.0], [2.0, 3.0, 4.0]), TypeError, "f cannot take the 3 inputs of point"),
    ((lambda a, b: 1.0, lambda a, b: [1.0, 2.0], [2.0, 3.0]), TypeError,
     r"f \(<lambda>\) must return a Value, got float"),
])
def test_check_manual_gradient_bad_input_is_one_clear_error(args, error, message) -> None:
    with pytest.raises(error, match=f"^check_manual_gradient: .*{message}"):
        check_manual_gradient(*args)


@pytest.mark.parametrize(("option", "message"), [({"eps": 0.0}, "eps must be positive"),
                                                 ({"rtol": -1.0}, "rtol must be non-negative"),
                                                 ({"tol": math.nan}, "tol must be positive and finite"),
                                                 ({"tol": 0.0}, "tol must be positive and finite")])
def test_check_manual_gradient_refuses_bad_tolerances(option, message) -> None:
    with pytest.raises(ValueError, match=message):
        check_manual_gradient(L_ab, lambda a, b: [b + 1.0, a], [2.0, -3.0], **option)
    assert check_manual_gradient(L_ab, lambda a, b: [b + 1.0, a], [2.0, -3.0], tol=5e-324).ok  # above 0
    with pytest.raises(TypeError, match="check_manual_gradient: tol must be a number, got str"):
        check_manual_gradient(L_ab, lambda a, b: [b + 1.0, a], [2.0, -3.0], tol="1e-10")


@pytest.mark.parametrize("analytical, true, passes", [(1.8, 1.0, False), (1.0, 1.8, True)])
def test_gradcheck_scales_its_tolerance_by_the_numerical_derivative(monkeypatch: pytest.MonkeyPatch,
                                                                    analytical: float, true: float,
                                                                    passes: bool) -> None:
    """|a - n| <= atol + rtol |n| with n the finite difference: 0.8 <= 0.5 * 1.0 fails, 0.8 <= 0.5 * 1.8
    passes (scaling by the analytical value would swap the verdicts)."""
    import microgrid.gradcheck as check_module

    monkeypatch.setattr(check_module, "grad", lambda out, leaves: [analytical])  # a recorded derivative
    assert gradcheck(lambda x: x * true, [0.5], atol=0.0, rtol=0.5, raise_exception=False) is passes


@pytest.mark.parametrize("rtol, passes", [(0.5, True), (np.nextafter(0.5, 0.0), False)])
def test_gradcheck_passes_exactly_at_the_allowed_difference(monkeypatch: pytest.MonkeyPatch, rtol: float,
                                                            passes: bool) -> None:
    """f = 2x at 0.5 with eps 0.25: the central difference is exactly 2; a recorded derivative of 3
    is 1 away, and 1 <= 0 + rtol * 2 holds at rtol = 0.5 and not one float below it."""
    import microgrid.gradcheck as check_module

    monkeypatch.setattr(check_module, "grad", lambda out, leaves: [3.0])
    assert gradcheck(lambda x: x * 2.0, [0.5], eps=0.25, atol=0.0, rtol=rtol, raise_exception=False) is passes
    assert gradgradcheck(lambda x: x * x, [0.5], eps=0.25, atol=0.0, rtol=0.0)  # exact both ways: 2 == 2


def test_an_infinite_partial_does_not_hide_a_wrong_finite_one() -> None:
    """d sqrt(a) / da is inf at a = 0 on every side; the slip in db (2b instead of 2b + 1) is still
    judged against the finite partials, not against inf."""
    report = check_manual_gradient(lambda a, b: a.sqrt() + b * b + b, lambda a, b: [math.inf, 2.0 * b],
                                   [0.0, 3.0])
    assert report.autograd[0] == math.inf and report.manual[0] == math.inf
    assert report.rel_autograd_vs_manual()[1] == pytest.approx(1.0 / 7.0)  # |7 - 6| / 7
    assert "mismatch" in table_row(report.table(), "b") and not report.exact_ok


def test_an_infinite_finite_difference_never_passes() -> None:
    """log at x = eps: the central difference (log 2eps - log 0) / 2eps is inf, and |1/eps - inf| <=
    atol + rtol |inf| would hold; the gradient 1/eps is judged unchecked, a step further it passes."""
    assert not gradcheck(lambda x: x.log(), [1e-6], eps=1e-6, raise_exception=False)
    assert gradcheck(lambda x: x.log(), [2e-6], eps=1e-6, rtol=0.5, raise_exception=False)


@pytest.mark.parametrize("x, at_kink", [(0.0, True), (-5e-6, True), (2e-5, False), (-2e-5, False)])
def test_check_manual_gradient_names_a_kink_and_the_side_that_disagrees(x: float, at_kink: bool) -> None:
    """relu at 0: autograd and a hand-derived relu'(0) = 0 both follow the convention, the central
    difference straddles the kink (1/2): both disagree with it, and the note says why.  Within
    10 eps of the kink the note is there; beyond it, not."""
    report = check_manual_gradient(lambda v: v.relu(), lambda v: 1.0 if v > 0 else 0.0, [x])
    lines = report.table().splitlines()
    notes = [line for line in lines if line.startswith("note:")]
    if at_kink:
        assert notes == [f"note: the input of relu is {x:g} here, at its kink, where the derivative is a "
                         "convention (relu'(0) = 0) and finite differences straddle the kink"]
    else:
        assert notes == [] and report.ok
    if x == 0.0:
        assert report.numeric == [0.5] and report.exact_ok and not report.ok
        assert lines[-2].endswith("(|g - fd| <= 1e-05 + 0.001 |fd|): MISMATCH in both")


def test_check_takes_every_complete_row(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--samples", "683", "--hidden", "1", "--activation", "tanh"]) == 0
    assert "683 rows" in capsys.readouterr().out
