"""Corpus cases: every numpy dtype and every tinygrad dtype name, through each way a dtype reaches a tensor, and
the promotions, wrap-around and overflow of the supported ones."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from corpus import Case, Expect, either, error, value

DATA = np.array([1, 2, 3])
FLOATS = np.array([1.5, -2.5, 3.0], np.float32)


def _np_array(spec: str) -> np.ndarray:
    """[1, 2, 3] as numpy dtype `spec` (void: the int32 bytes viewed as V4)."""
    if spec == "V4":
        return DATA.astype(np.int32).view("V4")
    if spec == "object":
        return DATA.astype(object)
    return DATA.astype(spec)


# numpy dtype spec -> (what the result must be: a numpy dtype, or None when no tensor of it exists)
NUMPY_DTYPES: dict[str, str | None] = {
    "bool": "bool",
    "int8": "int8",
    "int16": "int16",
    "int32": "int32",
    "int64": "int64",
    "uint8": "uint8",
    "uint16": "uint16",
    "uint32": "uint32",
    "uint64": "uint64",
    "float16": "float16",
    "float32": "float32",
    "float64": "float64",
    ">f4": "float32",
    ">i4": "int32",
    ">f8": "float64",
    "<f4": "float32",
    "longdouble": None,
    "complex64": None,
    "complex128": None,
    "clongdouble": None,
    "U3": None,
    "S3": None,
    "V4": None,
    "datetime64[s]": None,
    "timedelta64[s]": None,
    "object": None,
}


def _dtype_mentions(spec: str) -> tuple[str, ...]:
    dt = np.dtype(spec) if spec != "object" else np.dtype(object)
    return (str(dt), dt.name, spec, "not supported", "dtype", "can't create")


def numpy_dtype_cases() -> Iterator[Case]:
    forms: dict[str, tuple[Callable[[Any, str], Any], Callable[[str], np.ndarray]]] = {
        "from-array": (lambda tg, s: tg.Tensor(_np_array(s)), lambda out: DATA.astype(out)),
        "dtype-arg": (lambda tg, s: tg.Tensor([1, 2, 3], dtype=np.dtype(s)), lambda out: DATA.astype(out)),
        "zeros": (lambda tg, s: tg.Tensor.zeros(3, dtype=np.dtype(s)), lambda out: np.zeros(3, out)),
        "cast": (lambda tg, s: tg.Tensor(FLOATS).cast(np.dtype(s)), lambda out: FLOATS.astype(out)),
        "full": (lambda tg, s: tg.Tensor.full((2,), 3, dtype=np.dtype(s)), lambda out: np.full(2, 3, out)),
        "arange": (lambda tg, s: tg.Tensor.arange(4, dtype=np.dtype(s)), lambda out: np.arange(4).astype(out)),
    }
    for form, (run, ref) in forms.items():
        for spec, out in NUMPY_DTYPES.items():
            cid = f"dtypes/numpy/{form}/{spec}"
            if spec == "object" and form != "from-array":
                continue  # np.dtype(object) as a dtype argument is the same case as "from-array" of objects
            if out is None:
                exp = error(*_dtype_mentions(spec))
            elif out == "bool" and form == "cast":
                exp = value(lambda: FLOATS.astype(bool))
            else:
                exp = value(lambda r=ref, o=out: r(o), dtype=out)
            yield Case(cid, lambda tg, r=run, s=spec: r(tg, s), exp, full_only=form in ("full", "arange"))


# tinygrad's dtype names -> the numpy dtype of the result (None: no numpy equivalent; the case casts to float32)
TINYGRAD_NAMES: dict[str, str | None] = {
    "bool": "bool",
    "int8": "int8",
    "uint8": "uint8",
    "int16": "int16",
    "uint16": "uint16",
    "int32": "int32",
    "uint32": "uint32",
    "int64": "int64",
    "uint64": "uint64",
    "float16": "float16",
    "float32": "float32",
    "float64": "float64",
    "half": "float16",
    "float": "float32",
    "double": "float64",
    "int": "int32",
    "char": "int8",
    "uchar": "uint8",
    "short": "int16",
    "ushort": "uint16",
    "uint": "uint32",
    "long": "int64",
    "ulong": "uint64",
    "bfloat16": None,
    "fp8e4m3": None,
    "fp8e5m2": None,
}
BAD_NAMES = ["float33", "Float32", "", "fp32", "int 32", "void", "weakint"]


def tinygrad_name_cases() -> Iterator[Case]:
    def via(tg: Any, name: str, how: str, exotic: bool) -> Any:
        if how == "attr":
            dt = getattr(tg.dtypes, name)
            t = tg.Tensor([1, 2], dtype=dt)
        elif how == "ones":
            t = tg.Tensor.ones(2, dtype=name) * 2 - 1
        elif how == "cast":
            t = tg.Tensor([1.0, 2.0]).cast(name)
        else:
            t = tg.Tensor([1, 2], dtype=name)
        return t.cast(tg.dtypes.float32) if exotic else t

    for how in ("string", "attr", "ones", "cast"):
        for name, out in TINYGRAD_NAMES.items():
            exotic = out is None
            ref_dtype = "float32" if exotic else out
            mentions = (name, "not supported", "has no attribute")
            vals = [1, 1] if how == "ones" else [1, 2]  # ones(2) * 2 - 1, else [1, 2]
            exp = either(lambda d=ref_dtype, v=vals: np.array(v).astype(d), *mentions, dtype=ref_dtype)
            run = lambda tg, n=name, h=how, e=exotic: via(tg, n, h, e)  # noqa: E731
            yield Case(f"dtypes/name/{how}/{name}", run, exp, full_only=how == "ones")
        for name in BAD_NAMES:
            run = lambda tg, n=name, h=how: via(tg, n, h, False)  # noqa: E731
            yield Case(
                f"dtypes/name/{how}/bad-{name or 'empty'}", run, error(repr(name), f"'{name}'", "has no attribute")
            )


def _t(tg: Any, data: Any, dtype: str | None = None) -> Any:
    return tg.Tensor(data) if dtype is None else tg.Tensor(data, dtype=getattr(tg.dtypes, dtype))


I32_MAX = 2**31 - 1


def promotion_cases() -> Iterator[Case]:
    a32, b16 = np.array([1.5, 2.25], np.float32), np.array([0.5, 4.0], np.float16)
    ints = np.array([7, -3], np.int32)
    table: list[tuple[str, Callable[[Any], Any], Expect]] = [
        ("int-plus-float", lambda tg: _t(tg, ints) + _t(tg, a32), value(lambda: ints + a32, dtype="float32")),
        ("int-times-pyfloat", lambda tg: _t(tg, ints) * 2.5, value(lambda: (ints * 2.5).astype(np.float32))),
        ("int-plus-pyint", lambda tg: _t(tg, ints) + 5, value(lambda: ints + np.int32(5))),
        ("half-plus-float", lambda tg: _t(tg, b16) + _t(tg, a32), value(lambda: b16.astype(np.float32) + a32)),
        ("half-plus-pyfloat", lambda tg: _t(tg, b16) + 0.25, value(lambda: b16 + np.float16(0.25))),
        (
            "half-matmul",
            lambda tg: _t(tg, b16.reshape(1, 2)) @ _t(tg, b16.reshape(2, 1)),
            value(
                lambda: (b16.reshape(1, 2).astype(np.float32) @ b16.reshape(2, 1).astype(np.float32)).astype(np.float16)
            ),
        ),
        (
            "half-matmul-float",
            lambda tg: _t(tg, b16.reshape(1, 2)) @ _t(tg, a32.reshape(2, 1)),
            value(lambda: b16.reshape(1, 2).astype(np.float32) @ a32.reshape(2, 1)),
        ),
        (
            "int-matmul",
            lambda tg: (
                _t(tg, np.arange(6, dtype=np.int32).reshape(2, 3)) @ _t(tg, np.arange(6, dtype=np.int32).reshape(3, 2))
            ),
            value(lambda: np.arange(6, dtype=np.int32).reshape(2, 3) @ np.arange(6, dtype=np.int32).reshape(3, 2)),
        ),
        (
            "int-matmul-float",
            lambda tg: _t(tg, ints.reshape(1, 2)) @ _t(tg, a32.reshape(2, 1)),
            value(lambda: ints.reshape(1, 2).astype(np.float32) @ a32.reshape(2, 1)),
        ),
        (
            "int-true-div",
            lambda tg: _t(tg, ints) / _t(tg, np.array([2, 4], np.int32)),
            value(lambda: (ints / np.array([2, 4])).astype(np.float32)),
        ),
        ("int-div-zero", lambda tg: _t(tg, ints) / 0, value(lambda: np.array([np.inf, -np.inf], np.float32))),
        (
            "float-div-zero",
            lambda tg: _t(tg, np.array([1.0, -1.0, 0.0], np.float32)) / 0.0,
            value(lambda: np.array([np.inf, -np.inf, np.nan], np.float32)),
        ),
        (
            "int-add-wraps",
            lambda tg: _t(tg, np.array([I32_MAX], np.int32)) + 1,
            value(lambda: np.array([-(2**31)], np.int32)),
        ),
        (
            "int-mul-wraps",
            lambda tg: _t(tg, np.array([2**20], np.int32)) * _t(tg, np.array([2**12], np.int32)),
            value(lambda: np.array([0], np.int32)),
        ),
        ("int-sum-wraps", lambda tg: _t(tg, np.full(4, 2**30, np.int32)).sum(), value(lambda: np.array(0, np.int32))),
        (
            "half-overflow",
            lambda tg: _t(tg, np.array([60000.0], np.float16)) * 2,
            value(lambda: np.array([np.inf], np.float16)),
        ),
        (
            "half-const-overflow",
            lambda tg: _t(tg, np.array([1.0, 2.0], np.float16)) + 1e5,
            value(lambda: np.array([np.inf, np.inf], np.float16)),
        ),
        (
            "float-const-overflow",
            lambda tg: _t(tg, np.array([1.0], np.float32)) * 1e39,
            value(lambda: np.array([np.inf], np.float32)),
        ),
        (
            "float-const-tiny",
            lambda tg: _t(tg, np.array([1.0], np.float32)) * 1e-46,
            value(lambda: np.array([0.0], np.float32)),
        ),
        (
            "double-exact",
            lambda tg: _t(tg, np.array([0.1], np.float64)) + _t(tg, np.array([0.2], np.float64)),
            value(lambda: np.array([0.1 + 0.2]), tol=0),
        ),
        ("double-const", lambda tg: _t(tg, np.array([1.0], np.float64)) * 1e300 * 10, value(lambda: np.array([1e301]))),
        ("int-mean", lambda tg: _t(tg, ints).mean(), value(lambda: np.array(2.0, np.float32))),
        ("int-sum", lambda tg: _t(tg, ints).sum(), value(lambda: np.array(4, np.int32))),
        ("int-max", lambda tg: _t(tg, ints).max(), value(lambda: np.array(7, np.int32))),
        (
            "cast-trunc",
            lambda tg: _t(tg, np.array([3.7, -3.7], np.float32)).cast(tg.dtypes.int32),
            value(lambda: np.array([3, -3], np.int32)),
        ),
        (
            "cast-int-to-half-inf",
            lambda tg: _t(tg, np.array([70000], np.int32)).cast(tg.dtypes.float16),
            value(lambda: np.array([np.inf], np.float16)),
        ),
        (
            "cast-double-to-float",
            lambda tg: _t(tg, np.array([1e300, 1e-300])).cast(tg.dtypes.float32),
            value(lambda: np.array([np.inf, 0.0], np.float32)),
        ),
        ("pyint-max", lambda tg: tg.Tensor(I32_MAX), value(lambda: np.array(I32_MAX, np.int32))),
        ("pyint-min", lambda tg: tg.Tensor(-(2**31)), value(lambda: np.array(-(2**31), np.int32))),
        ("pyint-over", lambda tg: tg.Tensor(2**31), error("2147483648", "does not fit", "overflow", "out of range")),
        (
            "pyint-huge",
            lambda tg: tg.Tensor(2**100),
            error("1267650600228229401496703205376", "does not fit", "overflow", "too large"),
        ),
        (
            "pyint-list-over",
            lambda tg: tg.Tensor([1, 2**40]),
            error("1099511627776", "does not fit", "overflow", "out of range"),
        ),
        (
            "pyint-list-huge",
            lambda tg: tg.Tensor([1, 2**70]),
            error("1180591620717411303424", "does not fit", "overflow", "too large"),
        ),
        ("pyint-beside-float", lambda tg: tg.Tensor([1.5, 2**40]), value(lambda: np.array([1.5, 2**40], np.float32))),
        (
            "const-over-int",
            lambda tg: _t(tg, ints) + 2**40,
            either(lambda: ints + np.float32(2**40), "1099511627776", "does not fit", dtype="float32"),
        ),
        (
            "full-int-over",
            lambda tg: tg.Tensor.full((2,), 2**31, dtype=tg.dtypes.int32),
            error("2147483648", "does not fit", "overflow", "out of range"),
        ),
        (
            "np-int64-scalar",
            lambda tg: tg.Tensor(np.int64(5)),
            either(lambda: np.array(5), "int64", "not supported", dtype="int32|int64"),
        ),
        (
            "np-float64-scalar",
            lambda tg: tg.Tensor(np.float64(2.5)),
            value(lambda: np.array(2.5), dtype="float32|float64"),
        ),
        (
            "np-int64-array-big",
            lambda tg: tg.Tensor(np.array([2**40], np.int64)),
            either(lambda: np.array([2**40], np.int64), "int64", "1099511627776", "does not fit"),
        ),
        ("bool-scalar", lambda tg: tg.Tensor(True), either(lambda: np.array(True), "bool")),
        (
            "float-to-int-dtype",
            lambda tg: tg.Tensor([1.7, -1.7], dtype=tg.dtypes.int32),
            value(lambda: np.array([1, -1], np.int32)),
        ),
        (
            "int-to-half-dtype",
            lambda tg: tg.Tensor([1, 70000], dtype=tg.dtypes.float16),
            value(lambda: np.array([1, np.inf], np.float16)),
        ),
    ]
    for name, run, exp in table:
        yield Case(f"dtypes/ops/{name}", run, exp)


def cases() -> Iterator[Case]:
    yield from numpy_dtype_cases()
    yield from tinygrad_name_cases()
    yield from promotion_cases()
