//! `auditsql._core`: the Python face of auditsql-core. Only this crate knows Python; the event path's
//! boundary is batches (`pipeline`), and the inspection functions serve tests and debugging.

use pyo3::prelude::*;

/// The extension's Rust allocations (events, rows, frames) go through mimalloc; Python's own memory does not.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod inspect;
mod pipeline;
mod reader;
mod sqlite;
mod store;

pyo3::create_exception!(
    _core,
    CoreError,
    pyo3::exceptions::PyException,
    "A bad argument to the core (an unknown setting, a closed reader); never raised for bad input data."
);

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("CoreError", m.py().get_type::<CoreError>())?;
    m.add_class::<pipeline::Settings>()?;
    m.add_class::<pipeline::Batch>()?;
    m.add_class::<pipeline::Pipeline>()?;
    reader::register(m)?;
    store::register(m)?;
    sqlite::register(m)?;
    inspect::register(m)?;
    Ok(())
}
