"""Corpus cases: the arguments of matmul, elementwise ops and reductions, huge sizes, and bad Python objects."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
from corpus import Case, Expect, checked, either, error, value

RNG = np.random.default_rng(1818)


def _r(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def _mm_ref(a: np.ndarray, b: np.ndarray) -> Callable[[], np.ndarray]:
    return lambda: np.matmul(a.astype(np.float64), b.astype(np.float64))


MM_TOL = 1e-5
SHAPE_WORDS = ("cannot", "shape", "dot", "matmul", "broadcast")


def matmul_cases() -> Iterator[Case]:
    pairs: list[tuple[str, tuple[int, ...], tuple[int, ...], bool]] = [
        ("square", (5, 5), (5, 5), True),
        ("vec-vec", (3,), (3,), True),
        ("mat-vec", (2, 3), (3,), True),
        ("vec-mat", (3,), (3, 4), True),
        ("batched-broadcast", (2, 1, 3, 4), (5, 4, 2), True),
        ("batch-one-side", (7, 3, 4), (4, 2), True),
        ("empty-m", (0, 3), (3, 4), True),
        ("empty-k", (3, 0), (0, 4), True),
        ("empty-n", (2, 3), (3, 0), True),
        ("empty-batch", (0, 2, 3), (3, 4), True),
        ("odd-sizes", (17, 129), (129, 3), True),
        ("inner-mismatch", (2, 3), (4, 5), False),
        ("vec-mismatch", (3,), (4,), False),
        ("mat-vec-mismatch", (2, 3), (4,), False),
        ("batch-mismatch", (2, 3, 4), (5, 4, 2), False),
        ("same-shape", (2, 3), (2, 3), False),
    ]
    for name, sa, sb, ok in pairs:
        a, b = _r(*sa), _r(*sb)
        exp = value(_mm_ref(a, b), dtype="float32", tol=MM_TOL) if ok else error(str(sa), str(sb), *SHAPE_WORDS)
        yield Case(f"ops/matmul/{name}", lambda tg, a=a, b=b: tg.Tensor(a) @ tg.Tensor(b), exp)
    x, w = _r(2, 3), _r(3, 2)
    scalar = error("0-d", "scalar", "dimension", "1D", "dot", "matmul", "(0,)", "()")
    other: list[tuple[str, Callable[[Any], Any], Expect]] = [
        ("scalars", lambda tg: tg.Tensor(2.0) @ tg.Tensor(3.0), scalar),
        ("scalar-vec", lambda tg: tg.Tensor(2.0) @ tg.Tensor(x[0]), scalar),
        ("none", lambda tg: tg.Tensor(x) @ None, error("None", "NoneType", "can't create", "unsupported")),
        ("string", lambda tg: tg.Tensor(x) @ "abc", error("abc", "str", "can't create", "not supported")),
        ("list", lambda tg: tg.Tensor(x) @ w.tolist(), value(_mm_ref(x, w), dtype="float32", tol=MM_TOL)),
        ("ndarray", lambda tg: tg.Tensor(x) @ w, value(_mm_ref(x, w), dtype="float32", tol=MM_TOL)),
        ("ndarray-left", lambda tg: x @ tg.Tensor(w), value(_mm_ref(x, w), dtype="float32", tol=MM_TOL)),
        ("pyscalar", lambda tg: tg.Tensor(x) @ 2.0, scalar),
        ("dot", lambda tg: tg.Tensor(x).dot(tg.Tensor(w)), value(_mm_ref(x, w), dtype="float32", tol=MM_TOL)),
        (
            "reverse",
            lambda tg: tg.Tensor(x).matmul(tg.Tensor(w @ x), reverse=True),
            error("(3, 3)", "(2, 3)", *SHAPE_WORDS),
        ),
        (
            "reverse-fits",
            lambda tg: tg.Tensor(x).matmul(tg.Tensor(x @ w), reverse=True),
            value(_mm_ref(x @ w, x), dtype="float32", tol=1e-4),
        ),
        (
            "dtype-arg",
            lambda tg: tg.Tensor(x).matmul(tg.Tensor(w), dtype=tg.dtypes.float64),
            value(_mm_ref(x, w), dtype="float64", tol=MM_TOL),
        ),
        (
            "int-half",
            lambda tg: tg.Tensor(np.array([[1, 2]], np.int32)) @ tg.Tensor(np.array([[0.5], [2.0]], np.float16)),
            value(lambda: np.array([[4.5]], np.float16)),
        ),
        (
            "nan-inf",
            lambda tg: (
                tg.Tensor(np.array([[np.nan, 1], [np.inf, 1]], np.float32)) @ tg.Tensor(np.ones((2, 2), np.float32))
            ),
            value(lambda: np.array([[np.nan, np.nan], [np.inf, np.inf]], np.float32)),
        ),
        (
            "inf-times-zero",
            lambda tg: tg.Tensor(np.array([[np.inf, 1]], np.float32)) @ tg.Tensor(np.array([[0], [1]], np.float32)),
            value(lambda: np.array([[np.nan]], np.float32)),
        ),
        (
            "tensor-in-list",
            lambda tg: tg.Tensor(x) @ [tg.Tensor(w[0]), tg.Tensor(w[1]), tg.Tensor(w[2])],
            either(_mm_ref(x, w), "Tensor", "can't create", "not supported", dtype="float32"),
        ),
    ]
    for name, run, exp in other:
        yield Case(f"ops/matmul/{name}", run, exp)


BAD_OPERANDS: list[tuple[str, Any, tuple[str, ...]]] = [
    ("none", None, ("None", "NoneType")),
    ("string", "a", ("'a'", "str", "<U1")),
    ("bytes", b"x", ("b'x'", "bytes", "S1")),
    ("complex", 1 + 2j, ("complex",)),
    ("object", object(), ("object",)),
    ("dict", {"a": 1}, ("dict", "{'a': 1}", "object")),
    ("set", {1, 2}, ("set", "{1, 2}", "object")),
    ("function", len, ("function", "builtin_function_or_method", "len", "object")),
]


def elementwise_cases() -> Iterator[Case]:
    a, row, col = _r(2, 3), _r(3), _r(2, 1)
    ok: list[tuple[str, Callable[[Any], Any], Callable[[], np.ndarray]]] = [
        ("row-broadcast", lambda tg: tg.Tensor(a) + tg.Tensor(row), lambda: a + row),
        ("outer-broadcast", lambda tg: tg.Tensor(col) * tg.Tensor(row), lambda: col * row),
        ("scalar-tensor", lambda tg: tg.Tensor(2.0) - tg.Tensor(a), lambda: np.float32(2) - a),
        (
            "empty-broadcast",
            lambda tg: tg.Tensor(np.zeros((0, 3), np.float32)) + tg.Tensor(row),
            lambda: np.zeros((0, 3), np.float32),
        ),
        ("list-operand", lambda tg: tg.Tensor(a) + row.tolist(), lambda: a + row),
        ("tuple-operand", lambda tg: tg.Tensor(a) + tuple(row.tolist()), lambda: a + row),
        ("ndarray-operand", lambda tg: tg.Tensor(a) * row, lambda: a * row),
        ("bool-operand", lambda tg: tg.Tensor(a) * True, lambda: a),
        ("reverse-sub", lambda tg: 1 - tg.Tensor(a), lambda: np.float32(1) - a),
        ("reverse-div", lambda tg: 2 / tg.Tensor(a), lambda: np.float32(2) / a),
        (
            "zero-div-zero",
            lambda tg: tg.Tensor(np.zeros(2, np.float32)) / 0,
            lambda: np.array([np.nan, np.nan], np.float32),
        ),
        (
            "inf-minus-inf",
            lambda tg: tg.Tensor(np.array([np.inf], np.float32)) - np.inf,
            lambda: np.array([np.nan], np.float32),
        ),
        ("nan-times", lambda tg: tg.Tensor(a) * float("nan"), lambda: np.full((2, 3), np.nan, np.float32)),
        ("maximum", lambda tg: tg.Tensor(a).maximum(tg.Tensor(row)), lambda: np.maximum(a, row)),
        ("neg-relu", lambda tg: (-tg.Tensor(a)).relu(), lambda: np.maximum(-a, 0)),
        (
            "chain",
            lambda tg: ((tg.Tensor(a) + 1) * 3 - tg.Tensor(row) / 2).relu(),
            lambda: np.maximum((a + 1) * 3 - row / 2, 0),
        ),
        ("np-scalar", lambda tg: tg.Tensor(a) * np.float64(0.5), lambda: a * np.float32(0.5)),
        ("np-int-scalar", lambda tg: tg.Tensor(a) + np.int64(3), lambda: a + np.float32(3)),
        ("huge-const", lambda tg: tg.Tensor(a) * 1e300, lambda: (a.astype(np.float64) * 1e300).astype(np.float32)),
        ("fraction", lambda tg: tg.Tensor(a) * Fraction(1, 2), lambda: a * np.float32(0.5)),
    ]
    for name, run, ref in ok:
        yield Case(f"ops/elementwise/{name}", run, value(ref, tol=4e-6))
    yield Case(
        "ops/elementwise/mismatch",
        lambda tg: tg.Tensor(a) + tg.Tensor(_r(4, 3)),
        error("(2, 3)", "(4, 3)", "broadcast"),
    )
    yield Case(
        "ops/elementwise/mismatch-inner",
        lambda tg: tg.Tensor(a) * tg.Tensor(_r(2)),
        error("(2, 3)", "(2,)", "broadcast"),
    )
    for op, f in [
        ("add", lambda x, y: x + y),
        ("mul", lambda x, y: x * y),
        ("div", lambda x, y: x / y),
        ("rsub", lambda x, y: y - x),
        ("maximum", lambda x, y: x.maximum(y)),
    ]:
        for name, operand, mentions in BAD_OPERANDS:
            run = lambda tg, f=f, v=operand: f(tg.Tensor(a), v)  # noqa: E731
            yield Case(
                f"ops/elementwise/{op}-{name}", run, error(*mentions, "can't create", "not supported", "unsupported")
            )
    yield Case(
        "ops/elementwise/decimal",
        lambda tg: tg.Tensor(a) * Decimal("0.5"),
        either(lambda: a * np.float32(0.5), "Decimal", "decimal"),
    )


def reduce_cases() -> Iterator[Case]:
    x = _r(2, 3, 4)
    axis_words = ("out of range", "axis", "dim")
    table: list[tuple[str, Callable[[Any], Any], Expect]] = [
        ("all", lambda tg: tg.Tensor(x).sum(), value(lambda: x.astype(np.float64).sum(), dtype="float32", tol=1e-5)),
        ("axis-list", lambda tg: tg.Tensor(x).sum(axis=[0, 2]), value(lambda: x.sum(axis=(0, 2)), tol=1e-5)),
        ("negative-axis", lambda tg: tg.Tensor(x).sum(-1), value(lambda: x.sum(-1), tol=1e-5)),
        ("keepdim", lambda tg: tg.Tensor(x).max(axis=1, keepdim=True), value(lambda: x.max(axis=1, keepdims=True))),
        ("mean-axes", lambda tg: tg.Tensor(x).mean(axis=(0, 1)), value(lambda: x.mean(axis=(0, 1)), tol=1e-5)),
        (
            "dtype-arg",
            lambda tg: tg.Tensor(x).sum(dtype=tg.dtypes.float64),
            value(lambda: x.astype(np.float64).sum(), tol=1e-12),
        ),
        (
            "empty-sum",
            lambda tg: tg.Tensor(np.zeros((0, 3), np.float32)).sum(0),
            value(lambda: np.zeros(3, np.float32)),
        ),
        (
            "empty-rows-sum",
            lambda tg: tg.Tensor(np.zeros((0, 3), np.float32)).sum(1),
            value(lambda: np.zeros(0, np.float32)),
        ),
        (
            "empty-int-max",
            lambda tg: tg.Tensor(np.zeros((2, 0), np.int32)).max(1),
            either(lambda: np.full(2, -(2**31), np.int32), "empty", "zero-size"),
        ),
        (
            "empty-max",
            lambda tg: tg.Tensor(np.zeros((0,), np.float32)).max(),
            either(lambda: np.array(-np.inf, np.float32), "empty", "zero-size", "identity"),
        ),
        (
            "empty-mean",
            lambda tg: tg.Tensor(np.zeros((0,), np.float32)).mean(),
            either(lambda: np.array(np.nan, np.float32), "empty", "zero-size"),
        ),
        ("scalar-axis0", lambda tg: tg.Tensor(2.0).sum(axis=0), either(lambda: np.array(2.0, np.float32), *axis_words)),
        (
            "scalar-axis-neg",
            lambda tg: tg.Tensor(2.0).max(axis=-1),
            either(lambda: np.array(2.0, np.float32), *axis_words),
        ),
        ("scalar-axis1", lambda tg: tg.Tensor(2.0).sum(axis=1), error(*axis_words)),
        ("scalar-all", lambda tg: tg.Tensor(2.0).sum(), value(lambda: np.array(2.0, np.float32))),
        ("empty-axes", lambda tg: tg.Tensor(x).sum(axis=()), either(lambda: x, "axis", "empty")),
        ("out-of-range", lambda tg: tg.Tensor(x).sum(3), error("out of range")),
        ("too-negative", lambda tg: tg.Tensor(x).max(-4), error("out of range")),
        ("float-axis", lambda tg: tg.Tensor(x).sum(1.5), error("1.5", "integer", "float")),
        ("integral-float-axis", lambda tg: tg.Tensor(x).sum(1.0), error("1.0", "integer", "float")),
        ("string-axis", lambda tg: tg.Tensor(x).sum("1"), error("'1'", "integer", "str")),
        (
            "duplicate-axes",
            lambda tg: tg.Tensor(x).sum((0, 0)),
            error("duplicate", "(0, 0)", "repeated", "permutation"),
        ),
        (
            "duplicate-negative",
            lambda tg: tg.Tensor(x).sum((2, -1)),
            error("duplicate", "(2, -1)", "repeated", "permutation"),
        ),
        ("none-in-axes", lambda tg: tg.Tensor(x).sum((0, None)), error("None", "integer")),
        (
            "keepdim-string",
            lambda tg: tg.Tensor(x).sum(0, keepdim="yes"),
            either(lambda: x.sum(0, keepdims=True), "keepdim", "bool"),
        ),
        (
            "int-sum-axis",
            lambda tg: tg.Tensor(np.arange(6, dtype=np.int32).reshape(2, 3)).sum(1),
            value(lambda: np.array([3, 12], np.int32)),
        ),
    ]
    for name, run, exp in table:
        yield Case(f"ops/reduce/{name}", run, exp)


GIB = 1 << 30


def huge_cases() -> Iterator[Case]:
    oom = ("cannot allocate", "memory", "too large", "more elements")
    table: list[tuple[str, Callable[[Any], Any], Expect, float]] = [
        ("zeros-sum", lambda tg: tg.Tensor.zeros(2**40).sum(), either(lambda: np.array(0, np.float32), *oom), 60),
        (
            "ones-sum-2^33",
            lambda tg: tg.Tensor.ones(2**33).sum(),
            either(lambda: np.array(2**33, np.float32), *oom),
            60,
        ),
        (
            "ones-sum-2^25",
            lambda tg: tg.Tensor.ones(2**25).sum(),
            value(lambda: np.array(2**25, np.float32), tol=0),
            60,
        ),
        (
            "array-ones-sum-2^25",
            lambda tg: tg.Tensor(np.ones(2**25, np.float32)).sum(),
            value(lambda: np.array(2**25, np.float32), tol=0),
            60,
        ),
        (
            "quarter-mean-2^25",
            lambda tg: tg.Tensor(np.full(2**25, 0.25, np.float32)).mean(),
            value(lambda: np.array(0.25, np.float32), tol=0),
            60,
        ),
        (
            "matmul-k-2^25",
            lambda tg: tg.Tensor(np.ones((1, 2**25), np.float32)) @ tg.Tensor(np.ones((2**25, 1), np.float32)),
            value(lambda: np.array([[2**25]], np.float32), tol=0),
            60,
        ),
        ("rand-2^40", lambda tg: tg.Tensor.rand(2**40), error(*oom), 30),
        ("rand-2^62", lambda tg: tg.Tensor.rand(2**62), error(*oom), 30),
        ("rand-2^63", lambda tg: tg.Tensor.rand(2**63), error(*oom, "9223372036854775808", "overflow"), 30),
        ("rand-2^64", lambda tg: tg.Tensor.rand(2**64), error(*oom, "18446744073709551616", "overflow"), 30),
        ("rand-pair", lambda tg: tg.Tensor.rand(2**32, 2**32), error(*oom, "overflow"), 30),
        ("empty-realize", lambda tg: tg.Tensor.empty(2**40).realize(), error(*oom), 30),
        ("empty-numel", lambda tg: np.array(tg.Tensor.empty(2**20, 2**20).numel()), value(lambda: np.array(2**40)), 30),
        (
            "full-shape",
            lambda tg: np.array(tg.Tensor.full((2**31, 2**31), 1.0).shape),
            either(lambda: np.array([2**31, 2**31]), *oom),
            30,
        ),
        (
            "outer-product",
            lambda tg: (tg.Tensor.ones(2**31, 1) @ tg.Tensor.ones(1, 2**31)).realize(),
            error(*oom, "overflow"),
            30,
        ),
        (
            "outer-then-sum",
            lambda tg: (tg.Tensor.ones(2**31, 1) @ tg.Tensor.ones(1, 2**31)).sum(),
            either(lambda: np.array(2.0**62, np.float32), *oom),
            60,
        ),
        (
            "expand-shrink",
            lambda tg: tg.Tensor.ones(1).expand(2**40).shrink(((5, 9),)),
            value(lambda: np.ones(4, np.float32)),
            30,
        ),
        (
            "expand-data-sum",
            lambda tg: tg.Tensor(np.array([2.0], np.float32)).expand(2**40).sum(),
            either(lambda: np.array(2.0**41, np.float32), *oom),
            60,
        ),
        (
            "expand-data-max",
            lambda tg: tg.Tensor(np.array([2.0], np.float32)).expand(2**40).max(),
            either(lambda: np.array(2.0, np.float32), *oom),
            60,
        ),
        (
            "ones-2^36-sum",
            lambda tg: tg.Tensor.ones(1).expand(1 << 36).sum(),
            value(lambda: np.array(2.0**36, np.float32), tol=0),
            60,
        ),
        ("arange-huge", lambda tg: tg.Tensor.arange(2**40), error(*oom, "Unable to allocate"), 30),
        ("eye-huge", lambda tg: tg.Tensor.eye(2**20), error(*oom, "Unable to allocate"), 30),
        (
            "from-huge-list",
            lambda tg: tg.Tensor([0.5] * (1 << 22)).sum(),
            value(lambda: np.array(2**21, np.float32), tol=0),
            60,
        ),
        ("reshape-huge", lambda tg: tg.Tensor.ones(4).reshape(2**62 + 1, 4), error("4611686018427387905", *oom), 30),
    ]
    for name, run, exp, timeout in table:
        yield Case(f"huge/{name}", run, exp, timeout=timeout)


def object_cases() -> Iterator[Case]:
    nested = np.arange(6, dtype=np.float32).reshape(2, 3)
    bad: list[tuple[str, Callable[[], Any], tuple[str, ...]]] = [
        ("string", lambda: "abc", ("'abc'", "str", "<U3")),
        ("dict", lambda: {"a": 1}, ("dict", "object")),
        ("set", lambda: {1, 2}, ("set", "object")),
        ("object", lambda: object(), ("object",)),
        ("function", lambda: len, ("builtin_function_or_method", "function", "object")),
        ("ragged", lambda: [[1, 2], [3]], ("inhomogeneous", "ragged", "sequence", "shape")),
        ("mixed-str", lambda: [1, "a"], ("'a'", "<U21", "str", "mixed")),
        ("none-in-list", lambda: [1.0, None], ("None", "object")),
        ("complex", lambda: 1 + 2j, ("complex",)),
        ("iterator", lambda: iter([1, 2]), ("list_iterator", "iterator", "object")),
        ("generator", lambda: (i for i in range(3)), ("generator", "object")),
        ("nested-tensor-list", lambda: [[1, 2], "ab"], ("'ab'", "str", "inhomogeneous", "<U21")),
    ]
    for name, make, mentions in bad:
        yield Case(
            f"objects/tensor/{name}",
            lambda tg, m=make: tg.Tensor(m()),
            error(*mentions, "can't create", "not supported"),
        )
    good: list[tuple[str, Callable[[Any], Any], Callable[[], np.ndarray], str | None]] = [
        ("nan", lambda tg: tg.Tensor(float("nan")), lambda: np.array(np.nan, np.float32), None),
        ("inf", lambda tg: tg.Tensor(float("-inf")), lambda: np.array(-np.inf, np.float32), None),
        ("empty-list", lambda tg: tg.Tensor([]), lambda: np.zeros((0,), np.float32), None),
        ("empty-nested", lambda tg: tg.Tensor([[], []]), lambda: np.zeros((2, 0), np.float32), None),
        ("empty-array", lambda tg: tg.Tensor(np.empty((0, 3), np.float32)), lambda: np.zeros((0, 3), np.float32), None),
        ("strided-view", lambda tg: tg.Tensor(nested[:, ::2]), lambda: nested[:, ::2], None),
        ("negative-strides", lambda tg: tg.Tensor(nested[::-1, ::-1]), lambda: nested[::-1, ::-1], None),
        ("fortran-order", lambda tg: tg.Tensor(np.asfortranarray(nested)), lambda: nested, None),
        ("read-only", lambda tg: tg.Tensor(_readonly(nested)), lambda: nested, None),
        ("zero-dim-array", lambda tg: tg.Tensor(np.array(1.5, np.float32)), lambda: np.array(1.5, np.float32), None),
        ("matrix", lambda tg: tg.Tensor(np.asmatrix(nested)), lambda: nested, None),
        ("tensor", lambda tg: tg.Tensor(tg.Tensor(nested)), lambda: nested, None),
        (
            "tensor-cast",
            lambda tg: tg.Tensor(tg.Tensor(nested), dtype=tg.dtypes.float16),
            lambda: nested.astype(np.float16),
            None,
        ),
        (
            "list-of-np",
            lambda tg: tg.Tensor([np.float32(1), np.float32(2)]),
            lambda: np.array([1, 2], np.float32),
            "float32|float64",
        ),
        (
            "nested-tuples",
            lambda tg: tg.Tensor(((1.0, 2.0), (3.0, 4.0))),
            lambda: np.array([[1, 2], [3, 4]], np.float32),
            None,
        ),
        ("device-cpu", lambda tg: tg.Tensor([1.0], device="CPU"), lambda: np.array([1.0], np.float32), None),
        ("device-lower", lambda tg: tg.Tensor([1.0], device="cpu"), lambda: np.array([1.0], np.float32), None),
    ]
    for name, run, ref, dtype in good:
        yield Case(f"objects/tensor/{name}", run, value(ref, dtype=dtype))
    maybe: list[tuple[str, Callable[[Any], Any], Callable[[], np.ndarray], tuple[str, ...]]] = [
        ("range", lambda tg: tg.Tensor(range(3)), lambda: np.arange(3, dtype=np.int32), ("range",)),
        ("decimal", lambda tg: tg.Tensor(Decimal("1.5")), lambda: np.array(1.5, np.float32), ("Decimal", "decimal")),
        ("fraction", lambda tg: tg.Tensor(Fraction(1, 2)), lambda: np.array(0.5, np.float32), ("Fraction", "fraction")),
        ("bytes", lambda tg: tg.Tensor(b"ab"), lambda: np.array([97, 98], np.uint8), ("b'ab'", "bytes", "S2")),
        (
            "memoryview",
            lambda tg: tg.Tensor(memoryview(np.ones(2, np.float32))),
            lambda: np.ones(2, np.float32),
            ("memoryview",),
        ),
        ("bool-list", lambda tg: tg.Tensor([True, False]), lambda: np.array([True, False]), ("bool",)),
        (
            "masked-array",
            lambda tg: tg.Tensor(np.ma.masked_array([1.0, 2.0], mask=[0, 1])),
            lambda: np.array([1.0, 2.0]),
            ("mask",),
        ),
        (
            "list-of-tensors",
            lambda tg: tg.Tensor([tg.Tensor(1.0), tg.Tensor(2.0)]),
            lambda: np.array([1, 2], np.float32),
            ("Tensor",),
        ),
    ]
    for name, run, ref, mentions in maybe:
        yield Case(f"objects/tensor/{name}", run, either(ref, *mentions, "not supported", "can't create"))
    yield Case(
        "objects/tensor/bytearray",
        lambda tg: tg.Tensor(bytearray(b"\x01\x02")),
        either(lambda: np.array([1, 2]), "bytearray", "uint8", dtype="uint8|int32"),
    )
    yield Case("objects/tensor/none", lambda tg: tg.Tensor(None), Expect(check=_empty_or_zero, mentions=("None",)))
    misc: list[tuple[str, Callable[[Any], Any], Expect]] = [
        ("device-metal", lambda tg: tg.Tensor([1.0], device="METAL"), error("METAL")),
        ("device-int", lambda tg: tg.Tensor([1.0], device=123), error("123", "device")),
        ("device-empty", lambda tg: tg.Tensor([1.0], device=""), error("''", "device")),
        ("device-getitem", lambda tg: tg.Device["NOPE"], error("NOPE")),
        ("item-many", lambda tg: tg.Tensor([1.0, 2.0]).item(), error("item", "one element", "numel")),
        ("len-scalar", lambda tg: len(tg.Tensor(1.0)), error("len", "0-d")),
        ("full-string", lambda tg: tg.Tensor.full((2,), "a"), error("'a'", "str")),
        ("full-none", lambda tg: tg.Tensor.full((2,), None), error("None", "NoneType")),
        (
            "full-list",
            lambda tg: tg.Tensor.full((2,), [1, 2]),
            either(lambda: np.array([1, 2], np.int32), "list", "[1, 2]"),
        ),
        ("full-nan", lambda tg: tg.Tensor.full((2,), float("nan")), value(lambda: np.full(2, np.nan, np.float32))),
        ("full-complex", lambda tg: tg.Tensor.full((2,), 1j), error("complex", "1j")),
        ("seed-string", lambda tg: tg.Tensor.manual_seed("abc"), error("'abc'", "str", "integer")),
        ("seed-float", lambda tg: _seeded(tg, 1.5), Expect(check=_rand_ok, mentions=("1.5", "integer", "float"))),
        ("seed-negative", lambda tg: _seeded(tg, -1), checked(_rand_ok)),
        ("seed-huge", lambda tg: _seeded(tg, 2**70), checked(_rand_ok)),
        ("seed-repeat", lambda tg: _same_twice(tg), value(lambda: np.array(True))),
        ("numpy-of-lazy", lambda tg: tg.Tensor.ones(2, 2).numpy(), value(lambda: np.ones((2, 2), np.float32))),
        ("tolist", lambda tg: np.array(tg.Tensor([[1.0, 2.0]]).tolist()), value(lambda: np.array([[1.0, 2.0]]))),
    ]
    for name, run, exp in misc:
        yield Case(f"objects/misc/{name}", run, exp)


def _empty_or_zero(a: np.ndarray) -> str | None:
    """Tensor(None): an empty tensor, or tinygrad's 0-d zero."""
    return None if a.shape == (0,) or (a.shape == () and a == 0) else f"Tensor(None) gave {a!r}"


def _readonly(a: np.ndarray) -> np.ndarray:
    b = a.copy()
    b.flags.writeable = False
    return b


def _seeded(tg: Any, seed: int) -> Any:
    tg.Tensor.manual_seed(seed)
    return tg.Tensor.rand(8)


def _rand_ok(a: np.ndarray) -> str | None:
    return None if a.shape == (8,) and ((a >= 0) & (a < 1)).all() else f"rand gave {a}"


def _same_twice(tg: Any) -> Any:
    tg.Tensor.manual_seed(7)
    first = tg.Tensor.rand(16).numpy()
    tg.Tensor.manual_seed(7)
    return np.array(bool((first == tg.Tensor.rand(16).numpy()).all()))


def cases() -> Iterator[Case]:
    yield from matmul_cases()
    yield from elementwise_cases()
    yield from reduce_cases()
    yield from huge_cases()
    yield from object_cases()
