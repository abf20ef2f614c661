//! How far two correct plans of one GEMM may disagree: each computes every output with some
//! order of K rounded multiply-adds, so each is within gamma_K * (|A||B|)_ij of the exact value
//! (Higham, Accuracy and Stability of Numerical Algorithms, 3.5), and they are within twice that
//! of each other. (|A||B|)_ij is bounded from the operands cheaply: by
//! min(rowsum|A_i| * colmax|B_j|, rowmax|A_i| * colsum|B_j|). The epilogue scales the difference
//! by its Lipschitz constant in the accumulator (bounded from its constants and the largest
//! values of the buffers it reads); a rounding to half adds one half ulp per side.

use std::sync::Arc;

use crate::abi::{OperandParams, MAX_BATCH};
use crate::codegen::Contraction;
use crate::dtype::{f16_bits_to_f32, DType};
use crate::error::Result;
use crate::graph::{BinaryOp, UnaryOp};
use crate::kernel::{Expr, ExprOp};
use crate::runtime::buffer::Buffer;

fn values(b: &Buffer) -> Result<Vec<f64>> {
    let bytes = b.to_vec()?;
    Ok(match b.dtype {
        DType::F16 => bytes
            .chunks(2)
            .map(|c| f64::from(f16_bits_to_f32(u16::from_le_bytes([c[0], c[1]]))))
            .collect(),
        DType::F32 => bytes
            .chunks(4)
            .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        DType::F64 => bytes
            .chunks(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect(),
        DType::I32 => bytes
            .chunks(4)
            .map(|c| f64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        DType::Bool => bytes.iter().map(|&b| f64::from(b)).collect(),
    })
}

fn batch_index(c: &Contraction, b: usize) -> [usize; MAX_BATCH] {
    let mut idx = [0usize; MAX_BATCH];
    let mut r = b;
    for d in (0..MAX_BATCH).rev() {
        idx[d] = r % c.batch_dims[d].max(1);
        r /= c.batch_dims[d].max(1);
    }
    idx
}

fn at(o: &OperandParams, bi: &[usize; MAX_BATCH], i: usize, j: usize, k: usize) -> usize {
    let batch: i64 = bi.iter().zip(&o.sb).map(|(&b, &s)| b as i64 * s).sum();
    (o.offset + i as i64 * o.sm + j as i64 * o.sn + k as i64 * o.sk + batch) as usize
}

/// The largest absolute value an Acc-free expression takes (None when unbounded here).
fn magnitude(e: &Expr, bufs: &[Arc<Buffer>]) -> Option<f64> {
    Some(match &e.op {
        ExprOp::Const(c) => c.abs(),
        ExprOp::Load { buf, .. } => values(&bufs[*buf])
            .ok()?
            .iter()
            .fold(0.0f64, |m, x| m.max(x.abs())),
        ExprOp::Unary(UnaryOp::Neg | UnaryOp::Relu | UnaryOp::Trunc, a) | ExprOp::Cast(a) => {
            magnitude(a, bufs)?
        }
        ExprOp::Unary(UnaryOp::Sin, _) => 1.0,
        ExprOp::Binary(BinaryOp::Add | BinaryOp::Sub, a, b) => {
            magnitude(a, bufs)? + magnitude(b, bufs)?
        }
        ExprOp::Binary(BinaryOp::Mul, a, b) => magnitude(a, bufs)? * magnitude(b, bufs)?,
        ExprOp::Binary(BinaryOp::Max, a, b) | ExprOp::Where(_, a, b) => {
            magnitude(a, bufs)?.max(magnitude(b, bufs)?)
        }
        ExprOp::Binary(op, ..) if op.is_comparison() => 1.0,
        // unbounded here: exp2, log2, sqrt, 1/x, pow, division
        ExprOp::Unary(..) | ExprOp::Binary(..) | ExprOp::Acc => return None,
    })
}

/// The epilogue's Lipschitz constant in the accumulator (None when unbounded here).
fn lipschitz(e: &Expr, bufs: &[Arc<Buffer>]) -> Option<f64> {
    if !e.contains_acc() {
        return Some(0.0);
    }
    Some(match &e.op {
        ExprOp::Acc => 1.0,
        ExprOp::Unary(UnaryOp::Neg | UnaryOp::Relu, a) | ExprOp::Cast(a) => lipschitz(a, bufs)?,
        ExprOp::Binary(BinaryOp::Add | BinaryOp::Sub, a, b) => {
            lipschitz(a, bufs)? + lipschitz(b, bufs)?
        }
        ExprOp::Binary(BinaryOp::Max, a, b) => lipschitz(a, bufs)?.max(lipschitz(b, bufs)?),
        // a select is as sensitive as its branches where the condition does not read Acc
        ExprOp::Where(c, a, b) if !c.contains_acc() => lipschitz(a, bufs)?.max(lipschitz(b, bufs)?),
        ExprOp::Binary(BinaryOp::Mul, a, b) if a.contains_acc() && b.contains_acc() => return None,
        ExprOp::Binary(BinaryOp::Mul, a, b) if a.contains_acc() => {
            lipschitz(a, bufs)? * magnitude(b, bufs)?
        }
        ExprOp::Binary(BinaryOp::Mul, a, b) => lipschitz(b, bufs)? * magnitude(a, bufs)?,
        _ => return None,
    })
}

fn rounds_to_half(e: &Expr) -> bool {
    let mut half = false;
    e.visit(&mut |x| half |= matches!(x.op, ExprOp::Cast(_)) && x.dtype == DType::F16);
    half
}

/// Per output element (indexed by its position in the output buffer), the largest difference
/// two correct plans of `c` may have on these buffers, before rounding to half. None when the
/// epilogue's sensitivity cannot be bounded (then only non-finite values are compared).
pub fn output_bound(c: &Contraction, bufs: &[Arc<Buffer>]) -> Result<Option<Vec<f64>>> {
    let Some(l) = lipschitz(&c.epilogue, bufs) else {
        return Ok(None);
    };
    let (a, b) = (values(&bufs[c.a.0])?, values(&bufs[c.b.0])?);
    let u = if c.acc == DType::F64 {
        2f64.powi(-53)
    } else {
        2f64.powi(-24)
    };
    let ku = c.k as f64 * u;
    let gamma = ku / (1.0 - ku).max(f64::MIN_POSITIVE);
    let (oa, ob, oc) = (&c.operands[1], &c.operands[2], &c.operands[0]);
    let mut out = vec![0.0f64; bufs[0].count()];
    for batch in 0..c.batch {
        let bi = batch_index(c, batch);
        let rows: Vec<(f64, f64)> = (0..c.m)
            .map(|i| {
                (0..c.k)
                    .map(|k| a[at(oa, &bi, i, 0, k)].abs())
                    .fold((0.0, 0.0), |(s, m), x| (s + x, f64::max(m, x)))
            })
            .collect();
        let cols: Vec<(f64, f64)> = (0..c.n)
            .map(|j| {
                (0..c.k)
                    .map(|k| b[at(ob, &bi, 0, j, k)].abs())
                    .fold((0.0, 0.0), |(s, m), x| (s + x, f64::max(m, x)))
            })
            .collect();
        for (i, &(rs, rm)) in rows.iter().enumerate() {
            for (j, &(cs, cm)) in cols.iter().enumerate() {
                let s = (rs * cm).min(rm * cs);
                out[at(oc, &bi, i, j, 0)] = 2.0 * gamma * s * l;
            }
        }
    }
    Ok(Some(out))
}

/// Whether `got` agrees with `want` (the reference plan's output, both as the output buffer's
/// bytes) within `bound`; Err names the first element that does not.
pub fn agree(
    want: &[u8],
    got: &[u8],
    bound: Option<&[f64]>,
    dtype: DType,
    c: &Contraction,
) -> std::result::Result<(), String> {
    let as_f64 = |bytes: &[u8]| -> Vec<f64> {
        match dtype {
            DType::F16 => bytes
                .chunks(2)
                .map(|x| f64::from(f16_bits_to_f32(u16::from_le_bytes([x[0], x[1]]))))
                .collect(),
            DType::F64 => bytes
                .chunks(8)
                .map(|x| f64::from_le_bytes(x.try_into().expect("8 bytes")))
                .collect(),
            _ => bytes
                .chunks(4)
                .map(|x| f64::from(f32::from_le_bytes([x[0], x[1], x[2], x[3]])))
                .collect(),
        }
    };
    let (w, g) = (as_f64(want), as_f64(got));
    if w.len() != g.len() {
        return Err(format!("{} outputs instead of {}", g.len(), w.len()));
    }
    let half = dtype == DType::F16 || rounds_to_half(&c.epilogue);
    for (i, (&x, &y)) in w.iter().zip(&g).enumerate() {
        let ok = if x.is_nan() || y.is_nan() {
            x.is_nan() && y.is_nan()
        } else if x.is_infinite() || y.is_infinite() {
            x.is_infinite() && y.is_infinite() && x.is_sign_positive() == y.is_sign_positive()
        } else {
            let rounding = if half {
                2f64.powi(-10) * x.abs().max(y.abs()) + 2f64.powi(-24)
            } else {
                0.0
            };
            bound.is_none_or(|b| (x - y).abs() <= b[i] + rounding)
        };
        if !ok {
            let b = bound.map_or(f64::INFINITY, |b| b[i]);
            return Err(format!(
                "output element {i} is {y}, the reference {x} (allowed difference {b:.3e})"
            ));
        }
    }
    Ok(())
}
