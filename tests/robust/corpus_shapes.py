"""Corpus cases: shapes given to the constructors, and the arguments of the movement ops."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from corpus import Case, checked, either, error, value

X = np.arange(24, dtype=np.float32).reshape(2, 3, 4)  # the movement ops' operand
Y = np.arange(3, dtype=np.float32).reshape(3, 1)  # expand's operand
Z = np.arange(3, dtype=np.float32).reshape(1, 3, 1)  # squeeze's operand

INT_WORDS = ("integer", "integers", "must be int")


def _shape_check(shape: tuple[int, ...], lo: float | None = None, hi: float | None = None):
    def check(a: np.ndarray) -> str | None:
        if a.shape != shape:
            return f"shape {a.shape}, expected {shape}"
        if a.dtype != np.float32:
            return f"dtype {a.dtype}, expected float32"
        if a.size and not np.isfinite(a).all():
            return "non-finite values"
        if lo is not None and a.size and not (lo <= a.min() and a.max() < hi):
            return f"values outside [{lo}, {hi}): {a.min()}..{a.max()}"
        return None

    return check


# constructor -> (call(tg, args), expectation for a valid shape)
CTORS: dict[str, tuple[Callable[[Any, tuple], Any], Callable[[tuple[int, ...]], Any]]] = {
    "zeros": (lambda tg, a: tg.Tensor.zeros(*a), lambda s: value(lambda: np.zeros(s, np.float32))),
    "ones": (lambda tg, a: tg.Tensor.ones(*a), lambda s: value(lambda: np.ones(s, np.float32))),
    "full": (
        lambda tg, a: tg.Tensor.full(a[0] if len(a) == 1 else a, 2.5),
        lambda s: value(lambda: np.full(s, 2.5, np.float32)),
    ),
    "rand": (lambda tg, a: tg.Tensor.rand(*a), lambda s: checked(_shape_check(s, 0.0, 1.0))),
    "randn": (lambda tg, a: tg.Tensor.randn(*a), lambda s: checked(_shape_check(s))),
    "empty": (
        lambda tg, a: tg.Tensor.empty(*a),
        lambda s: checked(lambda x: None if x.shape == s else f"shape {x.shape}"),
    ),
}

# shape arguments: (name, args, the shape they mean or None when invalid, what an error must mention)
GOOD_SHAPES: list[tuple[str, tuple, tuple[int, ...]]] = [
    ("one-dim", (3,), (3,)),
    ("two-dims", (2, 3), (2, 3)),
    ("tuple", ((2, 3),), (2, 3)),
    ("list", ([2, 3],), (2, 3)),
    ("zero", (0,), (0,)),
    ("zero-inner", (2, 0), (2, 0)),
    ("np-int64", (np.int64(3),), (3,)),
    ("np-int32-mixed", (np.int32(2), 3), (2, 3)),
    ("eight-ones", (1,) * 8, (1,) * 8),
]
BAD_SHAPES: list[tuple[str, tuple, tuple[str, ...]]] = [
    ("minus-one", (-1,), ("negative", "-1")),
    ("negative-inner", (2, -3), ("negative", "-3")),
    ("float", (2.5,), ("2.5", *INT_WORDS)),
    ("integral-float", (3.0,), ("3.0", *INT_WORDS)),
    ("string", ("3",), ("'3'", *INT_WORDS)),
    ("none", (None,), ("None", *INT_WORDS)),
    ("none-in-tuple", ((2, None),), ("None", *INT_WORDS)),
    ("bytes", (b"3",), ("b'3'", *INT_WORDS)),
    ("nested-list", ([[2]],), ("[2]", *INT_WORDS)),
    ("complex", (2 + 0j,), ("complex", "(2+0j)", *INT_WORDS)),
    ("np-float", (np.float64(3),), ("3.0", *INT_WORDS)),
    ("object", (object(),), ("object", *INT_WORDS)),
    ("negative-float", (-2.5,), ("-2.5", "negative", *INT_WORDS)),
    ("nan", (float("nan"),), ("nan", *INT_WORDS)),
    ("inf", (float("inf"),), ("inf", *INT_WORDS)),
]


def constructor_cases() -> Iterator[Case]:
    for ctor, (call, good) in CTORS.items():
        for name, args, shape in GOOD_SHAPES:
            yield Case(f"shapes/{ctor}/{name}", lambda tg, c=call, a=args: c(tg, a), good(shape))
        for name, args, mentions in BAD_SHAPES:
            yield Case(f"shapes/{ctor}/{name}", lambda tg, c=call, a=args: c(tg, a), error(*mentions))
        # a bool is an int to Python; a shape of True is (1,) or an error, never anything else
        bool_exp = dataclasses.replace(good((1,)), mentions=("bool", "True", *INT_WORDS))
        yield Case(f"shapes/{ctor}/bool", lambda tg, c=call: c(tg, (True,)), bool_exp)
    yield Case(
        "shapes/eye/negative",
        lambda tg: tg.Tensor.eye(-2),
        error(
            "negative",
        ),
    )
    yield Case("shapes/eye/float", lambda tg: tg.Tensor.eye(2.5), error("2.5", *INT_WORDS))
    yield Case("shapes/eye/rect", lambda tg: tg.Tensor.eye(2, 3), value(lambda: np.eye(2, 3, dtype=np.float32)))
    yield Case("shapes/eye/zero", lambda tg: tg.Tensor.eye(0), value(lambda: np.eye(0, dtype=np.float32)))
    yield Case(
        "shapes/arange/float-step",
        lambda tg: tg.Tensor.arange(0, 1, 0.25),
        value(lambda: np.arange(0, 1, 0.25, dtype=np.float32)),
    )
    yield Case("shapes/arange/empty", lambda tg: tg.Tensor.arange(5, 2), value(lambda: np.arange(5, 2, dtype=np.int32)))
    yield Case(
        "shapes/arange/negative-step",
        lambda tg: tg.Tensor.arange(5, 0, -2),
        value(lambda: np.arange(5, 0, -2, dtype=np.int32)),
    )
    yield Case(
        "shapes/arange/zero-step",
        lambda tg: tg.Tensor.arange(0, 5, 0),
        error(
            "step",
        ),
    )
    yield Case("shapes/arange/string", lambda tg: tg.Tensor.arange("5"), error("'5'", "'str'"))


def _x(tg):
    return tg.Tensor(X)


def _np(f: Callable[[np.ndarray], np.ndarray], src: np.ndarray = X):
    return value(lambda: np.ascontiguousarray(f(src)))


# movement op -> list of (name, call on the operand, expectation)
def movement_cases() -> Iterator[Case]:
    def case(op: str, name: str, run: Callable[[Any], Any], exp) -> Case:
        return Case(f"movement/{op}/{name}", run, exp)

    reshape_good = [
        ("flat", (24,), (24,)),
        ("two", (6, 4), (6, 4)),
        ("infer", (-1,), (24,)),
        ("infer-inner", (4, -1), (4, 6)),
        ("list", ([3, 8],), (3, 8)),
        ("ones", (1, 24, 1), (1, 24, 1)),
        ("same", (2, 3, 4), (2, 3, 4)),
        ("np-ints", (np.int64(6), np.int32(4)), (6, 4)),
        ("infer-trailing", (24, -1), (24, 1)),
    ]
    for name, args, shape in reshape_good:
        yield case("reshape", name, lambda tg, a=args: _x(tg).reshape(*a), _np(lambda x, s=shape: x.reshape(s)))
    yield case("reshape", "none-keeps", lambda tg: _x(tg).reshape(None, 12), _np(lambda x: x.reshape(2, 12)))
    reshape_bad = [
        ("mismatch", (5, 5), ("(5, 5)",)),
        ("two-infer", (-1, -1), ("-1",)),
        ("zero", (0,), ("(0,)",)),
        ("negative", (-2, 12), ("-2", "negative")),
        ("float", (2.0, 12), ("2.0", *INT_WORDS)),
        ("string", ("2", 12), ("'2'", *INT_WORDS)),
        ("bool", (True, 24), ("True", "bool", *INT_WORDS)),
        ("wrap", (2**62 + 1, 4), ("4611686018427387905", "overflow", "too large")),
        ("huge-pair", (2**32, 2**32), ("4294967296", "overflow", "too large")),
        ("minus-24", (-24,), ("-24", "negative")),
        ("empty-args", ((),), ("()",)),
        ("nested", ([[2, 12]],), ("[2, 12]", *INT_WORDS)),
    ]
    for name, args, mentions in reshape_bad:
        yield case("reshape", name, lambda tg, a=args: _x(tg).reshape(*a), error(*mentions))

    permute = [
        ("rotate", (2, 0, 1), _np(lambda x: x.transpose(2, 0, 1))),
        ("negative", (-1, 0, 1), _np(lambda x: x.transpose(2, 0, 1))),
        ("identity", (0, 1, 2), _np(lambda x: x)),
        ("short", (0, 1), error("(0, 1)", "permutation")),
        ("duplicate", (0, 0, 1), error("(0, 0, 1)", "permutation")),
        ("out-of-range", (0, 1, 3), error("out of range", "permutation")),
        ("too-negative", (0, 1, -4), error("out of range", "permutation")),
        ("long", (0, 1, 2, 3), error("(0, 1, 2, 3)", "permutation")),
        ("float", (1.5, 0, 2), error("1.5", "integer", "integers")),
        ("integral-float", (1.0, 0, 2), error("1.0", "integer", "integers", "float")),
        ("string", ("1", 0, 2), error("'1'", "integer", "integers")),
        ("none", (None, 0, 1), error("None", "integer", "integers")),
        ("huge", (2**40, 0, 1), error("1099511627776", "out of range")),
    ]
    for name, args, exp in permute:
        yield case("permute", name, lambda tg, a=args: _x(tg).permute(*a), exp)
    yield case("permute", "list", lambda tg: _x(tg).permute([1, 2, 0]), _np(lambda x: x.transpose(1, 2, 0)))

    def ey(tg):
        return tg.Tensor(Y)

    expand = [
        ("cols", (3, 4), _np(lambda y: np.broadcast_to(y, (3, 4)), Y)),
        ("keep-dim", (-1, 4), _np(lambda y: np.broadcast_to(y, (3, 4)), Y)),
        ("new-leading", (2, 3, 4), _np(lambda y: np.broadcast_to(y, (2, 3, 4)), Y)),
        ("to-zero", (3, 0), _np(lambda y: np.broadcast_to(y, (3, 0)), Y)),
        ("same", (3, 1), _np(lambda y: y, Y)),
        (
            "fewer-dims",
            (3,),
            error(
                "(3,)",
            ),
        ),
        (
            "non-one",
            (4, 4),
            error(
                "(4, 4)",
            ),
        ),
        ("negative", (3, -2), error("-2", "negative")),
        ("float", (3, 4.0), error("4.0", *INT_WORDS)),
        ("string", (3, "4"), error("'4'", *INT_WORDS)),
        ("none", (3, None), error("None", *INT_WORDS)),
        ("overflow", (3, 2**62), error("4611686018427387904", "overflow", "too large")),
    ]
    for name, args, exp in expand:
        yield case("expand", name, lambda tg, a=args: ey(tg).expand(*a), exp)
    big = value(lambda: Y[:2, 0] * np.float32(2**20), tol=0)
    yield case("expand", "big-sum", lambda tg: tg.Tensor(Y[:2]).expand(2, 2**20).sum(1), big)

    shrink = [
        ("inner", ((0, 2), (1, 3), (0, 4)), _np(lambda x: x[0:2, 1:3, 0:4])),
        ("none", (None, None, (1, 2)), _np(lambda x: x[:, :, 1:2])),
        ("empty", ((0, 0), None, None), _np(lambda x: x[0:0])),
        ("past-end", ((0, 3), None, None), error("(0, 3)", "0..3", "out of bounds")),
        ("reversed", ((2, 1), None, None), error("(2, 1)", "2..1")),
        ("negative", ((-1, 2), None, None), error("(-1, 2)", "-1..2")),
        ("float", ((0, 1.5), None, None), error("1.5", *INT_WORDS)),
        ("integral-float", ((0.0, 1), None, None), error("0.0", *INT_WORDS)),
        ("short", ((0, 1),), error("3 dims", "ndim")),
        ("long", ((0, 1), None, None, None), error("3 dims", "ndim")),
        ("huge", ((0, 2**63), None, None), error("9223372036854775808", "too large", "overflow")),
        ("not-pairs", ((0, 1, 2), None, None), error("(0, 1, 2)", "pair")),
    ]
    for name, args, exp in shrink:
        yield case("shrink", name, lambda tg, a=args: _x(tg).shrink(a), exp)

    transpose = [
        ("default", (), None, _np(lambda x: x.swapaxes(1, 0))),
        ("negative", (-1, 0), None, _np(lambda x: x.swapaxes(-1, 0))),
        ("same", (1, 1), None, _np(lambda x: x)),
        (
            "out-of-range",
            (0, 3),
            None,
            error(
                "out of range",
            ),
        ),
        (
            "too-negative",
            (-4, 0),
            None,
            error(
                "out of range",
            ),
        ),
        ("float", (0.0, 1), None, error("0.0", "float", "integer")),
        ("string", ("a", 1), None, error("'a'", "'str'", "integer")),
    ]
    for name, args, _, exp in transpose:
        yield case("transpose", name, lambda tg, a=args: _x(tg).transpose(*a), exp)

    flatten = [
        ("all", (), _np(lambda x: x.reshape(-1))),
        ("from-one", (1,), _np(lambda x: x.reshape(2, 12))),
        ("last", (-1,), _np(lambda x: x)),
        ("range", (0, 1), _np(lambda x: x.reshape(6, 4))),
        (
            "out-of-range",
            (3,),
            error(
                "out of range",
            ),
        ),
        (
            "too-negative",
            (-4,),
            error(
                "out of range",
            ),
        ),
        (
            "end-out-of-range",
            (0, 5),
            error(
                "out of range",
            ),
        ),
        ("float", (1.5,), error("1.5", "integer", "integers")),
    ]
    for name, args, exp in flatten:
        yield case("flatten", name, lambda tg, a=args: _x(tg).flatten(*a), exp)

    unsqueeze = [
        ("front", 0, _np(lambda x: x[None])),
        ("back", 3, _np(lambda x: x[..., None])),
        ("negative", -1, _np(lambda x: x[..., None])),
        ("most-negative", -4, _np(lambda x: x[None])),
        ("out-of-range", 4, error("4 out of range", "dim=4 out of range")),
        ("too-negative", -5, error("-5 out of range", "dim=-5 out of range")),
        ("float", 1.5, error("1.5", "integer", "integers")),
        ("none", None, error("None", "integer", "integers")),
    ]
    for name, arg, exp in unsqueeze:
        yield case("unsqueeze", name, lambda tg, a=arg: _x(tg).unsqueeze(a), exp)

    def ez(tg):
        return tg.Tensor(Z)

    squeeze = [
        ("all", None, _np(lambda z: z.reshape(3), Z)),
        ("first", 0, _np(lambda z: z.reshape(3, 1), Z)),
        ("last", -1, _np(lambda z: z.reshape(1, 3), Z)),
        ("not-one", 1, _np(lambda z: z, Z)),
        (
            "out-of-range",
            3,
            error(
                "out of range",
            ),
        ),
        (
            "too-negative",
            -4,
            error(
                "out of range",
            ),
        ),
        ("float", 0.5, error("0.5", "integer", "integers")),
    ]
    for name, arg, exp in squeeze:
        yield case("squeeze", name, lambda tg, a=arg: ez(tg).squeeze(a), exp)

    yield case("T", "matrix", lambda tg: tg.Tensor(X[0]).T, _np(lambda x: x[0].T))
    yield case("T", "vector", lambda tg: tg.Tensor(X[0, 0]).T, either(lambda: X[0, 0], "out of range"))
    yield case("view", "flat", lambda tg: _x(tg).view(24), _np(lambda x: x.reshape(24)))
    yield case(
        "chain",
        "permute-reshape",
        lambda tg: _x(tg).permute(2, 0, 1).reshape(4, 6),
        _np(lambda x: x.transpose(2, 0, 1).reshape(4, 6)),
    )
    yield case(
        "chain",
        "expand-shrink",
        lambda tg: tg.Tensor(Y).expand(3, 5).shrink(((1, 3), (2, 4))),
        _np(lambda y: np.broadcast_to(y, (3, 5))[1:3, 2:4], Y),
    )


def cases() -> Iterator[Case]:
    yield from constructor_cases()
    yield from movement_cases()
