"""Synthetic run records with the noise measured on the project's machines (not a test module).

The model (PERF_NOTES.md, and the within-run spread of results/runs/*.json):
- within a run, each cell's samples are lognormal around its time with a spread (sigma) of 2-5%,
  fixed per cell, and 40-150 samples per cell (a full run stops near a 1% CI of the median);
- between runs, every absolute time moves together by a lognormal factor with sigma 0.2 (15-30%
  typical), while ratios of engines measured side by side only jitter by 1% per cell and run;
- sometimes the machine runs at half speed for seconds: with probability 0.1 per cell and run, a
  contiguous fifth of its samples is 2x slower.
`slowdown` multiplies one cell's times by a factor from one run on (an injected regression).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np

SIZES = {"S1": 64, "S2": 128, "S3": 256, "S4": 512, "S5": 1024}
ENGINES = ("tinygrad-eager", "tinygrad-jit", "tgrad", "tgrad-1t", "numpy")
FAMILY = {"tinygrad-eager": "tinygrad", "tinygrad-jit": "tinygrad", "tgrad": "tgrad", "tgrad-1t": "tgrad"}
SPEED = {"tinygrad-eager": 40.0, "tinygrad-jit": 12.0, "tgrad": 1.0, "tgrad-1t": 1.8, "numpy": 1.05}
FINGERPRINT = {"cpu": "Synthetic Zen 3 (2 cores)", "cpu_count": 2, "cores_usable": 2, "gpu": None}
START = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def commit_of(index: int) -> str:
    return hashlib.sha1(f"commit {index}".encode()).hexdigest()


def synthetic_history(
    runs: int,
    *,
    seed: int = 0,
    scenarios: tuple[str, ...] = ("S1", "S2", "S3"),
    engines: tuple[str, ...] = ENGINES,
    slowdown: tuple[str, str, int, float] | None = None,  # (scenario, engine, first slow run, factor)
    profile: str = "full",
    fingerprint: dict[str, Any] | None = None,
    drift: float = 0.2,
    jitter: float = 0.01,
    burst_probability: float = 0.1,
) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    cell_rng = np.random.default_rng(12345)  # the cells' own traits do not change between trials
    traits = {}
    for key in ((s, e) for s in SIZES for e in ENGINES):
        traits[key] = (float(cell_rng.uniform(0.02, 0.05)), int(cell_rng.integers(40, 151)))
    records = []
    for index in range(runs):
        machine = float(np.exp(rng.normal(0, drift)))
        cells = []
        for name in scenarios:
            size = SIZES[name]
            base = 2 * size**3 / 150e9  # numpy near 150 GFLOPS
            for engine in engines:
                sigma, count = traits[(name, engine)]
                seconds = base * SPEED[engine] * machine * float(np.exp(rng.normal(0, jitter)))
                if slowdown and (name, engine) == slowdown[:2] and index >= slowdown[2]:
                    seconds *= slowdown[3]
                samples = seconds * np.exp(rng.normal(0, sigma, count))
                if rng.random() < burst_probability:
                    start = int(rng.integers(0, count))
                    samples[start : start + max(1, count // 5)] *= 2
                error = float(rng.uniform(0.01, 0.2))
                cells.append(
                    {
                        "scenario": name,
                        "engine": engine,
                        "spec": engine,
                        "family": FAMILY.get(engine, engine),
                        "round": 0,
                        "status": "ok",
                        "first_call_s": seconds * 5,
                        "warmup": [float(seconds)],
                        "samples": [float(s) for s in samples],
                        "agreement": {
                            "dtype": "float32",
                            "shape": [size, size],
                            "oracle": {
                                "max_abs": error * 1e-5,
                                "max_rel": error * 1e-4,
                                "max_ulp": 8,
                                "max_ratio": error * np.sqrt(size) / 32,
                                "nonfinite_mismatches": 0,
                                "ok": True,
                            },
                        },
                    }
                )
        started = START + datetime.timedelta(hours=index)
        records.append(
            {
                "schema_version": 1,
                "kind": "tgrad-lab-run",
                "run_id": f"{started.strftime('%Y%m%dT%H%M%SZ')}-synthetic",
                "started": started.isoformat(),
                "finished": (started + datetime.timedelta(minutes=5)).isoformat(),
                "host": "synthetic",
                "profile": profile,
                "lab": {
                    "engines": list(engines),
                    "subject": "tgrad",
                    "subject_single_thread": "tgrad-1t" if "tgrad-1t" in engines else None,
                    "reference": "tinygrad-eager" if "tinygrad-eager" in engines else None,
                    "descriptions": {e: f"synthetic {e}" for e in engines},
                },
                "fingerprint": {**(fingerprint or FINGERPRINT), "git": {"commit": commit_of(index), "dirty": False}},
                "scenarios": [
                    {
                        "name": s,
                        "title": f"gemm-{SIZES[s]}",
                        "op": "matmul",
                        "a": [SIZES[s], SIZES[s]],
                        "b": [SIZES[s], SIZES[s]],
                        "bias": None,
                        "dtype": "float32",
                        "seed": 0,
                        "version": f"v1-{s}",
                        "flops": 2 * SIZES[s] ** 3,
                    }
                    for s in scenarios
                ],
                "cells": cells,
            }
        )
    return records


def old_peak_row(path: Path, machine: str) -> None:
    """A history at `path` holding a peak row as histories held it before the bandwidth probe (its detail
    without "bandwidth"), written with SQL as the older harness wrote it."""
    from harness import history

    with history.History(path):
        pass
    detail = {"cpu": "AMD EPYC", "compiler": "clang", "width": 16, "threads": 2}
    detail |= {"gflops_one_thread": 117.0, "gflops_all_threads": 233.0}
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO peaks (machine_id, measured, threads, gflops_one_thread, gflops_all_threads, detail)"
            " VALUES (?, '2026-12-01T05:41:51+00:00', 2, 117.0, 233.0, ?)",
            (machine, json.dumps(detail)),
        )
