//! The CUDA device: NVRTC compiles rendered CUDA C to a cubin for the device's own architecture
//! (so the driver never JIT-compiles PTX, whose version it might not know), cached on disk like
//! every program (`runtime::cache`); the driver (`libcuda.so.1`) allocates, copies and launches.
//! Both libraries are loaded at run time, so building and importing tgrad never needs CUDA.
//!
//! - `CudaDevice::open` initialises device 0 (primary context) or says why it cannot.
//! - Kernel outputs stay in device memory until the host reads them; inputs are uploaded once
//!   (`runtime::buffer`).
//! - `nvrtc::nvrtc_compile` turns CUDA C into PTX with NVRTC alone (no GPU, no driver).

pub mod driver;
pub mod nvrtc;

use std::ffi::{c_char, c_int, CStr, CString};
use std::sync::{Arc, Mutex, OnceLock};

use libloading::Library;

use driver::{
    CuContext, CuDevice, CuFunction, CuModule, Driver, CUDA_ERROR_NO_DEVICE,
    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
    CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
};
pub use nvrtc::{nvrtc_candidates, nvrtc_compile, nvrtc_compile_with, Image, Nvrtc};

use super::buffer::{Access, Buffer, DeviceMemory};
use super::cache::{sha256_hex, Cache};
use super::device::{Device, Loaded, Origin, Program};
use crate::abi::{LaunchDims, ENTRY};
use crate::error::{Error, Result};
use crate::target::{GpuTarget, Target};

fn runtime_err(msg: impl Into<String>) -> Error {
    Error::Runtime(msg.into())
}

/// Copy a function pointer out of a library. The pointer stays valid while `lib` is loaded; every
/// owner keeps its `Library` next to the pointers taken from it.
fn sym<T: Copy>(lib: &Library, name: &str) -> Result<T> {
    // SAFETY: `T` is the C signature of `name` as documented by NVIDIA (checked by hand for every
    // call site); the symbol is only used while `lib` is alive (same struct).
    unsafe {
        lib.get::<T>(name.as_bytes())
            .map(|s| *s)
            .map_err(|e| runtime_err(format!("{name} missing from the CUDA library: {e}")))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Device memory, freed on drop.
#[derive(Debug)]
pub struct CudaMemory {
    pub ptr: u64,
    pub bytes: usize,
}

impl Drop for CudaMemory {
    fn drop(&mut self) {
        if let Ok(dev) = CudaDevice::open() {
            let _ = dev.current();
            // SAFETY: `ptr` came from cuMemAlloc on this device and is freed once.
            unsafe { (dev.drv.mem_free)(self.ptr) };
        }
    }
}

impl DeviceMemory for CudaMemory {
    fn device(&self) -> &'static str {
        "CUDA"
    }

    fn addr(&self) -> u64 {
        self.ptr
    }

    fn write(&self, src: &[u8]) -> Result<()> {
        crate::ensure!(
            src.len() <= self.bytes,
            InvalidArgument,
            "copy of {} bytes into a device buffer of {}",
            src.len(),
            self.bytes
        );
        let dev = CudaDevice::open()?;
        dev.current()?;
        // SAFETY: `src` is readable for its length, which fits in the allocation.
        let r = unsafe { (dev.drv.htod)(self.ptr, src.as_ptr().cast(), src.len()) };
        dev.drv.check(r, "cuMemcpyHtoD")
    }

    fn read(&self, dst: &mut [u8]) -> Result<()> {
        crate::ensure!(
            dst.len() <= self.bytes,
            InvalidArgument,
            "copy of {} bytes out of a device buffer of {}",
            dst.len(),
            self.bytes
        );
        let dev = CudaDevice::open()?;
        dev.current()?;
        // SAFETY: `dst` is writable for its length, which fits in the allocation.
        let r = unsafe { (dev.drv.dtoh)(dst.as_mut_ptr().cast(), self.ptr, dst.len()) };
        dev.drv.check(r, "cuMemcpyDtoH")
    }
}

/// Device 0 with its primary context.
pub struct CudaDevice {
    drv: Driver,
    ctx: CuContext,
    pub name: String,
    /// Compute capability (major, minor).
    pub capability: (i32, i32),
    pub driver_version: i32,
    nvrtc: OnceLock<std::result::Result<Nvrtc, Error>>,
    /// Parameter blocks of launched kernels, freed at the next `synchronize`.
    pending: Mutex<Vec<CudaMemory>>,
}

// SAFETY: the driver API is thread-safe; the context is made current on the calling thread
// before every use, and the pending list is behind a mutex.
unsafe impl Send for CudaDevice {}
// SAFETY: as above.
unsafe impl Sync for CudaDevice {}

impl CudaDevice {
    /// The process's CUDA device, initialised once; `Error::Runtime` says why CUDA is unusable.
    pub fn open() -> Result<&'static CudaDevice> {
        static DEV: OnceLock<std::result::Result<CudaDevice, Error>> = OnceLock::new();
        DEV.get_or_init(CudaDevice::init)
            .as_ref()
            .map_err(Clone::clone)
    }

    fn init() -> Result<CudaDevice> {
        let drv = Driver::load()?;
        // SAFETY: cuInit takes flags 0; the other calls write to the locals passed.
        unsafe {
            let r = (drv.init)(0);
            if r == CUDA_ERROR_NO_DEVICE {
                return Err(runtime_err(
                    "no CUDA device (the NVIDIA driver is installed but reports no GPU)",
                ));
            }
            drv.check(r, "cuInit")?;
            let mut n = 0;
            drv.check(
                (drv.device_count)(std::ptr::addr_of_mut!(n)),
                "cuDeviceGetCount",
            )?;
            if n == 0 {
                return Err(runtime_err("no CUDA device"));
            }
            let mut dev: CuDevice = 0;
            drv.check(
                (drv.device_get)(std::ptr::addr_of_mut!(dev), 0),
                "cuDeviceGet",
            )?;
            let mut name = [0 as c_char; 256];
            drv.check(
                (drv.device_name)(name.as_mut_ptr(), 256, dev),
                "cuDeviceGetName",
            )?;
            let (mut major, mut minor, mut version) = (0, 0, 0);
            drv.check(
                (drv.device_attr)(
                    std::ptr::addr_of_mut!(major),
                    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
                    dev,
                ),
                "cuDeviceGetAttribute",
            )?;
            drv.check(
                (drv.device_attr)(
                    std::ptr::addr_of_mut!(minor),
                    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
                    dev,
                ),
                "cuDeviceGetAttribute",
            )?;
            drv.check(
                (drv.version)(std::ptr::addr_of_mut!(version)),
                "cuDriverGetVersion",
            )?;
            let mut ctx: CuContext = std::ptr::null_mut();
            drv.check(
                (drv.primary_ctx_retain)(std::ptr::addr_of_mut!(ctx), dev),
                "cuDevicePrimaryCtxRetain",
            )?;
            drv.check((drv.ctx_set_current)(ctx), "cuCtxSetCurrent")?;
            Ok(CudaDevice {
                name: CStr::from_ptr(name.as_ptr()).to_string_lossy().to_string(),
                capability: (major, minor),
                driver_version: version,
                drv,
                ctx,
                nvrtc: OnceLock::new(),
                pending: Mutex::new(Vec::new()),
            })
        }
    }

    /// `sm_XY` of the device.
    pub fn arch(&self) -> String {
        format!("sm_{}{}", self.capability.0, self.capability.1)
    }

    fn current(&self) -> Result<()> {
        // SAFETY: `ctx` is the retained primary context, valid for the process.
        self.drv.check(
            unsafe { (self.drv.ctx_set_current)(self.ctx) },
            "cuCtxSetCurrent",
        )
    }

    pub fn nvrtc(&self) -> Result<&Nvrtc> {
        self.nvrtc
            .get_or_init(|| Nvrtc::load(&[]))
            .as_ref()
            .map_err(Clone::clone)
    }

    fn alloc_memory(&self, bytes: usize) -> Result<CudaMemory> {
        self.current()?;
        let mut ptr = 0u64;
        // SAFETY: writes one device pointer; a zero-byte request is rounded up.
        let r = unsafe { (self.drv.mem_alloc)(std::ptr::addr_of_mut!(ptr), bytes.max(1)) };
        if r == 2 {
            return Err(Error::OutOfMemory { bytes });
        }
        self.drv.check(r, "cuMemAlloc")?;
        Ok(CudaMemory { ptr, bytes })
    }

    fn load_module(&self, image: &[u8]) -> Result<CuFunction> {
        self.current()?;
        let mut module: CuModule = std::ptr::null_mut();
        // SAFETY: `image` is a cubin built by NVRTC for this device; the driver copies it.
        let r = unsafe {
            (self.drv.module_load_data)(std::ptr::addr_of_mut!(module), image.as_ptr().cast())
        };
        self.drv.check(r, "cuModuleLoadData")?;
        let mut function: CuFunction = std::ptr::null_mut();
        let entry = CString::new(ENTRY).expect("entry name has no NUL");
        // SAFETY: `module` was just loaded; `entry` is NUL-terminated.
        let r = unsafe {
            (self.drv.module_get_function)(std::ptr::addr_of_mut!(function), module, entry.as_ptr())
        };
        self.drv.check(r, "cuModuleGetFunction")?;
        Ok(function)
    }

    /// The device, as `available` describes it.
    pub fn describe(&self) -> String {
        format!(
            "{} ({}, driver {}.{})",
            self.name,
            self.arch(),
            self.driver_version / 1000,
            self.driver_version % 1000 / 10
        )
    }
}

/// A loaded kernel: its module's function handle.
#[derive(Debug)]
pub struct CudaProgram {
    function: CuFunction,
}

// SAFETY: a CUfunction handle may be used from any thread once its context is current.
unsafe impl Send for CudaProgram {}
// SAFETY: as above; launching does not mutate the handle.
unsafe impl Sync for CudaProgram {}

impl Program for CudaProgram {
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
            return Err(runtime_err(format!(
                "a CUDA program cannot be launched with {dims:?}"
            )));
        };
        let dev = CudaDevice::open()?;
        let mut args: Vec<u64> = Vec::with_capacity(bufs.len() + 1);
        let words: Vec<u8> = params.iter().flat_map(|p| p.to_le_bytes()).collect();
        let pblock = dev.alloc_memory(words.len())?;
        pblock.write(&words)?;
        args.push(pblock.ptr);
        for (i, b) in bufs.iter().enumerate() {
            let access = if i == 0 { Access::Write } else { Access::Read };
            args.push(b.device_addr("CUDA", access, |n| {
                Ok(Arc::new(dev.alloc_memory(n)?) as Arc<dyn DeviceMemory>)
            })?);
        }
        dev.current()?;
        if shared_bytes > 48 * 1024 {
            // SAFETY: a valid function handle; the attribute takes a byte count.
            let r = unsafe {
                (dev.drv.func_set_attribute)(
                    self.function,
                    CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                    shared_bytes as c_int,
                )
            };
            dev.drv.check(r, "cuFuncSetAttribute")?;
        }
        let mut arg_ptrs: Vec<*mut std::ffi::c_void> = args
            .iter_mut()
            .map(|a| std::ptr::from_mut(a).cast::<std::ffi::c_void>())
            .collect();
        // SAFETY: one pointer per kernel parameter (the params pointer, then one device pointer
        // per buffer), each pointing at a live u64 in `args` for the duration of the call.
        let r = unsafe {
            (dev.drv.launch_kernel)(
                self.function,
                grid[0],
                grid[1],
                grid[2],
                block[0],
                block[1],
                block[2],
                shared_bytes,
                std::ptr::null_mut(),
                arg_ptrs.as_mut_ptr(),
                std::ptr::null_mut(),
            )
        };
        dev.drv.check(r, "cuLaunchKernel")?;
        lock(&dev.pending).push(pblock);
        Ok(false)
    }
}

/// The process's CUDA device as a `Device`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cuda;

impl Device for Cuda {
    fn name(&self) -> &'static str {
        "CUDA"
    }

    fn target(&self) -> Target {
        let cap = CudaDevice::open().map_or((9, 0), |d| d.capability);
        Target::Gpu(GpuTarget::cuda(cap.0, cap.1))
    }

    fn load(&self, source: &str) -> Result<Loaded> {
        let dev = CudaDevice::open()?;
        let nvrtc = dev.nvrtc()?;
        let arch = dev.arch();
        let key = sha256_hex(
            format!(
                "{source}\0{arch}\0nvrtc{}.{}",
                nvrtc.version.0, nvrtc.version.1
            )
            .as_bytes(),
        );
        let (function, entry) = Cache::get()?.load(
            &key[..40],
            "cubin",
            |dir| {
                let bytes = nvrtc.compile(source, &arch, Image::Cubin)?;
                let p = dir.join("kernel.cubin");
                std::fs::write(&p, bytes)
                    .map_err(|e| Error::Io(format!("cannot write {}: {e}", p.display())))?;
                Ok(p)
            },
            |path| {
                let image = std::fs::read(path)
                    .map_err(|e| Error::Io(format!("cannot read {}: {e}", path.display())))?;
                dev.load_module(&image)
            },
        )?;
        Ok(Loaded {
            program: Arc::new(CudaProgram { function }),
            origin: Origin::of_build(entry.built),
            path: Some(entry.path),
        })
    }

    fn alloc(&self, bytes: usize) -> Result<Arc<dyn DeviceMemory>> {
        Ok(Arc::new(CudaDevice::open()?.alloc_memory(bytes)?))
    }

    fn synchronize(&self) -> Result<()> {
        let dev = CudaDevice::open()?;
        dev.current()?;
        // SAFETY: no arguments.
        let r = unsafe { (dev.drv.ctx_synchronize)() };
        dev.drv.check(r, "cuCtxSynchronize")?;
        lock(&dev.pending).clear();
        Ok(())
    }
}

/// Whether CUDA is usable here: the device's description, or why not.
pub fn available() -> std::result::Result<String, String> {
    CudaDevice::open()
        .map(CudaDevice::describe)
        .map_err(|e| e.to_string())
}
