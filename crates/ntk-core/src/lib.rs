//! ntk-core: the pure-Rust engine of ntkrs.
//!
//! Conventions: `Z ~ N(0, 1)`; `h_k = He_k / sqrt(k!)` are the orthonormal probabilists'
//! Hermite polynomials; `mu_k(phi) = E[phi(Z) h_k(Z)]`; `phi_q(z) = phi(sqrt(q) z)`.
pub mod bivariate;
pub mod closed_dual;
pub mod closed_form;
pub mod dual;
pub mod empirical;
pub mod error;
pub mod fft;
pub mod gram;
pub mod hermite;
pub mod interpolant;
pub mod kernel;
pub mod lanczos;
pub mod operator;
pub mod piecewise_linear;
pub mod quadrature;
pub mod series;
pub mod sphere;
pub mod symmetric_product;

pub use error::{NtkError, Result};
