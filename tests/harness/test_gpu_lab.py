"""The lab's GPU side (issue 7): the GPU scenario file, the engines' device rules, and how cells
that cannot run on this machine are reported. Everything here runs without a GPU; the GPU table
itself needs one (docs/gpu.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
from lab_fakes import CpuOnlyFake, FastFake, NoDeviceFake, write_scenarios

from harness import cli, scenario, store
from harness.engines import resolve
from harness.engines.base import EngineContext, Unsupported

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_scenarios_cover_the_issue_sizes() -> None:
    f = scenario.load(ROOT / "scenarios" / "gpu.toml")
    assert {s.device for s in f.scenarios} == {"CUDA"}
    sizes = {(s.dtype, s.a, s.b) for s in f.scenarios}
    for dtype in ("float16", "float32"):
        for n in (4096, 8192):
            assert (dtype, (n, n), (n, n)) in sizes
    # the five benchmarks' shapes are all there in float32
    assert {(s.op, s.a) for s in f.scenarios if s.dtype == "float32"} >= {
        ("matmul", (64, 64)),
        ("matmul", (512, 512)),
        ("matmul", (2048, 2048)),
        ("matmul", (64, 128, 128)),
        ("linear_relu", (256, 1024)),
    }
    assert f.lab.subject == "tgrad-cuda" and f.lab.reference == "torch"
    assert f.lab.table == "latest-gpu"
    for name in f.lab.engines:
        resolve(name).check_device("CUDA")  # no engine of the GPU file refuses the GPU


@pytest.mark.parametrize(
    ("engine", "device"),
    [("tgrad", "CUDA"), ("tgrad-1t", "CUDA"), ("tgrad-beam", "CUDA"), ("numpy", "CUDA"), ("tgrad-cuda", "CPU")],
)
def test_engines_refuse_devices_they_do_not_run_on(engine: str, device: str) -> None:
    with pytest.raises(Unsupported, match=f"runs on .*not {device}"):
        resolve(engine).check_device(device)


@pytest.mark.parametrize("engine", ["tinygrad-eager", "tinygrad-jit", "torch"])
def test_engines_that_run_anywhere_accept_both_devices(engine: str) -> None:
    for device in ("CPU", "CUDA", "cuda:0"):
        resolve(engine).check_device(device)


def test_tgrad_engines_pin_their_device(tmp_path: Path) -> None:
    context = EngineContext(cache_dir=tmp_path)
    for name in ("tgrad", "tgrad-1t", "tgrad-beam"):
        assert resolve(name).environment(context)["TGRAD_DEVICE"] == "CPU"
    assert resolve("tgrad-cuda").environment(context)["TGRAD_DEVICE"] == "CUDA"


def _gpu_file(folder: Path, engines: list) -> Path:
    budget = "warmup = 1\nwarmup_s = 0\nmin_samples = 3\nmax_samples = 10\ntime_s = 0.0"
    return write_scenarios(folder, engines, budget=budget, defaults_extra='device = "CUDA"')


def _cells(results: Path) -> dict[str, dict]:
    runs = sorted((results / "runs").glob("*.json"))
    assert len(runs) == 1
    return {c["engine"]: c for c in store.load_run(runs[0])["cells"]}


def test_a_missing_device_is_unavailable_and_a_wrong_one_unsupported(tmp_path: Path) -> None:
    engines = [FastFake, NoDeviceFake, CpuOnlyFake]
    code = cli.main(["run", str(_gpu_file(tmp_path, engines)), "--results", str(tmp_path / "r"), "--no-progress"])
    assert code == 0
    cells = _cells(tmp_path / "r")
    assert cells[FastFake.name]["status"] == "ok"
    assert cells[NoDeviceFake.name]["status"] == "unavailable"
    assert "cannot open CUDA: no GPU" in cells[NoDeviceFake.name]["reason"]
    assert cells[CpuOnlyFake.name]["status"] == "unsupported"
    assert "runs on CPU, not CUDA" in cells[CpuOnlyFake.name]["reason"]


def test_real_gpu_engines_say_why_they_cannot_run_here(tmp_path: Path) -> None:
    """On this machine (no GPU) each real GPU engine is `unavailable` with a reason naming the
    missing piece; where a GPU is usable the same cells must run and agree instead."""
    from tgrad import _native

    gpu, why = _native.cuda_available()
    engines = ["tgrad-cuda", "torch", "tinygrad-eager"]
    code = cli.main(["run", str(_gpu_file(tmp_path, engines)), "--results", str(tmp_path / "r"), "--no-progress"])
    assert code == 0
    cells = _cells(tmp_path / "r")
    if gpu:
        assert cells["tgrad-cuda"]["status"] == "ok", cells["tgrad-cuda"]
        return
    tg = cells["tgrad-cuda"]
    assert tg["status"] == "unavailable"
    assert "CUDA" in tg["reason"] and why.split(" (")[0] in tg["reason"]
    for name in ("torch", "tinygrad-eager"):
        assert cells[name]["status"] == "unavailable", cells[name]
        assert cells[name]["reason"]
