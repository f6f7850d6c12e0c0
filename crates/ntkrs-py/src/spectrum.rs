//! Bindings of the eigensolvers: dense arrays and Python-side operators.
use faer::{Mat, MatMut, MatRef, Par};
use ntk_core::lanczos::{dense_eigvalsh, eigsh_auto, EigshOptions, EigshResult, Which};
use ntk_core::operator::{DenseSymmetric, SymmetricOperator};
use ntk_core::NtkError;
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray2, PyUntypedArrayMethods,
};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::py_error;
use crate::interrupt::run_cancellable;

pub fn parse_which(which: &str) -> PyResult<Which> {
    match which {
        "largest" | "LA" => Ok(Which::Largest),
        "smallest" | "SA" => Ok(Which::Smallest),
        other => Err(py_error(
            "InvalidInputError",
            format!("which must be 'largest' or 'smallest', got {other:?}"),
        )),
    }
}

pub fn options(tol: f64, return_vectors: bool, max_restarts: usize, seed: u64) -> EigshOptions {
    EigshOptions {
        tol,
        max_restarts,
        want_vectors: return_vectors,
        par: Par::rayon(0),
        seed,
        ..EigshOptions::default()
    }
}

/// `(values, vectors | None, info)` as returned to Python.
pub type EigOutput<'py> = (
    Bound<'py, PyArray1<f64>>,
    Option<Bound<'py, PyArray2<f64>>>,
    Bound<'py, PyDict>,
);

pub fn mat_to_numpy<'py>(py: Python<'py>, m: &Mat<f64>) -> Bound<'py, PyArray2<f64>> {
    let (r, c) = (m.nrows(), m.ncols());
    let mut data = Vec::with_capacity(r * c);
    for i in 0..r {
        for j in 0..c {
            data.push(m[(i, j)]);
        }
    }
    let arr = data.into_pyarray(py);
    arr.reshape([r, c]).expect("size matches")
}

pub fn eig_output(py: Python<'_>, res: EigshResult) -> PyResult<EigOutput<'_>> {
    let info = PyDict::new(py);
    info.set_item("iterations", res.iterations)?;
    info.set_item("restarts", res.restarts)?;
    info.set_item("matvecs", res.matvecs)?;
    info.set_item("dense", res.dense)?;
    info.set_item("residuals", res.residuals.into_pyarray(py))?;
    let vectors = res.vectors.as_ref().map(|m| mat_to_numpy(py, m));
    Ok((res.values.into_pyarray(py), vectors, info))
}

/// Top/bottom-k eigenpairs of a dense symmetric matrix (C-contiguous float64).
#[pyfunction]
#[pyo3(signature = (a, k, which="largest", tol=1e-10, return_vectors=false, max_restarts=1000, seed=0, block_size=None, krylov_dim=None))]
#[allow(clippy::too_many_arguments)]
pub fn eigsh_dense<'py>(
    py: Python<'py>,
    a: PyReadonlyArray2<'py, f64>,
    k: usize,
    which: &str,
    tol: f64,
    return_vectors: bool,
    max_restarts: usize,
    seed: u64,
    block_size: Option<usize>,
    krylov_dim: Option<usize>,
) -> PyResult<EigOutput<'py>> {
    let which = parse_which(which)?;
    let (n, m) = (a.shape()[0], a.shape()[1]);
    let slice = a
        .as_slice()
        .map_err(|_| py_error("InvalidInputError", "the matrix must be C-contiguous"))?;
    let mut opts = options(tol, return_vectors, max_restarts, seed);
    opts.block_size = block_size;
    opts.krylov_dim = krylov_dim;
    let res = run_cancellable(py, |cancel| {
        // row-major n×n = the transpose of a column-major view; symmetric, so the same matrix
        let view = MatRef::from_row_major_slice(slice, n, m);
        let op = DenseSymmetric::new(view)?;
        eigsh_auto(&op, k, which, &opts, cancel)
    })?;
    eig_output(py, res)
}

/// All eigenvalues (ascending) of a dense symmetric matrix.
#[pyfunction]
pub fn eigvalsh_dense<'py>(
    py: Python<'py>,
    a: PyReadonlyArray2<'py, f64>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let (n, m) = (a.shape()[0], a.shape()[1]);
    if n != m {
        return Err(py_error(
            "InvalidInputError",
            format!("matrix must be square, got {n}×{m}"),
        ));
    }
    let slice = a
        .as_slice()
        .map_err(|_| py_error("InvalidInputError", "the matrix must be C-contiguous"))?;
    let vals = run_cancellable(py, |_cancel| {
        let view = MatRef::from_row_major_slice(slice, n, m);
        dense_eigvalsh(view, Par::rayon(0))
    })?;
    Ok(vals.into_pyarray(py))
}

/// A symmetric operator implemented in Python: `matmat(X: (n, b) array) -> (n, b) array`.
/// It is called from the solver thread with the GIL re-acquired (never from rayon workers).
/// An exception raised by `matmat` stops the solver; once the solver has returned, a
/// KeyboardInterrupt (or another non-`Exception` such as SystemExit) is re-raised unchanged and
/// an ordinary exception becomes the `__cause__` of the InvalidInputError reported.
struct PythonOperator {
    n: usize,
    matmat: Py<PyAny>,
    raised: std::sync::Mutex<Option<PyErr>>,
}

impl SymmetricOperator for PythonOperator {
    fn dim(&self) -> usize {
        self.n
    }

    fn apply(&self, x: MatRef<'_, f64>, mut y: MatMut<'_, f64>, _par: Par) -> ntk_core::Result<()> {
        let (n, b) = (x.nrows(), x.ncols());
        Python::attach(|py| -> ntk_core::Result<()> {
            let mut data = Vec::with_capacity(n * b);
            for i in 0..n {
                for j in 0..b {
                    data.push(x[(i, j)]);
                }
            }
            let arr = data
                .into_pyarray(py)
                .reshape([n, b])
                .map_err(|e| NtkError::InvalidArgument(e.to_string()))?;
            let out = self.matmat.bind(py).call1((arr,)).map_err(|e| {
                let message = format!("the operator's matmat raised: {e}");
                if let Ok(mut slot) = self.raised.lock() {
                    slot.get_or_insert(e);
                }
                NtkError::InvalidArgument(message)
            })?;
            let out: PyReadonlyArray2<'_, f64> = out.extract().map_err(|_| {
                NtkError::InvalidArgument(
                    "the operator's matmat must return a float64 array of shape (n, b)".into(),
                )
            })?;
            if out.shape() != [n, b] {
                return Err(NtkError::InvalidArgument(format!(
                    "the operator's matmat returned shape {:?}, expected ({n}, {b})",
                    out.shape()
                )));
            }
            let view = out.as_array();
            for i in 0..n {
                for j in 0..b {
                    y[(i, j)] = view[[i, j]];
                }
            }
            Ok(())
        })
    }
}

/// Top/bottom-k eigenpairs of a symmetric operator given by a Python `matmat` callable.
#[pyfunction]
#[pyo3(signature = (n, matmat, k, which="largest", tol=1e-10, return_vectors=false, max_restarts=1000, seed=0))]
#[allow(clippy::too_many_arguments)]
pub fn eigsh_callable<'py>(
    py: Python<'py>,
    n: usize,
    matmat: Py<PyAny>,
    k: usize,
    which: &str,
    tol: f64,
    return_vectors: bool,
    max_restarts: usize,
    seed: u64,
) -> PyResult<EigOutput<'py>> {
    let which = parse_which(which)?;
    let opts = options(tol, return_vectors, max_restarts, seed);
    let op = PythonOperator {
        n,
        matmat,
        raised: std::sync::Mutex::new(None),
    };
    let res = run_cancellable(py, |cancel| eigsh_auto(&op, k, which, &opts, cancel));
    let raised = op.raised.lock().ok().and_then(|mut slot| slot.take());
    match (res, raised) {
        (Err(err), Some(original)) => {
            if original.is_instance_of::<pyo3::exceptions::PyException>(py) {
                err.set_cause(py, Some(original));
                Err(err)
            } else {
                Err(original)
            }
        }
        (res, _) => eig_output(py, res?),
    }
}
