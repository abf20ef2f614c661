"""The regression check's data: alert rules (parsed data), options, and the result types."""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from harness import compare
from harness.history import RunInfo
from harness.stats import Interval

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


DEFAULT_OPTIONS = Options()  # frozen: safe as a default argument
