"""Type stubs of the compiled Rust extension ``ntkrs._core`` (kept in step with
crates/ntkrs-py). Users should call the public API in ``ntkrs``; these are the raw bindings."""

from typing import Any, Mapping, Sequence

import numpy as np
import numpy.typing as npt

VERSION: str

def closed_form_coefficients(
    name: str, params: Mapping[str, Any], degree: int, q: float = 1.0
) -> tuple[npt.NDArray[np.float64], float, float]:
    """``(mu, error, second_moment)``: Hermite coefficients μ_0..μ_degree of φ(√q z) for a
    closed-form built-in, the error estimate, and E[φ(√q Z)²]."""

def closed_form_second_moment(name: str, params: Mapping[str, Any], q: float = 1.0) -> float:
    """E[φ(√q Z)²]."""

def closed_form_derivative_second_moment(name: str, params: Mapping[str, Any], q: float = 1.0) -> float:
    """E[φ'(√q Z)²]; DomainError for the step function."""

def closed_form_eval(
    name: str, params: Mapping[str, Any], x: npt.NDArray[np.float64], derivative: bool = False
) -> npt.NDArray[np.float64]:
    """φ(x) or φ'(x) elementwise (1-D float64 input)."""

def closed_form_kinks(name: str, params: Mapping[str, Any]) -> list[float]:
    """Points where the activation is not smooth."""

def gauss_hermite(n: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Probabilists' Gauss–Hermite nodes and weights (weights sum to 1)."""

class SamplingPlan:
    """Points at which a Python callable must be evaluated to get its Hermite coefficients up
    to ``degree`` at scale ``q``; ``coefficients(values)`` does the sums in Rust."""

    def __init__(self, degree: int, kinks: Sequence[float], q: float = 1.0) -> None: ...
    @property
    def points(self) -> npt.NDArray[np.float64]: ...
    def coefficients(self, values: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], float, float]: ...
    def __len__(self) -> int: ...
