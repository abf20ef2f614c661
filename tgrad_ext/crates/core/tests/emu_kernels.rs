//! Kernels rendered by the CUDA and Metal renderers, run on the emulator (runtime/emu) and
//! judged against f64 references within their rounding-error bounds, in every schedule order
//! (forward, reverse, seeded random; results must be bitwise equal): GEMMs at edge sizes on the
//! SIMT and tensor-core / simdgroup paths, transposed, batched and broadcast operands, the
//! bias + relu epilogue, reductions (with NaN) and elementwise loops.

#![allow(clippy::float_cmp)] // exact results are what these tests check

mod emu_support;

use emu_support::{in_every_order, input, values, Gemm};
use tgrad_core::graph::{BinaryOp, ReduceOp, UnaryOp};
use tgrad_core::runtime::emu::{BuildOptions, Dialect, EmuProgram};
use tgrad_core::{dtype, engine, tensor, DType, Error};

const DIALECTS: [Dialect; 2] = [Dialect::Cuda, Dialect::Metal];
const EDGES: [(usize, usize, usize); 6] = [
    (1, 1, 1),
    (3, 1, 17),
    (17, 3, 1),
    (127, 129, 17),
    (129, 17, 127),
    (1, 129, 3),
];

fn edges(dt: DType) {
    for d in DIALECTS {
        for (m, k, n) in EDGES {
            Gemm::new(dt, m, k, n).check(d);
        }
    }
}

#[test]
fn f32_gemm_edges() {
    edges(DType::F32);
}

#[test]
fn f16_gemm_edges_on_tensor_cores_and_simdgroups() {
    edges(DType::F16);
}

#[test]
fn f64_gemm_on_cuda() {
    for (m, k, n) in [(1, 1, 1), (33, 17, 9), (129, 65, 130)] {
        Gemm::new(DType::F64, m, k, n).check(Dialect::Cuda);
    }
}

#[test]
fn metal_has_no_double() {
    let (a, _) = input(DType::F64, &[4, 4]);
    let y = tensor::dot(&a, &a).unwrap();
    let err = emu_support::realize(&[y], Dialect::Metal, emu_support::ORDERS[0]).unwrap_err();
    assert!(
        matches!(&err, Error::CompileFailed { log, .. } if log.contains("Metal has no double")),
        "{err}"
    );
}

#[test]
fn transposed_operands() {
    for dt in [DType::F32, DType::F16] {
        for d in DIALECTS {
            for (ta, tb) in [(true, false), (false, true), (true, true)] {
                // odd sizes read element by element, multiples of 8 with 16-byte vectors
                for (m, k, n) in [(130, 67, 129), (136, 64, 72)] {
                    Gemm {
                        ta,
                        tb,
                        ..Gemm::new(dt, m, k, n)
                    }
                    .check(d);
                }
            }
        }
    }
}

#[test]
fn batched_and_broadcast_operands() {
    for dt in [DType::F32, DType::F16] {
        for d in DIALECTS {
            Gemm {
                batch: 5,
                ..Gemm::new(dt, 33, 70, 9)
            }
            .check(d);
            Gemm {
                batch: 3,
                broadcast_b: true,
                ..Gemm::new(dt, 17, 129, 65)
            }
            .check(d);
            Gemm {
                batch: 2,
                ta: true,
                broadcast_b: true,
                ..Gemm::new(dt, 40, 3, 130)
            }
            .check(d);
        }
    }
}

#[test]
fn batches_past_the_grid_stride_over_grid_z() {
    // the CUDA GEMM covers batches beyond gridDim.z (at most 65535 blocks) by striding
    for dt in [DType::F32, DType::F16] {
        let g = Gemm {
            batch: 5,
            bias_relu: true,
            ..Gemm::new(dt, 40, 24, 33)
        };
        let (make, want, abs) = g.setup();
        for z in [1, 2] {
            let y = make();
            let run = tgrad_core::runtime::emu::RunOptions::default();
            emu_support::realize_regrid(
                std::slice::from_ref(&y),
                Dialect::Cuda,
                &run,
                BuildOptions::default(),
                &|s| s,
                &|[x, y, _]| [x, y, z],
            )
            .unwrap();
            let what = format!("{g:?} over {z} grid z");
            emu_support::check_close(&values(&y), &want, &abs, g.k, DType::F32, dt, &what);
        }
    }
}

#[test]
fn bias_relu_epilogue() {
    for dt in [DType::F32, DType::F16] {
        for d in DIALECTS {
            Gemm {
                bias_relu: true,
                ..Gemm::new(dt, 129, 127, 131)
            }
            .check(d);
            Gemm {
                bias_relu: true,
                batch: 2,
                ..Gemm::new(dt, 3, 17, 1)
            }
            .check(d);
        }
    }
}

#[test]
fn sum_reduction_within_its_bound() {
    let (m, n) = (33, 777);
    let (x, xv) = input(DType::F32, &[m, n]);
    for d in DIALECTS {
        let y = in_every_order(
            &|| tensor::reduce(ReduceOp::Sum, &x, &[1], false).unwrap(),
            d,
            "sum(axis=1)",
        );
        for (i, g) in values(&y).into_iter().enumerate() {
            let row = &xv[i * n..(i + 1) * n];
            let want: f64 = row.iter().sum();
            let bound = n as f64 * 2f64.powi(-24) * row.iter().map(|v| v.abs()).sum::<f64>();
            assert!((g - want).abs() <= bound, "{d:?} row {i}: {g} vs {want}");
        }
    }
}

#[test]
fn max_reduction_keeps_nan() {
    let (m, n) = (9, 300);
    let (x, xv) = input(DType::F32, &[m, n]);
    // a NaN in row 5 (the buffer is the realized input's own storage)
    let buf = x.buffer().unwrap();
    let nan_at = 5 * n + 123;
    let mut raw = buf.to_vec().unwrap();
    raw[nan_at * 4..nan_at * 4 + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    buf.copy_from(&raw).unwrap();
    for d in DIALECTS {
        let rows = in_every_order(
            &|| tensor::reduce(ReduceOp::Max, &x, &[1], false).unwrap(),
            d,
            "max(axis=1)",
        );
        for (i, g) in values(&rows).into_iter().enumerate() {
            if i == 5 {
                assert!(g.is_nan(), "{d:?}: row 5 holds a NaN, max gave {g}");
            } else {
                let want = xv[i * n..(i + 1) * n]
                    .iter()
                    .copied()
                    .fold(f64::MIN, f64::max);
                assert_eq!(g, want, "{d:?} row {i}");
            }
        }
        let all = in_every_order(
            &|| tensor::reduce(ReduceOp::Max, &x, &[0, 1], false).unwrap(),
            d,
            "max()",
        );
        assert!(
            values(&all)[0].is_nan(),
            "{d:?}: the full max keeps the NaN"
        );
    }
    let (h, hv) = input(DType::F16, &[1000]);
    for d in DIALECTS {
        let y = in_every_order(
            &|| tensor::reduce(ReduceOp::Max, &h, &[0], false).unwrap(),
            d,
            "half max",
        );
        assert_eq!(
            values(&y)[0],
            hv.iter().copied().fold(f64::MIN, f64::max),
            "{d:?}"
        );
    }
}

#[test]
fn elementwise_loops_match_the_cpu_engine() {
    let (a, av) = input(DType::F16, &[3, 50, 7]);
    let (b, bv) = input(DType::F32, &[50, 1]);
    // -(a * b) in f32, rounded once to half
    let make = || {
        let y = tensor::binary(BinaryOp::Mul, &a, &b).unwrap();
        tensor::cast(&tensor::unary(UnaryOp::Neg, &y), DType::F16)
    };
    let want: Vec<f64> = (0..av.len())
        .map(|i| {
            let x = -((av[i] as f32) * (bv[(i / 7) % 50] as f32));
            f64::from(dtype::f16_bits_to_f32(dtype::f32_to_f16_bits(x)))
        })
        .collect();
    let relu = || {
        let two = tensor::constant(2.0, DType::F16, vec![3, 50, 7]).unwrap();
        let y = tensor::binary(BinaryOp::Mul, &a, &two).unwrap();
        let one = tensor::constant(1.0, DType::F16, vec![3, 50, 7]).unwrap();
        tensor::unary(
            UnaryOp::Relu,
            &tensor::binary(BinaryOp::Add, &y, &one).unwrap(),
        )
    };
    let cpu = relu();
    engine::cpu().realize(std::slice::from_ref(&cpu)).unwrap();
    for d in DIALECTS {
        assert_eq!(values(&in_every_order(&make, d, "-(a*b)")), want, "{d:?}");
        assert_eq!(
            emu_support::bytes(&in_every_order(&relu, d, "relu(2a+1)")),
            emu_support::bytes(&cpu),
            "{d:?} relu(2a + 1) against the CPU engine"
        );
    }
}

#[test]
fn loops_stride_past_the_grid() {
    // grid-stride loops: one block (threadgroup) covers every output
    let (x, xv) = input(DType::F32, &[37, 300]);
    for d in DIALECTS {
        let y = tensor::reduce(ReduceOp::Sum, &x, &[1], false).unwrap();
        let neg = tensor::unary(UnaryOp::Neg, &x);
        let run = tgrad_core::runtime::emu::RunOptions::default();
        emu_support::realize_regrid(
            &[y.clone(), neg.clone()],
            d,
            &run,
            BuildOptions::default(),
            &|s| s,
            &|_| [1, 1, 1],
        )
        .unwrap();
        for (i, g) in values(&y).into_iter().enumerate() {
            let row = &xv[i * 300..(i + 1) * 300];
            let bound = 300.0 * 2f64.powi(-24) * row.iter().map(|v| v.abs()).sum::<f64>();
            assert!(
                (g - row.iter().sum::<f64>()).abs() <= bound,
                "{d:?} row {i}"
            );
        }
        assert_eq!(
            values(&neg),
            xv.iter().map(|v| -v).collect::<Vec<_>>(),
            "{d:?}"
        );
    }
}

#[test]
fn one_program_serves_every_shape_of_a_kernel() {
    // the renderers name the shape in a comment; the emulator compiles the text without it
    let source = |m: usize| {
        let (a, _) = input(DType::F32, &[m, 8]);
        let (b, _) = input(DType::F32, &[8, m]);
        let p = emu_support::plan(&[tensor::dot(&a, &b).unwrap()], Dialect::Cuda);
        emu_support::render(&p[0], Dialect::Cuda)
    };
    let (s1, s2) = (source(16), source(40));
    assert_ne!(
        s1, s2,
        "the sources differ (in the comment naming the shape)"
    );
    let build = |s: &str| EmuProgram::build(s, Dialect::Cuda, &BuildOptions::default()).unwrap();
    assert_eq!(build(&s1).library_path(), build(&s2).library_path());
}

#[test]
fn a_256_cube_gemm_runs_on_one_core_in_well_under_two_seconds() {
    let one_core = tgrad_core::runtime::emu::RunOptions {
        threads: 1,
        ..Default::default()
    };
    for dt in [DType::F32, DType::F16] {
        for d in DIALECTS {
            let (make, want, abs) = Gemm::new(dt, 256, 256, 256).setup();
            let mut times = vec![];
            // the first run compiles the program (or loads it from the cache); the second is warm
            for _ in 0..2 {
                let y = make();
                let t = std::time::Instant::now();
                emu_support::realize_with(
                    std::slice::from_ref(&y),
                    d,
                    &one_core,
                    BuildOptions::default(),
                    &|s| s,
                )
                .unwrap();
                times.push(t.elapsed());
                emu_support::check_close(&values(&y), &want, &abs, 256, DType::F32, dt, "256^3");
            }
            eprintln!(
                "256^3 {dt:?} on {d:?}, one core: first {:?}, warm {:?}",
                times[0], times[1]
            );
            assert!(
                times[1].as_secs_f64() < 2.0,
                "{dt:?} on {d:?}: {:?}",
                times[1]
            );
        }
    }
}
