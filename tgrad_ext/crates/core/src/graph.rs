//! The lazy op graph: what the user asked for, not yet how it runs.
//!
//! Every tensor is an `Arc<Lazy>`. A node is either still an op over other nodes, or realized
//! into a buffer (its sources are then dropped, so memory is released as soon as possible).
//! Movement ops never stack: a `View` node always sits directly on a non-view node, because a
//! new movement op is applied to the existing view (see `tensor.rs`).

use std::sync::{Arc, Mutex, MutexGuard};

use crate::dtype::DType;
use crate::runtime::buffer::Buffer;
use crate::shape::View;

pub type LazyRef = Arc<Lazy>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Neg,
    /// tinygrad's relu: `(x > 0).where(x, 0)`, so relu(NaN) is 0.
    Relu,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Max,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    Sum,
    Max,
}

impl UnaryOp {
    pub fn name(self) -> &'static str {
        match self {
            UnaryOp::Neg => "neg",
            UnaryOp::Relu => "relu",
        }
    }
}

impl BinaryOp {
    pub fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Max => "max",
        }
    }
}

impl ReduceOp {
    pub fn name(self) -> &'static str {
        match self {
            ReduceOp::Sum => "sum",
            ReduceOp::Max => "max",
        }
    }
}

/// A node's op. Sources are other nodes of the graph.
#[derive(Debug, Clone)]
pub enum LazyOp {
    /// A scalar broadcast to the node's shape.
    Const(f64),
    /// A movement op: the node's multi-index maps through `View` into the source's flat,
    /// contiguous layout. The source is never itself a `View`.
    View(LazyRef, View),
    Unary(UnaryOp, LazyRef),
    Binary(BinaryOp, LazyRef, LazyRef),
    /// Conversion to the node's dtype.
    Cast(LazyRef),
    /// Reduce `axes` of the source to size 1 (keepdim).
    Reduce(ReduceOp, LazyRef, Vec<usize>),
    /// Force the source into its own contiguous buffer.
    Contiguous(LazyRef),
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
