//! The CUDA runtime: the driver library (`libcuda.so.1`) and NVRTC (`libnvrtc.so*`) are loaded
//! at run time with libloading, so building and importing tgrad never needs CUDA.
//!
//! - `nvrtc_compile` turns CUDA C into PTX with NVRTC alone (no GPU, no driver): the CI check.
//! - `CudaDevice::open` initialises device 0 (primary context) or says why it cannot.
//! - Programs are compiled to a cubin for the device's own architecture (so the driver never
//!   JIT-compiles PTX, whose version it might not know) and cached in memory and on disk, keyed
//!   by SHA-256 of (source, architecture, NVRTC version).
//! - `realize` runs a schedule on the GPU. Host buffers get device copies that live as long as
//!   they do (`runtime::resident`): inputs are uploaded once, results copied back once.
//!
//! NVRTC is found via `TGRAD_NVRTC` (a file or a directory), then the NVIDIA PyPI wheel layouts
//! (`nvidia/cuda_nvrtc/lib`, `nvidia/cu13/lib`, `nvidia/cu12/lib`) under the given search
//! directories and the active virtual environment, then the system loader.

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use libloading::Library;

use crate::codegen::{self, opts::CpuTarget};
use crate::error::{Error, Result};
use crate::graph::LazyRef;
use crate::render::cuda::{CudaLaunch, CudaRenderer};
use crate::render::{Renderer, ENTRY};
use crate::runtime::buffer::Buffer;
use crate::runtime::compiler::{cache_dir, sha256_hex};
use crate::runtime::resident::Residency;
use crate::schedule::schedule;

type CuResult = c_int;
type CuDevice = c_int;
type CuContext = *mut c_void;
type CuModule = *mut c_void;
type CuFunction = *mut c_void;
type CuDevicePtr = u64;
type NvrtcResult = c_int;
type NvrtcProgram = *mut c_void;

const CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: c_int = 75;
const CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: c_int = 76;
const CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES: c_int = 8;
const CUDA_ERROR_NO_DEVICE: CuResult = 100;

fn runtime_err(msg: impl Into<String>) -> Error {
    Error::Runtime(msg.into())
}

/// Copy a function pointer out of a library. The pointer stays valid while `lib` is loaded; every
/// owner below keeps its `Library` next to the pointers taken from it.
fn sym<T: Copy>(lib: &Library, name: &str) -> Result<T> {
    // SAFETY: `T` is the C signature of `name` as documented by NVIDIA (checked by hand for every
    // call site); the symbol is only used while `lib` is alive (same struct).
    unsafe {
        lib.get::<T>(name.as_bytes())
            .map(|s| *s)
            .map_err(|e| runtime_err(format!("{name} missing from the CUDA library: {e}")))
    }
}

// ---------------------------------------------------------------- NVRTC

/// NVRTC, loaded from one shared library.
pub struct Nvrtc {
    _lib: Library,
    pub path: String,
    pub version: (i32, i32),
    create: unsafe extern "C" fn(
        *mut NvrtcProgram,
        *const c_char,
        *const c_char,
        c_int,
        *const *const c_char,
        *const *const c_char,
    ) -> NvrtcResult,
    compile: unsafe extern "C" fn(NvrtcProgram, c_int, *const *const c_char) -> NvrtcResult,
    log_size: unsafe extern "C" fn(NvrtcProgram, *mut usize) -> NvrtcResult,
    log: unsafe extern "C" fn(NvrtcProgram, *mut c_char) -> NvrtcResult,
    ptx_size: unsafe extern "C" fn(NvrtcProgram, *mut usize) -> NvrtcResult,
    ptx: unsafe extern "C" fn(NvrtcProgram, *mut c_char) -> NvrtcResult,
    cubin_size: unsafe extern "C" fn(NvrtcProgram, *mut usize) -> NvrtcResult,
    cubin: unsafe extern "C" fn(NvrtcProgram, *mut c_char) -> NvrtcResult,
    destroy: unsafe extern "C" fn(*mut NvrtcProgram) -> NvrtcResult,
    error_string: unsafe extern "C" fn(NvrtcResult) -> *const c_char,
}

/// What NVRTC produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Image {
    /// PTX text for a virtual architecture (`compute_XY`).
    Ptx,
    /// A cubin for a real architecture (`sm_XY`).
    Cubin,
}

/// Directories where the NVIDIA wheels put libnvrtc, relative to a site-packages directory.
const WHEEL_DIRS: [&str; 3] = [
    "nvidia/cuda_nvrtc/lib",
    "nvidia/cu13/lib",
    "nvidia/cu12/lib",
];

fn nvrtc_in_dir(dir: &Path) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libnvrtc.so"))
        })
        .collect();
    // the shortest name is the SONAME link (libnvrtc.so.12), not a versioned file or `.alt`
    found.sort_by_key(|p| p.as_os_str().len());
    found.into_iter().next()
}

/// Site-packages directories of the active virtual environment (VIRTUAL_ENV).
fn venv_site_packages() -> Vec<PathBuf> {
    let Some(venv) = std::env::var_os("VIRTUAL_ENV") else {
        return vec![];
    };
    let lib = PathBuf::from(venv).join("lib");
    std::fs::read_dir(&lib)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path().join("site-packages")))
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default()
}

/// Every place libnvrtc is looked for, in order (the last entries are loader names).
pub fn nvrtc_candidates(search: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = vec![];
    if let Some(p) = std::env::var_os("TGRAD_NVRTC").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        if p.is_dir() {
            out.extend(nvrtc_in_dir(&p));
        } else {
            out.push(p);
        }
    }
    let mut dirs: Vec<PathBuf> = search.to_vec();
    dirs.extend(venv_site_packages());
    for d in &dirs {
        if d.is_file() {
            out.push(d.clone());
            continue;
        }
        out.extend(nvrtc_in_dir(d));
        for w in WHEEL_DIRS {
            out.extend(nvrtc_in_dir(&d.join(w)));
        }
    }
    out.extend(nvrtc_in_dir(Path::new("/usr/local/cuda/lib64")));
    for name in ["libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12"] {
        out.push(PathBuf::from(name));
    }
    out
}

impl Nvrtc {
    /// Load the first libnvrtc that works, searching `search` (site-packages directories or
    /// library files) after TGRAD_NVRTC.
    pub fn load(search: &[PathBuf]) -> Result<Nvrtc> {
        let mut tried = vec![];
        for cand in nvrtc_candidates(search) {
            // SAFETY: loading libnvrtc runs only its (NVIDIA's) initialisers.
            match unsafe { Library::new(&cand) } {
                Ok(lib) => return Nvrtc::from_library(lib, cand.display().to_string()),
                Err(e) => tried.push(format!("{}: {e}", cand.display())),
            }
        }
        Err(runtime_err(format!(
            "NVRTC not found (install the nvidia-cuda-nvrtc-cu12 wheel or set TGRAD_NVRTC to libnvrtc.so); tried:\n  {}",
            tried.join("\n  ")
        )))
    }

    fn from_library(lib: Library, path: String) -> Result<Nvrtc> {
        let version_fn: unsafe extern "C" fn(*mut c_int, *mut c_int) -> NvrtcResult =
            sym(&lib, "nvrtcVersion")?;
        let (mut major, mut minor) = (0, 0);
        // SAFETY: nvrtcVersion writes two ints.
        unsafe { version_fn(std::ptr::addr_of_mut!(major), std::ptr::addr_of_mut!(minor)) };
        Ok(Nvrtc {
            create: sym(&lib, "nvrtcCreateProgram")?,
            compile: sym(&lib, "nvrtcCompileProgram")?,
            log_size: sym(&lib, "nvrtcGetProgramLogSize")?,
            log: sym(&lib, "nvrtcGetProgramLog")?,
            ptx_size: sym(&lib, "nvrtcGetPTXSize")?,
            ptx: sym(&lib, "nvrtcGetPTX")?,
            cubin_size: sym(&lib, "nvrtcGetCUBINSize")?,
            cubin: sym(&lib, "nvrtcGetCUBIN")?,
            destroy: sym(&lib, "nvrtcDestroyProgram")?,
            error_string: sym(&lib, "nvrtcGetErrorString")?,
            _lib: lib,
            path,
            version: (major, minor),
        })
    }

    fn check(&self, r: NvrtcResult, what: &str) -> Result<()> {
        if r == 0 {
            return Ok(());
        }
        // SAFETY: nvrtcGetErrorString returns a static NUL-terminated string for any code.
        let msg = unsafe { CStr::from_ptr((self.error_string)(r)) };
        Err(runtime_err(format!(
            "NVRTC {what} failed: {}",
            msg.to_string_lossy()
        )))
    }

    /// Compile CUDA C for `arch` (`sm_90`, `compute_90` or `90`) into PTX or a cubin.
    pub fn compile(&self, source: &str, arch: &str, image: Image) -> Result<Vec<u8>> {
        let cc = arch
            .trim_start_matches("sm_")
            .trim_start_matches("compute_");
        let arch_opt = match image {
            Image::Ptx => format!("--gpu-architecture=compute_{cc}"),
            Image::Cubin => format!("--gpu-architecture=sm_{cc}"),
        };
        let src = CString::new(source).map_err(|_| runtime_err("kernel source contains NUL"))?;
        let name = c"tgrad_kernel.cu";
        let opts: Vec<CString> = [arch_opt.as_str(), "--std=c++17", "-default-device"]
            .iter()
            .map(|o| CString::new(*o).expect("options have no NUL"))
            .collect();
        let opt_ptrs: Vec<*const c_char> = opts.iter().map(|o| o.as_ptr()).collect();
        let mut prog: NvrtcProgram = std::ptr::null_mut();
        // SAFETY: valid NUL-terminated strings; no headers; `prog` receives a new handle.
        let r = unsafe {
            (self.create)(
                std::ptr::addr_of_mut!(prog),
                src.as_ptr(),
                name.as_ptr(),
                0,
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        self.check(r, "nvrtcCreateProgram")?;
        // SAFETY: `prog` is a live program; the option pointers outlive the call.
        let r = unsafe { (self.compile)(prog, opt_ptrs.len() as c_int, opt_ptrs.as_ptr()) };
        let result = if r == 0 {
            let (size_fn, get_fn) = match image {
                Image::Ptx => (self.ptx_size, self.ptx),
                Image::Cubin => (self.cubin_size, self.cubin),
            };
            self.read(prog, size_fn, get_fn, "get image").map(|mut v| {
                if image == Image::Ptx {
                    // PTX comes NUL-terminated
                    while v.last() == Some(&0) {
                        v.pop();
                    }
                }
                v
            })
        } else {
            let log = self
                .read(prog, self.log_size, self.log, "get log")
                .map(|l| {
                    String::from_utf8_lossy(&l)
                        .trim_end_matches('\0')
                        .to_string()
                })
                .unwrap_or_default();
            Err(Error::CompileFailed {
                compiler: format!("NVRTC {}.{} ({arch_opt})", self.version.0, self.version.1),
                log,
                source_path: "<memory>".into(),
            })
        };
        // SAFETY: destroys the handle created above, once.
        unsafe { (self.destroy)(std::ptr::addr_of_mut!(prog)) };
        result
    }

    fn read(
        &self,
        prog: NvrtcProgram,
        size_fn: unsafe extern "C" fn(NvrtcProgram, *mut usize) -> NvrtcResult,
        get_fn: unsafe extern "C" fn(NvrtcProgram, *mut c_char) -> NvrtcResult,
        what: &str,
    ) -> Result<Vec<u8>> {
        let mut n = 0usize;
        // SAFETY: `prog` is live; writes one usize.
        self.check(unsafe { size_fn(prog, std::ptr::addr_of_mut!(n)) }, what)?;
        let mut buf = vec![0u8; n.max(1)];
        // SAFETY: `buf` holds the `n` bytes NVRTC reported.
        self.check(unsafe { get_fn(prog, buf.as_mut_ptr().cast()) }, what)?;
        buf.truncate(n);
        Ok(buf)
    }
}

/// Compile CUDA C to PTX for `arch` with NVRTC alone (no GPU or driver needed).
pub fn nvrtc_compile(source: &str, arch: &str) -> Result<String> {
    nvrtc_compile_with(source, arch, &[])
}

/// `nvrtc_compile` with extra places to look for libnvrtc (site-packages dirs or files).
pub fn nvrtc_compile_with(source: &str, arch: &str, search: &[PathBuf]) -> Result<String> {
    let nvrtc = Nvrtc::load(search)?;
    let ptx = nvrtc.compile(source, arch, Image::Ptx)?;
    String::from_utf8(ptx).map_err(|_| runtime_err("NVRTC produced PTX that is not UTF-8"))
}

// ---------------------------------------------------------------- the driver

struct Driver {
    _lib: Library,
    init: unsafe extern "C" fn(c_uint) -> CuResult,
    version: unsafe extern "C" fn(*mut c_int) -> CuResult,
    device_count: unsafe extern "C" fn(*mut c_int) -> CuResult,
    device_get: unsafe extern "C" fn(*mut CuDevice, c_int) -> CuResult,
    device_name: unsafe extern "C" fn(*mut c_char, c_int, CuDevice) -> CuResult,
    device_attr: unsafe extern "C" fn(*mut c_int, c_int, CuDevice) -> CuResult,
    primary_ctx_retain: unsafe extern "C" fn(*mut CuContext, CuDevice) -> CuResult,
    ctx_set_current: unsafe extern "C" fn(CuContext) -> CuResult,
    ctx_synchronize: unsafe extern "C" fn() -> CuResult,
    mem_alloc: unsafe extern "C" fn(*mut CuDevicePtr, usize) -> CuResult,
    mem_free: unsafe extern "C" fn(CuDevicePtr) -> CuResult,
    htod: unsafe extern "C" fn(CuDevicePtr, *const c_void, usize) -> CuResult,
    dtoh: unsafe extern "C" fn(*mut c_void, CuDevicePtr, usize) -> CuResult,
    module_load_data: unsafe extern "C" fn(*mut CuModule, *const c_void) -> CuResult,
    module_get_function: unsafe extern "C" fn(*mut CuFunction, CuModule, *const c_char) -> CuResult,
    func_set_attribute: unsafe extern "C" fn(CuFunction, c_int, c_int) -> CuResult,
    launch_kernel: unsafe extern "C" fn(
        CuFunction,
        c_uint,
        c_uint,
        c_uint,
        c_uint,
        c_uint,
        c_uint,
        c_uint,
        *mut c_void,
        *mut *mut c_void,
        *mut *mut c_void,
    ) -> CuResult,
    error_string: unsafe extern "C" fn(CuResult, *mut *const c_char) -> CuResult,
}

impl Driver {
    fn load() -> Result<Driver> {
        // SAFETY: loading the NVIDIA driver library runs only its initialisers.
        let lib = unsafe { Library::new("libcuda.so.1") }.map_err(|e| {
            runtime_err(format!(
                "no NVIDIA driver (libcuda.so.1 not found: {e}); CUDA needs an NVIDIA GPU with its driver installed"
            ))
        })?;
        Ok(Driver {
            init: sym(&lib, "cuInit")?,
            version: sym(&lib, "cuDriverGetVersion")?,
            device_count: sym(&lib, "cuDeviceGetCount")?,
            device_get: sym(&lib, "cuDeviceGet")?,
            device_name: sym(&lib, "cuDeviceGetName")?,
            device_attr: sym(&lib, "cuDeviceGetAttribute")?,
            primary_ctx_retain: sym(&lib, "cuDevicePrimaryCtxRetain")?,
            ctx_set_current: sym(&lib, "cuCtxSetCurrent")?,
            ctx_synchronize: sym(&lib, "cuCtxSynchronize")?,
            mem_alloc: sym(&lib, "cuMemAlloc_v2")?,
            mem_free: sym(&lib, "cuMemFree_v2")?,
            htod: sym(&lib, "cuMemcpyHtoD_v2")?,
            dtoh: sym(&lib, "cuMemcpyDtoH_v2")?,
            module_load_data: sym(&lib, "cuModuleLoadData")?,
            module_get_function: sym(&lib, "cuModuleGetFunction")?,
            func_set_attribute: sym(&lib, "cuFuncSetAttribute")?,
            launch_kernel: sym(&lib, "cuLaunchKernel")?,
            error_string: sym(&lib, "cuGetErrorString")?,
            _lib: lib,
        })
    }

    fn check(&self, r: CuResult, what: &str) -> Result<()> {
        if r == 0 {
            return Ok(());
        }
        let mut p: *const c_char = std::ptr::null();
        // SAFETY: cuGetErrorString stores a static string (or leaves null for unknown codes).
        unsafe { (self.error_string)(r, std::ptr::addr_of_mut!(p)) };
        let msg = if p.is_null() {
            format!("CUDA error {r}")
        } else {
            // SAFETY: non-null static NUL-terminated string from the driver.
            unsafe { CStr::from_ptr(p) }.to_string_lossy().to_string()
        };
        Err(runtime_err(format!("CUDA {what} failed: {msg} ({r})")))
    }
}

/// A compiled kernel: its module's function handle.
#[derive(Debug)]
pub struct CudaKernel {
    function: CuFunction,
    pub arch: String,
    pub from_disk: bool,
}

// SAFETY: a CUfunction handle may be used from any thread once its context is current.
unsafe impl Send for CudaKernel {}
// SAFETY: as above; launching does not mutate the handle.
unsafe impl Sync for CudaKernel {}

/// Device memory, freed on drop.
#[derive(Debug)]
pub struct DeviceBuffer {
    pub ptr: u64,
    pub bytes: usize,
}

impl Drop for DeviceBuffer {
    fn drop(&mut self) {
        if let Ok(dev) = CudaDevice::open() {
            let _ = dev.current();
            // SAFETY: `ptr` came from cuMemAlloc on this device and is freed once.
            unsafe { (dev.drv.mem_free)(self.ptr) };
        }
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
    kernels: Mutex<HashMap<String, Arc<CudaKernel>>>,
}

// SAFETY: the driver API is thread-safe; the context is made current on the calling thread
// before every use, and the kernel map is behind a mutex.
unsafe impl Send for CudaDevice {}
// SAFETY: as above.
unsafe impl Sync for CudaDevice {}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

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
                kernels: Mutex::new(HashMap::new()),
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

    pub fn alloc(&self, bytes: usize) -> Result<DeviceBuffer> {
        self.current()?;
        let mut ptr: CuDevicePtr = 0;
        // SAFETY: writes one device pointer; a zero-byte request is rounded up.
        let r = unsafe { (self.drv.mem_alloc)(std::ptr::addr_of_mut!(ptr), bytes.max(1)) };
        if r == 2 {
            return Err(Error::OutOfMemory { bytes });
        }
        self.drv.check(r, "cuMemAlloc")?;
        Ok(DeviceBuffer { ptr, bytes })
    }

    pub fn copy_in(&self, dst: &DeviceBuffer, src: &[u8]) -> Result<()> {
        crate::ensure!(
            src.len() <= dst.bytes,
            InvalidArgument,
            "copy of {} bytes into a device buffer of {}",
            src.len(),
            dst.bytes
        );
        self.current()?;
        // SAFETY: `src` is readable for its length, which fits in `dst`.
        let r = unsafe { (self.drv.htod)(dst.ptr, src.as_ptr().cast(), src.len()) };
        self.drv.check(r, "cuMemcpyHtoD")
    }

    pub fn copy_out(&self, dst: &mut [u8], src: &DeviceBuffer) -> Result<()> {
        crate::ensure!(
            dst.len() <= src.bytes,
            InvalidArgument,
            "copy of {} bytes out of a device buffer of {}",
            dst.len(),
            src.bytes
        );
        self.current()?;
        // SAFETY: `dst` is writable for its length, which fits in `src`.
        let r = unsafe { (self.drv.dtoh)(dst.as_mut_ptr().cast(), src.ptr, dst.len()) };
        self.drv.check(r, "cuMemcpyDtoH")
    }

    pub fn synchronize(&self) -> Result<()> {
        self.current()?;
        // SAFETY: no arguments.
        self.drv
            .check(unsafe { (self.drv.ctx_synchronize)() }, "cuCtxSynchronize")
    }

    /// Compile (or find in the memory or disk cache) a rendered program for this device.
    pub fn compile(&self, source: &str) -> Result<Arc<CudaKernel>> {
        let nvrtc = self.nvrtc()?;
        let arch = self.arch();
        let key = sha256_hex(
            format!(
                "{source}\0{arch}\0nvrtc{}.{}",
                nvrtc.version.0, nvrtc.version.1
            )
            .as_bytes(),
        );
        if let Some(k) = lock(&self.kernels).get(&key) {
            return Ok(k.clone());
        }
        let path = cache_dir()?.join(format!("{}.cubin", &key[..40]));
        let (image, from_disk) = match std::fs::read(&path) {
            Ok(bytes) if !bytes.is_empty() => (bytes, true),
            _ => {
                let bytes = nvrtc.compile(source, &arch, Image::Cubin)?;
                let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
                if std::fs::write(&tmp, &bytes).is_ok() {
                    let _ = std::fs::rename(&tmp, &path);
                }
                (bytes, false)
            }
        };
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
        let kernel = Arc::new(CudaKernel {
            function,
            arch,
            from_disk,
        });
        lock(&self.kernels).insert(key, kernel.clone());
        Ok(kernel)
    }

    /// Launch `kernel` with the parameter block `params` (device int64s) and buffer pointers.
    pub fn launch(
        &self,
        kernel: &CudaKernel,
        geometry: &CudaLaunch,
        params: &DeviceBuffer,
        bufs: &[u64],
    ) -> Result<()> {
        self.current()?;
        if geometry.shared_bytes > 48 * 1024 {
            // SAFETY: a valid function handle; attribute 8 takes a byte count.
            let r = unsafe {
                (self.drv.func_set_attribute)(
                    kernel.function,
                    CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                    geometry.shared_bytes as c_int,
                )
            };
            self.drv.check(r, "cuFuncSetAttribute")?;
        }
        let mut args: Vec<u64> = Vec::with_capacity(bufs.len() + 1);
        args.push(params.ptr);
        args.extend_from_slice(bufs);
        let mut arg_ptrs: Vec<*mut c_void> = args
            .iter_mut()
            .map(|a| std::ptr::from_mut(a).cast::<c_void>())
            .collect();
        let [gx, gy, gz] = geometry.grid;
        let [bx, by, bz] = geometry.block;
        // SAFETY: one pointer per kernel parameter (the params pointer, then one device pointer
        // per buffer), each pointing at a live u64 in `args` for the duration of the call.
        let r = unsafe {
            (self.drv.launch_kernel)(
                kernel.function,
                gx,
                gy,
                gz,
                bx,
                by,
                bz,
                geometry.shared_bytes,
                std::ptr::null_mut(),
                arg_ptrs.as_mut_ptr(),
                std::ptr::null_mut(),
            )
        };
        self.drv.check(r, "cuLaunchKernel")
    }

    /// Upload int64 kernel parameters.
    pub fn upload_params(&self, params: &[i64]) -> Result<DeviceBuffer> {
        let bytes: Vec<u8> = params.iter().flat_map(|p| p.to_le_bytes()).collect();
        let buf = self.alloc(bytes.len())?;
        self.copy_in(&buf, &bytes)?;
        Ok(buf)
    }
}

/// Whether CUDA is usable here, and if not, why.
pub fn available() -> (bool, String) {
    match CudaDevice::open() {
        Ok(d) => (
            true,
            format!(
                "{} ({}, driver {}.{})",
                d.name,
                d.arch(),
                d.driver_version / 1000,
                d.driver_version % 1000 / 10
            ),
        ),
        Err(e) => (false, e.to_string()),
    }
}

/// The device TGRAD_DEVICE names ("CPU" or "CUDA", any case), else CUDA where it is usable and
/// passes `self_check` (see `auto_refusal`), else CPU.
pub fn default_device() -> &'static str {
    match std::env::var("TGRAD_DEVICE") {
        Ok(d) if d.eq_ignore_ascii_case("cuda") || d.to_ascii_uppercase().starts_with("CUDA:") => {
            "CUDA"
        }
        Ok(d) if !d.is_empty() => "CPU",
        _ => {
            if auto_refusal().is_none() {
                "CUDA"
            } else {
                "CPU"
            }
        }
    }
}

/// Why CUDA is not picked when TGRAD_DEVICE is unset (None: it is). Decided once per process:
/// CUDA must be usable and must compute a small fused GEMM as the CPU engine does, so a GPU whose
/// kernels fail or disagree never silently becomes the default.
pub fn auto_refusal() -> Option<String> {
    static WHY: OnceLock<Option<String>> = OnceLock::new();
    WHY.get_or_init(|| {
        let (ok, why) = available();
        if !ok {
            return Some(why);
        }
        self_check(realize)
            .err()
            .map(|e| format!("the CUDA self-check failed ({e}); TGRAD_DEVICE=CUDA forces CUDA"))
    })
    .clone()
}

/// Run relu(A @ B + bias) with edges on every side (37 x 19 @ 19 x 23) through `run` and through
/// the CPU engine, and compare. Err says what went wrong or which element disagreed.
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
    let (dev, cpu) = (
        graph().map_err(|e| e.to_string())?,
        graph().map_err(|e| e.to_string())?,
    );
    run(std::slice::from_ref(&dev)).map_err(|e| e.to_string())?;
    crate::engine::realize_on_cpu(std::slice::from_ref(&cpu)).map_err(|e| e.to_string())?;
    let read = |x: &LazyRef| -> std::result::Result<Vec<f32>, String> {
        let buf = x.buffer().ok_or("the result was not realized")?;
        Ok(buf
            .as_bytes()
            .chunks(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    };
    let (got, want) = (read(&dev)?, read(&cpu)?);
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

/// The process's device copies of host buffers.
fn resident() -> &'static Mutex<Residency<DeviceBuffer>> {
    static RESIDENT: OnceLock<Mutex<Residency<DeviceBuffer>>> = OnceLock::new();
    RESIDENT.get_or_init(|| Mutex::new(Residency::default()))
}

/// Realize `roots` on the GPU: schedule, render each kernel as CUDA, compile, launch, and copy
/// every buffer a kernel wrote back to its host buffer. Device copies of host buffers outlive the
/// call while their host buffers live, so inputs used again are not uploaded again; copies of
/// dropped buffers are freed at the start of the next call.
pub fn realize(roots: &[LazyRef]) -> Result<()> {
    let dev = CudaDevice::open()?;
    let sched = schedule(roots)?;
    let target = CpuTarget::host();
    let mut mirror = lock(resident());
    mirror.purge();
    let mut written: Vec<Arc<Buffer>> = vec![];
    let mut keep: Vec<DeviceBuffer> = vec![];
    for item in &sched.items {
        let p = codegen::plan(&item.kernel, &target);
        let source = CudaRenderer.render(&p);
        if crate::flags::debug() >= 4 {
            eprintln!("{source}");
        }
        let kernel = dev.compile(&source)?;
        let geometry = CudaRenderer::launch(&p);
        let mut ptrs = Vec::with_capacity(item.bufs.len());
        for (i, b) in item.bufs.iter().enumerate() {
            // buffer 0 is the kernel's fresh output: allocated, never uploaded
            let d = mirror.get_or_make(b, i != 0, |host, upload| {
                let d = dev.alloc(host.len_bytes())?;
                if upload {
                    dev.copy_in(&d, host.as_bytes())?;
                }
                Ok(d)
            })?;
            ptrs.push(d.ptr);
        }
        if let Some(out) = item.bufs.first() {
            written.push(out.clone());
        }
        let params = dev.upload_params(&p.params)?;
        dev.launch(&kernel, &geometry, &params, &ptrs)?;
        keep.push(params);
    }
    dev.synchronize()?;
    for host in written {
        let d = mirror
            .get(&host)
            .expect("every kernel output has a device copy");
        let mut bytes = vec![0u8; host.len_bytes()];
        dev.copy_out(&mut bytes, d)?;
        host.copy_from(&bytes)?;
    }
    for (node, buf) in sched.realized {
        node.set_realized(buf);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::self_check;
    use crate::engine::realize_on_cpu;
    use crate::error::Error;

    #[test]
    fn the_self_check_passes_a_device_that_computes_as_the_cpu_does() {
        assert_eq!(self_check(realize_on_cpu), Ok(()));
    }

    #[test]
    fn the_self_check_names_what_a_bad_device_got_wrong() {
        let wrong = self_check(|roots| {
            realize_on_cpu(roots)?;
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
