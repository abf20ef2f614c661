"""Statistics over timing samples: medians, percentiles, and confidence intervals.

Spread is reported as the median with p10-p90. Ratios (speedups) come with a percentile-bootstrap
confidence interval of the ratio of medians, resampling each engine's samples independently with a
fixed seed so a report is reproducible from the stored samples.

A cell measured in several rounds ran in one process per round, and processes differ by more than the
calls within one (where the operands' pages landed, what shares the cores and caches meanwhile), so
pooling every call as one sample makes an interval far narrower than the spread between runs. Such a
cell's central value is the median of its round medians (each process counts once, however many calls
its round timed), and its bootstrap resamples rounds first and then calls within each drawn round, so
the interval carries the spread between processes.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

# a cell's samples, one sequence (or array) per round
Rounds = Sequence[Sequence[float]] | Sequence[np.ndarray]

Z95 = 1.959963984540054


@dataclasses.dataclass(frozen=True)
class Summary:
    n: int
    median: float
    p10: float
    p90: float
    mean: float
    min: float
    max: float

    def as_dict(self) -> dict[str, float | int]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Interval:
    point: float
    lo: float
    hi: float
    confidence: float = 0.95

    def as_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


def summarize(samples: Sequence[float]) -> Summary:
    if len(samples) == 0:
        raise ValueError("no samples")
    x = np.asarray(samples, dtype=np.float64)
    p10, median, p90 = np.percentile(x, [10, 50, 90])
    return Summary(len(x), float(median), float(p10), float(p90), float(x.mean()), float(x.min()), float(x.max()))


def summarize_rounds(rounds: Sequence[Sequence[float]]) -> Summary:
    """`summarize` of the pooled samples of all rounds, with the median of the round medians as the
    median (one round: its median). Rounds without samples are ignored."""
    kept = [np.asarray(r, dtype=np.float64) for r in rounds if len(r)]
    if not kept:
        raise ValueError("no samples")
    pooled = summarize(np.concatenate(kept).tolist())
    return dataclasses.replace(pooled, median=round_median(rounds))


def round_statistic(rounds: Rounds, stat: Callable[..., Any] = np.median) -> float:
    """`stat` over the rounds of each round's `stat` (rounds without samples ignored): one value per
    process, so a round with many samples weighs no more than one with few."""
    values = [float(stat(np.asarray(r, dtype=np.float64))) for r in rounds if len(r)]
    if not values:
        raise ValueError("no samples")
    return float(stat(np.asarray(values)))


def round_median(rounds: Sequence[Sequence[float]]) -> float:
    """The median of the rounds' medians (rounds without samples ignored)."""
    return round_statistic(rounds, np.median)


def median_ci_halfwidth(samples: Sequence[float]) -> float:
    """Relative half-width of a distribution-free 95% CI of the median (order statistics).

    Ranks n/2 -+ z*sqrt(n)/2 (normal approximation to the binomial). Returns inf below 10 samples, where
    the approximation is poor; the timing loop uses it only to stop early.
    """
    n = len(samples)
    if n < 10:
        return math.inf
    x = np.sort(np.asarray(samples, dtype=np.float64))
    half = Z95 * math.sqrt(n) / 2
    lo = max(0, math.floor(n / 2 - half))
    hi = min(n - 1, math.ceil(n / 2 + half))
    median = float(np.median(x))
    if median <= 0:
        return math.inf
    return float(x[hi] - x[lo]) / 2 / median


def resampled_medians(x: np.ndarray, index: np.ndarray) -> np.ndarray:
    """np.median(x[index], axis=1), bitwise, at a fraction of its cost.

    x is ranked once (a stable sort, so equal values get distinct ranks in a fixed order); the middle
    ranks of each resample are selected with np.partition on small integers, and the median is read
    back from the sorted values (the mean of the two middle ones for an even count, as np.median).
    """
    n = index.shape[1]
    order = np.argsort(x, kind="stable")
    rank = np.empty(n, dtype=np.int32)
    rank[order] = np.arange(n, dtype=np.int32)
    ordered = x[order]
    if n % 2:
        middle = np.partition(rank[index], n // 2, axis=1)[:, n // 2]
        odd: np.ndarray = ordered[middle]
        return odd
    both = np.partition(rank[index], [n // 2 - 1, n // 2], axis=1)
    even: np.ndarray = (ordered[both[:, n // 2 - 1]] + ordered[both[:, n // 2]]) / 2
    return even


def _bootstrap_medians(x: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    index = rng.integers(0, len(x), size=(resamples, len(x)), dtype=np.int32)
    return resampled_medians(x, index)


def _bootstrap(x: np.ndarray, stat: Callable[..., Any], resamples: int, rng: np.random.Generator) -> np.ndarray:
    """`stat` of `resamples` resamples of x; the median through resampled_medians (the same numbers)."""
    if stat is np.median:
        return _bootstrap_medians(x, resamples, rng)
    index = rng.integers(0, len(x), size=(resamples, len(x)), dtype=np.int32)
    values: np.ndarray = stat(x[index], axis=1)
    return values


def round_picks(rounds: int, resamples: int) -> np.ndarray:
    """The rounds each bootstrap draw picks (resamples x rounds, with replacement), a function of the two
    counts only: cells of one run with as many rounds pick the same rounds in every draw, so a ratio of
    two cells resamples alternation rounds as pairs, and a slow spell of the host that spans one
    round's processes moves both sides of the ratio together."""
    return np.random.default_rng([rounds, resamples]).integers(0, rounds, size=(resamples, rounds))


def bootstrap_rounds(
    rounds: Rounds,
    stat: Callable[..., Any] = np.median,
    *,
    resamples: int = 2000,
    seed: int = 0,
    picks: np.ndarray | None = None,
) -> np.ndarray:
    """Two-stage bootstrap draws of `round_statistic(rounds, stat)`: each draw picks as many rounds as
    there are, with replacement (`picks`, resamples x rounds, by default round_picks), and for each
    pick one bootstrap `stat` of that round's samples (drawn apart for every pick, from a generator
    seeded with `seed`, so a round picked twice does not repeat its draw); the draw is `stat` of the
    picks. One round: the bootstrap values of its samples."""
    kept = [np.asarray(r, dtype=np.float64) for r in rounds if len(r)]
    if not kept:
        raise ValueError("no samples")
    rng = np.random.default_rng(seed)
    within = np.stack([_bootstrap(r, stat, resamples, rng) for r in kept], axis=1)  # (resamples, rounds)
    if len(kept) == 1:
        return within[:, 0]
    picked = round_picks(len(kept), resamples) if picks is None else picks
    if picked.shape != (resamples, len(kept)):
        raise ValueError(f"picks of shape {picked.shape} for {resamples} draws of {len(kept)} rounds")
    draws = rng.integers(0, resamples, size=(resamples, len(kept)))
    values: np.ndarray = stat(within[draws, picked], axis=1)
    return values


def bootstrap_round_medians(rounds: Sequence[Sequence[float]], *, resamples: int = 2000, seed: int = 0) -> np.ndarray:
    """bootstrap_rounds with the median: draws of `round_median(rounds)`."""
    return bootstrap_rounds(rounds, np.median, resamples=resamples, seed=seed)


def ratio_interval(point: float, numerator: np.ndarray, denominator: np.ndarray, confidence: float = 0.95) -> Interval:
    """`point` with the percentile interval of numerator / denominator (bootstrap draws of each)."""
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.percentile(numerator / denominator, [tail, 100 - tail])
    return Interval(point, float(lo), float(hi), confidence)


def bootstrap_ratio_of_medians(
    numerator: Sequence[float],
    denominator: Sequence[float],
    *,
    resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """median(numerator) / median(denominator) with a percentile-bootstrap CI (both resampled from one
    generator seeded with `seed`).

    With numerator = another engine's times and denominator = tgrad's, this is tgrad's speedup.
    """
    x = np.asarray(numerator, dtype=np.float64)
    y = np.asarray(denominator, dtype=np.float64)
    if len(x) == 0 or len(y) == 0:
        raise ValueError("no samples")
    rng = np.random.default_rng(seed)
    draws_x, draws_y = _bootstrap_medians(x, resamples, rng), _bootstrap_medians(y, resamples, rng)
    return ratio_interval(float(np.median(x) / np.median(y)), draws_x, draws_y, confidence)


def bootstrap_ratio_of_round_medians(
    numerator: Sequence[Sequence[float]],
    denominator: Sequence[Sequence[float]],
    *,
    resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """round_median(numerator) / round_median(denominator), each a list of rounds' samples, with the
    percentile interval of their two-stage bootstrap draws (bootstrap_round_medians, seeds seed and
    seed + 1)."""
    draws_x = bootstrap_round_medians(numerator, resamples=resamples, seed=seed)
    draws_y = bootstrap_round_medians(denominator, resamples=resamples, seed=seed + 1)
    return ratio_interval(round_median(numerator) / round_median(denominator), draws_x, draws_y, confidence)


def bootstrap_median(
    samples: Sequence[float], *, resamples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> Interval:
    """The median with a percentile-bootstrap CI."""
    x = np.asarray(samples, dtype=np.float64)
    rng = np.random.default_rng(seed)
    medians = _bootstrap_medians(x, resamples, rng)
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.percentile(medians, [tail, 100 - tail])
    return Interval(float(np.median(x)), float(lo), float(hi), confidence)
