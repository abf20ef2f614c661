"""Run corpus cases against an engine, every case in a forked child of its own, and write one JSON line per case.

    python tests/robust/corpus_runner.py --engine tgrad --out results.jsonl [--profile full] [--jobs 2]

The runner imports numpy and the case modules, never running a kernel itself, so it stays single-threaded and safe
to fork. Cases that set environment variables run first, each child importing the engine after setting them (the
engine reads its settings on first use, as in a fresh process); then the runner imports the engine once and forks a
child per remaining case. Each child runs in a process group of its own with its output captured in a file, and
reports its outcome through a pipe. The runner turns a child that dies by a signal (or without a report) into a
`crash` and one past its time limit into a `hang` (the whole group is killed), so every crash or hang is attributed
to the one case that caused it.
"""

from __future__ import annotations

import os

# before numpy loads: OpenBLAS would start threads, and forking a threaded process is unsafe
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["OMP_NUM_THREADS"] = "1"

import argparse
import atexit
import dataclasses
import importlib
import json
import resource
import select
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import Case, judge
from corpus_cases import all_cases

# a case's address space: a runaway allocation fails in the child instead of pushing the machine into swap or
# the OOM killer (tgrad reports an allocation it cannot get as OutOfMemoryError)
ADDRESS_SPACE = 16 << 30
# tinygrad gets less time per case: only its class of outcome is compared
TINYGRAD_TIMEOUT = 20.0
DETAIL_CHARS = 1500


@dataclasses.dataclass
class Running:
    case: Case
    pid: int
    fd: int
    out: IO[bytes]
    start: float
    data: bytes = b""


def _child(case: Case, engine: str, w: int, out: IO[bytes]) -> None:
    """The forked child: run one case and write its outcome to the pipe. Never returns."""
    try:
        os.setpgid(0, 0)
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
        hard = resource.getrlimit(resource.RLIMIT_AS)[1]
        soft = ADDRESS_SPACE if hard == resource.RLIM_INFINITY else min(ADDRESS_SPACE, hard)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        for k, v in case.env:
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

        def output() -> str:
            sys.stdout.flush()
            sys.stderr.flush()
            out.seek(0)
            return out.read().decode(errors="replace")

        outcome, detail = judge(case, engine, output)
        report = {"outcome": outcome, "detail": detail[:DETAIL_CHARS]}
    except BaseException as e:  # the runner's own failure inside the child: reported, never silent
        report = {"outcome": "crash", "detail": f"the case's child failed outside the case: {e!r}"[:DETAIL_CHARS]}
    try:
        atexit._run_exitfuncs()  # the engine's own clean-up (e.g. TGRAD_CACHE=off's directory), as at a normal exit
        sys.stdout.flush()
        sys.stderr.flush()
        os.write(w, json.dumps(report).encode())
    finally:
        os._exit(0)


def _start(case: Case, engine: str) -> Running:
    r, w = os.pipe()
    out = tempfile.TemporaryFile()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        _child(case, engine, w, out)
    os.close(w)
    return Running(case, pid, r, out, time.monotonic())


def _tail(out: IO[bytes]) -> str:
    out.seek(0)
    return out.read().decode(errors="replace")[-600:]


def _finish(run: Running, status: int | None) -> dict:
    """The outcome of a finished (status) or timed-out (None) child; reaps its process group."""
    try:
        os.killpg(run.pid, signal.SIGKILL)  # compilers or helpers the case left running
    except (ProcessLookupError, PermissionError):
        pass
    if status is None:
        os.waitpid(run.pid, 0)
        outcome, detail = "hang", f"still running after {run.case.timeout:g} s; output: {_tail(run.out)!r}"
    else:
        code = os.waitstatus_to_exitcode(status)
        if code < 0:
            name = signal.Signals(-code).name
            outcome, detail = "crash", f"killed by {name}; output: {_tail(run.out)!r}"
        elif not run.data:
            outcome, detail = "crash", f"exited with {code} without a report; output: {_tail(run.out)!r}"
        else:
            report = json.loads(run.data)
            outcome, detail = report["outcome"], report["detail"]
    os.close(run.fd)
    run.out.close()
    seconds = round(time.monotonic() - run.start, 3)
    return {"cid": run.case.cid, "category": run.case.category, "outcome": outcome, "detail": detail, "s": seconds}


def run_cases(cases: list[Case], engine: str, jobs: int, timeout_cap: float | None) -> list[dict]:
    pending = list(reversed(cases))
    running: dict[int, Running] = {}
    done: list[dict] = []
    while pending or running:
        while pending and len(running) < jobs:
            case = pending.pop()
            if timeout_cap is not None:
                case = dataclasses.replace(case, timeout=min(case.timeout, timeout_cap))
            run = _start(case, engine)
            running[run.fd] = run
        now = time.monotonic()
        wait = min(r.start + r.case.timeout for r in running.values()) - now
        ready, _, _ = select.select(list(running), [], [], max(0.0, min(wait, 1.0)))
        for fd in ready:
            run = running[fd]
            chunk = os.read(fd, 1 << 16)
            if chunk:
                run.data += chunk
                continue
            _, status = os.waitpid(run.pid, 0)
            done.append(_finish(running.pop(fd), status))
        now = time.monotonic()
        for fd, run in list(running.items()):
            if now > run.start + run.case.timeout:
                done.append(_finish(running.pop(fd), None))
    return done


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


def run_engine(
    engine: str, profile: str, jobs: int, only: str | None = None, every: int = 1, exclude: str | None = None
) -> list[dict]:
    cases = [c for c in all_cases(profile) if engine == "tgrad" or c.api]
    if only:
        cases = [c for c in cases if c.cid.startswith(only)]
    if exclude:
        cases = [c for c in cases if not c.cid.startswith(exclude)]
    cases = cases[::every]
    cap = TINYGRAD_TIMEOUT if engine == "tinygrad" else None
    with_env = [c for c in cases if c.env]
    results = run_cases(with_env, engine, jobs, cap)
    importlib.import_module(engine)
    if _threads() != 1:
        raise RuntimeError(f"importing {engine} started {_threads() - 1} thread(s); forking it would be unsafe")
    results += run_cases([c for c in cases if not c.env], engine, jobs, cap)
    order = {c.cid: i for i, c in enumerate(cases)}
    return sorted(results, key=lambda r: order[r["cid"]])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--engine", choices=("tgrad", "tinygrad"), default="tgrad")
    p.add_argument("--profile", choices=("default", "full"), default="default")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--only", help="run only the cases whose id starts with this")
    p.add_argument("--every", type=int, default=1, help="run every n-th case only (a deterministic slice)")
    p.add_argument("--exclude", help="leave out the cases whose id starts with this")
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args(argv)
    for k in [k for k in os.environ if k.startswith("TGRAD_")]:
        del os.environ[k]  # every case states the settings it runs with
    if a.engine == "tinygrad":
        os.environ["DEV"] = "CPU"
    scratch = tempfile.mkdtemp(prefix="tgrad-corpus-")
    # the cases' files and every temporary directory the engines make go here, removed when the run ends
    os.environ.update({"CORPUS_TMP": scratch, "TMPDIR": scratch})
    try:
        results = run_engine(a.engine, a.profile, a.jobs, a.only, a.every, a.exclude)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    tmp = a.out.with_name(a.out.name + ".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in results))
    tmp.replace(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
