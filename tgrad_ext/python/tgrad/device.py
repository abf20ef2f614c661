"""Devices. tgrad runs on the CPU; CUDA is used when TGRAD_DEVICE=CUDA names it and a GPU is
usable (see docs/gpu.md for why it is not yet picked automatically)."""

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


def _default() -> str:
    wanted = os.environ.get("TGRAD_DEVICE", "").split(":")[0].upper()
    if wanted == "CUDA":
        ok, reason = _native.cuda_available()
        if not ok:
            raise DeviceError(f"TGRAD_DEVICE=CUDA but CUDA is not usable: {reason}")
        return "CUDA"
    return "CPU"


class _Device:
    def __init__(self) -> None:
        self._devices: dict[str, object] = {"CPU": _CPU()}
        self.DEFAULT = _default()

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


Device = _Device()
