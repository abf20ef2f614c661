"""One engine cell in its own process: `python -m harness.worker REQUEST.json`.

Why a process per cell: settings such as BEAM must be in the environment before tinygrad is imported,
and an idle BLAS thread pool must not steal cores from the next measurement (OpenBLAS's worker
busy-waits about 0.11 s after every numpy matmul; on 2 cores that halves whatever runs next in the
same process).

The worker appends JSON events, one per line, to the request's events file as it goes, so the parent
knows which phase a killed worker was in (a BEAM search that hit its limit, say):
loaded | unavailable | refused, first_call_start, first_call_done, result | unsupported | error.
A step that states facts about its kernels (`facts()`: certificates, rounding depth) has them in the
result event.
`refused` (a debug build, Engine.refusal) stops the whole run before anything is timed.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from harness.engines import Unavailable, Unsupported, resolve
from harness.scenario import Budget
from harness.timing import measure
from harness.workload import Inputs


def _emit(stream: TextIO, event: str, **data: Any) -> None:
    stream.write(json.dumps({"event": event, "t": time.time(), **data}, default=str) + "\n")
    stream.flush()


def run_request(request: dict[str, Any], events: TextIO) -> int:
    engine = resolve(request["engine"])
    started = time.perf_counter()
    try:
        info = engine.load()
    except Unavailable as e:
        _emit(events, "unavailable", reason=str(e))
        return 0
    _emit(events, "loaded", info=info, import_s=time.perf_counter() - started)
    refusal = engine.refusal(info)
    if refusal is not None:
        _emit(events, "refused", reason=refusal)
        return 0

    inputs = Inputs.load(Path(request["inputs"]), request["op"], request["layout"])
    budget = Budget(**request["budget"])
    try:
        engine.check_device(request["device"])
        prepared = engine.prepare(inputs, request["device"])
        _emit(events, "first_call_start")
        first_start = time.perf_counter()
        reported = prepared.step()
        first_call_s = reported if reported is not None else time.perf_counter() - first_start
        _emit(events, "first_call_done", seconds=first_call_s)
        measurement = measure(prepared.step, budget, first_call_s)
        output = prepared.output()
        facts = prepared.facts() if hasattr(prepared, "facts") else None  # the kernels' certificates
    except (Unsupported, NotImplementedError) as e:
        _emit(events, "unsupported", reason=f"{type(e).__name__}: {e}")
        return 0
    except Unavailable as e:  # the library loads, but the scenario's device is not usable here
        _emit(events, "unavailable", reason=str(e))
        return 0
    np.save(request["output"], np.asarray(output))
    _emit(events, "result", **measurement.as_dict(), **({"facts": facts} if facts is not None else {}))
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m harness.worker REQUEST.json", file=sys.stderr)
        return 2
    request = json.loads(Path(argv[0]).read_text())
    with open(request["events"], "a") as events:
        try:
            return run_request(request, events)
        except Exception as e:
            _emit(events, "error", message=f"{type(e).__name__}: {e}", traceback=traceback.format_exc())
            return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
