"""Kernel certificates as users see them: TGRAD_DEBUG=2 prints each kernel's certificate status, TGRAD_VERIFY=1
refuses a kernel no certificate covers (a loop over 7 dims; the loop certificate covers up to 6) with an error
naming why, runs mixed-precision GEMMs (half operands, a float result) under proof, and the committed
certificates re-check with one command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

RANK7 = """
import numpy as np
from tgrad import Tensor
x = Tensor(np.ones((2, 3, 2, 3, 2, 3, 2), dtype=np.float32)).permute(6, 5, 4, 3, 2, 1, 0)
print(x.sum(0).numpy().sum())
"""


def run(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TGRAD_CACHE": "off", **env},
        cwd=ROOT,
    )


def test_debug_2_prints_each_kernels_certificate_status():
    out = run(
        # random operands: a product of constants folds into a loop kernel
        "from tgrad import Tensor; print((Tensor.rand(64, 48) @ Tensor.rand(48, 40)).numpy()[0, 0])",
        TGRAD_DEBUG="2",
        TGRAD_DEVICE="CPU",
    )
    assert out.returncode == 0, out.stderr
    assert "certified by certificates/cpu_gemm.cert" in out.stderr, out.stderr


def test_verify_1_refuses_an_uncovered_kernel_and_says_why():
    refused = run(RANK7, TGRAD_VERIFY="1", TGRAD_DEVICE="CPU")
    assert refused.returncode != 0
    assert "UnsupportedError" in refused.stderr and "no proof" in refused.stderr and "rank 7" in refused.stderr
    assert run(RANK7, TGRAD_DEVICE="CPU").returncode == 0


MIXED = """
import numpy as np
from tgrad import Tensor, dtypes
rng = np.random.default_rng(0)
a, b = (rng.integers(-4, 4, s).astype(np.float32) for s in ((37, 67), (67, 100)))
out = (Tensor(a).cast(dtypes.half) @ Tensor(b).cast(dtypes.half)).cast(dtypes.float).numpy()
assert out.dtype == np.float32 and np.array_equal(out, a.astype(np.float64) @ b), "wrong product"
print("ok")
"""


def test_verify_1_runs_half_operands_with_a_float_result():
    # mixed precision as tinygrad users write it: the cast is fused into the GEMM's store, a
    # configuration (half A and B, float C) the certified family must cover
    out = run(MIXED, TGRAD_VERIFY="1", TGRAD_DEVICE="CPU")
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr


def test_a_committed_certificate_records_its_sources_and_every_verdict():
    cert = (ROOT / "certificates" / "cpu_loops.cert").read_text()
    fields = dict(line.split(" ", 1) for line in cert.splitlines() if line and not line.startswith("#"))
    done, total = fields["proved"].split()[0].split("/")
    assert done == total and int(total) == sum(line.startswith("verdict ") for line in cert.splitlines())
    assert fields["solver"].startswith("z3 ") and len(fields["template-sha256"]) == 64
