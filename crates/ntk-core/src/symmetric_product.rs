//! Block products `Y = A·X` with a dense **symmetric** `A` that read only its lower triangle.
//!
//! A product of a dense `n×n` matrix with a thin block `X ∈ ℝ^{n×b}` (`b ≲ 16`) is bound by
//! memory bandwidth: every entry of `A` is used for only `2b` flops. A general GEMM also
//! packs `A` into its own layout first, so it reads `A` about twice and writes it once.
//! [`symm_matmul_lower`] instead streams the lower triangle straight from memory, once, and
//! uses each tile `A_IJ` (`I > J`) twice while it is in registers:
//!
//! ```text
//!     Y_I += A_IJ · X_J        Y_J += A_IJᵀ · X_I
//! ```
//!
//! which halves the traffic of even a perfect GEMM. Rows of `X` and `Y` are stored in an
//! interleaved layout (`L` rows × `B` columns per chunk, `L` the SIMD width) so that a row
//! tile of `X` and of the accumulator `Y` stays in L1 while a panel of columns of `A` streams
//! past; each worker thread owns an accumulator `Y` (the tiles of a column panel update rows
//! all over `Y`), and the per-thread accumulators are summed at the end.
//!
//! SIMD: an AVX2+FMA kernel chosen at run time on x86-64, a portable scalar kernel
//! otherwise. (An AVX-512 variant was measured only ~10% faster at `b = 5` and equal for
//! `b ≤ 3`, where the product is memory bound; its intrinsics need Rust 1.89, above the
//! workspace's MSRV.) The summation order differs from a GEMM's, so results agree with `A·X` to
//! rounding (`O(n·ε·|A||X|)` per entry), not bit for bit; they are deterministic for a given
//! `Par`.
use faer::reborrow::ReborrowMut;
use faer::{MatMut, MatRef, Par};

/// Widths `B` with a compiled kernel; other widths are padded with zero columns.
const WIDTHS: [usize; 10] = [1, 2, 3, 4, 5, 6, 8, 10, 12, 16];

/// Computes `Y ← A·X` for a symmetric `A ∈ ℝ^{n×n}`, reading only the **lower triangle** of
/// `A` (the strict upper triangle is taken to be its mirror image and is never touched).
///
/// `A` must have unit row stride and a positive column stride (column major), or the
/// transpose of that (row major; then the *upper* triangle of the storage is read, which is
/// the lower triangle of `Aᵀ = A`).
/// Returns `false` (and does nothing) for any other layout, so the caller can fall back to a
/// general GEMM. `X` and `Y` may have any strides. Blocks wider than 16 columns are
/// processed in chunks of at most 16 (one pass over `A` each).
///
/// # Panics
/// If the shapes do not match (`A` square `n×n`, `X` and `Y` both `n×b`).
pub fn symm_matmul_lower(
    a: MatRef<'_, f64>,
    x: MatRef<'_, f64>,
    mut y: MatMut<'_, f64>,
    par: Par,
) -> bool {
    let n = a.nrows();
    assert!(
        a.ncols() == n && x.nrows() == n && y.nrows() == n && x.ncols() == y.ncols(),
        "symm_matmul_lower: shape mismatch"
    );
    let a = if a.row_stride() == 1 {
        a
    } else if a.col_stride() == 1 {
        a.transpose()
    } else {
        return false;
    };
    if n > 1 && a.col_stride() <= 0 {
        // Reversed or degenerate column order: not worth a kernel of its own.
        return false;
    }
    let b = x.ncols();
    if n == 0 || b == 0 {
        return true;
    }
    let lda = if n == 1 { 1 } else { a.col_stride() as usize };
    // SAFETY: `a` is an n×n view with unit row stride and column stride `lda`, so
    // `a_ptr + i + j·lda` is in bounds for all i, j < n.
    let a_ptr = a.as_ptr();
    let chunks = b.div_ceil(16);
    let mut start = 0;
    for c in 0..chunks {
        let w = (b - start).div_ceil(chunks - c);
        let bw = *WIDTHS.iter().find(|&&v| v >= w).expect("w ≤ 16");
        let src = Src { a: a_ptr, lda, n };
        dispatch(
            &src,
            x.subcols(start, w),
            y.rb_mut().subcols_mut(start, w),
            bw,
            par,
        );
        start += w;
    }
    true
}

/// The matrix as a raw pointer (column major, lower triangle read).
#[derive(Clone, Copy)]
struct Src {
    a: *const f64,
    lda: usize,
    n: usize,
}

// SAFETY: `Src` is only read (never written through) while the borrowed `MatRef` it was
// built from is alive, for the duration of `symm_matmul_lower`.
unsafe impl Send for Src {}
unsafe impl Sync for Src {}

fn dispatch(src: &Src, x: MatRef<'_, f64>, y: MatMut<'_, f64>, bw: usize, par: Par) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return dispatch_width::<x86::Avx2>(src, x, y, bw, par);
        }
    }
    dispatch_width::<Scalar>(src, x, y, bw, par)
}

fn dispatch_width<S: Simd>(src: &Src, x: MatRef<'_, f64>, y: MatMut<'_, f64>, bw: usize, par: Par) {
    match bw {
        1 => run::<S, 1>(src, x, y, par),
        2 => run::<S, 2>(src, x, y, par),
        3 => run::<S, 3>(src, x, y, par),
        4 => run::<S, 4>(src, x, y, par),
        5 => run::<S, 5>(src, x, y, par),
        6 => run::<S, 6>(src, x, y, par),
        8 => run::<S, 8>(src, x, y, par),
        10 => run::<S, 10>(src, x, y, par),
        12 => run::<S, 12>(src, x, y, par),
        16 => run::<S, 16>(src, x, y, par),
        _ => unreachable!("unsupported width {bw}"),
    }
}

/// Index of `(row, col)` in the interleaved layout: chunks of `L` rows, each holding `B`
/// columns of `L` consecutive values.
#[inline(always)]
fn idx<const L: usize, const B: usize>(r: usize, c: usize) -> usize {
    (r / L) * (B * L) + c * L + r % L
}

/// Rows per tile of `X`/`Y` kept in L1 (`2·T·B·8` bytes ≈ 24 KiB) and columns per panel.
fn tile_sizes(l: usize, b: usize) -> (usize, usize) {
    let ti = ((1536 / b).max(64) / l * l).max(l);
    (ti, 256)
}

fn run<S: Simd, const B: usize>(src: &Src, x: MatRef<'_, f64>, mut y: MatMut<'_, f64>, par: Par) {
    let n = src.n;
    let w = x.ncols();
    let l = S::L;
    let npad = n.div_ceil(l) * l;
    // Pack X (zero padding rows/columns).
    let mut xp = vec![0.0f64; npad * B];
    for c in 0..w {
        for r in 0..n {
            xp[idx_dyn(l, B, r, c)] = x[(r, c)];
        }
    }
    let (ti, tj) = tile_sizes(l, B);
    let panels = n.div_ceil(tj);
    let threads = match par {
        Par::Seq => 1,
        Par::Rayon(t) => t.get(),
    };
    // Contiguous ranges of panels of about equal area (work ∝ rows below the panel).
    let parts = if threads <= 1 {
        1
    } else {
        (2 * threads).min(panels)
    };
    let area = |p: usize| -> usize {
        let j0 = p * tj;
        let j1 = (j0 + tj).min(n);
        (j1 - j0) * (n - j0)
    };
    let total: usize = (0..panels).map(area).sum();
    let mut bounds = vec![0usize];
    let mut acc = 0usize;
    for p in 0..panels {
        acc += area(p);
        let target = bounds.len() * total / parts;
        if acc >= target && bounds.len() < parts && p + 1 < panels {
            bounds.push(p + 1);
        }
    }
    bounds.push(panels);
    let ranges: Vec<(usize, usize)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();

    let work = |&(p0, p1): &(usize, usize)| -> Vec<f64> {
        let mut yp = vec![0.0f64; npad * B];
        for p in p0..p1 {
            let j0 = p * tj;
            let j1 = (j0 + tj).min(n);
            // SAFETY: all indices stay below n (rows, columns of A) and npad·B (buffers).
            unsafe { S::panel::<B>(src, &xp, &mut yp, j0, j1, ti) };
        }
        yp
    };
    let results: Vec<Vec<f64>> = if ranges.len() == 1 {
        ranges.iter().map(work).collect()
    } else {
        use rayon::prelude::*;
        ranges.par_iter().map(work).collect()
    };
    for c in 0..w {
        for r in 0..n {
            let i = idx_dyn(l, B, r, c);
            y[(r, c)] = results.iter().map(|v| v[i]).sum();
        }
    }
}

#[inline(always)]
fn idx_dyn(l: usize, b: usize, r: usize, c: usize) -> usize {
    (r / l) * (b * l) + c * l + r % l
}

/// A SIMD vector of `L` doubles. All methods are `unsafe`: they may only be called where
/// the instruction set is available (checked in [`dispatch`]) and with valid pointers.
trait Simd: Sized {
    const L: usize;

    /// Processes the lower-triangular part of the column panel `j0..j1`: every tile
    /// `A[i0..i1, j0..j1]` with rows `i ≥ j0`, as `Y_I += A_IJ X_J`, `Y_J += A_IJᵀ X_I`, the
    /// diagonal entries once.
    ///
    /// # Safety
    /// The instruction set of `Self` is available; `src` is a valid matrix; `xp`, `yp` hold
    /// `⌈n/L⌉·L·B` values.
    unsafe fn panel<const B: usize>(
        src: &Src,
        xp: &[f64],
        yp: &mut [f64],
        j0: usize,
        j1: usize,
        ti: usize,
    );
}

/// Shared body of the panel sweep, generic over the vector operations.
///
/// Columns are processed in pairs when `$pair` (the rows of `Y` are then loaded and stored
/// once per two columns of `A`), otherwise one at a time.
macro_rules! panel_body {
    ($L:expr, $V:ty, $zero:expr, $splat:expr, $load:expr, $store:expr, $fma:expr, $hsum:expr,
     $prefetch:expr, $src:ident, $xp:ident, $yp:ident, $j0:ident, $j1:ident, $ti:ident,
     $B:ident, $pair:expr) => {{
        const L: usize = $L;
        let n = $src.n;
        let lda = $src.lda;
        let a = $src.a;
        let xb = $xp.as_ptr();
        let yb = $yp.as_mut_ptr();
        // Diagonal entries.
        for j in $j0..$j1 {
            let ajj = *a.add(j + j * lda);
            for c in 0..$B {
                *yb.add(idx::<L, $B>(j, c)) += ajj * *xb.add(idx::<L, $B>(j, c));
            }
        }
        // Scalar update of rows r0..r1 of one column (x row j in `xj`), dots into `dot`.
        macro_rules! scalar_rows {
            ($col:expr, $r0:expr, $r1:expr, $xj:expr, $dot:expr) => {
                for r in $r0..$r1 {
                    let av = *$col.add(r);
                    for c in 0..$B {
                        let k = idx::<L, $B>(r, c);
                        *yb.add(k) += av * $xj[c];
                        $dot[c] += av * *xb.add(k);
                    }
                }
            };
        }
        let mut i0 = $j0;
        while i0 < n {
            let i1 = (i0 + $ti).min(n);
            let mut j = $j0;
            while j < $j1 {
                if $pair && j + 1 < $j1 {
                    // Columns j and j + 1 together, rows max(i0, j+2)..i1; the entry
                    // (j+1, j) separately.
                    let col0 = a.add(j * lda);
                    let col1 = a.add((j + 1) * lda);
                    let mut xj0 = [0.0f64; $B];
                    let mut xj1 = [0.0f64; $B];
                    for c in 0..$B {
                        xj0[c] = *xb.add(idx::<L, $B>(j, c));
                        xj1[c] = *xb.add(idx::<L, $B>(j + 1, c));
                    }
                    let mut dot0 = [0.0f64; $B];
                    let mut dot1 = [0.0f64; $B];
                    if i0 <= j + 1 && j + 1 < i1 {
                        scalar_rows!(col0, j + 1, j + 2, xj0, dot0);
                    }
                    let r0 = i0.max(j + 2);
                    if r0 < i1 {
                        let head_end = r0.next_multiple_of(L).min(i1);
                        scalar_rows!(col0, r0, head_end, xj0, dot0);
                        scalar_rows!(col1, r0, head_end, xj1, dot1);
                        let mut r = head_end;
                        if r + L <= i1 {
                            let mut b0: [$V; $B] = [$zero; $B];
                            let mut b1: [$V; $B] = [$zero; $B];
                            let mut acc0: [$V; $B] = [$zero; $B];
                            let mut acc1: [$V; $B] = [$zero; $B];
                            for c in 0..$B {
                                b0[c] = $splat(xj0[c]);
                                b1[c] = $splat(xj1[c]);
                            }
                            // Software prefetch of the next pair of columns (same rows): the
                            // segments are too short for the hardware prefetchers to ramp up,
                            // and this alone halves the time of a product.
                            let pf = if j + 3 < $j1 { 2 * lda } else { 0 };
                            while r + L <= i1 {
                                let a0 = $load(col0.add(r));
                                let a1 = $load(col1.add(r));
                                if pf != 0 {
                                    $prefetch(col0.add(r + pf));
                                    $prefetch(col1.add(r + pf));
                                }
                                let base = (r / L) * ($B * L);
                                let xc = xb.add(base);
                                let yc = yb.add(base);
                                for c in 0..$B {
                                    let yv = $load(yc.add(c * L));
                                    let yv = $fma(a0, b0[c], yv);
                                    $store(yc.add(c * L), $fma(a1, b1[c], yv));
                                    let xv = $load(xc.add(c * L));
                                    acc0[c] = $fma(a0, xv, acc0[c]);
                                    acc1[c] = $fma(a1, xv, acc1[c]);
                                }
                                r += L;
                            }
                            for c in 0..$B {
                                dot0[c] += $hsum(acc0[c]);
                                dot1[c] += $hsum(acc1[c]);
                            }
                        }
                        scalar_rows!(col0, r, i1, xj0, dot0);
                        scalar_rows!(col1, r, i1, xj1, dot1);
                    }
                    for c in 0..$B {
                        *yb.add(idx::<L, $B>(j, c)) += dot0[c];
                        *yb.add(idx::<L, $B>(j + 1, c)) += dot1[c];
                    }
                    j += 2;
                    continue;
                }
                // Strictly below the diagonal: rows max(i0, j+1)..i1 of column j.
                let r0 = i0.max(j + 1);
                if r0 < i1 {
                    let col = a.add(j * lda);
                    let mut xj = [0.0f64; $B];
                    for c in 0..$B {
                        xj[c] = *xb.add(idx::<L, $B>(j, c));
                    }
                    let mut dot = [0.0f64; $B];
                    let head_end = r0.next_multiple_of(L).min(i1);
                    scalar_rows!(col, r0, head_end, xj, dot);
                    let mut r = head_end;
                    if r + L <= i1 {
                        let mut bj: [$V; $B] = [$zero; $B];
                        let mut acc: [$V; $B] = [$zero; $B];
                        for c in 0..$B {
                            bj[c] = $splat(xj[c]);
                        }
                        let pf = if j + 1 < $j1 { lda } else { 0 };
                        while r + L <= i1 {
                            let av = $load(col.add(r));
                            if pf != 0 {
                                $prefetch(col.add(r + pf));
                            }
                            let base = (r / L) * ($B * L);
                            let xc = xb.add(base);
                            let yc = yb.add(base);
                            for c in 0..$B {
                                let yv = $load(yc.add(c * L));
                                $store(yc.add(c * L), $fma(av, bj[c], yv));
                                acc[c] = $fma(av, $load(xc.add(c * L)), acc[c]);
                            }
                            r += L;
                        }
                        for c in 0..$B {
                            dot[c] += $hsum(acc[c]);
                        }
                    }
                    scalar_rows!(col, r, i1, xj, dot);
                    for c in 0..$B {
                        *yb.add(idx::<L, $B>(j, c)) += dot[c];
                    }
                }
                j += 1;
            }
            i0 = i1;
        }
    }};
}

/// Whether columns are processed in pairs for width `b` (rows of `Y` loaded and stored once
/// per two columns of `A`). Beyond a few columns the `2b` accumulators no longer fit in the
/// 16 AVX2 registers and spill, but the measured time per product at `b ≤ 12` is still no
/// worse than one column at a time; wider blocks use single columns.
const fn pair_columns(b: usize) -> bool {
    b <= 12
}

/// Portable fallback (one lane).
struct Scalar;

impl Simd for Scalar {
    const L: usize = 1;

    unsafe fn panel<const B: usize>(
        src: &Src,
        xp: &[f64],
        yp: &mut [f64],
        j0: usize,
        j1: usize,
        ti: usize,
    ) {
        // SAFETY: forwarded from the caller.
        unsafe {
            panel_body!(
                1,
                f64,
                0.0,
                |v: f64| v,
                |p: *const f64| *p,
                |p: *mut f64, v: f64| *p = v,
                |a: f64, b: f64, c: f64| a * b + c,
                |v: f64| v,
                |_p: *const f64| {},
                src,
                xp,
                yp,
                j0,
                j1,
                ti,
                B,
                pair_columns(B)
            )
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{idx, Simd, Src};
    use std::arch::x86_64::*;

    pub struct Avx2;

    #[target_feature(enable = "avx2,fma")]
    unsafe fn panel_avx2<const B: usize>(
        src: &Src,
        xp: &[f64],
        yp: &mut [f64],
        j0: usize,
        j1: usize,
        ti: usize,
    ) {
        #[inline(always)]
        unsafe fn hsum(v: __m256d) -> f64 {
            let lo = _mm256_castpd256_pd128(v);
            let hi = _mm256_extractf128_pd::<1>(v);
            let s = _mm_add_pd(lo, hi);
            _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)))
        }
        panel_body!(
            4,
            __m256d,
            _mm256_setzero_pd(),
            |v: f64| _mm256_set1_pd(v),
            |p: *const f64| _mm256_loadu_pd(p),
            |p: *mut f64, v: __m256d| _mm256_storeu_pd(p, v),
            |a: __m256d, b: __m256d, c: __m256d| _mm256_fmadd_pd(a, b, c),
            |v: __m256d| hsum(v),
            |p: *const f64| _mm_prefetch::<_MM_HINT_T0>(p as *const i8),
            src,
            xp,
            yp,
            j0,
            j1,
            ti,
            B,
            super::pair_columns(B)
        )
    }

    impl Simd for Avx2 {
        const L: usize = 4;
        unsafe fn panel<const B: usize>(
            src: &Src,
            xp: &[f64],
            yp: &mut [f64],
            j0: usize,
            j1: usize,
            ti: usize,
        ) {
            // SAFETY: AVX2 and FMA were detected by the dispatcher; the rest is the caller's.
            unsafe { panel_avx2::<B>(src, xp, yp, j0, j1, ti) }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use faer::linalg::matmul::matmul;
    use faer::{Accum, Mat};

    /// A square matrix stored as raw little-endian doubles in row order (NumPy's
    /// `K.tofile(path)`), for the ignored timing tests run against a real Gram.
    pub(crate) fn load_raw_matrix(path: &str) -> Mat<f64> {
        let bytes = std::fs::read(path).unwrap();
        let data: Vec<f64> = bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        let n = (data.len() as f64).sqrt().round() as usize;
        assert_eq!(n * n, data.len(), "{path} does not hold a square matrix");
        Mat::from_fn(n, n, |i, j| data[i * n + j])
    }

    fn lcg(seed: u64) -> impl FnMut() -> f64 {
        let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        move || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64) / (1u64 << 53) as f64 - 0.5
        }
    }

    fn sym(n: usize, seed: u64) -> Mat<f64> {
        let mut g = lcg(seed);
        let mut a = Mat::from_fn(n, n, |_, _| g());
        for j in 0..n {
            for i in j + 1..n {
                a[(j, i)] = a[(i, j)];
            }
        }
        a
    }

    fn check_all_kernels(n: usize, b: usize, par: Par) {
        let a = sym(n, n as u64 * 31 + b as u64);
        let mut g = lcg(7 + b as u64);
        let x = Mat::from_fn(n, b, |_, _| g());
        let mut want = Mat::<f64>::zeros(n, b);
        matmul(
            want.as_mut(),
            Accum::Replace,
            a.as_ref(),
            x.as_ref(),
            1.0,
            Par::Seq,
        );
        let scale = (n as f64).max(1.0) * f64::EPSILON * 4.0;
        let cmp = |got: &Mat<f64>, what: &str| {
            for c in 0..b {
                for r in 0..n {
                    let (u, v) = (got[(r, c)], want[(r, c)]);
                    assert!(
                        (u - v).abs() <= scale,
                        "{what} n={n} b={b} ({r},{c}): {u} vs {v}"
                    );
                }
            }
        };
        // Column-major and row-major storage, through the public entry (best ISA).
        let mut y = Mat::<f64>::from_fn(n, b, |_, _| f64::NAN);
        assert!(symm_matmul_lower(a.as_ref(), x.as_ref(), y.as_mut(), par));
        cmp(&y, "col-major");
        let mut y = Mat::<f64>::from_fn(n, b, |_, _| f64::NAN);
        assert!(symm_matmul_lower(
            a.as_ref().transpose(),
            x.as_ref(),
            y.as_mut(),
            par
        ));
        cmp(&y, "row-major");
        // Only the lower triangle is read: garbage above the diagonal changes nothing.
        let mut a2 = a.clone();
        for j in 0..n {
            for i in 0..j {
                a2[(i, j)] = f64::NAN;
            }
        }
        let mut y = Mat::<f64>::zeros(n, b);
        symm_matmul_lower(a2.as_ref(), x.as_ref(), y.as_mut(), par);
        cmp(&y, "lower only");
        // Every kernel explicitly.
        let src = Src {
            a: a.as_ptr(),
            lda: a.col_stride() as usize,
            n,
        };
        let bw = *WIDTHS.iter().find(|&&v| v >= b.min(16)).unwrap();
        if b <= 16 {
            let mut y = Mat::<f64>::zeros(n, b);
            dispatch_width::<Scalar>(&src, x.as_ref(), y.as_mut(), bw, par);
            cmp(&y, "scalar");
            #[cfg(target_arch = "x86_64")]
            {
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    let mut y = Mat::<f64>::zeros(n, b);
                    dispatch_width::<x86::Avx2>(&src, x.as_ref(), y.as_mut(), bw, par);
                    cmp(&y, "avx2");
                }
            }
        }
    }

    #[test]
    fn symm_matches_gemm() {
        for &n in &[1usize, 2, 3, 7, 8, 9, 31, 64, 257, 700] {
            for &b in &[1usize, 2, 3, 5, 10, 16, 17, 33] {
                check_all_kernels(n, b, Par::Seq);
            }
        }
        for &b in &[1usize, 4, 10] {
            check_all_kernels(1100, b, Par::rayon(2));
        }
    }

    #[test]
    fn strided_layout_is_refused() {
        let a = sym(6, 1);
        let x = Mat::<f64>::zeros(3, 1);
        let mut y = Mat::<f64>::zeros(3, 1);
        let view = a.as_ref().submatrix(0, 0, 3, 3);
        assert!(symm_matmul_lower(view, x.as_ref(), y.as_mut(), Par::Seq));
        // Every other row and column: no unit stride.
        let strided = unsafe { MatRef::from_raw_parts(a.as_ptr(), 3, 3, 2, 2 * a.col_stride()) };
        assert!(!symm_matmul_lower(
            strided,
            x.as_ref(),
            y.as_mut(),
            Par::Seq
        ));
        // Reversed columns: refused too.
        assert!(!symm_matmul_lower(
            view.reverse_cols(),
            x.as_ref(),
            y.as_mut(),
            Par::Seq
        ));
    }

    /// Release timing, not a test: `[NTK_MATRIX=/path/raw_f64] cargo test --release -p
    /// ntk-core --lib symmetric_product::tests::timing -- --ignored --nocapture` (the file
    /// holds a symmetric matrix as raw little-endian doubles, e.g. NumPy's `K.tofile(path)`).
    #[test]
    #[ignore]
    fn timing() {
        use std::time::Instant;
        let a = match std::env::var("NTK_MATRIX") {
            Ok(path) => load_raw_matrix(&path),
            Err(_) => sym(8000, 1),
        };
        let n = a.nrows();
        let par = Par::rayon(0);
        let best = |f: &mut dyn FnMut()| {
            let mut t = f64::INFINITY;
            for _ in 0..7 {
                let s = Instant::now();
                f();
                t = t.min(s.elapsed().as_secs_f64());
            }
            t * 1e3
        };
        for b in [1usize, 2, 3, 4, 5, 6, 8, 10] {
            let mut g = lcg(b as u64);
            let x = Mat::from_fn(n, b, |_, _| g());
            let mut y = Mat::<f64>::zeros(n, b);
            let t_gemm = best(&mut || {
                faer::linalg::matmul::matmul(
                    y.as_mut(),
                    Accum::Replace,
                    a.as_ref(),
                    x.as_ref(),
                    1.0,
                    par,
                )
            });
            let mut z = Mat::<f64>::zeros(n, b);
            let t_symm = best(&mut || {
                symm_matmul_lower(a.as_ref(), x.as_ref(), z.as_mut(), par);
            });
            let err = (&y - &z).norm_max() / y.norm_max();
            println!(
                "b={b:2}: faer matmul {t_gemm:7.3} ms, symm {t_symm:7.3} ms = {:.1} GFMA/s -> {:.2}x; rel diff {err:.1e}",
                (n * n * b) as f64 / t_symm / 1e6,
                t_gemm / t_symm
            );
        }
    }
}
