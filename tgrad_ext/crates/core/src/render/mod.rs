//! Renderers: a planned program to source text. Backends differ by data (type names, prefixes,
//! function qualifiers) behind one trait; the C-family expression rules are shared.

pub mod c;
pub mod cuda;
pub mod metal;

use crate::codegen::Program;

/// The symbol every rendered CPU program exports.
pub const ENTRY: &str = "tgrad_kernel";

pub trait Renderer {
    /// Short name used in cache keys and debug output ("c", "cuda", "metal").
    fn name(&self) -> &'static str;
    fn render(&self, program: &Program) -> String;
}

use crate::codegen::uops::{UOp, Val};
use crate::dtype::DType;
use crate::kernel::{Expr, ExprOp};
use crate::shape::View;

/// The name of a micro-op value in rendered source.
pub fn val(x: Val) -> String {
    format!("v{}", x.0)
}

/// One ALU micro-op through the shared C-family expression rules (`c::render_expr`): the op
/// becomes a one-node `Expr` whose operands render as the operand values' names.
pub(crate) fn alu(op: ExprOp, dtype: DType, operands: &[String]) -> String {
    let e = Expr::new(op, dtype);
    let mut next = 0;
    c::render_expr(&e, "", &mut |i, _| operands[i].clone(), &mut next)
}

pub(crate) fn operand(d: DType) -> Expr {
    Expr::new(
        ExprOp::Load {
            buf: 0,
            view: View::contiguous(&[]),
        },
        d,
    )
}

/// The C-family line defining a value micro-op (`const T vN = ...;`), or `None` for control-flow
/// and accumulator micro-ops. Backends differ only by data: the compute type's name (`ty`) and how
/// a load reads and converts (`load(buf, slot, dtype)`); expressions follow the C renderer's rules.
pub fn value_line(
    u: &UOp,
    ty: fn(DType) -> &'static str,
    load: &mut dyn FnMut(usize, usize, DType) -> String,
) -> Option<String> {
    let (out, dtype, expr) = match u {
        UOp::Load {
            out,
            buf,
            slot,
            dtype,
        } => (*out, *dtype, load(*buf, *slot, *dtype)),
        UOp::Const { out, value, dtype } => (*out, *dtype, c::literal(*value, *dtype)),
        UOp::Unary {
            out,
            op,
            src,
            dtype,
        } => (
            *out,
            *dtype,
            alu(
                ExprOp::Unary(*op, Box::new(operand(*dtype))),
                *dtype,
                &[val(*src)],
            ),
        ),
        UOp::Binary {
            out,
            op,
            a,
            b,
            dtype,
        } => {
            let e = ExprOp::Binary(*op, Box::new(operand(*dtype)), Box::new(operand(*dtype)));
            (*out, *dtype, alu(e, *dtype, &[val(*a), val(*b)]))
        }
        UOp::Cast { out, src, from, to } => (
            *out,
            *to,
            alu(ExprOp::Cast(Box::new(operand(*from))), *to, &[val(*src)]),
        ),
        _ => return None,
    };
    Some(format!("const {} {} = {expr};", ty(dtype), val(out)))
}

/// The identity an accumulator starts from (the C-family literal of 0 or -inf; INT32_MIN for
/// an int max, spelled so no header is needed).
pub fn acc_identity(op: crate::graph::ReduceOp, dtype: DType) -> String {
    use crate::graph::ReduceOp;
    match (op, dtype) {
        (ReduceOp::Max, DType::I32) => "(-2147483647 - 1)".to_string(),
        (ReduceOp::Sum, d) => c::literal(0.0, d.compute()),
        (ReduceOp::Max, d) => c::literal(f64::NEG_INFINITY, d.compute()),
    }
}

/// The C-family statement folding `src` into accumulator `acc` (a max keeps NaN).
pub fn accumulate_line(acc: Val, op: crate::graph::ReduceOp, src: Val) -> String {
    use crate::graph::ReduceOp;
    let (a, s) = (val(acc), val(src));
    match op {
        ReduceOp::Sum => format!("{a} += {s};"),
        ReduceOp::Max => format!("{a} = ({s} > {a} || {s} != {s}) ? {s} : {a};"),
    }
}
