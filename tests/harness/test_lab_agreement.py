"""The agreement metric on hand-built cases just inside and just outside the bound."""

from __future__ import annotations

import numpy as np
import pytest

from harness.agreement import compare, difference, matmul_error_bound
from harness.engines.oracle import reference
from harness.workload import Inputs


def _operands(m: int = 6, k: int = 1000, n: int = 5, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, k)).astype(np.float32), rng.standard_normal((k, n)).astype(np.float32)


@pytest.mark.parametrize(("fraction", "ok"), [(0.9, True), (0.99, True), (1.01, False), (1.1, False)])
def test_error_at_a_fraction_of_the_bound(fraction: float, ok: bool) -> None:
    a, b = _operands()
    oracle = a.astype(np.float64) @ b.astype(np.float64)
    bound = matmul_error_bound(a, b, out_dtype=np.float32)
    # push one element to `fraction` of its bound; float32 rounding moves it by far less than 1% of the bound
    out = oracle.copy()
    out[2, 3] += fraction * bound[2, 3]
    result = compare(out.astype(np.float32), oracle, bound)
    assert result.ok is ok
    assert result.max_ratio == pytest.approx(fraction, rel=5e-3)
    assert result.max_abs == pytest.approx(fraction * bound[2, 3], rel=5e-3)


def test_bound_scales_with_reduction_length_and_magnitude() -> None:
    a, b = _operands(k=100)
    a2, b2 = _operands(k=400)
    small = matmul_error_bound(a, b, out_dtype=np.float32).mean()
    long = matmul_error_bound(a2, b2, out_dtype=np.float32).mean()
    assert 14 < long / small < 18  # gamma_K grows as K and so does sum_k |a_ik| |b_kj|: 4 * 4 = 16
    scaled = matmul_error_bound(a * 4, b, out_dtype=np.float32).mean()
    assert scaled == pytest.approx(4 * small, rel=1e-6)


def test_nan_where_the_oracle_is_finite_fails() -> None:
    a, b = _operands(k=16)
    oracle = a.astype(np.float64) @ b.astype(np.float64)
    bound = matmul_error_bound(a, b, out_dtype=np.float32)
    out = oracle.astype(np.float32)
    assert compare(out, oracle, bound).ok
    out[0, 0] = np.nan
    result = compare(out, oracle, bound)
    assert not result.ok and result.nonfinite_mismatches == 1


def test_inf_inputs_must_give_the_oracles_inf_and_nan() -> None:
    a, b = _operands(m=3, k=4, n=2)
    a[1, 2] = np.inf
    b[3, 0] = np.nan
    oracle, bound = reference(Inputs(a, b, None, "matmul", "contiguous"), "float32")  # inf * nan inside
    assert np.isnan(oracle[:, 0]).all() and np.isinf(oracle[1, 1])
    with np.errstate(invalid="ignore"):
        good = (a @ b).astype(np.float32)
    assert compare(good, oracle, bound).ok
    bad = good.copy()
    bad[np.isinf(bad)] = 0.0
    assert not compare(bad, oracle, bound).ok


def test_float16_bound_counts_the_output_rounding() -> None:
    a, b = (x.astype(np.float16) for x in _operands(k=64))
    oracle = a.astype(np.float64) @ b.astype(np.float64)
    bound = matmul_error_bound(a, b, out_dtype=np.float16)
    rounded = oracle.astype(np.float16)  # a correctly rounded float16 result is always inside
    assert compare(rounded, oracle, bound).ok
    nudged = np.nextafter(rounded, np.float16(np.inf))
    nudged = np.nextafter(nudged, np.float16(np.inf))  # two float16 ulps up: outside for most elements
    assert not compare(nudged, oracle, bound).ok


def test_difference_between_engines() -> None:
    a, b = _operands(k=32)
    x = (a @ b).astype(np.float32)
    assert difference(x, x).identical and difference(x, x).max_ulp == 0
    y = np.nextafter(x, np.float32(np.inf))
    d = difference(y, x)
    assert not d.identical and d.max_ulp == 1 and d.max_abs > 0


def test_oracle_of_linear_relu_applies_bias_and_relu() -> None:
    a, b = _operands(m=4, k=8, n=3)
    bias = np.array([10.0, -100.0, 0.5], dtype=np.float32)
    oracle, bound = reference(Inputs(a, b, bias, "linear_relu", "contiguous"), "float32")
    expected = np.maximum(a.astype(np.float64) @ b.astype(np.float64) + bias, 0)
    np.testing.assert_array_equal(oracle, expected)
    assert np.all(oracle[:, 1] == 0) and np.all(bound > 0)


def test_oracle_honours_a_transposed_layout() -> None:
    a, b = _operands(m=4, k=8, n=3)
    stored_b = np.ascontiguousarray(b.T)
    oracle, _ = reference(Inputs(a, stored_b, None, "matmul", "transposed_b"), "float32")
    np.testing.assert_allclose(oracle, a.astype(np.float64) @ b.astype(np.float64))
