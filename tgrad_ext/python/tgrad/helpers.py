"""tinygrad's helpers that code written for it imports: getenv, OSX, Context, DEBUG."""

from __future__ import annotations

import os
import platform
from typing import Any

from tgrad import _native

OSX = platform.system() == "Darwin"


def getenv(key: str, default: Any = 0) -> Any:
    return type(default)(os.getenv(key, default))


# tinygrad flag names -> tgrad flags in the native core
_NATIVE_FLAGS = {"DEBUG": "DEBUG", "BEAM": "BEAM", "NOOPT": "NOOPT", "THREADS": "THREADS", "KEEP_PACKED": "KEEP_PACKED"}


class _Flag:
    """A flag read through `.value`, like tinygrad's ContextVar."""

    def __init__(self, name: str):
        self.name = name

    @property
    def value(self) -> int:
        return _native.get_flag(self.name)


DEBUG, BEAM, NOOPT = _Flag("DEBUG"), _Flag("BEAM"), _Flag("NOOPT")


class Context:
    """`with Context(DEBUG=2, BEAM=1):` sets flags for the block, then restores them.

    Flags tgrad has no use for (e.g. IGNORE_BEAM_CACHE) are accepted and ignored, so code
    written for tinygrad runs unchanged.
    """

    def __init__(self, **kwargs: int):
        self.kwargs = kwargs
        self.saved: dict[str, int] = {}
        self.ignored = {k: v for k, v in kwargs.items() if k not in _NATIVE_FLAGS}

    def __enter__(self) -> Context:
        for k, v in self.kwargs.items():
            if k in _NATIVE_FLAGS:
                self.saved[k] = _native.set_flag(_NATIVE_FLAGS[k], int(v))
        return self

    def __exit__(self, *exc) -> None:
        for k, v in self.saved.items():
            _native.set_flag(_NATIVE_FLAGS[k], v)
