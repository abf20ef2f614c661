//! CPU programs: a compiled shared object, loaded once, launched across the worker pool.

use std::path::Path;
use std::sync::{Mutex, OnceLock};

use libloading::Library;

use super::buffer::Buffer;
use super::pool::{Join, Pool};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::render::ENTRY;

/// `void tgrad_kernel(const int64_t* p, char** bufs, char* ws, int64_t tid, int64_t nth)`
pub type KernelFn = unsafe extern "C" fn(*const i64, *const *mut u8, *mut u8, i64, i64);

pub struct CpuProgram {
    _lib: Library,
    func: KernelFn,
}

impl std::fmt::Debug for CpuProgram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CpuProgram")
    }
}

impl CpuProgram {
    pub fn load(path: &Path) -> Result<CpuProgram> {
        // SAFETY: the library is one we compiled; its initialisers are the C runtime's.
        let lib = unsafe { Library::new(path) }.map_err(|e| {
            Error::Runtime(format!(
                "cannot load compiled kernel {}: {e}",
                path.display()
            ))
        })?;
        // SAFETY: every rendered program defines ENTRY with the KernelFn signature.
        let func = unsafe { lib.get::<KernelFn>(format!("{ENTRY}\0").as_bytes()) }
            .map(|s| *s)
            .map_err(|e| {
                Error::Runtime(format!("kernel {} has no entry point: {e}", path.display()))
            })?;
        Ok(CpuProgram { _lib: lib, func })
    }

    /// Run on `threads` threads. `params` and `bufs` must match what the program was rendered
    /// for (the engine guarantees it); `scratch` says what workspace it needs. `join` must be
    /// `Join::Every` unless the program claims its work from the shared counter.
    pub fn launch(
        &self,
        params: &[i64],
        bufs: &[*mut u8],
        threads: usize,
        join: Join,
        scratch: Scratch,
    ) -> Result<()> {
        // one workspace per thread, and one shared by all (after the kernel's buffers): its first
        // SHARED_HEADER bytes hold a barrier and the chunk counter, and what follows may hold
        // claim flags; both are zeroed for every launch
        debug_assert!(
            scratch.shared_zeroed <= scratch.shared,
            "zeroed shared bytes lie inside the shared workspace"
        );
        let mut ws = workspaces(
            threads,
            scratch.per_thread,
            SHARED_HEADER + scratch.shared.max(scratch.shared_zeroed),
        )?;
        let zeroed = (SHARED_HEADER + scratch.shared_zeroed).div_ceil(4);
        ws[threads].as_mut_slice::<f32>()[..zeroed].fill(0.0);
        let ws_ptrs: Vec<usize> = ws.iter().map(|b| b.as_ptr() as usize).collect();
        let mut all_bufs = bufs.to_vec();
        all_bufs.push(ws[threads].as_ptr());
        let (pp, bp, f) = (
            params.as_ptr() as usize,
            all_bufs.as_ptr() as usize,
            self.func,
        );
        let nth = threads as i64;
        Pool::global().run(threads, join, &|tid| {
            // SAFETY: params/bufs outlive the launch; each thread writes a disjoint part of the
            // output and its own workspace.
            unsafe {
                f(
                    pp as *const i64,
                    bp as *const *mut u8,
                    ws_ptrs[tid] as *mut u8,
                    tid as i64,
                    nth,
                );
            };
        });
        drop(ws);
        Ok(())
    }
}

/// Bytes at the start of the shared workspace reserved for the kernel's barrier (two counters,
/// a cache line apart) and, on a third line, the counter GEMM chunks are claimed from.
pub const SHARED_HEADER: usize = 192;
/// Index (in int64s) of the chunk counter in the shared workspace.
pub const CLAIM_COUNTER: usize = 16;

/// Scratch memory a launch needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scratch {
    /// Bytes private to each thread (packed blocks of A and B).
    pub per_thread: usize,
    /// Bytes of the workspace all threads share, after `SHARED_HEADER`.
    pub shared: usize,
    /// Bytes after `SHARED_HEADER` zeroed before every launch (claim flags); at most `shared`.
    pub shared_zeroed: usize,
}

/// Scratch, grown on demand and reused across launches: `threads` workspaces of `per_thread`
/// bytes, then the shared one of `shared` bytes.
fn workspaces(
    threads: usize,
    per_thread: usize,
    shared: usize,
) -> Result<std::sync::MutexGuard<'static, Vec<Buffer>>> {
    static WS: OnceLock<Mutex<Vec<Buffer>>> = OnceLock::new();
    let mut ws = WS
        .get_or_init(|| Mutex::new(Vec::new()))
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for i in 0..=threads {
        let need = if i == threads { shared } else { per_thread }.max(64);
        if i >= ws.len() {
            ws.push(Buffer::new(DType::F32, need.div_ceil(4), false)?);
        } else if ws[i].len_bytes() < need {
            ws[i] = Buffer::new(DType::F32, need.div_ceil(4), false)?;
        }
    }
    Ok(ws)
}
