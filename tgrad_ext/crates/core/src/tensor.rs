//! tinygrad's tensor semantics on lazy nodes: broadcasting, dtype promotion, movement ops as
//! views, reductions, and `dot`/`matmul` decomposed exactly as tinygrad does it
//! (`(x.reshape(.., 1, K) * w.T.reshape(..)).sum(-1)`), so the scheduler sees the same graph.

use std::sync::Arc;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::{
    BinaryOp, Lazy, LazyOp, LazyRef, MoveOp, Origin, Part, ReduceOp, State, UnaryOp,
};
use crate::runtime::buffer::Buffer;
use crate::shape::{checked_numel, resolve_axis, Dims, View};
use crate::{bail, ensure};

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
    view_node(base, new_view, x.dtype, Some(origin(x, vec![op])))
}

fn origin(src: &LazyRef, ops: Vec<MoveOp>) -> Arc<Origin> {
    Arc::new(Origin {
        src: src.clone(),
        ops,
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
    ax.dedup();
    let kept: Vec<usize> = x
        .shape
        .iter()
        .enumerate()
        .map(|(i, &s)| if ax.contains(&i) { 1 } else { s })
        .collect();
    let red = if ax.iter().all(|&a| x.shape[a] == 1) {
        x.clone()
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

/// `shape` with a dim of `size` inserted before `axis`.
fn inserted(shape: &[usize], axis: usize, size: usize) -> Vec<usize> {
    let mut s = shape.to_vec();
    s.insert(axis, size);
    s
}

/// tinygrad's `Tensor.dot` (also `matmul` and `@`): numpy's rules for 1-D, 2-D and batched
/// operands with broadcast batch dims.
///
/// The common case (both at least 2-D, equal batch dims, K > 1, one dtype) builds the nodes
/// `dot_general` would, directly: `x` seen as `[.., M, N, K]` with N broadcast, `w` transposed
/// and seen the same way with M broadcast, their product, the sum over K and the reshape that
/// drops it. Same graph, same kernel (tested), without validating each intermediate reshape,
/// transpose and expand: `a @ b` is the hot path of a dispatch-bound matmul.
pub fn dot(x: &LazyRef, w: &LazyRef) -> Result<LazyRef> {
    let (dx, dw) = (x.shape.len(), w.shape.len());
    let direct = dx >= 2
        && dw >= 2
        && x.dtype == w.dtype
        && x.shape[..dx - 2] == w.shape[..dw - 2]
        && x.shape[dx - 1] == w.shape[dw - 2]
        && x.shape[dx - 1] > 1;
    if !direct {
        return dot_general(x, w);
    }
    let (m, n) = (x.shape[dx - 2], w.shape[dw - 1]);
    // the kernel iterates [.., M, N, K]: that space must be addressable too
    let mut full = x.shape.clone();
    full.insert(dx - 1, n);
    checked_numel(&full)?;
    let (xb, xv) = base_and_view(x);
    let (wb, wv) = base_and_view(w);
    // the origins are the movement ops tinygrad's decomposition applies, for autograd
    let x_ops = vec![
        MoveOp::Reshape(inserted(&x.shape, dx - 1, 1)),
        MoveOp::Expand(inserted(&x.shape, dx - 1, n)),
    ];
    let mut swap: Vec<usize> = (0..dw).collect();
    swap.swap(dw - 1, dw - 2);
    let mut wt_shape = w.shape.clone();
    wt_shape.swap(dw - 1, dw - 2);
    let w_ops = vec![
        MoveOp::Permute(swap),
        MoveOp::Reshape(inserted(&wt_shape, dw - 2, 1)),
        MoveOp::Expand(inserted(&wt_shape, dw - 2, m)),
    ];
    let xe = view_node(
        xb,
        xv.insert_broadcast(dx - 1, n),
        x.dtype,
        Some(origin(x, x_ops)),
    );
    let we = view_node(
        wb,
        wv.swap_last_two().insert_broadcast(dw - 2, m),
        x.dtype,
        Some(origin(w, w_ops)),
    );
    debug_assert_eq!(xe.shape, we.shape);
    let full = xe.shape.clone();
    let prod = Lazy::new(LazyOp::Binary(BinaryOp::Mul, xe, we), x.dtype, full);
    let mut kept = prod.shape.clone();
    kept[dx] = 1;
    let red = Lazy::new(LazyOp::Reduce(ReduceOp::Sum, prod, vec![dx]), x.dtype, kept);
    let mut out = x.shape.clone();
    out[dx - 1] = n;
    let v = View::contiguous(&red.shape)
        .reshape(&out)
        .expect("dropping a size-1 dim is always a view");
    let o = Some(origin(&red, vec![MoveOp::Reshape(out)]));
    Ok(view_node(red, v, x.dtype, o))
}

/// `dot` through tinygrad's decomposition: reshape, transpose, broadcast multiply, sum.
pub fn dot_general(x: &LazyRef, w: &LazyRef) -> Result<LazyRef> {
    let (dx, dw) = (x.shape.len(), w.shape.len());
    ensure!(
        dx > 0 && dw > 0,
        Shape,
        "both tensors need to be at least 1D, got {dx}D and {dw}D"
    );
    let axis_w = dw - dw.min(2);
    ensure!(
        x.shape[dx - 1] == w.shape[axis_w],
        Shape,
        "cannot dot {} and {}: inner dims {} and {} differ",
        Dims(&x.shape),
        Dims(&w.shape),
        x.shape[dx - 1],
        w.shape[axis_w]
    );
    let dtype = DType::promote(x.dtype, w.dtype);
    let (x, w) = (cast(x, dtype), cast(w, dtype));
    let ones = (dx - 1).min(dw - 1).min(1);
    let mut xs: Vec<i64> = to_i64(&x.shape[..dx - 1]);
    xs.extend(std::iter::repeat_n(1, ones));
    xs.push(x.shape[dx - 1] as i64);
    let mut ws: Vec<i64> = to_i64(&w.shape[..dw.saturating_sub(2)]);
    ws.extend(std::iter::repeat_n(1, ones));
    ws.extend(to_i64(&w.shape[axis_w..]));
    let xr = reshape(&x, &xs)?;
    let wr = reshape(&w, &ws)?;
    // tinygrad: `.transpose(-1, axis_w)` with axis_w = -min(w.ndim, 2)
    let wt = transpose(&wr, -1, -(dw.min(2) as i64))?;
    let full = broadcast_dims(&xr.shape, &wt.shape).map_err(|_| {
        Error::Shape(format!(
            "cannot matmul {} and {}: batch dims {} and {} do not broadcast",
            Dims(&x.shape),
            Dims(&w.shape),
            Dims(&x.shape[..dx.saturating_sub(2)]),
            Dims(&w.shape[..dw.saturating_sub(2)])
        ))
    })?;
    checked_numel(&full)?;
    let prod = binary(BinaryOp::Mul, &xr, &wt)?;
    reduce(ReduceOp::Sum, &prod, &[-1], false)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::schedule;

    fn realized(shape: &[usize]) -> LazyRef {
        let buf = Buffer::new(DType::F32, crate::shape::numel(shape), true).unwrap();
        from_buffer(buf, shape.to_vec()).unwrap()
    }

    /// An operand of logical shape `shape` in one of several forms: a buffer, a transposed
    /// view of one, a lazy elementwise result, a shrunk view of a larger buffer.
    fn operand(shape: &[usize], form: usize) -> LazyRef {
        let n = shape.len();
        match form {
            0 => realized(shape),
            1 => {
                let mut t = shape.to_vec();
                t.swap(n - 1, n - 2);
                transpose(&realized(&t), -1, -2).unwrap()
            }
            2 => unary(UnaryOp::Neg, &realized(shape)),
            _ => {
                let big: Vec<usize> = shape.iter().map(|&d| d + 2).collect();
                let ranges: Vec<(usize, usize)> = shape.iter().map(|&d| (1, d + 1)).collect();
                shrink(&realized(&big), &ranges).unwrap()
            }
        }
    }

    /// The direct `dot` builds the graph tinygrad's decomposition builds: every shape and
    /// operand form schedules to equal kernels over the same buffers.
    #[test]
    fn direct_dot_schedules_exactly_like_the_decomposition() {
        let mut checked = 0;
        for batch in [vec![], vec![3], vec![2, 1]] {
            for (m, k, n) in [(5, 7, 3), (1, 4, 6), (6, 4, 1), (1, 2, 1), (8, 16, 8)] {
                for fx in 0..4 {
                    for fw in 0..4 {
                        let xs: Vec<usize> = batch.iter().copied().chain([m, k]).collect();
                        let ws: Vec<usize> = batch.iter().copied().chain([k, n]).collect();
                        let (x, w) = (operand(&xs, fx), operand(&ws, fw));
                        let fast = dot(&x, &w).unwrap();
                        let slow = dot_general(&x, &w).unwrap();
                        assert_eq!(fast.shape, slow.shape);
                        let (sf, ss) = (schedule(&[fast]).unwrap(), schedule(&[slow]).unwrap());
                        assert_eq!(sf.items.len(), ss.items.len(), "{xs:?} @ {ws:?}");
                        // inputs are the same buffers; a buffer made by the schedule is
                        // named by the item that writes it
                        let ids = |s: &crate::schedule::Schedule| {
                            let made: Vec<u64> = s.items.iter().map(|i| i.bufs[0].id).collect();
                            s.items
                                .iter()
                                .map(|i| {
                                    i.bufs[1..]
                                        .iter()
                                        .map(|b| match made.iter().position(|&m| m == b.id) {
                                            Some(p) => format!("item{p}"),
                                            None => b.id.to_string(),
                                        })
                                        .collect::<Vec<_>>()
                                })
                                .collect::<Vec<_>>()
                        };
                        for (a, b) in sf.items.iter().zip(&ss.items) {
                            assert_eq!(a.kernel, b.kernel, "{xs:?} ({fx}) @ {ws:?} ({fw})");
                        }
                        assert_eq!(ids(&sf), ids(&ss));
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, 3 * 5 * 16);
    }

    #[test]
    fn dot_outside_the_direct_case_still_follows_numpy() {
        // 1-D operands, broadcast batch dims and K = 1 take the decomposition
        assert_eq!(
            dot(&realized(&[4]), &realized(&[4, 3])).unwrap().shape,
            vec![3]
        );
        assert_eq!(
            dot(&realized(&[2, 5, 4]), &realized(&[4, 3]))
                .unwrap()
                .shape,
            vec![2, 5, 3]
        );
        assert_eq!(
            dot(&realized(&[5, 1]), &realized(&[1, 3])).unwrap().shape,
            vec![5, 3]
        );
        assert!(dot(&realized(&[5, 4]), &realized(&[3, 2])).is_err());
    }
}
