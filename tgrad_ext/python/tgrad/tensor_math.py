"""Elementwise ops of `Tensor`: arithmetic, comparisons, and tinygrad's math functions, each one call into the core
(`tgrad_core::ops::math`). Python scalars take the tensor's dtype, as tinygrad's weak constants do (a float scalar
with an int or bool tensor is a float)."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

import numpy as np

from tgrad import _native
from tgrad.dtype import dtypes
from tgrad.errors import InvalidArgumentError, UnsupportedError

if TYPE_CHECKING:
    from tgrad.tensor import Tensor

_SCALARS = (builtins.int, builtins.float, builtins.bool, np.integer, np.floating, np.bool_)


def _unary(name: str):
    def f(self: Tensor) -> Tensor:
        return self._w(_native.math_op(self._lb, name))

    f.__name__ = name
    f.__doc__ = f"tinygrad's `{name}`, elementwise."
    return f


class MathMixin:
    __slots__ = ()

    # ------------------------------------------------------------------ operands
    def _const_like(self: Tensor, x: Any) -> Tensor:
        """`x` as an operand of this tensor: a Python scalar takes this tensor's dtype (a float scalar beside an int
        or bool tensor is float; an int scalar beside a bool tensor is int)."""
        if isinstance(x, type(self)):
            return x
        if x is None:
            raise InvalidArgumentError("None is not a tensor operand (Tensor(None) is an empty tensor: write it out)")
        if isinstance(x, _SCALARS):
            mine = self._lb.dtype
            if isinstance(x, (builtins.bool, np.bool_)):
                name = mine if mine != "bool" else "bool"
            elif isinstance(x, (builtins.float, np.floating)) and mine in ("int", "bool"):
                name = dtypes.default_float.name
            elif mine == "bool":
                name = dtypes.default_int.name
            else:
                name = mine
            return self._w(_native.full(builtins.float(x), name, []))
        return type(self)(x)

    def ufix(self: Tensor, x: Any) -> Tensor:
        """`x` as a tensor beside this one (tinygrad's name for `_const_like`)."""
        return self._const_like(x)

    @staticmethod
    def const(b: Any, dtype: Any = None) -> Tensor:
        """A constant tensor of `b` (a scalar or nested list), as `Tensor(b, dtype=dtype)`."""
        from tgrad.tensor import Tensor

        return Tensor(b, dtype=dtype)

    def _operands(self: Tensor, x: Any, reverse: builtins.bool) -> tuple[Any, Any]:
        y = self._const_like(x)
        return (y._lb, self._lb) if reverse else (self._lb, y._lb)

    def _binop(self: Tensor, op: str, x: Any, reverse: builtins.bool = False) -> Tensor:
        a, b = self._operands(x, reverse)
        return self._w(_native.binary_op(a, op, b))

    # ------------------------------------------------------------------ arithmetic
    def add(self, x: Any, reverse: builtins.bool = False) -> Tensor:
        return self._binop("add", x, reverse)

    def sub(self, x: Any, reverse: builtins.bool = False) -> Tensor:
        return self._binop("sub", x, reverse)

    def mul(self, x: Any, reverse: builtins.bool = False) -> Tensor:
        return self._binop("mul", x, reverse)

    def div(self, x: Any, reverse: builtins.bool = False, rounding_mode: str | None = None) -> Tensor:
        """True division (ints divide as floats); `rounding_mode` "trunc" or "floor" rounds the quotient."""
        a, b = self._operands(x, reverse)
        if rounding_mode is not None and rounding_mode not in ("trunc", "floor"):
            raise InvalidArgumentError(f"rounding_mode={rounding_mode!r} is not supported")
        if rounding_mode is not None and "float" not in (self._lb.dtype, self._const_like(x)._lb.dtype):
            ints = {"int", "bool"}
            if self._lb.dtype in ints and self._const_like(x)._lb.dtype in ints:
                return self._w(_native.int_div(a, b, rounding_mode == "floor", False))
        q = self._w(_native.true_div(a, b))
        if rounding_mode == "trunc":
            return q.trunc()
        return q.floor() if rounding_mode == "floor" else q

    def mod(self, x: Any, reverse: builtins.bool = False) -> Tensor:
        a, b = self._operands(x, reverse)
        return self._w(_native.int_div(a, b, True, True))

    def pow(self, x: Any, reverse: builtins.bool = False) -> Tensor:
        negative = isinstance(x, (builtins.int, np.integer)) and not isinstance(x, builtins.bool) and x < 0
        a, b = self._operands(x, reverse)
        return self._w(_native.pow(a, b, negative and not reverse))

    def maximum(self, x: Any) -> Tensor:
        return self._binop("max", x)

    def minimum(self, x: Any) -> Tensor:
        a, b = self._operands(x, False)
        return self._w(_native.minimum(a, b))

    def logaddexp(self, x: Any) -> Tensor:
        a, b = self._operands(x, False)
        return self._w(_native.logaddexp(a, b))

    def where(self: Tensor, x: Any, y: Any) -> Tensor:
        """`x` where this (bool) tensor is true, else `y`."""
        ref = x if isinstance(x, type(self)) else y if isinstance(y, type(self)) else None
        xs = ref._const_like(x) if ref is not None else type(self)(x)
        ys = xs._const_like(y)
        return self._w(_native.where_(self._lb, xs._lb, ys._lb))

    def masked_fill(self: Tensor, mask: Tensor, value: Any) -> Tensor:
        return mask.where(self._const_like(value), self)

    def clamp(self: Tensor, min_: Any = None, max_: Any = None) -> Tensor:
        lo = self._const_like(min_)._lb if min_ is not None else None
        hi = self._const_like(max_)._lb if max_ is not None else None
        return self._w(_native.clamp(self._lb, lo, hi))

    def clip(self, min_: Any = None, max_: Any = None) -> Tensor:
        return self.clamp(min_, max_)

    def lerp(self, end: Tensor, weight: Any) -> Tensor:
        return self + (end - self) * weight

    def copysign(self, other: Any) -> Tensor:
        o = self._const_like(other)
        negative = (o < 0) | (o.reciprocal() < 0)
        return negative.where(-self.abs(), self.abs())

    # ------------------------------------------------------------------ comparisons (bool results)
    def _cmp(self, op: str, x: Any, reverse: builtins.bool = False) -> Tensor:
        return self._binop(op, x, reverse)

    def __lt__(self, x: Any) -> Tensor:
        return self._cmp("cmplt", x)

    def __gt__(self, x: Any) -> Tensor:
        return self._cmp("cmplt", x, True)

    def __le__(self, x: Any) -> Tensor:
        return self._cmp("cmplt", x, True).logical_not()

    def __ge__(self, x: Any) -> Tensor:
        return self._cmp("cmplt", x).logical_not()

    def eq(self, x: Any) -> Tensor:
        return self._cmp("cmpeq", x)

    def ne(self, x: Any) -> Tensor:
        return self._cmp("cmpne", x)

    def __eq__(self, x: Any) -> Tensor:  # type: ignore[override]
        return self.eq(x)

    def __ne__(self, x: Any) -> Tensor:  # type: ignore[override]
        return self.ne(x)

    def isclose(self: Tensor, other: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> Tensor:
        o = self._const_like(other)
        close = (self - o).abs() <= atol + rtol * o.abs()
        return (close | (self.isnan() & o.isnan())) if equal_nan else close

    def allclose(self, other: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
        return builtins.bool(self.isclose(other, rtol, atol, equal_nan).all().item())

    # ------------------------------------------------------------------ bool logic (bool tensors)
    def _logic(self: Tensor, x: Any, op: str, reverse: builtins.bool = False) -> Tensor:
        o = self._const_like(x)
        if self._lb.dtype != "bool" or o._lb.dtype != "bool":
            raise UnsupportedError(f"bitwise {op} of {self.dtype!r} and {o.dtype!r} tensors (tgrad has it for bool)")
        a, b = self.cast(dtypes.int32), o.cast(dtypes.int32)
        if op == "and":
            return (a * b).cast(dtypes.bool)
        if op == "or":
            return a.maximum(b).cast(dtypes.bool)
        return a.ne(b)

    def logical_not(self) -> Tensor:
        return self._w(_native.math_op(self._lb, "logical_not"))

    def __invert__(self) -> Tensor:
        if self._lb.dtype != "bool":
            raise UnsupportedError(f"bitwise not of a {self.dtype!r} tensor (tgrad has it for bool)")
        return self.logical_not()

    def bitwise_and(self, x: Any, reverse: builtins.bool = False) -> Tensor:
        return self._logic(x, "and")

    def bitwise_or(self, x: Any, reverse: builtins.bool = False) -> Tensor:
        return self._logic(x, "or")

    def bitwise_xor(self, x: Any, reverse: builtins.bool = False) -> Tensor:
        return self._logic(x, "xor")

    def bitwise_not(self) -> Tensor:
        return ~self

    def __and__(self, x: Any) -> Tensor:
        return self._logic(x, "and")

    def __or__(self, x: Any) -> Tensor:
        return self._logic(x, "or")

    def __xor__(self, x: Any) -> Tensor:
        return self._logic(x, "xor")

    __rand__, __ror__, __rxor__ = __and__, __or__, __xor__

    # ------------------------------------------------------------------ operators
    def __add__(self, x: Any) -> Tensor:
        return self.add(x)

    def __radd__(self, x: Any) -> Tensor:
        return self.add(x, True)

    def __sub__(self, x: Any) -> Tensor:
        return self.sub(x)

    def __rsub__(self, x: Any) -> Tensor:
        return self.sub(x, True)

    def __mul__(self, x: Any) -> Tensor:
        return self.mul(x)

    def __rmul__(self, x: Any) -> Tensor:
        return self.mul(x, True)

    def __truediv__(self, x: Any) -> Tensor:
        return self.div(x)

    def __rtruediv__(self, x: Any) -> Tensor:
        return self.div(x, True)

    def __floordiv__(self, x: Any) -> Tensor:
        return self.div(x, rounding_mode="floor")

    def __rfloordiv__(self, x: Any) -> Tensor:
        return self.div(x, True, rounding_mode="floor")

    def __mod__(self, x: Any) -> Tensor:
        return self.mod(x)

    def __rmod__(self, x: Any) -> Tensor:
        return self.mod(x, True)

    def __pow__(self, x: Any) -> Tensor:
        return self.pow(x)

    def __rpow__(self, x: Any) -> Tensor:
        return self.pow(x, True)

    def __neg__(self) -> Tensor:
        return self.neg()

    def __iadd__(self: Tensor, x: Any) -> Tensor:
        return self.assign(self + x)

    def __isub__(self: Tensor, x: Any) -> Tensor:
        return self.assign(self - x)

    def __imul__(self: Tensor, x: Any) -> Tensor:
        return self.assign(self * x)

    def __itruediv__(self: Tensor, x: Any) -> Tensor:
        return self.assign(self / x)

    # ------------------------------------------------------------------ functions (tgrad_core::ops::math)
    exp, exp2, log, log2, log10 = _unary("exp"), _unary("exp2"), _unary("log"), _unary("log2"), _unary("log10")
    sqrt, rsqrt, reciprocal, square = _unary("sqrt"), _unary("rsqrt"), _unary("reciprocal"), _unary("square")
    sin, cos, tan = _unary("sin"), _unary("cos"), _unary("tan")
    sinh, cosh, atanh, asinh, acosh = _unary("sinh"), _unary("cosh"), _unary("atanh"), _unary("asinh"), _unary("acosh")
    neg, relu, relu6, sigmoid, tanh = _unary("neg"), _unary("relu"), _unary("relu6"), _unary("sigmoid"), _unary("tanh")
    quick_gelu, silu, swish, mish = _unary("quick_gelu"), _unary("silu"), _unary("swish"), _unary("mish")
    logsigmoid, hardswish, sign, abs = _unary("logsigmoid"), _unary("hardswish"), _unary("sign"), _unary("abs")
    trunc, floor, ceil, round = _unary("trunc"), _unary("floor"), _unary("ceil"), _unary("round")
    isnan, isinf, isfinite = _unary("isnan"), _unary("isinf"), _unary("isfinite")

    def gelu(self, approximate: str = "tanh") -> Tensor:
        if approximate == "none":
            raise UnsupportedError("gelu(approximate='none') needs erf, which tgrad does not implement")
        if approximate != "tanh":
            raise InvalidArgumentError(f"approximate={approximate!r} is not supported")
        return self._w(_native.math_op(self._lb, "gelu"))

    def leaky_relu(self, neg_slope: float = 0.01) -> Tensor:
        return self._w(_native.math_param(self._lb, "leaky_relu", builtins.float(neg_slope)))

    def elu(self, alpha: float = 1.0) -> Tensor:
        return self._w(_native.math_param(self._lb, "elu", builtins.float(alpha)))

    def celu(self, alpha: float = 1.0) -> Tensor:
        return self.maximum(0) + (alpha * ((self / alpha).exp() - 1)).minimum(0)

    def selu(self, alpha: float = 1.67326, gamma: float = 1.0507) -> Tensor:
        return gamma * (self >= 0).detach().where(self, alpha * (self.exp() - 1))

    def softplus(self, beta: float = 1.0) -> Tensor:
        return self._w(_native.math_param(self._lb, "softplus", builtins.float(beta)))

    def hardtanh(self, min_val: float = -1, max_val: float = 1) -> Tensor:
        return self.clip(min_val, max_val)

    def hardsigmoid(self, alpha: float = 1 / 6, beta: float = 0.5) -> Tensor:
        return (alpha * self + beta).relu() - (alpha * self + beta - 1).relu()

    def softsign(self) -> Tensor:
        return self / (1 + self.abs())
