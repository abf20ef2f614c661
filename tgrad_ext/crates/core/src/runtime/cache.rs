//! The one on-disk cache of compiled programs (CPU shared objects, CUDA cubins, emulator
//! programs) and BEAM results. tgrad loads code from it, so it is private by construction, as
//! ssh and ccache treat theirs:
//!
//! - The cache directory and every directory above it must be owned by the user (or root) and
//!   not writable by group or others (a sticky directory such as /tmp excepted); otherwise tgrad
//!   refuses it with an error naming the path and the fix. It is created with mode 0700.
//! - Entries are built in a fresh private temporary directory inside the cache and moved into
//!   place by rename, so a reader sees a whole entry or none.
//! - Each entry has a checksum bound to its key and to a per-cache secret (`secret`, mode 0600):
//!   a truncated or corrupt entry, or one copied over another key's, fails the check and is
//!   rebuilt. Entries that are not regular files of the user are removed and rebuilt; so are
//!   entries that verify but cannot be loaded.
//! - Temporary directories of processes that no longer exist are removed when the cache opens.
//! - The cache is bounded (`TGRAD_CACHE_MAX_MB`): the least recently used entries go first.
//! - A cache that cannot be written falls back to a private temporary directory (one warning).
//! - `TGRAD_CACHE=off` uses a fresh private temporary directory per process.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::flags::{self, Flag};

pub fn hex(bytes: &[u8]) -> String {
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

/// Bytes from the OS's random source.
fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    let ok = fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_ok();
    if !ok {
        // no /dev/urandom: time and pid are unique enough for names (never for the secret,
        // which is then only as good as the directory's privacy)
        let seed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
            ^ u128::from(std::process::id()) << 64;
        for (i, x) in b.iter_mut().enumerate() {
            *x = (seed >> ((i % 16) * 8)) as u8 ^ (i as u8).wrapping_mul(151);
        }
    }
    b
}

fn uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

fn io_err(what: &str, path: &Path, e: &std::io::Error) -> Error {
    Error::Io(format!("{what} {}: {e}", path.display()))
}

/// Refuse a directory that another user could write to (or that belongs to another user).
fn check_private_dir(dir: &Path) -> Result<()> {
    let mut p = Some(dir);
    while let Some(d) = p {
        let Ok(m) = fs::metadata(d) else {
            p = d.parent();
            continue;
        };
        let me = uid();
        let sticky = m.mode() & 0o1000 != 0;
        let fix = format!(
            "tgrad loads compiled code from its kernel cache, so {} and the directories above it must be owned by you (or root) and not writable by group or others; fix with `chmod go-w {}` (or `chown`), or set TGRAD_CACHE to a private directory",
            dir.display(),
            d.display()
        );
        if m.uid() != me && m.uid() != 0 {
            return Err(Error::Io(format!(
                "refusing the kernel cache: {} is owned by uid {}, not by you (uid {me}); {fix}",
                d.display(),
                m.uid()
            )));
        }
        if m.mode() & 0o022 != 0 && !(sticky && d != dir) {
            return Err(Error::Io(format!(
                "refusing the kernel cache: {} is writable by {} (mode {:o}); {fix}",
                d.display(),
                if m.mode() & 0o002 != 0 {
                    "others"
                } else {
                    "its group"
                },
                m.mode() & 0o7777
            )));
        }
        p = d.parent();
    }
    Ok(())
}

/// Create `dir` (mode 0700) and the directories above it, or accept it as it is.
fn make_private_dir(dir: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| io_err("cannot create", dir, &e))
}

/// Whether `path` is a regular file of ours that no one else can write.
fn is_own_file(path: &Path) -> bool {
    fs::symlink_metadata(path)
        .is_ok_and(|m| m.file_type().is_file() && m.uid() == uid() && m.mode() & 0o022 == 0)
}

/// Write `data` to `path` atomically (a private temp file in the same directory, renamed).
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("f");
    let tmp = path.with_file_name(format!(
        ".tmp-{}-{}-{name}",
        std::process::id(),
        hex(&random_bytes::<6>())
    ));
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| io_err("cannot write", &tmp, &e))?;
    let done = f.write_all(data).and_then(|()| f.sync_all());
    drop(f);
    done.and_then(|()| fs::rename(&tmp, path)).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io_err("cannot write", path, &e)
    })
}

/// A verified entry of the cache.
#[derive(Debug, Clone)]
pub struct Entry {
    pub path: PathBuf,
    /// Built now (not found in the cache).
    pub built: bool,
}

pub struct Cache {
    /// The cache's root (holds `kernels/`, `beam/`, `secret`).
    root: PathBuf,
    secret: [u8; 32],
    /// Where entries are built and stored: the cache, or a private temporary directory when the
    /// cache cannot be written.
    store: PathBuf,
}

impl Cache {
    /// The process's cache, opened (and checked) once.
    pub fn get() -> Result<&'static Cache> {
        static CACHE: OnceLock<std::result::Result<Cache, Error>> = OnceLock::new();
        CACHE
            .get_or_init(Cache::open_configured)
            .as_ref()
            .map_err(Clone::clone)
    }

    fn open_configured() -> Result<Cache> {
        match flags::text("CACHE") {
            Some("off") => Cache::open(&private_temp_dir("tgrad-nocache")?),
            Some(dir) => Cache::open(Path::new(dir)),
            None => {
                let base = std::env::var_os("XDG_CACHE_HOME")
                    .filter(|s| !s.is_empty())
                    .map(PathBuf::from)
                    .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
                    .unwrap_or_else(std::env::temp_dir);
                Cache::open(&base.join("tgrad"))
            }
        }
    }

    /// Open (creating if need be) a cache rooted at `root`.
    pub fn open(root: &Path) -> Result<Cache> {
        make_private_dir(root)?;
        check_private_dir(root)?;
        let kernels = root.join("kernels");
        make_private_dir(&kernels)?;
        check_private_dir(&kernels)?;
        let secret = load_secret(root);
        let store = match probe_writable(&kernels) {
            Ok(()) => {
                remove_stale_temporaries(&kernels);
                kernels
            }
            Err(e) => {
                let fallback = private_temp_dir("tgrad-cache-fallback")?;
                eprintln!(
                    "tgrad: warning: the kernel cache {} cannot be written ({e}); compiling into {} for this process",
                    kernels.display(),
                    fallback.display()
                );
                fallback
            }
        };
        Ok(Cache {
            root: root.to_path_buf(),
            secret,
            store,
        })
    }

    /// Where compiled programs are stored.
    pub fn dir(&self) -> &Path {
        &self.store
    }

    /// The checksum binding `bytes` to `key` and this cache.
    fn sum(&self, key: &str, bytes: &[u8]) -> String {
        let mut h = Sha256::new();
        h.update(self.secret);
        h.update(key.as_bytes());
        h.update([0u8]);
        h.update(bytes);
        hex(&h.finalize())
    }

    fn verified(&self, key: &str, path: &Path) -> bool {
        let sum_path = sum_path(path);
        if !is_own_file(path) || !is_own_file(&sum_path) {
            return false;
        }
        let (Ok(bytes), Ok(sum)) = (fs::read(path), fs::read_to_string(&sum_path)) else {
            return false;
        };
        self.sum(key, &bytes) == sum.trim()
    }

    /// The entry `key` (a hex digest) with extension `ext`, found and verified, or built now:
    /// `build(dir)` writes the entry's file into `dir`, a fresh private directory, and returns
    /// its path there.
    pub fn entry(
        &self,
        key: &str,
        ext: &str,
        build: impl FnOnce(&Path) -> Result<PathBuf>,
    ) -> Result<Entry> {
        let path = self.store.join(format!("{key}.{ext}"));
        if self.verified(key, &path) {
            touch(&path);
            return Ok(Entry { path, built: false });
        }
        remove_entry(&path);
        let tmp = self.temp_dir()?;
        let result = build(&tmp).and_then(|out| {
            let bytes = fs::read(&out)
                .map_err(|e| io_err("the build wrote no readable output at", &out, &e))?;
            write_atomic(&sum_path(&path), self.sum(key, &bytes).as_bytes())?;
            fs::rename(&out, &path).map_err(|e| io_err("cannot move the built entry to", &path, &e))
        });
        let _ = fs::remove_dir_all(&tmp);
        result?;
        self.evict_over_limit(&path);
        Ok(Entry { path, built: true })
    }

    /// `entry`, then `load` it; an entry that verifies but cannot be loaded is removed and
    /// built once more.
    pub fn load<T>(
        &self,
        key: &str,
        ext: &str,
        build: impl Fn(&Path) -> Result<PathBuf>,
        load: impl Fn(&Path) -> Result<T>,
    ) -> Result<(T, Entry)> {
        let e = self.entry(key, ext, &build)?;
        match load(&e.path) {
            Ok(t) => Ok((t, e)),
            Err(_) if !e.built => {
                remove_entry(&e.path);
                let e = self.entry(key, ext, &build)?;
                Ok((load(&e.path)?, e))
            }
            Err(err) => Err(err),
        }
    }

    /// A fresh private directory for one build, inside the store (so a rename moves its output
    /// into place). Its name carries the pid, so a later process can tell it is stale.
    fn temp_dir(&self) -> Result<PathBuf> {
        let d = self.store.join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            hex(&random_bytes::<8>())
        ));
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&d)
            .map_err(|e| io_err("cannot create a build directory", &d, &e))?;
        Ok(d)
    }

    /// A private directory `name` beside the compiled programs (the emulator's headers).
    pub fn subdir(&self, name: &str) -> Result<PathBuf> {
        let dir = self.root.join(name);
        make_private_dir(&dir)?;
        check_private_dir(&dir)?;
        Ok(dir)
    }

    /// A small text record under `sub` (e.g. BEAM results), checksummed like entries. None when
    /// absent or corrupt.
    pub fn get_text(&self, sub: &str, key: &str) -> Option<String> {
        let path = self.root.join(sub).join(format!("{key}.txt"));
        if !is_own_file(&path) {
            return None;
        }
        let s = fs::read_to_string(&path).ok()?;
        let (sum, text) = s.split_once('\n')?;
        (self.sum(key, text.as_bytes()) == sum).then(|| text.to_string())
    }

    pub fn put_text(&self, sub: &str, key: &str, text: &str) -> Result<()> {
        let dir = self.root.join(sub);
        make_private_dir(&dir)?;
        check_private_dir(&dir)?;
        let body = format!("{}\n{text}", self.sum(key, text.as_bytes()));
        write_atomic(&dir.join(format!("{key}.txt")), body.as_bytes())
    }

    /// Remove least recently used entries while the store exceeds `TGRAD_CACHE_MAX_MB`
    /// (never `keep`, the entry just built).
    fn evict_over_limit(&self, keep: &Path) {
        let limit = (Flag::CacheMaxMb.get().max(1) as u64) << 20;
        let Ok(rd) = fs::read_dir(&self.store) else {
            return;
        };
        let mut entries: Vec<(SystemTime, u64, PathBuf)> = rd
            .filter_map(|e| {
                let e = e.ok()?;
                let name = e.file_name().into_string().ok()?;
                let m = e.metadata().ok()?;
                (m.is_file()
                    && !name.starts_with('.')
                    && !Path::new(&name)
                        .extension()
                        .is_some_and(|e| e.eq_ignore_ascii_case("sum")))
                .then(|| {
                    (
                        m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                        m.len(),
                        e.path(),
                    )
                })
            })
            .collect();
        let mut total: u64 = entries.iter().map(|e| e.1).sum();
        entries.sort_by_key(|e| e.0);
        for (_, len, p) in entries {
            if total <= limit {
                break;
            }
            if p != keep {
                remove_entry(&p);
                total -= len;
            }
        }
    }
}

fn sum_path(entry: &Path) -> PathBuf {
    let mut s = entry.as_os_str().to_os_string();
    s.push(".sum");
    PathBuf::from(s)
}

/// Remove an entry and its checksum (whatever kind of file they are).
fn remove_entry(path: &Path) {
    for p in [path.to_path_buf(), sum_path(path)] {
        if let Ok(m) = fs::symlink_metadata(&p) {
            if m.is_dir() {
                let _ = fs::remove_dir_all(&p);
            } else {
                let _ = fs::remove_file(&p);
            }
        }
    }
}

/// Mark an entry used now (eviction goes by modification time).
fn touch(path: &Path) {
    if let Ok(f) = fs::OpenOptions::new().append(true).open(path) {
        let _ = f.set_modified(SystemTime::now());
    }
}

fn probe_writable(dir: &Path) -> std::io::Result<()> {
    let p = dir.join(format!(".tmp-{}-probe", std::process::id()));
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&p)?;
    fs::remove_file(&p)
}

/// The per-cache secret the checksums are keyed with (created once, mode 0600).
fn load_secret(root: &Path) -> [u8; 32] {
    let path = root.join("secret");
    if is_own_file(&path) {
        if let Ok(b) = fs::read(&path) {
            if let Ok(s) = <[u8; 32]>::try_from(b.as_slice()) {
                return s;
            }
        }
    }
    remove_entry(&path);
    let s = random_bytes::<32>();
    // a read-only cache cannot keep a secret: entries are then rebuilt in the fallback store
    let _ = write_atomic(&path, &s)
        .map(|()| fs::set_permissions(&path, fs::Permissions::from_mode(0o600)));
    fs::read(&path)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
        .unwrap_or(s)
}

/// Remove `.tmp-<pid>-*` build leftovers of processes that no longer run (or older than a day).
fn remove_stale_temporaries(dir: &Path) {
    let Ok(rd) = fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(rest) = name.strip_prefix(".tmp-") else {
            continue;
        };
        let pid: Option<u32> = rest.split('-').next().and_then(|p| p.parse().ok());
        let alive = pid.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists());
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > Duration::from_hours(24));
        if !alive || old {
            remove_entry(&e.path());
        }
    }
}

/// A fresh directory under the system's temporary directory that only this user can use.
pub fn private_temp_dir(prefix: &str) -> Result<PathBuf> {
    let base = std::env::temp_dir();
    for _ in 0..16 {
        let d = base.join(format!(
            "{prefix}-{}-{}",
            std::process::id(),
            hex(&random_bytes::<8>())
        ));
        match fs::DirBuilder::new().mode(0o700).create(&d) {
            Ok(()) => return Ok(d),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(io_err(
                    "cannot create a private temporary directory",
                    &d,
                    &e,
                ))
            }
        }
    }
    Err(Error::Io(format!(
        "cannot create a private temporary directory under {}",
        base.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh() -> (PathBuf, Cache) {
        let root = private_temp_dir("tgrad-cache-test").unwrap();
        let c = Cache::open(&root).unwrap();
        (root, c)
    }

    fn build_text(text: &'static str) -> impl Fn(&Path) -> Result<PathBuf> {
        move |dir: &Path| {
            let p = dir.join("out");
            fs::write(&p, text).unwrap();
            Ok(p)
        }
    }

    #[test]
    fn entries_are_built_once_and_bound_to_their_key() {
        let (root, c) = fresh();
        let a = c.entry("aa", "so", build_text("A")).unwrap();
        assert!(a.built);
        assert!(!c.entry("aa", "so", build_text("A")).unwrap().built);
        let b = c.entry("bb", "so", build_text("B")).unwrap();
        // an entry copied over another key's (with its checksum) fails and is rebuilt
        fs::copy(&a.path, &b.path).unwrap();
        fs::copy(sum_path(&a.path), sum_path(&b.path)).unwrap();
        let again = c.entry("bb", "so", build_text("B")).unwrap();
        assert!(again.built);
        assert_eq!(fs::read_to_string(&again.path).unwrap(), "B");
        // a consistent corruption (bytes flipped, plain checksum rewritten) fails too
        fs::write(&a.path, "X").unwrap();
        fs::write(sum_path(&a.path), sha256_hex(b"X")).unwrap();
        assert!(c.entry("aa", "so", build_text("A")).unwrap().built);
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn fifos_and_foreign_modes_are_replaced_not_opened() {
        let (root, c) = fresh();
        let p = c.dir().join("cc.so");
        let cpath = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(cpath.as_ptr(), 0o600) }, 0);
        assert!(c.entry("cc", "so", build_text("C")).unwrap().built);
        assert_eq!(fs::read_to_string(&p).unwrap(), "C");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o666)).unwrap();
        assert!(
            c.entry("cc", "so", build_text("C")).unwrap().built,
            "a group-writable entry is rebuilt"
        );
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn caches_others_can_write_are_refused() {
        let root = private_temp_dir("tgrad-cache-test").unwrap();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o777)).unwrap();
        let err = Cache::open(&root).err().unwrap().to_string();
        assert!(
            err.contains("writable by others") && err.contains("chmod go-w"),
            "{err}"
        );
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn unloadable_entries_are_rebuilt_once_and_stale_temporaries_removed() {
        let (root, c) = fresh();
        c.entry("dd", "so", build_text("bad")).unwrap();
        let stale = c.dir().join(".tmp-999999999-abc");
        fs::create_dir(&stale).unwrap();
        let loads = std::cell::Cell::new(0);
        let (v, e) = c
            .load("dd", "so", build_text("good"), |p| {
                loads.set(loads.get() + 1);
                let s = fs::read_to_string(p).unwrap();
                if s == "good" {
                    Ok(s)
                } else {
                    Err(Error::Runtime("cannot load".into()))
                }
            })
            .unwrap();
        assert_eq!((v.as_str(), e.built, loads.get()), ("good", true, 2));
        drop(c);
        let _c = Cache::open(&root).unwrap();
        assert!(
            !stale.exists(),
            "a dead process's build directory is removed"
        );
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn text_records_are_checksummed() {
        let (root, c) = fresh();
        c.put_text("beam", "k1", "8 6 16").unwrap();
        assert_eq!(c.get_text("beam", "k1").as_deref(), Some("8 6 16"));
        let p = root.join("beam/k1.txt");
        let s = fs::read_to_string(&p).unwrap().replace("8 6 16", "3 3 3");
        fs::write(&p, s).unwrap();
        assert_eq!(c.get_text("beam", "k1"), None);
        fs::remove_dir_all(root).unwrap();
    }
}
