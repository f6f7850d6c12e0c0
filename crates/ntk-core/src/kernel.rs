//! The NTK and NNGP of a deep fully connected network as power series in the input
//! correlation `ρ` (DESIGN §1.1, §1.3) and as exact functions of `ρ` (§1.4).
//!
//! # Network
//!
//! Depth `L ≥ 1` hidden layers, activation `φ` (any [`Dual`]), first affine layer with
//! variances `γ_w², γ_b²` (`input_weight_var`, `input_bias_var`), every later affine layer
//! (read-out included) with `σ_w², σ_b²` (`weight_var`, `bias_var`). Layer variances:
//! `q_1 = γ_w² + γ_b²`, `q_{l+1} = σ_w² E[φ(√q_l Z)²] + σ_b²`.
//!
//! # Series recursion (divide by `q_l` first)
//!
//! ```text
//! a_1 = γ_b² + γ_w² ρ,            Θ_1 = a_1,
//! a_{l+1} = σ_w² ψ_{q_l}(a_l/q_l) + σ_b²,   ȧ_{l+1} = σ_w² ψ̇_{q_l}(a_l/q_l),
//! Θ_{l+1} = a_{l+1} + Θ_l · ȧ_{l+1},
//! NNGP = a_{L+1} = Σ_p ν_p ρ^p,    NTK = Θ_{L+1} = Σ_p κ_p ρ^p,
//! ```
//!
//! all coefficients `≥ 0`. Exact diagonal values come from the scalar recursion at `ρ = 1`:
//! `NNGP(1) = q_{L+1}`, `Θ_1(1) = q_1`, `Θ_{l+1}(1) = q_{l+1} + Θ_l(1) σ_w² E[φ'(√q_l Z)²]`.
//! Because every coefficient is non-negative and every approximation made (degree cut at `P`,
//! Hermite sums cut at `K`) only leaves out non-negative terms,
//!
//! ```text
//! sup_{ρ∈[−1,1]} |Θ(ρ) − Σ_{p≤P} κ̃_p ρ^p|  ≤  Θ(1) − Σ_{p≤P} κ̃_p   (+ round-off),
//! ```
//!
//! which is the reported [`KernelSeries::ntk_truncation_bound`] (it also bounds every
//! `|κ_p − κ̃_p|`); likewise for the NNGP.
use std::sync::Arc;

use rayon::prelude::*;

use crate::dual::{Correlation, Dual, LayerDual};
use crate::error::{NtkError, Result};
use crate::series::{self, fmt_num, Cancel, Evaluation};

/// Largest depth accepted.
pub const MAX_DEPTH: usize = 100_000;
/// Largest series degree accepted (`degree > MAX_SERIES_DEGREE` is an error).
pub const MAX_SERIES_DEGREE: usize = 1_000_000;
/// Largest number of coefficients kept with [`SeriesOptions::keep_layers`] (2 GiB of `f64`);
/// beyond it [`Network::series`] refuses with `TooLarge` before allocating.
pub const MAX_KEPT_COEFFICIENTS: f64 = 268_435_456.0;

/// A deep fully connected network in the infinite-width limit (NTK parameterization).
#[derive(Debug, Clone)]
pub struct Network {
    activation: Arc<dyn Dual>,
    depth: usize,
    weight_var: f64,
    bias_var: f64,
    input_weight_var: f64,
    input_bias_var: f64,
}

fn check_var(name: &str, v: f64) -> Result<()> {
    if v.is_nan() || v.is_infinite() {
        return Err(NtkError::InvalidArgument(format!(
            "{name} must be a finite number >= 0, got {}",
            fmt_num(v)
        )));
    }
    if v < 0.0 {
        return Err(NtkError::InvalidArgument(format!(
            "{name} must be >= 0 (it is a variance), got {}",
            fmt_num(v)
        )));
    }
    Ok(())
}

fn check_depth(depth: usize) -> Result<()> {
    if depth < 1 {
        return Err(NtkError::InvalidArgument(
            "depth must be >= 1 (the number of hidden layers), got 0".into(),
        ));
    }
    if depth > MAX_DEPTH {
        return Err(NtkError::InvalidArgument(format!(
            "depth {depth} is too large (at most {MAX_DEPTH})"
        )));
    }
    Ok(())
}

fn check_degree(degree: usize) -> Result<()> {
    if degree > MAX_SERIES_DEGREE {
        return Err(NtkError::InvalidArgument(format!(
            "series degree {degree} is too large (at most {MAX_SERIES_DEGREE})"
        )));
    }
    Ok(())
}

/// Options of [`Network::series`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeriesOptions {
    /// Compute the NTK (needs `E[φ'²] < ∞`; `false`: NNGP only, e.g. for the step function).
    pub ntk: bool,
    /// Keep every layer's series (`a_l`, `ȧ_l`, `Θ_l`).
    pub keep_layers: bool,
}

impl Default for SeriesOptions {
    fn default() -> Self {
        SeriesOptions {
            ntk: true,
            keep_layers: false,
        }
    }
}

/// One layer's series (`l = 1 … L+1`).
#[derive(Debug, Clone, PartialEq)]
pub struct LayerSeries {
    /// `q_l = Σ_l(x, x)`.
    pub q: f64,
    /// Coefficients of `a_l = Σ_l(ρ)` (the NNGP of depth `l − 1`).
    pub nngp: Vec<f64>,
    /// Coefficients of `ȧ_l = Σ̇_l(ρ)` (`None` for `l = 1` and when the NTK is not computed).
    pub derivative: Option<Vec<f64>>,
    /// Coefficients of `Θ_l(ρ)` (`None` when the NTK is not computed).
    pub ntk: Option<Vec<f64>>,
}

/// NTK/NNGP power series of a network, with exact diagonal values and bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelSeries {
    /// The degree `P` (coefficients `0..=P`).
    pub degree: usize,
    /// `κ_0 … κ_P` (NTK), if computed.
    pub ntk: Option<Vec<f64>>,
    /// `ν_0 … ν_P` (NNGP).
    pub nngp: Vec<f64>,
    /// Exact `Θ(1) = Σ_p κ_p` (scalar recursion), if the NTK was computed.
    pub ntk_at_one: Option<f64>,
    /// Exact `NNGP(1) = q_{L+1}`.
    pub nngp_at_one: f64,
    /// `sup_{|ρ|≤1} |NTK(ρ) − Σ_{p≤P} κ̃_p ρ^p| ≤ Θ(1) − Σ κ̃_p` plus a round-off allowance
    /// (also a bound on each `|κ_p − κ̃_p|`).
    pub ntk_truncation_bound: Option<f64>,
    /// The same for the NNGP.
    pub nngp_truncation_bound: f64,
    /// Part of the deficit due to the compositions themselves (Hermite sums cut at `K`,
    /// tabulated coefficient errors), propagated through the layers to first order; 0 for
    /// closed-form activations. Already contained in the truncation bounds.
    pub ntk_composition_error: Option<f64>,
    /// The same for the NNGP.
    pub nngp_composition_error: f64,
    /// `q_1 … q_{L+1}`.
    pub variances: Vec<f64>,
    /// Every layer's series, if requested.
    pub layers: Option<Vec<LayerSeries>>,
}

impl KernelSeries {
    /// `Σ_p κ_p ρ^p` with a bound on `|NTK(ρ) − value|` (truncation bound + Horner
    /// round-off). Errors if the NTK was not computed or `|ρ| > 1`.
    pub fn evaluate_ntk(&self, rho: f64) -> Result<Evaluation> {
        let rho = check_rho(rho)?;
        match (&self.ntk, self.ntk_truncation_bound) {
            (Some(k), Some(b)) => {
                let e = series::horner(k, rho);
                Ok(Evaluation {
                    value: e.value,
                    error_bound: e.error_bound + b,
                })
            }
            _ => Err(NtkError::Unsupported(
                "the NTK series was not computed (NNGP only)".into(),
            )),
        }
    }

    /// `Σ_p ν_p ρ^p` with a bound on `|NNGP(ρ) − value|`.
    pub fn evaluate_nngp(&self, rho: f64) -> Result<Evaluation> {
        let rho = check_rho(rho)?;
        let e = series::horner(&self.nngp, rho);
        Ok(Evaluation {
            value: e.value,
            error_bound: e.error_bound + self.nngp_truncation_bound,
        })
    }
}

fn check_rho(rho: f64) -> Result<f64> {
    if !rho.is_finite() {
        return Err(NtkError::NonFinite(format!(
            "the input correlation rho must be finite, got {rho}"
        )));
    }
    if rho.abs() > 1.0 + 1e-12 {
        return Err(NtkError::InvalidArgument(format!(
            "the input correlation rho = <x, y> must lie in [-1, 1] (unit-norm inputs), got {}",
            fmt_num(rho)
        )));
    }
    Ok(rho.clamp(-1.0, 1.0))
}

/// Round-off allowance added to the truncation bounds (an estimate, see module docs):
/// naive products are relatively accurate (`≲ n ε` per coefficient and layer), FFT products
/// absolutely (`≈ ε log₂N ‖a‖‖b‖` per coefficient).
fn roundoff_allowance(value_at_one: f64, depth: usize, n: usize) -> f64 {
    let eps = f64::EPSILON;
    let l = (depth + 1) as f64;
    let nf = n as f64;
    let naive = 8.0 * eps * l * (nf + 64.0);
    let fft = if n > series::EXACT_LEN {
        10.0 * eps * l * nf * (2.0 * nf).log2()
    } else {
        0.0
    };
    value_at_one.abs() * (naive + fft)
}

impl Network {
    /// The unit-variance default (DESIGN §1.1): `γ_w² = 1`, `γ_b² = 0`, `σ_b² = 0`,
    /// `σ_w² = 1/E[φ(Z)²]` (ReLU: 2), so `q_l = 1` for every layer.
    pub fn new(activation: Arc<dyn Dual>, depth: usize) -> Result<Self> {
        Network::from_options(activation, depth, None, None, 1.0, 0.0)
    }

    /// Unit variance with a bias: `σ_w² = (1 − σ_b²)/E[φ(Z)²]`, `γ_w² = 1`, `γ_b² = 0`.
    /// `Domain` error if `σ_b² ≥ 1` (no room left for the weights).
    pub fn with_bias_var(activation: Arc<dyn Dual>, depth: usize, bias_var: f64) -> Result<Self> {
        Network::from_options(activation, depth, None, Some(bias_var), 1.0, 0.0)
    }

    /// The general case: all four variances given (`q_l` need not be 1).
    pub fn general(
        activation: Arc<dyn Dual>,
        depth: usize,
        weight_var: f64,
        bias_var: f64,
        input_weight_var: f64,
        input_bias_var: f64,
    ) -> Result<Self> {
        Network::from_options(
            activation,
            depth,
            Some(weight_var),
            Some(bias_var),
            input_weight_var,
            input_bias_var,
        )
    }

    /// The Python constructor's semantics: neither `weight_var` nor `bias_var` → unit-variance
    /// default (`σ_b² = 0`, `σ_w² = 1/E[φ(Z)²]`); `bias_var` alone → `σ_w² = (1 − σ_b²)/E[φ(Z)²]`
    /// (`Domain` error if `σ_b² ≥ 1`); `weight_var` given → general case (`σ_b² = 0` if absent).
    /// Errors: negative/NaN/infinite variances, `depth < 1`, `γ_w² + γ_b² = 0`, a layer
    /// variance that is 0 or overflows, or an activation that cannot be evaluated at some
    /// `q_l` (e.g. coefficient-only activations at `q ≠ 1`).
    pub fn from_options(
        activation: Arc<dyn Dual>,
        depth: usize,
        weight_var: Option<f64>,
        bias_var: Option<f64>,
        input_weight_var: f64,
        input_bias_var: f64,
    ) -> Result<Self> {
        check_depth(depth)?;
        check_var("input_weight_var", input_weight_var)?;
        check_var("input_bias_var", input_bias_var)?;
        if let Some(w) = weight_var {
            check_var("weight_var", w)?;
        }
        if let Some(b) = bias_var {
            check_var("bias_var", b)?;
        }
        let (weight_var, bias_var) = match (weight_var, bias_var) {
            (Some(w), b) => (w, b.unwrap_or(0.0)),
            (None, b) => {
                let b = b.unwrap_or(0.0);
                let m = activation.psi_one(1.0)?;
                if !m.is_finite() || m <= 0.0 {
                    return Err(NtkError::Domain(format!(
                        "unit variance is impossible for {}: E[phi(Z)^2] = {}",
                        activation.name(),
                        fmt_num(m)
                    )));
                }
                if b >= 1.0 {
                    return Err(NtkError::Domain(format!(
                        "unit variance is impossible with bias_var = {} >= 1: weight_var = \
                         (1 - bias_var)/E[phi(Z)^2] = ({})/{} would not be positive; lower \
                         bias_var or give weight_var explicitly",
                        fmt_num(b),
                        fmt_num(1.0 - b),
                        fmt_num(m)
                    )));
                }
                ((1.0 - b) / m, b)
            }
        };
        let net = Network {
            activation,
            depth,
            weight_var,
            bias_var,
            input_weight_var,
            input_bias_var,
        };
        net.variances()?;
        Ok(net)
    }

    /// Edge of chaos at the fixed point `q`: `σ_w² = 1/E[φ'(√q Z)²]`,
    /// `σ_b² = q − σ_w² E[φ(√q Z)²]`, input layer `γ_w² = q`, `γ_b² = 0` (so `q_l = q` for every
    /// layer). `Domain` error if `σ_b² < 0` (no edge of chaos at this `q`) or `E[φ'²]` is
    /// infinite/zero.
    pub fn edge_of_chaos(activation: Arc<dyn Dual>, depth: usize, q: f64) -> Result<Self> {
        check_depth(depth)?;
        if !q.is_finite() || q <= 0.0 {
            return Err(NtkError::InvalidArgument(format!(
                "the edge-of-chaos fixed point q must be finite and > 0, got {}",
                fmt_num(q)
            )));
        }
        let d = activation.psi_dot_one(q)?;
        if !d.is_finite() || d <= 0.0 {
            return Err(NtkError::Domain(format!(
                "no edge of chaos for {} at q = {}: E[phi'(sqrt(q) Z)^2] = {}",
                activation.name(),
                fmt_num(q),
                fmt_num(d)
            )));
        }
        let w = 1.0 / d;
        let m = activation.psi_one(q)?;
        let b = q - w * m;
        if b < -1e-12 * q {
            return Err(NtkError::Domain(format!(
                "no edge of chaos for {} at q = {qs}: weight_var = 1/E[phi'^2] = {ws} gives \
                 bias_var = q - weight_var E[phi^2] = {qs} - {ws} * {} = {} < 0",
                activation.name(),
                fmt_num(m),
                fmt_num(b),
                qs = fmt_num(q),
                ws = fmt_num(w)
            )));
        }
        Network::from_options(activation, depth, Some(w), Some(b.max(0.0)), q, 0.0)
    }

    /// The activation.
    pub fn activation(&self) -> &Arc<dyn Dual> {
        &self.activation
    }
    /// Number of hidden layers `L`.
    pub fn depth(&self) -> usize {
        self.depth
    }
    /// `σ_w²`.
    pub fn weight_var(&self) -> f64 {
        self.weight_var
    }
    /// `σ_b²`.
    pub fn bias_var(&self) -> f64 {
        self.bias_var
    }
    /// `γ_w²`.
    pub fn input_weight_var(&self) -> f64 {
        self.input_weight_var
    }
    /// `γ_b²`.
    pub fn input_bias_var(&self) -> f64 {
        self.input_bias_var
    }

    /// `q_1 … q_{L+1}`: `q_1 = γ_w² + γ_b²`, `q_{l+1} = σ_w² E[φ(√q_l Z)²] + σ_b²`.
    pub fn variances(&self) -> Result<Vec<f64>> {
        variance_map(
            self.depth,
            self.weight_var,
            self.bias_var,
            self.input_weight_var,
            self.input_bias_var,
            &mut |q| self.activation.psi_one(q),
        )
    }

    /// Exact `NNGP(1) = q_{L+1}`.
    pub fn nngp_at_one(&self) -> Result<f64> {
        Ok(*self.variances()?.last().unwrap_or(&0.0))
    }

    /// Exact `Θ(1)` from `Θ_{l+1}(1) = q_{l+1} + Θ_l(1) σ_w² E[φ'(√q_l Z)²]`.
    /// `Domain` error if `E[φ'²]` is infinite (step function).
    pub fn ntk_at_one(&self) -> Result<f64> {
        let qs = self.variances()?;
        self.ntk_one_from(&qs)
    }

    fn ntk_one_from(&self, qs: &[f64]) -> Result<f64> {
        let mut t = qs[0];
        for l in 0..self.depth {
            let d = self.activation.psi_dot_one(qs[l])?;
            t = qs[l + 1] + t * self.weight_var * d;
        }
        if !t.is_finite() {
            return Err(NtkError::NonFinite(format!(
                "the NTK on the diagonal overflows ({}); lower weight_var (or the activation's \
                 scale)",
                fmt_num(t)
            )));
        }
        Ok(t)
    }

    /// The NTK/NNGP power series to degree `degree` (see the module docs), with the exact
    /// diagonal values and the truncation bounds. `cancel` is polled between layers and
    /// inside long compositions (→ `Interrupted`).
    pub fn series(
        &self,
        degree: usize,
        options: SeriesOptions,
        cancel: Cancel,
    ) -> Result<KernelSeries> {
        check_degree(degree)?;
        let qs = self.variances()?;
        let depth = self.depth;
        let n = degree + 1;
        if options.keep_layers && (depth as f64 + 1.0) * 3.0 * n as f64 > MAX_KEPT_COEFFICIENTS {
            return Err(NtkError::TooLarge(format!(
                "keeping every layer's series needs {} coefficients ({} layers x 3 series x {n}); \
                 at most {MAX_KEPT_COEFFICIENTS:e} are allowed: ask without keep_layers or for a \
                 lower degree",
                (depth + 1) * 3 * n,
                depth + 1
            )));
        }
        let want_ntk = options.ntk;
        let (w, b) = (self.weight_var, self.bias_var);
        let nngp_one = qs[depth];
        let ntk_one = if want_ntk {
            Some(self.ntk_one_from(&qs)?)
        } else {
            None
        };
        // D_l = E[φ'(√q_l Z)²] for the first-order error propagation
        let dmom: Vec<f64> = if want_ntk {
            (0..depth)
                .map(|l| self.activation.psi_dot_one(qs[l]))
                .collect::<Result<_>>()?
        } else {
            (0..depth)
                .map(|l| self.activation.psi_dot_one(qs[l]).unwrap_or(f64::INFINITY))
                .collect()
        };

        let mut a = vec![0.0; n];
        a[0] = self.input_bias_var;
        if n > 1 {
            a[1] = self.input_weight_var;
        }
        let mut theta = want_ntk.then(|| a.clone());
        let mut layers = options.keep_layers.then(|| {
            vec![LayerSeries {
                q: qs[0],
                nngp: a.clone(),
                derivative: None,
                ntk: theta.clone(),
            }]
        });
        let mut err_a = 0.0f64; // missing mass of a_l
        let mut err_t = 0.0f64; // missing mass of Θ_l
        let mut theta_one = qs[0];
        // 1 − c_0 of the current layer to full relative accuracy, for activations whose
        // compositions use it (see Dual::compose_with_complement)
        let use_om = self.activation.uses_complement();
        let mut om = self.input_weight_var / qs[0];
        for l in 0..depth {
            series::check(cancel)?;
            let q = qs[l];
            let c: Vec<f64> = a.iter().map(|v| (v / q).max(0.0)).collect();
            let comp = if use_om {
                let comp = self
                    .activation
                    .compose_with_complement(q, &c, om, want_ntk, cancel)?;
                let layer = self.activation.layer(q)?;
                let v = layer.eval(Correlation::from_complements(om, 2.0 - om))?;
                om = w * v.psi_gap / qs[l + 1];
                comp
            } else {
                self.activation.compose(q, &c, want_ntk, cancel)?
            };
            let mut a_next: Vec<f64> = comp.value.iter().map(|v| w * v).collect();
            a_next.resize(n, 0.0);
            a_next[0] += b;
            let prop = if err_a > 0.0 { dmom[l] * err_a } else { 0.0 };
            let err_a_next = w * (comp.value_error + prop);
            let mut adot_keep = None;
            if let (true, Some(th)) = (want_ntk, theta.as_ref()) {
                let d = comp.derivative.as_deref().unwrap_or(&[]);
                // Θ_l · ȧ_{l+1} = σ_w² Θ_l · (ψ̇∘c): the product with d[..n−1] reuses the
                // composition's transform of it, the last coefficient d_{n−1} only meets Θ_0
                let mut spec = comp.derivative_spectrum;
                let prod = if d.len() == n && n > 1 {
                    let mut p = series::mul_nonneg_shared(th, &d[..n - 1], n, &mut None, &mut spec);
                    p[n - 1] += th[0] * d[n - 1];
                    p
                } else {
                    series::mul_nonneg(th, d, n)
                };
                let t_next: Vec<f64> = a_next.iter().zip(&prod).map(|(x, y)| x + w * y).collect();
                let adot: Vec<f64> = if options.keep_layers {
                    d.iter().map(|v| w * v).collect()
                } else {
                    Vec::new()
                };
                err_t = err_a_next + err_t * w * dmom[l] + theta_one * w * comp.derivative_error;
                theta_one = qs[l + 1] + theta_one * w * dmom[l];
                theta = Some(t_next);
                if options.keep_layers {
                    adot_keep = Some(adot);
                }
            }
            err_a = err_a_next;
            a = a_next;
            if let Some(ls) = layers.as_mut() {
                ls.push(LayerSeries {
                    q: qs[l + 1],
                    nngp: a.clone(),
                    derivative: adot_keep,
                    ntk: theta.clone(),
                });
            }
        }
        let nngp_sum = series::sum(&a);
        let nngp_bound = (nngp_one - nngp_sum).max(0.0) + roundoff_allowance(nngp_one, depth, n);
        let (ntk_bound, ntk_err) = match (&theta, ntk_one) {
            (Some(t), Some(one)) => {
                let s = series::sum(t);
                (
                    Some((one - s).max(0.0) + roundoff_allowance(one, depth, n)),
                    Some(err_t),
                )
            }
            _ => (None, None),
        };
        Ok(KernelSeries {
            degree,
            ntk: theta,
            nngp: a,
            ntk_at_one: ntk_one,
            nngp_at_one: nngp_one,
            ntk_truncation_bound: ntk_bound,
            nngp_truncation_bound: nngp_bound,
            ntk_composition_error: ntk_err,
            nngp_composition_error: err_a,
            variances: qs,
            layers,
        })
    }

    /// `κ_0 … κ_degree`.
    pub fn ntk_coefficients(&self, degree: usize) -> Result<Vec<f64>> {
        let s = self.series(degree, SeriesOptions::default(), &series::never_cancel)?;
        s.ntk
            .ok_or_else(|| NtkError::Unsupported("NTK series not computed".into()))
    }

    /// `ν_0 … ν_degree` (NNGP).
    pub fn nngp_coefficients(&self, degree: usize) -> Result<Vec<f64>> {
        let opts = SeriesOptions {
            ntk: false,
            keep_layers: false,
        };
        Ok(self.series(degree, opts, &series::never_cancel)?.nngp)
    }

    /// A prepared exact evaluator of the kernels as functions of `ρ` (per-layer duals at the
    /// fixed variances `q_l`). With `ntk = false` only the NNGP is available (step function).
    pub fn pointwise(&self, ntk: bool) -> Result<PointwiseKernel> {
        let qs = self.variances()?;
        let ntk_one = if ntk {
            Some(self.ntk_one_from(&qs)?)
        } else {
            None
        };
        let layers = (0..self.depth)
            .map(|l| self.activation.layer(qs[l]))
            .collect::<Result<Vec<_>>>()?;
        Ok(PointwiseKernel {
            layers,
            nngp_one: qs[self.depth],
            variances: qs,
            weight_var: self.weight_var,
            bias_var: self.bias_var,
            input_weight_var: self.input_weight_var,
            input_bias_var: self.input_bias_var,
            ntk_one,
        })
    }

    /// Exact `NTK(ρ)` by the layer recursion (prepares the duals each call; for many points
    /// use [`pointwise`](Self::pointwise)).
    pub fn ntk_at(&self, rho: f64) -> Result<f64> {
        Ok(self.pointwise(true)?.ntk_nngp(rho)?.0)
    }

    /// Exact `NNGP(ρ)`.
    pub fn nngp_at(&self, rho: f64) -> Result<f64> {
        self.pointwise(false)?.nngp(rho)
    }
}

/// The variance map `q_1 = γ_w² + γ_b²`, `q_{l+1} = σ_w² m(q_l) + σ_b²` for `l = 1…L`, with
/// `m(q) = E[φ(√q Z)²]` supplied by the caller (e.g. to find which `q` a tabulated
/// activation needs). Errors if a `q_l` is 0, negative or not finite.
pub fn variance_map(
    depth: usize,
    weight_var: f64,
    bias_var: f64,
    input_weight_var: f64,
    input_bias_var: f64,
    second_moment: &mut dyn FnMut(f64) -> Result<f64>,
) -> Result<Vec<f64>> {
    let mut q = input_weight_var + input_bias_var;
    if !q.is_finite() || q <= 0.0 {
        return Err(NtkError::Domain(format!(
            "the first layer's variance q_1 = input_weight_var + input_bias_var = {} must be \
             finite and > 0",
            fmt_num(q)
        )));
    }
    let mut qs = Vec::with_capacity(depth + 1);
    qs.push(q);
    for l in 1..=depth {
        let m = second_moment(q)?;
        q = weight_var * m + bias_var;
        if !q.is_finite() {
            return Err(NtkError::NonFinite(format!(
                "the variance of layer {} overflows (q = {}); lower weight_var (or the \
                 activation's scale)",
                l + 1,
                fmt_num(q)
            )));
        }
        if q <= 0.0 {
            return Err(NtkError::Domain(format!(
                "the variance of layer {} is {}: the kernel is identically 0 (weight_var = \
                 {}, bias_var = {}, E[phi^2] = {})",
                l + 1,
                fmt_num(q),
                fmt_num(weight_var),
                fmt_num(bias_var),
                fmt_num(m)
            )));
        }
        qs.push(q);
    }
    Ok(qs)
}

/// Coefficients of many networks in parallel (rayon; the thread count follows the current
/// pool). Results are in the input order; each entry fails independently.
pub fn batch_series(
    networks: &[Network],
    degree: usize,
    options: SeriesOptions,
    cancel: Cancel,
) -> Vec<Result<KernelSeries>> {
    networks
        .par_iter()
        .map(|net| net.series(degree, options, cancel))
        .collect()
}

/// Exact kernel values with error estimates ([`PointwiseKernel::ntk_nngp_with_error`]).
///
/// The errors are first-order propagations of the per-layer dual errors (Hermite-series
/// truncation and tail models of activations without a closed-form dual, coefficient
/// errors) plus a round-off allowance; for closed-form duals they are round-off only.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KernelValue {
    /// `NTK(ρ)` (NaN if only the NNGP was asked for).
    pub ntk: f64,
    /// `NNGP(ρ)`.
    pub nngp: f64,
    /// Estimated bound on `|NTK(ρ) − ntk|`.
    pub ntk_error: f64,
    /// Estimated bound on `|NNGP(ρ) − nngp|`.
    pub nngp_error: f64,
}

/// Exact NTK/NNGP as functions of `ρ` (DESIGN §1.4), with the per-layer duals prepared.
///
/// The correlation is carried with its complements `1 ∓ c` through the layers (see
/// [`Correlation`]), and `ρ = 1` returns the exact diagonal values, so there is no
/// square-root-difference cancellation near the diagonal. Thread-safe.
pub struct PointwiseKernel {
    layers: Vec<Box<dyn LayerDual>>,
    variances: Vec<f64>,
    weight_var: f64,
    bias_var: f64,
    input_weight_var: f64,
    input_bias_var: f64,
    ntk_one: Option<f64>,
    nngp_one: f64,
}

impl std::fmt::Debug for PointwiseKernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PointwiseKernel")
            .field("variances", &self.variances)
            .field("weight_var", &self.weight_var)
            .field("bias_var", &self.bias_var)
            .field("ntk", &self.ntk_one.is_some())
            .finish()
    }
}

impl PointwiseKernel {
    /// Whether the NTK is available.
    pub fn has_ntk(&self) -> bool {
        self.ntk_one.is_some()
    }

    /// `q_1 … q_{L+1}`.
    pub fn variances(&self) -> &[f64] {
        &self.variances
    }

    fn run(&self, rho: f64, ntk: bool) -> Result<(f64, f64)> {
        let rho = check_rho(rho)?;
        if rho == 1.0 {
            return Ok((self.ntk_one.unwrap_or(f64::NAN), self.nngp_one));
        }
        let (gw, gb) = (self.input_weight_var, self.input_bias_var);
        let q1 = self.variances[0];
        let mut s = gw * rho + gb;
        let mut corr = Correlation::from_complements(
            gw * (1.0 - rho) / q1,
            (gw * (1.0 + rho) + 2.0 * gb) / q1,
        );
        let mut theta = s;
        let (w, b) = (self.weight_var, self.bias_var);
        for (l, layer) in self.layers.iter().enumerate() {
            let v = layer.eval(corr)?;
            s = w * v.psi + b;
            if ntk {
                theta = s + theta * w * v.psi_dot;
            }
            let qn = self.variances[l + 1];
            corr =
                Correlation::from_complements(w * v.psi_gap / qn, (w * v.psi_plus + 2.0 * b) / qn);
        }
        if !s.is_finite() || (ntk && !theta.is_finite()) {
            return Err(NtkError::NonFinite(format!(
                "kernel evaluation at rho = {rho} is not finite"
            )));
        }
        Ok((theta, s))
    }

    /// The layer recursion with first-order error propagation: each layer's own error
    /// (`DualValue::error`, `error_dot`: truncated Hermite series, tail models, coefficient
    /// errors; 0 for closed forms) is added to what the errors of the previous layers
    /// change in `ψ`, `ψ̇` — measured by re-evaluating the layer at `c ± δc` — plus a
    /// round-off allowance of a few ulps per layer.
    fn run_with_error(&self, rho: f64, ntk: bool) -> Result<KernelValue> {
        let rho = check_rho(rho)?;
        let eps = f64::EPSILON;
        if rho == 1.0 {
            let l = (self.layers.len() + 1) as f64;
            let t = self.ntk_one.unwrap_or(f64::NAN);
            return Ok(KernelValue {
                ntk: t,
                nngp: self.nngp_one,
                ntk_error: 4.0 * eps * l * t.abs(),
                nngp_error: 4.0 * eps * l * self.nngp_one.abs(),
            });
        }
        let (gw, gb) = (self.input_weight_var, self.input_bias_var);
        let q1 = self.variances[0];
        let mut s = gw * rho + gb;
        let mut corr = Correlation::from_complements(
            gw * (1.0 - rho) / q1,
            (gw * (1.0 + rho) + 2.0 * gb) / q1,
        );
        let mut theta = s;
        let (mut ds, mut dth) = (2.0 * eps * s.abs(), 2.0 * eps * s.abs());
        let (w, b) = (self.weight_var, self.bias_var);
        for (l, layer) in self.layers.iter().enumerate() {
            let v = layer.eval(corr)?;
            let q = self.variances[l];
            // sensitivity to the error already in c = s/q
            let dc = ds / q;
            let (mut dpsi, mut ddot) = (0.0f64, 0.0f64);
            if dc > 0.0 {
                for cc in [corr.c - dc, corr.c + dc] {
                    let vv = layer.eval(Correlation::new(cc.clamp(-1.0, 1.0))?)?;
                    dpsi = dpsi.max((vv.psi - v.psi).abs());
                    ddot = ddot.max((vv.psi_dot - v.psi_dot).abs());
                }
            }
            let s_next = w * v.psi + b;
            let ds_next = w * (v.error + dpsi) + 4.0 * eps * (w * v.psi.abs() + b.abs());
            if ntk {
                let th_next = s_next + theta * w * v.psi_dot;
                dth = ds_next
                    + w * (dth * v.psi_dot.abs() + theta.abs() * (v.error_dot + ddot))
                    + 4.0 * eps * (s_next.abs() + (theta * w * v.psi_dot).abs());
                theta = th_next;
            }
            s = s_next;
            ds = ds_next;
            let qn = self.variances[l + 1];
            corr =
                Correlation::from_complements(w * v.psi_gap / qn, (w * v.psi_plus + 2.0 * b) / qn);
        }
        if !s.is_finite() || (ntk && !theta.is_finite()) {
            return Err(NtkError::NonFinite(format!(
                "kernel evaluation at rho = {rho} is not finite"
            )));
        }
        Ok(KernelValue {
            ntk: if ntk { theta } else { f64::NAN },
            nngp: s,
            ntk_error: if ntk { dth } else { f64::NAN },
            nngp_error: ds,
        })
    }

    /// `(NTK(ρ), NNGP(ρ))` with error estimates (see [`KernelValue`]). `Unsupported` error if
    /// prepared without the NTK.
    pub fn ntk_nngp_with_error(&self, rho: f64) -> Result<KernelValue> {
        if self.ntk_one.is_none() {
            return Err(NtkError::Unsupported(
                "this kernel evaluator was prepared without the NTK".into(),
            ));
        }
        self.run_with_error(rho, true)
    }

    /// `NNGP(ρ)` with an error estimate: `(value, error)`.
    pub fn nngp_with_error(&self, rho: f64) -> Result<(f64, f64)> {
        let v = self.run_with_error(rho, false)?;
        Ok((v.nngp, v.nngp_error))
    }

    /// `(NTK(ρ), NNGP(ρ))`. `Unsupported` error if prepared without the NTK.
    pub fn ntk_nngp(&self, rho: f64) -> Result<(f64, f64)> {
        if self.ntk_one.is_none() {
            return Err(NtkError::Unsupported(
                "this kernel evaluator was prepared without the NTK".into(),
            ));
        }
        self.run(rho, true)
    }

    /// `NNGP(ρ)`.
    pub fn nngp(&self, rho: f64) -> Result<f64> {
        Ok(self.run(rho, false)?.1)
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop, clippy::excessive_precision)]
mod tests {
    use super::*;
    use crate::closed_form::ClosedForm;
    use crate::dual::{HermiteDual, Tabulated};
    use crate::series::{mul_naive, never_cancel};
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn arc(cf: ClosedForm) -> Arc<dyn Dual> {
        Arc::new(cf)
    }

    fn closed_forms() -> Vec<ClosedForm> {
        vec![
            ClosedForm::Relu,
            ClosedForm::LeakyRelu { slope: 0.1 },
            ClosedForm::Abs,
            ClosedForm::Identity,
            ClosedForm::Erf { scale: 1.0 },
            ClosedForm::Sin { freq: 1.0 },
            ClosedForm::Cos { freq: 1.0 },
            ClosedForm::Exp { scale: 0.4 },
            ClosedForm::Gaussian,
            ClosedForm::GaussianPdf,
            ClosedForm::Gelu,
        ]
    }

    fn all_activations() -> Vec<ClosedForm> {
        let mut v = closed_forms();
        v.extend([
            ClosedForm::HardTanh,
            ClosedForm::Relu6,
            ClosedForm::Monomial { n: 3 },
            ClosedForm::Hermite { n: 4 },
            ClosedForm::Polynomial {
                coeffs: vec![0.1, 1.0, 0.0, -0.2],
            },
        ]);
        v
    }

    /// (name, constructor) of the configurations exercised.
    fn configs(cf: &ClosedForm, depth: usize) -> Vec<(String, Network)> {
        let a = arc(cf.clone());
        let mut v = vec![("unit".to_string(), Network::new(a.clone(), depth).unwrap())];
        v.push((
            "bias".into(),
            Network::with_bias_var(a.clone(), depth, 0.3).unwrap(),
        ));
        if let Ok(n) = Network::general(a.clone(), depth, 1.3, 0.2, 0.8, 0.4) {
            v.push(("general".into(), n));
        }
        v
    }

    #[test]
    fn relu_default_diagonal_is_depth_plus_one() {
        for depth in 1..=10 {
            let net = Network::new(arc(ClosedForm::Relu), depth).unwrap();
            assert_eq!(net.weight_var(), 2.0);
            let s = net
                .series(200, SeriesOptions::default(), &never_cancel)
                .unwrap();
            let one = s.ntk_at_one.unwrap();
            assert!((one - (depth + 1) as f64).abs() < 1e-13);
            assert!((s.nngp_at_one - 1.0).abs() < 1e-15);
            let k = s.ntk.as_ref().unwrap();
            assert!(k.iter().all(|&v| v >= 0.0));
            let sum: f64 = k.iter().sum();
            let b = s.ntk_truncation_bound.unwrap();
            assert!(sum <= one * (1.0 + 1e-14));
            assert!(
                (one - sum - b).abs() < 1e-10,
                "sum {sum} + bound {b} != {one}"
            );
            // ReLU NTK decays like p^{-3/2}: the tail beyond 200 is ~ 2 C / sqrt(200)
            assert!(b > 1e-3 && b < 0.5 * one);
        }
    }

    #[test]
    fn table_1_exact_expansion() {
        // DESIGN §8: one hidden layer, γ_w² = γ_b² = 1/2, σ_w² = 1, unit variance
        // (σ_b² = 1 − σ_w² E[relu²] = 1/2)
        let net =
            Network::from_options(arc(ClosedForm::Relu), 1, None, Some(0.5), 0.5, 0.5).unwrap();
        assert_eq!(net.weight_var(), 1.0);
        let s = net
            .series(5, SeriesOptions::default(), &never_cancel)
            .unwrap();
        let k = s.ntk.unwrap();
        let one = s.ntk_at_one.unwrap();
        let want = [64.74, 90.03, 95.13, 96.16, 96.78, 97.16];
        let mut acc = 0.0;
        for j in 0..6 {
            acc += k[j];
            let pct = 100.0 * acc / one;
            assert!((pct - want[j]).abs() < 0.006, "j={j}: {pct} vs {}", want[j]);
        }
    }

    #[test]
    fn series_agree_with_the_exact_kernel_within_the_bound() {
        for cf in all_activations() {
            for (name, net) in configs(&cf, 3) {
                let s = net
                    .series(200, SeriesOptions::default(), &never_cancel)
                    .unwrap();
                let pk = net.pointwise(true).unwrap();
                let one = s.ntk_at_one.unwrap();
                assert!(s.ntk.as_ref().unwrap().iter().all(|&v| v >= 0.0));
                assert!(s.nngp.iter().all(|&v| v >= 0.0));
                for &rho in &[-1.0, -0.7, -0.2, 0.0, 0.3, 0.8, 0.99, 1.0] {
                    let (ntk, nngp) = pk.ntk_nngp(rho).unwrap();
                    let en = s.evaluate_ntk(rho).unwrap();
                    let eg = s.evaluate_nngp(rho).unwrap();
                    // (hard-tanh and ReLU6 have exact piecewise-linear duals too)
                    let slack = 1e-12 * one;
                    assert!(
                        (en.value - ntk).abs() <= en.error_bound + slack,
                        "{cf:?} {name} rho={rho}: series {} vs exact {ntk} (bound {})",
                        en.value,
                        en.error_bound
                    );
                    assert!(
                        (eg.value - nngp).abs() <= eg.error_bound + slack,
                        "{cf:?} {name} rho={rho}: nngp series {} vs exact {nngp} (bound {})",
                        eg.value,
                        eg.error_bound
                    );
                }
                assert_eq!(pk.ntk_nngp(1.0).unwrap(), (one, s.nngp_at_one));
            }
        }
    }

    #[test]
    fn closed_form_ode_matches_generic_taylor_path_per_coefficient() {
        // depth 10 with biases (c_0 close to 1) and general variances; two independent
        // algorithms (closed-form ODE/Newton vs Taylor re-expansion of the Hermite series)
        for cf in closed_forms() {
            if matches!(cf, ClosedForm::Gelu) {
                continue;
            }
            let generic: Arc<dyn Dual> = Arc::new(HermiteDual(cf.clone()));
            for (name, net) in configs(&cf, 10) {
                let twin = Network::general(
                    generic.clone(),
                    10,
                    net.weight_var(),
                    net.bias_var(),
                    net.input_weight_var(),
                    net.input_bias_var(),
                )
                .unwrap();
                let a = net
                    .series(200, SeriesOptions::default(), &never_cancel)
                    .unwrap();
                let b = twin
                    .series(200, SeriesOptions::default(), &never_cancel)
                    .unwrap();
                let (ka, kb) = (a.ntk.as_ref().unwrap(), b.ntk.as_ref().unwrap());
                for p in 0..=200 {
                    assert!(
                        (ka[p] - kb[p]).abs() <= 1e-10 * kb[p] + 1e-280,
                        "{cf:?} {name} kappa_{p}: {} vs {}",
                        ka[p],
                        kb[p]
                    );
                    assert!(
                        (a.nngp[p] - b.nngp[p]).abs() <= 1e-10 * b.nngp[p] + 1e-280,
                        "{cf:?} {name} nngp_{p}: {} vs {}",
                        a.nngp[p],
                        b.nngp[p]
                    );
                }
                assert!(
                    b.ntk_composition_error.unwrap() <= 1e-9 * b.ntk_at_one.unwrap(),
                    "{cf:?} {name}: composition error {:?}, nngp {}",
                    b.ntk_composition_error,
                    b.nngp_composition_error
                );
            }
        }
    }

    /// The paper's algorithm: Hermite sums cut at k = P (wrong when c_0 > 0).
    fn naive_cut_relu(depth: usize, p: usize) -> Vec<f64> {
        let n = p + 1;
        let w = crate::dual::tests::relu_weights(p + 1);
        let wd: Vec<f64> = (0..=p).map(|k| (k + 1) as f64 * w[k + 1]).collect();
        let horner = |t: &[f64], c: &[f64]| {
            let mut r = vec![0.0; n];
            for &tk in t.iter().rev() {
                r = mul_naive(&r, c, n);
                r[0] += tk;
            }
            r
        };
        let mut a = vec![0.0; n];
        a[1] = 1.0;
        let mut th = a.clone();
        for _ in 0..depth {
            let an: Vec<f64> = horner(&w[..n], &a).iter().map(|v| 2.0 * v).collect();
            let ad: Vec<f64> = horner(&wd, &a).iter().map(|v| 2.0 * v).collect();
            let pr = mul_naive(&th, &ad, n);
            th = an.iter().zip(&pr).map(|(x, y)| x + y).collect();
            a = an;
        }
        th
    }

    #[test]
    fn cutting_the_hermite_sum_at_p_corrupts_upper_coefficients() {
        let p = 300;
        let net = Network::new(arc(ClosedForm::Relu), 5).unwrap();
        let ours = net.ntk_coefficients(p).unwrap();
        let twin = Network::new(Arc::new(HermiteDual(ClosedForm::Relu)), 5).unwrap();
        let generic = twin.ntk_coefficients(p).unwrap();
        let cut = naive_cut_relu(5, p);
        for i in 0..=p {
            assert!(((ours[i] - generic[i]) / generic[i]).abs() < 1e-10, "p={i}");
        }
        let rel_top = (cut[p] - ours[p]).abs() / ours[p];
        assert!(rel_top > 0.05, "naive cut only off by {rel_top}");
        assert!(((cut[5] - ours[5]) / ours[5]).abs() < 1e-8);
    }

    #[test]
    fn structural_zeros_stay_exact_beyond_the_exact_length() {
        // FFT products above series::EXACT_LEN must not fill exact zeros with round-off:
        // ReLU depth 1 (odd κ_p = 0 for p ≥ 3), odd activations without biases (even
        // coefficients 0 at every depth)
        let p = 700;
        let relu = Network::new(arc(ClosedForm::Relu), 1)
            .unwrap()
            .ntk_coefficients(p)
            .unwrap();
        for k in (3..=p).step_by(2) {
            assert_eq!(relu[k], 0.0, "relu kappa_{k}");
        }
        for k in (0..=p).step_by(2) {
            assert!(relu[k] > 0.0, "relu kappa_{k}");
        }
        for cf in [
            ClosedForm::Erf { scale: 1.0 },
            ClosedForm::Sin { freq: 1.0 },
            ClosedForm::HardTanh,
        ] {
            let s = Network::new(arc(cf.clone()), 3)
                .unwrap()
                .series(p, SeriesOptions::default(), &never_cancel)
                .unwrap();
            let k = s.ntk.as_ref().unwrap();
            for i in (0..=p).step_by(2) {
                assert_eq!(k[i], 0.0, "{cf:?} kappa_{i}");
                assert_eq!(s.nngp[i], 0.0, "{cf:?} nu_{i}");
            }
        }
    }

    #[test]
    fn high_degree_relu_is_consistent() {
        let net = Network::new(arc(ClosedForm::Relu), 10).unwrap();
        let big = net
            .series(20_000, SeriesOptions::default(), &never_cancel)
            .unwrap();
        let small = net.ntk_coefficients(200).unwrap();
        let k = big.ntk.as_ref().unwrap();
        for p in 0..=200 {
            assert!(((k[p] - small[p]) / small[p]).abs() < 1e-10, "p={p}");
        }
        assert!(k.iter().all(|&v| v >= 0.0));
        // p^{-3/2} decay at the top: κ_p p^{3/2} roughly constant
        let r = k[20_000] * 20_000f64.powf(1.5) / (k[10_000] * 10_000f64.powf(1.5));
        assert!((r - 1.0).abs() < 0.05, "decay ratio {r}");
        let pk = net.pointwise(true).unwrap();
        for &rho in &[-0.9, 0.0, 0.5, 0.95] {
            let e = big.evaluate_ntk(rho).unwrap();
            let exact = pk.ntk_nngp(rho).unwrap().0;
            assert!((e.value - exact).abs() <= e.error_bound, "rho={rho}");
        }
    }

    #[test]
    fn step_is_nngp_only() {
        let net = Network::new(arc(ClosedForm::Step), 3).unwrap();
        assert!(matches!(net.ntk_at_one(), Err(NtkError::Domain(_))));
        assert!(matches!(
            net.series(10, SeriesOptions::default(), &never_cancel),
            Err(NtkError::Domain(_))
        ));
        assert!(net.pointwise(true).is_err());
        let opts = SeriesOptions {
            ntk: false,
            keep_layers: false,
        };
        let s = net.series(150, opts, &never_cancel).unwrap();
        assert!(s.ntk.is_none());
        let pk = net.pointwise(false).unwrap();
        for &rho in &[-1.0, -0.3, 0.4, 0.9, 1.0] {
            let e = s.evaluate_nngp(rho).unwrap();
            let exact = pk.nngp(rho).unwrap();
            assert!((e.value - exact).abs() <= e.error_bound, "rho={rho}");
        }
        assert_eq!(net.nngp_at(1.0).unwrap(), 1.0);
    }

    #[test]
    fn overflow_messages_are_readable_and_give_advice() {
        // no 300-digit integers: large and small floats are printed in scientific notation
        let long_digit_run = |m: &str| {
            let mut run = 0;
            m.chars().any(|c| {
                run = if c.is_ascii_digit() { run + 1 } else { 0 };
                run > 20
            })
        };
        for cf in [
            ClosedForm::Exp { scale: 1.0 },
            ClosedForm::Erf { scale: 1.0 },
            ClosedForm::Relu,
            ClosedForm::Sin { freq: 1.0 },
        ] {
            let r = Network::general(arc(cf.clone()), 10, 1e300, 0.0, 1.0, 0.0)
                .and_then(|n| n.series(5, SeriesOptions::default(), &never_cancel));
            match r {
                Err(NtkError::NonFinite(m))
                | Err(NtkError::Domain(m))
                | Err(NtkError::InvalidArgument(m)) => {
                    assert!(!long_digit_run(&m), "{cf:?}: {m}");
                    assert!(m.contains("lower weight_var"), "{cf:?}: {m}");
                }
                other => panic!("{cf:?}: expected an overflow error, got {other:?}"),
            }
        }
        match Network::general(arc(ClosedForm::Relu), 2, 1.0, 0.0, 1e-300, 0.0) {
            Ok(n) => {
                let _ = n.series(3, SeriesOptions::default(), &never_cancel);
            }
            Err(e) => assert!(!long_digit_run(&e.to_string()), "{e}"),
        }
        assert!(
            Network::general(arc(ClosedForm::Relu), 2, -1e300, 0.0, 1.0, 0.0)
                .unwrap_err()
                .to_string()
                .contains("-1.000000e300")
        );
        // unit variance impossible: no stray space in "(1 - bias_var)/E[phi(Z)^2]"
        match Network::with_bias_var(arc(ClosedForm::Relu), 2, 1.5) {
            Err(NtkError::Domain(m)) => assert!(m.contains("= (-0.5)/0.5"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(fmt_num(0.5), "0.5");
        assert_eq!(fmt_num(1e300), "1.000000e300");
        assert_eq!(fmt_num(-2.5e-7), "-2.500000e-7");
        assert_eq!(fmt_num(f64::NAN), "NaN");
    }

    #[test]
    fn invalid_configurations_are_rejected() {
        let relu = arc(ClosedForm::Relu);
        assert!(matches!(
            Network::new(relu.clone(), 0),
            Err(NtkError::InvalidArgument(_))
        ));
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            assert!(Network::general(relu.clone(), 2, bad, 0.0, 1.0, 0.0).is_err());
            assert!(Network::general(relu.clone(), 2, 1.0, bad, 1.0, 0.0).is_err());
            assert!(Network::general(relu.clone(), 2, 1.0, 0.0, bad, 0.0).is_err());
            assert!(Network::general(relu.clone(), 2, 1.0, 0.0, 1.0, bad).is_err());
        }
        match Network::with_bias_var(relu.clone(), 2, 1.5) {
            Err(NtkError::Domain(m)) => assert!(m.contains("1.5"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(Network::general(relu.clone(), 2, 1.0, 0.0, 0.0, 0.0).is_err());
        // exp(0.5 x) has no edge of chaos at q = 1 (σ_b² would be negative)
        match Network::edge_of_chaos(arc(ClosedForm::Exp { scale: 0.5 }), 2, 1.0) {
            Err(NtkError::Domain(m)) => assert!(m.contains("< 0"), "{m}"),
            other => panic!("{other:?}"),
        }
        let eoc = Network::edge_of_chaos(arc(ClosedForm::Erf { scale: 1.0 }), 4, 1.0).unwrap();
        for q in eoc.variances().unwrap() {
            assert!((q - 1.0).abs() < 1e-14);
        }
        let net = Network::new(relu, 2).unwrap();
        assert!(net
            .series(
                MAX_SERIES_DEGREE + 1,
                SeriesOptions::default(),
                &never_cancel
            )
            .is_err());
        assert!(net.ntk_at(1.5).is_err());
        assert!(net.ntk_at(f64::NAN).is_err());
    }

    #[test]
    fn tiny_degrees_and_huge_requests() {
        for cf in all_activations() {
            let net = Network::with_bias_var(arc(cf.clone()), 3, 0.2).unwrap();
            let s0 = net
                .series(0, SeriesOptions::default(), &never_cancel)
                .unwrap();
            let s1 = net
                .series(1, SeriesOptions::default(), &never_cancel)
                .unwrap();
            let s9 = net
                .series(9, SeriesOptions::default(), &never_cancel)
                .unwrap();
            let k0 = s0.ntk.as_ref().unwrap();
            let k1 = s1.ntk.as_ref().unwrap();
            let k9 = s9.ntk.as_ref().unwrap();
            assert_eq!((k0.len(), k1.len(), k9.len()), (1, 2, 10));
            // κ_0 = NTK(0), whatever the degree
            let at0 = net.ntk_at(0.0).unwrap();
            for k in [k0[0], k1[0], k9[0]] {
                assert!(
                    (k - at0).abs() <= 1e-12 * at0.abs().max(1e-300),
                    "{cf:?}: {k} vs {at0}"
                );
            }
            assert!(
                ((k1[1] - k9[1]) / k9[1].max(1e-300)).abs() < 1e-12,
                "{cf:?}"
            );
        }
        let deep = Network::new(arc(ClosedForm::Relu), MAX_DEPTH).unwrap();
        let opts = SeriesOptions {
            ntk: true,
            keep_layers: true,
        };
        assert!(matches!(
            deep.series(10_000, opts, &never_cancel),
            Err(NtkError::TooLarge(_))
        ));
    }

    #[test]
    fn the_maximum_degree_and_degrees_0_and_1_on_the_generic_path() {
        // The generic (Hermite/Taylor) composition once clamped K to [J + 1, MAX] and
        // panicked for J + 1 > MAX_HERMITE_DEGREE (NTK at the maximum degree needs t̃_{J+1}).
        // A short tabulated list keeps it cheap: layer 1 has c_0 = 0, the next ones c_0 > 0.
        use crate::dual::MAX_HERMITE_DEGREE;
        let mu = ClosedForm::Relu.coefficients(40, 1.0).unwrap().mu;
        let tab: Arc<dyn Dual> = Arc::new(
            Tabulated::unit("relu-40", mu, Some(0.5), Some(0.5))
                .unwrap()
                .into_dual(),
        );
        let nets = [
            Network::new(tab.clone(), 3).unwrap(),
            Network::with_bias_var(tab, 2, 0.2).unwrap(),
            Network::new(arc(ClosedForm::Relu), 2).unwrap(),
            Network::with_bias_var(arc(ClosedForm::Hermite { n: 3 }), 2, 0.1).unwrap(),
        ];
        for net in &nets {
            let mut k0 = None;
            for degree in [0, 1, 2, MAX_HERMITE_DEGREE - 1, MAX_HERMITE_DEGREE] {
                for ntk in [true, false] {
                    let opts = SeriesOptions {
                        ntk,
                        keep_layers: false,
                    };
                    let s = net.series(degree, opts, &never_cancel).unwrap();
                    let (coef, one, bound) = if ntk {
                        (
                            s.ntk.clone().unwrap(),
                            s.ntk_at_one.unwrap(),
                            s.ntk_truncation_bound.unwrap(),
                        )
                    } else {
                        (s.nngp.clone(), s.nngp_at_one, s.nngp_truncation_bound)
                    };
                    assert_eq!(coef.len(), degree + 1);
                    assert!(coef.iter().all(|v| v.is_finite() && *v >= 0.0));
                    let sum = series::sum(&coef);
                    assert!(sum <= one * (1.0 + 1e-9), "{net:?} {degree}: {sum} > {one}");
                    assert!(bound >= 0.0 && bound.is_finite());
                    if ntk {
                        // κ_0 = NTK(0) whatever the degree
                        let k = *k0.get_or_insert(coef[0]);
                        assert!((coef[0] - k).abs() <= 1e-12 * k, "{net:?} {degree}");
                    }
                }
            }
        }
        // beyond the Hermite limit (the engine allows higher series degrees): no panic
        let s = nets[1]
            .series(
                MAX_HERMITE_DEGREE + 3,
                SeriesOptions::default(),
                &never_cancel,
            )
            .unwrap();
        assert_eq!(s.ntk.unwrap().len(), MAX_HERMITE_DEGREE + 4);
    }

    #[test]
    fn cancellation_interrupts() {
        let net = Network::new(arc(ClosedForm::Relu), 10).unwrap();
        let calls = AtomicUsize::new(0);
        let cancel = || calls.fetch_add(1, Ordering::Relaxed) >= 3;
        let r = net.series(5000, SeriesOptions::default(), &cancel);
        assert_eq!(r, Err(NtkError::Interrupted));
        let tanh_like = Network::new(arc(ClosedForm::Gelu), 10).unwrap();
        let stop = || true;
        assert_eq!(
            tanh_like.series(50, SeriesOptions::default(), &stop),
            Err(NtkError::Interrupted)
        );
    }

    #[test]
    fn batch_matches_individual_runs_and_keeps_layers() {
        let nets: Vec<Network> = closed_forms()
            .into_iter()
            .map(|cf| Network::with_bias_var(arc(cf), 4, 0.2).unwrap())
            .collect();
        let opts = SeriesOptions {
            ntk: true,
            keep_layers: true,
        };
        let all = batch_series(&nets, 80, opts, &never_cancel);
        for (net, r) in nets.iter().zip(all) {
            let r = r.unwrap();
            let single = net.series(80, opts, &never_cancel).unwrap();
            assert_eq!(r, single);
            let layers = r.layers.as_ref().unwrap();
            assert_eq!(layers.len(), 5);
            assert_eq!(layers[4].ntk.as_ref(), r.ntk.as_ref());
            assert_eq!(&layers[4].nngp, &r.nngp);
            assert!(layers[0].derivative.is_none() && layers[1].derivative.is_some());
            for (l, ls) in layers.iter().enumerate() {
                assert_eq!(ls.q, r.variances[l]);
            }
        }
    }

    #[test]
    fn tabulated_activation_at_unit_variance() {
        let mu = ClosedForm::Relu.coefficients(3000, 1.0).unwrap();
        let tab: Arc<dyn Dual> = Arc::new(
            Tabulated::unit("relu-table", mu.mu.clone(), Some(0.5), Some(0.5))
                .unwrap()
                .into_dual(),
        );
        let net = Network::with_bias_var(tab.clone(), 4, 0.2).unwrap();
        let reference = Network::with_bias_var(arc(ClosedForm::Relu), 4, 0.2).unwrap();
        let s = net
            .series(100, SeriesOptions::default(), &never_cancel)
            .unwrap();
        let r = reference.ntk_coefficients(100).unwrap();
        let k = s.ntk.as_ref().unwrap();
        let bound = s.ntk_truncation_bound.unwrap();
        for p in 0..=100 {
            assert!(k[p] <= r[p] * (1.0 + 1e-12));
            assert!(r[p] - k[p] <= bound);
        }
        // q != 1 is refused with the documented message
        match Network::general(tab, 2, 1.0, 0.0, 1.0, 0.0) {
            Err(NtkError::Unsupported(m)) => assert!(m.contains("q = 1 only"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn tabulated_kinked_activations_exact_kernel_with_error() {
        // ELU / SELU / softplus given as tabulated coefficients (K = 2048, as from Python),
        // unit variance, depth 3: against the recursion with 2-D polar quadrature duals.
        use crate::dual::tests::{activations, polar_reference, tabulated_activation};
        for act in activations().into_iter().filter(|a| a.0 != "tanh") {
            let tab: Arc<dyn Dual> = Arc::new(tabulated_activation(&act, &[1.0], 2048).into_dual());
            let depth = 3;
            let net = Network::new(tab, depth).unwrap();
            let pk = net.pointwise(true).unwrap();
            let one = net.ntk_at_one().unwrap();
            let w = net.weight_var();
            for &rho in &[-1.0, -0.9999, -0.95, -0.3, 0.4, 0.97, 0.99999] {
                // reference recursion (all q_l = 1)
                let (mut s, mut th): (f64, f64) = (rho, rho);
                for _ in 0..depth {
                    let (p, d) = polar_reference(&act, 1.0, s.clamp(-1.0, 1.0));
                    let sn = w * p;
                    th = sn + th * w * d;
                    s = sn;
                }
                let v = pk.ntk_nngp_with_error(rho).unwrap();
                let (e_ntk, e_nngp) = ((v.ntk - th).abs(), (v.nngp - s).abs());
                eprintln!(
                    "{} rho={rho}: ntk err {e_ntk:.1e} (est {:.1e}), nngp err {e_nngp:.1e} (est {:.1e})",
                    act.0, v.ntk_error, v.nngp_error
                );
                assert!(
                    e_ntk <= 1e-10 * one,
                    "{} rho={rho}: {} vs {th}",
                    act.0,
                    v.ntk
                );
                assert!(e_nngp <= 1e-10, "{} rho={rho}: {} vs {s}", act.0, v.nngp);
                assert!(
                    e_ntk <= v.ntk_error + 1e-13 * one,
                    "{} rho={rho}: estimate",
                    act.0
                );
                assert!(
                    e_nngp <= v.nngp_error + 1e-13,
                    "{} rho={rho}: estimate",
                    act.0
                );
                assert!(v.ntk_error <= 1e-9 * one);
                let (t, n) = pk.ntk_nngp(rho).unwrap();
                assert_eq!((t, n), (v.ntk, v.nngp));
            }
        }
    }

    #[test]
    fn piecewise_linear_against_generic_path_where_it_is_certified() {
        // hard-tanh / ReLU6: the exact re-expansion (ψ̇'' = bivariate densities) against the
        // generic Taylor re-expansion of the exact Hermite coefficients (independent
        // algorithm), where the latter's own bound certifies it; with heavy biases its bound
        // is ~1e-4 (K ≈ P/(1 − c_0) is out of reach) while the exact path reports 0
        let p = 200;
        for cf in [ClosedForm::HardTanh, ClosedForm::Relu6] {
            for &(depth, bias) in &[(5usize, 0.5f64), (5, 0.9), (8, 0.7), (10, 0.5), (10, 0.9)] {
                let net = Network::with_bias_var(arc(cf.clone()), depth, bias).unwrap();
                let twin = Network::general(
                    Arc::new(HermiteDual(cf.clone())),
                    depth,
                    net.weight_var(),
                    net.bias_var(),
                    1.0,
                    0.0,
                )
                .unwrap();
                let t0 = std::time::Instant::now();
                let a = net
                    .series(p, SeriesOptions::default(), &never_cancel)
                    .unwrap();
                let ta = t0.elapsed().as_secs_f64();
                let t0 = std::time::Instant::now();
                let b = twin
                    .series(p, SeriesOptions::default(), &never_cancel)
                    .unwrap();
                let tb = t0.elapsed().as_secs_f64();
                let (ka, kb) = (a.ntk.as_ref().unwrap(), b.ntk.as_ref().unwrap());
                let mut worst = 0.0f64;
                for k in 0..=p {
                    worst = worst.max(((ka[k] - kb[k]) / kb[k]).abs());
                    worst = worst.max(((a.nngp[k] - b.nngp[k]) / b.nngp[k]).abs());
                }
                eprintln!(
                    "{cf:?} depth {depth} bias {bias}: worst rel {worst:.1e}; exact path {ta:.3}s, bound {:.2e}, comp err {:.1e}; generic {tb:.3}s comp err {:.1e}",
                    a.ntk_truncation_bound.unwrap(), a.ntk_composition_error.unwrap(), b.ntk_composition_error.unwrap()
                );
                // exact (the first layer, c_0 = 0, uses the exact Hermite path: round-off only)
                assert!(a.ntk_composition_error.unwrap() <= 1e-30);
                if b.ntk_composition_error.unwrap() <= 1e-15 * b.ntk_at_one.unwrap() {
                    assert!(
                        worst <= 1e-10,
                        "{cf:?} depth {depth} bias {bias}: {worst:e}"
                    );
                }
            }
        }
    }

    /// Independent re-expansion of `ψ_q`, `ψ̇_q` about `c0` for a piecewise-linear `φ`
    /// (`p = 1 − c0`): with `X = √c0 W + √p U`, `Y = √c0 W + √p V` (`corr(U, V) = ỹ`),
    /// Mehler's formula given `W` yields `t̃_n = E_W[μ_n(W)²]`, `μ_n(w)` the (exact) Hermite
    /// coefficients of `u ↦ φ(√q(√c0 w + √p u))` — a 1-D integral of non-negative terms
    /// (composite Gauss–Legendre, refined where the kinks sit); likewise `ψ̇` with `φ'`.
    fn mixture_reexpansion(
        pl: &crate::piecewise_linear::PiecewiseLinear,
        q: f64,
        p: f64,
        jn: usize,
    ) -> (Vec<f64>, Vec<f64>) {
        use crate::piecewise_linear::PiecewiseLinear;
        let c0 = 1.0 - p;
        let (a, b) = ((q * c0).sqrt(), (q * p).sqrt());
        let (gx, gw) = crate::quadrature::gauss_legendre(20);
        let mut edges: Vec<f64> = (0..=96).map(|i| -12.0 + 0.25 * i as f64).collect();
        if c0 > 1e-12 {
            let kw = ((2 * jn + 1) as f64).sqrt() * (c0 / p).sqrt();
            let h = (5.0 / kw).min(0.1);
            let half = (((2 * jn + 1) as f64).sqrt() + 16.0) * (p / c0).sqrt();
            for &t in &pl.kinks {
                let wc = t / a;
                let m = (2.0 * half / h).ceil() as usize;
                for i in 0..=m {
                    edges.push(wc - half + 2.0 * half * i as f64 / m as f64);
                }
            }
        }
        edges.retain(|e| e.abs() <= 12.0);
        edges.sort_by(|x, y| x.partial_cmp(y).unwrap());
        edges.dedup();
        let (mut tv, mut td) = (vec![0.0; jn], vec![0.0; jn]);
        for wnd in edges.windows(2) {
            let (lo, hi) = (wnd[0], wnd[1]);
            for (&xi, &wi) in gx.iter().zip(&gw) {
                let w = 0.5 * (hi - lo) * xi + 0.5 * (hi + lo);
                let wt = 0.5 * (hi - lo) * wi * (-0.5 * w * w).exp()
                    / (2.0 * std::f64::consts::PI).sqrt();
                // φ_w(u) = φ(a w + b u): kinks (t − a w)/b, slopes s b, intercepts c + s a w
                let kinks: Vec<f64> = pl.kinks.iter().map(|t| (t - a * w) / b).collect();
                let f = PiecewiseLinear::new(
                    kinks.clone(),
                    pl.intercepts
                        .iter()
                        .zip(&pl.slopes)
                        .map(|(c, s)| c + s * a * w)
                        .collect(),
                    pl.slopes.iter().map(|s| s * b).collect(),
                )
                .unwrap();
                let fd = PiecewiseLinear::new(kinks, pl.slopes.clone(), vec![0.0; pl.slopes.len()])
                    .unwrap();
                let mu = f.coefficients(jn - 1, 1.0).unwrap().mu;
                let nu = fd.coefficients(jn - 1, 1.0).unwrap().mu;
                for k in 0..jn {
                    tv[k] += wt * mu[k] * mu[k];
                    td[k] += wt * nu[k] * nu[k];
                }
            }
        }
        (tv, td)
    }

    #[test]
    fn piecewise_linear_deep_heavy_bias_against_mixture_reference() {
        use crate::piecewise_linear::PiecewiseLinear;
        let p = 200;
        let n = p + 1;
        let cases = [
            (
                ClosedForm::HardTanh,
                PiecewiseLinear::new(vec![-1.0, 1.0], vec![-1.0, 0.0, 1.0], vec![0.0, 1.0, 0.0])
                    .unwrap(),
            ),
            (
                ClosedForm::Relu6,
                PiecewiseLinear::new(vec![0.0, 6.0], vec![0.0, 0.0, 6.0], vec![0.0, 1.0, 0.0])
                    .unwrap(),
            ),
        ];
        for (cf, pl) in cases {
            let configs: &[(usize, f64)] = if matches!(cf, ClosedForm::HardTanh) {
                &[(5, 0.9), (10, 0.7)]
            } else {
                &[(5, 0.5), (10, 0.9)]
            };
            for &(depth, bias) in configs {
                let net = Network::with_bias_var(arc(cf.clone()), depth, bias).unwrap();
                let s = net
                    .series(p, SeriesOptions::default(), &never_cancel)
                    .unwrap();
                let (w, bv) = (net.weight_var(), net.bias_var());
                // reference recursion (unit variance: q_l = 1)
                let mut a = vec![0.0; n];
                a[1] = 1.0;
                let mut th = a.clone();
                let mut om = 1.0f64;
                let layer = Dual::layer(&cf, 1.0).unwrap();
                for _ in 0..depth {
                    let pp = om;
                    let _c0 = 1.0 - om;
                    let d = crate::series::first_nonzero(&a[1..]) + 1;
                    let jn = (n - 1) / d + 1;
                    let (tv, td) = mixture_reexpansion(&pl, 1.0, pp, jn);
                    // 1 − c0 of the next layer from the pointwise complement
                    om = w * layer
                        .eval(Correlation::from_complements(om, 2.0 - om))
                        .unwrap()
                        .psi_gap;
                    let mut zt: Vec<f64> = a.iter().map(|v| v / pp).collect();
                    zt[0] = 0.0;
                    let an: Vec<f64> = crate::dual::tests::brute(&tv, &zt, n)
                        .iter()
                        .map(|v| w * v)
                        .collect();
                    let ad: Vec<f64> = crate::dual::tests::brute(&td, &zt, n)
                        .iter()
                        .map(|v| w * v)
                        .collect();
                    let mut an = an;
                    an[0] += bv;
                    let pr = mul_naive(&th, &ad, n);
                    th = an.iter().zip(&pr).map(|(x, y)| x + y).collect();
                    a = an;
                }
                let k = s.ntk.as_ref().unwrap();
                let mut worst = 0.0f64;
                for i in 0..n {
                    let e1 = ((k[i] - th[i]) / th[i]).abs();
                    let e2 = ((s.nngp[i] - a[i]) / a[i]).abs();
                    worst = worst.max(e1).max(e2);
                    assert!(
                        e1 <= 1e-10,
                        "{cf:?} depth {depth} bias {bias} kappa_{i}: {} vs {}",
                        k[i],
                        th[i]
                    );
                    assert!(
                        e2 <= 1e-10,
                        "{cf:?} depth {depth} bias {bias} nu_{i}: {} vs {}",
                        s.nngp[i],
                        a[i]
                    );
                }
                eprintln!("{cf:?} depth {depth} bias {bias}: c0 = {:.6}, worst relative {worst:.1e}, bound {:.2e}, kappa_200 = {:.3e}", a[0] / net.variances().unwrap()[depth], s.ntk_truncation_bound.unwrap(), k[p]);
            }
        }
    }

    /// High-precision references (mpmath, 60 digits) of the layer recursion with the
    /// closed-form duals, at the exact `f64` values of ρ: (case, ρ, NTK, NNGP).
    const REFERENCE: &[(&str, f64, f64, f64)] = &[
        ("relu_unit_d10", 1.0, 11.0, 1.0),
        (
            "relu_unit_d10",
            0.999999999999,
            10.999975241619885293,
            0.99999999999900002512,
        ),
        (
            "relu_unit_d10",
            0.99999999,
            10.997524577326381381,
            0.99999999000300039634,
        ),
        (
            "relu_unit_d10",
            0.999,
            10.259827607583676864,
            0.99908913403358541826,
        ),
        (
            "relu_unit_d10",
            0.5,
            4.1083515264227488734,
            0.89764672980732255354,
        ),
        (
            "relu_unit_d10",
            0.0,
            3.4793767120210020617,
            0.87153551602151762085,
        ),
        (
            "relu_unit_d10",
            -0.5,
            3.2371556138854822005,
            0.85962876572566391967,
        ),
        (
            "relu_unit_d10",
            -0.999,
            3.1553752665665622549,
            0.85480962405831103861,
        ),
        (
            "relu_unit_d10",
            -0.9999999999,
            3.1559472655946306216,
            0.85480923754890578777,
        ),
        (
            "relu_unit_d10",
            -1.0,
            3.1559474489216985709,
            0.85480923754890577555,
        ),
        ("relu_general_d3", 1.0, 2.0317, 0.74405),
        (
            "relu_general_d3",
            0.999999999999,
            2.0316992666989413185,
            0.744049999999780305,
        ),
        (
            "relu_general_d3",
            0.99999999,
            2.0316266629512583358,
            0.74404999780314374487,
        ),
        (
            "relu_general_d3",
            0.999,
            2.0079110412014703117,
            0.74383479973759211883,
        ),
        (
            "relu_general_d3",
            0.5,
            1.3764279955170432711,
            0.67527328908534659047,
        ),
        (
            "relu_general_d3",
            0.0,
            1.1232505052777041351,
            0.63161034494190787802,
        ),
        (
            "relu_general_d3",
            -0.5,
            0.96517037078995674025,
            0.60044238303882129079,
        ),
        (
            "relu_general_d3",
            -0.999,
            0.8632610958540139204,
            0.57802005538400069544,
        ),
        (
            "relu_general_d3",
            -0.9999999999,
            0.86310108991830475015,
            0.57798251183201494505,
        ),
        (
            "relu_general_d3",
            -1.0,
            0.86310108990231232204,
            0.57798251182826198684,
        ),
        ("abs_bias_d6", 1.0, 3.058819, 1.0),
        (
            "abs_bias_d6",
            0.999999999999,
            3.0588165300411958666,
            0.99999999999988235389,
        ),
        (
            "abs_bias_d6",
            0.99999999,
            3.0585720301476775336,
            0.99999999882379398252,
        ),
        (
            "abs_bias_d6",
            0.999,
            2.9835530430016431904,
            0.99989092728255617965,
        ),
        (
            "abs_bias_d6",
            0.5,
            2.2309735469904527257,
            0.98639888294318314354,
        ),
        (
            "abs_bias_d6",
            0.0,
            2.1736464439139629269,
            0.98432775851083618785,
        ),
        (
            "abs_bias_d6",
            -0.5,
            2.2309735469904527257,
            0.98639888294318314354,
        ),
        (
            "abs_bias_d6",
            -0.999,
            2.9835530430016431904,
            0.99989092728255617965,
        ),
        (
            "abs_bias_d6",
            -0.9999999999,
            3.0587943003992116031,
            0.99999999998823538305,
        ),
        ("abs_bias_d6", -1.0, 3.058819, 1.0),
        ("leaky_d4", 1.0, 5.0, 1.0),
        (
            "leaky_d4",
            0.999999999999,
            4.9999963898578166479,
            0.99999999999900002308,
        ),
        (
            "leaky_d4",
            0.99999999,
            4.999638953797487948,
            0.99999999000096261211,
        ),
        (
            "leaky_d4",
            0.999,
            4.8831578825520498181,
            0.99902993004978161562,
        ),
        (
            "leaky_d4",
            0.5,
            2.160687059577609146,
            0.74240224565772367274,
        ),
        (
            "leaky_d4",
            0.0,
            1.3059246356435042837,
            0.60751604621330149748,
        ),
        (
            "leaky_d4",
            -0.5,
            0.86364353390970102616,
            0.52402827946248230311,
        ),
        (
            "leaky_d4",
            -0.999,
            0.67614147014340749089,
            0.47576097590169621683,
        ),
        (
            "leaky_d4",
            -0.9999999999,
            0.67863530571780987059,
            0.47571168504079965666,
        ),
        (
            "leaky_d4",
            -1.0,
            0.67863617099939206552,
            0.47571168503605336661,
        ),
        (
            "erf_general_d5",
            1.0,
            3.0429960547298574354,
            0.72524296759856867175,
        ),
        (
            "erf_general_d5",
            0.999999999999,
            3.0429960547264366859,
            0.72524296759831984835,
        ),
        (
            "erf_general_d5",
            0.99999999,
            3.0429960205216059564,
            0.72524296511027956957,
        ),
        (
            "erf_general_d5",
            0.999,
            3.0395806584076257952,
            0.72499437496277193,
        ),
        (
            "erf_general_d5",
            0.5,
            2.0506237017405188231,
            0.63651562044986438916,
        ),
        (
            "erf_general_d5",
            0.0,
            1.5826262790088402422,
            0.57969852233021844815,
        ),
        (
            "erf_general_d5",
            -0.5,
            1.2609413940033322349,
            0.5341592365072069968,
        ),
        (
            "erf_general_d5",
            -0.999,
            0.99215531940362765617,
            0.49292287912895132279,
        ),
        (
            "erf_general_d5",
            -0.9999999999,
            0.99163546603029976916,
            0.49284142748439724161,
        ),
        (
            "erf_general_d5",
            -1.0,
            0.99163546597831535966,
            0.49284142747625203613,
        ),
        (
            "gauss_d4",
            1.0,
            1.3662580125976358017,
            0.97391547331581314001,
        ),
        (
            "gauss_d4",
            0.999999999999,
            1.3662580125975318128,
            0.97391547331580619866,
        ),
        (
            "gauss_d4",
            0.99999999,
            1.366258011557724151,
            0.97391547324639809075,
        ),
        (
            "gauss_d4",
            0.999,
            1.3661541915313433926,
            0.97390854151948249526,
        ),
        (
            "gauss_d4",
            0.5,
            1.339027459382868134,
            0.97196835212386585798,
        ),
        (
            "gauss_d4",
            0.0,
            1.3333041691382037308,
            0.9715199951164466425,
        ),
        (
            "gauss_d4",
            -0.5,
            1.339027459382868134,
            0.97196835212386585798,
        ),
        (
            "gauss_d4",
            -0.999,
            1.3661541915313433926,
            0.97390854151948249526,
        ),
        (
            "gauss_d4",
            -0.9999999999,
            1.3662580125872366842,
            0.97391547331511898945,
        ),
        (
            "gauss_d4",
            -1.0,
            1.3662580125976358017,
            0.97391547331581314001,
        ),
        (
            "sin_d4",
            1.0,
            0.76550618033559167483,
            0.21712971898872856722,
        ),
        (
            "sin_d4",
            0.999999999999,
            0.76550618033488943673,
            0.21712971898860650886,
        ),
        (
            "sin_d4",
            0.99999999,
            0.76550617331305538652,
            0.21712971776811792625,
        ),
        (
            "sin_d4",
            0.999,
            0.76480419396003744115,
            0.21700768922203818217,
        ),
        ("sin_d4", 0.5, 0.4657307170144270858, 0.16227837792799673075),
        (
            "sin_d4",
            0.0,
            0.22237575533926337423,
            0.11445322341639335099,
        ),
        (
            "sin_d4",
            -0.5,
            -0.016163222304595606964,
            0.067145952721375895362,
        ),
        (
            "sin_d4",
            -0.999,
            -0.29753772201346262718,
            0.014237854936889486936,
        ),
        (
            "sin_d4",
            -0.9999999999,
            -0.298184939669849686,
            0.014121293006603922367,
        ),
        (
            "sin_d4",
            -1.0,
            -0.29818493973459326422,
            0.014121292994945043275,
        ),
    ];

    #[test]
    fn exact_kernel_matches_high_precision_reference() {
        let mut worst: f64 = 0.0;
        for &(case, rho, ntk, nngp) in REFERENCE {
            let net = match case {
                "relu_unit_d10" => Network::new(arc(ClosedForm::Relu), 10),
                "relu_general_d3" => Network::general(arc(ClosedForm::Relu), 3, 1.3, 0.2, 0.8, 0.4),
                "abs_bias_d6" => Network::general(arc(ClosedForm::Abs), 6, 0.7, 0.3, 1.0, 0.0),
                "leaky_d4" => Network::new(arc(ClosedForm::LeakyRelu { slope: 0.1 }), 4),
                "erf_general_d5" => {
                    Network::general(arc(ClosedForm::Erf { scale: 1.0 }), 5, 1.3, 0.2, 0.8, 0.4)
                }
                "gauss_d4" => Network::general(arc(ClosedForm::Gaussian), 4, 1.5, 0.1, 1.0, 0.0),
                "sin_d4" => {
                    Network::general(arc(ClosedForm::Sin { freq: 0.8 }), 4, 1.2, 0.05, 1.0, 0.0)
                }
                other => panic!("unknown case {other}"),
            }
            .unwrap();
            let pk = net.pointwise(true).unwrap();
            let (t, s) = pk.ntk_nngp(rho).unwrap();
            let scale = net.ntk_at_one().unwrap();
            let err = (t - ntk).abs().max((s - nngp).abs()) / scale;
            worst = worst.max(err);
            assert!(
                err <= 1e-13,
                "{case} rho={rho}: ntk {t} vs {ntk}, nngp {s} vs {nngp} (rel. to Θ(1): {err:e})"
            );
        }
        assert!(worst < 1e-13, "worst {worst:e}");
    }

    /// `relu_unit_d4`: κ_0..κ_40 and ν_0..ν_40 (mpmath, 30 digits, Hermite sums to K = 2000).
    const RELU_UNIT_D4_NTK: [f64; 41] = [
        1.430390497210367419973804,
        0.8714780797428974591083949,
        0.6817139020907097351777984,
        0.3738467792222169392666268,
        0.2523441758204507610156241,
        0.1584669839954585870537662,
        0.1232490952614863099769296,
        0.08792712977060704544829877,
        0.07431541906365726290813878,
        0.05716632021323873517368133,
        0.05066733593675191692789891,
        0.04080035870872693714300622,
        0.03727694822740871743813734,
        0.0309431135307547979965436,
        0.02886773013716859255921941,
        0.02448491616905191123243083,
        0.02319246575794520117290831,
        0.01998985531960620641100888,
        0.01915430291370434690928342,
        0.0167156473054292713806676,
        0.01616242554126267184046728,
        0.01424478435721812564075434,
        0.01387389079423004061944559,
        0.01232660005042194498386806,
        0.012077610539797483315344,
        0.01080257251283379866269221,
        0.01063737189782763746425252,
        0.009568116045628055721570442,
        0.009461796325350682100902232,
        0.008551759118333183520274761,
        0.008487556362417019851367745,
        0.007703187856880525110319477,
        0.007669535680275113554761412,
        0.006986071852203615265534111,
        0.006974819660085836574450447,
        0.006373595195422001401680533,
        0.006378894704446962411424417,
        0.005845581258377823454931185,
        0.005863170482083247889378882,
        0.00538659002529945178447419,
        0.005413321186856780595642355,
    ];
    const RELU_UNIT_D4_NNGP: [f64; 41] = [
        0.6809535333557363479121334,
        0.1415952924802145513618918,
        0.08456327187478042824185449,
        0.0344277873012548894058456,
        0.01965457909222746123212462,
        0.009908062931220167105234719,
        0.006980764601087412057197897,
        0.004160226461267262285827503,
        0.00330156899787212178271342,
        0.002174989969639228545304421,
        0.001851498328412932112768822,
        0.001297815269436270111346898,
        0.001156863003550594242492963,
        0.0008455864734136134634690432,
        0.0007785341647992360868142304,
        0.0005864594944405504102488756,
        0.0005530335091709049883105339,
        0.0004261540793250019124624944,
        0.0004093321039735018752984597,
        0.0003210532076670008848049323,
        0.0003129145747087631710935515,
        0.0002489359944537763151664658,
        0.000245519042038079159148496,
        0.0001976036028773460882404398,
        0.0001968141682015252465341446,
        0.0001599473756760894557305193,
        0.0001606303604435208528436424,
        0.0001316178210153509021632006,
        0.0001331151785889071088136318,
        0.0001098433096129018256657138,
        0.0001117712491937246772329113,
        0.00009279589603543915407356302,
        0.00009492715215885185749177528,
        0.00007923394761976130097111556,
        0.00008143306344961348764510161,
        0.00006829225240497604791826207,
        0.00007047880310213524053429924,
        0.00005935425966216473238026866,
        0.00006148135913682739358733552,
        0.00005197185014390958322801598,
        0.00005401328973465934420219194,
    ];
    /// `relu_bias_d4`: κ_0..κ_40 and ν_0..ν_40 (mpmath, 30 digits, Hermite sums to K = 2000).
    const RELU_BIAS_D4_NTK: [f64; 41] = [
        1.691197314216254185499964,
        0.3497935271585777393978941,
        0.2246473460409011047677646,
        0.09657423672036365714987571,
        0.06625715432586443985440507,
        0.03807119018093351619712268,
        0.03121644084926972575462444,
        0.02107749047211613763409727,
        0.0187079695082081877299411,
        0.01374695205064070174163534,
        0.01274290706947639460745158,
        0.00984667995638491357622337,
        0.009378366975027472069967016,
        0.007491312128531121590814984,
        0.007267894129207343598824718,
        0.005943453978471317221192024,
        0.005843644489286406585516703,
        0.004863032628934348647613709,
        0.004829830164934041473294087,
        0.004074039728711199761776018,
        0.004078256512322152703715199,
        0.003477286748559814458631575,
        0.003502996767894357680183319,
        0.003013094658103081029116642,
        0.003051182084686964890399265,
        0.002643641356557277333507003,
        0.00268869691162639993432327,
        0.002343922221263897242640864,
        0.002392649822040634805121565,
        0.002096816723842331906734939,
        0.002147171083279653464969687,
        0.001890250952491840086564165,
        0.001940949981821436987461735,
        0.001715492224219610371715412,
        0.001765731107712163569364701,
        0.001566085015960534137240511,
        0.001615363313827445536324213,
        0.001437165282166191877245007,
        0.001485179625115398534477755,
        0.001325006017467916346706769,
        0.001371582024035647360864483,
    ];
    const RELU_BIAS_D4_NNGP: [f64; 41] = [
        0.9042092166656058283883705,
        0.05077045668286970266540407,
        0.02529141988813191402419097,
        0.007579175924629853895597322,
        0.004500710080361622232551251,
        0.001913766066203544418933493,
        0.00149529119257755470353775,
        0.0007772598174433612337625612,
        0.0006903079739249392251691886,
        0.0003998808070414691241999977,
        0.0003822283703233252364379803,
        0.0002364028721501150973289241,
        0.0002369345612366291101228263,
        0.0001530928224902940508599052,
        0.0001585878513814481256802951,
        0.0001057218542143972333038309,
        0.0001122109678517895695854277,
        0.00007657739917299259776758613,
        0.00008280624309299788243007135,
        0.00005754841308678599721936981,
        0.00006315319519008612021095655,
        0.00004453335508621899902667805,
        0.00004945777566488967619704235,
        0.00003529330505824370596296963,
        0.00003958500917206248524714234,
        0.00002852939650530811122818467,
        0.00003226537707757724903091996,
        0.00002344978012118673110926147,
        0.0000267089238221116968960655,
        0.000019551373769296596167502,
        0.00002240504225795998298793115,
        0.00001650321893231663704002728,
        0.00001901283831334874061639527,
        0.00001408099415409883133589915,
        0.0000162982948167024465593015,
        0.00001212867411921427229874144,
        0.00001409682232585352382064541,
        0.00001053525470009184392878357,
        0.00001229017090916444261158513,
        0.000009220170988099009919486729,
        0.00001079176710645445626692135,
    ];

    #[test]
    fn coefficients_match_high_precision_reference() {
        let cases = [
            (
                Network::new(arc(ClosedForm::Relu), 4).unwrap(),
                &RELU_UNIT_D4_NTK,
                &RELU_UNIT_D4_NNGP,
            ),
            (
                Network::with_bias_var(arc(ClosedForm::Relu), 4, 0.3).unwrap(),
                &RELU_BIAS_D4_NTK,
                &RELU_BIAS_D4_NNGP,
            ),
        ];
        for (net, ntk, nngp) in cases {
            for twin in [
                net.clone(),
                Network::general(
                    Arc::new(HermiteDual(ClosedForm::Relu)),
                    4,
                    net.weight_var(),
                    net.bias_var(),
                    1.0,
                    0.0,
                )
                .unwrap(),
            ] {
                let s = twin
                    .series(40, SeriesOptions::default(), &never_cancel)
                    .unwrap();
                let k = s.ntk.as_ref().unwrap();
                for p in 0..=40 {
                    assert!(
                        ((k[p] - ntk[p]) / ntk[p]).abs() < 1e-13,
                        "kappa_{p}: {} vs {}",
                        k[p],
                        ntk[p]
                    );
                    if nngp[p] == 0.0 {
                        assert_eq!(s.nngp[p], 0.0);
                    } else {
                        assert!(
                            ((s.nngp[p] - nngp[p]) / nngp[p]).abs() < 1e-13,
                            "nu_{p}: {} vs {}",
                            s.nngp[p],
                            nngp[p]
                        );
                    }
                }
            }
        }
    }
}
