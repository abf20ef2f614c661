"""The five benchmarks as pytest-benchmark tests: `make bench-pytest`, and --benchmark-compare works.

These run every engine in this one process, which `python -m harness run` deliberately avoids (see
harness/worker.py): so numpy runs last (OpenBLAS's worker spins ~0.11 s after each call and would slow
whatever follows), and only engines that need no settings before import take part: no BEAM (set
before tinygrad is imported, minutes of search) and no tgrad-1t (TGRAD_THREADS is read at import).
Each test also checks its output against the float64 oracle.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.agreement import compare
from harness.engines import Unavailable, resolve
from harness.engines.oracle import reference
from harness.scenario import Scenario, load
from harness.workload import make_inputs

pytestmark = pytest.mark.bench

FIVE = load(Path(__file__).resolve().parents[2] / "scenarios" / "five.toml").scenarios
ENGINES = ("tinygrad-eager", "tinygrad-jit", "tgrad", "numpy")  # numpy last: its BLAS threads spin afterwards
CASES = [(engine, scenario) for engine in ENGINES for scenario in FIVE]


@pytest.mark.parametrize(("engine_name", "scenario"), CASES, ids=[f"{s.name}-{s.title}-{e}" for e, s in CASES])
def test_five(benchmark, engine_name: str, scenario: Scenario) -> None:
    engine = resolve(engine_name)
    try:
        info = engine.load()
    except Unavailable as e:
        pytest.skip(f"{engine_name} unavailable: {e}")
    inputs = make_inputs(scenario)
    prepared = engine.prepare(inputs, scenario.device)
    prepared.step()  # the first call (compile, capture) is not steady state
    benchmark.group = f"{scenario.name} {scenario.title}"
    benchmark.extra_info.update(
        {"engine": engine_name, "scenario_version": scenario.version, "flops": scenario.flops, "engine_info": info}
    )
    benchmark.pedantic(prepared.step, rounds=max(5, scenario.budget.min_samples), warmup_rounds=1, iterations=1)
    oracle, bound = reference(inputs, scenario.dtype)
    agreement = compare(prepared.output(), oracle, bound)
    assert agreement.ok, f"{engine_name} {scenario.name}: {agreement}"
