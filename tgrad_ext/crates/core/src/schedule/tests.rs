//! The scheduler's unit tests: kernel boundaries, epilogues and the layouts reductions store.

use super::*;
use crate::dtype::DType;
use crate::graph::{BinaryOp, ReduceOp, UnaryOp};
use crate::tensor;

fn buf(shape: &[usize]) -> LazyRef {
    let n = crate::shape::numel(shape);
    tensor::from_buffer(Buffer::new(DType::F32, n, true).unwrap(), shape.to_vec()).unwrap()
}

#[test]
fn linear_relu_is_one_kernel_with_an_epilogue() {
    let (x, w, b) = (buf(&[8, 16]), buf(&[16, 4]), buf(&[4]));
    let y = tensor::dot(&x, &w).unwrap();
    let y = tensor::binary(BinaryOp::Add, &y, &b).unwrap();
    let y = tensor::unary(UnaryOp::Relu, &y);
    let s = schedule(&[y]).unwrap();
    assert_eq!(s.items.len(), 1);
    let k = &s.items[0].kernel;
    assert_eq!(k.full_shape, vec![8, 4, 16]);
    assert_eq!(k.reduce_axes, vec![2]);
    assert!(k.body.contains_acc());
    assert_eq!(s.items[0].bufs.len(), 4);
    // w is read transposed: (m, n, k) -> strides (0, 1, 4)
    let loads = k.loads();
    assert_eq!(loads[1].1.strides, vec![0, 1, 4]);
    assert_eq!(loads[0].1.strides, vec![16, 0, 1]);
}

#[test]
fn a_permuted_reduction_stores_through_the_permutation() {
    // `(x @ w).T.contiguous()`: one GEMM storing transposed (this recursed without end once)
    let (x, w) = (buf(&[8, 16]), buf(&[16, 4]));
    let yt = tensor::transpose(&tensor::dot(&x, &w).unwrap(), 0, 1).unwrap();
    let s = schedule(&[tensor::contiguous(&yt)]).unwrap();
    assert_eq!(s.items.len(), 1);
    let k = &s.items[0].kernel;
    assert_eq!(
        k.out_view().strides,
        vec![1, 8, 0],
        "(m, n, k) stored at n*M + m"
    );
    // a view the kernel cannot be mapped through and no store expresses (flipped too):
    // the reduction gets its own kernel, read through the view
    let flipped = tensor::flip(&yt, &[1]).unwrap();
    let s = schedule(&[tensor::contiguous(&flipped)]).unwrap();
    assert_eq!(s.items.len(), 2);
    assert!(s.items.iter().all(|i| i.kernel.store.is_none()));
}

#[test]
fn an_update_reading_a_permuted_gradient_gets_it_in_its_own_layout() {
    // An SGD step w - 0.01 * grad(w) for y = x @ w. Autograd builds grad(w) as a sum over the
    // batch whose natural layout is w's transpose, then permuted to w's shape. The reduction
    // stores through that permutation, so the update reads every buffer in order. The weight
    // is square so the update's index space maps onto the reduction's and would otherwise
    // read the gradient through the transpose.
    let (x, g, w) = (buf(&[8, 16]), buf(&[8, 16]), buf(&[16, 16]));
    let y = tensor::dot(&x, &w).unwrap();
    let gw = crate::autograd::gradient(&y, Some(&g), std::slice::from_ref(&w)).unwrap();
    let grad_t = gw[0].clone().unwrap(); // (16, 16)
    let State::Lazy(LazyOp::View(grad, ..)) = grad_t.state() else {
        panic!("the gradient is a permuted view of its reduction")
    };
    let step = |gt: &LazyRef| {
        let lr = tensor::constant(0.01, DType::F32, vec![16, 16]).unwrap();
        let scaled = tensor::binary(BinaryOp::Mul, &lr, gt).unwrap();
        tensor::binary(BinaryOp::Sub, &w, &scaled).unwrap()
    };
    let s = schedule(&[step(&grad_t)]).unwrap();
    let update = s.items.last().unwrap();
    assert!(update.kernel.reduction.is_none());
    for (_, v) in update.kernel.loads() {
        assert_eq!(
            v.strides.last(),
            Some(&1),
            "a strided read: {:?}",
            update.kernel
        );
    }
    let stored = s.items.iter().filter(|i| i.kernel.reduction.is_some());
    assert_eq!(stored.clone().count(), 1);
    assert!(stored.clone().all(|i| i.kernel.store.is_some()));
    // read twice (also in its own layout), the reduction is computed once and read through
    // the permutation
    let both = tensor::binary(
        BinaryOp::Add,
        &step(&grad_t),
        &tensor::reshape(&tensor::permute(&grad, &[2, 1, 0]).unwrap(), &[16, 16]).unwrap(),
    );
    let s = schedule(&[both.unwrap()]).unwrap();
    assert_eq!(
        s.items
            .iter()
            .filter(|i| i.kernel.reduction.is_some())
            .count(),
        1
    );
}

#[test]
fn second_reduction_gets_its_own_kernel() {
    let x = buf(&[4, 5]);
    let s1 = tensor::reduce(ReduceOp::Sum, &x, &[1], true).unwrap();
    let e = tensor::binary(BinaryOp::Sub, &x, &s1).unwrap();
    let s2 = tensor::reduce(ReduceOp::Sum, &e, &[0], false).unwrap();
    let s = schedule(&[s2]).unwrap();
    assert_eq!(s.items.len(), 2);
}

#[test]
fn contiguous_views_of_buffers_alias() {
    let x = buf(&[6, 4]);
    let r = tensor::reshape(&x, &[2, 3, 4]).unwrap();
    let s = schedule(&[r]).unwrap();
    assert!(s.items.is_empty());
    assert_eq!(s.realized[0].1.id, x.buffer().unwrap().id);
}

#[test]
fn compose_through_broadcast_and_transpose() {
    // node (3,4) read through full (3,4,5) with broadcast on the last dim
    let iv = View {
        shape: vec![3, 4, 5],
        strides: vec![4, 1, 0],
        offset: 0,
    };
    let v = View::contiguous(&[4, 3]).permute(&[1, 0]);
    let c = compose(&iv, &[3, 4], &v).unwrap();
    assert_eq!(c.strides, vec![1, 3, 0]);
    // flat walk over a transposed node cannot be composed
    let iv2 = View {
        shape: vec![12],
        strides: vec![1],
        offset: 0,
    };
    assert!(compose(&iv2, &[3, 4], &v).is_none());
}
