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

extern "C" {
    /// mimalloc's (linked in by the `mimalloc` crate): frees what its heaps hold unused, and with `force`
    /// returns the pages to the OS.
    fn mi_collect(force: bool);
}

/// Gives the memory the native core freed back to the OS (after a burst: the reader's buffer and the
/// pipeline's batches); the agent calls it when it goes idle. Cheap when there is nothing to give.
#[pyfunction]
fn release_memory(py: Python<'_>) {
    py.detach(release_thread_memory);
}

/// [`release_memory`] for the calling thread's heap (mimalloc keeps one per thread): the reader thread calls
/// it at the end of a burst.
pub(crate) fn release_thread_memory() {
    // SAFETY: mi_collect takes no pointers and may be called from any thread at any time.
    unsafe { mi_collect(true) }
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("CoreError", m.py().get_type::<CoreError>())?;
    m.add_function(wrap_pyfunction!(release_memory, m)?)?;
    m.add_class::<pipeline::Settings>()?;
    m.add_class::<pipeline::Batch>()?;
    m.add_class::<pipeline::Pipeline>()?;
    pipeline::register(m)?;
    reader::register(m)?;
    store::register(m)?;
    sqlite::register(m)?;
    inspect::register(m)?;
    Ok(())
}
