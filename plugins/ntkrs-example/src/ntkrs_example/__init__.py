"""An example ntkrs plugin — copy this package to add your own activations.

It provides two activations that ntkrs does not have built in:

* ``snake``: ``x + sin²(a x)/a`` (Liu Ziyin et al., 2020), smooth, with a parameter ``a``;
  ntkrs computes its Hermite coefficients by Gauss–Hermite quadrature in Rust, evaluating
  ``snake`` only at the nodes it chooses.
* ``twokink``: a piecewise-linear function with kinks at -1 and 1 (slopes 0.25, 1, 2); ntkrs
  detects that it is affine between the declared kinks and computes its coefficients exactly.

Registration goes through the ``ntkrs`` entry-point group (see ``pyproject.toml``), so simply
installing the package makes the activations appear in ``ntkrs activations``.
"""

from __future__ import annotations

import numpy as np

import ntkrs

__all__ = ["ntkrs_activations", "snake", "snake_prime", "twokink"]


def snake(x: np.ndarray, a: float = 1.0) -> np.ndarray:
    """``x + sin²(a x) / a``."""
    return x + np.sin(a * x) ** 2 / a


def snake_prime(x: np.ndarray, a: float = 1.0) -> np.ndarray:
    """``1 + sin(2 a x)``."""
    return 1.0 + np.sin(2.0 * a * x)


def twokink(x: np.ndarray) -> np.ndarray:
    """Continuous piecewise-linear: slope 0.25 on (-inf, -1], 1 on [-1, 1], 2 on [1, inf)."""
    return np.where(x < -1.0, -1.0 + 0.25 * (x + 1.0), np.where(x > 1.0, 1.0 + 2.0 * (x - 1.0), x))


@ntkrs.hookimpl
def ntkrs_activations() -> list[ntkrs.ActivationSpec]:
    return [
        ntkrs.ActivationSpec(
            name="snake",
            fn=snake,
            derivative=snake_prime,
            params={"a": 1.0},
            description="x + sin^2(a x)/a",
        ),
        ntkrs.ActivationSpec(
            name="twokink",
            fn=twokink,
            kinks=(-1.0, 1.0),
            description="piecewise linear, slopes 0.25 | 1 | 2, kinks at -1 and 1",
        ),
    ]
