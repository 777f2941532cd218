"""Memory and time a command will need, estimated from the architecture and the row count before
anything is allocated, and refused beyond a budget.

For layer widths ``dims = [n_0, ..., n_L]``: ``W = sum(n_{i-1} n_i)`` weights, ``H = sum(n_1..n_L)``
neurons, ``P = W + H`` parameters.  The constants below are fits to ``tracemalloc`` peaks and
wall-clock times (CPython 3.11, NumPy 2), rounded up; a busy machine can be two or three times slower.

* **Scalar engine**: one row's graph holds ``n_0 + 2 H + 2`` Values (an input per feature, a dot
  node and an activation per neuron, the loss term) and ``2 W + 2 H`` edges.
* **NumPy engine**: a fit holds 6 float64 per parameter (weights, gradients, Adam's two moments,
  a copy) and 6 per row and neuron (pre-activations, activations, their gradients); an iteration
  does ``3 rows W`` multiply-adds (within 0.6 to 1.3 times the measured time from 9-15-1 on 50
  rows to 9-10000-10000-1 on 683).
* **Traced engine** (:meth:`~microgrid.nn.MLP.compile`): the NumPy workspace of the traced
  program, 7 float64 per row and neuron (each block's values and gradients, a column of ones after
  each, the rules' scratch and temporaries) and 3 per row and input, plus 500 bytes per parameter
  and 0.5 MB for the graph of one example and the plan; an iteration takes at most twice the NumPy
  engine's (measured: 1.2 to 1.6 times on 9-15-1).
* **Pictures**: Graphviz's ``dot`` lays out ``N`` nodes and ``E`` edges in
  ``a + b N + c E + d E³`` seconds (ordering the edges between two dense layers grows fastest:
  9-50-50-1, collapsed, has 3,105 edges and takes 9 s), within 0.8 to 1.2 times the measured time
  from 9-4-1 to 9-50-50-1; the step pictures are one drawing painted for each step; the explorer
  holds a view per neuron (9-30-30-1: 62 views in 29 s, 0.5 GB).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Estimate", "OverBudget", "DEFAULT_MEMORY_BUDGET", "DEFAULT_TIME_BUDGET",
           "VECTORIZED_NOTE_SECONDS", "check_estimate", "train_estimate", "predict_estimate",
           "graph_estimate", "drawing_estimate", "GRAPH_TIME_BUDGET", "enforce", "format_bytes",
           "format_seconds", "parse_bytes", "parse_seconds"]

DEFAULT_MEMORY_BUDGET = 12e9  #: bytes: half of a 24 GB machine, leaving the rest to everything else
DEFAULT_TIME_BUDGET = 4 * 3600.0  #: seconds a scalar-engine run may take (the full tutorial is ~1.5 h)
VECTORIZED_NOTE_SECONDS = 600.0  #: a NumPy run estimated longer than this says so before starting
GRAPH_TIME_BUDGET = 300.0  #: seconds ``microgrid graph`` may spend drawing

VALUE_BYTES = 270.0  # per graph node of the scalar engine, with its gradient
EDGE_BYTES = 17.0  # per parent pointer and local derivative
PARAM_VALUE_BYTES = 260.0  # per parameter Value (data, grad, label)
NODE_SECONDS = 0.8e-6  # a pass forward and backward, per node
EDGE_SECONDS = 0.3e-6  # and per edge
PARAM_SECONDS = 2e-6  # the optimizer step, per parameter
FLOAT_BYTES = 8
VEC_PARAM_FLOATS = 6
VEC_ROW_NEURON_FLOATS = 6
VEC_ITER_SECONDS = 5e-6  # per iteration: the Python calls of one forward + backward pass and a step
VEC_MULTIPLY_ADD_SECONDS = 0.02e-9  # per multiply-add of the three matrix products (3 x rows x W)
VEC_ROW_NEURON_SECONDS = 3e-9  # per row and neuron: the elementwise passes
VEC_PARAM_SECONDS = 17e-9  # per parameter: the optimizer update (and reading the weights)
TRACE_ROW_NEURON_FLOATS = 7
TRACE_ROW_INPUT_FLOATS = 3
TRACE_PARAM_BYTES = 500.0
TRACE_FIXED_BYTES = 0.5e6
TRACE_SECONDS_FACTOR = 2.0  # a traced iteration against the NumPy engine's
HISTORY_BYTES = 80.0  # per iteration of a training: its loss history and copies (15), its plot (57)
DOT_SECONDS = (0.03, 0.15e-3, 0.2e-3, 0.3e-9)  # a picture: once, per node, per edge, per cubed edge
SVG_BYTES = (800.0, 700.0)  # per node, per edge
PAINT_EDGE_SECONDS = 10e-6  # a step picture painted on the drawing, per edge
PAGE_COPIES, TREE_COPIES = 10, 30  # peaks: the explorer page and the painted drawing, in copies of SVG


class OverBudget(Exception):
    """The estimate exceeds the budget; the message gives both and the option that raises it."""


@dataclass(frozen=True)
class Estimate:
    """What a command needs: peak ``memory`` in bytes and ``seconds`` (None: not estimated)."""

    memory: float
    seconds: float | None
    what: str  # e.g. "training 9-15-1 on 500 rows (scalar engine)"
    smaller: str = ""  # how to need less, when not a smaller network, fewer rows or iterations


def _sizes(dims: Sequence[int]) -> tuple[int, int, int]:
    """(W, H, P) of a network with layer widths ``dims``."""
    w = sum(a * b for a, b in zip(dims[:-1], dims[1:]))
    h = sum(dims[1:])
    return w, h, w + h


def scalar_graph(dims: Sequence[int], rows: int) -> tuple[float, float]:
    """(nodes, edges) of the scalar graph of the mean loss over ``rows`` rows."""
    w, h, _ = _sizes(dims)
    return rows * (dims[0] + 2 * h + 2) + 1, rows * (2 * w + 2 * h) + rows


def scalar_bytes(dims: Sequence[int], rows: int) -> float:
    """Parameters and one graph over ``rows`` rows, as the scalar engine builds them."""
    nodes, edges = scalar_graph(dims, rows)
    return _sizes(dims)[2] * PARAM_VALUE_BYTES + nodes * VALUE_BYTES + edges * EDGE_BYTES


def scalar_seconds(dims: Sequence[int], rows: int) -> float:
    """One forward and backward pass and an optimizer step of the scalar engine over ``rows`` rows."""
    nodes, edges = scalar_graph(dims, rows)
    return nodes * NODE_SECONDS + edges * EDGE_SECONDS + _sizes(dims)[2] * PARAM_SECONDS


def vectorized_bytes(dims: Sequence[int], rows: int) -> float:
    """Peak of a NumPy fit (or forward pass) over ``rows`` rows."""
    _, h, p = _sizes(dims)
    return FLOAT_BYTES * (VEC_PARAM_FLOATS * p + VEC_ROW_NEURON_FLOATS * rows * h + rows * dims[0])


def vectorized_seconds(dims: Sequence[int], rows: int) -> float:
    """One NumPy training iteration over ``rows`` rows."""
    w, h, p = _sizes(dims)
    multiply_adds = 3 * rows * w  # Z = A W^T forward; dW = dZ^T A and dA = dZ W backward
    return (VEC_ITER_SECONDS + multiply_adds * VEC_MULTIPLY_ADD_SECONDS + rows * h * VEC_ROW_NEURON_SECONDS
            + p * VEC_PARAM_SECONDS)


def traced_bytes(dims: Sequence[int], rows: int) -> float:
    """Peak of a traced fit over ``rows`` rows (:meth:`~microgrid.nn.MLP.fit` with ``engine="traced"``)."""
    _, h, p = _sizes(dims)
    return (FLOAT_BYTES * (TRACE_ROW_NEURON_FLOATS * rows * h + TRACE_ROW_INPUT_FLOATS * rows * dims[0])
            + TRACE_PARAM_BYTES * p + TRACE_FIXED_BYTES)


def _arch(dims: Sequence[int]) -> str:
    return "-".join(str(d) for d in dims)


def check_estimate(dims: Sequence[int], rows: int) -> Estimate:
    """``microgrid check``: the scalar graph over ``rows`` rows, and the finite differences
    (two NumPy forward passes per parameter, each about a third of a training iteration)."""
    seconds = scalar_seconds(dims, rows) + 2 * _sizes(dims)[2] * vectorized_seconds(dims, rows) / 3
    memory = scalar_bytes(dims, rows) + vectorized_bytes(dims, rows)
    return Estimate(memory, seconds, f"checking {_arch(dims)} on {rows:,} rows",
                    "use a smaller network or fewer --samples")


def train_estimate(dims: Sequence[int], rows: int, iters: int, engine: str, runs: int = 1,
                   batch_size: int | None = None, together: int = 1) -> Estimate:
    """``microgrid train``: ``runs`` trainings (folds, and the refit; seeds) of ``iters`` iterations
    on ``rows`` training rows, in batches of ``batch_size`` (None: all rows), ``together`` of them
    at once (NumPy networks stacked in one pass)."""
    batch = rows if batch_size is None else min(batch_size, rows)
    what = f"training {_arch(dims)} on {rows:,} rows for {iters:,} iteration{'s' if iters != 1 else ''}"
    if runs > 1:
        what += f" {runs} times"
    histories = runs * iters * HISTORY_BYTES  # every training's history is kept to the end of the run
    if engine not in ("scalar", "traced"):  # the NumPy engine
        return Estimate(together * vectorized_bytes(dims, rows) + histories,
                        runs * iters * vectorized_seconds(dims, batch), what)
    scalar = engine == "scalar"
    graph = scalar_bytes(dims, batch) if scalar else traced_bytes(dims, batch)
    step = scalar_seconds(dims, batch) if scalar else TRACE_SECONDS_FACTOR * vectorized_seconds(dims, batch)
    return Estimate(graph + vectorized_bytes(dims, rows) + histories, runs * iters * step,
                    f"{what} ({engine} engine)")


def predict_estimate(dims: Sequence[int], rows: int) -> Estimate:
    """``microgrid predict``: one NumPy forward pass over ``rows`` rows."""
    return Estimate(vectorized_bytes(dims, rows), None, f"applying {_arch(dims)} to {rows:,} rows")


def graph_estimate(nodes: int, edges: int, what: str) -> Estimate:
    """``microgrid graph``: a graph of ``nodes`` Values and ``edges`` edges, and its drawing."""
    return Estimate(nodes * (VALUE_BYTES + PARAM_VALUE_BYTES) + edges * EDGE_BYTES,
                    (nodes + edges) * NODE_SECONDS, what, "use smaller layers")


def drawing_estimate(nodes: int, edges: int, output: bool, steps: int, views: int, what: str) -> Estimate:
    """``microgrid graph``: drawings of ``nodes`` nodes and ``edges`` edges: one with ``output``
    (-o), one painted for each of ``steps`` step pictures (--steps, 0 without), ``views`` held in one
    page (--html, 0 without)."""
    once, node, edge, cubed = DOT_SECONDS
    svg = SVG_BYTES[0] * nodes + SVG_BYTES[1] * edges
    drawings = output + (steps > 0) + views
    layout = once + node * nodes + edge * edges + cubed * edges**3
    seconds = drawings * layout + steps * PAINT_EDGE_SECONDS * edges
    memory = svg * (PAGE_COPIES * views + (TREE_COPIES if steps else output))
    return Estimate(memory, seconds, what, "draw a smaller network or fewer pictures")


def enforce(estimate: Estimate, memory_budget: float, time_budget: float | None) -> None:
    """:class:`OverBudget` beyond either budget (the time budget where given and estimated)."""
    if estimate.memory > memory_budget:
        smaller = estimate.smaller or "use a smaller network or fewer rows"
        raise OverBudget(f"{estimate.what} needs about {format_bytes(estimate.memory)} of memory, more than "
                         f"the budget of {format_bytes(memory_budget)}: {smaller}, or raise --memory-budget")
    if time_budget is not None and estimate.seconds is not None and estimate.seconds > time_budget:
        smaller = estimate.smaller or "use a smaller network, fewer rows or iterations"
        raise OverBudget(f"{estimate.what} would take about {format_seconds(estimate.seconds)}, more than "
                         f"the budget of {format_seconds(time_budget)}: {smaller}, or raise --time-budget")


def format_bytes(n: float) -> str:
    """``1.5e9`` -> ``"1.5 GB"`` (decimal units)."""
    return _scaled(n, (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)), _count(f"{n:.0f}", "bytes"))


def format_seconds(s: float) -> str:
    """``5400`` -> ``"1.5 hours"``."""
    return _scaled(s, (("years", 365 * 86400), ("days", 86400), ("hours", 3600), ("minutes", 60)),
                   _count(f"{s:.2g}", "seconds"))


def _scaled(x: float, units: tuple[tuple[str, float], ...], small: str) -> str:
    """``x`` in the largest unit it reaches (three significant digits, whole numbers from 1000),
    or ``small`` below the smallest unit."""
    for unit, size in units:
        if x >= size:
            return _count(f"{x / size:,.3g}" if x / size < 1000 else f"{x / size:,.0f}", unit)
    return small


def _count(number: str, unit: str) -> str:
    """``"1", "hours"`` -> ``"1 hour"``; ``"1.5", "hours"`` -> ``"1.5 hours"``."""
    return f"{number} {unit.removesuffix('s') if number == '1' else unit}"


_BYTE_UNITS = {"": 1, "b": 1, "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12,
               "tb": 1e12}
_SECOND_UNITS = {"": 1, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def _amount(text: str, units: Mapping[str, float]) -> float:
    body = text.strip().lower()
    number = body.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = body[len(number):].strip()
    if unit not in units or not number or "_" in number or not number.isascii():
        raise ValueError(text)
    value = float(number) * units[unit]
    if not math.isfinite(value) or value <= 0:
        raise ValueError(text)
    return value


def parse_bytes(text: str) -> float:
    """``"16G"``, ``"500MB"``, ``"2e9"`` -> bytes (decimal units); ValueError otherwise."""
    return _amount(text, _BYTE_UNITS)


def parse_seconds(text: str) -> float:
    """``"90"``, ``"30m"``, ``"2h"``, ``"1d"`` -> seconds; ValueError otherwise."""
    return _amount(text, _SECOND_UNITS)
