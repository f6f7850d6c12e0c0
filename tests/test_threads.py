"""Concurrency (DESIGN §2, §4, §7): several Python threads calling ntkrs at once get the same
results as serial calls; long calls release the GIL; the thread count follows
``ntkrs.set_num_threads`` and ``RAYON_NUM_THREADS``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import ntkrs


@pytest.fixture
def restore_threads():
    before = ntkrs.get_num_threads()
    yield
    ntkrs.set_num_threads(0)  # back to RAYON_NUM_THREADS / all cores
    if ntkrs.get_num_threads() != before:
        ntkrs.set_num_threads(before)


# --------------------------------------------------------------------------- workloads
X_GRAM = ntkrs.sample_sphere(600, 12, seed=11)
X_EIG = ntkrs.sample_sphere(500, 5, seed=12)


def work_gram():
    return ntkrs.Network("erf(scale=1.3)", 3, bias_var=0.1).ntk(X_GRAM)


def work_gram_quadrature():
    return ntkrs.Network("tanh", 2).ntk(X_GRAM[:200])


def work_series():
    s = ntkrs.Network("relu", 5, bias_var=0.2).series(800)
    return np.concatenate([s.ntk, s.nngp, [s.truncation_bound]])


def work_eigsh():
    K = ntkrs.Network("relu", 2).ntk(X_EIG)
    return ntkrs.eigsh(K, 8)


def work_matrix_free():
    return ntkrs.Network("gelu", 2).eigenvalues(X_EIG, 4, matrix_free=True)


def work_sphere():
    sp = ntkrs.Network("relu", 3).sphere_eigenvalues(5, 30)
    return np.concatenate([sp.eigenvalues, sp.errors])


def work_hermite():
    return ntkrs.hermite_coefficients("softplus", 150)


def work_empirical():
    return ntkrs.empirical_ntk(X_GRAM[:40], "relu", 2, 256, seed=3)


WORKS = {
    "gram": work_gram,
    "gram_quadrature": work_gram_quadrature,
    "series": work_series,
    "eigsh": work_eigsh,
    "matrix_free": work_matrix_free,
    "sphere": work_sphere,
    "hermite": work_hermite,
    "empirical": work_empirical,
}


def assert_same(got, want, what):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, what
    if not np.array_equal(got, want):
        scale = max(float(np.max(np.abs(want))), 1e-300)
        assert np.max(np.abs(got - want)) <= 1e-14 * scale, what


def run_in_threads(jobs, repeats=1):
    """Start every job in its own thread at once (barrier), ``repeats`` times each."""
    results: dict = {}
    errors: list = []
    barrier = threading.Barrier(len(jobs))

    def runner(key, fn):
        try:
            barrier.wait()
            results[key] = [fn() for _ in range(repeats)]
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append((key, exc))

    threads = [threading.Thread(target=runner, args=(k, f)) for k, f in jobs.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    assert not errors, errors
    return results


def test_four_threads_mixed_calls_match_serial():
    names = ["gram", "series", "eigsh", "sphere"]
    serial = {n: WORKS[n]() for n in names}
    concurrent = run_in_threads({n: WORKS[n] for n in names}, repeats=2)
    for n in names:
        for got in concurrent[n]:
            assert_same(got, serial[n], n)


def test_four_threads_same_call_match_serial():
    for name in ["gram_quadrature", "matrix_free", "hermite", "empirical"]:
        want = WORKS[name]()
        concurrent = run_in_threads({i: WORKS[name] for i in range(4)})
        for i in range(4):
            assert_same(concurrent[i][0], want, f"{name} in thread {i}")


def test_threads_with_fresh_activation_objects_and_shared_network():
    """One Network shared by four threads (its coefficient cache is filled concurrently)."""
    net = ntkrs.Network("silu", 3, weight_var=1.7, bias_var=0.05)
    fresh = ntkrs.Network("silu", 3, weight_var=1.7, bias_var=0.05)
    X = X_GRAM[:150]
    want_series = fresh.series(300).ntk
    want_gram = fresh.ntk(X)
    res = run_in_threads({i: (lambda: (net.series(300).ntk, net.ntk(X))) for i in range(4)})
    for i in range(4):
        assert_same(res[i][0][0], want_series, "series")
        assert_same(res[i][0][1], want_gram, "gram")


def _counter_progress_during(call, min_seconds=0.5):
    """Count increments of a pure-Python loop in a second thread while ``call`` runs in this
    one (repeated until ``min_seconds`` have passed: the machine may be fast), and during an
    equally long ``time.sleep`` (baseline). Returns (during, baseline, seconds)."""
    stop = threading.Event()
    count = [0]

    def spin():
        while not stop.is_set():
            count[0] += 1

    t = threading.Thread(target=spin)
    t.start()
    try:
        time.sleep(0.05)
        c0 = count[0]
        t0 = time.perf_counter()
        calls = 0
        while calls < 1 or (time.perf_counter() - t0 < min_seconds and calls < 50):
            call()
            calls += 1
        elapsed = time.perf_counter() - t0
        during = count[0] - c0
        c1 = count[0]
        time.sleep(elapsed)
        baseline = count[0] - c1
    finally:
        stop.set()
        t.join()
    return during, baseline, elapsed


@pytest.mark.parametrize(
    "what, call",
    [
        ("gram", lambda: ntkrs.Network("tanh", 3).ntk(ntkrs.sample_sphere(3000, 10, seed=1))),
        ("series", lambda: ntkrs.Network("relu", 1500).series(2500)),
        ("eigsh", lambda: ntkrs.Network("relu", 2).eigenvalues(ntkrs.sample_sphere(4000, 8, seed=2), 5,
                                                               matrix_free=True)),
        ("sphere", lambda: ntkrs.Network("relu", 4).sphere_eigenvalues(3, 500)),
    ],
)
def test_gil_released_during_long_calls(restore_threads, what, call):
    """A pure-Python thread keeps running while Rust works: had the call held the GIL, the
    counter would not move at all for the whole call."""
    ntkrs.set_num_threads(1)  # leave a core for the counter thread on a 2-core machine
    during, baseline, elapsed = _counter_progress_during(call)
    assert elapsed > 0.2, f"{what}: the calls took only {elapsed:.2f} s; make them longer"
    assert during > 0.15 * baseline, (what, during, baseline, elapsed)


def test_set_and_get_num_threads(restore_threads):
    ntkrs.set_num_threads(1)
    assert ntkrs.get_num_threads() == 1
    one = work_gram()
    ntkrs.set_num_threads(3)
    assert ntkrs.get_num_threads() == 3
    three = work_gram()
    assert_same(three, one, "gram with 1 vs 3 threads")
    ntkrs.set_num_threads(0)
    assert ntkrs.get_num_threads() >= 1


def test_one_thread_uses_one_core(restore_threads):
    """With set_num_threads(1) the process never uses more than about one core of CPU time."""
    ntkrs.set_num_threads(1)
    net = ntkrs.Network("tanh", 3)
    X = ntkrs.sample_sphere(3000, 10, seed=4)
    net.ntk(X[:20])  # coefficients and set-up outside the measurement
    c0, t0 = time.process_time(), time.perf_counter()
    calls = 0
    while calls < 1 or (time.perf_counter() - t0 < 0.5 and calls < 100):
        net.ntk(X)
        calls += 1
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    assert wall > 0.2
    assert cpu <= 1.25 * wall + 0.05, (cpu, wall)


def test_rayon_num_threads_env_is_honoured():
    code = (
        "import json, ntkrs, numpy as np\n"
        "n0 = ntkrs.get_num_threads()\n"
        "X = ntkrs.sample_sphere(300, 6, seed=0)\n"
        "K = ntkrs.Network('relu', 3).ntk(X)\n"
        "ntkrs.set_num_threads(0)\n"
        "print(json.dumps({'n0': n0, 'n_reset': ntkrs.get_num_threads(), 'k': float(K.sum())}))\n"
    )
    out = {}
    for n in ("1", "3"):
        env = {**os.environ, "RAYON_NUM_THREADS": n}
        res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        out[n] = json.loads(res.stdout)
        assert out[n]["n0"] == int(n)
        assert out[n]["n_reset"] == int(n)  # set_num_threads(0) goes back to the variable
    assert out["1"]["k"] == out["3"]["k"]


def test_cli_threads_option():
    code = (
        "import ntkrs, ntkrs.cli, sys\n"
        "rc = ntkrs.cli.main(['--threads', '1', 'coeffs', 'relu', '--depth', '2', '--degree', '3', '--json'])\n"
        "sys.stderr.write(f'THREADS {ntkrs.get_num_threads()}\\n')\n"
        "sys.exit(rc)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], env={**os.environ, "RAYON_NUM_THREADS": "2"},
                         capture_output=True, text=True, check=True)
    assert "THREADS 1" in res.stderr
    assert json.loads(res.stdout)["depth"] == 2
