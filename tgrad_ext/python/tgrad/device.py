"""Devices. `Device.DEFAULT` is where `realize()` runs kernels: CUDA when TGRAD_DEVICE=CUDA names it,
or when TGRAD_DEVICE is unset and a GPU is usable and passes a self-check (a small fused GEMM that
must match the CPU engine exactly); otherwise the CPU. TGRAD_DEVICE=CPU keeps everything on the CPU.
The choice is made once per process, on first use (docs/gpu.md)."""

from __future__ import annotations

import os

from tgrad import _native
from tgrad.errors import DeviceError


class _CPU:
    name = "CPU"

    def synchronize(self) -> None:
        """Kernels run synchronously in realize(), so there is nothing to wait for."""

    def __repr__(self) -> str:
        return "<tgrad device CPU>"


class _CUDA:
    name = "CUDA"

    def __init__(self) -> None:
        ok, reason = _native.cuda_available()
        if not ok:
            raise DeviceError(f"CUDA is not usable here: {reason}")
        self.description = reason

    def synchronize(self) -> None:
        """realize() on CUDA copies results back, which waits for the device."""

    def __repr__(self) -> str:
        return f"<tgrad device CUDA: {self.description}>"


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
        self._devices: dict[str, object] = {"CPU": _CPU()}
        self._default: str | None = None

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
        d = device.split(":")[0].upper()
        if d not in ("CPU", "CUDA"):
            raise DeviceError(f"device {device!r} is not available in tgrad (devices: CPU, CUDA)")
        return d

    def __getitem__(self, name: str):
        d = self.canonicalize(name)
        if d not in self._devices:
            self._devices[d] = _CUDA()
        return self._devices[d]


_check_environment()
Device = _Device()
