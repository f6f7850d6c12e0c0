//! Activations with closed-form Hermite coefficients (DESIGN.md §1.2, §3b).
//!
//! Every method works with `φ_q(z) = φ(sqrt(q) z)`, `q > 0`, and `mu_k = E[φ_q(Z) h_k(Z)]`
//! with the normalized Hermite polynomials `h_k = He_k / sqrt(k!)`. How `q` enters:
//! - ReLU, leaky ReLU, abs, identity are homogeneous of degree 1 (factor `sqrt(q)`),
//!   monomials of degree `n` (factor `q^{n/2}`); the step function is invariant;
//! - `erf(s x)`, `sin(f x)`, `cos(f x)`, `exp(s x)`: the parameter becomes `a = s sqrt(q)`;
//! - the Gaussian `exp(-x²/2)` becomes `exp(-b z²/2)` with `b = q`;
//! - GELU `x Φ(x)` becomes `sqrt(q) z Φ(sqrt(q) z)`;
//! - hard-tanh and ReLU6 go through [`PiecewiseLinear`] (exact integration by parts);
//! - `h_n(sqrt(q) z)` uses `He_n(γx) = Σ_j γ^{n−2j} (γ²−1)^j n! / (j! (n−2j)! 2^j) He_{n−2j}(x)`;
//! - a polynomial `Σ c_i x^i` is expanded exactly by a Horner scheme in the Hermite basis
//!   (`x f` ↦ `sqrt(k) mu_{k−1} + sqrt(k+1) mu_{k+1}`).
//!
//! Factorials, powers and exponentials are combined in an extended-exponent float
//! (mantissa + integer binary exponent), so no intermediate overflows (no `k!` past 170 in
//! an `f64`), every coefficient that is a normal `f64` carries only the rounding of the
//! `O(k)` products that define it (relative error `≲ k ε`, measured ≤ 1e-13 at k = 2000),
//! and coefficients that underflow are 0. No log-gamma is used: `ln(2000!) ≈ 13000` alone
//! would carry an absolute error of ~2e-12, i.e. that relative error on the result.
use crate::error::{NtkError, Result};
use crate::hermite::{
    check_degree, check_q, normalized_hermite, ExtFloat, HermiteCoefficients, FRAC_1_SQRT_2PI,
};
use crate::piecewise_linear::PiecewiseLinear;
use std::f64::consts::{FRAC_2_SQRT_PI, PI};

/// Largest monomial degree `n` of [`ClosedForm::Monomial`] (and length − 1 of a polynomial).
pub const MAX_MONOMIAL_DEGREE: usize = 2000;

/// A built-in activation whose Hermite coefficients are known in closed form.
///
/// Parameters are validated by [`ClosedForm::validate`], which every fallible method calls.
#[derive(Debug, Clone, PartialEq)]
pub enum ClosedForm {
    /// `max(x, 0)`; kink at 0.
    Relu,
    /// `x` for `x > 0`, `slope · x` otherwise (equals `max(x, slope·x)` for `slope <= 1`);
    /// `slope` finite. Coefficients `slope·[k=1] + (1 − slope) mu_k(ReLU)` (times `sqrt(q)`).
    LeakyRelu { slope: f64 },
    /// `|x|` = `2 ReLU(x) − x`.
    Abs,
    /// Heaviside `1[x > 0]`: NNGP only (its derivative is a Dirac delta, the NTK is infinite).
    Step,
    /// `x`.
    Identity,
    /// `erf(scale · x)`, `scale` finite and nonzero.
    Erf { scale: f64 },
    /// `sin(freq · x)`, `freq` finite and nonzero.
    Sin { freq: f64 },
    /// `cos(freq · x)`, `freq` finite.
    Cos { freq: f64 },
    /// `exp(scale · x)`, `scale` finite (the coefficients must fit an `f64`: `|scale| sqrt(q) ≲ 13`).
    Exp { scale: f64 },
    /// exp(-x^2/2)
    Gaussian,
    /// exp(-x^2/2)/sqrt(2 pi)
    GaussianPdf,
    /// x Phi(x)
    Gelu,
    /// `clip(x, −1, 1)` (piecewise linear, kinks ±1).
    HardTanh,
    /// `clip(x, 0, 6)` (piecewise linear, kinks 0 and 6).
    Relu6,
    /// `x^n`, `n <= MAX_MONOMIAL_DEGREE`.
    Monomial { n: usize },
    /// The normalized Hermite polynomial `h_n(x)`, `n <= MAX_DEGREE`.
    Hermite { n: usize },
    /// `sum_i coeffs[i] x^i` (non-empty, finite, at most `MAX_MONOMIAL_DEGREE + 1` entries)
    Polynomial { coeffs: Vec<f64> },
}

/// Sign `(-1)^m`.
fn alt(m: usize) -> f64 {
    if m % 2 == 0 {
        1.0
    } else {
        -1.0
    }
}

/// `mu_k(ReLU)` at `q = 1`: `mu_0 = 1/sqrt(2π)`, `mu_1 = 1/2`, even `k ≥ 2`:
/// `(−1)^{k/2+1} (k−3)!! / sqrt(2π k!)`.
fn relu_mu(degree: usize) -> Vec<f64> {
    let mut mu = vec![0.0; degree + 1];
    mu[0] = FRAC_1_SQRT_2PI;
    if degree >= 1 {
        mu[1] = 0.5;
    }
    let mut fact = ExtFloat::ONE; // k!
    let mut dfact = ExtFloat::ONE; // (k-3)!!
    for (k, slot) in mu.iter_mut().enumerate().skip(2) {
        fact = fact.mul_f64(k as f64);
        if k % 2 == 0 {
            if k >= 4 {
                dfact = dfact.mul_f64((k - 3) as f64);
            }
            let v = dfact.div(fact.sqrt()).mul_f64(FRAC_1_SQRT_2PI).to_f64();
            *slot = -alt(k / 2) * v;
        }
    }
    mu
}

/// `mu_k(step)`: `mu_0 = 1/2`, odd `k`: `(−1)^{(k−1)/2} (k−2)!! / sqrt(2π k!)`.
fn step_mu(degree: usize) -> Vec<f64> {
    let mut mu = vec![0.0; degree + 1];
    mu[0] = 0.5;
    let mut fact = ExtFloat::ONE; // k!
    let mut dfact = ExtFloat::ONE; // (k-2)!!
    for (k, slot) in mu.iter_mut().enumerate().skip(1) {
        fact = fact.mul_f64(k as f64);
        if k % 2 == 1 {
            if k >= 3 {
                dfact = dfact.mul_f64((k - 2) as f64);
            }
            let v = dfact.div(fact.sqrt()).mul_f64(FRAC_1_SQRT_2PI).to_f64();
            *slot = alt((k - 1) / 2) * v;
        }
    }
    mu
}

/// `mu_k(erf(a z))`: odd `k = 2m+1`:
/// `(2/sqrt(π)) (a/sqrt(s)) (−1)^m r^m sqrt(k!) / (m! k)`, `s = 1 + 2a²`, `r = a²/s`.
fn erf_mu(degree: usize, a: f64) -> Vec<f64> {
    let a2 = a * a;
    let (r, c1) = if a2.is_finite() {
        let s = 1.0 + 2.0 * a2;
        (a2 / s, a / s.sqrt())
    } else {
        (0.5, a.signum() * std::f64::consts::FRAC_1_SQRT_2)
    };
    let pre = ExtFloat::from_f64(FRAC_2_SQRT_PI * c1);
    let rx = ExtFloat::from_f64(r);
    let mut mu = vec![0.0; degree + 1];
    let mut fact = ExtFloat::ONE; // k!
    let mut mfact = ExtFloat::ONE; // m!
    let mut rpow = ExtFloat::ONE; // r^m
    for (k, slot) in mu.iter_mut().enumerate().skip(1) {
        fact = fact.mul_f64(k as f64);
        if k % 2 == 1 {
            let m = (k - 1) / 2;
            if m >= 1 {
                mfact = mfact.mul_f64(m as f64);
                rpow = rpow.mul(rx);
            }
            let v = pre
                .mul(rpow)
                .mul(fact.sqrt())
                .div(mfact)
                .div_f64(k as f64)
                .to_f64();
            *slot = alt(m) * v;
        }
    }
    mu
}

/// `pre · a^k / sqrt(k!)` for `k = 0..=degree` (the sin / cos / exp pattern), with
/// `pre = e^{∓a²/2}` given in extended range.
fn power_over_sqrt_fact(degree: usize, a: f64, pre: ExtFloat) -> Vec<f64> {
    let ax = ExtFloat::from_f64(a);
    let mut out = vec![0.0; degree + 1];
    let mut pw = ExtFloat::ONE;
    let mut fact = ExtFloat::ONE;
    for (k, o) in out.iter_mut().enumerate() {
        if k >= 1 {
            pw = pw.mul(ax);
            fact = fact.mul_f64(k as f64);
        }
        *o = pre.mul(pw).div(fact.sqrt()).to_f64();
    }
    out
}

/// `mu_k(exp(−b z²/2))`: even `k = 2m`: `(1+b)^{−1/2} (−b/(1+b))^m sqrt(k!) / (2^m m!)`.
fn gaussian_mu(degree: usize, b: f64) -> Vec<f64> {
    let t = ExtFloat::from_f64(b / (1.0 + b));
    let pre = ExtFloat::from_f64(1.0 / (1.0 + b).sqrt());
    let mut mu = vec![0.0; degree + 1];
    let mut fact = ExtFloat::ONE;
    let mut mfact = ExtFloat::ONE;
    let mut tpow = ExtFloat::ONE;
    for (k, slot) in mu.iter_mut().enumerate() {
        if k >= 1 {
            fact = fact.mul_f64(k as f64);
        }
        if k % 2 == 0 {
            let m = k / 2;
            if m >= 1 {
                mfact = mfact.mul_f64(m as f64);
                tpow = tpow.mul(t);
            }
            let v = pre
                .mul(tpow)
                .mul(fact.sqrt())
                .div(mfact)
                .scale2(-(m as i64))
                .to_f64();
            *slot = alt(m) * v;
        }
    }
    mu
}

/// `mu_k(sqrt(q) z Φ(sqrt(q) z))`, derived from the x-identity applied to
/// `Φ(sqrt(q) z) = (1 + erf(sqrt(q/2) z))/2`: `mu_0 = q / sqrt(2π(1+q))`, `mu_1 = sqrt(q)/2`,
/// odd `k ≥ 3`: 0, and for `k = 2m ≥ 2` (the two erf terms combined in closed form, no
/// cancellation):
/// `mu_{2m} = mu_0 (−1)^{m−1} r^{m−1} sqrt((2m)!) / m! · (2m + q) / (2 (1+q) (2m−1))`,
/// `r = q / (2 (1+q))`.
fn gelu_mu(degree: usize, q: f64) -> Vec<f64> {
    let sq = q.sqrt();
    let mu0 = FRAC_1_SQRT_2PI * sq * (q / (1.0 + q)).sqrt();
    let r = ExtFloat::from_f64(q / (2.0 * (1.0 + q)));
    let mut mu = vec![0.0; degree + 1];
    mu[0] = mu0;
    if degree >= 1 {
        mu[1] = 0.5 * sq;
    }
    let base = ExtFloat::from_f64(mu0);
    let mut fact = ExtFloat::ONE; // k!
    let mut mfact = ExtFloat::ONE; // m!
    let mut rpow = ExtFloat::ONE; // r^{m-1}
    for (k, slot) in mu.iter_mut().enumerate().skip(1) {
        fact = fact.mul_f64(k as f64);
        if k % 2 == 0 {
            let m = k / 2;
            mfact = mfact.mul_f64(m as f64);
            if m >= 2 {
                rpow = rpow.mul(r);
            }
            let mf = m as f64;
            let tail = (2.0 * mf + q) / (2.0 * (1.0 + q) * (2.0 * mf - 1.0));
            let v = base
                .mul(rpow)
                .mul(fact.sqrt())
                .div(mfact)
                .mul_f64(tail)
                .to_f64();
            *slot = alt(m - 1) * v;
        }
    }
    mu
}

/// `k!` for `k = 0..=n` in extended range.
fn factorials(n: usize) -> Vec<ExtFloat> {
    let mut f = Vec::with_capacity(n + 1);
    let mut acc = ExtFloat::ONE;
    f.push(acc);
    for k in 1..=n {
        acc = acc.mul_f64(k as f64);
        f.push(acc);
    }
    f
}

/// Full Hermite expansion (`n + 1` entries) of `(sqrt(q) z)^n`:
/// `mu_k = q^{n/2} n! / (sqrt(k!) 2^j j!)`, `j = (n − k)/2`, `k ≡ n (mod 2)`.
fn monomial_full(n: usize, q: f64) -> Vec<f64> {
    let fact = factorials(n);
    let qpow = ExtFloat::from_f64(q.sqrt()).powi(n as u64);
    let mut mu = vec![0.0; n + 1];
    for j in 0..=n / 2 {
        let k = n - 2 * j;
        mu[k] = qpow
            .mul(fact[n])
            .div(fact[k].sqrt())
            .div(fact[j])
            .scale2(-(j as i64))
            .to_f64();
    }
    mu
}

/// Full Hermite expansion (`n + 1` entries) of `h_n(sqrt(q) z)`:
/// `mu_{n−2j} = γ^{n−2j} (q−1)^j sqrt(n!) / (j! 2^j sqrt((n−2j)!))`, `γ = sqrt(q)`.
fn hermite_full(n: usize, q: f64) -> Vec<f64> {
    let mut mu = vec![0.0; n + 1];
    if q == 1.0 {
        mu[n] = 1.0;
        return mu;
    }
    let fact = factorials(n);
    let g = ExtFloat::from_f64(q.sqrt());
    let d = ExtFloat::from_f64(q - 1.0);
    let sqrt_nfact = fact[n].sqrt();
    for j in 0..=n / 2 {
        let k = n - 2 * j;
        mu[k] = g
            .powi(k as u64)
            .mul(d.powi(j as u64))
            .mul(sqrt_nfact)
            .div(fact[j])
            .div(fact[k].sqrt())
            .scale2(-(j as i64))
            .to_f64();
    }
    mu
}

/// Multiplies a full expansion by `c z` (length grows by one).
fn times_cz(v: &[f64], c: f64) -> Vec<f64> {
    let n = v.len();
    let mut out = vec![0.0; n + 1];
    for k in 0..=n {
        let lower = if k >= 1 {
            (k as f64).sqrt() * v[k - 1]
        } else {
            0.0
        };
        let upper = if k + 1 < n {
            ((k + 1) as f64).sqrt() * v[k + 1]
        } else {
            0.0
        };
        out[k] = c * (lower + upper);
    }
    out
}

/// Full expansion of `Σ c_i (sqrt(q) z)^i` by Horner's scheme in the Hermite basis; also
/// returns the same scheme run on `|c_i|` (an upper bound on the magnitudes involved).
fn polynomial_full(coeffs: &[f64], q: f64) -> (Vec<f64>, Vec<f64>) {
    let sq = q.sqrt();
    let n = coeffs.len() - 1;
    let mut v = vec![coeffs[n]];
    let mut va = vec![coeffs[n].abs()];
    for i in (0..n).rev() {
        v = times_cz(&v, sq);
        v[0] += coeffs[i];
        va = times_cz(&va, sq);
        va[0] += coeffs[i].abs();
    }
    (v, va)
}

fn sum_sq(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum()
}

/// Copies `v` into a vector of length `degree + 1` (zero padded or truncated).
fn fit_len(v: &[f64], degree: usize) -> Vec<f64> {
    let mut out = vec![0.0; degree + 1];
    let n = v.len().min(degree + 1);
    out[..n].copy_from_slice(&v[..n]);
    out
}

/// Round-off estimate for coefficients from `O(k)` products: `ε (8 + k) |mu_k|`, maximized.
fn product_error(mu: &[f64]) -> f64 {
    mu.iter()
        .enumerate()
        .map(|(k, m)| f64::EPSILON * (8.0 + k as f64) * m.abs())
        .fold(0.0, f64::max)
}

/// `E[Φ(cZ)²] + 2c E[Z Φ(cZ) ϕ(cZ)]` with `c² = q`: `1/4 + asin(q/(1+q))/(2π) + q/(π(1+q)sqrt(1+2q))`.
fn gelu_core(q: f64) -> f64 {
    0.25 + (q / (1.0 + q)).asin() / (2.0 * PI) + q / (PI * (1.0 + q) * (1.0 + 2.0 * q).sqrt())
}

impl ClosedForm {
    /// A short name for messages.
    pub(crate) fn name(&self) -> String {
        match self {
            ClosedForm::Relu => "relu".into(),
            ClosedForm::LeakyRelu { slope } => format!("leaky_relu(slope={slope})"),
            ClosedForm::Abs => "abs".into(),
            ClosedForm::Step => "step".into(),
            ClosedForm::Identity => "identity".into(),
            ClosedForm::Erf { scale } => format!("erf(scale={scale})"),
            ClosedForm::Sin { freq } => format!("sin(freq={freq})"),
            ClosedForm::Cos { freq } => format!("cos(freq={freq})"),
            ClosedForm::Exp { scale } => format!("exp(scale={scale})"),
            ClosedForm::Gaussian => "gaussian".into(),
            ClosedForm::GaussianPdf => "gaussian_pdf".into(),
            ClosedForm::Gelu => "gelu".into(),
            ClosedForm::HardTanh => "hardtanh".into(),
            ClosedForm::Relu6 => "relu6".into(),
            ClosedForm::Monomial { n } => format!("monomial(n={n})"),
            ClosedForm::Hermite { n } => format!("hermite(n={n})"),
            ClosedForm::Polynomial { coeffs } => {
                format!("polynomial(degree {})", coeffs.len().saturating_sub(1))
            }
        }
    }

    /// Checks the parameters (→ `InvalidArgument` with what was wrong):
    /// leaky-ReLU slope finite; erf scale and sin frequency finite and nonzero (otherwise
    /// the activation is identically 0); cos frequency and exp scale finite; monomial
    /// `n <= MAX_MONOMIAL_DEGREE`; Hermite `n <= MAX_DEGREE`; polynomial coefficients
    /// non-empty, finite, at most `MAX_MONOMIAL_DEGREE + 1` of them.
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(NtkError::InvalidArgument(msg));
        match self {
            ClosedForm::LeakyRelu { slope } if !slope.is_finite() => {
                bad(format!("leaky_relu slope must be finite, got {slope}"))
            }
            ClosedForm::Erf { scale } if !scale.is_finite() || *scale == 0.0 => bad(format!(
                "erf scale must be finite and nonzero (erf(0 x) is identically 0), got {scale}"
            )),
            ClosedForm::Sin { freq } if !freq.is_finite() || *freq == 0.0 => bad(format!(
                "sin freq must be finite and nonzero (sin(0 x) is identically 0), got {freq}"
            )),
            ClosedForm::Cos { freq } if !freq.is_finite() => {
                bad(format!("cos freq must be finite, got {freq}"))
            }
            ClosedForm::Exp { scale } if !scale.is_finite() => {
                bad(format!("exp scale must be finite, got {scale}"))
            }
            ClosedForm::Monomial { n } if *n > MAX_MONOMIAL_DEGREE => bad(format!(
                "monomial degree n = {n} is too large: at most {MAX_MONOMIAL_DEGREE} is supported"
            )),
            ClosedForm::Hermite { n } if *n > crate::hermite::MAX_DEGREE => bad(format!(
                "hermite degree n = {n} is too large: at most {} is supported",
                crate::hermite::MAX_DEGREE
            )),
            ClosedForm::Polynomial { coeffs } => {
                if coeffs.is_empty() {
                    bad("polynomial coefficients must not be empty (give [c0, c1, ...])".into())
                } else if coeffs.len() > MAX_MONOMIAL_DEGREE + 1 {
                    bad(format!(
                        "polynomial of degree {} is too large: at most {MAX_MONOMIAL_DEGREE}",
                        coeffs.len() - 1
                    ))
                } else if let Some(i) = coeffs.iter().position(|c| !c.is_finite()) {
                    bad(format!(
                        "polynomial coefficient {i} is {}: all coefficients must be finite",
                        coeffs[i]
                    ))
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }

    /// The piecewise-linear representation of hard-tanh / ReLU6.
    pub(crate) fn piecewise(&self) -> Option<PiecewiseLinear> {
        match self {
            ClosedForm::HardTanh => Some(PiecewiseLinear {
                kinks: vec![-1.0, 1.0],
                intercepts: vec![-1.0, 0.0, 1.0],
                slopes: vec![0.0, 1.0, 0.0],
            }),
            ClosedForm::Relu6 => Some(PiecewiseLinear {
                kinks: vec![0.0, 6.0],
                intercepts: vec![0.0, 0.0, 6.0],
                slopes: vec![0.0, 1.0, 0.0],
            }),
            _ => None,
        }
    }

    /// `mu_0..=mu_degree` of `φ(sqrt(q) z)` (formulas of DESIGN.md §1.2; see the module
    /// docs for how `q` enters). `error` is a round-off estimate (`≈ ε (8 + k) |mu_k|`),
    /// `second_moment` is exact ([`second_moment`](Self::second_moment)).
    ///
    /// Errors: invalid parameters (see [`validate`](Self::validate)), `q` not finite and
    /// `> 0`, `degree > MAX_DEGREE` → `InvalidArgument`; coefficients or `E[φ_q²]` beyond
    /// the `f64` range (e.g. `exp(scale x)` with `|scale| sqrt(q) > 13`, or `x^n` with large
    /// `n`) → `InvalidArgument`.
    pub fn coefficients(&self, degree: usize, q: f64) -> Result<HermiteCoefficients> {
        self.validate()?;
        check_degree(degree)?;
        check_q(q)?;
        let sq = q.sqrt();
        let (mu, error) = match self {
            ClosedForm::Relu => {
                let mut mu = relu_mu(degree);
                mu.iter_mut().for_each(|m| *m *= sq);
                (mu, None)
            }
            ClosedForm::LeakyRelu { slope } => {
                let mut mu = relu_mu(degree);
                mu.iter_mut().for_each(|m| *m *= 1.0 - slope);
                if degree >= 1 {
                    mu[1] += slope;
                }
                mu.iter_mut().for_each(|m| *m *= sq);
                (mu, None)
            }
            ClosedForm::Abs => {
                let mut mu = relu_mu(degree);
                mu.iter_mut().for_each(|m| *m *= 2.0);
                if degree >= 1 {
                    mu[1] = 0.0;
                }
                mu.iter_mut().for_each(|m| *m *= sq);
                (mu, None)
            }
            ClosedForm::Step => (step_mu(degree), None),
            ClosedForm::Identity => {
                let mut mu = vec![0.0; degree + 1];
                if degree >= 1 {
                    mu[1] = sq;
                }
                (mu, None)
            }
            ClosedForm::Erf { scale } => (erf_mu(degree, scale * sq), None),
            ClosedForm::Sin { freq } | ClosedForm::Cos { freq } => {
                let a = freq * sq;
                let mut mu = power_over_sqrt_fact(degree, a, ExtFloat::exp_neg_half_square(a));
                let odd = matches!(self, ClosedForm::Sin { .. });
                for (k, m) in mu.iter_mut().enumerate() {
                    if (k % 2 == 1) != odd {
                        *m = 0.0;
                    } else {
                        *m *= alt(k / 2);
                    }
                }
                (mu, None)
            }
            ClosedForm::Exp { scale } => {
                let a = scale * sq;
                (
                    power_over_sqrt_fact(degree, a, ExtFloat::exp_half_square(a)),
                    None,
                )
            }
            ClosedForm::Gaussian => (gaussian_mu(degree, q), None),
            ClosedForm::GaussianPdf => {
                let mut mu = gaussian_mu(degree, q);
                mu.iter_mut().for_each(|m| *m *= FRAC_1_SQRT_2PI);
                (mu, None)
            }
            ClosedForm::Gelu => (gelu_mu(degree, q), None),
            ClosedForm::Monomial { n } => (fit_len(&monomial_full(*n, q), degree), None),
            ClosedForm::Hermite { n } => (fit_len(&hermite_full(*n, q), degree), None),
            ClosedForm::Polynomial { coeffs } => {
                let (v, va) = polynomial_full(coeffs, q);
                let bound = va.iter().fold(0.0, |a: f64, b| a.max(*b));
                let err = f64::EPSILON * (4.0 + 2.0 * coeffs.len() as f64) * bound;
                (fit_len(&v, degree), Some(err))
            }
            ClosedForm::HardTanh | ClosedForm::Relu6 => {
                return match self.piecewise() {
                    Some(pl) => pl.coefficients(degree, q),
                    None => Err(NtkError::InvalidArgument(format!(
                        "no piecewise-linear form for {}",
                        self.name()
                    ))),
                };
            }
        };
        let second_moment = self.second_moment_unchecked(q);
        if mu.iter().any(|m| !m.is_finite()) || !second_moment.is_finite() {
            return Err(NtkError::InvalidArgument(format!(
                "the Hermite coefficients of {} at q = {q} (or E[phi^2] = {second_moment}) exceed \
                 the f64 range; use a smaller scale, degree or q",
                self.name()
            )));
        }
        // Never exactly 0: at least a round-off-sized fraction of the scale of φ_q.
        let floor = f64::EPSILON * 1e-2 * second_moment.sqrt();
        let error = error.unwrap_or_else(|| product_error(&mu)).max(floor);
        Ok(HermiteCoefficients {
            mu,
            error,
            second_moment,
        })
    }

    /// Exact `E[φ(sqrt(q) Z)²]`, e.g. ReLU `q/2`, erf `(2/π) asin(2a²/(1+2a²))`,
    /// sin `(1 − e^{−2a²})/2`, cos `(1 + e^{−2a²})/2`, exp `e^{2a²}` (`a` = parameter·`sqrt(q)`),
    /// Gaussian `1/sqrt(1+2q)`, GELU `q (1/4 + asin(q/(1+q))/(2π) + q/(π(1+q)sqrt(1+2q)))`,
    /// monomial `q^n (2n−1)!!`, Hermite/polynomial the sum of squares of their (finite)
    /// expansion. Returns NaN for invalid parameters or `q` (the checked path is
    /// [`coefficients`](Self::coefficients)); may be `+inf` when it overflows.
    pub fn second_moment(&self, q: f64) -> f64 {
        if self.validate().is_err() || check_q(q).is_err() {
            return f64::NAN;
        }
        self.second_moment_unchecked(q)
    }

    fn second_moment_unchecked(&self, q: f64) -> f64 {
        let sq = q.sqrt();
        match self {
            ClosedForm::Relu => 0.5 * q,
            ClosedForm::LeakyRelu { slope } => 0.5 * q * (1.0 + slope * slope),
            ClosedForm::Abs | ClosedForm::Identity => q,
            ClosedForm::Step => 0.5,
            ClosedForm::Erf { scale } => {
                let a2 = scale * scale * q;
                let ratio = if a2.is_finite() {
                    2.0 * a2 / (1.0 + 2.0 * a2)
                } else {
                    1.0
                };
                (2.0 / PI) * ratio.asin()
            }
            ClosedForm::Sin { freq } => {
                let a = freq * sq;
                -0.5 * (-2.0 * a * a).exp_m1()
            }
            ClosedForm::Cos { freq } => {
                let a = freq * sq;
                0.5 * (1.0 + (-2.0 * a * a).exp())
            }
            ClosedForm::Exp { scale } => {
                let a = scale * sq;
                (2.0 * a * a).exp()
            }
            ClosedForm::Gaussian => 1.0 / (1.0 + 2.0 * q).sqrt(),
            ClosedForm::GaussianPdf => 1.0 / ((1.0 + 2.0 * q).sqrt() * 2.0 * PI),
            ClosedForm::Gelu => q * gelu_core(q),
            ClosedForm::HardTanh | ClosedForm::Relu6 => match self.piecewise() {
                Some(pl) => pl.second_moment(q),
                None => f64::NAN,
            },
            ClosedForm::Monomial { n } => {
                // q^n (2n-1)!!
                let mut acc = ExtFloat::from_f64(q).powi(*n as u64);
                for i in 1..=*n {
                    acc = acc.mul_f64((2 * i - 1) as f64);
                }
                acc.to_f64()
            }
            ClosedForm::Hermite { n } => sum_sq(&hermite_full(*n, q)),
            ClosedForm::Polynomial { coeffs } => sum_sq(&polynomial_full(coeffs, q).0),
        }
    }

    /// Exact `E[φ'(sqrt(q) Z)²]` (derivative with respect to `φ`'s own argument; note
    /// `Σ_k k mu_k(φ_q)² = q · E[φ'(sqrt(q) Z)²]`).
    ///
    /// Errors: `Domain` for the step function (its derivative is a Dirac delta);
    /// `InvalidArgument` for invalid parameters or `q`, or a value beyond the `f64` range.
    pub fn derivative_second_moment(&self, q: f64) -> Result<f64> {
        self.validate()?;
        check_q(q)?;
        let sq = q.sqrt();
        let v =
            match self {
                ClosedForm::Relu => 0.5,
                ClosedForm::LeakyRelu { slope } => 0.5 * (1.0 + slope * slope),
                ClosedForm::Abs | ClosedForm::Identity => 1.0,
                ClosedForm::Step => return Err(NtkError::Domain(
                    "the step function's derivative is a Dirac delta, so E[phi'^2] and the NTK \
                     are infinite; only the NNGP exists for the step activation"
                        .into(),
                )),
                ClosedForm::Erf { scale } => {
                    // (4 s²/π) / sqrt(1 + 4 s² q), written to avoid overflow of s²
                    let s = scale.abs();
                    (4.0 / PI) * s / (1.0 / (s * s) + 4.0 * q).sqrt()
                }
                ClosedForm::Sin { freq } => {
                    let a = freq * sq;
                    freq * freq * 0.5 * (1.0 + (-2.0 * a * a).exp())
                }
                ClosedForm::Cos { freq } => {
                    let a = freq * sq;
                    -freq * freq * 0.5 * (-2.0 * a * a).exp_m1()
                }
                ClosedForm::Exp { scale } => {
                    let a = scale * sq;
                    scale * scale * (2.0 * a * a).exp()
                }
                ClosedForm::Gaussian => q / (1.0 + 2.0 * q).powf(1.5),
                ClosedForm::GaussianPdf => q / ((1.0 + 2.0 * q).powf(1.5) * 2.0 * PI),
                ClosedForm::Gelu => gelu_core(q) + q / (2.0 * PI * (1.0 + 2.0 * q).powf(1.5)),
                ClosedForm::HardTanh | ClosedForm::Relu6 => match self.piecewise() {
                    Some(pl) => pl.derivative_second_moment(q)?,
                    None => f64::NAN,
                },
                ClosedForm::Monomial { n } => {
                    if *n == 0 {
                        0.0
                    } else {
                        // n² q^{n-1} (2n-3)!!
                        let mut acc = ExtFloat::from_f64(q).powi((*n - 1) as u64);
                        for i in 1..*n {
                            acc = acc.mul_f64((2 * i - 1) as f64);
                        }
                        acc.mul_f64((*n * *n) as f64).to_f64()
                    }
                }
                ClosedForm::Hermite { n } => {
                    if *n == 0 {
                        0.0
                    } else {
                        *n as f64 * sum_sq(&hermite_full(*n - 1, q))
                    }
                }
                ClosedForm::Polynomial { coeffs } => {
                    if coeffs.len() == 1 {
                        0.0
                    } else {
                        let d: Vec<f64> = coeffs
                            .iter()
                            .enumerate()
                            .skip(1)
                            .map(|(i, c)| i as f64 * c)
                            .collect();
                        sum_sq(&polynomial_full(&d, q).0)
                    }
                }
            };
        if !v.is_finite() {
            return Err(NtkError::InvalidArgument(format!(
                "E[phi'^2] of {} at q = {q} exceeds the f64 range; use a smaller scale or q",
                self.name()
            )));
        }
        Ok(v)
    }

    /// `φ(x)`. Parameters are not validated here (invalid ones give NaN or meaningless
    /// values, never a panic).
    pub fn eval(&self, x: f64) -> f64 {
        if x.is_nan() {
            return f64::NAN;
        }
        match self {
            ClosedForm::Relu => {
                if x > 0.0 {
                    x
                } else {
                    0.0
                }
            }
            ClosedForm::LeakyRelu { slope } => {
                if x > 0.0 {
                    x
                } else {
                    slope * x
                }
            }
            ClosedForm::Abs => x.abs(),
            ClosedForm::Step => {
                if x > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            ClosedForm::Identity => x,
            ClosedForm::Erf { scale } => libm::erf(scale * x),
            ClosedForm::Sin { freq } => (freq * x).sin(),
            ClosedForm::Cos { freq } => (freq * x).cos(),
            ClosedForm::Exp { scale } => (scale * x).exp(),
            ClosedForm::Gaussian => (-0.5 * x * x).exp(),
            ClosedForm::GaussianPdf => FRAC_1_SQRT_2PI * (-0.5 * x * x).exp(),
            ClosedForm::Gelu => {
                if x.is_infinite() {
                    return if x > 0.0 { x } else { 0.0 };
                }
                x * 0.5 * libm::erfc(-x * std::f64::consts::FRAC_1_SQRT_2)
            }
            ClosedForm::HardTanh => x.clamp(-1.0, 1.0),
            ClosedForm::Relu6 => x.clamp(0.0, 6.0),
            ClosedForm::Monomial { n } => x.powi(*n as i32),
            ClosedForm::Hermite { n } => {
                if *n > crate::hermite::MAX_DEGREE {
                    return f64::NAN;
                }
                let mut h = vec![0.0; n + 1];
                normalized_hermite(x, &mut h);
                h[*n]
            }
            ClosedForm::Polynomial { coeffs } => {
                coeffs.iter().rev().fold(0.0, |acc, c| acc * x + c)
            }
        }
    }

    /// `φ'(x)`; at a kink the right derivative (ReLU at 0: 1; hard-tanh at −1: 1, at 1: 0;
    /// step: 0 everywhere, its delta is not representable).
    pub fn eval_derivative(&self, x: f64) -> f64 {
        if x.is_nan() {
            return f64::NAN;
        }
        match self {
            ClosedForm::Relu => {
                if x >= 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            ClosedForm::LeakyRelu { slope } => {
                if x >= 0.0 {
                    1.0
                } else {
                    *slope
                }
            }
            ClosedForm::Abs => {
                if x >= 0.0 {
                    1.0
                } else {
                    -1.0
                }
            }
            ClosedForm::Step => 0.0,
            ClosedForm::Identity => 1.0,
            ClosedForm::Erf { scale } => {
                let t = scale * x;
                FRAC_2_SQRT_PI * scale * (-t * t).exp()
            }
            ClosedForm::Sin { freq } => freq * (freq * x).cos(),
            ClosedForm::Cos { freq } => -freq * (freq * x).sin(),
            ClosedForm::Exp { scale } => scale * (scale * x).exp(),
            ClosedForm::Gaussian => {
                if x.is_infinite() {
                    return 0.0;
                }
                -x * (-0.5 * x * x).exp()
            }
            ClosedForm::GaussianPdf => {
                if x.is_infinite() {
                    return 0.0;
                }
                -x * FRAC_1_SQRT_2PI * (-0.5 * x * x).exp()
            }
            ClosedForm::Gelu => {
                if x.is_infinite() {
                    return if x > 0.0 { 1.0 } else { 0.0 };
                }
                0.5 * libm::erfc(-x * std::f64::consts::FRAC_1_SQRT_2)
                    + x * FRAC_1_SQRT_2PI * (-0.5 * x * x).exp()
            }
            ClosedForm::HardTanh => {
                if (-1.0..1.0).contains(&x) {
                    1.0
                } else {
                    0.0
                }
            }
            ClosedForm::Relu6 => {
                if (0.0..6.0).contains(&x) {
                    1.0
                } else {
                    0.0
                }
            }
            ClosedForm::Monomial { n } => {
                if *n == 0 {
                    0.0
                } else {
                    *n as f64 * x.powi(*n as i32 - 1)
                }
            }
            ClosedForm::Hermite { n } => {
                if *n == 0 {
                    return 0.0;
                }
                if *n > crate::hermite::MAX_DEGREE {
                    return f64::NAN;
                }
                let mut h = vec![0.0; *n];
                normalized_hermite(x, &mut h);
                (*n as f64).sqrt() * h[n - 1]
            }
            ClosedForm::Polynomial { coeffs } => coeffs
                .iter()
                .enumerate()
                .skip(1)
                .rev()
                .fold(0.0, |acc, (i, c)| acc * x + i as f64 * c),
        }
    }

    /// Points (in `φ`'s own variable) where `φ` or its derivative is not smooth:
    /// ReLU, leaky ReLU, abs, step `[0]`; hard-tanh `[−1, 1]`; ReLU6 `[0, 6]`; none otherwise.
    pub fn kinks(&self) -> Vec<f64> {
        match self {
            ClosedForm::Relu
            | ClosedForm::LeakyRelu { .. }
            | ClosedForm::Abs
            | ClosedForm::Step => {
                vec![0.0]
            }
            ClosedForm::HardTanh => vec![-1.0, 1.0],
            ClosedForm::Relu6 => vec![0.0, 6.0],
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop, clippy::excessive_precision)]
mod tests {
    use super::*;
    use crate::hermite::{derivative_coefficients, times_x_coefficients};
    use crate::quadrature::reference_coefficients;

    /// Independent reference: fine composite Gauss–Legendre against the Gaussian (split at
    /// the kinks), φ from `eval`, h_k from the plain normalized recurrence.
    fn reference(f: &ClosedForm, degree: usize, q: f64) -> Vec<f64> {
        let sq = q.sqrt();
        let kz: Vec<f64> = f.kinks().iter().map(|t| t / sq).collect();
        reference_coefficients(|x| f.eval(x), &kz, degree, sq).0
    }

    fn all_forms() -> Vec<ClosedForm> {
        vec![
            ClosedForm::Relu,
            ClosedForm::LeakyRelu { slope: 0.1 },
            ClosedForm::LeakyRelu { slope: -0.7 },
            ClosedForm::Abs,
            ClosedForm::Step,
            ClosedForm::Identity,
            ClosedForm::Erf { scale: 1.0 },
            ClosedForm::Erf { scale: -2.3 },
            ClosedForm::Sin { freq: 1.0 },
            ClosedForm::Sin { freq: 2.5 },
            ClosedForm::Cos { freq: 1.0 },
            ClosedForm::Cos { freq: -0.6 },
            ClosedForm::Exp { scale: 1.0 },
            ClosedForm::Exp { scale: -0.4 },
            ClosedForm::Gaussian,
            ClosedForm::GaussianPdf,
            ClosedForm::Gelu,
            ClosedForm::HardTanh,
            ClosedForm::Relu6,
            ClosedForm::Monomial { n: 0 },
            ClosedForm::Monomial { n: 5 },
            ClosedForm::Monomial { n: 8 },
            ClosedForm::Hermite { n: 0 },
            ClosedForm::Hermite { n: 7 },
            ClosedForm::Hermite { n: 12 },
            ClosedForm::Polynomial {
                coeffs: vec![0.3, -1.0, 0.5, 0.0, 0.25, -0.125],
            },
        ]
    }

    #[test]
    fn every_closed_form_matches_quadrature_at_low_degree() {
        let degree = 30;
        for f in all_forms() {
            for &q in &[1.0, 0.3, 2.7] {
                let c = f.coefficients(degree, q).unwrap();
                let r = reference(&f, degree, q);
                let scale = r.iter().fold(1.0f64, |a, b| a.max(b.abs()));
                for k in 0..=degree {
                    assert!(
                        (c.mu[k] - r[k]).abs() <= 1e-14 * scale,
                        "{f:?} q={q} k={k}: {} vs {}",
                        c.mu[k],
                        r[k]
                    );
                }
                assert!(
                    c.error > 0.0 && c.error < 1e-13 * scale,
                    "{f:?} error {}",
                    c.error
                );
            }
        }
    }

    #[test]
    fn relu_known_values_and_identities() {
        let pi = std::f64::consts::PI;
        let c = ClosedForm::Relu.coefficients(10, 1.0).unwrap();
        assert!((c.mu[0] - 1.0 / (2.0 * pi).sqrt()).abs() < 1e-17);
        assert_eq!(c.mu[1], 0.5);
        assert!((c.mu[2] - 1.0 / (2.0 * pi.sqrt())).abs() < 1e-17);
        assert!(c.mu[3] == 0.0 && c.mu[5] == 0.0);
        // step = derivative of relu (k >= 1)
        let relu = ClosedForm::Relu.coefficients(400, 1.0).unwrap().mu;
        let step = ClosedForm::Step.coefficients(399, 1.0).unwrap().mu;
        let d = derivative_coefficients(&relu);
        for k in 1..400 {
            assert!(
                (step[k] - d[k]).abs() <= 1e-15 * d[k].abs().max(1e-3),
                "k={k}"
            );
        }
        // abs = 2 relu - x ; leaky = slope x + (1 - slope) relu
        for &q in &[1.0, 3.3] {
            let relu = ClosedForm::Relu.coefficients(50, q).unwrap().mu;
            let abs = ClosedForm::Abs.coefficients(50, q).unwrap().mu;
            let leaky = ClosedForm::LeakyRelu { slope: 0.2 }
                .coefficients(50, q)
                .unwrap()
                .mu;
            for k in 0..=50 {
                let x = if k == 1 { q.sqrt() } else { 0.0 };
                assert!((abs[k] - (2.0 * relu[k] - x)).abs() < 1e-15);
                assert!((leaky[k] - (0.2 * x + 0.8 * relu[k])).abs() < 1e-15);
            }
        }
    }

    #[test]
    fn gelu_matches_x_identity_on_erf() {
        // Phi(sqrt(q) z) = (1 + erf(sqrt(q/2) z))/2 ; gelu_q = sqrt(q) z Phi_q
        for &q in &[1.0, 0.2, 5.0, 100.0] {
            let deg = 300;
            let erf = ClosedForm::Erf {
                scale: std::f64::consts::FRAC_1_SQRT_2,
            }
            .coefficients(deg + 1, q)
            .unwrap()
            .mu;
            let mut phi: Vec<f64> = erf.iter().map(|m| 0.5 * m).collect();
            phi[0] += 0.5;
            let xphi: Vec<f64> = times_x_coefficients(&phi)
                .iter()
                .map(|m| m * q.sqrt())
                .collect();
            let g = ClosedForm::Gelu.coefficients(deg, q).unwrap().mu;
            for k in 0..=deg {
                let tol = 1e-15 * (1.0 + q.sqrt()) + 1e-12 * g[k].abs() * (k as f64 + 1.0) / 50.0;
                assert!(
                    (g[k] - xphi[k]).abs() <= tol,
                    "q={q} k={k}: {} vs {}",
                    g[k],
                    xphi[k]
                );
            }
        }
    }

    #[test]
    fn parseval_and_derivative_moments() {
        let smooth = [
            ClosedForm::Erf { scale: 1.0 },
            ClosedForm::Erf { scale: 0.4 },
            ClosedForm::Sin { freq: 1.3 },
            ClosedForm::Cos { freq: 0.8 },
            ClosedForm::Exp { scale: 0.9 },
            ClosedForm::Gaussian,
            ClosedForm::GaussianPdf,
            ClosedForm::Gelu,
            ClosedForm::Identity,
            ClosedForm::Monomial { n: 6 },
            ClosedForm::Hermite { n: 9 },
            ClosedForm::Polynomial {
                coeffs: vec![1.0, 2.0, -0.5, 0.1],
            },
        ];
        for f in smooth {
            for &q in &[1.0, 0.5, 1.8] {
                let c = f.coefficients(600, q).unwrap();
                let s: f64 = c.mu.iter().map(|m| m * m).sum();
                assert!(
                    (s - c.second_moment).abs() <= 1e-14 * c.second_moment.max(1.0),
                    "{f:?} q={q}: {s} vs {}",
                    c.second_moment
                );
                assert_eq!(c.second_moment, f.second_moment(q));
                let d: f64 = c.mu.iter().enumerate().map(|(k, m)| k as f64 * m * m).sum();
                let dsm = f.derivative_second_moment(q).unwrap();
                assert!(
                    (d / q - dsm).abs() <= 1e-13 * dsm.max(1.0),
                    "{f:?} q={q}: {} vs {dsm}",
                    d / q
                );
                // the slack for `error` makes this conservative, but not grossly so
                assert!(c.tail_mass() < 1e-12 * c.second_moment.max(1.0));
            }
        }
        // kinked: the tail is real; check it against the ReLU tail asymptotics
        let c = ClosedForm::Relu.coefficients(2000, 1.0).unwrap();
        let tail = c.second_moment - c.mu.iter().map(|m| m * m).sum::<f64>();
        // sum_{k>K even} (k-3)!!^2/(2π k!) ~ sum (1/(π sqrt(π))) k^{-5/2}... compare with the
        // explicit sum continued by the ratio recurrence to k = 4e6 plus an integral tail.
        let mut m = c.mu[2000];
        let mut extra = 0.0;
        let mut k = 2000usize;
        while k < 4_000_000 {
            let kf = k as f64;
            m *= -(kf - 1.0) / ((kf + 1.0) * (kf + 2.0)).sqrt();
            k += 2;
            extra += m * m;
        }
        extra += (m * m) * (k as f64) / 3.0; // ∫ of the k^{-5/2} tail over even k
        assert!((tail - extra).abs() < 1e-3 * extra, "{tail} vs {extra}");
        assert!(c.tail_mass() >= tail);
        // hardtanh / relu6 / relu / abs / leaky: derivative moments vs closed values
        assert!(
            (ClosedForm::HardTanh.derivative_second_moment(1.0).unwrap()
                - libm::erf(std::f64::consts::FRAC_1_SQRT_2))
            .abs()
                < 1e-15
        );
        assert!(matches!(
            ClosedForm::Step.derivative_second_moment(1.0),
            Err(NtkError::Domain(m)) if m.contains("Dirac")
        ));
    }

    #[test]
    fn high_degree_relu_and_erf_against_ratio_recurrence() {
        let deg = 2000;
        for f in all_forms() {
            let c = f.coefficients(deg, 1.0).unwrap();
            assert!(c.mu.iter().all(|m| m.is_finite()), "{f:?}");
        }
        let c = ClosedForm::Relu.coefficients(deg, 1.0).unwrap().mu;
        // |mu_{k+2}| / |mu_k| = (k-1)/sqrt((k+1)(k+2)), from mu_2 = 1/(2 sqrt(pi))
        let mut r = 1.0 / (2.0 * std::f64::consts::PI.sqrt());
        let mut worst: f64 = 0.0;
        let mut k = 2;
        while k <= deg {
            worst = worst.max(((c[k].abs() - r) / r).abs());
            let kf = k as f64;
            r *= (kf - 1.0) / ((kf + 1.0) * (kf + 2.0)).sqrt();
            k += 2;
        }
        assert!(worst < 1e-12, "relu relative {worst}");
        // erf(a x): mu_{k+2}/mu_k = -r sqrt((k+1)(k+2)) k / ((m+1)(k+2)), k = 2m+1
        for &a in &[1.0f64, 4.0] {
            let c = ClosedForm::Erf { scale: a }
                .coefficients(deg, 1.0)
                .unwrap()
                .mu;
            let s = 1.0 + 2.0 * a * a;
            let rr = a * a / s;
            let mut v = 2.0 / std::f64::consts::PI.sqrt() * a / s.sqrt();
            let mut worst: f64 = 0.0;
            let mut k = 1;
            while k <= deg && v.abs() > 1e-300 {
                worst = worst.max(((c[k] - v) / v).abs());
                let kf = k as f64;
                let m = (k - 1) / 2;
                v *= -rr * ((kf + 1.0) * (kf + 2.0)).sqrt() * kf / ((m as f64 + 1.0) * (kf + 2.0));
                k += 2;
            }
            assert!(worst < 1e-12, "erf a={a} relative {worst}");
        }
    }

    #[test]
    fn extreme_parameters_in_extended_range() {
        // cos(30 x): e^{-450} underflows alone, the coefficients near k = 900 do not.
        let a: f64 = 30.0;
        let c = ClosedForm::Cos { freq: a }
            .coefficients(2000, 1.0)
            .unwrap()
            .mu;
        let mut seen = 0;
        for k in (0..=2000).step_by(2) {
            let log_ref = -0.5 * a * a + k as f64 * a.ln() - 0.5 * libm::lgamma(k as f64 + 1.0);
            if log_ref > -700.0 {
                seen += 1;
                assert!((c[k].abs().ln() - log_ref).abs() < 1e-10, "k={k}");
                assert_eq!(c[k].signum(), alt(k / 2));
            } else if log_ref < -746.0 {
                assert_eq!(c[k], 0.0);
            }
        }
        assert!(seen > 100);
        // exp overflow is an error, not inf
        assert!(ClosedForm::Exp { scale: 40.0 }
            .coefficients(10, 1.0)
            .is_err());
        assert!(ClosedForm::Monomial { n: 2000 }
            .coefficients(10, 1.0)
            .is_err());
        // Hermite at q = 1 is a unit vector; at high n the expansion is finite for q < 1
        let c = ClosedForm::Hermite { n: 40 }
            .coefficients(50, 1.0)
            .unwrap()
            .mu;
        assert!(c
            .iter()
            .enumerate()
            .all(|(k, m)| *m == if k == 40 { 1.0 } else { 0.0 }));
        let c = ClosedForm::Hermite { n: 1500 }
            .coefficients(2000, 0.9)
            .unwrap();
        assert!(c.mu.iter().all(|m| m.is_finite()));
        let s: f64 = c.mu.iter().map(|m| m * m).sum();
        assert!((s - c.second_moment).abs() < 1e-12 * c.second_moment);
    }

    #[test]
    fn monomial_and_polynomial_agree() {
        for &q in &[1.0, 0.6, 2.0] {
            for n in [0usize, 1, 4, 9, 20] {
                let mut coeffs = vec![0.0; n + 1];
                coeffs[n] = 1.0;
                let m = ClosedForm::Monomial { n }.coefficients(25, q).unwrap();
                let p = ClosedForm::Polynomial { coeffs }
                    .coefficients(25, q)
                    .unwrap();
                for k in 0..=25 {
                    assert!(
                        (m.mu[k] - p.mu[k]).abs() <= 1e-14 * m.mu[k].abs().max(1.0),
                        "n={n} q={q} k={k}"
                    );
                }
                assert!((m.second_moment - p.second_moment).abs() <= 1e-14 * m.second_moment);
            }
        }
        // identity = monomial 1
        let i = ClosedForm::Identity.coefficients(5, 2.0).unwrap();
        let m = ClosedForm::Monomial { n: 1 }.coefficients(5, 2.0).unwrap();
        assert_eq!(i.mu, m.mu);
    }

    #[test]
    fn eval_and_derivative_consistent() {
        for f in all_forms() {
            for &x in &[-2.3, -0.7, 0.4, 1.9, 3.1] {
                let h = 1e-6;
                let fd = (f.eval(x + h) - f.eval(x - h)) / (2.0 * h);
                let d = f.eval_derivative(x);
                assert!(
                    (fd - d).abs() < 1e-6 * (1.0 + d.abs()),
                    "{f:?} x={x}: {fd} vs {d}"
                );
            }
        }
        assert_eq!(ClosedForm::Relu.eval_derivative(0.0), 1.0);
        assert_eq!(ClosedForm::HardTanh.eval_derivative(-1.0), 1.0);
        assert_eq!(ClosedForm::HardTanh.eval_derivative(1.0), 0.0);
        assert_eq!(ClosedForm::Relu6.kinks(), vec![0.0, 6.0]);
        assert!(ClosedForm::Gelu.kinks().is_empty());
        assert_eq!(ClosedForm::Step.eval(0.0), 0.0);
    }

    #[test]
    fn validation_errors() {
        let bad = [
            ClosedForm::Erf { scale: 0.0 },
            ClosedForm::Erf { scale: f64::NAN },
            ClosedForm::Sin {
                freq: f64::INFINITY,
            },
            ClosedForm::LeakyRelu { slope: f64::NAN },
            ClosedForm::Monomial { n: 5000 },
            ClosedForm::Polynomial { coeffs: vec![] },
            ClosedForm::Polynomial {
                coeffs: vec![1.0, f64::NAN],
            },
        ];
        for f in bad {
            assert!(
                matches!(f.validate(), Err(NtkError::InvalidArgument(_))),
                "{f:?}"
            );
            assert!(f.coefficients(3, 1.0).is_err());
            assert!(f.second_moment(1.0).is_nan());
            assert!(f.derivative_second_moment(1.0).is_err());
        }
        assert!(ClosedForm::Relu.coefficients(3, 0.0).is_err());
        assert!(ClosedForm::Relu.coefficients(3, f64::NAN).is_err());
        assert!(ClosedForm::Relu.coefficients(100_001, 1.0).is_err());
        assert!(ClosedForm::Relu.second_moment(-1.0).is_nan());
    }

    #[test]
    fn high_degree_values_match_mpmath() {
        // 60-digit mpmath evaluations of the DESIGN.md §1.2 formulas (GELU through the
        // x-identity on erf, hard-tanh/ReLU6 through per-piece integration by parts).
        let cases: Vec<(ClosedForm, f64, usize, f64)> = vec![
            (ClosedForm::Relu, 1.0, 2000, -2.665_524_386_182_500_8e-5),
            (ClosedForm::Relu, 2.7, 1998, 4.385_386_468_598_067e-5),
            (ClosedForm::Step, 1.0, 1999, -1.192_058_744_637_494_6e-3),
            (
                ClosedForm::Erf { scale: 1.0 },
                1.0,
                1999,
                -2.366_542_059_895_099_4e-179,
            ),
            (
                ClosedForm::Erf { scale: 2.3 },
                0.6,
                1501,
                6.162_010_899_087_214_7e-51,
            ),
            (
                ClosedForm::Cos { freq: 1.7 },
                2.0,
                400,
                5.336_414_340_116_010_3e-284,
            ),
            (
                ClosedForm::Cos { freq: 30.0 },
                1.0,
                900,
                1.153_119_454_657_678e-1,
            ),
            (
                ClosedForm::Cos { freq: 30.0 },
                1.0,
                1700,
                8.613_403_079_775_248e-63,
            ),
            (
                ClosedForm::Exp { scale: 1.0 },
                1.0,
                150,
                6.897_640_182_026_902e-132,
            ),
            (
                ClosedForm::Exp { scale: -0.4 },
                3.0,
                99,
                -2.191_139_855_049_828_4e-94,
            ),
            (ClosedForm::Gaussian, 1.0, 2000, 8.814_034_104_477_084e-303),
            (ClosedForm::Gaussian, 0.5, 1250, -7.724_480_278_877_014e-300),
            (ClosedForm::Gelu, 1.0, 2000, -3.519_808_915_066_208_5e-303),
            (ClosedForm::Gelu, 3.0, 1000, -1.079_351_637_517_029_8e-64),
            (ClosedForm::HardTanh, 1.0, 3, -1.975_682_692_544_852_3e-1),
            (ClosedForm::HardTanh, 1.0, 1999, -2.708_616_837_707_687e-5),
            (ClosedForm::Relu6, 4.0, 2, 5.579_220_034_172_119e-1),
            (ClosedForm::Relu6, 4.0, 500, -3.203_058_228_410_763_5e-4),
        ];
        for (f, q, k, expect) in cases {
            let c = f.coefficients(2000, q).unwrap();
            let rel = ((c.mu[k] - expect) / expect).abs();
            assert!(
                rel <= 1e-12,
                "{f:?} q={q} k={k}: {} vs {expect} (rel {rel:e})",
                c.mu[k]
            );
        }
    }
}
