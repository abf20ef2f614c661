//! The kernel AST: what one kernel computes, independent of how it is looped or rendered.
//!
//! A kernel iterates a *full shape*. Axes in `reduce_axes` are reduced by the kernel's single
//! `Reduction`; the output is contiguous over the full shape with those axes set to 1. Every
//! load reads through a strided `View` over the full shape (stride 0 where it broadcasts).

use std::fmt::Write as _;

use crate::dtype::DType;
use crate::graph::{BinaryOp, ReduceOp, UnaryOp};
use crate::shape::View;

#[derive(Debug, Clone)]
pub enum ExprOp {
    /// Read buffer `buf` (index into the kernel's buffer list; 0 is the output) through `view`.
    Load {
        buf: usize,
        view: View,
    },
    Const(f64),
    Unary(UnaryOp, Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// `cond ? a : b` (cond is bool).
    Where(Box<Expr>, Box<Expr>, Box<Expr>),
    /// Convert the source value to this expression's dtype (rounding as a store would).
    Cast(Box<Expr>),
    /// The value of the kernel's reduction at this output element.
    Acc,
}

/// Equality and hashing compare constants bit for bit, so kernels are usable as map keys (the
/// engine caches plans by kernel) even when a constant is NaN.
impl PartialEq for ExprOp {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (ExprOp::Load { buf: a, view: va }, ExprOp::Load { buf: b, view: vb }) => {
                a == b && va == vb
            }
            (ExprOp::Const(a), ExprOp::Const(b)) => a.to_bits() == b.to_bits(),
            (ExprOp::Unary(o1, a), ExprOp::Unary(o2, b)) => o1 == o2 && a == b,
            (ExprOp::Binary(o1, a1, b1), ExprOp::Binary(o2, a2, b2)) => {
                o1 == o2 && a1 == a2 && b1 == b2
            }
            (ExprOp::Where(c1, a1, b1), ExprOp::Where(c2, a2, b2)) => {
                c1 == c2 && a1 == a2 && b1 == b2
            }
            (ExprOp::Cast(a), ExprOp::Cast(b)) => a == b,
            (ExprOp::Acc, ExprOp::Acc) => true,
            _ => false,
        }
    }
}

impl Eq for ExprOp {}

impl std::hash::Hash for ExprOp {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        std::mem::discriminant(self).hash(h);
        match self {
            ExprOp::Load { buf, view } => {
                buf.hash(h);
                view.hash(h);
            }
            ExprOp::Const(v) => v.to_bits().hash(h),
            ExprOp::Unary(op, a) => {
                op.hash(h);
                a.hash(h);
            }
            ExprOp::Binary(op, a, b) => {
                op.hash(h);
                a.hash(h);
                b.hash(h);
            }
            ExprOp::Where(c, a, b) => {
                c.hash(h);
                a.hash(h);
                b.hash(h);
            }
            ExprOp::Cast(a) => a.hash(h),
            ExprOp::Acc => {}
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Expr {
    pub op: ExprOp,
    pub dtype: DType,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reduction {
    pub op: ReduceOp,
    pub src: Expr,
    /// The reduction's result dtype (it accumulates in `dtype.compute()`).
    pub dtype: DType,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Kernel {
    pub full_shape: Vec<usize>,
    pub reduce_axes: Vec<usize>,
    pub reduction: Option<Reduction>,
    /// The value stored at each output element (may contain `Acc`).
    pub body: Expr,
    /// dtypes of the buffers: [output, inputs...].
    pub buf_dtypes: Vec<DType>,
    /// Where the output goes: a view over the full shape into the output buffer (stride 0 on
    /// reduced axes), for a kernel that writes one region of a larger buffer (`Assemble`);
    /// None: contiguous over the kept dims.
    pub store: Option<View>,
}

impl Expr {
    pub fn new(op: ExprOp, dtype: DType) -> Expr {
        Expr { op, dtype }
    }

    /// The operands of this node, in pre-order position.
    pub fn children(&self) -> Vec<&Expr> {
        match &self.op {
            ExprOp::Load { .. } | ExprOp::Const(_) | ExprOp::Acc => vec![],
            ExprOp::Unary(_, a) | ExprOp::Cast(a) => vec![a],
            ExprOp::Binary(_, a, b) => vec![a, b],
            ExprOp::Where(c, a, b) => vec![c, a, b],
        }
    }

    fn children_mut(&mut self) -> Vec<&mut Expr> {
        match &mut self.op {
            ExprOp::Load { .. } | ExprOp::Const(_) | ExprOp::Acc => vec![],
            ExprOp::Unary(_, a) | ExprOp::Cast(a) => vec![a],
            ExprOp::Binary(_, a, b) => vec![a, b],
            ExprOp::Where(c, a, b) => vec![c, a, b],
        }
    }

    /// Visit every load (pre-order).
    pub fn for_each_load<'a>(&'a self, f: &mut impl FnMut(usize, DType, &'a View)) {
        if let ExprOp::Load { buf, view } = &self.op {
            f(*buf, self.dtype, view);
        }
        for c in self.children() {
            c.for_each_load(f);
        }
    }

    pub fn map_views(&mut self, f: &mut impl FnMut(&View) -> View) {
        if let ExprOp::Load { view, .. } = &mut self.op {
            *view = f(view);
        }
        for c in self.children_mut() {
            c.map_views(f);
        }
    }

    /// This expression with `Acc` replaced by `with`.
    pub fn replace_acc(&self, with: &Expr) -> Expr {
        if matches!(self.op, ExprOp::Acc) {
            return with.clone();
        }
        let mut out = self.clone();
        for c in out.children_mut() {
            *c = c.replace_acc(with);
        }
        out
    }

    /// Structure without sizes or strides: two kernels with the same signature compile to the
    /// same program (shapes and strides are run-time parameters).
    pub fn signature(&self, out: &mut String) {
        self.structure(out, true);
    }

    /// The signature, with or without the rank of each load's view.
    pub fn structure(&self, out: &mut String, with_rank: bool) {
        let _ = match &self.op {
            ExprOp::Load { buf, view } if with_rank => {
                write!(out, "L{buf}r{}:{}", view.ndim(), self.dtype.name())
            }
            ExprOp::Load { buf, .. } => write!(out, "L{buf}:{}", self.dtype.name()),
            // constants are run-time parameters: their values are not part of the structure
            ExprOp::Const(_) => write!(out, "C:{}", self.dtype.name()),
            ExprOp::Acc => write!(out, "ACC"),
            ExprOp::Unary(op, a) => {
                let _ = write!(out, "{}(", op.name());
                a.structure(out, with_rank);
                write!(out, ")")
            }
            ExprOp::Cast(a) => {
                let _ = write!(out, "cast:{}(", self.dtype.name());
                a.structure(out, with_rank);
                write!(out, ")")
            }
            ExprOp::Binary(op, a, b) => {
                let _ = write!(out, "{}(", op.name());
                a.structure(out, with_rank);
                out.push(',');
                b.structure(out, with_rank);
                write!(out, ")")
            }
            ExprOp::Where(c, a, b) => {
                out.push_str("where(");
                c.structure(out, with_rank);
                out.push(',');
                a.structure(out, with_rank);
                out.push(',');
                b.structure(out, with_rank);
                write!(out, ")")
            }
        };
    }

    /// Visit every node (pre-order).
    pub fn visit(&self, f: &mut impl FnMut(&Expr)) {
        f(self);
        for c in self.children() {
            c.visit(f);
        }
    }

    pub fn contains_acc(&self) -> bool {
        matches!(self.op, ExprOp::Acc) || self.children().iter().any(|c| c.contains_acc())
    }
}

impl Kernel {
    pub fn out_shape(&self) -> Vec<usize> {
        self.full_shape
            .iter()
            .enumerate()
            .map(|(i, &s)| if self.reduce_axes.contains(&i) { 1 } else { s })
            .collect()
    }

    /// The output's view over the full shape: the store view, else contiguous with stride 0 on
    /// reduced axes.
    pub fn out_view(&self) -> View {
        if let Some(v) = &self.store {
            return v.clone();
        }
        let mut v = View::contiguous(&self.out_shape());
        v.shape.clone_from(&self.full_shape);
        v
    }

    pub fn signature(&self) -> String {
        let mut s = format!("r{}red{:?}:", self.full_shape.len(), self.reduce_axes);
        if let Some(r) = &self.reduction {
            let _ = write!(s, "{}:{}[", r.op.name(), r.dtype.name());
            r.src.signature(&mut s);
            s.push(']');
        }
        self.body.signature(&mut s);
        let _ = write!(s, "->{}", self.buf_dtypes[0].name());
        s
    }

    /// tinygrad-style kernel name: `E_` elementwise or `r_` reduce, then the full shape.
    pub fn name(&self) -> String {
        let prefix = if self.reduction.is_some() { "r" } else { "E" };
        let dims: Vec<String> = self.full_shape.iter().map(ToString::to_string).collect();
        format!(
            "{prefix}_{}",
            if dims.is_empty() {
                "1".to_string()
            } else {
                dims.join("_")
            }
        )
    }

    /// Every dtype the kernel stores, loads or computes in (renderers include helpers by it).
    pub fn dtypes(&self) -> Vec<DType> {
        let mut out = self.buf_dtypes.clone();
        let mut add = |e: &Expr| out.push(e.dtype);
        if let Some(r) = &self.reduction {
            r.src.visit(&mut add);
        }
        self.body.visit(&mut add);
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Every constant the kernel uses, reduction source first then the body, each in pre-order:
    /// the order of its parameter slots.
    pub fn consts(&self) -> Vec<(f64, DType)> {
        let mut out = vec![];
        let mut add = |e: &Expr| {
            if let ExprOp::Const(v) = e.op {
                out.push((v, e.dtype));
            }
        };
        if let Some(r) = &self.reduction {
            r.src.visit(&mut add);
        }
        self.body.visit(&mut add);
        out
    }

    /// The constants' parameter words (`abi::const_word`), in slot order.
    pub fn const_words(&self) -> Vec<i64> {
        self.consts()
            .into_iter()
            .map(|(v, d)| crate::abi::const_word(v, d))
            .collect()
    }

    /// Every (buffer, view) the kernel reads, reduction source first.
    pub fn loads(&self) -> Vec<(usize, &View)> {
        let mut out = Vec::new();
        if let Some(r) = &self.reduction {
            r.src.for_each_load(&mut |b, _, v| out.push((b, v)));
        }
        self.body.for_each_load(&mut |b, _, v| out.push((b, v)));
        out
    }

    pub fn map_views(&mut self, mut f: impl FnMut(&View) -> View) {
        if let Some(r) = &mut self.reduction {
            r.src.map_views(&mut f);
        }
        self.body.map_views(&mut f);
    }
}

/// One line per node, children indented: the IR as TGRAD_DEBUG=3 and the golden IR files show it.
impl std::fmt::Display for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fn go(e: &Expr, depth: usize, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            let pad = "  ".repeat(depth);
            let d = e.dtype.name();
            match &e.op {
                ExprOp::Load { buf, view } => writeln!(
                    f,
                    "{pad}load b{buf} {d} offset={} strides={:?}",
                    view.offset, view.strides
                ),
                ExprOp::Const(c) => writeln!(f, "{pad}const {c:e} {d}"),
                ExprOp::Acc => writeln!(f, "{pad}acc {d}"),
                ExprOp::Unary(op, a) => {
                    writeln!(f, "{pad}{} {d}", op.name())?;
                    go(a, depth + 1, f)
                }
                ExprOp::Binary(op, a, b) => {
                    writeln!(f, "{pad}{} {d}", op.name())?;
                    go(a, depth + 1, f)?;
                    go(b, depth + 1, f)
                }
                ExprOp::Cast(a) => {
                    writeln!(f, "{pad}cast {d}")?;
                    go(a, depth + 1, f)
                }
                ExprOp::Where(c, a, b) => {
                    writeln!(f, "{pad}where {d}")?;
                    go(c, depth + 1, f)?;
                    go(a, depth + 1, f)?;
                    go(b, depth + 1, f)
                }
            }
        }
        go(self, 0, f)
    }
}

impl std::fmt::Display for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bufs: Vec<&str> = self.buf_dtypes.iter().map(|d| d.name()).collect();
        writeln!(
            f,
            "kernel {} full={:?} reduce={:?} bufs=[{}]",
            self.name(),
            self.full_shape,
            self.reduce_axes,
            bufs.join(", ")
        )?;
        if let Some(v) = &self.store {
            writeln!(f, "store offset={} strides={:?}", v.offset, v.strides)?;
        }
        if let Some(r) = &self.reduction {
            writeln!(f, "reduce {} {}", r.op.name(), r.dtype.name())?;
            for line in r.src.to_string().lines() {
                writeln!(f, "  {line}")?;
            }
        }
        writeln!(f, "body")?;
        for line in self.body.to_string().lines() {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }
}
