"""The corpus's figures: outcome counts per category, the comparison with upstream tinygrad, and the report file.

    python tests/robust/corpus_report.py --out results/robustness.md [--profile full] [--tinygrad all|sample|none]

runs the corpus against tgrad (and tinygrad where it is importable), prints the tables and writes the report
atomically (`make robustness`). The test (`test_robust_corpus.py`) uses the same functions.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

from corpus import CATEGORIES, FAILURES, OUTCOMES  # noqa: E402

GOOD = ("right", "clear")


def run_corpus(
    engine: str, profile: str, out: Path, every: int = 1, exclude: str | None = None, timeout: float = 3600
) -> list[dict]:
    """Run the corpus runner in a child interpreter and read its results (`every`: each n-th case only)."""
    cmd = [sys.executable, str(HERE / "corpus_runner.py"), "--engine", engine, "--profile", profile, "--out", str(out)]
    cmd += ["--every", str(every)] + (["--exclude", exclude] if exclude else [])
    subprocess.run(cmd, check=True, timeout=timeout, cwd=ROOT)
    return [json.loads(line) for line in out.read_text().splitlines()]


def tinygrad_available() -> bool:
    return importlib.util.find_spec("tinygrad") is not None


def counts_table(results: list[dict]) -> str:
    """Cases per category and outcome, as a markdown table with a total row."""
    by = collections.Counter((r["category"], r["outcome"]) for r in results)
    cats = [c for c in CATEGORIES if any(r["category"] == c for r in results)]
    rows = ["| category | cases | " + " | ".join(OUTCOMES) + " |", "|---|---:|" + "---:|" * len(OUTCOMES)]
    for c in [*cats, "total"]:
        cells = [sum(by[(k, o)] for k in cats) if c == "total" else by[(c, o)] for o in OUTCOMES]
        rows.append(f"| {c} | {sum(cells)} | " + " | ".join(str(n) for n in cells) + " |")
    return "\n".join(rows)


def relation(ours: str, theirs: str) -> str:
    """How tgrad's class of outcome compares with tinygrad's on one case."""
    if ours in FAILURES:
        return "tgrad worse"
    if ours == theirs:
        return "same"
    if theirs in FAILURES:
        return "tgrad right, tinygrad fails" if ours == "right" else "tgrad clear error, tinygrad fails"
    if ours == "right":
        return "tgrad computes, tinygrad refuses (clear)"
    return "tgrad refuses (clear), tinygrad computes"


RELATIONS = (
    "same",
    "tgrad clear error, tinygrad fails",
    "tgrad right, tinygrad fails",
    "tgrad computes, tinygrad refuses (clear)",
    "tgrad refuses (clear), tinygrad computes",
    "tgrad worse",
)


def compare(ours: list[dict], theirs: list[dict]) -> list[dict]:
    mine = {r["cid"]: r for r in ours}
    return [
        {
            "cid": t["cid"],
            "category": t["category"],
            "tgrad": mine[t["cid"]],
            "tinygrad": t,
            "relation": relation(mine[t["cid"]]["outcome"], t["outcome"]),
        }
        for t in theirs
        if t["cid"] in mine
    ]


def comparison_table(pairs: list[dict]) -> str:
    by = collections.Counter((p["category"], p["relation"]) for p in pairs)
    cats = [c for c in CATEGORIES if any(p["category"] == c for p in pairs)]
    rows = ["| category | compared | " + " | ".join(RELATIONS) + " |", "|---|---:|" + "---:|" * len(RELATIONS)]
    for c in [*cats, "total"]:
        cells = [sum(by[(k, r)] for k in cats) if c == "total" else by[(c, r)] for r in RELATIONS]
        rows.append(f"| {c} | {sum(cells)} | " + " | ".join(str(n) for n in cells) + " |")
    return "\n".join(rows)


def _short(text: str, n: int = 110) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= n else text[: n - 3] + "..."


def differences(pairs: list[dict]) -> str:
    rows = ["| case | tgrad | tinygrad | tinygrad's detail |", "|---|---|---|---|"]
    for p in pairs:
        if p["relation"] == "same":
            continue
        t = p["tinygrad"]
        rows.append(f"| `{p['cid']}` | {p['tgrad']['outcome']} | {t['outcome']} | {_short(t['detail'])} |")
    return "\n".join(rows)


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True
        )
        return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except OSError:
        return "unknown"


def render(ours: list[dict], theirs: list[dict] | None, profile: str, seconds: dict[str, float]) -> str:
    fails = [r for r in ours if r["outcome"] in FAILURES]
    lines = [
        "# Robustness corpus (issue 18)",
        "",
        f"Generated by `make robustness` (tests/robust/corpus_report.py) at commit {_commit()}, "
        f"{datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%d %H:%M UTC')}, on {platform.machine()} "
        f"with {os.cpu_count()} CPUs; profile `{profile}`. Every case ran in a forked child of its own "
        "(tests/robust/corpus_runner.py) and was classified as described in tests/robust/corpus.py.",
        "",
        f"## tgrad: {len(ours)} cases, {len(fails)} failures ({seconds.get('tgrad', 0):.0f} s)",
        "",
        counts_table(ours),
        "",
        "wrong, unclear, refused, ignored, crash and hang must all be 0 (the test asserts it).",
    ]
    if fails:
        lines += ["", "| case | outcome | detail |", "|---|---|---|"]
        lines += [f"| `{r['cid']}` | {r['outcome']} | {_short(r['detail'])} |" for r in fails]
    if theirs:
        pairs = compare(ours, theirs)
        lines += [
            "",
            f"## Upstream tinygrad on the same API cases: {len(theirs)} cases ({seconds.get('tinygrad', 0):.0f} s)",
            "",
            "tinygrad's outcomes, classified by the same rules:",
            "",
            counts_table(theirs),
            "",
            "How tgrad's class of outcome compares, case by case (`tgrad worse` must be 0):",
            "",
            comparison_table(pairs),
            "",
            "The cases where the class differs:",
            "",
            differences(pairs),
        ]
    return "\n".join(lines) + "\n"


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", choices=("default", "full"), default="full")
    p.add_argument("--tinygrad", choices=("all", "none"), default="all")
    p.add_argument("--out", type=Path, default=ROOT / "results" / "robustness.md")
    a = p.parse_args(argv)
    work = Path(os.environ.get("TMPDIR", "/tmp"))
    seconds: dict[str, float] = {}
    t0 = time.monotonic()
    ours = run_corpus("tgrad", a.profile, work / f"corpus-tgrad-{os.getpid()}.jsonl")
    seconds["tgrad"] = time.monotonic() - t0
    print(counts_table(ours))
    theirs = None
    if a.tinygrad == "all" and tinygrad_available():
        t0 = time.monotonic()
        theirs = run_corpus("tinygrad", a.profile, work / f"corpus-tinygrad-{os.getpid()}.jsonl")
        seconds["tinygrad"] = time.monotonic() - t0
        print(comparison_table(compare(ours, theirs)))
    write_atomic(a.out, render(ours, theirs, a.profile, seconds))
    print(f"wrote {a.out}")
    return 1 if any(r["outcome"] in FAILURES for r in ours) else 0


if __name__ == "__main__":
    sys.exit(main())
