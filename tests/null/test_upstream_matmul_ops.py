"""A subset of upstream tinygrad's matmul-family op tests (test/test_ops.py: dot, matmul, gemm, matvec, einsum,
scaled_dot_product_attention), written here from their published behaviour: the same names, shapes, value ranges
(uniform in [-2, 2), numpy seed 0), tolerances (forward atol/rtol as upstream gives them; gradients grad_atol=1e-4,
grad_rtol=1e-3) and errors. Upstream compares forward and backward with torch; here the reference is float64 numpy
(analytic gradients of out.sum(), as upstream's `tinygrad_fxn(*tst).sum().gradient(*tst)`). Every test checks the
backward pass too, except where upstream passes forward_only."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.null.test_grad_matmul_properties import _matmul_refs, _sdpa64


def prepare(shps, vals, low=-2.0, high=2.0):
    if shps is None:
        return [np.asarray(v) for v in vals]
    np.random.seed(0)
    return [np.random.uniform(low=low, high=high, size=s).astype(np.float32) for s in shps]


def helper_test_op(tg, shps, fxn, ref, atol=1e-6, rtol=1e-3, grad_atol=1e-4, grad_rtol=1e-3, forward_only=False,
                   vals=None, low=-2.0, high=2.0):  # fmt: skip
    """`fxn(T, *tensors)` against `ref(*float64 arrays) -> (out, [grads of out.sum()])`."""
    data = prepare(shps, vals, low, high)
    ts = [tg.Tensor(x) for x in data]
    out = fxn(tg, *ts)
    want, want_grads = ref(*[x.astype(np.float64) for x in data])
    got = out.numpy()
    assert got.shape == np.shape(want), f"shape {got.shape} vs {np.shape(want)}"
    np.testing.assert_allclose(got, want, atol=atol, rtol=rtol, err_msg="forward pass")
    if forward_only:
        return
    grads = fxn(tg, *ts).sum().gradient(*ts)
    for i, (g, w) in enumerate(zip(grads, want_grads, strict=True)):
        np.testing.assert_allclose(g.numpy(), w, atol=grad_atol, rtol=grad_rtol, err_msg=f"backward pass tensor {i}")


def mm_ref(a, b):
    out = np.matmul(a, b)
    return out, [g for g, _ in _matmul_refs(a, b, np.ones_like(out))]


def dot(T, x, y):
    return x.dot(y)


def at(T, x, y):
    return x @ y


def test_dot_1d(tg):
    helper_test_op(tg, [(65,), (65,)], dot, mm_ref, atol=1e-4)


def test_matmul_simple(tg):
    helper_test_op(tg, [(4,), (4, 4)], dot, mm_ref, atol=1e-4)


def test_matmul(tg):
    helper_test_op(tg, [(64,), (64, 99)], dot, mm_ref, atol=1e-4)


def test_matmul_batched(tg):
    helper_test_op(tg, [(3,), (1, 3, 3, 5)], dot, mm_ref, atol=1e-4)


def test_matmul_batched_vector(tg):
    helper_test_op(tg, [(4, 3), (1, 3, 3, 5)], dot, mm_ref, atol=1e-4)


def test_small_gemm(tg):
    helper_test_op(tg, [(8, 8), (8, 8)], at, mm_ref, atol=1e-3)


def test_9_gemm(tg):
    helper_test_op(tg, [(9, 9), (9, 9)], at, mm_ref, atol=1e-3)


def test_small_gemm_padded(tg):
    def fxn(T, x, y):
        return x.pad(((0, 7), (0, 7))) @ y.pad(((0, 7), (0, 7)))

    def ref(x, y):
        xp, yp = np.pad(x, ((0, 7), (0, 7))), np.pad(y, ((0, 7), (0, 7)))
        out = xp @ yp
        g = np.ones_like(out)
        return out, [(g @ yp.T)[:9, :9], (xp.T @ g)[:9, :9]]

    helper_test_op(tg, [(9, 9), (9, 9)], fxn, ref, atol=1e-3)


def test_small_gemm_range(tg):
    vals = [np.arange(0, 64, dtype=np.float32).reshape(8, 8), np.arange(64, 128, dtype=np.float32).reshape(8, 8)]
    helper_test_op(tg, None, at, mm_ref, atol=1e-3, vals=vals)


def test_small_gemm_eye(tg):
    helper_test_op(tg, None, at, mm_ref, atol=1e-3, vals=[np.eye(8, dtype=np.float32), np.eye(8, dtype=np.float32)])


def test_gemm(tg):
    helper_test_op(tg, [(64, 64), (64, 64)], dot, mm_ref, atol=1e-3)


def test_big_gemm(tg):
    helper_test_op(tg, [(256, 256), (256, 256)], dot, mm_ref, atol=1e-3)


def test_gemm_fp16(tg, against_tinygrad):
    """Upstream compares with torch's half matmul at atol=rtol=5e-3. Here: harness.agreement's rounding-error bound for
    a half GEMM accumulating in float32 (what tgrad and tinygrad's CPU backend do); tinygrad's default device on this
    machine (PoCL's CL, without cl_khr_fp16) is judged with half's unit roundoff for the accumulation instead."""
    from harness.agreement import compare, matmul_error_bound

    x, y = (v.astype(np.float16) for v in prepare([(64, 64), (64, 64)], None))
    out = tg.Tensor(x).half().matmul(tg.Tensor(y).half()).numpy()
    assert out.dtype == np.float16
    acc = np.float16 if against_tinygrad else np.float32
    bound = matmul_error_bound(x, y, out_dtype=np.float16, acc_dtype=acc)
    agreement = compare(out, x.astype(np.float64) @ y.astype(np.float64), bound)
    assert agreement.ok, agreement.as_dict()


def test_matvec(tg):
    helper_test_op(tg, [(128, 64), (64,)], at, mm_ref, atol=1e-4)


def test_broadcastdot(tg):
    helper_test_op(tg, [(10, 45, 65), (65, 45)], at, mm_ref, atol=1e-4)
    with pytest.raises(RuntimeError, match="at least 1D"):
        tg.Tensor(3.14) @ tg.Tensor.ones(3, 3)


def test_multidot(tg):
    helper_test_op(tg, [(10, 45, 65), (10, 65, 45)], at, mm_ref, atol=1e-4)
    helper_test_op(tg, [(3, 3, 45, 65), (3, 3, 65, 45)], at, mm_ref, atol=1e-4)


def test_linear(tg):
    def ref(x, w, b):
        out = x @ w + b
        g = np.ones_like(out)
        return out, [g @ w.T, x.T @ g, g.sum(0)]

    helper_test_op(tg, [(4, 8), (8, 16), (16,)], lambda T, x, w, b: x.linear(w, b), ref, atol=1e-4)


EINSUM_CASES = [
    ("ij,jk->ik", [(10, 5), (5, 8)]),
    ("ij->ji", [(10, 5)]),
    ("ij->", [(10, 5)]),
    ("i,i->", [(20,), (20,)]),
    ("i,j->ij", [(5,), (7,)]),
    ("ij,j->i", [(10, 5), (5,)]),
    ("ij,ij->ij", [(10, 5), (10, 5)]),
    ("bij,bjk->bik", [(3, 4, 5), (3, 5, 6)]),
    ("ii->", [(5, 5)]),
    ("ii->i", [(5, 5)]),
    ("...ij,...jk->...ik", [(2, 3, 4), (2, 4, 5)]),
    ("ij,jk", [(4, 5), (5, 3)]),
    ("i j , j k -> i k", [(4, 5), (5, 3)]),
    ("abc,cd->abd", [(2, 3, 4), (4, 5)]),
]


def einsum_ref(formula):
    f = formula.replace(" ", "")

    def ref(*xs):
        out = np.einsum(f, *xs)
        if "->" not in f and "..." not in f:
            return out, None
        grads = []
        for i in range(len(xs)):
            # the gradient of sum(einsum): einsum is linear in each operand, so a unit step is the exact derivative
            g = np.zeros_like(xs[i])
            for idx in np.ndindex(xs[i].shape):
                e = [x.copy() for x in xs]
                e[i][idx] += 1.0
                g[idx] = np.einsum(f, *e).sum() - out.sum()
            grads.append(g)
        return out, grads

    return ref


@pytest.mark.parametrize("formula,shapes", EINSUM_CASES, ids=[c[0] for c in EINSUM_CASES])
def test_einsum(tg, formula, shapes):
    ref = einsum_ref(formula)
    forward_only = ref(*[np.zeros(s) for s in shapes])[1] is None
    helper_test_op(tg, shapes, lambda T, *xs: T.Tensor.einsum(formula, *xs), ref, atol=1e-4, forward_only=forward_only)


def test_einsum_list_of_operands(tg):
    a, b = prepare([(3, 4), (4, 2)], None)
    out = tg.Tensor.einsum("ij,jk->ik", [tg.Tensor(a), tg.Tensor(b)]).numpy()
    np.testing.assert_allclose(out, a @ b, atol=1e-5)


def test_einsum_arity_check(tg):
    a = tg.Tensor.ones(2, 3)
    with pytest.raises(ValueError, match="number of operands"):
        tg.Tensor.einsum("ij,jk->ik", a)


def test_einsum_shape_check(tg):
    with pytest.raises((RuntimeError, ValueError)):
        tg.Tensor.einsum("ij,ik->jk", tg.Tensor.ones(2, 3), tg.Tensor.ones(3, 4)).realize()


def sdpa_ref(mask=None, causal=False, gqa=1):
    def ref(q, k, v):
        sq, sk = q.shape[-2], k.shape[-2]
        add = np.zeros((sq, sk)) if mask is None else mask
        if causal:
            add = np.where(np.tril(np.ones((sq, sk))) > 0, 0.0, -np.inf)
        kk, vv = np.repeat(k, gqa, axis=-3), np.repeat(v, gqa, axis=-3)
        s = q @ np.swapaxes(kk, -1, -2) / math.sqrt(q.shape[-1]) + add
        p = np.exp(s - s.max(-1, keepdims=True))
        out = (p / p.sum(-1, keepdims=True)) @ vv
        dq, dk, dv = (g for g, _ in _sdpa64(q, kk, vv, add, np.ones_like(out)))
        if gqa > 1:
            dk, dv = (g.reshape(*k.shape[:-3], k.shape[-3], gqa, *k.shape[-2:]).sum(-3) for g in (dk, dv))
        return out, [dq, dk, dv]

    return ref


def test_scaled_dot_product_attention(tg):
    helper_test_op(tg, [(32, 8, 16, 64), (32, 8, 16, 64), (32, 8, 16, 64)],
                   lambda T, q, k, v: q.scaled_dot_product_attention(k, v), sdpa_ref(), atol=1e-4)  # fmt: skip


def test_scaled_dot_product_attention_mask(tg):
    mask = np.random.default_rng(1).uniform(-2, 2, (16, 16)).astype(np.float32)
    helper_test_op(tg, [(4, 8, 16, 64), (4, 8, 16, 64), (4, 8, 16, 64)],
                   lambda T, q, k, v: q.scaled_dot_product_attention(k, v, attn_mask=T.Tensor(mask)),
                   sdpa_ref(mask=mask.astype(np.float64)), atol=1e-4)  # fmt: skip


def test_scaled_dot_product_attention_mismatch_ls(tg):
    helper_test_op(tg, [(4, 8, 4, 64), (4, 8, 16, 64), (4, 8, 16, 64)],
                   lambda T, q, k, v: q.scaled_dot_product_attention(k, v), sdpa_ref(), atol=1e-4)  # fmt: skip


def test_scaled_dot_product_attention_causal(tg):
    helper_test_op(tg, [(4, 8, 16, 64), (4, 8, 16, 64), (4, 8, 16, 64)],
                   lambda T, q, k, v: q.scaled_dot_product_attention(k, v, is_causal=True), sdpa_ref(causal=True),
                   atol=1e-4)  # fmt: skip
    with pytest.raises(RuntimeError, match="is_causal"):
        q = tg.Tensor.ones(1, 2, 4, 8)
        q.scaled_dot_product_attention(q, q, attn_mask=tg.Tensor.ones(4, 4), is_causal=True)


def test_scaled_dot_product_attention_gqa(tg):
    helper_test_op(tg, [(4, 8, 16, 64), (4, 2, 16, 64), (4, 2, 16, 64)],
                   lambda T, q, k, v: q.scaled_dot_product_attention(k, v, enable_gqa=True), sdpa_ref(gqa=4),
                   atol=1e-4)  # fmt: skip
    with pytest.raises(Exception, match=r"broadcast|multiple"):
        q, kv = tg.Tensor.ones(1, 3, 4, 8), tg.Tensor.ones(1, 2, 4, 8)
        q.scaled_dot_product_attention(kv, kv, enable_gqa=True).realize()
