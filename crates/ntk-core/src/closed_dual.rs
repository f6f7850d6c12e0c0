//! Closed-form duals of the built-in activations ([`ClosedForm`]) — the [`Dual`]
//! implementation used by the NTK/NNGP recursion.
//!
//! Notation: `(u, v)` centred Gaussian with variances `q₁, q₂`, covariance `s`,
//! `c = s/√(q₁q₂)`, `θ = arccos c`; at equal variances `q` the dual is `ψ_q(c)`, and
//! `ψ̇_q(c) = ψ_q'(c)/q` (see [`crate::dual`]).
//!
//! | activation | `ψ` (pointwise) | series composition |
//! |---|---|---|
//! | ReLU family `φ = αx + (1−α) relu(x)` (relu `α=0`, leaky, abs `α=−1`) | `√(q₁q₂)[(1−α)²(sin θ + (π−θ)c)/(2π) + αc]`, `ψ̇ = (1+α)²/4 + (1−α)² asin(c)/(2π)` | ODE: `G = (1−c²)^{−1/2}`, `ψ̇∘c = t₁ + (1−α)²/(2π) ∫ G c'`, `ψ∘c = q(t₀ + ∫ (ψ̇∘c) c')` |
//! | step | `(π − θ)/(2π)`, `ψ̇ = 1/(2π√(q₁q₂ − s²))` | `1/4 + asin(c₀)/(2π) + (1/2π)∫ G c'`, `ψ̇∘c = G/(2πq)` |
//! | `erf(a x)` | `(2/π) asin(2a²s/√((1+2a²q₁)(1+2a²q₂)))`, `ψ̇ = (4a²/π)/√((1+2a²q₁)(1+2a²q₂) − 4a⁴s²)` | `G_β = (1−β²c²)^{−1/2}`, `β = 2a²q/(1+2a²q)`: `ψ∘c = (2/π)(asin βc₀ + β∫G_β c')`, `ψ̇∘c = (2β/(πq)) G_β` |
//! | `exp(a x)` | `exp(a²(q₁+q₂)/2 + a²s)`, `ψ̇ = a² ψ` | `e^{a²q(1+c)}` (series exp) |
//! | `sin(a x)`, `cos(a x)` | `e^{−a²(q₁+q₂)/2} sinh(a²s)`, `… cosh(a²s)`; `ψ̇ = a² ×` the other | series sinh/cosh |
//! | Gaussian `e^{−x²/2}` (pdf: `/(2π)`) | `((1+q₁)(1+q₂) − s²)^{−1/2}`, `ψ̇ = s (…)^{−3/2}` | `(1+q)^{−1} G_β`, `β = q/(1+q)`; `ψ̇∘c = q(1+q)^{−3} c G_β³` |
//! | GELU `xΦ(x)` | `s/4 + s asin(r)/(2π) + (q₁q₂ + s²(1/A₁ + 1/A₂ − 1))/(2π√Δ)`, `A_i = 1+q_i`, `Δ = A₁A₂ − s²`, `r = s/√(A₁A₂)`; `ψ̇ = 1/4 + asin(r)/(2π) + s(1/A₁+1/A₂)/(2π√Δ) + s/(2πΔ^{3/2})` | generic (Hermite) |
//! | identity | `s`, `ψ̇ = 1` | exact |
//! | hard-tanh, ReLU6, monomial, Hermite, polynomial | Hermite series (finite for polynomials) | generic (exact for polynomials) |
//!
//! All series routines only add non-negative terms (for `c ≥ 0`), so with naive products
//! (degree `< series::EXACT_LEN`) every coefficient keeps full relative accuracy; the ODE
//! forms cost `O(P log P)` with FFT products for long series.
//!
//! The per-layer evaluators also return `ψ(1) − ψ(c)` and `ψ(1) + ψ(c)` in forms without
//! cancellation (e.g. ReLU: `ψ(1) − ψ(c) = q[(1−c)ψ̇(c) + (1−α)²(θ − sin θ)/(2π)]`), so that
//! the exact kernel stays accurate next to the diagonal.
use std::f64::consts::{FRAC_PI_2, PI};

use crate::closed_form::ClosedForm;
use crate::dual::{
    check_q_positive, compose_hermite, constant_composition, hermite_layer, hermite_psi_general,
    inner_info, Composition, Correlation, Dual, DualValue, HermiteSource, LayerDual,
};
use crate::error::{NtkError, Result};
use crate::hermite::HermiteCoefficients;
use crate::series::{self, Cancel};

const TWO_PI: f64 = 2.0 * PI;

/// How a [`ClosedForm`] is handled.
#[derive(Debug, Clone, Copy)]
enum Family {
    /// `φ = αx + (1−α) relu(x)`.
    ArcCos {
        alpha: f64,
    },
    Step,
    Erf {
        a: f64,
    },
    Exp {
        a: f64,
    },
    Sin {
        a: f64,
    },
    Cos {
        a: f64,
    },
    /// `g · exp(−x²/2)`.
    Gauss {
        g: f64,
    },
    Identity,
    Gelu,
    /// Hermite series (hard-tanh, ReLU6, polynomials).
    Generic,
}

fn family(cf: &ClosedForm) -> Family {
    match cf {
        ClosedForm::Relu => Family::ArcCos { alpha: 0.0 },
        ClosedForm::LeakyRelu { slope } => Family::ArcCos { alpha: *slope },
        ClosedForm::Abs => Family::ArcCos { alpha: -1.0 },
        ClosedForm::Step => Family::Step,
        ClosedForm::Identity => Family::Identity,
        ClosedForm::Erf { scale } => Family::Erf { a: *scale },
        ClosedForm::Sin { freq } => Family::Sin { a: *freq },
        ClosedForm::Cos { freq } => Family::Cos { a: *freq },
        ClosedForm::Exp { scale } => Family::Exp { a: *scale },
        ClosedForm::Gaussian => Family::Gauss { g: 1.0 },
        ClosedForm::GaussianPdf => Family::Gauss { g: 1.0 / TWO_PI },
        ClosedForm::Gelu => Family::Gelu,
        ClosedForm::HardTanh
        | ClosedForm::Relu6
        | ClosedForm::Monomial { .. }
        | ClosedForm::Hermite { .. }
        | ClosedForm::Polynomial { .. } => Family::Generic,
    }
}

/// Short name for messages.
fn cf_name(cf: &ClosedForm) -> String {
    match cf {
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

/// `θ − sin θ` without cancellation for small `θ`.
fn theta_minus_sin(t: f64) -> f64 {
    if t < 0.75 {
        // θ³/3! − θ⁵/5! + θ⁷/7! − …
        let t2 = t * t;
        let mut term = t * t2 / 6.0;
        let mut s = 0.0f64;
        let mut k = 3.0f64;
        while term != 0.0 && k < 60.0 {
            s += term;
            if term.abs() <= 1e-18 * s.abs() {
                break;
            }
            term *= -t2 / ((k + 1.0) * (k + 2.0));
            k += 2.0;
        }
        s
    } else {
        t - t.sin()
    }
}

/// `sin φ − φ cos φ` without cancellation for small `φ`.
fn sin_minus_phi_cos(ph: f64) -> f64 {
    if ph < 0.75 {
        // Σ_{k≥1} (−1)^{k+1} 2k φ^{2k+1}/(2k+1)!
        let p2 = ph * ph;
        let mut pw = ph * p2 / 6.0; // φ³/3!
        let mut s = 0.0;
        let mut k = 1.0f64;
        loop {
            let term = 2.0 * k * pw;
            s += term;
            if term.abs() <= 1e-18 * s.abs() || k > 30.0 {
                break;
            }
            pw *= -p2 / ((2.0 * k + 2.0) * (2.0 * k + 3.0));
            k += 1.0;
        }
        s
    } else {
        ph.sin() - ph * ph.cos()
    }
}

/// `arcsin x` for `x ∈ [0, 1]` given `1 − x` accurately.
fn asin_with_complement(x: f64, one_minus: f64) -> f64 {
    if x <= 0.5 {
        x.asin()
    } else {
        FRAC_PI_2 - 2.0 * (0.5 * one_minus).sqrt().min(1.0).asin()
    }
}

/// `θ = arccos c`, `π − θ`, `sin θ` from a [`Correlation`] (all accurate near `c = ±1`).
fn angles(c: &Correlation) -> (f64, f64, f64) {
    let sin = (c.one_minus * c.one_plus).max(0.0).sqrt();
    let half_m = 2.0 * (0.5 * c.one_minus).sqrt().min(1.0).asin(); // θ
    let half_p = 2.0 * (0.5 * c.one_plus).sqrt().min(1.0).asin(); // π − θ
    if c.c >= 0.0 {
        (half_m, PI - half_m, sin)
    } else {
        (PI - half_p, half_p, sin)
    }
}

// ------------------------------------------------------------------------------------------
// pointwise, equal variances
// ------------------------------------------------------------------------------------------

/// ReLU family at unit scale times `q` (homogeneous of degree 1).
fn arccos_value(alpha: f64, q: f64, c: &Correlation) -> DualValue {
    let k2 = (1.0 - alpha) * (1.0 - alpha);
    let p2 = (1.0 + alpha) * (1.0 + alpha);
    let (theta, pmt, sin) = angles(c);
    let asin_c = c.asin();
    let psi_dot = p2 / 4.0 + k2 * asin_c / TWO_PI;
    let (psi1, gap1, plus1) = if c.c >= 0.0 {
        let psi1 = k2 * (sin + c.c * asin_c) / TWO_PI + p2 * c.c / 4.0;
        let gap1 = c.one_minus * psi_dot + k2 * theta_minus_sin(theta) / TWO_PI;
        let plus1 = 0.5 * (1.0 + alpha * alpha) + psi1;
        (psi1, gap1, plus1)
    } else {
        let x = -c.c;
        // f = sin φ − φ x with φ = π − θ = arccos x
        let f = if pmt < 0.75 {
            sin_minus_phi_cos(pmt) + pmt * (pmt.cos() - x)
        } else {
            sin - pmt * x
        };
        let psi1 = k2 * f / TWO_PI + alpha * c.c;
        let psi_dot_abs = p2 / 4.0 - k2 * asin_c / TWO_PI;
        // ψ(1) − ψ(c) = [ψ(1) − ψ(|c|)] + |c|(1+α)²/2
        let gap1 = c.one_plus * psi_dot_abs + k2 * theta_minus_sin(pmt) / TWO_PI + x * p2 / 2.0;
        let plus1 = if alpha > 0.0 {
            k2 / 2.0 + alpha * c.one_plus + k2 * f / TWO_PI
        } else {
            0.5 * (1.0 + alpha * alpha) - alpha * x + k2 * f / TWO_PI
        };
        (psi1, gap1, plus1)
    };
    DualValue {
        psi: q * psi1,
        psi_dot,
        psi_gap: q * gap1,
        psi_plus: q * plus1,
        error: 0.0,
        error_dot: 0.0,
    }
}

fn step_value(q: f64, c: &Correlation) -> DualValue {
    let (theta, pmt, sin) = angles(c);
    DualValue {
        psi: pmt / TWO_PI,
        psi_dot: if sin > 0.0 {
            1.0 / (TWO_PI * q * sin)
        } else {
            f64::INFINITY
        },
        psi_gap: theta / TWO_PI,
        psi_plus: (PI + pmt) / TWO_PI,
        error: 0.0,
        error_dot: 0.0,
    }
}

fn erf_value(a: f64, q: f64, c: &Correlation) -> DualValue {
    let x = 2.0 * a * a * q;
    let omb = 1.0 / (1.0 + x);
    let beta = x * omb;
    let one_m_bc = omb + beta * c.one_minus; // 1 − βc
    let one_p_bc = omb + beta * c.one_plus; // 1 + βc
    let root = (one_m_bc * one_p_bc).sqrt(); // √(1 − β²c²)
    let sqrt_1mb2 = (omb * (1.0 + beta)).sqrt(); // √(1 − β²)
    let asin_beta = asin_with_complement(beta, omb);
    let psi = (2.0 / PI) * (beta * c.c).asin();
    let psi_dot = (2.0 / PI) * beta / q / root;
    // asin β − asin(β y) for y ∈ [0, 1] with 1 − y = om, 1 + y = op
    let diff = |y: f64, om: f64, op: f64, r: f64| -> f64 {
        let xarg = beta * om * op / (r + y * sqrt_1mb2);
        xarg.min(1.0).asin()
    };
    let (gap, plus) = if c.c >= 0.0 {
        let g = diff(c.c, c.one_minus, c.one_plus, root);
        (g, asin_beta + (beta * c.c).asin())
    } else {
        let y = -c.c;
        let pl = diff(y, c.one_plus, c.one_minus, root);
        (asin_beta + (beta * y).asin(), pl)
    };
    DualValue {
        psi,
        psi_dot,
        psi_gap: (2.0 / PI) * gap,
        psi_plus: (2.0 / PI) * plus,
        error: 0.0,
        error_dot: 0.0,
    }
}

fn exp_value(a: f64, q: f64, c: &Correlation) -> DualValue {
    let x = a * a * q;
    let psi = (x * c.one_plus).exp();
    let e2 = (2.0 * x).exp();
    DualValue {
        psi,
        psi_dot: a * a * psi,
        psi_gap: -e2 * (-x * c.one_minus).exp_m1(),
        psi_plus: e2 + psi,
        error: 0.0,
        error_dot: 0.0,
    }
}

/// `e^{−x} sinh(x c)` and `e^{−x} cosh(x c)` and the complements, overflow-free.
fn sinh_cosh_parts(x: f64, c: &Correlation) -> (f64, f64, f64, f64, f64, f64) {
    let em = (-x * c.one_minus).exp();
    let ep = (-x * c.one_plus).exp();
    let sh = if c.c >= 0.0 {
        em * (-(-2.0 * x * c.c).exp_m1()) / 2.0
    } else {
        -(ep * (-(2.0 * x * c.c).exp_m1()) / 2.0)
    };
    let ch = 0.5 * (em + ep);
    let omm = -(-x * c.one_minus).exp_m1(); // 1 − e^{−x(1−c)}
    let omp = -(-x * c.one_plus).exp_m1(); // 1 − e^{−x(1+c)}
    (sh, ch, em, ep, omm, omp)
}

fn sin_value(a: f64, q: f64, c: &Correlation) -> DualValue {
    let x = a * a * q;
    let (sh, ch, em, ep, omm, omp) = sinh_cosh_parts(x, c);
    DualValue {
        psi: sh,
        psi_dot: a * a * ch,
        psi_gap: (1.0 + ep) * omm / 2.0,
        psi_plus: omp * (1.0 + em) / 2.0,
        error: 0.0,
        error_dot: 0.0,
    }
}

fn cos_value(a: f64, q: f64, c: &Correlation) -> DualValue {
    let x = a * a * q;
    let (sh, ch, em, ep, omm, omp) = sinh_cosh_parts(x, c);
    DualValue {
        psi: ch,
        psi_dot: a * a * sh,
        psi_gap: omp * omm / 2.0,
        psi_plus: (1.0 + ep) * (1.0 + em) / 2.0,
        error: 0.0,
        error_dot: 0.0,
    }
}

fn gauss_value(g: f64, q: f64, c: &Correlation) -> DualValue {
    let omb = 1.0 / (1.0 + q);
    let beta = q * omb;
    let u = (omb + beta * c.one_minus) * (omb + beta * c.one_plus); // 1 − β²c²
    let a0 = omb * (1.0 + beta); // 1 − β²
    let su = u.sqrt();
    let sa = a0.sqrt();
    let psi = g * omb / su;
    let psi_dot = g * c.c * q * omb * omb * omb / (u * su);
    let gap = g * omb * (beta * beta * c.one_minus * c.one_plus) / (sa * su * (sa + su));
    let plus = g * omb * (1.0 / sa + 1.0 / su);
    DualValue {
        psi,
        psi_dot,
        psi_gap: gap,
        psi_plus: plus,
        error: 0.0,
        error_dot: 0.0,
    }
}

/// GELU `E[uΦ(u) vΦ(v)]` and `E[φ'(u)φ'(v)]` (derived with Stein's lemma; see module docs).
fn gelu_general(s: f64, q1: f64, q2: f64) -> (f64, f64) {
    let a1 = 1.0 + q1;
    let a2 = 1.0 + q2;
    let sa = (a1 * a2).sqrt();
    let r = (s / sa).clamp(-1.0, 1.0);
    let delta = a1 * a2 * ((1.0 - r) * (1.0 + r));
    let sd = delta.sqrt();
    let asr = r.asin();
    let inv = 1.0 / a1 + 1.0 / a2;
    let psi = s / 4.0 + s * asr / TWO_PI + (q1 * q2 + s * s * (inv - 1.0)) / (TWO_PI * sd);
    let psi_dot = 0.25 + asr / TWO_PI + s * inv / (TWO_PI * sd) + s / (TWO_PI * delta * sd);
    (psi, psi_dot)
}

fn gelu_value(q: f64, c: &Correlation) -> DualValue {
    let (psi, psi_dot) = gelu_general(q * c.c, q, q);
    let (one, _) = gelu_general(q, q, q);
    DualValue {
        psi,
        psi_dot,
        psi_gap: (one - psi).max(0.0),
        psi_plus: one + psi,
        error: 0.0,
        error_dot: 0.0,
    }
}

/// Prepared closed-form evaluator.
#[derive(Debug, Clone)]
struct ClosedLayer {
    fam: Family,
    q: f64,
}

impl LayerDual for ClosedLayer {
    fn q(&self) -> f64 {
        self.q
    }
    fn eval(&self, c: Correlation) -> Result<DualValue> {
        let q = self.q;
        Ok(match self.fam {
            Family::ArcCos { alpha } => arccos_value(alpha, q, &c),
            Family::Step => step_value(q, &c),
            Family::Erf { a } => erf_value(a, q, &c),
            Family::Exp { a } => exp_value(a, q, &c),
            Family::Sin { a } => sin_value(a, q, &c),
            Family::Cos { a } => cos_value(a, q, &c),
            Family::Gauss { g } => gauss_value(g, q, &c),
            Family::Identity => DualValue {
                psi: q * c.c,
                psi_dot: 1.0,
                psi_gap: q * c.one_minus,
                psi_plus: q * c.one_plus,
                error: 0.0,
                error_dot: 0.0,
            },
            Family::Gelu => gelu_value(q, &c),
            Family::Generic => {
                return Err(NtkError::InvalidArgument(
                    "internal: generic activation has no closed-form layer".into(),
                ))
            }
        })
    }
}

// ------------------------------------------------------------------------------------------
// series compositions
// ------------------------------------------------------------------------------------------

/// `∫_0^ρ f c'` scaled by `scale`, plus `constant`, `n` coefficients.
fn integral_of_product(f: &[f64], dc: &[f64], constant: f64, scale: f64, n: usize) -> Vec<f64> {
    let m = n.saturating_sub(1);
    let prod = series::mul_nonneg(f, dc, m);
    let mut out = series::integrate(&prod, 0.0, n);
    for v in out.iter_mut() {
        *v *= scale;
    }
    if n > 0 {
        out[0] = constant;
    }
    out
}

fn compose_arccos(
    alpha: f64,
    q: f64,
    c: &[f64],
    derivative: bool,
    cancel: Cancel,
) -> Result<(Vec<f64>, Option<Vec<f64>>)> {
    let n = c.len();
    let c0 = c[0];
    let corr0 = Correlation::new(c0)?;
    let k2 = (1.0 - alpha) * (1.0 - alpha);
    let p2 = (1.0 + alpha) * (1.0 + alpha);
    let (_, _, sin0) = angles(&corr0);
    let asin0 = corr0.asin();
    let t0 = k2 * (sin0 + c0 * asin0) / TWO_PI + p2 * c0 / 4.0;
    let t1 = p2 / 4.0 + k2 * asin0 / TWO_PI;
    let dc = series::derivative(c);
    let d = if k2 > 0.0 && n > 1 {
        let g = series::rsqrt_one_minus_sq(c, 1.0, 0.0, n - 1, cancel)?;
        series::check(cancel)?;
        integral_of_product(&g, &dc, t1, k2 / TWO_PI, n)
    } else {
        let mut d = vec![0.0; n];
        d[0] = t1;
        d
    };
    series::check(cancel)?;
    let psi = integral_of_product(&d[..n - 1], &dc, q * t0, q, n);
    Ok((psi, derivative.then_some(d)))
}

fn compose_step(
    q: f64,
    c: &[f64],
    derivative: bool,
    cancel: Cancel,
) -> Result<(Vec<f64>, Option<Vec<f64>>)> {
    let n = c.len();
    let corr0 = Correlation::new(c[0])?;
    let v0 = 0.25 + corr0.asin() / TWO_PI;
    let glen = if derivative { n } else { n - 1 };
    let g = series::rsqrt_one_minus_sq(c, 1.0, 0.0, glen, cancel)?;
    let dc = series::derivative(c);
    let psi = integral_of_product(&g, &dc, v0, 1.0 / TWO_PI, n);
    let d = derivative.then(|| g.iter().map(|v| v / (TWO_PI * q)).collect());
    Ok((psi, d))
}

fn compose_erf(
    a: f64,
    q: f64,
    c: &[f64],
    derivative: bool,
    cancel: Cancel,
) -> Result<(Vec<f64>, Option<Vec<f64>>)> {
    let n = c.len();
    let x = 2.0 * a * a * q;
    let omb = 1.0 / (1.0 + x);
    let beta = x * omb;
    let glen = if derivative { n } else { n - 1 };
    let g = series::rsqrt_one_minus_sq(c, beta, omb, glen, cancel)?;
    let dc = series::derivative(c);
    let v0 = (2.0 / PI) * (beta * c[0]).asin();
    let psi = integral_of_product(&g, &dc, v0, 2.0 * beta / PI, n);
    let d = derivative.then(|| g.iter().map(|v| v * 2.0 * beta / (PI * q)).collect());
    Ok((psi, d))
}

fn compose_gauss(
    gs: f64,
    q: f64,
    c: &[f64],
    derivative: bool,
    cancel: Cancel,
) -> Result<(Vec<f64>, Option<Vec<f64>>)> {
    let n = c.len();
    let omb = 1.0 / (1.0 + q);
    let beta = q * omb;
    let g = series::rsqrt_one_minus_sq(c, beta, omb, n, cancel)?;
    let psi: Vec<f64> = g.iter().map(|v| gs * omb * v).collect();
    let d = if derivative {
        let g2 = series::mul_nonneg(&g, &g, n);
        let g3 = series::mul_nonneg(&g2, &g, n);
        let cg3 = series::mul_nonneg(c, &g3, n);
        let f = gs * q * omb * omb * omb;
        Some(cg3.iter().map(|v| f * v).collect())
    } else {
        None
    };
    Ok((psi, d))
}

fn compose_exp_family(
    fam: Family,
    q: f64,
    c: &[f64],
    derivative: bool,
    cancel: Cancel,
) -> Result<(Vec<f64>, Option<Vec<f64>>)> {
    let n = c.len();
    match fam {
        Family::Exp { a } => {
            let x = a * a * q;
            let mut g: Vec<f64> = c.iter().map(|v| x * v).collect();
            g[0] = x * (1.0 + c[0]);
            let mut e = series::exp(&g, n, cancel)?;
            series::clamp_nonneg(&mut e);
            let d = derivative.then(|| e.iter().map(|v| a * a * v).collect());
            Ok((e, d))
        }
        Family::Sin { a } | Family::Cos { a } => {
            let x = a * a * q;
            let g: Vec<f64> = c.iter().map(|v| x * v).collect();
            let (mut s, mut ch) = series::sinh_cosh(&g, n, cancel)?;
            let f = (-x).exp();
            for v in s.iter_mut().chain(ch.iter_mut()) {
                *v = (*v * f).max(0.0);
            }
            if matches!(fam, Family::Sin { .. }) {
                let d = derivative.then(|| ch.iter().map(|v| a * a * v).collect());
                Ok((s, d))
            } else {
                let d = derivative.then(|| s.iter().map(|v| a * a * v).collect());
                Ok((ch, d))
            }
        }
        _ => Err(NtkError::InvalidArgument(
            "internal: not an exponential family".into(),
        )),
    }
}

// ------------------------------------------------------------------------------------------
// trait implementations
// ------------------------------------------------------------------------------------------

impl HermiteSource for ClosedForm {
    fn name(&self) -> String {
        cf_name(self)
    }
    fn coefficients(&self, degree: usize, q: f64) -> Result<HermiteCoefficients> {
        ClosedForm::coefficients(self, degree, q)
    }
    fn second_moment(&self, q: f64) -> Result<f64> {
        self.validate()?;
        check_q_positive(q)?;
        let v = ClosedForm::second_moment(self, q);
        if !v.is_finite() {
            return Err(NtkError::InvalidArgument(format!(
                "E[phi^2] of {} at q = {q} is not finite ({v})",
                cf_name(self)
            )));
        }
        Ok(v)
    }
    fn derivative_second_moment(&self, q: f64) -> Result<f64> {
        ClosedForm::derivative_second_moment(self, q)
    }
    fn exact(&self) -> bool {
        true
    }
    fn polynomial_degree(&self) -> Option<usize> {
        match self {
            ClosedForm::Identity => Some(1),
            ClosedForm::Monomial { n } | ClosedForm::Hermite { n } => Some(*n),
            ClosedForm::Polynomial { coeffs } => {
                Some(coeffs.iter().rposition(|&v| v != 0.0).unwrap_or(0))
            }
            _ => None,
        }
    }
}

impl Dual for ClosedForm {
    fn name(&self) -> String {
        cf_name(self)
    }

    fn psi_one(&self, q: f64) -> Result<f64> {
        HermiteSource::second_moment(self, q)
    }

    fn psi_dot_one(&self, q: f64) -> Result<f64> {
        ClosedForm::derivative_second_moment(self, q)
    }

    fn psi(&self, cov: f64, q1: f64, q2: f64) -> Result<f64> {
        self.validate()?;
        general(self, cov, q1, q2, false)
    }

    fn psi_dot(&self, cov: f64, q1: f64, q2: f64) -> Result<f64> {
        self.validate()?;
        general(self, cov, q1, q2, true)
    }

    fn layer(&self, q: f64) -> Result<Box<dyn LayerDual>> {
        self.validate()?;
        check_q_positive(q)?;
        match family(self) {
            Family::Generic => Ok(Box::new(hermite_layer(self, q)?)),
            fam => Ok(Box::new(ClosedLayer { fam, q })),
        }
    }

    fn compose(&self, q: f64, c: &[f64], derivative: bool, cancel: Cancel) -> Result<Composition> {
        self.validate()?;
        check_q_positive(q)?;
        let fam = family(self);
        if matches!(fam, Family::Generic | Family::Gelu) {
            return compose_hermite(self, q, c, derivative, cancel);
        }
        let n = c.len();
        if n == 0 {
            return Ok(Composition {
                value: Vec::new(),
                derivative: derivative.then(Vec::new),
                value_error: 0.0,
                derivative_error: 0.0,
            });
        }
        let inner = inner_info(c)?;
        if inner.d == usize::MAX || 1.0 - inner.c0 <= 0.0 {
            let layer = ClosedLayer { fam, q };
            return constant_composition(&layer, inner.c0, n, derivative);
        }
        let (value, deriv) = match fam {
            Family::ArcCos { alpha } => compose_arccos(alpha, q, c, derivative, cancel)?,
            Family::Step => compose_step(q, c, derivative, cancel)?,
            Family::Erf { a } => compose_erf(a, q, c, derivative, cancel)?,
            Family::Gauss { g } => compose_gauss(g, q, c, derivative, cancel)?,
            Family::Exp { .. } | Family::Sin { .. } | Family::Cos { .. } => {
                compose_exp_family(fam, q, c, derivative, cancel)?
            }
            Family::Identity => {
                let v: Vec<f64> = c.iter().map(|x| q * x).collect();
                let mut d = vec![0.0; n];
                d[0] = 1.0;
                (v, derivative.then_some(d))
            }
            Family::Generic | Family::Gelu => unreachable_generic()?,
        };
        if value.iter().any(|v| !v.is_finite())
            || deriv
                .as_ref()
                .is_some_and(|d| d.iter().any(|v| !v.is_finite()))
        {
            return Err(NtkError::NonFinite(format!(
                "the dual series of {} at q = {q} overflowed",
                cf_name(self)
            )));
        }
        Ok(Composition {
            value,
            derivative: deriv,
            value_error: 0.0,
            derivative_error: 0.0,
        })
    }
}

fn unreachable_generic() -> Result<(Vec<f64>, Option<Vec<f64>>)> {
    Err(NtkError::InvalidArgument(
        "internal: generic activation in the closed-form path".into(),
    ))
}

/// Pointwise dual for general variances.
fn general(cf: &ClosedForm, cov: f64, q1: f64, q2: f64, derivative: bool) -> Result<f64> {
    let fam = family(cf);
    if matches!(fam, Family::Generic) {
        return hermite_psi_general(cf, cov, q1, q2, derivative);
    }
    let corr = Correlation::from_covariance(cov, q1, q2)?;
    let sq = (q1 * q2).sqrt();
    let v = match fam {
        Family::ArcCos { alpha } => {
            let v = arccos_value(alpha, 1.0, &corr);
            if derivative {
                v.psi_dot
            } else {
                sq * v.psi
            }
        }
        Family::Step => {
            if q1 == 0.0 || q2 == 0.0 {
                // step(0) = 0: one factor vanishes a.s.
                if derivative {
                    return Err(NtkError::Domain(
                        "E[step'(u) step'(v)] is infinite when a variance is 0".into(),
                    ));
                }
                0.0
            } else {
                let v = step_value(1.0, &corr);
                if derivative {
                    if v.psi_dot.is_infinite() {
                        return Err(NtkError::Domain(
                            "E[step'(u) step'(v)] = 1/(2π sqrt(q1 q2 − s²)) is infinite at |c| = 1 \
                             (the step activation has no NTK on the diagonal)"
                                .into(),
                        ));
                    }
                    v.psi_dot / sq
                } else {
                    v.psi
                }
            }
        }
        Family::Erf { a } => {
            let a2 = 2.0 * a * a;
            let (b1, b2) = (1.0 + a2 * q1, 1.0 + a2 * q2);
            let sb = (b1 * b2).sqrt();
            let r = (a2 * cov / sb).clamp(-1.0, 1.0);
            if derivative {
                (2.0 * a2 / PI) / (sb * ((1.0 - r) * (1.0 + r)).sqrt())
            } else {
                (2.0 / PI) * r.asin()
            }
        }
        Family::Exp { a } => {
            let v = (a * a * (0.5 * (q1 + q2) + cov)).exp();
            if derivative {
                a * a * v
            } else {
                v
            }
        }
        Family::Sin { a } | Family::Cos { a } => {
            let base = -0.5 * a * a * (q1 + q2);
            let e1 = (base + a * a * cov).exp();
            let e2 = (base - a * a * cov).exp();
            let sh = 0.5 * (e1 - e2);
            let ch = 0.5 * (e1 + e2);
            let is_sin = matches!(fam, Family::Sin { .. });
            match (is_sin, derivative) {
                (true, false) => sh,
                (true, true) => a * a * ch,
                (false, false) => ch,
                (false, true) => a * a * sh,
            }
        }
        Family::Gauss { g } => {
            let (a1, a2) = (1.0 + q1, 1.0 + q2);
            let r = (cov / (a1 * a2).sqrt()).clamp(-1.0, 1.0);
            let delta = a1 * a2 * ((1.0 - r) * (1.0 + r));
            if derivative {
                g * cov / (delta * delta.sqrt())
            } else {
                g / delta.sqrt()
            }
        }
        Family::Identity => {
            if derivative {
                1.0
            } else {
                cov
            }
        }
        Family::Gelu => {
            let (p, d) = gelu_general(cov, q1, q2);
            if derivative {
                d
            } else {
                p
            }
        }
        Family::Generic => return hermite_psi_general(cf, cov, q1, q2, derivative),
    };
    if !v.is_finite() {
        return Err(NtkError::NonFinite(format!(
            "dual of {} overflowed at s = {cov}, q1 = {q1}, q2 = {q2}",
            cf_name(cf)
        )));
    }
    Ok(v)
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)]
mod tests {
    use super::*;
    use crate::dual::tests::{brute, relu_weights};
    use crate::series::never_cancel;

    fn closed_forms() -> Vec<ClosedForm> {
        vec![
            ClosedForm::Relu,
            ClosedForm::LeakyRelu { slope: 0.2 },
            ClosedForm::LeakyRelu { slope: -0.5 },
            ClosedForm::Abs,
            ClosedForm::Step,
            ClosedForm::Identity,
            ClosedForm::Erf { scale: 1.3 },
            ClosedForm::Sin { freq: 0.8 },
            ClosedForm::Cos { freq: 1.1 },
            ClosedForm::Exp { scale: 0.5 },
            ClosedForm::Gaussian,
            ClosedForm::GaussianPdf,
            ClosedForm::Gelu,
        ]
    }

    /// `Σ_k μ_k(q1) μ_k(q2) c^k` and the derivative sum, from the Hermite coefficients.
    fn hermite_reference(cf: &ClosedForm, c: f64, q1: f64, q2: f64, k: usize) -> (f64, f64) {
        let a = cf.coefficients(k, q1).unwrap().mu;
        let b = cf.coefficients(k, q2).unwrap().mu;
        let (mut v, mut d) = (0.0, 0.0);
        for i in (0..=k).rev() {
            v = v * c + a[i] * b[i];
        }
        for i in (1..=k).rev() {
            d = d * c + i as f64 * a[i] * b[i];
        }
        (v, d / (q1 * q2).sqrt())
    }

    #[test]
    fn pointwise_duals_match_hermite_series() {
        for cf in closed_forms() {
            for &(q1, q2) in &[(1.0, 1.0), (0.5, 2.0), (1.7, 1.7)] {
                let scale = cf.second_moment(q1).sqrt() * cf.second_moment(q2).sqrt();
                for &c in &[-0.8, -0.3, 0.1, 0.6, 0.85] {
                    let s = c * (q1 * q2).sqrt();
                    let (rv, rd) = hermite_reference(&cf, c, q1, q2, 3000);
                    let v = Dual::psi(&cf, s, q1, q2).unwrap();
                    assert!(
                        (v - rv).abs() <= 1e-12 * scale.max(1.0),
                        "{cf:?} q=({q1},{q2}) c={c}: psi {v} vs {rv}"
                    );
                    let d = Dual::psi_dot(&cf, s, q1, q2).unwrap();
                    assert!(
                        (d - rd).abs() <= 1e-10 * rd.abs().max(1.0),
                        "{cf:?} q=({q1},{q2}) c={c}: psi_dot {d} vs {rd}"
                    );
                }
            }
        }
    }

    #[test]
    fn layer_values_and_complements() {
        for cf in closed_forms() {
            for &q in &[1.0, 0.7, 2.5] {
                let layer = Dual::layer(&cf, q).unwrap();
                let one = Dual::psi_one(&cf, q).unwrap();
                for &c in &[-1.0, -0.999, -0.6, -0.1, 0.0, 0.2, 0.75, 0.999, 1.0] {
                    let v = layer.eval(Correlation::new(c).unwrap()).unwrap();
                    let g = Dual::psi(&cf, q * c, q, q).unwrap();
                    let tol = 1e-13 * one.max(1.0);
                    assert!(
                        (v.psi - g).abs() <= tol,
                        "{cf:?} q={q} c={c}: {} vs {g}",
                        v.psi
                    );
                    if !matches!(cf, ClosedForm::Step) || c.abs() < 1.0 {
                        let gd = Dual::psi_dot(&cf, q * c, q, q).unwrap();
                        assert!(
                            (v.psi_dot - gd).abs() <= 1e-12 * gd.abs().max(1.0),
                            "{cf:?} q={q} c={c}: psi_dot {} vs {gd}",
                            v.psi_dot
                        );
                    }
                    assert!(
                        (v.psi_gap - (one - g)).abs() <= tol,
                        "{cf:?} q={q} c={c}: gap {} vs {}",
                        v.psi_gap,
                        one - g
                    );
                    assert!(
                        (v.psi_plus - (one + g)).abs() <= tol,
                        "{cf:?} q={q} c={c}: plus {} vs {}",
                        v.psi_plus,
                        one + g
                    );
                    assert!(v.psi_gap >= 0.0 && v.psi_plus >= 0.0);
                }
                if !matches!(cf, ClosedForm::Step) {
                    let d1 = layer.eval(Correlation::new(1.0).unwrap()).unwrap().psi_dot;
                    let dd = Dual::psi_dot_one(&cf, q).unwrap();
                    assert!(
                        (d1 - dd).abs() <= 1e-13 * dd.max(1.0),
                        "{cf:?}: {d1} vs {dd}"
                    );
                }
            }
        }
    }

    #[test]
    fn complements_keep_relative_accuracy_next_to_the_diagonal() {
        // ReLU: ψ(1) − ψ(1−δ) = δ/2 − (2δ)^{3/2}/(6π) + O(δ^{5/2})
        let layer = Dual::layer(&ClosedForm::Relu, 1.0).unwrap();
        for &delta in &[1e-9, 1e-11, 1e-13] {
            let c = Correlation::from_complements(delta, 2.0 - delta);
            let v = layer.eval(c).unwrap();
            let want = delta / 2.0 - (2.0 * delta).powf(1.5) / (6.0 * PI);
            assert!(((v.psi_gap - want) / want).abs() < 1e-12, "δ={delta}");
            // ψ̇(1−δ) = 1/2 − θ/(2π), θ = 2 asin(√(δ/2))
            let th = 2.0 * (delta / 2.0).sqrt().asin();
            assert!((v.psi_dot - (0.5 - th / (2.0 * PI))).abs() < 1e-16);
        }
        // erf at c = 1 − δ: gap ≈ ψ'(1) δ
        let erf = ClosedForm::Erf { scale: 1.0 };
        let layer = Dual::layer(&erf, 1.0).unwrap();
        let delta = 1e-12;
        let v = layer
            .eval(Correlation::from_complements(delta, 2.0 - delta))
            .unwrap();
        let slope = Dual::psi_dot_one(&erf, 1.0).unwrap(); // ψ'(1)/q with q = 1
        assert!(((v.psi_gap - slope * delta) / (slope * delta)).abs() < 1e-9);
    }

    fn padded(c: &[f64], n: usize) -> Vec<f64> {
        let mut v = c.to_vec();
        v.resize(n, 0.0);
        v
    }

    #[test]
    fn closed_compositions_match_the_generic_taylor_path() {
        let n = 60;
        let inners = [
            padded(&[0.0, 1.0], n),
            padded(&[0.0, 0.5, 0.0, 0.5], n),
            padded(&[0.3, 0.4, 0.1, 0.2], n),
            padded(&[0.85, 0.05, 0.05, 0.0, 0.05], n),
        ];
        for cf in closed_forms() {
            if matches!(cf, ClosedForm::Gelu) {
                continue; // Gelu uses the generic path itself
            }
            for &q in &[1.0, 0.6] {
                for c in &inners {
                    let closed = Dual::compose(&cf, q, c, true, &never_cancel).unwrap();
                    let generic = compose_hermite(&cf, q, c, true, &never_cancel).unwrap();
                    let cd = closed.derivative.as_ref().unwrap();
                    let gd = generic.derivative.as_ref().unwrap();
                    for p in 0..n {
                        let (a, b) = (closed.value[p], generic.value[p]);
                        assert!(a >= 0.0 && cd[p] >= 0.0);
                        assert!(
                            (a - b).abs() <= 1e-11 * b.abs() + 1e-300,
                            "{cf:?} q={q} c0={} p={p}: closed {a} vs generic {b}",
                            c[0]
                        );
                        assert!(
                            (cd[p] - gd[p]).abs() <= 1e-11 * gd[p].abs() + 1e-300,
                            "{cf:?} q={q} c0={} p={p}: closed' {} vs generic' {}",
                            c[0],
                            cd[p],
                            gd[p]
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn relu_composition_matches_brute_force() {
        let n = 41;
        let c = padded(&[0.7, 0.2, 0.0, 0.1], n);
        let comp = Dual::compose(&ClosedForm::Relu, 1.0, &c, false, &never_cancel).unwrap();
        let want = brute(&relu_weights(8000), &c, n);
        for p in 0..n {
            assert!(((comp.value[p] - want[p]) / want[p]).abs() < 1e-12, "p={p}");
        }
    }

    #[test]
    fn long_compositions_use_fft_and_stay_accurate() {
        // ReLU, c = (1 + ρ)/2-like with c0 = 0.5: compare P = 3000 (FFT/Newton) with the
        // generic path at small degree and with the exact value c(1) = 1 ⇒ ψ(1) = 1/2.
        let n = 3001;
        let c = padded(&[0.5, 0.3, 0.2], n);
        let comp = Dual::compose(&ClosedForm::Relu, 1.0, &c, true, &never_cancel).unwrap();
        let small = Dual::compose(&ClosedForm::Relu, 1.0, &c[..200], true, &never_cancel).unwrap();
        for p in 0..200 {
            let (a, b) = (comp.value[p], small.value[p]);
            assert!((a - b).abs() <= 1e-11 * b + 1e-16, "p={p}: {a} vs {b}");
        }
        let total: f64 = comp.value.iter().sum();
        assert!(total <= 0.5 + 1e-12 && total > 0.5 - 1e-3);
        assert!(comp.value.iter().all(|v| *v >= 0.0));
    }
}
