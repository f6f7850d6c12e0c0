//! The rayon thread pool all engine work runs in.
//!
//! Its size follows `RAYON_NUM_THREADS` (else the number of cores) and can be changed at run
//! time with `ntkrs.set_num_threads(n)`; every call installs into the pool current at its
//! start.
use std::sync::{Arc, OnceLock, RwLock};

use pyo3::prelude::*;
use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::errors::py_error;

static POOL: OnceLock<RwLock<Arc<ThreadPool>>> = OnceLock::new();

fn build(threads: usize) -> Result<ThreadPool, rayon::ThreadPoolBuildError> {
    ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("ntkrs-{i}"))
        .build()
}

fn default_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The current pool (created on first use).
pub fn pool() -> Arc<ThreadPool> {
    let lock = POOL.get_or_init(|| {
        let pool = build(default_threads()).unwrap_or_else(|_| {
            // a one-thread pool cannot fail to build for lack of resources in practice
            build(1).expect("cannot create even a single-thread pool")
        });
        RwLock::new(Arc::new(pool))
    });
    match lock.read() {
        Ok(guard) => guard.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

/// Set the number of worker threads used by ntkrs (`0`: `RAYON_NUM_THREADS` or all cores).
#[pyfunction]
pub fn set_num_threads(threads: usize) -> PyResult<()> {
    let n = if threads == 0 {
        default_threads()
    } else {
        threads
    };
    if n > 4096 {
        return Err(py_error(
            "InvalidInputError",
            format!("num_threads = {threads} is absurd (at most 4096)"),
        ));
    }
    let new_pool = build(n).map_err(|e| {
        py_error(
            "InvalidInputError",
            format!("cannot start {n} threads: {e}"),
        )
    })?;
    let lock = POOL.get_or_init(|| RwLock::new(Arc::new(build(1).expect("thread pool"))));
    let mut guard = match lock.write() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    *guard = Arc::new(new_pool);
    Ok(())
}

/// The number of worker threads ntkrs currently uses.
#[pyfunction]
pub fn get_num_threads() -> usize {
    pool().current_num_threads()
}
