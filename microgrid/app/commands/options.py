"""Option types shared by the subcommands (``argparse.ArgumentTypeError`` saying what was expected:
argparse names the option and exits with status 2 in one line), the budget options, and reading
the files that options name."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from microgrid.app import budgets
from microgrid.app.cli import UsageError
from microgrid.app.runs.config import parse_hidden
from microgrid.safety.text import quote

T = TypeVar("T")


MAX_ITERS = 100_000_000  # the loss history alone is 8 bytes per iteration
MAX_WIDTH = 10_000  # neurons per layer


def _typed(kind: Callable[[str], T], expected: str,
           ok: Callable[[T], bool] = lambda v: True) -> Callable[[str], T]:
    """The option type of values ``kind(text)`` for which ``ok`` holds (``expected`` says which)."""
    def parse(text: str) -> T:
        try:
            if "_" in text or not text.isascii():  # int() and float() also take '1_0' and other digits
                raise ValueError(text)
            value = kind(text)
            if ok(value):
                return value
        except ValueError:
            pass
        raise argparse.ArgumentTypeError(f"expected {expected}, got {quote(text)}")

    return parse


positive_int = _typed(int, "a positive integer", lambda v: v >= 1)
iterations = _typed(int, f"a positive integer of at most {MAX_ITERS:,}", lambda v: 1 <= v <= MAX_ITERS)
seed = _typed(int, "a non-negative integer", lambda v: v >= 0)  # of numpy.random.default_rng
positive_float = _typed(float, "a positive number", lambda v: math.isfinite(v) and v > 0)
fraction = _typed(float, "a fraction strictly between 0 and 1", lambda v: 0.0 < v < 1.0)
# a finite-difference step: below 1e-12, rounding error is all it measures
step_size = _typed(float, "a step between 1e-12 and 1", lambda v: 1e-12 <= v <= 1.0)
folds = _typed(int, "at least 2 folds", lambda v: v >= 2)  # of a cross-validation


def path(text: str) -> Path:
    if not text.strip():  # it would mean the current directory
        raise argparse.ArgumentTypeError("expected a file or directory name, got an empty one")
    return Path(text)


MAX_SEEDS = 100  # networks trained together by --seeds (each holds its own buffers)


def seed_list(text: str) -> list[int]:
    """Distinct seeds as a range ``0-9`` (both ends included), a list ``0,3,7``, or both: ``0-4,9``."""
    expected = "seeds like 0-9 or 0,3,7 (non-negative integers, each once)"
    seeds: list[int] = []
    for part in text.split(","):
        low, dash, high = part.strip().partition("-")
        try:
            first = seed(low.strip())
            last = seed(high.strip()) if dash else first
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {quote(text)}") from None
        if last < first:
            raise argparse.ArgumentTypeError(f"expected a range from low to high (0-9), got {quote(text)}")
        if len(seeds) + (last - first + 1) > MAX_SEEDS:
            raise argparse.ArgumentTypeError(f"expected at most {MAX_SEEDS:,} seeds, got {quote(text)}")
        seeds += range(first, last + 1)
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {quote(text)}")
    return seeds


def widths(text: str, like: str = "15 or 16,8") -> tuple[int, ...]:
    sizes = _typed(parse_hidden, f"positive integers separated by commas, like {like}")(text)
    if max(sizes) > MAX_WIDTH:
        raise argparse.ArgumentTypeError(f"expected at most {MAX_WIDTH:,} neurons per layer, "
                                         f"got {quote(text)}")
    return sizes


def layer_sizes(text: str) -> tuple[int, ...]:
    """A whole architecture, inputs to outputs: ``"9,15,1"``."""
    sizes = widths(text, "9,15,1")
    if len(sizes) < 2:
        raise argparse.ArgumentTypeError(f"expected at least an input and an output size, like 9,15,1; "
                                         f"got {quote(text)}")
    return sizes


memory_budget = _typed(budgets.parse_bytes, "a positive amount of memory such as 16G or 500M")  # bytes
time_budget = _typed(budgets.parse_seconds, "a positive duration such as 90, 30m, 2h or 1d")  # seconds


def add_budget_options(p: argparse.ArgumentParser, timed: str | None,
                       seconds: float = budgets.DEFAULT_TIME_BUDGET) -> None:
    """``--memory-budget``, and ``--time-budget`` (default ``seconds``) for what ``timed`` names."""
    memory = budgets.DEFAULT_MEMORY_BUDGET
    p.add_argument("--memory-budget", type=memory_budget, default=memory, metavar="SIZE",
                   help="refuse, before starting, a run estimated to need more memory than SIZE (e.g. 16G, "
                        f"500M; default {budgets.format_bytes(memory)}, half of a 24 GB machine)")
    if timed:
        p.add_argument("--time-budget", type=time_budget, default=seconds, metavar="DURATION",
                       help=f"refuse, before starting, {timed} estimated to take longer than DURATION "
                            f"(e.g. 90, 30m, 2h, 1d; default {budgets.format_seconds(seconds)})")


def within_budget(estimate: budgets.Estimate, args: argparse.Namespace, timed: bool = True) -> None:
    """UsageError beyond ``args.memory_budget`` or, when ``timed``, ``args.time_budget`` (if any)."""
    try:
        budgets.enforce(estimate, args.memory_budget, getattr(args, "time_budget", None) if timed else None)
    except budgets.OverBudget as exc:
        raise UsageError(str(exc)) from None


def read_input(read: Callable[[], T], what: str, format_error: type[Exception]) -> T:
    """``read()``, its ``format_error`` and any ``OSError`` ("cannot read WHAT: reason") as UsageErrors."""
    try:
        return read()
    except format_error as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot read {what}: {exc.strerror or exc}") from None
