"""Statistics and the timing loop, with known inputs and a fake clock."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from harness import stats, timing
from harness.scenario import Budget
from harness.timing import measure


def test_summary_matches_numpy() -> None:
    x = [5.0, 1.0, 3.0, 2.0, 4.0, 10.0]
    s = stats.summarize(x)
    assert (s.n, s.median, s.min, s.max) == (6, 3.5, 1.0, 10.0)
    assert s.p10 == pytest.approx(np.percentile(x, 10)) and s.p90 == pytest.approx(np.percentile(x, 90))


def test_bootstrap_ratio_covers_the_true_ratio() -> None:
    rng = np.random.default_rng(1)
    fast = 1e-3 * rng.lognormal(0, 0.05, 200)
    slow = 2.5e-3 * rng.lognormal(0, 0.05, 200)
    interval = stats.bootstrap_ratio_of_medians(slow, fast, seed=3)
    assert interval.lo < 2.5 < interval.hi
    assert interval.hi - interval.lo < 0.05  # 200 samples, 5% spread: a tight interval
    assert stats.bootstrap_ratio_of_medians(slow, fast, seed=3) == interval  # seeded: reproducible
    wide = stats.bootstrap_ratio_of_medians(slow[:10], fast[:10], seed=3)
    assert wide.hi - wide.lo > interval.hi - interval.lo


@pytest.mark.parametrize("n", [1, 2, 7, 8, 141, 600])
def test_resampled_medians_equal_numpys_bitwise(n: int) -> None:
    rng = np.random.default_rng(n)
    x = np.round(rng.lognormal(0, 0.3, n), 2)  # rounded: ties, which the rank counts must handle
    index = rng.integers(0, n, size=(300, n), dtype=np.int32)
    assert np.array_equal(stats.resampled_medians(x, index), np.median(x[index], axis=1))


def test_bootstrap_median() -> None:
    x = np.arange(1.0, 102.0)
    interval = stats.bootstrap_median(x, seed=0)
    assert interval.point == 51.0 and interval.lo < 51.0 < interval.hi


def test_median_ci_halfwidth() -> None:
    assert math.isinf(stats.median_ci_halfwidth([1.0] * 9))
    assert stats.median_ci_halfwidth([1.0] * 20) == 0.0
    rng = np.random.default_rng(0)
    noisy = 1 + 0.1 * rng.standard_normal(1000)
    small, large = stats.median_ci_halfwidth(noisy[:50]), stats.median_ci_halfwidth(noisy)
    assert 0 < large < small < 0.1


class FakeClock:
    """A clock that advances only when a fake step runs."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_rounds_are_batched_to_beat_timer_resolution() -> None:
    clock = FakeClock()

    def step() -> None:
        clock.now += 1e-6  # a 1 µs call

    budget = Budget(warmup_s=0, warmup=2, min_samples=5, max_samples=5, time_s=10, min_round_s=1e-4)
    m = measure(step, budget, first_call_s=1e-3, clock=clock)
    assert m.inner == 100
    assert m.samples == pytest.approx([1e-6] * 5)
    assert m.stop_reason == "max_samples" and not m.self_timed


def test_stops_on_a_tight_ci_but_never_below_min_samples() -> None:
    clock = FakeClock()

    def step() -> None:
        clock.now += 1e-2

    budget = Budget(
        warmup_s=0, warmup=0, min_samples=12, max_samples=1000, time_s=100, target_rel_ci=0.01, min_round_s=0
    )
    m = measure(step, budget, first_call_s=1e-2, clock=clock)
    assert len(m.samples) == 12 and m.stop_reason == "ci"


def test_stops_when_the_time_budget_is_spent() -> None:
    clock = FakeClock()
    calls = [0]

    def step() -> None:
        calls[0] += 1
        clock.now += 0.1 * (1 + (calls[0] % 3))  # noisy: the CI never gets tight

    budget = Budget(
        warmup_s=0, warmup=1, min_samples=5, max_samples=1000, time_s=2.0, target_rel_ci=1e-6, min_round_s=0
    )
    m = measure(step, budget, first_call_s=0.1, clock=clock)
    assert m.stop_reason == "time"
    assert 5 <= len(m.samples) <= 2.0 / 0.1 + 1


def test_self_timed_steps_report_their_own_seconds() -> None:
    values = iter([0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625])

    def step() -> float:
        return next(values)

    budget = Budget(warmup_s=0, warmup=1, min_samples=5, max_samples=5, time_s=100)
    m = measure(step, budget, first_call_s=1.0)
    assert m.self_timed and m.inner == 1
    assert m.warmup == [0.5] and m.samples == [0.25, 0.125, 0.0625, 0.03125, 0.015625]


def test_warm_up_runs_until_warmup_s_has_passed_then_timing_starts_in_the_steady_state() -> None:
    """A step whose first 3,000 calls cost 10 µs and later ones 1 µs (a process warming up): three counted
    warm-up calls leave the transient in the samples; a warm-up of 0.1 s covers it."""
    clock = FakeClock()
    calls = [0]

    def step() -> None:
        calls[0] += 1
        clock.now += 10e-6 if calls[0] <= 3000 else 1e-6

    cold = measure(
        step,
        Budget(warmup=3, warmup_s=0, min_samples=20, max_samples=20, time_s=100, min_round_s=1e-4),
        first_call_s=1e-5,
        clock=clock,
    )
    assert cold.warmup == pytest.approx([10e-6] * 3) and cold.inner == 10
    assert cold.samples == pytest.approx([10e-6] * 20)  # still inside the transient

    clock.now, calls[0] = 0.0, 0
    budget = Budget(warmup=3, warmup_s=0.1, min_samples=20, max_samples=20, time_s=100, min_round_s=1e-4)
    warm = measure(step, budget, first_call_s=1e-5, clock=clock)
    sampling_s = 20 * 100 * 1e-6  # 20 rounds of 100 calls: inner comes from the fastest warm-up call
    assert warm.inner == 100 and warm.samples == pytest.approx([1e-6] * 20)
    assert 0.1 <= clock.now - sampling_s < 0.1 + 2 * 0.1 / timing.WARMUP_ROUNDS
    assert warm.warmup[:3] == pytest.approx([10e-6] * 3) and warm.warmup[-1] == pytest.approx(1e-6)
    # each warm-up round lasts about warmup_s / WARMUP_ROUNDS, so the record stays short
    assert len(warm.warmup) <= 3 + timing.WARMUP_ROUNDS + 2


def test_warm_up_rounds_stop_even_when_the_clock_stands_still(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timing, "MAX_WARMUP_ROUNDS", 7)
    clock = FakeClock()  # never advanced: warmup_s would never pass
    budget = Budget(warmup=0, warmup_s=1.0, min_samples=3, max_samples=7, time_s=0, min_round_s=0)
    m = measure(lambda: None, budget, first_call_s=1e-3, clock=clock)
    assert len(m.warmup) == 7 and len(m.samples) == 3


def test_the_stopping_rule_is_checked_as_the_samples_grow_not_after_every_round(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Sorting every sample after every round costs O(n) per round and evicts the caches the next round
    runs from; the interval is computed again only when the count has grown by CHECK_GROWTH."""
    checks: list[int] = []
    real = timing.median_ci_halfwidth

    def counted(samples: list[float]) -> float:
        checks.append(len(samples))
        return real(samples)

    monkeypatch.setattr(timing, "median_ci_halfwidth", counted)
    clock = FakeClock()
    calls = [0]

    def step() -> None:
        calls[0] += 1
        clock.now += 1e-3 * (1 + (calls[0] % 2))  # two values: the interval stays wide

    budget = Budget(
        warmup=0, warmup_s=0, min_samples=10, max_samples=1000, time_s=1e9, target_rel_ci=1e-6, min_round_s=0
    )
    m = measure(step, budget, first_call_s=1e-3, clock=clock)
    assert len(m.samples) == 1000 and m.stop_reason == "max_samples"
    assert checks[0] == 10 and len(checks) <= 25
    assert all(b >= a * timing.CHECK_GROWTH for a, b in itertools.pairwise(checks))


def _rounds(rng: np.random.Generator, count: int, scale: float = 1.0, samples: int = 30) -> list[list[float]]:
    """`count` processes' timings: each process's own level (lognormal, 20%) times per-call noise (2%)."""
    return [list(scale * np.exp(rng.normal(0, 0.2)) * rng.lognormal(0, 0.02, samples)) for _ in range(count)]


def test_summarize_rounds_takes_the_median_of_round_medians() -> None:
    rounds = [[1.0, 2.0, 3.0], [10.0] * 50, [4.0, 5.0]]  # the 50-sample round does not outweigh the others
    s = stats.summarize_rounds([*rounds, []])
    assert s.median == 4.5 == stats.round_median(rounds)  # medians 2, 10 and 4.5
    pooled = [x for r in rounds for x in r]
    assert s.n == len(pooled) and s.p10 == pytest.approx(np.percentile(pooled, 10))
    assert stats.summarize_rounds([rounds[0]]) == stats.summarize(rounds[0])


def test_round_bootstrap_covers_a_ratio_whose_processes_differ() -> None:
    """Two engines with the same time, measured in 5 processes each whose levels differ by 20%: the CI
    resampling rounds covers the true ratio 1 in nearly 95% of runs; pooling every call as one sample
    gives a narrow interval that misses it in most runs."""
    rng = np.random.default_rng(7)
    runs, by_round, pooled = 80, 0, 0
    for run in range(runs):
        a, b = _rounds(rng, 5), _rounds(rng, 5)
        interval = stats.bootstrap_ratio_of_round_medians(a, b, resamples=1000, seed=run)
        by_round += interval.lo <= 1 <= interval.hi
        flat = stats.bootstrap_ratio_of_medians(np.concatenate(a), np.concatenate(b), resamples=1000, seed=run)
        pooled += flat.lo <= 1 <= flat.hi
    assert by_round >= 0.85 * runs and pooled <= 0.3 * runs


def test_ratios_resample_alternation_rounds_as_pairs() -> None:
    """A slow spell that spans both engines' processes of one round scales both alike: with the rounds
    resampled as pairs the ratio's CI stays tight around 2, where independent picks would spread it over
    the spells' range."""
    rng = np.random.default_rng(3)
    spells = np.exp(rng.normal(0, 0.3, 7))
    fast = [list(s * rng.lognormal(0, 0.01, 40)) for s in spells]
    slow = [list(2 * s * rng.lognormal(0, 0.01, 40)) for s in spells]
    interval = stats.bootstrap_ratio_of_round_medians(slow, fast, seed=5)
    assert interval.lo < 2 < interval.hi and interval.hi - interval.lo < 0.1
    assert np.array_equal(stats.round_picks(7, 100), stats.round_picks(7, 100))
