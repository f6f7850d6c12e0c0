"""The paper's coefficient algorithm written plainly in NumPy (the baseline a user would write).

Murray, Jin, Bowman & Montúfar (ICLR 2023), Theorem 3.1: every layer's kernel is a power
series in ρ; the next layer's NNGP series is obtained by summing ``μ_k² a_l(ρ)^k`` for
``k = 0..T`` with the powers formed by repeated truncated polynomial multiplication — ``O(T³)``
per layer. The Hermite sum is cut at ``k = T``, which is exact only while ``a_l`` has no
constant term (depth 1 without biases); deeper layers lose the upper coefficients.
"""

from __future__ import annotations

import numpy as np


def truncated_mul(a: np.ndarray, b: np.ndarray, T: int) -> np.ndarray:
    return np.convolve(a, b)[: T + 1]


def compose_truncated(weights: np.ndarray, a: np.ndarray, T: int) -> np.ndarray:
    """Σ_k weights[k] a(ρ)^k (k = 0 … len(weights) − 1), truncated at degree T, powers by
    repeated products."""
    out = np.zeros(T + 1)
    power = np.zeros(T + 1)
    power[0] = 1.0
    for k in range(len(weights)):
        out += weights[k] * power
        power = truncated_mul(power, a, T)
    return out


def paper_coefficients(mu: np.ndarray, depth: int, T: int, weight_var: float, bias_var: float = 0.0,
                       input_weight_var: float = 1.0, input_bias_var: float = 0.0,
                       cut: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(NTK coefficients, NNGP coefficients) to degree T, unit-variance initialization assumed
    (so ``a_l(1) = 1`` and no rescaling between layers). The Hermite sums are cut at
    ``k = cut`` (default ``T``, the paper's choice); ``mu`` needs ``cut + 2`` entries."""
    K = T if cut is None else cut
    mu = np.asarray(mu, dtype=np.float64)
    if mu.size < K + 2:
        raise ValueError(f"need {K + 2} Hermite coefficients, got {mu.size}")
    k = np.arange(K + 1)
    psi = mu[: K + 1] ** 2
    psi_dot = (k + 1) * mu[1 : K + 2] ** 2
    a = np.zeros(T + 1)
    a[0], a[1] = input_bias_var, input_weight_var
    theta = a.copy()
    for _ in range(depth):
        a_next = weight_var * compose_truncated(psi, a, T)
        a_next[0] += bias_var
        a_dot = weight_var * compose_truncated(psi_dot, a, T)
        theta = a_next + truncated_mul(theta, a_dot, T)
        a = a_next
    return theta, a
