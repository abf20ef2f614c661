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

A plan that states its rounding depth D (the longest chain of roundings one product goes through;
tgrad's CPU GEMM plans do, see its certify/fp.rs) keeps the tighter |S - AB| <= gamma_D |A||B|: the
same bound with gamma_D in place of gamma_K. The engines are judged against a float64 oracle, which
has its own error (at most gamma_K(2^-53) |A||B|, plus one rounding of the bias add): both bounds
include it, so an engine is never blamed for the oracle. harness/exact.py checks sampled outputs
against exact sums instead, without that term.

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


@dataclasses.dataclass(frozen=True)
class ErrorModel:
    """The parts of the bound that cost a product to compute (|A||B|, the result's magnitude), computed
    once; `bound` then gives the elementwise bound for any rounding depth, with or without the oracle's
    own error."""

    absprod: np.ndarray  # |A| @ |B|, float64
    magnitude: np.ndarray  # |AB (+ bias)|, float64
    k: int
    out_dtype: np.dtype[Any]
    acc_dtype: np.dtype[Any]
    bias_abs: np.ndarray | None  # |bias| where there is an epilogue

    def bound(self, depth: int | None = None, *, oracle: npt.DTypeLike | None = np.float64) -> np.ndarray:
        """|engine - reference| bound with gamma_depth (gamma_K when depth is None); `oracle`: the dtype the
        reference was computed in (its own error is added), None for an exact reference."""
        k = self.k
        chain = k if depth is None else depth
        u_acc, u_out = unit_roundoff(self.acc_dtype), unit_roundoff(self.out_dtype)
        bound = gamma(max(chain, 1), u_acc) * self.absprod + k * _SUBNORMAL[self.acc_dtype]
        if self.bias_abs is not None:
            bound = bound + u_acc * (self.magnitude + bound)  # the epilogue's own rounding
        if self.out_dtype != self.acc_dtype:
            bound = bound + u_out * (self.magnitude + bound) + 0.5 * _SUBNORMAL[self.out_dtype]
        if oracle is not None:
            # the oracle sums K products (and the bias) in its own precision, in any order
            summed = self.absprod if self.bias_abs is None else self.absprod + self.bias_abs
            terms = k if self.bias_abs is None else k + 1
            bound = bound + gamma(max(terms, 1), unit_roundoff(oracle)) * summed
        result: np.ndarray = bound
        return result


def error_model(
    a: np.ndarray,
    b: np.ndarray,
    *,
    out_dtype: npt.DTypeLike,
    acc_dtype: npt.DTypeLike = np.float32,
    bias: np.ndarray | None = None,
) -> ErrorModel:
    """a: (..., M, K), b: (..., K, N) as stored in the input dtype (any float dtype; promoted to float64)."""
    a64 = np.asarray(a, dtype=np.float64)
    b64 = np.asarray(b, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        absprod = np.abs(a64) @ np.abs(b64)
        exact = a64 @ b64
        bias_abs = None
        if bias is not None:
            bias64 = np.asarray(bias, dtype=np.float64)
            exact = exact + bias64
            bias_abs = np.abs(bias64)
    return ErrorModel(absprod, np.abs(exact), a64.shape[-1], np.dtype(out_dtype), np.dtype(acc_dtype), bias_abs)


def matmul_error_bound(
    a: np.ndarray,
    b: np.ndarray,
    *,
    out_dtype: npt.DTypeLike,
    acc_dtype: npt.DTypeLike = np.float32,
    bias: np.ndarray | None = None,
    depth: int | None = None,
    oracle: npt.DTypeLike | None = np.float64,
) -> np.ndarray:
    """Elementwise bound on |engine(a @ b [+ bias]) - oracle| for the given operands (ErrorModel.bound)."""
    model = error_model(a, b, out_dtype=out_dtype, acc_dtype=acc_dtype, bias=bias)
    return model.bound(depth, oracle=oracle)


@dataclasses.dataclass(frozen=True)
class Agreement:
    max_abs: float  # max |out - oracle| over finite positions
    max_rel: float  # max |out - oracle| / |oracle| over finite, non-zero oracle positions
    max_ulp: int  # max distance in units in the last place of the output dtype
    max_ratio: float  # max |out - oracle| / bound with gamma_K (<= 1 means within the bound)
    nonfinite_mismatches: int  # positions where NaN/Inf disagree with the oracle
    ok: bool  # within every bound judged (gamma_K, and gamma_D where the plan states its depth)
    depth: int | None = None  # the plan's rounding depth D, when it states one
    max_ratio_d: float | None = None  # max |out - oracle| / bound with gamma_D

    def as_dict(self) -> dict[str, Any]:
        return {key: value for key, value in dataclasses.asdict(self).items() if value is not None}


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


def _max_ratio(err: np.ndarray, bound: np.ndarray) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(err == 0, 0.0, err / bound)
    return float(ratio.max())


def compare(
    out: np.ndarray,
    oracle: np.ndarray,
    bound: np.ndarray,
    *,
    depth: int | None = None,
    bound_d: np.ndarray | None = None,
) -> Agreement:
    """Judge `out` (an engine's result in its own dtype) against the float64 `oracle` with `bound` (gamma_K)
    and, for a plan of rounding depth `depth`, with `bound_d` (gamma_D) as well."""
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
    max_ratio_d = None if bound_d is None else 0.0
    if np.any(both):
        err = np.abs(out64[both] - oracle[both])
        bnd = np.asarray(np.broadcast_to(bound, oracle.shape))[both]
        max_abs = float(err.max())
        nz = oracle[both] != 0
        max_rel = float((err[nz] / np.abs(oracle[both][nz])).max()) if np.any(nz) else 0.0
        max_ratio = _max_ratio(err, bnd)
        if bound_d is not None:
            max_ratio_d = _max_ratio(err, np.asarray(np.broadcast_to(bound_d, oracle.shape))[both])
        if out.dtype.kind == "f":
            max_ulp = int(_ulp_distance(out[both], expected[both]).max())
        else:
            max_ulp = 0
    else:
        max_abs = max_rel = max_ratio = 0.0
        max_ulp = 0
    ok = nonfinite == 0 and max_ratio <= 1.0 and (max_ratio_d is None or max_ratio_d <= 1.0)
    return Agreement(max_abs, max_rel, max_ulp, max_ratio, nonfinite, ok, depth, max_ratio_d)


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
