"""Input data: validation of point sets on the unit sphere, loaders and samplers.

Kernels in ntkrs are functions of ``ρ = ⟨x, y⟩`` for inputs on the unit sphere ``‖x‖ = 1``.
:func:`as_points` validates an array of points (one per row) and, with ``normalize=True``,
projects the rows onto the sphere.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputTypeError, InvalidInputError, NonFiniteError

__all__ = ["as_points", "load_points", "sample_sphere", "load_digits", "UNIT_NORM_TOL"]

#: Rows whose norm differs from 1 by more than this are rejected (unless normalize=True).
UNIT_NORM_TOL = 1e-6


def as_points(X: Any, *, normalize: bool = False, name: str = "X", dtype: Any = np.float64) -> np.ndarray:
    """Validate ``X`` as an ``(n, d)`` array of points on the unit sphere and return a
    C-contiguous float array (float64 by default, float32 accepted when requested).

    Non-contiguous and Fortran-ordered arrays are accepted (copied). Raises
    :class:`~ntkrs.InputTypeError` for non-numeric input, :class:`~ntkrs.InvalidInputError` for a
    wrong shape, empty input, a zero row, or a row that is not of unit norm (naming the first
    such row; pass ``normalize=True`` to project rows onto the sphere), and
    :class:`~ntkrs.NonFiniteError` for NaN/inf entries.
    """
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise InputTypeError(f"dtype must be float64 or float32, got {dtype!r}") from None
    if dtype not in (np.dtype(np.float64), np.dtype(np.float32)):
        raise InvalidInputError(f"dtype must be float64 or float32, got {dtype}")
    if isinstance(X, (str, bytes)):
        raise InputTypeError(f"{name} must be a 2-D array of numbers, got a string")
    try:
        arr = np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        raise InputTypeError(f"{name} must be a 2-D array of numbers: {exc}") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise InputTypeError(f"{name} must be a 2-D array of real numbers, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise InputTypeError(f"{name} must be real, got complex dtype {arr.dtype}")
    if arr.ndim == 1:
        raise InvalidInputError(
            f"{name} must be 2-D (n points × d dims), got a 1-D array of length {arr.shape[0]}; "
            "use X.reshape(1, -1) for a single point"
        )
    if arr.ndim != 2:
        raise InvalidInputError(f"{name} must be 2-D (n points × d dims), got shape {arr.shape}")
    n, d = arr.shape
    if n == 0 or d == 0:
        raise InvalidInputError(f"{name} is empty (shape {arr.shape})")
    work = np.array(arr, dtype=np.float64, order="C", copy=True)
    finite = np.isfinite(work)
    if not finite.all():
        row, col = np.argwhere(~finite)[0]
        raise NonFiniteError(
            f"{name} has a non-finite entry {work[row, col]} at row {row}, column {col}; "
            "remove or impute the rows with NaN/inf"
        )
    norms = np.sqrt(np.einsum("ij,ij->i", work, work))
    zero = norms == 0
    if zero.any():
        raise InvalidInputError(
            f"{name} row {int(np.argmax(zero))} is zero: it has no direction on the sphere; remove it"
        )
    if normalize:
        work /= norms[:, None]
    else:
        off = np.abs(norms - 1.0) > UNIT_NORM_TOL
        if off.any():
            i = int(np.argmax(off))
            raise InvalidInputError(
                f"{name} row {i} has norm {norms[i]:.6g}, but inputs must lie on the unit sphere "
                f"(|norm - 1| <= {UNIT_NORM_TOL}); pass normalize=True to project the rows onto it"
            )
        # remove the tiny residual so that the diagonal of a Gram is exactly <x, x> = 1
        work /= norms[:, None]
    return work.astype(dtype, copy=False)


def sample_sphere(n: int, dim: int, *, seed: int | None = 0) -> np.ndarray:
    """``n`` points drawn uniformly from the unit sphere ``S^{dim-1} ⊂ ℝ^dim`` (normalized
    Gaussians), reproducible through ``seed``.

    ``dim`` is the ambient dimension (``≥ 2``; ``dim=3`` samples the ordinary sphere ``S²``);
    ``seed`` is an integer ``≥ 0`` or None (fresh randomness). Returns an ``(n, dim)`` float64
    array with rows of unit norm. Raises :class:`~ntkrs.InvalidInputError` for an invalid
    ``n``, ``dim`` or ``seed`` and :class:`~ntkrs.TooLargeError` beyond 16 GiB."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise InvalidInputError(f"n must be a positive integer, got {n!r}")
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 2:
        raise InvalidInputError(f"dim must be an integer >= 2, got {dim!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise InvalidInputError(f"seed must be a non-negative integer or None, got {seed!r}")
    nbytes = 8 * int(n) * int(dim)
    if nbytes > 2**34:  # 16 GiB
        from .errors import TooLargeError

        raise TooLargeError(
            f"{int(n)} points in dimension {int(dim)} would need {nbytes / 2**30:.1f} GiB; "
            "sample fewer points (a kernel Gram of that many points would not fit either)"
        )
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((int(n), int(dim)))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def load_points(path: str | os.PathLike[str], *, normalize: bool = True) -> np.ndarray:
    """Load points from a ``.npy`` file (never unpickled) or a ``.csv``/``.txt`` file of numbers
    (one point per row; a non-numeric header line is skipped) and validate them with
    :func:`as_points` (``normalize=True`` by default: data files rarely lie on the sphere).

    Returns an ``(n, d)`` float64 array. Raises :class:`~ntkrs.InvalidInputError` for a missing
    or unreadable file, an unsupported suffix (use ``.npy``, ``.csv``, ``.txt`` or ``.tsv``),
    non-numeric cells, ragged rows, or the data errors of :func:`as_points`."""
    if not isinstance(path, (str, os.PathLike)):
        raise InputTypeError(f"path must be a file name (str or os.PathLike), got {type(path).__name__}")
    p = Path(path)
    if not p.exists():
        raise InvalidInputError(f"data file {str(p)!r} does not exist")
    if not p.is_file():
        raise InvalidInputError(f"data path {str(p)!r} is not a file")
    suffix = p.suffix.lower()
    try:
        if suffix == ".npy":
            X = np.load(p, allow_pickle=False)
        elif suffix in (".csv", ".txt", ".tsv"):
            X = _load_text(p, delimiter="\t" if suffix == ".tsv" else None)
        else:
            raise InvalidInputError(f"unsupported data file type {suffix!r} for {str(p)!r}: use .npy or .csv")
    except InvalidInputError:
        raise
    except (ValueError, EOFError) as exc:
        hint = ("a numeric array saved with numpy.save; pickles are never loaded" if suffix == ".npy"
                else "a text file of numbers, one point per row")
        raise InvalidInputError(f"cannot read {str(p)!r}: {exc or type(exc).__name__} (expected {hint})") from None
    except OSError as exc:
        raise InvalidInputError(f"cannot read {str(p)!r}: {exc}") from None
    return as_points(X, normalize=normalize, name=p.name)


def _load_text(p: Path, delimiter: str | None) -> np.ndarray:
    with open(p, newline="") as fh:
        sample = fh.read(4096)
        fh.seek(0)
        if delimiter is None:
            delimiter = "," if "," in sample else None
        rows: list[list[float]] = []
        reader = csv.reader(fh, delimiter=delimiter) if delimiter else (line.split() for line in fh)
        for lineno, row in enumerate(reader, start=1):
            cells = [c.strip() for c in row if c.strip() != ""]
            if not cells:
                continue
            try:
                rows.append([float(c) for c in cells])
            except ValueError:
                if lineno == 1 and not rows:
                    continue  # header
                raise InvalidInputError(f"{p.name} line {lineno}: non-numeric value in {cells!r}") from None
    if not rows:
        raise InvalidInputError(f"{p.name} contains no numeric rows")
    width = len(rows[0])
    for i, r in enumerate(rows):
        if len(r) != width:
            raise InvalidInputError(f"{p.name}: row {i} has {len(r)} values, expected {width}")
    return np.asarray(rows, dtype=np.float64)


def load_digits(n: int | None = None, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's handwritten digits (1797 images of 8×8 pixels, bundled with scikit-learn,
    works offline), preprocessed for the sphere: pixels as 64-vectors, each row centred (its
    mean pixel subtracted) and scaled to unit norm. Returns ``(X, labels)``; ``n`` draws a
    random subset. Needs the optional extra ``pip install "ntkrs[data]"``.
    """
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
    except ImportError:
        raise InvalidInputError(
            "the digits dataset needs scikit-learn: pip install 'ntkrs[data]' (or scikit-learn)"
        ) from None
    bunch = _sk_load_digits()
    X = np.asarray(bunch.data, dtype=np.float64)
    y = np.asarray(bunch.target)
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise InputTypeError(f"n must be an integer (the number of images) or None, got {n!r}")
        if n < 1 or n > X.shape[0]:
            raise InvalidInputError(f"n must be between 1 and {X.shape[0]}, got {n}")
        idx = np.random.default_rng(seed).choice(X.shape[0], size=n, replace=False)
        X, y = X[idx], y[idx]
    X = X - X.mean(axis=1, keepdims=True)
    return as_points(X, normalize=True, name="digits"), y
