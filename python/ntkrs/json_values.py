"""Turning NumPy values into JSON: the ``default=`` hook shared by every ``--json`` output and
the JSON files ``ntkrs reproduce`` writes."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def json_default(v: Any) -> Any:
    """``json.dump(..., default=json_default)``: arrays become lists, NumPy scalars Python
    scalars, non-finite floats ``null``; anything else raises ``TypeError`` as ``json`` expects."""
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, (np.floating, np.integer)):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, (int, float)):
        return v
    raise TypeError(f"not JSON serializable: {type(v).__name__}")
