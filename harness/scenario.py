"""Scenario files: declarative TOML -> validated, immutable `Scenario`s and the lab's settings.

A scenario file has three kinds of table (see scenarios/five.toml for a commented example):

    [lab]            which engines run, which one is the subject (tgrad) and the upstream reference
    [defaults]       values every [[scenario]] inherits (dtype, device, layout, distribution, seed, budget)
    [quick]          budget overrides applied by `--quick`
    [[scenario]]     one benchmark: name, op, operand shapes, and any default it overrides

Errors name the file, the line and the field (`ScenarioError`). tomllib reports syntax errors with a
line; for a bad value the line is found by scanning the file's tables, since tomllib keeps no positions.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import tomllib
from pathlib import Path
from typing import Any

from harness.train_step import flops as train_step_flops

# Bumped when the meaning of a scenario field or the input generator changes, so results taken with an
# older definition get a different scenario version hash and are never compared with newer ones.
WORKLOAD_VERSION = 1

OPS = ("matmul", "linear_relu", "train_step")
MAX_ELEMENTS = 2**32  # per operand and output: 16 GiB of float32, past any machine the lab runs on
# the largest value a budget field may take (a week for times: larger is a typo, not a plan)
BUDGET_LIMITS = {
    "warmup": 100_000,
    "warmup_s": 3_600.0,
    "min_samples": 10_000_000,
    "max_samples": 10_000_000,
    "time_s": 604_800.0,
    "target_rel_ci": 1.0,
    "min_round_s": 3_600.0,
    "first_call_limit_s": 604_800.0,
    "search_limit_s": 604_800.0,
}
DTYPES = ("float32", "float16")
DTYPE_MAX = {"float32": 3.4028234663852886e38, "float16": 65504.0}
DRAW_MAX = 8.0  # |value| / scale of every distribution's draws stays below this (normal: ~6.5 sigma at 2^32 draws)
LAYOUTS = ("contiguous", "transposed_a", "transposed_b", "broadcast_b")
DISTRIBUTIONS = ("normal", "uniform", "ints", "ones")


class ScenarioError(ValueError):
    """A malformed scenario file: the message names the file, the line (when known) and the field."""

    def __init__(self, path: str, line: int | None, field: str | None, message: str):
        self.path, self.line, self.field, self.message = path, line, field, message
        where = f"{path}:{line}" if line is not None else path
        what = f" field '{field}'" if field else ""
        super().__init__(f"{where}:{what} {message}")


@dataclasses.dataclass(frozen=True)
class Budget:
    """How long a cell may run. Steady state stops when the median is tight or the time is spent."""

    warmup: int = 3  # calls after the first call and before timing
    warmup_s: float = 0.2  # then rounds of calls until this much warm-up time has passed (harness.timing)
    min_samples: int = 10  # never fewer steady-state samples than this
    max_samples: int = 1000
    time_s: float = 5.0  # steady-state time budget per cell
    target_rel_ci: float = 0.01  # stop early when the median's 95% CI half-width is below this
    min_round_s: float = 2e-4  # calls are batched into rounds at least this long (timer resolution)
    first_call_limit_s: float = 300.0  # first call (compile) longer than this: the cell is killed
    search_limit_s: float = 300.0  # the same limit for engines that search (BEAM)


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    op: str  # "matmul", "linear_relu" or "train_step" (harness.train_step)
    a: tuple[int, ...]  # logical shape of the left operand (..., M, K)
    b: tuple[int, ...]  # logical shape of the right operand (..., K, N)
    bias: tuple[int, ...] | None
    dtype: str
    device: str
    layout: str
    distribution: str
    scale: float
    seed: int
    budget: Budget
    source: str = ""  # file the scenario came from

    @property
    def out_shape(self) -> tuple[int, ...]:
        batch = _broadcast_batch(self.a[:-2], self.b[:-2])
        return (*batch, self.a[-2], self.b[-1])

    @property
    def flops(self) -> int:
        """2*M*N*K per output matrix (the bias add and relu are not counted); a train_step's matmuls."""
        m, k, n = self.a[-2], self.a[-1], self.b[-1]
        if self.op == "train_step":
            return train_step_flops(m, k, n)
        batch = math.prod(self.out_shape[:-2])
        return 2 * batch * m * n * k

    def definition(self) -> dict[str, Any]:
        """Everything that determines what is computed (not how long it is timed)."""
        return {
            "op": self.op,
            "a": list(self.a),
            "b": list(self.b),
            "bias": list(self.bias) if self.bias is not None else None,
            "dtype": self.dtype,
            "device": self.device,
            "layout": self.layout,
            "distribution": self.distribution,
            "scale": self.scale,
            "seed": self.seed,
            "workload_version": WORKLOAD_VERSION,
        }

    @property
    def version(self) -> str:
        """A hash of the definition: results with different versions are not comparable."""
        text = json.dumps(self.definition(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            **self.definition(),
            "budget": dataclasses.asdict(self.budget),
            "version": self.version,
            "flops": self.flops,
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Scenario:
        return Scenario(
            name=d["name"],
            title=d.get("title", ""),
            op=d["op"],
            a=tuple(d["a"]),
            b=tuple(d["b"]),
            bias=tuple(d["bias"]) if d.get("bias") is not None else None,
            dtype=d["dtype"],
            device=d["device"],
            layout=d["layout"],
            distribution=d["distribution"],
            scale=float(d["scale"]),
            seed=int(d["seed"]),
            budget=Budget(**d["budget"]),
        )


@dataclasses.dataclass(frozen=True)
class LabConfig:
    engines: tuple[str, ...]
    subject: str  # the engine whose speedup is reported (tgrad)
    subject_single_thread: str | None  # tgrad restricted to one thread
    reference: str | None  # upstream engine every output is also compared with
    quick: dict[str, Any]  # budget overrides for --quick
    table: str = "latest"  # results/<table>.md and .csv (`-quick` appended for --quick runs)


@dataclasses.dataclass(frozen=True)
class ScenarioFile:
    path: str
    sha256: str
    lab: LabConfig
    scenarios: tuple[Scenario, ...]


def _broadcast_batch(x: tuple[int, ...], y: tuple[int, ...]) -> tuple[int, ...]:
    """numpy broadcasting of batch dimensions; raises ValueError when they do not broadcast."""
    n = max(len(x), len(y))
    xs = (1,) * (n - len(x)) + tuple(x)
    ys = (1,) * (n - len(y)) + tuple(y)
    out = []
    for p, q in zip(xs, ys, strict=True):
        if p != q and 1 not in (p, q):
            raise ValueError(f"batch dimensions {x} and {y} do not broadcast")
        out.append(max(p, q))
    return tuple(out)


# ------------------------------------------------------------------------------------------ line lookup
_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\" ]+?)\s*\]\]?\s*(#.*)?$")


def _locate(text: str, table: str, index: int | None, key: str | None) -> int | None:
    """1-based line of `key` inside table `table` (the index-th one for an array of tables).

    Falls back to the table's header line, or None when the table is not in the file.
    """
    header_line: int | None = None
    current: str | None = None
    seen = -1
    for number, raw in enumerate(text.splitlines(), start=1):
        match = _HEADER.match(raw)
        if match:
            current = match.group(2).replace('"', "").strip()
            if current == table:
                seen += 1
                if index is None or seen == index:
                    header_line = number
            continue
        inside = current == table and (index is None or seen == index)
        if inside and key is not None and re.match(rf"^\s*{re.escape(key)}\s*=", raw):
            return number
    return header_line


# ------------------------------------------------------------------------------------------ validation
_SCENARIO_KEYS = {"name", "title", "op", "a", "b", "bias", "dtype", "device", "layout", "distribution", "scale"}
_SCENARIO_KEYS |= {"seed", "budget"}
_DEFAULT_KEYS = _SCENARIO_KEYS - {"name", "title", "op", "a", "b", "bias"}
_LAB_KEYS = {"engines", "subject", "subject_single_thread", "reference", "table"}
_TABLE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_TOP_KEYS = {"lab", "defaults", "quick", "scenario"}
_BUDGET_FIELDS = {f.name: f.type for f in dataclasses.fields(Budget)}


class _Checker:
    """Validation helpers that raise ScenarioError with the right file and line."""

    def __init__(self, path: str, text: str):
        self.path, self.text = path, text

    def fail(self, table: str, index: int | None, key: str | None, message: str) -> ScenarioError:
        line = _locate(self.text, table, index, key)
        return ScenarioError(self.path, line, key, message)

    def keys(self, table: str, index: int | None, got: dict[str, Any], allowed: set[str]) -> None:
        for key in got:
            if key not in allowed:
                known = ", ".join(sorted(allowed))
                raise self.fail(table, index, key, f"unknown field in [{table}] (known: {known})")

    def choice(self, table: str, index: int | None, key: str, value: Any, options: tuple[str, ...]) -> str:
        if value not in options:
            raise self.fail(table, index, key, f"must be one of {', '.join(options)}; got {value!r}")
        return str(value)

    def shape(self, table: str, index: int | None, key: str, value: Any, ndim: tuple[int, int]) -> tuple[int, ...]:
        ok = isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        if not ok or not ndim[0] <= len(value) <= ndim[1] or any(v <= 0 for v in value):
            raise self.fail(
                table, index, key, f"must be a list of {ndim[0]}-{ndim[1]} positive integers; got {value!r}"
            )
        return tuple(value)

    def budget(self, table: str, index: int | None, value: Any, inline_key: str | None) -> dict[str, Any]:
        """Validate a budget table. `inline_key` is the key holding it inline (scenario's `budget = {...}`)."""

        def fail(key: str, message: str) -> ScenarioError:
            line = _locate(self.text, table, index, inline_key or key)
            return ScenarioError(self.path, line, f"budget.{key}", message)

        if not isinstance(value, dict):
            raise self.fail(table, index, inline_key or "budget", f"must be a table; got {value!r}")
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key not in _BUDGET_FIELDS:
                raise fail(key, f"unknown budget field (known: {', '.join(_BUDGET_FIELDS)})")
            is_number = isinstance(item, int | float) and not isinstance(item, bool)
            if not is_number or (_BUDGET_FIELDS[key] == "int" and not isinstance(item, int)):
                raise fail(key, f"must be a non-negative {_BUDGET_FIELDS[key]}; got {item!r}")
            if not math.isfinite(item):
                raise fail(key, f"must be a finite number; got {item!r}")
            if not 0 <= item <= BUDGET_LIMITS[key]:
                raise fail(key, f"must be between 0 and {BUDGET_LIMITS[key]:g}; got {item!r}")
            out[key] = item
        return out


def load(path: str | Path, *, quick: bool = False) -> ScenarioFile:
    """Read and validate a scenario file. Raises ScenarioError on any problem."""
    path = Path(path)
    try:
        raw_bytes = path.read_bytes()
    except OSError as e:
        raise ScenarioError(str(path), None, None, f"cannot read: {e.strerror}") from e
    text = raw_bytes.decode("utf-8", errors="replace")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        match = re.search(r"\(at line (\d+), column \d+\)", str(e))
        line = int(match.group(1)) if match else None
        raise ScenarioError(str(path), line, None, f"TOML syntax error: {e}") from e
    return parse(doc, str(path), text, raw_bytes, quick=quick)


def parse(doc: dict[str, Any], path: str, text: str, raw_bytes: bytes, *, quick: bool) -> ScenarioFile:
    check = _Checker(path, text)
    for key in doc:
        if key not in _TOP_KEYS:
            line = _locate(text, key, None, None) or _first_line_of_key(text, key)
            raise ScenarioError(path, line, key, f"unknown top-level table (known: {', '.join(sorted(_TOP_KEYS))})")
    lab_raw = doc.get("lab", {})
    check.keys("lab", None, lab_raw, _LAB_KEYS)
    engines = lab_raw.get("engines")
    if not isinstance(engines, list) or not engines or not all(isinstance(e, str) for e in engines):
        raise check.fail("lab", None, "engines", "must be a non-empty list of engine names")
    subject = lab_raw.get("subject", "tgrad")
    if subject not in engines:
        raise check.fail("lab", None, "subject", f"{subject!r} is not in engines")
    single = lab_raw.get("subject_single_thread")
    reference = lab_raw.get("reference")
    for key, name in (("subject_single_thread", single), ("reference", reference)):
        if name is not None and name not in engines:
            raise check.fail("lab", None, key, f"{name!r} is not in engines")

    table = lab_raw.get("table", "latest")
    if not isinstance(table, str) or not _TABLE_NAME.fullmatch(table):
        raise check.fail("lab", None, "table", "must be a file stem of letters, digits, '-' and '_'")

    quick_raw = check.budget("quick", None, doc.get("quick", {}), None)
    defaults = doc.get("defaults", {})
    check.keys("defaults", None, defaults, _DEFAULT_KEYS)
    default_budget = check.budget("defaults.budget", None, defaults.get("budget", {}), None)

    entries = doc.get("scenario")
    if not isinstance(entries, list) or not entries:
        raise ScenarioError(path, None, "scenario", "the file declares no [[scenario]] tables")
    scenarios: list[Scenario] = []
    for index, entry in enumerate(entries):
        scenarios.append(_scenario(check, index, entry, defaults, default_budget, quick_raw if quick else {}))
    names = [s.name for s in scenarios]
    for index, name in enumerate(names):
        if names.index(name) != index:
            raise check.fail("scenario", index, "name", f"duplicate scenario name {name!r}")
    lab = LabConfig(tuple(engines), subject, single, reference, quick_raw, table)
    sha = hashlib.sha256(raw_bytes).hexdigest()
    return ScenarioFile(path, sha, lab, tuple(scenarios))


def _first_line_of_key(text: str, key: str) -> int | None:
    for number, raw in enumerate(text.splitlines(), start=1):
        if re.match(rf"^\s*{re.escape(key)}\s*=", raw):
            return number
    return None


def _scenario(
    check: _Checker,
    index: int,
    entry: dict[str, Any],
    defaults: dict[str, Any],
    default_budget: dict[str, Any],
    quick: dict[str, Any],
) -> Scenario:
    t = "scenario"
    check.keys(t, index, entry, _SCENARIO_KEYS)
    merged = {**defaults, **entry}

    def at(key: str) -> tuple[str, int | None]:
        """Where a value came from: this scenario's table, or [defaults] when inherited."""
        return (t, index) if key in entry or key not in defaults else ("defaults", None)

    for key in ("name", "op", "a", "b"):
        if key not in merged:
            raise check.fail(t, index, None, f"scenario #{index + 1} is missing required field '{key}'")
    name = merged["name"]
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
        raise check.fail(t, index, "name", f"must be a word of letters, digits, '_', '-', '.'; got {name!r}")
    op = check.choice(*at("op"), "op", merged["op"], OPS)
    a = check.shape(*at("a"), "a", merged["a"], (2, 4))
    b = check.shape(*at("b"), "b", merged["b"], (2, 4))
    if a[-1] != b[-2]:
        raise check.fail(t, index, "b", f"reduction lengths differ: a is {list(a)} (K={a[-1]}), b is {list(b)}")
    try:
        batch = _broadcast_batch(a[:-2], b[:-2])
    except ValueError as e:
        raise check.fail(t, index, "b", str(e)) from e
    for key, shape in (("a", a), ("b", b), ("b", (*batch, a[-2], b[-1]))):
        if math.prod(shape) > MAX_ELEMENTS:
            what = "the output" if shape is not a and shape is not b else f"{key} {list(shape)}"
            raise check.fail(
                *at(key), key, f"{what} has {math.prod(shape):.3g} elements; at most 2^32 (a typo in a shape?)"
            )
    bias: tuple[int, ...] | None = None
    if op in ("linear_relu", "train_step"):
        if "bias" not in merged:
            raise check.fail(t, index, None, f"op '{op}' needs a 'bias' shape")
        bias = check.shape(*at("bias"), "bias", merged["bias"], (1, 1))
        if bias[0] != b[-1]:
            raise check.fail(t, index, "bias", f"length {bias[0]} does not match N={b[-1]}")
    elif "bias" in merged:
        raise check.fail(t, index, "bias", "only ops 'linear_relu' and 'train_step' take a bias")
    if op == "train_step" and (len(a) != 2 or len(b) != 2):
        raise check.fail(t, index, "a", "op 'train_step' takes a 2-D a (batch x inputs) and b (inputs x hidden)")
    layout = check.choice(*at("layout"), "layout", merged.get("layout", "contiguous"), LAYOUTS)
    if op == "train_step" and layout != "contiguous":
        raise check.fail(*at("layout"), "layout", "op 'train_step' takes the contiguous layout only")
    if layout == "broadcast_b" and (len(a) < 3 or len(b) != 2):
        raise check.fail(*at("layout"), "layout", "broadcast_b needs a batched a (3-4 dims) and a 2-D b")
    seed = merged.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise check.fail(*at("seed"), "seed", f"must be a non-negative integer; got {seed!r}")
    scale = merged.get("scale", 1.0)
    if not isinstance(scale, int | float) or isinstance(scale, bool) or not 0 < scale < math.inf:
        raise check.fail(*at("scale"), "scale", f"must be a positive finite number; got {scale!r}")
    device = merged.get("device", "CPU")
    if not isinstance(device, str) or not device:
        raise check.fail(*at("device"), "device", f"must be a device name such as 'CPU'; got {device!r}")
    dtype = check.choice(*at("dtype"), "dtype", merged.get("dtype", "float32"), DTYPES)
    if scale * DRAW_MAX > DTYPE_MAX[dtype]:
        raise check.fail(*at("scale"), "scale", f"{scale!r} would overflow {dtype} inputs (max {DTYPE_MAX[dtype]:g})")
    own_budget = check.budget(t, index, entry.get("budget", {}), "budget")
    budget = Budget(**{**default_budget, **quick, **own_budget})  # a scenario's own budget wins
    if budget.min_samples < 1 or budget.max_samples < budget.min_samples:
        raise check.fail(t, index, "budget", "need 1 <= min_samples <= max_samples")
    return Scenario(
        name=name,
        title=str(merged.get("title", "")),
        op=op,
        a=a,
        b=b,
        bias=bias,
        dtype=dtype,
        device=device,
        layout=layout,
        distribution=check.choice(
            *at("distribution"), "distribution", merged.get("distribution", "normal"), DISTRIBUTIONS
        ),
        scale=float(scale),
        seed=seed,
        budget=budget,
        source=check.path,
    )
