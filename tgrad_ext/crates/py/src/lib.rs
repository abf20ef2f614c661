//! The Python binding of tgrad-core: converts types, maps errors variant by variant to Python
//! exception classes (defined in `tgrad/errors.py`), and exports thin wrappers. No logic.

// PyO3 extracts arguments as owned values (Vec, PyBuffer): by-value is the binding contract
#![allow(clippy::needless_pass_by_value)]

mod gpu;
mod ops;

/// The core allocates many small vectors per op (shapes, views, graph nodes) and the output
/// buffers per call; glibc malloc spent a third of `a @ b`'s graph building in malloc/free.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use tgrad_core::engine::{self, Launch};
use tgrad_core::graph::{BinaryOp, LazyRef, ReduceOp, UnaryOp};
use tgrad_core::runtime::buffer::Buffer;
use tgrad_core::{rng, tensor, DType, Error};

/// Map a core error to the Python exception class named for it.
fn to_py(py: Python<'_>, e: Error) -> PyErr {
    let class = match &e {
        Error::Shape(_) => "ShapeError",
        Error::DType(_) => "DTypeError",
        Error::InvalidArgument(_) => "InvalidArgumentError",
        Error::OutOfMemory { .. } => "OutOfMemoryError",
        Error::CompilerMissing { .. } => "CompilerNotFoundError",
        Error::CompileFailed { .. } => "CompileError",
        Error::Runtime(_) => "DeviceError",
        Error::Io(_) => "CacheError",
        Error::Unsupported(_) => "UnsupportedError",
        Error::Gradient(_) => "GradientError",
        Error::Internal(_) => "InternalError",
    };
    let msg = e.to_string();
    match py.import("tgrad.errors").and_then(|m| m.getattr(class)) {
        Ok(cls) => match cls.call1((msg.clone(),)) {
            Ok(inst) => PyErr::from_value(inst),
            Err(err) => err,
        },
        Err(_) => PyValueError::new_err(msg),
    }
}

trait IntoPy<T> {
    fn py_err(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPy<T> for tgrad_core::Result<T> {
    fn py_err(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_py(py, e))
    }
}

/// Run a core call with the GIL held; a panic becomes an `InternalError` (see `core`).
fn guard<T>(py: Python<'_>, f: impl FnOnce() -> tgrad_core::Result<T>) -> PyResult<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|p| Err(Error::Internal(panic_message(&*p))))
        .py_err(py)
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(ToString::to_string)
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with no message".into())
}

/// Run a core call with the GIL released; a panic inside it becomes an `InternalError` (a
/// `TgradError`) carrying the panic's message, so no panic crosses into Python and the process
/// stays usable.
fn core<T: Send>(py: Python<'_>, f: impl FnOnce() -> tgrad_core::Result<T> + Send) -> PyResult<T> {
    py.allow_threads(|| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
            .unwrap_or_else(|p| Err(Error::Internal(panic_message(&*p))))
    })
    .py_err(py)
}

fn dtype(py: Python<'_>, name: &str) -> PyResult<DType> {
    DType::from_name(name).py_err(py)
}

/// A lazy tensor node. Python's `Tensor` holds one of these.
#[pyclass(name = "LazyBuffer", frozen, module = "tgrad._native")]
pub struct PyLazy(LazyRef);

fn wrap(x: LazyRef) -> PyLazy {
    PyLazy(x)
}

#[pymethods]
impl PyLazy {
    #[getter]
    fn shape(&self) -> Vec<usize> {
        self.0.shape.clone()
    }

    #[getter]
    fn dtype(&self) -> &'static str {
        self.0.dtype.name()
    }

    fn numel(&self) -> usize {
        self.0.numel()
    }

    fn is_realized(&self) -> bool {
        self.0.buffer().is_some()
    }

    /// The device holding the only current copy of the realized data (None: the host has it, or
    /// the node is lazy).
    fn placement(&self) -> Option<String> {
        self.0.buffer().and_then(|b| b.only_on_device())
    }

    /// Identity of the realized buffer (None while lazy): TinyJit matches inputs by it.
    fn buffer_id(&self) -> Option<u64> {
        self.0.buffer().map(|b| b.id)
    }

    fn reshape(&self, py: Python<'_>, shape: Vec<i64>) -> PyResult<PyLazy> {
        guard(py, || tensor::reshape(&self.0, &shape)).map(wrap)
    }

    fn permute(&self, py: Python<'_>, order: Vec<i64>) -> PyResult<PyLazy> {
        guard(py, || tensor::permute(&self.0, &order)).map(wrap)
    }

    fn transpose(&self, py: Python<'_>, dim0: i64, dim1: i64) -> PyResult<PyLazy> {
        guard(py, || tensor::transpose(&self.0, dim0, dim1)).map(wrap)
    }

    fn expand(&self, py: Python<'_>, shape: Vec<i64>) -> PyResult<PyLazy> {
        guard(py, || tensor::expand(&self.0, &shape)).map(wrap)
    }

    fn shrink(&self, py: Python<'_>, ranges: Vec<(usize, usize)>) -> PyResult<PyLazy> {
        guard(py, || tensor::shrink(&self.0, &ranges)).map(wrap)
    }

    fn cast(&self, py: Python<'_>, dt: &str) -> PyResult<PyLazy> {
        Ok(wrap(tensor::cast(&self.0, dtype(py, dt)?)))
    }

    /// A view with any shape, strides and offset, unchecked (for tests of the launch checks).
    fn as_strided_unchecked(
        &self,
        py: Python<'_>,
        shape: Vec<usize>,
        strides: Vec<isize>,
        offset: isize,
    ) -> PyResult<PyLazy> {
        guard(py, || {
            tensor::as_strided_unchecked(&self.0, &shape, &strides, offset)
        })
        .map(wrap)
    }

    fn contiguous(&self) -> PyLazy {
        wrap(tensor::contiguous(&self.0))
    }

    fn clone(&self) -> PyLazy {
        wrap(tensor::copy(&self.0))
    }

    fn unary(&self, py: Python<'_>, op: &str) -> PyResult<PyLazy> {
        let op = match op {
            "neg" => UnaryOp::Neg,
            "relu" => UnaryOp::Relu,
            other => return Err(PyValueError::new_err(format!("unknown unary op '{other}'"))),
        };
        let _ = py;
        Ok(wrap(tensor::unary(op, &self.0)))
    }

    fn binary(&self, py: Python<'_>, op: &str, other: &PyLazy) -> PyResult<PyLazy> {
        let op = match op {
            "add" => BinaryOp::Add,
            "sub" => BinaryOp::Sub,
            "mul" => BinaryOp::Mul,
            "div" => BinaryOp::Div,
            "max" => BinaryOp::Max,
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown binary op '{other}'"
                )))
            }
        };
        guard(py, || tensor::binary(op, &self.0, &other.0)).map(wrap)
    }

    fn reduce(&self, py: Python<'_>, op: &str, axes: Vec<i64>, keepdim: bool) -> PyResult<PyLazy> {
        let op = match op {
            "sum" => ReduceOp::Sum,
            "max" => ReduceOp::Max,
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown reduce op '{other}'"
                )))
            }
        };
        guard(py, || tensor::reduce(op, &self.0, &axes, keepdim)).map(wrap)
    }

    fn dot(&self, py: Python<'_>, other: &PyLazy) -> PyResult<PyLazy> {
        guard(py, || tensor::dot(&self.0, &other.0)).map(wrap)
    }

    /// Realize this node (the GIL is released while kernels run).
    fn realize(&self, py: Python<'_>) -> PyResult<()> {
        let roots = [self.0.clone()];
        core(py, || engine::realize(&roots))
    }
}

/// A new realized tensor holding a copy of a C-contiguous buffer (a byte memoryview).
#[pyfunction]
fn from_bytes(py: Python<'_>, data: PyBuffer<u8>, dt: &str, shape: Vec<usize>) -> PyResult<PyLazy> {
    let d = dtype(py, dt)?;
    if !data.is_c_contiguous() {
        return Err(PyValueError::new_err(
            "from_bytes needs a C-contiguous buffer",
        ));
    }
    let n = data.len_bytes();
    // SAFETY: the buffer is C-contiguous and `n` bytes long while `data` is held.
    let bytes = unsafe { std::slice::from_raw_parts(data.buf_ptr().cast::<u8>(), n) };
    let buf = Buffer::from_bytes(d, bytes).py_err(py)?;
    guard(py, || tensor::from_buffer(buf, shape)).map(wrap)
}

#[pyfunction]
fn full(py: Python<'_>, value: f64, dt: &str, shape: Vec<usize>) -> PyResult<PyLazy> {
    let d = dtype(py, dt)?;
    guard(py, || tensor::constant(value, d, shape)).map(wrap)
}

fn random(py: Python<'_>, dt: &str, shape: Vec<usize>, normal: bool) -> PyResult<PyLazy> {
    let d = dtype(py, dt)?;
    let count = guard(py, || tgrad_core::shape::checked_numel(&shape))?;
    let mut buf = Buffer::new(d, count, false).py_err(py)?;
    rng::fill(&mut buf, normal).py_err(py)?;
    guard(py, || tensor::from_buffer(buf, shape)).map(wrap)
}

#[pyfunction]
fn rand(py: Python<'_>, dt: &str, shape: Vec<usize>) -> PyResult<PyLazy> {
    random(py, dt, shape, false)
}

#[pyfunction]
fn randn(py: Python<'_>, dt: &str, shape: Vec<usize>) -> PyResult<PyLazy> {
    random(py, dt, shape, true)
}

#[pyfunction]
fn manual_seed(seed: u64) {
    rng::manual_seed(seed);
}

/// Realize every node (the GIL is released while kernels run).
#[pyfunction]
fn realize(py: Python<'_>, xs: Vec<PyRef<'_, PyLazy>>) -> PyResult<()> {
    let roots: Vec<LazyRef> = xs.iter().map(|x| x.0.clone()).collect();
    core(py, || engine::realize(&roots))
}

/// Realize `x` (contiguously) and copy its bytes into a writable byte memoryview.
#[pyfunction]
fn copy_out(py: Python<'_>, x: &PyLazy, out: PyBuffer<u8>) -> PyResult<()> {
    let c = tensor::contiguous(&x.0);
    let roots = [c.clone()];
    core(py, || engine::realize(&roots))?;
    let buf = c.buffer().ok_or_else(|| {
        to_py(
            py,
            Error::Internal("realize left the result unrealized".into()),
        )
    })?;
    if out.readonly() || !out.is_c_contiguous() || out.len_bytes() != buf.len_bytes() {
        return Err(PyValueError::new_err(format!(
            "copy_out needs a writable C-contiguous buffer of {} bytes, got {} bytes",
            buf.len_bytes(),
            out.len_bytes()
        )));
    }
    let bytes = core(py, || buf.host_bytes().map(|b| b.as_ptr() as usize))?;
    // SAFETY: checked writable, contiguous and the same length; the host bytes are current.
    unsafe {
        std::ptr::copy_nonoverlapping(
            bytes as *const u8,
            out.buf_ptr().cast::<u8>(),
            buf.len_bytes(),
        );
    };
    Ok(())
}

/// The kernels realizing `xs` would run, rendered: [(name, description, source)].
#[pyfunction]
fn render(py: Python<'_>, xs: Vec<PyRef<'_, PyLazy>>) -> PyResult<Vec<(String, String, String)>> {
    let roots: Vec<LazyRef> = xs.iter().map(|x| x.0.clone()).collect();
    let progs = core(py, || engine::plan_only(&roots))?;
    Ok(progs
        .iter()
        .map(|p| (p.name.clone(), p.signature.clone(), engine::render(p)))
        .collect())
}

/// What the lab reports of each kernel realizing `xs`: [(name, certified, certificate status,
/// rounding depth D or None where the bound is gamma_K)].
#[pyfunction]
#[allow(clippy::type_complexity)]
fn plan_report(
    py: Python<'_>,
    xs: Vec<PyRef<'_, PyLazy>>,
) -> PyResult<Vec<(String, bool, String, Option<usize>)>> {
    use tgrad_core::certify::{cert, fp};
    let roots: Vec<LazyRef> = xs.iter().map(|x| x.0.clone()).collect();
    let progs = core(py, || engine::plan_only(&roots))?;
    Ok(progs
        .iter()
        .map(|p| {
            let (ok, why) = match cert::status(p) {
                cert::Status::Certified(w) => (true, w),
                cert::Status::Uncertified(w) => (false, w),
            };
            (p.name.clone(), ok, why, fp::program_depth(p))
        })
        .collect())
}

#[pyfunction]
fn set_flag(py: Python<'_>, name: &str, value: i64) -> PyResult<i64> {
    engine::set_flag(name, value).py_err(py)
}

/// Every setting of the registry: (name, env var, kind, default, min, max, doc); kind is "int",
/// "text" or "choice" (then min/max are None and default is None or the allowed words).
#[pyfunction]
#[allow(clippy::type_complexity)]
fn settings() -> Vec<(
    &'static str,
    String,
    &'static str,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Vec<&'static str>,
    &'static str,
)> {
    use tgrad_core::flags::{Kind, SETTINGS};
    SETTINGS
        .iter()
        .map(|s| match s.kind {
            Kind::Int { default, min, max } => (
                s.name,
                s.env(),
                "int",
                Some(default),
                Some(min),
                Some(max),
                vec![],
                s.doc,
            ),
            Kind::Text => (s.name, s.env(), "text", None, None, None, vec![], s.doc),
            Kind::Choice(words) => (
                s.name,
                s.env(),
                "choice",
                None,
                None,
                None,
                words.to_vec(),
                s.doc,
            ),
        })
        .collect()
}

/// Check every TGRAD_* variable in the environment (the first bad value raises).
#[pyfunction]
fn check_environment(py: Python<'_>) -> PyResult<()> {
    guard(py, tgrad_core::flags::check_environment)
}

#[pyfunction]
fn get_flag(py: Python<'_>, name: &str) -> PyResult<i64> {
    Ok(tgrad_core::flags::Flag::from_name(name).py_err(py)?.get())
}

/// Kernels recorded by a capture; replayed with new input buffers.
#[pyclass(name = "CapturedGraph", frozen, module = "tgrad._native")]
pub struct PyCaptured(Vec<Launch>);

#[pymethods]
impl PyCaptured {
    fn __len__(&self) -> usize {
        self.0.len()
    }

    /// Replay with buffers swapped: [(captured buffer id, new realized node)].
    fn replay(&self, py: Python<'_>, swaps: Vec<(u64, PyRef<'_, PyLazy>)>) -> PyResult<()> {
        let mut pairs: Vec<(u64, Arc<Buffer>)> = Vec::with_capacity(swaps.len());
        for (id, x) in &swaps {
            let buf = x.0.buffer().ok_or_else(|| {
                PyValueError::new_err("TinyJit inputs must be realized before replay")
            })?;
            pairs.push((*id, buf));
        }
        core(py, || engine::replay(&self.0, &pairs))
    }
}

#[pyfunction]
fn capture_begin(py: Python<'_>) -> PyResult<()> {
    engine::capture_begin().py_err(py)
}

#[pyfunction]
fn capture_end() -> PyCaptured {
    PyCaptured(engine::capture_end())
}

/// Build and machine facts, so benchmarks can refuse a debug build and results record it.
#[pyfunction]
fn build_info(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("version", tgrad_core::version())?;
    d.set_item(
        "profile",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
    )?;
    let t = tgrad_core::target::CpuTarget::host();
    d.set_item("isa", t.isa.name())?;
    d.set_item("vendor", t.vendor.name())?;
    d.set_item("threads", t.threads)?;
    d.set_item(
        "cache_dir",
        tgrad_core::runtime::cache::Cache::get()
            .ok()
            .map(|c| c.dir().display().to_string()),
    )?;
    d.set_item(
        "compiler",
        tgrad_core::runtime::cpu::Compiler::c()
            .ok()
            .map(|c| format!("{} ({})", c.path, c.identity)),
    )?;
    d.set_item("aot_kernels", tgrad_aot::KERNELS.len())?;
    d.set_item("aot_compiler", tgrad_aot::COMPILER)?;
    Ok(d)
}

#[pyfunction]
fn stats(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let s = engine::stats();
    let d = PyDict::new(py);
    d.set_item("kernels_run", s.kernels_run)?;
    d.set_item("programs_compiled", s.programs_compiled)?;
    d.set_item("programs_from_disk", s.programs_from_disk)?;
    d.set_item("programs_aot", s.programs_aot)?;
    d.set_item("compile_seconds", s.compile_seconds)?;
    d.set_item("beam_searches", s.beam_searches)?;
    d.set_item("beam_cache_hits", s.beam_cache_hits)?;
    d.set_item("schedule_cache_hits", s.schedule_cache_hits)?;
    d.set_item("beam_seconds", s.beam_seconds)?;
    d.set_item("beam_rejected", s.beam_rejected)?;
    Ok(d)
}

#[pyfunction]
fn clear_memory_cache() {
    engine::clear_memory_cache();
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // the GEMM kernels built with the wheel: the CPU device runs them instead of compiling
    tgrad_aot::register();
    m.add("__version__", tgrad_core::version())?;
    m.add_class::<PyLazy>()?;
    m.add_class::<PyCaptured>()?;
    gpu::register(m)?;
    ops::register(m)?;
    for f in [
        wrap_pyfunction!(from_bytes, m)?,
        wrap_pyfunction!(full, m)?,
        wrap_pyfunction!(rand, m)?,
        wrap_pyfunction!(randn, m)?,
        wrap_pyfunction!(manual_seed, m)?,
        wrap_pyfunction!(realize, m)?,
        wrap_pyfunction!(copy_out, m)?,
        wrap_pyfunction!(render, m)?,
        wrap_pyfunction!(plan_report, m)?,
        wrap_pyfunction!(set_flag, m)?,
        wrap_pyfunction!(get_flag, m)?,
        wrap_pyfunction!(settings, m)?,
        wrap_pyfunction!(check_environment, m)?,
        wrap_pyfunction!(capture_begin, m)?,
        wrap_pyfunction!(capture_end, m)?,
        wrap_pyfunction!(build_info, m)?,
        wrap_pyfunction!(stats, m)?,
        wrap_pyfunction!(clear_memory_cache, m)?,
    ] {
        m.add_function(f)?;
    }
    Ok(())
}
