"""The scikit-learn adapter."""

from __future__ import annotations

import numpy as np
import pytest

import ntkrs

sklearn = pytest.importorskip("sklearn")


def test_kernel_ridge_and_svc_and_gp_use_the_ntk():
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.kernel_ridge import KernelRidge
    from sklearn.svm import SVC

    from ntkrs.sklearn import NTKKernel

    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 4))
    y = np.sin(X[:, 0]) + 0.1 * X[:, 1]
    kern = NTKKernel("relu", depth=2)
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    K = ntkrs.Network("relu", 2).ntk(Xn)
    np.testing.assert_allclose(kern(X), K)
    # kernel ridge with the callable kernel = the closed-form ridge solution with the Gram
    kr = KernelRidge(alpha=0.1, kernel="precomputed").fit(K, y)
    kr2 = KernelRidge(alpha=0.1, kernel=lambda a, b: float(kern(a[None], b[None])[0, 0])).fit(X[:20], y[:20])
    alpha = np.linalg.solve(K + 0.1 * np.eye(60), y)
    np.testing.assert_allclose(kr.dual_coef_, alpha, rtol=1e-8)
    assert kr2.predict(X[:3]).shape == (3,)
    svc = SVC(kernel=kern).fit(X, (y > 0).astype(int))
    assert svc.score(X, (y > 0).astype(int)) > 0.7
    gp = GaussianProcessRegressor(kernel=NTKKernel("erf", depth=1, kind="nngp"), alpha=1e-6, optimizer=None).fit(X, y)
    mean = gp.predict(X[:5])
    np.testing.assert_allclose(mean, y[:5], atol=1e-3)
    np.testing.assert_allclose(kern.diag(X), np.full(60, 3.0))
