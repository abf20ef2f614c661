"""Devices. tgrad runs on the CPU; `Device.DEFAULT` is "CPU"."""

from __future__ import annotations

from tgrad.errors import DeviceError


class _CPU:
    name = "CPU"

    def synchronize(self) -> None:
        """Kernels run synchronously in realize(), so there is nothing to wait for."""

    def __repr__(self) -> str:
        return "<tgrad device CPU>"


class _Device:
    DEFAULT = "CPU"

    def __init__(self) -> None:
        self._devices = {"CPU": _CPU()}

    def canonicalize(self, device: str | None) -> str:
        if device is None:
            return self.DEFAULT
        d = device.split(":")[0].upper()
        if d not in self._devices:
            raise DeviceError(f"device {device!r} is not available in tgrad (available: {', '.join(self._devices)})")
        return d

    def __getitem__(self, name: str) -> _CPU:
        return self._devices[self.canonicalize(name)]


Device = _Device()
