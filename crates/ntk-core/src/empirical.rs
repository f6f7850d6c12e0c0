//! The finite-width **empirical NTK** of a randomly initialised fully-connected network
//! (DESIGN §1.5, last bullet).
//!
//! # Network (NTK parameterization, DESIGN §1.1)
//!
//! Depth `L ≥ 1` hidden layers of width `m ≥ 1`, a scalar linear read-out, activation `φ`.
//! Every parameter is drawn i.i.d. `N(0, 1)` by a deterministic seeded generator
//! ([`NormalRng`]); the variances enter only as scales:
//!
//! ```text
//! h¹(x)      = γ_w W¹ x + γ_b b¹                       W¹ ∈ ℝ^{m×d}, b¹ ∈ ℝ^m
//! h^{l+1}(x) = (σ_w/√m) W^{l+1} φ(h^l(x)) + σ_b b^{l+1}   W^{l+1} ∈ ℝ^{m×m}, l = 1 … L−1
//! f(x)       = (σ_w/√m) vᵀ φ(h^L(x)) + σ_b b_out        v ∈ ℝ^m, b_out ∈ ℝ
//! ```
//!
//! with `γ_w² = input_weight_var`, `γ_b² = input_bias_var`, `σ_w² = weight_var`,
//! `σ_b² = bias_var`. The first layer has **no `1/√d` factor**: inputs are meant to lie on the
//! unit sphere, and then `Cov[h¹_i(x), h¹_i(y)] = γ_w² ⟨x, y⟩ + γ_b² = Σ_1(x, y)` exactly as in
//! the infinite-width recursion of DESIGN §1.1. Unit norm is *not* enforced here (the bindings
//! validate it); for other inputs the same formulas hold with `ρ = ⟨x, y⟩`.
//!
//! # Empirical NTK without the Jacobian
//!
//! `Θ̂(x, y) = ⟨∂f(x)/∂θ, ∂f(y)/∂θ⟩` over **all** parameters θ (every weight and bias,
//! read-out included). With forward features `g⁰ = x`, `g^l = φ(h^l)` and backward vectors
//! `δ^l = ∂f/∂h^l`,
//!
//! ```text
//! δ^L     = (σ_w/√m) v ⊙ φ'(h^L)
//! δ^{l}   = (σ_w/√m) (W^{l+1})ᵀ δ^{l+1} ⊙ φ'(h^l)
//! ∂f/∂W^l = s_l δ^l (g^{l−1})ᵀ,   ∂f/∂b^l = β_l δ^l,
//! ```
//!
//! where `(s_1, β_1) = (γ_w, γ_b)` and `(s_l, β_l) = (σ_w/√m, σ_b)` for `l ≥ 2`. Hence
//!
//! ```text
//! Θ̂(x, y) = Σ_{l=1}^{L} (s_l² ⟨g^{l−1}(x), g^{l−1}(y)⟩ + β_l²) ⟨δ^l(x), δ^l(y)⟩
//!           + (σ_w²/m) ⟨g^L(x), g^L(y)⟩ + σ_b².
//! ```
//!
//! The last line alone is the empirical NNGP (conjugate) kernel `Σ̂(x, y)` — the
//! contribution of the read-out parameters — and is returned too. As `m → ∞` the two
//! converge to the NTK `Θ_{L+1}` and the NNGP `Σ_{L+1}` of DESIGN §1.1, with fluctuations
//! `O(m^{−1/2})`.
//!
//! # Algorithm and cost
//!
//! For `n` inputs (rows of `X`), all passes are `n × m` faer GEMMs: the forward pass costs
//! `2 n m (d + (L−1) m)` flops, the backward pass `2 n m² (L−1)`, the Gram contractions
//! `≈ n² (d + (2L + 1) m)` (lower triangle only, in column blocks so that the scratch is
//! `O(n · block)`, never an extra `n × n` matrix). Memory: the parameters
//! (`d m + (L−1) m² + (L+1) m + 1` numbers), the pre-activations `h^l` of every layer for
//! every input (`L n m`), three `n × m` work buffers and the two `n × n` outputs; see
//! [`workspace_bytes`]. Requests above [`MAX_WORKSPACE_BYTES`] fail with
//! [`NtkError::TooLarge`] before anything is allocated.
//!
//! # Random parameters (reproducible, thread-count independent)
//!
//! Each row of each weight matrix has its own generator stream, so parameters are
//! generated in parallel yet do not depend on the thread count:
//!
//! * row `i` of `W^l` (`l = 1 … L`, fan-in `d` or `m`, column order): stream `(seed, 2l, i)`;
//! * `b^l`: stream `(seed, 2l + 1, 0)`, entries in order;
//! * `v` then `b_out`: stream `(seed, 2L + 2, 0)`.
//!
//! A stream is [`NormalRng::stream`]: xoshiro256** seeded through SplitMix64, normals by
//! Box–Muller with `libm`'s `log`/`sin`/`cos` (both variates of a pair are used, cosine first),
//! so the parameters are bit-identical on every platform. The kernel itself is bit-identical for
//! equal seeds and equal `Par`; different `Par` may change the last bits through GEMM blocking.
use crate::closed_form::ClosedForm;
use crate::error::{NtkError, Result};
use crate::series::{check, Cancel};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef, Par};
use rayon::prelude::*;

/// Largest working set accepted by [`empirical_ntk`], [`RandomMlp::sample`] and
/// [`RandomMlp::ntk`]: 8 GiB. Larger requests fail with [`NtkError::TooLarge`] before
/// allocating (reduce `n`, the width or the depth).
pub const MAX_WORKSPACE_BYTES: usize = 8 << 30;

/// Largest depth accepted (same bound as the infinite-width kernels).
pub const MAX_DEPTH: usize = crate::kernel::MAX_DEPTH;

/// Number of columns of the `n × n` outputs computed per block in the Gram contractions
/// (scratch `2 n · GRAM_BLOCK` numbers).
const GRAM_BLOCK: usize = 256;

/// Element-wise work below this many entries runs on the calling thread.
const PAR_CHUNK: usize = 1 << 14;

// ------------------------------------------------------------------------------------------
// Activation abstraction
// ------------------------------------------------------------------------------------------

/// A pointwise activation `φ` with its derivative `φ'`, as the empirical NTK needs them.
///
/// The slice methods are called on disjoint chunks of the pre-activation matrix, **possibly
/// concurrently from several rayon threads** when the caller passes a parallel [`Par`]; the
/// defaults map [`value`](Self::value) / [`derivative`](Self::derivative) over the chunk.
/// Override them to vectorise (e.g. to call into a batch evaluator).
pub trait PointActivation: Sync {
    /// `φ(x)`.
    fn value(&self, x: f64) -> f64;
    /// `φ'(x)` (at a kink any one-sided derivative; kinks are hit with probability zero).
    fn derivative(&self, x: f64) -> f64;
    /// `out[i] = φ(x[i])`; `x.len() == out.len()`.
    fn values(&self, x: &[f64], out: &mut [f64]) {
        for (o, &v) in out.iter_mut().zip(x) {
            *o = self.value(v);
        }
    }
    /// `out[i] = φ'(x[i])`; `x.len() == out.len()`.
    fn derivatives(&self, x: &[f64], out: &mut [f64]) {
        for (o, &v) in out.iter_mut().zip(x) {
            *o = self.derivative(v);
        }
    }
}

/// Built-in closed forms: `φ = ClosedForm::eval`, `φ' = ClosedForm::eval_derivative`
/// (right derivative at kinks; the step function has `φ' = 0`, so its empirical NTK is only
/// the read-out part).
impl PointActivation for ClosedForm {
    fn value(&self, x: f64) -> f64 {
        self.eval(x)
    }
    fn derivative(&self, x: f64) -> f64 {
        self.eval_derivative(x)
    }
}

/// Boxed closure for [`FnActivation`].
pub type ScalarFn = Box<dyn Fn(f64) -> f64 + Send + Sync>;

/// Any activation given as two closures `φ` and `φ'` (the caller guarantees that the second
/// is the derivative of the first).
pub struct FnActivation {
    value: ScalarFn,
    derivative: ScalarFn,
}

impl FnActivation {
    /// Wraps `value = φ` and `derivative = φ'`.
    pub fn new(
        value: impl Fn(f64) -> f64 + Send + Sync + 'static,
        derivative: impl Fn(f64) -> f64 + Send + Sync + 'static,
    ) -> Self {
        Self {
            value: Box::new(value),
            derivative: Box::new(derivative),
        }
    }
}

impl std::fmt::Debug for FnActivation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FnActivation")
    }
}

impl PointActivation for FnActivation {
    fn value(&self, x: f64) -> f64 {
        (self.value)(x)
    }
    fn derivative(&self, x: f64) -> f64 {
        (self.derivative)(x)
    }
}

// ------------------------------------------------------------------------------------------
// Deterministic normal generator
// ------------------------------------------------------------------------------------------

/// One SplitMix64 step: advances `state` by the golden-ratio increment and returns the
/// finalised value (Steele, Lea & Flood 2014).
#[inline]
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Deterministic standard-normal generator: xoshiro256** (Blackman & Vigna) for uniform
/// 64-bit words, seeded through SplitMix64, and the Box–Muller transform
/// `Z₁ = r cos 2πu₂`, `Z₂ = r sin 2πu₂`, `r = √(−2 ln u₁)`, `u₁ ∈ (0, 1]`, `u₂ ∈ [0, 1)`
/// (53-bit uniforms; both variates are used, `Z₁` first). Uses `libm`, so the sequence is
/// the same on every platform.
#[derive(Clone, Debug)]
pub struct NormalRng {
    s: [u64; 4],
    spare: Option<f64>,
}

impl NormalRng {
    /// Generator whose xoshiro state is four successive SplitMix64 outputs from `seed`.
    pub fn new(seed: u64) -> Self {
        let mut sm = seed;
        let s = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        // Four consecutive SplitMix64 outputs are never all zero (it is a bijection of
        // distinct counters), so the xoshiro state is valid.
        Self { s, spare: None }
    }

    /// Independent stream number `(block, row)` of the master seed `seed`: the three words
    /// are chained through SplitMix64 before seeding [`NormalRng::new`].
    pub fn stream(seed: u64, block: u64, row: u64) -> Self {
        let mut a = seed;
        let mut b = splitmix64(&mut a) ^ block.wrapping_mul(0xD1B5_4A32_D192_ED03);
        let mut c = splitmix64(&mut b) ^ row.wrapping_mul(0xAEF1_7502_108E_F2D9);
        Self::new(splitmix64(&mut c))
    }

    /// Next uniform 64-bit word (xoshiro256**).
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Next standard normal variate.
    #[inline]
    pub fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        const SCALE: f64 = 1.0 / (1u64 << 53) as f64;
        let u1 = ((self.next_u64() >> 11) as f64 + 1.0) * SCALE; // (0, 1]
        let u2 = (self.next_u64() >> 11) as f64 * SCALE; // [0, 1)
        let r = (-2.0 * libm::log(u1)).sqrt();
        let angle = std::f64::consts::TAU * u2;
        self.spare = Some(r * libm::sin(angle));
        r * libm::cos(angle)
    }

    /// Fills `out` with successive normal variates.
    pub fn fill_normal(&mut self, out: &mut [f64]) {
        for o in out {
            *o = self.normal();
        }
    }
}

// ------------------------------------------------------------------------------------------
// Variances and the random network
// ------------------------------------------------------------------------------------------

/// The four variances of DESIGN §1.1 (all finite and `≥ 0`).
///
/// `input_weight_var = γ_w²`, `input_bias_var = γ_b²` scale the first affine layer;
/// `weight_var = σ_w²`, `bias_var = σ_b²` every later one, read-out included.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EmpiricalVariances {
    /// `σ_w²`: hidden-to-hidden and read-out weights (scaled by `σ_w/√m`).
    pub weight_var: f64,
    /// `σ_b²`: hidden and read-out biases (scaled by `σ_b`).
    pub bias_var: f64,
    /// `γ_w²`: first-layer weights (scaled by `γ_w`, no `1/√d`).
    pub input_weight_var: f64,
    /// `γ_b²`: first-layer biases (scaled by `γ_b`).
    pub input_bias_var: f64,
}

impl EmpiricalVariances {
    /// `Err(InvalidArgument)` unless every variance is finite and non-negative.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("weight_var", self.weight_var),
            ("bias_var", self.bias_var),
            ("input_weight_var", self.input_weight_var),
            ("input_bias_var", self.input_bias_var),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(NtkError::InvalidArgument(format!(
                    "{name} must be a finite non-negative number (got {v})"
                )));
            }
        }
        Ok(())
    }
}

/// Number of parameters `d m + m + (L−1)(m² + m) + m + 1`, or `None` on overflow.
pub fn parameter_count(input_dim: usize, depth: usize, width: usize) -> Option<usize> {
    let m = width;
    let hidden = m.checked_mul(m)?.checked_add(m)?;
    input_dim
        .checked_mul(m)?
        .checked_add(m)?
        .checked_add(depth.checked_sub(1)?.checked_mul(hidden)?)?
        .checked_add(m)?
        .checked_add(1)
}

/// Bytes of the activations and outputs of [`RandomMlp::ntk`] for `n` inputs:
/// `8 · (L n m + 3 n m + 2 n² + 2 n · block + n)`, or `None` on overflow.
fn activation_numbers(n: usize, depth: usize, width: usize) -> Option<usize> {
    let nm = n.checked_mul(width)?;
    let block = GRAM_BLOCK.min(n.max(1));
    nm.checked_mul(depth.checked_add(3)?)?
        .checked_add(n.checked_mul(n)?.checked_mul(2)?)?
        .checked_add(n.checked_mul(block)?.checked_mul(2)?)?
        .checked_add(n)
}

/// Working set in bytes of [`empirical_ntk`] for `n` inputs of dimension `d`:
/// `8 · (parameters + L n m + 3 n m + 2 n² + 2 n · 256 + n)`; `None` if it overflows `usize`.
pub fn workspace_bytes(n: usize, input_dim: usize, depth: usize, width: usize) -> Option<usize> {
    parameter_count(input_dim, depth, width)?
        .checked_add(activation_numbers(n, depth, width)?)?
        .checked_mul(std::mem::size_of::<f64>())
}

fn too_large(what: &str, bytes: Option<usize>) -> NtkError {
    let size = match bytes {
        Some(b) => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        None => "more than the address space".to_string(),
    };
    NtkError::TooLarge(format!(
        "empirical NTK: {what} would need {size} (limit {} GiB); reduce the number of inputs, \
         the width or the depth",
        MAX_WORKSPACE_BYTES >> 30
    ))
}

fn check_bytes(what: &str, numbers: Option<usize>) -> Result<()> {
    let bytes = numbers.and_then(|k| k.checked_mul(std::mem::size_of::<f64>()));
    match bytes {
        Some(b) if b <= MAX_WORKSPACE_BYTES => Ok(()),
        _ => Err(too_large(what, bytes)),
    }
}

/// A zeroed `Vec<f64>` of length `len`, or `TooLarge` if the allocation fails.
fn try_zeros(len: usize) -> Result<Vec<f64>> {
    let mut v = Vec::new();
    v.try_reserve_exact(len)
        .map_err(|_| too_large("an allocation", len.checked_mul(8)))?;
    v.resize(len, 0.0);
    Ok(v)
}

/// A zeroed `n × n` faer matrix, or `TooLarge` if the allocation fails.
fn try_mat(n: usize) -> Result<Mat<f64>> {
    let mut a = Mat::<f64>::new();
    a.try_reserve(n, n).map_err(|_| {
        too_large(
            "an n×n output",
            n.checked_mul(n).and_then(|k| k.checked_mul(8)),
        )
    })?;
    a.resize_with(n, n, |_, _| 0.0);
    Ok(a)
}

fn validate_shape(depth: usize, width: usize, input_dim: usize) -> Result<()> {
    if depth == 0 {
        return Err(NtkError::InvalidArgument(
            "depth (number of hidden layers) must be at least 1".into(),
        ));
    }
    if depth > MAX_DEPTH {
        return Err(NtkError::InvalidArgument(format!(
            "depth {depth} is too large (at most {MAX_DEPTH})"
        )));
    }
    if width == 0 {
        return Err(NtkError::InvalidArgument("width must be at least 1".into()));
    }
    if input_dim == 0 {
        return Err(NtkError::InvalidArgument(
            "inputs must have at least one feature (d ≥ 1)".into(),
        ));
    }
    Ok(())
}

/// One affine layer `h ↦ s W h + β b` (the scales live in [`RandomMlp`]).
#[derive(Clone, Debug)]
struct Dense {
    /// Row-major `fan_out × fan_in` i.i.d. `N(0, 1)` weights.
    weights: Vec<f64>,
    /// `fan_out` i.i.d. `N(0, 1)` biases.
    bias: Vec<f64>,
    fan_in: usize,
}

/// A randomly initialised network of the module-level form (its parameters materialised):
/// `L` hidden layers of width `m` on inputs of dimension `d`, NTK parameterization, all
/// parameters i.i.d. `N(0, 1)` from the streams described in the module docs.
#[derive(Clone, Debug)]
pub struct RandomMlp {
    input_dim: usize,
    width: usize,
    vars: EmpiricalVariances,
    seed: u64,
    layers: Vec<Dense>,
    readout: Vec<f64>,
    readout_bias: f64,
}

/// Fills the row-major `rows × cols` matrix `w` with stream `(seed, block, i)` in row `i`,
/// in parallel over rows when `par` allows (the result does not depend on `par`).
fn fill_rows(w: &mut [f64], cols: usize, seed: u64, block: u64, par: Par) {
    let fill = |(i, row): (usize, &mut [f64])| {
        NormalRng::stream(seed, block, i as u64).fill_normal(row);
    };
    if par.degree() > 1 && w.len() >= PAR_CHUNK {
        w.par_chunks_mut(cols).enumerate().for_each(fill);
    } else {
        w.chunks_mut(cols).enumerate().for_each(fill);
    }
}

impl RandomMlp {
    /// Draws the parameters of a depth-`depth`, width-`width` network on `input_dim`-dimensional
    /// inputs from `seed` (see the module docs for the streams). `par` only parallelises the
    /// generation; the parameters do not depend on it. `cancel` is polled between layers.
    ///
    /// Errors: `depth == 0` or `> MAX_DEPTH`, `width == 0`, `input_dim == 0`, a negative /
    /// NaN / infinite variance (`InvalidArgument`); more than [`MAX_WORKSPACE_BYTES`] of
    /// parameters (`TooLarge`); cancellation (`Interrupted`).
    pub fn sample(
        input_dim: usize,
        depth: usize,
        width: usize,
        vars: EmpiricalVariances,
        seed: u64,
        par: Par,
        cancel: Cancel,
    ) -> Result<Self> {
        validate_shape(depth, width, input_dim)?;
        vars.validate()?;
        check_bytes("the parameters", parameter_count(input_dim, depth, width))?;
        let m = width;
        let mut layers = Vec::with_capacity(depth);
        for l in 1..=depth {
            check(cancel)?;
            let fan_in = if l == 1 { input_dim } else { m };
            let mut weights = try_zeros(m * fan_in)?;
            fill_rows(&mut weights, fan_in, seed, 2 * l as u64, par);
            let mut bias = try_zeros(m)?;
            NormalRng::stream(seed, 2 * l as u64 + 1, 0).fill_normal(&mut bias);
            layers.push(Dense {
                weights,
                bias,
                fan_in,
            });
        }
        let mut rng = NormalRng::stream(seed, 2 * depth as u64 + 2, 0);
        let mut readout = try_zeros(m)?;
        rng.fill_normal(&mut readout);
        let readout_bias = rng.normal();
        Ok(Self {
            input_dim,
            width,
            vars,
            seed,
            layers,
            readout,
            readout_bias,
        })
    }

    /// Input dimension `d`.
    pub fn input_dim(&self) -> usize {
        self.input_dim
    }
    /// Width `m` of every hidden layer.
    pub fn width(&self) -> usize {
        self.width
    }
    /// Number of hidden layers `L`.
    pub fn depth(&self) -> usize {
        self.layers.len()
    }
    /// The variances the network was built with.
    pub fn variances(&self) -> EmpiricalVariances {
        self.vars
    }
    /// The master seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }
    /// Total number of scalar parameters `d m + m + (L−1)(m² + m) + m + 1`.
    pub fn parameter_count(&self) -> usize {
        let w: usize = self
            .layers
            .iter()
            .map(|l| l.weights.len() + l.bias.len())
            .sum();
        w + self.readout.len() + 1
    }

    /// Unscaled weights `W^l` (`m × fan_in`, fan-in `d` for `l = 1`, else `m`) of hidden layer
    /// `l ∈ 1..=L`; `None` outside that range.
    pub fn weights(&self, layer: usize) -> Option<MatRef<'_, f64>> {
        let d = self.layers.get(layer.checked_sub(1)?)?;
        Some(MatRef::from_row_major_slice(
            &d.weights, self.width, d.fan_in,
        ))
    }
    /// Unscaled biases `b^l ∈ ℝ^m` of hidden layer `l ∈ 1..=L`; `None` outside that range.
    pub fn bias(&self, layer: usize) -> Option<&[f64]> {
        Some(&self.layers.get(layer.checked_sub(1)?)?.bias)
    }
    /// Unscaled read-out weights `v ∈ ℝ^m`.
    pub fn readout(&self) -> &[f64] {
        &self.readout
    }
    /// Unscaled read-out bias `b_out`.
    pub fn readout_bias(&self) -> f64 {
        self.readout_bias
    }

    /// Scales `(s_l, β_l)` of hidden layer `l` (1-based): `(γ_w, γ_b)` for `l = 1`,
    /// `(σ_w/√m, σ_b)` otherwise.
    fn scales(&self, l: usize) -> (f64, f64) {
        if l == 1 {
            (
                self.vars.input_weight_var.sqrt(),
                self.vars.input_bias_var.sqrt(),
            )
        } else {
            (
                (self.vars.weight_var / self.width as f64).sqrt(),
                self.vars.bias_var.sqrt(),
            )
        }
    }

    /// Empirical NTK `Θ̂ = J Jᵀ` (all parameters), empirical NNGP `Σ̂` (read-out parameters
    /// only) and outputs `f(x_i)` of this network on the rows of `x` (`n × d`, any strides),
    /// computed from forward features and backward vectors without forming `J` (module docs).
    ///
    /// Errors: `x.ncols() != d` (`InvalidArgument`); NaN/inf in `x` (`NonFinite`, naming the
    /// first bad row); activations or kernel overflowing `f64` or an activation returning
    /// NaN (`Domain`); working set above [`MAX_WORKSPACE_BYTES`] (`TooLarge`, before
    /// allocating); cancellation, polled between layers and Gram blocks (`Interrupted`).
    pub fn ntk(
        &self,
        x: MatRef<'_, f64>,
        act: &dyn PointActivation,
        par: Par,
        cancel: Cancel,
    ) -> Result<EmpiricalNtk> {
        if x.ncols() != self.input_dim {
            return Err(NtkError::InvalidArgument(format!(
                "inputs have {} columns but the network expects d = {}",
                x.ncols(),
                self.input_dim
            )));
        }
        check_finite_rows(x)?;
        check_bytes(
            "the activations and outputs",
            activation_numbers(x.nrows(), self.depth(), self.width),
        )?;
        check(cancel)?;
        self.ntk_unchecked(x, act, par, cancel)
    }

    fn ntk_unchecked(
        &self,
        x: MatRef<'_, f64>,
        act: &dyn PointActivation,
        par: Par,
        cancel: Cancel,
    ) -> Result<EmpiricalNtk> {
        let n = x.nrows();
        let m = self.width;
        let depth = self.depth();
        if n == 0 {
            return Ok(EmpiricalNtk {
                ntk: Mat::zeros(0, 0),
                nngp: Mat::zeros(0, 0),
                outputs: Vec::new(),
            });
        }
        let nm = n * m;

        // ---- forward: pre-activations H^l (column-major n × m) for l = 1..L ----
        let mut hs: Vec<Vec<f64>> = Vec::with_capacity(depth);
        let mut g = try_zeros(nm)?;
        for l in 1..=depth {
            check(cancel)?;
            let layer = &self.layers[l - 1];
            let (s, beta) = self.scales(l);
            let mut h = try_zeros(nm)?;
            {
                let w = MatRef::from_row_major_slice(&layer.weights, m, layer.fan_in);
                let hv = MatMut::from_column_major_slice_mut(&mut h, n, m);
                if l == 1 {
                    matmul(hv, Accum::Replace, x, w.transpose(), s, par);
                } else {
                    apply_activation(act, false, &hs[l - 2], &mut g, par);
                    let gv = MatRef::from_column_major_slice(&g, n, m);
                    matmul(hv, Accum::Replace, gv, w.transpose(), s, par);
                }
            }
            if beta != 0.0 {
                for_each_column(&mut h, n, par, |j, col| {
                    let b = beta * layer.bias[j];
                    col.iter_mut().for_each(|v| *v += b);
                });
            }
            if let Some(pos) = first_non_finite(&h) {
                return Err(NtkError::Domain(format!(
                    "empirical NTK: pre-activation of hidden layer {l} is not finite for input \
                     row {} (overflow, or the activation returned NaN/inf); reduce the \
                     variances or the depth",
                    pos % n
                )));
            }
            hs.push(h);
        }

        // ---- read-out: outputs and the empirical NNGP Σ̂ = (σ_w²/m) G^L G^Lᵀ + σ_b² ----
        check(cancel)?;
        let s_out = (self.vars.weight_var / m as f64).sqrt();
        let beta_out = self.vars.bias_var.sqrt();
        apply_activation(act, false, &hs[depth - 1], &mut g, par);
        if let Some(pos) = first_non_finite(&g) {
            return Err(NtkError::Domain(format!(
                "empirical NTK: the activation of hidden layer {depth} is not finite for input \
                 row {}",
                pos % n
            )));
        }
        let gv = MatRef::from_column_major_slice(&g, n, m);
        let mut outputs = try_zeros(n)?;
        {
            let v = MatRef::from_column_major_slice(&self.readout, m, 1);
            let out = MatMut::from_column_major_slice_mut(&mut outputs, n, 1);
            matmul(out, Accum::Replace, gv, v, s_out, par);
            let b = beta_out * self.readout_bias;
            outputs.iter_mut().for_each(|o| *o += b);
        }
        let mut nngp = try_mat(n)?;
        let mut scratch_a = try_zeros(n * GRAM_BLOCK.min(n))?;
        let mut scratch_b = try_zeros(n * GRAM_BLOCK.min(n))?;
        gram_lower(
            nngp.as_mut(),
            gv,
            None,
            s_out * s_out,
            beta_out * beta_out,
            &mut scratch_a,
            &mut scratch_b,
            par,
            cancel,
        )?;
        let mut ntk = try_mat(n)?;
        copy_lower(ntk.as_mut(), nngp.as_ref());

        // ---- backward: Δ^L, then Δ^{l−1} = s_l (Δ^l W^l) ⊙ φ'(H^{l−1}) ----
        let mut dcur = try_zeros(nm)?;
        apply_activation(act, true, &hs[depth - 1], &mut dcur, par);
        for_each_column(&mut dcur, n, par, |j, col| {
            let c = s_out * self.readout[j];
            col.iter_mut().for_each(|v| *v *= c);
        });
        let mut dnext = try_zeros(nm)?;
        for l in (1..=depth).rev() {
            check(cancel)?;
            let (s, beta) = self.scales(l);
            let dv = MatRef::from_column_major_slice(&dcur, n, m);
            if l == 1 {
                gram_lower(
                    ntk.as_mut(),
                    x,
                    Some(dv),
                    s * s,
                    beta * beta,
                    &mut scratch_a,
                    &mut scratch_b,
                    par,
                    cancel,
                )?;
            } else {
                apply_activation(act, false, &hs[l - 2], &mut g, par);
                let gv = MatRef::from_column_major_slice(&g, n, m);
                gram_lower(
                    ntk.as_mut(),
                    gv,
                    Some(dv),
                    s * s,
                    beta * beta,
                    &mut scratch_a,
                    &mut scratch_b,
                    par,
                    cancel,
                )?;
                check(cancel)?;
                let layer = &self.layers[l - 1];
                let w = MatRef::from_row_major_slice(&layer.weights, m, layer.fan_in);
                matmul(
                    MatMut::from_column_major_slice_mut(&mut dnext, n, m),
                    Accum::Replace,
                    dv,
                    w,
                    s,
                    par,
                );
                // g is free again: reuse it for φ'(H^{l−1}).
                apply_activation(act, true, &hs[l - 2], &mut g, par);
                hadamard_in_place(&mut dnext, &g, par);
                std::mem::swap(&mut dcur, &mut dnext);
                // H^{l−1} is still needed (φ(H^{l−1}) at the next step); H^l is not.
                hs[l - 1] = Vec::new();
            }
        }

        symmetrize_from_lower(ntk.as_mut());
        symmetrize_from_lower(nngp.as_mut());
        for (name, k) in [("NTK", &ntk), ("NNGP", &nngp)] {
            if !k.as_ref().is_all_finite() {
                return Err(NtkError::Domain(format!(
                    "empirical NTK: the {name} overflowed (non-finite entries); reduce the \
                     variances, the depth or the input scale"
                )));
            }
        }
        Ok(EmpiricalNtk { ntk, nngp, outputs })
    }
}

/// Result of [`empirical_ntk`] / [`RandomMlp::ntk`] for inputs `x_1 … x_n`.
#[derive(Clone, Debug)]
pub struct EmpiricalNtk {
    /// `n × n` empirical NTK `Θ̂_ij = ⟨∂f(x_i)/∂θ, ∂f(x_j)/∂θ⟩` over all parameters
    /// (exactly symmetric).
    pub ntk: Mat<f64>,
    /// `n × n` empirical NNGP (conjugate) kernel `Σ̂_ij = (σ_w²/m) ⟨φ(h^L(x_i)), φ(h^L(x_j))⟩
    /// + σ_b²`: the read-out parameters' share of `Θ̂` (exactly symmetric).
    pub nngp: Mat<f64>,
    /// Network outputs `f(x_i)`.
    pub outputs: Vec<f64>,
}

/// Empirical NTK of a random depth-`depth`, width-`width` network (module docs for the
/// parameterization) on the rows of `x` (`n × d`, any strides; meant to be unit vectors).
///
/// Draws the parameters from `seed` ([`RandomMlp::sample`]) and contracts the per-layer
/// forward features and backward vectors ([`RandomMlp::ntk`]):
/// `Θ̂ = Σ_l (s_l² G^{l−1} G^{l−1 ᵀ} + β_l²) ⊙ (Δ^l Δ^{lᵀ}) + (σ_w²/m) G^L G^{Lᵀ} + σ_b²`.
/// GEMMs and element-wise work use `par`; `cancel` is polled between layers and Gram blocks.
///
/// Errors: `depth == 0` (or `> MAX_DEPTH`), `width == 0`, `d == 0`, negative / NaN / infinite
/// variances (`InvalidArgument`); NaN/inf in `x` (`NonFinite`); working set
/// ([`workspace_bytes`]) above [`MAX_WORKSPACE_BYTES`] (`TooLarge`, checked before any
/// allocation); overflow or NaN from the activation (`Domain`); cancellation (`Interrupted`).
#[allow(clippy::too_many_arguments)]
pub fn empirical_ntk(
    x: MatRef<'_, f64>,
    act: &dyn PointActivation,
    depth: usize,
    width: usize,
    vars: EmpiricalVariances,
    seed: u64,
    par: Par,
    cancel: Cancel,
) -> Result<EmpiricalNtk> {
    let (n, d) = (x.nrows(), x.ncols());
    validate_shape(depth, width, d)?;
    vars.validate()?;
    check_finite_rows(x)?;
    let bytes = workspace_bytes(n, d, depth, width);
    if bytes.is_none_or(|b| b > MAX_WORKSPACE_BYTES) {
        return Err(too_large("this request", bytes));
    }
    check(cancel)?;
    let net = RandomMlp::sample(d, depth, width, vars, seed, par, cancel)?;
    net.ntk(x, act, par, cancel)
}

// ------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------

fn check_finite_rows(x: MatRef<'_, f64>) -> Result<()> {
    for i in 0..x.nrows() {
        for j in 0..x.ncols() {
            let v = x[(i, j)];
            if !v.is_finite() {
                return Err(NtkError::NonFinite(format!(
                    "input row {i} contains a non-finite value ({v}) in column {j}"
                )));
            }
        }
    }
    Ok(())
}

fn first_non_finite(a: &[f64]) -> Option<usize> {
    a.iter().position(|v| !v.is_finite())
}

/// `out = φ(input)` (or `φ'` when `derivative`), in parallel chunks when `par` allows.
fn apply_activation(
    act: &dyn PointActivation,
    derivative: bool,
    input: &[f64],
    out: &mut [f64],
    par: Par,
) {
    let run = |(o, i): (&mut [f64], &[f64])| {
        if derivative {
            act.derivatives(i, o)
        } else {
            act.values(i, o)
        }
    };
    if par.degree() > 1 && input.len() > PAR_CHUNK {
        out.par_chunks_mut(PAR_CHUNK)
            .zip(input.par_chunks(PAR_CHUNK))
            .for_each(run);
    } else {
        run((out, input));
    }
}

/// `a ⊙= b`.
fn hadamard_in_place(a: &mut [f64], b: &[f64], par: Par) {
    let run = |(x, y): (&mut [f64], &[f64])| x.iter_mut().zip(y).for_each(|(x, y)| *x *= y);
    if par.degree() > 1 && a.len() > PAR_CHUNK {
        a.par_chunks_mut(PAR_CHUNK)
            .zip(b.par_chunks(PAR_CHUNK))
            .for_each(run);
    } else {
        run((a, b));
    }
}

/// Calls `f(j, column_j)` for each column of the column-major `n × ·` buffer `a`.
fn for_each_column(a: &mut [f64], n: usize, par: Par, f: impl Fn(usize, &mut [f64]) + Sync) {
    if par.degree() > 1 && a.len() > PAR_CHUNK {
        a.par_chunks_mut(n).enumerate().for_each(|(j, c)| f(j, c));
    } else {
        a.chunks_mut(n).enumerate().for_each(|(j, c)| f(j, c));
    }
}

/// Lower triangle (diagonal included) of `out`:
/// * `d == None`: `out = alpha · G Gᵀ + c`;
/// * `d == Some(D)`: `out += (alpha · G Gᵀ + c) ⊙ (D Dᵀ)`.
///
/// Computed in column blocks `[j0, j1)`: the rows `j0..n` of the block are one rectangular
/// GEMM `G[j0.., :] · G[j0..j1, :]ᵀ` into scratch (`(n − j0) × (j1 − j0)`), so no `n × n`
/// temporary is needed. Entries above the diagonal may be written too (they are overwritten
/// by [`symmetrize_from_lower`]).
#[allow(clippy::too_many_arguments)]
fn gram_lower(
    mut out: MatMut<'_, f64>,
    g: MatRef<'_, f64>,
    d: Option<MatRef<'_, f64>>,
    alpha: f64,
    c: f64,
    scratch_a: &mut [f64],
    scratch_b: &mut [f64],
    par: Par,
    cancel: Cancel,
) -> Result<()> {
    let n = g.nrows();
    let mut j0 = 0;
    while j0 < n {
        check(cancel)?;
        let bs = GRAM_BLOCK.min(n - j0);
        let rows = n - j0;
        let gr = g.subrows(j0, rows);
        let gc = g.subrows(j0, bs);
        match d {
            None => {
                let blk = out.as_mut().submatrix_mut(j0, j0, rows, bs);
                matmul(blk, Accum::Replace, gr, gc.transpose(), alpha, par);
                if c != 0.0 {
                    for jj in 0..bs {
                        for ii in jj..rows {
                            out[(j0 + ii, j0 + jj)] += c;
                        }
                    }
                }
            }
            Some(dm) => {
                let a = MatMut::from_column_major_slice_mut(&mut scratch_a[..rows * bs], rows, bs);
                matmul(a, Accum::Replace, gr, gc.transpose(), alpha, par);
                let dr = dm.subrows(j0, rows);
                let dc = dm.subrows(j0, bs);
                let b = MatMut::from_column_major_slice_mut(&mut scratch_b[..rows * bs], rows, bs);
                matmul(b, Accum::Replace, dr, dc.transpose(), 1.0, par);
                for jj in 0..bs {
                    let ac = &scratch_a[jj * rows..(jj + 1) * rows];
                    let bc = &scratch_b[jj * rows..(jj + 1) * rows];
                    for ii in jj..rows {
                        out[(j0 + ii, j0 + jj)] += (ac[ii] + c) * bc[ii];
                    }
                }
            }
        }
        j0 += bs;
    }
    Ok(())
}

/// Copies the lower triangle (diagonal included) of `src` into `dst`.
fn copy_lower(mut dst: MatMut<'_, f64>, src: MatRef<'_, f64>) {
    for j in 0..src.ncols() {
        for i in j..src.nrows() {
            dst[(i, j)] = src[(i, j)];
        }
    }
}

/// `a[j, i] = a[i, j]` for `i > j`.
fn symmetrize_from_lower(mut a: MatMut<'_, f64>) {
    for j in 0..a.ncols() {
        for i in j + 1..a.nrows() {
            a[(j, i)] = a[(i, j)];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::never_cancel;

    // ---------------- an independent reference: forward-mode autodiff ----------------

    /// Dual number `v + t ε`, `ε² = 0`.
    #[derive(Clone, Copy, Debug)]
    struct Dn {
        v: f64,
        t: f64,
    }
    impl Dn {
        fn c(v: f64) -> Self {
            Dn { v, t: 0.0 }
        }
        fn add(self, o: Dn) -> Dn {
            Dn {
                v: self.v + o.v,
                t: self.t + o.t,
            }
        }
        fn mul(self, o: Dn) -> Dn {
            Dn {
                v: self.v * o.v,
                t: self.t * o.v + self.v * o.t,
            }
        }
        fn div(self, o: Dn) -> Dn {
            Dn {
                v: self.v / o.v,
                t: (self.t * o.v - self.v * o.t) / (o.v * o.v),
            }
        }
        fn scale(self, s: f64) -> Dn {
            Dn {
                v: self.v * s,
                t: self.t * s,
            }
        }
        fn exp(self) -> Dn {
            let e = self.v.exp();
            Dn {
                v: e,
                t: e * self.t,
            }
        }
    }

    #[derive(Clone, Copy, Debug)]
    enum Kind {
        Relu,
        Erf,
        Tanh,
    }

    /// φ on duals, written independently of the code under test: ReLU by cases, erf with its
    /// textbook derivative, tanh as `(e^{2x} − 1)/(e^{2x} + 1)` through dual arithmetic.
    fn phi_dual(kind: Kind, x: Dn) -> Dn {
        match kind {
            Kind::Relu => {
                if x.v > 0.0 {
                    x
                } else {
                    Dn::c(0.0)
                }
            }
            Kind::Erf => Dn {
                v: libm::erf(x.v),
                t: 2.0 / std::f64::consts::PI.sqrt() * (-x.v * x.v).exp() * x.t,
            },
            Kind::Tanh => {
                let e = x.scale(2.0).exp();
                e.add(Dn::c(-1.0)).div(e.add(Dn::c(1.0)))
            }
        }
    }

    /// `f(x; θ)` over a flat θ = [W¹ (row-major), b¹, W², b², …, W^L, b^L, v, b_out].
    fn forward_dual(
        theta: &[Dn],
        x: &[f64],
        depth: usize,
        m: usize,
        vars: EmpiricalVariances,
        kind: Kind,
    ) -> Dn {
        let d = x.len();
        let mut p = 0;
        let mut g: Vec<Dn> = x.iter().map(|&v| Dn::c(v)).collect();
        for l in 1..=depth {
            let fan_in = if l == 1 { d } else { m };
            let (s, beta) = if l == 1 {
                (vars.input_weight_var.sqrt(), vars.input_bias_var.sqrt())
            } else {
                ((vars.weight_var / m as f64).sqrt(), vars.bias_var.sqrt())
            };
            let w = &theta[p..p + m * fan_in];
            p += m * fan_in;
            let b = &theta[p..p + m];
            p += m;
            let mut h = Vec::with_capacity(m);
            for i in 0..m {
                let mut acc = Dn::c(0.0);
                for j in 0..fan_in {
                    acc = acc.add(w[i * fan_in + j].mul(g[j]));
                }
                h.push(acc.scale(s).add(b[i].scale(beta)));
            }
            g = h.into_iter().map(|z| phi_dual(kind, z)).collect();
        }
        let v = &theta[p..p + m];
        p += m;
        let mut acc = Dn::c(0.0);
        for i in 0..m {
            acc = acc.add(v[i].mul(g[i]));
        }
        let out = acc
            .scale((vars.weight_var / m as f64).sqrt())
            .add(theta[p].scale(vars.bias_var.sqrt()));
        assert_eq!(p + 1, theta.len());
        out
    }

    fn flat_parameters(net: &RandomMlp) -> Vec<f64> {
        let mut th = Vec::new();
        for l in 1..=net.depth() {
            let w = net.weights(l).unwrap();
            for i in 0..w.nrows() {
                for j in 0..w.ncols() {
                    th.push(w[(i, j)]);
                }
            }
            th.extend_from_slice(net.bias(l).unwrap());
        }
        th.extend_from_slice(net.readout());
        th.push(net.readout_bias());
        th
    }

    fn random_unit_rows(n: usize, d: usize, seed: u64) -> Mat<f64> {
        let mut rng = NormalRng::new(seed);
        let mut x = Mat::<f64>::zeros(n, d);
        for i in 0..n {
            let row: Vec<f64> = (0..d).map(|_| rng.normal()).collect();
            let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt();
            for j in 0..d {
                x[(i, j)] = row[j] / norm;
            }
        }
        x
    }

    fn check_against_autodiff(kind: Kind, act: &dyn PointActivation) {
        let (n, d, m, depth) = (4, 3, 5, 2);
        let vars = EmpiricalVariances {
            weight_var: 1.7,
            bias_var: 0.3,
            input_weight_var: 0.8,
            input_bias_var: 0.2,
        };
        let x = random_unit_rows(n, d, 11);
        let net = RandomMlp::sample(d, depth, m, vars, 42, Par::Seq, &never_cancel).unwrap();
        let theta = flat_parameters(&net);
        assert_eq!(theta.len(), net.parameter_count());
        assert_eq!(theta.len(), parameter_count(d, depth, m).unwrap());
        let np = theta.len();
        let ro = np - m - 1; // first read-out parameter
        let mut jac = vec![vec![0.0; np]; n];
        let mut f = vec![0.0; n];
        for i in 0..n {
            let xi: Vec<f64> = (0..d).map(|j| x[(i, j)]).collect();
            for (p, jp) in jac[i].iter_mut().enumerate() {
                let th: Vec<Dn> = theta
                    .iter()
                    .enumerate()
                    .map(|(q, &v)| Dn {
                        v,
                        t: if q == p { 1.0 } else { 0.0 },
                    })
                    .collect();
                let out = forward_dual(&th, &xi, depth, m, vars, kind);
                *jp = out.t;
                f[i] = out.v;
            }
        }
        let mut worst: f64 = 0.0;
        for par in [Par::Seq, Par::rayon(2)] {
            let r = net.ntk(x.as_ref(), act, par, &never_cancel).unwrap();
            let scale = (0..n).map(|i| r.ntk[(i, i)]).fold(0.0, f64::max);
            for i in 0..n {
                assert!((r.outputs[i] - f[i]).abs() <= 1e-12 * (1.0 + f[i].abs()));
                for j in 0..n {
                    let full: f64 = (0..np).map(|p| jac[i][p] * jac[j][p]).sum();
                    let readout: f64 = (ro..np).map(|p| jac[i][p] * jac[j][p]).sum();
                    let e = (r.ntk[(i, j)] - full).abs();
                    worst = worst.max(e / full.abs());
                    assert!(
                        e <= 1e-10 * full.abs().max(1e-3 * scale),
                        "{kind:?} ntk[{i},{j}] = {} vs autodiff {full}",
                        r.ntk[(i, j)]
                    );
                    let e = (r.nngp[(i, j)] - readout).abs();
                    assert!(
                        e <= 1e-10 * readout.abs().max(1e-3 * scale),
                        "{kind:?} nngp[{i},{j}] = {} vs autodiff {readout}",
                        r.nngp[(i, j)]
                    );
                    assert_eq!(r.ntk[(i, j)], r.ntk[(j, i)]);
                }
            }
        }
        eprintln!("{kind:?}: max relative deviation from autodiff J Jᵀ {worst:.2e}");
    }

    #[test]
    fn empirical_matches_autodiff_relu() {
        check_against_autodiff(Kind::Relu, &ClosedForm::Relu);
    }

    #[test]
    fn empirical_matches_autodiff_erf() {
        check_against_autodiff(Kind::Erf, &ClosedForm::Erf { scale: 1.0 });
    }

    #[test]
    fn empirical_matches_autodiff_tanh_closures() {
        let act = FnActivation::new(f64::tanh, |x: f64| 1.0 - x.tanh().powi(2));
        check_against_autodiff(Kind::Tanh, &act);
    }

    #[test]
    fn empirical_matches_autodiff_depth_3() {
        // Depth 3 (two hidden-to-hidden layers in the backward pass), diagonal entries.
        let (n, d, m, depth) = (3, 2, 4, 3);
        let vars = EmpiricalVariances {
            weight_var: 1.2,
            bias_var: 0.1,
            input_weight_var: 1.0,
            input_bias_var: 0.5,
        };
        let x = random_unit_rows(n, d, 5);
        let net = RandomMlp::sample(d, depth, m, vars, 9, Par::Seq, &never_cancel).unwrap();
        let theta = flat_parameters(&net);
        let r = net
            .ntk(
                x.as_ref(),
                &ClosedForm::Erf { scale: 1.0 },
                Par::Seq,
                &never_cancel,
            )
            .unwrap();
        for i in 0..n {
            let xi: Vec<f64> = (0..d).map(|j| x[(i, j)]).collect();
            let ji: Vec<f64> = (0..theta.len())
                .map(|p| {
                    let th: Vec<Dn> = theta
                        .iter()
                        .enumerate()
                        .map(|(q, &v)| Dn {
                            v,
                            t: (q == p) as u8 as f64,
                        })
                        .collect();
                    forward_dual(&th, &xi, depth, m, vars, Kind::Erf).t
                })
                .collect();
            let full: f64 = ji.iter().map(|v| v * v).sum();
            assert!((r.ntk[(i, i)] - full).abs() <= 1e-10 * full);
        }
    }

    // ---------------- convergence to the infinite-width NTK ----------------

    fn relu_ntk(rho: f64, depth: usize) -> f64 {
        // Unit variance, no biases: Σ_1 = ρ, Θ_1 = ρ; ψ, ψ̇ the arc-cosine duals.
        let psi = |c: f64| {
            let c = c.clamp(-1.0, 1.0);
            ((1.0 - c * c).sqrt() + (std::f64::consts::PI - c.acos()) * c) / std::f64::consts::PI
        };
        let psi_dot = |c: f64| {
            let c = c.clamp(-1.0, 1.0);
            (std::f64::consts::PI - c.acos()) / std::f64::consts::PI
        };
        let (mut sigma, mut theta) = (rho, rho);
        for _ in 0..depth {
            let s = psi(sigma);
            let sd = psi_dot(sigma);
            theta = s + theta * sd;
            sigma = s;
        }
        theta
    }

    #[test]
    fn empirical_converges_to_infinite_width_relu() {
        let (n, d, depth) = (6, 5, 2);
        let vars = EmpiricalVariances {
            weight_var: 2.0,
            bias_var: 0.0,
            input_weight_var: 1.0,
            input_bias_var: 0.0,
        };
        assert!((relu_ntk(1.0, depth) - 3.0).abs() < 1e-12);
        let x = random_unit_rows(n, d, 3);
        let widths = [64usize, 256, 1024, 4096];
        let seeds = 5u64;
        let mut errs = Vec::new();
        for &m in &widths {
            let mut total = 0.0;
            let mut count = 0;
            for seed in 0..seeds {
                let r = empirical_ntk(
                    x.as_ref(),
                    &ClosedForm::Relu,
                    depth,
                    m,
                    vars,
                    1000 + seed,
                    Par::rayon(2),
                    &never_cancel,
                )
                .unwrap();
                for i in 0..n {
                    for j in 0..=i {
                        let rho: f64 = (0..d).map(|k| x[(i, k)] * x[(j, k)]).sum();
                        let exact = if i == j { 3.0 } else { relu_ntk(rho, depth) };
                        total += (r.ntk[(i, j)] - exact).abs() / 3.0;
                        count += 1;
                    }
                }
            }
            errs.push(total / count as f64);
        }
        // Least-squares slope of log(err) against log(width).
        let lx: Vec<f64> = widths.iter().map(|&m| (m as f64).ln()).collect();
        let ly: Vec<f64> = errs.iter().map(|e| e.ln()).collect();
        let mx = lx.iter().sum::<f64>() / lx.len() as f64;
        let my = ly.iter().sum::<f64>() / ly.len() as f64;
        let slope = lx
            .iter()
            .zip(&ly)
            .map(|(a, b)| (a - mx) * (b - my))
            .sum::<f64>()
            / lx.iter().map(|a| (a - mx).powi(2)).sum::<f64>();
        eprintln!("relu depth 2: mean rel. deviation {errs:?}, slope {slope:.3}");
        assert!(
            (-0.8..=-0.3).contains(&slope),
            "slope {slope}, errors {errs:?}"
        );
        assert!(errs[3] < 0.1, "errors {errs:?}");
    }

    // ---------------- determinism, generator, validation ----------------

    fn default_vars() -> EmpiricalVariances {
        EmpiricalVariances {
            weight_var: 2.0,
            bias_var: 0.1,
            input_weight_var: 0.9,
            input_bias_var: 0.1,
        }
    }

    #[test]
    fn empirical_is_deterministic() {
        let x = random_unit_rows(7, 4, 1);
        let run = |seed, par| {
            empirical_ntk(
                x.as_ref(),
                &ClosedForm::Relu,
                2,
                300,
                default_vars(),
                seed,
                par,
                &never_cancel,
            )
            .unwrap()
        };
        for par in [Par::Seq, Par::rayon(2)] {
            let a = run(17, par);
            let b = run(17, par);
            assert!(a.ntk == b.ntk && a.nngp == b.nngp && a.outputs == b.outputs);
            let c = run(18, par);
            assert!(a.ntk != c.ntk);
            assert!((0..7).all(|i| (a.ntk[(i, i)] - c.ntk[(i, i)]).abs() > 0.0));
        }
        // Parameters do not depend on the thread count; the kernel only by round-off.
        let p = |par| {
            let net = RandomMlp::sample(4, 2, 300, default_vars(), 17, par, &never_cancel).unwrap();
            flat_parameters(&net)
        };
        assert_eq!(p(Par::Seq), p(Par::rayon(2)));
        let (a, b) = (run(17, Par::Seq), run(17, Par::rayon(2)));
        for i in 0..7 {
            for j in 0..7 {
                assert!((a.ntk[(i, j)] - b.ntk[(i, j)]).abs() <= 1e-12 * a.ntk[(i, i)]);
            }
        }
    }

    #[test]
    fn normal_rng_moments_and_streams() {
        let mut rng = NormalRng::new(7);
        let k = 200_000;
        let (mut s1, mut s2, mut s4) = (0.0, 0.0, 0.0);
        for _ in 0..k {
            let z = rng.normal();
            s1 += z;
            s2 += z * z;
            s4 += z.powi(4);
        }
        let kf = k as f64;
        assert!((s1 / kf).abs() < 0.01);
        assert!((s2 / kf - 1.0).abs() < 0.02);
        assert!((s4 / kf - 3.0).abs() < 0.1);
        let a = NormalRng::stream(1, 2, 3).normal();
        assert_eq!(a, NormalRng::stream(1, 2, 3).normal());
        assert_ne!(a, NormalRng::stream(1, 2, 4).normal());
        assert_ne!(a, NormalRng::stream(1, 3, 3).normal());
        assert_ne!(a, NormalRng::stream(2, 2, 3).normal());
    }

    #[test]
    fn kernel_is_gram_like() {
        // Blocks: n > GRAM_BLOCK exercises several column blocks of the contraction.
        let n = GRAM_BLOCK + 37;
        let x = random_unit_rows(n, 3, 8);
        let r = empirical_ntk(
            x.as_ref(),
            &ClosedForm::Erf { scale: 1.0 },
            2,
            16,
            default_vars(),
            3,
            Par::rayon(2),
            &never_cancel,
        )
        .unwrap();
        // Cauchy–Schwarz and NNGP ≤ NTK on the diagonal, exact symmetry.
        for i in 0..n {
            assert!(r.nngp[(i, i)] > 0.0 && r.ntk[(i, i)] > r.nngp[(i, i)]);
            for j in 0..n {
                assert_eq!(r.ntk[(i, j)], r.ntk[(j, i)]);
                assert!(r.ntk[(i, j)].powi(2) <= r.ntk[(i, i)] * r.ntk[(j, j)] * (1.0 + 1e-12));
            }
        }
        // Same result from a sequential run.
        let s = empirical_ntk(
            x.as_ref(),
            &ClosedForm::Erf { scale: 1.0 },
            2,
            16,
            default_vars(),
            3,
            Par::Seq,
            &never_cancel,
        )
        .unwrap();
        for i in 0..n {
            for j in 0..n {
                assert!((r.ntk[(i, j)] - s.ntk[(i, j)]).abs() <= 1e-12 * r.ntk[(i, i)]);
            }
        }
    }

    #[test]
    fn bad_input_is_an_error() {
        let x = random_unit_rows(3, 2, 1);
        let relu = ClosedForm::Relu;
        let v = default_vars();
        let run = |x: MatRef<'_, f64>, depth, width, vars| {
            empirical_ntk(x, &relu, depth, width, vars, 0, Par::Seq, &never_cancel)
        };
        assert!(matches!(
            run(x.as_ref(), 0, 4, v),
            Err(NtkError::InvalidArgument(_))
        ));
        assert!(matches!(
            run(x.as_ref(), 2, 0, v),
            Err(NtkError::InvalidArgument(_))
        ));
        assert!(matches!(
            run(x.as_ref(), MAX_DEPTH + 1, 1, v),
            Err(NtkError::InvalidArgument(_))
        ));
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            for k in 0..4 {
                let mut w = v;
                match k {
                    0 => w.weight_var = bad,
                    1 => w.bias_var = bad,
                    2 => w.input_weight_var = bad,
                    _ => w.input_bias_var = bad,
                }
                assert!(matches!(
                    run(x.as_ref(), 1, 4, w),
                    Err(NtkError::InvalidArgument(_))
                ));
            }
        }
        let mut xb = x.clone();
        xb[(1, 0)] = f64::NAN;
        match run(xb.as_ref(), 1, 4, v) {
            Err(NtkError::NonFinite(msg)) => assert!(msg.contains("row 1")),
            other => panic!("{other:?}"),
        }
        xb[(1, 0)] = f64::INFINITY;
        assert!(matches!(
            run(xb.as_ref(), 1, 4, v),
            Err(NtkError::NonFinite(_))
        ));
        let empty_cols = Mat::<f64>::zeros(3, 0);
        assert!(matches!(
            run(empty_cols.as_ref(), 1, 4, v),
            Err(NtkError::InvalidArgument(_))
        ));
        // Absurd sizes are refused before allocating.
        assert!(matches!(
            run(x.as_ref(), 2, 1 << 20, v),
            Err(NtkError::TooLarge(_))
        ));
        assert!(matches!(
            run(x.as_ref(), 3, usize::MAX / 2, v),
            Err(NtkError::TooLarge(_))
        ));
        let big_n = Mat::<f64>::zeros(60_000, 1);
        assert!(matches!(
            run(big_n.as_ref(), 1, 1, v),
            Err(NtkError::TooLarge(_))
        ));
        // Wrong input dimension for a sampled network.
        let net = RandomMlp::sample(5, 1, 4, v, 0, Par::Seq, &never_cancel).unwrap();
        assert!(matches!(
            net.ntk(x.as_ref(), &relu, Par::Seq, &never_cancel),
            Err(NtkError::InvalidArgument(_))
        ));
        assert!(net.weights(0).is_none() && net.weights(2).is_none() && net.bias(2).is_none());
        // No inputs: empty result.
        let none = Mat::<f64>::zeros(0, 2);
        let r = run(none.as_ref(), 2, 4, v).unwrap();
        assert_eq!((r.ntk.nrows(), r.nngp.ncols(), r.outputs.len()), (0, 0, 0));
    }

    #[test]
    fn overflow_and_nan_activations_are_errors() {
        let x = random_unit_rows(3, 2, 1);
        let v = EmpiricalVariances {
            weight_var: 1e6,
            bias_var: 0.0,
            input_weight_var: 1e6,
            input_bias_var: 0.0,
        };
        let r = empirical_ntk(
            x.as_ref(),
            &ClosedForm::Exp { scale: 1.0 },
            3,
            8,
            v,
            0,
            Par::Seq,
            &never_cancel,
        );
        assert!(matches!(r, Err(NtkError::Domain(_))), "{r:?}");
        let nan = FnActivation::new(|_| f64::NAN, |_| 1.0);
        let r = empirical_ntk(
            x.as_ref(),
            &nan,
            1,
            8,
            default_vars(),
            0,
            Par::Seq,
            &never_cancel,
        );
        assert!(matches!(r, Err(NtkError::Domain(_))), "{r:?}");
        let nan_d = FnActivation::new(|x| x, |_| f64::NAN);
        let r = empirical_ntk(
            x.as_ref(),
            &nan_d,
            2,
            8,
            default_vars(),
            0,
            Par::Seq,
            &never_cancel,
        );
        assert!(matches!(r, Err(NtkError::Domain(_))), "{r:?}");
    }

    #[test]
    fn cancellation_is_polled() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let x = random_unit_rows(4, 3, 1);
        let always = || true;
        let r = empirical_ntk(
            x.as_ref(),
            &ClosedForm::Relu,
            2,
            8,
            default_vars(),
            0,
            Par::Seq,
            &always,
        );
        assert!(matches!(r, Err(NtkError::Interrupted)));
        // Cancel after a few polls: stops mid-computation.
        let calls = AtomicUsize::new(0);
        let later = || calls.fetch_add(1, Ordering::Relaxed) >= 4;
        let r = empirical_ntk(
            x.as_ref(),
            &ClosedForm::Relu,
            3,
            8,
            default_vars(),
            0,
            Par::Seq,
            &later,
        );
        assert!(matches!(r, Err(NtkError::Interrupted)));
        // Count the polls of a full run (one per layer and Gram block at least).
        let count = AtomicUsize::new(0);
        let counting = || {
            count.fetch_add(1, Ordering::Relaxed);
            false
        };
        empirical_ntk(
            x.as_ref(),
            &ClosedForm::Relu,
            3,
            8,
            default_vars(),
            0,
            Par::Seq,
            &counting,
        )
        .unwrap();
        assert!(count.load(Ordering::Relaxed) >= 10);
    }

    /// Timing (run with `--ignored --nocapture`, preferably `--release`).
    #[test]
    #[ignore]
    fn timing_n500_d64_m1024_l3() {
        let x = random_unit_rows(500, 64, 2);
        let vars = EmpiricalVariances {
            weight_var: 2.0,
            bias_var: 0.0,
            input_weight_var: 1.0,
            input_bias_var: 0.0,
        };
        for par in [Par::Seq, Par::rayon(0)] {
            let t = std::time::Instant::now();
            let net = RandomMlp::sample(64, 3, 1024, vars, 1, par, &never_cancel).unwrap();
            let t_sample = t.elapsed();
            let r = net
                .ntk(x.as_ref(), &ClosedForm::Relu, par, &never_cancel)
                .unwrap();
            let total = t.elapsed();
            eprintln!(
                "{par:?}: sample {t_sample:?}, total {total:?}, Θ̂(0,0) = {}",
                r.ntk[(0, 0)]
            );
        }
    }
}
