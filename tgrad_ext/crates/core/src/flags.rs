//! The one registry of settings: every `TGRAD_*` environment variable, its default, what it may
//! hold and what it means. Lookups, validation errors, Python's `Context` and the README's
//! settings table all come from `SETTINGS` (a test checks the README against it).
//!
//! Integer flags (`Flag`) are read from the environment once, validated, and can be changed at
//! run time (`Context(DEBUG=2)` calls `Flag::set`). Text settings are read once.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::OnceLock;

use crate::error::{Error, Result};

/// What a setting may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An integer in `min..=max`.
    Int { default: i64, min: i64, max: i64 },
    /// Free text (a path, a command, compiler flags); `None` default: unset.
    Text,
    /// One of the listed words (case-insensitive), or unset.
    Choice(&'static [&'static str]),
}

#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// The name without the `TGRAD_` prefix (what `Context` takes).
    pub name: &'static str,
    pub kind: Kind,
    /// One line for the README table.
    pub doc: &'static str,
}

impl Setting {
    pub fn env(&self) -> String {
        format!("TGRAD_{}", self.name)
    }

    /// Check a value for this setting; the error names the variable and what is allowed.
    pub fn check(&self, raw: &str) -> Result<()> {
        let bad = |why: &str| {
            Err(Error::InvalidArgument(format!(
                "{}={raw:?} is not valid: {why} ({})",
                self.env(),
                self.doc
            )))
        };
        match self.kind {
            Kind::Int { min, max, .. } => match raw.trim().parse::<i64>() {
                Ok(v) if (min..=max).contains(&v) => Ok(()),
                Ok(_) => bad(&format!("allowed: an integer from {min} to {max}")),
                Err(_) => bad(&format!("not an integer; allowed: {min} to {max}")),
            },
            Kind::Choice(words)
                if !words
                    .iter()
                    .any(|w| w.eq_ignore_ascii_case(choice_word(raw))) =>
            {
                bad(&format!("allowed: {}", words.join(", ")))
            }
            Kind::Choice(_) | Kind::Text => {
                self.check_specific(raw).map_or(Ok(()), |why| bad(&why))
            }
        }
    }

    /// What a choice or text setting's own rules refuse: the part after `word:` (tinygrad's
    /// `DEVICE:index` form, the emulator's `random:seed`), and a library path that does not exist.
    fn check_specific(&self, raw: &str) -> Option<String> {
        let raw = raw.trim();
        match (self.name, raw.split_once(':')) {
            ("DEVICE", Some((word, index))) if index != "0" => Some(format!(
                "tgrad runs on device 0 of a kind only; write {word} or {word}:0"
            )),
            ("EMU_ORDER", Some((word, seed)))
                if !word.eq_ignore_ascii_case("random") || seed.parse::<u64>().is_err() =>
            {
                Some("only random takes a seed: random:<a non-negative integer>".into())
            }
            ("NVRTC", _) if raw.contains('/') && !std::path::Path::new(raw).exists() => Some(
                "no such file or directory (a libnvrtc file, a directory holding one, or a name the loader finds)".into(),
            ),
            _ => None,
        }
    }
}

/// Every setting. Integer flags come first, in `Flag` order.
pub const SETTINGS: &[Setting] = &[
    Setting {
        name: "DEBUG",
        kind: Kind::Int { default: 0, min: 0, max: 7 },
        doc: "1: one line per kernel (name, time, GFLOPS); 2: plus the plan, compiles and certificate status; 3: plus the kernel IR; 4: plus the rendered source",
    },
    Setting {
        name: "THREADS",
        kind: Kind::Int { default: 0, min: 0, max: 1 << 16 },
        doc: "threads kernels run on (0: all cores; more than 8 per core is capped, with a warning)",
    },
    Setting {
        name: "BEAM",
        kind: Kind::Int { default: 0, min: 0, max: 64 },
        doc: "N > 0: beam search (width N) over each GEMM's tuning, timed and verified on the real buffers; winners cached per shape, layout and machine",
    },
    Setting {
        name: "NOOPT",
        kind: Kind::Int { default: 0, min: 0, max: 1 },
        doc: "1: no GEMM specialisation; every kernel runs the generic loop path",
    },
    Setting {
        name: "KEEP_PACKED",
        kind: Kind::Int { default: 1, min: 0, max: 1 },
        doc: "0: pack B on every launch instead of keeping a GEMM's packed B for its next launch over the same B (see \"How tgrad works\"); default 1",
    },
    Setting {
        name: "VERIFY",
        kind: Kind::Int { default: 0, min: 0, max: 2 },
        doc: "0: launch checks only; 1: also refuse any kernel without a proof certificate (certificates/; TGRAD_DEBUG=2 prints each kernel's status); 2: also checked builds (AddressSanitizer, exact-size workspaces; preload the compiler's ASan runtime), for tests",
    },
    Setting {
        name: "CACHE_MAX_MB",
        kind: Kind::Int { default: 2048, min: 1, max: 1 << 30 },
        doc: "size bound of the on-disk kernel cache in MiB (least recently used entries go first)",
    },
    Setting {
        name: "AOT",
        kind: Kind::Int { default: 1, min: 0, max: 1 },
        doc: "1: GEMMs of the common families run kernels built into tgrad ahead of time (no C compiler, no compile wait; `TGRAD_DEBUG=2` names them, see docs/aot.md); 0: compile every kernel at run time. Kernels built ahead of time stand only for the default flags: with `TGRAD_COPT` set, everything is compiled",
    },
    Setting {
        name: "SCACHE",
        kind: Kind::Int { default: 1, min: 0, max: 1 },
        doc: "1: a graph realized before (same ops, shapes, dtypes and views over buffers of the same sizes) replays its kernels without being scheduled again, as tinygrad's SCACHE; 0: schedule every realize",
    },
    Setting {
        name: "DEVICE",
        kind: Kind::Choice(&["CPU", "CUDA", "CUDA_EMU", "METAL_EMU"]),
        doc: "where kernels run: `CPU`, `CUDA` (an NVIDIA GPU), `CUDA_EMU` or `METAL_EMU` (the CUDA or Metal kernels executed on the CPU by the GPU emulator); unset: CUDA where a GPU is usable and passes a self-check against the CPU engine, else CPU (`Device.why_not_cuda()` says why; see `docs/gpu.md`)",
    },
    Setting {
        name: "EMU_ORDER",
        kind: Kind::Choice(&["forward", "reverse", "random"]),
        doc: "the order the GPU emulator runs a block's threads in: `forward` (default), `reverse`, or `random[:seed]`; correct kernels give bitwise equal results in every order",
    },
    Setting {
        name: "CACHE",
        kind: Kind::Text,
        doc: "the on-disk kernel cache (default `$XDG_CACHE_HOME/tgrad` or `~/.cache/tgrad`; it must be private to the user); `off`: a fresh private temporary directory per process",
    },
    Setting {
        name: "CC",
        kind: Kind::Text,
        doc: "the C compiler (default clang, else cc)",
    },
    Setting {
        name: "CXX",
        kind: Kind::Text,
        doc: "the C++ compiler of the GPU emulator (default g++, else clang++)",
    },
    Setting {
        name: "COPT",
        kind: Kind::Text,
        doc: "C optimisation flags (default `-O2 -fno-unroll-loops`: the renderer unrolls)",
    },
    Setting {
        name: "GEMM_TUNING",
        kind: Kind::Text,
        doc: "force one CPU GEMM tuning (`\"vw mr nr kc mc nc threads mchunks nchunks [packing [parallel]]\"`, packing 0 = A and B packed, 1 = read in place, 2 = only B packed; parallel 0 = chunks, 1 = barrier, 2 = shared, where mchunks x nchunks is the grid of claimed blocks of C), for experiments; refused with an error unless the templates support it; `cargo run --release --example gemm_sweep` compares tunings side by side (`BATCH=64` for batched)",
    },
    Setting {
        name: "NVRTC",
        kind: Kind::Text,
        doc: "libnvrtc to use (a file or a directory)",
    },
];

/// The integer flags, in `SETTINGS` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    Debug,
    Threads,
    Beam,
    NoOpt,
    KeepPacked,
    Verify,
    CacheMaxMb,
    Aot,
    Scache,
}

const INT_FLAGS: usize = 9;

impl Flag {
    pub const ALL: [Flag; INT_FLAGS] = [
        Flag::Debug,
        Flag::Threads,
        Flag::Beam,
        Flag::NoOpt,
        Flag::KeepPacked,
        Flag::Verify,
        Flag::CacheMaxMb,
        Flag::Aot,
        Flag::Scache,
    ];

    pub fn setting(self) -> &'static Setting {
        &SETTINGS[self as usize]
    }

    pub fn name(self) -> &'static str {
        self.setting().name
    }

    fn range(self) -> (i64, i64, i64) {
        match self.setting().kind {
            Kind::Int { default, min, max } => (default, min, max),
            _ => unreachable!("integer flags come first in SETTINGS"),
        }
    }

    pub fn from_name(name: &str) -> Result<Flag> {
        Flag::ALL
            .into_iter()
            .find(|f| f.name() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = Flag::ALL.iter().map(|f| f.name()).collect();
                Error::InvalidArgument(format!(
                    "unknown tgrad flag '{name}' (known: {})",
                    known.join(", ")
                ))
            })
    }

    fn slot(self) -> &'static AtomicI64 {
        static SLOTS: OnceLock<[AtomicI64; INT_FLAGS]> = OnceLock::new();
        let slots = SLOTS.get_or_init(|| {
            Flag::ALL.map(|f| {
                let (default, _, _) = f.range();
                // invalid values are reported by `check_environment`; the default stands in
                let v = env(f.setting())
                    .filter(|v| f.setting().check(v).is_ok())
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(default);
                AtomicI64::new(v)
            })
        });
        &slots[self as usize]
    }

    pub fn get(self) -> i64 {
        self.slot().load(Ordering::Relaxed)
    }

    /// Set a flag, returning the previous value; out-of-range values are an error naming the
    /// flag and its range.
    pub fn set(self, value: i64) -> Result<i64> {
        let (_, min, max) = self.range();
        if !(min..=max).contains(&value) {
            return Err(Error::InvalidArgument(format!(
                "{} = {value} is out of range: allowed {min} to {max} ({})",
                self.name(),
                self.setting().doc
            )));
        }
        Ok(self.slot().swap(value, Ordering::Relaxed))
    }
}

/// The word of a choice value: `CUDA:0` selects `CUDA` (tinygrad's device:index form).
pub fn choice_word(raw: &str) -> &str {
    raw.trim().split(':').next().unwrap_or("")
}

fn env(s: &Setting) -> Option<String> {
    std::env::var(s.env()).ok().filter(|v| !v.trim().is_empty())
}

/// The value of a text or choice setting (None when unset). Read once per process.
pub fn text(name: &str) -> Option<&'static str> {
    static TEXT: OnceLock<Vec<(&'static str, Option<String>)>> = OnceLock::new();
    TEXT.get_or_init(|| {
        SETTINGS
            .iter()
            .filter(|s| !matches!(s.kind, Kind::Int { .. }))
            .map(|s| (s.name, env(s)))
            .collect()
    })
    .iter()
    .find(|(n, _)| *n == name)
    .and_then(|(_, v)| v.as_deref())
}

/// Every registered `TGRAD_*` variable in the environment checked: the first bad value is an
/// error naming the variable and what is allowed.
pub fn check_environment() -> Result<()> {
    for s in SETTINGS {
        if let Some(v) = env(s) {
            s.check(&v)?;
        }
    }
    Ok(())
}

pub fn debug() -> i64 {
    Flag::Debug.get()
}

/// Threads per core beyond which THREADS is capped.
const MAX_THREADS_PER_CORE: usize = 8;

/// The number of threads kernels run on: THREADS, else every available core; capped at
/// `MAX_THREADS_PER_CORE` per core (warned once).
pub fn threads() -> usize {
    let cap = cores() * MAX_THREADS_PER_CORE;
    match Flag::Threads.get() {
        n if n > 0 && n as usize > cap => {
            static WARNED: OnceLock<()> = OnceLock::new();
            WARNED.get_or_init(|| {
                eprintln!(
                    "tgrad: THREADS={n} is more than {MAX_THREADS_PER_CORE} per core; using {cap}"
                );
            });
            cap
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_settings_agree() {
        for (i, f) in Flag::ALL.into_iter().enumerate() {
            assert_eq!(f as usize, i);
            assert!(matches!(SETTINGS[i].kind, Kind::Int { .. }), "{}", f.name());
        }
        assert!(SETTINGS[INT_FLAGS..]
            .iter()
            .all(|s| !matches!(s.kind, Kind::Int { .. })));
    }

    #[test]
    fn bad_values_name_the_variable_and_what_is_allowed() {
        let threads = Flag::Threads.setting();
        let e = threads.check("abc").unwrap_err().to_string();
        assert!(
            e.contains("TGRAD_THREADS") && e.contains("not an integer"),
            "{e}"
        );
        assert!(Flag::Beam.setting().check("-1").is_err());
        assert!(Flag::Debug.setting().check("2").is_ok());
        let dev = SETTINGS.iter().find(|s| s.name == "DEVICE").unwrap();
        let e = dev.check("METAL").unwrap_err().to_string();
        assert!(e.contains("CUDA_EMU"), "{e}");
        assert!(dev.check("cuda").is_ok() && dev.check("CPU:0").is_ok());
        assert!(dev.check("CPU:1").is_err() && dev.check("CUDA:abc").is_err());
        let order = SETTINGS.iter().find(|s| s.name == "EMU_ORDER").unwrap();
        assert!(order.check("random:7").is_ok() && order.check("reverse").is_ok());
        for bad in [
            "random:abc",
            "random:",
            "random:-1",
            "reverse:2",
            "forward:1",
        ] {
            let e = order.check(bad).unwrap_err().to_string();
            assert!(
                e.contains("TGRAD_EMU_ORDER") && e.contains("seed"),
                "{bad}: {e}"
            );
        }
        let nvrtc = SETTINGS.iter().find(|s| s.name == "NVRTC").unwrap();
        assert!(nvrtc.check("/nonexistent/libnvrtc.so").is_err());
        assert!(nvrtc.check("libnvrtc.so.12").is_ok() && nvrtc.check("/").is_ok());
        assert!(Flag::Threads.set(-5).is_err());
        assert!(Flag::Debug.set(1 << 40).is_err());
    }
}
