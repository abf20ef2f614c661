//! The lazy op graph: what the user asked for, not yet how it runs.
//!
//! Every tensor is an `Arc<Lazy>`. A node is either still an op over other nodes, or realized
//! into a buffer (its sources are then dropped, so memory is released as soon as possible).
//! Movement ops never stack: a `View` node always sits directly on a non-view node, because a
//! new movement op is applied to the existing view (see `tensor.rs`).

use std::borrow::Cow;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::dtype::DType;
use crate::runtime::buffer::Buffer;
use crate::shape::View;

pub type LazyRef = Arc<Lazy>;

/// Elementwise ops of one operand. The float functions (`Exp2` .. `Trunc`) only ever see float
/// operands: `ops::math` converts ints first, as tinygrad does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Neg,
    /// tinygrad's relu: `(x > 0).where(x, 0)`, so relu(NaN) is 0.
    Relu,
    Exp2,
    Log2,
    Sqrt,
    /// 1 / x.
    Recip,
    Sin,
    /// Rounding toward zero.
    Trunc,
}

/// Elementwise ops of two operands of one dtype. Comparisons give `bool`; the others give the
/// operands' dtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Max,
    /// x ** y (floats).
    Pow,
    CmpLt,
    CmpEq,
    CmpNe,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    Sum,
    Max,
}

impl UnaryOp {
    pub const ALL: [UnaryOp; 8] = [
        UnaryOp::Neg,
        UnaryOp::Relu,
        UnaryOp::Exp2,
        UnaryOp::Log2,
        UnaryOp::Sqrt,
        UnaryOp::Recip,
        UnaryOp::Sin,
        UnaryOp::Trunc,
    ];

    pub fn name(self) -> &'static str {
        match self {
            UnaryOp::Neg => "neg",
            UnaryOp::Relu => "relu",
            UnaryOp::Exp2 => "exp2",
            UnaryOp::Log2 => "log2",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::Recip => "recip",
            UnaryOp::Sin => "sin",
            UnaryOp::Trunc => "trunc",
        }
    }

    /// Whether the op is a float function (its operand is converted to a float first).
    pub fn float_only(self) -> bool {
        !matches!(self, UnaryOp::Neg | UnaryOp::Relu)
    }
}

impl BinaryOp {
    pub const ALL: [BinaryOp; 9] = [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Max,
        BinaryOp::Pow,
        BinaryOp::CmpLt,
        BinaryOp::CmpEq,
        BinaryOp::CmpNe,
    ];

    pub fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Max => "max",
            BinaryOp::Pow => "pow",
            BinaryOp::CmpLt => "cmplt",
            BinaryOp::CmpEq => "cmpeq",
            BinaryOp::CmpNe => "cmpne",
        }
    }

    pub fn is_comparison(self) -> bool {
        matches!(self, BinaryOp::CmpLt | BinaryOp::CmpEq | BinaryOp::CmpNe)
    }
}

impl ReduceOp {
    pub const ALL: [ReduceOp; 2] = [ReduceOp::Sum, ReduceOp::Max];

    pub fn name(self) -> &'static str {
        match self {
            ReduceOp::Sum => "sum",
            ReduceOp::Max => "max",
        }
    }
}

/// The op whose `name()` is `name`, among `all` (the binding maps Python's op names with it).
pub fn op_named<T: Copy>(all: &[T], name: &str, of: impl Fn(T) -> &'static str) -> Option<T> {
    all.iter().copied().find(|&op| of(op) == name)
}

/// One movement op, as the user applied it: what autograd reverses (the scheduler only sees the
/// composed `View`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoveOp {
    Reshape(Vec<usize>),
    Permute(Vec<usize>),
    /// Broadcast size-1 dims to these sizes (same rank).
    Expand(Vec<usize>),
    /// Keep `[start, end)` of every dim.
    Shrink(Vec<(usize, usize)>),
    /// Reverse these dims.
    Flip(Vec<usize>),
    /// Keep every `step`-th element of every dim (from the first).
    Stride(Vec<usize>),
}

/// Where a view node came from: the movement ops `moves` stands for, applied in order to `src`,
/// give the node. Autograd walks back through it; the scheduler never looks at it.
#[derive(Debug)]
pub struct Origin {
    pub src: LazyRef,
    pub moves: Moves,
}

/// The movement ops of an `Origin`. The forms other than `Ops` are implied by the node's own
/// shape, so building a matmul (the hot path) records them without allocating the ops.
#[derive(Debug)]
pub enum Moves {
    /// These ops, in order.
    Ops(Vec<MoveOp>),
    /// A reshape to the node's shape.
    Reshape,
    /// A size-1 dim inserted before `axis`, expanded to the node's shape; first the source's last
    /// two dims are swapped when `swap_last` (a matmul's operands).
    Broadcast { axis: usize, swap_last: bool },
}

impl Origin {
    /// The ops, in order, that take `src` to the node of shape `shape` this is the origin of
    /// (recorded ops are borrowed, implied ones built).
    pub fn ops(&self, shape: &[usize]) -> Cow<'_, [MoveOp]> {
        match &self.moves {
            Moves::Ops(ops) => Cow::Borrowed(ops),
            Moves::Reshape => Cow::Owned(vec![MoveOp::Reshape(shape.to_vec())]),
            &Moves::Broadcast { axis, swap_last } => {
                let mut s = self.src.shape.clone();
                let mut ops = Vec::with_capacity(3);
                if swap_last && s.len() >= 2 {
                    let r = s.len();
                    let mut perm: Vec<usize> = (0..r).collect();
                    perm.swap(r - 1, r - 2);
                    s.swap(r - 1, r - 2);
                    ops.push(MoveOp::Permute(perm));
                }
                s.insert(axis, 1);
                ops.push(MoveOp::Reshape(s));
                ops.push(MoveOp::Expand(shape.to_vec()));
                Cow::Owned(ops)
            }
        }
    }
}

/// One region of an `Assemble` node: `src` written at `offset` (per dim), every `step`-th
/// element (per dim).
#[derive(Debug, Clone)]
pub struct Part {
    pub src: LazyRef,
    pub offset: Vec<usize>,
    pub step: Vec<usize>,
}

/// A node's op. Sources are other nodes of the graph.
#[derive(Debug, Clone)]
pub enum LazyOp {
    /// A scalar broadcast to the node's shape.
    Const(f64),
    /// A movement op: the node's multi-index maps through `View` into the source's flat,
    /// contiguous layout. The source is never itself a `View`. The origin (None for a detached
    /// view) records the movement ops that made it, for autograd.
    View(LazyRef, View, Option<Arc<Origin>>),
    Unary(UnaryOp, LazyRef),
    Binary(BinaryOp, LazyRef, LazyRef),
    /// `cond ? a : b` elementwise (`cond` is bool; `a`, `b` have the node's dtype).
    Where(LazyRef, LazyRef, LazyRef),
    /// Conversion to the node's dtype.
    Cast(LazyRef),
    /// Reduce `axes` of the source to size 1 (keepdim).
    Reduce(ReduceOp, LazyRef, Vec<usize>),
    /// Force the source into its own contiguous buffer.
    Contiguous(LazyRef),
    /// A buffer of the node's shape built from regions (pad, cat, the gradient of a shrink):
    /// each part is computed straight into its region; elements no part covers hold `fill`.
    Assemble(Arc<[Part]>, f64),
}

impl LazyOp {
    /// Call `f` on each node this op reads (for a view, its base), in order, without collecting
    /// them (the schedule cache's walk on every realize).
    pub fn for_each_source(&self, mut f: impl FnMut(&LazyRef)) {
        match self {
            LazyOp::Const(_) => {}
            LazyOp::View(a, ..)
            | LazyOp::Unary(_, a)
            | LazyOp::Cast(a)
            | LazyOp::Reduce(_, a, _)
            | LazyOp::Contiguous(a) => f(a),
            LazyOp::Binary(_, a, b) => {
                f(a);
                f(b);
            }
            LazyOp::Where(c, a, b) => {
                f(c);
                f(a);
                f(b);
            }
            LazyOp::Assemble(parts, _) => parts.iter().for_each(|p| f(&p.src)),
        }
    }

    /// The nodes this op reads (for a view, its base).
    pub fn sources(&self) -> Vec<LazyRef> {
        let mut v = Vec::with_capacity(3);
        self.for_each_source(|s| v.push(s.clone()));
        v
    }
}

#[derive(Debug, Clone)]
pub enum State {
    Lazy(LazyOp),
    /// Data in a contiguous buffer of the node's shape.
    Realized(Arc<Buffer>),
}

#[derive(Debug)]
pub struct Lazy {
    pub dtype: DType,
    pub shape: Vec<usize>,
    state: Mutex<State>,
}

impl Lazy {
    pub fn new(op: LazyOp, dtype: DType, shape: Vec<usize>) -> LazyRef {
        Arc::new(Lazy {
            dtype,
            shape,
            state: Mutex::new(State::Lazy(op)),
        })
    }

    pub fn realized(buf: Arc<Buffer>, shape: Vec<usize>) -> LazyRef {
        debug_assert_eq!(buf.count(), crate::shape::numel(&shape));
        Arc::new(Lazy {
            dtype: buf.dtype,
            shape,
            state: Mutex::new(State::Realized(buf)),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // a poisoned lock only means a panic elsewhere; the state itself is always valid
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn state(&self) -> State {
        self.lock().clone()
    }

    /// Look at the state without cloning it. `f` must not lock this node again.
    pub fn with_state<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.lock())
    }

    pub fn buffer(&self) -> Option<Arc<Buffer>> {
        match &*self.lock() {
            State::Realized(b) => Some(b.clone()),
            State::Lazy(_) => None,
        }
    }

    /// Replace the op by its result, dropping the sources.
    pub fn set_realized(&self, buf: Arc<Buffer>) {
        *self.lock() = State::Realized(buf);
    }

    pub fn numel(&self) -> usize {
        crate::shape::numel(&self.shape)
    }

    /// The id used to identify this node while scheduling (its address).
    pub fn key(self: &Arc<Self>) -> usize {
        Arc::as_ptr(self) as usize
    }
}
