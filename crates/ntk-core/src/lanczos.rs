//! Symmetric eigensolvers (DESIGN.md §1.5): a dense solver and a block Lanczos method.
//!
//! * [`dense_eigh`] / [`dense_eigvalsh`]: all eigenpairs `A = U diag(λ) Uᵀ` of a dense
//!   symmetric matrix through faer's Householder tridiagonalisation and divide and conquer
//!   (`O(n³)`, backward stable: every computed `λ_i` is within `O(ε‖A‖₂)` of an exact one).
//! * [`eigsh`]: the `k` algebraically largest or smallest eigenpairs of a symmetric
//!   [`SymmetricOperator`] by **block Lanczos with full re-orthogonalisation and thick
//!   (Krylov–Schur) restart**, touching the operator only through block products `A·X`.
//! * [`eigsh_auto`]: picks one of the two by size.
//!
//! # The block Lanczos method of [`eigsh`]
//!
//! With block size `b` the solver maintains a *Krylov decomposition*
//!
//! ```text
//!     A·Q = Q·H + F·G,        Qᵀ Q = I_j,   Fᵀ F = I_b,   Qᵀ F = 0,
//! ```
//!
//! where `Q ∈ ℝ^{n×j}` spans the search space, `H = Qᵀ A Q ∈ ℝ^{j×j}` is symmetric and
//! `G = Fᵀ A Q ∈ ℝ^{b×j}` couples the search space to the next block `F`.
//!
//! * **Expansion.** `W = A·F` (one operator call on `b` vectors), then `W` is orthogonalised
//!   against `[Q, F]` by classical Gram–Schmidt *twice* ("twice is enough"; fused into
//!   three row-parallel sweeps over the basis), giving `D = Fᵀ A F`; the block is finished
//!   by an in-block Gram–Schmidt with the DGKS criterion (a further pass whenever a norm
//!   drops below `‖·‖/√2`), `W = F'·R`.
//!   Rank-deficient columns (an invariant subspace was found) are replaced by random
//!   directions orthogonal to everything, with a zero in `R`. Then
//!   `Q ← [Q, F]`, `H ← [[H, Gᵀ], [G, sym(D)]]`, `G ← [0, R]`, `F ← F'`.
//! * **Rayleigh–Ritz** after every expansion: `H = Y Θ Yᵀ`; the Ritz pairs are
//!   `(θ_i, x_i = Q y_i)` and, because `F` is orthonormal, their residuals are
//!   `‖A x_i − θ_i x_i‖₂ = ‖F G y_i‖₂ = ‖G y_i‖₂` (no extra operator application).
//! * **Convergence.** A wanted pair is accepted when
//!   `‖G y_i‖₂ ≤ max(tol·|θ_i|, 8√n·ε·‖A‖)`, with `‖A‖` estimated by the largest `|θ|`
//!   seen. For symmetric `A` some eigenvalue lies within the residual norm of `θ_i`, so
//!   `|λ − θ_i| ≤ tol·|θ_i|` (and in fact `≲ ‖r‖²/gap`), the same relative criterion as
//!   `scipy.sparse.linalg.eigsh`. The floor `8√n·ε‖A‖` is the typical rounding error of
//!   the product `A·x` itself, below which no residual can be certified; it only matters
//!   for eigenvalues below `~1e-5‖A‖` (e.g. numerically zero eigenvalues of a
//!   rank-deficient Gram matrix converge instead of stalling), which are then accurate to
//!   that absolute level, like a dense solver's.
//! * **Thick restart** when the search space reaches `krylov_dim`: keep the `p` wanted-end
//!   Ritz vectors, `Q ← Q Y_p`, `H ← diag(θ_1..θ_p)`, `G ← G Y_p`, keep `F`
//!   (Wu–Simon / Stewart's Krylov–Schur restart, exact for symmetric `A`).
//!
//! **Smallest eigenvalues** are taken directly as the smallest Ritz values of the same
//! Krylov space (no shifted operator `σI − A`: Krylov spaces are shift invariant, so a shift
//! would change nothing but rounding). Convergence of any Krylov method at either end is
//! governed by the gap between wanted and unwanted eigenvalues relative to the spectral
//! spread; the bottom of a kernel matrix's spectrum is typically a tight cluster near 0, so
//! `Smallest` needs a larger search space (default `k + 20b` instead of `k + 10b`) and
//! many more restarts than `Largest`. A cluster of eigenvalues that agree to `~1e-14‖A‖`
//! cannot be separated by any Krylov method; [`eigsh_auto`] therefore sends `Smallest` to
//! the dense solver up to [`SMALLEST_DENSE_MAX_DIM`]. (Shift-invert, which would fix this
//! for dense matrices, is not implemented.)
//!
//! **Block size.** Without an explicit `block_size` the operator's
//! [`SymmetricOperator::preferred_block_size`] decides, else `min(k, 16)`. Wider blocks need
//! fewer operator calls but more operator-vector products in total (on a ReLU NTK Gram with
//! `n = 8000` and a clustered top spectrum, top-10 to `1e-10` takes 176 calls at `b = 1`,
//! 73 at `b = 5`, 59 at `b = 10`). A dense matrix ([`DenseSymmetric`]) streams half of
//! itself per call whatever `b ≤ 6`, so it prefers `b = min(k, 5)` with a deeper search
//! space; a matrix-free Gram recomputes its kernel per call and wants wide blocks.
//!
//! Everything is deterministic given `seed` (and the same `Par`).
use faer::diag::Diag;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::evd::{self_adjoint_evd, self_adjoint_evd_scratch, ComputeEigenvectors};
use faer::linalg::matmul::matmul;
use faer::prelude::*;
use faer::Accum;

use crate::error::{NtkError, Result};
pub use crate::operator::{DenseSymmetric, SymmetricOperator, DENSE_BLOCK_SIZE};

/// Which end of the spectrum [`eigsh`] computes (algebraic order, not magnitude).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// The `k` largest eigenvalues `λ_1 ≥ … ≥ λ_k`, returned in descending order.
    Largest,
    /// The `k` smallest eigenvalues `λ_n ≤ … ≤ λ_{n−k+1}`, returned in ascending order.
    Smallest,
}

/// Options of [`eigsh`] and [`eigsh_auto`].
#[derive(Debug, Clone, PartialEq)]
pub struct EigshOptions {
    /// Relative tolerance: a Ritz pair `(θ, x)` is accepted when its residual satisfies
    /// `‖Ax − θx‖₂ ≤ max(tol·|θ|, 8√n·ε·‖A‖)`, which implies `|λ − θ| ≤ tol·|θ|` for some
    /// eigenvalue `λ` (above the rounding floor). Must be finite and `> 0`. Default `1e-10`.
    pub tol: f64,
    /// Maximum number of thick restarts; `0` allows a single Krylov cycle. Default `1000`.
    pub max_restarts: usize,
    /// Maximum dimension `m` of the search space. `None`: `max(k + 10b, 2k + 2b, 24)` for
    /// `Largest`, `max(k + 20b, 2k + 2b, 24)` for `Smallest` (a block method builds
    /// polynomials of degree `m/b` per cycle, so `m` must grow with `b`), with `20b`/`40b`
    /// instead when `b` is the operator's
    /// [`preferred_block_size`](SymmetricOperator::preferred_block_size). Memory
    /// `8·n·(m+b)` bytes; work `O(n·m·b)` per step besides the operator.
    /// Must be `≥ k + b`; it is lowered to `n − b` on small problems, and when even that is
    /// below `k + b` the problem is solved densely.
    pub krylov_dim: Option<usize>,
    /// Block size `b` (`None`: the operator's
    /// [`preferred_block_size`](SymmetricOperator::preferred_block_size), else
    /// `min(k, 16)`). Larger blocks mean fewer, wider operator calls (cheaper per vector for
    /// GEMM and matrix-free Gram operators) and resolve eigenvalue clusters of multiplicity
    /// up to `b`; must be `≥ 1`.
    pub block_size: Option<usize>,
    /// Also return the eigenvectors. Default `false`.
    pub want_vectors: bool,
    /// Parallelism for the operator and the `O(n·m·b)` orthogonalisation. Default
    /// `Par::rayon(0)` (all threads of the current rayon pool).
    pub par: Par,
    /// Seed of the random starting block. Default `0`.
    pub seed: u64,
}

impl Default for EigshOptions {
    fn default() -> Self {
        Self {
            tol: 1e-10,
            max_restarts: 1000,
            krylov_dim: None,
            block_size: None,
            want_vectors: false,
            par: Par::rayon(0),
            seed: 0,
        }
    }
}

/// Result of [`eigsh`] / [`eigsh_auto`].
#[derive(Debug, Clone)]
pub struct EigshResult {
    /// The `k` eigenvalues: descending for [`Which::Largest`], ascending for
    /// [`Which::Smallest`].
    pub values: Vec<f64>,
    /// With `want_vectors`, the `n×k` orthonormal eigenvectors, column `i` for `values[i]`.
    pub vectors: Option<Mat<f64>>,
    /// Residual norm estimates `‖A x_i − θ_i x_i‖₂` (Lanczos); `0` for dense solves.
    pub residuals: Vec<f64>,
    /// Number of block operator calls (`apply`).
    pub iterations: usize,
    /// Number of thick restarts performed.
    pub restarts: usize,
    /// Number of operator–vector products, i.e. the sum of the block widths of all calls.
    pub matvecs: usize,
    /// `true` when the problem was solved by the dense eigensolver.
    pub dense: bool,
}

// ------------------------------------------------------------------------------------------
// Dense solver
// ------------------------------------------------------------------------------------------

fn check_dense_input(a: MatRef<'_, f64>) -> Result<()> {
    if a.nrows() != a.ncols() {
        return Err(NtkError::InvalidArgument(format!(
            "the symmetric eigensolver needs a square matrix, got {}×{}",
            a.nrows(),
            a.ncols()
        )));
    }
    if !a.is_all_finite() {
        return Err(NtkError::NonFinite(
            "the matrix passed to the symmetric eigensolver contains NaN or infinity".into(),
        ));
    }
    Ok(())
}

fn evd(a: MatRef<'_, f64>, u: Option<MatMut<'_, f64>>, par: Par) -> Result<Vec<f64>> {
    let n = a.nrows();
    let mut s = Diag::<f64>::zeros(n);
    let compute = if u.is_some() {
        ComputeEigenvectors::Yes
    } else {
        ComputeEigenvectors::No
    };
    let mut buf = MemBuffer::new(self_adjoint_evd_scratch::<f64>(
        n,
        compute,
        par,
        Default::default(),
    ));
    self_adjoint_evd(
        a,
        s.as_mut(),
        u,
        par,
        MemStack::new(&mut buf),
        Default::default(),
    )
    .map_err(|e| NtkError::Convergence(format!("dense symmetric eigensolver failed: {e:?}")))?;
    Ok(s.column_vector().iter().copied().collect())
}

/// All eigenpairs of a dense symmetric matrix: `A = U diag(λ) Uᵀ` with `λ_1 ≤ … ≤ λ_n`
/// (ascending) and `U` orthogonal (column `i` belongs to `λ_i`).
///
/// Only the **lower triangle** of `a` is read (the strict upper triangle is assumed to be its
/// mirror image), but the whole matrix must be finite. Householder tridiagonalisation and
/// divide and conquer (faer `self_adjoint_evd`) with the given parallelism: `O(n³)` work,
/// backward stable, so each `λ_i` is accurate to `O(ε‖A‖₂)` absolutely.
///
/// Errors: [`NtkError::InvalidArgument`] if `a` is not square, [`NtkError::NonFinite`] on
/// NaN/∞, [`NtkError::Convergence`] if the tridiagonal QR iteration fails (not seen in
/// practice).
pub fn dense_eigh(a: MatRef<'_, f64>, par: Par) -> Result<(Vec<f64>, Mat<f64>)> {
    check_dense_input(a)?;
    let n = a.nrows();
    let mut u = Mat::<f64>::zeros(n, n);
    let values = evd(a, Some(u.as_mut()), par)?;
    Ok((values, u))
}

/// All eigenvalues `λ_1 ≤ … ≤ λ_n` (ascending) of a dense symmetric matrix, without
/// eigenvectors (cheaper: tridiagonalisation plus the tridiagonal QR algorithm).
/// Same input contract and errors as [`dense_eigh`].
pub fn dense_eigvalsh(a: MatRef<'_, f64>, par: Par) -> Result<Vec<f64>> {
    check_dense_input(a)?;
    evd(a, None, par)
}

// ------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------

/// SplitMix64: a tiny deterministic generator for the starting block.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform on the open interval (0, 1).
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.uniform(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

const ETA: f64 = std::f64::consts::FRAC_1_SQRT_2;

fn col_norm(w: MatRef<'_, f64>) -> f64 {
    w.norm_l2()
}

/// One classical Gram–Schmidt pass of the column `w` (n×1) against the orthonormal columns
/// of `basis`: `c = basisᵀ w`, `w ← w − basis·c`. Writes `c` into `c` (len × 1).
fn cgs_pass(basis: MatRef<'_, f64>, mut w: MatMut<'_, f64>, mut c: MatMut<'_, f64>, par: Par) {
    if basis.ncols() == 0 {
        return;
    }
    matmul(
        c.rb_mut(),
        Accum::Replace,
        basis.transpose(),
        w.rb(),
        1.0,
        par,
    );
    matmul(w.rb_mut(), Accum::Add, basis, c.rb(), -1.0, par);
}

/// Rows per sub-block of [`block_cgs2`]'s fused sweep: `256·(m+b)` doubles of the basis
/// stay in L2 between their two uses.
const CGS_ROWS: usize = 256;

/// Two passes of block classical Gram–Schmidt of `w` (n×b) against the orthonormal columns
/// of `basis` (n×jb): `w ← (I − VVᵀ)(I − VVᵀ) w`. Returns the accumulated coefficients
/// `c₁ + c₂` (jb×b) and the column norms of `w` after the first pass (plain sums of squares:
/// they only serve the DGKS test of [`Krylov::finish_column`], where an overflow merely
/// triggers an extra pass).
///
/// Three sweeps over the basis instead of four: `c₁ = Vᵀw`; then, per block of rows,
/// `w_R −= V_R c₁` and `c₂ += V_Rᵀ w_R` while `V_R` is in cache; then `w −= V c₂`. Rows are
/// split across the threads of `par` (each sweep is a reduction or a row-parallel update).
fn block_cgs2(basis: MatRef<'_, f64>, w: MatMut<'_, f64>, par: Par) -> (Mat<f64>, Vec<f64>) {
    use rayon::prelude::*;
    let (n, jb, b) = (basis.nrows(), basis.ncols(), w.ncols());
    let threads = match par {
        Par::Seq => 1,
        Par::Rayon(t) => t.get(),
    };
    let nchunks = if threads <= 1 || n < 4 * CGS_ROWS {
        1
    } else {
        threads.min(n / CGS_ROWS)
    };
    let bounds: Vec<usize> = (0..=nchunks).map(|i| i * n / nchunks).collect();
    let mut chunks: Vec<(usize, MatMut<'_, f64>)> = Vec::with_capacity(nchunks);
    let mut rest = w;
    for i in 0..nchunks {
        let (top, bottom) = rest.split_at_row_mut(bounds[i + 1] - bounds[i]);
        chunks.push((bounds[i], top));
        rest = bottom;
    }
    let add = |mut a: (Mat<f64>, Vec<f64>), b: (Mat<f64>, Vec<f64>)| {
        a.0 += &b.0;
        for (x, y) in a.1.iter_mut().zip(&b.1) {
            *x += y;
        }
        a
    };
    let zero = || (Mat::<f64>::zeros(jb, b), vec![0.0; b]);
    // Sweep 1: c₁ = Vᵀ w.
    let (c1, _) = chunks
        .par_iter()
        .map(|(r0, wc)| {
            let mut c = Mat::<f64>::zeros(jb, b);
            let v = basis.subrows(*r0, wc.nrows());
            matmul(
                c.as_mut(),
                Accum::Replace,
                v.transpose(),
                wc.rb(),
                1.0,
                Par::Seq,
            );
            (c, vec![0.0; b])
        })
        .reduce(zero, add);
    // Sweep 2: w −= V c₁ and c₂ = Vᵀ w, block by block; squared norms after pass 1.
    let (c2, sq1) = chunks
        .par_iter_mut()
        .map(|(r0, wc)| {
            let mut c = Mat::<f64>::zeros(jb, b);
            let mut sq = vec![0.0; b];
            let rows = wc.nrows();
            let mut s = 0;
            while s < rows {
                let len = CGS_ROWS.min(rows - s);
                let v = basis.subrows(*r0 + s, len);
                let mut ws = wc.rb_mut().subrows_mut(s, len);
                matmul(ws.rb_mut(), Accum::Add, v, c1.as_ref(), -1.0, Par::Seq);
                matmul(
                    c.as_mut(),
                    Accum::Add,
                    v.transpose(),
                    ws.rb(),
                    1.0,
                    Par::Seq,
                );
                for (col, acc) in sq.iter_mut().enumerate() {
                    *acc += ws.rb().col(col).iter().map(|x| x * x).sum::<f64>();
                }
                s += len;
            }
            (c, sq)
        })
        .reduce(zero, add);
    // Sweep 3: w −= V c₂.
    chunks.par_iter_mut().for_each(|(r0, wc)| {
        let v = basis.subrows(*r0, wc.nrows());
        matmul(wc.rb_mut(), Accum::Add, v, c2.as_ref(), -1.0, Par::Seq);
    });
    let norms1 = sq1.into_iter().map(f64::sqrt).collect();
    (&c1 + &c2, norms1)
}

/// Checks that the operator output is finite.
fn check_output(w: MatRef<'_, f64>) -> Result<()> {
    if w.is_all_finite() {
        Ok(())
    } else {
        Err(NtkError::NonFinite(
            "the operator returned NaN or infinity (check the kernel/plugin for non-finite values)"
                .into(),
        ))
    }
}

fn validate(n: usize, k: usize, opts: &EigshOptions) -> Result<()> {
    if n == 0 {
        return Err(NtkError::InvalidArgument(
            "the operator has dimension 0: there are no eigenvalues".into(),
        ));
    }
    if !(opts.tol.is_finite() && opts.tol > 0.0) {
        return Err(NtkError::InvalidArgument(format!(
            "tol must be a finite positive number, got {}",
            opts.tol
        )));
    }
    if opts.block_size == Some(0) {
        return Err(NtkError::InvalidArgument("block_size must be ≥ 1".into()));
    }
    if k == 0 {
        return Err(NtkError::InvalidArgument(
            "k must be ≥ 1 (number of eigenvalues to compute)".into(),
        ));
    }
    Ok(())
}

/// Materialises an operator as a dense matrix `M = A·I` (blocks of 64 unit vectors), then
/// symmetrises the round-off: `M ← (M + Mᵀ)/2` (only the lower triangle is used later).
fn materialize(
    op: &dyn SymmetricOperator,
    par: Par,
    cancel: &dyn Fn() -> bool,
) -> Result<Mat<f64>> {
    let n = op.dim();
    let mut a = Mat::<f64>::zeros(n, n);
    const BLOCK: usize = 64;
    let mut e = Mat::<f64>::zeros(n, BLOCK.min(n));
    let mut start = 0;
    while start < n {
        if cancel() {
            return Err(NtkError::Interrupted);
        }
        let w = BLOCK.min(n - start);
        e.fill(0.0);
        for t in 0..w {
            e[(start + t, t)] = 1.0;
        }
        op.apply(
            e.as_ref().subcols(0, w),
            a.as_mut().subcols_mut(start, w),
            par,
        )?;
        check_output(a.as_ref().subcols(start, w))?;
        start += w;
    }
    for j in 0..n {
        for i in j + 1..n {
            let s = 0.5 * (a[(i, j)] + a[(j, i)]);
            a[(i, j)] = s;
            a[(j, i)] = s;
        }
    }
    Ok(a)
}

/// Dense solve of a (materialised or dense) operator, selecting `k` values at one end.
fn dense_select(
    a: MatRef<'_, f64>,
    k: usize,
    which: Which,
    want_vectors: bool,
    par: Par,
    matvecs: usize,
) -> Result<EigshResult> {
    let n = a.nrows();
    let order: Vec<usize> = match which {
        Which::Largest => (0..k).map(|i| n - 1 - i).collect(),
        Which::Smallest => (0..k).collect(),
    };
    let (values, vectors) = if want_vectors {
        let (vals, u) = dense_eigh(a, par)?;
        let x = Mat::from_fn(n, k, |r, c| u[(r, order[c])]);
        (order.iter().map(|&i| vals[i]).collect(), Some(x))
    } else {
        let vals = dense_eigvalsh(a, par)?;
        (order.iter().map(|&i| vals[i]).collect(), None)
    };
    Ok(EigshResult {
        values,
        vectors,
        residuals: vec![0.0; k],
        iterations: usize::from(matvecs > 0) * n.div_ceil(64),
        restarts: 0,
        matvecs,
        dense: true,
    })
}

fn dense_fallback(
    op: &dyn SymmetricOperator,
    k: usize,
    which: Which,
    opts: &EigshOptions,
    cancel: &dyn Fn() -> bool,
) -> Result<EigshResult> {
    if let Some(a) = op.as_dense() {
        if cancel() {
            return Err(NtkError::Interrupted);
        }
        check_dense_input(a)?;
        return dense_select(a, k, which, opts.want_vectors, opts.par, 0);
    }
    let a = materialize(op, opts.par, cancel)?;
    dense_select(a.as_ref(), k, which, opts.want_vectors, opts.par, op.dim())
}

// ------------------------------------------------------------------------------------------
// Block Lanczos
// ------------------------------------------------------------------------------------------

/// The Krylov decomposition `A Q = Q H + F G` with `Q = v[:, ..j]`, `F = v[:, j..j+b]`.
struct Krylov {
    b: usize,
    /// `n × (m + b)`: the search space `Q` followed by the next block `F`.
    v: Mat<f64>,
    /// `n × b` workspace for `A·F`.
    w: Mat<f64>,
    /// `m × m`, the leading `j × j` block is `H = Qᵀ A Q`.
    h: Mat<f64>,
    /// `b × m`, the leading `b × j` block is `G = Fᵀ A Q`.
    g: Mat<f64>,
    /// Current dimension of the search space.
    j: usize,
}

/// Ritz pairs of the current `H`, in wanted order (best first).
struct Ritz {
    theta: Vec<f64>,
    /// `j × j`; column `i` is `y_i`.
    y: Mat<f64>,
    /// `‖G y_i‖₂`.
    res: Vec<f64>,
}

impl Krylov {
    /// Orthonormalises column `i` of `w` (already orthogonalised against `[Q, F]` in blocks)
    /// against the new columns `v[:, jb..jb+i]`, with DGKS re-orthogonalisation against the
    /// whole basis when cancellation is detected; stores the result in `v[:, jb + i]`.
    /// Adds the coefficients against `F` to `d_col` (len b) and writes those against the new
    /// block, including the final norm `R[i, i]` (0 for a replaced column), to `r_col`.
    #[allow(clippy::too_many_arguments)]
    fn finish_column(
        &mut self,
        i: usize,
        norm_pass1: f64,
        norm_pass2: f64,
        d_col: &mut [f64],
        r_col: &mut [f64],
        rng: &mut SplitMix64,
        par: Par,
    ) {
        let (j, b) = (self.j, self.b);
        let jb = j + b;
        let (left, mut right) = self.v.as_mut().split_at_col_mut(jb + i);
        let basis = left.rb();
        let mut wi = self.w.as_mut().subcols_mut(i, 1);
        let mut c = Mat::<f64>::zeros(jb + i, 1);

        let mut suspicious = norm_pass2 < ETA * norm_pass1;
        let mut cur = norm_pass2;
        if i > 0 {
            let fresh = basis.subcols(jb, i);
            // At most b − 1 columns: too little work to pay for parallel synchronisation.
            for _ in 0..2 {
                cgs_pass(fresh, wi.rb_mut(), c.as_mut().subrows_mut(0, i), Par::Seq);
                for t in 0..i {
                    r_col[t] += c[(t, 0)];
                }
            }
            let nrm = col_norm(wi.rb());
            suspicious |= nrm < ETA * cur;
            cur = nrm;
        }
        let mut extra = 0;
        while suspicious && extra < 3 {
            cgs_pass(basis, wi.rb_mut(), c.as_mut(), par);
            for t in 0..b {
                d_col[t] += c[(j + t, 0)];
            }
            for t in 0..i {
                r_col[t] += c[(jb + t, 0)];
            }
            let nrm = col_norm(wi.rb());
            suspicious = nrm < ETA * cur;
            cur = nrm;
            extra += 1;
        }
        let mut dst = right.rb_mut().subcols_mut(0, 1);
        if suspicious || cur.is_nan() || cur <= f64::MIN_POSITIVE {
            // Numerically in the span: an invariant subspace. Continue with a random direction.
            r_col[i] = 0.0;
            let mut nrm = 0.0;
            for _ in 0..4 {
                for r in 0..wi.nrows() {
                    wi[(r, 0)] = rng.normal();
                }
                for _ in 0..2 {
                    cgs_pass(basis, wi.rb_mut(), c.as_mut(), par);
                }
                nrm = col_norm(wi.rb());
                if nrm > 1e-3 {
                    break;
                }
            }
            let s = 1.0 / nrm;
            for r in 0..wi.nrows() {
                dst[(r, 0)] = wi[(r, 0)] * s;
            }
        } else {
            r_col[i] = cur;
            let s = 1.0 / cur;
            for r in 0..wi.nrows() {
                dst[(r, 0)] = wi[(r, 0)] * s;
            }
        }
    }

    /// One block Lanczos step: `W = A F`, orthogonalise, extend `H`, `G`, `Q`.
    fn expand(&mut self, op: &dyn SymmetricOperator, rng: &mut SplitMix64, par: Par) -> Result<()> {
        let (j, b) = (self.j, self.b);
        let jb = j + b;
        op.apply(self.v.as_ref().subcols(j, b), self.w.as_mut(), par)?;
        check_output(self.w.as_ref())?;

        // Block classical Gram–Schmidt, twice, against [Q, F].
        let (acc, norms1) = block_cgs2(self.v.as_ref().subcols(0, jb), self.w.as_mut(), par);
        let norms2: Vec<f64> = (0..b)
            .map(|c| col_norm(self.w.as_ref().subcols(c, 1)))
            .collect();
        let norms = [norms1, norms2];
        let mut d = Mat::<f64>::from_fn(b, b, |r, c| acc[(j + r, c)]);
        let mut r = Mat::<f64>::zeros(b, b);
        let mut d_col = vec![0.0; b];
        let mut r_col = vec![0.0; b];
        for i in 0..b {
            d_col.iter_mut().for_each(|x| *x = 0.0);
            r_col.iter_mut().for_each(|x| *x = 0.0);
            self.finish_column(
                i,
                norms[0][i],
                norms[1][i],
                &mut d_col,
                &mut r_col,
                rng,
                par,
            );
            for t in 0..b {
                d[(t, i)] += d_col[t];
            }
            for t in 0..=i {
                r[(t, i)] = r_col[t];
            }
        }
        // H ← [[H, Gᵀ], [G, sym(D)]],  G ← [0, R].
        for c in 0..b {
            for a in 0..j {
                let gv = self.g[(c, a)];
                self.h[(a, j + c)] = gv;
                self.h[(j + c, a)] = gv;
            }
            for a in 0..b {
                self.h[(j + a, j + c)] = 0.5 * (d[(a, c)] + d[(c, a)]);
            }
        }
        for c in 0..jb {
            for a in 0..b {
                self.g[(a, c)] = if c >= j { r[(a, c - j)] } else { 0.0 };
            }
        }
        self.j = jb;
        Ok(())
    }

    fn ritz(&self, which: Which) -> Result<Ritz> {
        let j = self.j;
        let (vals, u) = dense_eigh(self.h.as_ref().submatrix(0, 0, j, j), Par::Seq)?;
        let order: Vec<usize> = match which {
            Which::Largest => (0..j).rev().collect(),
            Which::Smallest => (0..j).collect(),
        };
        let y = Mat::from_fn(j, j, |r, c| u[(r, order[c])]);
        let theta: Vec<f64> = order.iter().map(|&i| vals[i]).collect();
        let mut gy = Mat::<f64>::zeros(self.b, j);
        matmul(
            gy.as_mut(),
            Accum::Replace,
            self.g.as_ref().subcols(0, j),
            y.as_ref(),
            1.0,
            Par::Seq,
        );
        let res = (0..j)
            .map(|c| col_norm(gy.as_ref().subcols(c, 1)))
            .collect();
        Ok(Ritz { theta, y, res })
    }

    /// Thick restart keeping the first `p` Ritz pairs (wanted order).
    fn restart(&mut self, ritz: &Ritz, p: usize, scratch: &mut Mat<f64>, par: Par) {
        let (j, b) = (self.j, self.b);
        let yp = ritz.y.as_ref().subcols(0, p);
        let mut qy = scratch.as_mut().subcols_mut(0, p);
        matmul(
            qy.rb_mut(),
            Accum::Replace,
            self.v.as_ref().subcols(0, j),
            yp,
            1.0,
            par,
        );
        self.w.copy_from(self.v.as_ref().subcols(j, b));
        self.v.as_mut().subcols_mut(0, p).copy_from(qy.rb());
        self.v.as_mut().subcols_mut(p, b).copy_from(self.w.as_ref());
        let mut gy = Mat::<f64>::zeros(b, p);
        matmul(
            gy.as_mut(),
            Accum::Replace,
            self.g.as_ref().subcols(0, j),
            yp,
            1.0,
            Par::Seq,
        );
        self.h.fill(0.0);
        for i in 0..p {
            self.h[(i, i)] = ritz.theta[i];
        }
        self.g.fill(0.0);
        self.g.as_mut().subcols_mut(0, p).copy_from(gy.as_ref());
        self.j = p;
    }
}

/// The `k` algebraically largest or smallest eigenpairs of a symmetric operator by block
/// Lanczos with full re-orthogonalisation and thick restart (see the module docs for the
/// method, the convergence test `‖A x − θ x‖₂ ≤ max(tol·|θ|, 8√n·ε‖A‖)` and why
/// `Smallest` uses the small Ritz values of the unshifted operator).
///
/// The operator is only used through block products `A·X` with `X ∈ ℝ^{n×b}`; the work per
/// step besides that is `O(n·m·b)` (orthogonalisation by GEMM) plus `O(m³)` for the
/// projected problem, with `m = krylov_dim`. `cancel` is polled before every operator call
/// (and between the blocks of a dense fallback).
///
/// If the search space cannot be smaller than `n` (`n − b < k + b`), the operator is
/// materialised (`n` products, or none if [`SymmetricOperator::as_dense`] gives the
/// matrix) and solved with [`dense_eigh`].
///
/// Errors:
/// * [`NtkError::InvalidArgument`]: `k == 0`, `k ≥ n` (use [`dense_eigh`] or
///   [`eigsh_auto`] for all eigenvalues), `tol` not finite and positive, `block_size == 0`,
///   `krylov_dim < k + b`;
/// * [`NtkError::NonFinite`]: the operator returned NaN or ∞;
/// * [`NtkError::Interrupted`]: `cancel()` returned `true`;
/// * [`NtkError::NotConverged`]: the wanted pairs did not all converge within
///   `max_restarts` restarts; `values` holds those that did (in the requested order);
/// * any error returned by the operator itself.
pub fn eigsh(
    op: &dyn SymmetricOperator,
    k: usize,
    which: Which,
    opts: &EigshOptions,
    cancel: &dyn Fn() -> bool,
) -> Result<EigshResult> {
    let n = op.dim();
    validate(n, k, opts)?;
    if let Some(a) = op.as_dense() {
        // A dense operator's product may read only one triangle (DenseSymmetric does), so a
        // NaN in the other one would go unnoticed: check the whole matrix once, as the
        // dense solver does.
        check_dense_input(a)?;
    }
    if k >= n {
        return Err(NtkError::InvalidArgument(format!(
            "k = {k} must be smaller than the dimension n = {n} for the Lanczos solver; \
             use the dense eigensolver (dense_eigh / eigsh_auto) to get all eigenvalues"
        )));
    }
    let preferred = opts
        .block_size
        .is_none()
        .then(|| op.preferred_block_size(k))
        .flatten();
    let b = opts
        .block_size
        .or(preferred)
        .unwrap_or(k.min(16))
        .clamp(1, n);
    let mut m = match opts.krylov_dim {
        Some(m) if m < k + b => {
            return Err(NtkError::InvalidArgument(format!(
                "krylov_dim = {m} must be at least k + block_size = {}",
                k + b
            )))
        }
        Some(m) => m,
        None => {
            let mut blocks = if which == Which::Largest { 10 } else { 20 };
            if preferred.is_some() {
                // The operator asked for a narrow block: a deeper search space per cycle
                // (fewer restarts, hence fewer products) costs little beside its products.
                blocks *= 2;
            }
            (k + blocks * b).max(2 * k + 2 * b).max(24)
        }
    };
    if m + b > n {
        m = n.saturating_sub(b);
    }
    if m < k + b {
        return dense_fallback(op, k, which, opts, cancel);
    }
    let par = opts.par;
    // Thick restart keeps the k wanted and half of the remaining Ritz vectors.
    let p = (k + (m - k - b) / 2).clamp(k, m - b);

    let mut rng = SplitMix64(opts.seed ^ 0x6E74_6B2D_6C61_6E63);
    let mut kry = Krylov {
        b,
        v: Mat::zeros(n, m + b),
        w: Mat::zeros(n, b),
        h: Mat::zeros(m, m),
        g: Mat::zeros(b, m),
        j: 0,
    };
    // Random orthonormal starting block F = v[:, 0..b].
    for c in 0..b {
        for r in 0..n {
            kry.w[(r, c)] = rng.normal();
        }
    }
    {
        let mut d_col = vec![0.0; b];
        let mut r_col = vec![0.0; b];
        // Treat the start block as "W" with j = -b: orthonormalise with an empty [Q, F].
        let saved_b = kry.b;
        kry.b = 0;
        for i in 0..b {
            let nrm = col_norm(kry.w.as_ref().subcols(i, 1));
            r_col.iter_mut().for_each(|x| *x = 0.0);
            kry.finish_column(i, nrm, nrm, &mut d_col, &mut r_col, &mut rng, par);
        }
        kry.b = saved_b;
    }
    let mut scratch = Mat::<f64>::zeros(n, p);
    let (mut iterations, mut matvecs, mut restarts) = (0usize, 0usize, 0usize);
    let mut anorm = 0.0f64;
    // Residual floor: the typical rounding error of the product A·x itself (8·√n·ε·‖A‖).
    let eps = 8.0 * (n as f64).sqrt() * f64::EPSILON;
    let accept =
        |theta: f64, res: f64, anorm: f64| res <= (opts.tol * theta.abs()).max(eps * anorm);

    loop {
        let mut last: Option<Ritz> = None;
        while kry.j + b <= m {
            if cancel() {
                return Err(NtkError::Interrupted);
            }
            kry.expand(op, &mut rng, par)?;
            iterations += 1;
            matvecs += b;
            if kry.j < k {
                continue;
            }
            let ritz = kry.ritz(which)?;
            anorm = ritz.theta.iter().fold(anorm, |acc, t| acc.max(t.abs()));
            let done = (0..k).all(|i| accept(ritz.theta[i], ritz.res[i], anorm));
            if done {
                let values = ritz.theta[..k].to_vec();
                let residuals = ritz.res[..k].to_vec();
                let vectors = if opts.want_vectors {
                    let mut x = Mat::<f64>::zeros(n, k);
                    matmul(
                        x.as_mut(),
                        Accum::Replace,
                        kry.v.as_ref().subcols(0, kry.j),
                        ritz.y.as_ref().subcols(0, k),
                        1.0,
                        par,
                    );
                    Some(x)
                } else {
                    None
                };
                return Ok(EigshResult {
                    values,
                    vectors,
                    residuals,
                    iterations,
                    restarts,
                    matvecs,
                    dense: false,
                });
            }
            last = Some(ritz);
        }
        let ritz = match last {
            Some(r) => r,
            None => kry.ritz(which)?,
        };
        if restarts >= opts.max_restarts {
            let converged: Vec<usize> = (0..k)
                .filter(|&i| accept(ritz.theta[i], ritz.res[i], anorm))
                .collect();
            let values: Vec<f64> = converged.iter().map(|&i| ritz.theta[i]).collect();
            let worst = (0..k)
                .map(|i| ritz.res[i] / ritz.theta[i].abs().max(eps * anorm))
                .fold(0.0f64, f64::max);
            return Err(NtkError::NotConverged {
                message: format!(
                    "eigsh: only {} of {k} eigenvalues converged to tol = {:e} after {restarts} \
                     restarts ({matvecs} operator-vector products; worst relative residual \
                     {worst:.1e}); increase max_restarts or krylov_dim, or use the dense \
                     eigensolver",
                    values.len(),
                    opts.tol
                ),
                values,
            });
        }
        restarts += 1;
        kry.restart(&ritz, p, &mut scratch, par);
    }
}

/// Largest `n` up to which [`eigsh_auto`] solves `Which::Smallest` densely.
pub const SMALLEST_DENSE_MAX_DIM: usize = 8192;

/// Largest `n` up to which [`eigsh_auto`] materialises a matrix-free operator for the
/// dense solver (`n²·8` bytes = 2 GiB).
pub const MAX_MATERIALIZE_DIM: usize = 16_384;

/// Chooses the solver: dense ([`dense_eigh`]) when `n ≤ 600`, `k > n/10` (where Lanczos
/// stops paying off) or `which == Smallest` and `n ≤` [`SMALLEST_DENSE_MAX_DIM`] (the
/// clustered bottom of a kernel spectrum makes Krylov methods slow and an `O(n³)` dense
/// solve is the predictable choice); block Lanczos ([`eigsh`]) otherwise. `k == n` is
/// allowed here (all eigenvalues, dense).
///
/// A dense path uses [`SymmetricOperator::as_dense`] when available and otherwise
/// materialises the operator with `n` products — only up to [`MAX_MATERIALIZE_DIM`]; above
/// that, `k > n/10` still runs Lanczos and `k == n` fails with [`NtkError::TooLarge`].
/// `result.dense` reports the choice. Errors as for [`eigsh`] (`k == 0` or `k > n` are
/// [`NtkError::InvalidArgument`]).
pub fn eigsh_auto(
    op: &dyn SymmetricOperator,
    k: usize,
    which: Which,
    opts: &EigshOptions,
    cancel: &dyn Fn() -> bool,
) -> Result<EigshResult> {
    let n = op.dim();
    validate(n, k, opts)?;
    if k > n {
        return Err(NtkError::InvalidArgument(format!(
            "k = {k} exceeds the dimension n = {n}"
        )));
    }
    let prefer_dense =
        n <= 600 || k * 10 > n || (which == Which::Smallest && n <= SMALLEST_DENSE_MAX_DIM);
    let can_dense = op.as_dense().is_some() || n <= MAX_MATERIALIZE_DIM;
    if k == n && !can_dense {
        return Err(NtkError::TooLarge(format!(
            "all {n} eigenvalues of a matrix-free operator need the dense {n}×{n} matrix \
             ({} GiB); ask for fewer eigenvalues",
            (n as f64).powi(2) * 8.0 / (1u64 << 30) as f64
        )));
    }
    if prefer_dense && can_dense {
        dense_fallback(op, k, which, opts, cancel)
    } else {
        eigsh(op, k, which, opts, cancel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn never() -> bool {
        false
    }

    fn opts() -> EigshOptions {
        EigshOptions {
            par: Par::Seq,
            ..EigshOptions::default()
        }
    }

    fn gaussian(n: usize, m: usize, seed: u64) -> Mat<f64> {
        let mut rng = SplitMix64(seed);
        Mat::from_fn(n, m, |_, _| rng.normal())
    }

    /// A random orthogonal matrix (Householder QR of a Gaussian matrix).
    fn orthogonal(n: usize, seed: u64) -> Mat<f64> {
        gaussian(n, n, seed).qr().compute_Q()
    }

    /// `A = Q diag(d) Qᵀ`, exactly symmetrised.
    fn with_spectrum(d: &[f64], seed: u64) -> Mat<f64> {
        let n = d.len();
        let q = orthogonal(n, seed);
        let qd = Mat::from_fn(n, n, |i, j| q[(i, j)] * d[j]);
        let mut a = Mat::<f64>::zeros(n, n);
        matmul(
            a.as_mut(),
            Accum::Replace,
            qd.as_ref(),
            q.transpose(),
            1.0,
            Par::Seq,
        );
        symmetrize(&mut a);
        a
    }

    fn symmetrize(a: &mut Mat<f64>) {
        let n = a.nrows();
        for j in 0..n {
            for i in j + 1..n {
                let s = 0.5 * (a[(i, j)] + a[(j, i)]);
                a[(i, j)] = s;
                a[(j, i)] = s;
            }
        }
    }

    fn random_symmetric(n: usize, seed: u64) -> Mat<f64> {
        let mut a = gaussian(n, n, seed);
        symmetrize(&mut a);
        a
    }

    fn random_psd(n: usize, d: usize, seed: u64) -> Mat<f64> {
        let x = gaussian(n, d, seed);
        let mut a = Mat::<f64>::zeros(n, n);
        matmul(
            a.as_mut(),
            Accum::Replace,
            x.as_ref(),
            x.transpose(),
            1.0 / d as f64,
            Par::Seq,
        );
        symmetrize(&mut a);
        a
    }

    /// Arc-cosine (ReLU NNGP-like) kernel of random unit vectors: a PSD kernel matrix with a
    /// dominant top eigenvalue and a decaying tail (`par` for the GEMM and the entries; the
    /// lower triangle is mirrored in 64×64 tiles so n = 8000 stays quick).
    fn relu_kernel(n: usize, d: usize, seed: u64, par: Par) -> Mat<f64> {
        use rayon::iter::ParallelIterator;
        let mut x = gaussian(n, d, seed);
        for i in 0..n {
            let s = (0..d).map(|c| x[(i, c)] * x[(i, c)]).sum::<f64>().sqrt();
            for c in 0..d {
                x[(i, c)] /= s;
            }
        }
        let mut g = Mat::<f64>::zeros(n, n);
        matmul(
            g.as_mut(),
            Accum::Replace,
            x.as_ref(),
            x.transpose(),
            1.0,
            par,
        );
        let entry = |r: &mut f64| {
            let c: f64 = r.clamp(-1.0, 1.0);
            *r = ((1.0 - c * c).max(0.0).sqrt() + (std::f64::consts::PI - c.acos()) * c)
                / std::f64::consts::PI;
        };
        match par {
            Par::Seq => g
                .as_mut()
                .col_iter_mut()
                .for_each(|col| col.iter_mut().for_each(entry)),
            _ => g
                .as_mut()
                .par_col_iter_mut()
                .for_each(|col| col.iter_mut().for_each(entry)),
        }
        for jb in (0..n).step_by(64) {
            for ib in (jb..n).step_by(64) {
                for j in jb..(jb + 64).min(n) {
                    for i in ib.max(j + 1)..(ib + 64).min(n) {
                        g[(j, i)] = g[(i, j)];
                    }
                }
            }
        }
        g
    }

    fn select(sorted_asc: &[f64], k: usize, which: Which) -> Vec<f64> {
        let n = sorted_asc.len();
        match which {
            Which::Largest => (0..k).map(|i| sorted_asc[n - 1 - i]).collect(),
            Which::Smallest => sorted_asc[..k].to_vec(),
        }
    }

    fn spectral_norm_bound(a: MatRef<'_, f64>) -> f64 {
        a.norm_l2() // Frobenius ≥ ‖A‖₂
    }

    /// Checks values (relative `rel` + absolute `abs_tol·‖A‖`), order, and with vectors the
    /// residuals `‖Av − λv‖ ≤ 1e-8‖A‖` and orthonormality.
    fn check(
        a: MatRef<'_, f64>,
        res: &EigshResult,
        expect: &[f64],
        rel: f64,
        abs_tol: f64,
        which: Which,
    ) {
        let anorm = spectral_norm_bound(a);
        assert_eq!(res.values.len(), expect.len());
        let (mut max_rel, mut max_abs, mut max_res) = (0.0f64, 0.0f64, 0.0f64);
        for (i, (&got, &want)) in res.values.iter().zip(expect).enumerate() {
            let err = (got - want).abs();
            max_rel = max_rel.max(err / want.abs());
            max_abs = max_abs.max(err / anorm);
            assert!(
                err <= rel * want.abs() + abs_tol * anorm,
                "value {i}: got {got:e}, want {want:e}, err {err:e} ({which:?}, {res:?})"
            );
        }
        for w in res.values.windows(2) {
            match which {
                Which::Largest => assert!(w[0] >= w[1]),
                Which::Smallest => assert!(w[0] <= w[1]),
            }
        }
        if let Some(x) = &res.vectors {
            let (n, k) = (a.nrows(), expect.len());
            assert_eq!((x.nrows(), x.ncols()), (n, k));
            let mut ax = Mat::<f64>::zeros(n, k);
            matmul(ax.as_mut(), Accum::Replace, a, x.as_ref(), 1.0, Par::Seq);
            for c in 0..k {
                let r = (0..n)
                    .map(|i| (ax[(i, c)] - res.values[c] * x[(i, c)]).powi(2))
                    .sum::<f64>()
                    .sqrt();
                assert!(r <= 1e-8 * anorm, "residual {c}: {r:e} > 1e-8·{anorm:e}");
                max_res = max_res.max(r / anorm);
            }
            let mut xtx = Mat::<f64>::zeros(k, k);
            matmul(
                xtx.as_mut(),
                Accum::Replace,
                x.transpose(),
                x.as_ref(),
                1.0,
                Par::Seq,
            );
            for i in 0..k {
                for j in 0..k {
                    let want = if i == j { 1.0 } else { 0.0 };
                    assert!(
                        (xtx[(i, j)] - want).abs() < 1e-10,
                        "XᵀX[{i},{j}] = {}",
                        xtx[(i, j)]
                    );
                }
            }
        }
        println!(
            "accuracy n={} k={} {which:?}: max rel err {max_rel:.1e}, max abs err/‖A‖_F \
             {max_abs:.1e}, max ‖Av−λv‖/‖A‖_F {max_res:.1e} ({} calls, {} matvecs, {} \
             restarts, dense={})",
            a.nrows(),
            expect.len(),
            res.iterations,
            res.matvecs,
            res.restarts,
            res.dense
        );
    }

    fn run(a: MatRef<'_, f64>, k: usize, which: Which, o: &EigshOptions) -> EigshResult {
        let op = DenseSymmetric::new(a).unwrap();
        eigsh(&op, k, which, o, &never).unwrap_or_else(|e| panic!("{which:?}: {e:?}"))
    }

    #[test]
    fn dense_eigh_diagonal_and_constructed() {
        let n = 50;
        // Diagonal with a known, permuted spectrum.
        let d: Vec<f64> = (0..n).map(|i| ((i * 37) % n) as f64 - 10.5).collect();
        let a = Mat::from_fn(n, n, |i, j| if i == j { d[i] } else { 0.0 });
        let (vals, u) = dense_eigh(a.as_ref(), Par::Seq).unwrap();
        let mut sorted = d.clone();
        sorted.sort_by(f64::total_cmp);
        let close = |x: &[f64]| {
            x.iter()
                .zip(&sorted)
                .all(|(g, w)| (g - w).abs() <= 1e-14 * 40.0)
        };
        assert!(close(&vals), "{vals:?}");
        assert!(close(&dense_eigvalsh(a.as_ref(), Par::Seq).unwrap()));
        assert_eq!((u.nrows(), u.ncols()), (n, n));
        // Q diag(d) Qᵀ.
        let d: Vec<f64> = (0..n).map(|i| 0.7f64.powi(i as i32) - 0.3).collect();
        let a = with_spectrum(&d, 3);
        let (vals, _) = dense_eigh(a.as_ref(), Par::rayon(0)).unwrap();
        let mut sorted = d.clone();
        sorted.sort_by(f64::total_cmp);
        for (g, w) in vals.iter().zip(&sorted) {
            assert!((g - w).abs() < 1e-14, "{g} vs {w}");
        }
    }

    #[test]
    fn dense_eigh_rejects_bad_input() {
        let mut a = Mat::<f64>::identity(4, 4);
        a[(2, 1)] = f64::NAN;
        assert!(matches!(
            dense_eigh(a.as_ref(), Par::Seq),
            Err(NtkError::NonFinite(_))
        ));
        a[(2, 1)] = f64::INFINITY;
        assert!(matches!(
            dense_eigvalsh(a.as_ref(), Par::Seq),
            Err(NtkError::NonFinite(_))
        ));
        let r = Mat::<f64>::zeros(3, 4);
        assert!(matches!(
            dense_eigh(r.as_ref(), Par::Seq),
            Err(NtkError::InvalidArgument(_))
        ));
        let e = Mat::<f64>::zeros(0, 0);
        assert_eq!(
            dense_eigvalsh(e.as_ref(), Par::Seq).unwrap(),
            Vec::<f64>::new()
        );
    }

    #[test]
    fn lanczos_diagonal_known_spectrum() {
        let n = 400;
        // Permuted 1..=n: the answer is known exactly.
        let d: Vec<f64> = (0..n).map(|i| ((i * 131) % n + 1) as f64).collect();
        let a = Mat::from_fn(n, n, |i, j| if i == j { d[i] } else { 0.0 });
        let o = EigshOptions {
            want_vectors: true,
            ..opts()
        };
        let top = run(a.as_ref(), 6, Which::Largest, &o);
        let want: Vec<f64> = (0..6).map(|i| (n - i) as f64).collect();
        check(a.as_ref(), &top, &want, 1e-10, 0.0, Which::Largest);
        let bottom = run(a.as_ref(), 6, Which::Smallest, &o);
        let want: Vec<f64> = (1..=6).map(|i| i as f64).collect();
        check(a.as_ref(), &bottom, &want, 1e-10, 0.0, Which::Smallest);
    }

    #[test]
    fn lanczos_random_symmetric_vs_dense() {
        let n = 300;
        let a = random_symmetric(n, 11);
        let (vals, _) = dense_eigh(a.as_ref(), Par::Seq).unwrap();
        for which in [Which::Largest, Which::Smallest] {
            for (k, b) in [(8, None), (3, Some(1)), (5, Some(2))] {
                let o = EigshOptions {
                    want_vectors: true,
                    block_size: b,
                    ..opts()
                };
                let res = run(a.as_ref(), k, which, &o);
                check(
                    a.as_ref(),
                    &res,
                    &select(&vals, k, which),
                    1e-10,
                    1e-13,
                    which,
                );
            }
        }
    }

    #[test]
    fn lanczos_random_psd_vs_dense() {
        let n = 300;
        let a = random_psd(n, 600, 5);
        let (vals, _) = dense_eigh(a.as_ref(), Par::Seq).unwrap();
        for which in [Which::Largest, Which::Smallest] {
            let o = EigshOptions {
                want_vectors: true,
                ..opts()
            };
            let res = run(a.as_ref(), 10, which, &o);
            check(
                a.as_ref(),
                &res,
                &select(&vals, 10, which),
                1e-10,
                1e-14,
                which,
            );
        }
    }

    #[test]
    fn lanczos_constructed_spectrum() {
        // Q diag(d) Qᵀ with d known: random values in [-1, 3].
        let n = 350;
        let mut rng = SplitMix64(99);
        let mut d: Vec<f64> = (0..n).map(|_| 4.0 * rng.uniform() - 1.0).collect();
        let a = with_spectrum(&d, 7);
        d.sort_by(f64::total_cmp);
        for which in [Which::Largest, Which::Smallest] {
            let o = EigshOptions {
                want_vectors: true,
                ..opts()
            };
            let res = run(a.as_ref(), 7, which, &o);
            check(a.as_ref(), &res, &select(&d, 7, which), 1e-10, 1e-14, which);
        }
    }

    #[test]
    fn lanczos_clustered_spectrum() {
        // Top cluster 2, 2(1+1e-9), …; bottom cluster 1e-3(1+1e-9 i); bulk in [0.01, 1].
        let n = 300;
        let mut rng = SplitMix64(1);
        let mut d: Vec<f64> = (0..n).map(|_| 0.01 + 0.99 * rng.uniform()).collect();
        for i in 0..5 {
            d[3 * i] = 2.0 * (1.0 + 1e-9 * i as f64);
            d[3 * i + 1] = 1e-3 * (1.0 + 1e-9 * i as f64);
        }
        let a = with_spectrum(&d, 8);
        d.sort_by(f64::total_cmp);
        for which in [Which::Largest, Which::Smallest] {
            let o = EigshOptions {
                want_vectors: true,
                ..opts()
            };
            let res = run(a.as_ref(), 5, which, &o);
            check(a.as_ref(), &res, &select(&d, 5, which), 1e-10, 0.0, which);
        }
    }

    #[test]
    fn lanczos_exact_multiplicity() {
        // Eigenvalue 5 with multiplicity 3 on top, 0.5 with multiplicity 4 at the bottom.
        let n = 200;
        let mut d: Vec<f64> = (0..n).map(|i| 1.0 + i as f64 / n as f64).collect();
        d[..3].iter_mut().for_each(|x| *x = 5.0);
        d[3..7].iter_mut().for_each(|x| *x = 0.5);
        let a = with_spectrum(&d, 21);
        d.sort_by(f64::total_cmp);
        for (which, k) in [(Which::Largest, 4), (Which::Smallest, 5)] {
            let o = EigshOptions {
                want_vectors: true,
                ..opts()
            };
            let res = run(a.as_ref(), k, which, &o);
            check(a.as_ref(), &res, &select(&d, k, which), 1e-10, 0.0, which);
        }
    }

    #[test]
    fn lanczos_geometric_decay_kernel_like() {
        // λ_i = 0.8^i: the top is resolved relatively; the bottom (1e-29 … ) only to ε‖A‖.
        let n: usize = 300;
        let mut d: Vec<f64> = (0..n).map(|i| 0.8f64.powi(i as i32)).collect();
        let a = with_spectrum(&d, 4);
        d.sort_by(f64::total_cmp);
        let o = EigshOptions {
            want_vectors: true,
            ..opts()
        };
        let res = run(a.as_ref(), 10, Which::Largest, &o);
        check(
            a.as_ref(),
            &res,
            &select(&d, 10, Which::Largest),
            1e-10,
            0.0,
            Which::Largest,
        );
        // Its bottom ~150 eigenvalues lie in [0, 1e-14]: no Krylov method separates them
        // (relative gaps 1e-14); eigsh_auto goes dense (n ≤ 600) and gets them to ε‖A‖.
        let op = DenseSymmetric::new(a.as_ref()).unwrap();
        let res = eigsh_auto(&op, 5, Which::Smallest, &o, &never).unwrap();
        assert!(res.dense);
        check(
            a.as_ref(),
            &res,
            &select(&d, 5, Which::Smallest),
            0.0,
            1e-14,
            Which::Smallest,
        );
        // Slower geometric decay 0.98^i: the bottom 5 are ≈ 2.4e-3 with relative gaps 2%.
        let mut d: Vec<f64> = (0..n).map(|i| 0.98f64.powi(i as i32)).collect();
        let a = with_spectrum(&d, 5);
        d.sort_by(f64::total_cmp);
        let res = run(a.as_ref(), 5, Which::Smallest, &o);
        check(
            a.as_ref(),
            &res,
            &select(&d, 5, Which::Smallest),
            1e-10,
            0.0,
            Which::Smallest,
        );
    }

    #[test]
    fn lanczos_relu_kernel_vs_dense() {
        let n = 500;
        let a = relu_kernel(n, 8, 2, Par::Seq);
        let (vals, _) = dense_eigh(a.as_ref(), Par::Seq).unwrap();
        let o = EigshOptions {
            want_vectors: true,
            ..opts()
        };
        let res = run(a.as_ref(), 10, Which::Largest, &o);
        check(
            a.as_ref(),
            &res,
            &select(&vals, 10, Which::Largest),
            1e-10,
            1e-14,
            Which::Largest,
        );
        let res = run(a.as_ref(), 4, Which::Smallest, &o);
        check(
            a.as_ref(),
            &res,
            &select(&vals, 4, Which::Smallest),
            1e-8,
            1e-13,
            Which::Smallest,
        );
    }

    #[test]
    fn lanczos_rank_deficient_gram() {
        // G = X Xᵀ / d with rank d = 4: an invariant subspace is hit after one block.
        let n = 200;
        let a = random_psd(n, 4, 13);
        let (vals, _) = dense_eigh(a.as_ref(), Par::Seq).unwrap();
        let o = EigshOptions {
            want_vectors: true,
            ..opts()
        };
        for (k, which) in [
            (4, Which::Largest),
            (7, Which::Largest),
            (6, Which::Smallest),
        ] {
            let res = run(a.as_ref(), k, which, &o);
            check(
                a.as_ref(),
                &res,
                &select(&vals, k, which),
                1e-10,
                1e-14,
                which,
            );
        }
    }

    #[test]
    fn dense_operator_block_size_and_layouts() {
        // A kernel matrix through the symmetric (lower-triangle) product: column-major and
        // row-major views, the preferred narrow block and an explicit wide one, both ends.
        let a = relu_kernel(900, 6, 11, Par::Seq);
        let (vals, _) = dense_eigh(a.as_ref(), Par::Seq).unwrap();
        let at = a.transpose().to_owned();
        for par in [Par::Seq, Par::rayon(2)] {
            for (view, label) in [
                (a.as_ref(), "col-major"),
                (at.as_ref().transpose(), "row-major"),
            ] {
                let op = DenseSymmetric::new(view).unwrap();
                assert_eq!(op.preferred_block_size(10), Some(DENSE_BLOCK_SIZE));
                assert_eq!(op.preferred_block_size(2), Some(2));
                for (k, which, block) in [
                    (10, Which::Largest, None),
                    (10, Which::Largest, Some(10)),
                    (4, Which::Smallest, None),
                ] {
                    let o = EigshOptions {
                        par,
                        block_size: block,
                        want_vectors: true,
                        ..opts()
                    };
                    let res = eigsh(&op, k, which, &o, &never).unwrap();
                    assert!(!res.dense, "{label}");
                    let b = block.unwrap_or(k.min(DENSE_BLOCK_SIZE));
                    assert_eq!(res.matvecs, b * res.iterations, "{label} {which:?}");
                    check(
                        a.as_ref(),
                        &res,
                        &select(&vals, k, which),
                        1e-10,
                        1e-13,
                        which,
                    );
                }
            }
        }
    }

    #[test]
    fn lanczos_deterministic_and_parallel() {
        let a = random_symmetric(250, 3);
        let o = EigshOptions { seed: 42, ..opts() };
        let r1 = run(a.as_ref(), 5, Which::Largest, &o);
        let r2 = run(a.as_ref(), 5, Which::Largest, &o);
        assert_eq!(r1.values, r2.values);
        assert_eq!(r1.matvecs, r2.matvecs);
        let op = EigshOptions {
            par: Par::rayon(0),
            ..o.clone()
        };
        let r3 = run(a.as_ref(), 5, Which::Largest, &op);
        for (x, y) in r1.values.iter().zip(&r3.values) {
            assert!((x - y).abs() <= 1e-12 * x.abs());
        }
        let other = run(
            a.as_ref(),
            5,
            Which::Largest,
            &EigshOptions { seed: 7, ..o },
        );
        for (x, y) in r1.values.iter().zip(&other.values) {
            assert!((x - y).abs() <= 1e-10 * x.abs());
        }
    }

    /// A matrix-free diagonal operator (no dense view), counting its calls.
    struct DiagOp {
        d: Vec<f64>,
        calls: std::sync::atomic::AtomicUsize,
        nan_after: Option<usize>,
    }

    impl DiagOp {
        fn new(d: Vec<f64>) -> Self {
            Self {
                d,
                calls: 0.into(),
                nan_after: None,
            }
        }
    }

    impl SymmetricOperator for DiagOp {
        fn dim(&self) -> usize {
            self.d.len()
        }
        fn apply(&self, x: MatRef<'_, f64>, mut y: MatMut<'_, f64>, _par: Par) -> Result<()> {
            let calls = self
                .calls
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            for c in 0..x.ncols() {
                for r in 0..x.nrows() {
                    y[(r, c)] = self.d[r] * x[(r, c)];
                }
            }
            if self.nan_after.is_some_and(|m| calls >= m) {
                y[(0, 0)] = f64::NAN;
            }
            Ok(())
        }
    }

    #[test]
    fn matrix_free_operator_and_auto() {
        let n = 1000;
        let d: Vec<f64> = (0..n).map(|i| ((i * 7) % n) as f64 / n as f64).collect();
        let op = DiagOp::new(d.clone());
        let mut sorted = d.clone();
        sorted.sort_by(f64::total_cmp);
        let res = eigsh(&op, 4, Which::Largest, &opts(), &never).unwrap();
        assert!(!res.dense);
        for (g, w) in res.values.iter().zip(select(&sorted, 4, Which::Largest)) {
            assert!((g - w).abs() <= 1e-10 * w);
        }
        assert_eq!(
            res.iterations,
            op.calls.load(std::sync::atomic::Ordering::Relaxed)
        );
        // eigsh_auto: k > n/10 → dense (materialised through n products).
        let res = eigsh_auto(&op, 200, Which::Smallest, &opts(), &never).unwrap();
        assert!(res.dense);
        assert_eq!(res.matvecs, n);
        for (g, w) in res.values.iter().zip(select(&sorted, 200, Which::Smallest)) {
            assert!((g - w).abs() <= 1e-15, "{g} vs {w}");
        }
        // k == n is fine for eigsh_auto.
        let small = DiagOp::new(vec![3.0, 1.0, 2.0]);
        let res = eigsh_auto(&small, 3, Which::Largest, &opts(), &never).unwrap();
        for (g, w) in res.values.iter().zip([3.0, 2.0, 1.0]) {
            assert!((g - w).abs() <= 1e-14, "{g} vs {w}");
        }
        // Small k on a large operator → Lanczos for Largest, dense for Smallest.
        let res = eigsh_auto(&op, 3, Which::Largest, &opts(), &never).unwrap();
        assert!(!res.dense);
        let res = eigsh_auto(&op, 3, Which::Smallest, &opts(), &never).unwrap();
        assert!(res.dense);
        for (g, w) in res.values.iter().zip(select(&sorted, 3, Which::Smallest)) {
            assert!((g - w).abs() <= 1e-15, "{g} vs {w}");
        }
        // Dense operator, small n → dense without operator calls.
        let a = random_symmetric(100, 1);
        let dop = DenseSymmetric::new(a.as_ref()).unwrap();
        let res = eigsh_auto(&dop, 3, Which::Largest, &opts(), &never).unwrap();
        assert!(res.dense && res.matvecs == 0);
        let (vals, _) = dense_eigh(a.as_ref(), Par::Seq).unwrap();
        assert_eq!(res.values, select(&vals, 3, Which::Largest));
    }

    #[test]
    fn tiny_problem_falls_back_to_dense() {
        // n = 10, k = 4, b = 4: no Krylov space of dimension ≥ k + b fits beside a block.
        let a = random_symmetric(10, 2);
        let (vals, _) = dense_eigh(a.as_ref(), Par::Seq).unwrap();
        let o = EigshOptions {
            want_vectors: true,
            ..opts()
        };
        let res = run(a.as_ref(), 4, Which::Smallest, &o);
        assert!(res.dense);
        check(
            a.as_ref(),
            &res,
            &select(&vals, 4, Which::Smallest),
            1e-12,
            1e-14,
            Which::Smallest,
        );
    }

    #[test]
    fn invalid_arguments() {
        let a = random_symmetric(50, 1);
        let op = DenseSymmetric::new(a.as_ref()).unwrap();
        let bad = |k: usize, o: EigshOptions| eigsh(&op, k, Which::Largest, &o, &never);
        for k in [0, 50, 51] {
            match bad(k, opts()) {
                Err(NtkError::InvalidArgument(msg)) => {
                    if k >= 50 {
                        assert!(msg.contains("dense"), "{msg}");
                    }
                }
                other => panic!("k = {k}: {other:?}"),
            }
        }
        for tol in [0.0, -1e-8, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                bad(3, EigshOptions { tol, ..opts() }),
                Err(NtkError::InvalidArgument(_))
            ));
        }
        assert!(matches!(
            bad(
                3,
                EigshOptions {
                    block_size: Some(0),
                    ..opts()
                }
            ),
            Err(NtkError::InvalidArgument(_))
        ));
        assert!(matches!(
            bad(
                3,
                EigshOptions {
                    krylov_dim: Some(4),
                    ..opts()
                }
            ),
            Err(NtkError::InvalidArgument(_))
        ));
        assert!(matches!(
            eigsh_auto(&op, 51, Which::Largest, &opts(), &never),
            Err(NtkError::InvalidArgument(_))
        ));
        let r = Mat::<f64>::zeros(3, 4);
        assert!(matches!(
            DenseSymmetric::new(r.as_ref()),
            Err(NtkError::InvalidArgument(_))
        ));
        let empty = DiagOp::new(vec![]);
        assert!(matches!(
            eigsh(&empty, 1, Which::Largest, &opts(), &never),
            Err(NtkError::InvalidArgument(_))
        ));
    }

    #[test]
    fn check_symmetric_detects_asymmetry_and_nan() {
        let mut a = random_symmetric(70, 4);
        let op = DenseSymmetric::new(a.as_ref()).unwrap();
        op.check_symmetric(1e-12).unwrap();
        a[(60, 3)] += 1e-6;
        let op = DenseSymmetric::new(a.as_ref()).unwrap();
        assert!(matches!(
            op.check_symmetric(1e-12),
            Err(NtkError::InvalidArgument(_))
        ));
        a[(5, 5)] = f64::NAN;
        let op = DenseSymmetric::new(a.as_ref()).unwrap();
        assert!(matches!(
            op.check_symmetric(1e-12),
            Err(NtkError::NonFinite(_))
        ));
    }

    #[test]
    fn nan_from_operator_is_an_error() {
        let d: Vec<f64> = (0..500).map(|i| i as f64).collect();
        for after in [0, 3] {
            let mut op = DiagOp::new(d.clone());
            op.nan_after = Some(after);
            let r = eigsh(&op, 3, Which::Largest, &opts(), &never);
            assert!(matches!(r, Err(NtkError::NonFinite(_))), "{r:?}");
            let r = eigsh_auto(&op, 100, Which::Largest, &opts(), &never);
            assert!(matches!(r, Err(NtkError::NonFinite(_))), "{r:?}");
        }
        // NaN in a dense matrix: caught after the product, never a panic.
        let mut a = random_symmetric(100, 2);
        a[(10, 20)] = f64::NAN;
        let op = DenseSymmetric::new(a.as_ref()).unwrap();
        assert!(matches!(
            eigsh(&op, 2, Which::Smallest, &opts(), &never),
            Err(NtkError::NonFinite(_))
        ));
        assert!(matches!(
            eigsh_auto(&op, 2, Which::Smallest, &opts(), &never),
            Err(NtkError::NonFinite(_))
        ));
    }

    #[test]
    fn operator_errors_propagate() {
        struct Failing;
        impl SymmetricOperator for Failing {
            fn dim(&self) -> usize {
                100
            }
            fn apply(&self, _: MatRef<'_, f64>, _: MatMut<'_, f64>, _: Par) -> Result<()> {
                Err(NtkError::Domain("plugin failed".into()))
            }
        }
        assert_eq!(
            eigsh(&Failing, 2, Which::Largest, &opts(), &never).unwrap_err(),
            NtkError::Domain("plugin failed".into())
        );
    }

    #[test]
    fn cancel_returns_interrupted() {
        let a = random_symmetric(300, 6);
        let op = DenseSymmetric::new(a.as_ref()).unwrap();
        let r = eigsh(&op, 5, Which::Largest, &opts(), &|| true);
        assert_eq!(r.unwrap_err(), NtkError::Interrupted);
        // Cancel after a few polls: stops mid-run.
        let polls = Cell::new(0usize);
        let cancel = || {
            polls.set(polls.get() + 1);
            polls.get() > 3
        };
        let r = eigsh(&op, 5, Which::Smallest, &opts(), &cancel);
        assert_eq!(r.unwrap_err(), NtkError::Interrupted);
        assert_eq!(polls.get(), 4);
        // Dense fallback of a matrix-free operator also polls.
        let d = DiagOp::new((0..300).map(|i| i as f64).collect());
        let r = eigsh_auto(&d, 100, Which::Largest, &opts(), &|| true);
        assert_eq!(r.unwrap_err(), NtkError::Interrupted);
    }

    #[test]
    fn not_converged_reports_converged_values() {
        // Top eigenvalues 1, 1 − 1e-4, … above a dense bulk: one short cycle cannot resolve them.
        let n = 2000;
        let d: Vec<f64> = (0..n).map(|i| 1.0 - 1e-4 * i as f64 / 3.0).collect();
        let op = DiagOp::new(d);
        let o = EigshOptions {
            max_restarts: 0,
            krylov_dim: Some(12),
            block_size: Some(2),
            ..opts()
        };
        match eigsh(&op, 5, Which::Largest, &o, &never) {
            Err(NtkError::NotConverged { message, values }) => {
                assert!(message.contains("converged"), "{message}");
                assert!(values.len() < 5);
            }
            other => panic!("{other:?}"),
        }
        // With enough restarts the same problem converges.
        let o = EigshOptions {
            max_restarts: 100_000,
            ..o
        };
        let d2: Vec<f64> = (0..200).map(|i| 1.0 - 1e-2 * i as f64).collect();
        let op = DiagOp::new(d2);
        let res = eigsh(&op, 5, Which::Largest, &o, &never).unwrap();
        for (i, v) in res.values.iter().enumerate() {
            assert!((v - (1.0 - 1e-2 * i as f64)).abs() < 1e-10);
        }
    }

    /// Release timing (not a test of speed): `cargo test --release -p ntk-core --lib
    /// lanczos::tests::timing -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn timing() {
        use std::time::Instant;
        let par = Par::rayon(0);
        let t = Instant::now();
        // NTK_MATRIX=path: a raw little-endian f64 symmetric matrix (e.g. `K.tofile(path)`).
        let a = match std::env::var("NTK_MATRIX") {
            Ok(path) => crate::symmetric_product::tests::load_raw_matrix(&path),
            Err(_) => relu_kernel(8000, 64, 1, Par::rayon(0)),
        };
        let n = a.nrows();
        println!("built {n}×{n} kernel in {:.2}s", t.elapsed().as_secs_f64());
        /// Accumulates the time spent in the operator.
        struct Timed<'a>(DenseSymmetric<'a>, std::sync::Mutex<f64>);
        impl SymmetricOperator for Timed<'_> {
            fn dim(&self) -> usize {
                self.0.dim()
            }
            fn apply(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>, par: Par) -> Result<()> {
                let t = Instant::now();
                let r = self.0.apply(x, y, par);
                *self.1.lock().unwrap() += t.elapsed().as_secs_f64();
                r
            }
            fn preferred_block_size(&self, k: usize) -> Option<usize> {
                self.0.preferred_block_size(k)
            }
        }
        let op = Timed(
            DenseSymmetric::new(a.as_ref()).unwrap(),
            std::sync::Mutex::new(0.0),
        );
        // NTK_CFGS="k,b,m;…" (empty b/m = default) selects configurations to time.
        let cfgs: Vec<(usize, Option<usize>, Option<usize>)> = std::env::var("NTK_CFGS")
            .ok()
            .map(|s| {
                s.split(';')
                    .map(|c| {
                        let mut it = c.split(',').map(|x| x.parse::<usize>().ok());
                        let k = it.next().flatten().unwrap_or(10);
                        (k, it.next().flatten(), it.next().flatten())
                    })
                    .collect()
            })
            .unwrap_or(vec![(10, None, None)]);
        for (k, b, m) in cfgs {
            let o = EigshOptions {
                par,
                block_size: b,
                krylov_dim: m,
                ..EigshOptions::default()
            };
            *op.1.lock().unwrap() = 0.0;
            let t = Instant::now();
            let res = eigsh(&op, k, Which::Largest, &o, &never).unwrap();
            println!(
                "top-{k} n={n} block={b:?} m={m:?}: {:.3}s (operator {:.3}s), {} calls, {} matvecs, {} restarts, λ1={:.12e} λk={:.12e}",
                t.elapsed().as_secs_f64(),
                *op.1.lock().unwrap(),
                res.iterations,
                res.matvecs,
                res.restarts,
                res.values[0],
                res.values[k - 1]
            );
        }
        if std::env::var("NTK_SKIP_DENSE").is_ok() {
            return;
        }
        let n = 4000;
        let a = relu_kernel(n, 64, 2, Par::rayon(0));
        let t = Instant::now();
        let vals = dense_eigvalsh(a.as_ref(), par).unwrap();
        println!(
            "dense_eigvalsh n={n}: {:.3}s (λmax={:.6e})",
            t.elapsed().as_secs_f64(),
            vals[n - 1]
        );
        let t = Instant::now();
        let (vals, _) = dense_eigh(a.as_ref(), par).unwrap();
        println!(
            "dense_eigh (vectors) n={n}: {:.3}s (λmax={:.6e})",
            t.elapsed().as_secs_f64(),
            vals[n - 1]
        );
    }
}
