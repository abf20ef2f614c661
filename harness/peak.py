"""The machine's ceilings, measured: the FP32 peak (an FMA loop) and the streaming-read memory bandwidth.

Both are small C programs in harness/probes/, compiled here at run time with -O3 -march=native and run on
one thread and on one thread per usable core.

peak.c: ten independent accumulators hide the FMA latency (4 cycles x 2 ports needs 8 in flight); GCC/clang
vector extensions keep the source free of intrinsics headers (no immintrin.h: faster to compile). The vector
is 16 floats wide where the CPU has AVX-512, else 8. This is the ceiling a GEMM's GFLOPS is read against.

bandwidth.c: every thread sums its own contiguous slice of one float32 array several times the size of the
last-level cache (256 MiB, or 4x the cache when that is larger), with eight vector accumulators so the adds
never limit the loads, reading the slice as 1, 2, 4 or 8 streams side by side (one sequential stream per core
falls short of the memory's bandwidth on some CPUs); best of several passes over every stream count. GB/s are
1e9 bytes per second. This is the ceiling a memory-bound cell (a matrix-vector product) is read against.
"""

from __future__ import annotations

import dataclasses
import math
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from harness.fingerprint import cpu_flags, cpu_model, usable_cores

PROBES = Path(__file__).resolve().parent / "probes"
ACCUMULATORS = 10  # FMA chains per thread in peak.c
READ_ACCUMULATORS = 8  # vector sums per thread in bandwidth.c
BANDWIDTH_MIN_BYTES = 256 * 2**20
BANDWIDTH_CACHE_FACTOR = 4  # the array is at least this many times the last-level cache
BANDWIDTH_PASSES = 10
MAX_THREADS = 256  # the probes' fixed thread tables


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


@dataclasses.dataclass(frozen=True)
class Bandwidth:
    cpu: str
    compiler: str
    width: int  # floats per vector load
    threads: int
    bytes: int  # bytes one pass reads (the array's size)
    passes: int  # passes per thread count; the best is kept
    gbps_one_thread: float  # 1e9 bytes per second
    gbps_all_threads: float

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def find_compiler() -> str:
    for name in ("clang", "cc", "gcc"):
        path = shutil.which(name)
        if path:
            return path
    raise PeakError("no C compiler found (clang, cc or gcc); `make sysdeps` installs clang")


def vector_width() -> int:
    return 16 if "avx512f" in cpu_flags() else 8


def usable_threads(threads: int | None = None) -> int:
    """`threads`, or one per usable core; within 1..MAX_THREADS."""
    if threads is None:
        threads = usable_cores()
    return max(1, min(threads, MAX_THREADS))


def probe_flags(defines: dict[str, int]) -> list[str]:
    """The flags a probe is compiled with, its -D defines among them."""
    flags = ["-O3", "-march=native", "-ffp-contract=fast", *(f"-D{name}={value}" for name, value in defines.items())]
    if defines.get("WIDTH") == 16:
        # as tgrad's kernels (VectorIsa::vector_flags): with -march=native on Intel CPUs with AVX-512, clang splits
        # 512-bit vector operations into 256-bit halves, which halves the FMA rate of two 512-bit FMA units
        flags.append("-mprefer-vector-width=512")
    return flags


def _build(compiler: str, probe: str, defines: dict[str, int], folder: Path) -> Path:
    """Compile harness/probes/<probe>.c into `folder`; the binary's path."""
    source, binary = PROBES / f"{probe}.c", folder / probe
    if not source.is_file():
        raise PeakError(f"the probe's source {source} is missing")
    command = [compiler, *probe_flags(defines), "-o", str(binary), str(source), "-lpthread"]
    built = subprocess.run(command, capture_output=True, text=True, check=False)
    if built.returncode != 0:
        raise PeakError(f"compiling {source.name} failed ({' '.join(command)}):\n{built.stderr[-2000:]}")
    return binary


def _execute(binary: Path, arguments: list[str], fields: int, timeout_s: float) -> list[float]:
    """Run a probe; the numbers of its one line of output (PeakError when it fails or prints anything else)."""
    command = [str(binary), *arguments]
    try:
        ran = subprocess.run(command, capture_output=True, text=True, check=False, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise PeakError(f"{binary.name} did not finish within {timeout_s:.0f} s") from None
    if ran.returncode != 0:
        raise PeakError(f"{binary.name} failed with code {ran.returncode}: {ran.stderr[-2000:]}")
    try:
        numbers = [float(word) for word in ran.stdout.split()]
    except ValueError:
        numbers = []
    if len(numbers) != fields or not all(math.isfinite(x) and x > 0 for x in numbers):
        raise PeakError(f"{binary.name} printed {ran.stdout.strip()!r}, not {fields} positive numbers")
    return numbers


def measure(seconds: float = 0.5, threads: int | None = None) -> Peak:
    compiler, width, threads = find_compiler(), vector_width(), usable_threads(threads)
    with tempfile.TemporaryDirectory(prefix="tgrad-peak-") as tmp:
        binary = _build(compiler, "peak", {"WIDTH": width, "ACC": ACCUMULATORS}, Path(tmp))
        # calibration plus three rounds of one and of all threads: about 6x `seconds`
        one, all_threads, used = _execute(binary, [str(threads), str(seconds)], 3, 120 + 20 * seconds)
    return Peak(cpu_model(), Path(compiler).name, width, int(used), one / 1e9, all_threads / 1e9)


def last_level_cache_bytes() -> int | None:
    """The machine's last-level cache in bytes, summed over its instances (each CCX of an EPYC has its
    own L3); None when sysfs does not say."""
    sizes: dict[str, int] = {}  # shared_cpu_list -> size, for the deepest level
    deepest = 0
    for index in Path("/sys/devices/system/cpu").glob("cpu[0-9]*/cache/index[0-9]*"):
        try:
            level = int((index / "level").read_text())
            size = (index / "size").read_text().strip()
            shared = (index / "shared_cpu_list").read_text().strip()
        except (OSError, ValueError):
            continue
        match = re.fullmatch(r"(\d+)([KMG]?)", size)
        if match is None or level < deepest:
            continue
        if level > deepest:
            deepest, sizes = level, {}
        sizes[shared] = int(match.group(1)) * {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}[match.group(2)]
    return sum(sizes.values()) or None


def _available_memory_bytes() -> int | None:
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return None
    match = re.search(r"^MemAvailable:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) * 1024 if match else None


def default_bandwidth_bytes() -> int:
    """256 MiB, or BANDWIDTH_CACHE_FACTOR times the last-level cache when that is more, but at most half
    the available memory."""
    wanted = max(BANDWIDTH_MIN_BYTES, BANDWIDTH_CACHE_FACTOR * (last_level_cache_bytes() or 0))
    available = _available_memory_bytes()
    return min(wanted, available // 2) if available else wanted


def measure_bandwidth(size: int | None = None, threads: int | None = None, passes: int = BANDWIDTH_PASSES) -> Bandwidth:
    """Streaming-read bandwidth of a `size`-byte float32 array (default_bandwidth_bytes()), best of `passes`
    passes on one thread and on `threads` threads (default: one per usable core)."""
    compiler, width, threads = find_compiler(), vector_width(), usable_threads(threads)
    size = default_bandwidth_bytes() if size is None else size
    smallest, available = 4 * width * READ_ACCUMULATORS * threads, _available_memory_bytes()
    if size < smallest or passes < 1:
        raise PeakError(f"the bandwidth probe needs at least {smallest} bytes and one pass; got {size} and {passes}")
    if available is not None and size > available:
        raise PeakError(f"the bandwidth probe's {size} bytes are more than the available memory ({available} bytes)")
    with tempfile.TemporaryDirectory(prefix="tgrad-bandwidth-") as tmp:
        binary = _build(compiler, "bandwidth", {"WIDTH": width, "ACC": READ_ACCUMULATORS}, Path(tmp))
        # 2 x passes reads of `size` bytes at no less than 0.1 GB/s, within an hour
        limit_s = min(120 + 2 * passes * size / 1e8, 3600)
        one, all_threads, used, read = _execute(binary, [str(threads), str(size), str(passes)], 4, limit_s)
    return Bandwidth(
        cpu_model(), Path(compiler).name, width, int(used), int(read), passes, one / 1e9, all_threads / 1e9
    )


def describe(peak: Peak) -> str:
    return (
        f"FP32 peak on {peak.cpu} ({peak.compiler} -O3 -march=native, {peak.width}-wide FMA, "
        f"{ACCUMULATORS} accumulators):\n"
        f"  1 thread:  {peak.gflops_one_thread:7.1f} GFLOPS\n"
        f"  {peak.threads} threads: {peak.gflops_all_threads:7.1f} GFLOPS"
    )


def describe_bandwidth(bandwidth: Bandwidth) -> str:
    return (
        f"Memory bandwidth on {bandwidth.cpu} (streaming read of {bandwidth.bytes / 2**20:.0f} MiB, "
        f"{bandwidth.width}-wide loads, {READ_ACCUMULATORS} accumulators, 1-8 streams per thread, "
        f"best of {bandwidth.passes} passes):\n"
        f"  1 thread:  {bandwidth.gbps_one_thread:7.1f} GB/s\n"
        f"  {bandwidth.threads} threads: {bandwidth.gbps_all_threads:7.1f} GB/s"
    )
