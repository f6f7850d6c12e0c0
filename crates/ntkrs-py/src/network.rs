//! Bindings of the kernel engine: networks, their NTK/NNGP power series and exact kernels.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use faer::{Mat, MatMut, MatRef, Par};
use ntk_core::gram::{
    check_gram_fits, gram_into, GramKernel, GramMethod, GramOperator, GramScalar, KernelKind,
};
use ntk_core::lanczos::eigsh_auto;
use ntk_core::operator::SymmetricOperator;

use ntk_core::dual::{Dual, Tabulated, TabulatedEntry};
use ntk_core::hermite::HermiteCoefficients;
use ntk_core::kernel::{batch_series, KernelSeries, Network, SeriesOptions};
use ntk_core::NtkError;
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2,
    PyUntypedArrayMethods,
};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use rayon::prelude::*;

use crate::activation::closed_form;
use crate::errors::{py_error, to_pyerr};
use crate::interrupt::{run_cancellable, run_inline, run_with_flag};

/// `(degree + 1) · depth` up to which [`PyNetwork::series`] runs inline on the calling
/// thread (e.g. ReLU depth 10 at degree 20 000: ~30 ms).
const INLINE_SERIES_WORK: f64 = 2.0e6;

/// Build the engine's activation from the Python descriptor:
/// `("closed", name, params)` or
/// `("tabulated", name, [(q, mu, error, second_moment, derivative_second_moment | None), …])`.
fn activation_from(desc: &Bound<'_, PyAny>) -> PyResult<Arc<dyn Dual>> {
    let tuple = desc
        .cast::<PyTuple>()
        .map_err(|_| py_error("InputTypeError", "activation descriptor must be a tuple"))?;
    let kind: String = tuple.get_item(0)?.extract()?;
    let name: String = tuple.get_item(1)?.extract()?;
    match kind.as_str() {
        "closed" => {
            let params = tuple.get_item(2)?;
            let params = params
                .cast::<PyDict>()
                .map_err(|_| py_error("InputTypeError", "closed-form parameters must be a dict"))?;
            let form = closed_form(&name, params)?;
            form.validate().map_err(to_pyerr)?;
            Ok(Arc::new(form))
        }
        "tabulated" => {
            let list = tuple.get_item(2)?;
            let mut entries = Vec::new();
            for item in list.try_iter()? {
                let item = item?;
                let (q, mu, error, second_moment, dm2): (
                    f64,
                    PyReadonlyArray1<'_, f64>,
                    f64,
                    f64,
                    Option<f64>,
                ) = item.extract()?;
                entries.push(TabulatedEntry {
                    q,
                    coefficients: HermiteCoefficients {
                        mu: mu.as_array().to_vec(),
                        error,
                        second_moment,
                    },
                    derivative_second_moment: dm2,
                });
            }
            let tab = Tabulated::new(name, entries).map_err(to_pyerr)?;
            Ok(Arc::new(tab.into_dual()))
        }
        other => Err(py_error(
            "InvalidInputError",
            format!("unknown activation descriptor kind {other:?}"),
        )),
    }
}

/// An infinitely wide fully connected network (engine side of `ntkrs.Network`).
#[pyclass(module = "ntkrs._core", name = "Network", frozen)]
pub struct PyNetwork {
    inner: Network,
}

fn series_dict<'py>(py: Python<'py>, s: KernelSeries) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item(intern!(py, "degree"), s.degree)?;
    d.set_item(intern!(py, "ntk"), s.ntk.map(|v| v.into_pyarray(py)))?;
    d.set_item(intern!(py, "nngp"), s.nngp.into_pyarray(py))?;
    d.set_item(intern!(py, "ntk_at_one"), s.ntk_at_one)?;
    d.set_item(intern!(py, "nngp_at_one"), s.nngp_at_one)?;
    d.set_item(intern!(py, "ntk_truncation_bound"), s.ntk_truncation_bound)?;
    d.set_item(
        intern!(py, "nngp_truncation_bound"),
        s.nngp_truncation_bound,
    )?;
    d.set_item(
        intern!(py, "ntk_composition_error"),
        s.ntk_composition_error,
    )?;
    d.set_item(
        intern!(py, "nngp_composition_error"),
        s.nngp_composition_error,
    )?;
    d.set_item(intern!(py, "variances"), s.variances.into_pyarray(py))?;
    match s.layers {
        None => d.set_item(intern!(py, "layers"), py.None())?,
        Some(layers) => {
            let list = PyList::empty(py);
            for layer in layers {
                let ld = PyDict::new(py);
                ld.set_item("q", layer.q)?;
                ld.set_item(intern!(py, "nngp"), layer.nngp.into_pyarray(py))?;
                ld.set_item("derivative", layer.derivative.map(|v| v.into_pyarray(py)))?;
                ld.set_item(intern!(py, "ntk"), layer.ntk.map(|v| v.into_pyarray(py)))?;
                list.append(ld)?;
            }
            d.set_item(intern!(py, "layers"), list)?;
        }
    }
    Ok(d)
}

impl PyNetwork {
    /// One network's series. Sequential engine code that polls the cancellation hook on the
    /// calling thread: short calls run inline (no worker thread); long ones keep the worker
    /// thread and the ntkrs pool.
    fn run_series(
        &self,
        py: Python<'_>,
        degree: usize,
        options: SeriesOptions,
    ) -> PyResult<KernelSeries> {
        let net = &self.inner;
        let work = (degree as f64 + 1.0) * net.depth().max(1) as f64;
        if work <= INLINE_SERIES_WORK {
            run_inline(py, |cancel| net.series(degree, options, cancel))
        } else {
            run_cancellable(py, |cancel| net.series(degree, options, cancel))
        }
    }
}

#[pymethods]
impl PyNetwork {
    #[new]
    #[pyo3(signature = (activation, depth, weight_var=None, bias_var=None, input_weight_var=1.0, input_bias_var=0.0))]
    fn new(
        py: Python<'_>,
        activation: &Bound<'_, PyAny>,
        depth: usize,
        weight_var: Option<f64>,
        bias_var: Option<f64>,
        input_weight_var: f64,
        input_bias_var: f64,
    ) -> PyResult<Self> {
        let act = activation_from(activation)?;
        let inner = py
            .detach(|| {
                Network::from_options(
                    act,
                    depth,
                    weight_var,
                    bias_var,
                    input_weight_var,
                    input_bias_var,
                )
            })
            .map_err(to_pyerr)?;
        Ok(Self { inner })
    }

    /// Edge-of-chaos network at the fixed point `q`.
    #[staticmethod]
    fn edge_of_chaos(
        py: Python<'_>,
        activation: &Bound<'_, PyAny>,
        depth: usize,
        q: f64,
    ) -> PyResult<Self> {
        let act = activation_from(activation)?;
        let inner = py
            .detach(|| Network::edge_of_chaos(act, depth, q))
            .map_err(to_pyerr)?;
        Ok(Self { inner })
    }

    #[getter]
    fn depth(&self) -> usize {
        self.inner.depth()
    }
    #[getter]
    fn weight_var(&self) -> f64 {
        self.inner.weight_var()
    }
    #[getter]
    fn bias_var(&self) -> f64 {
        self.inner.bias_var()
    }
    #[getter]
    fn input_weight_var(&self) -> f64 {
        self.inner.input_weight_var()
    }
    #[getter]
    fn input_bias_var(&self) -> f64 {
        self.inner.input_bias_var()
    }

    /// `q_1 … q_{L+1}` (layer variances; `q_{L+1}` = NNGP(1)).
    fn variances<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<f64>>> {
        Ok(self.inner.variances().map_err(to_pyerr)?.into_pyarray(py))
    }

    /// Exact Θ(1) (scalar recursion).
    fn ntk_at_one(&self) -> PyResult<f64> {
        self.inner.ntk_at_one().map_err(to_pyerr)
    }

    /// Exact NNGP(1) = q_{L+1}.
    fn nngp_at_one(&self) -> PyResult<f64> {
        self.inner.nngp_at_one().map_err(to_pyerr)
    }

    /// The NTK/NNGP power series to `degree` as a dict of arrays and bounds.
    #[pyo3(signature = (degree, ntk=true, keep_layers=false))]
    fn series<'py>(
        &self,
        py: Python<'py>,
        degree: usize,
        ntk: bool,
        keep_layers: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let s = self.run_series(py, degree, SeriesOptions { ntk, keep_layers })?;
        series_dict(py, s)
    }

    /// The NTK (`ntk=True`) or NNGP coefficients to `degree` alone: [`Self::series`]
    /// without the dict of bounds and the other series.
    #[pyo3(signature = (degree, ntk=true))]
    fn coefficients<'py>(
        &self,
        py: Python<'py>,
        degree: usize,
        ntk: bool,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let options = SeriesOptions {
            ntk,
            keep_layers: false,
        };
        let s = self.run_series(py, degree, options)?;
        let coeffs = if ntk { s.ntk } else { Some(s.nngp) };
        match coeffs {
            Some(c) => Ok(c.into_pyarray(py)),
            None => Err(to_pyerr(NtkError::Unsupported(
                "NTK series not computed".into(),
            ))),
        }
    }

    /// Exact kernel values at the correlations `rho` (1-D): `(ntk, nngp)`; `ntk` is `None`
    /// when `ntk=False`.
    #[pyo3(signature = (rho, ntk=true))]
    #[allow(clippy::type_complexity)]
    fn kernel_at<'py>(
        &self,
        py: Python<'py>,
        rho: PyReadonlyArray1<'py, f64>,
        ntk: bool,
    ) -> PyResult<(Option<Bound<'py, PyArray1<f64>>>, Bound<'py, PyArray1<f64>>)> {
        let rho = rho.as_array().to_vec();
        let net = &self.inner;
        let (t, s) = run_cancellable(py, |cancel| {
            let kernel = net.pointwise(ntk)?;
            let mut theta = vec![0.0; if ntk { rho.len() } else { 0 }];
            let mut sigma = vec![0.0; rho.len()];
            const BLOCK: usize = 4096;
            for (b, chunk) in rho.chunks(BLOCK).enumerate() {
                if cancel() {
                    return Err(ntk_core::NtkError::Interrupted);
                }
                let vals = chunk
                    .par_iter()
                    .map(|&r| {
                        if ntk {
                            kernel.ntk_nngp(r)
                        } else {
                            kernel.nngp(r).map(|s| (0.0, s))
                        }
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                for (i, (tv, sv)) in vals.into_iter().enumerate() {
                    let j = b * BLOCK + i;
                    sigma[j] = sv;
                    if ntk {
                        theta[j] = tv;
                    }
                }
            }
            Ok((theta, sigma))
        })?;
        Ok((
            if ntk { Some(t.into_pyarray(py)) } else { None },
            s.into_pyarray(py),
        ))
    }

    /// Gram matrix of the rows of `x` (and `y`): `method` is "exact", "interpolated" or
    /// "series" (with `degree`); float32 output with `f32=True`.
    #[pyo3(signature = (x, y, kind, method, degree, f32))]
    #[allow(clippy::too_many_arguments)]
    fn gram<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'py, f64>,
        y: Option<PyReadonlyArray2<'py, f64>>,
        kind: &str,
        method: &str,
        degree: usize,
        f32: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let kind = kernel_kind(kind)?;
        let method = match method {
            "exact" => GramMethod::Exact,
            "interpolated" => GramMethod::Interpolated,
            "series" => GramMethod::Series { degree },
            other => {
                return Err(py_error(
                    "InvalidInputError",
                    format!("method must be 'exact', 'interpolated' or 'series', got {other:?}"),
                ))
            }
        };
        let xv = points_view(&x, "X")?;
        let yv = match &y {
            Some(y) => Some(points_view(y, "Y")?),
            None => None,
        };
        let (n, d) = (xv.nrows(), xv.ncols());
        let m = yv.map_or(n, |y| y.nrows());
        let entries = if yv.is_none() {
            n.saturating_mul(n + 1) / 2
        } else {
            n.saturating_mul(m)
        };
        let net = &self.inner;
        // Refuse before allocating; then fill a zeroed (lazily paged) NumPy array in place,
        // so the Gram exists once in memory.
        check_gram_fits(n, m, d, if f32 { 4 } else { 8 }).map_err(to_pyerr)?;
        let kernel = run_cancellable(py, |cancel| {
            GramKernel::new(net, kind, method, entries, Par::rayon(0), cancel)
        })?;
        if f32 {
            Ok(gram_array::<f32>(py, &kernel, xv, yv, (n, m))?.into_any())
        } else {
            Ok(gram_array::<f64>(py, &kernel, xv, yv, (n, m))?.into_any())
        }
    }

    /// Matrix-free Gram operator of the rows of `x`.
    fn gram_operator(
        &self,
        py: Python<'_>,
        x: PyReadonlyArray2<'_, f64>,
        kind: &str,
    ) -> PyResult<PyGramOperator> {
        let kind = kernel_kind(kind)?;
        let xv = points_view(&x, "X")?;
        let net = &self.inner;
        let stop = Arc::new(AtomicBool::new(false));
        let op = run_with_flag(py, &stop, |cancel| {
            GramOperator::new(net, xv, kind, GramMethod::Exact, Par::rayon(0), cancel)
        })?;
        let flag = stop.clone();
        let op = op.with_cancel(Arc::new(move || flag.load(Ordering::Relaxed)));
        Ok(PyGramOperator { op, stop })
    }
}

/// Series of many networks at once, in parallel. Returns one dict per network, or the
/// exception instance for a network that failed (the others are unaffected).
#[pyfunction]
#[pyo3(signature = (networks, degree, ntk=true))]
pub fn batch_network_series<'py>(
    py: Python<'py>,
    networks: Vec<PyRef<'py, PyNetwork>>,
    degree: usize,
    ntk: bool,
) -> PyResult<Bound<'py, PyList>> {
    let nets: Vec<Network> = networks.iter().map(|n| n.inner.clone()).collect();
    let options = SeriesOptions {
        ntk,
        keep_layers: false,
    };
    let results = run_cancellable(py, |cancel| {
        Ok(batch_series(&nets, degree, options, cancel))
    })?;
    let out = PyList::empty(py);
    for r in results {
        match r {
            Ok(s) => out.append(series_dict(py, s)?)?,
            Err(ntk_core::NtkError::Interrupted) => {
                return Err(pyo3::exceptions::PyKeyboardInterrupt::new_err(
                    "interrupted",
                ))
            }
            Err(e) => out.append(to_pyerr(e).value(py).clone())?,
        }
    }
    Ok(out)
}

fn kernel_kind(kind: &str) -> PyResult<KernelKind> {
    match kind {
        "ntk" => Ok(KernelKind::Ntk),
        "nngp" => Ok(KernelKind::Nngp),
        other => Err(py_error(
            "InvalidInputError",
            format!("kind must be 'ntk' or 'nngp', got {other:?}"),
        )),
    }
}

fn points_view<'a>(x: &'a PyReadonlyArray2<'_, f64>, what: &str) -> PyResult<MatRef<'a, f64>> {
    let (n, d) = (x.shape()[0], x.shape()[1]);
    let slice = x
        .as_slice()
        .map_err(|_| py_error("InvalidInputError", format!("{what} must be C-contiguous")))?;
    Ok(MatRef::from_row_major_slice(slice, n, d))
}

fn f64_numpy<'py>(py: Python<'py>, m: &Mat<f64>) -> Bound<'py, PyArray2<f64>> {
    crate::spectrum::mat_to_numpy(py, m)
}

/// Fill a zeroed (lazily paged) NumPy array with the Gram in place, so it exists once.
fn gram_array<'py, T: numpy::Element + GramScalar>(
    py: Python<'py>,
    kernel: &GramKernel,
    xv: MatRef<'_, f64>,
    yv: Option<MatRef<'_, f64>>,
    (n, m): (usize, usize),
) -> PyResult<Bound<'py, PyArray2<T>>> {
    let arr = PyArray2::<T>::zeros(py, [n, m], false);
    {
        let mut rw = arr.readwrite();
        let out = rw
            .as_slice_mut()
            .map_err(|e| py_error("InvalidInputError", e.to_string()))?;
        run_cancellable(py, |cancel| {
            let view = MatMut::from_row_major_slice_mut(out, n, m);
            gram_into(kernel, xv, yv, view, Par::rayon(0), cancel)
        })?;
    }
    Ok(arr)
}

/// Matrix-free kernel Gram operator (engine side of `ntkrs.GramOperator`).
#[pyclass(module = "ntkrs._core", name = "GramOperator", frozen)]
pub struct PyGramOperator {
    op: GramOperator,
    stop: Arc<AtomicBool>,
}

#[pymethods]
impl PyGramOperator {
    /// The dimension n.
    #[getter]
    fn n(&self) -> usize {
        self.op.dim()
    }

    /// `K @ V` for a C-contiguous `(n, b)` float64 array.
    fn matmat<'py>(
        &self,
        py: Python<'py>,
        v: PyReadonlyArray2<'py, f64>,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let (n, b) = (v.shape()[0], v.shape()[1]);
        if n != self.op.dim() {
            return Err(py_error(
                "InvalidInputError",
                format!(
                    "operand has {n} rows, the operator is {0}×{0}",
                    self.op.dim()
                ),
            ));
        }
        let vv = points_view(&v, "V")?;
        let op = &self.op;
        let out = run_with_flag(py, &self.stop, |_cancel| {
            let mut y = Mat::<f64>::zeros(n, b);
            op.apply(vv, y.as_mut(), Par::rayon(0))?;
            Ok(y)
        })?;
        Ok(f64_numpy(py, &out))
    }

    /// Top/bottom-k eigenpairs by block Lanczos (never forms the Gram).
    #[pyo3(signature = (k, which="largest", tol=1e-10, return_vectors=false, max_restarts=1000, seed=0))]
    #[allow(clippy::too_many_arguments)]
    fn eigsh<'py>(
        &self,
        py: Python<'py>,
        k: usize,
        which: &str,
        tol: f64,
        return_vectors: bool,
        max_restarts: usize,
        seed: u64,
    ) -> PyResult<crate::spectrum::EigOutput<'py>> {
        let which = crate::spectrum::parse_which(which)?;
        let mut opts = crate::spectrum::options(tol, return_vectors, max_restarts, seed);
        // One product recomputes the whole Gram whatever the block width, so wide blocks
        // (fewer products) are nearly free here.
        opts.block_size = Some(k.clamp(12, 16).min(self.op.dim().saturating_sub(1).max(1)));
        let op = &self.op;
        let res = run_with_flag(py, &self.stop, |cancel| {
            eigsh_auto(op, k, which, &opts, cancel)
        })?;
        crate::spectrum::eig_output(py, res)
    }
}
