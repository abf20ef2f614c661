"""Numeric agreement: an engine's output against a float64 oracle, judged by a rounding-error bound.

The bound is the classical worst-case bound for a dot product of length K computed in floating point
with unit roundoff u, in any summation order (Higham, *Accuracy and Stability of Numerical
Algorithms*, eq. 3.5): |fl(a.b) - a.b| <= gamma_K * (|a|.|b|), gamma_K = K*u / (1 - K*u). Products
of two inputs are exact in the accumulator when the inputs are half and the accumulator float32, and
rounded once otherwise; gamma_K with K counted as the reduction length covers both. A result that is
rounded to a narrower output dtype (float16) adds one rounding of the exact value, u_out * |c|, and an
epilogue (bias add) adds one rounding of its own. Underflow adds at most K * (smallest subnormal of the
accumulator) absolutely, plus half an output subnormal step. The bound therefore scales with the
reduction length and with the operands' magnitudes, never with a fixed tolerance.

`compare` returns data (an `Agreement`); printing is the report's job.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import numpy.typing as npt

# unit roundoff u = 2^-p (p = significand bits incl. the implicit one) and the smallest subnormal
_UNIT_ROUNDOFF = {np.dtype(np.float16): 2.0**-11, np.dtype(np.float32): 2.0**-24, np.dtype(np.float64): 2.0**-53}
_SUBNORMAL = {np.dtype(np.float16): 2.0**-24, np.dtype(np.float32): 2.0**-149, np.dtype(np.float64): 2.0**-1074}


def unit_roundoff(dtype: npt.DTypeLike) -> float:
    return _UNIT_ROUNDOFF[np.dtype(dtype)]


def gamma(k: int, u: float) -> float:
    """gamma_k = k*u / (1 - k*u), the factor of Higham's bound (infinite when k*u >= 1)."""
    ku = k * u
    return math.inf if ku >= 1.0 else ku / (1.0 - ku)


def matmul_error_bound(
    a: np.ndarray,
    b: np.ndarray,
    *,
    out_dtype: npt.DTypeLike,
    acc_dtype: npt.DTypeLike = np.float32,
    bias: np.ndarray | None = None,
) -> np.ndarray:
    """Elementwise bound on |engine(a @ b [+ bias]) - exact| for the given operands.

    a: (..., M, K), b: (..., K, N) as stored in the input dtype (any float dtype; they are
    promoted to float64 here). Returns a float64 array of the output's shape.
    """
    a64 = np.asarray(a, dtype=np.float64)
    b64 = np.asarray(b, dtype=np.float64)
    k = a64.shape[-1]
    with np.errstate(invalid="ignore", over="ignore"):
        absprod = np.abs(a64) @ np.abs(b64)
        exact = a64 @ b64
    u_acc, u_out = unit_roundoff(acc_dtype), unit_roundoff(out_dtype)
    bound = gamma(max(k, 1), u_acc) * absprod + k * _SUBNORMAL[np.dtype(acc_dtype)]
    if bias is not None:
        bias64 = np.asarray(bias, dtype=np.float64)
        exact = exact + bias64
        bound = bound + u_acc * (np.abs(exact) + bound)  # the epilogue's own rounding
    if np.dtype(out_dtype) != np.dtype(acc_dtype):
        bound = bound + u_out * (np.abs(exact) + bound) + 0.5 * _SUBNORMAL[np.dtype(out_dtype)]
    result: np.ndarray = bound
    return result


@dataclasses.dataclass(frozen=True)
class Agreement:
    max_abs: float  # max |out - oracle| over finite positions
    max_rel: float  # max |out - oracle| / |oracle| over finite, non-zero oracle positions
    max_ulp: int  # max distance in units in the last place of the output dtype
    max_ratio: float  # max |out - oracle| / bound (<= 1 means within the bound)
    nonfinite_mismatches: int  # positions where NaN/Inf disagree with the oracle
    ok: bool

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _ulp_distance(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Distance between two arrays of the same float dtype counted in representable values."""
    ity = {2: np.int16, 4: np.int32, 8: np.int64}[x.dtype.itemsize]
    xi = x.view(ity).astype(np.int64)
    yi = y.view(ity).astype(np.int64)
    top = np.int64(1) << (8 * x.dtype.itemsize - 1)
    # map sign-magnitude to a monotone integer line
    xi = np.where(xi < 0, -(xi + top), xi)
    yi = np.where(yi < 0, -(yi + top), yi)
    distance: np.ndarray = np.abs(xi - yi)
    return distance


def compare(out: np.ndarray, oracle: np.ndarray, bound: np.ndarray) -> Agreement:
    """Judge `out` (an engine's result in its own dtype) against the float64 `oracle` with `bound`."""
    out = np.asarray(out)
    oracle = np.asarray(oracle, dtype=np.float64)
    if out.shape != oracle.shape:
        raise ValueError(f"shape mismatch: engine output {out.shape} vs oracle {oracle.shape}")
    out_dt = out.dtype if out.dtype.kind == "f" else np.dtype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        expected = oracle.astype(out_dt)  # what a correctly rounded engine would store
    out64 = out.astype(np.float64)
    exp_finite = np.isfinite(expected)
    # NaN must match NaN; +-Inf must match exactly where the rounded oracle is infinite
    nan_mismatch = np.isnan(expected) != np.isnan(out64)
    inf_mismatch = np.isinf(expected) & (expected.astype(np.float64) != out64)
    finite_out_missing = exp_finite & ~np.isfinite(out64)
    nonfinite = int(np.count_nonzero(nan_mismatch | inf_mismatch | finite_out_missing))
    both = exp_finite & np.isfinite(out64) & np.isfinite(oracle)
    if np.any(both):
        err = np.abs(out64[both] - oracle[both])
        bnd = np.asarray(np.broadcast_to(bound, oracle.shape))[both]
        max_abs = float(err.max())
        nz = oracle[both] != 0
        max_rel = float((err[nz] / np.abs(oracle[both][nz])).max()) if np.any(nz) else 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(err == 0, 0.0, err / bnd)
        max_ratio = float(ratio.max())
        if out.dtype.kind == "f":
            max_ulp = int(_ulp_distance(out[both], expected[both]).max())
        else:
            max_ulp = 0
    else:
        max_abs = max_rel = max_ratio = 0.0
        max_ulp = 0
    ok = nonfinite == 0 and max_ratio <= 1.0
    return Agreement(max_abs, max_rel, max_ulp, max_ratio, nonfinite, ok)


@dataclasses.dataclass(frozen=True)
class Difference:
    """How far one engine's output is from another's (upstream tinygrad's): data, not a verdict."""

    max_abs: float  # over positions where both are finite
    max_ulp: int  # in the first output's dtype (0 when the dtypes differ and no ULP is defined)
    nonfinite_mismatches: int  # positions where NaN/Inf differ
    identical: bool  # bitwise equal values (NaN equal to NaN)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def difference(out: np.ndarray, ref: np.ndarray) -> Difference:
    """Compare two engines' outputs with each other (no bound: summation orders legitimately differ)."""
    out, ref = np.asarray(out), np.asarray(ref)
    if out.shape != ref.shape:
        raise ValueError(f"shape mismatch: {out.shape} vs {ref.shape}")
    out64, ref64 = out.astype(np.float64), ref.astype(np.float64)
    nonfinite = int(np.count_nonzero((np.isnan(out64) != np.isnan(ref64)) | (np.isinf(out64) & (out64 != ref64))))
    both = np.isfinite(out64) & np.isfinite(ref64)
    max_abs = float(np.abs(out64[both] - ref64[both]).max()) if np.any(both) else 0.0
    same_float = out.dtype == ref.dtype and out.dtype.kind == "f"
    max_ulp = int(_ulp_distance(out[both], ref[both]).max()) if same_float and np.any(both) else 0
    identical = bool(np.array_equal(out64, ref64, equal_nan=True))
    return Difference(max_abs, max_ulp, nonfinite, identical)
