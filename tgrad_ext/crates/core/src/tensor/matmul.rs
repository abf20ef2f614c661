//! `dot`/`matmul` with numpy's rules, decomposed exactly as tinygrad does it
//! (`(x.reshape(.., 1, K) * w.T.reshape(..)).sum(-1)`), so the scheduler sees the same graph; the
//! common case builds those nodes directly.

use crate::dtype::DType;
use crate::ensure;
use crate::error::{Error, Result};
use crate::graph::{BinaryOp, Lazy, LazyOp, LazyRef, Moves, ReduceOp};
use crate::shape::{checked_numel, Dims, View};

use super::{
    base_and_view, binary, broadcast_dims, cast, origin, reduce, reshape, to_i64, transpose,
    view_node,
};

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
    // the origins stand for the movement ops tinygrad's decomposition applies, for autograd:
    // x.reshape(.., M, 1, K).expand(.., M, N, K) and w.T.reshape(.., 1, N, K).expand(..)
    let x_moves = Moves::Broadcast {
        axis: dx - 1,
        swap_last: false,
    };
    let w_moves = Moves::Broadcast {
        axis: dw - 2,
        swap_last: true,
    };
    let xe = view_node(
        xb,
        xv.insert_broadcast(dx - 1, n),
        x.dtype,
        Some(origin(x, x_moves)),
    );
    let we = view_node(
        wb,
        wv.swap_last_two().insert_broadcast(dw - 2, m),
        x.dtype,
        Some(origin(w, w_moves)),
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
    let o = Some(origin(&red, Moves::Reshape));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::UnaryOp;
    use crate::runtime::buffer::Buffer;
    use crate::schedule::schedule;
    use crate::tensor::{from_buffer, shrink, unary};

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
