use pyo3::prelude::*;

mod inspect;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    inspect::register(m)?;
    Ok(())
}
