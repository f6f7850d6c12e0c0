"""Quickstart: NTK power-series coefficients of a deep ReLU network, and the paper's Table 1.

Run:  python examples/quickstart.py

The NTK of an infinitely wide network with ``depth`` hidden layers is a power series
NTK(ρ) = Σ_p κ_p ρ^p in the input correlation ρ = ⟨x, y⟩ (unit-norm inputs), with κ_p ≥ 0
(Murray, Jin, Bowman & Montúfar, ICLR 2023, Theorem 3.1).
"""

from __future__ import annotations

import numpy as np

import ntkrs
from ntkrs.paper import table1

# A ReLU network with 3 hidden layers; unit-variance (He) initialization by default.
net = ntkrs.Network("relu", depth=3)
print(net)

s = net.series(500)  # κ_0 … κ_500 with a certified truncation bound
print("kappa_0..kappa_8:", np.array2string(s.ntk[:9], precision=6))
print(f"Theta(1) = {s.ntk_at_one:g}  (depth + 1 for ReLU)")
print(f"sum of kappa_0..kappa_500 = {s.ntk.sum():.6f}; sup-norm truncation bound = {s.truncation_bound:.3e}")

# The series agrees with the exact kernel within the bound, everywhere on [-1, 1].
rho = np.linspace(-1.0, 1.0, 201)
gap = np.max(np.abs(net.ntk_at(rho) - s.evaluate(rho)))
print(f"max |NTK(rho) - series(rho)| on [-1, 1] = {gap:.3e} <= bound: {gap <= s.truncation_bound}")

# The paper's Table 1: % of Theta(1) captured by kappa_0..kappa_j, one hidden layer,
# gamma_w^2 = gamma_b^2 = 1/2, sigma_w^2 = 1, unit variance. Exact expansion vs the published
# construction (which expands psi in rho instead of gamma_w^2 rho + gamma_b^2).
print()
print("Table 1 (percent of Theta(1) in kappa_0..kappa_j, j = 0..5)")
for row in table1():
    print(f"  {row.activation:13s} exact     " + " ".join(f"{v:7.3f}" for v in row.exact))
    print(f"  {'':13s} published " + " ".join(f"{v:7.3f}" for v in row.published_construction))
