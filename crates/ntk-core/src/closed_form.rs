//! Activations with closed-form Hermite coefficients (DESIGN.md §1.2, §3b).
use crate::error::Result;
use crate::hermite::HermiteCoefficients;

/// A built-in activation whose Hermite coefficients are known in closed form.
#[derive(Debug, Clone, PartialEq)]
pub enum ClosedForm {
    Relu,
    LeakyRelu { slope: f64 },
    Abs,
    Step,
    Identity,
    Erf { scale: f64 },
    Sin { freq: f64 },
    Cos { freq: f64 },
    Exp { scale: f64 },
    /// exp(-x^2/2)
    Gaussian,
    /// exp(-x^2/2)/sqrt(2 pi)
    GaussianPdf,
    /// x Phi(x)
    Gelu,
    HardTanh,
    Relu6,
    Monomial { n: usize },
    Hermite { n: usize },
    /// sum_i coeffs[i] x^i
    Polynomial { coeffs: Vec<f64> },
}

impl ClosedForm {
    /// `mu_0..=mu_degree` of `phi(sqrt(q) z)`.
    pub fn coefficients(&self, degree: usize, q: f64) -> Result<HermiteCoefficients> {
        let _ = (degree, q);
        todo!()
    }
}
