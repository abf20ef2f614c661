"""A progress bar on stderr: cells done, the current cell, time spent and an estimate of time left.

On a terminal it redraws one line; elsewhere (CI logs) it prints one line per finished cell.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    def __init__(self, total: int, stream: TextIO | None = None, enabled: bool = True, width: int = 24):
        self.total, self.width, self.enabled = total, width, enabled
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.done = 0
        self.started = time.monotonic()
        self.cell_started = self.started
        self.label = ""
        self.durations: list[float] = []
        self._last_draw = 0.0

    def time_left(self) -> float | None:
        if not self.durations:
            return None
        remaining = self.total - self.done
        in_cell = time.monotonic() - self.cell_started
        mean = sum(self.durations) / len(self.durations)
        return max(0.0, remaining * mean - in_cell)

    def line(self) -> str:
        filled = self.width * self.done // max(1, self.total)
        bar = "#" * filled + "." * (self.width - filled)
        left = self.time_left()
        eta = f"~{_clock(left)} left" if left is not None else "estimating"
        elapsed = _clock(time.monotonic() - self.started)
        return f"[{bar}] {self.done}/{self.total} cells  {elapsed} elapsed, {eta}  {self.label}"

    def begin(self, label: str) -> None:
        self.label, self.cell_started = label, time.monotonic()
        self.draw(force=True)

    def tick(self) -> None:
        self.draw(force=False)

    def skip(self) -> None:
        """A cell that is not run (counted as done, no duration for the estimate)."""
        self.done += 1
        self.draw(force=True)

    def end(self, status: str) -> None:
        self.done += 1
        self.durations.append(time.monotonic() - self.cell_started)
        if self.enabled and not self.tty:
            self.stream.write(f"[{self.done}/{self.total}] {self.label}: {status}\n")
            self.stream.flush()
        self.draw(force=True)

    def draw(self, force: bool) -> None:
        if not (self.enabled and self.tty):
            return
        now = time.monotonic()
        if not force and now - self._last_draw < 0.5:
            return
        self._last_draw = now
        self.stream.write("\r\x1b[2K" + self.line())
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()
