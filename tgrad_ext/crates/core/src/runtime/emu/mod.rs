//! A GPU emulator: the CUDA C and Metal source tgrad's renderers write, compiled unchanged by
//! the host C++ compiler against emulation headers (`crates/core/emu/`) and run on the CPU.
//!
//! - Every GPU thread is a fiber; a block's (threadgroup's) fibers run on one OS thread with a
//!   hand-written context switch, blocks of a grid spread over OS threads. Within a block the
//!   schedule order is chosen per launch (`Order`): a correct kernel gives bitwise equal results
//!   in every order, a missing barrier does not.
//! - `__syncthreads` / `threadgroup_barrier` wait for every thread of the block at the same call
//!   site; warp and simdgroup operations (`__shfl_down_sync`, ldmatrix `.x4` / `.x4.trans`,
//!   `mma.sync.m16n8k16`, `simdgroup_load/store/multiply_accumulate`) wait for all 32 lanes and
//!   use the PTX ISA's per-lane fragment layouts. Divergence and deadlocks are errors that name
//!   threads and call sites.
//! - Checks a GPU does not make: launch limits (`Limits`, the kernel's `__launch_bounds__`),
//!   16-byte alignment of vector copies, ldmatrix addresses inside the block's shared memory,
//!   and an AddressSanitizer build (`BuildOptions::asan`) for out-of-bounds accesses.
//! - CUDA's inline-PTX helpers are swapped for emulated ones behind `#ifndef TGRAD_EMU`; their
//!   PTX text is checked against what the emulator implements (`ptx`).
//!
//! Programs are compiled through the checksummed kernel cache (`runtime::cache`) and kept
//! loaded per process. Device memory is plain host memory: a launch takes raw pointers.

mod asan;
mod build;
mod device;
pub mod ptx;
mod source;

use std::ffi::c_char;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
pub use build::SHARED_CAPACITY;
use build::{LaunchDesc, Loaded};
pub use device::{EmuDevice, EmuMemory};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    Cuda,
    Metal,
}

impl Dialect {
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Cuda => "cuda",
            Dialect::Metal => "metal",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct BuildOptions {
    /// Compile with AddressSanitizer. The process must have ASan's runtime preloaded
    /// (`asan_runtime()` names it); each device buffer should be its own exact-size allocation.
    pub asan: bool,
}

/// The order a block's runnable threads are picked in: a thread runs until it waits (barrier,
/// warp collective) or ends, then the lowest (`Forward`), highest (`Reverse`) or a seeded random
/// (`Random`) runnable thread runs next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Order {
    Forward,
    Reverse,
    Random(u64),
}

/// What a device allows per launch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub name: &'static str,
    pub max_threads_per_block: u32,
    pub max_block: [u32; 3],
    pub max_grid: [u32; 3],
    /// Shared (threadgroup) memory per block: static plus dynamic bytes.
    pub max_shared_bytes: u32,
}

impl Limits {
    /// sm_90 with the dynamic shared memory opt-in that runtime/cuda.rs sets above 48 KiB.
    pub const CUDA_SM90: Limits = Limits {
        name: "CUDA sm_90 (opt-in shared memory)",
        max_threads_per_block: 1024,
        max_block: [1024, 1024, 64],
        max_grid: [i32::MAX as u32, 65535, 65535],
        max_shared_bytes: 227 * 1024,
    };
    /// A CUDA launch without the opt-in attribute: 48 KiB of shared memory.
    pub const CUDA_DEFAULT_SHARED: Limits = Limits {
        name: "CUDA (no shared memory opt-in)",
        max_shared_bytes: 48 * 1024,
        ..Limits::CUDA_SM90
    };
    /// Apple GPUs: 1024 threads and 32 KiB of threadgroup memory per threadgroup.
    pub const METAL: Limits = Limits {
        name: "Metal",
        max_threads_per_block: 1024,
        max_block: [1024, 1024, 1024],
        max_grid: [u32::MAX, u32::MAX, u32::MAX],
        max_shared_bytes: 32 * 1024,
    };

    pub fn for_dialect(d: Dialect) -> Limits {
        match d {
            Dialect::Cuda => Limits::CUDA_SM90,
            Dialect::Metal => Limits::METAL,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    pub order: Order,
    /// OS threads the blocks spread over (0: one per core).
    pub threads: usize,
    /// The device's limits (None: `Limits::for_dialect`).
    pub limits: Option<Limits>,
    /// Fill dynamic shared memory with 0xff bytes (NaN) before each block, so reads of shared
    /// memory no thread wrote show up.
    pub poison_shared: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            order: Order::Forward,
            threads: 0,
            limits: None,
            poison_shared: true,
        }
    }
}

/// A compiled emulator program.
#[derive(Clone)]
pub struct EmuProgram {
    loaded: Arc<Loaded>,
}

/// The AddressSanitizer runtime to preload (`LD_PRELOAD`) for `BuildOptions { asan: true }`.
pub fn asan_runtime() -> Result<std::path::PathBuf> {
    asan::runtime_library(crate::runtime::cpu::Compiler::cxx()?)
}

/// Whether this process has an AddressSanitizer runtime loaded.
pub fn asan_runtime_loaded() -> bool {
    asan::runtime_loaded()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl EmuProgram {
    /// Compile `source` (or find it compiled) for the emulator.
    pub fn build(source: &str, dialect: Dialect, opts: &BuildOptions) -> Result<EmuProgram> {
        Ok(EmuProgram {
            loaded: build::load(source, dialect, opts)?,
        })
    }

    pub fn dialect(&self) -> Dialect {
        self.loaded.dialect
    }

    /// The kernel's name in the source.
    pub fn kernel_name(&self) -> &str {
        &self.loaded.decl.name
    }

    /// The thread limit the kernel declares (`__launch_bounds__`).
    pub fn max_threads(&self) -> Option<u32> {
        self.loaded.decl.max_threads
    }

    /// Bytes of fixed-size shared (threadgroup) arrays the kernel declares.
    pub fn static_shared_bytes(&self) -> u64 {
        self.loaded.static_shared
    }

    /// How many `args` a launch takes: the kernel's parameters (CUDA) or buffer slots (Metal).
    pub fn num_args(&self) -> usize {
        self.loaded.nargs
    }

    /// The compiled shared object (its C++ source lies beside it in the kernel cache).
    pub fn library_path(&self) -> &std::path::Path {
        &self.loaded.path
    }

    /// Whether this process compiled the program (false: found in the disk cache).
    pub fn compiled_now(&self) -> bool {
        self.loaded.built_now
    }

    fn check_launch(
        &self,
        grid: [u32; 3],
        block: [u32; 3],
        dyn_shared: u32,
        nargs: usize,
        lim: &Limits,
    ) -> Result<()> {
        let l = &self.loaded;
        let who = format!("{} emulator ({})", l.dialect.name(), lim.name);
        let bad = |m: String| Err(Error::InvalidArgument(format!("{who}: {m}")));
        if nargs != l.nargs {
            return bad(format!(
                "kernel '{}' takes {} arguments, the launch passes {nargs}",
                l.decl.name, l.nargs
            ));
        }
        for d in 0..3 {
            if grid[d] == 0 || block[d] == 0 {
                return bad(format!(
                    "grid {grid:?} / block {block:?} has a zero dimension"
                ));
            }
            if grid[d] > lim.max_grid[d] {
                return bad(format!(
                    "grid {grid:?} exceeds the grid limit {:?}",
                    lim.max_grid
                ));
            }
            if block[d] > lim.max_block[d] {
                return bad(format!(
                    "block {block:?} exceeds the block limit {:?}",
                    lim.max_block
                ));
            }
        }
        let threads = u64::from(block[0]) * u64::from(block[1]) * u64::from(block[2]);
        if threads > u64::from(lim.max_threads_per_block) {
            return bad(format!(
                "{threads} threads per block exceed the device's {}",
                lim.max_threads_per_block
            ));
        }
        if let Some(b) = l.decl.max_threads {
            if threads > u64::from(b) {
                return bad(format!(
                    "{threads} threads per block exceed the kernel's launch bound of {b}"
                ));
            }
        }
        let shared = u64::from(dyn_shared) + l.static_shared;
        if shared > u64::from(lim.max_shared_bytes) {
            return bad(format!(
                "{shared} bytes of shared memory ({dyn_shared} dynamic + {} static) exceed the device's {}",
                l.static_shared, lim.max_shared_bytes
            ));
        }
        if u64::from(dyn_shared) > l.shared_capacity {
            return bad(format!(
                "{dyn_shared} bytes of dynamic shared memory; the program holds {} (a kernel without `extern __shared__` has none)",
                l.shared_capacity
            ));
        }
        Ok(())
    }

    /// Run the kernel over `grid` blocks of `block` threads with `dynamic_shared_bytes` of
    /// dynamic shared memory. `args` are what the kernel's parameters receive: for the CUDA
    /// renderer's kernels the parameter block pointer, then one pointer per buffer (as the CUDA
    /// driver receives them); for Metal, buffer slot `i` (`[[buffer(i)]]`) takes `args[i]`.
    ///
    /// # Safety
    /// Every pointer in `args` must be valid for all reads and writes the kernel makes through
    /// it for the whole launch, and no other code may access written memory meanwhile.
    pub unsafe fn launch(
        &self,
        grid: [u32; 3],
        block: [u32; 3],
        dynamic_shared_bytes: u32,
        args: &[u64],
        opts: &RunOptions,
    ) -> Result<()> {
        let l = &*self.loaded;
        let lim = opts.limits.unwrap_or(Limits::for_dialect(l.dialect));
        self.check_launch(grid, block, dynamic_shared_bytes, args.len(), &lim)?;
        let (order, seed) = match opts.order {
            Order::Forward => (0, 0),
            Order::Reverse => (1, 0),
            Order::Random(s) => (2, s),
        };
        let desc = LaunchDesc {
            grid,
            block,
            dyn_shared: dynamic_shared_bytes,
            order,
            seed,
            args: args.as_ptr(),
            nargs: args.len() as u32,
            flags: u32::from(opts.poison_shared),
        };
        let blocks = u64::from(grid[0]) * u64::from(grid[1]) * u64::from(grid[2]);
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let want = if opts.threads == 0 {
            cores
        } else {
            opts.threads
        };
        let workers = (want as u64).min(blocks).max(1) as usize;
        let threads = block[0] * block[1] * block[2];
        let next = AtomicU64::new(0);
        let stop = AtomicBool::new(false);
        let failures: Mutex<Vec<(u64, String)>> = Mutex::new(vec![]);
        let desc_addr = std::ptr::addr_of!(desc) as usize;
        let work = || {
            // SAFETY: the program's own functions; `desc` and `args` outlive every worker (the
            // scope below joins them before returning).
            let w = unsafe { (l.worker_new)(threads) };
            if w.is_null() {
                stop.store(true, Ordering::Relaxed);
                lock(&failures).push((0, "cannot map fiber stacks".into()));
                return;
            }
            let mut err = vec![0u8; 4096];
            while !stop.load(Ordering::Relaxed) {
                let b = next.fetch_add(1, Ordering::Relaxed);
                if b >= blocks {
                    break;
                }
                // SAFETY: as above; `err` is writable for its length.
                let rc = unsafe {
                    (l.run_block)(
                        w,
                        desc_addr as *const LaunchDesc,
                        b,
                        err.as_mut_ptr().cast::<c_char>(),
                        err.len(),
                    )
                };
                if rc != 0 {
                    stop.store(true, Ordering::Relaxed);
                    let end = err.iter().position(|&c| c == 0).unwrap_or(err.len());
                    lock(&failures).push((b, String::from_utf8_lossy(&err[..end]).into_owned()));
                }
            }
            // SAFETY: `w` came from worker_new and no block runs on it any more.
            unsafe { (l.worker_free)(w) };
        };
        if workers == 1 {
            work();
        } else {
            std::thread::scope(|s| {
                for _ in 1..workers {
                    s.spawn(work);
                }
                work();
            });
        }
        let kernel = format!("{} emulator, kernel '{}'", l.dialect.name(), l.decl.name);
        if l.asan {
            if let Some(report) = asan::take_report() {
                return Err(Error::Runtime(format!(
                    "{kernel}: AddressSanitizer: {}",
                    report.trim()
                )));
            }
        }
        let mut failures = failures
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        failures.sort();
        match failures.into_iter().next() {
            Some((_, msg)) => Err(Error::Runtime(format!("{kernel}: {msg}"))),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_and_options_cross_threads() {
        fn shareable<T: Send + Sync + Clone>() {}
        shareable::<EmuProgram>();
        shareable::<RunOptions>();
        shareable::<BuildOptions>();
    }
}
