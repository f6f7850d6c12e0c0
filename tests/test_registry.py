"""The activation registry: built-ins, run-time plugins, faulty plugins, errors."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import ntkrs

BUILTINS = {
    "relu", "leaky_relu", "abs", "step", "identity", "erf", "tanh", "sigmoid", "softplus",
    "silu", "mish", "gelu", "elu", "selu", "hardtanh", "relu6", "sin", "cos", "exp",
    "gaussian", "gaussian_pdf", "monomial", "hermite", "polynomial",
}


def test_all_builtins_registered_by_builtin_plugin():
    names = set(ntkrs.activations())
    assert BUILTINS <= names
    for name in BUILTINS:
        assert ntkrs.activation_info(name).plugin == "ntkrs.builtin"


def test_builtin_parameters_and_defaults():
    assert ntkrs.get_activation("leaky_relu").params == {"slope": 0.01}
    assert ntkrs.get_activation("leaky_relu", slope=0.2).params == {"slope": 0.2}
    assert ntkrs.get_activation("erf").params == {"scale": 1.0}
    assert ntkrs.get_activation("elu").params == {"alpha": 1.0}
    assert ntkrs.get_activation("sin", freq=3).params == {"freq": 3.0}
    assert ntkrs.get_activation("monomial", n=3).params == {"n": 3}
    assert ntkrs.get_activation("polynomial", coeffs=[1, 2]).params == {"coeffs": (1.0, 2.0)}
    # the CLI string form
    act = ntkrs.get_activation("leaky_relu(slope=0.25)")
    assert act.params == {"slope": 0.25}
    assert act.label == "leaky_relu(slope=0.25)"


def test_aliases():
    assert ntkrs.get_activation("swish").name == "silu"
    assert ntkrs.get_activation("linear").name == "identity"


def test_evaluation_of_builtins_matches_numpy():
    x = np.linspace(-3, 3, 13)
    np.testing.assert_allclose(ntkrs.get_activation("relu")(x), np.maximum(x, 0))
    np.testing.assert_allclose(ntkrs.get_activation("leaky_relu", slope=0.1)(x), np.maximum(x, 0.1 * x))
    np.testing.assert_allclose(ntkrs.get_activation("tanh")(x), np.tanh(x))
    np.testing.assert_allclose(ntkrs.get_activation("hardtanh")(x), np.clip(x, -1, 1))
    np.testing.assert_allclose(ntkrs.get_activation("relu6")(3 * x), np.clip(3 * x, 0, 6))
    np.testing.assert_allclose(ntkrs.get_activation("gaussian_pdf")(x), np.exp(-x * x / 2) / math.sqrt(2 * math.pi))
    # 2-D input keeps its shape
    assert ntkrs.get_activation("relu")(np.ones((2, 3))).shape == (2, 3)


def test_numerical_derivative_matches_analytic():
    act = ntkrs.get_activation("tanh")
    x = np.linspace(-2, 2, 9)
    spec = act.spec
    derived = ntkrs.Activation(ntkrs.ActivationSpec("tanh_noder", fn=spec.fn), {}, "test")
    np.testing.assert_allclose(derived.derivative(x), 1 - np.tanh(x) ** 2, atol=1e-10)


def test_second_moments_closed_form_values():
    relu = ntkrs.get_activation("relu")
    assert relu.second_moment() == pytest.approx(0.5, rel=1e-15)
    assert relu.second_moment(q=3.0) == pytest.approx(1.5, rel=1e-15)
    assert relu.derivative_second_moment() == pytest.approx(0.5, rel=1e-15)
    ident = ntkrs.get_activation("identity")
    assert ident.second_moment(2.0) == pytest.approx(2.0, rel=1e-15)
    with pytest.raises(ntkrs.DomainError, match="step"):
        ntkrs.get_activation("step").derivative_second_moment()


def test_unknown_activation_is_keyerror_with_suggestions():
    with pytest.raises(ntkrs.UnknownActivationError) as info:
        ntkrs.get_activation("rleu")
    assert isinstance(info.value, KeyError)
    assert "relu" in str(info.value)
    assert str(info.value).startswith("unknown activation 'rleu'")


@pytest.mark.parametrize(
    "call, exc, text",
    [
        (lambda: ntkrs.get_activation("relu", slope=1.0), ntkrs.InvalidInputError, "no parameter 'slope'"),
        (lambda: ntkrs.get_activation("leaky_relu", slope="x"), ntkrs.InputTypeError, "real number"),
        (lambda: ntkrs.get_activation("leaky_relu", slope=float("nan")), ntkrs.InvalidInputError, "finite"),
        (lambda: ntkrs.get_activation("monomial", n=2.5), ntkrs.InvalidInputError, "integer"),
        (lambda: ntkrs.get_activation("monomial", n=-1), ntkrs.InvalidInputError, ">= 0"),
        (lambda: ntkrs.get_activation("polynomial", coeffs=[]), ntkrs.InvalidInputError, "non-empty"),
        (lambda: ntkrs.get_activation("relu(1)"), ntkrs.InvalidInputError, "by name"),
        (lambda: ntkrs.get_activation("relu(slope=__import__('os'))"), ntkrs.InvalidInputError, "literal"),
        (lambda: ntkrs.get_activation(3), ntkrs.InputTypeError, "name"),
        (lambda: ntkrs.hermite_coefficients("relu", -1), ntkrs.InvalidInputError, ">= 0"),
        (lambda: ntkrs.hermite_coefficients("relu", 10**9), ntkrs.InvalidInputError, "absurd"),
        (lambda: ntkrs.hermite_coefficients("relu", 2.5), ntkrs.InputTypeError, "integer"),
        (lambda: ntkrs.hermite_coefficients("relu", 5, q=-1.0), ntkrs.InvalidInputError, "positive"),
        (lambda: ntkrs.hermite_coefficients("relu", 5, q=float("nan")), ntkrs.InvalidInputError, "positive"),
        (lambda: ntkrs.hermite_coefficients("tanh", 5, q=0.0), ntkrs.InvalidInputError, "positive"),
    ],
)
def test_bad_input_raises_documented_errors(call, exc, text):
    with pytest.raises(exc, match=text):
        call()


def test_exception_hierarchy_subclasses_builtins():
    assert issubclass(ntkrs.InvalidInputError, ValueError)
    assert issubclass(ntkrs.DomainError, ValueError)
    assert issubclass(ntkrs.NonFiniteError, ValueError)
    assert issubclass(ntkrs.UnsupportedError, ValueError)
    assert issubclass(ntkrs.InputTypeError, TypeError)
    assert issubclass(ntkrs.UnknownActivationError, KeyError)
    assert issubclass(ntkrs.PluginError, RuntimeError)
    assert issubclass(ntkrs.ConvergenceError, RuntimeError)
    assert issubclass(ntkrs.TooLargeError, MemoryError)
    for cls in (ntkrs.InvalidInputError, ntkrs.PluginError, ntkrs.UnknownActivationError):
        assert issubclass(cls, ntkrs.NtkrsError)


def test_coefficients_are_cached_and_read_only_copies_returned():
    act = ntkrs.get_activation("tanh")
    a = act.hermite(20)
    a[0] = 99.0  # the caller's copy
    b = act.hermite(20)
    assert b[0] != 99.0
    assert not act.hermite_with_error(20).mu.flags.writeable


def test_autoload_switch_hides_installed_plugins():
    code = textwrap.dedent(
        """
        import ntkrs, json
        print(json.dumps(sorted(ntkrs.activations())))
        """
    )
    import json
    import os

    env_off = {**os.environ, "NTKRS_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env_on = {k: v for k, v in os.environ.items() if k != "NTKRS_DISABLE_PLUGIN_AUTOLOAD"}
    off = json.loads(subprocess.run([sys.executable, "-c", code], env=env_off, capture_output=True, text=True, check=True).stdout)
    on = json.loads(subprocess.run([sys.executable, "-c", code], env=env_on, capture_output=True, text=True, check=True).stdout)
    assert "snake" not in off and "twokink" not in off
    assert BUILTINS <= set(off)
    assert {"snake", "twokink"} <= set(on)
