"""Reductions and layers of `Tensor`: sums with tinygrad's accumulation dtypes, max/min/mean/var/std, softmax,
argmax, losses, linear, attention and einsum; each one call into the core (`tgrad_core::ops::{reduce, nn}`)."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tgrad import _native
from tgrad.dtype import dtypes, supported
from tgrad.errors import InvalidArgumentError
from tgrad.helpers import TRAINING

if TYPE_CHECKING:
    from tgrad.tensor import Tensor


def _axes(axis: Any, ndim: int) -> list[int] | None:
    """Reduce axes: integers, each in range, none repeated (`(2, -1)` of a 3-d tensor repeats axis 2)."""
    if axis is None:
        return None
    values = axis if isinstance(axis, (tuple, list)) else (axis,)
    for a in values:
        if isinstance(a, (builtins.bool, np.bool_)) or not isinstance(a, (builtins.int, np.integer)):
            raise InvalidArgumentError(f"reduce axes must be integers, got {a!r} in {tuple(values)}")
    axes = [builtins.int(a) for a in values]
    n = builtins.max(ndim, 1)
    for a in axes:
        if not -n <= a < n:
            raise InvalidArgumentError(f"reduce axis {a} is out of range for a tensor with {ndim} dims")
    if len({a % n for a in axes}) != len(axes):
        raise InvalidArgumentError(f"reduce axes {tuple(values)} repeat an axis (duplicate axes)")
    return axes


def _dtype_name(dtype: Any) -> str | None:
    return None if dtype is None else supported(dtype).name


class ReduceMixin:
    __slots__ = ()

    # ------------------------------------------------------------------ reductions
    def sum(self: Tensor, axis: Any = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
        return self._w(_native.sum(self._lb, _axes(axis, self.ndim), keepdim, _dtype_name(dtype)))

    def _named(self: Tensor, name: str, axis: Any, keepdim: bool) -> Tensor:
        return self._w(_native.reduce_named(self._lb, name, _axes(axis, self.ndim), keepdim))

    def max(self, axis: Any = None, keepdim: bool = False) -> Tensor:
        return self._named("max", axis, keepdim)

    def min(self, axis: Any = None, keepdim: bool = False) -> Tensor:
        return self._named("min", axis, keepdim)

    def mean(self, axis: Any = None, keepdim: bool = False) -> Tensor:
        return self._named("mean", axis, keepdim)

    def logsumexp(self, axis: Any = None, keepdim: bool = False) -> Tensor:
        return self._named("logsumexp", axis, keepdim)

    def var(self: Tensor, axis: Any = None, keepdim: bool = False, correction: float = 1) -> Tensor:
        return self._w(_native.var(self._lb, _axes(axis, self.ndim), keepdim, builtins.float(correction), False))

    def std(self: Tensor, axis: Any = None, keepdim: bool = False, correction: float = 1) -> Tensor:
        return self._w(_native.var(self._lb, _axes(axis, self.ndim), keepdim, builtins.float(correction), True))

    def var_mean(self, axis: Any = None, keepdim: bool = False, correction: float = 1) -> tuple[Tensor, Tensor]:
        return self.var(axis, keepdim, correction), self.mean(axis, keepdim)

    def std_mean(self, axis: Any = None, keepdim: bool = False, correction: float = 1) -> tuple[Tensor, Tensor]:
        return self.std(axis, keepdim, correction), self.mean(axis, keepdim)

    def any(self: Tensor, axis: Any = None, keepdim: bool = False) -> Tensor:
        return self.bool().max(axis, keepdim)

    def all(self: Tensor, axis: Any = None, keepdim: bool = False) -> Tensor:
        return self.logical_not().any(axis, keepdim).logical_not()

    def softmax(self: Tensor, axis: int = -1, dtype: Any = None) -> Tensor:
        return self._w(_native.softmax(self._lb, axis, False, _dtype_name(dtype)))

    def log_softmax(self: Tensor, axis: int = -1, dtype: Any = None) -> Tensor:
        return self._w(_native.softmax(self._lb, axis, True, _dtype_name(dtype)))

    def softmin(self, axis: int = -1, dtype: Any = None) -> Tensor:
        return (-self).softmax(axis, dtype)

    def argmax(self: Tensor, axis: int | None = None, keepdim: bool = False) -> Tensor:
        return self._w(_native.argmax(self._lb, axis, keepdim, False))

    def argmin(self: Tensor, axis: int | None = None, keepdim: bool = False) -> Tensor:
        return self._w(_native.argmax(self._lb, axis, keepdim, True))

    def normalize(self, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
        norm = (self.abs() ** p).sum(dim, keepdim=True) ** (1 / p)
        return self / norm.maximum(eps)

    # ------------------------------------------------------------------ layers
    def linear(self: Tensor, weight: Tensor, bias: Tensor | None = None, dtype: Any = None) -> Tensor:
        if dtype is not None:
            return self.cast(dtype).linear(weight.cast(dtype), bias.cast(dtype) if bias is not None else None)
        return self._w(_native.linear(self._lb, weight._lb, bias._lb if bias is not None else None))

    def sequential(self: Tensor, ll: Sequence[Any]) -> Tensor:
        x = self
        for f in ll:
            x = f(x)
        return x

    def dropout(self: Tensor, p: float = 0.5) -> Tensor:
        """Zero elements with probability `p` (scaling the rest) under Context(TRAINING=1); the identity otherwise."""
        if not 0 <= p <= 1:
            raise InvalidArgumentError(f"{p=} is out of range [0, 1]")
        if not TRAINING or p == 0:
            return self
        if p == 1:
            return self.zeros_like()
        keep = type(self).rand(*self.shape) >= p
        return keep.where(self, 0) * (1 / (1.0 - p))

    def scaled_dot_product_attention(
        self: Tensor,
        key: Tensor,
        value: Tensor,
        attn_mask: Tensor | None = None,
        dropout_p: float = 0.0,
        is_causal: bool = False,
        enable_gqa: bool = False,
    ) -> Tensor:
        mask = attn_mask._lb if attn_mask is not None else None
        if dropout_p == 0.0 or not TRAINING:
            return self._w(
                _native.scaled_dot_product_attention(self._lb, key._lb, value._lb, mask, is_causal, enable_gqa)
            )
        # with dropout: the attention weights, dropped, times value (tinygrad's order)
        eye = type(self).eye(value.shape[-2], dtype=value.dtype)
        weights = self._w(_native.scaled_dot_product_attention(self._lb, key._lb, eye._lb, mask, is_causal, enable_gqa))
        return weights.dropout(dropout_p) @ value

    @classmethod
    def einsum(cls, formula: str, *operands: Any, dtype: Any = None) -> Tensor:
        xs = list(operands[0]) if len(operands) == 1 and isinstance(operands[0], (list, tuple)) else list(operands)
        return cls._w(_native.einsum(formula, [x._lb for x in xs], _dtype_name(dtype)))

    # ------------------------------------------------------------------ losses
    def one_hot(self: Tensor, num_classes: int = -1) -> Tensor:
        if num_classes == -1:
            num_classes = builtins.int(self.max().item()) + 1
        return self._w(_native.one_hot(self._lb, num_classes))

    def sparse_categorical_crossentropy(
        self: Tensor, Y: Tensor, ignore_index: int = -1, label_smoothing: float = 0.0, reduction: str = "mean"
    ) -> Tensor:
        return self._w(
            _native.sparse_categorical_crossentropy(
                self._lb, Y._lb, ignore_index, builtins.float(label_smoothing), reduction
            )
        )

    def _reduce_loss(self, reduction: str) -> Tensor:
        if reduction not in ("mean", "sum", "none"):
            raise InvalidArgumentError(f"reduction={reduction!r} must be one of 'mean', 'sum', 'none'")
        return self if reduction == "none" else self.sum() if reduction == "sum" else self.mean()

    def binary_crossentropy(self: Tensor, Y: Tensor, reduction: str = "mean") -> Tensor:
        return (-Y * self.log() - (1 - Y) * (1 - self).log())._reduce_loss(reduction)

    def binary_crossentropy_logits(self: Tensor, Y: Tensor, reduction: str = "mean") -> Tensor:
        return (self.maximum(0) - Y * self + (1 + self.abs().neg().exp()).log())._reduce_loss(reduction)

    def _one_hot_at(self: Tensor, Y: Tensor, classes: int) -> Tensor:
        """Class labels `Y` as one-hot rows along dim `classes` of this tensor's shape."""
        onehot = Y.one_hot(self.shape[classes])
        last = onehot.ndim - 1
        return onehot if classes == last else onehot.permute(*range(classes), last, *range(classes, last))

    def cross_entropy(self: Tensor, Y: Tensor, reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
        classes = 0 if self.ndim == 1 else 1
        if self.shape != Y.shape:
            Y = self._one_hot_at(Y, classes)
        Y = (1 - label_smoothing) * Y.cast(self.dtype) + label_smoothing / self.shape[classes]
        return -(self.log_softmax(classes) * Y).sum(classes)._reduce_loss(reduction)

    def nll_loss(
        self: Tensor, Y: Tensor, weight: Tensor | None = None, ignore_index: int | None = None, reduction: str = "mean"
    ) -> Tensor:
        classes = 0 if self.ndim == 1 else 1
        picked = self._one_hot_at(Y, classes)
        w = weight if weight is not None else self.ones_like()
        mask = (Y != ignore_index) if ignore_index is not None else Y.ones_like(dtype=dtypes.bool)
        masked = (picked.cast(self.dtype) * w).sum(classes) * mask
        nll = -(self * picked.cast(self.dtype) * w).sum(classes) * mask
        if reduction == "mean":
            return nll.sum() / masked.sum()
        return nll._reduce_loss(reduction)

    def layernorm(self: Tensor, axis: Any = -1, eps: float = 1e-5) -> Tensor:
        y = self - self.mean(axis, keepdim=True)
        return y.mul((y * y).mean(axis, keepdim=True).add(eps).rsqrt())

    def batchnorm(self, weight, bias, mean, invstd, axis: Any = 1) -> Tensor:
        axes = (axis,) if isinstance(axis, int) else tuple(axis)
        shape = tuple(s if i in axes else 1 for i, s in enumerate(self.shape))
        x = self - mean.reshape(shape)
        if weight is not None:
            x = x * weight.reshape(shape)
        ret = x.mul(invstd.reshape(shape) if len(invstd.shape) == len(axes) else invstd)
        return (ret + bias.reshape(shape)) if bias is not None else ret
