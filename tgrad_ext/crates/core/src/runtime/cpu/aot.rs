//! Kernels built into the binary ahead of time: a table of (key, ISA, entry point) that the
//! binding registers at start-up. The CPU device runs a table kernel instead of compiling when
//! the rendered source's key matches and the kernel computes here what a run-time compile of
//! that source would (`usable`). How the table was built is not this module's business: it
//! only trusts that each entry point is the key's source compiled with
//! `compiler::table_kernel_flags` for its ISA.
//!
//! The key is the SHA-256 of the source with its comments removed. Comments are all that varies
//! between programs of one family (the kernel's name, its shape and the target's thread count
//! sit in the prelude's comment; sizes, strides, blocks and threads are run-time parameters), and
//! removing them is what C's translation phase 3 does before anything else reads the text: a
//! comment is one space to the compiler, so two sources with equal keys compile to the same code.

use std::sync::{Mutex, OnceLock};

use crate::abi::KernelFn;
use crate::target::VectorIsa;

use super::super::cache::sha256_hex;

/// One kernel of the table.
#[derive(Debug, Clone, Copy)]
pub struct AotKernel {
    /// `key` of the source it was compiled from.
    pub key: &'static str,
    /// The ISA its compile flags target (`VectorIsa::compile_flags`).
    pub isa: VectorIsa,
    /// Its symbol, and the family it belongs to (debug output).
    pub symbol: &'static str,
    pub family: &'static str,
    pub entry: KernelFn,
}

/// The source with every comment replaced by one space (string and character literals kept,
/// line splices inside `//` comments followed, as C reads them).
pub fn strip_comments(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (b[i], b.get(i + 1).copied()) {
            (b'/', Some(b'*')) => {
                let end = src[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2);
                out.push(b' ');
                i = end;
            }
            (b'/', Some(b'/')) => {
                i += 2;
                while i < b.len() && b[i] != b'\n' {
                    // a backslash before the newline continues the comment on the next line
                    i += if b[i] == b'\\' && b.get(i + 1) == Some(&b'\n') {
                        2
                    } else {
                        1
                    };
                }
                out.push(b' ');
            }
            (q @ (b'"' | b'\''), _) => {
                out.push(q);
                i += 1;
                while i < b.len() && b[i] != q && b[i] != b'\n' {
                    if b[i] == b'\\' && i + 1 < b.len() {
                        out.push(b[i]);
                        i += 1;
                    }
                    out.push(b[i]);
                    i += 1;
                }
                if i < b.len() {
                    out.push(b[i]);
                    i += 1;
                }
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    // only ASCII bytes were removed or inserted, at ASCII boundaries
    String::from_utf8(out).unwrap_or_default()
}

/// The key of a rendered source (see the module's comment).
pub fn key(source: &str) -> String {
    sha256_hex(strip_comments(source).as_bytes())
}

fn table() -> &'static Mutex<Vec<&'static AotKernel>> {
    static TABLE: OnceLock<Mutex<Vec<&'static AotKernel>>> = OnceLock::new();
    TABLE.get_or_init(Mutex::default)
}

/// Add kernels to the table (registering the same kernels again changes nothing).
pub fn register(kernels: &'static [AotKernel]) {
    let mut t = table()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for k in kernels {
        if !t.iter().any(|x| std::ptr::eq(*x, k)) {
            t.push(k);
        }
    }
}

/// The registered kernels.
pub fn registered() -> Vec<&'static AotKernel> {
    table()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

/// Whether a kernel built for `isa` runs here and computes what compiling its source here would:
/// the CPU executes the ISA and the table's extra instructions (`VectorIsa::table_flags`), and
/// fuses multiply-adds exactly where the kernel does (the run-time compiler contracts `a*b + c`
/// whenever the host has FMA, even for an SSE2 plan).
pub fn usable(isa: VectorIsa) -> bool {
    isa.runs_here() && isa.table_flags_run_here() && isa.has_fma() == VectorIsa::host_has_fma()
}

/// The table kernel for this rendered source, if one is usable here.
pub fn find(source: &str) -> Option<&'static AotKernel> {
    let t = table()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if t.is_empty() {
        return None;
    }
    let k = key(source);
    t.iter().copied().find(|x| x.key == k && usable(x.isa))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_go_and_code_and_literals_stay() {
        let src = "/* r_64_64_64 : cpu/avx512/2t */\nint a = 1; // note \\\n still note\nchar* s = \"/* kept */\"; int b = a/*x*/+1; char c = '/';\n";
        assert_eq!(
            strip_comments(src),
            " \nint a = 1;  \nchar* s = \"/* kept */\"; int b = a +1; char c = '/';\n"
        );
        // a comment between tokens still separates them
        assert_eq!(strip_comments("int/**/x;"), "int x;");
        assert_eq!(key("/* a */ int x;"), key("/* b, 1t */ int x;"));
        assert_ne!(key("int x = 1;"), key("int x = 2;"));
        assert_ne!(key("char* s = \"a\";"), key("char* s = \"b\";"));
    }

    unsafe extern "C" fn never(_: *const i64, _: *const *mut u8, _: *mut u8, _: i64, _: i64) {}

    #[test]
    fn kernels_for_an_isa_the_host_lacks_or_another_fma_are_never_found() {
        const SRC: &str = "/* isa test */ void tgrad_kernel(void) { /* unique 7f3a */ }";
        static KEY: OnceLock<String> = OnceLock::new();
        let key: &'static str = KEY.get_or_init(|| key(SRC));
        let entry = |isa| AotKernel {
            key,
            isa,
            symbol: "test",
            family: "test",
            entry: never,
        };
        // what this host may use, from its CPU flags: x86-64 never runs NEON, and an FMA host
        // never runs the SSE2 kernels (built without FMA); aarch64 runs only NEON
        #[cfg(target_arch = "x86_64")]
        let allowed: Vec<VectorIsa> = {
            let has = |f: &str| match f {
                "avx512f" => std::arch::is_x86_feature_detected!("avx512f"),
                "avx2" => std::arch::is_x86_feature_detected!("avx2"),
                _ => std::arch::is_x86_feature_detected!("fma"),
            };
            let mut v = vec![];
            if has("fma") {
                if has("avx512f") {
                    v.push(VectorIsa::Avx512);
                }
                if has("avx2") {
                    v.push(VectorIsa::Avx2Fma);
                }
            } else {
                v.push(VectorIsa::Sse2);
            }
            v
        };
        #[cfg(not(target_arch = "x86_64"))]
        let allowed: Vec<VectorIsa> = vec![VectorIsa::Neon];
        let foreign: Vec<VectorIsa> = [
            VectorIsa::Avx512,
            VectorIsa::Avx2Fma,
            VectorIsa::Sse2,
            VectorIsa::Neon,
        ]
        .into_iter()
        .filter(|i| !allowed.contains(i))
        .collect();
        assert!(foreign.contains(&VectorIsa::Neon) || !cfg!(target_arch = "x86_64"));
        let leaked: &'static [AotKernel] =
            Box::leak(foreign.iter().map(|&i| entry(i)).collect::<Vec<_>>().into());
        register(leaked);
        assert!(
            find(SRC).is_none(),
            "a kernel this host cannot use was found"
        );
        for (n, &isa) in allowed.iter().enumerate() {
            let own: &'static [AotKernel] = Box::leak(vec![entry(isa)].into());
            register(own);
            register(own);
            assert_eq!(find(SRC).map(|k| k.isa), Some(allowed[0]));
            assert_eq!(
                registered().iter().filter(|k| k.key == key).count(),
                foreign.len() + n + 1,
                "registering a table twice adds it once"
            );
        }
    }
}
