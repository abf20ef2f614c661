//! Reverse-mode autograd on the lazy graph, with tinygrad's semantics: the gradient of a float
//! root with respect to any nodes of its graph, built as more lazy nodes. Backward graphs go
//! through the same scheduler and kernels as forward ones: the gradient of a matmul is a sum of
//! products of strided views (a GEMM on transposed views, never a copy), and elementwise
//! gradient ops fuse into their neighbours as forward ops do.
//!
//! A realized node is a leaf (realizing drops its history, as in tinygrad); so is a constant and
//! a detached view. Comparisons give no gradient, and no gradient flows into an int or bool
//! node. The rules, one per op, are in `rules`.

mod rules;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::fxhash::{FxHashMap, FxHashSet};
use crate::graph::{LazyOp, LazyRef, State};
use crate::shape::Dims;
use crate::tensor;

/// The nodes a node's gradient flows to: its op's sources, for a view the node it was moved
/// from (none for a detached view), nothing for leaves.
fn grad_sources(node: &LazyRef) -> Vec<LazyRef> {
    node.with_state(|s| match s {
        State::Realized(_) | State::Lazy(LazyOp::Const(_)) => vec![],
        State::Lazy(LazyOp::View(_, _, origin)) => origin.iter().map(|o| o.src.clone()).collect(),
        State::Lazy(op) => op.sources(),
    })
}

/// Every node reachable from `root` through `grad_sources`, sources before their users.
fn topological(root: &LazyRef) -> Vec<LazyRef> {
    let mut order = Vec::new();
    let mut seen = FxHashSet::default();
    // (node, whether its sources have been pushed)
    let mut stack = vec![(root.clone(), false)];
    while let Some((node, expanded)) = stack.pop() {
        if expanded {
            order.push(node);
            continue;
        }
        if !seen.insert(node.key()) {
            continue;
        }
        let sources = grad_sources(&node);
        stack.push((node, true));
        for s in sources.into_iter().rev() {
            if !seen.contains(&s.key()) {
                stack.push((s, false));
            }
        }
    }
    order
}

/// Whether gradients can flow into nodes of this dtype.
fn differentiable(d: DType) -> bool {
    d.is_float()
}

/// The gradient of `root` with respect to each of `targets`, given `seed` (the gradient of the
/// root; ones when None, which needs a scalar root). None for a target the root does not
/// depend on through differentiable ops.
pub fn gradient(
    root: &LazyRef,
    seed: Option<&LazyRef>,
    targets: &[LazyRef],
) -> Result<Vec<Option<LazyRef>>> {
    if !differentiable(root.dtype) || targets.iter().any(|t| !differentiable(t.dtype)) {
        let bad = std::iter::once(root)
            .chain(targets)
            .find(|t| !differentiable(t.dtype))
            .map_or("", |t| t.dtype.name());
        return Err(Error::Gradient(format!(
            "only float Tensors have gradient (got a {bad} tensor)"
        )));
    }
    let seed = if let Some(s) = seed {
        if s.shape != root.shape {
            return Err(Error::Gradient(format!(
                "the gradient passed to backward has shape {}, the tensor has shape {}",
                Dims(&s.shape),
                Dims(&root.shape)
            )));
        }
        tensor::cast(s, root.dtype)
    } else {
        if !root.shape.is_empty() {
            return Err(Error::Gradient(format!(
                "backward without a gradient needs a scalar tensor, this one has shape {}",
                Dims(&root.shape)
            )));
        }
        tensor::constant(1.0, root.dtype, vec![])?
    };
    let order = topological(root);
    let wanted: FxHashSet<usize> = targets.iter().map(crate::graph::Lazy::key).collect();
    // nodes whose gradient someone needs: targets, and nodes with a source that is needed
    let mut needed: FxHashSet<usize> = FxHashSet::default();
    for node in &order {
        if wanted.contains(&node.key())
            || grad_sources(node).iter().any(|s| needed.contains(&s.key()))
        {
            needed.insert(node.key());
        }
    }
    let mut grads: FxHashMap<usize, LazyRef> = FxHashMap::default();
    if needed.contains(&root.key()) {
        grads.insert(root.key(), seed);
    }
    for node in order.iter().rev() {
        let Some(g) = grads.get(&node.key()).cloned() else {
            continue;
        };
        let sources = grad_sources(node);
        if !sources.iter().any(|s| needed.contains(&s.key())) {
            continue;
        }
        let local = rules::backward(node, &g)?;
        debug_assert_eq!(local.len(), sources.len());
        for (src, sg) in sources.iter().zip(local) {
            let Some(sg) = sg else { continue };
            if !needed.contains(&src.key()) || !differentiable(src.dtype) {
                continue;
            }
            if sg.shape != src.shape {
                return Err(Error::Internal(format!(
                    "the gradient rule of a {} node gave shape {} for a source of shape {}",
                    node.dtype.name(),
                    Dims(&sg.shape),
                    Dims(&src.shape)
                )));
            }
            let sg = tensor::cast(&sg, src.dtype);
            let total = match grads.remove(&src.key()) {
                Some(prev) => tensor::binary(crate::graph::BinaryOp::Add, &prev, &sg)?,
                None => sg,
            };
            grads.insert(src.key(), total);
        }
    }
    Ok(targets
        .iter()
        .map(|t| grads.get(&t.key()).cloned())
        .collect())
}
