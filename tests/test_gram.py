"""Gram matrices against NumPy closed-form recursions written here, and input validation."""

from __future__ import annotations

import numpy as np
import pytest

import ntkrs
from kernel_reference import CLOSED_DUALS, polar_dual, recursion


def numpy_gram(name, net, X, Y=None):
    dual = CLOSED_DUALS[name]
    Y = X if Y is None else Y
    R = np.clip(X @ Y.T, -1, 1)
    args = (net.weight_var, net.bias_var, net.input_weight_var, net.input_bias_var)
    f = np.vectorize(lambda r: recursion(dual, net.depth, r, *args)[0])
    return f(R)


def points_with_duplicates(n, d, seed=0):
    X = ntkrs.sample_sphere(n, d, seed=seed)
    X[1] = X[0]  # duplicate
    X[2] = -X[0]  # antipode
    return X


@pytest.mark.parametrize("name", ["relu", "erf(scale=1.5)", "abs", "leaky_relu(slope=0.2)", "sin(freq=0.8)", "gaussian"])
@pytest.mark.parametrize("init", [dict(), dict(weight_var=1.3, bias_var=0.2, input_weight_var=0.7, input_bias_var=0.4)])
@pytest.mark.parametrize("depth", [1, 3])
def test_gram_against_numpy_recursion(name, init, depth):
    net = ntkrs.Network(name, depth, **init)
    X = points_with_duplicates(120, 7)
    K = net.ntk(X)
    theta1 = net.ntk_at_one()
    ref = numpy_gram(name, net, X)
    # the NumPy reference loses digits at |ρ| → 1; compare there against the exact diagonal
    near = np.abs(np.clip(X @ X.T, -1, 1)) > 1 - 1e-9
    np.testing.assert_allclose(K[~near], ref[~near], rtol=0, atol=1e-12 * theta1)
    np.testing.assert_allclose(K[near], ref[near], rtol=0, atol=1e-7 * theta1)
    np.testing.assert_array_equal(K, K.T)
    np.testing.assert_array_equal(np.diag(K), np.full(len(X), theta1))
    assert K[0, 1] == theta1  # duplicate rows: exactly Θ(1)
    assert abs(K[0, 2] - net.ntk_at(-1.0)) <= 1e-13 * theta1


def test_gram_large_uses_fast_path_and_stays_accurate():
    net = ntkrs.Network("relu", 4)
    X = ntkrs.sample_sphere(1500, 20, seed=5)
    K = net.ntk(X)
    idx = np.random.default_rng(0).choice(1500, size=(300, 2))
    exact = net.ntk_at(np.clip(np.einsum("ij,ij->i", X[idx[:, 0]], X[idx[:, 1]]), -1, 1))
    got = K[idx[:, 0], idx[:, 1]]
    assert np.abs(got - exact).max() <= 1e-12 * net.ntk_at_one()


def test_rectangular_and_nngp_and_float32():
    net = ntkrs.Network("erf", 2, bias_var=0.1)
    X = ntkrs.sample_sphere(40, 6, seed=1)
    Y = ntkrs.sample_sphere(25, 6, seed=2)
    K = net.ntk(X, Y)
    assert K.shape == (40, 25)
    np.testing.assert_allclose(K, net.ntk_at(np.clip(X @ Y.T, -1, 1)), atol=1e-13)
    S = net.nngp(X, Y)
    np.testing.assert_allclose(S, net.nngp_at(np.clip(X @ Y.T, -1, 1)), atol=1e-13)
    K32 = net.ntk(X, Y, dtype=np.float32)
    assert K32.dtype == np.float32
    np.testing.assert_allclose(K32, K, rtol=1e-6)


def test_series_method_within_certificate():
    net = ntkrs.Network("relu", 3, bias_var=0.2)
    X = ntkrs.sample_sphere(200, 5, seed=3)
    bound = net.series(60).truncation_bound
    diff = np.abs(net.ntk(X, method="series", degree=60) - net.ntk(X))
    assert diff.max() <= bound + 1e-12


@pytest.mark.parametrize("name", ["tanh", "softplus", "elu"])
def test_gram_other_activations_against_polar_quadrature(name):
    phis = {
        "tanh": (np.tanh, lambda x: 1 / np.cosh(x) ** 2),
        "softplus": (lambda x: np.logaddexp(0, x), lambda x: 1 / (1 + np.exp(-x))),
        "elu": (lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))), lambda x: np.where(x > 0, 1.0, np.exp(np.minimum(x, 0)))),
    }
    net = ntkrs.Network(name, 2, weight_var=1.4, bias_var=0.1)
    X = ntkrs.sample_sphere(12, 4, seed=4)
    K = net.ntk(X)
    dual = polar_dual(*phis[name])
    args = (net.weight_var, net.bias_var, net.input_weight_var, net.input_bias_var)
    R = np.clip(X @ X.T, -1, 1)
    iu = np.triu_indices(12, 1)
    ref = np.array([recursion(dual, 2, r, *args)[0] for r in R[iu]])
    assert np.abs(K[iu] - ref).max() <= 1e-9 * net.ntk_at_one()


def test_non_contiguous_fortran_and_list_inputs_same_result():
    net = ntkrs.Network("relu", 2)
    X = ntkrs.sample_sphere(30, 5, seed=6)
    K = net.ntk(X)
    np.testing.assert_array_equal(net.ntk(np.asfortranarray(X)), K)
    big = np.zeros((60, 5))
    big[::2] = X
    np.testing.assert_array_equal(net.ntk(big[::2]), K)
    np.testing.assert_array_equal(net.ntk(X.tolist()), K)
    np.testing.assert_allclose(net.ntk(3 * X, normalize=True), K, atol=1e-14)


@pytest.mark.parametrize(
    "X, exc, text",
    [
        (np.array([[1.0, 0.0], [np.nan, 0.0]]), ntkrs.NonFiniteError, "row 1"),
        (np.array([[1.0, 0.0], [0.0, np.inf]]), ntkrs.NonFiniteError, "row 1"),
        (np.array([[1.0, 0.0], [0.0, 0.0]]), ntkrs.InvalidInputError, "row 1 is zero"),
        (np.array([[1.0, 0.0], [0.0, 2.0]]), ntkrs.InvalidInputError, "row 1 has norm 2.*normalize=True"),
        (np.array([1.0, 0.0]), ntkrs.InvalidInputError, "2-D"),
        (np.ones((2, 2, 2)), ntkrs.InvalidInputError, "2-D"),
        (np.array([["a", "b"]]), ntkrs.InputTypeError, "real numbers"),
        (np.zeros((0, 3)), ntkrs.InvalidInputError, "empty"),
        (np.array([[1 + 0j, 0]]), ntkrs.InputTypeError, "real"),
    ],
)
def test_gram_bad_rows(X, exc, text):
    with pytest.raises(exc, match=text):
        ntkrs.Network("relu", 2).ntk(X)


def test_gram_too_large_refused_before_allocating():
    X = np.zeros((3_000_000, 1))
    X[:, 0] = 1.0
    with pytest.raises(ntkrs.TooLargeError, match="matrix_free|float32") as info:
        ntkrs.Network("relu", 1).ntk(X)
    assert isinstance(info.value, MemoryError)


def test_gram_bad_options():
    net = ntkrs.Network("relu", 1)
    X = ntkrs.sample_sphere(5, 3)
    with pytest.raises(ntkrs.InvalidInputError, match="method"):
        net.ntk(X, method="magic")
    with pytest.raises(ntkrs.InvalidInputError, match="dtype"):
        net.ntk(X, dtype=np.int32)
    with pytest.raises(ntkrs.InvalidInputError, match="columns"):
        net.ntk(X, ntkrs.sample_sphere(5, 4))
    with pytest.raises(ntkrs.DomainError):
        ntkrs.Network("step", 2).ntk(X)
    assert ntkrs.Network("step", 2).nngp(X).shape == (5, 5)
