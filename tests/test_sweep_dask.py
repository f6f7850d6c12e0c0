"""Sweeps on real dask.distributed LocalClusters with worker processes: identical rows, and a
worker that dies in the middle of a task has its task retried."""

from __future__ import annotations

import importlib
import json
import logging
import math
import shutil
import subprocess
import sys

import pytest

distributed = pytest.importorskip("distributed")

S = importlib.import_module("ntkrs.sweep")
NTKRS = shutil.which("ntkrs")

SPEC = {"activations": ["relu", "tanh", "step"], "depth": "1-3", "degree": 80,
        "variances": {"bias_var": [0.0, 0.3]}, "sphere_dim": 3, "sphere_k": 16}


def same_rows(a, b):
    assert len(a) == len(b)
    for ra, rb in zip(a, b):
        for k, va in ra.items():
            vb = rb[k]
            if isinstance(va, float) and isinstance(vb, float) and math.isnan(va) and math.isnan(vb):
                continue
            assert va == vb, (ra["index"], k, va, vb)


def test_cli_local_cluster_processes_gives_the_local_rows():
    cmd = [NTKRS] if NTKRS else [sys.executable, "-m", "ntkrs"]
    args = ["sweep", "-a", "relu", "-a", "tanh", "--depth", "1-4", "--degree", "100", "--sphere-dim", "3",
            "--sphere-k", "20", "--chunk-size", "3", "--json", "--quiet"]
    p = subprocess.run(cmd + args + ["--local-cluster", "2"], capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stderr
    remote = [json.loads(x) for x in p.stdout.splitlines()]
    local = S.sweep({"activations": ["relu", "tanh"], "depth": "1-4", "degree": 100, "sphere_dim": 3,
                     "sphere_k": 20}, progress=False, as_frame=False)
    same_rows(local, remote)


def _kill_first_task_patch(flag: str) -> None:
    """Runs in every worker: the first chunk any worker starts kills that worker's process."""
    import os
    import sys as _sys

    mod = _sys.modules.get("ntkrs.sweep") or importlib.import_module("ntkrs.sweep")
    orig = mod.compute_rows

    def dying(settings, *a, **k):
        try:
            fd = os.open(flag, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return orig(settings, *a, **k)
        os.close(fd)
        os._exit(1)

    mod.compute_rows = dying


def test_dead_worker_task_is_retried(tmp_path):
    local = S.sweep(SPEC, progress=False, as_frame=False)
    flag = str(tmp_path / "killed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=logging.CRITICAL) as cluster, distributed.Client(cluster) as client:
        client.run(_kill_first_task_patch, flag)
        remote = S.sweep(SPEC, scheduler=client, chunk_size=6, progress=False, as_frame=False, retries=2)
    assert (tmp_path / "killed").exists()  # a worker really died
    same_rows(local, remote)
    assert sum(r["status"] == "ok" for r in remote) == 12
