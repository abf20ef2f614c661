//! The CPU device: rendered C run by a kernel built into the binary ahead of time where one
//! matches (`aot`), else compiled by the host C compiler into a shared object (through the
//! kernel cache); launched on the worker pool over host memory.

pub mod aot;
pub mod compiler;
pub mod program;

use std::fmt;
use std::sync::{Arc, OnceLock};

use super::buffer::DeviceMemory;
use super::cache::{sha256_hex, Cache};
use super::device::{Device, Loaded, Origin};
use crate::error::{Error, Result};
use crate::flags::{self, Flag};
use crate::target::{CpuTarget, Target};

pub use compiler::Compiler;
pub use program::{kept_workspaces, CpuProgram};

/// The CPU model and feature flags: part of every cache key, so an entry built for one CPU is
/// never loaded on another.
pub fn host_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let pick = |key: &str| {
            cpuinfo
                .lines()
                .find(|l| l.starts_with(key))
                .map(ToString::to_string)
                .unwrap_or_default()
        };
        format!(
            "{}|{}|{}",
            std::env::consts::ARCH,
            pick("model name"),
            pick("flags")
        )
    })
}

/// The CPU. `target` is what kernels are planned for (the host's ISA and threads by default;
/// tests plan for other ISAs the host can run).
#[derive(Debug, Clone)]
pub struct CpuDevice {
    pub target: CpuTarget,
    /// Extra compiler flags (the checked build of TGRAD_VERIFY=2 adds AddressSanitizer).
    pub extra_flags: Vec<String>,
}

impl CpuDevice {
    /// The host CPU; under TGRAD_VERIFY=2 kernels are compiled with AddressSanitizer (the
    /// process must have its runtime loaded: LD_PRELOAD of the compiler's ASan library).
    pub fn host() -> CpuDevice {
        let checked = crate::flags::Flag::Verify.get() >= 2;
        CpuDevice {
            target: CpuTarget::host(),
            extra_flags: if checked {
                ["-fsanitize=address", "-fno-omit-frame-pointer", "-g"]
                    .map(String::from)
                    .to_vec()
            } else {
                vec![]
            },
        }
    }

    /// The kernel built ahead of time for `source`, where one is usable: TGRAD_AOT is on, and the
    /// compile it stands for has the default flags (no TGRAD_COPT, no extra flags, no checked
    /// build of TGRAD_VERIFY=2: a kernel built ahead of time could honour none of them).
    pub fn aot_kernel(&self, source: &str) -> Option<&'static aot::AotKernel> {
        let default_flags =
            self.extra_flags.is_empty() && flags::text("COPT").is_none() && Flag::Verify.get() < 2;
        if Flag::Aot.get() == 0 || !default_flags {
            return None;
        }
        aot::find(source)
    }

    /// Compile `source` with the host C compiler (through the kernel cache) and load it, whether
    /// or not a kernel built ahead of time matches.
    pub fn compile(&self, source: &str) -> Result<Loaded> {
        if self.extra_flags.iter().any(|f| f == "-fsanitize=address") && !asan_loaded() {
            return Err(Error::Runtime(format!(
                "TGRAD_VERIFY=2 compiles kernels with AddressSanitizer, whose runtime must be \
                 loaded when the process starts: run it with LD_PRELOAD={} (the C compiler's \
                 `-print-file-name=libclang_rt.asan-x86_64.so`, or libasan.so for gcc)",
                Compiler::c().map_or_else(|_| "<asan runtime>".to_string(), Compiler::asan_runtime)
            )));
        }
        let cc = Compiler::c().map_err(|e| match e {
            Error::CompilerMissing { compiler, detail } => Error::CompilerMissing {
                compiler,
                detail: format!(
                    "{detail}, and this kernel is not one of the {} built into tgrad ahead of time",
                    aot::registered().len()
                ),
            },
            e => e,
        })?;
        let extra: Vec<&str> = self.extra_flags.iter().map(String::as_str).collect();
        let key =
            sha256_hex(format!("{source}\0{}\0{}", cc.key_material(&extra), host_id()).as_bytes());
        let cache = Cache::get()?;
        let failed = cache.dir().join("failed");
        let (program, entry) = cache.load(
            &key[..40],
            "so",
            |dir| cc.build(source, dir, &extra, &failed),
            |p| CpuProgram::load(p).map_err(|e| built_by(e, cc, &extra)),
        )?;
        Ok(Loaded {
            program: Arc::new(program),
            origin: Origin::of_build(entry.built),
            path: Some(entry.path),
        })
    }
}

/// Host memory as a device's memory (the CPU's own "device copies" are its host buffers; this
/// serves `Device::alloc`).
struct HostMemory(std::sync::Mutex<Vec<u8>>);

impl HostMemory {
    fn bytes(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl fmt::Debug for HostMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HostMemory({} B)", self.bytes().len())
    }
}

impl DeviceMemory for HostMemory {
    fn device(&self) -> &'static str {
        "CPU"
    }
    fn addr(&self) -> u64 {
        self.bytes().as_ptr() as u64
    }
    fn write(&self, src: &[u8]) -> Result<()> {
        let mut b = self.bytes();
        if src.len() != b.len() {
            return Err(Error::InvalidArgument(format!(
                "copy of {} bytes into {} bytes of memory",
                src.len(),
                b.len()
            )));
        }
        b.copy_from_slice(src);
        Ok(())
    }
    fn read(&self, dst: &mut [u8]) -> Result<()> {
        let b = self.bytes();
        if dst.len() != b.len() {
            return Err(Error::InvalidArgument(format!(
                "copy of {} bytes out of {} bytes of memory",
                dst.len(),
                b.len()
            )));
        }
        dst.copy_from_slice(&b);
        Ok(())
    }
}

/// Whether AddressSanitizer's runtime is in this process (a kernel compiled with it cannot be
/// loaded otherwise).
fn asan_loaded() -> bool {
    // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name only looks the symbol up.
    !unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"__asan_init".as_ptr()) }.is_null()
}

/// A compiled kernel that cannot be loaded names the compiler and flags that built it: a
/// compiler or flags that write something other than a shared object are the usual cause.
fn built_by(e: Error, cc: &Compiler, extra: &[&str]) -> Error {
    match e {
        Error::Runtime(m) => Error::Runtime(format!(
            "{m} (built by '{}' with flags '{}'; TGRAD_CC and TGRAD_COPT choose the compiler and its flags)",
            cc.path,
            [cc.flags.as_slice(), &extra.iter().map(ToString::to_string).collect::<Vec<_>>()]
                .concat()
                .join(" ")
        )),
        other => other,
    }
}

impl Device for CpuDevice {
    fn name(&self) -> &'static str {
        "CPU"
    }

    fn target(&self) -> Target {
        Target::Cpu(self.target.clone())
    }

    fn load(&self, source: &str) -> Result<Loaded> {
        if let Some(k) = self.aot_kernel(source) {
            return Ok(Loaded {
                program: Arc::new(CpuProgram::from_aot(k)),
                origin: Origin::Aot(k.symbol, k.family),
                path: None,
            });
        }
        self.compile(source)
    }

    fn alloc(&self, bytes: usize) -> Result<Arc<dyn DeviceMemory>> {
        Ok(Arc::new(HostMemory(std::sync::Mutex::new(vec![0; bytes]))))
    }

    fn synchronize(&self) -> Result<()> {
        Ok(())
    }
}
