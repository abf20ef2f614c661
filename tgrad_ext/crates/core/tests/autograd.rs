//! Autograd on the lazy graph: gradients of small-integer data are exact, so they are compared
//! with `==` against hand-derived values; backward matmuls must plan as GEMMs over the
//! forward buffers (no copies), with the relu mask fused as a GEMM epilogue.

mod common;

use common::{read_f32, tensor_f32};
use tgrad_core::codegen::Strategy;
use tgrad_core::graph::{BinaryOp, LazyRef, ReduceOp, UnaryOp};
use tgrad_core::{autograd, engine, tensor, Error};

/// Small integers in -4..=4, deterministic.
fn ints(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((s >> 33) % 9) as f32 - 4.0
        })
        .collect()
}

fn grads(root: &LazyRef, seed: Option<&LazyRef>, targets: &[LazyRef]) -> Vec<Vec<f32>> {
    autograd::gradient(root, seed, targets)
        .unwrap()
        .iter()
        .map(|g| read_f32(g.as_ref().expect("a gradient")))
        .collect()
}

/// (m, k) @ (k, n) of row-major data, exact for small integers.
fn matmul(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
    let mut out = vec![0f32; m * n];
    for i in 0..m {
        for j in 0..n {
            out[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
        }
    }
    out
}

fn transpose(a: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    (0..cols * rows)
        .map(|i| a[(i % rows) * cols + i / rows])
        .collect()
}

fn kinds(roots: &[LazyRef]) -> Vec<&'static str> {
    engine::plan_only(roots)
        .unwrap()
        .iter()
        .map(|p| match p.strategy {
            Strategy::Gemm(_) => "gemm",
            Strategy::Loops(_) if p.kernel.reduction.is_some() => "reduce",
            Strategy::Loops(_) => "elementwise",
        })
        .collect()
}

#[test]
fn matmul_gradients_are_single_gemms_over_the_forward_buffers() {
    let (m, k, n) = (33, 17, 9);
    let (xd, wd, gd) = (ints(m * k, 1), ints(k * n, 2), ints(m * n, 3));
    let (x, w, g) = (
        tensor_f32(&xd, &[m, k]),
        tensor_f32(&wd, &[k, n]),
        tensor_f32(&gd, &[m, n]),
    );
    let y = tensor::dot(&x, &w).unwrap();
    let gr = autograd::gradient(&y, Some(&g), &[x.clone(), w.clone()]).unwrap();
    for grad in &gr {
        assert_eq!(kinds(&[grad.clone().unwrap()]), ["gemm"]);
    }
    let got = grads(&y, Some(&g), &[x, w]);
    assert_eq!(
        got[0],
        matmul(&gd, &transpose(&wd, k, n), m, n, k),
        "dx = g @ w.T"
    );
    assert_eq!(
        got[1],
        matmul(&transpose(&xd, m, k), &gd, k, m, n),
        "dw = x.T @ g"
    );
}

#[test]
fn mlp_backward_fuses_the_relu_mask_into_a_gemm_epilogue() {
    let (b, i, h, o) = (16, 24, 20, 8);
    let x = tensor_f32(&ints(b * i, 4), &[b, i]);
    let w1 = tensor_f32(&ints(i * h, 5), &[i, h]);
    let b1 = tensor_f32(&ints(h, 6), &[h]);
    let w2 = tensor_f32(&ints(h * o, 7), &[h, o]);
    let hid = tensor::unary(
        UnaryOp::Relu,
        &tensor::binary(BinaryOp::Add, &tensor::dot(&x, &w1).unwrap(), &b1).unwrap(),
    );
    let out = tensor::dot(&hid, &w2).unwrap();
    let g = tensor_f32(&ints(b * o, 8), &[b, o]);
    let gr: Vec<LazyRef> = autograd::gradient(&out, Some(&g), &[w1, b1, w2])
        .unwrap()
        .into_iter()
        .map(Option::unwrap)
        .collect();
    // hidden (forward GEMM + relu), the masked hidden gradient (GEMM + where), dw1, db1, dw2:
    // every matmul a GEMM storing straight into its layout, the hidden layer computed once
    let mut k = kinds(&gr);
    k.sort_unstable();
    assert_eq!(k, ["gemm", "gemm", "gemm", "gemm", "reduce"]);
}

#[test]
fn movement_gradients_scatter_back_exactly() {
    // loss = sum(view(x) * c): dx is c carried back through the view, zero where unread
    let xd: Vec<f32> = (0..24).map(|v| v as f32).collect();
    let x = tensor_f32(&xd, &[4, 6]);
    let v = tensor::shrink(&x, &[(1, 3), (1, 6)]).unwrap(); // (2, 5)
    let v = tensor::flip(&v, &[1]).unwrap();
    let v = tensor::stride(&v, &[1, 2]).unwrap(); // (2, 3): columns 5, 3, 1
    let v = tensor::permute(&v, &[1, 0]).unwrap(); // (3, 2)
    let c = tensor_f32(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2]);
    let loss = tensor::reduce(
        ReduceOp::Sum,
        &tensor::binary(BinaryOp::Mul, &v, &c).unwrap(),
        &[0, 1],
        false,
    )
    .unwrap();
    // v = [[11, 17], [9, 15], [7, 13]]
    assert_eq!(read_f32(&loss), [11.0 + 34.0 + 27.0 + 60.0 + 35.0 + 78.0]);
    let x = tensor_f32(&xd, &[4, 6]);
    let v = tensor::permute(
        &tensor::stride(
            &tensor::flip(&tensor::shrink(&x, &[(1, 3), (1, 6)]).unwrap(), &[1]).unwrap(),
            &[1, 2],
        )
        .unwrap(),
        &[1, 0],
    )
    .unwrap();
    let loss = tensor::reduce(
        ReduceOp::Sum,
        &tensor::binary(BinaryOp::Mul, &v, &c).unwrap(),
        &[0, 1],
        false,
    )
    .unwrap();
    let dx = &grads(&loss, None, &[x])[0];
    let mut want = vec![0f32; 24];
    // v[j][i] = x[1 + i][5 - 2j], weighted by c[j][i]
    for j in 0..3 {
        for i in 0..2 {
            want[(1 + i) * 6 + 5 - 2 * j] = (j * 2 + i + 1) as f32;
        }
    }
    assert_eq!(dx, &want);
}

#[test]
fn expand_and_reduce_gradients_sum_and_share_ties() {
    let x = tensor_f32(&[1.0, 5.0, 5.0, 2.0], &[4]);
    let m = tensor::reduce(ReduceOp::Max, &x, &[0], false).unwrap();
    assert_eq!(
        grads(&m, None, std::slice::from_ref(&x))[0],
        [0.0, 0.5, 0.5, 0.0]
    );
    let e = tensor::expand(&tensor::reshape(&x, &[1, 4]).unwrap(), &[3, 4]).unwrap();
    let s = tensor::reduce(ReduceOp::Sum, &e, &[0, 1], false).unwrap();
    assert_eq!(grads(&s, None, &[x])[0], [3.0; 4]);
}

#[test]
fn realized_nodes_cut_the_graph_and_ints_have_no_gradient() {
    let x = tensor_f32(&[1.0, 2.0], &[2]);
    let y = tensor::binary(BinaryOp::Mul, &x, &x).unwrap();
    engine::realize(std::slice::from_ref(&y)).unwrap();
    let s = tensor::reduce(ReduceOp::Sum, &y, &[0], false).unwrap();
    let g = autograd::gradient(&s, None, &[x.clone(), y.clone()]).unwrap();
    assert!(g[0].is_none(), "x is behind a realized node");
    assert_eq!(read_f32(g[1].as_ref().unwrap()), [1.0, 1.0]);
    let i = tensor::cast(&x, tgrad_core::DType::I32);
    let e = autograd::gradient(&s, None, &[i]).unwrap_err();
    assert!(matches!(e, Error::Gradient(m) if m.contains("only float")));
    let e = autograd::gradient(&y, None, &[x]).unwrap_err();
    assert!(matches!(e, Error::Gradient(m) if m.contains("scalar")));
}
