//! Dual kernels of activations and their composition with power series.
//!
//! For an activation `φ` and a variance `q > 0` let `φ_q(z) = φ(√q z)` and
//! `μ_k = μ_k(φ_q) = E[φ_q(Z) h_k(Z)]`. For standard normal `(u, v)` with correlation `c`,
//!
//! ```text
//! ψ_q(c) = E[φ(√q u) φ(√q v)]   = Σ_k μ_k² c^k,
//! ψ̇_q(c) = E[φ'(√q u) φ'(√q v)] = Σ_k (k+1) μ_{k+1}² c^k / q  = ψ_q'(c) / q,
//! ```
//!
//! both with non-negative Taylor coefficients, `ψ_q(1) = E[φ(√qZ)²]` and
//! `ψ̇_q(1) = E[φ'(√qZ)²]`. For general variances `q₁, q₂` and covariance `s`
//! (`c = s/√(q₁q₂)`), `E[φ(u)φ(v)] = Σ_k μ_k(φ_{q₁}) μ_k(φ_{q₂}) c^k`.
//!
//! The [`Dual`] trait bundles what the kernel recursion of DESIGN §1.3–1.4 needs:
//!
//! * **series composition** [`Dual::compose`]: the coefficients of `ψ_q(c(ρ))` and
//!   `ψ̇_q(c(ρ))` up to degree `P` for a series `c(ρ)` with non-negative coefficients,
//!   `c_0 ∈ [0, 1)` and `c(1) ≤ 1`, plus a rigorous bound on what was left out;
//! * **pointwise values** [`Dual::psi`], [`Dual::psi_dot`] for general variances, and a
//!   per-layer evaluator [`Dual::layer`] that also returns `ψ_q(1) − ψ_q(c)` and
//!   `ψ_q(1) + ψ_q(c)` without cancellation (so that the correlation can be carried with
//!   its complements `1 ∓ c` near `c = ±1`; see [`Correlation`]).
//!
//! Implementations: [`HermiteDual`] (generic, from Hermite coefficients — any activation,
//! and [`Tabulated`] coefficients handed over per `q`), and the closed-form specialisations
//! on [`ClosedForm`](crate::closed_form::ClosedForm) in [`crate::closed_dual`].
//!
//! # The generic composition (DESIGN §1.3)
//!
//! With `c = c_0 + z`, `z_0 = 0`, cutting `Σ_k μ_k² c^k` at `k = P` is wrong as soon as
//! `c_0 > 0` (every power reaches every degree). Instead `ψ` is re-expanded about `c_0`:
//! with `p = 1 − c_0` and `z̃ = z/p` (so `z̃(1) ≤ 1`),
//!
//! ```text
//! ψ_q(c_0 + p z̃) = Σ_j t̃_j z̃^j,   t̃_j = Σ_k μ_k² C(k,j) c_0^{k−j} p^j = Σ_k μ_k² Pr[Bin(k,p) = j],
//! ```
//!
//! all terms positive; only `j ≤ J = P/d` matter (`d` the lowest degree in `z`). The `t̃_j`
//! are computed for `k ≤ K` by a Horner-type Taylor shift (`O(K J)` multiply–adds, positive
//! terms only). What the cut `k ≤ K` leaves out has total mass (sum of its coefficients of
//! degree ≤ P) at most `Pr[Bin(K+1, p) ≤ J] · Σ_{k>K} μ_k²` — the bound `m_K · tail` of
//! DESIGN §1.3 with the mass `m_K` bounded by a Chernoff bound — and `K` is increased
//! until every `t̃_j` is accurate to relative `≈ 1e-15`. Then `Σ_j t̃_j z̃^j` is composed by
//! [`series::compose_many`] (positive arithmetic again).
//!
//! # Pointwise evaluation near `|c| = 1`
//!
//! [`HermiteLayer`] sums `Σ_{k≤K} μ_k² c^k`; for activations with a kink the weights decay
//! only algebraically, so near `|c| = 1` the cut at `K` leaves `O(K^{1−α})` out (ELU at
//! `K = 2048`: `7e-7` in `ψ̇(−1)`). A [`TailModel`] fitted to the last weights (per parity,
//! `k^{−α}` times a polynomial in `1/k`, cross-checked on two windows and against the exact
//! tails `E[φ²] − Σ μ_k²`, `E[φ'²] − Σ k μ_k²/q`) adds the tail by Euler–Maclaurin
//! (generalized exponential integral / Hurwitz-zeta sums, [`power_sum`]) and reports its
//! uncertainty in [`DualValue::error`]; smooth activations get no model.
use std::fmt;

use crate::error::{NtkError, Result};
use crate::hermite::HermiteCoefficients;
use crate::series::{self, Cancel};

/// A correlation `c ∈ [−1, 1]` carried with its complements `1 − c` and `1 + c`.
///
/// Near the diagonal (`c → 1`) the arc-cosine kernels depend on `√(1 − c)`; computing
/// `1 − c` from a rounded `c` would lose half of the digits ("square-root difference
/// cancellation"). The kernel recursion therefore propagates `1 − c` and `1 + c`
/// themselves (each layer returns `ψ(1) ∓ ψ(c)` accurately, see [`DualValue`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Correlation {
    /// `c`.
    pub c: f64,
    /// `1 − c ≥ 0`, to full relative accuracy.
    pub one_minus: f64,
    /// `1 + c ≥ 0`, to full relative accuracy.
    pub one_plus: f64,
}

impl Correlation {
    /// From `c` itself (`|c| ≤ 1`; values within `1e-12` outside are clamped).
    /// Errors: NaN or `|c| > 1 + 1e-12` → `InvalidArgument`.
    pub fn new(c: f64) -> Result<Self> {
        if !c.is_finite() || c.abs() > 1.0 + 1e-12 {
            return Err(NtkError::InvalidArgument(format!(
                "a correlation must lie in [-1, 1], got {c}"
            )));
        }
        let c = c.clamp(-1.0, 1.0);
        Ok(Correlation {
            c,
            one_minus: 1.0 - c,
            one_plus: 1.0 + c,
        })
    }

    /// From the complements `1 − c` and `1 + c` (each clamped to `[0, 2]`); `c` is taken
    /// from the smaller one, so it is consistent with it.
    pub fn from_complements(one_minus: f64, one_plus: f64) -> Self {
        let one_minus = one_minus.clamp(0.0, 2.0);
        let one_plus = one_plus.clamp(0.0, 2.0);
        let c = if one_minus <= one_plus {
            1.0 - one_minus
        } else {
            one_plus - 1.0
        };
        Correlation {
            c,
            one_minus,
            one_plus,
        }
    }

    /// From a covariance and two variances: `c = s/√(q₁q₂)` (`c = 0` if a variance is 0).
    /// Errors: negative/non-finite inputs, or `|s| > √(q₁q₂)` beyond round-off.
    pub fn from_covariance(cov: f64, q1: f64, q2: f64) -> Result<Self> {
        check_variances(cov, q1, q2)?;
        if q1 == 0.0 || q2 == 0.0 {
            return Correlation::new(0.0);
        }
        let prod = q1 * q2;
        let c = if q1 == q2 {
            cov / q1
        } else if prod.is_finite() && prod > 0.0 {
            cov / prod.sqrt()
        } else {
            cov / (q1.sqrt() * q2.sqrt())
        };
        if c.abs() > 1.0 + 1e-10 {
            return Err(NtkError::InvalidArgument(format!(
                "covariance {cov} is not compatible with variances {q1}, {q2} (|s| > sqrt(q1 q2))"
            )));
        }
        Correlation::new(c.clamp(-1.0, 1.0))
    }

    /// The angle `θ = arccos c ∈ [0, π]` and `sin θ = √((1−c)(1+c))`, both computed from the
    /// complements (accurate near `c = ±1`).
    pub fn angle(&self) -> (f64, f64) {
        let sin = (self.one_minus * self.one_plus).max(0.0).sqrt();
        let theta = if self.c >= 0.0 {
            2.0 * (0.5 * self.one_minus).sqrt().min(1.0).asin()
        } else {
            std::f64::consts::PI - 2.0 * (0.5 * self.one_plus).sqrt().min(1.0).asin()
        };
        (theta, sin)
    }

    /// `arcsin c`, accurate near `c = ±1` (computed from the complements there).
    pub fn asin(&self) -> f64 {
        use std::f64::consts::FRAC_PI_2;
        if self.c.abs() <= 0.5 {
            self.c.asin()
        } else if self.c > 0.0 {
            FRAC_PI_2 - 2.0 * (0.5 * self.one_minus).sqrt().min(1.0).asin()
        } else {
            -FRAC_PI_2 + 2.0 * (0.5 * self.one_plus).sqrt().min(1.0).asin()
        }
    }
}

pub(crate) fn check_variances(cov: f64, q1: f64, q2: f64) -> Result<()> {
    if !(q1.is_finite() && q2.is_finite() && cov.is_finite()) {
        return Err(NtkError::NonFinite(format!(
            "non-finite covariance/variance (s = {cov}, q1 = {q1}, q2 = {q2})"
        )));
    }
    if q1 < 0.0 || q2 < 0.0 {
        return Err(NtkError::InvalidArgument(format!(
            "variances must be >= 0 (q1 = {q1}, q2 = {q2})"
        )));
    }
    Ok(())
}

pub(crate) fn check_q_positive(q: f64) -> Result<()> {
    if !q.is_finite() || q <= 0.0 {
        return Err(NtkError::InvalidArgument(format!(
            "the pre-activation variance q must be finite and > 0, got q = {q}"
        )));
    }
    Ok(())
}

/// One layer's dual at equal variances `q` and a correlation `c`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DualValue {
    /// `ψ_q(c) = E[φ(u)φ(v)]` for `u, v` of variance `q` and correlation `c`.
    pub psi: f64,
    /// `ψ̇_q(c) = E[φ'(u)φ'(v)]` (`+∞` where it diverges, e.g. the step function at `c = ±1`).
    pub psi_dot: f64,
    /// `ψ_q(1) − ψ_q(c) ≥ 0`, computed without cancellation near `c = 1` where the activation
    /// needs it (arc-cosine family, erf, sin/cos/exp, Gaussian, Hermite series).
    pub psi_gap: f64,
    /// `ψ_q(1) + ψ_q(c)`, computed without cancellation near `c = −1` where it matters.
    pub psi_plus: f64,
    /// Bound on the error of `psi` (and of `psi_gap`, `psi_plus`) from truncating a Hermite
    /// series; 0 for closed forms (round-off aside).
    pub error: f64,
    /// Bound on the error of `psi_dot` from truncating a Hermite series.
    pub error_dot: f64,
}

/// A dual prepared for one variance `q` (coefficients and constants precomputed), for fast
/// repeated pointwise evaluation (the layer recursion of the exact kernel). Thread-safe.
pub trait LayerDual: Send + Sync {
    /// The variance `q` this evaluator was prepared for.
    fn q(&self) -> f64;
    /// `ψ_q`, `ψ̇_q` and the complements at `c`.
    fn eval(&self, c: Correlation) -> Result<DualValue>;
}

/// Result of composing `ψ_q` (and optionally `ψ̇_q`) with a series `c(ρ)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Composition {
    /// Coefficients of `ψ_q(c(ρ))`, degrees `0..=P` (all ≥ 0).
    pub value: Vec<f64>,
    /// Coefficients of `ψ̇_q(c(ρ))`, degrees `0..=P`, if requested.
    pub derivative: Option<Vec<f64>>,
    /// Upper bound on `Σ_{p≤P}` of the (non-negative) coefficients of `ψ_q(c(ρ))` that the
    /// computation left out (Hermite sum cut at a finite `K`; coefficient errors of
    /// tabulated activations). 0 for closed forms and polynomials (round-off aside).
    pub value_error: f64,
    /// The same bound for `ψ̇_q(c(ρ))`.
    pub derivative_error: f64,
    /// The forward transform of `derivative[..P]` if the composition computed one (the
    /// kernel recursion's product `Θ_l · ψ̇∘c` reuses it).
    pub(crate) derivative_spectrum: Option<series::Spectrum>,
}

impl Composition {
    /// The composition with an empty (length-0) inner series.
    pub fn empty(derivative: bool) -> Self {
        Composition {
            value: Vec::new(),
            derivative: derivative.then(Vec::new),
            value_error: 0.0,
            derivative_error: 0.0,
            derivative_spectrum: None,
        }
    }
}

/// The dual kernel of an activation: everything the NTK/NNGP recursion needs.
///
/// `q` is always the (equal) variance of the two pre-activations; for different variances
/// use [`psi`](Dual::psi)/[`psi_dot`](Dual::psi_dot).
pub trait Dual: Send + Sync + fmt::Debug {
    /// Name used in error messages.
    fn name(&self) -> String;

    /// `ψ_q(1) = E[φ(√q Z)²]`.
    fn psi_one(&self, q: f64) -> Result<f64>;

    /// `ψ̇_q(1) = E[φ'(√q Z)²]`. `Domain` error where it is infinite (step function).
    fn psi_dot_one(&self, q: f64) -> Result<f64>;

    /// `E[φ(u)φ(v)]` for centred Gaussian `(u, v)` with variances `q1, q2` and covariance
    /// `cov` (`|cov| ≤ √(q1 q2)`).
    fn psi(&self, cov: f64, q1: f64, q2: f64) -> Result<f64>;

    /// `E[φ'(u)φ'(v)]` for the same `(u, v)` (Price's theorem: `∂/∂s` of [`psi`](Dual::psi)).
    fn psi_dot(&self, cov: f64, q1: f64, q2: f64) -> Result<f64>;

    /// A prepared evaluator for variance `q`.
    fn layer(&self, q: f64) -> Result<Box<dyn LayerDual>>;

    /// Coefficients of `ψ_q(c(ρ))` and, if `derivative`, of `ψ̇_q(c(ρ))`, truncated at the
    /// degree `P = c.len() − 1` of the input, for a series `c` with non-negative
    /// coefficients, `c_0 ∈ [0, 1]` and `Σ c_i ≤ 1` (a normalised covariance `a_l/q_l`).
    fn compose(&self, q: f64, c: &[f64], derivative: bool, cancel: Cancel) -> Result<Composition>;

    /// [`compose`](Dual::compose) with `1 − c_0` also given to full relative accuracy (the
    /// kernel recursion carries it from the previous layer's [`DualValue::psi_gap`]). When
    /// `c_0` is close to 1 the degree-`j` coefficients depend on `c_0` through `(1 − c_0)^{−j}`,
    /// so an absolute rounding `ε` of `c_0` costs `j ε/(1 − c_0)` relative; activations whose
    /// composition can use the accurate complement override this (and
    /// [`uses_complement`](Dual::uses_complement)). The default ignores it.
    fn compose_with_complement(
        &self,
        q: f64,
        c: &[f64],
        one_minus_c0: f64,
        derivative: bool,
        cancel: Cancel,
    ) -> Result<Composition> {
        let _ = one_minus_c0;
        self.compose(q, c, derivative, cancel)
    }

    /// Whether [`compose_with_complement`](Dual::compose_with_complement) uses the complement
    /// (the recursion then computes it, at the cost of one pointwise evaluation per layer).
    fn uses_complement(&self) -> bool {
        false
    }
}

/// Facts about an inner series `c` used by the compositions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Inner {
    /// `c_0`.
    pub c0: f64,
    /// `1 − c_0` (≥ the mass of `z`, so that `c_0 + z(1) ≤ 1`).
    pub p: f64,
    /// Lowest degree present in `z = c − c_0` (`usize::MAX` if `z = 0`).
    pub d: usize,
}

/// Validates an inner series for composition (finite, non-negative, `c_0 ≤ 1`,
/// `c(1) ≤ 1` up to round-off) and returns its facts.
pub(crate) fn inner_info(c: &[f64]) -> Result<Inner> {
    // one branch-free (vectorisable) pass for the common case: every entry finite and ≥ 0
    let mut bad = false;
    for &v in c {
        bad |= !(0.0..=f64::MAX).contains(&v);
    }
    if !bad {
        return inner_info_checked(c);
    }
    if let Some(i) = c.iter().position(|v| !v.is_finite()) {
        return Err(NtkError::NonFinite(format!(
            "inner series coefficient {i} is {}",
            c[i]
        )));
    }
    if let Some(i) = c.iter().position(|&v| v < 0.0) {
        return Err(NtkError::InvalidArgument(format!(
            "inner series coefficient {i} is negative ({}); dual compositions need non-negative \
             coefficients",
            c[i]
        )));
    }
    inner_info_checked(c)
}

/// [`inner_info`] for entries already known to be finite and non-negative.
fn inner_info_checked(c: &[f64]) -> Result<Inner> {
    let c0 = c.first().copied().unwrap_or(0.0);
    let zmass = if c.len() > 1 {
        series::sum(&c[1..])
    } else {
        0.0
    };
    let total = c0 + zmass;
    if c0 > 1.0 + 1e-12 || total > 1.0 + 1e-9 {
        return Err(NtkError::InvalidArgument(format!(
            "inner series must be a correlation: c_0 = {c0}, c(1) = {total} (need c_0 <= 1 and \
             c(1) <= 1)"
        )));
    }
    let c0 = c0.min(1.0);
    let p = (1.0 - c0).max(zmass);
    let d = if c.len() > 1 {
        let f = series::first_nonzero(&c[1..]);
        if f + 1 < c.len() {
            f + 1
        } else {
            usize::MAX
        }
    } else {
        usize::MAX
    };
    Ok(Inner { c0, p, d })
}

/// A composition with a constant inner series: `[ψ_q(c0), 0, …]`, `[ψ̇_q(c0), 0, …]`.
pub(crate) fn constant_composition(
    layer: &dyn LayerDual,
    c0: f64,
    n: usize,
    derivative: bool,
) -> Result<Composition> {
    let v = layer.eval(Correlation::new(c0)?)?;
    let mut value = vec![0.0; n];
    let mut dv = vec![0.0; n];
    if n > 0 {
        value[0] = v.psi;
        dv[0] = v.psi_dot;
    }
    Ok(Composition {
        value,
        derivative: derivative.then_some(dv),
        value_error: v.error,
        derivative_error: if derivative { v.error_dot } else { 0.0 },
        derivative_spectrum: None,
    })
}

// ------------------------------------------------------------------------------------------
// Generic duals from Hermite coefficients
// ------------------------------------------------------------------------------------------

/// A source of Hermite coefficients `μ_k(φ_q)` — what the generic dual needs.
pub trait HermiteSource: Send + Sync + fmt::Debug {
    /// Name used in error messages.
    fn name(&self) -> String;
    /// `μ_0..=μ_degree` of `φ_q` with `second_moment = E[φ_q²]` and an error estimate.
    /// May return fewer coefficients than asked when no more are available (tabulated).
    fn coefficients(&self, degree: usize, q: f64) -> Result<HermiteCoefficients>;
    /// `E[φ_q(Z)²] = ψ_q(1)`.
    fn second_moment(&self, q: f64) -> Result<f64> {
        Ok(self.coefficients(0, q)?.second_moment)
    }
    /// `E[φ'(√q Z)²] = ψ̇_q(1)`.
    fn derivative_second_moment(&self, q: f64) -> Result<f64>;
    /// `true` if the coefficients are exact up to round-off (closed forms): their `error`
    /// field is then not added to the composition bounds.
    fn exact(&self) -> bool {
        false
    }
    /// `Some(n)` if `φ` is a polynomial of degree `n` (finite Hermite expansion: no tail).
    fn polynomial_degree(&self) -> Option<usize> {
        None
    }
}

/// Largest Hermite degree `K` the generic composition will request (the Hermite module's
/// own limit).
pub const MAX_HERMITE_DEGREE: usize = crate::hermite::MAX_DEGREE;

/// Cap on the work `K · J` of one Taylor shift (multiply–adds) before the generic
/// composition settles for the bound it has.
const TAYLOR_WORK_CAP: f64 = 2.0e9;

/// Target relative accuracy of each re-expanded Taylor coefficient `t̃_j` (the cut at `K`).
const TAYLOR_REL_TOL: f64 = 1e-15;

/// Upper bound on `Pr[Bin(n, p) ≤ m]` (`p + q0 = 1`, both given accurately): the Chernoff
/// bound `exp(−n D(m/n ‖ p))` when `m < n p`, else 1.
pub fn binomial_cdf_upper(n: f64, p: f64, q0: f64, m: f64) -> f64 {
    if n <= 0.0 {
        return 1.0;
    }
    if m >= n * p {
        return 1.0;
    }
    if m < 0.0 {
        return 0.0;
    }
    if q0 <= 0.0 {
        // p = 1: Bin(n, 1) = n > m
        return 0.0;
    }
    if m == 0.0 {
        return (n * q0.ln()).exp();
    }
    let a = m / n;
    let d = a * (a / p).ln() + (1.0 - a) * ((1.0 - a) / q0).ln();
    (-n * d).exp().min(1.0)
}

/// Values below this are flushed to zero in the Taylor shift (subnormal arithmetic is slow).
const FLUSH_BELOW: f64 = 1e-290;

/// Taylor shift `t̃_j = Σ_{k≤K} w_k C(k,j) c0^{k−j} p^j`, `j < jn`, i.e. the coefficients of
/// `Σ_k w_k (c0 + p y)^k` in `y` (Horner in
/// `c0 + p y`: `R ← c0 R + p y R + w_k`, positive terms only, `O(K · jn)`).
pub fn taylor_shift(w: &[f64], c0: f64, p: f64, jn: usize, cancel: Cancel) -> Result<Vec<f64>> {
    let mut r = vec![0.0; jn.max(1)];
    let mut s = vec![0.0; jn.max(1)];
    if w.is_empty() {
        r.truncate(jn);
        return Ok(r);
    }
    if c0 == 0.0 {
        // Σ_k w_k (p y)^k: no re-expansion
        let mut pw = 1.0;
        for (j, rj) in r.iter_mut().enumerate().take(jn.min(w.len())) {
            let v = w[j] * pw;
            *rj = if v.abs() < FLUSH_BELOW { 0.0 } else { v };
            pw *= p;
        }
        r.truncate(jn);
        return Ok(r);
    }
    let kmax = w.len() - 1;
    for (step, k) in (0..=kmax).rev().enumerate() {
        if step % 2048 == 2047 {
            series::check(cancel)?;
        }
        let hi = (jn.max(1) - 1).min(kmax - k);
        s[0] = c0 * r[0] + w[k];
        if hi >= 1 {
            // values near the subnormal range are flushed (they would slow every later
            // step down by ~100× and carry no relative accuracy anyway)
            series::kernels::shift_step(&mut s[1..=hi], &r[1..=hi], &r[..hi], c0, p, FLUSH_BELOW);
        }
        std::mem::swap(&mut r, &mut s);
    }
    r.truncate(jn);
    Ok(r)
}

/// The generic composition of DESIGN §1.3 (Taylor re-expansion about `c_0`, adaptive `K`,
/// rigorous bound) for any [`HermiteSource`].
pub fn compose_hermite(
    src: &dyn HermiteSource,
    q: f64,
    c: &[f64],
    derivative: bool,
    cancel: Cancel,
) -> Result<Composition> {
    check_q_positive(q)?;
    let n = c.len();
    if n == 0 {
        return Ok(Composition::empty(derivative));
    }
    let inner = inner_info(c)?;
    if inner.d == usize::MAX {
        let layer = hermite_layer(src, q)?;
        return constant_composition(&layer, inner.c0, n, derivative);
    }
    let pdeg = n - 1;
    let jmax = pdeg / inner.d;
    let extra = usize::from(derivative);
    let jn = jmax + 1 + extra; // t̃_0..t̃_{J+extra}
    let (c0, p) = (inner.c0, inner.p);

    // choose K and compute t̃
    let (t, coefs, kused) = if let Some(deg) = src.polynomial_degree() {
        let coefs = src.coefficients(deg, q)?;
        let w: Vec<f64> = coefs.mu.iter().map(|m| m * m).collect();
        let t = taylor_shift(&w, c0, p, jn, cancel)?;
        let k = coefs.mu.len().saturating_sub(1);
        (t, coefs, k)
    } else if c0 == 0.0 {
        let want = jn - 1;
        let coefs = src.coefficients(want.min(MAX_HERMITE_DEGREE), q)?;
        let w: Vec<f64> = coefs.mu.iter().map(|m| m * m).collect();
        let t = taylor_shift(&w, c0, p, jn, cancel)?;
        let k = coefs.mu.len().saturating_sub(1);
        (t, coefs, k)
    } else {
        let jf = (jn - 1) as f64;
        // initial guess: mean K p beyond J by several standard deviations
        let guess = ((jf + 1.0 + 8.0 * (jf + 1.0).sqrt() + 40.0) / p).ceil();
        // at least the J (+1) coefficients the Taylor series needs, but never beyond the
        // Hermite limit: the degrees J > MAX_HERMITE_DEGREE are then covered by the bound
        let kmin = (jn - 1).min(MAX_HERMITE_DEGREE);
        let mut k = if guess.is_finite() {
            (guess.min(MAX_HERMITE_DEGREE as f64) as usize).clamp(kmin, MAX_HERMITE_DEGREE)
        } else {
            MAX_HERMITE_DEGREE
        };
        loop {
            series::check(cancel)?;
            let coefs = src.coefficients(k, q)?;
            let kact = coefs.mu.len().saturating_sub(1);
            let w: Vec<f64> = coefs.mu.iter().map(|m| m * m).collect();
            let t = taylor_shift(&w, c0, p, jn, cancel)?;
            // The rigorous tail (`tail_mass`) carries a round-off floor ~K ε E[φ²]; to choose K
            // use the better estimate "mass of the upper half of the known coefficients"
            // (≥ the tail for geometric decay, within ~2× for algebraic decay). The reported
            // bound below uses the rigorous tail.
            let upper_half: f64 = w[kact / 2 + 1..].iter().sum();
            let tail = coefs.tail_mass().min(upper_half);
            // worst relative error of a t̃_j caused by the cut
            let mut worst = 0.0f64;
            for (j, &tj) in t.iter().enumerate() {
                let b = tail * binomial_cdf_upper((kact + 1) as f64, p, c0, j as f64);
                if b > 0.0 {
                    worst = worst.max(if tj > 0.0 { b / tj } else { f64::INFINITY });
                }
            }
            let exhausted = kact < k;
            let next = (k as f64 * 2.0).min(MAX_HERMITE_DEGREE as f64) as usize;
            if worst <= TAYLOR_REL_TOL
                || exhausted
                || next <= k
                || (next as f64) * (jn as f64) > TAYLOR_WORK_CAP
            {
                break (t, coefs, kact);
            }
            k = next;
        }
    };

    // bounds on what the cut and the coefficient errors leave out
    let tail = if src.polynomial_degree().is_some() {
        0.0
    } else {
        coefs.tail_mass()
    };
    let kf = (kused + 1) as f64;
    let jf = jmax as f64;
    let mut value_error = tail * binomial_cdf_upper(kf, p, c0, jf);
    // Two valid bounds for ψ̇: from the ψ tail (t̃'_j = (j+1) t̃_{j+1}/(pq), amplified by 1/p),
    // and from the tail of ψ̇'s own weights w'_k = (k+1) μ_{k+1}²/q (needs E[φ'²]).
    let mut derivative_error =
        (jf + 1.0) / (p * q) * tail * binomial_cdf_upper(kf, p, c0, jf + 1.0);
    if derivative && src.polynomial_degree().is_none() {
        if let Ok(dsm) = src.derivative_second_moment(q) {
            let mu = &coefs.mu;
            let kk = mu.len();
            let dsum: f64 = (1..kk).map(|k| k as f64 * mu[k] * mu[k]).sum::<f64>() / q;
            let dtail = (dsm - dsum).max(0.0) + (kk as f64 + 2.0) * f64::EPSILON * dsm.abs();
            // weights w'_k for k ≤ K−1 are exact; the rest has mass ≤ dtail · Pr[Bin(K, p) ≤ J]
            let alt = dtail * binomial_cdf_upper((kused.max(1)) as f64, p, c0, jf);
            derivative_error = derivative_error.min(alt);
        }
    }
    if !src.exact() && coefs.error > 0.0 {
        let e = coefs.error;
        for (k, m) in coefs.mu.iter().enumerate() {
            let dk = 2.0 * m.abs() * e + e * e;
            value_error += dk;
            derivative_error += dk * (k as f64 * p).min(jf + 1.0) / (p * q);
        }
    }

    // compose Σ t̃_j z̃^j (and the derivative series t̃'_j = (j+1) t̃_{j+1} / (p q))
    let zt: Vec<f64> = c
        .iter()
        .enumerate()
        .map(|(i, &v)| if i == 0 { 0.0 } else { v / p })
        .collect();
    let tv = &t[..jmax + 1];
    let td: Vec<f64> = if derivative {
        (0..=jmax)
            .map(|j| (j + 1) as f64 * t[j + 1] / (p * q))
            .collect()
    } else {
        Vec::new()
    };
    let outs = if derivative {
        series::compose_many(&[tv, &td], &zt, n, cancel)?
    } else {
        series::compose_many(&[tv], &zt, n, cancel)?
    };
    let mut outs = outs.into_iter();
    let mut value = outs.next().unwrap_or_default();
    series::clamp_nonneg(&mut value);
    let derivative_series = outs.next().map(|mut d| {
        series::clamp_nonneg(&mut d);
        d
    });
    Ok(Composition {
        value,
        derivative: derivative_series,
        value_error,
        derivative_error: if derivative { derivative_error } else { 0.0 },
        derivative_spectrum: None,
    })
}

// ------------------------------------------------------------------------------------------
// Tail model of the Hermite weights (pointwise evaluation near |c| = 1)
// ------------------------------------------------------------------------------------------

/// `B_{2j}/(2j)!`, `j = 1..=6` (Euler–Maclaurin).
const EM_COEF: [f64; 6] = [
    1.0 / 12.0,
    -1.0 / 720.0,
    1.0 / 30_240.0,
    -1.0 / 1_209_600.0,
    1.0 / 47_900_160.0,
    -691.0 / 1_307_674_368_000.0,
];

/// `e^z E_s(z)` with `E_s(z) = ∫_1^∞ e^{−zt} t^{−s} dt` (`z ≥ 0`; `+∞` for `z = 0, s ≤ 1`).
/// Series `E_s = Γ(1−s) z^{s−1} − Σ_k (−z)^k/(k!(1−s+k))` for `z ≤ 1` (`s` must not be an
/// integer there), modified-Lentz continued fraction otherwise.
pub fn scaled_expint(s: f64, z: f64) -> f64 {
    if z <= 0.0 {
        return if s > 1.0 {
            1.0 / (s - 1.0)
        } else {
            f64::INFINITY
        };
    }
    if z <= 1.0 {
        let mut sum = 0.0f64;
        let mut term = 1.0f64; // (−z)^k / k!
        for k in 0..400 {
            let t = term / (1.0 - s + k as f64);
            sum += t;
            if k > 2 && t.abs() <= 1e-18 * sum.abs() {
                break;
            }
            term *= -z / (k as f64 + 1.0);
        }
        let e = libm::tgamma(1.0 - s) * z.powf(s - 1.0) - sum;
        e * z.exp()
    } else {
        let tiny = 1e-300;
        let mut b = z + s;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..2000 {
            let an = -(i as f64) * (s - 1.0 + i as f64);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let del = c * d;
            h *= del;
            if (del - 1.0).abs() <= 1e-16 {
                break;
            }
        }
        h
    }
}

/// `Σ_{k ≥ kmin, k ≡ parity (mod 2)} k^{−s} c^k` for `|c| ≤ 1`, with `om = 1 − |c|` given
/// accurately (Euler–Maclaurin in `m`, `k = 2m + parity`, with the integral as a scaled
/// generalized exponential integral). Meant for `kmin` in the hundreds or more and
/// `(1 − |c|) kmin ≲ 100` (where the sum is not negligible); `+∞` if it diverges.
pub fn power_sum(s: f64, kmin: usize, parity: usize, c: f64, om: f64) -> f64 {
    let par = (parity % 2) as f64;
    let m0 = ((kmin as f64 - par) / 2.0).ceil().max(0.0);
    let u0 = 2.0 * m0 + par;
    if u0 <= 0.0 {
        return f64::NAN;
    }
    // λ = −ln(c²) = −2 ln|c|
    let lam = if om <= 0.0 { 0.0 } else { -2.0 * (-om).ln_1p() };
    if lam == 0.0 && s <= 1.0 {
        return f64::INFINITY;
    }
    let z = 0.5 * lam * u0;
    // f(m) = e^{−λm} (2m+par)^{−s};  f(m0) = e^{−λ m0} u0^{−s}
    let log_f0 = -lam * m0 - s * u0.ln();
    // bracket = (u0/2) Ẽ_s(z) + 1/2 − Σ_j EM_j f^{(2j−1)}(m0)/f(m0)
    let mut bracket = 0.5 * u0 * scaled_expint(s, z) + 0.5;
    // f^{(n)}(m0)/f(m0) = Σ_i C(n,i) (−λ)^{n−i} (−2/u0)^i (s)_i
    let g = -2.0 / u0;
    for (j, &ej) in EM_COEF.iter().enumerate() {
        let n = 2 * j + 1;
        let mut acc = 0.0;
        let mut binom = 1.0f64;
        let mut poch = 1.0f64; // (s)_i
        let mut gi = 1.0f64; // g^i
        for i in 0..=n {
            let lp = (-lam).powi((n - i) as i32);
            acc += binom * lp * gi * poch;
            binom = binom * (n - i) as f64 / (i + 1) as f64;
            poch *= s + i as f64;
            gi *= g;
        }
        bracket -= ej * acc;
    }
    let mag = log_f0.exp() * bracket;
    if parity % 2 == 1 {
        // c^k = c · (c²)^m
        c * mag
    } else {
        mag
    }
}

/// How the Hermite weights `w_k = μ_k²` of one parity behave beyond the known ones.
#[derive(Debug, Clone, PartialEq)]
enum ParityTail {
    /// Exactly zero in the fitted window (e.g. the odd weights of ReLU).
    Zero,
    /// At the coefficients' noise level (smooth activations): no model, contributes nothing.
    Negligible,
    /// `w_k ≈ k^{−α} Σ_j e_j (K/k)^j` (a kink at 0: `α` a half-integer).
    Power { alpha: f64, e: Vec<f64> },
}

/// Power-law model of the tail of the Hermite weights `w_k = μ_k²` (`k > K`) of an activation
/// with a kink at 0, per parity, used by [`HermiteLayer`] to add the tail
/// `Σ_{k>K} w_k c^k` (and `Σ_{k≥K} (k+1) w_{k+1} c^k / q` for `ψ̇`) near `|c| = 1`, where
/// the Hermite series converges only algebraically.
///
/// A kink of `φ` at 0 (a jump in `φ^{(j)}`) gives `μ_k` whose square is, per parity of `k`,
/// `k^{−α} (C_0 + C_1/k + C_2/k² + …)` with `α = j + 3/2` (integration by parts: `μ_k` is a sum of
/// `g_{k−j−1}(0)/√(k!/(k−j−1)!)` terms). The model is fitted per parity on `k ∈ [K/2, K]`
/// (`α` the half-integer nearest to the log-log slope, then a relative least-squares fit of
/// the correction polynomial in `K/k`), and accepted only if (i) the slope is within 0.1 of
/// a half-integer on two windows, (ii) fits on `[K/4, K/2]` and with one more term predict
/// the same tail to a tolerance, and (iii) the predicted total tail at `c = 1` agrees with
/// the exact one (`E[φ²] − Σ_{k≤K} μ_k²`, and likewise for `E[φ'²]` when known). Their
/// disagreements make up the reported uncertainty. Activations whose weights are at the
/// noise level at `K` (smooth ones) get no model (the correction vanishes).
#[derive(Debug, Clone, PartialEq)]
pub struct TailModel {
    k: usize,
    parts: [ParityTail; 2],
    /// Uncertainty of the modelled `ψ` tail at `|c| = 1` (bound on `|Σ_{k>K}(w_k − model_k)|`).
    u_psi: f64,
    /// The same for the `ψ̇` tail (`+∞` if the model does not cover `ψ̇`).
    u_dot: f64,
    /// The modelled tails at `c = 1` per parity (`ψ`, `ψ̇`).
    t1: [f64; 2],
    d1: [f64; 2],
    q: f64,
}

/// Number of correction terms `e_j` of the fitted model.
const TAIL_TERMS: usize = 5;

/// Least-squares fit of `w_k k^α ≈ Σ_{j<nt} e_j (kref/k)^j` over `k ∈ [lo, hi]`, `k ≡ parity`,
/// with relative residuals. Returns the `e_j` (in powers of `u = kref/k`).
fn fit_power_window(
    w: &[f64],
    kref: f64,
    parity: usize,
    lo: usize,
    hi: usize,
    alpha: f64,
    nt: usize,
) -> Option<Vec<f64>> {
    let mut rows: Vec<(f64, f64)> = Vec::new(); // (u, y)
    let mut k = lo + ((lo + parity) % 2);
    while k <= hi && k < w.len() {
        if w[k] <= 0.0 {
            return None;
        }
        let kf = k as f64;
        rows.push((kref / kf, w[k] * kf.powf(alpha)));
        k += 2;
    }
    if rows.len() < 3 * nt {
        return None;
    }
    let (umin, umax) = rows
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), r| {
            (a.min(r.0), b.max(r.0))
        });
    let mid = 0.5 * (umin + umax);
    let half = (0.5 * (umax - umin)).max(1e-300);
    // design matrix in v = (u − mid)/half, rows divided by y (relative residuals)
    let n = rows.len();
    let mut a = vec![vec![0.0f64; n]; nt];
    let b: Vec<f64> = vec![1.0; n];
    for (i, &(u, y)) in rows.iter().enumerate() {
        let v = (u - mid) / half;
        let mut p = 1.0;
        for col in a.iter_mut() {
            col[i] = p / y;
            p *= v;
        }
    }
    // modified Gram–Schmidt QR
    let mut r = vec![vec![0.0f64; nt]; nt];
    for j in 0..nt {
        for i in 0..j {
            let d: f64 = a[i].iter().zip(&a[j]).map(|(x, y)| x * y).sum();
            r[i][j] = d;
            let (left, right) = a.split_at_mut(j);
            for (x, y) in right[0].iter_mut().zip(&left[i]) {
                *x -= d * y;
            }
        }
        let nrm: f64 = a[j].iter().map(|x| x * x).sum::<f64>().sqrt();
        if nrm.is_nan() || nrm <= 0.0 {
            return None;
        }
        r[j][j] = nrm;
        for x in a[j].iter_mut() {
            *x /= nrm;
        }
    }
    let mut qtb: Vec<f64> = (0..nt)
        .map(|j| a[j].iter().zip(&b).map(|(x, y)| x * y).sum())
        .collect();
    for j in (0..nt).rev() {
        let mut s = qtb[j];
        for i in j + 1..nt {
            s -= r[j][i] * qtb[i];
        }
        qtb[j] = s / r[j][j];
    }
    // coefficients in v → in u: v^j = ((u − mid)/half)^j
    let mut e = vec![0.0f64; nt];
    for (j, &cv) in qtb.iter().enumerate() {
        // expand (u − mid)^j / half^j
        let scale = half.powi(j as i32);
        let mut binom = 1.0f64;
        for (i, ei) in e.iter_mut().enumerate().take(j + 1) {
            // term C(j,i) u^i (−mid)^{j−i}
            *ei += cv * binom * (-mid).powi((j - i) as i32) / scale;
            binom = binom * (j - i) as f64 / (i + 1) as f64;
        }
    }
    if e.iter().all(|v| v.is_finite()) {
        Some(e)
    } else {
        None
    }
}

/// Log-log slope `−d ln w / d ln k` by least squares over `k ∈ [lo, hi]`, `k ≡ parity`.
fn loglog_slope(w: &[f64], parity: usize, lo: usize, hi: usize) -> Option<f64> {
    let (mut sx, mut sy, mut sxx, mut sxy, mut n) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let mut k = lo + ((lo + parity) % 2);
    while k <= hi && k < w.len() {
        if w[k] <= 0.0 {
            return None;
        }
        let x = (k as f64).ln();
        let y = w[k].ln();
        sx += x;
        sy += y;
        sxx += x * x;
        sxy += x * y;
        n += 1.0;
        k += 2;
    }
    if n < 8.0 {
        return None;
    }
    let den = n * sxx - sx * sx;
    if den <= 0.0 {
        return None;
    }
    Some(-(n * sxy - sx * sy) / den)
}

/// `Σ_j e_j K^j Σ_{m ≥ kmin, m ≡ parity} m^{−(α+j−shift)} c^m`.
#[allow(clippy::too_many_arguments)]
fn model_sum(
    alpha: f64,
    e: &[f64],
    kk: usize,
    kmin: usize,
    parity: usize,
    shift: f64,
    c: f64,
    om: f64,
) -> f64 {
    let kf = kk as f64;
    let mut t = 0.0;
    let mut kj = 1.0f64;
    for (j, &ej) in e.iter().enumerate() {
        t += ej * kj * power_sum(alpha + j as f64 - shift, kmin, parity, c, om);
        kj *= kf;
    }
    t
}

impl TailModel {
    /// Fits the model to `μ_0..=μ_K` (per-entry error `error`) at variance `q`.
    /// `tail_exact = (E[φ_q²] − Σ_{k≤K} μ_k², its uncertainty)` and, if `E[φ'²]` is known,
    /// `dtail_exact = (E[φ'(√qZ)²] − Σ_{k<K} (k+1) μ_{k+1}²/q, its uncertainty)`.
    /// `None` when the model does not apply (see the type docs).
    pub fn fit(
        mu: &[f64],
        error: f64,
        q: f64,
        tail_exact: (f64, f64),
        dtail_exact: Option<(f64, f64)>,
    ) -> Option<TailModel> {
        let kk = mu.len().checked_sub(1)?;
        if kk < 128 || q.is_nan() || q <= 0.0 {
            return None;
        }
        let w: Vec<f64> = mu.iter().map(|m| m * m).collect();
        let e = error.abs();
        let noise = |k: usize| 2.0 * mu[k].abs() * e + e * e + 4.0 * f64::EPSILON * w[k];
        let (a_lo, b_lo, b_hi) = (kk / 2, kk / 4, kk / 2);
        let mut parts = [ParityTail::Negligible, ParityTail::Negligible];
        let mut t1 = [0.0f64; 2];
        let mut d1 = [0.0f64; 2];
        let (mut u_psi, mut u_dot) = (0.0f64, 0.0f64);
        for par in 0..2 {
            let mut all_zero = true;
            let (mut min_snr, mut max_snr, mut max_rel) = (f64::INFINITY, 0.0f64, 0.0f64);
            let mut k = a_lo + ((a_lo + par) % 2);
            while k <= kk {
                if w[k] != 0.0 {
                    all_zero = false;
                }
                let nz = noise(k).max(f64::MIN_POSITIVE);
                let snr = w[k] / nz;
                min_snr = min_snr.min(snr);
                max_snr = max_snr.max(snr);
                max_rel = max_rel.max(nz / w[k].max(f64::MIN_POSITIVE));
                k += 2;
            }
            if all_zero {
                parts[par] = ParityTail::Zero;
                continue;
            }
            if max_snr <= 1e3 {
                continue; // Negligible
            }
            if min_snr < 1e5 {
                return None;
            }
            let sa = loglog_slope(&w, par, a_lo, kk)?;
            let sb = loglog_slope(&w, par, b_lo, b_hi)?;
            let alpha = (2.0 * sa).round() / 2.0;
            if (sa - alpha).abs() > 0.1 || (sb - alpha).abs() > 0.2 || alpha < 1.5 {
                return None;
            }
            let kref = kk as f64;
            let ea = fit_power_window(&w, kref, par, a_lo, kk, alpha, TAIL_TERMS)?;
            let ea2 = fit_power_window(&w, kref, par, a_lo, kk, alpha, TAIL_TERMS + 1)?;
            let eb = fit_power_window(&w, kref, par, b_lo, b_hi, alpha, TAIL_TERMS)?;
            let t = |ev: &[f64], shift: f64| model_sum(alpha, ev, kk, kk + 1, par, shift, 1.0, 0.0);
            let ta = t(&ea, 0.0);
            u_psi +=
                (ta - t(&eb, 0.0)).abs() + (ta - t(&ea2, 0.0)).abs() + 10.0 * max_rel * ta.abs();
            t1[par] = ta;
            if alpha > 2.0 {
                let td = t(&ea, 1.0) / q;
                u_dot += (td - t(&eb, 1.0) / q).abs()
                    + (td - t(&ea2, 1.0) / q).abs()
                    + 10.0 * max_rel * td.abs();
                d1[par] = td;
            } else {
                u_dot = f64::INFINITY;
            }
            parts[par] = ParityTail::Power { alpha, e: ea };
        }
        if !parts.iter().any(|p| matches!(p, ParityTail::Power { .. })) {
            return None;
        }
        if !u_psi.is_finite() {
            return None;
        }
        // (iii) the exact total tail at c = 1
        let disc = (t1[0] + t1[1] - tail_exact.0).abs();
        if disc > 10.0 * (u_psi + tail_exact.1) + 1e-300 {
            return None;
        }
        u_psi += disc;
        if u_dot.is_finite() {
            if let Some((dt, dslack)) = dtail_exact {
                let discd = (d1[0] + d1[1] - dt).abs();
                if discd > 10.0 * (u_dot + dslack) + 1e-300 {
                    u_dot = f64::INFINITY;
                } else {
                    u_dot += discd;
                }
            }
        }
        Some(TailModel {
            k: kk,
            parts,
            t1,
            d1,
            u_psi,
            u_dot,
            q,
        })
    }

    /// The last known index `K`.
    pub fn degree(&self) -> usize {
        self.k
    }

    /// The fitted exponents `α` (even, odd weights; `None` for a parity that is zero or
    /// negligible).
    pub fn exponents(&self) -> [Option<f64>; 2] {
        let f = |p: &ParityTail| match p {
            ParityTail::Power { alpha, .. } => Some(*alpha),
            _ => None,
        };
        [f(&self.parts[0]), f(&self.parts[1])]
    }

    /// Uncertainty of the modelled `ψ` tail at `|c| = 1` (and of the `ψ̇` tail; `+∞` if the
    /// model does not cover `ψ̇`).
    pub fn uncertainty(&self) -> (f64, f64) {
        (self.u_psi, self.u_dot)
    }

    /// Whether the model also covers the derivative kernel.
    pub fn covers_derivative(&self) -> bool {
        self.u_dot.is_finite()
    }

    /// `(Σ_{k>K, k even} w_k c^k, Σ_{k>K, k odd} w_k c^k)` from the model, `om = 1 − |c|`.
    pub fn psi_tail(&self, c: f64, om: f64) -> [f64; 2] {
        let mut out = [0.0; 2];
        for (par, p) in self.parts.iter().enumerate() {
            if let ParityTail::Power { alpha, e } = p {
                out[par] = model_sum(*alpha, e, self.k, self.k + 1, par, 0.0, c, om);
            }
        }
        out
    }

    /// `Σ_{k≥K} (k+1) w_{k+1} c^k / q` from the model, split by the parity of `k + 1`.
    pub fn dot_tail(&self, c: f64, om: f64) -> [f64; 2] {
        let mut out = [0.0; 2];
        if !self.covers_derivative() || c == 0.0 {
            return out;
        }
        for (par, p) in self.parts.iter().enumerate() {
            if let ParityTail::Power { alpha, e } = p {
                out[par] = model_sum(*alpha, e, self.k, self.k + 1, par, 1.0, c, om) / (self.q * c);
            }
        }
        out
    }
}

/// Pointwise evaluator from Hermite coefficients at one variance `q`.
///
/// `ψ_q(c) = Σ_{k≤K} w_k c^k + R`, `w_k = μ_k²`, `|R| ≤ |c|^{K+1} Σ_{k>K} μ_k²`; likewise for
/// `ψ̇_q` with `w'_k = (k+1) μ_{k+1}²/q` and the tail `E[φ'(√qZ)²] − Σ_{k<K} w'_k`. The
/// complements use `1 − c^k = (1 − c) Σ_{i<k} c^i` (parity-split for `c < 0`), so they carry
/// no cancellation. For activations with kinks the Hermite series converges slowly at
/// `|c| → 1`; the returned `error` fields say how far it can be off.
#[derive(Debug, Clone)]
pub struct HermiteLayer {
    q: f64,
    /// `μ_k²`, `k ≤ K`.
    w: Vec<f64>,
    /// `(k+1) μ_{k+1}² / q`, `k < K`.
    wd: Vec<f64>,
    /// `Σ_{k>K} μ_k²` (upper estimate).
    tail: f64,
    /// `E[φ'(√qZ)²] − Σ_{k<K} w'_k` (estimate, ≥ 0).
    dtail: f64,
    /// `E[φ_q²]`.
    second_moment: f64,
    /// `E_{>i} = Σ_{k even, i<k≤K} w_k` and `O_{>i}` (odd), for the complements.
    even_tail: Vec<f64>,
    odd_tail: Vec<f64>,
    /// `Σ_{k even ≤ K} w_k`, `Σ_{k odd ≤ K} w_k`.
    w_even: f64,
    w_odd: f64,
    /// Bound on the coefficient errors' effect on ψ (`Σ 2|μ_k|e + e²`), and on ψ̇.
    coef_err: f64,
    coef_err_dot: f64,
    /// Power-law model of the tail beyond `K` (kinked activations; see [`TailModel`]).
    model: Option<TailModel>,
    /// `Σ_k w'_k`.
    wd_sum: f64,
}

/// Hermite degree used by pointwise evaluators of closed-form/unbounded sources: doubled
/// from 512 until the tail is below `1e-17 · E[φ²]`, at most this.
const POINTWISE_MAX_DEGREE: usize = 8192;

/// Builds a [`HermiteLayer`] for `src` at variance `q`.
pub fn hermite_layer(src: &dyn HermiteSource, q: f64) -> Result<HermiteLayer> {
    check_q_positive(q)?;
    let coefs = if let Some(deg) = src.polynomial_degree() {
        src.coefficients(deg + 1, q)?
    } else {
        let mut k = 512usize;
        loop {
            let cf = src.coefficients(k, q)?;
            let short = cf.mu.len() < k + 1;
            if short
                || cf.tail_mass() <= 1e-17 * cf.second_moment.abs()
                || k >= POINTWISE_MAX_DEGREE
            {
                break cf;
            }
            k *= 2;
        }
    };
    let dsm = src.derivative_second_moment(q).ok();
    Ok(HermiteLayer::new(
        q,
        &coefs,
        dsm,
        src.polynomial_degree().is_some(),
        src.exact(),
    ))
}

impl HermiteLayer {
    /// From coefficients at `q`; `derivative_second_moment = E[φ'(√qZ)²]` if known (else the
    /// finite sum is used and the derivative tail is taken as 0); `finite` if the expansion
    /// is complete (polynomial); `exact` if coefficient errors are negligible.
    ///
    /// For a kinked activation whose highest coefficients sink into their own noise (e.g.
    /// quadrature coefficients of ELU at `K = 8192`), the [`TailModel`] is fitted on the
    /// largest `K' = K/2^i` whose window is above the noise, and the layer keeps
    /// `μ_0..=μ_{K'}` only, the model replacing the rest.
    pub fn new(
        q: f64,
        coefs: &HermiteCoefficients,
        derivative_second_moment: Option<f64>,
        finite: bool,
        exact: bool,
    ) -> Self {
        let layer = HermiteLayer::build(q, coefs, derivative_second_moment, finite, exact);
        if finite || layer.model.is_some() {
            return layer;
        }
        let mut kk = coefs.mu.len().saturating_sub(1) / 2;
        while kk >= 256 {
            let mut cut = coefs.clone();
            cut.mu.truncate(kk + 1);
            let l = HermiteLayer::build(q, &cut, derivative_second_moment, finite, exact);
            if l.model.is_some() {
                return l;
            }
            kk /= 2;
        }
        layer
    }

    fn build(
        q: f64,
        coefs: &HermiteCoefficients,
        derivative_second_moment: Option<f64>,
        finite: bool,
        exact: bool,
    ) -> Self {
        let mu = &coefs.mu;
        let w: Vec<f64> = mu.iter().map(|m| m * m).collect();
        let wd: Vec<f64> = (1..mu.len())
            .map(|k| k as f64 * mu[k] * mu[k] / q)
            .collect();
        let tail = if finite { 0.0 } else { coefs.tail_mass() };
        let dsum = series::sum(&wd);
        let dtail = match derivative_second_moment {
            Some(d) if !finite => (d - dsum).max(0.0),
            _ => 0.0,
        };
        let kk = w.len();
        let mut even_tail = vec![0.0; kk];
        let mut odd_tail = vec![0.0; kk];
        let (mut e, mut o) = (0.0, 0.0);
        for i in (0..kk).rev() {
            even_tail[i] = e;
            odd_tail[i] = o;
            if i % 2 == 0 {
                e += w[i];
            } else {
                o += w[i];
            }
        }
        let (coef_err, coef_err_dot) = if exact || coefs.error <= 0.0 {
            (0.0, 0.0)
        } else {
            let e = coefs.error;
            let mut a = 0.0;
            let mut b = 0.0;
            for (k, m) in mu.iter().enumerate() {
                let dk = 2.0 * m.abs() * e + e * e;
                a += dk;
                b += k as f64 * dk / q;
            }
            (a, b)
        };
        let model = if finite {
            None
        } else {
            // exact tails at c = 1 with their uncertainties (see HermiteCoefficients::tail_mass)
            let n = mu.len() as f64;
            let ce = coefs.error.abs();
            let sum_abs: f64 = mu.iter().map(|m| m.abs()).sum();
            let slack = 2.0 * ce * sum_abs * (1.0 + n * f64::EPSILON)
                + n * ce * ce
                + 8.0 * f64::EPSILON * coefs.second_moment.abs();
            let t_exact = (coefs.tail_mass() - slack).max(0.0);
            let d_exact = derivative_second_moment.map(|d| {
                let dslack = 2.0 * ce * (1..mu.len()).map(|k| k as f64 * mu[k].abs()).sum::<f64>()
                    / q
                    + 8.0 * f64::EPSILON * (d.abs() + dsum.abs());
                (d - dsum, dslack)
            });
            TailModel::fit(mu, coefs.error, q, (t_exact, slack), d_exact)
        };
        HermiteLayer {
            model,
            wd_sum: dsum,
            q,
            w,
            wd,
            tail,
            dtail,
            second_moment: coefs.second_moment,
            even_tail,
            odd_tail,
            w_even: e,
            w_odd: o,
            coef_err,
            coef_err_dot,
        }
    }

    /// The tail model in use, if the weights follow one (kinked activations).
    pub fn tail_model(&self) -> Option<&TailModel> {
        self.model.as_ref()
    }

    /// Number of terms needed at `|c| = x < 1` for the neglected part to be below
    /// `1e-18` relative (or all of them).
    fn effective_len(&self, x: f64, len: usize) -> usize {
        if x >= 1.0 || len == 0 {
            return len;
        }
        if x == 0.0 {
            return 1;
        }
        let k = (-41.5 / x.ln()).ceil();
        if k.is_finite() && (k as usize) < len {
            (k as usize).max(1)
        } else {
            len
        }
    }
}

/// `Σ_{i<len} a_i x^i` by Horner.
fn horner_n(a: &[f64], x: f64) -> f64 {
    let mut y = 0.0;
    for &v in a.iter().rev() {
        y = y * x + v;
    }
    y
}

impl LayerDual for HermiteLayer {
    fn q(&self) -> f64 {
        self.q
    }

    fn eval(&self, c: Correlation) -> Result<DualValue> {
        let x = c.c.abs();
        let kk = self.w.len();
        let len = self.effective_len(x, kk);
        let lend = self.effective_len(x, self.wd.len());
        // neglected part of the truncated sums beyond len (x^len * total)
        let cut = if len < kk {
            x.powi(len as i32) * self.second_moment.abs()
        } else {
            0.0
        };
        let cutd = if lend < self.wd.len() {
            x.powi(lend as i32) * self.wd_sum
        } else {
            0.0
        };
        let mut psi = horner_n(&self.w[..len], c.c);
        let mut psi_dot = horner_n(&self.wd[..lend], c.c);
        let xk = if x < 1.0 { x.powi(kk as i32) } else { 1.0 };
        // 1 − |c|, accurately
        let om = if c.c >= 0.0 { c.one_minus } else { c.one_plus };
        // the modelled tail, where it is not negligible (|c|^K > e^{-50})
        let model = self
            .model
            .as_ref()
            .filter(|_| om <= 0.0 || (kk as f64) * (-(-om).ln_1p()) <= 50.0);
        let (t_c, t_1) = match model {
            Some(m) => (m.psi_tail(c.c, om), m.t1),
            None => ([0.0; 2], [0.0; 2]),
        };
        // Horner round-off (γ_{2n} Σ w_k |c|^k ≤ γ_{2n} E[φ_q²])
        let u = 0.5 * f64::EPSILON;
        let cut = cut + 2.0 * len as f64 * u * self.second_moment.abs();
        let cutd = cutd + 2.0 * lend as f64 * u * self.wd_sum;
        let mut err = xk * self.tail + cut + self.coef_err;
        let mut err_dot = xk * self.dtail + cutd + self.coef_err_dot;
        if let Some(m) = model {
            psi += t_c[0] + t_c[1];
            err = xk * m.u_psi + cut + self.coef_err;
            if m.covers_derivative() {
                let d = m.dot_tail(c.c, om);
                psi_dot += d[0] + d[1];
                err_dot = xk * m.u_dot + cutd + self.coef_err_dot;
            }
        }
        // what the part beyond K adds to ψ(1) − ψ(c) and ψ(1) + ψ(c)
        let (tail_gap, tail_plus) = if model.is_some() {
            (
                (t_1[0] - t_c[0]) + (t_1[1] - t_c[1]),
                (t_1[0] + t_c[0]) + (t_1[1] + t_c[1]),
            )
        } else {
            (self.tail, self.tail)
        };
        // complements
        let (gap, plus) = if c.c >= 0.0 {
            // ψ(1) − ψ_K(c) = tail + Σ_k w_k (1 − c^k) = tail + (1 − c) Σ_i c^i W_{>i}
            let mut h = 0.0;
            for i in (0..len).rev() {
                h = h * x + (self.even_tail[i] + self.odd_tail[i]);
            }
            let gap = tail_gap + c.one_minus * h;
            (gap, self.second_moment + psi)
        } else {
            // x = −c: ψ_K(c) = B_e(x) − B_o(x); 1 − c^k = 1 − x^k (even), 1 + x^k (odd)
            let mut he = 0.0; // Σ_i x^i E_{>i}
            let mut ho = 0.0; // Σ_i x^i O_{>i}
            let mut be = 0.0; // Σ_even w_k x^k
            let mut bo = 0.0; // Σ_odd w_k x^k
            for i in (0..len).rev() {
                he = he * x + self.even_tail[i];
                ho = ho * x + self.odd_tail[i];
                let wi = self.w[i];
                if i % 2 == 0 {
                    be = be * x + wi;
                    bo *= x;
                } else {
                    bo = bo * x + wi;
                    be *= x;
                }
            }
            // here 1 − x = 1 + c = one_plus
            let gap = tail_gap + c.one_plus * he + self.w_odd + bo;
            let plus = tail_plus + self.w_even + be + c.one_plus * ho;
            (gap, plus)
        };
        Ok(DualValue {
            psi,
            psi_dot,
            psi_gap: gap.max(0.0),
            psi_plus: plus.max(0.0),
            error: err,
            error_dot: err_dot,
        })
    }
}

/// `Σ_k μ_k(φ_{q1}) μ_k(φ_{q2}) c^k` and `Σ_k (k+1) μ_{k+1}(q1) μ_{k+1}(q2) c^k / √(q1 q2)`
/// with Cauchy–Schwarz tail bounds, for a generic source at different variances.
pub(crate) fn hermite_psi_general(
    src: &dyn HermiteSource,
    cov: f64,
    q1: f64,
    q2: f64,
    derivative: bool,
) -> Result<f64> {
    let corr = Correlation::from_covariance(cov, q1, q2)?;
    if q1 == q2 && q1 > 0.0 {
        let v = hermite_layer(src, q1)?.eval(corr)?;
        return Ok(if derivative { v.psi_dot } else { v.psi });
    }
    if q1 == 0.0 || q2 == 0.0 {
        // one of the variables is 0 a.s.: E[φ(0) φ(v)] = φ(0) E[φ(v)]
        let a = src.coefficients(0, q1.max(f64::MIN_POSITIVE))?;
        let b = src.coefficients(0, q2.max(f64::MIN_POSITIVE))?;
        if derivative {
            let a = src.coefficients(1, q1.max(f64::MIN_POSITIVE))?;
            let b = src.coefficients(1, q2.max(f64::MIN_POSITIVE))?;
            // E[φ'(u)] = μ_1(φ_q)/√q
            let da = a.mu.get(1).copied().unwrap_or(0.0) / q1.max(f64::MIN_POSITIVE).sqrt();
            let db = b.mu.get(1).copied().unwrap_or(0.0) / q2.max(f64::MIN_POSITIVE).sqrt();
            return Ok(da * db);
        }
        return Ok(a.mu[0] * b.mu[0]);
    }
    let la = hermite_layer(src, q1)?;
    let degree = la.w.len().saturating_sub(1);
    let a = src.coefficients(degree, q1)?;
    let b = src.coefficients(degree, q2)?;
    let k = a.mu.len().min(b.mu.len());
    let x = corr.c;
    if derivative {
        let s = (q1 * q2).sqrt();
        let coef: Vec<f64> = (1..k).map(|i| i as f64 * a.mu[i] * b.mu[i] / s).collect();
        Ok(horner_n(&coef, x))
    } else {
        let coef: Vec<f64> = (0..k).map(|i| a.mu[i] * b.mu[i]).collect();
        Ok(horner_n(&coef, x))
    }
}

/// A generic [`Dual`] computed from the Hermite coefficients of any [`HermiteSource`].
#[derive(Debug, Clone)]
pub struct HermiteDual<S>(pub S);

impl<S: HermiteSource> Dual for HermiteDual<S> {
    fn name(&self) -> String {
        self.0.name()
    }
    fn psi_one(&self, q: f64) -> Result<f64> {
        check_q_positive(q)?;
        self.0.second_moment(q)
    }
    fn psi_dot_one(&self, q: f64) -> Result<f64> {
        check_q_positive(q)?;
        self.0.derivative_second_moment(q)
    }
    fn psi(&self, cov: f64, q1: f64, q2: f64) -> Result<f64> {
        hermite_psi_general(&self.0, cov, q1, q2, false)
    }
    fn psi_dot(&self, cov: f64, q1: f64, q2: f64) -> Result<f64> {
        hermite_psi_general(&self.0, cov, q1, q2, true)
    }
    fn layer(&self, q: f64) -> Result<Box<dyn LayerDual>> {
        Ok(Box::new(hermite_layer(&self.0, q)?))
    }
    fn compose(&self, q: f64, c: &[f64], derivative: bool, cancel: Cancel) -> Result<Composition> {
        compose_hermite(&self.0, q, c, derivative, cancel)
    }
}

// ------------------------------------------------------------------------------------------
// Tabulated coefficients (handed over per q, e.g. computed by Python per layer)
// ------------------------------------------------------------------------------------------

/// Hermite coefficients of an activation at one variance `q`.
#[derive(Debug, Clone, PartialEq)]
pub struct TabulatedEntry {
    /// The variance `q` (`φ_q(z) = φ(√q z)`).
    pub q: f64,
    /// `μ_k(φ_q)`, `k ≤ K`, with `second_moment = E[φ_q²]` (the tail `E[φ_q²] − Σ μ_k²` enters
    /// the bounds) and the per-entry `error`.
    pub coefficients: HermiteCoefficients,
    /// `E[φ'(√qZ)²]` if known. If `None`, `Σ_k k μ_k²/q` over the given coefficients is used,
    /// i.e. the list is taken as the complete expansion for the derivative kernel.
    pub derivative_second_moment: Option<f64>,
}

/// An activation known only through tabulated Hermite coefficients, for a fixed set of
/// variances `q` (typically `q = 1` for a coefficient-only activation, or one entry per
/// layer variance). Asking for another `q` is an `Unsupported` error. Use it as a [`Dual`]
/// through [`HermiteDual`]`<Tabulated>` (see [`Tabulated::into_dual`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Tabulated {
    name: String,
    entries: Vec<TabulatedEntry>,
}

impl Tabulated {
    /// Relative tolerance when matching a requested `q` to a tabulated one.
    pub const Q_TOLERANCE: f64 = 1e-10;

    /// Validates the entries (at least one; `q` finite and `> 0`; coefficients non-empty and
    /// finite; `second_moment`, `error`, derivative moment finite and `≥ 0`). A
    /// `second_moment` below `Σ μ_k²` (quadrature round-off) is raised to it.
    pub fn new(name: impl Into<String>, mut entries: Vec<TabulatedEntry>) -> Result<Self> {
        let name = name.into();
        for e in entries.iter_mut() {
            let s: f64 = e.coefficients.mu.iter().map(|m| m * m).sum();
            if e.coefficients.second_moment < s {
                e.coefficients.second_moment = s;
            }
        }
        if entries.is_empty() {
            return Err(NtkError::InvalidArgument(format!(
                "activation '{name}': no tabulated Hermite coefficients given"
            )));
        }
        for e in &entries {
            check_q_positive(e.q)?;
            let cf = &e.coefficients;
            if cf.mu.is_empty() {
                return Err(NtkError::InvalidArgument(format!(
                    "activation '{name}': empty coefficient list at q = {}",
                    e.q
                )));
            }
            if let Some(i) = cf.mu.iter().position(|v| !v.is_finite()) {
                return Err(NtkError::NonFinite(format!(
                    "activation '{name}': Hermite coefficient {i} at q = {} is {}",
                    e.q, cf.mu[i]
                )));
            }
            let bad = |what: &str, v: f64| {
                Err(NtkError::InvalidArgument(format!(
                    "activation '{name}': {what} at q = {} must be finite and >= 0, got {v}",
                    e.q
                )))
            };
            if !(cf.second_moment.is_finite() && cf.second_moment >= 0.0) {
                return bad("second_moment", cf.second_moment);
            }
            if !(cf.error.is_finite() && cf.error >= 0.0) {
                return bad("error", cf.error);
            }
            if let Some(d) = e.derivative_second_moment {
                if !(d.is_finite() && d >= 0.0) {
                    return bad("derivative_second_moment", d);
                }
            }
        }
        Ok(Tabulated { name, entries })
    }

    /// A coefficient-only activation at `q = 1`. If `second_moment` is smaller than
    /// `Σ μ_k²` it is raised to it (the list is then the complete expansion).
    pub fn unit(
        name: impl Into<String>,
        mu: Vec<f64>,
        second_moment: Option<f64>,
        derivative_second_moment: Option<f64>,
    ) -> Result<Self> {
        let s: f64 = mu.iter().map(|m| m * m).sum();
        let sm = second_moment.unwrap_or(s).max(s);
        Tabulated::new(
            name,
            vec![TabulatedEntry {
                q: 1.0,
                coefficients: HermiteCoefficients {
                    mu,
                    error: 0.0,
                    second_moment: sm,
                },
                derivative_second_moment,
            }],
        )
    }

    /// Wraps it as a [`Dual`].
    pub fn into_dual(self) -> HermiteDual<Tabulated> {
        HermiteDual(self)
    }

    /// The entries.
    pub fn entries(&self) -> &[TabulatedEntry] {
        &self.entries
    }

    fn entry(&self, q: f64) -> Result<&TabulatedEntry> {
        check_q_positive(q)?;
        self.entries
            .iter()
            .find(|e| (e.q - q).abs() <= Self::Q_TOLERANCE * e.q.max(q))
            .ok_or_else(|| {
                if self.entries.len() == 1 && self.entries[0].q == 1.0 {
                    NtkError::Unsupported(format!(
                        "coefficient-only activation supports q = 1 only: '{}' was asked for \
                         q = {q} (give input/weight/bias variances that keep unit variance, or \
                         give the activation as a function)",
                        self.name
                    ))
                } else {
                    let qs: Vec<String> = self.entries.iter().map(|e| format!("{}", e.q)).collect();
                    NtkError::Unsupported(format!(
                        "activation '{}' has coefficients tabulated for q in [{}] only, not for \
                         q = {q}",
                        self.name,
                        qs.join(", ")
                    ))
                }
            })
    }
}

impl HermiteSource for Tabulated {
    fn name(&self) -> String {
        self.name.clone()
    }
    fn coefficients(&self, degree: usize, q: f64) -> Result<HermiteCoefficients> {
        let e = self.entry(q)?;
        let mut cf = e.coefficients.clone();
        cf.mu.truncate(degree + 1);
        Ok(cf)
    }
    fn second_moment(&self, q: f64) -> Result<f64> {
        Ok(self.entry(q)?.coefficients.second_moment)
    }
    fn derivative_second_moment(&self, q: f64) -> Result<f64> {
        let e = self.entry(q)?;
        Ok(match e.derivative_second_moment {
            Some(d) => d,
            None => {
                let mu = &e.coefficients.mu;
                mu.iter()
                    .enumerate()
                    .map(|(k, m)| k as f64 * m * m)
                    .sum::<f64>()
                    / q
            }
        })
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop, clippy::excessive_precision)]
pub(crate) mod tests {
    use super::*;
    use crate::series::{mul_naive, never_cancel};
    use std::f64::consts::PI;

    /// Independent ReLU weights `w_k = μ_k²` at `q = 1` from the closed form
    /// (`w_0 = 1/(2π)`, `w_1 = 1/4`, `w_2 = 1/(4π)`, `w_{k+2} = w_k (k−1)²/((k+1)(k+2))`, odd
    /// `k ≥ 3` zero).
    pub(crate) fn relu_weights(k: usize) -> Vec<f64> {
        let mut w = vec![0.0; k + 1];
        w[0] = 1.0 / (2.0 * PI);
        if k >= 1 {
            w[1] = 0.25;
        }
        if k >= 2 {
            w[2] = 1.0 / (4.0 * PI);
        }
        let mut i = 2;
        while i + 2 <= k {
            let f = (i as f64 - 1.0).powi(2) / ((i as f64 + 1.0) * (i as f64 + 2.0));
            w[i + 2] = w[i] * f;
            i += 2;
        }
        w
    }

    /// The arc-cosine kernel of ReLU at unit variance.
    pub(crate) fn relu_psi(c: f64) -> f64 {
        ((1.0 - c * c).max(0.0).sqrt() + (PI - c.acos()) * c) / (2.0 * PI)
    }

    /// ReLU as a Hermite source built from [`relu_weights`] (homogeneous: `μ_k(φ_q) = √q μ_k`).
    #[derive(Debug)]
    pub(crate) struct TestRelu;

    impl HermiteSource for TestRelu {
        fn name(&self) -> String {
            "test-relu".into()
        }
        fn coefficients(&self, degree: usize, q: f64) -> Result<HermiteCoefficients> {
            let mu = relu_weights(degree)
                .iter()
                .map(|w| (w * q).sqrt())
                .collect();
            Ok(HermiteCoefficients {
                mu,
                error: 0.0,
                second_moment: 0.5 * q,
            })
        }
        fn derivative_second_moment(&self, _q: f64) -> Result<f64> {
            Ok(0.5)
        }
        fn exact(&self) -> bool {
            true
        }
    }

    /// `Σ_{k≤K} w_k c^k mod ρ^n` by Horner with naive products (the brute-force reference).
    pub(crate) fn brute(w: &[f64], c: &[f64], n: usize) -> Vec<f64> {
        let mut r = vec![0.0; n];
        for &wk in w.iter().rev() {
            r = mul_naive(&r, c, n);
            r[0] += wk;
        }
        r
    }

    #[test]
    fn binomial_cdf_bound_is_an_upper_bound() {
        for &n in &[1usize, 5, 20, 60, 150] {
            for &p in &[0.05, 0.3, 0.5, 0.9, 1.0] {
                let q0: f64 = 1.0 - p;
                let mut pmf = vec![0.0f64; n + 1];
                for (j, v) in pmf.iter_mut().enumerate() {
                    // C(n,j) p^j q^(n-j) via logs (small n: fine for a test)
                    let lc: f64 = (1..=n).map(|i| (i as f64).ln()).sum::<f64>()
                        - (1..=j).map(|i| (i as f64).ln()).sum::<f64>()
                        - (1..=n - j).map(|i| (i as f64).ln()).sum::<f64>();
                    let lp = if j == 0 { 0.0 } else { j as f64 * p.ln() };
                    let lq = if n == j {
                        0.0
                    } else {
                        (n - j) as f64 * q0.ln()
                    };
                    *v = (lc + lp + lq).exp();
                }
                let mut cdf = 0.0;
                for m in 0..=n {
                    cdf += pmf[m];
                    let ub = binomial_cdf_upper(n as f64, p, q0, m as f64);
                    assert!(
                        ub >= cdf * (1.0 - 1e-12) - 1e-300,
                        "n={n} p={p} m={m}: {ub} < {cdf}"
                    );
                }
            }
        }
    }

    #[test]
    fn taylor_shift_matches_binomial_sums() {
        let w: Vec<f64> = (0..30).map(|k| 1.0 / (1.0 + k as f64).powi(2)).collect();
        let (c0, p) = (0.35, 0.65);
        let t = taylor_shift(&w, c0, p, 12, &never_cancel).unwrap();
        for (j, &tj) in t.iter().enumerate() {
            let mut s = 0.0;
            for (k, &wk) in w.iter().enumerate().skip(j) {
                let mut binom = 1.0f64;
                for i in 0..j {
                    binom *= (k - i) as f64 / (i + 1) as f64;
                }
                s += wk * binom * c0.powi((k - j) as i32) * p.powi(j as i32);
            }
            assert!(((tj - s) / s).abs() < 1e-13, "j={j}: {tj} vs {s}");
        }
    }

    #[test]
    fn generic_composition_matches_brute_force_with_large_k() {
        let n = 31;
        let mut c = vec![0.6, 0.25, 0.1, 0.05];
        c.resize(n, 0.0);
        let comp = compose_hermite(&TestRelu, 1.0, &c, true, &never_cancel).unwrap();
        let big = relu_weights(6000);
        let want = brute(&big, &c, n);
        let wd: Vec<f64> = (0..6000).map(|k| (k + 1) as f64 * big[k + 1]).collect();
        let want_d = brute(&wd, &c, n);
        let got_d = comp.derivative.as_ref().unwrap();
        for p in 0..n {
            assert!(
                ((comp.value[p] - want[p]) / want[p]).abs() < 1e-12,
                "value p={p}: {} vs {}",
                comp.value[p],
                want[p]
            );
            assert!(
                ((got_d[p] - want_d[p]) / want_d[p]).abs() < 1e-12,
                "derivative p={p}: {} vs {}",
                got_d[p],
                want_d[p]
            );
        }
        assert!(comp.value_error < 1e-15 && comp.derivative_error < 1e-13);
        // cutting the Hermite sum at K = P instead is badly wrong in the upper coefficients
        let cut = brute(&relu_weights(n - 1), &c, n);
        assert!((cut[n - 1] - want[n - 1]).abs() / want[n - 1] > 0.1);
    }

    #[test]
    fn composition_bound_covers_a_short_coefficient_list() {
        // only 41 coefficients known: the deficit must be within the reported bound
        let k = 40;
        let w = relu_weights(k);
        let tab = Tabulated::unit(
            "relu40",
            w.iter().map(|v| v.sqrt()).collect(),
            Some(0.5),
            None,
        )
        .unwrap()
        .into_dual();
        let n = 25;
        let mut c = vec![0.5, 0.3, 0.2];
        c.resize(n, 0.0);
        let comp = tab.compose(1.0, &c, false, &never_cancel).unwrap();
        let want = brute(&relu_weights(5000), &c, n);
        let deficit: f64 = want.iter().zip(&comp.value).map(|(a, b)| a - b).sum();
        assert!(deficit > 0.0);
        assert!(
            comp.value_error >= deficit,
            "bound {} < deficit {}",
            comp.value_error,
            deficit
        );
        assert!(comp.value_error < 100.0 * deficit + 1e-6);
        for p in 0..n {
            assert!(comp.value[p] <= want[p] * (1.0 + 1e-12));
        }
    }

    #[test]
    fn zero_constant_term_is_exact_with_k_equal_p() {
        let n = 40;
        let mut c = vec![0.0, 0.7, 0.0, 0.3];
        c.resize(n, 0.0);
        let comp = compose_hermite(&TestRelu, 2.0, &c, true, &never_cancel).unwrap();
        let w: Vec<f64> = relu_weights(200).iter().map(|v| 2.0 * v).collect();
        let want = brute(&w, &c, n);
        for p in 0..n {
            let tol = 1e-13 * want[p].abs();
            assert!((comp.value[p] - want[p]).abs() <= tol, "p={p}");
        }
        assert_eq!(comp.value_error, 0.0);
    }

    #[test]
    fn tabulated_rejects_other_variances() {
        let tab = Tabulated::unit("mine", vec![0.1, 0.5, 0.2], None, None)
            .unwrap()
            .into_dual();
        let e = tab.psi_one(2.0).unwrap_err();
        match e {
            NtkError::Unsupported(m) => {
                assert!(
                    m.contains("coefficient-only activation supports q = 1 only"),
                    "{m}"
                )
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!((tab.psi_one(1.0).unwrap() - 0.3).abs() < 1e-15);
        // polynomial-like list: derivative moment from the list itself
        assert!((tab.psi_dot_one(1.0).unwrap() - (0.25 + 2.0 * 0.04)).abs() < 1e-15);
        assert!(Tabulated::unit("bad", vec![f64::NAN], None, None).is_err());
        assert!(Tabulated::new("none", vec![]).is_err());
    }

    // ---- tail model of kinked tabulated activations (gap: |c| → 1) ----

    const SELU_L: f64 = 1.050_700_987_355_480_5;
    const SELU_A: f64 = 1.673_263_242_354_377_3;

    pub(crate) type Act = (&'static str, fn(f64) -> f64, fn(f64) -> f64, &'static [f64]);

    pub(crate) fn activations() -> Vec<Act> {
        fn elu(x: f64) -> f64 {
            if x > 0.0 {
                x
            } else {
                x.exp_m1()
            }
        }
        fn delu(x: f64) -> f64 {
            if x > 0.0 {
                1.0
            } else {
                x.exp()
            }
        }
        fn selu(x: f64) -> f64 {
            SELU_L * if x > 0.0 { x } else { SELU_A * x.exp_m1() }
        }
        fn dselu(x: f64) -> f64 {
            SELU_L * if x > 0.0 { 1.0 } else { SELU_A * x.exp() }
        }
        fn softplus(x: f64) -> f64 {
            x.max(0.0) + (-x.abs()).exp().ln_1p()
        }
        fn dsoftplus(x: f64) -> f64 {
            1.0 / (1.0 + (-x).exp())
        }
        fn tanh(x: f64) -> f64 {
            x.tanh()
        }
        fn dtanh(x: f64) -> f64 {
            1.0 / x.cosh().powi(2)
        }
        vec![
            ("elu", elu, delu, &[0.0]),
            ("selu", selu, dselu, &[0.0]),
            ("softplus", softplus, dsoftplus, &[]),
            ("tanh", tanh, dtanh, &[]),
        ]
    }

    /// mpmath (40 digits): `[E φ_q², E φ_q(Z)φ_q(−Z), E φ'(√qZ)², E φ'(√qZ)φ'(−√qZ)]`.
    const MP_ENDPOINTS: &[(&str, f64, [f64; 4])] = &[
        (
            "elu",
            1.0,
            [
                0.6449454174929238630634614,
                -0.5231565837302467433636877,
                0.6681020012231706064271491,
                0.5231565837302467433636877,
            ],
        ),
        (
            "selu",
            1.0,
            [
                1.0,
                -0.9663940482697352274930748,
                1.071574992455799257574656,
                0.9663940482697352274930748,
            ],
        ),
        (
            "softplus",
            1.0,
            [
                0.9212459088593002786772487,
                0.4212459088593002786772487,
                0.2933790358580929627376492,
                0.2066209641419070372623508,
            ],
        ),
        (
            "tanh",
            1.0,
            [
                0.3942944903978411744164598,
                -0.3942944903978411744164598,
                0.4644029024482682419720215,
                0.4644029024482682419720215,
            ],
        ),
        (
            "elu",
            2.5,
            [
                1.468800522707591541316879,
                -0.9934065612016024895900825,
                0.6161631471882325371529118,
                0.397362624480640995836033,
            ],
        ),
        (
            "selu",
            2.5,
            [
                2.056259150033679891704277,
                -1.835057071082079203687416,
                0.9110364981330039438847626,
                0.7340228284328316814749664,
            ],
        ),
        (
            "softplus",
            2.5,
            [
                1.616382532994981066497545,
                0.3663825329949810664975453,
                0.3277292936795876496337206,
                0.1722707063204123503662794,
            ],
        ),
        (
            "tanh",
            2.5,
            [
                0.5588214302906383087871501,
                -0.5588214302906383087871501,
                0.3169080033909929975833276,
                0.3169080033909929975833276,
            ],
        ),
    ];

    /// Coefficients from the sampling plan (as the Python layer computes them) and the
    /// layer built from them, as for a `Tabulated` activation.
    fn tabulated_layer(act: &Act, q: f64, degree: usize) -> HermiteLayer {
        use crate::quadrature::SamplingPlan;
        let plan = SamplingPlan::new(degree, act.3, q).unwrap();
        let vals: Vec<f64> = plan.points().iter().map(|&x| (act.1)(x)).collect();
        let cf = plan.coefficients(&vals).unwrap();
        let dplan = SamplingPlan::new(64, act.3, q).unwrap();
        let dvals: Vec<f64> = dplan.points().iter().map(|&x| (act.2)(x)).collect();
        let dsm = dplan.coefficients(&dvals).unwrap().second_moment;
        HermiteLayer::new(q, &cf, Some(dsm), false, false)
    }

    /// A `Tabulated` activation with coefficients from the sampling plan at each `q`.
    pub(crate) fn tabulated_activation(act: &Act, qs: &[f64], degree: usize) -> Tabulated {
        use crate::quadrature::SamplingPlan;
        let entries = qs
            .iter()
            .map(|&q| {
                let plan = SamplingPlan::new(degree, act.3, q).unwrap();
                let vals: Vec<f64> = plan.points().iter().map(|&x| (act.1)(x)).collect();
                let cf = plan.coefficients(&vals).unwrap();
                let dplan = SamplingPlan::new(64, act.3, q).unwrap();
                let dvals: Vec<f64> = dplan.points().iter().map(|&x| (act.2)(x)).collect();
                let dsm = dplan.coefficients(&dvals).unwrap().second_moment;
                TabulatedEntry {
                    q,
                    coefficients: cf,
                    derivative_second_moment: Some(dsm),
                }
            })
            .collect();
        Tabulated::new(act.0, entries).unwrap()
    }

    /// `E[φ(u)φ(v)]`, `E[φ'(u)φ'(v)]` for `u, v` of variance `q`, correlation `c`, in polar
    /// coordinates of the standard normal plane, split at the rays where `u` or `v` crosses
    /// 0 (the kink), tensor Gauss–Legendre on each sector × radial panels.
    pub(crate) fn polar_reference(act: &Act, q: f64, c: f64) -> (f64, f64) {
        use crate::quadrature::gauss_legendre;
        let (gx, gw) = gauss_legendre(24);
        let s = ((1.0 - c) * (1.0 + c)).max(0.0).sqrt();
        let sq = q.sqrt();
        let two_pi = 2.0 * PI;
        let t0 = (-c).atan2(s).rem_euclid(PI);
        let mut cuts = vec![0.0, PI / 2.0, PI, 1.5 * PI, two_pi, t0, t0 + PI];
        cuts.sort_by(|a, b| a.partial_cmp(b).unwrap());
        cuts.dedup_by(|a, b| (*a - *b).abs() < 1e-15);
        // radial nodes: panels of 0.5 on [0, 13]
        let mut rn = Vec::new();
        let mut rw = Vec::new();
        for p in 0..26 {
            let (a, b) = (0.5 * p as f64, 0.5 * (p + 1) as f64);
            for (x, w) in gx.iter().zip(&gw) {
                let r = 0.5 * (b - a) * x + 0.5 * (a + b);
                rn.push(r);
                rw.push(0.5 * (b - a) * w * r * (-0.5 * r * r).exp() / two_pi);
            }
        }
        let (mut v, mut d) = (0.0f64, 0.0f64);
        let (mut cv_comp, mut cd_comp) = (0.0f64, 0.0f64);
        for win in cuts.windows(2) {
            let (lo, hi) = (win[0], win[1]);
            if hi - lo <= 0.0 {
                continue;
            }
            let m = ((hi - lo) / 0.25).ceil().max(1.0) as usize;
            for piece in 0..m {
                let a = lo + (hi - lo) * piece as f64 / m as f64;
                let b = lo + (hi - lo) * (piece + 1) as f64 / m as f64;
                for (x, w) in gx.iter().zip(&gw) {
                    let t = 0.5 * (b - a) * x + 0.5 * (a + b);
                    let wt = 0.5 * (b - a) * w;
                    let (ct, st) = (t.cos(), t.sin());
                    let (cu, cv) = (ct, c * ct + s * st);
                    let (mut rv, mut rd) = (0.0f64, 0.0f64);
                    for (&r, &wr) in rn.iter().zip(&rw) {
                        let (u, vv) = (sq * r * cu, sq * r * cv);
                        rv += wr * (act.1)(u) * (act.1)(vv);
                        rd += wr * (act.2)(u) * (act.2)(vv);
                    }
                    // Neumaier-compensated accumulation over the angles
                    for (acc, comp, term) in [
                        (&mut v, &mut cv_comp, wt * rv),
                        (&mut d, &mut cd_comp, wt * rd),
                    ] {
                        let t2 = *acc + term;
                        *comp += if acc.abs() >= term.abs() {
                            (*acc - t2) + term
                        } else {
                            (term - t2) + *acc
                        };
                        *acc = t2;
                    }
                }
            }
        }
        (v + cv_comp, d + cd_comp)
    }

    #[test]
    fn tail_model_across_hermite_degrees() {
        // ELU / SELU tabulated at K = 512 (short) and K = 8192 (top coefficients at the
        // quadrature's noise level: the model is fitted below it): ψ(−1), ψ̇(−1) to 1e-10
        for act in activations().into_iter().filter(|a| !a.3.is_empty()) {
            let mp = MP_ENDPOINTS
                .iter()
                .find(|r| r.0 == act.0 && r.1 == 1.0)
                .unwrap()
                .2;
            for &k in &[512usize, 8192] {
                let layer = tabulated_layer(&act, 1.0, k);
                let m = layer.tail_model().expect("tail model");
                for (c, rv, rd) in [(-1.0, mp[1], mp[3]), (1.0, mp[0], mp[2])] {
                    let v = layer.eval(Correlation::new(c).unwrap()).unwrap();
                    eprintln!(
                        "{} K={k} (model from K'={}) c={c}: psi err {:.1e}, psi_dot err {:.1e}",
                        act.0,
                        m.degree(),
                        (v.psi - rv).abs(),
                        (v.psi_dot - rd).abs()
                    );
                    assert!(
                        (v.psi - rv).abs() <= 1e-10 * rv.abs(),
                        "{} K={k} c={c}",
                        act.0
                    );
                    assert!(
                        (v.psi_dot - rd).abs() <= 1e-10 * rd.abs(),
                        "{} K={k} c={c}",
                        act.0
                    );
                    assert!(
                        (v.psi_dot - rd).abs() <= v.error_dot + 1e-13,
                        "{} K={k} c={c}",
                        act.0
                    );
                }
            }
        }
    }

    #[test]
    fn power_sums_match_direct_summation() {
        for &(s, kmin, par) in &[
            (2.5f64, 300usize, 0usize),
            (3.5, 301, 1),
            (1.5, 500, 1),
            (4.5, 1000, 0),
        ] {
            for &c in &[1.0f64, -1.0, 0.999, -0.995, 0.98] {
                let om = 1.0 - c.abs();
                let got = power_sum(s, kmin, par, c, om);
                let mut want = 0.0f64;
                let mut k = kmin + ((kmin + par) % 2);
                let kend = if om == 0.0 { 40_000_000 } else { kmin + 80_000 };
                let mut terms = Vec::new();
                while k <= kend {
                    terms.push((k as f64).powf(-s) * c.powi(k as i32));
                    k += 2;
                }
                for t in terms.iter().rev() {
                    want += t;
                }
                if om == 0.0 {
                    // add the (Hurwitz) remainder beyond kend by its integral
                    let kf = (kend + 1) as f64;
                    let sign = if c < 0.0 && par == 1 { -1.0 } else { 1.0 };
                    want += sign * 0.5 * kf.powf(1.0 - s) / (s - 1.0);
                }
                let tol = if om == 0.0 && s < 2.0 { 1e-9 } else { 1e-13 };
                assert!(
                    ((got - want) / want).abs() < tol,
                    "s={s} kmin={kmin} par={par} c={c}: {got} vs {want}"
                );
            }
        }
        // e^z E_s(z) against a direct quadrature-free identity: E_{s+1} = (e^{−z} − z E_s)/s
        for &s in &[1.5f64, 2.5, 5.5] {
            for &z in &[0.3f64, 0.9, 1.1, 4.0, 30.0] {
                let a = scaled_expint(s, z);
                let b = scaled_expint(s + 1.0, z);
                assert!(((b - (1.0 - z * a) / s) / b).abs() < 1e-12, "s={s} z={z}");
            }
        }
    }

    #[test]
    fn tail_model_makes_kinked_tabulated_layers_accurate_near_the_ends() {
        let mut worst = 0.0f64;
        for act in activations() {
            for &q in &[1.0, 2.5] {
                let layer = tabulated_layer(&act, q, 2048);
                let model = layer.tail_model();
                let kinked = !act.3.is_empty();
                assert_eq!(
                    model.is_some(),
                    kinked,
                    "{} q={q}: model {:?}",
                    act.0,
                    model
                );
                if let Some(m) = model {
                    eprintln!(
                        "{} q={q}: exponents {:?} uncertainty {:?}",
                        act.0,
                        m.exponents(),
                        m.uncertainty()
                    );
                }
                let mp = MP_ENDPOINTS
                    .iter()
                    .find(|r| r.0 == act.0 && r.1 == q)
                    .unwrap()
                    .2;
                let scale = mp[0].abs();
                let dscale = mp[2].abs();
                for &c in &[
                    -1.0, -0.99999, -0.9995, -0.99, -0.9, -0.4, 0.3, 0.9, 0.99, 0.9995, 0.99999,
                    1.0,
                ] {
                    let v = layer.eval(Correlation::new(c).unwrap()).unwrap();
                    let (rv, rd) = if c == 1.0 {
                        (mp[0], mp[2])
                    } else if c == -1.0 {
                        (mp[1], mp[3])
                    } else {
                        polar_reference(&act, q, c)
                    };
                    let ev = (v.psi - rv).abs() / rv.abs().max(1e-2 * scale);
                    let ed = (v.psi_dot - rd).abs() / rd.abs().max(1e-2 * dscale);
                    eprintln!(
                        "{:8} q={q} c={c:8}: psi err {:.1e} (bound {:.1e}), psi_dot err {:.1e} (bound {:.1e})",
                        act.0, (v.psi - rv).abs(), v.error, (v.psi_dot - rd).abs(), v.error_dot
                    );
                    worst = worst.max(ev).max(ed);
                    assert!(
                        ev <= 1e-10,
                        "{} q={q} c={c}: psi {} vs {rv} ({ev:e})",
                        act.0,
                        v.psi
                    );
                    assert!(
                        ed <= 1e-10,
                        "{} q={q} c={c}: psi_dot {} vs {rd} ({ed:e})",
                        act.0,
                        v.psi_dot
                    );
                    // the reported bounds cover the actual errors (with a round-off floor)
                    assert!(
                        (v.psi - rv).abs() <= v.error + 1e-13 * scale,
                        "{} c={c}: psi bound",
                        act.0
                    );
                    assert!(
                        (v.psi_dot - rd).abs() <= v.error_dot + 1e-13 * dscale,
                        "{} c={c}: psi_dot bound",
                        act.0
                    );
                    // complements agree with the values
                    let one = mp[0];
                    assert!(
                        (v.psi_gap - (one - rv)).abs() <= 1e-10 * scale,
                        "{} c={c}: gap",
                        act.0
                    );
                    assert!(
                        (v.psi_plus - (one + rv)).abs() <= 1e-10 * scale,
                        "{} c={c}: plus",
                        act.0
                    );
                }
            }
        }
        eprintln!("worst relative error {worst:e}");
    }

    #[test]
    fn hermite_layer_matches_arccos_kernel() {
        let layer = hermite_layer(&TestRelu, 1.0).unwrap();
        for &c in &[-0.95, -0.6, -0.2, 0.0, 0.3, 0.7, 0.95] {
            let v = layer.eval(Correlation::new(c).unwrap()).unwrap();
            let exact = relu_psi(c);
            assert!(
                (v.psi - exact).abs() <= v.error + 1e-15,
                "c={c}: {} vs {exact} (bound {})",
                v.psi,
                v.error
            );
            assert!((v.psi - exact).abs() < 1e-9);
            let exact_dot = (PI - c.acos()) / (2.0 * PI);
            assert!((v.psi_dot - exact_dot).abs() < 1e-6, "c={c}");
            assert!((v.psi_gap - (0.5 - exact)).abs() < 1e-9, "gap c={c}");
            assert!((v.psi_plus - (0.5 + exact)).abs() < 1e-9, "plus c={c}");
        }
        // different variances through the generic path
        let d = HermiteDual(TestRelu);
        let v = d.psi(0.3, 0.5, 2.0).unwrap();
        assert!((v - 1.0 * relu_psi(0.3)).abs() < 1e-9);
    }
}
