"""Constructors of `Tensor`: constants, ranges, and random tensors with tinygrad's initialisers (uniform, normal,
glorot and kaiming, randint). Random numbers come from the core's seeded generator (`manual_seed`); the
initialisers scale and shift them exactly as tinygrad's formulas do, so they have tinygrad's distributions (not its
bits: tinygrad draws with threefry)."""

from __future__ import annotations

import builtins
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from tgrad import _native
from tgrad.dtype import dtypes, supported
from tgrad.errors import InvalidArgumentError, ShapeError

if TYPE_CHECKING:
    from tgrad.tensor import Tensor


def _shape(args: tuple, unpack: bool = True) -> tuple[int, ...]:
    """tinygrad accepts `f(2, 3)` and `f((2, 3))` (`unpack`); every dim a non-negative integer."""
    if unpack and len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    for a in args:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise InvalidArgumentError(f"shape dims must be integers, got {a!r} in {args}")
    if any(a < 0 for a in args):
        raise InvalidArgumentError(f"negative dimension in shape {tuple(int(a) for a in args)}")
    if any(a >= 2**63 for a in args):
        raise ShapeError(f"shape {tuple(int(a) for a in args)} has more elements than a tensor can hold")
    return tuple(int(a) for a in args)


class CreationMixin:
    __slots__ = ()

    @classmethod
    def full(cls, shape: Any, fill_value: Any, dtype: Any = None, **kwargs: Any) -> Tensor:
        shape = _shape(tuple(shape) if isinstance(shape, (tuple, list)) else (shape,), unpack=False)
        if dtype is None:
            if isinstance(fill_value, (bool, np.bool_)):
                dtype = dtypes.bool
            elif isinstance(fill_value, (builtins.float, np.floating)):
                dtype = dtypes.default_float
            else:
                dtype = dtypes.default_int
        return cls._w(_native.full(builtins.float(fill_value), supported(dtype).name, list(shape)))

    @classmethod
    def zeros(cls, *shape: Any, dtype: Any = None, **kwargs: Any) -> Tensor:
        return cls.full(_shape(shape), 0.0, dtypes.default_float if dtype is None else dtype)

    @classmethod
    def ones(cls, *shape: Any, dtype: Any = None, **kwargs: Any) -> Tensor:
        return cls.full(_shape(shape), 1.0, dtypes.default_float if dtype is None else dtype)

    @classmethod
    def empty(cls, *shape: Any, dtype: Any = None, **kwargs: Any) -> Tensor:
        return cls.zeros(*shape, dtype=supported(dtypes.default_float if dtype is None else dtype)).contiguous()

    @classmethod
    def eye(cls, n: int, m: int | None = None, dtype: Any = None, **kwargs: Any) -> Tensor:
        dt = supported(dtypes.default_float if dtype is None else dtype)
        (n, m) = _shape((n, n if m is None else m))
        return cls(np.eye(builtins.max(n, 0), builtins.max(m, 0), dtype=dt.np), dtype=dt)

    @classmethod
    def arange(cls, start: Any, stop: Any = None, step: Any = 1, dtype: Any = None, **kwargs: Any) -> Tensor:
        if stop is None:
            start, stop = 0, start
        for x in (start, stop, step):
            if isinstance(x, (builtins.bool, np.bool_)) or not isinstance(x, (builtins.int, builtins.float, np.number)):
                raise InvalidArgumentError(f"arange takes numbers, got {x!r} in ({start!r}, {stop!r}, {step!r})")
        if step == 0:
            raise InvalidArgumentError("arange step must not be zero")
        if dtype is None:
            is_int = builtins.all(isinstance(x, builtins.int) for x in (start, stop, step))
            dtype = dtypes.default_int if is_int else dtypes.default_float
        dt = supported(dtype)
        return cls(np.arange(start, stop, step).astype(dt.np), dtype=dt)

    @classmethod
    def linspace(cls, start: Any, stop: Any, steps: int, dtype: Any = None, **kwargs: Any) -> Tensor:
        if steps < 0:
            raise InvalidArgumentError("number of steps must be non-negative")
        dt = supported(dtypes.default_float if dtype is None else dtype)
        if dt == dtypes.bool:
            raise InvalidArgumentError("linspace with bool dtype is not supported")
        if steps == 1:
            return cls.full((1,), start, dtype=dt)
        r = cls.arange(steps, dtype=dtypes.default_float) * ((stop - start) / (steps - 1)) + start
        return r.cast(dt)

    def full_like(self: Tensor, fill_value: Any, dtype: Any = None, **kwargs: Any) -> Tensor:
        return type(self).full(self.shape, fill_value, dtype=self.dtype if dtype is None else dtype)

    def zeros_like(self: Tensor, dtype: Any = None, **kwargs: Any) -> Tensor:
        return self.full_like(0, dtype=dtype)

    def ones_like(self: Tensor, dtype: Any = None, **kwargs: Any) -> Tensor:
        return self.full_like(1, dtype=dtype)

    def empty_like(self: Tensor, dtype: Any = None, **kwargs: Any) -> Tensor:
        return type(self).empty(*self.shape, dtype=self.dtype if dtype is None else dtype)

    def const_like(self: Tensor, b: Any, dtype: Any = None) -> Tensor:
        return self.full_like(b, dtype=dtype)

    def tril(self: Tensor, diagonal: int = 0) -> Tensor:
        """The lower triangle of the last two dims (elements j <= i + diagonal), zero elsewhere."""
        return self._tri_mask(diagonal, upper=False).where(self, self.zeros_like())

    def triu(self: Tensor, diagonal: int = 0) -> Tensor:
        return self._tri_mask(diagonal, upper=True).where(self, self.zeros_like())

    def _tri_mask(self: Tensor, diagonal: int, upper: bool) -> Tensor:
        r, c = self.shape[-2], self.shape[-1]
        i = type(self).arange(r).reshape(r, 1) + diagonal
        j = type(self).arange(c).reshape(1, c)
        return (i <= j) if upper else (j <= i)

    # ------------------------------------------------------------------ random
    @staticmethod
    def manual_seed(seed: int = 0) -> None:
        _native.manual_seed(builtins.int(seed) & (2**64 - 1))

    @classmethod
    def rand(cls, *shape: Any, dtype: Any = None, **kwargs: Any) -> Tensor:
        dt = supported(dtypes.default_float if dtype is None else dtype)
        if not dtypes.is_float(dt):
            raise InvalidArgumentError(f"rand only supports float dtypes, got {dt!r}")
        return cls._w(_native.rand(dt.name, list(_shape(shape))))

    @classmethod
    def randn(cls, *shape: Any, dtype: Any = None, **kwargs: Any) -> Tensor:
        dt = supported(dtypes.default_float if dtype is None else dtype)
        return cls._w(_native.randn(dt.name, list(_shape(shape))))

    def rand_like(self: Tensor, **kwargs: Any) -> Tensor:
        return type(self).rand(*self.shape, dtype=kwargs.pop("dtype", self.dtype))

    def randn_like(self: Tensor, dtype: Any = None, **kwargs: Any) -> Tensor:
        return type(self).randn(*self.shape, dtype=self.dtype if dtype is None else dtype)

    @classmethod
    def uniform(cls, *shape: Any, low: float = 0.0, high: float = 1.0, dtype: Any = None, **kwargs: Any) -> Tensor:
        if low >= high:
            raise InvalidArgumentError(f"Tensor.uniform requires low < high, got {low=}, {high=}")
        return ((high - low) * cls.rand(*shape)).cast(dtypes.default_float if dtype is None else dtype) + low

    @classmethod
    def normal(cls, *shape: Any, mean: float = 0.0, std: float = 1.0, **kwargs: Any) -> Tensor:
        if std < 0:
            raise InvalidArgumentError(f"Tensor.normal requires std >= 0, got {std=}")
        return std * cls.randn(*shape, **kwargs) + mean

    @classmethod
    def randint(cls, *shape: Any, low: int = 0, high: int = 10, dtype: Any = dtypes.int32, **kwargs: Any) -> Tensor:
        if not builtins.all(isinstance(v, builtins.int) for v in (low, high)):
            raise TypeError(f"{low=} and {high=} must be integers")
        if not dtypes.is_int(supported(dtype)):
            raise TypeError(f"{dtype=} must be int")
        if low >= high:
            raise InvalidArgumentError(f"Tensor.randint requires low < high, got {low=}, {high=}")
        return cls.uniform(*shape, low=low, high=high, dtype=dtype)

    @classmethod
    def scaled_uniform(cls, *shape: Any, **kwargs: Any) -> Tensor:
        return cls.uniform(*shape, low=-1.0, high=1.0, **kwargs).mul(math.prod(_shape(shape)) ** -0.5)

    @classmethod
    def glorot_uniform(cls, *shape: Any, **kwargs: Any) -> Tensor:
        s = _shape(shape)
        bound = (6 / (s[0] + math.prod(s[1:]))) ** 0.5
        return cls.uniform(*shape, low=-bound, high=bound, **kwargs)

    @classmethod
    def kaiming_uniform(cls, *shape: Any, a: float = 0.01, **kwargs: Any) -> Tensor:
        bound = (6 / (1 + a**2) / math.prod(_shape(shape)[1:])) ** 0.5
        return cls.uniform(*shape, low=-bound, high=bound, **kwargs)

    @classmethod
    def kaiming_normal(cls, *shape: Any, a: float = 0.01, **kwargs: Any) -> Tensor:
        std = (2 / (1 + a**2) / math.prod(_shape(shape)[1:])) ** 0.5
        return cls.normal(*shape, mean=0.0, std=std, **kwargs)
