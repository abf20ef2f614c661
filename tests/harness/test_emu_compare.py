"""harness.emu_compare, the emulator-against-GPU comparison of tools/gpu_check.sh (issue 16, item 7), run here on
the emulator alone: its cases, its checks (bitwise equality of integer-valued inputs across devices, the oracle's
bound otherwise), the outputs it saves and compares against, and its exit statuses."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness import emu_compare
from harness.emu_compare import CASES, SEP

SMALL = "gemm-1-f32,elementwise-f16,max-nan-f32,gemm-aT-f16"


def test_the_cases_cover_every_kernel_kind_and_layout() -> None:
    kinds = {c.kernel_kind for c in CASES}
    assert kinds == {"loops", "SIMT GEMM", "tensor-core GEMM"}
    assert {c.layout for c in CASES} == {"contiguous", "transposed_a", "transposed_b"}
    assert {c.dtype for c in CASES} == {"float16", "float32", "float64"}
    assert any(c.op == "linear_relu" for c in CASES) and any(len(c.shapes[0]) == 3 for c in CASES)
    assert any(c.op == "matmul" and len(c.shapes[0]) == 3 and len(c.shapes[1]) == 2 for c in CASES), "broadcast"


def test_inputs_are_seeded_by_name_and_integer_valued_for_ints() -> None:
    case = next(c for c in CASES if c.name == "linear-relu-f16")
    first, again = case.arrays("ints"), case.arrays("ints")
    assert all(np.array_equal(x, y) for x, y in zip(first, again, strict=True))
    assert all(np.array_equal(x, np.round(x)) for x in first)
    assert not np.array_equal(case.arrays("normal")[0], np.round(case.arrays("normal")[0]))


@pytest.mark.parametrize("name", ["gemm-256-f16", "gemm-256-f32", "sum-333x777-f32"])
def test_the_kernel_kind_is_what_tgrad_renders(name: str) -> None:
    import tgrad
    from tgrad import _native

    case = next(c for c in CASES if c.name == name)
    sources = emu_compare._sources(case, tgrad, _native)
    assert sources and all(len(s["sha256"]) == 16 for s in sources)
    gemm = [s for s in sources if s["strategy"] == "gemm"]
    if case.kernel_kind == "loops":
        assert not gemm
    else:
        assert gemm and gemm[0]["tensor_cores"] == (case.kernel_kind == "tensor-core GEMM")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--devices", "VULKAN"], "each must be one of CUDA, CUDA_EMU"),
        (["--cases", "no-such-case"], "matches no case"),
        (["--against", "/nonexistent/outputs.npz"], "not a readable outputs file"),
    ],
)
def test_bad_arguments_exit_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert emu_compare.main(argv) == 2
    assert message in capsys.readouterr().err


def test_an_out_that_is_a_file_exits_2(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    assert emu_compare.main(["--out", str(tmp_path / "f"), "--devices", "CUDA_EMU"]) == 2


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One emulator-only run of a few cases, written to a folder."""
    out = tmp_path_factory.mktemp("emu")
    assert emu_compare.main(["--devices", "CUDA,CUDA_EMU", "--cases", SMALL, "--out", str(out)]) == 0
    return out


def test_an_emulator_run_writes_its_report_and_outputs(saved: Path) -> None:
    from tgrad import _native

    report = json.loads((saved / "emu-vs-gpu.json").read_text())
    assert report["ok"] and not report["failures"]
    gpu, why = _native.cuda_available()
    assert report["devices"]["CUDA"] == {"usable": gpu, "reason": None if gpu else why}
    assert {c["case"]["name"] for c in report["cases"]} == set(SMALL.split(","))
    for entry in report["cases"]:
        for kind in ("ints", "normal"):
            emu = entry[kind]["devices"]["CUDA_EMU"]
            assert emu["status"] == "ok" and emu["agreement"]["ok"]
        assert entry["ints"]["devices"]["CUDA_EMU"]["equals_rounded_exact"]
    with np.load(saved / "emu-vs-gpu-outputs.npz") as data:
        keys = set(data.files)
    assert f"gemm-aT-f16{SEP}ints{SEP}CUDA_EMU" in keys and f"gemm-aT-f16{SEP}sources" in keys
    assert "Verdict: PASS" in (saved / "emu-vs-gpu.md").read_text()


def test_against_its_own_outputs_everything_is_bitwise_equal(saved: Path, tmp_path: Path) -> None:
    argv = ["--devices", "CUDA_EMU", "--cases", SMALL, "--against", str(saved / "emu-vs-gpu-outputs.npz")]
    assert emu_compare.main([*argv, "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "emu-vs-gpu.json").read_text())
    for entry in report["cases"]:
        assert entry["same_source_as_against"] is True
        for kind in ("ints", "normal"):
            cross = entry[kind]["cross"]
            assert cross["others"]["CUDA_EMU@against"]["identical"], (entry["case"]["name"], kind, cross)


def _tampered(saved: Path, tmp_path: Path, key: str, change: str) -> Path:
    with np.load(saved / "emu-vs-gpu-outputs.npz") as data:
        arrays = {k: data[k] for k in data.files}
    if change == "hash":
        arrays[key] = np.array("0" * 16)
    else:
        value = arrays[key].copy()
        flat = value.reshape(-1)
        flat[0] = flat[0] + (1 if change == "one" else 1000)
        arrays[key] = value
    path = tmp_path / "tampered.npz"
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    ("key", "change", "failure"),
    [
        (f"gemm-aT-f16{SEP}ints{SEP}CUDA_EMU", "one", "is not bitwise equal"),
        (f"gemm-1-f32{SEP}normal{SEP}CUDA_EMU", "far", "x the bound"),
        (f"gemm-1-f32{SEP}ints{SEP}inputs", "hash", "inputs differ"),
    ],
)
def test_a_disagreeing_saved_output_fails(saved: Path, tmp_path: Path, key: str, change: str, failure: str) -> None:
    against = _tampered(saved, tmp_path, key, change)
    argv = ["--devices", "CUDA_EMU", "--cases", SMALL, "--against", str(against), "--out", str(tmp_path / "o")]
    assert emu_compare.main(argv) == 1
    report = json.loads((tmp_path / "o" / "emu-vs-gpu.json").read_text())
    assert any(failure in f for f in report["failures"]), report["failures"]
    assert "Verdict: FAIL" in (tmp_path / "o" / "emu-vs-gpu.md").read_text()


def test_require_all_fails_without_the_gpu(tmp_path: Path) -> None:
    from tgrad import _native

    if _native.cuda_available()[0]:
        pytest.skip("a GPU is usable here: the comparison itself is the test")
    argv = ["--devices", "CUDA,CUDA_EMU", "--cases", "gemm-1-f32", "--require-all", "--out", str(tmp_path)]
    assert emu_compare.main(argv) == 1
    assert "CUDA is not usable" in json.loads((tmp_path / "emu-vs-gpu.json").read_text())["failures"][0]
