//! Rounding depth D (`CpuGemm::rounding_depth`): hand-computed for each path of the template, and
//! its bound gamma_D |A||B| respected by computed results, for random operands and for ones
//! whose partial sums round the same way (whose error a depth of D / 16 would not bound).

use tgrad_core::codegen::cpu_gemm::{GemmOpts, Packing, Parallel};
use tgrad_core::codegen::{self, GemmSchedule, Program, Strategy, Tuning};
use tgrad_core::graph::LazyRef;
use tgrad_core::runtime::buffer::Buffer;
use tgrad_core::schedule::{schedule, ScheduleItem};
use tgrad_core::target::{CpuTarget, Target, VectorIsa};
use tgrad_core::{engine, rng, tensor, DType};

const U32: f64 = 1.0 / (1u64 << 24) as f64;

fn gamma(d: usize, u: f64) -> f64 {
    d as f64 * u / (1.0 - d as f64 * u)
}

fn target() -> Target {
    Target::Cpu(CpuTarget::new(VectorIsa::Sse2, 2))
}

/// (vw, mr, nv, kc, packing, threads, mchunks, nchunks, parallel) on SSE2 (runs on every x86-64).
fn tuning(
    mr: usize,
    kc: usize,
    packing: Packing,
    split: (usize, usize, usize, Parallel),
) -> Tuning {
    let (threads, mchunks, nchunks, parallel) = split;
    Tuning {
        opts: GemmOpts {
            vw: 4,
            mr,
            nr: 8,
            kc,
            mc: 4 * mr,
            nc: 64,
        },
        threads,
        mchunks,
        nchunks,
        packing,
        parallel,
    }
}

struct Run {
    program: Program,
    item: ScheduleItem,
    a: Vec<f32>,
    b: Vec<f32>,
    dims: (usize, usize, usize),
}

/// C = A @ B, f32, A (m x k) row-major, B (k x n) row-major or stored transposed.
fn run(
    a: Vec<f32>,
    b: Vec<f32>,
    (m, k, n): (usize, usize, usize),
    b_t: bool,
    t: &Tuning,
) -> (Run, Vec<f32>) {
    let buf = |v: &[f32]| {
        Buffer::from_bytes(
            DType::F32,
            &v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<_>>(),
        )
        .unwrap()
    };
    let an = tensor::from_buffer(buf(&a), vec![m, k]).unwrap();
    let bn: LazyRef = if b_t {
        let mut bt = vec![0f32; k * n];
        for l in 0..k {
            for j in 0..n {
                bt[j * k + l] = b[l * n + j];
            }
        }
        tensor::transpose(&tensor::from_buffer(buf(&bt), vec![n, k]).unwrap(), -1, -2).unwrap()
    } else {
        tensor::from_buffer(buf(&b), vec![k, n]).unwrap()
    };
    let root = tensor::dot(&an, &bn).unwrap();
    let s = schedule(std::slice::from_ref(&root)).unwrap();
    let item = s.items.into_iter().next().unwrap();
    let program = codegen::plan_tuned(&item.kernel, &target(), Some(t)).unwrap();
    let launch = engine::cpu().launch_for(&program, &item).unwrap();
    engine::launch_quiet(&launch).unwrap();
    let bytes = item.bufs[0].to_vec().unwrap();
    let got = bytes
        .chunks(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    (
        Run {
            program,
            item,
            a,
            b,
            dims: (m, k, n),
        },
        got,
    )
}

fn depth(r: &Run) -> usize {
    let Strategy::Gemm(g) = &r.program.strategy else {
        panic!("not a GEMM")
    };
    let GemmSchedule::Cpu(cpu) = &g.schedule else {
        panic!("not a CPU GEMM")
    };
    cpu.rounding_depth(&g.c)
}

/// The largest error / (|A||B| u) over the outputs: the observed rounding depth, at most D.
fn observed(r: &Run, got: &[f32]) -> f64 {
    let (m, k, n) = r.dims;
    let _ = &r.item;
    let mut worst: f64 = 0.0;
    for i in 0..m {
        for j in 0..n {
            let (mut exact, mut scale) = (0f64, 0f64);
            for l in 0..k {
                let p = f64::from(r.a[i * k + l]) * f64::from(r.b[l * n + j]);
                exact += p;
                scale += p.abs();
            }
            // the float64 reference's own error is at most gamma_K(2^-53) |A||B|
            let oracle = gamma(k, U32 / (1u64 << 29) as f64) * scale;
            let err = ((f64::from(got[i * n + j]) - exact).abs() - oracle).max(0.0);
            if scale > 0.0 {
                worst = worst.max(err / (scale * U32));
            }
        }
    }
    worst
}

#[test]
fn depth_of_each_path_by_hand() {
    let ones = |c| vec![1f32; c];
    // blocked: K = 777 in blocks of 256 (balanced to 259): 259 + 3 - 1
    let (r, _) = run(
        ones(8 * 777),
        ones(777 * 16),
        (8, 777, 16),
        false,
        &tuning(4, 256, Packing::Both, (1, 1, 1, Parallel::Chunks)),
    );
    assert_eq!(depth(&r), 259 + 3 - 1);
    // in-place tiles: one block of K
    let (r, _) = run(
        ones(8 * 300),
        ones(300 * 16),
        (8, 300, 16),
        false,
        &tuning(4, 64, Packing::Neither, (1, 1, 1, Parallel::Chunks)),
    );
    assert_eq!(depth(&r), 300);
    // one output row, B row-major: axpys, 40 / 4 + 3 + 0
    let (r, _) = run(
        ones(40),
        ones(40 * 16),
        (1, 40, 16),
        false,
        &tuning(4, 16, Packing::Both, (1, 1, 1, Parallel::Chunks)),
    );
    assert_eq!(depth(&r), 13);
    // one output row, B transposed (contiguous along K): dots, 40 / 8 + 4 + 0
    let (r, _) = run(
        ones(40),
        ones(40 * 16),
        (1, 40, 16),
        true,
        &tuning(4, 16, Packing::Both, (1, 1, 1, Parallel::Chunks)),
    );
    assert_eq!(depth(&r), 40 / 8 + 4);
    // a chunk grid leaving a single row to one chunk takes the vector path there: 5 rows in
    // chunks of 4 + 1
    let (r, _) = run(
        ones(5 * 40),
        ones(40 * 16),
        (5, 40, 16),
        false,
        &tuning(4, 8, Packing::Both, (2, 2, 1, Parallel::Chunks)),
    );
    assert_eq!(
        depth(&r),
        13,
        "max of blocked (8 + 5 - 1) and the last chunk's row (13)"
    );
}

#[test]
fn results_respect_gamma_d_and_sharper_depths_fail() {
    rng::manual_seed(7);
    let (m, k, n) = (12, 2048, 16);
    let mut worst_ratio: f64 = 0.0;
    for (mr, kc, packing, split) in [
        (4, 64, Packing::Both, (1, 1, 1, Parallel::Chunks)),
        (4, 256, Packing::Both, (2, 2, 1, Parallel::Chunks)),
        (3, 128, Packing::BOnly, (2, 1, 1, Parallel::Barrier)),
        (6, 512, Packing::Both, (2, 3, 1, Parallel::Shared)),
    ] {
        let t = tuning(mr, kc, packing, split);
        // random operands
        let a: Vec<f32> = rng::normal(m * k).into_iter().map(|x| x as f32).collect();
        let b: Vec<f32> = rng::normal(k * n).into_iter().map(|x| x as f32).collect();
        let (r, got) = run(a, b, (m, k, n), false, &t);
        let d = depth(&r);
        assert!(d < k / 3, "{}: D = {d} is far below K = {k}", t.encode());
        let obs = observed(&r, &got);
        assert!(
            obs <= d as f64 * (1.0 + 1e-9),
            "{}: error of depth {obs:.1} above D = {d}",
            t.encode()
        );
        // products all 1.1f (partial sums round the same way): the error grows with the chain
        // length, past what a sixteenth of D allows
        let a = vec![1.1f32; m * k];
        let b = vec![1f32; k * n];
        let (r, got) = run(a, b, (m, k, n), false, &t);
        let obs = observed(&r, &got);
        assert!(
            obs <= d as f64 * (1.0 + 1e-9),
            "{}: error of depth {obs:.1} above D = {d}",
            t.encode()
        );
        worst_ratio = worst_ratio.max(obs / d as f64);
    }
    assert!(
        worst_ratio > 1.0 / 16.0,
        "adversarial errors reach only {worst_ratio:.3} D"
    );
}
