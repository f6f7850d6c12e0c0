"""The empirical NTK of one randomly initialized network of finite width."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _core
from .data import as_points
from .errors import InputTypeError, InvalidInputError
from .network import Network
from .registry import BUILTIN_PLUGIN

__all__ = ["empirical_ntk"]


def empirical_ntk(
    X: Any,
    activation: Any,
    depth: int,
    width: int,
    *,
    seed: int = 0,
    weight_var: float | None = None,
    bias_var: float | None = None,
    input_weight_var: float = 1.0,
    input_bias_var: float = 0.0,
    normalize: bool = False,
    return_nngp: bool = False,
) -> Any:
    """``Θ̂(x_i, x_j) = ⟨∂f(x_i)/∂θ, ∂f(x_j)/∂θ⟩`` for one random network of width ``width``.

    Same architecture and NTK parameterization as :class:`Network` (``depth`` hidden layers of
    ``width`` units, linear read-out, all parameters i.i.d. N(0, 1), the same variance
    defaults), with ``h¹ = γ_w W¹ x + γ_b b¹`` for unit-norm ``x``. Computed in Rust from forward
    activations and backward vectors (the Jacobian is never formed). As ``width → ∞`` it
    converges to ``Network(...).ntk(X)`` with fluctuations ``O(width^{-1/2})``.

    ``return_nngp=True`` also returns the read-out part ``(σ_w²/m) ⟨φ(h^L(x)), φ(h^L(y))⟩ + σ_b²``
    (an empirical NNGP). Deterministic for a given ``seed``.

    Parameters
    ----------
    X:
        ``(n, d)`` inputs of unit norm (``normalize=True`` projects them).
    activation, depth, weight_var, bias_var, input_weight_var, input_bias_var:
        As for :class:`Network` (``depth`` = number of hidden layers; unit variance by default).
    width:
        Number of units ``m ≥ 1`` of every hidden layer.
    seed:
        Integer in ``[0, 2⁶⁴)`` selecting the random parameters.

    Returns
    -------
    The ``(n, n)`` float64 empirical NTK, or ``(ntk, nngp)`` with ``return_nngp=True``.

    Raises
    ------
    InvalidInputError, InputTypeError, NonFiniteError
        for invalid data, ``width``, ``seed`` or network parameters (see :class:`Network`).
    UnsupportedError
        for an activation the Rust core cannot evaluate (a plugin's Python callable): every
        built-in activation is supported.
    """
    Xv = as_points(X, normalize=normalize)
    net = Network(
        activation, depth, weight_var=weight_var, bias_var=bias_var,
        input_weight_var=input_weight_var, input_bias_var=input_bias_var,
    )
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 1:
        raise InvalidInputError(f"width must be a positive integer, got {width!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise InputTypeError(f"seed must be a non-negative integer, got {seed!r}")
    if not 0 <= seed < 2**64:
        raise InvalidInputError(f"seed must be an integer in [0, 2**64), got {seed!r}")
    act = net.activation
    if act.closed_form:
        desc = ("closed", act.closed_form, dict(act.params))
    else:  # built-in quadrature activations have Rust point evaluators; plugin callables do not
        kind = "builtin" if act.source == BUILTIN_PLUGIN else "plugin"
        desc = (kind, act.name, dict(act.params))
    ntk, nngp, _ = _core.empirical_ntk(
        Xv, desc, net.depth, int(width), net.weight_var, net.bias_var,
        net.input_weight_var, net.input_bias_var, int(seed),
    )
    return (ntk, nngp) if return_nngp else ntk
