"""Results on disk: atomic, never overwritten, and intact after an interrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lab_fakes import FastFake, SleepyFake, write_scenarios

from harness import store

REPO = Path(__file__).resolve().parents[2]


def _interruptible() -> None:
    """Ctrl-C reaches the runner even where pytest runs as a background job, whose shell starts it
    with SIGINT ignored (a disposition children inherit)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_write_new_never_overwrites(tmp_path: Path) -> None:
    first = store.write_new(tmp_path, "run", "one")
    second = store.write_new(tmp_path, "run", "two")
    assert first != second
    assert (first.read_text(), second.read_text()) == ("one", "two")
    assert not list(tmp_path.glob(".tmp-*"))


def test_failed_atomic_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "latest.md"
    target.write_text("old table")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        store.atomic_write_text(target, "new table")
    assert target.read_text() == "old table"
    assert not list(tmp_path.glob(".tmp-*"))


def test_load_run_checks_kind_and_schema(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"kind": "tgrad-lab-run", "schema_version": store.SCHEMA_VERSION + 1}))
    with pytest.raises(store.StoreError, match="schema version"):
        store.load_run(path)
    path.write_text("{ not json")
    with pytest.raises(store.StoreError, match="not valid JSON"):
        store.load_run(path)


def test_interrupted_run_leaves_earlier_results_intact(tmp_path: Path) -> None:
    results = tmp_path / "results"
    quick = write_scenarios(tmp_path, [FastFake], budget="warmup = 0\nwarmup_s = 0\nmin_samples = 5\ntime_s = 0.0")
    command = [sys.executable, "-m", "harness", "run", "--results", str(results), "--no-progress"]
    done = subprocess.run([*command, str(quick)], cwd=REPO, capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    before = {p: p.read_bytes() for p in results.rglob("*") if p.is_file()}
    assert len([p for p in before if p.suffix == ".json"]) == 1

    slow_folder = tmp_path / "slow"
    slow_folder.mkdir()
    slow = write_scenarios(
        slow_folder, [FastFake, SleepyFake], budget="warmup = 0\nwarmup_s = 0\nmin_samples = 1000\ntime_s = 60"
    )
    pid_file = tmp_path / "worker.pid"
    env = {**os.environ, "LAB_FAKE_PIDFILE": str(pid_file)}
    process = subprocess.Popen(
        [*command, str(slow)],
        cwd=REPO,
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        preexec_fn=_interruptible,
    )
    try:
        deadline = time.monotonic() + 60
        while not pid_file.exists() and time.monotonic() < deadline:  # the sleepy cell is being timed
            time.sleep(0.05)
        assert pid_file.exists(), "the slow cell never started"
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130
    assert "interrupted" in err
    after = {p: p.read_bytes() for p in results.rglob("*") if p.is_file()}
    assert after == before  # no new run file, latest.md/csv untouched, no temporary files
    worker = int(pid_file.read_text())
    time.sleep(0.2)
    with pytest.raises(ProcessLookupError):
        os.kill(worker, 0)  # the worker was killed with the run
