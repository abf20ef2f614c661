"""The runner end to end on tiny scenarios with fake engines whose timings and outputs are known."""

from __future__ import annotations

import csv
import io
import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from lab_fakes import (
    CrashingFake,
    DebugBuildFake,
    FastFake,
    MissingFake,
    NanTimeFake,
    SlowFake,
    UnsupportedFake,
    WrongFake,
    expected_samples,
    write_scenarios,
)

from harness import cli, compare, history, report, store
from harness.engines.tgrad_engine import Tgrad
from harness.stats import bootstrap_ratio_of_medians


def _run(scenarios: Path, results: Path, *extra: str) -> int:
    return cli.main(["run", str(scenarios), "--results", str(results), "--no-progress", *extra])


@pytest.fixture(scope="module")
def known_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict, Path]:
    folder = tmp_path_factory.mktemp("known")
    engines = [SlowFake, FastFake, MissingFake, UnsupportedFake]
    scenarios = write_scenarios(folder, engines, subject=FastFake)
    code = _run(scenarios, folder / "results")
    runs = sorted((folder / "results" / "runs").glob("*.json"))
    assert len(runs) == 1
    return code, store.load_run(runs[0]), folder / "results"


def test_known_samples_are_recorded_exactly(known_run: tuple[int, dict, Path]) -> None:
    code, run, _ = known_run
    assert code == 0
    ok_cells = [c for c in run["cells"] if c["status"] == "ok"]
    assert {(c["scenario"], c["engine"]) for c in ok_cells} == {
        (s, e) for s in ("T1", "T2") for e in ("slow-fake", "fast-fake")
    }
    for cell in ok_cells:
        base = 3e-3 if cell["engine"] == "slow-fake" else 1e-3
        assert cell["self_timed"] is True
        assert cell["stop_reason"] == "time"  # time_s = 0: stop as soon as min_samples are in
        assert cell["first_call_s"] == pytest.approx(base * 1.00)
        assert cell["warmup"] == pytest.approx([base * 1.02, base * 0.98])
        assert cell["samples"] == pytest.approx(expected_samples(base, warmup=2, count=6))


def test_unavailable_and_unsupported_are_shown_not_dropped(known_run: tuple[int, dict, Path]) -> None:
    _, run, results = known_run
    table = compare.build_table(run)
    by_engine = {(r.scenario, r.engine): r for r in table.rows}
    assert by_engine[("T1", "missing-fake")].status == "unavailable"
    assert "fakelib is not installed" in by_engine[("T1", "missing-fake")].reason
    assert by_engine[("T2", "unsupported-fake")].status == "unsupported"
    markdown = (results / "latest.md").read_text()
    assert "unavailable: fakelib is not installed" in markdown
    assert "unsupported: Unsupported: no linear_relu in fakelib" in markdown


def test_table_statistics_match_the_known_samples(known_run: tuple[int, dict, Path]) -> None:
    _, run, results = known_run
    table = compare.build_table(run)
    rows = {(r.scenario, r.engine): r for r in table.rows}
    slow_samples = expected_samples(3e-3, 2, 6)
    fast_samples = expected_samples(1e-3, 2, 6)
    slow = rows[("T1", "slow-fake")]
    assert slow.summary is not None
    assert slow.summary.median == pytest.approx(float(np.median(slow_samples)))
    assert slow.summary.p10 == pytest.approx(float(np.percentile(slow_samples, 10)))
    assert slow.summary.p90 == pytest.approx(float(np.percentile(slow_samples, 90)))
    assert slow.gflops == pytest.approx(2 * 8 * 16 * 4 / slow.summary.median / 1e9)
    # the subject is fast-fake: slow-fake's speedup is the ratio of medians, with a CI around it
    assert slow.speedup is not None
    assert slow.speedup.point == pytest.approx(np.median(slow_samples) / np.median(fast_samples))
    assert slow.speedup.lo <= slow.speedup.point <= slow.speedup.hi
    assert 2.7 < slow.speedup.lo and slow.speedup.hi < 3.3
    assert rows[("T1", "fast-fake")].speedup is None  # the subject is not compared with itself
    # agreement was judged against the oracle and passed
    assert all(v.ok for v in table.verdicts)
    assert slow.agreement_ok is True and slow.agreement_ratio is not None and slow.agreement_ratio <= 1
    # the markdown and CSV show the same numbers
    markdown = (results / "latest.md").read_text()
    assert report.fmt_time(slow.summary.median) in markdown
    assert report.fmt_ratio(slow.speedup) in markdown
    rows_csv = list(csv.DictReader(io.StringIO((results / "latest.csv").read_text())))
    assert len(rows_csv) == len(table.rows) == 8
    slow_csv = next(r for r in rows_csv if r["scenario"] == "T1" and r["engine"] == "slow-fake")
    assert float(slow_csv["median_s"]) == pytest.approx(slow.summary.median)
    assert float(slow_csv["speedup"]) == pytest.approx(slow.speedup.point)


def test_bootstrap_ci_is_reproducible_from_the_stored_samples(known_run: tuple[int, dict, Path]) -> None:
    _, run, _ = known_run
    first = compare.build_table(run).rows
    again = compare.build_table(json.loads(json.dumps(run))).rows
    assert [r.speedup for r in first] == [r.speedup for r in again]
    direct = bootstrap_ratio_of_medians(expected_samples(3e-3, 2, 6), expected_samples(1e-3, 2, 6), seed=0)
    assert direct.lo <= direct.point <= direct.hi


def test_a_cell_of_several_rounds_counts_each_process_once(known_run: tuple[int, dict, Path]) -> None:
    """Three rounds of slow-fake, one of them five times slower and with more calls: the cell's median is
    that of its round medians (the slow process is outvoted, not outweighed), the table shows it, and
    the footnote marks CIs from fewer than five rounds as rough."""
    _, run, _ = known_run
    run = json.loads(json.dumps(run))
    cell = next(c for c in run["cells"] if (c["scenario"], c["engine"]) == ("T1", "slow-fake"))
    fast = next(c for c in run["cells"] if (c["scenario"], c["engine"]) == ("T1", "fast-fake"))
    rounds = [cell["samples"], [5 * x for x in cell["samples"] * 4], [1.1 * x for x in cell["samples"]]]
    for index, samples in enumerate(rounds[1:], start=1):
        run["cells"].append({**cell, "round": index, "samples": samples})
        run["cells"].append({**fast, "round": index})
    table = compare.build_table(run)
    slow = next(r for r in table.rows if (r.scenario, r.engine) == ("T1", "slow-fake"))
    medians = [float(np.median(r)) for r in rounds]
    assert slow.summary is not None and slow.summary.median == pytest.approx(float(np.median(medians)))
    assert slow.summary.median < float(np.median([x for r in rounds for x in r]))  # pooled: the slow round wins
    assert slow.summary.n == sum(len(r) for r in rounds)
    assert slow.speedup is not None
    assert slow.speedup.point == pytest.approx(np.median(medians) / np.median(fast["samples"]))
    markdown = report.render_markdown(table)
    assert table.rounds == 3 and "This run has 3 round(s)" in markdown
    for index in (3, 4):
        run["cells"] += [{**cell, "round": index}, {**fast, "round": index}]
    five = compare.build_table(run)
    assert five.rounds == 5 and "round(s)" not in report.render_markdown(five)


def test_run_file_is_traceable(known_run: tuple[int, dict, Path]) -> None:
    _, run, _ = known_run
    assert run["schema_version"] == store.SCHEMA_VERSION
    assert {s["name"]: len(s["version"]) for s in run["scenarios"]} == {"T1": 16, "T2": 16}
    assert run["fingerprint"]["python"] and run["fingerprint"]["cpu"]
    assert "blas" in run["fingerprint"] and "git" in run["fingerprint"]


def test_the_run_reads_its_cells_against_the_ceilings_it_records(known_run: tuple[int, dict, Path]) -> None:
    """The results folder had no history: the run measured the machine's ceilings at its start, recorded
    them in the run file and kept them in the history for the next run (no compiler: it says why not)."""
    _, run, results = known_run
    recorded = run["ceiling"]
    rows = [r for r in compare.build_table(run).rows if r.summary is not None]
    if recorded["source"] == "none":
        assert "measuring one failed" in recorded["reason"]
        assert all(r.ceiling is not None and r.ceiling.fraction is None for r in rows)
        return
    assert recorded["source"] == "measured" and recorded["gbps_all_threads"] > 0 and recorded["gflops_one_thread"] > 0
    assert rows and all(r.ceiling is not None and r.ceiling.fraction is not None for r in rows)
    assert all(r.ceiling is not None and not r.ceiling.stated for r in rows)  # the fakes do not state threads
    # and measured them again before the one round of each scenario, each cell reading its round's
    assert [(c["scenario"], c["round"]) for c in run["round_ceilings"]] == [("T1", 0), ("T2", 0)]
    assert all(r.ceiling is not None and len(r.ceiling.per_round) == 1 for r in rows)
    with history.History(results / "history.sqlite") as h:
        kept = h.peak(history.machine_id(run["fingerprint"]))
    assert kept is not None and kept["gflops_all_threads"] == recorded["gflops_all_threads"]
    assert kept["bandwidth"]["gbps_all_threads"] == recorded["gbps_all_threads"]


def test_report_command_rebuilds_the_table(known_run: tuple[int, dict, Path], capsys: pytest.CaptureFixture) -> None:
    _, _, results = known_run
    run_file = next((results / "runs").glob("*.json"))
    assert cli.main(["report", str(run_file)]) == 0
    printed = capsys.readouterr().out
    assert printed == (results / "latest.md").read_text()


def test_agreement_failure_fails_the_run_with_the_seed(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    scenarios = write_scenarios(tmp_path, [FastFake, WrongFake], subject=FastFake)
    code = _run(scenarios, tmp_path / "results", "--only", "T1")
    assert code == 1
    err = capsys.readouterr().err
    assert "agreement FAILED in T1 (seed 7): wrong-fake" in err
    assert "--only T1 --seed 7" in err
    assert "FAIL" in (tmp_path / "results" / "latest.md").read_text()


def test_a_crashing_engine_fails_the_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    scenarios = write_scenarios(tmp_path, [FastFake, CrashingFake], subject=FastFake)
    assert _run(scenarios, tmp_path / "results", "--only", "T1") == 1
    assert "crashing-fake: error: RuntimeError: fakelib crashed" in capsys.readouterr().err


def test_two_runs_never_overwrite_each_other(tmp_path: Path) -> None:
    scenarios = write_scenarios(tmp_path, [FastFake], budget="warmup = 0\nwarmup_s = 0\nmin_samples = 5\ntime_s = 0.0")
    for _ in range(2):
        assert _run(scenarios, tmp_path / "results", "--only", "T1") == 0
    assert len(list((tmp_path / "results" / "runs").glob("*.json"))) == 2


def test_non_numpy_workers_get_one_blas_thread(known_run: tuple[int, dict, Path]) -> None:
    """numpy only loads inputs in tinygrad/tgrad workers: an OpenBLAS pool there would spin
    beside the engine being timed, so those workers start with one BLAS thread (and say so)."""
    _, run, _ = known_run
    cells = [c for c in run["cells"] if c["status"] == "ok"]
    assert cells
    for cell in cells:
        assert cell["family"] != "numpy"
        assert cell["env"]["OPENBLAS_NUM_THREADS"] == "1"


def test_a_file_that_names_its_table_leaves_the_default_table_alone(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    (results / "latest.md").write_text("the five-benchmark table\n")
    scenarios = write_scenarios(tmp_path, [FastFake], lab_extra='table = "latest-odd"')
    assert _run(scenarios, results, "--only", "T1") == 0
    assert "fast-fake" in (results / "latest-odd.md").read_text()
    assert (results / "latest-odd.csv").exists()
    assert (results / "latest.md").read_text() == "the five-benchmark table\n"
    assert _run(scenarios, results, "--only", "T1", "--quick") == 0
    assert (results / "latest-odd-quick.md").exists()


def test_rounds_alternate_engines_but_do_not_repeat_settled_outcomes(tmp_path: Path) -> None:
    scenarios = write_scenarios(tmp_path, [FastFake, SlowFake, MissingFake], subject=FastFake)
    assert _run(scenarios, tmp_path / "results", "--only", "T1", "--rounds", "3") == 0
    run = store.load_run(next((tmp_path / "results" / "runs").glob("*.json")))
    rounds = {(c["engine"], c["round"]) for c in run["cells"]}
    assert {r for e, r in rounds if e == "fast-fake"} == {0, 1, 2}
    assert {r for e, r in rounds if e == "slow-fake"} == {0, 1, 2}
    assert {r for e, r in rounds if e == "missing-fake"} == {0}  # unavailable: asked once
    # the table pools the three rounds' samples of each engine
    rows = {r.engine: r for r in compare.build_table(run).rows}
    assert rows["fast-fake"].summary is not None and rows["fast-fake"].summary.n == 3 * 6


def test_each_round_measures_its_ceilings_unless_told_not_to(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before each round of a CPU scenario the run measures the ceilings again; a probe that fails leaves
    its round to the run's ceilings; --no-round-ceilings measures none."""
    from harness import ceiling, peak

    run_level = {"source": "measured", "measured": "2026-01-01T00:00:00+00:00", "cpu": "x", "threads": 2}
    run_level |= {"gflops_one_thread": 100.0, "gflops_all_threads": 200.0, "gbps_one_thread": 20.0}
    run_level["gbps_all_threads"] = 40.0
    monkeypatch.setattr(ceiling, "measure_now", lambda: (run_level, None, None))
    asked: list[tuple[str, int]] = []

    def measure_round(scenario: str, round_index: int) -> dict:
        asked.append((scenario, round_index))
        if round_index == 1:
            raise peak.PeakError("the probe failed")
        values = {key: value / (1 + round_index) for key, value in run_level.items() if key.startswith("g")}
        return {"scenario": scenario, "round": round_index, **values}

    monkeypatch.setattr(ceiling, "measure_round", measure_round)
    scenarios = write_scenarios(tmp_path, [FastFake], subject=FastFake)
    common = ("--only", "T1", "--rounds", "3", "--no-history")
    assert _run(scenarios, tmp_path / "results", *common) == 0
    assert asked == [("T1", 0), ("T1", 1), ("T1", 2)]
    run = store.load_run(next((tmp_path / "results" / "runs").glob("*.json")))
    assert [c["round"] for c in run["round_ceilings"]] == [0, 2]
    row = next(r for r in compare.build_table(run).rows if r.engine == "fast-fake")
    assert row.ceiling is not None and len(row.ceiling.per_round) == 2
    assert _run(scenarios, tmp_path / "again", *common, "--no-round-ceilings") == 0
    assert len(asked) == 3
    assert "round_ceilings" not in store.load_run(next((tmp_path / "again" / "runs").glob("*.json")))


def test_a_debug_build_is_refused_before_anything_is_timed(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    scenarios = write_scenarios(tmp_path, [DebugBuildFake, FastFake], subject=FastFake)
    results = tmp_path / "results"
    assert _run(scenarios, results, "--only", "T1") == 2
    err = capsys.readouterr().err
    assert "refused: debugbuild-fake: the library (0.1.0) is a debug build" in err and "make setup" in err
    assert list(results.rglob("*.json")) == []
    assert not (results / "latest.md").exists() and not (results / "history.sqlite").exists()


def test_the_tgrad_engine_refuses_a_debug_build_of_its_module(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real tgrad engine class over a fake `tgrad` module whose build_info says debug (a debug
    build of the real module takes minutes to build)."""
    fake = types.ModuleType("fake_debug_tgrad")
    for name in ("Tensor", "Device", "TinyJit", "dtypes"):
        setattr(fake, name, object())
    fake.build_info = lambda: {"version": "0.1.0", "profile": "debug"}  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_debug_tgrad", fake)
    monkeypatch.setattr(Tgrad, "module_name", "fake_debug_tgrad")
    engine = Tgrad()
    info = engine.load()
    assert info["build_info"]["profile"] == "debug"
    assert "is a debug build" in (engine.refusal(info) or "")
    fake.build_info = lambda: {"version": "0.1.0", "profile": "release"}  # type: ignore[attr-defined]
    assert engine.refusal(engine.load()) is None


def test_a_time_that_is_not_a_positive_number_makes_the_cell_an_error(tmp_path: Path, capsys) -> None:
    scenarios = write_scenarios(tmp_path, [FastFake, NanTimeFake], subject=FastFake)
    assert _run(scenarios, tmp_path / "results", "--only", "T1") == 1
    assert "nantime-fake: error: the engine reported 1 time(s) that are not positive finite seconds" in (
        capsys.readouterr().err
    )
    run = store.load_run(next((tmp_path / "results" / "runs").glob("*.json")))  # the run file is valid
    cell = next(c for c in run["cells"] if c["engine"] == "nantime-fake")
    assert cell["status"] == "error" and "samples" not in cell
