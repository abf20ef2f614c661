"""TinyJit with tinygrad's contract.

The first call runs the function as Python; the second runs it again while the engine records every
kernel it launches; later calls replay those kernels with the new input buffers, on whichever device
the process runs kernels on. Inputs are the Tensors among the positional arguments, then among the
keyword arguments sorted by name, then those inside list, tuple and dict arguments (one level). A
replay must see the same argument names and, for each input, the same shape, dtype and device;
anything the replay could not honour raises JitError instead of computing with the wrong buffers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

from tgrad import _native
from tgrad.errors import JitError, UnsupportedError
from tgrad.tensor import Tensor

R = TypeVar("R")
Name = int | str


def _inputs(args: tuple, kwargs: dict) -> tuple[list[Name], list[Tensor]]:
    """The argument names of the direct Tensor inputs, and every input Tensor (direct ones first)."""
    named = [(name, t) for name, t in [*enumerate(args), *sorted(kwargs.items())] if isinstance(t, Tensor)]
    names, tensors = [n for n, _ in named], [t for _, t in named]
    for x in (*args, *kwargs.values()):
        inner = x if isinstance(x, (tuple, list)) else x.values() if isinstance(x, dict) else ()
        tensors += [t for t in inner if isinstance(t, Tensor) and not any(t is s for s in tensors)]
    return names, tensors


_SCALARS = (bool, int, float, complex, str, bytes, type(None))


def _constants(args: tuple, kwargs: dict) -> dict[Name, Any]:
    """The scalar (non-Tensor) arguments by name: a replay computes with the values the capture saw, so a call
    with other values must not replay."""
    named = [*enumerate(args), *sorted(kwargs.items())]
    return {name: v for name, v in named if _is_constant(v)}


def _is_constant(v: Any) -> bool:
    if isinstance(v, (tuple, list)):
        return bool(v) and all(_is_constant(x) for x in v)
    return isinstance(v, _SCALARS) or (
        type(v).__module__ == "numpy" and hasattr(v, "item") and getattr(v, "ndim", 1) == 0
    )


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and (a == b or (a != a and b != b))  # NaN equals NaN here


def _tensors_in(ret: Any) -> list[Tensor]:
    """Every Tensor in a (nested) tuple, list or dict, ignoring anything else."""
    if isinstance(ret, Tensor):
        return [ret]
    if isinstance(ret, (tuple, list, dict)):
        return [t for v in (ret.values() if isinstance(ret, dict) else ret) for t in _tensors_in(v)]
    return []


def _check_return(ret: Any, where: str = "the return value") -> list[Tensor]:
    """Every Tensor in a (nested) tuple, list or dict return value; anything else cannot be replayed."""
    if ret is None:
        return []
    if isinstance(ret, Tensor):
        return [ret]
    if isinstance(ret, (tuple, list, dict)):
        items = ret.items() if isinstance(ret, dict) else enumerate(ret)
        return [t for k, v in items for t in _check_return(v, f"{where}[{k!r}]")]
    raise JitError(f"JIT return contains non-Tensor value of type {type(ret).__name__} ({where})")


def _prepare(args: tuple, kwargs: dict) -> tuple[list[Name], list[Tensor], list[tuple]]:
    names, tensors = _inputs(args, kwargs)
    if tensors:
        Tensor.realize(*tensors)
    ids = [t._lb.buffer_id() for t in tensors]
    if any(i is None for i in ids):
        raise JitError("JIT inputs must be real buffers; use .clone()")
    if len(set(ids)) != len(ids):
        raise JitError("duplicate inputs to JIT")
    info = [(t.shape, t.dtype, t.device) for t in tensors]
    return names, tensors, info


class _Captured:
    """What the second call recorded: the launches, the inputs' buffer ids, names and info, the return value."""

    def __init__(
        self, launches: Any, ret: Any, names: list[Name], ids: list[int], info: list[tuple], constants: dict[Name, Any]
    ):
        self.launches, self.ret, self.names, self.ids, self.info = launches, ret, names, ids, info
        self.constants = constants

    def __call__(self, tensors: list[Tensor]) -> Any:
        self.launches.replay([(i, t._lb) for i, t in zip(self.ids, tensors, strict=True)])
        return self.ret


class _TinyJit(Generic[R]):
    def __init__(self, fxn: Callable[..., R]):
        self.fxn = fxn
        self.cnt = 0
        self.captured: _Captured | None = None
        functools.update_wrapper(self, fxn)

    def reset(self) -> None:
        self.cnt, self.captured = 0, None

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        return functools.partial(self.__call__, obj)

    def __call__(self, *args: Any, **kwargs: Any) -> R:
        names, tensors, info = _prepare(args, kwargs)
        if self.cnt == 0:
            ret = self.fxn(*args, **kwargs)
            if outs := _tensors_in(ret):
                Tensor.realize(*outs)
        elif self.cnt == 1:
            ret = self._capture(args, kwargs, names, tensors, info)
        else:
            assert self.captured is not None
            if names != self.captured.names:
                raise JitError(f"args mismatch in JIT: captured with inputs {self.captured.names}, called with {names}")
            if info != self.captured.info:
                was, now = _show(self.captured.info), _show(info)
                raise JitError(f"args mismatch in JIT: captured with {was}, called with {now}")
            if self.captured.constants or len(names) != len(args) + len(kwargs):  # only Tensors: nothing to compare
                self._check_constants(args, kwargs)
            ret = self.captured(tensors)
        self.cnt += 1
        return ret

    def _capture(self, args: tuple, kwargs: dict, names: list[Name], tensors: list[Tensor], info: list[tuple]) -> Any:
        _native.capture_begin()
        try:
            ret = self.fxn(*args, **kwargs)
            if outs := _tensors_in(ret):
                Tensor.realize(*outs)
        finally:
            launches = _native.capture_end()
        if not len(launches):
            raise JitError("didn't JIT anything!")
        _check_return(ret)
        ids = [t._lb.buffer_id() for t in tensors]
        for out in outs:
            if out._lb.buffer_id() in ids:
                which = ids.index(out._lb.buffer_id())
                raise JitError(
                    f"the JIT function returns its input {_label(which, names)} unchanged: a replay would return "
                    "the captured tensor, not the new input; return a copy (.clone()) or leave it out"
                )
        self.captured = _Captured(launches, ret, names, ids, info, _constants(args, kwargs))
        return ret

    def _check_constants(self, args: tuple, kwargs: dict) -> None:
        assert self.captured is not None
        was, now = self.captured.constants, _constants(args, kwargs)
        for name in was.keys() | now.keys():
            if name not in was or name not in now or not _same(was[name], now[name]):
                what = f"argument {name}" if isinstance(name, int) else f"keyword argument {name!r}"
                raise JitError(
                    f"args mismatch in JIT: {what} was {was.get(name, '<not given>')!r} when captured, now "
                    f"{now.get(name, '<not given>')!r}; the replay would compute with the captured value (pass a "
                    "Tensor to vary it, or reset() the jit)"
                )


def _label(index: int, names: list[Name]) -> str:
    if index < len(names):
        name = names[index]
        return f"argument {name}" if isinstance(name, int) else f"keyword argument {name!r}"
    return f"input {index} (inside a container argument)"


def _show(info: list[tuple]) -> str:
    return "[" + ", ".join(f"{tuple(s)} {d} on {dev}" for s, d, dev in info) + "]"


@overload
def TinyJit(fxn: Callable[..., R], *, prune: bool = False) -> _TinyJit[R]: ...
@overload
def TinyJit(fxn: None = None, *, prune: bool = False) -> Callable[[Callable[..., R]], _TinyJit[R]]: ...
def TinyJit(fxn: Any = None, *, prune: bool = False) -> Any:
    """Decorate a function (`@TinyJit` or `@TinyJit(prune=False)`) so it replays its kernels after two calls."""
    if prune:
        raise UnsupportedError("TinyJit(prune=True) is not implemented in tgrad: every captured kernel is replayed")
    return (lambda f: _TinyJit(f)) if fxn is None else _TinyJit(fxn)
