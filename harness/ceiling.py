"""The ceiling each cell of a table is read against: the machine's measured FP32 peak or its memory
bandwidth (harness/peak.py), whichever bounds the cell (a roofline).

A run records the ceilings it used (`ceiling` in the run record), so its table renders the same later:
the latest peak the results history holds for the machine (`python -m harness peak`), or one measured at
the start of the run when the history has none, or only one from before the bandwidth probe.
`compare.build_table` reads each cell of a CPU scenario against them (`read_cell`):
- a cell is memory-bound when its arithmetic intensity (flops per byte, every operand read and the
  output written once) is below the machine balance (FP32 peak / bandwidth); without a measured
  bandwidth, when it is a matrix-vector product (M or N is 1);
- a compute-bound cell: its GFLOPS / the FP32 peak;
- a memory-bound cell: the bytes it moves per second / the streaming-read bandwidth.
A run also measures the ceilings briefly just before each round of each CPU scenario (`round_ceilings` in the
run record, `measure_round`): a cell's share is then the median over its rounds of the round's median against
that round's own ceiling, with a 95% bootstrap interval over the rounds. The host's slow spells (another
tenant's memory traffic, a busy core) last seconds to minutes; read against a ceiling measured minutes
earlier, a gemv showed 156% of a bandwidth probe that had run in such a spell. The run-level ceiling still
decides which bound a cell is read against, so a cell keeps its kind from round to round.
An engine states the threads it computes on (Engine.threads, recorded in the run's lab.threads): a
single-thread engine is read against the one-thread ceilings, every other against all threads; one
that does not state them is read against all threads and the table says so.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from harness.record import CeilingRecord, RoundCeilingRecord, ScenarioRecord, Threads
from harness.stats import round_picks
from harness.train_step import CLASSES

ITEMSIZE = {"float16": 2, "bfloat16": 2, "float32": 4, "float64": 8}
# the run-time measurement is shorter than `harness peak`'s, which a run should not wait for
RUN_PEAK_SECONDS = 0.25
# each round's is shorter still: a run takes one per round of every CPU scenario (about a second each)
ROUND_PEAK_SECONDS = 0.05
ROUND_BANDWIDTH_PASSES = 5
RESAMPLES = 2000


@dataclasses.dataclass(frozen=True)
class CellCeiling:
    """One cell read against its ceiling."""

    kind: Literal["peak", "bandwidth"]
    threads: Threads  # which of the machine's ceilings
    stated: bool  # False: the engine does not state its threads (read against all threads)
    achieved: float  # GFLOPS (peak) or GB/s (bandwidth)
    ceiling: float | None  # in the same unit; None: not measured
    # the cell's share of each of its rounds' own ceilings (a run with round ceilings), in round order
    per_round: tuple[float, ...] = ()

    @property
    def fraction(self) -> float | None:
        """The median of the per-round shares where the run measured them, else achieved / the run's ceiling."""
        if self.per_round:
            return float(np.median(self.per_round))
        return None if self.ceiling is None else self.achieved / self.ceiling

    @property
    def interval(self) -> tuple[float, float] | None:
        """95% percentile-bootstrap interval of `fraction`, resampling rounds; None below two rounds."""
        if len(self.per_round) < 2:
            return None
        values = np.asarray(self.per_round, dtype=np.float64)
        draws = np.median(values[round_picks(len(values), RESAMPLES)], axis=1)
        low, high = np.percentile(draws, [2.5, 97.5])
        return float(low), float(high)


def from_history(detail: Mapping[str, Any]) -> CeilingRecord:
    """The ceiling a peak row of the history holds (History.peak()); no bandwidth in rows recorded before
    the bandwidth probe."""
    record: CeilingRecord = {
        "source": "history",
        "measured": str(detail["measured"]),
        "cpu": str(detail.get("cpu", "")),
        "threads": int(detail["threads"]),
        "gflops_one_thread": float(detail["gflops_one_thread"]),
        "gflops_all_threads": float(detail["gflops_all_threads"]),
    }
    bandwidth = detail.get("bandwidth")
    if isinstance(bandwidth, Mapping):
        record["gbps_one_thread"] = float(bandwidth["gbps_one_thread"])
        record["gbps_all_threads"] = float(bandwidth["gbps_all_threads"])
    return record


def measure_now() -> tuple[CeilingRecord, dict[str, Any], dict[str, Any]]:
    """Measure the ceilings now: (the run's record, Peak.as_dict(), Bandwidth.as_dict()). PeakError."""
    from harness import peak

    flops = peak.measure(seconds=RUN_PEAK_SECONDS)
    moved = peak.measure_bandwidth()
    record: CeilingRecord = {
        "source": "measured",
        "measured": datetime.datetime.now(datetime.UTC).isoformat(),
        "cpu": flops.cpu,
        "threads": flops.threads,
        "gflops_one_thread": flops.gflops_one_thread,
        "gflops_all_threads": flops.gflops_all_threads,
        "gbps_one_thread": moved.gbps_one_thread,
        "gbps_all_threads": moved.gbps_all_threads,
    }
    return record, flops.as_dict(), moved.as_dict()


def measure_round(scenario: str, round_index: int) -> RoundCeilingRecord:
    """The four ceilings measured now, briefly, for one round of one scenario. PeakError."""
    from harness import peak

    flops = peak.measure(seconds=ROUND_PEAK_SECONDS)
    moved = peak.measure_bandwidth(passes=ROUND_BANDWIDTH_PASSES)
    return {
        "scenario": scenario,
        "round": round_index,
        "gflops_one_thread": flops.gflops_one_thread,
        "gflops_all_threads": flops.gflops_all_threads,
        "gbps_one_thread": moved.gbps_one_thread,
        "gbps_all_threads": moved.gbps_all_threads,
    }


@dataclasses.dataclass(frozen=True)
class Resolved:
    record: CeilingRecord  # what the run records and its table reads
    # (Peak.as_dict(), Bandwidth.as_dict()) when measured now: the history keeps them with the run
    measured: tuple[dict[str, Any], dict[str, Any]] | None = None


def for_run(machine: str, history_path: Path | None, say: Callable[[str], None]) -> Resolved:
    """The ceilings a run on `machine` reads its cells against: the latest peak of the history at
    `history_path` (when the file exists; it is only read) if it has a bandwidth, else measured now.
    Source "none" with the reason when neither works."""
    from harness import history, peak

    recorded: dict[str, Any] | None = None
    if history_path is not None and history_path.is_file():
        try:
            with history.History(history_path) as h:
                recorded = h.peak(machine)
        except history.HistoryError as e:
            say(f"warning: the history's peak not read ({e}); measuring the ceilings now")
    if recorded is not None and isinstance(recorded.get("bandwidth"), Mapping):
        return Resolved(from_history(recorded))
    what = "no bandwidth" if recorded is not None else "no peak"
    say(f"the history holds {what} for this machine: measuring its FP32 peak and memory bandwidth (a few seconds)")
    try:
        record, flops, moved = measure_now()
    except peak.PeakError as e:
        return Resolved(
            {"source": "none", "reason": f"no peak recorded for this machine, and measuring one failed: {e}"}
        )
    return Resolved(record, (flops, moved))


def moved_bytes(scenario: ScenarioRecord) -> int | None:
    """The fewest bytes a cell can move: every operand read once and every output written once, in the
    scenario's dtype; None when the shapes or dtype are not recorded (an imported pytest-benchmark run)."""
    a, b, itemsize = scenario.get("a"), scenario.get("b"), ITEMSIZE.get(scenario.get("dtype", ""))
    if not a or not b or itemsize is None:
        return None
    bias = scenario.get("bias") or []
    if scenario.get("op") == "train_step":
        rows, inputs, hidden = a[-2], a[-1], b[-1]
        # read x, w1, b1, w2 and the targets; write w1, b1 and w2 updated
        parameters = inputs * hidden + hidden + hidden * CLASSES
        return itemsize * (rows * inputs + rows * CLASSES + 2 * parameters)
    output = math.prod(_broadcast(a[:-2], b[:-2])) * a[-2] * b[-1]
    return itemsize * (math.prod(a) + math.prod(b) + (math.prod(bias) if bias else 0) + output)


def _broadcast(left: list[int], right: list[int]) -> list[int]:
    width = max(len(left), len(right))
    left, right = [1] * (width - len(left)) + left, [1] * (width - len(right)) + right
    return [max(x, y) for x, y in zip(left, right, strict=True)]


def _matrix_vector(scenario: ScenarioRecord) -> bool:
    a, b = scenario.get("a"), scenario.get("b")
    if not a or not b or scenario.get("op") == "train_step":
        return False
    return min(a[-2], b[-1]) == 1


def _ceilings(ceiling: CeilingRecord, threads: Threads) -> tuple[float | None, float | None]:
    """(FP32 peak in GFLOPS, bandwidth in GB/s) for one thread or all threads; None where not measured."""
    if ceiling["source"] == "none":
        return None, None
    return _values(ceiling, threads)


def _values(record: Mapping[str, Any], threads: Threads) -> tuple[float | None, float | None]:
    """(GFLOPS, GB/s) of a run's or a round's ceilings for one thread or all threads."""
    suffix = "one_thread" if threads == "one" else "all_threads"
    return record.get(f"gflops_{suffix}"), record.get(f"gbps_{suffix}")


def read_cell(
    scenario: ScenarioRecord,
    threads: Threads | None,
    median_s: float | None,
    ceiling: CeilingRecord | None,
    rounds: Sequence[tuple[float, RoundCeilingRecord]] = (),
) -> CellCeiling | None:
    """The cell read against its ceiling (its fraction None when that ceiling is not measured), or None when
    there is nothing to read: a run from before the ceilings, a cell not measured, no flop count, or not a
    CPU scenario. `rounds`: (the round's median seconds, the ceilings measured before that round) for each
    round that has both; the run-level `ceiling` decides the kind."""
    flops = scenario.get("flops")
    if ceiling is None or median_s is None or median_s <= 0 or not flops:
        return None
    if scenario.get("device", "CPU").upper() != "CPU":
        return None
    which: Threads = threads or "all"
    peak, bandwidth = _ceilings(ceiling, which)
    moved = moved_bytes(scenario)
    if moved and peak and bandwidth:
        memory_bound = flops / moved < peak / bandwidth
    else:
        memory_bound = _matrix_vector(scenario)
    kind: Literal["peak", "bandwidth"]
    if memory_bound and moved:
        kind, amount, value = "bandwidth", float(moved), bandwidth
    else:
        kind, amount, value = "peak", float(flops), peak
    per_round: list[float] = []
    for round_s, measured in rounds:
        round_value = _values(measured, which)[0 if kind == "peak" else 1]
        if round_s > 0 and round_value:
            per_round.append(amount / round_s / 1e9 / round_value)
    return CellCeiling(kind, which, threads is not None, amount / median_s / 1e9, value, tuple(per_round))
