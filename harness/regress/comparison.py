"""Comparing runs: the newest run against a baseline cell by cell (two runs), then over a history
(noise from earlier runs, where a step began)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness import compare
from harness.history import History, HistoryError, info_of
from harness.record import PooledCell, RunRecord
from harness.regress.changepoints import change_points
from harness.regress.model import (
    DEFAULT_OPTIONS,
    FAILING,
    STATISTICS,
    Alert,
    CellChange,
    CheckResult,
    Options,
    Rule,
    rule_for,
)
from harness.regress.statistics import holm, mann_whitney_u
from harness.stats import Interval, Rounds, bootstrap_rounds, round_statistic
from harness.store import load_run


# ---------------------------------------------------------------------- comparing two runs
def _versions(record: RunRecord) -> dict[str, str | None]:
    return {s["name"]: s.get("version") for s in record.get("scenarios", [])}


def _measured(entry: PooledCell | None) -> Rounds | None:
    if entry is None or entry["status"] != "ok" or not entry["rounds"]:
        return None
    return [np.asarray(r, dtype=np.float64) for r in entry["rounds"]]


def _quantity(
    pooled: dict[tuple[str, str], PooledCell], scenario: str, engine: str, options: Options, stat: Callable[..., Any]
) -> tuple[Rounds | None, Rounds | None, str]:
    """(cell rounds, reference rounds or None for absolute times, why not comparable or '')."""
    cell = _measured(pooled.get((scenario, engine)))
    if cell is None:
        return None, None, "not measured"
    if options.relative_to is None:
        return cell, None, ""
    reference = _measured(pooled.get((scenario, options.relative_to)))
    if reference is None:
        return cell, None, f"reference engine {options.relative_to} not measured"
    return cell, reference, ""


def _value(cell: Rounds, reference: Rounds | None, stat: Callable[..., Any]) -> float:
    """The cell's quantity as the table reads it: `stat` over rounds of each round's `stat` (the median
    of round medians), relative to the reference engine's in the same run."""
    return round_statistic(cell, stat) / (round_statistic(reference, stat) if reference is not None else 1.0)


def _cell_keys(new: RunRecord, base: RunRecord | None) -> list[tuple[str, str]]:
    keys: list[tuple[str, str]] = []
    for record in (new,) if base is None else (new, base):
        for cell in record["cells"]:
            key = (cell["scenario"], cell["engine"])
            if key not in keys:
                keys.append(key)
    return keys


@dataclasses.dataclass
class _Pending:
    key: tuple[str, str]
    rule: Rule
    new: tuple[Rounds, Rounds | None]
    base: tuple[Rounds, Rounds | None]
    p_value: float  # Mann-Whitney U
    change: Interval | None = None
    noise: float = 0.0  # standard deviation of log(change) under no change
    p_change: float = 1.0
    within: float = 0.0  # the bootstrap (within-run) part of `noise`


def _compare_pair(
    new: RunRecord, base: RunRecord | None, options: Options
) -> tuple[list[CellChange | _Pending], list[Alert]]:
    new_pooled = compare.pool(new["cells"])
    base_pooled = compare.pool(base["cells"]) if base else {}
    new_versions, base_versions = _versions(new), _versions(base) if base else {}
    out: list[CellChange | _Pending] = []
    alerts: list[Alert] = []
    for scenario, engine in _cell_keys(new, base):
        rule = rule_for(options.rules, scenario)
        stat = STATISTICS[rule.statistic]
        entry, before = new_pooled.get((scenario, engine)), base_pooled.get((scenario, engine))

        def plain(
            state: str, reason: str, _key: tuple[str, str] = (scenario, engine), _rule: Rule = rule
        ) -> CellChange:
            return CellChange(
                *_key, state, reason, _rule.statistic, _rule.threshold, None, None, None, None, None, 0, 0
            )

        if entry is None:
            out.append(plain("incomparable", "not in the newest run"))
            continue
        judged = compare.agreement_of(entry)
        if judged.ok is False:
            detail = judged.error or compare.failure_detail(judged)
            alerts.append(Alert("agreement", scenario, engine, detail))
        if entry["status"] in FAILING:
            reason = f"{entry['status']}: {entry.get('reason', '')}".rstrip(": ")
            out.append(plain("failed", reason))
            alerts.append(Alert("failed", scenario, engine, reason))
            continue
        if base is None:
            out.append(plain("incomparable", "no baseline run"))
            continue
        if before is None:
            out.append(plain("incomparable", "not in the baseline run"))
            continue
        if before["status"] in FAILING and entry["status"] == "ok":
            out.append(plain("fixed", f"was {before['status']} in the baseline"))
            continue
        if new_versions.get(scenario) != base_versions.get(scenario):
            out.append(plain("incomparable", "the scenario's definition changed (version hash differs)"))
            continue
        if options.relative_to is not None and engine == options.relative_to:
            out.append(plain("reference", "times of the other engines are relative to this one"))
            continue
        new_cell, new_ref, why_new = _quantity(new_pooled, scenario, engine, options, stat)
        base_cell, base_ref, why_base = _quantity(base_pooled, scenario, engine, options, stat)
        if why_new or why_base or new_cell is None or base_cell is None:
            where = "newest run" if why_new else "baseline"
            reason = why_new or why_base
            status = (entry if why_new else before)["status"]
            detail = f"{reason} in the {where}" + (f" ({status})" if reason == "not measured" else "")
            out.append(plain("incomparable", detail))
            continue
        new_scale = round_statistic(new_ref, stat) if new_ref is not None else 1.0
        base_scale = round_statistic(base_ref, stat) if base_ref is not None else 1.0
        p_value = mann_whitney_u(np.concatenate(new_cell) / new_scale, np.concatenate(base_cell) / base_scale)
        out.append(_Pending((scenario, engine), rule, (new_cell, new_ref), (base_cell, base_ref), p_value))
    return out, alerts


def _measure_change(item: _Pending, spread: float | None, options: Options, rng: np.random.Generator) -> None:
    """The change with its bootstrap CI, and the z test of log(change) against the noise expected with
    no change: the bootstrap's (within-run) variance plus twice the between-run variance of the cell's
    quantity (`spread`, from the history) or of `run_jitter` when the history is too short.

    The bootstrap resamples rounds, then samples within them (stats.bootstrap_rounds), as the table's
    CIs do: a run's samples are clustered by process, so resampling them as one pool would take the
    spread between rounds for precision. A cell and its reference in one run with as many rounds pick
    the same rounds in each draw, so their ratio keeps the pairing of alternating rounds; the two runs
    pick apart (their rounds are not paired)."""
    stat = STATISTICS[item.rule.statistic]
    r = options.resamples

    def run_draws(cell: Rounds, reference: Rounds | None) -> np.ndarray:
        seeds = [int(x) for x in rng.integers(0, 2**32, size=2)]
        shared = rng.integers(0, len(cell), size=(r, len(cell)))
        top = bootstrap_rounds(cell, stat, resamples=r, seed=seeds[0], picks=shared)
        if reference is None:
            return top
        picks = shared if len(reference) == len(cell) else rng.integers(0, len(reference), size=(r, len(reference)))
        ratio: np.ndarray = top / bootstrap_rounds(reference, stat, resamples=r, seed=seeds[1], picks=picks)
        return ratio

    draws = run_draws(*item.new) / run_draws(*item.base)
    lo, hi = np.percentile(draws, [2.5, 97.5])
    point = _value(*item.new, stat) / _value(*item.base, stat)
    item.change = Interval(point, float(lo), float(hi))
    within = float(np.std(np.log(draws)))
    item.within = within
    item.noise = math.sqrt(within**2 + 2 * options.run_jitter**2)
    if spread is not None:
        item.noise = max(item.noise, math.sqrt(within**2 + 2 * spread**2))
    item.p_change = math.erfc(abs(math.log(point)) / max(item.noise, 1e-12) / math.sqrt(2))


def _count(rounds: Rounds) -> int:
    return sum(len(r) for r in rounds)


def _decide(item: _Pending, p_adjusted: float, options: Options) -> CellChange:
    rule, change = item.rule, item.change
    assert change is not None
    significant = p_adjusted < options.alpha and item.p_value < options.alpha
    if significant and change.point > 1 + rule.threshold and change.lo > 1:
        state, reason = "regression", ""
    elif significant and change.point < 1 / (1 + rule.threshold) and change.hi < 1:
        state, reason = "improvement", ""
    else:
        state = "unchanged"
        small = abs(math.log(change.point)) <= math.log1p(rule.threshold)
        reason = "within the threshold" if small else "not significant"
    stat = STATISTICS[rule.statistic]
    return CellChange(
        item.key[0], item.key[1], state, reason, rule.statistic, rule.threshold, change, item.p_value, p_adjusted,
        _value(*item.new, stat), _value(*item.base, stat), _count(item.new[0]), _count(item.base[0]), noise=item.noise,
    )  # fmt: skip


def _families(record: RunRecord) -> dict[str, str | None]:
    return {c["engine"]: c.get("family", c["engine"]) for c in record.get("cells", [])}


def _library_versions(record: RunRecord) -> dict[str, str | None]:
    return {c["engine"]: (c.get("info") or {}).get("version") for c in record.get("cells", [])}


def _calibrate_on_controls(pending: list[_Pending], new: RunRecord, base: RunRecord | None) -> None:
    """Widen every cell's expected noise by what the control cells show.

    Controls are the cells of engines outside the subject's family whose library version is the same in
    both runs (upstream tinygrad is pinned): their code did not change, so any change in their ratios is
    the machine's run-to-run noise. Measured here, two consecutive full runs moved pinned tinygrad cells
    by up to 40% relative to numpy (cells run minutes apart on a shared machine), far beyond the
    within-run spread, so without this an unchanged engine looks regressed. The between-run sd of a
    ratio is estimated from the controls' log changes (the larger of MAD and RMS, / sqrt 2) and used when
    larger than the cell's own.
    """
    if base is None:
        return
    subject = new.get("lab", {}).get("subject")
    families = _families(new)
    subject_family = families.get(subject, subject) if subject is not None else None
    versions_new, versions_base = _library_versions(new), _library_versions(base)
    logs = [
        math.log(item.change.point)
        for item in pending
        if item.change is not None
        and families.get(item.key[1]) != subject_family
        and versions_new.get(item.key[1]) is not None
        and versions_new.get(item.key[1]) == versions_base.get(item.key[1])
    ]
    if len(logs) < 3:
        return
    values = np.array(logs)
    # a handful of controls gives a rough estimate: take the larger of a robust (MAD) and a plain (RMS)
    # one, so a lucky quiet draw of the controls does not understate the noise
    mad = 1.4826 * float(np.median(np.abs(values - np.median(values))))
    rms = float(np.sqrt(np.mean(values**2)))
    jitter = max(mad, rms) / math.sqrt(2)
    for item in pending:
        noise = math.sqrt(item.within**2 + 2 * jitter**2)
        if item.change is not None and noise > item.noise:
            item.noise = noise
            item.p_change = math.erfc(abs(math.log(item.change.point)) / max(noise, 1e-12) / math.sqrt(2))


def compare_runs(new: RunRecord, base: RunRecord | None, options: Options = DEFAULT_OPTIONS) -> list[CellChange]:
    """Every cell of the newest run (and of the baseline) with its state; alerts via check_records."""
    changes, _ = _compare_all(new, base, options, {})
    return changes


def _compare_all(
    new: RunRecord, base: RunRecord | None, options: Options, spreads: dict[tuple[str, str], float]
) -> tuple[list[CellChange], list[Alert]]:
    items, alerts = _compare_pair(new, base, options)
    pending = [i for i in items if isinstance(i, _Pending)]
    rng = np.random.default_rng(options.seed)
    for item in pending:
        _measure_change(item, spreads.get(item.key), options, rng)
    _calibrate_on_controls(pending, new, base)
    adjusted = dict(zip((id(i) for i in pending), holm([i.p_change for i in pending]), strict=True))
    changes = [_decide(i, adjusted[id(i)], options) if isinstance(i, _Pending) else i for i in items]
    for change in changes:
        if change.state == "regression":
            alerts.append(Alert("regression", change.scenario, change.engine, ""))
    return changes, alerts


# ---------------------------------------------------------------------- over a history
def _series(
    window: Sequence[RunRecord],
    pooled: Sequence[dict[tuple[str, str], PooledCell]],
    key: tuple[str, str],
    version: str | None,
    options: Options,
    stat: Callable[..., Any],
) -> tuple[list[int], list[float]]:
    """(positions in the window, the cell's quantity) for the runs where it is comparable with the newest."""
    positions, values = [], []
    for position, (record, cells) in enumerate(zip(window, pooled, strict=True)):
        if _versions(record).get(key[0]) != version:
            continue
        cell, reference, why = _quantity(cells, key[0], key[1], options, stat)
        if not why and cell is not None:
            positions.append(position)
            values.append(_value(cell, reference, stat))
    return positions, values


def _spreads(
    window: Sequence[RunRecord], pooled: Sequence[dict[tuple[str, str], PooledCell]], options: Options
) -> dict[tuple[str, str], float]:
    """Per cell, the between-run sd of log(quantity) over the earlier runs of the window: a robust
    estimate (1.4826 x the MAD of successive differences, / sqrt 2, so a step does not inflate it);
    only cells with at least min_history earlier values."""
    newest, earlier = window[-1], window[:-1]
    versions = _versions(newest)
    spreads = {}
    for key in pooled[-1]:
        rule = rule_for(options.rules, key[0])
        _, values = _series(earlier, pooled[:-1], key, versions.get(key[0]), options, STATISTICS[rule.statistic])
        if len(values) >= options.min_history:
            steps = np.diff(np.log(values))
            spreads[key] = float(1.4826 * np.median(np.abs(steps - np.median(steps))) / math.sqrt(2))
    return spreads


def _locate(
    change: CellChange,
    window: Sequence[RunRecord],
    pooled: Sequence[dict[tuple[str, str], PooledCell]],
    base_position: int | None,
    options: Options,
) -> tuple[int, str]:
    """Position in the window of the first run of the step (the newest run without an earlier step)."""
    newest = len(window) - 1
    version = _versions(window[-1]).get(change.scenario)
    stat = STATISTICS[change.statistic]
    key = (change.scenario, change.engine)
    positions, values = _series(window, pooled, key, version, options, stat)
    if len(values) < 3:
        return newest, "the newest run (too short a history to locate a step)"
    found = change_points(values, permutations=options.permutations, alpha=options.cp_alpha, seed=options.seed)
    upward = change.state == "regression"
    candidates = [
        cp
        for cp in found
        if (base_position is None or positions[cp.index] > base_position)
        and (cp.step > change.threshold if upward else cp.step < 1 / (1 + change.threshold) - 1)
    ]
    if not candidates:
        return newest, "the newest run (no earlier step found in the history)"
    chosen = candidates[-1]
    return positions[chosen.index], f"change point (e-divisive, permutation p={chosen.p_value:.3g})"


def check_records(
    records: Sequence[RunRecord],
    *,
    baseline: RunRecord | None = None,
    baseline_source: str | None = None,
    options: Options = DEFAULT_OPTIONS,
) -> CheckResult:
    """The newest of `records` (oldest first; same machine and profile) against `baseline`, by default the
    record before it. The records also serve the change-point search."""
    if not records:
        raise HistoryError("no runs to check")
    new = records[-1]
    base_position: int | None = None
    if baseline is None and len(records) >= 2:
        baseline, base_position, baseline_source = records[-2], len(records) - 2, "previous"
    elif baseline is not None:
        ids = [r["run_id"] for r in records]
        base_position = ids.index(baseline["run_id"]) if baseline["run_id"] in ids else None
    pooled = [compare.pool(r["cells"]) for r in records]
    changes, alerts = _compare_all(new, baseline, options, _spreads(records, pooled, options))
    start = 0 if base_position is None else max(0, base_position - options.context)
    window = list(records[start:])
    base_in_window = None if base_position is None else base_position - start
    infos = [info_of(r) for r in window]
    located = []
    for change in changes:
        if change.state in ("regression", "improvement"):
            position, how = _locate(change, window, pooled[start:], base_in_window, options)
            change = dataclasses.replace(change, first_bad=infos[position], located_by=how)
        located.append(change)
    notes = []
    if baseline is None:
        notes.append("no earlier run on this machine with this profile: nothing to compare with")
    return CheckResult(
        newest=info_of(new),
        baseline=info_of(baseline) if baseline else None,
        baseline_source=baseline_source or ("none" if baseline is None else "named"),
        relative_to=options.relative_to,
        alpha=options.alpha,
        rules=tuple(str(r) for r in options.rules),
        cells=tuple(located),
        alerts=tuple(alerts),
        notes=tuple(notes),
    )


def check(
    history: History,
    *,
    run: str | None = None,
    baseline: str | None = None,
    baseline_file: str | Path | None = None,
    any_machine: bool = False,
    options: Options = DEFAULT_OPTIONS,
) -> CheckResult:
    """The newest run of the history (or `run`) against the previous run of the same machine and profile,
    a named run of the history, or a run file (e.g. a committed baseline)."""
    everything = history.runs()
    if not everything:
        raise HistoryError(f"{history.path}: the history is empty (run `python -m harness run` or `import`)")
    newest = history.info(run) if run else everything[-1]
    same_machine = [r for r in everything if any_machine or r.machine_id == newest.machine_id]
    peers = [r for r in same_machine if r.profile == newest.profile]
    position = next(i for i, r in enumerate(peers) if r.run_id == newest.run_id)
    base_record, source = None, None
    if baseline_file is not None:
        base_record, source = load_run(baseline_file), "file"
    elif baseline is not None:
        base_record, source = history.load(baseline), "named"
    if base_record is not None:
        base = info_of(base_record)
        if base.profile != newest.profile:
            raise HistoryError(
                f"baseline {base.run_id} is a {base.profile} run and {newest.run_id} a {newest.profile} run:"
                " quick and full runs are never compared"
            )
        if not any_machine and base.machine_id != newest.machine_id:
            raise HistoryError(
                f"baseline {base.run_id} was measured on another machine ({base.machine_id}, newest"
                f" {newest.machine_id}); pass --any-machine to compare anyway"
            )
    ids = [r.run_id for r in peers]
    if base_record is not None and base_record["run_id"] in ids[:position]:
        first = max(0, ids.index(base_record["run_id"]) - options.context)
    else:
        first = max(0, position - options.context - 1)
    records = list(history.records(peers[first : position + 1]))
    return check_records(records, baseline=base_record, baseline_source=source, options=options)
