"""Regression alerts: the newest run against a baseline, cell by cell, and where a step change began.

What is compared. On these shared machines absolute times move 15-30% between runs (PERF_NOTES.md)
while ratios of engines measured side by side in one run are stable. So by default each cell's time is
divided by the time of a reference engine measured in the same run (`relative_to`, numpy): the
quantity compared is q = stat(cell) / stat(reference cell of the same scenario), and the change is
q(newest) / q(baseline) (> 1: the cell got slower relative to the reference). `relative_to=None`
compares absolute times instead. The reference cell itself is then in state `reference`.

The rule for a cell is parsed data, `[SCENARIO_GLOB=]STAT:PCT%` (e.g. `median:5%`, `B3=median:10%`;
the last matching rule wins; STAT is median or mean). A cell is
  regression    change > 1 + threshold, the 95% bootstrap CI of the change lies above 1, and the
                two-sided Mann-Whitney U test is significant (p < alpha after Holm's correction over
                all cells compared in this check, so a table of 30 cells has ~alpha chance in total,
                not 30 x alpha, of a false alarm from within-run noise)
  improvement   the mirror image (change < 1 / (1 + threshold), CI below 1, significant)
  unchanged     neither
  incomparable  the scenario's version hash changed, the cell or its reference was not measured in
                one of the runs, or there is no baseline
  failed        the cell errored or timed out in the newest run (an alert, also when it already had)
  fixed         it failed in the baseline and is measured now
Agreement failures in the newest run are alerts too. The bootstrap resamples the samples of all four
cells (newest and baseline, cell and reference) independently; the U test ranks the newest run's
samples against the baseline's, each divided by its own run's reference statistic.

Where a step began: for each regression (and improvement) the cell's quantity over the runs of the
same machine and profile, from up to `context` runs before the baseline through the newest, is split
by binary segmentation with the e-divisive energy statistic (Matteson & James 2014, as in MongoDB's
signal processing and Apache Otava): the split maximising the energy distance between the two sides
is kept when a permutation test (the series shuffled `permutations` times, seeded) gives p < cp_alpha,
and both sides are split again. The last kept split after the baseline whose step has the regression's
direction and size (> threshold) names the first bad run and its commit; without one the newest run is
the first bad run.

Everything here returns data (CheckResult); `render_lines` only formats it.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness import compare
from harness.history import History, HistoryError, RunInfo, info_of
from harness.stats import Interval, resampled_medians
from harness.store import load_run

STATES = ("regression", "improvement", "unchanged", "incomparable", "failed", "fixed", "reference")
FAILING = compare.FAILING
STATISTICS: dict[str, Callable[..., Any]] = {"median": np.median, "mean": np.mean}
REPORT_KIND = "tgrad-lab-check"
REPORT_VERSION = 1


class RuleError(ValueError):
    pass


@dataclasses.dataclass(frozen=True)
class Rule:
    pattern: str  # scenario name glob
    statistic: str  # median | mean
    threshold: float  # relative, 0.05 = 5%

    def __str__(self) -> str:
        return f"{self.pattern}={self.statistic}:{self.threshold * 100:g}%"


DEFAULT_RULE = Rule("*", "median", 0.05)


def parse_rule(text: str) -> Rule:
    """`median:5%`, `B3=median:10%`, `B*=mean:8%`."""
    pattern, _, body = text.strip().rpartition("=")
    statistic, colon, amount = body.partition(":")
    statistic, amount = statistic.strip(), amount.strip()
    if not colon or statistic not in STATISTICS or not amount.endswith("%"):
        raise RuleError(f"alert rule {text!r}: expected [SCENARIO=]STAT:PCT% with STAT in {', '.join(STATISTICS)}")
    try:
        threshold = float(amount[:-1]) / 100
    except ValueError:
        raise RuleError(f"alert rule {text!r}: {amount!r} is not a percentage") from None
    if not 0 < threshold < 10:
        raise RuleError(f"alert rule {text!r}: the threshold must be above 0% and below 1000%")
    return Rule(pattern.strip() or "*", statistic, threshold)


def rule_for(rules: Sequence[Rule], scenario: str) -> Rule:
    matching = [r for r in rules if fnmatch.fnmatchcase(scenario, r.pattern)]
    return matching[-1] if matching else DEFAULT_RULE


@dataclasses.dataclass(frozen=True)
class Options:
    rules: tuple[Rule, ...] = (DEFAULT_RULE,)
    relative_to: str | None = "numpy"  # None: absolute times
    alpha: float = 0.05
    run_jitter: float = 0.015  # between-run sd of a side-by-side ratio, until the history has min_history runs
    min_history: int = 6
    resamples: int = 2000
    seed: int = 0
    context: int = 10  # runs before the baseline the change-point search also sees
    permutations: int = 199
    cp_alpha: float = 0.05


@dataclasses.dataclass(frozen=True)
class CellChange:
    scenario: str
    engine: str
    state: str
    reason: str
    statistic: str
    threshold: float
    change: Interval | None  # q(newest) / q(baseline); > 1: slower
    p_value: float | None  # two-sided Mann-Whitney U of the samples
    p_adjusted: float | None  # z test of log(change) against `noise`, Holm-adjusted over the cells
    new_value: float | None  # q in the newest run (seconds, or a ratio to the reference)
    base_value: float | None
    n_new: int
    n_base: int
    noise: float | None = None  # sd of log(change) expected without a change (within + between runs)
    first_bad: RunInfo | None = None  # regressions and improvements: where the step began
    located_by: str = ""


@dataclasses.dataclass(frozen=True)
class Alert:
    kind: str  # regression | failed | agreement
    scenario: str
    engine: str
    reason: str  # failed: the cell's status and reason; agreement: the error found; regression: ""


@dataclasses.dataclass(frozen=True)
class ChangePoint:
    index: int  # the first element of the right-hand segment
    p_value: float
    step: float  # median(right) / median(left) - 1, of the values (not their logs)


@dataclasses.dataclass(frozen=True)
class CheckResult:
    newest: RunInfo
    baseline: RunInfo | None
    baseline_source: str  # previous | named | file | none
    relative_to: str | None
    alpha: float
    rules: tuple[str, ...]
    cells: tuple[CellChange, ...]
    alerts: tuple[Alert, ...]
    notes: tuple[str, ...]

    @property
    def alerting(self) -> bool:
        return bool(self.alerts)

    def in_state(self, state: str) -> list[CellChange]:
        return [c for c in self.cells if c.state == state]

    def counts(self) -> dict[str, int]:
        return {state: len(self.in_state(state)) for state in STATES}

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": REPORT_KIND,
            "version": REPORT_VERSION,
            "alerting": self.alerting,
            "counts": self.counts(),
            **dataclasses.asdict(self),
        }


# ---------------------------------------------------------------------- statistics
def _average_ranks(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    _, inverse, counts = np.unique(z, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return (ends - (counts - 1) / 2)[inverse], counts


@functools.lru_cache(maxsize=512)
def _u_distribution(n1: int, n2: int) -> np.ndarray:
    """Counts of each U value over all arrangements of n1 + n2 untied values (exact null distribution)."""
    # table[j] = counts for (i, j) as i grows: f(i, j, u) = f(i - 1, j, u - j) + f(i, j - 1, u)
    table = [np.ones(1, dtype=np.float64) for _ in range(n2 + 1)]
    for i in range(1, n1 + 1):
        row = [np.ones(1, dtype=np.float64)]
        for j in range(1, n2 + 1):
            counts = np.zeros(i * j + 1)
            counts[j : j + len(table[j])] += table[j]
            counts[: len(row[j - 1])] += row[j - 1]
            row.append(counts)
        table = row
    return table[n2]


def mann_whitney_u(x: Sequence[float], y: Sequence[float]) -> float:
    """Two-sided p-value of the Mann-Whitney U test: exact for small untied samples (n1 + n2 <= 40),
    else the normal approximation with tie and continuity corrections."""
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n1, n2 = len(a), len(b)
    if n1 == 0 or n2 == 0:
        raise ValueError("no samples")
    ranks, ties = _average_ranks(np.concatenate([a, b]))
    u = float(ranks[:n1].sum() - n1 * (n1 + 1) / 2)
    if n1 + n2 <= 40 and np.all(ties == 1):
        counts = _u_distribution(n1, n2)
        total = counts.sum()
        k = round(u)
        low, high = counts[: k + 1].sum() / total, counts[k:].sum() / total
        return float(min(1.0, 2 * min(low, high)))
    n = n1 + n2
    mean = n1 * n2 / 2
    variance = n1 * n2 / 12 * ((n + 1) - float((ties**3 - ties).sum()) / (n * (n - 1)))
    if variance <= 0:
        return 1.0
    z = max(abs(u - mean) - 0.5, 0.0) / math.sqrt(variance)
    return float(math.erfc(z / math.sqrt(2)))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (same order as given)."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted, running = [1.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def _boot(x: np.ndarray | None, stat: Callable[..., Any], resamples: int, rng: np.random.Generator) -> np.ndarray:
    if x is None:
        return np.ones(resamples)
    index = rng.integers(0, len(x), size=(resamples, len(x)), dtype=np.int32)
    if stat is np.median:
        return resampled_medians(x, index)  # the same numbers, at about half the cost
    return stat(x[index], axis=1)


def energy_statistics(x: np.ndarray) -> np.ndarray:
    """E-divisive statistic Q(tau) (alpha = 1) of splitting x[..., :tau] | x[..., tau:] for tau = 1 .. n-1.

    Q = tau (n - tau) / n * (2 mean|a - b| - mean|a - a'| - mean|b - b'|); batched over leading axes.
    """
    n = x.shape[-1]
    distances = np.abs(x[..., :, None] - x[..., None, :])
    prefix = distances.cumsum(axis=-1).cumsum(axis=-2)  # prefix[i, j] = sum of distances[:i+1, :j+1]
    tau = np.arange(1, n)
    rest = n - tau
    within_left = prefix[..., tau - 1, tau - 1]
    between = prefix[..., tau - 1, n - 1] - within_left
    within_right = prefix[..., n - 1, n - 1][..., None] - within_left - 2 * between
    mean_left = np.where(tau > 1, within_left / np.maximum(tau * (tau - 1), 1), 0.0)
    mean_right = np.where(rest > 1, within_right / np.maximum(rest * (rest - 1), 1), 0.0)
    return tau * rest / n * (2 * between / (tau * rest) - mean_left - mean_right)


def change_points(
    values: Sequence[float], *, permutations: int = 199, alpha: float = 0.05, seed: int = 0
) -> list[ChangePoint]:
    """Binary segmentation of a positive series with the e-divisive statistic on its logs and a
    permutation test per split. Returns the kept splits, sorted by position."""
    logs = np.log(np.asarray(values, dtype=np.float64))
    rng = np.random.default_rng(seed)
    found: list[ChangePoint] = []
    pending = [(0, len(logs))]
    while pending:
        start, stop = pending.pop()
        segment = logs[start:stop]
        if len(segment) < 3:
            continue
        observed = energy_statistics(segment)
        tau = int(np.argmax(observed)) + 1
        shuffled = rng.permuted(np.broadcast_to(segment, (permutations, len(segment))), axis=1)
        null_max = energy_statistics(shuffled).max(axis=1)
        p_value = (1 + int(np.sum(null_max >= observed[tau - 1] - 1e-12))) / (permutations + 1)
        if p_value >= alpha:
            continue
        step = float(np.exp(np.median(segment[tau:]) - np.median(segment[:tau])) - 1)
        found.append(ChangePoint(start + tau, p_value, step))
        pending += [(start, start + tau), (start + tau, stop)]
    return sorted(found, key=lambda c: c.index)


# ---------------------------------------------------------------------- comparing two runs
def _versions(record: dict[str, Any]) -> dict[str, str | None]:
    return {s["name"]: s.get("version") for s in record.get("scenarios", [])}


def _measured(entry: dict[str, Any] | None) -> np.ndarray | None:
    if entry is None or entry["status"] != "ok" or not entry["samples"]:
        return None
    return np.asarray(entry["samples"], dtype=np.float64)


def _quantity(
    pooled: dict[tuple[str, str], dict[str, Any]], scenario: str, engine: str, options: Options, stat: Callable
) -> tuple[np.ndarray | None, np.ndarray | None, str]:
    """(cell samples, reference samples or None for absolute times, why not comparable or '')."""
    cell = _measured(pooled.get((scenario, engine)))
    if cell is None:
        return None, None, "not measured"
    if options.relative_to is None:
        return cell, None, ""
    reference = _measured(pooled.get((scenario, options.relative_to)))
    if reference is None:
        return cell, None, f"reference engine {options.relative_to} not measured"
    return cell, reference, ""


def _value(cell: np.ndarray, reference: np.ndarray | None, stat: Callable) -> float:
    return float(stat(cell) / (stat(reference) if reference is not None else 1.0))


def _cell_keys(new: dict[str, Any], base: dict[str, Any] | None) -> list[tuple[str, str]]:
    keys: list[tuple[str, str]] = []
    for record in (new, base or {}):
        for cell in record.get("cells", []):
            key = (cell["scenario"], cell["engine"])
            if key not in keys:
                keys.append(key)
    return keys


@dataclasses.dataclass
class _Pending:
    key: tuple[str, str]
    rule: Rule
    new: tuple[np.ndarray, np.ndarray | None]
    base: tuple[np.ndarray, np.ndarray | None]
    p_value: float  # Mann-Whitney U
    change: Interval | None = None
    noise: float = 0.0  # standard deviation of log(change) under no change
    p_change: float = 1.0
    within: float = 0.0  # the bootstrap (within-run) part of `noise`


def _compare_pair(
    new: dict[str, Any], base: dict[str, Any] | None, options: Options
) -> tuple[list[CellChange | _Pending], list[Alert]]:
    new_pooled = compare.pool(new["cells"])
    base_pooled = compare.pool(base["cells"]) if base else {}
    new_versions, base_versions = _versions(new), _versions(base or {})
    out: list[CellChange | _Pending] = []
    alerts: list[Alert] = []
    for scenario, engine in _cell_keys(new, base):
        rule = rule_for(options.rules, scenario)
        stat = STATISTICS[rule.statistic]
        entry, before = new_pooled.get((scenario, engine)), base_pooled.get((scenario, engine))

        def plain(state: str, reason: str, _key: tuple[str, str] = (scenario, engine), _rule: Rule = rule):
            return CellChange(*_key, state, reason, _rule.statistic, _rule.threshold, *([None] * 5), 0, 0)

        if entry is None:
            out.append(plain("incomparable", "not in the newest run"))
            continue
        judged = compare.agreement_of(entry)
        if judged.ok is False:
            detail = judged.error or f"max error is {judged.ratio:.3g}x the bound (max ulp {judged.ulp})"
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
        new_scale = stat(new_ref) if new_ref is not None else 1.0
        base_scale = stat(base_ref) if base_ref is not None else 1.0
        p_value = mann_whitney_u(new_cell / new_scale, base_cell / base_scale)
        out.append(_Pending((scenario, engine), rule, (new_cell, new_ref), (base_cell, base_ref), p_value))
    return out, alerts


def _measure_change(item: _Pending, spread: float | None, options: Options, rng: np.random.Generator) -> None:
    """The change with its bootstrap CI, and the z test of log(change) against the noise expected with
    no change: the bootstrap's (within-run) variance plus twice the between-run variance of the cell's
    quantity (`spread`, from the history) or of `run_jitter` when the history is too short."""
    stat = STATISTICS[item.rule.statistic]
    (new_cell, new_ref), (base_cell, base_ref) = item.new, item.base
    r = options.resamples
    draws = (_boot(new_cell, stat, r, rng) / _boot(new_ref, stat, r, rng)) / (
        _boot(base_cell, stat, r, rng) / _boot(base_ref, stat, r, rng)
    )
    lo, hi = np.percentile(draws, [2.5, 97.5])
    point = _value(new_cell, new_ref, stat) / _value(base_cell, base_ref, stat)
    item.change = Interval(point, float(lo), float(hi))
    within = float(np.std(np.log(draws)))
    item.within = within
    item.noise = math.sqrt(within**2 + 2 * options.run_jitter**2)
    if spread is not None:
        item.noise = max(item.noise, math.sqrt(within**2 + 2 * spread**2))
    item.p_change = math.erfc(abs(math.log(point)) / max(item.noise, 1e-12) / math.sqrt(2))


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
        _value(*item.new, stat), _value(*item.base, stat), len(item.new[0]), len(item.base[0]), noise=item.noise,
    )  # fmt: skip


def _families(record: dict[str, Any]) -> dict[str, str]:
    return {c["engine"]: c.get("family", c["engine"]) for c in record.get("cells", [])}


def _library_versions(record: dict[str, Any]) -> dict[str, str | None]:
    return {c["engine"]: (c.get("info") or {}).get("version") for c in record.get("cells", [])}


def _calibrate_on_controls(pending: list[_Pending], new: dict[str, Any], base: dict[str, Any] | None) -> None:
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
    subject_family = families.get(subject, subject)
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


def compare_runs(new: dict[str, Any], base: dict[str, Any] | None, options: Options = Options()) -> list[CellChange]:
    """Every cell of the newest run (and of the baseline) with its state; alerts via check_records."""
    changes, _ = _compare_all(new, base, options, {})
    return changes


def _compare_all(
    new: dict[str, Any], base: dict[str, Any] | None, options: Options, spreads: dict[tuple[str, str], float]
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
    window: Sequence[dict[str, Any]],
    pooled: Sequence[dict[tuple[str, str], dict[str, Any]]],
    key: tuple[str, str],
    version: str | None,
    options: Options,
    stat: Callable,
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
    window: Sequence[dict[str, Any]], pooled: Sequence[dict[tuple[str, str], dict[str, Any]]], options: Options
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
    window: Sequence[dict[str, Any]],
    pooled: Sequence[dict[tuple[str, str], dict[str, Any]]],
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
    records: Sequence[dict[str, Any]],
    *,
    baseline: dict[str, Any] | None = None,
    baseline_source: str | None = None,
    options: Options = Options(),
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
    options: Options = Options(),
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


# ---------------------------------------------------------------------- formatting only
def _pct(ratio: float) -> str:
    return f"{(ratio - 1) * 100:+.1f}%"


def render_lines(result: CheckResult) -> list[str]:
    """One line per regression, improvement, failure and agreement failure, then a summary."""
    quantity = f"relative to {result.relative_to}" if result.relative_to else "absolute time"
    lines = []
    for change in result.cells:
        if change.state not in ("regression", "improvement") or change.change is None:
            continue
        c = change.change
        where = ""
        if change.first_bad is not None:
            where = (
                f"; first bad run {change.first_bad.run_id} (commit {change.first_bad.short_commit}),"
                f" {change.located_by}"
            )
        lines.append(
            f"{change.state.upper() if change.state == 'regression' else change.state}: {change.scenario}"
            f" {change.engine}: {_pct(c.point)} [{_pct(c.lo)}, {_pct(c.hi)}] {change.statistic} time {quantity}"
            f" (threshold {change.threshold * 100:g}%), Mann-Whitney p={change.p_value:.2g}"
            f" (Holm {change.p_adjusted:.2g}), n={change.n_new}/{change.n_base}{where}"
        )
    for alert in result.alerts:
        if alert.kind != "regression":
            lines.append(f"{alert.kind.upper()}: {alert.scenario} {alert.engine}: {alert.reason}")
    counts = result.counts()
    base = "none"
    if result.baseline is not None:
        base = f"{result.baseline.run_id} (commit {result.baseline.short_commit}, {result.baseline_source})"
    summary = ", ".join(f"{n} {state}" for state, n in counts.items() if n)
    lines.append(
        f"check: {result.newest.run_id} (commit {result.newest.short_commit}) vs {base}: {summary or 'no cells'}"
    )
    lines += [f"note: {note}" for note in result.notes]
    return lines
