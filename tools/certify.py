"""Prove and check TGrad's kernel certificates.

The Rust core writes each template's proof obligations as an SMT-LIB2 script
(`cargo run --release -p tgrad-core --example certify -- DIR`: DIR/<name>.smt2 and the
certificate's header DIR/<name>.meta). This tool proves every goal of every obligation with z3
(a goal holds when its negation is unsat, assuming the goals before it; an unknown over a few
configuration products is retried product by product), and writes certificates/<name>.cert (the
header, the script's hash, the solver and its version, one verdict line per obligation) and
certificates/<name>.smt2.gz (the script; `zcat` it into `z3 -in` to re-run it by hand).

    python tools/certify.py prove [--out certificates] [--jobs 2]     emit, prove, write certificates
    python tools/certify.py --check certificates/cpu_gemm.cert        re-prove a committed certificate
    python tools/certify.py stale [--sample 60]                       committed certificates match the
                                                                      sources; re-prove a sample
    python tools/certify.py script FILE.smt2                          prove one script
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "tgrad_ext" / "Cargo.toml"
TIMEOUT_MS = int(os.environ.get("TG_CERT_TIMEOUT_MS", "20000"))
CASE_TIMEOUT_MS = 2 * TIMEOUT_MS
# an unknown over a disjunction of at most this many configuration products is retried product by
# product (the solver often needs fewer case splits of its own then)
MAX_SPLIT = 8


@dataclass
class Obligation:
    kind: str
    name: str
    text: str
    base: list[str] = field(default_factory=list)
    cases: list[str] = field(default_factory=list)
    split: bool = False
    goals: list[tuple[str, str]] = field(default_factory=list)

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]


def sexprs(text: str) -> list[str]:
    """The top-level s-expressions (or atoms) of `text`."""
    out, depth, start = [], 0, None
    for i, ch in enumerate(text):
        if ch == "(":
            if depth == 0:
                start = i
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                out.append(text[start : i + 1])
        elif depth == 0 and not ch.isspace() and (i == 0 or text[i - 1].isspace()):
            end = next((j for j in range(i, len(text)) if text[j].isspace() or text[j] == "("), len(text))
            out.append(text[i:end])
    return out


def parse(text: str) -> list[Obligation]:
    """The obligations of a script: `; @obligation KIND | NAME`, then declarations and facts, the
    configuration cases (`; @case`, asserted together as one disjunction) and the goals."""
    out = []
    for block in text.split("; @obligation ")[1:]:
        head, body = block.split("\n", 1)
        kind, name = (x.strip() for x in head.split("|", 1))
        ob = Obligation(kind, name, "; @obligation " + block)
        goal = None
        for line in body.split("\n"):
            if line == "; @split":
                ob.split = True
            elif line.endswith("; @config"):
                ob.cases = sexprs(line[len("(assert (or ") : line.rindex("))")])
            elif line.startswith("; @goal "):
                goal = line[len("; @goal ") :]
            elif line.startswith("(assert (not ") and goal is not None:
                ob.goals.append((goal, line))
                goal = None
            elif line.startswith("(declare-const") or (line.startswith("(assert") and not line.endswith("; @config")):
                ob.base.append(line)
        out.append(ob)
    return out


def solve(base: list[str], extra: str, goal: str, timeout: int):
    import z3

    s = z3.Solver()
    s.set("timeout", timeout)
    s.from_string("\n".join([*base, extra, goal]))
    r = s.check()
    if r == z3.sat:
        m = s.model()
        consts = sorted((d for d in m.decls() if d.arity() == 0), key=lambda d: ("." in d.name(), d.name()))
        return "sat", ", ".join(f"{d.name()}={m[d]}" for d in consts)
    return str(r), ""


def prove(ob: Obligation) -> dict:
    """The verdict of one obligation: every goal over every configuration."""
    t0 = time.time()
    every = f"(assert (or {' '.join(ob.cases)}))"
    verdict, detail = "unsat", ""
    # goals in order, each assuming the ones before it (proven already)
    base = list(ob.base)
    for name, goal in ob.goals:
        if ob.split:
            # configuration product by product (a fixed vector size keeps the goal linear)
            rs = [solve(base, f"(assert {c})", goal, TIMEOUT_MS) for c in ob.cases]
            r, model = next(((x, m) for x, m in rs if x != "unsat"), ("unsat", ""))
        else:
            r, model = solve(base, every, goal, TIMEOUT_MS)
        if r == "unknown" and not ob.split and 1 < len(ob.cases) <= MAX_SPLIT:
            # over the whole family the solver gave up: prove it configuration product by product
            rs = [solve(base, f"(assert {c})", goal, CASE_TIMEOUT_MS) for c in ob.cases]
            r, model = next(((x, m) for x, m in rs if x != "unsat"), ("unsat", ""))
        if r != "unsat":
            verdict, detail = ("failed" if r == "sat" else "unknown"), f"goal {name}: {model}".strip()
            break
        base.append("(assert " + goal[len("(assert (not ") : -2] + ")")
    return {
        "digest": ob.digest,
        "kind": ob.kind,
        "name": ob.name,
        "verdict": verdict,
        "ms": int((time.time() - t0) * 1000),
        "detail": detail,
    }


def prove_all(obs: list[Obligation], jobs: int) -> list[dict]:
    if jobs <= 1:
        return [prove(o) for o in obs]
    out = []
    with multiprocessing.Pool(jobs) as pool:
        for r in pool.imap(prove, obs, chunksize=1):
            out.append(r)
            if r["verdict"] != "unsat" or len(out) % 100 == 0:
                print(f"  {len(out)}/{len(obs)}: {r['verdict']} {r['ms']} ms {r['name']}", flush=True)
    return out


def z3_version() -> str:
    import z3

    return z3.get_version_string()


def emit(out: Path) -> None:
    """The obligations of every template, written by the Rust core."""
    cmd = [
        "cargo",
        "run",
        "-q",
        "--release",
        "--manifest-path",
        str(MANIFEST),
        "-p",
        "tgrad-core",
        "--example",
        "certify",
        "--",
        str(out),
    ]
    subprocess.run(cmd, check=True)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def read_script(path: Path) -> str:
    """A committed script (`<name>.smt2.gz`) or an emitted one (`<name>.smt2`)."""
    if path.suffix == ".gz":
        return gzip.decompress(path.read_bytes()).decode()
    return path.read_text()


def header(text: str) -> dict[str, str]:
    """A certificate's `key value` lines (the first of each key)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.partition(" ")
            out.setdefault(k, v)
    return out


def proved_all(h: dict[str, str]) -> bool:
    done, _, total = h.get("proved", "0/?").split()[0].partition("/")
    return done == total


def write_cert(out: Path, name: str, meta: str, script: str, results: list[dict], seconds: float) -> Path:
    proved = sum(r["verdict"] == "unsat" for r in results)
    lines = [
        meta.rstrip("\n"),
        f"obligations {name}.smt2.gz sha256 {sha256(script)}",
        f"solver z3 {z3_version()}",
        f"proved {proved}/{len(results)} in {seconds:.1f} s",
    ]
    for r in results:
        detail = f" | {r['detail']}" if r["detail"] else ""
        lines.append(f"verdict {r['digest']} {r['verdict']} {r['ms']}ms {r['kind']} | {r['name']}{detail}")
    (out / f"{name}.smt2.gz").write_bytes(gzip.compress(script.encode(), mtime=0))
    cert = out / f"{name}.cert"
    cert.write_text("\n".join(lines) + "\n")
    return cert


def report(results: list[dict], seconds: float) -> bool:
    bad = [r for r in results if r["verdict"] != "unsat"]
    slow = sorted(results, key=lambda r: -r["ms"])[:3]
    slowest = ", ".join(f"{r['ms']} ms {r['name']}" for r in slow)
    print(f"{len(results) - len(bad)}/{len(results)} obligations proved in {seconds:.1f} s (slowest: {slowest})")
    for r in bad:
        print(f"  {r['verdict'].upper()}: {r['kind']} {r['name']}\n    {r['detail']}")
    return not bad


def cmd_prove(args) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        emit(Path(tmp))
        for smt in sorted(Path(tmp).glob("*.smt2")):
            script = smt.read_text()
            obs = parse(script)
            t0 = time.time()
            results = prove_all(obs, args.jobs)
            secs = time.time() - t0
            print(f"{smt.stem}: {len(obs)} obligations, {sum(len(o.goals) for o in obs)} goals")
            ok &= report(results, secs)
            meta = smt.with_suffix(".meta").read_text()
            print(f"  wrote {write_cert(out, smt.stem, meta, script, results, secs)}")
    return 0 if ok else 1


def cmd_check(args) -> int:
    cert = Path(args.check)
    h = header(cert.read_text())
    script_path = cert.parent / h.get("obligations", "?").split()[0]
    script = read_script(script_path)
    if h.get("obligations", "").split()[-1] != sha256(script):
        print(f"{script_path} is not the script {cert} was proven for (sha256 differs)")
        return 1
    obs = parse(script)
    if args.sample:
        obs = random.Random(0).sample(obs, min(args.sample, len(obs)))
    t0 = time.time()
    results = prove_all(obs, args.jobs)
    recorded = {
        line.split()[1]
        for line in cert.read_text().splitlines()
        if line.startswith("verdict ") and line.split()[2] == "unsat"
    }
    missing = [r for r in results if r["digest"] not in recorded]
    for r in missing:
        print(f"  not recorded as proven: {r['name']}")
    print(f"{cert.name}: {h.get('certificate')} by {h.get('solver')} (recorded: {h.get('proved')})")
    return 0 if report(results, time.time() - t0) and not missing else 1


def cmd_stale(args) -> int:
    """Fails when a committed certificate no longer matches what the sources emit."""
    committed = Path(args.out)
    stale = []
    with tempfile.TemporaryDirectory() as tmp:
        emit(Path(tmp))
        for smt in sorted(Path(tmp).glob("*.smt2")):
            cert = committed / f"{smt.stem}.cert"
            if not cert.exists():
                stale.append(f"{cert}: missing")
                continue
            old, fresh = header(cert.read_text()), header(smt.with_suffix(".meta").read_text())
            for key in ("template-sha256", "configurations"):
                if old.get(key) != fresh.get(key):
                    stale.append(f"{cert}: {key} was {old.get(key)}, is {fresh.get(key)} now")
            if old.get("obligations", "").split()[-1:] != [sha256(smt.read_text())]:
                stale.append(f"{cert}: the obligations the sources give changed")
            if not proved_all(old):
                stale.append(f"{cert}: not every obligation is proven ({old.get('proved')})")
    for s in stale:
        print(f"STALE {s}")
    if stale:
        print("re-certify with `make certify` and commit certificates/")
        return 1
    print("certificates match the sources")
    rc = 0
    if args.sample:
        for cert in sorted(committed.glob("*.cert")):
            rc |= cmd_check(argparse.Namespace(check=str(cert), sample=args.sample, jobs=args.jobs))
    return rc


def cmd_script(args) -> int:
    """Prove every obligation of one script (the tests' broken templates)."""
    obs = parse(read_script(Path(args.script)))
    t0 = time.time()
    return 0 if report(prove_all(obs, args.jobs), time.time() - t0) else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", nargs="?", choices=["prove", "stale", "script"])
    p.add_argument("script", nargs="?", help="with `script`: an obligations file to prove")
    p.add_argument("--check", help="a certificate to re-prove")
    p.add_argument("--out", default=str(ROOT / "certificates"))
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--sample", type=int, default=0, help="re-prove only this many obligations (seeded)")
    args = p.parse_args()
    if args.check:
        return cmd_check(args)
    if args.command == "prove":
        return cmd_prove(args)
    if args.command == "stale":
        return cmd_stale(args)
    if args.command == "script" and args.script:
        return cmd_script(args)
    p.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
