"""The steady-state timing loop (runs inside the worker process).

Warm-up calls, then calls batched into rounds long enough for the timer's resolution, repeated until
the median's confidence interval is tight or the time budget is spent, and never fewer than
`min_samples`. The garbage collector is off while timing. Every sample is kept.
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
    warmup: list[float]  # seconds of each warm-up call
    inner: int  # calls per round
    stop_reason: str  # "ci", "time", "max_samples"
    self_timed: bool  # samples come from the step itself, not the wall clock

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _timed(step: Step, clock: Clock) -> tuple[float, bool]:
    start = clock()
    reported = step()
    elapsed = clock() - start
    return (reported, True) if reported is not None else (elapsed, False)


def measure(step: Step, budget: Budget, first_call_s: float, clock: Clock = time.perf_counter) -> Measurement:
    warmup: list[float] = []
    self_timed = False
    for _ in range(budget.warmup):
        seconds, self_timed = _timed(step, clock)
        warmup.append(seconds)
    typical = min(warmup) if warmup else first_call_s
    inner = 1
    if not self_timed and typical > 0:
        inner = min(10_000, max(1, math.ceil(budget.min_round_s / typical - 1e-9)))

    samples: list[float] = []
    stop_reason = "max_samples"
    gc.collect()
    gc_was_enabled = gc.isenabled()
    gc.disable()
    start = clock()
    try:
        while len(samples) < budget.max_samples:
            round_start = clock()
            reported_total = 0.0
            for _ in range(inner):
                reported = step()
                if reported is not None:
                    self_timed = True
                    reported_total += reported
            elapsed = clock() - round_start
            samples.append((reported_total if self_timed else elapsed) / inner)
            if len(samples) < budget.min_samples:
                continue
            if clock() - start >= budget.time_s:
                stop_reason = "time"
                break
            if median_ci_halfwidth(samples) <= budget.target_rel_ci:
                stop_reason = "ci"
                break
    finally:
        if gc_was_enabled:
            gc.enable()
    return Measurement(samples, warmup, inner, stop_reason, self_timed)
