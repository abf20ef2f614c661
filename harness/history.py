"""The results history: every run in one embedded SQLite database (default results/history.sqlite).

Tables (all samples are kept, so any statistic can be recomputed later):
  meta       key/value: the database's own schema version
  runs       one row per run: run_id, source (lab | pytest-benchmark), the run record's schema version,
             machine id, host, commit, dirty, started, finished, profile (full | quick | pytest-benchmark),
             the fingerprint and the rest of the record as JSON
  scenarios  each run's scenario definitions (name, version hash, the definition as JSON)
  cells      one row per (run, scenario, engine, round): scenario version hash, engine, mode, status,
             and the cell's other facts (agreement, first call, ...) as JSON
  samples    every warm-up and timed sample of every cell, in seconds per call
  peaks      the machine's measured FP32 peak and memory bandwidth (`python -m harness peak`), by machine
             id; the bandwidth rides in the `detail` JSON (key "bandwidth"), so the table is the one
             older databases have, and their rows (FP32 peak only) read back without a bandwidth

Every record is validated against the run record's schema (harness.record) when it is appended and
again when it is read back, so a malformed run file is refused at import and a tampered database is
reported (HistoryError naming the run and the field) instead of crashing a reader.

A run is appended in one transaction (BEGIN IMMEDIATE ... COMMIT, synchronous=FULL, rollback journal):
a process killed in the middle leaves a hot journal that SQLite rolls back on the next open, so the
database holds the run entirely or not at all and no earlier run is touched. Appending a run_id that is
already present is a no-op, so importing the same files twice is harmless.

The machine id is a hash of the hardware part of the fingerprint (CPU model, CPU count, usable cores,
GPU): software versions and the host name are left out, so a rebuilt VM of the same kind, or a new
numpy, still compares with earlier runs; runs on different hardware do not (unless asked).
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from harness.record import SCHEMA_VERSION, CellRecord, RunRecord, SchemaError, validate_run
from harness.store import RESULTS_DIR, StoreError, load_run, parse_json

ENV_VAR = "TGRAD_LAB_HISTORY"
BASELINES_DIR = RESULTS_DIR / "baselines"
DB_SCHEMA_VERSION = 1
SOURCES = ("lab", "pytest-benchmark")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    machine_id TEXT NOT NULL,
    host TEXT,
    commit_sha TEXT,
    dirty INTEGER,
    started TEXT NOT NULL,
    finished TEXT,
    profile TEXT NOT NULL,
    imported_from TEXT,
    added TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_machine ON runs (machine_id, profile, started);
CREATE TABLE IF NOT EXISTS scenarios (
    run INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    version TEXT,
    definition TEXT NOT NULL,
    PRIMARY KEY (run, name)
);
CREATE TABLE IF NOT EXISTS cells (
    id INTEGER PRIMARY KEY,
    run INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    scenario TEXT NOT NULL,
    scenario_version TEXT,
    engine TEXT NOT NULL,
    mode TEXT NOT NULL,
    round INTEGER NOT NULL,
    status TEXT NOT NULL,
    facts TEXT NOT NULL,
    UNIQUE (run, scenario, engine, round)
);
CREATE INDEX IF NOT EXISTS cells_by_key ON cells (scenario, engine);
CREATE TABLE IF NOT EXISTS samples (
    cell INTEGER NOT NULL REFERENCES cells (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('sample', 'warmup')),
    idx INTEGER NOT NULL,
    seconds REAL NOT NULL,
    PRIMARY KEY (cell, kind, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS peaks (
    id INTEGER PRIMARY KEY,
    machine_id TEXT NOT NULL,
    measured TEXT NOT NULL,
    threads INTEGER NOT NULL,
    gflops_one_thread REAL NOT NULL,
    gflops_all_threads REAL NOT NULL,
    detail TEXT NOT NULL
);
"""


class HistoryError(StoreError):
    pass


def default_path(results: str | Path | None = None) -> Path:
    """$TGRAD_LAB_HISTORY, else <results>/history.sqlite (results/ of the repository by default)."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    return Path(results or RESULTS_DIR) / "history.sqlite"


def machine_id(fingerprint: Mapping[str, Any]) -> str:
    hardware = {key: fingerprint.get(key) for key in ("cpu", "cpu_count", "cores_usable", "gpu")}
    return hashlib.sha256(json.dumps(hardware, sort_keys=True).encode()).hexdigest()[:12]


def engine_mode(engine: str, family: str | None) -> str:
    """tinygrad-jit (family tinygrad) -> jit; tgrad -> default."""
    if family and engine.startswith(family + "-"):
        return engine[len(family) + 1 :]
    return "default"


@dataclasses.dataclass(frozen=True)
class RunInfo:
    run_id: str
    source: str
    machine_id: str
    host: str | None
    commit: str | None
    dirty: bool | None
    started: str
    profile: str

    @property
    def short_commit(self) -> str:
        return (self.commit or "unknown")[:10] + ("+dirty" if self.dirty else "")


def info_of(record: RunRecord, source: str = "lab") -> RunInfo:
    fingerprint = record["fingerprint"]
    git = fingerprint.get("git")
    return RunInfo(
        run_id=record["run_id"],
        source=source,
        machine_id=machine_id(fingerprint),
        host=record.get("host"),
        commit=git["commit"] if git else None,
        dirty=git["dirty"] if git else None,
        started=record["started"],
        profile=record.get("profile", "full"),
    )


class History:
    """An open results history. Use as a context manager, or call close()."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise HistoryError(f"{path}: cannot create its folder: {e.strerror}") from e
        if self.path.exists() and not self.path.is_file():
            raise HistoryError(f"{path}: not a usable results history: not a file")
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None)  # transactions are explicit
            self.db.execute("PRAGMA foreign_keys = ON")
            self.db.execute("PRAGMA synchronous = FULL")
            self.db.execute("PRAGMA busy_timeout = 10000")
            with self._transaction():
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                row = self.db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                if row is None:
                    self.db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(DB_SCHEMA_VERSION),))
                elif row[0] != str(DB_SCHEMA_VERSION):
                    raise HistoryError(f"{path}: history schema {row[0]}, this harness reads {DB_SCHEMA_VERSION}")
        except sqlite3.DatabaseError as e:
            raise HistoryError(f"{path}: not a usable results history: {e}") from e

    note = ""  # what was opened, for a reader (open_or_baselines)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    class _Tx:
        def __init__(self, db: sqlite3.Connection):
            self.db = db

        def __enter__(self) -> sqlite3.Connection:
            self.db.execute("BEGIN IMMEDIATE")
            return self.db

        def __exit__(self, kind: type | None, *rest: object) -> None:
            self.db.execute("COMMIT" if kind is None else "ROLLBACK")

    def _transaction(self) -> History._Tx:
        return History._Tx(self.db)

    # ------------------------------------------------------------------ writing
    def append(self, record: RunRecord, *, source: str = "lab", imported_from: str | None = None) -> bool:
        """Add one run record (the dict a run file holds). False if its run_id is already present.
        HistoryError when the record does not match the schema."""
        if source not in SOURCES:
            raise HistoryError(f"unknown source {source!r}")
        try:
            validate_run(record, imported_from or f"run {record.get('run_id')!r}")
        except SchemaError as e:
            raise HistoryError(f"not added to the history: {e}") from e
        info = info_of(record, source)
        rest = {k: v for k, v in record.items() if k not in ("fingerprint", "scenarios", "cells")}
        added = datetime.datetime.now(datetime.UTC).isoformat()
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM runs WHERE run_id = ?", (info.run_id,)).fetchone():
                return False
            cursor = db.execute(
                "INSERT INTO runs (run_id, source, schema_version, machine_id, host, commit_sha, dirty, started,"
                " finished, profile, imported_from, added, fingerprint, record)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    info.run_id,
                    source,
                    int(record.get("schema_version", SCHEMA_VERSION)),
                    info.machine_id,
                    info.host,
                    info.commit,
                    None if info.dirty is None else int(info.dirty),
                    info.started,
                    record.get("finished"),
                    info.profile,
                    imported_from,
                    added,
                    json.dumps(record.get("fingerprint", {}), default=str),
                    json.dumps(rest, default=str),
                ),
            )
            run = cursor.lastrowid
            for position, scenario in enumerate(record.get("scenarios", [])):
                db.execute(
                    "INSERT INTO scenarios VALUES (?, ?, ?, ?, ?)",
                    (run, position, scenario["name"], scenario.get("version"), json.dumps(scenario, default=str)),
                )
            versions = {s["name"]: s.get("version") for s in record.get("scenarios", [])}
            for position, cell in enumerate(record.get("cells", [])):
                self._insert_cell(db, run, position, cell, versions.get(cell["scenario"]))
        return True

    def _insert_cell(
        self, db: sqlite3.Connection, run: int | None, position: int, cell: CellRecord, version: str | None
    ) -> None:
        facts = {k: v for k, v in cell.items() if k not in ("samples", "warmup")}
        cursor = db.execute(
            "INSERT INTO cells (run, position, scenario, scenario_version, engine, mode, round, status, facts)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run,
                position,
                cell["scenario"],
                version,
                cell["engine"],
                engine_mode(cell["engine"], cell.get("family")),
                int(cell.get("round", 0)),
                cell["status"],
                json.dumps(facts, default=str),
            ),
        )
        rows = [(cursor.lastrowid, "warmup", i, float(s)) for i, s in enumerate(cell.get("warmup") or [])]
        rows += [(cursor.lastrowid, "sample", i, float(s)) for i, s in enumerate(cell.get("samples") or [])]
        db.executemany("INSERT INTO samples VALUES (?, ?, ?, ?)", rows)

    def record_peak(self, machine: str, peak: dict[str, Any], bandwidth: dict[str, Any] | None = None) -> None:
        """One measurement of the machine's ceilings: harness.peak's Peak.as_dict() and, where it was measured,
        Bandwidth.as_dict() (kept in `detail` under "bandwidth")."""
        detail = {**peak, "bandwidth": bandwidth} if bandwidth is not None else peak
        with self._transaction() as db:
            db.execute(
                "INSERT INTO peaks (machine_id, measured, threads, gflops_one_thread, gflops_all_threads, detail)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    machine,
                    datetime.datetime.now(datetime.UTC).isoformat(),
                    int(peak["threads"]),
                    float(peak["gflops_one_thread"]),
                    float(peak["gflops_all_threads"]),
                    json.dumps(detail, default=str),
                ),
            )

    # ------------------------------------------------------------------ reading
    def runs(
        self, *, machine: str | None = None, profile: str | None = None, source: str | None = None
    ) -> list[RunInfo]:
        """Runs oldest first (by start time), optionally of one machine id, profile and source."""
        query = "SELECT run_id, source, machine_id, host, commit_sha, dirty, started, profile FROM runs WHERE 1"
        params: list[Any] = []
        for column, value in (("machine_id", machine), ("profile", profile), ("source", source)):
            if value is not None:
                query += f" AND {column} = ?"
                params.append(value)
        rows = self.db.execute(query + " ORDER BY started, id", params).fetchall()
        return [RunInfo(r[0], r[1], r[2], r[3], r[4], None if r[5] is None else bool(r[5]), r[6], r[7]) for r in rows]

    def info(self, run_id: str) -> RunInfo:
        for info in self.runs():
            if info.run_id == run_id:
                return info
        raise HistoryError(f"{self.path}: no run {run_id!r}")

    def load(self, run_id: str) -> RunRecord:
        """The run record as it was appended (the same dict a run file holds), validated."""
        source = f"{self.path}: run {run_id}"
        try:
            return validate_run(self._load(run_id), source)
        except SchemaError as e:
            raise HistoryError(f"{e} (the history holds a malformed record)") from e
        except (json.JSONDecodeError, TypeError, RecursionError) as e:
            raise HistoryError(f"{source}: a stored row is not valid JSON: {e}") from e
        except sqlite3.DatabaseError as e:
            raise HistoryError(f"{source}: not readable: {e}") from e

    def _load(self, run_id: str) -> dict[str, Any]:
        row = self.db.execute("SELECT id, fingerprint, record FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            raise HistoryError(f"{self.path}: no run {run_id!r}")
        run, fingerprint, rest = row
        record: dict[str, Any] = json.loads(rest)
        record["fingerprint"] = json.loads(fingerprint)
        scenarios = self.db.execute("SELECT definition FROM scenarios WHERE run = ? ORDER BY position", (run,))
        record["scenarios"] = [json.loads(d) for (d,) in scenarios]
        samples: dict[int, dict[str, list[float]]] = {}
        query = (
            "SELECT s.cell, s.kind, s.seconds FROM samples s JOIN cells c ON c.id = s.cell WHERE c.run = ?"
            " ORDER BY s.cell, s.kind, s.idx"
        )
        for cell, kind, seconds in self.db.execute(query, (run,)):
            samples.setdefault(cell, {"sample": [], "warmup": []})[kind].append(seconds)
        cells = []
        for cell_id, facts in self.db.execute("SELECT id, facts FROM cells WHERE run = ? ORDER BY position", (run,)):
            cell = json.loads(facts)
            stored = samples.get(cell_id, {"sample": [], "warmup": []})
            if stored["sample"] or cell.get("status") == "ok":
                cell["samples"] = stored["sample"]
            if stored["warmup"]:
                cell["warmup"] = stored["warmup"]
            cells.append(cell)
        record["cells"] = cells
        return record

    def peak(self, machine: str) -> dict[str, Any] | None:
        """The most recent peak measured on this machine id (with "measured", and "bandwidth" where it was
        measured too: rows recorded before the bandwidth probe have none), or None."""
        row = self.db.execute(
            "SELECT detail, measured FROM peaks WHERE machine_id = ? ORDER BY measured DESC, id DESC LIMIT 1",
            (machine,),
        ).fetchone()
        return None if row is None else {**json.loads(row[0]), "measured": row[1]}

    def known_files(self) -> tuple[set[str], set[str]]:
        """(run ids, resolved paths the runs were imported from) of every run in the history."""
        ids, paths = set(), set()
        for run_id, origin in self.db.execute("SELECT run_id, imported_from FROM runs"):
            ids.add(run_id)
            if origin:
                paths.add(str(Path(origin).resolve()))
        return ids, paths

    def records(self, infos: list[RunInfo]) -> Iterator[RunRecord]:
        for info in infos:
            yield self.load(info.run_id)


# ---------------------------------------------------------------------- import
def from_pytest_benchmark(data: dict[str, Any], name: str) -> RunRecord:
    """A pytest-benchmark JSON file (tests/harness/test_bench_pytest.py's, saved with --benchmark-save)
    as a lab run record, validated (SchemaError otherwise). Samples are only present when it was saved
    with --benchmark-save-data; without them the cells keep pytest-benchmark's summary statistics and
    are incomparable."""
    machine = data.get("machine_info", {})
    commit = data.get("commit_info", {})
    started = data.get("datetime") or datetime.datetime.now(datetime.UTC).isoformat()
    cpu = machine.get("cpu", {}) if isinstance(machine.get("cpu"), dict) else {}
    fingerprint = {
        "cpu": cpu.get("brand_raw") or machine.get("processor"),
        "cpu_count": cpu.get("count"),
        "cores_usable": cpu.get("count"),
        "os": " ".join(str(machine.get(k, "")) for k in ("system", "release")).strip(),
        "python": machine.get("python_version"),
        "git": {"commit": commit.get("id"), "dirty": commit.get("dirty")},
        "gpu": None,
        "source": "pytest-benchmark",
    }
    scenarios: dict[str, dict[str, Any]] = {}
    cells: list[dict[str, Any]] = []
    engines: list[str] = []
    for bench in data.get("benchmarks", []):
        extra = bench.get("extra_info", {})
        group = (bench.get("group") or bench.get("name", "?")).split(maxsplit=1)
        scenario = group[0]
        engine = extra.get("engine") or bench.get("name", "?")
        scenarios.setdefault(
            scenario,
            {
                "name": scenario,
                "title": group[1] if len(group) > 1 else "",
                "version": extra.get("scenario_version"),
                "flops": extra.get("flops"),
            },
        )
        if engine not in engines:
            engines.append(engine)
        stats = bench.get("stats", {})
        cells.append(
            {
                "scenario": scenario,
                "engine": engine,
                "family": engine.split("-")[0],
                "round": 0,
                "status": "ok",
                "samples": [float(s) for s in stats.get("data", [])],
                "info": extra.get("engine_info"),
                "pytest_benchmark_stats": {k: v for k, v in stats.items() if k != "data"},
            }
        )
    stamp = started.replace("-", "").replace(":", "").split(".")[0]
    record = {
        "schema_version": SCHEMA_VERSION,
        "kind": "tgrad-lab-run",
        "run_id": f"pytest-benchmark-{stamp}-{Path(name).stem}",
        "started": started,
        "host": machine.get("node"),
        "profile": "pytest-benchmark",
        "lab": {"engines": engines, "subject": "tgrad", "subject_single_thread": None, "reference": None},
        "fingerprint": fingerprint,
        "scenarios": list(scenarios.values()),
        "cells": cells,
    }
    return validate_run(record, name)


def import_pending(history: History, runs_dir: Path) -> tuple[list[Path], list[str]]:
    """Import the run files of `runs_dir` that are not in the history (a run stopped between writing its
    file and appending it): (files imported, one problem per file that could not be)."""
    ids, paths = history.known_files()
    imported, problems = [], []
    for path in sorted(runs_dir.glob("*.json")):
        if path.stem in ids or str(path.resolve()) in paths:
            continue
        try:
            import_file(history, path)
            imported.append(path)
        except HistoryError as e:
            problems.append(str(e))
    return imported, problems


def import_file(history: History, path: str | Path) -> tuple[str, bool]:
    """Append a lab run file or a pytest-benchmark JSON file: (run_id, whether it was new). HistoryError
    (file, field, problem) for anything that is not one of them or does not match the schema."""
    path = Path(path)
    try:
        data = parse_json(path)
    except StoreError as e:
        raise HistoryError(str(e)) from e
    if isinstance(data, dict) and "benchmarks" in data and "machine_info" in data:
        try:
            record = from_pytest_benchmark(data, str(path))
        except SchemaError as e:
            raise HistoryError(f"{e} (converted from pytest-benchmark)") from e
        except (TypeError, AttributeError, KeyError, ValueError) as e:
            raise HistoryError(f"{path}: not a readable pytest-benchmark file: {type(e).__name__}: {e}") from e
        return record["run_id"], history.append(record, source="pytest-benchmark", imported_from=str(path.resolve()))
    try:
        record = load_run(path)  # validated
    except StoreError as e:
        raise HistoryError(str(e)) from e
    return record["run_id"], history.append(record, imported_from=str(path.resolve()))


class TemporaryHistory(History):
    """A history in a private temporary folder, removed when closed."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="tgrad-lab-history-"))
        super().__init__(self.folder / "history.sqlite")

    def close(self) -> None:
        try:
            super().close()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def from_baselines(folder: str | Path = BASELINES_DIR) -> TemporaryHistory:
    """A temporary history holding the committed baseline runs (results/baselines/*.json)."""
    files = sorted(Path(folder).glob("*.json"))
    if not files:
        raise HistoryError(f"{folder}: no run files to import")
    temporary = TemporaryHistory()
    try:
        for path in files:
            import_file(temporary, path)
    except BaseException:
        temporary.close()
        raise
    temporary.note = f"no history file: a temporary history of the {len(files)} committed baselines in {folder}"
    return temporary


def open_or_baselines(path: str | Path | None = None, baselines: str | Path = BASELINES_DIR) -> History:
    """The history at `path` (default: default_path()) when that file exists, else a temporary history of
    the committed baselines (what a fresh clone explores). `.note` says which."""
    chosen = Path(path) if path else default_path()
    if chosen.is_file():
        opened = History(chosen)
        opened.note = f"the results history {chosen}"
        return opened
    return from_baselines(baselines)
