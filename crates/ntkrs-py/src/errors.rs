//! The one place where engine errors become Python exceptions.
use ntk_core::NtkError;
use numpy::IntoPyArray;
use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError};
use pyo3::prelude::*;

/// Map an engine error onto the exception classes defined in `ntkrs.errors`
/// (each subclasses the matching builtin: ValueError, MemoryError, RuntimeError, ...).
pub fn to_pyerr(err: NtkError) -> PyErr {
    let class = match &err {
        NtkError::InvalidArgument(_) => "InvalidInputError",
        NtkError::NonFinite(_) => "NonFiniteError",
        NtkError::Domain(_) => "DomainError",
        NtkError::Unsupported(_) => "UnsupportedError",
        NtkError::TooLarge(_) => "TooLargeError",
        NtkError::Convergence(_) => "ConvergenceError",
        NtkError::Interrupted => return PyKeyboardInterrupt::new_err("interrupted"),
        NtkError::NotConverged { message, values } => {
            let err = py_error("ConvergenceError", message.clone());
            Python::attach(|py| {
                // Attach what did converge, so callers can still use it.
                let _ = err
                    .value(py)
                    .setattr("values", values.clone().into_pyarray(py));
            });
            return err;
        }
    };
    py_error(class, err.to_string())
}

/// Raise `ntkrs.errors.<class>(message)` from the bindings' own validation.
pub fn py_error(class: &str, message: impl Into<String>) -> PyErr {
    let message = message.into();
    Python::attach(|py| {
        let made = py
            .import("ntkrs.errors")
            .and_then(|m| m.getattr(class))
            .and_then(|cls| cls.call1((message.clone(),)));
        match made {
            Ok(instance) => PyErr::from_value(instance),
            Err(_) => PyRuntimeError::new_err(message),
        }
    })
}
