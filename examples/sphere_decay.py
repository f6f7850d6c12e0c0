"""Exact NTK eigenvalues on the sphere (Funk–Hecke) and their power-law decay.

Run:  python examples/sphere_decay.py

On the uniform sphere S^{d-1} the NTK integral operator has the degree-k spherical harmonics as
eigenfunctions; λ_k = Σ_{p≥k, p≡k (2)} κ_p λ_k(ρ^p), with multiplicity N(d, k). Coefficients
κ_p ~ p^{-a} give λ_k ~ k^{-(d+2a-3)}; for the ReLU NTK (a = 3/2) that is k^{-d}.
"""

from __future__ import annotations

import numpy as np

import ntkrs

# Power-law decay: the ReLU family. The exponent depends on the dimension, not on the depth.
for name, depth, dim in (("relu", 1, 3), ("relu", 4, 3), ("relu", 2, 5), ("leaky_relu(slope=0.1)", 2, 3)):
    spec = ntkrs.Network(name, depth=depth).sphere_eigenvalues(dim=dim, max_degree=40)
    s, predicted = spec.fit_decay(20, 40)
    print(f"{name:22s} depth {depth}  S^{dim - 1}: fitted lambda_k ~ k^-{s:.3f} on k in [20, 40]"
          f"   predicted k^-{predicted:.3f}")

# Smooth activations: the coefficients decay geometrically, so do the eigenvalues.
gelu = ntkrs.Network("gelu", depth=2).sphere_eigenvalues(3, 40)
print("gelu   depth 2  S^2: predicted exponent", gelu.predicted_exponent,
      f"(not a power law); lambda_10 = {gelu.eigenvalues[10]:.3e}, lambda_40 = {gelu.eigenvalues[40]:.3e}")

relu = ntkrs.Network("relu", depth=2).sphere_eigenvalues(3, 40)
print("multiplicities N(3, k), k = 0..5:", relu.multiplicities[:6].astype(int).tolist())
print("first 10 eigenvalues by index (each lambda_k repeated N(3, k) times):")
print("  ", np.array2string(relu.by_index(10), precision=5))
chk = relu.check_sum()
print(f"sum_k N(3,k) lambda_k = {chk.total:.6f}  vs  Theta(1) = {chk.f_at_one:g}  "
      f"(spectral tail beyond k = 40: {chk.missing:.2e})")

# Compare with a sampled Gram: eigenvalues / n approach the operator's eigenvalues by index.
n = 2000
X = ntkrs.sample_sphere(n, 3, seed=1)
sampled = ntkrs.Network("relu", depth=2).eigenvalues(X, 10) / n
print("sampled Gram eigenvalues / n (n = 2000):")
print("  ", np.array2string(sampled, precision=5))
