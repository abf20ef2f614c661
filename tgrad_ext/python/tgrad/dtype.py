"""dtypes with tinygrad 0.14's names and fields. tgrad computes in bool, half, float, double and int; every other
tinygrad dtype exists (code that names it at import time keeps working) and raises DTypeError when a tensor is made
with it or cast to it."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from tgrad.errors import DTypeError

# tgrad's native dtype names (the core's `DType::name`)
SUPPORTED = ("bool", "half", "float", "double", "int")
SUPPORTED_NAMES = "bool, half (float16), float (float32), double (float64), int (int32)"


@dataclasses.dataclass(frozen=True, eq=True)
class DType:
    priority: int
    itemsize: int
    name: str
    fmt: str | None
    count: int = 1

    def __repr__(self) -> str:
        return f"dtypes.{_CANONICAL.get(self.name, self.name)}"

    def __lt__(self, other: DType) -> bool:
        return (self.priority, self.itemsize, self.name) < (other.priority, other.itemsize, other.name)

    @property
    def supported(self) -> bool:
        """Whether tgrad can hold and compute tensors of this dtype."""
        return self.name in SUPPORTED

    @property
    def np(self):
        if self.fmt is None:
            raise DTypeError(f"{self!r} has no numpy equivalent")
        return np.dtype(self.fmt).type

    @property
    def min(self):
        return _limits(self)[0]

    @property
    def max(self):
        return _limits(self)[1]

    def vec(self, n: int):
        raise DTypeError(f"vector dtypes ({self!r}.vec({n})) are outside tgrad's subset")


def _limits(d: DType):
    if d.name == "bool":
        return False, True
    if d.fmt in ("e", "f", "d"):
        return -math.inf, math.inf
    info = np.iinfo(np.dtype(d.fmt))
    return int(info.min), int(info.max)


def _d(priority: int, itemsize: int, name: str, fmt: str | None) -> DType:
    return DType(priority, itemsize, name, fmt)


class dtypes:
    void = _d(-1, 0, "void", None)
    bool = _d(0, 1, "bool", "?")
    int8 = char = _d(1, 1, "signed char", "b")
    uint8 = uchar = _d(2, 1, "unsigned char", "B")
    int16 = short = _d(3, 2, "short", "h")
    uint16 = ushort = _d(4, 2, "unsigned short", "H")
    int32 = int = _d(5, 4, "int", "i")
    uint32 = uint = _d(6, 4, "unsigned int", "I")
    int64 = long = _d(7, 8, "long", "q")
    uint64 = ulong = _d(8, 8, "unsigned long", "Q")
    fp8e4m3 = _d(10, 1, "float8_e4m3", None)
    fp8e4m3fnuz = _d(10, 1, "float8_e4m3fnuz", None)
    fp8e5m2 = _d(11, 1, "float8_e5m2", None)
    fp8e5m2fnuz = _d(11, 1, "float8_e5m2fnuz", None)
    float16 = half = _d(12, 2, "half", "e")
    bfloat16 = _d(13, 2, "__bf16", None)
    float32 = float = _d(14, 4, "float", "f")
    float64 = double = _d(15, 8, "double", "d")
    weakint = _d(5, 4, "weakint", None)
    weakfloat = _d(14, 4, "weakfloat", None)
    default_float = float32
    default_int = int32
    fp8s = (fp8e4m3, fp8e5m2, fp8e4m3fnuz, fp8e5m2fnuz)
    fp8_ocp = (fp8e4m3, fp8e5m2)
    fp8_fnuz = (fp8e4m3fnuz, fp8e5m2fnuz)
    floats = (*fp8s, float16, bfloat16, float32, float64)
    uints = (uint8, uint16, uint32, uint64)
    sints = (int8, int16, int32, int64)
    ints = (*uints, *sints)
    int8s, int16s, int32s, int64s = (int8, uint8), (int16, uint16), (int32, uint32), (int64, uint64)
    weaks = (weakint, weakfloat)
    all = (*floats, *ints, bool)

    @staticmethod
    def is_float(x: DType) -> bool:
        return x in dtypes.floats or x == dtypes.weakfloat

    @staticmethod
    def is_int(x: DType) -> bool:
        return x in dtypes.ints or x == dtypes.weakint

    @staticmethod
    def is_unsigned(x: DType) -> bool:
        return x in dtypes.uints

    @staticmethod
    def is_bool(x: DType) -> bool:
        return x == dtypes.bool

    @staticmethod
    def from_np(x) -> DType:
        return from_numpy(np.dtype(x))

    @staticmethod
    def from_py(x) -> DType:
        if isinstance(x, float):
            return dtypes.default_float
        if isinstance(x, bool):
            return dtypes.bool
        if isinstance(x, int):
            return dtypes.default_int
        if isinstance(x, (list, tuple)):
            return max((dtypes.from_py(v) for v in x), default=dtypes.default_float)
        raise DTypeError(f"could not infer dtype of {x!r}")

    @staticmethod
    def finfo(dtype: DType) -> tuple[int, int]:
        """(exponent bits, mantissa bits)"""
        if not dtypes.is_float(dtype):
            raise ValueError(f"{dtype} is not a floating point type")
        table = {"half": (5, 10), "__bf16": (8, 7), "float": (8, 23), "double": (11, 52)}
        return table.get(dtype.name, (4, 3) if "e4m3" in dtype.name else (5, 2))


_CANONICAL = {
    "signed char": "char",
    "unsigned char": "uchar",
    "unsigned short": "ushort",
    "unsigned int": "uint",
    "unsigned long": "ulong",
    "__bf16": "bfloat16",
    "float8_e4m3": "fp8e4m3",
    "float8_e4m3fnuz": "fp8e4m3fnuz",
    "float8_e5m2": "fp8e5m2",
    "float8_e5m2fnuz": "fp8e5m2fnuz",
}
_BY_NAME = {d.name: d for d in (*dtypes.all, dtypes.void)}
# every spelling tinygrad accepts as a dtype name ("float32", "half", "int64", ...)
_BY_ALIAS = {k: v for k, v in vars(dtypes).items() if isinstance(v, DType)}


def from_numpy(dt: np.dtype) -> DType:
    dt = np.dtype(dt)
    if dt.byteorder not in "=|":
        dt = dt.newbyteorder("=")  # the same values in this machine's byte order (tensors copy their data)
    match = next((d for d in dtypes.all if d.fmt is not None and np.dtype(d.fmt) == dt), None)
    if match is None:
        raise DTypeError(f"numpy dtype {dt} is not supported by tgrad (supported: {SUPPORTED_NAMES})")
    return match


def from_name(name: str) -> DType:
    return _BY_NAME[name]


def to_dtype(x) -> DType:
    """Accept a DType, a numpy dtype or type, any of tinygrad's dtype names, or a numpy spelling."""
    if isinstance(x, DType):
        return x
    if isinstance(x, str) and x in _BY_ALIAS:
        return _BY_ALIAS[x]
    if isinstance(x, str) and not x:
        raise DTypeError(f"'' is not a dtype tgrad knows (supported: {SUPPORTED_NAMES})")
    try:
        dt = np.dtype(x)
    except TypeError:
        raise DTypeError(f"{x!r} is not a dtype tgrad knows (supported: {SUPPORTED_NAMES})") from None
    return from_numpy(dt)


def supported(x) -> DType:
    """`x` as a DType tgrad computes in, or DTypeError naming the dtype and what tgrad supports."""
    d = to_dtype(x)
    if not d.supported:
        numpy_name = f", numpy {np.dtype(d.fmt).name}" if d.fmt is not None else ""
        name = repr(d)[len("dtypes.") :]
        raise DTypeError(
            f"dtype '{name}' ({d!r}{numpy_name}) is not supported by tgrad (supported: {SUPPORTED_NAMES}); the name"
            " exists so code written for tinygrad imports"
        )
    return d


def least_upper_float(d: DType) -> DType:
    return d if dtypes.is_float(d) else dtypes.default_float
