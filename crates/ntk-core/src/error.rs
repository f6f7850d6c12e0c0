//! The single error type of the engine. The bindings map each variant once to the
//! Python exception hierarchy.
use thiserror::Error;

/// Everything that can go wrong in ntk-core.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum NtkError {
    /// An argument is outside its documented domain (maps to `ValueError`).
    #[error("{0}")]
    InvalidArgument(String),
    /// Input data contain NaN or infinity (maps to `ValueError`).
    #[error("{0}")]
    NonFinite(String),
    /// The requested configuration is mathematically impossible or undefined,
    /// e.g. unit variance unreachable, or the NTK of the step function (maps to `ValueError`).
    #[error("{0}")]
    Domain(String),
    /// A quantity is not available for this activation, e.g. `q != 1` with a
    /// coefficient-only activation (maps to `ValueError`).
    #[error("{0}")]
    Unsupported(String),
    /// The result would not fit in memory (maps to `MemoryError`).
    #[error("{0}")]
    TooLarge(String),
    /// An iterative method did not converge (maps to `RuntimeError`).
    #[error("{0}")]
    Convergence(String),
    /// An iterative eigensolver did not reach the requested tolerance within its restart
    /// budget; `values` holds the eigenvalues that did converge (maps to `RuntimeError`).
    #[error("{message}")]
    NotConverged { message: String, values: Vec<f64> },
    /// The computation was cancelled (Ctrl-C).
    #[error("interrupted")]
    Interrupted,
}

pub type Result<T> = std::result::Result<T, NtkError>;
