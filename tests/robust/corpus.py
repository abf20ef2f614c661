"""The bad-input corpus (issue 18): cases, what each expects, and how an outcome is classified.

A case is a function of the engine module (`tgrad`, or upstream `tinygrad` for the comparison) that returns a
Tensor, an array or a scalar, and an expectation:

- `value(ref)`: valid input; the result must equal `ref()` (float64 or exact), within a tolerance for the dtype;
- `error(*mentions)`: invalid input; it must raise an exception of a known class whose message names the problem
  (one of `mentions`, case-insensitive); a result is `wrong` (the input was accepted silently);
- `either(ref, *mentions)`: a right result or a clear error are both fine;
- `bad_setting(name)`: a bad setting; it must raise naming the setting, else the setting was `ignored`;
- `good_setting(ref, effect)`: a good or edge setting; a right result, and `effect(output)` shows it was honoured.

Outcomes: right, clear (a clear exception), wrong, unclear (an exception whose class or message does not say what
is wrong), refused (an error on valid input, other than "outside the subset" or out of memory), ignored, crash (a
signal, a death without a report, or a Rust panic reaching Python), hang (past the case's time limit). The runner
(`corpus_runner.py`) runs every case in its own forked child and adds crash and hang.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from collections.abc import Callable
from typing import Any

import numpy as np

OUTCOMES = ("right", "clear", "wrong", "unclear", "refused", "ignored", "crash", "hang")
FAILURES = ("wrong", "unclear", "refused", "ignored", "crash", "hang")
CATEGORIES = ("shapes", "movement", "dtypes", "settings", "context", "jit", "huge", "ops", "objects")

# builtin exception classes that name a usage error (tinygrad raises these; tgrad's own classes subclass them)
CLEAR_BUILTINS = (
    ValueError,
    TypeError,
    IndexError,
    KeyError,
    RuntimeError,
    NotImplementedError,
    MemoryError,
    OverflowError,
    AttributeError,
    ZeroDivisionError,
)


@dataclasses.dataclass(frozen=True)
class Expect:
    """What a case should give; see the module docstring for the constructors."""

    ref: Callable[[], Any] | None = None
    dtype: str | None = None
    tol: float | None = None
    check: Callable[[np.ndarray], str | None] | None = None
    mentions: tuple[str, ...] = ()
    setting: str | None = None
    effect: Callable[[str], str | None] | None = None


def value(ref: Callable[[], Any], dtype: str | None = None, tol: float | None = None) -> Expect:
    return Expect(ref=ref, dtype=dtype, tol=tol)


def checked(check: Callable[[np.ndarray], str | None]) -> Expect:
    """A valid input whose result `check` judges (None: right, else what is wrong), e.g. random values."""
    return Expect(check=check)


def error(*mentions: str) -> Expect:
    assert mentions, "an error case names what the message must mention"
    return Expect(mentions=mentions)


def either(ref: Callable[[], Any], *mentions: str, dtype: str | None = None) -> Expect:
    return Expect(ref=ref, dtype=dtype, mentions=mentions)


def bad_setting(name: str, *mentions: str) -> Expect:
    return Expect(setting=name, mentions=(name, *mentions))


def good_setting(ref: Callable[[], Any], effect: Callable[[str], str | None] | None = None) -> Expect:
    return Expect(ref=ref, effect=effect)


@dataclasses.dataclass(frozen=True)
class Case:
    cid: str
    run: Callable[[Any], Any]
    expect: Expect
    env: tuple[tuple[str, str | None], ...] = ()
    api: bool = True  # meaningful against upstream tinygrad too
    timeout: float = 30.0
    full_only: bool = False  # only in the exhaustive profile (pytest -m robust_full, make robustness)

    @property
    def category(self) -> str:
        return self.cid.split("/", 1)[0]


# ---------------------------------------------------------------- judging (runs in the case's child)


def is_panic(e: BaseException) -> bool:
    return type(e).__name__ == "PanicException"


def _mentioned(message: str, mentions: tuple[str, ...]) -> bool:
    """Whether the message names one of `mentions` (case-insensitive; a mention that starts or ends with a letter
    or digit must not continue a longer word there, so "int" does not match "into" or "print")."""
    for m in mentions:
        head = r"(?<![a-z0-9_])" if m[:1].isalnum() else ""
        tail = r"(?![a-z0-9_])" if m[-1:].isalnum() else ""
        if re.search(head + re.escape(m.lower()) + tail, message.lower()):
            return True
    return False


def _known_class(e: BaseException, errors: Any) -> bool:
    own = getattr(errors, "TgradError", None)
    if own is not None and isinstance(e, own):
        # InternalError is a bug in tgrad (a broken invariant or a caught panic), never a clear answer
        return type(e).__name__ != "InternalError"
    if isinstance(e, AssertionError):
        # tinygrad validates with assert (gone under python -O); tgrad must not
        return own is None
    return isinstance(e, CLEAR_BUILTINS)


def _outside_subset(e: BaseException, errors: Any) -> bool:
    """An error that is not a failure even on valid input: outside the implemented subset, or out of memory."""
    if isinstance(e, (NotImplementedError, MemoryError)):
        return True
    dtype_error = getattr(errors, "DTypeError", None)
    subset = ("not supported", "outside tgrad's subset")
    return dtype_error is not None and isinstance(e, dtype_error) and any(s in str(e) for s in subset)


def judge_error(exp: Expect, e: BaseException, errors: Any) -> tuple[str, str]:
    """Classify an exception; `errors` is the engine's module of exception classes (None for tinygrad)."""
    message = f"{type(e).__name__}: {e}"
    if is_panic(e):
        return "crash", f"a Rust panic reached Python: {message}"
    known = _known_class(e, errors)
    if exp.setting is not None:
        ok = known and _mentioned(str(e), exp.mentions)
        return ("clear" if ok else "unclear"), message
    if exp.mentions:
        ok = known and _mentioned(str(e), exp.mentions)
        return ("clear" if ok else "unclear"), message
    if known and _outside_subset(e, errors):
        return "clear", f"(outside the subset) {message}"
    return "refused", message


def _close(got: np.ndarray, ref: np.ndarray, tol: float) -> str | None:
    g, r = got.astype(np.float64), ref.astype(np.float64)
    if not np.array_equal(np.isnan(g), np.isnan(r)):
        return "NaN in other places"
    fin = np.isfinite(r)
    if not np.array_equal(g[~fin & ~np.isnan(r)], r[~fin & ~np.isnan(r)]):
        return "infinities differ"
    if not np.isfinite(g[fin]).all():
        return "non-finite where the reference is finite"
    if not fin.any():
        return None
    scale = max(1.0, float(np.abs(r[fin]).max()))
    err = float(np.abs(g[fin] - r[fin]).max())
    return None if err <= tol * scale else f"max error {err:.3g} > {tol:.3g} x {scale:.3g}"


DEFAULT_TOL = {"float16": 2e-3, "float32": 2e-6, "float64": 1e-13}


def judge_value(exp: Expect, got: Any) -> tuple[str, str]:
    arr = np.asarray(got)
    if exp.check is not None:
        why = exp.check(arr)
        return ("right", "") if why is None else ("wrong", why)
    if exp.ref is None:
        return "wrong", f"accepted: returned {_show(arr)}"
    ref = np.asarray(exp.ref())
    if arr.shape != ref.shape:
        return "wrong", f"shape {arr.shape}, expected {ref.shape}"
    want = exp.dtype or str(ref.dtype)  # "float32|float64": either is right
    if str(arr.dtype) not in want.split("|"):
        return "wrong", f"dtype {arr.dtype}, expected {want}"
    if arr.dtype.kind in "iub" or ref.dtype.kind in "iub":
        ok = np.array_equal(arr.astype(np.float64), ref.astype(np.float64))
        return ("right", "") if ok else ("wrong", f"got {_show(arr)}, expected {_show(ref)}")
    tol = exp.tol if exp.tol is not None else DEFAULT_TOL.get(str(arr.dtype), 1e-6)
    why = _close(arr, ref, tol)
    return ("right", "") if why is None else ("wrong", f"{why}: got {_show(arr)}, expected {_show(ref)}")


def _show(a: np.ndarray) -> str:
    text = np.array2string(a.reshape(-1)[:8], precision=6, threshold=8)
    return f"{a.dtype}{list(a.shape)} {text}"


def to_result(x: Any) -> Any:
    """A case's return value as numpy (a Tensor is realized and copied out)."""
    if hasattr(x, "numpy") and not isinstance(x, np.ndarray | np.generic):
        return x.numpy()
    return x


def judge(case: Case, engine_name: str, output: Callable[[], str]) -> tuple[str, str]:
    """Import the engine, run `case` and classify what happened (crash and hang are the runner's). An error at
    import counts: settings are checked there too."""
    try:
        got = to_result(case.run(importlib.import_module(engine_name)))
    except BaseException as e:  # classify everything, including panics (a BaseException)
        if isinstance(e, SystemExit | KeyboardInterrupt):
            raise
        return judge_error(case.expect, e, _errors_module(engine_name))
    exp = case.expect
    if exp.setting is not None:
        return "ignored", f"{exp.setting}: the bad value was accepted (returned {_show(np.asarray(got))})"
    outcome, detail = judge_value(exp, got)
    if outcome == "right" and exp.effect is not None:
        why = exp.effect(output())
        if why is not None:
            return "ignored", why
    return outcome, detail


def _errors_module(engine_name: str) -> Any:
    """The engine's module of exception classes (tgrad.errors), or None where it has none (tinygrad)."""
    try:
        errors = importlib.import_module(f"{engine_name}.errors")
    except Exception:
        return None
    return errors if hasattr(errors, "TgradError") else None


# ---------------------------------------------------------------- helpers for the case modules


def printed(pattern: str, what: str) -> Callable[[str], str | None]:
    """An effect: the process printed something matching `pattern` (a regex)."""

    def effect(out: str) -> str | None:
        return None if re.search(pattern, out) else f"no sign of {what} in the output: {out[-300:]!r}"

    return effect


def silent(out: str) -> str | None:
    """An effect: no warning or error printed (a good setting is used quietly)."""
    bad = [line for line in out.splitlines() if re.search(r"warning|error|traceback", line, re.I)]
    return f"printed {bad[:2]}" if bad else None
