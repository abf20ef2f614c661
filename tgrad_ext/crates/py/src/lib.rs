use pyo3::prelude::*;
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", tgrad_core::version())?;
    Ok(())
}
