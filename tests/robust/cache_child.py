"""Helpers of the kernel-cache tests: a real matmul workload run in a child interpreter, the cache's entries, a
planted shared object whose constructor leaves a marker, and an interpreter another user can run.

Every child runs with a time limit: a hang is a failure, never a stuck test run; a child killed by a signal fails
the calling test with the signal's name.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPORT = "@@cache-child@@ "

# a GEMM with a relu epilogue, then a reduction over its rows: two kernels, checked against numpy in the child
WORKLOAD = f"""
import json, sys
import numpy as np
import tgrad
from tgrad import _native
a = np.arange(64, dtype=np.float32).reshape(8, 8) % 5 - 2
b = np.arange(64, dtype=np.float32).reshape(8, 8) % 3 - 1
extra = int(sys.argv[1]) if len(sys.argv) > 1 else 0
try:
    got = (tgrad.Tensor(a) @ tgrad.Tensor(b)).relu().sum(1).numpy()
    for i in range(extra):  # more kernels: a chain of distinct elementwise structures
        x = tgrad.Tensor(a)
        for _ in range(i + 1):
            x = x * 0.5 + 1
        x.numpy()
    want = np.maximum(a.astype(np.float64) @ b, 0).sum(1)
    report = {{"ok": bool(np.allclose(got, want)), "stats": dict(_native.stats()),
              "cache_dir": tgrad.build_info()["cache_dir"]}}
except Exception as e:
    report = {{"error": type(e).__name__, "message": str(e), "mro": [c.__name__ for c in type(e).__mro__]}}
print({REPORT!r} + json.dumps(report), flush=True)
"""


@dataclass
class Outcome:
    returncode: int
    report: dict
    stdout: str
    stderr: str


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without TGRAD_ settings; TGRAD_AOT=0 so every kernel of the workload goes through the cache
    under test (which kernels the build holds ahead of time depends on how the scheduler fuses the workload)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TGRAD_")}
    # the workload's GEMM is one the build compiles ahead of time; the cache under test holds
    # kernels compiled at run time, so every kernel is compiled here
    env["TGRAD_AOT"] = "0"
    env.update(extra)
    return env


def run_child(
    env: dict[str, str],
    argv: list[str] | None = None,
    prefix: list[str] | None = None,
    timeout: float = 120,
    code: str = WORKLOAD,
    python: str = sys.executable,
) -> Outcome:
    """Run the workload (or `code`) in a child interpreter; fail on a signal or a hang, parse its report."""
    cmd = [*(prefix or []), python, "-c", code, *(argv or [])]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, start_new_session=True)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"the child hung (still running after {timeout} s): {e.stderr!r}") from None
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        raise AssertionError(f"the child was killed by {name}:\n{proc.stderr[-3000:]}")
    lines = [line for line in proc.stdout.splitlines() if line.startswith(REPORT)]
    report = json.loads(lines[-1][len(REPORT) :]) if lines else {}
    return Outcome(proc.returncode, report, proc.stdout, proc.stderr)


def assert_right(out: Outcome) -> dict:
    assert out.report.get("ok") is True, f"expected the right result: {out.report}\n{out.stderr[-2000:]}"
    return out.report["stats"]


def entries(cache: Path) -> list[Path]:
    """The compiled programs in a cache (`<key>.so`), oldest first."""
    return sorted((cache / "kernels").glob("*.so"), key=lambda p: p.stat().st_mtime)


def keyed_sum(cache: Path, key: str, data: bytes) -> str:
    """The checksum tgrad writes for `data` as entry `key` of `cache` (sha256 of secret, key, NUL, bytes)."""
    secret = (cache / "secret").read_bytes()
    return hashlib.sha256(secret + key.encode() + b"\0" + data).hexdigest()


EVIL_C = r"""
#include <fcntl.h>
#include <unistd.h>
__attribute__((constructor)) static void planted(void) {
    int fd = open("%s", O_CREAT | O_WRONLY | O_APPEND, 0666);
    if (fd >= 0) { (void)!write(fd, "ran\n", 4); close(fd); }
}
void tgrad_kernel(void) {}
"""


def build_planted(where: Path, marker: Path) -> Path:
    """A shared object whose constructor appends to `marker`: loading it anywhere shows."""
    src, so = where / "planted.c", where / "planted.so"
    src.write_text(EVIL_C % marker)
    cc = shutil.which("clang") or shutil.which("cc") or "cc"
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(so), str(src)], check=True, capture_output=True)
    return so


def loads_and_marks(so: Path, marker: Path) -> bool:
    """Control: the planted object does leave its marker when something loads it."""
    subprocess.run([sys.executable, "-c", f"import ctypes; ctypes.CDLL({str(so)!r})"], check=True, timeout=60)
    seen = marker.exists()
    marker.unlink(missing_ok=True)
    return seen
