//! Elementwise functions with tinygrad's definitions (tinygrad/mixin/elementwise.py): float
//! functions convert ints and bools to float first; exp and log go through exp2 and log2;
//! sigmoid, tanh and gelu are the same compositions.

use std::f64::consts::{FRAC_PI_2, LN_2, PI};

use super::{add, add_k, mul, mul_k, scalar, sub};
use crate::dtype::DType;
use crate::error::Result;
use crate::graph::{BinaryOp, LazyRef, UnaryOp};
use crate::{bail, tensor};

/// `x` as the float dtype float-only functions compute in.
pub fn to_float(x: &LazyRef) -> LazyRef {
    tensor::cast(x, x.dtype.to_float())
}

fn un(op: UnaryOp, x: &LazyRef) -> LazyRef {
    tensor::unary(op, x)
}

pub fn exp2(x: &LazyRef) -> Result<LazyRef> {
    Ok(un(UnaryOp::Exp2, &to_float(x)))
}

pub fn log2(x: &LazyRef) -> Result<LazyRef> {
    Ok(un(UnaryOp::Log2, &to_float(x)))
}

pub fn sqrt(x: &LazyRef) -> Result<LazyRef> {
    Ok(un(UnaryOp::Sqrt, &to_float(x)))
}

pub fn sin(x: &LazyRef) -> Result<LazyRef> {
    Ok(un(UnaryOp::Sin, &to_float(x)))
}

pub fn reciprocal(x: &LazyRef) -> Result<LazyRef> {
    Ok(un(UnaryOp::Recip, &to_float(x)))
}

pub fn neg(x: &LazyRef) -> Result<LazyRef> {
    Ok(un(UnaryOp::Neg, x))
}

pub fn relu(x: &LazyRef) -> Result<LazyRef> {
    Ok(un(UnaryOp::Relu, x))
}

/// Rounding toward zero; ints are already whole.
pub fn trunc(x: &LazyRef) -> Result<LazyRef> {
    Ok(if x.dtype.is_float() {
        un(UnaryOp::Trunc, x)
    } else {
        x.clone()
    })
}

pub fn exp(x: &LazyRef) -> Result<LazyRef> {
    exp2(&mul_k(&to_float(x), 1.0 / LN_2)?)
}

pub fn log(x: &LazyRef) -> Result<LazyRef> {
    mul_k(&log2(x)?, LN_2)
}

pub fn cos(x: &LazyRef) -> Result<LazyRef> {
    let x = to_float(x);
    sin(&sub(&scalar(FRAC_PI_2, &x)?, &x)?)
}

pub fn tan(x: &LazyRef) -> Result<LazyRef> {
    div(&sin(x)?, &cos(x)?)
}

pub fn rsqrt(x: &LazyRef) -> Result<LazyRef> {
    reciprocal(&sqrt(x)?)
}

pub fn square(x: &LazyRef) -> Result<LazyRef> {
    mul(x, x)
}

/// True division: int and bool operands divide as floats.
pub fn div(a: &LazyRef, b: &LazyRef) -> Result<LazyRef> {
    let d = DType::promote(a.dtype, b.dtype).to_float();
    tensor::binary(BinaryOp::Div, &tensor::cast(a, d), &tensor::cast(b, d))
}

/// `base ** exponent`. Ints raised to ints stay ints (computed in float, exact for the values
/// int32 holds below 2^24); a negative exponent of an int base is refused, as in tinygrad.
pub fn pow(base: &LazyRef, exponent: &LazyRef, negative_int_exponent: bool) -> Result<LazyRef> {
    let d = DType::promote(base.dtype, exponent.dtype);
    if !d.is_float() {
        if negative_int_exponent {
            bail!(InvalidArgument, "base needs to be float");
        }
        let f = tensor::binary(
            BinaryOp::Pow,
            &tensor::cast(base, DType::F32),
            &tensor::cast(exponent, DType::F32),
        )?;
        // round to the nearest integer (pow of exact ints may land a hair below)
        let r = trunc(&add_k(&f, 0.5)?)?;
        return Ok(tensor::cast(&r, d));
    }
    tensor::binary(
        BinaryOp::Pow,
        &tensor::cast(base, d),
        &tensor::cast(exponent, d),
    )
}

pub fn sigmoid(x: &LazyRef) -> Result<LazyRef> {
    let x = to_float(x);
    reciprocal(&add_k(&exp2(&mul_k(&x, -1.0 / LN_2)?)?, 1.0)?)
}

pub fn tanh(x: &LazyRef) -> Result<LazyRef> {
    add_k(&mul_k(&sigmoid(&mul_k(&to_float(x), 2.0)?)?, 2.0)?, -1.0)
}

/// tinygrad's gelu with the tanh approximation (its default).
pub fn gelu(x: &LazyRef) -> Result<LazyRef> {
    let x = to_float(x);
    let cube = mul(&mul(&x, &x)?, &x)?;
    let inner = mul_k(&add(&x, &mul_k(&cube, 0.044_715)?)?, (2.0 / PI).sqrt())?;
    mul(&mul_k(&x, 0.5)?, &add_k(&tanh(&inner)?, 1.0)?)
}

pub fn quick_gelu(x: &LazyRef) -> Result<LazyRef> {
    mul(x, &sigmoid(&mul_k(x, 1.702)?)?)
}

pub fn silu(x: &LazyRef) -> Result<LazyRef> {
    mul(x, &sigmoid(x)?)
}

pub fn relu6(x: &LazyRef) -> Result<LazyRef> {
    sub(&relu(x)?, &relu(&add_k(x, -6.0)?)?)
}

pub fn leaky_relu(x: &LazyRef, slope: f64) -> Result<LazyRef> {
    let neg = cmp(BinaryOp::CmpLt, x, &scalar(0.0, x)?)?;
    tensor::where_(&neg, &mul_k(&to_float(x), slope)?, x)
}

pub fn elu(x: &LazyRef, alpha: f64) -> Result<LazyRef> {
    let one_minus = sub(&scalar(1.0, &to_float(x))?, &exp(x)?)?;
    sub(&relu(x)?, &mul_k(&relu(&one_minus)?, alpha)?)
}

/// log(exp(a) + exp(b)), shifted by the larger one.
pub fn logaddexp(a: &LazyRef, b: &LazyRef) -> Result<LazyRef> {
    let m = maximum(a, b)?;
    add(&log(&add(&exp(&sub(a, &m)?)?, &exp(&sub(b, &m)?)?)?)?, &m)
}

pub fn softplus(x: &LazyRef, beta: f64) -> Result<LazyRef> {
    let xb = mul_k(&to_float(x), beta)?;
    mul_k(&logaddexp(&xb, &scalar(0.0, &xb)?)?, 1.0 / beta)
}

pub fn mish(x: &LazyRef) -> Result<LazyRef> {
    mul(x, &tanh(&softplus(x, 1.0)?)?)
}

pub fn logsigmoid(x: &LazyRef) -> Result<LazyRef> {
    neg(&softplus(&neg(x)?, 1.0)?)
}

/// -1, 0 or 1 by the sign of `x`.
pub fn sign(x: &LazyRef) -> Result<LazyRef> {
    let zero = scalar(0.0, x)?;
    let nonzero = cmp(BinaryOp::CmpNe, x, &zero)?;
    let negative = cmp(BinaryOp::CmpLt, x, &zero)?;
    let pm = tensor::where_(&negative, &scalar(-1.0, x)?, &scalar(1.0, x)?)?;
    tensor::where_(&nonzero, &pm, &zero)
}

pub fn abs(x: &LazyRef) -> Result<LazyRef> {
    mul(x, &sign(x)?)
}

pub fn floor(x: &LazyRef) -> Result<LazyRef> {
    let b = trunc(x)?;
    let below = cmp(BinaryOp::CmpLt, x, &b)?;
    tensor::where_(&below, &add_k(&b, -1.0)?, &b)
}

pub fn ceil(x: &LazyRef) -> Result<LazyRef> {
    let b = trunc(x)?;
    let above = cmp(BinaryOp::CmpLt, &b, x)?;
    tensor::where_(&above, &add_k(&b, 1.0)?, &b)
}

pub fn maximum(a: &LazyRef, b: &LazyRef) -> Result<LazyRef> {
    tensor::binary(BinaryOp::Max, a, b)
}

pub fn minimum(a: &LazyRef, b: &LazyRef) -> Result<LazyRef> {
    neg(&maximum(&neg(a)?, &neg(b)?)?)
}

/// A comparison (bool result) with broadcasting and promotion.
pub fn cmp(op: BinaryOp, a: &LazyRef, b: &LazyRef) -> Result<LazyRef> {
    tensor::binary(op, a, b)
}

/// `not x` (any non-zero value is true).
pub fn logical_not(x: &LazyRef) -> Result<LazyRef> {
    let b = tensor::cast(x, DType::Bool);
    cmp(BinaryOp::CmpNe, &b, &scalar(1.0, &b)?)
}

/// Limit `x` to `[lo, hi]` (either may be absent).
pub fn clamp(x: &LazyRef, lo: Option<&LazyRef>, hi: Option<&LazyRef>) -> Result<LazyRef> {
    if lo.is_none() && hi.is_none() {
        bail!(
            InvalidArgument,
            "at least one of 'min_' or 'max_' must not be None"
        );
    }
    let mut out = x.clone();
    if let Some(lo) = lo {
        out = tensor::where_(&cmp(BinaryOp::CmpLt, &out, lo)?, lo, &out)?;
    }
    if let Some(hi) = hi {
        out = tensor::where_(&cmp(BinaryOp::CmpLt, hi, &out)?, hi, &out)?;
    }
    Ok(out)
}

pub fn isnan(x: &LazyRef) -> Result<LazyRef> {
    cmp(BinaryOp::CmpNe, x, x)
}

pub fn isinf(x: &LazyRef) -> Result<LazyRef> {
    let a = abs(&to_float(x))?;
    cmp(BinaryOp::CmpEq, &a, &scalar(f64::INFINITY, &a)?)
}

pub fn isfinite(x: &LazyRef) -> Result<LazyRef> {
    // finite exactly where x - x is 0 (NaN for inf and NaN)
    let x = to_float(x);
    cmp(BinaryOp::CmpEq, &sub(&x, &x)?, &scalar(0.0, &x)?)
}

pub fn log10(x: &LazyRef) -> Result<LazyRef> {
    mul_k(&log2(x)?, 1.0 / 10f64.log2())
}

pub fn sinh(x: &LazyRef) -> Result<LazyRef> {
    mul_k(&sub(&exp(x)?, &exp(&neg(&to_float(x))?)?)?, 0.5)
}

pub fn cosh(x: &LazyRef) -> Result<LazyRef> {
    mul_k(&add(&exp(x)?, &exp(&neg(&to_float(x))?)?)?, 0.5)
}

pub fn atanh(x: &LazyRef) -> Result<LazyRef> {
    let x = to_float(x);
    let one = scalar(1.0, &x)?;
    mul_k(&log(&div(&add(&one, &x)?, &sub(&one, &x)?)?)?, 0.5)
}

pub fn asinh(x: &LazyRef) -> Result<LazyRef> {
    let x = to_float(x);
    log(&add(&x, &sqrt(&add_k(&square(&x)?, 1.0)?)?)?)
}

pub fn acosh(x: &LazyRef) -> Result<LazyRef> {
    let x = to_float(x);
    log(&add(&x, &sqrt(&add_k(&square(&x)?, -1.0)?)?)?)
}

pub fn hardswish(x: &LazyRef) -> Result<LazyRef> {
    mul_k(&mul(x, &relu6(&add_k(x, 3.0)?)?)?, 1.0 / 6.0)
}

/// Round half to even, as tinygrad does.
pub fn round(x: &LazyRef) -> Result<LazyRef> {
    if !x.dtype.is_float() {
        return Ok(x.clone());
    }
    let b = mul_k(&trunc(x)?, 0.5)?;
    let even = cmp(BinaryOp::CmpEq, &trunc(&b)?, &b)?;
    let pos = cmp(BinaryOp::CmpLt, &scalar(0.0, x)?, x)?;
    let pick = cmp(BinaryOp::CmpEq, &pos, &even)?;
    tensor::where_(&pick, &ceil(&add_k(x, -0.5)?)?, &floor(&add_k(x, 0.5)?)?)
}

/// Integer division of ints rounding toward zero (`floor`: toward minus infinity); a division
/// by zero gives 0 (the renderers' rule for ints).
pub fn int_div(a: &LazyRef, b: &LazyRef, floor_div: bool) -> Result<LazyRef> {
    let q = tensor::binary(BinaryOp::Div, a, b)?;
    if !floor_div || q.dtype.is_float() {
        return if q.dtype.is_float() { floor(&q) } else { Ok(q) };
    }
    let b = tensor::cast(b, q.dtype);
    let r = sub(&tensor::cast(a, q.dtype), &mul(&q, &b)?)?;
    let zero = scalar(0.0, &r)?;
    let inexact = cmp(BinaryOp::CmpNe, &r, &zero)?;
    let signs = cmp(
        BinaryOp::CmpNe,
        &cmp(BinaryOp::CmpLt, &r, &zero)?,
        &cmp(BinaryOp::CmpLt, &b, &zero)?,
    )?;
    let adjust = tensor::cast(
        &mul(
            &tensor::cast(&inexact, DType::I32),
            &tensor::cast(&signs, DType::I32),
        )?,
        q.dtype,
    );
    sub(&q, &adjust)
}

/// The remainder with the divisor's sign (Python's and tinygrad's `%`).
pub fn modulo(a: &LazyRef, b: &LazyRef) -> Result<LazyRef> {
    let q = int_div(a, b, true)?;
    let d = q.dtype;
    sub(&tensor::cast(a, d), &mul(&q, &tensor::cast(b, d))?)
}

/// The one-operand function named `name` (the binding exposes these by tinygrad's names).
pub fn unary_named(name: &str, x: &LazyRef) -> Result<Option<LazyRef>> {
    let f: fn(&LazyRef) -> Result<LazyRef> = match name {
        "exp" => exp,
        "exp2" => exp2,
        "log" => log,
        "log2" => log2,
        "sqrt" => sqrt,
        "rsqrt" => rsqrt,
        "sin" => sin,
        "cos" => cos,
        "tan" => tan,
        "reciprocal" => reciprocal,
        "neg" => neg,
        "relu" => relu,
        "trunc" => trunc,
        "floor" => floor,
        "ceil" => ceil,
        "square" => square,
        "sigmoid" => sigmoid,
        "tanh" => tanh,
        "gelu" => gelu,
        "quick_gelu" => quick_gelu,
        "silu" | "swish" => silu,
        "relu6" => relu6,
        "mish" => mish,
        "logsigmoid" => logsigmoid,
        "sign" => sign,
        "abs" => abs,
        "logical_not" => logical_not,
        "isnan" => isnan,
        "isinf" => isinf,
        "isfinite" => isfinite,
        "log10" => log10,
        "sinh" => sinh,
        "cosh" => cosh,
        "atanh" => atanh,
        "asinh" => asinh,
        "acosh" => acosh,
        "hardswish" => hardswish,
        "round" => round,
        _ => return Ok(None),
    };
    f(x).map(Some)
}
