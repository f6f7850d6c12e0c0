"""Independent references for the NTK/NNGP tests (nothing here calls ntkrs).

* Closed-form dual kernels E[φ(u)φ(v)], E[φ'(u)φ'(v)] for centred Gaussian (u, v) with
  variances q1, q2 and covariance c (arc-cosine kernels, erf, sin/cos/exp, Gaussian), written
  with numpy so that they also accept complex c (they are analytic in the unit disk).
* A 2-D Gauss–Hermite reference of the same expectations for any vectorised φ, φ'.
* The layer recursion of the NTK/NNGP at given ρ (real or complex).
* Power-series coefficients of an analytic function by the Cauchy integral on a circle of
  radius r < 1, evaluated with the FFT.
"""

from __future__ import annotations

import math

import numpy as np


def _acos(x):
    return np.arccos(x) if np.iscomplexobj(x) else np.arccos(np.clip(x, -1.0, 1.0))


def _sqrt(x):
    return np.sqrt(x) if np.iscomplexobj(x) else np.sqrt(np.maximum(x, 0.0))


def relu_dual(c, q1, q2):
    s = math.sqrt(q1 * q2)
    cos_t = c / s
    t = _acos(cos_t)
    psi = s / (2 * math.pi) * (_sqrt(1 - cos_t * cos_t) + (math.pi - t) * cos_t)
    dpsi = (math.pi - t) / (2 * math.pi)
    return psi, dpsi


def leaky_dual(alpha):
    def dual(c, q1, q2):
        rr, dd = relu_dual(c, q1, q2)
        psi = alpha**2 * c + 2 * alpha * (1 - alpha) * c / 2 + (1 - alpha) ** 2 * rr
        dpsi = alpha**2 + alpha * (1 - alpha) + (1 - alpha) ** 2 * dd
        return psi, dpsi

    return dual


def abs_dual(c, q1, q2):
    rr, dd = relu_dual(c, q1, q2)
    return 4 * rr - c, 4 * dd - 1  # E[sgn u sgn v] = 1 - 2θ/π = 4 (π-θ)/(2π) - 1


def erf_dual(a):
    def dual(c, q1, q2):
        d = math.sqrt((1 + 2 * a * a * q1) * (1 + 2 * a * a * q2))
        psi = 2 / math.pi * np.arcsin(2 * a * a * c / d)
        dpsi = 4 * a * a / math.pi / np.sqrt((1 + 2 * a * a * q1) * (1 + 2 * a * a * q2) - 4 * a**4 * c * c)
        return psi, dpsi

    return dual


def sin_dual(a):
    def dual(c, q1, q2):
        e = np.exp(-a * a * (q1 + q2) / 2)
        return e * np.sinh(a * a * c), a * a * e * np.cosh(a * a * c)

    return dual


def cos_dual(a):
    def dual(c, q1, q2):
        e = np.exp(-a * a * (q1 + q2) / 2)
        return e * np.cosh(a * a * c), a * a * e * np.sinh(a * a * c)

    return dual


def exp_dual(a):
    def dual(c, q1, q2):
        e = np.exp(a * a * (q1 + q2 + 2 * c) / 2)
        return e, a * a * e

    return dual


def gaussian_dual(c, q1, q2):
    # φ = exp(-x²/2): E[φ(u)φ(v)] = det(I + Σ)^{-1/2};  φ' = -x φ:
    # E[u v φ(u) φ(v)] = c / det^{3/2}
    det = (1 + q1) * (1 + q2) - c * c
    return det**-0.5, c * det**-1.5


def identity_dual(c, q1, q2):
    return c, 1.0 + 0.0 * c


CLOSED_DUALS = {
    "relu": relu_dual,
    "leaky_relu(slope=0.2)": leaky_dual(0.2),
    "abs": abs_dual,
    "erf(scale=1.5)": erf_dual(1.5),
    "erf": erf_dual(1.0),
    "sin(freq=0.8)": sin_dual(0.8),
    "cos(freq=1.2)": cos_dual(1.2),
    "exp(scale=0.5)": exp_dual(0.5),
    "gaussian": gaussian_dual,
    "identity": identity_dual,
}


def gauss_hermite_dual(phi, dphi, n: int = 160):
    """E[φ(u)φ(v)], E[φ'(u)φ'(v)] by tensor Gauss–Hermite with the Cholesky factor (real c)."""
    x, w = np.polynomial.hermite_e.hermegauss(n)
    w = w / w.sum()
    X, Y = np.meshgrid(x, x, indexing="ij")
    W = np.outer(w, w)

    def dual(c, q1, q2):
        a = math.sqrt(q1)
        r = c / a
        s = math.sqrt(max(q2 - r * r, 0.0))
        u = a * X
        v = r * X + s * Y
        return float(np.sum(W * phi(u) * phi(v))), float(np.sum(W * dphi(u) * dphi(v)))

    return dual


def recursion(dual, depth, rho, weight_var, bias_var, input_weight_var=1.0, input_bias_var=0.0, second_moment=None):
    """(NTK(ρ), NNGP(ρ)) by the layer recursion for unit-norm inputs. ``second_moment(q)``
    = E[φ(√q Z)²] (defaults to dual(q, q, q)[0])."""
    q = input_weight_var + input_bias_var
    s = input_weight_var * rho + input_bias_var
    theta = s
    for _ in range(depth):
        psi, dpsi = dual(s, q, q)
        m = dual(q, q, q)[0] if second_moment is None else second_moment(q)
        s = weight_var * psi + bias_var
        theta = s + theta * weight_var * dpsi
        q = weight_var * m + bias_var
    return theta, s


def cauchy_coefficients(f, degree: int, r: float = 0.995, n: int = 2**17) -> np.ndarray:
    """Taylor coefficients a_0..a_degree of f (analytic in |z| < 1) from n samples on |z| = r."""
    z = r * np.exp(2j * np.pi * np.arange(n) / n)
    vals = f(z)
    coeffs = np.fft.fft(vals) / n
    p = np.arange(degree + 1)
    return (coeffs[: degree + 1] / r**p).real


def polar_dual(phi, dphi, kinks=(0.0,), n_theta: int = 48, n_r: int = 24):
    """E[φ(u)φ(v)], E[φ'(u)φ'(v)] in polar coordinates of the standard normal plane, split at
    the angles where u or v crosses a kink of φ — so kinked activations (ELU) are integrated
    to near round-off as well (real c only).  Kinks other than 0 are not supported here."""
    assert tuple(kinks) == (0.0,)
    gx, gw = np.polynomial.legendre.leggauss(n_theta)
    rx, rw = np.polynomial.legendre.leggauss(n_r)
    r_edges = np.linspace(0.0, 12.0, 25)
    R = np.concatenate([(b - a) / 2 * rx + (a + b) / 2 for a, b in zip(r_edges[:-1], r_edges[1:])])
    WR = np.concatenate([(b - a) / 2 * rw for a, b in zip(r_edges[:-1], r_edges[1:])]) * R * np.exp(-R * R / 2)

    def dual(c, q1, q2):
        a = math.sqrt(q1)
        r = c / a
        s = math.sqrt(max(q2 - r * r, 0.0))
        cuts = {0.0, 2 * math.pi, math.pi / 2, 3 * math.pi / 2}
        t0 = math.atan2(-r, s) % math.pi
        cuts |= {t0, t0 + math.pi}
        cuts = sorted(cuts)
        edges = []
        for lo, hi in zip(cuts[:-1], cuts[1:]):
            m = max(1, int(math.ceil((hi - lo) / 0.4)))
            edges += list(np.linspace(lo, hi, m + 1)[:-1])
        edges.append(2 * math.pi)
        T = np.concatenate([(b - a_) / 2 * gx + (a_ + b) / 2 for a_, b in zip(edges[:-1], edges[1:])])
        WT = np.concatenate([(b - a_) / 2 * gw for a_, b in zip(edges[:-1], edges[1:])])
        X = np.outer(np.cos(T), R)
        Y = np.outer(np.sin(T), R)
        W = np.outer(WT, WR) / (2 * math.pi)
        u = a * X
        v = r * X + s * Y
        return float(np.sum(W * phi(u) * phi(v))), float(np.sum(W * dphi(u) * dphi(v)))

    return dual
