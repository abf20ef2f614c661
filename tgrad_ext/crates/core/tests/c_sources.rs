//! The static parts of the CPU GEMM (`src/render/c/*.c`) are real C files: each compiles on its
//! own against the header a plan generates (`tg_gemm.h`), for plans that switch their optional
//! paths on and off (in-place reads, the vector path, the 8x8 transposed packing, half inputs).

use std::path::PathBuf;
use std::process::Command;

use tgrad_core::codegen::{self, Tuning};
use tgrad_core::graph::{BinaryOp, LazyRef, UnaryOp};
use tgrad_core::render::c::gemm_header_file;
use tgrad_core::runtime::buffer::Buffer;
use tgrad_core::runtime::cache::private_temp_dir;
use tgrad_core::runtime::cpu::compiler::{kernel_flags, DEFAULT_COPT};
use tgrad_core::runtime::cpu::Compiler;
use tgrad_core::schedule::schedule;
use tgrad_core::target::{CpuTarget, Target, VectorIsa};
use tgrad_core::{tensor, DType};

fn input(shape: &[usize], dtype: DType) -> LazyRef {
    let n = shape.iter().product();
    tensor::from_buffer(Buffer::new(dtype, n, true).unwrap(), shape.to_vec()).unwrap()
}

fn compile_alone(header: &str, label: &str) {
    let cc = Compiler::c().expect("a C compiler");
    let dir = private_temp_dir("tgrad-c-sources").unwrap();
    std::fs::write(dir.join("tg_gemm.h"), header).unwrap();
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/render/c");
    for file in ["sync.c", "pack.c", "vector.c", "blis.c"] {
        let out = Command::new(&cc.path)
            .args([
                "-fsyntax-only",
                "-std=gnu11",
                "-march=native",
                "-Wall",
                "-Wno-unused-function",
            ])
            .arg("-I")
            .arg(&dir)
            .arg(src.join(file))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{file} does not compile on its own against the header of {label}:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn each_static_source_compiles_on_its_own() {
    let t = Target::Cpu(CpuTarget::new(VectorIsa::Avx2Fma, 2));
    let (x, w, b) = (
        input(&[64, 96], DType::F32),
        input(&[96, 80], DType::F32),
        input(&[80], DType::F32),
    );
    let linear = tensor::unary(
        UnaryOp::Relu,
        &tensor::binary(BinaryOp::Add, &tensor::dot(&x, &w).unwrap(), &b).unwrap(),
    );
    let half = tensor::dot(&input(&[64, 64], DType::F16), &input(&[64, 64], DType::F16)).unwrap();
    let cases: [(&str, &LazyRef, Option<&str>); 4] = [
        ("f32 in place", &linear, Some("8 6 16 96 48 4096 2 1 1 1 0")),
        (
            "f32 packed, 8x8 transposes",
            &linear,
            Some("8 6 16 96 48 4096 2 1 1 0 2"),
        ),
        (
            "f32 MR=3, no transposes",
            &linear,
            Some("8 3 16 96 48 4096 1 1 1 0 0"),
        ),
        ("half", &half, None),
    ];
    for (label, root, tuning) in cases {
        let s = schedule(std::slice::from_ref(root)).unwrap();
        let tuning = tuning.map(|t| Tuning::parse(t).unwrap());
        let p = codegen::plan_tuned(&s.items[0].kernel, &t, tuning.as_ref()).unwrap();
        compile_alone(&gemm_header_file(&p).expect("a GEMM"), label);
    }
}

/// The run-time compiler's flags keep an AVX-512 GEMM's vector operations 512 bits wide. Compiled
/// for an Intel CPU with AVX-512 (`-march=sapphirerapids` in place of `-march=native`: the same
/// tuning a run on such a host gets, checked on any x86-64 host), clang's tuning prefers 256-bit
/// vectors and splits the kernel's 512-bit FMAs into 256-bit pairs unless `VectorIsa::vector_flags`
/// says otherwise: half the FMA rate of two 512-bit FMA units.
#[test]
#[cfg(target_arch = "x86_64")]
fn avx512_gemm_fmas_stay_512_bits_wide_under_intel_tuning() {
    let cc = Compiler::c().expect("a C compiler");
    let t = Target::Cpu(CpuTarget::new(VectorIsa::Avx512, 2));
    let y = tensor::dot(
        &input(&[512, 512], DType::F32),
        &input(&[512, 512], DType::F32),
    )
    .unwrap();
    let s = schedule(&[y]).unwrap();
    let p = codegen::plan_tuned(&s.items[0].kernel, &t, None).unwrap();
    let dir = private_temp_dir("tgrad-c-sources").unwrap();
    let (src, asm) = (dir.join("gemm.c"), dir.join("gemm.s"));
    std::fs::write(&src, tgrad_core::engine::render(&p)).unwrap();
    let flags = kernel_flags(DEFAULT_COPT, VectorIsa::Avx512);
    let flags = flags.iter().filter(|f| **f != "-shared").map(|&f| {
        if f == "-march=native" {
            "-march=sapphirerapids"
        } else {
            f
        }
    });
    let out = Command::new(&cc.path)
        .args(flags)
        .args(["-S", "-o"])
        .arg(&asm)
        .arg(&src)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&asm).unwrap();
    std::fs::remove_dir_all(dir).unwrap();
    let fmas = |reg: &str| {
        text.lines()
            .filter(|l| l.trim_start().starts_with("vfmadd") && l.contains(reg))
            .count()
    };
    let (wide, narrow) = (fmas("%zmm"), fmas("%ymm"));
    assert!(
        wide > 0 && narrow * 10 <= wide,
        "{} with {:?}: {wide} 512-bit and {narrow} 256-bit FMAs; the microkernel's FMAs must be 512-bit",
        cc.path,
        kernel_flags(DEFAULT_COPT, VectorIsa::Avx512)
    );
}
