"""scikit-learn adapter: the NTK/NNGP of a network as a kernel for KernelRidge, SVC,
GaussianProcessRegressor and friends (optional extra ``pip install "ntkrs[sklearn]"``).

Two ways to use it:

* as a callable kernel, ``KernelRidge(kernel=NTKKernel("relu", depth=3))`` or
  ``SVC(kernel=NTKKernel(...))`` (scikit-learn calls ``kernel(X, Y)`` and gets the Gram);
* as a Gaussian-process kernel, ``GaussianProcessRegressor(kernel=NTKKernel(...))`` (it
  implements scikit-learn's ``Kernel`` interface with no tunable hyperparameters).

Inputs are projected onto the unit sphere (``normalize=True`` by default), since the kernels
are functions of ``⟨x, y⟩`` for unit vectors.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import InvalidInputError
from .network import Network

try:  # scikit-learn is optional
    from sklearn.gaussian_process.kernels import Kernel as _SkKernel
except ImportError:  # pragma: no cover - exercised only without scikit-learn
    _SkKernel = object  # type: ignore[assignment,misc]

__all__ = ["NTKKernel"]


class NTKKernel(_SkKernel):  # type: ignore[misc,valid-type]
    """The NTK (``kind="ntk"``) or NNGP (``kind="nngp"``) Gram of :class:`ntkrs.Network` as a
    scikit-learn kernel: ``k(x, y) = NTK(⟨x̂, ŷ⟩)`` with ``x̂ = x/‖x‖`` (``normalize=True``, the
    default) or unit-norm inputs as given (``normalize=False``).

    Parameters
    ----------
    activation, depth, weight_var, bias_var, input_weight_var, input_bias_var:
        As for :class:`ntkrs.Network`: ``depth`` is the number of hidden layers; the variances
        are ``σ_w², σ_b²`` (later layers) and ``γ_w², γ_b²`` (first layer), unit-variance
        initialization by default.
    kind:
        ``"ntk"`` (the neural tangent kernel ``Θ``) or ``"nngp"`` (the NNGP kernel ``Σ_{L+1}``).
    normalize:
        Project rows onto the unit sphere before evaluating the kernel (default True).

    Raises
    ------
    InvalidInputError
        if scikit-learn is missing, ``kind`` is invalid, or the network parameters are invalid
        (see :class:`ntkrs.Network`).
    """

    def __init__(self, activation: str = "relu", depth: int = 1, kind: str = "ntk", weight_var: float | None = None,
                 bias_var: float | None = None, input_weight_var: float = 1.0, input_bias_var: float = 0.0,
                 normalize: bool = True) -> None:
        if _SkKernel is object:
            raise InvalidInputError("NTKKernel needs scikit-learn: pip install 'ntkrs[sklearn]'")
        if kind not in ("ntk", "nngp"):
            raise InvalidInputError(f"kind must be 'ntk' or 'nngp', got {kind!r}")
        self.activation = activation
        self.depth = depth
        self.kind = kind
        self.weight_var = weight_var
        self.bias_var = bias_var
        self.input_weight_var = input_weight_var
        self.input_bias_var = input_bias_var
        self.normalize = normalize
        self._net = Network(activation, depth, weight_var=weight_var, bias_var=bias_var,
                            input_weight_var=input_weight_var, input_bias_var=input_bias_var)

    # scikit-learn's Kernel API ------------------------------------------------------------
    def __call__(self, X: Any, Y: Any = None, eval_gradient: bool = False) -> Any:
        """The Gram matrix ``K_ij = k(x_i, y_j)`` of the rows of ``X`` (``(n, d)``) against those
        of ``Y`` (``(m, d)``; ``None``: ``X`` itself), as an ``(n, m)`` float64 array.

        ``eval_gradient=True`` (Gaussian-process fitting) also returns the gradient with respect
        to the hyperparameters, an empty ``(n, n, 0)`` array: the kernel has none. Raises
        :class:`~ntkrs.InvalidInputError`/:class:`~ntkrs.NonFiniteError` for invalid data (see
        :meth:`ntkrs.Network.ntk`) and ``ValueError`` for a gradient with ``Y`` given."""
        gram = self._net.ntk if self.kind == "ntk" else self._net.nngp
        K = gram(X, Y, normalize=self.normalize)
        if eval_gradient:
            if Y is not None:
                raise ValueError("gradient can only be evaluated when Y is None")
            return K, np.empty((K.shape[0], K.shape[0], 0))
        return K

    def set_params(self, **params: Any) -> "NTKKernel":
        """Set parameters (as scikit-learn's ``clone``/grid search do) and rebuild the network,
        validating the new values; on error the kernel is left unchanged."""
        current = self.get_params()
        unknown = sorted(set(params) - set(current))
        if unknown:
            raise InvalidInputError(
                f"NTKKernel has no parameter {', '.join(map(repr, unknown))}; accepted: {', '.join(current)}"
            )
        new = {**current, **params}
        rebuilt = NTKKernel(**new)  # validates everything before anything changes
        for key, value in new.items():
            setattr(self, key, value)
        self._net = rebuilt._net
        return self

    def diag(self, X: Any) -> np.ndarray:
        """The diagonal ``k(x_i, x_i)``: ``Θ(1)`` (NTK) or ``NNGP(1) = q_{L+1}`` for every row,
        without forming the Gram."""
        from .data import as_points

        n = as_points(X, normalize=self.normalize).shape[0]
        value = self._net.ntk_at_one() if self.kind == "ntk" else self._net.nngp_at_one()
        return np.full(n, value)

    def is_stationary(self) -> bool:
        """False: the kernel depends on ``⟨x, y⟩``, not on ``x − y``."""
        return False

    @property
    def requires_vector_input(self) -> bool:
        """True: inputs are fixed-length feature vectors."""
        return True

    @property
    def hyperparameters(self) -> list:
        """No tunable hyperparameters (an empty list)."""
        return []

    @property
    def theta(self) -> np.ndarray:
        """The (empty) vector of log-transformed hyperparameters; setting a non-empty one
        raises ``ValueError``."""
        return np.empty(0)

    @theta.setter
    def theta(self, value: Any) -> None:
        if np.size(value):
            raise ValueError("NTKKernel has no tunable hyperparameters")

    @property
    def bounds(self) -> np.ndarray:
        """The (empty, ``(0, 2)``) bounds of the hyperparameters."""
        return np.empty((0, 2))

    def get_params(self, deep: bool = True) -> dict:
        """The constructor parameters as a dict (scikit-learn's estimator protocol)."""
        return {k: getattr(self, k) for k in ("activation", "depth", "kind", "weight_var", "bias_var",
                                              "input_weight_var", "input_bias_var", "normalize")}

    def __repr__(self) -> str:
        return f"NTKKernel({self._net.activation.label!r}, depth={self.depth}, kind={self.kind!r})"
