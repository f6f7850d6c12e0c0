"""Sweeps (issue #6): spec validation, rows, durable storage (Parquet and the non-pyarrow
formats), resume after SIGKILL, error rows, progress, Ctrl-C, and local vs Dask."""

from __future__ import annotations

import importlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import ntkrs
from ntkrs.errors import InputTypeError, InvalidInputError, UnknownActivationError

S = importlib.import_module("ntkrs.sweep")
spec_mod = importlib.import_module("ntkrs.sweep_spec")
store_mod = importlib.import_module("ntkrs.sweep_store")
SweepSpec = spec_mod.SweepSpec

NTKRS = shutil.which("ntkrs")
HAVE_PYARROW = store_mod.have_pyarrow()

SMALL = {
    "activations": ["relu", "leaky_relu(slope=0.1)", "erf"],
    "depth": "1-3",
    "degree": 60,
    "variances": {"bias_var": [0.0, 0.2]},
    "sphere_dim": 3,
    "sphere_k": 12,
}


def run_sweep(spec, **kw):
    kw.setdefault("progress", False)
    kw.setdefault("as_frame", False)
    return S.sweep(spec, **kw)


def same_rows(a, b):
    assert len(a) == len(b)
    for ra, rb in zip(a, b):
        assert set(ra) == set(rb)
        for k, va in ra.items():
            vb = rb[k]
            if isinstance(va, float) and isinstance(vb, float) and math.isnan(va) and math.isnan(vb):
                continue
            assert va == vb, (ra["index"], k, va, vb)


def cli(*args):
    return [NTKRS, *args] if NTKRS else [sys.executable, "-m", "ntkrs", *args]


# ------------------------------------------------------------------------------ spec
def test_spec_expands_grid_with_stable_ids():
    spec = SweepSpec.from_dict(SMALL)
    assert len(spec) == 3 * 3 * 2 * 1 * 1
    a = S.expand(spec)
    b = S.expand(dict(SMALL))
    assert [s["setting_id"] for s in a] == [s["setting_id"] for s in b]
    assert len({s["setting_id"] for s in a}) == len(a)
    # the id of a setting does not depend on the rest of the grid
    sub = S.expand({**SMALL, "activations": ["erf"], "depth": 2})
    match = [s for s in a if s["activation"].startswith("erf") and s["depth"] == 2]
    assert [s["setting_id"] for s in sub] == [s["setting_id"] for s in match]
    assert spec.activations == ("relu", "leaky_relu(slope=0.1)", "erf(scale=1.0)")


@pytest.mark.parametrize(
    "patch, exc, words",
    [
        ({"activations": ["relu", "rleu"]}, UnknownActivationError, ["activations[1]", "rleu", "did you mean", "relu"]),
        ({"activations": ["leaky_relu(slop=0.1)"]}, InvalidInputError, ["activations[0]", "slop"]),
        ({"depth": "10-1"}, InvalidInputError, ["depth", "10-1", "empty range"]),
        ({"depth": "1-x"}, InvalidInputError, ["depth", "1-x"]),
        ({"depth": 0}, InvalidInputError, ["depth", ">= 1"]),
        ({"depth": 1.5}, InputTypeError, ["depth", "1.5"]),
        ({"degree": "5-20:0"}, InvalidInputError, ["degree", "step"]),
        ({"outputs": ["theta1", "thetaa"]}, InvalidInputError, ["unknown output", "thetaa", "theta1"]),
        ({"depht": 3}, InvalidInputError, ["unknown key", "depht", "did you mean", "depth"]),
        ({"variances": {"bias_var": -0.1}}, InvalidInputError, ["variances.bias_var", "-0.1"]),
        ({"variances": {"bias": 0.1}}, InvalidInputError, ["unknown key", "bias", "bias_var"]),
        ({"variances": {"edge_of_chaos": 1.0, "bias_var": 0.1}}, InvalidInputError, ["edge_of_chaos", "bias_var"]),
        ({"variances": {"weight_var": "abc"}}, InputTypeError, ["weight_var", "abc"]),
        ({"data": ["sphere:n=10"]}, InvalidInputError, ["data[0]", "needs d"]),
        ({"data": "no/such/file.npy"}, InvalidInputError, ["data", "no such data file"]),
        ({"sphere_dim": 1}, InvalidInputError, ["sphere_dim", ">= 2"]),
        ({"sphere_k": "50"}, InputTypeError, ["sphere_k", "integer"]),
        ({"coeff_fit": [10, 100]}, InvalidInputError, ["coeff_fit", "60"]),
        ({"outputs": ["gram"]}, InvalidInputError, ["gram", "dataset"]),
        ({"table1_terms": 100}, InvalidInputError, ["table1_terms", "degree"]),
        ({"activations": []}, InputTypeError, ["activations"]),
    ],
)
def test_spec_validation_errors_name_the_key(patch, exc, words):
    with pytest.raises(exc) as info:
        SweepSpec.from_dict({**SMALL, **patch})
    msg = str(info.value)
    for w in words:
        assert w in msg, (w, msg)


def test_spec_from_toml_and_json_files(tmp_path):
    toml = tmp_path / "s.toml"
    toml.write_text(
        'activations = ["relu", {name = "leaky_relu", slope = 0.1}]\n'
        'depth = "1-2"\ndegree = 40\nsphere_dim = [3]\nsphere_k = 8\n'
        'outputs = ["theta1", "sphere"]\n[variances]\nbias_var = [0.0, 0.1]\n'
    )
    a = SweepSpec.from_file(toml)
    js = tmp_path / "s.json"
    js.write_text(json.dumps(a.to_dict()))
    b = SweepSpec.from_file(js)
    assert a == b and len(a) == 8
    assert [s["setting_id"] for s in S.expand(a)] == [s["setting_id"] for s in S.expand(str(js))]
    bad = tmp_path / "bad.toml"
    bad.write_text("activations = [relu\n")
    with pytest.raises(InvalidInputError, match="bad.toml"):
        SweepSpec.from_file(bad)
    with pytest.raises(InvalidInputError, match="unknown key 'colour'"):
        toml.write_text('activations = ["relu"]\ndepth = 1\ncolour = "red"\n')
        SweepSpec.from_file(toml)


def test_example_spec_is_valid():
    example = Path(__file__).resolve().parent.parent / "examples" / "sweep_example.toml"
    spec = SweepSpec.from_file(example)
    assert len(spec) > 0


# ------------------------------------------------------------------------------ rows
def test_rows_match_the_network_api():
    rows = run_sweep({**SMALL, "outputs": ["theta1", "kappa0_share", "table1", "truncation_bound",
                                           "coeff_decay", "coefficients", "sphere"]})
    assert all(r["status"] == "ok" and r["error"] is None for r in rows)
    for r in rows:
        net = ntkrs.Network(r["activation"], r["depth"], bias_var=r["bias_var"])
        s = net.series(60)
        assert r["weight_var"] == net.weight_var
        assert r["theta1"] == s.ntk_at_one
        assert r["kappa0_share"] == s.ntk[0] / s.ntk_at_one
        assert r["ntk_coefficients"] == s.ntk.tolist()
        assert r["truncation_bound"] == s.truncation_bound
        assert [r[f"table1_pct_{j}"] for j in range(6)] == pytest.approx((100 * s.partial_sums()[:6]).tolist(), rel=1e-13)
        sp = net.sphere_eigenvalues(3, 12)
        assert r["sphere_eigenvalues"] == sp.eigenvalues.tolist()
        assert r["sphere_decay_exponent"] == pytest.approx(sp.fit_decay(6, 12)[0], rel=1e-12)
    relu = [r for r in rows if r["activation"] == "relu" and r["bias_var"] == 0.0]
    assert [r["theta1"] for r in relu] == pytest.approx([2.0, 3.0, 4.0], rel=1e-14)  # He init: Θ(1) = L + 1
    # ReLU coefficients decay like p^-1.5
    assert relu[0]["coeff_decay_exponent"] == pytest.approx(1.5, abs=0.1)


def test_gram_outputs_match_spectrum_report():
    rows = run_sweep({"activations": ["relu"], "depth": [2], "degree": 20, "data": "sphere:n=60,d=4,seed=1",
                      "gram_k": 5, "outputs": ["theta1", "gram"]})
    (r,) = rows
    X = ntkrs.sample_sphere(60, 4, seed=1)
    rep = ntkrs.spectrum_report(ntkrs.Network("relu", 2), X, k=5, smallest=False)
    assert r["gram_eigenvalues"] == pytest.approx(rep["eigenvalues"].tolist(), rel=1e-10)
    assert r["effective_rank"] == pytest.approx(rep["effective_rank"], rel=1e-10)
    assert r["gram_trace"] == pytest.approx(60 * 3.0, rel=1e-13)
    assert r["bounds_hold"] is True and (r["data_n"], r["data_d"]) == (60, 4)


def test_failing_setting_gives_an_error_row_and_the_rest_finish():
    rows = run_sweep({"activations": ["relu", "step"], "depth": [1, 2], "degree": 30,
                      "variances": [{"bias_var": 0.1}, {"bias_var": 1.5}, {"edge_of_chaos": 1.0}]})
    by = {(r["activation"], r["depth"], r["init"], r["bias_var"]): r for r in rows}
    assert len(rows) == 12
    errs = [r for r in rows if r["status"] == "error"]
    oks = [r for r in rows if r["status"] == "ok"]
    assert {r["activation"] for r in oks} == {"relu"}
    assert all(r["theta1"] is None and r["error"] for r in errs)
    assert "DomainError" in by[("relu", 1, "unit", 1.5)]["error"]
    assert "step" in by[("step", 2, "unit", 0.1)]["error"]
    assert len(oks) == 4 and all(r["theta1"] > 0 for r in oks)


# ------------------------------------------------------------------------------ storage
@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "csv"])
def test_store_roundtrip_is_exact(tmp_path, fmt):
    if fmt == "parquet" and not HAVE_PYARROW:
        pytest.skip("pyarrow not installed")
    mem = run_sweep(SMALL)
    out = tmp_path / f"r.{fmt}"
    stored = run_sweep(SMALL, out=out)
    same_rows(mem, stored)
    cols = S.columns(SweepSpec.from_dict(SMALL))
    back = store_mod.read_rows(out, columns=cols, dedup=True)
    same_rows(sorted(back, key=lambda r: r["index"]), mem)
    with pytest.raises(InvalidInputError, match="already exists"):
        run_sweep(SMALL, out=out)


def test_without_pyarrow_parquet_falls_back_to_jsonl(tmp_path, monkeypatch):
    monkeypatch.setattr(store_mod, "have_pyarrow", lambda: False)
    with pytest.warns(RuntimeWarning, match="pyarrow is not installed"):
        rows = run_sweep(SMALL, out=tmp_path / "r.parquet")
    assert (tmp_path / "r.jsonl").is_file() and not (tmp_path / "r.parquet").exists()
    same_rows(rows, run_sweep(SMALL))
    lines = (tmp_path / "r.jsonl").read_text().splitlines()
    assert len(lines) == len(rows) and all(json.loads(x)["status"] == "ok" for x in lines)
    # no suffix: JSON lines too
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run_sweep({**SMALL, "depth": 1}, out=tmp_path / "plain")
    assert (tmp_path / "plain.jsonl").is_file()


def test_without_pandas_a_list_of_dicts(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    rows = S.sweep({**SMALL, "depth": 1}, progress=False)
    assert isinstance(rows, list) and isinstance(rows[0], dict)


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_resume_ignores_torn_tail_and_skips_finished(tmp_path, fmt, monkeypatch):
    if fmt == "parquet" and not HAVE_PYARROW:
        pytest.skip("pyarrow not installed")
    full = run_sweep(SMALL)
    out = tmp_path / f"r.{fmt}"
    cols = S.columns(SweepSpec.from_dict(SMALL))
    # a sweep killed after 7 rows, in the middle of writing the 8th
    with store_mod.open_store(out, cols) as st:
        st.append(full[:7])
        if fmt == "parquet":
            st.flush()
            st.append(full[7:9])  # journal rows that never became a part
            st._journal_rows = 0  # simulate the kill: no flush on close
    target = out / store_mod.JOURNAL if fmt == "parquet" else out
    with open(target, "ab") as fh:
        fh.write(b'{"index": 9, "setting_id": "torn')
    if fmt == "parquet":
        (out / ".part-00000099-dead.parquet.tmp").write_bytes(b"PAR1 half")
    n_before = 9 if fmt == "parquet" else 7
    assert len(store_mod.read_rows(out, columns=cols)) == n_before  # torn tail ignored

    computed = []
    orig = S.compute_rows

    def spy(settings, *a, **k):
        computed.extend(s["setting_id"] for s in settings)
        return orig(settings, *a, **k)

    monkeypatch.setattr(S, "compute_rows", spy)
    resumed = run_sweep(SMALL, out=out, resume=True)
    same_rows(resumed, full)
    assert sorted(computed) == sorted(r["setting_id"] for r in full[n_before:])
    back = store_mod.read_rows(out, columns=cols)
    assert sorted(r["setting_id"] for r in back) == sorted(r["setting_id"] for r in full)  # exactly one each
    if fmt == "parquet":
        assert not list(out.glob(".part-*")) and len(list(out.glob("part-*.parquet"))) == 1
    else:
        assert out.read_bytes().endswith(b"\n")


def test_resume_retries_error_rows_only_when_asked(tmp_path):
    spec = {"activations": ["relu"], "depth": [1, 2], "degree": 20, "variances": [{"bias_var": 0.0}, {"bias_var": 1.5}]}
    out = tmp_path / "r.jsonl"
    rows = run_sweep(spec, out=out)
    assert [r["status"] for r in rows] == ["ok", "error", "ok", "error"]
    calls = []
    run_sweep(spec, out=out, resume=True, progress=lambda done, total: calls.append((done, total)))
    assert calls == []  # nothing left to compute
    run_sweep(spec, out=out, resume=True, retry_errors=True, progress=lambda d, t: calls.append((d, t)))
    assert calls and calls[-1] == (4, 4)
    assert len(out.read_text().splitlines()) == 6


# ------------------------------------------------------------------------------ Dask
def test_local_and_dask_localcluster_rows_identical():
    distributed = pytest.importorskip("distributed")
    import logging

    spec = {**SMALL, "activations": ["relu", "tanh", "step"], "data": ["sphere:n=40,d=3"], "gram_k": 4}
    local = run_sweep(spec, chunk_size=5)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0",
                                  silence_logs=logging.ERROR) as cluster, distributed.Client(cluster) as client:
        remote = run_sweep(spec, scheduler=client, chunk_size=4)
    same_rows(local, remote)
    assert {r["status"] for r in local} == {"ok", "error"}


# ------------------------------------------------------------------------------ CLI
def test_cli_sweep_progress_on_stderr_and_json_rows(tmp_path):
    out = tmp_path / "r.csv"
    p = subprocess.run(cli("sweep", "-a", "relu", "-a", "leaky_relu(slope=0.1)", "--depth", "1-3", "--degree", "40",
                           "--sphere-dim", "3", "--sphere-k", "10", "--out", str(out), "--json"),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "[ntkrs] sweep" in p.stderr and "6/6 rows" in p.stderr and "rows/s" in p.stderr
    rows = [json.loads(x) for x in p.stdout.splitlines()]
    assert len(rows) == 6 and rows[2]["theta1"] == pytest.approx(4.0, rel=1e-14)
    same_rows(rows, run_sweep({"activations": ["relu", "leaky_relu(slope=0.1)"], "depth": "1-3", "degree": 40,
                               "sphere_dim": 3, "sphere_k": 10}))
    bad = subprocess.run(cli("sweep", "-a", "rleu", "--depth", "1"), capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "did you mean 'relu'" in bad.stderr
    bad = subprocess.run(cli("sweep", "-a", "relu", "--depth", "3-1"), capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "empty range" in bad.stderr
    q = subprocess.run(cli("sweep", "-a", "relu", "--depth", "1", "--quiet"), capture_output=True, text=True, timeout=60)
    assert q.returncode == 0 and "rows/s" not in q.stderr


SLOW = ["-a", "gelu", "--depth", "1-8", "--bias-var", "0,0.2", "--degree", "100", "--sphere-dim", "3",
        "--sphere-k", "50", "--chunk-size", "1", "--workers", "1"]


def _count_lines(path: Path) -> int:
    target = path / store_mod.JOURNAL if path.is_dir() else path
    try:
        return target.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _wait_rows(path: Path, n: int, proc: subprocess.Popen, timeout: float = 60.0) -> int:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        k = _count_lines(path)
        if k >= n or proc.poll() is not None:
            return k
        time.sleep(0.02)
    return _count_lines(path)


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_cli_sigkill_then_resume_one_complete_row_per_setting(tmp_path, fmt):
    if fmt == "parquet" and not HAVE_PYARROW:
        pytest.skip("pyarrow not installed")
    out = tmp_path / f"r.{fmt}"
    proc = subprocess.Popen(cli("sweep", *SLOW, "--out", str(out), "--quiet"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    k = _wait_rows(out, 3, proc)
    proc.kill()
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the sweep finished before it could be killed"
    assert 3 <= k < 16
    r = subprocess.run(cli("sweep", *SLOW, "--out", str(out), "--resume", "--quiet"),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    spec = SweepSpec.from_dict({"activations": ["gelu"], "depth": "1-8", "variances": {"bias_var": [0.0, 0.2]},
                                "degree": 100, "sphere_dim": 3, "sphere_k": 50})
    rows = store_mod.read_rows(out, columns=S.columns(spec))
    ids = [s["setting_id"] for s in S.expand(spec)]
    assert sorted(r["setting_id"] for r in rows) == sorted(ids)  # one row per setting, no duplicates
    assert all(r["status"] == "ok" and len(r["sphere_eigenvalues"]) == 51 for r in rows)
    # the rows are the right ones (spot check two settings against an in-process run)
    sub = run_sweep({**spec.to_dict(), "depth": [1, 2]})
    by = {r["setting_id"]: r for r in rows}
    same_rows([by[x["setting_id"]] for x in sub], [dict(x, index=by[x["setting_id"]]["index"]) for x in sub])


def test_cli_sigint_stops_promptly_with_rows_intact(tmp_path):
    out = tmp_path / "r.jsonl"
    proc = subprocess.Popen(cli("sweep", *SLOW, "--out", str(out)), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    k = _wait_rows(out, 2, proc)
    assert proc.poll() is None and k >= 2
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    elapsed = time.monotonic() - t0
    assert proc.returncode == 130, err
    assert elapsed < 3.0, f"took {elapsed:.2f} s to stop"
    assert "interrupted" in err and "--resume" in err
    data = out.read_bytes()
    assert data.endswith(b"\n")
    lines = data.decode().splitlines()
    assert 2 <= len(lines) < 16 and all(json.loads(x)["status"] == "ok" for x in lines)


def test_read_results_of_a_store(tmp_path):
    out = tmp_path / "r.csv"
    rows = run_sweep(SMALL, out=out)
    back = S.read_results(out, as_frame=False)
    cols = [c for c, _ in S.columns(SweepSpec.from_dict(SMALL))]
    same_rows([{c: r[c] for c in cols} for r in back], rows)
