"""Eager and TinyJit steps for any library with tinygrad's Python API (tinygrad itself, tgrad).

B6 (op train_step) is harness.train_step.tensor_step: forward, `loss.gradient(...)` and the SGD update.

Eager: `(a @ b).realize()` then the device is synchronised, so a step includes scheduling and graph
building as a user of tinygrad sees it. JIT: the same function under TinyJit; the first call runs it,
the second captures, later calls replay. The transposes of a transposed layout happen inside the
timed function, on tensors that were realized once from the stored arrays. A library that reports its
plans (tgrad's `_native.plan_report`) gives the cell its kernel facts: certificates and rounding depth.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable
from types import ModuleType
from typing import Any, ClassVar

import numpy as np

from harness import train_step
from harness.engines.base import Engine, Unavailable
from harness.workload import Inputs

REQUIRED_NAMES = ("Tensor", "Device", "TinyJit", "dtypes")


def import_tensor_library(module_name: str) -> tuple[ModuleType, dict[str, Any]]:
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise Unavailable(f"{module_name} is not installed ({e})") from e
    try:
        version = importlib.metadata.version(module_name)
    except importlib.metadata.PackageNotFoundError:
        version = str(getattr(module, "__version__", "unknown"))
    missing = [name for name in REQUIRED_NAMES if not hasattr(module, name)]
    if missing:
        raise Unavailable(f"{module_name} {version} has no {', '.join(missing)} yet")
    info: dict[str, Any] = {"version": version, "file": str(getattr(module, "__file__", ""))}
    build_info = getattr(module, "build_info", None)
    if build_info is not None:
        info["build_info"] = build_info() if callable(build_info) else build_info
    return module, info


def kernel_facts(report: list[tuple[str, bool, str, int | None]]) -> dict[str, Any]:
    """plan_report's (name, certified, status, depth) per kernel -> the cell's facts: "yes" when every
    kernel is certified, else "no: " and the first uncertified kernel's reason; the largest depth."""
    kernels = [
        {"name": name, "certified": bool(ok), "status": status, "depth": depth} for name, ok, status, depth in report
    ]
    refused = [k for k in kernels if not k["certified"]]
    if not kernels:
        certified = "no: no kernel was planned"
    elif refused:
        certified = f"no: {refused[0]['name']}: {refused[0]['status']}"
    else:
        certified = "yes"
    depths = [k["depth"] for k in kernels if isinstance(k["depth"], int)]
    return {"certified": certified, "kernels": kernels, "rounding_depth": max(depths) if depths else None}


class TensorStep:
    def __init__(self, module: ModuleType, inputs: Inputs, device: str, jit: bool):
        tensor = module.Tensor
        self._device = module.Device[device]
        self._a = tensor(inputs.a, device=device).realize()
        self._b = tensor(inputs.b, device=device).realize()
        self._bias = tensor(inputs.bias, device=device).realize() if inputs.bias is not None else None
        self._args: tuple[Any, ...] = (self._a, self._b) if self._bias is None else (self._a, self._b, self._bias)
        if inputs.op == "train_step":
            w2, y = (tensor(x, device=device).realize() for x in (inputs.w2, inputs.y))
            self._args = (self._a, self._b, self._bias, w2, y)
        transpose_a, transpose_b = inputs.transpose_a, inputs.transpose_b

        def product(a: Any, b: Any, bias: Any = None) -> Any:
            left = a.transpose(-1, -2) if transpose_a else a
            right = b.transpose(-1, -2) if transpose_b else b
            return left @ right if bias is None else (left @ right + bias).relu()

        def matmul(a: Any, b: Any) -> Any:
            return product(a, b).realize()

        def linear_relu(a: Any, b: Any, bias: Any) -> Any:
            return product(a, b, bias).realize()

        functions: dict[str, Callable[..., Any]] = {
            "matmul": matmul,
            "linear_relu": linear_relu,
            "train_step": train_step.tensor_step,
        }
        function: Callable[..., Any] = functions[inputs.op]
        self._op = inputs.op
        self._product = product
        self._plan_report = getattr(getattr(module, "_native", None), "plan_report", None)
        self._function = module.TinyJit(function) if jit else function
        self._last: Any = None

    def step(self) -> None:
        self._last = self._function(*self._args)
        self._device.synchronize()

    def facts(self) -> dict[str, Any] | None:
        """What the library states about the kernels of the timed product (tgrad's `plan_report`: each
        kernel's certificate and rounding depth), planned again from the same unrealized expression,
        which finds the plans the timed steps used; None for a library that states nothing."""
        if self._plan_report is None:
            return None
        if self._op == "train_step":
            roots = [t._lb for t in train_step.lazy_step(*self._args)]
        else:
            roots = [self._product(self._a, self._b, self._bias)._lb]
        return kernel_facts(self._plan_report(roots))

    def output(self) -> np.ndarray:
        if self._last is None:
            raise RuntimeError("output() before any step()")
        if isinstance(self._last, tuple):  # a train_step's updated parameters
            return train_step.flat(*(t.numpy() for t in self._last))
        return np.asarray(self._last.numpy())


class TensorApiEngine(Engine):
    module_name: ClassVar[str]
    jit: ClassVar[bool]

    def __init__(self) -> None:
        self._module: ModuleType | None = None

    def load(self) -> dict[str, Any]:
        self._module, info = import_tensor_library(self.module_name)
        return info

    def prepare(self, inputs: Inputs, device: str) -> TensorStep:
        if self._module is None:
            raise RuntimeError("prepare() before load()")
        if device.split(":")[0].upper() != "CPU":
            try:
                self._module.Device[device]
            except Exception as e:  # each library raises its own error for a missing GPU or driver
                raise Unavailable(f"{self.module_name} cannot open {device}: {type(e).__name__}: {e}") from e
        return TensorStep(self._module, inputs, device, self.jit)
