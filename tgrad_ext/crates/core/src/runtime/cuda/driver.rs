//! The CUDA driver API (`libcuda.so.1`), loaded at run time: the entry points tgrad calls.

use std::ffi::{c_char, c_int, c_uint, c_void, CStr};

use libloading::Library;

use super::{runtime_err, sym};
use crate::error::Result;

pub(super) type CuResult = c_int;
pub(super) type CuDevice = c_int;
pub(super) type CuContext = *mut c_void;
pub(super) type CuModule = *mut c_void;
pub(super) type CuFunction = *mut c_void;
pub(super) type CuDevicePtr = u64;

pub(super) const CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: c_int = 75;
pub(super) const CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: c_int = 76;
pub(super) const CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES: c_int = 8;
pub(super) const CUDA_ERROR_NO_DEVICE: CuResult = 100;

pub(super) struct Driver {
    pub(super) _lib: Library,
    pub(super) init: unsafe extern "C" fn(c_uint) -> CuResult,
    pub(super) version: unsafe extern "C" fn(*mut c_int) -> CuResult,
    pub(super) device_count: unsafe extern "C" fn(*mut c_int) -> CuResult,
    pub(super) device_get: unsafe extern "C" fn(*mut CuDevice, c_int) -> CuResult,
    pub(super) device_name: unsafe extern "C" fn(*mut c_char, c_int, CuDevice) -> CuResult,
    pub(super) device_attr: unsafe extern "C" fn(*mut c_int, c_int, CuDevice) -> CuResult,
    pub(super) primary_ctx_retain: unsafe extern "C" fn(*mut CuContext, CuDevice) -> CuResult,
    pub(super) ctx_set_current: unsafe extern "C" fn(CuContext) -> CuResult,
    pub(super) ctx_synchronize: unsafe extern "C" fn() -> CuResult,
    pub(super) mem_alloc: unsafe extern "C" fn(*mut CuDevicePtr, usize) -> CuResult,
    pub(super) mem_free: unsafe extern "C" fn(CuDevicePtr) -> CuResult,
    pub(super) htod: unsafe extern "C" fn(CuDevicePtr, *const c_void, usize) -> CuResult,
    pub(super) dtoh: unsafe extern "C" fn(*mut c_void, CuDevicePtr, usize) -> CuResult,
    pub(super) module_load_data: unsafe extern "C" fn(*mut CuModule, *const c_void) -> CuResult,
    pub(super) module_get_function:
        unsafe extern "C" fn(*mut CuFunction, CuModule, *const c_char) -> CuResult,
    pub(super) func_set_attribute: unsafe extern "C" fn(CuFunction, c_int, c_int) -> CuResult,
    pub(super) launch_kernel: unsafe extern "C" fn(
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
    pub(super) error_string: unsafe extern "C" fn(CuResult, *mut *const c_char) -> CuResult,
}

impl Driver {
    pub(super) fn load() -> Result<Driver> {
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

    pub(super) fn check(&self, r: CuResult, what: &str) -> Result<()> {
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
