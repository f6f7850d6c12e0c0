//! Symmetric linear operators for the eigensolvers (DESIGN.md §1.5).
//!
//! An operator is a symmetric map `A: ℝⁿ → ℝⁿ` that the solvers only ever use through
//! products `Y = A·X` with a *block* `X ∈ ℝ^{n×b}` of column vectors. Blocks let a
//! matrix-free Gram operator (which recomputes `K_ij` on the fly) amortise one pass over the
//! kernel over `b` vectors, and let a dense operator use GEMM instead of `b` GEMVs.
use faer::linalg::matmul::matmul;
use faer::reborrow::ReborrowMut;
use faer::{Accum, MatMut, MatRef, Par};

use crate::error::{NtkError, Result};
use crate::symmetric_product::symm_matmul_lower;

/// A symmetric linear operator `A = Aᵀ ∈ ℝ^{n×n}` applied to blocks of vectors.
///
/// Implementors must be `Sync` (the solver may call them from a rayon pool) and must be
/// symmetric: the eigensolvers rely on `xᵀ(Ay) = (Ax)ᵀy` and give meaningless results
/// otherwise.
pub trait SymmetricOperator: Sync {
    /// The dimension `n` of the operator.
    fn dim(&self) -> usize;

    /// Computes `Y ← A·X` for a block `X ∈ ℝ^{n×b}`, writing every entry of `Y ∈ ℝ^{n×b}`
    /// (its previous content is unspecified and must be overwritten, not accumulated).
    ///
    /// `par` is the parallelism the caller grants; implementations should use it for their
    /// own kernels instead of a global setting. Errors (e.g. a plugin failing inside a
    /// matrix-free kernel) are propagated unchanged by the solvers.
    fn apply(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>, par: Par) -> Result<()>;

    /// The block size `b` the solvers should use for `k` wanted eigenpairs when the caller
    /// does not choose one; `None` (the default) leaves the solver's own choice
    /// (`min(k, 16)`).
    ///
    /// Operators whose cost per product barely grows with `b` (a matrix-free Gram recomputes
    /// the kernel once per product, whatever the width) want wide blocks: fewer products.
    /// Operators whose cost per vector is flat want `b = 1`. A dense matrix is in between:
    /// see [`DenseSymmetric`].
    fn preferred_block_size(&self, k: usize) -> Option<usize> {
        let _ = k;
        None
    }

    /// The operator as an explicit dense matrix, when it already is one.
    ///
    /// [`crate::lanczos::eigsh_auto`] uses this to run the dense eigensolver without
    /// materialising the matrix through `n` operator applications. The default is `None`.
    fn as_dense(&self) -> Option<MatRef<'_, f64>> {
        None
    }
}

/// Block size preferred by [`DenseSymmetric`] for `k ≥` this many wanted eigenpairs.
pub const DENSE_BLOCK_SIZE: usize = 5;

/// A dense symmetric matrix `A ∈ ℝ^{n×n}` viewed as a [`SymmetricOperator`].
///
/// `apply` computes `Y = A·X` with [`symm_matmul_lower`], which streams only the **lower
/// triangle** once per product (half the memory traffic of a GEMV/GEMM, and no packing), so
/// the upper triangle is never read: the operator is `tril(A) + tril(A, −1)ᵀ` (for a
/// row-major view, the lower triangle of `Aᵀ`, i.e. the storage's upper one). Matrices
/// without a unit stride in either direction fall back to faer's GEMM over the whole matrix.
/// The solvers still reject a NaN/∞ anywhere in the matrix (one check per solve).
///
/// A product is memory bound up to a block width of about 6, so products of width `b ≤ 6`
/// cost about the same as a single matrix–vector product: the preferred block size is
/// `min(k, `[`DENSE_BLOCK_SIZE`]`)` — a compromise between the number of passes over the
/// matrix (which falls with `b`) and the flops per pass (which grow with `b`).
///
/// Symmetry is assumed, not enforced, by [`DenseSymmetric::new`] (checking costs a full
/// transposed pass over the matrix); call [`DenseSymmetric::check_symmetric`] to verify it.
#[derive(Debug, Clone, Copy)]
pub struct DenseSymmetric<'a> {
    a: MatRef<'a, f64>,
}

impl<'a> DenseSymmetric<'a> {
    /// Wraps a square matrix. Fails with [`NtkError::InvalidArgument`] if `a` is not square.
    pub fn new(a: MatRef<'a, f64>) -> Result<Self> {
        if a.nrows() != a.ncols() {
            return Err(NtkError::InvalidArgument(format!(
                "a symmetric operator needs a square matrix, got {}×{}",
                a.nrows(),
                a.ncols()
            )));
        }
        Ok(Self { a })
    }

    /// The wrapped matrix.
    pub fn matrix(&self) -> MatRef<'a, f64> {
        self.a
    }

    /// Verifies that every entry is finite and that
    /// `max_ij |a_ij − a_ji| ≤ rel_tol · max_ij |a_ij|`.
    ///
    /// Returns [`NtkError::NonFinite`] naming the first non-finite entry, or
    /// [`NtkError::InvalidArgument`] reporting the largest asymmetry found.
    pub fn check_symmetric(&self, rel_tol: f64) -> Result<()> {
        let a = self.a;
        let n = a.nrows();
        let mut max_abs = 0.0f64;
        for j in 0..n {
            for i in 0..n {
                let v = a[(i, j)];
                if !v.is_finite() {
                    return Err(NtkError::NonFinite(format!(
                        "matrix entry ({i}, {j}) is {v}; the operator must be finite"
                    )));
                }
                max_abs = max_abs.max(v.abs());
            }
        }
        // Compare tiles of the strict lower triangle with the mirrored tiles (cache friendly).
        const TILE: usize = 64;
        let mut max_defect = 0.0f64;
        for jb in (0..n).step_by(TILE) {
            for ib in (jb..n).step_by(TILE) {
                for j in jb..(jb + TILE).min(n) {
                    for i in ib.max(j + 1)..(ib + TILE).min(n) {
                        max_defect = max_defect.max((a[(i, j)] - a[(j, i)]).abs());
                    }
                }
            }
        }
        if max_defect > rel_tol * max_abs {
            return Err(NtkError::InvalidArgument(format!(
                "matrix is not symmetric: max |a_ij - a_ji| = {max_defect:e} > {rel_tol:e} · max |a_ij| = {:e}",
                rel_tol * max_abs
            )));
        }
        Ok(())
    }
}

impl SymmetricOperator for DenseSymmetric<'_> {
    fn dim(&self) -> usize {
        self.a.nrows()
    }

    fn apply(&self, x: MatRef<'_, f64>, mut y: MatMut<'_, f64>, par: Par) -> Result<()> {
        let n = self.a.nrows();
        if x.nrows() != n || y.nrows() != n || x.ncols() != y.ncols() {
            return Err(NtkError::InvalidArgument(format!(
                "operator of dimension {n} applied to a {}×{} block with a {}×{} output",
                x.nrows(),
                x.ncols(),
                y.nrows(),
                y.ncols()
            )));
        }
        if !symm_matmul_lower(self.a, x, y.rb_mut(), par) {
            matmul(y, Accum::Replace, self.a, x, 1.0, par);
        }
        Ok(())
    }

    fn preferred_block_size(&self, k: usize) -> Option<usize> {
        Some(k.clamp(1, DENSE_BLOCK_SIZE))
    }

    fn as_dense(&self) -> Option<MatRef<'_, f64>> {
        Some(self.a)
    }
}
