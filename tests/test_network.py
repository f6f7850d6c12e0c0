"""The NTK/NNGP power-series engine against independent references: closed-form recursions,
Cauchy-integral (FFT) coefficients of the exact kernel, 2-D Gauss–Hermite quadrature, mpmath."""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest

import ntkrs
from kernel_reference import (
    CLOSED_DUALS,
    cauchy_coefficients,
    polar_dual,
    recursion,
    relu_dual,
)

# (weight_var, bias_var, input_weight_var, input_bias_var); None = unit-variance default
INITS = {
    "default": dict(),
    "bias": dict(bias_var=0.1),
    "general": dict(weight_var=1.3, bias_var=0.2, input_weight_var=0.7, input_bias_var=0.4),
}


def net_and_reference(name, depth, init):
    net = ntkrs.Network(name, depth, **INITS[init])
    dual = CLOSED_DUALS[name]
    args = (net.weight_var, net.bias_var, net.input_weight_var, net.input_bias_var)
    return net, (lambda rho: recursion(dual, depth, rho, *args))


@pytest.mark.parametrize("depth", [1, 2, 5, 10])
def test_relu_default_theta_one_is_depth_plus_one(depth):
    net = ntkrs.Network("relu", depth)
    assert net.weight_var == 2.0 and net.bias_var == 0.0
    np.testing.assert_allclose(net.variances, np.ones(depth + 1), rtol=1e-15)
    assert net.ntk_at_one() == pytest.approx(depth + 1, rel=1e-14)
    s = net.series(300)
    assert s.ntk_at_one == pytest.approx(depth + 1, rel=1e-14)
    assert np.all(s.ntk >= 0) and np.all(s.nngp >= 0)
    assert s.truncation_bound >= 0
    # the bound is the deficit Θ(1) − Σκ_p plus a small round-off allowance
    deficit = (depth + 1) - s.ntk.sum()
    assert deficit - 1e-13 <= s.truncation_bound <= deficit + 1e-10 * (depth + 1)


@pytest.mark.parametrize("name", sorted(CLOSED_DUALS))
@pytest.mark.parametrize("init", sorted(INITS))
@pytest.mark.parametrize("depth", [1, 3, 10])
def test_coefficients_against_cauchy_integral_of_exact_kernel(name, init, depth):
    if name == "exp(scale=0.5)" and init == "general" and depth == 10:
        pytest.skip("variance grows like a tower of exponentials")
    net, ref = net_and_reference(name, depth, init)
    P = 200
    s = net.series(P)
    theta1 = s.ntk_at_one
    kappa = cauchy_coefficients(lambda z: ref(z)[0], P)
    nu = cauchy_coefficients(lambda z: ref(z)[1], P)
    # the Cauchy reference itself is accurate to ~1e-16·Θ(1)·r^-p
    floor = 1e-14 * theta1 * 0.995 ** -np.arange(P + 1)
    for got, want, what in ((s.ntk, kappa, "ntk"), (s.nngp, nu, "nngp")):
        err = np.abs(got - want)
        ok = err <= np.maximum(1e-10 * np.abs(want), floor)
        assert ok.all(), f"{what}: worst p={np.argmax(err / np.maximum(np.abs(want), 1e-300))}, err={err[~ok][:3]}, want={want[~ok][:3]}"
    # nothing was lost: the certificate covers the difference to the exact diagonal
    assert s.ntk.sum() <= theta1 * (1 + 1e-13)
    assert abs(theta1 - ref(1.0)[0]) <= 1e-12 * theta1


@pytest.mark.parametrize("name", sorted(CLOSED_DUALS))
@pytest.mark.parametrize("init", sorted(INITS))
def test_exact_kernel_against_closed_form_recursion(name, init):
    depth = 4
    net, ref = net_and_reference(name, depth, init)
    # (the numpy reference loses digits within ~1e-6 of ρ = ±1; those points are checked
    # against mpmath in test_exact_kernel_near_the_diagonal_mpmath)
    rho = np.concatenate([np.linspace(-1, 1, 41), [1 - 1e-4, -1 + 1e-4, 0.3]])
    got_t = net.ntk_at(rho)
    got_s = net.nngp_at(rho)
    want = np.array([ref(r) for r in rho])
    theta1 = net.ntk_at_one()
    np.testing.assert_allclose(got_t, want[:, 0], rtol=0, atol=1e-12 * theta1)
    np.testing.assert_allclose(got_s, want[:, 1], rtol=0, atol=1e-12 * net.nngp_at_one())
    assert got_t[20] == pytest.approx(ref(0.0)[0], abs=1e-14 * theta1)
    assert net.ntk_at(1.0) == theta1  # exactly, on the diagonal


@pytest.mark.parametrize("bias_var", [0.0, 0.3])
def test_exact_kernel_near_the_diagonal_mpmath(bias_var):
    """Near ρ = ±1 (duplicates and antipodes) the exact path keeps full relative accuracy."""
    mp.mp.dps = 50
    depth = 4
    net = ntkrs.Network("relu", depth, bias_var=bias_var)
    w, b = net.weight_var, net.bias_var

    def ntk(rho):
        s, t, q = mp.mpf(rho), mp.mpf(rho), mp.mpf(1)
        for _ in range(depth):
            c = min(s / q, mp.mpf(1))
            th = mp.acos(c)
            s2 = w * q * (mp.sin(th) + (mp.pi - th) * c) / (2 * mp.pi) + b
            t = s2 + t * w * (mp.pi - th) / (2 * mp.pi)
            s, q = s2, w * q / 2 + b
        return t

    for rho in [1 - 1e-15, 1 - 1e-12, 1 - 1e-9, 1 - 1e-6, -1 + 1e-12, -1 + 1e-6, 1.0, -1.0]:
        want = float(ntk(rho))
        got = float(net.ntk_at(rho))
        assert abs(got - want) <= 2e-15 * abs(want), (rho, got, want)


def test_relu_coefficients_mpmath_taylor():
    """κ_p of the depth-2 ReLU NTK from mpmath's high-precision Taylor expansion."""
    mp.mp.dps = 60

    def psi(c):
        return (mp.sqrt(1 - c * c) + (mp.pi - mp.acos(c)) * c) / mp.pi

    def dpsi(c):
        return (mp.pi - mp.acos(c)) / mp.pi

    def ntk(rho):
        s1 = rho
        s2 = psi(s1)
        t2 = s2 + s1 * dpsi(s1)
        s3 = psi(s2)
        return s3 + t2 * dpsi(s2)

    ref = mp.taylor(ntk, 0, 14)
    got = ntkrs.Network("relu", 2).ntk_coefficients(14)
    for p, (g, r) in enumerate(zip(got, ref)):
        assert abs(g - float(r)) <= 1e-12 * abs(float(r)) + 1e-300, (p, g, float(r))


QUADRATURE_CASES = {
    "tanh": (np.tanh, lambda x: 1 / np.cosh(x) ** 2),
    "softplus": (lambda x: np.logaddexp(0, x), lambda x: 1 / (1 + np.exp(-x))),
    "snake(a=1.5)": (lambda x: x + np.sin(1.5 * x) ** 2 / 1.5, lambda x: 1 + np.sin(3.0 * x)),
    "elu": (lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))), lambda x: np.where(x > 0, 1.0, np.exp(np.minimum(x, 0)))),
}


@pytest.mark.parametrize("name", sorted(QUADRATURE_CASES))
@pytest.mark.parametrize("init", ["default", "general"])
def test_quadrature_activations_against_bivariate_gauss_hermite(name, init):
    depth = 3
    net = ntkrs.Network(name, depth, **INITS[init])
    phi, dphi = QUADRATURE_CASES[name]
    dual = polar_dual(phi, dphi)
    args = (net.weight_var, net.bias_var, net.input_weight_var, net.input_bias_var)
    rho = np.array([-1.0, -0.6, -0.1, 0.0, 0.35, 0.8, 0.99, 1.0])
    want = np.array([recursion(dual, depth, r, *args) for r in rho])
    theta1 = net.ntk_at_one()
    tol = 1e-9  # DESIGN §6: Gram, other activations
    np.testing.assert_allclose(net.ntk_at(rho), want[:, 0], rtol=0, atol=tol * theta1)
    np.testing.assert_allclose(net.nngp_at(rho), want[:, 1], rtol=0, atol=tol * net.nngp_at_one())
    s = net.series(200)
    bound = s.truncation_bound
    np.testing.assert_array_less(np.abs(s.evaluate(rho) - want[:, 0]), bound + tol * theta1)


@pytest.mark.parametrize("name", sorted(ntkrs.activations()))
def test_every_activation_series_within_certificate_of_exact_path(name):
    if name in ("exp",):
        kwargs = dict(weight_var=0.1)
    else:
        kwargs = {}
    for depth, init in ((1, {}), (4, {"bias_var": 0.05}), (10, {})):
        try:
            net = ntkrs.Network(name, depth, **(kwargs or init))
        except ntkrs.DomainError:
            assert name in ("step",), name
            continue
        ntk = name != "step"
        s = net.series(200, ntk=ntk)
        assert np.all(s.nngp >= 0)
        rho = np.array([-1.0, -0.3, 0.0, 0.5, 0.9, 1.0])
        exact = net.nngp_at(rho)
        err = np.abs(s.evaluate(rho, kernel="nngp") - exact)
        assert np.all(err <= s.nngp_truncation_bound + 1e-12 * s.nngp_at_one), (depth, err, s.nngp_truncation_bound)
        if ntk:
            assert np.all(s.ntk >= 0)
            exact = net.ntk_at(rho)
            err = np.abs(s.evaluate(rho) - exact)
            assert np.all(err <= s.truncation_bound + 1e-12 * s.ntk_at_one), (depth, err, s.truncation_bound)


def test_deep_network_with_bias_upper_coefficients_not_corrupted():
    """Depth 5 ReLU: the naive cut of the Hermite sum at k = P corrupts κ_P by ~50%."""
    net = ntkrs.Network("relu", 5)
    P = 500
    kappa = net.ntk_coefficients(P)
    ref = cauchy_coefficients(lambda z: recursion(relu_dual, 5, z, 2.0, 0.0)[0], P, r=0.998, n=2**18)
    np.testing.assert_allclose(kappa[[100, 300, 500]], ref[[100, 300, 500]], rtol=1e-9)


def test_step_nngp_only():
    net = ntkrs.Network("step", 2)
    nu = net.nngp_coefficients(50)
    assert np.all(nu >= 0)
    with pytest.raises(ntkrs.DomainError, match="step|infinite|delta"):
        net.ntk_coefficients(10)
    with pytest.raises(ntkrs.DomainError):
        net.ntk_at(0.5)


def test_edge_of_chaos_keeps_variance():
    net = ntkrs.Network.edge_of_chaos("erf", 4, q=0.8)
    np.testing.assert_allclose(net.variances, 0.8, rtol=1e-12)
    act = ntkrs.get_activation("erf")
    assert net.weight_var == pytest.approx(1 / act.derivative_second_moment(0.8), rel=1e-13)
    relu = ntkrs.Network.edge_of_chaos("relu", 3, q=1.0)  # He init: σ_w² = 2, σ_b² = 0
    assert relu.weight_var == pytest.approx(2.0) and relu.bias_var == pytest.approx(0.0, abs=1e-15)
    # cos at q = 1: σ_b² = 1 - E[cos²]/E[sin²] = 1 - (1 + e^-2)/(1 - e^-2) < 0
    with pytest.raises(ntkrs.DomainError, match="edge of chaos"):
        ntkrs.Network.edge_of_chaos("cos", 3, q=1.0)


@pytest.mark.parametrize(
    "call, exc, text",
    [
        (lambda: ntkrs.Network("relu", 0), ntkrs.InvalidInputError, "depth"),
        (lambda: ntkrs.Network("relu", 2.5), ntkrs.InputTypeError, "depth"),
        (lambda: ntkrs.Network("relu", 2, bias_var=1.5), ntkrs.DomainError, "unit variance is impossible"),
        (lambda: ntkrs.Network("relu", 2, weight_var=-1.0), ntkrs.InvalidInputError, "weight_var"),
        (lambda: ntkrs.Network("relu", 2, weight_var=float("nan")), ntkrs.InvalidInputError, "weight_var"),
        (lambda: ntkrs.Network("relu", 2).series(-1), ntkrs.InvalidInputError, "degree"),
        (lambda: ntkrs.Network("relu", 2).series(10**8), ntkrs.InvalidInputError, "degree"),
        (lambda: ntkrs.Network("relu", 2).ntk_at(1.5), ntkrs.InvalidInputError, r"\[-1, 1\]"),
        (lambda: ntkrs.Network("relu", 2).ntk_at(float("nan")), ntkrs.NonFiniteError, "NaN"),
        (lambda: ntkrs.Network("nosuch", 2), ntkrs.UnknownActivationError, "nosuch"),
    ],
)
def test_network_bad_input(call, exc, text):
    with pytest.raises(exc, match=text):
        call()


def test_coefficient_only_activation_general_variance_is_unsupported():
    class P:
        @ntkrs.hookimpl
        def ntkrs_activations(self):
            return [ntkrs.ActivationSpec("coef_only_net", coefficients=[0.0, 0.8, 0.6])]

    if "coef_only_net" not in ntkrs.activations():
        ntkrs.register_plugin(P())
    net = ntkrs.Network("coef_only_net", 3)  # unit variance: fine (E[φ²] = 1)
    # φ = 0.8 h1 + 0.6 h2: ψ(c) = 0.64 c + 0.36 c², ψ'(c) = 0.64 + 0.72 c
    ref = recursion(lambda c, q1, q2: (0.64 * c + 0.36 * c * c, 0.64 + 0.72 * c), 3, 0.4, 1.0, 0.0)
    assert net.ntk_at(0.4) == pytest.approx(ref[0], rel=1e-13)
    assert net.series(40).evaluate(0.4) == pytest.approx(ref[0], rel=1e-13)
    with pytest.raises(ntkrs.UnsupportedError, match="q = 1"):
        ntkrs.Network("coef_only_net", 3, weight_var=2.0, bias_var=0.0)
