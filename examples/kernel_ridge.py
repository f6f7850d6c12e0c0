"""Kernel ridge regression with the NTK through scikit-learn (needs scikit-learn:
``pip install "ntkrs[sklearn]"``).

Run:  python examples/kernel_ridge.py

Kernel regression with the NTK is what an infinitely wide network trained by gradient flow on
the squared loss converges to (Jacot et al., 2018); ``alpha`` adds ridge regularization.
"""

from __future__ import annotations

import numpy as np
from sklearn.kernel_ridge import KernelRidge
from sklearn.model_selection import train_test_split

from ntkrs.sklearn import NTKKernel

rng = np.random.default_rng(0)
X = rng.standard_normal((400, 5))
y = np.sin(2 * X[:, 0] / np.linalg.norm(X, axis=1)) + 0.05 * rng.standard_normal(400)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

# NTKKernel projects rows onto the unit sphere (normalize=True) before evaluating the kernel.
for depth, kind in ((1, "ntk"), (3, "ntk"), (3, "nngp")):
    model = KernelRidge(alpha=1e-3, kernel=NTKKernel("relu", depth=depth, kind=kind))
    model.fit(X_train, y_train)
    print(f"ReLU depth {depth} {kind.upper():4s}: test R^2 = {model.score(X_test, y_test):.4f}")
