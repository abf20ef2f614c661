"""tinygrad's helpers that code written for it imports: getenv, OSX, Context, DEBUG, BEAM, NOOPT.

The flags are the native core's registry (`_native.settings()`): one list of names, ranges and docs.
"""

from __future__ import annotations

import contextlib
import functools
import numbers
import os
import platform
from typing import Any

from tgrad import _native
from tgrad.errors import InvalidArgumentError

OSX = platform.system() == "Darwin"

# the integer flags of the registry: name -> (min, max, doc)
_INT_FLAGS: dict[str, tuple[int, int, str]] = {
    name: (lo, hi, doc) for name, _env, kind, _default, lo, hi, _words, doc in _native.settings() if kind == "int"
}


# tinygrad 0.14's ContextVar names: Context accepts them (and ignores those tgrad has no use for), so code written
# for tinygrad runs unchanged; any other name is a typo and an error, as in tinygrad (KeyError)
TINYGRAD_FLAGS = frozenset(
    "ALL2ALL ALLOW_DEVICE_USAGE ALLOW_TF32 ALLREDUCE_CAST BEAM CACHELEVEL CAPTURE_PROCESS_REPLAY CAPTURING CCACHE "
    "CHECK_OOB DEBUG DEBUG_RANGEIFY DEFAULT_FLOAT DEFAULT_INT DEV DISABLE_FAST_IDIV DISALLOW_BROADCAST "
    "EMULATED_DTYPES FLOAT16 FUSE_OPTIM HCQ_RUNTIME_DEV IGNORE_BEAM_CACHE IMAGE JIT JIT_BATCH_SIZE LRU "
    "MAX_BUFFER_SIZE MAX_KERNEL_BUFFERS NOLOCALS NOOPT NO_COLOR NO_MEMORY_PLANNER NULL_ALLOW_COPYOUT "
    "NUM_CPU_THREADS OPENPILOT_HACKS PARALLEL PCONTIG PMA PMC PROFILE REWRITE_STACK_LIMIT RING SCACHE SPEC "
    "SPLIT_REDUCEOP SQTT SQTT_ITRACE_SE_MASK SQTT_LIMIT_SE SQTT_SIMD_SEL SQTT_TOKEN_EXCLUDE TC TC_OPT TC_SELECT "
    "TRACEMETA TRACK_MATCH_STATS TRAINING TRANSCENDENTAL TUPLE_ORDER USE_ATOMICS VALIDATE_WITH_CPU VIZ WINO".split()
)


def getenv(key: str, default: Any = 0) -> Any:
    return type(default)(os.getenv(key, default))


@functools.total_ordering
class _Flag:
    """A flag read through `.value` or used as an int (`DEBUG >= 2`), like tinygrad's ContextVar."""

    def __init__(self, name: str):
        self.key = name

    @property
    def value(self) -> int:
        return _native.get_flag(self.key)

    def __int__(self) -> int:
        return self.value

    def __index__(self) -> int:
        return self.value

    def __bool__(self) -> bool:
        return self.value != 0

    def __eq__(self, other: object) -> bool:
        return self.value == (other.value if isinstance(other, _Flag) else other)

    def __lt__(self, other: Any) -> bool:
        return self.value < (other.value if isinstance(other, _Flag) else other)

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        return f"<{self.key}={self.value}>"


DEBUG, BEAM, NOOPT = _Flag("DEBUG"), _Flag("BEAM"), _Flag("NOOPT")


def _checked(name: str, value: Any) -> int:
    """A Context value for an integer flag, or an error naming the flag and its range."""
    lo, hi, doc = _INT_FLAGS[name]
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):  # numpy ints are Integral, bools not
        raise InvalidArgumentError(f"Context({name}={value!r}): {name} takes an integer from {lo} to {hi} ({doc})")
    if not lo <= value <= hi:
        raise InvalidArgumentError(f"Context({name}={value!r}): {name} is an integer from {lo} to {hi} ({doc})")
    return int(value)


class Context(contextlib.ContextDecorator):
    """`with Context(DEBUG=2, BEAM=1):` or `@Context(DEBUG=2)` sets flags for the block, then restores them.

    Values are checked when the Context is made, so entering it either sets every flag or none. tinygrad's flags
    that tgrad has no use for (e.g. IGNORE_BEAM_CACHE) are accepted and ignored, so code written for tinygrad runs
    unchanged; a name neither knows is an error.
    """

    def __init__(self, **kwargs: Any):
        unknown = [k for k in kwargs if k not in _INT_FLAGS and k not in TINYGRAD_FLAGS]
        if unknown:
            raise InvalidArgumentError(
                f"Context({unknown[0]}=...): unknown flag {unknown[0]!r} (tgrad's flags: {', '.join(_INT_FLAGS)}; "
                "tinygrad's are accepted and ignored)"
            )
        self.values = {k: _checked(k, v) for k, v in kwargs.items() if k in _INT_FLAGS}
        self.ignored = {k: v for k, v in kwargs.items() if k not in _INT_FLAGS}
        self._saved: list[dict[str, int]] = []

    def __enter__(self) -> Context:
        saved: dict[str, int] = {}
        try:
            for k, v in self.values.items():
                saved[k] = _native.set_flag(k, v)
        except BaseException:
            for k, old in saved.items():
                _native.set_flag(k, old)
            raise
        self._saved.append(saved)
        return self

    def __exit__(self, *exc: object) -> None:
        for k, old in self._saved.pop().items():
            _native.set_flag(k, old)


def settings_table() -> str:
    """The README's settings table, from the registry (a test keeps the README equal to it)."""
    rows = ["| env var | meaning |", "|---|---|"]
    for _name, env, _kind, _default, _lo, _hi, _words, doc in _native.settings():
        rows.append(f"| `{env}` | {doc} |")
    return "\n".join(rows)
