//! The emulated GPUs as devices: `CUDA_EMU` runs the CUDA C the CUDA renderer emits for an sm_90
//! GPU, `METAL_EMU` the Metal the Metal renderer emits, both through `EmuProgram` on the CPU.
//! Device memory is one exact-size, 64-byte aligned allocation per buffer (from the C allocator,
//! so an AddressSanitizer build sees its exact bounds). Timings are the emulator's, not a GPU's.

use std::fmt;
use std::sync::{Arc, Mutex};

use super::{BuildOptions, Dialect, EmuProgram, Order, RunOptions};
use crate::abi::LaunchDims;
use crate::error::{Error, Result};
use crate::flags;
use crate::runtime::buffer::{Access, Buffer, DeviceMemory};
use crate::runtime::device::{Device, Loaded, Origin, Program};
use crate::target::{GpuTarget, Target};

/// Memory of an emulated device: exactly `len` bytes.
pub struct EmuMemory {
    device: &'static str,
    ptr: *mut u8,
    len: usize,
    /// Serialises host copies (kernels write through the address while a launch runs).
    copy: Mutex<()>,
}

// SAFETY: the allocation is owned; copies are serialised and launches are ordered by the engine.
unsafe impl Send for EmuMemory {}
unsafe impl Sync for EmuMemory {}

impl EmuMemory {
    pub fn new(device: &'static str, len: usize) -> Result<EmuMemory> {
        let mut p: *mut libc::c_void = std::ptr::null_mut();
        // SAFETY: posix_memalign writes one pointer; alignment is a power of two >= pointer size.
        let r = unsafe { libc::posix_memalign(&raw mut p, 64, len.max(1)) };
        if r != 0 || p.is_null() {
            return Err(Error::OutOfMemory { bytes: len });
        }
        Ok(EmuMemory {
            device,
            ptr: p.cast(),
            len,
            copy: Mutex::new(()),
        })
    }
}

impl Drop for EmuMemory {
    fn drop(&mut self) {
        // SAFETY: allocated by posix_memalign in `new`, freed once.
        unsafe { libc::free(self.ptr.cast()) };
    }
}

impl fmt::Debug for EmuMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EmuMemory({} B on {})", self.len, self.device)
    }
}

impl DeviceMemory for EmuMemory {
    fn device(&self) -> &str {
        self.device
    }

    fn addr(&self) -> u64 {
        self.ptr as u64
    }

    fn write(&self, src: &[u8]) -> Result<()> {
        let _g = self
            .copy
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        crate::ensure!(
            src.len() == self.len,
            InvalidArgument,
            "copy of {} bytes into {} bytes of {} memory",
            src.len(),
            self.len,
            self.device
        );
        // SAFETY: `len` bytes at `ptr`, owned; the lengths match.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), self.ptr, self.len) };
        Ok(())
    }

    fn read(&self, dst: &mut [u8]) -> Result<()> {
        let _g = self
            .copy
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        crate::ensure!(
            dst.len() == self.len,
            InvalidArgument,
            "copy of {} bytes out of {} bytes of {} memory",
            dst.len(),
            self.len,
            self.device
        );
        // SAFETY: `len` bytes at `ptr`, owned; the lengths match.
        unsafe { std::ptr::copy_nonoverlapping(self.ptr, dst.as_mut_ptr(), self.len) };
        Ok(())
    }
}

/// An emulated GPU.
#[derive(Debug, Clone)]
pub struct EmuDevice {
    pub dialect: Dialect,
    pub build: BuildOptions,
    pub run: RunOptions,
}

/// The thread order TGRAD_EMU_ORDER names (`forward`, `reverse`, `random[:seed]`).
pub fn order_setting() -> Order {
    match flags::text("EMU_ORDER").map(str::to_ascii_lowercase) {
        Some(o) if o == "reverse" => Order::Reverse,
        Some(o) if o.starts_with("random") => Order::Random(
            o.split(':')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0x5eed),
        ),
        _ => Order::Forward,
    }
}

impl EmuDevice {
    pub fn new(dialect: Dialect) -> EmuDevice {
        EmuDevice {
            dialect,
            build: BuildOptions::default(),
            run: RunOptions {
                order: order_setting(),
                ..RunOptions::default()
            },
        }
    }

    fn device_name(dialect: Dialect) -> &'static str {
        match dialect {
            Dialect::Cuda => "CUDA_EMU",
            Dialect::Metal => "METAL_EMU",
        }
    }
}

/// A program loaded on the emulator.
#[derive(Clone)]
struct EmuKernel {
    program: EmuProgram,
    device: &'static str,
    run: RunOptions,
}

impl fmt::Debug for EmuKernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "EmuKernel({} on {})",
            self.program.kernel_name(),
            self.device
        )
    }
}

impl Program for EmuKernel {
    fn launch(
        &self,
        params: &[i64],
        bufs: &[Arc<Buffer>],
        dims: &LaunchDims,
        _keep: bool,
    ) -> Result<bool> {
        let LaunchDims::Grid {
            grid,
            block,
            shared_bytes,
        } = *dims
        else {
            return Err(Error::Runtime(format!(
                "an emulated GPU program cannot be launched with {dims:?}"
            )));
        };
        let device = self.device;
        // the parameter words live in device memory of their own, like a real launch's
        let words: Vec<u8> = params.iter().flat_map(|p| p.to_le_bytes()).collect();
        let pblock = EmuMemory::new(device, words.len())?;
        pblock.write(&words)?;
        let mut args = vec![pblock.addr()];
        for (i, b) in bufs.iter().enumerate() {
            let access = if i == 0 { Access::Write } else { Access::Read };
            args.push(b.device_addr(device, access, |n| {
                Ok(Arc::new(EmuMemory::new(device, n)?) as Arc<dyn DeviceMemory>)
            })?);
        }
        // SAFETY: every address is device memory of the kernel's buffers (or its parameter
        // block), alive through the launch; the kernel writes only buffer 0.
        unsafe {
            self.program
                .launch(grid, block, shared_bytes, &args, &self.run)?;
        };
        Ok(false)
    }
}

impl Device for EmuDevice {
    fn name(&self) -> &'static str {
        Self::device_name(self.dialect)
    }

    fn target(&self) -> Target {
        Target::Gpu(match self.dialect {
            Dialect::Cuda => GpuTarget::cuda(9, 0),
            Dialect::Metal => GpuTarget::metal(),
        })
    }

    fn load(&self, source: &str) -> Result<Loaded> {
        let program = EmuProgram::build(source, self.dialect, &self.build)?;
        let origin = Origin::of_build(program.compiled_now());
        let path = Some(program.library_path().to_path_buf());
        Ok(Loaded {
            program: Arc::new(EmuKernel {
                program,
                device: self.name(),
                run: self.run,
            }),
            origin,
            path,
        })
    }

    fn alloc(&self, bytes: usize) -> Result<Arc<dyn DeviceMemory>> {
        Ok(Arc::new(EmuMemory::new(self.name(), bytes)?))
    }

    fn synchronize(&self) -> Result<()> {
        Ok(())
    }

    fn timings_are_real(&self) -> bool {
        false
    }
}
