"""Input from outside the lab (run files, histories, scenario files, options) is validated: anything
malformed ends in exit status 2 and one message naming the file, the field and the problem, never a
traceback. The run record's schema is harness/record.py; scenario files are checked by harness/scenario.py."""

from __future__ import annotations

import copy
import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lab_fakes import FastFake, write_scenarios
from lab_synthetic import synthetic_history

from harness import cli, history, record

BASELINES = Path(__file__).resolve().parents[2] / "results" / "baselines"


def _set(path: str, value: Any) -> Callable[[dict], None]:
    """A mutation that sets the field at a dotted path with [i] indices, e.g. cells[0].samples[2]."""

    def mutate(run: dict) -> None:
        keys = [int(k) if k.isdigit() else k for k in path.replace("[", ".").replace("]", "").split(".")]
        target = run
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return mutate


def _delete(key: str) -> Callable[[dict], None]:
    return lambda run: run.pop(key)


def _duplicate_scenario(run: dict) -> None:
    run["scenarios"].append(copy.deepcopy(run["scenarios"][0]))


RUN_FILE_CASES = {
    "NaN sample": (_set("cells[0].samples[2]", float("nan")), "cells[0].samples[2]", "NaN"),
    "infinite sample": (_set("cells[1].samples[0]", float("inf")), "cells[1].samples[0]", "must be finite"),
    "negative sample": (_set("cells[2].samples[1]", -1e-3), "cells[2].samples[1]", "must be above 0"),
    "zero warm-up is fine, negative not": (_set("cells[0].warmup[0]", -1.0), "cells[0].warmup[0]", "at least 0"),
    "huge shape": (_set("scenarios[0].a", [2**40, 64]), "scenarios[0].a[0]", "at most 2147483648"),
    "text for an integer": (_set("cells[0].round", "0"), "cells[0].round", "must be an integer"),
    "bool for an integer": (_set("cells[0].round", True), "cells[0].round", "must be an integer"),
    "NaN agreement": (
        _set("cells[0].agreement.oracle.max_ratio", float("nan")),
        "cells[0].agreement.oracle.max_ratio",
        "NaN",
    ),
    "unknown status": (_set("cells[3].status", "fine"), "cells[3].status", "must be one of 'ok'"),
    "unknown field": (_set("cells[1].colour", "red"), "cells[1].colour", "unknown field"),
    "missing cells": (_delete("cells"), "cells", "required, but missing"),
    "cell of no scenario": (_set("cells[0].scenario", "S9"), "cells[0].scenario", "is not one of the scenarios"),
    "duplicate scenario": (_duplicate_scenario, "scenarios[2].name", "duplicate scenario name"),
    "start time not a time": (_set("started", "yesterday"), "started", "ISO 8601"),
    "run id with a path": (_set("run_id", "../../etc/passwd"), "run_id", "a name of letters"),
    "another kind": (_set("kind", "something-else"), "kind", "not a lab run record"),
    "a newer schema": (_set("schema_version", 2), "schema_version", "schema version 2"),
    "machine fingerprint": (_set("fingerprint.git.dirty", "no"), "fingerprint.git.dirty", "true or false"),
}
BROKEN_FILES = {
    "binary": (os.urandom(256) + b"\xff\xfe", "not a UTF-8 text file"),
    "truncated JSON": (b'{"kind": "tgrad-lab-run", "cells": [', "not valid JSON"),
    "empty": (b"", "not valid JSON"),
    "a list": (b"[1, 2, 3]", "not a lab run record"),
    "nested too deeply": (b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),
}


@pytest.fixture(scope="module")
def good_run() -> dict:
    return synthetic_history(1, seed=41, scenarios=("S1", "S2"))[0]


def _expect_refusal(code: int, err: str, *parts: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    for part in parts:
        assert part in err, (part, err)


@pytest.mark.parametrize("case", list(RUN_FILE_CASES))
def test_malformed_run_files_are_refused(case: str, good_run: dict, tmp_path: Path, capsys) -> None:
    mutate, field, problem = RUN_FILE_CASES[case]
    run = copy.deepcopy(good_run)
    mutate(run)
    path = tmp_path / "run.json"
    path.write_text(json.dumps(run))  # NaN and Infinity as Python's json writes them
    db = tmp_path / "h.sqlite"
    for command in (["import", str(path), "--history", str(db)], ["report", str(path)]):
        code = cli.main(command)
        _expect_refusal(code, capsys.readouterr().err, str(path), field, problem)
    with history.History(db) as h:
        assert h.runs() == []  # nothing of it reached the history


@pytest.mark.parametrize("case", list(BROKEN_FILES))
def test_files_that_are_not_run_files(case: str, tmp_path: Path, capsys) -> None:
    content, problem = BROKEN_FILES[case]
    path = tmp_path / "run.json"
    path.write_bytes(content)
    _expect_refusal(
        cli.main(["import", str(path), "--history", str(tmp_path / "h.sqlite")]),
        capsys.readouterr().err,
        str(path),
        problem,
    )
    _expect_refusal(cli.main(["report", str(path)]), capsys.readouterr().err, str(path), problem)


def test_import_takes_the_good_files_and_refuses_the_bad(good_run: dict, tmp_path: Path, capsys) -> None:
    folder = tmp_path / "runs"
    folder.mkdir()
    (folder / "a-good.json").write_text(json.dumps(good_run))
    bad = copy.deepcopy(good_run)
    bad["run_id"] = "bad-run"
    bad["cells"][0]["samples"][0] = float("nan")
    (folder / "b-bad.json").write_text(json.dumps(bad))
    db = tmp_path / "h.sqlite"
    code = cli.main(["import", str(folder), "--history", str(db)])
    out, err = capsys.readouterr()
    _expect_refusal(code, err, "b-bad.json", "cells[0].samples[0]", "1 of 2 files refused")
    assert f"added: {good_run['run_id']}" in out
    with history.History(db) as h:
        assert [i.run_id for i in h.runs()] == [good_run["run_id"]]


def test_every_committed_baseline_matches_the_schema() -> None:
    files = sorted(BASELINES.glob("*.json"))
    assert files
    for path in files:
        record.validate_run(json.loads(path.read_text()), str(path))


# ---------------------------------------------------------------------- histories
@pytest.fixture()
def stored(good_run: dict, tmp_path: Path) -> Path:
    db = tmp_path / "h.sqlite"
    with history.History(db) as h:
        for run in synthetic_history(2, seed=42, scenarios=("S1",)):
            h.append(run)
    return db


def _tamper(db: Path, statement: str) -> None:
    with sqlite3.connect(db) as raw:
        raw.execute(statement)


HISTORY_CASES = {
    "an infinite sample": (
        "UPDATE samples SET seconds = 9e999 WHERE cell = (SELECT MIN(id) FROM cells) AND kind = 'sample' AND idx = 1",
        ["cells[0].samples[1]", "must be finite"],
    ),
    "a negative sample": (
        "UPDATE samples SET seconds = -1 WHERE kind = 'sample' AND idx = 0",
        ["samples[0]", "must be above 0"],
    ),
    "a row that is not JSON": ("UPDATE runs SET record = '{not json'", ["a stored row is not valid JSON"]),
    "a cell that lost its status": (
        "UPDATE cells SET facts = json_remove(facts, '$.status')",
        ["cells[0].status", "required, but missing"],
    ),
    "a newer database schema": ("UPDATE meta SET value = '99'", ["history schema 99"]),
    "a schema version that is no number": ("UPDATE meta SET value = 'abc'", ["history schema abc"]),
}


@pytest.mark.parametrize("case", list(HISTORY_CASES))
def test_tampered_histories_are_reported(case: str, stored: Path, tmp_path: Path, capsys) -> None:
    statement, parts = HISTORY_CASES[case]
    _tamper(stored, statement)
    for command in (
        ["check", "--history", str(stored), "--output", str(tmp_path / "check.json")],
        ["plots", "--history", str(stored), "--out", str(tmp_path / "report")],
    ):
        _expect_refusal(cli.main(command), capsys.readouterr().err, str(stored), *parts)


@pytest.mark.parametrize("content", [b"not sqlite at all, " * 100, os.urandom(4096)])
def test_a_file_that_is_not_a_history(content: bytes, tmp_path: Path, capsys) -> None:
    db = tmp_path / "h.sqlite"
    db.write_bytes(content)
    code = cli.main(["check", "--history", str(db), "--output", str(tmp_path / "c.json")])
    _expect_refusal(code, capsys.readouterr().err, str(db), "not a usable results history")
    folder = tmp_path / "a-folder"
    folder.mkdir()
    code = cli.main(["plots", "--history", str(folder), "--out", str(tmp_path / "r")])
    _expect_refusal(code, capsys.readouterr().err, str(folder), "not a file")


# ---------------------------------------------------------------------- scenario files and options
SCENARIO_CASES = {
    "scale = inf": ("scale = inf", "scale", "positive finite number"),
    "scale = nan": ("scale = nan", "scale", "positive finite number"),
    "scale that overflows float16": ('dtype = "float16"\nscale = 1e5', "scale", "would overflow float16"),
    "first_call_limit_s = nan": ("[defaults.budget]\nfirst_call_limit_s = nan", "budget.first_call_limit_s", "finite"),
    "time_s = inf": ("[defaults.budget]\ntime_s = inf", "budget.time_s", "finite"),
    "a billion warm-up calls": ("[defaults.budget]\nwarmup = 1000000000", "budget.warmup", "between 0 and 100000"),
    "warm-up as a float": ("[defaults.budget]\nwarmup = 2.5", "budget.warmup", "non-negative int"),
}


@pytest.mark.parametrize("case", list(SCENARIO_CASES))
def test_malformed_scenario_values(case: str, tmp_path: Path, capsys) -> None:
    text, field, problem = SCENARIO_CASES[case]
    if text.startswith("[defaults.budget]"):
        budget = dict(line.split(" = ") for line in ["warmup = 2", "warmup_s = 0", "min_samples = 6", "time_s = 0.0"])
        key, value = text.split("\n")[1].split(" = ")
        budget[key] = value
        path = write_scenarios(tmp_path, [FastFake], budget="\n".join(f"{k} = {v}" for k, v in budget.items()))
    else:
        path = write_scenarios(tmp_path, [FastFake], defaults_extra=text)
    code = cli.main(["run", str(path), "--results", str(tmp_path / "results"), "--no-progress"])
    _expect_refusal(code, capsys.readouterr().err, str(path), f"field '{field}'", problem)
    assert not (tmp_path / "results").exists()


def test_huge_shapes_and_binary_scenario_files(tmp_path: Path, capsys) -> None:
    path = write_scenarios(tmp_path, [FastFake])
    path.write_text(path.read_text().replace("a = [8, 16]\nb = [16, 4]", "a = [1048576, 1048576]\nb = [1048576, 4]"))
    code = cli.main(["run", str(path), "--results", str(tmp_path / "results"), "--no-progress"])
    _expect_refusal(code, capsys.readouterr().err, str(path), "field 'a'", "1.1e+12 elements; at most 2^32")
    path.write_bytes(os.urandom(512))
    code = cli.main(["run", str(path), "--results", str(tmp_path / "results"), "--no-progress"])
    _expect_refusal(code, capsys.readouterr().err, str(path), "TOML syntax error")


@pytest.mark.parametrize(
    ("option", "problem"),
    [
        (["--search-limit", "nan"], "must be a finite number"),
        (["--search-limit", "inf"], "must be a finite number"),
        (["--rounds", "0"], "between 1 and 1000"),
        (["--seed", "-3"], "at least 0"),
    ],
)
def test_bad_options(option: list[str], problem: str, tmp_path: Path, capsys) -> None:
    path = write_scenarios(tmp_path, [FastFake])
    with pytest.raises(SystemExit) as exited:
        cli.main(["run", str(path), "--results", str(tmp_path / "results"), *option])
    assert exited.value.code == 2
    assert problem in capsys.readouterr().err
