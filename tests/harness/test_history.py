"""The results history: round trips, transactional appends, imports of run files and pytest-benchmark JSON."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from lab_synthetic import synthetic_history

from harness import cli, history

REPO = Path(__file__).resolve().parents[2]


def test_append_and_load_round_trip(tmp_path: Path) -> None:
    records = synthetic_history(2, seed=1, scenarios=("S1", "S2"))
    with history.History(tmp_path / "h.sqlite") as h:
        assert h.append(records[0]) and h.append(records[1])
        assert not h.append(records[0])  # the same run_id twice is a no-op
        infos = h.runs()
        assert [i.run_id for i in infos] == [r["run_id"] for r in records]
        assert infos[0].machine_id == history.machine_id(records[0]["fingerprint"])
        assert infos[0].commit == records[0]["fingerprint"]["git"]["commit"]
        assert json.loads(json.dumps(h.load(records[1]["run_id"]))) == json.loads(json.dumps(records[1]))
        cells = h.db.execute("SELECT scenario, scenario_version, engine, mode FROM cells WHERE engine LIKE 'tinygrad%'")
        assert ("S1", "v1-S1", "tinygrad-jit", "jit") in set(cells.fetchall())
        total = sum(len(c["samples"]) + len(c["warmup"]) for r in records for c in r["cells"])
        assert h.db.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == total


def test_default_path_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(history.ENV_VAR, raising=False)
    assert history.default_path(tmp_path) == tmp_path / "history.sqlite"
    monkeypatch.setenv(history.ENV_VAR, str(tmp_path / "elsewhere.sqlite"))
    assert history.default_path(tmp_path) == tmp_path / "elsewhere.sqlite"


KILLED_MID_APPEND = """
import os, signal, sys
sys.path[:0] = [{repo!r}, {tests!r}]
from lab_synthetic import synthetic_history
from harness import history
first, second = synthetic_history(2, seed=2)
h = history.History({db!r})
h.append(first)
original, calls = history.History._insert_cell, []
def dying(self, *args):
    calls.append(1)
    if len(calls) == 3:
        os.kill(os.getpid(), signal.SIGKILL)  # killed mid-run: two cells and their samples already written
    original(self, *args)
history.History._insert_cell = dying
h.append(second)
"""


def test_a_run_killed_mid_append_leaves_the_history_consistent(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    script = KILLED_MID_APPEND.format(repo=str(REPO), tests=str(Path(__file__).parent), db=str(db))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == -9, done.stderr
    first, _ = synthetic_history(2, seed=2)
    with history.History(db) as h:  # opening rolls the hot journal back
        assert [i.run_id for i in h.runs()] == [first["run_id"]]
        assert h.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert h.db.execute("SELECT COUNT(*) FROM cells").fetchone()[0] == len(first["cells"])
        orphans = "SELECT COUNT(*) FROM samples WHERE cell NOT IN (SELECT id FROM cells)"
        assert h.db.execute(orphans).fetchone()[0] == 0
        assert h.load(first["run_id"])["cells"][0]["samples"] == first["cells"][0]["samples"]


def test_not_a_history_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "h.sqlite"
    bad.write_text("not sqlite at all, " * 100)
    with pytest.raises(history.HistoryError, match="not a usable results history"):
        history.History(bad)


def _pytest_benchmark_file(path: Path) -> Path:
    data = {
        "machine_info": {"node": "vm", "cpu": {"brand_raw": "Zen 3", "count": 2}, "python_version": "3.11"},
        "commit_info": {"id": "abc123", "dirty": False},
        "datetime": "2026-01-02T03:04:05.678901",
        "version": "4.0.0",
        "benchmarks": [
            {
                "group": "B1 gemm-64",
                "name": f"test_five[B1-gemm-64-{engine}]",
                "extra_info": {"engine": engine, "scenario_version": "f211fd25d6bb296d", "flops": 524288},
                "stats": {"median": 1e-5, "rounds": 3, "data": [1e-5, 1.1e-5, 0.9e-5]},
            }
            for engine in ("tgrad", "numpy")
        ],
    }
    path.write_text(json.dumps(data))
    return path


def test_import_run_files_and_pytest_benchmark_files(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    for record in synthetic_history(2, seed=3, scenarios=("S1",)):
        (runs / f"{record['run_id']}.json").write_text(json.dumps(record))
    bench = _pytest_benchmark_file(tmp_path / "0001_bench.json")
    db = tmp_path / "h.sqlite"
    assert cli.main(["import", str(runs), str(bench), "--history", str(db)]) == 0
    assert capsys.readouterr().out.count("added:") == 3
    assert cli.main(["import", str(runs), "--history", str(db)]) == 0
    assert capsys.readouterr().out.count("already present:") == 2
    with history.History(db) as h:
        imported = [i for i in h.runs() if i.source == "pytest-benchmark"]
        assert len(imported) == 1 and imported[0].profile == "pytest-benchmark" and imported[0].commit == "abc123"
        record = h.load(imported[0].run_id)
        assert {c["engine"]: c["samples"] for c in record["cells"]}["tgrad"] == [1e-5, 1.1e-5, 0.9e-5]
        assert record["scenarios"][0]["version"] == "f211fd25d6bb296d"
    (tmp_path / "junk.json").write_text("{ nope")
    assert cli.main(["import", str(tmp_path / "junk.json"), "--history", str(db)]) == 2


def test_history_file_is_plain_sqlite(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    with history.History(db) as h:
        h.append(synthetic_history(1, seed=4, scenarios=("S1",))[0])
    with sqlite3.connect(db) as raw:
        tables = {name for (name,) in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"runs", "cells", "samples", "scenarios", "peaks", "meta"} <= tables
