//! PyO3 bindings of ntkrs: thin glue over `ntk-core`.
//!
//! Conventions: arrays in and out are NumPy float64; every `ntk_core::NtkError` is mapped once,
//! in [`errors::to_pyerr`], onto the Python hierarchy of `ntkrs.errors`; heavy work runs with
//! the GIL released (`py.detach`), and Python is never called from rayon worker threads.

mod activation;
mod empirical;
mod errors;
mod interrupt;
mod network;
mod spectrum;
mod sphere;
mod threads;

use pyo3::prelude::*;

#[pymodule]
mod _core {
    #[pymodule_export]
    const VERSION: &str = env!("CARGO_PKG_VERSION");

    #[pymodule_export]
    use crate::activation::{
        closed_form_coefficients, closed_form_derivative_second_moment, closed_form_eval,
        closed_form_kinks, closed_form_second_moment, gauss_hermite, SamplingPlan,
    };

    #[pymodule_export]
    use crate::empirical::{empirical_ntk, empirical_parameters};

    #[pymodule_export]
    use crate::network::{batch_network_series, PyGramOperator, PyNetwork};

    #[pymodule_export]
    use crate::spectrum::{eigsh_callable, eigsh_dense, eigvalsh_dense};

    #[pymodule_export]
    use crate::sphere::{
        sphere_minimum_degree, sphere_monomial_eigenvalue, sphere_multiplicity,
        sphere_recommended_degree, sphere_spectrum, PySphereSpectrum,
    };

    #[pymodule_export]
    use crate::threads::{get_num_threads, set_num_threads};
}
