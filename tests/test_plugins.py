"""Plugins: entry-point discovery of the example plugin, run-time registration, and faulty
plugins, which must yield PluginError naming the plugin while the registry keeps working."""

from __future__ import annotations

import itertools
import math

import mpmath as mp
import numpy as np
import pytest

import ntkrs

_ids = itertools.count()


def unique(prefix: str) -> str:
    return f"{prefix}_{next(_ids)}"


def plugin_returning(specs_factory):
    class Plugin:
        @ntkrs.hookimpl
        def ntkrs_activations(self):
            return specs_factory()

    return Plugin()


def registry_still_works():
    assert "relu" in ntkrs.activations()
    mu = ntkrs.hermite_coefficients("relu", 2)
    assert mu[1] == pytest.approx(0.5, rel=1e-15)


# ---------------------------------------------------------------- example plugin (entry point)


def test_example_plugin_discovered_through_entry_point():
    names = ntkrs.activations()
    assert "snake" in names and "twokink" in names
    assert ntkrs.activation_info("snake").plugin == "ntkrs-example"
    assert ntkrs.get_activation("snake").params == {"a": 1.0}
    assert ntkrs.get_activation("twokink").kinks == (-1.0, 1.0)


@pytest.mark.parametrize("a", [1.0, 0.5, 2.0])
@pytest.mark.parametrize("q", [1.0, 2.5])
def test_snake_coefficients_against_closed_form(a, q):
    # snake(x) = x + sin²(ax)/a = x + (1 - cos(2ax)) / (2a).  At scale q: x -> √q x, so with
    # b = 2a√q: μ_k = √q [k=1] + [k=0]/(2a) - μ_k(cos(b x))/(2a), and
    # μ_k(cos(bx)) = e^{-b²/2} (-1)^{k/2} b^k / √(k!) for even k (an independent closed form).
    K = 120
    mu = ntkrs.hermite_coefficients("snake", K, q=q, a=a)
    b = 2 * a * math.sqrt(q)
    ref = np.zeros(K + 1)
    for k in range(0, K + 1, 2):
        ref[k] = -math.exp(-b * b / 2 + k * math.log(b) - 0.5 * math.lgamma(k + 1)) * (-1) ** (k // 2) / (2 * a)
    ref[0] += 1 / (2 * a)
    ref[1] += math.sqrt(q)
    err = np.abs(mu - ref)
    assert err.max() <= 1e-13, f"worst k={err.argmax()}, err={err.max():.2e}"


def test_twokink_coefficients_exact_against_mpmath():
    mp.mp.dps = 30

    def phi(x):
        if x < -1:
            return -1 + (x + 1) / 4
        if x > 1:
            return 1 + 2 * (x - 1)
        return x

    K = 12
    ref = []
    for k in range(K + 1):
        def integrand(z, k=k):
            h = [mp.mpf(1), z]
            for j in range(1, k):
                h.append((z * h[j] - mp.sqrt(j) * h[j - 1]) / mp.sqrt(j + 1))
            return phi(z) * h[k] * mp.npdf(z)

        ref.append(mp.quad(integrand, [-mp.inf, -1, 0, 1, mp.inf]))
    mu = ntkrs.hermite_coefficients("twokink", K)
    err = np.abs(mu - np.array([float(r) for r in ref]))
    assert err.max() <= 1e-14, f"worst k={err.argmax()}, err={err.max():.2e}"
    res = ntkrs.hermite_coefficients_with_error("twokink", K)
    assert res.error <= 1e-12  # detected as piecewise linear: exact
    # E[phi^2] against mpmath
    m2 = mp.quad(lambda z: phi(z) ** 2 * mp.npdf(z), [-mp.inf, -1, 1, mp.inf])
    assert res.second_moment == pytest.approx(float(m2), rel=1e-13)


# ---------------------------------------------------------------- run-time registration


def test_register_plugin_at_run_time_module_like_object():
    name = unique("cube")
    added = ntkrs.register_plugin(
        plugin_returning(lambda: [ntkrs.ActivationSpec(name, fn=lambda x: x**3, description="x^3")])
    )
    assert added == [name]
    assert name in ntkrs.activations()
    mu = ntkrs.hermite_coefficients(name, 5)
    # x³ = He_3 + 3 He_1  ->  μ_1 = 3, μ_3 = √6
    np.testing.assert_allclose(mu, [0, 3, 0, math.sqrt(6), 0, 0], atol=1e-13)


def test_coefficient_only_plugin_supports_q1_only():
    name = unique("coefs")
    ntkrs.register_plugin(plugin_returning(lambda: [ntkrs.ActivationSpec(name, coefficients=[0.1, 0.5, 0.2])]))
    np.testing.assert_array_equal(ntkrs.hermite_coefficients(name, 4), [0.1, 0.5, 0.2, 0, 0])
    act = ntkrs.get_activation(name)
    assert act.second_moment() == pytest.approx(0.01 + 0.25 + 0.04)
    assert act.derivative_second_moment() == pytest.approx(0.25 + 2 * 0.04)
    with pytest.raises(ntkrs.UnsupportedError, match="q = 1"):
        ntkrs.hermite_coefficients(name, 4, q=2.0)


def test_plugin_closed_form_hermite_is_used():
    name = unique("hermite_cf")

    def hermite(degree, q, c=1.0):
        mu = np.zeros(degree + 1)
        mu[min(1, degree)] = c * math.sqrt(q)
        return mu

    ntkrs.register_plugin(
        plugin_returning(lambda: [ntkrs.ActivationSpec(name, hermite=hermite, params={"c": 1.0})])
    )
    np.testing.assert_allclose(ntkrs.hermite_coefficients(name, 3, q=4.0, c=0.5), [0, 1.0, 0, 0])
    assert ntkrs.get_activation(name, c=2.0).second_moment(q=1.0) == pytest.approx(4.0)


# ---------------------------------------------------------------- faulty plugins


def test_plugin_that_raises_in_hook():
    def boom():
        raise RuntimeError("kaboom")

    with pytest.raises(ntkrs.PluginError, match="raised in ntkrs_activations.*kaboom") as info:
        ntkrs.register_plugin(plugin_returning(boom), name="exploding-plugin")
    assert info.value.plugin == "exploding-plugin"
    assert "exploding-plugin" in str(info.value)
    registry_still_works()
    # the failed plugin left nothing behind: the same name can be registered properly
    ok = unique("ok")
    ntkrs.register_plugin(plugin_returning(lambda: [ntkrs.ActivationSpec(ok, fn=np.sin)]), name="exploding-plugin")
    assert ok in ntkrs.activations()


def test_plugin_with_duplicate_name():
    with pytest.raises(ntkrs.PluginError, match="'dup-plugin'.*'relu'.*ntkrs.builtin"):
        ntkrs.register_plugin(
            plugin_returning(lambda: [ntkrs.ActivationSpec("relu", fn=np.abs)]), name="dup-plugin"
        )
    assert ntkrs.activation_info("relu").plugin == "ntkrs.builtin"
    registry_still_works()


def test_plugin_with_duplicate_within_itself_registers_nothing():
    a = unique("twice")
    with pytest.raises(ntkrs.PluginError, match="twice-plugin"):
        ntkrs.register_plugin(
            plugin_returning(lambda: [ntkrs.ActivationSpec(a, fn=np.sin), ntkrs.ActivationSpec(a, fn=np.cos)]),
            name="twice-plugin",
        )
    assert a not in ntkrs.activations()


def test_plugin_returning_invalid_spec():
    with pytest.raises(ntkrs.PluginError, match="bad-spec-plugin.*lowercase"):
        ntkrs.register_plugin(
            plugin_returning(lambda: [ntkrs.ActivationSpec("Bad Name", fn=np.sin)]), name="bad-spec-plugin"
        )
    with pytest.raises(ntkrs.PluginError, match="not-a-spec.*expected ntkrs.ActivationSpec"):
        ntkrs.register_plugin(plugin_returning(lambda: ["relu"]), name="not-a-spec")
    registry_still_works()


def test_plugin_fn_returning_nan_raises_plugin_error_on_use():
    name = unique("nanfn")
    ntkrs.register_plugin(
        plugin_returning(lambda: [ntkrs.ActivationSpec(name, fn=lambda x: np.where(x > 3, np.nan, x))]),
        name="nan-plugin",
    )
    with pytest.raises(ntkrs.PluginError, match="nan-plugin.*nan") as info:
        ntkrs.hermite_coefficients(name, 10)
    assert info.value.plugin == "nan-plugin"
    registry_still_works()


def test_plugin_fn_raising_and_wrong_shape():
    raising, scalar = unique("raising"), unique("scalar")

    def bad(x):
        raise ZeroDivisionError("nope")

    ntkrs.register_plugin(
        plugin_returning(
            lambda: [
                ntkrs.ActivationSpec(raising, fn=bad),
                ntkrs.ActivationSpec(scalar, fn=lambda x: np.sum(x)),
            ]
        ),
        name="shape-plugin",
    )
    with pytest.raises(ntkrs.PluginError, match="shape-plugin.*ZeroDivisionError"):
        ntkrs.hermite_coefficients(raising, 5)
    with pytest.raises(ntkrs.PluginError, match="shape-plugin.*shape"):
        ntkrs.hermite_coefficients(scalar, 5)
    registry_still_works()


def test_plugin_hermite_wrong_shape_or_nan():
    short, nan = unique("short"), unique("nanh")
    ntkrs.register_plugin(
        plugin_returning(
            lambda: [
                ntkrs.ActivationSpec(short, hermite=lambda degree, q: np.zeros(degree)),
                ntkrs.ActivationSpec(nan, hermite=lambda degree, q: np.full(degree + 1, np.nan)),
            ]
        ),
        name="hermite-plugin",
    )
    with pytest.raises(ntkrs.PluginError, match="hermite-plugin.*expected"):
        ntkrs.hermite_coefficients(short, 5)
    with pytest.raises(ntkrs.PluginError, match="hermite-plugin.*NaN"):
        ntkrs.hermite_coefficients(nan, 5)


def test_coefficients_list_with_nan_is_rejected_as_plugin_error():
    with pytest.raises(ntkrs.PluginError, match="nan-coeffs.*NaN"):
        ntkrs.register_plugin(
            plugin_returning(lambda: [ntkrs.ActivationSpec(unique("nc"), coefficients=[1.0, float("nan")])]),
            name="nan-coeffs",
        )
    registry_still_works()


def test_registering_the_same_plugin_object_twice():
    plugin = plugin_returning(lambda: [ntkrs.ActivationSpec(unique("once"), fn=np.sin)])
    ntkrs.register_plugin(plugin, name="once-plugin")
    with pytest.raises(ntkrs.PluginError, match="already registered"):
        ntkrs.register_plugin(plugin, name="once-plugin-again")


def _fake_installed_plugin(tmp_path, module_source: str, dist: str = "broken-plugin") -> dict:
    """A plugin 'installed' through a dist-info directory with an ntkrs entry point."""
    import os

    (tmp_path / "brokenplug.py").write_text(module_source)
    info = tmp_path / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[ntkrs]\nbroken = brokenplug\n")
    env = {k: v for k, v in os.environ.items() if k != "NTKRS_DISABLE_PLUGIN_AUTOLOAD"}
    env["PYTHONPATH"] = str(tmp_path) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.mark.parametrize(
    "source, expected",
    [
        ("raise ImportError('missing dependency xyz')\n", "failed to import.*missing dependency xyz"),
        (
            "import ntkrs\n@ntkrs.hookimpl\ndef ntkrs_activations():\n    raise ValueError('bad')\n",
            "raised in ntkrs_activations.*bad",
        ),
        (
            "import ntkrs, numpy as np\n@ntkrs.hookimpl\ndef ntkrs_activations():\n"
            "    return [ntkrs.ActivationSpec('tanh', fn=np.tanh)]\n",
            "'tanh'.*already provides",
        ),
    ],
    ids=["import-error", "hook-raises", "duplicate-name"],
)
def test_faulty_installed_plugin_is_skipped_and_named(tmp_path, source, expected):
    import json
    import re
    import subprocess
    import sys

    env = _fake_installed_plugin(tmp_path, source)
    code = (
        "import json, warnings, ntkrs\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    names = ntkrs.activations()\n"
        "print(json.dumps({'names': names, 'errors': [str(e) for e in ntkrs.plugin_errors()],\n"
        "  'plugins': [e.plugin for e in ntkrs.plugin_errors()], 'warned': [str(x.message) for x in w],\n"
        "  'relu1': float(ntkrs.hermite_coefficients('relu', 1)[1]), 'tanh_from': ntkrs.activation_info('tanh').plugin}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    data = json.loads(out.stdout)
    assert data["plugins"] == ["broken-plugin"]
    assert re.search(expected, data["errors"][0]), data["errors"]
    assert "broken-plugin" in data["errors"][0]
    assert data["warned"] and "broken-plugin" in data["warned"][0]
    assert "relu" in data["names"] and "snake" in data["names"]
    assert data["relu1"] == 0.5
    assert data["tanh_from"] == "ntkrs.builtin"
