"""Bad input and edge cases (issue 3): clear Python exceptions, correct empty results, IEEE NaN/Inf propagation.

Where tinygrad 0.14.0 raises, tgrad raises too. tinygrad's exception types vary (RuntimeError, ValueError,
IndexError, AssertionError, KeyError, AttributeError), so the engine-neutral checks accept any Exception; against
tgrad they also require a ValueError/RuntimeError (or TypeError for wrong types) whose message names the shapes or
dtype. Crash-prone cases (no C compiler, huge allocations) run in a subprocess so a segfault fails the test instead
of killing the run.
"""

from __future__ import annotations

import numpy as np
import pytest

TGRAD_ERRORS = (ValueError, RuntimeError, TypeError)


def check_error(excinfo: pytest.ExceptionInfo, against_tinygrad: bool, *fragments: str) -> None:
    """Against tgrad: the exception is a ValueError/RuntimeError/TypeError naming every fragment."""
    if against_tinygrad:
        return
    assert isinstance(excinfo.value, TGRAD_ERRORS), f"tgrad raised {excinfo.type.__name__}: {excinfo.value}"
    message = str(excinfo.value)
    for fragment in fragments:
        assert fragment in message, f"message {message!r} does not name {fragment!r}"


# ---------------------------------------------------------------- matmul shapes


@pytest.mark.parametrize(
    ("a_shape", "b_shape"),
    [
        ((2, 3), (4, 5)),
        ((3,), (4,)),
        ((3,), (4, 5)),
        ((2, 3), (4,)),
        ((2, 3), (2, 3)),
        ((2, 3, 4), (2, 5, 6)),
    ],
)
def test_matmul_inner_dim_mismatch_names_shapes(tg, against_tinygrad, a_shape, b_shape):
    a, b = tg.Tensor.ones(*a_shape), tg.Tensor.ones(*b_shape)
    for op in (lambda: a @ b, lambda: a.matmul(b), lambda: a.dot(b)):
        with pytest.raises(Exception) as excinfo:  # type checked for tgrad in check_error
            op().realize()
        # both engines name the operand shapes (tinygrad: "cannot dot (2, 3) and (4, 5)")
        message = str(excinfo.value)
        assert str(a_shape) in message and str(b_shape) in message, message
        check_error(excinfo, against_tinygrad)


def test_matmul_batch_dims_that_do_not_broadcast(tg, against_tinygrad):
    a, b = tg.Tensor.ones(2, 3, 4), tg.Tensor.ones(5, 4, 2)
    with pytest.raises(Exception) as excinfo:  # tinygrad raises IndexError
        (a @ b).realize()
    # tinygrad's message names the broadcast-expanded shapes; tgrad's names the operands
    check_error(excinfo, against_tinygrad, "(2, 3, 4)", "(5, 4, 2)")


def test_matmul_of_scalars_raises(tg, against_tinygrad):
    with pytest.raises(Exception) as excinfo:
        (tg.Tensor(1.0) @ tg.Tensor(2.0)).realize()
    check_error(excinfo, against_tinygrad)


def test_elementwise_shapes_that_do_not_broadcast(tg, against_tinygrad):
    with pytest.raises(Exception) as excinfo:  # tinygrad raises IndexError
        (tg.Tensor.ones(2, 3) + tg.Tensor.ones(4, 3)).realize()
    message = str(excinfo.value)
    assert "(2, 3)" in message and "(4, 3)" in message, message
    check_error(excinfo, against_tinygrad)


# ---------------------------------------------------------------- dtypes


def test_complex_numpy_input_is_rejected(tg, against_tinygrad):
    with pytest.raises(Exception) as excinfo:  # tinygrad raises KeyError('complex128')
        tg.Tensor(np.array([1 + 2j, 3 - 1j])).realize()
    assert "complex128" in str(excinfo.value)
    check_error(excinfo, against_tinygrad, "complex128")


def test_string_input_is_rejected(tg, against_tinygrad):
    with pytest.raises(Exception) as excinfo:
        tg.Tensor(["a", "b"]).realize()
    check_error(excinfo, against_tinygrad)


def test_unknown_dtype_attribute(tg):
    with pytest.raises(AttributeError, match="bogus"):
        _ = tg.dtypes.bogus


@pytest.mark.tgrad_only(
    reason="tinygrad supports these dtypes; tgrad supports float16, float32, float64 and int32 only"
)
@pytest.mark.parametrize("name", ["uint8", "int64"])
def test_dtype_outside_subset_is_rejected_by_name(tg, name):
    with pytest.raises(TGRAD_ERRORS) as excinfo:
        tg.Tensor([1.0, 2.0], dtype=getattr(tg.dtypes, name, name)).realize()
    message = str(excinfo.value)
    assert name in message, message
    assert "float32" in message, f"the message should list the supported dtypes: {message!r}"


# ---------------------------------------------------------------- dims


@pytest.mark.parametrize(
    ("make", "shown"),
    [
        (lambda T: T.zeros(2, -3), "-3"),
        (lambda T: T.ones(2, -3), "-3"),
        (lambda T: T.empty(-2), "-2"),
        (lambda T: T.rand(-1), "-1"),
        (lambda T: T.randn(2, -3), "-3"),
        (lambda T: T.eye(-2), "-2"),
        (lambda T: T.ones(2, 3).reshape(-2, -3), "-2"),
        (lambda T: T.ones(2, 3).reshape(-1, -1), "-1"),
    ],
    ids=["zeros", "ones", "empty", "rand", "randn", "eye", "reshape", "reshape-two-minus-one"],
)
def test_negative_dims_raise(tg, against_tinygrad, make, shown):
    with pytest.raises(Exception) as excinfo:  # tinygrad: ValueError or RuntimeError
        make(tg.Tensor).realize()
    check_error(excinfo, against_tinygrad, shown)


@pytest.mark.tgrad_only(reason="tinygrad 0.14.0 accepts Tensor.ones(-1) and Tensor.zeros(-1), giving shape (1,)")
@pytest.mark.parametrize("factory", ["ones", "zeros"])
def test_single_negative_dim_raises(tg, factory):
    with pytest.raises(TGRAD_ERRORS) as excinfo:
        getattr(tg.Tensor, factory)(-1).realize()
    assert "-1" in str(excinfo.value)


@pytest.mark.parametrize(
    "make",
    [
        lambda T: T.zeros(2.5),
        lambda T: T.ones(2, 3.0),
        lambda T: T.ones(2, "3"),
        lambda T: T.ones(2, 3).reshape(2.0, 3),
    ],
    ids=["zeros-float", "ones-float", "ones-str", "reshape-float"],
)
def test_non_integer_dims_raise(tg, against_tinygrad, make):
    with pytest.raises(Exception) as excinfo:  # tinygrad raises RuntimeError
        make(tg.Tensor).realize()
    check_error(excinfo, against_tinygrad)


@pytest.mark.parametrize(
    "make",
    [
        lambda t: t.reshape(4, 2),
        lambda t: t.expand(4, 3),
        lambda t: t.permute(0, 0),
        lambda t: t.permute(0, 2),
        lambda t: t.sum(axis=2),
    ],
    ids=["reshape-size", "expand-non-1", "permute-repeat", "permute-out-of-range", "sum-axis-out-of-range"],
)
def test_invalid_movement_raises(tg, against_tinygrad, make):
    with pytest.raises(Exception) as excinfo:  # tinygrad: ValueError, RuntimeError or IndexError
        make(tg.Tensor.ones(2, 3)).realize()
    check_error(excinfo, against_tinygrad)


def test_reshape_size_mismatch_names_shapes(tg, against_tinygrad):
    with pytest.raises(Exception) as excinfo:
        tg.Tensor.ones(2, 3).reshape(4, 2)
    message = str(excinfo.value)
    assert "(2, 3)" in message and "(4, 2)" in message, message
    check_error(excinfo, against_tinygrad)


# ---------------------------------------------------------------- zero-size dims


def test_zero_size_constructors(tg):
    assert tg.Tensor.zeros(0, 3).shape == (0, 3)
    assert tg.Tensor.zeros(0, 3).tolist() == []
    assert tg.Tensor.ones(3, 0).tolist() == [[], [], []]
    assert tg.Tensor.arange(0).shape == (0,)
    assert tg.Tensor.eye(0).numpy().shape == (0, 0)
    assert tg.Tensor(np.zeros((2, 0), dtype=np.float32)).numpy().shape == (2, 0)
    assert tg.Tensor.ones(0, 3).reshape(-1).shape == (0,)


@pytest.mark.parametrize("dtype_name", ["float32", "float16"])
@pytest.mark.parametrize(
    ("a_shape", "b_shape"),
    [
        ((2, 0), (0, 3)),  # empty reduction: zeros
        ((0, 5), (5, 3)),
        ((4, 5), (5, 0)),
        ((0, 2, 3), (3, 4)),  # empty batch
        ((2, 3, 0), (2, 0, 4)),  # batched empty reduction
        ((0,), (0,)),  # 0-d result of an empty dot
    ],
)
def test_zero_size_matmul(tg, dtype_of, dtype_name, a_shape, b_shape):
    a = tg.Tensor.ones(*a_shape, dtype=dtype_of(dtype_name))
    b = tg.Tensor.ones(*b_shape, dtype=dtype_of(dtype_name))
    out = (a @ b).numpy()
    want = np.ones(a_shape, dtype=dtype_name) @ np.ones(b_shape, dtype=dtype_name)
    assert out.shape == want.shape
    assert out.dtype == np.dtype(dtype_name)
    np.testing.assert_array_equal(out, want)


def test_zero_size_sum_and_linear(tg):
    assert tg.Tensor.ones(0).sum().item() == 0.0
    assert tg.Tensor.ones(0, 3).sum(axis=0).tolist() == [0.0, 0.0, 0.0]
    assert tg.Tensor.ones(3, 0).sum(axis=1, keepdim=True).tolist() == [[0.0], [0.0], [0.0]]
    bias = np.array([-1.0, 2.0, 0.5], dtype=np.float32)
    out = (tg.Tensor.ones(4, 0) @ tg.Tensor.ones(0, 3) + tg.Tensor(bias)).relu()
    np.testing.assert_array_equal(out.numpy(), np.broadcast_to(np.maximum(bias, 0), (4, 3)))


# ---------------------------------------------------------------- NaN / Inf


@pytest.mark.parametrize("dtype_name", ["float32", "float16"])
def test_nan_inf_propagate_through_matmul(tg, check_matmul, dtype_name):
    inf, nan = np.inf, np.nan
    a = np.array(
        [
            [inf, 1.0, 2.0],  # inf * 0 in column 0 -> NaN; inf * 1 -> inf
            [inf, -inf, 0.0],  # inf - inf -> NaN
            [nan, 0.0, 0.0],  # NaN * anything -> NaN
            [1.0, 2.0, 3.0],  # finite row stays finite
            [-inf, 1.0, 1.0],
        ],
        dtype=dtype_name,
    )
    b = np.array([[0.0, 1.0, 2.0], [1.0, 1.0, 1.0], [1.0, 0.0, -1.0]], dtype=dtype_name)
    out = (tg.Tensor(a) @ tg.Tensor(b)).numpy()
    with np.errstate(invalid="ignore"):
        want = (a.astype(np.float64) @ b.astype(np.float64)).astype(dtype_name)
    assert np.isnan(out[0, 0]) and out[0, 1] == inf and out[0, 2] == inf
    assert np.isnan(out[1]).all()
    assert np.isnan(out[2]).all()
    assert np.isfinite(out[3]).all()
    assert np.isnan(out[4, 0]) and out[4, 1] == -inf and out[4, 2] == -inf
    np.testing.assert_array_equal(np.isnan(out), np.isnan(want))
    check_matmul(out, a, b)


def test_nan_inf_in_elementwise_and_sum(tg):
    x = np.array([np.inf, -np.inf, np.nan, 1.0], dtype=np.float32)
    zeros = np.zeros(4, dtype=np.float32)
    t, tz = tg.Tensor(x), tg.Tensor(zeros)
    # operands are data, not constants: tinygrad folds `x * 0` and `x - x` to 0 symbolically, not per IEEE
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal((t + 1).numpy(), x + 1)
        np.testing.assert_array_equal((t * tz).numpy(), x * zeros)
        np.testing.assert_array_equal((t + tg.Tensor(x[::-1].copy())).numpy(), x + x[::-1])
    assert np.isnan(t.sum().item())
    assert tg.Tensor([np.inf, 1.0]).sum().item() == np.inf
    assert (tg.Tensor([1.0, -1.0, 0.0]) / 0).tolist()[:2] == [np.inf, -np.inf]


def test_nan_propagates_through_matmul_with_constant_zeros(tg):
    a = tg.Tensor([[np.inf, np.nan]])
    assert np.isnan((a @ tg.Tensor.zeros(2, 3)).numpy()).all()
    assert np.isnan((tg.Tensor.zeros(3, 1) @ a).numpy()).all()


@pytest.mark.tgrad_only(
    reason="tinygrad factors an operand broadcast along K out of the sum: (inf + x) * -inf gives -inf, not NaN"
)
def test_nan_propagates_with_operand_broadcast_along_k(tg, check_matmul):
    a = np.array([[np.inf, -0.25]], dtype=np.float32)
    b = np.array([[-np.inf]], dtype=np.float32)  # broadcast to (2, 1): every product uses the same value
    out = (tg.Tensor(a) @ tg.Tensor(b).expand(2, 1)).numpy()
    assert np.isnan(out).all(), f"inf * -inf + (-0.25) * -inf is -inf + inf = NaN per IEEE, got {out}"
    check_matmul(out, a, np.broadcast_to(b, (2, 1)))


def test_overflow_to_inf_in_float32_matmul(tg):
    a = np.full((2, 3), 3e19, dtype=np.float32)
    b = np.full((3, 2), 3e19, dtype=np.float32)
    out = (tg.Tensor(a) @ tg.Tensor(b)).numpy()
    np.testing.assert_array_equal(out, np.full((2, 2), np.inf, dtype=np.float32))
    np.testing.assert_array_equal((tg.Tensor(-a) @ tg.Tensor(b)).numpy(), np.full((2, 2), -np.inf, dtype=np.float32))


# ---------------------------------------------------------------- environment failures (subprocess, tgrad only)


@pytest.mark.tgrad_only(reason="TGRAD_CC and TGRAD_CACHE are tgrad's settings")
def test_missing_c_compiler_raises_clear_error(run_isolated, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    body = """
        a = tg.Tensor([[1.0, 2.0], [3.0, 4.0]])
        (a @ a + 1).relu().numpy()
    """
    report = run_isolated(body, {"TGRAD_CC": "/nonexistent/cc", "TGRAD_CACHE": str(cache)})
    assert report["raised"], "a matmul ran without a C compiler"
    message = report["message"]
    assert "Exception" in report["mro"] and report["type"] not in ("SystemExit", "KeyboardInterrupt")
    assert "/nonexistent/cc" in message, f"the message should name the compiler it tried: {message!r}"
    assert "install" in message.lower(), f"the message should say what to install: {message!r}"
    assert any(cc in message for cc in ("clang", "gcc")), f"the message should name a compiler: {message!r}"
    leftovers = [p.name for p in cache.rglob("*") if p.is_file() and p.suffix in (".so", ".dylib", ".tmp")]
    assert not leftovers, f"a failed compile left objects in the cache: {leftovers}"


@pytest.mark.tgrad_only(reason="tinygrad's behaviour on a petabyte allocation is not part of the contract")
@pytest.mark.parametrize(
    "expression",
    [
        "Tensor.empty(1 << 25, 1 << 25).realize()",  # 4 PiB of float32
        "(Tensor.ones(1 << 24, 1) @ Tensor.ones(1, 1 << 24)).realize()",  # a 1 PiB result
    ],
    ids=["empty", "matmul-result"],
)
def test_too_large_allocation_raises_memory_error(run_isolated, tmp_path, expression):
    report = run_isolated(f"Tensor = tg.Tensor\n{expression}", {"TGRAD_CACHE": str(tmp_path / "cache")})
    assert report["raised"], f"{expression} did not raise"
    is_memory_error = "MemoryError" in report["mro"]
    names_memory = any(word in report["message"].lower() for word in ("memory", "allocat"))
    assert is_memory_error or names_memory, f"not a memory error: {report}"
    assert "Exception" in report["mro"], report


@pytest.mark.tgrad_only(reason="tgrad compiles C at run time; TGRAD_COPT is tgrad's")
def test_kernel_that_fails_to_compile_names_the_kept_source(run_isolated, tmp_path):
    # a flag the compiler rejects makes every kernel fail to compile
    cache = tmp_path / "cache"
    body = """
        a = tg.Tensor([[1.0, 2.0], [3.0, 4.0]])
        (a @ a).numpy()
    """
    report = run_isolated(body, {"TGRAD_COPT": "-O2 --no-such-flag-tgrad", "TGRAD_CACHE": str(cache)})
    assert report["raised"], "a kernel compiled with a rejected flag"
    assert "CompileError" in report["mro"] and "RuntimeError" in report["mro"], report
    message = report["message"]
    assert "--no-such-flag-tgrad" in message, f"the compiler's own log should be in the message: {message!r}"
    kept = [p for p in cache.rglob("*.c")]
    assert kept and str(kept[0]) in message, f"the message should name the kept source file: {message!r}"
    assert not [p for p in cache.rglob("*") if p.suffix in (".so", ".tmp")], "a failed compile left objects behind"


@pytest.mark.tgrad_only(reason="as_strided_unchecked is tgrad's debugging entry point for its launch checks")
@pytest.mark.parametrize("shape,strides,offset", [([4, 5], [4, 1], 0), ([16], [-1], 0), ([4, 4], [4, 1], 1)])
def test_launch_checks_refuse_a_hand_made_view_outside_its_buffer(tg, shape, strides, offset):
    from tgrad.errors import ShapeError

    x = tg.Tensor(np.arange(16, dtype=np.float32)).realize()
    bad = tg.Tensor(x._lb.as_strided_unchecked(shape, strides, offset))
    with pytest.raises(ShapeError, match="launch check"):
        (-bad).numpy()
    assert (x + 1).numpy()[15] == 16.0, "the process stays usable"


# ---------------------------------------------------------------- sizes and integer ranges


@pytest.mark.tgrad_only(reason="tgrad's element-count limit and its ShapeError are tgrad's contract")
@pytest.mark.parametrize(
    "make",
    [
        lambda tg: tg.Tensor.rand(2**32, 2**32),
        lambda tg: tg.Tensor.empty(2**31, 2**31, 2**31),
        lambda tg: tg.Tensor.ones(4).reshape(4, 2**62 + 1),
        lambda tg: tg.Tensor.ones(1, 1).expand(2**40, 2**40),
        lambda tg: tg.Tensor.ones(2**31, 1) @ tg.Tensor.ones(1, 2**31) @ tg.Tensor.ones(2**31, 2**31),
    ],
    ids=["rand", "empty-3d", "reshape", "expand", "matmul-chain"],
)
def test_shapes_beyond_the_element_limit_raise_shape_error(tg, make):
    from tgrad.errors import ShapeError

    with pytest.raises(ShapeError, match="more elements than a tensor can hold"):
        make(tg)
    assert (tg.Tensor([1.0, 2.0]) * 2).tolist() == [2.0, 4.0], "the process stays usable"


@pytest.mark.tgrad_only(reason="tgrad refuses ints that would wrap in int32; tinygrad's int is int32 too but wraps")
@pytest.mark.parametrize(
    "data",
    [2**31, -(2**31) - 1, 2**100, [1, 2**40], [[1], [2**64]], [1, -(2**70)], np.array([2**40], dtype=np.int64)],
    ids=["max+1", "min-1", "2^100", "list-2^40", "nested-2^64", "list-neg-2^70", "np-int64-2^40"],
)
def test_ints_outside_int32_raise_dtype_error(tg, data):
    from tgrad.errors import DTypeError

    with pytest.raises(DTypeError, match="does not fit int"):
        tg.Tensor(data, dtype=tg.dtypes.int)
    if not isinstance(data, np.ndarray):
        with pytest.raises(DTypeError, match="does not fit int"):
            tg.Tensor(data)


@pytest.mark.tgrad_only(reason="tgrad's int range check")
def test_ints_at_the_int32_limits_are_exact(tg):
    limits = [-(2**31), 2**31 - 1, 0]
    assert tg.Tensor(limits).tolist() == limits
    assert tg.Tensor.full((2,), 2**31 - 1, dtype=tg.dtypes.int).tolist() == [2**31 - 1] * 2
    with pytest.raises(TypeError, match="does not fit int"):
        tg.Tensor.full((2,), 2**31, dtype=tg.dtypes.int)
    assert tg.Tensor([1.5, 2**70]).dtype == tg.dtypes.float, "big ints beside floats make a float tensor"
