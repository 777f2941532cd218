"""Budgets before building: estimates from the architecture and row count, refusals with exit 2,
out-of-memory as one line with exit 1."""

from __future__ import annotations

import argparse
import gc
import math
import re
import resource
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

from microgrid.app import budgets
from microgrid.app.budgets import (
    Estimate,
    OverBudget,
    enforce,
    format_bytes,
    format_seconds,
    parse_bytes,
    parse_seconds,
    scalar_bytes,
    traced_bytes,
    vectorized_bytes,
)
from microgrid.nn import MLP
from microgrid.vectorized import VectorizedMLP

from helpers import one_line_error, run_cli


def graph_nodes(root) -> int:
    seen, stack = set(), [root]
    while stack:
        v = stack.pop()
        if id(v) not in seen:
            seen.add(id(v))
            stack.extend(v._parents or ())
    return len(seen)


@pytest.mark.parametrize("hidden, rows", [([15], 40), ([64, 32], 10), ([200], 5)])
def test_the_scalar_estimate_counts_the_graph_and_is_near_its_measured_size(hidden, rows):
    rng = np.random.default_rng(0)
    X, y = rng.random((rows, 9)), (rng.random(rows) > 0.5).astype(float)
    dims = [9, *hidden, 1]
    gc.collect()
    tracemalloc.start()
    mlp = MLP(9, [*hidden, 1], seed=0)
    loss = mlp.loss(X, y)
    loss.backward()
    measured = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    nodes, _ = budgets.scalar_graph(dims, rows)
    params = budgets._sizes(dims)[2]
    built = graph_nodes(loss) - params  # the nodes of this graph (the parameters live on)
    assert built <= nodes <= 1.25 * built  # never fewer than built, at most a little more
    assert 0.7 * measured <= scalar_bytes(dims, rows) <= 1.6 * measured, (scalar_bytes(dims, rows), measured)


@pytest.mark.parametrize("dims, rows, optimizer", [([9, 500, 1], 500, "gd"), ([9, 200, 200, 1], 300, "adam")])
def test_the_numpy_estimate_is_near_the_measured_peak(dims, rows, optimizer):
    rng = np.random.default_rng(0)
    X, y = rng.random((rows, 9)), (rng.random(rows) > 0.5).astype(float)
    gc.collect()
    tracemalloc.start()
    VectorizedMLP(dims, seed=0).fit(X, y, iters=2, optimizer=optimizer)
    measured = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    estimate = vectorized_bytes(dims, rows)
    assert 0.7 * measured <= estimate <= 1.6 * measured, (estimate, measured)


@pytest.mark.parametrize("dims, rows, optimizer", [
    ([9, 500, 1], 500, "gd"),
    pytest.param([9, 200, 200, 1], 300, "adam", marks=pytest.mark.slow),  # ~20 s to trace 42,000 weights
    ([9, 15, 1], 683, "gd"),
])
def test_the_traced_estimate_is_near_the_measured_peak(dims, rows, optimizer):
    rng = np.random.default_rng(0)
    X, y = rng.random((rows, 9)), (rng.random(rows) > 0.5).astype(float)
    mlp = MLP(dims, seed=0)
    gc.collect()
    tracemalloc.start()
    mlp.fit(X, y, iters=2, optimizer=optimizer, engine="traced")
    measured = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    estimate = traced_bytes(dims, rows)
    assert 0.7 * measured <= estimate <= 1.6 * measured, (estimate, measured)
    assert budgets.train_estimate(dims, rows, 10, "traced").what.endswith("(traced engine)")


def test_amounts_and_their_words():
    assert parse_bytes("16G") == parse_bytes("16gb") == 16e9 and parse_bytes("500M") == 5e8
    assert parse_bytes("2e9") == 2e9 and parse_seconds("90") == 90 and parse_seconds("2h") == 7200
    assert parse_seconds("30m") == 1800 and parse_seconds("1d") == 86400
    for bad in ("", "G", "-1G", "0", "1_0G", "5X", "inf", "nan", "1e400"):
        with pytest.raises(ValueError):
            parse_bytes(bad)
    assert format_bytes(2.36e12) == "2.36 TB" and format_bytes(512) == "512 bytes"
    # a unit from one of it, three digits below 1000 of the largest, whole numbers from there
    assert format_bytes(999) == "999 bytes" and format_bytes(1000) == "1 kB"
    assert format_bytes(999.4e12) == "999 TB" and format_bytes(1e15) == "1,000 TB"
    assert format_seconds(5400) == "1.5 hours" and format_seconds(18.4 * 86400) == "18.4 days"
    # one of a unit is singular: on both sides of 1 the plural
    assert [format_seconds(s) for s in (0.5, 1, 2, 3600, 3600 * 1.0001, 7200)] == [
        "0.5 seconds", "1 second", "2 seconds", "1 hour", "1 hour", "2 hours"]
    assert [format_bytes(n) for n in (0, 1, 2)] == ["0 bytes", "1 byte", "2 bytes"]


def test_the_numpy_time_estimate_of_the_tutorial_is_seconds():
    """9-15-1 on 500 rows runs about 30,000 iterations a second, so 67,000 take 2-3 s."""
    seconds = budgets.train_estimate([9, 15, 1], 500, 67_000, "numpy").seconds
    assert seconds is not None and 1.0 <= seconds <= 10.0, seconds


@pytest.mark.parametrize("dims, rows, iters, observed", [
    ([9, 15, 1], 683, 100_000_000, 100_000_000 / 33_500),  # 33,500 it/s, 50 min (CLI counts all rows)
    ([9, 10000, 10000, 1], 683, 67_000, 4 * 86400.0),  # the progress display: about 4 days
])
def test_the_numpy_time_estimate_is_within_a_factor_of_two_of_long_runs(dims, rows, iters, observed):
    """Runs seen on the development machine (arithmetic only: nothing is timed here)."""
    seconds = budgets.train_estimate(dims, rows, iters, "numpy").seconds
    assert seconds is not None and observed / 2 <= seconds <= 2 * observed, (seconds, observed)


def test_enforce_names_the_estimate_the_budget_and_the_option():
    estimate = Estimate(3e9, 7200.0, "training x")
    enforce(estimate, 4e9, 8000.0)
    with pytest.raises(OverBudget, match=r"training x needs about 3 GB of memory, more than the budget of "
                                         r"2 GB.*--memory-budget"):
        enforce(estimate, 2e9, None)
    with pytest.raises(OverBudget, match=r"would take about 2 hours, more than the budget of 1 hour:.*"
                                         r"--time-budget"):
        enforce(estimate, 4e9, 3600.0)
    enforce(estimate, 3e9, 7200.0)  # exactly at both budgets: allowed
    for memory, seconds in ((3e9 - 1, 7200.0), (3e9, 7199.999)):  # a byte or a millisecond over: refused
        with pytest.raises(OverBudget):
            enforce(estimate, memory, seconds)
    enforce(Estimate(3e9, None, "x"), 3e9, 1.0)  # no time estimated: no time budget


def test_the_folds_of_a_numpy_cv_are_in_memory_together():
    from microgrid.app.cli import UsageError
    from microgrid.app.commands.train import _check_budget
    from microgrid.app.runs.config import make_config

    config = make_config(cv=5, hidden="64", iters=10)
    one = budgets.vectorized_bytes([9, 64, 1], 683)
    histories = 5 * 10 * budgets.HISTORY_BYTES
    for budget, allowed in ((5 * one + histories, True), (5 * one + histories - 1, False)):
        args = argparse.Namespace(out=None, seeds=None, memory_budget=budget, time_budget=1e9)
        if allowed:
            _check_budget(args, config, 683, 9)
        else:
            with pytest.raises(UsageError, match="5 times needs about"):
                _check_budget(args, config, 683, 9)


# ---- the rows 3-6: refused before building, or out of memory in one line ---------------------


def test_check_of_a_huge_network_is_refused_before_building():
    """Row 3: ``check --samples 683 --hidden 10000,10000`` ran for minutes at 19.7 GB."""
    gc.collect()
    tracemalloc.start()
    status, out, err = run_cli(["check", "--samples", "683", "--hidden", "10000,10000"])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    one_line_error(status, out, err, "checking 9-10000-10000-1 on 683 rows needs about", "TB of memory",
                   "--memory-budget")
    assert peak < 200e6  # nothing of the network was built (one of its weight matrices is 800 MB)


@pytest.mark.parametrize("argv, needle", [
    (["train", "--engine", "scalar", "--hidden", "10000,10000"], "(scalar engine) needs about"),
    (["train", "--engine", "scalar", "--iters", "67000", "--time-budget", "10m"],
     "would take about 1"),  # hours: the scalar tutorial
    (["train", "--hidden", "10000,10000", "--memory-budget", "2G"], "needs about 5"),
    (["train", "--cv", "5", "--hidden", "64", "--memory-budget", "1M"], "5 times needs about"),
    (["train", "--seeds", "0-9", "--memory-budget", "1M"], "10 times needs about"),
    (["check", "--hidden", "200,200", "--samples", "683", "--time-budget", "1"], "would take about"),
    (["check", "--memory-budget", "100k"], "checking 9-15-1 on 50 rows needs about"),
    (["graph", "--mlp", "9,300,1", "-o", "g.dot", "--memory-budget", "1M"], "for one sample (3,916 Values)"),
])
def test_runs_beyond_a_budget_are_refused_with_the_estimate(tmp_path, monkeypatch, argv, needle):
    monkeypatch.chdir(tmp_path)
    status, out, err = run_cli(argv)
    assert status == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert needle in err and "budget" in err, err
    assert list(tmp_path.iterdir()) == []


def test_predict_beyond_its_budget_is_refused(tmp_path):
    run = tmp_path / "run"
    assert run_cli(["train", "--iters", "2", "--quiet", "--out", str(run)])[0] == 0
    from microgrid.data import shipped_path

    status, out, err = run_cli(["predict", "--model", str(run / "model.npz"), str(shipped_path()),
                                "--memory-budget", "10k"])
    one_line_error(status, out, err, "applying 9-15-1 to 699 rows needs about", "--memory-budget")


def test_a_long_numpy_run_says_so_before_starting(capsys):
    from microgrid.app.commands.train import _check_budget
    from microgrid.app.runs.config import make_config

    args = argparse.Namespace(out=None, seeds=None, memory_budget=budgets.DEFAULT_MEMORY_BUDGET,
                              time_budget=1.0)
    _check_budget(args, make_config(hidden="500,500"), 683, 9)  # 67,000 iterations: about 20 minutes
    err = capsys.readouterr().err
    assert "note: training 9-500-500-1 on 683 rows for 67,000 iterations will take about" in err
    assert "minutes" in err or "hours" in err
    _check_budget(args, make_config(hidden="15"), 683, 9)  # the tutorial: seconds, nothing said
    assert capsys.readouterr().err == ""
    per_iteration = budgets.vectorized_seconds([9, 15, 1], 683)
    for seconds, noted in ((1.01 * budgets.VECTORIZED_NOTE_SECONDS, True),
                           (0.99 * budgets.VECTORIZED_NOTE_SECONDS, False)):  # both sides of the line
        _check_budget(args, make_config(iters=round(seconds / per_iteration)), 683, 9)
        assert ("will take about" in capsys.readouterr().err) == noted


def _limited(argv: list[str], limit: int) -> subprocess.CompletedProcess[str]:
    """``microgrid argv`` in a process whose address space is limited to ``limit`` bytes."""
    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return subprocess.run([sys.executable, "-m", "microgrid", *argv], capture_output=True, text=True,
                          preexec_fn=limit_memory, timeout=120,
                          env={"OPENBLAS_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})


@pytest.mark.parametrize("argv, status", [
    (["check", "--samples", "683", "--hidden", "10000,10000"], 2),  # row 4: refused by the estimate
    (["train", "--engine", "scalar", "--hidden", "10000,10000"], 2),  # row 5
    (["train", "--hidden", "10000,10000", "--iters", "1"], 1),  # row 6: within the budget, not the limit
    (["train", "--hidden", "10000,10000,10000", "--iters", "1", "--memory-budget", "1T"], 1),
])
def test_under_a_memory_limit_the_answer_is_one_line(argv, status, tmp_path):
    """Rows 4-6: under an address-space limit (here 1.5 GB), no traceback ending in MemoryError."""
    done = _limited([*argv, "--out", str(tmp_path / "out")] if argv[0] == "train" else argv, 1_500_000_000)
    assert done.returncode == status, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    if status == 1:
        assert "out of memory" in done.stderr
    assert not (tmp_path / "out").exists()


def test_the_loss_histories_count_in_the_memory_budget(tmp_path):
    """Every training keeps a loss per iteration: 2,000,000 iterations need more than 10 MB, and a
    hundred seeds of 100,000,000 iterations more than the default budget, refused before starting."""
    one_line_error(*run_cli(["train", "--iters", "2000000", "--memory-budget", "10M"]),
                   "training 9-15-1 on 683 rows for 2,000,000 iterations needs about 16", "--memory-budget")
    one_line_error(*run_cli(["train", "--seeds", "0-99", "--iters", "100000000"]),
                   "100,000,000 iterations 100 times needs about 800 GB of memory")
    need = budgets.train_estimate([9, 15, 1], 683, 40, "vectorized").memory
    assert need > budgets.vectorized_bytes([9, 15, 1], 683) + 40 * 16  # the history is in it
    for budget, status in ((math.ceil(need), 0), (math.ceil(need) - 1, 2)):  # both sides of the line
        argv = ["train", "--iters", "40", "--quiet", "--memory-budget", str(budget)]
        assert run_cli(argv)[0] == status, budget


def test_a_traced_training_beyond_the_memory_budget_is_refused_on_its_own_estimate():
    need = budgets.train_estimate([9, 15, 1], 683, 40, "traced").memory
    assert need > budgets.traced_bytes([9, 15, 1], 683) + budgets.vectorized_bytes([9, 15, 1], 683)
    for budget, status in ((math.ceil(need), 0), (math.ceil(need) - 1, 2)):  # both sides of the line
        status_got, out, err = run_cli(["train", "--engine", "traced", "--iters", "40", "--quiet",
                                        "--memory-budget", str(budget)])
        assert status_got == status, (budget, err)
        if status == 2:
            one_line_error(status_got, out, err, "for 40 iterations (traced engine) needs about",
                           "--memory-budget")


@pytest.mark.parametrize("engine, one_pass", [("scalar", budgets.scalar_seconds),
                                               ("vectorized", budgets.vectorized_seconds)])
def test_the_time_of_minibatches_is_that_of_the_batch(engine, one_pass):
    dims = [9, 15, 1]
    full = budgets.train_estimate(dims, 500, 10, engine)
    assert full.seconds == pytest.approx(10 * one_pass(dims, 500), rel=1e-12)
    batches = budgets.train_estimate(dims, 500, 10, engine, batch_size=50)
    assert batches.seconds == pytest.approx(10 * one_pass(dims, 50), rel=1e-12)
    assert batches.seconds < full.seconds
    for at_least_all in (500, 5000):  # a batch of every row, or more, is the full batch
        assert budgets.train_estimate(dims, 500, 10, engine, batch_size=at_least_all) == full
    if engine == "scalar":  # one batch's graph is built at a time
        assert batches.memory == pytest.approx(full.memory - budgets.scalar_bytes(dims, 500)
                                               + budgets.scalar_bytes(dims, 50), rel=1e-12)


def test_the_time_budget_counts_the_refit_that_out_adds_to_cv(capsys):
    from pathlib import Path

    from microgrid.app.cli import UsageError
    from microgrid.app.commands.train import _check_budget
    from microgrid.app.runs.config import make_config

    config = make_config(engine="scalar", cv=3, iters=10)
    one = budgets.train_estimate([9, 15, 1], 683, 10, "scalar").seconds
    for out, runs in ((None, 3), (Path("run"), 4)):  # the folds, and with --out the refit on all rows
        for budget, allowed in ((runs * one * 1.01, True), (runs * one * 0.99, False)):
            args = argparse.Namespace(out=out, seeds=None, memory_budget=budgets.DEFAULT_MEMORY_BUDGET,
                                      time_budget=budget)
            if allowed:
                _check_budget(args, config, 683, 9)
            else:
                with pytest.raises(UsageError, match=rf"10 iterations {runs} times \(scalar engine\) would"):
                    _check_budget(args, config, 683, 9)
# -- pictures: microgrid graph -------------------------------------------------------------------


def wisconsin_graph(sizes: list[int]):
    """What ``graph --mlp SIZES --sample 0`` draws (inputs as the command labels them), and its MLP."""
    from microgrid.engine import Value
    from microgrid.functional import bce_with_logits

    mlp = MLP(sizes[0], sizes[1:], seed=0)
    x = [Value(0.1 * i, label=f"x{i}") for i in range(sizes[0])]
    return bce_with_logits(mlp.logits(x), 1), mlp, x


@pytest.mark.parametrize("sizes, group", [([9, 4, 1], None), ([9, 4, 1], "neurons"),
                                          ([9, 4, 3, 1], "collapse"), ([9, 6, 1], "collapse")])
def test_drawing_size_counts_what_is_drawn(sizes, group):
    from microgrid import viz
    from microgrid.viz.draw import Scene
    from microgrid.viz.steps import drawn_steps

    root, mlp, x = wisconsin_graph(sizes)
    size = viz.drawing_size(root, group=group, params=mlp, inputs=x)
    source = viz.draw_dot(root, group=group, params=mlp, inputs=x).source
    assert size.edges == source.count(" -> ")  # every edge dot lays out, the invisible ones included
    drawn = [line for line in source.splitlines() if re.match(r"\t+(?:v\d+|box\d+|params\d+)\S* \[", line)]
    assert size.nodes == len(drawn)
    scene = Scene(root, rankdir="LR", show_grad=True, color_by_grad=False, group=group, params=mlp, inputs=x,
                   max_nodes=600, legend=True, title=None)
    assert size.steps == len(drawn_steps(scene))
    assert size.views == (1 + sum(len(n.uses) for n in scene.neurons) if group == "collapse" else 1)


def test_the_drawing_estimate_counts_one_layout_per_drawing_and_a_painting_per_step():
    nodes, edges = 10, 20
    layout = 0.03 + 0.15e-3 * nodes + 0.2e-3 * edges + 0.3e-9 * edges**3
    svg = 800.0 * nodes + 700.0 * edges
    cases = ((True, 0, 0, 1, 1), (False, 1, 0, 1, 30), (True, 5, 0, 2, 30), (False, 0, 3, 3, 30),
             (False, 0, 0, 0, 0))
    for output, steps, views, drawings, copies in cases:
        estimate = budgets.drawing_estimate(nodes, edges, output, steps, views, "")
        assert estimate.seconds == pytest.approx(drawings * layout + steps * 10e-6 * edges, rel=1e-12)
        assert estimate.memory == pytest.approx(svg * copies, rel=1e-12)  # page: 10 a view; steps: 30


def test_the_default_drawing_budget_refuses_the_explorer_of_9_50_50_1_and_takes_9_30_30_1():
    from microgrid import viz

    for sizes, fits in (([9, 30, 30, 1], True), ([9, 50, 50, 1], False)):
        root, mlp, x = wisconsin_graph(sizes)
        size = viz.drawing_size(root, group="collapse", params=mlp, inputs=x)
        assert size.nodes < viz.DEFAULT_MAX_NODES  # the node limit alone lets both through: edges decide
        html = budgets.drawing_estimate(size.nodes, size.edges, False, 0, size.views, "")
        assert (html.seconds <= budgets.GRAPH_TIME_BUDGET) is fits
        steps = budgets.drawing_estimate(size.nodes, size.edges, False, size.steps, 0, "")
        assert steps.seconds <= budgets.GRAPH_TIME_BUDGET  # one drawing, painted for each step


def test_graph_beyond_the_drawing_budget_is_refused_before_drawing(tmp_path, monkeypatch, needs_renderer):
    monkeypatch.chdir(tmp_path)
    status, stdout, err = run_cli(["graph", "--mlp", "9,50,50,1", "--steps", "steps", "--html", "page.html"])
    assert status == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert ("drawing 103 step pictures (--steps) and 102 explorer views (--html) of 3,103 edges each would "
            "take about") in err  # a step each; the graph and each neuron expanded
    assert "more than the budget of 5 minutes" in err and "raise --time-budget" in err
    assert list(tmp_path.iterdir()) == []
    # one picture: no "each"
    status, stdout, err = run_cli(["graph", "--mlp", "9,200,200,1", "--group", "none",
                                   "--max-nodes", "100000", "-o", "g.svg"])
    assert status == 2 and "drawing 1 picture (-o) of 85,604 edges would take about" in err, err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv, smaller", [
    (["graph", "--mlp", "9,15,1", "-o", "g.svg", "--memory-budget", "1K"], ": use smaller layers, or raise"),
    (["check", "--hidden", "200,200", "--memory-budget", "1M"], ": use a smaller network or fewer --samples"),
    (["check", "--hidden", "200,200", "--time-budget", "1s"],
     "than the budget of 1 second: use a smaller network or fewer --samples, or raise --time-budget"),
    (["train", "--memory-budget", "1K"], ": use a smaller network or fewer rows, or raise --memory-budget"),
])
def test_an_over_budget_message_says_what_this_command_can_make_smaller(argv, smaller, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    one_line_error(*run_cli(argv), smaller)


@pytest.mark.parametrize("budget", ["--time-budget", "--memory-budget"])
def test_graph_drawing_budgets_on_both_sides_of_the_line(tmp_path, budget, needs_renderer):
    from microgrid import viz
    from microgrid.app.expr import evaluate

    root, _ = evaluate("tanh(a*b + c)", {"a": 2, "b": -3, "c": 10})
    size = viz.drawing_size(root)
    estimate = budgets.drawing_estimate(size.nodes, size.edges, True, size.steps, size.views, "")
    needed = estimate.seconds if budget == "--time-budget" else estimate.memory
    argv = ["graph", "--expr", "tanh(a*b + c)", "--set", "a=2", "--set", "b=-3", "--set", "c=10",
            "-o", str(tmp_path / "g.svg"), "--steps", str(tmp_path / "s"), "--html", str(tmp_path / "p.html")]
    status, out, err = run_cli([*argv, budget, repr(needed * 0.999)])
    assert status == 2 and len(err.strip().splitlines()) == 1 and f"raise {budget}" in err, err
    assert "1 picture (-o) and 4 step pictures (--steps) and 1 explorer view (--html) of 8 edges" in err
    assert list(tmp_path.iterdir()) == []
    assert run_cli([*argv, budget, repr(needed * 1.001)])[0] == 0
