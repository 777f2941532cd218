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
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class Progress:
    """Training progress, shown while used as a context manager: on a terminal a bar redrawn every
    ``interval`` seconds, otherwise a line at each ``1/lines`` of the run (and where it stopped).
    :meth:`update` (iterations done, the loss after them) is cheap enough to call every iteration."""

    def __init__(self, total: int, stream: TextIO | None = None, label: str = "", enabled: bool = True,
                 lines: int = 10, interval: float = 0.1) -> None:
        self.total = max(int(total), 1)
        self.stream = sys.stderr if stream is None else stream
        self.label = f"{label}  " if label else ""
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval
        self._marks = sorted({math.ceil(self.total * k / lines) for k in range(1, lines + 1)}, reverse=True)
        self._done, self._loss, self._width = 0, math.nan, 0

    def __enter__(self) -> Progress:
        self._start = self._last_draw = time.perf_counter()  # the first bar after one interval
        return self

    def update(self, done: int, loss: float) -> None:
        self._done, self._loss = done, loss
        if not self.enabled:
            return
        if self.tty:
            now = time.perf_counter()
            if now - self._last_draw >= self.interval or done >= self.total:
                self._last_draw = now
                self._draw()
        elif self._marks and done >= self._marks[-1]:
            while self._marks and done >= self._marks[-1]:
                self._marks.pop()
            self._draw()

    def _draw(self) -> None:
        elapsed = time.perf_counter() - self._start
        rate = self._done / elapsed if elapsed > 0 else math.inf
        left = _clock((self.total - self._done) / rate) if rate > 0 else "?"
        if self.tty:
            filled = int(24 * self._done / self.total)
            text = (f"{self.label}[{'#' * filled}{'.' * (24 - filled)}] {self._done:,}/{self.total:,}  "
                    f"loss {self._loss:.6g}  {format_rate(rate)}  {left} left")
            self.stream.write("\r" + text + " " * max(self._width - len(text), 0))
            self._width = len(text)
        else:
            timing = f"{left} left" if self._done < self.total else f"{_clock(elapsed)} total"
            done = f"{self._done:>{len(f'{self.total:,}')},}/{self.total:,}"
            self.stream.write(f"{self.label}iteration {done}  loss {self._loss:.6g}  "
                              f"({format_rate(rate)}, {timing})\n")
        self.stream.flush()

    def __exit__(self, *exc: object) -> None:
        """The bar's final state and a newline, or the line of a run stopped between two marks."""
        if self.enabled and (self._width if self.tty else self._done and self._marks):
            self._marks = []
            self._draw()
            if self.tty:
                self.stream.write("\n")
                self.stream.flush()
