// exact float equality is what these checks assert
#![allow(clippy::float_cmp)]

//! Constants are run-time parameters (one program serves every value), reductions over axes
//! their source does not vary along fold away, and float sums stay accurate at any length:
//! against a float64 reference at lengths around 2^24 and up to 2^26, and GEMMs with long K.
//! Its own test binary: compile counts are per process.

mod common;

use common::{read_f32, tensor_f32};
use tgrad_core::graph::{BinaryOp, ReduceOp};
use tgrad_core::{engine, rng, tensor, DType};

fn sum_all(x: &tgrad_core::graph::LazyRef) -> f32 {
    read_f32(&tensor::reduce(ReduceOp::Sum, x, &[0], false).unwrap())[0]
}

#[test]
fn one_program_serves_every_value_of_a_constant() {
    let x = tensor_f32(&[1.0, 2.0, 3.0, 4.0], &[4]);
    let compiled = |s: &engine::Stats| s.programs_compiled + s.programs_from_disk;
    let scale = |c: f64| {
        let y = tensor::binary(
            BinaryOp::Mul,
            &x,
            &tensor::constant(c, DType::F32, vec![]).unwrap(),
        )
        .unwrap();
        read_f32(&tensor::contiguous(&y))
    };
    assert_eq!(scale(2.0), vec![2.0, 4.0, 6.0, 8.0]);
    let before = compiled(&engine::stats());
    for c in [0.5, -3.0, 1e30, 1e39, f64::NAN] {
        let got = scale(c);
        let want: Vec<f32> = [1.0f32, 2.0, 3.0, 4.0]
            .iter()
            .map(|v| v * c as f32)
            .collect();
        assert!(
            got.iter()
                .zip(&want)
                .all(|(g, w)| g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan())),
            "x * {c}: {got:?} vs {want:?}"
        );
    }
    assert_eq!(
        compiled(&engine::stats()),
        before,
        "no new program for a new constant"
    );
}

#[test]
fn reductions_of_constants_fold_to_their_value() {
    // 2^36 additions as a loop would take minutes; folded it is one multiply
    let ones = tensor::expand(
        &tensor::constant(1.0, DType::F32, vec![1]).unwrap(),
        &[1 << 36],
    )
    .unwrap();
    let t0 = std::time::Instant::now();
    assert_eq!(sum_all(&ones), 68_719_476_736.0);
    assert!(
        t0.elapsed().as_secs_f64() < 5.0,
        "no loop over 2^36 elements"
    );
    let n = 77;
    let ones = |s: Vec<usize>| tensor::constant(1.0, DType::F32, s).unwrap();
    let c = read_f32(&tensor::dot(&ones(vec![n, n]), &ones(vec![n, n])).unwrap());
    assert!(
        c.iter().all(|&v| v == n as f32),
        "ones @ ones is n everywhere"
    );
    let mx = tensor::reduce(
        ReduceOp::Max,
        &tensor::constant(-2.5, DType::F32, vec![9, 9]).unwrap(),
        &[1],
        false,
    )
    .unwrap();
    assert_eq!(read_f32(&mx), vec![-2.5; 9]);
}

fn long_sum(values: &[f32]) -> (f32, f64) {
    let got = sum_all(&tensor_f32(values, &[values.len()]));
    let exact: f64 = values.iter().map(|&v| f64::from(v)).sum();
    (got, exact)
}

#[test]
fn float_sums_are_accurate_at_any_length() {
    for &n in &[(1 << 24) - 1, (1 << 24) + 1, 1 << 25, (1 << 26) + 3] {
        // ones: the exact count (rounded to float once)
        let (got, exact) = long_sum(&vec![1.0; n]);
        assert_eq!(got, exact as f32, "{n} ones");
        // quarters (the mean's building block): exact
        let (got, exact) = long_sum(&vec![0.25; n]);
        assert_eq!(got, exact as f32, "{n} quarters");
    }
    // uniform values in [0.5, 1.5): within one float rounding of the exact sum
    rng::manual_seed(71);
    let n = 1 << 25;
    let values: Vec<f32> = rng::uniform(n)
        .into_iter()
        .map(|u| (u + 0.5) as f32)
        .collect();
    let (got, exact) = long_sum(&values);
    let rel = (f64::from(got) - exact).abs() / exact;
    assert!(
        rel <= 2f64.powi(-24),
        "relative error {rel:e} over 2^25 values"
    );
}

#[test]
fn long_matmuls_stay_accurate() {
    // one output: a dot product of 2^25 ones is a loop reduction
    let k = 1 << 25;
    let a = tensor_f32(&vec![1.0; k], &[1, k]);
    let b = tensor_f32(&vec![1.0; k], &[k, 1]);
    assert_eq!(read_f32(&tensor::dot(&a, &b).unwrap()), vec![k as f32]);
    // GEMMs with K = 2^20 (rows and a 3x3 block): K blocks of at least sqrt(K) keep the error
    // near sqrt(K) roundings of |A||B|
    rng::manual_seed(73);
    let k = 1 << 20;
    for (m, n) in [(1, 5), (3, 3)] {
        let av: Vec<f32> = rng::uniform(m * k)
            .into_iter()
            .map(|u| (u + 0.5) as f32)
            .collect();
        let bv: Vec<f32> = rng::uniform(k * n)
            .into_iter()
            .map(|u| (u + 0.5) as f32)
            .collect();
        let c =
            read_f32(&tensor::dot(&tensor_f32(&av, &[m, k]), &tensor_f32(&bv, &[k, n])).unwrap());
        for i in 0..m {
            for j in 0..n {
                let exact: f64 = (0..k)
                    .map(|p| f64::from(av[i * k + p]) * f64::from(bv[p * n + j]))
                    .sum();
                let rel = (f64::from(c[i * n + j]) - exact).abs() / exact;
                // gamma_D with D = 2 sqrt(K) + a few: 2^11 roundings of 2^-24
                assert!(
                    rel <= 2f64.powi(-13),
                    "{m}x{k}x{n} ({i}, {j}): relative error {rel:e}"
                );
            }
        }
    }
}
