"""Property-based tests (hypothesis) of the mathematical contract (DESIGN §1.3–§1.5) over random
built-in activations with random valid parameters, depths 1–6, unit-variance and general
initializations, degrees and data; and of the plugin registry against random junk.

Properties:
* every NTK/NNGP coefficient is ≥ 0 (up to round-off far below the certificate);
* ``Σ_p κ_p ≤ Θ(1) = ntk_at(1)`` and ``Θ(1) − Σ_p κ_p ≤ truncation_bound``;
* ``series.evaluate(ρ)`` is within the truncation bound of the exact ``ntk_at(ρ)``;
* Gram matrices are symmetric positive semi-definite (λ_min ≥ −1e-10·trace);
* Cauchy interlacing: a principal submatrix's eigenvalues interlace the full Gram's;
* junk plugins never crash the interpreter and leave the registry unchanged on failure.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import ntkrs
from ntkrs.registry import _REGISTRY

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# ---------------------------------------------------------------------------- strategies

NO_PARAMS = ["relu", "abs", "identity", "gelu", "hardtanh", "relu6", "gaussian", "gaussian_pdf",
             "tanh", "sigmoid", "softplus", "silu", "mish", "selu"]
#: activations whose exact kernel is closed form (Gram / kernel accuracy 1e-12·Θ(1));
#: the others go through Hermite series with a tail (1e-9·Θ(1)).
QUADRATURE = {"tanh", "sigmoid", "softplus", "silu", "mish", "selu", "elu"}


def _fmt(x: float) -> str:
    return repr(float(x))


@st.composite
def activations(draw):
    kind = draw(st.sampled_from(NO_PARAMS + ["leaky_relu", "erf", "sin", "cos", "exp", "elu",
                                             "monomial", "hermite", "polynomial"]))
    if kind in NO_PARAMS:
        return kind
    if kind == "leaky_relu":
        return f"leaky_relu(slope={_fmt(draw(st.floats(-1.0, 1.0)))})"
    if kind == "erf":
        return f"erf(scale={_fmt(draw(st.floats(0.1, 4.0)))})"
    if kind in ("sin", "cos"):
        return f"{kind}(freq={_fmt(draw(st.floats(0.2, 2.5)))})"
    if kind == "exp":
        return f"exp(scale={_fmt(draw(st.floats(0.1, 0.8)))})"
    if kind == "elu":
        return f"elu(alpha={_fmt(draw(st.floats(0.1, 2.0)))})"
    if kind in ("monomial", "hermite"):
        return f"{kind}(n={draw(st.integers(1, 4))})"
    coeffs = draw(st.lists(st.floats(-2.0, 2.0), min_size=2, max_size=4))
    assume(any(abs(c) > 1e-3 for c in coeffs[1:]))  # not a constant
    return f"polynomial(coeffs=[{', '.join(map(_fmt, coeffs))}])"


@st.composite
def initializations(draw):
    which = draw(st.sampled_from(["unit", "unit_bias", "general"]))
    if which == "unit":
        init = {}
    elif which == "unit_bias":
        init = {"bias_var": draw(st.floats(0.0, 0.9))}
    else:
        init = {
            "weight_var": draw(st.floats(0.3, 2.5)),
            "bias_var": draw(st.floats(0.0, 0.6)),
            "input_weight_var": draw(st.floats(0.2, 1.5)),
            "input_bias_var": draw(st.floats(0.0, 0.6)),
        }
    if which != "general" and draw(st.booleans()):
        gw = draw(st.floats(0.05, 1.0))
        init.update(input_weight_var=gw, input_bias_var=1.0 - gw)
    return init


@st.composite
def networks(draw, max_depth=6):
    act = draw(activations())
    depth = draw(st.integers(1, max_depth))
    init = draw(initializations())
    try:
        net = ntkrs.Network(act, depth, **init)
        theta1 = net.ntk_at_one()
    except ntkrs.NtkrsError:  # documented refusals (variance overflow, unit variance impossible, ...)
        assume(False)
    assume(math.isfinite(theta1) and 1e-8 < theta1 < 1e12)
    return net


@st.composite
def point_sets(draw, max_n=36):
    n = draw(st.integers(2, max_n))
    d = draw(st.integers(2, 6))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    if draw(st.booleans()):  # duplicates and antipodes (ρ = ±1 exactly)
        X[1] = X[0]
        if n > 2:
            X[2] = -X[0]
    if draw(st.booleans()):  # clustered points (ρ close to 1)
        X = X[:1] + 1e-3 * X
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X


def _tolerance(net) -> float:
    """Accuracy of the exact path (DESIGN §6) relative to Θ(1)."""
    return 1e-9 if net.activation.name in QUADRATURE else 1e-12


# ---------------------------------------------------------------------------- series


@settings(max_examples=60, **SETTINGS)
@given(net=networks(), degree=st.integers(0, 150))
def test_coefficients_nonnegative_and_sum_within_truncation_bound(net, degree):
    s = net.series(degree)
    theta1 = float(net.ntk_at(1.0))
    assert s.ntk.shape == (degree + 1,) and s.nngp.shape == (degree + 1,)
    assert np.all(np.isfinite(s.ntk)) and np.all(np.isfinite(s.nngp))
    assert s.ntk.min() >= -1e-13 * theta1, s.ntk.min()
    assert s.nngp.min() >= -1e-13 * s.nngp_at_one
    assert s.ntk_at_one == pytest.approx(theta1, rel=1e-12)
    assert float(net.nngp_at(1.0)) == pytest.approx(s.nngp_at_one, rel=1e-12)
    slack = 1e-12 * theta1 + (1e-9 * theta1 if net.activation.name in QUADRATURE else 0.0)
    total = math.fsum(s.ntk)
    assert total <= theta1 + slack
    assert 0.0 <= s.truncation_bound
    assert theta1 - total <= s.truncation_bound + slack
    total_nngp = math.fsum(s.nngp)
    assert s.nngp_at_one - total_nngp <= s.nngp_truncation_bound + slack * s.nngp_at_one / theta1 + 1e-300


@settings(max_examples=60, **SETTINGS)
@given(net=networks(), degree=st.integers(1, 200),
       rho=st.lists(st.floats(-1.0, 1.0), min_size=1, max_size=8))
def test_series_evaluate_within_certificate_of_exact_kernel(net, degree, rho):
    rho = np.array(rho + [-1.0, 0.0, 1.0])
    s = net.series(degree)
    exact = net.ntk_at(rho)
    theta1 = float(net.ntk_at(1.0))
    err = np.abs(s.evaluate(rho) - exact)
    assert np.all(err <= s.truncation_bound + _tolerance(net) * theta1 + 1e-13 * theta1), (err.max(), s.truncation_bound)
    nngp_err = np.abs(s.evaluate(rho, kernel="nngp") - net.nngp_at(rho))
    assert np.all(nngp_err <= s.nngp_truncation_bound + (_tolerance(net) + 1e-13) * s.nngp_at_one)
    # the NTK and NNGP are increasing in ρ on [0, 1] and maximal at ρ = 1 (non-negative coefficients)
    assert np.all(np.abs(exact) <= theta1 * (1 + 1e-12) + _tolerance(net) * theta1)


# ---------------------------------------------------------------------------- Gram matrices


@settings(max_examples=40, **SETTINGS)
@given(net=networks(max_depth=5), X=point_sets())
def test_gram_symmetric_psd(net, X):
    K = net.ntk(X)
    n = len(X)
    theta1 = net.ntk_at_one()
    assert np.all(np.isfinite(K))
    np.testing.assert_array_equal(K, K.T)
    np.testing.assert_allclose(np.diag(K), theta1, rtol=1e-13)
    trace = float(np.trace(K))
    assert trace == pytest.approx(n * theta1, rel=1e-13)
    lam = np.linalg.eigvalsh(K)
    assert lam[0] >= -1e-10 * trace, (lam[0], trace)
    # Theorem 4.1: λ_1 ≥ κ_0 n
    kappa0 = float(net.series(0).ntk[0])
    assert lam[-1] >= kappa0 * n * (1 - 1e-12) - 1e-12 * trace
    # against the exact kernel of the correlations
    ref = net.ntk_at(np.clip(X @ X.T, -1.0, 1.0))
    assert np.abs(K - ref).max() <= (_tolerance(net) + 1e-12) * theta1 + 1e-7 * theta1 * (np.abs(X @ X.T) > 1 - 1e-9).any()
    S = net.nngp(X)
    np.testing.assert_array_equal(S, S.T)
    assert np.linalg.eigvalsh(S)[0] >= -1e-10 * float(np.trace(S))


@settings(max_examples=40, **SETTINGS)
@given(net=networks(max_depth=4), X=point_sets(max_n=40), data=st.data())
def test_cauchy_interlacing_of_principal_submatrices(net, X, data):
    K = net.ntk(X)
    n = len(X)
    m = data.draw(st.integers(1, n - 1), label="m")
    idx = np.sort(np.array(data.draw(st.permutations(range(n)), label="perm")[:m]))
    full = ntkrs.eigvalsh(K)  # Rust, ascending
    np.testing.assert_allclose(full, np.linalg.eigvalsh(K), rtol=0, atol=1e-12 * np.trace(K))
    sub = np.linalg.eigvalsh(K[np.ix_(idx, idx)])
    # submatrix of a net's Gram = Gram of the selected points
    np.testing.assert_allclose(K[np.ix_(idx, idx)], net.ntk(X[idx]), rtol=0, atol=1e-12 * net.ntk_at_one())
    tol = 1e-12 * float(np.trace(K))
    for i in range(m):
        assert full[i] - tol <= sub[i] <= full[i + n - m] + tol, (i, full[i], sub[i], full[i + n - m])
    # the top eigenvalue from Lanczos obeys the same bound
    if m >= 2:
        top = ntkrs.eigsh(K[np.ix_(idx, idx)], 1)[0]
        assert top <= full[-1] + tol


# ---------------------------------------------------------------------------- junk plugins

_names = itertools.count()


def _snapshot():
    pm = _REGISTRY._ensure()
    return (tuple(ntkrs.activations()), tuple(sorted(_REGISTRY._aliases.items())),
            tuple(sorted(name for name, _ in pm.list_name_plugin())))


class _Opaque:
    def __repr__(self) -> str:
        return "<opaque>"


junk_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10**30, 10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.complex_numbers(max_magnitude=10),
    st.text(max_size=6),
    st.binary(max_size=4),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=5),
    st.lists(st.text(max_size=2), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.builds(_Opaque),
    st.sampled_from([np.array([np.nan, 1.0]), np.zeros((2, 3)), np.array(["a"]), np.array(1.0), np.empty(0)]),
)


@st.composite
def junk_callables(draw):
    """A callable returning junk, raising, or returning arrays of the wrong shape / NaN."""
    mode = draw(st.sampled_from(["constant", "raise", "shape", "nan", "scale", "ok"]))
    value = draw(junk_values)
    exc = draw(st.sampled_from([ValueError, ZeroDivisionError, KeyError, RuntimeError, MemoryError]))
    scale = draw(st.floats(allow_nan=True, allow_infinity=True))

    def f(*args, **kwargs):
        x = np.asarray(args[0], dtype=np.float64) if args else np.zeros(1)
        if mode == "constant":
            return value
        if mode == "raise":
            raise exc("junk plugin")
        if mode == "shape":
            return np.concatenate([np.ravel(x), [1.0]])
        if mode == "nan":
            out = np.array(np.ravel(x), dtype=np.float64, copy=True)
            out[::3] = np.nan
            return out.reshape(np.shape(x))
        if mode == "scale":
            with np.errstate(all="ignore"):
                return scale * np.sin(x)
        return np.tanh(x)

    return f


@st.composite
def junk_specs(draw):
    """Keyword arguments for ActivationSpec, mixing valid and junk entries."""
    name_kind = draw(st.sampled_from(["fresh", "fresh", "duplicate", "junk"]))
    if name_kind == "fresh":
        name = f"junk_act_{next(_names)}"
    elif name_kind == "duplicate":
        name = draw(st.sampled_from(["relu", "tanh", "swish", "snake"]))
    else:
        name = draw(junk_values)
    kw = {"name": name}
    for field in ("fn", "derivative", "hermite", "dual"):
        choice = draw(st.sampled_from(["absent", "absent", "callable", "junk"]))
        if choice == "callable":
            kw[field] = draw(junk_callables())
        elif choice == "junk":
            kw[field] = draw(junk_values)
    for field in ("coefficients", "kinks", "params", "aliases", "description"):
        if draw(st.integers(0, 3)) == 0:
            kw[field] = draw(junk_values)
    return kw


@st.composite
def junk_plugins(draw):
    """(plugin object, hook behaviour) — the hook returns junk, raises, or builds specs."""
    mode = draw(st.sampled_from(["specs", "specs", "specs", "value", "raise", "not_a_plugin"]))
    if mode == "not_a_plugin":
        return draw(junk_values)
    specs = draw(st.lists(junk_specs(), min_size=0, max_size=3))
    value = draw(junk_values)

    class JunkPlugin:
        @ntkrs.hookimpl
        def ntkrs_activations(self):
            if mode == "raise":
                raise RuntimeError("junk hook")
            if mode == "value":
                return value
            return [ntkrs.ActivationSpec(**kw) for kw in specs]

    return JunkPlugin()


@settings(max_examples=100, **SETTINGS)
@given(plug=junk_plugins())
def test_junk_plugins_never_crash_and_leave_registry_unchanged_on_failure(plug):
    before = _snapshot()
    name = f"junk-plugin-{next(_names)}"
    try:
        added = ntkrs.register_plugin(plug, name=name)
    except ntkrs.PluginError as err:
        assert isinstance(err, RuntimeError)
        assert err.plugin == name and name in str(err)
        assert _snapshot() == before
        return
    # accepted: exactly the new names were added, and using them gives numbers or NtkrsError
    after = _snapshot()
    assert set(after[0]) - set(before[0]) == set(added)
    for act in added:
        for call in (
            lambda: ntkrs.hermite_coefficients(act, 6),
            lambda: ntkrs.hermite_coefficients(act, 6, q=2.0),
            lambda: ntkrs.Network(act, 2).ntk_coefficients(6),
            lambda: ntkrs.Network(act, 1).ntk(ntkrs.sample_sphere(4, 3, seed=0)),
            lambda: ntkrs.get_activation(act)(np.linspace(-2, 2, 5)),
        ):
            try:
                out = np.asarray(call(), dtype=np.float64)
            except ntkrs.NtkrsError:
                continue
            assert np.all(np.isfinite(out)), (act, out)
    assert ntkrs.hermite_coefficients("relu", 1)[1] == 0.5
