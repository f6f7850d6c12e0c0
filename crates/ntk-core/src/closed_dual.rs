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
//! | hard-tanh, ReLU6 (and any continuous [`PiecewiseLinear`]) | bivariate normal orthant probabilities ([`crate::bivariate`]), see [`PlDual`] | `c_0 > 1/2`: exact re-expansion about `c_0` from `ψ̇' = Σ_ij d_i d_j φ₂(a_i, a_j; c)` (Laguerre generating functions), only `P/d + 1` terms; else the generic path (exact with `K ≈ P/(1 − c_0)`) |
//! | monomial, Hermite, polynomial | Hermite series (finite) | generic (exact) |
//!
//! All series routines only add non-negative terms (for `c ≥ 0`), so every coefficient of
//! degree `< series::EXACT_LEN` keeps full relative accuracy (those are computed with naive
//! products and positive recurrences at any length); the ODE forms cost `O(P log P)` with
//! FFT products above that.
//!
//! Piecewise-linear activations whose inner series has `c_0` close to 1 (heavy biases, deep
//! networks) also take `1 − c_0` from the recursion to full relative accuracy
//! ([`Dual::compose_with_complement`]): the degree-`j` coefficients depend on `c_0` through
//! `(1 − c_0)^{−j}`.
//!
//! The per-layer evaluators also return `ψ(1) − ψ(c)` and `ψ(1) + ψ(c)` in forms without
//! cancellation (e.g. ReLU: `ψ(1) − ψ(c) = q[(1−c)ψ̇(c) + (1−α)²(θ − sin θ)/(2π)]`), so that
//! the exact kernel stays accurate next to the diagonal.
use std::f64::consts::{FRAC_PI_2, PI};

use crate::bivariate;
use crate::closed_form::ClosedForm;
use crate::dual::{
    check_q_positive, compose_hermite, constant_composition, hermite_layer, hermite_psi_general,
    inner_info, Composition, Correlation, Dual, DualValue, HermiteSource, LayerDual,
};
use crate::error::{NtkError, Result};
use crate::hermite::HermiteCoefficients;
use crate::piecewise_linear::PiecewiseLinear;
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
    integral_of_product_shared(f, dc, constant, scale, n, &mut None, &mut None)
}

/// [`integral_of_product`] keeping/reusing the forward transforms of `f` and `dc`
/// (see [`series::mul_nonneg_shared`]).
fn integral_of_product_shared(
    f: &[f64],
    dc: &[f64],
    constant: f64,
    scale: f64,
    n: usize,
    spec_f: &mut Option<series::Spectrum>,
    spec_dc: &mut Option<series::Spectrum>,
) -> Vec<f64> {
    let m = n.saturating_sub(1);
    let prod = series::mul_nonneg_shared(f, dc, m, spec_f, spec_dc);
    let mut out = vec![0.0; n];
    if n > 0 {
        out[0] = constant;
    }
    if n > 1 {
        // out_i = scale · prod_{i−1} / i
        let k = prod.len().min(n - 1);
        series::with_reciprocals(n, |recip| {
            series::kernels::scale_mul_into(&mut out[1..=k], &prod[..k], &recip[1..=k], scale)
        });
    }
    out
}

/// Value, derivative (if asked) and the forward transform of `derivative[..n−1]` (when the
/// products used FFTs) of a closed-form composition.
type Composed = (Vec<f64>, Option<Vec<f64>>, Option<series::Spectrum>);

fn compose_arccos(
    alpha: f64,
    q: f64,
    c: &[f64],
    derivative: bool,
    cancel: Cancel,
) -> Result<Composed> {
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
    // the transform of c' serves both products, that of ψ̇∘c also the recursion's Θ·ȧ
    let mut spec_dc = None;
    let d = if k2 > 0.0 && n > 1 {
        let g = series::rsqrt_one_minus_sq(c, 1.0, 0.0, n - 1, cancel)?;
        series::check(cancel)?;
        integral_of_product_shared(&g, &dc, t1, k2 / TWO_PI, n, &mut None, &mut spec_dc)
    } else {
        let mut d = vec![0.0; n];
        d[0] = t1;
        d
    };
    series::check(cancel)?;
    let mut spec_d = None;
    let psi = integral_of_product_shared(&d[..n - 1], &dc, q * t0, q, n, &mut spec_d, &mut spec_dc);
    if derivative {
        Ok((psi, Some(d), spec_d))
    } else {
        Ok((psi, None, None))
    }
}

fn compose_step(q: f64, c: &[f64], derivative: bool, cancel: Cancel) -> Result<Composed> {
    let n = c.len();
    let corr0 = Correlation::new(c[0])?;
    let v0 = 0.25 + corr0.asin() / TWO_PI;
    let glen = if derivative { n } else { n - 1 };
    let g = series::rsqrt_one_minus_sq(c, 1.0, 0.0, glen, cancel)?;
    let dc = series::derivative(c);
    let psi = integral_of_product(&g, &dc, v0, 1.0 / TWO_PI, n);
    let d = derivative.then(|| g.iter().map(|v| v / (TWO_PI * q)).collect());
    Ok((psi, d, None))
}

fn compose_erf(a: f64, q: f64, c: &[f64], derivative: bool, cancel: Cancel) -> Result<Composed> {
    let n = c.len();
    let x = 2.0 * a * a * q;
    let omb = 1.0 / (1.0 + x);
    let beta = x * omb;
    let glen = if derivative { n } else { n - 1 };
    let g = series::rsqrt_one_minus_sq(c, beta, omb, glen, cancel)?;
    let dc = series::derivative(c);
    let v0 = (2.0 / PI) * (beta * c[0]).asin();
    if !derivative {
        let psi = integral_of_product(&g, &dc, v0, 2.0 * beta / PI, n);
        return Ok((psi, None, None));
    }
    // ψ̇∘c = (2β/(πq)) G and ψ∘c = v0 + q ∫ (ψ̇∘c) c': the transform of ψ̇∘c serves this
    // product and the recursion's Θ·ȧ
    let f = 2.0 * beta / (PI * q);
    let d: Vec<f64> = g.iter().map(|v| v * f).collect();
    let mut spec_d = None;
    let psi = integral_of_product_shared(&d[..n - 1], &dc, v0, q, n, &mut spec_d, &mut None);
    Ok((psi, Some(d), spec_d))
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
        ClosedForm::name(self)
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
                "E[phi^2] of {} at q = {} is not finite ({v}); lower weight_var (or the \
                 activation's scale)",
                ClosedForm::name(self),
                series::fmt_num(q)
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
        ClosedForm::name(self)
    }

    fn psi_one(&self, q: f64) -> Result<f64> {
        HermiteSource::second_moment(self, q)
    }

    fn psi_dot_one(&self, q: f64) -> Result<f64> {
        ClosedForm::derivative_second_moment(self, q)
    }

    fn psi(&self, cov: f64, q1: f64, q2: f64) -> Result<f64> {
        self.validate()?;
        if let Some(pd) = closed_pl(self)? {
            return pd.general(cov, q1, q2, false);
        }
        general(self, cov, q1, q2, false)
    }

    fn psi_dot(&self, cov: f64, q1: f64, q2: f64) -> Result<f64> {
        self.validate()?;
        if let Some(pd) = closed_pl(self)? {
            return pd.general(cov, q1, q2, true);
        }
        general(self, cov, q1, q2, true)
    }

    fn layer(&self, q: f64) -> Result<Box<dyn LayerDual>> {
        self.validate()?;
        check_q_positive(q)?;
        if let Some(pd) = closed_pl(self)? {
            return Ok(Box::new(pd.layer(q)?));
        }
        match family(self) {
            Family::Generic => Ok(Box::new(hermite_layer(self, q)?)),
            fam => Ok(Box::new(ClosedLayer { fam, q })),
        }
    }

    fn compose_with_complement(
        &self,
        q: f64,
        c: &[f64],
        one_minus_c0: f64,
        derivative: bool,
        cancel: Cancel,
    ) -> Result<Composition> {
        self.validate()?;
        check_q_positive(q)?;
        if let Some(pd) = closed_pl(self)? {
            return compose_piecewise(&pd, self, q, c, Some(one_minus_c0), derivative, cancel);
        }
        self.compose(q, c, derivative, cancel)
    }

    fn uses_complement(&self) -> bool {
        self.piecewise().is_some()
    }

    fn compose(&self, q: f64, c: &[f64], derivative: bool, cancel: Cancel) -> Result<Composition> {
        self.validate()?;
        check_q_positive(q)?;
        if let Some(pd) = closed_pl(self)? {
            return compose_piecewise(&pd, self, q, c, None, derivative, cancel);
        }
        let fam = family(self);
        if matches!(fam, Family::Generic | Family::Gelu) {
            return compose_hermite(self, q, c, derivative, cancel);
        }
        let n = c.len();
        if n == 0 {
            return Ok(Composition::empty(derivative));
        }
        let inner = inner_info(c)?;
        if inner.d == usize::MAX || 1.0 - inner.c0 <= 0.0 {
            let layer = ClosedLayer { fam, q };
            return constant_composition(&layer, inner.c0, n, derivative);
        }
        let (value, deriv, spectrum) = match fam {
            Family::ArcCos { alpha } => compose_arccos(alpha, q, c, derivative, cancel)?,
            Family::Step => compose_step(q, c, derivative, cancel)?,
            Family::Erf { a } => compose_erf(a, q, c, derivative, cancel)?,
            Family::Gauss { g } => {
                let (v, d) = compose_gauss(g, q, c, derivative, cancel)?;
                (v, d, None)
            }
            Family::Exp { .. } | Family::Sin { .. } | Family::Cos { .. } => {
                let (v, d) = compose_exp_family(fam, q, c, derivative, cancel)?;
                (v, d, None)
            }
            Family::Identity => {
                let v: Vec<f64> = c.iter().map(|x| q * x).collect();
                let mut d = vec![0.0; n];
                d[0] = 1.0;
                (v, derivative.then_some(d), None)
            }
            Family::Generic | Family::Gelu => {
                let (v, d) = unreachable_generic()?;
                (v, d, None)
            }
        };
        if value.iter().any(|v| !v.is_finite())
            || deriv
                .as_ref()
                .is_some_and(|d| d.iter().any(|v| !v.is_finite()))
        {
            return Err(NtkError::NonFinite(format!(
                "the dual series of {} at q = {} overflowed; lower weight_var (or the \
                 activation's scale)",
                ClosedForm::name(self),
                series::fmt_num(q)
            )));
        }
        Ok(Composition {
            value,
            derivative: deriv,
            value_error: 0.0,
            derivative_error: 0.0,
            derivative_spectrum: spectrum,
        })
    }
}

/// The exact piecewise-linear dual of hard-tanh / ReLU6 (`None` for other closed forms).
fn closed_pl(cf: &ClosedForm) -> Result<Option<PlDual>> {
    match cf.piecewise() {
        Some(pl) => PlDual::new(&pl),
        None => Ok(None),
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
            "dual of {} overflowed at s = {}, q1 = {}, q2 = {}; lower weight_var (or the \
             activation's scale)",
            ClosedForm::name(cf),
            series::fmt_num(cov),
            series::fmt_num(q1),
            series::fmt_num(q2)
        )));
    }
    Ok(v)
}

// ------------------------------------------------------------------------------------------
// Continuous piecewise-linear activations: exact duals (hard-tanh, ReLU6, PiecewiseLinear)
// ------------------------------------------------------------------------------------------

/// `E[(X − α)_+] = ϕ(α) − α Φ(−α)` for standard normal `X`.
fn ramp_mean(al: f64) -> f64 {
    bivariate::normal_pdf(al) - al * bivariate::normal_cdf(-al)
}

/// `(L, F)` for standard normal `(X, Y)` with correlation `corr`:
/// `L = P(X > α, Y > β)` and
/// `F = E[(X − α)_+ (Y − β)_+]
///    = (c + αβ) L − β ϕ(α) Φ(−(β − cα)/σ) − α ϕ(β) Φ(−(α − cβ)/σ) + σ² φ₂(α, β; c)`,
/// `σ = √(1 − c²)` (from the truncated bivariate normal moments; `F' = L` by Price's
/// theorem).
fn ramp_pair(al: f64, be: f64, corr: &Correlation) -> (f64, f64) {
    let (c, om, op) = (corr.c, corr.one_minus, corr.one_plus);
    let l = bivariate::upper_corr(al, be, corr);
    let s2 = om * op;
    let sig = s2.sqrt();
    // β − cα and α − cβ without cancellation near c = ±1
    let (na, nb) = if c >= 0.0 {
        ((be - al) + om * al, (al - be) + om * be)
    } else {
        ((be + al) - op * al, (al + be) - op * be)
    };
    let tail = |num: f64| {
        if sig > 0.0 {
            bivariate::normal_cdf(-num / sig)
        } else if num > 0.0 {
            0.0
        } else if num < 0.0 {
            1.0
        } else {
            0.5
        }
    };
    let dens = if sig > 0.0 {
        sig * bivariate::density(al, be, corr) * sig
    } else {
        0.0
    };
    let f = (c + al * be) * l
        - be * bivariate::normal_pdf(al) * tail(na)
        - al * bivariate::normal_pdf(be) * tail(nb)
        + dens;
    (l, f)
}

/// A continuous piecewise-linear `φ(x) = a + b x + Σ_i d_i (x − t_i)_+`, with its even and
/// odd parts (for `ψ(1) ± ψ(−1) = 2 E[φ_{e,o}(√q Z)²]`).
///
/// With `u, v` centred Gaussian (variances `q₁, q₂`, covariance `s`), `α_i = t_i/√q₁`,
/// `β_j = t_j/√q₂`, `L_ij = P(X > α_i, Y > β_j)` and `F_ij = E[(X − α_i)_+ (Y − β_j)_+]`
/// (standard normal `X, Y` with correlation `c`; closed form in `ramp_pair`):
///
/// ```text
/// E[φ(u)φ(v)]   = a² + b² s + a Σ_j d_j (√q₁ R(α_j) + √q₂ R(β_j)) + b s Σ_j d_j (Φ(−α_j) + Φ(−β_j))
///                 + √(q₁q₂) Σ_ij d_i d_j F_ij,            R(α) = ϕ(α) − αΦ(−α),
/// E[φ'(u)φ'(v)] = b² + b Σ_j d_j (Φ(−α_j) + Φ(−β_j)) + Σ_ij d_i d_j L_ij.
/// ```
///
/// At equal variances `q`, `dψ/dc = q ψ̇` and `dψ̇/dc = G(c) = Σ_ij d_i d_j φ₂(a_i, a_j; c)`
/// (`a_i = t_i/√q`, Price's theorem), a sum of bivariate normal densities.
#[derive(Debug, Clone)]
pub struct PlDual {
    pl: PiecewiseLinear,
    a: f64,
    b: f64,
    t: Vec<f64>,
    d: Vec<f64>,
    even: PiecewiseLinear,
    odd: PiecewiseLinear,
}

/// `(φ(x) ± φ(−x))/2` as a piecewise-linear function.
fn symmetrized(pl: &PiecewiseLinear, sign: f64) -> Result<PiecewiseLinear> {
    let mut kinks: Vec<f64> = pl.kinks.iter().flat_map(|&t| [t, -t]).collect();
    kinks.sort_by(|x, y| x.total_cmp(y));
    kinks.dedup();
    let m = kinks.len();
    let mut intercepts = Vec::with_capacity(m + 1);
    let mut slopes = Vec::with_capacity(m + 1);
    for j in 0..=m {
        let x = if m == 0 {
            0.5
        } else if j == 0 {
            kinks[0] - 1.0
        } else if j == m {
            kinks[m - 1] + 1.0
        } else {
            0.5 * (kinks[j - 1] + kinks[j])
        };
        let slope = 0.5 * (pl.eval_derivative(x) - sign * pl.eval_derivative(-x));
        let value = 0.5 * (pl.eval(x) + sign * pl.eval(-x));
        slopes.push(slope);
        intercepts.push(value - slope * x);
    }
    PiecewiseLinear::new(kinks, intercepts, slopes)
}

impl PlDual {
    /// `None` if `φ` jumps somewhere (then only the generic Hermite path applies).
    pub(crate) fn new(pl: &PiecewiseLinear) -> Result<Option<PlDual>> {
        pl.validate()?;
        if !pl.is_continuous() {
            return Ok(None);
        }
        let mut t = Vec::new();
        let mut d = Vec::new();
        for (i, &k) in pl.kinks.iter().enumerate() {
            let di = pl.slopes[i + 1] - pl.slopes[i];
            if di != 0.0 {
                t.push(k);
                d.push(di);
            }
        }
        Ok(Some(PlDual {
            a: pl.intercepts[0],
            b: pl.slopes[0],
            t,
            d,
            even: symmetrized(pl, 1.0)?,
            odd: symmetrized(pl, -1.0)?,
            pl: pl.clone(),
        }))
    }

    /// `(E[φ(u)φ(v)], E[φ'(u)φ'(v)])` for standard deviations `s1, s2 > 0` and correlation.
    fn duals(&self, s1: f64, s2: f64, corr: &Correlation) -> (f64, f64) {
        let cov = s1 * s2 * corr.c;
        let (a, b) = (self.a, self.b);
        let mut psi = a * a + b * b * cov;
        let mut dot = b * b;
        for (&tj, &dj) in self.t.iter().zip(&self.d) {
            let (al, be) = (tj / s1, tj / s2);
            let tails = bivariate::normal_cdf(-al) + bivariate::normal_cdf(-be);
            psi += a * dj * (s1 * ramp_mean(al) + s2 * ramp_mean(be)) + b * cov * dj * tails;
            dot += b * dj * tails;
        }
        for (&ti, &di) in self.t.iter().zip(&self.d) {
            for (&tj, &dj) in self.t.iter().zip(&self.d) {
                let (l, f) = ramp_pair(ti / s1, tj / s2, corr);
                psi += di * dj * s1 * s2 * f;
                dot += di * dj * l;
            }
        }
        (psi, dot)
    }

    /// General variances (a variance may be 0: that variable is 0 a.s.).
    fn general(&self, cov: f64, q1: f64, q2: f64, derivative: bool) -> Result<f64> {
        let corr = Correlation::from_covariance(cov, q1, q2)?;
        if q1 == 0.0 || q2 == 0.0 {
            // E[φ(0) φ(v)] = φ(0) E[φ(v)], E[φ'(0) φ'(v)] = φ'(0) E[φ'(v)]
            let s = q1.max(q2).sqrt();
            let (mut m, mut md) = (self.a, self.b);
            for (&tj, &dj) in self.t.iter().zip(&self.d) {
                if s > 0.0 {
                    m += dj * s * ramp_mean(tj / s);
                    md += dj * bivariate::normal_cdf(-tj / s);
                } else {
                    m += dj * (-tj).max(0.0);
                    md += if tj < 0.0 { dj } else { 0.0 };
                }
            }
            return Ok(if derivative {
                self.pl.eval_derivative(0.0) * md
            } else {
                self.pl.eval(0.0) * m
            });
        }
        let (p, d) = self.duals(q1.sqrt(), q2.sqrt(), &corr);
        Ok(if derivative { d } else { p })
    }

    fn layer(&self, q: f64) -> Result<PlLayer> {
        check_q_positive(q)?;
        let s = q.sqrt();
        let al: Vec<f64> = self.t.iter().map(|t| t / s).collect();
        Ok(PlLayer {
            psi_one: self.pl.second_moment(q),
            even2: self.even.second_moment(q),
            odd2: self.odd.second_moment(q),
            dual: self.clone(),
            q,
            s,
            al,
        })
    }
}

/// Gauss–Legendre rule of order 20 on `[−1, 1]` (computed once).
fn gl20() -> &'static (Vec<f64>, Vec<f64>) {
    static R: std::sync::OnceLock<(Vec<f64>, Vec<f64>)> = std::sync::OnceLock::new();
    R.get_or_init(|| crate::quadrature::gauss_legendre(20))
}

/// Prepared exact evaluator of a continuous piecewise-linear dual at variance `q`.
#[derive(Debug, Clone)]
pub(crate) struct PlLayer {
    dual: PlDual,
    q: f64,
    s: f64,
    /// Standardized kinks `a_i = t_i/√q`.
    al: Vec<f64>,
    psi_one: f64,
    /// `E[φ_e(√qZ)²]`, `E[φ_o(√qZ)²]`.
    even2: f64,
    odd2: f64,
}

impl PlLayer {
    /// `G(t) = dψ̇/dc = Σ_ij d_i d_j φ₂(a_i, a_j; t)` with `1 − t = om`, `1 + t = op`.
    fn g(&self, om: f64, op: f64) -> f64 {
        let corr = Correlation {
            c: if om <= op { 1.0 - om } else { op - 1.0 },
            one_minus: om,
            one_plus: op,
        };
        let mut g = 0.0;
        for (i, (&ai, &di)) in self.al.iter().zip(&self.dual.d).enumerate() {
            g += di * di * bivariate::density(ai, ai, &corr);
            for (&aj, &dj) in self.al[i + 1..].iter().zip(&self.dual.d[i + 1..]) {
                g += 2.0 * di * dj * bivariate::density(ai, aj, &corr);
            }
        }
        g
    }

    /// `∫ (1 ∓ t) G(t) dt` over `1 ∓ t ∈ [0, e]` (`upper`: next to `t = 1`), by
    /// `1 ∓ t = u²`: `∫_0^{√e} 2u³ G du` (smooth), 4 panels of 20-point Gauss–Legendre.
    fn end_integral(&self, e: f64, upper: bool) -> f64 {
        let (x, w) = gl20();
        let top = e.max(0.0).sqrt();
        let panels = 4;
        let h = top / panels as f64;
        let mut total = 0.0;
        for p in 0..panels {
            let (lo, hi) = (p as f64 * h, (p + 1) as f64 * h);
            for (&xi, &wi) in x.iter().zip(w) {
                let u = 0.5 * (hi - lo) * xi + 0.5 * (hi + lo);
                let u2 = u * u;
                let g = if upper {
                    self.g(u2, 2.0 - u2)
                } else {
                    self.g(2.0 - u2, u2)
                };
                total += 0.5 * (hi - lo) * wi * 2.0 * u2 * u * g;
            }
        }
        total
    }
}

impl LayerDual for PlLayer {
    fn q(&self) -> f64 {
        self.q
    }

    fn eval(&self, c: Correlation) -> Result<DualValue> {
        let (psi, psi_dot) = self.dual.duals(self.s, self.s, &c);
        let q = self.q;
        let (gap, plus) = if c.c >= 0.5 {
            // ψ(1) − ψ(c) = q [(1 − c) ψ̇(c) + ∫_c^1 (1 − t) G(t) dt]
            let gap = q * (c.one_minus * psi_dot + self.end_integral(c.one_minus, true));
            (gap, self.psi_one + psi)
        } else if c.c <= -0.5 {
            // ψ(c) − ψ(−1) = q [(1 + c) ψ̇(c) − ∫_{−1}^c (1 + t) G(t) dt]
            let dm = q * (c.one_plus * psi_dot - self.end_integral(c.one_plus, false));
            (2.0 * self.odd2 - dm, 2.0 * self.even2 + dm)
        } else {
            (self.psi_one - psi, self.psi_one + psi)
        };
        Ok(DualValue {
            psi,
            psi_dot,
            psi_gap: gap.max(0.0),
            psi_plus: plus.max(0.0),
            error: 0.0,
            error_dot: 0.0,
        })
    }
}

/// `e^{−x} ρ^k L_k^{(−1/2)}(x)`, `k < n` (generalized Laguerre, three-term recurrence
/// `(k+1) L_{k+1} = (2k + ½ − x) L_k − (k − ½) L_{k−1}`), the Taylor coefficients of
/// `(1 − ρy)^{−1/2} exp(−x/(1 − ρy))`. With `stop_early`, stops once past the turning point
/// (`k > 2x + 40`) when two consecutive values are below `1e-30` of the largest.
fn laguerre_series(x: f64, rho: f64, n: usize, stop_early: bool) -> Vec<f64> {
    let mut v = Vec::with_capacity(n.min(4096));
    if n == 0 {
        return v;
    }
    let e0 = (-x).exp();
    v.push(e0);
    if n == 1 {
        return v;
    }
    v.push(e0 * rho * (0.5 - x));
    let mut big = v[0].abs().max(v[1].abs());
    for k in 1..n - 1 {
        let kf = k as f64;
        let next = rho * ((2.0 * kf + 0.5 - x) * v[k] - rho * (kf - 0.5) * v[k - 1]) / (kf + 1.0);
        v.push(next);
        big = big.max(next.abs());
        if stop_early && kf > 2.0 * x + 40.0 && next.abs() + v[k].abs() <= 1e-30 * big {
            break;
        }
    }
    v
}

impl PlDual {
    /// Exact composition `ψ_q(c(ρ))`, `ψ̇_q(c(ρ))` for `c_0 > 1/2` by re-expanding about
    /// `c_0` from `ψ̇'' = G` (see [`laguerre_series`]): with `1 − c = (1 − c_0)(1 − σ ỹ)`,
    /// `1 + c = (1 + c_0)(1 + r ỹ)`, `ỹ = (c − c_0)/p`,
    ///
    /// ```text
    /// φ₂(a, b; c) = (1/2π) (1−c)^{−1/2} e^{−κ'/(1−c)} · (1+c)^{−1/2} e^{−λ'/(1+c)},
    ///               κ' = (a−b)²/4, λ' = (a+b)²/4,
    /// ```
    ///
    /// each factor a Laguerre generating function in `ỹ`; `G̃ = Σ_ij d_i d_j φ̃₂`, then
    /// `ψ̇̃_{j+1} = p G̃_j/(j+1)`, `ψ̃_{j+1} = q p ψ̇̃_j/(j+1)` (all `≥ 0`), composed with
    /// `z̃ = (c − c_0)/p`. Only `J + 1 = P/d + 1` coefficients are needed, whatever `c_0`.
    /// `None` (use the generic path) for `c_0 ≤ 1/2` or when the pairs cancel too much
    /// (kinks much closer than `√q`).
    fn compose(
        &self,
        layer: &PlLayer,
        c: &[f64],
        one_minus_c0: Option<f64>,
        derivative: bool,
        cancel: Cancel,
    ) -> Result<Option<Composition>> {
        let n = c.len();
        let inner = inner_info(c)?;
        let c0 = inner.c0;
        if n == 0 || inner.d == usize::MAX || c0 <= 0.5 {
            return Ok(None);
        }
        // 1 − c0 as given (accurate) if it is consistent with c0, else from c0
        let om0 = match one_minus_c0 {
            Some(om) if om > 0.0 && (om - (1.0 - c0)).abs() <= 1e-12 => om,
            _ => 1.0 - c0,
        };
        let p = inner.p.max(om0);
        if om0 <= 0.0 || p <= 0.0 {
            return Ok(None);
        }
        let q = layer.q;
        let jmax = (n - 1) / inner.d;
        let glen = jmax.max(1);
        let op0 = 2.0 - om0;
        let sig = p / om0;
        let r = p / op0;
        let pref = 1.0 / (TWO_PI * (om0 * op0).sqrt());
        let check_len = glen.min(256);
        let mut g = vec![0.0f64; glen];
        let mut gabs = vec![0.0f64; check_len];
        let al = &layer.al;
        let d = &self.d;
        for i in 0..al.len() {
            for j in i..al.len() {
                series::check(cancel)?;
                let wgt = d[i] * d[j] * if i == j { 1.0 } else { 2.0 } * pref;
                let kap = (al[i] - al[j]).powi(2) / (4.0 * om0);
                let lam = (al[i] + al[j]).powi(2) / (4.0 * op0);
                if kap > 120.0 || lam > 700.0 {
                    continue;
                }
                let a = laguerre_series(kap, sig, glen, false);
                let b = laguerre_series(lam, -r, glen, true);
                let prod = series::mul(&a, &b, glen);
                for (gk, pk) in g.iter_mut().zip(&prod) {
                    *gk += wgt * pk;
                }
                let aa: Vec<f64> = a[..check_len].iter().map(|v| v.abs()).collect();
                let ba: Vec<f64> = b[..b.len().min(check_len)]
                    .iter()
                    .map(|v| v.abs())
                    .collect();
                let pa = series::mul_naive(&aa, &ba, check_len);
                for (gk, pk) in gabs.iter_mut().zip(&pa) {
                    *gk += wgt.abs() * pk;
                }
            }
        }
        // cancellation guard (relative accuracy of the low coefficients)
        for k in 0..check_len {
            if g[k].is_nan() || g[k] <= 0.0 || gabs[k] > 1e3 * g[k] {
                return Ok(None);
            }
        }
        series::clamp_nonneg(&mut g);
        let v0 = layer.eval(Correlation::from_complements(om0, op0))?;
        let mut td = vec![0.0f64; jmax + 1];
        td[0] = v0.psi_dot;
        for jj in 1..=jmax {
            td[jj] = p * g[jj - 1] / jj as f64;
        }
        let mut tv = vec![0.0f64; jmax + 1];
        tv[0] = v0.psi;
        for jj in 1..=jmax {
            tv[jj] = q * p * td[jj - 1] / jj as f64;
        }
        let zt: Vec<f64> = c
            .iter()
            .enumerate()
            .map(|(i, &v)| if i == 0 { 0.0 } else { v / p })
            .collect();
        let outs = if derivative {
            series::compose_many(&[&tv, &td], &zt, n, cancel)?
        } else {
            series::compose_many(&[&tv], &zt, n, cancel)?
        };
        let mut outs = outs.into_iter();
        let mut value = outs.next().unwrap_or_default();
        series::clamp_nonneg(&mut value);
        let deriv = outs.next().map(|mut v| {
            series::clamp_nonneg(&mut v);
            v
        });
        Ok(Some(Composition {
            value,
            derivative: deriv,
            value_error: 0.0,
            derivative_error: 0.0,
            derivative_spectrum: None,
        }))
    }
}

/// Composition for a continuous piecewise-linear dual: exact re-expansion where it applies,
/// else the generic Hermite path of `src`.
fn compose_piecewise(
    pd: &PlDual,
    src: &dyn HermiteSource,
    q: f64,
    c: &[f64],
    one_minus_c0: Option<f64>,
    derivative: bool,
    cancel: Cancel,
) -> Result<Composition> {
    check_q_positive(q)?;
    if c.is_empty() {
        return compose_hermite(src, q, c, derivative, cancel);
    }
    let layer = pd.layer(q)?;
    let inner = inner_info(c)?;
    if inner.d == usize::MAX || 1.0 - inner.c0 <= 0.0 {
        return constant_composition(&layer, inner.c0, c.len(), derivative);
    }
    match pd.compose(&layer, c, one_minus_c0, derivative, cancel)? {
        Some(comp) => Ok(comp),
        None => compose_hermite(src, q, c, derivative, cancel),
    }
}

impl HermiteSource for PiecewiseLinear {
    fn name(&self) -> String {
        format!("piecewise_linear({} kinks)", self.kinks.len())
    }
    fn coefficients(&self, degree: usize, q: f64) -> Result<HermiteCoefficients> {
        PiecewiseLinear::coefficients(self, degree, q)
    }
    fn second_moment(&self, q: f64) -> Result<f64> {
        self.validate()?;
        check_q_positive(q)?;
        Ok(PiecewiseLinear::second_moment(self, q))
    }
    fn derivative_second_moment(&self, q: f64) -> Result<f64> {
        PiecewiseLinear::derivative_second_moment(self, q)
    }
    fn exact(&self) -> bool {
        true
    }
}

/// Any [`PiecewiseLinear`] activation: exact closed-form duals (bivariate normal
/// orthant probabilities, see [`PlDual`]) and exact series compositions when it is
/// continuous; the generic Hermite path (NNGP only: `E[φ'²] = ∞`) when it jumps.
impl Dual for PiecewiseLinear {
    fn name(&self) -> String {
        HermiteSource::name(self)
    }
    fn psi_one(&self, q: f64) -> Result<f64> {
        HermiteSource::second_moment(self, q)
    }
    fn psi_dot_one(&self, q: f64) -> Result<f64> {
        PiecewiseLinear::derivative_second_moment(self, q)
    }
    fn psi(&self, cov: f64, q1: f64, q2: f64) -> Result<f64> {
        match PlDual::new(self)? {
            Some(pd) => pd.general(cov, q1, q2, false),
            None => hermite_psi_general(self, cov, q1, q2, false),
        }
    }
    fn psi_dot(&self, cov: f64, q1: f64, q2: f64) -> Result<f64> {
        match PlDual::new(self)? {
            Some(pd) => pd.general(cov, q1, q2, true),
            None => {
                PiecewiseLinear::derivative_second_moment(self, 1.0)?;
                hermite_psi_general(self, cov, q1, q2, true)
            }
        }
    }
    fn layer(&self, q: f64) -> Result<Box<dyn LayerDual>> {
        match PlDual::new(self)? {
            Some(pd) => Ok(Box::new(pd.layer(q)?)),
            None => Ok(Box::new(hermite_layer(self, q)?)),
        }
    }
    fn compose(&self, q: f64, c: &[f64], derivative: bool, cancel: Cancel) -> Result<Composition> {
        match PlDual::new(self)? {
            Some(pd) => compose_piecewise(&pd, self, q, c, None, derivative, cancel),
            None => compose_hermite(self, q, c, derivative, cancel),
        }
    }
    fn compose_with_complement(
        &self,
        q: f64,
        c: &[f64],
        one_minus_c0: f64,
        derivative: bool,
        cancel: Cancel,
    ) -> Result<Composition> {
        match PlDual::new(self)? {
            Some(pd) => compose_piecewise(&pd, self, q, c, Some(one_minus_c0), derivative, cancel),
            None => compose_hermite(self, q, c, derivative, cancel),
        }
    }
    fn uses_complement(&self) -> bool {
        self.is_continuous()
    }
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

    // ---- continuous piecewise-linear activations (exact duals) ----

    fn pl_cases() -> Vec<(String, PiecewiseLinear)> {
        vec![
            ("hardtanh".into(), ClosedForm::HardTanh.piecewise().unwrap()),
            ("relu6".into(), ClosedForm::Relu6.piecewise().unwrap()),
            (
                "three-kink".into(),
                // continuous: pieces meet at -1.3, 0.4, 2.0
                PiecewiseLinear::new(
                    vec![-1.3, 0.4, 2.0],
                    vec![0.5 + 0.1 * -1.3 - 2.0 * -1.3, 0.0, 0.0, 0.0],
                    vec![0.1, 2.0, -0.7, 0.25],
                )
                .map(|p| {
                    // fix intercepts for continuity from the left piece
                    let mut p = p;
                    p.intercepts[0] = 0.5;
                    for i in 0..3 {
                        let t = p.kinks[i];
                        let v = p.intercepts[i] + p.slopes[i] * t;
                        p.intercepts[i + 1] = v - p.slopes[i + 1] * t;
                    }
                    p
                })
                .unwrap(),
            ),
        ]
    }

    /// Independent reference: `E[φ(u)φ(v)] = ∫ ϕ(x) φ(s₁x) E[φ(v) | x] dx`, with the
    /// conditional Gaussian mean of the ramps in closed form (univariate), integrated by
    /// composite Gauss–Legendre split at the kinks. Same for `φ'`.
    fn conditional_reference(pl: &PiecewiseLinear, q1: f64, q2: f64, c: f64) -> (f64, f64) {
        let (s1, s2) = (q1.sqrt(), q2.sqrt());
        let sv = s2 * ((1.0 - c) * (1.0 + c)).max(0.0).sqrt();
        let (a, b) = (pl.intercepts[0], pl.slopes[0]);
        let ramps: Vec<(f64, f64)> = (0..pl.kinks.len())
            .map(|i| (pl.kinks[i], pl.slopes[i + 1] - pl.slopes[i]))
            .collect();
        let cond = |x: f64| -> (f64, f64) {
            let mu = s2 * c * x;
            if sv == 0.0 {
                return (pl.eval(mu), pl.eval_derivative(mu));
            }
            let mut m = a + b * mu;
            let mut md = b;
            for &(t, d) in &ramps {
                let z = (t - mu) / sv;
                let tail = 0.5 * libm::erfc(z / std::f64::consts::SQRT_2);
                let pdf = (-0.5 * z * z).exp() / (2.0 * PI).sqrt();
                m += d * sv * (pdf - z * tail);
                md += d * tail;
            }
            (m, md)
        };
        let (gx, gw) = crate::quadrature::gauss_legendre(30);
        let mut brk: Vec<f64> = pl.kinks.iter().map(|t| t / s1).collect();
        // where the conditional mean of v crosses a kink (a transition of width sv/(s2|c|))
        if c != 0.0 {
            let wdt = sv / (s2 * c.abs());
            for t in &pl.kinks {
                let x0 = t / (s2 * c);
                brk.push(x0);
                if sv == 0.0 {
                    continue;
                }
                for f in [1.0, 3.0, 10.0, 30.0, 100.0, 300.0] {
                    brk.push(x0 - f * wdt);
                    brk.push(x0 + f * wdt);
                }
            }
        }
        brk.push(-14.0);
        brk.push(14.0);
        brk.retain(|v| v.abs() <= 14.0);
        brk.sort_by(|x, y| x.partial_cmp(y).unwrap());
        brk.dedup();
        let (mut v, mut d) = (0.0, 0.0);
        for wnd in brk.windows(2) {
            let m = ((wnd[1] - wnd[0]) / 0.25).ceil().max(1.0) as usize;
            for piece in 0..m {
                let lo = wnd[0] + (wnd[1] - wnd[0]) * piece as f64 / m as f64;
                let hi = wnd[0] + (wnd[1] - wnd[0]) * (piece + 1) as f64 / m as f64;
                for (&xi, &wi) in gx.iter().zip(&gw) {
                    let x = 0.5 * (hi - lo) * xi + 0.5 * (hi + lo);
                    let wt = 0.5 * (hi - lo) * wi * (-0.5 * x * x).exp() / (2.0 * PI).sqrt();
                    let (m, md) = cond(x);
                    v += wt * pl.eval(s1 * x) * m;
                    d += wt * pl.eval_derivative(s1 * x) * md;
                }
            }
        }
        (v, d)
    }

    #[test]
    fn piecewise_linear_duals_match_conditional_quadrature() {
        let mut worst = 0.0f64;
        for (name, pl) in pl_cases() {
            assert!(pl.is_continuous(), "{name}");
            for &(q1, q2) in &[(1.0, 1.0), (0.5, 2.0), (3.0, 3.0), (0.2, 0.2)] {
                let scale = pl.second_moment(q1).sqrt() * pl.second_moment(q2).sqrt();
                for &c in &[
                    -1.0, -0.999999, -0.97, -0.6, -0.1, 0.0, 0.35, 0.8, 0.95, 0.999999, 1.0,
                ] {
                    let s = c * (q1 * q2).sqrt();
                    // the reference at the correlation the implementation sees (ψ̇ has a
                    // square-root sensitivity at c = ±1)
                    let cc = Correlation::from_covariance(s, q1, q2).unwrap().c;
                    let (rv, rd) = conditional_reference(&pl, q1, q2, cc);
                    let v = Dual::psi(&pl, s, q1, q2).unwrap();
                    let d = Dual::psi_dot(&pl, s, q1, q2).unwrap();
                    worst = worst.max((v - rv).abs() / scale).max((d - rd).abs());
                    assert!(
                        (v - rv).abs() <= 1e-13 * scale,
                        "{name} q=({q1},{q2}) c={c}: psi {v} vs {rv}"
                    );
                    assert!(
                        (d - rd).abs() <= 1e-13,
                        "{name} q=({q1},{q2}) c={c}: psi_dot {d} vs {rd}"
                    );
                }
            }
            // closed forms agree with the Hermite series where it converges fast
            for &c in &[-0.7, 0.2, 0.6] {
                let (q1, q2) = (1.3, 0.6);
                let a = pl.coefficients(4000, q1).unwrap().mu;
                let b = pl.coefficients(4000, q2).unwrap().mu;
                let hv: f64 = (0..=4000).rev().fold(0.0, |acc, k| acc * c + a[k] * b[k]);
                let v = Dual::psi(&pl, c * (q1 * q2).sqrt(), q1, q2).unwrap();
                assert!((v - hv).abs() < 1e-12, "{name} c={c}: {v} vs Hermite {hv}");
            }
        }
        eprintln!("worst {worst:e}");
    }

    #[test]
    fn piecewise_linear_layer_complements() {
        for (name, pl) in pl_cases() {
            for &q in &[1.0, 0.4, 4.0] {
                let layer = Dual::layer(&pl, q).unwrap();
                let one = pl.second_moment(q);
                let dd1 = pl.derivative_second_moment(q).unwrap();
                for &c in &[
                    -1.0, -0.99, -0.7, -0.5, -0.3, 0.0, 0.4, 0.5, 0.75, 0.99, 1.0,
                ] {
                    let v = layer.eval(Correlation::new(c).unwrap()).unwrap();
                    let tol = 2e-14 * one.max(1.0);
                    assert!(
                        (v.psi_gap - (one - v.psi)).abs() <= tol,
                        "{name} q={q} c={c}: gap {} vs {}",
                        v.psi_gap,
                        one - v.psi
                    );
                    assert!(
                        (v.psi_plus - (one + v.psi)).abs() <= tol,
                        "{name} q={q} c={c}: plus {} vs {}",
                        v.psi_plus,
                        one + v.psi
                    );
                }
                let v1 = layer.eval(Correlation::new(1.0).unwrap()).unwrap();
                assert!((v1.psi - one).abs() <= 1e-14 * one.max(1.0));
                assert!((v1.psi_dot - dd1).abs() <= 1e-14);
                // next to the diagonal the gap keeps its relative accuracy:
                // gap(1 − δ) = q ∫_{1−δ}^1 ψ̇ = q δ ψ̇(1) − O(δ^{3/2})
                for &delta in &[1e-6, 1e-10, 1e-14] {
                    let v = layer
                        .eval(Correlation::from_complements(delta, 2.0 - delta))
                        .unwrap();
                    let first = q * delta * dd1;
                    assert!(
                        ((v.psi_gap - first) / first).abs() < 3.0 * delta.sqrt(),
                        "{name} q={q} δ={delta}: {} vs {first}",
                        v.psi_gap
                    );
                    // and matches q ∫ ψ̇ by quadrature of the closed form
                    let (gx, gw) = crate::quadrature::gauss_legendre(40);
                    let mut integ = 0.0;
                    for (&x, &w) in gx.iter().zip(&gw) {
                        // t = 1 − u², u ∈ [0, √δ]
                        let u = 0.5 * delta.sqrt() * (x + 1.0);
                        let corr = Correlation::from_complements(u * u, 2.0 - u * u);
                        let dv = layer.eval(corr).unwrap().psi_dot;
                        integ += 0.5 * delta.sqrt() * w * 2.0 * u * dv;
                    }
                    assert!(
                        ((v.psi_gap - q * integ) / (q * integ)).abs() < 1e-12,
                        "{name} q={q} δ={delta}: {} vs {}",
                        v.psi_gap,
                        q * integ
                    );
                }
            }
        }
    }

    #[test]
    fn piecewise_linear_reexpansion_matches_exact_hermite_taylor_shift() {
        // one layer, c = c0 + (1 − c0) ρ^k-like inner series: the exact re-expansion about c0
        // against the Taylor shift of the exact Hermite coefficients with K large enough
        let n = 121;
        for (name, pl) in pl_cases() {
            for &q in &[1.0, 2.0] {
                for &c0 in &[0.6, 0.9, 0.99] {
                    let p = 1.0 - c0;
                    let mut c = vec![0.0; n];
                    c[0] = c0;
                    c[1] = 0.5 * p;
                    c[3] = 0.3 * p;
                    c[7] = 0.2 * p;
                    let exact = Dual::compose(&pl, q, &c, true, &never_cancel).unwrap();
                    let generic = compose_hermite(&pl, q, &c, true, &never_cancel).unwrap();
                    assert!(
                        generic.value_error < 1e-13 && generic.derivative_error < 1e-12,
                        "{name}: generic bound {} {}",
                        generic.value_error,
                        generic.derivative_error
                    );
                    let ed = exact.derivative.as_ref().unwrap();
                    let gd = generic.derivative.as_ref().unwrap();
                    for k in 0..n {
                        let (a, b) = (exact.value[k], generic.value[k]);
                        assert!(
                            (a - b).abs() <= 1e-11 * b.abs() + 1e-300,
                            "{name} q={q} c0={c0} k={k}: {a} vs {b}"
                        );
                        assert!(
                            (ed[k] - gd[k]).abs() <= 1e-11 * gd[k].abs() + 1e-300,
                            "{name} q={q} c0={c0} k={k}: d {} vs {}",
                            ed[k],
                            gd[k]
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
