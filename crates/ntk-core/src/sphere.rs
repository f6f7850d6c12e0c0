//! Exact spectra of dot-product kernels on the sphere `S^{d−1}` (Funk–Hecke), DESIGN §1.6.
//!
//! # Mathematics
//!
//! Let `f(ρ) = Σ_{p≥0} κ_p ρ^p` with every `κ_p ≥ 0` (an NTK or NNGP as a power series in
//! `ρ = ⟨x, y⟩`) and let `σ` be the **uniform probability measure** on the unit sphere
//! `S^{d−1} ⊂ ℝ^d`, `d ≥ 2`. The integral operator `(T g)(x) = ∫ f(⟨x, y⟩) g(y) dσ(y)` is
//! diagonal in the spherical harmonics: every harmonic of degree `k` is an eigenfunction with
//! eigenvalue
//!
//! ```text
//! λ_k = Σ_{p ≥ k, p ≡ k (mod 2)} κ_p λ_k(ρ^p),
//! λ_k(ρ^p) = Γ(d/2)/√π · 2^{−k} · p!/(p−k)! · Γ((p−k+1)/2) / Γ((p+k+d)/2)
//!          = Γ(d/2) · p! / (2^p · ((p−k)/2)! · Γ((p+k+d)/2))          (duplication formula),
//! ```
//!
//! of multiplicity `N(d, k) = (2k+d−2)/k · C(k+d−3, d−2)` (`N(d, 0) = 1`; on the circle,
//! `d = 2`, `N = 2` for `k ≥ 1` and `λ_k(ρ^p) = 2^{−p} C(p, (p−k)/2)` are Fourier
//! coefficients). Checks: `λ_0(1) = 1`; `d = 3, p = k = 1` gives `1/3`; for every `p`,
//! `Σ_k N(d,k) λ_k(ρ^p) = 1` (evaluate `ρ^p` at `ρ = 1`), hence `Σ_k N(d,k) λ_k = f(1)`, and
//! separately by parity `Σ_{k even} N λ_k = (f(1)+f(−1))/2`, `Σ_{k odd} N λ_k = (f(1)−f(−1))/2`.
//!
//! # Algorithm
//!
//! * **Terms by a ratio recurrence.** For fixed `k`,
//!   `t_{p+2} = t_p · (p+1)(p+2) / ((p−k+2)(p+k+d))` starting from
//!   `t_k = Γ(d/2) k! / (2^k Γ(k+d/2))` (taken in log space). Every term is positive, so the
//!   sum keeps full relative accuracy even for eigenvalues far below `f(1) · ε` (no
//!   cancellation, unlike quadrature against Gegenbauer polynomials). Sums use Neumaier
//!   compensation and a running power-of-ten rescaling, so nothing overflows or underflows
//!   before the final `exp`.
//! * **Tail `p > P`.** `t_p` increases up to `p* ≈ k(k+d)/(d−1)` and then decays like
//!   `p^{−(d−1)/2}`, so with slowly decaying coefficients the terms beyond the series degree
//!   `P` matter (ReLU NTK on `S²`: `λ_k` loses a share `≈ (P/p*)^{−3/2}` of itself). For each
//!   parity the coefficients on the window `p ∈ [P/8, P]` are fitted, by Householder least
//!   squares, to the asymptotic form
//!   `ln κ_p = c_0 + a ln(P/p) + c_2 (P/p) + c_3 (P/p)² + c_4 (P/p)³`, i.e.
//!   `κ_p ≈ C p^{−a} (1 + e_1/p + e_2/p² + …)`, which is exact asymptotically for kernels
//!   whose only singularities on `|ρ| = 1` are algebraic (e.g. `(1 ∓ ρ)^{j/2}` for the ReLU
//!   family). The tail `Σ_{p>P, p≡k} κ̂_p t_p` of the model is then computed by the
//!   Euler–Maclaurin formula with step 2,
//!   `Σ_{j≥0} g(p₀+2j) = ½∫_{p₀}^∞ g + ½g(p₀) − g'(p₀)/6 + …`,
//!   the integral by Gauss–Jacobi quadrature after `x = p₀/w`:
//!   `∫_{p₀}^∞ g = p₀^{1−b} ∫_0^1 w^{b−2} H(w) dw` with `b = a + (d−1)/2` and `H` smooth. The
//!   uncertainty of the tail is the spread between this model and a one-term-shorter one,
//!   plus that to the same model fitted on the narrower window `[P/4, P]`, plus the spread
//!   between two quadrature orders plus ten times the fit residual (relative);
//!   with a tail mass from the caller it is also clamped to the rigorous interval below.
//! * **Fallback.** When the fit fails (coefficients at round-off level, geometric or
//!   stretched-exponential decay, mixed zeros) the tail is bounded instead: `t_p` is unimodal
//!   in `p` with its peak near `p*`, so `0 ≤ tail ≤ sup_{p>P} t_p · M` with
//!   `M ≥ Σ_{p>P} κ_p` (given by the caller, e.g. from the series' truncation mass; else a
//!   crude extrapolation). The eigenvalue is then the computed sum up to `P` and the error
//!   that bound (such kernels decay fast, so this is tiny unless `M` is pessimistic). A
//!   parity whose window coefficients are all exactly zero is taken to vanish (odd/even
//!   kernels, polynomials).
//! * **Degree.** [`recommended_degree`] picks `P = max(2000, 4 p*(k_max))`, where the tail
//!   carries a few per cent of `λ_{k_max}` for the ReLU NTK on `S²`. Lower degrees work too
//!   (the tail model does not need `P > p*`; [`minimum_degree`] is only `max(128, k_max+2)`)
//!   but with a larger tail share the error grows: ReLU NTK depth 3 on `S²`, `k ≤ 50`:
//!   relative error `6e-6` at `P = 128`, `6e-9` at `P = 500`, `5e-12` at `P = 2000`, each
//!   within its estimate.
//!
//! # Decay
//!
//! `κ_p ~ C p^{−a}` ⇒ `λ_k ~ k^{−(d + 2a − 3)}` (ReLU NTK: `a = 3/2` ⇒ `k^{−d}`; ReLU NNGP:
//! `a = 5/2` ⇒ `k^{−(d+2)}`); geometric `κ_p` give faster than polynomial decay.
//! [`SphereSpectrum::fit_decay`] fits the exponent by least squares of `ln λ_k` on `ln k`,
//! [`SphereSpectrum::predicted_exponent`] gives the law from the fitted `a` (the smaller of
//! the two parities).
use rayon::prelude::*;

use crate::error::{NtkError, Result};
use crate::kernel::MAX_SERIES_DEGREE;
use crate::series::Cancel;

/// Largest sphere dimension `d` accepted (`S^{d−1} ⊂ ℝ^d`).
pub const MAX_DIM: usize = 1_000_000;
/// Largest harmonic degree `k_max` accepted (the series degree it needs is checked too).
pub const MAX_HARMONIC_DEGREE: usize = 100_000;
/// Smallest series degree [`recommended_degree`] returns.
pub const DEFAULT_MIN_SERIES_DEGREE: usize = 2000;
/// Most entries [`SphereSpectrum::by_index`] returns (800 MB of `f64`).
pub const MAX_BY_INDEX: usize = 100_000_000;

/// Largest log-residual accepted for the asymptotic coefficient fit. Kernels whose coefficients
/// carry small oscillations (kinks away from 0 give essential singularities on `|ρ| = 1`,
/// e.g. ReLU6, whose `κ_p` wobble at the `1e-4` level) or inaccurate top coefficients still get
/// a model; the residual then inflates the error estimate (`RESIDUAL_FACTOR × residual ×
/// tail`).
const FIT_TOLERANCE: f64 = 0.02;
/// Safety factor on the fit residual in the tail error.
const RESIDUAL_FACTOR: f64 = 10.0;
/// Gauss–Jacobi orders of the tail integral (primary and check).
const GJ_NODES: usize = 24;
const GJ_CHECK_NODES: usize = 16;

/// What the caller knows about the coefficients beyond what the slice holds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SphereOptions {
    /// An upper bound on `Σ_{p>P} κ_p` (e.g. from the series truncation mass
    /// `f(1) − Σ_{p≤P} κ_p`). Gives the interval `[0, t_{p₀} · tail_mass]` for the tail (the
    /// power-law model is clamped to it; without a model it is the error). `Some(0.0)`
    /// declares the series exact (a polynomial): no tail, no minimum degree.
    pub tail_mass: Option<f64>,
    /// Bound on `Σ_p |κ_p − κ̃_p|` (e.g. the Hermite-truncation part of the series error);
    /// contributes `mass_error · max_p λ_k(ρ^p)` to each error estimate.
    pub mass_error: f64,
    /// Absolute error of every single coefficient `κ_p` with `p ≥ noise_from` (e.g. the
    /// round-off of FFT products); contributes `coefficient_noise · Σ_{noise_from≤p≤P}
    /// λ_k(ρ^p)` to each error estimate.
    pub coefficient_noise: f64,
    /// First degree affected by `coefficient_noise` (the series engine computes degrees below
    /// [`crate::series::EXACT_LEN`] with relative accuracy).
    pub noise_from: usize,
}

/// How the tail `p > P` of one parity class was treated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TailKind {
    /// The window coefficients of this parity are all exactly zero: no tail.
    Zero,
    /// Asymptotic power-law model `κ_p ≈ C p^{−a}(1 + e_1/p + …)`.
    PowerLaw,
    /// No reliable model: the tail is bounded by `t_{p₀} · tail_mass`.
    Bound,
    /// The caller declared the series exact (`tail_mass = Some(0)`).
    Exact,
}

/// The tail treatment of one parity class (`p ≡ parity mod 2`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TailFit {
    /// 0 (even p, even k) or 1 (odd).
    pub parity: usize,
    pub kind: TailKind,
    /// Fitted decay exponent `a` of `κ_p ~ C p^{−a}` (power-law model only).
    pub exponent: Option<f64>,
    /// Largest `|ln κ_p − model|` on the fit window (power-law model only).
    pub residual: Option<f64>,
}

/// Eigenvalues of a dot-product kernel on the uniform sphere `S^{d−1}` for `k = 0 … k_max`.
#[derive(Debug, Clone, PartialEq)]
pub struct SphereSpectrum {
    /// Ambient dimension `d` (the sphere is `S^{d−1} ⊂ ℝ^d`).
    pub dim: usize,
    /// Highest harmonic degree `k_max`.
    pub max_degree: usize,
    /// Series degree `P` of the coefficients used.
    pub series_degree: usize,
    /// `λ_k`, `k = 0 … k_max` (eigenvalues of the integral operator on the probability measure).
    pub eigenvalues: Vec<f64>,
    /// `ln λ_k` (finite even where `λ_k` underflows; `−∞` when `λ_k = 0`).
    pub log_eigenvalues: Vec<f64>,
    /// Estimated absolute error of each `λ_k`.
    pub errors: Vec<f64>,
    /// The part of each `λ_k` contributed by `p > P` (model or bound midpoint).
    pub tails: Vec<f64>,
    /// `N(d, k)` as `f64` (exact integers up to 2^53; `inf` if beyond `f64`).
    pub multiplicities: Vec<f64>,
    /// `ln N(d, k)`.
    pub log_multiplicities: Vec<f64>,
    /// Tail treatment for even and odd `p`.
    pub tail_fits: [TailFit; 2],
}

// ------------------------------------------------------------------------------------------
// special functions

/// `B_{2j} / (2j (2j−1))`, `j = 1 … 8`: Stirling series of `ln Γ`.
const STIRLING: [f64; 8] = [
    1.0 / 12.0,
    -1.0 / 360.0,
    1.0 / 1260.0,
    -1.0 / 1680.0,
    1.0 / 1188.0,
    -691.0 / 360_360.0,
    1.0 / 156.0,
    -3617.0 / 122_400.0,
];

/// `Σ_j STIRLING[j] z^{1−2j}` (accurate to `< 1e-17` relative for `z ≥ 10`).
fn stirling_tail(z: f64) -> f64 {
    let zi = 1.0 / z;
    let z2 = zi * zi;
    let mut acc = 0.0;
    for c in STIRLING.iter().rev() {
        acc = acc * z2 + c;
    }
    acc * zi
}

/// `ln Γ(y + a) − ln Γ(y + b)` without the cancellation of two large `ln Γ` values:
/// for `y + min(a, b) ≥ 10` the Stirling series is differenced analytically,
/// `(a−b) ln y + [(y+a−½) ln(1+a/y) − a] − [(y+b−½) ln(1+b/y) − b] + S(y+a) − S(y+b)`,
/// whose absolute error is `O(ε (|a| + |b|))` however large `y` is. Needs `y + a > 0`,
/// `y + b > 0`.
pub fn ln_gamma_ratio(y: f64, a: f64, b: f64) -> f64 {
    let (z1, z2) = (y + a, y + b);
    if y > 0.0 && z1.min(z2) >= 10.0 {
        let bracket = |c: f64| (y + c - 0.5) * (c / y).ln_1p() - c;
        (a - b) * y.ln() + bracket(a) - bracket(b) + stirling_tail(z1) - stirling_tail(z2)
    } else {
        libm::lgamma(z1) - libm::lgamma(z2)
    }
}

/// `ln λ_k(ρ^x)` for real `x ≥ k` (the gamma-function continuation in `p`):
/// `ln Γ(d/2) − ½ ln π + ln[Γ(y+½)/Γ(y+(k+d)/2)] + ln[Γ(y+1)/Γ(y+1−k/2)]`, `y = x/2`.
fn ln_term(ln_gamma_half_d: f64, d: f64, k: f64, x: f64) -> f64 {
    let y = 0.5 * x;
    ln_gamma_half_d - 0.5 * std::f64::consts::PI.ln()
        + ln_gamma_ratio(y, 0.5, 0.5 * (k + d))
        + ln_gamma_ratio(y, 1.0, 1.0 - 0.5 * k)
}

fn check_dim(dim: usize) -> Result<()> {
    if dim < 2 {
        return Err(NtkError::InvalidArgument(format!(
            "dim must be >= 2 (the sphere S^(d-1) in R^d; d = 2 is the circle), got {dim}"
        )));
    }
    if dim > MAX_DIM {
        return Err(NtkError::InvalidArgument(format!(
            "dim {dim} is absurdly large (at most {MAX_DIM})"
        )));
    }
    Ok(())
}

/// `ln λ_k(ρ^p)`: the log eigenvalue of the monomial kernel `ρ^p` on `S^{d−1}` for harmonic
/// degree `k` (`−∞` when `p < k` or `p ≢ k mod 2`, where the eigenvalue is 0).
pub fn log_monomial_eigenvalue(dim: usize, k: usize, p: usize) -> Result<f64> {
    check_dim(dim)?;
    if p < k || (p - k) % 2 == 1 {
        return Ok(f64::NEG_INFINITY);
    }
    let d = dim as f64;
    Ok(ln_term(libm::lgamma(0.5 * d), d, k as f64, p as f64))
}

/// `λ_k(ρ^p)` (see [`log_monomial_eigenvalue`]); may underflow to 0 for huge `k`.
pub fn monomial_eigenvalue(dim: usize, k: usize, p: usize) -> Result<f64> {
    Ok(log_monomial_eigenvalue(dim, k, p)?.exp())
}

/// Multiplicity `N(d, k)` of the degree-`k` spherical harmonics on `S^{d−1}`:
/// `N(d,0) = 1`, `N(2,k) = 2`, else `(2k+d−2)/k · C(k+d−3, d−2)`. Exact (integer arithmetic)
/// when it fits in `u128`, rounded to the nearest `f64`; otherwise a product in `f64`
/// (relative error `≲ d ε`), `inf` beyond `f64`.
pub fn multiplicity(dim: usize, k: usize) -> Result<f64> {
    check_dim(dim)?;
    if k == 0 {
        return Ok(1.0);
    }
    if dim == 2 {
        return Ok(2.0);
    }
    let n = (k + dim - 3) as u128;
    let r = (k - 1).min(dim - 2) as u128;
    // C(n, r) = Π_{i=1}^{r} (n − r + i)/i, every partial product an integer.
    let mut c: Option<u128> = Some(1);
    for i in 1..=r {
        c = c.and_then(|c| c.checked_mul(n - r + i)).map(|c| c / i);
        if c.is_none() {
            break;
        }
    }
    if let Some(num) = c.and_then(|c| c.checked_mul((2 * k + dim - 2) as u128)) {
        return Ok((num / k as u128) as f64);
    }
    let (nf, rf) = (n as f64, r as f64);
    let mut cf = 1.0f64;
    let mut i = 1.0;
    while i <= rf {
        cf *= (nf - rf + i) / i;
        i += 1.0;
    }
    Ok(cf * (2 * k + dim - 2) as f64 / k as f64)
}

/// `ln N(d, k)` (finite even when `N` overflows `f64`).
pub fn log_multiplicity(dim: usize, k: usize) -> Result<f64> {
    let m = multiplicity(dim, k)?;
    if m.is_finite() {
        return Ok(m.ln());
    }
    let (d, kf) = (dim as f64, k as f64);
    Ok(
        (2.0 * kf + d - 2.0).ln() - kf.ln() + libm::lgamma(kf + d - 2.0)
            - libm::lgamma(kf)
            - libm::lgamma(d - 1.0),
    )
}

/// `p*(d, k) = k (k+d) / (d−1)`: beyond it `λ_k(ρ^p)` decreases in `p`.
pub fn peak_degree(dim: usize, k: usize) -> f64 {
    let (d, kf) = (dim.max(2) as f64, k as f64);
    kf * (kf + d) / (d - 1.0)
}

/// Smallest series degree accepted for harmonics up to `k_max`: `max(128, k_max + 2)` (the
/// coefficient fit needs a window `[P/8, P]` of some length; accuracy at low `P` is reflected
/// in the error estimates). The dimension does not enter (kept for symmetry with
/// [`recommended_degree`]).
pub fn minimum_degree(_dim: usize, k_max: usize) -> usize {
    (k_max + 2).max(128)
}

/// Default series degree for harmonics up to `k_max`: `max(2000, ⌈4 p*(k_max)⌉)`
/// (ReLU depth 3 on `S²`, `k_max = 50`: 10 600; `k_max = 200`: 81 200). Error if it would
/// exceed the series engine's limit.
pub fn recommended_degree(dim: usize, k_max: usize) -> Result<usize> {
    check_dim(dim)?;
    check_k_max(k_max)?;
    let p = (4.0 * peak_degree(dim, k_max)).ceil();
    let p = (p as usize).max(DEFAULT_MIN_SERIES_DEGREE).max(k_max);
    if p > MAX_SERIES_DEGREE {
        return Err(NtkError::InvalidArgument(format!(
            "harmonics up to k = {k_max} on S^{} need a series degree of about {p}, beyond the \
             limit {MAX_SERIES_DEGREE}; ask for a smaller max_degree",
            dim - 1
        )));
    }
    Ok(p)
}

fn check_k_max(k_max: usize) -> Result<()> {
    if k_max > MAX_HARMONIC_DEGREE {
        return Err(NtkError::InvalidArgument(format!(
            "max_degree {k_max} is absurdly large (at most {MAX_HARMONIC_DEGREE})"
        )));
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// small dense linear algebra

/// Least squares `min ‖A x − y‖` by Householder QR; `cols` are the columns of `A`
/// (scaled to unit max-norm internally). `None` if rank deficient.
fn least_squares(cols: &[Vec<f64>], y: &[f64]) -> Option<Vec<f64>> {
    let n = cols.len();
    let m = y.len();
    if m < n || n == 0 {
        return None;
    }
    let mut a: Vec<Vec<f64>> = cols.to_vec();
    let mut scale = vec![0.0; n];
    for (j, c) in a.iter_mut().enumerate() {
        let s = c.iter().fold(0.0f64, |acc, v| acc.max(v.abs()));
        if s == 0.0 || !s.is_finite() {
            return None;
        }
        c.iter_mut().for_each(|v| *v /= s);
        scale[j] = s;
    }
    let mut rhs = y.to_vec();
    for j in 0..n {
        let norm = a[j][j..].iter().map(|v| v * v).sum::<f64>().sqrt();
        if norm == 0.0 {
            return None;
        }
        let alpha = if a[j][j] > 0.0 { -norm } else { norm };
        let mut v: Vec<f64> = a[j][j..].to_vec();
        v[0] -= alpha;
        let vv: f64 = v.iter().map(|x| x * x).sum();
        if vv == 0.0 {
            continue;
        }
        for col in a.iter_mut().skip(j) {
            let dot: f64 = v.iter().zip(&col[j..]).map(|(x, y)| x * y).sum();
            let f = 2.0 * dot / vv;
            col[j..].iter_mut().zip(&v).for_each(|(c, x)| *c -= f * x);
        }
        let dot: f64 = v.iter().zip(&rhs[j..]).map(|(x, y)| x * y).sum();
        let f = 2.0 * dot / vv;
        rhs[j..].iter_mut().zip(&v).for_each(|(c, x)| *c -= f * x);
    }
    let mut x = vec![0.0; n];
    for j in (0..n).rev() {
        let mut s = rhs[j];
        for c in j + 1..n {
            s -= a[c][j] * x[c];
        }
        let rjj = a[j][j];
        if rjj.abs() <= 1e-13 * norm_diag(&a) {
            return None;
        }
        x[j] = s / rjj;
    }
    Some(x.iter().zip(&scale).map(|(v, s)| v / s).collect())
}

fn norm_diag(a: &[Vec<f64>]) -> f64 {
    (0..a.len()).fold(0.0f64, |m, j| m.max(a[j][j].abs()))
}

/// Eigenvalues and first eigenvector components of a symmetric tridiagonal matrix
/// (diagonal `d`, off-diagonal `e[i]` between `i` and `i+1`) by implicit QL with Wilkinson
/// shifts. Returns `(eigenvalues, first components)`.
fn tridiagonal_eigen(mut d: Vec<f64>, mut e: Vec<f64>) -> Option<(Vec<f64>, Vec<f64>)> {
    let n = d.len();
    e.resize(n, 0.0);
    let mut z = vec![0.0; n];
    if n == 0 {
        return Some((d, z));
    }
    z[0] = 1.0;
    for l in 0..n {
        let mut iter = 0;
        loop {
            let mut m = l;
            while m + 1 < n {
                let dd = d[m].abs() + d[m + 1].abs();
                if e[m].abs() <= f64::EPSILON * dd {
                    break;
                }
                m += 1;
            }
            if m == l {
                break;
            }
            iter += 1;
            if iter > 100 {
                return None;
            }
            let mut g = (d[l + 1] - d[l]) / (2.0 * e[l]);
            let mut r = g.hypot(1.0);
            g = d[m] - d[l] + e[l] / (g + r.copysign(g));
            let (mut s, mut c, mut p) = (1.0, 1.0, 0.0);
            let mut i = m;
            let mut deflated = false;
            while i > l {
                i -= 1;
                let f = s * e[i];
                let b = c * e[i];
                r = f.hypot(g);
                e[i + 1] = r;
                if r == 0.0 {
                    d[i + 1] -= p;
                    e[m] = 0.0;
                    deflated = true;
                    break;
                }
                s = f / r;
                c = g / r;
                g = d[i + 1] - p;
                r = (d[i] - g) * s + 2.0 * c * b;
                p = s * r;
                d[i + 1] = g + p;
                g = c * r - b;
                let zf = z[i + 1];
                z[i + 1] = s * z[i] + c * zf;
                z[i] = c * z[i] - s * zf;
            }
            if deflated {
                continue;
            }
            d[l] -= p;
            e[l] = g;
            e[m] = 0.0;
        }
    }
    Some((d, z))
}

/// Gauss–Jacobi rule for `∫_0^1 w^β F(w) dw` (`β > −1`) with `n` nodes, by Golub–Welsch on
/// the Jacobi matrix of the weight `(1+x)^β` on `[−1, 1]` mapped to `w = (1+x)/2`.
fn gauss_jacobi_01(n: usize, beta: f64) -> Option<(Vec<f64>, Vec<f64>)> {
    if beta.is_nan() || beta <= -1.0 || !beta.is_finite() || n == 0 {
        return None;
    }
    let al = 0.0f64;
    let mut diag = Vec::with_capacity(n);
    let mut off = Vec::with_capacity(n.saturating_sub(1));
    for i in 0..n {
        let nf = i as f64;
        let s = 2.0 * nf + al + beta;
        let a = if i == 0 {
            (beta - al) / (al + beta + 2.0)
        } else {
            (beta * beta - al * al) / (s * (s + 2.0))
        };
        diag.push(0.5 * (1.0 + a));
        if i + 1 < n {
            let m = nf + 1.0;
            let s = 2.0 * m + al + beta;
            let b =
                4.0 * m * (m + al) * (m + beta) * (m + al + beta) / (s * s * (s + 1.0) * (s - 1.0));
            off.push(0.5 * b.sqrt());
        }
    }
    let (x, z) = tridiagonal_eigen(diag, off)?;
    let mu0 = 1.0 / (beta + 1.0);
    let w: Vec<f64> = z.iter().map(|v| mu0 * v * v).collect();
    if x.iter().chain(&w).any(|v| !v.is_finite()) {
        return None;
    }
    Some((x, w))
}

// ------------------------------------------------------------------------------------------
// tail model

/// `ln κ̂(x) = c_0 + c_1 ln(P/x) + Σ_j c_{j+1} (P/x)^j`.
#[derive(Debug, Clone)]
struct PowerModel {
    c: Vec<f64>,
    big_p: f64,
    residual: f64,
}

impl PowerModel {
    fn exponent(&self) -> f64 {
        self.c[1]
    }
    fn ln_value(&self, x: f64) -> f64 {
        let v = self.big_p / x;
        let mut poly = 0.0;
        for c in self.c[2..].iter().rev() {
            poly = poly * v + c;
        }
        self.c[0] + self.c[1] * v.ln() + poly * v
    }
    /// `d/dx ln κ̂(x)`.
    fn ln_derivative(&self, x: f64) -> f64 {
        let v = self.big_p / x;
        // d/dx [c1 ln v + Σ_j c_{j+1} v^j] = −(c1 + Σ_j j c_{j+1} v^j) / x
        let mut s = self.c[1];
        let mut vj = 1.0;
        for (j, c) in self.c[2..].iter().enumerate() {
            vj *= v;
            s += (j + 1) as f64 * c * vj;
        }
        -s / x
    }
}

#[derive(Debug, Clone)]
enum ParityTail {
    Zero,
    Exact,
    Power {
        /// three-term model on the window `[P/8, P]`
        main: PowerModel,
        /// two-term model on the same window
        alt: PowerModel,
        /// three-term model on the narrower window `[P/4, P]`
        narrow: PowerModel,
        rules: Box<[Rule; 4]>,
    },
    Bound {
        mass: f64,
    },
}

/// Gauss–Jacobi nodes/weights for one `b`.
#[derive(Debug, Clone)]
struct Rule {
    b: f64,
    nodes: Vec<f64>,
    weights: Vec<f64>,
}

fn rule(b: f64, n: usize) -> Option<Rule> {
    let (nodes, weights) = gauss_jacobi_01(n, b - 2.0)?;
    Some(Rule { b, nodes, weights })
}

fn fit_power(coeffs: &[f64], parity: usize, terms: usize, window: usize) -> Option<PowerModel> {
    let big_p = coeffs.len() - 1;
    let lo = (big_p / window).max(8);
    // ~256 geometrically spaced samples of this parity in [lo, P]
    let mut ps: Vec<usize> = Vec::new();
    let ratio = big_p as f64 / lo as f64;
    for i in 0..=255 {
        let x = lo as f64 * ratio.powf(i as f64 / 255.0);
        let mut p = x.round() as usize;
        if p % 2 != parity {
            p = p.saturating_sub(1);
        }
        if p >= lo && p <= big_p && ps.last() != Some(&p) {
            ps.push(p);
        }
    }
    let pf = big_p as f64;
    let n = 2 + terms;
    if ps.len() < 4 * n {
        return None;
    }
    let mut cols: Vec<Vec<f64>> = vec![Vec::with_capacity(ps.len()); n];
    let mut y = Vec::with_capacity(ps.len());
    for &p in &ps {
        let kp = coeffs[p];
        if kp <= 0.0 || !kp.is_finite() {
            return None;
        }
        let v = pf / p as f64;
        cols[0].push(1.0);
        cols[1].push(v.ln());
        let mut vj = 1.0;
        for col in cols.iter_mut().skip(2) {
            vj *= v;
            col.push(vj);
        }
        y.push(kp.ln());
    }
    let c = least_squares(&cols, &y)?;
    let mut model = PowerModel {
        c,
        big_p: pf,
        residual: 0.0,
    };
    let mut res = 0.0f64;
    for (&p, &yv) in ps.iter().zip(&y) {
        res = res.max((model.ln_value(p as f64) - yv).abs());
    }
    model.residual = res;
    if !res.is_finite() || model.c.iter().any(|v| !v.is_finite()) {
        return None;
    }
    Some(model)
}

fn parity_tail(coeffs: &[f64], parity: usize, dim: usize, opts: &SphereOptions) -> ParityTail {
    if opts.tail_mass == Some(0.0) {
        return ParityTail::Exact;
    }
    let big_p = coeffs.len() - 1;
    let lo = (big_p / 8).max(8);
    let window = (lo..=big_p).filter(|p| p % 2 == parity);
    let mut all_zero = true;
    for p in window {
        if coeffs[p] != 0.0 {
            all_zero = false;
            break;
        }
    }
    if all_zero {
        return ParityTail::Zero;
    }
    let half = 0.5 * (dim as f64 - 1.0);
    let fitted = (|| {
        let main = fit_power(coeffs, parity, 3, 8)?;
        let alt = fit_power(coeffs, parity, 2, 8)?;
        let narrow = fit_power(coeffs, parity, 3, 4)?;
        let a = main.exponent();
        let decays = |e: f64| e.is_finite() && e > 1.0;
        // the two models must agree on the exponent (a structural check beyond the residual)
        let consistent = (a - alt.exponent()).abs() <= 0.02 * a;
        if main.residual.is_nan()
            || main.residual > FIT_TOLERANCE
            || !decays(a)
            || !decays(alt.exponent())
            || !decays(narrow.exponent())
            || !consistent
        {
            return None;
        }
        let b = a + half;
        let rules = Box::new([
            rule(b, GJ_NODES)?,
            rule(b, GJ_CHECK_NODES)?,
            rule(alt.exponent() + half, GJ_NODES)?,
            rule(narrow.exponent() + half, GJ_NODES)?,
        ]);
        Some(ParityTail::Power {
            main,
            alt,
            narrow,
            rules,
        })
    })();
    fitted.unwrap_or_else(|| ParityTail::Bound {
        mass: opts
            .tail_mass
            .unwrap_or_else(|| crude_tail_mass(coeffs, parity)),
    })
}

/// Without a certified tail mass: `Σ_{p>P} κ_p ≈ κ_P P/(a−1)` from the local slope `a` of the
/// last decade (∞ if it does not decay faster than `1/p`).
fn crude_tail_mass(coeffs: &[f64], parity: usize) -> f64 {
    let big_p = coeffs.len() - 1;
    let mut p1 = big_p;
    if p1 % 2 != parity {
        p1 = p1.saturating_sub(1);
    }
    let mut p0 = p1 / 2;
    if p0 % 2 != parity {
        p0 = p0.saturating_sub(1);
    }
    let (k0, k1) = (coeffs[p0], coeffs[p1]);
    if p0 == 0 || p0 >= p1 || k1 == 0.0 {
        return if k1 == 0.0 && k0 == 0.0 {
            0.0
        } else {
            f64::INFINITY
        };
    }
    let a = (k0 / k1).ln() / (p1 as f64 / p0 as f64).ln();
    if a > 1.0 {
        2.0 * k1 * p1 as f64 / (a - 1.0)
    } else {
        f64::INFINITY
    }
}

/// Tail `Σ_{p ≥ p0, p ≡ p0 (2)} κ̂_p t_p(k)` in units of `e^{ln_scale}` for one model/rule,
/// with the magnitude of the neglected Euler–Maclaurin term.
fn model_tail(
    model: &PowerModel,
    rule: &Rule,
    lg_half_d: f64,
    d: f64,
    k: f64,
    p0: f64,
    ln_scale: f64,
) -> (f64, f64) {
    let lg = |x: f64| model.ln_value(x) + ln_term(lg_half_d, d, k, x) - ln_scale;
    // ∫_{p0}^∞ g = p0 ∫_0^1 g(p0/w) w^{−2} dw = p0 ∫_0^1 w^{b−2} [g(p0/w) w^{−b}] dw
    let mut integral = 0.0;
    for (&w, &wt) in rule.nodes.iter().zip(&rule.weights) {
        if w <= 0.0 {
            continue;
        }
        let x = p0 / w;
        integral += wt * (lg(x) - rule.b * w.ln()).exp();
    }
    integral *= p0;
    let g0 = lg(p0).exp();
    let h = 0.5;
    let dlt = (ln_term(lg_half_d, d, k, p0 + h) - ln_term(lg_half_d, d, k, p0 - h)) / (2.0 * h);
    let dlg = model.ln_derivative(p0) + dlt;
    let tail = 0.5 * integral + 0.5 * g0 - g0 * dlg / 6.0;
    // next Euler–Maclaurin term: (2³/720) g''' ≈ (8/720) g (b/p0)³
    let next = 8.0 / 720.0 * g0 * (rule.b / p0).powi(3);
    (tail, next)
}

// ------------------------------------------------------------------------------------------
// the spectrum

/// Eigenvalues `λ_0 … λ_{k_max}` on `S^{d−1}` of `f(ρ) = Σ_p κ_p ρ^p` given `coeffs = κ_0…κ_P`
/// (all finite and `≥ 0`), with error estimates, multiplicities and the tail treatment (see
/// the module docs). Needs `P ≥` [`minimum_degree`]`(dim, k_max)` unless
/// `options.tail_mass == Some(0.0)` (an exact polynomial). Parallel over `k`; `cancel` is
/// polled once per harmonic degree.
pub fn sphere_spectrum(
    coeffs: &[f64],
    dim: usize,
    k_max: usize,
    options: SphereOptions,
    cancel: Cancel,
) -> Result<SphereSpectrum> {
    check_dim(dim)?;
    check_k_max(k_max)?;
    if coeffs.is_empty() {
        return Err(NtkError::InvalidArgument(
            "need at least one power-series coefficient".into(),
        ));
    }
    if let Some(i) = coeffs.iter().position(|v| !v.is_finite()) {
        return Err(NtkError::NonFinite(format!(
            "coefficient {i} is {} (must be finite)",
            coeffs[i]
        )));
    }
    if let Some(i) = coeffs.iter().position(|&v| v < 0.0) {
        return Err(NtkError::InvalidArgument(format!(
            "coefficient {i} is {} < 0: Funk-Hecke sums need non-negative coefficients",
            coeffs[i]
        )));
    }
    for (name, v) in [
        ("tail_mass", options.tail_mass.unwrap_or(0.0)),
        ("mass_error", options.mass_error),
        ("coefficient_noise", options.coefficient_noise),
    ] {
        if v.is_nan() || v < 0.0 || !v.is_finite() {
            return Err(NtkError::InvalidArgument(format!(
                "{name} must be finite and >= 0, got {v}"
            )));
        }
    }
    let big_p = coeffs.len() - 1;
    let exact = options.tail_mass == Some(0.0);
    if !exact {
        let min = minimum_degree(dim, k_max);
        if big_p < min {
            return Err(NtkError::InvalidArgument(format!(
                "series degree {big_p} is too low for harmonics up to k = {k_max} on S^{}: \
                 the tail model needs at least {min} (recommended {})",
                dim - 1,
                recommended_degree(dim, k_max)
                    .map(|p| p.to_string())
                    .unwrap_or_else(|_| "more than allowed".into())
            )));
        }
    }
    let tails_by_parity = [
        parity_tail(coeffs, 0, dim, &options),
        parity_tail(coeffs, 1, dim, &options),
    ];
    let d = dim as f64;
    let lg_half_d = libm::lgamma(0.5 * d);
    let ln_rescale = 200.0 * std::f64::consts::LN_10;

    struct Row {
        value: f64,
        log_value: f64,
        error: f64,
        tail: f64,
    }

    let rows: Vec<Row> = (0..=k_max)
        .into_par_iter()
        .map(|k| -> Result<Row> {
            if cancel() {
                return Err(NtkError::Interrupted);
            }
            let kf = k as f64;
            // ln t_k(ρ^k) = ln Γ(d/2) + ln Γ(k+1) − k ln 2 − ln Γ(k + d/2)
            let mut ln_scale =
                lg_half_d + ln_gamma_ratio(kf, 1.0, 0.5 * d) - kf * std::f64::consts::LN_2;
            let (mut sum, mut comp) = (0.0f64, 0.0f64);
            let mut s = 1.0f64; // t_p / e^{ln_scale}
            let (mut t_sum, mut t_max) = (0.0f64, 0.0f64);
            let mut terms = 0usize;
            let mut p = k;
            while p <= big_p {
                let term = coeffs[p] * s;
                // Neumaier summation
                let t = sum + term;
                if sum.abs() >= term.abs() {
                    comp += (sum - t) + term;
                } else {
                    comp += (term - t) + sum;
                }
                sum = t;
                if p >= options.noise_from {
                    t_sum += s;
                }
                t_max = t_max.max(s);
                terms += 1;
                let pf = p as f64;
                s *= (pf + 1.0) * (pf + 2.0) / ((pf - kf + 2.0) * (pf + kf + d));
                if s > 1e200 {
                    s *= 1e-200;
                    sum *= 1e-200;
                    comp *= 1e-200;
                    t_sum *= 1e-200;
                    t_max *= 1e-200;
                    ln_scale += ln_rescale;
                }
                p += 2;
            }
            let head = sum + comp;
            // p0 = first p > P of k's parity (p ≥ k always)
            let p0 = p as f64;
            // sup_{p ≥ p0, p ≡ k} t_p (scaled): t_{p+2} > t_p iff p < ((k−2)(k+d)+2)/(d−1),
            // so the largest term is at the first p of k's parity at or beyond that threshold
            let t_at = |x: f64| (ln_term(lg_half_d, d, kf, x) - ln_scale).exp();
            let t_sup = {
                let thr = ((kf - 2.0) * (kf + d) + 2.0) / (d - 1.0);
                let p_max = kf + 2.0 * ((thr - kf).max(0.0) / 2.0).ceil();
                t_at(p0.max(p_max))
            };
            let (tail, tail_err) = match &tails_by_parity[k % 2] {
                ParityTail::Zero | ParityTail::Exact => (0.0, 0.0),
                ParityTail::Power {
                    main,
                    alt,
                    narrow,
                    rules,
                } => {
                    let (t_main, next) =
                        model_tail(main, &rules[0], lg_half_d, d, kf, p0, ln_scale);
                    let (t_check, _) = model_tail(main, &rules[1], lg_half_d, d, kf, p0, ln_scale);
                    let (t_alt, _) = model_tail(alt, &rules[2], lg_half_d, d, kf, p0, ln_scale);
                    let (t_narrow, _) =
                        model_tail(narrow, &rules[3], lg_half_d, d, kf, p0, ln_scale);
                    let err = (t_main - t_alt).abs()
                        + (t_main - t_narrow).abs()
                        + (t_main - t_check).abs()
                        + RESIDUAL_FACTOR * main.residual * t_main.abs()
                        + next;
                    let mut tail = t_main.max(0.0);
                    let mut err = err;
                    if let Some(mass) = options.tail_mass {
                        // rigorous: 0 ≤ tail ≤ sup_{p>P} t_p · mass
                        let bound = mass * t_sup;
                        if tail > bound {
                            tail = 0.5 * bound;
                            err = 0.5 * bound;
                        } else {
                            err = err.min(bound);
                        }
                    }
                    (tail, err)
                }
                ParityTail::Bound { mass } => {
                    // 0 ≤ tail ≤ b: report the computed head, with the bound as its error
                    let b = mass * t_sup;
                    (0.0, b)
                }
            };
            let total = head + tail;
            t_max = t_max.max(t_sup);
            let rounding = (8.0 + 2.0 * (terms as f64).sqrt()) * f64::EPSILON * head;
            let error = tail_err
                + rounding
                + options.coefficient_noise * t_sum
                + options.mass_error * t_max;
            let log_value = if total > 0.0 {
                total.ln() + ln_scale
            } else {
                f64::NEG_INFINITY
            };
            let scale = ln_scale.exp();
            let (value, error, tail) = if scale > 0.0 && scale.is_finite() {
                (total * scale, error * scale, tail * scale)
            } else {
                (
                    log_value.exp(),
                    (error.ln() + ln_scale).exp(),
                    (tail.ln() + ln_scale).exp(),
                )
            };
            Ok(Row {
                value,
                log_value,
                error,
                tail,
            })
        })
        .collect::<Result<Vec<_>>>()?;

    let multiplicities = (0..=k_max)
        .map(|k| multiplicity(dim, k))
        .collect::<Result<Vec<_>>>()?;
    let log_multiplicities = (0..=k_max)
        .map(|k| log_multiplicity(dim, k))
        .collect::<Result<Vec<_>>>()?;
    let fit_of = |parity: usize| -> TailFit {
        match &tails_by_parity[parity] {
            ParityTail::Zero => TailFit {
                parity,
                kind: TailKind::Zero,
                exponent: None,
                residual: None,
            },
            ParityTail::Exact => TailFit {
                parity,
                kind: TailKind::Exact,
                exponent: None,
                residual: None,
            },
            ParityTail::Power { main, .. } => TailFit {
                parity,
                kind: TailKind::PowerLaw,
                exponent: Some(main.exponent()),
                residual: Some(main.residual),
            },
            ParityTail::Bound { .. } => TailFit {
                parity,
                kind: TailKind::Bound,
                exponent: None,
                residual: None,
            },
        }
    };
    Ok(SphereSpectrum {
        dim,
        max_degree: k_max,
        series_degree: big_p,
        eigenvalues: rows.iter().map(|r| r.value).collect(),
        log_eigenvalues: rows.iter().map(|r| r.log_value).collect(),
        errors: rows.iter().map(|r| r.error).collect(),
        tails: rows.iter().map(|r| r.tail).collect(),
        multiplicities,
        log_multiplicities,
        tail_fits: [fit_of(0), fit_of(1)],
    })
}

impl SphereSpectrum {
    /// Predicted decay exponent `s` of `λ_k ~ k^{−s}`: `s = d + 2a − 3` with `a` the slower
    /// (smaller) fitted coefficient exponent of the two parities; `None` when no parity has a
    /// power-law model (e.g. geometric coefficients: faster than any power).
    pub fn predicted_exponent(&self) -> Option<f64> {
        let a = self
            .tail_fits
            .iter()
            .filter_map(|f| f.exponent)
            .fold(f64::INFINITY, f64::min);
        a.is_finite().then_some(self.dim as f64 + 2.0 * a - 3.0)
    }

    /// Least-squares slope of `ln λ_k` against `ln k` on `k_min ≤ k ≤ k_max` (defaults:
    /// `⌈k_max/2⌉` … `max_degree`, at least `k = 1`), returned as the exponent `s` of
    /// `λ_k ≈ C k^{−s}`. Degrees with `λ_k = 0` are skipped; needs two usable degrees.
    pub fn fit_decay(&self, k_min: Option<usize>, k_max: Option<usize>) -> Result<f64> {
        let hi = k_max.unwrap_or(self.max_degree);
        if hi > self.max_degree {
            return Err(NtkError::InvalidArgument(format!(
                "k_max = {hi} exceeds the computed max_degree {}",
                self.max_degree
            )));
        }
        let lo = k_min.unwrap_or(hi.div_ceil(2)).max(1);
        if lo > hi {
            return Err(NtkError::InvalidArgument(format!(
                "empty range: k_min = {lo} > k_max = {hi}"
            )));
        }
        let pts: Vec<(f64, f64)> = (lo..=hi)
            .filter(|&k| self.log_eigenvalues[k].is_finite())
            .map(|k| ((k as f64).ln(), self.log_eigenvalues[k]))
            .collect();
        if pts.len() < 2 {
            return Err(NtkError::InvalidArgument(format!(
                "need at least two degrees with nonzero eigenvalues in [{lo}, {hi}] to fit a decay"
            )));
        }
        let n = pts.len() as f64;
        let mx = pts.iter().map(|p| p.0).sum::<f64>() / n;
        let my = pts.iter().map(|p| p.1).sum::<f64>() / n;
        let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
        let sxx: f64 = pts.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
        if sxx <= 0.0 {
            return Err(NtkError::InvalidArgument(
                "need at least two distinct degrees to fit a decay".into(),
            ));
        }
        Ok(-sxy / sxx)
    }

    /// The operator's eigenvalues by index: each `λ_k` repeated `N(d, k)` times, sorted in
    /// descending order, the first `m`. Only degrees `k ≤ max_degree` are included, so this
    /// is the true top-`m` when no higher degree has a larger eigenvalue (true for
    /// non-increasing `λ_k`). Error if fewer than `m` eigenvalues are available.
    pub fn by_index(&self, m: usize) -> Result<Vec<f64>> {
        if m > MAX_BY_INDEX {
            return Err(NtkError::TooLarge(format!(
                "{m} eigenvalues by index is too many (at most {MAX_BY_INDEX})"
            )));
        }
        let available: f64 = self.multiplicities.iter().sum();
        if (m as f64) > available {
            return Err(NtkError::InvalidArgument(format!(
                "only {available} eigenvalues (degrees 0..={}) are available, asked for {m}; \
                 raise max_degree",
                self.max_degree
            )));
        }
        let mut order: Vec<usize> = (0..self.eigenvalues.len()).collect();
        order.sort_by(|&i, &j| self.log_eigenvalues[j].total_cmp(&self.log_eigenvalues[i]));
        let mut out = Vec::with_capacity(m);
        for k in order {
            if out.len() >= m {
                break;
            }
            let left = (m - out.len()) as f64;
            let take = self.multiplicities[k].min(left) as usize;
            out.extend(std::iter::repeat_n(self.eigenvalues[k], take));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::never_cancel;

    fn relu_like(big_p: usize) -> Vec<f64> {
        // Σ_p c_p ρ^p with c_p = Γ(p − 1/2)/(Γ(−1/2) p!)·(−1): coefficients of 1 − sqrt(1 − ρ)
        // (all ≥ 0 for p ≥ 1, ~ p^{-3/2}/(2√π)); plus a constant.
        let mut c = vec![0.0; big_p + 1];
        c[0] = 0.25;
        c[1] = 0.5;
        for p in 2..=big_p {
            let pf = p as f64;
            c[p] = c[p - 1] * (pf - 1.5) / pf;
        }
        c
    }

    #[test]
    fn sphere_multiplicities() {
        assert_eq!(multiplicity(3, 0).unwrap(), 1.0);
        for k in 1..50 {
            assert_eq!(multiplicity(3, k).unwrap(), (2 * k + 1) as f64);
            assert_eq!(multiplicity(2, k).unwrap(), 2.0);
            assert_eq!(multiplicity(4, k).unwrap(), ((k + 1) * (k + 1)) as f64);
        }
        // N(d,1) = d, N(d,2) = d(d+1)/2 − 1
        for d in 3..60 {
            assert_eq!(multiplicity(d, 1).unwrap(), d as f64);
            assert_eq!(multiplicity(d, 2).unwrap(), (d * (d + 1) / 2 - 1) as f64);
        }
        let big = multiplicity(50, 200).unwrap();
        let lb = log_multiplicity(50, 200).unwrap();
        assert!((big.ln() - lb).abs() < 1e-12 * lb);
        assert!(multiplicity(1, 3).is_err());
    }

    #[test]
    fn sphere_monomial_values() {
        // d = 3, p = k = 1: 1/3; d = 3, p = 2: λ_0 = 1/3, λ_2 = 2/15; λ_0(1) = 1
        let m = |d, k, p| monomial_eigenvalue(d, k, p).unwrap();
        assert!((m(3, 1, 1) - 1.0 / 3.0).abs() < 1e-15);
        assert!((m(3, 0, 2) - 1.0 / 3.0).abs() < 1e-15);
        assert!((m(3, 2, 2) - 2.0 / 15.0).abs() < 1e-15);
        assert!((m(7, 0, 0) - 1.0).abs() < 1e-15);
        assert_eq!(m(3, 1, 2), 0.0);
        // d = 2: 2^{-p} C(p, (p-k)/2)
        assert!((m(2, 2, 6) - 15.0 / 64.0).abs() < 1e-15);
        // completeness: Σ_k N λ_k(ρ^p) = 1
        for d in [2usize, 3, 5, 10, 50] {
            for p in [0usize, 1, 7, 40, 301] {
                let s: f64 = (0..=p)
                    .map(|k| multiplicity(d, k).unwrap() * m(d, k, p))
                    .sum();
                assert!((s - 1.0).abs() < 1e-12, "d={d} p={p}: {s}");
            }
        }
    }

    #[test]
    fn sphere_gamma_ratio_matches_lgamma() {
        for &(y, a, b) in &[(15.0, 0.5, 3.0), (1e3, 1.0, -20.0), (50.0, 0.5, 101.5)] {
            let r = ln_gamma_ratio(y, a, b);
            let l = libm::lgamma(y + a) - libm::lgamma(y + b);
            assert!(
                (r - l).abs() < 1e-11 * l.abs().max(1.0),
                "{y} {a} {b}: {r} {l}"
            );
        }
        // large y: ln Γ(y+1) − ln Γ(y) = ln y
        let y = 1e12;
        assert!((ln_gamma_ratio(y, 1.0, 0.0) - y.ln()).abs() < 1e-14 * y.ln());
    }

    #[test]
    fn sphere_gauss_jacobi_moments() {
        for &beta in &[-0.5, 0.0, 0.5, 3.7, 24.0] {
            let (x, w) = gauss_jacobi_01(12, beta).unwrap();
            for j in 0..20 {
                let q: f64 = x.iter().zip(&w).map(|(x, w)| w * x.powi(j)).sum();
                let exact = 1.0 / (beta + 1.0 + j as f64);
                assert!((q - exact).abs() < 1e-13 * exact, "beta={beta} j={j}");
            }
        }
    }

    #[test]
    fn sphere_polynomial_exact() {
        // f = ρ^3 + 2 ρ^4, exact: λ_k = λ_k(ρ^3) + 2 λ_k(ρ^4), Σ N λ = f(1) = 3.
        let c = [0.0, 0.0, 0.0, 1.0, 2.0];
        let opts = SphereOptions {
            tail_mass: Some(0.0),
            ..Default::default()
        };
        for d in [2usize, 3, 6] {
            let s = sphere_spectrum(&c, d, 6, opts, &never_cancel).unwrap();
            let mut total = 0.0;
            for k in 0..=6 {
                let want = monomial_eigenvalue(d, k, 3).unwrap()
                    + 2.0 * monomial_eigenvalue(d, k, 4).unwrap();
                assert!(
                    (s.eigenvalues[k] - want).abs() <= 1e-13 * want,
                    "d={d} k={k}: {} vs {want}",
                    s.eigenvalues[k]
                );
                total += s.multiplicities[k] * s.eigenvalues[k];
            }
            assert!((total - 3.0).abs() < 1e-14);
        }
    }

    #[test]
    fn sphere_tail_model_converges() {
        // the same function at two degrees: the tail model makes them agree
        let d = 3;
        let k_max = 30;
        let a = sphere_spectrum(
            &relu_like(4000),
            d,
            k_max,
            SphereOptions::default(),
            &never_cancel,
        )
        .unwrap();
        let b = sphere_spectrum(
            &relu_like(64_000),
            d,
            k_max,
            SphereOptions::default(),
            &never_cancel,
        )
        .unwrap();
        assert_eq!(a.tail_fits[0].kind, TailKind::PowerLaw);
        assert!((a.tail_fits[1].exponent.unwrap() - 1.5).abs() < 1e-6);
        for k in 0..=k_max {
            let rel = (a.eigenvalues[k] / b.eigenvalues[k] - 1.0).abs();
            assert!(rel < 1e-10, "k={k}: {rel:e}");
            assert!(a.errors[k] < 1e-8 * a.eigenvalues[k]);
            assert!(a.tails[k] > 0.0);
        }
        assert!((a.predicted_exponent().unwrap() - 3.0).abs() < 1e-6);
        let fit = b.fit_decay(Some(10), Some(30)).unwrap();
        assert!((fit - 3.0).abs() < 0.2, "{fit}");
        let idx = a.by_index(10).unwrap();
        assert_eq!(idx.len(), 10);
        assert_eq!(idx[0], a.eigenvalues[0]);
        assert!(idx.windows(2).all(|w| w[0] >= w[1]));
    }

    #[test]
    fn sphere_low_degree_error_estimates_cover() {
        // P far below the peak p*(30) = 465: the tail carries most of λ_30, and the error
        // estimate must say how well the model does
        let reference = sphere_spectrum(
            &relu_like(100_000),
            3,
            30,
            SphereOptions::default(),
            &never_cancel,
        )
        .unwrap();
        for big_p in [128usize, 300, 1000] {
            let s = sphere_spectrum(
                &relu_like(big_p),
                3,
                30,
                SphereOptions::default(),
                &never_cancel,
            )
            .unwrap();
            for k in 0..=30 {
                let (a, b) = (s.eigenvalues[k], reference.eigenvalues[k]);
                assert!(
                    (a - b).abs() <= s.errors[k] + reference.errors[k],
                    "P={big_p} k={k}: {a} vs {b} (est {:e})",
                    s.errors[k]
                );
                assert!(s.errors[k] < 1e-4 * a);
            }
        }
    }

    #[test]
    fn sphere_rejects_bad_input() {
        let c = relu_like(2000);
        let never = &never_cancel;
        let o = SphereOptions::default();
        assert!(sphere_spectrum(&c, 1, 5, o, never).is_err());
        assert!(sphere_spectrum(&c, 3, 1999, o, never).is_err()); // degree too low
        assert!(sphere_spectrum(&[], 3, 5, o, never).is_err());
        assert!(sphere_spectrum(&[1.0, -1.0], 3, 1, o, never).is_err());
        assert!(sphere_spectrum(&[1.0, f64::NAN], 3, 1, o, never).is_err());
        assert!(recommended_degree(3, 10_000).is_err());
        let s = sphere_spectrum(&c, 3, 5, o, never).unwrap();
        assert!(s.by_index(1_000_000).is_err());
        assert!(s.fit_decay(Some(4), Some(9)).is_err());
    }
}
