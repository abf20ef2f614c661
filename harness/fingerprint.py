"""The environment a run was taken in: machine, software, settings. Collected, never interpreted."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("numpy", "tinygrad", "tgrad", "threadpoolctl", "hypothesis", "pytest-benchmark")
ENV_PREFIXES = ("TGRAD_", "OMP_", "OPENBLAS_", "MKL_", "BLIS_", "CUDA_VISIBLE")
ENV_NAMES = ("BEAM", "DEBUG", "DEV", "CPU", "CLANG", "LLVM", "CACHELEVEL", "CACHEDB", "JIT", "NOOPT", "PARALLEL")


def _run(command: list[str], timeout: float = 10.0) -> str | None:
    if shutil.which(command[0]) is None:
        return None
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else platform.machine()


def cpu_flags() -> list[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    match = re.search(r"^flags\s*:\s*(.+)$", text, re.MULTILINE)
    wanted = ("avx", "avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "f16c", "amx_tile")
    return [flag for flag in (match.group(1).split() if match else []) if flag in wanted]


def packages() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


# The lab's own outputs (tables, baselines) change between a run and the commit that records it; a
# tree that differs from its commit only there still runs the commit's code.
NOT_CODE = ("results",)


# a copy of the tree without .git (a lent GPU machine) names the commit its wheels were built from here:
# `make gpu-wheels` writes it to .whl/COMMIT and tools/gpu_check.sh exports it, with "+dirty" for a dirty tree
STATED_COMMIT = re.compile(r"(?P<commit>[0-9a-f]{7,40})(?P<dirty>\+dirty)?")


def git() -> dict[str, Any]:
    commit = _run(["git", "rev-parse", "HEAD"])
    stated = STATED_COMMIT.fullmatch(os.environ.get("TGRAD_LAB_COMMIT", ""))
    if commit is None and stated is not None:
        return {"commit": stated["commit"], "dirty": stated["dirty"] is not None}
    excluded = [f":(exclude){path}" for path in NOT_CODE]
    status = _run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", *excluded])
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def blas() -> Any:
    try:
        import numpy  # noqa: F401  (loads the BLAS library threadpoolctl then reports)
        from threadpoolctl import threadpool_info
    except ImportError as e:
        return f"unavailable: {e}"
    return threadpool_info()


def gpu() -> str | None:
    return _run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"])


def environment() -> dict[str, str]:
    return {k: v for k, v in sorted(os.environ.items()) if k.startswith(ENV_PREFIXES) or k in ENV_NAMES}


def usable_cores() -> int:
    """The cores this process may run on (the affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def collect() -> dict[str, Any]:
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu": cpu_model(),
        "cpu_flags": cpu_flags(),
        "cpu_count": os.cpu_count(),
        "cores_usable": len(affinity) if affinity is not None else os.cpu_count(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "python_executable": sys.executable,
        "packages": packages(),
        "git": git(),
        "blas": blas(),
        "compiler": (_run(["clang", "--version"]) or _run(["cc", "--version"]) or "").split("\n")[0] or None,
        "environment": environment(),
        "gpu": gpu(),
    }
