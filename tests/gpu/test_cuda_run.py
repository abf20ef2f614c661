"""CUDA on a GPU: kernels rendered by tgrad, compiled by NVRTC and run by the driver, judged against a float64 oracle
with harness.agreement's rounding-error bound. Every test skips with the reason `cuda_available()` gives where no
usable NVIDIA GPU and driver exist."""

from __future__ import annotations

import numpy as np
import pytest

from harness.agreement import compare, matmul_error_bound, unit_roundoff

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def cuda(native):
    ok, reason = native.cuda_available()
    if not ok:
        pytest.skip(f"CUDA unavailable: {reason}")
    return native


def run_on_cuda(native, y) -> np.ndarray:
    """Realize `y` with CUDA kernels, then read it back (the host copy is already current)."""
    native.realize_on("CUDA", [y._lb])
    return y.numpy()


def draw(rng, shape, dtype) -> np.ndarray:
    return rng.standard_normal(shape, dtype=np.float32).astype(dtype)


def check(out, a, b, *, bias=None, relu=False):
    """The float64 oracle and bound of tests/null's check_matmul: a half output adds one rounding of its own."""
    out_dtype = np.result_type(a.dtype, b.dtype)
    oracle = a.astype(np.float64) @ b.astype(np.float64)
    if bias is not None and out_dtype == np.float32:
        bound = matmul_error_bound(a, b, out_dtype=out_dtype, bias=bias)
    else:
        bound = matmul_error_bound(a, b, out_dtype=out_dtype)
    if bias is not None:
        oracle = oracle + bias.astype(np.float64)
        if out_dtype != np.float32:
            bound = bound + unit_roundoff(out_dtype) * (np.abs(oracle) + bound) + 0.5 * 2.0**-24
    if relu:
        oracle = np.maximum(oracle, 0.0)
    agreement = compare(out, oracle, bound)
    assert agreement.ok, agreement.as_dict()


SIZES = [(1, 1, 1), (3, 50, 783), (64, 64, 64), (127, 129, 130), (512, 512, 512), (1000, 4096, 33)]


@pytest.mark.parametrize("dtype", [np.float32, np.float16], ids=["float32", "float16"])
@pytest.mark.parametrize("m,k,n", SIZES, ids=lambda v: str(v))
def test_matmul(cuda, dtype, m, k, n):
    import tgrad

    rng = np.random.default_rng(m * 10007 + k * 101 + n)
    a, b = draw(rng, (m, k), dtype), draw(rng, (k, n), dtype)
    check(run_on_cuda(cuda, tgrad.Tensor(a) @ tgrad.Tensor(b)), a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float16], ids=["float32", "float16"])
def test_transposed_and_batched(cuda, dtype):
    import tgrad

    rng = np.random.default_rng(7)
    a, b = draw(rng, (300, 200), dtype), draw(rng, (100, 200), dtype)
    check(run_on_cuda(cuda, tgrad.Tensor(a) @ tgrad.Tensor(b).T), a, b.T)
    a3, b3 = draw(rng, (64, 128, 128), dtype), draw(rng, (64, 128, 128), dtype)
    check(run_on_cuda(cuda, tgrad.Tensor(a3) @ tgrad.Tensor(b3)), a3, b3)
    a4, b2 = draw(rng, (5, 33, 70), dtype), draw(rng, (70, 9), dtype)
    check(run_on_cuda(cuda, tgrad.Tensor(a4) @ tgrad.Tensor(b2)), a4, np.broadcast_to(b2, (5, 70, 9)))


@pytest.mark.parametrize("dtype", [np.float32, np.float16], ids=["float32", "float16"])
def test_linear_relu(cuda, dtype):
    import tgrad

    rng = np.random.default_rng(5)
    x, w, bias = draw(rng, (256, 1024), dtype), draw(rng, (1024, 1024), dtype), draw(rng, (1024,), dtype)
    y = (tgrad.Tensor(x) @ tgrad.Tensor(w) + tgrad.Tensor(bias)).relu()
    check(run_on_cuda(cuda, y), x, w, bias=bias, relu=True)


def test_reductions_and_elementwise(cuda):
    import tgrad

    rng = np.random.default_rng(3)
    x = draw(rng, (333, 777), np.float32)
    got = run_on_cuda(cuda, tgrad.Tensor(x).sum(axis=1))
    want = x.astype(np.float64).sum(axis=1)
    bound = 777 * unit_roundoff(np.float32) * np.abs(x).astype(np.float64).sum(axis=1)
    assert np.all(np.abs(got - want) <= bound)
    x[5, 5] = np.nan
    assert np.isnan(run_on_cuda(cuda, tgrad.Tensor(x).max()))
    h = draw(rng, (3, 50, 7), np.float16)
    got = run_on_cuda(cuda, (tgrad.Tensor(h) * 2 + 1).relu())
    np.testing.assert_array_equal(got, np.maximum(h * np.float16(2) + np.float16(1), 0))
