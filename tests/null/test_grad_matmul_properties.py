"""Property tests of the matmul family's gradients (issue 19 item 4): matmul (2-D, batched with broadcast batch dims,
vectors), linear with relu, einsum and scaled dot-product attention (mask, causal, GQA), each against a float64
reference judged by a rounding-error bound that scales with the reduction lengths and |operands| (the discipline of
test_grad_properties.py: (c*u + gamma_n) * M, M the gradient recomputed with absolute values). Integer-valued inputs
make the matmul, linear and einsum gradients exact (compared with ==)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from tests.null.test_grad_properties import EXAMPLES, check, draw, prop

sizes = st.integers(1, 24)
small = st.integers(1, 6)
kinds = st.sampled_from(["normal", "integers"])
seeds = st.integers(0, 2**32 - 1)


def _sum_to(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum a gradient of the broadcast shape back to an operand's shape."""
    while g.ndim > len(shape):
        g = g.sum(0)
    return g.sum(tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1), keepdims=True)


def _matmul_refs(a, b, G):
    """Gradients of sum((a @ b) * G) (numpy's matmul rules) and their magnitudes."""
    a2, b2 = (a[None, :] if a.ndim == 1 else a), (b[:, None] if b.ndim == 1 else b)
    G2 = G.reshape(np.matmul(a2, b2).shape)
    ga, gb = G2 @ np.swapaxes(b2, -1, -2), np.swapaxes(a2, -1, -2) @ G2
    ma, mb = np.abs(G2) @ np.abs(np.swapaxes(b2, -1, -2)), np.abs(np.swapaxes(a2, -1, -2)) @ np.abs(G2)
    ga, ma = _sum_to(ga, a2.shape).reshape(a.shape), _sum_to(ma, a2.shape).reshape(a.shape)
    gb, mb = _sum_to(gb, b2.shape).reshape(b.shape), _sum_to(mb, b2.shape).reshape(b.shape)
    return [(ga, ma), (gb, mb)]


@prop(EXAMPLES)
@given(
    case=st.sampled_from(["2d", "batched", "broadcast", "vec@mat", "mat@vec", "vec@vec", "transposed"]),
    m=sizes,
    k=sizes,
    n=sizes,
    batch=small,
    kind=kinds,
    seed=seeds,
)
def test_matmul_gradients(tg, case, m, k, n, batch, kind, seed):
    gen = np.random.default_rng(seed)
    a_shape, b_shape = {
        "2d": ((m, k), (k, n)),
        "batched": ((batch, m, k), (batch, k, n)),
        "broadcast": ((batch, 1, m, k), (2, k, n)),
        "vec@mat": ((k,), (k, n)),
        "mat@vec": ((m, k), (k,)),
        "vec@vec": ((k,), (k,)),
        "transposed": ((k, m), (n, k)),
    }[case]
    a, b = draw(gen, a_shape, kind, "any"), draw(gen, b_shape, kind, "any")
    if case == "transposed":  # operands seen through transposed views
        fn, (a_, b_) = (lambda T, x, y: x.T @ y.T), (a.T, b.T)
    else:
        fn, (a_, b_) = (lambda T, x, y: x @ y), (a, b)
    G = draw(gen, np.matmul(a_, b_).shape, kind, "any")
    ts = [tg.Tensor(a), tg.Tensor(b)]
    got = [g.numpy() for g in (fn(tg, *ts) * tg.Tensor(G)).sum().gradient(*ts)]
    refs = _matmul_refs(a_.astype(np.float64), b_.astype(np.float64), G.astype(np.float64))
    if case == "transposed":
        refs = [(g.T, mag.T) for g, mag in refs]
    batch_terms = batch * 2 if case == "broadcast" else 1
    for i, (gv, (want, mag)) in enumerate(zip(got, refs, strict=True)):
        n_red = (n if i == 0 else m) * batch_terms
        check(gv, want, mag, 0, n_red, kind == "integers", f"{case} d(a@b)/d{'ab'[i]}")


@prop(EXAMPLES)
@given(m=sizes, k=sizes, n=sizes, kind=kinds, seed=seeds)
def test_linear_relu_gradients(tg, m, k, n, kind, seed):
    gen = np.random.default_rng(seed)
    x, w, b = (draw(gen, s, kind, "any") for s in ((m, k), (k, n), (n,)))
    G = draw(gen, (m, n), kind, "any")
    ts = [tg.Tensor(v) for v in (x, w, b)]
    got = [g.numpy() for g in (ts[0].linear(ts[1], ts[2]).relu() * tg.Tensor(G)).sum().gradient(*ts)]
    x64, w64, b64, G64 = (v.astype(np.float64) for v in (x, w, b, G))
    pre = x64 @ w64 + b64
    # the relu mask of the float32 forward: skip examples where the pre-activation is within its bound of 0
    pre_bound = (k + 2) * 2.0**-24 * (np.abs(x64) @ np.abs(w64) + np.abs(b64))
    if kind != "integers" and np.any(np.abs(pre) <= pre_bound):
        return
    g = G64 * (pre > 0)
    refs = [
        (g @ w64.T, np.abs(g) @ np.abs(w64.T), n),
        (x64.T @ g, np.abs(x64.T) @ np.abs(g), m),
        (g.sum(0), np.abs(g).sum(0), m),
    ]
    for name, gv, (want, mag, n_red) in zip("xwb", got, refs, strict=True):
        check(gv, want, mag, 0, n_red, kind == "integers", f"d linear_relu/d{name}")


EINSUMS = {
    "ij,jk->ik": ((0, 1), (1, 2)),
    "bij,bjk->bik": ((3, 0, 1), (3, 1, 2)),
    "ij,kj->ik": ((0, 1), (2, 1)),
    "ij,j->i": ((0, 1), (1,)),
    "i,i->": ((0,), (0,)),
    "ij,ij->j": ((0, 1), (0, 1)),
    "bhqd,bhkd->bhqk": ((3, 4, 0, 1), (3, 4, 2, 1)),
}


@prop(EXAMPLES)
@given(formula=st.sampled_from(sorted(EINSUMS)), dims=st.lists(st.integers(1, 7), min_size=5, max_size=5),
       kind=kinds, seed=seeds)  # fmt: skip
def test_einsum_gradients(tg, formula, dims, kind, seed):
    gen = np.random.default_rng(seed)
    sa, sb = (tuple(dims[i] for i in idx) for idx in EINSUMS[formula])
    a, b = draw(gen, sa, kind, "any"), draw(gen, sb, kind, "any")
    G = draw(gen, np.einsum(formula, a, b).shape, kind, "any")
    ts = [tg.Tensor(a), tg.Tensor(b)]
    got = [g.numpy() for g in (tg.Tensor.einsum(formula, *ts) * tg.Tensor(G)).sum().gradient(*ts)]
    lhs, out = formula.split("->")
    la, lb = lhs.split(",")
    a64, b64, G64 = (v.astype(np.float64) for v in (a, b, G))
    for i, (gv, (other, mine, theirs)) in enumerate(zip(got, [(b64, la, lb), (a64, lb, la)], strict=True)):
        want = np.einsum(f"{out},{theirs}->{mine}", G64, other)
        mag = np.einsum(f"{out},{theirs}->{mine}", np.abs(G64), np.abs(other))
        summed = math.prod(
            d for c, d in zip(out + theirs, list(G.shape) + list(other.shape), strict=True) if c not in mine
        )
        check(gv, want, mag, 0, summed, kind == "integers", f"einsum {formula} d/d{'ab'[i]}")


def _sdpa64(q, k, v, mask, G):
    """float64 attention forward and backward (gradients of sum(out * G)), with the backward's magnitudes."""
    d = q.shape[-1]
    s = q @ np.swapaxes(k, -1, -2) / math.sqrt(d) + mask
    p = np.exp(s - s.max(-1, keepdims=True))
    p = p / p.sum(-1, keepdims=True)
    dv, mdv = np.swapaxes(p, -1, -2) @ G, np.swapaxes(p, -1, -2) @ np.abs(G)
    dp, mdp = G @ np.swapaxes(v, -1, -2), np.abs(G) @ np.abs(np.swapaxes(v, -1, -2))
    ds = p * (dp - (dp * p).sum(-1, keepdims=True))
    cond = 1 + np.abs(s - s.max(-1, keepdims=True)) * (1 + np.abs(s))  # exp of rounded scores
    mds = p * (mdp + (mdp * p).sum(-1, keepdims=True)) * np.where(np.isfinite(cond), cond, 0)
    dq, mdq = ds @ k / math.sqrt(d), mds @ np.abs(k) / math.sqrt(d)
    dk, mdk = np.swapaxes(ds, -1, -2) @ q / math.sqrt(d), np.swapaxes(mds, -1, -2) @ np.abs(q) / math.sqrt(d)
    return [(dq, mdq), (dk, mdk), (dv, mdv)]


@prop(EXAMPLES)
@given(b=st.integers(1, 2), h=st.integers(1, 3), sq=small, sk=small, d=st.integers(1, 12),
       variant=st.sampled_from(["plain", "causal", "bool_mask", "float_mask", "gqa"]), seed=seeds)  # fmt: skip
def test_attention_gradients(tg, b, h, sq, sk, d, variant, seed):
    gen = np.random.default_rng(seed)
    group = 2 if variant == "gqa" else 1
    sk = sq if variant == "causal" else sk
    q = draw(gen, (b, h * group, sq, d), "normal", "any")
    k, v = (draw(gen, (b, h, sk, d), "normal", "any") for _ in range(2))
    G = draw(gen, (b, h * group, sq, d), "normal", "any")
    mask64 = np.zeros((sq, sk))
    kwargs = {}
    if variant == "causal":
        kwargs["is_causal"] = True
        mask64 = np.where(np.tril(np.ones((sq, sk))) > 0, 0.0, -np.inf)
    elif variant == "bool_mask":
        keep = gen.random((sq, sk)) < 0.7
        keep[:, 0] = True  # every row attends somewhere
        kwargs["attn_mask"] = tg.Tensor(keep)
        mask64 = np.where(keep, 0.0, -np.inf)
    elif variant == "float_mask":
        fm = draw(gen, (sq, sk), "normal", "any")
        kwargs["attn_mask"] = tg.Tensor(fm)
        mask64 = fm.astype(np.float64)
    elif variant == "gqa":
        kwargs["enable_gqa"] = True
    ts = [tg.Tensor(x) for x in (q, k, v)]
    out = ts[0].scaled_dot_product_attention(ts[1], ts[2], **kwargs)
    got = [g.numpy() for g in (out * tg.Tensor(G)).sum().gradient(*ts)]
    k64, v64 = (np.repeat(x.astype(np.float64), group, axis=1) for x in (k, v))
    refs = _sdpa64(q.astype(np.float64), k64, v64, mask64, G.astype(np.float64))
    if group > 1:  # the repeated heads' gradients sum onto their key/value head
        refs = [refs[0]] + [(g.reshape(b, h, group, sk, d).sum(2), m.reshape(b, h, group, sk, d).sum(2))
                            for g, m in refs[1:]]  # fmt: skip
    n_red = d + sk + sq + 2 * group
    for name, gv, (want, mag) in zip("qkv", got, refs, strict=True):
        check(gv, want, mag, 16, n_red, False, f"sdpa[{variant}] d/d{name}")
