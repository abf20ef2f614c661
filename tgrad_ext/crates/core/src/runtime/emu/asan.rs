//! AddressSanitizer builds of emulator programs. An ASan-instrumented shared object can only be
//! loaded into a process whose ASan runtime came first (LD_PRELOAD of the compiler's runtime
//! library), so a build with `asan: true` checks for it and otherwise says what to run. ASan's
//! reports are collected through its report callback; with `-fsanitize-recover=address` (always
//! set here) and `ASAN_OPTIONS=halt_on_error=0` the process keeps running and the launch returns
//! the report as an error. With `halt_on_error=1` (ASan's default) the report ends the process.

use std::ffi::{c_char, CStr};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, Once};

use libloading::os::unix::Library;

use crate::error::{Error, Result};
use crate::runtime::cpu::Compiler;

/// The runtime library of `cc`'s AddressSanitizer (for LD_PRELOAD).
pub fn runtime_library(cc: &Compiler) -> Result<PathBuf> {
    let name = if cc.identity.contains("clang") {
        format!("libclang_rt.asan-{}.so", std::env::consts::ARCH)
    } else {
        "libasan.so".to_string()
    };
    let out = Command::new(&cc.path)
        .arg(format!("-print-file-name={name}"))
        .output()
        .map_err(|e| Error::Runtime(format!("cannot run {}: {e}", cc.path)))?;
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if !path.is_absolute() || !path.exists() {
        return Err(Error::Runtime(format!(
            "'{}' has no AddressSanitizer runtime ({name} not found)",
            cc.path
        )));
    }
    Ok(path)
}

/// The symbol `name` of the running process (its executable and the libraries loaded so far).
fn process_symbol(name: &[u8]) -> Option<usize> {
    let this = Library::this();
    // SAFETY: the address is only read as a number or called with the signature ASan gives it.
    unsafe { this.get::<*const ()>(name) }
        .ok()
        .map(|s| *s as usize)
}

/// Whether an AddressSanitizer runtime is loaded in this process.
pub fn runtime_loaded() -> bool {
    process_symbol(b"__asan_init").is_some()
}

static REPORT: Mutex<Option<String>> = Mutex::new(None);

extern "C" fn on_report(text: *const c_char) {
    if text.is_null() {
        return;
    }
    // SAFETY: ASan passes its NUL-terminated report text.
    let s = unsafe { CStr::from_ptr(text) }
        .to_string_lossy()
        .into_owned();
    let mut r = REPORT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if r.is_none() {
        *r = Some(s);
    }
}

/// Checks that ASan's runtime is loaded (else says how to run) and routes its reports here.
pub fn require_runtime(cc: &Compiler) -> Result<()> {
    static HOOK: Once = Once::new();
    if !runtime_loaded() {
        let lib =
            runtime_library(cc).map_or_else(|e| format!("<{e}>"), |p| p.display().to_string());
        return Err(Error::Runtime(format!(
            "an AddressSanitizer build of an emulator program needs the ASan runtime loaded first: \
             run the process with LD_PRELOAD={lib} ASAN_OPTIONS=detect_leaks=0:halt_on_error=0"
        )));
    }
    HOOK.call_once(|| {
        if let Some(addr) = process_symbol(b"__asan_set_error_report_callback") {
            // SAFETY: `void __asan_set_error_report_callback(void (*)(const char*))`.
            let set: extern "C" fn(extern "C" fn(*const c_char)) =
                unsafe { std::mem::transmute(addr) };
            set(on_report);
        }
    });
    Ok(())
}

/// The first ASan report since the last call, if any.
pub fn take_report() -> Option<String> {
    REPORT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take()
}
