//! Reductions with tinygrad's dtype rules (tinygrad/mixin/reduce.py and op.py): sums of bools
//! and ints accumulate as int, of half in float (rounded back to half); mean and var of ints
//! give float; softmax and log_softmax subtract the detached max first; argmax picks the first
//! maximum; the sparse categorical cross-entropy is tinygrad's.

use super::math;
use super::{dims, mul, scalar, scalar_of, sub};
use crate::dtype::DType;
use crate::error::Result;
use crate::graph::{BinaryOp, LazyRef, ReduceOp};
use crate::shape::resolve_axis;
use crate::{bail, tensor};

/// The dtype a sum of `d` accumulates in (tinygrad's `sum_acc_dtype`).
pub fn sum_acc_dtype(d: DType) -> DType {
    match d {
        DType::Bool | DType::I32 => DType::I32,
        DType::F16 | DType::F32 => DType::F32,
        DType::F64 => DType::F64,
    }
}

/// Resolved, sorted, deduplicated axes (`None`: every axis).
fn axes_of(x: &LazyRef, axes: Option<&[i64]>) -> Result<Vec<usize>> {
    let n = x.shape.len();
    let mut ax: Vec<usize> = match axes {
        None => (0..n).collect(),
        Some(a) => a
            .iter()
            .map(|&a| resolve_axis(a, n))
            .collect::<Result<_>>()?,
    };
    ax.sort_unstable();
    ax.dedup();
    Ok(ax)
}

fn signed(ax: &[usize]) -> Vec<i64> {
    ax.iter().map(|&a| a as i64).collect()
}

/// Sum over `axes` (None: all), accumulating in `dtype` or tinygrad's accumulation dtype; half
/// sums are rounded back to half.
pub fn sum(
    x: &LazyRef,
    axes: Option<&[i64]>,
    keepdim: bool,
    dtype: Option<DType>,
) -> Result<LazyRef> {
    let ax = signed(&axes_of(x, axes)?);
    let acc = dtype.unwrap_or_else(|| sum_acc_dtype(x.dtype));
    let s = tensor::reduce(ReduceOp::Sum, &tensor::cast(x, acc), &ax, keepdim)?;
    Ok(if dtype.is_none() && x.dtype == DType::F16 {
        tensor::cast(&s, DType::F16)
    } else {
        s
    })
}

/// Max over `axes`; a bool max is computed as int.
pub fn max(x: &LazyRef, axes: Option<&[i64]>, keepdim: bool) -> Result<LazyRef> {
    let ax = signed(&axes_of(x, axes)?);
    if x.dtype == DType::Bool {
        let m = tensor::reduce(ReduceOp::Max, &tensor::cast(x, DType::I32), &ax, keepdim)?;
        return Ok(tensor::cast(&m, DType::Bool));
    }
    tensor::reduce(ReduceOp::Max, x, &ax, keepdim)
}

pub fn min(x: &LazyRef, axes: Option<&[i64]>, keepdim: bool) -> Result<LazyRef> {
    if x.dtype == DType::Bool {
        return math::logical_not(&max(&math::logical_not(x)?, axes, keepdim)?);
    }
    math::neg(&max(&math::neg(x)?, axes, keepdim)?)
}

/// The number of elements each output of a reduction over `axes` sums.
fn count(x: &LazyRef, ax: &[usize]) -> usize {
    ax.iter().map(|&a| x.shape[a]).product()
}

/// The mean: floats keep their dtype, ints and bools give float.
pub fn mean(x: &LazyRef, axes: Option<&[i64]>, keepdim: bool) -> Result<LazyRef> {
    let ax = axes_of(x, axes)?;
    let out = x.dtype.to_float();
    let s = sum(
        &tensor::cast(x, sum_acc_dtype(x.dtype)),
        Some(&signed(&ax)),
        keepdim,
        None,
    )?;
    let m = math::div(&s, &scalar_of(count(x, &ax) as f64, DType::F32)?)?;
    Ok(tensor::cast(&m, out))
}

/// The variance with Bessel's `correction`.
pub fn var(x: &LazyRef, axes: Option<&[i64]>, keepdim: bool, correction: f64) -> Result<LazyRef> {
    let ax = axes_of(x, axes)?;
    let out = x.dtype.to_float();
    let d = sub(x, &mean(x, Some(&signed(&ax)), true)?)?;
    let sq = math::square(&d)?;
    let s = sum(
        &tensor::cast(&sq, sum_acc_dtype(sq.dtype)),
        Some(&signed(&ax)),
        keepdim,
        None,
    )?;
    let n = (count(x, &ax) as f64 - correction).max(0.0);
    Ok(tensor::cast(
        &math::div(&s, &scalar_of(n, DType::F32)?)?,
        out,
    ))
}

pub fn std(x: &LazyRef, axes: Option<&[i64]>, keepdim: bool, correction: f64) -> Result<LazyRef> {
    math::sqrt(&var(x, axes, keepdim, correction)?)
}

/// log(sum(exp(x))) over `axes`, shifted by the detached max.
pub fn logsumexp(x: &LazyRef, axes: Option<&[i64]>, keepdim: bool) -> Result<LazyRef> {
    let m = tensor::detach(&max(x, axes, true)?);
    let e = math::exp(&sub(x, &m)?)?;
    let l = math::log(&sum(&e, axes, keepdim, None)?)?;
    let m = if keepdim {
        m
    } else {
        tensor::reshape(&m, &dims(&l.shape))?
    };
    super::add(&l, &m)
}

/// (x - max, exp(x - max), sum) along `axis`, the max detached (tinygrad's `_softmax`).
fn softmax_parts(x: &LazyRef, axis: i64, dtype: Option<DType>) -> Result<[LazyRef; 3]> {
    let m = tensor::detach(&max(x, Some(&[axis]), true)?);
    let mut shifted = sub(x, &m)?;
    if let Some(d) = dtype {
        shifted = tensor::cast(&shifted, d);
    }
    let e = math::exp(&shifted)?;
    let s = sum(&e, Some(&[axis]), true, None)?;
    Ok([shifted, e, s])
}

pub fn softmax(x: &LazyRef, axis: i64, dtype: Option<DType>) -> Result<LazyRef> {
    let [_, e, s] = softmax_parts(x, axis, dtype)?;
    mul(&e, &math::reciprocal(&s)?)
}

pub fn log_softmax(x: &LazyRef, axis: i64, dtype: Option<DType>) -> Result<LazyRef> {
    let [m, _, s] = softmax_parts(x, axis, dtype)?;
    sub(&m, &math::log(&s)?)
}

/// `0, 1, .., n-1` as int32, shaped `shape` (n along `axis`, 1 elsewhere).
fn arange_along(n: usize, axis: usize, ndim: usize) -> Result<LazyRef> {
    let bytes: Vec<u8> = (0..n as i32).flat_map(i32::to_le_bytes).collect();
    let buf = crate::runtime::buffer::Buffer::from_bytes(DType::I32, &bytes)?;
    let mut shape = vec![1; ndim];
    shape[axis] = n;
    tensor::from_buffer(buf, shape)
}

/// The index of the first maximum along `axis` (None: of the flattened tensor), as int32.
pub fn argmax(x: &LazyRef, axis: Option<i64>, keepdim: bool) -> Result<LazyRef> {
    let Some(axis) = axis else {
        let flat = tensor::reshape(x, &[-1])?;
        return argmax(&flat, Some(0), false);
    };
    let a = resolve_axis(axis, x.shape.len())?;
    let n = x.shape[a];
    let hit = math::cmp(BinaryOp::CmpEq, x, &max(x, Some(&[axis]), true)?)?;
    // n - i where the maximum is, so the largest value marks the first maximum
    let countdown = sub(
        &scalar_of(n as f64, DType::I32)?,
        &arange_along(n, a, x.shape.len())?,
    )?;
    let idx = mul(&tensor::cast(&hit, DType::I32), &countdown)?;
    let first = max(&idx, Some(&[axis]), keepdim)?;
    sub(&scalar_of(n as f64, DType::I32)?, &first)
}

pub fn argmin(x: &LazyRef, axis: Option<i64>, keepdim: bool) -> Result<LazyRef> {
    let inv = if x.dtype == DType::Bool {
        math::logical_not(x)?
    } else {
        math::neg(x)?
    };
    argmax(&inv, axis, keepdim)
}

/// `y` (int class indices) as one-hot rows of `classes` along a new last axis.
pub fn one_hot(y: &LazyRef, classes: usize) -> Result<LazyRef> {
    let nd = y.shape.len() + 1;
    let ar = arange_along(classes, nd - 1, nd)?;
    let yy = tensor::reshape(y, &dims(&[y.shape.clone(), vec![1]].concat()))?;
    Ok(tensor::cast(
        &math::cmp(BinaryOp::CmpEq, &yy, &ar)?,
        y.dtype,
    ))
}

/// tinygrad's sparse categorical cross-entropy of logits `x` (classes on the last axis) and
/// int labels `y`; `ignore_index` labels add nothing. `reduction`: "mean", "sum" or "none".
pub fn sparse_categorical_crossentropy(
    x: &LazyRef,
    y: &LazyRef,
    ignore_index: i64,
    label_smoothing: f64,
    reduction: &str,
) -> Result<LazyRef> {
    if !(0.0..=1.0).contains(&label_smoothing) {
        bail!(
            InvalidArgument,
            "label_smoothing must be in [0.0, 1.0], got {label_smoothing}"
        );
    }
    let classes = *x.shape.last().unwrap_or(&1);
    let logp = log_softmax(x, -1, None)?;
    let mask = if ignore_index == -1 {
        tensor::constant(1.0, DType::Bool, y.shape.clone())?
    } else {
        math::cmp(
            BinaryOp::CmpNe,
            y,
            &scalar_of(ignore_index as f64, y.dtype)?,
        )?
    };
    let mask_f = tensor::cast(&mask, logp.dtype);
    let yy = tensor::cast(&one_hot(y, classes)?, logp.dtype);
    let last = tensor::reshape(&mask_f, &dims(&[mask_f.shape.clone(), vec![1]].concat()))?;
    let picked = sum(&mul(&mul(&logp, &yy)?, &last)?, Some(&[-1]), false, None)?;
    let smooth = mul(&mean(&logp, Some(&[-1]), false)?, &mask_f)?;
    let unreduced = super::add(
        &super::mul_k(&picked, 1.0 - label_smoothing)?,
        &super::mul_k(&smooth, label_smoothing)?,
    )?;
    match reduction {
        "mean" => math::neg(&math::div(
            &sum(&unreduced, None, false, None)?,
            &sum(&mask, None, false, None)?,
        )?),
        "sum" => math::neg(&sum(&unreduced, None, false, None)?),
        "none" => math::neg(&unreduced),
        other => bail!(
            InvalidArgument,
            "reduction={other:?} must be one of 'mean', 'sum', 'none'"
        ),
    }
}

/// A zero of `x`'s dtype shaped like `x` (gradients of unreached targets).
pub fn zeros_like(x: &LazyRef) -> Result<LazyRef> {
    tensor::expand(&scalar(0.0, x)?, &dims(&x.shape))
}
