"""PyTorch, where it is installed: the CPU matmul many users would pick instead of numpy (oneDNN/MKL
behind torch.matmul), and the reference line on a GPU (cuBLAS / cuBLASLt).

torch is optional and never part of the default set-up (PyPI's wheel is several GB): install the
`torch-cpu` group (`pip install '.[torch-cpu]'`, or `make setup-torch`). Without it, or when it cannot
be imported, every torch cell is reported as unavailable with the reason.

A step is `a @ b` (B5: `torch.relu(a @ b + bias)`) on tensors made once from the scenario's inputs,
timed by wall clock like every other engine; on CUDA it ends with `torch.cuda.synchronize()`.
On the CPU it runs on the usable cores, as tgrad and numpy do: torch.set_num_threads(cores), one
inter-op thread, and OMP_NUM_THREADS / MKL_NUM_THREADS set before the worker imports torch; the
thread count is recorded in the cell's info. Its output is judged against the float64 oracle like
every engine's. float32 on CUDA runs in true float32: TF32 tensor cores are switched off
(`torch.backends.cuda.matmul.allow_tf32 = False`, torch's default since 1.12, set explicitly so a
user's setting cannot leak in); float16 uses tensor cores with float32 accumulation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.engines.base import Engine, EngineContext, Unavailable, Unsupported
from harness.fingerprint import usable_cores
from harness.workload import Inputs

INSTALL = "pip install '.[torch-cpu]' (make setup-torch)"


def _import_torch() -> Any:
    try:
        import torch
    except ImportError as e:
        raise Unavailable(f"torch is not installed ({e}); it is optional: {INSTALL}") from e
    except Exception as e:  # a broken install: missing CUDA libraries, an ABI mismatch, ...
        raise Unavailable(f"torch cannot be imported: {type(e).__name__}: {e}") from e
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
    threads = "all"
    family = "torch"
    description = (
        "torch a @ b: on the CPU with torch.set_num_threads(usable cores); on CUDA cuBLAS with TF32 off and"
        " torch.cuda.synchronize() after each step"
    )
    devices = ("CPU", "CUDA")

    def __init__(self) -> None:
        self._torch: Any = None

    def environment(self, context: EngineContext) -> dict[str, str]:
        cores = str(usable_cores())
        return {"OMP_NUM_THREADS": cores, "MKL_NUM_THREADS": cores}

    def load(self) -> dict[str, Any]:
        torch = _import_torch()
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.set_num_threads(usable_cores())
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # only allowed before any parallel work; a fresh worker has done none
            pass
        self._torch = torch
        info: dict[str, Any] = {
            "version": torch.__version__,
            "cuda": torch.version.cuda,
            "threads": torch.get_num_threads(),
        }
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
        return info

    def prepare(self, inputs: Inputs, device: str) -> TorchStep:
        if self._torch is None:
            raise RuntimeError("prepare() before load()")
        if inputs.op == "train_step":
            raise Unsupported("the torch engine times matmul and linear_relu only, not the train_step")
        if device.split(":")[0].upper() == "CUDA":
            if not self._torch.cuda.is_available():
                raise Unavailable(f"torch {self._torch.__version__} sees no usable CUDA device")
            return TorchStep(self._torch, inputs, "cuda")
        return TorchStep(self._torch, inputs, "cpu")
