"""Scalar engine benchmark: one full-batch forward + backward of a 9-15-1 MLP on Value graphs.

Workload: the 683 complete Wisconsin rows, ReLU hidden layer, linear output,
mean squared error; the same weights in every engine.  Compared with micrograd 0.1.0 (if
installed) as shipped (cyclic garbage collector on) and with its collector switched off.
Before any time is reported, every engine's loss and gradients are checked against microgrid's.

    python benchmarks/bench_scalar.py            # the main table
    python benchmarks/bench_scalar.py --quick    # the same, fewer rounds (under 30 s)
    python benchmarks/bench_scalar.py --scaling  # plus time/memory vs batch size and architecture
"""

from __future__ import annotations

import argparse
import gc
import sys
import tracemalloc
from collections.abc import Callable, Sequence

import numpy as np

from microgrid.engine import topological_order, vsum
from microgrid.nn import MLP

from common import (
    Timing,
    init_weights,
    interleaved,
    machine,
    max_rel_diff,
    measure,
    ratio,
    ratios,
    table,
    wisconsin_rows,
)


def microgrid_step(dims: Sequence[int], weights: list[np.ndarray], X: np.ndarray, y: np.ndarray):
    """Returns ``run() -> (loss, grads, root)`` doing forward + backward with microgrid."""
    acts = ["relu"] * (len(dims) - 2) + ["linear"]
    mlp = MLP(dims[0], list(dims[1:]), activations=acts, seed=0)
    mlp.set_weights(weights)
    rows = X.tolist()
    targets = y.tolist()

    def run():
        mlp.zero_grad()
        loss = vsum([(mlp(x) - t) ** 2 for x, t in zip(rows, targets)]) / len(rows)
        loss.backward()
        grads = [np.array([[p.grad for p in n.w] for n in layer.neurons]) for layer in mlp.layers]
        biases = [np.array([n.b.grad for n in layer.neurons]) for layer in mlp.layers]
        return loss.data, [g for pair in zip(grads, biases) for g in pair], loss

    return run


def micrograd_step(dims: Sequence[int], weights: list[np.ndarray], X: np.ndarray, y: np.ndarray):
    """The same with micrograd 0.1.0 (its own MLP: ReLU neurons, linear last layer)."""
    from micrograd.nn import MLP as MgMLP

    mlp = MgMLP(dims[0], list(dims[1:]))
    for layer, W, b in zip(mlp.layers, weights[::2], weights[1::2]):
        for neuron, w_row, b_i in zip(layer.neurons, W, b):
            for p, v in zip(neuron.w, w_row):
                p.data = float(v)
            neuron.b.data = float(b_i)
    rows = X.tolist()
    targets = y.tolist()

    def run():
        mlp.zero_grad()
        loss = sum((mlp(x) - t) ** 2 for x, t in zip(rows, targets)) * (1.0 / len(rows))
        loss.backward()
        grads = []
        for layer in mlp.layers:
            grads.append(np.array([[p.grad for p in n.w] for n in layer.neurons]))
            grads.append(np.array([n.b.grad for n in layer.neurons]))
        return loss.data, grads, loss

    return run


def count_micrograd_nodes(root) -> int:
    seen = {id(root)}
    stack = [root]
    while stack:
        for p in stack.pop()._prev:
            if id(p) not in seen:
                seen.add(id(p))
                stack.append(p)
    return len(seen)


def graph_memory(run: Callable) -> float:
    """Bytes held by the graph after forward + backward (tracemalloc, graph kept alive).

    Measured with the cyclic collector off: it would free nothing (the whole graph is reachable
    from the result) and only makes micrograd's run many times slower under tracemalloc."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    result = with_gc(run, False)()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del result
    return after - before


def with_gc(run: Callable, gc_on: bool) -> Callable[[], object]:
    """``run`` with the cyclic garbage collector switched on or off for the call."""

    def call() -> object:
        was = gc.isenabled()
        (gc.enable if gc_on else gc.disable)()
        try:
            return run()
        finally:
            (gc.enable if was else gc.disable)()

    return call


def timed(run: Callable, repeats: int, gc_on: bool) -> Timing:
    return measure(with_gc(run, gc_on), repeats)


def log(message: str) -> None:
    print(message, flush=True)


def have_micrograd() -> bool:
    try:
        import micrograd.nn  # noqa: F401
    except ImportError:
        return False
    return True


def main_table(rounds: int) -> int:
    dims = [9, 15, 1]
    X, y = wisconsin_rows()
    weights = init_weights(dims, seed=0)
    ours = microgrid_step(dims, weights, X, y)
    loss, grads, root = ours()
    nodes = len(topological_order(root))
    del root
    log(f"# Scalar engine: forward + backward, {len(X)} rows, {'-'.join(map(str, dims))}, MSE")
    log(f"# {machine()}")
    log(f"# {rounds} rounds, engines interleaved; ratios are medians of per-round ratios (min-max)\n")
    candidates = {"microgrid (GC on)": with_gc(ours, True), "microgrid (GC off)": with_gc(ours, False)}
    mg = None
    if have_micrograd():
        mg = micrograd_step(dims, weights, X, y)
        mg_loss, mg_grads, mg_root = with_gc(mg, False)()  # (the same numbers, ten times sooner)
        mg_nodes = count_micrograd_nodes(mg_root)
        del mg_root
        loss_diff = abs(mg_loss - loss) / abs(loss)
        grad_diff = max_rel_diff(grads, mg_grads)
        log(f"check vs micrograd: loss rel diff {loss_diff:.1e}, max gradient rel diff {grad_diff:.1e}")
        if loss_diff > 1e-12 or grad_diff > 1e-10:
            log("MISMATCH: micrograd computed different numbers; not timing it")
            return 1
        candidates["micrograd 0.1.0 (GC on)"] = with_gc(mg, True)
        candidates["micrograd 0.1.0 (GC off)"] = with_gc(mg, False)
    else:
        log("micrograd: skipped (not installed: pip install micrograd==0.1.0)")
    log("measuring graph memory ...")
    ref_mem = graph_memory(ours)
    repeat = {}
    if mg is not None:
        # microgrid's run is about a tenth of micrograd's: timed that many times back to back
        # per round, each ratio compares the two over about the same stretch of the machine's load
        t_ours = measure(with_gc(ours, True), 1).median
        t_mg = measure(with_gc(mg, False), 1).median
        n = max(1, min(20, round(t_mg / t_ours)))
        repeat = {"microgrid (GC on)": n, "microgrid (GC off)": n}
        log(f"microgrid runs {n} times in a row per round (its mean is reported), about as long as "
            f"one micrograd run")
    log("timing ...")
    t = interleaved(candidates, rounds, log=log, repeat=repeat)
    ref = t["microgrid (GC on)"]
    rows = [["microgrid", ref.show(), t["microgrid (GC off)"].show(), f"{nodes:,}",
             f"{ref_mem / 1e6:.1f} MB ({ref_mem / nodes:.0f} B/node)"]]
    if mg is not None:
        mem = graph_memory(mg)
        on, off = t["micrograd 0.1.0 (GC on)"], t["micrograd 0.1.0 (GC off)"]
        rows.append(["micrograd 0.1.0", on.show(), off.show(), f"{mg_nodes:,}",
                     f"{mem / 1e6:.1f} MB ({mem / mg_nodes:.0f} B/node)"])
        log("")
        headers = ["engine", "time, GC on: median (min, max)", "time, GC off", "nodes", "graph memory"]
        log(table(headers, rows))
        log("")
        log(f"micrograd as shipped / microgrid: {ratios(on, ref)} [target >= 30x: "
            f"{'met' if ratio(on, ref) >= 30 else 'NOT met'}]")
        slowest = min(a / b for a, b in zip(off.runs, ref.runs))
        log(f"micrograd without its collector / microgrid (as shipped): {ratios(off, ref)} [target >= 5x in "
            f"every round: {'met' if slowest >= 5 else 'NOT met'}]")
        log(f"micrograd without its collector / microgrid without its collector: "
            f"{ratios(off, t['microgrid (GC off)'])}")
        log(f"memory: micrograd / microgrid {mem / ref_mem:.1f}x [target >= 10x: "
            f"{'met' if mem / ref_mem >= 10 else 'NOT met'}]")
    else:
        log(table(["engine", "time, GC on", "time, GC off", "nodes", "graph memory"], rows))
    return 0


def scaling(repeats: int) -> None:
    log("\n## Scaling with batch size (9-15-1, GC on)\n")
    rows = []
    mg = have_micrograd()
    for n in (1, 10, 100, 683):
        X, y = wisconsin_rows(n)
        weights = init_weights([9, 15, 1])
        ours = microgrid_step([9, 15, 1], weights, X, y)
        t = timed(ours, repeats, gc_on=True)
        mem = graph_memory(ours)
        row = [n, t.show("ms"), f"{mem / 1e6:.2f} MB"]
        if mg:
            other = micrograd_step([9, 15, 1], weights, X, y)
            t2 = timed(other, repeats, gc_on=True)
            mem2 = graph_memory(other)
            row += [t2.show("ms"), f"{mem2 / 1e6:.2f} MB", f"{t2.median / t.median:.1f}x"]
        rows.append(row)
    headers = ["rows", "microgrid", "microgrid memory"]
    if mg:
        headers += ["micrograd", "micrograd memory", "speed-up"]
    print(table(headers, rows))

    print("\n## Scaling with depth and width (683 rows, GC on)\n")
    X, y = wisconsin_rows()
    rows = []
    for dims in ([9, 15, 1], [9, 64, 1], [9, 16, 16, 1], [9, 32, 32, 1], [9, 32, 32, 32, 1]):
        weights = init_weights(dims)
        ours = microgrid_step(dims, weights, X, y)
        _, _, root = ours()
        nodes = len(topological_order(root))
        del root
        t = timed(ours, max(2, repeats // 2), gc_on=True)
        mem = graph_memory(ours)
        rows.append(["-".join(map(str, dims)), f"{nodes:,}", t.show("ms"), f"{mem / 1e6:.1f} MB",
                     f"{t.median / nodes * 1e9:.0f} ns"])
    print(table(["architecture", "nodes", "forward + backward", "graph memory", "time per node"], rows))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run: 2 rounds")
    parser.add_argument("--rounds", type=int, help="timed rounds (default 9; 2 with --quick)")
    parser.add_argument("--scaling", action="store_true", help="also print the scaling tables")
    args = parser.parse_args(argv)
    rounds = args.rounds or (2 if args.quick else 9)
    status = main_table(rounds)
    if args.scaling:
        scaling(rounds)
    return status


if __name__ == "__main__":
    sys.exit(main())
