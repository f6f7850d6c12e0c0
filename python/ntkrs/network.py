"""``Network``: an infinitely wide fully connected network and its NTK/NNGP.

A network of ``depth`` L has L hidden layers (affine map, then φ) and a linear read-out, in the
NTK parameterization. With ``ρ = ⟨x, y⟩`` for unit-norm inputs, the kernels satisfy

    Σ_1 = γ_w² ρ + γ_b²,  Θ_1 = Σ_1
    Σ_{l+1} = σ_w² E[φ(u)φ(v)] + σ_b²,   Σ̇_{l+1} = σ_w² E[φ'(u)φ'(v)]
    Θ_{l+1} = Σ_{l+1} + Θ_l Σ̇_{l+1};     NNGP = Σ_{L+1},  NTK = Θ_{L+1}

and both are power series in ρ with non-negative coefficients (Murray et al., ICLR 2023,
Theorem 3.1), computed here exactly up to a certified truncation bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from typing import TYPE_CHECKING  # for the SphereSpectrum annotation

import numpy as np

from . import _core
from .activation import MAX_DEGREE, Activation, _check_degree
from .errors import InputTypeError, InvalidInputError, UnsupportedError
from .registry import get_activation

if TYPE_CHECKING:
    from .sphere import SphereSpectrum

__all__ = ["Network", "Series", "LayerSeries", "GramOperator", "batch_series"]

#: Hermite degree used for activations whose coefficients are computed numerically
#: (what it leaves out enters the truncation bound).
DEFAULT_HERMITE_DEGREE = 2048


@dataclass(frozen=True)
class LayerSeries:
    """Series of one layer ``l = 1 … L+1``: ``nngp`` = Σ_l, ``derivative`` = Σ̇_l (None for
    l = 1), ``ntk`` = Θ_l; ``q`` = Σ_l(x, x)."""

    q: float
    nngp: np.ndarray
    derivative: np.ndarray | None
    ntk: np.ndarray | None


@dataclass(frozen=True)
class Series:
    """NTK and NNGP power series ``Σ_p κ_p ρ^p`` truncated at ``degree``.

    Attributes
    ----------
    ntk, nngp:
        Coefficients ``κ_0 … κ_P`` and ``ν_0 … ν_P`` (all ≥ 0). ``ntk`` is None for activations
        whose NTK is infinite (step).
    truncation_bound:
        ``Θ(1) − Σ_{p≤P} κ_p`` (plus round-off): since every coefficient is ≥ 0 this bounds
        ``sup_{ρ∈[−1,1]} |NTK(ρ) − Σ_{p≤P} κ_p ρ^p|``. It also contains the error of the
        Hermite sums for numerically integrated activations.
    nngp_truncation_bound:
        The same for the NNGP.
    ntk_at_one, nngp_at_one:
        Exact ``Θ(1)`` and ``NNGP(1) = q_{L+1}`` from the scalar recursion.
    variances:
        ``q_1 … q_{L+1}``.
    layers:
        Every layer's series (``Network.series(..., keep_layers=True)``), else None.
    """

    degree: int
    ntk: np.ndarray | None
    nngp: np.ndarray
    truncation_bound: float | None
    nngp_truncation_bound: float
    ntk_at_one: float | None
    nngp_at_one: float
    composition_error: float | None
    nngp_composition_error: float
    variances: np.ndarray
    layers: tuple[LayerSeries, ...] | None = None

    def evaluate(self, rho: Any, *, kernel: str = "ntk") -> np.ndarray:
        """``Σ_p κ_p ρ^p`` (or the NNGP with ``kernel="nngp"``) at ``rho`` ∈ [−1, 1], by Horner.
        The error is at most :attr:`truncation_bound` (resp. :attr:`nngp_truncation_bound`)."""
        coeffs = self._coeffs(kernel)
        r = _check_rho(rho)
        return np.polynomial.polynomial.polyval(r, coeffs)

    def partial_sums(self, *, kernel: str = "ntk") -> np.ndarray:
        """``Σ_{p≤j} κ_p / Θ(1)`` for ``j = 0 … P``: the share of ``Θ(1)`` captured by the first
        coefficients (the paper's Table 1 reports it in percent)."""
        coeffs = self._coeffs(kernel)
        total = self.ntk_at_one if kernel == "ntk" else self.nngp_at_one
        assert total is not None
        return np.cumsum(coeffs) / total

    def _coeffs(self, kernel: str) -> np.ndarray:
        if kernel == "ntk":
            if self.ntk is None:
                raise UnsupportedError("this series holds the NNGP only (the NTK is infinite or was not asked for)")
            return self.ntk
        if kernel == "nngp":
            return self.nngp
        raise InvalidInputError(f"kernel must be 'ntk' or 'nngp', got {kernel!r}")


def _check_rho(rho: Any) -> np.ndarray:
    try:
        r = np.asarray(rho, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputTypeError(f"rho must be a number or an array of numbers, got {type(rho).__name__}") from None
    if not np.all(np.isfinite(r)):
        from .errors import NonFiniteError

        raise NonFiniteError("rho contains NaN or infinity")
    if np.any(np.abs(r) > 1.0 + 1e-12):
        bad = float(r.flat[int(np.argmax(np.abs(r) > 1.0 + 1e-12))])
        raise InvalidInputError(
            f"rho = <x, y> must lie in [-1, 1] (inputs on the unit sphere), got {bad}"
        )
    return np.clip(r, -1.0, 1.0)


def _check_depth(depth: Any) -> int:
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)):
        raise InputTypeError(f"depth (the number of hidden layers) must be an integer, got {depth!r}")
    if depth < 1:
        raise InvalidInputError(f"depth (the number of hidden layers) must be >= 1, got {depth}")
    return int(depth)


def _check_var(name: str, value: Any, *, optional: bool) -> float | None:
    if value is None:
        if optional:
            return None
        raise InputTypeError(f"{name} must be a number, got None")
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputTypeError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v < 0:
        raise InvalidInputError(f"{name} must be a finite variance >= 0, got {value!r}")
    return v


class Network:
    """An infinitely wide fully connected network in the NTK parameterization.

    Parameters
    ----------
    activation:
        Name (``"relu"``, ``"erf(scale=2)"``, a plugin's name) or :class:`Activation`.
    depth:
        Number of hidden layers ``L >= 1``.
    weight_var, bias_var:
        ``σ_w², σ_b²`` of every layer after the first (read-out included). Neither given: the
        unit-variance default ``σ_b² = 0, σ_w² = 1/E[φ(Z)²]`` (ReLU: 2). ``bias_var`` alone:
        ``σ_w² = (1 − σ_b²)/E[φ(Z)²]`` (DomainError if ``σ_b² ≥ 1``). ``weight_var`` given: the
        general case (``bias_var`` defaults to 0); layer variances ``q_l`` may then differ from 1.
    input_weight_var, input_bias_var:
        ``γ_w², γ_b²`` of the first affine layer (defaults 1 and 0).
    hermite_degree:
        For activations integrated numerically: how many Hermite coefficients to use (default
        2048; what is left out is accounted for in the truncation bounds).

    Inputs are unit vectors and the kernels are functions of ``ρ = ⟨x, y⟩``; under the
    unit-variance default every layer variance is ``q_l = 1`` (ReLU: ``Θ(1) = L + 1``).

    Raises
    ------
    UnknownActivationError
        (a ``KeyError``) for an unknown activation name.
    InputTypeError
        if ``depth`` is not an integer or a variance is not a real number.
    InvalidInputError
        for ``depth < 1``, a negative/NaN/infinite variance, or ``hermite_degree < 8``.
    DomainError
        if unit variance is impossible (``bias_var ≥ 1`` given alone, or ``E[φ(Z)²] = 0``).
    UnsupportedError
        if the activation cannot provide what the network needs (a coefficient-list activation
        at ``q ≠ 1``; an activation given only through its dual kernel).
    """

    def __init__(
        self,
        activation: str | Activation,
        depth: int,
        *,
        weight_var: float | None = None,
        bias_var: float | None = None,
        input_weight_var: float = 1.0,
        input_bias_var: float = 0.0,
        hermite_degree: int | None = None,
    ) -> None:
        self.activation = get_activation(activation)
        depth = _check_depth(depth)
        w = _check_var("weight_var", weight_var, optional=True)
        b = _check_var("bias_var", bias_var, optional=True)
        gw = _check_var("input_weight_var", input_weight_var, optional=False)
        gb = _check_var("input_bias_var", input_bias_var, optional=False)
        self._hermite_degree = self._check_hermite_degree(hermite_degree)
        desc = self._descriptor(depth, w, b, gw, gb, edge_q=None)
        self._core = _core.Network(desc, depth, w, b, gw, gb)

    @classmethod
    def edge_of_chaos(cls, activation: str | Activation, depth: int, q: float = 1.0, *,
                      hermite_degree: int | None = None) -> "Network":
        """The network at the edge of chaos with fixed point ``q``:
        ``σ_w² = 1/E[φ'(√q Z)²]``, ``σ_b² = q − σ_w² E[φ(√q Z)²]``, ``γ_w² = q``, ``γ_b² = 0``,
        so every layer has variance ``q`` and the correlation map has slope
        ``χ = σ_w² E[φ'(√q Z)²] = 1`` at ``c = 1``.

        Raises :class:`~ntkrs.InvalidInputError` for ``q ≤ 0`` (or NaN/inf) or ``depth < 1``, and
        :class:`~ntkrs.DomainError` if ``σ_b²`` would be negative (ReLU: ``σ_w² = 2``, ``σ_b² = 0``
        for every ``q``)."""
        self = cls.__new__(cls)
        self.activation = get_activation(activation)
        depth = _check_depth(depth)
        qv = _check_var("q", q, optional=False)
        assert qv is not None
        if qv <= 0:
            raise InvalidInputError(f"q must be > 0, got {q!r}")
        self._hermite_degree = self._check_hermite_degree(hermite_degree)
        desc = self._descriptor(depth, None, None, qv, 0.0, edge_q=qv)
        self._core = _core.Network.edge_of_chaos(desc, depth, qv)
        return self

    @staticmethod
    def _check_hermite_degree(k: Any) -> int:
        if k is None:
            return DEFAULT_HERMITE_DEGREE
        k = _check_degree(k)
        if k < 8:
            raise InvalidInputError(f"hermite_degree must be >= 8, got {k}")
        return k

    # ------------------------------------------------------------------ engine descriptor
    def _descriptor(self, depth: int, w: float | None, b: float | None, gw: float, gb: float,
                    edge_q: float | None) -> tuple:
        act = self.activation
        if act.closed_form is not None:
            return ("closed", act.closed_form, dict(act.params))
        if act.kind == "dual":
            raise UnsupportedError(
                f"activation {act.name!r} gives only its dual kernel; the power series needs its "
                "Hermite coefficients (give the plugin an fn, hermite or coefficients)"
            )
        if edge_q is not None:
            qs = [edge_q]
        else:
            qs = self._layer_variances(depth, w, b, gw, gb)
        entries = []
        for q in dict.fromkeys(qs):  # unique, in order
            res = act.hermite_with_error(self._hermite_degree, q)
            try:
                dm2 = act.derivative_second_moment(q)
            except UnsupportedError:
                dm2 = None
            entries.append((q, np.ascontiguousarray(res.mu), res.error, res.second_moment, dm2))
        return ("tabulated", act.name, entries)

    def _layer_variances(self, depth: int, w: float | None, b: float | None, gw: float, gb: float) -> list[float]:
        """q_1 … q_L at which φ is needed (the engine re-derives and checks them)."""
        act = self.activation
        if w is None:
            m1 = act.second_moment(1.0)
            bb = 0.0 if b is None else b
            if not (m1 > 0 and bb < 1.0):
                return [1.0]  # the engine reports why unit variance is impossible
            w, b = (1.0 - bb) / m1, bb
        b = 0.0 if b is None else b
        q = gw + gb
        if not (q > 0 and math.isfinite(q)):
            return [1.0]
        qs = [q]
        for _ in range(depth - 1):
            q = w * act.second_moment(q) + b
            if not (q > 0 and math.isfinite(q)):
                break
            qs.append(q)
        return qs

    # ------------------------------------------------------------------ properties
    @property
    def depth(self) -> int:
        """Number of hidden layers L."""
        return int(self._core.depth)

    @property
    def weight_var(self) -> float:
        """``σ_w²``, the weight variance of every layer after the first, read-out included
        (after the defaults were resolved; ReLU at unit variance: 2)."""
        return float(self._core.weight_var)

    @property
    def bias_var(self) -> float:
        """``σ_b²``, the bias variance of every layer after the first (read-out included)."""
        return float(self._core.bias_var)

    @property
    def input_weight_var(self) -> float:
        """``γ_w²``, the weight variance of the first affine layer (acting on ``x``)."""
        return float(self._core.input_weight_var)

    @property
    def input_bias_var(self) -> float:
        """``γ_b²``, the bias variance of the first affine layer."""
        return float(self._core.input_bias_var)

    @property
    def variances(self) -> np.ndarray:
        """Layer variances ``q_1 … q_{L+1}`` (all 1 under the unit-variance default)."""
        return np.asarray(self._core.variances())

    def __repr__(self) -> str:
        return (
            f"Network({self.activation.label!r}, depth={self.depth}, weight_var={self.weight_var:.6g}, "
            f"bias_var={self.bias_var:.6g}, input_weight_var={self.input_weight_var:.6g}, "
            f"input_bias_var={self.input_bias_var:.6g})"
        )

    # ------------------------------------------------------------------ series
    def series(self, degree: int, *, ntk: bool = True, keep_layers: bool = False) -> Series:
        """NTK and NNGP power series to ``degree`` with the truncation certificate.

        ``NTK(ρ) = Σ_p κ_p ρ^p`` and ``NNGP(ρ) = Σ_p ν_p ρ^p`` (``ρ = ⟨x, y⟩``, all coefficients
        ``≥ 0``; Murray et al., ICLR 2023, Theorem 3.1), computed by composing the layer series
        exactly up to ``ρ^degree``.

        Parameters
        ----------
        degree:
            Highest power ``P ≥ 0``.
        ntk:
            ``False`` computes the NNGP only (the step function has no finite NTK).
        keep_layers:
            Also return every layer's ``Σ_l``, ``Σ̇_l``, ``Θ_l`` series (:attr:`Series.layers`).

        Returns
        -------
        :class:`Series` with ``ntk``, ``nngp``, ``truncation_bound``
        (``Θ(1) − Σ_{p≤P} κ_p ≥ sup_{ρ∈[−1,1]} |NTK(ρ) − Σ_{p≤P} κ_p ρ^p|``), ``ntk_at_one``,
        ``variances`` and more.

        Raises
        ------
        InputTypeError, InvalidInputError
            for a non-integer, negative or absurdly large ``degree``.
        DomainError
            if ``ntk=True`` and the NTK is infinite (step function).

        Runs in Rust with the GIL released; Ctrl-C interrupts it (``KeyboardInterrupt``).
        """
        degree = _check_degree(degree)
        if degree > 1_000_000 or degree > MAX_DEGREE * 10:
            raise InvalidInputError(f"degree {degree} is absurdly large")
        d = self._core.series(degree, bool(ntk), bool(keep_layers))
        return _series_from_dict(d)

    def ntk_coefficients(self, degree: int) -> np.ndarray:
        """``κ_0 … κ_degree`` of ``NTK(ρ) = Σ_p κ_p ρ^p`` (all ≥ 0, ``Σ_p κ_p = Θ(1)``), as a
        float64 array of length ``degree + 1``; ``ρ = ⟨x, y⟩`` for unit-norm inputs.

        Raises :class:`~ntkrs.InvalidInputError` for an invalid ``degree`` and
        :class:`~ntkrs.DomainError` when the NTK is infinite (step function). See :meth:`series`
        for the truncation bound."""
        # the engine's coefficients alone (no Series, bounds or NNGP array to build)
        return self._core.coefficients(_check_degree(degree), True)

    def nngp_coefficients(self, degree: int) -> np.ndarray:
        """``ν_0 … ν_degree`` of ``NNGP(ρ) = Σ_p ν_p ρ^p`` (all ≥ 0, ``Σ_p ν_p = q_{L+1}``), a
        float64 array of length ``degree + 1``. Exists for every activation, the step function
        included. Raises :class:`~ntkrs.InvalidInputError` for an invalid ``degree``."""
        return self._core.coefficients(_check_degree(degree), False)

    # ------------------------------------------------------------------ exact kernels
    def ntk_at(self, rho: Any) -> np.ndarray:
        """Exact ``NTK(ρ)`` by the layer recursion with closed-form duals where they exist
        (arc-cosine kernels for the ReLU family, erf, sin/cos/exp, Gaussians, GELU,
        polynomials) and the Hermite series with its tail otherwise. ``ρ = 1`` gives ``Θ(1)``
        exactly. Same shape as ``rho``.

        ``rho`` is a number or array in ``[−1, 1]`` (the correlation ``⟨x, y⟩`` of unit-norm
        inputs). Raises :class:`~ntkrs.InvalidInputError` outside ``[−1, 1]``,
        :class:`~ntkrs.NonFiniteError` for NaN/inf, :class:`~ntkrs.InputTypeError` for
        non-numbers, and :class:`~ntkrs.DomainError` for an infinite NTK (step function)."""
        r = _check_rho(rho)
        ntk, _ = self._core.kernel_at(np.ascontiguousarray(r.ravel()), True)
        return np.asarray(ntk).reshape(r.shape)

    def nngp_at(self, rho: Any) -> np.ndarray:
        """Exact ``NNGP(ρ) = Σ_{L+1}(ρ)`` for ``rho`` in ``[−1, 1]``, same shape as ``rho``; ``ρ = 1``
        gives ``q_{L+1}`` (see :meth:`ntk_at` for the method and the exceptions)."""
        r = _check_rho(rho)
        _, nngp = self._core.kernel_at(np.ascontiguousarray(r.ravel()), False)
        return np.asarray(nngp).reshape(r.shape)

    # ------------------------------------------------------------------ Gram matrices
    def ntk(self, X: Any, Y: Any = None, *, method: str = "exact", dtype: Any = np.float64,
            normalize: bool = False, degree: int = 200) -> np.ndarray:
        """NTK Gram matrix ``K_ij = NTK(⟨x_i, y_j⟩)`` (``Y=None``: ``Y = X``, symmetric with the
        diagonal exactly ``Θ(1)``).

        Rows of ``X`` (and ``Y``) are points on the unit sphere; rows that are not are an error
        unless ``normalize=True``. ``method="exact"`` evaluates the closed-form layer recursion
        (through a certified piecewise-polynomial interpolant in ``θ = arccos ρ`` where that is
        as accurate); ``method="series"`` uses the power series truncated at ``degree`` (error
        at most its truncation bound). ``dtype`` float64 (default) or float32 (the kernel is
        always computed in float64). ``X Yᵀ`` runs on faer's parallel GEMM, the elementwise
        kernel in parallel blocks; the GIL is released and Ctrl-C stops it. A Gram that would
        not fit in memory raises :class:`~ntkrs.TooLargeError` before allocating.

        Returns an ``(n, m)`` array of ``dtype`` (``m = n`` when ``Y`` is None).

        Raises
        ------
        InputTypeError
            for non-numeric data or an invalid ``dtype``.
        InvalidInputError
            for data that is not 2-D, is empty, has a zero row or a row not of unit norm
            (naming it; see ``normalize``), for ``X`` and ``Y`` of different widths, or an
            invalid ``method``/``degree``.
        NonFiniteError
            for NaN/inf in the data.
        TooLargeError
            (a ``MemoryError``) if the Gram would not fit in the available memory.
        DomainError
            for the NTK of the step function (use :meth:`nngp`).
        """
        return self._gram(X, Y, "ntk", method, dtype, normalize, degree)

    def nngp(self, X: Any, Y: Any = None, *, method: str = "exact", dtype: Any = np.float64,
             normalize: bool = False, degree: int = 200) -> np.ndarray:
        """NNGP Gram matrix ``K_ij = NNGP(⟨x_i, y_j⟩) = Σ_{L+1}(x_i, y_j)`` for unit-norm rows
        (see :meth:`ntk` for the parameters, the return value and the exceptions)."""
        return self._gram(X, Y, "nngp", method, dtype, normalize, degree)

    def _gram(self, X: Any, Y: Any, kind: str, method: str, dtype: Any, normalize: bool, degree: int) -> np.ndarray:
        from .data import as_points

        if method not in ("exact", "series", "interpolated"):
            raise InvalidInputError(f"method must be 'exact' or 'series', got {method!r}")
        try:
            dt = np.dtype(dtype)
        except TypeError:
            raise InputTypeError(f"dtype must be float64 or float32, got {dtype!r}") from None
        if dt not in (np.dtype(np.float64), np.dtype(np.float32)):
            raise InvalidInputError(f"dtype must be float64 or float32, got {dt}")
        Xv = as_points(X, normalize=normalize, name="X")
        Yv = None
        if Y is not None:
            Yv = as_points(Y, normalize=normalize, name="Y")
            if Yv.shape[1] != Xv.shape[1]:
                raise InvalidInputError(f"X has {Xv.shape[1]} columns but Y has {Yv.shape[1]}")
        degree = _check_degree(degree)
        return np.asarray(self._core.gram(Xv, Yv, kind, method, degree, dt == np.dtype(np.float32)))

    def gram_operator(self, X: Any, *, kind: str = "ntk", normalize: bool = False) -> "GramOperator":
        """A matrix-free ``(n, n)`` Gram operator: products ``K @ V`` recompute Gram row
        blocks on the fly, so memory stays ``O(n·block)`` and ``n`` can exceed what a dense
        Gram would need. Use it with :func:`ntkrs.eigsh` or as ``op @ V``.

        ``kind`` is ``"ntk"`` or ``"nngp"``; rows of ``X`` must have unit norm (or pass
        ``normalize=True``). Raises the data errors of :meth:`ntk` (but never
        :class:`~ntkrs.TooLargeError`: nothing of size ``n²`` is stored)."""
        from .data import as_points

        if kind not in ("ntk", "nngp"):
            raise InvalidInputError(f"kind must be 'ntk' or 'nngp', got {kind!r}")
        Xv = as_points(X, normalize=normalize, name="X")
        return GramOperator(self._core.gram_operator(Xv, kind), kind)

    def eigenvalues(self, X: Any, k: int = 10, which: str = "largest", matrix_free: bool = False, *,
                    kind: str = "ntk", tol: float = 1e-10, normalize: bool = False) -> np.ndarray:
        """The ``k`` largest (or smallest) eigenvalues of the NTK (or NNGP) Gram of ``X``.

        Dense Gram + block Lanczos by default; ``matrix_free=True`` never stores the Gram (for
        ``n`` beyond memory). Descending for ``"largest"``, ascending for ``"smallest"``.

        Parameters
        ----------
        X:
            ``(n, d)`` points of unit norm (``normalize=True`` projects them).
        k:
            Number of eigenvalues, ``1 ≤ k < n``.
        which:
            ``"largest"`` or ``"smallest"`` (algebraic).
        matrix_free:
            Use :meth:`gram_operator` instead of a dense Gram (memory ``O(n·block)``; each
            Lanczos step recomputes the Gram).
        kind:
            ``"ntk"`` or ``"nngp"``.
        tol:
            Relative tolerance of each eigenvalue (as in :func:`ntkrs.eigsh`).

        Raises the data errors of :meth:`ntk`, :class:`~ntkrs.InvalidInputError` for an invalid
        ``k``/``which``/``kind``/``tol``, :class:`~ntkrs.TooLargeError` for a dense Gram beyond
        memory, and :class:`~ntkrs.ConvergenceError` if Lanczos does not converge.
        """
        from .spectrum import eigsh

        if matrix_free:
            op = self.gram_operator(X, kind=kind, normalize=normalize)
            return eigsh(op, k, which=which, tol=tol)
        K = self._gram(X, None, kind, "exact", np.float64, normalize, 200)
        return eigsh(K, k, which=which, tol=tol)

    def sphere_eigenvalues(self, dim: int, max_degree: int, *, kind: str = "ntk",
                           degree: int | None = None) -> "SphereSpectrum":
        """Exact eigenvalues of the NTK (or NNGP, ``kind="nngp"``) integral operator on the
        uniform probability measure of the sphere ``S^{dim−1} ⊂ ℝ^dim`` (Funk–Hecke):

            λ_k = Σ_{p ≥ k, p ≡ k (mod 2)} κ_p · Γ(d/2)/√π · 2^{−k} · p!/(p−k)!
                  · Γ((p−k+1)/2) / Γ((p+k+d)/2),     k = 0 … max_degree,

        each with multiplicity ``N(d, k) = (2k+d−2)/k · C(k+d−3, d−2)`` (``N(d,0) = 1``). All
        terms are ``≥ 0``, so even tiny eigenvalues keep full relative accuracy; the series
        part beyond the degree ``P`` (default ``max(2000, 4k(k+d)/(d−1))`` at
        ``k = max_degree``, at most 10⁵ and, for activations with tabulated Hermite
        coefficients, half their ``hermite_degree``; or ``degree``, at least
        ``max(128, max_degree + 2)``) comes from an asymptotic fit of the coefficients with
        an error estimate. ``n`` uniform samples have Gram eigenvalues ``≈ n λ_k``.
        Returns a :class:`~ntkrs.SphereSpectrum` (``.eigenvalues``, ``.errors``,
        ``.multiplicities``, ``.by_index(m)``, ``.fit_decay()``, ``.check_sum()``).
        """
        from .sphere import network_sphere_eigenvalues

        return network_sphere_eigenvalues(self, dim, max_degree, kind=kind, degree=degree)

    def ntk_at_one(self) -> float:
        """Exact ``Θ(1) = Σ_p κ_p``, the NTK on the diagonal ``x = y`` (ReLU at unit variance:
        ``L + 1``). Raises :class:`~ntkrs.DomainError` for the step function (infinite NTK)."""
        return float(self._core.ntk_at_one())

    def nngp_at_one(self) -> float:
        """Exact ``NNGP(1) = q_{L+1} = Σ_p ν_p``, the NNGP on the diagonal (1 at unit variance)."""
        return float(self._core.nngp_at_one())


class GramOperator:
    """Matrix-free kernel Gram operator ``V ↦ K V`` with ``K_ij = NTK(⟨x_i, x_j⟩)`` (or NNGP),
    of shape ``(n, n)``; every product recomputes Gram tiles in Rust (multithreaded, GIL
    released), so memory stays ``O(n·block)``. Create it with :meth:`Network.gram_operator`;
    use it with :func:`ntkrs.eigsh`, ``op @ V`` or ``op.matmat(V)``."""

    def __init__(self, core_operator: Any, kind: str) -> None:
        self._core_operator = core_operator
        self.kind = kind
        n = int(core_operator.n)
        self.shape = (n, n)
        self.dtype = np.dtype(np.float64)

    def matmat(self, V: Any) -> np.ndarray:
        """``K @ V`` for a ``(n, b)`` (or ``(n,)``) array, same shape out. Raises
        :class:`~ntkrs.InvalidInputError` for a wrong number of rows and
        :class:`~ntkrs.NonFiniteError` for NaN/inf in ``V``."""
        v = np.asarray(V, dtype=np.float64)
        one = v.ndim == 1
        if one:
            v = v[:, None]
        if v.ndim != 2 or v.shape[0] != self.shape[0]:
            raise InvalidInputError(f"operand must have {self.shape[0]} rows, got shape {np.shape(V)}")
        if not np.all(np.isfinite(v)):
            from .errors import NonFiniteError

            raise NonFiniteError("operand contains NaN or infinity")
        out = np.asarray(self._core_operator.matmat(np.ascontiguousarray(v)))
        return out[:, 0] if one else out

    matvec = matmat

    def __matmul__(self, V: Any) -> np.ndarray:
        return self.matmat(V)

    def __repr__(self) -> str:
        return f"<GramOperator {self.kind} n={self.shape[0]}>"


def _series_from_dict(d: dict) -> Series:
    layers = None
    if d["layers"] is not None:
        layers = tuple(LayerSeries(l["q"], l["nngp"], l["derivative"], l["ntk"]) for l in d["layers"])
    return Series(
        degree=int(d["degree"]),
        ntk=d["ntk"],
        nngp=d["nngp"],
        truncation_bound=d["ntk_truncation_bound"],
        nngp_truncation_bound=float(d["nngp_truncation_bound"]),
        ntk_at_one=d["ntk_at_one"],
        nngp_at_one=float(d["nngp_at_one"]),
        composition_error=d["ntk_composition_error"],
        nngp_composition_error=float(d["nngp_composition_error"]),
        variances=d["variances"],
        layers=layers,
    )


def batch_series(networks: list[Network], degree: int, *, ntk: bool = True) -> list[Series | Exception]:
    """Series of many networks at once, computed in parallel in Rust. A network that fails
    yields its exception object in place (the others are unaffected).

    ``networks`` is a list of :class:`Network`, ``degree`` the highest power of ``ρ`` and
    ``ntk=False`` computes the NNGP only. Returns one :class:`Series` (or exception instance)
    per network, in order. Raises :class:`~ntkrs.InputTypeError` if ``networks`` is not a list
    of networks and :class:`~ntkrs.InvalidInputError` for an invalid ``degree``."""
    degree = _check_degree(degree)
    if isinstance(networks, (str, bytes, Network)):
        raise InputTypeError(f"networks must be a list of ntkrs.Network, got {type(networks).__name__}")
    try:
        networks = list(networks)
    except TypeError:
        raise InputTypeError(f"networks must be a list of ntkrs.Network, got {type(networks).__name__}") from None
    for i, n in enumerate(networks):
        if not isinstance(n, Network):
            raise InputTypeError(f"networks[{i}] is a {type(n).__name__}, not an ntkrs.Network")
    out = _core.batch_network_series([n._core for n in networks], degree, bool(ntk))
    return [r if isinstance(r, BaseException) else _series_from_dict(r) for r in out]
