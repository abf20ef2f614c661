"""The machine's FP32 peak, measured: a C loop of independent vector FMAs compiled at run time.

Ten independent accumulators hide the FMA latency (4 cycles x 2 ports needs 8 in flight); GCC/clang
vector extensions keep the source free of intrinsics headers (no immintrin.h: faster to compile). The
vector is 16 floats wide where the CPU has AVX-512, else 8. One measurement on one thread and one
with a thread per usable core. This is the ceiling a GEMM's GFLOPS can be read against.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from harness.fingerprint import cpu_flags, cpu_model

ACCUMULATORS = 10

SOURCE = r"""
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef float vec __attribute__((vector_size(WIDTH * 4)));

static volatile float seed_x = 0.999999f, seed_y = 1e-7f;
static long iterations;
static volatile double sinks[256];  /* volatile: the work must not be dead code */

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void *work(void *arg) {
    long id = (long)arg;
    vec x, y, acc[ACC];
    for (int l = 0; l < WIDTH; l++) { x[l] = seed_x; y[l] = seed_y; }
    for (int i = 0; i < ACC; i++) acc[i] = y * (float)(i + 1);
    for (long n = 0; n < iterations; n++) {
#pragma GCC unroll 16
        for (int i = 0; i < ACC; i++) acc[i] = acc[i] * x + y;
    }
    double sum = 0;
    for (int i = 0; i < ACC; i++) for (int l = 0; l < WIDTH; l++) sum += acc[i][l];
    sinks[id % 256] = sum;
    return NULL;
}

static double run(int threads) {
    pthread_t handles[256];
    double start = now();
    for (long t = 0; t < threads; t++) pthread_create(&handles[t], NULL, work, (void *)t);
    for (int t = 0; t < threads; t++) pthread_join(handles[t], NULL);
    return now() - start;
}

int main(int argc, char **argv) {
    int threads = atoi(argv[1]);
    double seconds = atof(argv[2]);
    iterations = 1000;
    while (run(1) < 0.05 && iterations < (1L << 40)) iterations *= 2;  /* calibrate on one thread */
    iterations = (long)(iterations * seconds / 0.05);
    double flops_per_thread = 2.0 * WIDTH * ACC * (double)iterations;
    double best1 = 1e30, bestn = 1e30;
    for (int r = 0; r < 3; r++) {
        double t1 = run(1), tn = run(threads);
        if (t1 < best1) best1 = t1;
        if (tn < bestn) bestn = tn;
    }
    printf("%.6e %.6e %d\n", flops_per_thread / best1, flops_per_thread * threads / bestn, threads);
    return 0;
}
"""


class PeakError(RuntimeError):
    pass


@dataclasses.dataclass(frozen=True)
class Peak:
    cpu: str
    compiler: str
    width: int  # floats per vector
    threads: int
    gflops_one_thread: float
    gflops_all_threads: float

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def find_compiler() -> str:
    for name in ("clang", "cc", "gcc"):
        path = shutil.which(name)
        if path:
            return path
    raise PeakError("no C compiler found (clang, cc or gcc); `make sysdeps` installs clang")


def measure(seconds: float = 0.5, threads: int | None = None) -> Peak:
    compiler = find_compiler()
    width = 16 if "avx512f" in cpu_flags() else 8
    if threads is None:
        threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    threads = max(1, min(threads, 256))
    with tempfile.TemporaryDirectory(prefix="tgrad-peak-") as tmp:
        source, binary = Path(tmp) / "peak.c", Path(tmp) / "peak"
        source.write_text(SOURCE)
        flags = ["-O3", "-march=native", "-ffp-contract=fast", f"-DWIDTH={width}", f"-DACC={ACCUMULATORS}"]
        compile_cmd = [compiler, *flags, "-o", str(binary), str(source), "-lpthread"]
        built = subprocess.run(compile_cmd, capture_output=True, text=True, check=False)
        if built.returncode != 0:
            raise PeakError(f"compiling the FMA loop failed ({' '.join(compile_cmd)}):\n{built.stderr[-2000:]}")
        ran = subprocess.run([str(binary), str(threads), str(seconds)], capture_output=True, text=True, check=False)
        if ran.returncode != 0:
            raise PeakError(f"the FMA loop failed with code {ran.returncode}: {ran.stderr[-2000:]}")
    one, all_threads, used = ran.stdout.split()
    return Peak(cpu_model(), Path(compiler).name, width, int(used), float(one) / 1e9, float(all_threads) / 1e9)


def describe(peak: Peak) -> str:
    return (
        f"FP32 peak on {peak.cpu} ({peak.compiler} -O3 -march=native, {peak.width}-wide FMA, "
        f"{ACCUMULATORS} accumulators):\n"
        f"  1 thread:  {peak.gflops_one_thread:7.1f} GFLOPS\n"
        f"  {peak.threads} threads: {peak.gflops_all_threads:7.1f} GFLOPS"
    )
