"""Reproductions from Murray, Jin, Bowman & Montúfar, *Characterizing the spectrum of the NTK
via a power series expansion* (ICLR 2023).

Table 1 lists the percentage of ``Θ(1)`` captured by ``κ_0 … κ_j`` (``j = 0..5``) for a network
with one hidden layer, ``γ_w² = γ_b² = 1/2``, ``σ_w² = 1`` and ``σ_b² = 1 − E[φ(Z)²]`` (unit
variance). The published numbers come from a construction that expands the dual kernel ``ψ``
in ``ρ`` (instead of in ``γ_w² ρ + γ_b²``) and puts the first-layer bias only into the ``Θ_1``
factor; :func:`table1` computes both that construction and the exact expansion, so that the
difference is visible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .hermite import hermite_coefficients
from .network import Network
from .registry import get_activation

__all__ = ["TABLE1_ACTIVATIONS", "Table1Row", "table1", "PUBLISHED_TABLE1_RELU"]

TABLE1_ACTIVATIONS = ("relu", "tanh", "sigmoid", "gaussian_pdf")
#: The ReLU row as printed in the paper (percent of Θ(1), j = 0..5).
PUBLISHED_TABLE1_RELU = (52.277, 82.582, 93.192, 94.077, 95.403, 95.801)


@dataclass(frozen=True)
class Table1Row:
    """Cumulative percentages ``100 Σ_{p≤j} κ_p / Θ(1)`` for ``j = 0..j_max``: ``exact`` (the
    true expansion), ``published_construction`` (the construction behind the paper's numbers)
    and ``theta_at_one`` (the exact ``Θ(1)``)."""

    activation: str
    exact: np.ndarray
    published_construction: np.ndarray
    theta_at_one: float


def _paper_construction(activation: str, j_max: int, weight_var: float, bias_var: float,
                        input_weight_var: float, input_bias_var: float) -> tuple[np.ndarray, float]:
    """κ_0..κ_jmax as in the paper's code: Θ = a_2 + Θ_1 ȧ_2 with a_2(ρ) = σ_w² Σ μ_k² ρ^k + σ_b²,
    ȧ_2(ρ) = σ_w² Σ (k+1) μ_{k+1}² ρ^k, Θ_1 = γ_w² ρ + γ_b²."""
    K = j_max + 1
    mu = hermite_coefficients(activation, K)
    k = np.arange(K)
    a2 = weight_var * mu[:K] ** 2
    a2[0] += bias_var
    a2dot = weight_var * (k + 1) * mu[1 : K + 1] ** 2
    theta1 = np.zeros(K)
    theta1[0], theta1[1] = input_bias_var, input_weight_var
    kappa = a2 + np.convolve(theta1, a2dot)[:K]
    # Θ(1) of the same construction: ψ(1) = E[φ²], ψ'(1) = E[φ'²]
    act = get_activation(activation)
    theta_one = (weight_var * act.second_moment() + bias_var
                 + (input_weight_var + input_bias_var) * weight_var * act.derivative_second_moment())
    return kappa, theta_one


def table1(activations: tuple[str, ...] = TABLE1_ACTIVATIONS, j_max: int = 5) -> list[Table1Row]:
    """The paper's Table 1, exact and as published (see the module docstring).

    For each activation name (default ReLU, tanh, sigmoid, Gaussian pdf): a network with one
    hidden layer, ``γ_w² = γ_b² = 1/2``, ``σ_w² = 1``, ``σ_b² = 1 − E[φ(Z)²]`` (unit variance),
    and the cumulative percentages ``100 Σ_{p≤j} κ_p / Θ(1)`` for ``j = 0 … j_max``. Returns a
    list of :class:`Table1Row` (``exact``, ``published_construction``, ``theta_at_one``).
    Raises :class:`~ntkrs.InvalidInputError` for an activation with ``E[φ(Z)²] > 1`` (then
    ``σ_b²`` would be negative) and :class:`~ntkrs.UnknownActivationError` for an unknown
    name."""
    rows = []
    for name in activations:
        act = get_activation(name)
        w, b = 1.0, 1.0 - act.second_moment()
        net = Network(act, 1, weight_var=w, bias_var=b, input_weight_var=0.5, input_bias_var=0.5)
        s = net.series(j_max)
        exact = 100.0 * s.partial_sums()
        kappa, theta_one = _paper_construction(name, j_max, w, b, 0.5, 0.5)
        published = 100.0 * np.cumsum(kappa) / theta_one
        rows.append(Table1Row(act.label, exact, published, float(s.ntk_at_one)))
    return rows
