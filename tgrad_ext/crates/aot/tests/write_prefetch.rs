//! The table's flags make a GEMM's prefetches of C for writing PREFETCHW on x86-64's FMA ISAs,
//! as `-march=native` does on the hosts that have it: the family sources of those ISAs (each
//! tile, dtype and packing; the epilogues change no prefetch) are compiled to assembly with `table_kernel_flags`, the flags `build.rs` compiles the table with,
//! and must hold PREFETCHW and no PREFETCHT0 (the compiler's form of a write prefetch without
//! PRFCHW; the read prefetches of the next batch's operands are PREFETCHT1).

use tgrad_core::engine::aot::{Epilogue, Family};
use tgrad_core::render::{c::CRenderer, Renderer};
use tgrad_core::runtime::cpu::compiler::{table_kernel_flags, Compiler};
use tgrad_core::target::VectorIsa;

/// How many times each prefetch mnemonic occurs in `asm`.
fn count(asm: &str, mnemonic: &str) -> usize {
    asm.lines()
        .filter(|l| l.split_whitespace().next() == Some(mnemonic))
        .count()
}

#[test]
fn write_prefetches_of_the_x86_tables_are_prefetchw() {
    if std::env::consts::ARCH != "x86_64" {
        assert!(VectorIsa::Neon.table_flags().is_empty());
        return;
    }
    let cc = Compiler::c().expect("the C compiler the table is built with");
    let dir = std::env::temp_dir().join(format!("tgrad-write-prefetch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut checked = 0;
    for f in Family::all("x86_64") {
        let isa = f.isa;
        if !isa.has_fma() {
            assert!(isa.table_flags().is_empty(), "{isa:?}");
            continue;
        }
        if f.epilogue != Epilogue::None {
            continue;
        }
        let src = CRenderer.render(&f.program().unwrap());
        assert!(
            src.contains("__builtin_prefetch(c"),
            "{}: no prefetch of C in the source",
            f.name()
        );
        let (c, s) = (
            dir.join(format!("k{checked}.c")),
            dir.join(format!("k{checked}.s")),
        );
        std::fs::write(&c, &src).unwrap();
        let out = std::process::Command::new(&cc.path)
            .args(table_kernel_flags(isa))
            .args(["-fPIC", "-S", "-o"])
            .arg(&s)
            .arg(&c)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            f.name(),
            String::from_utf8_lossy(&out.stderr)
        );
        let asm = std::fs::read_to_string(&s).unwrap();
        assert!(
            count(&asm, "prefetchw") > 0 && count(&asm, "prefetcht0") == 0,
            "{} ({isa:?}): {} PREFETCHW, {} PREFETCHT0 with the table's flags {:?}",
            f.name(),
            count(&asm, "prefetchw"),
            count(&asm, "prefetcht0"),
            table_kernel_flags(isa)
        );
        checked += 1;
    }
    std::fs::remove_dir_all(&dir).ok();
    assert!(checked >= 2, "{checked} families of x86-64's FMA ISAs");
}
