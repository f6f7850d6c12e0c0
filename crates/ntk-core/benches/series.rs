//! Timings of the NTK/NNGP power-series engine (run with
//! `cargo bench -p ntk-core --bench series`; plain `main`, prints a table).
//!
//! * naive vs FFT truncated products (the crossover used by `series::mul`);
//! * ReLU, depth 10, degree 20 000 (goal: < 2 s on 2 cores);
//! * degree 500, depth 5 for several activations, against the paper's algorithm (Hermite
//!   sums cut at k = P, O(P³) per layer) written plainly in Rust;
//! * a batch of 1000 settings to degree 500 (rayon).
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use ntk_core::closed_form::ClosedForm;
use ntk_core::dual::Dual;
use ntk_core::kernel::{batch_series, Network, SeriesOptions};
use ntk_core::series::{self, never_cancel};

/// Median-of-runs seconds per call (repeats until ~0.3 s have elapsed).
fn time<F: FnMut()>(mut f: F) -> f64 {
    let mut samples = Vec::new();
    let start = Instant::now();
    while samples.len() < 3 || (start.elapsed().as_secs_f64() < 0.3 && samples.len() < 1000) {
        let t = Instant::now();
        f();
        samples.push(t.elapsed().as_secs_f64());
    }
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    samples[samples.len() / 2]
}

/// The paper's algorithm: `ψ` as the Hermite sum cut at k = P, powers by naive products.
fn paper_algorithm(w: &[f64], wd: &[f64], weight_var: f64, depth: usize, p: usize) -> Vec<f64> {
    let n = p + 1;
    let horner = |t: &[f64], c: &[f64]| {
        let mut r = vec![0.0; n];
        for &tk in t.iter().rev() {
            r = series::mul_naive(&r, c, n);
            r[0] += tk;
        }
        r
    };
    let mut a = vec![0.0; n];
    a[1] = 1.0;
    let mut th = a.clone();
    for _ in 0..depth {
        let an: Vec<f64> = horner(&w[..n], &a).iter().map(|v| weight_var * v).collect();
        let ad: Vec<f64> = horner(&wd[..n], &a)
            .iter()
            .map(|v| weight_var * v)
            .collect();
        let pr = series::mul_naive(&th, &ad, n);
        th = an.iter().zip(&pr).map(|(x, y)| x + y).collect();
        a = an;
    }
    th
}

/// Sections to run: the non-flag command-line arguments (`products`, `relu20k`, `deg500`,
/// `batch`), all of them when none is given.
fn wanted(section: &str) -> bool {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    args.is_empty() || args.iter().any(|a| a == section)
}

fn main() {
    println!("threads: {}", rayon::current_num_threads());
    if wanted("products") {
        products();
    }
    if wanted("relu20k") {
        relu20k();
    }
    if wanted("deg500") {
        deg500();
    }
    if wanted("batch") {
        batch();
    }
    if wanted("parts") {
        parts();
    }
    // not part of the default run: 4000 calls for profilers (`perf record`, `perf stat`:
    // CPU time per call stays meaningful on a loaded machine), `profile ACTIVATION`
    if let Some(i) = std::env::args().position(|a| a == "profile") {
        let cf = match std::env::args().nth(i + 1).as_deref() {
            Some("erf") => ClosedForm::Erf { scale: 1.0 },
            Some("sin") => ClosedForm::Sin { freq: 1.0 },
            Some("gelu") => ClosedForm::Gelu,
            Some("hardtanh") => ClosedForm::HardTanh,
            _ => ClosedForm::Relu,
        };
        let depth = std::env::args()
            .nth(i + 2)
            .and_then(|d| d.parse().ok())
            .unwrap_or(5);
        let net = Network::new(Arc::new(cf.clone()), depth).unwrap();
        let calls = 4000;
        let start = Instant::now();
        for _ in 0..calls {
            black_box(
                net.series(500, SeriesOptions::default(), &never_cancel)
                    .unwrap(),
            );
        }
        println!(
            "profile loop: {:.1} us (wall) per {cf:?} depth-{depth} degree-500 series",
            start.elapsed().as_secs_f64() * 1e6 / calls as f64
        );
    }
}

fn products() {
    println!("\n== truncated products: naive vs FFT (full-length operands) ==");
    for &n in &[32usize, 64, 128, 256, 512, 1024, 4096, 20_001] {
        let a: Vec<f64> = (0..n).map(|i| 1.0 / (1.0 + i as f64)).collect();
        let tn = time(|| {
            black_box(series::mul_naive(&a, &a, n));
        });
        let tf = time(|| {
            black_box(series::mul_fft(&a, &a, n));
        });
        println!(
            "n = {n:6}: naive {:10.1} us   fft {:8.1} us   naive/fft {:6.2}   auto picks {}",
            tn * 1e6,
            tf * 1e6,
            tn / tf,
            if series::prefer_naive(&a, &a, n) {
                "naive"
            } else {
                "fft"
            }
        );
    }
}

fn relu20k() {
    println!("\n== ReLU, depth 10, degree 20 000 (goal < 2 s) ==");
    let relu: Arc<dyn Dual> = Arc::new(ClosedForm::Relu);
    let net = Network::new(relu.clone(), 10).unwrap();
    let t = Instant::now();
    let s = net
        .series(20_000, SeriesOptions::default(), &never_cancel)
        .unwrap();
    let el = t.elapsed().as_secs_f64();
    let k = s.ntk.as_ref().unwrap();
    println!(
        "time {el:.3} s   Θ(1) = {}   Σκ = {:.12}   bound = {:.3e}   κ_20000 = {:.6e}",
        s.ntk_at_one.unwrap(),
        k.iter().sum::<f64>(),
        s.ntk_truncation_bound.unwrap(),
        k[20_000]
    );
    let t = Instant::now();
    let s = Network::with_bias_var(relu.clone(), 10, 0.5)
        .unwrap()
        .series(20_000, SeriesOptions::default(), &never_cancel)
        .unwrap();
    println!(
        "with bias_var = 0.5: {:.3} s   bound {:.3e}",
        t.elapsed().as_secs_f64(),
        s.ntk_truncation_bound.unwrap()
    );
}

fn deg500() {
    println!("\n== degree 500, depth 5 ==");
    let p = 500;
    let w: Vec<f64> = ClosedForm::Relu
        .coefficients(p + 1, 1.0)
        .unwrap()
        .mu
        .iter()
        .map(|m| m * m)
        .collect();
    let wd: Vec<f64> = (0..=p).map(|k| (k + 1) as f64 * w[k + 1]).collect();
    let t_paper = time(|| {
        black_box(paper_algorithm(&w, &wd, 2.0, 5, p));
    });
    for cf in [
        ClosedForm::Relu,
        ClosedForm::Erf { scale: 1.0 },
        ClosedForm::Sin { freq: 1.0 },
        ClosedForm::Gaussian,
        ClosedForm::Gelu,
        ClosedForm::HardTanh,
    ] {
        let net = Network::new(Arc::new(cf.clone()), 5).unwrap();
        let tt = time(|| {
            black_box(
                net.series(p, SeriesOptions::default(), &never_cancel)
                    .unwrap(),
            );
        });
        let netb = Network::with_bias_var(Arc::new(cf.clone()), 5, 0.3).unwrap();
        let tb = time(|| {
            black_box(
                netb.series(p, SeriesOptions::default(), &never_cancel)
                    .unwrap(),
            );
        });
        println!(
            "{:<28} {:8.2} ms  (bias 0.3: {:8.2} ms)   paper-style O(P³) ReLU: {:8.1} ms  ratio {:6.0}x",
            format!("{cf:?}"),
            tt * 1e3,
            tb * 1e3,
            t_paper * 1e3,
            t_paper / tt
        );
    }
}

fn batch() {
    println!("\n== batch: 1000 settings to degree 500 (rayon) ==");
    let acts = [
        ClosedForm::Relu,
        ClosedForm::Erf { scale: 1.0 },
        ClosedForm::Gelu,
        ClosedForm::Cos { freq: 1.0 },
    ];
    let mut nets = Vec::new();
    for i in 0..1000 {
        let cf = acts[i % acts.len()].clone();
        let depth = 1 + (i / 4) % 10;
        let bias = 0.05 * ((i / 40) % 10) as f64;
        nets.push(Network::with_bias_var(Arc::new(cf), depth, bias).unwrap());
    }
    let t = Instant::now();
    let r = batch_series(&nets, 500, SeriesOptions::default(), &never_cancel);
    let el = t.elapsed().as_secs_f64();
    println!(
        "{} networks in {el:.2} s ({} errors)",
        r.len(),
        r.iter().filter(|x| x.is_err()).count()
    );
}

/// The pieces of one ReLU layer at degree 500 (inner series: a ReLU layer-2 correlation).
fn parts() {
    println!("\n== pieces of a ReLU layer at degree 500 ==");
    let n = 501;
    let net = Network::new(Arc::new(ClosedForm::Relu), 1).unwrap();
    let opts = SeriesOptions {
        ntk: false,
        keep_layers: false,
    };
    let c = net.series(n - 1, opts, &never_cancel).unwrap().nngp;
    let dc = series::derivative(&c);
    let t = time(|| {
        black_box(series::rsqrt_one_minus_sq(&c, 1.0, 0.0, n - 1, &never_cancel).unwrap());
    });
    println!("rsqrt_one_minus_sq: {:.2} us", t * 1e6);
    for m in [208usize, 250] {
        let t = time(|| {
            black_box(series::rsqrt_one_minus_sq(&c, 1.0, 0.0, m, &never_cancel).unwrap());
        });
        let ts = time(|| {
            black_box(series::square(&c, m));
        });
        println!(
            "  recurrence only, {m} coefficients: {:.2} us (of which square {:.2} us)",
            t * 1e6,
            ts * 1e6
        );
    }
    let t = time(|| {
        black_box(series::square(&c, n));
    });
    println!("square (split):     {:.2} us", t * 1e6);
    let t = time(|| {
        black_box(series::mul_nonneg(&c[..n - 1], &dc, n - 1));
    });
    println!("mul_nonneg (split): {:.2} us", t * 1e6);
    let t = time(|| {
        black_box(series::mul_fft(&c[..n - 1], &dc, n - 1));
    });
    println!("mul_fft:            {:.2} us", t * 1e6);
    let t = time(|| {
        black_box(series::mul_naive(&c[..208], &dc[..208], 208));
    });
    println!("naive low 208:      {:.2} us", t * 1e6);
    let deep = Network::new(Arc::new(ClosedForm::Relu), 4).unwrap();
    let t = time(|| {
        black_box(
            deep.series(n - 1, SeriesOptions::default(), &never_cancel)
                .unwrap(),
        );
    });
    let t1 = time(|| {
        black_box(
            net.series(n - 1, SeriesOptions::default(), &never_cancel)
                .unwrap(),
        );
    });
    println!(
        "depth 4 series: {:.2} us, depth 1: {:.2} us",
        t * 1e6,
        t1 * 1e6
    );
}
