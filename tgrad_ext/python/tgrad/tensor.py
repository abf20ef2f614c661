"""`Tensor`: tinygrad's API over tgrad's native lazy graph.

Every op is a call into the core (`LazyBuffer` methods and `_native` functions), which owns the semantics:
broadcasting, dtype promotion, views, `dot`, tinygrad's composite ops and autograd. This file and the mixins it
inherits (`tensor_*.py`) only adapt Python arguments.
"""

from __future__ import annotations

import builtins
import weakref
from typing import Any

import numpy as np

from tgrad import _native
from tgrad.device import Device
from tgrad.dtype import DType, dtypes, from_name, from_numpy, supported
from tgrad.errors import DTypeError, InvalidArgumentError
from tgrad.tensor_create import CreationMixin
from tgrad.tensor_math import MathMixin
from tgrad.tensor_reduce import ReduceMixin
from tgrad.tensor_shape import MovementMixin
from tgrad.unsupported import UnsupportedMixin


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
_ref = weakref.ref
# Every Tensor made, weakly: backward() gives a gradient to each live float tensor of the loss's graph, as tinygrad
# does with its all_tensors. Plain weak references (no callback) are cheapest to make on the hot path; dead ones are
# dropped when the list has doubled since the last sweep.
_live: list = []
_sweep_at = [1024]


def _sweep() -> None:
    _live[:] = [r for r in _live if r() is not None]
    _sweep_at[0] = max(1024, 2 * len(_live))


def _track(t: Tensor) -> None:
    _live.append(_ref(t))
    if len(_live) > _sweep_at[0]:
        _sweep()


def _live_tensors() -> list[Tensor]:
    return [t for t in (r() for r in _live) if t is not None]


def _wrap(lb) -> Tensor:
    """A Tensor around a native node, without `__init__`'s argument handling (the hot path)."""
    t = _new(Tensor)
    t._lb = lb
    _live.append(_ref(t))
    if len(_live) > _sweep_at[0]:
        _sweep()
    return t


def _node_of(data: Any, dt: DType | None):
    """The native node of a Tensor made from `data` (a Tensor, a node, a scalar, nested lists, an array, bytes)."""
    if isinstance(data, Tensor):
        return data._lb if dt is None else data._lb.cast(dt.name)
    if isinstance(data, _native.LazyBuffer):
        return data
    if isinstance(data, (bool, np.bool_)):
        return _native.full(builtins.float(data), (dt or dtypes.bool).name, [])
    if isinstance(data, (int, float, np.integer, np.floating)):
        if dt is None:
            dt = dtypes.default_float if isinstance(data, (float, np.floating)) else dtypes.default_int
        if isinstance(data, (int, np.integer)) and dt.name == "int":
            _check_int_range(int(data), int(data))
        return _native.full(float(data), dt.name, [])
    if data is None:
        return _native.full(0.0, (dt or dtypes.default_float).name, [0])
    if isinstance(data, (bytes, bytearray, memoryview)):
        data = np.frombuffer(bytes(data), dtype=np.uint8)
    if isinstance(data, (list, tuple)):
        data = _plain(data)
    arr = np.asarray(data) if not _has_big_ints(data) else np.asarray(data, dtype=object)
    if arr.dtype.kind == "O" and builtins.any(x is None for x in arr.reshape(-1)):
        raise DTypeError(f"None in the data of a tensor: {data!r}")
    if dt is None:
        from_python = not isinstance(data, np.ndarray)
        if arr.dtype.kind == "f" and from_python:
            dt = dtypes.default_float  # python floats -> float32, as in tinygrad
        elif arr.dtype.kind in "iu" and from_python:
            dt = dtypes.default_int
        elif arr.dtype.kind == "O" and from_python:
            is_int = builtins.all(isinstance(x, builtins.int) for x in arr.reshape(-1))
            dt = dtypes.default_int if is_int else dtypes.default_float
        elif arr.size == 0 and arr.dtype == np.float64 and from_python:
            dt = dtypes.default_float
        else:
            dt = supported(from_numpy(arr.dtype))
    if dt.name == "int" and arr.size and (arr.dtype.kind in "iuO"):
        _check_int_range(int(arr.min()), int(arr.max()))
    # not np.ascontiguousarray: it makes a 0-d array 1-d
    arr = np.asarray(arr, dtype=dt.np, order="C")
    raw = memoryview(arr.reshape(-1).view(np.uint8)) if arr.size else b""
    return _native.from_bytes(raw, dt.name, list(arr.shape))


class Tensor(CreationMixin, MathMixin, MovementMixin, ReduceMixin, UnsupportedMixin):
    __slots__ = ("__weakref__", "_grad", "_is_param", "_lb")
    __array_priority__ = 1000  # so `ndarray @ Tensor` defers to Tensor.__rmatmul__
    _w = staticmethod(_wrap)

    def __init__(self, data: Any, device: str | tuple | list | None = None, dtype: Any = None):
        Device.canonicalize(device[0] if isinstance(device, (tuple, list)) and device else device)
        self._lb = _node_of(data, supported(dtype) if dtype is not None else None)
        _track(self)

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

    def numel(self) -> int:
        return self._lb.numel()

    def element_size(self) -> int:
        return self.dtype.itemsize

    def nbytes(self) -> int:
        return self.numel() * self.element_size()

    def is_floating_point(self) -> bool:
        return dtypes.is_float(self.dtype)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self) -> str:
        state = "realized" if self._lb.is_realized() else "lazy"
        return f"<Tensor {state} {self.shape} {self.dtype!r} on {self.device}>"

    def __hash__(self) -> int:
        return id(self)

    def __bool__(self) -> bool:
        raise TypeError("__bool__ on Tensor is not defined")

    # ------------------------------------------------------------------ autograd state
    @property
    def grad(self) -> Tensor | None:
        return getattr(self, "_grad", None)

    @grad.setter
    def grad(self, g: Tensor | None) -> None:
        self._grad = g

    @property
    def is_param(self) -> bool:
        return getattr(self, "_is_param", True)

    @is_param.setter
    def is_param(self, v: bool) -> None:
        self._is_param = v

    def is_param_(self, is_param: bool = True) -> Tensor:
        self._is_param = is_param
        return self

    # ------------------------------------------------------------------ realization
    def realize(self, *lst: Tensor, do_update_stats: bool = True) -> Tensor:
        if lst:
            _native.realize([self._lb, *(t._lb for t in lst)])
        else:
            self._lb.realize()  # the hot path: one call, no list
        return self

    def numpy(self) -> np.ndarray:
        out = np.empty(self.shape, dtype=self.dtype.np)
        if out.size:
            _native.copy_out(self._lb, memoryview(out.reshape(-1).view(np.uint8)))
        return out

    def tolist(self) -> Any:
        return self.numpy().tolist()

    def item(self) -> Any:
        if self.numel() != 1:
            raise InvalidArgumentError(f"item() needs a tensor with one element, this one has shape {self.shape}")
        return self.numpy().reshape(()).item()

    def data(self) -> memoryview:
        return memoryview(self.numpy())

    def contiguous(self, **kwargs: Any) -> Tensor:
        return _wrap(self._lb.contiguous())

    def contiguous_backward(self) -> Tensor:
        return self

    def clone(self, device: str | None = None) -> Tensor:
        """A copy in a new buffer."""
        return _wrap(self._lb.clone())

    def detach(self) -> Tensor:
        return _wrap(_native.detach(self._lb))

    def cast(self, dtype: Any) -> Tensor:
        return _wrap(self._lb.cast(supported(dtype).name))

    def float(self) -> Tensor:
        return self.cast(dtypes.float32)

    def half(self) -> Tensor:
        return self.cast(dtypes.float16)

    def double(self) -> Tensor:
        return self.cast(dtypes.float64)

    def int(self) -> Tensor:
        return self.cast(dtypes.int32)

    def bool(self) -> Tensor:
        return self.cast(dtypes.bool)

    def to(self, device: str | tuple | None) -> Tensor:
        Device.canonicalize(device[0] if isinstance(device, (tuple, list)) and device else device)
        return self

    def to_(self, device: str | tuple | None) -> Tensor:
        return self.to(device)

    # ------------------------------------------------------------------ autograd
    def gradient(self, *targets: Tensor, gradient: Tensor | None = None) -> list[Tensor]:
        """The gradient of this (scalar, unless `gradient` is given) tensor with respect to each target."""
        seed = gradient._lb if gradient is not None else None
        grads = _native.gradient(self._lb, seed, [t._lb for t in targets])
        return [_wrap(g) if g is not None else t.zeros_like() for g, t in zip(grads, targets, strict=True)]

    def backward(self, gradient: Tensor | None = None) -> Tensor:
        """Fill `.grad` of every live float tensor this one depends on (accumulating into an existing `.grad`)."""
        found = [t for t in _live_tensors() if t._lb.dtype in ("half", "float", "double")]
        seed = gradient._lb if gradient is not None else None
        for t, g in zip(found, _native.gradient(self._lb, seed, [t._lb for t in found]), strict=True):
            if g is None:
                continue
            if t.grad is None:
                t.grad = _wrap(g)
            else:
                t.grad.assign(t.grad + _wrap(g))
        return self

    # ------------------------------------------------------------------ in-place
    def replace(self, x: Tensor) -> Tensor:
        if self.shape != x.shape:
            raise InvalidArgumentError(f"replace shape mismatch {self.shape} != {x.shape}")
        self._lb = x._lb
        return self

    def assign(self, x: Any) -> Tensor:
        """Make this tensor hold `x` (broadcast to this shape; the dtype must match), lazily like any op."""
        if not isinstance(x, Tensor):
            x = Tensor(x, dtype=self.dtype)
        if x._lb is self._lb:
            return self
        if x.shape != self.shape:
            x = x.expand(self.shape)
        if x.dtype != self.dtype:
            raise InvalidArgumentError(f"assign dtype mismatch {self.dtype!r} != {x.dtype!r}")
        self._lb = x._lb
        return self

    # ------------------------------------------------------------------ the matmul hot path
    def dot(self, w: Tensor, dtype: Any = None) -> Tensor:
        out = _wrap(self._lb.dot(w._lb))
        return out if dtype is None else out.cast(dtype)

    def matmul(self, x: Tensor, reverse: builtins.bool = False, dtype: Any = None) -> Tensor:
        return x.dot(self, dtype=dtype) if reverse else self.dot(x, dtype=dtype)

    def __matmul__(self, x) -> Tensor:
        if type(x) is Tensor:  # the hot path: one call into the core, `_wrap` inlined
            t = _new(Tensor)
            t._lb = self._lb.dot(x._lb)
            _live.append(_ref(t))
            if len(_live) > _sweep_at[0]:
                _sweep()
            return t
        return self.matmul(self._const_like(x))

    def __rmatmul__(self, x) -> Tensor:
        return self.matmul(x if isinstance(x, Tensor) else Tensor(x), reverse=True)
