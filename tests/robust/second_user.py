"""Running the cache workload as a second user (`nobody`), for the read-only cache and the planted-kernel tests.

Switching user needs root and setpriv (util-linux); `available()` says why not otherwise, and only then may a test
skip. nobody must be able to run Python with tgrad and numpy: the venv's interpreter may live where nobody cannot
reach it (pyenv under /root), so `interpreter()` takes the first of the venv's real interpreter and the system's
python3.X of the same version that nobody can run, with the venv's site-packages on PYTHONPATH (or, where nobody
cannot read those, a copy of tgrad and numpy in a temporary directory nobody can read). Nothing outside that
directory changes.
"""

from __future__ import annotations

import atexit
import functools
import grp
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from cache_child import WORKLOAD, Outcome, run_child

USER, GROUP = "nobody", "nogroup"


def available() -> str | None:
    """None when the tests can switch to nobody, else the reason they cannot."""
    if os.geteuid() != 0:
        return "switching to another user needs root (CI runs the tests as root)"
    if not shutil.which("setpriv"):
        return "setpriv (util-linux) is not installed"
    try:
        pwd.getpwnam(USER)
    except KeyError:
        return f"there is no user {USER!r}"
    return None


class _Nobody:
    def ids(self) -> tuple[int, int]:
        uid = pwd.getpwnam(USER).pw_uid
        try:
            gid = grp.getgrnam(GROUP).gr_gid
        except KeyError:
            gid = pwd.getpwnam(USER).pw_gid
        return uid, gid

    def prefix(self) -> list[str]:
        uid, gid = self.ids()
        return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--"]

    def can(self, argv: list[str], env: dict[str, str]) -> bool:
        try:
            r = subprocess.run([*self.prefix(), *argv], env=env, capture_output=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            return False
        return r.returncode == 0

    @functools.cached_property
    def setup(self) -> tuple[str, str]:
        """(interpreter, PYTHONPATH) with which nobody imports tgrad and numpy."""
        import tgrad

        minor = f"python{sys.version_info.major}.{sys.version_info.minor}"
        candidates = [os.path.realpath(sys.executable), f"/usr/bin/{minor}", f"/usr/local/bin/{minor}"]
        candidates = [p for p in dict.fromkeys(candidates) if os.path.exists(p)]
        tried = []
        for path in (lambda: str(Path(tgrad.__file__).resolve().parents[1]), _readable_copy):
            where = path()
            for python in candidates:
                tried.append(f"{python} with {where}")
                env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": where, "HOME": "/nonexistent"}
                if self.can([python, "-c", "import tgrad, numpy"], env):
                    return python, where
        raise AssertionError(
            f"no interpreter that {USER} can run imports tgrad and numpy (tried {tried}); install {minor} "
            f"system-wide or put the venv where {USER} can read it"
        )

    def env(self, env: dict[str, str]) -> dict[str, str]:
        _, path = self.setup
        return {**env, "PYTHONPATH": path, "HOME": "/nonexistent", "PYTHONNOUSERSITE": "1"}

    def run(self, env: dict[str, str], code: str = WORKLOAD, timeout: float = 120) -> Outcome:
        python, _ = self.setup
        return run_child(self.env(env), prefix=self.prefix(), code=code, python=python, timeout=timeout)


def _readable_copy() -> str:
    """tgrad and numpy copied into a temporary directory every user can read (removed at exit)."""
    import numpy
    import tgrad

    copy = Path(tempfile.mkdtemp(prefix="tgrad-nobody-site-"))
    atexit.register(shutil.rmtree, copy, ignore_errors=True)
    for pkg in (Path(tgrad.__file__).parent, Path(numpy.__file__).parent):
        shutil.copytree(pkg, copy / pkg.name)
    libs = Path(numpy.__file__).parent.with_name("numpy.libs")
    if libs.is_dir():
        shutil.copytree(libs, copy / libs.name)
    for p in [copy, *copy.rglob("*")]:
        p.chmod(0o755 if p.is_dir() or os.access(p, os.X_OK) else 0o644)
    return str(copy)


def shared_dir() -> Path:
    """A fresh directory under /tmp that every user can enter (its parents are /tmp and /), owned by root."""
    d = Path(tempfile.mkdtemp(prefix="tgrad-users-", dir="/tmp"))
    d.chmod(0o755)
    return d


as_nobody = _Nobody()
