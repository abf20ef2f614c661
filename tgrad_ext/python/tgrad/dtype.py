"""dtypes with tinygrad's names. tgrad supports half, float, double and int."""

from __future__ import annotations

import dataclasses

import numpy as np

from tgrad.errors import DTypeError


@dataclasses.dataclass(frozen=True, eq=True)
class DType:
    priority: int
    itemsize: int
    name: str
    fmt: str

    def __repr__(self) -> str:
        return f"dtypes.{_CANONICAL[self.name]}"

    @property
    def np(self):
        return np.dtype(self.fmt).type

    def vec(self, n: int):  # pragma: no cover - tinygrad API presence only
        raise DTypeError("vector dtypes are outside tgrad's subset")


_CANONICAL = {"half": "half", "float": "float", "double": "double", "int": "int"}


class dtypes:
    half = float16 = DType(9, 2, "half", "e")
    float = float32 = DType(11, 4, "float", "f")
    double = float64 = DType(12, 8, "double", "d")
    int = int32 = DType(6, 4, "int", "i")
    default_float = float32
    default_int = int32

    @staticmethod
    def is_float(x: DType) -> bool:
        return x in (dtypes.half, dtypes.float, dtypes.double)

    @staticmethod
    def is_int(x: DType) -> bool:
        return x == dtypes.int

    @staticmethod
    def from_np(x) -> DType:
        return from_numpy(np.dtype(x))


_BY_NP = {
    np.dtype(np.float16): dtypes.half,
    np.dtype(np.float32): dtypes.float,
    np.dtype(np.float64): dtypes.double,
    np.dtype(np.int32): dtypes.int,
}
_BY_NAME = {"half": dtypes.half, "float": dtypes.float, "double": dtypes.double, "int": dtypes.int}
_ALIASES = {
    "float16": dtypes.half,
    "float32": dtypes.float,
    "float64": dtypes.double,
    "int32": dtypes.int,
    "default_float": dtypes.default_float,
    "default_int": dtypes.default_int,
}
SUPPORTED = "half (float16), float (float32), double (float64), int (int32)"
# tinygrad's other dtype names: known, so they are refused as unsupported rather than read as numpy spellings
# ("uint" is uint32 in tinygrad but uint64 in numpy, "void" a zero-byte numpy type)
_TINYGRAD_ONLY = frozenset(
    "bool int8 uint8 int16 uint16 uint32 int64 uint64 bfloat16 char uchar short ushort uint long ulong "
    "fp8e4m3 fp8e5m2 fp8e4m3fnuz fp8e5m2fnuz void weakint weakfloat index".split()
)


def from_numpy(dt: np.dtype) -> DType:
    dt = np.dtype(dt)
    if dt.byteorder not in "=|":
        dt = dt.newbyteorder("=")  # the same values in this machine's byte order (tensors copy their data)
    try:
        return _BY_NP[dt]
    except KeyError:
        raise DTypeError(f"numpy dtype {dt} is not supported by tgrad (supported: {SUPPORTED})") from None


def from_name(name: str) -> DType:
    return _BY_NAME[name]


def to_dtype(x) -> DType:
    """Accept a DType, a numpy dtype or type, tinygrad's name of a supported dtype, or a numpy spelling."""
    if isinstance(x, DType):
        return x
    if isinstance(x, str):
        if x in _BY_NAME or x in _ALIASES:
            return _BY_NAME.get(x) or _ALIASES[x]
        if x in _TINYGRAD_ONLY:
            raise DTypeError(f"dtype {x!r} is not supported by tgrad (supported: {SUPPORTED})")
    try:
        dt = np.dtype(x)
    except TypeError:
        raise DTypeError(f"{x!r} is not a dtype tgrad knows (supported: {SUPPORTED})") from None
    return from_numpy(dt)
