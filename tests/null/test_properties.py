"""Property tests: the engine's matmul against a float64 numpy oracle, judged by harness.agreement's error bound.

Hypothesis draws shapes (1, primes, sizes that are no multiple of any tile: 1..70, 127, 129, 257), operand layouts
(transposed, permuted, expanded/broadcast, batch broadcasting, 1-D), dtypes (float32, float16) and value families
(normal, integers, zeros, huge and tiny magnitudes, mixed row scales, injected Inf/NaN, overflow). Values come from a
seeded numpy generator so large operands stay cheap to draw and every failure is reproducible from the printed
example. The bound scales with the reduction length K and |A||B| (see `check_matmul` in conftest.py); there is no
fixed tolerance.

Each distinct shape compiles a kernel, so examples are few: TGRAD_TEST_EXAMPLES sets max_examples per property
(default 20; use ~4 when validating against tinygrad, whose compiles are slower).
"""

from __future__ import annotations

import os

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("TGRAD_TEST_EXAMPLES", "20"))
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)

AWKWARD = [1, 2, 3, 5, 7, 13, 17, 31, 61, 127, 129, 257]
sizes = st.one_of(st.sampled_from(AWKWARD), st.integers(1, 70))
small_sizes = st.one_of(st.sampled_from([1, 2, 3, 5, 7, 13, 17]), st.integers(1, 40))
batch_dims = st.integers(1, 3)
dtypes = st.sampled_from(["float32", "float16"])
seeds = st.integers(0, 2**32 - 1)
KINDS = ["normal", "integers", "zeros", "sparse", "huge", "tiny", "mixed_scale", "special"]
kinds = st.sampled_from(KINDS)

# tiny: products underflow into float32's subnormals; the float16 values are themselves near its subnormals
TINY = {"float32": 1e-20, "float16": 2e-4}
# mixed row scales span 10^-E..10^E: large, but with |A||B|*K far below the dtype's overflow
MIXED_EXPONENT = {"float32": 12, "float16": 1}


def values(gen: np.random.Generator, shape, kind: str, dtype: str, k: int) -> np.ndarray:
    """An operand of `shape` in `dtype`, from value family `kind`, for a reduction of length `k`.

    Every family except "special" keeps K*max|a|*max|b| below half the dtype's largest finite value, so the exact
    result never sits at the overflow threshold where rounding direction would decide between a number and Inf.
    """
    if kind == "normal":
        x = gen.standard_normal(shape)
    elif kind == "integers":
        x = gen.integers(-4, 5, shape).astype(np.float64)
    elif kind == "zeros":
        x = np.zeros(shape)
    elif kind == "sparse":
        x = gen.standard_normal(shape) * (gen.random(shape) < 0.2)
    elif kind == "huge":
        limit = np.sqrt(0.5 * float(np.finfo(dtype).max) / max(k, 1))
        x = gen.uniform(-limit, limit, shape)
    elif kind == "tiny":
        x = gen.uniform(-1.0, 1.0, shape) * TINY[dtype]
    elif kind == "mixed_scale":
        e = MIXED_EXPONENT[dtype]
        rows = 10.0 ** gen.uniform(-e, e, (*shape[:-1], 1) if shape else ())
        x = gen.standard_normal(shape) * rows
    elif kind == "special":
        x = gen.standard_normal(shape)
        flat = x.reshape(-1)
        count = min(flat.size, int(gen.integers(1, 4)))
        picks = gen.choice(flat.size, size=count, replace=False) if flat.size else []
        flat[picks] = gen.choice([np.inf, -np.inf, np.nan], size=len(picks))
    else:
        raise AssertionError(kind)
    return np.asarray(x).astype(dtype)


# ---------------------------------------------------------------- 2-D layouts


def make_operand(tg, gen, rows: int, cols: int, layout: str, kind: str, dtype: str, k: int):
    """A (rows, cols) operand built with `layout` in the engine, and the same logical array in numpy."""
    if layout == "contiguous":
        base = values(gen, (rows, cols), kind, dtype, k)
        return tg.Tensor(base), base
    if layout == "transposed":
        base = values(gen, (cols, rows), kind, dtype, k)
        return tg.Tensor(base).T, base.T
    if layout == "expanded_rows":  # one row broadcast down: stride 0 along rows
        base = values(gen, (1, cols), kind, dtype, k)
        return tg.Tensor(base).expand(rows, cols), np.broadcast_to(base, (rows, cols))
    if layout == "expanded_cols":  # one column broadcast across: stride 0 along cols
        base = values(gen, (rows, 1), kind, dtype, k)
        return tg.Tensor(base).expand(rows, cols), np.broadcast_to(base, (rows, cols))
    if layout == "reshaped_view":  # a permuted 3-D array, flattened back to 2-D (the engine may copy)
        base = values(gen, (cols, rows, 1), kind, dtype, k)
        return tg.Tensor(base).permute(1, 0, 2).reshape(rows, cols), base.transpose(1, 0, 2).reshape(rows, cols)
    raise AssertionError(layout)


layouts = st.sampled_from(["contiguous", "transposed", "expanded_rows", "expanded_cols", "reshaped_view"])


@PROPERTY
@given(m=sizes, k=sizes, n=sizes, a_layout=layouts, b_layout=layouts, dtype=dtypes, kind=kinds, seed=seeds)
def test_matmul_2d_layouts(tg, check_matmul, m, k, n, a_layout, b_layout, dtype, kind, seed):
    # An operand broadcast along K lets tinygrad factor it out of the sum (sum(a) * b), which is exact for finite
    # values but not IEEE for Inf/NaN (Inf - Inf never happens). That case is pinned down for tgrad in
    # test_errors.py::test_nan_propagates_with_operand_broadcast_along_k.
    assume(kind != "special" or (a_layout != "expanded_cols" and b_layout != "expanded_rows"))
    gen = np.random.default_rng(seed)
    ta, a = make_operand(tg, gen, m, k, a_layout, kind, dtype, k)
    tb, b = make_operand(tg, gen, k, n, b_layout, kind, dtype, k)
    out = (ta @ tb).numpy()
    check_matmul(out, a, b)


# ---------------------------------------------------------------- tall, narrow outputs

# Outputs at most two register tiles wide read A's rows in place at any M (the CPU heuristic's narrow-N rule):
# many row blocks, both threads, K up to the in-place limit, and row strides that are no multiple of a line.


@PROPERTY
@given(
    m=st.one_of(st.sampled_from([300, 1000, 2053]), st.integers(150, 2500)),
    k=st.one_of(st.sampled_from([1, 63, 256, 257, 512]), st.integers(1, 512)),
    n=st.one_of(st.sampled_from([1, 16, 31, 32, 33, 64]), st.integers(1, 64)),
    a_layout=st.sampled_from(["contiguous", "transposed"]),
    b_layout=st.sampled_from(["contiguous", "transposed"]),
    dtype=dtypes,
    kind=st.sampled_from(["normal", "integers", "mixed_scale"]),
    seed=seeds,
)
def test_matmul_tall_narrow(tg, check_matmul, m, k, n, a_layout, b_layout, dtype, kind, seed):
    gen = np.random.default_rng(seed)
    ta, a = make_operand(tg, gen, m, k, a_layout, kind, dtype, k)
    tb, b = make_operand(tg, gen, k, n, b_layout, kind, dtype, k)
    check_matmul((ta @ tb).numpy(), a, b)


# ---------------------------------------------------------------- batched, broadcast and permuted


@st.composite
def batch_shapes(draw):
    """Two batch shapes that broadcast together: each drops leading dims and/or has some dims set to 1."""
    full = draw(st.lists(batch_dims, min_size=1, max_size=3))
    shapes = []
    for _ in range(2):
        drop = draw(st.integers(0, len(full)))
        shape = [1 if draw(st.booleans()) else d for d in full[drop:]]
        shapes.append(tuple(shape))
    return shapes[0], shapes[1]


@PROPERTY
@given(
    batches=batch_shapes(),
    m=small_sizes,
    k=sizes,
    n=small_sizes,
    permute_a=st.booleans(),
    transpose_b=st.booleans(),
    dtype=dtypes,
    kind=kinds,
    seed=seeds,
)
def test_matmul_batched_broadcast(tg, check_matmul, batches, m, k, n, permute_a, transpose_b, dtype, kind, seed):
    gen = np.random.default_rng(seed)
    a_batch, b_batch = batches
    if permute_a:  # stored (M, *batch, K), viewed as (*batch, M, K)
        base = values(gen, (m, *a_batch, k), kind, dtype, k)
        order = (*range(1, len(a_batch) + 1), 0, len(a_batch) + 1)
        ta, a = tg.Tensor(base).permute(*order), base.transpose(order)
    else:
        a = values(gen, (*a_batch, m, k), kind, dtype, k)
        ta = tg.Tensor(a)
    if transpose_b:  # stored (*batch, N, K), viewed as (*batch, K, N)
        base = values(gen, (*b_batch, n, k), kind, dtype, k)
        tb, b = tg.Tensor(base).transpose(-1, -2), base.swapaxes(-1, -2)
    else:
        b = values(gen, (*b_batch, k, n), kind, dtype, k)
        tb = tg.Tensor(b)
    out = ta @ tb
    assert out.shape == (*np.broadcast_shapes(a_batch, b_batch), m, n)
    check_matmul(out.numpy(), a, b)


@PROPERTY
@given(
    case=st.sampled_from(["vec@mat", "mat@vec", "vec@vec", "vec@batch", "batch@vec"]),
    m=small_sizes,
    k=sizes,
    n=small_sizes,
    batch=batch_dims,
    dtype=dtypes,
    kind=kinds,
    seed=seeds,
)
def test_matmul_vectors(tg, check_matmul, case, m, k, n, batch, dtype, kind, seed):
    gen = np.random.default_rng(seed)
    a_shape, b_shape = {
        "vec@mat": ((k,), (k, n)),
        "mat@vec": ((m, k), (k,)),
        "vec@vec": ((k,), (k,)),
        "vec@batch": ((k,), (batch, k, n)),
        "batch@vec": ((batch, m, k), (k,)),
    }[case]
    a = values(gen, a_shape, kind, dtype, k)
    b = values(gen, b_shape, kind, dtype, k)
    out = tg.Tensor(a) @ tg.Tensor(b)
    assert out.shape == np.matmul(np.zeros(a_shape), np.zeros(b_shape)).shape
    check_matmul(out.numpy(), a, b)


# ---------------------------------------------------------------- the fused linear layer


@PROPERTY
@given(
    m=small_sizes,
    k=sizes,
    n=sizes,
    dtype=dtypes,
    kind=st.sampled_from([k for k in KINDS if k != "special"]),  # relu(NaN) is 0 in tinygrad, NaN in the oracle
    transpose_w=st.booleans(),
    seed=seeds,
)
def test_linear_relu(tg, check_matmul, m, k, n, dtype, kind, transpose_w, seed):
    gen = np.random.default_rng(seed)
    x = values(gen, (m, k), kind, dtype, k)
    if transpose_w:
        w_base = values(gen, (n, k), kind, dtype, k)
        tw, w = tg.Tensor(w_base).T, w_base.T
    else:
        w = values(gen, (k, n), kind, dtype, k)
        tw = tg.Tensor(w)
    b = values(gen, (n,), "normal" if kind in ("huge", "tiny", "zeros") else kind, dtype, 1)
    out = (tg.Tensor(x) @ tw + tg.Tensor(b)).relu()
    check_matmul(out.numpy(), x, w, bias=b, relu=True)


# ---------------------------------------------------------------- overflow


@PROPERTY
@given(m=small_sizes, k=sizes, n=small_sizes, dtype=dtypes, negate=st.booleans(), seed=seeds)
def test_overflow_gives_inf_of_the_right_sign(tg, check_matmul, m, k, n, dtype, negate, seed):
    """All products share one sign and the exact sum is far past the largest finite value: the result is +-Inf."""
    gen = np.random.default_rng(seed)
    # float32: each product alone overflows; float16: products are exact in the float32 accumulator, the sum
    # (>= 65536) rounds to Inf when stored as half
    low = {"float32": 2e19, "float16": 256.0}[dtype]
    a = gen.uniform(low, 2 * low, (m, k)).astype(dtype)
    b = gen.uniform(low, 2 * low, (k, n)).astype(dtype)
    if negate:
        a = -a
    out = (tg.Tensor(a) @ tg.Tensor(b)).numpy()
    np.testing.assert_array_equal(out, np.full((m, n), -np.inf if negate else np.inf, dtype=dtype))
    check_matmul(out, a, b)
