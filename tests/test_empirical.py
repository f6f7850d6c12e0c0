"""The finite-width empirical NTK: against a hand-written NumPy Jacobian (reverse-mode by hand,
independent of the Rust code) and convergence to the infinite-width NTK."""

from __future__ import annotations

import math

import numpy as np
import pytest

import ntkrs
from kernel_reference import recursion, relu_dual


def numpy_mlp_jacobian(X, params, act, dact, gw, gb, sw, sb):
    """Full Jacobian ∂f/∂θ (n × P) of f(x) = (σ_w/√m) vᵀ φ(h^L) + σ_b b_out with
    h¹ = γ_w W¹ x + γ_b b¹, h^{l+1} = (σ_w/√m) W^{l+1} φ(h^l) + σ_b b^{l+1}; built column block
    by column block with explicit backpropagation per sample."""
    Ws, bs, v, bout = params
    rows = []
    for x in X:
        hs, gs = [], [x]
        h = gw * Ws[0] @ x + gb * bs[0]
        hs.append(h)
        for W, b in zip(Ws[1:], bs[1:]):
            g = act(h)
            gs.append(g)
            m = W.shape[1]
            h = sw / math.sqrt(m) * W @ g + sb * b
            hs.append(h)
        gL = act(h)
        m = v.size
        grads_v = sw / math.sqrt(m) * gL
        grad_bout = np.array([sb])
        delta = sw / math.sqrt(m) * v * dact(hs[-1])
        layer_grads = []
        for l in range(len(Ws) - 1, -1, -1):
            scale = gw if l == 0 else sw / math.sqrt(Ws[l].shape[1])
            bscale = gb if l == 0 else sb
            layer_grads.append((np.outer(delta, scale * gs[l]).ravel(), bscale * delta))
            if l > 0:
                delta = (scale * Ws[l]).T @ delta * dact(hs[l - 1])
        parts = []
        for gW, gb_ in reversed(layer_grads):
            parts += [gW, gb_]
        parts += [grads_v, grad_bout]
        rows.append(np.concatenate(parts))
    return np.array(rows)


def test_formula_of_the_reference_on_a_tiny_net_matches_finite_differences():
    rng = np.random.default_rng(1)
    d, m, L = 3, 4, 2
    Ws = [rng.standard_normal((m, d))] + [rng.standard_normal((m, m)) for _ in range(L - 1)]
    bs = [rng.standard_normal(m) for _ in range(L)]
    v, bout = rng.standard_normal(m), rng.standard_normal()
    x = rng.standard_normal(d)
    x /= np.linalg.norm(x)
    J = numpy_mlp_jacobian(x[None], (Ws, bs, v, bout), np.tanh, lambda z: 1 / np.cosh(z) ** 2, 0.9, 0.3, 1.2, 0.4)[0]

    def f(theta):
        i = 0
        W1 = theta[i:i + m * d].reshape(m, d); i += m * d
        b1 = theta[i:i + m]; i += m
        W2 = theta[i:i + m * m].reshape(m, m); i += m * m
        b2 = theta[i:i + m]; i += m
        vv = theta[i:i + m]; i += m
        bo = theta[i]
        h = 0.9 * W1 @ x + 0.3 * b1
        h = 1.2 / math.sqrt(m) * W2 @ np.tanh(h) + 0.4 * b2
        return 1.2 / math.sqrt(m) * vv @ np.tanh(h) + 0.4 * bo

    theta = np.concatenate([Ws[0].ravel(), bs[0], Ws[1].ravel(), bs[1], v, [bout]])
    eps = 1e-6
    fd = np.array([(f(theta + eps * e) - f(theta - eps * e)) / (2 * eps) for e in np.eye(theta.size)])
    np.testing.assert_allclose(J, fd, atol=1e-8)


ACTS = {
    "relu": (lambda z: np.maximum(z, 0.0), lambda z: (z > 0).astype(float)),
    "erf": (None, None),
    "tanh": (np.tanh, lambda z: 1 / np.cosh(z) ** 2),
}


@pytest.mark.parametrize("activation", ["relu", "erf", "tanh"])
@pytest.mark.parametrize("init", [dict(), dict(weight_var=1.3, bias_var=0.2, input_weight_var=0.7, input_bias_var=0.3)])
def test_empirical_ntk_equals_numpy_jacobian_contraction(activation, init):
    from scipy.special import erf

    act, dact = ACTS[activation]
    if activation == "erf":
        act, dact = erf, lambda z: 2 / math.sqrt(math.pi) * np.exp(-z * z)
    X = ntkrs.sample_sphere(5, 3, seed=2)
    depth, width, seed = 3, 7, 11
    K = ntkrs.empirical_ntk(X, activation, depth, width, seed=seed, **init)
    net = ntkrs.Network(activation, depth, **init)
    layers, v, bout = ntkrs._core.empirical_parameters(3, depth, width, seed)
    Ws = [np.asarray(W) for W, _ in layers]
    bs = [np.asarray(b) for _, b in layers]
    J = numpy_mlp_jacobian(
        X, (Ws, bs, np.asarray(v), bout), act, dact,
        math.sqrt(net.input_weight_var), math.sqrt(net.input_bias_var),
        math.sqrt(net.weight_var), math.sqrt(net.bias_var),
    )
    ref = J @ J.T
    np.testing.assert_allclose(K, ref, rtol=1e-10, atol=1e-12 * np.abs(ref).max())
    np.testing.assert_array_equal(K, ntkrs.empirical_ntk(X, activation, depth, width, seed=seed, **init))
    assert not np.allclose(K, ntkrs.empirical_ntk(X, activation, depth, width, seed=seed + 1, **init))


def test_converges_to_infinite_width_like_inverse_sqrt_width():
    X = ntkrs.sample_sphere(6, 5, seed=3)
    net = ntkrs.Network("relu", 2)
    K_inf = net.ntk_at(np.clip(X @ X.T, -1, 1))
    # independent check of the analytic side
    ref = np.array([[recursion(relu_dual, 2, r, 2.0, 0.0)[0] for r in row] for row in np.clip(X @ X.T, -1, 1)])
    np.testing.assert_allclose(K_inf, ref, atol=1e-12 * 3)
    widths = [64, 256, 1024, 4096]
    errs = []
    for w in widths:
        e = [np.abs(ntkrs.empirical_ntk(X, "relu", 2, w, seed=s) - K_inf).mean() / 3 for s in range(4)]
        errs.append(np.mean(e))
    slope = np.polyfit(np.log(widths), np.log(errs), 1)[0]
    assert -0.8 <= slope <= -0.3, (slope, errs)
    assert errs[-1] < 0.1


def test_empirical_bad_input():
    X = ntkrs.sample_sphere(4, 3)
    with pytest.raises(ntkrs.InvalidInputError, match="width"):
        ntkrs.empirical_ntk(X, "relu", 2, 0)
    with pytest.raises(ntkrs.InvalidInputError, match="depth"):
        ntkrs.empirical_ntk(X, "relu", 0, 8)
    with pytest.raises(ntkrs.InvalidInputError, match="norm"):
        ntkrs.empirical_ntk(2 * X, "relu", 2, 8)
    with pytest.raises(ntkrs.UnsupportedError, match="plugin"):
        ntkrs.empirical_ntk(X, "snake", 2, 8)
