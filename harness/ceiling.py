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
An engine states the threads it computes on (Engine.threads, recorded in the run's lab.threads): a
single-thread engine is read against the one-thread ceilings, every other against all threads; one
that does not state them is read against all threads and the table says so.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from harness.record import CeilingRecord, ScenarioRecord, Threads
from harness.train_step import CLASSES

ITEMSIZE = {"float16": 2, "bfloat16": 2, "float32": 4, "float64": 8}
# the run-time measurement is shorter than `harness peak`'s, which a run should not wait for
RUN_PEAK_SECONDS = 0.25


@dataclasses.dataclass(frozen=True)
class CellCeiling:
    """One cell read against its ceiling."""

    kind: Literal["peak", "bandwidth"]
    threads: Threads  # which of the machine's ceilings
    stated: bool  # False: the engine does not state its threads (read against all threads)
    achieved: float  # GFLOPS (peak) or GB/s (bandwidth)
    ceiling: float | None  # in the same unit; None: not measured

    @property
    def fraction(self) -> float | None:
        return None if self.ceiling is None else self.achieved / self.ceiling


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
    if threads == "one":
        return ceiling.get("gflops_one_thread"), ceiling.get("gbps_one_thread")
    return ceiling.get("gflops_all_threads"), ceiling.get("gbps_all_threads")


def read_cell(
    scenario: ScenarioRecord,
    threads: Threads | None,
    median_s: float | None,
    ceiling: CeilingRecord | None,
) -> CellCeiling | None:
    """The cell read against its ceiling (its fraction None when that ceiling is not measured), or None when
    there is nothing to read: a run from before the ceilings, a cell not measured, no flop count, or not a
    CPU scenario."""
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
    if memory_bound and moved:
        return CellCeiling("bandwidth", which, threads is not None, moved / median_s / 1e9, bandwidth)
    return CellCeiling("peak", which, threads is not None, flops / median_s / 1e9, peak)
