"""The "of ceiling" column of the lab's tables (harness/ceiling.py, compare, report): each cell against the
machine's FP32 peak or its bandwidth, for the threads it runs on, and where a run's ceilings come from."""

from __future__ import annotations

import copy
import csv
import io
import json
from pathlib import Path
from typing import Any, cast

import pytest
from lab_synthetic import old_peak_row, synthetic_history

from harness import ceiling, compare, history, peak, report
from harness.record import CeilingRecord, SchemaError, validate_run

CEILING: CeilingRecord = {
    "source": "history",
    "measured": "2026-01-01T00:00:00+00:00",
    "cpu": "Synthetic Zen 3 (2 cores)",
    "threads": 2,
    "gflops_one_thread": 100.0,
    "gflops_all_threads": 200.0,
    "gbps_one_thread": 20.0,
    "gbps_all_threads": 40.0,
}
GEMM_MEDIAN, GEMV_MEDIAN = 1e-3, 4e-3  # seconds per call of every cell below
GEMV_BYTES = 4 * (4096 + 4096 * 4096 + 4096)  # float32 a (1x4096), b (4096x4096) and the output, once each


def _run(ceiling_record: CeilingRecord | None = CEILING) -> dict[str, Any]:
    """S2 (a 128^3 GEMM) and V (a 1x4096x4096 matrix-vector product) by tgrad (all threads), tgrad-1t (one)
    and mystery (threads not stated), every cell's samples centred on a known median."""
    record = synthetic_history(1, scenarios=("S2",), engines=("tgrad", "tgrad-1t", "numpy"))[0]
    record["lab"]["engines"] = ["tgrad", "tgrad-1t", "mystery"]
    record["lab"]["threads"] = {"tgrad": "all", "tgrad-1t": "one"}
    gemv = {**record["scenarios"][0], "name": "V", "title": "gemv", "a": [1, 4096], "b": [4096, 4096]}
    record["scenarios"].append({**gemv, "version": "v1-V", "flops": 2 * 4096 * 4096})
    template = record["cells"][0]
    cells = []
    for name, median in (("S2", GEMM_MEDIAN), ("V", GEMV_MEDIAN)):
        for engine in record["lab"]["engines"]:
            samples = [median * 0.9, median, median * 1.1]
            cells.append({**copy.deepcopy(template), "scenario": name, "engine": engine, "samples": samples})
    record["cells"] = cells
    if ceiling_record is not None:
        record["ceiling"] = ceiling_record
    return dict(validate_run(record, "synthetic"))


def _rows(run: dict[str, Any]) -> dict[tuple[str, str], compare.Row]:
    return {(row.scenario, row.engine): row for row in compare.build_table(validate_run(run, "run")).rows}


def test_a_gemm_cell_is_read_against_the_fp32_peak_of_its_threads() -> None:
    rows = _rows(_run())
    gflops = 2 * 128**3 / GEMM_MEDIAN / 1e9
    every, single = rows[("S2", "tgrad")].ceiling, rows[("S2", "tgrad-1t")].ceiling
    assert every is not None and single is not None
    assert (every.kind, every.threads, every.stated) == ("peak", "all", True)
    assert every.fraction == pytest.approx(gflops / 200.0)
    assert (single.kind, single.threads) == ("peak", "one")
    assert single.fraction == pytest.approx(gflops / 100.0)


def test_a_cell_above_the_measured_peak_says_the_peak_is_wrong() -> None:
    """A peak probe whose FMAs the compiler split into halves measured half the peak, and cells read "139% peak"
    without comment; such a cell now says the probe is wrong. A memory-bound cell above the streaming bandwidth
    (the 64 MB gemv on a VM with a 480 MiB L3 read "196% bw") says so."""
    low = cast(CeilingRecord, {**CEILING, "gflops_all_threads": 2 * 128**3 / GEMM_MEDIAN / 1e9 / 1.39})
    rows = _rows(_run(low))
    assert report.fmt_ceiling(rows[("S2", "tgrad")]) == "139% peak (above the measured peak: the peak probe is wrong)"
    assert report.fmt_ceiling(rows[("S2", "tgrad-1t")]).endswith("% peak 1t")
    fast_memory = cast(CeilingRecord, {**CEILING, "gbps_all_threads": GEMV_BYTES / GEMV_MEDIAN / 1e9 / 1.5})
    assert (
        report.fmt_ceiling(_rows(_run(fast_memory))[("V", "tgrad")])
        == "150% bw (above the measured streaming bandwidth)"
    )
    assert report.fmt_ceiling(_rows(_run())[("V", "tgrad")]).endswith("% bw")


def test_a_gemv_cell_is_read_against_the_bandwidth() -> None:
    rows = _rows(_run())
    gbps = GEMV_BYTES / GEMV_MEDIAN / 1e9
    every, single = rows[("V", "tgrad")].ceiling, rows[("V", "tgrad-1t")].ceiling
    assert every is not None and single is not None
    assert (every.kind, every.threads) == ("bandwidth", "all") and every.achieved == pytest.approx(gbps)
    assert every.fraction == pytest.approx(gbps / 40.0)
    assert (single.kind, single.threads) == ("bandwidth", "one")
    assert single.fraction == pytest.approx(gbps / 20.0)


def test_the_table_shows_the_fractions_and_where_the_ceilings_came_from() -> None:
    run = _run()
    table = compare.build_table(validate_run(run, "run"))
    assert table.unstated_threads == ("mystery",)
    mystery = _rows(run)[("S2", "mystery")].ceiling
    assert mystery is not None and (mystery.threads, mystery.stated) == ("all", False)
    markdown = report.render_markdown(table)
    gemm = 100 * 2 * 128**3 / GEMM_MEDIAN / 1e9 / 100.0
    gemv = 100 * GEMV_BYTES / GEMV_MEDIAN / 1e9 / 40.0
    assert f"| {gemm:.3g}% peak 1t |" in markdown and f"| {gemv:.3g}% bw |" in markdown
    assert "the history's latest peak for this machine, measured 2026-01-01T00:00" in markdown
    assert "mystery: threads not stated, read against all threads." in markdown
    rows = list(csv.DictReader(io.StringIO(report.render_csv(table))))
    gemv_row = next(r for r in rows if r["scenario"] == "V" and r["engine"] == "tgrad")
    assert gemv_row["ceiling_kind"] == "bandwidth" and gemv_row["ceiling_threads"] == "all"
    assert float(gemv_row["ceiling_fraction"]) == pytest.approx(gemv / 100)
    assert float(gemv_row["ceiling_value"]) == 40.0
    # the ceiling is part of the record: the table renders the same from the stored JSON
    stored = json.loads(json.dumps(run))
    assert report.render_markdown(compare.build_table(validate_run(stored, "stored"))) == markdown


@pytest.mark.parametrize("known", [None, {"source": "none", "reason": "measuring one failed: no compiler"}])
def test_a_cell_without_a_ceiling_says_so(known: CeilingRecord | None) -> None:
    run = _run(known)
    rows = _rows(run)
    if known is None:  # a run from before the ceilings: nothing to read
        assert all(row.ceiling is None for row in rows.values())
    else:  # the cells are classified, but their share of an unknown ceiling is unknown
        assert all(row.ceiling is not None and row.ceiling.fraction is None for row in rows.values())
        gemv = rows[("V", "tgrad")].ceiling
        assert gemv is not None and gemv.kind == "bandwidth"
    table = compare.build_table(validate_run(run, "run"))
    lines = [line for line in report.render_markdown(table).splitlines() if line.startswith("| S2 ")]
    assert lines and all(line.split(" | ")[5] == "—" for line in lines), lines
    legend = report.ceiling_lines(table)
    assert len(legend) == 1 and "run `make peak`" in legend[0]
    assert (known or {}).get("reason", "this run recorded no ceilings") in legend[0]
    assert all(r["ceiling_fraction"] == "" for r in csv.DictReader(io.StringIO(report.render_csv(table))))


def test_without_a_bandwidth_a_gemv_cell_says_so_and_a_gemm_cell_still_has_its_peak() -> None:
    old = cast(CeilingRecord, {key: value for key, value in CEILING.items() if not key.startswith("gbps")})
    rows = _rows(_run(old))
    gemv, gemm = rows[("V", "tgrad")].ceiling, rows[("S2", "tgrad")].ceiling
    assert gemv is not None and gemv.kind == "bandwidth" and gemv.fraction is None
    assert gemm is not None and gemm.kind == "peak" and gemm.fraction == pytest.approx(2 * 128**3 / 1e-3 / 1e9 / 200)


def test_a_cell_below_the_machine_balance_is_memory_bound() -> None:
    # a 64x64x64 GEMM: 2*64^3 flops over 3 * 64^2 * 4 bytes, 10.7 flops per byte
    scenario: Any = {"name": "S", "version": "v", "flops": 2 * 64**3, "a": [64, 64], "b": [64, 64], "dtype": "float32"}
    assert ceiling.moved_bytes(scenario) == 3 * 64 * 64 * 4
    balanced = {**CEILING, "gbps_all_threads": 10.0}  # balance 20 flops per byte: memory-bound
    low = ceiling.read_cell(scenario, "all", 1e-5, cast(CeilingRecord, balanced))
    high = ceiling.read_cell(scenario, "all", 1e-5, CEILING)  # balance 5: compute-bound
    assert low is not None and low.kind == "bandwidth" and high is not None and high.kind == "peak"
    assert ceiling.read_cell({**scenario, "device": "CUDA"}, "all", 1e-5, CEILING) is None


# ---------------------------------------------------------------------- ceilings measured before each round
SPELLS = (1.0, 1.6, 1.0, 2.2, 1.1)  # how much slower the host is in each round, cells and probes alike


def _run_with_rounds(probe_spells: tuple[float, ...] = SPELLS, missing: tuple[int, ...] = ()) -> dict[str, Any]:
    """`_run`'s cells over five rounds in which the host slows by SPELLS: every cell's calls take that much
    longer, and the probe measured before the round (unless `missing`) reads `probe_spells` that much lower."""
    run = _run()
    template = {key: value for key, value in CEILING.items() if key.startswith(("gflops", "gbps"))}
    cells, rounds = [], []
    for name, median in (("S2", GEMM_MEDIAN), ("V", GEMV_MEDIAN)):
        for index, (spell, probe) in enumerate(zip(SPELLS, probe_spells, strict=True)):
            for engine in run["lab"]["engines"]:
                samples = [median * spell * f for f in (0.9, 1.0, 1.1)]
                cell = next(c for c in run["cells"] if c["engine"] == engine)
                cells.append({**copy.deepcopy(cell), "scenario": name, "round": index, "samples": samples})
            if index not in missing:
                measured = {key: value / probe for key, value in template.items()}
                rounds.append({"scenario": name, "round": index, **measured})
    return dict(validate_run({**run, "cells": cells, "round_ceilings": rounds}, "synthetic"))


def test_each_round_is_read_against_the_ceilings_measured_before_it() -> None:
    """The host's slow spells move a cell and the probe measured just before its round together: read round by
    round, every round says the same share (a tight interval); read against one ceiling for the run, the
    median round's time against the run's probe says something else (the median spell is 1.1, not 1)."""
    rows = _rows(_run_with_rounds())
    gemm, gemv = rows[("S2", "tgrad")].ceiling, rows[("V", "tgrad-1t")].ceiling
    assert gemm is not None and gemv is not None
    share = 2 * 128**3 / GEMM_MEDIAN / 1e9 / 200.0
    assert len(gemm.per_round) == 5 and gemm.fraction == pytest.approx(share)
    assert gemm.interval == pytest.approx((share, share))
    assert gemm.achieved / (gemm.ceiling or 0) == pytest.approx(share / 1.1)  # what one ceiling would say
    assert gemv.kind == "bandwidth" and gemv.threads == "one"
    assert gemv.fraction == pytest.approx(GEMV_BYTES / GEMV_MEDIAN / 1e9 / 20.0)


def test_probes_that_miss_the_spells_widen_the_interval_and_missing_rounds_are_left_out() -> None:
    steady = _rows(_run_with_rounds(probe_spells=(1.0,) * 5))[("S2", "tgrad")].ceiling
    assert steady is not None and steady.interval is not None
    low, high = steady.interval
    assert high / low > 1.5  # the spells are now noise between the cell and its ceiling
    partial = _rows(_run_with_rounds(missing=(1, 3)))[("S2", "tgrad")].ceiling
    assert partial is not None and len(partial.per_round) == 3  # rounds whose probe failed are not guessed


def test_the_table_shows_the_round_interval_and_says_how_it_was_read() -> None:
    run = _run_with_rounds(probe_spells=(1.0, 1.5, 1.0, 2.0, 1.2))
    table = compare.build_table(validate_run(run, "run"))
    row = next(r for r in table.rows if (r.scenario, r.engine) == ("S2", "tgrad"))
    assert row.ceiling is not None and row.ceiling.interval is not None
    low, high = row.ceiling.interval
    text = report.fmt_ceiling(row)
    assert text == f"{100 * (row.ceiling.fraction or 0):.3g}% peak [{100 * low:.3g}–{100 * high:.3g}]"
    markdown = report.render_markdown(table)
    assert f"| {text} |" in markdown and "Per round: the FP32 peak and bandwidth were measured again" in markdown
    assert "Per round:" not in report.render_markdown(compare.build_table(validate_run(_run(), "run")))
    line = next(r for r in csv.DictReader(io.StringIO(report.render_csv(table))) if r["scenario"] == "S2")
    assert float(line["ceiling_lo"]) == pytest.approx(low) and line["ceiling_rounds"] == "5"
    stored = json.loads(json.dumps(run))
    assert report.render_markdown(compare.build_table(validate_run(stored, "stored"))) == markdown


def test_a_round_ceiling_that_is_not_positive_is_refused() -> None:
    run = _run_with_rounds()
    run["round_ceilings"][0]["gbps_all_threads"] = 0.0
    with pytest.raises(SchemaError, match="gbps_all_threads"):
        validate_run(run, "run")


# ---------------------------------------------------------------------- first calls over rounds
def test_the_first_call_is_the_median_over_rounds_with_their_range() -> None:
    """Every round's process starts with an empty kernel cache: the first round's 87 ms after the probes is one
    reading among five, not the cell's first call. A cell that searched keeps its first round's (the search)."""
    run = _run_with_rounds()
    first_calls = (0.087, 0.039, 0.041, 0.038, 0.040)
    for cell in run["cells"]:
        cell["first_call_s"] = first_calls[cell["round"]]
        if cell["engine"] == "tgrad-1t":
            cell["search_s"] = cell["first_call_s"]
    table = compare.build_table(validate_run(run, "run"))
    rows = {(r.scenario, r.engine): r for r in table.rows}
    row = rows[("S2", "tgrad")]
    assert row.first_call_s == pytest.approx(0.040) and row.first_call_range == pytest.approx((0.038, 0.087))
    assert report.fmt_first_call(row) == "40 ms [38–87 ms]"
    assert report.fmt_range(308e-6, 5.73e-3) == "308–5730 µs" and report.fmt_time(1470.0) == "1470 s"
    searched = rows[("S2", "tgrad-1t")]
    assert searched.first_call_s == pytest.approx(0.087) and searched.first_call_range is None
    line = next(r for r in csv.DictReader(io.StringIO(report.render_csv(table))) if r["scenario"] == "S2")
    assert float(line["first_call_s"]) == pytest.approx(0.040) and float(line["first_call_hi"]) == pytest.approx(0.087)
    one_round = compare.build_table(validate_run({**run, "cells": [c for c in run["cells"] if c["round"] == 0]}, "r"))
    only = next(r for r in one_round.rows if (r.scenario, r.engine) == ("S2", "tgrad"))
    assert only.first_call_s == pytest.approx(0.087) and only.first_call_range is None


# ---------------------------------------------------------------------- where a run's ceilings come from
def test_a_peak_of_an_old_history_is_a_ceiling_without_bandwidth(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    old_peak_row(path, "m1")
    with history.History(path) as h:
        found = h.peak("m1")
    assert found is not None
    record = ceiling.from_history(found)
    assert record["source"] == "history" and record["gflops_one_thread"] == 117.0 and "gbps_all_threads" not in record
    validate_run({**_run(), "ceiling": record}, "run")


def _measured(calls: list[int]) -> Any:
    def measure_now() -> tuple[CeilingRecord, dict[str, Any], dict[str, Any]]:
        calls.append(1)
        flops = {"cpu": "x", "compiler": "cc", "width": 8, "threads": 2, "gflops_one_thread": 50.0}
        flops["gflops_all_threads"] = 90.0
        moved = {"threads": 2, "gbps_one_thread": 9.0, "gbps_all_threads": 12.0}
        return {**CEILING, "source": "measured", "gbps_all_threads": 12.0}, flops, moved

    return measure_now


def test_a_run_measures_the_ceilings_the_history_lacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, calls, said = tmp_path / "history.sqlite", [], []
    monkeypatch.setattr(ceiling, "measure_now", _measured(calls))
    old_peak_row(path, "m1")
    first = ceiling.for_run("m1", path, say=said.append)  # the old row has no bandwidth
    assert first.record["source"] == "measured" and first.measured is not None and calls == [1]
    assert "no bandwidth" in said[0]
    with history.History(path) as h:  # what `harness run` does with the run (cli._record)
        h.record_peak("m1", *first.measured)
    again = ceiling.for_run("m1", path, say=said.append)
    assert again.record["source"] == "history" and again.measured is None and calls == [1]
    assert again.record.get("gbps_all_threads") == 12.0
    missing = tmp_path / "none.sqlite"
    assert ceiling.for_run("m1", missing, say=said.append).record["source"] == "measured"
    assert not missing.exists() and calls == [1, 1]  # a history that is not there is not created


def test_a_run_whose_measurement_fails_has_no_ceiling(monkeypatch: pytest.MonkeyPatch) -> None:
    def fails() -> None:
        raise peak.PeakError("no C compiler found")

    monkeypatch.setattr(ceiling, "measure_now", fails)
    found = ceiling.for_run("m1", None, say=lambda _: None)
    assert found.measured is None and found.record["source"] == "none"
    assert found.record.get("reason", "").endswith("measuring one failed: no C compiler found")
