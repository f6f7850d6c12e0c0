//! Truncated power series arithmetic on coefficient slices.
//!
//! A series `a(ρ) = Σ_{i≥0} a_i ρ^i` is stored as the slice `[a_0, a_1, …]`; every operation
//! takes the number `n` of coefficients wanted and returns exactly `n` of them, i.e. works
//! modulo `ρ^n` ("truncated at degree `n − 1`").
//!
//! # Round-off
//!
//! * The **naive** product `(ab)_k = Σ_i a_i b_{k−i}` of two series with non-negative
//!   coefficients sums non-negative terms only, so every output coefficient is exact to
//!   relative round-off (`≤ k ε` in the worst case), however small it is, and structural zeros
//!   stay exactly zero.
//! * The **FFT** product ([`crate::fft`]) has *absolute* error `≈ ε log₂N ‖a‖₂‖b‖₂` on every
//!   coefficient. For non-negative inputs [`mul_nonneg`] clamps the resulting tiny negative
//!   values to `0`; coefficients below that noise floor lose their relative accuracy.
//!
//! [`mul`] uses the naive product whenever it is cheaper (measured crossover, see
//! [`NAIVE_WORK_PER_FFT_UNIT`]) and, in any case, for outputs of at most [`EXACT_LEN`]
//! coefficients. Longer products are *split*: the FFT product for all coefficients, then
//! the first `EXACT_LEN` of them recomputed naively (`EXACT_LEN²/2` multiply–adds), so that
//! every coefficient of degree `< EXACT_LEN` keeps full relative accuracy whatever the
//! length, and only the higher ones carry the FFT's absolute round-off. The positive
//! recurrences (`exp`, `(1 − β²c²)^{−1/2}`, …) likewise run exactly up to `EXACT_LEN` and
//! are extended by Newton iterations with FFT products beyond.
//!
//! # Cancellation
//!
//! Long loops take a [`Cancel`] hook, polled between blocks; when it returns `true` the
//! computation stops with [`NtkError::Interrupted`].
use crate::error::{NtkError, Result};

/// Cancellation hook: returns `true` when the caller wants the computation to stop
/// (e.g. Ctrl-C in the bindings). Must be cheap; it is polled between layers and blocks.
pub type Cancel<'a> = &'a (dyn Fn() -> bool + Sync);

/// A [`Cancel`] hook that never cancels.
pub fn never_cancel() -> bool {
    false
}

/// `Err(Interrupted)` if the hook asks to stop.
#[inline]
pub fn check(cancel: Cancel) -> Result<()> {
    if cancel() {
        Err(NtkError::Interrupted)
    } else {
        Ok(())
    }
}

/// Products whose output has at most this many coefficients are always computed naively,
/// and the first `EXACT_LEN` coefficients of longer products too (relative accuracy for
/// non-negative series; exact structural zeros). This keeps every NTK/NNGP coefficient of
/// degree `< EXACT_LEN` relatively accurate (DESIGN §6 asks it for degree `≤ 200`).
pub const EXACT_LEN: usize = 208;

/// Crossover between the naive and the FFT product: the naive product is used when its
/// multiply–add count is below `NAIVE_WORK_PER_FFT_UNIT · N log₂ N` (`N` the FFT length).
/// Measured with `cargo bench -p ntk-core --bench series` (x86-64 with AVX2+FMA, 2 cores,
/// the four-row naive kernel at ~14 multiply–adds per ns): the FFT product with transform
/// size `N` costs about as much as `6 N log₂N` naive multiply–adds (a power-of-two `N`;
/// the two break even near 450 coefficients).
pub const NAIVE_WORK_PER_FFT_UNIT: f64 = 6.0;

/// The O(n²) positive recurrences (for `exp`, `(1 − β²c²)^{−1/2}`, …) compute the first
/// `RECURRENCE_MAX_LEN` coefficients (full relative accuracy); beyond, Newton iterations
/// with FFT products extend them (O(n log n), absolute round-off).
pub const RECURRENCE_MAX_LEN: usize = EXACT_LEN;

/// Inner series of at most this many coefficients (after trimming) take the positive
/// recurrences of [`exp`], [`sinh_cosh`] and [`rsqrt_one_minus_sq`] to every length:
/// `O(n · len)` work, full relative accuracy for every coefficient, no Newton iteration
/// (e.g. the first layer, whose inner series `γ_b² + γ_w² ρ` is linear).
pub const SHORT_INNER_LEN: usize = 64;

/// A float for an error message: plain (`{}`) for moderate magnitudes, else `{:.6e}` (Rust's
/// plain `{}` would print `1e300` as a 301-digit integer).
pub fn fmt_num(x: f64) -> String {
    let a = x.abs();
    if !x.is_finite() || a == 0.0 || (1e-4..1e6).contains(&a) {
        format!("{x}")
    } else {
        format!("{x:.6e}")
    }
}

thread_local! {
    static RECIPROCALS: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Calls `f` with the table `[0, 1/1, 1/2, …, 1/(n−1)]` (at least `n` entries; cached per
/// thread), for integrations without a division per coefficient.
pub fn with_reciprocals<R>(n: usize, f: impl FnOnce(&[f64]) -> R) -> R {
    RECIPROCALS.with(|t| {
        let mut t = t.borrow_mut();
        if t.len() < n {
            let old = t.len().max(1);
            t.resize(n, 0.0);
            for (i, v) in t.iter_mut().enumerate().skip(old) {
                *v = 1.0 / i as f64;
            }
        }
        f(&t)
    })
}

/// Index of the first nonzero entry (or `a.len()` if all are zero).
pub fn first_nonzero(a: &[f64]) -> usize {
    a.iter().position(|&x| x != 0.0).unwrap_or(a.len())
}

/// `a` without its trailing zeros.
fn trim(a: &[f64]) -> &[f64] {
    &a[..a.iter().rposition(|&x| x != 0.0).map_or(0, |i| i + 1)]
}

/// Sum of the coefficients `Σ a_i` (the value at `ρ = 1`).
pub fn sum(a: &[f64]) -> f64 {
    // pairwise-ish summation with 4 accumulators (keeps the error ~ε log n for positive terms)
    let mut acc = [0.0f64; 4];
    let chunks = a.chunks_exact(4);
    let rem = chunks.remainder();
    for c in chunks {
        acc[0] += c[0];
        acc[1] += c[1];
        acc[2] += c[2];
        acc[3] += c[3];
    }
    let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for &x in rem {
        s += x;
    }
    s
}

/// `Σ_i a_i b_i` with four accumulators (vectorises).
#[inline]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f64; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for j in 0..8 {
            acc[j] += x[j] * y[j];
        }
    }
    let mut s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// Inner loops with run-time dispatched AVX-512 and AVX2+FMA versions (x86-64), the portable
/// one otherwise. Every version sums the same non-negative terms (for non-negative inputs),
/// so each keeps the relative accuracy of the naive sums; the grouping of the terms into
/// accumulators and FMA (one rounding per multiply–add instead of two) differ between them,
/// so results may differ in the last bits from one CPU to another.
pub(crate) mod kernels {
    #[inline(always)]
    fn madd<const F: bool>(a: f64, b: f64, c: f64) -> f64 {
        if F {
            a.mul_add(b, c)
        } else {
            a * b + c
        }
    }

    /// A kernel dispatched at run time to a variant compiled for AVX-512 (with AVX2 and FMA),
    /// one for AVX2+FMA, or the baseline target, in that order of preference. Either three
    /// callables (e.g. one generic `_impl` function with different accumulator layouts), or one
    /// body compiled three times — for the short pointwise passes around the FFTs and the like,
    /// which the baseline build leaves at SSE2 width (plain multiplies and adds are not fused
    /// by the compiler, so every variant rounds alike).
    macro_rules! kernel_dispatch {
        ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?)
            { avx512: $f512:expr, avx2: $f2:expr, base: $fb:expr $(,)? }) => {
            $(#[$meta])*
            $vis fn $name($($arg: $ty),*) {
                kernel_dispatch!(@call ($($arg: $ty),*) $f512, $f2, $fb)
            }
        };
        ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
            $(#[$meta])*
            $vis fn $name($($arg: $ty),*) {
                #[inline(always)]
                fn imp($($arg: $ty),*) $body
                kernel_dispatch!(@call ($($arg: $ty),*) imp, imp, imp)
            }
        };
        (@call ($($arg:ident: $ty:ty),*) $f512:expr, $f2:expr, $fb:expr) => {{
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx2,fma")]
            unsafe fn avx512($($arg: $ty),*) {
                $f512($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2($($arg: $ty),*) {
                $f2($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            if has_avx512() {
                // SAFETY: the CPU supports AVX-512F, AVX2 and FMA (checked at run time).
                return unsafe { avx512($($arg),*) };
            }
            #[cfg(target_arch = "x86_64")]
            if has_fma() {
                // SAFETY: the CPU supports AVX2 and FMA (checked at run time).
                return unsafe { avx2($($arg),*) };
            }
            $fb($($arg),*)
        }};
    }

    /// `out[t] += a0 bp[t+3] + a1 bp[t+2] + a2 bp[t+1] + a3 bp[t]` (four rows of a product).
    #[inline(always)]
    fn axpy4_impl<const F: bool>(out: &mut [f64], bp: &[f64], a: [f64; 4]) {
        let n = out.len();
        let (b0, b1, b2, b3) = (&bp[3..3 + n], &bp[2..2 + n], &bp[1..1 + n], &bp[..n]);
        for t in 0..n {
            let mut v = out[t];
            v = madd::<F>(a[3], b3[t], v);
            v = madd::<F>(a[2], b2[t], v);
            v = madd::<F>(a[1], b1[t], v);
            v = madd::<F>(a[0], b0[t], v);
            out[t] = v;
        }
    }

    /// `a[t] += Σ_{i0≤i<start} h_i u[start+t−i]`, `t < RB` (`u.len() ≥ start − i0 + RB`).
    /// Term `i` goes to accumulator set `i mod SETS` (enough independent multiply–add
    /// chains to hide the FMA latency: 4 sets of 8-wide vectors, 2 of 4-wide), the sets are
    /// added at the end.
    #[inline(always)]
    fn rows1_impl<const F: bool, const SETS: usize>(
        h: &[f64],
        i0: usize,
        start: usize,
        u: &[f64],
        a: &mut [f64; RB],
    ) {
        let mut acc = [[0.0f64; RB]; SETS];
        acc[0] = *a;
        let end = start.min(h.len());
        let mut i = i0;
        while i + SETS <= end {
            for (s, set) in acc.iter_mut().enumerate() {
                let o = start - i - s;
                let us: &[f64; RB] = u[o..o + RB].try_into().unwrap();
                let hi = h[i + s];
                for t in 0..RB {
                    set[t] = madd::<F>(hi, us[t], set[t]);
                }
            }
            i += SETS;
        }
        while i < end {
            let o = start - i;
            let us: &[f64; RB] = u[o..o + RB].try_into().unwrap();
            for t in 0..RB {
                acc[0][t] = madd::<F>(h[i], us[t], acc[0][t]);
            }
            i += 1;
        }
        let mut out = acc[0];
        for set in &acc[1..] {
            for t in 0..RB {
                out[t] += set[t];
            }
        }
        *a = out;
    }

    /// Outputs per block of [`rows2`].
    pub(super) const RB: usize = 16;

    /// `a[t] += Σ_{i<M} g_i u[M+t−i]`, `c[t] += Σ_{i<M} h_i u[M+t−i]`, `t < RB`,
    /// `M = g.len() = h.len() = start` (`u` at least `M + RB` long): one row of `u` per term
    /// serves both sums. The terms alternate between two sets of accumulators (more
    /// independent multiply–add chains than the latency needs with 8-wide vectors), added
    /// at the end.
    #[inline(always)]
    fn rows2_impl<const F: bool>(
        g: &[f64],
        h: &[f64],
        u: &[f64],
        start: usize,
        a: &mut [f64; RB],
        c: &mut [f64; RB],
    ) {
        let mut aa = *a;
        let mut cc = *c;
        let mut aa2 = [0.0f64; RB];
        let mut cc2 = [0.0f64; RB];
        let m = start.min(g.len()).min(h.len());
        let mut i = 0;
        while i + 1 < m {
            // rows for terms i and i + 1: u[o..o+RB] and u[o−1..o−1+RB], o = start − i
            let o = start - i;
            let us: &[f64; RB + 1] = u[o - 1..o + RB].try_into().unwrap();
            let (g0, h0, g1, h1) = (g[i], h[i], g[i + 1], h[i + 1]);
            for t in 0..RB {
                aa[t] = madd::<F>(g0, us[t + 1], aa[t]);
                cc[t] = madd::<F>(h0, us[t + 1], cc[t]);
                aa2[t] = madd::<F>(g1, us[t], aa2[t]);
                cc2[t] = madd::<F>(h1, us[t], cc2[t]);
            }
            i += 2;
        }
        if i < m {
            let o = start - i;
            let us: &[f64; RB] = u[o..o + RB].try_into().unwrap();
            for t in 0..RB {
                aa[t] = madd::<F>(g[i], us[t], aa[t]);
                cc[t] = madd::<F>(h[i], us[t], cc[t]);
            }
        }
        for t in 0..RB {
            aa[t] += aa2[t];
            cc[t] += cc2[t];
        }
        *a = aa;
        *c = cc;
    }

    /// The sequential part of a block of the `(1 − β²c²)^{−1/2}` recurrence: for
    /// `t < g.len() ≤ RB`, `G_{start+t} = ½ ((start+t) a_t + c_t) r_t`, where the terms
    /// `U_{t'−t} G_{start+t} (start + t' − (t'−t)/2)` of the outputs before `t'` in the block
    /// are added on the way (`upz[RB + j] = U_j`, `jupz[RB + j] = j U_j` for `0 ≤ j < RB`,
    /// zeros below: whole-block updates without branches). Every term is `≥ 0`, so no
    /// clamping is needed.
    #[inline(always)]
    fn finish_block_impl<const F: bool>(
        g: &mut [f64],
        upz: &[f64; 2 * RB],
        jupz: &[f64; 2 * RB],
        start: usize,
        r: &[f64; RB],
        a: &[f64; RB],
        c: &[f64; RB],
    ) {
        // one accumulator per output, already scaled by r_t: ½ (m_t a_t + c_t) r_t, and
        // in-block terms with the combined weights U_j (m_t − j/2) r_t ≥ 0, which do not
        // depend on G (off the sequential chain: one multiply–add of latency per output)
        let mut mv = [0.0f64; RB];
        let mut cc = [0.0f64; RB];
        for t in 0..RB {
            mv[t] = (start + t) as f64;
            cc[t] = 0.5 * madd::<F>(mv[t], a[t], c[t]) * r[t];
        }
        let mut out = [0.0f64; RB];
        // a whole block even when fewer outputs are wanted (r_t = 0 past them): fixed trip
        // counts keep the accumulators in registers
        for t in 0..RB {
            let gm = cc[t];
            out[t] = gm;
            let us: &[f64; RB] = upz[RB - t..2 * RB - t].try_into().unwrap();
            let js: &[f64; RB] = jupz[RB - t..2 * RB - t].try_into().unwrap();
            for tt in 0..RB {
                let w = madd::<F>(us[tt], mv[tt], -0.5 * js[tt]) * r[tt];
                cc[tt] = madd::<F>(gm, w, cc[tt]);
            }
        }
        let bl = g.len().min(RB);
        g[..bl].copy_from_slice(&out[..bl]);
    }

    #[inline]
    fn has_fma() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    #[inline]
    fn has_avx512() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::is_x86_feature_detected!("avx512f") && has_fma()
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    use realfft::num_complex::Complex;

    kernel_dispatch! {
        /// See [`rows1_impl`].
        pub(super) fn rows1(h: &[f64], i0: usize, start: usize, u: &[f64], a: &mut [f64; RB]) {
            avx512: rows1_impl::<true, 4>,
            avx2: rows1_impl::<true, 2>,
            base: rows1_impl::<false, 1>,
        }
    }

    kernel_dispatch! {
        /// See [`rows2_impl`].
        pub(super) fn rows2(
            g: &[f64],
            h: &[f64],
            u: &[f64],
            start: usize,
            a: &mut [f64; RB],
            c: &mut [f64; RB],
        ) {
            avx512: rows2_impl::<true>,
            avx2: rows2_impl::<true>,
            base: rows2_impl::<false>,
        }
    }

    kernel_dispatch! {
        /// See [`finish_block_impl`].
        pub(super) fn finish_block(
            g: &mut [f64],
            upz: &[f64; 2 * RB],
            jupz: &[f64; 2 * RB],
            start: usize,
            r: &[f64; RB],
            a: &[f64; RB],
            c: &[f64; RB],
        ) {
            avx512: finish_block_impl::<true>,
            avx2: finish_block_impl::<true>,
            base: finish_block_impl::<false>,
        }
    }

    kernel_dispatch! {
        /// See [`axpy4_impl`]; `bp.len() ≥ out.len() + 3`.
        pub(super) fn axpy4(out: &mut [f64], bp: &[f64], a: [f64; 4]) {
            avx512: axpy4_impl::<true>,
            avx2: axpy4_impl::<true>,
            base: axpy4_impl::<false>,
        }
    }

    kernel_dispatch! {
        /// See [`conv_block_impl`] (two accumulator sets for 8-wide vectors, one for 4-wide).
        pub(super) fn conv_block(a: &[f64], bp: &[f64], off: usize, out: &mut [f64; CB]) {
            avx512: conv_block_impl::<true, true>,
            avx2: conv_block_impl::<true, false>,
            base: conv_block_impl::<false, false>,
        }
    }

    kernel_dispatch!(
        /// `y ← y + a · x`.
        pub(crate) fn axpy(y: &mut [f64], a: f64, x: &[f64]) {
            for (v, w) in y.iter_mut().zip(x) {
                *v += a * w;
            }
        }
    );

    kernel_dispatch!(
        /// One Horner step of a Taylor shift: `s[i] = c0 r1[i] + p r0[i]`, values below
        /// `flush` set to zero.
        pub(crate) fn shift_step(
            s: &mut [f64],
            r1: &[f64],
            r0: &[f64],
            c0: f64,
            p: f64,
            flush: f64,
        ) {
            for ((o, a), b) in s.iter_mut().zip(r1).zip(r0) {
                let v = c0 * a + p * b;
                *o = if v < flush { 0.0 } else { v };
            }
        }
    );

    kernel_dispatch!(
        /// `out = a · b` pointwise.
        pub(crate) fn cmul_into(out: &mut [Complex<f64>], a: &[Complex<f64>], b: &[Complex<f64>]) {
            for ((o, x), y) in out.iter_mut().zip(a).zip(b) {
                *o = *x * *y;
            }
        }
    );

    kernel_dispatch!(
        /// `x ← x · y` pointwise.
        pub(crate) fn cmul_assign(x: &mut [Complex<f64>], y: &[Complex<f64>]) {
            for (a, b) in x.iter_mut().zip(y) {
                *a *= *b;
            }
        }
    );

    kernel_dispatch!(
        /// `x ← x · y²` pointwise.
        pub(crate) fn cmul_square_assign(x: &mut [Complex<f64>], y: &[Complex<f64>]) {
            for (a, b) in x.iter_mut().zip(y) {
                *a *= *b * *b;
            }
        }
    );

    kernel_dispatch!(
        /// `x ← x²` pointwise.
        pub(crate) fn csquare(x: &mut [Complex<f64>]) {
            for a in x.iter_mut() {
                *a = *a * *a;
            }
        }
    );

    kernel_dispatch!(
        /// `out[i] = s · x[i]`.
        pub(crate) fn scale_into(out: &mut [f64], x: &[f64], s: f64) {
            for (o, v) in out.iter_mut().zip(x) {
                *o = s * v;
            }
        }
    );

    kernel_dispatch!(
        /// `out[i] = s · x[i] · y[i]`.
        pub(crate) fn scale_mul_into(out: &mut [f64], x: &[f64], y: &[f64], s: f64) {
            for ((o, a), b) in out.iter_mut().zip(x).zip(y) {
                *o = s * a * b;
            }
        }
    );

    /// Outputs per block of [`conv_block`].
    pub(super) const CB: usize = 32;

    /// `out[t] = Σ_{i < a.len()} a_i bp[off + t − i]`, `t < CB` (`off ≥ a.len() − 1`,
    /// `bp.len() ≥ off + CB`): one block of outputs of a product, kept in registers while
    /// the terms stream by (one broadcast and `CB` loads per term, no stores).
    ///
    /// `TWO`: the terms alternate between two sets of accumulators (twice the independent
    /// multiply–add chains: with 8-wide vectors one set is only four registers, too few to
    /// hide the FMA latency), added at the end.
    #[inline(always)]
    fn conv_block_impl<const F: bool, const TWO: bool>(
        a: &[f64],
        bp: &[f64],
        off: usize,
        out: &mut [f64; CB],
    ) {
        let mut acc = [0.0f64; CB];
        let mut acc2 = [0.0f64; CB];
        let mut i = 0;
        if TWO {
            while i + 1 < a.len() {
                let (a0, a1) = (a[i], a[i + 1]);
                let s = off - i - 1;
                let win: &[f64; CB + 1] = bp[s..s + CB + 1].try_into().unwrap();
                for t in 0..CB {
                    acc[t] = madd::<F>(a0, win[t + 1], acc[t]);
                    acc2[t] = madd::<F>(a1, win[t], acc2[t]);
                }
                i += 2;
            }
        }
        while i < a.len() {
            let ai = a[i];
            let s = off - i;
            let win: &[f64; CB] = bp[s..s + CB].try_into().unwrap();
            for t in 0..CB {
                acc[t] = madd::<F>(ai, win[t], acc[t]);
            }
            i += 1;
        }
        if TWO {
            for t in 0..CB {
                acc[t] += acc2[t];
            }
        }
        *out = acc;
    }

    /// Every variant of [`conv_block_impl`] (plain and fused multiply–add, one and two
    /// accumulator sets), whatever the CPU: for the tests.
    #[cfg(test)]
    pub(super) fn conv_block_variants(a: &[f64], bp: &[f64], off: usize) -> [[f64; CB]; 4] {
        let mut out = [[0.0; CB]; 4];
        conv_block_impl::<false, false>(a, bp, off, &mut out[0]);
        conv_block_impl::<false, true>(a, bp, off, &mut out[1]);
        conv_block_impl::<true, false>(a, bp, off, &mut out[2]);
        conv_block_impl::<true, true>(a, bp, off, &mut out[3]);
        out
    }

    /// Every variant of [`rows1_impl`] (1, 2 and 4 accumulator sets, plain and fused) and of
    /// [`rows2_impl`], whatever the CPU: for the tests.
    #[cfg(test)]
    #[allow(clippy::type_complexity)]
    pub(super) fn row_kernel_variants(
        h: &[f64],
        g: &[f64],
        i0: usize,
        start: usize,
        u: &[f64],
    ) -> (Vec<[f64; RB]>, Vec<([f64; RB], [f64; RB])>) {
        let mut r1 = vec![[0.0; RB]; 4];
        rows1_impl::<false, 1>(h, i0, start, u, &mut r1[0]);
        rows1_impl::<true, 1>(h, i0, start, u, &mut r1[1]);
        rows1_impl::<true, 2>(h, i0, start, u, &mut r1[2]);
        rows1_impl::<true, 4>(h, i0, start, u, &mut r1[3]);
        let (mut a0, mut c0, mut a1, mut c1) = ([0.0; RB], [0.0; RB], [0.0; RB], [0.0; RB]);
        rows2_impl::<false>(g, h, u, start, &mut a0, &mut c0);
        rows2_impl::<true>(g, h, u, start, &mut a1, &mut c1);
        (r1, vec![(a0, c0), (a1, c1)])
    }
}

/// Naive truncated product: the first `n` coefficients of `a·b`, computed as
/// `(ab)_k = Σ_i a_i b_{k−i}` (four rows at a time, multiply–adds of non-negative terms
/// for non-negative inputs). Leading zeros are skipped. For non-negative inputs every
/// coefficient is exact to relative round-off.
pub fn mul_naive(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    let (a, b) = (trim(a), trim(b));
    let mut out = vec![0.0; n];
    let ia = first_nonzero(a);
    let ib = first_nonzero(b);
    if ia >= a.len() || ib >= b.len() || ia + ib >= n {
        return out;
    }
    // rows from the shorter operand: fewer, longer kernel calls (e.g. a series times a
    // monomial is one pass instead of one call per four coefficients)
    let (a, b, ia, ib) = if a.len() - ia > b.len() - ib {
        (b, a, ib, ia)
    } else {
        (a, b, ia, ib)
    };
    let lb = b.len() - ib;
    if a.len() - ia >= kernels::CB {
        mul_blocked(&a[ia..], &b[ib..], &mut out[ia + ib..]);
        return out;
    }
    // b zero-padded by 3 on both sides, so that four shifted rows run over one range
    let mut bp = vec![0.0; lb + 6];
    bp[3..3 + lb].copy_from_slice(&b[ib..]);
    let a_end = a.len().min(n - ib);
    let at = |i: usize| if i < a_end { a[i] } else { 0.0 };
    let mut i = ia;
    while i < a_end {
        let coef = [at(i), at(i + 1), at(i + 2), at(i + 3)];
        if coef != [0.0; 4] {
            let base = i + ib;
            let tmax = (lb + 3).min(n - base);
            kernels::axpy4(&mut out[base..base + tmax], &bp[..tmax + 3], coef);
        }
        i += 4;
    }
    out
}

/// `out[k] = Σ_i a_i b_{k−i}` for every `k < out.len()`, by output blocks of
/// [`kernels::CB`] ([`kernels::conv_block`]); sums of the same terms as the row-wise
/// kernel, in increasing `i`.
fn mul_blocked(a: &[f64], b: &[f64], out: &mut [f64]) {
    const CB: usize = kernels::CB;
    let n = out.len();
    let a = &a[..a.len().min(n)];
    let lb = b.len().min(n);
    // bp[CB + j] = b_j, zeros before (terms with k − i < 0) and after (k − i ≥ len b)
    let blocks = n.div_ceil(CB);
    let mut bp = vec![0.0; CB + blocks * CB];
    bp[CB..CB + lb].copy_from_slice(&b[..lb]);
    let mut acc = [0.0f64; CB];
    for blk in 0..blocks {
        let k0 = blk * CB;
        // terms a_i with i ≤ k0 + CB − 1, and k − i < len b for some k in the block
        let i_end = (k0 + CB).min(a.len());
        let i_start = (k0 + 1).saturating_sub(lb);
        if i_start >= i_end {
            continue;
        }
        // out[k0 + t] = Σ_{i_start ≤ i < i_end} a_i bp[CB + k0 + t − i]
        let off = CB + k0 - i_start;
        kernels::conv_block(&a[i_start..i_end], &bp, off, &mut acc);
        let m = CB.min(n - k0);
        out[k0..k0 + m].copy_from_slice(&acc[..m]);
    }
}

/// Naive truncated square: the first `n` coefficients of `a²`, each pair `a_p a_q` (`p < q`)
/// taken once and doubled (half the work of [`mul_naive`]); sums of non-negative terms for
/// non-negative `a` (relative accuracy).
pub fn square_naive(a: &[f64], n: usize) -> Vec<f64> {
    let a = trim(a);
    let mut out = vec![0.0; n];
    let ia = first_nonzero(a);
    if ia >= a.len() || 2 * ia >= n {
        return out;
    }
    let sh = 2 * ia;
    let n2 = n - sh;
    let a = &a[ia..a.len().min(ia + n2)];
    let len = a.len();
    let o = &mut out[sh..];
    // 2a, zero-padded by 3 (the four-row kernel reads three entries past its range)
    let mut z: Vec<f64> = a.iter().map(|v| 2.0 * v).collect();
    z.extend_from_slice(&[0.0; 3]);
    let at = |p: usize| if p < len { a[p] } else { 0.0 };
    let mut i = 0;
    while i < len {
        let coef = [at(i), at(i + 1), at(i + 2), at(i + 3)];
        let j0 = i + 4;
        for (r, &ap) in coef.iter().enumerate() {
            let p = i + r;
            if p >= len || 2 * p >= n2 {
                break;
            }
            // pairs inside the block of four rows (and the diagonal)
            o[2 * p] += ap * ap;
            for q in p + 1..j0.min(len) {
                if p + q < n2 {
                    o[p + q] += ap * z[q];
                }
            }
            // pairs (p, q), j0 ≤ q < j0 + 3 − r, that the kernel below leaves out
            for q in j0..(j0 + 3 - r).min(len) {
                if p + q < n2 {
                    o[p + q] += ap * z[q];
                }
            }
        }
        // o[2i + 7 + t] += Σ_r a_{i+r} 2a_{j0+3+t−r}: all pairs (p, q ≥ j0 + 3 − r)
        let base = i + j0 + 3;
        if j0 < len && base < n2 {
            let tmax = (n2 - base).min(len - j0);
            kernels::axpy4(&mut o[base..base + tmax], &z[j0..j0 + tmax + 3], coef);
        }
        i += 4;
    }
    out
}

/// FFT truncated product: the first `n` coefficients of `a·b` by a real-to-complex FFT
/// convolution (absolute error `≈ ε log₂N ‖a‖₂‖b‖₂` per coefficient). Leading zeros are
/// shifted out before transforming.
pub fn mul_fft(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    let Some((ia, ib, a, b)) = strip_operands(a, b, n) else {
        return vec![0.0; n];
    };
    let m = n - ia - ib;
    let conv = fftconv::convolve(a, b, m);
    let mut out = vec![0.0; ia + ib];
    out.extend_from_slice(&conv);
    out
}

/// FFT convolution with per-thread plans and reused buffers, on transform lengths `2^k` or
/// `3·2^k` (markedly faster than other 5-smooth lengths of about the same size). Absolute
/// round-off `≈ ε log₂N ‖a‖₂‖b‖₂` per entry, as [`crate::fft::convolve`].
mod fftconv {
    use std::cell::RefCell;
    use std::sync::Arc;

    use realfft::num_complex::Complex;
    use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

    pub(super) type Plans = (Arc<dyn RealToComplex<f64>>, Arc<dyn ComplexToReal<f64>>);

    pub(super) struct Ctx {
        pub(super) planner: RealFftPlanner<f64>,
        pub(super) plans: Vec<(usize, Plans)>,
        pub(super) input: Vec<f64>,
        pub(super) sa: Vec<Complex<f64>>,
        pub(super) sb: Vec<Complex<f64>>,
        pub(super) scratch: Vec<Complex<f64>>,
    }

    thread_local! {
        pub(super) static CTX: RefCell<Ctx> = RefCell::new(Ctx {
            planner: RealFftPlanner::new(),
            plans: Vec::new(),
            input: Vec::new(),
            sa: Vec::new(),
            sb: Vec::new(),
            scratch: Vec::new(),
        });
    }

    /// The smallest even `2^k` or `3·2^k` that is `≥ len`.
    pub(super) fn nice_len(len: usize) -> usize {
        let l = len.max(2);
        let p2 = l.next_power_of_two();
        let p3 = 3 * l.div_ceil(3).max(2).next_power_of_two();
        p2.min(p3)
    }

    /// The first `n` entries of the linear convolution `a * b` (`a`, `b` non-empty).
    pub(super) fn convolve(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
        let full = a.len() + b.len() - 1;
        convolve_len(a, b, n, nice_len(full))
    }

    /// Forward transform of `x` zero-padded to length `len`.
    pub(super) fn forward(x: &[f64], len: usize) -> Vec<Complex<f64>> {
        CTX.with(|ctx| {
            let mut guard = ctx.borrow_mut();
            let ctx = &mut *guard;
            let (r2c, _) = ctx.plans(len);
            let scr = r2c.get_scratch_len();
            ctx.input.resize(len, 0.0);
            if ctx.scratch.len() < scr {
                ctx.scratch.resize(scr, Complex::new(0.0, 0.0));
            }
            ctx.input[..x.len()].copy_from_slice(x);
            ctx.input[x.len()..].fill(0.0);
            let mut out = vec![Complex::new(0.0, 0.0); len / 2 + 1];
            let _ = r2c.process_with_scratch(&mut ctx.input, &mut out, &mut ctx.scratch[..scr]);
            out
        })
    }

    /// The first `keep` entries of the inverse transform of `fa · fb` (length `len`, scaled
    /// by `1/len`).
    pub(super) fn inverse_product(
        fa: &[Complex<f64>],
        fb: &[Complex<f64>],
        len: usize,
        keep: usize,
    ) -> Vec<f64> {
        CTX.with(|ctx| {
            let mut guard = ctx.borrow_mut();
            let ctx = &mut *guard;
            let (_, c2r) = ctx.plans(len);
            let half = len / 2 + 1;
            let scr = c2r.get_scratch_len();
            ctx.input.resize(len, 0.0);
            ctx.sa.resize(half, Complex::new(0.0, 0.0));
            if ctx.scratch.len() < scr {
                ctx.scratch.resize(scr, Complex::new(0.0, 0.0));
            }
            super::kernels::cmul_into(&mut ctx.sa, fa, fb);
            ctx.sa[0].im = 0.0;
            ctx.sa[half - 1].im = 0.0;
            let _ = c2r.process_with_scratch(&mut ctx.sa, &mut ctx.input, &mut ctx.scratch[..scr]);
            let mut out = vec![0.0; keep];
            super::kernels::scale_into(&mut out, &ctx.input[..keep], 1.0 / len as f64);
            out
        })
    }

    /// The first `n` entries of the cyclic convolution of length `len` (even, at least
    /// `a.len()`, `b.len()` and `n`) of `a` and `b`: the linear one when
    /// `len ≥ a.len() + b.len() − 1`, else with the entries from `len` on added onto the
    /// first ones.
    pub(super) fn convolve_len(a: &[f64], b: &[f64], n: usize, len: usize) -> Vec<f64> {
        let full = a.len() + b.len() - 1;
        let same = std::ptr::eq(a, b);
        CTX.with(|ctx| {
            let mut guard = ctx.borrow_mut();
            let ctx = &mut *guard;
            let (r2c, c2r) = match ctx.plans.iter().find(|(l, _)| *l == len) {
                Some((_, p)) => p.clone(),
                None => {
                    let p = (
                        ctx.planner.plan_fft_forward(len),
                        ctx.planner.plan_fft_inverse(len),
                    );
                    ctx.plans.push((len, p.clone()));
                    p
                }
            };
            let half = len / 2 + 1;
            let scr = r2c.get_scratch_len().max(c2r.get_scratch_len());
            ctx.input.resize(len, 0.0);
            ctx.sa.resize(half, Complex::new(0.0, 0.0));
            ctx.sb.resize(half, Complex::new(0.0, 0.0));
            ctx.scratch.resize(scr, Complex::new(0.0, 0.0));
            // Lengths are correct by construction, so the transforms cannot fail.
            ctx.input[..a.len()].copy_from_slice(a);
            ctx.input[a.len()..].fill(0.0);
            let _ = r2c.process_with_scratch(&mut ctx.input, &mut ctx.sa, &mut ctx.scratch);
            if same {
                super::kernels::csquare(&mut ctx.sa);
            } else {
                ctx.input[..b.len()].copy_from_slice(b);
                ctx.input[b.len()..].fill(0.0);
                let _ = r2c.process_with_scratch(&mut ctx.input, &mut ctx.sb, &mut ctx.scratch);
                super::kernels::cmul_assign(&mut ctx.sa, &ctx.sb);
            }
            // the DC and Nyquist bins of a real signal are real
            ctx.sa[0].im = 0.0;
            ctx.sa[half - 1].im = 0.0;
            let _ = c2r.process_with_scratch(&mut ctx.sa, &mut ctx.input, &mut ctx.scratch);
            let keep = full.min(n);
            let mut out = vec![0.0; n];
            super::kernels::scale_into(&mut out[..keep], &ctx.input[..keep], 1.0 / len as f64);
            out
        })
    }
}

impl fftconv::Ctx {
    fn plans(&mut self, len: usize) -> fftconv::Plans {
        match self.plans.iter().find(|(l, _)| *l == len) {
            Some((_, p)) => p.clone(),
            None => {
                let p = (
                    self.planner.plan_fft_forward(len),
                    self.planner.plan_fft_inverse(len),
                );
                self.plans.push((len, p.clone()));
                p
            }
        }
    }
}

/// One Newton step of `f^{−1/2}` from its first `m = y.len()` coefficients `y` to
/// `m2 ≤ 2m`: the `m2 − m` new coefficients `½ y · (−(f y²)[m..m2])`. One transform length
/// `L ≥ m2 + m − 1` serves all three products (`f·y²` only needs to be right below `m2`,
/// so the wrap-around of the full product may land above it) and the spectrum of `y` is
/// shared: five real transforms instead of eight. `f.len() ≤ m2`. Absolute round-off, as
/// [`mul_fast`].
fn inv_sqrt_step(f: &[f64], y: &[f64], m2: usize) -> Vec<f64> {
    use realfft::num_complex::Complex;
    let m = y.len();
    let f = &f[..f.len().min(m2)];
    let len = fftconv::nice_len(m2 + m - 1);
    fftconv::CTX.with(|ctx| {
        let mut guard = ctx.borrow_mut();
        let ctx = &mut *guard;
        let (r2c, c2r) = ctx.plans(len);
        let half = len / 2 + 1;
        let scr = r2c.get_scratch_len().max(c2r.get_scratch_len());
        let zero = Complex::new(0.0, 0.0);
        ctx.input.resize(len, 0.0);
        ctx.sa.resize(half, zero);
        ctx.sb.resize(half, zero);
        ctx.scratch.resize(scr, zero);
        // Y
        ctx.input[..m].copy_from_slice(y);
        ctx.input[m..].fill(0.0);
        let _ = r2c.process_with_scratch(&mut ctx.input, &mut ctx.sa, &mut ctx.scratch);
        // F · Y²
        ctx.input[..f.len()].copy_from_slice(f);
        ctx.input[f.len()..].fill(0.0);
        let _ = r2c.process_with_scratch(&mut ctx.input, &mut ctx.sb, &mut ctx.scratch);
        kernels::cmul_square_assign(&mut ctx.sb, &ctx.sa);
        ctx.sb[0].im = 0.0;
        ctx.sb[half - 1].im = 0.0;
        let _ = c2r.process_with_scratch(&mut ctx.sb, &mut ctx.input, &mut ctx.scratch);
        let scale = 1.0 / len as f64;
        // e = −(f y²)[m..m2], then E · Y
        let k = m2 - m;
        for i in 0..k {
            ctx.input[i] = -ctx.input[m + i] * scale;
        }
        ctx.input[k..].fill(0.0);
        let _ = r2c.process_with_scratch(&mut ctx.input, &mut ctx.sb, &mut ctx.scratch);
        kernels::cmul_assign(&mut ctx.sb, &ctx.sa);
        ctx.sb[0].im = 0.0;
        ctx.sb[half - 1].im = 0.0;
        let _ = c2r.process_with_scratch(&mut ctx.sb, &mut ctx.input, &mut ctx.scratch);
        ctx.input[..k].iter().map(|v| 0.5 * v * scale).collect()
    })
}

/// The operands of a product truncated at `n` coefficients with their trailing zeros dropped,
/// their leading zeros shifted out and cut to what can reach degree `n − 1`:
/// `(ia, ib, a', b')` with `a = ρ^ia a' + …`, `b = ρ^ib b' + …`, `a'` and `b'` at most
/// `n − ia − ib` long; `None` if the product vanishes below degree `n`.
fn strip_operands<'x>(
    a: &'x [f64],
    b: &'x [f64],
    n: usize,
) -> Option<(usize, usize, &'x [f64], &'x [f64])> {
    let (a, b) = (trim(a), trim(b));
    let ia = first_nonzero(a);
    let ib = first_nonzero(b);
    if ia >= a.len() || ib >= b.len() || ia + ib >= n {
        return None;
    }
    let m = n - ia - ib;
    Some((
        ia,
        ib,
        &a[ia..a.len().min(ia + m)],
        &b[ib..b.len().min(ib + m)],
    ))
}

/// Effective operand lengths after dropping leading zeros and what cannot reach degree `n−1`.
fn effective(a: &[f64], b: &[f64], n: usize) -> (usize, usize, usize) {
    match strip_operands(a, b, n) {
        Some((ia, ib, a, b)) => (a.len(), b.len(), n - ia - ib),
        None => (0, 0, 0),
    }
}

/// Multiply–adds of the truncated naive product of operands of effective lengths `s ≤ l`
/// truncated at `m` coefficients.
fn naive_work(s: usize, l: usize, m: usize) -> f64 {
    if l >= m {
        (s * m) as f64 - (s * s) as f64 / 2.0
    } else if s + l <= m {
        (s * l) as f64
    } else {
        let over = (s + l - m) as f64;
        (s * l) as f64 - over * over / 2.0
    }
}

/// Whether the naive product is the right choice for these operands (speed and accuracy):
/// always for outputs of at most [`EXACT_LEN`] coefficients, otherwise when it is cheaper
/// than the split product (FFT plus the naive first `EXACT_LEN` coefficients).
pub fn prefer_naive(a: &[f64], b: &[f64], n: usize) -> bool {
    let (la, lb, m) = effective(a, b, n);
    if la == 0 || m <= EXACT_LEN || la.min(lb) <= 32 {
        return true;
    }
    let (s, l) = (la.min(lb), la.max(lb));
    let work = naive_work(s, l, m);
    let low = naive_work(s.min(EXACT_LEN), l.min(EXACT_LEN), EXACT_LEN);
    let nf = fftconv::nice_len(la + lb - 1) as f64;
    work <= NAIVE_WORK_PER_FFT_UNIT * nf * nf.log2() + low
}

/// Whether a pure FFT product is cheaper than the naive one (absolute accuracy suffices).
fn prefer_fft(a: &[f64], b: &[f64], n: usize) -> bool {
    let (la, lb, m) = effective(a, b, n);
    if la == 0 || la.min(lb) <= 32 {
        return false;
    }
    let nf = fftconv::nice_len(la + lb - 1) as f64;
    naive_work(la.min(lb), la.max(lb), m) > NAIVE_WORK_PER_FFT_UNIT * nf * nf.log2()
}

/// Truncated product with absolute accuracy only (FFT or naive, whichever is cheaper): for
/// the parts of a computation whose low coefficients are known or recomputed exactly.
pub fn mul_fast(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    if prefer_fft(a, b, n) {
        let mut out = mul_fft(a, b, n);
        if let (Some(la), Some(lb)) = (support_lattice(a, 0), support_lattice(b, 0)) {
            zero_off_lattice(&mut out, 0, product_lattice(la, lb));
        }
        out
    } else {
        mul_naive(a, b, n)
    }
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The lattice `{r + s k}` holding every nonzero coefficient of `a` (from index `from`):
/// `(s, r mod s)`, `s = 0` for a single nonzero coefficient (then `r` is its index), `None`
/// if `a` vanishes there. Stops early once `s = 1` (the common case: cheap).
fn support_lattice(a: &[f64], from: usize) -> Option<(usize, usize)> {
    let first = from + a.get(from..)?.iter().position(|&v| v != 0.0)?;
    let s = offset_gcd(&a[first..]);
    Some(if s == 0 { (0, first) } else { (s, first % s) })
}

/// The gcd of the indices `d ≥ 1` with `a_d ≠ 0` (`0` if there is none), stopping at `1`. One
/// pass with a running phase `d mod s` instead of a division per coefficient (a series with
/// only odd or even powers keeps `s = 2` to the end).
fn offset_gcd(a: &[f64]) -> usize {
    let mut s = 0usize;
    let mut phase = 0usize; // d mod s, for s > 0
    for (d, &v) in a.iter().enumerate().skip(1) {
        if s > 0 {
            phase += 1;
            if phase == s {
                phase = 0;
            }
        }
        if v != 0.0 && (s == 0 || phase != 0) {
            s = gcd(s, d);
            if s == 1 {
                return 1;
            }
            phase = d % s;
        }
    }
    s
}

/// Sets to zero the entries `k ≥ from` of `out` off the lattice `{r + s k}` (`s ≥ 2`): the
/// exact structural zeros that FFT round-off would otherwise fill with noise.
fn zero_off_lattice(out: &mut [f64], from: usize, (s, r): (usize, usize)) {
    if s == 1 || from >= out.len() {
        return;
    }
    if s == 0 {
        for (k, v) in out.iter_mut().enumerate().skip(from) {
            if k != r {
                *v = 0.0;
            }
        }
        return;
    }
    // running phase k mod s (no division per entry)
    let r = r % s;
    let mut phase = from % s;
    for v in out[from..].iter_mut() {
        if phase != r {
            *v = 0.0;
        }
        phase += 1;
        if phase == s {
            phase = 0;
        }
    }
}

/// The support lattice of `a · b` from those of `a` and `b`.
fn product_lattice(a: (usize, usize), b: (usize, usize)) -> (usize, usize) {
    let s = gcd(a.0, b.0);
    let r = a.1 + b.1;
    if s == 0 {
        (0, r)
    } else {
        (s, r % s)
    }
}

/// Largest number of multiply–adds spent on undoing the wrap-around of a shorter cyclic
/// convolution in [`mul_split`] (see there).
const WRAP_FIXUP_MAX_WORK: usize = 4096;

/// FFT part of [`mul_split`]: the first `n` coefficients of `a·b`, correct (to the FFT's
/// absolute round-off) from index `lo` on; those below `lo` may be anything (the caller
/// recomputes them). Because the low part is recomputed anyway, the cyclic convolution may
/// be shorter than the full product: wrapped-around terms landing below `lo` are harmless,
/// and the few landing in `[lo, n)` (the products of the operands' top coefficients) are
/// subtracted explicitly when that is cheap (e.g. `n = 501`: length 768 instead of 1024,
/// 325 multiply–adds of fix-up).
fn mul_fft_above(
    a: &[f64],
    b: &[f64],
    n: usize,
    lo: usize,
    cache: Option<(&mut Option<Spectrum>, &mut Option<Spectrum>)>,
) -> Vec<f64> {
    let Some((ia, ib, a, b)) = strip_operands(a, b, n) else {
        return vec![0.0; n];
    };
    let m = n - ia - ib;
    let lo = lo.saturating_sub(ia + ib);
    let full = a.len() + b.len() - 1;
    let keep = full.min(m);
    // the wrap-around of a cyclic length L pollutes [0, full - L); need [lo, keep) clean
    let mut len = fftconv::nice_len(keep.max(full.saturating_sub(lo)).max(2));
    let fixup_work = |l: usize| -> usize {
        // pairs (i, j), i + j = k + l, for k in [lo, min(keep, full - l))
        let hi = keep.min(full.saturating_sub(l));
        (lo..hi)
            .map(|k| {
                let t = k + l;
                let i0 = t.saturating_sub(b.len() - 1);
                let i1 = (a.len() - 1).min(t);
                (i1 + 1).saturating_sub(i0)
            })
            .sum()
    };
    if lo > 0 {
        // one size down (2^k <-> 3·2^(k-1)), if the fix-up is cheap
        let smaller = fftconv::nice_len(len * 2 / 3);
        if smaller < len && smaller >= keep && fixup_work(smaller) <= WRAP_FIXUP_MAX_WORK {
            len = smaller;
        }
    }
    let mut conv = match cache {
        None => fftconv::convolve_len(a, b, keep, len),
        Some((ca, cb)) => {
            let sa = Spectrum::reuse_or_compute(ca, a, ia, len);
            let sb = Spectrum::reuse_or_compute(cb, b, ib, len);
            fftconv::inverse_product(&sa.data, &sb.data, len, keep)
        }
    };
    // undo the wrap-around in [lo, keep)
    let hi = keep.min(full.saturating_sub(len));
    for (k, ck) in conv.iter_mut().enumerate().take(hi).skip(lo) {
        let t = k + len;
        let i0 = t.saturating_sub(b.len() - 1);
        let i1 = (a.len() - 1).min(t);
        let mut w = 0.0;
        for i in i0..=i1 {
            w += a[i] * b[t - i];
        }
        *ck -= w;
    }
    conv.resize(m, 0.0);
    if ia + ib == 0 {
        return conv;
    }
    let mut out = vec![0.0; ia + ib];
    out.extend_from_slice(&conv);
    out
}

/// Split product: FFT for all coefficients, the first [`EXACT_LEN`] recomputed naively,
/// and exact zeros kept off the operands' support lattice.
fn mul_split(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    mul_split_cached(a, b, n, None)
}

/// [`mul_split`] with the operands' forward transforms taken from (or stored in) `cache`.
fn mul_split_cached(
    a: &[f64],
    b: &[f64],
    n: usize,
    cache: Option<(&mut Option<Spectrum>, &mut Option<Spectrum>)>,
) -> Vec<f64> {
    let mut out = mul_fft_above(a, b, n, EXACT_LEN, cache);
    let low = EXACT_LEN.min(n);
    let exact = if std::ptr::eq(a, b) {
        square_naive(&a[..a.len().min(low)], low)
    } else {
        mul_naive(&a[..a.len().min(low)], &b[..b.len().min(low)], low)
    };
    out[..low].copy_from_slice(&exact);
    if let (Some(la), Some(lb)) = (support_lattice(a, 0), support_lattice(b, 0)) {
        zero_off_lattice(&mut out, low, product_lattice(la, lb));
    }
    out
}

/// Truncated product `a·b mod ρ^n`, naive or FFT (see the module docs for the choice and
/// its round-off). Works for any signs.
pub fn mul(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    if prefer_naive(a, b, n) {
        mul_naive(a, b, n)
    } else {
        mul_split(a, b, n)
    }
}

/// The forward transform of one operand of a split product ([`mul_nonneg_shared`]), kept so
/// that further products with the same operand (and transform length) skip it.
///
/// It remembers which coefficients it transformed and a fingerprint of them (their count,
/// first and last value and sum); a product handed a spectrum of other data recomputes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Spectrum {
    len: usize,
    start: usize,
    fingerprint: [f64; 4],
    data: Vec<realfft::num_complex::Complex<f64>>,
}

impl Spectrum {
    fn fingerprint(x: &[f64]) -> [f64; 4] {
        [
            x.len() as f64,
            x.first().copied().unwrap_or(0.0),
            x.last().copied().unwrap_or(0.0),
            sum(x),
        ]
    }

    /// The cached spectrum if it is the one of `x` (starting at index `start` of the
    /// operand) at length `len`, else a fresh one (stored in `cache`).
    fn reuse_or_compute<'c>(
        cache: &'c mut Option<Spectrum>,
        x: &[f64],
        start: usize,
        len: usize,
    ) -> &'c Spectrum {
        let fp = Spectrum::fingerprint(x);
        let ok = cache
            .as_ref()
            .is_some_and(|s| s.len == len && s.start == start && s.fingerprint == fp);
        if !ok {
            *cache = Some(Spectrum {
                len,
                start,
                fingerprint: fp,
                data: fftconv::forward(x, len),
            });
        }
        cache.as_ref().unwrap()
    }
}

/// [`mul_nonneg`] that keeps the operands' forward transforms in `cache_a`, `cache_b` (and
/// reuses them when they are already there, e.g. from a product with the same operand):
/// the same numbers as [`mul_nonneg`] up to round-off.
pub fn mul_nonneg_shared(
    a: &[f64],
    b: &[f64],
    n: usize,
    cache_a: &mut Option<Spectrum>,
    cache_b: &mut Option<Spectrum>,
) -> Vec<f64> {
    let mut out = if prefer_naive(a, b, n) {
        mul_naive(a, b, n)
    } else {
        mul_split_cached(a, b, n, Some((cache_a, cache_b)))
    };
    clamp_nonneg(&mut out);
    out
}

/// Truncated product of two series with **non-negative** coefficients: as [`mul`], then
/// the tiny negative values an FFT product may leave are clamped to `0` (the exact result
/// is `≥ 0`, and the clamp moves each value by less than its round-off).
pub fn mul_nonneg(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    let mut out = mul(a, b, n);
    clamp_nonneg(&mut out);
    out
}

/// Truncated square `a² mod ρ^n`.
pub fn square(a: &[f64], n: usize) -> Vec<f64> {
    if prefer_naive(a, a, n) {
        square_naive(a, n)
    } else {
        mul_split(a, a, n)
    }
}

/// Replace negative entries by `0` (for series known to be non-negative).
pub fn clamp_nonneg(a: &mut [f64]) {
    for v in a.iter_mut() {
        if *v < 0.0 {
            *v = 0.0;
        }
    }
}

/// Antiderivative `constant + ∫_0^ρ a`, truncated to `n` coefficients:
/// `out_0 = constant`, `out_i = a_{i−1} / i`.
pub fn integrate(a: &[f64], constant: f64, n: usize) -> Vec<f64> {
    let mut out = vec![0.0; n];
    if n == 0 {
        return out;
    }
    out[0] = constant;
    for i in 1..n {
        if i - 1 < a.len() {
            out[i] = a[i - 1] / i as f64;
        }
    }
    out
}

/// Derivative `a'`: `out_i = (i+1) a_{i+1}` (one coefficient fewer than `a`).
pub fn derivative(a: &[f64]) -> Vec<f64> {
    a.iter()
        .enumerate()
        .skip(1)
        .map(|(i, &x)| i as f64 * x)
        .collect()
}

/// A value with a rigorous bound on its floating-point evaluation error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation {
    /// The computed value.
    pub value: f64,
    /// Upper bound on `|value − exact|`, where *exact* is the exact value of the same
    /// finite expression (the series' own truncation is not included).
    pub error_bound: f64,
}

/// Horner evaluation of `Σ_{i<n} a_i x^i` with a certificate:
/// `|computed − exact| ≤ γ_{2n} Σ |a_i| |x|^i`, `γ_m = m u/(1 − m u)`, `u = ε/2`
/// (Higham, *Accuracy and Stability of Numerical Algorithms*, §5.1). The sum `Σ|a_i||x|^i`
/// is itself evaluated by Horner and inflated by `1 + γ_{2n}` so the bound stays rigorous.
pub fn horner(a: &[f64], x: f64) -> Evaluation {
    let mut y = 0.0f64;
    let mut s = 0.0f64;
    let ax = x.abs();
    for &c in a.iter().rev() {
        y = y * x + c;
        s = s * ax + c.abs();
    }
    let u = f64::EPSILON / 2.0;
    let m = 2.0 * a.len() as f64 + 1.0;
    let gamma = m * u / (1.0 - m * u);
    Evaluation {
        value: y,
        error_bound: gamma * s * (1.0 + gamma) + f64::MIN_POSITIVE,
    }
}

/// Memory limit of [`compose_many`]: at most this many stored coefficients (2²⁵ doubles =
/// 256 MiB) for the powers `z^0 … z^m`; longer series use fewer baby steps.
pub const COMPOSE_MAX_STORED: usize = 1 << 25;

/// Composition `Σ_j t_j z(ρ)^j mod ρ^n` for a series `z` with **zero constant term**
/// (Brent–Kung baby-step/giant-step: the powers `z, …, z^m` with `m ≈ √J`, blocks
/// `Q_b = Σ_{i<m} t_{bm+i} z^i`, then Horner in `z^m`; every product is truncated to the
/// degrees that can still reach `ρ^{n−1}`). Only `t_j` with `j·d < n` matter, `d` being the
/// lowest degree present in `z`.
///
/// With non-negative `t` and `z` all operations add non-negative terms, so (with naive
/// products, i.e. `n ≤ EXACT_LEN`) every output coefficient keeps full relative accuracy.
///
/// The constant term of `z` must be zero: a nonzero `z_0` makes every power contribute to
/// every degree (re-expand `t` about `z_0` first, see [`crate::dual`]). Error otherwise.
pub fn compose(t: &[f64], z: &[f64], n: usize, cancel: Cancel) -> Result<Vec<f64>> {
    let mut v = compose_many(&[t], z, n, cancel)?;
    Ok(v.pop().unwrap_or_default())
}

/// [`compose`] for several outer series sharing the inner series `z` (the powers of `z`
/// are computed once).
pub fn compose_many(ts: &[&[f64]], z: &[f64], n: usize, cancel: Cancel) -> Result<Vec<Vec<f64>>> {
    if let Some(&z0) = z.first() {
        if z0 != 0.0 {
            return Err(NtkError::InvalidArgument(format!(
                "series composition needs an inner series with zero constant term (got {z0}); \
                 re-expand the outer series about the constant first"
            )));
        }
    }
    if ts
        .iter()
        .flat_map(|t| t.iter())
        .chain(z.iter())
        .any(|x| !x.is_finite())
    {
        return Err(NtkError::NonFinite(
            "series composition: non-finite coefficient".into(),
        ));
    }
    let mut results: Vec<Vec<f64>> = ts
        .iter()
        .map(|t| {
            let mut r = vec![0.0; n];
            if n > 0 {
                r[0] = t.first().copied().unwrap_or(0.0);
            }
            r
        })
        .collect();
    if n <= 1 {
        return Ok(results);
    }
    let z = &z[..z.len().min(n)];
    let d = first_nonzero(z);
    if d >= z.len() {
        return Ok(results); // z == 0
    }
    // highest power that can reach degree n-1
    let jmax = (n - 1) / d;
    // trailing zeros of the outer series (e.g. a short Hermite list) need no powers
    let tlen = ts
        .iter()
        .map(|t| trim(&t[..t.len().min(jmax + 1)]).len())
        .max()
        .unwrap_or(0);
    if tlen <= 1 {
        return Ok(results);
    }
    if trim(z).len() == d + 1 {
        // a single term z_d ρ^d: the powers are monomials
        let zd = z[d];
        for (t, res) in ts.iter().zip(results.iter_mut()) {
            let mut pw = 1.0;
            for (j, &tj) in t.iter().enumerate().take(jmax + 1).skip(1) {
                pw *= zd;
                res[j * d] = tj * pw;
            }
        }
        return Ok(results);
    }
    let jcount = tlen; // powers 0..tlen-1
                       // baby-step size: balances m products (powers) against J/m Horner products; the m + 1
                       // stored powers are limited to COMPOSE_MAX_STORED coefficients in total
    let m = ((jcount as f64).sqrt().ceil() as usize)
        .min(COMPOSE_MAX_STORED / n)
        .clamp(1, jcount);
    // powers z^0..z^m, each truncated (z^i has lowest degree i*d)
    let mut pows: Vec<Vec<f64>> = Vec::with_capacity(m + 1);
    let mut one = vec![0.0; n];
    one[0] = 1.0;
    pows.push(one);
    let mut z1 = z.to_vec();
    z1.resize(n, 0.0);
    pows.push(z1);
    for i in 2..=m {
        check(cancel)?;
        if i * d >= n {
            pows.push(vec![0.0; n]);
            continue;
        }
        let p = mul(&pows[i - 1], z, n);
        pows.push(p);
    }
    let blocks = jcount.div_ceil(m);
    let zm = &pows[m];
    for (t, res) in ts.iter().zip(results.iter_mut()) {
        let t = &t[..t.len().min(jcount)];
        if t.len() <= 1 {
            continue;
        }
        // Horner over blocks from the top: R = Q_{B-1}; R = R*z^m + Q_b
        let mut acc: Vec<f64> = Vec::new();
        for b in (0..blocks).rev() {
            check(cancel)?;
            // R_b is later multiplied by z^{m b}, lowest degree m*b*d
            let shift = m * b * d;
            if shift >= n {
                continue;
            }
            let len_b = n - shift;
            let mut q = vec![0.0; len_b];
            for i in 0..m {
                let j = b * m + i;
                if j >= t.len() {
                    break;
                }
                let tj = t[j];
                if tj == 0.0 || i * d >= len_b {
                    continue;
                }
                kernels::axpy(&mut q[i * d..], tj, &pows[i][i * d..len_b]);
            }
            if !acc.is_empty() {
                let prod = mul(&acc, zm, len_b);
                for (qk, pk) in q.iter_mut().zip(prod) {
                    *qk += pk;
                }
            }
            acc = q;
        }
        if !acc.is_empty() {
            *res = acc;
            res.resize(n, 0.0);
        }
    }
    Ok(results)
}

/// Multiplicative inverse `1/f mod ρ^n` by Newton's iteration `y ← y + y(1 − f y)`
/// (precision doubles each step). Requires `f_0 ≠ 0`.
pub fn inverse(f: &[f64], n: usize, cancel: Cancel) -> Result<Vec<f64>> {
    let f0 = f.first().copied().unwrap_or(0.0);
    if f0 == 0.0 || !f0.is_finite() {
        return Err(NtkError::InvalidArgument(format!(
            "series inverse needs a nonzero finite constant term (got {f0})"
        )));
    }
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut y = vec![1.0 / f0];
    let mut m = 1;
    while m < n {
        check(cancel)?;
        let m2 = (2 * m).min(n);
        let fy = mul(&f[..f.len().min(m2)], &y, m2);
        // e = 1 - f y vanishes below degree m
        let e_hi: Vec<f64> = fy[m..m2].iter().map(|v| -v).collect();
        let corr = mul(&y, &e_hi, m2 - m);
        y.extend_from_slice(&corr);
        m = m2;
    }
    Ok(y)
}

/// `f^{−1/2} mod ρ^n` by Newton's iteration `y ← y + y(1 − f y²)/2`. Requires `f_0 > 0`.
pub fn inv_sqrt(f: &[f64], n: usize, cancel: Cancel) -> Result<Vec<f64>> {
    let f0 = f.first().copied().unwrap_or(0.0);
    if !f0.is_finite() || f0 <= 0.0 {
        return Err(NtkError::InvalidArgument(format!(
            "series inverse square root needs a positive finite constant term (got {f0})"
        )));
    }
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut y = vec![1.0 / f0.sqrt()];
    let mut m = 1;
    while m < n {
        check(cancel)?;
        let m2 = (2 * m).min(n);
        let y2 = square(&y, m2);
        let fy2 = mul(&f[..f.len().min(m2)], &y2, m2);
        let e_hi: Vec<f64> = fy2[m..m2].iter().map(|v| -v).collect();
        let corr = mul(&y, &e_hi, m2 - m);
        y.extend(corr.iter().map(|v| 0.5 * v));
        m = m2;
    }
    Ok(y)
}

/// `log f mod ρ^n = log f_0 + ∫ f'/f`. Requires `f_0 > 0`.
pub fn log(f: &[f64], n: usize, cancel: Cancel) -> Result<Vec<f64>> {
    let f0 = f.first().copied().unwrap_or(0.0);
    if !f0.is_finite() || f0 <= 0.0 {
        return Err(NtkError::InvalidArgument(format!(
            "series logarithm needs a positive finite constant term (got {f0})"
        )));
    }
    if n == 0 {
        return Ok(Vec::new());
    }
    let f = &f[..f.len().min(n)];
    let df = derivative(f);
    let inv = inverse(f, n - 1, cancel)?;
    let q = mul(&df, &inv, n - 1);
    Ok(integrate(&q, f0.ln(), n))
}

/// `exp(g) mod ρ^n`.
///
/// For `n ≤ RECURRENCE_MAX_LEN` by the recurrence of `E' = g' E`,
/// `k E_k = Σ_{i=1}^{k} i g_i E_{k−i}`, `E_0 = e^{g_0}` — for non-negative `g` a sum of
/// non-negative terms (full relative accuracy, O(n²)). Longer series use Newton's iteration
/// `E ← E(1 + g − log E)` with FFT products (O(n log n), absolute round-off).
pub fn exp(g: &[f64], n: usize, cancel: Cancel) -> Result<Vec<f64>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let g0 = g.first().copied().unwrap_or(0.0);
    let e0 = g0.exp();
    if !e0.is_finite() {
        return Err(NtkError::NonFinite(format!(
            "series exponential overflows (constant term {g0})"
        )));
    }
    let g = trim(&g[..g.len().min(n)]);
    // the positive recurrence for the first nr ≥ RECURRENCE_MAX_LEN coefficients (all of
    // them for a short g: O(n · len g))
    let nr = if g.len() <= SHORT_INNER_LEN {
        n
    } else {
        recurrence_prefix(n)
    };
    // ig_i for i >= 1, stored at index i-1
    // k E_k = Σ_{i=1}^{k} i g_i E_{k−i}
    let w: Vec<f64> = g.iter().enumerate().map(|(i, v)| i as f64 * v).collect();
    let mut low = vec![0.0; nr];
    low[0] = e0;
    conv_recurrences(&w, &mut [&mut low], &[(0, 0)], cancel)?;
    if nr == n {
        return Ok(low);
    }
    // Newton on h = g - g0 (h_0 = 0) from the exact prefix, then scale by e^{g0}
    let mut h = g.to_vec();
    if let Some(h0) = h.first_mut() {
        *h0 = 0.0;
    }
    let e: Vec<f64> = low.iter().map(|v| v / e0).collect();
    let (mut e, _) = exp_newton(&h, e, n, false, cancel)?;
    for v in e.iter_mut() {
        *v *= e0;
    }
    e[..nr].copy_from_slice(&low);
    // exp(g0 + h) is supported on the multiples of the gcd of h's nonzero indices
    if let Some(st) = index_gcd(g) {
        zero_off_lattice(&mut e, nr, (st, 0));
    }
    Ok(e)
}

/// Newton's iteration for `E = exp(h)` (`h_0 = 0`) from a correct prefix `e` (its
/// `m = e.len() ≥ 1` first coefficients) to `n` coefficients, carrying `Y = 1/E` along
/// (returned if `want_inverse`). Each doubling `m → m2` uses
/// `E ← E(1 + t)`, `t = h − log E = ∫ (h'E − E') Y` at degrees `[m, m2)`: `h'E − E'` vanishes
/// below degree `m − 1`, so `Y` is only needed to `m2 − m ≤ m` coefficients (three products,
/// no series logarithm or inverse from scratch); `Y` starts as `exp(−h) mod ρ^m` by its
/// recurrence and follows by `Y ← Y + Y(1 − EY)`. Products of absolute accuracy
/// ([`mul_fast`]): the new coefficients carry absolute round-off.
fn exp_newton(
    h: &[f64],
    mut e: Vec<f64>,
    n: usize,
    want_inverse: bool,
    cancel: Cancel,
) -> Result<(Vec<f64>, Option<Vec<f64>>)> {
    let mut m = e.len().max(1);
    e.resize(m, 0.0);
    let dh = derivative(h);
    // Y = exp(−h) mod ρ^m: k Y_k = −Σ_{i=1}^{k} i h_i Y_{k−i}
    let w: Vec<f64> = h[..h.len().min(m)]
        .iter()
        .enumerate()
        .map(|(i, v)| -(i as f64) * v)
        .collect();
    let mut y = vec![0.0; m];
    y[0] = 1.0;
    conv_recurrences(&w, &mut [&mut y], &[(0, 0)], cancel)?;
    while m < n {
        check(cancel)?;
        let m2 = (2 * m).min(n);
        // R = h'E − E' mod ρ^{m2−1}: E' has degree < m − 1, R vanishes below m − 1
        let he = mul_fast(&dh[..dh.len().min(m2 - 1)], &e, m2 - 1);
        let r_hi = &he[m - 1..m2 - 1];
        // t' = R Y at degrees [m − 1, m2 − 1), t_k = t'_{k−1} / k
        let q = mul_fast(r_hi, &y, m2 - m);
        let t: Vec<f64> = (m..m2).map(|k| q[k - m] / k as f64).collect();
        let corr = mul_fast(&e, &t, m2 - m);
        e.extend_from_slice(&corr);
        if m2 < n || want_inverse {
            let ey = mul_fast(&e, &y, m2);
            let neg: Vec<f64> = ey[m..m2].iter().map(|v| -v).collect();
            let corr = mul_fast(&y, &neg, m2 - m);
            y.extend_from_slice(&corr);
        }
        m = m2;
    }
    e.truncate(n);
    y.truncate(n);
    Ok((e, want_inverse.then_some(y)))
}

/// gcd of the indices `i ≥ 1` with `g_i ≠ 0` (`None` if there is none).
fn index_gcd(g: &[f64]) -> Option<usize> {
    let s = offset_gcd(g);
    (s > 0).then_some(s)
}

/// The recurrences `x_k = (Σ_{j=1}^{k} w_j y_{k−j}) / k` for `k` in `1..n`, for one or two
/// coupled pairs `(x, y)` (`exp`: `x = y = E`; sinh/cosh: `S ← C`, `C ← S`), `x_0`, `y_0`
/// given: in blocks of `RB` outputs, the terms from the values known before the block as
/// vectorised rows ([`kernels::rows1`]; only the last `len w` of them, `w` being zero beyond),
/// the rest sequentially. `w[0]` is ignored. Sums of non-negative terms for non-negative
/// `w` and starts (relative accuracy).
#[allow(clippy::needless_range_loop)]
fn conv_recurrences(
    w: &[f64],
    seqs: &mut [&mut [f64]],
    pairs: &[(usize, usize)],
    cancel: Cancel,
) -> Result<()> {
    const RB: usize = kernels::RB;
    let n = seqs.first().map_or(0, |s| s.len());
    let wl = trim(&w[..w.len().min(n)]).len();
    if n <= 1 || wl <= 1 {
        for sq in seqs.iter_mut() {
            sq[1..].fill(0.0);
        }
        return Ok(());
    }
    let mut wp = vec![0.0; n + RB];
    wp[1..wl].copy_from_slice(&w[1..wl]);
    // w_j for j < RB behind RB zeros (w_0 is ignored): in-block updates over whole blocks
    let mut wpz = [0.0f64; 2 * RB];
    let k = RB.min(wl);
    wpz[RB + 1..RB + k].copy_from_slice(&wp[1..k]);
    let mut start = 1;
    while start < n {
        if start % 256 < RB {
            check(cancel)?;
        }
        let bl = RB.min(n - start);
        let i0 = start.saturating_sub(wl);
        let mut acc = [[0.0f64; RB]; 2];
        for (p, &(_, y)) in pairs.iter().enumerate() {
            kernels::rows1(seqs[y], i0, start, &wp, &mut acc[p]);
        }
        for t in 0..bl {
            let k = start + t;
            let inv = 1.0 / k as f64;
            // both x_k first from the y values before k (a pair may read the other's x)
            let mut vals = [0.0f64; 2];
            for (p, v) in vals.iter_mut().enumerate().take(pairs.len()) {
                *v = acc[p][t] * inv;
            }
            for (p, &(x, _)) in pairs.iter().enumerate() {
                seqs[x][k] = vals[p];
            }
            // the new y_k enters the later outputs of the block: acc[tt] += y_k w_{tt−t}
            let wt: &[f64; RB] = wpz[RB - t..2 * RB - t].try_into().unwrap();
            for (p, &(_, y)) in pairs.iter().enumerate() {
                let yk = seqs[y][k];
                for tt in 0..RB {
                    acc[p][tt] += yk * wt[tt];
                }
            }
        }
        start += RB;
    }
    Ok(())
}

/// `(sinh g, cosh g) mod ρ^n` for a series `g`.
///
/// For `n ≤ RECURRENCE_MAX_LEN` by the coupled recurrences of `S' = g'C`, `C' = g'S`:
/// `k S_k = Σ_i i g_i C_{k−i}`, `k C_k = Σ_i i g_i S_{k−i}`, `S_0 = sinh g_0`,
/// `C_0 = cosh g_0` (non-negative terms when `g ≥ 0`). Longer series: from `E = exp(g − g_0)`
/// and `1/E` by Newton, `cosh(g_0 + h) = cosh g_0 cosh h + sinh g_0 sinh h`, etc.
pub fn sinh_cosh(g: &[f64], n: usize, cancel: Cancel) -> Result<(Vec<f64>, Vec<f64>)> {
    if n == 0 {
        return Ok((Vec::new(), Vec::new()));
    }
    let g0 = g.first().copied().unwrap_or(0.0);
    let (s0, c0) = (g0.sinh(), g0.cosh());
    if !c0.is_finite() {
        return Err(NtkError::NonFinite(format!(
            "series sinh/cosh overflows (constant term {g0})"
        )));
    }
    let g = trim(&g[..g.len().min(n)]);
    // the positive recurrences for the first RECURRENCE_MAX_LEN coefficients (all of them
    // for a short g: O(n · len g))
    let nr = if g.len() <= SHORT_INNER_LEN {
        n
    } else {
        n.min(RECURRENCE_MAX_LEN)
    };
    let w: Vec<f64> = g.iter().enumerate().map(|(i, v)| i as f64 * v).collect();
    let mut s_low = vec![0.0; nr];
    let mut c_low = vec![0.0; nr];
    s_low[0] = s0;
    c_low[0] = c0;
    conv_recurrences(&w, &mut [&mut s_low, &mut c_low], &[(0, 1), (1, 0)], cancel)?;
    if nr == n {
        return Ok((s_low, c_low));
    }
    let mut h = g.to_vec();
    if let Some(h0) = h.first_mut() {
        *h0 = 0.0;
    }
    // E = exp(h) and 1/E: the exact prefix by the recurrence, then Newton (carrying 1/E)
    let e_low = exp(&h, recurrence_prefix(n), cancel)?;
    let (e, ei) = exp_newton(&h, e_low, n, true, cancel)?;
    let ei = ei.unwrap_or_default();
    let mut s = vec![0.0; n];
    let mut c = vec![0.0; n];
    for k in 0..n {
        let ch = 0.5 * (e[k] + ei[k]);
        let sh = 0.5 * (e[k] - ei[k]);
        s[k] = s0 * ch + c0 * sh;
        c[k] = c0 * ch + s0 * sh;
    }
    s[..nr].copy_from_slice(&s_low);
    c[..nr].copy_from_slice(&c_low);
    // supported on the multiples of st = gcd of g's nonzero indices; if g_0 = 0 and every
    // nonzero index is an odd multiple of st, sinh g is odd and cosh g even in ρ^st
    if let Some(st) = index_gcd(g) {
        let odd = g0 == 0.0
            && g.iter()
                .enumerate()
                .skip(1)
                .all(|(i, &v)| v == 0.0 || (i / st) % 2 == 1);
        if odd {
            zero_off_lattice(&mut s, nr, (2 * st, st));
            zero_off_lattice(&mut c, nr, (2 * st, 0));
        } else {
            zero_off_lattice(&mut s, nr, (st, 0));
            zero_off_lattice(&mut c, nr, (st, 0));
        }
    }
    Ok((s, c))
}

/// `(1 − β² c(ρ)²)^{−1/2} mod ρ^n` for a series `c` with **non-negative** coefficients and
/// `β c_0 < 1`; `one_minus_beta = 1 − β` is passed separately so that `1 − β²c_0²` is formed
/// without cancellation when `β` is close to 1.
///
/// Writing `1 − β²c² = F_0 − U` with `F_0 = 1 − β²c_0²` and `U = β²(c² − c_0²) ≥ 0`, the
/// result `G` solves `(F_0 − U) G' = (U'/2) G`, i.e.
/// `F_0 m G_m = Σ_{j=1}^{m} U_j G_{m−j} (m − j/2)`, a sum of non-negative terms: for
/// `n ≤ RECURRENCE_MAX_LEN` this recurrence is used (full relative accuracy, O(n²)).
/// Longer series use Newton's inverse square root with FFT products; negative round-off
/// is clamped to zero (every exact coefficient is ≥ 0).
///
/// This is the second derivative of the arc-cosine kernel (`β = 1`) and the derivative of
/// the `erf` and Gaussian duals.
pub fn rsqrt_one_minus_sq(
    c: &[f64],
    beta: f64,
    one_minus_beta: f64,
    n: usize,
    cancel: Cancel,
) -> Result<Vec<f64>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let c = &c[..c.len().min(n)];
    let c0 = c.first().copied().unwrap_or(0.0);
    // 1 - beta c0 = (1 - beta) + beta (1 - c0)
    let one_minus_bc0 = one_minus_beta + beta * (1.0 - c0);
    let f0 = one_minus_bc0 * (1.0 + beta * c0);
    if !f0.is_finite() || f0 <= 0.0 {
        return Err(NtkError::Domain(format!(
            "(1 - beta^2 c^2)^(-1/2) needs beta*c_0 < 1 (beta = {beta}, c_0 = {c0})"
        )));
    }
    let mut u = square(c, n);
    clamp_nonneg(&mut u);
    u[0] = 0.0;
    let b2 = beta * beta;
    for v in u.iter_mut() {
        *v *= b2;
    }
    let ul = trim(&u).len();
    if ul <= SHORT_INNER_LEN {
        // short U (e.g. a linear c): the recurrence to every length, O(n · len U)
        let mut g = vec![0.0; n];
        g[0] = 1.0 / f0.sqrt();
        // the nonzero U_j (j ≥ 1), farthest first: the newest G terms enter the sum last
        let nz: Vec<(usize, f64)> = (1..ul)
            .rev()
            .filter(|&j| u[j] != 0.0)
            .map(|j| (j, u[j]))
            .collect();
        for m in 1..n {
            if m % 4096 == 0 {
                check(cancel)?;
            }
            let mf = m as f64;
            // the weights U_j (m − j/2) / (f0 m) ≥ 0 do not depend on earlier G: off the
            // recurrence's critical path
            let r = 1.0 / (f0 * mf);
            let mut acc = 0.0;
            for &(j, uj) in &nz {
                if j <= m {
                    acc += (uj * (mf - 0.5 * j as f64) * r) * g[m - j];
                }
            }
            g[m] = acc.max(0.0);
        }
        return Ok(g);
    }
    // the positive recurrence for the first nr ≥ RECURRENCE_MAX_LEN coefficients, nr chosen
    // so that Newton doublings from it land exactly on n (no partial last step)
    let nr = recurrence_prefix(n);
    // Σ_{j=1}^{m} U_j G_{m-j} (m - j/2) = Σ_i U_{m-i} G_i (m + i)/2 = ½ (m A_m + C_m),
    // A_m = Σ_i U_{m-i} G_i, C_m = Σ_i U_{m-i} (i G_i) (all terms ≥ 0): in blocks of RB
    // outputs, the part from the G_i known before the block as vectorised row updates
    // (kernels::rows2), the rest sequentially
    const RB: usize = kernels::RB;
    let mut up = vec![0.0; nr + RB];
    up[1..nr].copy_from_slice(&u[1..nr]);
    let mut g = vec![0.0; nr];
    let mut h = vec![0.0; nr];
    g[0] = 1.0 / f0.sqrt();
    // U_j, jU_j for j < RB behind RB zeros: the in-block updates below run over whole
    // blocks without branches (the zeros and U_0 = 0 mask the outputs already done)
    let mut upz = [0.0f64; 2 * RB];
    let mut jupz = [0.0f64; 2 * RB];
    let k = RB.min(nr);
    upz[RB + 1..RB + k].copy_from_slice(&up[1..k]);
    for j in 1..k {
        jupz[RB + j] = j as f64 * u[j];
    }
    let mut start = 1;
    while start < nr {
        if start % 256 < RB {
            check(cancel)?;
        }
        let mut a = [0.0f64; RB];
        let mut c = [0.0f64; RB];
        kernels::rows2(&g[..start], &h[..start], &up, start, &mut a, &mut c);
        let bl = RB.min(nr - start);
        let mut r = [0.0f64; RB];
        for (t, rt) in r.iter_mut().enumerate().take(bl) {
            *rt = 1.0 / (f0 * (start + t) as f64);
        }
        kernels::finish_block(&mut g[start..start + bl], &upz, &jupz, start, &r, &a, &c);
        for t in start..start + bl {
            h[t] = t as f64 * g[t];
        }
        start += RB;
    }
    if n <= RECURRENCE_MAX_LEN {
        return Ok(g);
    }
    // Newton's inverse square root from the exact prefix
    let mut f: Vec<f64> = u.iter().map(|v| -v).collect();
    f[0] = f0;
    let mut g = inv_sqrt_from(&f, g, n, cancel)?;
    clamp_nonneg(&mut g[nr..]);
    // G is supported on the multiples of the gcd of U's nonzero indices
    if let Some(st) = index_gcd(&u) {
        zero_off_lattice(&mut g, nr, (st, 0));
    }
    Ok(g)
}

/// Length of the exact recurrence prefix for `n` coefficients: `n` itself up to
/// [`RECURRENCE_MAX_LEN`], else `⌈n / 2^k⌉` for the fewest doublings `k` that keep it
/// `≥ RECURRENCE_MAX_LEN` (so Newton's doublings from it end exactly at `n`).
fn recurrence_prefix(n: usize) -> usize {
    if n <= RECURRENCE_MAX_LEN {
        return n;
    }
    let mut k = 0u32;
    while n.div_ceil(1 << (k + 1)) >= RECURRENCE_MAX_LEN {
        k += 1;
    }
    n.div_ceil(1 << k)
}

/// Newton's iteration for `f^{−1/2}` continued from a correct prefix `y` (its first
/// `y.len()` coefficients), with products of absolute accuracy ([`mul_fast`]): the prefix
/// is kept as it is, the new coefficients carry absolute round-off.
fn inv_sqrt_from(f: &[f64], mut y: Vec<f64>, n: usize, cancel: Cancel) -> Result<Vec<f64>> {
    let mut m = y.len();
    while m < n {
        check(cancel)?;
        let m2 = (2 * m).min(n);
        if m >= 64 {
            let corr = inv_sqrt_step(f, &y, m2);
            y.extend_from_slice(&corr);
        } else {
            let y2 = mul_fast(&y, &y, m2);
            let fy2 = mul_fast(&f[..f.len().min(m2)], &y2, m2);
            let e_hi: Vec<f64> = fy2[m..m2].iter().map(|v| -v).collect();
            let corr = mul_fast(&y, &e_hi, m2 - m);
            y.extend(corr.iter().map(|v| 0.5 * v));
        }
        m = m2;
    }
    Ok(y)
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)]
mod tests {
    use super::*;

    fn naive_ref(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
        (0..n)
            .map(|k| {
                (0..=k)
                    .filter(|&i| i < a.len() && k - i < b.len())
                    .map(|i| a[i] * b[k - i])
                    .sum()
            })
            .collect()
    }

    fn lcg(seed: &mut u64) -> f64 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*seed >> 11) as f64) / ((1u64 << 53) as f64)
    }

    #[test]
    fn products_match_the_definition() {
        let mut s = 7u64;
        for &(la, lb, n) in &[
            (1, 1, 1),
            (5, 3, 4),
            (5, 3, 10),
            (40, 70, 60),
            (700, 600, 900),
            (1500, 1500, 1500),
        ] {
            let a: Vec<f64> = (0..la).map(|_| lcg(&mut s) - 0.3).collect();
            let b: Vec<f64> = (0..lb).map(|_| lcg(&mut s) - 0.3).collect();
            let r = naive_ref(&a, &b, n);
            let scale: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt()
                * b.iter().map(|x| x * x).sum::<f64>().sqrt();
            for (name, got) in [
                ("naive", mul_naive(&a, &b, n)),
                ("fft", mul_fft(&a, &b, n)),
                ("auto", mul(&a, &b, n)),
            ] {
                assert_eq!(got.len(), n);
                for k in 0..n {
                    assert!(
                        (got[k] - r[k]).abs() <= 1e-14 * scale,
                        "{name} la={la} lb={lb} n={n} k={k}: {} vs {}",
                        got[k],
                        r[k]
                    );
                }
            }
            let sq = square(&a, n);
            let rsq = naive_ref(&a, &a, n);
            for k in 0..n {
                assert!((sq[k] - rsq[k]).abs() <= 1e-14 * scale.max(1.0));
            }
        }
    }

    #[test]
    fn blocked_naive_product_is_exact_for_every_shape() {
        // the output-block kernel (shorter operand ≥ kernels::CB): lengths around the block
        // size, truncations inside and past the full product, leading zeros on either side;
        // non-negative data, so every coefficient must be relatively exact
        let mut s = 3u64;
        for &la in &[32usize, 33, 63, 64, 65, 100, 208] {
            for &lb in &[32usize, 47, 64, 129, 208, 300] {
                for &n in &[1usize, 31, 32, 33, 64, 100, 208, 400, 600] {
                    for &(za, zb) in &[(0usize, 0usize), (3, 0), (0, 5), (2, 40)] {
                        let mut a: Vec<f64> = (0..la).map(|_| lcg(&mut s) + 1e-3).collect();
                        let mut b: Vec<f64> = (0..lb).map(|_| lcg(&mut s) + 1e-3).collect();
                        a[..za].fill(0.0);
                        b[..zb.min(lb - 1)].fill(0.0);
                        let want = naive_ref(&a, &b, n);
                        let got = mul_naive(&a, &b, n);
                        assert_eq!(got.len(), n);
                        for k in 0..n {
                            let tol = 1e-14 * want[k].abs();
                            assert!(
                                (got[k] - want[k]).abs() <= tol,
                                "la={la} lb={lb} n={n} zeros=({za},{zb}) k={k}: {} vs {}",
                                got[k],
                                want[k]
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn every_output_block_kernel_variant_agrees() {
        let mut s = 5u64;
        const CB: usize = kernels::CB;
        for len in [1usize, 2, 7, 32, 33, 64] {
            let a: Vec<f64> = (0..len).map(|_| lcg(&mut s)).collect();
            let off = len + 3;
            let bp: Vec<f64> = (0..off + CB).map(|_| lcg(&mut s)).collect();
            let want: Vec<f64> = (0..CB)
                .map(|t| (0..len).map(|i| a[i] * bp[off + t - i]).sum())
                .collect();
            for (v, got) in kernels::conv_block_variants(&a, &bp, off)
                .iter()
                .enumerate()
            {
                for t in 0..CB {
                    assert!(
                        (got[t] - want[t]).abs() <= 1e-14 * want[t],
                        "variant {v} len {len} t {t}"
                    );
                }
            }
        }
    }

    #[test]
    fn support_lattices_match_brute_force() {
        let brute = |a: &[f64], from: usize| -> Option<(usize, usize)> {
            let nz: Vec<usize> = (from..a.len()).filter(|&i| a[i] != 0.0).collect();
            let f = *nz.first()?;
            let s = nz.iter().fold(0, |g, &i| gcd(g, i - f));
            Some(if s == 0 { (0, f) } else { (s, f % s) })
        };
        let mut seed = 9u64;
        for len in [0usize, 1, 2, 5, 17, 64, 300] {
            for step in [1usize, 2, 3, 6, 7] {
                for start in [0usize, 1, 4] {
                    for from in [0usize, 2] {
                        let mut a = vec![0.0; len];
                        let mut i = start;
                        while i < len {
                            a[i] = lcg(&mut seed) + 0.1;
                            i += step;
                        }
                        if len > 40 && step > 1 {
                            a[len - 1] = 1.0; // one coefficient off the lattice, late
                        }
                        let want = brute(&a, from);
                        assert_eq!(support_lattice(&a, from), want, "len {len} step {step}");
                        let g = (1..len).filter(|&i| a[i] != 0.0).fold(0, gcd);
                        assert_eq!(index_gcd(&a), (g > 0).then_some(g));
                        if let Some((s, r)) = want {
                            let mut out: Vec<f64> = (0..len).map(|_| 1.0).collect();
                            zero_off_lattice(&mut out, from, (s, r));
                            for (k, v) in out.iter().enumerate() {
                                let on = k < from
                                    || s == 1
                                    || (s == 0 && k == r)
                                    || (s > 1 && k % s == r % s);
                                assert_eq!(*v, if on { 1.0 } else { 0.0 }, "k {k} s {s} r {r}");
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn every_row_kernel_variant_agrees() {
        const RB: usize = kernels::RB;
        let mut s = 13u64;
        for start in [1usize, 2, 3, 5, 17, 40] {
            for i0 in [0usize, 1, 3] {
                if i0 >= start {
                    continue;
                }
                let h: Vec<f64> = (0..start).map(|_| lcg(&mut s)).collect();
                let g: Vec<f64> = (0..start).map(|_| lcg(&mut s)).collect();
                let u: Vec<f64> = (0..start + RB).map(|_| lcg(&mut s)).collect();
                let row = |w: &[f64], from: usize| -> Vec<f64> {
                    (0..RB)
                        .map(|t| (from..start).map(|i| w[i] * u[start + t - i]).sum())
                        .collect()
                };
                let (want1, want_a, want_c) = (row(&h, i0), row(&g, 0), row(&h, 0));
                let (r1, r2) = kernels::row_kernel_variants(&h, &g, i0, start, &u);
                let close = |x: f64, y: f64| (x - y).abs() <= 1e-14 * y.abs();
                for (v, got) in r1.iter().enumerate() {
                    for t in 0..RB {
                        assert!(close(got[t], want1[t]), "rows1 variant {v} start {start}");
                    }
                }
                for (v, (a, c)) in r2.iter().enumerate() {
                    for t in 0..RB {
                        assert!(
                            close(a[t], want_a[t]) && close(c[t], want_c[t]),
                            "rows2 {v}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn naive_square_matches_the_naive_product() {
        let mut s = 11u64;
        for &(la, n, lead) in &[
            (1usize, 1usize, 0usize),
            (1, 5, 2),
            (2, 3, 0),
            (3, 9, 1),
            (4, 8, 0),
            (5, 12, 3),
            (7, 7, 0),
            (9, 30, 2),
            (40, 60, 0),
            (208, 208, 0),
            (300, 250, 5),
            (501, 501, 0),
        ] {
            let mut a: Vec<f64> = (0..la).map(|_| lcg(&mut s)).collect();
            for v in a.iter_mut().take(lead.min(la)) {
                *v = 0.0;
            }
            let want = naive_ref(&a, &a, n);
            let got = square_naive(&a, n);
            assert_eq!(got.len(), n);
            for k in 0..n {
                assert!(
                    (got[k] - want[k]).abs() <= 1e-14 * want[k],
                    "la={la} n={n} lead={lead} k={k}: {} vs {}",
                    got[k],
                    want[k]
                );
            }
        }
    }

    #[test]
    fn leading_zeros_and_empty() {
        let a = [0.0, 0.0, 1.0, 2.0];
        let b = [0.0, 3.0, 4.0];
        assert_eq!(mul_naive(&a, &b, 6), vec![0.0, 0.0, 0.0, 3.0, 10.0, 8.0]);
        assert_eq!(mul_fft(&a, &b, 6)[..3], [0.0, 0.0, 0.0]);
        assert_eq!(mul(&a, &[], 3), vec![0.0; 3]);
        assert_eq!(mul(&a, &b, 0), Vec::<f64>::new());
        assert_eq!(mul(&a, &b, 2), vec![0.0, 0.0]);
    }

    #[test]
    fn naive_product_is_relatively_exact_for_nonnegative_series() {
        // a_i = 2^-i*... widely ranging coefficients; product coefficient k = sum of positive terms
        // (the naive product itself at n = 300; mul_nonneg at any length keeps the first
        // EXACT_LEN coefficients exact — split products — and FFT-accurate ones beyond)
        for &n in &[300usize, 3000] {
            let a: Vec<f64> = (0..n).map(|i| (-(i as f64) * 0.9).exp()).collect();
            let b: Vec<f64> = (0..n).map(|i| (-(i as f64) * 1.1).exp()).collect();
            let p = mul_nonneg(&a, &b, n);
            let pn = mul_naive(&a, &b, n);
            for k in 0..n {
                // exact: sum_i e^{-0.9 i - 1.1 (k-i)} = e^{-1.1k} sum_i e^{0.2 i}
                let exact = (-1.1 * k as f64).exp() * ((0.2 * (k + 1) as f64).exp() - 1.0)
                    / (0.2f64.exp() - 1.0);
                if k < 300 && exact > 1e-300 {
                    assert!(
                        ((pn[k] - exact) / exact).abs() < 1e-12,
                        "naive k={k} {} {exact}",
                        pn[k]
                    );
                }
                if k < EXACT_LEN {
                    assert!(
                        ((p[k] - exact) / exact).abs() < 1e-12,
                        "n={n} k={k} {} {}",
                        p[k],
                        exact
                    );
                } else {
                    assert!(p[k] >= 0.0 && (p[k] - exact).abs() < 1e-15, "n={n} k={k}");
                }
            }
        }
    }

    #[test]
    fn integrate_and_differentiate() {
        let a = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(integrate(&a, 5.0, 5), vec![5.0, 1.0, 1.0, 1.0, 1.0]);
        assert_eq!(integrate(&a, 5.0, 3), vec![5.0, 1.0, 1.0]);
        assert_eq!(
            integrate(&a, 5.0, 7),
            vec![5.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0]
        );
        assert_eq!(derivative(&a), vec![2.0, 6.0, 12.0]);
        assert_eq!(derivative(&integrate(&a, 0.0, 5)), a.to_vec());
    }

    #[test]
    fn horner_certificate_holds() {
        // (1 - x)^20 expanded: heavy cancellation near x = 1
        let n = 21;
        let mut a = vec![0.0; n];
        let mut binom = 1.0f64;
        for (k, ak) in a.iter_mut().enumerate() {
            *ak = if k % 2 == 0 { binom } else { -binom };
            binom = binom * (20 - k) as f64 / (k + 1) as f64;
        }
        for &x in &[0.0, 0.5, 0.9, 0.99, 1.0, 1.01, -0.7] {
            let e = horner(&a, x);
            let exact = (1.0f64 - x).powi(20);
            assert!(
                (e.value - exact).abs() <= e.error_bound,
                "x={x}: {} vs {} bound {}",
                e.value,
                exact,
                e.error_bound
            );
        }
        let e = horner(&[1.0, 1.0, 1.0], 2.0);
        assert_eq!(e.value, 7.0);
        assert!(e.error_bound < 1e-14);
    }

    #[test]
    fn composition_matches_repeated_products() {
        let mut s = 3u64;
        for &(n, jt, d) in &[
            (1usize, 5usize, 1usize),
            (8, 5, 1),
            (30, 30, 1),
            (60, 40, 2),
            (700, 700, 1),
        ] {
            let t: Vec<f64> = (0..jt).map(|_| lcg(&mut s)).collect();
            let mut z = vec![0.0; n.min(50)];
            for (i, zi) in z.iter_mut().enumerate().skip(d) {
                *zi = lcg(&mut s) / (i * i) as f64;
            }
            let got = compose(&t, &z, n, &never_cancel).unwrap();
            // reference: plain Horner in z with naive products
            let mut r = vec![0.0; n];
            for &tj in t.iter().rev() {
                r = mul_naive(&r, &z, n);
                if n > 0 {
                    r[0] += tj;
                }
            }
            // naive products (n <= EXACT_LEN): relative accuracy; FFT: absolute
            let rmax = r.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let abs_tol = if n > EXACT_LEN { 1e-14 * rmax } else { 0.0 };
            for k in 0..n {
                assert!(
                    (got[k] - r[k]).abs() <= 1e-13 * r[k].abs().max(1e-300) + abs_tol,
                    "n={n} k={k}: {} vs {}",
                    got[k],
                    r[k]
                );
            }
        }
        assert!(compose(&[1.0, 1.0], &[0.5, 1.0], 4, &never_cancel).is_err());
    }

    #[test]
    fn inverse_log_exp_roundtrip() {
        let n = 3000; // exercises the Newton branches too
        let g: Vec<f64> = (0..n)
            .map(|i| if i == 0 { 0.3 } else { 0.5 / (i * i) as f64 })
            .collect();
        let e = exp(&g, n, &never_cancel).unwrap();
        let e_small = exp(&g, 200, &never_cancel).unwrap();
        for k in 0..200 {
            assert!(((e[k] - e_small[k]) / e_small[k]).abs() < 1e-12, "k={k}");
        }
        let l = log(&e, n, &never_cancel).unwrap();
        for k in 0..n {
            assert!((l[k] - g[k]).abs() < 1e-13, "k={k}: {} vs {}", l[k], g[k]);
        }
        let inv = inverse(&e, n, &never_cancel).unwrap();
        let one = mul(&inv, &e, n);
        for (k, &v) in one.iter().enumerate() {
            let t = if k == 0 { 1.0 } else { 0.0 };
            assert!((v - t).abs() < 1e-13, "k={k}: {v}");
        }
        let (sh, ch) = sinh_cosh(&g, 300, &never_cancel).unwrap();
        let em = exp(
            &g.iter().map(|v| -v).collect::<Vec<_>>(),
            300,
            &never_cancel,
        )
        .unwrap();
        for k in 0..300 {
            assert!((sh[k] - 0.5 * (e[k] - em[k])).abs() < 1e-14 * (1.0 + e[k]));
            assert!((ch[k] - 0.5 * (e[k] + em[k])).abs() < 1e-14 * (1.0 + e[k]));
        }
        let (shl, chl) = sinh_cosh(&g, n, &never_cancel).unwrap();
        for k in 0..300 {
            assert!((shl[k] - sh[k]).abs() < 1e-13 * (1.0 + ch[k]));
            assert!((chl[k] - ch[k]).abs() < 1e-13 * (1.0 + ch[k]));
        }
    }

    #[test]
    fn rsqrt_recurrence_and_newton_agree_with_binomial_series() {
        // c = rho: (1 - rho^2)^(-1/2) = sum binom(2m, m)/4^m rho^{2m}
        let n = 4001;
        let c = [0.0, 1.0];
        let g_newton = rsqrt_one_minus_sq(&c, 1.0, 0.0, n, &never_cancel).unwrap();
        let g_rec = rsqrt_one_minus_sq(&c, 1.0, 0.0, RECURRENCE_MAX_LEN, &never_cancel).unwrap();
        let mut b = 1.0f64;
        for m in 0..(n / 2) {
            if 2 * m + 1 < RECURRENCE_MAX_LEN {
                assert!(((g_rec[2 * m] - b) / b).abs() < 1e-13, "m={m}");
                assert_eq!(g_rec[2 * m + 1], 0.0);
            }
            assert!(((g_newton[2 * m] - b) / b).abs() < 1e-11, "m={m}");
            assert!(g_newton[2 * m + 1].abs() < 1e-14);
            b *= (2 * m + 1) as f64 / (2 * m + 2) as f64;
        }
        // general c with c0 > 0 and beta < 1: compare with inv_sqrt of the explicit series
        let c: Vec<f64> = vec![0.4, 0.3, 0.0, 0.2, 0.1];
        let beta = 0.8;
        let n = 60;
        let c2 = mul(&c, &c, n);
        let mut f: Vec<f64> = c2.iter().map(|v| -beta * beta * v).collect();
        f[0] += 1.0;
        let want = inv_sqrt(&f, n, &never_cancel).unwrap();
        let got = rsqrt_one_minus_sq(&c, beta, 1.0 - beta, n, &never_cancel).unwrap();
        for k in 0..n {
            assert!(((got[k] - want[k]) / want[k]).abs() < 1e-12, "k={k}");
        }
    }

    #[test]
    fn cancellation_is_honoured() {
        let stop = || true;
        let c = [0.0, 1.0];
        assert_eq!(
            rsqrt_one_minus_sq(&c, 1.0, 0.0, 5000, &stop),
            Err(NtkError::Interrupted)
        );
        assert_eq!(exp(&c, 5000, &stop), Err(NtkError::Interrupted));
    }
}
