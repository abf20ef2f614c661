//! The factors of a sum of products: an elementwise expression broadcast across the kernel
//! (relu(x) @ w, a gradient masked by `where` @ x) is realized first, so the reduction reads
//! buffers and codegen plans it as a GEMM.

use super::{compose, Lowerer, Step};
use crate::error::Result;
use crate::graph::{BinaryOp, LazyOp, LazyRef, ReduceOp, State};
use crate::kernel::{Expr, ExprOp};
use crate::shape::View;

impl Lowerer<'_> {
    /// The reduction's source; the factors of a sum of products are lowered as operands.
    pub(super) fn lower_reduce_src(
        &mut self,
        rop: ReduceOp,
        src: &LazyRef,
        map: &View,
    ) -> Result<Expr> {
        let factors = if rop == ReduceOp::Sum && self.sched.buffer_of(src).is_none() {
            src.with_state(|s| match s {
                State::Lazy(LazyOp::Binary(BinaryOp::Mul, a, b)) => Some((a.clone(), b.clone())),
                _ => None,
            })
        } else {
            None
        };
        let Some((a, b)) = factors else {
            return self.lower(src, map);
        };
        let ea = self.lower_operand(&a, map)?;
        let eb = self.lower_operand(&b, map)?;
        Ok(Expr::new(
            ExprOp::Binary(BinaryOp::Mul, Box::new(ea), Box::new(eb)),
            src.dtype,
        ))
    }

    /// A factor of a sum of products: an elementwise expression broadcast across the kernel
    /// (fewer elements than the full shape) is realized and loaded, so the reduction is a
    /// contraction of buffers; anything else is lowered in place.
    fn lower_operand(&mut self, node: &LazyRef, map: &View) -> Result<Expr> {
        if self.sched.buffer_of(node).is_some() {
            return self.lower(node, map);
        }
        let step = node.with_state(|s| match s {
            State::Lazy(LazyOp::View(src, v, _)) => {
                Some(Step::View(src.clone(), compose(map, &node.shape, v)))
            }
            State::Lazy(
                LazyOp::Unary(..) | LazyOp::Binary(..) | LazyOp::Where(..) | LazyOp::Cast(_),
            ) => None,
            State::Lazy(op) => Some(Step::Op(op.clone())),
            State::Realized(_) => unreachable!("realized nodes have a buffer"),
        });
        match step {
            Some(Step::View(src, Some(m))) => self.lower_operand(&src, &m),
            None if node.numel() < crate::shape::numel(&self.full) && !is_plain(node) => {
                self.realized_load(node, map)
            }
            _ => self.lower(node, map),
        }
    }
}

/// Whether a node is a buffer read as it is or through widening casts (what a GEMM packs
/// directly).
fn is_plain(node: &LazyRef) -> bool {
    node.buffer().is_some()
        || node.with_state(|s| match s {
            State::Lazy(LazyOp::Cast(a)) => {
                a.dtype.is_float()
                    && node.dtype.is_float()
                    && a.dtype.itemsize() <= node.dtype.itemsize()
                    && is_plain(a)
            }
            State::Lazy(LazyOp::View(a, ..)) => is_plain(a),
            _ => false,
        })
}
