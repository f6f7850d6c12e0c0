//! Running engine work with the GIL released while staying responsive to Ctrl-C.
//!
//! [`run_cancellable`]: the work runs on a scoped worker thread, inside the ntkrs rayon pool
//! (see `threads`); the calling thread waits without the GIL and re-acquires it every few
//! tens of milliseconds to run Python's signal handlers. A pending `KeyboardInterrupt` sets
//! the cancellation flag, which the engine polls between blocks; Python is never called
//! from rayon threads.
//!
//! [`run_inline`]: for sequential engine work (one network's series), the work runs on the
//! calling thread itself, still without the GIL; the cancellation hook, when the engine
//! polls it on that thread, runs the signal handlers itself (at most every
//! [`POLL`]). No thread spawn, channel or pool hand-off: a short call costs microseconds.
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use ntk_core::NtkError;
use pyo3::prelude::*;

use crate::errors::to_pyerr;

const POLL: Duration = Duration::from_millis(25);

/// Run `work(cancel)` with the GIL released; `cancel()` turns true after Ctrl-C.
pub fn run_cancellable<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce(&(dyn Fn() -> bool + Sync)) -> Result<T, NtkError> + Send,
{
    run_with_flag(py, &AtomicBool::new(false), work)
}

/// [`run_cancellable`] with a caller-owned stop flag (reset to `false` first), for engine
/// objects that poll a shared flag of their own (e.g. the matrix-free Gram operator).
pub fn run_with_flag<T, F>(py: Python<'_>, stop: &AtomicBool, work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce(&(dyn Fn() -> bool + Sync)) -> Result<T, NtkError> + Send,
{
    stop.store(false, Ordering::Relaxed);
    let mut signal: Option<PyErr> = None;
    let result = py.detach(|| {
        std::thread::scope(|scope| {
            let flag = stop;
            let pool = crate::threads::pool();
            let (done_tx, done_rx) = mpsc::channel::<()>();
            let handle = scope.spawn(move || {
                let cancel = move || flag.load(Ordering::Relaxed);
                let out = pool.install(|| work(&cancel));
                let _ = done_tx.send(());
                out
            });
            // Wake up as soon as the work is done (or has panicked: the sender is dropped),
            // else every POLL to let Python run its signal handlers.
            while let Err(mpsc::RecvTimeoutError::Timeout) = done_rx.recv_timeout(POLL) {
                if signal.is_none() {
                    if let Err(err) = Python::attach(|py| py.check_signals()) {
                        signal = Some(err);
                        stop.store(true, Ordering::Relaxed);
                    }
                }
            }
            handle.join()
        })
    });
    finish(signal, result)
}

/// The outcome of a run: a caught signal first, then the engine's result or panic.
fn finish<T>(
    signal: Option<PyErr>,
    result: std::thread::Result<Result<T, NtkError>>,
) -> PyResult<T> {
    if let Some(err) = signal {
        return Err(err);
    }
    match result {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(to_pyerr(err)),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(pyo3::exceptions::PyRuntimeError::new_err(format!(
                "internal error in the ntkrs core (please report): {what}"
            )))
        }
    }
}

/// Run `work(cancel)` on the calling thread with the GIL released (see the module docs).
///
/// Only for work that polls `cancel` on the calling thread (sequential engine code): polls
/// from other threads only read the stop flag. Parallel sections inside `work` would run
/// in rayon's global pool rather than the ntkrs pool, so keep this for sequential calls.
pub fn run_inline<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce(&(dyn Fn() -> bool + Sync)) -> Result<T, NtkError> + Send,
{
    let stop = AtomicBool::new(false);
    let signal: Mutex<Option<PyErr>> = Mutex::new(None);
    let caller = std::thread::current().id();
    let start = Instant::now();
    let poll_us = POLL.as_micros() as u64;
    // time (µs since start) of the last signal check
    let last = AtomicU64::new(0);
    let result = py.detach(|| {
        let cancel = || {
            if stop.load(Ordering::Relaxed) {
                return true;
            }
            let now = start.elapsed().as_micros() as u64;
            if now < last.load(Ordering::Relaxed) + poll_us || std::thread::current().id() != caller
            {
                return false;
            }
            last.store(now, Ordering::Relaxed);
            if let Err(err) = Python::attach(|py| py.check_signals()) {
                if let Ok(mut slot) = signal.lock() {
                    *slot = Some(err);
                }
                stop.store(true, Ordering::Relaxed);
                return true;
            }
            false
        };
        catch_unwind(AssertUnwindSafe(|| work(&cancel)))
    });
    let signal = match signal.into_inner() {
        Ok(s) => s,
        Err(poisoned) => poisoned.into_inner(),
    };
    finish(signal, result)
}
