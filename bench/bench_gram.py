"""Benchmarks of Grams and spectra (DESIGN §9), ratios measured side by side in one run.

  python bench/bench_gram.py            # full sizes (several minutes on 2 cores)
  python bench/bench_gram.py --quick    # small sizes, for a smoke run
  python bench/bench_gram.py --only topk [--dense-check]   # just the top-10 comparison

1. Gram, ReLU depth 3, n = 8000, d = 784: ntkrs vs neural-tangents' compiled kernel_fn (if
   installed: pip install "jax[cpu]==0.5.3" "neural-tangents==0.6.5") and vs NumPy's bare
   X @ X.T (goals: >= 5x faster than neural-tangents, <= 2x the bare GEMM), with the accuracy
   of both kernels against ntkrs' exact path.
2. Top-10 eigenvalues of that Gram: ntkrs.eigsh vs scipy.sparse.linalg.eigsh (goal >= 1.5x).
3. All eigenvalues, n = 4000: ntkrs.eigvalsh vs numpy.linalg.eigvalsh (goal within 1.5x).
4. Matrix-free top-5, n = 50 000, d = 64, ReLU depth 3, in a child process: wall time
   (goal < 10 min) and peak RSS (goal < 2 GiB).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time

import numpy as np

import ntkrs


def timed(fn, repeat=1):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def neural_tangents_kernel(depth, d):
    try:
        import jax

        jax.config.update("jax_enable_x64", True)
        from neural_tangents import stax
    except Exception as exc:  # optional benchmark dependency
        print(f"    (neural-tangents not available: {type(exc).__name__}: {exc})")
        return None
    # neural-tangents divides the first layer by the fan-in d; W_std = √d gives Σ_1 = ⟨x, y⟩
    layers = []
    for _ in range(depth):
        layers += [stax.Dense(1, W_std=np.sqrt(2.0) if layers else np.sqrt(d), b_std=0.0), stax.Relu()]
    layers += [stax.Dense(1, W_std=np.sqrt(2.0), b_std=0.0)]
    _, _, kernel_fn = stax.serial(*layers)
    return jax.jit(kernel_fn, static_argnames="get")


def bench_gram(n, d, depth):
    X = ntkrs.sample_sphere(n, d, seed=0)
    net = ntkrs.Network("relu", depth)
    t_gemm, _ = timed(lambda: X @ X.T, repeat=2)
    t_ours, K = timed(lambda: net.ntk(X), repeat=2)
    print(f"[1] Gram ReLU depth {depth}, n={n}, d={d}: ntkrs {t_ours:.2f} s; NumPy X@X.T alone {t_gemm:.2f} s "
          f"-> ntkrs/GEMM = {t_ours / t_gemm:.2f}x (goal <= 2x)")
    idx = np.random.default_rng(1).choice(n, size=(2000, 2))
    rho = np.clip(np.einsum("ij,ij->i", X[idx[:, 0]], X[idx[:, 1]]), -1, 1)
    exact = net.ntk_at(rho)
    print(f"    ntkrs max |error| on 2000 sampled entries vs the exact recursion: "
          f"{np.abs(K[idx[:, 0], idx[:, 1]] - exact).max() / net.ntk_at_one():.1e} x Theta(1)")
    kfn = neural_tangents_kernel(depth, d)
    if kfn is not None:
        import jax.numpy as jnp

        Xj = jnp.asarray(X)
        kfn(Xj[:64], None, "ntk").block_until_ready()  # compile
        t_nt, Knt = timed(lambda: np.asarray(kfn(Xj, None, "ntk").block_until_ready()), repeat=1)
        diag_err = np.abs(np.diag(Knt) - net.ntk_at_one()).max() / net.ntk_at_one()
        sample_err = np.abs(Knt[idx[:, 0], idx[:, 1]] - exact).max() / net.ntk_at_one()
        print(f"    neural-tangents kernel_fn (jit, CPU): {t_nt:.2f} s -> ntkrs is {t_nt / t_ours:.1f}x faster (goal >= 5x); "
              f"its error: diagonal {diag_err:.1e}, sampled {sample_err:.1e} x Theta(1)")
        del Knt
    return K


def bench_topk(K, k=10, repeat=3, dense_check=False):
    """ntkrs.eigsh vs scipy.sparse.linalg.eigsh (ARPACK) on the same dense matrix.

    Both at tol = 1e-10 (relative residual); runs alternate and the best of `repeat` counts
    (the machine is shared). Accuracy: max relative difference of the k values between the two
    solvers and, with `dense_check`, of each against numpy.linalg.eigvalsh.
    """
    from scipy.sparse.linalg import LinearOperator, eigsh as sp_eigsh

    n = K.shape[0]
    calls = [0]

    def matvec(x):
        calls[0] += 1
        return K @ x

    counted = LinearOperator(K.shape, matvec=matvec, dtype=K.dtype)
    t_ours, t_sp = float("inf"), float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        ours, info = ntkrs.eigsh(K, k, tol=1e-10, return_info=True)
        t_ours = min(t_ours, time.perf_counter() - t)
        calls[0] = 0
        t = time.perf_counter()
        theirs = np.sort(sp_eigsh(counted, k, which="LA", tol=1e-10)[0])[::-1]
        t_sp = min(t_sp, time.perf_counter() - t)
    rel = np.abs(ours - theirs).max() / np.abs(theirs).max()
    rel_each = (np.abs(ours - theirs) / np.abs(theirs)).max()
    print(f"[2] top-{k} eigenvalues, n={n}: ntkrs {t_ours:.2f} s ({info.iterations} block products, "
          f"{info.matvecs} vectors), scipy eigsh {t_sp:.2f} s ({calls[0]} matvecs) -> {t_sp / t_ours:.2f}x "
          f"(goal >= 1.5x; best of {repeat})")
    print(f"    accuracy: max |ntkrs - scipy| = {rel:.1e} x lambda_1, {rel_each:.1e} relative to each eigenvalue "
          f"(goal: both at the 1e-10 level)")
    if dense_check:
        t = time.perf_counter()
        ref = np.linalg.eigvalsh(K)[::-1][:k]
        t_dense = time.perf_counter() - t
        e_ours = (np.abs(ours - ref) / np.abs(ref)).max()
        e_sp = (np.abs(theirs - ref) / np.abs(ref)).max()
        print(f"    vs numpy.linalg.eigvalsh ({t_dense:.0f} s): ntkrs max relative error {e_ours:.1e}, "
              f"scipy {e_sp:.1e}")


def bench_all(n):
    A = ntkrs.Network("relu", 3).ntk(ntkrs.sample_sphere(n, 32, seed=2))
    t_ours, ours = timed(lambda: ntkrs.eigvalsh(A))
    t_np, theirs = timed(lambda: np.linalg.eigvalsh(A))
    print(f"[3] all eigenvalues n={n}: ntkrs {t_ours:.2f} s, numpy eigvalsh {t_np:.2f} s -> ntkrs/numpy = "
          f"{t_ours / t_np:.2f} (goal <= 1.5); max |difference| {np.abs(ours - theirs).max() / theirs[-1]:.1e} x lambda_max")


CHILD = """
import sys, time, ntkrs
n, d = int(sys.argv[1]), int(sys.argv[2])
X = ntkrs.sample_sphere(n, d, seed=3)
net = ntkrs.Network("relu", 3)
t = time.perf_counter()
vals, info = ntkrs.eigsh(net.gram_operator(X), 5, return_info=True)
dt = time.perf_counter() - t
# VmHWM (peak RSS of this process image; ru_maxrss would include the parent's peak)
rss = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")][0] / 2**20
print(f"{dt:.1f} {rss:.2f} {info.matvecs} " + " ".join(f"{v:.10g}" for v in vals))
"""


def bench_matrix_free(n, d):
    out = subprocess.run([sys.executable, "-c", CHILD, str(n), str(d)], capture_output=True, text=True, check=True)
    dt, rss, mv, *vals = out.stdout.split()
    print(f"[4] matrix-free top-5, n={n}, d={d}, ReLU depth 3: {float(dt):.0f} s (goal < 600 s), peak RSS {float(rss):.2f} GiB "
          f"(goal < 2 GiB; a dense Gram would need {n * n * 8 / 2**30:.0f} GiB), {mv} products; top-5 = {', '.join(vals)}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    ap.add_argument("--only", choices=["gram", "topk", "all", "matrix-free"], action="append",
                    help="run only these parts (repeatable); 'topk' builds the Gram without timing it")
    ap.add_argument("--repeat", type=int, default=3, help="repetitions of the top-k comparison (best counts)")
    ap.add_argument("--dense-check", action="store_true",
                    help="also check the top-k values against numpy.linalg.eigvalsh (slow at n = 8000)")
    args = ap.parse_args()
    parts = set(args.only or ["gram", "topk", "all", "matrix-free"])
    print(f"ntkrs {ntkrs.__version__}, {os.cpu_count()} cores, threads {ntkrs.get_num_threads()}")
    n_gram, n_all, n_free = (2000, 1000, 5000) if args.quick else (8000, 4000, 50_000)
    if parts & {"gram", "topk"}:
        if "gram" in parts:
            K = bench_gram(n_gram, 784, 3)
        else:
            K = ntkrs.Network("relu", 3).ntk(ntkrs.sample_sphere(n_gram, 784, seed=0))
        if "topk" in parts:
            bench_topk(K, repeat=args.repeat, dense_check=args.dense_check)
        del K
    if "all" in parts:
        bench_all(n_all)
    if "matrix-free" in parts:
        bench_matrix_free(n_free, 64)


if __name__ == "__main__":
    main()
