"""tools/gpu_check.sh, the one command for a lent GPU machine (issue 16, item 7), exercised here: its plan
(--dry-run), its refusals of bad arguments, and an emulator-only run of a small part of each step that writes the
folder to commit. On a GPU machine the same script runs every step for real (docs/gpu.md)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "gpu_check.sh"


def _run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_the_dry_run_lists_every_step_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "check"
    done = _run("--dry-run", "--out", str(out))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    steps = [line.split()[0] for line in lines[1:]]
    assert steps == ["env", "wheels", "tests", "compare", "table"]
    assert "deadline 560 s" in lines[0], "the steps must end within the device tool's 10 minutes"
    plan = done.stdout
    assert "--only G1,G2,G3,G4,G5,G6,H3,H5,H6" in plan, "the 8192^2 squares' oracle does not fit the deadline"
    assert "--no-index" in plan and "-m 'gpu' tests/gpu/test_gpu_run.py" in plan
    assert "--devices CUDA,CUDA_EMU --require-all" in plan and "scenarios/gpu.toml --quick" in plan
    assert "cuda_available()" in plan, "with a GPU, the tests step first requires CUDA to be usable"
    assert not out.exists()


def test_the_emulator_only_plan_needs_no_gpu(tmp_path: Path) -> None:
    done = _run("--dry-run", "--emulator-only", "--out", str(tmp_path / "c"))
    assert done.returncode == 0, done.stderr
    assert "wheels   skipped" in done.stdout and "-m 'not gpu'" in done.stdout
    assert "--devices CUDA_EMU " in done.stdout and "--devices CUDA," not in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "--out is required"),
        (("--out", "x", "--steps", "tests,bogus"), "unknown step 'bogus'"),
        (("--out", "x", "--deadline", "ten"), "--deadline must be whole seconds"),
        (("--out", "x", "--frobnicate"), "unknown argument '--frobnicate'"),
        (("--out", "/etc/hostname"), "is not a folder"),
    ],
)
def test_bad_arguments_exit_2(args: tuple[str, ...], message: str) -> None:
    done = _run(*args)
    assert done.returncode == 2 and message in done.stderr, (done.returncode, done.stderr)


def test_an_emulator_only_run_writes_the_folder(tmp_path: Path) -> None:
    out = tmp_path / "gpu-check"
    done = _run(
        "--emulator-only",
        "--out",
        str(out),
        "--steps",
        "env,tests,compare,table",
        "--pytest-args",
        "-k test_results_stay_on_the_device_until_read",
        "--compare-args",
        "--cases gemm-1-f32,gemm-aT-f16",
        "--table-scenarios",
        "G1",
        "--table-args",
        "--engines tgrad-cuda",
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    expected = {"summary.md", "log.txt", "emu-vs-gpu.json", "emu-vs-gpu.md", "emu-vs-gpu-outputs.npz"}
    assert expected | {"latest-gpu-quick.md", "latest-gpu-quick.csv"} <= files, files
    assert len(files) <= 8 and all(f.count("/") <= 1 for f in files), "the device tool returns 8 files, 2 deep"
    summary = (out / "summary.md").read_text()
    for step in ("env", "tests", "compare", "table"):
        assert f"| {step} | passed |" in summary, summary
    assert "Verdict: PASS" in summary and "Device.DEFAULT: CPU" in summary
    assert "unavailable" in (out / "latest-gpu-quick.md").read_text()  # no GPU here: the cells say why


def test_a_failing_step_fails_the_check(tmp_path: Path) -> None:
    done = _run("--emulator-only", "--out", str(tmp_path), "--steps", "compare", "--compare-args", "--cases nothing")
    assert done.returncode == 1
    assert "| compare | FAILED: exit status 2 |" in (tmp_path / "summary.md").read_text()


def test_the_gpu_mode_fails_where_no_gpu_is_usable(tmp_path: Path) -> None:
    """Without --emulator-only the CUDA tests and the comparison require the GPU: on a machine without one they
    fail and say why, rather than passing with every CUDA case skipped."""
    from tgrad import _native

    if _native.cuda_available()[0]:
        pytest.skip("a GPU is usable here")
    python = str(ROOT / ".venv" / "bin" / "python")
    args = ("--python", python, "--steps", "tests,compare", "--compare-args", "--cases gemm-1-f32")
    done = _run("--out", str(tmp_path), *args)
    assert done.returncode == 1
    summary = (tmp_path / "summary.md").read_text()
    assert "| tests | FAILED: exit status 1 |" in summary and "| compare | FAILED: exit status 1 |" in summary
    assert "CUDA: no NVIDIA driver" in summary and "CUDA is not usable" in summary
