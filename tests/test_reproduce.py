"""``ntkrs reproduce --quick`` (DESIGN §8) run in-process through the CLI, its files checked
against independent references: the published and exact Table-1 rows, the ReLU arc-cosine
recursion with Cauchy-integral coefficients for the truncation error, and the S² decay law."""

from __future__ import annotations

import csv
import json
import math
import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from kernel_reference import cauchy_coefficients, recursion, relu_dual  # noqa: E402
from ntkrs.cli import main  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PUBLISHED_RELU = (52.277, 82.582, 93.192, 94.077, 95.403, 95.801)
EXACT_RELU = (64.74, 90.03, 95.13, 96.16, 96.78, 97.16)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce")
    rc = main(["reproduce", "--out", str(out), "--quick", "--quiet"])
    assert rc == 0
    return out


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_writes_nonempty_pngs_tables_and_index(quick_run):
    index = json.loads((quick_run / "index.json").read_text())
    names = [f["file"] for f in index["files"]]
    expected = {"table1.csv", "table1.png", "truncation_error.csv", "truncation_error.png",
                "spectra_gaussian.png", "spectra_real_data.csv", "sphere_s2.png", "sphere_s2.csv",
                "sphere_s2_fits.json"}
    try:
        import sklearn  # noqa: F401

        expected.add("spectra_digits.png")
    except ImportError:
        pass
    assert expected <= set(names)
    for name in names:
        p = quick_run / name
        assert p.is_file() and p.stat().st_size > 0, name
        if name.endswith(".png"):
            data = p.read_bytes()
            assert data.startswith(PNG_MAGIC) and len(data) > 5000, name
        if name.endswith(".csv"):
            assert len(_rows(p)) > 1, name
    assert (quick_run / "README.md").read_text().count(".png") >= 4
    assert index["quick"] is True


def test_table1_has_both_constructions_and_the_paper_rows(quick_run):
    rows = _rows(quick_run / "table1.csv")
    cols = [f"j={j}" for j in range(6)]
    table = {(r["construction"], r["activation"]): [float(r[c]) for c in cols] for r in rows}
    for act in ("relu", "tanh", "sigmoid", "gaussian_pdf"):
        assert ("exact", act) in table and ("published_construction", act) in table
        # cumulative shares of Θ(1): increasing, at most 100 %
        for cons in ("exact", "published_construction"):
            v = np.array(table[(cons, act)])
            assert np.all(np.diff(v) >= -1e-9) and v[-1] <= 100 + 1e-6
    # published construction reproduces the printed numbers to the printed digits
    np.testing.assert_allclose(table[("published_construction", "relu")], PUBLISHED_RELU, atol=5e-4 + 1e-9)
    np.testing.assert_allclose(table[("printed_in_paper", "relu")], PUBLISHED_RELU, atol=1e-9)
    # the exact expansion, to the digits shown in DESIGN §8
    np.testing.assert_allclose(table[("exact", "relu")], EXACT_RELU, atol=5e-3 + 1e-9)


def test_truncation_error_against_arc_cosine_recursion(quick_run):
    rows = _rows(quick_run / "truncation_error.csv")
    assert {(int(r["depth"]), int(r["T"])) for r in rows} == {(L, T) for L in (1, 3, 5) for T in (5, 50)}
    check_rho = (-1.0, -0.5, 0.0, 0.3, 0.9, 1.0)
    for L in (1, 3, 5):
        # independent reference: He init (σ_w² = 2), no biases; coefficients by a Cauchy integral
        kappa = cauchy_coefficients(lambda z: recursion(relu_dual, L, z, 2.0, 0.0)[0], 50)
        for T in (5, 50):
            sel = [r for r in rows if int(r["depth"]) == L and int(r["T"]) == T]
            rho = np.array([float(r["rho"]) for r in sel])
            err = np.array([float(r["abs_error"]) for r in sel])
            theta = np.array([float(r["theta_exact"]) for r in sel])
            assert np.all(np.diff(rho) > 0) and rho[0] == -1.0 and rho[-1] == 1.0
            for r0 in check_rho:
                i = int(np.argmin(np.abs(rho - r0)))
                assert abs(rho[i] - r0) < 1e-12
                th_ref = float(np.real(recursion(relu_dual, L, rho[i], 2.0, 0.0)[0]))
                th_T_ref = float(np.polynomial.polynomial.polyval(rho[i], kappa[: T + 1]))
                ref = abs(th_ref - th_T_ref)
                assert abs(theta[i] - th_ref) <= 1e-12 * (L + 1)
                assert abs(err[i] - ref) <= 1e-9 + 1e-7 * ref, (L, T, rho[i], err[i], ref)
            # the sup over [-1, 1] is the certified bound Θ(1) − Σ_{p≤T} κ_p, attained at ρ = 1
            assert math.isclose(err[-1], (L + 1) - float(np.sum(kappa[: T + 1])), rel_tol=1e-8)
            assert err.max() <= err[-1] * (1 + 1e-12)
    summary = json.loads((quick_run / "truncation_error.json").read_text())
    for c in summary["curves"]:
        assert c["max_error"] <= c["bound"] * (1 + 1e-10) + 1e-15


def test_sphere_relu_decay_exponent(quick_run):
    index = json.loads((quick_run / "index.json").read_text())
    fits = index["sphere_fits"]
    assert set(fits) == {"ReLU", "tanh", "Gaussian"}
    relu = fits["ReLU"]
    # ReLU NTK on S²: λ_k ~ k^-3 with multiplicity 2k+1, so λ ~ index^-1.5
    assert relu["theory"] == pytest.approx(1.5, abs=1e-6)
    assert relu["exact"] == pytest.approx(1.5, abs=0.05)
    assert relu["sampled"] == pytest.approx(1.5, abs=0.25)
    # tanh and the Gaussian decay faster than any power; their fits are much steeper
    for name in ("tanh", "Gaussian"):
        assert fits[name]["theory"] is None
        assert fits[name]["exact"] > 3
    # the top eigenvalues of the sampled Gram / n approach the Funk–Hecke ones
    rows = _rows(quick_run / "sphere_s2.csv")
    for label in ("ReLU", "tanh", "Gaussian"):
        fh = [float(r["eigenvalue"]) for r in rows if r["activation"] == label and r["source"] == "funk_hecke"]
        sm = [float(r["eigenvalue"]) for r in rows if r["activation"] == label and r["source"] != "funk_hecke"]
        # (n = 400 points: sampling fluctuations of a few per cent)
        assert fh[0] == pytest.approx(sm[0], rel=0.1)
        assert sum(fh[:30]) == pytest.approx(sum(sm[:30]), rel=0.1)
        assert all(a >= b for a, b in zip(fh, fh[1:]))


def test_real_data_spectra_tables(quick_run):
    rows = _rows(quick_run / "spectra_real_data.csv")
    kinds = {r["kernel"] for r in rows}
    assert "input_gram" in kinds and "ntk_infinite_width" in kinds
    assert any(k.startswith("ntk_width_") for k in kinds)
    for r in rows:
        if r["kernel"] != "input_gram" and r["index"] == "1":
            assert float(r["normalized"]) == 1.0
    labels = {(r["activation"], r["depth"]) for r in rows if r["kernel"] == "ntk_infinite_width"}
    assert labels == {(a, d) for a in ("ReLU", "tanh", "linear") for d in ("1", "4")}
    # linear network: the NTK is (L+1)·ρ, so its normalized spectrum is the input Gram's
    for ds in {r["dataset"] for r in rows}:
        g = [float(r["normalized"]) for r in rows if r["dataset"] == ds and r["kernel"] == "input_gram"]
        lin = [float(r["normalized"]) for r in rows if r["dataset"] == ds and r["activation"] == "linear"
               and r["depth"] == "4" and r["kernel"] == "ntk_infinite_width"]
        np.testing.assert_allclose(lin[:20], g[:20], rtol=1e-8, atol=1e-12)


def test_missing_matplotlib_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    rc = main(["reproduce", "--out", str(tmp_path / "x"), "--quick", "--quiet"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "matplotlib" in err and "pip install" in err
