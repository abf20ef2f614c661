"""Scenario files: the shipped ones load as the issue states; malformed ones name file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import cli, scenario
from harness.scenario import ScenarioError

REPO = Path(__file__).resolve().parents[2]

GOOD = """[lab]
engines = ["numpy"]
subject = "numpy"

[defaults]
dtype = "float32"

[[scenario]]
name = "S1"
op = "matmul"
a = [4, 8]
b = [8, 2]
"""


def test_five_benchmarks_are_as_specified() -> None:
    five = scenario.load(REPO / "scenarios" / "five.toml")
    shapes = {s.name: (s.title, s.op, s.a, s.b, s.bias, s.dtype, s.device) for s in five.scenarios}
    assert shapes == {
        "B1": ("gemm-64", "matmul", (64, 64), (64, 64), None, "float32", "CPU"),
        "B2": ("gemm-512", "matmul", (512, 512), (512, 512), None, "float32", "CPU"),
        "B3": ("gemm-2048", "matmul", (2048, 2048), (2048, 2048), None, "float32", "CPU"),
        "B4": ("bmm", "matmul", (64, 128, 128), (64, 128, 128), None, "float32", "CPU"),
        "B5": ("linear-relu", "linear_relu", (256, 1024), (1024, 1024), (1024,), "float32", "CPU"),
        "B6": ("train-step", "train_step", (256, 1024), (1024, 1024), (1024,), "float32", "CPU"),
    }
    engines = ("tinygrad-eager", "tinygrad-jit", "tinygrad-beam", "tgrad", "tgrad-1t", "tgrad-beam", "numpy", "torch")
    assert five.lab.engines == engines
    assert all(s.budget.min_samples >= 5 for s in five.scenarios)


@pytest.mark.parametrize("name", ["five", "f16", "odd"])
def test_shipped_files_load_in_both_profiles(name: str) -> None:
    full = scenario.load(REPO / "scenarios" / f"{name}.toml")
    quick = scenario.load(REPO / "scenarios" / f"{name}.toml", quick=True)
    assert [s.version for s in full.scenarios] == [s.version for s in quick.scenarios]  # budget is not identity
    assert all(q.budget.time_s <= f.budget.time_s for q, f in zip(quick.scenarios, full.scenarios, strict=True))


def test_each_shipped_file_writes_its_own_table() -> None:
    tables = {name: scenario.load(REPO / "scenarios" / f"{name}.toml").lab.table for name in ("five", "f16", "odd")}
    assert tables == {"five": "latest", "f16": "latest-f16", "odd": "latest-odd"}


def test_a_table_name_must_be_a_plain_file_stem(tmp_path: Path) -> None:
    err = _error(tmp_path, GOOD.replace('subject = "numpy"', 'subject = "numpy"\ntable = "../five"'))
    assert err.field == "table"


def test_odd_shapes_are_present() -> None:
    odd = scenario.load(REPO / "scenarios" / "odd.toml")
    pairs = {(s.a, s.b) for s in odd.scenarios}
    assert {((1000, 777), (777, 513)), ((1, 4096), (4096, 4096)), ((4097, 4097), (4097, 4097))} <= pairs


def test_version_changes_with_the_definition_only() -> None:
    doc = scenario.load(REPO / "scenarios" / "five.toml").scenarios[0]
    import dataclasses

    assert dataclasses.replace(doc, seed=1).version != doc.version
    assert dataclasses.replace(doc, budget=scenario.Budget(time_s=99)).version == doc.version


def _error(tmp_path: Path, text: str) -> ScenarioError:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        scenario.load(path)
    assert str(path) in str(info.value)
    return info.value


def test_good_file_loads(tmp_path: Path) -> None:
    (tmp_path / "good.toml").write_text(GOOD)
    loaded = scenario.load(tmp_path / "good.toml")
    assert loaded.scenarios[0].out_shape == (4, 2)
    assert loaded.scenarios[0].flops == 2 * 4 * 2 * 8


def test_syntax_error_names_the_line(tmp_path: Path) -> None:
    error = _error(tmp_path, GOOD.replace("a = [4, 8]", "a = [4, 8"))
    assert error.line is not None and 11 <= error.line <= 12
    assert "TOML syntax error" in str(error)


def test_unknown_field_names_field_and_line(tmp_path: Path) -> None:
    error = _error(tmp_path, GOOD.replace('op = "matmul"', 'op = "matmul"\nshape = [1]'))
    assert (error.field, error.line) == ("shape", 11)


def test_bad_shape_names_field_and_line(tmp_path: Path) -> None:
    error = _error(tmp_path, GOOD.replace("b = [8, 2]", "b = [8, -2]"))
    assert (error.field, error.line) == ("b", 12)
    assert "positive integers" in error.message


def test_reduction_mismatch(tmp_path: Path) -> None:
    error = _error(tmp_path, GOOD.replace("b = [8, 2]", "b = [7, 2]"))
    assert error.field == "b" and "K=8" in error.message


def test_bad_choice_in_defaults(tmp_path: Path) -> None:
    error = _error(tmp_path, GOOD.replace('dtype = "float32"', 'dtype = "float31"'))
    assert (error.field, error.line) == ("dtype", 6)
    assert "float16" in error.message


def test_missing_required_field(tmp_path: Path) -> None:
    error = _error(tmp_path, GOOD.replace('op = "matmul"\n', ""))
    assert "missing required field 'op'" in error.message
    assert error.line == 8  # the [[scenario]] header


def test_bad_budget_value(tmp_path: Path) -> None:
    error = _error(tmp_path, GOOD + "budget = { min_samples = 2.5 }\n")
    assert (error.field, error.line) == ("budget.min_samples", 13)


def test_second_scenario_line_is_found(tmp_path: Path) -> None:
    text = GOOD + '\n[[scenario]]\nname = "S2"\nop = "matmul"\na = [3, 3]\nb = [3, "x"]\n'
    error = _error(tmp_path, text)
    assert (error.field, error.line) == ("b", 18)


def test_duplicate_names(tmp_path: Path) -> None:
    error = _error(tmp_path, GOOD + '\n[[scenario]]\nname = "S1"\nop = "matmul"\na = [3, 3]\nb = [3, 3]\n')
    assert error.field == "name" and "duplicate" in error.message and error.line == 15


def test_subject_must_be_an_engine(tmp_path: Path) -> None:
    error = _error(tmp_path, GOOD.replace('subject = "numpy"', 'subject = "tgrad"'))
    assert (error.field, error.line) == ("subject", 3)


def test_cli_exits_2_with_a_clear_message(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace("b = [8, 2]", "b = [8, 0]"))
    assert cli.main(["run", str(path), "--results", str(tmp_path)]) == 2
    assert f"error: {path}:12: field 'b'" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_cli_unknown_engine(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace('engines = ["numpy"]', 'engines = ["numpy", "nopy"]'))
    assert cli.main(["run", str(path), "--results", str(tmp_path)]) == 2
    assert "unknown engine 'nopy'" in capsys.readouterr().err
