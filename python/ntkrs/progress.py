"""Progress reporting for the command line: one line per stage on stderr, with timings."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Iterator


class Progress:
    """Prints ``[ntkrs] <stage> ... <seconds>`` lines to stderr (silent when ``quiet``)."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.start = time.perf_counter()

    @contextmanager
    def stage(self, what: str) -> Iterator[None]:
        t0 = time.perf_counter()
        if not self.quiet:
            sys.stderr.write(f"[ntkrs] {what} ...")
            sys.stderr.flush()
        try:
            yield
        except BaseException:
            if not self.quiet:
                sys.stderr.write(" failed\n")
            raise
        if not self.quiet:
            sys.stderr.write(f" {time.perf_counter() - t0:.2f} s\n")
            sys.stderr.flush()


def _hms(seconds: float) -> str:
    if not (seconds >= 0 and seconds < 1e8):
        return "?"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ProgressBar:
    """A throttled progress bar on stderr: ``[ntkrs] <what> |####    | done/total rows,
    rate rows/s, ETA``.

    On a terminal the line is redrawn in place at most every ``interval`` seconds (default
    0.1 s); otherwise (a pipe or a log file) one line is printed at most every
    ``log_interval`` seconds (default 2 s), plus the first and the final state. ``errors``
    (e.g. failed settings) are shown when non-zero. Silent when ``quiet``.
    """

    def __init__(self, total: int, what: str = "", *, quiet: bool = False, stream=None,
                 interval: float = 0.1, log_interval: float = 2.0, unit: str = "rows",
                 initial: int = 0) -> None:
        self.total = max(int(total), 0)
        self.what = what
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stderr
        self.unit = unit
        self.done = int(initial)
        self.errors = 0
        self._initial = int(initial)
        try:
            self.tty = bool(self.stream.isatty())
        except (AttributeError, ValueError):
            self.tty = False
        self.interval = interval if self.tty else log_interval
        self.start = time.perf_counter()
        self._last = -1e18
        self._closed = False
        self._width = 0
        self._drawn: tuple[int, int] | None = None
        self._render(force=True)

    def line(self) -> str:
        """The current progress line (without line ending)."""
        elapsed = time.perf_counter() - self.start
        new = self.done - self._initial
        rate = new / elapsed if elapsed > 0 else 0.0
        left = self.total - self.done
        eta = left / rate if rate > 0 else float("nan")
        frac = self.done / self.total if self.total else 1.0
        bar_w = 24
        filled = int(round(frac * bar_w))
        parts = [f"[ntkrs] {self.what}".rstrip(), f"|{'#' * filled}{' ' * (bar_w - filled)}|",
                 f"{self.done}/{self.total} {self.unit}", f"{100 * frac:5.1f}%",
                 f"{rate:.1f} {self.unit}/s", f"elapsed {_hms(elapsed)}"]
        if left > 0:
            parts.append(f"ETA {_hms(eta)}")
        if self.errors:
            parts.append(f"{self.errors} failed")
        return " ".join(parts)

    def _render(self, force: bool = False) -> None:
        if self.quiet or self._closed:
            return
        now = time.perf_counter()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        self._drawn = (self.done, self.errors)
        text = self.line()
        try:
            if self.tty:
                pad = max(self._width - len(text), 0)
                self.stream.write("\r" + text + " " * pad)
                self._width = len(text)
            else:
                self.stream.write(text + "\n")
            self.stream.flush()
        except (OSError, ValueError):
            pass

    def update(self, n: int = 1, *, errors: int = 0) -> None:
        """Count ``n`` more finished items (``errors`` of them failed) and redraw if due."""
        self.done += int(n)
        self.errors += int(errors)
        self._render(force=self.done >= self.total)

    def close(self) -> None:
        """Draw the final state and end the line."""
        if self._closed:
            return
        self._render(force=self._drawn != (self.done, self.errors))
        self._closed = True
        if not self.quiet and self.tty:
            try:
                self.stream.write("\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
