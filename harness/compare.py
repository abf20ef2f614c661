"""Comparison: a run record -> the table's data (rows, speedups with CIs, agreement verdicts).

Everything here returns data; report.py formats it. A cell's rounds (one process each) are kept
apart: its median is the median of its round medians, its spread that of all its samples pooled
(stats.summarize_rounds). Speedups are ratios of medians measured side by side in the same run:
median(engine) / median(subject), so a value above 1 means the subject (tgrad) is faster than that
engine. `Ratios` is the one place that computes them (the table, the history's frames and the plots all
ask it): each cell's rounds are resampled once (rounds, then samples within them) with a seed derived
from the cell's scenario and engine names, so a cell's CI does not depend on which other scenarios or
engines ran beside it, and every ratio it takes part in reuses its bootstrap medians.
"""

from __future__ import annotations

import dataclasses
import zlib
from typing import cast

import numpy as np

from harness.ceiling import CellCeiling, read_cell
from harness.record import CeilingRecord, CellRecord, FingerprintRecord, PooledCell, RoundCeilingRecord, RunRecord
from harness.stats import Interval, Summary, bootstrap_round_medians, ratio_interval, round_median, summarize_rounds

RESAMPLES = 2000

# statuses that carry no timings; each is shown as a state of its own, never dropped
NOT_MEASURED = ("unavailable", "unsupported", "skipped", "search-timeout", "timeout", "error")
FAILING = ("error", "timeout")


@dataclasses.dataclass(frozen=True)
class Row:
    scenario: str
    title: str
    engine: str
    status: str  # ok or one of NOT_MEASURED
    reason: str
    summary: Summary | None  # seconds per call
    gflops: float | None
    first_call_s: float | None  # the median over the cell's rounds (a searching cell: its first round's)
    search_s: float | None
    speedup: Interval | None  # median(this engine) / median(subject)
    speedup_single_thread: Interval | None  # median(this engine) / median(subject restricted to 1 thread)
    agreement_ok: bool | None  # None: nothing to judge
    agreement_ratio: float | None  # max error / bound (<= 1 passes)
    max_ulp: int | None
    reference_max_ulp: int | None  # distance from the reference engine's output
    reference_max_abs: float | None
    reference_identical: bool | None
    agreement_error: str | None
    emulated: str | None = None  # what stood in for the GPU: the times are not GPU timings
    certified: str | None = None  # "yes" / "no: why" for an engine that reports its kernels; None otherwise
    rounding_depth: int | None = None  # the plan's rounding depth D, where it states one
    agreement_ratio_d: float | None = None  # max error / gamma_D bound (None: no depth stated)
    exact_ratio: float | None = None  # max |out - exact| / bound over the sampled outputs
    exact_samples: int | None = None  # how many outputs the exact check covered
    exact_bound: str | None = None  # which bound the exact check used: "D" or "K"
    ceiling: CellCeiling | None = None  # the cell against the machine's FP32 peak or bandwidth (harness/ceiling.py)
    first_call_range: tuple[float, float] | None = None  # (fastest, slowest) first call over two or more rounds


@dataclasses.dataclass(frozen=True)
class Verdict:
    scenario: str
    title: str
    version: str | None  # None: an imported pytest-benchmark scenario
    seed: int
    ok: bool | None  # None when no engine produced an output
    worst_engine: str | None
    worst_ratio: float | None
    failures: tuple[str, ...]  # one message per failing engine


@dataclasses.dataclass(frozen=True)
class Table:
    run_id: str
    profile: str
    subject: str | None
    subject_single_thread: str | None
    reference: str | None
    rows: tuple[Row, ...]
    verdicts: tuple[Verdict, ...]
    notes: tuple[str, ...]
    reproduce: str  # command line that reruns a scenario: format with scenario and seed
    machine: str  # one line from the fingerprint
    ceiling: CeilingRecord | None = None  # the ceilings the run recorded (None: a run from before them)
    unstated_threads: tuple[str, ...] = ()  # engines read against all threads because they do not state theirs
    rounds: int = 0  # the most rounds any measured cell has (the processes its median and CI rest on)

    @property
    def agreement_ok(self) -> bool:
        return all(v.ok is not False for v in self.verdicts)

    @property
    def failed_cells(self) -> tuple[Row, ...]:
        return tuple(r for r in self.rows if r.status in FAILING)


def pool(cells: list[CellRecord]) -> dict[tuple[str, str], PooledCell]:
    """One entry per (scenario, engine): samples of all ok rounds pooled, and each round's apart
    (`rounds`, rounds without samples left out), each ok round's first call (`first_calls`); the first
    round's other facts."""
    pooled: dict[tuple[str, str], PooledCell] = {}
    for cell in cells:
        key = (cell["scenario"], cell["engine"])
        samples = list(cell.get("samples", []))
        if key not in pooled:
            pooled[key] = {
                **cell,
                "samples": list(samples),
                "rounds": [samples] if samples else [],
                "agreements": [],
                "first_calls": [],
            }
        else:
            entry = pooled[key]
            entry["samples"].extend(samples)
            if samples:
                entry["rounds"].append(samples)
            if entry["status"] != "ok" and cell["status"] == "ok":
                entry.update(cast(PooledCell, {k: v for k, v in cell.items() if k != "samples"}))
        if "agreement" in cell:
            pooled[key]["agreements"].append(cell["agreement"])
        if cell["status"] == "ok" and cell.get("first_call_s") is not None:
            pooled[key]["first_calls"].append(float(cell["first_call_s"]))
    return pooled


def first_call_of(entry: PooledCell) -> tuple[float | None, tuple[float, float] | None]:
    """The cell's first call and the range over its rounds. Every round's process starts with an empty
    kernel cache, so each round's first call is one more reading of the same cost and the median says
    more than whichever round came first (a round after the run's ceiling probes, a host's slow spell).
    A cell that searched (BEAM) keeps the first round's: later rounds find the search in its cache."""
    calls = entry.get("first_calls", [])
    if entry.get("search_s") is not None or len(calls) < 2:
        return entry.get("first_call_s"), None
    return float(np.median(calls)), (min(calls), max(calls))


@dataclasses.dataclass(frozen=True)
class Judged:
    ok: bool | None = None
    ratio: float | None = None
    ulp: int | None = None
    ref_ulp: int | None = None
    ref_abs: float | None = None
    ref_identical: bool | None = None
    error: str | None = None
    ratio_d: float | None = None  # against gamma_D, where the plan states its depth
    exact_ratio: float | None = None
    exact_samples: int | None = None
    exact_bound: str | None = None


def _worst(current: float | None, value: float | None) -> float | None:
    if value is None:
        return current
    return float(value) if current is None else max(current, float(value))


def agreement_of(entry: PooledCell) -> Judged:
    """The worst agreement over the entry's rounds (records without the gamma_D and exact fields leave
    those None)."""
    agreements = entry["agreements"]
    if not agreements:
        return Judged()
    ok, ratio, ulp, error = True, 0.0, 0, None
    ref_ulp: int | None = None
    ref_abs: float | None = None
    ref_identical: bool | None = None
    ratio_d: float | None = None
    exact_ratio: float | None = None
    exact_samples: int | None = None
    exact_bound: str | None = None
    for agreement in agreements:
        if agreement.get("error"):
            ok, error = False, agreement["error"]
        oracle = agreement.get("oracle")
        if oracle is not None:
            ok = ok and bool(oracle["ok"])
            ratio = max(ratio, float(oracle["max_ratio"]))
            ratio_d = _worst(ratio_d, oracle.get("max_ratio_d"))
            ulp = max(ulp, int(oracle["max_ulp"]))
            if oracle["nonfinite_mismatches"]:
                error = error or f"{oracle['nonfinite_mismatches']} NaN/Inf positions differ from the oracle"
        checked = agreement.get("exact")
        if checked is not None:
            ok = ok and bool(checked["ok"])
            exact_ratio = _worst(exact_ratio, checked["max_ratio"])
            exact_samples = min(exact_samples or checked["samples"], checked["samples"])
            exact_bound = checked["bound"] if exact_bound in (None, checked["bound"]) else "K"
            if checked["mismatches"]:
                error = error or f"{checked['mismatches']} integer-exact outputs differ from the exact sum"
        reference = agreement.get("reference")
        if reference is not None:
            ref_ulp = max(ref_ulp or 0, int(reference["max_ulp"]))
            ref_abs = max(ref_abs or 0.0, float(reference["max_abs"]))
            ref_identical = bool(reference["identical"]) and ref_identical is not False
    return Judged(
        ok, ratio, ulp, ref_ulp, ref_abs, ref_identical, error, ratio_d, exact_ratio, exact_samples, exact_bound
    )


def failure_detail(judged: Judged) -> str:
    """Why an agreement failed: the error against each bound judged (the bound: gamma_K)."""
    parts = [f"max error is {judged.ratio:.3g}x the bound"]
    if judged.ratio_d is not None:
        parts.append(f"{judged.ratio_d:.3g}x the gamma_D bound")
    if judged.exact_ratio is not None:
        parts.append(f"sampled exact error {judged.exact_ratio:.3g}x the gamma_{judged.exact_bound} bound")
    return ", ".join(parts) + f" (max ulp {judged.ulp})"


def gflops(flops: float | None, summary: Summary | None) -> float | None:
    """flops / median / 1e9; None without both."""
    if not flops or summary is None or summary.median <= 0:
        return None
    return float(flops) / summary.median / 1e9


def cell_seed(scenario: str, engine: str) -> int:
    """The bootstrap seed of one cell's samples, from its names."""
    return zlib.crc32(f"{scenario}\0{engine}".encode())


class Ratios:
    """Ratios of medians between the cells of one run (speedups), with percentile-bootstrap CIs over
    rounds and the samples within them."""

    def __init__(self, pooled: dict[tuple[str, str], PooledCell], resamples: int = RESAMPLES):
        self.pooled, self.resamples = pooled, resamples
        self._draws: dict[tuple[str, str], np.ndarray] = {}

    def rounds(self, scenario: str, engine: str) -> list[list[float]] | None:
        """The cell's samples round by round, or None when it was not measured."""
        entry = self.pooled.get((scenario, engine))
        if entry is None or entry["status"] != "ok" or not entry["samples"]:
            return None
        return [list(r) for r in entry["rounds"]]

    def median(self, scenario: str, engine: str) -> float | None:
        """The cell's median (of its round medians), or None when it was not measured."""
        rounds = self.rounds(scenario, engine)
        return round_median(rounds) if rounds is not None else None

    def _medians(self, scenario: str, engine: str, rounds: list[list[float]]) -> np.ndarray:
        key = (scenario, engine)
        if key not in self._draws:
            self._draws[key] = bootstrap_round_medians(rounds, resamples=self.resamples, seed=cell_seed(*key))
        return self._draws[key]

    def ratio(self, scenario: str, numerator: str, denominator: str) -> Interval | None:
        """median(numerator) / median(denominator) in this run, with its 95% CI; None when either cell
        was not measured or both are the same engine."""
        top, bottom = self.rounds(scenario, numerator), self.rounds(scenario, denominator)
        if top is None or bottom is None or numerator == denominator:
            return None
        point = round_median(top) / round_median(bottom)
        return ratio_interval(
            point, self._medians(scenario, numerator, top), self._medians(scenario, denominator, bottom)
        )


def machine_line(fingerprint: FingerprintRecord) -> str:
    packages = fingerprint.get("packages", {})
    versions = ", ".join(
        f"{name} {packages.get(name)}" for name in ("tinygrad", "tgrad", "numpy") if packages.get(name)
    )
    git = fingerprint.get("git", {})
    commit = (git.get("commit") or "unknown")[:10] + ("+dirty" if git.get("dirty") else "")
    cores = fingerprint.get("cores_usable")
    return f"{fingerprint.get('cpu', '?')}, {cores} cores usable; {versions}; commit {commit}"


def _round_ceilings(run: RunRecord) -> dict[tuple[str, str], list[tuple[float, RoundCeilingRecord]]]:
    """(scenario, engine) -> (the round's median seconds, the ceilings measured before that round) for each
    measured round of the cell that has round ceilings, in round order."""
    measured = {(r["scenario"], r["round"]): r for r in run.get("round_ceilings", [])}
    out: dict[tuple[str, str], list[tuple[float, RoundCeilingRecord]]] = {}
    for cell in run["cells"]:
        key = (cell["scenario"], cell.get("round", 0))
        if cell["status"] == "ok" and cell.get("samples") and key in measured:
            pair = (float(np.median(cell["samples"])), measured[key])
            out.setdefault((cell["scenario"], cell["engine"]), []).append(pair)
    return out


def build_table(run: RunRecord) -> Table:
    lab = run["lab"]
    subject_name, single_name = lab.get("subject"), lab.get("subject_single_thread")
    pooled = pool(run["cells"])
    ratios = Ratios(pooled)
    ceiling, threads = run.get("ceiling"), lab.get("threads", {})
    round_ceilings = _round_ceilings(run)
    rows: list[Row] = []
    verdicts: list[Verdict] = []
    for scenario in run["scenarios"]:
        name = scenario["name"]
        failures: list[str] = []
        worst: tuple[float, str] | None = None
        for engine in lab["engines"]:
            entry = pooled.get((name, engine))
            if entry is None:
                continue
            judged = agreement_of(entry)
            ok, ratio, ulp, error = judged.ok, judged.ratio, judged.ulp, judged.error
            measured = entry["status"] == "ok" and bool(entry["samples"])
            summary = summarize_rounds(entry["rounds"]) if measured else None
            first_call, first_call_range = first_call_of(entry)
            rows.append(
                Row(
                    scenario=name,
                    title=scenario.get("title", ""),
                    engine=engine,
                    status=entry["status"],
                    reason=entry.get("reason", ""),
                    summary=summary,
                    gflops=gflops(scenario.get("flops"), summary),
                    first_call_s=first_call,
                    first_call_range=first_call_range,
                    search_s=entry.get("search_s"),
                    speedup=ratios.ratio(name, engine, subject_name) if subject_name else None,
                    speedup_single_thread=ratios.ratio(name, engine, single_name) if single_name else None,
                    agreement_ok=ok,
                    agreement_ratio=ratio,
                    max_ulp=ulp,
                    reference_max_ulp=judged.ref_ulp,
                    reference_max_abs=judged.ref_abs,
                    reference_identical=judged.ref_identical,
                    agreement_error=error,
                    emulated=entry.get("emulated"),
                    certified=entry["facts"]["certified"] if "facts" in entry else None,
                    rounding_depth=entry["facts"]["rounding_depth"] if "facts" in entry else None,
                    agreement_ratio_d=judged.ratio_d,
                    exact_ratio=judged.exact_ratio,
                    exact_samples=judged.exact_samples,
                    exact_bound=judged.exact_bound,
                    ceiling=read_cell(
                        scenario,
                        threads.get(engine),
                        summary.median if summary else None,
                        ceiling,
                        round_ceilings.get((name, engine), ()),
                    ),
                )
            )
            if ok is False:
                detail = error or failure_detail(judged)
                failures.append(f"{engine}: {detail}")
            if ratio is not None and (worst is None or ratio > worst[0]):
                worst = (ratio, engine)
        any_judged = any(r.agreement_ok is not None for r in rows if r.scenario == name)
        verdicts.append(
            Verdict(
                scenario=name,
                title=scenario.get("title", ""),
                version=scenario["version"],
                seed=int(scenario.get("seed", 0)),
                ok=(not failures) if any_judged else None,
                worst_engine=worst[1] if worst else None,
                worst_ratio=worst[0] if worst else None,
                failures=tuple(failures),
            )
        )
    notes = [f"{engine}: {text}" for engine, text in lab.get("descriptions", {}).items()]
    argv_file = run.get("scenario_file", {}).get("path", "SCENARIOS.toml")
    reproduce = f"python -m harness run {argv_file} --only {{scenario}} --seed {{seed}}"
    return Table(
        run_id=run["run_id"],
        profile=run.get("profile", "full"),
        subject=subject_name,
        subject_single_thread=single_name,
        reference=lab.get("reference"),
        rows=tuple(rows),
        verdicts=tuple(verdicts),
        notes=tuple(notes),
        reproduce=reproduce,
        machine=machine_line(run.get("fingerprint", {})),
        ceiling=ceiling,
        unstated_threads=tuple(dict.fromkeys(r.engine for r in rows if r.ceiling and not r.ceiling.stated)),
        rounds=max((len(e["rounds"]) for e in pooled.values() if e["status"] == "ok"), default=0),
    )
