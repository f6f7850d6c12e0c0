"""The built-in activations, registered through the same ``ntkrs_activations`` hook that
third-party plugins implement (so the registry has one path).

Closed forms (ReLU family, erf, sin/cos/exp, Gaussians, GELU, polynomials, and the
piecewise-linear hard-tanh/ReLU6) are computed by the Rust core; the others are integrated
numerically by the Rust quadrature with their ``fn`` evaluated at the points the core chooses.
"""

from __future__ import annotations

import numpy as np

from .activation import RustClosedForm
from .hookspecs import hookimpl
from .spec import ActivationSpec

# SELU constants (Klambauer et al. 2017).
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _closed(name: str, description: str, params: dict | None = None, aliases: tuple = ()) -> ActivationSpec:
    from . import _core

    def fn(x: np.ndarray, **p: object) -> np.ndarray:
        return np.asarray(_core.closed_form_eval(name, p, np.ascontiguousarray(x, dtype=np.float64), False))

    def derivative(x: np.ndarray, **p: object) -> np.ndarray:
        return np.asarray(_core.closed_form_eval(name, p, np.ascontiguousarray(x, dtype=np.float64), True))

    return ActivationSpec(
        name=name,
        fn=fn,
        derivative=derivative,
        hermite=RustClosedForm(name),
        params=params or {},
        aliases=aliases,
        description=description,
    )


def _sigmoid(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def tanh(x: np.ndarray) -> np.ndarray:
    return np.tanh(x)


def tanh_prime(x: np.ndarray) -> np.ndarray:
    return 1.0 / np.cosh(np.clip(x, -350, 350)) ** 2


def sigmoid(x: np.ndarray) -> np.ndarray:
    return _sigmoid(x)


def sigmoid_prime(x: np.ndarray) -> np.ndarray:
    s = _sigmoid(x)
    return s * _sigmoid(-x)


def softplus(x: np.ndarray) -> np.ndarray:
    return _softplus(x)


def silu(x: np.ndarray) -> np.ndarray:
    return x * _sigmoid(x)


def silu_prime(x: np.ndarray) -> np.ndarray:
    s = _sigmoid(x)
    return s + x * s * _sigmoid(-x)


def mish(x: np.ndarray) -> np.ndarray:
    return x * np.tanh(_softplus(x))


def mish_prime(x: np.ndarray) -> np.ndarray:
    t = np.tanh(_softplus(x))
    return t + x * (1.0 - t * t) * _sigmoid(x)


def elu(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def elu_prime(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    return np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0.0)))


def selu(x: np.ndarray) -> np.ndarray:
    return SELU_SCALE * elu(x, SELU_ALPHA)


def selu_prime(x: np.ndarray) -> np.ndarray:
    return SELU_SCALE * elu_prime(x, SELU_ALPHA)


@hookimpl
def ntkrs_activations() -> list[ActivationSpec]:
    """All built-in activations (DESIGN: the table of built-ins)."""
    return [
        _closed("relu", "max(x, 0)"),
        _closed("leaky_relu", "max(x, slope*x)", {"slope": 0.01}),
        _closed("abs", "|x|"),
        _closed("step", "1[x > 0] (NNGP only: its NTK is infinite on the diagonal)", aliases=("heaviside",)),
        _closed("identity", "x", aliases=("linear",)),
        _closed("erf", "erf(scale*x)", {"scale": 1.0}),
        _closed("gelu", "x * Phi(x)"),
        _closed("hardtanh", "clip(x, -1, 1)"),
        _closed("relu6", "clip(x, 0, 6)"),
        _closed("sin", "sin(freq*x)", {"freq": 1.0}),
        _closed("cos", "cos(freq*x)", {"freq": 1.0}),
        _closed("exp", "exp(scale*x)", {"scale": 1.0}),
        _closed("gaussian", "exp(-x^2/2)"),
        _closed("gaussian_pdf", "exp(-x^2/2)/sqrt(2 pi)  (the paper's 'Gaussian')"),
        _closed("monomial", "x^n", {"n": 2}),
        _closed("hermite", "h_n(x) = He_n(x)/sqrt(n!)", {"n": 2}),
        _closed("polynomial", "sum_i coeffs[i] x^i", {"coeffs": (0.0, 1.0)}),
        ActivationSpec("tanh", fn=tanh, derivative=tanh_prime, description="tanh(x)"),
        ActivationSpec("sigmoid", fn=sigmoid, derivative=sigmoid_prime, description="1/(1+exp(-x))"),
        ActivationSpec("softplus", fn=softplus, derivative=sigmoid, description="log(1+exp(x))"),
        ActivationSpec("silu", fn=silu, derivative=silu_prime, aliases=("swish",), description="x*sigmoid(x)"),
        ActivationSpec("mish", fn=mish, derivative=mish_prime, description="x*tanh(softplus(x))"),
        ActivationSpec(
            "elu", fn=elu, derivative=elu_prime, kinks=(0.0,), params={"alpha": 1.0},
            description="x (x>0), alpha*(exp(x)-1) (x<=0)",
        ),
        ActivationSpec(
            "selu", fn=selu, derivative=selu_prime, kinks=(0.0,),
            description="scale*elu(x, alpha) with the standard SELU constants",
        ),
    ]
