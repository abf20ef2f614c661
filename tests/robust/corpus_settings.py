"""Corpus cases: every TGRAD_* setting of the registry with bad, edge and good values, and Context(...) values.

The settings come from the registry itself (`tgrad._native.settings()`, read in a subprocess so the runner never
imports tgrad before a case has set its environment): a new setting gets the generic bad values of its kind
without anyone writing a case. A bad value must raise an error naming the variable; a good or edge value must
give the right result and, where the setting has a visible effect, show it.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from corpus import Case, Expect, bad_setting, good_setting, printed, silent, value

A = (np.arange(33 * 17, dtype=np.float32).reshape(33, 17) % 7 - 3) / 4
B = (np.arange(17 * 9, dtype=np.float32).reshape(17, 9) % 5 - 2) / 2
C = np.linspace(-1, 1, 9, dtype=np.float32)


def workload(tg: Any) -> Any:
    """A GEMM with a bias and relu epilogue, then a reduction: both kinds of kernel."""
    return ((tg.Tensor(A) @ tg.Tensor(B) + tg.Tensor(C)).relu() * 0.5).sum(1)


def workload_ref() -> np.ndarray:
    return ((np.maximum(A.astype(np.float64) @ B + C, 0)) * 0.5).sum(1)


RIGHT = value(workload_ref, dtype="float32", tol=1e-5)


@functools.cache
def registry() -> list[dict]:
    """The settings registry, read in a child interpreter."""
    code = "import json, tgrad._native as n; print(json.dumps(n.settings()))"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TGRAD_")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    keys = ("name", "env", "kind", "default", "min", "max", "words", "doc")
    return [dict(zip(keys, row, strict=True)) for row in json.loads(out.stdout)]


def scratch(name: str) -> Path:
    """A directory of the run's scratch space (the runner sets CORPUS_TMP and removes it afterwards)."""
    p = Path(os.environ.get("CORPUS_TMP") or "/tmp") / name
    p.mkdir(parents=True, exist_ok=True)
    return p


def script(name: str, body: str) -> str:
    """An executable shell script in the scratch space (a fake compiler)."""
    p = scratch("bin") / name
    p.write_text("#!/bin/sh\n" + body + "\n")
    p.chmod(0o755)
    return str(p)


def _int_cases(s: dict) -> Iterator[tuple[str, str, Expect]]:
    env, lo, hi, default = s["env"], s["min"], s["max"], s["default"]
    for label, raw in [
        ("word", "abc"),
        ("float", "1.5"),
        ("below", str(lo - 1)),
        ("above", str(hi + 1)),
        ("hex", "0x10"),
        ("exponent", "1e3"),
        ("i64-overflow", "9" * 30),
        ("unicode-digit", "\u0663"),
        ("two-numbers", "1 2"),
    ]:
        yield label, raw, bad_setting(env)
    effect = {"DEBUG": printed(r"\*\*\* CPU|tgrad:", "kernel lines"), "THREADS": None}.get(s["name"])
    good = [("min", str(lo)), ("default", str(default)), ("padded", f" {default} ")]
    if s["name"] not in ("BEAM", "DEBUG"):
        good.append(("max", str(hi)))  # BEAM=64 searches for minutes; DEBUG=7 is checked below
    for label, raw in good:
        if s["name"] == "DEBUG" and raw.strip() != "0":
            yield label, raw, good_setting(workload_ref, effect)
        else:
            yield label, raw, good_setting(workload_ref, silent if s["name"] != "THREADS" or raw != str(hi) else None)


def setting_cases() -> Iterator[Case]:
    for s in registry():
        env = s["env"]
        if s["kind"] == "int":
            for label, raw, exp in _int_cases(s):
                exp = _right_dtype(exp)
                yield Case(f"settings/{s['name']}/{label}", workload, exp, env=((env, raw),), api=False, timeout=60)
    yield from _specific_cases()


def _right_dtype(exp: Expect) -> Expect:
    if exp.ref is None:
        return exp
    return Expect(ref=exp.ref, dtype="float32", tol=1e-5, effect=exp.effect)


def _good(effect: Callable[[str], str | None] | None = None) -> Expect:
    return Expect(ref=workload_ref, dtype="float32", tol=1e-5, effect=effect)


def _cache_dir_is(part: str) -> Callable[[Any], Any]:
    def run(tg: Any) -> Any:
        out = workload(tg).numpy()
        where = str(tg.build_info()["cache_dir"])
        if part not in where:
            raise AssertionError(f"the cache is {where}, not under {part}")
        return out

    return run


def _private_cache(tg: Any) -> Any:
    os.environ["TGRAD_CACHE"] = str(scratch(f"cache-private-{os.getpid()}"))
    return _cache_dir_is("cache-private")(tg)


# a "compiler" that writes a text file where the shared object should be
GARBAGE_CC = 'while [ $# -gt 0 ]; do if [ "$1" = -o ]; then echo garbage > "$2"; fi; shift; done'


def _world_writable(tg: Any) -> Any:
    d = scratch("cache-world-writable")
    d.chmod(0o777)
    os.environ["TGRAD_CACHE"] = str(d)
    return workload(tg)


def _cache_is_file(tg: Any) -> Any:
    f = scratch("cache-file") / "not-a-dir"
    f.write_text("x")
    os.environ["TGRAD_CACHE"] = str(f)
    return workload(tg)


def _specific_cases() -> Iterator[Case]:
    """Text and choice settings: values chosen per setting (what each one means)."""
    dev = "TGRAD_DEVICE"
    for label, raw in [
        ("metal", "METAL"),
        ("gpu", "GPU"),
        ("typo", "CPUU"),
        ("index-word", "CPU:abc"),
        ("index-one", "CPU:1"),
        ("spaces-inside", "C PU"),
        ("colon", ":"),
        ("emu-typo", "CUDA-EMU"),
    ]:
        yield Case(f"settings/DEVICE/{label}", workload, bad_setting(dev), env=((dev, raw),), api=False)
    for label, raw in [
        ("cpu", "CPU"),
        ("lower", "cpu"),
        ("index-zero", "CPU:0"),
        ("cuda-emu", "CUDA_EMU"),
        ("metal-emu", "METAL_EMU"),
    ]:
        yield Case(f"settings/DEVICE/{label}", workload, _good(), env=((dev, raw),), api=False, timeout=120)
    # CUDA: right on a machine with a usable GPU, else an error naming TGRAD_DEVICE and the reason
    cuda = Expect(ref=workload_ref, dtype="float32", tol=1e-5, mentions=(dev, "CUDA is not usable"))
    yield Case("settings/DEVICE/cuda", workload, cuda, env=((dev, "CUDA"),), api=False, timeout=120)

    order = "TGRAD_EMU_ORDER"
    for label, raw in [
        ("word", "sideways"),
        ("seed-word", "random:abc"),
        ("empty-seed", "random:"),
        ("seed-on-forward", "forward:1"),
        ("seed-on-reverse", "reverse:2"),
        ("negative-seed", "random:-1"),
    ]:
        yield Case(
            f"settings/EMU_ORDER/{label}",
            workload,
            bad_setting(order),
            env=((order, raw), (dev, "CUDA_EMU")),
            api=False,
            timeout=120,
        )
    for label, raw in [
        ("forward", "forward"),
        ("reverse", "reverse"),
        ("random", "random"),
        ("seeded", "random:7"),
        ("upper", "REVERSE"),
    ]:
        yield Case(
            f"settings/EMU_ORDER/{label}",
            workload,
            _good(),
            env=((order, raw), (dev, "CUDA_EMU")),
            api=False,
            timeout=120,
        )

    cache = "TGRAD_CACHE"
    yield Case("settings/CACHE/off", _cache_dir_is("tgrad-nocache"), _good(), env=((cache, "off"),), api=False)
    yield Case("settings/CACHE/private-dir", _private_cache, _good(), env=((cache, None),), api=False)
    yield Case(
        "settings/CACHE/world-writable",
        _world_writable,
        bad_setting(cache, "writable by others"),
        env=((cache, None),),
        api=False,
    )
    yield Case(
        "settings/CACHE/a-file", _cache_is_file, bad_setting(cache, "not-a-dir"), env=((cache, None),), api=False
    )
    yield Case(
        "settings/CACHE/not-creatable",
        workload,
        bad_setting(cache, "/proc/tgrad-cache"),
        env=((cache, "/proc/tgrad-cache"),),
        api=False,
    )
    yield Case("settings/CACHE/empty", workload, _good(), env=((cache, ""),), api=False)

    cc = "TGRAD_CC"

    def compiler(path_fn: Callable[[], str]) -> Callable[[Any], Any]:
        def run(tg: Any) -> Any:
            os.environ["TGRAD_CACHE"] = str(scratch(f"cc-cache-{os.getpid()}"))
            os.environ[cc] = path_fn()
            return workload(tg)

        return run

    fakes: list[tuple[str, Callable[[], str], Expect]] = [
        ("missing", lambda: "/nonexistent/cc", bad_setting(cc, "/nonexistent/cc")),
        ("false", lambda: "/bin/false", bad_setting(cc, "/bin/false")),
        ("with-args", lambda: "clang -O3", bad_setting(cc, "clang -O3")),
        ("writes-nothing", lambda: script("cc-nothing", "exit 0"), bad_setting(cc, "cc-nothing", "wrote no output")),
        ("writes-garbage", lambda: script("cc-garbage", GARBAGE_CC), bad_setting(cc, "cc-garbage")),
        ("directory", lambda: "/tmp", bad_setting(cc, "/tmp")),
    ]
    for label, path_fn, exp in fakes:
        yield Case(f"settings/CC/{label}", compiler(path_fn), exp, env=((cc, None), (cache, None)), api=False)
    for label, path in [("gcc", "gcc"), ("cc", "cc")]:
        yield Case(
            f"settings/CC/{label}",
            compiler(lambda p=path: p),
            _good(),
            env=((cc, None), (cache, None)),
            api=False,
            timeout=90,
        )

    copt = "TGRAD_COPT"
    for label, raw in [
        ("bogus-flag", "-fbogus-flag-xyz"),
        ("preprocess-only", "-E"),
        ("object-only", "-c"),
        ("syntax-only", "-fsyntax-only"),
    ]:
        yield Case(
            f"settings/COPT/{label}",
            compiler(lambda: "clang"),
            bad_setting(copt, raw),
            env=((copt, raw), (cc, None), (cache, None)),
            api=False,
            timeout=90,
        )
    for label, raw in [("O0", "-O0"), ("O3", "-O3"), ("define", "-DTGRAD_X=1 -O1")]:
        # -O3 unrolls the GEMM's microkernel: a ten-second compile, so only in the full run
        yield Case(
            f"settings/COPT/{label}",
            compiler(lambda: "clang"),
            _good(),
            env=((copt, raw), (cc, None), (cache, None)),
            api=False,
            timeout=90,
            full_only=label == "O3",
        )

    tune = "TGRAD_GEMM_TUNING"
    for label, raw in [
        ("no-such-isa", "3 3 3 3 3 3 1 1 1"),
        ("word", "fast"),
        ("too-few", "4 4 8"),
        ("too-many", "4 4 8 64 64 64 1 1 1 0 0 0"),
        ("negative", "4 4 8 64 64 -64 1 1 1"),
        ("bad-packing", "4 4 8 64 64 64 1 1 1 9"),
        ("bad-parallel", "4 4 8 64 64 64 1 1 1 0 7"),
        ("zero-kc", "4 4 8 0 64 64 1 1 1"),
        ("mc-not-multiple", "4 4 8 64 66 64 1 1 1"),
        ("huge-threads", "4 4 8 64 64 64 100000 1 1"),
        ("float", "4 4 8 64 64 64 1.5 1 1"),
        ("barrier-oversubscribed", "4 4 8 64 64 64 64 1 1 0 1"),
    ]:
        yield Case(
            f"settings/GEMM_TUNING/{label}", workload, bad_setting(tune), env=((tune, raw),), api=False, timeout=60
        )
    for label, raw in [("portable", "4 4 8 64 64 64 1 1 1"), ("shared", "4 4 8 64 64 64 2 1 1 0 2")]:
        yield Case(f"settings/GEMM_TUNING/{label}", workload, _good(), env=((tune, raw),), api=False, timeout=60)

    cxx, nvrtc = "TGRAD_CXX", "TGRAD_NVRTC"
    yield Case(
        "settings/CXX/missing-on-emu",
        workload,
        bad_setting(cxx, "/nonexistent/c++"),
        env=((cxx, "/nonexistent/c++"), (dev, "CUDA_EMU"), (cache, "off")),
        api=False,
        timeout=60,
    )
    yield Case(
        "settings/CXX/clang++-on-emu",
        workload,
        _good(),
        env=((cxx, "clang++"), (dev, "CUDA_EMU"), (cache, "off")),
        api=False,
        timeout=120,
        full_only=True,
    )
    yield Case(
        "settings/NVRTC/missing",
        workload,
        bad_setting(nvrtc, "/nonexistent/libnvrtc.so"),
        env=((nvrtc, "/nonexistent/libnvrtc.so"),),
        api=False,
    )
    yield Case(
        "settings/NVRTC/on-cpu-run",
        workload,
        bad_setting(nvrtc, "/nonexistent/libnvrtc.so"),
        env=((nvrtc, "/nonexistent/libnvrtc.so"), (dev, "CPU")),
        api=False,
    )


def _ctx(**kw: Any) -> Callable[[Any], Any]:
    def run(tg: Any) -> Any:
        with tg.Context(**kw):
            return workload(tg).numpy()

    return run


def _flag_after(tg: Any, name: str, make: Callable[[Any], Any]) -> Any:
    try:
        make(tg)
    except Exception:
        pass
    return np.array(
        getattr(tg.helpers, name).value if hasattr(tg.helpers, name) else tg.helpers.ContextVar._cache[name].value
    )


def context_cases() -> Iterator[Case]:
    bad: list[tuple[str, dict[str, Any], bool]] = [
        ("DEBUG-float", {"DEBUG": 2.7}, True),
        ("DEBUG-string", {"DEBUG": "2"}, True),
        ("DEBUG-none", {"DEBUG": None}, True),
        ("DEBUG-negative", {"DEBUG": -1}, True),
        ("DEBUG-above", {"DEBUG": 8}, True),
        ("DEBUG-huge", {"DEBUG": 2**40}, True),
        ("DEBUG-nan", {"DEBUG": float("nan")}, True),
        ("DEBUG-list", {"DEBUG": [1]}, True),
        ("BEAM-negative", {"BEAM": -1}, True),
        ("BEAM-above", {"BEAM": 65}, True),
        ("BEAM-bool", {"BEAM": True}, True),
        ("NOOPT-two", {"NOOPT": 2}, True),
        ("NOOPT-float", {"NOOPT": 1.0}, True),
        ("THREADS-negative", {"THREADS": -5}, False),
        ("THREADS-huge", {"THREADS": 2**40}, False),
        ("THREADS-float", {"THREADS": 1.5}, False),
        ("VERIFY-three", {"VERIFY": 3}, False),
        ("CACHE_MAX_MB-zero", {"CACHE_MAX_MB": 0}, False),
        ("unknown", {"DEBGU": 2}, True),
        ("lowercase", {"debug": 1}, True),
        ("unknown-beside-good", {"NOPTO": 1, "DEBUG": 0}, True),
    ]
    for label, kw, api in bad:
        yield Case(f"context/bad/{label}", _ctx(**kw), bad_setting(next(iter(kw))), api=api)
    good: list[tuple[str, dict[str, Any], bool]] = [
        ("DEBUG-0", {"DEBUG": 0}, True),
        ("DEBUG-1", {"DEBUG": 1}, True),
        ("NOOPT", {"NOOPT": 1}, True),
        ("BEAM-0", {"BEAM": 0}, True),
        ("tinygrad-flag", {"IGNORE_BEAM_CACHE": 1}, True),
        ("JIT", {"JIT": 1}, True),
        ("THREADS-1", {"THREADS": 1}, False),
        ("THREADS-3", {"THREADS": 3}, False),
        ("KEEP_PACKED-0", {"KEEP_PACKED": 0}, False),
        ("empty", {}, True),
        ("np-int", {"DEBUG": np.int64(0)}, True),
    ]
    for label, kw, api in good:
        yield Case(f"context/good/{label}", _ctx(**kw), _good(), api=api)

    def nested(tg: Any) -> Any:
        with tg.Context(DEBUG=1):
            with tg.Context(DEBUG=2):
                pass
            inner = tg.helpers.DEBUG.value
        return np.array([inner, tg.helpers.DEBUG.value])

    yield Case("context/restore/nested", nested, value(lambda: np.array([1, 0])))

    def failed_enter(tg: Any) -> Any:
        return _flag_after(tg, "DEBUG", lambda t: _ctx(DEBUG=1, THREADS=-5)(t))

    yield Case("context/restore/failed", failed_enter, value(lambda: np.array(0)), api=False)

    def raised_inside(tg: Any) -> Any:
        def body(t: Any) -> None:
            with t.Context(DEBUG=1):
                raise KeyError("inside")

        return _flag_after(tg, "DEBUG", body)

    yield Case("context/restore/raised-inside", raised_inside, value(lambda: np.array(0)))

    def decorator(tg: Any) -> Any:
        @tg.Context(DEBUG=1)
        def inside() -> int:
            return int(tg.helpers.DEBUG.value)

        return np.array([inside(), inside(), tg.helpers.DEBUG.value])

    yield Case("context/restore/decorator", decorator, value(lambda: np.array([1, 1, 0])))


def cases() -> Iterator[Case]:
    yield from setting_cases()
    yield from context_cases()
