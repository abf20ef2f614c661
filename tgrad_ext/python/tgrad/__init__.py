"""tgrad: tinygrad's matmul path with a native (Rust) core.

Swap `from tinygrad import Tensor, dtypes, Device` for `from tgrad import ...`.
"""

from tgrad import (
    _native,
    nn,
)
from tgrad.device import Device
from tgrad.dtype import DType, dtypes
from tgrad.errors import TgradError
from tgrad.helpers import Context, GlobalCounters, getenv
from tgrad.jit import TinyJit
from tgrad.tensor import Tensor

__version__ = _native.__version__


def _remove_private_cache() -> None:
    """TGRAD_CACHE=off compiles into a per-process directory: remove it when the process ends."""
    import atexit
    import os
    import shutil
    from pathlib import Path

    if os.environ.get("TGRAD_CACHE") == "off":
        private = Path(str(_native.build_info()["cache_dir"])).parent
        atexit.register(shutil.rmtree, private, ignore_errors=True)


_remove_private_cache()


class Variable:
    """tinygrad's symbolic Variable is outside tgrad's subset; the name exists for imports."""

    def __init__(self, *args, **kwargs):
        from tgrad.errors import UnsupportedError

        raise UnsupportedError("symbolic shapes (Variable) are outside tgrad's subset")


def build_info() -> dict:
    """Version, build profile (release/debug), vector ISA, threads, compiler, cache dir."""
    return dict(_native.build_info())


__all__ = [
    "Context",
    "DType",
    "Device",
    "GlobalCounters",
    "Tensor",
    "TgradError",
    "TinyJit",
    "Variable",
    "build_info",
    "dtypes",
    "getenv",
    "nn",
]
