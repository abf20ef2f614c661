//! The schedule cache (tinygrad's `SCACHE`): a graph realized before is replayed from its recipe
//! instead of being scheduled and looked up kernel by kernel again.
//!
//! A graph's key is its normal form: every node reachable from the roots through unrealized ops,
//! written out in depth-first order with each op's full payload (dtype, shape, view, constant,
//! axes, regions), a node seen before written as a back reference, and every realized node as a
//! leaf of its dtype, shape, buffer size and buffer class (leaves over one buffer share a class).
//! The encoding is prefix-free, so two graphs share a key only when the scheduler sees the same
//! thing in both: it reads nothing but ops, shapes, dtypes, views, which nodes are realized and
//! which of them share a buffer. The recipe says, per kernel, which leaf or which new buffer
//! each parameter is bound to, and which nodes end up realized into which buffer; it holds no
//! buffer, so cached graphs keep no memory alive. Debug builds schedule every replayed graph
//! again and assert that the recipe is exactly what the scheduler gives (`Layout::of`).

use std::sync::Arc;

use super::Planned;
use crate::dtype::DType;
use crate::error::Result;
use crate::fxhash::{FxBuildHasher, FxHashMap};
use crate::graph::{LazyOp, LazyRef, State};
use crate::kernel::Kernel;
use crate::runtime::buffer::Buffer;
use crate::schedule::Schedule;

/// Where a kernel parameter or a realized node's data lives in a replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Slot {
    /// The buffer of leaf class `i` (`Encoded::leaves[i]`).
    Leaf(u32),
    /// The `j`-th buffer the replay allocates.
    Fresh(u32),
}

/// A graph's normal form as a cache key: the words, and their hash computed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Key {
    hash: u64,
    words: Vec<u64>,
}

impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// The graph's normal form, with the nodes and leaf buffers it numbers.
pub(super) struct Encoded {
    pub key: Key,
    /// Nodes in the order they were first reached: `Layout::realized` indexes this.
    pub nodes: Vec<LazyRef>,
    /// One buffer per leaf class.
    pub leaves: Vec<Arc<Buffer>>,
    /// Node address -> number, for graphs past `LINEAR` nodes (smaller ones search `nodes`).
    index: FxHashMap<usize, u32>,
}

/// Up to this many nodes, a node's number is found by scanning `nodes` (no hashing).
const LINEAR: usize = 16;

const REF: u64 = 0;
const LEAF: u64 = 1;

fn op_tag(op: &LazyOp) -> u64 {
    match op {
        LazyOp::Const(_) => 2,
        LazyOp::View(..) => 3,
        LazyOp::Unary(..) => 4,
        LazyOp::Binary(..) => 5,
        LazyOp::Where(..) => 6,
        LazyOp::Cast(_) => 7,
        LazyOp::Reduce(..) => 8,
        LazyOp::Contiguous(_) => 9,
        LazyOp::Assemble(..) => 10,
    }
}

fn push_list<T: Copy>(key: &mut Vec<u64>, xs: &[T], word: impl Fn(T) -> u64) {
    key.push(xs.len() as u64);
    key.extend(xs.iter().map(|&x| word(x)));
}

/// The normal form of the graph under `roots`, keyed also by `flags` (what plans depend on).
pub(super) fn encode(roots: &[LazyRef], flags: (i64, i64, usize, i64)) -> Encoded {
    let mut e = Encoded {
        key: Key {
            hash: 0,
            // a matmul's graph (five nodes over two leaves) takes about 80 words
            words: Vec::with_capacity(128),
        },
        nodes: Vec::with_capacity(8),
        leaves: Vec::new(),
        index: FxHashMap::with_hasher(FxBuildHasher::default()),
    };
    e.key.words.extend([
        flags.0 as u64,
        flags.1 as u64,
        flags.2 as u64,
        flags.3 as u64,
    ]);
    e.key.words.push(roots.len() as u64);
    let mut stack: Vec<LazyRef> = Vec::with_capacity(16);
    stack.extend(roots.iter().rev().cloned());
    while let Some(n) = stack.pop() {
        if let Some(i) = e.number(n.key()) {
            e.key.words.extend([REF, u64::from(i)]);
            continue;
        }
        e.number_next(n.key());
        let at = stack.len();
        n.with_state(|s| e.write_node(&n, s, &mut stack));
        // sources are encoded in order: the stack pops them first to last
        stack[at..].reverse();
        e.nodes.push(n);
    }
    e.key.hash = crate::fxhash::hash_words(&e.key.words);
    e
}

impl Encoded {
    /// The number of the node at `addr`, when it has been reached.
    fn number(&self, addr: usize) -> Option<u32> {
        if self.nodes.len() <= LINEAR {
            let i = self.nodes.iter().position(|n| n.key() == addr)?;
            return Some(i as u32);
        }
        self.index.get(&addr).copied()
    }

    /// Number the node at `addr` (it is pushed onto `nodes` next).
    fn number_next(&mut self, addr: usize) {
        if self.nodes.len() == LINEAR {
            // past the linear range: index every node so far, then this one
            for (i, n) in self.nodes.iter().enumerate() {
                self.index.insert(n.key(), i as u32);
            }
        }
        if self.nodes.len() >= LINEAR {
            self.index.insert(addr, self.nodes.len() as u32);
        }
    }

    /// Write one node's header and payload, and push its sources (in order) onto `stack`.
    fn write_node(&mut self, n: &LazyRef, s: &State, stack: &mut Vec<LazyRef>) {
        let key = &mut self.key.words;
        let tag = match s {
            State::Realized(_) => LEAF,
            State::Lazy(op) => op_tag(op),
        };
        key.extend([tag, n.dtype as u64]);
        push_list(key, &n.shape, |d| d as u64);
        match s {
            State::Realized(b) => {
                let class = self
                    .leaves
                    .iter()
                    .position(|l| l.id == b.id)
                    .unwrap_or_else(|| {
                        self.leaves.push(b.clone());
                        self.leaves.len() - 1
                    });
                key.extend([b.dtype as u64, b.count() as u64, class as u64]);
            }
            State::Lazy(op) => {
                match op {
                    LazyOp::Const(v) => key.push(v.to_bits()),
                    LazyOp::View(_, v, _) => {
                        push_list(key, &v.shape, |d| d as u64);
                        push_list(key, &v.strides, |d| d as u64);
                        key.push(v.offset as u64);
                    }
                    LazyOp::Unary(u, _) => key.push(*u as u64),
                    LazyOp::Binary(b, ..) => key.push(*b as u64),
                    LazyOp::Reduce(r, _, axes) => {
                        key.push(*r as u64);
                        push_list(key, axes, |d| d as u64);
                    }
                    LazyOp::Assemble(parts, fill) => {
                        key.extend([fill.to_bits(), parts.len() as u64]);
                        for p in parts.iter() {
                            push_list(key, &p.offset, |d| d as u64);
                            push_list(key, &p.step, |d| d as u64);
                        }
                    }
                    LazyOp::Where(..) | LazyOp::Cast(_) | LazyOp::Contiguous(_) => {}
                }
                op.for_each_source(|src| stack.push(src.clone()));
            }
        }
    }

    fn slot(&self, b: &Buffer, fresh: &mut Vec<(u64, DType, usize)>) -> Slot {
        if let Some(i) = self.leaves.iter().position(|l| l.id == b.id) {
            return Slot::Leaf(i as u32);
        }
        let j = fresh.iter().position(|f| f.0 == b.id).unwrap_or_else(|| {
            fresh.push((b.id, b.dtype, b.count()));
            fresh.len() - 1
        });
        Slot::Fresh(j as u32)
    }

    /// The buffer a slot stands for in this graph, given the replay's new buffers.
    pub fn buffer(&self, s: Slot, fresh: &[Arc<Buffer>]) -> Arc<Buffer> {
        match s {
            Slot::Leaf(i) => self.leaves[i as usize].clone(),
            Slot::Fresh(j) => fresh[j as usize].clone(),
        }
    }
}

/// A schedule with its buffers and nodes replaced by slots and node numbers.
#[derive(Debug, PartialEq)]
pub(super) struct Layout {
    pub kernels: Vec<Kernel>,
    pub params: Vec<Vec<Slot>>,
    /// (node number in `Encoded::nodes`, where its data is).
    pub realized: Vec<(u32, Slot)>,
    /// The buffers a replay allocates: dtype and element count.
    pub fresh: Vec<(DType, usize)>,
}

impl Layout {
    /// The layout of `s`, scheduled from the graph `e` encodes; None when a realized node is
    /// not among the encoded ones (then the graph is not cached).
    pub fn of(s: &Schedule, e: &Encoded) -> Option<Layout> {
        let mut fresh = Vec::new();
        let params = s
            .items
            .iter()
            .map(|i| i.bufs.iter().map(|b| e.slot(b, &mut fresh)).collect())
            .collect();
        let realized = s
            .realized
            .iter()
            .map(|(n, b)| Some((e.number(n.key())?, e.slot(b, &mut fresh))))
            .collect::<Option<Vec<_>>>()?;
        Some(Layout {
            kernels: s.items.iter().map(|i| i.kernel.clone()).collect(),
            params,
            realized,
            fresh: fresh.into_iter().map(|(_, d, n)| (d, n)).collect(),
        })
    }

    /// New buffers for one replay.
    pub fn allocate(&self) -> Result<Vec<Arc<Buffer>>> {
        self.fresh
            .iter()
            .map(|&(d, n)| Buffer::unallocated(d, n).map(Arc::new))
            .collect()
    }
}

/// A cached graph: its layout and each kernel's plan.
pub(super) struct Recipe {
    pub layout: Layout,
    pub plans: Vec<Arc<Planned>>,
}

/// Recipes by key; cleared when full, like the plan cache.
pub(super) type Cache = FxHashMap<Key, Arc<Recipe>>;

pub(super) const LIMIT: usize = 4096;
