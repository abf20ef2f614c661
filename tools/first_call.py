"""First calls with an empty kernel cache, side by side: every scenario's first call (what the lab's `tgrad` cell
records: `(a @ b).realize()` after the inputs are realized, TGRAD_CACHE=off) in a fresh process per measurement,
the variants alternating within each round, so a slow stretch of a shared machine hits them all. Each process then
makes `--calls` more calls; the first call's overhead is the first call less their median (the compute every call
pays: 2048^3 alone is about 90 ms at the two cores' peak here). Prints per scenario and variant the medians and the
spread (min-max) over the rounds in milliseconds, as a Markdown table.

    python tools/first_call.py scenarios/five.toml scenarios/odd.toml --rounds 7 \\
        --variant after= --variant before=PYTHONPATH=.cache/before-site --variant aot-off=TGRAD_AOT=0

A variant is NAME=[VAR=VALUE[,VAR=VALUE...]]: the environment its processes get on top of this one (nothing: the
installed tgrad as it is). Run it from the repository root with the venv's Python.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def worker(path: str, name: str, calls: int) -> None:
    """Time the first call and `calls` more in this process; print them (seconds) as JSON."""
    sys.path.insert(0, str(ROOT))
    from harness.engines.tgrad_engine import Tgrad
    from harness.scenario import load
    from harness.workload import make_inputs

    scenario = next(s for s in load(path).scenarios if s.name == name)
    engine = Tgrad()
    os.environ.update(engine.environment(None))  # type: ignore[arg-type]  # Tgrad's ignores the context
    engine.load()
    step = engine.prepare(make_inputs(scenario), scenario.device)
    seconds = []
    for _ in range(1 + calls):
        start = time.perf_counter()
        step.step()
        seconds.append(time.perf_counter() - start)
    print(json.dumps({"seconds": seconds}))


def measure(path: str, name: str, env: dict[str, str], calls: int) -> tuple[float, float]:
    """(first call, median of the calls after it) in seconds, in a fresh process."""
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", path, name, str(calls)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed with {env}:\n{proc.stderr[-2000:]}")
    seconds = json.loads(proc.stdout.strip().splitlines()[-1])["seconds"]
    return seconds[0], statistics.median(seconds[1:])


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    name, _, assignments = text.partition("=")
    env = dict(a.split("=", 1) for a in assignments.split(",") if a)
    return name, env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", help="scenario files")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=3, help="calls after the first, per process")
    parser.add_argument("--variant", action="append", default=[], help="NAME=[VAR=VALUE,...] (repeatable)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.files[0], args.files[1], int(args.files[2]))
        return 0
    sys.path.insert(0, str(ROOT))
    from harness.scenario import load

    variants = [parse_variant(v) for v in args.variant] or [("tgrad", {})]
    cells = [(str(f), s.name) for f in args.files for s in load(f).scenarios]
    times: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for r in range(args.rounds):
        for path, name in cells:
            # alternate which variant goes first, so neither always runs right after the other
            order = variants if r % 2 == 0 else variants[::-1]
            for vname, env in order:
                times.setdefault((name, vname), []).append(measure(path, name, env, args.calls))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

    def cell(values: list[float]) -> str:
        ms = [1e3 * v for v in values]
        return f"{statistics.median(ms):.2f} ({min(ms):.2f}-{max(ms):.2f})"

    cols = [f"{v}: {what}" for v, _ in variants for what in ("first call", "later calls", "first-call overhead")]
    print("| scenario | " + " | ".join(cols) + " |\n|---|" + "---|" * len(cols))
    for _, name in cells:
        row = []
        for vname, _ in variants:
            t = times[(name, vname)]
            row += [cell([f for f, _ in t]), cell([s for _, s in t]), cell([f - s for f, s in t])]
        print(f"| {name} | " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
