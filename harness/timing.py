"""The steady-state timing loop (runs inside the worker process).

Warm-up: `warmup` calls timed one by one, then rounds of calls until `warmup_s` has passed since the
warm-up began. A process's first thousands of small calls run slower than its later ones (a worker
thread whose core was idle, caches and predictors filling), and a few counted calls do not cover
that, so timing starts in the steady state. Then calls batched into rounds long enough for the
timer's resolution, repeated until the median's confidence interval is tight or the time budget is
spent, and never fewer than `min_samples`. The interval is computed again only when the sample count
has grown by CHECK_GROWTH, not after every round: that work between rounds (sorting every sample so
far) evicts what the next round's first call runs from, which would be timed as the engine's cost.
The garbage collector is off while timing. Every sample and every warm-up round is kept.
"""

from __future__ import annotations

import dataclasses
import gc
import math
import time
from collections.abc import Callable
from typing import Any

from harness.scenario import Budget
from harness.stats import median_ci_halfwidth

Step = Callable[[], float | None]
Clock = Callable[[], float]


@dataclasses.dataclass(frozen=True)
class Measurement:
    samples: list[float]  # seconds per call, one per round
    # seconds per call of each warm-up round: the `warmup` counted calls (one call each), then the
    # rounds of `inner` calls that fill `warmup_s`
    warmup: list[float]
    inner: int  # calls per round
    stop_reason: str  # "ci", "time", "max_samples"
    self_timed: bool  # samples come from the step itself, not the wall clock

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# the stopping rule's interval is computed again once the sample count has grown by this factor
CHECK_GROWTH = 1.25
# warm-up rounds last about warmup_s / WARMUP_ROUNDS each (at least min_round_s), which keeps the record
# of a cell's warm-up short; they stop at MAX_WARMUP_ROUNDS even before warmup_s has passed (a clock
# that stands still cannot hold the loop)
WARMUP_ROUNDS = 50
MAX_WARMUP_ROUNDS = 100_000


def _round(step: Step, inner: int, clock: Clock) -> tuple[float, bool]:
    """One round of `inner` calls: (seconds per call, whether the step timed itself)."""
    round_start = clock()
    reported_total, self_timed = 0.0, False
    for _ in range(inner):
        reported = step()
        if reported is not None:
            self_timed = True
            reported_total += reported
    elapsed = clock() - round_start
    return (reported_total if self_timed else elapsed) / inner, self_timed


def _inner(round_s: float, typical: float, self_timed: bool) -> int:
    """Calls per round: enough for `round_s` at `typical` seconds per call (one for a step that times
    itself)."""
    if self_timed or typical <= 0:
        return 1
    return min(10_000, max(1, math.ceil(round_s / typical - 1e-9)))


def measure(step: Step, budget: Budget, first_call_s: float, clock: Clock = time.perf_counter) -> Measurement:
    warmup: list[float] = []
    self_timed = False
    warm_start = clock()
    for _ in range(budget.warmup):
        seconds, timed_itself = _round(step, 1, clock)
        self_timed = self_timed or timed_itself
        warmup.append(seconds)
    # rounds until warmup_s has passed, each sized from the call time the previous one read
    warm_round_s = max(budget.min_round_s, budget.warmup_s / WARMUP_ROUNDS)
    typical = warmup[-1] if warmup else first_call_s
    rounds = 0
    while clock() - warm_start < budget.warmup_s and rounds < MAX_WARMUP_ROUNDS:
        typical, timed_itself = _round(step, _inner(warm_round_s, typical, self_timed), clock)
        self_timed = self_timed or timed_itself
        warmup.append(typical)
        rounds += 1
    # the timed rounds are sized from the fastest warm-up call
    inner = _inner(budget.min_round_s, min(warmup) if warmup else first_call_s, self_timed)

    samples: list[float] = []
    stop_reason = "max_samples"
    next_check = budget.min_samples
    gc.collect()
    gc_was_enabled = gc.isenabled()
    gc.disable()
    start = clock()
    try:
        while len(samples) < budget.max_samples:
            per_call, timed_itself = _round(step, inner, clock)
            self_timed = self_timed or timed_itself
            samples.append(per_call)
            if len(samples) < budget.min_samples:
                continue
            if clock() - start >= budget.time_s:
                stop_reason = "time"
                break
            if len(samples) < next_check:
                continue
            next_check = max(len(samples) + 1, math.ceil(len(samples) * CHECK_GROWTH))
            if median_ci_halfwidth(samples) <= budget.target_rel_ci:
                stop_reason = "ci"
                break
    finally:
        if gc_was_enabled:
            gc.enable()
    return Measurement(samples, warmup, inner, stop_reason, self_timed)
