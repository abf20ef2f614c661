"""Movement ops of `Tensor`: views (reshape, permute, expand, shrink, flip, strided slices), and the ops that write a
tensor into a larger one (pad, cat, stack). Indexing with ints, slices, None and Ellipsis is a view; indexing with
tensors or lists (gather) is outside tgrad's subset."""

from __future__ import annotations

import builtins
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tgrad import _native
from tgrad.errors import IndexingError, InvalidArgumentError, ShapeError, UnsupportedError

if TYPE_CHECKING:
    from tgrad.tensor import Tensor


def _ints(args: tuple, what: str) -> tuple[int, ...]:
    """Every entry an integer (callers have already unpacked tinygrad's `f(2, 3)` / `f((2, 3))` forms)."""
    for a in args:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise InvalidArgumentError(f"{what} must be integers, got {a!r} in {args}")
    return tuple(int(a) for a in args)


class MovementMixin:
    __slots__ = ()

    def _resolve_dim(self: Tensor, dim: int, extra: builtins.bool = False) -> int:
        n = self.ndim + int(extra)
        if not -builtins.max(1, n) <= dim < builtins.max(1, n):
            raise IndexingError(f"dim={dim} out of range [{-builtins.max(1, n)}, {builtins.max(1, n) - 1}]")
        return dim + n if dim < 0 else dim

    def size(self: Tensor, dim: int | None = None) -> Any:
        return self.shape if dim is None else self.shape[dim]

    # ------------------------------------------------------------------ views
    def reshape(self: Tensor, shape, *args) -> Tensor:
        dims = tuple(shape) if isinstance(shape, (tuple, list)) else (shape, *args)
        dims = tuple(self.shape[i] if d is None else d for i, d in enumerate(dims))
        return self._w(self._lb.reshape(list(_ints(dims, "reshape dims"))))

    def view(self, shape, *args) -> Tensor:
        return self.reshape(shape, *args)

    def permute(self: Tensor, order, *args) -> Tensor:
        order = tuple(order) if isinstance(order, (tuple, list)) else (order, *args)
        ints = _ints(order, "permute order")
        if len(ints) != self.ndim:
            raise InvalidArgumentError(f"permute order {order} is not a permutation of {self.ndim} dims")
        return self._w(self._lb.permute(list(ints)))

    def transpose(self: Tensor, dim0: int = 1, dim1: int = 0) -> Tensor:
        dim0, dim1 = _ints((dim0, dim1), "transpose dims")
        return self._w(self._lb.transpose(dim0, dim1))

    @property
    def T(self) -> Tensor:
        return self.transpose()

    def expand(self: Tensor, shape, *args) -> Tensor:
        dims = tuple(shape) if isinstance(shape, (tuple, list)) else (shape, *args)
        return self._w(self._lb.expand(list(_ints(dims, "expand dims"))))

    def flatten(self: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        if self.ndim == 0:
            return self.reshape(1)
        s, e = self._resolve_dim(start_dim), self._resolve_dim(end_dim)
        return self.reshape((*self.shape[:s], math.prod(self.shape[s : e + 1]), *self.shape[e + 1 :]))

    def unflatten(self: Tensor, dim: int, sizes: tuple[int, ...]) -> Tensor:
        dim = self._resolve_dim(dim)
        return self.reshape((*self.shape[:dim], *sizes, *self.shape[dim + 1 :]))

    def unsqueeze(self: Tensor, dim: int) -> Tensor:
        (dim,) = _ints((dim,), "unsqueeze dim")
        dim = self._resolve_dim(dim, extra=True)
        return self.reshape((*self.shape[:dim], 1, *self.shape[dim:]))

    def squeeze(self: Tensor, dim: int | None = None) -> Tensor:
        if dim is None:
            return self.reshape(tuple(d for d in self.shape if d != 1))
        if self.ndim == 0:
            return self
        dim = self._resolve_dim(dim)
        return self if self.shape[dim] != 1 else self.reshape((*self.shape[:dim], *self.shape[dim + 1 :]))

    def shrink(self: Tensor, arg: Sequence[tuple[int, int] | None]) -> Tensor:
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
            start, end = _ints(tuple(a), "shrink bounds")
            if not 0 <= start <= end <= size:
                raise ShapeError(f"shrink range {start}..{end} out of bounds for dim {i} of size {size}")
            ranges.append((start, end))
        return self._w(self._lb.shrink(ranges))

    def shrink_to(self: Tensor, shape, *args) -> Tensor:
        dims = _ints((shape, *args) if not isinstance(shape, (tuple, list)) else tuple(shape), "shrink_to dims")
        return self.shrink(tuple((0, d) for d in dims))

    def flip(self: Tensor, axis, *args) -> Tensor:
        axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis, *args)
        return self._w(_native.flip(self._lb, list(_ints(axes, "flip dims"))))

    # ------------------------------------------------------------------ writing into a larger tensor
    def pad(self: Tensor, padding, mode: str = "constant", value: float = 0.0) -> Tensor:
        """Pad by ((before, after), ...) per dim, or torch's flat (last_before, last_after, ...) form; negative
        amounts cut elements off."""
        if mode != "constant":
            raise UnsupportedError(f"pad mode {mode!r} (tgrad pads with a constant)")
        pads = list(padding)
        if pads and all(isinstance(p, (int, np.integer)) for p in pads):
            if len(pads) % 2 or len(pads) // 2 > self.ndim:
                raise InvalidArgumentError(f"padding length is improper, padding={padding} ndim={self.ndim}")
            flat = [(pads[i], pads[i + 1]) for i in range(0, len(pads), 2)][::-1]
            pads = [(0, 0)] * (self.ndim - len(flat)) + flat
        full = [(0, 0) if p is None else (builtins.int(p[0]), builtins.int(p[1])) for p in pads]
        return self._w(_native.pad(self._lb, full, builtins.float(value)))

    def pad_to(self: Tensor, shape, *args, value: float = 0.0) -> Tensor:
        dims = _ints((shape, *args) if not isinstance(shape, (tuple, list)) else tuple(shape), "pad_to dims")
        return self.pad(tuple((0, d - s) for d, s in zip(dims, self.shape, strict=True)), value=value)

    def cat(self: Tensor, *args: Tensor, dim: int = 0) -> Tensor:
        return self._w(_native.cat([t._lb for t in (self, *args)], dim, False))

    def stack(self: Tensor, *args: Tensor, dim: int = 0) -> Tensor:
        return self._w(_native.cat([t._lb for t in (self, *args)], dim, True))

    def split(self: Tensor, sizes: int | Sequence[int], dim: int = 0) -> tuple[Tensor, ...]:
        dim = self._resolve_dim(dim)
        n = self.shape[dim]
        if isinstance(sizes, (int, np.integer)):
            step = builtins.max(1, builtins.int(sizes))
            sizes = [builtins.min(step, n - i) for i in range(0, n, step)] or [0]
        if builtins.sum(sizes) != n:
            raise InvalidArgumentError(f"expect sizes to sum exactly to {n}, got {builtins.sum(sizes)}")
        out, at = [], 0
        for s in sizes:
            out.append(self.shrink(tuple((at, at + s) if d == dim else None for d in range(self.ndim))))
            at += s
        return tuple(out)

    def chunk(self: Tensor, chunks: int, dim: int = 0) -> list[Tensor]:
        if chunks <= 0:
            raise InvalidArgumentError(f"expect chunks to be greater than 0, got: {chunks}")
        dim = self._resolve_dim(dim)
        return list(self.split(math.ceil(self.shape[dim] / chunks) if self.shape else 0, dim=dim))

    def repeat(self: Tensor, repeats, *args) -> Tensor:
        reps = _ints((repeats, *args) if not isinstance(repeats, (tuple, list)) else tuple(repeats), "repeats")
        return self._w(_native.repeat(self._lb, list(reps)))

    def repeat_interleave(self: Tensor, repeats: int, dim: int | None = None) -> Tensor:
        x, d = (self.flatten(), 0) if dim is None else (self, dim)
        return self._w(_native.repeat_interleave(x._lb, builtins.int(repeats), d))

    # ------------------------------------------------------------------ indexing
    def __getitem__(self: Tensor, indices) -> Tensor:
        """Basic indexing: ints, slices (any step), None and Ellipsis; a view of this tensor."""
        idx = list(indices) if isinstance(indices, tuple) else [indices]
        for i in idx:
            if not (i is None or i is Ellipsis or isinstance(i, (slice, int, np.integer))) or isinstance(i, bool):
                raise UnsupportedError(f"indexing with {type(i).__name__} (advanced indexing, gather)")
        if idx.count(Ellipsis) > 1:
            raise IndexingError("an index can only have a single ellipsis ('...')")
        used = builtins.sum(1 for i in idx if i is not None and i is not Ellipsis)
        if used > self.ndim:
            raise IndexingError(f"too many indices ({used}) for {self.ndim}D")
        if Ellipsis in idx:
            at = idx.index(Ellipsis)
            idx[at : at + 1] = [slice(None)] * (self.ndim - used)
        else:
            idx += [slice(None)] * (self.ndim - used)
        slices, shape, dim = [], [], 0
        for i in idx:
            if i is None:
                shape.append(1)
                continue
            size = self.shape[dim]
            if isinstance(i, slice):
                start, stop, step = i.indices(size)
                slices.append((start, stop, step))
                shape.append(builtins.len(range(start, stop, step)))
            else:
                k = builtins.int(i)
                if not -size <= k < size:
                    raise IndexingError(f"index={k} is out of bounds with size={size}")
                k = k + size if k < 0 else k
                slices.append((k, k + 1, 1))
            dim += 1
        return self._w(_native.slice(self._lb, slices)).reshape(tuple(shape))

    def __setitem__(self, indices, v) -> None:
        raise UnsupportedError("assigning into a slice (Tensor.__setitem__)")
