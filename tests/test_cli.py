"""The ntkrs console script: activations and hermite subcommands, and user errors."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys

import pytest

NTKRS = shutil.which("ntkrs")


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [NTKRS, *args] if NTKRS else [sys.executable, "-m", "ntkrs", *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=check)


def test_console_script_installed():
    assert NTKRS is not None, "the `ntkrs` console script is not on PATH"


def test_activations_lists_builtins_and_plugin_with_source_and_kind():
    out = run("activations").stdout
    lines = {line.split()[0]: line for line in out.splitlines()[2:] if line.strip()}
    assert "relu" in lines and "ntkrs.builtin" in lines["relu"] and "closed form" in lines["relu"]
    assert "tanh" in lines and "quadrature" in lines["tanh"]
    assert "snake" in lines and "ntkrs-example" in lines["snake"] and "a=1.0" in lines["snake"]
    data = json.loads(run("activations", "--json").stdout)
    by_name = {a["name"]: a for a in data["activations"]}
    assert by_name["leaky_relu"]["params"] == {"slope": 0.01}
    assert by_name["twokink"]["plugin"] == "ntkrs-example"
    assert by_name["relu"]["kinks"] == [0.0]


def test_hermite_json_matches_closed_form():
    data = json.loads(run("hermite", "relu", "--degree", "4", "--json").stdout)
    mu = data["mu"]
    assert len(mu) == 5
    assert mu[0] == pytest.approx(1 / math.sqrt(2 * math.pi), rel=1e-15)
    assert mu[1] == pytest.approx(0.5, rel=1e-15)
    assert mu[2] == pytest.approx(1 / math.sqrt(4 * math.pi), rel=1e-14)  # (k-3)!!/sqrt(2π k!), k=2
    assert mu[3] == 0.0
    assert data["second_moment"] == pytest.approx(0.5)


def test_hermite_with_params_and_q_table():
    out = run("hermite", "leaky_relu(slope=0.2)", "--degree", "3", "--q", "4").stdout
    assert "leaky_relu(slope=0.2)" in out
    rows = [line.split() for line in out.splitlines() if line[:1].isdigit()]
    assert [int(r[0]) for r in rows] == [0, 1, 2, 3]
    # leaky: μ_1 = α + (1-α)/2 at q = 1, times √q = 2
    assert float(rows[1][1]) == pytest.approx(2 * (0.2 + 0.8 / 2), rel=1e-14)


@pytest.mark.parametrize(
    "args, text",
    [
        (("hermite", "rleu"), "unknown activation 'rleu'; did you mean 'relu'"),
        (("hermite", "relu", "--degree", "-3"), "degree must be >= 0"),
        (("hermite", "relu", "--q", "-1"), "positive"),
        (("hermite", "leaky_relu(slop=1)"), "no parameter 'slop'"),
        (("hermite", "relu(("), "cannot parse activation"),
        (("hermite", "coefs_only_missing", "--degree", "2"), "unknown activation"),
    ],
)
def test_user_errors_one_line_nonzero_no_traceback(args, text):
    res = run(*args, check=False)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    assert text in lines[0]


def test_python_dash_m_works():
    res = subprocess.run([sys.executable, "-m", "ntkrs", "--version"], capture_output=True, text=True, check=True)
    assert res.stdout.startswith("ntkrs ")
