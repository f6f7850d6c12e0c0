"""Exact NTK/NNGP spectra on the sphere (Funk–Hecke), DESIGN §1.6.

For a dot-product kernel ``f(ρ) = Σ_p κ_p ρ^p`` (all ``κ_p ≥ 0``) and the **uniform
probability measure** σ on the unit sphere ``S^{d−1} ⊂ ℝ^d`` (``d ≥ 2``), the integral operator
``(T g)(x) = ∫ f(⟨x, y⟩) g(y) dσ(y)`` has the degree-``k`` spherical harmonics as
eigenfunctions, with eigenvalue

    λ_k = Σ_{p ≥ k, p ≡ k (mod 2)} κ_p λ_k(ρ^p),
    λ_k(ρ^p) = Γ(d/2)/√π · 2^{−k} · p!/(p−k)! · Γ((p−k+1)/2) / Γ((p+k+d)/2),

and multiplicity ``N(d, k) = (2k+d−2)/k · C(k+d−3, d−2)`` (``N(d, 0) = 1``; on the circle
``d = 2``: ``N = 2`` for ``k ≥ 1`` and ``λ_k`` are the Fourier coefficients of ``f(cos θ)``).
Equivalently ``λ_k = ω ∫_{−1}^{1} f(t) P_k^{(d)}(t) (1−t²)^{(d−3)/2} dt`` with the Legendre
(Gegenbauer) polynomial normalized by ``P_k^{(d)}(1) = 1`` and ``ω = Γ(d/2)/(√π Γ((d−1)/2))``
(``d = 3``: ``λ_k = ½ ∫ f(t) P_k(t) dt``). Because every term of the series is ``≥ 0``, the
eigenvalues keep full relative accuracy however small they are.

An ``n``-point sample of uniform data has Gram eigenvalues ``≈ n λ_k``, each about ``N(d, k)``
times (:meth:`SphereSpectrum.by_index` lists them in that form).

The Rust core sums the series with a stable ratio recurrence in ``p``, adds the tail ``p > P``
from an asymptotic fit ``κ_p ≈ C p^{−a}(1 + e_1/p + …)`` of the last coefficients (or a
rigorous bound when no such fit holds) and reports an error estimate for every ``λ_k``.
Decay law: ``κ_p ~ p^{−a}`` ⇒ ``λ_k ~ k^{−(d + 2a − 3)}`` (ReLU NTK: ``a = 3/2`` ⇒ ``k^{−d}``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _core
from .errors import InputTypeError, InvalidInputError

__all__ = [
    "SphereSpectrum",
    "SphereSumCheck",
    "sphere_spectrum",
    "sphere_multiplicity",
    "monomial_sphere_eigenvalue",
    "MAX_SPHERE_DIM",
    "MAX_HARMONIC_DEGREE",
]

#: Largest dimension ``d`` accepted.
MAX_SPHERE_DIM = 1_000_000
#: Largest harmonic degree ``max_degree`` accepted (the series degree it needs is checked too).
MAX_HARMONIC_DEGREE = 100_000


def _check_int(name: str, value: Any, lo: int, hi: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InputTypeError(f"{name} must be an integer, got {value!r}")
    v = int(value)
    if v < lo:
        raise InvalidInputError(f"{name} must be >= {lo} ({what}), got {v}")
    if v > hi:
        raise InvalidInputError(f"{name} = {v} is too large: it must be at most {hi} ({what})")
    return v


def _check_dim(dim: Any) -> int:
    return _check_int("dim", dim, 2, MAX_SPHERE_DIM, "the sphere S^(d-1) lives in R^d; d = 2 is the circle")


def _check_max_degree(k: Any) -> int:
    return _check_int("max_degree", k, 0, MAX_HARMONIC_DEGREE, "the highest spherical-harmonic degree")


@dataclass(frozen=True)
class SphereSumCheck:
    """Result of :meth:`SphereSpectrum.check_sum`.

    ``total = Σ_{k≤K} N(d,k) λ_k`` against ``f_at_one = f(1)``; ``missing = f(1) − total``
    is the spectral tail ``Σ_{k>K} N(d,k) λ_k ≥ 0`` (not an error), ``relative = missing/f(1)``.
    ``even``/``odd`` are the parity parts of ``total``, which must approach
    ``even_target = (f(1)+f(−1))/2`` and ``odd_target = (f(1)−f(−1))/2``. ``error`` is
    ``Σ_k N(d,k)·errors[k]``, the uncertainty of ``total``.
    """

    total: float
    f_at_one: float
    missing: float
    relative: float
    even: float
    even_target: float
    odd: float
    odd_target: float
    error: float


class SphereSpectrum:
    """Eigenvalues of a dot-product kernel on the uniform sphere ``S^{d−1}`` for degrees
    ``k = 0 … max_degree`` (see the module docstring for the mathematics).

    Attributes
    ----------
    eigenvalues:
        ``λ_k`` (operator on the probability measure; a sampled Gram matrix of ``n`` uniform
        points has eigenvalues ``≈ n λ_k``).
    errors:
        Estimated absolute error of each ``λ_k``: tail-model uncertainty (spread between two
        asymptotic models and two quadrature orders; or the half-width of the rigorous tail
        interval), round-off of the sum, and the coefficients' own error bounds.
    multiplicities, log_multiplicities:
        ``N(d, k)`` as float64 (exact integers up to 2⁵³, ``inf`` beyond float64) and
        ``ln N(d, k)``.
    log_eigenvalues:
        ``ln λ_k`` (finite even where ``λ_k`` underflows float64).
    tails:
        The part of ``λ_k`` contributed by the series beyond its degree ``P``.
    dim, max_degree, series_degree, kind:
        ``d``, ``K``, ``P``, and ``"ntk"``/``"nngp"``/``"series"``.
    tail_fits:
        Per parity of ``p``: how the tail ``p > P`` was treated (``"power_law"`` with its
        fitted exponent ``a`` and log-residual, ``"bound"``, ``"zero"`` or ``"exact"``).
    f_at_one, f_at_minus_one:
        ``f(1)`` and ``f(−1)`` (used by :meth:`check_sum`).
    """

    def __init__(self, core: Any, *, kind: str, f_at_one: float, f_at_minus_one: float,
                 label: str = "") -> None:
        self._core = core
        self.kind = kind
        self.label = label
        self.f_at_one = float(f_at_one)
        self.f_at_minus_one = float(f_at_minus_one)
        self.dim = int(core.dim)
        self.max_degree = int(core.max_degree)
        self.series_degree = int(core.series_degree)
        self.eigenvalues = np.asarray(core.eigenvalues)
        self.log_eigenvalues = np.asarray(core.log_eigenvalues)
        self.errors = np.asarray(core.errors)
        self.tails = np.asarray(core.tails)
        self.multiplicities = np.asarray(core.multiplicities)
        self.log_multiplicities = np.asarray(core.log_multiplicities)
        self.tail_fits = tuple(dict(f) for f in core.tail_fits())
        for arr in (self.eigenvalues, self.log_eigenvalues, self.errors, self.tails,
                    self.multiplicities, self.log_multiplicities):
            arr.setflags(write=False)

    def __repr__(self) -> str:
        what = f"{self.kind} of {self.label}" if self.label else self.kind
        return (f"<SphereSpectrum {what} on S^{self.dim - 1}: k = 0..{self.max_degree}, "
                f"series degree {self.series_degree}>")

    def __len__(self) -> int:
        return self.max_degree + 1

    @property
    def predicted_exponent(self) -> float | None:
        """``d + 2a − 3`` from the fitted coefficient decay ``κ_p ~ p^{−a}`` (the slower of
        the two parities), or None when the coefficients do not follow a power law (e.g.
        geometric decay: the eigenvalues then decay faster than any power)."""
        v = self._core.predicted_exponent()
        return None if v is None else float(v)

    def by_index(self, m: int) -> np.ndarray:
        """The first ``m`` eigenvalues of the operator by index, in descending order: each
        ``λ_k`` repeated ``N(d, k)`` times. Compare with the top eigenvalues of an ``n``-point
        uniform sample's Gram matrix divided by ``n``.

        Only degrees ``k ≤ max_degree`` are considered, so this is the true top-``m`` when no
        higher degree has a larger eigenvalue (true when ``λ_k`` is non-increasing). Raises
        :class:`~ntkrs.InvalidInputError` if fewer than ``m`` eigenvalues are available.
        """
        m = _check_int("m", m, 0, 100_000_000, "the number of eigenvalues")
        return np.asarray(self._core.by_index(m))

    def fit_decay(self, k_min: int | None = None, k_max: int | None = None) -> tuple[float, float | None]:
        """Fit ``λ_k ≈ C k^{−s}`` by least squares of ``ln λ_k`` on ``ln k`` over
        ``k_min ≤ k ≤ k_max`` (default: the upper half ``⌈K/2⌉ … K``; both parities, zeros
        skipped). Returns ``(s, predicted)`` with ``predicted = d + 2a − 3`` from the fitted
        coefficient exponent ``a`` (None if the coefficients are not power-law).
        ReLU NTK: ``s ≈ d``; NNGP: ``s ≈ d + 2``."""
        lo = None if k_min is None else _check_int("k_min", k_min, 0, self.max_degree, "a degree")
        hi = None if k_max is None else _check_int("k_max", k_max, 0, self.max_degree, "a degree")
        return float(self._core.fit_decay(lo, hi)), self.predicted_exponent

    def check_sum(self) -> SphereSumCheck:
        """Check ``Σ_k N(d,k) λ_k = f(1)`` (the trace identity: evaluate the Mercer expansion
        at ``x = y``), also by parity: ``Σ_{k even} N λ_k = (f(1)+f(−1))/2`` and
        ``Σ_{k odd} N λ_k = (f(1)−f(−1))/2``.

        Caveat: the identity needs *all* degrees. With ``k ≤ K`` only, ``missing`` is the
        spectral tail ``Σ_{k>K} N λ_k`` — exactly 0 for a polynomial kernel of degree ≤ K,
        tiny for fast-decaying (e.g. analytic) kernels, but ``~ 1/K`` of ``f(1)`` for the
        ReLU NTK on S² (``N λ_k ~ k^{−2}``). Each parity has its own tail, so one parity can
        match exactly while the other does not (odd/even kernels, polynomials).
        """
        logs = self.log_multiplicities + self.log_eigenvalues
        terms = np.where(np.isfinite(logs), np.exp(np.where(np.isfinite(logs), logs, 0.0)), 0.0)
        k = np.arange(terms.size)
        even = float(math.fsum(terms[k % 2 == 0]))
        odd = float(math.fsum(terms[k % 2 == 1]))
        total = even + odd
        with np.errstate(over="ignore", invalid="ignore"):
            err = float(np.sum(self.multiplicities * self.errors))
        f1, fm1 = self.f_at_one, self.f_at_minus_one
        missing = f1 - total
        return SphereSumCheck(
            total=total,
            f_at_one=f1,
            missing=missing,
            relative=missing / f1 if f1 != 0 else float("nan"),
            even=even,
            even_target=0.5 * (f1 + fm1),
            odd=odd,
            odd_target=0.5 * (f1 - fm1),
            error=err,
        )

    def to_dict(self) -> dict:
        """Plain-Python form (for JSON): ``kind``, ``label``, ``dim``, ``max_degree``,
        ``series_degree``, ``k``, ``eigenvalues``, ``log_eigenvalues``, ``errors``, ``tails``,
        ``multiplicities``, ``log_multiplicities``, ``tail_fits``, ``fitted_exponent`` (of the
        default :meth:`fit_decay`, or None), ``predicted_exponent``, ``f_at_one`` and
        ``f_at_minus_one``; lists and floats only."""
        s, pred = (None, self.predicted_exponent)
        try:
            s = self.fit_decay()[0] if self.max_degree >= 2 else None
        except InvalidInputError:
            s = None
        return {
            "kind": self.kind,
            "label": self.label,
            "dim": self.dim,
            "max_degree": self.max_degree,
            "series_degree": self.series_degree,
            "k": list(range(self.max_degree + 1)),
            "eigenvalues": self.eigenvalues.tolist(),
            "log_eigenvalues": self.log_eigenvalues.tolist(),
            "errors": self.errors.tolist(),
            "tails": self.tails.tolist(),
            "multiplicities": self.multiplicities.tolist(),
            "log_multiplicities": self.log_multiplicities.tolist(),
            "tail_fits": [dict(f) for f in self.tail_fits],
            "fitted_exponent": s,
            "predicted_exponent": pred,
            "f_at_one": self.f_at_one,
            "f_at_minus_one": self.f_at_minus_one,
        }


def sphere_spectrum(coefficients: Any, dim: int, max_degree: int, *, tail_mass: float | None = None,
                    f_at_one: float | None = None, f_at_minus_one: float | None = None,
                    mass_error: float = 0.0, coefficient_noise: float = 0.0,
                    kind: str = "series", label: str = "") -> SphereSpectrum:
    """Funk–Hecke spectrum on ``S^{dim−1}`` of ``f(ρ) = Σ_p κ_p ρ^p`` from its coefficients
    ``κ_0 … κ_P`` (1-D, finite, ``≥ 0``).

    ``tail_mass``: a certified bound on ``Σ_{p>P} κ_p`` (gives a rigorous tail interval;
    ``0`` declares ``f`` a polynomial of degree ``≤ P``: no tail, any ``P``). Otherwise ``P``
    must be at least ``max(128, max_degree + 2)``; about ``4 k(k+d)/(d−1)`` at
    ``k = max_degree`` (four times the peak of ``λ_k(ρ^p)`` in ``p``) keeps the tail small.
    ``f_at_one``/``f_at_minus_one`` default to the sums of the given coefficients (plus
    ``tail_mass`` for ``f(1)``). ``mass_error`` bounds ``Σ|κ_p − κ̃_p|``;
    ``coefficient_noise`` is the absolute error of each coefficient.

    ``dim`` is the ambient dimension ``d ≥ 2`` (the sphere ``S^{d−1} ⊂ ℝ^d``) and
    ``max_degree`` the highest harmonic degree ``K``. Returns a :class:`SphereSpectrum` of the
    operator on the uniform probability measure. Raises :class:`~ntkrs.InputTypeError` for
    non-numeric coefficients and :class:`~ntkrs.InvalidInputError` for an invalid ``dim``,
    ``max_degree``, negative/non-finite coefficients or bounds, or too few coefficients for
    the tail model.
    """
    dim = _check_dim(dim)
    max_degree = _check_max_degree(max_degree)
    if kind not in ("ntk", "nngp", "series"):
        raise InvalidInputError(f"kind must be 'ntk', 'nngp' or 'series', got {kind!r}")
    try:
        c = np.ascontiguousarray(np.asarray(coefficients, dtype=np.float64))
    except (TypeError, ValueError):
        raise InputTypeError("coefficients must be a 1-D array of numbers") from None
    if c.ndim != 1 or c.size == 0:
        raise InvalidInputError(f"coefficients must be a non-empty 1-D array, got shape {c.shape}")
    for name, v in (("tail_mass", tail_mass), ("mass_error", mass_error), ("coefficient_noise", coefficient_noise)):
        if v is not None and not (isinstance(v, (int, float, np.integer, np.floating)) and math.isfinite(v) and v >= 0):
            raise InvalidInputError(f"{name} must be a finite number >= 0, got {v!r}")
    core = _core.sphere_spectrum(c, dim, max_degree,
                                 None if tail_mass is None else float(tail_mass),
                                 float(mass_error), float(coefficient_noise), 0)
    if f_at_one is None:
        f_at_one = math.fsum(c.tolist()) + (tail_mass or 0.0)
    if f_at_minus_one is None:
        signs = np.where(np.arange(c.size) % 2 == 0, 1.0, -1.0)
        f_at_minus_one = math.fsum((signs * c).tolist())
    return SphereSpectrum(core, kind=kind, f_at_one=float(f_at_one), f_at_minus_one=float(f_at_minus_one),
                          label=label)


def network_sphere_eigenvalues(net: Any, dim: int, max_degree: int, *, kind: str = "ntk",
                               degree: int | None = None) -> SphereSpectrum:
    """Implementation of :meth:`ntkrs.Network.sphere_eigenvalues`."""
    from .activation import MAX_DEGREE, _check_degree

    if kind not in ("ntk", "nngp"):
        raise InvalidInputError(f"kind must be 'ntk' or 'nngp', got {kind!r}")
    dim = _check_dim(dim)
    max_degree = _check_max_degree(max_degree)
    if degree is None:
        # 4·p*(K) (at least 2000), capped: the public series degree limit; and for activations
        # whose Hermite coefficients are tabulated to `hermite_degree`, half of it (the series
        # coefficients near and beyond that degree lose accuracy, which would only inflate the
        # errors; the tail model extrapolates instead).
        degree = int(_core.sphere_recommended_degree(dim, max_degree))
        cap = MAX_DEGREE
        if getattr(net.activation, "closed_form", None) is None:
            cap = min(cap, max(int(getattr(net, "_hermite_degree", 2048)) // 2, 512))
        degree = max(min(degree, cap), int(_core.sphere_minimum_degree(dim, max_degree)))
    else:
        degree = _check_degree(degree)
        need = int(_core.sphere_minimum_degree(dim, max_degree))
        if degree < need:
            raise InvalidInputError(
                f"degree {degree} is too low for harmonics up to k = {max_degree} on S^{dim - 1}: "
                f"the tail model needs a series degree of at least {need}"
            )
    if degree <= MAX_DEGREE:
        series = net.series(degree, ntk=(kind == "ntk"))
    else:  # beyond the public degree cap (harmonics beyond k ≈ 220 on S²): the engine allows 10⁶
        from .network import _series_from_dict

        series = _series_from_dict(net._core.series(degree, kind == "ntk", False))
    if kind == "ntk":
        coeffs, f1, bound, mass_err = series.ntk, series.ntk_at_one, series.truncation_bound, series.composition_error
        fm1 = float(net.ntk_at(-1.0))
    else:
        coeffs, f1, bound, mass_err = (series.nngp, series.nngp_at_one, series.nngp_truncation_bound,
                                       series.nngp_composition_error)
        fm1 = float(net.nngp_at(-1.0))
    f1 = float(f1)
    coeffs = np.ascontiguousarray(coeffs, dtype=np.float64)
    mass_err = float(mass_err or 0.0)
    # The series engine's FFT products (and some closed-form compositions) leave an absolute
    # round-off of about ε·f(1) on the coefficients (measured: ≤ 0.2 ε f(1) for ReLU and erf,
    # depth 3, also on structural zeros): it bounds what exactly-zero eigenvalues (odd/even
    # kernels) come out as, and the accuracy of eigenvalues below ~ε f(1) κ_p-scale.
    noise = float(np.finfo(np.float64).eps) * abs(f1)
    # Σ_{p>P} κ_p = f(1) − Σ_{p≤P} κ_p exactly; with the coefficient errors bounded as above
    # (|δκ_p| ≤ noise, Σ|δκ_p| ≤ mass_err) this is an upper bound, usually far tighter than
    # the engine's worst-case truncation bound (which it never exceeds).
    mass = max(f1 - math.fsum(coeffs.tolist()), 0.0) + coeffs.size * noise + mass_err
    if bound is not None:
        mass = min(mass, float(bound))
    core = _core.sphere_spectrum(coeffs, dim, max_degree, mass, mass_err, noise, 0)
    return SphereSpectrum(core, kind=kind, f_at_one=f1, f_at_minus_one=fm1,
                          label=f"{net.activation.label}, depth {net.depth}")


def sphere_multiplicity(dim: int, k: int) -> int | float:
    """``N(d, k)``, the number of linearly independent degree-``k`` spherical harmonics on
    ``S^{d−1}`` (``N(d,0) = 1``; ``N(2,k) = 2``; ``N(3,k) = 2k+1``): an exact ``int``
    computed with Python integers."""
    dim = _check_dim(dim)
    k = _check_int("k", k, 0, 10**9, "a degree")
    if k == 0:
        return 1
    if dim == 2:
        return 2
    return (2 * k + dim - 2) * math.comb(k + dim - 3, dim - 2) // k


def monomial_sphere_eigenvalue(dim: int, k: int, p: int) -> float:
    """``λ_k(ρ^p) = Γ(d/2)/√π · 2^{−k} · p!/(p−k)! · Γ((p−k+1)/2)/Γ((p+k+d)/2)`` for
    ``p ≥ k``, ``p ≡ k (mod 2)``, else 0: the degree-``k`` eigenvalue of the kernel ``ρ^p``
    on ``S^{d−1}`` (computed in log space by the Rust core)."""
    dim = _check_dim(dim)
    k = _check_int("k", k, 0, 10**9, "a degree")
    p = _check_int("p", p, 0, 10**12, "a power")
    return float(_core.sphere_monomial_eigenvalue(dim, k, p)[0])
