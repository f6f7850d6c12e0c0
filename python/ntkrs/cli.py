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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
