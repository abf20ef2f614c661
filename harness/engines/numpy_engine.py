"""numpy float32 matmul (OpenBLAS or whichever BLAS numpy links): the practical CPU reference line.

B5 is `np.maximum(x @ w + b, 0)`; B6 is harness.train_step.numpy_step. The worker records the BLAS library
and its threads (threadpoolctl).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness import train_step
from harness.engines.base import Engine
from harness.workload import Inputs


class NumpyStep:
    def __init__(self, inputs: Inputs):
        self._a = inputs.logical_a()
        self._b = inputs.logical_b()
        self._bias = inputs.bias
        self._train = (inputs.w2, inputs.y) if inputs.op == "train_step" else None
        self._last: np.ndarray | None = None

    def step(self) -> None:
        if self._train is not None:
            w2, y = self._train
            assert self._bias is not None and w2 is not None and y is not None
            self._last = train_step.numpy_step(self._a, self._b, self._bias, w2, y)
        elif self._bias is None:
            self._last = self._a @ self._b
        else:
            self._last = np.maximum(self._a @ self._b + self._bias, 0)

    def output(self) -> np.ndarray:
        if self._last is None:
            raise RuntimeError("output() before any step()")
        return self._last


class Numpy(Engine):
    name = "numpy"
    threads = "all"
    family = "numpy"
    description = "numpy a @ b in the scenario's dtype (BLAS for float32, all threads)"
    devices = ("CPU",)

    def load(self) -> dict[str, Any]:
        info: dict[str, Any] = {"version": np.__version__}
        try:
            from threadpoolctl import threadpool_info

            info["threadpools"] = threadpool_info()
        except ImportError:
            info["threadpools"] = "threadpoolctl not installed"
        return info

    def prepare(self, inputs: Inputs, device: str) -> NumpyStep:
        return NumpyStep(inputs)
