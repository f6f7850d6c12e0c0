"""Bad input everywhere (DESIGN §7): every public entry point and every CLI command answers a
bad input with a documented exception — an ``ntkrs.NtkrsError`` that is also the matching
builtin (ValueError, TypeError, KeyError, MemoryError, RuntimeError) — and a message that says
what was wrong and what to do. Never a crash, a traceback on the command line, a silent NaN or
a Rust panic.

The table ``API_CASES`` covers the Python API, ``CLI_CASES`` the command line (in-process,
``ntkrs.cli.main(argv)``), and ``test_cli_subprocess_*`` the real ``python -m ntkrs``.
Arrays in unusual layouts (non-contiguous, Fortran order, lists, other real dtypes) are
*accepted* and give the same result as C-ordered float64: ``test_layouts_accepted``.
"""

from __future__ import annotations

import itertools
import pickle
import re
import subprocess
import sys
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest

import ntkrs
import ntkrs.cli
from ntkrs.registry import _REGISTRY

# --------------------------------------------------------------------------- fixtures


X5 = ntkrs.sample_sphere(5, 3, seed=0)
RELU2 = ntkrs.Network("relu", 2)


def _rows(*rows) -> np.ndarray:
    return np.array(rows, dtype=np.float64)


_ids = itertools.count()


class _Op:
    """A matrix-free operator for eigsh (shape and matmat)."""

    def __init__(self, matmat, shape=(30, 30)):
        self.shape = shape
        self._matmat = matmat

    def matmat(self, V):
        return self._matmat(V)


def plugin(specs_factory: Callable[[], Any]):
    class Plugin:
        @ntkrs.hookimpl
        def ntkrs_activations(self):
            return specs_factory()

    return Plugin()


def registry_snapshot():
    pm = _REGISTRY._ensure()
    return (
        tuple(ntkrs.activations()),
        tuple(sorted(_REGISTRY._aliases.items())),
        tuple(sorted(name for name, _ in pm.list_name_plugin())),
    )


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    """Data files and plugin activations the cases refer to."""
    d = tmp_path_factory.mktemp("bad_inputs")
    np.save(d / "object.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with open(d / "pickled.npy", "wb") as fh:
        pickle.dump([[1.0, 0.0], [0.0, 1.0]], fh)
    (d / "garbage.npy").write_bytes(b"\x93NUMPY this is not an array")
    (d / "empty.npy").write_bytes(b"")
    (d / "adir.npy").mkdir()
    np.save(d / "nan.npy", _rows([1.0, 0.0], [np.nan, 1.0]))
    np.save(d / "complex.npy", np.array([[1 + 1j, 0.0]]))
    (d / "ragged.csv").write_text("1,2,3\n4,5\n")
    (d / "text.csv").write_text("x,y\n1,2\n3,abc\n")
    (d / "empty.csv").write_text("")
    (d / "data.json").write_text("[[1, 0]]")
    np.save(d / "good.npy", 3.0 * ntkrs.sample_sphere(6, 3, seed=1))
    coef_name, box_name = f"coefonly_{next(_ids)}", f"badplug_{next(_ids)}"
    ntkrs.register_plugin(
        plugin(lambda: [
            ntkrs.ActivationSpec(coef_name, coefficients=[0.0, 0.8, 0.6]),
            ntkrs.ActivationSpec(box_name + "_nan", fn=lambda x: np.where(np.abs(x) > 2, np.nan, x)),
            ntkrs.ActivationSpec(box_name + "_shape", fn=lambda x: x[:-1]),
            ntkrs.ActivationSpec(box_name + "_raise", fn=lambda x: 1 / 0),
            ntkrs.ActivationSpec(box_name + "_complex", fn=lambda x: x + 0.5j),
            ntkrs.ActivationSpec(box_name + "_hbig", hermite=lambda degree, q: np.full(degree + 1, 1e200)),
            ntkrs.ActivationSpec(box_name + "_hshort", hermite=lambda degree, q: np.zeros(degree)),
        ]),
        name="faulty-at-use-plugin",
    )
    return {"dir": d, "coef": coef_name, "box": box_name}


# --------------------------------------------------------------------------- the API table


@dataclass(frozen=True)
class Case:
    id: str
    call: Callable[[dict], Any]
    exc: type
    builtin: type
    match: str


V, T, K, M, R = ValueError, TypeError, KeyError, MemoryError, RuntimeError
E = ntkrs

API_CASES = [
    # ---- data: non-finite, zero, off the sphere, shapes, dtypes
    Case("nan-row", lambda c: RELU2.ntk(_rows([1, 0, 0], [np.nan, 0, 0])), E.NonFiniteError, V,
         r"non-finite.*row 1.*remove or impute"),
    Case("inf-row", lambda c: RELU2.ntk(_rows([1, 0, 0], [0, 1, 0], [0, np.inf, 0])), E.NonFiniteError, V, r"inf.*row 2"),
    Case("zero-row", lambda c: RELU2.ntk(_rows([1, 0], [0, 1], [0, 0])), E.InvalidInputError, V, r"row 2 is zero.*remove it"),
    Case("off-sphere", lambda c: RELU2.ntk(_rows([1, 0], [0, 2])), E.InvalidInputError, V,
         r"row 1 has norm 2.*unit sphere.*normalize=True"),
    Case("off-sphere-Y", lambda c: RELU2.ntk(X5, 0.5 * X5), E.InvalidInputError, V, r"Y row 0 .*normalize=True"),
    Case("nan-in-Y", lambda c: RELU2.nngp(X5, _rows([np.nan, 0, 0])), E.NonFiniteError, V, r"Y .*row 0"),
    Case("1-d", lambda c: RELU2.ntk(np.array([1.0, 0.0])), E.InvalidInputError, V, r"2-D.*reshape\(1, -1\)"),
    Case("3-d", lambda c: RELU2.ntk(np.ones((2, 2, 2))), E.InvalidInputError, V, r"2-D.*shape \(2, 2, 2\)"),
    Case("scalar", lambda c: RELU2.ntk(1.0), E.InvalidInputError, V, r"2-D"),
    Case("empty", lambda c: RELU2.ntk(np.zeros((0, 3))), E.InvalidInputError, V, r"empty"),
    Case("strings", lambda c: RELU2.ntk(np.array([["1", "0"]])), E.InputTypeError, T, r"real numbers.*dtype <U1"),
    Case("object", lambda c: RELU2.ntk(np.array([[1.0, None]], dtype=object)), E.InputTypeError, T, r"dtype object"),
    Case("complex", lambda c: RELU2.ntk(np.array([[1 + 0j, 0]])), E.InputTypeError, T, r"real.*complex"),
    Case("ragged-list", lambda c: RELU2.ntk([[1.0, 0.0], [1.0]]), E.InputTypeError, T, r"2-D array of numbers"),
    Case("none", lambda c: RELU2.ntk(None), E.InputTypeError, T, r"array of real numbers"),
    Case("columns-mismatch", lambda c: RELU2.ntk(X5, ntkrs.sample_sphere(4, 5)), E.InvalidInputError, V,
         r"X has 3 columns but Y has 5"),
    Case("dtype-int", lambda c: RELU2.ntk(X5, dtype=np.int32), E.InvalidInputError, V, r"dtype must be float64 or float32"),
    Case("dtype-junk", lambda c: RELU2.ntk(X5, dtype="blah"), E.InputTypeError, T, r"dtype must be float64 or float32"),
    Case("method", lambda c: RELU2.ntk(X5, method="magic"), E.InvalidInputError, V, r"method must be 'exact' or 'series'"),
    Case("rho-out-of-range", lambda c: RELU2.ntk_at(1.5), E.InvalidInputError, V, r"\[-1, 1\].*1\.5"),
    Case("rho-nan", lambda c: RELU2.nngp_at([0.1, np.nan]), E.NonFiniteError, V, r"NaN"),
    Case("rho-string", lambda c: RELU2.series(5).evaluate("half"), E.InputTypeError, T, r"rho must be a number"),
    # ---- variances
    Case("weight-var-negative", lambda c: ntkrs.Network("relu", 2, weight_var=-1.0), E.InvalidInputError, V,
         r"weight_var must be a finite variance >= 0, got -1"),
    Case("bias-var-nan", lambda c: ntkrs.Network("relu", 2, bias_var=float("nan")), E.InvalidInputError, V,
         r"bias_var .*finite.*nan"),
    Case("input-weight-var-inf", lambda c: ntkrs.Network("relu", 2, input_weight_var=float("inf")),
         E.InvalidInputError, V, r"input_weight_var .*finite.*inf"),
    Case("weight-var-string", lambda c: ntkrs.Network("relu", 2, weight_var="2"), E.InputTypeError, T,
         r"weight_var must be a real number"),
    Case("unit-variance-impossible", lambda c: ntkrs.Network("relu", 2, bias_var=1.5), E.DomainError, V,
         r"unit variance is impossible with bias_var = 1\.5.*\(-0\.5 *\)/0\.5.*lower bias_var or give weight_var"),
    Case("unit-variance-zero-activation", lambda c: ntkrs.Network("polynomial(coeffs=[0, 0])", 2), E.DomainError, V,
         r"unit variance is impossible.*E\[phi\(Z\)\^2\] = 0"),
    Case("first-layer-variance-zero", lambda c: ntkrs.Network("relu", 2, input_weight_var=0.0, input_bias_var=0.0),
         E.DomainError, V, r"q_1 = input_weight_var \+ input_bias_var = 0"),
    Case("edge-of-chaos-q", lambda c: ntkrs.Network.edge_of_chaos("relu", 2, q=-1.0), E.InvalidInputError, V, r"q must be"),
    # ---- depth
    Case("depth-0", lambda c: ntkrs.Network("relu", 0), E.InvalidInputError, V, r"depth .*hidden layers.* >= 1, got 0"),
    Case("depth-negative", lambda c: ntkrs.Network("relu", -3), E.InvalidInputError, V, r"depth .*>= 1, got -3"),
    Case("depth-float", lambda c: ntkrs.Network("relu", 2.5), E.InputTypeError, T, r"depth .*must be an integer, got 2\.5"),
    Case("depth-bool", lambda c: ntkrs.Network("relu", True), E.InputTypeError, T, r"depth .*must be an integer, got True"),
    Case("depth-absurd", lambda c: ntkrs.Network("relu", 10**9), E.InvalidInputError, V, r"depth .*too large"),
    # ---- degree
    Case("degree-negative", lambda c: RELU2.ntk_coefficients(-1), E.InvalidInputError, V, r"degree must be >= 0, got -1"),
    Case("degree-absurd", lambda c: RELU2.series(10**9), E.InvalidInputError, V, r"absurdly large.*limit"),
    Case("degree-float", lambda c: RELU2.nngp_coefficients(3.5), E.InputTypeError, T, r"degree must be an integer"),
    Case("degree-bool", lambda c: ntkrs.hermite_coefficients("relu", True), E.InputTypeError, T, r"degree must be an integer"),
    Case("hermite-degree-absurd", lambda c: ntkrs.hermite_coefficients("tanh", 10**7), E.InvalidInputError, V,
         r"absurdly large"),
    Case("q-negative", lambda c: ntkrs.hermite_coefficients("relu", 4, q=-1.0), E.InvalidInputError, V,
         r"q .*pre-activation variance.*positive"),
    Case("q-string", lambda c: ntkrs.hermite_coefficients("relu", 4, q="one"), E.InputTypeError, T, r"q must be"),
    # ---- eigensolvers
    Case("eigsh-k-equals-n", lambda c: ntkrs.eigsh(RELU2.ntk(X5), 5), E.InvalidInputError, V,
         r"k = 5 equals the matrix size n = 5.*eigvalsh"),
    Case("eigsh-k-exceeds-n", lambda c: ntkrs.eigsh(RELU2.ntk(X5), 6), E.InvalidInputError, V,
         r"k = 6 exceeds the matrix size n = 5.*eigvalsh"),
    Case("eigsh-k-0", lambda c: ntkrs.eigsh(RELU2.ntk(X5), 0), E.InvalidInputError, V, r"k must be >= 1, got 0"),
    Case("eigsh-k-negative", lambda c: ntkrs.eigsh(np.eye(4), -2), E.InvalidInputError, V, r"k must be >= 1"),
    Case("eigsh-k-float", lambda c: ntkrs.eigsh(np.eye(4), 2.0), E.InputTypeError, T, r"k must be an integer"),
    Case("eigsh-which", lambda c: ntkrs.eigsh(np.eye(4), 2, which="LM"), E.InvalidInputError, V,
         r"which must be 'largest' or 'smallest', got 'LM'"),
    Case("eigsh-tol", lambda c: ntkrs.eigsh(np.eye(4), 2, tol=-1), E.InvalidInputError, V, r"tol must be finite and > 0"),
    Case("eigsh-not-square", lambda c: ntkrs.eigsh(np.ones((3, 4)), 1), E.InvalidInputError, V, r"square.*\(3, 4\)"),
    Case("eigsh-nan", lambda c: ntkrs.eigsh(np.full((3, 3), np.nan), 1), E.NonFiniteError, V, r"non-finite entry"),
    Case("eigsh-strings", lambda c: ntkrs.eigsh(np.array([["a"]]), 1), E.InputTypeError, T, r"real square array"),
    Case("eigsh-operator-nan", lambda c: ntkrs.eigsh(_Op(lambda V: V * np.nan), 2), E.NonFiniteError, V,
         r"operator returned NaN or infinity"),
    Case("eigsh-operator-wrong-shape", lambda c: ntkrs.eigsh(_Op(lambda V: V[:-1]), 2), E.InvalidInputError, V,
         r"matmat returned shape"),
    Case("eigsh-operator-raises", lambda c: ntkrs.eigsh(_Op(lambda V: 1 / 0), 2), E.InvalidInputError, V,
         r"matmat raised: ZeroDivisionError"),
    Case("eigsh-operator-bad-shape", lambda c: ntkrs.eigsh(_Op(lambda V: V, shape=(-3, -3)), 2), E.InvalidInputError, V,
         r"shape == \(n, n\) with n >= 1"),
    Case("eigenvalues-k-equals-n", lambda c: RELU2.eigenvalues(X5, 5), E.InvalidInputError, V, r"k = 5 equals.*n = 5"),
    Case("eigenvalues-matrix-free-k", lambda c: RELU2.eigenvalues(X5, 9, matrix_free=True), E.InvalidInputError, V,
         r"k = 9 exceeds.*n = 5"),
    Case("eigenvalues-k-0", lambda c: RELU2.eigenvalues(X5, 0), E.InvalidInputError, V, r"k must be >= 1"),
    Case("eigenvalues-which", lambda c: RELU2.eigenvalues(X5, 2, which="biggest", matrix_free=True),
         E.InvalidInputError, V, r"which must be 'largest' or 'smallest'"),
    Case("spectrum-report-hadamard", lambda c: ntkrs.spectrum_report(RELU2, X5, k=2, hadamard_degrees=[2, -1]),
         E.InvalidInputError, V, r"hadamard_degrees must be integers"),
    Case("effective-rank-zero", lambda c: ntkrs.effective_rank(np.zeros((3, 3))), E.InvalidInputError, V,
         r"no positive eigenvalue"),
    # ---- activations and their parameters
    Case("unknown-activation", lambda c: ntkrs.Network("rleu", 2), E.UnknownActivationError, K,
         r"unknown activation 'rleu'; did you mean 'relu'.*ntkrs activations"),
    Case("unknown-activation-get", lambda c: ntkrs.get_activation("tanhh"), E.UnknownActivationError, K,
         r"did you mean 'tanh'"),
    Case("activation-not-a-name", lambda c: ntkrs.get_activation(3), E.InputTypeError, T, r"activation must be a name"),
    Case("unknown-parameter", lambda c: ntkrs.get_activation("leaky_relu", slop=0.1), E.InvalidInputError, V,
         r"no parameter 'slop'; accepted parameters: slope"),
    Case("parameter-not-number", lambda c: ntkrs.Network("erf(scale='big')", 1), E.InputTypeError, T,
         r"parameter 'scale' of 'erf' must be a real number"),
    Case("parameter-nan", lambda c: ntkrs.hermite_coefficients("erf", 3, scale=float("nan")), E.InvalidInputError, V,
         r"parameter 'scale' .*finite"),
    Case("parameter-not-integer", lambda c: ntkrs.get_activation("monomial", n=2.5), E.InvalidInputError, V,
         r"parameter 'n' .*integer"),
    Case("parameter-zero-scale", lambda c: ntkrs.Network("erf(scale=0)", 2), E.InvalidInputError, V,
         r"erf scale must be .*nonzero"),
    Case("activation-eval-strings", lambda c: ntkrs.get_activation("tanh")(["a", "b"]), E.InputTypeError, T,
         r"evaluated at real numbers"),
    Case("activation-eval-complex", lambda c: ntkrs.get_activation("relu").derivative(1j), E.InputTypeError, T,
         r"complex"),
    Case("activation-syntax", lambda c: ntkrs.get_activation("relu(("), E.InvalidInputError, V,
         r"cannot parse activation.*NAME\(param=value"),
    Case("activation-code-injection", lambda c: ntkrs.get_activation("erf(scale=__import__('os'))"),
         E.InvalidInputError, V, r"must be a literal number"),
    Case("step-ntk-series", lambda c: ntkrs.Network("step", 2).series(8), E.DomainError, V,
         r"step.*Dirac delta.*NTK are infinite.*NNGP"),
    Case("step-ntk-gram", lambda c: ntkrs.Network("step", 1).ntk(X5), E.DomainError, V, r"only the NNGP exists"),
    Case("step-sphere", lambda c: ntkrs.Network("step", 1).sphere_eigenvalues(3, 4), E.DomainError, V, r"infinite"),
    Case("coefficients-only-general-variance", lambda c: ntkrs.Network(c["coef"], 2, weight_var=2.0).series(5),
         E.UnsupportedError, V, r"only as a list of Hermite coefficients.*q = 1.*give the plugin an `fn`"),
    Case("coefficients-only-q", lambda c: ntkrs.hermite_coefficients(c["coef"], 4, q=2.0), E.UnsupportedError, V,
         r"q = 1 \(asked for q = 2"),
    # ---- memory
    Case("gram-too-large", lambda c: RELU2.ntk(np.tile([[1.0, 0.0]], (3_000_000, 1))), E.TooLargeError, M,
         r"3000000×3000000 Gram matrix needs .*GiB.*matrix_free=True.*float32"),
    Case("eigenvalues-too-large", lambda c: RELU2.eigenvalues(np.tile([[0.0, 1.0]], (400_000, 1)), 3),
         E.TooLargeError, M, r"matrix_free=True"),
    Case("empirical-too-large", lambda c: ntkrs.empirical_ntk(X5, "relu", 2, 10**12), E.TooLargeError, M,
         r"reduce .*width"),
    Case("sample-too-large", lambda c: ntkrs.sample_sphere(10**12, 3), E.TooLargeError, M, r"GiB.*fewer points"),
    # ---- plugins misbehaving at use time (named in the message)
    Case("plugin-fn-nan", lambda c: ntkrs.hermite_coefficients(c["box"] + "_nan", 10), E.PluginError, R,
         r"plugin 'faulty-at-use-plugin'.*fn returned nan at x = "),
    Case("plugin-fn-shape", lambda c: ntkrs.Network(c["box"] + "_shape", 2), E.PluginError, R,
         r"faulty-at-use-plugin.*returned shape.*vectorised"),
    Case("plugin-fn-raises", lambda c: ntkrs.Network(c["box"] + "_raise", 1).ntk(X5), E.PluginError, R,
         r"faulty-at-use-plugin.*fn raised ZeroDivisionError"),
    Case("plugin-fn-complex", lambda c: ntkrs.hermite_coefficients(c["box"] + "_complex", 3), E.PluginError, R,
         r"faulty-at-use-plugin.*complex"),
    Case("plugin-hermite-not-square-summable", lambda c: ntkrs.Network(c["box"] + "_hbig", 2), E.PluginError, R,
         r"faulty-at-use-plugin.*not square-summable"),
    Case("plugin-hermite-wrong-shape", lambda c: ntkrs.hermite_coefficients(c["box"] + "_hshort", 6), E.PluginError, R,
         r"faulty-at-use-plugin.*returned shape \(6,\); expected \(7,\)"),
    # ---- data files
    Case("path-not-a-path", lambda c: ntkrs.load_points(None), E.InputTypeError, T, r"path must be a file name"),
    Case("file-missing", lambda c: ntkrs.load_points(c["dir"] / "missing.npy"), E.InvalidInputError, V,
         r"'.*missing\.npy' does not exist"),
    Case("file-pickled", lambda c: ntkrs.load_points(c["dir"] / "pickled.npy"), E.InvalidInputError, V,
         r"cannot read .*pickled\.npy.*pickle"),
    Case("file-object-array", lambda c: ntkrs.load_points(c["dir"] / "object.npy"), E.InvalidInputError, V,
         r"cannot read .*object\.npy.*allow_pickle=False"),
    Case("file-garbage", lambda c: ntkrs.load_points(c["dir"] / "garbage.npy"), E.InvalidInputError, V,
         r"cannot read .*garbage\.npy"),
    Case("file-empty-npy", lambda c: ntkrs.load_points(c["dir"] / "empty.npy"), E.InvalidInputError, V,
         r"cannot read .*empty\.npy.*numpy\.save"),
    Case("file-directory", lambda c: ntkrs.load_points(c["dir"] / "adir.npy"), E.InvalidInputError, V, r"not a file"),
    Case("file-nan", lambda c: ntkrs.load_points(c["dir"] / "nan.npy"), E.NonFiniteError, V, r"nan\.npy .*row 1"),
    Case("file-complex", lambda c: ntkrs.load_points(c["dir"] / "complex.npy"), E.InputTypeError, T, r"must be real"),
    Case("csv-ragged", lambda c: ntkrs.load_points(c["dir"] / "ragged.csv"), E.InvalidInputError, V,
         r"ragged\.csv: row 1 has 2 values, expected 3"),
    Case("csv-text", lambda c: ntkrs.load_points(c["dir"] / "text.csv"), E.InvalidInputError, V,
         r"text\.csv line 3: non-numeric value"),
    Case("csv-empty", lambda c: ntkrs.load_points(c["dir"] / "empty.csv"), E.InvalidInputError, V, r"no numeric rows"),
    Case("file-unsupported", lambda c: ntkrs.load_points(c["dir"] / "data.json"), E.InvalidInputError, V,
         r"unsupported data file type '\.json'.*use \.npy or \.csv"),
    # ---- empirical NTK
    Case("empirical-width-0", lambda c: ntkrs.empirical_ntk(X5, "relu", 2, 0), E.InvalidInputError, V,
         r"width must be a positive integer, got 0"),
    Case("empirical-width-float", lambda c: ntkrs.empirical_ntk(X5, "relu", 2, 64.5), E.InvalidInputError, V,
         r"width must be a positive integer"),
    Case("empirical-seed-negative", lambda c: ntkrs.empirical_ntk(X5, "relu", 2, 8, seed=-1), E.InvalidInputError, V,
         r"seed must be an integer in \[0, 2\*\*64\)"),
    Case("empirical-seed-huge", lambda c: ntkrs.empirical_ntk(X5, "relu", 2, 8, seed=2**70), E.InvalidInputError, V,
         r"seed must be an integer in \[0, 2\*\*64\)"),
    Case("empirical-seed-string", lambda c: ntkrs.empirical_ntk(X5, "relu", 2, 8, seed="zero"), E.InputTypeError, T,
         r"seed must be a non-negative integer"),
    Case("empirical-bad-data", lambda c: ntkrs.empirical_ntk(2 * X5, "relu", 2, 8), E.InvalidInputError, V,
         r"row 0 has norm 2.*normalize=True"),
    # ---- sphere
    Case("sphere-dim-1", lambda c: RELU2.sphere_eigenvalues(1, 5), E.InvalidInputError, V,
         r"dim must be >= 2 .*S\^\(d-1\).*got 1"),
    Case("sphere-dim-float", lambda c: RELU2.sphere_eigenvalues(3.0, 5), E.InputTypeError, T, r"dim must be an integer"),
    Case("sphere-max-degree", lambda c: RELU2.sphere_eigenvalues(3, -1), E.InvalidInputError, V, r"max_degree must be >= 0"),
    Case("sphere-series-degree-too-low", lambda c: RELU2.sphere_eigenvalues(3, 10, degree=5), E.InvalidInputError, V,
         r"degree 5 is too low.*at least"),
    Case("sphere-spectrum-negative-coefficient", lambda c: ntkrs.sphere_spectrum([1.0, -0.5], 3, 1, tail_mass=0.0),
         E.InvalidInputError, V, r"coefficient 1 is -0\.5 < 0.*non-negative"),
    Case("sphere-spectrum-kind", lambda c: ntkrs.sphere_spectrum([1.0] * 200, 3, 3, kind="rbf"), E.InvalidInputError, V,
         r"kind must be 'ntk', 'nngp' or 'series'"),
    Case("sphere-by-index", lambda c: RELU2.sphere_eigenvalues(3, 4).by_index(10**6), E.InvalidInputError, V,
         r"only 25 eigenvalues .*raise max_degree"),
    Case("sample-sphere-dim-1", lambda c: ntkrs.sample_sphere(10, 1), E.InvalidInputError, V, r"dim must be an integer >= 2"),
    Case("sample-sphere-n-0", lambda c: ntkrs.sample_sphere(0, 3), E.InvalidInputError, V, r"n must be a positive integer"),
    Case("sample-sphere-seed", lambda c: ntkrs.sample_sphere(3, 3, seed=-4), E.InvalidInputError, V,
         r"seed must be a non-negative integer"),
    # ---- misc entry points
    Case("batch-series-not-networks", lambda c: ntkrs.batch_series([RELU2, "relu"], 5), E.InputTypeError, T,
         r"networks\[1\] is a str, not an ntkrs\.Network"),
    Case("series-kernel", lambda c: RELU2.series(4).evaluate(0.5, kernel="ntK"), E.InvalidInputError, V,
         r"kernel must be 'ntk' or 'nngp'"),
    Case("gram-operator-operand", lambda c: RELU2.gram_operator(X5) @ np.ones(4), E.InvalidInputError, V,
         r"operand must have 5 rows"),
    Case("gram-operator-kind", lambda c: RELU2.gram_operator(X5, kind="ntkk"), E.InvalidInputError, V,
         r"kind must be 'ntk' or 'nngp'"),
]


def test_enough_cases():
    assert len(API_CASES) + len(CLI_CASES) >= 45
    assert len({c.id for c in API_CASES}) == len(API_CASES)


@pytest.mark.parametrize("case", API_CASES, ids=[c.id for c in API_CASES])
def test_api_bad_input(case, ctx):
    with pytest.raises(case.exc, match=case.match) as info:
        case.call(ctx)
    err = info.value
    assert isinstance(err, ntkrs.NtkrsError), type(err)
    assert isinstance(err, case.builtin), type(err).__mro__
    message = str(err)
    assert "\n" not in message.strip() or case.exc is ntkrs.PluginError, message
    assert "panicked" not in message and "RUST_BACKTRACE" not in message, message


def test_ntk_results_still_fine_after_errors():
    """The failures above leave no state behind."""
    K = RELU2.ntk(X5)
    assert np.all(np.isfinite(K)) and np.allclose(np.diag(K), 3.0)


# --------------------------------------------------------------------------- plugins at registration


def _raise_systemexit():
    raise SystemExit(7)


def _generator_that_fails():
    yield ntkrs.ActivationSpec(f"halfway_{next(_ids)}", fn=np.sin)
    raise RuntimeError("midway")


PLUGIN_CASES = [
    ("hook-raises", lambda: plugin(lambda: 1 / 0), r"raised in ntkrs_activations: ZeroDivisionError"),
    ("returns-int", lambda: plugin(lambda: 5), r"must return a list of ActivationSpec, got int"),
    ("returns-string", lambda: plugin(lambda: "relu"), r"must return a list of ActivationSpec, got str"),
    ("returns-junk-items", lambda: plugin(lambda: [object()]), r"returned object, expected ntkrs.ActivationSpec"),
    ("generator-fails-midway", lambda: plugin(_generator_that_fails), r"raised in ntkrs_activations: RuntimeError: midway"),
    ("duplicate-builtin", lambda: plugin(lambda: [ntkrs.ActivationSpec("relu", fn=np.abs)]),
     r"activation name 'relu', which plugin 'ntkrs.builtin' already provides; rename it"),
    ("duplicate-alias", lambda: plugin(lambda: [ntkrs.ActivationSpec(f"fresh_{next(_ids)}", fn=np.sin, aliases=("swish",))]),
     r"'swish'.*already provides"),
    ("duplicate-within", lambda: (lambda n: plugin(lambda: [ntkrs.ActivationSpec(n, fn=np.sin),
                                                            ntkrs.ActivationSpec(n, fn=np.cos)]))(f"twice_{next(_ids)}"),
     r"already provides"),
    ("nan-coefficients", lambda: plugin(lambda: [ntkrs.ActivationSpec(f"nanc_{next(_ids)}", coefficients=[0.5, np.nan])]),
     r"NaN/inf or are not square-summable"),
    ("overflowing-coefficients", lambda: plugin(lambda: [ntkrs.ActivationSpec(f"big_{next(_ids)}", coefficients=[1e300] * 3)]),
     r"not square-summable"),
    ("bad-name", lambda: plugin(lambda: [ntkrs.ActivationSpec("Bad Name", fn=np.sin)]), r"lowercase identifier"),
    ("nothing-given", lambda: plugin(lambda: [ntkrs.ActivationSpec(f"empty_{next(_ids)}")]), r"at least one is needed"),
    ("bad-param-default", lambda: plugin(lambda: [ntkrs.ActivationSpec(f"pd_{next(_ids)}", fn=np.sin, params={"a": "x"})]),
     r"default of parameter 'a'.*number"),
    ("not-a-plugin-none", lambda: None, r"not a plugin"),
    ("not-a-plugin-int", lambda: 42, r"not a plugin"),
    ("no-hook", lambda: type("NoHook", (), {})(), r"no ntkrs hook.*@ntkrs.hookimpl"),
    ("undecorated-hook", lambda: type("Undecorated", (), {"ntkrs_activations": lambda self: []})(),
     r"implements no ntkrs hook.*@ntkrs.hookimpl"),
    ("not-a-plugin-array", lambda: np.array([np.nan, 1.0]), r"not a plugin"),
]


@pytest.mark.parametrize("make, pattern", [c[1:] for c in PLUGIN_CASES], ids=[c[0] for c in PLUGIN_CASES])
def test_faulty_plugin_registration_leaves_registry_unchanged(make, pattern):
    before = registry_snapshot()
    name = f"faulty-{next(_ids)}"
    with pytest.raises(ntkrs.PluginError, match=pattern) as info:
        ntkrs.register_plugin(make(), name=name)
    assert isinstance(info.value, RuntimeError)
    assert info.value.plugin == name and name in str(info.value)
    assert registry_snapshot() == before
    assert ntkrs.hermite_coefficients("relu", 1)[1] == 0.5


def test_plugin_hook_raising_systemexit_leaves_registry_unchanged():
    before = registry_snapshot()
    with pytest.raises(SystemExit):
        ntkrs.register_plugin(plugin(_raise_systemexit), name="exits")
    assert registry_snapshot() == before


def test_alias_given_as_a_string_is_one_alias():
    name, alias = f"one_{next(_ids)}", f"one_alias_{next(_ids)}"
    ntkrs.register_plugin(plugin(lambda: [ntkrs.ActivationSpec(name, fn=np.sin, aliases=alias, description=3)]))
    assert ntkrs.activation_info(alias).spec.name == name
    assert ntkrs.activation_info(name).spec.description == "3"
    assert "o" not in _REGISTRY._aliases  # not one alias per letter


# --------------------------------------------------------------------------- scikit-learn adapter

def test_sklearn_adapter_bad_params():
    pytest.importorskip("sklearn")
    from ntkrs.sklearn import NTKKernel

    with pytest.raises(ntkrs.InvalidInputError, match="kind must be 'ntk' or 'nngp'"):
        NTKKernel(kind="rbf")
    with pytest.raises(ntkrs.InvalidInputError, match="depth .*>= 1"):
        NTKKernel(depth=0)
    with pytest.raises(ntkrs.UnknownActivationError, match="did you mean 'relu'"):
        NTKKernel(activation="rleu")
    with pytest.raises(ntkrs.InvalidInputError, match="unit variance is impossible"):
        NTKKernel(bias_var=3.0)
    k = NTKKernel("relu", depth=2)
    X = ntkrs.sample_sphere(6, 3, seed=2)
    with pytest.raises(ntkrs.InvalidInputError, match="depth"):
        k.set_params(depth=-1)
    with pytest.raises(ntkrs.InvalidInputError, match="no parameter 'width'"):
        k.set_params(width=3)
    assert k.depth == 2  # unchanged after the failed set_params
    np.testing.assert_array_equal(k(X), ntkrs.Network("relu", 2).ntk(X))
    k.set_params(depth=3)  # and a valid change takes effect
    np.testing.assert_array_equal(k(X), ntkrs.Network("relu", 3).ntk(X))
    np.testing.assert_array_equal(k.diag(X), np.full(6, 4.0))
    with pytest.raises(ntkrs.NonFiniteError):
        k(np.full((2, 3), np.nan))
    with pytest.raises(ntkrs.NonFiniteError):
        k.diag(np.full((2, 3), np.nan))


# --------------------------------------------------------------------------- layouts that are accepted


def _layouts(X):
    big = np.zeros((2 * X.shape[0], 2 * X.shape[1]))
    big[::2, ::2] = X
    yield "fortran", np.asfortranarray(X)
    yield "strided", big[::2, ::2]
    yield "reversed-twice", X[::-1][::-1]
    yield "list", X.tolist()
    yield "tuple", tuple(map(tuple, X))
    yield "readonly", np.frombuffer(X.tobytes(), dtype=np.float64).reshape(X.shape)


@pytest.mark.parametrize("layout", ["fortran", "strided", "reversed-twice", "list", "tuple", "readonly"])
def test_layouts_accepted(layout):
    X = ntkrs.sample_sphere(40, 6, seed=8)
    Y = ntkrs.sample_sphere(7, 6, seed=9)
    Xl = dict(_layouts(X))[layout]
    Yl = dict(_layouts(Y))[layout]
    net = ntkrs.Network("erf", 2, bias_var=0.2)
    np.testing.assert_array_equal(net.ntk(Xl), net.ntk(X))
    np.testing.assert_array_equal(net.nngp(Xl, Yl), net.nngp(X, Y))
    np.testing.assert_array_equal(net.ntk(Xl, dtype=np.float32), net.ntk(X, dtype=np.float32))
    np.testing.assert_array_equal(net.ntk(Xl, method="series", degree=50), net.ntk(X, method="series", degree=50))
    np.testing.assert_allclose(net.eigenvalues(Xl, 3), net.eigenvalues(X, 3), rtol=1e-12)
    np.testing.assert_allclose(net.eigenvalues(Xl, 3, matrix_free=True), net.eigenvalues(X, 3), rtol=1e-9)
    np.testing.assert_array_equal(ntkrs.empirical_ntk(Xl, "relu", 2, 32, seed=1), ntkrs.empirical_ntk(X, "relu", 2, 32, seed=1))
    K = net.ntk(X)
    np.testing.assert_allclose(ntkrs.eigsh(np.asfortranarray(K), 3), ntkrs.eigsh(K, 3), rtol=1e-13)


def test_other_real_dtypes_and_normalize_accepted():
    X = ntkrs.sample_sphere(20, 4, seed=3)
    net = ntkrs.Network("relu", 3)
    K = net.ntk(X)
    np.testing.assert_allclose(net.ntk(X.astype(np.float32)), K, atol=1e-6)  # float32 input, rows re-normalized
    E4 = np.eye(4, dtype=np.int64)
    np.testing.assert_array_equal(net.ntk(E4), net.ntk(np.eye(4)))  # integer data
    np.testing.assert_allclose(net.ntk(5.0 * X, normalize=True), K, atol=1e-14)  # off-sphere + normalize=True
    np.testing.assert_allclose(net.ntk(X.reshape(20, 4, order="F")), K)


# --------------------------------------------------------------------------- the command line (in process)

S10 = "sphere:n=10,d=3"

CLI_CASES = [
    ("unknown-activation", ["hermite", "rleu"], r"unknown activation 'rleu'; did you mean 'relu'"),
    ("unknown-parameter", ["coeffs", "leaky_relu(slop=2)", "-L", "2"], r"no parameter 'slop'; accepted parameters: slope"),
    ("parameter-not-number", ["coeffs", "erf(scale='x')", "-L", "1"], r"must be a real number"),
    ("syntax", ["hermite", "relu(("], r"cannot parse activation"),
    ("depth-0", ["coeffs", "relu", "-L", "0"], r"depth .*>= 1, got 0"),
    ("degree-negative", ["coeffs", "relu", "-L", "2", "--degree", "-1"], r"degree must be >= 0"),
    ("degree-absurd", ["hermite", "relu", "--degree", "1000000000"], r"absurdly large"),
    ("q-negative", ["hermite", "relu", "--q", "-1"], r"positive"),
    ("q-nan", ["hermite", "relu", "--q", "nan"], r"positive and finite, got nan"),
    ("unit-variance", ["coeffs", "relu", "-L", "2", "--bias-var", "2"], r"unit variance is impossible with bias_var = 2"),
    ("weight-var-nan", ["coeffs", "relu", "-L", "2", "--weight-var", "nan"], r"weight_var .*finite"),
    ("file-missing", ["gram", "relu", "-L", "2", "--data", "{dir}/missing.npy", "--out", "{dir}/K.npy", "-q"], r"does not exist"),
    ("file-pickled", ["gram", "relu", "-L", "2", "--data", "{dir}/pickled.npy", "--out", "{dir}/K.npy", "-q"],
     r"cannot read .*pickle"),
    ("file-empty", ["gram", "relu", "-L", "2", "--data", "{dir}/empty.npy", "--out", "{dir}/K.npy", "-q"], r"cannot read"),
    ("csv-ragged", ["spectrum", "relu", "-L", "2", "--data", "{dir}/ragged.csv", "--k", "1", "-q"], r"row 1 has 2 values"),
    ("file-nan", ["spectrum", "relu", "-L", "2", "--data", "{dir}/nan.npy", "--k", "1", "-q"], r"non-finite entry nan at row 1"),
    ("out-unwritable", ["gram", "relu", "-L", "2", "--data", S10, "--out", "{dir}/no/such/dir/K.npy", "-q"], r"cannot write"),
    ("sphere-spec-float", ["gram", "relu", "-L", "1", "--data", "sphere:n=2.5,d=3", "--out", "{dir}/K.npy", "-q"],
     r"n in data spec .* must be an integer"),
    ("sphere-spec-nan", ["gram", "relu", "-L", "1", "--data", "sphere:n=nan,d=3", "--out", "{dir}/K.npy", "-q"],
     r"must be an integer"),
    ("sphere-spec-missing", ["gram", "relu", "-L", "1", "--data", "sphere:n=10", "--out", "{dir}/K.npy", "-q"],
     r"needs n and d, e\.g\. sphere:n=1000,d=10"),
    ("sphere-spec-seed", ["gram", "relu", "-L", "1", "--data", "sphere:n=10,d=3,seed=-1", "--out", "{dir}/K.npy", "-q"],
     r"seed must be a non-negative integer"),
    ("sphere-spec-dim", ["spectrum", "relu", "-L", "1", "--data", "sphere:n=10,d=1", "-q"], r"dim must be an integer >= 2"),
    ("step-gram", ["gram", "step", "-L", "2", "--data", S10, "--out", "{dir}/K.npy", "-q"], r"only the NNGP exists"),
    ("gram-too-large", ["gram", "relu", "-L", "2", "--data", "sphere:n=400000,d=3", "--out", "{dir}/K.npy", "-q"],
     r"GiB.*matrix_free=True.*float32"),
    ("spectrum-k-0", ["spectrum", "relu", "-L", "2", "--data", S10, "--k", "0", "-q"], r"k must be >= 1"),
    ("spectrum-k-too-big", ["spectrum", "relu", "-L", "2", "--data", S10, "--k", "11", "-q"], r"k = 11 exceeds .*n = 10"),
    ("spectrum-matrix-free-k-n", ["spectrum", "relu", "-L", "2", "--data", S10, "--k", "10", "--matrix-free", "-q"],
     r"k = 10 equals the matrix size"),
    ("sphere-dim-1", ["sphere", "relu", "-L", "2", "--dim", "1", "-K", "5", "-q"], r"dim must be >= 2"),
    ("sphere-degree-too-low", ["sphere", "relu", "-L", "2", "--dim", "3", "-K", "5", "--degree", "3", "-q"], r"too low"),
    ("sphere-fit-min", ["sphere", "relu", "-L", "2", "--dim", "3", "-K", "5", "--fit-min", "100", "-q"],
     r"k_min = 100 is too large: it must be at most 5"),
    ("threads-absurd", ["--threads", "100000", "activations"], r"--threads: .*at most 4096"),
    ("threads-negative", ["--threads", "-1", "activations"], r"--threads must be >= 0"),
]


@pytest.mark.parametrize("argv, pattern", [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_cli_bad_input_in_process(argv, pattern, ctx, capsys):
    argv = [a.format(dir=ctx["dir"]) for a in argv]
    rc = ntkrs.cli.main(argv)
    out, err = capsys.readouterr()
    assert rc == 2, (rc, out, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("ntkrs: error: "), err
    assert re.search(pattern, lines[0]), lines[0]
    assert "Traceback" not in err and "panicked" not in err


@pytest.mark.parametrize(
    "argv",
    [["coeffs", "relu", "-L", "2.5"], ["hermite", "relu", "--degree", "ten"], ["nosuchcommand"], ["gram", "relu"]],
    ids=["depth-not-int", "degree-not-int", "unknown-command", "missing-options"],
)
def test_cli_argparse_errors_exit_2_without_traceback(argv, capsys):
    with pytest.raises(SystemExit) as info:
        ntkrs.cli.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error:" in err.splitlines()[-1]


def test_cli_good_input_after_bad_still_works(ctx, capsys):
    assert ntkrs.cli.main(["gram", "relu", "-L", "1", "--data", str(ctx["dir"] / "good.npy"),
                           "--out", str(ctx["dir"] / "K.npy"), "-q"]) == 0
    K = np.load(ctx["dir"] / "K.npy")
    assert K.shape == (6, 6) and np.allclose(np.diag(K), 2.0)


# --------------------------------------------------------------------------- the real command line


@pytest.mark.parametrize(
    "argv, pattern",
    [
        (["hermite", "rleu"], r"^ntkrs: error: unknown activation 'rleu'; did you mean 'relu'"),
        (["gram", "relu", "-L", "2", "--data", "{dir}/pickled.npy", "--out", "{dir}/K.npy", "-q"], r"^ntkrs: error: cannot read"),
        (["coeffs", "relu", "-L", "2", "--bias-var", "1.5"], r"^ntkrs: error: unit variance is impossible"),
        (["--threads", "99999", "coeffs", "relu", "-L", "1"], r"^ntkrs: error: --threads"),
        (["spectrum", "step", "-L", "2", "--data", S10, "--k", "3", "-q"], r"^ntkrs: error: .*only the NNGP exists"),
    ],
    ids=["unknown-activation", "pickled-file", "unit-variance", "threads", "step-ntk"],
)
def test_cli_subprocess_one_line_no_traceback(argv, pattern, ctx):
    argv = [a.format(dir=ctx["dir"]) for a in argv]
    res = subprocess.run([sys.executable, "-m", "ntkrs", *argv], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, (res.returncode, res.stderr)
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    assert re.search(pattern, lines[0]), lines[0]
    assert "Traceback" not in res.stderr
    assert res.stdout == ""
