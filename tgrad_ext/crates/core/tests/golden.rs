//! Golden text: for representative kernels, the IR (the simplified kernel AST and, for loop
//! programs, the micro-ops) and the rendered C, CUDA and Metal, compared with files under
//! `tests/golden/`. After an intended change, rewrite them with `TGRAD_BLESS=1`.

use std::path::PathBuf;

use tgrad_core::codegen::{self, uops::Listing, Program, Strategy};
use tgrad_core::graph::{BinaryOp, LazyRef, ReduceOp, UnaryOp};
use tgrad_core::render;
use tgrad_core::runtime::buffer::Buffer;
use tgrad_core::schedule::schedule;
use tgrad_core::target::{CpuTarget, GpuTarget, Target, VectorIsa};
use tgrad_core::{tensor, DType};

fn input(shape: &[usize], dtype: DType) -> LazyRef {
    let n = shape.iter().product();
    tensor::from_buffer(Buffer::new(dtype, n, true).unwrap(), shape.to_vec()).unwrap()
}

/// Fixed targets, so the text does not depend on the machine running the test.
fn targets() -> [(&'static str, Target); 3] {
    [
        ("c", Target::Cpu(CpuTarget::new(VectorIsa::Avx2Fma, 2))),
        ("cu", Target::Gpu(GpuTarget::cuda(9, 0))),
        ("metal", Target::Gpu(GpuTarget::metal())),
    ]
}

fn programs(root: &LazyRef, t: &Target) -> Vec<Program> {
    let s = schedule(std::slice::from_ref(root)).unwrap();
    s.items
        .iter()
        .map(|i| codegen::plan(&i.kernel, t).unwrap())
        .collect()
}

fn ir(p: &Program) -> String {
    let mut s = p.kernel.to_string();
    if let Strategy::Loops(l) = &p.strategy {
        s.push_str("uops\n");
        s.push_str(&Listing(&l.uops).to_string());
    }
    s
}

fn check(file: &str, text: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(file);
    if std::env::var("TGRAD_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "missing golden file {}; run with TGRAD_BLESS=1 to create it",
            path.display()
        )
    });
    assert!(
        want == text,
        "{file} differs from {} (run with TGRAD_BLESS=1 if the change is intended)\n--- got ---\n{text}",
        path.display()
    );
}

/// Every golden file of one graph: its IR, and its source for each target.
fn golden(name: &str, root: &LazyRef) {
    let join = |ps: &[Program], f: &dyn Fn(&Program) -> String| {
        ps.iter().map(f).collect::<Vec<_>>().join("\n")
    };
    for (ext, t) in targets() {
        let ps = programs(root, &t);
        if ext == "c" {
            check(&format!("{name}.ir"), &join(&ps, &ir));
        }
        check(
            &format!("{name}.{ext}"),
            &join(&ps, &|p| render::for_target(&p.target).render(p)),
        );
    }
}

#[test]
fn golden_sum_reduce() {
    let x = input(&[32, 48], DType::F32);
    golden(
        "sum_axis1",
        &tensor::reduce(ReduceOp::Sum, &x, &[1], false).unwrap(),
    );
}

#[test]
fn golden_half_elementwise() {
    let (a, b) = (input(&[16, 8], DType::F16), input(&[8], DType::F16));
    golden(
        "half_add_broadcast",
        &tensor::binary(BinaryOp::Add, &a, &b).unwrap(),
    );
}

#[test]
fn golden_max_over_dims_0_and_2() {
    let x = input(&[5, 6, 7], DType::F32);
    golden(
        "max_axes_0_2",
        &tensor::reduce(ReduceOp::Max, &x, &[0, 2], false).unwrap(),
    );
}

#[test]
fn golden_linear_relu_gemm() {
    let (x, w, b) = (
        input(&[256, 1024], DType::F32),
        input(&[1024, 1024], DType::F32),
        input(&[1024], DType::F32),
    );
    let y = tensor::binary(BinaryOp::Add, &tensor::dot(&x, &w).unwrap(), &b).unwrap();
    golden("linear_relu_gemm", &tensor::unary(UnaryOp::Relu, &y));
}

#[test]
fn golden_half_gemm() {
    let (a, b) = (input(&[64, 64], DType::F16), input(&[64, 64], DType::F16));
    golden("half_gemm", &tensor::dot(&a, &b).unwrap());
}
