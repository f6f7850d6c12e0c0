//! FFT convolution of real sequences (real-to-complex transforms from `realfft`).
//!
//! For sequences `a` (length `n_a`) and `b` (length `n_b`) the linear convolution
//! `(a * b)_k = Σ_i a_i b_{k−i}` is computed as a cyclic convolution of length
//! `N ≥ n_a + n_b − 1` (so nothing wraps around), `N` chosen among the fast sizes
//! `2^i 3^j 5^k` (even). The round-off is *absolute*: every output entry carries an error of
//! order `ε · log₂N · ‖a‖₂ ‖b‖₂` (`ε` = machine epsilon), however small the exact entry is.
//! Callers that need relative accuracy for coefficients spanning many decades must use
//! the naive product instead (see [`crate::series`]).
//!
//! Plans are cached per thread (`thread_local!`), so repeated products of the same size
//! cost only the transforms.
use std::cell::RefCell;
use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

thread_local! {
    static PLANNER: RefCell<RealFftPlanner<f64>> = RefCell::new(RealFftPlanner::new());
}

fn plans(len: usize) -> (Arc<dyn RealToComplex<f64>>, Arc<dyn ComplexToReal<f64>>) {
    PLANNER.with(|p| {
        let mut p = p.borrow_mut();
        (p.plan_fft_forward(len), p.plan_fft_inverse(len))
    })
}

/// The smallest even integer `N ≥ min_len` of the form `2^i 3^j 5^k` (`i ≥ 1`):
/// transform sizes for which the mixed-radix FFT is fast.
pub fn fast_len(min_len: usize) -> usize {
    let target = min_len.max(2);
    let mut best = usize::MAX;
    let mut p5 = 1usize;
    while p5 < best {
        let mut p35 = p5;
        while p35 < best {
            // smallest power of two times p35 that is >= target, at least 2 * p35
            let mut v = p35 * 2;
            while v < target {
                v *= 2;
            }
            if v < best {
                best = v;
            }
            match p35.checked_mul(3) {
                Some(x) => p35 = x,
                None => break,
            }
        }
        match p5.checked_mul(5) {
            Some(x) => p5 = x,
            None => break,
        }
    }
    best
}

/// Forward real-to-complex transform of `a` zero-padded to length `len`.
fn forward(a: &[f64], len: usize, r2c: &Arc<dyn RealToComplex<f64>>) -> Vec<Complex<f64>> {
    let mut input = vec![0.0; len];
    input[..a.len()].copy_from_slice(a);
    let mut out = r2c.make_output_vec();
    // Lengths are correct by construction, so this cannot fail.
    let _ = r2c.process(&mut input, &mut out);
    out
}

/// Inverse transform, scaled by `1/len`, returning the first `n` real samples.
fn inverse(
    mut spec: Vec<Complex<f64>>,
    len: usize,
    n: usize,
    c2r: &Arc<dyn ComplexToReal<f64>>,
) -> Vec<f64> {
    // The DC and Nyquist bins of a real signal are real; clear the round-off in their
    // imaginary parts so that realfft does not flag the input.
    if let Some(first) = spec.first_mut() {
        first.im = 0.0;
    }
    if len & 1 == 0 {
        if let Some(last) = spec.last_mut() {
            last.im = 0.0;
        }
    }
    let mut out = c2r.make_output_vec();
    let _ = c2r.process(&mut spec, &mut out);
    let scale = 1.0 / len as f64;
    out.truncate(n);
    for v in out.iter_mut() {
        *v *= scale;
    }
    out
}

/// The first `n` entries of the linear convolution `a * b` (zero-padded if `n` exceeds
/// `a.len() + b.len() − 1`). Absolute round-off `≈ ε log₂N ‖a‖₂‖b‖₂` per entry.
pub fn convolve(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    if a.is_empty() || b.is_empty() || n == 0 {
        return vec![0.0; n];
    }
    let a = &a[..a.len().min(n)];
    let b = &b[..b.len().min(n)];
    let full = a.len() + b.len() - 1;
    let len = fast_len(full);
    let (r2c, c2r) = plans(len);
    let mut fa = forward(a, len, &r2c);
    let fb = forward(b, len, &r2c);
    for (x, y) in fa.iter_mut().zip(fb.iter()) {
        *x *= *y;
    }
    let mut out = inverse(fa, len, full.min(n), &c2r);
    out.resize(n, 0.0);
    out
}

/// The first `n` entries of `a * a` (one forward transform instead of two).
pub fn square(a: &[f64], n: usize) -> Vec<f64> {
    if a.is_empty() || n == 0 {
        return vec![0.0; n];
    }
    let a = &a[..a.len().min(n)];
    let full = 2 * a.len() - 1;
    let len = fast_len(full);
    let (r2c, c2r) = plans(len);
    let mut fa = forward(a, len, &r2c);
    for x in fa.iter_mut() {
        *x = *x * *x;
    }
    let mut out = inverse(fa, len, full.min(n), &c2r);
    out.resize(n, 0.0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` with all factors 2, 3, 5 divided out.
    fn smooth_part(mut n: usize) -> usize {
        for p in [2, 3, 5] {
            while n.rem_euclid(p) == 0 {
                n /= p;
            }
        }
        n
    }

    #[test]
    fn fast_len_is_smooth_even_and_minimal() {
        for m in 1..3000usize {
            let n = fast_len(m);
            assert!(n >= m && n & 1 == 0);
            assert_eq!(smooth_part(n), 1);
            // minimal: no smaller even 5-smooth number >= m
            for k in (m.max(2)..n).filter(|k| k & 1 == 0) {
                assert_ne!(smooth_part(k), 1, "fast_len({m}) = {n} but {k} is smaller");
            }
        }
    }

    #[test]
    fn convolution_matches_direct_sum() {
        let a: Vec<f64> = (0..37).map(|i| ((i * 7 + 3) % 11) as f64 - 5.0).collect();
        let b: Vec<f64> = (0..23).map(|i| ((i * 5 + 1) % 13) as f64 * 0.25).collect();
        for n in [1usize, 10, 40, 59, 80] {
            let c = convolve(&a, &b, n);
            assert_eq!(c.len(), n);
            for (k, &ck) in c.iter().enumerate() {
                let mut s = 0.0;
                for i in 0..a.len() {
                    if k >= i && k - i < b.len() {
                        s += a[i] * b[k - i];
                    }
                }
                assert!((ck - s).abs() < 1e-12, "k={k}: {ck} vs {s}");
            }
            let sq = square(&a, n);
            for (k, &sk) in sq.iter().enumerate() {
                let mut s = 0.0;
                for i in 0..a.len() {
                    if k >= i && k - i < a.len() {
                        s += a[i] * a[k - i];
                    }
                }
                assert!((sk - s).abs() < 1e-11, "k={k}: {sk} vs {s}");
            }
        }
    }
}
