"""The API test suite with every kernel on an emulated GPU: TGRAD_DEVICE=CUDA_EMU and METAL_EMU run the CUDA and
Metal kernels tgrad renders on the CPU, through the same engine, so tinygrad's API (constructors, movement ops,
matmul, elementwise, reductions, TinyJit, the property-based tests) must give the same answers there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUITE = ["tests/null/test_api.py", "tests/null/test_api_runtime.py", "tests/null/test_properties.py"]


@pytest.mark.parametrize("device", ["CUDA_EMU", "METAL_EMU"])
def test_the_api_suite_passes_on_the_emulated_gpu(device):
    env = {**os.environ, "TGRAD_DEVICE": device}
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", *SUITE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    tail = out.stdout[-3000:] + out.stderr[-2000:]
    assert out.returncode == 0, tail
    summary = out.stdout.strip().splitlines()[-1]
    assert "passed" in summary and "failed" not in summary and "error" not in summary, summary
