"""Sweep specifications: parsing and validation (``ntkrs sweep``, :func:`ntkrs.sweep`).

A sweep is the grid ``activations × depths × variances × degrees × data``; every point of the
grid (a *setting*) becomes one row of the results table with the requested *outputs*.
A spec is a dict, a TOML or JSON file, or a :class:`SweepSpec`::

    # sweep.toml
    activations = ["relu", "leaky_relu(slope=0.1)", {name = "erf", scale = 2.0}]
    depth = "1-10"                      # or 3, [1, 2, 4], "1-10:3", {start = 1, stop = 10, step = 1}
    degree = 500                        # highest power of rho kept (int, list or range; default 100)
    data = ["sphere:d=3", "digits:n=500", "sphere:n=1000,d=10,seed=0", "points.npy"]
    sphere_dim = [3]                    # shorthand for data = ["sphere:d=3"]
    outputs = ["theta1", "kappa0_share", "table1", "truncation_bound", "coeff_decay",
               "sphere", "gram"]
    sphere_k = 50                       # sphere eigenvalues lambda_0 .. lambda_k
    gram_k = 10                         # top eigenvalues of each Gram

    [variances]                         # grid over the keys given; nothing: unit variance
    bias_var = [0.0, 0.1, 0.2]          # weight_var absent: chosen to keep unit variance
    # weight_var = [1.0, 2.0]           # given: the general case (layer variances q_l may vary)
    # input_weight_var = 1.0, input_bias_var = 0.0
    # edge_of_chaos = [1.0, 2.0]        # instead: Network.edge_of_chaos(act, depth, q)

Only ``activations`` and ``depth`` are required. Without ``data``/``sphere_dim`` only the
coefficient outputs apply; without ``outputs`` every output the data supports is computed
(``coefficients`` only on request). ``variances`` may also be a list of explicit settings, e.g.
``[{bias_var = 0.1}, {weight_var = 2.0, bias_var = 0.0}, {edge_of_chaos = 1.0}, "unit"]``.

Data items: ``"sphere:d=D"`` (the uniform measure on ``S^{D-1}``: exact Funk–Hecke eigenvalues),
``"sphere:n=N,d=D[,seed=S]"`` (``N`` uniform samples: Gram outputs, and the exact sphere
outputs for ``d = D``), ``"digits[:n=N,seed=S]"`` (scikit-learn's handwritten digits, rows
centred and projected to the sphere) and a path to a ``.npy``/``.csv`` file (rows projected to
the sphere; the file's SHA-256 enters the setting id).

Every problem raises an :class:`~ntkrs.NtkrsError` naming the key and the value: an unknown key
or output (with close matches), an unknown activation (:class:`~ntkrs.UnknownActivationError`),
a bad range, a wrong type (:class:`~ntkrs.InputTypeError`) or an invalid value
(:class:`~ntkrs.InvalidInputError`).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .errors import InputTypeError, InvalidInputError, NtkrsError, UnknownActivationError

__all__ = [
    "SweepSpec",
    "VarianceSetting",
    "DataItem",
    "OUTPUTS",
    "DEFAULT_OUTPUTS",
    "load_spec",
    "parse_int_list",
    "setting_id",
]

#: Every output a sweep can compute, with what it adds to a row.
OUTPUTS: dict[str, str] = {
    "theta1": "theta1 = Θ(1) = NTK(1) = Σ_p κ_p, the NTK on the diagonal (exact)",
    "kappa0_share": "kappa0_share = κ_0 / Θ(1) (a fraction in [0, 1])",
    "table1": "table1_pct_j = 100 · Σ_{p≤j} κ_p / Θ(1), j = 0 … table1_terms−1 (the paper's Table 1)",
    "truncation_bound": "truncation_bound = certified sup_{ρ∈[−1,1]} |NTK(ρ) − Σ_{p≤degree} κ_p ρ^p|",
    "coeff_decay": "coeff_decay_exponent a of a least-squares fit κ_p ≈ C p^(−a) over coeff_fit",
    "coefficients": "ntk_coefficients = [κ_0, …, κ_degree]",
    "sphere": "sphere_eigenvalues λ_0 … λ_sphere_k on S^(d−1) and their fitted decay rate",
    "gram": "gram_eigenvalues (top gram_k), effective rank and the paper's bounds on the data",
}
#: Outputs computed when ``outputs`` is not given (plus ``sphere``/``gram`` when the data
#: items support them).
DEFAULT_OUTPUTS = ("theta1", "kappa0_share", "table1", "truncation_bound", "coeff_decay")
_OUTPUT_ALIASES = {
    "theta_1": "theta1",
    "ntk_at_one": "theta1",
    "kappa0": "kappa0_share",
    "kappa_0_share": "kappa0_share",
    "partial_sums": "table1",
    "coefficient_decay": "coeff_decay",
    "decay": "coeff_decay",
    "sphere_eigenvalues": "sphere",
    "gram_eigenvalues": "gram",
    "spectrum": "gram",
    "spectrum_report": "gram",
    "effective_rank": "gram",
}

_TOP_KEYS = {
    "activations": "activations",
    "activation": "activations",
    "depth": "depth",
    "depths": "depth",
    "degree": "degree",
    "degrees": "degree",
    "variances": "variances",
    "data": "data",
    "sphere_dim": "sphere_dim",
    "sphere_dims": "sphere_dim",
    "outputs": "outputs",
    "output": "outputs",
    "sphere_k": "sphere_k",
    "sphere_fit": "sphere_fit",
    "gram_k": "gram_k",
    "gram_smallest": "gram_smallest",
    "table1_terms": "table1_terms",
    "coeff_fit": "coeff_fit",
    "name": "name",
    "description": "description",
}
_VAR_KEYS = ("weight_var", "bias_var", "input_weight_var", "input_bias_var", "edge_of_chaos")

MAX_DEPTH = 10_000
MAX_SPHERE_K = 100_000
MAX_GRID = 10_000_000


def _close(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=3, cutoff=0.6)
    return f"; did you mean {', '.join(map(repr, close))}?" if close else ""


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# ---------------------------------------------------------------------------------- ranges
_RANGE_RE = re.compile(r"^\s*(-?\d+)\s*(?:-|\.\.)\s*(-?\d+)\s*(?::\s*(-?\d+)\s*)?$")


def parse_int_list(value: Any, key: str, *, lo: int, hi: int) -> list[int]:
    """Integers from ``3``, ``"1-10"``, ``"1-10:2"``, ``"1..10"``, ``"1,2,4"``, a list of any
    of these, or ``{start, stop[, step]}`` (``stop`` inclusive). Duplicates are dropped (first
    occurrence kept)."""
    out: list[int] = []

    def add(v: int, where: str) -> None:
        if v < lo:
            raise InvalidInputError(f"sweep spec: {where} = {v}: must be >= {lo}")
        if v > hi:
            raise InvalidInputError(f"sweep spec: {where} = {v} is absurdly large (at most {hi})")
        out.append(v)

    def one(item: Any, where: str) -> None:
        if _is_int(item):
            add(int(item), where)
        elif isinstance(item, float) and item.is_integer():
            add(int(item), where)
        elif isinstance(item, str):
            text = item.strip()
            if "," in text:
                for j, part in enumerate(text.split(",")):
                    one(part, f"{where}[{j}]")
                return
            if re.fullmatch(r"-?\d+", text):
                add(int(text), where)
                return
            m = _RANGE_RE.match(text)
            if not m:
                raise InvalidInputError(
                    f"sweep spec: {where} = {item!r} is not an integer or a range "
                    "(use e.g. 3, '1-10', '1-10:2' or '1,2,4')"
                )
            a, b, s = int(m.group(1)), int(m.group(2)), int(m.group(3) or 1)
            rng(a, b, s, where, repr(item))
        elif isinstance(item, Mapping):
            unknown = set(item) - {"start", "stop", "step"}
            if unknown or "start" not in item or "stop" not in item:
                raise InvalidInputError(
                    f"sweep spec: {where} = {dict(item)!r}: a range table needs start and stop "
                    "(inclusive) and optionally step"
                )
            a, b, s = item["start"], item["stop"], item.get("step", 1)
            for nm, v in (("start", a), ("stop", b), ("step", s)):
                if not _is_int(v):
                    raise InputTypeError(f"sweep spec: {where}.{nm} must be an integer, got {v!r}")
            rng(int(a), int(b), int(s), where, repr(dict(item)))
        else:
            raise InputTypeError(
                f"sweep spec: {where} must be an integer, a range such as '1-10' or a list, got {item!r}"
            )

    def rng(a: int, b: int, s: int, where: str, text: str) -> None:
        if s < 1:
            raise InvalidInputError(f"sweep spec: {where} = {text}: the step must be >= 1, got {s}")
        if a > b:
            raise InvalidInputError(f"sweep spec: {where} = {text}: empty range (start {a} > stop {b})")
        if (b - a) // s + 1 > MAX_GRID:
            raise InvalidInputError(f"sweep spec: {where} = {text}: too many values")
        for v in range(a, b + 1, s):
            add(v, where)

    if isinstance(value, (list, tuple)):
        if not value:
            raise InvalidInputError(f"sweep spec: {key} is an empty list")
        for i, item in enumerate(value):
            one(item, f"{key}[{i}]")
    else:
        one(value, key)
    return list(dict.fromkeys(out))


def _float_list(value: Any, key: str, *, allow_none: bool = False) -> list[float | None]:
    """Finite numbers ≥ 0 from a number, a list, or ``{start, stop, num}`` (linspace)."""
    def check(v: Any, where: str) -> float | None:
        if v is None and allow_none:
            return None
        if isinstance(v, str):
            try:
                v = float(v)
            except ValueError:
                raise InputTypeError(f"sweep spec: {where} must be a number, got {v!r}") from None
        if not _is_number(v):
            raise InputTypeError(f"sweep spec: {where} must be a number, got {v!r}")
        f = float(v)
        if not math.isfinite(f) or f < 0:
            raise InvalidInputError(f"sweep spec: {where} = {v!r}: must be a finite variance >= 0")
        return f

    if isinstance(value, Mapping):
        unknown = set(value) - {"start", "stop", "num"}
        if unknown or not {"start", "stop", "num"} <= set(value):
            raise InvalidInputError(
                f"sweep spec: {key} = {dict(value)!r}: a range table needs start, stop and num (linspace)"
            )
        num = value["num"]
        if not _is_int(num) or num < 1 or num > MAX_GRID:
            raise InvalidInputError(f"sweep spec: {key}.num must be an integer >= 1, got {num!r}")
        a, b = check(value["start"], f"{key}.start"), check(value["stop"], f"{key}.stop")
        assert a is not None and b is not None
        if num == 1:
            return [a]
        return [a + (b - a) * i / (num - 1) for i in range(num)]
    if isinstance(value, (list, tuple)):
        if not value:
            raise InvalidInputError(f"sweep spec: {key} is an empty list")
        return list(dict.fromkeys(check(v, f"{key}[{i}]") for i, v in enumerate(value)))
    return [check(value, key)]


# ---------------------------------------------------------------------------------- variances
@dataclass(frozen=True)
class VarianceSetting:
    """One variance setting of a sweep.

    ``init`` is ``"unit"`` (``weight_var`` not given: ``σ_w²`` is chosen so every layer has
    variance 1, DESIGN §1.1), ``"general"`` (``weight_var`` given) or ``"edge_of_chaos"``
    (:meth:`ntkrs.Network.edge_of_chaos` with fixed point ``edge_q``).
    """

    weight_var: float | None = None
    bias_var: float | None = None
    input_weight_var: float = 1.0
    input_bias_var: float = 0.0
    edge_q: float | None = None

    @property
    def init(self) -> str:
        """``"edge_of_chaos"`` (``edge_q`` set), ``"unit"`` (unit-variance initialization,
        ``weight_var`` derived) or ``"general"`` (``weight_var`` given)."""
        if self.edge_q is not None:
            return "edge_of_chaos"
        return "unit" if self.weight_var is None else "general"

    def canonical(self) -> dict[str, Any]:
        """The setting as a plain dict (``{"edge_of_chaos": q}`` or the four variances, None
        where a default applies); it enters the setting id."""
        if self.edge_q is not None:
            return {"edge_of_chaos": self.edge_q}
        return {
            "weight_var": self.weight_var,
            "bias_var": self.bias_var,
            "input_weight_var": self.input_weight_var,
            "input_bias_var": self.input_bias_var,
        }


def _edge_values(value: Any, where: str) -> list[float]:
    if value is True:
        return [1.0]
    vals = _float_list(value, where)
    for v in vals:
        assert v is not None
        if v <= 0:
            raise InvalidInputError(f"sweep spec: {where} = {v}: the fixed point q must be > 0")
    return [float(v) for v in vals if v is not None]


def _one_variance(item: Any, where: str) -> list[VarianceSetting]:
    if isinstance(item, str):
        word = item.strip().lower().replace("-", "_")
        if word in ("unit", "default", "unit_variance"):
            return [VarianceSetting()]
        if word in ("edge_of_chaos", "eoc"):
            return [VarianceSetting(edge_q=1.0)]
        raise InvalidInputError(
            f"sweep spec: {where} = {item!r}: expected 'unit', 'edge_of_chaos' or a table of "
            f"{', '.join(_VAR_KEYS)}"
        )
    if not isinstance(item, Mapping):
        raise InputTypeError(f"sweep spec: {where} must be a table of variances or 'unit', got {item!r}")
    for k in item:
        if k not in _VAR_KEYS:
            raise InvalidInputError(
                f"sweep spec: unknown key {k!r} in {where}{_close(k, _VAR_KEYS)} "
                f"(accepted: {', '.join(_VAR_KEYS)})"
            )
    if "edge_of_chaos" in item:
        others = [k for k in item if k != "edge_of_chaos"]
        if others:
            raise InvalidInputError(
                f"sweep spec: {where}: edge_of_chaos fixes all variances; it cannot be combined "
                f"with {', '.join(others)}"
            )
        return [VarianceSetting(edge_q=q) for q in _edge_values(item["edge_of_chaos"], f"{where}.edge_of_chaos")]
    grids = {
        "weight_var": _float_list(item.get("weight_var", [None]), f"{where}.weight_var", allow_none=True),
        "bias_var": _float_list(item.get("bias_var", [None]), f"{where}.bias_var", allow_none=True),
        "input_weight_var": _float_list(item.get("input_weight_var", 1.0), f"{where}.input_weight_var"),
        "input_bias_var": _float_list(item.get("input_bias_var", 0.0), f"{where}.input_bias_var"),
    }
    out = []
    for w in grids["weight_var"]:
        for b in grids["bias_var"]:
            for gw in grids["input_weight_var"]:
                for gb in grids["input_bias_var"]:
                    assert gw is not None and gb is not None
                    if gw + gb <= 0:
                        raise InvalidInputError(
                            f"sweep spec: {where}: input_weight_var + input_bias_var must be > 0 "
                            f"(got {gw} + {gb}); the first layer would be identically zero"
                        )
                    out.append(VarianceSetting(w, b, gw, gb))
    return out


def _parse_variances(value: Any) -> list[VarianceSetting]:
    if value is None:
        return [VarianceSetting()]
    if isinstance(value, (str, Mapping)):
        items = [value]
    elif isinstance(value, (list, tuple)):
        if not value:
            raise InvalidInputError("sweep spec: variances is an empty list")
        items = list(value)
    else:
        raise InputTypeError(f"sweep spec: variances must be a table or a list of tables, got {value!r}")
    out: list[VarianceSetting] = []
    for i, item in enumerate(items):
        out.extend(_one_variance(item, "variances" if len(items) == 1 and not isinstance(value, list) else f"variances[{i}]"))
    return list(dict.fromkeys(out))


# ---------------------------------------------------------------------------------- data
@dataclass(frozen=True)
class DataItem:
    """A data item of a sweep: ``kind`` is ``"sphere"`` (``n`` None: the uniform measure, exact
    Funk–Hecke eigenvalues; else ``n`` samples), ``"digits"`` or ``"file"``."""

    kind: str
    d: int | None = None
    n: int | None = None
    seed: int = 0
    path: str | None = None
    sha256: str | None = None
    text: str = ""

    @property
    def has_points(self) -> bool:
        """Gram outputs apply (a finite point set)."""
        return not (self.kind == "sphere" and self.n is None)

    @property
    def sphere_dim(self) -> int | None:
        """Dimension ``d`` of ``S^{d−1}`` for the exact sphere outputs, or None."""
        return self.d if self.kind == "sphere" else None

    def canonical(self) -> str:
        """The data item as a canonical string (``sphere:d=D``, ``sphere:n=N,d=D,seed=S``,
        ``digits[:n=N,seed=S]`` or ``file:PATH#sha256=HASH``); it enters the setting id."""
        if self.kind == "sphere":
            if self.n is None:
                return f"sphere:d={self.d}"
            return f"sphere:n={self.n},d={self.d},seed={self.seed}"
        if self.kind == "digits":
            return "digits" if self.n is None else f"digits:n={self.n},seed={self.seed}"
        return f"file:{self.path}#sha256={self.sha256}"


def _data_options(text: str, prefix: str, where: str, allowed: tuple[str, ...]) -> dict[str, int]:
    rest = text[len(prefix):]
    if not rest:
        return {}
    if not rest.startswith(":"):
        raise InvalidInputError(f"sweep spec: {where} = {text!r}: expected {prefix}:key=value,...")
    out: dict[str, int] = {}
    for part in rest[1:].split(","):
        if not part.strip():
            continue
        k, sep, v = part.partition("=")
        k = k.strip()
        if not sep:
            raise InvalidInputError(f"sweep spec: {where} = {text!r}: cannot parse {part!r}, expected key=value")
        if k not in allowed:
            raise InvalidInputError(
                f"sweep spec: {where} = {text!r}: unknown option {k!r}{_close(k, allowed)} "
                f"(accepted: {', '.join(allowed)})"
            )
        try:
            f = float(v)
        except ValueError:
            raise InvalidInputError(f"sweep spec: {where} = {text!r}: {k} must be an integer, got {v.strip()!r}") from None
        if not f.is_integer():
            raise InvalidInputError(f"sweep spec: {where} = {text!r}: {k} must be an integer, got {v.strip()!r}")
        out[k] = int(f)
    return out


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _parse_data_item(item: Any, where: str, base_dir: Path | None) -> DataItem:
    if _is_int(item):
        item = f"sphere:d={item}"
    if not isinstance(item, str):
        raise InputTypeError(
            f"sweep spec: {where} must be a string ('sphere:d=3', 'sphere:n=1000,d=10', 'digits' or a "
            f"file path), got {item!r}"
        )
    text = item.strip()
    if text.startswith("sphere") and (len(text) == 6 or text[6] == ":"):
        o = _data_options(text, "sphere", where, ("n", "d", "seed"))
        if "d" not in o:
            raise InvalidInputError(f"sweep spec: {where} = {item!r}: sphere data needs d (e.g. 'sphere:d=3')")
        if o["d"] < 2 or o["d"] > 1_000_000:
            raise InvalidInputError(f"sweep spec: {where} = {item!r}: d must be between 2 and 1000000 (S^(d-1) in R^d)")
        n = o.get("n")
        if n is not None and not (2 <= n <= 1_000_000):
            raise InvalidInputError(f"sweep spec: {where} = {item!r}: n must be between 2 and 1000000")
        return DataItem("sphere", d=o["d"], n=n, seed=o.get("seed", 0), text=text)
    if text.startswith("digits") and (len(text) == 6 or text[6] == ":"):
        o = _data_options(text, "digits", where, ("n", "seed"))
        n = o.get("n")
        if n is not None and not (2 <= n <= 1797):
            raise InvalidInputError(f"sweep spec: {where} = {item!r}: digits has 1797 images; n must be in 2..1797")
        return DataItem("digits", d=64, n=n, seed=o.get("seed", 0), text=text)
    p = Path(os.path.expanduser(text))
    if not p.is_absolute() and base_dir is not None and not p.exists():
        p = base_dir / p
    if not p.is_file():
        raise InvalidInputError(
            f"sweep spec: {where} = {item!r}: no such data file (expected 'sphere:d=D', "
            "'sphere:n=N,d=D', 'digits[:n=N]' or a .npy/.csv file)"
        )
    if p.suffix.lower() not in (".npy", ".csv", ".txt", ".tsv"):
        raise InvalidInputError(f"sweep spec: {where} = {item!r}: unsupported data file type {p.suffix!r} (use .npy or .csv)")
    return DataItem("file", path=str(p.resolve()), sha256=_file_sha256(p), text=text)


# ---------------------------------------------------------------------------------- activations
def _parse_activation(item: Any, where: str) -> str:
    from .registry import get_activation

    if isinstance(item, Mapping):
        if "name" not in item:
            raise InvalidInputError(f"sweep spec: {where} = {dict(item)!r}: an activation table needs a name")
        name = item["name"]
        params = dict(item.get("params", {}))
        extra = {k: v for k, v in item.items() if k not in ("name", "params")}
        params.update(extra)
        if not isinstance(name, str):
            raise InputTypeError(f"sweep spec: {where}.name must be a string, got {name!r}")
        try:
            act = get_activation(name, **params)
        except UnknownActivationError as err:
            raise UnknownActivationError(f"sweep spec: {where}: {err}") from None
        except NtkrsError as err:
            raise type(err)(f"sweep spec: {where}: {err}") from None
        return act.label
    if not isinstance(item, str):
        raise InputTypeError(f"sweep spec: {where} must be an activation name such as 'relu' or "
                             f"'leaky_relu(slope=0.1)', got {item!r}")
    try:
        act = get_activation(item)
    except UnknownActivationError as err:
        raise UnknownActivationError(f"sweep spec: {where}: {err}") from None
    except NtkrsError as err:
        raise type(err)(f"sweep spec: {where} = {item!r}: {err}") from None
    return act.label


# ---------------------------------------------------------------------------------- spec
@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep: the grid axes, the outputs and their options.

    Build one with :meth:`from_dict`, :meth:`from_file` or :func:`load_spec`; ``len(spec)`` is
    the number of settings.
    """

    activations: tuple[str, ...]
    depths: tuple[int, ...]
    variances: tuple[VarianceSetting, ...]
    degrees: tuple[int, ...]
    data: tuple[DataItem | None, ...]
    outputs: tuple[str, ...]
    sphere_k: int = 50
    sphere_fit: tuple[int, int] | None = None
    gram_k: int = 10
    gram_smallest: bool = False
    table1_terms: int = 6
    coeff_fit: tuple[int, int] | None = None
    name: str = ""
    description: str = ""
    source: str = field(default="", compare=False)

    def __len__(self) -> int:
        return len(self.activations) * len(self.depths) * len(self.variances) * len(self.degrees) * len(self.data)

    # -------------------------------------------------------------- constructors
    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, base_dir: str | os.PathLike[str] | None = None,
                  source: str = "") -> "SweepSpec":
        """Validate a spec given as a mapping (the TOML/JSON structure)."""
        if not isinstance(d, Mapping):
            raise InputTypeError(f"a sweep spec must be a table/dict, got {type(d).__name__}")
        norm: dict[str, Any] = {}
        for key, value in d.items():
            if not isinstance(key, str) or key not in _TOP_KEYS:
                raise InvalidInputError(
                    f"sweep spec: unknown key {key!r}{_close(key, _TOP_KEYS)} "
                    f"(accepted: {', '.join(sorted(set(_TOP_KEYS.values())))})"
                )
            canon = _TOP_KEYS[key]
            if canon in norm:
                raise InvalidInputError(f"sweep spec: {canon!r} is given twice (as {key!r})")
            norm[canon] = value
        base = Path(base_dir) if base_dir is not None else None

        # activations
        acts = norm.get("activations")
        if acts is None:
            raise InvalidInputError("sweep spec: 'activations' is required (e.g. activations = ['relu', 'tanh'])")
        if isinstance(acts, (str, Mapping)):
            acts = [acts]
        if not isinstance(acts, (list, tuple)) or not acts:
            raise InputTypeError(f"sweep spec: activations must be a non-empty list, got {acts!r}")
        labels = list(dict.fromkeys(_parse_activation(a, f"activations[{i}]") for i, a in enumerate(acts)))

        if "depth" not in norm:
            raise InvalidInputError("sweep spec: 'depth' is required (number of hidden layers, e.g. depth = '1-10')")
        depths = parse_int_list(norm["depth"], "depth", lo=1, hi=MAX_DEPTH)
        from .activation import MAX_DEGREE

        degrees = parse_int_list(norm.get("degree", 100), "degree", lo=1, hi=MAX_DEGREE)
        variances = _parse_variances(norm.get("variances"))

        # data
        items: list[DataItem] = []
        raw = norm.get("data")
        if raw is not None:
            raw_list = raw if isinstance(raw, (list, tuple)) else [raw]
            if not raw_list:
                raise InvalidInputError("sweep spec: data is an empty list")
            for i, it in enumerate(raw_list):
                items.append(_parse_data_item(it, f"data[{i}]" if isinstance(raw, (list, tuple)) else "data", base))
        if "sphere_dim" in norm:
            for d_ in parse_int_list(norm["sphere_dim"], "sphere_dim", lo=2, hi=1_000_000):
                items.append(DataItem("sphere", d=d_, text=f"sphere:d={d_}"))
        uniq: dict[str, DataItem] = {}
        for it in items:
            uniq.setdefault(it.canonical(), it)
        data: list[DataItem | None] = list(uniq.values()) or [None]

        # outputs
        outs_raw = norm.get("outputs")
        has_sphere = any(it is not None and it.sphere_dim is not None for it in data)
        has_points = any(it is not None and it.has_points for it in data)
        if outs_raw is None:
            outputs = list(DEFAULT_OUTPUTS) + (["sphere"] if has_sphere else []) + (["gram"] if has_points else [])
        else:
            if isinstance(outs_raw, str):
                outs_raw = [s for s in outs_raw.split(",") if s.strip()]
            if not isinstance(outs_raw, (list, tuple)) or not outs_raw:
                raise InputTypeError(f"sweep spec: outputs must be a non-empty list of names, got {outs_raw!r}")
            outputs = []
            for i, o in enumerate(outs_raw):
                if not isinstance(o, str):
                    raise InputTypeError(f"sweep spec: outputs[{i}] must be a string, got {o!r}")
                key = o.strip().lower()
                key = _OUTPUT_ALIASES.get(key, key)
                if key not in OUTPUTS:
                    raise InvalidInputError(
                        f"sweep spec: unknown output {o!r}{_close(o, OUTPUTS)} (accepted: {', '.join(OUTPUTS)})"
                    )
                outputs.append(key)
            outputs = list(dict.fromkeys(outputs))
            if "sphere" in outputs and not has_sphere:
                raise InvalidInputError(
                    "sweep spec: output 'sphere' needs a sphere data item (sphere_dim = 3 or data = 'sphere:d=3')"
                )
            if "gram" in outputs and not has_points:
                raise InvalidInputError(
                    "sweep spec: output 'gram' needs a dataset (data = 'digits', 'sphere:n=1000,d=10' or a file)"
                )
        # keep the canonical order
        outputs = [o for o in OUTPUTS if o in outputs]

        def int_opt(key: str, default: int, lo: int, hi: int) -> int:
            v = norm.get(key, default)
            if not _is_int(v):
                raise InputTypeError(f"sweep spec: {key} must be an integer, got {v!r}")
            if not lo <= v <= hi:
                raise InvalidInputError(f"sweep spec: {key} = {v}: must be between {lo} and {hi}")
            return int(v)

        sphere_k = int_opt("sphere_k", 50, 0, MAX_SPHERE_K)
        gram_k = int_opt("gram_k", 10, 1, 100_000)
        table1_terms = int_opt("table1_terms", 6, 1, 10_000)
        gram_smallest = norm.get("gram_smallest", False)
        if not isinstance(gram_smallest, bool):
            raise InputTypeError(f"sweep spec: gram_smallest must be true or false, got {gram_smallest!r}")

        def pair(key: str, lo: int, hi: int, what: str) -> tuple[int, int] | None:
            v = norm.get(key)
            if v is None:
                return None
            if isinstance(v, str):
                m = _RANGE_RE.match(v)
                if not m or m.group(3):
                    raise InvalidInputError(f"sweep spec: {key} = {v!r}: expected 'LO-HI' or [LO, HI]")
                v = [int(m.group(1)), int(m.group(2))]
            if not isinstance(v, (list, tuple)) or len(v) != 2 or not all(_is_int(x) for x in v):
                raise InputTypeError(f"sweep spec: {key} must be [LO, HI] (two integers), got {v!r}")
            a, b = int(v[0]), int(v[1])
            if a < lo or b > hi or b - a < 2:
                raise InvalidInputError(
                    f"sweep spec: {key} = [{a}, {b}]: need {lo} <= LO and HI <= {hi} ({what}) with at least "
                    "3 points"
                )
            return a, b

        if "table1" in outputs and table1_terms - 1 > min(degrees):
            raise InvalidInputError(
                f"sweep spec: table1_terms = {table1_terms} needs degree >= {table1_terms - 1}, "
                f"but the smallest degree is {min(degrees)}"
            )
        coeff_fit = pair("coeff_fit", 1, min(degrees), "the smallest degree")
        sphere_fit = pair("sphere_fit", 1, sphere_k, "sphere_k")
        if "sphere" in outputs and sphere_k < 2 and sphere_fit is None:
            pass  # no decay fit possible; the rate column stays empty
        if "gram" in outputs:
            for it in data:
                if it is not None and it.has_points and it.n is not None and gram_k >= it.n:
                    raise InvalidInputError(
                        f"sweep spec: gram_k = {gram_k} must be < the number of points n = {it.n} of {it.text!r}"
                    )
        for key in ("name", "description"):
            if key in norm and not isinstance(norm[key], str):
                raise InputTypeError(f"sweep spec: {key} must be a string, got {norm[key]!r}")
        spec = cls(
            activations=tuple(labels),
            depths=tuple(depths),
            variances=tuple(variances),
            degrees=tuple(degrees),
            data=tuple(data),
            outputs=tuple(outputs),
            sphere_k=sphere_k,
            sphere_fit=sphere_fit,
            gram_k=gram_k,
            gram_smallest=gram_smallest,
            table1_terms=table1_terms,
            coeff_fit=coeff_fit,
            name=str(norm.get("name", "")),
            description=str(norm.get("description", "")),
            source=source,
        )
        if len(spec) > MAX_GRID:
            raise InvalidInputError(f"sweep spec: {len(spec)} settings is too many (at most {MAX_GRID})")
        return spec

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> "SweepSpec":
        """Read a ``.toml`` or ``.json`` spec file."""
        p = Path(path)
        if not p.is_file():
            raise InvalidInputError(f"sweep spec file {str(p)!r} does not exist")
        suffix = p.suffix.lower()
        try:
            if suffix == ".toml":
                try:
                    import tomllib  # type: ignore[import-not-found]
                except ImportError:  # Python 3.10
                    try:
                        import tomli as tomllib  # type: ignore[no-redef]
                    except ImportError:
                        raise InvalidInputError("TOML sweep specs need Python >= 3.11 or `pip install tomli`") from None
                with open(p, "rb") as fh:
                    d = tomllib.load(fh)
            elif suffix == ".json":
                with open(p, encoding="utf-8") as fh:
                    d = json.load(fh)
            else:
                raise InvalidInputError(f"sweep spec file {str(p)!r}: use a .toml or .json file")
        except InvalidInputError:
            raise
        except (ValueError, OSError) as exc:  # tomllib.TOMLDecodeError and JSONDecodeError are ValueErrors
            raise InvalidInputError(f"cannot read sweep spec {str(p)!r}: {exc}") from None
        return cls.from_dict(d, base_dir=p.parent, source=str(p))

    # -------------------------------------------------------------- canonical form
    def options(self) -> dict[str, Any]:
        """The output options that enter every setting id."""
        return {
            "outputs": list(self.outputs),
            "sphere_k": self.sphere_k,
            "sphere_fit": None if self.sphere_fit is None else list(self.sphere_fit),
            "gram_k": self.gram_k,
            "gram_smallest": self.gram_smallest,
            "table1_terms": self.table1_terms,
            "coeff_fit": None if self.coeff_fit is None else list(self.coeff_fit),
        }

    def to_dict(self) -> dict[str, Any]:
        """A plain dict that :meth:`from_dict` accepts (file data items by absolute path)."""
        d: dict[str, Any] = {
            "activations": list(self.activations),
            "depth": list(self.depths),
            "degree": list(self.degrees),
            "variances": [
                {"edge_of_chaos": v.edge_q} if v.edge_q is not None else
                {k: x for k, x in v.canonical().items() if x is not None}
                for v in self.variances
            ],
            "outputs": list(self.outputs),
            "sphere_k": self.sphere_k,
            "gram_k": self.gram_k,
            "gram_smallest": self.gram_smallest,
            "table1_terms": self.table1_terms,
        }
        data = [(it.path if it.kind == "file" else it.canonical()) for it in self.data if it is not None]
        if data:
            d["data"] = data
        if self.sphere_fit is not None:
            d["sphere_fit"] = list(self.sphere_fit)
        if self.coeff_fit is not None:
            d["coeff_fit"] = list(self.coeff_fit)
        if self.name:
            d["name"] = self.name
        if self.description:
            d["description"] = self.description
        return d


def setting_id(canonical: Mapping[str, Any]) -> str:
    """Stable id of a setting: the first 20 hex digits of the SHA-256 of its canonical JSON
    (sorted keys, exact float reprs)."""
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def load_spec(spec: Any) -> SweepSpec:
    """A :class:`SweepSpec` from a spec object, a mapping, or a path to a TOML/JSON file."""
    if isinstance(spec, SweepSpec):
        return spec
    if isinstance(spec, Mapping):
        return SweepSpec.from_dict(spec)
    if isinstance(spec, (str, os.PathLike)):
        return SweepSpec.from_file(spec)
    raise InputTypeError(
        f"spec must be a dict, a SweepSpec or a path to a .toml/.json file, got {type(spec).__name__}"
    )
