//! Golden kernel text: the rendered C of representative kernels, compared with files under
//! `tests/golden/`. After an intended renderer change, rewrite them with `TGRAD_BLESS=1`.

use std::path::PathBuf;

use tgrad_core::codegen::{
    self,
    opts::{CpuTarget, VectorIsa},
};
use tgrad_core::graph::{BinaryOp, LazyRef, ReduceOp, UnaryOp};
use tgrad_core::render::{c::CRenderer, Renderer};
use tgrad_core::runtime::buffer::Buffer;
use tgrad_core::schedule::schedule;
use tgrad_core::{tensor, DType};

fn input(shape: &[usize], dtype: DType) -> LazyRef {
    let n = shape.iter().product();
    tensor::from_buffer(Buffer::new(dtype, n, true).unwrap(), shape.to_vec()).unwrap()
}

/// Render every kernel of `root` for a fixed target (AVX2, 2 threads) so the text does not
/// depend on the machine running the test.
fn rendered(root: &LazyRef) -> String {
    let target = CpuTarget {
        isa: VectorIsa::Avx2Fma,
        threads: 2,
    };
    let s = schedule(std::slice::from_ref(root)).unwrap();
    s.items
        .iter()
        .map(|i| CRenderer.render(&codegen::plan(&i.kernel, &target)))
        .collect::<Vec<_>>()
        .join("\n")
}

fn check(name: &str, text: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.c"));
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
        "rendered {name} differs from {} (run with TGRAD_BLESS=1 if the change is intended)\n--- got ---\n{text}",
        path.display()
    );
}

#[test]
fn golden_sum_reduce() {
    let x = input(&[32, 48], DType::F32);
    check(
        "sum_axis1",
        &rendered(&tensor::reduce(ReduceOp::Sum, &x, &[1], false).unwrap()),
    );
}

#[test]
fn golden_half_elementwise() {
    let (a, b) = (input(&[16, 8], DType::F16), input(&[8], DType::F16));
    check(
        "half_add_broadcast",
        &rendered(&tensor::binary(BinaryOp::Add, &a, &b).unwrap()),
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
    check(
        "linear_relu_gemm",
        &rendered(&tensor::unary(UnaryOp::Relu, &y)),
    );
}

#[test]
fn golden_half_gemm() {
    let (a, b) = (input(&[64, 64], DType::F16), input(&[64, 64], DType::F16));
    check("half_gemm", &rendered(&tensor::dot(&a, &b).unwrap()));
}
