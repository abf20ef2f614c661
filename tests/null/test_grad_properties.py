"""Property tests of gradients (issue 19 item 4): for every differentiable op f, the engine's gradient of
sum(f(x..) * G) (a random cotangent G) against a float64 analytic reference, judged by a rounding-error bound.

The bound follows the forward checks' discipline (harness.agreement, Higham's gamma_n): a gradient element computed
by a chain of c elementwise float32 roundings and reductions of total length n is within (c*u + gamma_n) * M of the
exact value, where M is the same gradient computed with absolute values (|G| |B^T| for a matmul, p(|G| + sum|G|p) for a
softmax, ...) times the condition of the op's own argument rounding (an exp of x inherits |x| * u from rounding x).
So the bound scales with the reduction length and the operands' magnitudes; there is no fixed tolerance. Integer-valued
inputs and cotangents make the linear ops (add, mul, matmul, einsum, sums, movement, pad, cat, max, relu, where)
exact: those compare with ==.

TGRAD_TEST_EXAMPLES sets max_examples (default 10 per property, half that for each op of a per-op property);
`make test-exhaustive` (marker `exhaustive`) runs every op over 300 examples.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.agreement import gamma
from tests.null.conftest import AGAINST_TINYGRAD

U = 2.0**-24  # float32 unit roundoff
TINY = 1e-30
EXAMPLES = int(os.environ.get("TGRAD_TEST_EXAMPLES", "10"))
PER_OP = max(1, EXAMPLES // 2)  # the tests that run each op separately


def prop(n: int):
    return settings(max_examples=n, deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True)


@dataclass(frozen=True)
class Op:
    """One differentiable op: the engine call, its float64 gradients of sum(f * G) with their magnitudes M, the
    roundings c of its gradient rule, and the values it is defined on."""

    fn: Callable  # (T, *tensors) -> tensor
    ref: Callable  # (G, *arrays) -> [(grad, M) per input]
    c: float
    domain: str = "any"  # "any", "positive", "unit" (|x| < 1)
    arity: int = 1
    linear: bool = False  # integer inputs give exact gradients


def sig(x):
    return 1 / (1 + np.exp(-x))


def _tanh_grad(G, x):
    t = np.tanh(x)
    # 1 - t*t from a rounded t: an absolute error of a few u even where the derivative is tiny (|G| in the magnitude)
    return [(G * (1 - t * t), np.abs(G) * (1 - t * t) * (1 + 2 * np.abs(x)) + np.abs(G))]


def _gelu_grad(G, x):
    k = math.sqrt(2 / math.pi)
    u = k * (x + 0.044715 * x**3)
    t = np.tanh(u)
    d = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x**2)
    mag = np.abs(G) * (1 + np.abs(x) + 0.14 * np.abs(x) ** 3) * (1 + 2 * np.abs(u))
    return [(G * d, mag)]


ELEMENTWISE: dict[str, Op] = {
    "neg": Op(lambda T, a: -a, lambda G, a: [(-G, np.abs(G))], 0, linear=True),
    "relu": Op(lambda T, a: a.relu(), lambda G, a: [(G * (a > 0), np.abs(G))], 0, linear=True),
    "square": Op(lambda T, a: a * a, lambda G, a: [(2 * a * G, 2 * np.abs(a * G))], 2, linear=True),
    "exp": Op(lambda T, a: a.exp(), lambda G, a: [(G * np.exp(a), np.abs(G * np.exp(a)) * (1 + 2 * np.abs(a)))], 6),
    "exp2": Op(
        lambda T, a: a.exp2(),
        lambda G, a: [(G * np.exp2(a) * math.log(2), np.abs(G * np.exp2(a)) * (1 + np.abs(a)))],
        5,
    ),
    "log": Op(lambda T, a: a.log(), lambda G, a: [(G / a, np.abs(G / a))], 5, "positive"),
    "log2": Op(lambda T, a: a.log2(), lambda G, a: [(G / (a * math.log(2)), np.abs(G / a))], 4, "positive"),
    "sqrt": Op(lambda T, a: a.sqrt(), lambda G, a: [(G / (2 * np.sqrt(a)), np.abs(G / np.sqrt(a)))], 4, "positive"),
    "rsqrt": Op(lambda T, a: a.rsqrt(), lambda G, a: [(-0.5 * G * a**-1.5, np.abs(G) * a**-1.5)], 8, "positive"),
    "reciprocal": Op(lambda T, a: a.reciprocal(), lambda G, a: [(-G / (a * a), np.abs(G / (a * a)))], 5, "positive"),
    "sin": Op(lambda T, a: a.sin(), lambda G, a: [(G * np.cos(a), np.abs(G) * (np.abs(np.cos(a)) + np.abs(a) + 2))], 4),
    "cos": Op(
        lambda T, a: a.cos(), lambda G, a: [(-G * np.sin(a), np.abs(G) * (np.abs(np.sin(a)) + np.abs(a) + 2))], 6
    ),
    "sigmoid": Op(
        lambda T, a: a.sigmoid(),
        # s * (1 - s) from a rounded s: an absolute error of about u (|G| in the magnitude)
        lambda G, a: [(G * sig(a) * (1 - sig(a)), np.abs(G) * (sig(a) * (1 - sig(a)) * (1 + np.abs(a)) + 1))],
        12,
    ),
    "tanh": Op(lambda T, a: a.tanh(), _tanh_grad, 14),
    "gelu": Op(lambda T, a: a.gelu(), _gelu_grad, 24),
    "silu": Op(
        lambda T, a: a.silu(),
        lambda G, a: [
            (G * (sig(a) + a * sig(a) * (1 - sig(a))), np.abs(G) * (sig(a) + np.abs(a) * sig(a) * (1 + np.abs(a))))
        ],
        14,
    ),
    "abs": Op(lambda T, a: a.abs(), lambda G, a: [(G * np.sign(a), np.abs(G))], 0, linear=True),
}

BINARY: dict[str, Op] = {
    "add": Op(lambda T, a, b: a + b, lambda G, a, b: [(G, np.abs(G)), (G, np.abs(G))], 0, arity=2, linear=True),
    "sub": Op(lambda T, a, b: a - b, lambda G, a, b: [(G, np.abs(G)), (-G, np.abs(G))], 0, arity=2, linear=True),
    "mul": Op(
        lambda T, a, b: a * b,
        lambda G, a, b: [(G * b, np.abs(G * b)), (G * a, np.abs(G * a))],
        1,
        arity=2,
        linear=True,
    ),
    "div": Op(
        lambda T, a, b: a / b,
        lambda G, a, b: [(G / b, np.abs(G / b)), (-G * a / (b * b), np.abs(G * a / (b * b)))],
        5,
        "positive",
        arity=2,
    ),
    "maximum": Op(
        lambda T, a, b: a.maximum(b),
        lambda G, a, b: [
            (G * ((a > b) + 0.5 * (a == b)), np.abs(G)),
            (G * ((b > a) + 0.5 * (a == b)), np.abs(G)),
        ],
        1,
        arity=2,
        linear=True,
    ),
    "pow": Op(
        lambda T, a, b: a**b,
        lambda G, a, b: [
            (G * b * a ** (b - 1), np.abs(G * b * a ** (b - 1)) * (1 + np.abs(b * np.log(a)))),
            (G * a**b * np.log(a), np.abs(G * a**b) * (np.abs(np.log(a)) + 1) * (1 + np.abs(b * np.log(a)))),
        ],
        10,
        "positive",
        arity=2,
    ),
    "where": Op(
        lambda T, a, b: (a > b).where(a, b),
        lambda G, a, b: [(G * (a > b), np.abs(G)), (G * (a <= b), np.abs(G))],
        0,
        arity=2,
        linear=True,
    ),
}


def draw(gen: np.random.Generator, shape, kind: str, domain: str) -> np.ndarray:
    if kind == "integers":
        x = gen.integers(1, 5, shape) if domain == "positive" else gen.integers(-4, 5, shape)
    elif domain == "positive":
        x = np.exp(gen.uniform(-2, 2, shape))
    else:
        x = gen.standard_normal(shape) * (3.0 if kind == "wide" else 1.0)
    return np.asarray(x, dtype=np.float32)


def check(got: np.ndarray, want: np.ndarray, mag: np.ndarray, c: float, n: int, exact: bool, what: str) -> None:
    got = np.asarray(got, dtype=np.float64)
    assert got.shape == want.shape, f"{what}: gradient shape {got.shape}, expected {want.shape}"
    if exact:
        np.testing.assert_array_equal(got, want, err_msg=f"{what}: integer inputs give an exact gradient")
        return
    bound = (c * U + gamma(max(n, 1), U)) * mag + TINY
    err = np.abs(got - want)
    worst = int(np.argmax(err / bound))
    assert np.all(err <= bound), (
        f"{what}: |error| {err.flat[worst]:.3e} > bound {bound.flat[worst]:.3e} at {worst} "
        f"(got {got.flat[worst]!r}, want {want.flat[worst]!r}, worst ratio {float((err / bound).max()):.2f})"
    )


def grads(tg, fn, arrays, G):
    ts = [tg.Tensor(a) for a in arrays]
    return [g.numpy() for g in (fn(tg, *ts) * tg.Tensor(G)).sum().gradient(*ts)]


# 0-d tensors too, except against tinygrad: it makes a 0-d numpy array a constant, and equal constants are one UOp
# there, so a gradient with respect to one of them collects the others' too
shapes = st.lists(st.integers(1, 9), min_size=int(AGAINST_TINYGRAD), max_size=3).map(tuple)
kinds = st.sampled_from(["normal", "wide", "integers"])
seeds = st.integers(0, 2**32 - 1)


def _elementwise(tg, name, shape, kind, seed, table):
    op = table[name]
    gen = np.random.default_rng(seed)
    if kind == "integers" and not op.linear and name not in ("div", "pow", "log", "log2", "sqrt", "reciprocal"):
        kind = "normal"
    arrays = [draw(gen, shape, kind, op.domain) for _ in range(op.arity)]
    if name == "pow":
        arrays[1] = (gen.uniform(-2, 2, shape)).astype(np.float32)
    G = draw(gen, shape, "integers" if kind == "integers" else "normal", "any")
    exact = kind == "integers" and op.linear
    ref = op.ref(*[a.astype(np.float64) for a in [G, *arrays]])
    for i, (got, (want, mag)) in enumerate(zip(grads(tg, op.fn, arrays, G), ref, strict=True)):
        check(got, np.broadcast_to(want, shape), np.broadcast_to(mag, shape), op.c, 1, exact, f"d{name}/dx{i}")


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
@prop(PER_OP)
@given(shape=shapes, kind=kinds, seed=seeds)
def test_elementwise_gradients(tg, name, shape, kind, seed):
    _elementwise(tg, name, shape, kind, seed, ELEMENTWISE)


@pytest.mark.parametrize("name", sorted(BINARY))
@prop(PER_OP)
@given(shape=shapes, kind=kinds, seed=seeds)
def test_binary_gradients(tg, name, shape, kind, seed):
    _elementwise(tg, name, shape, kind, seed, BINARY)


@pytest.mark.exhaustive
@prop(300)
@given(name=st.sampled_from(sorted(ELEMENTWISE) + sorted(BINARY)), shape=shapes, kind=kinds, seed=seeds)
def test_elementwise_gradients_exhaustive(tg, name, shape, kind, seed):
    _elementwise(tg, name, shape, kind, seed, {**ELEMENTWISE, **BINARY})


# ---------------------------------------------------------------- reductions along one axis


def _softmax64(x, axis):
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def _reduction_ref(name, G, x, axis):
    """(gradient, magnitude, roundings c, reduction length n) of sum(f(x, axis) * G), G keeps the reduced dim."""
    n = x.shape[axis]
    cond = 1 + np.abs(x - x.max(axis, keepdims=True))  # exp of a rounded difference inherits its size
    if name == "sum":
        return np.broadcast_to(G, x.shape), np.broadcast_to(np.abs(G), x.shape), 0, 1
    if name == "mean":
        return np.broadcast_to(G / n, x.shape), np.broadcast_to(np.abs(G) / n, x.shape), 2, 1
    if name == "max":
        hit = x == x.max(axis, keepdims=True)
        share = hit / hit.sum(axis, keepdims=True)
        return share * G, share * np.abs(G), 2, 1
    if name == "var":
        # the mean's rounding error is bounded by gamma_n * mean(|x|), not by |mean| (which may cancel)
        mu, mu_abs = x.mean(axis, keepdims=True), np.abs(x).mean(axis, keepdims=True)
        return 2 * (x - mu) / (n - 1) * G, 2 * (np.abs(x) + mu_abs) / (n - 1) * np.abs(G), 6, n
    p = _softmax64(x, axis)
    if name == "softmax":
        want = p * (G - (G * p).sum(axis, keepdims=True))
        return want, p * (np.abs(G) + (np.abs(G) * p).sum(axis, keepdims=True)) * cond, 14, n
    if name == "log_softmax":
        want = G - p * G.sum(axis, keepdims=True)
        return want, (np.abs(G) + p * np.abs(G).sum(axis, keepdims=True)) * cond, 12, n
    assert name == "logsumexp"
    return p * G, p * np.abs(G) * cond, 10, n


REDUCTIONS = ["sum", "mean", "max", "var", "softmax", "log_softmax", "logsumexp"]


def _reduction(tg, name, shape, axis, kind, seed):
    gen = np.random.default_rng(seed)
    axis = axis % len(shape)
    if name == "var" and shape[axis] < 2:
        shape = (*shape[:axis], 2, *shape[axis + 1 :])
    x = draw(gen, shape, kind, "any")
    kept = tuple(1 if d == axis else s for d, s in enumerate(shape))
    G = draw(gen, kept, "integers" if kind == "integers" else "normal", "any")
    calls = {
        "sum": lambda T, a: a.sum(axis, keepdim=True),
        "mean": lambda T, a: a.mean(axis, keepdim=True),
        "max": lambda T, a: a.max(axis, keepdim=True),
        "var": lambda T, a: a.var(axis, keepdim=True),
        "softmax": lambda T, a: a.softmax(axis),
        "log_softmax": lambda T, a: a.log_softmax(axis),
        "logsumexp": lambda T, a: a.logsumexp(axis, keepdim=True),
    }
    Gf = np.broadcast_to(G, shape) if name in ("softmax", "log_softmax") else G
    (got,) = grads(tg, calls[name], [x], np.array(Gf))
    want, mag, c, n = _reduction_ref(name, Gf.astype(np.float64), x.astype(np.float64), axis)
    exact = kind == "integers" and name == "sum"
    check(got, want, mag, c, n, exact, f"d{name}(axis={axis})/dx")


nonempty_shapes = st.lists(st.integers(1, 9), min_size=1, max_size=3).map(tuple)


@pytest.mark.parametrize("name", REDUCTIONS)
@prop(PER_OP)
@given(shape=nonempty_shapes, axis=st.integers(-3, 2), kind=kinds, seed=seeds)
def test_reduction_gradients(tg, name, shape, axis, kind, seed):
    _reduction(tg, name, shape, axis, kind, seed)


# ---------------------------------------------------------------- movement ops: gradients are exact


def _movement_cases(gen, x):
    """(name, engine call, numpy forward) of movement ops on x (2-D)."""
    r, c = x.shape
    lo, hi = sorted(int(v) for v in gen.integers(0, r + 1, 2))
    step = int(gen.integers(1, 4))
    pads = ((int(gen.integers(0, 3)), int(gen.integers(-1, 3))), (int(gen.integers(-1, 2)), int(gen.integers(0, 2))))

    def np_pad(a):
        (t, b), (left, right) = ((max(0, -lo), max(0, -hi)) for lo, hi in pads)
        a = a[t : a.shape[0] - b, left : a.shape[1] - right]
        return np.pad(a, tuple((max(0, lo), max(0, hi)) for lo, hi in pads))

    return [
        ("reshape", lambda T, a: a.reshape(c, r), lambda a: a.reshape(c, r)),
        ("permute", lambda T, a: a.permute(1, 0), lambda a: a.T),
        ("flip", lambda T, a: a.flip(0, 1), lambda a: a[::-1, ::-1]),
        ("slice", lambda T, a: a[lo:hi, ::-step], lambda a: a[lo:hi, ::-step]),
        ("index", lambda T, a: a[r - 1, ::step], lambda a: a[r - 1, ::step]),
        ("expand", lambda T, a: a[0:1].expand(3, c), lambda a: np.broadcast_to(a[0:1], (3, c))),
        ("pad", lambda T, a: a.pad(pads), np_pad),
        ("cat", lambda T, a: a.cat(a * 2, dim=1), lambda a: np.concatenate([a, a * 2], axis=1)),
        ("stack", lambda T, a: a.stack(a, dim=0), lambda a: np.stack([a, a])),
        ("repeat", lambda T, a: a.repeat(2, 1), lambda a: np.tile(a, (2, 1))),
    ]


@prop(EXAMPLES)
@given(r=st.integers(1, 7), c=st.integers(1, 7), which=st.integers(0, 9), seed=seeds)
def test_movement_gradients_are_exact(tg, r, c, which, seed):
    """Integer data and cotangent: the gradient of sum(view(x) * G) is G scattered back (summed where reused), which
    the numpy forward's vector-Jacobian product (by linearity: the gradient of each element) gives exactly."""
    gen = np.random.default_rng(seed)
    x = draw(gen, (r, c), "integers", "any")
    name, call, forward = _movement_cases(gen, x)[which]
    out_shape = forward(x).shape
    G = draw(gen, out_shape, "integers", "any")
    (got,) = grads(tg, call, [x], G)
    # the exact gradient: d/dx_i sum(forward(x) * G), forward being linear in x
    want = np.zeros(x.size)
    for i in range(x.size):
        e = np.zeros(x.size)
        e[i] = 1.0
        want[i] = (forward(e.reshape(x.shape)) * G).sum()
    check(got, want.reshape(x.shape), np.abs(want.reshape(x.shape)), 0, 1, True, f"d{name}/dx")
