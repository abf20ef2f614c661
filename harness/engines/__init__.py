"""Engine registry: a name in a scenario file -> the class that runs it.

Names not in the registry may be given as `package.module:Class` or `path/to/file.py:Class` (the
tests use fake engines this way); such a class must subclass harness.engines.base.Engine.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from harness.engines.base import Engine, EngineContext, Prepared, Unavailable, Unsupported

REGISTRY: dict[str, str] = {
    "tinygrad-eager": "harness.engines.tinygrad_engine:TinygradEager",
    "tinygrad-jit": "harness.engines.tinygrad_engine:TinygradJit",
    "tinygrad-beam": "harness.engines.tinygrad_engine:TinygradBeam",
    "tgrad": "harness.engines.tgrad_engine:Tgrad",
    "tgrad-1t": "harness.engines.tgrad_engine:TgradSingleThread",
    "tgrad-beam": "harness.engines.tgrad_engine:TgradBeam",
    "tgrad-other": "harness.engines.tgrad_engine:TgradOther",
    "tgrad-cuda": "harness.engines.tgrad_engine:TgradCuda",
    "tgrad-cuda-emu": "harness.engines.gpu_emu:TgradCudaEmu",
    "tgrad-metal-emu": "harness.engines.gpu_emu:TgradMetalEmu",
    "tinygrad-python-sm80": "harness.engines.gpu_emu:TinygradPythonCuda",
    "tinygrad-python-metal": "harness.engines.gpu_emu:TinygradPythonMetal",
    "tinygrad-cl": "harness.engines.gpu_emu:TinygradCl",
    "numpy": "harness.engines.numpy_engine:Numpy",
    "torch": "harness.engines.torch_engine:Torch",
}

__all__ = ["REGISTRY", "Engine", "EngineContext", "Prepared", "Unavailable", "Unsupported", "resolve"]


class UnknownEngine(ValueError):
    pass


def _load_module(location: str) -> ModuleType:
    if location.endswith(".py"):
        path = Path(location).resolve()
        name = f"_harness_engine_{path.stem}"
        if name in sys.modules:
            return sys.modules[name]
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise UnknownEngine(f"cannot load engine file {location}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module
    return importlib.import_module(location)


def resolve(spec: str) -> Engine:
    """An engine instance for a registry name or a `module:Class` / `file.py:Class` spec."""
    target = REGISTRY.get(spec, spec)
    if ":" not in target:
        known = ", ".join(REGISTRY)
        raise UnknownEngine(f"unknown engine {spec!r} (known: {known}; or give module:Class)")
    location, class_name = target.rsplit(":", 1)
    try:
        module = _load_module(location)
        cls = getattr(module, class_name)
    except (ImportError, AttributeError, OSError) as e:
        raise UnknownEngine(f"cannot load engine {spec!r}: {e}") from e
    if not (isinstance(cls, type) and issubclass(cls, Engine)):
        raise UnknownEngine(f"{spec!r} is not an Engine subclass")
    return cls()
