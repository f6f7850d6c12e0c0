//! Normalized probabilists' Hermite functions `h_k = He_k / sqrt(k!)` and Hermite
//! coefficient vectors `mu_k(phi) = E[phi(Z) h_k(Z)]`, `Z ~ N(0, 1)`.

/// Hermite coefficients `mu_0..=mu_K` of `phi_q(z) = phi(sqrt(q) z)` with an error estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct HermiteCoefficients {
    /// `mu[k] = E[phi_q(Z) h_k(Z)]`, `k = 0..=K`.
    pub mu: Vec<f64>,
    /// Estimated maximum absolute error over all entries of `mu` (0 up to round-off for closed forms).
    pub error: f64,
    /// `E[phi_q(Z)^2] = sum_k mu_k^2` over *all* k (exact for closed forms, quadrature otherwise).
    pub second_moment: f64,
}

impl HermiteCoefficients {
    /// Upper estimate of `sum_{k>K} mu_k^2 = E[phi_q^2] - sum_{k<=K} mu_k^2` (never negative).
    pub fn tail_mass(&self) -> f64 {
        todo!()
    }
}
