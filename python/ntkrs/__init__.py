"""ntkrs — Neural Tangent Kernels of deep fully-connected networks as exact power series.

The NTK and NNGP kernels of an infinitely wide network with ``depth`` hidden layers are power
series in the input correlation ρ = ⟨x, y⟩ whose coefficients come from the activation's
Hermite coefficients (Murray, Jin, Bowman & Montúfar, ICLR 2023). The numerical work happens in
a multithreaded Rust core; this package is the API, the activation registry (pluggy plugins)
and the command line.

Quick start::

    import ntkrs
    ntkrs.activations()                          # every registered activation
    ntkrs.hermite_coefficients("relu", 10)       # μ_0..μ_10 of max(x, 0)
    act = ntkrs.get_activation("leaky_relu", slope=0.1)
    act.second_moment(), act.derivative_second_moment()   # E[φ(Z)²], E[φ'(Z)²]
"""

from __future__ import annotations

from . import _core
from .activation import Activation, HermiteResult
from .errors import (
    ConvergenceError,
    DomainError,
    InputTypeError,
    InvalidInputError,
    NonFiniteError,
    NtkrsError,
    PluginError,
    TooLargeError,
    UnknownActivationError,
    UnsupportedError,
)
from .data import as_points, load_digits, load_points, sample_sphere
from .empirical import empirical_ntk
from .hermite import hermite_coefficients, hermite_coefficients_with_error
from .hookspecs import hookimpl, hookspec
from .network import GramOperator, LayerSeries, Network, Series, batch_series
from .registry import (
    ActivationInfo,
    PluginWarning,
    activation_info,
    activations,
    get_activation,
    plugin_errors,
    register_plugin,
)
from .spec import ActivationSpec
from .spectrum import EigshInfo, effective_rank, eigsh, eigvalsh, spectrum_report
from .report import build_report, write_report
from .reproduce import reproduce as reproduce_paper
from .sweep import sweep
from .sweep_spec import SweepSpec
from .sphere import (
    SphereSpectrum,
    SphereSumCheck,
    monomial_sphere_eigenvalue,
    sphere_multiplicity,
    sphere_spectrum,
)


def set_num_threads(threads: int) -> None:
    """Number of worker threads for all ntkrs computations (0: ``RAYON_NUM_THREADS`` or all
    cores). Takes effect for calls started afterwards.

    ``threads`` is an integer ``≥ 0``. The Rust core runs series, Grams, eigensolvers, sphere
    spectra and the empirical NTK on this pool (the command line's ``--threads N``)."""
    import numbers

    if isinstance(threads, bool) or not isinstance(threads, numbers.Integral):
        raise InputTypeError(
            f"threads must be a non-negative integer (0 = RAYON_NUM_THREADS or all cores), "
            f"got {threads!r}"
        )
    if threads < 0:
        raise InvalidInputError(
            f"threads must be >= 0 (0 = RAYON_NUM_THREADS or all cores), got {threads}"
        )
    _core.set_num_threads(int(threads))


def get_num_threads() -> int:
    """Number of worker threads ntkrs uses (as set by :func:`set_num_threads`, else
    ``RAYON_NUM_THREADS``, else the number of cores)."""
    return int(_core.get_num_threads())

__version__: str = _core.VERSION

__all__ = [
    "__version__",
    "Activation",
    "ActivationInfo",
    "ActivationSpec",
    "LayerSeries",
    "GramOperator",
    "Network",
    "Series",
    "batch_series",
    "HermiteResult",
    "PluginWarning",
    "activation_info",
    "as_points",
    "load_digits",
    "load_points",
    "sample_sphere",
    "EigshInfo",
    "effective_rank",
    "empirical_ntk",
    "eigsh",
    "eigvalsh",
    "spectrum_report",
    "SphereSpectrum",
    "SphereSumCheck",
    "monomial_sphere_eigenvalue",
    "sphere_multiplicity",
    "sphere_spectrum",
    "sweep",
    "SweepSpec",
    "build_report",
    "write_report",
    "reproduce_paper",
    "get_num_threads",
    "set_num_threads",
    "activations",
    "get_activation",
    "hermite_coefficients",
    "hermite_coefficients_with_error",
    "hookimpl",
    "hookspec",
    "plugin_errors",
    "register_plugin",
    # errors
    "NtkrsError",
    "InvalidInputError",
    "NonFiniteError",
    "DomainError",
    "UnsupportedError",
    "InputTypeError",
    "UnknownActivationError",
    "PluginError",
    "ConvergenceError",
    "TooLargeError",
]
