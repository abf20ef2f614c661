"""The runtime side of the Python surface tgrad shares with tinygrad 0.14.0: laziness, TinyJit, devices, and
tgrad's own settings (TGRAD_DEBUG, TGRAD_CACHE, TGRAD_THREADS, KEEP_PACKED, TGRAD_DEVICE) in subprocesses.
Split from test_api.py (constructors, properties, movement, matmul, elementwise) by topic."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.null.test_api import expected_device, rng

# ---------------------------------------------------------------- laziness


def test_ops_are_lazy_until_realize(tg, capfd):
    a = tg.Tensor(rng().standard_normal((32, 48)).astype(np.float32)).realize()
    b = tg.Tensor(rng().standard_normal((48, 16)).astype(np.float32)).realize()
    capfd.readouterr()
    with tg.Context(DEBUG=2):
        out = (a @ b + 1).relu().sum(axis=0)
        built = capfd.readouterr()
        out.realize()
        realized = capfd.readouterr()
    assert built.out == "" and built.err == "", f"building the graph ran something: {built}"
    assert realized.out + realized.err != "", "DEBUG=2 printed nothing when the kernels ran"
    assert out.shape == (16,)


def test_lazy_graph_keeps_input_values(tg):
    a = tg.Tensor([1.0, 2.0, 3.0])
    b = a * 2
    c = b + a
    np.testing.assert_array_equal(c.numpy(), [3.0, 6.0, 9.0])
    np.testing.assert_array_equal(b.numpy(), [2.0, 4.0, 6.0])  # b still usable after c ran


# ---------------------------------------------------------------- TinyJit


def test_tinyjit_runs_body_twice_then_replays(tg, check_matmul):
    calls = 0

    @tg.TinyJit
    def layer(x, w, b):
        nonlocal calls
        calls += 1
        return (x @ w + b).relu()

    gen = rng()
    for step in range(5):
        x = gen.standard_normal((6, 20)).astype(np.float32)
        w = gen.standard_normal((20, 10)).astype(np.float32)
        b = gen.standard_normal((10,)).astype(np.float32)
        out = layer(tg.Tensor(x), tg.Tensor(w), tg.Tensor(b))
        # read each result before the next call: a replayed JIT may reuse its output buffer
        check_matmul(out.numpy(), x, w, bias=b, relu=True)
        assert calls == min(step + 1, 2)
    assert calls == 2


def test_tinyjit_elementwise_with_new_inputs(tg):
    calls = 0

    @tg.TinyJit
    def add(a, b):
        nonlocal calls
        calls += 1
        return a + b

    gen = rng()
    for _ in range(4):
        la = gen.integers(0, 100_000, 10).tolist()
        lb = gen.integers(0, 100_000, 10).tolist()
        assert add(tg.Tensor(la), tg.Tensor(lb)).tolist() == [x + y for x, y in zip(la, lb, strict=True)]
    assert calls == 2


# ---------------------------------------------------------------- device


def test_device_default_is_cpu(tg):
    assert tg.Device.DEFAULT == expected_device()
    assert tg.Tensor.ones(2).device == tg.Device.DEFAULT


def test_synchronize(tg):
    t = (tg.Tensor.ones(64, 64) @ tg.Tensor.ones(64, 64)).realize()
    assert tg.Device[tg.Device.DEFAULT].synchronize() is None
    assert math.isclose(t.numpy()[0, 0], 64.0)


# ---------------------------------------------------------------- tgrad's own settings (subprocess, tgrad only)

MATMUL_BODY = """
    import numpy as np
    gen = np.random.default_rng(5)
    a = gen.standard_normal((37, 53)).astype(np.float32)
    b = gen.standard_normal((53, 29)).astype(np.float32)
    return (tg.Tensor(a) @ tg.Tensor(b)).numpy().tolist()
"""


def matmul_body_operands() -> tuple[np.ndarray, np.ndarray]:
    gen = np.random.default_rng(5)
    return gen.standard_normal((37, 53)).astype(np.float32), gen.standard_normal((53, 29)).astype(np.float32)


def cache_snapshot(cache) -> dict[str, bytes]:
    return {str(p.relative_to(cache)): p.read_bytes() for p in sorted(cache.rglob("*")) if p.is_file()}


@pytest.mark.tgrad_only(reason="TGRAD_DEBUG is tgrad's setting (upstream's is DEBUG)")
def test_tgrad_debug_levels(run_isolated, check_matmul, tmp_path):
    a, b = matmul_body_operands()
    env = {"TGRAD_CACHE": str(tmp_path / "cache")}
    quiet = run_isolated(MATMUL_BODY, {**env, "TGRAD_DEBUG": "0"})
    names = run_isolated(MATMUL_BODY, {**env, "TGRAD_DEBUG": "1"})
    source = run_isolated(MATMUL_BODY, {**env, "TGRAD_DEBUG": "4"})
    for report in (quiet, names, source):
        assert not report["raised"], report
        check_matmul(np.array(report["value"], dtype=np.float32), a, b)
    assert quiet["stdout"] == "" and quiet["stderr"] == "", "TGRAD_DEBUG=0 should print nothing"
    printed_1 = names["stdout"] + names["stderr"]
    printed_4 = source["stdout"] + source["stderr"]
    assert printed_1.strip(), "TGRAD_DEBUG=1 should print the kernels it runs"
    assert "for (" not in printed_1, "TGRAD_DEBUG=1 should not print kernel source"
    assert "for (" in printed_4 and "float" in printed_4, f"TGRAD_DEBUG=4 should print the rendered C:\n{printed_4}"


@pytest.mark.tgrad_only(reason="TGRAD_CACHE is tgrad's on-disk kernel cache")
def test_disk_cache_is_reused_and_corrupt_entries_rebuilt(run_isolated, check_matmul, tmp_path):
    a, b = matmul_body_operands()
    cache = tmp_path / "cache"
    # compiled at run time: the matmul's kernel is otherwise one of those built in ahead of time
    env = {"TGRAD_CACHE": str(cache), "TGRAD_AOT": "0"}
    first = run_isolated(MATMUL_BODY, env)
    assert not first["raised"], first
    check_matmul(np.array(first["value"], dtype=np.float32), a, b)
    entries = cache_snapshot(cache)
    assert entries, "running a matmul wrote nothing to TGRAD_CACHE"

    second = run_isolated(MATMUL_BODY, env)
    assert second["value"] == first["value"]
    assert cache_snapshot(cache) == entries, "a second process recompiled instead of reusing the cache"

    garbage = b"\x7fELF not a kernel"
    for name in entries:
        (cache / name).write_bytes(garbage)
    third = run_isolated(MATMUL_BODY, env)
    assert not third["raised"], f"a corrupt cache entry was not rebuilt: {third}"
    assert third["value"] == first["value"]
    rebuilt = cache_snapshot(cache)
    assert set(rebuilt) == set(entries), "rebuilding left extra files (half-written or temporary) in the cache"
    assert garbage not in rebuilt.values(), "a corrupt entry is still in the cache"


@pytest.mark.tgrad_only(reason="TGRAD_THREADS is tgrad's setting")
@pytest.mark.parametrize("threads", ["1", "2"])
def test_tgrad_threads(run_isolated, check_matmul, tmp_path, threads):
    a, b = matmul_body_operands()
    report = run_isolated(MATMUL_BODY, {"TGRAD_THREADS": threads, "TGRAD_CACHE": str(tmp_path / "cache")})
    assert not report["raised"], report
    check_matmul(np.array(report["value"], dtype=np.float32), a, b)


@pytest.mark.tgrad_only(reason="KEEP_PACKED is tgrad's setting (its GEMMs keep packed B between launches)")
def test_keep_packed_is_a_flag_and_both_settings_agree(tg):
    from tgrad import _native

    g = rng()
    x1, x2 = (g.standard_normal((256, 1024)).astype(np.float32) for _ in range(2))
    w = g.standard_normal((1024, 1024)).astype(np.float32)
    tw = tg.Tensor(w).realize()
    assert _native.get_flag("KEEP_PACKED") == 1
    kept = [(tg.Tensor(x) @ tw).numpy() for x in (x1, x2, x1)]  # same W: packed once
    with tg.Context(KEEP_PACKED=0):
        assert _native.get_flag("KEEP_PACKED") == 0
        fresh = [(tg.Tensor(x) @ tw).numpy() for x in (x1, x2, x1)]
    assert _native.get_flag("KEEP_PACKED") == 1
    for k, f, x in zip(kept, fresh, (x1, x2, x1), strict=True):
        np.testing.assert_array_equal(k, f)  # the same kernel and blocking: bitwise equal
        np.testing.assert_allclose(k, x.astype(np.float64) @ w.astype(np.float64), rtol=1e-3, atol=1e-3)


@pytest.mark.tgrad_only(reason="SCACHE is tgrad's schedule cache (tinygrad's has its own switch)")
def test_repeated_graphs_replay_and_agree_with_scheduling(tg):
    """A training-step-like graph realized again on new data replays its schedule (TGRAD_SCACHE=1, the default) and
    gives bitwise what scheduling it again gives (TGRAD_SCACHE=0); integer-valued data makes the values exact."""
    from tgrad import _native

    g = rng()
    w = tg.Tensor(g.integers(-3, 4, (24, 16)).astype(np.float32)).realize()
    b = tg.Tensor(g.integers(-3, 4, (16,)).astype(np.float32)).realize()

    def step(x: np.ndarray):
        t = tg.Tensor(x)
        return ((t @ w + b).relu().sum(axis=1) * 0.5).numpy()

    xs = [g.integers(-3, 4, (8, 24)).astype(np.float32) for _ in range(3)]
    hits = _native.stats()["schedule_cache_hits"]
    cached = [step(x) for x in xs]
    assert _native.stats()["schedule_cache_hits"] - hits >= 2, "the repeated graph was scheduled every time"
    with tg.Context(SCACHE=0):
        hits = _native.stats()["schedule_cache_hits"]
        scheduled = [step(x) for x in xs]
        assert _native.stats()["schedule_cache_hits"] == hits, "SCACHE=0 still replayed"
    wn, bn = w.numpy().astype(np.float64), b.numpy().astype(np.float64)
    for c, s, x in zip(cached, scheduled, xs, strict=True):
        np.testing.assert_array_equal(c, s)
        np.testing.assert_array_equal(c, np.maximum(x.astype(np.float64) @ wn + bn, 0).sum(axis=1) * 0.5)


DEVICE_BODY = """
    from tgrad import _native
    out = {"default": tg.Device.DEFAULT, "native": _native.default_device(), "why": tg.Device.why_not_cuda()}
    other = "CUDA" if out["default"] == "CPU" else "CPU"
    try:
        tg.Device.DEFAULT = other
        out["switched"] = True
    except tg.errors.DeviceError as e:
        out["switched"] = str(e)
    out["ones"] = tg.Tensor.ones(2, 2).numpy().tolist()
    return out
"""


@pytest.mark.tgrad_only(reason="TGRAD_DEVICE is tgrad's device selection")
def test_device_selection_follows_tgrad_device_and_the_self_check(run_isolated):
    from tgrad import _native

    refusal = _native.cuda_auto_refusal()  # None where a GPU is usable and passes the self-check
    auto = run_isolated(DEVICE_BODY, {"TGRAD_DEVICE": ""})
    assert not auto["raised"], auto
    assert auto["value"]["default"] == auto["value"]["native"] == ("CPU" if refusal else "CUDA")
    assert auto["value"]["why"] == refusal
    assert "picks the device once" in auto["value"]["switched"]
    assert auto["value"]["ones"] == [[1.0, 1.0], [1.0, 1.0]]

    cpu = run_isolated(DEVICE_BODY, {"TGRAD_DEVICE": "CPU"})
    assert not cpu["raised"], cpu
    assert cpu["value"]["default"] == cpu["value"]["native"] == "CPU"
    assert "TGRAD_DEVICE=CUDA before importing" in cpu["value"]["switched"]

    forced = run_isolated(DEVICE_BODY, {"TGRAD_DEVICE": "CUDA"})
    usable, why = _native.cuda_available()
    if usable:
        assert not forced["raised"] and forced["value"]["default"] == "CUDA", forced
    else:
        assert forced["raised"] and forced["type"] == "DeviceError", forced
        assert why in forced["message"]
