"""PyTorch as the reference line on a GPU (cuBLAS / cuBLASLt behind torch.matmul), where torch is
installed; on the CPU it runs too (its own BLAS), though the CPU tables use numpy.

A step is `a @ b` (B5: `torch.relu(a @ b + bias)`) on tensors uploaded once, then
`torch.cuda.synchronize()`, timed by wall clock like every other engine. float32 runs in true float32:
TF32 tensor cores are switched off (`torch.backends.cuda.matmul.allow_tf32 = False`, torch's default
since 1.12, set explicitly so a user's setting cannot leak in). float16 uses tensor cores with float32
accumulation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.engines.base import Engine, Unavailable
from harness.workload import Inputs


def _import_torch() -> Any:
    try:
        import torch
    except ImportError as e:
        raise Unavailable(f"torch is not installed ({e})") from e
    return torch


class TorchStep:
    def __init__(self, torch: Any, inputs: Inputs, device: str):
        self._torch = torch
        self._cuda = device == "cuda"

        def put(x: np.ndarray) -> Any:
            return torch.from_numpy(np.ascontiguousarray(x)).to(device)

        self._a, self._b = put(inputs.a), put(inputs.b)
        self._bias = put(inputs.bias) if inputs.bias is not None else None
        self._transpose_a, self._transpose_b = inputs.transpose_a, inputs.transpose_b
        self._last: Any = None

    def step(self) -> None:
        a = self._a.transpose(-1, -2) if self._transpose_a else self._a
        b = self._b.transpose(-1, -2) if self._transpose_b else self._b
        out = a @ b
        self._last = out if self._bias is None else self._torch.relu(out + self._bias)
        if self._cuda:
            self._torch.cuda.synchronize()

    def output(self) -> np.ndarray:
        if self._last is None:
            raise RuntimeError("output() before any step()")
        return np.asarray(self._last.cpu().numpy())


class Torch(Engine):
    name = "torch"
    family = "torch"
    description = "torch a @ b (cuBLAS on CUDA, TF32 off), torch.cuda.synchronize() after each step"
    devices = ("CPU", "CUDA")

    def __init__(self) -> None:
        self._torch: Any = None

    def load(self) -> dict[str, Any]:
        torch = _import_torch()
        torch.backends.cuda.matmul.allow_tf32 = False
        self._torch = torch
        info: dict[str, Any] = {"version": torch.__version__, "cuda": torch.version.cuda}
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
        return info

    def prepare(self, inputs: Inputs, device: str) -> TorchStep:
        if self._torch is None:
            raise RuntimeError("prepare() before load()")
        if device.split(":")[0].upper() == "CUDA":
            if not self._torch.cuda.is_available():
                raise Unavailable(f"torch {self._torch.__version__} sees no usable CUDA device")
            return TorchStep(self._torch, inputs, "cuda")
        return TorchStep(self._torch, inputs, "cpu")
