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
