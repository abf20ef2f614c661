"""GPU kernels run: the CUDA and Metal source tgrad renders, executed on a real NVIDIA GPU (CUDA: compiled by NVRTC,
run by the driver) where one is usable, and on the CPU by the GPU emulator everywhere (CUDA_EMU, METAL_EMU: the same
kernel text compiled against the emulation headers), judged against a float64 oracle with harness.agreement's
rounding-error bound. The CUDA cases skip with the reason `cuda_available()` gives where there is no usable GPU; the
emulated ones always run, at sizes up to a few hundred per side."""

from __future__ import annotations

import numpy as np
import pytest

from harness.agreement import compare, matmul_error_bound, unit_roundoff

DEVICES = [pytest.param("CUDA", marks=pytest.mark.gpu), "CUDA_EMU", "METAL_EMU"]


@pytest.fixture(params=DEVICES)
def gpu(request, native):
    """The name of a device to realize on (CUDA skips where no GPU is usable)."""
    if request.param == "CUDA":
        ok, reason = native.cuda_available()
        if not ok:
            pytest.skip(f"CUDA unavailable: {reason}")
    return request.param


def run_on(device: str, y) -> np.ndarray:
    """Realize `y` with kernels on `device`, then read it back (copied from the device's memory)."""
    from tgrad import _native

    _native.realize_on(device, [y._lb])
    return y.numpy()


def emulated(device: str) -> bool:
    return device.endswith("_EMU")


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
# the emulator runs a block's threads one after another: sizes up to a few hundred per side
EMU_SIZES = [(1, 1, 1), (3, 50, 783), (17, 3, 1), (64, 64, 64), (127, 129, 130), (256, 256, 256), (300, 333, 33)]


def sizes_for(device: str) -> list[tuple[int, int, int]]:
    return EMU_SIZES if emulated(device) else SIZES


@pytest.mark.parametrize("dtype", [np.float32, np.float16], ids=["float32", "float16"])
def test_matmul(gpu, dtype):
    import tgrad

    for m, k, n in sizes_for(gpu):
        rng = np.random.default_rng(m * 10007 + k * 101 + n)
        a, b = draw(rng, (m, k), dtype), draw(rng, (k, n), dtype)
        check(run_on(gpu, tgrad.Tensor(a) @ tgrad.Tensor(b)), a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float16], ids=["float32", "float16"])
def test_transposed_and_batched(gpu, dtype):
    import tgrad

    rng = np.random.default_rng(7)
    a, b = draw(rng, (300, 200), dtype), draw(rng, (100, 200), dtype)
    check(run_on(gpu, tgrad.Tensor(a) @ tgrad.Tensor(b).T), a, b.T)
    nb = 8 if emulated(gpu) else 64
    a3, b3 = draw(rng, (nb, 128, 128), dtype), draw(rng, (nb, 128, 128), dtype)
    check(run_on(gpu, tgrad.Tensor(a3) @ tgrad.Tensor(b3)), a3, b3)
    a4, b2 = draw(rng, (5, 33, 70), dtype), draw(rng, (70, 9), dtype)
    check(run_on(gpu, tgrad.Tensor(a4) @ tgrad.Tensor(b2)), a4, np.broadcast_to(b2, (5, 70, 9)))


@pytest.mark.parametrize("dtype", [np.float32, np.float16], ids=["float32", "float16"])
def test_linear_relu(gpu, dtype):
    import tgrad

    rng = np.random.default_rng(5)
    m, k, n = (100, 256, 200) if emulated(gpu) else (256, 1024, 1024)
    x, w, bias = draw(rng, (m, k), dtype), draw(rng, (k, n), dtype), draw(rng, (n,), dtype)
    y = (tgrad.Tensor(x) @ tgrad.Tensor(w) + tgrad.Tensor(bias)).relu()
    check(run_on(gpu, y), x, w, bias=bias, relu=True)


def test_reductions_and_elementwise(gpu):
    import tgrad

    rng = np.random.default_rng(3)
    x = draw(rng, (333, 777), np.float32)
    got = run_on(gpu, tgrad.Tensor(x).sum(axis=1))
    want = x.astype(np.float64).sum(axis=1)
    bound = 777 * unit_roundoff(np.float32) * np.abs(x).astype(np.float64).sum(axis=1)
    assert np.all(np.abs(got - want) <= bound)
    x[5, 5] = np.nan
    assert np.isnan(run_on(gpu, tgrad.Tensor(x).max()))
    h = draw(rng, (3, 50, 7), np.float16)
    got = run_on(gpu, (tgrad.Tensor(h) * 2 + 1).relu())
    np.testing.assert_array_equal(got, np.maximum(h * np.float16(2) + np.float16(1), 0))


def test_results_stay_on_the_device_until_read(gpu):
    """Intermediates and outputs stay in device memory: a chain of kernels runs without copies back, and the output
    reaches the host once, when read."""
    import tgrad

    rng = np.random.default_rng(11)
    a, b = draw(rng, (40, 30), np.float32), draw(rng, (30, 20), np.float32)
    y = (tgrad.Tensor(a) @ tgrad.Tensor(b)).relu().sum(axis=0)
    from tgrad import _native

    _native.realize_on(gpu, [y._lb])
    assert y._lb.placement() == gpu, "the result stays in device memory after realize"
    np.testing.assert_allclose(y.numpy(), np.maximum(a.astype(np.float64) @ b, 0).sum(axis=0), rtol=1e-5, atol=1e-4)
    assert y._lb.placement() is None, "once read, the host copy is current"


def test_long_float_sums_stay_exact(gpu):
    """Float sums accumulate in double (CUDA) or compensated (Metal, which has no double): 2^25 ones and quarters are
    exact, where a float accumulator stops at 2^24."""
    import tgrad

    n = 1 << 25
    assert run_on(gpu, tgrad.Tensor(np.ones(n, np.float32)).sum()) == float(n)
    assert run_on(gpu, tgrad.Tensor(np.full(n, 0.25, np.float32)).sum()) == float(n) / 4
