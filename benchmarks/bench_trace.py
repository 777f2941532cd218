"""Traced benchmark: the 9-15-1 BCE network on the 683 Wisconsin rows, three ways.

* the scalar engine (``MLP.loss`` then ``backward()``: a graph of every row),
* the traced program (``microgrid.trace``: the graph of one row, replayed over all rows),
* ``VectorizedMLP`` (the hand-derived NumPy backward pass).

Measured, each against its target: a traced forward + backward against the scalar
engine's (>= 300x faster); a traced training iteration (forward, backward, SGD step) against
``VectorizedMLP.fit``'s (<= 2x its time); tracing against one scalar forward pass (cheaper); the
memory of a replay against ``VectorizedMLP``'s workspace (<= 2x).  All start from the same
weights and are checked to compute the same numbers before anything is timed; the timed runs are
interleaved and the ratios taken per round (see common.py).

    python benchmarks/bench_trace.py            # the tables
    python benchmarks/bench_trace.py --quick    # the same, shorter
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc
from collections.abc import Callable, Sequence

import numpy as np

from microgrid.engine import Value
from microgrid.nn import MLP
from microgrid.trace import Program, trace
from microgrid.vectorized import VectorizedMLP

from common import init_weights, interleaved, machine, max_rel_diff, ratio, ratios, table, wisconsin_rows

LR = 0.07


def log(message: str) -> None:
    print(message, flush=True)


def bce_of_one_example(mlp: MLP) -> Callable[[list[Value], Value], Value]:
    """One example's BCE from the logit z, without a branch on the label: softplus((1 - 2y) z)."""
    return lambda x, y: ((1.0 - 2.0 * y) * mlp.logits(x)).softplus()


def traced(mlp: MLP, X: np.ndarray, y: np.ndarray) -> Program:
    return trace(bce_of_one_example(mlp), X[0], y[0], params=mlp.parameters())


def grads_of(program: Program, dims: Sequence[int], flat: np.ndarray) -> list[np.ndarray]:
    """The gradient vector (per neuron: weights then bias) as ``[dW1, db1, dW2, db2]``."""
    out, start = [], 0
    for n_in, n_out in zip(dims[:-1], dims[1:]):
        block = flat[start : start + n_out * (n_in + 1)].reshape(n_out, n_in + 1)
        out += [block[:, :-1], block[:, -1]]
        start += n_out * (n_in + 1)
    return out


def peak_memory(fn: Callable[[], object]) -> int:
    gc.collect()
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def main_tables(rounds: int, iters: int) -> int:
    X, y = wisconsin_rows()
    dims = [9, 15, 1]
    weights = init_weights(dims, seed=0)
    mlp = MLP(dims)
    mlp.set_weights(weights)
    net = VectorizedMLP(dims)
    net.set_weights(weights)
    program = traced(mlp, X, y)
    log(f"# The 9-15-1 BCE network on {len(X)} rows: scalar engine, traced program, VectorizedMLP")
    log(f"# {machine()}")
    log(f"# {program!r}\n")

    log("checking that the three compute the same numbers ...")
    mlp.zero_grad()
    graph = mlp.loss(X, y)
    graph.backward()
    scalar_loss, scalar_grads = graph.data, mlp.get_grads()
    traced_loss, flat = program.loss_and_grads(X, y)
    vector_loss, vector_grads = net.loss_and_grads(X, y)
    traced_grads = grads_of(program, dims, flat)
    log(f"  loss: traced vs scalar {abs(traced_loss - scalar_loss) / scalar_loss:.1e}, "
        f"vs VectorizedMLP {abs(traced_loss - vector_loss) / vector_loss:.1e}; gradients (relative to each "
        f"tensor's largest entry): vs scalar {max_rel_diff(traced_grads, scalar_grads):.1e}, "
        f"vs VectorizedMLP {max_rel_diff(traced_grads, vector_grads):.1e}")
    a, b = MLP(dims), VectorizedMLP(dims)
    a.set_weights(weights)
    b.set_weights(weights)
    h_traced = traced(a, X, y).fit(X, y, lr=LR, iters=200)
    h_vector = b.fit(X, y, lr=LR, iters=200)
    history_diff = float(np.max(np.abs(h_traced - h_vector) / h_vector))
    weights_diff = max_rel_diff(a.get_weights(), b.get_weights())
    log(f"  200 training iterations: loss history {history_diff:.1e}, final weights {weights_diff:.1e}")
    if max(max_rel_diff(traced_grads, scalar_grads), max_rel_diff(traced_grads, vector_grads),
           history_diff, weights_diff) > 1e-12:
        log("MISMATCH: the paths computed different numbers; not timing anything")
        return 1

    log("timing one forward + backward over every row ...")

    def scalar_pass() -> None:
        mlp.zero_grad()
        mlp.loss(X, y).backward()

    fast = max(1, 3000 // len(X) * 40)  # the fast paths run this many times per round, back to back
    passes = interleaved({"scalar engine": scalar_pass, "traced": lambda: program.loss_and_grads(X, y),
                          "VectorizedMLP": lambda: net.loss_and_grads(X, y)},
                         rounds, log=log, repeat={"traced": fast, "VectorizedMLP": fast})
    log("timing training iterations (forward, backward, SGD step) ...")
    fits = interleaved({"traced fit": lambda: program.fit(X, y, lr=LR, iters=iters),
                        "VectorizedMLP.fit": lambda: net.fit(X, y, lr=LR, iters=iters)},
                       rounds, per=iters, log=log)
    log("timing tracing against one scalar forward pass ...")
    tracing = interleaved({"trace": lambda: traced(mlp, X, y), "scalar forward": lambda: mlp.loss(X, y)},
                          rounds, log=log, repeat={"trace": 10})

    log("")
    log(table(["one forward + backward, 683 rows", "time: median (min, max)", "scalar engine's time / this"],
              [[name, t.show("us"), ratios(passes["scalar engine"], t)] for name, t in passes.items()]))
    log("")
    log(table(["one training iteration", "time per iteration: median (min, max)", "this / VectorizedMLP.fit"],
              [[name, t.show("us"), ratios(t, fits["VectorizedMLP.fit"])] for name, t in fits.items()]))
    log("")
    log(table(["building", "time: median (min, max)", "this / one scalar forward"],
              [[name, t.show("ms"), ratios(t, tracing["scalar forward"])] for name, t in tracing.items()]))

    fresh = traced(mlp, X, y)
    traced_peak = peak_memory(lambda: fresh.loss_and_grads(X, y))
    vector_peak = peak_memory(lambda: VectorizedMLP.from_scalar(mlp).loss_and_grads(X, y))
    ws = fresh._workspace(len(X))
    columns = f"V and G: {(ws.V.nbytes + ws.G.nbytes) / 1e3:.0f} kB, {ws.V.shape[1]} columns each"
    log("")
    log(table(["memory of one forward + backward (first call: workspace included)", "peak (tracemalloc)"],
              [["traced program", f"{traced_peak / 1e3:.0f} kB ({columns})"],
               ["VectorizedMLP.loss_and_grads", f"{vector_peak / 1e3:.0f} kB"]]))

    speedup = ratio(passes["scalar engine"], passes["traced"])
    slowdown = ratio(fits["traced fit"], fits["VectorizedMLP.fit"])
    cost = ratio(tracing["trace"], tracing["scalar forward"])
    memory = traced_peak / vector_peak
    log("")
    log(f"target: traced forward + backward >= 300x faster than the scalar engine's: {speedup:.0f}x "
        f"[{'met' if speedup >= 300 else 'NOT met'}]")
    log(f"target: traced training iteration <= 2x VectorizedMLP.fit's: {slowdown:.2f}x "
        f"[{'met' if slowdown <= 2 else 'NOT met'}]")
    log(f"target: tracing cheaper than one scalar forward pass: {cost:.3f}x "
        f"[{'met' if cost < 1 else 'NOT met'}]")
    log(f"target: replay memory <= 2x VectorizedMLP's: {memory:.2f}x [{'met' if memory <= 2 else 'NOT met'}]")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run")
    parser.add_argument("--rounds", type=int, help="timed rounds of each (default 9; 3 with --quick)")
    parser.add_argument("--iters", type=int,
                        help="training iterations per timed run (default 2000; 300 with --quick)")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    code = main_tables(args.rounds or (3 if args.quick else 9), args.iters or (300 if args.quick else 2000))
    log(f"\n(whole run: {time.perf_counter() - t0:.0f} s)")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
