"""Shared pieces of the benchmarks: the Wisconsin rows, timing, and table printing."""

from __future__ import annotations

import gc
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from microgrid.data import load_wisconsin


def wisconsin_rows(n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The complete rows (683), features min-max scaled to [0, 1] as ``(x - 1) / 9``."""
    data = load_wisconsin()
    X = (data.X - 1.0) / 9.0
    y = data.y.astype(np.float64)
    return (X, y) if n is None else (X[:n], y[:n])


def init_weights(dims: Sequence[int], seed: int = 0) -> list[np.ndarray]:
    """``[W1 (n1, n0), b1, W2, b2, ...]`` drawn as N(0, 1)/sqrt(fan_in), small random biases."""
    rng = np.random.default_rng(seed)
    ws: list[np.ndarray] = []
    for fan_in, fan_out in zip(dims[:-1], dims[1:]):
        ws.append(rng.standard_normal((fan_out, fan_in)) / np.sqrt(fan_in))
        ws.append(0.1 * rng.standard_normal(fan_out))
    return ws


@dataclass
class Timing:
    """Seconds per call over several repeats."""

    runs: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    def show(self, unit: str = "s") -> str:
        scale = {"s": 1.0, "ms": 1e3, "us": 1e6}[unit]
        return (f"{self.median * scale:9.3f} {unit} (min {min(self.runs) * scale:.3f}, "
                f"max {max(self.runs) * scale:.3f})")


def measure(fn: Callable[[], object], repeats: int, per: int = 1, collect: bool = True) -> Timing:
    """Time ``fn`` ``repeats`` times (seconds per call, divided by ``per``).

    Garbage from the previous run is collected before each timed call, outside the timing.
    """
    runs = []
    for _ in range(repeats):
        if collect:
            gc.collect()
        t0 = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t0) / per)
    return Timing(runs)


def machine() -> str:
    import os

    return (f"{platform.python_implementation()} {platform.python_version()}, NumPy {np.__version__}, "
            f"{os.cpu_count()} CPUs, {platform.machine()}, {time.strftime('%Y-%m-%d')}")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (readable as plain text too)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    fmt = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([fmt(cells[0]), sep, *(fmt(r) for r in cells[1:])])


def max_rel_diff(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> float:
    """Largest ``max|a - b| / max(|a|, |b|)`` over matching arrays (relative to each tensor's scale)."""
    worst = 0.0
    for x, y in zip(a, b):
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        scale = max(float(np.max(np.abs(x), initial=0.0)), float(np.max(np.abs(y), initial=0.0)), 1e-300)
        worst = max(worst, float(np.max(np.abs(x - y), initial=0.0)) / scale)
    return worst


def interleaved(candidates: dict[str, Callable[[], object]], rounds: int, per: int = 1,
                collect: bool = True, log: Callable[[str], object] | None = None,
                repeat: dict[str, int] | None = None) -> dict[str, Timing]:
    """Time every candidate once per round, ``rounds`` times, in an order rotated each round.

    On a shared machine the load changes from second to second; interleaving puts each
    candidate's runs next to the others', so per-round ratios (:func:`ratios`) cancel most of
    the drift.  Seconds per call, divided by ``per``.  ``repeat[name] = n`` calls that candidate
    ``n`` times back to back in each round and takes the mean: a candidate much faster than the
    others then spans about as much of the round's load as they do, not one short moment of it.
    """
    names = list(candidates)
    runs: dict[str, list[float]] = {name: [] for name in names}
    repeat = repeat or {}
    for r in range(rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            if collect:
                gc.collect()
            n = repeat.get(name, 1)
            t0 = time.perf_counter()
            for _ in range(n):
                candidates[name]()
            runs[name].append((time.perf_counter() - t0) / (per * n))
        if log is not None:
            log(f"  round {r + 1}/{rounds} done")
    return {name: Timing(runs[name]) for name in names}


def ratios(a: Timing, b: Timing) -> str:
    """``a / b`` per round: median (min–max), e.g. ``1.12x (1.05-1.20)``."""
    rs = [x / y for x, y in zip(a.runs, b.runs)]
    return f"{statistics.median(rs):.2f}x ({min(rs):.2f}-{max(rs):.2f})"


def ratio(a: Timing, b: Timing) -> float:
    """The median per-round ratio ``a / b``."""
    return statistics.median(x / y for x, y in zip(a.runs, b.runs))
