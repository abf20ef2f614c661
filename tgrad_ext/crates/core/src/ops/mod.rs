//! tinygrad's composite tensor ops, built from the core's primitives (`tensor`), with
//! tinygrad's definitions and dtype rules, so they compute what tinygrad computes and autograd
//! differentiates them through their primitives:
//! - `math`: elementwise functions (exp, log, sigmoid, gelu, pow, comparisons, ...);
//! - `reduce`: sums with tinygrad's accumulation dtypes, mean, var, softmax, argmax, losses;
//! - `nn`: linear layers, scaled dot-product attention, einsum;
//! - `index`: pad, cat, slicing, repeats.

pub mod index;
pub mod math;
pub mod nn;
pub mod reduce;

use crate::dtype::DType;
use crate::error::Result;
use crate::graph::{BinaryOp, LazyRef};
use crate::tensor;

/// A scalar of `x`'s dtype (broadcast by the op that uses it).
pub(crate) fn scalar(v: f64, like: &LazyRef) -> Result<LazyRef> {
    tensor::constant(v, like.dtype, vec![])
}

/// A scalar of dtype `dtype`.
pub(crate) fn scalar_of(v: f64, dtype: DType) -> Result<LazyRef> {
    tensor::constant(v, dtype, vec![])
}

pub(crate) fn add(a: &LazyRef, b: &LazyRef) -> Result<LazyRef> {
    tensor::binary(BinaryOp::Add, a, b)
}

pub(crate) fn sub(a: &LazyRef, b: &LazyRef) -> Result<LazyRef> {
    tensor::binary(BinaryOp::Sub, a, b)
}

pub(crate) fn mul(a: &LazyRef, b: &LazyRef) -> Result<LazyRef> {
    tensor::binary(BinaryOp::Mul, a, b)
}

/// `a * v` for a scalar `v` of `a`'s dtype.
pub(crate) fn mul_k(a: &LazyRef, v: f64) -> Result<LazyRef> {
    mul(a, &scalar(v, a)?)
}

/// `a + v` for a scalar `v` of `a`'s dtype.
pub(crate) fn add_k(a: &LazyRef, v: f64) -> Result<LazyRef> {
    add(a, &scalar(v, a)?)
}

/// The dims of a shape as the signed dims the movement ops take.
pub(crate) fn dims(shape: &[usize]) -> Vec<i64> {
    shape.iter().map(|&d| d as i64).collect()
}
