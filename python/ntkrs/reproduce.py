"""``ntkrs reproduce``: the table and figures of Murray, Jin, Bowman & Montúfar, *Characterizing
the spectrum of the NTK via a power series expansion* (ICLR 2023), recomputed with ntkrs
(DESIGN §8).

:func:`reproduce` writes into one directory

* ``table1.csv`` / ``table1.md`` / ``table1.png`` — percentage of ``Θ(1)`` captured by
  ``κ_0 … κ_j`` (``j = 0..5``), one hidden layer, ``γ_w² = γ_b² = 1/2``, ``σ_w² = 1``, unit
  variance, for ReLU / tanh / sigmoid / Gaussian pdf, in **two constructions**: the exact power
  series and the construction behind the published numbers (``ψ`` expanded in ``ρ`` instead of
  ``γ_w² ρ + γ_b²``, first-layer bias only in the ``Θ_1`` factor; see :mod:`ntkrs.paper`), plus
  the ReLU row as printed in the paper;
* ``truncation_error.csv`` / ``.json`` / ``.png`` — ``|Θ(ρ) − Θ_T(ρ)|`` on ``ρ ∈ [−1, 1]`` for
  ReLU with He initialization and no biases (the unit-variance default), depths 1, 3, 5,
  ``T = 5, 50``: ``Θ`` is the exact kernel (:meth:`Network.ntk_at`, arc-cosine recursion) and
  ``Θ_T(ρ) = Σ_{p≤T} κ_p ρ^p`` the partial sum of the exact power series; the certified
  bound ``Θ(1) − Σ_{p≤T} κ_p`` is drawn beside it;
* ``spectra_digits.png``, ``spectra_gaussian.png``, ``spectra_real_data.csv`` / ``.json`` —
  normalized top-100 eigenvalues ``λ_i / λ_1`` of the infinite-width NTK Gram and of one
  finite-width empirical NTK (:func:`ntkrs.empirical_ntk`) for ReLU / tanh / identity
  ("linear") at depths 1 and 4, beside the input Gram ``XXᵀ``'s, on scikit-learn's digits and
  on isotropic Gaussian data (rows projected to the sphere);
* ``sphere_s2.png``, ``sphere_s2.csv`` / ``sphere_s2_fits.json`` — the NTK spectrum on the
  sphere ``S²`` (``d = 3``) for ReLU / tanh / Gaussian pdf: exact Funk–Hecke eigenvalues by
  index (each ``λ_k`` repeated ``N(3, k) = 2k+1`` times) beside the eigenvalues of a sampled
  Gram divided by ``n``, with fitted decay exponents against theory (ReLU: ``λ_k ~ k^{−3}``,
  i.e. ``index^{−1.5}``);
* ``index.json`` and ``README.md`` — what every file holds, the key numbers and timings.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .json_values import json_default
from .errors import ConvergenceError, InvalidInputError
from .network import Network
from .paper import PUBLISHED_TABLE1_RELU, TABLE1_ACTIVATIONS, table1
from .progress import Progress

__all__ = [
    "ReproduceSizes",
    "QUICK",
    "FULL",
    "reproduce",
    "table1_records",
    "truncation_error",
    "real_data_spectra",
    "sphere_spectra",
    "format_summary",
]

#: Label of each Table-1 construction in the outputs.
CONSTRUCTIONS = {
    "exact": "exact power series of the NTK (this library)",
    "published_construction": "construction of the published code (psi expanded in rho, "
                              "first-layer bias only in Theta_1), recomputed",
    "printed_in_paper": "values as printed in the paper's Table 1",
}

SPECTRA_ACTIVATIONS = (("relu", "ReLU"), ("tanh", "tanh"), ("identity", "linear"))
SPHERE_ACTIVATIONS = (("relu", "ReLU"), ("tanh", "tanh"), ("gaussian_pdf", "Gaussian"))


@dataclass(frozen=True)
class ReproduceSizes:
    """Problem sizes of a :func:`reproduce` run."""

    rho_points: int          # grid on [-1, 1] for the truncation error
    digits_n: int            # digits images used (at most 1797)
    gaussian_n: int          # Gaussian points
    gaussian_d: int          # their dimension
    top_k: int               # eigenvalues shown for the real-data spectra
    width: int               # width of the finite-width (empirical) NTK
    spectra_depths: tuple[int, ...]
    sphere_n: int            # uniform points on S^2 for the sampled Gram
    sphere_depth: int        # depth of the networks on S^2
    sphere_max_degree: int   # highest harmonic degree k of the Funk-Hecke eigenvalues


QUICK = ReproduceSizes(rho_points=201, digits_n=300, gaussian_n=300, gaussian_d=64, top_k=100,
                       width=128, spectra_depths=(1, 4), sphere_n=400, sphere_depth=2,
                       sphere_max_degree=100)
FULL = ReproduceSizes(rho_points=2001, digits_n=1797, gaussian_n=2000, gaussian_d=64, top_k=100,
                      width=1024, spectra_depths=(1, 4), sphere_n=3000, sphere_depth=2,
                      sphere_max_degree=100)


# --------------------------------------------------------------------------------- Table 1
def table1_records() -> list[dict[str, Any]]:
    """Table 1 as records ``{construction, activation, theta_at_one, percent: [j=0..5]}``:
    for each activation the exact expansion and the published construction, then the ReLU row
    as printed in the paper."""
    recs: list[dict[str, Any]] = []
    for row in table1(TABLE1_ACTIVATIONS, 5):
        recs.append({"construction": "exact", "activation": row.activation,
                     "theta_at_one": float(row.theta_at_one),
                     "percent": [float(v) for v in row.exact]})
        recs.append({"construction": "published_construction", "activation": row.activation,
                     "theta_at_one": None,
                     "percent": [float(v) for v in row.published_construction]})
    recs.append({"construction": "printed_in_paper", "activation": "relu", "theta_at_one": None,
                 "percent": [float(v) for v in PUBLISHED_TABLE1_RELU]})
    return recs


def _write_table1(out: Path, recs: list[dict[str, Any]]) -> list[str]:
    with open(out / "table1.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["construction", "activation"] + [f"j={j}" for j in range(6)] + ["theta_at_one"])
        for r in recs:
            w.writerow([r["construction"], r["activation"]] + [f"{v:.6f}" for v in r["percent"]]
                       + ["" if r["theta_at_one"] is None else repr(r["theta_at_one"])])
    lines = [
        "# Table 1: percentage of Theta(1) captured by kappa_0 ... kappa_j",
        "",
        "One hidden layer, gamma_w^2 = gamma_b^2 = 1/2, sigma_w^2 = 1, sigma_b^2 = 1 - E[phi(Z)^2] "
        "(unit variance).",
        "",
        "| construction | activation | " + " | ".join(f"j={j}" for j in range(6)) + " |",
        "|---|---|" + "---|" * 6,
    ]
    for r in recs:
        lines.append(f"| {r['construction']} | {r['activation']} | "
                     + " | ".join(f"{v:.3f}" for v in r["percent"]) + " |")
    lines += ["", "Constructions:", ""]
    lines += [f"* `{k}`: {v}" for k, v in CONSTRUCTIONS.items()]
    (out / "table1.md").write_text("\n".join(lines) + "\n")
    return lines


def _plot_table1(path: Path, recs: list[dict[str, Any]]) -> None:
    from .figures import new_figure, save_png

    fig, ax = new_figure(width=6.8, height=4.6)
    j = np.arange(6)
    colors = {}
    for r in recs:
        act = r["activation"]
        if r["construction"] == "exact":
            line, = ax.plot(j, r["percent"], "o-", label=f"{act} (exact)")
            colors[act] = line.get_color()
    for r in recs:
        act = r["activation"]
        if r["construction"] == "published_construction":
            ax.plot(j, r["percent"], "s--", color=colors.get(act), alpha=0.8, ms=4,
                    label=f"{act} (published construction)")
        elif r["construction"] == "printed_in_paper":
            ax.plot(j, r["percent"], "kx", ms=8, label=f"{act} (printed in paper)")
    ax.set_xlabel("j (highest power of ρ kept)")
    ax.set_ylabel("% of Θ(1) in κ_0 … κ_j")
    ax.set_title("Table 1: share of Θ(1) in the first coefficients\n"
                 "1 hidden layer, γ_w² = γ_b² = 1/2, σ_w² = 1, unit variance", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    save_png(fig, path)


# --------------------------------------------------------------------------------- truncation
def truncation_error(depths: tuple[int, ...] = (1, 3, 5), truncations: tuple[int, ...] = (5, 50),
                     rho_points: int = 2001, activation: str = "relu") -> dict[str, Any]:
    """``|Θ(ρ) − Θ_T(ρ)|`` on a uniform grid of ``ρ ∈ [−1, 1]`` for the unit-variance network
    (ReLU: He initialization ``σ_w² = 2``, no biases) of each depth and each truncation ``T``.

    ``Θ`` is the exact kernel (:meth:`Network.ntk_at`) and ``Θ_T(ρ) = Σ_{p≤T} κ_p ρ^p`` the
    partial sum of the exact power series. Returns ``{"rho", "curves": [{depth, T, theta,
    theta_T, abs_error, bound, max_error}]}`` where ``bound = Θ(1) − Σ_{p≤T} κ_p`` bounds the
    error on all of ``[−1, 1]`` (the sup is attained at ``ρ = 1``).
    """
    rho = np.linspace(-1.0, 1.0, int(rho_points))
    curves = []
    for L in depths:
        net = Network(activation, L)
        theta = net.ntk_at(rho)
        series = net.series(max(truncations))
        kappa = np.asarray(series.ntk)
        theta_one = float(series.ntk_at_one)
        for T in truncations:
            theta_T = np.polynomial.polynomial.polyval(rho, kappa[: T + 1])
            err = np.abs(theta - theta_T)
            curves.append({
                "depth": int(L), "T": int(T), "network": repr(net), "theta": theta,
                "theta_T": theta_T, "abs_error": err, "max_error": float(err.max()),
                "bound": max(theta_one - float(np.sum(kappa[: T + 1])), 0.0),
            })
    return {"rho": rho, "activation": activation, "curves": curves}


def _write_truncation(out: Path, res: dict[str, Any]) -> None:
    rho = res["rho"]
    with open(out / "truncation_error.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["depth", "T", "rho", "theta_exact", "theta_T", "abs_error"])
        for c in res["curves"]:
            for i in range(rho.size):
                w.writerow([c["depth"], c["T"], repr(float(rho[i])), repr(float(c["theta"][i])),
                            repr(float(c["theta_T"][i])), repr(float(c["abs_error"][i]))])
    summary = [{k: c[k] for k in ("depth", "T", "network", "max_error", "bound")} for c in res["curves"]]
    with open(out / "truncation_error.json", "w") as fh:
        json.dump({"activation": res["activation"],
                   "definition": "abs_error = |Theta(rho) - sum_{p<=T} kappa_p rho^p|; "
                                 "bound = Theta(1) - sum_{p<=T} kappa_p >= sup_rho abs_error",
                   "curves": summary}, fh, indent=2)


def _plot_truncation(path: Path, res: dict[str, Any]) -> None:
    from .figures import new_figure, positive, save_png

    depths = sorted({c["depth"] for c in res["curves"]})
    fig, axes = new_figure(1, len(depths), width=4.2 * len(depths), height=4.2, sharey=True,
                           squeeze=False)
    rho = res["rho"]
    for ax, L in zip(axes[0], depths):
        for c in res["curves"]:
            if c["depth"] != L:
                continue
            x, y = positive(rho, c["abs_error"])
            line, = ax.semilogy(x, y, lw=1.4, label=f"T = {c['T']}")
            if c["bound"] > 0:
                ax.axhline(c["bound"], color=line.get_color(), ls=":", lw=1,
                           label=f"bound Θ(1)−Σκ_p, T = {c['T']}")
        ax.set_title(f"depth L = {L}", fontsize=10)
        ax.set_xlabel("ρ = ⟨x, y⟩")
        ax.grid(True, which="both", alpha=0.3)
        ax.set_ylim(1e-18, 1e5)
        ax.legend(fontsize=7, loc="upper center", framealpha=0.9)
    axes[0][0].set_ylabel("|Θ(ρ) − Θ_T(ρ)|  (floor ~1e-16: round-off)")
    fig.suptitle("Truncation error of the NTK power series — ReLU, He init, no biases", fontsize=11)
    save_png(fig, path)


# --------------------------------------------------------------------------------- real data
def _top_eigenvalues(K: np.ndarray, k: int) -> np.ndarray:
    from .spectrum import eigsh, eigvalsh

    try:
        return np.asarray(eigsh(K, k, tol=1e-9))
    except ConvergenceError:
        return np.sort(eigvalsh(K))[::-1][:k]


def gaussian_points(n: int, d: int, *, seed: int = 0) -> np.ndarray:
    """``n`` isotropic Gaussian points ``N(0, I_d)`` with rows projected onto the unit sphere
    (equivalently: uniform on ``S^{d−1}``)."""
    from .data import sample_sphere

    return sample_sphere(n, d, seed=seed)


def real_data_spectra(datasets: dict[str, tuple[np.ndarray, str]], *, activations=SPECTRA_ACTIVATIONS,
                      depths: tuple[int, ...] = (1, 4), top_k: int = 100, width: int = 1024,
                      seed: int = 0, progress: Progress | None = None) -> dict[str, Any]:
    """Top ``top_k`` eigenvalues of the infinite-width NTK Gram, of one empirical NTK of the
    given ``width`` (seeded) and of the input Gram ``XXᵀ`` for every dataset
    (``name -> (X, description)``), activation ``(name, label)`` and depth.

    Returns ``{"datasets": {name: {"description", "n", "d", "input": {...}, "runs": [...]}}}``
    where every run has ``activation``, ``label``, ``depth``, ``infinite`` and ``empirical``
    (eigenvalues, descending), effective ranks ``Tr K / λ_1`` and the relative Frobenius
    distance ``‖K̂ − K‖_F / ‖K‖_F`` between the empirical and the infinite-width Gram."""
    from .empirical import empirical_ntk
    from .spectrum import eigvalsh

    prog = progress or Progress(quiet=True)
    result: dict[str, Any] = {"width": int(width), "seed": int(seed), "datasets": {}}
    for dname, (X, desc) in datasets.items():
        n, d = X.shape
        k = min(int(top_k), n - 1)
        g = np.sort(eigvalsh(X.T @ X))[::-1]
        g_top = np.zeros(k)
        g_top[: min(k, g.size)] = np.maximum(g[: min(k, g.size)], 0.0)
        entry: dict[str, Any] = {
            "description": desc, "n": int(n), "d": int(d), "k": k,
            "input": {"eigenvalues": g_top, "effective_rank": float(n / g[0])},
            "runs": [],
        }
        for act, label in activations:
            for L in depths:
                with prog.stage(f"spectra: {dname} n={n}, {label}, depth {L}: NTK and width-{width} NTK"):
                    net = Network(act, L)
                    K = net.ntk(X)
                    lam = _top_eigenvalues(K, k)
                    Ke = empirical_ntk(X, act, L, int(width), seed=int(seed))
                    lam_e = _top_eigenvalues(Ke, k)
                    rel = float(np.linalg.norm(Ke - K) / np.linalg.norm(K))
                    entry["runs"].append({
                        "activation": act, "label": label, "depth": int(L), "network": repr(net),
                        "infinite": lam, "empirical": lam_e,
                        "effective_rank": float(np.trace(K) / lam[0]),
                        "empirical_effective_rank": float(np.trace(Ke) / lam_e[0]),
                        "relative_frobenius_distance": rel,
                    })
                    del K, Ke
        result["datasets"][dname] = entry
    return result


def _write_spectra(out: Path, res: dict[str, Any]) -> None:
    width = res["width"]
    with open(out / "spectra_real_data.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["dataset", "activation", "depth", "kernel", "index", "eigenvalue", "normalized"])
        for dname, e in res["datasets"].items():
            g = e["input"]["eigenvalues"]
            for i, v in enumerate(g):
                w.writerow([dname, "", "", "input_gram", i + 1, repr(float(v)), repr(float(v / g[0]))])
            for r in e["runs"]:
                for kind, lam in (("ntk_infinite_width", r["infinite"]), (f"ntk_width_{width}", r["empirical"])):
                    for i, v in enumerate(lam):
                        w.writerow([dname, r["label"], r["depth"], kind, i + 1, repr(float(v)),
                                    repr(float(v / lam[0]))])
    summary = {"width": width, "seed": res["seed"], "datasets": {}}
    for dname, e in res["datasets"].items():
        summary["datasets"][dname] = {
            "description": e["description"], "n": e["n"], "d": e["d"], "top_k": e["k"],
            "input_effective_rank": e["input"]["effective_rank"],
            "runs": [{k: r[k] for k in ("label", "depth", "network", "effective_rank",
                                        "empirical_effective_rank", "relative_frobenius_distance")}
                     for r in e["runs"]],
        }
    with open(out / "spectra_real_data.json", "w") as fh:
        json.dump(summary, fh, indent=2)


def _plot_spectra(path: Path, dname: str, e: dict[str, Any], width: int) -> None:
    from .figures import new_figure, positive, save_png

    labels = list(dict.fromkeys(r["label"] for r in e["runs"]))
    fig, axes = new_figure(1, len(labels), width=4.3 * len(labels), height=4.3, sharey=True, squeeze=False)
    g = e["input"]["eigenvalues"]
    floor = 1e-12  # normalized eigenvalues below this are round-off of a rank-deficient Gram
    for ax, label in zip(axes[0], labels):
        for r in e["runs"]:
            if r["label"] != label:
                continue
            i = np.arange(1, r["infinite"].size + 1)
            lam = r["infinite"] / r["infinite"][0]
            x, y = positive(i, np.where(lam > floor, lam, 0.0))
            line, = ax.loglog(x, y, "-", lw=1.6, label=f"NTK ∞ width, depth {r['depth']}")
            lam_e = r["empirical"] / r["empirical"][0]
            x, y = positive(i, np.where(lam_e > floor, lam_e, 0.0))
            ax.loglog(x, y, "--", lw=1.2, color=line.get_color(),
                      label=f"NTK width {width}, depth {r['depth']}")
        i = np.arange(1, g.size + 1)
        x, y = positive(i, np.where(g / g[0] > floor, g / g[0], 0.0))
        ax.loglog(x, y, "k:", lw=1.6, label="input Gram XXᵀ")
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("index i")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    axes[0][0].set_ylabel("λ_i / λ_1")
    fig.suptitle(f"Normalized top-{e['k']} eigenvalues — {e['description']}", fontsize=10)
    save_png(fig, path)


# --------------------------------------------------------------------------------- sphere S^2
def _fit_slope(x: np.ndarray, y: np.ndarray) -> float | None:
    keep = (x > 0) & (y > 0) & np.isfinite(y)
    if keep.sum() < 3:
        return None
    return float(-np.polyfit(np.log(x[keep]), np.log(y[keep]), 1)[0])


def sphere_spectra(*, activations=SPHERE_ACTIVATIONS, depth: int = 2, n: int = 2000,
                   max_degree: int = 100, dim: int = 3, seed: int = 0,
                   progress: Progress | None = None) -> dict[str, Any]:
    """NTK spectrum on the uniform sphere ``S^{dim−1}`` (default ``S²``) for each activation.

    * exact: Funk–Hecke eigenvalues ``λ_k`` (``k ≤ max_degree``) with multiplicities, and the
      same by index (``λ_k`` repeated ``N(d, k)`` times, descending); eigenvalues not above
      their error estimate (round-off, e.g. the even degrees of an odd activation) are
      dropped;
    * sampled: all eigenvalues of the NTK Gram of ``n`` uniform points, divided by ``n``;
    * fits of ``λ ≈ C index^{−s}``: exact — ``ln λ_k`` against the ln of the middle index of
      the degree-``k`` block, ``k ∈ [max_degree/4, max_degree]`` (reliable ``k`` only);
      sampled — indices ``10 … n/4`` or up to where they reach round-off (``max_degree`` is replaced by the highest reliable
      degree when the eigenvalues reach round-off earlier). Theory: ``κ_p ~ p^{−a}`` gives ``λ_k ~ k^{−(d+2a−3)}``
      and, with ``N(d, k) ~ k^{d−2}``, ``λ ~ index^{−(d+2a−3)/(d−1)}`` (ReLU NTK on ``S²``:
      ``a = 3/2`` ⇒ ``k^{−3}``, ``index^{−1.5}``); coefficients that are not power-law give a
      faster decay (no finite exponent: the fitted one depends on the window).
    """
    from .data import sample_sphere
    from .spectrum import eigvalsh

    prog = progress or Progress(quiet=True)
    X = sample_sphere(int(n), int(dim), seed=seed)
    out: dict[str, Any] = {"dim": int(dim), "depth": int(depth), "n": int(n), "max_degree": int(max_degree),
                           "runs": []}
    for act, label in activations:
        with prog.stage(f"sphere S^{dim - 1}: {label}, depth {depth}: Funk-Hecke k <= {max_degree}, "
                        f"sampled Gram n={n}"):
            net = Network(act, depth)
            sp = net.sphere_eigenvalues(dim, max_degree)
            lam = np.array(sp.eigenvalues, dtype=np.float64)
            reliable = (lam > 10 * np.asarray(sp.errors)) & (lam > 0)
            mult = np.array(sp.multiplicities, dtype=np.float64)
            lam_r = np.where(reliable, lam, 0.0)
            # by index (descending), reliable eigenvalues only
            order = np.argsort(-lam_r, kind="stable")
            order = order[lam_r[order] > 0]
            by_index = np.repeat(lam_r[order], mult[order].astype(np.int64))
            by_index_degree = np.repeat(order, mult[order].astype(np.int64))
            # block-middle index of each degree when sorted descending
            ends = np.cumsum(mult[order])
            mid = np.zeros_like(lam)
            mid[order] = ends - (mult[order] - 1) / 2
            rel_k = np.flatnonzero(reliable)
            k_top = int(rel_k[-1]) if rel_k.size else 0
            ks = np.arange(max(1, k_top // 4), k_top + 1)
            ks = ks[reliable[ks]]
            exact_fit = _fit_slope(mid[ks], lam[ks]) if ks.size >= 3 else None
            K = net.ntk(X)
            sampled = np.sort(eigvalsh(K))[::-1] / n
            del K
            idx = np.arange(1, n + 1)
            # indices 10 … n/4, stopping where the sampled eigenvalues reach round-off
            above = np.flatnonzero(sampled > 1e-12 * sampled[0])
            lo, hi = 10, max(20, min(n // 4, int(above[-1]) + 1 if above.size else n))
            sampled_fit = _fit_slope(idx[lo - 1:hi], sampled[lo - 1:hi])
            # the exact eigenvalues by index over the same window, for a like-for-like comparison
            hi_e = min(hi, by_index.size)
            exact_window_fit = _fit_slope(idx[lo - 1:hi_e], by_index[lo - 1:hi_e]) if hi_e >= lo + 2 else None
            pred = sp.predicted_exponent
            out["runs"].append({
                "activation": act, "label": label, "network": repr(net),
                "eigenvalues": lam, "errors": np.asarray(sp.errors), "multiplicities": mult,
                "reliable": reliable, "by_index": by_index, "by_index_degree": by_index_degree,
                "sampled": sampled,
                "fit_exact_by_index": exact_fit,
                "fit_exact_degrees": [int(ks[0]), int(ks[-1])] if ks.size else None,
                "fit_sampled_by_index": sampled_fit, "fit_sampled_indices": [lo, hi],
                "fit_exact_on_sampled_window": exact_window_fit,
                "theory_degree_exponent": pred,
                "theory_index_exponent": None if pred is None else pred / (dim - 1),
                "coefficient_tail": [dict(f) for f in sp.tail_fits],
            })
    return out


def _write_sphere(out: Path, res: dict[str, Any]) -> None:
    with open(out / "sphere_s2.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["activation", "source", "index", "degree_k", "multiplicity", "eigenvalue"])
        for r in res["runs"]:
            for i, (v, k) in enumerate(zip(r["by_index"], r["by_index_degree"])):
                w.writerow([r["label"], "funk_hecke", i + 1, int(k), int(r["multiplicities"][k]), repr(float(v))])
            for i, v in enumerate(r["sampled"]):
                w.writerow([r["label"], f"sampled_gram_over_n", i + 1, "", "", repr(float(v))])
    summary = {
        "dim": res["dim"], "depth": res["depth"], "n": res["n"], "max_degree": res["max_degree"],
        "definition": ("fitted exponent s of lambda ~ C index^-s; theory_index_exponent = "
                       "(d + 2a - 3)/(d - 1) for kappa_p ~ p^-a (null: coefficients not power-law, "
                       "faster than any power)"),
        "runs": [{
            "activation": r["label"], "network": r["network"],
            "fit_exact_by_index": r["fit_exact_by_index"], "fit_exact_degrees": r["fit_exact_degrees"],
            "fit_sampled_by_index": r["fit_sampled_by_index"], "fit_sampled_indices": r["fit_sampled_indices"],
            "fit_exact_on_sampled_window": r["fit_exact_on_sampled_window"],
            "theory_degree_exponent": r["theory_degree_exponent"],
            "theory_index_exponent": r["theory_index_exponent"],
            "eigenvalues_by_degree": r["eigenvalues"], "errors_by_degree": r["errors"],
            "multiplicities": r["multiplicities"], "coefficient_tail": r["coefficient_tail"],
        } for r in res["runs"]],
    }
    with open(out / "sphere_s2_fits.json", "w") as fh:
        json.dump(summary, fh, indent=2, default=json_default)


def _plot_sphere(path: Path, res: dict[str, Any]) -> None:
    from .figures import new_figure, positive, save_png

    runs = res["runs"]
    fig, axes = new_figure(1, len(runs), width=4.3 * len(runs), height=4.3, squeeze=False)
    for ax, r in zip(axes[0], runs):
        m = r["by_index"].size
        x, y = positive(np.arange(1, m + 1), r["by_index"])
        ax.loglog(x, y, "-", lw=1.6, label=f"Funk–Hecke λ by index (k ≤ {res['max_degree']})")
        x, y = positive(np.arange(1, r["sampled"].size + 1), np.where(r["sampled"] > 1e-14 * r["sampled"][0],
                                                                       r["sampled"], 0.0))
        ax.loglog(x, y, ".", ms=3, alpha=0.7, label=f"sampled Gram eigenvalues / n (n = {res['n']})")
        s = r["fit_exact_by_index"]
        if s is not None and r["theory_index_exponent"] is not None:
            i0 = 10.0
            ref = float(np.interp(i0, np.arange(1, m + 1), r["by_index"]))
            xx = np.geomspace(1, m, 50)
            ax.loglog(xx, ref * (xx / i0) ** (-r["theory_index_exponent"]), "k--", lw=1,
                      label=f"theory index^-{r['theory_index_exponent']:.2f}")
        fit_txt = "—" if s is None else f"{s:.3f}"
        sfit = r["fit_sampled_by_index"]
        theory = ("faster than any power" if r["theory_index_exponent"] is None
                  else f"{r['theory_index_exponent']:.3f}")
        ax.set_title(f"{r['label']}: fitted s = {fit_txt} (exact), "
                     f"{'—' if sfit is None else f'{sfit:.3f}'} (sampled)\ntheory: {theory}", fontsize=9)
        ax.set_xlabel("index i")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    axes[0][0].set_ylabel("eigenvalue λ_i")
    fig.suptitle(f"NTK spectrum on S² (uniform measure), depth {res['depth']}: "
                 "exact vs sampled", fontsize=11)
    save_png(fig, path)


# --------------------------------------------------------------------------------- driver
def reproduce(out: str | os.PathLike[str], *, quick: bool = False, quiet: bool = False,
              seed: int = 0, sizes: ReproduceSizes | None = None) -> dict[str, Any]:
    """Recompute the paper's Table 1 and figures (DESIGN §8) and write them into ``out``.

    Computes (see the module docstring for the exact definitions): Table 1 in both
    constructions; the truncation error ``|Θ(ρ) − Θ_T(ρ)|`` of the ReLU NTK series (depths 1,
    3, 5; ``T = 5, 50``); normalized top-100 eigenvalues of infinite- and finite-width NTK Grams
    on the digits and on Gaussian data beside the input Gram's; and the exact (Funk–Hecke) and
    sampled NTK spectra on ``S²`` with fitted decay exponents. Every figure is a PNG with its
    numbers in CSV/JSON; ``index.json`` and ``README.md`` list the files.

    ``quick=True`` uses small sizes (:data:`QUICK`, a few seconds); otherwise :data:`FULL`
    (a few minutes on 2 cores); ``sizes`` overrides both. Progress lines go to stderr unless
    ``quiet``. Needs matplotlib (``ntkrs[plot]``) and scikit-learn for the digits
    (``ntkrs[data]``). Returns the contents of ``index.json``.
    """
    from .figures import require_matplotlib

    require_matplotlib("ntkrs reproduce (its figures)")
    sz = sizes or (QUICK if quick else FULL)
    outdir = Path(out)
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInputError(f"cannot create output directory {str(outdir)!r}: {exc}") from None
    if not outdir.is_dir():
        raise InvalidInputError(f"output path {str(outdir)!r} is not a directory")
    try:
        return _run(outdir, sz, quick=quick and sizes is None, quiet=quiet, seed=seed)
    except OSError as exc:  # a full disk, a read-only directory, ...
        raise InvalidInputError(f"cannot write the results into {str(outdir)!r}: {exc}") from None


def _run(outdir: Path, sz: ReproduceSizes, *, quick: bool, quiet: bool, seed: int) -> dict[str, Any]:
    from .data import load_digits

    prog = Progress(quiet)
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    files: list[dict[str, str]] = []

    def add(name: str, what: str) -> None:
        files.append({"file": name, "description": what})

    # Table 1
    t0 = time.perf_counter()
    with prog.stage("Table 1 (exact and published construction)"):
        recs = table1_records()
        _write_table1(outdir, recs)
        _plot_table1(outdir / "table1.png", recs)
    timings["table1"] = time.perf_counter() - t0
    add("table1.csv", "Table 1: % of Theta(1) in kappa_0..kappa_j, j=0..5; rows per construction "
                      "(exact, published_construction, printed_in_paper) and activation")
    add("table1.md", "Table 1 as a Markdown table with the constructions explained")
    add("table1.png", "Table 1 as curves: exact (solid) vs published construction (dashed)")

    # truncation error
    t0 = time.perf_counter()
    with prog.stage(f"truncation error: ReLU depths 1,3,5, T = 5, 50 on {sz.rho_points} points"):
        tr = truncation_error((1, 3, 5), (5, 50), sz.rho_points)
        _write_truncation(outdir, tr)
        _plot_truncation(outdir / "truncation_error.png", tr)
    timings["truncation_error"] = time.perf_counter() - t0
    add("truncation_error.csv", "|Theta(rho) - Theta_T(rho)| per depth, T and rho (exact kernel and partial sum)")
    add("truncation_error.json", "max error and certified bound Theta(1) - sum_{p<=T} kappa_p per depth and T")
    add("truncation_error.png", "truncation error vs rho, log scale, one panel per depth")

    # real-data spectra
    t0 = time.perf_counter()
    skipped: list[str] = []
    datasets: dict[str, tuple[np.ndarray, str]] = {}
    with prog.stage(f"loading digits (n={sz.digits_n}) and Gaussian data (n={sz.gaussian_n}, d={sz.gaussian_d})"):
        try:
            Xd, _ = load_digits(None if sz.digits_n >= 1797 else sz.digits_n, seed=seed)
            datasets["digits"] = (Xd, f"scikit-learn digits, n={Xd.shape[0]}, d=64 (rows centred, unit norm)")
        except InvalidInputError as exc:  # scikit-learn (the data extra) is not installed
            skipped.append(f"digits spectra skipped: {exc}")
        Xg = gaussian_points(sz.gaussian_n, sz.gaussian_d, seed=seed)
        datasets["gaussian"] = (Xg, f"isotropic Gaussian N(0, I_{sz.gaussian_d}) projected to the sphere, "
                                    f"n={Xg.shape[0]}")
    for msg in skipped:
        if not quiet:
            import sys

            sys.stderr.write(f"[ntkrs] warning: {msg}\n")
    sp = real_data_spectra(datasets, depths=sz.spectra_depths, top_k=sz.top_k, width=sz.width,
                           seed=seed, progress=prog)
    with prog.stage("writing spectra figures"):
        _write_spectra(outdir, sp)
        for dname, e in sp["datasets"].items():
            _plot_spectra(outdir / f"spectra_{dname}.png", dname, e, sp["width"])
    timings["real_data_spectra"] = time.perf_counter() - t0
    add("spectra_real_data.csv", "top eigenvalues (and normalized by lambda_1) per dataset, activation, depth, "
                                 "kernel (infinite width, finite width, input Gram)")
    add("spectra_real_data.json", "effective ranks and empirical-vs-infinite NTK distance per run")
    for dname in sp["datasets"]:
        add(f"spectra_{dname}.png", f"normalized top eigenvalues on the {dname} data beside the input Gram's, "
                                    "one panel per activation (solid: infinite width, dashed: finite width)")

    # sphere
    t0 = time.perf_counter()
    sph = sphere_spectra(depth=sz.sphere_depth, n=sz.sphere_n, max_degree=sz.sphere_max_degree,
                         seed=seed, progress=prog)
    with prog.stage("writing sphere figure"):
        _write_sphere(outdir, sph)
        _plot_sphere(outdir / "sphere_s2.png", sph)
    timings["sphere_s2"] = time.perf_counter() - t0
    add("sphere_s2.csv", "NTK eigenvalues on S^2 by index: Funk-Hecke (with degree k, multiplicity) and "
                         "sampled Gram eigenvalues / n")
    add("sphere_s2_fits.json", "fitted decay exponents (exact and sampled) vs theory, eigenvalues by degree")
    add("sphere_s2.png", "eigenvalues by index on S^2, exact vs sampled, log-log")

    timings["total"] = time.perf_counter() - t_start
    index = {
        "title": "Reproduction of Murray, Jin, Bowman & Montufar, ICLR 2023 (ntkrs reproduce)",
        "quick": bool(quick),
        "sizes": asdict(sz),
        "seed": int(seed),
        "files": files,
        "table1": {f"{r['construction']}/{r['activation']}": [round(v, 3) for v in r["percent"]] for r in recs},
        "truncation_error": {f"depth={c['depth']},T={c['T']}": {"max_error": c["max_error"], "bound": c["bound"]}
                             for c in tr["curves"]},
        "sphere_fits": {r["label"]: {"exact": r["fit_exact_by_index"], "exact_degrees": r["fit_exact_degrees"],
                                     "sampled": r["fit_sampled_by_index"],
                                     "exact_on_sampled_window": r["fit_exact_on_sampled_window"],
                                     "sampled_window": r["fit_sampled_indices"],
                                     "theory": r["theory_index_exponent"]} for r in sph["runs"]},
        "timings_seconds": {k: round(v, 3) for k, v in timings.items()},
        "skipped": skipped,
    }
    with open(outdir / "index.json", "w") as fh:
        json.dump(index, fh, indent=2, default=json_default)
    _write_readme(outdir, index, recs)
    return index


def _write_readme(out: Path, index: dict[str, Any], recs: list[dict[str, Any]]) -> None:
    lines = [f"# {index['title']}", "",
             f"Run: {'quick (small sizes)' if index['quick'] else 'full'}; seed {index['seed']}; "
             f"total {index['timings_seconds']['total']:.1f} s.", "", "## Files", ""]
    lines += [f"* `{f['file']}` — {f['description']}" for f in index["files"]]
    lines += ["", "## Table 1 (% of Theta(1) in kappa_0..kappa_j)", "",
              "| construction | activation | " + " | ".join(f"j={j}" for j in range(6)) + " |",
              "|---|---|" + "---|" * 6]
    for r in recs:
        lines.append(f"| {r['construction']} | {r['activation']} | " + " | ".join(f"{v:.3f}" for v in r["percent"]) + " |")
    lines += ["", "## Decay on S^2 (lambda ~ index^-s)", "",
              "| activation | s exact (upper degrees) | s sampled | s exact, same index window | theory |",
              "|---|---|---|---|---|"]
    for label, f in index["sphere_fits"].items():
        def fmt(v: Any) -> str:
            return "—" if v is None else f"{v:.3f}"
        lines.append(f"| {label} | {fmt(f['exact'])} (k in {f['exact_degrees']}) | {fmt(f['sampled'])} "
                     f"(indices {f['sampled_window']}) | {fmt(f['exact_on_sampled_window'])} | "
                     f"{'faster than any power' if f['theory'] is None else fmt(f['theory'])} |")
    (out / "README.md").write_text("\n".join(lines) + "\n")


def format_summary(index: dict[str, Any], out: str | os.PathLike[str]) -> str:
    """A plain-text summary of a :func:`reproduce` run (what ``ntkrs reproduce`` prints)."""
    lines = ["Table 1: % of Theta(1) captured by kappa_0..kappa_j (1 hidden layer, "
             "gamma_w^2 = gamma_b^2 = 1/2, sigma_w^2 = 1, unit variance)", ""]
    head = f"{'construction':<24} {'activation':<14}" + "".join(f"{'j=' + str(j):>9}" for j in range(6))
    lines += [head, "-" * len(head)]
    for key, vals in index["table1"].items():
        cons, act = key.split("/", 1)
        lines.append(f"{cons:<24} {act:<14}" + "".join(f"{v:>9.3f}" for v in vals))
    lines += ["", "  exact                  = exact power series of the NTK",
              "  published_construction = the published code's construction (psi expanded in rho, "
              "first-layer bias only in Theta_1), recomputed",
              "  printed_in_paper       = the ReLU row as printed in the paper", ""]
    lines.append("Truncation error sup_rho |Theta - Theta_T| (ReLU, He init, no biases):")
    for key, v in index["truncation_error"].items():
        lines.append(f"  {key:<14} max {v['max_error']:.4e}   certified bound {v['bound']:.4e}")
    lines += ["", "Decay on S^2, lambda ~ index^-s (exact: Funk-Hecke, fitted on the upper degrees; "
                  "window: indices of the sampled fit):"]
    for label, f in index["sphere_fits"].items():
        def fmt(v: Any) -> str:
            return "-" if v is None else f"{v:.3f}"
        theory = "faster than any power" if f["theory"] is None else fmt(f["theory"])
        w = f["sampled_window"]
        lines.append(f"  {label:<10} exact {fmt(f['exact']):>7} (k in {f['exact_degrees']})   "
                     f"indices {w[0]}..{w[1]}: sampled {fmt(f['sampled']):>7}, exact {fmt(f['exact_on_sampled_window']):>7}"
                     f"   theory {theory}")
    for msg in index.get("skipped", []):
        lines.append(f"warning: {msg}")
    lines += ["", f"wrote {len(index['files']) + 2} files to {os.fspath(out)} "
                  f"(list in {os.path.join(os.fspath(out), 'index.json')} and README.md) "
                  f"in {index['timings_seconds']['total']:.1f} s"]
    return "\n".join(lines) + "\n"
