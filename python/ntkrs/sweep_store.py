"""Durable row storage for sweeps.

Three formats, chosen from the path's suffix (or ``format=``):

``parquet``
    A *directory* (``results.parquet/``) of Parquet part files, readable as one table with
    ``pandas.read_parquet(path)`` or ``pyarrow.dataset``. Needs ``pyarrow`` (``pip install
    "ntkrs[parquet]"``). Rows first go to a journal, ``_journal.jsonl`` in that directory (one
    line per row, fsynced); every ``flush_rows`` rows (and when the sweep ends) the journal
    becomes a part file — written to a hidden temporary name, fsynced, renamed into place,
    directory fsynced: there whole or not at all — and is then emptied. A finished sweep
    compacts everything into one part. Readers take the parts plus the journal and keep the
    last row of each ``setting_id``, so a kill between any two of these steps loses nothing
    and duplicates nothing.
``jsonl``
    One JSON object per line (``pandas.read_json(path, lines=True)``).
``csv``
    A header line, then one line per row; list columns hold JSON arrays; strings never
    contain line breaks.

For ``jsonl``/``csv`` every row is one line, appended and fsynced. A process killed in the
middle of a write can leave a torn last line (no trailing newline): readers ignore it and
reopening the store with ``resume=True`` truncates it. Floats are written with ``repr`` and read
back bit for bit, so the three formats hold identical rows. A store is locked (``flock``) while
open, so two sweeps cannot write to it at once.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import uuid
import warnings
from pathlib import Path
from typing import Any, Iterable, Sequence

from .errors import InvalidInputError

__all__ = ["RowStore", "open_store", "read_rows", "have_pyarrow", "resolve_format", "FORMATS"]

FORMATS = ("parquet", "jsonl", "csv")
JOURNAL = "_journal.jsonl"  # "_" prefix: pyarrow.dataset / pandas.read_parquet skip it
#: Column types: ``"str"``, ``"int"``, ``"float"``, ``"bool"``, ``"list[float]"``.
ColumnTypes = Sequence[tuple[str, str]]

_FORCE_NO_PYARROW = os.environ.get("NTKRS_SWEEP_NO_PYARROW", "") not in ("", "0")


def have_pyarrow() -> bool:
    """Whether Parquet storage is available (``NTKRS_SWEEP_NO_PYARROW=1`` pretends it is not)."""
    if _FORCE_NO_PYARROW:
        return False
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_format(path: str | os.PathLike[str], format: str = "auto") -> tuple[Path, str]:
    """The path and format a store will use. ``auto``: by suffix (``.parquet``, ``.jsonl``/
    ``.ndjson``/``.json``, ``.csv``; no suffix: Parquet when pyarrow is installed, else JSON
    lines). A ``.parquet`` path without pyarrow falls back to ``<stem>.jsonl`` with a warning."""
    p = Path(path)
    if format not in ("auto", *FORMATS):
        raise InvalidInputError(f"format must be one of auto, {', '.join(FORMATS)}; got {format!r}")
    suffix = p.suffix.lower()
    if format == "auto":
        if suffix == ".parquet":
            format = "parquet"
        elif suffix in (".jsonl", ".ndjson", ".json"):
            format = "jsonl"
        elif suffix == ".csv":
            format = "csv"
        elif suffix == "":
            format = "parquet" if have_pyarrow() else "jsonl"
            if format == "jsonl":
                p = p.with_suffix(".jsonl")
        else:
            raise InvalidInputError(
                f"cannot tell the output format of {str(p)!r}: use .parquet, .jsonl or .csv (or format=)"
            )
    if format == "parquet" and not have_pyarrow():
        if p.exists() and p.is_dir():
            raise InvalidInputError(f"{str(p)!r} is a Parquet store but pyarrow is not installed: pip install pyarrow")
        alt = p.with_suffix(".jsonl")
        warnings.warn(
            f"pyarrow is not installed: writing JSON lines to {str(alt)!r} instead of Parquet "
            "(pip install 'ntkrs[parquet]' for Parquet)",
            RuntimeWarning,
            stacklevel=3,
        )
        p, format = alt, "jsonl"
    return p, format


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(str(path), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _lock(fd: int, path: Path) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise InvalidInputError(f"{str(path)!r} is in use by another running sweep") from None


def _json_default(v: Any) -> Any:
    import numpy as np

    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (np.floating, np.integer, np.bool_)):
        return v.item()
    raise TypeError(f"cannot store a {type(v).__name__} in a sweep row")


def _row_json(row: dict) -> str:
    return json.dumps(row, separators=(",", ":"), allow_nan=True, default=_json_default)


class RowStore:
    """An open, locked results store. Use :func:`open_store`."""

    def __init__(self, path: Path, format: str, columns: ColumnTypes, flush_rows: int = 256) -> None:
        self.path = path
        self.format = format
        self.flush_rows = max(1, int(flush_rows))
        self._journal_rows = 0
        self.columns = list(columns)
        self._names = [c for c, _ in self.columns]
        self._lock_fd: int | None = None
        self._fh: Any = None
        self._seq = 0
        self.rows_written = 0

    # -------------------------------------------------------------- opening
    def _open(self, resume: bool, overwrite: bool) -> None:
        p = self.path
        exists = p.exists()
        if exists and not (resume or overwrite):
            raise InvalidInputError(
                f"{str(p)!r} already exists: pass resume=True (--resume) to continue that sweep or "
                "overwrite=True (--overwrite) to replace it"
            )
        if self.format == "parquet":
            if exists and not p.is_dir():
                raise InvalidInputError(f"{str(p)!r} exists and is not a Parquet store directory")
            p.mkdir(parents=True, exist_ok=True)
            fd = os.open(str(p / ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
            try:
                _lock(fd, p)
            except InvalidInputError:
                os.close(fd)
                raise
            self._lock_fd = fd
            for f in p.iterdir():  # temporary files of a killed writer; everything on overwrite
                if f.name.startswith(".part-") or (
                        not resume and (f.name.startswith("part-") or f.name == JOURNAL)):
                    f.unlink()
            seqs = [_part_seq(f.name) for f in p.iterdir() if f.name.startswith("part-")]
            self._seq = max(seqs, default=-1) + 1
            jp = p / JOURNAL
            fh = open(jp, "r+b" if jp.exists() else "w+b")
            _truncate_torn_tail(fh)
            fh.seek(0)
            self._journal_rows = sum(1 for line in fh if line.strip())
            fh.seek(0, os.SEEK_END)
            self._fh = fh
            _fsync_dir(p)
            return
        if exists and p.is_dir():
            raise InvalidInputError(f"{str(p)!r} is a directory, not a {self.format} file")
        p.parent.mkdir(parents=True, exist_ok=True)
        fh = os.fdopen(os.open(str(p), os.O_RDWR | os.O_CREAT, 0o644), "r+b")
        try:
            _lock(fh.fileno(), p)
        except InvalidInputError:
            fh.close()
            raise
        self._fh = fh
        if exists and resume:
            _truncate_torn_tail(fh)
            fh.seek(0, os.SEEK_END)
            if self.format == "csv" and fh.tell() == 0:
                self._write_header()
            elif self.format == "csv":
                fh.seek(0)
                first = fh.readline().decode("utf-8", errors="replace")
                header = next(csv.reader([first]), [])
                fh.seek(0, os.SEEK_END)
                if header != self._names:
                    raise InvalidInputError(
                        f"{str(p)!r} has different columns than this sweep (other outputs?); "
                        "write to another file or pass overwrite=True"
                    )
        else:
            fh.truncate(0)
            if self.format == "csv":
                self._write_header()
            os.fsync(fh.fileno())
            _fsync_dir(p.parent)

    def _write_header(self) -> None:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(self._names)
        self._fh.write(buf.getvalue().encode("utf-8"))
        self._fh.flush()
        os.fsync(self._fh.fileno())

    # -------------------------------------------------------------- reading
    def read(self) -> list[dict]:
        """All complete rows in the store, in write order."""
        return read_rows(self.path, format=self.format, columns=self.columns)

    # -------------------------------------------------------------- writing
    def append(self, rows: Iterable[dict]) -> None:
        """Write ``rows`` durably (fsync) and atomically per row before returning."""
        rows = [{c: r.get(c) for c in self._names} for r in rows]
        if not rows:
            return
        if self.format in ("parquet", "jsonl"):
            self._fh.write("".join(_row_json(r) + "\n" for r in rows).encode("utf-8"))
            self._fh.flush()
            os.fsync(self._fh.fileno())
            if self.format == "parquet":
                self._journal_rows += len(rows)
                if self._journal_rows >= self.flush_rows:
                    self.flush()
        else:
            if self.format == "jsonl":
                data = "".join(_row_json(r) + "\n" for r in rows)
            else:
                buf = io.StringIO()
                w = csv.writer(buf, lineterminator="\n")
                for r in rows:
                    w.writerow([_csv_cell(r[c], t) for c, t in self.columns])
                data = buf.getvalue()
            self._fh.write(data.encode("utf-8"))
            self._fh.flush()
            os.fsync(self._fh.fileno())
        self.rows_written += len(rows)

    def _append_parquet(self, rows: list[dict]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist(rows, schema=_arrow_schema(self.columns))
        name = f"part-{self._seq:08d}-{uuid.uuid4().hex[:8]}.parquet"
        self._seq += 1
        tmp = self.path / f".{name}.tmp"
        with open(tmp, "wb") as fh:
            pq.write_table(table, fh, compression="zstd" if _has_zstd() else "snappy")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path / name)
        _fsync_dir(self.path)

    def flush(self) -> None:
        """Parquet: turn the journal into a part file (atomically), then empty the journal."""
        if self.format != "parquet" or self._fh is None or self._journal_rows == 0:
            return
        rows = _read_jsonl(self.path / JOURNAL)
        if rows:
            self._append_parquet([{c: r.get(c) for c in self._names} for r in rows])
        self._fh.truncate(0)
        self._fh.seek(0)
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._journal_rows = 0

    def compact(self) -> None:
        """Parquet: merge the part files into one (deduplicated by ``setting_id``, last row
        wins, sorted by ``index``). Safe at any moment: the merged part is written before the
        old ones are removed, and readers deduplicate."""
        if self.format != "parquet" or self._fh is None:
            return
        parts = sorted(f for f in self.path.iterdir() if f.name.startswith("part-"))
        raw = self.read()
        rows = _dedup(raw)
        rows.sort(key=lambda r: (r.get("index") if r.get("index") is not None else math.inf, str(r.get("setting_id"))))
        if self._journal_rows == 0 and len(parts) <= 1 and [r.get("setting_id") for r in raw] == [
                r.get("setting_id") for r in rows]:
            return  # already one sorted part
        if rows:
            self._append_parquet(rows)  # 1. the merged part (journal rows included)
        self._fh.truncate(0)  # 2. the journal
        self._fh.seek(0)
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._journal_rows = 0
        for f in parts:  # 3. the old parts (a kill before this leaves duplicates readers drop)
            f.unlink()
        _fsync_dir(self.path)

    def close(self) -> None:
        """Flush what is pending (fsync) and release the store's file handle and lock; rows
        already written stay durable."""
        if self._fh is not None and self.format == "parquet":
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - the journal keeps the rows
                pass
        if self._fh is not None:
            try:
                self._fh.flush()
                os.fsync(self._fh.fileno())
            except (OSError, ValueError):
                pass
            self._fh.close()
            self._fh = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> "RowStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _has_zstd() -> bool:
    try:
        import pyarrow as pa

        return bool(pa.Codec.is_available("zstd"))
    except Exception:  # pragma: no cover
        return False


def _part_seq(name: str) -> int:
    try:
        return int(name.split("-")[1])
    except (IndexError, ValueError):
        return -1


def _arrow_schema(columns: ColumnTypes) -> Any:
    import pyarrow as pa

    types = {"str": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(),
             "list[float]": pa.list_(pa.float64())}
    return pa.schema([(c, types[t]) for c, t in columns])


def _truncate_torn_tail(fh: Any) -> int:
    """Cut a last line without its newline (a write torn by a kill). Returns bytes removed."""
    fh.seek(0, os.SEEK_END)
    size = fh.tell()
    if size == 0:
        return 0
    pos = size
    block = 1 << 16
    while pos > 0:
        start = max(0, pos - block)
        fh.seek(start)
        chunk = fh.read(pos - start)
        if start + len(chunk) == size and chunk.endswith(b"\n"):
            return 0
        i = chunk.rfind(b"\n")
        if i >= 0:
            keep = start + i + 1
            fh.truncate(keep)
            fh.flush()
            os.fsync(fh.fileno())
            return size - keep
        pos = start
    fh.truncate(0)
    fh.flush()
    os.fsync(fh.fileno())
    return size


def _csv_cell(v: Any, t: str) -> str:
    if v is None:
        return ""
    if t == "list[float]":
        return _row_json(list(v))  # type: ignore[arg-type]
    if t == "float":
        return repr(float(v))
    if t == "bool":
        return "true" if v else "false"
    if t == "str":
        return str(v).replace("\r", " ").replace("\n", " ")
    return str(v)


def _csv_value(s: str, t: str | None) -> Any:
    if s == "":
        return None
    if t == "float":
        return float(s)
    if t == "int":
        return int(s)
    if t == "bool":
        return s == "true"
    if t == "list[float]":
        return [float(x) for x in json.loads(s)]
    if t == "str":
        return s
    # unknown column: best effort
    for conv in (int, float):
        try:
            return conv(s)
        except ValueError:
            pass
    if s in ("true", "false"):
        return s == "true"
    if s.startswith("["):
        try:
            return json.loads(s)
        except ValueError:
            pass
    return s


def _dedup(rows: list[dict]) -> list[dict]:
    """One row per ``setting_id``: the last written wins (order of first appearance kept)."""
    out: dict[Any, dict] = {}
    for r in rows:
        key = r.get("setting_id")
        if key in out:
            del out[key]
        out[key] = r
    return list(out.values())


def _complete_text(p: Path) -> str:
    """The file's text up to its last newline (a torn last line is left out)."""
    with open(p, "rb") as fh:
        data = fh.read()
    end = data.rfind(b"\n")
    return (data[: end + 1] if end >= 0 else b"").decode("utf-8", errors="replace")


def _read_jsonl(p: Path) -> list[dict]:
    rows = []
    for line in _complete_text(p).splitlines():
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue  # a damaged line (cannot happen with append-only writes)
        if isinstance(obj, dict):
            rows.append(obj)
    return rows


def read_rows(path: str | os.PathLike[str], *, format: str = "auto",
              columns: ColumnTypes | None = None, dedup: bool = False,
              types: Any = None) -> list[dict]:
    """Read the complete rows of a store (a torn last line is ignored; never modified).
    ``dedup=True`` keeps the last row of each ``setting_id``. A missing store reads as [].
    ``columns`` selects and orders the columns (and gives CSV cells their types);
    ``types(name) -> type or None`` types CSV columns not in ``columns``."""
    p = Path(path)
    if format == "auto":
        if p.is_dir():
            format = "parquet"
        else:
            p, format = resolve_format(p, "auto")
    if not p.exists():
        return []
    coltypes = dict(columns) if columns else {}
    rows: list[dict] = []
    if format == "parquet":
        import pyarrow.parquet as pq

        for f in sorted(x for x in p.iterdir() if x.name.startswith("part-") and x.name.endswith(".parquet")):
            rows.extend(pq.read_table(f).to_pylist())
        if (p / JOURNAL).exists():
            rows.extend(_read_jsonl(p / JOURNAL))
    elif format == "jsonl":
        rows = _read_jsonl(p)
    else:
        lines = _complete_text(p).splitlines()
        if not lines:
            return []
        reader = csv.reader(lines)
        header = next(reader)
        ctypes = {c: coltypes.get(c) or (types(c) if types is not None else None) for c in header}
        for cells in reader:
            if len(cells) != len(header):
                continue
            rows.append({c: _csv_value(x, ctypes.get(c)) for c, x in zip(header, cells)})
    if columns:
        names = [c for c, _ in columns]
        rows = [{c: r.get(c) for c in names} for r in rows]
    return _dedup(rows) if dedup else rows


def open_store(path: str | os.PathLike[str], columns: ColumnTypes, *, format: str = "auto",
               resume: bool = False, overwrite: bool = False) -> RowStore:
    """Open (create, resume or overwrite) a store for rows with the given columns."""
    p, fmt = resolve_format(path, format)
    store = RowStore(p, fmt, columns)
    try:
        store._open(resume, overwrite)
    except BaseException:
        store._journal_rows = 0
        store.close()
        raise
    return store
