"""The run record, typed: what a run file holds (results/README.md), as TypedDicts that mypy checks the
lab's code against, and the schema every run record from outside is validated against (`validate_run`).

The module has no `from __future__ import annotations`, so the TypedDicts know their required keys
at run time. One declaration serves both: `validate` walks the type hints of the TypedDicts at run time (strings,
numbers, lists, dicts, unions, literals, nested TypedDicts), so a field added here is at once typed and
validated. Numbers are refused when NaN or infinite unless their annotation allows infinity
(`Bounds(inf_ok=True)`: an error / bound ratio whose bound is zero), and `Bounds` and `Pattern` in an
`Annotated[...]` add ranges and formats. TypedDicts are closed: an unknown field is an error (a typo, or
a file of a newer schema). Problems are reported as `SchemaError(source, field, problem)`, the field
as a path (`cells[3].samples[7]`).
"""

import dataclasses
import datetime
import functools
import math
import re
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any, Literal, NotRequired, Required, TypedDict

SCHEMA_VERSION: Literal[1] = 1
KIND = "tgrad-lab-run"
MAX_DIM = 2**31  # one dimension of an operand
STATUSES = ("ok", "unavailable", "unsupported", "skipped", "search-timeout", "timeout", "error")


@dataclasses.dataclass(frozen=True)
class Bounds:
    """A number's range: low <= x (or low < x with `open_low`), x <= high; inf allowed with inf_ok."""

    low: float | None = None
    high: float | None = None
    open_low: bool = False
    inf_ok: bool = False


@dataclasses.dataclass(frozen=True)
class Pattern:
    """A string's format: a regular expression it must match in full, and what it means."""

    regex: str
    meaning: str


class IsoTime:
    """A string holding an ISO 8601 date and time."""


# run ids, scenario and engine names: no path separators or spaces (run ids name files)
NAME = r"[A-Za-z0-9][A-Za-z0-9_.:+\[\]\-]{0,199}"
Name = Annotated[str, Pattern(NAME, "a name of letters, digits and _ . : + [ ] -")]
Seconds = Annotated[float, Bounds(low=0.0)]
Sample = Annotated[float, Bounds(low=0.0, open_low=True)]  # a per-call time: positive and finite
Count = Annotated[int, Bounds(low=0)]
Dim = Annotated[int, Bounds(low=1, high=MAX_DIM)]
Ratio = Annotated[float, Bounds(low=0.0, inf_ok=True)]
Timestamp = Annotated[str, IsoTime()]
Status = Literal["ok", "unavailable", "unsupported", "skipped", "search-timeout", "timeout", "error"]
Threads = Literal["one", "all"]  # the CPU threads an engine computes on: one, or one per usable core


class OracleRecord(TypedDict):
    max_abs: Annotated[float, Bounds(low=0.0)]
    max_rel: Ratio
    max_ulp: Count
    max_ratio: Ratio  # max |out - oracle| / bound with gamma_K; <= 1 passes
    nonfinite_mismatches: Count
    ok: bool  # within every bound judged
    depth: NotRequired[Annotated[int, Bounds(low=1)]]  # the plan's rounding depth D, where it states one
    max_ratio_d: NotRequired[Ratio]  # max |out - oracle| / bound with gamma_D


class ExactRecord(TypedDict):
    samples: Count  # sampled outputs checked against their exact dot products (harness/exact.py)
    max_ratio: Ratio  # max |out - exact| / bound (gamma_D where the plan states its depth, else gamma_K)
    bound: Literal["D", "K"]
    integer_exact: Count  # samples whose every summation order is exact
    mismatches: Count  # of those, outputs that differ from the exact sum
    ok: bool


class ReferenceRecord(TypedDict):
    engine: str | None
    max_abs: Annotated[float, Bounds(low=0.0)]
    max_ulp: Count
    nonfinite_mismatches: Count
    identical: bool


class AgreementRecord(TypedDict):
    dtype: str
    shape: list[Count]
    oracle: OracleRecord | None
    reference: NotRequired[ReferenceRecord]
    exact: NotRequired[ExactRecord]
    error: NotRequired[str]


class KernelFactRecord(TypedDict):
    name: str
    certified: bool
    status: str  # the certificate's verdict or why there is none
    depth: Annotated[int, Bounds(low=1)] | None  # rounding depth (None: a loop kernel or a GPU kernel)


class FactsRecord(TypedDict):
    """What an engine states about the kernels of a cell (tgrad's plan_report); absent for other engines."""

    certified: str  # "yes" (every kernel certified) or "no: " and why
    kernels: list[KernelFactRecord]
    rounding_depth: Annotated[int, Bounds(low=1)] | None  # the largest depth over the kernels


class CellRecord(TypedDict, total=False):
    scenario: Required[Name]
    engine: Required[Name]
    spec: str
    family: str | None
    round: Count
    status: Required[Status]
    reason: str
    # what stood in for the GPU (an emulator, OpenCL on the CPU); absent for an engine timing a real device
    emulated: str
    env: dict[str, str]
    info: dict[str, Any] | None  # what the engine reported when loaded (version, build_info, ...)
    import_s: Seconds
    first_call_s: Seconds
    search_s: Seconds
    warmup: list[Seconds]
    samples: list[Sample]
    inner: Annotated[int, Bounds(low=1)]
    stop_reason: str
    self_timed: bool
    wall_s: Seconds
    agreement: AgreementRecord
    facts: FactsRecord
    traceback: str
    log_tail: str
    output: str  # the worker's output file, until agreement is judged
    pytest_benchmark_stats: dict[str, Any]


class PooledCell(CellRecord, total=False):
    """One (scenario, engine) of a run with the samples of all its rounds pooled (compare.pool) and the
    agreement of each round; never stored."""

    agreements: list[AgreementRecord]
    rounds: list[list[float]]  # each round's samples (rounds with samples only), in round order
    first_calls: list[float]  # each ok round's first call, in round order


class BudgetRecord(TypedDict, total=False):
    warmup: Count
    warmup_s: Seconds
    min_samples: Count
    max_samples: Count
    time_s: Seconds
    target_rel_ci: Annotated[float, Bounds(low=0.0)]
    min_round_s: Seconds
    first_call_limit_s: Seconds
    search_limit_s: Seconds


class ScenarioRecord(TypedDict, total=False):
    name: Required[Name]
    title: str
    op: str
    a: list[Dim]
    b: list[Dim]
    bias: list[Dim] | None
    dtype: str
    device: str
    layout: str
    distribution: str
    scale: Annotated[float, Bounds(low=0.0, open_low=True)]
    seed: Count
    workload_version: int
    budget: BudgetRecord
    version: Required[str | None]  # hash of the definition; None for imported pytest-benchmark scenarios
    flops: Annotated[float, Bounds(low=0.0)] | None


class GitRecord(TypedDict):
    commit: str | None
    dirty: bool | None


class FingerprintRecord(TypedDict, total=False):
    cpu: str | None
    cpu_flags: list[str]
    cpu_count: Count | None
    cores_usable: Count | None
    os: str
    python: str | None
    python_executable: str
    packages: dict[str, str | None]
    git: GitRecord
    blas: Any  # threadpoolctl's report, or why it is unavailable
    compiler: str | None
    environment: dict[str, str]
    gpu: str | None
    source: str


class LabRecord(TypedDict, total=False):
    engines: Required[list[Name]]
    subject: str | None
    subject_single_thread: str | None
    reference: str | None
    descriptions: dict[str, str]
    # the CPU threads each engine computes on, where the engine states it (Engine.threads): "one" or "all"
    threads: dict[str, Threads]


Positive = Annotated[float, Bounds(low=0.0, open_low=True)]


class CeilingRecord(TypedDict, total=False):
    """The machine's measured ceilings a run's table reads its cells against (harness/ceiling.py)."""

    # history: the history's latest peak for the machine; measured: at the start of the run; none: neither
    source: Required[Literal["history", "measured", "none"]]
    reason: str  # why there is none
    measured: Timestamp  # when the peak was measured
    cpu: str
    threads: Annotated[int, Bounds(low=1)]  # threads of the all-threads measurements
    gflops_one_thread: Positive  # FP32 peak (harness/probes/peak.c)
    gflops_all_threads: Positive
    gbps_one_thread: Positive  # streaming-read bandwidth (harness/probes/bandwidth.c); absent: not measured
    gbps_all_threads: Positive


class RoundCeilingRecord(TypedDict):
    """The ceilings measured just before one round of one CPU scenario (harness/ceiling.py): each cell of
    that round is read against them, so a slow spell of the host moves the cell and its ceiling together."""

    scenario: Name
    round: Count
    gflops_one_thread: Positive
    gflops_all_threads: Positive
    gbps_one_thread: Positive
    gbps_all_threads: Positive


class ScenarioFileRecord(TypedDict):
    path: str
    sha256: str


class RunRecord(TypedDict, total=False):
    schema_version: Required[Literal[1]]
    kind: Required[Literal["tgrad-lab-run"]]
    run_id: Required[Name]
    started: Required[Timestamp]
    finished: Timestamp
    host: str | None
    argv: list[str]
    profile: Required[Annotated[str, Pattern(r"[a-z][a-z0-9-]{0,39}", "a profile such as full or quick")]]
    scenario_file: ScenarioFileRecord
    lab: Required[LabRecord]
    options: dict[str, Any]
    fingerprint: Required[FingerprintRecord]
    scenarios: Required[list[ScenarioRecord]]
    cells: Required[list[CellRecord]]
    ceiling: CeilingRecord  # absent in runs recorded before the ceilings were
    round_ceilings: list[RoundCeilingRecord]  # absent in runs recorded before them, or run without them


class SchemaError(ValueError):
    """A record that does not match the schema: which source, which field, what is wrong."""

    def __init__(self, source: str, field: str, problem: str):
        self.source, self.field, self.problem = source, field, problem
        super().__init__(f"{source}: field '{field}': {problem}" if field else f"{source}: {problem}")


class _Problem(Exception):
    def __init__(self, field: str, problem: str):
        super().__init__(problem)
        self.field, self.problem = field, problem


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=True)


def _plain(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _number(value: Any, field: str, integer: bool, bounds: Bounds | None) -> None:
    if isinstance(value, bool) or not isinstance(value, int if integer else int | float):
        raise _Problem(field, f"must be {'an integer' if integer else 'a number'}; got {_shown(value)}")
    if isinstance(value, float) and math.isnan(value):
        raise _Problem(field, "must be a number, not NaN")
    if isinstance(value, float) and math.isinf(value) and not (bounds and bounds.inf_ok):
        raise _Problem(field, f"must be finite; got {value}")
    if bounds is None:
        return
    if bounds.low is not None and (value <= bounds.low if bounds.open_low else value < bounds.low):
        raise _Problem(
            field, f"must be {'above' if bounds.open_low else 'at least'} {_plain(bounds.low)}; got {value!r}"
        )
    if bounds.high is not None and value > bounds.high:
        raise _Problem(field, f"must be at most {_plain(bounds.high)}; got {value!r}")


def _typed_dict(value: Any, hint: Any, field: str) -> None:
    if not isinstance(value, dict):
        raise _Problem(field, f"must be an object; got {_shown(value)}")
    hints = _hints(hint)
    for key in sorted(hint.__required_keys__):
        if key not in value:
            raise _Problem(f"{field}.{key}" if field else key, "required, but missing")
    for key, item in value.items():
        where = f"{field}.{key}" if field else str(key)
        if key not in hints:
            raise _Problem(where, "unknown field")
        check(item, hints[key], where)


@functools.cache
def _number_test(hint: Any) -> Callable[[Any], bool] | None:
    """For a hint that is a plain or bounded float: a fast test that passes exactly the values `check`
    accepts (None for other hints)."""
    bounds = None
    if typing.get_origin(hint) is Annotated:
        hint, *metadata = typing.get_args(hint)
        bounds = next((m for m in metadata if isinstance(m, Bounds)), None)
    if hint is not float or (bounds is not None and (bounds.high is not None or bounds.inf_ok)):
        return None
    low = -math.inf if bounds is None or bounds.low is None else bounds.low
    if bounds is not None and bounds.open_low:
        return lambda v: type(v) is float and low < v < math.inf
    return lambda v: type(v) is float and low <= v < math.inf


def check(value: Any, hint: Any, field: str) -> None:
    """Raise _Problem when `value` does not match the type hint `hint`."""
    metadata: tuple[Any, ...] = ()
    while typing.get_origin(hint) in (Annotated, Required, NotRequired):
        if typing.get_origin(hint) is Annotated:
            metadata += tuple(typing.get_args(hint)[1:])
        hint = typing.get_args(hint)[0]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    bounds = next((m for m in metadata if isinstance(m, Bounds)), None)
    if hint is Any:
        return
    if hint is None or hint is type(None):
        if value is not None:
            raise _Problem(field, f"must be null; got {_shown(value)}")
    elif origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return
        problems = []
        for option in (a for a in args if a is not type(None)):
            try:
                check(value, option, field)
                return
            except _Problem as problem:
                problems.append(problem)
        raise problems[0]
    elif origin is Literal:
        if value not in args:
            raise _Problem(field, f"must be one of {', '.join(map(repr, args))}; got {_shown(value)}")
    elif hint is bool:
        if not isinstance(value, bool):
            raise _Problem(field, f"must be true or false; got {_shown(value)}")
    elif hint in (int, float):
        _number(value, field, hint is int, bounds)
    elif hint is str:
        if not isinstance(value, str):
            raise _Problem(field, f"must be a string; got {_shown(value)}")
    elif origin is list:
        if not isinstance(value, list):
            raise _Problem(field, f"must be a list; got {_shown(value)}")
        quick = _number_test(args[0])
        if quick is not None and all(map(quick, value)):
            return  # a long list of valid numbers (samples): checked without the walk below
        for index, item in enumerate(value):
            check(item, args[0], f"{field}[{index}]")
    elif origin is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise _Problem(field, f"must be an object; got {_shown(value)}")
        for key, item in value.items():
            check(item, args[1], f"{field}.{key}")
    elif typing.is_typeddict(hint):
        _typed_dict(value, hint, field)
    else:
        raise TypeError(f"no validation for {hint!r}")
    for meta in metadata:
        if isinstance(meta, Pattern) and not re.fullmatch(meta.regex, value):
            raise _Problem(field, f"must be {meta.meaning}; got {_shown(value)}")
        if isinstance(meta, IsoTime):
            try:
                datetime.datetime.fromisoformat(value)
            except ValueError:
                raise _Problem(field, f"must be an ISO 8601 time; got {_shown(value)}") from None


def validate(value: Any, hint: Any, source: str) -> None:
    """Raise SchemaError(source, field, problem) when `value` does not match `hint`."""
    try:
        check(value, hint, "")
    except _Problem as problem:
        raise SchemaError(source, problem.field, problem.problem) from None


def validate_run(data: Any, source: str) -> RunRecord:
    """`data` (a parsed run file or history record) as a RunRecord, or SchemaError. Besides the types:
    scenario names are unique and every cell belongs to one of the run's scenarios."""
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise SchemaError(source, "kind", f"not a lab run record (kind must be {KIND!r})")
    if data.get("schema_version") != SCHEMA_VERSION:
        found = data.get("schema_version")
        raise SchemaError(source, "schema_version", f"schema version {found!r}, this harness reads {SCHEMA_VERSION}")
    validate(data, RunRecord, source)
    record = typing.cast(RunRecord, data)
    names = [s["name"] for s in record["scenarios"]]
    for index, name in enumerate(names):
        if names.index(name) != index:
            raise SchemaError(source, f"scenarios[{index}].name", f"duplicate scenario name {name!r}")
    for index, cell in enumerate(record["cells"]):
        if cell["scenario"] not in names:
            raise SchemaError(source, f"cells[{index}].scenario", f"{cell['scenario']!r} is not one of the scenarios")
    return record
