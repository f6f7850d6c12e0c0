//! Binding of the finite-width empirical NTK.
use faer::{MatRef, Par};
use ntk_core::empirical::{
    empirical_ntk as core_empirical, EmpiricalVariances, FnActivation, PointActivation, RandomMlp,
};
use numpy::{PyArray2, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::activation::closed_form;
use crate::errors::py_error;
use crate::interrupt::run_cancellable;
use crate::spectrum::mat_to_numpy;

fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

const SELU_ALPHA: f64 = 1.673_263_242_354_377_3;
const SELU_SCALE: f64 = 1.050_700_987_355_480_5;

/// Point evaluators (value, derivative) of the built-in activations integrated by quadrature.
fn named(name: &str, params: &Bound<'_, PyDict>) -> PyResult<Option<FnActivation>> {
    let alpha: f64 = match params.get_item("alpha")? {
        Some(v) => v.extract()?,
        None => 1.0,
    };
    let act = match name {
        "tanh" => FnActivation::new(f64::tanh, |x: f64| 1.0 - x.tanh().powi(2)),
        "sigmoid" => FnActivation::new(sigmoid, |x: f64| sigmoid(x) * sigmoid(-x)),
        "softplus" => FnActivation::new(softplus, sigmoid),
        "silu" => FnActivation::new(
            |x: f64| x * sigmoid(x),
            |x: f64| {
                let s = sigmoid(x);
                s + x * s * sigmoid(-x)
            },
        ),
        "mish" => FnActivation::new(
            |x: f64| x * softplus(x).tanh(),
            |x: f64| {
                let t = softplus(x).tanh();
                t + x * (1.0 - t * t) * sigmoid(x)
            },
        ),
        "elu" => FnActivation::new(
            move |x: f64| if x > 0.0 { x } else { alpha * x.exp_m1() },
            move |x: f64| if x > 0.0 { 1.0 } else { alpha * x.exp() },
        ),
        "selu" => FnActivation::new(
            |x: f64| SELU_SCALE * if x > 0.0 { x } else { SELU_ALPHA * x.exp_m1() },
            |x: f64| SELU_SCALE * if x > 0.0 { 1.0 } else { SELU_ALPHA * x.exp() },
        ),
        _ => return Ok(None),
    };
    Ok(Some(act))
}

/// `([(W, b) per hidden layer], v, b_out)`.
type MlpParameters<'py> = (Vec<(Bound<'py, PyArray2<f64>>, Vec<f64>)>, Vec<f64>, f64);

type EmpiricalOutput<'py> = (
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray2<f64>>,
    Vec<f64>,
);

/// `(ntk, nngp_readout, outputs)` of one random network of the given width.
/// `activation` is `("closed", name, params)` or `("builtin", name, params)`.
#[pyfunction]
#[pyo3(signature = (x, activation, depth, width, weight_var, bias_var, input_weight_var, input_bias_var, seed))]
#[allow(clippy::too_many_arguments)]
pub fn empirical_ntk<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    activation: &Bound<'py, PyTuple>,
    depth: usize,
    width: usize,
    weight_var: f64,
    bias_var: f64,
    input_weight_var: f64,
    input_bias_var: f64,
    seed: u64,
) -> PyResult<EmpiricalOutput<'py>> {
    let kind: String = activation.get_item(0)?.extract()?;
    let name: String = activation.get_item(1)?.extract()?;
    let params = activation.get_item(2)?;
    let params = params
        .cast::<PyDict>()
        .map_err(|_| py_error("InputTypeError", "activation parameters must be a dict"))?;
    let act: Box<dyn PointActivation> = match kind.as_str() {
        "closed" => Box::new(closed_form(&name, params)?),
        _ => match named(&name, params)? {
            Some(a) => Box::new(a),
            None => {
                return Err(py_error(
                    "UnsupportedError",
                    format!(
                        "the empirical NTK needs an activation the Rust core can evaluate; \
                         '{name}' is a Python callable (plugin), which cannot run inside the \
                         multithreaded forward/backward passes"
                    ),
                ))
            }
        },
    };
    let (n, d) = (x.shape()[0], x.shape()[1]);
    let slice = x
        .as_slice()
        .map_err(|_| py_error("InvalidInputError", "X must be C-contiguous"))?;
    let vars = EmpiricalVariances {
        weight_var,
        bias_var,
        input_weight_var,
        input_bias_var,
    };
    let out = run_cancellable(py, |cancel| {
        // row-major n×d: the transpose of a column-major d×n view
        let xm = MatRef::from_row_major_slice(slice, n, d);
        core_empirical(
            xm,
            act.as_ref(),
            depth,
            width,
            vars,
            seed,
            Par::rayon(0),
            cancel,
        )
    })?;
    Ok((
        mat_to_numpy(py, &out.ntk),
        mat_to_numpy(py, &out.nngp),
        out.outputs,
    ))
}

/// The unscaled parameters `([(W¹, b¹), …, (Wᴸ, bᴸ)], v, b_out)` that `empirical_ntk` draws
/// for `seed` (for checking it against an independent Jacobian).
#[pyfunction]
pub fn empirical_parameters<'py>(
    py: Python<'py>,
    input_dim: usize,
    depth: usize,
    width: usize,
    seed: u64,
) -> PyResult<MlpParameters<'py>> {
    let vars = EmpiricalVariances {
        weight_var: 1.0,
        bias_var: 1.0,
        input_weight_var: 1.0,
        input_bias_var: 1.0,
    };
    let mlp = run_cancellable(py, |cancel| {
        RandomMlp::sample(input_dim, depth, width, vars, seed, Par::rayon(0), cancel)
    })?;
    let mut layers = Vec::with_capacity(depth);
    for l in 1..=depth {
        let w = mlp.weights(l).map(|w| w.to_owned());
        let b = mlp.bias(l).map(|b| b.to_vec());
        if let (Some(w), Some(b)) = (w, b) {
            layers.push((mat_to_numpy(py, &w), b));
        }
    }
    Ok((layers, mlp.readout().to_vec(), mlp.readout_bias()))
}
