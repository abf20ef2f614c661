//! The scheduler: which nodes become kernels, and what each kernel computes.
//!
//! Elementwise ops fuse into their consumer; one reduction per kernel, with the elementwise ops
//! after it fused as its epilogue (so `relu(x @ w + b)` is one kernel). A node is realized on its
//! own when it is the target, a `contiguous()`, a second reduction, or a reduction seen through a
//! view that is not its natural layout; a view that no single strided view can express through
//! an elementwise chain realizes the view. An `Assemble` node is one buffer written region by
//! region: a fill kernel where no part covers it, then each part's kernel storing straight into
//! its region. A sum of products whose factor is an elementwise expression broadcast across the
//! kernel (a matmul of `relu(x)`, of a gradient masked by `where`) realizes that factor first, so
//! the reduction reads plain buffers and codegen can plan it as a GEMM.

use std::sync::Arc;

use crate::error::Result;
use crate::fxhash::{FxBuildHasher, FxHashMap, FxHashSet};
use crate::graph::{LazyOp, LazyRef, State};
use crate::kernel::{Expr, ExprOp, Kernel, Reduction};
use crate::runtime::buffer::Buffer;
use crate::shape::{contiguous_strides, View};

mod operands;
mod regions;

#[derive(Debug)]
pub struct ScheduleItem {
    pub kernel: Kernel,
    /// [output, inputs...], matching `kernel.buf_dtypes`.
    pub bufs: Vec<Arc<Buffer>>,
}

#[derive(Debug, Default)]
pub struct Schedule {
    pub items: Vec<ScheduleItem>,
    /// Nodes to mark realized once the items have run.
    pub realized: Vec<(LazyRef, Arc<Buffer>)>,
}

/// Compose `iv` (full shape -> flat position in a node of `node_shape`) with `v` (the node's
/// multi-index -> its source's flat position). Exact whenever it returns `Some`.
pub fn compose(iv: &View, node_shape: &[usize], v: &View) -> Option<View> {
    // Case 1: iv walks the node's dims in order (contiguous strides, maybe broadcast): then each
    // full dim moves exactly one node dim and the composite takes that dim's stride in v.
    if iv.offset == 0 {
        let cs = contiguous_strides(node_shape);
        let node_dims: Vec<usize> = (0..node_shape.len())
            .filter(|&j| node_shape[j] != 1)
            .collect();
        let mut strides = vec![0isize; iv.ndim()];
        let mut next = 0usize;
        let mut ok = true;
        for (k, (&ivs, &ivn)) in iv.strides.iter().zip(&iv.shape).enumerate() {
            if ivs == 0 || ivn == 1 {
                continue;
            }
            match node_dims.get(next) {
                Some(&j) if node_shape[j] == ivn && cs[j] == ivs => {
                    strides[k] = v.strides[j];
                    next += 1;
                }
                _ => {
                    ok = false;
                    break;
                }
            }
        }
        if ok && next == node_dims.len() {
            return Some(View {
                shape: iv.shape.clone(),
                strides,
                offset: v.offset,
            });
        }
    }
    // Case 2: v is one linear run over the node's flat layout.
    let flat = v.reshape(&[v.numel()])?;
    let s = flat.strides.first().copied().unwrap_or(0);
    Some(View {
        shape: iv.shape.clone(),
        strides: iv.strides.iter().map(|&x| x * s).collect(),
        offset: flat.offset + iv.offset * s,
    })
}

#[derive(Default)]
struct Scheduler {
    out: Schedule,
    memo: FxHashMap<usize, Arc<Buffer>>,
    /// How many ops of the graph read each unrealized node (by key).
    uses: FxHashMap<usize, u32>,
}

impl Scheduler {
    fn buffer_of(&self, node: &LazyRef) -> Option<Arc<Buffer>> {
        node.buffer()
            .or_else(|| self.memo.get(&node.key()).cloned())
    }

    fn done(&mut self, node: &LazyRef, buf: &Arc<Buffer>) {
        self.memo.insert(node.key(), buf.clone());
        self.out.realized.push((node.clone(), buf.clone()));
    }

    fn realize(&mut self, node: &LazyRef) -> Result<Arc<Buffer>> {
        if let Some(b) = self.buffer_of(node) {
            return Ok(b);
        }
        // looked at under the node's lock: no clone of its op (views own vectors)
        let (alias, target) = node.with_state(|s| match s {
            // A contiguous view of a whole buffer is that buffer.
            State::Lazy(LazyOp::View(base, v, _))
                if v.is_contiguous() && base.numel() == node.numel() =>
            {
                (Some(base.clone()), None)
            }
            State::Lazy(LazyOp::Contiguous(src)) => (None, Some(src.clone())),
            _ => (None, None),
        });
        if let Some(base) = alias {
            let b = self.realize(&base)?;
            self.done(node, &b);
            return Ok(b);
        }
        if let Some(src) = &target {
            // a node this schedule already computed into its own buffer is not computed again;
            // one realized before keeps its buffer (a clone copies it)
            if let Some(b) = self.memo.get(&src.key()).cloned() {
                if !src.with_state(|s| matches!(s, State::Lazy(LazyOp::View(..)))) {
                    self.done(node, &b);
                    return Ok(b);
                }
            }
        }
        let out = Arc::new(Buffer::unallocated(node.dtype, node.numel())?);
        let parts = node.with_state(|s| match s {
            State::Lazy(LazyOp::Assemble(parts, fill)) => Some((parts.clone(), *fill)),
            _ => None,
        });
        if let Some((parts, fill)) = parts {
            self.assemble(node, &out, &parts, fill)?;
        } else if let Some(item) =
            self.transposed_reduction(target.as_ref().unwrap_or(node), &out)?
        {
            self.out.items.push(item);
        } else if node.numel() > 0 {
            let root = target.clone().unwrap_or_else(|| node.clone());
            let item = self
                .lower_kernel(&root, &out, None)?
                .expect("a kernel without a store always lowers");
            self.out.items.push(item);
        }
        self.done(node, &out);
        // the buffer also holds the value of a contiguous node's source (not of a view: the
        // buffer is the view's elements in order, not its base's)
        if let Some(src) = target {
            let plain =
                src.with_state(|s| matches!(s, State::Lazy(op) if !matches!(op, LazyOp::View(..))));
            if plain && self.buffer_of(&src).is_none() {
                self.done(&src, &out);
            }
        }
        Ok(out)
    }

    /// One kernel computing `root` into `out` (through `store`, a view over `root`'s shape, when
    /// given). None only when the kernel's index space cannot be mapped onto `store`.
    fn lower_kernel(
        &mut self,
        root: &LazyRef,
        out: &Arc<Buffer>,
        store: Option<&View>,
    ) -> Result<Option<ScheduleItem>> {
        if let Some(red) = find_reduce(root) {
            if let Some(item) = self.lower_with(root, out, Some(red), store)? {
                return Ok(Some(item));
            }
        }
        self.lower_with(root, out, None, store)
    }

    /// Lower `root` into one kernel, with `red` as its reduction. `None` when `red` turned out
    /// not to be reachable in its natural layout (the caller then lowers without it), or when
    /// the kernel's index space cannot be mapped onto `store`.
    fn lower_with(
        &mut self,
        root: &LazyRef,
        out: &Arc<Buffer>,
        red: Option<LazyRef>,
        store: Option<&View>,
    ) -> Result<Option<ScheduleItem>> {
        let (full, reduce_axes, out_shape) = match &red {
            Some(r) => r.with_state(|s| match s {
                State::Lazy(LazyOp::Reduce(_, src, axes)) => {
                    (src.shape.clone(), axes.clone(), r.shape.clone())
                }
                _ => unreachable!("find_reduce returns reduce nodes"),
            }),
            None => (root.shape.clone(), vec![], root.shape.clone()),
        };
        let out_map = View {
            shape: full.clone(),
            strides: contiguous_strides(&out_shape),
            offset: 0,
        };
        // the store over the full shape: out_map walks root's contiguous layout, which `store`
        // maps into the output buffer
        let store = match store {
            Some(v) => match compose(&out_map, &root.shape, v) {
                Some(s) => Some(s),
                None => return Ok(None),
            },
            None => None,
        };
        let mut lw = Lowerer {
            sched: self,
            bufs: vec![out.clone()],
            full,
            red,
            out_map: out_map.clone(),
            reduction: None,
            inside: false,
            root: root.key(),
            unmappable: false,
        };
        let body = lw.lower(root, &out_map)?;
        if lw.unmappable || (lw.red.is_some() && lw.reduction.is_none()) {
            return Ok(None);
        }
        let Lowerer {
            bufs,
            full,
            reduction,
            ..
        } = lw;
        let kernel = Kernel {
            full_shape: full,
            reduce_axes: if reduction.is_some() {
                reduce_axes
            } else {
                vec![]
            },
            reduction,
            body,
            buf_dtypes: bufs.iter().map(|b| b.dtype).collect(),
            store,
        };
        Ok(Some(ScheduleItem { kernel, bufs }))
    }
}

/// The first unrealized reduction reachable from `root` through elementwise ops and views,
/// when its result has as many elements as `root` (so it can be the kernel's reduction).
fn find_reduce(root: &LazyRef) -> Option<LazyRef> {
    let mut stack = vec![root.clone()];
    let mut seen = FxHashSet::with_capacity_and_hasher(16, FxBuildHasher::default());
    while let Some(n) = stack.pop() {
        if !seen.insert(n.key()) {
            continue;
        }
        // inspect under the node's lock instead of cloning its op (views own vectors)
        let is_reduce = n.with_state(|s| match s {
            State::Lazy(LazyOp::Reduce(..)) => true,
            State::Lazy(LazyOp::Unary(_, a) | LazyOp::Cast(a) | LazyOp::View(a, ..)) => {
                stack.push(a.clone());
                false
            }
            State::Lazy(LazyOp::Binary(_, a, b)) => {
                stack.push(b.clone());
                stack.push(a.clone());
                false
            }
            State::Lazy(LazyOp::Where(c, a, b)) => {
                stack.push(b.clone());
                stack.push(a.clone());
                stack.push(c.clone());
                false
            }
            _ => false,
        });
        if is_reduce {
            return (n.numel() == root.numel()).then_some(n);
        }
    }
    None
}

/// What lowering a node starts from: a view already composed with the kernel's map (`None` when
/// no single view expresses it), or any other op.
enum Step {
    View(LazyRef, Option<View>),
    Op(LazyOp),
}

struct Lowerer<'a> {
    sched: &'a mut Scheduler,
    bufs: Vec<Arc<Buffer>>,
    full: Vec<usize>,
    red: Option<LazyRef>,
    out_map: View,
    reduction: Option<Reduction>,
    inside: bool,
    /// The kernel's root, and whether the root is a view the kernel's index space cannot be
    /// mapped through (then the kernel is lowered without its reduction, which is realized on
    /// its own: realizing the root would recurse).
    root: usize,
    unmappable: bool,
}

impl Lowerer<'_> {
    /// Whether to realize `node`, a `permuted_reduction` of `src`, in its own layout (the
    /// reduction's kernel storing through the permutation) rather than read `src` through it:
    /// where this kernel walks `node` in order along its innermost axis but would walk `src`
    /// with a stride (an SGD update reading a weight's gradient, which autograd builds as a
    /// permuted reduction). A strided walk over a large gradient costs a cache miss per element.
    fn store_permuted(&self, node: &LazyRef, src: &LazyRef, map: &View, m: &View) -> bool {
        let inner = |v: &View| v.strides.last().copied();
        if inner(map) != Some(1) || inner(m) == Some(1) {
            return false;
        }
        if self.red.as_ref().is_some_and(|r| r.key() == src.key()) && *m == self.out_map {
            return false;
        }
        self.sched
            .permuted_reduction(node)
            .is_some_and(|(base, store)| base.key() == src.key() && !store.is_contiguous())
    }

    fn load(&mut self, buf: Arc<Buffer>, map: &View) -> Expr {
        let dtype = buf.dtype;
        let idx = if let Some(i) = self.bufs.iter().position(|b| b.id == buf.id) {
            i
        } else {
            self.bufs.push(buf);
            self.bufs.len() - 1
        };
        debug_assert_ne!(idx, 0, "a kernel never reads its own output");
        Expr::new(
            ExprOp::Load {
                buf: idx,
                view: map.clone(),
            },
            dtype,
        )
    }

    fn realized_load(&mut self, node: &LazyRef, map: &View) -> Result<Expr> {
        let buf = self.sched.realize(node)?;
        Ok(self.load(buf, map))
    }

    /// `map`: a view over the kernel's full shape into `node`'s flat contiguous layout.
    fn lower(&mut self, node: &LazyRef, map: &View) -> Result<Expr> {
        debug_assert_eq!(map.shape, self.full);
        if let Some(buf) = self.sched.buffer_of(node) {
            return Ok(self.load(buf, map));
        }
        let dtype = node.dtype;
        // a view is composed under the node's lock; other ops are cheap to clone (Arcs)
        let step = node.with_state(|s| match s {
            State::Lazy(LazyOp::View(src, v, _)) => {
                Step::View(src.clone(), compose(map, &node.shape, v))
            }
            State::Lazy(op) => Step::Op(op.clone()),
            State::Realized(_) => unreachable!("realized nodes have a buffer"),
        });
        let op = match step {
            Step::Op(op) => op,
            Step::View(src, Some(m)) if self.store_permuted(node, &src, map, &m) => {
                return self.realized_load(node, map)
            }
            Step::View(src, Some(m)) => return self.lower(&src, &m),
            Step::View(_, None) if node.key() == self.root => {
                self.unmappable = true;
                return Ok(Expr::new(ExprOp::Const(0.0), dtype));
            }
            Step::View(_, None) => return self.realized_load(node, map),
        };
        Ok(match op {
            LazyOp::Const(v) => Expr::new(ExprOp::Const(v), dtype),
            LazyOp::View(..) => unreachable!("views are handled above"),
            LazyOp::Where(c, a, b) => {
                let ec = self.lower(&c, map)?;
                let ea = self.lower(&a, map)?;
                let eb = self.lower(&b, map)?;
                Expr::new(
                    ExprOp::Where(Box::new(ec), Box::new(ea), Box::new(eb)),
                    dtype,
                )
            }
            LazyOp::Unary(op, a) => {
                Expr::new(ExprOp::Unary(op, Box::new(self.lower(&a, map)?)), dtype)
            }
            LazyOp::Binary(op, a, b) => {
                let (ea, eb) = (self.lower(&a, map)?, self.lower(&b, map)?);
                Expr::new(ExprOp::Binary(op, Box::new(ea), Box::new(eb)), dtype)
            }
            LazyOp::Cast(a) => Expr::new(ExprOp::Cast(Box::new(self.lower(&a, map)?)), dtype),
            LazyOp::Reduce(rop, src, _) => {
                let is_ours = self.red.as_ref().is_some_and(|r| r.key() == node.key());
                if is_ours && !self.inside && *map == self.out_map {
                    if self.reduction.is_none() {
                        self.inside = true;
                        let inner = View::contiguous(&self.full);
                        let src_expr = self.lower_reduce_src(rop, &src, &inner)?;
                        self.inside = false;
                        self.reduction = Some(Reduction {
                            op: rop,
                            src: src_expr,
                            dtype,
                        });
                    }
                    Expr::new(ExprOp::Acc, dtype)
                } else {
                    self.realized_load(node, map)?
                }
            }
            LazyOp::Contiguous(_) | LazyOp::Assemble(..) => self.realized_load(node, map)?,
        })
    }
}

/// How many ops under `roots` read each unrealized node.
fn count_uses(roots: &[LazyRef]) -> FxHashMap<usize, u32> {
    let mut uses = FxHashMap::with_capacity_and_hasher(16, FxBuildHasher::default());
    let mut stack: Vec<LazyRef> = roots.to_vec();
    let mut seen = FxHashSet::with_capacity_and_hasher(16, FxBuildHasher::default());
    while let Some(n) = stack.pop() {
        if !seen.insert(n.key()) {
            continue;
        }
        n.with_state(|s| {
            if let State::Lazy(op) = s {
                for src in op.sources() {
                    *uses.entry(src.key()).or_insert(0) += 1;
                    stack.push(src);
                }
            }
        });
    }
    uses
}

/// Schedule everything needed to realize `roots`.
pub fn schedule(roots: &[LazyRef]) -> Result<Schedule> {
    let mut s = Scheduler {
        out: Schedule::default(),
        memo: FxHashMap::with_capacity_and_hasher(8, FxBuildHasher::default()),
        uses: count_uses(roots),
    };
    for r in roots {
        s.realize(r)?;
    }
    Ok(s.out)
}

#[cfg(test)]
mod tests;
