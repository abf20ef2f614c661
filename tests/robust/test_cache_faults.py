"""Kernel-cache fault injection through real matmuls (issue 18 item 8): every fault heals or fails with an error
that names the cause, and none hangs or crashes. Each test runs the workload in child interpreters with
TGRAD_CACHE pointing at a fresh directory, damages the cache between runs, and checks the next run.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cache_child import WORKLOAD, assert_right, clean_env, entries, keyed_sum, run_child


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def _env(cache: Path, **extra: str) -> dict[str, str]:
    return clean_env(TGRAD_CACHE=str(cache), **extra)


def _populated(cache: Path) -> list[Path]:
    stats = assert_right(run_child(_env(cache)))
    assert stats["programs_compiled"] == 2, stats
    found = entries(cache)
    assert len(found) == 2, found
    return found


def _rebuilt(cache: Path, n: int = 2) -> dict:
    """The next run gives the right result and compiles `n` programs again."""
    stats = assert_right(run_child(_env(cache)))
    assert stats["programs_compiled"] == n, f"expected {n} rebuilt programs: {stats}"
    return stats


def test_an_intact_cache_is_used(cache):
    _populated(cache)
    stats = assert_right(run_child(_env(cache)))
    assert (stats["programs_compiled"], stats["programs_from_disk"]) == (0, 2), stats


def test_an_entry_replaced_by_a_fifo_is_rebuilt_without_hanging(cache):
    for e in _populated(cache):
        e.unlink()
        os.mkfifo(e)
    _rebuilt(cache)
    assert all(e.is_file() for e in entries(cache))


@pytest.mark.parametrize("kind", ["symlink", "directory", "empty", "no-checksum"])
def test_entries_that_are_not_whole_files_of_ours_are_rebuilt(cache, tmp_path, kind):
    for e in _populated(cache):
        if kind == "symlink":  # to a copy of the same bytes: still not a regular file of the cache
            copy = tmp_path / e.name
            shutil.copy(e, copy)
            e.unlink()
            e.symlink_to(copy)
        elif kind == "directory":
            e.unlink()
            e.mkdir()
        elif kind == "empty":
            e.write_bytes(b"")
        else:
            Path(f"{e}.sum").unlink()
    _rebuilt(cache)


def test_an_entry_that_verifies_but_cannot_be_loaded_is_rebuilt_once(cache):
    for e in _populated(cache):
        junk = b"not a shared object"
        e.write_bytes(junk)
        Path(f"{e}.sum").write_text(keyed_sum(cache, e.stem, junk))
    _rebuilt(cache)
    stats = assert_right(run_child(_env(cache)))
    assert (stats["programs_compiled"], stats["programs_from_disk"]) == (0, 2), "the rebuilt entries are kept"


def test_consistent_corruption_is_rebuilt_never_run(cache):
    """Bytes flipped inside the code and the checksum rewritten as a plain sha256 (what a bit flip plus a naive
    repair, or a tamperer without the cache's secret, can produce)."""
    import hashlib

    for e in _populated(cache):
        data = bytearray(e.read_bytes())
        for i in range(len(data) // 3, len(data) // 3 + 64):
            data[i] ^= 0xFF
        e.write_bytes(bytes(data))
        Path(f"{e}.sum").write_text(hashlib.sha256(bytes(data)).hexdigest())
    _rebuilt(cache)


def test_two_entries_swapped_are_rebuilt(cache):
    a, b = _populated(cache)
    tmp = a.with_name("swap")
    for suffix in ("", ".sum"):
        Path(f"{a}{suffix}").rename(f"{tmp}{suffix}")
        Path(f"{b}{suffix}").rename(f"{a}{suffix}")
        Path(f"{tmp}{suffix}").rename(f"{b}{suffix}")
    _rebuilt(cache)


def test_a_cache_that_cannot_be_written_falls_back_with_one_warning(cache, readonly_runner):
    """A read-only cache: the run compiles into a private temporary directory and says so once."""
    cache, tmp, out = readonly_runner(cache)
    stats = assert_right(out)
    warnings = [line for line in out.stderr.splitlines() if "cannot be written" in line]
    assert len(warnings) == 1, out.stderr
    assert str(cache / "kernels") in warnings[0] and "compiling into" in warnings[0], warnings[0]
    assert stats["programs_compiled"] == 2 and not entries(cache)
    assert out.report["cache_dir"].startswith(str(tmp / "tgrad-cache-fallback-")), out.report
    assert not list(tmp.iterdir()), f"the fallback directory outlived its process: {list(tmp.iterdir())}"


@pytest.fixture
def readonly_runner():
    """Run the workload with a cache its user cannot write: chmod where permissions bind (not root); as root,
    the child runs as `nobody` with the cache owned by nobody and made read-only."""
    made: list[Path] = []

    def run(cache: Path):
        if os.geteuid() == 0:
            from second_user import as_nobody, available, shared_dir

            if available() is not None:
                pytest.skip(available())
            made.append(shared_dir())
            cache = made[-1] / "cache"
        tmp = cache.parent / "tmp"  # the fallback's TMPDIR, to see that the process removes what it made there
        for d in (cache, cache / "kernels", tmp):
            d.mkdir(mode=0o700)
        if os.geteuid() != 0:
            for d in (cache / "kernels", cache):
                d.chmod(0o500)
            try:
                return cache, tmp, run_child(_env(cache, TMPDIR=str(tmp)))
            finally:
                for d in (cache, cache / "kernels"):
                    d.chmod(0o700)
        for d in (cache, cache / "kernels", tmp):
            os.chown(d, *as_nobody.ids())
        for d in (cache, cache / "kernels"):
            d.chmod(0o500)
        return cache, tmp, as_nobody.run(_env(cache, TMPDIR=str(tmp)))

    yield run
    for d in made:
        shutil.rmtree(d, ignore_errors=True)


def test_a_compiler_that_writes_nothing_is_a_compile_error_naming_it(cache, tmp_path):
    cc = tmp_path / "fake-cc"
    cc.write_text("#!/bin/sh\nexit 0\n")
    cc.chmod(0o755)
    out = run_child(_env(cache, TGRAD_CC=str(cc)))
    assert out.report.get("error") == "CompileError", out.report
    message = out.report["message"]
    assert str(cc) in message and "wrote no output" in message, message
    assert "CacheError" not in out.report["mro"] and "refusing" not in message, message


def test_killed_compiles_leave_no_temporaries_behind(cache, tmp_path):
    """SIGKILL a run in the middle of a compile; its build directory goes at the next run (a live process's
    stays)."""
    slow = tmp_path / "slow-cc"
    slow.write_text('#!/bin/sh\n[ "$1" = --version ] || sleep 60\nexec clang "$@"\n')
    slow.chmod(0o755)
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKLOAD],
        env=_env(cache, TGRAD_CC=str(slow)),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    kernels = cache / "kernels"
    deadline = time.monotonic() + 60
    while not list(kernels.glob(".tmp-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    left = list(kernels.glob(".tmp-*"))
    assert left, "the killed run had a build directory"
    live = kernels / f".tmp-{os.getpid()}-live"  # a build of a process that still runs (this one)
    live.mkdir()
    _rebuilt(cache)
    assert not any(p.exists() for p in left), f"stale build directories remain: {left}"
    assert live.exists(), "a live process's build directory was removed"


def test_the_size_bound_evicts_least_recently_used_entries(cache):
    """TGRAD_CACHE_MAX_MB=1: old entries (here 400 KiB stand-ins) go first; entries in use are kept."""
    kernels = cache / "kernels"
    _populated(cache)
    real = {p.name for p in entries(cache)}
    past = time.time() - 3600
    for i in range(3):
        junk = kernels / f"{i:040x}.so"
        junk.write_bytes(b"\0" * (400 << 10))
        os.utime(junk, (past + i, past + i))
    for p in entries(cache):
        if p.name in real:  # the real entries are older than the junk, but used by the next run
            os.utime(p, (past - 100, past - 100))
    stats = assert_right(run_child(_env(cache, TGRAD_CACHE_MAX_MB="1"), argv=["3"]))
    assert stats["programs_compiled"] == 3, stats
    names = {p.name for p in entries(cache)}
    total = sum(p.stat().st_size for p in entries(cache))
    assert total <= 1 << 20, f"{total} bytes left in a 1 MiB cache: {sorted(names)}"
    assert real <= names, "the entries the run used were evicted"
    assert f"{0:040x}.so" not in names, "the least recently used entry was kept"


def test_cache_off_uses_a_fresh_private_directory_removed_at_exit(tmp_path):
    env = clean_env(TGRAD_CACHE="off", TMPDIR=str(tmp_path))
    out = run_child(env)
    assert_right(out)
    used = Path(out.report["cache_dir"]).parent
    assert used.parent == tmp_path and used.name.startswith("tgrad-nocache-"), used
    assert len(used.name.rsplit("-", 1)[1]) >= 16, f"{used.name}: the name must not be predictable"
    assert not used.exists(), "the private cache outlived its process"
    out2 = run_child(env)
    assert Path(out2.report["cache_dir"]).parent != used, "each process gets its own directory"
