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

# ---------------------------------------------------------------- sphere (Funk–Hecke)

class SphereSpectrum:
    """Eigenvalues λ_0..λ_K of a dot-product kernel on the uniform sphere S^(d-1)
    (engine side of ``ntkrs.SphereSpectrum``)."""

    @property
    def dim(self) -> int: ...
    @property
    def max_degree(self) -> int: ...
    @property
    def series_degree(self) -> int: ...
    @property
    def eigenvalues(self) -> npt.NDArray[np.float64]: ...
    @property
    def log_eigenvalues(self) -> npt.NDArray[np.float64]: ...
    @property
    def errors(self) -> npt.NDArray[np.float64]: ...
    @property
    def tails(self) -> npt.NDArray[np.float64]: ...
    @property
    def multiplicities(self) -> npt.NDArray[np.float64]: ...
    @property
    def log_multiplicities(self) -> npt.NDArray[np.float64]: ...
    def tail_fits(self) -> list[dict[str, Any]]:
        """Per parity: ``{parity, kind ("power_law"|"bound"|"zero"|"exact"), exponent, residual}``."""
    def predicted_exponent(self) -> float | None:
        """``d + 2a − 3`` from the fitted coefficient exponent a, or None."""
    def fit_decay(self, k_min: int | None = None, k_max: int | None = None) -> float:
        """Least-squares exponent s of λ_k ≈ C k^(−s) on k_min ≤ k ≤ k_max."""
    def by_index(self, m: int) -> npt.NDArray[np.float64]:
        """First m eigenvalues by index (descending, each repeated N(d, k) times)."""

def sphere_spectrum(
    coefficients: npt.NDArray[np.float64],
    dim: int,
    max_degree: int,
    tail_mass: float | None = None,
    mass_error: float = 0.0,
    coefficient_noise: float = 0.0,
    noise_from: int | None = None,
) -> SphereSpectrum:
    """Funk–Hecke eigenvalues of Σ κ_p ρ^p on S^(dim−1) for k = 0..max_degree (GIL released)."""

def sphere_recommended_degree(dim: int, max_degree: int) -> int:
    """Default series degree max(2000, ⌈4 k(k+d)/(d−1)⌉) at k = max_degree."""

def sphere_minimum_degree(dim: int, max_degree: int) -> int:
    """Smallest series degree accepted, max(128, max_degree + 2)."""

def sphere_monomial_eigenvalue(dim: int, k: int, p: int) -> tuple[float, float]:
    """``(λ_k(ρ^p), ln λ_k(ρ^p))`` on S^(dim−1)."""

def sphere_multiplicity(dim: int, k: int) -> tuple[float, float]:
    """``(N(dim, k), ln N(dim, k))``."""

# ---------------------------------------------------------------- networks and kernels

class Network:
    """Engine side of ``ntkrs.Network``. ``activation`` is ``("closed", name, params)`` or
    ``("tabulated", name, [(q, mu, error, second_moment, derivative_second_moment | None), ...])``."""

    def __init__(
        self,
        activation: tuple,
        depth: int,
        weight_var: float | None = None,
        bias_var: float | None = None,
        input_weight_var: float = 1.0,
        input_bias_var: float = 0.0,
    ) -> None: ...
    @staticmethod
    def edge_of_chaos(activation: tuple, depth: int, q: float) -> "Network": ...
    @property
    def depth(self) -> int: ...
    @property
    def weight_var(self) -> float: ...
    @property
    def bias_var(self) -> float: ...
    @property
    def input_weight_var(self) -> float: ...
    @property
    def input_bias_var(self) -> float: ...
    def variances(self) -> npt.NDArray[np.float64]: ...
    def ntk_at_one(self) -> float: ...
    def nngp_at_one(self) -> float: ...
    def series(self, degree: int, ntk: bool = True, keep_layers: bool = False) -> dict[str, Any]: ...
    def coefficients(self, degree: int, ntk: bool = True) -> npt.NDArray[np.float64]: ...
    def kernel_at(
        self, rho: npt.NDArray[np.float64], ntk: bool = True
    ) -> tuple[npt.NDArray[np.float64] | None, npt.NDArray[np.float64]]: ...
    def gram(
        self,
        x: npt.NDArray[np.float64],
        y: npt.NDArray[np.float64] | None,
        kind: str,
        method: str,
        degree: int,
        f32: bool,
    ) -> npt.NDArray[Any]: ...
    def gram_operator(self, x: npt.NDArray[np.float64], kind: str) -> "GramOperator": ...

class GramOperator:
    """Matrix-free Gram operator (recomputes Gram tiles on every product)."""

    @property
    def n(self) -> int: ...
    def matmat(self, v: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]: ...
    def eigsh(
        self,
        k: int,
        which: str = "largest",
        tol: float = 1e-10,
        return_vectors: bool = False,
        max_restarts: int = 1000,
        seed: int = 0,
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64] | None, dict[str, Any]]: ...

def batch_network_series(networks: Sequence[Network], degree: int, ntk: bool = True) -> list[Any]:
    """One series dict per network, or the exception instance for a network that failed."""

# ---------------------------------------------------------------- eigensolvers

def eigsh_dense(
    a: npt.NDArray[np.float64],
    k: int,
    which: str = "largest",
    tol: float = 1e-10,
    return_vectors: bool = False,
    max_restarts: int = 1000,
    seed: int = 0,
    block_size: int | None = None,
    krylov_dim: int | None = None,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64] | None, dict[str, Any]]:
    """Block Lanczos (dense path for small n) on a C-contiguous symmetric matrix."""

def eigsh_callable(
    n: int,
    matmat: Any,
    k: int,
    which: str = "largest",
    tol: float = 1e-10,
    return_vectors: bool = False,
    max_restarts: int = 1000,
    seed: int = 0,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64] | None, dict[str, Any]]:
    """Block Lanczos on an operator given by ``matmat(X: (n, b)) -> (n, b)``."""

def eigvalsh_dense(a: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """All eigenvalues (ascending) of a symmetric matrix."""

# ---------------------------------------------------------------- empirical NTK, threads

def empirical_ntk(
    x: npt.NDArray[np.float64],
    activation: tuple,
    depth: int,
    width: int,
    weight_var: float,
    bias_var: float,
    input_weight_var: float,
    input_bias_var: float,
    seed: int,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], list[float]]:
    """``(ntk, readout_nngp, outputs)`` of one random network of the given width."""

def empirical_parameters(
    input_dim: int, depth: int, width: int, seed: int
) -> tuple[list[tuple[npt.NDArray[np.float64], list[float]]], list[float], float]:
    """The unscaled parameters ``empirical_ntk`` draws for ``seed``."""

def set_num_threads(threads: int) -> None: ...
def get_num_threads() -> int: ...
