//! PyO3 bindings of ntkrs: thin glue over ntk-core.
use pyo3::prelude::*;

#[pymodule]
mod _core {
    #[pymodule_export]
    const VERSION: &str = env!("CARGO_PKG_VERSION");
}
