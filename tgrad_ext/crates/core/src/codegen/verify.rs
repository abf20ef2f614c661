//! IR verifiers, run between the passes of `plan`: a kernel AST or a micro-op program that
//! breaks an invariant the renderers rely on is an internal error naming the rule, never
//! rendered source that computes something else.

use std::collections::HashSet;

use crate::dtype::DType;
use crate::error::Error;
use crate::kernel::{Expr, ExprOp, Kernel};

use super::uops::{RangeKind, UOp, Val};

/// A broken invariant: which rule, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken(pub String);

impl Broken {
    /// The internal error this becomes, naming the pass it was found after.
    pub fn context(self, stage: &str) -> Error {
        Error::Internal(format!("IR verifier, {stage}: {}", self.0))
    }
}

macro_rules! require {
    ($cond:expr, $($arg:tt)*) => {
        if !($cond) {
            return Err(Broken(format!($($arg)*)));
        }
    };
}

fn expr(e: &Expr, k: &Kernel, in_reduction: bool) -> Result<(), Broken> {
    let rank = k.full_shape.len();
    match &e.op {
        ExprOp::Load { buf, view } => {
            require!(
                *buf >= 1 && *buf < k.buf_dtypes.len(),
                "load of buffer {buf}: a kernel reads buffers 1..{}",
                k.buf_dtypes.len()
            );
            require!(
                k.buf_dtypes[*buf] == e.dtype,
                "load of buffer {buf} as {} but the buffer is {}",
                e.dtype.name(),
                k.buf_dtypes[*buf].name()
            );
            require!(
                view.shape == k.full_shape && view.strides.len() == rank,
                "load of buffer {buf} through a view of shape {:?}, not the full shape {:?}",
                view.shape,
                k.full_shape
            );
        }
        ExprOp::Const(_) => {}
        ExprOp::Acc => {
            require!(
                !in_reduction,
                "the reduction's source reads its own accumulator"
            );
            let r = k
                .reduction
                .as_ref()
                .ok_or_else(|| Broken("Acc in a kernel without a reduction".into()))?;
            require!(
                e.dtype == r.dtype,
                "Acc typed {} but the reduction is {}",
                e.dtype.name(),
                r.dtype.name()
            );
        }
        ExprOp::Unary(_, a) => {
            require!(
                a.dtype == e.dtype,
                "unary op on {} typed {}",
                a.dtype.name(),
                e.dtype.name()
            );
            expr(a, k, in_reduction)?;
        }
        ExprOp::Binary(op, a, b) => {
            let out = if op.is_comparison() {
                DType::Bool
            } else {
                a.dtype
            };
            require!(
                a.dtype == b.dtype && e.dtype == out,
                "binary op {} on {} and {} typed {}",
                op.name(),
                a.dtype.name(),
                b.dtype.name(),
                e.dtype.name()
            );
            expr(a, k, in_reduction)?;
            expr(b, k, in_reduction)?;
        }
        ExprOp::Where(c, a, b) => {
            require!(
                c.dtype == DType::Bool && a.dtype == e.dtype && b.dtype == e.dtype,
                "where on a {} condition and {} and {} typed {}",
                c.dtype.name(),
                a.dtype.name(),
                b.dtype.name(),
                e.dtype.name()
            );
            for x in [c, a, b] {
                expr(x, k, in_reduction)?;
            }
        }
        ExprOp::Cast(a) => expr(a, k, in_reduction)?,
    }
    Ok(())
}

/// The kernel AST's invariants: axes, buffers, views over the full shape, operand dtypes, and
/// the accumulator used exactly where a reduction exists.
pub fn kernel(k: &Kernel) -> Result<(), Broken> {
    let rank = k.full_shape.len();
    require!(
        !k.buf_dtypes.is_empty(),
        "a kernel without an output buffer"
    );
    require!(
        k.reduce_axes.windows(2).all(|w| w[0] < w[1]),
        "reduce axes {:?} not sorted and unique",
        k.reduce_axes
    );
    require!(
        k.reduce_axes.iter().all(|&a| a < rank),
        "reduce axes {:?} outside rank {rank}",
        k.reduce_axes
    );
    require!(
        k.reduction.is_some() || k.reduce_axes.is_empty(),
        "reduce axes {:?} without a reduction",
        k.reduce_axes
    );
    if let Some(r) = &k.reduction {
        expr(&r.src, k, true)?;
        require!(
            r.src.dtype.compute() == r.dtype.compute(),
            "a {} reduction of {} values",
            r.dtype.name(),
            r.src.dtype.name()
        );
        require!(
            k.body.contains_acc(),
            "a reduction whose result the body never reads"
        );
    }
    expr(&k.body, k, false)?;
    if let Some(st) = &k.store {
        require!(
            st.shape == k.full_shape && k.reduce_axes.iter().all(|&a| st.strides[a] == 0),
            "a store view of shape {:?} strides {:?} over the full shape {:?} (reduced axes {:?} \
             must have stride 0)",
            st.shape,
            st.strides,
            k.full_shape,
            k.reduce_axes
        );
    }
    let out = k.buf_dtypes[0];
    require!(
        k.body.dtype == out,
        "the body computes {} but the output is {}",
        k.body.dtype.name(),
        out.name()
    );
    Ok(())
}

/// The micro-op program's invariants: ranges balanced and each dim opened once with the kind its
/// axis has, values defined before use, load slots in order and typed as their buffers,
/// accumulators defined before and folded inside every reduce range, one store after them.
pub fn uops(u: &[UOp], k: &Kernel) -> Result<(), Broken> {
    let mut c = UopsCheck {
        k,
        open: vec![],
        opened: HashSet::new(),
        defined: HashSet::new(),
        accs: HashSet::new(),
        next_slot: 1,
        next_const: 0,
        stores: 0,
    };
    for (i, op) in u.iter().enumerate() {
        c.uses(i, op)?;
        c.op(i, op)?;
    }
    require!(c.open.is_empty(), "ranges {:?} never closed", c.open);
    require!(c.stores == 1, "{} stores, expected one", c.stores);
    require!(
        c.next_const == k.consts().len(),
        "{} constant slots for {} constants",
        c.next_const,
        k.consts().len()
    );
    require!(
        c.next_slot == 1 + k.loads().len(),
        "{} load slots for {} loads",
        c.next_slot - 1,
        k.loads().len()
    );
    Ok(())
}

/// The state `uops` checks a program against, op by op.
struct UopsCheck<'a> {
    k: &'a Kernel,
    /// Dims of the ranges open now, outermost first.
    open: Vec<usize>,
    opened: HashSet<usize>,
    defined: HashSet<Val>,
    accs: HashSet<Val>,
    next_slot: usize,
    next_const: usize,
    stores: usize,
}

impl UopsCheck<'_> {
    fn uses(&self, i: usize, op: &UOp) -> Result<(), Broken> {
        let uses: Vec<Val> = match op {
            UOp::Unary { src, .. } | UOp::Cast { src, .. } | UOp::Store { src, .. } => vec![*src],
            UOp::Binary { a, b, .. } => vec![*a, *b],
            UOp::Where { c, a, b, .. } => vec![*c, *a, *b],
            UOp::Accumulate { acc, src, .. } => vec![*acc, *src],
            _ => vec![],
        };
        for v in uses {
            require!(
                self.defined.contains(&v),
                "micro-op {i} uses v{} before it is defined",
                v.0
            );
        }
        Ok(())
    }

    fn def(&mut self, v: Val) -> Result<(), Broken> {
        require!(self.defined.insert(v), "value v{} defined twice", v.0);
        Ok(())
    }

    fn op(&mut self, i: usize, op: &UOp) -> Result<(), Broken> {
        let (k, rank) = (self.k, self.k.full_shape.len());
        let in_reduce = |open: &[usize]| open.iter().any(|d| k.reduce_axes.contains(d));
        match op {
            UOp::Range { dim, kind } => {
                require!(
                    *dim < rank && self.opened.insert(*dim),
                    "micro-op {i}: range over dim {dim} (rank {rank}) opened twice or out of range"
                );
                require!(
                    (*kind == RangeKind::Reduce) == k.reduce_axes.contains(dim),
                    "micro-op {i}: dim {dim} ranged as {kind:?}"
                );
                require!(
                    *kind != RangeKind::Parallel || self.open.is_empty(),
                    "micro-op {i}: a parallel range inside another range"
                );
                self.open.push(*dim);
            }
            UOp::EndRange { dim } => require!(
                self.open.pop() == Some(*dim),
                "micro-op {i}: end of range {dim} does not close the innermost open range"
            ),
            UOp::Load {
                out,
                buf,
                slot,
                dtype,
            } => {
                require!(
                    *slot == self.next_slot,
                    "micro-op {i}: load slot {slot}, expected {}",
                    self.next_slot
                );
                self.next_slot += 1;
                require!(
                    *buf >= 1 && k.buf_dtypes.get(*buf) == Some(dtype),
                    "micro-op {i}: load of buffer {buf} as {}",
                    dtype.name()
                );
                self.def(*out)?;
            }
            UOp::Const { out, slot, .. } => {
                require!(
                    *slot == self.next_const,
                    "micro-op {i}: constant slot {slot}, expected {}",
                    self.next_const
                );
                self.next_const += 1;
                self.def(*out)?;
            }
            UOp::Unary { out, .. }
            | UOp::Binary { out, .. }
            | UOp::Where { out, .. }
            | UOp::Cast { out, .. } => {
                self.def(*out)?;
            }
            UOp::DefineAcc { out, .. } => {
                require!(
                    !in_reduce(&self.open),
                    "micro-op {i}: accumulator defined inside a reduce range"
                );
                self.def(*out)?;
                self.accs.insert(*out);
            }
            UOp::Accumulate { acc, .. } => {
                require!(
                    self.accs.contains(acc),
                    "micro-op {i}: accumulate into v{}, not an accumulator",
                    acc.0
                );
                require!(
                    k.reduce_axes.iter().all(|d| self.open.contains(d)),
                    "micro-op {i}: accumulate outside the reduce ranges"
                );
            }
            UOp::Store { dtype, .. } => {
                self.stores += 1;
                require!(
                    *dtype == k.buf_dtypes[0],
                    "micro-op {i}: store as {} into a {} output",
                    dtype.name(),
                    k.buf_dtypes[0].name()
                );
                let outer = (0..rank).filter(|d| !k.reduce_axes.contains(d)).count();
                require!(
                    self.open.len() == outer && !in_reduce(&self.open),
                    "micro-op {i}: the store is not inside exactly the output ranges"
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codegen::uops::linearize;
    use crate::dtype::DType;
    use crate::graph::{BinaryOp, ReduceOp};
    use crate::kernel::Reduction;
    use crate::shape::View;

    fn load(buf: usize, strides: Vec<isize>) -> Expr {
        Expr::new(
            ExprOp::Load {
                buf,
                view: View {
                    shape: vec![4, 8],
                    strides,
                    offset: 0,
                },
            },
            DType::F32,
        )
    }

    fn row_sums_plus_bias() -> Kernel {
        Kernel {
            full_shape: vec![4, 8],
            reduce_axes: vec![1],
            reduction: Some(Reduction {
                op: ReduceOp::Sum,
                src: load(1, vec![8, 1]),
                dtype: DType::F32,
            }),
            body: Expr::new(
                ExprOp::Binary(
                    BinaryOp::Add,
                    Box::new(Expr::new(ExprOp::Acc, DType::F32)),
                    Box::new(load(2, vec![1, 0])),
                ),
                DType::F32,
            ),
            buf_dtypes: vec![DType::F32; 3],
            store: None,
        }
    }

    #[test]
    fn well_formed_programs_pass() {
        let k = row_sums_plus_bias();
        kernel(&k).unwrap();
        uops(&linearize(&k).0, &k).unwrap();
    }

    #[test]
    fn malformed_kernels_are_rejected_naming_the_rule() {
        let mut k = row_sums_plus_bias();
        k.buf_dtypes[2] = DType::F16;
        assert!(kernel(&k)
            .unwrap_err()
            .0
            .contains("as float but the buffer is half"));
        let mut k = row_sums_plus_bias();
        k.reduce_axes = vec![1, 1];
        assert!(kernel(&k).unwrap_err().0.contains("sorted and unique"));
        let mut k = row_sums_plus_bias();
        k.reduction = None;
        k.reduce_axes = vec![];
        assert!(kernel(&k).unwrap_err().0.contains("without a reduction"));
        let mut k = row_sums_plus_bias();
        if let ExprOp::Binary(_, _, b) = &mut k.body.op {
            **b = load(0, vec![1, 0]);
        }
        assert!(kernel(&k).unwrap_err().0.contains("load of buffer 0"));
    }

    #[test]
    fn malformed_micro_op_programs_are_rejected_naming_the_rule() {
        let k = row_sums_plus_bias();
        let good = linearize(&k).0;
        // an unbalanced range, and one closed out of order
        let mut u = good.clone();
        u.pop();
        assert!(uops(&u, &k).unwrap_err().0.contains("never closed"));
        let mut u = good.clone();
        let end = u
            .iter()
            .position(|x| matches!(x, UOp::EndRange { dim: 1 }))
            .unwrap();
        u[end] = UOp::EndRange { dim: 0 };
        assert!(uops(&u, &k).unwrap_err().0.contains("does not close"));
        // a value used before it is defined
        let mut u = good.clone();
        let acc_at = u
            .iter()
            .position(|x| matches!(x, UOp::Accumulate { .. }))
            .unwrap();
        let load_at = u
            .iter()
            .position(|x| matches!(x, UOp::Load { .. }))
            .unwrap();
        u.swap(acc_at, load_at);
        assert!(uops(&u, &k).unwrap_err().0.contains("before it is defined"));
        // accumulation outside its reduce range
        let mut u = good.clone();
        let acc = u.remove(acc_at);
        let close = u
            .iter()
            .position(|x| matches!(x, UOp::EndRange { dim: 1 }))
            .unwrap();
        u.insert(close + 1, acc);
        assert!(uops(&u, &k)
            .unwrap_err()
            .0
            .contains("outside the reduce ranges"));
        // a load slot out of order
        let mut u = good;
        for x in &mut u {
            if let UOp::Load { slot, .. } = x {
                *slot += 1;
            }
        }
        assert!(uops(&u, &k).unwrap_err().0.contains("load slot"));
    }
}
