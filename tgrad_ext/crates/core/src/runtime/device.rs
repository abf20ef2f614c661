//! The device abstraction the engine runs kernels through (tinygrad's Allocator, Compiler and
//! Program): a device allocates memory and copies in and out of it (`DeviceMemory`), compiles
//! rendered source through the one kernel cache and loads it (`load`), and a loaded program
//! launches over buffers. The CPU, CUDA and the emulated GPUs implement it; the engine's one
//! `realize` pipeline is written against it.

use std::path::PathBuf;
use std::sync::Arc;

use super::buffer::{Buffer, DeviceMemory};
use crate::abi::LaunchDims;
use crate::error::Result;
use crate::target::Target;

/// A compiled program loaded on its device.
pub trait Program: Send + Sync + std::fmt::Debug {
    /// Run once with the parameter words `params` over `bufs` (buffer 0 is written, the others
    /// are read), as `dims` says. `keep` allows the launch to keep workspace data derived from
    /// the buffer `Scratch::derived_from` names (see `abi::Scratch`). Returns whether it kept
    /// data from the previous launch.
    fn launch(
        &self,
        params: &[i64],
        bufs: &[Arc<Buffer>],
        dims: &LaunchDims,
        keep: bool,
    ) -> Result<bool>;
}

/// Where a loaded program came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Compiled now.
    Compiled,
    /// Found in the disk cache.
    Cache,
    /// Built into the binary ahead of time: (symbol, family).
    Aot(&'static str, &'static str),
}

impl Origin {
    /// A program compiled now (`built`) or found in the disk cache.
    pub fn of_build(built: bool) -> Origin {
        if built {
            Origin::Compiled
        } else {
            Origin::Cache
        }
    }
}

/// A program `load` produced, with where it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub program: Arc<dyn Program>,
    pub origin: Origin,
    /// The cache entry, where the device keeps one.
    pub path: Option<PathBuf>,
}

pub trait Device: Send + Sync {
    /// The name users select it by (`TGRAD_DEVICE`).
    fn name(&self) -> &'static str;
    /// What kernels for it are planned and rendered for.
    fn target(&self) -> Target;
    /// Compile rendered source (through the kernel cache) and load it.
    fn load(&self, source: &str) -> Result<Loaded>;
    /// Memory on the device (allocation; `DeviceMemory::write`/`read` copy in and out). Host
    /// devices return host memory.
    fn alloc(&self, bytes: usize) -> Result<Arc<dyn DeviceMemory>>;
    /// Wait until every launched kernel has finished.
    fn synchronize(&self) -> Result<()>;
    /// Whether kernel timings measure the device (false for emulators, whose timings are not
    /// the hardware's).
    fn timings_are_real(&self) -> bool {
        true
    }
}
