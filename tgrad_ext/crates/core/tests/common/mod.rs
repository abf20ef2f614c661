//! Helpers shared by the integration tests: seeded data, an f64 reference and its error bound,
//! and running a kernel under a forced tuning.
#![allow(dead_code)] // each test binary uses its own subset

pub mod case;

use tgrad_core::codegen::cpu_gemm::{GemmOpts, Packing, Parallel};
use tgrad_core::codegen::Tuning;
use tgrad_core::graph::{BinaryOp, LazyRef, UnaryOp};
use tgrad_core::runtime::buffer::Buffer;
use tgrad_core::{engine, rng, tensor, DType};

pub fn tensor_f32(data: &[f32], shape: &[usize]) -> LazyRef {
    let bytes: Vec<u8> = data.iter().flat_map(|x| x.to_le_bytes()).collect();
    tensor::from_buffer(
        Buffer::from_bytes(DType::F32, &bytes).unwrap(),
        shape.to_vec(),
    )
    .unwrap()
}

pub fn read_f32(x: &LazyRef) -> Vec<f32> {
    engine::realize(std::slice::from_ref(x)).unwrap();
    f32s(&x.buffer().expect("realized").to_vec().unwrap())
}

pub fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

pub fn random(n: usize) -> Vec<f32> {
    rng::normal(n).into_iter().map(|x| x as f32).collect()
}

/// (..., m, k) @ (..., k, n) in f64 with row-major data.
pub fn reference(a: &[f32], b: &[f32], batch: usize, m: usize, k: usize, n: usize) -> Vec<f64> {
    let mut out = vec![0f64; batch * m * n];
    for z in 0..batch {
        for i in 0..m {
            for j in 0..n {
                out[z * m * n + i * n + j] = (0..k)
                    .map(|p| {
                        f64::from(a[z * m * k + i * k + p]) * f64::from(b[z * k * n + p * n + j])
                    })
                    .sum();
            }
        }
    }
    out
}

pub fn check(got: &[f32], want: &[f64], absprod: &[f64], k: usize) {
    assert_eq!(got.len(), want.len());
    let u = 2f64.powi(-24);
    for (i, ((&g, &w), &ap)) in got.iter().zip(want).zip(absprod).enumerate() {
        let bound = (k as f64 * u / (1.0 - k as f64 * u)) * ap + 1e-30;
        assert!(
            (f64::from(g) - w).abs() <= bound,
            "element {i}: got {g}, want {w}, bound {bound}"
        );
    }
}

pub fn abs_ref(a: &[f32], b: &[f32], batch: usize, m: usize, k: usize, n: usize) -> Vec<f64> {
    let aa: Vec<f32> = a.iter().map(|x| x.abs()).collect();
    let bb: Vec<f32> = b.iter().map(|x| x.abs()).collect();
    reference(&aa, &bb, batch, m, k, n)
}

/// Run the single kernel of `c` with a forced tuning and read its output.
pub fn run_tuned(c: &LazyRef, tuning: &str) -> Vec<f32> {
    use tgrad_core::codegen::{self, Strategy, Tuning};
    use tgrad_core::schedule::schedule;
    let sched = schedule(std::slice::from_ref(c)).unwrap();
    assert_eq!(sched.items.len(), 1, "one fused kernel");
    let item = &sched.items[0];
    let engine = engine::cpu();
    let t = Tuning::parse(tuning).unwrap();
    let program = codegen::plan_tuned(&item.kernel, &engine.target(), Some(&t)).unwrap();
    assert!(
        matches!(program.strategy, Strategy::Gemm(_)),
        "planned as a GEMM"
    );
    engine::launch_quiet(&engine.launch_for(&program, item).unwrap()).unwrap();
    f32s(&item.bufs[0].to_vec().unwrap())
}

/// relu(A @ B + bias) on seeded random data (A optionally stored transposed), with its f64
/// reference: what the tuning tests below run under every forced tuning.
pub struct LinearRelu {
    pub y: LazyRef,
    shape: (usize, usize, usize, usize),
    transpose_a: bool,
    bias: Vec<f32>,
    want: Vec<f64>,
    absprod: Vec<f64>,
}

impl LinearRelu {
    pub fn new(batch: usize, m: usize, k: usize, n: usize, transpose_a: bool) -> LinearRelu {
        let (a, b, bias) = (random(batch * m * k), random(batch * k * n), random(n));
        let bdims = |x: usize, y: usize| {
            if batch > 1 {
                vec![batch, x, y]
            } else {
                vec![x, y]
            }
        };
        // a transposed A is stored (k, m) and viewed as (m, k): same values, column-major
        let at = if transpose_a {
            let mut t = vec![0f32; m * k];
            for i in 0..m {
                for p in 0..k {
                    t[p * m + i] = a[i * k + p];
                }
            }
            tensor::transpose(&tensor_f32(&t, &[k, m]), 0, 1).unwrap()
        } else {
            tensor_f32(&a, &bdims(m, k))
        };
        let y = tensor::dot(&at, &tensor_f32(&b, &bdims(k, n))).unwrap();
        let y = tensor::unary(
            UnaryOp::Relu,
            &tensor::binary(BinaryOp::Add, &y, &tensor_f32(&bias, &[n])).unwrap(),
        );
        LinearRelu {
            y,
            shape: (batch, m, k, n),
            transpose_a,
            want: reference(&a, &b, batch, m, k, n),
            absprod: abs_ref(&a, &b, batch, m, k, n),
            bias,
        }
    }

    /// Run under a forced tuning and check every element against the reference.
    pub fn check_tuned(&self, tuning: &str) {
        let (batch, m, k, n) = self.shape;
        let u = 2f64.powi(-24);
        let got = run_tuned(&self.y, tuning);
        for (i, &g) in got.iter().enumerate() {
            let bj = f64::from(self.bias[i % n]);
            let w = (self.want[i] + bj).max(0.0);
            let bound = (k as f64 + 1.0) * u * (self.absprod[i] + bj.abs()) * 1.01;
            assert!(
                (f64::from(g) - w).abs() <= bound,
                "{batch}x{m}x{k}x{n} transposed={} tuning '{tuning}' element {i}: {g} vs {w}",
                self.transpose_a
            );
        }
    }
}

/// A GEMM tuning for the sweeps: register tile MR x (NV vectors of VW), KC, cache blocks of two
/// tiles, and the thread split (threads, M chunks, N chunks, parallel mode).
pub fn tuning(
    vw: usize,
    (mr, nv): (usize, usize),
    kc: usize,
    packing: Packing,
    split: (usize, usize, usize, Parallel),
) -> Tuning {
    let (threads, mchunks, nchunks, parallel) = split;
    Tuning {
        opts: GemmOpts {
            vw,
            mr,
            nr: nv * vw,
            kc,
            mc: 2 * mr,
            nc: 2 * nv * vw,
        },
        threads,
        mchunks,
        nchunks,
        packing,
        parallel,
    }
}
