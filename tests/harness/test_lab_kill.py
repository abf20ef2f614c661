"""The lab killed with SIGKILL at many points: nothing is lost (every run file written reaches the history
at the next run; earlier results are intact; tables are old or new, never torn) and nothing is left
behind (no worker process, no work folder, no temporary file once the next run has tidied up).

Each case runs `harness run` in a child process with one function wrapped so that the process kills
itself (SIGKILL) before or after its n-th call. What the next run does first (cli._tidy: remove the
dead runner's temporary files, import run files missing from the history, sweep work folders) is then
done here, and the results checked."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lab_fakes import FastFake, SleepyFake, write_scenarios

from harness import cli, guard, history

REPO = Path(__file__).resolve().parents[2]
TESTS = Path(__file__).resolve().parent

DRIVER = """
import importlib, os, signal, sys
sys.path[:0] = [{repo!r}, {tests!r}]
from harness import cli
owner = importlib.import_module({module!r})
for name in {path!r}[:-1]:
    owner = getattr(owner, name)
original, calls = getattr(owner, {path!r}[-1]), []
def wrapped(*args, **kwargs):
    calls.append(1)
    if {when!r} == "worker started" and os.path.exists(os.environ["LAB_FAKE_PIDFILE"]):
        os.kill(os.getpid(), signal.SIGKILL)
    if len(calls) == {nth} and {when!r} == "before":
        os.kill(os.getpid(), signal.SIGKILL)
    result = original(*args, **kwargs)
    if len(calls) == {nth} and {when!r} == "after":
        os.kill(os.getpid(), signal.SIGKILL)
    return result
setattr(owner, {path!r}[-1], wrapped)
sys.exit(cli.main({argv!r}))
"""

# (module, attribute path, n-th call, before | after | worker started): where the lab dies; "worker
# started": at the first call once the sleepy worker is timing (it sleeps 1 s a call then, so it is
# still running unless the lab's guard kills it)
KILL_POINTS = {
    "a worker is timing": ("harness.progress", ("Progress", "tick"), 0, "worker started"),
    "between two cells": ("harness.progress", ("Progress", "end"), 1, "after"),
    "judging agreement": ("harness.runner", ("_agreement",), 1, "before"),
    "before writing the run file": ("harness.store", ("write_run",), 1, "before"),
    "run file written, not yet linked": ("os", ("link",), 1, "before"),
    "run file linked, temporary not removed": ("os", ("link",), 1, "after"),
    "before the tables": ("harness.store", ("atomic_write_text",), 1, "before"),
    "table written, not yet in place": ("os", ("replace",), 1, "before"),
    "between the two tables": ("harness.store", ("atomic_write_text",), 2, "before"),
    "before the history": ("harness.cli", ("_record",), 1, "before"),
    "in the history's transaction": ("harness.history", ("History", "_insert_cell"), 2, "before"),
    "after everything": ("harness.report", ("failure_messages",), 1, "before"),
}

NOT_WRITTEN = list(KILL_POINTS)[:5]  # the points before the run file is linked into place


@pytest.fixture(scope="module")
def earlier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A results folder holding one complete earlier run."""
    folder = tmp_path_factory.mktemp("earlier")
    scenarios = write_scenarios(folder, [FastFake], budget="warmup = 0\nwarmup_s = 0\nmin_samples = 5\ntime_s = 0.0")
    results = folder / "results"
    assert cli.main(["run", str(scenarios), "--results", str(results), "--no-progress", "--only", "T1"]) == 0
    return results


def _alive_or_zombie(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_killed_lab_loses_nothing_and_leaves_nothing(
    point: str, earlier: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = tmp_path / "results"
    shutil.copytree(earlier, results)
    before = {p.relative_to(results): p.read_bytes() for p in (results / "runs").glob("*.json")}
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    pids = tmp_path / "pids"
    pids.mkdir()
    scenarios = write_scenarios(
        tmp_path,
        [SleepyFake, FastFake],
        budget="warmup = 0\nwarmup_s = 0\nmin_samples = 6\nmax_samples = 6\ntime_s = 0.0",
    )
    module, path, nth, when = KILL_POINTS[point]
    argv = ["run", str(scenarios), "--results", str(results), "--no-progress", "--only", "T1"]
    script = DRIVER.format(repo=str(REPO), tests=str(TESTS), module=module, path=path, nth=nth, when=when, argv=argv)
    env = {**os.environ, "TMPDIR": str(scratch), "LAB_FAKE_PIDFILE": str(pids / "sleepy")}
    if when == "worker started":
        env["LAB_FAKE_SLEEP_S"] = "1.0"
    env.pop(history.ENV_VAR, None)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == -9, f"the lab was not killed at '{point}': {done.stderr[-2000:]}"

    # nothing left running: the sleepy worker (when it started) is gone within a moment
    if (pids / "sleepy").exists():
        worker = int((pids / "sleepy").read_text())
        deadline = time.monotonic() + 0.5
        while _alive_or_zombie(worker) not in (None, "Z") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _alive_or_zombie(worker) in (None, "Z"), f"worker {worker} outlived the lab"
    # what the next run does first, then nothing is left behind
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.delenv(history.ENV_VAR, raising=False)
    deadline = time.monotonic() + 5  # a guard removing the work folder of its dead runner
    while guard.sweep_workdirs(scratch) is None or list(scratch.glob("tgrad-lab-*")):
        assert time.monotonic() < deadline, f"work folders left: {list(scratch.iterdir())}"
        time.sleep(0.05)
    cli._tidy(results, results / "history.sqlite")
    assert list(scratch.iterdir()) == []
    assert [p for p in results.rglob(".tmp-*")] == []

    # nothing lost: earlier run files intact, every run file in the history, tables whole
    runs = sorted((results / "runs").glob("*.json"))
    assert {p.relative_to(results): p.read_bytes() for p in runs if p.relative_to(results) in before} == before
    with history.History(results / "history.sqlite") as h:
        assert {i.run_id for i in h.runs()} == {p.stem for p in runs}
        for info in h.runs():
            assert h.load(info.run_id)["cells"]
    with sqlite3.connect(results / "history.sqlite") as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    table = (results / "latest.md").read_text()
    assert table.startswith("## TGrad lab: ") and table.endswith("- fast-fake: fake engine with known timings\n")
    rows = (results / "latest.csv").read_text().splitlines()
    assert rows[0].startswith("scenario,title,engine,") and len({row.count(",") for row in rows}) == 1
    # a run killed before its file was in place wrote nothing (as an interrupted run); any later, it is kept
    assert len(runs) - len(before) == (0 if point in NOT_WRITTEN else 1)


def test_the_next_run_imports_a_run_file_the_history_never_got(
    earlier: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    results = tmp_path / "results"
    shutil.copytree(earlier, results)
    (results / "history.sqlite").unlink()  # as if the run had been killed before appending itself
    cli._tidy(results, results / "history.sqlite")
    err = capsys.readouterr().err
    run_file = next((results / "runs").glob("*.json"))
    assert f"note: {run_file} was not in the history (its run stopped before adding it): imported" in err
    with history.History(results / "history.sqlite") as h:
        assert [i.run_id for i in h.runs()] == [run_file.stem]
    cli._tidy(results, results / "history.sqlite")
    assert "note:" not in capsys.readouterr().err  # once in, never again


def test_sweeps_leave_live_owners_alone(tmp_path: Path) -> None:
    mine, dead, fresh = (tmp_path / f"{guard.WORKDIR_PREFIX}{name}" for name in ("mine", "dead", "fresh"))
    for folder in (mine, dead, fresh):
        folder.mkdir()
    guard.write_owner(mine)
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone = int(done.stdout)  # a process that has exited
    (dead / guard.OWNER_FILE).write_text(f'{{"pid": {gone}, "start": null}}')
    assert guard.sweep_workdirs(tmp_path) == [dead]  # fresh: no owner yet, but too young to be stale
    assert mine.is_dir() and fresh.is_dir() and not dead.exists()
    live, stale = tmp_path / f".tmp-{os.getpid()}-a.part", tmp_path / f".tmp-{gone}-b.part"
    live.write_text("x")
    stale.write_text("x")
    assert guard.sweep_temp_files(tmp_path) == [stale] and live.exists()
