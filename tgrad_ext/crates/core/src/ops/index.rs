//! Padding, concatenation, slicing and repeats, as tinygrad defines them: pad writes the tensor
//! into a larger one filled with a value (negative padding shrinks), cat writes each tensor
//! into its part of the result (both are `Assemble` nodes: one kernel per part, no masks),
//! slicing is a view (shrink, flip for negative steps, stride for steps > 1).

use super::dims;
use crate::dtype::DType;
use crate::error::Result;
use crate::graph::{LazyRef, Part};
use crate::shape::{resolve_axis, Dims};
use crate::{bail, ensure, tensor};

/// Pad each dim by (before, after) elements of `value`; negative amounts cut elements off.
pub fn pad(x: &LazyRef, padding: &[(i64, i64)], value: f64) -> Result<LazyRef> {
    ensure!(
        padding.len() == x.shape.len(),
        InvalidArgument,
        "padding length is improper, padding={padding:?} for a tensor of shape {}",
        Dims(&x.shape)
    );
    // negative padding shrinks first
    let ranges: Vec<(usize, usize)> = padding
        .iter()
        .zip(&x.shape)
        .map(|(&(b, a), &n)| {
            let lo = (-b).max(0) as usize;
            let hi = (n as i64 - (-a).max(0)).max(lo as i64) as usize;
            (lo.min(n), hi.min(n))
        })
        .collect();
    let x = tensor::shrink(x, &ranges)?;
    let offset: Vec<usize> = padding.iter().map(|&(b, _)| b.max(0) as usize).collect();
    let shape: Vec<usize> = x
        .shape
        .iter()
        .zip(padding)
        .map(|(&n, &(b, a))| n + b.max(0) as usize + a.max(0) as usize)
        .collect();
    let step = vec![1; shape.len()];
    let dtype = x.dtype;
    tensor::assemble(
        vec![Part {
            src: x,
            offset,
            step,
        }],
        shape,
        dtype,
        value,
    )
}

/// Concatenate along `axis`; every other dim must match. Dtypes promote.
pub fn cat(xs: &[LazyRef], axis: i64) -> Result<LazyRef> {
    let Some(first) = xs.first() else {
        bail!(InvalidArgument, "cat needs at least one tensor");
    };
    let n = first.shape.len();
    ensure!(
        n > 0,
        InvalidArgument,
        "zero-dimensional tensors cannot be concatenated"
    );
    let a = resolve_axis(axis, n)?;
    for x in xs {
        let same = x.shape.len() == n && (0..n).all(|d| d == a || x.shape[d] == first.shape[d]);
        ensure!(
            same,
            Shape,
            "cannot cat tensors of shapes {} and {} along dim {a}: the other dims differ",
            Dims(&first.shape),
            Dims(&x.shape)
        );
    }
    let dtype = xs
        .iter()
        .fold(first.dtype, |d, x| DType::promote(d, x.dtype));
    let mut shape = first.shape.clone();
    shape[a] = xs.iter().map(|x| x.shape[a]).sum();
    let mut at = 0;
    let parts = xs
        .iter()
        .map(|x| {
            let mut offset = vec![0; n];
            offset[a] = at;
            at += x.shape[a];
            Part {
                src: x.clone(),
                offset,
                step: vec![1; n],
            }
        })
        .collect();
    tensor::assemble(parts, shape, dtype, 0.0)
}

/// Stack along a new axis `axis`.
pub fn stack(xs: &[LazyRef], axis: i64) -> Result<LazyRef> {
    let Some(first) = xs.first() else {
        bail!(InvalidArgument, "stack needs at least one tensor");
    };
    let n = first.shape.len() as i64 + 1;
    let a = if axis < 0 { axis + n } else { axis };
    ensure!(
        (0..n).contains(&a),
        InvalidArgument,
        "dim {axis} is out of range for stacking {}-d tensors",
        n - 1
    );
    let a = a as usize;
    let expanded = xs
        .iter()
        .map(|x| {
            let mut s = dims(&x.shape);
            s.insert(a, 1);
            tensor::reshape(x, &s)
        })
        .collect::<Result<Vec<_>>>()?;
    cat(&expanded, a as i64)
}

/// One dim of a basic slice: `start` and `stop` already clamped as Python's `slice.indices`
/// does, `step` non-zero.
#[derive(Debug, Clone, Copy)]
pub struct Slice {
    pub start: i64,
    pub stop: i64,
    pub step: i64,
}

/// A view of every dim sliced by its `Slice` (negative steps walk backwards).
pub fn slice(x: &LazyRef, slices: &[Slice]) -> Result<LazyRef> {
    ensure!(
        slices.len() == x.shape.len(),
        InvalidArgument,
        "{} slices for a tensor of shape {}",
        slices.len(),
        Dims(&x.shape)
    );
    let mut ranges = vec![];
    let mut flips = vec![];
    let mut steps = vec![];
    for (d, s) in slices.iter().enumerate() {
        ensure!(s.step != 0, InvalidArgument, "slice step cannot be zero");
        // the elements taken, as a forward range [lo, hi) walked with |step|
        let count = if s.step > 0 {
            (s.stop - s.start).max(0).div_euclid(s.step)
                + i64::from((s.stop - s.start).max(0) % s.step != 0)
        } else {
            (s.start - s.stop).max(0).div_euclid(-s.step)
                + i64::from((s.start - s.stop).max(0) % -s.step != 0)
        };
        let (lo, hi) = if count == 0 {
            (0, 0)
        } else if s.step > 0 {
            (s.start, s.start + (count - 1) * s.step + 1)
        } else {
            (s.start + (count - 1) * s.step, s.start + 1)
        };
        ensure!(
            lo >= 0 && hi as usize <= x.shape[d],
            InvalidArgument,
            "slice {}:{}:{} is outside dim {d} of size {}",
            s.start,
            s.stop,
            s.step,
            x.shape[d]
        );
        ranges.push((lo as usize, hi as usize));
        if s.step < 0 {
            flips.push(d as i64);
        }
        steps.push(s.step.unsigned_abs() as usize);
    }
    let v = tensor::shrink(x, &ranges)?;
    let v = tensor::flip(&v, &flips)?;
    tensor::stride(&v, &steps)
}

/// Repeat each element `repeats` times along `axis` (GQA's key/value heads).
pub fn repeat_interleave(x: &LazyRef, repeats: usize, axis: i64) -> Result<LazyRef> {
    let a = resolve_axis(axis, x.shape.len())?;
    let mut s = dims(&x.shape);
    s.insert(a + 1, 1);
    let mut e = s.clone();
    e[a + 1] = repeats as i64;
    let mut out = dims(&x.shape);
    out[a] *= repeats as i64;
    tensor::reshape(&tensor::expand(&tensor::reshape(x, &s)?, &e)?, &out)
}

/// Repeat the whole tensor `repeats[d]` times along each dim (tinygrad's `repeat`).
pub fn repeat(x: &LazyRef, repeats: &[usize]) -> Result<LazyRef> {
    ensure!(
        repeats.len() >= x.shape.len(),
        InvalidArgument,
        "repeats {} must have at least one entry per dim of {}",
        Dims(repeats),
        Dims(&x.shape)
    );
    let pad = repeats.len() - x.shape.len();
    let base: Vec<usize> = std::iter::repeat_n(1, pad)
        .chain(x.shape.iter().copied())
        .collect();
    // (r0, n0, r1, n1, ...) with the tensor broadcast along each r, then merged
    let mut inter = vec![];
    let mut big = vec![];
    for (&r, &n) in repeats.iter().zip(&base) {
        inter.extend([1, n as i64]);
        big.extend([r as i64, n as i64]);
    }
    let out: Vec<i64> = repeats
        .iter()
        .zip(&base)
        .map(|(&r, &n)| (r * n) as i64)
        .collect();
    let x = tensor::reshape(x, &inter)?;
    tensor::reshape(&tensor::expand(&x, &big)?, &out)
}
