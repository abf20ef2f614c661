"""GPU tests, grouped by what they need.

- `test_render.py`, `test_cuda_compile.py`: no GPU. Render every kernel of the benchmark scenarios as CUDA C and
  Metal, compile the CUDA C to PTX with NVRTC and assemble it for sm_90 with ptxas, both from NVIDIA's PyPI wheels
  (`pip install -e '.[gpu-check]'`). Without the wheels these skip with a reason, unless TGRAD_REQUIRE_GPU_CHECK=1
  (CI), where a missing tool is a failure.
- `test_cuda_run.py`: `@pytest.mark.gpu`, needs an NVIDIA GPU with its driver; skips with the reason
  `cuda_available()` gives.
"""

from __future__ import annotations

import os
import shutil
import site
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REQUIRE_ENV = "TGRAD_REQUIRE_GPU_CHECK"


def _missing(reason: str):
    """Skip, or fail where the compile-only check is required (CI)."""
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def native():
    """tgrad's native module, with the GPU functions registered."""
    from tgrad import _native

    if not hasattr(_native, "render_cuda"):
        _missing("this tgrad build has no GPU functions (tgrad._native.render_cuda is missing)")
    return _native


def site_dirs() -> list[str]:
    dirs = [*site.getsitepackages(), site.getusersitepackages(), *sys.path]
    return [d for d in dict.fromkeys(dirs) if d and Path(d).is_dir()]


@pytest.fixture(scope="session")
def nvrtc_search() -> str:
    """Where tgrad should look for libnvrtc (os.pathsep-separated site-packages dirs), checked to hold it."""
    dirs = site_dirs()
    has = os.environ.get("TGRAD_NVRTC") or any(
        list((Path(d) / sub).glob("libnvrtc.so*"))
        for d in dirs
        for sub in ("nvidia/cuda_nvrtc/lib", "nvidia/cu13/lib", "nvidia/cu12/lib")
    )
    if not has:
        _missing("libnvrtc not found: install the gpu-check extra (nvidia-cuda-nvrtc-cu12) or set TGRAD_NVRTC")
    return os.pathsep.join(dirs)


@pytest.fixture(scope="session")
def ptxas() -> str:
    """The ptxas binary: TGRAD_PTXAS, the nvidia-cuda-nvcc wheel, or PATH."""
    cands = [os.environ.get("TGRAD_PTXAS", "")]
    for d in site_dirs():
        cands += [str(Path(d) / sub / "bin" / "ptxas") for sub in ("nvidia/cuda_nvcc", "nvidia/cu13", "nvidia/cu12")]
    cands.append(shutil.which("ptxas") or "")
    for c in cands:
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return c
    _missing("ptxas not found: install the gpu-check extra (nvidia-cuda-nvcc-cu12) or set TGRAD_PTXAS")
    return ""  # unreachable


@dataclass(frozen=True)
class Case:
    """A benchmark scenario's graph: op, operand shapes, bias, dtype."""

    name: str
    op: str
    a: tuple[int, ...]
    b: tuple[int, ...]
    bias: tuple[int, ...] | None
    dtype: str

    @property
    def id(self) -> str:
        return f"{self.name}-{self.dtype}"

    def build(self):
        """The lazy result tensor over realized inputs of the case's dtype (as the benchmarks have them)."""
        import numpy as np
        import tgrad

        rng = np.random.default_rng(0)

        def arr(shape):
            return tgrad.Tensor(rng.standard_normal(shape, dtype=np.float32).astype(self.dtype))

        if self.op == "train_step":  # B6: the updated parameters of harness.train_step's step (forward and backward)
            return self.train_step_outputs(arr)
        y = arr(self.a) @ arr(self.b)
        if self.bias is not None:
            y = y + arr(self.bias)
        if self.op == "linear_relu":
            y = y.relu()
        return y

    def train_step_outputs(self, arr) -> list:
        from harness.train_step import CLASSES, LR

        x, w1, b1 = arr(self.a), arr(self.b), arr(self.bias)
        w2, y = arr((self.b[-1], CLASSES)), arr((self.a[0], CLASSES))
        loss = (((x @ w1 + b1).relu() @ w2 - y) ** 2).mean()
        g1, gb, g2 = loss.gradient(w1, b1, w2)
        return [w1 - LR * g1, b1 - LR * gb, w2 - LR * g2]


def benchmark_cases(train_step: bool = True) -> list[Case]:
    """The benchmarks of scenarios/five.toml, in float32 and float16; B6 (several GEMMs, the backward pass; float32
    only) with `train_step`."""
    doc = tomllib.loads((ROOT / "scenarios" / "five.toml").read_text())
    cases = []
    for dtype in ("float32", "float16"):
        for s in doc["scenario"]:
            if s["op"] == "train_step" and (not train_step or dtype != "float32"):
                continue  # B6 is a float32 scenario; its half kernels are test_cuda_compile's own case
            bias = tuple(s["bias"]) if "bias" in s else None
            cases.append(Case(s["name"], s["op"], tuple(s["a"]), tuple(s["b"]), bias, dtype))
    return cases
