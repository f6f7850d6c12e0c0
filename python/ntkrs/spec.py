"""``ActivationSpec``: how a plugin (or ntkrs itself) describes an activation function."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .errors import InputTypeError, InvalidInputError

__all__ = ["ActivationSpec"]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class ActivationSpec:
    """Description of one activation function φ, returned by the ``ntkrs_activations`` hook.

    Parameters
    ----------
    name:
        Unique lowercase identifier (``[a-z][a-z0-9_]*``), e.g. ``"snake"``.
    fn:
        Vectorised ``fn(x, **params) -> ndarray`` evaluating φ on a float64 array. ntkrs
        computes the Hermite coefficients by quadrature: the Rust core picks the points, ``fn``
        is evaluated there once, the core does the sums.
    derivative:
        Optional vectorised φ'. When absent it is derived numerically from ``fn``.
    kinks:
        Points where φ is not smooth (for ReLU ``(0.0,)``). The quadrature splits there; if φ
        is affine between consecutive kinks its coefficients are computed exactly.
    hermite:
        Closed form ``hermite(degree, q, **params) -> ndarray`` of length ``degree + 1``
        returning ``μ_k(φ_q) = E[φ(√q Z) h_k(Z)]`` with ``h_k = He_k / √(k!)``.
    coefficients:
        A fixed list ``μ_0, μ_1, …`` (usable at ``q = 1`` only; higher ones are taken as 0).
    dual:
        Exact dual kernel: ``dual(cov, q1, q2, **params) -> (E[φ(u)φ(v)], E[φ'(u)φ'(v)])``
        for centred Gaussians with variances ``q1, q2`` and covariance ``cov``.
    params:
        Parameter names with their default values, e.g. ``{"a": 1.0}``.
    aliases:
        Other names under which the activation can be requested.
    description:
        One line shown by ``ntkrs activations``, e.g. the formula.

    At least one of ``fn``, ``hermite``, ``coefficients`` and ``dual`` is required.
    """

    name: str
    fn: Callable[..., Any] | None = None
    derivative: Callable[..., Any] | None = None
    kinks: Sequence[float] = ()
    hermite: Callable[..., Any] | None = None
    coefficients: Sequence[float] | None = None
    dual: Callable[..., Any] | None = None
    params: Mapping[str, Any] | None = None
    aliases: Sequence[str] = ()
    description: str = ""
    _extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise InvalidInputError(
                f"activation name {self.name!r} is invalid: use a lowercase identifier "
                "such as 'snake' or 'leaky_relu'"
            )
        if isinstance(self.aliases, str):  # one alias given as a bare string, not its letters
            object.__setattr__(self, "aliases", (self.aliases,))
        try:
            object.__setattr__(self, "aliases", tuple(self.aliases))
        except TypeError:
            raise InputTypeError(
                f"aliases of activation {self.name!r} must be a list of names, got {self.aliases!r}"
            ) from None
        if not isinstance(self.description, str):
            object.__setattr__(self, "description", str(self.description))
        for alias in self.aliases:
            if not isinstance(alias, str) or not _NAME.match(alias):
                raise InvalidInputError(
                    f"alias {alias!r} of activation {self.name!r} is not a lowercase identifier"
                )
        if self.fn is None and self.hermite is None and self.coefficients is None and self.dual is None:
            raise InvalidInputError(
                f"activation {self.name!r} gives none of fn, hermite, coefficients, dual: "
                "at least one is needed"
            )
        for attr in ("fn", "derivative", "hermite", "dual"):
            value = getattr(self, attr)
            if value is not None and not callable(value):
                raise InputTypeError(f"{attr} of activation {self.name!r} must be callable")
        try:
            kinks = tuple(float(k) for k in self.kinks)
        except (TypeError, ValueError):
            raise InputTypeError(
                f"kinks of activation {self.name!r} must be a sequence of real numbers"
            ) from None
        if not all(math.isfinite(k) for k in kinks):
            raise InvalidInputError(f"kinks of activation {self.name!r} must be finite")
        object.__setattr__(self, "kinks", tuple(sorted(set(kinks))))
        if self.coefficients is not None:
            try:
                mu = np.asarray(self.coefficients, dtype=np.float64)
            except (TypeError, ValueError):
                raise InputTypeError(
                    f"coefficients of activation {self.name!r} must be a sequence of real numbers"
                ) from None
            if mu.ndim != 1 or mu.size == 0:
                raise InvalidInputError(
                    f"coefficients of activation {self.name!r} must be a non-empty 1-D sequence"
                )
            with np.errstate(over="ignore", invalid="ignore"):
                m2 = float(np.dot(mu, mu)) if np.all(np.isfinite(mu)) else math.nan
            if not math.isfinite(m2):
                raise InvalidInputError(
                    f"coefficients of activation {self.name!r} contain NaN/inf or are not "
                    "square-summable"
                )
            mu.setflags(write=False)
            object.__setattr__(self, "coefficients", mu)
        params = dict(self.params or {})
        for key in params:
            if not isinstance(key, str) or not key.isidentifier():
                raise InvalidInputError(
                    f"parameter name {key!r} of activation {self.name!r} is not an identifier"
                )
            value = params[key]
            if isinstance(value, (list, tuple, np.ndarray)):
                try:
                    ok = np.asarray(value, dtype=np.float64).ndim == 1
                except (TypeError, ValueError):
                    ok = False
            else:
                ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
            if not ok:
                raise InputTypeError(
                    f"default of parameter {key!r} of activation {self.name!r} must be a number or "
                    f"a list of numbers, got {value!r}"
                )
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "aliases", tuple(self.aliases))
