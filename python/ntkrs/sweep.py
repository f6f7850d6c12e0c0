"""Sweeps: the NTK of a whole grid of settings, locally or on a Dask cluster, resumable.

:func:`sweep` expands a spec (see :mod:`ntkrs.sweep_spec`) into settings — activation × depth ×
variances × degree × data — and computes one row per setting. Locally the coefficient work
of each chunk of settings goes through the Rust batch entry point
(:func:`ntkrs.batch_series`, parallel over networks) and a few threads run chunks side by side
(sphere spectra and Gram matrices also run in Rust with the GIL released). With a Dask
scheduler the *same* chunk function runs as Dask tasks (retried if a worker dies), so the
rows are identical, float for float.

Rows are written to ``out`` as they finish (durably: fsync; atomically: a killed sweep leaves
no half row) and ``resume=True`` skips settings whose row is already there (the key is the
setting id, a hash of the canonical setting and its output options). A setting that fails
becomes a row with ``status = "error"`` and the message; the sweep goes on.
"""

from __future__ import annotations

import functools
import math
import os
import queue
import signal
import sys
import threading
import time
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .errors import InputTypeError, InvalidInputError, NtkrsError
from .sweep_spec import OUTPUTS, DataItem, SweepSpec, load_spec, setting_id

__all__ = ["sweep", "read_results", "expand", "columns", "compute_rows", "COLUMN_DOCS"]

#: Meaning and units of every column a sweep row can have (see :func:`sweep`).
COLUMN_DOCS: dict[str, str] = {
    "index": "position of the setting in the grid (activation-major, then depth, variances, degree, data)",
    "setting_id": "stable id of the setting: SHA-256 (20 hex digits) of the canonical setting and output options",
    "status": "'ok', or 'error' when the setting failed (the outputs computed before the failure are kept)",
    "error": "'ExceptionType: message' of the failure, else empty",
    "activation": "activation label NAME(param=value, ...)",
    "depth": "number of hidden layers L (the read-out layer is linear and not counted)",
    "init": "'unit' (unit-variance default, sigma_w^2 derived), 'general' (weight_var given) or 'edge_of_chaos'",
    "weight_var": "sigma_w^2 of every layer after the first, read-out included (resolved; requested value if the network failed)",
    "bias_var": "sigma_b^2 of every layer after the first (resolved)",
    "input_weight_var": "gamma_w^2 of the first affine layer (resolved)",
    "input_bias_var": "gamma_b^2 of the first affine layer (resolved)",
    "edge_q": "fixed point q of the edge-of-chaos initialization (init = 'edge_of_chaos'), else empty",
    "degree": "highest power P of rho kept in the power series NTK(rho) = sum_p kappa_p rho^p",
    "data": "data item ('sphere:d=3', 'sphere:n=..,d=..,seed=..', 'digits[:n=..]' or the file path), empty if none",
    "theta1": "Theta(1) = NTK(1) = sum_p kappa_p, the NTK on the diagonal (exact, from the scalar recursion)",
    "kappa0_share": "kappa_0 / Theta(1), a fraction in [0, 1]",
    "table1_pct_{j}": "percent of Theta(1) captured by kappa_0..kappa_j: 100 * sum_(p<=j) kappa_p / Theta(1) (the paper's Table 1)",
    "truncation_bound": "certified bound on sup_(rho in [-1,1]) |NTK(rho) - sum_(p<=degree) kappa_p rho^p| (absolute, same units as Theta(1))",
    "coeff_decay_exponent": "a in a least-squares fit log kappa_p = log C - a log p over coeff_fit_lo <= p <= coeff_fit_hi (coefficients below 64 eps Theta(1) skipped); power-law decay kappa_p ~ p^-a",
    "coeff_decay_residual": "RMS residual of that fit in log kappa_p (large: not a power law, e.g. geometric decay)",
    "coeff_decay_points": "number of coefficients used by the fit",
    "coeff_fit_lo": "lowest p of the coefficient fit (default degree // 2)",
    "coeff_fit_hi": "highest p of the coefficient fit (default degree)",
    "ntk_coefficients": "[kappa_0, ..., kappa_degree]",
    "sphere_dim": "d of the sphere S^(d-1) in R^d (uniform probability measure)",
    "sphere_k": "highest spherical-harmonic degree k of the eigenvalues",
    "sphere_eigenvalues": "[lambda_0, ..., lambda_k]: exact (Funk-Hecke) NTK operator eigenvalues on S^(d-1); lambda_k has multiplicity N(d, k); n uniform samples have Gram eigenvalues ~ n lambda_k",
    "sphere_decay_exponent": "s in a least-squares fit lambda_k ~ C k^-s over sphere_fit_lo <= k <= sphere_fit_hi",
    "sphere_predicted_exponent": "d + 2a - 3 from the fitted coefficient tail kappa_p ~ p^-a (empty when the coefficients decay faster than any power)",
    "sphere_fit_lo": "lowest k of the eigenvalue fit (default ceil(k/2))",
    "sphere_fit_hi": "highest k of the eigenvalue fit (default k)",
    "sphere_series_degree": "series degree P used for the sphere eigenvalues (the tail beyond it is modelled)",
    "data_n": "number of points n of the dataset",
    "data_d": "dimension d of the dataset's points",
    "gram_eigenvalues": "top gram_k eigenvalues of the n x n NTK Gram matrix K of the data, descending",
    "gram_lambda_1": "lambda_1(K)",
    "gram_trace": "Tr K = n Theta(1)",
    "effective_rank": "r(K) = Tr K / lambda_1(K)",
    "input_effective_rank": "r(XX^T) = n / lambda_1(XX^T) of the input Gram",
    "gram_smallest_eigenvalue": "lambda_n(K) (when gram_smallest = true)",
    "kappa_0": "kappa_0, the constant coefficient",
    "kappa_1": "kappa_1, the linear coefficient",
    "thm41_kappa0_n": "Theorem 4.1 lower bound kappa_0 n <= lambda_1(K)",
    "thm43_lambda1_lower_bound": "Theorem 4.3 lower bound kappa_1 lambda_1(XX^T) <= lambda_1(K)",
    "thm43_effective_rank_upper_bound": "Theorem 4.3 upper bound (Theta(1) / kappa_1) r(XX^T) >= r(K)",
    "bounds_hold": "whether the measured lambda_1 and r(K) satisfy Theorems 4.1 and 4.3",
}

_ID_COLUMNS: list[tuple[str, str]] = [
    ("index", "int"), ("setting_id", "str"), ("status", "str"), ("error", "str"),
    ("activation", "str"), ("depth", "int"), ("init", "str"),
    ("weight_var", "float"), ("bias_var", "float"), ("input_weight_var", "float"), ("input_bias_var", "float"),
    ("edge_q", "float"), ("degree", "int"), ("data", "str"),
]


def columns(spec: SweepSpec) -> list[tuple[str, str]]:
    """``(name, type)`` of every column of the rows of ``spec``, in order (types ``str``,
    ``int``, ``float``, ``bool``, ``list[float]``)."""
    cols = list(_ID_COLUMNS)
    o = set(spec.outputs)
    if "theta1" in o:
        cols.append(("theta1", "float"))
    if "kappa0_share" in o:
        cols.append(("kappa0_share", "float"))
    if "table1" in o:
        cols += [(f"table1_pct_{j}", "float") for j in range(spec.table1_terms)]
    if "truncation_bound" in o:
        cols.append(("truncation_bound", "float"))
    if "coeff_decay" in o:
        cols += [("coeff_decay_exponent", "float"), ("coeff_decay_residual", "float"),
                 ("coeff_decay_points", "int"), ("coeff_fit_lo", "int"), ("coeff_fit_hi", "int")]
    if "coefficients" in o:
        cols.append(("ntk_coefficients", "list[float]"))
    if "sphere" in o:
        cols += [("sphere_dim", "int"), ("sphere_k", "int"), ("sphere_eigenvalues", "list[float]"),
                 ("sphere_decay_exponent", "float"), ("sphere_predicted_exponent", "float"),
                 ("sphere_fit_lo", "int"), ("sphere_fit_hi", "int"), ("sphere_series_degree", "int")]
    if "gram" in o:
        cols += [("data_n", "int"), ("data_d", "int"), ("gram_eigenvalues", "list[float]"),
                 ("gram_lambda_1", "float"), ("gram_trace", "float"), ("effective_rank", "float"),
                 ("input_effective_rank", "float")]
        if spec.gram_smallest:
            cols.append(("gram_smallest_eigenvalue", "float"))
        cols += [("kappa_0", "float"), ("kappa_1", "float"), ("thm41_kappa0_n", "float"),
                 ("thm43_lambda1_lower_bound", "float"), ("thm43_effective_rank_upper_bound", "float"),
                 ("bounds_hold", "bool")]
    return cols


_ALL_TYPES: dict[str, str] = dict(columns(SweepSpec(
    activations=("relu",), depths=(1,), variances=(), degrees=(1,), data=(None,), outputs=tuple(OUTPUTS),
    gram_smallest=True)))


# ---------------------------------------------------------------------------------- settings
def expand(spec: Any) -> list[dict]:
    """The settings of a spec, in grid order, as plain (picklable) dicts with ``index``,
    ``setting_id``, ``activation``, ``depth``, ``var`` (the canonical variances), ``degree`` and
    ``data`` (a :class:`DataItem` as a dict, or None)."""
    spec = load_spec(spec)
    opts = spec.options()
    out = []
    i = 0
    for act in spec.activations:
        for depth in spec.depths:
            for var in spec.variances:
                for degree in spec.degrees:
                    for item in spec.data:
                        canon = {
                            "activation": act,
                            "depth": depth,
                            "variances": var.canonical(),
                            "degree": degree,
                            "data": None if item is None else item.canonical(),
                            "options": opts,
                        }
                        out.append({
                            "index": i,
                            "setting_id": setting_id(canon),
                            "activation": act,
                            "depth": depth,
                            "var": var.canonical(),
                            "degree": degree,
                            "data": None if item is None else _item_dict(item),
                        })
                        i += 1
    return out


def _item_dict(item: DataItem) -> dict:
    return {"kind": item.kind, "d": item.d, "n": item.n, "seed": item.seed, "path": item.path,
            "sha256": item.sha256, "text": item.text, "canonical": item.canonical()}


# ---------------------------------------------------------------------------------- rows
@functools.lru_cache(maxsize=256)
def _activation(label: str) -> Any:
    """One Activation object per label and process, so its Hermite cache is shared."""
    from .registry import get_activation

    return get_activation(label)


@functools.lru_cache(maxsize=16)
def _dataset(kind: str, n: int | None, d: int | None, seed: int, path: str | None) -> np.ndarray:
    from .data import load_digits, load_points, sample_sphere

    if kind == "sphere":
        assert n is not None and d is not None
        return sample_sphere(n, d, seed=seed)
    if kind == "digits":
        return load_digits(n, seed=seed)[0]
    assert path is not None
    return load_points(path, normalize=True)


def _error_text(exc: BaseException) -> str:
    msg = str(exc).replace("\r", " ").replace("\n", " ").strip()
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


def _fail(row: dict, where: str, exc: BaseException) -> None:
    if row["status"] == "error":
        return
    row["status"] = "error"
    row["error"] = f"{where}: {_error_text(exc)}" if where else _error_text(exc)


def _base_row(s: Mapping[str, Any], names: Sequence[str]) -> dict:
    row: dict[str, Any] = dict.fromkeys(names)
    v = s["var"]
    row.update(index=s["index"], setting_id=s["setting_id"], status="ok", activation=s["activation"],
               depth=s["depth"], degree=s["degree"])
    if "edge_of_chaos" in v:
        row.update(init="edge_of_chaos", edge_q=float(v["edge_of_chaos"]))
    else:
        row.update(init="unit" if v["weight_var"] is None else "general", weight_var=v["weight_var"],
                   bias_var=v["bias_var"], input_weight_var=v["input_weight_var"],
                   input_bias_var=v["input_bias_var"])
    item = s["data"]
    if item is not None:
        row["data"] = item["path"] if item["kind"] == "file" else item["canonical"]
    return row


def _make_network(s: Mapping[str, Any]) -> Any:
    from .network import Network

    act = _activation(s["activation"])
    v = s["var"]
    if "edge_of_chaos" in v:
        return Network.edge_of_chaos(act, s["depth"], float(v["edge_of_chaos"]))
    return Network(act, s["depth"], weight_var=v["weight_var"], bias_var=v["bias_var"],
                   input_weight_var=v["input_weight_var"], input_bias_var=v["input_bias_var"])


def _coefficient_outputs(row: dict, series: Any, opts: Mapping[str, Any]) -> None:
    outs = opts["outputs"]
    ntk = np.asarray(series.ntk, dtype=np.float64)
    theta1 = float(series.ntk_at_one)
    if "theta1" in outs:
        row["theta1"] = theta1
    if "kappa0_share" in outs:
        row["kappa0_share"] = float(ntk[0]) / theta1
    if "table1" in outs:
        ps = np.cumsum(ntk[: opts["table1_terms"]]) / theta1 * 100.0
        for j, v in enumerate(ps):
            row[f"table1_pct_{j}"] = float(v)
    if "truncation_bound" in outs:
        row["truncation_bound"] = float(series.truncation_bound)
    if "coefficients" in outs:
        row["ntk_coefficients"] = [float(x) for x in ntk]
    if "coeff_decay" in outs:
        P = ntk.size - 1
        lo, hi = opts["coeff_fit"] if opts["coeff_fit"] else (max(1, P // 2), P)
        row["coeff_fit_lo"], row["coeff_fit_hi"] = int(lo), int(hi)
        p = np.arange(lo, hi + 1, dtype=np.float64)
        c = ntk[lo: hi + 1]
        keep = c > 64.0 * np.finfo(np.float64).eps * abs(theta1)
        row["coeff_decay_points"] = int(keep.sum())
        if keep.sum() >= 3:
            x, y = np.log(p[keep]), np.log(c[keep])
            xm, ym = float(np.mean(x)), float(np.mean(y))
            sxx = float(np.dot(x - xm, x - xm))
            if sxx > 0:
                slope = float(np.dot(x - xm, y - ym)) / sxx
                resid = y - (ym + slope * (x - xm))
                row["coeff_decay_exponent"] = -slope
                row["coeff_decay_residual"] = float(math.sqrt(float(np.dot(resid, resid)) / resid.size))


def _sphere_outputs(row: dict, net: Any, d: int, opts: Mapping[str, Any]) -> None:
    k = int(opts["sphere_k"])
    sp = net.sphere_eigenvalues(d, k)
    row["sphere_dim"], row["sphere_k"] = d, k
    row["sphere_eigenvalues"] = [float(x) for x in sp.eigenvalues]
    row["sphere_series_degree"] = int(sp.series_degree)
    pred = sp.predicted_exponent
    row["sphere_predicted_exponent"] = None if pred is None else float(pred)
    if opts["sphere_fit"]:
        lo, hi = opts["sphere_fit"]
    elif k >= 2:
        lo, hi = max(1, (k + 1) // 2), k
    else:
        return
    row["sphere_fit_lo"], row["sphere_fit_hi"] = int(lo), int(hi)
    try:
        row["sphere_decay_exponent"] = float(sp.fit_decay(lo, hi)[0])
    except NtkrsError:
        row["sphere_decay_exponent"] = None  # e.g. too few non-zero eigenvalues


def _gram_outputs(row: dict, net: Any, item: Mapping[str, Any], opts: Mapping[str, Any]) -> None:
    from .spectrum import spectrum_report

    X = _dataset(item["kind"], item["n"], item["d"], item["seed"], item["path"])
    n, d = X.shape
    row["data_n"], row["data_d"] = int(n), int(d)
    k = int(opts["gram_k"])
    if k >= n:
        raise InvalidInputError(f"gram_k = {k} must be < the number of points n = {n}")
    rep = spectrum_report(net, X, k=k, smallest=bool(opts["gram_smallest"]), hadamard_degrees=range(0, 2))
    row["gram_eigenvalues"] = [float(x) for x in rep["eigenvalues"]]
    row["gram_lambda_1"] = float(rep["lambda_1"])
    row["gram_trace"] = float(rep["trace"])
    row["effective_rank"] = float(rep["effective_rank"])
    row["input_effective_rank"] = float(rep["input_effective_rank"])
    if opts["gram_smallest"]:
        row["gram_smallest_eigenvalue"] = rep["smallest_eigenvalue"]
    row["kappa_0"], row["kappa_1"] = float(rep["kappa_0"]), float(rep["kappa_1"])
    row["thm41_kappa0_n"] = float(rep["theorem_4_1"]["kappa_0_n"])
    t43 = rep["theorem_4_3"]
    row["thm43_lambda1_lower_bound"] = float(t43["lambda_1_lower_bound"])
    row["thm43_effective_rank_upper_bound"] = float(t43["effective_rank_upper_bound"])
    row["bounds_hold"] = bool(rep["theorem_4_1"]["holds"] and t43["holds"])


def _is_fatal(exc: BaseException) -> bool:
    return isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit))


_THREADS_SET: list[int | None] = [None]


def compute_rows(settings: Sequence[Mapping[str, Any]], opts: Mapping[str, Any],
                 names: Sequence[str], threads: int | None = None,
                 emit: Callable[[dict], None] | None = None) -> list[dict]:
    """The rows of a chunk of settings (the unit of work of every executor).

    Networks are built (one cached Activation per label), their series computed together by
    :func:`ntkrs.batch_series` (one call per degree), then the sphere/Gram outputs per
    setting. A failing setting gets ``status = "error"``; the others are unaffected. The result
    does not depend on the chunking or on the thread count. ``emit(row)`` is called as each row
    is finished."""
    from .network import batch_series

    if threads is not None and _THREADS_SET[0] != threads:
        from . import _core

        _core.set_num_threads(int(threads))
        _THREADS_SET[0] = threads
    rows = [_base_row(s, names) for s in settings]
    nets: list[Any] = [None] * len(settings)
    for i, s in enumerate(settings):
        try:
            net = nets[i] = _make_network(s)
            rows[i].update(weight_var=net.weight_var, bias_var=net.bias_var,
                           input_weight_var=net.input_weight_var, input_bias_var=net.input_bias_var)
        except BaseException as exc:  # noqa: BLE001 - Rust panics are BaseExceptions
            if _is_fatal(exc):
                raise
            _fail(rows[i], "network", exc)
    by_degree: dict[int, list[int]] = {}
    for i, s in enumerate(settings):
        if nets[i] is not None:
            by_degree.setdefault(int(s["degree"]), []).append(i)
    for degree, idx in by_degree.items():
        try:
            results = batch_series([nets[i] for i in idx], degree)
        except BaseException as exc:  # noqa: BLE001
            if _is_fatal(exc):
                raise
            results = []
            for i in idx:  # fall back to one at a time to find the culprit
                try:
                    results.append(nets[i].series(degree))
                except BaseException as exc1:  # noqa: BLE001
                    if _is_fatal(exc1):
                        raise
                    results.append(exc1)
        for i, res in zip(idx, results):
            if isinstance(res, BaseException):
                _fail(rows[i], "series", res)
                nets[i] = None
                continue
            try:
                _coefficient_outputs(rows[i], res, opts)
            except BaseException as exc:  # noqa: BLE001
                if _is_fatal(exc):
                    raise
                _fail(rows[i], "coefficients", exc)
    outs = opts["outputs"]
    for i, s in enumerate(settings):
        item = s["data"]
        net = nets[i]
        if net is not None and item is not None:
            if "sphere" in outs and item["kind"] == "sphere":
                try:
                    _sphere_outputs(rows[i], net, int(item["d"]), opts)
                except BaseException as exc:  # noqa: BLE001
                    if _is_fatal(exc):
                        raise
                    _fail(rows[i], "sphere", exc)
            if "gram" in outs and not (item["kind"] == "sphere" and item["n"] is None):
                try:
                    _gram_outputs(rows[i], net, item, opts)
                except BaseException as exc:  # noqa: BLE001
                    if _is_fatal(exc):
                        raise
                    _fail(rows[i], "gram", exc)
        for key, v in rows[i].items():  # NaN -> empty, so rows compare equal
            if isinstance(v, float) and math.isnan(v):
                rows[i][key] = None
        if emit is not None:
            emit(rows[i])
    return rows


def _error_rows(chunk: Sequence[Mapping[str, Any]], names: Sequence[str], exc: BaseException) -> list[dict]:
    rows = []
    for s in chunk:
        r = _base_row(s, names)
        _fail(r, "task", exc)
        rows.append(r)
    return rows


# ---------------------------------------------------------------------------------- executors
class _Deferred:
    """Within the main thread: hold SIGINT while a write is in progress, then raise."""

    def __init__(self) -> None:
        self.pending = False
        self.old: Any = None

    def __enter__(self) -> "_Deferred":
        if threading.current_thread() is threading.main_thread():
            try:
                self.old = signal.signal(signal.SIGINT, self._handler)
            except (ValueError, TypeError):
                self.old = None
        return self

    def _handler(self, signum: int, frame: Any) -> None:
        self.pending = True

    def __exit__(self, *exc: Any) -> None:
        if self.old is not None:
            signal.signal(signal.SIGINT, self.old)
            if self.pending:
                raise KeyboardInterrupt


def _run_local(chunks: list[list[dict]], opts: dict, names: list[str], workers: int,
               on_rows: Callable[[list[dict]], None]) -> None:
    """Chunks on ``workers`` daemon threads; rows are handed to ``on_rows`` from the calling
    thread as they finish. Ctrl-C: the calling thread raises at once (it only waits with a
    short timeout); the worker threads stop after their current setting's chunk."""
    todo: "queue.Queue[tuple[int, list[dict]] | None]" = queue.Queue()
    for i, c in enumerate(chunks):
        todo.put((i, c))
    done: "queue.Queue[tuple[str, Any]]" = queue.Queue()
    stop = threading.Event()

    def worker() -> None:
        while not stop.is_set():
            try:
                item = todo.get_nowait()
            except queue.Empty:
                return
            _, chunk = item  # type: ignore[misc]
            try:
                compute_rows(chunk, opts, names, emit=lambda r: done.put(("row", r)))
            except BaseException as exc:  # noqa: BLE001
                if stop.is_set():
                    return
                # rows of this chunk already emitted stay; the rest become error rows
                done.put(("chunk_error", (chunk, exc)))
            done.put(("chunk_done", None))

    threads = [threading.Thread(target=worker, name=f"ntkrs-sweep-{j}", daemon=True)
               for j in range(max(1, min(workers, len(chunks))))]
    for t in threads:
        t.start()
    emitted: set[str] = set()
    remaining = len(chunks)
    try:
        while remaining:
            try:
                kind, payload = done.get(timeout=0.1)
            except queue.Empty:
                if not any(t.is_alive() for t in threads) and done.empty():
                    raise RuntimeError("sweep worker threads stopped unexpectedly")
                continue
            batch: list[dict] = []
            while True:
                if kind == "row":
                    batch.append(payload)
                    emitted.add(payload["setting_id"])
                elif kind == "chunk_error":
                    chunk, exc = payload
                    rest = [s for s in chunk if s["setting_id"] not in emitted]
                    batch.extend(_error_rows(rest, names, exc))
                else:
                    remaining -= 1
                try:
                    kind, payload = done.get_nowait()
                except queue.Empty:
                    break
            if batch:
                on_rows(batch)
    finally:
        stop.set()


def _dask_client(scheduler: Any, local_cluster: int | None) -> tuple[Any, Any, bool]:
    """(client, cluster or None, whether we own the client)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise InvalidInputError(
            "running a sweep on Dask needs dask.distributed: pip install 'ntkrs[dask]'"
        ) from None
    if local_cluster is not None:
        import logging

        cluster = LocalCluster(n_workers=int(local_cluster), threads_per_worker=1, processes=True,
                               dashboard_address=":0", silence_logs=logging.ERROR)
        return Client(cluster), cluster, True
    if isinstance(scheduler, Client):
        return scheduler, None, False
    if hasattr(scheduler, "scheduler_address"):  # a cluster object
        return Client(scheduler), None, True
    if isinstance(scheduler, str):
        try:
            return Client(scheduler, timeout="10s"), None, True
        except (OSError, TimeoutError) as exc:
            raise InvalidInputError(f"cannot connect to the Dask scheduler at {scheduler!r}: {exc}") from None
    raise InputTypeError(f"scheduler must be an address such as 'tcp://host:8786' or a dask Client, got {scheduler!r}")


def _run_dask(client: Any, chunks: list[list[dict]], opts: dict, names: list[str], retries: int,
              threads: int | None, on_rows: Callable[[list[dict]], None]) -> None:
    from distributed import as_completed

    futures = {}
    for i, chunk in enumerate(chunks):
        key = f"ntkrs-sweep-{chunk[0]['setting_id']}-{len(chunk)}-{os.getpid()}-{time.monotonic_ns()}"
        fut = client.submit(compute_rows, chunk, opts, names, threads, key=key, retries=retries, pure=False)
        futures[fut] = chunk
    try:
        for fut in as_completed(list(futures)):
            chunk = futures.pop(fut)
            try:
                rows = fut.result()
            except Exception as exc:  # noqa: BLE001 - e.g. KilledWorker after the retries
                rows = _error_rows(chunk, names, exc)
            on_rows(rows)
    finally:
        if futures:
            try:
                client.cancel(list(futures))
            except Exception:  # noqa: BLE001
                pass


# ---------------------------------------------------------------------------------- API
def _default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def sweep(spec: Any, *, scheduler: Any = None, local_cluster: int | None = None, out: Any = None,
          resume: bool = False, overwrite: bool = False, retry_errors: bool = False,
          format: str = "auto", progress: Any = None, chunk_size: int | None = None,
          workers: int | None = None, retries: int = 3, as_frame: bool | None = None) -> Any:
    """Compute the NTK of every setting of a grid; one row per setting.

    Parameters
    ----------
    spec:
        A dict, a path to a ``.toml``/``.json`` file, or a :class:`~ntkrs.sweep_spec.SweepSpec`
        (see :mod:`ntkrs.sweep_spec` for the keys: ``activations``, ``depth``, ``degree``,
        ``variances``, ``data``/``sphere_dim``, ``outputs``, ``sphere_k``, ``gram_k``, …).
    scheduler:
        None (default): run locally. A Dask scheduler address (``"tcp://host:8786"``), a
        ``distributed.Client`` or a cluster object: run the chunks as Dask tasks.
    local_cluster:
        ``N``: start a ``dask.distributed.LocalCluster`` of ``N`` worker processes for this sweep.
    out:
        Where rows are written as they finish (``.parquet`` directory with pyarrow, ``.jsonl``,
        ``.csv``; see :mod:`ntkrs.sweep_store`). None: keep them in memory only.
    resume:
        Continue a store: settings whose row is already in ``out`` are skipped (error rows
        too, unless ``retry_errors``). Without ``resume`` or ``overwrite`` an existing ``out``
        is an error.
    progress:
        None: a progress bar on stderr when it is a terminal; True/False: always/never; or a
        callable ``progress(done, total)``.
    chunk_size:
        Settings per task (default 8 locally, 25 on Dask).
    workers:
        Local threads running chunks side by side (default ``min(4, cores)``).
    retries:
        Dask: how often a task is retried when its worker dies.
    as_frame:
        Return a ``pandas.DataFrame`` (default when pandas is installed) or a list of dicts.

    Returns
    -------
    The rows of the spec's settings in grid order (resumed rows included). Columns (units
    are those of the kernel; ``depth`` = number of hidden layers):

    * ``index``, ``setting_id``, ``status`` (``"ok"``/``"error"``), ``error``;
    * the setting: ``activation``, ``depth``, ``init`` (``unit``/``general``/``edge_of_chaos``),
      ``weight_var`` σ_w², ``bias_var`` σ_b², ``input_weight_var`` γ_w², ``input_bias_var``
      γ_b² (resolved values), ``edge_q``, ``degree`` (highest power of ρ kept), ``data``;
    * ``theta1``: Θ(1) = NTK(1) = Σ_p κ_p; ``kappa0_share``: κ_0/Θ(1) (fraction);
      ``table1_pct_j``: 100·Σ_{p≤j} κ_p/Θ(1) (percent), j = 0 … table1_terms−1;
      ``truncation_bound``: certified sup-norm error of the degree-P truncation;
    * ``coeff_decay_exponent`` a of κ_p ≈ C p^(−a) fitted on ``coeff_fit_lo … coeff_fit_hi``,
      ``coeff_decay_residual`` (RMS in log κ_p), ``coeff_decay_points``;
      ``ntk_coefficients`` (output ``coefficients``): κ_0 … κ_P;
    * sphere: ``sphere_dim`` d, ``sphere_k``, ``sphere_eigenvalues`` λ_0 … λ_k of the NTK
      integral operator on the uniform probability measure of S^(d−1) (each with multiplicity
      N(d, k)), ``sphere_decay_exponent`` s of λ_k ~ k^(−s) on ``sphere_fit_lo … sphere_fit_hi``,
      ``sphere_predicted_exponent`` d + 2a − 3, ``sphere_series_degree``;
    * gram (:func:`ntkrs.spectrum_report`): ``data_n``, ``data_d``, ``gram_eigenvalues`` (top
      ``gram_k`` of the n×n NTK Gram K), ``gram_lambda_1``, ``gram_trace`` = n Θ(1),
      ``effective_rank`` Tr K/λ_1, ``input_effective_rank`` n/λ_1(XXᵀ),
      ``gram_smallest_eigenvalue``, ``kappa_0``, ``kappa_1``, ``thm41_kappa0_n`` (κ_0 n ≤ λ_1),
      ``thm43_lambda1_lower_bound`` (κ_1 λ_1(XXᵀ) ≤ λ_1), ``thm43_effective_rank_upper_bound``
      ((Θ(1)/κ_1) r(XXᵀ) ≥ r(K)), ``bounds_hold``.

    Columns of outputs not requested are absent; values that do not apply are empty
    (None/NaN). :data:`COLUMN_DOCS` has the full list. A DataFrame's ``attrs`` hold
    ``path``, ``format``, ``computed`` and ``resumed``.

    Ctrl-C raises KeyboardInterrupt within about a second; rows already written stay intact.
    """
    spec = load_spec(spec)
    if scheduler is not None and local_cluster is not None:
        raise InvalidInputError("give either scheduler or local_cluster, not both")
    if local_cluster is not None and (isinstance(local_cluster, bool) or not isinstance(local_cluster, int)
                                      or local_cluster < 1):
        raise InvalidInputError(f"local_cluster must be a number of workers >= 1, got {local_cluster!r}")
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1):
        raise InvalidInputError(f"chunk_size must be an integer >= 1, got {chunk_size!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise InvalidInputError(f"workers must be an integer >= 1, got {workers!r}")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise InvalidInputError(f"retries must be an integer >= 0, got {retries!r}")
    if (resume or overwrite or retry_errors) and out is None:
        raise InvalidInputError("resume, overwrite and retry_errors need out= (the results store)")
    settings = expand(spec)
    cols = columns(spec)
    names = [c for c, _ in cols]
    opts = spec.options()

    store = None
    results: dict[str, dict] = {}
    resumed = 0
    if out is not None:
        from .sweep_store import _dedup, open_store

        store = open_store(out, cols, format=format, resume=resume, overwrite=overwrite)
    try:
        if store is not None and resume:
            wanted = {s["setting_id"] for s in settings}
            for r in _dedup(store.read()):
                sid = r.get("setting_id")
                if sid in wanted and not (retry_errors and r.get("status") == "error"):
                    results[sid] = r
            resumed = len(results)
        todo = [s for s in settings if s["setting_id"] not in results]

        callback = progress if callable(progress) else None
        show = bool(progress) if progress is not None and callback is None else (
            callback is None and sys.stderr is not None and _isatty(sys.stderr))
        from .progress import ProgressBar

        where = "locally" if scheduler is None and local_cluster is None else "on Dask"
        bar = ProgressBar(len(settings), f"sweep ({len(todo)} to compute {where})", quiet=not show,
                          initial=len(settings) - len(todo))

        def on_rows(rows: list[dict]) -> None:
            if store is not None:
                with _Deferred():
                    store.append(rows)
            for r in rows:
                results[r["setting_id"]] = r
            bar.update(len(rows), errors=sum(r.get("status") == "error" for r in rows))
            if callback is not None:
                callback(bar.done, bar.total)

        try:
            if todo:
                if scheduler is None and local_cluster is None:
                    size = chunk_size or 8
                    chunks = [todo[i: i + size] for i in range(0, len(todo), size)]
                    _run_local(chunks, opts, names, workers or _default_workers(), on_rows)
                else:
                    size = chunk_size or 25
                    chunks = [todo[i: i + size] for i in range(0, len(todo), size)]
                    client, cluster, own = _dask_client(scheduler, local_cluster)
                    try:
                        threads = None
                        if local_cluster is not None:
                            threads = max(1, (os.cpu_count() or 1) // int(local_cluster))
                        _run_dask(client, chunks, opts, names, retries, threads, on_rows)
                    finally:
                        if own:
                            _quiet_close(client)
                        if cluster is not None:
                            _quiet_close(cluster)
        finally:
            bar.close()
        if store is not None:
            store.compact()
    finally:
        if store is not None:
            store.close()

    rows = []
    for s in settings:
        r = dict(results[s["setting_id"]])
        r["index"] = s["index"]
        rows.append({c: r.get(c) for c in names})
    df = _as_table(rows, names, as_frame)
    if isinstance(df, list):
        return df
    df.attrs.update(path=None if store is None else str(store.path),
                    format=None if store is None else store.format,
                    computed=len(settings) - resumed, resumed=resumed)
    return df


def read_results(path: Any, *, format: str = "auto", as_frame: bool | None = None) -> Any:
    """The rows of a sweep store (also one still running or killed): one per ``setting_id``
    (the last written), sorted by ``index``; a torn last line is ignored. A DataFrame when
    pandas is installed (or ``as_frame=True``), else a list of dicts. (``pandas.read_parquet``
    on a Parquet store sees only the rows already moved from its journal into part files.)"""
    from .sweep_store import read_rows

    rows = read_rows(path, format=format, dedup=True, types=_column_type)
    rows.sort(key=lambda r: (r.get("index") if r.get("index") is not None else math.inf, str(r.get("setting_id"))))
    return _as_table(rows, None, as_frame)


def _as_table(rows: list[dict[str, Any]], columns: list[str] | None, as_frame: bool | None) -> Any:
    """``rows`` as a pandas DataFrame (with ``columns`` in that order) when ``as_frame`` is
    true, or is None and pandas is installed; otherwise the list itself."""
    if as_frame is None:
        try:
            import pandas  # noqa: F401

            as_frame = True
        except ImportError:
            as_frame = False
    if not as_frame:
        return rows
    import pandas as pd

    return pd.DataFrame.from_records(rows, columns=columns)


def _column_type(name: str) -> str | None:
    """Type of a sweep column by name (for reading CSV stores without a spec)."""
    if name.startswith("table1_pct_"):
        return "float"
    return _ALL_TYPES.get(name)


def _quiet_close(obj: Any) -> None:
    try:
        obj.close()
    except Exception:  # noqa: BLE001
        pass


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


# ---------------------------------------------------------------------------------- CLI
def add_cli_arguments(p: Any) -> None:
    """Arguments of ``ntkrs sweep`` (used by :mod:`ntkrs.cli`)."""
    p.add_argument("spec", nargs="?", help="sweep spec (.toml or .json); flags below override its keys")
    p.add_argument("--activation", "-a", action="append", metavar="ACT",
                   help="activation NAME or NAME(param=value,...); repeat for several")
    p.add_argument("--depth", "-L", action="append", metavar="D",
                   help="number of hidden layers: 3, 1-10, 1-10:2 or 1,2,4 (repeatable)")
    p.add_argument("--degree", "-P", action="append", metavar="P", help="series degree(s), like --depth")
    for flag, what in (("--weight-var", "sigma_w^2 (default: unit variance)"), ("--bias-var", "sigma_b^2"),
                       ("--input-weight-var", "gamma_w^2 (default 1)"), ("--input-bias-var", "gamma_b^2 (default 0)")):
        p.add_argument(flag, action="append", metavar="V", help=f"{what}; repeat or comma-separate for a grid")
    p.add_argument("--edge-of-chaos", action="append", metavar="Q",
                   help="edge-of-chaos initialization with fixed point Q (added to the variance settings)")
    p.add_argument("--data", action="append", metavar="DATA",
                   help="sphere:d=D, sphere:n=N,d=D[,seed=S], digits[:n=N] or a .npy/.csv file (repeatable)")
    p.add_argument("--sphere-dim", action="append", metavar="D", help="exact sphere spectra on S^(D-1) (repeatable)")
    p.add_argument("--sphere-k", type=int, default=None, help="highest harmonic degree of the sphere eigenvalues (default 50)")
    p.add_argument("--gram-k", type=int, default=None, help="top eigenvalues of each Gram (default 10)")
    p.add_argument("--output", "-O", action="append", metavar="NAME",
                   help=f"output(s) to compute ({', '.join(OUTPUTS)}); repeat or comma-separate")
    p.add_argument("--out", "-o", default=None, help="results store: .parquet (directory), .jsonl or .csv")
    p.add_argument("--format", choices=["auto", "parquet", "jsonl", "csv"], default="auto")
    p.add_argument("--resume", action="store_true", help="skip settings already in --out")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--retry-errors", action="store_true", help="with --resume: recompute settings that failed")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None, help="run on a Dask cluster (tcp://host:port)")
    p.add_argument("--local-cluster", type=int, metavar="N", default=None,
                   help="run on a dask.distributed.LocalCluster of N worker processes")
    p.add_argument("--chunk-size", type=int, default=None, help="settings per task (default 8 locally, 25 on Dask)")
    p.add_argument("--workers", type=int, default=None, help="local threads running chunks (default min(4, cores))")
    p.add_argument("--retries", type=int, default=3, help="Dask: retries of a task whose worker died (default 3)")
    p.add_argument("--dry-run", action="store_true", help="validate the spec and print the number of settings")
    p.add_argument("--json", action="store_true", help="print the rows as JSON lines on stdout")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def _spec_from_args(args: Any) -> SweepSpec:
    base: dict[str, Any] = {}
    base_dir = None
    if args.spec:
        from pathlib import Path

        file_spec = SweepSpec.from_file(args.spec)
        base = file_spec.to_dict()
        base_dir = Path(args.spec).parent
    if args.activation:
        base["activations"] = list(args.activation)
    if args.depth:
        base["depth"] = list(args.depth)
    if args.degree:
        base["degree"] = list(args.degree)
    grid: dict[str, Any] = {}
    for key in ("weight_var", "bias_var", "input_weight_var", "input_bias_var"):
        vals = getattr(args, key)
        if vals:
            grid[key] = [v.strip() for text in vals for v in text.split(",") if v.strip()]
    variances: list[Any] = []
    if grid:
        variances.append(grid)
    if args.edge_of_chaos:
        variances.append({"edge_of_chaos": [v.strip() for t in args.edge_of_chaos for v in t.split(",") if v.strip()]})
    if variances:
        base["variances"] = variances
    if args.data or args.sphere_dim:
        base.pop("data", None)
        base.pop("sphere_dim", None)
        if args.data:
            base["data"] = list(args.data)
        if args.sphere_dim:
            base["sphere_dim"] = list(args.sphere_dim)
    if args.sphere_k is not None:
        base["sphere_k"] = args.sphere_k
    if args.gram_k is not None:
        base["gram_k"] = args.gram_k
    if args.output:
        base["outputs"] = [o.strip() for t in args.output for o in t.split(",") if o.strip()]
    elif args.spec is None or args.data or args.sphere_dim:
        base.pop("outputs", None)  # defaults follow the data
    if "activations" not in base:
        raise InvalidInputError("ntkrs sweep needs a spec file or at least one --activation and --depth")
    # numbers given on the command line arrive as strings
    if "variances" in base:
        for v in base["variances"]:
            for key, val in list(v.items()):
                v[key] = [_num(x, key) for x in val] if isinstance(val, list) else val
    return SweepSpec.from_dict(base, base_dir=base_dir, source=args.spec or "")


def _num(x: Any, key: str) -> Any:
    if not isinstance(x, str):
        return x
    try:
        return float(x)
    except ValueError:
        raise InvalidInputError(f"--{key.replace('_', '-')} {x!r} is not a number") from None


_SUMMARY_COLUMNS = ("index", "activation", "depth", "init", "weight_var", "bias_var", "degree", "data", "status",
                    "theta1", "kappa0_share", "truncation_bound", "coeff_decay_exponent", "sphere_decay_exponent",
                    "effective_rank", "error")


def run_cli(args: Any) -> int:
    """``ntkrs sweep``: returns the exit status."""
    import json

    spec = _spec_from_args(args)
    if args.dry_run:
        sys.stdout.write(f"{len(spec)} settings: {len(spec.activations)} activations x {len(spec.depths)} depths x "
                         f"{len(spec.variances)} variance settings x {len(spec.degrees)} degrees x "
                         f"{len(spec.data)} data items; outputs: {', '.join(spec.outputs)}\n")
        return 0
    store_path = None
    if args.out is not None:
        from .sweep_store import resolve_format

        store_path = str(resolve_format(args.out, args.format)[0])
    t0 = time.perf_counter()
    try:
        rows = sweep(spec, scheduler=args.scheduler, local_cluster=args.local_cluster, out=args.out,
                     resume=args.resume, overwrite=args.overwrite, retry_errors=args.retry_errors,
                     format=args.format, progress=not args.quiet, chunk_size=args.chunk_size,
                     workers=args.workers, retries=args.retries, as_frame=False)
    except KeyboardInterrupt:
        if store_path is not None:
            sys.stderr.write(f"[ntkrs] sweep interrupted; finished rows are in {store_path} "
                             "(rerun with --resume to continue)\n")
        raise
    elapsed = time.perf_counter() - t0
    n_err = sum(r["status"] == "error" for r in rows)
    if args.json:
        for r in rows:
            sys.stdout.write(json.dumps(r, allow_nan=True) + "\n")
    else:
        cols = [c for c in _SUMMARY_COLUMNS if rows and c in rows[0]]
        table = [[_fmt(r.get(c)) for c in cols] for r in rows]
        widths = [max(len(c), *(len(t[i]) for t in table)) if table else len(c) for i, c in enumerate(cols)]
        out = sys.stdout
        out.write("  ".join(c.ljust(w) for c, w in zip(cols, widths)).rstrip() + "\n")
        for t in table:
            out.write("  ".join(x.ljust(w) for x, w in zip(t, widths)).rstrip() + "\n")
    msg = f"[ntkrs] sweep: {len(rows)} settings ({n_err} failed) in {elapsed:.2f} s"
    if store_path is not None:
        msg += f"; rows in {store_path}"
    sys.stderr.write(msg + "\n")
    return 0


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)
