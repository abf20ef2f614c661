"""The results history as tidy, typed pandas DataFrames: what the notebook, the trend page and the
regression check's trend views read.

    from harness import frames, history
    with history.History(history.default_path()) as h:
        records = frames.load(h, profile="full")      # run records, oldest first (filters below)
        table = frames.cells(records)                 # one row per (run, scenario, engine)
        speed = frames.speedups(records, subject="tgrad")  # within-run ratios with bootstrap CIs
        steps = frames.change_points(speed)           # where each series stepped

Every function takes an open `History` or a list of run records (`load`'s result, so the history is
read once), and the filters `machine` (machine id), `profile`, `runs` (run ids), `scenarios` and
`engines`. Rows come oldest run first. Columns and their dtypes are fixed (`CELL_COLUMNS`,
`SAMPLE_COLUMNS`, `RATIO_COLUMNS`, `STEP_COLUMNS`, `CHANGE_COLUMNS`: name -> (dtype, meaning)), also
when a frame is empty. Missing values are NA (strings, integers, booleans) or NaN (floats).

Ratios are only ever taken between cells of the same run, measured side by side (compare.Ratios, the
same numbers the run's table shows): ratio = median(numerator) / median(denominator). As a speedup,
the denominator is the subject (tgrad) and the numerator the engine it is compared with (> 1: tgrad is
faster); as a time relative to a reference engine (the regression check's quantity), the numerator is
the engine and the denominator the reference. Nothing here divides numbers of different runs, except
`compare_runs`, which is the regression check's comparison (each run's times relative to its own
reference first).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from harness import compare, regress
from harness.history import History, RunInfo, engine_mode, info_of
from harness.record import RunRecord, ScenarioRecord
from harness.stats import summarize_rounds

Columns = dict[str, tuple[str, str]]
Source = History | Sequence[RunRecord]

RUN_COLUMNS: Columns = {
    "run_id": ("string", "the run's id (<UTC start>-<host>)"),
    "started": ("datetime64[ns, UTC]", "when the run started"),
    "commit": ("string", "git commit of the lab's checkout (NA: unknown)"),
    "dirty": ("boolean", "the checkout had uncommitted changes outside results/"),
    "machine_id": ("string", "hash of the hardware fingerprint (CPU model, CPU count, usable cores, GPU)"),
    "host": ("string", "host name"),
    "profile": ("string", "full | quick | pytest-benchmark"),
}
SCENARIO_COLUMNS: Columns = {
    "scenario": ("string", "scenario name (B1, O3, ...)"),
    "title": ("string", "scenario title (gemm-64, ...)"),
    "scenario_version": ("string", "hash of the scenario's definition; results are comparable only when equal"),
    "op": ("string", "matmul | linear_relu | train_step"),
    "a": ("string", "logical shape of the left operand, e.g. 64x128x128"),
    "b": ("string", "logical shape of the right operand"),
    "m": ("Int64", "rows of the output"),
    "k": ("Int64", "reduction length"),
    "n": ("Int64", "columns of the output"),
    "batch": ("Int64", "output matrices (product of the broadcast batch dimensions)"),
    "dtype": ("string", "float32 | float16"),
    "layout": ("string", "contiguous | transposed_a | transposed_b | broadcast_b"),
    "device": ("string", "scenario device (CPU, CUDA)"),
    "flops": ("float64", "2 * batch * m * n * k"),
}
CELL_COLUMNS: Columns = {
    **RUN_COLUMNS,
    **SCENARIO_COLUMNS,
    "engine": ("string", "engine name (tgrad, tinygrad-jit, numpy, ...)"),
    "family": ("string", "the engine's library (tgrad, tinygrad, numpy, ...)"),
    "mode": ("string", "the engine's mode within its family (default, jit, beam, 1t, ...)"),
    "engine_version": ("string", "library version the worker imported (NA when it was not imported)"),
    "build": ("string", "build profile the library reports (tgrad: release | debug; NA otherwise)"),
    "rounds": ("Int64", "rounds the cell ran (samples of all ok rounds are pooled)"),
    "status": ("string", "ok | unavailable | unsupported | skipped | search-timeout | timeout | error"),
    "reason": ("string", "why the cell is not ok (empty when ok)"),
    "samples": ("Int64", "timed samples (0 when not measured)"),
    "median_s": ("float64", "median seconds per call (the median of the rounds' medians)"),
    "p10_s": ("float64", "10th percentile of seconds per call"),
    "p90_s": ("float64", "90th percentile of seconds per call"),
    "mean_s": ("float64", "mean seconds per call"),
    "gflops": ("float64", "flops / median / 1e9"),
    "first_call_s": ("float64", "seconds of the first call, median over rounds (compile; BEAM: the search)"),
    "search_s": ("float64", "seconds of the BEAM search (NaN for engines that do not search)"),
    "agreement_ratio": ("float64", "worst max |out - oracle| / bound over the rounds (<= 1 passes)"),
    "agreement_ok": ("boolean", "agreement with the float64 oracle passed (NA: nothing was judged)"),
}
SAMPLE_COLUMNS: Columns = {
    **RUN_COLUMNS,
    "scenario": SCENARIO_COLUMNS["scenario"],
    "scenario_version": SCENARIO_COLUMNS["scenario_version"],
    "engine": CELL_COLUMNS["engine"],
    "round": ("Int64", "the round the sample was taken in"),
    "kind": ("string", "sample | warmup"),
    "index": ("Int64", "position of the sample within its cell and round"),
    "seconds": ("float64", "seconds per call"),
}
RATIO_COLUMNS: Columns = {
    **RUN_COLUMNS,
    "scenario": SCENARIO_COLUMNS["scenario"],
    "title": SCENARIO_COLUMNS["title"],
    "scenario_version": SCENARIO_COLUMNS["scenario_version"],
    "numerator": ("string", "engine whose median is divided (speedups: the engine compared with)"),
    "denominator": ("string", "engine it is divided by (speedups: the subject; relative times: the reference)"),
    "ratio": ("float64", "median(numerator) / median(denominator) in this run"),
    "lo": ("float64", "lower end of the ratio's 95% percentile-bootstrap CI"),
    "hi": ("float64", "upper end of the ratio's 95% percentile-bootstrap CI"),
    "numerator_median_s": ("float64", "the numerator's median seconds per call"),
    "denominator_median_s": ("float64", "the denominator's median seconds per call"),
}
SERIES_KEYS = ("machine_id", "profile", "scenario", "scenario_version", "numerator", "denominator")
STEP_COLUMNS: Columns = {
    **{key: RATIO_COLUMNS[key] for key in SERIES_KEYS},
    "run_id": ("string", "the first run after the step"),
    "commit": RUN_COLUMNS["commit"],
    "started": RUN_COLUMNS["started"],
    "position": ("Int64", "index of that run in the series (0 = the series' oldest run)"),
    "step": ("float64", "median ratio after / median ratio before, minus 1"),
    "p_value": ("float64", "permutation p-value of the split (e-divisive, as the regression check)"),
}
CHANGE_COLUMNS: Columns = {
    "scenario": SCENARIO_COLUMNS["scenario"],
    "engine": CELL_COLUMNS["engine"],
    "state": ("string", "regression | improvement | unchanged | incomparable | failed | fixed | reference"),
    "reason": ("string", "why the state (incomparable, unchanged, failed)"),
    "change": ("float64", "q(new) / q(base), q = time relative to the reference in its own run (> 1: slower)"),
    "lo": ("float64", "lower end of the change's 95% bootstrap CI"),
    "hi": ("float64", "upper end of the change's 95% bootstrap CI"),
    "p_value": ("float64", "two-sided Mann-Whitney U p-value of the samples"),
    "p_adjusted": ("float64", "Holm-adjusted p-value of log(change) against the expected noise"),
    "new_value": ("float64", "q in the newer run"),
    "base_value": ("float64", "q in the older run"),
}


def typed(rows: Iterable[dict[str, Any]], columns: Columns) -> pd.DataFrame:
    """A frame with exactly `columns`, in order, each of its declared dtype (also when empty)."""
    frame = pd.DataFrame(list(rows), columns=list(columns))
    return frame.astype({name: dtype for name, (dtype, _) in columns.items()})


def describe(columns: Columns) -> pd.DataFrame:
    """The documentation of a frame's columns, as a frame (name, dtype, meaning)."""
    return pd.DataFrame([(n, d, m) for n, (d, m) in columns.items()], columns=["column", "dtype", "meaning"])


# ---------------------------------------------------------------------- selecting runs
def load(
    source: Source, *, machine: str | None = None, profile: str | None = None, runs: Sequence[str] | None = None
) -> list[RunRecord]:
    """The run records of `source` that pass the filters, oldest first."""
    if isinstance(source, History):
        infos = source.runs(machine=machine, profile=profile)
        return [source.load(i.run_id) for i in infos if runs is None or i.run_id in runs]
    chosen = []
    for record in source:
        info = info_of(record)
        if machine not in (None, info.machine_id) or profile not in (None, info.profile):
            continue
        if runs is None or info.run_id in runs:
            chosen.append(record)
    return sorted(chosen, key=lambda r: str(r["started"]))


def _run_fields(info: RunInfo) -> dict[str, Any]:
    started = pd.Timestamp(info.started)
    return {
        "run_id": info.run_id,
        "started": started.tz_localize("UTC") if started.tzinfo is None else started.tz_convert("UTC"),
        "commit": info.commit,
        "dirty": info.dirty,
        "machine_id": info.machine_id,
        "host": info.host,
        "profile": info.profile,
    }


def _shape(values: Any) -> str | None:
    return "x".join(str(int(v)) for v in values) if values else None


def _scenario_fields(scenario: ScenarioRecord) -> dict[str, Any]:
    a, b = list(scenario.get("a") or []), list(scenario.get("b") or [])
    m = a[-2] if len(a) >= 2 else None
    k = a[-1] if a else None
    n = b[-1] if b else None
    flops = scenario.get("flops")
    batch = None
    if flops and m and n and k:
        batch = round(float(flops) / (2 * m * n * k))
    return {
        "title": scenario.get("title"),
        "scenario_version": scenario.get("version"),
        "op": scenario.get("op"),
        "a": _shape(a),
        "b": _shape(b),
        "m": m,
        "k": k,
        "n": n,
        "batch": batch,
        "dtype": scenario.get("dtype"),
        "layout": scenario.get("layout"),
        "device": scenario.get("device"),
        "flops": float(flops) if flops else math.nan,
    }


def _wanted(name: str, chosen: Sequence[str] | None) -> bool:
    return chosen is None or name in chosen


# ---------------------------------------------------------------------- frames
def cells(
    source: Source,
    *,
    machine: str | None = None,
    profile: str | None = None,
    runs: Sequence[str] | None = None,
    scenarios: Sequence[str] | None = None,
    engines: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per (run, scenario, engine), rounds pooled as in the run's table (CELL_COLUMNS)."""
    rows = []
    for record in load(source, machine=machine, profile=profile, runs=runs):
        run = _run_fields(info_of(record))
        definitions = {s["name"]: s for s in record["scenarios"]}
        rounds: dict[tuple[str, str], int] = {}
        for cell in record["cells"]:
            rounds[(cell["scenario"], cell["engine"])] = rounds.get((cell["scenario"], cell["engine"]), 0) + 1
        for (scenario, engine), entry in compare.pool(record["cells"]).items():
            if not (_wanted(scenario, scenarios) and _wanted(engine, engines)):
                continue
            definition = definitions.get(scenario) or ScenarioRecord(name=scenario, version=None)
            measured = entry["status"] == "ok" and bool(entry["samples"])
            summary = summarize_rounds(entry["rounds"]) if measured else None
            judged = compare.agreement_of(entry)
            info = entry.get("info") or {}
            build_info = info.get("build_info")
            build = build_info if isinstance(build_info, dict) else {}
            rows.append(
                {
                    **run,
                    "scenario": scenario,
                    **_scenario_fields(definition),
                    "engine": engine,
                    "family": entry.get("family"),
                    "mode": engine_mode(engine, entry.get("family")),
                    "engine_version": info.get("version"),
                    "build": build.get("profile"),
                    "rounds": rounds[(scenario, engine)],
                    "status": entry["status"],
                    "reason": entry.get("reason", ""),
                    "samples": summary.n if summary else 0,
                    "median_s": summary.median if summary else math.nan,
                    "p10_s": summary.p10 if summary else math.nan,
                    "p90_s": summary.p90 if summary else math.nan,
                    "mean_s": summary.mean if summary else math.nan,
                    "gflops": compare.gflops(definition.get("flops"), summary) or math.nan,
                    "first_call_s": _nan_if_none(compare.first_call_of(entry)[0]),
                    "search_s": entry.get("search_s", math.nan),
                    "agreement_ratio": judged.ratio if judged.ratio is not None else math.nan,
                    "agreement_ok": judged.ok,
                }
            )
    return typed(rows, CELL_COLUMNS)


def _nan_if_none(value: float | None) -> float:
    return math.nan if value is None else value


def samples(
    source: Source,
    *,
    machine: str | None = None,
    profile: str | None = None,
    runs: Sequence[str] | None = None,
    scenarios: Sequence[str] | None = None,
    engines: Sequence[str] | None = None,
    warmup: bool = False,
) -> pd.DataFrame:
    """One row per timed sample of every cell and round (SAMPLE_COLUMNS); warm-up calls too with
    `warmup=True` (kind 'warmup')."""
    rows = []
    for record in load(source, machine=machine, profile=profile, runs=runs):
        run = _run_fields(info_of(record))
        versions = {s["name"]: s.get("version") for s in record["scenarios"]}
        for cell in record["cells"]:
            if not (_wanted(cell["scenario"], scenarios) and _wanted(cell["engine"], engines)):
                continue
            series = [("sample", cell.get("samples") or [])]
            if warmup:
                series.append(("warmup", cell.get("warmup") or []))
            for kind, values in series:
                for index, seconds in enumerate(values):
                    rows.append(
                        {
                            **run,
                            "scenario": cell["scenario"],
                            "scenario_version": versions.get(cell["scenario"]),
                            "engine": cell["engine"],
                            "round": int(cell.get("round", 0)),
                            "kind": kind,
                            "index": index,
                            "seconds": float(seconds),
                        }
                    )
    return typed(rows, SAMPLE_COLUMNS)


def ratios(
    source: Source,
    numerators: Sequence[str] | None,
    denominator: str,
    *,
    machine: str | None = None,
    profile: str | None = None,
    runs: Sequence[str] | None = None,
    scenarios: Sequence[str] | None = None,
    cache: dict[str, compare.Ratios] | None = None,
) -> pd.DataFrame:
    """median(numerator) / median(denominator) with its bootstrap CI, per run and scenario, for every
    numerator engine measured beside the denominator in the same run (RATIO_COLUMNS). `numerators`
    None: every other engine of the run. `cache` (run id -> compare.Ratios) keeps each cell's bootstrap
    medians for the next call over the same runs."""
    rows = []
    cache = {} if cache is None else cache
    for record in load(source, machine=machine, profile=profile, runs=runs):
        run = _run_fields(info_of(record))
        if record["run_id"] not in cache:
            cache[record["run_id"]] = compare.Ratios(compare.pool(record["cells"]))
        within = cache[record["run_id"]]
        engines = list(dict.fromkeys(engine for _, engine in within.pooled))
        for definition in record["scenarios"]:
            scenario = definition["name"]
            if not _wanted(scenario, scenarios):
                continue
            for engine in numerators if numerators is not None else engines:
                interval = within.ratio(scenario, engine, denominator)
                if interval is None:
                    continue
                rows.append(
                    {
                        **run,
                        "scenario": scenario,
                        "title": definition.get("title"),
                        "scenario_version": definition.get("version"),
                        "numerator": engine,
                        "denominator": denominator,
                        "ratio": interval.point,
                        "lo": interval.lo,
                        "hi": interval.hi,
                        "numerator_median_s": within.median(scenario, engine),
                        "denominator_median_s": within.median(scenario, denominator),
                    }
                )
    return typed(rows, RATIO_COLUMNS)


def speedups(source: Source, subject: str = "tgrad", over: Sequence[str] | None = None, **filters: Any) -> pd.DataFrame:
    """The subject's speedup over each engine in `over` (None: all others), run by run: ratio =
    median(engine) / median(subject), > 1 when the subject is faster. Filters as in `ratios`."""
    return ratios(source, over, subject, **filters)


def relative_times(
    source: Source, reference: str = "numpy", engines: Sequence[str] | None = None, **filters: Any
) -> pd.DataFrame:
    """Each engine's time relative to `reference` in the same run (the regression check's quantity):
    ratio = median(engine) / median(reference), > 1 when the engine is slower."""
    return ratios(source, engines, reference, **filters)


def change_points(ratio_frame: pd.DataFrame, options: regress.Options | None = None) -> pd.DataFrame:
    """The steps in each series of a ratio frame (one series per machine, profile, scenario version and
    engine pair, in run order), found as the regression check finds them: e-divisive binary
    segmentation of the logs with a seeded permutation test (regress.change_points, its options)."""
    options = options or regress.Options()
    rows = []
    ordered = ratio_frame.sort_values("started", kind="stable")
    for key, series in ordered.groupby(list(SERIES_KEYS), sort=False, dropna=False):
        values = series["ratio"].to_numpy(dtype=float)
        found = regress.change_points(
            values, permutations=options.permutations, alpha=options.cp_alpha, seed=options.seed
        )
        for point in found:
            run = series.iloc[point.index]
            rows.append(
                {
                    **dict(zip(SERIES_KEYS, key, strict=True)),
                    "run_id": run["run_id"],
                    "commit": run["commit"],
                    "started": run["started"],
                    "position": point.index,
                    "step": point.step,
                    "p_value": point.p_value,
                }
            )
    return typed(rows, STEP_COLUMNS)


def compare_runs(
    source: Source, older: str, newer: str, *, reference: str | None = "numpy", options: regress.Options | None = None
) -> pd.DataFrame:
    """Two runs of the history compared cell by cell, as `harness check --baseline OLDER --run NEWER`
    compares them (CHANGE_COLUMNS), without the history's noise calibration."""
    records = {r["run_id"]: r for r in load(source, runs=[older, newer])}
    missing = [run for run in (older, newer) if run not in records]
    if missing:
        raise KeyError(f"no run {', '.join(missing)} in the history")
    chosen = dataclasses.replace(options or regress.Options(), relative_to=reference)
    rows = []
    for change in regress.compare_runs(records[newer], records[older], chosen):
        interval = change.change
        rows.append(
            {
                "scenario": change.scenario,
                "engine": change.engine,
                "state": change.state,
                "reason": change.reason,
                "change": interval.point if interval else math.nan,
                "lo": interval.lo if interval else math.nan,
                "hi": interval.hi if interval else math.nan,
                "p_value": change.p_value if change.p_value is not None else math.nan,
                "p_adjusted": change.p_adjusted if change.p_adjusted is not None else math.nan,
                "new_value": change.new_value if change.new_value is not None else math.nan,
                "base_value": change.base_value if change.base_value is not None else math.nan,
            }
        )
    return typed(rows, CHANGE_COLUMNS)
