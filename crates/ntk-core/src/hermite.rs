//! Normalized probabilists' Hermite functions `h_k = He_k / sqrt(k!)` and Hermite
//! coefficient vectors `mu_k(phi) = E[phi(Z) h_k(Z)]`, `Z ~ N(0, 1)`.
//!
//! Conventions (DESIGN.md §1.2):
//! - `h_0 = 1`, `h_1 = x`, `h_{k+1}(x) = (x h_k(x) - sqrt(k) h_{k-1}(x)) / sqrt(k+1)`;
//!   the `h_k` are orthonormal under the standard normal density `ϕ(x) = e^{-x²/2}/sqrt(2π)`.
//! - `E[phi(Z)^2] = sum_k mu_k^2` (Parseval).
//! - derivative: `mu_k(phi') = sqrt(k+1) mu_{k+1}(phi)`;
//!   multiplication by x: `mu_k(x f) = sqrt(k) mu_{k-1}(f) + sqrt(k+1) mu_{k+1}(f)`.
//!
//! Unnormalized `He_k` and factorials are never formed: they overflow past `k ≈ 170`.
//! Where a closed form needs factorials, it uses `ExtFloat` (a double with a separate
//! integer binary exponent), so every value that is representable as an `f64` comes out
//! with full relative accuracy, and values that underflow are returned as 0.
use crate::error::{NtkError, Result};
use crate::quadrature::QuadratureRule;
use rayon::prelude::*;

/// Largest polynomial degree any routine of this module accepts (`degree > MAX_DEGREE` is
/// an [`NtkError::InvalidArgument`]): beyond it the coefficient vectors and the quadrature
/// rules needed to compute them would no longer be reasonable in memory and time.
pub const MAX_DEGREE: usize = 100_000;

/// `1/sqrt(2π)`.
pub(crate) const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

/// Checks `degree <= MAX_DEGREE`.
pub(crate) fn check_degree(degree: usize) -> Result<()> {
    if degree > MAX_DEGREE {
        return Err(NtkError::InvalidArgument(format!(
            "degree {degree} is too large: Hermite coefficients are supported up to degree \
             {MAX_DEGREE}; use a smaller degree"
        )));
    }
    Ok(())
}

/// Checks that the variance `q` is finite and strictly positive.
pub(crate) fn check_q(q: f64) -> Result<()> {
    if !q.is_finite() || q <= 0.0 {
        return Err(NtkError::InvalidArgument(format!(
            "the pre-activation variance q must be finite and > 0 (phi_q(z) = phi(sqrt(q) z)), \
             got q = {q}"
        )));
    }
    Ok(())
}

/// Hermite coefficients `mu_0..=mu_K` of `phi_q(z) = phi(sqrt(q) z)` with an error estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct HermiteCoefficients {
    /// `mu[k] = E[phi_q(Z) h_k(Z)]`, `k = 0..=K`.
    pub mu: Vec<f64>,
    /// Estimated maximum absolute error over all entries of `mu` (0 up to round-off for closed forms).
    pub error: f64,
    /// `E[phi_q(Z)^2] = sum_k mu_k^2` over *all* k (exact for closed forms, quadrature otherwise).
    pub second_moment: f64,
}

impl HermiteCoefficients {
    /// Upper estimate of `sum_{k>K} mu_k^2 = E[phi_q^2] - sum_{k<=K} mu_k^2` (never negative).
    ///
    /// Computed as `max(second_moment - sum_k mu_k^2, 0)` (the sum of squares compensated,
    /// so its round-off is `≲ 2ε` relative) plus a slack that covers the per-entry error
    /// `e = self.error` (`2 e sum_k |mu_k| + (K+1) e^2`) and the round-off of both
    /// quantities (`8 ε second_moment`), so that those errors cannot push it below the true
    /// tail.
    pub fn tail_mass(&self) -> f64 {
        let n = self.mu.len() as f64;
        // Neumaier-compensated sum of squares.
        let (mut sum_sq, mut comp) = (0.0f64, 0.0f64);
        for m in &self.mu {
            let v = m * m;
            let t = sum_sq + v;
            comp += if sum_sq >= v {
                (sum_sq - t) + v
            } else {
                (v - t) + sum_sq
            };
            sum_sq = t;
        }
        let sum_sq = sum_sq + comp;
        let sum_abs: f64 = self.mu.iter().map(|m| m.abs()).sum();
        let e = self.error.abs();
        let base = (self.second_moment - sum_sq).max(0.0);
        let slack = 2.0 * e * sum_abs * (1.0 + n * f64::EPSILON)
            + n * e * e
            + 8.0 * f64::EPSILON * self.second_moment.abs();
        base + slack
    }
}

/// Fills `out[k] = h_k(x)` for `k = 0..out.len()` with the stable normalized recurrence
/// `h_{k+1} = (x h_k - sqrt(k) h_{k-1}) / sqrt(k+1)`, `h_0 = 1`, `h_1 = x`.
///
/// The values themselves grow like `|x|^k / sqrt(k!)` outside the oscillatory region
/// `x² < 4k + 2` and overflow to `±inf` for large `|x|` and `k` (e.g. `|x| > 40`, `k ≈ 2000`);
/// when the product with the Gaussian density is wanted, use [`hermite_times_density`],
/// which never overflows. A NaN `x` gives NaN entries (except `out[0] = 1`).
pub fn normalized_hermite(x: f64, out: &mut [f64]) {
    let n = out.len();
    if n == 0 {
        return;
    }
    out[0] = 1.0;
    if n == 1 {
        return;
    }
    out[1] = x;
    for k in 1..n - 1 {
        let kf = k as f64;
        out[k + 1] = (x * out[k] - kf.sqrt() * out[k - 1]) / (kf + 1.0).sqrt();
    }
}

/// Fills `out[k] = h_k(x) ϕ(x)` (`ϕ` the standard normal density) for `k = 0..out.len()`.
///
/// The recurrence is run with exact power-of-two rescaling and the Gaussian factor is
/// applied in extended exponent range, so every entry whose true value is a normal `f64`
/// is returned with full relative accuracy even when `h_k(x)` alone would overflow and
/// `ϕ(x)` alone would underflow (e.g. `x = 60`, `k = 2000`). `x = ±inf` gives zeros.
pub fn hermite_times_density(x: f64, out: &mut [f64]) {
    let n = out.len();
    if n == 0 {
        return;
    }
    if x.is_infinite() {
        out.fill(0.0);
        return;
    }
    if x.is_nan() {
        out.fill(f64::NAN);
        return;
    }
    let dens = ExtFloat::exp_neg_half_square(x).mul_f64(FRAC_1_SQRT_2PI);
    let emit = |p: f64, e: i64| dens.mul(ExtFloat::from_f64(p)).scale2(e).to_f64();
    let mut e: i64 = 0;
    let mut prev = 1.0;
    out[0] = emit(prev, e);
    if n == 1 {
        return;
    }
    let mut cur = x;
    out[1] = emit(cur, e);
    for k in 1..n - 1 {
        let kf = k as f64;
        let next = (x * cur - kf.sqrt() * prev) / (kf + 1.0).sqrt();
        prev = cur;
        cur = next;
        if cur.abs() > RESCALE_BIG {
            cur *= RESCALE_SMALL;
            prev *= RESCALE_SMALL;
            e += RESCALE_EXP;
        }
        out[k + 1] = emit(cur, e);
    }
}

/// `2^450` and `2^-450`: exact rescaling factors for recurrences that grow (small enough
/// that squares of rescaled values, summed, stay finite).
pub(crate) const RESCALE_BIG: f64 = f64::from_bits((1023 + 450) << 52);
pub(crate) const RESCALE_SMALL: f64 = f64::from_bits((1023 - 450) << 52);
pub(crate) const RESCALE_EXP: i64 = 450;

/// Coefficients of the derivative: `mu_k(phi') = sqrt(k+1) mu_{k+1}(phi)`.
///
/// Returns a vector of length `mu.len() - 1` (empty for an empty input).
pub fn derivative_coefficients(mu: &[f64]) -> Vec<f64> {
    (0..mu.len().saturating_sub(1))
        .map(|k| ((k + 1) as f64).sqrt() * mu[k + 1])
        .collect()
}

/// Coefficients of `x f(x)`: `mu_k(x f) = sqrt(k) mu_{k-1}(f) + sqrt(k+1) mu_{k+1}(f)`.
///
/// Returns a vector of length `mu.len() - 1`: entry `len - 1` would need `mu_len`.
pub fn times_x_coefficients(mu: &[f64]) -> Vec<f64> {
    let n = mu.len().saturating_sub(1);
    (0..n)
        .map(|k| {
            let lower = if k > 0 {
                (k as f64).sqrt() * mu[k - 1]
            } else {
                0.0
            };
            lower + ((k + 1) as f64).sqrt() * mu[k + 1]
        })
        .collect()
}

/// Quadrature estimate of the Hermite coefficients `mu_k ≈ sum_i w_i f(x_i) h_k(x_i)`,
/// `k = 0..=degree`, where the weights of `rule` include the Gaussian density
/// (`sum_i w_i g(x_i) ≈ E[g(Z)]`) and `values[i] = f(rule.nodes[i])`.
///
/// The recurrence for each node is started from `w_i f(x_i)` (it is linear), so nothing
/// overflows even where `h_k(x_i)` alone would. Runs in parallel over blocks of nodes (with a
/// fixed, deterministic summation order). If `values` and `rule.nodes` differ in length,
/// only the common prefix is used.
pub fn coefficients_from_rule(rule: &QuadratureRule, values: &[f64], degree: usize) -> Vec<f64> {
    project(&rule.nodes, &rule.weights, values, degree, false).0
}

/// Projection kernel: returns `(sum_i w_i f_i h_k(x_i), sum_i |w_i f_i h_k(x_i)|)`; the second
/// vector is only computed (otherwise empty) when `with_abs` is set.
pub(crate) fn project(
    nodes: &[f64],
    weights: &[f64],
    values: &[f64],
    degree: usize,
    with_abs: bool,
) -> (Vec<f64>, Vec<f64>) {
    let n = nodes.len().min(weights.len()).min(values.len());
    let len = degree + 1;
    let sq: Vec<f64> = (0..len + 1).map(|k| (k as f64).sqrt()).collect();
    let inv: Vec<f64> = (0..len + 1)
        .map(|k| if k == 0 { 0.0 } else { 1.0 / (k as f64).sqrt() })
        .collect();
    const BLOCK: usize = 512;
    let nblocks = n.div_ceil(BLOCK);
    let work = |b: usize| -> (Vec<f64>, Vec<f64>) {
        let start = b * BLOCK;
        let end = (start + BLOCK).min(n);
        let mut acc = vec![0.0; len];
        let mut acc_abs = if with_abs { vec![0.0; len] } else { Vec::new() };
        // Process 4 nodes at a time for instruction-level parallelism.
        let mut i = start;
        while i < end {
            let mut x = [0.0; 4];
            let mut p = [0.0; 4];
            let mut c = [0.0; 4];
            let mut active = false;
            for j in 0..4 {
                if i + j < end {
                    let t = weights[i + j] * values[i + j];
                    if t != 0.0 {
                        x[j] = nodes[i + j];
                        p[j] = t;
                        active = true;
                    }
                }
            }
            i += 4;
            if !active {
                continue;
            }
            // k = 0
            acc[0] += p[0] + p[1] + p[2] + p[3];
            if with_abs {
                acc_abs[0] += p[0].abs() + p[1].abs() + p[2].abs() + p[3].abs();
            }
            if len == 1 {
                continue;
            }
            for j in 0..4 {
                c[j] = x[j] * p[j];
            }
            acc[1] += c[0] + c[1] + c[2] + c[3];
            if with_abs {
                acc_abs[1] += c[0].abs() + c[1].abs() + c[2].abs() + c[3].abs();
            }
            for k in 1..len - 1 {
                let (sk, ik) = (sq[k], inv[k + 1]);
                let mut s = 0.0;
                let mut sa = 0.0;
                for j in 0..4 {
                    let nx = (x[j] * c[j] - sk * p[j]) * ik;
                    p[j] = c[j];
                    c[j] = nx;
                    s += nx;
                    sa += nx.abs();
                }
                acc[k + 1] += s;
                if with_abs {
                    acc_abs[k + 1] += sa;
                }
            }
        }
        (acc, acc_abs)
    };
    let parts: Vec<(Vec<f64>, Vec<f64>)> = if n * len > 200_000 && nblocks > 1 {
        (0..nblocks).into_par_iter().map(work).collect()
    } else {
        (0..nblocks).map(work).collect()
    };
    let mut mu = vec![0.0; len];
    let mut mu_abs = if with_abs { vec![0.0; len] } else { Vec::new() };
    for (a, aa) in parts {
        for (m, v) in mu.iter_mut().zip(&a) {
            *m += v;
        }
        for (m, v) in mu_abs.iter_mut().zip(&aa) {
            *m += v;
        }
    }
    (mu, mu_abs)
}

/// A double with an extra binary exponent: value `m · 2^e` with `0.5 <= |m| < 1` (or `m = 0`).
///
/// Used to evaluate products of factorials, powers and exponentials that overflow or
/// underflow an `f64` at intermediate stages while the final value is representable;
/// each multiplication or division adds one rounding of the mantissa, nothing else.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ExtFloat {
    m: f64,
    e: i64,
}

/// `ln 2 = LN2_HI + LN2_LO` (fdlibm's split: `LN2_HI` has 32 trailing zero bits, so
/// `n · LN2_HI` is exact for `|n| < 2^20`).
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);

impl ExtFloat {
    pub(crate) const ONE: ExtFloat = ExtFloat { m: 0.5, e: 1 };

    fn norm(m: f64, e: i64) -> ExtFloat {
        if m == 0.0 || !m.is_finite() {
            return ExtFloat { m, e: 0 };
        }
        let (mm, ee) = libm::frexp(m);
        ExtFloat {
            m: mm,
            e: e + ee as i64,
        }
    }

    pub(crate) fn from_f64(x: f64) -> ExtFloat {
        ExtFloat::norm(x, 0)
    }

    pub(crate) fn mul(self, o: ExtFloat) -> ExtFloat {
        ExtFloat::norm(self.m * o.m, self.e + o.e)
    }

    pub(crate) fn mul_f64(self, x: f64) -> ExtFloat {
        self.mul(ExtFloat::from_f64(x))
    }

    pub(crate) fn div(self, o: ExtFloat) -> ExtFloat {
        ExtFloat::norm(self.m / o.m, self.e - o.e)
    }

    pub(crate) fn div_f64(self, x: f64) -> ExtFloat {
        self.div(ExtFloat::from_f64(x))
    }

    /// Multiplies by `2^k` exactly.
    pub(crate) fn scale2(self, k: i64) -> ExtFloat {
        if self.m == 0.0 || !self.m.is_finite() {
            return self;
        }
        ExtFloat {
            m: self.m,
            e: self.e + k,
        }
    }

    /// Square root (of the absolute value; callers only pass non-negative values).
    pub(crate) fn sqrt(self) -> ExtFloat {
        if self.m == 0.0 {
            return self;
        }
        let (m, e) = if self.e % 2 == 0 {
            (self.m.abs(), self.e)
        } else {
            (self.m.abs() * 2.0, self.e - 1)
        };
        ExtFloat::norm(m.sqrt(), e / 2)
    }

    /// `self^n` by binary powering.
    pub(crate) fn powi(self, mut n: u64) -> ExtFloat {
        let mut base = self;
        let mut acc = ExtFloat::ONE;
        while n > 0 {
            if n & 1 == 1 {
                acc = acc.mul(base);
            }
            base = base.mul(base);
            n >>= 1;
        }
        acc
    }

    /// `e^x` in extended range (Cody–Waite reduction `x = n ln2 + r`).
    pub(crate) fn exp(x: f64) -> ExtFloat {
        if x.is_nan() {
            return ExtFloat { m: f64::NAN, e: 0 };
        }
        if x.abs() > 1e15 {
            return if x > 0.0 {
                ExtFloat {
                    m: f64::INFINITY,
                    e: 0,
                }
            } else {
                ExtFloat { m: 0.0, e: 0 }
            };
        }
        let n = (x / std::f64::consts::LN_2).round();
        let r = (x - n * LN2_HI) - n * LN2_LO;
        ExtFloat::norm(r.exp(), n as i64)
    }

    /// `e^{-x²/2}` with the square formed exactly (`x² = hi + lo` by a fused multiply-add).
    pub(crate) fn exp_neg_half_square(x: f64) -> ExtFloat {
        let hi = x * x;
        if !hi.is_finite() {
            return ExtFloat { m: 0.0, e: 0 };
        }
        let lo = x.mul_add(x, -hi);
        ExtFloat::exp(-0.5 * hi).mul_f64(1.0 - 0.5 * lo)
    }

    /// `e^{+x²/2}` with the square formed exactly.
    pub(crate) fn exp_half_square(x: f64) -> ExtFloat {
        let hi = x * x;
        if !hi.is_finite() {
            return ExtFloat {
                m: f64::INFINITY,
                e: 0,
            };
        }
        let lo = x.mul_add(x, -hi);
        ExtFloat::exp(0.5 * hi).mul_f64(1.0 + 0.5 * lo)
    }

    /// Rounds to the nearest `f64` (0 on underflow, `±inf` on overflow).
    pub(crate) fn to_f64(self) -> f64 {
        if self.m == 0.0 || !self.m.is_finite() {
            return self.m;
        }
        let e = self.e.clamp(-4000, 4000) as i32;
        libm::ldexp(self.m, e)
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop, clippy::excessive_precision)]
mod tests {
    use super::*;

    /// `ln(sqrt(2π))`.
    const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_7;

    #[test]
    fn recurrence_matches_explicit_polynomials() {
        let mut h = vec![0.0; 6];
        for &x in &[-3.7, -1.0, 0.0, 0.3, 2.2, 5.0] {
            normalized_hermite(x, &mut h);
            let x2: f64 = x * x;
            let expect = [
                1.0,
                x,
                (x2 - 1.0) / 2f64.sqrt(),
                (x2 * x - 3.0 * x) / 6f64.sqrt(),
                (x2 * x2 - 6.0 * x2 + 3.0) / 24f64.sqrt(),
                (x2 * x2 * x - 10.0 * x2 * x + 15.0 * x) / 120f64.sqrt(),
            ];
            for k in 0..6 {
                assert!(
                    (h[k] - expect[k]).abs() <= 1e-13 * (1.0 + expect[k].abs()),
                    "k={k} x={x}"
                );
            }
        }
        normalized_hermite(1.0, &mut []);
    }

    #[test]
    fn density_product_matches_plain_and_survives_extremes() {
        let n = 301;
        let mut h = vec![0.0; n];
        let mut g = vec![0.0; n];
        for &x in &[-25.0, -7.5, -1.0, 0.0, 0.5, 3.0, 12.0, 30.0] {
            normalized_hermite(x, &mut h);
            hermite_times_density(x, &mut g);
            let dens = (-0.5 * x * x).exp() * FRAC_1_SQRT_2PI;
            for k in 0..n {
                let r = h[k] * dens;
                if r.abs() > 1e-290 && h[k].is_finite() {
                    assert!(
                        (g[k] - r).abs() <= 1e-12 * r.abs(),
                        "x={x} k={k}: {} vs {}",
                        g[k],
                        r
                    );
                }
            }
        }
        // x = 45 and 50: ϕ(x) alone underflows (e^-1013, e^-1250), h_k(x) is of order
        // e^{x²/4}; the products are normal doubles. References computed with mpmath
        // (40 digits, same recurrence in exact-enough arithmetic).
        for &(x, k, expect) in &[
            (45.0, 600usize, 1.522_449_183_332_922_8e-221),
            (45.0, 1000, -7.162_029_148_507_598e-222),
            (50.0, 700, -3.686_034_456_267_055e-273),
        ] {
            let mut g = vec![0.0; k + 1];
            hermite_times_density(x, &mut g);
            assert!(g.iter().all(|v| v.is_finite()));
            assert!(
                (g[k] - expect).abs() <= 1e-12 * expect.abs(),
                "x={x} k={k}: {} vs {expect}",
                g[k]
            );
        }
        let mut g = vec![0.0; 5];
        hermite_times_density(f64::INFINITY, &mut g);
        assert_eq!(g, vec![0.0; 5]);
    }

    #[test]
    fn density_product_far_tail_against_log_formula() {
        // For x far beyond the turning point, h_k(x) ≈ x^k/sqrt(k!) (1 - k(k-1)/(2x²) + ...),
        // use small k so the correction series is short and exact: k = 3, x = 35
        // (ϕ(35) ≈ e^-613 is still a double, barely).
        let x: f64 = 35.0;
        let mut g = vec![0.0; 4];
        hermite_times_density(x, &mut g);
        let he3 = x * x * x - 3.0 * x;
        let log_expected = he3.ln() - 0.5 * 6f64.ln() - 0.5 * x * x - LN_SQRT_2PI;
        assert!((g[3].ln() - log_expected).abs() < 1e-12);
    }

    #[test]
    fn derivative_and_times_x_identities() {
        // f(x) = x^2 = h_0 + sqrt(2) h_2 ; f' = 2x = 2 h_1 ; x f = x^3 = 3 h_1 + sqrt(6) h_3.
        let mu = [1.0, 0.0, 2f64.sqrt(), 0.0, 0.0];
        let d = derivative_coefficients(&mu);
        assert_eq!(d.len(), 4);
        assert!((d[1] - 2.0).abs() < 1e-15 && d[0] == 0.0 && d[2] == 0.0);
        let t = times_x_coefficients(&mu);
        assert_eq!(t.len(), 4);
        assert!(
            t[0].abs() < 1e-15 && (t[1] - 3.0).abs() < 1e-15 && (t[3] - 6f64.sqrt()).abs() < 1e-15
        );
        assert!(derivative_coefficients(&[]).is_empty());
        assert!(times_x_coefficients(&[1.0]).is_empty());
    }

    #[test]
    fn tail_mass_is_an_upper_estimate() {
        let c = HermiteCoefficients {
            mu: vec![0.5, 0.5],
            error: 0.0,
            second_moment: 0.75,
        };
        // exact tail 0.25, plus the round-off slack 8 ε E[φ²]
        let t = c.tail_mass();
        assert!((0.25..0.25 + 2e-15).contains(&t), "{t}");
        let c = HermiteCoefficients {
            mu: vec![0.5, 0.5],
            error: 1e-3,
            second_moment: 0.5,
        };
        assert!(c.tail_mass() >= 2e-3);
    }

    #[test]
    fn ext_float_basics() {
        let a = ExtFloat::from_f64(3.0);
        assert_eq!(a.to_f64(), 3.0);
        assert_eq!(a.mul(a).to_f64(), 9.0);
        assert_eq!(a.sqrt().to_f64(), 3f64.sqrt());
        assert_eq!(
            ExtFloat::from_f64(2.0).powi(2000).scale2(-1990).to_f64(),
            1024.0
        );
        let e = ExtFloat::exp(-800.0).mul(ExtFloat::exp(790.0)).to_f64();
        assert!((e - (-10f64).exp()).abs() < 1e-14 * e);
        assert_eq!(ExtFloat::exp(-800.0).to_f64(), 0.0);
        assert!(ExtFloat::exp(800.0).to_f64().is_infinite());
        let g = ExtFloat::exp_neg_half_square(3.0).to_f64();
        assert!((g - (-4.5f64).exp()).abs() < 1e-16);
        assert_eq!(RESCALE_BIG, 2f64.powi(RESCALE_EXP as i32));
        assert_eq!(LN2_HI + LN2_LO, std::f64::consts::LN_2);
        assert_eq!(RESCALE_SMALL * RESCALE_BIG, 1.0);
        assert!(check_degree(MAX_DEGREE + 1).is_err());
        assert!(check_q(0.0).is_err() && check_q(f64::NAN).is_err() && check_q(1.0).is_ok());
    }
}
