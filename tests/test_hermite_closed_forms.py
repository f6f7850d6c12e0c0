"""Accuracy of the closed-form Hermite coefficients (DESIGN §1.2, §3b, §6).

Target (§6): closed-form coefficients up to k = 2000 to an absolute error ≤ 1e-14 and a relative
error ≤ 1e-12 wherever the value is representable (|μ| > 1e-290). Every reference is independent
of the package:

* low degree (k ≤ 30): composite Gauss–Legendre quadrature in mpmath at 30 digits, split at the
  kinks, of E[φ(√q Z) h_k(Z)] with h_k by the normalized recurrence (hermite_reference.py);
* all degrees up to 2000: the closed forms of DESIGN §1.2 (and exact integration by parts for
  the piecewise-linear hard-tanh and ReLU6) evaluated in mpmath with exact factorials.

Also E[φ(√qZ)²] and E[φ'(√qZ)²] against mpmath quadrature, and the DomainError of the step
function's E[φ'²].

"Absolute error" is measured as |got − ref| / max(1, |ref|): for coefficients of order one this is
the absolute error; for the few cases with |μ| > 1 (monomials, exp at a large scale) float64 holds
only relative accuracy, and the quantity becomes the (stricter) relative error.
"""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hermite_reference as ref
import ntkrs

ABS_TOL = 1e-14
REL_TOL = 1e-12
K_LOW = 30
K_HIGH = 2000
# E[φ²], E[φ'²]: a closed form should give these to a few ulps
MOMENT_REL_TOL = 1e-13


def case_id(name: str, params: dict, q: float) -> str:
    inner = ",".join(f"{k}={list(v) if isinstance(v, tuple) else v}" for k, v in params.items())
    return f"{name}({inner})-q{q:g}" if inner else f"{name}-q{q:g}"


# (name, params, q): every closed-form built-in, with q != 1 and non-default parameters
CASES = [
    ("relu", {}, 1.0),
    ("relu", {}, 0.5),
    ("relu", {}, 2.7),
    ("leaky_relu", {}, 1.0),
    ("leaky_relu", {"slope": 0.2}, 2.7),
    ("abs", {}, 1.0),
    ("abs", {}, 2.7),
    ("step", {}, 1.0),
    ("step", {}, 0.5),
    ("identity", {}, 2.7),
    ("erf", {}, 1.0),
    ("erf", {"scale": 2.5}, 0.5),
    ("erf", {"scale": 0.3}, 2.7),
    ("gelu", {}, 1.0),
    ("gelu", {}, 0.5),
    ("gelu", {}, 2.7),
    ("hardtanh", {}, 1.0),
    ("hardtanh", {}, 0.5),
    ("hardtanh", {}, 2.7),
    ("relu6", {}, 1.0),
    ("relu6", {}, 30.0),
    ("sin", {}, 1.0),
    ("sin", {"freq": 2.0}, 2.7),
    ("cos", {}, 1.0),
    ("cos", {"freq": 0.7}, 0.5),
    ("exp", {}, 1.0),
    ("exp", {"scale": 1.5}, 2.7),
    ("exp", {"scale": -0.8}, 1.0),
    ("gaussian", {}, 1.0),
    ("gaussian", {}, 2.7),
    ("gaussian_pdf", {}, 1.0),
    ("gaussian_pdf", {}, 0.5),
    ("monomial", {}, 1.0),
    ("monomial", {"n": 7}, 2.7),
    ("hermite", {"n": 5}, 1.0),
    ("hermite", {"n": 5}, 2.7),
    ("polynomial", {"coeffs": (0.5, -1.0, 0.25, 0.0, 0.1)}, 1.0),
    ("polynomial", {"coeffs": (0.5, -1.0, 0.25, 0.0, 0.1)}, 2.7),
]

# Extra cases checked against the mpmath closed forms only (degenerate or large parameters).
EDGE_CASES = [
    ("leaky_relu", {"slope": 1.0}, 1.0),  # = identity
    ("erf", {"scale": -2.0}, 1.0),
    ("cos", {"freq": 0.0}, 2.7),  # = 1
    ("sin", {"freq": -1.3}, 0.5),
    ("exp", {"scale": 0.0}, 1.0),  # = 1
    ("exp", {"scale": 3.0}, 4.0),  # μ_k up to ~1e15: relative accuracy only
    ("gaussian", {}, 50.0),
    ("relu", {}, 1e4),
    ("hardtanh", {}, 1e-3),  # kinks far out at ±31.6 in z
    ("relu6", {}, 0.1),  # kink at 19 in z
    ("monomial", {"n": 0}, 1.0),
    ("monomial", {"n": 12}, 0.5),
    ("hermite", {"n": 0}, 2.7),
    ("hermite", {"n": 40}, 1.0),  # = e_40
    ("hermite", {"n": 40}, 0.5),
    ("polynomial", {"coeffs": (3.0,)}, 1.0),
]

CASE_IDS = [case_id(*c) for c in CASES]
EDGE_IDS = [case_id(*c) for c in EDGE_CASES]


@pytest.fixture(scope="module")
def quad_refs():
    """mpmath quadrature references, computed on first use and kept for the module."""
    return lambda name, params, q: ref.mp_quad_cached(name, K_LOW, q, params)


@pytest.mark.parametrize("name,params,q,k", [
    ("relu6", {}, 30.0, 7), ("gelu", {}, 2.7, 30), ("hardtanh", {}, 0.5, 29), ("exp", {"scale": 1.5}, 2.7, 12),
], ids=["relu6-q30-k7", "gelu-q2.7-k30", "hardtanh-q0.5-k29", "exp(scale=1.5)-q2.7-k12"])
def test_reference_composite_rule_matches_mpmath_quad(name, params, q, k):
    """The test's mpmath composite Gauss–Legendre reference against mpmath.quad (tanh–sinh,
    split at the kinks, infinite interval) — validates the reference, not the package."""
    with mp.workdps(ref.DPS):
        phi, _, kinks = ref.mp_activation(name, params)
        sq = mp.sqrt(q)
        points = [-mp.inf] + sorted(mp.mpf(t) / sq for t in kinks) + [mp.inf]
        exact = mp.quad(lambda z: phi(sq * z) * ref.mp_hermite_all(z, k)[k] * mp.npdf(z), points)
        approx = ref.mp_quad_cached(name, K_LOW, q, params)["mu"][k]
        assert abs(exact - approx) < 1e-20, f"{name} q={q} k={k}: quad {exact}, composite {approx}"


@pytest.mark.parametrize("name,params,q", CASES, ids=CASE_IDS)
def test_is_a_closed_form(name, params, q):
    act = ntkrs.get_activation(name, **params)
    assert act.kind == "closed form", f"{name}: kind {act.kind!r}"


@pytest.mark.parametrize("name,params,q", CASES, ids=CASE_IDS)
def test_low_degree_against_mpmath_quadrature(name, params, q, quad_refs):
    case = case_id(name, params, q)
    r = quad_refs(name, params, q)
    # the reference itself: halving the nodes per panel changes it by far less than the tolerance
    assert r["gl_diff"] < 1e-18, f"{case}: mpmath reference not converged ({r['gl_diff']:.1e})"
    got = ntkrs.hermite_coefficients(name, K_LOW, q=q, **params)
    assert got.shape == (K_LOW + 1,) and got.dtype == np.float64
    cmp = ref.Comparison(got, ref.to_float(r["mu"]), rel_floor=1e-9)  # reference good to ~1e-24
    cmp.check(case, ABS_TOL, REL_TOL, family="closed form, k<=30 vs mpmath quad")


@pytest.mark.parametrize("name,params,q", CASES + EDGE_CASES, ids=CASE_IDS + EDGE_IDS)
def test_high_degree_against_mpmath_closed_form(name, params, q):
    case = case_id(name, params, q)
    reference = ref.to_float(ref.mp_closed_form(name, K_HIGH, q, params))
    res = ntkrs.hermite_coefficients_with_error(name, K_HIGH, q=q, **params)
    assert res.mu.shape == (K_HIGH + 1,)
    # hard-tanh and ReLU6 oscillate in k (h_k at the kinks ±1/√q, 6/√q): at the accidental
    # near-zeros the relative error is measured against the local amplitude (hermite_reference.
    # Comparison); everywhere else, and for every other activation, it is the pointwise one
    scale = ref.mp_piecewise_linear_scale(name, K_HIGH, q) if name in ("hardtanh", "relu6") else None
    cmp = ref.Comparison(res.mu, reference, scale=scale)
    cmp.check(case, ABS_TOL, REL_TOL, family="closed form, k<=2000 vs mpmath closed form")
    assert math.isfinite(res.error) and res.error >= 0.0, f"{case}: error estimate {res.error!r}"
    # the plain function returns the same vector
    assert np.array_equal(ntkrs.hermite_coefficients(name, K_HIGH, q=q, **params), res.mu)


@pytest.mark.parametrize("name,params,q", CASES, ids=CASE_IDS)
def test_second_moment_against_mpmath(name, params, q, quad_refs):
    case = case_id(name, params, q)
    expected = float(quad_refs(name, params, q)["second_moment"])
    act = ntkrs.get_activation(name, **params)
    got = act.second_moment(q)
    got_res = ntkrs.hermite_coefficients_with_error(name, 10, q=q, **params).second_moment
    rel = max(abs(got - expected), abs(got_res - expected)) / abs(expected)
    ref.record("closed form E[phi^2] vs mpmath quad (rel)", case, rel)
    assert rel <= MOMENT_REL_TOL, (
        f"{case}: E[phi^2] expected {expected!r}, second_moment() {got!r}, "
        f"hermite_coefficients_with_error().second_moment {got_res!r} (rel err {rel:.2e})"
    )


@pytest.mark.parametrize(
    "name,params,q",
    [c for c in CASES if c[0] != "step"],
    ids=[i for c, i in zip(CASES, CASE_IDS) if c[0] != "step"],
)
def test_derivative_second_moment_against_mpmath(name, params, q, quad_refs):
    case = case_id(name, params, q)
    expected = float(quad_refs(name, params, q)["derivative_second_moment"])
    got = ntkrs.get_activation(name, **params).derivative_second_moment(q)
    err = abs(got - expected) / max(1.0, abs(expected))
    ref.record("closed form E[phi'^2] vs mpmath quad", case, err)
    assert err <= MOMENT_REL_TOL, f"{case}: E[phi'^2] expected {expected!r}, got {got!r} (err {err:.2e})"


@pytest.mark.parametrize("q", [1.0, 2.7])
def test_step_derivative_second_moment_is_a_domain_error(q):
    act = ntkrs.get_activation("step")
    with pytest.raises(ntkrs.DomainError) as info:
        act.derivative_second_moment(q)
    assert isinstance(info.value, ValueError)


_RANDOM_FAMILIES = {
    # name: (parameter name or None, parameter range); the product |param|·√q stays ≤ 4 below
    "relu": (None, None),
    "leaky_relu": ("slope", (0.0, 0.99)),
    "abs": (None, None),
    "step": (None, None),
    "erf": ("scale", (0.05, 4.0)),
    "gelu": (None, None),
    "hardtanh": (None, None),
    "relu6": (None, None),
    "sin": ("freq", (0.05, 4.0)),
    "cos": ("freq", (0.05, 4.0)),
    "exp": ("scale", (-4.0, 4.0)),
    "gaussian": (None, None),
}


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(_RANDOM_FAMILIES)),
    log_q=st.floats(math.log(1e-3), math.log(50.0)),
    u=st.floats(0.0, 1.0),
)
def test_random_scales_and_parameters_against_mpmath_closed_form(name, log_q, u):
    q = math.exp(log_q)
    pname, prange = _RANDOM_FAMILIES[name]
    params = {}
    if pname is not None:
        lo, hi = prange
        value = lo + (hi - lo) * u
        if name in ("erf", "sin", "cos", "exp"):
            value = math.copysign(min(abs(value), 4.0 / math.sqrt(q)), value) or 0.05
        params[pname] = value
    K = 300
    case = case_id(name, params, q)
    reference = ref.to_float(ref.mp_closed_form(name, K, q, params))
    got = ntkrs.hermite_coefficients(name, K, q=q, **params)
    scale = ref.mp_piecewise_linear_scale(name, K, q) if name in ("hardtanh", "relu6") else None
    ref.Comparison(got, reference, scale=scale).check(
        case, ABS_TOL, REL_TOL, family="closed form, random q/params k<=300 vs mpmath closed form")


@pytest.mark.parametrize("name,params", [("erf", {"scale": 0.0}), ("sin", {"freq": 0.0})],
                         ids=["erf(scale=0)", "sin(freq=0)"])
def test_identically_zero_activation(name, params):
    # φ ≡ 0: either the exact (zero) coefficients or a clear ValueError — never NaN
    try:
        mu = ntkrs.hermite_coefficients(name, K_HIGH, **params)
    except ValueError as exc:
        assert str(exc), f"{name}{params}: empty error message"
        return
    assert np.all(mu == 0.0), f"{name}{params}: nonzero/NaN coefficient at k={int(np.argmax(mu != 0))}"


def test_hermite_is_a_unit_vector_at_q1():
    # h_n itself: μ = e_n exactly (up to round-off) at q = 1
    for n in (0, 1, 2, 7, 33, 200):
        mu = ntkrs.hermite_coefficients("hermite", 400, n=n)
        expected = np.zeros(401)
        expected[n] = 1.0
        err = np.abs(mu - expected)
        assert err.max() <= ABS_TOL, f"hermite(n={n}): worst k={err.argmax()}, err={err.max():.2e}"


def test_zz_summary():
    """Print the measured worst errors of this module (pytest -s or -rP shows them)."""
    print("\n" + ref.summary([f for f in ref.ERRORS if f.startswith("closed form")]))
