//! Bindings for activations: closed-form Hermite coefficients and the sampling plan through
//! which Python callables get their coefficients (Rust picks the points, Python evaluates the
//! callable there once, Rust does the sums).
use crate::errors::{py_error, to_pyerr};
use ntk_core::closed_form::ClosedForm;
use ntk_core::hermite::HermiteCoefficients;
use ntk_core::quadrature;
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;

type CoefficientTriple<'py> = (Bound<'py, PyArray1<f64>>, f64, f64);
type NodesWeights<'py> = (Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<f64>>);

fn float_param(params: &Bound<'_, PyDict>, key: &str, default: f64) -> PyResult<f64> {
    match params.get_item(key)? {
        None => Ok(default),
        Some(v) => v.extract::<f64>().map_err(|_| {
            py_error(
                "InputTypeError",
                format!("parameter '{key}' must be a real number, got {v}"),
            )
        }),
    }
}

fn int_param(params: &Bound<'_, PyDict>, key: &str, default: usize) -> PyResult<usize> {
    match params.get_item(key)? {
        None => Ok(default),
        Some(v) => {
            let x: f64 = v.extract().map_err(|_| {
                py_error(
                    "InputTypeError",
                    format!("parameter '{key}' must be a non-negative integer, got {v}"),
                )
            })?;
            if !(x >= 0.0 && x.fract() == 0.0 && x <= 1.0e6) {
                return Err(py_error(
                    "InvalidInputError",
                    format!("parameter '{key}' must be a non-negative integer, got {v}"),
                ));
            }
            Ok(x as usize)
        }
    }
}

/// Build the engine's closed form from a built-in name and its parameters.
pub fn closed_form(name: &str, params: &Bound<'_, PyDict>) -> PyResult<ClosedForm> {
    let form = match name {
        "relu" => ClosedForm::Relu,
        "leaky_relu" => ClosedForm::LeakyRelu {
            slope: float_param(params, "slope", 0.01)?,
        },
        "abs" => ClosedForm::Abs,
        "step" => ClosedForm::Step,
        "identity" => ClosedForm::Identity,
        "erf" => ClosedForm::Erf {
            scale: float_param(params, "scale", 1.0)?,
        },
        "sin" => ClosedForm::Sin {
            freq: float_param(params, "freq", 1.0)?,
        },
        "cos" => ClosedForm::Cos {
            freq: float_param(params, "freq", 1.0)?,
        },
        "exp" => ClosedForm::Exp {
            scale: float_param(params, "scale", 1.0)?,
        },
        "gaussian" => ClosedForm::Gaussian,
        "gaussian_pdf" => ClosedForm::GaussianPdf,
        "gelu" => ClosedForm::Gelu,
        "hardtanh" => ClosedForm::HardTanh,
        "relu6" => ClosedForm::Relu6,
        "monomial" => ClosedForm::Monomial {
            n: int_param(params, "n", 2)?,
        },
        "hermite" => ClosedForm::Hermite {
            n: int_param(params, "n", 2)?,
        },
        "polynomial" => {
            let coeffs: Vec<f64> = match params.get_item("coeffs")? {
                None => vec![0.0, 1.0],
                Some(v) => v.extract().map_err(|_| {
                    py_error(
                        "InputTypeError",
                        format!("parameter 'coeffs' must be a sequence of real numbers, got {v}"),
                    )
                })?,
            };
            ClosedForm::Polynomial { coeffs }
        }
        other => {
            return Err(py_error(
                "UnknownActivationError",
                format!("'{other}' has no closed form in the Rust core"),
            ))
        }
    };
    Ok(form)
}

fn triple(py: Python<'_>, c: HermiteCoefficients) -> CoefficientTriple<'_> {
    (c.mu.into_pyarray(py), c.error, c.second_moment)
}

/// `(mu, error, second_moment)` of a closed-form activation φ(√q z) up to `degree`.
#[pyfunction]
#[pyo3(signature = (name, params, degree, q=1.0))]
pub fn closed_form_coefficients<'py>(
    py: Python<'py>,
    name: &str,
    params: &Bound<'py, PyDict>,
    degree: usize,
    q: f64,
) -> PyResult<CoefficientTriple<'py>> {
    let form = closed_form(name, params)?;
    let c = py
        .detach(|| form.coefficients(degree, q))
        .map_err(to_pyerr)?;
    Ok(triple(py, c))
}

/// E[φ(√q Z)²] of a closed-form activation.
#[pyfunction]
#[pyo3(signature = (name, params, q=1.0))]
pub fn closed_form_second_moment(name: &str, params: &Bound<'_, PyDict>, q: f64) -> PyResult<f64> {
    let form = closed_form(name, params)?;
    form.validate().map_err(to_pyerr)?;
    Ok(form.second_moment(q))
}

/// E[φ'(√q Z)²] of a closed-form activation (DomainError for the step function).
#[pyfunction]
#[pyo3(signature = (name, params, q=1.0))]
pub fn closed_form_derivative_second_moment(
    name: &str,
    params: &Bound<'_, PyDict>,
    q: f64,
) -> PyResult<f64> {
    let form = closed_form(name, params)?;
    form.derivative_second_moment(q).map_err(to_pyerr)
}

/// φ(x) (or φ'(x) with `derivative=True`) elementwise for a closed-form activation.
#[pyfunction]
#[pyo3(signature = (name, params, x, derivative=false))]
pub fn closed_form_eval<'py>(
    py: Python<'py>,
    name: &str,
    params: &Bound<'py, PyDict>,
    x: PyReadonlyArray1<'py, f64>,
    derivative: bool,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let form = closed_form(name, params)?;
    form.validate().map_err(to_pyerr)?;
    let x = x.as_array();
    let out: Vec<f64> = if derivative {
        x.iter().map(|&v| form.eval_derivative(v)).collect()
    } else {
        x.iter().map(|&v| form.eval(v)).collect()
    };
    Ok(out.into_pyarray(py))
}

/// Points where a closed-form activation is not smooth.
#[pyfunction]
pub fn closed_form_kinks(name: &str, params: &Bound<'_, PyDict>) -> PyResult<Vec<f64>> {
    Ok(closed_form(name, params)?.kinks())
}

/// Probabilists' Gauss–Hermite rule with `n` nodes (weights sum to 1).
#[pyfunction]
pub fn gauss_hermite<'py>(py: Python<'py>, n: usize) -> PyResult<NodesWeights<'py>> {
    let rule = py
        .detach(|| quadrature::gauss_hermite(n))
        .map_err(to_pyerr)?;
    Ok((rule.nodes.into_pyarray(py), rule.weights.into_pyarray(py)))
}

/// The points at which a Python callable φ must be evaluated to get its Hermite coefficients
/// up to `degree` at scale `q`, and the sums that turn those values into coefficients.
#[pyclass(module = "ntkrs._core", frozen)]
pub struct SamplingPlan {
    inner: quadrature::SamplingPlan,
}

#[pymethods]
impl SamplingPlan {
    #[new]
    #[pyo3(signature = (degree, kinks, q=1.0))]
    fn new(py: Python<'_>, degree: usize, kinks: Vec<f64>, q: f64) -> PyResult<Self> {
        let inner = py
            .detach(|| quadrature::SamplingPlan::new(degree, &kinks, q))
            .map_err(to_pyerr)?;
        Ok(Self { inner })
    }

    /// The arguments x_i at which φ(x_i) must be evaluated (already scaled by √q).
    #[getter]
    fn points<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        PyArray1::from_slice(py, self.inner.points())
    }

    /// `(mu, error, second_moment)` from `values[i] = φ(points[i])`.
    fn coefficients<'py>(
        &self,
        py: Python<'py>,
        values: PyReadonlyArray1<'py, f64>,
    ) -> PyResult<CoefficientTriple<'py>> {
        let values = values.as_array().to_vec();
        let c = py
            .detach(|| self.inner.coefficients(&values))
            .map_err(to_pyerr)?;
        Ok(triple(py, c))
    }

    fn __len__(&self) -> usize {
        self.inner.points().len()
    }
}
