"""Eigensolvers (against numpy.linalg.eigvalsh), matrix-free operators, effective rank, the
spectral report's bounds, and the CLI `spectrum` / `gram` commands."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

import ntkrs


@pytest.fixture(scope="module")
def sphere_gram():
    X = ntkrs.sample_sphere(700, 3, seed=7)  # clustered spectrum (spherical-harmonic multiplets)
    net = ntkrs.Network("relu", 2)
    return net, X, net.ntk(X)


@pytest.mark.parametrize("which", ["largest", "smallest"])
@pytest.mark.parametrize("k", [1, 6, 20])
def test_eigsh_against_numpy(sphere_gram, which, k):
    _, _, K = sphere_gram
    ref = np.linalg.eigvalsh(K)
    want = ref[::-1][:k] if which == "largest" else ref[:k]
    got = ntkrs.eigsh(K, k, which=which)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-13 * ref[-1])


def test_eigsh_vectors_and_info(sphere_gram):
    _, _, K = sphere_gram
    vals, vecs, info = ntkrs.eigsh(K, 5, return_vectors=True, return_info=True)
    assert vecs.shape == (K.shape[0], 5)
    np.testing.assert_allclose(vecs.T @ vecs, np.eye(5), atol=1e-10)
    assert np.abs(K @ vecs - vecs * vals).max() <= 1e-8 * vals[0]
    assert info.matvecs > 0


def test_matrix_free_equals_dense(sphere_gram):
    net, X, K = sphere_gram
    op = net.gram_operator(X)
    V = np.random.default_rng(0).standard_normal((X.shape[0], 3))
    np.testing.assert_allclose(op @ V, K @ V, rtol=1e-12, atol=1e-12 * np.abs(K @ V).max())
    np.testing.assert_allclose(net.eigenvalues(X, 8, matrix_free=True), net.eigenvalues(X, 8), rtol=1e-10)


def test_eigsh_on_scipy_linear_operator(sphere_gram):
    from scipy.sparse.linalg import aslinearoperator

    _, _, K = sphere_gram
    got = ntkrs.eigsh(aslinearoperator(K), 4)
    np.testing.assert_allclose(got, np.linalg.eigvalsh(K)[::-1][:4], rtol=1e-10)


def test_all_eigenvalues_dense():
    A = np.random.default_rng(2).standard_normal((300, 300))
    A = A + A.T
    np.testing.assert_allclose(ntkrs.eigvalsh(A), np.linalg.eigvalsh(A), atol=1e-11)


@pytest.mark.parametrize(
    "call, exc, text",
    [
        (lambda K: ntkrs.eigsh(K, 0), ntkrs.InvalidInputError, "k must be >= 1"),
        (lambda K: ntkrs.eigsh(K, 10_000), ntkrs.InvalidInputError, "exceeds"),
        (lambda K: ntkrs.eigsh(K, 3, which="middle"), ntkrs.InvalidInputError, "which"),
        (lambda K: ntkrs.eigsh(K, 3, tol=-1), ntkrs.InvalidInputError, "tol"),
        (lambda K: ntkrs.eigsh(K[:, :5], 3), ntkrs.InvalidInputError, "square"),
        (lambda K: ntkrs.eigsh(np.full((4, 4), np.nan), 1), ntkrs.NonFiniteError, "non-finite"),
    ],
)
def test_eigsh_bad_input(sphere_gram, call, exc, text):
    with pytest.raises(exc, match=text):
        call(sphere_gram[2])


def test_effective_rank_and_report_against_numpy(sphere_gram):
    net, X, K = sphere_gram
    ev = np.linalg.eigvalsh(K)
    assert ntkrs.effective_rank(K) == pytest.approx(np.trace(K) / ev[-1], rel=1e-10)
    rep = ntkrs.spectrum_report(net, X, k=30, hadamard_degrees=range(0, 7))
    n, d = X.shape
    np.testing.assert_allclose(rep["eigenvalues"], ev[::-1][:30], rtol=1e-10)
    assert rep["trace"] == pytest.approx(np.trace(K), rel=1e-12)
    assert rep["smallest_eigenvalue"] == pytest.approx(ev[0], rel=1e-8)
    G = X @ X.T
    g1 = np.linalg.eigvalsh(G)[-1]
    assert rep["input_effective_rank"] == pytest.approx(n / g1, rel=1e-10)
    kappa = net.ntk_coefficients(6)
    # Theorem 4.1 and 4.3 (checked here with NumPy numbers)
    assert ev[-1] >= kappa[0] * n
    assert rep["theorem_4_1"]["holds"] and rep["theorem_4_3"]["holds"]
    assert ev[-1] >= kappa[1] * g1
    assert np.trace(K) / ev[-1] <= net.ntk_at_one() / kappa[1] * n / g1
    # Hadamard-power rank bound: λ_{R(P)+1} ≤ n Σ_{p>P} κ_p, R(P) = C(P+d, d)
    from math import comb

    for h in rep["hadamard_rank_bound"]:
        R = comb(h["P"] + d, d)
        assert h["rank_R"] == R
        assert h["upper_bound"] == pytest.approx(n * (net.ntk_at_one() - kappa[: h["P"] + 1].sum()), rel=1e-9, abs=1e-9)
        if R < n:
            assert ev[::-1][R] <= h["upper_bound"] * (1 + 1e-9) + 1e-9


NTKRS = shutil.which("ntkrs")


def run(*args, check=True):
    cmd = [NTKRS, *args] if NTKRS else [sys.executable, "-m", "ntkrs", *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=check)


def test_cli_spectrum_json_and_plot(tmp_path):
    png = tmp_path / "spec.png"
    res = run("spectrum", "relu", "--depth", "2", "--data", "sphere:n=300,d=4,seed=1", "--k", "6", "--json", "--plot", str(png))
    data = json.loads(res.stdout)
    assert len(data["eigenvalues"]) == 6 and data["theorem_4_1"]["holds"]
    X = ntkrs.sample_sphere(300, 4, seed=1)
    ref = np.linalg.eigvalsh(ntkrs.Network("relu", 2).ntk(X))[::-1][:6]
    np.testing.assert_allclose(data["eigenvalues"], ref, rtol=1e-9)
    assert png.stat().st_size > 5000


def test_cli_spectrum_text_progress_and_file_data(tmp_path):
    X = np.random.default_rng(0).standard_normal((80, 5)) * 3  # not on the sphere: projected
    np.save(tmp_path / "x.npy", X)
    res = run("spectrum", "tanh", "--depth", "1", "--data", str(tmp_path / "x.npy"), "--k", "5")
    assert "effective rank" in res.stdout and "Theorem 4.1" in res.stdout
    assert "[ntkrs]" in res.stderr  # progress lines
    csv = tmp_path / "x.csv"
    np.savetxt(csv, X, delimiter=",", header="a,b,c,d,e", comments="")
    res2 = run("spectrum", "tanh", "--depth", "1", "--data", str(csv), "--k", "5", "--json")
    assert json.loads(res2.stdout)["n"] == 80


def test_cli_gram_saves_npy(tmp_path):
    out = tmp_path / "k.npy"
    run("gram", "erf", "--depth", "2", "--data", "sphere:n=50,d=3", "--out", str(out), "--dtype", "float32")
    K = np.load(out)
    assert K.shape == (50, 50) and K.dtype == np.float32
    X = ntkrs.sample_sphere(50, 3, seed=0)
    np.testing.assert_allclose(K, ntkrs.Network("erf", 2).ntk(X), rtol=1e-6)


@pytest.mark.parametrize(
    "args, text",
    [
        (("spectrum", "relu", "--depth", "2", "--data", "/nonexistent.npy"), "does not exist"),
        (("spectrum", "relu", "--depth", "2", "--data", "sphere:n=10"), "needs n and d"),
        (("spectrum", "relu", "--depth", "0", "--data", "sphere:n=10,d=3"), "depth"),
        (("spectrum", "relu", "--depth", "2", "--data", "sphere:n=10,d=3", "--k", "50"), "exceeds"),
        (("gram", "relu", "--depth", "2", "--data", "sphere:n=x,d=3", "--out", "/tmp/x.npy"), "must be a number"),
    ],
)
def test_cli_spectrum_user_errors(args, text):
    res = run(*args, check=False)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    assert text in res.stderr.strip().splitlines()[-1]


def test_digits_dataset_offline():
    pytest.importorskip("sklearn")
    X, y = ntkrs.load_digits(300, seed=0)
    assert X.shape == (300, 64) and y.shape == (300,)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, rtol=1e-14)
    np.testing.assert_allclose(X.sum(axis=1), 0.0, atol=1e-12)  # rows centred before scaling
    res = run("spectrum", "relu", "--depth", "1", "--data", "digits:n=200", "--k", "5", "--json")
    data = json.loads(res.stdout)
    assert data["n"] == 200 and data["d"] == 64


@pytest.fixture(scope="module")
def lanczos_gram():
    # n > 600 and k <= n/10: eigsh takes the Lanczos path on the dense matrix (symmetric,
    # lower-triangle product, narrow blocks); a dominant λ1 above a clustered bulk.
    X = ntkrs.sample_sphere(1500, 40, seed=3)
    K = ntkrs.Network("relu", 3).ntk(X)
    return K, np.linalg.eigvalsh(K)


@pytest.mark.parametrize("k", [1, 3, 10, 40])
def test_eigsh_dense_lanczos_path_against_numpy(lanczos_gram, k):
    K, ref = lanczos_gram
    vals, vecs, info = ntkrs.eigsh(K, k, return_vectors=True, return_info=True)
    assert not info.dense
    np.testing.assert_allclose(vals, ref[::-1][:k], rtol=1e-10, atol=1e-13 * ref[-1])
    np.testing.assert_allclose(vecs.T @ vecs, np.eye(k), atol=1e-10)
    assert np.abs(K @ vecs - vecs * vals).max() <= 1e-8 * vals[0]
    # Agrees with ARPACK at the same tolerance.
    from scipy.sparse.linalg import eigsh as sp_eigsh

    theirs = np.sort(sp_eigsh(K, k, which="LA", tol=1e-10)[0])[::-1]
    np.testing.assert_allclose(vals, theirs, rtol=1e-10, atol=1e-13 * ref[-1])


def test_eigsh_dense_lanczos_layouts_and_smallest(lanczos_gram):
    K, ref = lanczos_gram
    want = ntkrs.eigsh(K, 8)
    # Fortran order and a strided view are normalised by the wrapper: same values.
    np.testing.assert_allclose(ntkrs.eigsh(np.asfortranarray(K), 8), want, rtol=1e-12)
    big = np.zeros((K.shape[0], 2 * K.shape[0]))
    big[:, ::2] = K
    np.testing.assert_allclose(ntkrs.eigsh(big[:, ::2], 8), want, rtol=1e-12)
    # Bottom of the spectrum (dense solver under eigsh's size rule), and through the raw
    # binding's Lanczos path with explicit block sizes.
    np.testing.assert_allclose(ntkrs.eigsh(K, 3, which="smallest"), ref[:3], rtol=1e-8, atol=1e-12 * ref[-1])
    from ntkrs import _core

    for block in (1, 5, 12):
        vals, _, info = _core.eigsh_dense(np.ascontiguousarray(K), 6, "largest", 1e-10, False, 1000, 0, block, None)
        assert not info["dense"] and info["matvecs"] == block * info["iterations"]
        np.testing.assert_allclose(vals, ref[::-1][:6], rtol=1e-10, atol=1e-13 * ref[-1])
