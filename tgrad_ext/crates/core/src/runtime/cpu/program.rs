//! CPU programs: a compiled shared object, loaded once (unloaded when the last handle goes), or a
//! kernel built into the binary ahead of time (`aot`); launched across the worker pool with
//! per-thread and shared workspaces (`abi::Scratch`).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use libloading::Library;

use crate::abi::{Join, KernelFn, LaunchDims, Scratch, ENTRY, SHARED_HEADER};
use crate::error::{Error, Result};
use crate::runtime::buffer::{Access, Buffer};
use crate::runtime::device::Program;
use crate::runtime::pool::Pool;

pub struct CpuProgram {
    /// The shared object `func` lives in (None for a kernel built into the binary).
    _lib: Option<Library>,
    func: KernelFn,
    /// Unique per loaded program (never reused), so kept workspace contents name their producer.
    id: u64,
}

impl Program for CpuProgram {
    fn launch(
        &self,
        params: &[i64],
        bufs: &[Arc<Buffer>],
        dims: &LaunchDims,
        keep: bool,
    ) -> Result<bool> {
        let LaunchDims::Cpu {
            threads,
            join,
            scratch,
        } = *dims
        else {
            return Err(Error::Runtime(format!(
                "a CPU program cannot be launched with {dims:?}"
            )));
        };
        let mut ptrs = Vec::with_capacity(bufs.len());
        for (i, b) in bufs.iter().enumerate() {
            let access = if i == 0 { Access::Write } else { Access::Read };
            ptrs.push(b.host_ptr(access)?);
        }
        let source = scratch
            .derived_from
            .filter(|_| keep)
            .and_then(|i| bufs.get(i))
            .map(|b| b.id);
        self.launch_raw(params, &ptrs, threads, join, scratch, source)
    }
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
            _lib: Some(lib),
            func,
            id: NEXT_PROGRAM.fetch_add(1, Ordering::Relaxed),
        })
    }

    /// A kernel built into the binary ahead of time.
    pub fn from_aot(k: &super::aot::AotKernel) -> CpuProgram {
        CpuProgram {
            _lib: None,
            func: k.entry,
            id: NEXT_PROGRAM.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Run on `threads` threads. `params` and `bufs` must match what the program was rendered
    /// for (the engine guarantees it); `scratch` says what workspace it needs. `join` must be
    /// `Join::Every` unless the program claims its work from the shared counter. `source_id` is
    /// the id of buffer `scratch.derived_from` when the shared workspace may be kept across
    /// launches (see `Scratch::derived_from`); None zeroes its flags as usual. Returns whether
    /// the workspace's data was kept.
    pub fn launch_raw(
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
        if crate::flags::Flag::Verify.get() >= 2 {
            return self.launch_checked(params, bufs, threads, join, scratch);
        }
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
        // SAFETY: the shared workspace holds at least SHARED_HEADER + shared_zeroed bytes.
        unsafe { std::ptr::write_bytes(ws[threads].ptr, 0, zeroed * 4) };
        // the pool may hold workspaces of an earlier, larger launch: this one uses threads + 1
        let ws_ptrs: Vec<usize> = ws[..=threads].iter().map(|b| b.ptr as usize).collect();
        self.run_threads(params, bufs, &ws_ptrs, join);
        Ok(keep)
    }

    /// Run the kernel on `ws.len() - 1` threads: thread `tid` gets workspace `ws[tid]`, and the
    /// last workspace, shared by all, follows the buffers (`bufs[nbufs]`).
    fn run_threads(&self, params: &[i64], bufs: &[*mut u8], ws: &[usize], join: Join) {
        let threads = ws.len() - 1;
        let mut all_bufs = bufs.to_vec();
        all_bufs.push(ws[threads] as *mut u8);
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
                    ws[tid] as *mut u8,
                    tid as i64,
                    nth,
                );
            };
        });
    }
}

impl CpuProgram {
    /// TGRAD_VERIFY=2: every workspace its own allocation of exactly the bytes the plan asked for
    /// (made for this launch, freed after it, nothing kept), so an AddressSanitizer build of the
    /// kernel reports any access past one.
    fn launch_checked(
        &self,
        params: &[i64],
        bufs: &[*mut u8],
        threads: usize,
        join: Join,
        scratch: Scratch,
    ) -> Result<bool> {
        let shared = SHARED_HEADER + scratch.shared.max(scratch.shared_zeroed);
        let sizes: Vec<usize> = (0..threads)
            .map(|_| scratch.per_thread)
            .chain([shared])
            .collect();
        let mut ws = Vec::with_capacity(sizes.len());
        for &n in &sizes {
            let mut p: *mut libc::c_void = std::ptr::null_mut();
            // SAFETY: posix_memalign writes an allocation of n (> 0) bytes aligned to 64 into p.
            if unsafe { libc::posix_memalign(std::ptr::addr_of_mut!(p), 64, n.max(1)) } != 0 {
                for q in &ws {
                    // SAFETY: allocated above by posix_memalign.
                    unsafe { libc::free(*q as *mut libc::c_void) };
                }
                return Err(Error::OutOfMemory { bytes: n });
            }
            ws.push(p as usize);
        }
        // SAFETY: the shared workspace holds `shared` bytes; its header and flags start zeroed.
        unsafe { std::ptr::write_bytes(ws[threads] as *mut u8, 0, shared) };
        self.run_threads(params, bufs, &ws, join);
        for p in ws {
            // SAFETY: allocated above by posix_memalign, used by no thread any more.
            unsafe { libc::free(p as *mut libc::c_void) };
        }
        Ok(false)
    }
}

static KEPT: AtomicU64 = AtomicU64::new(0);
static NEXT_PROGRAM: AtomicU64 = AtomicU64::new(1);

/// How many launches in this process found their shared workspace's data still valid and kept
/// it (packed B not packed again).
pub fn kept_workspaces() -> u64 {
    KEPT.load(Ordering::Relaxed)
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

/// 64-byte aligned workspace memory.
struct Aligned {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: owned memory; threads use disjoint workspaces (or the shared one's atomics).
unsafe impl Send for Aligned {}

impl Aligned {
    fn new(len: usize) -> Result<Aligned> {
        let layout = std::alloc::Layout::from_size_align(len.max(64), 64)
            .map_err(|_| Error::OutOfMemory { bytes: len })?;
        // SAFETY: a non-zero size.
        let ptr = unsafe { std::alloc::alloc(layout) };
        if ptr.is_null() {
            return Err(Error::OutOfMemory { bytes: len });
        }
        Ok(Aligned {
            ptr,
            len: len.max(64),
        })
    }
}

impl Drop for Aligned {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe {
            std::alloc::dealloc(
                self.ptr,
                std::alloc::Layout::from_size_align_unchecked(self.len, 64),
            );
        };
    }
}

struct Workspaces {
    bufs: Vec<Aligned>,
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
            ws.bufs.push(Aligned::new(need)?);
            moved |= i == threads;
        } else if ws.bufs[i].len < need {
            ws.bufs[i] = Aligned::new(need)?;
            moved |= i == threads;
        }
    }
    if moved {
        ws.shared_key = None;
    }
    Ok(ws)
}
