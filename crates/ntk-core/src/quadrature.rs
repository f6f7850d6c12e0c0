//! Quadrature rules against the standard normal density and the sampling plan used for
//! activations given only as a (Python) callable.
//!
//! Every [`QuadratureRule`] here has the Gaussian density folded into its weights:
//! `sum_i w_i g(x_i) ≈ E[g(Z)]`, `Z ~ N(0, 1)`.
//!
//! - [`gauss_hermite`]: probabilists' Gauss–Hermite (Golub–Welsch eigenvalues from faer's
//!   tridiagonal QR algorithm, Newton-polished nodes, Christoffel-function weights).
//! - [`gauss_legendre`]: Gauss–Legendre on `[-1, 1]`.
//! - [`piecewise_gaussian_rule`]: composite Gauss–Legendre on `[-R, R]` split at given breaks.
//! - [`SamplingPlan`]: chooses where a callable activation must be evaluated, then turns the
//!   values into [`HermiteCoefficients`] with an error estimate (two independent rules), and
//!   returns the exact coefficients when the values show the activation is piecewise linear.
use crate::error::{NtkError, Result};
use crate::hermite::{
    check_degree, check_q, project, ExtFloat, HermiteCoefficients, FRAC_1_SQRT_2PI, RESCALE_BIG,
    RESCALE_EXP, RESCALE_SMALL,
};
use crate::piecewise_linear::PiecewiseLinear;
use rayon::prelude::*;

/// Nodes and weights of a quadrature rule against the standard normal density:
/// `sum_i weights[i] g(nodes[i]) ≈ E[g(Z)]` (the density is included in the weights, so a
/// rule that is exact for constants has weights summing to 1). Nodes are sorted ascending.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QuadratureRule {
    /// Abscissae, ascending.
    pub nodes: Vec<f64>,
    /// Weights, density included (non-negative; tiny ones may underflow to 0).
    pub weights: Vec<f64>,
}

impl QuadratureRule {
    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// `true` if the rule has no node.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// `sum_i w_i g(x_i) ≈ E[g(Z)]`.
    pub fn integrate(&self, g: impl Fn(f64) -> f64) -> f64 {
        self.nodes
            .iter()
            .zip(&self.weights)
            .map(|(&x, &w)| if w == 0.0 { 0.0 } else { w * g(x) })
            .sum()
    }
}

/// Largest Gauss–Hermite rule [`gauss_hermite`] builds. The cost is `O(n²)` time (faer's
/// tridiagonal QR for the eigenvalues, then an `O(n)` Newton polish and Christoffel sum per
/// node, in parallel over nodes) and `O(n)` memory. Measured (unoptimized test profile,
/// 2 cores): `n = 600` 0.02 s, `n = 1000` 0.08 s, `n = 5000` 1 s, `n = 20000` ~15 s.
pub const MAX_GAUSS_HERMITE_NODES: usize = 20_000;

/// Probabilists' Gauss–Hermite rule with `n` nodes: exact for `E[p(Z)]` whenever `p` is a
/// polynomial of degree `≤ 2n − 1`; weights sum to 1.
///
/// Golub–Welsch: the nodes are the eigenvalues of the Jacobi matrix of the normalized
/// Hermite recurrence (zero diagonal, off-diagonal `sqrt(k)`, `k = 1..n-1`), computed with
/// faer's tridiagonal self-adjoint eigensolver (eigenvalues only, `O(n²)`). Each node is
/// then polished by Newton's method on `h_n` (`h_n' = sqrt(n) h_{n-1}`), run with exact
/// power-of-two rescaling so nothing overflows, and symmetrized (`x_i = -x_{n-1-i}`, exact 0
/// in the middle for odd `n`). The weight is the Christoffel function
/// `w(x) = 1 / sum_{k<n} h_k(x)²` (a sum of positive terms: numerically stable); weights
/// of the outermost nodes underflow to 0 for `n ≳ 350`, where they are below `1e-308`.
///
/// Errors: `n = 0` or `n > MAX_GAUSS_HERMITE_NODES` → `InvalidArgument`; a failure of
/// the eigensolver → `Convergence`.
pub fn gauss_hermite(n: usize) -> Result<QuadratureRule> {
    if n == 0 || n > MAX_GAUSS_HERMITE_NODES {
        return Err(NtkError::InvalidArgument(format!(
            "Gauss-Hermite rule size must be between 1 and {MAX_GAUSS_HERMITE_NODES}, got {n}"
        )));
    }
    let eig = jacobi_eigenvalues(n)?;
    let half = n / 2;
    // Polish the positive half (ascending eigenvalues: indices n-half..n), mirror the rest;
    // each node is independent, so this runs in parallel for large rules.
    let polish = |&e: &f64| -> (f64, f64) {
        let x = newton_hermite_root(e.abs(), n);
        (x, christoffel_weight(x, n))
    };
    let upper: Vec<(f64, f64)> = if n >= 200 {
        eig[n - half..].par_iter().map(polish).collect()
    } else {
        eig[n - half..].iter().map(polish).collect()
    };
    let mut nodes = vec![0.0; n];
    let mut weights = vec![0.0; n];
    for (i, &(x, w)) in upper.iter().enumerate() {
        let idx = n - half + i;
        nodes[idx] = x;
        weights[idx] = w;
        nodes[n - 1 - idx] = -x;
        weights[n - 1 - idx] = w;
    }
    if n % 2 == 1 {
        nodes[half] = 0.0;
        weights[half] = christoffel_weight(0.0, n);
    }
    Ok(QuadratureRule { nodes, weights })
}

/// Eigenvalues (ascending) of the `n × n` Jacobi matrix with zero diagonal and
/// off-diagonal `sqrt(1), …, sqrt(n-1)`.
fn jacobi_eigenvalues(n: usize) -> Result<Vec<f64>> {
    use faer::diag::Diag;
    use faer::dyn_stack::{MemBuffer, MemStack, StackReq};
    use faer::linalg::evd::tridiagonal_self_adjoint_evd;
    use faer::linalg::temp_mat_scratch;
    use faer::Par;
    if n == 1 {
        return Ok(vec![0.0]);
    }
    let diag = Diag::<f64>::zeros(n);
    let mut sub = Diag::<f64>::zeros(n - 1);
    for k in 0..n - 1 {
        sub[k] = ((k + 1) as f64).sqrt();
    }
    let mut s = Diag::<f64>::zeros(n);
    let req = StackReq::all_of(&[temp_mat_scratch::<f64>(n, 1), temp_mat_scratch::<f64>(n, 1)]);
    let mut buf = MemBuffer::new(req);
    let stack = MemStack::new(&mut buf);
    tridiagonal_self_adjoint_evd(
        diag.as_ref(),
        sub.as_ref(),
        s.as_mut(),
        None,
        Par::Seq,
        stack,
        Default::default(),
    )
    .map_err(|e| {
        NtkError::Convergence(format!(
            "the eigensolver for the {n}-point Gauss-Hermite rule did not converge ({e:?}); \
             try a different number of nodes"
        ))
    })?;
    let mut out: Vec<f64> = (0..n).map(|i| s[i]).collect();
    out.sort_by(|a, b| a.total_cmp(b));
    Ok(out)
}

/// `(h_{n-1}(x), h_n(x))` up to a common positive factor (rescaled to stay finite).
fn hermite_pair_scaled(x: f64, n: usize) -> (f64, f64) {
    let mut prev = 1.0;
    let mut cur = x;
    for k in 1..n {
        let kf = k as f64;
        let next = (x * cur - kf.sqrt() * prev) / (kf + 1.0).sqrt();
        prev = cur;
        cur = next;
        if cur.abs() > RESCALE_BIG || prev.abs() > RESCALE_BIG {
            cur *= RESCALE_SMALL;
            prev *= RESCALE_SMALL;
        }
    }
    (prev, cur)
}

/// Newton's method for the root of `h_n` near `x0` (`h_n' = sqrt(n) h_{n-1}`).
fn newton_hermite_root(x0: f64, n: usize) -> f64 {
    if x0 == 0.0 {
        return 0.0;
    }
    let sn = (n as f64).sqrt();
    let mut x = x0;
    for _ in 0..10 {
        let (pm, p) = hermite_pair_scaled(x, n);
        if pm == 0.0 {
            break;
        }
        let dx = p / (sn * pm);
        if !dx.is_finite() {
            break;
        }
        x -= dx;
        if dx.abs() <= 2.0 * f64::EPSILON * x.abs().max(1e-300) {
            break;
        }
    }
    x
}

/// Christoffel function `1 / sum_{k<n} h_k(x)²` with exact power-of-two rescaling.
fn christoffel_weight(x: f64, n: usize) -> f64 {
    let mut prev = 1.0;
    let mut cur = x;
    let mut sum = 1.0;
    let mut e: i64 = 0; // true value = stored * 2^e (e for h, 2e for the sum)
    if n > 1 {
        sum += cur * cur;
    }
    for k in 1..n.saturating_sub(1) {
        let kf = k as f64;
        let next = (x * cur - kf.sqrt() * prev) / (kf + 1.0).sqrt();
        prev = cur;
        cur = next;
        if cur.abs() > RESCALE_BIG {
            cur *= RESCALE_SMALL;
            prev *= RESCALE_SMALL;
            sum *= RESCALE_SMALL * RESCALE_SMALL;
            e += RESCALE_EXP;
        }
        sum += cur * cur;
    }
    ExtFloat::ONE
        .div(ExtFloat::from_f64(sum))
        .scale2(-2 * e)
        .to_f64()
}

/// Gauss–Legendre rule with `n` nodes on `[-1, 1]`: `(nodes ascending, weights)`, exact for
/// polynomials of degree `≤ 2n − 1`; weights sum to 2. `n = 0` gives empty vectors.
///
/// Newton's method on the Legendre recurrence `(k+1) P_{k+1} = (2k+1) x P_k − k P_{k−1}`
/// from the initial guesses `cos(π (i + 3/4) / (n + 1/2))`, with
/// `P_n' = n (x P_n − P_{n−1}) / (x² − 1)` and `w = 2 / ((1 − x²) P_n'(x)²)`; nodes are
/// symmetrized. Accurate to a few ulps for the orders used here (up to a few hundred).
pub fn gauss_legendre(n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut nodes = vec![0.0; n];
    let mut weights = vec![0.0; n];
    let nf = n as f64;
    let eval = |x: f64| -> (f64, f64) {
        let mut p0 = 1.0;
        let mut p1 = x;
        for k in 1..n {
            let kf = k as f64;
            let p2 = ((2.0 * kf + 1.0) * x * p1 - kf * p0) / (kf + 1.0);
            p0 = p1;
            p1 = p2;
        }
        // (P_n, P_{n-1}); for n = 1: (x, 1)
        (p1, p0)
    };
    for i in 0..n.div_ceil(2) {
        let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (nf + 0.5)).cos();
        let mut dp = 1.0;
        for it in 0..100 {
            let (p, pm) = eval(x);
            dp = nf * (x * p - pm) / (x * x - 1.0);
            let dx = p / dp;
            x -= dx;
            if dx.abs() <= 1e-16 || it == 99 {
                let (p, pm) = eval(x);
                dp = nf * (x * p - pm) / (x * x - 1.0);
                break;
            }
        }
        let w = 2.0 / ((1.0 - x * x) * dp * dp);
        if n % 2 == 1 && i == n / 2 {
            x = 0.0;
        }
        nodes[n - 1 - i] = x;
        nodes[i] = -x;
        weights[n - 1 - i] = w;
        weights[i] = w;
    }
    (nodes, weights)
}

/// Most nodes [`piecewise_gaussian_rule`] produces (`panel_width` is raised to respect it).
pub const MAX_PIECEWISE_NODES: usize = 10_000_000;

/// Composite Gauss–Legendre rule against the Gaussian on `[-radius, radius]`:
/// the interval is split at every finite break strictly inside it (so a function with kinks
/// there is smooth on each panel), each segment into equal panels no wider than
/// `panel_width`, each panel gets the `order`-point Gauss–Legendre rule, and the weight of a
/// node `x` is `(panel width / 2) · w_GL · ϕ(x)`. Mass outside `[-radius, radius]`
/// (`≈ 2 ϕ(R)/R`) is ignored.
///
/// Degenerate inputs give an empty rule (non-finite or non-positive `radius`, `order = 0`);
/// a non-finite or non-positive `panel_width` means one panel per segment; breaks may be
/// unsorted, duplicated or non-finite (those are ignored). `radius` above 1000 is treated as
/// 1000 (the density underflows to 0 beyond `|x| ≈ 38.6` anyway), `order` above 1000 as
/// 1000, and at most [`MAX_PIECEWISE_NODES`] nodes are produced (wider panels otherwise).
pub fn piecewise_gaussian_rule(
    breaks: &[f64],
    radius: f64,
    panel_width: f64,
    order: usize,
) -> QuadratureRule {
    if !(radius.is_finite() && radius > 0.0) || order == 0 {
        return QuadratureRule::default();
    }
    let radius = radius.min(1000.0);
    let order = order.min(1000);
    let mut width = if panel_width.is_finite() && panel_width > 0.0 {
        panel_width
    } else {
        2.0 * radius
    };
    let min_width = 2.0 * radius * order as f64 / MAX_PIECEWISE_NODES as f64;
    if width < min_width {
        width = min_width;
    }
    let mut edges: Vec<f64> = breaks
        .iter()
        .copied()
        .filter(|b| b.is_finite() && *b > -radius && *b < radius)
        .collect();
    edges.push(-radius);
    edges.push(radius);
    edges.sort_by(|a, b| a.total_cmp(b));
    edges.dedup();
    let (gx, gw) = gauss_legendre(order);
    let mut nodes = Vec::new();
    let mut weights = Vec::new();
    for seg in edges.windows(2) {
        let (u, v) = (seg[0], seg[1]);
        let panels = (((v - u) / width).ceil() as usize).max(1);
        let h = (v - u) / panels as f64;
        for p in 0..panels {
            let a = u + h * p as f64;
            let b = if p + 1 == panels { v } else { a + h };
            let c = 0.5 * (a + b);
            let r = 0.5 * (b - a);
            for (&t, &w) in gx.iter().zip(&gw) {
                let x = c + r * t;
                nodes.push(x);
                weights.push(
                    ExtFloat::exp_neg_half_square(x)
                        .mul_f64(r * w * FRAC_1_SQRT_2PI)
                        .to_f64(),
                );
            }
        }
    }
    QuadratureRule { nodes, weights }
}

/// How a [`SamplingPlan`] obtained its coefficients (see [`SamplingPlan::evaluate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanOutcome {
    /// The values are piecewise linear (to round-off) between the kinks: exact coefficients.
    ExactPiecewiseLinear,
    /// The pair of Gauss–Hermite rules (sizes `N` and `N − 40`) agreed best.
    GaussHermite,
    /// The pair of composite Gauss–Legendre rules on `[-R, R]` (split at the kinks) agreed best.
    CompositeLegendre,
}

/// Gauss–Hermite sizes of a plan: `degree/2 + GH_EXTRA` and 40 fewer; only while the
/// larger is at most `PLAN_MAX_GH` (i.e. `degree ≤ 1480`).
const GH_EXTRA: usize = 260;
const PLAN_MAX_GH: usize = 1000;
/// Most nodes of one composite rule of a plan (panels are widened to respect it).
const PLAN_MAX_NODES_PER_RULE: usize = 1_000_000;
/// Relative tolerance of the piecewise-linearity test.
const LINEAR_TOL: f64 = 1e-13;

/// Two independent rules whose disagreement estimates the error.
#[derive(Debug, Clone)]
struct RulePair {
    outcome: PlanOutcome,
    primary: QuadratureRule,
    secondary: QuadratureRule,
    /// Index of the first primary node in the plan's points.
    offset: usize,
}

/// Evaluation plan for an activation known only as a callable (e.g. from Python): Rust
/// chooses the points, the caller evaluates `φ` once at all of them, Rust does the sums.
///
/// Conventions: the coefficients are those of `φ_q(z) = φ(sqrt(q) z)`; internally all
/// rules live in `z`, and [`points`](Self::points) returns `x = sqrt(q) z`, the arguments
/// at which `φ` itself is evaluated. Kinks are given in `φ`'s own variable `x`, so in `z`
/// they sit at `kink / sqrt(q)`.
///
/// The points are the concatenation of one or two *rule pairs* and the probes:
/// - smooth activation (no kinks) and `N = degree/2 + 260 ≤ 1000`: a Gauss–Hermite pair
///   (`N` and `N − 40` nodes); measured on tanh at degree 200, `N = degree/2 + 200` nodes
///   give 1e-14 and `degree/2 + 160` only 5e-13, hence the margin;
/// - always: a composite Gauss–Legendre pair on `[-R, R]`, `R = 2 sqrt(K) + 12`, split at
///   the kinks: primary of order 20 with panels of width
///   `w = min(1, 20 / sqrt(4K + 2), 2 / sqrt(q))` (at most 10 radians of the fastest
///   oscillation of `h_K` per half panel, and at least ~4 panels per unit of `φ`'s own
///   variable, so features of `φ` of unit size stay resolved at large `q`), secondary of
///   order 16 with panels `0.8 w` (panels are widened if a rule would exceed 10⁶ nodes);
/// - probes: 7 points per piece (between consecutive kinks, including the two unbounded
///   outer pieces, spread over the part of the piece with `|z| ≲ R + 2`).
///
/// For each pair, `error = max_k |mu_k(primary) − mu_k(secondary)|` plus a round-off floor
/// (`4 ε sum_i |w_i φ_i h_k(x_i)|` of both rules); the pair with the smaller error is
/// reported (its primary rule's coefficients). Smooth activations whose complex
/// singularities approach the real axis (e.g. tanh at large `q`) defeat Gauss–Hermite
/// first; the composite pair then wins.
///
/// Piecewise-linear detection comes first: if on every piece all points (quadrature nodes
/// and probes, at least 3) fit an affine function `α + β z` (least squares plus one step of
/// iterative refinement) to within `1e-13 (|α| + |β z| + S)` (`S` = largest `|φ|` over
/// `|z| ≤ R + 2`), the activation is taken to be piecewise linear (possibly
/// discontinuous) and the EXACT coefficients of the fitted function are returned (via
/// [`PiecewiseLinear`]), with `error` = their round-off estimate plus the largest fit
/// residual, and an exact `second_moment`. Otherwise `second_moment = sum_i w_i φ(x_i)²`
/// of the reported primary rule.
///
/// Size (measured, `q = 1`): degree 200 without kinks 5 275 points; degree 500 with one
/// kink 10 182; degree 2000 with one kink 36 350 (plan and sums 45 ms in the unoptimized
/// test profile). At high degree the count grows like `18 · degree` and the work of
/// [`coefficients`](Self::coefficients) like `degree²`.
///
/// Degenerate inputs: `q` not finite and `> 0`, a non-finite kink, more than 10 000
/// kinks, or `degree > MAX_DEGREE` → `InvalidArgument`; kinks may be unsorted or
/// duplicated (they are sorted and deduplicated).
#[derive(Debug, Clone)]
pub struct SamplingPlan {
    degree: usize,
    q: f64,
    radius: f64,
    kinks_z: Vec<f64>,
    z: Vec<f64>,
    points: Vec<f64>,
    pairs: Vec<RulePair>,
}

impl SamplingPlan {
    /// Builds the plan for `mu_0..=mu_degree` of `φ(sqrt(q) z)`; `kinks` are the points
    /// (in `φ`'s own variable) where `φ` or a derivative jumps.
    pub fn new(degree: usize, kinks: &[f64], q: f64) -> Result<SamplingPlan> {
        check_degree(degree)?;
        check_q(q)?;
        if let Some(bad) = kinks.iter().find(|k| !k.is_finite()) {
            return Err(NtkError::InvalidArgument(format!(
                "kinks must be finite numbers, got {bad}"
            )));
        }
        if kinks.len() > 10_000 {
            return Err(NtkError::InvalidArgument(format!(
                "too many kinks ({}): at most 10000 are supported",
                kinks.len()
            )));
        }
        let sq = q.sqrt();
        let mut kinks_z: Vec<f64> = kinks.iter().map(|k| k / sq).collect();
        kinks_z.sort_by(|a, b| a.total_cmp(b));
        kinks_z.dedup();
        let kf = degree as f64;
        let radius = 2.0 * kf.sqrt() + 12.0;
        let mut pairs = Vec::new();
        let mut z: Vec<f64> = Vec::new();
        let n1 = degree / 2 + GH_EXTRA;
        if kinks_z.is_empty() && n1 <= PLAN_MAX_GH {
            pairs.push(RulePair {
                outcome: PlanOutcome::GaussHermite,
                primary: gauss_hermite(n1)?,
                secondary: gauss_hermite(n1 - 40)?,
                offset: 0,
            });
        }
        let min_width = 2.0 * radius * 20.0 / PLAN_MAX_NODES_PER_RULE as f64;
        let w1 = (20.0 / (4.0 * kf + 2.0).sqrt())
            .min(1.0)
            .min(2.0 / sq)
            .max(min_width);
        pairs.push(RulePair {
            outcome: PlanOutcome::CompositeLegendre,
            primary: piecewise_gaussian_rule(&kinks_z, radius, w1, 20),
            secondary: piecewise_gaussian_rule(&kinks_z, radius, 0.8 * w1, 16),
            offset: 0,
        });
        for p in pairs.iter_mut() {
            p.offset = z.len();
            z.extend_from_slice(&p.primary.nodes);
            z.extend_from_slice(&p.secondary.nodes);
        }
        // Probe points, 7 per piece.
        let reach = radius + 2.0;
        for j in 0..=kinks_z.len() {
            let a = if j == 0 {
                f64::NEG_INFINITY
            } else {
                kinks_z[j - 1]
            };
            let b = if j == kinks_z.len() {
                f64::INFINITY
            } else {
                kinks_z[j]
            };
            let lo = if a.is_finite() {
                a
            } else {
                b.min(-radius) - 2.0
            };
            let hi = if b.is_finite() {
                b
            } else {
                a.max(radius) + 2.0
            };
            let (lo, hi) = if a.is_finite() && b.is_finite() {
                (lo, hi)
            } else {
                // Unbounded piece: stay within the region that matters when possible.
                (lo.max(-reach).min(hi), hi.min(reach).max(lo))
            };
            for t in [0.02, 0.13, 0.31, 0.5, 0.69, 0.87, 0.98] {
                z.push(lo + (hi - lo) * t);
            }
        }
        let points = z.iter().map(|v| v * sq).collect();
        Ok(SamplingPlan {
            degree,
            q,
            radius,
            kinks_z,
            z,
            points,
            pairs,
        })
    }

    /// The arguments `x_i` (already multiplied by `sqrt(q)`) at which `φ` must be evaluated.
    pub fn points(&self) -> &[f64] {
        &self.points
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// `true` if there is no point (never the case for a constructed plan).
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// The degree `K` the plan was built for.
    pub fn degree(&self) -> usize {
        self.degree
    }

    /// The variance `q`.
    pub fn q(&self) -> f64 {
        self.q
    }

    /// The kinks in `z = x / sqrt(q)`, sorted and deduplicated.
    pub fn kinks_z(&self) -> &[f64] {
        &self.kinks_z
    }

    /// `mu_0..=mu_K` of `φ_q` from `values[i] = φ(points()[i])`.
    ///
    /// Errors: wrong number of values → `InvalidArgument`; a NaN or infinite value →
    /// `NonFinite` naming the first such point.
    pub fn coefficients(&self, values: &[f64]) -> Result<HermiteCoefficients> {
        self.evaluate(values).map(|(c, _)| c)
    }

    /// Like [`coefficients`](Self::coefficients), also telling which path produced them.
    pub fn evaluate(&self, values: &[f64]) -> Result<(HermiteCoefficients, PlanOutcome)> {
        if values.len() != self.points.len() {
            return Err(NtkError::InvalidArgument(format!(
                "expected {} activation values (one per point of the sampling plan), got {}",
                self.points.len(),
                values.len()
            )));
        }
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(NtkError::NonFinite(format!(
                "the activation returned {} at x = {:e} (point {} of {}); it must be finite \
                 on the whole real line (check its formula, or its overflow for large |x|)",
                values[i],
                self.points[i],
                i,
                values.len()
            )));
        }
        if let Some(c) = self.try_piecewise_linear(values)? {
            return Ok((
                check_representable(c, values)?,
                PlanOutcome::ExactPiecewiseLinear,
            ));
        }
        let mut best: Option<(HermiteCoefficients, PlanOutcome)> = None;
        for pair in &self.pairs {
            let c = self.pair_coefficients(pair, values);
            if best.as_ref().is_none_or(|(b, _)| c.error < b.error) {
                best = Some((c, pair.outcome));
            }
        }
        let (c, outcome) = best.ok_or_else(|| {
            NtkError::InvalidArgument("the sampling plan has no quadrature rule".into())
        })?;
        Ok((check_representable(c, values)?, outcome))
    }

    /// Coefficients from one rule pair (primary values, error from the disagreement).
    fn pair_coefficients(&self, pair: &RulePair, values: &[f64]) -> HermiteCoefficients {
        let n1 = pair.primary.len();
        let n2 = pair.secondary.len();
        let v1 = &values[pair.offset..pair.offset + n1];
        let v2 = &values[pair.offset + n1..pair.offset + n1 + n2];
        let (p, pa) = project(
            &pair.primary.nodes,
            &pair.primary.weights,
            v1,
            self.degree,
            true,
        );
        let (s, sa) = project(
            &pair.secondary.nodes,
            &pair.secondary.weights,
            v2,
            self.degree,
            true,
        );
        let mut error: f64 = 0.0;
        for k in 0..=self.degree {
            let e = (p[k] - s[k]).abs() + 4.0 * f64::EPSILON * (pa[k] + sa[k]);
            error = error.max(e);
        }
        let second_moment = pair
            .primary
            .weights
            .iter()
            .zip(v1)
            .map(|(w, f)| w * f * f)
            .sum();
        HermiteCoefficients {
            mu: p,
            error,
            second_moment,
        }
    }

    /// Piecewise-linear detection: fits `α + β z` on each piece and, if every piece fits to
    /// round-off, returns the exact coefficients of the fitted function.
    fn try_piecewise_linear(&self, values: &[f64]) -> Result<Option<HermiteCoefficients>> {
        let m = self.kinks_z.len();
        let npieces = m + 1;
        // piece index of each point; points exactly on a kink are ambiguous and skipped
        let piece_of = |z: f64| -> Option<usize> {
            let j = self.kinks_z.partition_point(|&k| k < z);
            if j < m && self.kinks_z[j] == z {
                None
            } else {
                Some(j)
            }
        };
        let reach = self.radius + 2.0;
        let mut scale: f64 = 0.0;
        for (z, f) in self.z.iter().zip(values) {
            if z.abs() <= reach {
                scale = scale.max(f.abs());
            }
        }
        // Accumulate centred least-squares sums per piece in two passes.
        let mut count = vec![0usize; npieces];
        let mut zsum = vec![0.0; npieces];
        let mut fsum = vec![0.0; npieces];
        let mut idx: Vec<Option<usize>> = Vec::with_capacity(self.z.len());
        for (z, f) in self.z.iter().zip(values) {
            let j = piece_of(*z);
            if let Some(j) = j {
                count[j] += 1;
                zsum[j] += z;
                fsum[j] += f;
            }
            idx.push(j);
        }
        if count.iter().any(|&c| c < 3) {
            return Ok(None);
        }
        let zbar: Vec<f64> = (0..npieces).map(|j| zsum[j] / count[j] as f64).collect();
        let fbar: Vec<f64> = (0..npieces).map(|j| fsum[j] / count[j] as f64).collect();
        let mut szz = vec![0.0; npieces];
        let mut szf = vec![0.0; npieces];
        for ((z, f), j) in self.z.iter().zip(values).zip(&idx) {
            if let Some(j) = *j {
                let dz = z - zbar[j];
                szz[j] += dz * dz;
                szf[j] += dz * (f - fbar[j]);
            }
        }
        let mut slopes = vec![0.0; npieces];
        let mut intercepts = vec![0.0; npieces];
        for j in 0..npieces {
            if szz[j] <= 0.0 {
                return Ok(None);
            }
            slopes[j] = szf[j] / szz[j];
            intercepts[j] = fbar[j] - slopes[j] * zbar[j];
        }
        // One step of iterative refinement: refit the (tiny) residuals, which removes the
        // round-off of the large sums above (otherwise ~sqrt(N) ε relative in the slope).
        let mut rsum = vec![0.0; npieces];
        let mut szr = vec![0.0; npieces];
        for ((z, f), j) in self.z.iter().zip(values).zip(&idx) {
            if let Some(j) = *j {
                let r = f - (intercepts[j] + slopes[j] * z);
                rsum[j] += r;
                szr[j] += (z - zbar[j]) * r;
            }
        }
        for j in 0..npieces {
            let ds = szr[j] / szz[j];
            slopes[j] += ds;
            intercepts[j] += rsum[j] / count[j] as f64 - ds * zbar[j];
        }
        let mut max_resid: f64 = 0.0;
        for ((z, f), j) in self.z.iter().zip(values).zip(&idx) {
            if let Some(j) = *j {
                let fit = intercepts[j] + slopes[j] * z;
                let r = (f - fit).abs();
                let tol = LINEAR_TOL * (intercepts[j].abs() + (slopes[j] * z).abs() + scale);
                if r > tol {
                    return Ok(None);
                }
                max_resid = max_resid.max(r);
            }
        }
        let pl = PiecewiseLinear::new(self.kinks_z.clone(), intercepts, slopes)?;
        let mut c = pl.coefficients(self.degree, 1.0)?;
        c.error += max_resid;
        Ok(Some(c))
    }
}

/// `NonFinite` unless the coefficients, their error and the second moment `E[φ_q²]` (and
/// `Σ μ_k²`) are finite doubles: finite but huge activation values (e.g. `1e300 x`) overflow
/// in the squares or in the projections, which would otherwise come back as `inf`, NaN or a
/// meaningless `0`.
fn check_representable(c: HermiteCoefficients, values: &[f64]) -> Result<HermiteCoefficients> {
    let sum_sq: f64 = c.mu.iter().map(|m| m * m).sum();
    let ok = c.mu.iter().all(|m| m.is_finite())
        && c.error.is_finite()
        && c.second_moment.is_finite()
        && sum_sq.is_finite()
        // E[φ²] ≥ Σ μ_k² (Bessel); a second moment far below it means it was lost to overflow
        && c.second_moment >= 0.5 * sum_sq;
    if ok {
        return Ok(c);
    }
    let big = values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    Err(NtkError::NonFinite(format!(
        "the activation's Hermite coefficients overflow: its values reach {} on the sampling \
         points, so E[phi^2] = {} and sum mu_k^2 = {} are not representable as doubles; \
         rescale the activation (e.g. divide it by a constant and adjust weight_var)",
        crate::series::fmt_num(big),
        crate::series::fmt_num(c.second_moment),
        crate::series::fmt_num(sum_sq)
    )))
}

/// Test-only independent reference for Hermite coefficients: a fine composite
/// Gauss–Legendre rule (split at `kinks_z`), `h_k` from the plain normalized recurrence
/// (no overflow protection, no shared projection code), compensated (Neumaier) sums.
/// Returns `(mu_0..=mu_degree of f(sqrt_q z), E[f(sqrt_q Z)^2])`.
#[cfg(test)]
pub(crate) fn reference_coefficients(
    f: impl Fn(f64) -> f64,
    kinks_z: &[f64],
    degree: usize,
    sqrt_q: f64,
) -> (Vec<f64>, f64) {
    use crate::hermite::normalized_hermite;
    let radius = 2.0 * (degree as f64).sqrt() + 16.0;
    let r = piecewise_gaussian_rule(kinks_z, radius, 0.1, 30);
    let mut sum = vec![0.0; degree + 2];
    let mut comp = vec![0.0; degree + 2];
    let mut add = |i: usize, v: f64| {
        let t = sum[i] + v;
        if sum[i].abs() >= v.abs() {
            comp[i] += (sum[i] - t) + v;
        } else {
            comp[i] += (v - t) + sum[i];
        }
        sum[i] = t;
    };
    let mut h = vec![0.0; degree + 1];
    for (&z, &w) in r.nodes.iter().zip(&r.weights) {
        // w |h_k| <= sqrt(w) * O(1): nodes with w < 1e-250 contribute < 1e-100.
        if w < 1e-250 {
            continue;
        }
        normalized_hermite(z, &mut h);
        let fz = f(sqrt_q * z);
        for (k, hk) in h.iter().enumerate() {
            add(k, w * fz * hk);
        }
        add(degree + 1, w * fz * fz);
    }
    let total: Vec<f64> = sum.iter().zip(&comp).map(|(s, c)| s + c).collect();
    (total[..=degree].to_vec(), total[degree + 1])
}

#[cfg(test)]
#[allow(clippy::needless_range_loop, clippy::excessive_precision)]
mod tests {
    use super::*;
    use crate::closed_form::ClosedForm;
    use crate::hermite::{coefficients_from_rule, normalized_hermite};

    fn double_factorial_odd(m: usize) -> f64 {
        // (2m-1)!!
        (1..=m).map(|i| (2 * i - 1) as f64).product()
    }

    #[test]
    fn gauss_hermite_small_known_rules() {
        let r = gauss_hermite(1).unwrap();
        assert_eq!(r.nodes, vec![0.0]);
        assert!((r.weights[0] - 1.0).abs() < 1e-16);
        let r = gauss_hermite(2).unwrap();
        assert!((r.nodes[1] - 1.0).abs() < 1e-15 && (r.nodes[0] + 1.0).abs() < 1e-15);
        assert!((r.weights[0] - 0.5).abs() < 1e-15);
        let r = gauss_hermite(3).unwrap();
        assert_eq!(r.nodes[1], 0.0);
        assert!((r.nodes[2] - 3f64.sqrt()).abs() < 1e-15);
        assert!((r.weights[1] - 2.0 / 3.0).abs() < 1e-15);
        assert!((r.weights[2] - 1.0 / 6.0).abs() < 1e-15);
        assert!(gauss_hermite(0).is_err());
        assert!(gauss_hermite(MAX_GAUSS_HERMITE_NODES + 1).is_err());
    }

    #[test]
    fn gauss_hermite_integrates_moments_exactly() {
        for &n in &[1usize, 2, 5, 20, 64, 100] {
            let r = gauss_hermite(n).unwrap();
            for m in 0..n {
                // degree 2m <= 2n - 1
                let exact = double_factorial_odd(m);
                let got = r.integrate(|x| x.powi(2 * m as i32));
                assert!(
                    (got - exact).abs() <= 4e-14 * (m as f64 + 1.0) * exact,
                    "n={n} m={m}: {got} vs {exact}"
                );
                let odd = r.integrate(|x| x.powi(2 * m as i32 + 1));
                assert!(
                    odd.abs() <= 1e-13 * exact.max(1.0),
                    "odd moment n={n} m={m}"
                );
            }
        }
    }

    #[test]
    fn gauss_hermite_large_rules_are_orthonormal() {
        for &n in &[300usize, 1000] {
            let r = gauss_hermite(n).unwrap();
            let total: f64 = r.weights.iter().sum();
            assert!((total - 1.0).abs() < 1e-14, "n={n} sum={total}");
            for i in 0..n {
                assert!(r.nodes[i] == -r.nodes[n - 1 - i]);
                if i > 0 {
                    assert!(r.nodes[i] > r.nodes[i - 1]);
                }
            }
            // sum_i w_i h_j(x_i) h_k(x_i) = delta_jk for j + k <= 2n - 1, computed with the
            // plain recurrence on nodes whose weight is not negligible. For n = 1000 the
            // weights of the outermost nodes (|x| > 37.7) underflow to 0; h_k² ϕ is not
            // negligible there when the turning point sqrt(4k+2) approaches 37.7, so stop at
            // k = 250 there. (Single coefficients E[f h_k] are unaffected: their terms at
            // those nodes are below sqrt(w) ~ 1e-154.)
            let kmax = if n <= 300 { n - 10 } else { 250 };
            let mut gram = vec![0.0; 3 * (kmax + 1)];
            let mut h = vec![0.0; kmax + 1];
            for (&x, &w) in r.nodes.iter().zip(&r.weights) {
                if w < 1e-300 {
                    continue;
                }
                normalized_hermite(x, &mut h);
                for (j, k, slot) in [(0, 0, 0usize), (kmax, kmax, 1), (kmax - 1, kmax, 2)] {
                    gram[slot] += w * h[j] * h[k];
                }
            }
            assert!((gram[0] - 1.0).abs() < 1e-14);
            assert!((gram[1] - 1.0).abs() < 1e-12, "n={n} {}", gram[1]);
            assert!(gram[2].abs() < 1e-12);
        }
    }

    #[test]
    fn gauss_legendre_exact_for_polynomials() {
        let (x, w) = gauss_legendre(0);
        assert!(x.is_empty() && w.is_empty());
        for n in 1..=40usize {
            let (x, w) = gauss_legendre(n);
            let total: f64 = w.iter().sum();
            assert!((total - 2.0).abs() < 1e-14, "n={n}");
            for m in 0..n {
                let exact = 2.0 / (2 * m + 1) as f64;
                let got: f64 = x
                    .iter()
                    .zip(&w)
                    .map(|(a, b)| b * a.powi(2 * m as i32))
                    .sum();
                assert!((got - exact).abs() < 1e-14, "n={n} m={m}");
            }
            for i in 1..n {
                assert!(x[i] > x[i - 1]);
            }
        }
    }

    #[test]
    fn piecewise_rule_moments_and_breaks() {
        let r = piecewise_gaussian_rule(&[0.3, -2.0, 0.3, f64::NAN, 50.0], 14.0, 0.5, 20);
        for m in 0..8 {
            let got = r.integrate(|x| x.powi(2 * m));
            let exact = double_factorial_odd(m as usize);
            assert!((got - exact).abs() < 1e-14 * exact.max(1.0) * 10.0, "m={m}");
        }
        // E[1{Z>0.3}] against erfc
        let got = r.integrate(|x| if x > 0.3 { 1.0 } else { 0.0 });
        let exact = 0.5 * libm::erfc(0.3 / 2f64.sqrt());
        assert!((got - exact).abs() < 1e-15);
        assert!(piecewise_gaussian_rule(&[], f64::NAN, 1.0, 10).is_empty());
        assert!(piecewise_gaussian_rule(&[], 1.0, 1.0, 0).is_empty());
        assert!(!piecewise_gaussian_rule(&[], 1.0, -1.0, 3).is_empty());
    }

    fn reference(f: impl Fn(f64) -> f64, kinks_z: &[f64], degree: usize, sq: f64) -> Vec<f64> {
        reference_coefficients(f, kinks_z, degree, sq).0
    }

    fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max)
    }

    fn run(plan: &SamplingPlan, f: impl Fn(f64) -> f64) -> HermiteCoefficients {
        let v: Vec<f64> = plan.points().iter().map(|&x| f(x)).collect();
        plan.coefficients(&v).unwrap()
    }

    #[test]
    fn plan_erf_callable_matches_closed_form() {
        for &q in &[1.0, 2.5, 0.3] {
            let plan = SamplingPlan::new(200, &[], q).unwrap();
            let v: Vec<f64> = plan.points().iter().map(|&x| libm::erf(x)).collect();
            let (c, how) = plan.evaluate(&v).unwrap();
            assert_eq!(how, PlanOutcome::GaussHermite);
            let exact = ClosedForm::Erf { scale: 1.0 }.coefficients(200, q).unwrap();
            let d = max_abs_diff(&c.mu, &exact.mu);
            assert!(d <= 1e-13, "q={q}: {d}");
            assert!(c.error < 1e-13 && c.error >= 0.0);
            assert!((c.second_moment - exact.second_moment).abs() < 1e-13);
        }
    }

    #[test]
    fn plan_tanh_matches_independent_reference() {
        let plan = SamplingPlan::new(200, &[], 1.0).unwrap();
        let c = run(&plan, f64::tanh);
        let r = reference(f64::tanh, &[], 200, 1.0);
        let d = max_abs_diff(&c.mu, &r);
        assert!(d <= 1e-13, "tanh: {d} (est {})", c.error);
        assert!(c.error <= 1e-13);
        // sigmoid and softplus too
        let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
        let c = run(&plan, sig);
        let d = max_abs_diff(&c.mu, &reference(sig, &[], 200, 1.0));
        assert!(d <= 1e-13, "sigmoid: {d}");
        let sp = |x: f64| if x > 30.0 { x } else { x.exp().ln_1p() };
        let c = run(&plan, sp);
        let d = max_abs_diff(&c.mu, &reference(sp, &[], 200, 1.0));
        assert!(d <= 1e-13, "softplus: {d}");
        // Large q: the poles of tanh(sqrt(q) z) come close to the real axis and
        // Gauss-Hermite no longer converges; the composite pair must take over.
        let plan = SamplingPlan::new(200, &[], 25.0).unwrap();
        let v: Vec<f64> = plan.points().iter().map(|&x| x.tanh()).collect();
        let (c, how) = plan.evaluate(&v).unwrap();
        assert_eq!(how, PlanOutcome::CompositeLegendre);
        let d = max_abs_diff(&c.mu, &reference(f64::tanh, &[], 200, 5.0));
        assert!(
            d <= 1e-13 && c.error <= 1e-13,
            "tanh q=25: {d} (est {})",
            c.error
        );
    }

    #[test]
    fn plan_piecewise_linear_callables_are_exact() {
        let relu = |x: f64| x.max(0.0);
        let hardtanh = |x: f64| x.clamp(-1.0, 1.0);
        for &q in &[1.0, 0.7, 3.0] {
            let plan = SamplingPlan::new(500, &[0.0], q).unwrap();
            let c = run(&plan, relu);
            let exact = ClosedForm::Relu.coefficients(500, q).unwrap();
            let d = max_abs_diff(&c.mu, &exact.mu);
            assert!(d <= 1e-12, "relu q={q}: {d}");
            assert!(c.error <= 1e-13);
            assert!((c.second_moment - q / 2.0).abs() < 1e-14);
            let plan = SamplingPlan::new(500, &[1.0, -1.0, 1.0], q).unwrap();
            let c = run(&plan, hardtanh);
            let exact = ClosedForm::HardTanh.coefficients(500, q).unwrap();
            let d = max_abs_diff(&c.mu, &exact.mu);
            assert!(d <= 1e-12, "hardtanh q={q}: {d}");
        }
        // discontinuous: the step function
        let plan = SamplingPlan::new(300, &[0.0], 1.0).unwrap();
        let c = run(&plan, |x| if x > 0.0 { 1.0 } else { 0.0 });
        let exact = ClosedForm::Step.coefficients(300, 1.0).unwrap();
        assert!(max_abs_diff(&c.mu, &exact.mu) <= 1e-12);
        // identity without kinks
        let plan = SamplingPlan::new(50, &[], 2.0).unwrap();
        let c = run(&plan, |x| x);
        assert!((c.mu[1] - 2f64.sqrt()).abs() < 1e-15);
        assert!(c
            .mu
            .iter()
            .enumerate()
            .all(|(k, m)| k == 1 || m.abs() < 1e-15));
    }

    #[test]
    fn plan_elu_matches_fine_reference() {
        let elu = |x: f64| if x > 0.0 { x } else { x.exp_m1() };
        for &(q, deg) in &[(1.0, 500usize), (2.0, 120)] {
            let plan = SamplingPlan::new(deg, &[0.0], q).unwrap();
            let v: Vec<f64> = plan.points().iter().map(|&x| elu(x)).collect();
            let (c, how) = plan.evaluate(&v).unwrap();
            assert_eq!(how, PlanOutcome::CompositeLegendre);
            let r = reference(elu, &[0.0], deg, q.sqrt());
            let d = max_abs_diff(&c.mu, &r);
            assert!(d <= 1e-11, "elu q={q}: {d}");
            assert!(c.error <= 1e-12, "estimate {}", c.error);
        }
    }

    #[test]
    fn plan_high_degree_smooth_uses_piecewise() {
        let plan = SamplingPlan::new(2000, &[], 1.0).unwrap();
        let v: Vec<f64> = plan.points().iter().map(|&x| x.sin()).collect();
        let (c, how) = plan.evaluate(&v).unwrap();
        assert_eq!(how, PlanOutcome::CompositeLegendre);
        let exact = ClosedForm::Sin { freq: 1.0 }
            .coefficients(2000, 1.0)
            .unwrap();
        let d = max_abs_diff(&c.mu, &exact.mu);
        assert!(d <= 1e-13, "sin: {d}");
        assert!(c.mu.iter().all(|m| m.is_finite()));
    }

    #[test]
    fn plan_rejects_bad_input() {
        assert!(SamplingPlan::new(10, &[], 0.0).is_err());
        assert!(SamplingPlan::new(10, &[], f64::NAN).is_err());
        assert!(SamplingPlan::new(10, &[f64::NAN], 1.0).is_err());
        assert!(SamplingPlan::new(200_000, &[], 1.0).is_err());
        let plan = SamplingPlan::new(10, &[0.0, 0.0, -1.0], 1.0).unwrap();
        assert!(matches!(
            plan.coefficients(&[1.0, 2.0]),
            Err(NtkError::InvalidArgument(_))
        ));
        // finite values whose squares overflow: an error, not a second moment of 0 or inf
        let plan64 = SamplingPlan::new(64, &[], 1.0).unwrap();
        for scale in [1e300, 1e160] {
            let huge: Vec<f64> = plan64.points().iter().map(|x| scale * x).collect();
            match plan64.coefficients(&huge) {
                Err(NtkError::NonFinite(msg)) => assert!(msg.contains("overflow"), "{msg}"),
                other => panic!("expected NonFinite at scale {scale}, got {other:?}"),
            }
            let huge: Vec<f64> = plan64.points().iter().map(|x| scale * x.sin()).collect();
            assert!(matches!(
                plan64.coefficients(&huge),
                Err(NtkError::NonFinite(_))
            ));
        }
        // large but representable: fine
        let big: Vec<f64> = plan64.points().iter().map(|x| 1e100 * x).collect();
        let c = plan64.coefficients(&big).unwrap();
        assert!((c.second_moment / 1e200 - 1.0).abs() < 1e-12);
        let mut v: Vec<f64> = plan.points().iter().map(|x| x.tanh()).collect();
        v[7] = f64::NAN;
        match plan.coefficients(&v) {
            Err(NtkError::NonFinite(msg)) => assert!(msg.contains("point 7")),
            other => panic!("expected NonFinite, got {other:?}"),
        }
    }

    #[test]
    fn coefficients_from_rule_matches_plain_sum() {
        let r = gauss_hermite(40).unwrap();
        let v: Vec<f64> = r.nodes.iter().map(|x| x.cos()).collect();
        let mu = coefficients_from_rule(&r, &v, 10);
        let mut h = vec![0.0; 11];
        let mut plain = vec![0.0; 11];
        for (i, &x) in r.nodes.iter().enumerate() {
            normalized_hermite(x, &mut h);
            for k in 0..11 {
                plain[k] += r.weights[i] * v[i] * h[k];
            }
        }
        assert!(max_abs_diff(&mu, &plain) < 1e-15);
    }

    #[test]
    fn plan_matches_mpmath_spot_values() {
        // mpmath quad (30 digits) of f(z) h_k(z) ϕ(z), interval split every 0.25.
        let elu = |x: f64| if x > 0.0 { x } else { x.exp_m1() };
        let silu = |x: f64| x / (1.0 + (-x).exp());
        type Case<'a> = (
            &'a dyn Fn(f64) -> f64,
            Vec<f64>,
            f64,
            usize,
            Vec<(usize, f64)>,
        );
        let cases: Vec<Case> = vec![
            (
                &f64::tanh,
                vec![],
                1.0,
                200,
                vec![
                    (1, 0.605_705_509_602_158_8),
                    (3, -0.148_437_190_787_272_7),
                    (51, -1.919_618_956_225_436e-5),
                    (199, -2.524_204_060_417_9e-10),
                ],
            ),
            (
                &silu,
                vec![],
                1.0,
                200,
                vec![
                    (0, 0.206_620_964_141_907_04),
                    (2, 0.248_085_192_830_300_07),
                    (100, -4.807_688_955_041_293e-13),
                    (200, -9.617_249_229_310_717e-19),
                ],
            ),
            (
                &f64::tanh,
                vec![],
                25.0,
                200,
                vec![
                    (1, 0.785_191_202_187_281_5),
                    (99, -6.343_034_892_360_957e-3),
                    (199, -1.444_545_399_624_688e-3),
                ],
            ),
            (
                &elu,
                vec![0.0],
                1.0,
                500,
                vec![
                    (0, 0.160_520_572_266_556_05),
                    (3, -5.607_861_349_124_595e-2),
                    (250, 1.450_483_135_470_493_3e-6),
                    (499, -6.779_233_915_095_968e-6),
                    (500, -3.031_765_573_905_324_5e-7),
                ],
            ),
        ];
        for (f, kinks, q, deg, values) in cases {
            let plan = SamplingPlan::new(deg, &kinks, q).unwrap();
            let c = run(&plan, f);
            for (k, expect) in values {
                assert!(
                    (c.mu[k] - expect).abs() <= 1e-14,
                    "q={q} k={k}: {} vs {expect}",
                    c.mu[k]
                );
            }
        }
    }
}
