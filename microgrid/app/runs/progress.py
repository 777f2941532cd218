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

    Call :meth:`update` with the number of iterations done and the training loss after them
    (cheap enough to call every iteration: it draws every ``interval`` seconds on a terminal, or
    at each ``1/lines`` of the run otherwise).  ``enabled=False`` shows nothing.
    """

    def __init__(self, total: int, stream: TextIO | None = None, label: str = "", enabled: bool = True,
                 lines: int = 10, interval: float = 0.1, tty: bool | None = None) -> None:
        self.total = max(int(total), 1)
        self.stream = sys.stderr if stream is None else stream
        self.label = f"{label}  " if label else ""
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)()) if tty is None else tty
        self.interval = interval
        self._marks = sorted({math.ceil(self.total * k / lines) for k in range(1, lines + 1)}, reverse=True)
        self._start = self._last_draw = time.perf_counter()  # first bar after one interval
        self._done, self._loss, self._width = 0, math.nan, 0

    def __enter__(self) -> Progress:
        self._start = self._last_draw = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, done: int, loss: float) -> None:
        """Record ``done`` iterations and the ``loss`` after them; draw if it is time to."""
        self._done, self._loss = done, loss
        if not self.enabled:
            return
        if self.tty:
            now = time.perf_counter()
            if now - self._last_draw >= self.interval or done >= self.total:
                self._last_draw = now
                self._draw_bar()
        elif self._marks and done >= self._marks[-1]:
            while self._marks and done >= self._marks[-1]:
                self._marks.pop()
            self._write_line()

    def _timing(self) -> tuple[float, float, float]:
        """(iterations per second, seconds elapsed, seconds left)."""
        elapsed = time.perf_counter() - self._start
        rate = self._done / elapsed if elapsed > 0 else math.inf
        return rate, elapsed, (self.total - self._done) / rate if rate > 0 else math.inf

    def _write_line(self) -> None:
        rate, elapsed, left = self._timing()
        timing = f"{_clock(left)} left" if self._done < self.total else f"{_clock(elapsed)} total"
        done = f"{self._done:>{len(f'{self.total:,}')},}/{self.total:,}"
        line = f"{self.label}iteration {done}  loss {self._loss:.6g}  ({format_rate(rate)}, {timing})"
        self.stream.write(line + "\n")
        self.stream.flush()

    def _draw_bar(self) -> None:
        rate, _, left = self._timing()
        filled = int(24 * self._done / self.total)
        text = (f"{self.label}[{'#' * filled}{'.' * (24 - filled)}] {self._done:,}/{self.total:,}  "
                f"loss {self._loss:.6g}  {format_rate(rate)}  {_clock(left)} left")
        self.stream.write("\r" + text + " " * max(self._width - len(text), 0))
        self.stream.flush()
        self._width = len(text)

    def close(self) -> None:
        """Finish the display: the bar's final state and a newline, or the line of a run stopped
        between two marks."""
        if not self.enabled:
            return
        if self.tty and self._width:
            self._draw_bar()
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0
        elif not self.tty and self._done and self._marks:
            self._marks = []
            self._write_line()
