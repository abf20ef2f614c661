//! The C compiler, run at run time: found once (TGRAD_CC, else clang, else cc), its identity
//! and flags part of every cache key. Builds happen inside the kernel cache's private build
//! directories (`runtime::cache`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::error::{Error, Result};
use crate::flags;
use crate::target::VectorIsa;

/// Optimisation flags of CPU kernels where TGRAD_COPT does not say otherwise: -O2 without loop
/// unrolling, since the renderer unrolls the microkernel already and the compiler's unroller only
/// multiplies compile time (5x, clang).
pub const DEFAULT_COPT: &str = "-O2 -fno-unroll-loops";

/// The flags that fix what a CPU kernel computes (the C dialect; multiply-adds contracted where
/// the ISA fuses them; no errno or trap semantics): the run-time compiler and the kernels built
/// ahead of time both use them, so the same source computes the same bits either way.
pub const SEMANTIC_FLAGS: [&str; 4] = [
    "-std=gnu11",
    "-ffp-contract=fast",
    "-fno-math-errno",
    "-fno-trapping-math",
];

/// The flags of run-time compiled CPU kernels on a host whose best vector ISA is `isa`:
/// optimisation (`opt`), the host's own instruction set and tuning, the ISA's vector flags, and
/// the semantic flags.
pub fn kernel_flags(opt: &str, isa: VectorIsa) -> Vec<&str> {
    let mut f: Vec<&str> = opt.split_whitespace().collect();
    f.extend(["-march=native", "-fPIC", "-shared"]);
    f.extend(isa.vector_flags());
    f.extend(SEMANTIC_FLAGS);
    f
}

/// The flags of the kernels built ahead of time for `isa` (the `tgrad-aot` crate's build script):
/// the default optimisation and the semantic flags, as a run-time compile has them, with the
/// ISA's `compile_flags`, `vector_flags` and `table_flags` in place of `-march=native`.
pub fn table_kernel_flags(isa: VectorIsa) -> Vec<&'static str> {
    let mut f: Vec<&str> = DEFAULT_COPT.split_whitespace().collect();
    f.extend(SEMANTIC_FLAGS);
    f.extend(isa.compile_flags());
    f.extend(isa.vector_flags());
    f.extend(isa.table_flags());
    f
}

#[derive(Debug, Clone)]
pub struct Compiler {
    /// The command.
    pub path: String,
    /// First line of `--version`: part of the cache key.
    pub identity: String,
    pub flags: Vec<String>,
    /// The source file's extension ("c", "cpp").
    pub ext: &'static str,
}

fn probe(cc: &str) -> std::result::Result<String, String> {
    match Command::new(cc).arg("--version").output() {
        Ok(out) if out.status.success() => Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_string()),
        Ok(out) => Err(format!("exited with {} on --version", out.status)),
        Err(e) => Err(format!("could not be run ({e})")),
    }
}

/// Find the first working compiler among `requested` (a setting) or `defaults`.
fn find(
    requested: Option<&str>,
    defaults: &[&str],
    flags: &[&str],
    ext: &'static str,
) -> Result<Compiler> {
    let candidates: Vec<String> = match requested {
        Some(cc) => vec![cc.to_string()],
        None => defaults.iter().map(ToString::to_string).collect(),
    };
    let mut last = String::new();
    for cc in &candidates {
        match probe(cc) {
            Ok(identity) => {
                return Ok(Compiler {
                    path: cc.clone(),
                    identity,
                    flags: flags.iter().map(ToString::to_string).collect(),
                    ext,
                })
            }
            Err(e) => last = e,
        }
    }
    Err(Error::CompilerMissing {
        compiler: candidates.join("' / '"),
        detail: last,
    })
}

impl Compiler {
    /// The AddressSanitizer runtime this compiler links against (what a process that loads
    /// kernels built with `-fsanitize=address` must preload), as the compiler reports it.
    pub fn asan_runtime(&self) -> String {
        let lib = if self.identity.contains("clang") {
            "libclang_rt.asan-x86_64.so"
        } else {
            "libasan.so"
        };
        Command::new(&self.path)
            .arg(format!("-print-file-name={lib}"))
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|p| std::path::Path::new(p).is_absolute())
            .unwrap_or_else(|| lib.to_string())
    }

    /// The C compiler of CPU kernels, resolved once per process.
    pub fn c() -> Result<&'static Compiler> {
        static CC: OnceLock<Result<Compiler>> = OnceLock::new();
        CC.get_or_init(|| {
            let opt = flags::text("COPT").unwrap_or(DEFAULT_COPT);
            let f = kernel_flags(opt, VectorIsa::detect());
            find(flags::text("CC"), &["clang", "cc", "gcc"], &f, "c")
        })
        .as_ref()
        .map_err(Clone::clone)
    }

    /// The C++ compiler of the GPU emulator, resolved once per process.
    pub fn cxx() -> Result<&'static Compiler> {
        static CXX: OnceLock<Result<Compiler>> = OnceLock::new();
        CXX.get_or_init(|| {
            find(
                flags::text("CXX"),
                &["g++", "clang++", "c++"],
                &["-O1", "-std=c++17", "-fPIC", "-shared", "-fno-math-errno"],
                "cpp",
            )
        })
        .as_ref()
        .map_err(Clone::clone)
    }

    /// What a cache key must include besides the source: the compiler and its flags.
    pub fn key_material(&self, extra: &[&str]) -> String {
        format!(
            "{}\0{}\0{}",
            self.identity,
            self.flags.join(" "),
            extra.join(" ")
        )
    }

    /// Compile `source` into a shared object in `dir` (a private build directory) with `extra`
    /// flags. A failure keeps the source under `failed` (named in the error).
    pub fn build(
        &self,
        source: &str,
        dir: &Path,
        extra: &[&str],
        failed: &Path,
    ) -> Result<PathBuf> {
        let src = dir.join(format!("kernel.{}", self.ext));
        std::fs::write(&src, source).map_err(|e| {
            Error::Io(format!(
                "cannot write the kernel source {}: {e}",
                src.display()
            ))
        })?;
        let out_path = dir.join("kernel.so");
        let out = Command::new(&self.path)
            .args(&self.flags)
            .args(extra)
            .arg("-o")
            .arg(&out_path)
            .arg(&src)
            // math functions (exp2, log2, sin, pow) come from libm, named after the source
            .arg("-lm")
            .output()
            .map_err(|e| Error::CompilerMissing {
                compiler: self.path.clone(),
                detail: format!("could not be run ({e})"),
            })?;
        if !out.status.success() {
            let kept = keep_failed(source, failed, self.ext);
            let mut log = String::from_utf8_lossy(&out.stderr).to_string();
            log.truncate(4000);
            return Err(Error::CompileFailed {
                compiler: self.path.clone(),
                log,
                source_path: kept,
            });
        }
        if !out_path.is_file() {
            return Err(Error::CompileFailed {
                compiler: self.path.clone(),
                log: format!(
                    "the compiler exited successfully but wrote no output at {} (flags '{}'; TGRAD_CC and TGRAD_COPT choose the compiler and its flags)",
                    out_path.display(),
                    [self.flags.as_slice(), &extra.iter().map(ToString::to_string).collect::<Vec<_>>()]
                        .concat()
                        .join(" ")
                ),
                source_path: keep_failed(source, failed, self.ext),
            });
        }
        Ok(out_path)
    }
}

/// Keep a source the compiler rejected where the user can read it; returns its path.
fn keep_failed(source: &str, dir: &Path, ext: &str) -> String {
    let name = format!(
        "{}.{ext}",
        &crate::runtime::cache::sha256_hex(source.as_bytes())[..16]
    );
    let path = dir.join(name);
    let kept = std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&path, source))
        .is_ok();
    if kept {
        path.display().to_string()
    } else {
        "<not kept: the failed-source directory is not writable>".into()
    }
}
