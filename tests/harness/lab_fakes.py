"""Fake engines with known timings and outputs, for testing the harness itself (not a test module).

Fakes time themselves: step() returns the seconds of call number i, BASE * SEQUENCE[i % len(SEQUENCE)],
so the samples a run must record are known exactly: call 0 is the first call, then `warmup` calls,
then the samples. Outputs are the exact product rounded once to the scenario's dtype (well inside the
error bound) unless a fake is meant to be wrong.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from harness.engines.base import Engine, Unavailable, Unsupported
from harness.scenario import Budget
from harness.workload import Inputs

FAKES = str(Path(__file__).resolve())
SEQUENCE = (1.00, 1.02, 0.98, 1.05, 0.97, 1.01, 1.03)


def expected_samples(base: float, warmup: int, count: int) -> list[float]:
    return [base * SEQUENCE[i % len(SEQUENCE)] for i in range(1 + warmup, 1 + warmup + count)]


def exact(inputs: Inputs) -> np.ndarray:
    product = inputs.logical_a().astype(np.float64) @ inputs.logical_b().astype(np.float64)
    if inputs.bias is not None:
        product = np.maximum(product + inputs.bias.astype(np.float64), 0.0)
    return product


class KnownStep:
    def __init__(self, inputs: Inputs, base: float, error: float):
        self.inputs, self.base, self.error, self.calls = inputs, base, error, 0

    def step(self) -> float:
        seconds = self.base * SEQUENCE[self.calls % len(SEQUENCE)]
        self.calls += 1
        return seconds

    def output(self) -> np.ndarray:
        result = exact(self.inputs) * (1.0 + self.error)
        return result.astype(self.inputs.a.dtype)


class KnownEngine(Engine):
    family = "fake"
    description = "fake engine with known timings"
    base: ClassVar[float] = 1e-3
    error: ClassVar[float] = 0.0

    def load(self) -> dict[str, Any]:
        return {"version": "fake"}

    def prepare(self, inputs: Inputs, device: str) -> KnownStep:
        return KnownStep(inputs, self.base, self.error)


class FastFake(KnownEngine):
    name = "fast-fake"
    base = 1e-3


class SlowFake(KnownEngine):
    name = "slow-fake"
    base = 3e-3


class WrongFake(KnownEngine):
    name = "wrong-fake"
    error = 1e-2  # relative: far outside a float32 bound for short reductions


class MissingFake(KnownEngine):
    name = "missing-fake"

    def load(self) -> dict[str, Any]:
        raise Unavailable("fakelib is not installed")


class UnsupportedFake(KnownEngine):
    name = "unsupported-fake"

    def prepare(self, inputs: Inputs, device: str) -> KnownStep:
        raise Unsupported("no linear_relu in fakelib")


class NoDeviceFake(KnownEngine):
    name = "nodevice-fake"

    def prepare(self, inputs: Inputs, device: str) -> KnownStep:
        raise Unavailable(f"fakelib cannot open {device}: no GPU")


class DebugBuildFake(KnownEngine):
    """Loads like a tgrad built in debug: build_info's profile is 'debug'."""

    name = "debugbuild-fake"
    family = "tgrad"

    def load(self) -> dict[str, Any]:
        return {"version": "0.1.0", "build_info": {"version": "0.1.0", "profile": "debug", "threads": 2}}


class NanTimeStep(KnownStep):
    def step(self) -> float:
        seconds = super().step()
        return float("nan") if self.calls == 4 else seconds  # one steady-state sample is NaN


class NanTimeFake(KnownEngine):
    """Measures itself and reports NaN for one call."""

    name = "nantime-fake"

    def prepare(self, inputs: Inputs, device: str) -> KnownStep:
        return NanTimeStep(inputs, self.base, 0.0)


class CpuOnlyFake(KnownEngine):
    name = "cpuonly-fake"
    devices = ("CPU",)


class EmulatedFake(KnownEngine):
    """Stands in for a GPU, as the GPU emulator engines do: its cells are marked `emulated`."""

    name = "emulated-fake"
    emulated = "emulated (a fake GPU emulator)"


class OneCallFake(KnownEngine):
    """Caps its cells' budget to the first call and one timed call, as tinygrad's PYTHON device engines do."""

    name = "onecall-fake"

    def cell_budget(self, budget: Budget) -> Budget:
        return dataclasses.replace(budget, warmup=0, warmup_s=0.0, min_samples=1, max_samples=1)


class CrashingFake(KnownEngine):
    name = "crashing-fake"

    def prepare(self, inputs: Inputs, device: str) -> KnownStep:
        raise RuntimeError("fakelib crashed")


class SleepyStep(KnownStep):
    def step(self) -> None:
        pid_file = os.environ.get("LAB_FAKE_PIDFILE")
        if pid_file:
            Path(pid_file).write_text(str(os.getpid()))
        time.sleep(float(os.environ.get("LAB_FAKE_SLEEP_S", "0.05")))


class SleepyFake(KnownEngine):
    """Really sleeps (wall-clock timed; LAB_FAKE_SLEEP_S per call, default 0.05), to interrupt a run in
    the middle of a cell."""

    name = "sleepy-fake"

    def prepare(self, inputs: Inputs, device: str) -> SleepyStep:
        return SleepyStep(inputs, self.base, 0.0)


def spec(cls: type | str) -> str:
    """A fake engine class as a `file.py:Class` spec; a registry name stays as it is."""
    return cls if isinstance(cls, str) else f"{FAKES}:{cls.__name__}"


def write_scenarios(
    folder: Path,
    engines: list[type | str],
    *,
    subject: type | str | None = None,
    budget: str = "warmup = 2\nwarmup_s = 0\nmin_samples = 6\nmax_samples = 50\ntime_s = 0.0",
    extra: str = "",
    lab_extra: str = "",
    defaults_extra: str = "",
) -> Path:
    """A tiny scenario file: two small scenarios run by the given engines (fake classes or
    registry names)."""
    names = ", ".join(f'"{spec(e)}"' for e in engines)
    subject_spec = spec(subject or engines[0])
    text = f"""[lab]
engines = [{names}]
subject = "{subject_spec}"
{lab_extra}
[defaults]
seed = 7
{defaults_extra}

[defaults.budget]
{budget}

[[scenario]]
name = "T1"
title = "tiny-gemm"
op = "matmul"
a = [8, 16]
b = [16, 4]

[[scenario]]
name = "T2"
title = "tiny-linear"
op = "linear_relu"
a = [5, 12]
b = [12, 3]
bias = [3]
{extra}"""
    path = folder / "tiny.toml"
    path.write_text(text)
    return path
