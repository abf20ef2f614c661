"""TinyJit with tinygrad's contract: the function runs as Python on its first two calls (the
second is captured), later calls replay the captured kernels with the new input buffers, on
whichever device the process runs kernels on."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from tgrad import _native
from tgrad.errors import ShapeError
from tgrad.tensor import Tensor

R = TypeVar("R")


def _tensors(args: tuple, kwargs: dict) -> list[Tensor]:
    return [a for a in (*args, *kwargs.values()) if isinstance(a, Tensor)]


def _outputs(ret: Any) -> list[Tensor]:
    if isinstance(ret, Tensor):
        return [ret]
    if isinstance(ret, (tuple, list)):
        return [r for r in ret if isinstance(r, Tensor)]
    if isinstance(ret, dict):
        return [r for r in ret.values() if isinstance(r, Tensor)]
    return []


class TinyJit(Generic[R]):
    def __init__(self, fxn: Callable[..., R]):
        self.fxn = fxn
        self.cnt = 0
        self.captured = None
        self.input_ids: list[int] = []
        self.input_sig: list[tuple] = []
        self.ret: Any = None
        functools.update_wrapper(self, fxn)

    def reset(self) -> None:
        self.cnt, self.captured, self.ret = 0, None, None

    def __get__(self, obj, objtype=None):
        return functools.partial(self.__call__, obj)

    def __call__(self, *args, **kwargs) -> R:
        inputs = _tensors(args, kwargs)
        if inputs:
            Tensor.realize(*inputs)
        sig = [(t.shape, t.dtype) for t in inputs]
        if self.cnt >= 2:
            if sig != self.input_sig:
                raise ShapeError(f"TinyJit was captured with inputs {self.input_sig}, called with {sig}")
            self.captured.replay([(i, t._lb) for i, t in zip(self.input_ids, inputs, strict=True)])
            self.cnt += 1
            return self.ret
        if self.cnt == 0:
            ret = self.fxn(*args, **kwargs)
            outs = _outputs(ret)
            if outs:
                Tensor.realize(*outs)
            self.cnt = 1
            return ret
        # second call: capture every kernel the function runs, outputs included
        _native.capture_begin()
        try:
            ret = self.fxn(*args, **kwargs)
            outs = _outputs(ret)
            if outs:
                Tensor.realize(*outs)
        finally:
            captured = _native.capture_end()
        self.captured, self.ret, self.input_sig = captured, ret, sig
        self.input_ids = [t._lb.buffer_id() for t in inputs]
        self.cnt = 2
        return ret
