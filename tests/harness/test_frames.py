"""harness.frames: the history as typed DataFrames, within-run ratios, change points, two runs compared."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lab_synthetic import ENGINES, synthetic_history

from harness import compare, frames, history, regress

BASELINES = Path(__file__).resolve().parents[2] / "results" / "baselines"


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return synthetic_history(3, seed=31, scenarios=("S1", "S2"))


def _declared(columns: frames.Columns) -> dict[str, str]:
    return {name: dtype for name, (dtype, _) in columns.items()}


def _dtypes(frame: pd.DataFrame) -> dict[str, str]:
    return {name: str(dtype) for name, dtype in frame.dtypes.items()}


def test_cells_has_one_typed_row_per_run_scenario_engine(records: list[dict]) -> None:
    cells = frames.cells(records)
    assert _dtypes(cells) == _declared(frames.CELL_COLUMNS)
    assert len(cells) == 3 * 2 * len(ENGINES)
    assert not cells.duplicated(["run_id", "scenario", "engine"]).any()
    assert list(cells["run_id"].unique()) == [r["run_id"] for r in records]  # oldest first
    row = cells[(cells["run_id"] == records[1]["run_id"]) & (cells["scenario"] == "S2") & (cells["engine"] == "tgrad")]
    cell = next(c for c in records[1]["cells"] if (c["scenario"], c["engine"]) == ("S2", "tgrad"))
    assert row["median_s"].item() == pytest.approx(np.median(cell["samples"]))
    assert row["p90_s"].item() == pytest.approx(np.percentile(cell["samples"], 90))
    assert row["samples"].item() == len(cell["samples"])
    assert row["gflops"].item() == pytest.approx(2 * 128**3 / np.median(cell["samples"]) / 1e9)
    assert row["agreement_ratio"].item() == pytest.approx(cell["agreement"]["oracle"]["max_ratio"])
    assert row["commit"].item() == records[1]["fingerprint"]["git"]["commit"]
    assert (row["m"].item(), row["k"].item(), row["n"].item(), row["a"].item()) == (128, 128, 128, "128x128")
    assert row["started"].item() == pd.Timestamp(records[1]["started"])
    assert set(cells.loc[cells["engine"] == "tinygrad-jit", "mode"]) == {"jit"}


def test_an_empty_selection_keeps_the_columns_and_dtypes(records: list[dict]) -> None:
    empty = frames.cells(records, engines=["no-such-engine"])
    assert empty.empty and _dtypes(empty) == _declared(frames.CELL_COLUMNS)
    assert _dtypes(frames.speedups([], "tgrad")) == _declared(frames.RATIO_COLUMNS)
    assert set(frames.describe(frames.CELL_COLUMNS)["column"]) == set(frames.CELL_COLUMNS)


def test_filters_by_machine_profile_run_scenario_and_engine(records: list[dict]) -> None:
    quick = synthetic_history(1, seed=32, scenarios=("S1",), profile="quick")[0]
    quick["run_id"] += "-quick"
    elsewhere = synthetic_history(1, seed=33, scenarios=("S1",), fingerprint={"cpu": "other", "cpu_count": 8})[0]
    elsewhere["run_id"] += "-other"
    everything = [*records, quick, elsewhere]
    machine = history.machine_id(records[0]["fingerprint"])
    assert frames.cells(everything)["run_id"].nunique() == 5
    assert set(frames.cells(everything, profile="quick")["run_id"]) == {quick["run_id"]}
    assert set(frames.cells(everything, machine=machine, profile="full")["run_id"]) == {r["run_id"] for r in records}
    one = frames.cells(everything, runs=[records[0]["run_id"]], scenarios=["S2"], engines=["tgrad", "numpy"])
    assert sorted(one["engine"]) == ["numpy", "tgrad"] and set(one["scenario"]) == {"S2"}


def test_rounds_are_pooled_into_one_row(records: list[dict]) -> None:
    record = copy.deepcopy(records[0])
    again = copy.deepcopy(next(c for c in record["cells"] if (c["scenario"], c["engine"]) == ("S1", "tgrad")))
    again["round"] = 1
    record["cells"].append(again)
    row = frames.cells([record], scenarios=["S1"], engines=["tgrad"])
    assert row["rounds"].item() == 2 and row["samples"].item() == 2 * len(again["samples"])


def test_samples_frame_holds_every_sample(records: list[dict]) -> None:
    timed = frames.samples(records)
    assert _dtypes(timed) == _declared(frames.SAMPLE_COLUMNS)
    assert len(timed) == sum(len(c["samples"]) for r in records for c in r["cells"])
    with_warmup = frames.samples(records, warmup=True)
    assert (with_warmup["kind"] == "warmup").sum() == sum(len(c["warmup"]) for r in records for c in r["cells"])
    cell = records[2]["cells"][5]
    picked = timed[(timed["run_id"] == records[2]["run_id"]) & (timed["engine"] == cell["engine"])]
    picked = picked[picked["scenario"] == cell["scenario"]]
    assert picked["seconds"].tolist() == cell["samples"]


def test_speedups_are_the_tables_numbers(records: list[dict]) -> None:
    """One source of truth: the frame's within-run ratio is the speedup the run's table shows."""
    speed = frames.speedups(records, "tgrad")
    assert _dtypes(speed) == _declared(frames.RATIO_COLUMNS)
    assert len(speed) == 3 * 2 * (len(ENGINES) - 1)
    for record in records:
        for row in compare.build_table(record).rows:
            if row.speedup is None:
                continue
            match = speed[(speed["run_id"] == record["run_id"]) & (speed["scenario"] == row.scenario)]
            match = match[match["numerator"] == row.engine]
            assert (match["ratio"].item(), match["lo"].item(), match["hi"].item()) == (
                row.speedup.point,
                row.speedup.lo,
                row.speedup.hi,
            )


def test_ratios_never_cross_runs(records: list[dict]) -> None:
    first, second = copy.deepcopy(records[0]), copy.deepcopy(records[1])
    first["cells"] = [c for c in first["cells"] if c["engine"] != "tgrad"]  # the subject only in the second
    second["cells"] = [c for c in second["cells"] if c["engine"] != "numpy"]  # numpy only in the first
    speed = frames.speedups([first, second], "tgrad", ["numpy"])
    assert speed.empty
    relative = frames.relative_times(records, "numpy", ["tgrad"])
    over_numpy = frames.speedups(records, "tgrad", ["numpy"])
    assert np.allclose(relative["ratio"].to_numpy(), 1 / over_numpy["ratio"].to_numpy())
    assert (relative["lo"] <= relative["ratio"]).all() and (relative["ratio"] <= relative["hi"]).all()


def test_change_points_are_the_ones_the_check_finds() -> None:
    records = synthetic_history(12, seed=0, slowdown=("S2", "tgrad", 7, 1.10))
    relative = frames.relative_times(records, "numpy", ["tgrad"], scenarios=["S2"])
    steps = frames.change_points(relative)
    assert _dtypes(steps) == _declared(frames.STEP_COLUMNS)
    found = steps[steps["step"] > 0.05]
    assert found["run_id"].tolist() == [records[7]["run_id"]] and found["position"].tolist() == [7]
    assert 0.05 < found["step"].item() < 0.16
    # the regression check of the newest run against run 2 names the same first bad run
    located = regress.check_records(records, baseline=records[2], options=regress.Options(resamples=200))
    change = next(c for c in located.cells if (c.scenario, c.engine) == ("S2", "tgrad"))
    assert change.first_bad is not None and change.first_bad.run_id == found["run_id"].item()
    # a speedup series is the same series upside down: the same run, a step of 1/1.1 - 1
    down = frames.change_points(frames.speedups(records, "tgrad", ["numpy"], scenarios=["S2"]))
    assert down.loc[down["step"] < -0.05, "run_id"].tolist() == [records[7]["run_id"]]


def test_compare_runs_is_the_checks_comparison(records: list[dict]) -> None:
    slow = synthetic_history(2, seed=5, slowdown=("S3", "tgrad", 1, 1.25))
    change = frames.compare_runs(slow, slow[0]["run_id"], slow[1]["run_id"])
    assert _dtypes(change) == _declared(frames.CHANGE_COLUMNS)
    expected = regress.compare_runs(slow[1], slow[0])
    assert change["state"].tolist() == [c.state for c in expected]
    flagged = change[(change["scenario"] == "S3") & (change["engine"] == "tgrad")]
    assert flagged["state"].item() == "regression" and flagged["lo"].item() > 1
    with pytest.raises(KeyError, match="no run nope"):
        frames.compare_runs(slow, "nope", slow[1]["run_id"])


def test_open_or_baselines(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    with history.History(db) as h:
        h.append(synthetic_history(1, seed=1, scenarios=("S1",))[0])
    with history.open_or_baselines(db) as h:
        assert len(h.runs()) == 1 and str(db) in h.note
    temporary = history.open_or_baselines(tmp_path / "missing.sqlite")
    try:
        assert isinstance(temporary, history.TemporaryHistory) and temporary.folder.is_dir()
        assert len(temporary.runs()) == len(list(BASELINES.glob("*.json")))
        assert "committed baselines" in temporary.note
    finally:
        temporary.close()
    assert not temporary.folder.exists()
    assert not (tmp_path / "missing.sqlite").exists()
