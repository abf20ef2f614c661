"""Engine switch for the device-free API tests.

The tests are written against tinygrad 0.14.0's public API, which tgrad reproduces (issue 3). They import the engine
through the `tg` fixture: `tgrad` by default, upstream `tinygrad` when `TGRAD_TEST_AGAINST=tinygrad`. Running them
against upstream validates the tests themselves; running them against tgrad judges the rewrite.

Tests of tgrad-only behaviour (TGRAD_* environment variables, tgrad's own error messages, places where tgrad is
specified to differ from upstream) carry `@pytest.mark.tgrad_only(reason=...)`; they are skipped under the
tinygrad switch only, with that reason, and always run against tgrad.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
from types import ModuleType

import numpy as np
import pytest

from harness.agreement import compare, matmul_error_bound, unit_roundoff

ENGINE_ENV = "TGRAD_TEST_AGAINST"
ENGINES = ("tgrad", "tinygrad")


def engine_name() -> str:
    """The engine under test: `tgrad` unless TGRAD_TEST_AGAINST names upstream `tinygrad`."""
    return os.environ.get(ENGINE_ENV) or "tgrad"


AGAINST_TINYGRAD = engine_name() == "tinygrad"
if AGAINST_TINYGRAD:
    # the tests' device is the CPU; tinygrad would otherwise pick the first device it finds (CL where PoCL is
    # installed, which flushes half subnormals)
    os.environ.setdefault("DEV", "CPU")


def pytest_configure(config: pytest.Config) -> None:
    if engine_name() not in ENGINES:
        raise pytest.UsageError(f"{ENGINE_ENV}={engine_name()!r}: expected one of {ENGINES}")
    config.addinivalue_line(
        "markers",
        f"tgrad_only(reason): tests tgrad-only behaviour; skipped (with the reason) when {ENGINE_ENV}=tinygrad",
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    marker = item.get_closest_marker("tgrad_only")
    if marker is None:
        return
    reason = marker.kwargs.get("reason")
    if not reason:
        raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.tgrad_only needs reason=...")
    if AGAINST_TINYGRAD:
        pytest.skip(f"tgrad-only: {reason}")


def pytest_report_header(config: pytest.Config) -> str:
    return f"engine under test: {engine_name()} (set {ENGINE_ENV}=tinygrad to validate the tests on upstream)"


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def engine() -> str:
    """Name of the engine module under test (for subprocess tests)."""
    return engine_name()


@pytest.fixture(scope="session")
def against_tinygrad() -> bool:
    """True when the tests run against upstream tinygrad (checks of tgrad's own messages are then relaxed)."""
    return AGAINST_TINYGRAD


@pytest.fixture(scope="session")
def tg() -> ModuleType:
    """The engine module: `tgrad`, or `tinygrad` under the switch. Use as `tg.Tensor`, `tg.dtypes`, `tg.Device`."""
    return importlib.import_module(engine_name())


@pytest.fixture(scope="session")
def dtype_of(tg):
    """Map a numpy dtype name ('float32', 'float16', 'int32') to the engine's dtype object."""

    def lookup(name: str):
        return getattr(tg.dtypes, name)

    return lookup


@pytest.fixture(scope="session")
def check_matmul():
    """Assert that an engine result agrees with the float64 oracle of `a @ b [+ bias] [relu]`.

    `a`, `b` (and `bias`) are numpy arrays holding exactly the values the engine saw (in the input dtype, already
    moved/broadcast the same way); `out` is the engine's result as a numpy array. The tolerance is
    harness.agreement's rounding-error bound, which scales with the reduction length and |A||B|. A bias add that is
    not done in the float32 accumulator (float16 outputs: tinygrad rounds the product to half, then adds) is allowed
    one more rounding of the output dtype. ReLU is exact and 1-Lipschitz, so it keeps the bound.
    """

    def check(out: np.ndarray, a: np.ndarray, b: np.ndarray, *, bias: np.ndarray | None = None, relu: bool = False):
        out = np.asarray(out)
        out_dtype = np.result_type(a.dtype, b.dtype)
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            oracle = a64 @ b64
        if bias is None:
            bound = matmul_error_bound(a, b, out_dtype=out_dtype)
        elif out_dtype == np.float32:
            bound = matmul_error_bound(a, b, out_dtype=out_dtype, bias=bias)
            oracle = oracle + bias.astype(np.float64)
        else:
            bound = matmul_error_bound(a, b, out_dtype=out_dtype)
            oracle = oracle + bias.astype(np.float64)
            u_out, tiny = unit_roundoff(out_dtype), float(np.finfo(out_dtype).smallest_subnormal)
            bound = bound + u_out * (np.abs(oracle) + bound) + 0.5 * tiny
        if relu:
            oracle = np.maximum(oracle, 0.0)
        assert out.shape == oracle.shape, f"result shape {out.shape}, numpy's rule gives {oracle.shape}"
        assert out.dtype == out_dtype, f"result dtype {out.dtype}, expected {out_dtype}"
        agreement = compare(out, oracle, bound)
        assert agreement.ok, (
            f"{engine_name()} disagrees with the float64 oracle for a{a.shape} @ b{b.shape} "
            f"({out_dtype}): {agreement.as_dict()}"
        )
        return agreement

    return check


REPORT_PREFIX = "@@isolated-report@@ "
REPORT_OUTCOME = f"""
import json
try:
    value = run()
except BaseException as e:
    mro = [c.__name__ for c in type(e).__mro__]
    report = {{"raised": True, "type": type(e).__name__, "mro": mro, "message": str(e)}}
else:
    report = {{"raised": False, "value": value}}
print({REPORT_PREFIX!r} + json.dumps(report), flush=True)
"""


@pytest.fixture(scope="session")
def run_isolated(engine):
    """Run a function body in a fresh interpreter with extra environment variables; return what happened.

    The body sees the engine module as `tg` and may `return` a JSON-able value. The report holds `raised` (and
    `type`, `mro`, `message` of the exception) or `value`, plus the `stdout` and `stderr` it printed. A crash
    (killed by a signal, or any exit other than through the report) fails the calling test.
    """

    def run(body: str, env: dict[str, str] | None = None, timeout: float = 300) -> dict:
        source = (
            f"def run():\n    import {engine} as tg\n"
            + textwrap.indent(textwrap.dedent(body).strip() + "\n", "    ")
            + REPORT_OUTCOME
        )
        proc = subprocess.run(
            [sys.executable, "-c", source],
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert proc.returncode >= 0, f"the interpreter was killed by signal {-proc.returncode}:\n{proc.stderr[-3000:]}"
        assert proc.returncode == 0, f"the interpreter exited with {proc.returncode}:\n{proc.stderr[-3000:]}"
        lines = proc.stdout.splitlines()
        reports = [line for line in lines if line.startswith(REPORT_PREFIX)]
        assert reports, f"no report from the subprocess:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        report = json.loads(reports[-1][len(REPORT_PREFIX) :])
        report["stdout"] = "\n".join(line for line in lines if not line.startswith(REPORT_PREFIX))
        report["stderr"] = proc.stderr
        return report

    return run
