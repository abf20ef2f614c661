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


def from_numpy(dt: np.dtype) -> DType:
    try:
        return _BY_NP[np.dtype(dt)]
    except KeyError:
        raise DTypeError(
            f"numpy dtype {np.dtype(dt)} is not supported by tgrad (supported: float16, float32, float64, int32)"
        ) from None


def from_name(name: str) -> DType:
    return _BY_NAME[name]


def to_dtype(x) -> DType:
    """Accept a DType, a numpy dtype or type, or a name."""
    if isinstance(x, DType):
        return x
    if isinstance(x, str):
        if x in _BY_NAME:
            return _BY_NAME[x]
        return from_numpy(np.dtype(x))
    try:
        return from_numpy(np.dtype(x))
    except TypeError:
        raise DTypeError(f"{x!r} is not a dtype tgrad supports") from None
