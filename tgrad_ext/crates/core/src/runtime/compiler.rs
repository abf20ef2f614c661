//! The C compiler, run at run time, and the on-disk program cache.
//!
//! Cache entries are keyed by SHA-256 of (rendered source, compiler identity, flags, host CPU).
//! Every write goes to a temp file first and is renamed into place; each shared object has a
//! `.sha256` beside it, checked on load, so a truncated or corrupt entry is rebuilt.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub struct CCompiler {
    pub path: String,
    /// First line of `--version`: part of the cache key.
    pub identity: String,
    pub flags: Vec<String>,
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(2 * bytes.len()), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
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

impl CCompiler {
    /// The compiler named by TGRAD_CC, else clang, else cc. Resolved once per process.
    pub fn get() -> Result<&'static CCompiler> {
        static CC: OnceLock<Result<CCompiler>> = OnceLock::new();
        CC.get_or_init(|| {
            let requested = std::env::var("TGRAD_CC")
                .ok()
                .filter(|s| !s.trim().is_empty());
            let candidates: Vec<String> = match &requested {
                Some(cc) => vec![cc.clone()],
                None => vec!["clang".into(), "cc".into(), "gcc".into()],
            };
            let mut last = String::new();
            for cc in &candidates {
                match probe(cc) {
                    Ok(identity) => {
                        // -O2 without loop unrolling: the microkernel is unrolled by the renderer
                        // already; the compiler's unroller only multiplies compile time (5x, clang)
                        let opt = std::env::var("TGRAD_COPT")
                            .unwrap_or_else(|_| "-O2 -fno-unroll-loops".to_string());
                        let mut flags: Vec<String> =
                            opt.split_whitespace().map(ToString::to_string).collect();
                        flags.extend(
                            [
                                "-march=native",
                                "-std=gnu11",
                                "-fPIC",
                                "-shared",
                                "-ffp-contract=fast",
                                "-fno-math-errno",
                                "-fno-trapping-math",
                            ]
                            .map(ToString::to_string),
                        );
                        return Ok(CCompiler {
                            path: cc.clone(),
                            identity,
                            flags: flags.iter().map(ToString::to_string).collect(),
                        });
                    }
                    Err(e) => last = e,
                }
            }
            Err(Error::CompilerMissing {
                compiler: candidates.join("' / '"),
                detail: last,
            })
        })
        .as_ref()
        .map_err(Clone::clone)
    }

    /// Compile `source` into a shared object in the cache (or find it there). Returns its path
    /// and whether it was built now.
    pub fn build(&self, source: &str, host_id: &str) -> Result<(PathBuf, bool)> {
        let dir = cache_dir()?;
        let key = sha256_hex(
            format!(
                "{source}\0{}\0{}\0{host_id}",
                self.identity,
                self.flags.join(" ")
            )
            .as_bytes(),
        );
        let key = &key[..40];
        let so = dir.join(format!("{key}.so"));
        let sum = dir.join(format!("{key}.so.sha256"));
        if entry_is_valid(&so, &sum) {
            return Ok((so, false));
        }
        let src = dir.join(format!("{key}.c"));
        write_atomic(&src, source.as_bytes())?;
        let tmp_so = dir.join(format!(".{key}.{}.{}.so.tmp", std::process::id(), unique()));
        let out = Command::new(&self.path)
            .args(&self.flags)
            .arg("-o")
            .arg(&tmp_so)
            .arg(&src)
            .output()
            .map_err(|e| Error::CompilerMissing {
                compiler: self.path.clone(),
                detail: format!("could not be run ({e})"),
            })?;
        if !out.status.success() {
            let _ = std::fs::remove_file(&tmp_so);
            let mut log = String::from_utf8_lossy(&out.stderr).to_string();
            log.truncate(4000);
            return Err(Error::CompileFailed {
                compiler: self.path.clone(),
                log,
                source_path: src.display().to_string(),
            });
        }
        let bytes = std::fs::read(&tmp_so)?;
        write_atomic(&sum, sha256_hex(&bytes).as_bytes())?;
        std::fs::rename(&tmp_so, &so)?;
        Ok((so, true))
    }
}

fn entry_is_valid(so: &Path, sum: &Path) -> bool {
    let (Ok(bytes), Ok(expected)) = (std::fs::read(so), std::fs::read_to_string(sum)) else {
        return false;
    };
    sha256_hex(&bytes) == expected.trim()
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    t ^ (N.fetch_add(1, Ordering::Relaxed) << 48)
}

/// Write a file so that readers see either the old contents or the whole new contents.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = path.with_file_name(format!(
        ".{}.{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("f"),
        std::process::id(),
        unique()
    ));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(data)?;
    f.sync_all().ok();
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::from(e)
    })
}

/// A sibling of the kernel cache (e.g. "beam" for search results), created on demand.
pub fn cache_subdir(name: &str) -> Result<PathBuf> {
    let dir = cache_dir()?
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
        .join(name);
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::Io(format!("cannot create {}: {e}", dir.display())))?;
    Ok(dir)
}

/// TGRAD_CACHE, else $XDG_CACHE_HOME/tgrad, else ~/.cache/tgrad; "off" keeps programs in a
/// per-process temp dir that nothing else reads.
pub fn cache_dir() -> Result<PathBuf> {
    static DIR: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = match std::env::var("TGRAD_CACHE").ok().filter(|s| !s.is_empty()) {
            Some(s) if s == "off" => {
                std::env::temp_dir().join(format!("tgrad-nocache-{}", std::process::id()))
            }
            Some(s) => PathBuf::from(s),
            None => std::env::var("XDG_CACHE_HOME")
                .ok()
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
                .or_else(|| {
                    std::env::var("HOME")
                        .ok()
                        .map(|h| PathBuf::from(h).join(".cache"))
                })
                .unwrap_or_else(std::env::temp_dir)
                .join("tgrad"),
        };
        let dir = base.join("kernels");
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create the kernel cache {}: {e}", dir.display()))?;
        Ok(dir)
    })
    .clone()
    .map_err(Error::Io)
}
