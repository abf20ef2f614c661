"""Planted kernels as a second user (issue 18 item 1): tgrad never loads code another user could have put in its
kernel cache. The attacker's and the victim's sides run as different users (root and `nobody`, switched with
setpriv), so the checks are the real ownership and mode checks, not simulations. A planted shared object's
constructor appends to a marker file: the marker must never appear, and tgrad must refuse the cache with an error
naming the path and the fix (or, for a single foreign entry in the user's own cache, rebuild it).

These tests need root (CI runs as root); elsewhere they skip with that reason. As a control, each planted cache
is first shown to run the planted code for its owner, who trusts it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from cache_child import assert_right, build_planted, clean_env, entries, keyed_sum, loads_and_marks, run_child
from second_user import as_nobody, available, shared_dir

pytestmark = pytest.mark.skipif(available() is not None, reason=available() or "")

FOREIGN_UID = 4242  # a user that is neither root nor nobody (no passwd entry needed)


@pytest.fixture
def shared() -> Iterator[Path]:
    d = shared_dir()
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def planted(shared: Path) -> tuple[Path, Path]:
    """(planted.so, marker): the object, and where its constructor writes when anything loads it."""
    marks = shared / "marks"
    marks.mkdir()
    marks.chmod(0o777)
    marker = marks / "planted-code-ran"
    so = build_planted(shared, marker)
    so.chmod(0o755)
    assert loads_and_marks(so, marker), "control: loading the planted object leaves the marker"
    return so, marker


def _plant(cache: Path, so: Path) -> None:
    """Replace every entry of `cache` by the planted object with a checksum that verifies for the cache's owner."""
    data = so.read_bytes()
    for e in entries(cache):
        e.write_bytes(data)
        Path(f"{e}.sum").write_text(keyed_sum(cache, e.stem, data))


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    for p in [root, *root.rglob("*")]:
        os.chown(p, uid, gid, follow_symlinks=False)


def _refused(out, path: Path, *fix: str) -> None:
    assert out.report.get("error") == "CacheError", f"expected the cache refused: {out.report}\n{out.stderr[-1500:]}"
    message = out.report["message"]
    assert str(path) in message, f"the error does not name {path}: {message}"
    assert any(f in message for f in fix), f"the error names no fix {fix}: {message}"


def _nobodys(d: Path) -> Path:
    """A private directory of nobody's (where nobody's tgrad may create its cache)."""
    d.mkdir(mode=0o700)
    os.chown(d, *as_nobody.ids())
    return d


def _victim_root(cache: Path):
    return run_child(clean_env(TGRAD_CACHE=str(cache)))


def _attacker_cache(shared: Path, so: Path, marker: Path) -> Path:
    """A cache made by nobody (its entries the workload's keys, which are the same for every user), then planted
    with consistent checksums; the control run shows its owner would run the planted code."""
    cache = _nobodys(shared / "nobody-cache")
    assert_right(as_nobody.run(clean_env(TGRAD_CACHE=str(cache))))
    assert os.stat(cache).st_uid == as_nobody.ids()[0]
    uid, gid = as_nobody.ids()
    _plant(cache, so)
    _chown_tree(cache, uid, gid)
    as_nobody.run(clean_env(TGRAD_CACHE=str(cache)))
    assert marker.exists(), "control: the owner of the planted cache loads the planted code"
    marker.unlink()
    return cache


def test_a_cache_owned_by_another_user_is_refused(shared, planted):
    so, marker = planted
    cache = _attacker_cache(shared, so, marker)
    out = _victim_root(cache)
    _refused(out, cache, "owned by uid", "chown", "TGRAD_CACHE")
    assert not marker.exists(), "the planted code ran as root"


def test_a_cache_reached_through_another_users_symlink_is_refused(shared, planted):
    so, marker = planted
    cache = _attacker_cache(shared, so, marker)
    link = shared / "innocent-looking-cache"
    link.symlink_to(cache)
    os.chown(link, *as_nobody.ids(), follow_symlinks=False)
    out = _victim_root(link)
    _refused(out, link, "chown", "TGRAD_CACHE")
    assert not marker.exists(), "the planted code ran as root"


def test_a_world_writable_cache_is_refused(shared, planted):
    """The victim's own cache, made world-writable (a careless chmod): another user replaces its entries."""
    so, marker = planted
    cache = shared / "root-cache"
    assert_right(_victim_root(cache))
    for d in (cache, cache / "kernels"):
        d.chmod(0o777)
    names = [e.name for e in entries(cache)]
    plant = (
        f"import os, shutil\nfor n in {names!r}:\n"
        f"    p = os.path.join({str(cache / 'kernels')!r}, n)\n    os.unlink(p)\n    shutil.copy({str(so)!r}, p)\n"
    )
    assert as_nobody.run(clean_env(), code=plant, timeout=60).returncode == 0, "nobody plants its files"
    assert all(os.stat(e).st_uid == as_nobody.ids()[0] for e in entries(cache)), "nobody planted its files"
    out = _victim_root(cache)
    _refused(out, cache, "chmod go-w")
    assert "writable by others" in out.report["message"]
    assert not marker.exists(), "the planted code ran as root"


def test_as_nobody_a_cache_owned_by_a_third_user_is_refused(shared, planted):
    so, marker = planted
    cache = shared / "third-user-cache"
    assert_right(_victim_root(cache))  # built by root with its secret, then handed to the third user
    _plant(cache, so)
    _chown_tree(cache, FOREIGN_UID, FOREIGN_UID)
    for d in (cache, cache / "kernels"):
        d.chmod(0o755)  # readable, so only the ownership check stands between nobody and the planted code
    out = as_nobody.run(clean_env(TGRAD_CACHE=str(cache)))
    _refused(out, cache, f"owned by uid {FOREIGN_UID}", "chown", "TGRAD_CACHE")
    assert not marker.exists(), "the planted code ran as nobody"


def test_as_nobody_a_foreign_entry_in_its_own_cache_is_rebuilt_not_loaded(shared, planted):
    """nobody's private cache, where entries owned by someone else appear (with checksums that verify): they are
    removed and rebuilt, never loaded."""
    so, marker = planted
    cache = _nobodys(shared / "nobody-private")
    assert_right(as_nobody.run(clean_env(TGRAD_CACHE=str(cache))))
    _plant(cache, so)
    for e in entries(cache):
        for p in (e, Path(f"{e}.sum")):
            os.chown(p, FOREIGN_UID, FOREIGN_UID)
            p.chmod(0o755 if p == e else 0o644)  # readable by nobody: only the owner check keeps them out
    out = as_nobody.run(clean_env(TGRAD_CACHE=str(cache)))
    stats = assert_right(out)
    assert stats["programs_compiled"] == 2, stats
    assert not marker.exists(), "the planted code ran as nobody"
    assert all(os.stat(e).st_uid == as_nobody.ids()[0] for e in entries(cache)), "the entries are nobody's again"


def test_a_cache_inside_another_users_directory_is_refused(shared, planted):
    """A private cache of root's inside a directory nobody owns: nobody could swap it at any time."""
    _, marker = planted
    outer = shared / "nobody-dir"
    outer.mkdir()
    os.chown(outer, *as_nobody.ids())
    cache = outer / "cache"
    out = _victim_root(cache)
    _refused(out, cache, "chown", "TGRAD_CACHE")
    assert str(outer) in out.report["message"], out.report["message"]
    assert not marker.exists()
