//! NVRTC, loaded at run time with libloading (building and importing tgrad never needs CUDA):
//! CUDA C to PTX or a cubin, with no GPU or driver.
//!
//! NVRTC is found via `TGRAD_NVRTC` (a file or a directory), then the NVIDIA PyPI wheel layouts
//! (`nvidia/cuda_nvrtc/lib`, `nvidia/cu13/lib`, `nvidia/cu12/lib`) under the given search
//! directories and the active virtual environment, then the system loader.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::path::{Path, PathBuf};

use libloading::Library;

use super::{runtime_err, sym};
use crate::error::{Error, Result};

type NvrtcResult = c_int;
type NvrtcProgram = *mut c_void;

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
    if let Some(p) = crate::flags::text("NVRTC") {
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
