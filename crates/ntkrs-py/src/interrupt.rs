//! Running engine work with the GIL released while staying responsive to Ctrl-C.
//!
//! The work runs on a scoped worker thread, inside the ntkrs rayon pool (see `threads`); the
//! calling thread waits without the GIL and re-acquires it every few tens of milliseconds to
//! run Python's signal handlers. A pending `KeyboardInterrupt` sets the cancellation flag,
//! which the engine polls between blocks; Python is never called from rayon threads.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

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
