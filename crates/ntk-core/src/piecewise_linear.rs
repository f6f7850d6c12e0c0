//! Piecewise-linear activations (possibly discontinuous): exact Hermite coefficients by
//! integration by parts at the kinks (DESIGN.md §1.2).
//!
//! `φ(x) = intercepts[j] + slopes[j] x` on piece `j`, which is the open interval
//! `(kinks[j-1], kinks[j])` with `kinks[-1] = -inf` and `kinks[m] = +inf`; there are
//! `m + 1` pieces for `m` kinks. At a kink itself `φ` takes the value of the right piece
//! (irrelevant for the integrals).
//!
//! Mathematics, for `φ_q(z) = φ(sqrt(q) z)`, kinks `a_i = t_i / sqrt(q)` in `z`, and
//! `g_k(a) = h_k(a) ϕ(a)` (`ϕ` the standard normal density, `g_k(±inf) = 0`): with
//! `I_0(a, b) = Φ(b) − Φ(a)` and, for `m ≥ 1`, `I_m(a, b) = ∫_a^b h_m ϕ =
//! (g_{m−1}(a) − g_{m−1}(b)) / sqrt(m)` (because `(He_{m−1} ϕ)' = −He_m ϕ`), one gets
//! `∫_a^b z h_k ϕ = sqrt(k+1) I_{k+1} + sqrt(k) I_{k−1}`. Summing over the pieces, the
//! interior endpoint terms combine into jumps at the kinks, which is how they are evaluated
//! here (no cancellation between pieces):
//!
//! - `mu_0 = sum_j [c_j P_j + s_j sqrt(q) (ϕ(a_j) − ϕ(b_j))]`,
//! - `mu_1 = sqrt(q) sum_j s_j P_j + sum_i Δv_i ϕ(a_i)`,
//! - `mu_k = sqrt(q) sum_i Δs_i g_{k−2}(a_i) / sqrt(k(k−1)) + sum_i Δv_i g_{k−1}(a_i) / sqrt(k)`
//!   for `k ≥ 2`,
//!
//! where `P_j = Φ(b_j) − Φ(a_j)` is the probability of piece `j` (from `erfc`, accurate
//! in the tails), `Δs_i = s_{i+1} − s_i` the slope jump and `Δv_i` the value jump of `φ`
//! at kink `i`. (This is `mu_k(f) = mu_{k−1}(f') / sqrt(k)` with the distributional
//! derivative `φ_q' = sqrt(q) s_j + sum_i Δv_i δ(z − a_i)`.) The `g_k(a_i)` come from
//! [`hermite_times_density`], which never overflows.
use crate::error::{NtkError, Result};
use crate::hermite::{
    check_degree, check_q, hermite_times_density, HermiteCoefficients, FRAC_1_SQRT_2PI,
};

/// A piecewise-linear function with `kinks.len() + 1` affine pieces (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct PiecewiseLinear {
    /// Break points, finite and strictly increasing.
    pub kinks: Vec<f64>,
    /// `intercepts[j]`: value at `x = 0` of the affine function on piece `j`.
    pub intercepts: Vec<f64>,
    /// `slopes[j]`: slope on piece `j`.
    pub slopes: Vec<f64>,
}

/// `P(a < Z < b)` for `a <= b` (either may be infinite), accurate in both tails.
pub(crate) fn normal_prob(a: f64, b: f64) -> f64 {
    let upper = |x: f64| 0.5 * libm::erfc(x * std::f64::consts::FRAC_1_SQRT_2);
    if a >= 0.0 {
        upper(a) - upper(b)
    } else if b <= 0.0 {
        upper(-b) - upper(-a)
    } else {
        1.0 - upper(-a) - upper(b)
    }
}

/// Standard normal density (0 at ±inf).
pub(crate) fn normal_pdf(x: f64) -> f64 {
    if x.is_infinite() {
        0.0
    } else {
        FRAC_1_SQRT_2PI * (-0.5 * x * x).exp()
    }
}

/// `x ϕ(x)` with the limit 0 at ±inf.
fn x_pdf(x: f64) -> f64 {
    if x.is_infinite() {
        0.0
    } else {
        x * normal_pdf(x)
    }
}

impl PiecewiseLinear {
    /// Builds and validates a piecewise-linear function.
    pub fn new(kinks: Vec<f64>, intercepts: Vec<f64>, slopes: Vec<f64>) -> Result<Self> {
        let p = PiecewiseLinear {
            kinks,
            intercepts,
            slopes,
        };
        p.validate()?;
        Ok(p)
    }

    /// Checks: `intercepts` and `slopes` have `kinks.len() + 1` entries, all finite; kinks
    /// finite and strictly increasing (→ `InvalidArgument` otherwise).
    pub fn validate(&self) -> Result<()> {
        let n = self.kinks.len() + 1;
        if self.intercepts.len() != n || self.slopes.len() != n {
            return Err(NtkError::InvalidArgument(format!(
                "a piecewise-linear function with {} kinks needs {} intercepts and slopes, \
                 got {} and {}",
                self.kinks.len(),
                n,
                self.intercepts.len(),
                self.slopes.len()
            )));
        }
        if self
            .kinks
            .iter()
            .chain(&self.intercepts)
            .chain(&self.slopes)
            .any(|v| !v.is_finite())
        {
            return Err(NtkError::InvalidArgument(
                "piecewise-linear kinks, intercepts and slopes must all be finite".into(),
            ));
        }
        if self.kinks.windows(2).any(|w| w[0] >= w[1]) {
            return Err(NtkError::InvalidArgument(
                "piecewise-linear kinks must be strictly increasing (sort and deduplicate them)"
                    .into(),
            ));
        }
        Ok(())
    }

    /// `φ(x)`; at a kink, the value of the right piece (NaN if the function is malformed,
    /// i.e. has too few intercepts or slopes).
    pub fn eval(&self, x: f64) -> f64 {
        let j = self.kinks.partition_point(|&k| k <= x);
        match (self.intercepts.get(j), self.slopes.get(j)) {
            (Some(c), Some(s)) => c + s * x,
            _ => f64::NAN,
        }
    }

    /// Right derivative `φ'(x)` (the slope of the piece to the right of a kink; NaN if the
    /// function is malformed).
    pub fn eval_derivative(&self, x: f64) -> f64 {
        self.slopes
            .get(self.kinks.partition_point(|&k| k <= x))
            .copied()
            .unwrap_or(f64::NAN)
    }

    /// Value jumps `Δv_i = φ(t_i+) − φ(t_i−)` at the kinks.
    fn value_jumps(&self) -> Vec<f64> {
        self.kinks
            .iter()
            .enumerate()
            .map(|(i, &t)| {
                (self.intercepts[i + 1] - self.intercepts[i])
                    + (self.slopes[i + 1] - self.slopes[i]) * t
            })
            .collect()
    }

    /// Piece bounds in `z = x / sqrt(q)`.
    fn bounds_z(&self, sq: f64, j: usize) -> (f64, f64) {
        let a = if j == 0 {
            f64::NEG_INFINITY
        } else {
            self.kinks[j - 1] / sq
        };
        let b = if j == self.kinks.len() {
            f64::INFINITY
        } else {
            self.kinks[j] / sq
        };
        (a, b)
    }

    /// Exact `mu_0..=mu_degree` of `φ(sqrt(q) z)` (formulas in the module docs). `error` is a
    /// round-off estimate, `second_moment` exact.
    ///
    /// Errors: invalid function (see [`validate`](Self::validate)), `q` not finite and
    /// `> 0`, or `degree > MAX_DEGREE` → `InvalidArgument`.
    pub fn coefficients(&self, degree: usize, q: f64) -> Result<HermiteCoefficients> {
        self.validate()?;
        check_degree(degree)?;
        check_q(q)?;
        let sq = q.sqrt();
        let len = degree + 1;
        let mut mu = vec![0.0; len];
        let mut mu_abs = vec![0.0; len];
        let npieces = self.kinks.len() + 1;
        for j in 0..npieces {
            let (a, b) = self.bounds_z(sq, j);
            let p = normal_prob(a, b);
            let c = self.intercepts[j];
            let s = self.slopes[j];
            let t0 = c * p;
            let t1 = s * sq * (normal_pdf(a) - normal_pdf(b));
            mu[0] += t0 + t1;
            mu_abs[0] += t0.abs() + t1.abs();
            if len > 1 {
                mu[1] += sq * s * p;
                mu_abs[1] += (sq * s * p).abs();
            }
        }
        let dv = self.value_jumps();
        if len > 1 && !self.kinks.is_empty() {
            let mut g = vec![0.0; degree];
            let inv_sqrt: Vec<f64> = (0..len).map(|k| 1.0 / (k as f64).sqrt()).collect();
            for (i, &t) in self.kinks.iter().enumerate() {
                let a = t / sq;
                let ds = self.slopes[i + 1] - self.slopes[i];
                hermite_times_density(a, &mut g);
                let v1 = dv[i] * g[0];
                mu[1] += v1;
                mu_abs[1] += v1.abs();
                for k in 2..len {
                    let u = sq * ds * g[k - 2] * inv_sqrt[k] * inv_sqrt[k - 1];
                    let v = dv[i] * g[k - 1] * inv_sqrt[k];
                    mu[k] += u + v;
                    mu_abs[k] += u.abs() + v.abs();
                }
            }
        }
        let mut error: f64 = 0.0;
        for (k, a) in mu_abs.iter().enumerate() {
            // g_k carries ~ sqrt(k) rounding errors from the recurrence, plus the sums.
            error = error.max(f64::EPSILON * (8.0 + 2.0 * (k as f64).sqrt()) * a);
        }
        Ok(HermiteCoefficients {
            mu,
            error,
            second_moment: self.second_moment_unchecked(sq),
        })
    }

    /// Exact `E[φ(sqrt(q) Z)²] = sum_j ∫_{piece j} (c_j + s_j sqrt(q) z)² ϕ(z) dz`, using
    /// `∫_a^b ϕ = P`, `∫_a^b z ϕ = ϕ(a) − ϕ(b)`, `∫_a^b z² ϕ = P + a ϕ(a) − b ϕ(b)`.
    /// Returns NaN for an invalid function or `q` (use [`coefficients`](Self::coefficients)
    /// for a checked result).
    pub fn second_moment(&self, q: f64) -> f64 {
        if self.validate().is_err() || check_q(q).is_err() {
            return f64::NAN;
        }
        self.second_moment_unchecked(q.sqrt())
    }

    fn second_moment_unchecked(&self, sq: f64) -> f64 {
        let mut total = 0.0;
        for j in 0..=self.kinks.len() {
            let (a, b) = self.bounds_z(sq, j);
            let p = normal_prob(a, b);
            let m1 = normal_pdf(a) - normal_pdf(b);
            let m2 = p + x_pdf(a) - x_pdf(b);
            let c = self.intercepts[j];
            let s = self.slopes[j] * sq;
            total += c * c * p + 2.0 * c * s * m1 + s * s * m2;
        }
        total.max(0.0)
    }

    /// `true` if the value jumps at all kinks are zero up to round-off
    /// (`|Δv_i| <= 1e-12 · (|c| + |s t_i|)` of the adjacent pieces).
    /// A malformed function (see [`validate`](Self::validate)) is reported as not continuous.
    pub fn is_continuous(&self) -> bool {
        self.validate().is_ok() && self.discontinuity().is_none()
    }

    /// First kink with a genuine value jump: `(t_i, Δv_i)`.
    fn discontinuity(&self) -> Option<(f64, f64)> {
        let dv = self.value_jumps();
        for (i, &t) in self.kinks.iter().enumerate() {
            let scale = (self.intercepts[i].abs() + (self.slopes[i] * t).abs())
                .max(self.intercepts[i + 1].abs() + (self.slopes[i + 1] * t).abs());
            if dv[i].abs() > 1e-12 * scale {
                return Some((t, dv[i]));
            }
        }
        None
    }

    /// Exact `E[φ'(sqrt(q) Z)²] = sum_j s_j² P_j` (derivative w.r.t. `φ`'s own argument).
    ///
    /// Errors: `Domain` if `φ` jumps somewhere (its derivative then contains a Dirac delta,
    /// so `E[φ'²]` and the NTK are infinite); `InvalidArgument` for an invalid function or `q`.
    pub fn derivative_second_moment(&self, q: f64) -> Result<f64> {
        self.validate()?;
        check_q(q)?;
        if let Some((t, jump)) = self.discontinuity() {
            return Err(NtkError::Domain(format!(
                "the piecewise-linear activation jumps by {jump} at x = {t}: its derivative \
                 contains a Dirac delta there, so E[phi'^2] and the NTK are infinite; only the \
                 NNGP kernel exists for this activation"
            )));
        }
        let sq = q.sqrt();
        Ok((0..=self.kinks.len())
            .map(|j| {
                let (a, b) = self.bounds_z(sq, j);
                self.slopes[j] * self.slopes[j] * normal_prob(a, b)
            })
            .sum())
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop, clippy::excessive_precision)]
mod tests {
    use super::*;
    use crate::quadrature::reference_coefficients;

    /// Independent reference (fine composite quadrature split at the kinks): coefficients,
    /// E[φ_q²] and E[φ'(sqrt(q) Z)²].
    fn reference(p: &PiecewiseLinear, degree: usize, q: f64) -> (Vec<f64>, f64, f64) {
        let sq = q.sqrt();
        let kz: Vec<f64> = p.kinks.iter().map(|t| t / sq).collect();
        let (mu, sm) = reference_coefficients(|x| p.eval(x), &kz, degree, sq);
        let (_, dsm) = reference_coefficients(|x| p.eval_derivative(x), &kz, 0, sq);
        (mu, sm, dsm)
    }

    #[test]
    fn relu_known_values() {
        let relu = PiecewiseLinear::new(vec![0.0], vec![0.0, 0.0], vec![0.0, 1.0]).unwrap();
        let c = relu.coefficients(6, 1.0).unwrap();
        let pi = std::f64::consts::PI;
        assert!((c.mu[0] - 1.0 / (2.0 * pi).sqrt()).abs() < 1e-16);
        assert!((c.mu[1] - 0.5).abs() < 1e-16);
        assert!((c.mu[2] - 1.0 / (2.0 * pi.sqrt())).abs() < 1e-16);
        assert!(c.mu[3].abs() < 1e-17);
        assert!((c.second_moment - 0.5).abs() < 1e-16);
        assert!((relu.derivative_second_moment(1.0).unwrap() - 0.5).abs() < 1e-16);
    }

    #[test]
    fn general_piecewise_linear_against_quadrature() {
        // discontinuous, 3 kinks, unequal slopes
        let p = PiecewiseLinear::new(
            vec![-1.3, 0.4, 2.0],
            vec![0.5, -0.2, 1.0, 3.0],
            vec![0.1, 2.0, -0.7, 0.25],
        )
        .unwrap();
        for &q in &[1.0, 0.45, 2.3] {
            let c = p.coefficients(60, q).unwrap();
            let (mu, sm, _) = reference(&p, 60, q);
            for k in 0..=60 {
                assert!(
                    (c.mu[k] - mu[k]).abs() < 2e-15,
                    "q={q} k={k}: {} vs {} ({:e})",
                    c.mu[k],
                    mu[k],
                    c.mu[k] - mu[k]
                );
            }
            assert!((c.second_moment - sm).abs() < 1e-14);
            assert!((p.second_moment(q) - sm).abs() < 1e-14);
        }
        assert!(!p.is_continuous());
        assert!(matches!(
            p.derivative_second_moment(1.0),
            Err(NtkError::Domain(_))
        ));
        // continuous version: hard-tanh-like with odd slopes
        let p = PiecewiseLinear::new(vec![-1.0, 2.0], vec![-1.0, 0.0, 0.5], vec![0.0, 1.0, 0.75])
            .unwrap();
        assert!(p.is_continuous());
        let (mu, _, dsm) = reference(&p, 40, 1.7);
        let c = p.coefficients(40, 1.7).unwrap();
        for k in 0..=40 {
            assert!(
                (c.mu[k] - mu[k]).abs() < 2e-15,
                "k={k}: {} vs {}",
                c.mu[k],
                mu[k]
            );
        }
        assert!((p.derivative_second_moment(1.7).unwrap() - dsm).abs() < 1e-14);
    }

    #[test]
    fn extreme_kinks_and_high_degree_stay_finite() {
        // relu6 at small q: the kink 6 sits at z = 60.
        let p =
            PiecewiseLinear::new(vec![0.0, 6.0], vec![0.0, 0.0, 6.0], vec![0.0, 1.0, 0.0]).unwrap();
        let c = p.coefficients(2000, 0.01).unwrap();
        assert!(c.mu.iter().all(|m| m.is_finite()));
        assert!(c.error.is_finite() && c.error < 1e-15);
        // equals relu at q = 0.01 up to the (tiny) effect of the far kink
        let relu = PiecewiseLinear::new(vec![0.0], vec![0.0, 0.0], vec![0.0, 1.0]).unwrap();
        let r = relu.coefficients(2000, 0.01).unwrap();
        for k in 0..=2000 {
            assert!((c.mu[k] - r.mu[k]).abs() <= 1e-15 * r.mu[k].abs() + 1e-200);
        }
    }

    #[test]
    fn rejects_bad_input() {
        assert!(PiecewiseLinear::new(vec![1.0, 0.0], vec![0.0; 3], vec![0.0; 3]).is_err());
        assert!(PiecewiseLinear::new(vec![0.0], vec![0.0; 3], vec![0.0; 2]).is_err());
        assert!(PiecewiseLinear::new(vec![f64::NAN], vec![0.0; 2], vec![0.0; 2]).is_err());
        let p = PiecewiseLinear::new(vec![0.0], vec![0.0; 2], vec![0.0, 1.0]).unwrap();
        assert!(p.coefficients(10, -1.0).is_err());
        assert!(p.coefficients(1_000_000, 1.0).is_err());
        assert!(p.second_moment(f64::NAN).is_nan());
        let empty = PiecewiseLinear::new(vec![], vec![2.0], vec![-1.0]).unwrap();
        let c = empty.coefficients(3, 4.0).unwrap();
        assert_eq!(c.mu, vec![2.0, -2.0, 0.0, 0.0]);
        assert!((c.second_moment - 8.0).abs() < 1e-15);
    }
}
