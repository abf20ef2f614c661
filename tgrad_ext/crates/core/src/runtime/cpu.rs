//! CPU programs: a compiled shared object, loaded once, launched across the worker pool.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
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
    /// Unique per loaded program (never reused), so kept workspace contents name their producer.
    id: u64,
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
        Ok(CpuProgram {
            _lib: lib,
            func,
            id: NEXT_PROGRAM.fetch_add(1, Ordering::Relaxed),
        })
    }

    /// Run on `threads` threads. `params` and `bufs` must match what the program was rendered
    /// for (the engine guarantees it); `scratch` says what workspace it needs. `join` must be
    /// `Join::Every` unless the program claims its work from the shared counter. `source_id` is
    /// the id of buffer `scratch.derived_from` when the shared workspace may be kept across
    /// launches (see `Scratch::derived_from`); None zeroes its flags as usual. Returns whether
    /// the workspace's data was kept.
    pub fn launch(
        &self,
        params: &[i64],
        bufs: &[*mut u8],
        threads: usize,
        join: Join,
        scratch: Scratch,
        source_id: Option<u64>,
    ) -> Result<bool> {
        // one workspace per thread, and one shared by all (after the kernel's buffers): its first
        // SHARED_HEADER bytes hold a barrier and the chunk counter, zeroed for every launch; what
        // follows may hold claim flags, zeroed unless the workspace keeps this launch's data
        debug_assert!(
            scratch.shared_zeroed <= scratch.shared,
            "zeroed shared bytes lie inside the shared workspace"
        );
        let mut ws = workspaces(
            threads,
            scratch.per_thread,
            SHARED_HEADER + scratch.shared.max(scratch.shared_zeroed),
        )?;
        let key = source_id.map(|buffer| SharedKey {
            program: self.id,
            params: params.to_vec(),
            threads,
            buffer,
        });
        let keep = key.is_some() && ws.shared_key == key;
        if keep {
            KEPT.fetch_add(1, Ordering::Relaxed);
        }
        let zeroed = (SHARED_HEADER + if keep { 0 } else { scratch.shared_zeroed }).div_ceil(4);
        // what the launch leaves behind is valid for the next launch with the same key
        ws.shared_key = key;
        let ws = &mut ws.bufs;
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
        Ok(keep)
    }
}

static KEPT: AtomicU64 = AtomicU64::new(0);
static NEXT_PROGRAM: AtomicU64 = AtomicU64::new(1);

/// How many launches in this process found their shared workspace's data still valid and kept
/// it (packed B not packed again).
pub fn kept_workspaces() -> u64 {
    KEPT.load(Ordering::Relaxed)
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
    /// Bytes after `SHARED_HEADER` zeroed before a launch (claim flags); at most `shared`.
    pub shared_zeroed: usize,
    /// The shared bytes are derived from this buffer alone (a packed copy of it). Buffers never
    /// change once written, so the next launch of the same program with equal parameters and the
    /// same buffer (by id) keeps them, flags included, and skips the packing they record.
    pub derived_from: Option<usize>,
}

/// What the shared workspace holds beyond its header: data a launch of `program` with `params`
/// derived from buffer `buffer`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SharedKey {
    program: u64,
    params: Vec<i64>,
    threads: usize,
    buffer: u64,
}

struct Workspaces {
    bufs: Vec<Buffer>,
    /// What the shared workspace (the last of `bufs`) holds; None after it is (re)allocated.
    shared_key: Option<SharedKey>,
}

/// Scratch, grown on demand and reused across launches: `threads` workspaces of `per_thread`
/// bytes, then the shared one of `shared` bytes.
fn workspaces(
    threads: usize,
    per_thread: usize,
    shared: usize,
) -> Result<std::sync::MutexGuard<'static, Workspaces>> {
    static WS: OnceLock<Mutex<Workspaces>> = OnceLock::new();
    let mut ws = WS
        .get_or_init(|| {
            Mutex::new(Workspaces {
                bufs: Vec::new(),
                shared_key: None,
            })
        })
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // the shared workspace is the one at index `threads`; another thread count never matches
    // the kept key (it holds the thread count), so only a reallocation here invalidates it
    let mut moved = false;
    for i in 0..=threads {
        let need = if i == threads { shared } else { per_thread }.max(64);
        if i >= ws.bufs.len() {
            ws.bufs
                .push(Buffer::new(DType::F32, need.div_ceil(4), false)?);
            moved |= i == threads;
        } else if ws.bufs[i].len_bytes() < need {
            ws.bufs[i] = Buffer::new(DType::F32, need.div_ceil(4), false)?;
            moved |= i == threads;
        }
    }
    if moved {
        ws.shared_key = None;
    }
    Ok(ws)
}
