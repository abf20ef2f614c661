"""The CUDA pieces of a machine, for tools/gpu_check.sh: the driver's CUDA version, every libnvrtc this Python can
see with its version, and whether they match (NVRTC newer than the driver's CUDA makes PTX the driver cannot load;
tgrad compiles cubins for the device's own sm_XY, which the same major version loads).

    python tools/gpu_env.py               the report (one fact a line)
    python tools/gpu_env.py --nvrtc-dir   only the folder of the libnvrtc to use (none printed when none loads)

The libnvrtc chosen is the first that loads whose major version equals the driver's CUDA major version, else the
first that loads. Needs no tgrad and no GPU: without a driver it says so.
"""

from __future__ import annotations

import ctypes
import glob
import os
import site
import sys
from pathlib import Path

WHEEL_DIRS = ("nvidia/cu13/lib", "nvidia/cuda_nvrtc/lib", "nvidia/cu12/lib")


def driver_cuda() -> tuple[int, int] | None:
    """The CUDA version the driver supports (cuDriverGetVersion), or None without a driver."""
    try:
        lib = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return None
    version = ctypes.c_int(0)
    if lib.cuDriverGetVersion(ctypes.byref(version)) != 0:
        return None
    return version.value // 1000, (version.value % 1000) // 10


def candidates() -> list[Path]:
    """libnvrtc files: TGRAD_NVRTC, the NVIDIA wheels beside this Python, /usr/local/cuda."""
    out: list[Path] = []
    named = os.environ.get("TGRAD_NVRTC")
    if named:
        p = Path(named)
        out += sorted(p.glob("libnvrtc.so*")) if p.is_dir() else [p]
    dirs = [*site.getsitepackages(), *sys.path]
    for d in dict.fromkeys(dirs):
        for sub in WHEEL_DIRS:
            out += sorted(Path(x) for x in glob.glob(str(Path(d) / sub / "libnvrtc.so*")))
    out += sorted(Path(x) for x in glob.glob("/usr/local/cuda/lib64/libnvrtc.so*"))
    # builtins (libnvrtc-builtins) and alternates are not the library itself
    return [p for p in dict.fromkeys(out) if p.name.startswith("libnvrtc.so")]


def nvrtc_version(path: Path) -> tuple[int, int] | None:
    try:
        lib = ctypes.CDLL(str(path))
    except OSError:
        return None
    major, minor = ctypes.c_int(0), ctypes.c_int(0)
    if lib.nvrtcVersion(ctypes.byref(major), ctypes.byref(minor)) != 0:
        return None
    return major.value, minor.value


def choose(driver: tuple[int, int] | None) -> tuple[Path, tuple[int, int]] | None:
    loaded = [(p, v) for p in candidates() if (v := nvrtc_version(p)) is not None]
    if not loaded:
        return None
    same_major = [(p, v) for p, v in loaded if driver is not None and v[0] == driver[0]]
    return (same_major or loaded)[0]


def _text(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


def main(argv: list[str]) -> int:
    if argv not in ([], ["--nvrtc-dir"]):
        print("usage: python tools/gpu_env.py [--nvrtc-dir]", file=sys.stderr)
        return 2
    driver = driver_cuda()
    chosen = choose(driver)
    if argv:
        if chosen is not None:
            print(chosen[0].parent)
        return 0
    print(f"driver CUDA: {_text(driver) if driver else 'no NVIDIA driver (libcuda.so.1 did not load)'}")
    for path in candidates():
        version = nvrtc_version(path)
        print(f"nvrtc candidate: {path} ({_text(version) if version else 'does not load'})")
    if chosen is None:
        print("nvrtc: none loads (tgrad cannot compile CUDA kernels here)")
        return 0
    path, version = chosen
    print(f"nvrtc chosen: {version[0]}.{version[1]} at {path}")
    if driver is not None:
        if version[0] != driver[0] or version > driver:
            print(
                f"nvrtc WARNING: NVRTC {version[0]}.{version[1]} does not match the driver's CUDA "
                f"{driver[0]}.{driver[1]}: PTX it writes may not load; match NVRTC's version to the driver's CUDA"
            )
        else:
            print(f"nvrtc matches the driver's CUDA {driver[0]}.{driver[1]} (major version)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
