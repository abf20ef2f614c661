//! Layers built on matmul: linear, scaled dot-product attention (mask, causal, GQA, and
//! tinygrad's errors), einsum (tinygrad's parsing and errors).

use super::index::repeat_interleave;
use super::{add, dims, math, reduce, scalar_of};
use crate::dtype::DType;
use crate::error::Result;
use crate::graph::{BinaryOp, LazyRef};
use crate::{bail, ensure, tensor};

/// `x @ w + b` (`x * w` for a 1-D weight).
pub fn linear(x: &LazyRef, w: &LazyRef, b: Option<&LazyRef>) -> Result<LazyRef> {
    let y = if w.shape.len() == 1 {
        super::mul(x, w)?
    } else {
        tensor::dot(x, w)?
    };
    match b {
        Some(b) => add(&y, b),
        None => Ok(y),
    }
}

/// `i >= j` as bool over (rows, cols): the causal mask (tinygrad's `tril` of ones).
fn causal_mask(rows: usize, cols: usize) -> Result<LazyRef> {
    let range = |n: usize| -> Result<LazyRef> {
        let bytes: Vec<u8> = (0..n as i32).flat_map(i32::to_le_bytes).collect();
        let buf = crate::runtime::buffer::Buffer::from_bytes(DType::I32, &bytes)?;
        tensor::from_buffer(buf, vec![n])
    };
    let i = tensor::reshape(&range(rows)?, &[rows as i64, 1])?;
    let j = tensor::reshape(&range(cols)?, &[1, cols as i64])?;
    math::logical_not(&tensor::binary(BinaryOp::CmpLt, &i, &j)?)
}

/// softmax(q @ k.T / sqrt(d) + mask) @ v, as tinygrad computes it (the scores in at least
/// float32, cast back to q's dtype before the softmax). `enable_gqa` repeats k and v heads.
pub fn scaled_dot_product_attention(
    q: &LazyRef,
    k: &LazyRef,
    v: &LazyRef,
    mask: Option<&LazyRef>,
    is_causal: bool,
    enable_gqa: bool,
) -> Result<LazyRef> {
    for (name, t) in [("query", q), ("key", k), ("value", v)] {
        ensure!(
            t.shape.len() >= 2,
            Shape,
            "scaled_dot_product_attention needs at least 2-D {name}, got shape {}",
            crate::shape::Dims(&t.shape)
        );
    }
    let (mut k, mut v) = (k.clone(), v.clone());
    if enable_gqa {
        ensure!(
            q.shape.len() >= 3 && k.shape.len() >= 3 && v.shape.len() >= 3,
            Shape,
            "enable_gqa needs (..., heads, seq, dim) tensors"
        );
        let heads = q.shape[q.shape.len() - 3];
        for t in [&mut k, &mut v] {
            let h = t.shape[t.shape.len() - 3];
            ensure!(
                h > 0 && heads.is_multiple_of(h),
                Shape,
                "enable_gqa: {heads} query heads are not a multiple of {h} key/value heads"
            );
            *t = repeat_interleave(t, heads / h, -3)?;
        }
    }
    if is_causal && mask.is_some() {
        bail!(InvalidArgument, "cannot set attn_mask when is_causal=True");
    }
    let d = *q.shape.last().expect("checked above");
    let acc = DType::promote(DType::promote(q.dtype, k.dtype), DType::F32);
    let kt = tensor::transpose(&k, -2, -1)?;
    let scores = tensor::dot(&tensor::cast(q, acc), &tensor::cast(&kt, acc))?;
    let mut qk = math::div(&scores, &scalar_of((d as f64).sqrt(), acc)?)?;
    let n = qk.shape.len();
    let causal;
    let mask = if is_causal {
        causal = causal_mask(qk.shape[n - 2], qk.shape[n - 1])?;
        Some(&causal)
    } else {
        mask
    };
    if let Some(m) = mask {
        let m = if m.dtype == DType::Bool {
            tensor::where_(
                m,
                &scalar_of(0.0, acc)?,
                &scalar_of(f64::NEG_INFINITY, acc)?,
            )?
        } else {
            m.clone()
        };
        qk = add(&qk, &m)?;
    }
    let p = reduce::softmax(&tensor::cast(&qk, q.dtype), -1, None)?;
    tensor::dot(&p, &v)
}

/// The error tinygrad raises for an einsum letter used inconsistently.
fn letter_error(formula: &str) -> crate::error::Error {
    crate::error::Error::Shape(format!(
        "einsum {formula:?}: operand dims do not match the formula"
    ))
}

/// The formula's operand letter strings and output letters, with `...` replaced by fresh
/// letters (as many as each operand has dims beyond its letters) and the implicit output
/// (letters used once, sorted, after the ellipsis letters) made explicit.
fn parse_formula(formula: &str, xs: &[LazyRef]) -> Result<(Vec<String>, String)> {
    let (lhs, rhs) = match formula.split_once("->") {
        Some((l, r)) => (l.to_string(), Some(r.to_string())),
        None => (formula.to_string(), None),
    };
    let mut inputs: Vec<String> = lhs.split(',').map(str::to_string).collect();
    if inputs.len() != xs.len() {
        bail!(
            InvalidArgument,
            "number of operands doesn't match, expected {}, got {}",
            inputs.len(),
            xs.len()
        );
    }
    let fresh: Vec<char> = ('a'..='z')
        .chain('A'..='Z')
        .filter(|c| !formula.contains(*c))
        .collect();
    let extra = |s: &str, x: &LazyRef| (x.shape.len() + 3).saturating_sub(s.len());
    let ell = inputs
        .iter()
        .zip(xs)
        .map(|(s, x)| if s.contains("...") { extra(s, x) } else { 0 })
        .max()
        .unwrap_or(0);
    ensure!(
        ell <= fresh.len(),
        InvalidArgument,
        "einsum {formula:?}: too many dims under '...'"
    );
    for (s, x) in inputs.iter_mut().zip(xs) {
        if s.contains("...") {
            let letters: String = fresh[ell - extra(s, x)..ell].iter().collect();
            *s = s.replace("...", &letters);
        }
    }
    let ell_letters: String = fresh[..ell].iter().collect();
    let joined: String = inputs.concat();
    let rhs = if let Some(r) = rhs {
        r.replace("...", &ell_letters)
    } else {
        let mut once: Vec<char> = joined
            .chars()
            .filter(|&c| {
                c.is_alphabetic() && joined.matches(c).count() == 1 && !ell_letters.contains(c)
            })
            .collect();
        once.sort_unstable();
        ell_letters.clone() + &once.into_iter().collect::<String>()
    };
    Ok((inputs, rhs))
}

/// `einsum(formula, operands)` as tinygrad computes it: operands aligned to the sorted
/// alphabet, multiplied, the letters not in the output summed, the result permuted to the
/// output order. Repeated letters in one operand take its diagonal; `...` broadcasts.
pub fn einsum(formula: &str, xs: &[LazyRef], dtype: Option<DType>) -> Result<LazyRef> {
    let formula: String = formula.chars().filter(|c| !c.is_whitespace()).collect();
    let (mut inputs, rhs) = parse_formula(&formula, xs)?;
    let mut xs: Vec<LazyRef> = xs.to_vec();
    for (s, x) in inputs.iter_mut().zip(xs.iter_mut()) {
        ensure!(
            s.chars().all(char::is_alphabetic) && s.len() == x.shape.len(),
            InvalidArgument,
            "einsum {formula:?}: operand with letters {s:?} has {} dims",
            x.shape.len()
        );
        take_diagonals(s, x)?;
    }
    // every letter's size, consistent across operands
    let mut size: std::collections::BTreeMap<char, usize> = std::collections::BTreeMap::new();
    for (s, x) in inputs.iter().zip(&xs) {
        for (c, &n) in s.chars().zip(&x.shape) {
            if *size.entry(c).or_insert(n) != n {
                return Err(letter_error(&formula));
            }
        }
    }
    for c in rhs.chars() {
        ensure!(
            size.contains_key(&c) && rhs.matches(c).count() == 1,
            InvalidArgument,
            "einsum {formula:?}: output letter {c:?} must appear once, and in an input"
        );
    }
    let alpha: Vec<char> = size.keys().copied().collect();
    let mut prod: Option<LazyRef> = None;
    for (s, x) in inputs.iter().zip(&xs) {
        let aligned = align(s, x, &alpha, &size)?;
        prod = Some(match prod {
            Some(p) => super::mul(&p, &aligned)?,
            None => aligned,
        });
    }
    let prod = prod.expect("at least one operand");
    let summed: Vec<i64> = (0..alpha.len())
        .filter(|&i| !rhs.contains(alpha[i]))
        .map(|i| i as i64)
        .collect();
    let kept: Vec<char> = alpha.iter().copied().filter(|c| rhs.contains(*c)).collect();
    let s = reduce::sum(&prod, Some(&summed), false, dtype)?;
    let order: Vec<i64> = rhs
        .chars()
        .map(|c| kept.iter().position(|&k| k == c).expect("checked above") as i64)
        .collect();
    tensor::permute(&s, &order)
}

/// Operand `x` with letters `s`, permuted to alphabetical order and reshaped over the whole
/// alphabet (size 1 for the letters it lacks).
fn align(
    s: &str,
    x: &LazyRef,
    alpha: &[char],
    size: &std::collections::BTreeMap<char, usize>,
) -> Result<LazyRef> {
    let mut sorted: Vec<char> = s.chars().collect();
    sorted.sort_unstable();
    let order: Vec<i64> = sorted
        .iter()
        .map(|&c| s.find(c).expect("its own letter") as i64)
        .collect();
    let shape: Vec<i64> = alpha
        .iter()
        .map(|c| if s.contains(*c) { size[c] as i64 } else { 1 })
        .collect();
    tensor::reshape(&tensor::permute(x, &order)?, &shape)
}

/// Replace each letter repeated within one operand by the diagonal of those dims.
fn take_diagonals(s: &mut String, x: &mut LazyRef) -> Result<()> {
    loop {
        let chars: Vec<char> = s.chars().collect();
        let Some((j, k)) = (0..chars.len()).find_map(|j| {
            (j + 1..chars.len())
                .find(|&k| chars[k] == chars[j])
                .map(|k| (j, k))
        }) else {
            return Ok(());
        };
        let n = x.shape[j];
        ensure!(
            x.shape[k] == n,
            Shape,
            "einsum: the diagonal of dims {j} and {k} needs equal sizes, got {} and {}",
            x.shape[j],
            x.shape[k]
        );
        // move j and k last, flatten them, keep every (n+1)-th element: the diagonal
        let nd = chars.len();
        let mut perm: Vec<i64> = (0..nd)
            .filter(|&d| d != j && d != k)
            .map(|d| d as i64)
            .collect();
        perm.extend([j as i64, k as i64]);
        let t = tensor::permute(x, &perm)?;
        let mut flat = dims(&t.shape[..nd - 2]);
        flat.push((n * n) as i64);
        let t = tensor::reshape(&t, &flat)?;
        let mut step = vec![1; nd - 1];
        step[nd - 2] = n + 1;
        let t = tensor::stride(&t, &step)?;
        // the diagonal sits where dim j was
        let mut back: Vec<i64> = (0..(nd - 2) as i64).collect();
        back.insert(j, (nd - 2) as i64);
        *x = tensor::permute(&t, &back)?;
        let mut c = chars;
        c.remove(k);
        *s = c.into_iter().collect();
    }
}
