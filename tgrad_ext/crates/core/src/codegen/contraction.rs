//! Recognising a contraction in a kernel AST, independent of any target.
//!
//! A kernel is a contraction (a batched GEMM with an epilogue) when its reduction is
//! `sum(load_a * load_b)` over one axis K and every other axis is read by exactly one of A (an M
//! axis) or B (an N axis), or by both or neither (a batch axis); there is at most one M and one N
//! axis. Operands may be any strided views (transposed, broadcast). The epilogue (bias, relu,
//! casts) is the kernel body, applied to the accumulated value. Targets then choose how to
//! compute it (`cpu_gemm` for the BLIS-style CPU plan, `gpu_gemm` for GPU tiles).

use crate::abi::{GemmHeader, OperandParams, MAX_BATCH};
use crate::dtype::DType;
use crate::graph::{BinaryOp, ReduceOp};
use crate::kernel::{Expr, ExprOp, Kernel};
use crate::shape::View;

#[derive(Debug, Clone, PartialEq)]
pub struct Contraction {
    /// The accumulator type (float for half and float inputs, double for double).
    pub acc: DType,
    pub out_dtype: DType,
    /// (buffer, dtype) of A and B.
    pub a: (usize, DType),
    pub b: (usize, DType),
    /// The kernel body: the epilogue applied to `Acc`.
    pub epilogue: Expr,
    /// (buffer, dtype) of each epilogue load, in pre-order (operands 3..).
    pub epi_loads: Vec<(usize, DType)>,
    /// The epilogue's constants (pre-order): their dtypes, and the parameter slot of the first.
    pub epi_consts: Vec<DType>,
    pub epi_const_base: usize,
    /// Every constant's parameter word (the kernel's, `Kernel::const_words`).
    pub const_words: Vec<i64>,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub batch: usize,
    /// The batch dims, right-aligned (leading unused dims are 1).
    pub batch_dims: [usize; MAX_BATCH],
    /// Where each operand's elements are: the output, A, B, then the epilogue loads.
    pub operands: Vec<OperandParams>,
}

fn load_of(e: &Expr) -> Option<(usize, DType, &View)> {
    match &e.op {
        ExprOp::Load { buf, view } => Some((*buf, e.dtype, view)),
        // widening casts are exact, so they can happen while packing
        ExprOp::Cast(inner) => match &inner.op {
            ExprOp::Load { buf, view }
                if inner.dtype.is_float() && inner.dtype.itemsize() <= e.dtype.itemsize() =>
            {
                Some((*buf, inner.dtype, view))
            }
            _ => None,
        },
        _ => None,
    }
}

impl Contraction {
    /// The contraction a simplified kernel computes, if it is one.
    pub fn recognise(k: &Kernel) -> Option<Contraction> {
        let r = k.reduction.as_ref()?;
        if r.op != ReduceOp::Sum || k.reduce_axes.len() != 1 || !r.dtype.is_float() {
            return None;
        }
        let acc = r.dtype.compute();
        let ExprOp::Binary(BinaryOp::Mul, ea, eb) = &r.src.op else {
            return None;
        };
        let (mut abuf, mut adt, mut av) = load_of(ea)?;
        let (mut bbuf, mut bdt, mut bv) = load_of(eb)?;
        let fits = |d: DType| d.is_float() && (d.compute() == acc || d == DType::F16);
        if !fits(adt) || !fits(bdt) || !k.buf_dtypes[0].is_float() {
            return None;
        }
        let kd = k.reduce_axes[0];
        let (mut m_ax, mut n_ax, mut batch_ax) = (vec![], vec![], vec![]);
        for d in (0..k.full_shape.len()).filter(|&d| d != kd) {
            match (av.strides[d] != 0, bv.strides[d] != 0) {
                (true, false) => m_ax.push(d),
                (false, true) => n_ax.push(d),
                _ => batch_ax.push(d),
            }
        }
        if m_ax.len() > 1
            || n_ax.len() > 1
            || (m_ax.is_empty() && n_ax.is_empty())
            || batch_ax.len() > MAX_BATCH
        {
            return None;
        }
        // Targets store C a row of N at a time (vectors along N). When the output is contiguous
        // along the M axis instead (a weight's gradient, a product stored transposed), compute
        // C^T = B^T A^T: the operands trade places, and every element is the same sum of the same
        // products in the same order (a * b == b * a exactly).
        let out = k.out_view();
        let unit = |ax: &[usize]| ax.first().is_some_and(|&d| out.strides[d] == 1);
        if unit(&m_ax) && !unit(&n_ax) && !n_ax.is_empty() {
            std::mem::swap(&mut m_ax, &mut n_ax);
            std::mem::swap(&mut abuf, &mut bbuf);
            std::mem::swap(&mut adt, &mut bdt);
            std::mem::swap(&mut av, &mut bv);
        }
        let mut epi_views: Vec<(usize, DType, View)> = vec![];
        k.body
            .for_each_load(&mut |b, d, v| epi_views.push((b, d, v.clone())));
        let size = |ax: &[usize]| ax.first().map_or(1, |&d| k.full_shape[d]);
        // batch dims right-aligned so the innermost is last
        let right = |i: usize| {
            (i + batch_ax.len())
                .checked_sub(MAX_BATCH)
                .map(|j| batch_ax[j])
        };
        let operand = |v: &View| {
            let st = |ax: &[usize]| ax.first().map_or(0, |&d| v.strides[d] as i64);
            OperandParams {
                offset: v.offset as i64,
                sm: st(&m_ax),
                sn: st(&n_ax),
                sk: v.strides[kd] as i64,
                sb: std::array::from_fn(|i| right(i).map_or(0, |d| v.strides[d] as i64)),
            }
        };
        let mut operands = vec![operand(&k.out_view()), operand(av), operand(bv)];
        operands.extend(epi_views.iter().map(|(_, _, v)| operand(v)));
        Some(Contraction {
            acc,
            out_dtype: k.buf_dtypes[0],
            a: (abuf, adt),
            b: (bbuf, bdt),
            epilogue: k.body.clone(),
            epi_loads: epi_views.iter().map(|(b, d, _)| (*b, *d)).collect(),
            epi_consts: {
                let mut v = vec![];
                k.body.visit(&mut |e| {
                    if matches!(e.op, ExprOp::Const(_)) {
                        v.push(e.dtype);
                    }
                });
                v
            },
            epi_const_base: k.consts().len() - {
                let mut n = 0;
                k.body
                    .visit(&mut |e| n += usize::from(matches!(e.op, ExprOp::Const(_))));
                n
            },
            const_words: k.const_words(),
            m: size(&m_ax),
            n: size(&n_ax),
            k: k.full_shape[kd],
            batch: batch_ax.iter().map(|&d| k.full_shape[d]).product(),
            batch_dims: std::array::from_fn(|i| right(i).map_or(1, |d| k.full_shape[d])),
            operands,
        })
    }

    /// Whether A, B and C all hold accumulator values: only then can a CPU GEMM read operands in
    /// place (or take the vector path); otherwise every operand is converted as it is packed.
    pub fn holds_accumulators(&self) -> bool {
        self.out_dtype == self.acc && self.a.1 == self.acc && self.b.1 == self.acc
    }

    /// The header's sizes (targets fill in their blocking fields).
    pub fn header(&self) -> GemmHeader {
        GemmHeader {
            m: self.m as i64,
            n: self.n as i64,
            k: self.k as i64,
            batch: self.batch as i64,
            batch_dims: self.batch_dims.map(|d| d as i64),
            ..GemmHeader::default()
        }
    }

    /// What rendered source depends on besides the target's choices: dtypes, buffers and the
    /// epilogue's structure (not sizes or strides, which are run-time parameters).
    pub fn signature(&self) -> String {
        let mut epi = String::new();
        self.epilogue.structure(&mut epi, false);
        format!(
            "acc:{}|a{}:{}|b{}:{}|out:{}|{epi}",
            self.acc.name(),
            self.a.0,
            self.a.1.name(),
            self.b.0,
            self.b.1.name(),
            self.out_dtype.name()
        )
    }

    pub fn flops(&self) -> f64 {
        2.0 * (self.batch * self.m * self.n * self.k) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::buffer::Buffer;
    use crate::schedule::schedule;
    use crate::tensor;

    fn buf(shape: &[usize]) -> crate::graph::LazyRef {
        let n = crate::shape::numel(shape);
        tensor::from_buffer(Buffer::new(DType::F32, n, true).unwrap(), shape.to_vec()).unwrap()
    }

    #[test]
    fn an_output_contiguous_along_m_trades_the_operands() {
        // (x @ w).T stored contiguously: the kernel's output runs along x's rows, so the GEMM
        // computes w.T @ x.T, whose rows of C are contiguous (vector stores, not scattered ones)
        let (x, w) = (buf(&[8, 16]), buf(&[16, 4]));
        let y = tensor::dot(&x, &w).unwrap();
        let yt = tensor::contiguous(&tensor::transpose(&y, 0, 1).unwrap());
        let s = schedule(&[yt]).unwrap();
        let c = Contraction::recognise(&s.items[0].kernel).expect("a GEMM");
        assert_eq!((c.m, c.n, c.k), (4, 8, 16));
        assert_eq!(c.operands[0].sn, 1, "C's rows must run along N");
        // the plain product keeps its operands in order
        let s = schedule(&[y]).unwrap();
        let c = Contraction::recognise(&s.items[0].kernel).expect("a GEMM");
        assert_eq!((c.m, c.n, c.k, c.operands[0].sn), (8, 4, 16, 1));
    }
}
