//! Kernels that write into part of a buffer: the regions of an `Assemble` node (a fill kernel
//! where parts leave gaps, then each part's kernel storing through its region's view), and a
//! permuted view of a reduction stored straight into the permuted layout.

use std::sync::Arc;

use super::{ScheduleItem, Scheduler};
use crate::error::Result;
use crate::graph::{Lazy, LazyOp, LazyRef, Part, State};
use crate::kernel::{Expr, ExprOp, Kernel};
use crate::runtime::buffer::Buffer;
use crate::shape::{contiguous_strides, View};

impl Scheduler {
    /// `node` as a permuted view of a reduction not computed yet and read by nothing else (the
    /// gradient of a weight is one): the reduction, and the view through which its kernel stores
    /// straight into `node`'s layout.
    pub(super) fn permuted_reduction(&self, node: &LazyRef) -> Option<(LazyRef, View)> {
        let (base, store) = node.with_state(|s| match s {
            State::Lazy(LazyOp::View(base, v, _)) => {
                v.inverse(&base.shape).map(|st| (base.clone(), st))
            }
            _ => None,
        })?;
        let is_reduce = base.with_state(|s| matches!(s, State::Lazy(LazyOp::Reduce(..))));
        // a reduction something else reads too is computed once, in its own layout
        let shared = self.uses.get(&base.key()).is_some_and(|&n| n > 1);
        (is_reduce && !shared && self.buffer_of(&base).is_none()).then_some((base, store))
    }

    /// The reduction's kernel of a `permuted_reduction`, storing into `out` in `node`'s layout
    /// instead of computing the reduction and copying it.
    pub(super) fn transposed_reduction(
        &mut self,
        node: &LazyRef,
        out: &Arc<Buffer>,
    ) -> Result<Option<ScheduleItem>> {
        let Some((base, store)) = self.permuted_reduction(node) else {
            return Ok(None);
        };
        self.lower_kernel(&base, out, Some(&store))
    }

    /// The kernels of an `Assemble` node: the fill where parts leave gaps, then each part
    /// computed into its region of `out`.
    pub(super) fn assemble(
        &mut self,
        node: &LazyRef,
        out: &Arc<Buffer>,
        parts: &[Part],
        fill: f64,
    ) -> Result<()> {
        let covered: usize = parts.iter().map(|p| p.src.numel()).sum();
        if covered < node.numel() {
            let kernel = Kernel {
                full_shape: node.shape.clone(),
                reduce_axes: vec![],
                reduction: None,
                body: Expr::new(ExprOp::Const(fill), node.dtype),
                buf_dtypes: vec![node.dtype],
                store: None,
            };
            let bufs = vec![out.clone()];
            self.out.items.push(ScheduleItem { kernel, bufs });
        }
        let strides = contiguous_strides(&node.shape);
        for p in parts.iter().filter(|p| p.src.numel() > 0) {
            let region = View {
                shape: p.src.shape.clone(),
                strides: (0..strides.len())
                    .map(|d| {
                        if p.src.shape[d] == 1 {
                            0
                        } else {
                            strides[d] * p.step[d] as isize
                        }
                    })
                    .collect(),
                offset: (0..strides.len())
                    .map(|d| strides[d] * p.offset[d] as isize)
                    .sum(),
            };
            let item = if let Some(item) = self.lower_kernel(&p.src, out, Some(&region))? {
                item
            } else {
                // the part's kernel cannot store through the region: compute it, then copy
                let buf = self.realize(&p.src)?;
                let src = Lazy::realized(buf, p.src.shape.clone());
                self.lower_kernel(&src, out, Some(&region))?
                    .expect("a copy kernel stores through any view")
            };
            self.out.items.push(item);
        }
        Ok(())
    }
}
