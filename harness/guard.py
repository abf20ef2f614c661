"""Nothing outlives the lab: worker processes die with the runner, and temporary files of a runner that
was killed are removed by the next one.

`python -m harness.guard REQUEST.json` is what the runner starts for each cell, in a session (and
process group) of its own. The guard starts the worker (`python -m harness.worker REQUEST.json`) in
that group and waits; its exit status is the worker's (128 + N when the worker died of signal N).
- When the runner dies, however it dies (SIGKILL included), the guard is told at once by the kernel
  (prctl PR_SET_PDEATHSIG on Linux, via ctypes; elsewhere it notices within POLL_S that its parent
  changed): it kills every other process of its group (the worker and whatever the worker started:
  compilers, search pools), reaps them, removes the run's work folder and exits.
- When the runner stops a cell (a timeout, an interrupted run) it sends SIGUSR1 (`stop`): the guard
  kills and reaps the same way and leaves the work folder, which the runner still uses.
The guard is a child subreaper (PR_SET_CHILD_SUBREAPER), so the worker's own children are reaped by it
rather than left as zombies of an init that may not reap them.

A runner's work folder (`<tmp>/tgrad-lab-*`) holds an `owner` file (pid and process start time);
`sweep_workdirs` removes the folders whose owner is gone. Temporary files of atomic writes carry the
writer's pid in their name (`.tmp-<pid>-*.part`); `sweep_temp_files` removes those of dead writers.
The runner calls both when it starts.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER = 1, 36  # linux/prctl.h
POLL_S = 0.05
REAP_S = 2.0  # how long the guard waits for killed processes to be reaped
WORKDIR_PREFIX = "tgrad-lab-"
OWNER_FILE = "owner"
TEMP_NAME = re.compile(r"\.tmp-(\d+)-.*\.part")


def start_time(pid: int) -> int | None:
    """When a process started (clock ticks since boot, /proc/<pid>/stat field 22); None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])  # fields after the command name, which may hold spaces


def alive(pid: int, started: int | None = None) -> bool:
    """Whether process `pid` exists and, when `started` is given and knowable, is the same process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    if started is not None:
        now = start_time(pid)
        return now is None or now == started
    return True


def write_owner(folder: Path) -> None:
    """Mark `folder` as this process's work folder."""
    (folder / OWNER_FILE).write_text(json.dumps({"pid": os.getpid(), "start": start_time(os.getpid())}))


def sweep_workdirs(parent: Path | None = None) -> list[Path]:
    """Remove the work folders under `parent` (the temporary folder) whose runner is gone."""
    removed = []
    for folder in Path(parent or _tempdir()).glob(f"{WORKDIR_PREFIX}*"):
        try:
            owner = json.loads((folder / OWNER_FILE).read_text())
            pid, started = int(owner["pid"]), owner.get("start")
        except (OSError, ValueError, KeyError, TypeError):
            # no owner yet: a runner between creating the folder and marking it, unless it is old
            if time.time() - _mtime(folder) < 60:
                continue
            pid, started = -1, None
        if pid > 0 and alive(pid, started):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def temp_prefix() -> str:
    """The prefix of this process's temporary files (atomic writes)."""
    return f".tmp-{os.getpid()}-"


def sweep_temp_files(folder: Path) -> list[Path]:
    """Remove temporary files of atomic writes in `folder` whose writer is gone."""
    removed = []
    for path in folder.glob(".tmp-*.part"):
        match = TEMP_NAME.fullmatch(path.name)
        if match is not None and alive(int(match.group(1))):
            continue
        if match is None and time.time() - _mtime(path) < 3600:
            continue  # an older harness's name without a pid: removed once it is an hour old
        with contextlib.suppress(OSError):
            path.unlink()
            removed.append(path)
    return removed


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _tempdir() -> str:
    import tempfile

    return tempfile.gettempdir()


def _prctl(option: int, value: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    return int(libc.prctl(option, value, 0, 0, 0)) == 0


def die_with_parent(signum: int) -> bool:
    """Ask the kernel to send `signum` to this process when its parent dies (Linux). False elsewhere."""
    return _prctl(PR_SET_PDEATHSIG, signum)


def stop(process: subprocess.Popen[bytes], wait_s: float = 5.0) -> None:
    """Stop a guard started by the runner and everything it started: SIGUSR1, then SIGKILL to its
    whole group if it has not exited within `wait_s`."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGUSR1)
    try:
        process.wait(timeout=wait_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def kill_group_members() -> None:
    """SIGKILL every other process of this process's group (Linux: found in /proc; elsewhere the
    whole group, this process included)."""
    group, me = os.getpgrp(), os.getpid()
    if not Path("/proc").is_dir():
        os.killpg(group, signal.SIGKILL)
        return
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != me:
            with contextlib.suppress(OSError):
                if os.getpgid(int(entry)) == group:
                    os.kill(int(entry), signal.SIGKILL)


class _Stop(Exception):
    def __init__(self, orphaned: bool):
        super().__init__("orphaned" if orphaned else "stopped")
        self.orphaned = orphaned


def _orphaned(signum: int, frame: FrameType | None) -> None:
    raise _Stop(orphaned=True)


def _stopped(signum: int, frame: FrameType | None) -> None:
    raise _Stop(orphaned=False)


def _reap(deadline_s: float) -> None:
    """Wait for every child (the worker, and descendants this subreaper adopted) until none is left or
    the deadline passes."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.01)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m harness.guard REQUEST.json", file=sys.stderr)
        return 2
    runner = int(os.environ.get("TGRAD_LAB_RUNNER", os.getppid()))
    signal.signal(signal.SIGTERM, _orphaned)
    signal.signal(signal.SIGUSR1, _stopped)
    die_with_parent(signal.SIGTERM)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    request = Path(argv[0])
    try:
        if os.getppid() != runner:
            raise _Stop(orphaned=True)  # the runner died before the kernel was asked to tell us
        worker = subprocess.Popen([sys.executable, "-m", "harness.worker", str(request)])
        while True:
            code = worker.poll()
            if code is not None:
                kill_group_members()  # whatever the worker left running
                _reap(REAP_S)
                return code if code >= 0 else 128 - code
            if os.getppid() != runner:
                raise _Stop(orphaned=True)
            time.sleep(POLL_S)
    except _Stop as why:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)
        kill_group_members()
        _reap(REAP_S)
        if why.orphaned:
            shutil.rmtree(request.parent, ignore_errors=True)  # the run's work folder
        return 137


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
