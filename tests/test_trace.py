"""microgrid.trace: every op's array rule against the engine's table, random graphs replayed over
batches against the engine run row by row, MLPs against VectorizedMLP, finite differences, the
strong zero, the blocks a trace makes, the data-dependent-branch check, and the errors."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import microgrid.engine as engine
from microgrid.engine import Value, dot, grad, no_grad, topological_order, vsum
from microgrid.nn import MLP
from microgrid.optim import TrainingDiverged
from microgrid.trace import ARRAY_RULES, Program, _Quotient, trace
from microgrid.vectorized import VectorizedMLP

from strategies import SPECIAL_FLOATS, NetCase, TraceGraph, any_floats, net_cases, trace_graphs

# --------------------------------------------------------------------------------------------
# Every op of the engine's table has an array rule, and the two agree
# --------------------------------------------------------------------------------------------

# (label, number of operands, the op's constant, how the engine builds the node)
OP_CASES: tuple[tuple[str, int, Any, Callable[[Sequence[Value], Any], Value]], ...] = (
    ("add", 2, None, lambda v, p: v[0] + v[1]),
    ("sub", 2, None, lambda v, p: v[0] - v[1]),
    ("mul", 2, None, lambda v, p: v[0] * v[1]),
    ("div", 2, None, lambda v, p: v[0] / v[1]),
    ("pow", 2, None, lambda v, p: v[0] ** v[1]),
    ("pow_const", 1, 0.5, lambda v, p: v[0] ** p),
    ("neg", 1, None, lambda v, p: -v[0]),
    ("exp", 1, None, lambda v, p: v[0].exp()),
    ("log", 1, None, lambda v, p: v[0].log()),
    ("tanh", 1, None, lambda v, p: v[0].tanh()),
    ("sigmoid", 1, None, lambda v, p: v[0].sigmoid()),
    ("relu", 1, None, lambda v, p: v[0].relu()),
    ("leaky_relu", 1, 0.01, lambda v, p: v[0].leaky_relu(p)),
    ("softplus", 1, None, lambda v, p: v[0].softplus()),
    ("abs", 1, None, lambda v, p: v[0].abs()),
    ("sqrt", 1, None, lambda v, p: v[0].sqrt()),
    ("sum", 3, None, lambda v, p: vsum(v)),
    ("dot", 5, 2, lambda v, p: dot(v[:2], v[2:4], v[4])),
    ("dot_no_bias", 4, 2, lambda v, p: dot(v[:2], v[2:4])),
    ("slope", 3, None, lambda v, p: engine.slope(v[0], v[1], v[2])),  # (of recorded derivatives)
    ("zero", 1, None, lambda v, p: engine.zeroed(v[0])),
)

POW_CONSTANTS = (0.0, 0.5, -0.5, 1.0, 2.0, -1.0, 3.0, 1 / 3, -2.5)


def engine_ops() -> list[engine.Op]:
    """Every op of the engine's table."""
    return [op for op in vars(engine).values() if isinstance(op, engine.Op)]


def test_every_op_of_the_engine_has_an_array_rule_and_every_rule_an_op() -> None:
    names = {op.name for op in engine_ops()}
    assert len(names) >= 17
    assert names == set(ARRAY_RULES)
    built = {id(build([Value(0.5)] * arity, p)._op) for _, arity, p, build in OP_CASES}
    assert built == {id(op) for op in engine_ops()}  # the cases below reach every op


def same(a: float, b: float) -> bool:
    """Equal, or both NaN (0.0 and -0.0 count as equal)."""
    return a == b or (a != a and b != b)


def within_ulps(a: float, b: float, ulps: int) -> bool:
    if same(a, b):
        return True
    return math.isfinite(a) and math.isfinite(b) and abs(a - b) <= ulps * np.spacing(max(abs(a), abs(b)))


@pytest.mark.parametrize("label, arity, p, build", OP_CASES, ids=[c[0] for c in OP_CASES])
@given(data=st.data())
def test_array_rules_compute_the_engines_values_and_local_derivatives(label, arity, p, build, data) -> None:
    """On every float (NaN, infinities, signed zeros, subnormals included), each rule gives the
    value of the engine's forward function and, from the same value, the same local derivatives:
    bit for bit (0 and -0 equal), except np.tanh's value (within 4 units in the last place) and
    sums (the engine rounds a finite sum once, the rule at each addition)."""
    n = data.draw(st.integers(1, 6))
    values = st.one_of(st.sampled_from(SPECIAL_FLOATS), any_floats)
    rows = [data.draw(st.lists(values, min_size=arity, max_size=arity)) for _ in range(n)]
    if label == "pow_const":
        p = data.draw(st.sampled_from(POW_CONSTANTS))
    if label == "leaky_relu":
        p = data.draw(st.sampled_from((0.0, 0.01, 0.3)))
    op = build([Value(0.5)] * arity, p)._op
    p = build([Value(0.5)] * arity, p)._param
    rule = ARRAY_RULES[op.name]
    columns = [np.array(col, dtype=np.float64).reshape(n, 1) for col in zip(*rows)]
    out, scratch = np.empty((n, 1)), np.zeros((n, 1))
    with np.errstate(all="ignore"):
        rule.forward(columns, p, out, scratch)
        expected = [op.forward(row, p) for row in rows]
        for r in range(n):
            if op.name in ("sum", "dot"):
                row = rows[r]
                terms = row if op.name == "sum" else [a * b for a, b in zip(row[:p], row[p:])] + row[2 * p:]
                finite = all(map(math.isfinite, terms))
                bound = 2 * len(terms) * np.finfo(float).eps * sum(map(abs, terms)) if finite else 0.0
                assert same(out[r, 0], expected[r]) or abs(out[r, 0] - expected[r]) <= bound, (row, out[r, 0])
            else:
                ulps = 4 if op.name == "tanh" else 0
                assert within_ulps(out[r, 0], expected[r], ulps), (rows[r], out[r, 0], expected[r])
        y = np.array(expected).reshape(n, 1)
        local = rule.local(y, columns, p, scratch)
    for j in range(arity):
        d = local[j]  # an array, a number, or a quotient: what an edge passes is then rule(g, ...)
        with np.errstate(all="ignore"):
            quotient = isinstance(d, _Quotient)
            got = np.broadcast_to(d.times(np.ones((n, 1))) if quotient else d, (n, 1))
            flat = np.broadcast_to(d.flat(), (n, 1)) if quotient else got == 0.0
        for r in range(n):
            want = op.local(expected[r], rows[r], p)[j]
            assert same(got[r, 0], float(want)), (label, j, rows[r], got[r, 0], want)
            assert bool(flat[r, 0]) == (not want), (label, j, rows[r])  # passes nothing where flat


# --------------------------------------------------------------------------------------------
# Random graphs over every op, traced once, replayed over a batch: the engine, row by row
# --------------------------------------------------------------------------------------------


def engine_rows(g: TraceGraph, params: list[Value]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The engine on each row alone: the outputs, the parameters' gradients (one row per example),
    and each row's scales (the largest finite |value| and |gradient| of any of its nodes)."""
    outs, grads, vscale, gscale = [], [], [], []
    for row in g.rows.tolist():
        root = g.build([Value(v) for v in row], params)
        nodes = topological_order(root)
        outs.append(root.data)
        grads.append(grad(root, params))
        finite = lambda xs: [abs(x) for x in xs if math.isfinite(x)] + [1e-300]  # noqa: E731
        vscale.append(max(finite([v.data for v in nodes])))
        gscale.append(max(finite(grad(root, nodes))))
    return np.array(outs), np.array(grads).reshape(len(outs), len(params)), np.array(vscale), np.array(gscale)


def assert_same_specials(got: np.ndarray, want: np.ndarray, what: str) -> None:
    """NaN where NaN, the same infinities where infinite."""
    assert (np.isnan(got) == np.isnan(want)).all(), f"{what}: NaN in other places: {got} vs {want}"
    inf = np.isinf(want)
    assert (np.isinf(got) == inf).all() and (got[inf] == want[inf]).all(), f"{what}: {got} vs {want}"


def check_against_engine(g: TraceGraph) -> None:
    params = [Value(p) for p in g.params]
    program = trace(lambda xs: g.build(xs, params), g.rows[0], params=params)
    outs, row_grads, vscale, gscale = engine_rows(g, params)
    replayed = program.forward(g.rows)
    assert_same_specials(replayed, outs, "outputs")
    finite = np.isfinite(outs)
    assert (np.abs(replayed[finite] - outs[finite]) <= 1e-12 * vscale[finite]).all(), (replayed, outs)

    total, grads = program.loss_and_grads(g.rows, reduction="sum")
    with np.errstate(invalid="ignore"):
        want = np.array([math.fsum(c) if np.isfinite(c).all() else float(np.sum(c)) for c in row_grads.T])
    assert_same_specials(grads, want, "gradients")
    ok = np.isfinite(want)
    assert (np.abs(grads[ok] - want[ok]) <= 1e-12 * gscale.sum()).all(), (grads, want)
    if np.isfinite(outs).all():
        assert total == pytest.approx(math.fsum(outs), rel=1e-12, abs=1e-12 * vscale.sum())


@given(trace_graphs())
def test_random_graphs_replay_as_the_engine_runs_row_by_row(g: TraceGraph) -> None:
    """Values and every parameter's gradient within 1e-12 of the row's scale (its largest value,
    its largest gradient): what summing in another order and np.tanh's last bits can change."""
    check_against_engine(g)


@given(trace_graphs(special=True))
def test_nan_and_infinities_land_where_the_engine_puts_them(g: TraceGraph) -> None:
    """Rows of NaN, infinities, signed zeros, a subnormal: the same NaN and inf in the outputs
    and the gradients (the strong zero included), the finite numbers as above."""
    check_against_engine(g)


def test_a_graph_with_every_kind_of_step_and_matrix_products() -> None:
    """One fixed graph through every kind of the strategy, with layers sharing their inputs."""
    rng = np.random.default_rng(4)
    from strategies import TRACE_KINDS

    steps, n_inputs, n_params = [], 2, 6
    for i, (kind, (arity, _)) in enumerate(TRACE_KINDS.items()):
        avail = n_inputs + n_params + i
        operands = tuple(int(j) for j in rng.integers(max(0, avail - 4), avail, size=arity))
        weights = tuple(tuple(int(j) for j in rng.choice(n_params, size=arity + 1, replace=False))
                        for _ in range(3)) if kind.startswith("layer") else ()
        steps.append((kind, operands, 0.5, weights))
    g = TraceGraph(n_inputs, tuple(rng.uniform(-1, 1, n_params)), tuple(steps), rng.uniform(-2, 2, (7, 2)))
    check_against_engine(g)
    params = [Value(p) for p in g.params]
    program = trace(lambda xs: g.build(xs, params), g.rows[0], params=params)
    assert {b.op for b in program.blocks} >= {"+", "*", "/", "**", "exp", "relu", "sum", "dot"}
    assert any(b.matmul for b in program.blocks)


# --------------------------------------------------------------------------------------------
# MLPs: the same losses and gradients as VectorizedMLP, and the same training
# --------------------------------------------------------------------------------------------


def rel(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> float:
    """The largest difference of two lists of tensors, relative to each tensor's largest entry."""
    return max(float(np.max(np.abs(x - y), initial=0.0)) / max(float(np.max(np.abs(y), initial=0.0)), 1e-300)
               for x, y in zip(a, b))


def traced_mlp(case: NetCase) -> tuple[MLP, Program, str]:
    acts = case.activations[:-1] + ("sigmoid",) if case.loss == "bce" else case.activations
    mlp = MLP(list(case.dims), activations=list(acts))
    mlp.set_weights(list(case.weights))
    return mlp, mlp.compile(case.loss), case.loss


@given(net_cases(max_rows=6))
def test_mlps_give_vectorized_mlps_loss_and_gradients(case: NetCase) -> None:
    """The mean loss within 1e-12, and each gradient tensor within 1e-12 of the largest sum over
    the rows of its entries' magnitudes (a gradient is a sum over rows, which may cancel)."""
    mlp, program, loss = traced_mlp(case)
    net = VectorizedMLP.from_scalar(mlp)
    value, grads = program.loss_and_grads(case.X, case.y)
    ref_value, ref_grads = net.loss_and_grads(case.X, case.y, loss=loss)
    assert value == pytest.approx(ref_value, rel=1e-12, abs=1e-300)
    rows = [net.loss_and_grads(case.X[r : r + 1], case.y[r : r + 1], loss=loss)[1]
            for r in range(len(case.X))]
    for k, (got, want) in enumerate(zip(mlp.as_arrays(grads), ref_grads)):
        scale = np.max(sum(np.abs(row[k]) for row in rows)) / len(rows)
        assert np.max(np.abs(got - want)) <= 1e-12 * scale, (k, got, want)


def test_an_mlps_example_loss_is_the_branch_free_form_written_out() -> None:
    """MLP.example_loss against the forms written out here: BCE from the logit as
    softplus((1 - 2y) z), the hinge loss as relu(1 - (2y - 1) a), MSE as (a - y)^2, averaged
    over the outputs: the same numbers, bit for bit, for both labels."""
    rng = np.random.default_rng(5)
    labels = [[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]
    cases = (("bce", ["tanh", "sigmoid"]), ("hinge", ["relu", "linear"]), ("mse", ["relu", "tanh"]))
    for loss, acts in cases:
        mlp = MLP(3, [4, 2], activations=acts, seed=1)
        for x, y in zip(rng.uniform(-1, 1, (4, 3)).tolist(), labels):
            xs, ys = [Value(v) for v in x], [Value(v) for v in y]
            outs = mlp.logits(xs) if loss == "bce" else mlp(xs)
            if loss == "bce":
                terms = [((1.0 - 2.0 * t) * z).softplus() for z, t in zip(outs, ys)]
            elif loss == "hinge":
                terms = [(1.0 - (2.0 * t - 1.0) * a).relu() for a, t in zip(outs, ys)]
            else:
                terms = [(a - t) ** 2 for a, t in zip(outs, ys)]
            assert mlp.example_loss(loss)(xs, ys).data == (vsum(terms) / 2).data


@pytest.mark.parametrize("optimizer, batch_size",
                         [("gd", None), ("momentum", 5), ("adam", None), ("adam", 7)])
def test_fit_through_the_trace_trains_as_vectorized_mlp_fit(optimizer: str, batch_size: int | None) -> None:
    rng = np.random.default_rng(3)
    X, y = rng.uniform(-1, 1, (23, 4)), rng.integers(0, 2, 23).astype(float)
    mlp = MLP(4, [6, 5, 1], activations=["tanh", "relu", "sigmoid"], seed=2)
    net = VectorizedMLP.from_scalar(mlp)
    history = mlp.fit(X, y, lr=0.05, iters=40, optimizer=optimizer, batch_size=batch_size, seed=4,
                      engine="traced")
    ref = net.fit(X, y, lr=0.05, iters=40, optimizer=optimizer, batch_size=batch_size, seed=4)
    np.testing.assert_allclose(history, ref, rtol=1e-12)
    assert rel(mlp.get_weights(), net.get_weights()) <= 1e-12  # fit wrote the trained values back
    assert not np.array_equal(mlp.get_weights()[0], MLP(4, [6, 5, 1], seed=2).get_weights()[0])


def test_compile_refuses_bce_from_a_probability_and_fit_an_unknown_engine() -> None:
    mlp = MLP(3, [2, 1], activations=["relu", "tanh"])
    with pytest.raises(ValueError, match="bce on a tanh output clamps the probability, a choice on the data"):
        mlp.compile("bce")
    assert mlp.compile("mse").n_targets == 1
    with pytest.raises(ValueError, match="engine must be 'scalar' or 'traced', got 'fast'"):
        mlp.fit(np.zeros((2, 3)), np.zeros(2), engine="fast")
    with pytest.raises(ValueError, match="unknown loss"):
        MLP(3, [1]).compile("l1")


def test_fit_stops_on_divergence_with_the_weights_of_the_step_before() -> None:
    mlp = MLP(2, [3, 1], activations=["linear", "linear"], seed=0)
    net = VectorizedMLP.from_scalar(mlp)
    X, y = np.array([[1e60, 1.0], [2.0, -1e60]]), np.array([1.0, 0.0])
    program = mlp.compile("mse")
    with pytest.raises(TrainingDiverged, match="at iteration 2;") as traced:
        program.fit(X, y, lr=1.0, iters=5)
    with pytest.raises(TrainingDiverged) as vectorized:
        net.fit(X, y, lr=1.0, iters=5, loss="mse")
    assert traced.value.iteration == vectorized.value.iteration == 1
    assert rel(mlp.get_weights(), net.get_weights()) <= 1e-12
    assert np.isfinite(mlp.get_weights()[0]).all()


# --------------------------------------------------------------------------------------------
# Finite differences, the strong zero, the blocks
# --------------------------------------------------------------------------------------------


def test_gradients_agree_with_central_differences_of_the_replayed_loss() -> None:
    rng = np.random.default_rng(7)
    mlp = MLP(3, [4, 2], activations=["tanh", "linear"], seed=1)
    w, c = Value(0.3), Value(-0.7)

    def f(x: list[Value], y: Value) -> Value:  # a skip connection, a custom loss and a shared weight
        h = mlp(x)
        s = h[0] * w + x[0] * w + (h[1] - c) ** 2
        return (s - y).abs().sqrt() + (1.0 + s * s).log() * w.sigmoid()

    params = [*mlp.parameters(), w, c]
    X, y = rng.uniform(-1, 1, (9, 3)), rng.uniform(-1, 1, 9)
    program = trace(f, X[0], y[0], params=params)
    _, grads = program.loss_and_grads(X, y)
    for k, p in enumerate(params):
        saved, eps = p.data, 1e-6
        p.data = saved + eps
        up = program.loss_and_grads(X, y)[0]
        p.data = saved - eps
        down = program.loss_and_grads(X, y)[0]
        p.data = saved
        numerical = (up - down) / (2 * eps)
        assert abs(grads[k] - numerical) <= 1e-5 + 1e-3 * abs(numerical), (k, grads[k], numerical)


@pytest.mark.parametrize("build, x, expected", [
    (lambda x, w: (x[0] * w).relu().sqrt(), [-1.0, 4.0], [0.0]),       # relu flat below 0
    (lambda x, w: ((x[0] * w) ** 0.0 - 1.0).sqrt(), [2.0, 3.0], [0.0]),  # x**0 constant
    (lambda x, w: (w ** x[0] - 1.0).sqrt(), [0.0, 1.0], [0.0]),          # flat in the base at b = 0
])
def test_a_flat_edge_passes_nothing_even_an_infinite_gradient(build, x, expected) -> None:
    """The engine's strong zero, on a batch whose other rows are ordinary: the same gradient."""
    w = Value(2.0)
    X = np.array([[x[0]], [x[1]]])
    program = trace(lambda xs: build(xs, w), X[0], params=[w])
    _, g = program.loss_and_grads(X, reduction="sum")
    engine_total = sum(grad(build([Value(v)], w), w) for v in X[:, 0])
    assert math.isfinite(g[0]) and g[0] == pytest.approx(engine_total, rel=1e-14)
    _, g0 = program.loss_and_grads(X[:1], reduction="sum")
    assert g0.tolist() == expected


def test_division_and_log_pass_their_gradient_by_dividing() -> None:
    """A subnormal denominator: 1/b overflows, g/b does not (as in the engine)."""
    w = Value(1e-310)

    def f(x: list[Value]) -> Value:
        return (x[0] / w + w.log() + (x[0] * 1e300).log()) * 1e-20

    X = np.array([[1e-300], [2e-300]])
    program = trace(f, X[0], params=[w])
    _, g = program.loss_and_grads(X, reduction="sum")
    want = math.fsum(grad(f([Value(v)]), w) for v in X[:, 0])
    assert math.isfinite(want) and g[0] == pytest.approx(want, rel=1e-15)


def wisconsin_like(rows: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (rows, 9)), rng.integers(0, 2, rows).astype(float)


def test_a_layer_is_one_matrix_product_and_its_activations_one_block() -> None:
    X, y = wisconsin_like()
    mlp = MLP(9, [15, 1], seed=0)
    program = mlp.compile()
    blocks = [(b.stage, b.op, len(b.members), b.matmul) for b in program.blocks]
    assert blocks == [("data", "*", 1, False), ("data", "-", 1, False), ("params", "dot", 15, True),
                      ("params", "relu", 15, False), ("params", "dot", 1, True), ("params", "*", 1, False),
                      ("params", "softplus", 1, False)]
    ws = program._workspace(len(X))
    assert ws.gathers == 0  # every block reads adjacent columns: views, nothing gathered


def test_shared_weights_and_nodes_read_twice_add_up() -> None:
    """A weight used twice in a neuron, by two neurons, and an input read twice by one block."""
    w = [Value(v) for v in (0.5, -1.5, 2.0)]

    def f(x: list[Value]) -> Value:
        z1 = dot([w[0], w[0]], [x[0], x[1]], w[1])
        z2 = dot([w[0], w[2]], [x[0], x[1]], w[1])
        return (z1.tanh() * z2 + x[0] * x[0] * w[2]).sigmoid()

    X = np.random.default_rng(1).uniform(-1, 1, (6, 2))
    program = trace(f, X[0], params=w)
    _, g = program.loss_and_grads(X, reduction="sum")
    want = [math.fsum(grad(f([Value(a), Value(b)]), w)[k] for a, b in X.tolist()) for k in range(3)]
    np.testing.assert_allclose(g, want, rtol=1e-13)


def test_source_writes_each_block_once_forward_then_backward() -> None:
    """Both orientations of dot in one matrix product, a shared weight (added into the gradient),
    a block of the data only, a parameter read by an elementwise block, a gathered operand."""
    w = [Value(v) for v in (0.5, -1.5, 2.0)]

    def f(x: list[Value]) -> Value:
        z1 = dot([w[0], w[0]], [x[0], x[1]], w[1])
        z2 = dot([x[0], x[1]], [w[0], w[2]], w[1])
        return (z1.tanh() * z2 + x[1] * x[0] * w[2]).sigmoid()

    program = trace(f, [0.1, 0.2], params=w)
    assert program.source(4).splitlines() == [
        "# forward, 4 rows: x (4, 2), p (3,)",
        "v1 = x[:, 1:2] * x[:, 0:1]         # (4, 1)  data only: once per batch",
        "v2 = x @ W1.T + b1                 # (4, 2)  [W1 | b1] = p[[0, 0, 1, 0, 2, 1]].reshape(2, 3)",
        "v3 = tanh(v2[:, 0:1])              # (4, 1)",
        "v4 = v1 * p[2]                     # (4, 1)",
        "v5 = v3 * v2[:, 1:2]               # (4, 1)",
        "v6 = v5 + v4                       # (4, 1)",
        "v7 = sigmoid(v6)                   # (4, 1)",
        "loss = v7.sum() / 4                # ()",
        "# backward",
        "g7 = 1 / 4                         # (4, 1)",
        "g6 = g7 * v7 * sigmoid(-v6)        # (4, 1)",
        "g5 = g6                            # (4, 1)",
        "g4 = g6                            # (4, 1)",
        "g3 = g5 * v2[:, 1:2]               # (4, 1)",
        "g2[:, 1:2] = g5 * v3               # (4, 1)",
        "gp_row[2] = g4 * v1                # (4, 1)",
        "g2[:, 0:1] = g3 * (1 - v3) * (1 + v3) # (4, 1)",
        "gp[[0, 0, 1, 0, 2, 1]] += (g2.T @ [x | 1]).ravel() # (2, 3)",
        "gp[[2]] += gp_row[2].sum(0)        # (1,)",
    ]
    assert [len(b.members) for b in program.blocks if b.matmul] == [2]


def test_default_parameters_are_every_leaf_but_the_inputs_constants_included() -> None:
    a = Value(3.0)
    program = trace(lambda x: a * x[0] + 2.0, [1.5])
    assert len(program.params) == 2 and program.params[0] is a and program.params[1].data == 2.0
    _, g = program.loss_and_grads(np.array([[1.0], [2.0]]), reduction="sum")
    assert g.tolist() == [3.0, 2.0]  # d/da = sum of x; d/d(the constant 2) = 1 per row


def test_parameters_are_read_at_each_call() -> None:
    a = Value(3.0)
    program = trace(lambda x: a * x[0], [1.0], params=[a])
    X = np.array([[1.0], [2.0]])
    assert program.forward(X).tolist() == [3.0, 6.0]
    a.data = -1.0
    assert program.forward(X).tolist() == [-1.0, -2.0]
    assert program.loss_and_grads(X)[0] == -1.5


def test_a_function_of_the_parameters_only_and_of_the_inputs_only() -> None:
    a = Value(3.0)
    program = trace(lambda x: a * a, [1.0], params=[a])
    value, g = program.loss_and_grads(np.zeros((4, 1)))
    assert value == 9.0 and g.tolist() == [6.0]
    program = trace(lambda x: x[0].exp(), [1.0], params=[a])
    value, g = program.loss_and_grads(np.zeros((4, 1)))
    assert value == 1.0 and g.tolist() == [0.0]
    program = trace(lambda x: x[1], [1.0, 2.0], params=[])
    assert program.forward(np.array([[1.0, 5.0]])).tolist() == [5.0]


# --------------------------------------------------------------------------------------------
# What one trace cannot see, and the check that can
# --------------------------------------------------------------------------------------------


def test_check_finds_a_branch_on_the_label_and_passes_the_branch_free_form() -> None:
    X, y = wisconsin_like(8, seed=2)
    y[:2] = [0.0, 1.0]
    mlp = MLP(9, [4, 1], seed=0)
    branchy = trace(lambda x, t: mlp.logits(x).softplus() if t.data == 0 else (-mlp.logits(x)).softplus(),
                    X[0], y[0], params=mlp.parameters())
    with pytest.raises(ValueError, match="row 1 builds another graph .* node 63 of 64 is op 'neg' where "
                                         "the trace has op 'softplus'"):
        branchy.check(X, y)
    branch_free = trace(lambda x, t: ((1 - 2 * t) * mlp.logits(x)).softplus(), X[0], y[0],
                        params=mlp.parameters())
    assert branch_free.check(X, y) <= 1e-15
    assert branchy.check(X, y, rows=1) <= 1e-15  # row 0 is the traced example: it passes


def test_check_finds_a_number_read_out_of_the_data() -> None:
    w = Value(2.0)
    program = trace(lambda x: w * float(x[0].data), [1.0], params=[w])  # x becomes a constant
    with pytest.raises(ValueError, match="node 1 of 3 is the number 3.0 where the trace has the number 1.0"):
        program.check(np.array([[1.0], [3.0]]))


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


def test_errors_name_what_is_wrong() -> None:
    w = Value(1.0)
    program = trace(lambda x, t: (x[0] * w - t) ** 2, [1.0, 2.0], 0.5, params=[w])
    with pytest.raises(ValueError, match=r"X must have shape \(rows, 2\), got \(3, 3\)"):
        program.forward(np.zeros((3, 3)), np.zeros(3))
    with pytest.raises(ValueError, match="takes a target: pass y"):
        program.forward(np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"y must have shape \(3, 1\) for 3 rows, got \(4, 1\)"):
        program.forward(np.zeros((3, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="reduction must be 'mean' or 'sum'"):
        program.loss_and_grads(np.zeros((3, 2)), np.zeros(3), reduction="max")
    with pytest.raises(ValueError, match="takes no target"):
        trace(lambda x: x[0] * w, [1.0]).forward(np.zeros((1, 1)), np.zeros(1))
    with pytest.raises(ValueError, match="params must be leaf Values"):
        trace(lambda x: x[0] * w, [1.0], params=[w * 2])
    with pytest.raises(ValueError, match="params lists a Value twice"):
        trace(lambda x: x[0] * w, [1.0], params=[w, w])
    with pytest.raises(TypeError, match="must return a Value, got float"):
        trace(lambda x: 1.0, [1.0])
    with pytest.raises(ValueError, match="x must be one example"):
        trace(lambda x: x[0], [[1.0]])
    with pytest.raises(RuntimeError, match="no_grad"), no_grad():
        trace(lambda x: x[0] * w, [1.0])
