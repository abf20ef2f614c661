"""The lab's GPU-on-the-CPU table (issue 16, item 6): scenarios/gpu-emu.toml, the engines of
harness/engines/gpu_emu.py (tgrad's emulated CUDA and Metal, tinygrad's PYTHON emulator and its CL backend on
PoCL), and how their cells are marked as not GPU timings in the run record and the table. The committed table
(results/latest-gpu-emu.md) is the real run; these checks are unit-level plus one small run of the real engines."""

from __future__ import annotations

import csv
import io
import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from lab_fakes import EmulatedFake, FastFake, OneCallFake, write_scenarios

from harness import cli, compare, report, scenario, store
from harness.engines import gpu_emu, resolve
from harness.engines.base import EngineContext, Unavailable, Unsupported
from harness.scenario import Budget

ROOT = Path(__file__).resolve().parents[2]
ENGINES = ("tgrad-cuda-emu", "tgrad-metal-emu", "tinygrad-python-sm80", "tinygrad-python-metal", "tinygrad-cl")


def _dims(s: scenario.Scenario) -> set[int]:
    return {*s.a, *s.b}


def test_the_scenario_file_covers_the_issue_shapes() -> None:
    f = scenario.load(ROOT / "scenarios" / "gpu-emu.toml")
    assert f.lab.engines == ENGINES
    assert f.lab.subject == "tgrad-cuda-emu" and f.lab.reference == "tinygrad-cl"
    assert f.lab.table == "latest-gpu-emu"
    assert {s.device for s in f.scenarios} == {"EMU"}
    for dtype in ("float32", "float16"):
        chosen = [s for s in f.scenarios if s.dtype == dtype]
        layouts = {s.layout for s in chosen}
        assert {"transposed_b", "broadcast_b", "contiguous"} <= layouts, dtype
        assert any(len(s.a) == 3 and len(s.b) == 3 for s in chosen), f"no batched {dtype} scenario"
        assert any(s.op == "linear_relu" for s in chosen), f"no linear+relu in {dtype}"
        assert any(s.a == (256, 256) and s.b == (256, 256) for s in chosen)
    float32 = [s for s in f.scenarios if s.dtype == "float32"]
    assert {1, 3, 17, 127, 129, 256} <= set().union(*map(_dims, float32))
    assert "transposed_a" in {s.layout for s in float32}


@pytest.mark.parametrize("name", ENGINES)
def test_each_engine_runs_on_the_emu_device_only(name: str) -> None:
    engine = resolve(name)
    engine.check_device("EMU")
    for device in ("CPU", "CUDA"):
        with pytest.raises(Unsupported, match=f"runs on EMU, not {device}"):
            engine.check_device(device)
    assert engine.emulated, f"{name} must be marked as not timing a GPU"


def test_the_engines_select_their_backends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    context = EngineContext(cache_dir=tmp_path)
    assert resolve("tgrad-cuda-emu").environment(context)["TGRAD_DEVICE"] == "CUDA_EMU"
    assert resolve("tgrad-metal-emu").environment(context)["TGRAD_DEVICE"] == "METAL_EMU"
    assert resolve("tgrad-cuda-emu").environment(context)["TGRAD_CACHE"] == "off"  # the first call compiles
    assert resolve("tinygrad-python-sm80").environment(context)["DEV"] == "PYTHON::sm_80"
    assert resolve("tinygrad-python-metal").environment(context)["DEV"] == "PYTHON::METAL"
    icd = tmp_path / "pocl.icd"
    icd.write_text("libpocl.so.2\n")
    monkeypatch.setattr(gpu_emu.TinygradCl, "icd_glob", str(tmp_path / "pocl*.icd"))
    env = resolve("tinygrad-cl").environment(context)
    assert env["DEV"] == "CL" and env["OCL_ICD_VENDORS"] == str(icd), "only PoCL may answer DEV=CL"


def test_the_dev_spellings_are_tinygrads() -> None:
    """DEV=PYTHON::sm_80 and DEV=PYTHON::METAL as the installed tinygrad parses them: the PYTHON device with
    an empty renderer and the arch its PythonRenderer turns into a CUDA or Metal target."""
    from tinygrad.helpers import Target
    from tinygrad.runtime.ops_python import PythonRenderer

    for dev, arch, emulated in (("PYTHON::sm_80", "sm_80", "CUDA"), ("PYTHON::METAL", "METAL", "METAL")):
        target = Target.parse(dev)
        assert (target.device, target.arch) == ("PYTHON", arch)
        assert PythonRenderer(target).target.device == emulated


def test_a_missing_pocl_is_unavailable_with_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(gpu_emu.TinygradCl, "icd_glob", str(tmp_path / "none*.icd"))
    engine = resolve("tinygrad-cl")
    assert "OCL_ICD_VENDORS" not in engine.environment(EngineContext(cache_dir=tmp_path))
    with pytest.raises(Unavailable, match=r"PoCL is not installed.*pocl-opencl-icd ocl-icd-libopencl1"):
        engine.load()


def _with_backend(engine: Any, supported: set[str]) -> Any:
    """Give a tinygrad engine a fake module and device whose renderer offers `supported` dtypes."""
    renderer = types.SimpleNamespace(supported_dtypes=lambda: set(supported))
    engine._module = types.SimpleNamespace(dtypes=types.SimpleNamespace(float16="float16", float32="float32"))
    engine._device = types.SimpleNamespace(renderer=renderer)
    return engine


def test_tinygrads_python_device_says_why_it_has_no_float16(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = _with_backend(resolve("tinygrad-python-sm80"), {"float32"})
    engine.check_dtype("float32")
    monkeypatch.setattr(gpu_emu, "sys", types.SimpleNamespace(version_info=(3, 11, 9)))
    with pytest.raises(Unavailable, match=r"no float16 on Python 3.11.*memoryview format 'e'.*3.12"):
        engine.check_dtype("float16")
    _with_backend(engine, {"float32", "float16"}).check_dtype("float16")  # on 3.12 tinygrad offers it


def test_pocl_without_fp16_says_so() -> None:
    engine = _with_backend(resolve("tinygrad-cl"), {"float32"})
    engine.check_dtype("float32")
    with pytest.raises(Unavailable, match=r"no float16 .*cl_khr_fp16"):
        engine.check_dtype("float16")


def test_the_emulator_without_a_cxx_compiler_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TGRAD_CXX", "/nonexistent/g++")
    with pytest.raises(Unavailable, match=r"C\+\+ compiler.*not on PATH"):
        resolve("tgrad-cuda-emu").load()


def test_tinygrads_python_device_runs_two_calls_a_cell() -> None:
    budget = Budget(warmup=3, min_samples=10, max_samples=100)
    for name in ("tinygrad-python-sm80", "tinygrad-python-metal"):
        capped = resolve(name).cell_budget(budget)
        assert (capped.warmup, capped.min_samples, capped.max_samples) == (0, 1, 1)
    for name in ("tgrad-cuda-emu", "tgrad-metal-emu", "tinygrad-cl"):
        assert resolve(name).cell_budget(budget) == budget


def test_the_runner_gives_each_engine_its_own_budget(tmp_path: Path) -> None:
    record, _ = _run_fakes(tmp_path, [FastFake, OneCallFake])
    counts = {(c["engine"], len(c["warmup"]), len(c["samples"])) for c in record["cells"]}
    assert counts == {("fast-fake", 0, 3), ("onecall-fake", 0, 1)}


# ------------------------------------------------------------------------------------------ marking
def _run_fakes(tmp_path: Path, engines: list[type]) -> tuple[dict[str, Any], Path]:
    path = write_scenarios(
        tmp_path, engines, budget="warmup = 0\nwarmup_s = 0\nmin_samples = 3\nmax_samples = 5\ntime_s = 0.0"
    )
    results = tmp_path / "r"
    assert cli.main(["run", str(path), "--results", str(results), "--no-progress", "--no-history"]) == 0
    (run_file,) = (results / "runs").glob("*.json")
    return json.loads(run_file.read_text()), results


def test_emulated_cells_are_marked_in_the_record_and_the_table(tmp_path: Path) -> None:
    record, results = _run_fakes(tmp_path, [FastFake, EmulatedFake])
    marks = {c["engine"]: c.get("emulated") for c in record["cells"]}
    assert marks == {"fast-fake": None, "emulated-fake": "emulated (a fake GPU emulator)"}
    store.load_run(next((results / "runs").glob("*.json")))  # the schema knows the field
    md = (results / "latest.md").read_text()
    rows = [line for line in md.splitlines() if line.startswith("| T")]
    assert all(("not GPU timings" in row) == ("emulated-fake" in row) for row in rows), rows
    assert "their times are CPU times" in md
    table_csv = list(csv.DictReader(io.StringIO((results / "latest.csv").read_text())))
    assert {r["engine"]: r["emulated"] for r in table_csv} == marks | {"fast-fake": ""}


def test_a_table_without_emulated_engines_has_no_legend(tmp_path: Path) -> None:
    record, _ = _run_fakes(tmp_path, [FastFake])
    table = compare.build_table(store.validate_run(record, "run"))
    assert all(row.emulated is None for row in table.rows)
    assert "not GPU timings" not in report.render_markdown(table)


# ------------------------------------------------------------------------------------------ the real engines
def test_the_real_engines_run_or_say_why(tmp_path: Path) -> None:
    """The smallest float32 and float16 scenarios with every engine of the file: tgrad's emulated devices run
    and agree; tinygrad's PYTHON device runs float32 and, before Python 3.12, says why float16 is missing;
    tinygrad-cl runs where PoCL is installed and otherwise names the packages."""
    results = tmp_path / "r"
    argv = ["run", str(ROOT / "scenarios" / "gpu-emu.toml"), "--only", "E1,H2", "--quick"]
    assert cli.main([*argv, "--results", str(results), "--no-progress", "--no-history"]) == 0
    (run_file,) = (results / "runs").glob("*.json")
    cells = {(c["scenario"], c["engine"]): c for c in store.load_run(run_file)["cells"]}
    for key, cell in cells.items():
        assert cell["status"] in ("ok", "unavailable"), (key, cell.get("reason"))
        assert cell["emulated"], key
        if cell["status"] == "ok":
            assert cell["agreement"]["oracle"]["ok"], (key, cell["agreement"])
    for name in ("tgrad-cuda-emu", "tgrad-metal-emu"):
        assert cells[("E1", name)]["status"] == cells[("H2", name)]["status"] == "ok"
    for name in ("tinygrad-python-sm80", "tinygrad-python-metal"):
        assert cells[("E1", name)]["status"] == "ok"
        if sys.version_info < (3, 12):
            assert "Python 3.12" not in cells[("H2", name)]["reason"]  # the message names the running version
            assert "from 3.12" in cells[("H2", name)]["reason"]
    cl = cells[("E1", "tinygrad-cl")]
    if gpu_emu.TinygradCl().pocl_icd() is None:
        assert cl["status"] == "unavailable" and "pocl-opencl-icd" in cl["reason"]
    else:
        assert cl["status"] == "ok" and cl["info"]["cl_driver"], cl
