//! One gradient rule per op, tinygrad's (`pm_gradient` in tinygrad/mixin/gradient.py): given a
//! node and the gradient `g` of its value, the gradient of each source `grad_sources` lists
//! (None where none flows). Every rule builds ordinary lazy nodes.

use std::f64::consts::{FRAC_PI_2, LN_2};

use crate::error::Result;
use crate::graph::{BinaryOp, LazyOp, LazyRef, MoveOp, Part, ReduceOp, State, UnaryOp};
use crate::tensor::{self, binary, constant, unary, where_};

fn k(v: f64, like: &LazyRef) -> Result<LazyRef> {
    constant(v, like.dtype, vec![])
}

fn mul(a: &LazyRef, b: &LazyRef) -> Result<LazyRef> {
    binary(BinaryOp::Mul, a, b)
}

fn div(a: &LazyRef, b: &LazyRef) -> Result<LazyRef> {
    binary(BinaryOp::Div, a, b)
}

fn neg(a: &LazyRef) -> LazyRef {
    unary(UnaryOp::Neg, a)
}

fn dims(shape: &[usize]) -> Vec<i64> {
    shape.iter().map(|&d| d as i64).collect()
}

/// The gradients of `node`'s sources, in `grad_sources` order.
pub(super) fn backward(node: &LazyRef, g: &LazyRef) -> Result<Vec<Option<LazyRef>>> {
    let op = node.with_state(|s| match s {
        State::Lazy(op) => op.clone(),
        State::Realized(_) => unreachable!("realized nodes have no sources"),
    });
    Ok(match op {
        LazyOp::Const(_) => vec![],
        LazyOp::View(_, _, origin) => match origin {
            Some(o) => vec![Some(unmove(g, &o.src.shape, &o.ops(&node.shape))?)],
            None => vec![],
        },
        LazyOp::Unary(op, x) => vec![unary_rule(op, node, &x, g)?],
        LazyOp::Binary(op, a, b) => binary_rule(op, node, &a, &b, g)?,
        LazyOp::Where(c, _, _) => {
            let zero = k(0.0, g)?;
            vec![
                None,
                Some(where_(&c, g, &zero)?),
                Some(where_(&c, &zero, g)?),
            ]
        }
        LazyOp::Cast(x) => vec![x.dtype.is_float().then(|| tensor::cast(g, x.dtype))],
        LazyOp::Reduce(op, x, axes) => vec![Some(reduce_rule(op, node, &x, &axes, g)?)],
        LazyOp::Contiguous(_) => vec![Some(g.clone())],
        LazyOp::Assemble(parts, _) => parts
            .iter()
            .map(|p| region_of(g, p).map(Some))
            .collect::<Result<_>>()?,
    })
}

fn unary_rule(op: UnaryOp, out: &LazyRef, x: &LazyRef, g: &LazyRef) -> Result<Option<LazyRef>> {
    Ok(Some(match op {
        UnaryOp::Neg => neg(g),
        // relu(x) > 0 exactly where x > 0: the output is read, as a buffer of its own (which the
        // forward pass shares), so the mask never recomputes the forward kernel
        UnaryOp::Relu => where_(
            &binary(BinaryOp::CmpLt, &k(0.0, out)?, &tensor::contiguous(out))?,
            g,
            &k(0.0, g)?,
        )?,
        // a zero cotangent gives zero where exp2 overflowed (inf * 0 would be NaN): sigmoid, tanh
        // and gelu of large arguments pass 0 back through an infinite exp2
        UnaryOp::Exp2 => where_(
            &binary(BinaryOp::CmpEq, g, &k(0.0, g)?)?,
            &k(0.0, g)?,
            &mul(&mul(out, g)?, &k(LN_2, g)?)?,
        )?,
        UnaryOp::Log2 => div(g, &mul(x, &k(LN_2, x)?)?)?,
        UnaryOp::Sqrt => div(g, &mul(out, &k(2.0, out)?)?)?,
        UnaryOp::Recip => mul(&mul(&neg(g), out)?, out)?,
        UnaryOp::Sin => {
            let cos = unary(UnaryOp::Sin, &binary(BinaryOp::Sub, &k(FRAC_PI_2, x)?, x)?);
            mul(&cos, g)?
        }
        UnaryOp::Trunc => return Ok(None),
    }))
}

fn binary_rule(
    op: BinaryOp,
    out: &LazyRef,
    a: &LazyRef,
    b: &LazyRef,
    g: &LazyRef,
) -> Result<Vec<Option<LazyRef>>> {
    let zero = || k(0.0, g);
    Ok(match op {
        BinaryOp::Add => vec![Some(g.clone()), Some(g.clone())],
        BinaryOp::Sub => vec![Some(g.clone()), Some(neg(g))],
        BinaryOp::Mul => vec![Some(mul(b, g)?), Some(mul(a, g)?)],
        BinaryOp::Div => vec![Some(div(g, b)?), Some(neg(&div(&mul(g, a)?, &mul(b, b)?)?))],
        BinaryOp::Max => {
            // ties share the gradient equally
            let half = mul(g, &k(0.5, g)?)?;
            let tie = binary(BinaryOp::CmpEq, a, b)?;
            let split = where_(&tie, &half, &zero()?)?;
            vec![
                Some(where_(&binary(BinaryOp::CmpLt, b, a)?, g, &split)?),
                Some(where_(&binary(BinaryOp::CmpLt, a, b)?, g, &split)?),
            ]
        }
        BinaryOp::Pow => {
            // d/da = e * a^(e-1) (0 where e == 0); d/de = a^e * ln a (0 at a == 0, -inf for e < 0)
            let e_zero = binary(BinaryOp::CmpEq, b, &zero()?)?;
            let em1 = binary(BinaryOp::Sub, b, &k(1.0, b)?)?;
            let da = where_(&e_zero, b, &mul(b, &binary(BinaryOp::Pow, a, &em1)?)?)?;
            let ln_a = mul(&unary(UnaryOp::Log2, a), &k(LN_2, a)?)?;
            let at_zero = where_(
                &binary(BinaryOp::CmpLt, b, &zero()?)?,
                &k(f64::NEG_INFINITY, g)?,
                &zero()?,
            )?;
            let a_zero = binary(BinaryOp::CmpEq, a, &zero()?)?;
            let db = where_(&a_zero, &at_zero, &mul(out, &ln_a)?)?;
            vec![Some(mul(g, &da)?), Some(mul(g, &db)?)]
        }
        BinaryOp::CmpLt | BinaryOp::CmpEq | BinaryOp::CmpNe => vec![None, None],
    })
}

fn reduce_rule(
    op: ReduceOp,
    out: &LazyRef,
    x: &LazyRef,
    axes: &[usize],
    g: &LazyRef,
) -> Result<LazyRef> {
    let shape = dims(&x.shape);
    match op {
        ReduceOp::Sum => tensor::expand(g, &shape),
        ReduceOp::Max => {
            // the gradient goes to the maxima, shared equally among ties
            let hit = binary(BinaryOp::CmpEq, x, &tensor::expand(out, &shape)?)?;
            let mask = tensor::cast(&hit, g.dtype);
            let ax: Vec<i64> = axes.iter().map(|&a| a as i64).collect();
            let count = tensor::reduce(ReduceOp::Sum, &mask, &ax, true)?;
            mul(
                &div(&mask, &tensor::expand(&count, &shape)?)?,
                &tensor::expand(g, &shape)?,
            )
        }
    }
}

/// The gradient of an `Assemble` part: the part's region of `g`.
fn region_of(g: &LazyRef, p: &Part) -> Result<LazyRef> {
    let ranges: Vec<(usize, usize)> = p
        .src
        .shape
        .iter()
        .zip(&p.offset)
        .zip(&p.step)
        .map(|((&n, &o), &s)| (o, if n == 0 { o } else { o + (n - 1) * s + 1 }))
        .collect();
    tensor::stride(&tensor::shrink(g, &ranges)?, &p.step)
}

/// Carry `g` back through movement ops `ops` that took a tensor of `shape` to `g`'s shape.
fn unmove(g: &LazyRef, shape: &[usize], ops: &[MoveOp]) -> Result<LazyRef> {
    // the shape before each op
    let mut shapes = vec![shape.to_vec()];
    for op in ops {
        let prev = shapes.last().expect("starts non-empty");
        shapes.push(match op {
            MoveOp::Reshape(s) | MoveOp::Expand(s) => s.clone(),
            MoveOp::Permute(order) => order.iter().map(|&i| prev[i]).collect(),
            MoveOp::Shrink(r) => r.iter().map(|&(b, e)| e - b).collect(),
            MoveOp::Flip(_) => prev.clone(),
            MoveOp::Stride(step) => prev
                .iter()
                .zip(step)
                .map(|(&n, &s)| n.div_ceil(s))
                .collect(),
        });
    }
    let mut g = g.clone();
    for (op, prev) in ops.iter().zip(&shapes).rev() {
        g = match op {
            MoveOp::Reshape(_) => tensor::reshape(&g, &dims(prev))?,
            MoveOp::Permute(order) => {
                let mut inverse = vec![0i64; order.len()];
                for (i, &o) in order.iter().enumerate() {
                    inverse[o] = i as i64;
                }
                tensor::permute(&g, &inverse)?
            }
            MoveOp::Expand(s) => {
                let axes: Vec<i64> = (0..s.len())
                    .filter(|&d| prev[d] != s[d])
                    .map(|d| d as i64)
                    .collect();
                tensor::reduce(ReduceOp::Sum, &g, &axes, true)?
            }
            MoveOp::Shrink(r) => {
                let part = Part {
                    src: g.clone(),
                    offset: r.iter().map(|&(b, _)| b).collect(),
                    step: vec![1; prev.len()],
                };
                tensor::assemble(vec![part], prev.clone(), g.dtype, 0.0)?
            }
            MoveOp::Flip(axes) => {
                tensor::flip(&g, &axes.iter().map(|&a| a as i64).collect::<Vec<_>>())?
            }
            MoveOp::Stride(step) => {
                let part = Part {
                    src: g.clone(),
                    offset: vec![0; prev.len()],
                    step: step.clone(),
                };
                tensor::assemble(vec![part], prev.clone(), g.dtype, 0.0)?
            }
        };
    }
    Ok(g)
}
