"""``Activation``: one activation function with its parameters bound, as the rest of ntkrs
uses it (Hermite coefficients at any scale, second moments, evaluation).

Conventions: ``Z ~ N(0, 1)``; ``h_k = He_k / √(k!)`` are the orthonormal probabilists' Hermite
polynomials; ``μ_k(φ) = E[φ(Z) h_k(Z)]``; the scale ``q`` means ``φ_q(z) = φ(√q z)`` (the
pre-activation variance of a layer).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from . import _core
from .errors import (
    InputTypeError,
    InvalidInputError,
    PluginError,
    UnsupportedError,
)
from .spec import ActivationSpec

__all__ = ["Activation", "HermiteResult", "MAX_DEGREE", "RustClosedForm"]

#: Largest Hermite degree ntkrs accepts (far beyond any practical need).
MAX_DEGREE = 100_000

# Degree used to estimate moments of activations that give only a closed-form `hermite`.
_MOMENT_DEGREE = 4000


class RustClosedForm:
    """Marker used by the built-in plugin: the Hermite coefficients of ``name`` are computed by
    the Rust core's closed forms. Calling it behaves like any ``hermite(degree, q, **params)``.
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, degree: int, q: float = 1.0, **params: Any) -> np.ndarray:
        return _core.closed_form_coefficients(self.name, params, degree, q)[0]

    def __repr__(self) -> str:
        return f"RustClosedForm({self.name!r})"


@dataclass(frozen=True)
class HermiteResult:
    """Hermite coefficients with their error estimate.

    Attributes
    ----------
    mu: ``μ_0 … μ_K`` of ``φ(√q z)``.
    error: estimated maximum absolute error over the entries of ``mu``.
    second_moment: ``E[φ(√q Z)²] = Σ_k μ_k²`` over all k.
    """

    mu: np.ndarray
    error: float
    second_moment: float

    @property
    def tail_mass(self) -> float:
        """Upper estimate of ``Σ_{k>K} μ_k²`` (what the truncated vector leaves out)."""
        return max(self.second_moment - float(np.dot(self.mu, self.mu)), 0.0) + 2.0 * self.error * (
            float(np.sum(np.abs(self.mu))) + self.error * self.mu.size
        )


def _check_degree(degree: Any) -> int:
    if isinstance(degree, bool) or not isinstance(degree, (int, np.integer)):
        raise InputTypeError(f"degree must be an integer, got {degree!r}")
    degree = int(degree)
    if degree < 0:
        raise InvalidInputError(f"degree must be >= 0, got {degree}")
    if degree > MAX_DEGREE:
        raise InvalidInputError(
            f"degree {degree} is absurdly large (limit {MAX_DEGREE}); coefficients of that "
            "order are far below double precision for every activation"
        )
    return degree


def _check_q(q: Any) -> float:
    try:
        q = float(q)
    except (TypeError, ValueError):
        raise InputTypeError(f"q must be a positive real number, got {q!r}") from None
    if not (q > 0.0 and math.isfinite(q)):
        raise InvalidInputError(f"q (the pre-activation variance) must be positive and finite, got {q}")
    return q


class Activation:
    """An activation function φ with bound parameters.

    Obtain one with :func:`ntkrs.get_activation`. ``act(x)`` evaluates φ elementwise.

    Attributes: ``name``, ``params`` (the bound parameters, defaults filled in), ``source``
    (the plugin that registered it, ``"ntkrs.builtin"`` for built-ins) and ``spec`` (its
    :class:`~ntkrs.ActivationSpec`). Hermite coefficients are cached per ``(degree, q)``;
    instances are safe to share between threads.
    """

    def __init__(self, spec: ActivationSpec, params: Mapping[str, Any], source: str) -> None:
        self.spec = spec
        self.name = spec.name
        self.source = source
        self.params = self._bind(spec, params)
        self._lock = threading.Lock()
        self._cache: dict[tuple[int, float], HermiteResult] = {}

    # ------------------------------------------------------------------ construction
    @staticmethod
    def _bind(spec: ActivationSpec, given: Mapping[str, Any]) -> dict[str, Any]:
        defaults = dict(spec.params or {})
        unknown = sorted(set(given) - set(defaults))
        if unknown:
            accepted = ", ".join(defaults) if defaults else "none"
            raise InvalidInputError(
                f"activation {spec.name!r} has no parameter {', '.join(map(repr, unknown))}; "
                f"accepted parameters: {accepted}"
            )
        bound = dict(defaults)
        for key, value in given.items():
            default = defaults[key]
            if isinstance(default, (list, tuple, np.ndarray)):
                try:
                    arr = np.asarray(value, dtype=np.float64)
                except (TypeError, ValueError):
                    raise InputTypeError(
                        f"parameter {key!r} of {spec.name!r} must be a sequence of numbers, got {value!r}"
                    ) from None
                if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)):
                    raise InvalidInputError(
                        f"parameter {key!r} of {spec.name!r} must be a non-empty list of finite numbers"
                    )
                bound[key] = tuple(float(v) for v in arr)
            elif isinstance(default, (int, np.integer)) and not isinstance(default, bool):
                if isinstance(value, bool) or not isinstance(value, (int, np.integer, float)) or (
                    isinstance(value, float) and not value.is_integer()
                ):
                    raise InvalidInputError(
                        f"parameter {key!r} of {spec.name!r} must be an integer, got {value!r}"
                    )
                if int(value) < 0:
                    raise InvalidInputError(
                        f"parameter {key!r} of {spec.name!r} must be >= 0, got {value!r}"
                    )
                bound[key] = int(value)
            else:
                if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                    raise InputTypeError(
                        f"parameter {key!r} of {spec.name!r} must be a real number, got {value!r}"
                    )
                if not math.isfinite(float(value)):
                    raise InvalidInputError(
                        f"parameter {key!r} of {spec.name!r} must be finite, got {value!r}"
                    )
                bound[key] = float(value)
        return bound

    # ------------------------------------------------------------------ description
    @property
    def closed_form(self) -> str | None:
        """Name of the Rust closed form behind this activation, or ``None``."""
        h = self.spec.hermite
        return h.name if isinstance(h, RustClosedForm) else None

    @property
    def kind(self) -> str:
        """How the Hermite coefficients are obtained: ``"closed form"``,
        ``"exact (piecewise linear)"``, ``"quadrature"``, ``"coefficients"`` or ``"dual"``."""
        if self.closed_form is not None:
            return "closed form"
        if self.spec.hermite is not None:
            return "closed form (plugin)"
        if self.spec.fn is not None:
            return "quadrature"
        if self.spec.coefficients is not None:
            return "coefficients"
        return "dual"

    @property
    def kinks(self) -> tuple[float, ...]:
        """Points where φ is not smooth."""
        if self.closed_form is not None:
            return tuple(_core.closed_form_kinks(self.closed_form, self.params))
        return tuple(self.spec.kinks)

    @property
    def label(self) -> str:
        """``name(param=value, …)``, the form the CLI accepts."""
        if not self.params:
            return self.name
        inner = ", ".join(f"{k}={list(v) if isinstance(v, tuple) else v!r}" for k, v in self.params.items())
        return f"{self.name}({inner})"

    def __repr__(self) -> str:
        return f"<Activation {self.label} [{self.kind}] from {self.source}>"

    def _plugin_error(self, what: str) -> PluginError:
        return PluginError(f"plugin {self.source!r}, activation {self.name!r}: {what}", plugin=self.source)

    # ------------------------------------------------------------------ evaluation
    def __call__(self, x: Any) -> np.ndarray:
        """φ(x), elementwise, as a float64 array of the shape of ``x``.

        Raises :class:`~ntkrs.UnsupportedError` for an activation given only by Hermite
        coefficients or a dual kernel, and :class:`~ntkrs.PluginError` if a plugin's function
        raises or returns NaN/inf or a wrong shape."""
        return self._evaluate(x, derivative=False)

    def derivative(self, x: Any) -> np.ndarray:
        """φ'(x), elementwise (float64, the shape of ``x``); derived by fourth-order central
        differences of φ (steps kept clear of the kinks) when the activation gives no
        derivative. Raises as :meth:`__call__`."""
        return self._evaluate(x, derivative=True)

    def _evaluate(self, x: Any, *, derivative: bool) -> np.ndarray:
        if np.iscomplexobj(x):
            raise InputTypeError(f"{self.name} is evaluated at real numbers, got complex input")
        try:
            arr = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputTypeError(
                f"{self.name} is evaluated at real numbers: x must be a number or an array of "
                f"numbers, got {type(x).__name__}"
            ) from None
        shape = arr.shape
        flat = np.ascontiguousarray(arr.ravel())
        if self.closed_form is not None:
            return np.asarray(_core.closed_form_eval(self.closed_form, self.params, flat, derivative)).reshape(shape)
        if derivative and self.spec.derivative is not None:
            return self._call_user(self.spec.derivative, flat, "derivative").reshape(shape)
        if self.spec.fn is None:
            raise UnsupportedError(
                f"activation {self.name!r} is given only through its Hermite coefficients or dual "
                "kernel and cannot be evaluated pointwise"
            )
        if not derivative:
            return self._call_user(self.spec.fn, flat, "fn").reshape(shape)
        return self._numerical_derivative(flat).reshape(shape)

    def _call_user(self, func: Callable[..., Any], x: np.ndarray, what: str) -> np.ndarray:
        try:
            out = func(x, **self.params)
        except Exception as exc:  # a plugin's fault must not take ntkrs down
            raise self._plugin_error(f"{what} raised {type(exc).__name__}: {exc}") from exc
        if np.iscomplexobj(out):
            raise self._plugin_error(f"{what} returned complex values; it must return real numbers")
        try:
            out = np.asarray(out, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise self._plugin_error(f"{what} returned something that is not an array of numbers") from exc
        if out.shape != x.shape:
            if out.size == 1 and x.size == 1:
                out = out.reshape(x.shape)
            else:
                raise self._plugin_error(
                    f"{what} returned shape {out.shape} for input of shape {x.shape}; it must be "
                    "vectorised (same shape out as in)"
                )
        bad = ~np.isfinite(out)
        if bad.any():
            i = int(np.argmax(bad))
            raise self._plugin_error(f"{what} returned {out[i]} at x = {float(x[i])!r}")
        return out

    def _numerical_derivative(self, x: np.ndarray) -> np.ndarray:
        # Fourth-order central differences (Richardson), with the step kept clear of kinks.
        h = 1e-3 * np.maximum(1.0, np.abs(x))
        for k in self.kinks:
            d = np.abs(x - k)
            h = np.where(d > 0, np.minimum(h, d / 2.5), h)
        f = self.spec.fn
        assert f is not None
        fp1 = self._call_user(f, x + h, "fn")
        fm1 = self._call_user(f, x - h, "fn")
        fp2 = self._call_user(f, x + 2 * h, "fn")
        fm2 = self._call_user(f, x - 2 * h, "fn")
        return (8.0 * (fp1 - fm1) - (fp2 - fm2)) / (12.0 * h)

    # ------------------------------------------------------------------ Hermite coefficients
    def hermite(self, degree: int, q: float = 1.0) -> np.ndarray:
        """``μ_0 … μ_degree`` of ``φ(√q z)``: ``μ_k = E[φ(√q Z) h_k(Z)]``, ``h_k = He_k/√(k!)``,
        ``Z ~ N(0, 1)``; ``q > 0`` is the pre-activation variance. Returns a float64 array of
        length ``degree + 1``.

        Raises :class:`~ntkrs.InvalidInputError`/:class:`~ntkrs.InputTypeError` for an invalid
        ``degree`` (``0 ≤ degree ≤ 100000``) or ``q``, :class:`~ntkrs.UnsupportedError` for
        ``q ≠ 1`` with a coefficient-list activation (or a dual-only one), and
        :class:`~ntkrs.PluginError` if a plugin's function misbehaves."""
        return self.hermite_with_error(degree, q).mu.copy()

    def hermite_with_error(self, degree: int, q: float = 1.0) -> HermiteResult:
        """Like :meth:`hermite`, returning a :class:`HermiteResult`: ``mu``, ``error`` (the
        estimated maximum absolute error of the entries), ``second_moment`` ``E[φ(√q Z)²]`` and
        ``tail_mass`` (an upper estimate of ``Σ_{k>degree} μ_k²``). Same exceptions as
        :meth:`hermite`; the result is cached and its ``mu`` read-only."""
        degree = _check_degree(degree)
        q = _check_q(q)
        key = (degree, q)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        result = self._compute_hermite(degree, q)
        result.mu.setflags(write=False)
        with self._lock:
            self._cache[key] = result
        return result

    def _compute_hermite(self, degree: int, q: float) -> HermiteResult:
        if self.closed_form is not None:
            mu, err, m2 = _core.closed_form_coefficients(self.closed_form, self.params, degree, q)
            return HermiteResult(np.asarray(mu), float(err), float(m2))
        if self.spec.hermite is not None:
            return self._from_plugin_hermite(degree, q)
        if self.spec.fn is not None:
            plan = _core.SamplingPlan(degree, list(self.spec.kinks), q)
            values = self._call_user(self.spec.fn, np.asarray(plan.points), "fn")
            mu, err, m2 = plan.coefficients(values)
            with np.errstate(over="ignore", invalid="ignore"):
                captured = float(np.dot(np.asarray(mu), np.asarray(mu)))
            if not (math.isfinite(float(m2)) and math.isfinite(captured)):
                raise self._plugin_error(
                    f"fn grows too fast: E[phi(sqrt(q) Z)^2] at q = {q} is not finite in double "
                    "precision (the activation must be square integrable under the Gaussian)"
                )
            return HermiteResult(np.asarray(mu), float(err), float(m2))
        if self.spec.coefficients is not None:
            if q != 1.0:
                raise UnsupportedError(
                    f"activation {self.name!r} is given only as a list of Hermite coefficients, "
                    f"which fixes the scale q = 1 (asked for q = {q}); give the plugin an `fn` or a "
                    "`hermite(degree, q)` closed form to use other variances"
                )
            given = np.asarray(self.spec.coefficients, dtype=np.float64)
            mu = np.zeros(degree + 1)
            n = min(degree + 1, given.size)
            mu[:n] = given[:n]
            return HermiteResult(mu, 0.0, float(np.dot(given, given)))
        raise UnsupportedError(
            f"activation {self.name!r} is given only through its dual kernel; its Hermite "
            "coefficients are not available (give fn, hermite or coefficients)"
        )

    def _from_plugin_hermite(self, degree: int, q: float) -> HermiteResult:
        assert self.spec.hermite is not None
        mu = self._call_hermite(degree, q)
        if self.spec.fn is not None:
            plan = _core.SamplingPlan(min(degree, 200), list(self.spec.kinks), q)
            values = self._call_user(self.spec.fn, np.asarray(plan.points), "fn")
            m2 = float(plan.coefficients(values)[2])
        else:
            big = self._call_hermite(max(degree, _MOMENT_DEGREE), q)
            with np.errstate(over="ignore", invalid="ignore"):
                m2 = float(np.dot(big, big))
        if not math.isfinite(m2):
            raise self._plugin_error(
                f"the Hermite coefficients at q = {q} are not square-summable in double precision "
                "(sum of mu_k^2 is infinite)"
            )
        err = 1e-15 * max(1.0, float(np.max(np.abs(mu))))
        return HermiteResult(mu, err, m2)

    def _call_hermite(self, degree: int, q: float) -> np.ndarray:
        assert self.spec.hermite is not None
        try:
            out = self.spec.hermite(degree, q, **self.params)
        except Exception as exc:
            raise self._plugin_error(f"hermite raised {type(exc).__name__}: {exc}") from exc
        if np.iscomplexobj(out):
            raise self._plugin_error("hermite returned complex values; it must return real numbers")
        try:
            mu = np.array(out, dtype=np.float64).ravel()
        except (TypeError, ValueError) as exc:
            raise self._plugin_error("hermite returned something that is not an array of numbers") from exc
        if mu.shape != (degree + 1,):
            raise self._plugin_error(
                f"hermite(degree={degree}) returned shape {np.shape(out)}; expected ({degree + 1},)"
            )
        if not np.all(np.isfinite(mu)):
            raise self._plugin_error(f"hermite(degree={degree}, q={q}) returned NaN or inf")
        return mu

    # ------------------------------------------------------------------ moments
    def second_moment(self, q: float = 1.0) -> float:
        """``E[φ(√q Z)²]`` for ``Z ~ N(0, 1)`` (``q = 1``: ``E[φ(Z)²] = Σ_k μ_k²``; ReLU: ``q/2``).

        Raises :class:`~ntkrs.InvalidInputError` for ``q ≤ 0`` or non-finite ``q`` and
        :class:`~ntkrs.UnsupportedError` for ``q ≠ 1`` with a coefficient-list activation."""
        q = _check_q(q)
        if self.closed_form is not None:
            return float(_core.closed_form_second_moment(self.closed_form, self.params, q))
        if self.spec.fn is not None:
            return self.hermite_with_error(min(64, MAX_DEGREE), q).second_moment
        return self.hermite_with_error(0, q).second_moment

    def derivative_second_moment(self, q: float = 1.0) -> float:
        """``E[φ'(√q Z)²]`` (derivative with respect to φ's own argument).

        Equals ``Σ_k k μ_k(φ_q)² / q``. Raises :class:`~ntkrs.DomainError` when φ' is not square
        integrable (the step function).
        """
        q = _check_q(q)
        if self.closed_form is not None:
            return float(_core.closed_form_derivative_second_moment(self.closed_form, self.params, q))
        if self.spec.fn is not None:
            # Quadrature of φ'² on the Rust sampling plan (the derivative may jump at the kinks).
            plan = _core.SamplingPlan(64, list(self.kinks), q)
            values = self._evaluate(np.asarray(plan.points), derivative=True)
            return float(plan.coefficients(values)[2])
        if self.spec.coefficients is not None:
            if q != 1.0:
                self.hermite_with_error(0, q)  # raises the UnsupportedError
            mu = np.asarray(self.spec.coefficients, dtype=np.float64)
            return float(np.dot(np.arange(mu.size), mu * mu))
        if self.spec.hermite is not None:
            mu = self._call_hermite(_MOMENT_DEGREE, q)
            return float(np.dot(np.arange(mu.size), mu * mu)) / q
        raise UnsupportedError(f"activation {self.name!r} gives only its dual kernel")

