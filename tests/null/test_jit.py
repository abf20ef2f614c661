"""TinyJit's contract (tinygrad 0.14.0's): which arguments are inputs and how a replay matches them, and the
misuses that raise JitError rather than replaying with the wrong buffers. Where tinygrad replays silently
with stale or wrong data (an input returned inside a tuple, an input of another shape), tgrad raises and the
test is tgrad-only."""

from __future__ import annotations

import importlib

import numpy as np
import pytest


@pytest.fixture(scope="module")
def JitError(tg):
    return importlib.import_module(f"{tg.__name__}.engine.jit").JitError


def tensor(tg, values):
    return tg.Tensor(np.asarray(values, dtype=np.float32))


def test_keyword_inputs_are_matched_by_name_not_order(tg):
    @tg.TinyJit
    def f(a, b):
        return a @ b - b

    gen = np.random.default_rng(0)
    for i in range(5):
        a, b = gen.integers(-4, 5, (2, 3, 3)).astype(np.float32)
        kwargs = {"a": tensor(tg, a), "b": tensor(tg, b)}
        out = f(**(kwargs if i % 2 else dict(reversed(kwargs.items()))))
        np.testing.assert_array_equal(out.numpy(), a @ b - b)  # integer-valued: exact


def test_inputs_inside_list_and_dict_arguments_are_swapped_on_replay(tg):
    @tg.TinyJit
    def f(xs, d):
        return xs[0] * xs[1] + d["c"]

    for i in range(4):
        x, y, c = (np.full(4, i + k, dtype=np.float32) for k in (1, 2, 3))
        out = f([tensor(tg, x), tensor(tg, y)], {"c": tensor(tg, c)})
        np.testing.assert_array_equal(out.numpy(), x * y + c)


def test_changing_positional_to_keyword_raises(tg, JitError):
    @tg.TinyJit
    def f(a, b):
        return a + b

    x, y = tensor(tg, [1, 2]), tensor(tg, [3, 4])
    f(x, y)
    f(x, y)
    with pytest.raises(JitError, match="args mismatch"):
        f(a=x, b=y)


def test_the_same_tensor_twice_is_a_duplicate_input(tg, JitError):
    @tg.TinyJit
    def f(a, b):
        return a + b

    x = tensor(tg, [1, 2]).realize()
    with pytest.raises(JitError, match="duplicate inputs to JIT"):
        f(x, x)
    f(x, tensor(tg, [3, 4]))
    f(x, tensor(tg, [3, 4]))
    with pytest.raises(JitError, match="duplicate inputs to JIT"):
        f(x, x)


def test_a_function_that_runs_no_kernel_raises_at_capture(tg, JitError):
    @tg.TinyJit
    def f(a):
        return a

    x = tensor(tg, [1, 2])
    f(x)
    with pytest.raises(JitError, match="didn't JIT anything"):
        f(x)


def test_a_non_tensor_return_value_raises_at_capture(tg, JitError):
    @tg.TinyJit
    def f(a):
        return (a * 2).sum(), 3

    x = tensor(tg, [1, 2])
    f(x)
    with pytest.raises(JitError, match="non-Tensor value of type int"):
        f(x)


@pytest.mark.tgrad_only(reason="tinygrad replays and returns the captured input tensor (stale from the 3rd call)")
def test_returning_an_input_beside_a_result_raises(tg, JitError):
    @tg.TinyJit
    def f(a):
        return a * 2, a

    f(tensor(tg, [1.0]))
    with pytest.raises(JitError, match="returns its input argument 0"):
        f(tensor(tg, [2.0]))


@pytest.mark.tgrad_only(reason="tinygrad replays a (3,) input with the (2,) capture and returns 2 elements")
def test_an_input_of_another_shape_or_dtype_raises(tg, JitError):
    @tg.TinyJit
    def f(a):
        return a * 2

    f(tensor(tg, [1, 2]))
    f(tensor(tg, [1, 2]))
    with pytest.raises(JitError, match=r"args mismatch in JIT: captured with \[\(2,\) dtypes.float"):
        f(tensor(tg, [1, 2, 3]))
    with pytest.raises(JitError, match="args mismatch"):
        f(tg.Tensor([1, 2]))
    assert f(tensor(tg, [5, 6])).tolist() == [10.0, 12.0], "the capture stays usable"


def test_methods_and_weights_outside_the_inputs(tg):
    class Model:
        def __init__(self):
            self.w = tensor(tg, [[1, 2], [3, 4]]).realize()

        @tg.TinyJit
        def __call__(self, x):
            return x @ self.w

    model = Model()
    for i in range(4):
        assert model(tensor(tg, [[i, 1]])).tolist() == [[i + 3.0, 2 * i + 4.0]]


def test_decorator_with_arguments_and_reset(tg):
    calls = 0

    @tg.TinyJit(prune=False)
    def f(a):
        nonlocal calls
        calls += 1
        return a + 1

    for i in range(3):
        assert f(tensor(tg, [i])).tolist() == [i + 1.0]
    f.reset()
    for i in range(3):
        assert f(tensor(tg, [i])).tolist() == [i + 1.0]
    assert calls == 4, "two Python runs before each capture's replays"


@pytest.mark.tgrad_only(reason="tinygrad implements prune")
def test_prune_is_refused_by_name(tg):
    with pytest.raises(NotImplementedError, match="prune"):
        tg.TinyJit(lambda a: a + 1, prune=True)
