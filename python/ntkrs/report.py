"""``ntkrs report``: one self-contained HTML page about a network's NTK (or NNGP) on a dataset.

The page (:func:`write_report`) shows

* the coefficient decay of the power series ``Σ_p κ_p ρ^p`` (NTK) and ``Σ_p ν_p ρ^p`` (NNGP),
  with fitted local power laws ``κ_p ≈ C p^{−a}``;
* the exact (Funk–Hecke) eigenvalues ``λ_k`` of the kernel on the uniform sphere ``S^{d−1}``
  of the data's dimension ``d`` with their fitted decay and the predicted rate;
* the top eigenvalues of the kernel Gram of the data, normalized by ``λ_1``, beside the input
  Gram ``XXᵀ``'s;
* the effective-rank bounds of :func:`ntkrs.spectrum_report` (Theorems 4.1 and 4.3 of Murray
  et al., the Hadamard-power rank bound);
* the effective rank ``r(K) = Tr K / λ_1(K)`` against depth, with the two upper bounds
  ``Θ(1)/κ_0`` (Theorem 4.1) and ``(Θ(1)/κ_1) r(XXᵀ)`` (Theorem 4.3).

Everything is inline: PNG images as ``data:image/png;base64`` URIs, a small ``<style>`` block,
no scripts and no external links. Every piece of text is escaped with :func:`html.escape`.
"""

from __future__ import annotations

import base64
import html
import math
import os
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .errors import DomainError, InvalidInputError, NtkrsError
from .network import Network
from .progress import Progress

__all__ = ["build_report", "write_report", "effective_rank_vs_depth", "same_network_at_depth", "parse_depths"]

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; max-width: 60em;
       margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.8em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; }
th { background: #f2f2f2; } td.l, th.l { text-align: left; }
img { max-width: 100%; height: auto; display: block; margin: 0.6em 0; }
.note { color: #555; font-size: 0.9em; } code { background: #f5f5f5; padding: 0 0.2em; }
.ok { color: #176117; } .bad { color: #a11; font-weight: bold; }
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _num(v: Any, fmt: str = ".6g") -> str:
    if v is None:
        return "—"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    v = float(v)
    if math.isinf(v):
        return "∞"
    if math.isnan(v):
        return "NaN"
    return format(v, fmt)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], left: int = 1) -> str:
    """An HTML table; the first ``left`` columns are left-aligned. All cells are escaped."""
    out = ["<table><thead><tr>"]
    out += [f"<th class=\"{'l' if i < left else ''}\">{_e(h)}</th>" for i, h in enumerate(header)]
    out.append("</tr></thead><tbody>")
    for r in rows:
        out.append("<tr>" + "".join(f"<td class=\"{'l' if i < left else ''}\">{_e(c)}</td>"
                                    for i, c in enumerate(r)) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _img(png: bytes, alt: str) -> str:
    return f"<img alt=\"{_e(alt)}\" src=\"data:image/png;base64,{base64.b64encode(png).decode('ascii')}\">"


def _fit_power(p: np.ndarray, c: np.ndarray) -> float | None:
    keep = (p > 0) & (c > 0) & np.isfinite(c)
    if keep.sum() < 3:
        return None
    return float(-np.polyfit(np.log(p[keep]), np.log(c[keep]), 1)[0])


def parse_depths(text: str | None) -> list[int] | None:
    """``"1,2,4,8"`` or ``"1-8"`` → list of depths (``None`` → ``None``: the default)."""
    if text is None:
        return None
    out: list[int] = []
    try:
        for item in str(text).split(","):
            item = item.strip()
            if not item:
                continue
            if "-" in item:
                a, b = item.split("-", 1)
                out.extend(range(int(a), int(b) + 1))
            else:
                out.append(int(item))
    except ValueError:
        raise InvalidInputError(f"cannot parse depths {text!r}: expected e.g. 1,2,4,8 or 1-8") from None
    if not out or min(out) < 1:
        raise InvalidInputError(f"depths must be integers >= 1, got {text!r}")
    if len(out) > 200:
        raise InvalidInputError(f"too many depths ({len(out)}; at most 200)")
    return sorted(set(out))


def _above_roundoff(c: np.ndarray, rel: float = 1e-13) -> np.ndarray:
    c = np.asarray(c, dtype=np.float64)
    total = float(np.sum(np.abs(c)))
    return np.where(c > rel * total, c, 0.0)


def _fit_tail(p: np.ndarray, c: np.ndarray) -> tuple[float | None, int | None]:
    """Power-law exponent ``a`` of ``c_p ≈ C p^{−a}`` over ``p ∈ [p_top/4, p_top]``, ``p_top``
    the highest p with ``c_p > 0``; ``(None, None)`` if there are too few points."""
    nz = np.flatnonzero(c[1:] > 0) + 1
    if nz.size < 3:
        return None, None
    top = int(nz[-1])
    lo = max(1, top // 4)
    a = _fit_power(p[lo: top + 1].astype(float), c[lo: top + 1])
    return (a, lo) if a is not None else (None, None)


def same_network_at_depth(net: Network, depth: int) -> Network:
    """A network like ``net`` (activation and variances) with another depth. Unit-variance
    networks (all layer variances 1) are rebuilt through the unit-variance path with the same
    ``σ_b²``, ``γ_w²``, ``γ_b²``; others with their explicit ``σ_w², σ_b²``."""
    q = np.asarray(net.variances)
    if q.size and np.allclose(q, 1.0, rtol=0, atol=1e-12):
        return Network(net.activation, depth, bias_var=net.bias_var,
                       input_weight_var=net.input_weight_var, input_bias_var=net.input_bias_var)
    return Network(net.activation, depth, weight_var=net.weight_var, bias_var=net.bias_var,
                   input_weight_var=net.input_weight_var, input_bias_var=net.input_bias_var)


def effective_rank_vs_depth(factory: Callable[[int], Network], X: np.ndarray, depths: Sequence[int], *,
                            kind: str = "ntk") -> list[dict[str, Any]]:
    """For each depth: ``r(K) = Tr K / λ_1(K)`` of the kernel Gram of ``X`` (``factory(depth)``
    builds the network), with ``κ_0, κ_1, K(1)`` and the upper bounds ``K(1)/κ_0``
    (Theorem 4.1: ``λ_1 ≥ κ_0 n``) and ``(K(1)/κ_1)·r(XXᵀ)`` (Theorem 4.3)."""
    from .spectrum import eigsh, eigvalsh

    n = X.shape[0]
    g1 = float(np.max(eigvalsh(X.T @ X)))
    r_g = n / g1
    rows = []
    for L in depths:
        net = factory(int(L))
        s = net.series(1, ntk=(kind == "ntk"))
        c = np.asarray(s.ntk if kind == "ntk" else s.nngp)
        at_one = float(s.ntk_at_one if kind == "ntk" else s.nngp_at_one)
        K = net.ntk(X) if kind == "ntk" else net.nngp(X)
        lam1 = float(eigsh(K, 1)[0])
        del K
        r = n * at_one / lam1
        k0, k1 = float(c[0]), float(c[1])
        rows.append({
            "depth": int(L), "effective_rank": r, "lambda_1": lam1, "kernel_at_one": at_one,
            "kappa_0": k0, "kappa_1": k1,
            "bound_theorem_4_1": at_one / k0 if k0 > 0 else math.inf,
            "bound_theorem_4_3": (at_one / k1) * r_g if k1 > 0 else math.inf,
            "input_effective_rank": r_g,
        })
    return rows


def build_report(net: Network, X: Any, *, title: str | None = None, data_description: str | None = None,
                 kind: str = "ntk", k: int = 50, coefficient_degree: int = 500,
                 sphere_max_degree: int = 50, depths: Sequence[int] | None = None,
                 depth_points: int = 500, network_factory: Callable[[int], Network] | None = None,
                 seed: int = 0, progress: Progress | None = None, normalize: bool = False) -> str:
    """The HTML text of the report described in the module docstring.

    Parameters
    ----------
    net, X:
        The network and the data (rows on the unit sphere; ``normalize=True`` projects them).
    title, data_description:
        Free text shown on the page (escaped).
    kind:
        ``"ntk"`` or ``"nngp"``: which kernel's Gram, sphere spectrum and effective rank.
    k:
        Number of top eigenvalues of the Gram (at most ``n − 1``).
    coefficient_degree:
        Degree ``P`` of the coefficient plot.
    sphere_max_degree:
        Highest harmonic degree of the sphere spectrum (on ``S^{d−1}``, ``d`` the data's).
    depths, depth_points, network_factory:
        Depths of the effective-rank curve (default ``1…max(8, L)``), computed on a random
        subsample of at most ``depth_points`` rows; ``network_factory(depth)`` builds the
        network of each depth (default :func:`same_network_at_depth`).
    """
    from .data import as_points
    from .figures import label_axes, new_figure, png_bytes, positive, require_matplotlib
    from .registry import activation_info
    from .spectrum import spectrum_report

    require_matplotlib("ntkrs report (its figures)")
    if kind not in ("ntk", "nngp"):
        raise InvalidInputError(f"kind must be 'ntk' or 'nngp', got {kind!r}")
    prog = progress or Progress(quiet=True)
    Xv = as_points(X, normalize=normalize)
    n, d = Xv.shape
    if n < 2:
        raise InvalidInputError("the report needs at least 2 data points")
    k = max(1, min(int(k), n - 1))
    KIND = kind.upper()
    label = net.activation.label
    title = title or f"ntkrs report: {label}, depth {net.depth} ({KIND})"
    data_description = data_description or f"{n} points in R^{d} on the unit sphere"
    factory = network_factory or (lambda L: same_network_at_depth(net, L))
    t_start = time.perf_counter()
    parts: list[str] = []

    # ------------------------------------------------------------------ coefficients
    with prog.stage(f"report: power series to degree {coefficient_degree}"):
        try:
            series = net.series(coefficient_degree, ntk=(kind == "ntk"))
        except DomainError as exc:
            raise DomainError(f"{exc}; a report of the NNGP works: kind='nngp' (--kind nngp)") from None
        nngp = np.asarray(series.nngp)
        ntk = None if series.ntk is None else np.asarray(series.ntk)
        P = coefficient_degree
        p = np.arange(P + 1)
        # coefficients below ~1e-13 of the total are round-off (e.g. the even powers of an odd φ)
        ntk_c = None if ntk is None else _above_roundoff(ntk)
        nngp_c = _above_roundoff(nngp)
        a_ntk, lo_ntk = (None, None) if ntk_c is None else _fit_tail(p, ntk_c)
        a_nngp, lo_nngp = _fit_tail(p, nngp_c)
        fig, ax = new_figure()
        if ntk_c is not None:
            x, y = positive(p[1:], ntk_c[1:])
            ax.loglog(x, y, ".", ms=3, label="NTK κ_p" + ("" if a_ntk is None else f"  (fit p^-{a_ntk:.3f})"))
        x, y = positive(p[1:], nngp_c[1:])
        ax.loglog(x, y, ".", ms=3, label="NNGP ν_p" + ("" if a_nngp is None else f"  (fit p^-{a_nngp:.3f})"))
        label_axes(ax, "power p of ρ", "coefficient",
                   f"{label}, depth {net.depth}: power-series coefficients (p ≥ 1)")
        coeff_png = png_bytes(fig)
    share = series.partial_sums() * 100 if ntk is not None else None
    rows = []
    for j in range(min(P, 10) + 1):
        rows.append([j, _num(ntk[j], ".10e") if ntk is not None else "—", _num(nngp[j], ".10e"),
                     _num(share[j], ".4f") if share is not None else "—"])
    parts.append("<h2>1. Power-series coefficients</h2>")
    parts.append(f"<p>{_e(KIND if kind == 'ntk' else 'NNGP')}(ρ) = Σ<sub>p</sub> c<sub>p</sub> ρ<sup>p</sup> "
                 f"with all c<sub>p</sub> ≥ 0, truncated at degree P = {P}. "
                 + (f"Θ(1) = {_e(_num(series.ntk_at_one, '.12g'))}; certified truncation bound "
                    f"sup<sub>ρ</sub>|Θ − Θ<sub>P</sub>| ≤ {_e(_num(series.truncation_bound, '.3e'))}. "
                    if ntk is not None else "")
                 + f"NNGP(1) = {_e(_num(series.nngp_at_one, '.12g'))}; bound "
                 f"{_e(_num(series.nngp_truncation_bound, '.3e'))}. Fitted local decay "
                 "(least squares of ln c<sub>p</sub> on ln p over the upper three quarters of the "
                 "coefficients above round-off): "
                 + (f"κ<sub>p</sub> ~ p<sup>−{_e(_num(a_ntk, '.3f'))}</sup> (p ≥ {lo_ntk}), " if a_ntk is not None else "")
                 + (f"ν<sub>p</sub> ~ p<sup>−{_e(_num(a_nngp, '.3f'))}</sup> (p ≥ {lo_nngp}) " if a_nngp is not None else "")
                 + "(ReLU: 1.5 and 2.5; faster-decaying Hermite coefficients give faster decay; "
                 "depth slows it).</p>")
    parts.append(_img(coeff_png, "coefficient decay"))
    parts.append(_table(["p", "κ_p (NTK)", "ν_p (NNGP)", "% of Θ(1) in κ_0..κ_p"], rows))

    # ------------------------------------------------------------------ sphere
    dim = max(d, 2)
    with prog.stage(f"report: Funk-Hecke eigenvalues on S^{dim - 1}, k <= {sphere_max_degree}"):
        sp = net.sphere_eigenvalues(dim, sphere_max_degree, kind=kind)
        kk = np.arange(1, sp.max_degree + 1)
        lam = np.asarray(sp.eigenvalues)[1:]
        err = np.asarray(sp.errors)[1:]
        reliable = (lam > 10 * err) & (lam > 0)
        fitted = None
        fit_range = None
        rel_k = kk[reliable]
        if rel_k.size >= 3:
            hi = int(rel_k[-1])
            lo_k = max(1, hi // 2)
            sel = reliable & (kk >= lo_k) & (kk <= hi)
            if sel.sum() >= 3:
                fitted = _fit_power(kk[sel].astype(float), lam[sel])
                fit_range = (lo_k, hi)
        predicted = sp.predicted_exponent
        fig, ax = new_figure()
        for par, mk in ((0, "o"), (1, "s")):
            m = reliable & (kk % 2 == par)
            ax.loglog(kk[m], lam[m], mk, ms=3, label=f"λ_k, k {'even' if par == 0 else 'odd'}")
        if fitted is not None and fit_range is not None:
            xx = np.arange(fit_range[0], fit_range[1] + 1)
            sel = reliable & (kk >= fit_range[0]) & (kk <= fit_range[1])
            c = float(np.exp(np.mean(np.log(lam[sel]) + fitted * np.log(kk[sel]))))
            ax.loglog(xx, c * xx ** (-fitted), "k--", lw=1, label=f"fit k^-{fitted:.3f}")
        label_axes(ax, "spherical-harmonic degree k", "λ_k (uniform probability measure)",
                   f"{label}, depth {net.depth}: {KIND} eigenvalues on S^{dim - 1}")
        sphere_png = png_bytes(fig)
    parts.append(f"<h2>2. Eigenvalue decay on the sphere S<sup>{dim - 1}</sup></h2>")
    parts.append("<p>Exact eigenvalues of the kernel's integral operator on the uniform sphere of the data's "
                 f"dimension d = {dim} (Funk–Hecke; degree k has multiplicity N(d, k)); eigenvalues not "
                 "above their error estimate are not shown. "
                 + (f"Fitted decay on k ∈ [{fit_range[0]}, {fit_range[1]}]: λ<sub>k</sub> ~ "
                    f"k<sup>−{_e(_num(fitted, '.3f'))}</sup>. " if fitted is not None else "")
                 + ("Predicted from the coefficients (κ<sub>p</sub> ~ p<sup>−a</sup> ⇒ "
                    f"λ<sub>k</sub> ~ k<sup>−(d+2a−3)</sup>): k<sup>−{_e(_num(predicted, '.3f'))}</sup>."
                    if predicted is not None else
                    "The coefficients are not power-law: the eigenvalues decay faster than any power.")
                 + "</p>")
    parts.append(_img(sphere_png, "sphere eigenvalue decay"))
    srows = [[kq, _num(sp.eigenvalues[kq], ".6e"), _num(sp.multiplicities[kq], ".6g"), _num(sp.errors[kq], ".1e")]
             for kq in range(min(sp.max_degree, 10) + 1)]
    parts.append(_table(["k", "λ_k", "N(d, k)", "error"], srows))

    # ------------------------------------------------------------------ Gram spectrum
    with prog.stage(f"report: top-{k} eigenvalues of the {n}x{n} {KIND} Gram"):
        rep = spectrum_report(net, Xv, k=k, kind=kind, smallest=n <= 3000, matrix_free=n > 6000)
        ev = np.asarray(rep["eigenvalues"])
        g = np.asarray(rep["input_eigenvalues"])
        i = np.arange(1, ev.size + 1)
        fig, ax = new_figure()
        x, y = positive(i, ev / ev[0])
        ax.loglog(x, y, "o-", ms=3, label=f"{KIND} Gram K")
        x, y = positive(i, np.where(g / g[0] > 1e-12, g / g[0], 0.0))
        ax.loglog(x, y, "s--", ms=3, label="input Gram XXᵀ")
        label_axes(ax, "index i", "λ_i / λ_1",
                   f"{label}, depth {net.depth}: normalized top-{k} eigenvalues (n = {n})")
        gram_png = png_bytes(fig)
    parts.append("<h2>3. Gram spectrum on the data</h2>")
    parts.append(f"<p>Top {k} eigenvalues of the {KIND} Gram matrix K<sub>ij</sub> = "
                 f"{_e(KIND)}(⟨x<sub>i</sub>, x<sub>j</sub>⟩) of the data, normalized by λ<sub>1</sub>, "
                 "beside those of the input Gram XXᵀ.</p>")
    parts.append(_img(gram_png, "Gram spectrum"))
    parts.append(_table(["i", "λ_i(K)", "λ_i/λ_1", "λ_i(XXᵀ)", "normalized"],
                        [[j + 1, _num(ev[j], ".6e"), _num(ev[j] / ev[0], ".4e"), _num(g[j], ".6e"),
                          _num(g[j] / g[0], ".4e")] for j in range(min(k, 10))]))

    # ------------------------------------------------------------------ bounds
    t41, t43 = rep["theorem_4_1"], rep["theorem_4_3"]

    def verdict(ok: bool) -> str:
        return "holds" if ok else "VIOLATED"

    brows = [
        ["n, d", f"{n}, {d}", ""],
        [f"{KIND}(1) (diagonal)", _num(rep["kernel_at_one"], ".10g"), ""],
        ["λ_1(K)", _num(rep["lambda_1"], ".10g"), ""],
        ["Tr K = n·K(1)", _num(rep["trace"], ".10g"), ""],
        ["effective rank r(K) = Tr K / λ_1", _num(rep["effective_rank"], ".6g"), ""],
        ["r(XXᵀ) = n / λ_1(XXᵀ)", _num(rep["input_effective_rank"], ".6g"), ""],
        ["smallest eigenvalue λ_n(K)", _num(rep["smallest_eigenvalue"], ".6e"), ""],
        ["Theorem 4.1: λ_1 ≥ κ_0 n", _num(t41["kappa_0_n"], ".6g"), verdict(t41["holds"])],
        ["Theorem 4.3: λ_1 ≥ κ_1 λ_1(XXᵀ)", _num(t43["lambda_1_lower_bound"], ".6g"), verdict(t43["holds"])],
        ["Theorem 4.3: r(K) ≤ (Σκ_p/κ_1) r(XXᵀ)", _num(t43["effective_rank_upper_bound"], ".6g"),
         verdict(t43["holds"])],
        ["Theorem 4.1 ⇒ r(K) ≤ K(1)/κ_0", _num(rep["kernel_at_one"] / rep["kappa_0"], ".6g")
         if rep["kappa_0"] > 0 else "∞", ""],
    ]
    parts.append("<h2>4. Effective-rank bounds</h2>")
    parts.append("<p>The bounds of Murray et al.: κ<sub>0</sub>11ᵀ ⪯ K gives λ<sub>1</sub> ≥ κ<sub>0</sub> n "
                 "(so λ<sub>1</sub> is an Ω(1) share of the trace); K = Σ<sub>p</sub> κ<sub>p</sub> G<sup>∘p</sup> "
                 "with G = XXᵀ gives λ<sub>1</sub>(K) ≥ κ<sub>1</sub> λ<sub>1</sub>(G).</p>")
    parts.append(_table(["quantity", "value / bound", "check"], brows))
    hrows = [[h["P"], h["rank_R"], _num(h["upper_bound"], ".4e"),
              _num(h.get("eigenvalue"), ".4e") if "eigenvalue" in h else "—"] for h in rep["hadamard_rank_bound"]]
    parts.append("<p>Hadamard-power rank bound: rank(G<sup>∘p</sup>) ≤ C(p+d−1, d−1), so with "
                 "R(P) = C(P+d, d), λ<sub>R(P)+1</sub>(K) ≤ n Σ<sub>p&gt;P</sub> κ<sub>p</sub>.</p>")
    parts.append(_table(["P", "R(P)", "bound on λ_{R+1}", "λ_{R+1} (if computed)"], hrows))

    # ------------------------------------------------------------------ effective rank vs depth
    if depths is None:
        depths = sorted(set(range(1, 9)) | {net.depth})
    depths = [int(L) for L in depths]
    if n > depth_points:
        idx = np.sort(np.random.default_rng(seed).choice(n, size=depth_points, replace=False))
        Xs = Xv[idx]
        sub_note = f"a random subsample of {depth_points} of the {n} points (seed {seed})"
    else:
        Xs = Xv
        sub_note = f"all {n} points"
    with prog.stage(f"report: effective rank vs depth ({len(depths)} depths, n={Xs.shape[0]})"):
        er = effective_rank_vs_depth(factory, Xs, depths, kind=kind)
        fig, ax = new_figure()
        ds = [r["depth"] for r in er]
        ax.semilogy(ds, [r["effective_rank"] for r in er], "o-", label="r(K) = Tr K / λ_1")
        b1 = [r["bound_theorem_4_1"] for r in er]
        b3 = [r["bound_theorem_4_3"] for r in er]
        if all(math.isfinite(b) for b in b1):
            ax.semilogy(ds, b1, "s--", ms=4, label="bound K(1)/κ_0 (Thm 4.1)")
        if all(math.isfinite(b) for b in b3):
            ax.semilogy(ds, b3, "^--", ms=4, label="bound (K(1)/κ_1) r(XXᵀ) (Thm 4.3)")
        ax.axhline(er[0]["input_effective_rank"], color="k", ls=":", lw=1, label="r(XXᵀ)")
        label_axes(ax, "depth L (hidden layers)", "effective rank",
                   f"{label}: effective rank of the {KIND} Gram vs depth (n = {Xs.shape[0]})")
        depth_png = png_bytes(fig)
    parts.append("<h2>5. Effective rank against depth</h2>")
    parts.append(f"<p>Same activation and variances at each depth, on {_e(sub_note)}.</p>")
    parts.append(_img(depth_png, "effective rank vs depth"))
    parts.append(_table(["depth", "r(K)", "λ_1", "κ_0", "κ_1", "bound K(1)/κ_0", "bound (K(1)/κ_1) r(XXᵀ)"],
                        [[r["depth"], _num(r["effective_rank"], ".5g"), _num(r["lambda_1"], ".6g"),
                          _num(r["kappa_0"], ".4e"), _num(r["kappa_1"], ".4e"),
                          _num(r["bound_theorem_4_1"], ".5g"), _num(r["bound_theorem_4_3"], ".5g")] for r in er]))

    # ------------------------------------------------------------------ page
    from . import __version__

    try:
        desc = activation_info(net.activation.name).spec.description
        source = activation_info(net.activation.name).plugin
    except (NtkrsError, KeyError, AttributeError):
        desc, source = "", ""
    head = [
        "<!DOCTYPE html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>{_e(title)}</title>", f"<style>{_STYLE}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        _table(["", ""], [
            ["network", repr(net)],
            ["activation", f"{label}" + (f" — {desc}" if desc else "") + (f" (from {source})" if source else "")],
            ["layer variances q_1…q_{L+1}", ", ".join(_num(v, ".6g") for v in net.variances)],
            ["data", data_description],
            ["kernel", KIND],
            ["generated by", f"ntkrs {__version__} in {time.perf_counter() - t_start:.1f} s"],
        ], left=2),
        "<p class=\"note\">Depth L = number of hidden layers; NTK parameterization; inputs on the unit "
        "sphere, ρ = ⟨x, y⟩. See DESIGN §1 of ntkrs for the conventions.</p>",
    ]
    return "\n".join(head + parts + ["</body></html>", ""])


def write_report(net: Network, X: Any, path: str | os.PathLike[str] = "report.html", **kwargs: Any) -> Path:
    """Write the self-contained HTML report of :func:`build_report` for ``net`` on the data
    ``X`` to ``path`` and return the path. It shows the coefficient decay of the NTK/NNGP power
    series, the exact eigenvalue decay on the sphere of the data's dimension, the top Gram
    eigenvalues beside the input Gram's, the effective-rank bounds (Theorems 4.1, 4.3, the
    Hadamard-power bound) and the effective rank against depth. Keyword arguments go to
    :func:`build_report` (``title``, ``data_description``, ``kind``, ``k``, ``depths``, …)."""
    text = build_report(net, X, **kwargs)
    p = Path(path)
    try:
        p.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(f"cannot write {str(p)!r}: {exc}") from None
    return p
