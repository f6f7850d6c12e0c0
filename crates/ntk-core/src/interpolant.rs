//! A certified piecewise-polynomial surrogate of the NTK/NNGP as a function of the input
//! correlation, for fast elementwise Gram evaluation (DESIGN §1.4).
//!
//! # Why not a polynomial in `ρ`
//!
//! For the ReLU family the kernel has square-root branch points at `ρ = ±1`
//! (`√(1−ρ²)`, `arccos ρ`), so no polynomial in `ρ` converges fast near the ends. In the
//! angle `θ = arccos ρ` every kernel of the arc-cosine family is analytic (layer 1:
//! `ψ(cos θ) = (sin θ + (π − θ) cos θ)/π`; deeper layers compose analytic maps whose angle
//! `θ_{l+1} = arccos ψ(cos θ_l)` is again analytic at `θ_l = 0`), and for smooth activations
//! the kernel is analytic in `ρ = cos θ` anyway. The surrogate therefore uses the
//! **half-chord** variables
//!
//! ```text
//! ρ ≥ 0:  s = sin(θ/2) = √((1 − ρ)/2) = ‖x − y‖/2,      K(ρ) = F₊(s),  ρ = 1 − 2s²,
//! ρ < 0:  s = cos(θ/2) = √((1 + ρ)/2) = ‖x + y‖/2,      K(ρ) = F₋(s),  ρ = 2s² − 1,
//! ```
//!
//! both with `s ∈ [0, 1/√2]`. `F±(s) = K(±cos(2 arcsin s))` is analytic on that interval
//! (`θ = 2 arcsin s` is analytic for `|s| < 1`) whenever `K` is analytic in `θ` — true for
//! smooth activations and for the continuous piecewise-linear ones (ReLU, leaky ReLU, abs,
//! hard-tanh, ReLU6), but not for discontinuous ones: the step function's layer map
//! `c ↦ 1 − arccos(c)/π` has `1 − c' ∝ θ`, so from depth 2 on its kernel has a `√s` branch
//! point at `s = 0`, the construction below cannot certify it, and the callers use the exact
//! recursion. `F±` costs one square root to reach from `ρ`
//! (no `arccos`), and — the reason for the name — `s` can be computed *directly* from the
//! two points as half the chord `‖x ∓ y‖`, to full relative accuracy, where `ρ` itself has
//! lost its digits (`ρ → ±1`). Identical rows give `s = 0` exactly, hence exactly `K(1)`.
//!
//! # Construction and certificate
//!
//! Each branch `[0, 1/√2]` is cut into `N` equal panels; on each panel the kernel is
//! interpolated by a polynomial of degree [`DEGREE`] in the local variable `t ∈ [−1, 1]`
//! at (perturbed) Chebyshev points, from exact evaluations of
//! [`PointwiseKernel`]. The nodes are chosen so that the correlation `ρ_i` handed to the
//! exact evaluator is a floating-point number and the abscissa used in the fit is the
//! half-chord `s_i = √((1 − |ρ_i|)/2)` of *that* number (so the fit does not inherit the
//! `√ε` conditioning of `s ↦ ρ` near `s = 0`); the Chebyshev coefficients are obtained by
//! a discrete cosine transform followed by two steps of iterative refinement on the
//! perturbed nodes, and then converted to monomial form in `t` (well conditioned because
//! the panels are small compared with the distance to the nearest singularity; the check
//! below measures the form that is actually evaluated).
//!
//! The error `|surrogate − exact|` is then measured on a check grid of `2(DEGREE+1)+1`
//! points per panel (panel ends included), built in the same way. Until its maximum is
//! below `tolerance · |K(1)| / 16` (a safety margin) the number of panels is doubled, a
//! branch at a time; once doubling stops paying off (error reduced by less than 4×, i.e.
//! the exact evaluator's own noise has been reached) or `N` would exceed [`MAX_PANELS`],
//! the surrogate is accepted if the error is below `tolerance · |K(1)|`, and otherwise the
//! construction gives up with [`NtkError::Convergence`] — callers then fall back to the
//! exact per-entry recursion. For an analytic `F±` the interpolation error decreases like
//! `(h/R)^{DEGREE+1}` with the panel half-width `h`, so a check grid twice as dense as the
//! nodes is a reliable (though not rigorous) measurement of the true maximum.
//!
//! # Evaluation
//!
//! One square root, one multiplication, a branch-free rounding to the panel index and a
//! Horner evaluation of degree [`DEGREE`], independent of depth and activation.
//! [`KernelInterpolant::eval_in_place`] evaluates [`LANES`] entries at a time (AVX2 when the
//! CPU has it; bit-identical to the scalar [`KernelInterpolant::eval`]), ≈ 5 ns per entry on
//! one core. The value at `s = 0` (`ρ = ±1`) is returned exactly from the scalar recursion.
use std::f64::consts::{FRAC_1_SQRT_2, PI};

use faer::Par;
use rayon::prelude::*;

use crate::error::{NtkError, Result};
use crate::gram::KernelKind;
use crate::kernel::PointwiseKernel;
use crate::series::{check, Cancel};

/// Degree of the polynomial on each panel.
pub const DEGREE: usize = 7;
/// Entries evaluated together by [`KernelInterpolant::eval_in_place`].
pub const LANES: usize = 8;
/// Number of coefficients per panel.
const NC: usize = DEGREE + 1;
/// Panels per branch at the first attempt.
pub const MIN_PANELS: usize = 8;
/// Largest number of panels per branch before giving up.
pub const MAX_PANELS: usize = 4096;
/// The default tolerance, relative to `|K(1)|` (DESIGN §6 asks for `1e-12·Θ(1)` on the
/// exact path; the surrogate stays an order of magnitude below).
pub const DEFAULT_TOLERANCE: f64 = 1e-13;
/// `s` at `ρ = 0`, the end of both branches.
const S_MAX: f64 = FRAC_1_SQRT_2;
/// The construction refines until the error is below `FINE_FACTOR · tolerance` (a margin for
/// what the check grid may miss), and accepts anything below the tolerance once refinement
/// stops paying off.
const FINE_FACTOR: f64 = 1.0 / 16.0;
/// Check points per panel: `CHECKS + 1` equispaced points, ends included.
const CHECKS: usize = 2 * NC;

/// One branch (`ρ ≥ 0` or `ρ < 0`): panels on `s ∈ [0, 1/√2]`.
#[derive(Debug, Clone)]
struct Branch {
    /// `N / S_MAX`.
    inv_width: f64,
    /// `N − 1`.
    last: usize,
    /// Monomial coefficients in `t`, highest degree first, per panel.
    coeffs: Vec<[f64; NC]>,
    /// Measured maximum error on the check grid.
    max_error: f64,
}

impl Branch {
    /// The polynomial of the panel containing `s` (`s ≥ 0`), evaluated at `s`; the same
    /// arithmetic as [`KernelInterpolant::eval`].
    #[inline(always)]
    fn poly(&self, s: f64) -> f64 {
        let (k, t) = locate(s * self.inv_width, self.last as f64);
        horner(&self.coeffs[k.min(self.last)], t)
    }
}

/// `1.5·2⁵²`: adding it rounds a double of magnitude `< 2⁵¹` to an integer (ties to even) and
/// leaves that integer in the low bits of the representation.
const ROUND_MAGIC: f64 = 6_755_399_441_055_744.0;

/// The panel index `k ∈ [0, last]` and local variable `t = 2(u − k) − 1` for `u = s·N/S_MAX
/// ≥ 0`: `k = round(min(u − ½, last))` (so `t ∈ [−1, 1]` up to round-off). Branch-free,
/// and the same arithmetic everywhere (construction check, scalar and batched evaluation).
#[inline(always)]
fn locate(u: f64, last: f64) -> (usize, f64) {
    let z = (u - 0.5).min(last) + ROUND_MAGIC;
    let kf = z - ROUND_MAGIC;
    // z ∈ [2⁵²·1.5, 2⁵²·1.5 + 2³²): the integer kf ≥ 0 sits in the low 32 bits
    let k = (z.to_bits() as u32) as usize;
    (k, 2.0 * (u - kf) - 1.0)
}

/// A node of a branch: for a target `s`, the correlation `ρ = sign·(1 − 2s²)` rounded to a
/// double and the half-chord `√((1 − |ρ|)/2)` of that double (the abscissa actually
/// represented), computed exactly as [`KernelInterpolant::eval`] does.
#[inline]
fn node(sign: f64, s: f64) -> (f64, f64) {
    let r = 1.0 - 2.0 * s * s;
    let rho = sign * r;
    (rho, half_chord_of(rho.abs()))
}

/// `√((1 − r)/2)` for `r = |ρ| ∈ [0, 1]`.
#[inline(always)]
fn half_chord_of(r: f64) -> f64 {
    ((1.0 - r) * 0.5).sqrt()
}

/// `T_0 … T_{NC−1}` at `t`.
#[inline]
fn chebyshev_values(t: f64) -> [f64; NC] {
    let mut v = [0.0; NC];
    v[0] = 1.0;
    if NC > 1 {
        v[1] = t;
    }
    for j in 2..NC {
        v[j] = 2.0 * t * v[j - 1] - v[j - 2];
    }
    v
}

/// Monomial coefficients of `T_j` (row `j`, lowest degree first); exact small integers.
fn chebyshev_to_monomial() -> [[f64; NC]; NC] {
    let mut m = [[0.0; NC]; NC];
    m[0][0] = 1.0;
    if NC > 1 {
        m[1][1] = 1.0;
    }
    for j in 2..NC {
        for p in 0..NC {
            let shifted = if p > 0 { 2.0 * m[j - 1][p - 1] } else { 0.0 };
            m[j][p] = shifted - m[j - 2][p];
        }
    }
    m
}

/// The Chebyshev points of the first kind `t_i = cos(π(2i+1)/(2NC))`.
fn chebyshev_nodes() -> [f64; NC] {
    let mut t = [0.0; NC];
    for (i, ti) in t.iter_mut().enumerate() {
        *ti = (PI * (2 * i + 1) as f64 / (2 * NC) as f64).cos();
    }
    t
}

/// Discrete cosine transform: Chebyshev coefficients of the interpolant of `f` at the exact
/// Chebyshev points.
fn dct(f: &[f64; NC], tv: &[[f64; NC]; NC]) -> [f64; NC] {
    let mut c = [0.0; NC];
    for (j, cj) in c.iter_mut().enumerate() {
        let mut acc = 0.0;
        for i in 0..NC {
            acc += f[i] * tv[i][j];
        }
        *cj = acc * if j == 0 { 1.0 } else { 2.0 } / NC as f64;
    }
    c
}

/// The kernel evaluator the surrogate approximates.
type ExactFn<'a> = dyn Fn(f64) -> Result<f64> + Sync + 'a;

struct Builder<'a> {
    exact: &'a ExactFn<'a>,
    sign: f64,
    par: Par,
    cancel: Cancel<'a>,
    nodes: [f64; NC],
    /// `T_j(t_i)` at the exact Chebyshev nodes.
    node_values: [[f64; NC]; NC],
    to_monomial: [[f64; NC]; NC],
}

impl Builder<'_> {
    /// Runs `f(k)` for the panels `0..n`, in parallel if allowed, polling `cancel`.
    fn per_panel<T: Send>(
        &self,
        n: usize,
        f: impl Fn(usize) -> Result<T> + Sync,
    ) -> Result<Vec<T>> {
        let g = |k: usize| {
            check(self.cancel)?;
            f(k)
        };
        match self.par {
            Par::Seq => (0..n).map(g).collect(),
            #[allow(unreachable_patterns)]
            _ => (0..n).into_par_iter().with_max_len(4).map(g).collect(),
        }
    }

    fn fit_panel(&self, k: usize, n: usize) -> Result<[f64; NC]> {
        let width = S_MAX / n as f64;
        let inv = n as f64 / S_MAX;
        let mut f = [0.0; NC];
        let mut tt = [0.0; NC];
        for i in 0..NC {
            let s = width * (k as f64 + 0.5 * (self.nodes[i] + 1.0));
            let (rho, se) = node(self.sign, s);
            f[i] = (self.exact)(rho)?;
            tt[i] = 2.0 * (se * inv - k as f64) - 1.0;
        }
        // interpolate at the perturbed nodes: DCT + iterative refinement
        let mut c = dct(&f, &self.node_values);
        for _ in 0..2 {
            let mut r = [0.0; NC];
            for i in 0..NC {
                let tv = chebyshev_values(tt[i]);
                let mut v = 0.0;
                for j in (0..NC).rev() {
                    v += c[j] * tv[j];
                }
                r[i] = f[i] - v;
            }
            let dc = dct(&r, &self.node_values);
            for j in 0..NC {
                c[j] += dc[j];
            }
        }
        // monomial coefficients, highest degree first
        let mut a = [0.0; NC];
        for p in 0..NC {
            let mut acc = 0.0;
            for j in (p..NC).rev() {
                acc += c[j] * self.to_monomial[j][p];
            }
            a[NC - 1 - p] = acc;
        }
        Ok(a)
    }

    fn check_panel(&self, branch: &Branch, k: usize, n: usize) -> Result<f64> {
        let width = S_MAX / n as f64;
        let mut err = 0.0f64;
        for j in 0..=CHECKS {
            let s = width * (k as f64 + j as f64 / CHECKS as f64);
            let (rho, se) = node(self.sign, s);
            let exact = (self.exact)(rho)?;
            let approx = branch.poly(se);
            let e = (approx - exact).abs();
            if e.is_nan() {
                return Err(NtkError::NonFinite(format!(
                    "kernel surrogate: non-finite value at rho = {rho}"
                )));
            }
            err = err.max(e);
        }
        Ok(err)
    }

    fn build(&self, tol_abs: f64) -> Result<Branch> {
        let mut n = MIN_PANELS;
        let mut prev = f64::INFINITY;
        loop {
            let coeffs = self.per_panel(n, |k| self.fit_panel(k, n))?;
            let mut branch = Branch {
                inv_width: n as f64 / S_MAX,
                last: n - 1,
                coeffs,
                max_error: f64::INFINITY,
            };
            let errs = self.per_panel(n, |k| self.check_panel(&branch, k, n))?;
            let err = errs.into_iter().fold(0.0f64, f64::max);
            branch.max_error = err;
            if err <= FINE_FACTOR * tol_abs {
                return Ok(branch);
            }
            let stalled = n >= 64 && err > 0.25 * prev;
            if 2 * n > MAX_PANELS || stalled {
                if err <= tol_abs {
                    return Ok(branch);
                }
                let which = if self.sign > 0.0 {
                    "rho >= 0"
                } else {
                    "rho < 0"
                };
                return Err(NtkError::Convergence(format!(
                    "kernel surrogate ({which}): max error {err:.3e} with {n} panels of degree \
                     {DEGREE} exceeds the tolerance {tol_abs:.3e}{}",
                    if stalled {
                        " (refinement stalled at the exact evaluator's noise level)"
                    } else {
                        ""
                    }
                )));
            }
            prev = err;
            n *= 2;
        }
    }
}

/// A certified piecewise-polynomial surrogate of `K(ρ)` (NTK or NNGP) on `[−1, 1]`, in the
/// half-chord variables `s = √((1 ∓ ρ)/2)` (see the module docs).
///
/// Guarantee (measured, see the module docs): `|eval(ρ) − K_exact(ρ)| ≤ max_error()
/// ≤ tolerance · |K(1)|` on a check grid twice as dense as the interpolation nodes, where
/// `K_exact` is [`PointwiseKernel`]; `eval(±1)` is exactly `K(±1)`. Thread-safe and cheap
/// to share (`Sync`); cloning copies the tables (a few hundred KiB at most).
#[derive(Debug, Clone)]
pub struct KernelInterpolant {
    kind: KernelKind,
    tolerance: f64,
    /// Both branches' panels: `ρ ≥ 0` first (`offset[0] = 0`), then `ρ < 0`.
    coeffs: Vec<[f64; NC]>,
    /// Indexed by `neg = (ρ < 0) as usize`.
    inv_width: [f64; 2],
    last: [usize; 2],
    offset: [usize; 2],
    at_end: [f64; 2],
    max_error: [f64; 2],
}

impl KernelInterpolant {
    /// Builds the surrogate of the `kind` kernel from an exact evaluator.
    ///
    /// `tolerance` is relative to `|K(1)|` ([`DEFAULT_TOLERANCE`] = `1e-13`); it must be
    /// finite and `≥ 1e-15`. `pk` must have been prepared with the NTK
    /// ([`crate::kernel::Network::pointwise`]`(true)`) for [`KernelKind::Ntk`]. The exact
    /// evaluations (a few thousand) run in parallel according to `par`; `cancel` is polled
    /// between panels.
    ///
    /// Errors: [`NtkError::Convergence`] when the tolerance cannot be certified (use the
    /// exact recursion instead), [`NtkError::Interrupted`], and any error of the exact
    /// evaluator (e.g. `Unsupported` for the NTK of a network prepared without it).
    pub fn new(
        pk: &PointwiseKernel,
        kind: KernelKind,
        tolerance: f64,
        par: Par,
        cancel: Cancel,
    ) -> Result<Self> {
        if !(tolerance.is_finite() && tolerance >= 1e-15) {
            return Err(NtkError::InvalidArgument(format!(
                "the surrogate tolerance must be finite and >= 1e-15, got {tolerance}"
            )));
        }
        let exact = |rho: f64| -> Result<f64> {
            match kind {
                KernelKind::Ntk => Ok(pk.ntk_nngp(rho)?.0),
                KernelKind::Nngp => pk.nngp(rho),
            }
        };
        let at_one = exact(1.0)?;
        let at_minus_one = exact(-1.0)?;
        if !(at_one.is_finite() && at_minus_one.is_finite()) {
            return Err(NtkError::NonFinite(format!(
                "kernel values at rho = ±1 are not finite ({at_one}, {at_minus_one})"
            )));
        }
        let tol_abs = tolerance * at_one.abs().max(f64::MIN_POSITIVE);
        let nodes = chebyshev_nodes();
        let mut node_values = [[0.0; NC]; NC];
        for i in 0..NC {
            node_values[i] = chebyshev_values(nodes[i]);
        }
        let mut builder = Builder {
            exact: &exact,
            sign: 1.0,
            par,
            cancel,
            nodes,
            node_values,
            to_monomial: chebyshev_to_monomial(),
        };
        let plus = builder.build(tol_abs)?;
        builder.sign = -1.0;
        let minus = builder.build(tol_abs)?;
        let np = plus.coeffs.len();
        let mut coeffs = plus.coeffs;
        coeffs.extend_from_slice(&minus.coeffs);
        Ok(KernelInterpolant {
            kind,
            tolerance,
            coeffs,
            inv_width: [plus.inv_width, minus.inv_width],
            last: [plus.last, minus.last],
            offset: [0, np],
            at_end: [at_one, at_minus_one],
            max_error: [plus.max_error, minus.max_error],
        })
    }

    /// Which kernel this is.
    pub fn kind(&self) -> KernelKind {
        self.kind
    }

    /// The requested tolerance (relative to `|K(1)|`).
    pub fn tolerance(&self) -> f64 {
        self.tolerance
    }

    /// The exact `K(1)` (`Θ(1)` or `NNGP(1)`).
    pub fn value_at_one(&self) -> f64 {
        self.at_end[0]
    }

    /// The exact `K(−1)`.
    pub fn value_at_minus_one(&self) -> f64 {
        self.at_end[1]
    }

    /// The measured maximum absolute error `max |surrogate − exact|` over both check grids.
    pub fn max_error(&self) -> f64 {
        self.max_error[0].max(self.max_error[1])
    }

    /// Numbers of panels of the `ρ ≥ 0` and `ρ < 0` branches.
    pub fn panels(&self) -> (usize, usize) {
        (self.last[0] + 1, self.last[1] + 1)
    }

    /// Branch `neg` (0: `ρ ≥ 0`, 1: `ρ < 0`) at the half-chord `s ≥ 0`.
    #[inline(always)]
    fn branch(&self, neg: usize, s: f64) -> f64 {
        if s == 0.0 {
            return self.at_end[neg];
        }
        let (k, t) = locate(s * self.inv_width[neg], self.last[neg] as f64);
        horner(&self.coeffs[self.offset[neg] + k.min(self.last[neg])], t)
    }

    /// `K(ρ)` for `ρ` in `[−1, 1]` (values outside are clamped to `±1`; `ρ` must not be NaN,
    /// which gives an unspecified value).
    ///
    /// Near `ρ = ±1` the result is only as good as `ρ` itself: an error `δ` in `ρ` moves the
    /// half-chord by `≈ δ/(4s)`. When the two points are at hand use
    /// [`eval_half_chord_plus`](Self::eval_half_chord_plus) /
    /// [`eval_half_chord_minus`](Self::eval_half_chord_minus) there.
    #[inline]
    pub fn eval(&self, rho: f64) -> f64 {
        let neg = (rho < 0.0) as usize;
        self.branch(neg, ((1.0 - rho.abs()).max(0.0) * 0.5).sqrt())
    }

    /// Overwrites every `v[i] = ρ_i` with `K(ρ_i)`, exactly as [`eval`](Self::eval) does, but
    /// [`LANES`] entries at a time with interleaved Horner chains (several times faster than
    /// a loop over [`eval`](Self::eval), whose cost is the latency of one Horner chain).
    pub fn eval_in_place(&self, v: &mut [f64]) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU supports AVX2 (checked just above).
                unsafe { self.eval_in_place_avx2(v) };
                return;
            }
        }
        self.eval_in_place_generic(v);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn eval_in_place_avx2(&self, v: &mut [f64]) {
        self.eval_in_place_generic(v);
    }

    #[inline(always)]
    fn eval_in_place_generic(&self, v: &mut [f64]) {
        let mut chunks = v.chunks_exact_mut(LANES);
        let len = self.coeffs.len();
        let (inv_p, inv_m) = (self.inv_width[0], self.inv_width[1]);
        let (last_p, last_m) = (self.last[0] as f64, self.last[1] as f64);
        let off_m = self.offset[1];
        let (end_p, end_m) = (self.at_end[0], self.at_end[1]);
        for c in &mut chunks {
            let mut neg = [false; LANES];
            let mut s = [0.0f64; LANES];
            let mut t = [0.0f64; LANES];
            let mut idx = [0usize; LANES];
            for l in 0..LANES {
                let r = c[l];
                neg[l] = r < 0.0;
                s[l] = ((1.0 - r.abs()).max(0.0) * 0.5).sqrt();
                let (inv, last, off) = if neg[l] {
                    (inv_m, last_m, off_m)
                } else {
                    (inv_p, last_p, 0)
                };
                let (k, tl) = locate(s[l] * inv, last);
                t[l] = tl;
                idx[l] = off + k;
            }
            // transpose the lanes' coefficients so the Horner steps run across lanes
            let mut a = [[0.0f64; LANES]; NC];
            for l in 0..LANES {
                let row = &self.coeffs[idx[l].min(len - 1)];
                for p in 0..NC {
                    a[p][l] = row[p];
                }
            }
            let mut y = a[0];
            for ap in &a[1..] {
                for l in 0..LANES {
                    y[l] = y[l] * t[l] + ap[l];
                }
            }
            for l in 0..LANES {
                let end = if neg[l] { end_m } else { end_p };
                c[l] = if s[l] == 0.0 { end } else { y[l] };
            }
        }
        for x in chunks.into_remainder() {
            *x = self.eval(*x);
        }
    }

    /// `K(1 − 2s²)` for the half-chord `s = ‖x − y‖/2 ∈ [0, 1/√2]` of two unit vectors
    /// (`s = 0`: exactly `K(1)`).
    #[inline]
    pub fn eval_half_chord_plus(&self, s: f64) -> f64 {
        self.branch(0, s)
    }

    /// `K(2s² − 1)` for `s = ‖x + y‖/2 ∈ [0, 1/√2]` (`s = 0`: exactly `K(−1)`).
    #[inline]
    pub fn eval_half_chord_minus(&self, s: f64) -> f64 {
        self.branch(1, s)
    }
}

/// Horner evaluation of one panel's polynomial (coefficients highest degree first).
#[inline(always)]
fn horner(c: &[f64; NC], t: f64) -> f64 {
    let mut y = c[0];
    for &a in &c[1..] {
        y = y * t + a;
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::closed_form::ClosedForm;
    use crate::kernel::Network;
    use crate::series::never_cancel;
    use std::sync::Arc;

    fn net(cf: ClosedForm, depth: usize) -> Network {
        Network::new(Arc::new(cf), depth).unwrap()
    }

    /// Max error of the surrogate vs the exact evaluator on a fine grid in ρ and near ±1.
    fn independent_error(ip: &KernelInterpolant, pk: &PointwiseKernel, kind: KernelKind) -> f64 {
        let exact = |r: f64| match kind {
            KernelKind::Ntk => pk.ntk_nngp(r).unwrap().0,
            KernelKind::Nngp => pk.nngp(r).unwrap(),
        };
        let mut pts: Vec<f64> = (0..=4001).map(|i| -1.0 + 2.0 * i as f64 / 4001.0).collect();
        for e in 1..=15 {
            let d = 10f64.powi(-e);
            pts.extend([1.0 - d, -1.0 + d, 1.0 - 3.3 * d, -1.0 + 7.7 * d]);
        }
        pts.iter()
            .map(|&r| (ip.eval(r) - exact(r)).abs())
            .fold(0.0, f64::max)
    }

    #[test]
    fn interpolant_accuracy_several_activations() {
        let cases: Vec<(ClosedForm, usize)> = vec![
            (ClosedForm::Relu, 1),
            (ClosedForm::Relu, 3),
            (ClosedForm::Relu, 10),
            (ClosedForm::LeakyRelu { slope: 0.2 }, 4),
            (ClosedForm::Abs, 2),
            (ClosedForm::Erf { scale: 1.0 }, 3),
            (ClosedForm::Erf { scale: 3.0 }, 2),
            (ClosedForm::Gelu, 2),
            (ClosedForm::Sin { freq: 1.0 }, 2),
            (ClosedForm::Gaussian, 3),
        ];
        for (cf, depth) in cases {
            let n = net(cf.clone(), depth);
            let pk = n.pointwise(true).unwrap();
            for kind in [KernelKind::Ntk, KernelKind::Nngp] {
                let ip = KernelInterpolant::new(
                    &pk,
                    kind,
                    DEFAULT_TOLERANCE,
                    Par::rayon(0),
                    &never_cancel,
                )
                .unwrap_or_else(|e| panic!("{cf:?} depth {depth} {kind:?}: {e}"));
                let one = ip.value_at_one();
                let err = independent_error(&ip, &pk, kind);
                eprintln!(
                    "{cf:?} L={depth} {kind:?}: panels {:?}, check err {:.2e}, grid err {:.2e} (rel)",
                    ip.panels(),
                    ip.max_error() / one,
                    err / one
                );
                assert!(ip.max_error() <= 1e-13 * one);
                assert!(err <= 1e-13 * one, "{cf:?} L={depth} {kind:?}: {err:e}");
                assert_eq!(ip.eval(1.0), one);
                assert_eq!(ip.eval_half_chord_plus(0.0), one);
            }
        }
    }

    #[test]
    fn batched_evaluation_equals_scalar() {
        let n = net(ClosedForm::Relu, 4);
        let pk = n.pointwise(true).unwrap();
        let ip =
            KernelInterpolant::new(&pk, KernelKind::Nngp, 1e-13, Par::Seq, &never_cancel).unwrap();
        let mut v: Vec<f64> = (0..1003)
            .map(|i| ((i as f64) * 0.618_033_988_7).fract() * 2.0 - 1.0)
            .collect();
        v.extend([
            1.0,
            -1.0,
            0.0,
            -0.0,
            1.0 + 1e-15,
            -1.0 - 1e-15,
            1e-300,
            -0.999_999_999,
        ]);
        for len in [0, 1, 7, 8, 9, 17, v.len()] {
            let mut w = v[..len].to_vec();
            ip.eval_in_place(&mut w);
            for (a, r) in w.iter().zip(&v[..len]) {
                assert_eq!(a.to_bits(), ip.eval(*r).to_bits(), "rho = {r}");
            }
        }
        assert_eq!(ip.eval(1.0 + 1e-15), ip.value_at_one());
        assert_eq!(ip.eval(-1.0), ip.value_at_minus_one());
        assert_eq!(ip.eval_half_chord_minus(0.0), ip.value_at_minus_one());
        // the half-chord entry points agree with eval at representable points
        for &r in &[0.3, 0.99, 0.999_999, -0.5, -0.999_99] {
            let s = ((1.0 - f64::abs(r)) * 0.5).sqrt();
            let via = if r >= 0.0 {
                ip.eval_half_chord_plus(s)
            } else {
                ip.eval_half_chord_minus(s)
            };
            assert_eq!(via, ip.eval(r));
        }
    }

    #[test]
    fn noisy_evaluator_is_reported_not_accepted() {
        // a coefficient list cut at 60 terms: psi and its complements disagree at ~1e-12,
        // so the refinement stalls and the construction gives up
        let mu = ClosedForm::Erf { scale: 1.0 }
            .coefficients(60, 1.0)
            .unwrap();
        let tab = crate::dual::Tabulated::unit("erf-60", mu.mu, Some(mu.second_moment), None)
            .unwrap()
            .into_dual();
        let n = Network::new(Arc::new(tab), 3).unwrap();
        let pk = n.pointwise(true).unwrap();
        let r = KernelInterpolant::new(&pk, KernelKind::Ntk, 1e-13, Par::rayon(2), &never_cancel);
        assert!(matches!(r, Err(NtkError::Convergence(_))), "{r:?}");
        // a looser tolerance is met
        let ip = KernelInterpolant::new(&pk, KernelKind::Ntk, 1e-10, Par::rayon(2), &never_cancel)
            .unwrap();
        assert!(ip.max_error() <= 1e-10 * ip.value_at_one());
    }

    #[test]
    fn interpolant_tabulated_activation() {
        // a coefficient-only activation (Hermite series evaluator)
        let mu = ClosedForm::Erf { scale: 1.0 }
            .coefficients(200, 1.0)
            .unwrap();
        let tab = crate::dual::Tabulated::unit("erf-tab", mu.mu, Some(mu.second_moment), None)
            .unwrap()
            .into_dual();
        let n = Network::new(Arc::new(tab), 3).unwrap();
        let pk = n.pointwise(true).unwrap();
        let ip = KernelInterpolant::new(
            &pk,
            KernelKind::Ntk,
            DEFAULT_TOLERANCE,
            Par::Seq,
            &never_cancel,
        )
        .unwrap();
        let one = ip.value_at_one();
        let err = independent_error(&ip, &pk, KernelKind::Ntk);
        assert!(err <= 1e-13 * one, "{err:e}");
    }

    #[test]
    fn interpolant_bad_tolerance_and_cancel() {
        let n = net(ClosedForm::Relu, 2);
        let pk = n.pointwise(true).unwrap();
        let r = KernelInterpolant::new(&pk, KernelKind::Ntk, f64::NAN, Par::Seq, &never_cancel);
        assert!(matches!(r, Err(NtkError::InvalidArgument(_))));
        let yes = || true;
        let r = KernelInterpolant::new(&pk, KernelKind::Ntk, 1e-13, Par::Seq, &yes);
        assert_eq!(r.unwrap_err(), NtkError::Interrupted);
        // an impossible tolerance is reported, not looped on
        let r = KernelInterpolant::new(&pk, KernelKind::Ntk, 1e-15, Par::rayon(0), &never_cancel);
        assert!(r.is_ok() || matches!(r, Err(NtkError::Convergence(_))));
    }
}
