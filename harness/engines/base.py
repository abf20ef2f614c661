"""The one interface every engine implements; adding an engine is one module with one class.

An engine runs inside its own worker process (harness.worker): `environment()` is applied before the
process starts (settings such as BEAM must be set before the library is imported), `load()` imports
the library, `prepare()` moves the inputs to the device and returns a `Prepared` whose `step()` is
what gets timed.
"""

from __future__ import annotations

import abc
import dataclasses
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np

from harness.record import Threads
from harness.scenario import Budget
from harness.workload import Inputs


class Unavailable(Exception):
    """The engine cannot run on this machine (not installed, no device, an incomplete build)."""


class Unsupported(Exception):
    """The engine runs here but does not support this scenario (it raised NotImplementedError)."""


@dataclasses.dataclass(frozen=True)
class EngineContext:
    cache_dir: Path  # where engines keep caches of their own (the BEAM search cache)
    fresh_search: bool = False  # ignore cached search results


class Prepared(Protocol):
    def step(self) -> float | None:
        """Run once, synchronised with the device. Returns None, or the seconds the step measured
        itself (device events, fake engines); then that number is the sample instead of wall time."""
        ...

    def output(self) -> np.ndarray:
        """The result of the last step as a numpy array in the engine's output dtype."""
        ...


# A Prepared may also have `facts() -> dict | None`: what the library states about the kernels it ran
# (tensor_api.kernel_facts: certificates, rounding depth). The worker calls it after the timed steps
# and the runner keeps it in the cell (`facts`); agreement then judges the stated rounding depth.


class Engine(abc.ABC):
    name: ClassVar[str]  # the engine's name in scenario files and tables
    family: ClassVar[str]  # library: tinygrad, tgrad, numpy
    description: ClassVar[str]
    searches: ClassVar[bool] = False  # a long first call (kernel search): search_limit_s, left out by --quick
    # the scenario devices the engine runs on (None: any device the library offers); another device
    # is reported as unsupported instead of silently running elsewhere
    devices: ClassVar[tuple[str, ...] | None] = None
    # None for an engine that times the device its scenario names; otherwise what stands in for the GPU
    # (a GPU emulator, OpenCL on the CPU): its outputs are judged like any other, but its times are CPU
    # times, not GPU timings. The runner copies it into each cell (`emulated`) and the table flags it.
    emulated: ClassVar[str | None] = None
    # the CPU threads a cell computes on: "one", "all" (one per usable core), or None when the engine does
    # not say; the table reads a cell against the machine's one-thread or all-thread ceiling accordingly
    # (harness/ceiling.py), and against all threads, with a note, when it is not stated
    threads: ClassVar[Threads | None] = None

    def check_device(self, device: str) -> None:
        """Raise Unsupported when this engine does not run on the scenario's device."""
        if self.devices is not None and device.split(":")[0].upper() not in self.devices:
            raise Unsupported(f"{self.name} runs on {', '.join(self.devices)}, not {device}")

    def environment(self, context: EngineContext) -> dict[str, str]:
        """Environment variables the worker process starts with."""
        return {}

    def refusal(self, info: dict[str, Any]) -> str | None:
        """Why this loaded library must not be timed at all, or None. A library that reports a debug
        build (`build_info()["profile"] == "debug"`, as tgrad does) is refused: its timings would say
        nothing about the code, and comparing them with release builds would mislead."""
        build = info.get("build_info")
        if isinstance(build, dict) and build.get("profile") == "debug":
            version = info.get("version", "?")
            return (
                f"{self.name}: the library ({version}) is a debug build (build_info profile 'debug'); the lab"
                " does not time debug builds. Build the release: `make setup` (or `pip install .`, whose"
                " maturin profile is release)"
            )
        return None

    def cell_budget(self, budget: Budget) -> Budget:
        """The budget this engine's cells run under: the scenario's, unless the engine caps it (an engine whose
        every call takes most of a minute runs the first call and one timed call)."""
        return budget

    @abc.abstractmethod
    def load(self) -> dict[str, Any]:
        """Import the library; return facts worth recording (version, build). Raise Unavailable."""

    @abc.abstractmethod
    def prepare(self, inputs: Inputs, device: str) -> Prepared:
        """Put the inputs on the device and return the timed step. May raise Unsupported."""
