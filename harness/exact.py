"""Exact check of sampled outputs: each sampled output against the exact value of its dot product.

A product of two binary32 (or binary16) numbers is exact in binary64 (24 + 24 significand bits fit
in 53, and the exponents stay in range), so each of a dot product's K products is a dyadic rational
m * 2^e held exactly in float64. Over the common power-of-two denominator 2^min(e) the sum is a
Python integer: the exact value of the dot product, with no oracle error at all. The bias of an
epilogue is one more such term, and relu is exact.

Samples sit where a blocked kernel changes path: rows and columns 0, 1, MR - 1, MR, MR + 1 for every
register tile MR up to 16, either side of the first and last multiples of common block and chunk
sizes, the last ones, plus seeded random ones; at most a few hundred (each costs K integer additions).
Each output is judged against the bound without the oracle's term (ErrorModel.bound(oracle=None)).
Where every operand is integer-valued and every partial sum fits the significand, every summation
order is exact: such samples must equal the exact sum.
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction
from typing import Any

import numpy as np

# input dtypes whose products are exact in float64
EXACT_PRODUCT_DTYPES = (np.dtype(np.float16), np.dtype(np.float32))
# significand bits (the implicit one included): integers up to 2^p are exact
_SIGNIFICAND_BITS = {np.dtype(np.float16): 11, np.dtype(np.float32): 24, np.dtype(np.float64): 53}
BLOCK_STEPS = (8, 16, 48, 64, 128, 256, 512)
LIMIT = 300


def exact_dot(a: np.ndarray, b: np.ndarray, extra: float = 0.0) -> Fraction:
    """The exact value of sum(a * b) + extra for 1-D float16/float32 vectors (extra: a float32 bias)."""
    if a.dtype not in EXACT_PRODUCT_DTYPES or b.dtype not in EXACT_PRODUCT_DTYPES:
        raise TypeError(f"products of {a.dtype} and {b.dtype} are not exact in float64")
    terms = np.append(a.astype(np.float64) * b.astype(np.float64), np.float64(extra))
    mantissa, exponent = np.frexp(terms)  # term = mantissa * 2^exponent, |mantissa| in [0.5, 1)
    integers = (mantissa * 2.0**53).astype(np.int64).tolist()  # exact: 53 significand bits
    shifts = (exponent.astype(np.int64) - 53).tolist()
    low = min(shifts)
    total = sum(m << (s - low) for m, s in zip(integers, shifts, strict=True) if m)
    return Fraction(total << low) if low >= 0 else Fraction(total, 1 << -low)


def boundary_indices(extent: int) -> list[int]:
    """Indices of one output axis where tiles, blocks or chunks begin or end."""
    picked = {0, 1, extent - 1, extent - 2, extent - 3}
    for mr in range(1, 17):
        picked |= {mr - 1, mr, mr + 1}
    for step in BLOCK_STEPS:
        for multiple in (1, 2, 3, extent // step - 1, extent // step):
            picked |= {multiple * step - 1, multiple * step, multiple * step + 1}
    for parts in (2, 3, 4):  # thread chunks split an axis in equal parts
        edge = -(-extent // parts)
        picked |= {edge - 1, edge, edge + 1}
    return sorted(i for i in picked if 0 <= i < extent)


def sample_positions(out_shape: tuple[int, ...], seed: int = 0, limit: int = LIMIT) -> list[tuple[int, ...]]:
    """Output positions (batch..., row, col): every boundary row and column at least once, the corners'
    grids, the first and last batch, seeded random ones; at most `limit`, always the same for a seed."""
    *batch, rows, cols = out_shape
    if rows == 0 or cols == 0 or math.prod(batch) == 0:
        return []
    rng = np.random.default_rng(seed)
    r, c = boundary_indices(rows), boundary_indices(cols)
    pairs = {(row, c[t % len(c)]) for t, row in enumerate(r)} | {(r[t % len(r)], col) for t, col in enumerate(c)}
    pairs |= {(row, col) for row in r[:6] for col in c[:6]} | {(row, col) for row in r[-4:] for col in c[-4:]}
    pairs |= {(int(rng.integers(rows)), int(rng.integers(cols))) for _ in range(32)}
    ordered = sorted(pairs)
    if len(ordered) > limit:
        keep = np.sort(rng.choice(len(ordered), size=limit, replace=False))
        ordered = [ordered[i] for i in keep]
    batches = max(math.prod(batch), 1)
    firsts = [0, batches - 1]
    chosen = [firsts[t] if t < 2 else int(rng.integers(batches)) for t in range(len(ordered))]
    positions = []
    for (row, col), flat in zip(ordered, chosen, strict=True):
        index = tuple(int(i) for i in np.unravel_index(flat, batch)) if batch else ()
        positions.append((*index, row, col))
    return positions


@dataclasses.dataclass(frozen=True)
class ExactCheck:
    samples: int  # positions checked (finite inputs and output)
    max_ratio: float  # max |out - exact| / bound over them
    bound: str  # "D" (gamma_D) or "K" (gamma_K)
    integer_exact: int  # samples whose every summation order is exact (integer-valued inputs)
    mismatches: int  # of those, outputs that differ from the exact sum
    ok: bool

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _integer_valued(x: np.ndarray) -> bool:
    with np.errstate(invalid="ignore"):
        return bool(np.all(np.isfinite(x) & (x == np.round(x))))


def check(
    out: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    bias: np.ndarray | None,
    bound: np.ndarray,
    *,
    depth: int | None,
    relu: bool = False,
    seed: int = 0,
    positions: list[tuple[int, ...]] | None = None,
) -> ExactCheck | None:
    """Sampled outputs against their exact values. a: (..., M, K), b: (..., K, N) logical operands,
    bound: the exact-reference bound (gamma_D where `depth` is given). None where the inputs' products
    are not exact in float64 (float64 inputs)."""
    if a.dtype not in EXACT_PRODUCT_DTYPES or b.dtype not in EXACT_PRODUCT_DTYPES:
        return None
    if bias is not None and bias.dtype not in EXACT_PRODUCT_DTYPES:
        return None
    out = np.asarray(out)
    shape = tuple(out.shape)
    batch = shape[:-2]
    a_full = np.broadcast_to(a, (*batch, *a.shape[-2:]))
    b_full = np.broadcast_to(b, (*batch, *b.shape[-2:]))
    bias_full = np.broadcast_to(bias, shape) if bias is not None else None
    bound_full = np.broadcast_to(bound, shape)
    integer = _integer_valued(a) and _integer_valued(b) and (bias is None or _integer_valued(bias))
    exact_below = 2 ** min(_SIGNIFICAND_BITS[np.dtype(np.float32)], _SIGNIFICAND_BITS[out.dtype])
    samples = integer_exact = mismatches = 0
    worst = 0.0
    for pos in sample_positions(shape, seed) if positions is None else positions:
        *index, row, col = pos
        left_key: tuple[Any, ...] = (*index, row, slice(None))
        right_key: tuple[Any, ...] = (*index, slice(None), col)
        left, right = a_full[left_key], b_full[right_key]
        extra = float(bias_full[pos]) if bias_full is not None else 0.0
        value = float(out[pos])
        if not (np.all(np.isfinite(left)) and np.all(np.isfinite(right)) and math.isfinite(extra + value)):
            continue
        exact = exact_dot(left, right, extra)
        if relu:
            exact = max(exact, Fraction(0))
        err = abs(Fraction(value) - exact)
        samples += 1
        if integer and float(np.abs(left.astype(np.float64)) @ np.abs(right.astype(np.float64))) + abs(extra) <= (
            exact_below
        ):
            integer_exact += 1
            mismatches += err != 0
        limit = float(bound_full[pos])
        ratio = 0.0 if err == 0 else (math.inf if limit == 0 else float(err / Fraction(limit)))
        worst = max(worst, ratio)
    ok = worst <= 1.0 and mismatches == 0
    return ExactCheck(samples, worst, "K" if depth is None else "D", integer_exact, mismatches, ok)
