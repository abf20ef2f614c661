"""Corpus cases: TinyJit used right and misused. Each case calls a jitted function enough times to reach replay
(capture on the 2nd call, replay from the 3rd) and checks the replay against numpy, or expects JitError."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from corpus import Case, Expect, either, error, value

RNG = np.random.default_rng(18)
M = [RNG.standard_normal((4, 4)).astype(np.float32) for _ in range(6)]


def _t(tg: Any, i: int) -> Any:
    return tg.Tensor(M[i]).realize()


def _calls(tg: Any, f: Callable[..., Any], n: int = 3) -> Any:
    """Call f(a=M[0], b=M[1]) style pairs n times with fresh inputs, returning the last result."""
    out = None
    for _ in range(n):
        out = f(_t(tg, 0), _t(tg, 1))
    return out


def kwargs_reordered(tg: Any) -> Any:
    f = tg.TinyJit(lambda a, b: (a @ b).realize())
    for _ in range(3):
        f(a=_t(tg, 0), b=_t(tg, 1))
    return f(b=_t(tg, 3), a=_t(tg, 2))


def duplicate_input(tg: Any) -> Any:
    f = tg.TinyJit(lambda a, b: (a + b).realize())
    x = _t(tg, 0)
    for _ in range(3):
        out = f(x, x)
    return out


def duplicate_then_distinct(tg: Any) -> Any:
    f = tg.TinyJit(lambda a, b: (a + b).realize())
    x = _t(tg, 0)
    try:
        f(x, x)
        f(x, x)
    except Exception:
        pass
    return f(_t(tg, 1), _t(tg, 2))


def returns_input(tg: Any) -> Any:
    f = tg.TinyJit(lambda a, b: (a, (a @ b).realize()))
    outs = [f(_t(tg, i), _t(tg, i + 1)) for i in range(4)]
    return outs[-1][0]


def non_tensor_return(tg: Any) -> Any:
    f = tg.TinyJit(lambda a, b: ((a @ b).realize(), "text"))
    return _calls(tg, f)[0]


def nothing_run(tg: Any) -> Any:
    f = tg.TinyJit(lambda a, b: a.reshape(16))
    return _calls(tg, f)


def shape_changes(tg: Any) -> Any:
    f = tg.TinyJit(lambda a: (a * 2).realize())
    for _ in range(3):
        f(tg.Tensor(M[0]).realize())
    return f(tg.Tensor(M[0][:3]).realize())


def dtype_changes(tg: Any) -> Any:
    f = tg.TinyJit(lambda a: (a * 2).realize())
    for _ in range(3):
        f(tg.Tensor(M[0]).realize())
    return f(tg.Tensor(M[0].astype(np.float16)).realize())


def scalar_changes(tg: Any) -> Any:
    f = tg.TinyJit(lambda a, c: (a * c).realize())
    for _ in range(3):
        f(_t(tg, 0), 2.0)
    return f(_t(tg, 0), 3.0)


def scalar_same(tg: Any) -> Any:
    f = tg.TinyJit(lambda a, c: (a * c).realize())
    for i in range(4):
        out = f(_t(tg, i), 2.0)
    return out


def extra_kwarg(tg: Any) -> Any:
    f = tg.TinyJit(lambda a, b=None: (a * 2 if b is None else a + b).realize())
    for _ in range(3):
        f(_t(tg, 0))
    return f(_t(tg, 0), b=_t(tg, 1))


def fewer_args(tg: Any) -> Any:
    f = tg.TinyJit(lambda *xs: sum(xs[1:], xs[0]).realize())
    for _ in range(3):
        f(_t(tg, 0), _t(tg, 1))
    return f(_t(tg, 0))


def transposed_input(tg: Any) -> Any:
    f = tg.TinyJit(lambda a, b: (a @ b).realize())
    for _ in range(3):
        f(_t(tg, 0), _t(tg, 1))
    return f(_t(tg, 2).T, _t(tg, 3))


def shrunk_input(tg: Any) -> Any:
    f = tg.TinyJit(lambda a: (a * 2).realize())
    big = tg.Tensor(np.arange(32, dtype=np.float32).reshape(8, 4)).realize()
    for _ in range(3):
        f(tg.Tensor(M[0]).realize())
    return f(big.shrink(((4, 8), None)))


def lazy_input(tg: Any) -> Any:
    f = tg.TinyJit(lambda a, b: (a @ b).realize())
    for _ in range(3):
        f(_t(tg, 0), _t(tg, 1))
    return f(tg.Tensor(M[2]) + 0, tg.Tensor(M[3]))


def const_input(tg: Any) -> Any:
    f = tg.TinyJit(lambda a: (a * 2).realize())
    for _ in range(3):
        out = f(tg.Tensor.ones(4, 4))
    return out


def list_input(tg: Any) -> Any:
    f = tg.TinyJit(lambda xs: (xs[0] @ xs[1]).realize())
    for i in range(4):
        out = f([_t(tg, i), _t(tg, i + 1)])
    return out


def dict_input(tg: Any) -> Any:
    f = tg.TinyJit(lambda d: (d["x"] - d["y"]).realize())
    for i in range(4):
        out = f({"x": _t(tg, i), "y": _t(tg, i + 1)})
    return out


def reset_then_new_shape(tg: Any) -> Any:
    f = tg.TinyJit(lambda a: (a * 2).realize())
    for _ in range(3):
        f(tg.Tensor(M[0]).realize())
    f.reset()
    for _ in range(3):
        out = f(tg.Tensor(M[0][:2]).realize())
    return out


def raises_in_capture(tg: Any) -> Any:
    calls = {"n": 0}

    def body(a: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyError("once")
        return (a * 3).realize()

    f = tg.TinyJit(body)
    f(_t(tg, 0))
    try:
        f(_t(tg, 0))
    except KeyError:
        pass
    for i in range(3):
        out = f(_t(tg, i))
    return out


def nested(tg: Any) -> Any:
    inner = tg.TinyJit(lambda a: (a * 2).realize())
    outer = tg.TinyJit(lambda a: (inner(a) + 1).realize())
    for i in range(4):
        out = outer(_t(tg, i))
    return out


def method(tg: Any) -> Any:
    class Layer:
        def __init__(self) -> None:
            self.w = _t(tg, 5)

        @tg.TinyJit
        def __call__(self, x: Any) -> Any:
            return (x @ self.w).realize()

    layer = Layer()
    for i in range(4):
        out = layer(_t(tg, i))
    return out


def outputs_alias(tg: Any) -> Any:
    """Two results from one replay: both right (the replay writes both)."""
    f = tg.TinyJit(lambda a, b: ((a + b).realize(), (a - b).realize()))
    for i in range(4):
        s, d = f(_t(tg, i), _t(tg, i + 1))
    return np.stack([s.numpy(), d.numpy()])


def many_replays(tg: Any) -> Any:
    f = tg.TinyJit(lambda a, b: (a @ b + a).realize())
    total = np.zeros((4, 4), np.float32)
    for i in range(20):
        total += f(_t(tg, i % 5), _t(tg, (i + 1) % 5)).numpy()
    return total


def _mm(i: int, j: int) -> Callable[[], np.ndarray]:
    return lambda: M[i].astype(np.float64) @ M[j]


MM = {"dtype": "float32", "tol": 1e-5}
JIT_ERR = ("jit", "args mismatch", "duplicate", "input")


def many_ref() -> np.ndarray:
    return sum(M[i % 5].astype(np.float64) @ M[(i + 1) % 5] + M[i % 5] for i in range(20))


CASES: list[tuple[str, Callable[[Any], Any], Expect]] = [
    ("kwargs-reordered", kwargs_reordered, value(_mm(2, 3), **MM)),
    ("duplicate-input", duplicate_input, error("duplicate")),
    ("duplicate-then-distinct", duplicate_then_distinct, either(lambda: M[1] + M[2], "duplicate")),
    ("returns-input", returns_input, either(lambda: M[3], "returns its input", "input")),
    ("non-tensor-return", non_tensor_return, error("non-Tensor", "return")),
    ("nothing-run", nothing_run, either(lambda: M[0].reshape(16), "didn't JIT anything")),
    ("shape-changes", shape_changes, either(lambda: M[0][:3] * 2, *JIT_ERR)),
    ("dtype-changes", dtype_changes, either(lambda: M[0].astype(np.float16) * 2, *JIT_ERR)),
    ("scalar-changes", scalar_changes, either(lambda: M[0] * np.float32(3), "jit", "argument", "3.0")),
    ("scalar-same", scalar_same, value(lambda: M[3] * np.float32(2))),
    ("extra-kwarg", extra_kwarg, either(lambda: M[0] + M[1], *JIT_ERR)),
    ("fewer-args", fewer_args, either(lambda: M[0], *JIT_ERR)),
    ("transposed-input", transposed_input, either(lambda: M[2].T.astype(np.float64) @ M[3], *JIT_ERR, dtype="float32")),
    ("shrunk-input", shrunk_input, either(lambda: np.arange(16, 32, dtype=np.float32).reshape(4, 4) * 2, *JIT_ERR)),
    ("lazy-input", lazy_input, value(_mm(2, 3), **MM)),
    ("const-input", const_input, either(lambda: np.full((4, 4), 2, np.float32), "real buffers", "jit", "input")),
    ("list-input", list_input, value(_mm(3, 4), **MM)),
    ("dict-input", dict_input, value(lambda: M[3] - M[4])),
    ("reset-then-new-shape", reset_then_new_shape, value(lambda: M[0][:2] * 2)),
    ("raises-in-capture", raises_in_capture, value(lambda: M[2] * np.float32(3))),
    ("nested", nested, either(lambda: M[3] * 2 + 1, "jit", "nested", "inside")),
    ("method", method, value(_mm(3, 5), **MM)),
    ("two-outputs", outputs_alias, value(lambda: np.stack([M[3] + M[4], M[3] - M[4]]))),
    ("many-replays", many_replays, value(many_ref, dtype="float32", tol=1e-5)),
]


def cases() -> Iterator[Case]:
    for name, run, exp in CASES:
        yield Case(f"jit/{name}", run, exp)

    def pruned(tg: Any) -> Any:
        f = tg.TinyJit(lambda a: (a * 2).realize(), prune=True)
        for i in range(3):
            out = f(_t(tg, i))
        return out

    yield Case("jit/prune", pruned, either(lambda: M[2] * 2, "prune"))
