//! Micro-ops: a kernel as a linear program of ranges, loads through strided views, ALU ops,
//! accumulation and a store. Values are SSA ids (`Val`); sizes, strides and offsets are
//! run-time parameters, so one compiled program serves every shape with the same structure.
//!
//! Parameter layout: `full_shape[0..rank]`, then per view slot (slot 0 is the output):
//! `offset, stride[0..rank]`.

use crate::dtype::DType;
use crate::graph::{BinaryOp, ReduceOp, UnaryOp};
use crate::kernel::{Expr, ExprOp, Kernel};

use crate::abi::{LoopParams, ViewParams};

/// An SSA value id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Val(pub usize);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RangeKind {
    /// Split across threads.
    Parallel,
    Loop,
    Reduce,
}

#[derive(Debug, Clone, PartialEq)]
pub enum UOp {
    Range {
        dim: usize,
        kind: RangeKind,
    },
    EndRange {
        dim: usize,
    },
    /// Element `slot`'s view index: offset + sum(range_d * stride_d).
    Load {
        out: Val,
        buf: usize,
        slot: usize,
        dtype: DType,
    },
    /// Constant `slot` of the kernel (a run-time parameter); `value` is what it holds at plan
    /// time (for printing).
    Const {
        out: Val,
        slot: usize,
        value: f64,
        dtype: DType,
    },
    Unary {
        out: Val,
        op: UnaryOp,
        src: Val,
        dtype: DType,
    },
    Binary {
        out: Val,
        op: BinaryOp,
        a: Val,
        b: Val,
        dtype: DType,
    },
    /// `c ? a : b` (`c` bool; `a`, `b` and the result `dtype`).
    Where {
        out: Val,
        c: Val,
        a: Val,
        b: Val,
        dtype: DType,
    },
    /// Convert `src` (held in `from.compute()`) to `to`, rounding to `to`'s precision.
    Cast {
        out: Val,
        src: Val,
        from: DType,
        to: DType,
    },
    DefineAcc {
        out: Val,
        op: ReduceOp,
        dtype: DType,
    },
    Accumulate {
        acc: Val,
        op: ReduceOp,
        src: Val,
    },
    /// Store to the output (slot 0) at the current index.
    Store {
        src: Val,
        dtype: DType,
    },
}

struct Builder {
    uops: Vec<UOp>,
    next: usize,
    slots: usize,
    consts: usize,
    acc: Option<Val>,
}

impl Builder {
    fn val(&mut self) -> Val {
        self.next += 1;
        Val(self.next - 1)
    }

    fn expr(&mut self, e: &Expr) -> Val {
        let out = self.val();
        let uop = match &e.op {
            ExprOp::Load { buf, .. } => {
                self.slots += 1;
                UOp::Load {
                    out,
                    buf: *buf,
                    slot: self.slots - 1,
                    dtype: e.dtype,
                }
            }
            ExprOp::Const(value) => {
                self.consts += 1;
                UOp::Const {
                    out,
                    slot: self.consts - 1,
                    value: *value,
                    dtype: e.dtype,
                }
            }
            ExprOp::Acc => {
                self.next -= 1;
                return self
                    .acc
                    .expect("Acc only appears in kernels with a reduction");
            }
            ExprOp::Unary(op, a) => {
                let src = self.expr(a);
                UOp::Unary {
                    out,
                    op: *op,
                    src,
                    dtype: e.dtype,
                }
            }
            ExprOp::Binary(op, a, b) => {
                let (a, b) = (self.expr(a), self.expr(b));
                UOp::Binary {
                    out,
                    op: *op,
                    a,
                    b,
                    dtype: e.dtype,
                }
            }
            ExprOp::Where(c, a, b) => {
                let (c, a, b) = (self.expr(c), self.expr(a), self.expr(b));
                UOp::Where {
                    out,
                    c,
                    a,
                    b,
                    dtype: e.dtype,
                }
            }
            ExprOp::Cast(a) => {
                let src = self.expr(a);
                UOp::Cast {
                    out,
                    src,
                    from: a.dtype,
                    to: e.dtype,
                }
            }
        };
        self.uops.push(uop);
        out
    }
}

/// Linearize a (simplified) kernel: its micro-ops and run-time parameters.
pub fn linearize(k: &Kernel) -> (Vec<UOp>, LoopParams) {
    let rank = k.full_shape.len();
    let outer: Vec<usize> = (0..rank).filter(|d| !k.reduce_axes.contains(d)).collect();
    let mut b = Builder {
        uops: vec![],
        next: 0,
        slots: 1,
        consts: 0,
        acc: None,
    };
    for (i, &d) in outer.iter().enumerate() {
        let kind = if i == 0 {
            RangeKind::Parallel
        } else {
            RangeKind::Loop
        };
        b.uops.push(UOp::Range { dim: d, kind });
    }
    if let Some(r) = &k.reduction {
        let acc = b.val();
        b.uops.push(UOp::DefineAcc {
            out: acc,
            op: r.op,
            dtype: r.dtype,
        });
        for &d in &k.reduce_axes {
            b.uops.push(UOp::Range {
                dim: d,
                kind: RangeKind::Reduce,
            });
        }
        let src = b.expr(&r.src);
        b.uops.push(UOp::Accumulate { acc, op: r.op, src });
        for &d in k.reduce_axes.iter().rev() {
            b.uops.push(UOp::EndRange { dim: d });
        }
        b.acc = Some(acc);
    }
    let v = b.expr(&k.body);
    b.uops.push(UOp::Store {
        src: v,
        dtype: k.buf_dtypes[0],
    });
    for &d in outer.iter().rev() {
        b.uops.push(UOp::EndRange { dim: d });
    }

    let view = |v: &crate::shape::View| ViewParams {
        offset: v.offset as i64,
        strides: v.strides.iter().map(|&s| s as i64).collect(),
    };
    let mut views = vec![view(&k.out_view())];
    views.extend(k.loads().into_iter().map(|(_, v)| view(v)));
    let params = LoopParams {
        shape: k.full_shape.iter().map(|&s| s as i64).collect(),
        views,
        consts: k.const_words(),
    };
    (b.uops, params)
}

/// Threads a CPU loop program runs on: one for tiny kernels, else up to `max`, no more than the
/// outer dims' elements.
pub fn cpu_threads(k: &Kernel, max: usize) -> usize {
    let work: usize = k.full_shape.iter().product();
    let outs: usize = (0..k.full_shape.len())
        .filter(|d| !k.reduce_axes.contains(d))
        .map(|d| k.full_shape[d])
        .product();
    if work < 1 << 15 {
        1
    } else {
        max.min(outs).max(1)
    }
}

/// A micro-op program, one op per line, indented by range: as TGRAD_DEBUG=3 and the golden IR
/// files show it.
pub struct Listing<'a>(pub &'a [UOp]);

impl std::fmt::Display for Listing<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut depth = 0usize;
        for u in self.0 {
            if matches!(u, UOp::EndRange { .. }) {
                depth = depth.saturating_sub(1);
            }
            let pad = "  ".repeat(depth);
            let v = |x: &Val| format!("v{}", x.0);
            match u {
                UOp::Range { dim, kind } => writeln!(f, "{pad}range {dim} {kind:?}")?,
                UOp::EndRange { dim } => writeln!(f, "{pad}end {dim}")?,
                UOp::Load {
                    out,
                    buf,
                    slot,
                    dtype,
                } => {
                    writeln!(
                        f,
                        "{pad}{} = load b{buf} slot {slot} {}",
                        v(out),
                        dtype.name()
                    )?;
                }
                UOp::Const {
                    out,
                    slot,
                    value,
                    dtype,
                } => {
                    let d = dtype.name();
                    writeln!(f, "{pad}{} = const c{slot} ({value:e}) {d}", v(out))?;
                }
                UOp::Unary {
                    out,
                    op,
                    src,
                    dtype,
                } => {
                    writeln!(
                        f,
                        "{pad}{} = {} {} {}",
                        v(out),
                        op.name(),
                        v(src),
                        dtype.name()
                    )?;
                }
                UOp::Binary {
                    out,
                    op,
                    a,
                    b,
                    dtype,
                } => writeln!(
                    f,
                    "{pad}{} = {} {} {} {}",
                    v(out),
                    op.name(),
                    v(a),
                    v(b),
                    dtype.name()
                )?,
                UOp::Where {
                    out,
                    c,
                    a,
                    b,
                    dtype,
                } => writeln!(
                    f,
                    "{pad}{} = where {} {} {} {}",
                    v(out),
                    v(c),
                    v(a),
                    v(b),
                    dtype.name()
                )?,
                UOp::Cast { out, src, from, to } => {
                    writeln!(
                        f,
                        "{pad}{} = cast {} {} -> {}",
                        v(out),
                        v(src),
                        from.name(),
                        to.name()
                    )?;
                }
                UOp::DefineAcc { out, op, dtype } => {
                    writeln!(f, "{pad}{} = acc {} {}", v(out), op.name(), dtype.name())?;
                }
                UOp::Accumulate { acc, op, src } => {
                    writeln!(f, "{pad}{} {}= {}", v(acc), op.name(), v(src))?;
                }
                UOp::Store { src, dtype } => writeln!(f, "{pad}store {} {}", v(src), dtype.name())?,
            }
            if matches!(u, UOp::Range { .. }) {
                depth += 1;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::View;

    #[test]
    fn reduce_kernel_linearizes_in_loop_order() {
        let load = |buf, strides: Vec<isize>| Expr {
            op: ExprOp::Load {
                buf,
                view: View {
                    shape: vec![4, 8],
                    strides,
                    offset: 0,
                },
            },
            dtype: DType::F32,
        };
        let k = Kernel {
            full_shape: vec![4, 8],
            reduce_axes: vec![1],
            reduction: Some(crate::kernel::Reduction {
                op: ReduceOp::Sum,
                src: load(1, vec![8, 1]),
                dtype: DType::F32,
            }),
            body: Expr {
                op: ExprOp::Binary(
                    BinaryOp::Add,
                    Box::new(Expr {
                        op: ExprOp::Acc,
                        dtype: DType::F32,
                    }),
                    Box::new(load(2, vec![1, 0])),
                ),
                dtype: DType::F32,
            },
            buf_dtypes: vec![DType::F32; 3],
            store: None,
        };
        let (u, params) = linearize(&k);
        let threads = cpu_threads(&k, 4);
        assert!(matches!(
            u[0],
            UOp::Range {
                dim: 0,
                kind: RangeKind::Parallel
            }
        ));
        assert!(matches!(u[1], UOp::DefineAcc { .. }));
        assert!(matches!(
            u[2],
            UOp::Range {
                dim: 1,
                kind: RangeKind::Reduce
            }
        ));
        assert!(matches!(u.last(), Some(UOp::EndRange { dim: 0 })));
        // shape (2) + 3 views * (1 offset + 2 strides) + one (unused) constant word
        assert_eq!(params.words().len(), 2 + 3 * 3 + 1);
        assert_eq!(
            (params.views[0].offset, &params.views[0].strides[..]),
            (0, &[1, 0][..]),
            "output view: contiguous over (4,1), broadcast on the reduce dim"
        );
        assert_eq!(threads, 1, "tiny kernels run on one thread");
    }
}
