"""The line budget: no source file over BUDGET lines (files stay small enough to read in one sitting).

Run by `make lint`; exits 1 naming every file over budget. Golden files, committed results and lock files are data,
not source, and are not counted.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BUDGET = 600
SOURCE = {".rs", ".py", ".c", ".h", ".cpp", ".hpp", ".cu", ".cuh", ".metal", ".sh", ".toml"}
DATA = ("results/", "tests/golden/", "Cargo.lock", "notebooks/")


def over_budget(root: Path) -> list[tuple[str, int]]:
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    out = []
    for f in files:
        p = root / f
        if p.suffix not in SOURCE or any(d in f for d in DATA) or not p.is_file():
            continue
        n = len(p.read_text(errors="replace").splitlines())
        if n > BUDGET:
            out.append((f, n))
    return out


def main() -> int:
    bad = over_budget(Path(__file__).resolve().parents[1])
    for f, n in bad:
        print(f"line budget: {f} has {n} lines (budget {BUDGET}); split it by topic")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
