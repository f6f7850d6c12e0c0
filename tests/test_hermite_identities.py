"""The identities of DESIGN §1.2, checked through the public API.

* derivative: μ_k(φ') = √(k+1) μ_{k+1}(φ)  (step vs ReLU; erf' = (2a/√π) exp(−a²x²) vs the
  Gaussian exp(−b x²/2) closed form);
* multiplication by x: μ_k(x f) = √k μ_{k−1}(f) + √(k+1) μ_{k+1}(f)  (GELU = x Φ(x) with
  Φ = (1 + erf(x/√2))/2 from the erf coefficients; ReLU = x · step; x · xⁿ = xⁿ⁺¹);
* linearity: |x| = 2 relu(x) − x, leaky ReLU = α x + (1 − α) relu(x), polynomial = Σ cᵢ xⁱ;
* Parseval: Σ μ_k² = E[φ²] (degree where the tail is negligible; otherwise the reported
  tail_mass bounds an independently computed tail from above);
* Σ k μ_k(φ_q)² / q = E[φ'(√q Z)²] for smooth φ;
* degree 2000: finite, no overflow, Bessel's inequality, for every built-in.

Tolerances are not tuned: they are the error propagated from the per-coefficient targets of
DESIGN §6 (closed forms: 1e-14 absolute, 1e-12 relative where representable; quadrature: 1e-13)
through the identity, with a relative 1e-13 allowance for a second moment (a few ulps).
"""

from __future__ import annotations

import math
import warnings

import mpmath as mp
import numpy as np
import pytest

import hermite_reference as ref
import ntkrs

K = 2000
CF_ABS = 1e-14  # closed forms, DESIGN §6
CF_REL = 1e-12
QUAD_ABS = 1e-13  # smooth quadrature, DESIGN §6
MOMENT_REL = 1e-13  # allowance for E[φ²], E[φ'²] themselves


def mu(name, degree=K, q=1.0, **params):
    return ntkrs.hermite_coefficients(name, degree, q=q, **params)


def check_identity(case, family, lhs, terms, abs_tol=CF_ABS, rel_tol=CF_REL):
    """Assert lhs_k = Σ_t c_t[k] v_t[k] for every k.

    Each package value v carries (DESIGN §6) an error ≤ abs_tol·max(1, |v|) and, where
    |v| > 1e-290, ≤ rel_tol·|v|; the check allows exactly the sum of those, propagated.
    """
    lhs = np.asarray(lhs, dtype=np.float64)
    rhs = np.zeros_like(lhs)
    abs_allow = abs_tol * np.maximum(1.0, np.abs(lhs))
    rel_allow = rel_tol * np.abs(lhs)
    representable = np.abs(lhs) > ref.REPRESENTABLE
    for c, v in terms:
        c = np.broadcast_to(np.asarray(c, dtype=np.float64), lhs.shape)
        v = np.asarray(v, dtype=np.float64)
        rhs += c * v
        abs_allow += np.abs(c) * abs_tol * np.maximum(1.0, np.abs(v))
        rel_allow += rel_tol * np.abs(c * v)
        representable &= (v == 0) | (np.abs(v) > ref.REPRESENTABLE)
    assert np.all(np.isfinite(lhs)) and np.all(np.isfinite(rhs)), f"{case}: non-finite values"
    err = np.abs(lhs - rhs)
    ratio_abs = err / abs_allow
    k = int(np.argmax(ratio_abs))
    rel = np.where(representable, err / np.where(rel_allow > 0, rel_allow, 1.0), 0.0)
    kr = int(np.argmax(rel))
    worst_rel = float(err[kr] / max(abs(lhs[kr]), 1e-300)) if representable.any() else float("nan")
    ref.record(family, case, float(err[k] / max(1.0, abs(lhs[k]))), worst_rel)
    assert ratio_abs[k] <= 1.0, (
        f"{case}: identity violated at k={k}: lhs {lhs[k]!r}, rhs {rhs[k]!r}, err {err[k]:.3e} "
        f"> allowed {abs_allow[k]:.3e}"
    )
    assert rel[kr] <= 1.0, (
        f"{case}: identity violated (relative) at k={kr}: lhs {lhs[kr]!r}, rhs {rhs[kr]!r}, "
        f"rel err {worst_rel:.3e}, allowed {rel_allow[kr] / max(abs(lhs[kr]), 1e-300):.3e}"
    )


def shift(v, s):
    """w[k] = v[k + s] (zero outside), for k = 0..len(v)-1-|s| handled by the caller's slicing."""
    out = np.zeros_like(v)
    if s > 0:
        out[:-s] = v[s:]
    elif s < 0:
        out[-s:] = v[:s]
    else:
        out[:] = v
    return out


KS = np.arange(K + 1, dtype=np.float64)

# ------------------------------------------------------------------------- derivative identity


@pytest.mark.parametrize("q", [1.0, 2.7], ids=lambda q: f"q{q:g}")
def test_derivative_step_is_relu_prime(q):
    # d/dz relu(√q z) = √q step(z):  μ_k(step) = √(k+1) μ_{k+1}(relu_q) / √q
    step = mu("step", K, q)
    relu = mu("relu", K + 1, q)
    check_identity(f"step vs relu'-q{q:g}", "identity: derivative", step,
                   [(np.sqrt(KS + 1) / math.sqrt(q), relu[1:])])


@pytest.mark.parametrize("a,q", [(1.0, 1.0), (2.5, 0.5), (0.3, 2.7)], ids=lambda v: f"{v:g}")
def test_derivative_erf_is_gaussian(a, q):
    # d/dz erf(a√q z) = a√q (2/√π) exp(−a² q z²) = a√q (2/√π) gaussian(√(2a²q) z)
    erf = mu("erf", K + 1, q, scale=a)
    gauss = mu("gaussian", K, 2 * a * a * q)
    check_identity(f"erf'(scale={a:g})-q{q:g}", "identity: derivative",
                   np.sqrt(KS + 1) * erf[1:], [(a * math.sqrt(q) * 2 / math.sqrt(math.pi), gauss)])


# ------------------------------------------------------------------------- multiplication by x


@pytest.mark.parametrize("q", [1.0, 0.5, 2.7], ids=lambda q: f"q{q:g}")
def test_gelu_is_x_times_Phi(q):
    # gelu(√q z) = √q z Φ(√q z),  Φ(√q z) = (1 + erf(√(q/2) z)) / 2
    erf = mu("erf", K + 1, q, scale=1 / math.sqrt(2))
    gelu = mu("gelu", K, q)
    sq = math.sqrt(q)
    const = np.zeros(K + 1)
    const[1] = 1.0  # √k μ_{k-1} of the constant 1/2 lands at k = 1
    check_identity(f"gelu-q{q:g}", "identity: multiplication by x", gelu, [
        (sq * np.sqrt(KS) / 2, shift(erf, -1)[: K + 1]),
        (sq * np.sqrt(KS + 1) / 2, erf[1:]),
        (sq / 2, const),
    ])


@pytest.mark.parametrize("q", [1.0, 2.7], ids=lambda q: f"q{q:g}")
def test_relu_is_x_times_step(q):
    step = mu("step", K + 1, q)
    relu = mu("relu", K, q)
    sq = math.sqrt(q)
    check_identity(f"relu=x*step-q{q:g}", "identity: multiplication by x", relu, [
        (sq * np.sqrt(KS), shift(step, -1)[: K + 1]),
        (sq * np.sqrt(KS + 1), step[1:]),
    ])


@pytest.mark.parametrize("n,q", [(3, 1.0), (6, 2.7)], ids=lambda v: f"{v:g}")
def test_monomial_times_x(n, q):
    Kp = 40
    lo = mu("monomial", Kp + 1, q, n=n)
    hi = mu("monomial", Kp, q, n=n + 1)
    ks = np.arange(Kp + 1, dtype=np.float64)
    sq = math.sqrt(q)
    check_identity(f"x*x^{n}-q{q:g}", "identity: multiplication by x", hi, [
        (sq * np.sqrt(ks), shift(lo, -1)[: Kp + 1]),
        (sq * np.sqrt(ks + 1), lo[1:]),
    ])


# ------------------------------------------------------------------------- linearity


@pytest.mark.parametrize("q", [1.0, 2.7], ids=lambda q: f"q{q:g}")
def test_abs_is_two_relu_minus_x(q):
    e1 = np.zeros(K + 1)
    e1[1] = 1.0
    check_identity(f"abs-q{q:g}", "identity: linearity", mu("abs", K, q),
                   [(2.0, mu("relu", K, q)), (-math.sqrt(q), e1)])


@pytest.mark.parametrize("slope,q", [(0.01, 1.0), (0.2, 2.7), (0.7, 0.5)], ids=lambda v: f"{v:g}")
def test_leaky_relu_is_linear_combination(slope, q):
    e1 = np.zeros(K + 1)
    e1[1] = 1.0
    check_identity(f"leaky(slope={slope:g})-q{q:g}", "identity: linearity", mu("leaky_relu", K, q, slope=slope),
                   [(1 - slope, mu("relu", K, q)), (slope * math.sqrt(q), e1)])


@pytest.mark.parametrize("q", [1.0, 2.7], ids=lambda q: f"q{q:g}")
def test_polynomial_is_sum_of_monomials(q):
    coeffs = (0.5, -1.0, 0.25, 0.0, 0.1, -0.02)
    Kp = 30
    check_identity(f"polynomial-q{q:g}", "identity: linearity", mu("polynomial", Kp, q, coeffs=coeffs),
                   [(c, mu("monomial", Kp, q, n=i)) for i, c in enumerate(coeffs) if c])


# ------------------------------------------------------------------------- Parseval


K_TAIL = 1500
REF_TOL = 2e-15  # accuracy of the float64 composite reference (validated in test_hermite_quadrature.py)
_TAILS: dict = {}


def reference_tail(name, params, q, degree):
    """(Σ_{degree<k≤1500} μ_k², Σ k μ_k², and their error allowances) from the independent float64
    composite Gauss–Legendre reference, for smooth activations whose coefficients beyond the
    specified degree 200 are not negligible (tanh at q = 2.7: |μ_199| ≈ 6e-7). The reference
    is checked here against a finer rule, and its own tail beyond 1200 must be negligible."""
    key = (name, tuple(params.items()), q)
    if key not in _TAILS:
        f = lambda x: ref.NP_ACTIVATIONS[name](x, **params)  # noqa: E731
        c = ref.composite_gl_coefficients(f, K_TAIL, q)
        finer = ref.composite_gl_coefficients(f, K_TAIL, q, half_range=45.0, width=0.2, npts=48)
        diff = float(np.max(np.abs(c - finer)))
        assert diff <= REF_TOL, f"{name} q={q}: composite reference not converged to k={K_TAIL} ({diff:.1e})"
        ks = np.arange(K_TAIL + 1, dtype=np.float64)
        assert float(np.sum(ks[1200:] * c[1200:] ** 2)) < 1e-24, f"{name} q={q}: tail beyond 1500 not negligible"
        _TAILS[key] = (c, ks)
    c, ks = _TAILS[key]
    t = c[degree + 1:]
    kt = ks[degree + 1:]
    return (float(np.sum(t * t)), float(np.sum(kt * t * t)),
            float(np.sum(2 * np.abs(t) * REF_TOL)), float(np.sum(2 * kt * np.abs(t) * REF_TOL)))


FAST_DECAY = [  # (name, params, q, degree, per-coefficient target)
    ("erf", {}, 1.0, K, CF_ABS),
    ("erf", {"scale": 2.5}, 0.5, K, CF_ABS),
    ("sin", {"freq": 2.0}, 2.7, K, CF_ABS),
    ("cos", {"freq": 0.7}, 0.5, K, CF_ABS),
    ("exp", {"scale": 1.5}, 2.7, K, CF_ABS),
    ("gaussian", {}, 2.7, K, CF_ABS),
    ("gaussian_pdf", {}, 1.0, K, CF_ABS),
    ("gelu", {}, 1.0, K, CF_ABS),
    ("gelu", {}, 2.7, K, CF_ABS),
    ("identity", {}, 2.7, K, CF_ABS),
    ("hermite", {"n": 5}, 2.7, K, CF_ABS),
    ("polynomial", {"coeffs": (0.5, -1.0, 0.25, 0.0, 0.1)}, 2.7, K, CF_ABS),
    ("tanh", {}, 1.0, 200, QUAD_ABS),
    ("tanh", {}, 2.7, 200, QUAD_ABS),
    ("sigmoid", {}, 1.0, 200, QUAD_ABS),
    ("softplus", {}, 1.0, 200, QUAD_ABS),
    ("silu", {}, 1.0, 200, QUAD_ABS),
    ("mish", {}, 1.0, 200, QUAD_ABS),
]


def fd_id(c):
    name, params, q, degree, _ = c
    inner = ",".join(f"{k}={v}" for k, v in params.items())
    return (f"{name}({inner})" if inner else name) + f"-q{q:g}-K{degree}"


@pytest.mark.parametrize("name,params,q,degree,tol", FAST_DECAY, ids=[fd_id(c) for c in FAST_DECAY])
def test_parseval(name, params, q, degree, tol):
    res = ntkrs.hermite_coefficients_with_error(name, degree, q=q, **params)
    m = res.mu
    total = float(np.sum(m * m))
    allow = float(np.sum(2 * np.abs(m) * tol * np.maximum(1.0, np.abs(m))))
    if tol == QUAD_ABS:
        # smooth quadrature: the package is specified to k ≤ 200; the tail beyond comes from
        # the independent composite reference
        tail, _, tail_allow, _ = reference_tail(name, params, q, degree)
        total += tail
        allow += tail_allow
    # (closed forms at K = 2000: the tail is below 1e-40, geometric or faster decay)
    m2 = res.second_moment
    m2_act = ntkrs.get_activation(name, **params).second_moment(q)
    # propagated: each μ_k off by ≤ tol·max(1, |μ_k|), E[φ²] by ≤ MOMENT_REL·E[φ²]
    allow += MOMENT_REL * m2
    err = max(abs(total - m2), abs(total - m2_act))
    ref.record("identity: Parseval (rel to E[phi^2])", fd_id((name, params, q, degree, tol)), err / m2)
    assert err <= allow, (
        f"{name} q={q}: sum mu_k^2 = {total!r}, second_moment {m2!r} / {m2_act!r}, err {err:.3e} > {allow:.3e}"
    )
    # tail_mass = (E[φ²] − Σ μ_k²)⁺ + 2·error·Σ|μ_k| + …: an upper estimate of the true tail
    # (`total` − Σ μ_k²), sharp to within `allow` when the error estimate is within the target
    true_tail = total - float(np.sum(m * m))
    assert true_tail - allow <= res.tail_mass <= true_tail + 2 * allow, (
        f"{name} q={q}: tail_mass {res.tail_mass!r}, true tail {true_tail!r} (error {res.error!r}, allowed {allow:.2e})"
    )


SLOW_DECAY = [  # kinked closed forms: the tail at K is not negligible, tail_mass must bound it
    ("relu", {}, 1.0),
    ("relu", {}, 2.7),
    ("leaky_relu", {"slope": 0.2}, 2.7),
    ("abs", {}, 1.0),
    ("step", {}, 1.0),
    ("hardtanh", {}, 0.5),
    ("relu6", {}, 1.0),
]


@pytest.mark.parametrize("name,params,q", SLOW_DECAY,
                         ids=[f"{n}-q{q:g}" for n, _, q in SLOW_DECAY])
@pytest.mark.parametrize("degree", [200, K], ids=lambda d: f"K{d}")
def test_tail_mass_bounds_the_true_tail(name, params, q, degree):
    # true tail = E[φ²] − Σ_{k≤K} μ_k², both from mpmath (quadrature and the exact closed form)
    with mp.workdps(ref.DPS):
        m2 = ref.mp_quad_cached(name, 30, q, params)["second_moment"]
        coeffs = ref.mp_closed_form(name, degree, q, params)
        true_tail = float(m2 - mp.fsum(c * c for c in coeffs))
    res = ntkrs.hermite_coefficients_with_error(name, degree, q=q, **params)
    case = f"{name}-q{q:g}-K{degree}"
    ref.record("identity: tail_mass - true tail", case, res.tail_mass - true_tail)
    assert true_tail > 0
    assert res.tail_mass >= true_tail - CF_ABS, (
        f"{case}: tail_mass {res.tail_mass!r} below the true tail {true_tail!r}"
    )
    # an upper estimate, but a sharp one for a closed form: its excess is ~2·error·Σ|μ_k|
    assert res.tail_mass <= true_tail + 1e-12, (
        f"{case}: tail_mass {res.tail_mass!r} far above the true tail {true_tail!r} (error {res.error!r})"
    )


# ------------------------------------------------------------------------- Σ k μ_k² / q = E[φ'²]


DERIV = [
    ("erf", {}, 1.0, K, CF_ABS),
    ("erf", {"scale": 2.5}, 0.5, K, CF_ABS),
    ("sin", {"freq": 2.0}, 2.7, K, CF_ABS),
    ("cos", {}, 1.0, K, CF_ABS),
    ("exp", {"scale": 1.5}, 2.7, K, CF_ABS),
    ("gaussian", {}, 2.7, K, CF_ABS),
    ("gelu", {}, 1.0, K, CF_ABS),
    ("gelu", {}, 0.5, K, CF_ABS),
    ("hermite", {"n": 5}, 2.7, K, CF_ABS),
    ("monomial", {"n": 7}, 2.7, K, CF_ABS),
    ("tanh", {}, 1.0, 200, QUAD_ABS),
    ("tanh", {}, 2.7, 200, QUAD_ABS),
    ("sigmoid", {}, 1.0, 200, QUAD_ABS),
    ("softplus", {}, 0.5, 200, QUAD_ABS),
    ("silu", {}, 1.0, 200, QUAD_ABS),
    ("mish", {}, 2.7, 200, QUAD_ABS),
]


@pytest.mark.parametrize("name,params,q,degree,tol", DERIV, ids=[fd_id(c) for c in DERIV])
def test_derivative_second_moment_is_weighted_sum(name, params, q, degree, tol):
    m = mu(name, degree, q, **params)
    ks = np.arange(degree + 1, dtype=np.float64)
    total = float(np.sum(ks * m * m))
    allow = float(np.sum(2 * ks * np.abs(m) * tol * np.maximum(1.0, np.abs(m))))
    if tol == QUAD_ABS:  # the tail beyond the specified degree 200, from the reference
        _, ktail, _, ktail_allow = reference_tail(name, params, q, degree)
        total += ktail
        allow += ktail_allow
    total /= q
    d2 = ntkrs.get_activation(name, **params).derivative_second_moment(q)
    allow = allow / q + MOMENT_REL * max(1.0, d2)
    err = abs(total - d2)
    ref.record("identity: sum k mu_k^2/q = E[phi'^2] (rel)", fd_id((name, params, q, degree, tol)), err / d2)
    assert err <= allow, f"{name} q={q}: sum k mu_k^2 / q = {total!r}, E[phi'^2] = {d2!r}, err {err:.3e} > {allow:.3e}"


# ------------------------------------------------------------------------- degree 2000 everywhere

BUILTINS = [
    ("relu", {}), ("leaky_relu", {}), ("abs", {}), ("step", {}), ("identity", {}), ("erf", {"scale": 3.0}),
    ("gelu", {}), ("hardtanh", {}), ("relu6", {}), ("sin", {"freq": 4.0}), ("cos", {"freq": 4.0}),
    ("exp", {"scale": 2.0}), ("gaussian", {}), ("gaussian_pdf", {}), ("monomial", {"n": 9}),
    ("hermite", {"n": 60}), ("polynomial", {"coeffs": (1.0, -2.0, 0.5)}),
    ("tanh", {}), ("sigmoid", {}), ("softplus", {}), ("silu", {}), ("mish", {}), ("elu", {"alpha": 1.5}), ("selu", {}),
]


@pytest.mark.parametrize("q", [0.5, 1.0, 2.7], ids=lambda q: f"q{q:g}")
@pytest.mark.parametrize("name,params", BUILTINS, ids=[b[0] for b in BUILTINS])
def test_degree_2000_is_finite_without_overflow(name, params, q):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow / invalid-value RuntimeWarning either
        res = ntkrs.hermite_coefficients_with_error(name, K, q=q, **params)
    m = res.mu
    assert m.shape == (K + 1,) and m.dtype == np.float64
    bad = ~np.isfinite(m)
    assert not bad.any(), f"{name} q={q}: non-finite at k={int(np.argmax(bad))}: {m[bad][0]!r}"
    assert math.isfinite(res.second_moment) and res.second_moment > 0
    assert math.isfinite(res.error) and res.error >= 0
    # Bessel's inequality: Σ_{k≤K} μ_k² ≤ E[φ²] (up to the coefficients' own error)
    total = float(np.dot(m, m))
    slack = 2 * float(np.sum(np.abs(m))) * max(res.error, QUAD_ABS) + MOMENT_REL * res.second_moment
    assert total <= res.second_moment + slack, (
        f"{name} q={q}: sum mu_k^2 = {total!r} exceeds E[phi^2] = {res.second_moment!r}"
    )


def test_zz_summary():
    """Print the measured worst errors of this module (pytest -s or -rP shows them)."""
    print("\n" + ref.summary([f for f in ref.ERRORS if f.startswith("identity")]))
