//! Bindings of the Funk–Hecke sphere spectra (`ntk_core::sphere`, DESIGN §1.6).
//!
//! `sphere_spectrum(coefficients, dim, max_degree, ...)` takes the power-series coefficients
//! `κ_0 … κ_P` (computed beforehand by `Network.series`) and returns a `SphereSpectrum`
//! handle; the Python class `ntkrs.SphereSpectrum` wraps it.
use ntk_core::sphere::{self, SphereOptions, SphereSpectrum, TailKind};
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::errors::to_pyerr;
use crate::interrupt::run_cancellable;

/// Eigenvalues of a dot-product kernel on the uniform sphere (engine side of
/// `ntkrs.SphereSpectrum`).
#[pyclass(module = "ntkrs._core", name = "SphereSpectrum", frozen)]
pub struct PySphereSpectrum {
    inner: SphereSpectrum,
}

fn kind_name(kind: TailKind) -> &'static str {
    match kind {
        TailKind::Zero => "zero",
        TailKind::PowerLaw => "power_law",
        TailKind::Bound => "bound",
        TailKind::Exact => "exact",
    }
}

#[pymethods]
impl PySphereSpectrum {
    /// Ambient dimension d (the sphere is S^(d-1) in R^d).
    #[getter]
    fn dim(&self) -> usize {
        self.inner.dim
    }
    /// Highest harmonic degree k_max.
    #[getter]
    fn max_degree(&self) -> usize {
        self.inner.max_degree
    }
    /// Series degree P of the coefficients used.
    #[getter]
    fn series_degree(&self) -> usize {
        self.inner.series_degree
    }
    #[getter]
    fn eigenvalues<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        self.inner.eigenvalues.clone().into_pyarray(py)
    }
    #[getter]
    fn log_eigenvalues<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        self.inner.log_eigenvalues.clone().into_pyarray(py)
    }
    #[getter]
    fn errors<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        self.inner.errors.clone().into_pyarray(py)
    }
    #[getter]
    fn tails<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        self.inner.tails.clone().into_pyarray(py)
    }
    #[getter]
    fn multiplicities<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        self.inner.multiplicities.clone().into_pyarray(py)
    }
    #[getter]
    fn log_multiplicities<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        self.inner.log_multiplicities.clone().into_pyarray(py)
    }

    /// Tail treatment per parity: list of dicts `{parity, kind, exponent, residual}` with
    /// kind in "power_law", "bound", "zero", "exact".
    fn tail_fits<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        for f in &self.inner.tail_fits {
            let d = PyDict::new(py);
            d.set_item("parity", f.parity)?;
            d.set_item("kind", kind_name(f.kind))?;
            d.set_item("exponent", f.exponent)?;
            d.set_item("residual", f.residual)?;
            out.append(d)?;
        }
        Ok(out)
    }

    /// `d + 2a − 3` from the fitted coefficient exponent `a`, or None.
    fn predicted_exponent(&self) -> Option<f64> {
        self.inner.predicted_exponent()
    }

    /// Least-squares exponent `s` of `λ_k ≈ C k^{−s}` on `k_min ≤ k ≤ k_max`.
    #[pyo3(signature = (k_min=None, k_max=None))]
    fn fit_decay(&self, k_min: Option<usize>, k_max: Option<usize>) -> PyResult<f64> {
        self.inner.fit_decay(k_min, k_max).map_err(to_pyerr)
    }

    /// The first `m` eigenvalues by index (descending, each repeated by its multiplicity).
    fn by_index<'py>(&self, py: Python<'py>, m: usize) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let inner = &self.inner;
        let v = py.detach(|| inner.by_index(m)).map_err(to_pyerr)?;
        Ok(v.into_pyarray(py))
    }
}

/// Funk–Hecke eigenvalues `λ_0 … λ_max_degree` on `S^(dim−1)` of `Σ_p κ_p ρ^p` (see
/// `ntk_core::sphere`). `tail_mass`: certified bound on `Σ_{p>P} κ_p` (0 = exact polynomial);
/// `mass_error`: bound on `Σ_p |κ_p − κ̃_p|`; `coefficient_noise`: absolute error of each
/// coefficient of degree `≥ noise_from` (default: the series engine's exact-product length).
/// GIL released; Ctrl-C interrupts.
#[pyfunction]
#[pyo3(signature = (coefficients, dim, max_degree, tail_mass=None, mass_error=0.0, coefficient_noise=0.0, noise_from=None))]
#[allow(clippy::too_many_arguments)]
pub fn sphere_spectrum(
    py: Python<'_>,
    coefficients: PyReadonlyArray1<'_, f64>,
    dim: usize,
    max_degree: usize,
    tail_mass: Option<f64>,
    mass_error: f64,
    coefficient_noise: f64,
    noise_from: Option<usize>,
) -> PyResult<PySphereSpectrum> {
    let coeffs = coefficients.as_array().to_vec();
    let options = SphereOptions {
        tail_mass,
        mass_error,
        coefficient_noise,
        noise_from: noise_from.unwrap_or(ntk_core::series::EXACT_LEN),
    };
    let inner = run_cancellable(py, |cancel| {
        sphere::sphere_spectrum(&coeffs, dim, max_degree, options, cancel)
    })?;
    Ok(PySphereSpectrum { inner })
}

/// Default series degree for harmonics up to `max_degree` on `S^(dim−1)`.
#[pyfunction]
pub fn sphere_recommended_degree(dim: usize, max_degree: usize) -> PyResult<usize> {
    sphere::recommended_degree(dim, max_degree).map_err(to_pyerr)
}

/// Smallest series degree the tail model accepts for harmonics up to `max_degree`.
#[pyfunction]
pub fn sphere_minimum_degree(dim: usize, max_degree: usize) -> usize {
    sphere::minimum_degree(dim, max_degree)
}

/// `λ_k(ρ^p)` on `S^(dim−1)` and its natural log: `(value, log_value)`.
#[pyfunction]
pub fn sphere_monomial_eigenvalue(dim: usize, k: usize, p: usize) -> PyResult<(f64, f64)> {
    let l = sphere::log_monomial_eigenvalue(dim, k, p).map_err(to_pyerr)?;
    Ok((l.exp(), l))
}

/// Multiplicity `N(dim, k)` of the degree-k spherical harmonics and its natural log.
#[pyfunction]
pub fn sphere_multiplicity(dim: usize, k: usize) -> PyResult<(f64, f64)> {
    Ok((
        sphere::multiplicity(dim, k).map_err(to_pyerr)?,
        sphere::log_multiplicity(dim, k).map_err(to_pyerr)?,
    ))
}
