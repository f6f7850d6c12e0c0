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
    scikit-learn kernel. Parameters are those of :class:`ntkrs.Network`."""

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
        gram = self._net.ntk if self.kind == "ntk" else self._net.nngp
        K = gram(X, Y, normalize=self.normalize)
        if eval_gradient:
            if Y is not None:
                raise ValueError("gradient can only be evaluated when Y is None")
            return K, np.empty((K.shape[0], K.shape[0], 0))
        return K

    def diag(self, X: Any) -> np.ndarray:
        n = np.asarray(X).shape[0]
        value = self._net.ntk_at_one() if self.kind == "ntk" else self._net.nngp_at_one()
        return np.full(n, value)

    def is_stationary(self) -> bool:
        return False

    @property
    def requires_vector_input(self) -> bool:
        return True

    @property
    def hyperparameters(self) -> list:
        return []

    @property
    def theta(self) -> np.ndarray:
        return np.empty(0)

    @theta.setter
    def theta(self, value: Any) -> None:
        if np.size(value):
            raise ValueError("NTKKernel has no tunable hyperparameters")

    @property
    def bounds(self) -> np.ndarray:
        return np.empty((0, 2))

    def get_params(self, deep: bool = True) -> dict:
        return {k: getattr(self, k) for k in ("activation", "depth", "kind", "weight_var", "bias_var",
                                              "input_weight_var", "input_bias_var", "normalize")}

    def __repr__(self) -> str:
        return f"NTKKernel({self._net.activation.label!r}, depth={self.depth}, kind={self.kind!r})"
