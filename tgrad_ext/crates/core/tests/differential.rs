//! Differential tests: the engine against a plain f64 reference, at awkward sizes, seeded.

mod common;

use common::{abs_ref, check, random, read_f32, reference, run_tuned, tensor_f32, LinearRelu};
use tgrad_core::graph::{BinaryOp, UnaryOp};
use tgrad_core::{rng, tensor, DType};

macro_rules! matmul_case {
    ($name:ident, $batch:expr, $m:expr, $k:expr, $n:expr) => {
        #[test]
        fn $name() {
            let (batch, m, k, n) = ($batch, $m, $k, $n);
            rng::manual_seed((batch * 1_000_003 + m * 1009 + k * 31 + n) as u64);
            let (a, b) = (random(batch * m * k), random(batch * k * n));
            let shape = |r: usize, c: usize| {
                if batch == 1 {
                    vec![r, c]
                } else {
                    vec![batch, r, c]
                }
            };
            let ta = tensor_f32(&a, &shape(m, k));
            let tb = tensor_f32(&b, &shape(k, n));
            let out = read_f32(&tensor::dot(&ta, &tb).unwrap());
            check(
                &out,
                &reference(&a, &b, batch, m, k, n),
                &abs_ref(&a, &b, batch, m, k, n),
                k,
            );
        }
    };
}

matmul_case!(gemm_1x1x1, 1, 1, 1, 1);
matmul_case!(gemm_3x50x7, 1, 3, 50, 7);
matmul_case!(gemm_64, 1, 64, 64, 64);
matmul_case!(gemm_127x129x131, 1, 127, 129, 131);
matmul_case!(gemm_300x783x17, 1, 300, 783, 17);
matmul_case!(gemv_1x257x300, 1, 1, 257, 300);
matmul_case!(bmm_5x33x65x17, 5, 33, 65, 17);
matmul_case!(matvec_300x257x1, 1, 300, 257, 1);
matmul_case!(gemm_coop_k_blocks_200x600x300, 1, 200, 600, 300);
matmul_case!(bvm_3x1x130x70, 3, 1, 130, 70);

/// One output row against a transposed (K-contiguous) matrix: the dot-product path.
#[test]
fn row_times_transposed_matrix() {
    rng::manual_seed(5);
    let (k, n) = (300, 41);
    let (a, bt) = (random(k), random(n * k)); // bt stored (n, k)
    let tb = tensor::transpose(&tensor_f32(&bt, &[n, k]), 0, 1).unwrap();
    let got = read_f32(&tensor::dot(&tensor_f32(&a, &[1, k]), &tb).unwrap());
    let b: Vec<f32> = (0..k * n).map(|i| bt[(i % n) * k + i / n]).collect();
    check(
        &got,
        &reference(&a, &b, 1, 1, k, n),
        &abs_ref(&a, &b, 1, 1, k, n),
        k,
    );
}

#[test]
fn transposed_operands_and_fused_epilogue() {
    rng::manual_seed(7);
    let (m, k, n) = (37, 300, 29);
    let at = random(k * m); // stored (k, m), used transposed
    let b = random(k * n);
    let bias = random(n);
    let ta = tensor::transpose(&tensor_f32(&at, &[k, m]), 0, 1).unwrap();
    let y = tensor::dot(&ta, &tensor_f32(&b, &[k, n])).unwrap();
    let y = tensor::binary(BinaryOp::Add, &y, &tensor_f32(&bias, &[n])).unwrap();
    let y = tensor::unary(UnaryOp::Relu, &y);
    let got = read_f32(&y);
    let a: Vec<f32> = (0..m * k).map(|i| at[(i % k) * m + i / k]).collect();
    let want = reference(&a, &b, 1, m, k, n);
    for i in 0..m {
        for j in 0..n {
            let w = (want[i * n + j] + f64::from(bias[j])).max(0.0);
            let g = f64::from(got[i * n + j]);
            assert!(
                (g - w).abs() <= 1e-4 * (1.0 + w.abs()),
                "({i},{j}): {g} vs {w}"
            );
        }
    }
}

#[test]
fn elementwise_and_reduce_kernels() {
    let x = tensor_f32(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    let s = tensor::reduce(tgrad_core::graph::ReduceOp::Sum, &x, &[1], false).unwrap();
    assert_eq!(read_f32(&s), vec![6.0, 15.0]);
    let t = tensor::transpose(&x, 0, 1).unwrap();
    let c = tensor::contiguous(
        &tensor::binary(
            BinaryOp::Mul,
            &t,
            &tensor::constant(2.0, DType::F32, vec![]).unwrap(),
        )
        .unwrap(),
    );
    assert_eq!(read_f32(&c), vec![2.0, 8.0, 4.0, 10.0, 6.0, 12.0]);
}

/// Row-major small operands are read in place (edge tiles shift back and overlap their neighbours); the
/// bias + relu epilogue must be applied on both.
#[test]
fn unpacked_small_gemm_with_epilogue() {
    rng::manual_seed(11);
    let (m, k, n) = (50, 70, 45); // edges in both M and N
    let (a, b, bias) = (random(m * k), random(k * n), random(n));
    let y = tensor::dot(&tensor_f32(&a, &[m, k]), &tensor_f32(&b, &[k, n])).unwrap();
    let y = tensor::unary(
        UnaryOp::Relu,
        &tensor::binary(BinaryOp::Add, &y, &tensor_f32(&bias, &[n])).unwrap(),
    );
    let got = read_f32(&y);
    let want = reference(&a, &b, 1, m, k, n);
    let absprod = abs_ref(&a, &b, 1, m, k, n);
    let u = 2f64.powi(-24);
    for i in 0..m {
        for j in 0..n {
            let w = (want[i * n + j] + f64::from(bias[j])).max(0.0);
            let bound =
                (k as f64 + 1.0) * u * (absprod[i * n + j] + f64::from(bias[j]).abs()) * 1.01;
            let g = f64::from(got[i * n + j]);
            assert!(
                (g - w).abs() <= bound,
                "({i},{j}): {g} vs {w}, bound {bound}"
            );
        }
    }
}

/// The cooperative GEMM (threads share packed B panels, meet at barriers, split M) is a BEAM
/// candidate rather than the default: check it directly, across several K blocks and with edges.
#[test]
fn cooperative_gemm_matches_the_reference() {
    use tgrad_core::codegen::Tuning;
    rng::manual_seed(21);
    let (m, k, n) = (211, 600, 150);
    let (a, b) = (random(m * k), random(k * n));
    let c = tensor::dot(&tensor_f32(&a, &[m, k]), &tensor_f32(&b, &[k, n])).unwrap();
    // barrier mode needs a core per thread (Tuning::check refuses more): up to 3, as many as here
    let threads = tgrad_core::flags::cores().min(3);
    let coop = format!("8 6 16 256 48 4096 {threads} 1 1 0 1");
    assert_eq!(
        Tuning::parse(&coop).unwrap().parallel,
        tgrad_core::codegen::cpu_gemm::Parallel::Barrier
    );
    check(
        &run_tuned(&c, &coop),
        &reference(&a, &b, 1, m, k, n),
        &abs_ref(&a, &b, 1, m, k, n),
        k,
    );
}

/// Every packing mode (both packed, B only with A read in place, neither) on shapes with edge
/// rows and columns, several K and M blocks (KC=128, MC=48), a batch, a transposed A (which
/// must fall back to packing A) and the bias + relu epilogue, on one and on two threads.
#[test]
fn every_packing_mode_matches_the_reference() {
    rng::manual_seed(31);
    for &(batch, m, k, n, transpose_a) in &[
        (1, 50, 70, 45, false),
        (1, 101, 300, 77, false),
        (3, 20, 33, 19, false),
        (1, 64, 64, 64, false),
        (1, 37, 200, 40, true),
    ] {
        let case = LinearRelu::new(batch, m, k, n, transpose_a);
        for packing in 0..3 {
            for threads in [1, 2] {
                case.check_tuned(&format!(
                    "8 6 16 128 48 4096 {threads} 1 {threads} {packing} 0"
                ));
            }
        }
    }
}

/// Every way threads share a GEMM (claimed chunks, barrier-synchronised shared panels, claimed
/// blocks of C over B packed once on demand) on shapes with edge rows and columns, several K
/// blocks (KC=128), several column panels (NC from the grid), a transposed A and a batch (which
/// the shared mode hands to chunks), with the bias + relu epilogue, on one to three threads.
#[test]
fn every_parallel_mode_matches_the_reference() {
    use tgrad_core::codegen::cpu_gemm::{Parallel, Tuning};
    rng::manual_seed(41);
    for &(batch, m, k, n, transpose_a) in &[
        (1, 211, 600, 150, false),
        (1, 97, 300, 513, false),
        (1, 50, 129, 17, true),
        (2, 40, 200, 70, false),
    ] {
        let case = LinearRelu::new(batch, m, k, n, transpose_a);
        for parallel in Parallel::ALL {
            for (threads, mch, nch) in [(1, 1, 1), (2, 2, 1), (2, 7, 1), (3, 5, 3), (2, 1, 2)] {
                // barrier mode needs a core per thread (Tuning::check refuses more)
                let threads = if parallel == Parallel::Barrier {
                    threads.min(tgrad_core::flags::cores())
                } else {
                    threads
                };
                let t = format!(
                    "8 6 16 128 48 4096 {threads} {mch} {nch} 0 {}",
                    parallel.code()
                );
                assert_eq!(Tuning::parse(&t).unwrap().parallel, parallel);
                case.check_tuned(&t);
            }
        }
    }
}

/// Launch checks refuse views outside their buffers before any kernel reads them.
#[test]
fn launch_checks_refuse_views_outside_their_buffers() {
    use tgrad_core::engine;
    let x = tensor_f32(&(0..16).map(|i| i as f32).collect::<Vec<_>>(), &[16]);
    let ok = tensor::as_strided_unchecked(&x, &[4, 4], &[4, 1], 0).unwrap();
    assert_eq!(
        read_f32(&tensor::contiguous(&ok))[15].to_bits(),
        15f32.to_bits()
    );
    for (shape, strides, offset) in [
        (vec![4usize, 5], vec![4isize, 1], 0isize),
        (vec![4, 4], vec![4, 1], 1),
        (vec![16], vec![-1], 0),
        (vec![2, 2], vec![i64::MAX as isize / 2, 1], 0),
    ] {
        let bad = tensor::as_strided_unchecked(&x, &shape, &strides, offset).unwrap();
        let y = tensor::contiguous(&tensor::unary(UnaryOp::Neg, &bad));
        let e = engine::realize(std::slice::from_ref(&y))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("launch check"),
            "{shape:?} {strides:?} +{offset}: {e}"
        );
    }
    // a GEMM whose A is read past its end
    let a = tensor::as_strided_unchecked(&x, &[4, 8], &[4, 1], 0).unwrap();
    let c = tensor::dot(&a, &tensor_f32(&[1.0; 16], &[8, 2])).unwrap();
    let e = engine::realize(std::slice::from_ref(&c))
        .unwrap_err()
        .to_string();
    assert!(e.contains("launch check") && e.contains("operand 1"), "{e}");
}
