"""The check's tests: Mann-Whitney U and Holm's correction."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np


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


def mann_whitney_u(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
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
