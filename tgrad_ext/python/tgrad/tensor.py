"""`Tensor`: tinygrad's API over tgrad's native lazy graph.

Every op is one call into the core (`LazyBuffer` methods), which owns the semantics:
broadcasting, dtype promotion, views, `dot`. This file only adapts Python arguments.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from tgrad import _native
from tgrad.device import Device
from tgrad.dtype import DType, dtypes, from_name, from_numpy, to_dtype
from tgrad.errors import DTypeError, InvalidArgumentError, ShapeError, UnsupportedError


def _shape_arg(args: tuple) -> tuple[int, ...]:
    """tinygrad accepts `f(2, 3)` and `f((2, 3))`."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    for a in args:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise InvalidArgumentError(f"shape dims must be integers, got {a!r} in {args}")
    return tuple(int(a) for a in args)


def _dims(args: tuple) -> tuple[int, ...]:
    shape = _shape_arg(args)
    if any(d < 0 for d in shape):
        raise InvalidArgumentError(f"negative dimension in shape {shape}")
    if any(d >= 2**63 for d in shape):
        raise ShapeError(f"shape {shape} has more elements than a tensor can hold")
    return shape


def _ints(values: Sequence, what: str) -> list[int]:
    """Integer arguments (Python or numpy ints, not bools), or an error naming the one that is not."""
    for v in values:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise InvalidArgumentError(f"{what} must be integers, got {v!r} in {tuple(values)}")
    return [int(v) for v in values]


def _dim(d: Any, ndim: int, what: str) -> int:
    """A dim index in -ndim..ndim-1 (a 0-d tensor takes 0 and -1, as in tinygrad), made non-negative."""
    (d,) = _ints((d,), what)
    n = max(ndim, 1)
    if not -n <= d < n:
        raise InvalidArgumentError(f"{what} {d} is out of range for a tensor with {ndim} dims")
    return d % n


def _check_int_range(lo: int, hi: int) -> None:
    """Python and numpy ints must fit int32 (tgrad's int), never wrap silently."""
    if lo < -(2**31) or hi > 2**31 - 1:
        bad = hi if hi > 2**31 - 1 else lo
        raise DTypeError(f"{bad} does not fit int (int32: from {-(2**31)} to {2**31 - 1})")


def _has_big_ints(data: Any) -> bool:
    """Whether nested lists hold Python ints beyond int64 (numpy would refuse or wrap them)."""
    if isinstance(data, (list, tuple)):
        return builtins.any(_has_big_ints(x) for x in data)
    return isinstance(data, builtins.int) and not isinstance(data, bool) and not -(2**63) <= data < 2**63


def _plain(data: Any) -> Any:
    """Nested lists with any Tensors in them replaced by their values (numpy cannot read a Tensor)."""
    if isinstance(data, Tensor):
        return data.numpy()
    if isinstance(data, (list, tuple)) and builtins.any(isinstance(x, (Tensor, list, tuple)) for x in data):
        return [_plain(x) for x in data]
    return data


_new = object.__new__


def _wrap(lb) -> Tensor:
    """A Tensor around a native node, without `__init__`'s argument handling (the hot path)."""
    t = _new(Tensor)
    t._lb = lb
    return t


class Tensor:
    __slots__ = ("_lb",)
    __array_priority__ = 1000  # so `ndarray @ Tensor` defers to Tensor.__rmatmul__

    def __init__(self, data: Any, device: str | None = None, dtype: Any = None, requires_grad: bool | None = None):
        if requires_grad:
            raise UnsupportedError("autograd (requires_grad=True) is outside tgrad's subset")
        Device.canonicalize(device)
        dt = to_dtype(dtype) if dtype is not None else None
        if isinstance(data, Tensor):
            self._lb = data._lb if dt is None else data._lb.cast(dt.name)
            return
        if isinstance(data, _native.LazyBuffer):
            self._lb = data
            return
        if isinstance(data, (bool, np.bool_)):
            raise DTypeError("bool tensors are outside tgrad's subset (supported: half, float, double, int)")
        if isinstance(data, (int, float, np.integer, np.floating)) and not isinstance(data, bool):
            if dt is None:
                dt = dtypes.default_float if isinstance(data, (float, np.floating)) else dtypes.default_int
            if isinstance(data, (int, np.integer)) and dt.name == "int":
                _check_int_range(int(data), int(data))
            self._lb = _native.full(float(data), dt.name, [])
            return
        if data is None:
            self._lb = _native.full(0.0, (dt or dtypes.default_float).name, [0])
            return
        if isinstance(data, (list, tuple)):
            data = _plain(data)
        arr = np.asarray(data) if not _has_big_ints(data) else np.asarray(data, dtype=object)
        if arr.dtype.kind == "O" and builtins.any(x is None for x in arr.reshape(-1)):
            raise DTypeError(f"None in the data of a tensor: {data!r}")
        if dt is None:
            if arr.dtype.kind == "f" and not isinstance(data, np.ndarray):
                dt = dtypes.default_float  # python floats -> float32, as in tinygrad
            elif arr.dtype.kind in "iu" and not isinstance(data, np.ndarray):
                dt = dtypes.default_int
            elif arr.dtype.kind == "O" and not isinstance(data, np.ndarray):
                is_int = builtins.all(isinstance(x, builtins.int) for x in arr.reshape(-1))
                dt = dtypes.default_int if is_int else dtypes.default_float
            elif arr.size == 0 and arr.dtype == np.float64 and not isinstance(data, np.ndarray):
                dt = dtypes.default_float
            elif arr.dtype.kind == "b":
                raise DTypeError("bool tensors are outside tgrad's subset (supported: half, float, double, int)")
            else:
                dt = from_numpy(arr.dtype)
        if dt.name == "int" and arr.size and (arr.dtype.kind in "iuO"):
            _check_int_range(int(arr.min()), int(arr.max()))
        arr = np.asarray(arr, dtype=dt.np, order="C")  # not ascontiguousarray: it makes 0-d arrays 1-d
        raw = memoryview(arr.reshape(-1)).cast("B") if arr.size else b""
        self._lb = _native.from_bytes(raw, dt.name, list(arr.shape))

    # ------------------------------------------------------------------ properties
    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self._lb.shape)

    @property
    def dtype(self) -> DType:
        return from_name(self._lb.dtype)

    @property
    def device(self) -> str:
        return Device.DEFAULT

    @property
    def ndim(self) -> int:
        return len(self._lb.shape)

    @property
    def requires_grad(self) -> None:
        return None

    def numel(self) -> int:
        return self._lb.numel()

    def element_size(self) -> int:
        return self.dtype.itemsize

    def nbytes(self) -> int:
        return self.numel() * self.element_size()

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self) -> str:
        state = "realized" if self._lb.is_realized() else "lazy"
        return f"<Tensor {state} {self.shape} {self.dtype!r} on {self.device}>"

    # ------------------------------------------------------------------ realization
    def realize(self, *lst: Tensor) -> Tensor:
        if lst:
            _native.realize([self._lb, *(t._lb for t in lst)])
        else:
            self._lb.realize()  # the hot path: one call, no list
        return self

    def numpy(self) -> np.ndarray:
        out = np.empty(self.shape, dtype=self.dtype.np)
        if out.size:
            _native.copy_out(self._lb, memoryview(out.reshape(-1)).cast("B"))
        return out

    def tolist(self) -> Any:
        return self.numpy().tolist()

    def item(self) -> Any:
        if self.numel() != 1:
            raise InvalidArgumentError(f"item() needs a tensor with one element, this one has shape {self.shape}")
        return self.numpy().reshape(()).item()

    def data(self) -> memoryview:
        return memoryview(self.numpy())

    def contiguous(self) -> Tensor:
        return _wrap(self._lb.contiguous())

    def clone(self) -> Tensor:
        """A copy in a new buffer."""
        return _wrap(self._lb.clone())

    def cast(self, dtype: Any) -> Tensor:
        return _wrap(self._lb.cast(to_dtype(dtype).name))

    def float(self) -> Tensor:
        return self.cast(dtypes.float32)

    def half(self) -> Tensor:
        return self.cast(dtypes.float16)

    def double(self) -> Tensor:
        return self.cast(dtypes.float64)

    def int(self) -> Tensor:
        return self.cast(dtypes.int32)

    # ------------------------------------------------------------------ creation
    @staticmethod
    def full(
        shape: tuple[int, ...] | int, fill_value: builtins.float | builtins.int, dtype: Any = None, **kwargs
    ) -> Tensor:
        shape = _dims(shape if isinstance(shape, tuple) else (shape,))
        if dtype is None:
            dtype = dtypes.default_float if isinstance(fill_value, builtins.float) else dtypes.default_int
        return _wrap(_native.full(builtins.float(fill_value), to_dtype(dtype).name, list(shape)))

    @staticmethod
    def zeros(*shape, dtype: Any = None, **kwargs) -> Tensor:
        return Tensor.full(_dims(shape), 0.0, dtypes.default_float if dtype is None else dtype)

    @staticmethod
    def ones(*shape, dtype: Any = None, **kwargs) -> Tensor:
        return Tensor.full(_dims(shape), 1.0, dtypes.default_float if dtype is None else dtype)

    @staticmethod
    def empty(*shape, dtype: Any = None, **kwargs) -> Tensor:
        dt = to_dtype(dtypes.default_float if dtype is None else dtype)
        return Tensor.zeros(*shape, dtype=dt).contiguous()

    @staticmethod
    def eye(n: int, m: int | None = None, dtype: Any = None, **kwargs) -> Tensor:
        dt = to_dtype(dtypes.default_float if dtype is None else dtype)
        (n, m) = _dims((n, n if m is None else m))
        return Tensor(np.eye(n, m, dtype=dt.np), dtype=dt)

    @staticmethod
    def arange(start, stop=None, step=1, dtype: Any = None, **kwargs) -> Tensor:
        if stop is None:
            start, stop = 0, start
        for x in (start, stop, step):
            if isinstance(x, (bool, np.bool_)) or not isinstance(x, (builtins.int, builtins.float, np.number)):
                raise InvalidArgumentError(f"arange takes numbers, got {x!r} in ({start!r}, {stop!r}, {step!r})")
        if step == 0:
            raise InvalidArgumentError("arange step must not be zero")
        if dtype is None:
            is_int = all(isinstance(x, builtins.int) for x in (start, stop, step))
            dtype = dtypes.default_int if is_int else dtypes.default_float
        dt = to_dtype(dtype)
        return Tensor(np.arange(start, stop, step).astype(dt.np), dtype=dt)

    @staticmethod
    def manual_seed(seed: builtins.int = 0) -> None:
        _native.manual_seed(builtins.int(seed) & (2**64 - 1))

    @staticmethod
    def rand(*shape, dtype: Any = None, **kwargs) -> Tensor:
        dt = to_dtype(dtypes.default_float if dtype is None else dtype)
        return _wrap(_native.rand(dt.name, list(_dims(shape))))

    @staticmethod
    def randn(*shape, dtype: Any = None, **kwargs) -> Tensor:
        dt = to_dtype(dtypes.default_float if dtype is None else dtype)
        return _wrap(_native.randn(dt.name, list(_dims(shape))))

    @staticmethod
    def uniform(*shape, low=0.0, high=1.0, dtype: Any = None, **kwargs) -> Tensor:
        return Tensor.rand(*shape, dtype=dtype) * (high - low) + low

    @staticmethod
    def zeros_like(t: Tensor, dtype: Any = None) -> Tensor:
        return Tensor.zeros(t.shape, dtype=t.dtype if dtype is None else dtype)

    @staticmethod
    def ones_like(t: Tensor, dtype: Any = None) -> Tensor:
        return Tensor.ones(t.shape, dtype=t.dtype if dtype is None else dtype)

    # ------------------------------------------------------------------ movement (views)
    def reshape(self, shape, *args) -> Tensor:
        dims = tuple(shape) if isinstance(shape, (tuple, list)) else (shape, *args)
        dims = tuple(self.shape[i] if d is None else d for i, d in enumerate(dims))
        for d in dims:
            if isinstance(d, bool) or not isinstance(d, (builtins.int, np.integer)):
                raise InvalidArgumentError(f"reshape dims must be integers, got {d!r} in {dims}")
        return _wrap(self._lb.reshape([builtins.int(d) for d in dims]))

    def view(self, shape, *args) -> Tensor:
        return self.reshape(shape, *args)

    def permute(self, order, *args) -> Tensor:
        order = tuple(order) if isinstance(order, (tuple, list)) else (order, *args)
        ints = _ints(order, "permute order")
        if len(ints) != self.ndim:
            raise InvalidArgumentError(f"permute order {order} is not a permutation of {self.ndim} dims")
        return _wrap(self._lb.permute(ints))

    def transpose(self, dim0: builtins.int = 1, dim1: builtins.int = 0) -> Tensor:
        dim0, dim1 = _ints((dim0, dim1), "transpose dims")
        return _wrap(self._lb.transpose(dim0, dim1))

    @property
    def T(self) -> Tensor:
        return self.transpose()

    def expand(self, shape, *args) -> Tensor:
        dims = tuple(shape) if isinstance(shape, (tuple, list)) else (shape, *args)
        return _wrap(self._lb.expand(_ints(dims, "expand sizes")))

    def flatten(self, start_dim: builtins.int = 0, end_dim: builtins.int = -1) -> Tensor:
        s, e = _dim(start_dim, self.ndim, "flatten start_dim"), _dim(end_dim, self.ndim, "flatten end_dim")
        if self.ndim == 0:
            return self.reshape(1)
        return self.reshape((*self.shape[:s], math.prod(self.shape[s : e + 1]), *self.shape[e + 1 :]))

    def unsqueeze(self, dim: builtins.int) -> Tensor:
        (given,) = _ints((dim,), "unsqueeze dim")
        dim = given + self.ndim + 1 if given < 0 else given
        if not 0 <= dim <= self.ndim:
            raise InvalidArgumentError(f"unsqueeze dim {given} out of range for {self.ndim} dims")
        return self.reshape((*self.shape[:dim], 1, *self.shape[dim:]))

    def squeeze(self, dim: builtins.int | None = None) -> Tensor:
        if dim is None:
            return self.reshape(tuple(d for d in self.shape if d != 1))
        dim = _dim(dim, self.ndim, "squeeze dim")
        if self.ndim == 0 or self.shape[dim] != 1:
            return self
        return self.reshape((*self.shape[:dim], *self.shape[dim + 1 :]))

    def shrink(self, arg: Sequence[tuple[builtins.int, builtins.int] | None]) -> Tensor:
        if len(arg) != self.ndim:
            raise InvalidArgumentError(
                f"shrink takes a (start, end) pair or None for each of {self.ndim} dims, got {arg}"
            )
        ranges = []
        for i, (a, size) in enumerate(zip(arg, self.shape, strict=True)):
            if a is None:
                ranges.append((0, size))
                continue
            if not isinstance(a, (tuple, list)) or len(a) != 2:
                raise InvalidArgumentError(f"shrink takes a (start, end) pair or None per dim, got {a!r} for dim {i}")
            start, end = _ints(a, "shrink bounds")
            if not 0 <= start <= end <= size:
                raise ShapeError(f"shrink range {start}..{end} out of bounds for dim {i} of size {size}")
            ranges.append((start, end))
        return _wrap(self._lb.shrink(ranges))

    # ------------------------------------------------------------------ math
    def _const_like(self, x: Any) -> Tensor:
        if isinstance(x, Tensor):
            return x
        if x is None:
            raise InvalidArgumentError("None is not a tensor operand (Tensor(None) is an empty tensor: write it out)")
        if isinstance(x, (bool, np.bool_)):
            x = builtins.int(x)
        if isinstance(x, (builtins.float, np.floating)) and not dtypes.is_float(self.dtype):
            return _wrap(_native.full(builtins.float(x), dtypes.default_float.name, []))
        if isinstance(x, (builtins.int, builtins.float, np.integer, np.floating)):
            return _wrap(_native.full(builtins.float(x), self._lb.dtype, []))
        return Tensor(x)

    def _binary(self, op: str, x: Any, reverse: bool = False) -> Tensor:
        y = self._const_like(x)
        a, b = (y, self) if reverse else (self, y)
        return _wrap(a._lb.binary(op, b._lb))

    def add(self, x, reverse: bool = False) -> Tensor:
        return self._binary("add", x, reverse)

    def sub(self, x, reverse: bool = False) -> Tensor:
        return self._binary("sub", x, reverse)

    def mul(self, x, reverse: bool = False) -> Tensor:
        return self._binary("mul", x, reverse)

    def div(self, x, reverse: bool = False) -> Tensor:
        # true division: integers divide as floats, as in tinygrad
        a = self if dtypes.is_float(self.dtype) else self.float()
        y = self._const_like(x)
        y = y if dtypes.is_float(y.dtype) else y.float()
        return a._binary("div", y, reverse)

    def maximum(self, x) -> Tensor:
        return self._binary("max", x)

    def __add__(self, x) -> Tensor:
        return self.add(x)

    def __radd__(self, x) -> Tensor:
        return self.add(x, True)

    def __sub__(self, x) -> Tensor:
        return self.sub(x)

    def __rsub__(self, x) -> Tensor:
        return self.sub(x, True)

    def __mul__(self, x) -> Tensor:
        return self.mul(x)

    def __rmul__(self, x) -> Tensor:
        return self.mul(x, True)

    def __truediv__(self, x) -> Tensor:
        return self.div(x)

    def __rtruediv__(self, x) -> Tensor:
        return self.div(x, True)

    def __neg__(self) -> Tensor:
        return _wrap(self._lb.unary("neg"))

    def neg(self) -> Tensor:
        return -self

    def relu(self) -> Tensor:
        return _wrap(self._lb.unary("relu"))

    def _axes(self, axis) -> list[builtins.int]:
        if axis is None:
            return list(range(self.ndim))
        return _ints(axis if isinstance(axis, (tuple, list)) else (axis,), "reduce axes")

    def sum(self, axis=None, keepdim: bool = False, dtype: Any = None) -> Tensor:
        x = self if dtype is None else self.cast(dtype)
        return _wrap(x._lb.reduce("sum", self._axes(axis), keepdim))

    def max(self, axis=None, keepdim: bool = False) -> Tensor:
        return _wrap(self._lb.reduce("max", self._axes(axis), keepdim))

    def mean(self, axis=None, keepdim: bool = False) -> Tensor:
        s = self.float().sum(axis, keepdim) if not dtypes.is_float(self.dtype) else self.sum(axis, keepdim)
        n = math.prod(self.shape) // max(1, math.prod(s.shape)) if self.shape else 1
        return s / n

    def dot(self, w: Tensor, dtype: Any = None) -> Tensor:
        out = _wrap(self._lb.dot(w._lb))
        return out if dtype is None else out.cast(dtype)

    def matmul(self, x: Tensor, reverse: bool = False, dtype: Any = None) -> Tensor:
        return x.dot(self, dtype=dtype) if reverse else self.dot(x, dtype=dtype)

    def __matmul__(self, x) -> Tensor:
        if type(x) is Tensor:  # the hot path: one call into the core, `_wrap` inlined
            t = _new(Tensor)
            t._lb = self._lb.dot(x._lb)
            return t
        return self.matmul(self._const_like(x))

    def __rmatmul__(self, x) -> Tensor:
        return self.matmul(x if isinstance(x, Tensor) else Tensor(x), reverse=True)

    def linear(self, weight: Tensor, bias: Tensor | None = None) -> Tensor:
        x = self @ weight
        return x if bias is None else x + bias

    def sequential(self, layers) -> Tensor:
        x = self
        for f in layers:
            x = f(x)
        return x

    @staticmethod
    def cat(*args, dim: builtins.int = 0) -> Tensor:
        raise UnsupportedError("Tensor.cat is outside tgrad's subset")

    def elu(self, alpha: builtins.float = 1.0) -> Tensor:
        raise UnsupportedError("Tensor.elu is outside tgrad's subset")

    def __getitem__(self, idx):
        raise UnsupportedError("Tensor indexing is outside tgrad's subset (use shrink/reshape)")
