"""The runner: every (scenario, engine) cell in its own worker process, then agreement per scenario.

The runner produces the run record (a dict that store.py writes as JSON); it judges nothing. For each
scenario the seeded inputs are generated once and written to a file every worker loads, so every
engine gets the same bytes. Cells of one scenario run side by side (optionally for several rounds,
alternating engines) so their ratios come from the same conditions. After a scenario's cells, its
outputs are compared with the float64 oracle and with the reference engine (upstream tinygrad).
"""

from __future__ import annotations

import dataclasses
import datetime
import fnmatch
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np

from harness import exact, fingerprint, guard
from harness.agreement import compare, difference
from harness.engines import Engine, EngineContext, UnknownEngine, resolve
from harness.engines.oracle import WholeBound, reference_model
from harness.peak import PeakError
from harness.progress import Progress
from harness.record import SCHEMA_VERSION, CeilingRecord, RoundCeilingRecord, RunRecord
from harness.scenario import Scenario, ScenarioFile
from harness.workload import Inputs, make_inputs

__all__ = ["Refused", "RunOptions", "SelectionError", "UnknownEngine", "run", "select"]

REPO_ROOT = Path(__file__).resolve().parent.parent
POLL_S = 0.05
# outcomes a later round cannot change: such a cell runs in the first round only
SETTLED_STATUSES = frozenset({"unavailable", "unsupported", "search-timeout"})


@dataclasses.dataclass(frozen=True)
class RunOptions:
    quick: bool = False
    only: tuple[str, ...] = ()  # scenario name patterns (fnmatch); empty: all
    engines: tuple[str, ...] = ()  # engine names or specs; empty: the file's list
    seed: int | None = None  # replaces every scenario's seed
    search_limit_s: float | None = None  # replaces budget.search_limit_s
    fresh_search: bool = False  # BEAM ignores its cache
    rounds: int = 1  # alternations of all engines per scenario, one process per cell and round
    load_limit_s: float = 120.0  # importing the library in the worker
    cache_dir: Path = REPO_ROOT / ".cache"
    python: str = sys.executable
    progress: bool = True

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["cache_dir"] = str(self.cache_dir)
        return d


class SelectionError(ValueError):
    """--only or --engines selected nothing."""


class Refused(RuntimeError):
    """An engine's library must not be timed (a debug build): the run stops, nothing is written."""


@dataclasses.dataclass(frozen=True)
class _Planned:
    spec: str
    engine: Engine


def select(sfile: ScenarioFile, options: RunOptions) -> tuple[list[Scenario], list[_Planned]]:
    scenarios = [
        s for s in sfile.scenarios if not options.only or any(fnmatch.fnmatch(s.name, p) for p in options.only)
    ]
    if options.seed is not None:
        scenarios = [dataclasses.replace(s, seed=options.seed) for s in scenarios]
    if options.search_limit_s is not None:
        scenarios = [
            dataclasses.replace(s, budget=dataclasses.replace(s.budget, search_limit_s=options.search_limit_s))
            for s in scenarios
        ]
    planned = [_Planned(spec, resolve(spec)) for spec in sfile.lab.engines]
    if options.engines:
        # the file's engines in its order, then any other engine named (a registry name or a spec), so
        # a one-off comparison (tgrad-other beside tgrad) needs no edited scenario file
        chosen = [p for p in planned if p.spec in options.engines or p.engine.name in options.engines]
        known = {p.spec for p in chosen} | {p.engine.name for p in chosen}
        planned = chosen + [_Planned(spec, resolve(spec)) for spec in options.engines if spec not in known]
    if not scenarios:
        raise SelectionError(f"--only {','.join(options.only)} matches no scenario in {sfile.path}")
    if not planned:
        raise SelectionError(f"--engines {','.join(options.engines)} matches no engine of {sfile.path}")
    return scenarios, planned


def _read_events(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    events = []
    for line in path.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            break  # a line being written; the next poll sees it whole
    return events


def _kill(process: subprocess.Popen[bytes]) -> None:
    """Stop a cell's guard, its worker and whatever the worker started (harness.guard)."""
    guard.stop(process)


def _tail(path: Path, chars: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


class _CellRun:
    """One worker process, supervised phase by phase against the cell's limits."""

    def __init__(self, scenario: Scenario, planned: _Planned, round_index: int, workdir: Path, options: RunOptions):
        self.scenario, self.planned, self.round, self.options = scenario, planned, round_index, options
        stem = f"{scenario.name}-{planned.engine.name}-r{round_index}"
        self.request_path = workdir / f"{stem}.request.json"
        self.events_path = workdir / f"{stem}.events.jsonl"
        self.log_path = workdir / f"{stem}.log"
        self.output_path = workdir / f"{stem}.out.npy"
        self.context = EngineContext(cache_dir=options.cache_dir, fresh_search=options.fresh_search)
        self.budget = planned.engine.cell_budget(scenario.budget)

    def record(self, status: str, **fields: Any) -> dict[str, Any]:
        engine = self.planned.engine
        # an engine that stands in for a GPU says so in every cell: its times are not GPU timings
        marked = {"emulated": engine.emulated} if engine.emulated else {}
        return {
            "scenario": self.scenario.name,
            "engine": engine.name,
            "spec": self.planned.spec,
            "family": engine.family,
            "round": self.round,
            "status": status,
            **marked,
            **fields,
        }

    def run(self, inputs_path: Path, progress: Progress) -> dict[str, Any]:
        engine, scenario = self.planned.engine, self.scenario
        if self.options.quick and engine.searches:
            reason = "left out by --quick (a BEAM search takes minutes per shape)"
            return self.record("skipped", reason=reason)
        # numpy is only a loader in the tinygrad and tgrad workers: one BLAS thread there, so an
        # idle OpenBLAS pool (which spins after start-up) never competes with the engine measured
        blas = {} if engine.family == "numpy" else {"OPENBLAS_NUM_THREADS": "1"}
        env_overrides = {**blas, **engine.environment(self.context)}
        if engine.searches:
            self.options.cache_dir.mkdir(parents=True, exist_ok=True)
        request = {
            "engine": self.planned.spec,
            "inputs": str(inputs_path),
            "op": scenario.op,
            "layout": scenario.layout,
            "device": scenario.device,
            "budget": dataclasses.asdict(self.budget),
            "events": str(self.events_path),
            "output": str(self.output_path),
        }
        self.request_path.write_text(json.dumps(request))
        env = {**os.environ, **env_overrides}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
        # the worker's temporary files (tgrad's TGRAD_CACHE=off folder, compilers' files) live in the
        # run's work folder, so they go with it even when a process is killed before cleaning up
        env["TMPDIR"] = str(self.request_path.parent / "tmp")
        env["TGRAD_LAB_RUNNER"] = str(os.getpid())  # the guard dies with this process (harness.guard)
        command = [self.options.python, "-m", "harness.guard", str(self.request_path)]
        started = time.monotonic()
        with open(self.log_path, "wb") as log:
            process = subprocess.Popen(
                command, env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
            try:
                outcome = self._supervise(process, progress)
            finally:
                _kill(process)
        outcome["env"] = env_overrides
        outcome["wall_s"] = time.monotonic() - started
        return outcome

    def _limit(self, events: list[dict[str, Any]]) -> tuple[str, float, float]:
        """(phase, seconds allowed in it, time.time() when it began)."""
        budget, names = self.budget, [e["event"] for e in events]
        if "first_call_done" in names:
            done = events[names.index("first_call_done")]
            per_call = max(float(done["seconds"]), 0.01)
            allowed = budget.warmup_s + budget.time_s + (budget.warmup + budget.min_samples + 2) * per_call * 1.5 + 60
            return "steady", allowed, float(done["t"])
        if "loaded" in names:
            limit = budget.search_limit_s if self.planned.engine.searches else budget.first_call_limit_s
            return "first_call", limit, float(events[names.index("loaded")]["t"])
        return "import", self.options.load_limit_s, self.spawned_at

    def _supervise(self, process: subprocess.Popen[bytes], progress: Progress) -> dict[str, Any]:
        self.spawned_at = time.time()
        while True:
            code = process.poll()
            events = _read_events(self.events_path)
            if code is not None:
                return self._finish(code, _read_events(self.events_path))
            phase, allowed, since = self._limit(events)
            if time.time() - since > allowed:
                _kill(process)
                return self._timed_out(phase, allowed, _read_events(self.events_path))
            progress.tick()
            time.sleep(POLL_S)

    def _loaded_fields(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for event in events:
            if event["event"] == "loaded":
                fields["info"], fields["import_s"] = event["info"], event["import_s"]
            if event["event"] == "first_call_done":
                fields["first_call_s"] = event["seconds"]
        return fields

    def _timed_out(self, phase: str, allowed: float, events: list[dict[str, Any]]) -> dict[str, Any]:
        fields = self._loaded_fields(events)
        if phase == "first_call" and self.planned.engine.searches:
            fields["search_s"] = allowed
            reason = f"search did not finish within {allowed:.0f} s (search_limit_s)"
            return self.record("search-timeout", reason=reason, **fields)
        reason = f"{phase.replace('_', ' ')} did not finish within {allowed:.0f} s"
        return self.record("timeout", reason=reason, log_tail=_tail(self.log_path), **fields)

    def _finish(self, code: int, events: list[dict[str, Any]]) -> dict[str, Any]:
        fields = self._loaded_fields(events)
        last = events[-1] if events else {"event": "none"}
        kind = last["event"]
        if kind == "unavailable":
            return self.record("unavailable", reason=last["reason"])
        if kind == "refused":
            raise Refused(last["reason"])
        if kind == "unsupported":
            return self.record("unsupported", reason=last["reason"], **fields)
        if kind == "error":
            return self.record("error", reason=last["message"], traceback=last["traceback"], **fields)
        if kind == "result" and code == 0:
            keep = ("samples", "warmup", "inner", "stop_reason", "self_timed")
            measured = {key: last[key] for key in keep}
            if isinstance(last.get("facts"), dict):  # what the engine states about its kernels
                measured["facts"] = last["facts"]
            wrong = [t for t in [*measured["samples"], *measured["warmup"]] if not _positive_time(t)]
            if wrong:
                reason = f"the engine reported {len(wrong)} time(s) that are not positive finite seconds: {wrong[:3]}"
                return self.record("error", reason=reason, **fields)
            if self.planned.engine.searches and "first_call_s" in fields:
                fields["search_s"] = fields["first_call_s"]
            return self.record("ok", output=str(self.output_path), **fields, **measured)
        reason = f"worker exited with code {code} after event '{kind}'"
        return self.record("error", reason=reason, log_tail=_tail(self.log_path), **fields)


def _positive_time(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < math.inf


def _depth(cell: dict[str, Any]) -> int | None:
    """The plan's rounding depth from the cell's kernel facts (None: no plan stated one)."""
    depth = cell.get("facts", {}).get("rounding_depth")
    return depth if isinstance(depth, int) and not isinstance(depth, bool) and depth >= 1 else None


def _agreement(scenario: Scenario, cells: list[dict[str, Any]], inputs: Inputs, reference_engine: str | None) -> None:
    """Attach agreement data to each ok cell of one scenario (in place): the oracle with gamma_K and, where
    the cell's plan states its rounding depth, gamma_D; and the exact check of sampled outputs."""
    ok_cells = [c for c in cells if c["status"] == "ok"]
    if not ok_cells:
        return
    oracle, model = reference_model(inputs, scenario.dtype)
    bound = model.bound()
    reference_output = None
    for cell in ok_cells:
        if cell["engine"] == reference_engine:
            reference_output = np.load(cell["output"])
            break
    # a bound derived whole (the training step's) has no rounding depth and no dot products to sample
    whole = isinstance(model, WholeBound)
    positions = None if whole else exact.sample_positions(tuple(oracle.shape), scenario.seed)
    for cell in ok_cells:
        out = np.load(cell.pop("output"))
        depth = None if whole else _depth(cell)
        bound_d = model.bound(depth) if depth is not None else None
        entry: dict[str, Any] = {"dtype": str(out.dtype), "shape": list(out.shape)}
        if out.shape != oracle.shape:
            entry["oracle"] = None
            entry["error"] = f"output shape {out.shape} differs from the expected {oracle.shape}"
        else:
            entry["oracle"] = compare(out, oracle, bound, depth=depth, bound_d=bound_d).as_dict()
            if str(out.dtype) != scenario.dtype:
                entry["error"] = f"output dtype {out.dtype} differs from the scenario's {scenario.dtype}"
            if positions is not None:
                a, b = inputs.logical_a(), inputs.logical_b()
                exact_bound = model.bound(depth, oracle=None)
                relu = inputs.bias is not None
                checked = exact.check(out, a, b, inputs.bias, exact_bound, depth=depth, relu=relu, positions=positions)
                if checked is not None:
                    entry["exact"] = checked.as_dict()
        if reference_output is not None and reference_output.shape == out.shape:
            entry["reference"] = {"engine": reference_engine, **difference(out, reference_output).as_dict()}
        cell["agreement"] = entry


def _measure_round(
    record: dict[str, Any], measure: Callable[[str, int], RoundCeilingRecord], scenario: str, round_index: int
) -> None:
    """Append the ceilings measured before one round to the record; a failed probe leaves the round out."""
    try:
        record.setdefault("round_ceilings", []).append(measure(scenario, round_index))
    except PeakError:
        pass


def run(
    sfile: ScenarioFile,
    options: RunOptions,
    argv: list[str] | None = None,
    ceiling: Callable[[dict[str, Any]], CeilingRecord] | None = None,
    round_ceiling: Callable[[str, int], RoundCeilingRecord] | None = None,
) -> RunRecord:
    """Run every selected cell and return the run record (not yet written anywhere). `ceiling`, given the
    run's fingerprint before any cell runs, returns the machine ceilings the table reads the cells against
    (harness/ceiling.py: the history's latest peak, or one measured then); without it the run has none.
    `round_ceiling(scenario, round)` measures them again just before each round of a CPU scenario (where the
    run has ceilings); a round it fails for (PeakError) is read against the run's."""
    scenarios, planned = select(sfile, options)
    started = datetime.datetime.now(datetime.UTC)
    host = socket.gethostname().split(".")[0] or "host"
    names = {p.spec: p.engine.name for p in planned}
    lab = sfile.lab
    record: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "kind": "tgrad-lab-run",
        "run_id": f"{started.strftime('%Y%m%dT%H%M%SZ')}-{host}",
        "started": started.isoformat(),
        "host": host,
        "argv": list(argv or []),
        "profile": "quick" if options.quick else "full",
        "scenario_file": {"path": sfile.path, "sha256": sfile.sha256},
        "lab": {
            "engines": [p.engine.name for p in planned],
            "subject": names.get(lab.subject, lab.subject),
            "subject_single_thread": names.get(lab.subject_single_thread or "", lab.subject_single_thread),
            "reference": names.get(lab.reference or "", lab.reference),
            "descriptions": {p.engine.name: p.engine.description for p in planned},
            "threads": {p.engine.name: p.engine.threads for p in planned if p.engine.threads},
        },
        "options": options.as_dict(),
        "fingerprint": fingerprint.collect(),
        "scenarios": [s.to_dict() for s in scenarios],
        "cells": [],
    }
    if ceiling is not None and any(s.device.upper() == "CPU" for s in scenarios):  # the CPU's ceilings only
        record["ceiling"] = ceiling(record["fingerprint"])
    # a run without ceilings has nothing to read each round's against
    measure = round_ceiling if record.get("ceiling", {}).get("source", "none") != "none" else None
    progress = Progress(len(scenarios) * len(planned) * options.rounds, enabled=options.progress)
    try:
        guard.sweep_workdirs()  # work folders of runners that were killed
        with tempfile.TemporaryDirectory(prefix=guard.WORKDIR_PREFIX) as tmp:
            workdir = Path(tmp)
            guard.write_owner(workdir)
            (workdir / "tmp").mkdir()
            for scenario in scenarios:
                inputs = make_inputs(scenario)
                inputs_path = workdir / f"{scenario.name}.inputs.npz"
                inputs.save(inputs_path)
                cells: list[dict[str, Any]] = []
                settled: set[str] = set()  # engines whose outcome another round cannot change
                for round_index in range(options.rounds):
                    if measure is not None and scenario.device.upper() == "CPU":
                        _measure_round(record, measure, scenario.name, round_index)
                    for item in planned:
                        if item.engine.name in settled:
                            progress.skip()
                            continue
                        progress.begin(f"{scenario.name} {item.engine.name}")
                        cell = _CellRun(scenario, item, round_index, workdir, options).run(inputs_path, progress)
                        progress.end(cell["status"])
                        cells.append(cell)
                        # a missing library, an unsupported op or a BEAM search past its limit
                        # would only repeat (a timed-out search caches nothing): run it once
                        if cell["status"] in SETTLED_STATUSES:
                            settled.add(item.engine.name)
                _agreement(scenario, cells, inputs, record["lab"]["reference"])
                record["cells"].extend(cells)
    finally:
        progress.close()
    record["finished"] = datetime.datetime.now(datetime.UTC).isoformat()
    return cast(RunRecord, record)
