"""Benchmark: exact sphere spectra (Funk–Hecke, DESIGN §1.6, §9), measured in one run.

  python bench/bench_sphere.py [--quick]

1. ReLU depth 3, NTK eigenvalues λ_0 … λ_200 on S^{d−1} for d = 3, 10, 50 (series to the
   automatic degree + Funk–Hecke sums + tail model), timed end to end. Goal: < 5 s in total.
2. Accuracy against the alternative a user would pick, high-precision quadrature: mpmath at
   ``dps ≈ 25 + log10(f(1)/λ_k)`` (the Gegenbauer integral cancels down to λ_k) of the exact
   arc-cosine kernel against the normalized Gegenbauer polynomial, in θ,
   ``λ_k = Γ(d/2)/(√π Γ((d−1)/2)) ∫_0^π f(cos θ) P_k^{(d)}(cos θ) sin^{d−2}θ dθ``, at a few k.
   Its time per eigenvalue is printed beside ours (``--quick`` skips k = 200).
"""

from __future__ import annotations

import math
import os
import sys
import time

import mpmath as mp
import numpy as np

import ntkrs

DEPTH = 3
K = 200
DIMS = (3, 10, 50)


def relu_ntk_mp(t, depth=DEPTH):
    s = mp.mpf(t)
    th = s
    for _ in range(depth):
        c = min(max(s, mp.mpf(-1)), mp.mpf(1))
        a = mp.acos(c)
        sdot = (mp.pi - a) / mp.pi
        s = (mp.sqrt(1 - c * c) + (mp.pi - a) * c) / mp.pi
        th = s + th * sdot
    return th


def gegenbauer_normalized(k, d, x):
    """P_k^{(d)}(x), P(1) = 1: (k+d−2) P_{k+1} = (2k+d−2) x P_k − k P_{k−1}."""
    p0, p1 = mp.mpf(1), x
    if k == 0:
        return p0
    for j in range(1, k):
        p0, p1 = p1, ((2 * j + d - 2) * x * p1 - j * p0) / (j + d - 2)
    return p1


def mpmath_eigenvalue(d, k, digits_lost):
    dps = int(25 + max(0.0, digits_lost))
    with mp.workdps(dps):
        pieces = max(4, k // 3 + 2)
        pts = [mp.pi * j / pieces for j in range(pieces + 1)]
        f = lambda th: relu_ntk_mp(mp.cos(th)) * gegenbauer_normalized(k, d, mp.cos(th)) * mp.sin(th) ** (d - 2)  # noqa: E731
        integral = mp.quad(f, pts, method="gauss-legendre")
        omega = mp.gamma(mp.mpf(d) / 2) / (mp.sqrt(mp.pi) * mp.gamma(mp.mpf(d - 1) / 2))
        return omega * integral, dps


def main() -> None:
    quick = "--quick" in sys.argv
    print(f"ntkrs {ntkrs.__version__}, {os.cpu_count()} cores, RAYON_NUM_THREADS={os.environ.get('RAYON_NUM_THREADS', 'all')}")
    net = ntkrs.Network("relu", DEPTH)
    net.sphere_eigenvalues(3, 10)  # warm-up (thread pool, imports)

    print(f"\n[1] ReLU depth {DEPTH}, NTK eigenvalues k = 0..{K} on S^(d-1)   (goal: < 5 s total)")
    total = 0.0
    spectra = {}
    for d in DIMS:
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            spec = net.sphere_eigenvalues(d, K)
            best = min(best, time.perf_counter() - t0)
        spectra[d] = spec
        total += best
        s, pred = spec.fit_decay(K // 2, K)
        rel_err = float(np.max(spec.errors / spec.eigenvalues))
        print(f"  d = {d:2d}: {best:6.3f} s  (series degree P = {spec.series_degree:6d})  "
              f"λ_{K} = {spec.eigenvalues[K]:.6e}  max est. rel. error {rel_err:.1e}  "
              f"decay fit k∈[{K // 2},{K}]: {s:.3f} (law d+2a-3 = {pred:.3f})")
    print(f"  total: {total:.3f} s   [{'OK' if total < 5 else 'MISSED'}: goal < 5 s]")

    print("\n[2] accuracy vs mpmath Gegenbauer quadrature of the exact kernel")
    ks = (1, 10, 50) if quick else (1, 10, 50, 200)
    per_eig = []
    worst = {}
    for d in DIMS:
        spec = spectra[d]
        for k in ks:
            lost = math.log10(spec.f_at_one / spec.eigenvalues[k])
            t0 = time.perf_counter()
            ref, dps = mpmath_eigenvalue(d, k, lost)
            t_mp = time.perf_counter() - t0
            per_eig.append(t_mp)
            rel = abs(spec.eigenvalues[k] / float(ref) - 1)
            worst[d] = max(worst.get(d, 0.0), rel) if k <= 50 else worst.get(d, 0.0)
            print(f"  d = {d:2d}, k = {k:3d}: λ_k = {spec.eigenvalues[k]:.15e}  mpmath(dps={dps:3d}) "
                  f"{mp.nstr(ref, 16):>22s}  rel. diff {rel:.1e}  (est. {spec.errors[k] / spec.eigenvalues[k]:.1e})  "
                  f"mpmath {t_mp:6.2f} s")
    n_all = len(DIMS) * (K + 1)
    est = float(np.mean(per_eig)) * n_all
    print(f"  worst relative difference for k ≤ 50: {max(worst.values()):.1e}   (target ≤ 1e-8)")
    print(f"  mpmath: {np.mean(per_eig):.2f} s per eigenvalue on average → ~{est:.0f} s for all {n_all} "
          f"(ntkrs: {total:.3f} s, ~{est / total:.0f}× faster)")


if __name__ == "__main__":
    main()
