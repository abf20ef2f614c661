"""tgrad's exception classes. The native core maps each of its error kinds to one of these.

They subclass the builtin exceptions people already catch (and that tinygrad raises in the same
situations), so `except RuntimeError` around a bad matmul works with either library.
"""


class TgradError(Exception):
    """Base class of every tgrad error."""


class ShapeError(TgradError, ValueError, RuntimeError):
    """Operand shapes that do not fit together (matmul, broadcasting, reshape)."""


class DTypeError(TgradError, TypeError):
    """A dtype tgrad does not support for this operation."""


class InvalidArgumentError(TgradError, ValueError, RuntimeError):
    """A bad argument: negative or non-integer dims, an axis out of range, ... (also a RuntimeError: tinygrad raises
    RuntimeError for many of them, e.g. attention's "cannot set attn_mask when is_causal=True")."""


class IndexingError(TgradError, IndexError):
    """An index out of range or too many indices in `tensor[...]`, as tinygrad raises IndexError."""


class OutOfMemoryError(TgradError, MemoryError):
    """An allocation larger than the machine's memory."""


class CompilerNotFoundError(TgradError, RuntimeError):
    """No working C compiler: tgrad's CPU backend compiles kernels at run time."""


class CompileError(TgradError, RuntimeError):
    """The C compiler rejected a rendered kernel (the message names the kept source file)."""


class DeviceError(TgradError, RuntimeError):
    """Loading or running a compiled program failed, or a device is unavailable."""


class CacheError(TgradError, OSError):
    """The kernel cache directory could not be used."""


class UnsupportedError(TgradError, NotImplementedError):
    """Part of tinygrad's API that tgrad does not implement."""


class GradientError(TgradError, RuntimeError):
    """A gradient that cannot be taken: of an int tensor (tinygrad: "only float Tensors have gradient"), or with a
    seed of the wrong shape."""


class InternalError(TgradError, RuntimeError):
    """A broken internal invariant or a caught panic: a bug in tgrad, reported instead of a crash or
    a wrong result (the process stays usable)."""


class JitError(TgradError, RuntimeError):
    """TinyJit misuse, as tinygrad's JitError: duplicate or non-buffer inputs, arguments that differ
    from the captured call, a capture that ran no kernel, or a return value it cannot replay."""
