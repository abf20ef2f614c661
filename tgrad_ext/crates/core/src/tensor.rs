//! tinygrad's tensor semantics on lazy nodes: broadcasting, dtype promotion, movement ops as
//! views, reductions, and `dot`/`matmul` decomposed exactly as tinygrad does it
//! (`(x.reshape(.., 1, K) * w.T.reshape(..)).sum(-1)`), so the scheduler sees the same graph.

use std::sync::Arc;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::{
    BinaryOp, Lazy, LazyOp, LazyRef, MoveOp, Moves, Origin, Part, ReduceOp, State, UnaryOp,
};
use crate::runtime::buffer::Buffer;
use crate::shape::{checked_numel, resolve_axis, Dims, View};
use crate::{bail, ensure};

mod matmul;
pub use matmul::{dot, dot_general};

pub fn from_buffer(buf: Buffer, shape: Vec<usize>) -> Result<LazyRef> {
    ensure!(
        buf.count() == checked_numel(&shape)?,
        Shape,
        "buffer of {} elements does not fill shape {}",
        buf.count(),
        Dims(&shape)
    );
    Ok(Lazy::realized(Arc::new(buf), shape))
}

/// `value` broadcast to `shape`. An int constant must fit the dtype (no silent wrap).
pub fn constant(value: f64, dtype: DType, shape: Vec<usize>) -> Result<LazyRef> {
    checked_numel(&shape)?;
    if dtype == DType::I32 && value.is_finite() && value.fract() == 0.0 {
        ensure!(
            (f64::from(i32::MIN)..=f64::from(i32::MAX)).contains(&value),
            DType,
            "{value} does not fit {} (from {} to {})",
            dtype.name(),
            i32::MIN,
            i32::MAX
        );
    }
    Ok(Lazy::new(LazyOp::Const(value), dtype, shape))
}

/// Apply a movement op to a node's view. Views never stack: a view of a view is one view over
/// the same base; when no single strided view can express the result, the source is made
/// contiguous first. The new node records `op` applied to `x` as its origin.
fn movement(
    x: &LazyRef,
    new_shape: &[usize],
    op: MoveOp,
    f: impl Fn(&View) -> Option<View>,
) -> LazyRef {
    // the view is transformed under the node's lock: no clone of the op
    let from_view = x.with_state(|s| match s {
        State::Lazy(LazyOp::View(base, v, _)) => Some((base.clone(), f(v))),
        _ => None,
    });
    let contiguous = || {
        f(&View::contiguous(&x.shape)).expect("movement ops on a contiguous view always succeed")
    };
    let (base, new_view) = match from_view {
        Some((base, Some(nv))) => (base, nv),
        // no single strided view expresses it: copy the source into a contiguous buffer first
        Some((_, None)) => (
            Lazy::new(LazyOp::Contiguous(x.clone()), x.dtype, x.shape.clone()),
            contiguous(),
        ),
        None => (x.clone(), contiguous()),
    };
    debug_assert_eq!(new_view.shape, new_shape);
    view_node(
        base,
        new_view,
        x.dtype,
        Some(origin(x, Moves::Ops(vec![op]))),
    )
}

fn origin(src: &LazyRef, moves: Moves) -> Arc<Origin> {
    Arc::new(Origin {
        src: src.clone(),
        moves,
    })
}

/// Reshape; one dim may be -1 (inferred), as in tinygrad.
pub fn reshape(x: &LazyRef, dims: &[i64]) -> Result<LazyRef> {
    let infer: Vec<usize> = (0..dims.len()).filter(|&i| dims[i] == -1).collect();
    ensure!(
        infer.len() <= 1,
        InvalidArgument,
        "only one dimension can be inferred in reshape {}",
        Dims(dims)
    );
    if let Some(d) = dims.iter().find(|&&d| d < -1) {
        bail!(
            InvalidArgument,
            "negative dimension {d} in reshape {}",
            Dims(dims)
        );
    }
    let known_dims: Vec<usize> = dims
        .iter()
        .filter(|&&d| d != -1)
        .map(|&d| usize::try_from(d).unwrap_or(usize::MAX))
        .collect();
    let known = checked_numel(&known_dims)?;
    let mut shape: Vec<usize> = dims
        .iter()
        .map(|&d| if d == -1 { 0 } else { d as usize })
        .collect();
    if let Some(&i) = infer.first() {
        ensure!(
            known != 0 && x.numel().is_multiple_of(known),
            Shape,
            "cannot reshape tensor of shape {} into {}",
            Dims(&x.shape),
            Dims(dims)
        );
        shape[i] = x.numel() / known;
    }
    ensure!(
        checked_numel(&shape)? == x.numel(),
        Shape,
        "cannot reshape tensor of shape {} into {}",
        Dims(&x.shape),
        Dims(&shape)
    );
    if shape == x.shape {
        return Ok(x.clone());
    }
    Ok(movement(x, &shape, MoveOp::Reshape(shape.clone()), |v| {
        v.reshape(&shape)
    }))
}

pub fn permute(x: &LazyRef, order: &[i64]) -> Result<LazyRef> {
    let n = x.shape.len();
    let order: Vec<usize> = order
        .iter()
        .map(|&a| resolve_axis(a, n))
        .collect::<Result<_>>()?;
    let mut seen = order.clone();
    seen.sort_unstable();
    ensure!(
        seen == (0..n).collect::<Vec<_>>(),
        InvalidArgument,
        "permute order {} is not a permutation of {n} dims",
        Dims(&order)
    );
    if order.iter().enumerate().all(|(i, &o)| i == o) {
        return Ok(x.clone());
    }
    let shape: Vec<usize> = order.iter().map(|&i| x.shape[i]).collect();
    Ok(movement(x, &shape, MoveOp::Permute(order.clone()), |v| {
        Some(v.permute(&order))
    }))
}

pub fn transpose(x: &LazyRef, dim0: i64, dim1: i64) -> Result<LazyRef> {
    let n = x.shape.len();
    let (a, b) = (resolve_axis(dim0, n)?, resolve_axis(dim1, n)?);
    let mut order: Vec<i64> = (0..n as i64).collect();
    order.swap(a, b);
    permute(x, &order)
}

/// Broadcast to `dims` (-1 keeps a dim), prepending dims as numpy does.
pub fn expand(x: &LazyRef, dims: &[i64]) -> Result<LazyRef> {
    ensure!(
        dims.len() >= x.shape.len(),
        Shape,
        "cannot expand shape {} to {}: fewer dims",
        Dims(&x.shape),
        Dims(dims)
    );
    let pad = dims.len() - x.shape.len();
    let padded: Vec<usize> = std::iter::repeat_n(1, pad)
        .chain(x.shape.iter().copied())
        .collect();
    let mut target = Vec::with_capacity(dims.len());
    for (i, (&d, &s)) in dims.iter().zip(&padded).enumerate() {
        let t = if d == -1 {
            s
        } else {
            usize::try_from(d)
                .map_err(|_| Error::Shape(format!("negative dimension in expand {}", Dims(dims))))?
        };
        ensure!(
            s == t || s == 1,
            Shape,
            "cannot expand shape {} to {}: dim {i} has size {s}",
            Dims(&x.shape),
            Dims(dims)
        );
        target.push(t);
    }
    checked_numel(&target)?;
    let x = if pad > 0 {
        reshape(x, &padded.iter().map(|&d| d as i64).collect::<Vec<_>>())?
    } else {
        x.clone()
    };
    if target == x.shape {
        return Ok(x);
    }
    Ok(movement(&x, &target, MoveOp::Expand(target.clone()), |v| {
        Some(v.expand(&target))
    }))
}

/// Keep `[start, end)` along every dim.
pub fn shrink(x: &LazyRef, ranges: &[(usize, usize)]) -> Result<LazyRef> {
    ensure!(
        ranges.len() == x.shape.len(),
        Shape,
        "shrink needs one range per dim of {}",
        Dims(&x.shape)
    );
    for (i, (&(b, e), &s)) in ranges.iter().zip(&x.shape).enumerate() {
        ensure!(
            b <= e && e <= s,
            Shape,
            "shrink range {b}..{e} out of bounds for dim {i} of size {s}"
        );
    }
    let shape: Vec<usize> = ranges.iter().map(|&(b, e)| e - b).collect();
    if shape == x.shape {
        return Ok(x.clone());
    }
    Ok(movement(x, &shape, MoveOp::Shrink(ranges.to_vec()), |v| {
        Some(v.shrink(ranges))
    }))
}

pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let shape = broadcast_dims(a, b)?;
    checked_numel(&shape)?;
    Ok(shape)
}

fn broadcast_dims(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let n = a.len().max(b.len());
    let get = |s: &[usize], i: usize| {
        if i + s.len() >= n {
            s[i + s.len() - n]
        } else {
            1
        }
    };
    (0..n)
        .map(|i| match (get(a, i), get(b, i)) {
            (x, y) if x == y => Ok(x),
            (1, y) => Ok(y),
            (x, 1) => Ok(x),
            _ => Err(Error::Shape(format!(
                "cannot broadcast shapes {} and {}",
                Dims(a),
                Dims(b)
            ))),
        })
        .collect()
}

fn to_i64(shape: &[usize]) -> Vec<i64> {
    shape.iter().map(|&d| d as i64).collect()
}

pub fn cast(x: &LazyRef, dtype: DType) -> LazyRef {
    if x.dtype == dtype {
        return x.clone();
    }
    Lazy::new(LazyOp::Cast(x.clone()), dtype, x.shape.clone())
}

pub fn unary(op: UnaryOp, x: &LazyRef) -> LazyRef {
    Lazy::new(LazyOp::Unary(op, x.clone()), x.dtype, x.shape.clone())
}

/// A binary op with broadcasting and dtype promotion; comparisons give bool.
pub fn binary(op: BinaryOp, a: &LazyRef, b: &LazyRef) -> Result<LazyRef> {
    let shape = broadcast_shape(&a.shape, &b.shape)?;
    let dtype = DType::promote(a.dtype, b.dtype);
    let a = expand(&cast(a, dtype), &to_i64(&shape))?;
    let b = expand(&cast(b, dtype), &to_i64(&shape))?;
    let out = if op.is_comparison() {
        DType::Bool
    } else {
        dtype
    };
    Ok(Lazy::new(LazyOp::Binary(op, a, b), out, shape))
}

/// `cond ? a : b` elementwise: the three broadcast together, `a` and `b` promote to one dtype,
/// `cond` is read as bool.
pub fn where_(cond: &LazyRef, a: &LazyRef, b: &LazyRef) -> Result<LazyRef> {
    let shape = broadcast_shape(&broadcast_shape(&cond.shape, &a.shape)?, &b.shape)?;
    let dtype = DType::promote(a.dtype, b.dtype);
    let dims = to_i64(&shape);
    let c = expand(&cast(cond, DType::Bool), &dims)?;
    let a = expand(&cast(a, dtype), &dims)?;
    let b = expand(&cast(b, dtype), &dims)?;
    Ok(Lazy::new(LazyOp::Where(c, a, b), dtype, shape))
}

/// Reverse the given dims (a view with negative strides).
pub fn flip(x: &LazyRef, axes: &[i64]) -> Result<LazyRef> {
    let n = x.shape.len();
    let mut ax: Vec<usize> = axes
        .iter()
        .map(|&a| resolve_axis(a, n))
        .collect::<Result<_>>()?;
    ax.sort_unstable();
    ensure!(
        ax.windows(2).all(|w| w[0] != w[1]),
        InvalidArgument,
        "dim {} appears multiple times in flip {}",
        ax.windows(2).find(|w| w[0] == w[1]).map_or(0, |w| w[0]),
        Dims(axes)
    );
    ax.retain(|&a| x.shape[a] > 1);
    if ax.is_empty() {
        return Ok(x.clone());
    }
    let shape = x.shape.clone();
    Ok(movement(x, &shape, MoveOp::Flip(ax.clone()), |v| {
        Some(v.flip(&ax))
    }))
}

/// Keep every `step[d]`-th element of each dim `d`, from the first (a strided view).
pub fn stride(x: &LazyRef, step: &[usize]) -> Result<LazyRef> {
    ensure!(
        step.len() == x.shape.len() && step.iter().all(|&s| s >= 1),
        InvalidArgument,
        "stride needs one step of at least 1 per dim of {}, got {}",
        Dims(&x.shape),
        Dims(step)
    );
    if step.iter().all(|&s| s == 1) {
        return Ok(x.clone());
    }
    let shape: Vec<usize> = x
        .shape
        .iter()
        .zip(step)
        .map(|(&n, &s)| n.div_ceil(s))
        .collect();
    Ok(movement(x, &shape, MoveOp::Stride(step.to_vec()), |v| {
        Some(v.stride(step))
    }))
}

/// The same values, cut off from autograd (tinygrad's `detach`): a view without an origin.
pub fn detach(x: &LazyRef) -> LazyRef {
    let (base, view) = base_and_view(x);
    Lazy::new(LazyOp::View(base, view, None), x.dtype, x.shape.clone())
}

/// A node of `shape` built from `parts` (each written at its offset, every `step`-th element);
/// elements no part covers hold `fill`. Parts must lie inside the shape and not overlap.
pub fn assemble(parts: Vec<Part>, shape: Vec<usize>, dtype: DType, fill: f64) -> Result<LazyRef> {
    checked_numel(&shape)?;
    let mut covered = 0usize;
    for p in &parts {
        ensure!(
            p.offset.len() == shape.len()
                && p.step.len() == shape.len()
                && p.src.shape.len() == shape.len(),
            Shape,
            "a part of shape {} does not fit {} dims",
            Dims(&p.src.shape),
            shape.len()
        );
        for d in 0..shape.len() {
            let n = p.src.shape[d];
            let last = if n == 0 {
                0
            } else {
                p.offset[d] + (n - 1) * p.step[d] + 1
            };
            ensure!(
                p.step[d] >= 1 && last <= shape[d],
                Shape,
                "a part of shape {} at {} does not fit in {}",
                Dims(&p.src.shape),
                Dims(&p.offset),
                Dims(&shape)
            );
        }
        covered += p.src.numel();
    }
    let parts: Vec<Part> = parts
        .into_iter()
        .map(|p| Part {
            src: cast(&p.src, dtype),
            ..p
        })
        .collect();
    // a single part covering everything is that part
    if covered == crate::shape::numel(&shape) && parts.len() == 1 && parts[0].src.shape == shape {
        return Ok(parts[0].src.clone());
    }
    Ok(Lazy::new(
        LazyOp::Assemble(parts.into(), fill),
        dtype,
        shape,
    ))
}

/// Reduce over `axes` (all dims when empty and `all` is set); tinygrad's keepdim semantics.
pub fn reduce(op: ReduceOp, x: &LazyRef, axes: &[i64], keepdim: bool) -> Result<LazyRef> {
    let n = x.shape.len();
    let mut ax: Vec<usize> = axes
        .iter()
        .map(|&a| resolve_axis(a, n))
        .collect::<Result<_>>()?;
    ax.sort_unstable();
    if ax.windows(2).any(|w| w[0] == w[1]) {
        bail!(
            InvalidArgument,
            "duplicate axis in {:?}: each axis may be reduced once",
            axes
        );
    }
    if n == 0 {
        // a 0-d tensor has nothing to reduce: axis 0 names it whole, as in tinygrad
        return Ok(x.clone());
    }
    let kept: Vec<usize> = x
        .shape
        .iter()
        .enumerate()
        .map(|(i, &s)| if ax.contains(&i) { 1 } else { s })
        .collect();
    let red = if ax.iter().all(|&a| x.shape[a] == 1) {
        x.clone()
    } else if ax.iter().any(|&a| x.shape[a] == 0) {
        // a reduction over no elements is the op's identity (tinygrad: 0 for sum, the dtype's
        // minimum for max); no kernel reads the empty input
        let identity = match (op, x.dtype) {
            (ReduceOp::Sum, _) => 0.0,
            (ReduceOp::Max, DType::I32) => f64::from(i32::MIN),
            (ReduceOp::Max, _) => f64::NEG_INFINITY,
        };
        constant(identity, x.dtype, kept.clone())?
    } else {
        Lazy::new(
            LazyOp::Reduce(op, x.clone(), ax.clone()),
            x.dtype,
            kept.clone(),
        )
    };
    if keepdim {
        return Ok(red);
    }
    let out: Vec<i64> = (0..n)
        .filter(|i| !ax.contains(i))
        .map(|i| x.shape[i] as i64)
        .collect();
    reshape(&red, &out)
}

/// A view node over `base` (or `base` itself when the view is all of it, as `movement` does).
fn view_node(base: LazyRef, view: View, dtype: DType, origin: Option<Arc<Origin>>) -> LazyRef {
    if view.shape == base.shape && view.is_contiguous() {
        return base;
    }
    let shape = view.shape.clone();
    Lazy::new(LazyOp::View(base, view, origin), dtype, shape)
}

/// `x`'s base and the view from `x`'s shape into it (contiguous when `x` is not a view).
fn base_and_view(x: &LazyRef) -> (LazyRef, View) {
    x.with_state(|s| match s {
        State::Lazy(LazyOp::View(base, v, _)) => (base.clone(), v.clone()),
        _ => (x.clone(), View::contiguous(&x.shape)),
    })
}
/// A view of `x`'s data with any shape, strides and offset, NOT checked against its size: a
/// debugging entry point that builds the hand-made views the launch checks must refuse (reads
/// outside the buffer are caught before the kernel runs).
pub fn as_strided_unchecked(
    x: &LazyRef,
    shape: &[usize],
    strides: &[isize],
    offset: isize,
) -> Result<LazyRef> {
    ensure!(
        shape.len() == strides.len(),
        Shape,
        "as_strided: {} dims but {} strides",
        shape.len(),
        strides.len()
    );
    checked_numel(shape)?;
    let view = View {
        shape: shape.to_vec(),
        strides: strides.to_vec(),
        offset,
    };
    let base = contiguous(x);
    Ok(Lazy::new(
        LazyOp::View(base, view, None),
        x.dtype,
        shape.to_vec(),
    ))
}

pub fn contiguous(x: &LazyRef) -> LazyRef {
    match x.state() {
        State::Realized(_) | State::Lazy(LazyOp::Contiguous(_)) => x.clone(),
        State::Lazy(_) => Lazy::new(LazyOp::Contiguous(x.clone()), x.dtype, x.shape.clone()),
    }
}

/// A copy into a new buffer (tinygrad's `clone`), even when `x` is already realized.
pub fn copy(x: &LazyRef) -> LazyRef {
    Lazy::new(LazyOp::Contiguous(x.clone()), x.dtype, x.shape.clone())
}
