"""tgrad: tinygrad's matmul path with a native (Rust) core.

Swap `from tinygrad import Tensor, dtypes, Device` for `from tgrad import ...`.
"""

import atexit

from tgrad import _native, nn
from tgrad.device import Device
from tgrad.dtype import DType, dtypes
from tgrad.errors import TgradError
from tgrad.helpers import Context, GlobalCounters, getenv
from tgrad.jit import TinyJit
from tgrad.tensor import Tensor

__version__ = _native.__version__


def _remove_private_cache() -> None:
    """TGRAD_CACHE=off, and a cache that cannot be written, compile into a private directory of this process
    (`tgrad-nocache-<pid>-<random>` or `tgrad-cache-fallback-<pid>-<random>` under TMPDIR, as the core names
    them): remove it when the process ends. A forked child removes only the directories named with its own pid."""
    import glob
    import os
    import shutil

    base = os.environ.get("TMPDIR") or "/tmp"
    for prefix in ("tgrad-nocache", "tgrad-cache-fallback"):
        for d in glob.glob(os.path.join(glob.escape(base), f"{prefix}-{os.getpid()}-*")):
            shutil.rmtree(d, ignore_errors=True)


atexit.register(_remove_private_cache)


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
