"""The progress display of a training run: a redrawn bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import math
import sys
import time
from typing import TextIO

__all__ = ["Progress"]


def format_rate(rate: float) -> str:
    """Iterations per second as people read them: ``25,800 it/s``, ``3.4 it/s``, ``0.021 it/s``."""
    return f"{rate:,.0f} it/s" if rate >= 10 else f"{rate:.2g} it/s"


def _clock(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class Progress:
    """Shows training progress: a redrawn bar on a terminal, a few plain lines otherwise.

    Call :meth:`update` with the number of iterations done and the latest loss (cheap enough to
    call every iteration: it only draws every ``interval`` seconds on a terminal, or at each
    ``1/lines`` of the run otherwise).  ``enabled=False`` shows nothing.
    """

    def __init__(self, total: int, stream: TextIO | None = None, label: str = "", enabled: bool = True,
                 lines: int = 10, interval: float = 0.1, tty: bool | None = None) -> None:
        self.total = max(int(total), 1)
        self.stream = sys.stderr if stream is None else stream
        self.label = f"{label}  " if label else ""
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)()) if tty is None else tty
        self.interval = interval
        self._marks = sorted({math.ceil(self.total * k / lines) for k in range(1, lines + 1)})
        self._next_mark = 0
        self._start = time.perf_counter()
        self._last_draw = self._start  # first draw after one interval, when the rate means something
        self._done = 0
        self._loss = math.nan
        self._width = 0

    def __enter__(self) -> Progress:
        self._start = self._last_draw = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, done: int, loss: float) -> None:
        """Record ``done`` iterations and the latest ``loss``; draw if it is time to."""
        self._done, self._loss = done, loss
        if not self.enabled:
            return
        if self.tty:
            now = time.perf_counter()
            if now - self._last_draw >= self.interval or done >= self.total:
                self._last_draw = now
                self._draw_bar(now)
        elif self._next_mark < len(self._marks) and done >= self._marks[self._next_mark]:
            while self._next_mark < len(self._marks) and done >= self._marks[self._next_mark]:
                self._next_mark += 1
            self.stream.write(self._status(time.perf_counter()) + "\n")
            self.stream.flush()

    def _status(self, now: float) -> str:
        elapsed = now - self._start
        rate = self._done / elapsed if elapsed > 0 else math.inf
        left = (self.total - self._done) / rate if rate > 0 else math.inf
        timing = f"{format_rate(rate)}, {_clock(left)} left" if self._done < self.total else \
            f"{format_rate(rate)}, {_clock(elapsed)} total"
        width = len(f"{self.total:,}")
        done = f"{self._done:>{width},}/{self.total:,}"
        return f"{self.label}iteration {done}  loss {self._loss:.6f}  ({timing})"

    def _draw_bar(self, now: float) -> None:
        filled = int(24 * self._done / self.total)
        elapsed = now - self._start
        rate = self._done / elapsed if elapsed > 0 else 0.0
        left = (self.total - self._done) / rate if rate > 0 else math.inf
        text = (f"{self.label}[{'#' * filled}{'.' * (24 - filled)}] {self._done:,}/{self.total:,}  "
                f"loss {self._loss:.5f}  {format_rate(rate)}  {_clock(left)} left")
        pad = " " * max(self._width - len(text), 0)
        self._width = len(text)
        self.stream.write("\r" + text + pad)
        self.stream.flush()

    def close(self) -> None:
        """Finish the display (the bar gets its final state and a newline)."""
        if not self.enabled:
            return
        if self.tty:
            if self._width:
                self._draw_bar(time.perf_counter())
                self.stream.write("\n")
                self.stream.flush()
                self._width = 0
        elif self._done and (self._next_mark < len(self._marks) or not self._marks):
            self.stream.write(self._status(time.perf_counter()) + "\n")  # stopped early, or no marks
            self._next_mark = len(self._marks)
            self.stream.flush()
