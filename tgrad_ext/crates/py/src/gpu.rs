//! GPU entry points: CUDA and Metal source for the kernels a graph would run, NVRTC compilation
//! (no GPU needed), CUDA availability, and running a graph on the GPU. Conversion only.

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use tgrad_core::codegen::Strategy;
use tgrad_core::engine;
use tgrad_core::graph::LazyRef;
use tgrad_core::render::cuda::{gemm_tile, CudaRenderer};
use tgrad_core::render::metal::MetalRenderer;
use tgrad_core::render::Renderer;
use tgrad_core::runtime::cuda;

use crate::{IntoPy, PyLazy};

fn roots(xs: &[PyRef<'_, PyLazy>]) -> Vec<LazyRef> {
    xs.iter().map(|x| x.0.clone()).collect()
}

/// The kernels realizing `xs` would run, as CUDA C: [(name, source, launch)], where launch holds
/// grid, block, shared_bytes (dynamic shared memory), strategy, tensor_cores and signature.
#[pyfunction]
fn render_cuda<'py>(
    py: Python<'py>,
    xs: Vec<PyRef<'py, PyLazy>>,
) -> PyResult<Vec<(String, String, Bound<'py, PyDict>)>> {
    let progs = engine::plan_only(&roots(&xs)).py_err(py)?;
    let mut out = Vec::with_capacity(progs.len());
    for p in &progs {
        let l = CudaRenderer::launch(p);
        let d = PyDict::new(py);
        d.set_item("grid", (l.grid[0], l.grid[1], l.grid[2]))?;
        d.set_item("block", (l.block[0], l.block[1], l.block[2]))?;
        d.set_item("shared_bytes", l.shared_bytes)?;
        let (strategy, tc) = match &p.strategy {
            Strategy::Gemm(g) => ("gemm", gemm_tile(g).tensor_cores),
            Strategy::Loops(_) => ("loops", false),
        };
        d.set_item("strategy", strategy)?;
        d.set_item("tensor_cores", tc)?;
        d.set_item("signature", p.signature.clone())?;
        out.push((p.name.clone(), CudaRenderer.render(p), d));
    }
    Ok(out)
}

/// The kernels realizing `xs` would run, as Metal Shading Language: [(name, source)].
#[pyfunction]
fn render_metal(py: Python<'_>, xs: Vec<PyRef<'_, PyLazy>>) -> PyResult<Vec<(String, String)>> {
    let progs = engine::plan_only(&roots(&xs)).py_err(py)?;
    Ok(progs
        .iter()
        .map(|p| (p.name.clone(), MetalRenderer.render(p)))
        .collect())
}

/// Compile CUDA C to PTX with NVRTC for `arch` ("sm_90"). `lib_path`: libnvrtc itself, or
/// directories (os.pathsep-separated) to search, e.g. site-packages holding the NVIDIA wheels.
#[pyfunction]
#[pyo3(signature = (source, arch, lib_path=None))]
fn nvrtc_compile(
    py: Python<'_>,
    source: &str,
    arch: &str,
    lib_path: Option<String>,
) -> PyResult<String> {
    let search: Vec<PathBuf> = lib_path
        .as_deref()
        .map(|s| std::env::split_paths(s).collect())
        .unwrap_or_default();
    py.allow_threads(|| cuda::nvrtc_compile_with(source, arch, &search))
        .py_err(py)
}

/// (True, device description) when CUDA is usable, else (False, the reason).
#[pyfunction]
fn cuda_available(py: Python<'_>) -> (bool, String) {
    py.allow_threads(cuda::available)
}

/// The device `realize()` runs kernels on: "CUDA" when TGRAD_DEVICE names it, or when it is unset
/// and CUDA is usable and passes its self-check; else "CPU". Decided once per process.
#[pyfunction]
fn default_device(py: Python<'_>) -> &'static str {
    py.allow_threads(|| {
        if tgrad_core::engine::cuda_selected() {
            "CUDA"
        } else {
            "CPU"
        }
    })
}

/// Why CUDA is not picked automatically here (None: it is, when TGRAD_DEVICE is unset).
#[pyfunction]
fn cuda_auto_refusal(py: Python<'_>) -> Option<String> {
    py.allow_threads(cuda::auto_refusal)
}

/// Realize `xs` on the CUDA device (kernels run on the GPU; results land in host buffers).
#[pyfunction]
fn cuda_realize(py: Python<'_>, xs: Vec<PyRef<'_, PyLazy>>) -> PyResult<()> {
    let r = roots(&xs);
    py.allow_threads(|| cuda::realize(&r)).py_err(py)
}

/// Add the GPU functions to the native module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    for f in [
        wrap_pyfunction!(render_cuda, m)?,
        wrap_pyfunction!(render_metal, m)?,
        wrap_pyfunction!(nvrtc_compile, m)?,
        wrap_pyfunction!(cuda_available, m)?,
        wrap_pyfunction!(cuda_realize, m)?,
        wrap_pyfunction!(default_device, m)?,
        wrap_pyfunction!(cuda_auto_refusal, m)?,
    ] {
        m.add_function(f)?;
    }
    Ok(())
}
