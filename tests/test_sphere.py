"""Funk–Hecke spectra on the sphere (DESIGN §1.6) against independent references.

References used here (none of them goes through ntkrs' series or its Funk–Hecke sums):

* the exact ReLU NTK/NNGP written below in mpmath (arc-cosine recursion), integrated at
  30 digits against the normalized Gegenbauer polynomial on ``[0, π]`` in ``θ`` (the
  integrand is analytic in ``θ``):
  ``λ_k = Γ(d/2)/(√π Γ((d−1)/2)) ∫_0^π f(cos θ) P_k^{(d)}(cos θ) sin^{d−2}θ dθ``
  (``d = 3``: ``λ_k = ½ ∫_{−1}^{1} f(t) P_k(t) dt``);
* the same integral in float64 by Gauss–Legendre in ``θ`` with ``net.ntk_at`` (closed-form
  layer recursion) for ``k`` up to 50;
* the Fourier coefficients of ``f(cos θ)`` by numpy's FFT on the circle (``d = 2``);
* the trace identity ``Σ_k N(d,k) λ_k = f(1)`` (and by parity with ``f(−1)``);
* the top eigenvalues / n of a sampled Gram matrix on ``S²``.
"""

from __future__ import annotations

import json
import math

import mpmath as mp
import numpy as np
import pytest
from scipy.special import eval_gegenbauer, eval_legendre

import ntkrs
from ntkrs import cli

# --------------------------------------------------------------------------- references


def relu_kernels_mp(t, depth):
    """(NTK, NNGP) of the ReLU network (He init, no biases) at ρ = t, in mpmath."""
    s = mp.mpf(t)
    th = s
    for _ in range(depth):
        c = min(max(s, mp.mpf(-1)), mp.mpf(1))
        a = mp.acos(c)
        sdot = (mp.pi - a) / mp.pi
        s = (mp.sqrt(1 - c * c) + (mp.pi - a) * c) / mp.pi
        th = s + th * sdot
    return th, s


def gegenbauer_eigenvalue_mp(f, d, k, dps=30):
    """λ_k = ω ∫_0^π f(cos θ) P_k^{(d)}(cos θ) sin^{d−2}θ dθ in mpmath (P_k^{(d)}(1) = 1)."""
    with mp.workdps(dps):
        alpha = mp.mpf(d - 2) / 2
        if d == 3:
            P = lambda x: mp.legendre(k, x)  # noqa: E731
        else:
            c1 = mp.gegenbauer(k, alpha, 1)
            P = lambda x: mp.gegenbauer(k, alpha, x) / c1  # noqa: E731
        pieces = max(2, k // 3 + 2)
        pts = [mp.pi * j / pieces for j in range(pieces + 1)]
        integral = mp.quad(lambda th: f(mp.cos(th)) * P(mp.cos(th)) * mp.sin(th) ** (d - 2), pts,
                           method="gauss-legendre")
        omega = mp.gamma(mp.mpf(d) / 2) / (mp.sqrt(mp.pi) * mp.gamma(mp.mpf(d - 1) / 2))
        return omega * integral


def gegenbauer_eigenvalues_f64(fvals_of_cos, d, kmax, n=800):
    """The same integral in float64: Gauss–Legendre with n nodes in θ ∈ [0, π]."""
    x, w = np.polynomial.legendre.leggauss(n)
    th = 0.5 * np.pi * (x + 1)
    w = 0.5 * np.pi * w
    c = np.cos(th)
    fv = fvals_of_cos(c)
    wt = w * np.sin(th) ** (d - 2)
    omega = math.gamma(d / 2) / (math.sqrt(math.pi) * math.gamma((d - 1) / 2))
    out = []
    for k in range(kmax + 1):
        if d == 3:
            P = eval_legendre(k, c)
        else:
            a = (d - 2) / 2
            P = eval_gegenbauer(k, a, c) / eval_gegenbauer(k, a, 1.0)
        out.append(omega * math.fsum(wt * fv * P))
    return np.array(out)


@pytest.fixture(scope="module")
def relu3():
    return ntkrs.Network("relu", 3)


# --------------------------------------------------------------------------- eigenvalues


@pytest.mark.parametrize("d", [3, 5])
def test_relu_ntk_matches_mpmath_gegenbauer_quadrature(d):
    depth = 2
    net = ntkrs.Network("relu", depth)
    spec = net.sphere_eigenvalues(d, 8)
    for k in (0, 1, 2, 3, 5, 8):
        ref = gegenbauer_eigenvalue_mp(lambda t: relu_kernels_mp(t, depth)[0], d, k)
        got = spec.eigenvalues[k]
        assert abs(got / float(ref) - 1) < 1e-10, (d, k, got, ref)
        assert spec.errors[k] < 1e-9 * got
        # the error estimate covers the actual error
        assert abs(got - float(ref)) <= spec.errors[k] + 4 * np.finfo(float).eps * got


def test_relu_nngp_matches_mpmath_gegenbauer_quadrature():
    net = ntkrs.Network("relu", 3)
    spec = net.sphere_eigenvalues(3, 6, kind="nngp")
    for k in (0, 1, 4, 6):
        ref = gegenbauer_eigenvalue_mp(lambda t: relu_kernels_mp(t, 3)[1], 3, k)
        assert abs(spec.eigenvalues[k] / float(ref) - 1) < 1e-10, k


def test_relu_ntk_k_up_to_50_relative_1e8(relu3):
    """DESIGN §6: relative ≤ 1e-8 for k ≤ 50 (float64 θ-quadrature of the exact kernel)."""
    spec = relu3.sphere_eigenvalues(3, 50)
    ref = gegenbauer_eigenvalues_f64(relu3.ntk_at, 3, 50)
    rel = np.abs(spec.eigenvalues / ref - 1)
    assert rel.max() < 1e-8, (int(rel.argmax()), rel.max())
    assert np.all(spec.errors < 1e-8 * spec.eigenvalues)
    # and one high degree at 30 digits
    ref50 = gegenbauer_eigenvalue_mp(lambda t: relu_kernels_mp(t, 3)[0], 3, 50, dps=20)
    assert abs(spec.eigenvalues[50] / float(ref50) - 1) < 1e-9


def test_monomial_formula_matches_mpmath_integration():
    for d, k, p in [(3, 1, 1), (3, 2, 4), (3, 5, 11), (4, 3, 9), (5, 0, 6), (7, 4, 20), (10, 6, 30)]:
        ref = gegenbauer_eigenvalue_mp(lambda t, p=p: t**p, d, k)
        got = ntkrs.monomial_sphere_eigenvalue(d, k, p)
        assert abs(got / float(ref) - 1) < 1e-12, (d, k, p)
    assert abs(ntkrs.monomial_sphere_eigenvalue(3, 1, 1) - 1 / 3) < 1e-15
    assert ntkrs.monomial_sphere_eigenvalue(3, 2, 5) == 0.0  # wrong parity
    assert ntkrs.monomial_sphere_eigenvalue(3, 6, 4) == 0.0  # p < k
    # closed form, exact gamma functions at 40 digits, large p
    with mp.workdps(40):
        for d, k, p in [(3, 30, 500), (50, 40, 1000), (2, 10, 300)]:
            exact = (mp.gamma(mp.mpf(d) / 2) / mp.sqrt(mp.pi) * mp.mpf(2) ** (-k) * mp.factorial(p)
                     / mp.factorial(p - k) * mp.gamma(mp.mpf(p - k + 1) / 2) / mp.gamma(mp.mpf(p + k + d) / 2))
            got = ntkrs.monomial_sphere_eigenvalue(d, k, p)
            assert abs(got / float(exact) - 1) < 1e-12, (d, k, p)


def test_multiplicities():
    spec = ntkrs.sphere_spectrum([0.0, 1.0], 5, 30, tail_mass=0.0)
    for k in range(31):
        n = ntkrs.sphere_multiplicity(5, k)
        assert spec.multiplicities[k] == n
        assert abs(spec.log_multiplicities[k] - math.log(n)) < 1e-13 * max(1.0, math.log(n))
    assert ntkrs.sphere_multiplicity(3, 7) == 15
    assert ntkrs.sphere_multiplicity(2, 7) == 2 and ntkrs.sphere_multiplicity(2, 0) == 1
    # large: float64 value and log agree with exact Python integers
    big = ntkrs.Network("relu", 1).sphere_eigenvalues(50, 60)
    n_exact = ntkrs.sphere_multiplicity(50, 60)
    assert abs(big.multiplicities[60] / n_exact - 1) < 1e-13
    assert abs(big.log_multiplicities[60] - math.log(n_exact)) < 1e-13 * math.log(n_exact)


def test_circle_matches_fft_fourier_coefficients(relu3):
    """d = 2: λ_k are the Fourier coefficients of f(cos θ) (N = 2 for k ≥ 1)."""
    spec = relu3.sphere_eigenvalues(2, 30)
    n = 2**20
    theta = 2 * np.pi * np.arange(n) / n
    fourier = np.fft.rfft(relu3.ntk_at(np.cos(theta))).real / n
    # aliasing error of the FFT ≈ Σ_j λ_{jn±k} ~ 3/n² (λ_k ~ k^-2), far below 1e-9 here
    rel = np.abs(fourier[:31] / spec.eigenvalues - 1)
    assert rel.max() < 5e-9, rel.max()
    assert np.all(spec.multiplicities[1:] == 2) and spec.multiplicities[0] == 1


# --------------------------------------------------------------------------- identities


def test_trace_identity_exact_for_polynomial():
    coeffs = [0.5, 0.0, 0.25, 1.0, 0.0, 0.125, 2.0]  # f(ρ) = Σ c_p ρ^p, degree 6
    f1 = sum(coeffs)
    fm1 = sum(c * (-1) ** p for p, c in enumerate(coeffs))
    for d in (2, 3, 4, 11):
        spec = ntkrs.sphere_spectrum(coeffs, d, 8, tail_mass=0.0)
        chk = spec.check_sum()
        assert abs(chk.total - f1) < 1e-14 * f1
        assert abs(chk.even - (f1 + fm1) / 2) < 1e-14 and abs(chk.odd - (f1 - fm1) / 2) < 1e-14
        assert spec.eigenvalues[7] == 0.0 and spec.eigenvalues[8] == 0.0
        assert all(f["kind"] == "exact" for f in spec.tail_fits)


@pytest.mark.parametrize("act", ["exp", "gelu"])
def test_trace_identity_fast_decaying_network(act):
    net = ntkrs.Network(act, 2)
    spec = net.sphere_eigenvalues(3, 40)
    chk = spec.check_sum()
    assert abs(chk.relative) < 1e-12, chk
    assert abs(chk.even - chk.even_target) < 1e-12 * chk.f_at_one
    assert abs(chk.odd - chk.odd_target) < 1e-12 * chk.f_at_one
    assert chk.f_at_one == pytest.approx(net.ntk_at_one(), rel=1e-15)


def test_trace_identity_relu_tail_is_spectral(relu3):
    """ReLU NTK on S²: N λ_k ~ 2c k^-2, so Σ_{k≤K} N λ_k misses ~ 2c/K of f(1) = 4."""
    s25 = relu3.sphere_eigenvalues(3, 25).check_sum()
    s50 = relu3.sphere_eigenvalues(3, 50).check_sum()
    assert s50.f_at_one == 4.0
    assert 0 < s50.missing < s25.missing
    assert s50.missing * 50 == pytest.approx(s25.missing * 25, rel=0.1)
    assert s50.error < 1e-9


def test_odd_kernel_even_eigenvalues_vanish_within_error():
    """erf is odd, so its NNGP is an odd function of ρ: λ_k = 0 for even k. The computed
    values are round-off of the coefficients, and the error estimate says so."""
    net = ntkrs.Network("erf(scale=2)", 2)
    spec = net.sphere_eigenvalues(10, 8, kind="nngp")
    even = spec.eigenvalues[0::2]
    assert np.all(even <= spec.errors[0::2])
    assert np.all(even < 1e-15 * spec.f_at_one)
    odd = spec.eigenvalues[1::2]
    assert np.all(spec.errors[1::2] < 1e-8 * odd)
    chk = spec.check_sum()
    assert abs(chk.even_target) < 1e-15 and chk.even < 1e-14


# --------------------------------------------------------------------------- decay


def test_relu_decay_exponents(relu3):
    spec = relu3.sphere_eigenvalues(3, 50)
    s, predicted = spec.fit_decay(20, 50)
    assert abs(s - 3.0) < 0.15, s
    assert predicted == pytest.approx(3.0, abs=1e-6)
    for f in spec.tail_fits:
        assert f["kind"] == "power_law" and f["exponent"] == pytest.approx(1.5, abs=1e-6)
    nngp = relu3.sphere_eigenvalues(3, 50, kind="nngp")
    s2, pred2 = nngp.fit_decay(20, 50)
    assert pred2 == pytest.approx(5.0, abs=1e-5)
    assert abs(s2 - 5.0) < 0.3, s2


def test_explicit_degree_agrees_with_default(relu3):
    a = relu3.sphere_eigenvalues(3, 30)
    b = relu3.sphere_eigenvalues(3, 30, degree=40_000)
    assert b.series_degree == 40_000
    np.testing.assert_allclose(a.eigenvalues, b.eigenvalues, rtol=1e-10)
    # more of λ_30 sits beyond P at the lower degree
    assert a.tails[30] > b.tails[30] > 0
    # a low degree (P = 500 < the peak p*(50) = 1325 of λ_50(ρ^p)) still meets 1e-8 for
    # k ≤ 50, and the error estimates cover the differences
    c = relu3.sphere_eigenvalues(3, 50, degree=500)
    d = relu3.sphere_eigenvalues(3, 50)
    assert np.max(np.abs(c.eigenvalues / d.eigenvalues - 1)) < 1e-8
    assert np.all(np.abs(c.eigenvalues - d.eigenvalues) <= c.errors + d.errors)


# --------------------------------------------------------------------------- by index vs samples


def test_by_index_matches_sampled_gram(relu3):
    n = 3000
    X = ntkrs.sample_sphere(n, 3, seed=7)
    top = ntkrs.eigsh(relu3.ntk(X), 16) / n
    spec = relu3.sphere_eigenvalues(3, 6)
    ref = spec.by_index(16)
    # multiplets k = 0, 1, 2, 3 have sizes 1, 3, 5, 7
    assert np.all(np.diff(ref) <= 0)
    assert list(ref[[0, 1, 4, 9]]) == list(spec.eigenvalues[:4])
    sl = [slice(0, 1), slice(1, 4), slice(4, 9), slice(9, 16)]
    for s in sl:
        assert np.mean(top[s]) == pytest.approx(np.mean(ref[s]), rel=0.05)
    assert np.max(np.abs(top / ref - 1)) < 0.15
    # the sampled λ_1 (k = 0) is a ~1/sqrt(n) estimate
    assert abs(top[0] / ref[0] - 1) < 0.02


def test_by_index_bounds(relu3):
    spec = relu3.sphere_eigenvalues(3, 3)  # 1 + 3 + 5 + 7 = 16 available
    assert spec.by_index(16).shape == (16,)
    assert spec.by_index(0).shape == (0,)
    with pytest.raises(ntkrs.InvalidInputError):
        spec.by_index(17)


# --------------------------------------------------------------------------- bad input


def test_bad_input(relu3):
    for dim in (1, 0, -3):
        with pytest.raises(ntkrs.InvalidInputError):
            relu3.sphere_eigenvalues(dim, 5)
    for k in (-1, 10**9):
        with pytest.raises(ntkrs.InvalidInputError):
            relu3.sphere_eigenvalues(3, k)
    with pytest.raises(ntkrs.InvalidInputError):  # needs a series degree beyond the engine's limit
        relu3.sphere_eigenvalues(3, 5000)
    with pytest.raises(ntkrs.InvalidInputError):
        relu3.sphere_eigenvalues(3, 20, degree=50)  # below the tail model's minimum
    with pytest.raises(ntkrs.InvalidInputError):
        relu3.sphere_eigenvalues(3, 5, kind="gram")
    with pytest.raises(ntkrs.InputTypeError):
        relu3.sphere_eigenvalues("3", 5)
    with pytest.raises(ntkrs.InputTypeError):
        relu3.sphere_eigenvalues(3, 2.5)
    with pytest.raises(ntkrs.InvalidInputError):
        ntkrs.sphere_spectrum([1.0, -0.5], 3, 1, tail_mass=0.0)
    with pytest.raises(ntkrs.InvalidInputError):
        ntkrs.sphere_spectrum([1.0, np.nan], 3, 1, tail_mass=0.0)
    with pytest.raises(ntkrs.InvalidInputError):
        ntkrs.sphere_spectrum([1.0, 0.5], 3, 1)  # no tail mass: degree 1 is far too low
    spec = relu3.sphere_eigenvalues(3, 10)
    with pytest.raises(ntkrs.InvalidInputError):
        spec.fit_decay(5, 11)
    with pytest.raises(ntkrs.InvalidInputError):
        spec.fit_decay(8, 4)


# --------------------------------------------------------------------------- CLI


def test_cli_sphere_table_and_json(capsys, tmp_path):
    assert cli.main(["sphere", "relu", "--depth", "3", "--dim", "3", "--max-degree", "12", "-q"]) == 0
    out = capsys.readouterr().out
    assert "N(d,k)" in out and "fitted decay" in out and "predicted" in out
    row = next(line for line in out.splitlines() if line.startswith("2 "))
    assert row.split()[2] == "5"

    assert cli.main(["sphere", "relu", "--depth", "3", "--dim", "3", "--max-degree", "12", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    spec = ntkrs.Network("relu", 3).sphere_eigenvalues(3, 12)
    np.testing.assert_allclose(data["eigenvalues"], spec.eigenvalues, rtol=1e-15)
    assert data["multiplicities"][:3] == [1, 3, 5]
    assert data["predicted_exponent"] == pytest.approx(3.0, abs=1e-6)

    png = tmp_path / "sphere.png"
    pytest.importorskip("matplotlib")
    assert cli.main(["sphere", "relu", "-L", "2", "-d", "4", "-K", "20", "--plot", str(png), "-q"]) == 0
    capsys.readouterr()
    assert png.stat().st_size > 1000


def test_cli_sphere_bad_dim(capsys):
    assert cli.main(["sphere", "relu", "--depth", "2", "--dim", "1", "--max-degree", "5"]) == 2
    assert "dim" in capsys.readouterr().err
