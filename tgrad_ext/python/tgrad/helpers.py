"""tinygrad's helpers that code written for it imports: getenv, OSX, CI, Context, ContextVar, GlobalCounters, and the
context variables DEBUG, BEAM, NOOPT, DEV, IMAGE, TRAINING, ...

DEBUG, BEAM and NOOPT are the native core's flags (the registry `_native.settings()`: one list of names, ranges and
docs); the others are Python values, as in tinygrad. `Context(...)` sets either kind for a block or a function.
"""

from __future__ import annotations

import contextlib
import functools
import numbers
import os
import platform
from typing import Any, ClassVar

from tgrad import _native
from tgrad.errors import InvalidArgumentError

OSX = platform.system() == "Darwin"
CI = os.getenv("CI", "") != ""

# the integer flags of the registry: name -> (min, max, doc)
_INT_FLAGS: dict[str, tuple[int, int, str]] = {
    name: (lo, hi, doc) for name, _env, kind, _default, lo, hi, _words, doc in _native.settings() if kind == "int"
}


def getenv(key: str, default: Any = 0) -> Any:
    return type(default)(os.getenv(key, default))


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


@functools.total_ordering
class ContextVar:
    """A setting read as `.value` or used as its value (`DEBUG >= 2`, `if TRAINING:`), like tinygrad's ContextVar.
    Its initial value comes from the environment variable of its name."""

    _cache: ClassVar[dict[str, ContextVar]] = {}

    def __init__(self, key: str, default: Any):
        ContextVar._cache[key] = self
        self.key = key
        self._value = getenv(key, default)

    @property
    def value(self) -> Any:
        return self._value

    @value.setter
    def value(self, v: Any) -> None:
        self._value = v

    def __int__(self) -> int:
        return int(self.value)

    def __index__(self) -> int:
        return int(self.value)

    def __bool__(self) -> bool:
        return bool(self.value)

    def __eq__(self, other: object) -> bool:
        return self.value == (other.value if isinstance(other, ContextVar) else other)

    def __lt__(self, other: Any) -> bool:
        return self.value < (other.value if isinstance(other, ContextVar) else other)

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        return f"<{self.key}={self.value}>"


class _Flag(ContextVar):
    """A context variable that is one of the native core's flags (its value lives in the core)."""

    def __init__(self, name: str):
        ContextVar._cache[name] = self
        self.key = name

    @property
    def value(self) -> int:
        return _native.get_flag(self.key)

    @value.setter
    def value(self, v: int) -> None:
        _native.set_flag(self.key, _checked(self.key, v))


class _Dev(ContextVar):
    """tinygrad's DEV: the device string of the environment ("" when unset); `.device` and friends read its fields."""

    def __getattr__(self, name: str) -> str:
        fields = ("device", "renderer", "arch")
        if name in fields:
            parts = str(self.value).split(":")
            i = fields.index(name)
            return (parts[i].upper() if i < 2 else parts[i]) if i < len(parts) else ""
        if name in ("interface", "indices"):
            return ""
        raise AttributeError(name)


DEBUG, BEAM, NOOPT = _Flag("DEBUG"), _Flag("BEAM"), _Flag("NOOPT")
DEV = _Dev("DEV", "")
IMAGE, FLOAT16, JIT = ContextVar("IMAGE", 0), ContextVar("FLOAT16", 0), ContextVar("JIT", 1)
TRAINING, FUSE_OPTIM = ContextVar("TRAINING", 0), ContextVar("FUSE_OPTIM", 0)
TRANSCENDENTAL, SPLIT_REDUCEOP = ContextVar("TRANSCENDENTAL", 1), ContextVar("SPLIT_REDUCEOP", 1)


def _checked(name: str, value: Any) -> int:
    """A Context value for an integer flag, or an error naming the flag and its range."""
    lo, hi, doc = _INT_FLAGS[name]
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):  # numpy ints are Integral, bools not
        raise InvalidArgumentError(f"Context({name}={value!r}): {name} takes an integer from {lo} to {hi} ({doc})")
    if not lo <= value <= hi:
        raise InvalidArgumentError(f"Context({name}={value!r}): {name} is an integer from {lo} to {hi} ({doc})")
    return int(value)


class Context(contextlib.ContextDecorator):
    """`with Context(DEBUG=2, TRAINING=1):` or `@Context(DEBUG=2)` sets settings for the block, then restores them.

    Native flags are checked when the Context is made, so entering it either sets every flag or none. tinygrad's
    Python settings (TRAINING, IMAGE, ...) are set as given; tinygrad's flags that tgrad has no use for (e.g.
    IGNORE_BEAM_CACHE) are accepted and ignored (`.ignored`), so code written for tinygrad runs unchanged; a name
    neither knows is an error.
    """

    def __init__(self, **kwargs: Any):
        unknown = [k for k in kwargs if k not in _INT_FLAGS and k not in TINYGRAD_FLAGS and k not in ContextVar._cache]
        if unknown:
            raise InvalidArgumentError(
                f"Context({unknown[0]}=...): unknown flag {unknown[0]!r} (tgrad's flags: {', '.join(_INT_FLAGS)}; "
                "tinygrad's are accepted and ignored)"
            )
        self.values = {k: _checked(k, v) for k, v in kwargs.items() if k in _INT_FLAGS}
        self.python = {k: v for k, v in kwargs.items() if k not in _INT_FLAGS and k in ContextVar._cache}
        self.ignored = {k: v for k, v in kwargs.items() if k not in _INT_FLAGS and k not in ContextVar._cache}
        self._saved: list[tuple[dict[str, int], dict[str, Any]]] = []

    def __enter__(self) -> Context:
        saved: dict[str, int] = {}
        try:
            for k, v in self.values.items():
                saved[k] = _native.set_flag(k, v)
        except BaseException:
            for k, old in saved.items():
                _native.set_flag(k, old)
            raise
        old_python = {k: ContextVar._cache[k].value for k in self.python}
        for k, v in self.python.items():
            ContextVar._cache[k].value = v
        self._saved.append((saved, old_python))
        return self

    def __exit__(self, *exc: object) -> None:
        saved, old_python = self._saved.pop()
        for k, old in saved.items():
            _native.set_flag(k, old)
        for k, v in old_python.items():
            ContextVar._cache[k].value = v


class _Counters(type):
    """`GlobalCounters.kernel_count` counts the kernels tgrad ran since the last `reset()`."""

    _base = 0

    @property
    def kernel_count(cls) -> int:
        return int(_native.stats()["kernels_run"]) - _Counters._base


class GlobalCounters(metaclass=_Counters):
    """tinygrad's counters. `kernel_count` is tgrad's kernels run since `reset()`; tgrad does not count operations,
    memory traffic or kernel time here (`global_ops`, `global_mem`, `time_sum_s` stay 0)."""

    global_ops: ClassVar[int] = 0
    global_mem: ClassVar[int] = 0
    time_sum_s: ClassVar[float] = 0.0
    mem_used: ClassVar[int] = 0

    @staticmethod
    def reset() -> None:
        _Counters._base = int(_native.stats()["kernels_run"])
        GlobalCounters.global_ops, GlobalCounters.global_mem, GlobalCounters.time_sum_s = 0, 0, 0.0


def settings_table() -> str:
    """The README's settings table, from the registry (a test keeps the README equal to it)."""
    rows = ["| env var | meaning |", "|---|---|"]
    for _name, env, _kind, _default, _lo, _hi, _words, doc in _native.settings():
        rows.append(f"| `{env}` | {doc} |")
    return "\n".join(rows)


def argfix(*x: Any) -> tuple:
    """tinygrad's argument helper: `f((1, 2))` and `f(1, 2)` mean the same."""
    if x and isinstance(x[0], (tuple, list)):
        if len(x) != 1:
            raise InvalidArgumentError(f"bad arg {x}")
        return tuple(x[0])
    return x


def prod(x: Any) -> Any:
    return functools.reduce(lambda a, b: a * b, x, 1)


def all_int(t: Any) -> bool:
    return all(isinstance(s, int) for s in t)


def flatten(xs: Any) -> list:
    return [item for sub in xs for item in sub]


def dedup(xs: Any) -> list:
    return list(dict.fromkeys(xs))
