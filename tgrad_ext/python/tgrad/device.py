"""Devices. `Device.DEFAULT` is where `realize()` runs kernels: the device TGRAD_DEVICE names (CPU, CUDA, or the GPU
emulator's CUDA_EMU / METAL_EMU, which run the CUDA or Metal kernels on the CPU), or, where it is unset, CUDA when a
GPU is usable and passes a self-check (a small fused GEMM that must match the CPU engine exactly), else the CPU.
The choice is made once per process, on first use (docs/gpu.md, docs/emulator.md)."""

from __future__ import annotations

import os

from tgrad import _native
from tgrad.errors import DeviceError

# what each device is, for repr
_KINDS = {
    "CPU": "the CPU",
    "CUDA": "an NVIDIA GPU",
    "CUDA_EMU": "CUDA kernels on the CPU (GPU emulator)",
    "METAL_EMU": "Metal kernels on the CPU (GPU emulator)",
}


class _Renderer:
    """What tinygrad's tests ask a device's renderer: the dtypes it computes in (Metal has no double)."""

    def __init__(self, device: str):
        self.device = device

    def supported_dtypes(self) -> set:
        from tgrad.dtype import dtypes

        out = {dtypes.bool, dtypes.float16, dtypes.float32, dtypes.int32}
        return out if self.device == "METAL_EMU" else {*out, dtypes.float64}

    def __repr__(self) -> str:
        return f"<tgrad renderer for {self.device}>"


class _Dev:
    """One device: a name, its renderer, and `synchronize` (realize() returns once the device is done, so there is
    nothing to wait for)."""

    def __init__(self, name: str):
        self.renderer = _Renderer(name)
        self.name = name
        if name == "CUDA":
            ok, reason = _native.cuda_available()
            if not ok:
                raise DeviceError(f"CUDA is not usable here: {reason}")
            self.description = reason
        else:
            self.description = _KINDS[name]

    def synchronize(self) -> None:
        """realize() waits for the device, so there is nothing left to wait for."""

    def __repr__(self) -> str:
        return f"<tgrad device {self.name}: {self.description}>"


def _wanted() -> str:
    return os.environ.get("TGRAD_DEVICE", "").split(":")[0].upper()


def _check_environment() -> None:
    """TGRAD_DEVICE=CUDA on a machine where CUDA is unusable is an error at import, with the reason."""
    if _wanted() == "CUDA":
        ok, reason = _native.cuda_available()
        if not ok:
            raise DeviceError(f"TGRAD_DEVICE=CUDA but CUDA is not usable: {reason}")


class _Device:
    def __init__(self) -> None:
        self._devices: dict[str, _Dev] = {}
        self._default: str | None = None
        self.names: tuple[str, ...] = tuple(_native.devices())

    @property
    def DEFAULT(self) -> str:
        if self._default is None:
            self._default = _native.default_device()
        return self._default

    @DEFAULT.setter
    def DEFAULT(self, device: str) -> None:
        d = self.canonicalize(device)
        if d != _native.default_device():
            raise DeviceError(
                f"tgrad runs kernels on {_native.default_device()} in this process; it picks the device once, "
                f"from TGRAD_DEVICE (set TGRAD_DEVICE={d} before importing tgrad)"
            )
        self._default = d

    def why_not_cuda(self) -> str | None:
        """Why CUDA is not the default here (None when it is, or would be without TGRAD_DEVICE=CPU)."""
        return _native.cuda_auto_refusal()

    def canonicalize(self, device: str | None) -> str:
        if device is None:
            return self.DEFAULT
        if not isinstance(device, str):
            raise DeviceError(f"a device is a name such as 'CPU', got {device!r} (devices: {', '.join(self.names)})")
        d = device.split(":")[0].upper()
        if d not in self.names:
            raise DeviceError(f"device {device!r} is not available in tgrad (devices: {', '.join(self.names)})")
        return d

    def __getitem__(self, name: str) -> _Dev:
        d = self.canonicalize(name)
        if d not in self._devices:
            self._devices[d] = _Dev(d)
        return self._devices[d]


_check_environment()
Device = _Device()
