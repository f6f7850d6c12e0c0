"""A custom activation registered at run time through a plugin object.

Run:  python examples/custom_activation.py

The same hook (``ntkrs_activations``) is what installed plugins implement (see
plugins/ntkrs-example and docs/plugins.md); ``ntkrs.register_plugin`` adds one without packaging.
"""

from __future__ import annotations

import numpy as np

import ntkrs


def snake2(x: np.ndarray, a: float = 1.0) -> np.ndarray:
    """x + sin²(a x)/a, vectorised."""
    return x + np.sin(a * x) ** 2 / a


def shifted_relu(x: np.ndarray) -> np.ndarray:
    """max(x - 1/2, 0): piecewise linear with a kink at 1/2, so its coefficients are exact."""
    return np.maximum(x - 0.5, 0.0)


class MyActivations:
    """A plugin object: any object (or module) with an ``@ntkrs.hookimpl`` method."""

    @ntkrs.hookimpl
    def ntkrs_activations(self):
        return [
            ntkrs.ActivationSpec("snake2", fn=snake2, params={"a": 1.0}, description="x + sin^2(a x)/a"),
            # declare where phi is not smooth: the quadrature splits there, and since phi is
            # affine between its kinks the coefficients come out exact
            ntkrs.ActivationSpec("shifted_relu", fn=shifted_relu, kinks=(0.5,),
                                 description="max(x - 1/2, 0)"),
        ]


added = ntkrs.register_plugin(MyActivations(), name="my-activations")
print("registered:", added)
print("source:", ntkrs.activation_info("snake2").plugin)

act = ntkrs.get_activation("snake2", a=2.0)
print(act, f"E[phi(Z)^2] = {act.second_moment():.12f}")
res = ntkrs.hermite_coefficients_with_error("snake2", 8, a=2.0)   # quadrature in Rust
print("mu_0..mu_8 of snake2(a=2):", np.array2string(res.mu, precision=6))
print(f"estimated error {res.error:.1e}")

# A plugin activation is a first-class citizen: networks, Grams, sphere spectra, the CLI.
net = ntkrs.Network("snake2(a=2.0)", depth=2)
print(net)
print("kappa_0..kappa_5:", np.array2string(net.ntk_coefficients(5), precision=6))
X = ntkrs.sample_sphere(300, 5, seed=0)
print("top-3 NTK eigenvalues:", np.array2string(net.eigenvalues(X, 3), precision=4))

# Piecewise-linear with declared kinks: coefficients by exact integration by parts.
mu = ntkrs.hermite_coefficients("shifted_relu", 4)
print("mu_0..mu_4 of max(x - 0.5, 0):", np.array2string(mu, precision=10))

# Misbehaving plugins raise PluginError (a RuntimeError) naming the plugin; nothing changes.
class Broken:
    @ntkrs.hookimpl
    def ntkrs_activations(self):
        return [ntkrs.ActivationSpec("snake2", fn=snake2)]   # name already taken


try:
    ntkrs.register_plugin(Broken(), name="broken")
except ntkrs.PluginError as err:
    print(f"PluginError from plugin {err.plugin!r}: {err}")
