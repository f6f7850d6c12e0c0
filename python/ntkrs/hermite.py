"""Hermite coefficients of activation functions."""

from __future__ import annotations

from typing import Any

import numpy as np

from .activation import Activation, HermiteResult
from .registry import get_activation

__all__ = ["hermite_coefficients", "hermite_coefficients_with_error"]


def hermite_coefficients(activation: str | Activation, degree: int, q: float = 1.0, **params: Any) -> np.ndarray:
    """Hermite coefficients ``μ_0 … μ_degree`` of ``φ(√q z)``.

    ``μ_k = E[φ(√q Z) h_k(Z)]`` with ``Z ~ N(0, 1)`` and ``h_k = He_k / √(k!)`` the orthonormal
    probabilists' Hermite polynomials, so ``E[φ(√q Z)²] = Σ_k μ_k²``. ``q`` is the variance of
    the pre-activation (``q = 1`` under the unit-variance initialization).

    Parameters
    ----------
    activation:
        A registered name (``"relu"``, ``"erf(scale=2)"``, …) or an :class:`Activation`.
    degree:
        Highest index ``K`` (``0 <= K <= 100000``).
    q:
        Positive scale. Activations given only as a coefficient list support ``q = 1`` only.
    **params:
        Activation parameters, e.g. ``slope=0.2`` for ``leaky_relu``.

    Returns
    -------
    numpy.ndarray of shape ``(degree + 1,)``, float64.

    Accuracy: closed forms to ~1e-15 absolute at any degree; smooth activations by Gauss–Hermite
    quadrature to ~1e-13; activations with kinks by piecewise Gauss–Legendre split at the kinks
    (exact when φ is piecewise linear). :func:`hermite_coefficients_with_error` returns the
    estimate.

    Raises
    ------
    UnknownActivationError
        (a ``KeyError``) for an unknown activation name.
    InvalidInputError, InputTypeError
        for an invalid ``degree``, ``q`` or activation parameter.
    UnsupportedError
        for ``q ≠ 1`` with an activation given only as a coefficient list.
    PluginError
        if a plugin's function raises or returns NaN/inf or a wrong shape.
    """
    return hermite_coefficients_with_error(activation, degree, q, **params).mu.copy()


def hermite_coefficients_with_error(
    activation: str | Activation, degree: int, q: float = 1.0, **params: Any
) -> HermiteResult:
    """Like :func:`hermite_coefficients`, returning a :class:`HermiteResult` with the
    coefficients (``.mu``), the estimated maximum absolute error (``.error``),
    ``E[φ(√q Z)²]`` (``.second_moment``) and an upper estimate of the left-out
    ``Σ_{k>degree} μ_k²`` (``.tail_mass``). Same parameters and exceptions."""
    return get_activation(activation, **params).hermite_with_error(degree, q)
