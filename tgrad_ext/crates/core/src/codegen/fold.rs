//! Reductions over axes their source does not vary along fold away: a max is its source, a sum
//! its source times the number of elements (one rounding, so
//! `ones(n).expand(m).sum()` is exactly m and runs no loop; `ones(n, n) @ ones(n, n)` is n in
//! every element). The reduced dims shrink to size 1, and `simplify` drops them.

use crate::dtype::DType;
use crate::graph::{BinaryOp, ReduceOp};
use crate::kernel::{Expr, ExprOp, Kernel};

/// `k` with its reduction folded, where the source is the same at every reduced index.
pub fn constant_reductions(k: &Kernel) -> Kernel {
    let Some(r) = &k.reduction else {
        return k.clone();
    };
    if k.reduce_axes.is_empty() {
        return k.clone();
    }
    let mut varies = false;
    r.src.for_each_load(&mut |_, _, v| {
        varies |= k
            .reduce_axes
            .iter()
            .any(|&a| v.strides[a] != 0 && v.shape[a] > 1);
    });
    if varies {
        return k.clone();
    }
    let count: f64 = k
        .reduce_axes
        .iter()
        .map(|&a| k.full_shape[a] as f64)
        .product();
    let value = match (r.op, r.dtype) {
        (ReduceOp::Max, _) => r.src.clone(),
        (ReduceOp::Sum, DType::I32) => {
            // two's complement: n additions of x and x * n agree mod 2^32
            let n = Expr::new(ExprOp::Const(f64::from(count as i64 as i32)), DType::I32);
            Expr::new(
                ExprOp::Binary(BinaryOp::Mul, Box::new(r.src.clone()), Box::new(n)),
                DType::I32,
            )
        }
        (ReduceOp::Sum, d) => {
            // in the sum's compute type (no double where the target may have none): the count
            // is exact below 2^24 in float, and the product rounds once
            let c = d.compute();
            let src = Expr::new(ExprOp::Cast(Box::new(r.src.clone())), c);
            let n = Expr::new(ExprOp::Const(count), c);
            let product = Expr::new(ExprOp::Binary(BinaryOp::Mul, Box::new(src), Box::new(n)), c);
            Expr::new(ExprOp::Cast(Box::new(product)), d)
        }
    };
    let mut out = k.clone();
    out.body = k.body.replace_acc(&value);
    // the source's loads move into the body, where they are read once per output
    out.reduction = None;
    for &a in &k.reduce_axes {
        out.full_shape[a] = 1;
    }
    let axes = k.reduce_axes.clone();
    out.reduce_axes = vec![];
    let shrink = |v: &crate::shape::View| {
        let mut v = v.clone();
        for &a in &axes {
            v.shape[a] = 1;
            v.strides[a] = 0;
        }
        v
    };
    out.map_views(shrink);
    out.store = k.store.as_ref().map(shrink);
    out
}
