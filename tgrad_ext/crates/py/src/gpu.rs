//! GPU entry points: CUDA and Metal source for the kernels a graph would run, NVRTC compilation
//! (no GPU needed), device availability and selection, and running a graph on a named device.
//! Conversion only.

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use tgrad_core::abi::LaunchDims;
use tgrad_core::codegen::{self, Program, Strategy};
use tgrad_core::graph::LazyRef;
use tgrad_core::render::{self, Renderer};
use tgrad_core::runtime::cuda;
use tgrad_core::schedule::schedule;
use tgrad_core::target::{GpuTarget, Target};
use tgrad_core::{engine, Result};

use crate::{core, PyLazy};

fn roots(xs: &[PyRef<'_, PyLazy>]) -> Vec<LazyRef> {
    xs.iter().map(|x| x.0.clone()).collect()
}

/// The programs realizing `roots` would run, planned for `target`.
fn plan_for(roots: &[LazyRef], target: &Target) -> Result<Vec<Program>> {
    let sched = schedule(roots)?;
    sched
        .items
        .iter()
        .map(|i| codegen::plan(&i.kernel, target))
        .collect()
}

/// The kernels realizing `xs` would run, as CUDA C for an sm_90 GPU: [(name, source, launch)],
/// where launch holds grid, block, shared_bytes (dynamic shared memory), strategy, tensor_cores
/// and signature.
#[pyfunction]
fn render_cuda<'py>(
    py: Python<'py>,
    xs: Vec<PyRef<'py, PyLazy>>,
) -> PyResult<Vec<(String, String, Bound<'py, PyDict>)>> {
    let r = roots(&xs);
    let target = Target::Gpu(GpuTarget::cuda(9, 0));
    let progs = core(py, || plan_for(&r, &target))?;
    let mut out = Vec::with_capacity(progs.len());
    for p in &progs {
        let renderer = render::for_target(&p.target);
        let d = PyDict::new(py);
        if let LaunchDims::Grid {
            grid,
            block,
            shared_bytes,
        } = core(py, || renderer.launch_dims(p))?
        {
            d.set_item("grid", (grid[0], grid[1], grid[2]))?;
            d.set_item("block", (block[0], block[1], block[2]))?;
            d.set_item("shared_bytes", shared_bytes)?;
        }
        let (strategy, tc) = match &p.strategy {
            Strategy::Gemm(g) => ("gemm", g.gpu().is_some_and(|t| t.matrix_units)),
            Strategy::Loops(_) => ("loops", false),
        };
        d.set_item("strategy", strategy)?;
        d.set_item("tensor_cores", tc)?;
        d.set_item("signature", p.signature.clone())?;
        out.push((p.name.clone(), renderer.render(p), d));
    }
    Ok(out)
}

/// The kernels realizing `xs` would run, as Metal Shading Language: [(name, source)].
#[pyfunction]
fn render_metal(py: Python<'_>, xs: Vec<PyRef<'_, PyLazy>>) -> PyResult<Vec<(String, String)>> {
    let r = roots(&xs);
    let progs = core(py, || plan_for(&r, &Target::Gpu(GpuTarget::metal())))?;
    Ok(progs
        .iter()
        .map(|p| (p.name.clone(), render::metal::MetalRenderer.render(p)))
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
    core(py, || cuda::nvrtc_compile_with(source, arch, &search))
}

/// (True, device description) when CUDA is usable, else (False, the reason).
#[pyfunction]
fn cuda_available(py: Python<'_>) -> (bool, String) {
    match py.allow_threads(cuda::available) {
        Ok(d) => (true, d),
        Err(why) => (false, why),
    }
}

/// The device `realize()` runs kernels on (TGRAD_DEVICE, else CUDA when usable and passing its
/// self-check, else CPU). Decided once per process; an error names a device that cannot be used.
#[pyfunction]
fn default_device(py: Python<'_>) -> PyResult<&'static str> {
    core(py, engine::current_name)
}

/// Why CUDA is not picked automatically here (None: it is, when TGRAD_DEVICE is unset).
#[pyfunction]
fn cuda_auto_refusal(py: Python<'_>) -> Option<String> {
    py.allow_threads(engine::why_not_cuda)
}

/// Realize `xs` on the named device (kernels run there; results stay there until read).
#[pyfunction]
fn realize_on(py: Python<'_>, device: &str, xs: Vec<PyRef<'_, PyLazy>>) -> PyResult<()> {
    let r = roots(&xs);
    core(py, || engine::engine_for(device)?.realize(&r))
}

/// The devices a process can name.
#[pyfunction]
fn devices() -> Vec<&'static str> {
    engine::select::DEVICES.to_vec()
}

/// Add the GPU functions to the native module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    for f in [
        wrap_pyfunction!(render_cuda, m)?,
        wrap_pyfunction!(render_metal, m)?,
        wrap_pyfunction!(nvrtc_compile, m)?,
        wrap_pyfunction!(cuda_available, m)?,
        wrap_pyfunction!(realize_on, m)?,
        wrap_pyfunction!(default_device, m)?,
        wrap_pyfunction!(cuda_auto_refusal, m)?,
        wrap_pyfunction!(devices, m)?,
    ] {
        m.add_function(f)?;
    }
    Ok(())
}
