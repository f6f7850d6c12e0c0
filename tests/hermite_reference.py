"""Independent reference values for the Hermite-coefficient accuracy tests
(test_hermite_closed_forms.py, test_hermite_quadrature.py, test_hermite_identities.py).

Nothing here calls ntkrs: every reference is computed from scratch, either

* in mpmath at high precision (composite Gauss–Legendre at ``dps = 30`` split at the kinks, the
  closed forms of DESIGN §1.2 with exact factorials, exact integration by parts for piecewise-
  linear functions), or
* in float64 with a scheme different from the package's (composite Gauss–Legendre, panels of
  width 0.25 on [-50, 50], 40 points per panel, the Gaussian density folded into the weights),
  itself validated against mpmath in the tests.

Conventions (DESIGN §1.2): ``Z ~ N(0, 1)``, ``h_k = He_k / √(k!)``, ``μ_k(φ_q) = E[φ(√q Z) h_k(Z)]``.
"""

from __future__ import annotations

import math
from typing import Callable, Iterable, Sequence

import mpmath as mp
import numpy as np
from mpmath.calculus.quadrature import GaussLegendre
from scipy.special import roots_legendre

DPS = 30

#: values below this are not representable as normal float64 with a meaningful relative error
REPRESENTABLE = 1e-290

# ---------------------------------------------------------------------------- error bookkeeping

#: family -> list of (case id, max abs error, max rel error or nan); filled by the tests and
#: printed by the summary tests (run pytest with -s or -rP to see them).
ERRORS: dict[str, list[tuple[str, float, float]]] = {}


def record(family: str, case: str, abs_err: float, rel_err: float = float("nan")) -> None:
    ERRORS.setdefault(family, []).append((case, float(abs_err), float(rel_err)))


def summary(families: Iterable[str] | None = None) -> str:
    lines = []
    for fam in sorted(ERRORS) if families is None else families:
        rows = ERRORS.get(fam, [])
        if not rows:
            continue
        abss = [r for r in rows if not math.isnan(r[1])]
        rels = [r for r in rows if not math.isnan(r[2])]
        line = f"{fam:<42s} n={len(rows):3d}"
        if abss:
            worst_abs = max(abss, key=lambda r: r[1])
            line += f"  max abs {worst_abs[1]:.2e} ({worst_abs[0]})"
        if rels:
            worst_rel = max(rels, key=lambda r: r[2])
            line += f"  max rel {worst_rel[2]:.2e} ({worst_rel[0]})"
        lines.append(line)
    return "\n".join(lines)


def to_float(values: Sequence) -> np.ndarray:
    return np.array([float(v) for v in values], dtype=np.float64)


class Comparison:
    """Entrywise comparison of a package vector with a reference.

    ``abs``: max over k of |got − ref| / max(1, |ref|) — an absolute error for coefficients of
    order one (the usual case); for |ref| > 1 (e.g. monomials, exp at a large scale) float64 can
    only hold a relative accuracy, so there it is the relative error.

    ``rel``: max over k with |ref_k| > rel_floor of |got − ref| / max(|ref_k|, scale_k). Without
    ``scale`` this is the plain pointwise relative error. ``scale`` (the magnitude of the terms
    whose cancellation forms μ_k, see :func:`mp_piecewise_linear_scale`) is given only for
    oscillating sequences, whose accidental near-zeros no float64 algorithm resolves to a
    relative 1e-12 of their own size.
    ``rel_pointwise``: the plain pointwise relative error (reported in the summary).
    """

    def __init__(self, got, ref, rel_floor: float = REPRESENTABLE, scale=None) -> None:
        self.got = np.asarray(got, dtype=np.float64)
        self.ref = np.asarray(ref, dtype=np.float64)
        assert self.got.shape == self.ref.shape, f"shape {self.got.shape} != reference {self.ref.shape}"
        self.finite = bool(np.all(np.isfinite(self.got)))
        err = np.abs(self.got - self.ref)
        mag = np.abs(self.ref)
        scaled = err / np.maximum(1.0, mag)
        self.k_abs = int(np.argmax(scaled))
        self.abs = float(scaled[self.k_abs])
        denom = mag if scale is None else np.maximum(mag, np.asarray(scale, dtype=np.float64))
        self.scaled_at = denom > mag
        mask = mag > rel_floor
        rel = np.zeros_like(err)
        rel[mask] = err[mask] / denom[mask]
        pointwise = np.zeros_like(err)
        pointwise[mask] = err[mask] / mag[mask]
        self.k_rel = int(np.argmax(rel)) if mask.any() else -1
        self.rel = float(rel[self.k_rel]) if mask.any() else 0.0
        self.k_rel_pointwise = int(np.argmax(pointwise)) if mask.any() else -1
        self.rel_pointwise = float(pointwise[self.k_rel_pointwise]) if mask.any() else 0.0

    def _at(self, k: int) -> str:
        return f"k={k} (got {self.got[k]!r}, ref {self.ref[k]!r})"

    def message(self, case: str) -> str:
        if not self.finite:
            bad = int(np.argmax(~np.isfinite(self.got)))
            return f"{case}: non-finite coefficient at k={bad}: {self.got[bad]!r}"
        msg = f"{case}: worst abs err {self.abs:.3e} at {self._at(self.k_abs)}"
        if self.k_rel >= 0:
            msg += f"; worst rel err {self.rel:.3e} at {self._at(self.k_rel)}"
            if self.scaled_at[self.k_rel]:
                msg += " (a near-zero of the oscillation: relative to the local amplitude)"
            if self.rel_pointwise > self.rel:
                msg += f"; pointwise rel err {self.rel_pointwise:.3e} at {self._at(self.k_rel_pointwise)}"
        return msg

    def check(self, case: str, abs_tol: float, rel_tol: float | None = None, family: str | None = None) -> None:
        """Record the errors under ``family`` (for the summary), then assert the tolerances."""
        if family is not None:
            record(family, case, self.abs if self.finite else float("inf"),
                   self.rel if rel_tol is not None else float("nan"))
            if rel_tol is not None and self.rel_pointwise > self.rel:
                record(family + " [pointwise rel at near-zeros]", case, float("nan"), self.rel_pointwise)
        assert self.finite, self.message(case)
        assert self.abs <= abs_tol, self.message(case) + f"  [abs tol {abs_tol:.0e}]"
        if rel_tol is not None:
            assert self.rel <= rel_tol, self.message(case) + f"  [rel tol {rel_tol:.0e}]"


# ---------------------------------------------------------------------------- mpmath: h_k


_SQRT_CACHE: dict[int, tuple] = {}


def _sqrts(K: int) -> tuple:
    """([√j], [1/√j]) for j = 0..K at the current precision (cached per precision)."""
    tab = _SQRT_CACHE.get(mp.mp.prec)
    if tab is None or len(tab[0]) <= K:
        s = [mp.sqrt(j) for j in range(max(K + 1, 64))]
        tab = (s, [mp.mpf(0)] + [1 / v for v in s[1:]])
        _SQRT_CACHE[mp.mp.prec] = tab
    return tab


def mp_hermite_all(x, K: int) -> list:
    """[h_0(x), …, h_K(x)] by the normalized three-term recurrence
    h_{j+1} = (x h_j − √j h_{j−1}) / √(j+1), in mpmath."""
    s, r = _sqrts(K + 1)
    x = mp.mpf(x)
    h = [mp.mpf(1), x]
    for j in range(1, K):
        h.append((x * h[j] - s[j] * h[j - 1]) * r[j + 1])
    return h[: K + 1]


# ---------------------------------------------------------------------------- mpmath activations
#
# name -> (phi(x, **params), phi'(x, **params) or None, kinks(**params))

SELU_ALPHA = mp.mpf("1.6732632423543772848170429916717")
SELU_SCALE = mp.mpf("1.0507009873554804934193349852946")


def _poly(x, coeffs):
    acc = mp.mpf(0)
    for c in reversed(coeffs):
        acc = acc * x + c
    return acc


def _dpoly(x, coeffs):
    return _poly(x, [i * c for i, c in enumerate(coeffs)][1:]) if len(coeffs) > 1 else mp.mpf(0)


def _mp_sigmoid(x):
    return 1 / (1 + mp.exp(-x))


def _mp_softplus(x):
    return mp.log1p(mp.exp(x)) if x < 0 else x + mp.log1p(mp.exp(-x))


def _mp_hermite_n(x, n):
    return mp_hermite_all(x, max(n, 1))[n]


def _mp_mish(x):
    return x * mp.tanh(_mp_softplus(x))


def _mp_mish_prime(x):
    t = mp.tanh(_mp_softplus(x))
    return t + x * (1 - t * t) * _mp_sigmoid(x)


MP_ACTIVATIONS: dict[str, tuple[Callable, Callable | None, Callable[..., tuple]]] = {
    "relu": (lambda x: max(x, 0), lambda x: mp.mpf(x > 0), lambda: (0,)),
    "leaky_relu": (
        lambda x, slope=0.01: x if x > 0 else slope * x,
        lambda x, slope=0.01: mp.mpf(1) if x > 0 else mp.mpf(slope),
        lambda slope=0.01: (0,),
    ),
    "abs": (lambda x: abs(x), lambda x: mp.sign(x), lambda: (0,)),
    "step": (lambda x: mp.mpf(x > 0), None, lambda: (0,)),
    "identity": (lambda x: x, lambda x: mp.mpf(1), lambda: ()),
    "erf": (
        lambda x, scale=1.0: mp.erf(scale * x),
        lambda x, scale=1.0: 2 * scale / mp.sqrt(mp.pi) * mp.exp(-((scale * x) ** 2)),
        lambda scale=1.0: (),
    ),
    "gelu": (
        lambda x: x * mp.ncdf(x),
        lambda x: mp.ncdf(x) + x * mp.npdf(x),
        lambda: (),
    ),
    "hardtanh": (lambda x: min(max(x, -1), 1), lambda x: mp.mpf(abs(x) < 1), lambda: (-1, 1)),
    "relu6": (lambda x: min(max(x, 0), 6), lambda x: mp.mpf(0 < x < 6), lambda: (0, 6)),
    "sin": (
        lambda x, freq=1.0: mp.sin(freq * x),
        lambda x, freq=1.0: freq * mp.cos(freq * x),
        lambda freq=1.0: (),
    ),
    "cos": (
        lambda x, freq=1.0: mp.cos(freq * x),
        lambda x, freq=1.0: -freq * mp.sin(freq * x),
        lambda freq=1.0: (),
    ),
    "exp": (
        lambda x, scale=1.0: mp.exp(scale * x),
        lambda x, scale=1.0: scale * mp.exp(scale * x),
        lambda scale=1.0: (),
    ),
    "gaussian": (lambda x: mp.exp(-x * x / 2), lambda x: -x * mp.exp(-x * x / 2), lambda: ()),
    "gaussian_pdf": (lambda x: mp.npdf(x), lambda x: -x * mp.npdf(x), lambda: ()),
    "monomial": (
        lambda x, n=2: x**n,
        lambda x, n=2: n * x ** (n - 1) if n > 0 else mp.mpf(0),
        lambda n=2: (),
    ),
    "hermite": (
        lambda x, n=2: _mp_hermite_n(x, n),
        # h_n' = √n h_{n-1}
        lambda x, n=2: mp.sqrt(n) * _mp_hermite_n(x, n - 1) if n > 0 else mp.mpf(0),
        lambda n=2: (),
    ),
    "polynomial": (
        lambda x, coeffs=(0.0, 1.0): _poly(x, [mp.mpf(c) for c in coeffs]),
        lambda x, coeffs=(0.0, 1.0): _dpoly(x, [mp.mpf(c) for c in coeffs]),
        lambda coeffs=(0.0, 1.0): (),
    ),
    "tanh": (lambda x: mp.tanh(x), lambda x: mp.sech(x) ** 2, lambda: ()),
    "sigmoid": (_mp_sigmoid, lambda x: _mp_sigmoid(x) * _mp_sigmoid(-x), lambda: ()),
    "softplus": (_mp_softplus, _mp_sigmoid, lambda: ()),
    "silu": (
        lambda x: x * _mp_sigmoid(x),
        lambda x: _mp_sigmoid(x) + x * _mp_sigmoid(x) * _mp_sigmoid(-x),
        lambda: (),
    ),
    "mish": (_mp_mish, _mp_mish_prime, lambda: ()),
    "elu": (
        lambda x, alpha=1.0: x if x > 0 else alpha * mp.expm1(x),
        lambda x, alpha=1.0: mp.mpf(1) if x > 0 else alpha * mp.exp(x),
        lambda alpha=1.0: (0,),
    ),
    "selu": (
        lambda x: SELU_SCALE * (x if x > 0 else SELU_ALPHA * mp.expm1(x)),
        lambda x: SELU_SCALE * (mp.mpf(1) if x > 0 else SELU_ALPHA * mp.exp(x)),
        lambda: (0,),
    ),
}


def mp_activation(name: str, params: dict):
    """(φ, φ' or None, kinks) with the parameters bound (mpmath functions of one mpf)."""
    f, df, kinks = MP_ACTIVATIONS[name]
    mparams = {k: (tuple(mp.mpf(c) for c in v) if isinstance(v, (tuple, list)) else
                   (v if isinstance(v, int) else mp.mpf(v))) for k, v in params.items()}
    phi = lambda x: f(x, **mparams)  # noqa: E731
    dphi = None if df is None else (lambda x: df(x, **mparams))
    return phi, dphi, tuple(kinks(**params))


# ---------------------------------------------------------------------------- mpmath quadrature

_GL = GaussLegendre(mp.mp)


def _standard_nodes(degree: int, prec: int):
    key = (degree, prec)
    if key not in _GL.standard_cache:
        _GL.standard_cache[key] = _GL.calc_nodes(degree, prec)
    return _GL.standard_cache[key]


def _panels(lo, hi, width, breaks):
    edges = {mp.mpf(lo), mp.mpf(hi)}
    n = int(math.ceil(float((hi - lo) / width)))
    for i in range(1, n):
        edges.add(lo + (hi - lo) * i / n)
    for b in breaks:
        if lo < b < hi:
            edges.add(mp.mpf(b))
    e = sorted(edges)
    return list(zip(e[:-1], e[1:]))


def _gauss_nodes(q, kinks, center, halfwidth, width, degree):
    """Composite Gauss–Legendre nodes/weights (weight × ϕ(z)) in z for ∫ g(√q z) ϕ(z) dz."""
    sq = mp.sqrt(q)
    zk = [mp.mpf(k) / sq for k in kinks]
    nodes = []
    std = _standard_nodes(degree, mp.mp.prec)
    for a, b in _panels(center - halfwidth, center + halfwidth, width, zk):
        m, r = (a + b) / 2, (b - a) / 2
        for x, w in std:
            z = m + r * x
            nodes.append((z, r * w * mp.npdf(z)))
    return nodes


_QUAD_CACHE: dict = {}


def mp_quad_cached(name: str, K: int, q: float = 1.0, params: dict | None = None) -> dict:
    """:func:`mp_quad_coefficients` memoized for the whole test session."""
    key = (name, K, float(q), tuple(sorted((params or {}).items())))
    if key not in _QUAD_CACHE:
        _QUAD_CACHE[key] = mp_quad_coefficients(name, K, q, params)
    return _QUAD_CACHE[key]


def mp_quad_coefficients(
    name: str,
    K: int,
    q: float = 1.0,
    params: dict | None = None,
    *,
    width: float = 2.0,
    degree: int = 5,
    check: bool = True,
) -> dict:
    """High-precision reference: μ_0..μ_K of φ(√q z), E[φ(√qZ)²] and (if φ' is known)
    E[φ'(√qZ)²], by composite Gauss–Legendre in mpmath (dps 30) split at the kinks.

    The window is [c − R, c + R] with R = 14 (+ a shift for exp), beyond which the Gaussian
    factor leaves < 1e-24 for k ≤ 30. With ``check`` the rule is rerun with half the nodes per
    panel and the difference is returned as ``"gl_diff"`` (an error estimate of the coarser rule,
    a large overestimate for the finer one).
    """
    params = dict(params or {})
    with mp.workdps(DPS):
        phi, dphi, kinks = mp_activation(name, params)
        q = mp.mpf(q)
        center, halfwidth = mp.mpf(0), mp.mpf(14)
        if name == "exp":
            # integrand e^{c z − z²/2} peaks at z = c
            c = mp.mpf(params.get("scale", 1.0)) * mp.sqrt(q)
            center, halfwidth = c, mp.mpf(14) + abs(c) / 2
        out = {}
        results = []
        for deg in ([degree, degree - 1] if check else [degree]):
            nodes = _gauss_nodes(q, kinks, center, halfwidth, width, deg)
            sq = mp.sqrt(q)
            fvals = [phi(sq * z) for z, _ in nodes]
            fw = [f * w for f, (_, w) in zip(fvals, nodes)]
            m2 = mp.fdot(fvals, fw)
            d2 = None
            if dphi is not None:
                d2 = mp.fdot([dphi(sq * z) ** 2 for z, _ in nodes], [w for _, w in nodes])
            H = [mp_hermite_all(z, K) for z, _ in nodes]
            mu = [mp.fdot(fw, [h[k] for h in H]) for k in range(K + 1)]
            results.append((mu, m2, d2))
        mu, m2, d2 = results[0]
        out["mu"] = mu
        out["second_moment"] = m2
        out["derivative_second_moment"] = d2 if dphi is not None else None
        if check:
            mu1, m21, _ = results[1]
            out["gl_diff"] = float(max([abs(a - b) for a, b in zip(mu, mu1)] + [abs(m2 - m21)]))
        return out


# ---------------------------------------------------------------------------- mpmath closed forms


def mp_piecewise_linear(pieces: Sequence[tuple], K: int) -> list:
    """μ_0..μ_K of the piecewise-linear g(z) = α_j + β_j z on (a_j, b_j) (a_j, b_j may be ±inf),
    exactly, by integration by parts (in mpmath):

        I_0(a, b) = Φ(b) − Φ(a),   I_m(a, b) = ∫_a^b h_m ϕ = (h_{m−1}(a)ϕ(a) − h_{m−1}(b)ϕ(b)) / √m,
        ∫_a^b z h_k ϕ = √(k+1) I_{k+1} + √k I_{k−1}.
    """
    with mp.workdps(DPS):
        mu = [mp.mpf(0)] * (K + 1)
        for a, b, alpha, beta in pieces:
            a, b, alpha, beta = (mp.mpf(v) for v in (a, b, alpha, beta))
            edge = []
            for t in (a, b):
                if mp.isinf(t):
                    edge.append([mp.mpf(0)] * (K + 2))
                else:
                    edge.append([hv * mp.npdf(t) for hv in mp_hermite_all(t, K + 1)])
            ha, hb = edge
            # Φ(b) − Φ(a), in the tail where it is small (no cancellation against 1)
            I = [mp.ncdf(-a) - mp.ncdf(-b) if a >= 0 else mp.ncdf(b) - mp.ncdf(a)]
            for m in range(1, K + 2):
                I.append((ha[m - 1] - hb[m - 1]) / mp.sqrt(m))
            for k in range(K + 1):
                val = alpha * I[k]
                if beta != 0:
                    val += beta * (mp.sqrt(k + 1) * I[k + 1] + (mp.sqrt(k) * I[k - 1] if k else 0))
                mu[k] += val
        return mu


def _relu_design(K, q):
    """DESIGN §1.2: μ_0 = 1/√(2π), μ_1 = 1/2, even k ≥ 2: (−1)^{k/2+1} (k−3)!! / √(2π k!),
    times √q (positive homogeneity)."""
    sq = mp.sqrt(q)
    mu = [mp.mpf(0)] * (K + 1)
    mu[0] = sq / mp.sqrt(2 * mp.pi)
    if K >= 1:
        mu[1] = sq / 2
    for k in range(2, K + 1, 2):
        mu[k] = sq * (-1) ** (k // 2 + 1) * mp.fac2(k - 3) / mp.sqrt(2 * mp.pi * mp.factorial(k))
    return mu


def _erf_design(K, c):
    """erf(c z), DESIGN §1.2: odd k = 2m+1: (2/√π) c/√s (−1)^m (2c²/s)^m √(k!) / (2^m m! k)."""
    s = 1 + 2 * c * c
    mu = [mp.mpf(0)] * (K + 1)
    for k in range(1, K + 1, 2):
        m = (k - 1) // 2
        mu[k] = (2 / mp.sqrt(mp.pi) * c / mp.sqrt(s) * (-1) ** m * (2 * c * c / s) ** m
                 * mp.sqrt(mp.factorial(k)) / (2**m * mp.factorial(m) * k))
    return mu


def _gaussian_design(K, b):
    """exp(−b z²/2), DESIGN §1.2: even k = 2m: (1+b)^{−1/2} (−b/(1+b))^m √(k!) / (2^m m!)."""
    mu = [mp.mpf(0)] * (K + 1)
    for k in range(0, K + 1, 2):
        m = k // 2
        mu[k] = (1 + b) ** mp.mpf(-0.5) * (-b / (1 + b)) ** m * mp.sqrt(mp.factorial(k)) / (
            2**m * mp.factorial(m))
    return mu


def _monomial_design(K, n, q):
    """(√q z)^n = q^{n/2} Σ_k n! / (2^m m! k!) He_k, m = (n−k)/2."""
    mu = [mp.mpf(0)] * (K + 1)
    for k in range(n % 2, min(n, K) + 1, 2):
        m = (n - k) // 2
        mu[k] = q ** (mp.mpf(n) / 2) * mp.factorial(n) / (2**m * mp.factorial(m) * mp.sqrt(mp.factorial(k)))
    return mu


def mp_closed_form(name: str, K: int, q: float = 1.0, params: dict | None = None) -> list:
    """μ_0..μ_K of φ(√q z) from the closed forms of DESIGN §1.2 (and the exact piecewise-linear
    integration), evaluated in mpmath with exact factorials. Arbitrary exponent range: entries
    far below the float64 range are exact tiny mpf numbers."""
    p = dict(params or {})
    with mp.workdps(DPS):
        q = mp.mpf(q)
        sq = mp.sqrt(q)
        if name == "relu":
            return _relu_design(K, q)
        if name == "leaky_relu":
            a = mp.mpf(p.get("slope", 0.01))
            mu = [(1 - a) * v for v in _relu_design(K, q)]
            if K >= 1:
                mu[1] += a * sq
            return mu
        if name == "abs":
            mu = [2 * v for v in _relu_design(K, q)]
            if K >= 1:
                mu[1] -= sq
            return mu
        if name == "step":
            r = _relu_design(K + 1, mp.mpf(1))
            return [mp.mpf(1) / 2] + [mp.sqrt(k + 1) * r[k + 1] for k in range(1, K + 1)]
        if name == "identity":
            mu = [mp.mpf(0)] * (K + 1)
            if K >= 1:
                mu[1] = sq
            return mu
        if name == "erf":
            return _erf_design(K, mp.mpf(p.get("scale", 1.0)) * sq)
        if name in ("sin", "cos"):
            c = mp.mpf(p.get("freq", 1.0)) * sq
            mu = [mp.mpf(0)] * (K + 1)
            for k in range(1 if name == "sin" else 0, K + 1, 2):
                sign = (-1) ** ((k - 1) // 2) if name == "sin" else (-1) ** (k // 2)
                mu[k] = mp.exp(-c * c / 2) * sign * c**k / mp.sqrt(mp.factorial(k))
            return mu
        if name == "exp":
            c = mp.mpf(p.get("scale", 1.0)) * sq
            return [mp.exp(c * c / 2) * c**k / mp.sqrt(mp.factorial(k)) for k in range(K + 1)]
        if name == "gaussian":
            return _gaussian_design(K, q)
        if name == "gaussian_pdf":
            return [v / mp.sqrt(2 * mp.pi) for v in _gaussian_design(K, q)]
        if name == "gelu":
            # √q z Φ(√q z), Φ(√q z) = (1 + erf(√(q/2) z))/2; μ_k(z f) = √k μ_{k−1}(f) + √(k+1) μ_{k+1}(f)
            nu = [v / 2 for v in _erf_design(K + 1, sq / mp.sqrt(2))]
            nu[0] += mp.mpf(1) / 2
            return [sq * ((mp.sqrt(k) * nu[k - 1] if k else 0) + mp.sqrt(k + 1) * nu[k + 1])
                    for k in range(K + 1)]
        if name == "monomial":
            return _monomial_design(K, int(p.get("n", 2)), q)
        if name == "hermite":
            # multiplication theorem: He_n(γx) = Σ_m n!/(m!(n−2m)!) γ^{n−2m} ((γ²−1)/2)^m He_{n−2m}(x)
            n = int(p.get("n", 2))
            mu = [mp.mpf(0)] * (K + 1)
            for m in range(n // 2 + 1):
                k = n - 2 * m
                if k <= K:
                    mu[k] = (mp.sqrt(mp.factorial(n)) / (mp.factorial(m) * mp.sqrt(mp.factorial(k)))
                             * sq**k * ((q - 1) / 2) ** m)
            return mu
        if name == "polynomial":
            mu = [mp.mpf(0)] * (K + 1)
            for i, c in enumerate(p.get("coeffs", (0.0, 1.0))):
                for k, v in enumerate(_monomial_design(K, i, q)):
                    mu[k] += mp.mpf(c) * v
            return mu
        if name == "hardtanh":
            t = 1 / sq
            mu = mp_piecewise_linear([(-mp.inf, -t, -1, 0), (-t, t, 0, sq), (t, mp.inf, 1, 0)], K)
            # odd function: the even coefficients vanish exactly (the sum above leaves round-off)
            return [v if k % 2 else mp.mpf(0) for k, v in enumerate(mu)]
        if name == "relu6":
            t = 6 / sq
            return mp_piecewise_linear([(0, t, 0, sq), (t, mp.inf, 6, 0)], K)
        raise KeyError(name)


def _amplitude(h, t, m):
    """Local amplitude of the oscillating sequence m ↦ h_m(t), for the relative-error scale.

    In the oscillatory region (t² < 4m) the recurrence h_{m+1} ≈ (t/√m) h_m − h_{m−1} keeps
    I = h_m² + h_{m−1}² − (t/√m) h_m h_{m−1} (nearly) invariant, and √I is a smooth amplitude
    that does not vanish at the zeros of h_m(t). Outside it, and at t = 0 (where the odd h_m
    vanish exactly, not by cancellation), the amplitude is |h_m(t)|.
    """
    if t == 0 or m < 1:
        return abs(h[m])
    c = t / mp.sqrt(m)
    inv = h[m] ** 2 + h[m - 1] ** 2 - c * h[m] * h[m - 1]
    if c * c < 4 and inv > 0:
        return max(abs(h[m]), mp.sqrt(inv))
    return abs(h[m])


def mp_piecewise_linear_scale(name: str, K: int, q: float = 1.0) -> np.ndarray:
    """Magnitude scale of μ_k for the piecewise-linear hardtanh / relu6: by the derivative
    identity μ_k = Σ_j Δ_j h_{k−2}(t_j) ϕ(t_j) / √(k(k−1)) (k ≥ 2; Δ_j the slope jumps of φ(√q z)
    at its kinks t_j), and the scale is the same sum with |Δ_j| and h_{k−2}(t_j) replaced by its
    local amplitude. Where μ_k is an accidental near-zero of the oscillation (a cancellation of
    terms of that size, which float64 can only resolve to that size), the relative error is
    measured against this scale; elsewhere the scale is ≈ |μ_k| or smaller."""
    with mp.workdps(DPS):
        q = mp.mpf(q)
        sq = mp.sqrt(q)
        if name == "hardtanh":
            kinks = [(-1 / sq, sq), (1 / sq, -sq)]
        elif name == "relu6":
            kinks = [(mp.mpf(0), sq), (6 / sq, -sq)]
        else:
            raise KeyError(name)
        scale = np.zeros(K + 1)
        hs = [(t, d, mp_hermite_all(t, K)) for t, d in kinks]
        for k in range(2, K + 1):
            acc = mp.mpf(0)
            for t, d, h in hs:
                acc += abs(d) * mp.npdf(t) * _amplitude(h, t, k - 2)
            scale[k] = float(acc / mp.sqrt(k * (k - 1)))
        return scale


def mp_closed_second_moment(name: str, q: float = 1.0, params: dict | None = None):
    """E[φ(√q Z)²] where a simple exact expression exists (used for tail checks)."""
    p = dict(params or {})
    with mp.workdps(DPS):
        q = mp.mpf(q)
        if name == "relu":
            return q / 2
        if name == "erf":
            # E[erf(cZ)²] = (2/π) asin(2c²/(1+2c²))
            c2 = mp.mpf(p.get("scale", 1.0)) ** 2 * q
            return 2 / mp.pi * mp.asin(2 * c2 / (1 + 2 * c2))
        raise KeyError(name)


# ---------------------------------------------------------------------------- float64 composite GL


def composite_gl_coefficients(
    f: Callable[[np.ndarray], np.ndarray],
    K: int,
    q: float = 1.0,
    kinks: Sequence[float] = (),
    *,
    half_range: float = 50.0,
    width: float = 0.25,
    npts: int = 40,
) -> np.ndarray:
    """Float64 reference μ_0..μ_K of f(√q z): composite Gauss–Legendre (``npts`` per panel,
    panels of width ≤ ``width`` on [−half_range, half_range], split at kinks/√q), the Gaussian
    density folded into the weights, h_k by the normalized recurrence applied to h_k·ϕ·w."""
    x, w = roots_legendre(npts)
    n = int(math.ceil(2 * half_range / width))
    edges = np.linspace(-half_range, half_range, n + 1)
    zk = [k / math.sqrt(q) for k in kinks if -half_range < k / math.sqrt(q) < half_range]
    edges = np.unique(np.concatenate([edges, np.asarray(zk, dtype=np.float64)]))
    a, b = edges[:-1, None], edges[1:, None]
    z = ((a + b) / 2 + (b - a) / 2 * x[None, :]).ravel()
    wz = ((b - a) / 2 * w[None, :]).ravel() * np.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    fv = np.asarray(f(math.sqrt(q) * z), dtype=np.float64)
    mu = np.empty(K + 1)
    g_prev = np.zeros_like(z)
    g = wz * fv  # g_k = f h_k ϕ w
    mu[0] = g.sum()
    for k in range(K):
        g_prev, g = g, (z * g - math.sqrt(k) * g_prev) / math.sqrt(k + 1)
        mu[k + 1] = g.sum()
    return mu


# float64 versions of the activations for the composite reference (numerically careful forms)


def _np_sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _np_softplus(x):
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


NP_ACTIVATIONS: dict[str, Callable] = {
    "tanh": np.tanh,
    "sigmoid": _np_sigmoid,
    "softplus": _np_softplus,
    "silu": lambda x: x * _np_sigmoid(x),
    "mish": lambda x: x * np.tanh(_np_softplus(x)),
    "elu": lambda x, alpha=1.0: np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))),
    "selu": lambda x: float(SELU_SCALE) * np.where(x > 0, x, float(SELU_ALPHA) * np.expm1(np.minimum(x, 0))),
}
