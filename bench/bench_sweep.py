"""Benchmark: a sweep of 1000 settings (DESIGN §9, §10), locally and on a 2-worker Dask
LocalCluster, measured in one run.

  python bench/bench_sweep.py [--quick] [--workers N] [--no-dask] [--out DIR]

Grid: 10 activations × depths 1…10 × 10 variance settings (unit variance, bias_var =
0, 0.05, …, 0.45) = 1000 settings; each row holds the NTK coefficients to degree 500 (Θ(1),
κ_0 share, Table-1 partial sums, truncation bound, coefficient decay fit) and the exact
sphere spectrum λ_0 … λ_50 on S² with its fitted decay rate.

Goal: < 60 s locally on 2 cores; the LocalCluster (2 worker processes) must give the same
rows, float for float. Prints both times and the overhead ratio Dask / local. ``--quick``:
100 settings. ``--out DIR``: also write the rows (Parquet if pyarrow, else JSON lines) and
report the time with durable storage.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import sys
import tempfile
import time

os.environ.setdefault("RAYON_NUM_THREADS", str(os.cpu_count() or 2))

import ntkrs  # noqa: E402

sweep_mod = importlib.import_module("ntkrs.sweep")

ACTIVATIONS = ["relu", "leaky_relu(slope=0.1)", "abs", "erf", "tanh", "sigmoid", "softplus", "elu", "sin",
               "gaussian_pdf"]


def make_spec(quick: bool) -> dict:
    return {
        "activations": ACTIVATIONS,
        "depth": "1-10" if not quick else "1-10:3",
        "variances": {"bias_var": [round(0.05 * i, 2) for i in range(10 if not quick else 3)]},
        "degree": 500,
        "sphere_dim": 3,
        "sphere_k": 50,
        "outputs": ["theta1", "kappa0_share", "table1", "truncation_bound", "coeff_decay", "sphere"],
    }


def same(a: list[dict], b: list[dict]) -> tuple[bool, str]:
    if len(a) != len(b):
        return False, f"{len(a)} vs {len(b)} rows"
    for ra, rb in zip(a, b):
        for k in ra:
            va, vb = ra[k], rb.get(k)
            if isinstance(va, float) and isinstance(vb, float) and math.isnan(va) and math.isnan(vb):
                continue
            if va != vb:
                return False, f"row {ra['index']} column {k}: {va!r} != {vb!r}"
    return True, ""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="100 settings instead of 1000")
    ap.add_argument("--workers", type=int, default=None, help="local threads (default min(4, cores))")
    ap.add_argument("--no-dask", action="store_true", help="skip the LocalCluster run")
    ap.add_argument("--out", default=None, help="directory for the durable-storage run")
    args = ap.parse_args()
    spec = make_spec(args.quick)
    n = len(sweep_mod.expand(spec))
    print(f"ntkrs {ntkrs.__version__}; {os.cpu_count()} cores; RAYON_NUM_THREADS={os.environ.get('RAYON_NUM_THREADS')}")
    print(f"sweep of {n} settings: {len(ACTIVATIONS)} activations x depths x bias_var; degree 500 + sphere k = 50 on S^2")

    # warm-up (imports, activation tables), not timed
    sweep_mod.sweep({**spec, "activations": ACTIVATIONS, "depth": 1, "variances": {"bias_var": 0.0}},
                    progress=False, as_frame=False)

    t = time.perf_counter()
    local = sweep_mod.sweep(spec, progress=False, as_frame=False, workers=args.workers)
    t_local = time.perf_counter() - t
    n_err = sum(r["status"] != "ok" for r in local)
    print(f"local (threads + Rust batch): {t_local:8.2f} s   {n / t_local:7.1f} settings/s   errors: {n_err}"
          f"   goal < 60 s: {'PASS' if t_local < 60 else 'FAIL'}")

    if args.out is not None:
        os.makedirs(args.out, exist_ok=True)
        path = os.path.join(args.out, "bench_sweep.parquet")
        t = time.perf_counter()
        stored = sweep_mod.sweep(spec, progress=False, as_frame=False, workers=args.workers, out=path, overwrite=True)
        t_store = time.perf_counter() - t
        ok, why = same(local, stored)
        print(f"local + durable store:        {t_store:8.2f} s   (rows identical: {ok} {why})")

    if not args.no_dask:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            print("dask.distributed not installed: LocalCluster run skipped")
            return 0
        import logging

        t = time.perf_counter()
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                               silence_logs=logging.ERROR)
        client = Client(cluster)
        t_start = time.perf_counter() - t
        try:
            # warm the workers' imports like the local warm-up
            sweep_mod.sweep({**spec, "depth": 1, "variances": {"bias_var": 0.0}}, scheduler=client,
                            progress=False, as_frame=False)
            t = time.perf_counter()
            dask_rows = sweep_mod.sweep(spec, scheduler=client, progress=False, as_frame=False)
            t_dask = time.perf_counter() - t
        finally:
            client.close()
            cluster.close()
        ok, why = same(local, dask_rows)
        print(f"LocalCluster (2 processes):   {t_dask:8.2f} s   {n / t_dask:7.1f} settings/s   "
              f"(cluster start-up {t_start:.2f} s, not included)")
        print(f"overhead ratio Dask / local:  {t_dask / t_local:8.2f}x")
        print(f"rows identical local vs Dask: {ok} {why}")
        if not ok:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
