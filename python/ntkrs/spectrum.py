"""Eigenvalues of kernel matrices: a block Lanczos solver in Rust (``eigsh``), effective rank,
and the spectral report of the paper's bounds (``spectrum_report``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _core
from .errors import InputTypeError, InvalidInputError, NonFiniteError

__all__ = ["eigsh", "EigshInfo", "effective_rank", "eigvalsh"]


@dataclass(frozen=True)
class EigshInfo:
    """Diagnostics of an :func:`eigsh` call (``return_info=True``).

    Attributes: ``iterations`` (Lanczos steps), ``restarts`` (thick restarts), ``matvecs``
    (operator-vector products), ``dense`` (True when the problem was small enough for the
    dense solver) and ``residuals`` (the residual estimates of the returned Ritz pairs)."""

    iterations: int
    restarts: int
    matvecs: int
    dense: bool
    residuals: np.ndarray = field(repr=False)


def _check_k(k: Any, n: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise InputTypeError(f"k must be an integer, got {k!r}")
    k = int(k)
    if k < 1:
        raise InvalidInputError(f"k must be >= 1, got {k}: ask for at least one eigenvalue")
    if k >= n:
        raise InvalidInputError(
            f"k = {k} exceeds the matrix size n = {n}: eigsh computes a few eigenvalues "
            f"(1 <= k < n = {n}); for all of them use ntkrs.eigvalsh(K)"
            if k > n else
            f"k = {k} equals the matrix size n = {n}: eigsh computes a few eigenvalues "
            f"(1 <= k < n); for all of them use ntkrs.eigvalsh(K)"
        )
    return k


def _check_tol(tol: Any) -> float:
    try:
        tol = float(tol)
    except (TypeError, ValueError):
        raise InputTypeError(f"tol must be a positive number, got {tol!r}") from None
    if not (tol > 0 and math.isfinite(tol)):
        raise InvalidInputError(f"tol must be finite and > 0, got {tol}")
    return tol


def _symmetric_matrix(A: Any, name: str = "A") -> np.ndarray:
    try:
        a = np.asarray(A)
    except Exception as exc:
        raise InputTypeError(f"{name} must be a square array of numbers: {exc}") from None
    if a.dtype == object or not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a):
        raise InputTypeError(f"{name} must be a real square array, got dtype {a.dtype}")
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise InvalidInputError(f"{name} must be a square 2-D array, got shape {a.shape}")
    if a.shape[0] == 0:
        raise InvalidInputError(f"{name} is empty")
    a = np.ascontiguousarray(a, dtype=np.float64)
    # one pass without a temporary: a NaN/inf entry makes the sum non-finite (a finite sum
    # that overflows only costs the exact scan below)
    if not np.isfinite(a.sum()):
        bad = np.argwhere(~np.isfinite(a))
        if bad.size:
            i, j = bad[0]
            raise NonFiniteError(f"{name} has a non-finite entry {a[i, j]} at ({i}, {j})")
    return a


def eigsh(
    A_or_operator: Any,
    k: int,
    which: str = "largest",
    tol: float = 1e-10,
    return_vectors: bool = False,
    *,
    max_restarts: int = 1000,
    seed: int = 0,
    return_info: bool = False,
) -> Any:
    """``k`` largest (or smallest) eigenvalues of a symmetric matrix or operator.

    Block Lanczos with full re-orthogonalization and thick restart, in Rust, multithreaded,
    with the GIL released (Ctrl-C stops it); small problems go to the dense solver.

    Parameters
    ----------
    A_or_operator:
        A symmetric ``(n, n)`` array (only symmetry is assumed, not checked), a matrix-free
        ``ntkrs`` operator (``net.gram_operator(X)``), or any object with ``shape == (n, n)``
        and ``matmat(X) -> A @ X`` (e.g. a :class:`scipy.sparse.linalg.LinearOperator`).
    k:
        Number of eigenvalues, ``1 <= k < n`` (all of them: :func:`eigvalsh`).
    which:
        ``"largest"`` (descending) or ``"smallest"`` (ascending), algebraic.
    tol:
        Relative tolerance as in :func:`scipy.sparse.linalg.eigsh`: each returned ``θ`` is
        within ``tol·|θ|`` of an eigenvalue (above the rounding floor ``~√n·ε·‖A‖``).
    return_vectors:
        Also return the ``(n, k)`` orthonormal eigenvectors.

    Returns
    -------
    ``values`` or ``(values, vectors)``; with ``return_info=True`` an :class:`EigshInfo` is
    appended.

    Raises
    ------
    ConvergenceError
        if not all pairs converged within ``max_restarts`` (``.values`` has those that did).
    InvalidInputError
        for an invalid ``k``, ``which``, ``tol`` or ``max_restarts``, or a matrix that is not
        square; :class:`~ntkrs.NonFiniteError` for NaN/inf entries.
    InputTypeError
        for a non-numeric or complex matrix.
    """
    if which not in ("largest", "smallest"):
        raise InvalidInputError(f"which must be 'largest' or 'smallest', got {which!r}")
    tol = _check_tol(tol)
    if isinstance(max_restarts, bool) or not isinstance(max_restarts, (int, np.integer)) or max_restarts < 0:
        raise InvalidInputError(f"max_restarts must be an integer >= 0, got {max_restarts!r}")
    core_op = getattr(A_or_operator, "_core_operator", None)
    if core_op is not None:
        n = int(core_op.n)
        k = _check_k(k, n)
        values, vectors, info = core_op.eigsh(k, which, tol, bool(return_vectors), int(max_restarts), int(seed))
    elif isinstance(A_or_operator, np.ndarray) or not hasattr(A_or_operator, "matmat"):
        a = _symmetric_matrix(A_or_operator)
        k = _check_k(k, a.shape[0])
        values, vectors, info = _core.eigsh_dense(a, k, which, tol, bool(return_vectors), int(max_restarts), int(seed))
    else:
        shape = getattr(A_or_operator, "shape", None)
        try:
            ok = len(shape) == 2 and shape[0] == shape[1] and int(shape[0]) >= 1
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise InvalidInputError(f"an operator needs shape == (n, n) with n >= 1, got shape {shape!r}")
        n = int(shape[0])
        k = _check_k(k, n)
        matmat = A_or_operator.matmat
        interrupted: list[BaseException] = []

        def call(x: np.ndarray) -> np.ndarray:
            try:
                return np.ascontiguousarray(matmat(x), dtype=np.float64)
            except KeyboardInterrupt as exc:  # Ctrl-C inside the operator stays a KeyboardInterrupt
                interrupted.append(exc)
                raise

        try:
            values, vectors, info = _core.eigsh_callable(n, call, k, which, tol, bool(return_vectors),
                                                         int(max_restarts), int(seed))
        except Exception:
            if interrupted:
                raise KeyboardInterrupt from None
            raise
    values = np.asarray(values)
    out: list[Any] = [values]
    if return_vectors:
        out.append(np.asarray(vectors))
    if return_info:
        out.append(EigshInfo(info["iterations"], info["restarts"], info["matvecs"], info["dense"], np.asarray(info["residuals"])))
    return out[0] if len(out) == 1 else tuple(out)


def eigvalsh(A: Any) -> np.ndarray:
    """All eigenvalues ``λ_n ≤ … ≤ λ_1`` (ascending) of a real symmetric ``(n, n)`` matrix, by
    faer's dense solver in Rust (symmetry is assumed, not checked). Returns a float64 array of
    length ``n``. Raises :class:`~ntkrs.InputTypeError` for a non-numeric/complex array,
    :class:`~ntkrs.InvalidInputError` for a non-square or empty one and
    :class:`~ntkrs.NonFiniteError` for NaN/inf entries."""
    return np.asarray(_core.eigvalsh_dense(_symmetric_matrix(A)))


def effective_rank(K: Any, *, top_eigenvalue: float | None = None) -> float:
    """Effective rank ``r(K) = Tr K / λ_1(K)`` of a symmetric positive semi-definite matrix
    (``1 ≤ r(K) ≤ rank K``; for an NTK Gram ``Tr K = n Θ(1)``).

    ``top_eigenvalue`` supplies ``λ_1`` if already known (otherwise it is computed by
    :func:`eigsh`). Returns a float. Raises :class:`~ntkrs.InvalidInputError` if ``K`` has no
    positive eigenvalue or is not square, plus the matrix errors of :func:`eigvalsh`."""
    a = _symmetric_matrix(K, "K")
    lam1 = float(top_eigenvalue) if top_eigenvalue is not None else (
        float(eigsh(a, 1)[0]) if a.shape[0] > 1 else float(a[0, 0]))
    if lam1 <= 0:
        raise InvalidInputError("K has no positive eigenvalue: the effective rank is undefined")
    return float(np.trace(a)) / lam1


def spectrum_report(net: Any, X: Any, *, k: int = 10, kind: str = "ntk", normalize: bool = False,
                    matrix_free: bool = False, hadamard_degrees: Any = range(0, 9),
                    smallest: bool = True, tol: float = 1e-10) -> dict:
    """Spectrum of the kernel Gram ``K`` of ``X`` next to the paper's bounds.

    Returns a dict with the top ``k`` eigenvalues of ``K`` and of the input Gram ``G = XXᵀ``,
    ``λ_1``, ``Tr K = n·K(1)``, the effective ranks ``r(K) = Tr K / λ_1(K)`` and
    ``r(G) = n / λ_1(G)``, the smallest eigenvalue ``λ_n(K)`` (dense problems), and:

    * Theorem 4.1: ``λ_1(K) ≥ κ_0 n`` (since ``κ_0 11ᵀ ⪯ K``);
    * Theorem 4.3: ``λ_1(K) ≥ κ_1 λ_1(G)`` and ``r(K) ≤ (Σ_p κ_p / κ_1) · r(G)``;
    * the Hadamard-power rank bound: ``rank(G^{∘p}) ≤ C(p+d−1, d−1)``, so with
      ``R(P) = C(P+d, d)``, ``λ_{R(P)+1}(K) ≤ n Σ_{p>P} κ_p`` (Weyl), for each ``P`` in
      ``hadamard_degrees`` (the measured eigenvalue is shown when ``R(P) < k``).

    Parameters
    ----------
    net:
        A :class:`~ntkrs.Network`.
    X:
        ``(n, d)`` data, rows of unit norm (``normalize=True`` projects them).
    k:
        Number of top eigenvalues, ``1 ≤ k ≤ n`` (``k = n``: every eigenvalue, by the dense
        solver; ``matrix_free`` needs ``k < n``).
    kind:
        ``"ntk"`` or ``"nngp"``.
    matrix_free:
        Never store the Gram (no smallest eigenvalue then).
    smallest:
        Also compute ``λ_n(K)`` (dense only).
    tol:
        Relative tolerance of the eigenvalues.

    Keys of the returned dict: ``n``, ``d``, ``kind``, ``eigenvalues``, ``lambda_1``,
    ``trace``, ``effective_rank``, ``smallest_eigenvalue``, ``input_eigenvalues``,
    ``input_lambda_1``, ``input_effective_rank``, ``kernel_at_one``, ``kappa_0``, ``kappa_1``,
    ``theorem_4_1``, ``theorem_4_3`` (dicts with a ``holds`` flag) and
    ``hadamard_rank_bound`` (a list of dicts ``P``, ``rank_R``, ``index``, ``upper_bound``
    and, when measured, ``eigenvalue``).

    Raises the data errors of :meth:`Network.ntk <ntkrs.Network.ntk>`,
    :class:`~ntkrs.InvalidInputError` for an invalid ``k``/``kind``/``hadamard_degrees``,
    :class:`~ntkrs.TooLargeError` if a dense Gram would not fit (use ``matrix_free=True``)
    and :class:`~ntkrs.DomainError` for the NTK of the step function.
    """
    from .data import as_points

    if kind not in ("ntk", "nngp"):
        raise InvalidInputError(f"kind must be 'ntk' or 'nngp', got {kind!r}")
    Xv = as_points(X, normalize=normalize)
    n, d = Xv.shape
    if isinstance(k, (int, np.integer)) and not isinstance(k, bool) and k == n and not matrix_free:
        all_eigenvalues = True  # the whole spectrum: dense solver instead of Lanczos
    else:
        all_eigenvalues = False
        k = _check_k(k, n)
    k = int(k)
    try:
        hadamard_degrees = list(hadamard_degrees)
    except TypeError:
        raise InputTypeError(f"hadamard_degrees must be a list of integers >= 0, got {hadamard_degrees!r}") from None
    for P in hadamard_degrees:
        if isinstance(P, bool) or not isinstance(P, (int, np.integer)) or not 0 <= P <= 100_000:
            raise InvalidInputError(f"hadamard_degrees must be integers in [0, 100000], got {P!r}")
    Pmax = max(hadamard_degrees + [1])
    series = net.series(Pmax, ntk=(kind == "ntk"))
    coeffs = np.asarray(series.ntk if kind == "ntk" else series.nngp)
    at_one = float(series.ntk_at_one if kind == "ntk" else series.nngp_at_one)
    smallest_value = None
    if matrix_free:
        op = net.gram_operator(Xv, kind=kind)
        top = eigsh(op, k, tol=tol) if k < n else None
    else:
        K = net.ntk(Xv) if kind == "ntk" else net.nngp(Xv)
        if all_eigenvalues:
            every = eigvalsh(K)
            top = every[::-1].copy()
            smallest_value = float(every[0]) if smallest else None
        else:
            top = eigsh(K, k, tol=tol)
            if smallest:
                smallest_value = float(eigsh(K, 1, which="smallest", tol=tol)[0])
    top = np.asarray(top)
    lam1 = float(top[0])
    trace = n * at_one
    # input Gram: its nonzero spectrum is that of the d×d matrix XᵀX
    g_eigs = np.sort(eigvalsh(Xv.T @ Xv))[::-1]
    g_top = np.zeros(k)
    m = min(k, g_eigs.size)
    g_top[:m] = np.maximum(g_eigs[:m], 0.0)
    g_lam1 = float(g_eigs[0])
    r_g = n / g_lam1
    k0, k1 = float(coeffs[0]), float(coeffs[1])
    hadamard = []
    cum = np.cumsum(coeffs)
    for P in hadamard_degrees:
        R = math.comb(int(P) + d, d)
        tail = max(at_one - float(cum[int(P)]), 0.0)
        entry = {"P": int(P), "rank_R": R, "index": R + 1, "upper_bound": n * tail}
        if R < k:
            entry["eigenvalue"] = float(top[R])
        hadamard.append(entry)
    return {
        "n": n,
        "d": d,
        "kind": kind,
        "eigenvalues": top,
        "lambda_1": lam1,
        "trace": trace,
        "effective_rank": trace / lam1,
        "smallest_eigenvalue": smallest_value,
        "input_eigenvalues": g_top,
        "input_lambda_1": g_lam1,
        "input_effective_rank": r_g,
        "kernel_at_one": at_one,
        "kappa_0": k0,
        "kappa_1": k1,
        "theorem_4_1": {"lambda_1": lam1, "kappa_0_n": k0 * n, "holds": lam1 >= k0 * n * (1 - 1e-12)},
        "theorem_4_3": {
            "lambda_1": lam1,
            "lambda_1_lower_bound": k1 * g_lam1,
            "effective_rank": trace / lam1,
            "effective_rank_upper_bound": (at_one / k1) * r_g if k1 > 0 else math.inf,
            "holds": lam1 >= k1 * g_lam1 * (1 - 1e-12) and (k1 <= 0 or trace / lam1 <= (at_one / k1) * r_g * (1 + 1e-12)),
        },
        "hadamard_rank_bound": hadamard,
    }
