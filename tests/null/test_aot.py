"""Kernels built ahead of time (tgrad_ext/crates/aot, docs/aot.md): the lab's benchmark, odd-shape and float16
scenarios run without any C compiler, each GEMM from the built-in table and right; a kernel outside the families
still says which compiler to install; TGRAD_DEBUG=2 names the table's kernels; TGRAD_AOT=0 and TGRAD_COPT compile.

Each case runs in a fresh interpreter (`run_isolated`), so the process-wide compiler choice and kernel cache are
its own.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NO_CC = "/nonexistent/tgrad-test-cc"

SCENARIOS_BODY = """
    import numpy as np
    from harness.agreement import compare, matmul_error_bound, unit_roundoff
    from harness.scenario import load
    from harness.workload import make_inputs

    checked = []
    for path in FILES:
        for s in load(path).scenarios:
            i = make_inputs(s)
            a, b = tg.Tensor(i.a).realize(), tg.Tensor(i.b).realize()
            y = (a.transpose(-1, -2) if i.transpose_a else a) @ (b.transpose(-1, -2) if i.transpose_b else b)
            if i.bias is not None:
                y = (y + tg.Tensor(i.bias).realize()).relu()
            out = y.numpy()
            # the float64 oracle on the first, middle and last rows of every matrix of the batch
            la, lb = i.logical_a(), i.logical_b()
            m = la.shape[-2]
            rows = sorted({0, m // 2, m - 1})
            sa = la[..., rows, :]
            exact = sa.astype(np.float64) @ lb.astype(np.float64)
            bound = matmul_error_bound(sa, lb, out_dtype=out.dtype)
            if i.bias is not None:
                exact = np.maximum(exact + i.bias.astype(np.float64), 0.0)
                # the bias add rounds once more, in the accumulator or (half) in the output dtype
                bound = bound + unit_roundoff(out.dtype) * (np.abs(exact) + bound)
            agreement = compare(out[..., rows, :], exact, bound)
            checked.append([s.name, str(out.dtype), list(out.shape), agreement.ok, agreement.max_ratio])
    return {"checked": checked, "stats": dict(tg._native.stats()), "build": dict(tg.build_info())}
"""


def scenario_names(*files: str) -> list[str]:
    import tomllib

    return [s["name"] for f in files for s in tomllib.loads((ROOT / "scenarios" / f).read_text())["scenario"]]


@pytest.mark.tgrad_only(reason="kernels built ahead of time and TGRAD_CC are tgrad's")
def test_benchmarks_odd_shapes_and_f16_scenarios_need_no_compiler(run_isolated, tmp_path):
    files = ["five.toml", "odd.toml", "f16.toml"]
    body = textwrap.dedent(SCENARIOS_BODY).replace("FILES", repr([str(ROOT / "scenarios" / f) for f in files]))
    cache = tmp_path / "cache"
    env = {"TGRAD_CC": NO_CC, "TGRAD_CACHE": str(cache), "PYTHONPATH": str(ROOT)}
    report = run_isolated(body, env, timeout=600)
    assert not report["raised"], f"a scenario needed a C compiler or failed: {report}"
    checked = report["value"]["checked"]
    assert [c[0] for c in checked] == scenario_names(*files)
    wrong = [c for c in checked if not c[3]]
    assert not wrong, f"results outside the oracle's bound: {wrong}"
    assert {c[1] for c in checked} == {"float32", "float16"}
    stats = report["value"]["stats"]
    assert stats["programs_compiled"] == 0 and stats["programs_from_disk"] == 0, stats
    # one program per plan signature: float32 plain read in place (B1) and packed (the others), float32
    # bias+relu; half plain as planned in place (H1) and packed (one source: half is always packed), half
    # bias+relu. AMD's AVX-512 cores run six rows of four vectors, except where that computes more columns:
    # O5's 31 columns read in place take twelve rows of two, a seventh program.
    build = report["value"]["build"]
    wide_tile = build["isa"] == "avx512" and build["vendor"] == "amd"
    assert stats["programs_aot"] == (7 if wide_tile else 6), (stats, build)
    assert stats["kernels_run"] == len(checked), stats
    assert report["value"]["build"]["aot_kernels"] >= stats["programs_aot"]
    assert not [p for p in cache.rglob("*") if p.suffix == ".so"], "nothing was compiled into the cache"


@pytest.mark.tgrad_only(reason="TGRAD_CC and tgrad's error messages are tgrad's")
@pytest.mark.parametrize(
    "expression",
    ["(a + 1).numpy()", "((a @ a) / 3).numpy()"],
    ids=["elementwise", "gemm-outside-the-families"],
)
def test_kernels_outside_the_table_say_which_compiler_to_install(run_isolated, tmp_path, expression):
    body = f"""
        a = tg.Tensor([[1.0, 2.0], [3.0, 4.0]])
        assert (a @ a).tolist() == [[7.0, 10.0], [15.0, 22.0]], "a plain GEMM runs from the table"
        {expression}
    """
    report = run_isolated(body, {"TGRAD_CC": NO_CC, "TGRAD_CACHE": str(tmp_path / "cache")})
    assert report["raised"] and report["type"] == "CompilerNotFoundError", report
    message = report["message"]
    assert NO_CC in message, message
    assert "apt-get install -y clang" in message and "TGRAD_CC" in message, message
    assert "not one of the" in message and "built into tgrad ahead of time" in message, message
    assert "kernel " in message, f"the message should name the kernel that needs the compiler: {message}"


MATMUL_BODY = """
    import numpy as np
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    out = (tg.Tensor(a) @ tg.Tensor(a.T.copy())).numpy()
    assert (out == a @ a.T).all()
    return dict(tg._native.stats())
"""


@pytest.mark.tgrad_only(reason="TGRAD_DEBUG's output is tgrad's")
def test_debug_output_names_the_kernels_from_the_table(run_isolated, tmp_path):
    report = run_isolated(MATMUL_BODY, {"TGRAD_DEBUG": "2", "TGRAD_CACHE": str(tmp_path / "cache")})
    assert not report["raised"], report
    lines = [line for line in report["stderr"].splitlines() if "built in ahead of time" in line]
    assert len(lines) == 1, report["stderr"]
    assert "/float/matmul/in-place, tgrad_aot_" in lines[0] and "r_3_3_4" in lines[0], lines[0]
    assert report["value"]["programs_aot"] == 1 and report["value"]["programs_compiled"] == 0


@pytest.mark.tgrad_only(reason="TGRAD_AOT and TGRAD_COPT are tgrad's")
@pytest.mark.parametrize("setting", [{"TGRAD_AOT": "0"}, {"TGRAD_COPT": "-O1"}], ids=["aot-off", "own-flags"])
def test_aot_off_or_other_compiler_flags_compile_at_run_time(run_isolated, tmp_path, setting):
    report = run_isolated(MATMUL_BODY, {**setting, "TGRAD_DEBUG": "2", "TGRAD_CACHE": str(tmp_path / "cache")})
    assert not report["raised"], report
    assert report["value"]["programs_aot"] == 0 and report["value"]["programs_compiled"] == 1, report["value"]
    assert "built in ahead of time" not in report["stderr"]
