"""Shared pytest configuration for the ntkrs suite."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The tests exercise the *installed* package (built by `pip install .`), never python/ntkrs
# directly: that directory has no compiled _core extension.
if str(ROOT / "python") in sys.path:
    sys.path.remove(str(ROOT / "python"))

os.environ.setdefault("RAYON_NUM_THREADS", "2")
