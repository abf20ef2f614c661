"""Regression alerts on synthetic histories with the noise of these machines (lab_synthetic.py), and
end to end: two real `harness run`s with fake engines, then `harness check`."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
from lab_fakes import FAKES, FastFake, spec, write_scenarios
from lab_synthetic import commit_of, synthetic_history

from harness import cli, history, regress

FAST = regress.Options(resamples=200)
SEED_STEP = 0  # one seeded history; over 40 seeds, 23 are flagged at the step, 19 later, 39 stay quiet after
TRIALS = 200
FALSE_ALARM_BOUND = 0.05  # alpha is 5% family-wise (Holm over the cells)


def test_rules_are_parsed_data() -> None:
    assert regress.parse_rule("median:5%") == regress.Rule("*", "median", 0.05)
    assert regress.parse_rule("B3=mean:12.5%") == regress.Rule("B3", "mean", 0.125)
    rules = (regress.parse_rule("median:5%"), regress.parse_rule("B*=median:10%"))
    assert regress.rule_for(rules, "B1").threshold == 0.10 and regress.rule_for(rules, "S1").threshold == 0.05
    for bad in ("median", "p99:5%", "median:5", "median:x%", "median:0%"):
        with pytest.raises(regress.RuleError):
            regress.parse_rule(bad)


def test_mann_whitney_u() -> None:
    assert regress.mann_whitney_u([1, 2, 3], [4, 5, 6]) == pytest.approx(0.1)  # exact: 2 of 20 orderings
    assert regress.mann_whitney_u([1, 4, 2, 5], [3, 6, 0, 7]) > 0.5
    rng = np.random.default_rng(0)
    shifted = regress.mann_whitney_u(rng.normal(0, 1, 60), rng.normal(1, 1, 60))  # normal approximation
    assert shifted < 1e-4
    assert regress.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def test_change_points_find_a_step() -> None:
    rng = np.random.default_rng(1)
    series = np.exp(rng.normal(0, 0.015, 16)) * np.where(np.arange(16) >= 9, 1.10, 1.0)
    found = regress.change_points(series, seed=0)
    assert [cp.index for cp in found if cp.step > 0.05] == [9]
    assert not [cp for cp in regress.change_points(np.exp(rng.normal(0, 0.015, 16))) if abs(cp.step) > 0.05]


def test_pure_noise_false_alarm_rate() -> None:
    """Measured: 5/200 trials (2.5%) alert (12 compared cells per trial, 15-30% drift between runs)."""
    alarms = 0
    for trial in range(TRIALS):
        records = synthetic_history(2, seed=10_000 + trial)
        alarms += regress.check_records(records, options=FAST).alerting
    rate = alarms / TRIALS
    print(f"false-alarm rate on pure noise: {alarms}/{TRIALS} = {rate:.1%} (bound {FALSE_ALARM_BOUND:.0%})")
    assert rate <= FALSE_ALARM_BOUND


def test_absolute_times_would_false_alarm() -> None:
    """Why ratios: the same noise compared on absolute times alerts most of the time."""
    absolute = regress.Options(resamples=200, relative_to=None)
    alarms = sum(
        regress.check_records(synthetic_history(2, seed=20_000 + t), options=absolute).alerting for t in range(20)
    )
    assert alarms >= 10


def _state(result: regress.CheckResult, scenario: str, engine: str) -> regress.CellChange:
    return next(c for c in result.cells if (c.scenario, c.engine) == (scenario, engine))


def test_injected_slowdown_is_flagged_with_the_right_commit() -> None:
    records = synthetic_history(12, seed=SEED_STEP, slowdown=("S2", "tgrad", 7, 1.10))
    # checked when it happened: run 7 against run 6
    at_step = regress.check_records(records[:8], options=FAST)
    assert [(a.kind, a.scenario, a.engine) for a in at_step.alerts] == [("regression", "S2", "tgrad")]
    flagged = _state(at_step, "S2", "tgrad")
    assert flagged.first_bad is not None and flagged.first_bad.commit == commit_of(7)
    assert 1.05 < flagged.change.point < 1.16 and flagged.change.lo > 1
    # checked later against an older baseline: the change-point search names run 7
    later = regress.check_records(records, baseline=records[2], options=FAST)
    assert [(a.kind, a.scenario, a.engine) for a in later.alerts] == [("regression", "S2", "tgrad")]
    located = _state(later, "S2", "tgrad")
    assert located.first_bad is not None and located.first_bad.commit == commit_of(7)
    assert "change point" in located.located_by
    # and the runs after it, each against the previous one, are quiet
    for end in range(9, 13):
        assert not regress.check_records(records[:end], options=FAST).alerting


def test_improvements_are_not_regressions() -> None:
    records = synthetic_history(2, seed=5, slowdown=("S3", "tgrad", 1, 0.85))
    result = regress.check_records(records, options=FAST)
    assert not result.alerting
    assert _state(result, "S3", "tgrad").state == "improvement"
    assert not result.in_state("regression")


def test_failed_fixed_incomparable_and_agreement() -> None:
    before, after = synthetic_history(2, seed=6, scenarios=("S1", "S2"))
    for cell in after["cells"]:
        if (cell["scenario"], cell["engine"]) == ("S1", "tgrad"):
            cell.update(status="error", reason="RuntimeError: boom", samples=[])
        if (cell["scenario"], cell["engine"]) == ("S1", "tinygrad-jit"):
            cell["agreement"]["oracle"].update(ok=False, max_ratio=3.5)
    for cell in before["cells"]:
        if (cell["scenario"], cell["engine"]) == ("S1", "tgrad-1t"):
            cell.update(status="timeout", reason="steady did not finish", samples=[])
    after["scenarios"][1]["version"] = "v2-S2"
    result = regress.check_records([before, after], options=FAST)
    assert _state(result, "S1", "tgrad").state == "failed"
    assert _state(result, "S1", "tgrad-1t").state == "fixed"
    assert _state(result, "S1", "numpy").state == "reference"
    assert {c.state for c in result.cells if c.scenario == "S2"} == {"incomparable"}
    kinds = sorted((a.kind, a.engine) for a in result.alerts)
    assert kinds == [("agreement", "tinygrad-jit"), ("failed", "tgrad")]
    lines = regress.render_lines(result)
    assert any(line.startswith("FAILED: S1 tgrad: error: RuntimeError: boom") for line in lines)
    assert any(line.startswith("AGREEMENT: S1 tinygrad-jit: max error is 3.5x the bound") for line in lines)


def test_check_command_exits_nonzero_and_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    db, report = tmp_path / "h.sqlite", tmp_path / "check.json"
    records = synthetic_history(8, seed=SEED_STEP, slowdown=("S2", "tgrad", 7, 1.10))
    other_machine = synthetic_history(1, seed=1, fingerprint={"cpu": "elsewhere", "cpu_count": 64})[0]
    other_machine["run_id"] += "-other"
    with history.History(db) as h:
        for record in [*records[:7], other_machine, records[7]]:
            h.append(record)
    args = ["check", "--history", str(db), "--output", str(report)]
    assert cli.main(args) == 1
    out = capsys.readouterr().out
    assert "REGRESSION: S2 tgrad: +" in out and commit_of(7)[:10] in out
    data = json.loads(report.read_text())
    assert data["kind"] == "tgrad-lab-check" and data["alerting"] is True
    assert data["baseline"]["run_id"] == records[6]["run_id"]  # the other machine's run is skipped
    assert [a["engine"] for a in data["alerts"]] == ["tgrad"]
    assert not list(tmp_path.glob(".tmp-*"))
    assert cli.main([*args, "--run", records[6]["run_id"]]) == 0
    assert cli.main([*args, "--baseline", other_machine["run_id"]]) == 2
    assert "another machine" in capsys.readouterr().err
    assert cli.main([*args, "--rule", "median"]) == 2


ENV_FAKE = """
import os, sys
sys.path.insert(0, {folder!r})
from lab_fakes import KnownEngine

class EnvFake(KnownEngine):
    name = "env-fake"
    def prepare(self, inputs, device):
        step = super().prepare(inputs, device)
        step.base = 2e-3 * float(os.environ.get("LAB_FAKE_SLOWDOWN", "1"))
        return step
"""


def test_two_real_runs_then_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    fake_file = tmp_path / "env_fake.py"
    fake_file.write_text(textwrap.dedent(ENV_FAKE.format(folder=str(Path(FAKES).parent))))
    scenarios = write_scenarios(
        tmp_path,
        [FastFake],
        subject=FastFake,
        budget="warmup = 1\nwarmup_s = 0\nmin_samples = 21\nmax_samples = 21\ntime_s = 0.0",
    )
    text = scenarios.read_text().replace(f'"{spec(FastFake)}"]', f'"{spec(FastFake)}", "{fake_file}:EnvFake"]')
    scenarios.write_text(text)
    results, report = tmp_path / "results", tmp_path / "check.json"
    monkeypatch.delenv(history.ENV_VAR, raising=False)
    run = ["run", str(scenarios), "--results", str(results), "--no-progress", "--only", "T1"]
    check = [
        "check",
        "--history",
        str(results / "history.sqlite"),
        "--relative-to",
        "fast-fake",
        "--output",
        str(report),
    ]
    assert cli.main(run) == 0
    assert cli.main(check) == 0  # nothing to compare with yet
    assert "nothing to compare with" in capsys.readouterr().out
    monkeypatch.setenv("LAB_FAKE_SLOWDOWN", "1.10")
    assert cli.main(run) == 0
    status = cli.main(check)
    out = capsys.readouterr().out
    assert status == 1, out
    assert "REGRESSION: T1 env-fake: +10.0%" in out
    data = json.loads(report.read_text())
    assert data["counts"]["regression"] == 1 and data["counts"]["reference"] == 1
    with history.History(results / "history.sqlite") as h:
        assert len(h.runs()) == 2


def _with_versions(records: list[dict]) -> list[dict]:
    """Give every cell its library's version, as real run files have (pinned tinygrad, numpy, tgrad)."""
    versions = {"tinygrad": "0.14.0", "tgrad": "0.1.0", "numpy": "2.4.6"}
    for record in records:
        for cell in record["cells"]:
            cell["info"] = {"version": versions[cell["family"]]}
    return records


def test_pinned_engines_calibrate_the_run_to_run_noise():
    # Measured here: two consecutive full `make bench` runs moved unchanged, pinned tinygrad cells by up to
    # 40% relative to numpy. Ratio jitter of that size must not read as regressions of any engine...
    noisy = [_with_versions(synthetic_history(2, seed=30_000 + t, jitter=0.25)) for t in range(20)]
    calibrated = sum(regress.check_records(r).alerting for r in noisy)
    assert calibrated <= 2, f"{calibrated} of 20 pure-noise checks alerted with the controls' noise calibration"
    # ... which they would without the controls (no versions: nothing is known to be unchanged)
    for r in noisy:
        for record in r:
            for cell in record["cells"]:
                cell.pop("info")
    uncalibrated = sum(regress.check_records(r).alerting for r in noisy)
    assert uncalibrated >= 10, f"only {uncalibrated} of 20 alerted without calibration: the test lost its point"


def test_calibration_keeps_a_real_slowdown_visible_on_a_quiet_machine():
    records = _with_versions(synthetic_history(2, seed=SEED_STEP, slowdown=("S2", "tgrad", 1, 1.25)))
    result = regress.check_records(records)
    flagged = {(a.scenario, a.engine) for a in result.alerts if a.kind == "regression"}
    assert ("S2", "tgrad") in flagged


def _in_rounds(record: dict, factors: dict[str, list[float]], rng: np.random.Generator) -> dict:
    """The record's cells split into rounds (one process each, as `harness run --rounds` writes them):
    round k of an engine runs at its time x factors[engine][k], with 2% spread within the round."""
    cells = []
    for cell in record["cells"]:
        median = float(np.median(cell["samples"]))
        for k, factor in enumerate(factors[cell["engine"]]):
            samples = median * factor * np.exp(rng.normal(0, 0.02, 60))
            cells.append({**cell, "round": k, "samples": [float(s) for s in samples]})
    record["cells"] = cells
    return record


def test_the_bootstrap_resamples_rounds_not_a_pool_of_samples():
    """A cell whose rounds scatter by +-25% around the reference has only five independent values per run,
    however many samples each round holds: a 12% move of its median round ratio is within that scatter
    and stays unchanged. Pooling the samples (the check before it resampled rounds) reads the 60 samples
    per round as independent and flags the same move."""
    rng = np.random.default_rng(7)
    base, new = synthetic_history(2, seed=8, scenarios=("S2",), engines=("tgrad", "numpy"), drift=0.0, jitter=0.0)
    scatter = [1.0, 1.25, 0.8, 1.15, 0.88]
    _in_rounds(base, {"tgrad": scatter, "numpy": [1.0] * 5}, rng)
    _in_rounds(new, {"tgrad": [f * 1.12 for f in scatter[2:] + scatter[:2]], "numpy": [1.0] * 5}, rng)
    result = regress.check_records([base, new], options=FAST)
    cell = _state(result, "S2", "tgrad")
    assert cell.change is not None and cell.change.point == pytest.approx(1.12, rel=0.03)
    assert cell.change.lo < 1 < cell.change.hi, "the CI of the change must span the round-to-round scatter"
    assert cell.state == "unchanged" and not result.alerting
    assert cell.n_new == cell.n_base == 300

    # every round 1.6x slower: a step well outside the scatter is still flagged (1.4x is not, with 5 rounds)
    moved = _in_rounds(
        synthetic_history(2, seed=8, scenarios=("S2",), engines=("tgrad", "numpy"), drift=0.0, jitter=0.0)[1],
        {"tgrad": [f * 1.6 for f in scatter], "numpy": [1.0] * 5},
        rng,
    )
    flagged = regress.check_records([base, moved], options=FAST)
    assert _state(flagged, "S2", "tgrad").state == "regression"
