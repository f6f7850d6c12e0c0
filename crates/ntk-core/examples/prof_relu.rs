use ntk_core::closed_form::ClosedForm;
use ntk_core::dual::Dual;
use ntk_core::kernel::{Network, SeriesOptions};
use ntk_core::series::never_cancel;
use std::sync::Arc;
use std::time::Instant;
fn main() {
    let relu: Arc<dyn Dual> = match std::env::var("ACT").as_deref() {
        Ok("erf") => Arc::new(ClosedForm::Erf { scale: 1.0 }),
        Ok("sin") => Arc::new(ClosedForm::Sin { freq: 1.0 }),
        _ => Arc::new(ClosedForm::Relu),
    };
    let depth: usize = std::env::var("DEPTH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let net = Network::new(relu, depth).unwrap();
    let iters: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().unwrap())
        .unwrap_or(20000);
    let mut best = f64::INFINITY;
    for _ in 0..iters / 1000 {
        let t = Instant::now();
        for _ in 0..1000 {
            let s = net
                .series(500, SeriesOptions::default(), &never_cancel)
                .unwrap();
            std::hint::black_box(s);
        }
        best = best.min(t.elapsed().as_secs_f64() / 1000.0);
    }
    println!("best {:.1} us/call", best * 1e6);
}
