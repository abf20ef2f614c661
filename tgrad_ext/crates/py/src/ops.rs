//! tinygrad's composite ops (`tgrad_core::ops`) and autograd (`tgrad_core::autograd`) for
//! Python: argument conversion only. Each function is one call into the core.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use tgrad_core::graph::{self, BinaryOp, LazyRef};
use tgrad_core::ops::{index, math, nn, reduce};
use tgrad_core::{autograd, tensor, DType};

use crate::{guard, wrap, PyLazy};

fn dtype_opt(py: Python<'_>, d: Option<&str>) -> PyResult<Option<DType>> {
    d.map(|n| crate::dtype(py, n)).transpose()
}

fn nodes(xs: &[PyRef<'_, PyLazy>]) -> Vec<LazyRef> {
    xs.iter().map(|x| x.0.clone()).collect()
}

/// A one-operand function by tinygrad's name (`exp`, `sigmoid`, `gelu`, ...).
#[pyfunction]
fn math_op(py: Python<'_>, x: &PyLazy, name: &str) -> PyResult<PyLazy> {
    match guard(py, || math::unary_named(name, &x.0))? {
        Some(y) => Ok(wrap(y)),
        None => Err(PyValueError::new_err(format!("unknown function '{name}'"))),
    }
}

/// A primitive binary op by its core name (`add` .. `cmpne`), with broadcasting and promotion.
#[pyfunction]
fn binary_op(py: Python<'_>, a: &PyLazy, op: &str, b: &PyLazy) -> PyResult<PyLazy> {
    let Some(op) = graph::op_named(&BinaryOp::ALL, op, BinaryOp::name) else {
        return Err(PyValueError::new_err(format!("unknown binary op '{op}'")));
    };
    guard(py, || tensor::binary(op, &a.0, &b.0)).map(wrap)
}

#[pyfunction]
fn true_div(py: Python<'_>, a: &PyLazy, b: &PyLazy) -> PyResult<PyLazy> {
    guard(py, || math::div(&a.0, &b.0)).map(wrap)
}

/// Integer division (`floor`: rounding down, else toward zero) and the remainder (`modulo`).
#[pyfunction]
fn int_div(py: Python<'_>, a: &PyLazy, b: &PyLazy, floor: bool, modulo: bool) -> PyResult<PyLazy> {
    if modulo {
        return guard(py, || math::modulo(&a.0, &b.0)).map(wrap);
    }
    guard(py, || math::int_div(&a.0, &b.0, floor)).map(wrap)
}

#[pyfunction]
fn pow(py: Python<'_>, a: &PyLazy, b: &PyLazy, negative_int_exponent: bool) -> PyResult<PyLazy> {
    guard(py, || math::pow(&a.0, &b.0, negative_int_exponent)).map(wrap)
}

#[pyfunction]
fn minimum(py: Python<'_>, a: &PyLazy, b: &PyLazy) -> PyResult<PyLazy> {
    guard(py, || math::minimum(&a.0, &b.0)).map(wrap)
}

#[pyfunction]
fn logaddexp(py: Python<'_>, a: &PyLazy, b: &PyLazy) -> PyResult<PyLazy> {
    guard(py, || math::logaddexp(&a.0, &b.0)).map(wrap)
}

#[pyfunction]
fn where_(py: Python<'_>, cond: &PyLazy, a: &PyLazy, b: &PyLazy) -> PyResult<PyLazy> {
    guard(py, || tensor::where_(&cond.0, &a.0, &b.0)).map(wrap)
}

/// A function of one operand and one number: leaky_relu (slope), elu (alpha), softplus (beta).
#[pyfunction]
fn math_param(py: Python<'_>, x: &PyLazy, name: &str, p: f64) -> PyResult<PyLazy> {
    let f = match name {
        "leaky_relu" => math::leaky_relu,
        "elu" => math::elu,
        "softplus" => math::softplus,
        _ => return Err(PyValueError::new_err(format!("unknown function '{name}'"))),
    };
    guard(py, || f(&x.0, p)).map(wrap)
}

#[pyfunction]
#[pyo3(signature = (x, lo=None, hi=None))]
fn clamp(py: Python<'_>, x: &PyLazy, lo: Option<&PyLazy>, hi: Option<&PyLazy>) -> PyResult<PyLazy> {
    guard(py, || math::clamp(&x.0, lo.map(|l| &l.0), hi.map(|h| &h.0))).map(wrap)
}

#[pyfunction]
#[pyo3(signature = (x, axes, keepdim, dtype=None))]
fn sum(
    py: Python<'_>,
    x: &PyLazy,
    axes: Option<Vec<i64>>,
    keepdim: bool,
    dtype: Option<&str>,
) -> PyResult<PyLazy> {
    let d = dtype_opt(py, dtype)?;
    guard(py, || reduce::sum(&x.0, axes.as_deref(), keepdim, d)).map(wrap)
}

/// max, min, mean or logsumexp over `axes` (None: all).
#[pyfunction]
fn reduce_named(
    py: Python<'_>,
    x: &PyLazy,
    name: &str,
    axes: Option<Vec<i64>>,
    keepdim: bool,
) -> PyResult<PyLazy> {
    let f = match name {
        "max" => reduce::max,
        "min" => reduce::min,
        "mean" => reduce::mean,
        "logsumexp" => reduce::logsumexp,
        _ => return Err(PyValueError::new_err(format!("unknown reduction '{name}'"))),
    };
    guard(py, || f(&x.0, axes.as_deref(), keepdim)).map(wrap)
}

#[pyfunction]
fn var(
    py: Python<'_>,
    x: &PyLazy,
    axes: Option<Vec<i64>>,
    keepdim: bool,
    correction: f64,
    sqrt: bool,
) -> PyResult<PyLazy> {
    let f = if sqrt { reduce::std } else { reduce::var };
    guard(py, || f(&x.0, axes.as_deref(), keepdim, correction)).map(wrap)
}

#[pyfunction]
#[pyo3(signature = (x, axis, log, dtype=None))]
fn softmax(
    py: Python<'_>,
    x: &PyLazy,
    axis: i64,
    log: bool,
    dtype: Option<&str>,
) -> PyResult<PyLazy> {
    let d = dtype_opt(py, dtype)?;
    let f = if log {
        reduce::log_softmax
    } else {
        reduce::softmax
    };
    guard(py, || f(&x.0, axis, d)).map(wrap)
}

#[pyfunction]
fn argmax(
    py: Python<'_>,
    x: &PyLazy,
    axis: Option<i64>,
    keepdim: bool,
    min: bool,
) -> PyResult<PyLazy> {
    let f = if min { reduce::argmin } else { reduce::argmax };
    guard(py, || f(&x.0, axis, keepdim)).map(wrap)
}

#[pyfunction]
fn one_hot(py: Python<'_>, y: &PyLazy, classes: usize) -> PyResult<PyLazy> {
    guard(py, || reduce::one_hot(&y.0, classes)).map(wrap)
}

#[pyfunction]
fn sparse_categorical_crossentropy(
    py: Python<'_>,
    x: &PyLazy,
    y: &PyLazy,
    ignore_index: i64,
    label_smoothing: f64,
    reduction: &str,
) -> PyResult<PyLazy> {
    guard(py, || {
        reduce::sparse_categorical_crossentropy(
            &x.0,
            &y.0,
            ignore_index,
            label_smoothing,
            reduction,
        )
    })
    .map(wrap)
}

#[pyfunction]
fn flip(py: Python<'_>, x: &PyLazy, axes: Vec<i64>) -> PyResult<PyLazy> {
    guard(py, || tensor::flip(&x.0, &axes)).map(wrap)
}

#[pyfunction]
fn detach(x: &PyLazy) -> PyLazy {
    wrap(tensor::detach(&x.0))
}

#[pyfunction]
fn pad(py: Python<'_>, x: &PyLazy, padding: Vec<(i64, i64)>, value: f64) -> PyResult<PyLazy> {
    guard(py, || index::pad(&x.0, &padding, value)).map(wrap)
}

/// Every dim sliced by (start, stop, step), clamped as Python's `slice.indices` does.
#[pyfunction]
fn slice(py: Python<'_>, x: &PyLazy, slices: Vec<(i64, i64, i64)>) -> PyResult<PyLazy> {
    let s: Vec<index::Slice> = slices
        .into_iter()
        .map(|(start, stop, step)| index::Slice { start, stop, step })
        .collect();
    guard(py, || index::slice(&x.0, &s)).map(wrap)
}

#[pyfunction]
fn cat(py: Python<'_>, xs: Vec<PyRef<'_, PyLazy>>, axis: i64, new_axis: bool) -> PyResult<PyLazy> {
    let xs = nodes(&xs);
    let f = if new_axis { index::stack } else { index::cat };
    guard(py, || f(&xs, axis)).map(wrap)
}

#[pyfunction]
fn repeat_interleave(py: Python<'_>, x: &PyLazy, repeats: usize, axis: i64) -> PyResult<PyLazy> {
    guard(py, || index::repeat_interleave(&x.0, repeats, axis)).map(wrap)
}

#[pyfunction]
fn repeat(py: Python<'_>, x: &PyLazy, repeats: Vec<usize>) -> PyResult<PyLazy> {
    guard(py, || index::repeat(&x.0, &repeats)).map(wrap)
}

#[pyfunction]
#[pyo3(signature = (x, w, b=None))]
fn linear(py: Python<'_>, x: &PyLazy, w: &PyLazy, b: Option<&PyLazy>) -> PyResult<PyLazy> {
    guard(py, || nn::linear(&x.0, &w.0, b.map(|b| &b.0))).map(wrap)
}

#[pyfunction]
#[pyo3(signature = (q, k, v, mask, is_causal, enable_gqa))]
fn scaled_dot_product_attention(
    py: Python<'_>,
    q: &PyLazy,
    k: &PyLazy,
    v: &PyLazy,
    mask: Option<&PyLazy>,
    is_causal: bool,
    enable_gqa: bool,
) -> PyResult<PyLazy> {
    guard(py, || {
        nn::scaled_dot_product_attention(
            &q.0,
            &k.0,
            &v.0,
            mask.map(|m| &m.0),
            is_causal,
            enable_gqa,
        )
    })
    .map(wrap)
}

#[pyfunction]
#[pyo3(signature = (formula, xs, dtype=None))]
fn einsum(
    py: Python<'_>,
    formula: &str,
    xs: Vec<PyRef<'_, PyLazy>>,
    dtype: Option<&str>,
) -> PyResult<PyLazy> {
    let d = dtype_opt(py, dtype)?;
    let xs = nodes(&xs);
    guard(py, || nn::einsum(formula, &xs, d)).map(wrap)
}

/// The gradient of `root` with respect to each target (None where the root does not depend on
/// it); `seed` is the root's gradient (ones for a scalar root when None).
#[pyfunction]
#[pyo3(signature = (root, seed, targets))]
fn gradient(
    py: Python<'_>,
    root: &PyLazy,
    seed: Option<&PyLazy>,
    targets: Vec<PyRef<'_, PyLazy>>,
) -> PyResult<Vec<Option<PyLazy>>> {
    let targets = nodes(&targets);
    let grads = guard(py, || {
        autograd::gradient(&root.0, seed.map(|s| &s.0), &targets)
    })?;
    Ok(grads.into_iter().map(|g| g.map(wrap)).collect())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    for f in [
        wrap_pyfunction!(math_op, m)?,
        wrap_pyfunction!(binary_op, m)?,
        wrap_pyfunction!(true_div, m)?,
        wrap_pyfunction!(pow, m)?,
        wrap_pyfunction!(int_div, m)?,
        wrap_pyfunction!(minimum, m)?,
        wrap_pyfunction!(logaddexp, m)?,
        wrap_pyfunction!(where_, m)?,
        wrap_pyfunction!(math_param, m)?,
        wrap_pyfunction!(clamp, m)?,
        wrap_pyfunction!(sum, m)?,
        wrap_pyfunction!(reduce_named, m)?,
        wrap_pyfunction!(var, m)?,
        wrap_pyfunction!(softmax, m)?,
        wrap_pyfunction!(argmax, m)?,
        wrap_pyfunction!(one_hot, m)?,
        wrap_pyfunction!(sparse_categorical_crossentropy, m)?,
        wrap_pyfunction!(flip, m)?,
        wrap_pyfunction!(detach, m)?,
        wrap_pyfunction!(pad, m)?,
        wrap_pyfunction!(slice, m)?,
        wrap_pyfunction!(cat, m)?,
        wrap_pyfunction!(repeat_interleave, m)?,
        wrap_pyfunction!(repeat, m)?,
        wrap_pyfunction!(linear, m)?,
        wrap_pyfunction!(scaled_dot_product_attention, m)?,
        wrap_pyfunction!(einsum, m)?,
        wrap_pyfunction!(gradient, m)?,
    ] {
        m.add_function(f)?;
    }
    Ok(())
}
