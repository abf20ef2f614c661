"""`from tinygrad.engine.jit import TinyJit, JitError` works with tgrad too."""

from tgrad.errors import JitError
from tgrad.jit import TinyJit

__all__ = ["JitError", "TinyJit"]
