"""The GPU emulator against a GPU on the same kernels: `python -m harness.emu_compare`.

Each case is one graph of tgrad's GPU kernel kinds (elementwise and reduction loops, the SIMT GEMM in float32
and float64, the tensor-core GEMM in float16; transposed, batched and broadcast operands; the fused bias+relu
epilogue), realized on every device asked for (`--devices CUDA,CUDA_EMU`: the CUDA C tgrad renders, compiled by
NVRTC and run by the driver, and the same text compiled for the emulator and run on the CPU). Each case runs
with two kinds of input, both seeded by the case's name, so every machine draws the same values:

- `ints`: integers in [-4, 4]. Every product and partial sum is exact, so any summation order gives the same
  value: the devices' outputs must be bitwise equal to each other.
- `normal`: standard normal values. Orders differ (and a GPU contracts to FMA, the emulator does not), so each
  output must lie within harness.agreement's rounding-error bound of the float64 oracle; how far the devices
  are from each other is reported, not judged.

Every output is also judged against the oracle with that bound. The kernels' CUDA source (as rendered for
sm_90, which both the emulator and an sm_90 GPU such as the H100 or H200 compile) is hashed into the report,
so two reports show whether they ran the same text.

Writes `emu-vs-gpu.json` (every check), `emu-vs-gpu.md` (the summary table) and `emu-vs-gpu-outputs.npz` (each
output, with the input and source hashes) into `--out`, atomically. `--against FILE.npz` compares with the
outputs another machine saved (a GPU's, carried back), so a GPU machine without a C++ compiler still gets its
comparison: run the emulator here against its file. Exit status: 0 when every check passes, 1 when one fails
(or, with `--require-all`, a device is unusable), 2 on bad arguments or an unreadable `--against` file.
"""

from __future__ import annotations

import argparse
import dataclasses
import fnmatch
import hashlib
import io
import json
import os
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from harness.agreement import compare, difference, gamma, unit_roundoff
from harness.engines.gpu_emu import cxx_problem
from harness.engines.oracle import reference
from harness.store import atomic_write_text
from harness.workload import Inputs

DEVICES = ("CUDA", "CUDA_EMU")  # the same CUDA C on both
KINDS = ("ints", "normal")
SEP = "__"  # joins case, kind and device into an npz key


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    op: str  # matmul | linear_relu | sum | max | elementwise
    shapes: tuple[tuple[int, ...], ...]  # matmul: logical a, logical b (and bias); the others: the input
    dtype: str
    layout: str = "contiguous"  # of a matmul: transposed_a, transposed_b (stored transposed, viewed back)

    @property
    def kernel_kind(self) -> str:
        if self.op in ("sum", "max", "elementwise"):
            return "loops"
        return "tensor-core GEMM" if self.dtype == "float16" else "SIMT GEMM"

    def arrays(self, kind: str) -> list[np.ndarray]:
        """The inputs as stored (a transposed operand as its contiguous transpose), seeded by name and kind."""
        rng = np.random.default_rng(zlib.crc32(f"{self.name}/{kind}".encode()))
        out = []
        for shape in self.shapes:
            values = rng.integers(-4, 5, shape).astype(np.float64) if kind == "ints" else rng.standard_normal(shape)
            out.append(values.astype(self.dtype))
        if self.op == "max":
            out[0][tuple(min(5, n - 1) for n in out[0].shape)] = np.nan  # max must keep NaN
        if self.layout == "transposed_a":
            out[0] = np.ascontiguousarray(np.swapaxes(out[0], -1, -2))
        if self.layout == "transposed_b":
            out[1] = np.ascontiguousarray(np.swapaxes(out[1], -1, -2))
        return out

    def inputs(self, arrays: list[np.ndarray]) -> Inputs:
        bias = arrays[2] if len(arrays) > 2 else None
        return Inputs(arrays[0], arrays[1], bias, self.op, self.layout)

    def graph(self, tgrad: Any, arrays: list[np.ndarray]) -> Any:
        """The lazy result tensor over fresh input tensors."""
        x = [tgrad.Tensor(a) for a in arrays]
        if self.op == "sum":
            return x[0].sum(axis=1)
        if self.op == "max":
            return x[0].max()
        if self.op == "elementwise":
            return (x[0] * 2 + 1).relu()
        left = x[0].transpose(-1, -2) if self.layout == "transposed_a" else x[0]
        right = x[1].transpose(-1, -2) if self.layout == "transposed_b" else x[1]
        y = left @ right
        return (y + x[2]).relu() if self.op == "linear_relu" else y

    def oracle(self, arrays: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(float64 result, elementwise bound on a device's error)."""
        x = arrays[0].astype(np.float64)
        u = unit_roundoff(self.dtype if self.dtype != "float16" else np.float32)
        if self.op == "sum":
            return x.sum(axis=1), gamma(x.shape[1], u) * np.abs(x).sum(axis=1)
        if self.op == "max":
            return np.asarray(np.max(x)), np.zeros(())
        if self.op == "elementwise":
            exact = np.maximum(x * 2 + 1, 0)
            return exact, unit_roundoff(self.dtype) * np.abs(exact)  # one rounding to the output dtype
        return reference(self.inputs(arrays), self.dtype)


def _mm(name: str, a: tuple[int, ...], b: tuple[int, ...], dtype: str, layout: str = "contiguous") -> Case:
    return Case(name, "matmul", (a, b), dtype, layout)


CASES: tuple[Case, ...] = (
    Case("elementwise-f16", "elementwise", ((3, 50, 7),), "float16"),
    Case("sum-333x777-f32", "sum", ((333, 777),), "float32"),
    Case("max-nan-f32", "max", ((33, 70),), "float32"),
    _mm("gemm-1-f32", (1, 1), (1, 1), "float32"),
    _mm("gemm-127x129x130-f32", (127, 129), (129, 130), "float32"),
    _mm("gemm-256-f32", (256, 256), (256, 256), "float32"),
    _mm("gemm-bT-f32", (300, 200), (200, 100), "float32", "transposed_b"),
    _mm("bmm-f32", (4, 128, 128), (4, 128, 128), "float32"),
    _mm("bmm-broadcast-f32", (5, 33, 70), (70, 9), "float32"),
    Case("linear-relu-f32", "linear_relu", ((100, 256), (256, 200), (200,)), "float32"),
    _mm("gemm-65x33x17-f64", (65, 33), (33, 17), "float64"),
    _mm("gemm-127x129x130-f16", (127, 129), (129, 130), "float16"),
    _mm("gemm-256-f16", (256, 256), (256, 256), "float16"),
    _mm("gemm-bT-f16", (300, 200), (200, 100), "float16", "transposed_b"),
    _mm("gemm-aT-f16", (129, 127), (127, 64), "float16", "transposed_a"),
    _mm("bmm-f16", (4, 128, 128), (4, 128, 128), "float16"),
    _mm("bmm-broadcast-f16", (5, 33, 70), (70, 9), "float16"),
    Case("linear-relu-f16", "linear_relu", ((100, 256), (256, 200), (200,)), "float16"),
)


class UsageError(ValueError):
    """Bad arguments or an unreadable input file: exit status 2."""


# ------------------------------------------------------------------------------------------ devices
def device_problem(device: str, native: Any) -> str | None:
    """Why `device` cannot run kernels here, or None."""
    if device == "CUDA":
        ok, reason = native.cuda_available()
        return None if ok else str(reason)
    return cxx_problem()


def _hash(arrays: list[np.ndarray]) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def _sources(case: Case, tgrad: Any, native: Any) -> list[dict[str, Any]]:
    """The case's CUDA kernels as rendered for sm_90: name, source hash, strategy."""
    y = case.graph(tgrad, case.arrays("ints"))
    out = []
    for name, source, launch in native.render_cuda([y._lb]):
        digest = hashlib.sha256(source.encode()).hexdigest()[:16]
        facts = {"strategy": launch["strategy"], "tensor_cores": launch["tensor_cores"]}
        out.append({"name": name, "sha256": digest, **facts})
    return out


# ------------------------------------------------------------------------------------------ running
@dataclasses.dataclass
class Outcome:
    report: dict[str, Any]
    outputs: dict[str, np.ndarray]  # npz key -> array

    @property
    def ok(self) -> bool:
        return bool(self.report["ok"])


def _judge(case: Case, kind: str, results: dict[str, Any], outs: dict[str, np.ndarray]) -> list[str]:
    """Cross-device checks of one (case, kind); returns the failures."""
    failures = []
    names = sorted(outs)
    if len(names) >= 2:
        first = outs[names[0]]
        cross = {}
        for other in names[1:]:
            d = difference(outs[other], first) if outs[other].shape == first.shape else None
            cross[other] = d.as_dict() if d else {"error": f"shape {outs[other].shape} vs {first.shape}"}
            if d is None or (kind == "ints" and not d.identical):
                failures.append(f"{case.name}/{kind}: {other} is not bitwise equal to {names[0]}")
        results["cross"] = {"base": names[0], "others": cross}
    for device, entry in results["devices"].items():
        agreement = entry.get("agreement")
        if entry["status"] != "ok":
            failures.append(f"{case.name}/{kind} on {device}: {entry.get('error')}")
        elif agreement is not None and not agreement["ok"]:
            failures.append(f"{case.name}/{kind} on {device}: error {agreement['max_ratio']:.3g}x the bound")
    return failures


def run(
    cases: list[Case],
    devices: list[str],
    against: dict[str, np.ndarray] | None = None,
    require_all: bool = False,
) -> Outcome:
    """Run every case on every usable device (and judge it against `against`'s saved outputs)."""
    import tgrad
    from tgrad import _native

    problems = {d: device_problem(d, _native) for d in devices}
    usable = [d for d in devices if problems[d] is None]
    report: dict[str, Any] = {
        "kind": "tgrad-emu-vs-gpu",
        "devices": {d: {"usable": problems[d] is None, "reason": problems[d]} for d in devices},
        "cuda": _native.cuda_available()[1],
        "against": None,
        "cases": [],
    }
    notes: list[str] = []
    if "CUDA" in usable and "sm_90" not in report["cuda"]:
        notes.append("the GPU is not sm_90: it renders for its own architecture, the emulator for sm_90")
    failures = [f"{d} is not usable: {problems[d]}" for d in devices if problems[d] and require_all]
    outputs: dict[str, np.ndarray] = {}
    for case in cases:
        sources = _sources(case, tgrad, _native)
        outputs[f"{case.name}{SEP}sources"] = np.array(json.dumps(sources))
        entry: dict[str, Any] = {"case": dataclasses.asdict(case), "kernel_kind": case.kernel_kind, "sources": sources}
        if against is not None:
            theirs = against.get(f"{case.name}{SEP}sources")
            entry["same_source_as_against"] = None if theirs is None else json.loads(str(theirs)) == sources
        for kind in KINDS:
            arrays = case.arrays(kind)
            exact, bound = case.oracle(arrays)
            digest = _hash(arrays)
            outputs[f"{case.name}{SEP}{kind}{SEP}inputs"] = np.array(digest)
            results: dict[str, Any] = {"inputs_sha256": digest, "devices": {}}
            outs: dict[str, np.ndarray] = {}
            for device in usable:
                results["devices"][device] = _realize(case, arrays, device, exact, bound, kind, tgrad, _native)
                if "output" in results["devices"][device]:
                    outs[device] = results["devices"][device].pop("output")
                    outputs[f"{case.name}{SEP}{kind}{SEP}{device}"] = outs[device]
            if against is not None:
                _add_against(case, kind, digest, against, exact, bound, results, outs, failures)
            failures += _judge(case, kind, results, outs)
            entry[kind] = results
        report["cases"].append(entry)
    report["notes"] = notes
    report["failures"] = failures
    report["ok"] = not failures
    return Outcome(report, outputs)


def _realize(
    case: Case,
    arrays: list[np.ndarray],
    device: str,
    exact: np.ndarray,
    bound: np.ndarray,
    kind: str,
    tgrad: Any,
    native: Any,
) -> dict[str, Any]:
    y = case.graph(tgrad, arrays)
    started = time.perf_counter()
    try:
        native.realize_on(device, [y._lb])
        out = np.asarray(y.numpy())
    except Exception as e:
        message = " / ".join(line.strip() for line in str(e).splitlines() if line.strip())
        return {"status": "error", "error": f"{type(e).__name__}: {message}"}
    seconds = time.perf_counter() - started
    result: dict[str, Any] = {"status": "ok", "seconds": seconds, "output": out}
    result["agreement"] = compare(out, exact, bound).as_dict()
    if kind == "ints":
        with np.errstate(over="ignore", invalid="ignore"):
            rounded = exact.astype(out.dtype)
        result["equals_rounded_exact"] = bool(np.array_equal(out, rounded, equal_nan=True))
    return result


def _add_against(
    case: Case,
    kind: str,
    digest: str,
    against: dict[str, np.ndarray],
    exact: np.ndarray,
    bound: np.ndarray,
    results: dict[str, Any],
    outs: dict[str, np.ndarray],
    failures: list[str],
) -> None:
    """Take the other machine's outputs of this (case, kind) in as devices named `DEVICE@against`."""
    prefix = f"{case.name}{SEP}{kind}{SEP}"
    theirs = against.get(prefix + "inputs")
    if theirs is None:
        return
    if str(theirs) != digest:
        failures.append(f"{case.name}/{kind}: the --against file's inputs differ (hash {theirs} vs {digest})")
        return
    for key, value in against.items():
        device = key[len(prefix) :]
        if key.startswith(prefix) and device in DEVICES:
            name = f"{device}@against"
            outs[name] = value
            entry: dict[str, Any] = {"status": "ok", "agreement": compare(value, exact, bound).as_dict()}
            results["devices"][name] = entry


def load_against(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (OSError, ValueError, zlib.error) as e:
        raise UsageError(f"{path}: not a readable outputs file (emu-vs-gpu-outputs.npz): {e}") from e


# ------------------------------------------------------------------------------------------ reporting
def render_markdown(report: dict[str, Any]) -> str:
    devices = report["devices"]
    lines = ["## Emulator against GPU: the same CUDA kernels", ""]
    for device, state in devices.items():
        lines.append(f"- {device}: {'usable' if state['usable'] else 'not usable: ' + str(state['reason'])}")
    lines.append(f"- CUDA here: {report['cuda']}")
    lines += [f"- compared with: {report['against'] or 'nothing saved elsewhere'}", ""]
    lines += ["| case | kernels | inputs | devices | worst error / bound | across devices | source hashes |"]
    lines += ["|---|---|---|---|---|---|---|"]
    for entry in report["cases"]:
        hashes = ", ".join(s["sha256"][:8] for s in entry["sources"])
        for kind in KINDS:
            results = entry[kind]
            ratios = [d["agreement"]["max_ratio"] for d in results["devices"].values() if "agreement" in d]
            worst = f"{max(ratios):.2g}" if ratios else "—"
            lines.append(
                f"| {entry['case']['name']} | {entry['kernel_kind']} | {kind} | {', '.join(results['devices']) or '—'}"
                f" | {worst} | {_cross_text(results.get('cross'))} | {hashes} |"
            )
    verdict = "PASS" if report["ok"] else "FAIL"
    lines += ["", f"Verdict: {verdict}", *[f"- {f}" for f in report["failures"]]]
    lines += [f"- note: {n}" for n in report["notes"]]
    lines += [
        "",
        "ints: integer inputs, every sum exact: outputs must be bitwise equal across devices. normal: each output",
        "within the rounding-error bound of the float64 oracle; the distance across devices is shown, not judged.",
        "Seconds in the JSON include compiling; the emulator's are CPU times, not GPU timings (docs/emulator.md).",
    ]
    return "\n".join(lines) + "\n"


def _cross_text(cross: dict[str, Any] | None) -> str:
    if not cross:
        return "—"
    parts = []
    for name, d in cross["others"].items():
        if "error" in d:
            parts.append(f"{name}: {d['error']}")
        elif d["identical"]:
            parts.append(f"{name} = {cross['base']} bitwise")
        else:
            parts.append(f"{name}: max abs {d['max_abs']:.2g}, {d['max_ulp']} ulp")
    return "; ".join(parts)


def write(outcome: Outcome, out: Path) -> list[Path]:
    """emu-vs-gpu.json, .md and the outputs (npz) into `out`, each replaced atomically."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path, npz_path = out / "emu-vs-gpu.json", out / "emu-vs-gpu.md", out / "emu-vs-gpu-outputs.npz"
    atomic_write_text(json_path, json.dumps(outcome.report, indent=1, default=str) + "\n")
    atomic_write_text(md_path, render_markdown(outcome.report))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, allow_pickle=False, **outcome.outputs)
    temp = npz_path.with_name(f".{npz_path.name}.{os.getpid()}.part")
    temp.write_bytes(buffer.getvalue())
    os.replace(temp, npz_path)
    return [json_path, md_path, npz_path]


# ------------------------------------------------------------------------------------------ command line
def select(patterns: list[str]) -> list[Case]:
    if not patterns:
        return list(CASES)
    chosen = [c for c in CASES if any(fnmatch.fnmatch(c.name, p) for p in patterns)]
    if not chosen:
        raise UsageError(f"--cases {','.join(patterns)} matches no case (cases: {', '.join(c.name for c in CASES)})")
    return chosen


def parse_devices(text: str) -> list[str]:
    devices = [d.strip().upper() for d in text.split(",") if d.strip()]
    unknown = [d for d in devices if d not in DEVICES]
    if unknown or not devices:
        raise UsageError(f"--devices {text!r}: each must be one of {', '.join(DEVICES)}")
    return list(dict.fromkeys(devices))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.emu_compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", default="CUDA,CUDA_EMU", help="comma separated (default: %(default)s)")
    parser.add_argument("--cases", action="append", default=[], metavar="GLOBS", help="case names or globs")
    parser.add_argument("--out", default=None, help="folder for emu-vs-gpu.json, .md and -outputs.npz")
    parser.add_argument("--against", default=None, help="outputs saved by another run (emu-vs-gpu-outputs.npz)")
    parser.add_argument("--require-all", action="store_true", help="an unusable device is a failure")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    args = parser.parse_args(argv)
    try:
        cases = select([p for text in args.cases for p in text.split(",") if p])
        devices = parse_devices(args.devices)
        out = Path(args.out) if args.out else None
        if out is not None and out.exists() and not out.is_dir():
            raise UsageError(f"--out {out}: not a folder")
        against = load_against(Path(args.against)) if args.against else None
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.list:
        for case in cases:
            print(f"{case.name:24} {case.kernel_kind:18} {case.op} {case.shapes} {case.layout}")
        return 0
    outcome = run(cases, devices, against, args.require_all)
    if against is not None:
        outcome.report["against"] = args.against
    if out is not None:
        for path in write(outcome, out):
            print(f"wrote {path}", file=sys.stderr)
    print(render_markdown(outcome.report), end="")
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
