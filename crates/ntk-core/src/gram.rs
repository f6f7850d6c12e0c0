//! NTK and NNGP Gram matrices `K_ij = K(⟨x_i, y_j⟩)` (DESIGN §1.4), dense or matrix-free.
//!
//! # Algorithm
//!
//! Points are the rows of `X ∈ ℝ^{n×d}` (and `Y ∈ ℝ^{m×d}`), assumed on the unit sphere.
//!
//! 1. `ρ = X Yᵀ` by faer's GEMM, one tile at a time (a column panel of `PANEL` columns and
//!    up to `ROW_CHUNK` rows). For a symmetric Gram (`Y = X`) only the tiles on and below
//!    the diagonal are computed.
//! 2. The elementwise kernel `K(ρ)` is applied to the tile while it is in cache, in place:
//!    no `n×n` intermediate is ever allocated, per layer or otherwise. `ρ` is clamped into
//!    `[−1, 1]`.
//! 3. Symmetric Gram: the diagonal is set **exactly** to `K(1)` (`Θ(1)` or `NNGP(1)`, from
//!    the scalar recursion), each diagonal block is mirrored, and finally the strict lower
//!    triangle is mirrored into the upper one, so the result is exactly symmetric.
//!
//! Tiles (column panels) are processed by `par.degree()` workers on the current rayon pool,
//! largest panels first; `cancel` is polled before every tile (a few milliseconds of work).
//!
//! # The elementwise kernel ([`GramKernel`])
//!
//! * [`GramMethod::Exact`]: the layer recursion of DESIGN §1.1 per entry
//!   ([`PointwiseKernel`]), *or* — automatically, for Grams with more than
//!   [`SURROGATE_MIN_ENTRIES`] entries — the certified piecewise-polynomial surrogate of
//!   [`crate::interpolant`], whose measured deviation from the recursion is below
//!   `1e-13·K(1)` (one order below the accuracy target of the exact path); when that cannot
//!   be certified the recursion is used per entry.
//! * [`GramMethod::Interpolated`]: the surrogate whenever it is certified (any size), else the
//!   recursion.
//! * [`GramMethod::Series`]: Horner's rule on the truncated power series
//!   `Σ_{p≤P} κ_p ρ^p` (or `ν_p` for the NNGP), within the series' truncation bound
//!   ([`GramKernel::error_bound`]); its diagonal is the truncated series at `ρ = 1`,
//!   `Σ_p κ_p`, so that `K = Σ_p κ_p G^{∘p}` holds entry for entry (DESIGN §1.5).
//!
//! # Accuracy near `ρ = ±1`
//!
//! The computed `ρ = fl(⟨x, y⟩)` carries an absolute error `δ ≈ ε√d`. Away from `ρ = ±1`
//! this changes `K` by `|K'(ρ)| δ`, harmless. Near `ρ = 1`, however, the ReLU-family
//! kernels behave like `K(1) − c·θ` with `θ = arccos ρ ≈ √(2(1 − ρ))`, so `δ` turns into a
//! kernel error `≈ c √(2δ)` — half the digits (this is how other libraries lose accuracy on
//! duplicate points). Here, for `|ρ| > NEAR_ONE` the half-chord
//! `s = ‖x ∓ y‖/2 = √((1 ∓ ρ)/2)` is recomputed from the two rows, which has full relative
//! accuracy, and the surrogate is evaluated at `s` directly (it is a polynomial in `s`,
//! see [`crate::interpolant`]). Hence the error stays `O(ε)·K(1)`, and **identical rows
//! give exactly `K(1)`** (`s = 0`), antipodal rows exactly `K(−1)`, even off the diagonal.
//! The per-entry recursion only accepts `ρ`, and `1 − |ρ| = 2s²` rounded to a double has a
//! relative error `ε/(2s²)`; so within `1 − |ρ| < 2⁻¹²` of `±1` (and `s > 0`) the exact path
//! evaluates the certified surrogate at `s` instead (built on first need; its deviation from
//! the recursion is below `1e-13·K(1)`), and falls back to `ρ = ±(1 − 2s²)` only if the
//! surrogate cannot be certified. The series method is a polynomial in `ρ` (finite slope at
//! `ρ = ±1`) and is fed `ρ = ±(1 − 2s²)`, exactly `±1` for `s = 0`.
//!
//! # Memory
//!
//! A dense Gram is refused **before allocating** ([`NtkError::TooLarge`]) when its size
//! exceeds 90% of the memory available ([`available_memory`]: `MemAvailable` of
//! `/proc/meminfo`, capped by a cgroup v2 limit; [`FALLBACK_MEMORY_CAP`] if unreadable).
//! [`GramOperator`] is the matrix-free alternative: `O(n·d + n·b + threads·TILE²)` memory.
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use faer::linalg::matmul::matmul;
use faer::reborrow::{Reborrow, ReborrowMut};
use faer::{Accum, Mat, MatMut, MatRef, Par};

use crate::error::{NtkError, Result};
use crate::interpolant::{KernelInterpolant, DEFAULT_TOLERANCE};
use crate::kernel::{Network, PointwiseKernel, SeriesOptions};
use crate::operator::SymmetricOperator;
use crate::series::{check, never_cancel, Cancel};

/// Which kernel a Gram matrix holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KernelKind {
    /// The NTK `Θ = Θ_{L+1}` (DESIGN §1.1).
    Ntk,
    /// The NNGP kernel `Σ_{L+1}`.
    Nngp,
}

/// How the elementwise kernel `ρ ↦ K(ρ)` is evaluated (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GramMethod {
    /// The exact layer recursion, accelerated by the certified surrogate (deviation
    /// `≤ 1e-13·K(1)`) for large Grams.
    Exact,
    /// Horner's rule on the power series truncated at `degree`; error at most the
    /// series' truncation bound.
    Series {
        /// The truncation degree `P` (coefficients `0..=P`).
        degree: usize,
    },
    /// The certified surrogate for any size (falls back to the recursion if it cannot be
    /// certified).
    Interpolated,
}

/// `|ρ|` above which the half-chord `‖x ∓ y‖/2` is recomputed from the rows (see the module
/// docs). At the threshold `sin θ ≈ 0.18`, so an error `δ` in `ρ` costs at most `≈ 6δ|K'(θ)|`.
pub const NEAR_ONE: f64 = 1.0 - 1.0 / 64.0;

/// [`GramMethod::Exact`] uses the surrogate for Grams with at least this many computed
/// entries (its construction costs a few thousand exact evaluations).
pub const SURROGATE_MIN_ENTRIES: usize = 1 << 16;

/// Memory assumed available when neither `/proc/meminfo` nor a cgroup limit can be read.
pub const FALLBACK_MEMORY_CAP: u64 = 8 << 30;

/// Fraction of the available memory a dense Gram may take.
const MEMORY_FRACTION: f64 = 0.9;

/// Columns per panel of a dense Gram (also the diagonal block size).
const PANEL: usize = 128;
/// Rows per tile of a dense Gram (a multiple of `PANEL`).
const ROW_CHUNK: usize = 256;
/// [`GramOperator`]'s `apply` splits the tiles into at most this many groups (each with its own
/// `n×b` accumulator), ...
const MAX_GROUPS: usize = 16;
/// ... and at most as many as fit in this many bytes of accumulators.
const GROUP_MEMORY: usize = 256 << 20;
/// Default tile size of [`GramOperator`].
pub const OPERATOR_TILE: usize = 256;

// ------------------------------------------------------------------------------------------
// Output element types
// ------------------------------------------------------------------------------------------

mod sealed {
    pub trait Sealed {}
    impl Sealed for f64 {}
    impl Sealed for f32 {}
}

/// Element type of a dense Gram: `f64`, or `f32` (half the memory). The kernel is always
/// evaluated in `f64` and rounded once when stored.
pub trait GramScalar:
    faer::traits::ComplexField + Copy + Send + Sync + 'static + sealed::Sealed
{
    /// Bytes per element.
    const BYTES: usize;
    /// Rounds an `f64` to this type.
    fn from_f64(v: f64) -> Self;
    /// Runs `f` on an `f64` view of `dst` (the destination itself for `f64`; a scratch
    /// buffer, rounded into `dst` afterwards, for `f32`).
    #[doc(hidden)]
    fn with_f64_tile(
        dst: MatMut<'_, Self>,
        scratch: &mut Mat<f64>,
        f: impl FnOnce(MatMut<'_, f64>) -> Result<()>,
    ) -> Result<()>;
}

impl GramScalar for f64 {
    const BYTES: usize = 8;
    #[inline]
    fn from_f64(v: f64) -> Self {
        v
    }
    fn with_f64_tile(
        dst: MatMut<'_, f64>,
        _scratch: &mut Mat<f64>,
        f: impl FnOnce(MatMut<'_, f64>) -> Result<()>,
    ) -> Result<()> {
        f(dst)
    }
}

impl GramScalar for f32 {
    const BYTES: usize = 4;
    #[inline]
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn with_f64_tile(
        mut dst: MatMut<'_, f32>,
        scratch: &mut Mat<f64>,
        f: impl FnOnce(MatMut<'_, f64>) -> Result<()>,
    ) -> Result<()> {
        let (h, w) = dst.shape();
        if scratch.nrows() < h || scratch.ncols() < w {
            *scratch = Mat::zeros(h.max(scratch.nrows()), w.max(scratch.ncols()));
        }
        let mut s = scratch.as_mut().submatrix_mut(0, 0, h, w);
        f(s.rb_mut())?;
        for j in 0..w {
            for i in 0..h {
                dst[(i, j)] = s[(i, j)] as f32;
            }
        }
        Ok(())
    }
}

// ------------------------------------------------------------------------------------------
// Points
// ------------------------------------------------------------------------------------------

/// Row-major copy of the points (for the half-chords `‖x ∓ y‖`).
#[derive(Debug, Clone)]
struct Points {
    data: Vec<f64>,
    d: usize,
}

impl Points {
    #[inline(always)]
    fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.d..(i + 1) * self.d]
    }
}

/// Largest accepted deviation `|‖x‖² − 1|` of an input row.
const UNIT_NORM_TOL_SQ: f64 = 2.5e-6;

/// Checks that every entry is finite and every row has unit norm (to `≈ 1e-6`), and copies
/// the rows.
fn points(x: MatRef<'_, f64>, name: &str) -> Result<Points> {
    let (n, d) = x.shape();
    if d == 0 && n > 0 {
        return Err(NtkError::InvalidArgument(format!(
            "{name} has {n} points of dimension 0; points must lie on the unit sphere"
        )));
    }
    let mut data = Vec::new();
    data.try_reserve_exact(n.saturating_mul(d))
        .map_err(|_| too_large_points(n, d))?;
    for i in 0..n {
        let mut nrm = 0.0;
        for k in 0..d {
            let v = x[(i, k)];
            if !v.is_finite() {
                return Err(NtkError::NonFinite(format!(
                    "{name} has a non-finite entry {v} at row {i}, column {k}"
                )));
            }
            nrm += v * v;
            data.push(v);
        }
        if (nrm - 1.0).abs() > UNIT_NORM_TOL_SQ {
            return Err(NtkError::InvalidArgument(format!(
                "{name} row {i} has norm {:.6}, but points must lie on the unit sphere",
                nrm.sqrt()
            )));
        }
    }
    Ok(Points { data, d })
}

fn too_large_points(n: usize, d: usize) -> NtkError {
    NtkError::TooLarge(format!("cannot copy {n}×{d} points: out of memory"))
}

/// `‖a − b‖/2` (`plus`) or `‖a + b‖/2`, with full relative accuracy.
#[inline]
fn half_chord(a: &[f64], b: &[f64], plus: bool) -> f64 {
    let mut acc = 0.0;
    if plus {
        for (p, q) in a.iter().zip(b) {
            let t = p - q;
            acc += t * t;
        }
    } else {
        for (p, q) in a.iter().zip(b) {
            let t = p + q;
            acc += t * t;
        }
    }
    0.5 * acc.sqrt()
}

// ------------------------------------------------------------------------------------------
// The elementwise kernel
// ------------------------------------------------------------------------------------------

enum Eval {
    Surrogate(KernelInterpolant),
    Exact {
        pk: PointwiseKernel,
        /// The surrogate for `0 < 1 − |ρ| < EXACT_RHO_LIMIT`, built on first need.
        near: OnceLock<Option<KernelInterpolant>>,
    },
    Series(Vec<f64>),
}

/// Below this distance `1 − |ρ|` the per-entry recursion, which only accepts `ρ`, would
/// see `1 − |ρ| = 2s²` with a relative rounding error `ε/(2s²)` (kernel error
/// `≈ ε/θ·|dK/dθ|`); there the exact path evaluates the certified surrogate at the
/// accurately computed half-chord `s` instead (built on first need).
const EXACT_RHO_LIMIT: f64 = 1.0 / 4096.0;

/// The elementwise map `ρ ↦ K(ρ)` of a Gram matrix, prepared once (see the module docs for
/// the three methods). Thread-safe; reuse it for several Grams or operators of the same
/// network.
pub struct GramKernel {
    kind: KernelKind,
    eval: Eval,
    diagonal: f64,
    error_bound: Option<f64>,
}

impl std::fmt::Debug for GramKernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let method = match &self.eval {
            Eval::Surrogate(s) => format!("surrogate {:?} panels", s.panels()),
            Eval::Exact { .. } => "exact recursion".into(),
            Eval::Series(c) => format!("series of degree {}", c.len().saturating_sub(1)),
        };
        f.debug_struct("GramKernel")
            .field("kind", &self.kind)
            .field("method", &method)
            .field("diagonal", &self.diagonal)
            .field("error_bound", &self.error_bound)
            .finish()
    }
}

fn exact_value(pk: &PointwiseKernel, kind: KernelKind, rho: f64) -> Result<f64> {
    match kind {
        KernelKind::Ntk => Ok(pk.ntk_nngp(rho)?.0),
        KernelKind::Nngp => pk.nngp(rho),
    }
}

#[inline]
fn horner(c: &[f64], x: f64) -> f64 {
    let mut y = 0.0;
    for &a in c.iter().rev() {
        y = y * x + a;
    }
    y
}

impl GramKernel {
    /// The kernel for `method`, for a Gram with `entries` computed entries (used by
    /// [`GramMethod::Exact`] to decide whether the surrogate pays off).
    pub fn new(
        net: &Network,
        kind: KernelKind,
        method: GramMethod,
        entries: usize,
        par: Par,
        cancel: Cancel,
    ) -> Result<Self> {
        match method {
            GramMethod::Exact if entries < SURROGATE_MIN_ENTRIES => Self::exact(net, kind),
            GramMethod::Exact | GramMethod::Interpolated => {
                Self::interpolated(net, kind, par, cancel)
            }
            GramMethod::Series { degree } => Self::series(net, kind, degree, cancel),
        }
    }

    /// The exact layer recursion per entry (DESIGN §1.1). Errors: those of
    /// [`Network::pointwise`], e.g. `Domain` for the NTK of the step function.
    pub fn exact(net: &Network, kind: KernelKind) -> Result<Self> {
        let pk = net.pointwise(kind == KernelKind::Ntk)?;
        let diagonal = exact_value(&pk, kind, 1.0)?;
        Ok(GramKernel {
            kind,
            eval: Eval::Exact {
                pk,
                near: OnceLock::new(),
            },
            diagonal,
            error_bound: None,
        })
    }

    /// The certified surrogate ([`KernelInterpolant`] with tolerance `1e-13·K(1)`), or the
    /// exact recursion when it cannot be certified.
    pub fn interpolated(net: &Network, kind: KernelKind, par: Par, cancel: Cancel) -> Result<Self> {
        let pk = net.pointwise(kind == KernelKind::Ntk)?;
        let diagonal = exact_value(&pk, kind, 1.0)?;
        match KernelInterpolant::new(&pk, kind, DEFAULT_TOLERANCE, par, cancel) {
            Ok(ip) => Ok(GramKernel {
                kind,
                error_bound: Some(ip.max_error()),
                eval: Eval::Surrogate(ip),
                diagonal,
            }),
            Err(NtkError::Convergence(_)) => Ok(GramKernel {
                kind,
                eval: Eval::Exact {
                    pk,
                    near: OnceLock::from(None),
                },
                diagonal,
                error_bound: None,
            }),
            Err(e) => Err(e),
        }
    }

    /// The truncated power series of degree `degree`, evaluated by Horner's rule.
    pub fn series(net: &Network, kind: KernelKind, degree: usize, cancel: Cancel) -> Result<Self> {
        let opts = SeriesOptions {
            ntk: kind == KernelKind::Ntk,
            keep_layers: false,
        };
        let s = net.series(degree, opts, cancel)?;
        let (coeffs, bound) = match kind {
            KernelKind::Ntk => match (s.ntk, s.ntk_truncation_bound) {
                (Some(c), Some(b)) => (c, b),
                _ => {
                    return Err(NtkError::Unsupported(
                        "the NTK series is not available for this network".into(),
                    ))
                }
            },
            KernelKind::Nngp => (s.nngp, s.nngp_truncation_bound),
        };
        let diagonal = horner(&coeffs, 1.0);
        Ok(GramKernel {
            kind,
            eval: Eval::Series(coeffs),
            diagonal,
            error_bound: Some(bound),
        })
    }

    /// Which kernel.
    pub fn kind(&self) -> KernelKind {
        self.kind
    }

    /// Whether the fast surrogate is in use.
    pub fn uses_surrogate(&self) -> bool {
        matches!(self.eval, Eval::Surrogate(_))
    }

    /// The value written on the diagonal of a symmetric Gram: the exact `K(1)` (series
    /// method: `Σ_p κ_p`, the truncated series at 1).
    pub fn diagonal(&self) -> f64 {
        self.diagonal
    }

    /// A bound on `|value − K(ρ)|` beyond the evaluation of `ρ` itself: the measured
    /// deviation of the surrogate from the recursion, the series' truncation bound, or
    /// `None` for the recursion itself.
    pub fn error_bound(&self) -> Option<f64> {
        self.error_bound
    }

    /// `K(ρ)` for one correlation (`|ρ| ≤ 1`; round-off up to `1e-12` beyond is clamped,
    /// more is an `InvalidArgument` error, NaN a `NonFinite` one). Near `ρ = ±1`
    /// the result is only as accurate as `ρ` itself (the Gram functions use the half-chord
    /// there, see the module docs).
    pub fn value(&self, rho: f64) -> Result<f64> {
        if !rho.is_finite() {
            return Err(NtkError::NonFinite(format!(
                "the input correlation must be finite, got {rho}"
            )));
        }
        if rho.abs() > 1.0 + 1e-12 {
            return Err(NtkError::InvalidArgument(format!(
                "the input correlation must lie in [-1, 1], got {rho}"
            )));
        }
        let r = rho.clamp(-1.0, 1.0);
        match &self.eval {
            Eval::Surrogate(ip) => Ok(ip.eval(r)),
            Eval::Exact { pk, .. } => exact_value(pk, self.kind, r),
            Eval::Series(c) => Ok(horner(c, r)),
        }
    }

    /// Overwrites the tile `ρ_ij = ⟨x_{i0+i}, y_{j0+j}⟩` with `K(ρ_ij)`; with `diagonal`,
    /// entries with `i0 + i = j0 + j` get exactly [`diagonal`](Self::diagonal).
    fn apply_tile(
        &self,
        mut tile: MatMut<'_, f64>,
        xs: &Points,
        i0: usize,
        ys: &Points,
        j0: usize,
        diagonal: bool,
    ) -> Result<()> {
        let (h, w) = tile.shape();
        for j in 0..w {
            let yj = ys.row(j0 + j);
            let col = tile.rb_mut().col_mut(j);
            match col.try_as_col_major_mut() {
                Some(c) => self.apply_column(c.as_slice_mut(), xs, i0, yj)?,
                None => {
                    let mut c = tile.rb_mut().col_mut(j);
                    let mut buf: Vec<f64> = (0..h).map(|i| c[i]).collect();
                    self.apply_column(&mut buf, xs, i0, yj)?;
                    for (i, v) in buf.into_iter().enumerate() {
                        c[i] = v;
                    }
                }
            }
        }
        if diagonal {
            let lo = i0.max(j0);
            let hi = (i0 + h).min(j0 + w);
            for g in lo..hi {
                tile[(g - i0, g - j0)] = self.diagonal;
            }
        }
        Ok(())
    }

    /// One column: `col[i] = ⟨x_{i0+i}, y⟩` on entry.
    #[inline]
    fn apply_column(&self, col: &mut [f64], xs: &Points, i0: usize, y: &[f64]) -> Result<()> {
        match &self.eval {
            Eval::Surrogate(ip) => {
                // entries near ±1 are redone from the half-chord after the batched pass
                let near = col.iter().any(|r| r.abs() >= NEAR_ONE);
                let saved: Vec<(usize, bool)> = if near {
                    col.iter()
                        .enumerate()
                        .filter(|(_, r)| r.abs() >= NEAR_ONE)
                        .map(|(i, r)| (i, *r > 0.0))
                        .collect()
                } else {
                    Vec::new()
                };
                ip.eval_in_place(col);
                for (i, plus) in saved {
                    let s = half_chord(xs.row(i0 + i), y, plus);
                    col[i] = if plus {
                        ip.eval_half_chord_plus(s)
                    } else {
                        ip.eval_half_chord_minus(s)
                    };
                }
            }
            Eval::Exact { pk, near } => {
                for (i, v) in col.iter_mut().enumerate() {
                    let r = *v;
                    *v = if r.abs() < NEAR_ONE {
                        exact_value(pk, self.kind, r.clamp(-1.0, 1.0))?
                    } else {
                        let plus = r > 0.0;
                        let s = half_chord(xs.row(i0 + i), y, plus);
                        let gap = 2.0 * s * s;
                        let sur = if s > 0.0 && gap < EXACT_RHO_LIMIT {
                            near.get_or_init(|| {
                                KernelInterpolant::new(
                                    pk,
                                    self.kind,
                                    DEFAULT_TOLERANCE,
                                    Par::Seq,
                                    &never_cancel,
                                )
                                .ok()
                            })
                            .as_ref()
                        } else {
                            None
                        };
                        match (sur, plus) {
                            (Some(ip), true) => ip.eval_half_chord_plus(s),
                            (Some(ip), false) => ip.eval_half_chord_minus(s),
                            (None, true) => exact_value(pk, self.kind, 1.0 - gap)?,
                            (None, false) => exact_value(pk, self.kind, gap - 1.0)?,
                        }
                    };
                }
            }
            Eval::Series(c) => {
                for (i, v) in col.iter_mut().enumerate() {
                    let r = near_one_rho(*v, xs.row(i0 + i), y);
                    *v = horner(c, r);
                }
            }
        }
        Ok(())
    }
}

/// `ρ` clamped into `[−1, 1]`, recomputed as `±(1 − 2s²)` from the half-chord when
/// `|ρ| > NEAR_ONE` (exactly `±1` for identical/antipodal rows).
#[inline]
fn near_one_rho(r: f64, x: &[f64], y: &[f64]) -> f64 {
    if r.abs() < NEAR_ONE {
        r
    } else if r > 0.0 {
        let s = half_chord(x, y, true);
        1.0 - 2.0 * s * s
    } else {
        let s = half_chord(x, y, false);
        2.0 * s * s - 1.0
    }
}

// ------------------------------------------------------------------------------------------
// Memory
// ------------------------------------------------------------------------------------------

/// Bytes of memory available to this process: `MemAvailable` from `/proc/meminfo`, reduced
/// to the remaining cgroup v2 allowance (`memory.max − memory.current`) when one is set.
/// `None` if neither can be read.
pub fn available_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("MemAvailable:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map(|kb| kb.saturating_mul(1024))
    });
    let read = |p: &str| -> Option<u64> { std::fs::read_to_string(p).ok()?.trim().parse().ok() };
    let cgroup = match (
        read("/sys/fs/cgroup/memory.max"),
        read("/sys/fs/cgroup/memory.current"),
    ) {
        (Some(max), Some(cur)) => Some(max.saturating_sub(cur)),
        _ => None,
    };
    match (meminfo, cgroup) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn gib(b: f64) -> f64 {
    b / (1u64 << 30) as f64
}

/// Refuses an `n × m` dense Gram of `elem_bytes`-byte elements (plus a row-major copy of the
/// `d`-dimensional points) that would not fit in [`available_memory`]; never allocates.
///
/// Errors: [`NtkError::TooLarge`] with a message suggesting `matrix_free=True` (and
/// `dtype=float32` for 8-byte elements).
pub fn check_gram_fits(n: usize, m: usize, d: usize, elem_bytes: usize) -> Result<()> {
    let avail = available_memory().unwrap_or(FALLBACK_MEMORY_CAP);
    let needed = (n as u128)
        .checked_mul(m as u128)
        .and_then(|v| v.checked_mul(elem_bytes as u128))
        .and_then(|v| {
            (n as u128)
                .checked_add(m as u128)?
                .checked_mul(d as u128)?
                .checked_mul(8)?
                .checked_add(v)
        })
        .unwrap_or(u128::MAX);
    let limit = (avail as f64 * MEMORY_FRACTION) as u128;
    if needed > limit {
        let hint = if elem_bytes > 4 {
            "use matrix_free=True for eigenvalues, or dtype=float32 to halve the memory"
        } else {
            "use matrix_free=True for eigenvalues"
        };
        return Err(NtkError::TooLarge(format!(
            "a {n}×{m} Gram matrix needs {:.1} GiB ({}-byte entries) but only {:.1} GiB of \
             memory is available; {hint}",
            gib(needed as f64).min(f64::MAX),
            elem_bytes,
            gib(avail as f64)
        )));
    }
    Ok(())
}

fn alloc<T: GramScalar>(n: usize, m: usize) -> Result<Mat<T>> {
    let mut out = Mat::<T>::new();
    out.try_reserve(n, m).map_err(|_| {
        NtkError::TooLarge(format!(
            "could not allocate a {n}×{m} Gram matrix; use matrix_free=True for eigenvalues"
        ))
    })?;
    out.resize_with(n, m, |_, _| T::from_f64(0.0));
    Ok(out)
}

// ------------------------------------------------------------------------------------------
// Work distribution
// ------------------------------------------------------------------------------------------

/// Number of workers granted by `par`.
fn workers(par: Par) -> usize {
    match par {
        Par::Seq => 1,
        #[allow(unreachable_patterns)]
        p => p.degree().max(1),
    }
}

/// Runs `f` on every task with at most `workers(par)` concurrent workers on the current
/// rayon pool, tasks handed out in order. Stops at the first error and returns it.
fn run_tasks<I: Send>(tasks: Vec<I>, par: Par, f: impl Fn(I) -> Result<()> + Sync) -> Result<()> {
    let nw = workers(par).min(tasks.len());
    if nw <= 1 {
        for t in tasks {
            f(t)?;
        }
        return Ok(());
    }
    let queue = Mutex::new(tasks.into_iter());
    let failed = AtomicBool::new(false);
    let first: Mutex<Option<NtkError>> = Mutex::new(None);
    rayon::scope(|s| {
        for _ in 0..nw {
            s.spawn(|_| loop {
                if failed.load(Ordering::Relaxed) {
                    break;
                }
                let task = queue.lock().unwrap_or_else(|p| p.into_inner()).next();
                let Some(task) = task else { break };
                if let Err(e) = f(task) {
                    failed.store(true, Ordering::Relaxed);
                    let mut g = first.lock().unwrap_or_else(|p| p.into_inner());
                    if g.is_none() {
                        *g = Some(e);
                    }
                    break;
                }
            });
        }
    });
    match first.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Splits `m` into column panels of width `w` (`(start, panel)`).
fn col_panels<T>(mut m: MatMut<'_, T>, w: usize) -> Vec<(usize, MatMut<'_, T>)> {
    let mut v = Vec::new();
    let mut start = 0;
    while m.ncols() > 0 {
        let k = w.min(m.ncols());
        let (a, b) = m.split_at_col_mut(k);
        v.push((start, a));
        start += k;
        m = b;
    }
    v
}

/// Splits `m` into row blocks of height `h` (`(start, block)`).
fn row_blocks<T>(mut m: MatMut<'_, T>, h: usize) -> Vec<(usize, MatMut<'_, T>)> {
    let mut v = Vec::new();
    let mut start = 0;
    while m.nrows() > 0 {
        let k = h.min(m.nrows());
        let (a, b) = m.split_at_row_mut(k);
        v.push((start, a));
        start += k;
        m = b;
    }
    v
}

/// Mirrors the strict lower triangle of the square `out` into its upper triangle, for the
/// columns outside the diagonal blocks of width `w` (those were mirrored per panel).
fn mirror_lower_to_upper<T: GramScalar>(mut out: MatMut<'_, T>, w: usize, par: Par) -> Result<()> {
    let n = out.nrows();
    let mut c0 = w;
    while c0 < n {
        let cw = w.min(n - c0);
        let (left, right) = out.rb_mut().split_at_col_mut(c0);
        // destination: rows 0..c0 of columns c0..c0+cw; source: rows c0..c0+cw of columns 0..c0
        let src = left.rb().subrows(c0, cw);
        let dst = right.submatrix_mut(0, 0, c0, cw);
        let blocks = row_blocks(dst, 256);
        run_tasks(blocks, par, |(r0, mut blk)| {
            let rows = blk.nrows();
            blk.copy_from(src.subcols(r0, rows).transpose());
            Ok(())
        })?;
        c0 += cw;
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Dense Gram
// ------------------------------------------------------------------------------------------

/// The Gram matrix `K_ij = K(⟨x_i, y_j⟩)` (`Y = X` if `y` is `None`) in `f64`.
///
/// `x` is `n×d` (rows = points on the unit sphere, finite; checked), `y` is `m×d`. The result
/// is `n×m` (`n×n` and exactly symmetric, with diagonal exactly `K(1)`, when `y` is `None`).
/// `par` sets the number of workers (on the current rayon pool); `cancel` is polled before
/// every tile. See the module docs for the method, accuracy and memory behaviour.
///
/// Errors: `InvalidArgument` (dimension mismatch, rows not of unit norm), `NonFinite`,
/// `TooLarge` (refused before allocating), `Interrupted`, and the kernel's own errors
/// (e.g. `Domain` for the NTK of the step function, `Unsupported`).
pub fn gram(
    net: &Network,
    x: MatRef<'_, f64>,
    y: Option<MatRef<'_, f64>>,
    kind: KernelKind,
    method: GramMethod,
    par: Par,
    cancel: Cancel,
) -> Result<Mat<f64>> {
    gram_as::<f64>(net, x, y, kind, method, par, cancel)
}

/// [`gram`] stored in `f32` (the kernel is computed in `f64` and rounded once).
pub fn gram_f32(
    net: &Network,
    x: MatRef<'_, f64>,
    y: Option<MatRef<'_, f64>>,
    kind: KernelKind,
    method: GramMethod,
    par: Par,
    cancel: Cancel,
) -> Result<Mat<f32>> {
    gram_as::<f32>(net, x, y, kind, method, par, cancel)
}

/// [`gram`] with the output element type `T` (`f64` or `f32`).
pub fn gram_as<T: GramScalar>(
    net: &Network,
    x: MatRef<'_, f64>,
    y: Option<MatRef<'_, f64>>,
    kind: KernelKind,
    method: GramMethod,
    par: Par,
    cancel: Cancel,
) -> Result<Mat<T>> {
    let (n, m) = check_shapes(x, y)?;
    check_gram_fits(n, m, x.ncols(), T::BYTES)?;
    let entries = if y.is_none() {
        n.saturating_mul(n + 1) / 2
    } else {
        n.saturating_mul(m)
    };
    let kernel = GramKernel::new(net, kind, method, entries, par, cancel)?;
    gram_with(&kernel, x, y, par, cancel)
}

fn check_shapes(x: MatRef<'_, f64>, y: Option<MatRef<'_, f64>>) -> Result<(usize, usize)> {
    let n = x.nrows();
    match y {
        None => Ok((n, n)),
        Some(y) => {
            if y.ncols() != x.ncols() {
                return Err(NtkError::InvalidArgument(format!(
                    "X and Y must have the same dimension, got {}×{} and {}×{}",
                    n,
                    x.ncols(),
                    y.nrows(),
                    y.ncols()
                )));
            }
            Ok((n, y.nrows()))
        }
    }
}

/// [`gram_as`] with a prepared [`GramKernel`] (e.g. to reuse its surrogate): checks the
/// memory, allocates the `n×m` result and calls [`gram_into`].
pub fn gram_with<T: GramScalar>(
    kernel: &GramKernel,
    x: MatRef<'_, f64>,
    y: Option<MatRef<'_, f64>>,
    par: Par,
    cancel: Cancel,
) -> Result<Mat<T>> {
    let (n, m) = check_shapes(x, y)?;
    check_gram_fits(n, m, x.ncols(), T::BYTES)?;
    // validate before allocating the result
    let xs = points(x, "X")?;
    let ys = y.map(|y| points(y, "Y")).transpose()?;
    check(cancel)?;
    let mut out = alloc::<T>(n, m)?;
    fill(kernel, x, y, &xs, ys.as_ref(), out.as_mut(), par, cancel)?;
    Ok(out)
}

/// Writes the Gram matrix `K(⟨x_i, y_j⟩)` (`Y = X` if `y` is `None`) into caller-provided
/// storage `out` (`n×m`, any strides: column-major, row-major — e.g. a C-ordered NumPy
/// array viewed through faer — or general), without allocating anything of size `n×m`.
///
/// Every entry of `out` is overwritten; nothing is read from it, so it may come from a
/// lazily zeroed allocation (`calloc`, `numpy.zeros`), which then gets its pages touched in
/// parallel by the workers. For row-major storage the transposed problem `K(Y, X)` is
/// computed into `outᵀ`, so the tiles stay contiguous. Errors as [`gram`], plus
/// `InvalidArgument` if `out` has the wrong shape; on error the content of `out` is
/// unspecified.
pub fn gram_into<T: GramScalar>(
    kernel: &GramKernel,
    x: MatRef<'_, f64>,
    y: Option<MatRef<'_, f64>>,
    out: MatMut<'_, T>,
    par: Par,
    cancel: Cancel,
) -> Result<()> {
    let (n, m) = check_shapes(x, y)?;
    if out.shape() != (n, m) {
        return Err(NtkError::InvalidArgument(format!(
            "the output of a {n}×{m} Gram matrix has shape {}×{}",
            out.nrows(),
            out.ncols()
        )));
    }
    let xs = points(x, "X")?;
    let ys = y.map(|y| points(y, "Y")).transpose()?;
    check(cancel)?;
    if out.row_stride() != 1 && out.col_stride() == 1 && n > 1 {
        // row-major: K(X, Y)ᵀ = K(Y, X), computed into the column-major view outᵀ
        return match (y, ys.as_ref()) {
            (Some(y), Some(ys)) => fill(
                kernel,
                y,
                Some(x),
                ys,
                Some(&xs),
                out.transpose_mut(),
                par,
                cancel,
            ),
            _ => fill(kernel, x, None, &xs, None, out.transpose_mut(), par, cancel),
        };
    }
    fill(kernel, x, y, &xs, ys.as_ref(), out, par, cancel)
}

/// The tiled computation behind [`gram_with`] and [`gram_into`] (shapes checked).
#[allow(clippy::too_many_arguments)]
fn fill<T: GramScalar>(
    kernel: &GramKernel,
    x: MatRef<'_, f64>,
    y: Option<MatRef<'_, f64>>,
    xs: &Points,
    ys: Option<&Points>,
    mut out: MatMut<'_, T>,
    par: Par,
    cancel: Cancel,
) -> Result<()> {
    let n = x.nrows();
    let symmetric = y.is_none();
    let yr = y.unwrap_or(x);
    let ysr = ys.unwrap_or(xs);
    let panels = col_panels(out.rb_mut(), PANEL);
    run_tasks(panels, par, |(c0, mut panel)| {
        let w = panel.ncols();
        let r_start = if symmetric { c0 } else { 0 };
        let rhs = yr.subrows(c0, w).transpose();
        let mut scratch = Mat::<f64>::new();
        let mut r0 = r_start;
        while r0 < n {
            check(cancel)?;
            let h = ROW_CHUNK.min(n - r0);
            let dst = panel.rb_mut().subrows_mut(r0, h);
            T::with_f64_tile(dst, &mut scratch, |mut tile| {
                matmul(
                    tile.rb_mut(),
                    Accum::Replace,
                    x.subrows(r0, h),
                    rhs,
                    1.0,
                    Par::Seq,
                );
                kernel.apply_tile(tile, xs, r0, ysr, c0, symmetric && r0 == c0)
            })?;
            if symmetric && r0 == c0 {
                // mirror the diagonal block (the GEMM need not be bitwise symmetric)
                let mut blk = panel.rb_mut().subrows_mut(r0, w);
                for j in 0..w {
                    for i in 0..j {
                        blk[(i, j)] = blk[(j, i)];
                    }
                }
            }
            r0 += h;
        }
        Ok(())
    })?;
    if symmetric {
        check(cancel)?;
        mirror_lower_to_upper(out, PANEL, par)?;
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Matrix-free operator
// ------------------------------------------------------------------------------------------

/// A cancellation hook owned by a [`GramOperator`] (polled before every tile of `apply`).
pub type SharedCancel = Arc<dyn Fn() -> bool + Send + Sync>;

/// The Gram matrix `K = [K(⟨x_i, x_j⟩)]` of `n` points as a matrix-free
/// [`SymmetricOperator`]: `apply` recomputes `K` tile by tile and never stores it.
///
/// `Y = K·V` for a block `V ∈ ℝ^{n×b}`: the tiles `K_IJ` (`T×T`, `J ≤ I`) are computed by
/// a GEMM `X_I X_Jᵀ` and the elementwise kernel (diagonal exactly `K(1)`, near-duplicates
/// through the half-chord as in [`gram`]), then used twice, `Y_I += K_IJ V_J` and
/// `Y_J += K_IJᵀ V_I` (`I ≠ J`), so the kernel is evaluated once per pair and the operator
/// is exactly symmetric. The tile rows are split into at most 16 groups of equal work,
/// handed out dynamically to `par.degree()` workers; each group has its own accumulator and
/// the accumulators are summed in group order, so the result is the same for any number of
/// threads. Memory: `O(n·d)` for the points, at most 256 MiB of accumulators
/// (`groups·n·b` doubles — 51 MB for `n = 50 000`, `b = 8`), and `T²` doubles per worker.
///
/// Cost per `apply`: `n²d` flops of GEMM, `n²/2` kernel evaluations (≈ 5 ns each with the
/// surrogate) and `2n²b` flops for the products, whatever `b` is — so wide blocks are
/// cheap per vector.
pub struct GramOperator {
    x: Mat<f64>,
    points: Points,
    kernel: GramKernel,
    tile: usize,
    cancel: Option<SharedCancel>,
}

impl std::fmt::Debug for GramOperator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GramOperator")
            .field("n", &self.x.nrows())
            .field("d", &self.x.ncols())
            .field("kernel", &self.kernel)
            .field("tile", &self.tile)
            .finish()
    }
}

impl GramOperator {
    /// The operator of the `kind` Gram of the rows of `x` (checked like [`gram`]) with the
    /// elementwise kernel of `method` (for [`GramMethod::Exact`] the certified surrogate is
    /// used whenever it can be, since the operator evaluates `n²/2` entries per product).
    pub fn new(
        net: &Network,
        x: MatRef<'_, f64>,
        kind: KernelKind,
        method: GramMethod,
        par: Par,
        cancel: Cancel,
    ) -> Result<Self> {
        let points = points(x, "X")?;
        let kernel = GramKernel::new(net, kind, method, usize::MAX, par, cancel)?;
        Self::build(kernel, x, points)
    }

    /// The operator with a prepared kernel.
    pub fn from_kernel(kernel: GramKernel, x: MatRef<'_, f64>) -> Result<Self> {
        let points = points(x, "X")?;
        Self::build(kernel, x, points)
    }

    fn build(kernel: GramKernel, x: MatRef<'_, f64>, points: Points) -> Result<Self> {
        let mut xm = Mat::<f64>::new();
        xm.try_reserve(x.nrows(), x.ncols())
            .map_err(|_| too_large_points(x.nrows(), x.ncols()))?;
        xm.resize_with(x.nrows(), x.ncols(), |i, j| x[(i, j)]);
        Ok(GramOperator {
            x: xm,
            points,
            kernel,
            tile: OPERATOR_TILE,
            cancel: None,
        })
    }

    /// Sets the tile size `T` (clamped to `[16, 4096]`; default [`OPERATOR_TILE`]).
    pub fn with_tile(mut self, tile: usize) -> Self {
        self.tile = tile.clamp(16, 4096);
        self
    }

    /// Sets a cancellation hook, polled before every tile of [`apply`](SymmetricOperator::apply)
    /// (which then fails with [`NtkError::Interrupted`]).
    pub fn with_cancel(mut self, cancel: SharedCancel) -> Self {
        self.cancel = Some(cancel);
        self
    }

    /// The elementwise kernel.
    pub fn kernel(&self) -> &GramKernel {
        &self.kernel
    }

    /// The points (`n×d`).
    pub fn points(&self) -> MatRef<'_, f64> {
        self.x.as_ref()
    }
}

impl SymmetricOperator for GramOperator {
    fn dim(&self) -> usize {
        self.x.nrows()
    }

    fn apply(&self, v: MatRef<'_, f64>, mut y: MatMut<'_, f64>, par: Par) -> Result<()> {
        let n = self.x.nrows();
        if v.nrows() != n || y.nrows() != n || v.ncols() != y.ncols() {
            return Err(NtkError::InvalidArgument(format!(
                "operator of dimension {n} applied to a {}×{} block with a {}×{} output",
                v.nrows(),
                v.ncols(),
                y.nrows(),
                y.ncols()
            )));
        }
        let b = v.ncols();
        let t = self.tile;
        let nb = n.div_ceil(t);
        let total = nb * (nb + 1) / 2;
        // Groups of consecutive tile rows with equal numbers of tiles; each group is computed
        // by one worker, in a fixed order, into its own accumulator (rows 0..end of the
        // group), and the accumulators are summed in group order: the result does not
        // depend on the number of threads or on timing, while the groups are still handed
        // out dynamically (load balance on a busy machine).
        let per_group_bytes = n.saturating_mul(b.max(1)).saturating_mul(8).max(1);
        let groups = MAX_GROUPS
            .min(nb)
            .min((GROUP_MEMORY / per_group_bytes).max(1))
            .max(1);
        let mut bounds = vec![0usize];
        let mut cum = 0usize;
        for bi in 0..nb {
            cum += bi + 1;
            let g = bounds.len();
            if g < groups && cum * groups >= g * total {
                bounds.push(bi + 1);
            }
        }
        if *bounds.last().unwrap_or(&0) != nb {
            bounds.push(nb);
        }
        let ngroups = bounds.len() - 1;
        let nw = workers(par).min(ngroups).max(1);
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let results: Mutex<Vec<(usize, Result<Mat<f64>>)>> = Mutex::new(Vec::new());
        let x = self.x.as_ref();
        let never = || false;
        let cancel: &(dyn Fn() -> bool + Sync) = match &self.cancel {
            Some(c) => c.as_ref(),
            None => &never,
        };
        let group = |g: usize| -> Result<Mat<f64>> {
            let rows = (bounds[g + 1] * t).min(n);
            let mut acc = Mat::<f64>::zeros(rows, b);
            let mut k = Mat::<f64>::zeros(t, t);
            for bi in bounds[g]..bounds[g + 1] {
                for bj in 0..=bi {
                    if failed.load(Ordering::Relaxed) {
                        return Ok(acc);
                    }
                    check(cancel)?;
                    let (i0, j0) = (bi * t, bj * t);
                    let (h, w) = (t.min(n - i0), t.min(n - j0));
                    let mut kt = k.as_mut().submatrix_mut(0, 0, h, w);
                    matmul(
                        kt.rb_mut(),
                        Accum::Replace,
                        x.subrows(i0, h),
                        x.subrows(j0, w).transpose(),
                        1.0,
                        Par::Seq,
                    );
                    self.kernel.apply_tile(
                        kt.rb_mut(),
                        &self.points,
                        i0,
                        &self.points,
                        j0,
                        bi == bj,
                    )?;
                    if bi == bj {
                        // use the lower triangle only (exact symmetry)
                        for j in 0..w {
                            for i in 0..j {
                                kt[(i, j)] = kt[(j, i)];
                            }
                        }
                    }
                    matmul(
                        acc.as_mut().subrows_mut(i0, h),
                        Accum::Add,
                        kt.rb(),
                        v.subrows(j0, w),
                        1.0,
                        Par::Seq,
                    );
                    if bi != bj {
                        matmul(
                            acc.as_mut().subrows_mut(j0, w),
                            Accum::Add,
                            kt.rb().transpose(),
                            v.subrows(i0, h),
                            1.0,
                            Par::Seq,
                        );
                    }
                }
            }
            Ok(acc)
        };
        let work = || loop {
            if failed.load(Ordering::Relaxed) {
                break;
            }
            let g = next.fetch_add(1, Ordering::Relaxed);
            if g >= ngroups {
                break;
            }
            let r = group(g);
            if r.is_err() {
                failed.store(true, Ordering::Relaxed);
            }
            results
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((g, r));
        };
        if nw == 1 {
            work();
        } else {
            rayon::scope(|s| {
                for _ in 0..nw {
                    s.spawn(|_| work());
                }
            });
        }
        let mut results = results.into_inner().unwrap_or_else(|p| p.into_inner());
        results.sort_by_key(|(g, _)| *g);
        if let Some(e) = results.iter().find_map(|(_, r)| r.as_ref().err()) {
            return Err(e.clone());
        }
        y.fill(0.0);
        for (_, acc) in results {
            let acc = acc?;
            let rows = acc.nrows();
            for j in 0..b {
                for i in 0..rows {
                    y[(i, j)] += acc[(i, j)];
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::closed_form::ClosedForm;
    use std::f64::consts::PI;
    use std::sync::atomic::AtomicUsize;

    /// splitmix64 + Box–Muller.
    struct Rng(u64);
    impl Rng {
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn uniform(&mut self) -> f64 {
            ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        }
        fn normal(&mut self) -> f64 {
            (-2.0 * self.uniform().ln()).sqrt() * (2.0 * PI * self.uniform()).cos()
        }
        fn unit(&mut self, d: usize) -> Vec<f64> {
            let v: Vec<f64> = (0..d).map(|_| self.normal()).collect();
            let n = v.iter().map(|a| a * a).sum::<f64>().sqrt();
            v.into_iter().map(|a| a / n).collect()
        }
        /// `n` independent uniform points of the sphere `S^{d−1}` as the rows of a matrix.
        fn unit_rows(&mut self, n: usize, d: usize) -> Mat<f64> {
            let mut x = Mat::<f64>::zeros(n, d);
            for i in 0..n {
                for (k, v) in self.unit(d).into_iter().enumerate() {
                    x[(i, k)] = v;
                }
            }
            x
        }
    }

    fn mat(rows: &[Vec<f64>]) -> Mat<f64> {
        Mat::from_fn(rows.len(), rows[0].len(), |i, j| rows[i][j])
    }

    /// Random unit rows plus duplicates, antipodes and near-duplicates/antipodes at angle
    /// `eps` of some of them.
    fn points_with_specials(n: usize, d: usize, eps: f64, seed: u64) -> Vec<Vec<f64>> {
        let mut rng = Rng(seed);
        let mut rows: Vec<Vec<f64>> = (0..n).map(|_| rng.unit(d)).collect();
        let x0 = rows[0].clone();
        let x1 = rows[1].clone();
        rows.push(x0.clone()); // duplicate
        rows.push(x1.iter().map(|v| -v).collect()); // antipode
                                                    // near-duplicate at angle eps: cos(eps) x0 + sin(eps) u, u ⟂ x0
        let mut u = rng.unit(d);
        let dot: f64 = u.iter().zip(&x0).map(|(a, b)| a * b).sum();
        for (a, b) in u.iter_mut().zip(&x0) {
            *a -= dot * b;
        }
        let nu = u.iter().map(|a| a * a).sum::<f64>().sqrt();
        let near: Vec<f64> = x0
            .iter()
            .zip(&u)
            .map(|(a, b)| eps.cos() * a + eps.sin() * b / nu)
            .collect();
        rows.push(near.clone());
        rows.push(near.iter().map(|v| -v).collect()); // near-antipode of x0
        rows.push(x0.clone()); // another duplicate
        rows
    }

    /// The angle between two rows, accurately: `2 atan2(‖x − y‖, ‖x + y‖)`.
    fn angle(x: &[f64], y: &[f64]) -> f64 {
        let m: f64 = x
            .iter()
            .zip(y)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f64>()
            .sqrt();
        let p: f64 = x
            .iter()
            .zip(y)
            .map(|(a, b)| (a + b) * (a + b))
            .sum::<f64>()
            .sqrt();
        2.0 * m.atan2(p)
    }

    /// Independent reference: ReLU, He init (σ_w² = 2, unit variance), the arc-cosine
    /// closed form carried in the angle (accurate near θ = 0 and π).
    /// ψ(c) = (√(1−c²) + (π − arccos c)c)/π, ψ̇(c) = (π − arccos c)/π. Returns (NTK, NNGP).
    fn relu_reference(theta: f64, depth: usize) -> (f64, f64) {
        let mut th = theta;
        let mut sigma = th.cos();
        let mut ntk = sigma;
        for _ in 0..depth {
            let (s, c) = th.sin_cos();
            let next = (s + (PI - th) * c) / PI;
            let dot = (PI - th) / PI;
            ntk = next + ntk * dot;
            // 1 − next = (2π sin²(θ/2) − (sin θ − θ cos θ))/π without cancellation
            let h = (0.5 * th).sin();
            let one_minus = (2.0 * PI * h * h - (s - th * c)) / PI;
            sigma = next;
            th = 2.0 * (0.5 * one_minus.max(0.0)).sqrt().min(1.0).asin();
        }
        (ntk, sigma)
    }

    /// Independent reference for erf(a·x), unit variance (q_l = 1), weight variance `w`:
    /// `E[φφ] = (2/π) asin(2a²c/(1+2a²))`, `E[φ'φ'] = (4a²/π)/√((1+2a²)² − 4a⁴c²)`.
    fn erf_reference(rho: f64, depth: usize, a: f64, w: f64) -> (f64, f64) {
        let a2 = a * a;
        let mut sigma = rho;
        let mut ntk = rho;
        for _ in 0..depth {
            let c = sigma;
            let next = w * (2.0 / PI) * (2.0 * a2 * c / (1.0 + 2.0 * a2)).asin();
            let dot =
                w * (4.0 * a2 / PI) / ((1.0 + 2.0 * a2).powi(2) - 4.0 * a2 * a2 * c * c).sqrt();
            ntk = next + ntk * dot;
            sigma = next;
        }
        (ntk, sigma)
    }

    fn relu(depth: usize) -> Network {
        Network::new(Arc::new(ClosedForm::Relu), depth).unwrap()
    }

    fn max_abs_diff(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> f64 {
        let mut m = 0.0f64;
        for j in 0..a.ncols() {
            for i in 0..a.nrows() {
                m = m.max((a[(i, j)] - b[(i, j)]).abs());
            }
        }
        m
    }

    fn assert_exactly_symmetric(k: MatRef<'_, f64>) {
        for j in 0..k.ncols() {
            for i in 0..k.nrows() {
                assert_eq!(k[(i, j)], k[(j, i)], "asymmetric at ({i}, {j})");
            }
        }
    }

    fn check_relu(rows: &[Vec<f64>], depth: usize, method: GramMethod, tol: f64) {
        let x = mat(rows);
        let n = rows.len();
        let net = relu(depth);
        for kind in [KernelKind::Ntk, KernelKind::Nngp] {
            let k = gram(
                &net,
                x.as_ref(),
                None,
                kind,
                method,
                Par::rayon(2),
                &never_cancel,
            )
            .unwrap();
            let one = if kind == KernelKind::Ntk {
                (depth + 1) as f64
            } else {
                1.0
            };
            assert_exactly_symmetric(k.as_ref());
            let mut err = 0.0f64;
            for i in 0..n {
                assert_eq!(k[(i, i)], one, "diagonal must be exactly K(1)");
                for j in 0..n {
                    let (t, s) = relu_reference(angle(&rows[i], &rows[j]), depth);
                    let r = if kind == KernelKind::Ntk { t } else { s };
                    err = err.max((k[(i, j)] - r).abs());
                }
            }
            // duplicates of row 0 (rows n-5 and n-1) give exactly K(1)
            for &(i, j) in &[(0, n - 5), (0, n - 1), (n - 5, n - 1)] {
                assert_eq!(k[(i, j)], one, "duplicate rows ({i}, {j})");
            }
            eprintln!(
                "ReLU depth {depth} {kind:?} {method:?}: max |K - ref| / K(1) = {:.2e}",
                err / one
            );
            assert!(
                err <= tol * one,
                "ReLU depth {depth} {kind:?} {method:?}: max error {err:e}"
            );
        }
    }

    #[test]
    fn gram_relu_exact_recursion_vs_closed_form() {
        // small Gram: per-entry recursion (surrogate only for the near-duplicates)
        for (depth, eps) in [(1, 1e-3), (3, 1e-7), (2, 0.02)] {
            let rows = points_with_specials(40, 6, eps, 1 + depth as u64);
            check_relu(&rows, depth, GramMethod::Exact, 1e-12);
        }
    }

    #[test]
    fn gram_relu_surrogate_vs_closed_form() {
        // the surrogate is evaluated at the half-chord: near-duplicates at angle 1e-7 are fine
        for depth in [1, 3, 10] {
            let rows = points_with_specials(40, 6, 1e-7, 7 + depth as u64);
            check_relu(&rows, depth, GramMethod::Interpolated, 1e-12);
        }
        // large enough for Exact to switch to the surrogate by itself
        let rows = points_with_specials(400, 3, 1e-7, 99);
        let net = relu(3);
        let kernel = GramKernel::new(
            &net,
            KernelKind::Ntk,
            GramMethod::Exact,
            rows.len() * (rows.len() + 1) / 2,
            Par::Seq,
            &never_cancel,
        )
        .unwrap();
        assert!(kernel.uses_surrogate());
        assert!(kernel.error_bound().unwrap() <= 1e-13 * 4.0);
        check_relu(&rows, 3, GramMethod::Exact, 1e-12);
    }

    #[test]
    fn gram_erf_vs_closed_form() {
        let a = 1.5;
        let depth = 3;
        let net = Network::new(Arc::new(ClosedForm::Erf { scale: a }), depth).unwrap();
        let w = net.weight_var();
        let mut rng = Rng(5);
        let rows: Vec<Vec<f64>> = (0..30).map(|_| rng.unit(4)).collect();
        let x = mat(&rows);
        for method in [GramMethod::Exact, GramMethod::Interpolated] {
            let k = gram(
                &net,
                x.as_ref(),
                None,
                KernelKind::Ntk,
                method,
                Par::Seq,
                &never_cancel,
            )
            .unwrap();
            let one = net.ntk_at_one().unwrap();
            let mut err = 0.0f64;
            for i in 0..rows.len() {
                for j in 0..rows.len() {
                    let rho: f64 = rows[i].iter().zip(&rows[j]).map(|(p, q)| p * q).sum();
                    let rho = if i == j { 1.0 } else { rho };
                    err = err.max((k[(i, j)] - erf_reference(rho, depth, a, w).0).abs());
                }
            }
            eprintln!(
                "erf depth 3 {method:?}: max |K - ref| / K(1) = {:.2e}",
                err / one
            );
            assert!(err <= 1e-12 * one, "erf {method:?}: {err:e}");
        }
    }

    #[test]
    fn gram_rectangular_and_f32() {
        let mut rng = Rng(11);
        let xr: Vec<Vec<f64>> = (0..7).map(|_| rng.unit(5)).collect();
        let mut yr: Vec<Vec<f64>> = (0..300).map(|_| rng.unit(5)).collect();
        yr[3] = xr[2].clone();
        yr[4] = xr[5].iter().map(|v| -v).collect();
        let (x, y) = (mat(&xr), mat(&yr));
        let depth = 2;
        let net = relu(depth);
        for method in [GramMethod::Exact, GramMethod::Interpolated] {
            let k = gram(
                &net,
                x.as_ref(),
                Some(y.as_ref()),
                KernelKind::Ntk,
                method,
                Par::rayon(2),
                &never_cancel,
            )
            .unwrap();
            assert_eq!(k.shape(), (7, 300));
            let mut err = 0.0f64;
            for i in 0..7 {
                for j in 0..300 {
                    let r = relu_reference(angle(&xr[i], &yr[j]), depth).0;
                    err = err.max((k[(i, j)] - r).abs());
                }
            }
            assert!(err <= 1e-12 * 3.0, "{method:?}: {err:e}");
            assert_eq!(k[(2, 3)], 3.0);
            let f = gram_f32(
                &net,
                x.as_ref(),
                Some(y.as_ref()),
                KernelKind::Ntk,
                method,
                Par::Seq,
                &never_cancel,
            )
            .unwrap();
            for i in 0..7 {
                for j in 0..300 {
                    assert_eq!(f[(i, j)], k[(i, j)] as f32);
                }
            }
        }
        // Y = X given explicitly agrees with the symmetric Gram
        let s = gram(
            &net,
            x.as_ref(),
            None,
            KernelKind::Nngp,
            GramMethod::Exact,
            Par::Seq,
            &never_cancel,
        )
        .unwrap();
        let r = gram(
            &net,
            x.as_ref(),
            Some(x.as_ref()),
            KernelKind::Nngp,
            GramMethod::Exact,
            Par::Seq,
            &never_cancel,
        )
        .unwrap();
        assert!(max_abs_diff(s.as_ref(), r.as_ref()) <= 1e-15);
        for i in 0..7 {
            assert_eq!(r[(i, i)], 1.0);
        }
        // f32, symmetric
        let f = gram_f32(
            &net,
            x.as_ref(),
            None,
            KernelKind::Nngp,
            GramMethod::Exact,
            Par::Seq,
            &never_cancel,
        )
        .unwrap();
        for i in 0..7 {
            for j in 0..7 {
                assert_eq!(f[(i, j)], s[(i, j)] as f32);
            }
        }
    }

    #[test]
    fn gram_into_any_layout() {
        let mut rng = Rng(77);
        let xr: Vec<Vec<f64>> = (0..150).map(|_| rng.unit(4)).collect();
        let yr: Vec<Vec<f64>> = (0..9).map(|_| rng.unit(4)).collect();
        let (x, y) = (mat(&xr), mat(&yr));
        let net = relu(3);
        let kernel =
            GramKernel::interpolated(&net, KernelKind::Ntk, Par::Seq, &never_cancel).unwrap();
        for yy in [None, Some(y.as_ref())] {
            let m = yy.map_or(150, |y| y.nrows());
            let want = gram_with::<f64>(&kernel, x.as_ref(), yy, Par::Seq, &never_cancel).unwrap();
            // row-major storage (a C-ordered NumPy array)
            let mut buf = vec![f64::NAN; 150 * m];
            let out = MatMut::from_row_major_slice_mut(&mut buf, 150, m);
            gram_into(&kernel, x.as_ref(), yy, out, Par::rayon(2), &never_cancel).unwrap();
            for i in 0..150 {
                for j in 0..m {
                    let w = want[(i, j)];
                    // the transposed problem may differ by GEMM round-off only
                    assert!((buf[i * m + j] - w).abs() <= 1e-14 * 4.0, "({i}, {j})");
                }
            }
            // general strides (reversed rows), f32
            let want32 =
                gram_with::<f32>(&kernel, x.as_ref(), yy, Par::Seq, &never_cancel).unwrap();
            let mut o = Mat::<f32>::from_fn(150, m, |_, _| f32::NAN);
            gram_into(
                &kernel,
                x.as_ref(),
                yy,
                o.as_mut().reverse_rows_mut(),
                Par::Seq,
                &never_cancel,
            )
            .unwrap();
            for i in 0..150 {
                for j in 0..m {
                    assert_eq!(o[(149 - i, j)], want32[(i, j)], "({i}, {j})");
                }
            }
        }
        let mut small = Mat::<f64>::zeros(3, 3);
        assert!(gram_into(
            &kernel,
            x.as_ref(),
            None,
            small.as_mut(),
            Par::Seq,
            &never_cancel
        )
        .is_err());
    }

    #[test]
    fn gram_series_within_bound() {
        let rows = points_with_specials(30, 4, 1e-5, 3);
        let x = mat(&rows);
        for depth in [1, 3] {
            let net = relu(depth);
            for kind in [KernelKind::Ntk, KernelKind::Nngp] {
                let exact = gram(
                    &net,
                    x.as_ref(),
                    None,
                    kind,
                    GramMethod::Exact,
                    Par::Seq,
                    &never_cancel,
                )
                .unwrap();
                let kernel = GramKernel::series(&net, kind, 60, &never_cancel).unwrap();
                let bound = kernel.error_bound().unwrap();
                let k = gram_with::<f64>(&kernel, x.as_ref(), None, Par::rayon(2), &never_cancel)
                    .unwrap();
                let err = max_abs_diff(k.as_ref(), exact.as_ref());
                assert!(
                    err <= bound * (1.0 + 1e-12),
                    "{kind:?} L={depth}: {err:e} > {bound:e}"
                );
                assert!(err > 0.0);
                assert_exactly_symmetric(k.as_ref());
                // diagonal = truncated series at 1
                let s = net
                    .series(
                        60,
                        SeriesOptions {
                            ntk: kind == KernelKind::Ntk,
                            keep_layers: false,
                        },
                        &never_cancel,
                    )
                    .unwrap();
                let c = if kind == KernelKind::Ntk {
                    s.ntk.unwrap()
                } else {
                    s.nngp
                };
                assert!((k[(0, 0)] - c.iter().sum::<f64>()).abs() <= 1e-14 * k[(0, 0)]);
                // the method enum goes the same way
                let k2 = gram(
                    &net,
                    x.as_ref(),
                    None,
                    kind,
                    GramMethod::Series { degree: 60 },
                    Par::Seq,
                    &never_cancel,
                )
                .unwrap();
                assert!(max_abs_diff(k.as_ref(), k2.as_ref()) == 0.0);
            }
        }
    }

    #[test]
    fn gram_tabulated_and_step() {
        // a coefficient-only activation: recursion from its Hermite series
        let mu = ClosedForm::Erf { scale: 1.0 }
            .coefficients(200, 1.0)
            .unwrap();
        let tab = crate::dual::Tabulated::unit("erf-tab", mu.mu, Some(mu.second_moment), None)
            .unwrap()
            .into_dual();
        let net_t = Network::new(Arc::new(tab), 2).unwrap();
        let net_e = Network::new(Arc::new(ClosedForm::Erf { scale: 1.0 }), 2).unwrap();
        let rows = points_with_specials(25, 3, 1e-4, 17);
        let x = mat(&rows);
        for method in [GramMethod::Exact, GramMethod::Interpolated] {
            let a = gram(
                &net_t,
                x.as_ref(),
                None,
                KernelKind::Ntk,
                method,
                Par::Seq,
                &never_cancel,
            )
            .unwrap();
            let b = gram(
                &net_e,
                x.as_ref(),
                None,
                KernelKind::Ntk,
                GramMethod::Exact,
                Par::Seq,
                &never_cancel,
            )
            .unwrap();
            let one = net_e.ntk_at_one().unwrap();
            assert!(max_abs_diff(a.as_ref(), b.as_ref()) <= 1e-9 * one);
        }
        // step: NNGP only
        let step = Network::new(Arc::new(ClosedForm::Step), 2).unwrap();
        assert!(gram(
            &step,
            x.as_ref(),
            None,
            KernelKind::Ntk,
            GramMethod::Exact,
            Par::Seq,
            &never_cancel
        )
        .is_err());
        let k = gram(
            &step,
            x.as_ref(),
            None,
            KernelKind::Nngp,
            GramMethod::Interpolated,
            Par::Seq,
            &never_cancel,
        )
        .unwrap();
        assert_eq!(k[(0, 0)], step.nngp_at_one().unwrap());
    }

    #[test]
    fn gram_bad_input() {
        let net = relu(2);
        let mut x = Mat::<f64>::zeros(4, 3);
        for i in 0..4 {
            x[(i, i % 3)] = 1.0;
        }
        let g = |x: MatRef<'_, f64>, y: Option<MatRef<'_, f64>>| {
            gram(
                &net,
                x,
                y,
                KernelKind::Ntk,
                GramMethod::Exact,
                Par::Seq,
                &never_cancel,
            )
        };
        assert!(g(x.as_ref(), None).is_ok());
        let mut bad = x.clone();
        bad[(2, 1)] = f64::NAN;
        assert!(matches!(g(bad.as_ref(), None), Err(NtkError::NonFinite(_))));
        let mut bad = x.clone();
        bad[(1, 1)] = 0.5;
        assert!(matches!(
            g(bad.as_ref(), None),
            Err(NtkError::InvalidArgument(_))
        ));
        let y = Mat::<f64>::zeros(2, 4);
        assert!(matches!(
            g(x.as_ref(), Some(y.as_ref())),
            Err(NtkError::InvalidArgument(_))
        ));
        let empty = Mat::<f64>::zeros(0, 3);
        assert_eq!(g(empty.as_ref(), None).unwrap().shape(), (0, 0));
        let nodim = Mat::<f64>::zeros(2, 0);
        assert!(g(nodim.as_ref(), None).is_err());
    }

    #[test]
    fn gram_too_large_is_refused_before_allocating() {
        // 300 000 points: the Gram would need 720 GB (f64) / 360 GB (f32)
        let n = 300_000;
        let x = Mat::<f64>::from_fn(n, 1, |i, _| if i % 2 == 0 { 1.0 } else { -1.0 });
        let net = relu(1);
        let calls = AtomicUsize::new(0);
        let cancel = || {
            calls.fetch_add(1, Ordering::Relaxed);
            false
        };
        let e = gram(
            &net,
            x.as_ref(),
            None,
            KernelKind::Ntk,
            GramMethod::Exact,
            Par::Seq,
            &cancel,
        )
        .unwrap_err();
        match e {
            NtkError::TooLarge(m) => {
                assert!(
                    m.contains("matrix_free=True") && m.contains("float32"),
                    "{m}"
                )
            }
            e => panic!("{e:?}"),
        }
        let e = gram_f32(
            &net,
            x.as_ref(),
            None,
            KernelKind::Ntk,
            GramMethod::Exact,
            Par::Seq,
            &cancel,
        )
        .unwrap_err();
        assert!(matches!(e, NtkError::TooLarge(_)));
        assert_eq!(calls.load(Ordering::Relaxed), 0, "refused before any work");
        assert!(check_gram_fits(usize::MAX, usize::MAX, usize::MAX, 8).is_err());
        assert!(check_gram_fits(100, 100, 10, 8).is_ok());
    }

    #[test]
    fn gram_cancel_returns_interrupted() {
        let mut rng = Rng(23);
        let rows: Vec<Vec<f64>> = (0..700).map(|_| rng.unit(3)).collect();
        let x = mat(&rows);
        let net = relu(2);
        let yes = || true;
        for method in [GramMethod::Exact, GramMethod::Interpolated] {
            let e = gram(
                &net,
                x.as_ref(),
                None,
                KernelKind::Ntk,
                method,
                Par::rayon(2),
                &yes,
            );
            assert_eq!(e.unwrap_err(), NtkError::Interrupted);
        }
        // cancelled in the middle (after the surrogate was built)
        let kernel =
            GramKernel::interpolated(&net, KernelKind::Ntk, Par::Seq, &never_cancel).unwrap();
        let calls = AtomicUsize::new(0);
        let later = || calls.fetch_add(1, Ordering::Relaxed) >= 5;
        let e = gram_with::<f64>(&kernel, x.as_ref(), None, Par::rayon(2), &later);
        assert_eq!(e.unwrap_err(), NtkError::Interrupted);
        // operator
        let op = GramOperator::from_kernel(kernel, x.as_ref())
            .unwrap()
            .with_tile(64)
            .with_cancel(Arc::new(|| true));
        let v = Mat::<f64>::zeros(700, 2);
        let mut y = Mat::<f64>::zeros(700, 2);
        let e = op.apply(v.as_ref(), y.as_mut(), Par::rayon(2));
        assert_eq!(e.unwrap_err(), NtkError::Interrupted);
    }

    #[test]
    fn gram_operator_matches_dense() {
        let rows = points_with_specials(300, 4, 1e-6, 31);
        let n = rows.len();
        let x = mat(&rows);
        let mut rng = Rng(41);
        let v = Mat::<f64>::from_fn(n, 3, |_, _| rng.normal());
        for (depth, kind) in [(3, KernelKind::Ntk), (2, KernelKind::Nngp)] {
            let net = relu(depth);
            let dense = gram(
                &net,
                x.as_ref(),
                None,
                kind,
                GramMethod::Exact,
                Par::rayon(2),
                &never_cancel,
            )
            .unwrap();
            let want = &dense * &v;
            for (tile, par) in [(64, Par::rayon(2)), (100, Par::Seq), (1000, Par::rayon(2))] {
                let op = GramOperator::new(
                    &net,
                    x.as_ref(),
                    kind,
                    GramMethod::Exact,
                    Par::Seq,
                    &never_cancel,
                )
                .unwrap()
                .with_tile(tile);
                assert!(op.kernel().uses_surrogate());
                assert_eq!(op.dim(), n);
                let mut y = Mat::<f64>::from_fn(n, 3, |_, _| f64::NAN);
                op.apply(v.as_ref(), y.as_mut(), par).unwrap();
                let err = max_abs_diff(y.as_ref(), want.as_ref());
                let scale = max_abs_diff(want.as_ref(), Mat::<f64>::zeros(n, 3).as_ref());
                assert!(err <= 1e-12 * scale, "tile {tile}: {err:e} vs {scale:e}");
                // exact symmetry of the operator: uᵀ(Kv) = vᵀ(Ku)
                let u = Mat::<f64>::from_fn(n, 1, |i, _| (i as f64 * 0.37).sin());
                let mut ku = Mat::<f64>::zeros(n, 1);
                op.apply(u.as_ref(), ku.as_mut(), par).unwrap();
                let a: f64 = (0..n).map(|i| u[(i, 0)] * y[(i, 0)]).sum();
                let b: f64 = (0..n).map(|i| v[(i, 0)] * ku[(i, 0)]).sum();
                assert!((a - b).abs() <= 1e-12 * a.abs().max(1.0));
            }
            // deterministic given `par`
            let op = GramOperator::new(
                &net,
                x.as_ref(),
                kind,
                GramMethod::Exact,
                Par::Seq,
                &never_cancel,
            )
            .unwrap()
            .with_tile(32);
            let mut y1 = Mat::<f64>::zeros(n, 3);
            let mut y2 = Mat::<f64>::zeros(n, 3);
            let mut y3 = Mat::<f64>::zeros(n, 3);
            op.apply(v.as_ref(), y1.as_mut(), Par::rayon(2)).unwrap();
            op.apply(v.as_ref(), y2.as_mut(), Par::rayon(2)).unwrap();
            op.apply(v.as_ref(), y3.as_mut(), Par::Seq).unwrap();
            assert!(max_abs_diff(y1.as_ref(), y2.as_ref()) == 0.0);
            assert!(max_abs_diff(y1.as_ref(), y3.as_ref()) == 0.0);
            // Lanczos on the operator agrees with the dense eigensolver
            let opts = crate::lanczos::EigshOptions {
                par: Par::rayon(2),
                ..Default::default()
            };
            let r = crate::lanczos::eigsh(&op, 3, crate::lanczos::Which::Largest, &opts, &|| false)
                .unwrap();
            let mut all = crate::lanczos::dense_eigvalsh(dense.as_ref(), Par::Seq).unwrap();
            all.sort_by(|a, b| b.total_cmp(a));
            for (got, want) in r.values.iter().zip(&all[..3]) {
                assert!((got - want).abs() <= 1e-10 * want, "{got} vs {want}");
            }
            // wrong shapes
            let op = GramOperator::new(
                &net,
                x.as_ref(),
                kind,
                GramMethod::Exact,
                Par::Seq,
                &never_cancel,
            )
            .unwrap();
            let mut y = Mat::<f64>::zeros(n, 2);
            assert!(op.apply(v.as_ref(), y.as_mut(), Par::Seq).is_err());
        }
    }

    /// Matrix-free top-5 at the DESIGN §9 size (`n = 50 000`, `d = 64`, ReLU depth 3), with
    /// the peak resident memory; run with
    /// `cargo test --release -p ntk-core --lib gram_eigsh_timing -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn gram_eigsh_timing() {
        use std::time::Instant;
        let (n, d) = (50_000, 64);
        let mut rng = Rng(3);
        let x = rng.unit_rows(n, d);
        let net = relu(3);
        let t = Instant::now();
        let op = GramOperator::new(
            &net,
            x.as_ref(),
            KernelKind::Ntk,
            GramMethod::Exact,
            Par::rayon(0),
            &never_cancel,
        )
        .unwrap();
        let opts = crate::lanczos::EigshOptions {
            tol: 1e-10,
            ..Default::default()
        };
        let r = crate::lanczos::eigsh(&op, 5, crate::lanczos::Which::Largest, &opts, &|| false)
            .unwrap();
        let hwm = std::fs::read_to_string("/proc/self/status")
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with("VmHWM"))
            .unwrap_or("")
            .to_string();
        eprintln!(
            "matrix-free top-5 (n={n}, d={d}): {:.1} s, {} block applies, {} matvecs, values {:?}, {hwm}",
            t.elapsed().as_secs_f64(),
            r.iterations,
            r.matvecs,
            r.values
        );
    }

    /// Release timings for the report (not a test of speed; run with
    /// `cargo test --release -p ntk-core --lib gram_timing -- --ignored --nocapture`).
    #[test]
    #[ignore]
    fn gram_timing() {
        use std::time::Instant;
        let (n, d) = (8000, 784);
        let mut rng = Rng(1);
        let x = rng.unit_rows(n, d);
        let net = relu(3);
        let par = Par::rayon(0);
        let mut g = Mat::<f64>::zeros(n, n);
        for _ in 0..2 {
            let t = Instant::now();
            matmul(
                g.as_mut(),
                Accum::Replace,
                x.as_ref(),
                x.as_ref().transpose(),
                1.0,
                par,
            );
            eprintln!(
                "bare GEMM X·Xᵀ (n={n}, d={d}): {:.3} s",
                t.elapsed().as_secs_f64()
            );
        }
        drop(g);
        for _ in 0..2 {
            let t = Instant::now();
            let k = gram(
                &net,
                x.as_ref(),
                None,
                KernelKind::Ntk,
                GramMethod::Exact,
                par,
                &never_cancel,
            )
            .unwrap();
            eprintln!(
                "NTK Gram ReLU depth 3 (surrogate): {:.3} s",
                t.elapsed().as_secs_f64()
            );
            assert_eq!(k[(5, 5)], 4.0);
        }
        let t = Instant::now();
        let k = gram_f32(
            &net,
            x.as_ref(),
            None,
            KernelKind::Ntk,
            GramMethod::Exact,
            par,
            &never_cancel,
        )
        .unwrap();
        eprintln!("NTK Gram f32: {:.3} s", t.elapsed().as_secs_f64());
        drop(k);
        // matrix-free
        let (n, d, b) = (50_000, 64, 8);
        let x = rng.unit_rows(n, d);
        let op = GramOperator::new(
            &net,
            x.as_ref(),
            KernelKind::Ntk,
            GramMethod::Exact,
            par,
            &never_cancel,
        )
        .unwrap();
        let v = Mat::<f64>::from_fn(n, b, |i, j| ((i * 7 + j) as f64).sin());
        let mut y = Mat::<f64>::zeros(n, b);
        let t = Instant::now();
        op.apply(v.as_ref(), y.as_mut(), par).unwrap();
        eprintln!(
            "matrix-free apply n={n}, d={d}, block {b}: {:.3} s",
            t.elapsed().as_secs_f64()
        );
    }
}
