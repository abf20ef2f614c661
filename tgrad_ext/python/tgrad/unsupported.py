"""The public names of tinygrad's Tensor that tgrad does not implement. Each exists, and calling it (or reading it)
raises `tgrad.errors.UnsupportedError` (a NotImplementedError) naming the feature, so code written for tinygrad
fails with a clear message instead of an AttributeError. tests/null/test_surface.py walks tinygrad's names and checks
each is implemented here or listed in UNSUPPORTED."""

from __future__ import annotations

from typing import Any

from tgrad.errors import UnsupportedError

# name -> the feature it needs that tgrad does not have
UNSUPPORTED: dict[str, str] = {
    "acos": "inverse trigonometric functions (tinygrad approximates them with polynomials)",
    "asin": "inverse trigonometric functions (tinygrad approximates them with polynomials)",
    "atan": "inverse trigonometric functions (tinygrad approximates them with polynomials)",
    "erf": "the error function",
    "alu": "building raw UOps (tgrad's IR is its own)",
    "uop": "tinygrad's UOp graph (tgrad's lazy graph is native)",
    "as_param": "function parameters (tinygrad.function)",
    "call": "tinygrad.function calls",
    "callify": "tinygrad.function calls",
    "custom_kernel": "custom kernels written in UOps",
    "linear_with_vars": "tinygrad's linearized schedules",
    "schedule_linear": "tinygrad's linearized schedules",
    "invalids": "invalid (masked) values in UOps",
    "avg_pool2d": "pooling",
    "max_pool2d": "pooling",
    "max_unpool2d": "pooling",
    "conv2d": "convolutions",
    "conv_transpose2d": "convolutions",
    "image_conv2d": "image dtypes (the GPU's texture path)",
    "image_dot": "image dtypes (the GPU's texture path)",
    "interpolate": "interpolation (resize)",
    "unfold": "sliding windows (unfold)",
    "bitcast": "bit casts between dtypes",
    "bfloat16": "the bfloat16 dtype",
    "long": "the int64 dtype",
    "short": "the int16 dtype",
    "lshift": "integer bit shifts",
    "rshift": "integer bit shifts",
    "prod": "product reductions",
    "uprod": "products of UOps",
    "usum": "sums of UOps",
    "cumsum": "cumulative reductions",
    "cumprod": "cumulative reductions",
    "cummax": "cumulative reductions",
    "cummin": "cumulative reductions",
    "logcumsumexp": "cumulative reductions",
    "sort": "sorting",
    "argsort": "sorting",
    "topk": "sorting",
    "gather": "gather (indexing with tensors)",
    "scatter": "scatter (writing through tensor indices)",
    "scatter_reduce": "scatter (writing through tensor indices)",
    "masked_select": "data-dependent shapes",
    "nonzero": "data-dependent shapes",
    "multinomial": "sampling from distributions",
    "randperm": "random permutations",
    "random_bits": "threefry random bits (tgrad's generator is its own)",
    "threefry": "threefry random bits (tgrad's generator is its own)",
    "hash": "hashing tensors",
    "keccak": "hashing tensors",
    "qr": "matrix decompositions",
    "svd": "matrix decompositions",
    "newton_schulz": "matrix decompositions",
    "rearrange": "einops-style rearrange formulas",
    "meshgrid": "meshgrid",
    "diag": "diagonal matrices",
    "diagonal": "taking diagonals (einsum takes them)",
    "roll": "roll",
    "fmod": "float remainders",
    "shard": "multi-device tensors (sharding)",
    "shard_": "multi-device tensors (sharding)",
    "shard_like": "multi-device tensors (sharding)",
    "from_blob": "tensors over foreign memory",
    "from_url": "downloading tensors",
    "decode_hevc_frame": "video decoding",
    "max_shape": "symbolic shapes",
    "max_numel": "symbolic shapes",
}


def _raiser(name: str, feature: str):
    def f(*args: Any, **kwargs: Any) -> Any:
        raise UnsupportedError(f"Tensor.{name} needs {feature}, which tgrad does not implement")

    f.__name__ = name
    f.__doc__ = f"Not in tgrad: Tensor.{name} needs {feature}."
    return f


class UnsupportedMixin:
    """One raising method per name of UNSUPPORTED (for static uses too: `Tensor.cumsum(t)` raises the same)."""

    __slots__ = ()


for _name, _feature in UNSUPPORTED.items():
    setattr(UnsupportedMixin, _name, staticmethod(_raiser(_name, _feature)))
