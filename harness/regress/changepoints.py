"""Where a step began: binary segmentation with the e-divisive energy statistic and a permutation test."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class ChangePoint:
    index: int  # the first element of the right-hand segment
    p_value: float
    step: float  # median(right) / median(left) - 1, of the values (not their logs)


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
    statistic: np.ndarray = tau * rest / n * (2 * between / (tau * rest) - mean_left - mean_right)
    return statistic


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
