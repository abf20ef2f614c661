//! Which device a process runs kernels on, decided once: the one TGRAD_DEVICE names, or, where
//! it is unset, CUDA when a GPU is usable and computes a small fused GEMM exactly as the CPU
//! engine does (`self_check`), else the CPU. A GPU whose kernels fail or disagree never
//! silently becomes the default.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use super::Engine;
use crate::error::{Error, Result};
use crate::flags;
use crate::graph::LazyRef;
use crate::runtime::buffer::Buffer;
use crate::runtime::cpu::CpuDevice;
use crate::runtime::cuda;
use crate::runtime::device::Device;
use crate::runtime::emu::{Dialect, EmuDevice};

/// The CPU engine (always available; the self-check's reference).
pub fn cpu() -> &'static Engine {
    static CPU: OnceLock<Engine> = OnceLock::new();
    CPU.get_or_init(|| Engine::new(Arc::new(CpuDevice::host())))
}

/// The devices `engine_for` knows, by the names TGRAD_DEVICE takes.
pub const DEVICES: [&str; 4] = ["CPU", "CUDA", "CUDA_EMU", "METAL_EMU"];

/// The engine of a device by name (made once per process), or why the device cannot be used.
pub fn engine_for(name: &str) -> Result<&'static Engine> {
    static ENGINES: OnceLock<Mutex<HashMap<String, &'static Engine>>> = OnceLock::new();
    let name = name.to_ascii_uppercase();
    if name == "CPU" {
        return Ok(cpu());
    }
    let mut engines = ENGINES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(e) = engines.get(&name) {
        return Ok(e);
    }
    let device: Arc<dyn Device> = match name.as_str() {
        "CUDA" => {
            cuda::available()
                .map_err(|why| Error::Runtime(format!("CUDA is not usable here: {why}")))?;
            Arc::new(cuda::Cuda)
        }
        "CUDA_EMU" => Arc::new(EmuDevice::new(Dialect::Cuda)),
        "METAL_EMU" => Arc::new(EmuDevice::new(Dialect::Metal)),
        other => {
            return Err(Error::InvalidArgument(format!(
                "unknown device {other:?} (devices: {})",
                DEVICES.join(", ")
            )))
        }
    };
    let e: &'static Engine = Box::leak(Box::new(Engine::new(device)));
    engines.insert(name, e);
    Ok(e)
}

/// The engine of the process's device.
pub fn current() -> Result<&'static Engine> {
    static CURRENT: OnceLock<std::result::Result<&'static Engine, Error>> = OnceLock::new();
    CURRENT.get_or_init(choose).clone()
}

/// The name of the process's device.
pub fn current_name() -> Result<&'static str> {
    current().map(|e| e.device().name())
}

fn choose() -> Result<&'static Engine> {
    flags::check_environment()?;
    crate::codegen::forced_tuning()?;
    match flags::text("DEVICE").map(|d| flags::choice_word(d).to_ascii_uppercase()) {
        Some(name) => engine_for(&name).map_err(|e| match e {
            Error::Runtime(why) => Error::Runtime(format!("TGRAD_DEVICE={name}: {why}")),
            other => other,
        }),
        None if why_not_cuda().is_none() => engine_for("CUDA"),
        None => Ok(cpu()),
    }
}

/// Why CUDA is not picked when TGRAD_DEVICE is unset (None: it is). Decided once per process.
pub fn why_not_cuda() -> Option<String> {
    static WHY: OnceLock<Option<String>> = OnceLock::new();
    WHY.get_or_init(|| {
        if let Err(why) = cuda::available() {
            return Some(why);
        }
        let gpu = match engine_for("CUDA") {
            Ok(e) => e,
            Err(e) => return Some(e.to_string()),
        };
        self_check(|roots| gpu.realize(roots))
            .err()
            .map(|e| format!("the CUDA self-check failed ({e}); TGRAD_DEVICE=CUDA forces CUDA"))
    })
    .clone()
}

/// Run relu(A @ B + bias) with edges on every side (37 x 19 @ 19 x 23) through `run` and through
/// the CPU engine, and compare bit for bit. Err says what went wrong or which element disagreed.
pub fn self_check(run: impl Fn(&[LazyRef]) -> Result<()>) -> std::result::Result<(), String> {
    use crate::graph::{BinaryOp, UnaryOp};
    use crate::{tensor, DType};
    let (m, k, n) = (37usize, 19usize, 23usize);
    // fixed values, not the user's random stream: quarter-integers, exact in f32 sums
    let vals = |count: usize, salt: usize| -> Vec<f32> {
        (0..count)
            .map(|i| ((i * 7 + salt * 13) % 17) as f32 * 0.25 - 2.0)
            .collect()
    };
    let input = |v: Vec<f32>, shape: Vec<usize>| -> std::result::Result<LazyRef, String> {
        let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        let buf = Buffer::from_bytes(DType::F32, &bytes).map_err(|e| e.to_string())?;
        tensor::from_buffer(buf, shape).map_err(|e| e.to_string())
    };
    let (a, b, bias) = (
        input(vals(m * k, 1), vec![m, k])?,
        input(vals(k * n, 2), vec![k, n])?,
        input(vals(n, 3), vec![n])?,
    );
    let graph = || -> Result<LazyRef> {
        let y = tensor::binary(BinaryOp::Add, &tensor::dot(&a, &b)?, &bias)?;
        Ok(tensor::unary(UnaryOp::Relu, &y))
    };
    let (dev, host) = (
        graph().map_err(|e| e.to_string())?,
        graph().map_err(|e| e.to_string())?,
    );
    run(std::slice::from_ref(&dev)).map_err(|e| e.to_string())?;
    cpu()
        .realize(std::slice::from_ref(&host))
        .map_err(|e| e.to_string())?;
    let read = |x: &LazyRef| -> std::result::Result<Vec<f32>, String> {
        let buf = x.buffer().ok_or("the result was not realized")?;
        Ok(buf
            .to_vec()
            .map_err(|e| e.to_string())?
            .chunks(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    };
    let (got, want) = (read(&dev)?, read(&host)?);
    // every product and partial sum is a multiple of 1/16 below 2^20: both must be exact (a zero's
    // sign may differ; a NaN is a mismatch)
    let differ = |g: f32, w: f32| (g - w).is_nan() || (g - w).abs() > 0.0;
    match got.iter().zip(&want).position(|(&g, &w)| differ(g, w)) {
        None if got.len() == m * n => Ok(()),
        None => Err(format!("{} outputs instead of {}", got.len(), m * n)),
        Some(i) => Err(format!(
            "element ({}, {}) is {} on the device, {} on the CPU",
            i / n,
            i % n,
            got[i],
            want[i]
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::{cpu, self_check};
    use crate::error::Error;

    #[test]
    fn the_self_check_passes_a_device_that_computes_as_the_cpu_does() {
        assert_eq!(self_check(|r| cpu().realize(r)), Ok(()));
    }

    #[test]
    fn the_self_check_names_what_a_bad_device_got_wrong() {
        let wrong = self_check(|roots| {
            cpu().realize(roots)?;
            let out = roots[0].buffer().expect("realized");
            out.copy_from(&vec![0u8; out.len_bytes()])
        })
        .unwrap_err();
        assert!(
            wrong.contains("on the device") && wrong.contains("on the CPU"),
            "{wrong}"
        );
        let failed =
            self_check(|_| Err(Error::Runtime("cuLaunchKernel failed".into()))).unwrap_err();
        assert!(failed.contains("cuLaunchKernel failed"), "{failed}");
        let idle = self_check(|_| Ok(())).unwrap_err();
        assert!(idle.contains("not realized"), "{idle}");
    }
}
