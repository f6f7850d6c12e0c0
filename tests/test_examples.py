"""Smoke test: every script in examples/ runs to completion and prints what it should.

Each example runs in a fresh interpreter (as a user would run it) with a timeout; together they
take a few seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TIMEOUT = 30  # seconds; each example takes ~1 s (kernel_ridge ~3 s, mostly importing scikit-learn)

#: example -> substrings its output must contain
EXPECTED = {
    "quickstart.py": [
        "Network('relu', depth=3, weight_var=2",
        "Theta(1) = 4",
        "<= bound: True",
        "published  52.277  82.582  93.192  94.077  95.403  95.801",
        "exact      64.744  90.030  95.134  96.155  96.779  97.161",
    ],
    "gram_spectrum.py": [
        "diagonal = Theta(1) = 4",
        "top-5 eigenvalues (matrix-free)",
        "Theorem 4.1:",
        "Theorem 4.3:",
        "empirical NTK, width  1024",
    ],
    "sphere_decay.py": [
        "predicted k^-3.000",
        "predicted k^-5.000",
        "multiplicities N(3, k), k = 0..5: [1, 3, 5, 7, 9, 11]",
        "sampled Gram eigenvalues / n",
    ],
    "custom_activation.py": [
        "registered: ['shifted_relu', 'snake2']",
        "source: my-activations",
        "PluginError from plugin 'broken'",
    ],
    "kernel_ridge.py": ["ReLU depth 1 NTK", "ReLU depth 3 NNGP", "test R^2 ="],
}


def test_every_example_is_tested():
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(EXPECTED)


def _run(script: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.setdefault("RAYON_NUM_THREADS", "2")
    # keep BLAS from oversubscribing the cores next to ntkrs's own threads
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("MKL_NUM_THREADS", "1")
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=EXAMPLES.parent,
        env=env,
    )


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_example_runs(script: str):
    if script == "kernel_ridge.py":
        pytest.importorskip("sklearn")
    proc = _run(script)
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout}\n{proc.stderr}"
    for text in EXPECTED[script]:
        assert text in proc.stdout, f"{script}: expected {text!r} in output:\n{proc.stdout}"
    assert "Traceback" not in proc.stderr
