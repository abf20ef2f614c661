//! From kernel source to a loaded emulator program: the translation unit (emulation header,
//! the kernel text unchanged under `#line 1 "kernel.cu"`, a generated trampoline), compiled by
//! the host C++ compiler through the kernel cache (`runtime::cache`), then loaded.
//!
//! The trampoline is generated from the kernel's parameter list (read by `source`): it calls the
//! kernel with `args[i]` cast to each parameter's type (CUDA: parameter i; Metal: the parameter
//! with `[[buffer(i)]]`), passes Metal's thread-position attributes from the running fiber,
//! defines the dynamic shared memory the kernel declares `extern __shared__`, and exports the
//! program's C ABI (`TGEMU_DEFINE_EXPORTS`).

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void};
use std::fmt::Write as _;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use libloading::Library;

use super::source::{self, KernelDecl};
use super::{ptx, BuildOptions, Dialect};
use crate::error::{Error, Result};
use crate::runtime::cache::{sha256_hex, write_atomic, Cache};
use crate::runtime::cpu::{host_id, Compiler};

/// Version of the C ABI below (`tgemu::ABI_VERSION` in emu/tgemu_runtime.h).
const ABI_VERSION: u32 = 1;
/// Bytes of dynamic shared memory a CUDA program can hold (227 KiB, sm_90's opt-in maximum).
pub const SHARED_CAPACITY: u32 = 227 * 1024;

const HEADERS: [(&str, &str); 6] = [
    ("tgemu_fiber.h", include_str!("../../../emu/tgemu_fiber.h")),
    (
        "tgemu_runtime.h",
        include_str!("../../../emu/tgemu_runtime.h"),
    ),
    ("tgemu_half.h", include_str!("../../../emu/tgemu_half.h")),
    ("tgemu_warp.h", include_str!("../../../emu/tgemu_warp.h")),
    ("tgemu_cuda.h", include_str!("../../../emu/tgemu_cuda.h")),
    ("metal_stdlib", include_str!("../../../emu/metal_stdlib")),
];

/// `struct tgemu::Launch`.
#[repr(C)]
pub struct LaunchDesc {
    pub grid: [u32; 3],
    pub block: [u32; 3],
    pub dyn_shared: u32,
    pub order: u32,
    pub seed: u64,
    pub args: *const u64,
    pub nargs: u32,
    pub flags: u32,
}

pub type WorkerNew = unsafe extern "C" fn(u32) -> *mut c_void;
pub type WorkerFree = unsafe extern "C" fn(*mut c_void);
pub type RunBlock =
    unsafe extern "C" fn(*mut c_void, *const LaunchDesc, u64, *mut c_char, usize) -> c_int;

/// A compiled, loaded program.
pub struct Loaded {
    _lib: Library,
    pub decl: KernelDecl,
    pub dialect: Dialect,
    pub asan: bool,
    /// Arguments a launch passes: parameters (CUDA) or buffer slots (Metal).
    pub nargs: usize,
    pub static_shared: u64,
    pub shared_capacity: u64,
    pub worker_new: WorkerNew,
    pub worker_free: WorkerFree,
    pub run_block: RunBlock,
    pub built_now: bool,
    /// The compiled shared object.
    pub path: PathBuf,
}

/// The emulation headers, written once per content into the cache (the directory name is
/// their hash, so changed headers never mix with old compiled programs).
fn include_dir() -> Result<&'static PathBuf> {
    static DIR: OnceLock<std::result::Result<PathBuf, Error>> = OnceLock::new();
    DIR.get_or_init(|| {
        let all = HEADERS.iter().fold(String::new(), |mut s, (n, t)| {
            let _ = write!(s, "{n}\0{t}\0");
            s
        });
        let dir = Cache::get()?
            .subdir("emu")?
            .join(format!("include-{}", &sha256_hex(all.as_bytes())[..16]));
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| Error::Io(format!("cannot create {}: {e}", dir.display())))?;
        for (name, text) in HEADERS {
            let path = dir.join(name);
            if std::fs::read_to_string(&path).ok().as_deref() != Some(text) {
                write_atomic(&path, text.as_bytes())?;
            }
        }
        Ok(dir)
    })
    .as_ref()
    .map_err(Clone::clone)
}

fn compiler(opts: BuildOptions) -> Result<Compiler> {
    let cxx = Compiler::cxx()?;
    let mut flags: Vec<String> = [
        "-x",
        "c++",
        "-std=c++17",
        "-O2",
        "-march=native",
        "-fPIC",
        "-shared",
        "-fvisibility=hidden",
        "-fno-strict-aliasing",
        "-ffp-contract=off",
        "-fno-math-errno",
        "-fno-exceptions",
        "-fno-rtti",
        "-w",
    ]
    .map(ToString::to_string)
    .to_vec();
    if opts.asan {
        flags.extend(
            [
                "-fsanitize=address",
                "-fsanitize-recover=address",
                "-fno-omit-frame-pointer",
                "-g",
            ]
            .map(ToString::to_string),
        );
    }
    flags.push(format!("-I{}", include_dir()?.display()));
    Ok(Compiler {
        path: cxx.path.clone(),
        identity: cxx.identity.clone(),
        flags,
        ext: "cpp",
    })
}

/// Compile a translation unit into the kernel cache (or find it there): the entry and whether
/// it was built now.
fn build_entry(cc: &Compiler, tu: &str) -> Result<(std::path::PathBuf, bool)> {
    let key = sha256_hex(format!("{tu}\0{}\0{}", cc.key_material(&[]), host_id()).as_bytes());
    let cache = Cache::get()?;
    let failed = cache.dir().join("failed");
    let e = cache.entry(&key[..40], "emu.so", |dir| cc.build(tu, dir, &[], &failed))?;
    Ok((e.path, e.built))
}

const METAL_ATTRS: [&str; 11] = [
    "thread_position_in_grid",
    "threads_per_grid",
    "threadgroup_position_in_grid",
    "threadgroups_per_grid",
    "thread_position_in_threadgroup",
    "threads_per_threadgroup",
    "thread_index_in_threadgroup",
    "simdgroup_index_in_threadgroup",
    "thread_index_in_simdgroup",
    "simdgroups_per_threadgroup",
    "threads_per_simdgroup",
];

fn unsupported(what: &str) -> Error {
    Error::Unsupported(format!("emulator: {what}"))
}

/// The kernel call's arguments, and how many launch arguments they read.
fn call_args(k: &KernelDecl, dialect: Dialect) -> Result<(Vec<String>, usize)> {
    let mut args = vec![];
    let mut nargs = 0;
    for (i, p) in k.params.iter().enumerate() {
        let slot = match (dialect, p.attr.as_deref()) {
            (Dialect::Cuda, _) => i,
            (Dialect::Metal, Some(a)) if a.starts_with("buffer(") => a["buffer(".len()..]
                .trim_end_matches(')')
                .trim()
                .parse::<usize>()
                .map_err(|_| unsupported(&format!("attribute [[{a}]]")))?,
            (Dialect::Metal, Some(a)) => {
                if !METAL_ATTRS.contains(&a) {
                    return Err(unsupported(&format!(
                        "parameter attribute [[{a}]] (supported: buffer(n), {})",
                        METAL_ATTRS.join(", ")
                    )));
                }
                args.push(format!("::tgemu::metal_attr(::tgemu::Attr::{a})"));
                continue;
            }
            (Dialect::Metal, None) => {
                return Err(unsupported(&format!(
                    "parameter '{}' without an attribute",
                    p.name
                )))
            }
        };
        nargs = nargs.max(slot + 1);
        if p.ty.contains('*') {
            args.push(format!("({})(uintptr_t)a[{slot}]", p.ty));
        } else if ["float", "double", "half"]
            .iter()
            .any(|f| source::find_word(&p.ty, f).len() == 1)
        {
            return Err(unsupported(&format!(
                "floating-point parameter '{} {}' (pointers and integers only)",
                p.ty, p.name
            )));
        } else {
            args.push(format!("({})a[{slot}]", p.ty));
        }
    }
    Ok((args, nargs))
}

/// The trampoline that follows the kernel text, and the number of launch arguments.
fn trampoline(k: &KernelDecl, dialect: Dialect) -> Result<(String, usize)> {
    let (args, nargs) = call_args(k, dialect)?;
    let mut t = String::from("#line 1 \"tgemu-trampoline\"\n");
    let (smem, cap) = match &k.dynamic_shared {
        Some((ty, name)) => {
            let _ = writeln!(
                t,
                "thread_local __attribute__((aligned(16))) {ty} {name}[{SHARED_CAPACITY} / sizeof({elem})];",
                elem = strip_align(ty)
            );
            (format!("(unsigned char*){name}"), format!("sizeof {name}"))
        }
        None => ("nullptr".to_string(), "0".to_string()),
    };
    let statics = k.static_shared.iter().fold(String::new(), |mut t, s| {
        let _ = write!(t, " + sizeof({}{})", strip_align(&s.ty), s.extents);
        t
    });
    let _ = writeln!(
        t,
        "static void tgemu_entry(const uint64_t* a) {{\n  (void)a;\n  {}({});\n}}",
        k.name,
        args.join(", ")
    );
    let _ = writeln!(
        t,
        "TGEMU_DEFINE_EXPORTS(tgemu_entry, {smem}, {cap}, 0{statics})"
    );
    Ok((t, nargs))
}

/// `ty` without `__align__(n)` / `__attribute__((...))` (for `sizeof`).
fn strip_align(ty: &str) -> String {
    let mut s = ty.to_string();
    for word in ["__align__", "__attribute__"] {
        while let Some(&at) = source::find_word(&s, word).first() {
            let open = at + s[at..].find('(').unwrap_or(s.len() - at);
            let close = source::matching(&s, open).unwrap_or(s.len());
            s.replace_range(at..close, " ");
        }
    }
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The whole translation unit for `source`. The kernel text goes in without its comments
/// (lines kept), so sources that differ only in comments (the renderers name the kernel's
/// shape there) share one compiled program.
pub fn translation_unit(source: &str, dialect: Dialect) -> Result<(String, KernelDecl, usize)> {
    let text = source::strip_comments(source);
    if dialect == Dialect::Cuda {
        ptx::check_guarded(source)?;
    }
    let (header, file) = match dialect {
        Dialect::Cuda => ("#include \"tgemu_cuda.h\"", "kernel.cu"),
        Dialect::Metal => ("#include <metal_stdlib>", "kernel.metal"),
    };
    let tu = |tramp: &str| {
        format!(
            "/* tgrad GPU emulator program ({}) */\n#define TGRAD_EMU 1\n{header}\n#line 1 \"{file}\"\n{text}\n{tramp}",
            dialect.name()
        )
    };
    let decl = match source::parse_kernel(&text, dialect) {
        Ok(d) => d,
        // a source that stops itself (`#error`, as the Metal renderer does for double) gets
        // the compiler's message
        Err(e) if text.contains("#error") => {
            build_entry(&compiler(BuildOptions::default())?, &tu(""))?;
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    let (tramp, nargs) = trampoline(&decl, dialect)?;
    Ok((tu(&tramp), decl, nargs))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Compile (or find in the memory or disk cache) and load a program.
pub fn load(source: &str, dialect: Dialect, opts: &BuildOptions) -> Result<Arc<Loaded>> {
    static LOADED: OnceLock<Mutex<HashMap<String, Arc<Loaded>>>> = OnceLock::new();
    let memo = LOADED.get_or_init(Mutex::default);
    let (tu, decl, nargs) = translation_unit(source, dialect)?;
    let key = sha256_hex(format!("{tu}\0{}", opts.asan).as_bytes());
    if let Some(l) = lock(memo).get(&key) {
        return Ok(l.clone());
    }
    let cc = compiler(*opts)?;
    if opts.asan {
        super::asan::require_runtime(&cc)?;
    }
    let (path, built_now) = build_entry(&cc, &tu)?;
    // SAFETY: a shared object this module compiled from the translation unit above; its
    // initialisers only set up thread-local storage.
    let lib = unsafe { Library::new(&path) }
        .map_err(|e| Error::Runtime(format!("cannot load {}: {e}", path.display())))?;
    let sym = |name: &str| -> Result<*mut c_void> {
        // SAFETY: the symbol is looked up as an untyped address and cast below to the type
        // TGEMU_DEFINE_EXPORTS gives it.
        unsafe { lib.get::<*mut c_void>(name.as_bytes()) }
            .map(|s| *s)
            .map_err(|e| Error::Runtime(format!("{}: no {name} ({e})", path.display())))
    };
    // SAFETY: each address is the function TGEMU_DEFINE_EXPORTS defines under that name, with
    // the signature of the type it is cast to (checked by the ABI version first).
    let loaded = unsafe {
        let abi: unsafe extern "C" fn() -> u32 = std::mem::transmute(sym("tgemu_abi_version")?);
        let found = abi();
        if found != ABI_VERSION {
            return Err(Error::Runtime(format!(
                "{}: emulator ABI {found}, expected {ABI_VERSION}",
                path.display()
            )));
        }
        let static_shared: unsafe extern "C" fn() -> u64 =
            std::mem::transmute(sym("tgemu_static_shared_bytes")?);
        let capacity: unsafe extern "C" fn() -> u64 =
            std::mem::transmute(sym("tgemu_shared_capacity")?);
        Loaded {
            decl,
            dialect,
            asan: opts.asan,
            nargs,
            static_shared: static_shared(),
            shared_capacity: capacity(),
            worker_new: std::mem::transmute::<*mut c_void, WorkerNew>(sym("tgemu_worker_new")?),
            worker_free: std::mem::transmute::<*mut c_void, WorkerFree>(sym("tgemu_worker_free")?),
            run_block: std::mem::transmute::<*mut c_void, RunBlock>(sym("tgemu_run_block")?),
            built_now,
            path,
            _lib: lib,
        }
    };
    let loaded = Arc::new(loaded);
    lock(memo).insert(key, loaded.clone());
    Ok(loaded)
}
