"""GPU kernels on the CPU: tgrad's CUDA and Metal kernels under its GPU emulator, and upstream tinygrad's
GPU-style code paths that run without a GPU (its PYTHON emulator as an sm_80 CUDA or a Metal device, and its
OpenCL backend on PoCL).

Scenarios for these engines name the device `EMU` (scenarios/gpu-emu.toml): each engine runs them on its own
stand-in for a GPU, listed in `backend`. Every engine here is marked `emulated`, so the run record and the table
say that its outputs are judged as usual (the float64 oracle) but its times are CPU times, not GPU timings.

- `tgrad-cuda-emu`, `tgrad-metal-emu`: TGRAD_DEVICE=CUDA_EMU / METAL_EMU. The CUDA C and Metal source tgrad
  renders, compiled by the host C++ compiler against the emulation headers and run with every GPU thread a fiber
  (docs/emulator.md). The kernel cache starts empty (TGRAD_CACHE=off), so the first call includes compiling.
- `tinygrad-python-sm80`, `tinygrad-python-metal`: DEV=PYTHON::sm_80 / DEV=PYTHON::METAL. tinygrad's PYTHON
  device interprets tinygrad's own kernel IR (uops) in Python, with the tensor-core shapes of an sm_80 GPU or of
  Metal. It stores half through memoryview format 'e', which Python has from 3.12: on older Pythons it offers no
  float16, and those cells are unavailable with that reason. Its calls take up to a minute at these sizes, so its
  cells time the first call and one more (`cell_budget`).
- `tinygrad-cl`: DEV=CL on PoCL, an OpenCL implementation that compiles tinygrad's OpenCL C kernels for the CPU.
  OCL_ICD_VENDORS names PoCL's ICD file, so another OpenCL driver (a GPU's) is never picked instead. Without PoCL
  the cells are unavailable and say what to install (`make bench-gpu-emu` installs it).
"""

from __future__ import annotations

import dataclasses
import glob
import os
import shutil
import sys
from typing import Any, ClassVar

from harness.engines.base import EngineContext, Unavailable
from harness.engines.tensor_api import TensorApiEngine, TensorStep
from harness.scenario import Budget
from harness.workload import Inputs

EMU_DEVICE = "EMU"  # the scenario device these engines run on
POCL_ICD_GLOB = "/etc/OpenCL/vendors/pocl*.icd"  # where Debian's pocl-opencl-icd registers PoCL
POCL_PACKAGES = "pocl-opencl-icd ocl-icd-libopencl1"


def cxx_problem() -> str | None:
    """Why tgrad's GPU emulator cannot compile kernels here, or None. It takes TGRAD_CXX, else the first of g++,
    clang++ and c++ on PATH (runtime/cpu/compiler.rs)."""
    named = os.environ.get("TGRAD_CXX")
    candidates = [named] if named else ["g++", "clang++", "c++"]
    if any(shutil.which(c) for c in candidates):
        return None
    return (
        f"the GPU emulator compiles kernels with a C++ compiler, and {' / '.join(candidates)} is not on PATH "
        "(install g++ or clang++, or set TGRAD_CXX)"
    )


class EmulatedEngine(TensorApiEngine):
    """tinygrad's API on a stand-in for a GPU: a scenario on device EMU runs on `backend`."""

    devices = (EMU_DEVICE,)
    jit = False
    backend: ClassVar[str]  # the library's device name the cells run on

    def prepare(self, inputs: Inputs, device: str) -> TensorStep:
        self.check_dtype(str(inputs.a.dtype))
        return super().prepare(inputs, self.backend)

    def check_dtype(self, dtype: str) -> None:
        """Raise Unavailable when the backend offers no `dtype` here."""


# ------------------------------------------------------------------------------------------ tgrad
class TgradEmu(EmulatedEngine):
    family = "tgrad"
    module_name = "tgrad"

    def environment(self, context: EngineContext) -> dict[str, str]:
        return {"TGRAD_CACHE": "off", "TGRAD_BEAM": "0", "TGRAD_DEVICE": self.backend}

    def load(self) -> dict[str, Any]:
        problem = cxx_problem()
        if problem is not None:
            raise Unavailable(problem)
        try:
            info = super().load()
        except Unavailable:
            raise
        except Exception as e:  # TGRAD_DEVICE is checked when tgrad is imported
            raise Unavailable(f"tgrad cannot use {self.backend} here: {type(e).__name__}: {e}") from e
        module = self._module
        if module is not None and getattr(module.Device, "DEFAULT", None) != self.backend:
            raise Unavailable(f"this tgrad build runs on {module.Device.DEFAULT}, not {self.backend}")
        return info


class TgradCudaEmu(TgradEmu):
    name = "tgrad-cuda-emu"
    description = (
        "tgrad's CUDA kernels (sm_90) on the CPU under tgrad's GPU emulator (TGRAD_DEVICE=CUDA_EMU): "
        "(a@b).realize(), the result left in emulated device memory"
    )
    emulated = "emulated (tgrad's GPU emulator)"
    backend = "CUDA_EMU"


class TgradMetalEmu(TgradEmu):
    name = "tgrad-metal-emu"
    description = (
        "tgrad's Metal kernels on the CPU under tgrad's GPU emulator (TGRAD_DEVICE=METAL_EMU): "
        "(a@b).realize(), the result left in emulated device memory"
    )
    emulated = "emulated (tgrad's GPU emulator)"
    backend = "METAL_EMU"


# ------------------------------------------------------------------------------------------ tinygrad
class TinygradEmulated(EmulatedEngine):
    family = "tinygrad"
    module_name = "tinygrad"
    target: ClassVar[str]  # the DEV setting

    def __init__(self) -> None:
        super().__init__()
        self._device: Any = None  # the opened tinygrad device

    def environment(self, context: EngineContext) -> dict[str, str]:
        return {"DEV": self.target, "CACHELEVEL": "0", "BEAM": "0"}

    def load(self) -> dict[str, Any]:
        info = super().load()
        info["target"] = self.target
        info.update(self.open_backend())
        return info

    def open_backend(self) -> dict[str, Any]:
        """Open the backend device; return facts worth recording. Raise Unavailable with the reason."""
        module = self._module
        if module is None:
            raise RuntimeError("open_backend() before load()")
        try:
            device = module.Device[self.backend]
        except Exception as e:  # each backend raises its own error for a missing library
            raise Unavailable(f"tinygrad cannot open {self.backend} ({self.target}): {type(e).__name__}: {e}") from e
        self._device = device
        return {"renderer": type(device.renderer).__name__}

    def supports(self, dtype: str) -> bool:
        """Whether the backend's renderer offers `dtype` (tinygrad's own list)."""
        dtypes = self._module.dtypes if self._module is not None else None
        if dtypes is None:
            raise RuntimeError("supports() before load()")
        wanted = getattr(dtypes, dtype)
        return bool(wanted in self._device.renderer.supported_dtypes())


class TinygradPython(TinygradEmulated):
    backend = "PYTHON"
    emulated = "emulated (tinygrad's PYTHON device)"

    def cell_budget(self, budget: Budget) -> Budget:
        # each call interprets every thread's uops in Python: here 17 s at 129x127x17 and about a minute at
        # 256^3 as sm_80, so a cell is the first call and one timed call
        return dataclasses.replace(budget, warmup=0, warmup_s=0.0, min_samples=1, max_samples=1)

    def check_dtype(self, dtype: str) -> None:
        if self.supports(dtype):
            return
        version = ".".join(map(str, sys.version_info[:2]))
        if dtype == "float16" and sys.version_info < (3, 12):
            raise Unavailable(
                f"tinygrad's PYTHON device has no float16 on Python {version}: it stores half through memoryview "
                "format 'e', which Python has from 3.12 (PythonRenderer.supported_dtypes)"
            )
        raise Unavailable(f"tinygrad's PYTHON device ({self.target}) offers no {dtype} on Python {version}")


class TinygradPythonCuda(TinygradPython):
    name = "tinygrad-python-sm80"
    description = (
        "tinygrad's PYTHON emulator as an sm_80 CUDA GPU (DEV=PYTHON::sm_80, its tensor-core shapes): "
        "(a@b).realize(), tinygrad's uops interpreted in Python; the first call and one timed call"
    )
    target = "PYTHON::sm_80"


class TinygradPythonMetal(TinygradPython):
    name = "tinygrad-python-metal"
    description = (
        "tinygrad's PYTHON emulator as a Metal GPU (DEV=PYTHON::METAL, simdgroup matrix shapes): "
        "(a@b).realize(), tinygrad's uops interpreted in Python; the first call and one timed call"
    )
    target = "PYTHON::METAL"


class TinygradCl(TinygradEmulated):
    name = "tinygrad-cl"
    description = (
        "tinygrad's OpenCL backend on PoCL (DEV=CL; OpenCL C kernels compiled for the CPU by PoCL, "
        "all its threads): (a@b).realize() + synchronize"
    )
    emulated = "OpenCL on the CPU (PoCL)"
    backend = "CL"
    target = "CL"
    icd_glob: ClassVar[str] = POCL_ICD_GLOB

    def pocl_icd(self) -> str | None:
        """PoCL's ICD file, or None when PoCL is not installed."""
        found = sorted(glob.glob(self.icd_glob))
        return found[0] if found else None

    def environment(self, context: EngineContext) -> dict[str, str]:
        env = super().environment(context)
        icd = self.pocl_icd()
        if icd is not None:
            env["OCL_ICD_VENDORS"] = icd  # the ICD loader then offers PoCL alone
        return env

    def load(self) -> dict[str, Any]:
        if self.pocl_icd() is None:
            raise Unavailable(
                f"PoCL is not installed (no {self.icd_glob}): apt-get install -y {POCL_PACKAGES} "
                "(`make bench-gpu-emu` installs them)"
            )
        return super().load()

    def open_backend(self) -> dict[str, Any]:
        info = super().open_backend()
        info["cl_device"] = str(getattr(self._device, "device_name", "?"))
        info["cl_driver"] = str(getattr(self._device, "driver_version", "?"))
        return info

    def check_dtype(self, dtype: str) -> None:
        if not self.supports(dtype):
            needs = {"float16": " (the device lacks cl_khr_fp16)"}.get(dtype, "")
            raise Unavailable(f"tinygrad's CL renderer offers no {dtype} on this OpenCL device{needs}")
