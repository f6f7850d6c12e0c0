"""The ``ntkrs`` command line.

User errors (unknown activation, bad parameter, invalid number) print one line to stderr and
exit with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from typing import Any, Sequence

import numpy as np

from .json_values import json_default
from . import __version__
from .errors import DomainError, NtkrsError
from .registry import activation_info, activations, get_activation, plugin_errors

EXIT_USER_ERROR = 2


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    return value


def _print_table(rows: list[list[str]], header: list[str], out: Any) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    out.write("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip() + "\n")
    out.write("  ".join("-" * w for w in widths) + "\n")
    for r in rows:
        out.write("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() + "\n")


def cmd_activations(args: argparse.Namespace) -> int:
    rows = []
    records = []
    for name in activations():
        info = activation_info(name)
        act = get_activation(name)
        params = ", ".join(f"{k}={list(v) if isinstance(v, tuple) else v}" for k, v in act.params.items())
        rows.append([name, params or "-", info.plugin, act.kind, info.spec.description])
        records.append(
            {
                "name": name,
                "params": {k: list(v) if isinstance(v, tuple) else v for k, v in act.params.items()},
                "plugin": info.plugin,
                "kind": act.kind,
                "kinks": list(act.kinks),
                "aliases": list(info.spec.aliases),
                "description": info.spec.description,
            }
        )
    if args.json:
        json.dump({"activations": records, "plugin_errors": [str(e) for e in plugin_errors()]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print_table(rows, ["name", "parameters", "plugin", "coefficients", "phi(x)"], sys.stdout)
        for err in plugin_errors():
            sys.stdout.write(f"skipped: {err}\n")
    return 0


def cmd_hermite(args: argparse.Namespace) -> int:
    act = get_activation(args.activation)
    result = act.hermite_with_error(args.degree, args.q)
    mu = np.asarray(result.mu)
    if args.json:
        payload = {
            "activation": act.label,
            "plugin": act.source,
            "kind": act.kind,
            "q": args.q,
            "degree": args.degree,
            "mu": mu.tolist(),
            "error_estimate": result.error,
            "second_moment": result.second_moment,
            "tail_mass": result.tail_mass,
        }
        json.dump(payload, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    out = sys.stdout
    out.write(f"# Hermite coefficients mu_k = E[phi(sqrt(q) Z) h_k(Z)] of {act.label}, q = {args.q}\n")
    out.write(f"# computed by: {act.kind} ({act.source}); estimated max abs error {result.error:.2e}\n")
    out.write(f"# E[phi^2] = {result.second_moment:.16g}; sum_(k>{args.degree}) mu_k^2 <= {result.tail_mass:.3e}\n")
    _print_table([[str(k), f"{v: .16e}"] for k, v in enumerate(mu)], ["k", "mu_k"], out)
    return 0


def _network_from_args(args: argparse.Namespace):
    from .network import Network

    return Network(
        args.activation,
        args.depth,
        weight_var=args.weight_var,
        bias_var=args.bias_var,
        input_weight_var=args.input_weight_var,
        input_bias_var=args.input_bias_var,
    )


def _add_network_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("activation", help="NAME or NAME(param=value,...), e.g. 'erf(scale=2)'")
    p.add_argument("--depth", "-L", type=int, required=True, help="number of hidden layers (>= 1)")
    p.add_argument("--weight-var", type=float, default=None, help="sigma_w^2 of the later layers (default: unit variance)")
    p.add_argument("--bias-var", type=float, default=None, help="sigma_b^2 of the later layers (default 0)")
    p.add_argument("--input-weight-var", type=float, default=1.0, help="gamma_w^2 of the first layer (default 1)")
    p.add_argument("--input-bias-var", type=float, default=0.0, help="gamma_b^2 of the first layer (default 0)")


def cmd_coeffs(args: argparse.Namespace) -> int:
    net = _network_from_args(args)
    ntk_ok = True
    try:
        series = net.series(args.degree)
    except DomainError:  # the NTK is infinite (e.g. step); the NNGP still exists
        ntk_ok = False
        series = net.series(args.degree, ntk=False)
    nngp = np.asarray(series.nngp)
    ntk = np.asarray(series.ntk) if ntk_ok else None
    share = series.partial_sums() * 100 if ntk_ok else None
    if args.json:
        payload = {
            "network": repr(net),
            "activation": net.activation.label,
            "depth": net.depth,
            "weight_var": net.weight_var,
            "bias_var": net.bias_var,
            "input_weight_var": net.input_weight_var,
            "input_bias_var": net.input_bias_var,
            "degree": args.degree,
            "ntk": None if ntk is None else ntk.tolist(),
            "nngp": nngp.tolist(),
            "ntk_at_one": series.ntk_at_one,
            "nngp_at_one": series.nngp_at_one,
            "ntk_percent_of_theta1": None if share is None else share.tolist(),
            "ntk_truncation_bound": series.truncation_bound,
            "nngp_truncation_bound": series.nngp_truncation_bound,
            "variances": np.asarray(series.variances).tolist(),
        }
        json.dump(payload, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if args.csv:
        w = csv.writer(sys.stdout)
        w.writerow(["p", "ntk", "nngp", "ntk_percent_of_theta1"])
        for p in range(args.degree + 1):
            w.writerow([p, "" if ntk is None else repr(float(ntk[p])), repr(float(nngp[p])),
                        "" if share is None else repr(float(share[p]))])
        return 0
    out = sys.stdout
    out.write(f"# {net!r}\n")
    if ntk_ok:
        out.write(f"# Theta(1) = {series.ntk_at_one:.16g}   NNGP(1) = {series.nngp_at_one:.16g}\n")
        out.write(f"# truncation bound (sup over [-1,1]): NTK {series.truncation_bound:.3e}   NNGP {series.nngp_truncation_bound:.3e}\n")
    else:
        out.write(f"# NTK is infinite for {net.activation.label} (its derivative is not square integrable); NNGP only\n")
        out.write(f"# NNGP(1) = {series.nngp_at_one:.16g}; truncation bound {series.nngp_truncation_bound:.3e}\n")
    rows = []
    for p in range(args.degree + 1):
        rows.append([
            str(p),
            "-" if ntk is None else f"{ntk[p]:.16e}",
            f"{nngp[p]:.16e}",
            "-" if share is None else f"{share[p]:.6f}",
        ])
    _print_table(rows, ["p", "kappa_p (NTK)", "nu_p (NNGP)", "% of Theta(1) in kappa_0..p"], out)
    return 0


def _load_data(spec: str) -> tuple[np.ndarray, str]:
    """``PATH`` (.npy/.csv; each row is projected onto the unit sphere),
    ``sphere:n=N,d=D[,seed=S]`` or ``digits[:n=N]``."""
    from .data import load_digits, load_points, sample_sphere
    from .errors import InvalidInputError

    if spec.startswith("sphere"):
        opts = _options(spec, "sphere")
        if "n" not in opts or "d" not in opts:
            raise InvalidInputError("sphere data needs n and d, e.g. sphere:n=1000,d=10")
        X = sample_sphere(int(opts["n"]), int(opts["d"]), seed=int(opts.get("seed", 0)))
        return X, f"uniform sphere S^{int(opts['d']) - 1}, n={int(opts['n'])}"
    if spec.startswith("digits"):
        opts = _options(spec, "digits")
        n = int(opts["n"]) if "n" in opts else None
        X, _ = load_digits(n, seed=int(opts.get("seed", 0)))
        return X, f"scikit-learn digits (centred rows, unit norm), n={X.shape[0]}"
    X = load_points(spec, normalize=True)
    return X, f"{spec} (rows projected to the unit sphere, n={X.shape[0]}, d={X.shape[1]})"


def _options(spec: str, prefix: str) -> dict[str, float]:
    from .errors import InvalidInputError

    rest = spec[len(prefix):]
    if not rest:
        return {}
    if not rest.startswith(":"):
        raise InvalidInputError(f"cannot parse data spec {spec!r}: expected {prefix}:key=value,...")
    out: dict[str, float] = {}
    for item in rest[1:].split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidInputError(f"cannot parse {item!r} in data spec {spec!r}: expected key=value")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            raise InvalidInputError(f"{key.strip()} in data spec {spec!r} must be a number, got {value!r}") from None
        if key.strip() in ("n", "d", "seed") and not out[key.strip()].is_integer():
            raise InvalidInputError(f"{key.strip()} in data spec {spec!r} must be an integer, got {value!r}")
    return out


def cmd_gram(args: argparse.Namespace) -> int:
    from .progress import Progress

    prog = Progress(args.quiet)
    net = _network_from_args(args)
    X, desc = _load_data(args.data)
    dtype = np.float32 if args.dtype == "float32" else np.float64
    with prog.stage(f"{args.kind.upper()} Gram {X.shape[0]}x{X.shape[0]} of {desc}"):
        K = (net.ntk if args.kind == "ntk" else net.nngp)(X, method=args.method, dtype=dtype)
    try:
        np.save(args.out, K, allow_pickle=False)
    except OSError as exc:
        from .errors import InvalidInputError

        raise InvalidInputError(f"cannot write {args.out!r}: {exc.strerror or exc}") from None
    sys.stdout.write(f"wrote {args.out}: {K.shape[0]}x{K.shape[1]} {K.dtype} ({net!r})\n")
    return 0


def cmd_spectrum(args: argparse.Namespace) -> int:
    from .progress import Progress
    from .spectrum import spectrum_report

    prog = Progress(args.quiet or args.json)
    net = _network_from_args(args)
    if args.plot:
        _require_matplotlib()
    with prog.stage("loading data"):
        X, desc = _load_data(args.data)
    with prog.stage(f"top-{args.k} eigenvalues of the {X.shape[0]}x{X.shape[0]} {args.kind.upper()} Gram"
                    + (" (matrix-free)" if args.matrix_free else "")):
        rep = spectrum_report(net, X, k=args.k, kind=args.kind, matrix_free=args.matrix_free,
                              smallest=not args.matrix_free)
    if args.plot:
        with prog.stage(f"plot {args.plot}"):
            _plot_spectrum(rep, net, desc, args.plot)
    if args.json:
        payload = {"network": repr(net), "data": desc, **rep}
        json.dump(payload, sys.stdout, indent=2, default=json_default)
        sys.stdout.write("\n")
        return 0
    out = sys.stdout
    out.write(f"# {net!r}\n# data: {desc}\n")
    out.write(f"# {rep['kind'].upper()}(1) = {rep['kernel_at_one']:.10g}   Tr K = {rep['trace']:.10g}\n\n")
    rows = [[str(i + 1), f"{v:.10e}", f"{v / rep['lambda_1']:.6e}", f"{g:.6e}", f"{g / rep['input_lambda_1']:.6e}"]
            for i, (v, g) in enumerate(zip(rep["eigenvalues"], rep["input_eigenvalues"]))]
    _print_table(rows, ["i", "lambda_i(K)", "lambda_i/lambda_1", "lambda_i(XX^T)", "normalized"], out)
    out.write("\n")
    out.write(f"effective rank r(K) = Tr K / lambda_1 = {rep['effective_rank']:.6g}    r(XX^T) = {rep['input_effective_rank']:.6g}\n")
    if rep["smallest_eigenvalue"] is not None:
        out.write(f"smallest eigenvalue lambda_n(K) = {rep['smallest_eigenvalue']:.6e}\n")
    t41, t43 = rep["theorem_4_1"], rep["theorem_4_3"]
    out.write(f"Theorem 4.1: lambda_1 = {t41['lambda_1']:.6g} >= kappa_0 n = {t41['kappa_0_n']:.6g}  [{'holds' if t41['holds'] else 'VIOLATED'}]\n")
    out.write(f"Theorem 4.3: lambda_1 >= kappa_1 lambda_1(XX^T) = {t43['lambda_1_lower_bound']:.6g};  "
              f"r(K) = {t43['effective_rank']:.6g} <= (sum kappa / kappa_1) r(XX^T) = {t43['effective_rank_upper_bound']:.6g}"
              f"  [{'holds' if t43['holds'] else 'VIOLATED'}]\n")
    out.write("Hadamard-power rank bound: lambda_{R(P)+1}(K) <= n sum_{p>P} kappa_p, R(P) = C(P+d, d)\n")
    hrows = [[str(h["P"]), str(h["rank_R"]), f"{h['upper_bound']:.4e}",
              f"{h['eigenvalue']:.4e}" if "eigenvalue" in h else "-"] for h in rep["hadamard_rank_bound"]]
    _print_table(hrows, ["P", "R(P)", "bound on lambda_{R+1}", "lambda_{R+1} (if computed)"], out)
    if args.plot:
        out.write(f"\nplot written to {args.plot}\n")
    return 0


def _require_matplotlib() -> Any:
    from .errors import InvalidInputError

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InvalidInputError("--plot needs matplotlib: pip install 'ntkrs[plot]'") from None
    return plt


def _plot_spectrum(rep: dict, net: Any, desc: str, path: str) -> None:
    plt = _require_matplotlib()
    lam = np.asarray(rep["eigenvalues"])
    g = np.asarray(rep["input_eigenvalues"])
    i = np.arange(1, lam.size + 1)
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    ax.loglog(i, lam / lam[0], "o-", ms=3, label=f"{rep['kind'].upper()} Gram, depth {net.depth}")
    pos = g > 0
    ax.loglog(i[pos], g[pos] / g[0], "s--", ms=3, label="input Gram XXᵀ")
    ax.set_xlabel("index i")
    ax.set_ylabel("λ_i / λ_1")
    ax.set_title(f"{net.activation.label}: normalized eigenvalues\n{desc}", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def cmd_sphere(args: argparse.Namespace) -> int:
    from .progress import Progress

    prog = Progress(args.quiet or args.json)
    net = _network_from_args(args)
    if args.plot:
        _require_matplotlib()
    with prog.stage(f"Funk-Hecke {args.kind.upper()} eigenvalues on S^{args.dim - 1}, k <= {args.max_degree}"):
        spec = net.sphere_eigenvalues(args.dim, args.max_degree, kind=args.kind, degree=args.degree)
    fitted = None
    fit_range = None
    if args.max_degree >= 2:
        k_lo = args.fit_min if args.fit_min is not None else max(1, (args.max_degree + 1) // 2)
        k_hi = args.max_degree
        try:
            fitted, _ = spec.fit_decay(k_lo, k_hi)
            fit_range = [k_lo, k_hi]
        except NtkrsError:
            if args.fit_min is not None:
                raise
            fitted = None
    predicted = spec.predicted_exponent
    if args.plot:
        with prog.stage(f"plot {args.plot}"):
            _plot_sphere(spec, net, args.plot, fitted, fit_range)
    if args.json:
        payload = {"network": repr(net), **spec.to_dict(), "fitted_exponent": fitted,
                   "fit_range": fit_range, "predicted_exponent": predicted}
        chk = spec.check_sum()
        payload["check_sum"] = {k: getattr(chk, k) for k in chk.__dataclass_fields__}
        json.dump(payload, sys.stdout, indent=2, default=float)
        sys.stdout.write("\n")
        return 0
    out = sys.stdout
    out.write(f"# {net!r}\n")
    out.write(f"# {args.kind.upper()} integral operator on the uniform sphere S^{args.dim - 1} in R^{args.dim} "
              f"(probability measure); series degree P = {spec.series_degree}\n")
    out.write("# lambda_k = sum_(p>=k, p=k mod 2) kappa_p lambda_k(rho^p); n uniform samples: Gram eigenvalues ~ n lambda_k\n")
    rows = []
    for k in range(spec.max_degree + 1):
        m = spec.multiplicities[k]
        mult = f"{int(m)}" if np.isfinite(m) and m < 2.0**53 else f"{m:.6e}"
        rows.append([str(k), f"{spec.eigenvalues[k]:.12e}", mult, f"{spec.errors[k]:.2e}"])
    _print_table(rows, ["k", "lambda_k", "N(d,k)", "error"], out)
    out.write("\n")
    for f in spec.tail_fits:
        par = "even" if f["parity"] == 0 else "odd"
        if f["kind"] == "power_law":
            out.write(f"tail (p > P, {par} p): power law kappa_p ~ p^-{f['exponent']:.6f} (fit residual {f['residual']:.1e})\n")
        else:
            out.write(f"tail (p > P, {par} p): {f['kind']}\n")
    if fitted is not None:
        out.write(f"fitted decay on k in [{fit_range[0]}, {fit_range[1]}]: lambda_k ~ k^-{fitted:.4f}\n")
    if predicted is not None:
        out.write(f"predicted: kappa_p ~ p^-a => lambda_k ~ k^-(d+2a-3) = k^-{predicted:.4f}\n")
    else:
        out.write("predicted: coefficients not power-law (faster than polynomial decay)\n")
    chk = spec.check_sum()
    out.write(f"sum_(k<={spec.max_degree}) N(d,k) lambda_k = {chk.total:.12g}  vs  f(1) = {chk.f_at_one:.12g} "
              f"(spectral tail k > {spec.max_degree}: {chk.missing:.3e})\n")
    if args.plot:
        out.write(f"plot written to {args.plot}\n")
    return 0


def _plot_sphere(spec: Any, net: Any, path: str, fitted: float | None, fit_range: list[int] | None) -> None:
    plt = _require_matplotlib()
    k = np.arange(1, spec.max_degree + 1)
    lam = spec.eigenvalues[1:]
    pos = lam > 0
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    even = pos & (k % 2 == 0)
    odd = pos & (k % 2 == 1)
    ax.loglog(k[even], lam[even], "o", ms=3, label="λ_k, k even")
    ax.loglog(k[odd], lam[odd], "s", ms=3, label="λ_k, k odd")
    if fitted is not None and fit_range is not None:
        kk = np.arange(fit_range[0], fit_range[1] + 1)
        sel = spec.eigenvalues[kk] > 0
        if np.any(sel):
            c = np.exp(np.mean(spec.log_eigenvalues[kk][sel] + fitted * np.log(kk[sel])))
            ax.loglog(kk, c * kk ** (-fitted), "k--", lw=1, label=f"fit k^-{fitted:.3f}")
    ax.set_xlabel("degree k")
    ax.set_ylabel("λ_k")
    ax.set_title(f"{net.activation.label}, depth {net.depth}: {spec.kind.upper()} on S^{spec.dim - 1}", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def cmd_reproduce(args: argparse.Namespace) -> int:
    """Thin wrapper over :func:`ntkrs.reproduce.reproduce`."""
    from .reproduce import reproduce

    index = reproduce(args.out, quick=args.quick, quiet=args.quiet or args.json, seed=args.seed)
    if args.json:
        json.dump(index, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    from .reproduce import format_summary

    sys.stdout.write(format_summary(index, args.out))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Thin wrapper over :func:`ntkrs.report.write_report`."""
    from .progress import Progress
    from .report import parse_depths, write_report

    net = _network_from_args(args)
    depths = parse_depths(args.depths)
    X, desc = _load_data(args.data)

    def factory(depth: int):
        return _network_from_args(argparse.Namespace(**{**vars(args), "depth": depth}))

    path = write_report(net, X, args.out, title=args.title, data_description=desc, kind=args.kind, k=args.k,
                        depths=depths, network_factory=factory, progress=Progress(args.quiet))
    sys.stdout.write(f"wrote {path} ({net!r}; data: {desc})\n")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    """Thin wrapper over :func:`ntkrs.sweep.run_cli` (spec, engine and storage live there)."""
    from .sweep import run_cli

    return run_cli(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ntkrs",
        description="Neural Tangent Kernels of deep fully-connected networks as exact power series.",
    )
    parser.add_argument("--version", action="version", version=f"ntkrs {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("activations", help="list registered activations and where they come from")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_activations)

    p = sub.add_parser("hermite", help="Hermite coefficients of an activation")
    p.add_argument("activation", help="NAME or NAME(param=value,...), e.g. 'leaky_relu(slope=0.2)'")
    p.add_argument("--degree", "-K", type=int, default=10, help="highest index K (default 10)")
    p.add_argument("--q", type=_positive_float, default=1.0, help="scale: coefficients of phi(sqrt(q) z) (default 1)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_hermite)

    p = sub.add_parser("coeffs", help="NTK and NNGP power-series coefficients of a network")
    _add_network_args(p)
    p.add_argument("--degree", "-P", type=int, default=10, help="highest power of rho (default 10)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="machine-readable output")
    fmt.add_argument("--csv", action="store_true", help="CSV table on stdout")
    p.set_defaults(func=cmd_coeffs)

    data_help = "PATH (.npy/.csv, rows projected to the sphere), sphere:n=N,d=D[,seed=S], or digits[:n=N]"
    p = sub.add_parser("gram", help="evaluate an NTK/NNGP Gram matrix and save it as .npy")
    _add_network_args(p)
    p.add_argument("--data", required=True, help=data_help)
    p.add_argument("--out", "-o", required=True, help="output .npy file")
    p.add_argument("--kind", choices=["ntk", "nngp"], default="ntk")
    p.add_argument("--method", choices=["exact", "series"], default="exact")
    p.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=cmd_gram)

    p = sub.add_parser("spectrum", help="top eigenvalues, effective ranks and the paper's bounds on a dataset")
    _add_network_args(p)
    p.add_argument("--data", required=True, help=data_help)
    p.add_argument("--k", type=int, default=20, help="number of top eigenvalues (default 20)")
    p.add_argument("--kind", choices=["ntk", "nngp"], default="ntk")
    p.add_argument("--matrix-free", action="store_true", help="never store the Gram (large n)")
    p.add_argument("--plot", metavar="PNG", help="write the normalized eigenvalue decay beside the input Gram's")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=cmd_spectrum)

    p = sub.add_parser("sphere", help="exact (Funk-Hecke) eigenvalues on the uniform sphere, multiplicities, decay")
    _add_network_args(p)
    p.add_argument("--dim", "-d", type=int, required=True, help="ambient dimension d: the sphere S^(d-1) in R^d (>= 2)")
    p.add_argument("--max-degree", "-K", type=int, required=True, help="highest spherical-harmonic degree k")
    p.add_argument("--kind", choices=["ntk", "nngp"], default="ntk")
    p.add_argument("--degree", "-P", type=int, default=None, help="series degree P (default: automatic from K and d)")
    p.add_argument("--fit-min", type=int, default=None, help="lowest k of the decay fit (default: K/2)")
    p.add_argument("--plot", metavar="PNG", help="write lambda_k vs k on log-log axes")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=cmd_sphere)

    p = sub.add_parser("reproduce", help="the paper's Table 1 and figures (PNG + CSV/JSON) into a directory")
    p.add_argument("--out", "-o", default="ntkrs-reproduce", help="output directory (default ntkrs-reproduce)")
    p.add_argument("--quick", action="store_true", help="small sizes (seconds; for CI)")
    p.add_argument("--seed", type=int, default=0, help="seed of data subsets, samples and random networks")
    p.add_argument("--json", action="store_true", help="print index.json instead of the summary")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser("report", help="self-contained HTML report: coefficient and eigenvalue decay, effective rank")
    _add_network_args(p)
    p.add_argument("--data", default="sphere:n=1000,d=10", help=data_help + " (default sphere:n=1000,d=10)")
    p.add_argument("--out", "-o", default="report.html", help="output HTML file (default report.html)")
    p.add_argument("--kind", choices=["ntk", "nngp"], default="ntk")
    p.add_argument("--k", type=int, default=50, help="number of top Gram eigenvalues (default 50)")
    p.add_argument("--depths", default=None, help="depths of the effective-rank curve, e.g. 1,2,4,8 (default 1..max(8, L))")
    p.add_argument("--title", default=None, help="page title")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("sweep", help="grid of settings -> results table (local threads or Dask; resumable)")
    from .sweep import add_cli_arguments

    add_cli_arguments(p)
    p.set_defaults(func=cmd_sweep)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    parser.add_argument("--threads", type=int, default=None, help="worker threads (default: RAYON_NUM_THREADS or all cores)")
    args = parser.parse_args(argv)
    if args.threads is not None:
        from . import set_num_threads

        if args.threads < 0:
            sys.stderr.write("ntkrs: error: --threads must be >= 0\n")
            return EXIT_USER_ERROR
        try:
            set_num_threads(args.threads)
        except NtkrsError as err:
            sys.stderr.write(f"ntkrs: error: --threads: {err}\n")
            return EXIT_USER_ERROR
    try:
        return int(args.func(args))
    except NtkrsError as err:
        sys.stderr.write(f"ntkrs: error: {err}\n")
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        sys.stderr.write("ntkrs: interrupted\n")
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
