"""The machine's ceilings, measured: the FP32 peak and streaming-read bandwidth probes (harness/peak.py,
harness/probes/*.c), and the history's peaks, old rows without a bandwidth among them."""

from __future__ import annotations

import math
import platform
import shutil
import subprocess
from pathlib import Path

import pytest
from lab_synthetic import old_peak_row

from harness import history, peak

COMPILER = next((name for name in ("clang", "cc", "gcc") if shutil.which(name)), None)
needs_compiler = pytest.mark.skipif(COMPILER is None, reason="no C compiler (clang, cc or gcc): `make sysdeps`")


@needs_compiler
def test_the_peak_probe_compiles_and_measures_positive_finite_gflops() -> None:
    measured = peak.measure(seconds=0.02, threads=2)
    assert measured.threads == 2 and measured.width in (8, 16)
    for value in (measured.gflops_one_thread, measured.gflops_all_threads):
        assert math.isfinite(value) and value > 0.1, measured


@needs_compiler
@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="AVX-512 is x86-64's")
def test_the_avx512_peak_probe_keeps_its_fmas_512_bits_wide_under_intel_tuning(tmp_path: Path) -> None:
    """Compiled with the probe's flags for an Intel CPU with AVX-512 (-march=sapphirerapids in place of native, so
    any x86-64 host checks it), every FMA of the 16-wide probe is a 512-bit one: split into 256-bit halves (clang's
    Intel tuning without -mprefer-vector-width=512) the probe measured half the peak, and cells read "139% peak"."""
    flags = [
        ("-march=sapphirerapids" if f == "-march=native" else f) for f in peak.probe_flags({"WIDTH": 16, "ACC": 10})
    ]
    asm = tmp_path / "peak.s"
    built = subprocess.run(
        [str(COMPILER), *flags, "-S", "-o", str(asm), str(peak.PROBES / "peak.c")], capture_output=True, text=True
    )
    assert built.returncode == 0, built.stderr
    code = [line.split("#")[0].split() for line in asm.read_text().splitlines()]
    packed = [" ".join(ins) for ins in code if ins and ins[0].startswith("vfmadd") and ins[0].endswith("ps")]
    wide = [ins for ins in packed if "%zmm" in ins]
    assert len(wide) >= 10 and len(wide) == len(packed), packed


@needs_compiler
def test_the_bandwidth_probe_compiles_and_measures_positive_finite_gbps() -> None:
    size = 8 * 2**20
    measured = peak.measure_bandwidth(size, threads=2, passes=2)
    assert measured.threads == 2 and measured.passes == 2
    assert 0.99 * size <= measured.bytes <= size  # rounded down to whole blocks per thread
    for value in (measured.gbps_one_thread, measured.gbps_all_threads):
        assert math.isfinite(value) and value > 0.01, measured
    assert "GB/s" in peak.describe_bandwidth(measured)


@needs_compiler
def test_every_stream_count_of_the_bandwidth_probe_reads_each_slice_whole(tmp_path: Path) -> None:
    """The probe's ceiling is its best stream count's, so each count must read every float of a thread's slice
    exactly once: in its check mode, over an array of ones, every count on one thread and on all threads sums
    each slice to its length (a count that read half its parts, or one part twice, fails here)."""
    defines = {"WIDTH": peak.vector_width(), "ACC": peak.READ_ACCUMULATORS}
    binary = peak._build(COMPILER or "cc", "bandwidth", defines, tmp_path)
    for threads, size in ((1, 3 * 2**20), (3, 3 * 2**20 + 4096)):
        ran = subprocess.run([str(binary), str(threads), str(size), "1", "check"], capture_output=True, text=True)
        assert ran.returncode == 0 and ran.stdout == "ok\n", (threads, ran.stdout, ran.stderr)


@needs_compiler
def test_a_probe_that_fails_is_a_peak_error(tmp_path: Path) -> None:
    with pytest.raises(peak.PeakError, match=r"more than the available memory|cannot allocate"):
        peak.measure_bandwidth(2**62, threads=1, passes=1)
    with pytest.raises(peak.PeakError, match="failed with code 2: usage"):
        peak._execute(peak._build(COMPILER or "cc", "bandwidth", {"WIDTH": 8, "ACC": 8}, tmp_path), [], 4, 10)
    with pytest.raises(peak.PeakError, match="at least"):
        peak.measure_bandwidth(16, threads=2)


def test_no_compiler_is_a_peak_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    for measure in (peak.measure, peak.measure_bandwidth):
        with pytest.raises(peak.PeakError, match="no C compiler"):
            measure()


def test_the_probes_are_files_beside_the_module() -> None:
    assert (peak.PROBES / "peak.c").is_file() and (peak.PROBES / "bandwidth.c").is_file()
    assert peak.PROBES.parent == Path(peak.__file__).resolve().parent


def test_an_old_history_without_bandwidth_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    old_peak_row(path, "m1")
    with history.History(path) as h:
        found = h.peak("m1")
        assert found is not None and "bandwidth" not in found
        assert (found["threads"], found["gflops_one_thread"], found["gflops_all_threads"]) == (2, 117.0, 233.0)
        flops = {key: value for key, value in found.items() if key != "measured"} | {"gflops_all_threads": 240.0}
        h.record_peak("m1", flops, {"threads": 2, "gbps_one_thread": 20.0, "gbps_all_threads": 30.0})
        newest = h.peak("m1")
        assert len(h.db.execute("SELECT id FROM peaks").fetchall()) == 2  # the old row is kept
    assert newest is not None and newest["gflops_all_threads"] == 240.0
    assert newest["bandwidth"]["gbps_all_threads"] == 30.0
