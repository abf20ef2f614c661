//! The one registry of settings, read from the environment once and overridable at run time
//! (Python's `Context(DEBUG=2)` goes through `set`).
//!
//! | flag | env var | meaning |
//! |---|---|---|
//! | DEBUG | TGRAD_DEBUG | 1: kernel names and times; 2: plus schedule and opts; 4: plus rendered source |
//! | THREADS | TGRAD_THREADS | worker threads for kernels (default: all cores) |
//! | BEAM | TGRAD_BEAM | >0: search GEMM block sizes, keep the winner in the disk cache |
//! | NOOPT | TGRAD_NOOPT | 1: no GEMM specialisation, every kernel takes the generic loop path |
//! | CC | TGRAD_CC | the C compiler (default: clang, else cc) |
//! | COPT | TGRAD_COPT | C optimisation flags (default `-O2 -fno-unroll-loops`: the renderer unrolls; -O3 compiles 5x slower for no measured gain) |
//! | CACHE | TGRAD_CACHE | the on-disk kernel cache directory ("off" disables it) |
//! | KEEP_PACKED | TGRAD_KEEP_PACKED | 0: pack B on every launch, never keep it between launches (default 1) |

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::OnceLock;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    Debug,
    Threads,
    Beam,
    NoOpt,
    KeepPacked,
}

impl Flag {
    pub const ALL: [Flag; 5] = [
        Flag::Debug,
        Flag::Threads,
        Flag::Beam,
        Flag::NoOpt,
        Flag::KeepPacked,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Flag::Debug => "DEBUG",
            Flag::Threads => "THREADS",
            Flag::Beam => "BEAM",
            Flag::NoOpt => "NOOPT",
            Flag::KeepPacked => "KEEP_PACKED",
        }
    }

    pub fn from_name(name: &str) -> Result<Flag> {
        Flag::ALL
            .into_iter()
            .find(|f| f.name() == name)
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "unknown tgrad flag '{name}' (known: DEBUG, THREADS, BEAM, NOOPT, KEEP_PACKED)"
                ))
            })
    }

    fn slot(self) -> &'static AtomicI64 {
        static SLOTS: OnceLock<[AtomicI64; 5]> = OnceLock::new();
        let slots = SLOTS.get_or_init(|| {
            let read = |name: &str, default: i64| {
                std::env::var(format!("TGRAD_{name}"))
                    .ok()
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(default)
            };
            [
                AtomicI64::new(read("DEBUG", 0)),
                AtomicI64::new(read("THREADS", 0)),
                AtomicI64::new(read("BEAM", 0)),
                AtomicI64::new(read("NOOPT", 0)),
                AtomicI64::new(read("KEEP_PACKED", 1)),
            ]
        });
        &slots[self as usize]
    }

    pub fn get(self) -> i64 {
        self.slot().load(Ordering::Relaxed)
    }

    /// Set a flag, returning the previous value (so a context manager can restore it).
    pub fn set(self, value: i64) -> i64 {
        self.slot().swap(value, Ordering::Relaxed)
    }
}

pub fn debug() -> i64 {
    Flag::Debug.get()
}

/// The number of threads kernels run on: TGRAD_THREADS, else every available core.
pub fn threads() -> usize {
    match Flag::Threads.get() {
        n if n > 0 => n as usize,
        _ => cores(),
    }
}

/// Cores available to this process, read once (std reads cgroup files, far too slow per call).
pub fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES
        .get_or_init(|| std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get))
}
