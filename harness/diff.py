"""Property-based differential campaign: tinygrad and tgrad on the same generated inputs (hypothesis).

A case is a small record (shapes, batch broadcasting, layout, dtype, a value regime, a seed) from which
the operands are generated deterministically, so a failing case shrinks to a short, readable
reproducer. Both libraries run in this process through their (identical) Python API.

The property: tgrad's output has tinygrad's shape and dtype, and wherever upstream tinygrad agrees
with the float64 oracle (within the error bound, NaN/Inf where the correctly rounded oracle has them),
tgrad agrees too. Cases where tinygrad itself leaves the bound (float16 products rounded before
accumulation, say) are counted, not failed: the rewrite is held to upstream's standard, not beyond it.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import time
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.agreement import Agreement, compare, difference, matmul_error_bound
from harness.engines.base import Unavailable
from harness.engines.tensor_api import import_tensor_library
from harness.store import atomic_write_text

if TYPE_CHECKING:  # hypothesis is imported lazily (the campaign only)
    from hypothesis.strategies import DrawFn, SearchStrategy

LAYOUTS = ("contiguous", "transposed_a", "transposed_b")
VALUE_REGIMES = ("normal", "zeros", "huge", "tiny", "mixed", "special")
BATCHING = ("none", "same", "broadcast_a", "broadcast_b", "outer")
AWKWARD_DIMS = (1, 2, 3, 5, 7, 8, 13, 16, 17, 31, 32, 33, 63, 64, 65, 97, 127, 128, 129)
MAX_FLOPS = 8_000_000  # 2*M*N*K*batch per case: keeps each case well under a second
# magnitudes chosen so products neither overflow nor stay normal: float32 1e17^2 = 1e34, 1e-20^2 underflows
MAGNITUDES = {
    "float32": {"huge": 1e17, "tiny": 1e-20, "decades": 15.0},
    "float16": {"huge": 16.0, "tiny": 2.0**-8, "decades": 3.0},
}


class EngineMissing(RuntimeError):
    """tinygrad or tgrad cannot be imported with the API the campaign needs."""


@dataclasses.dataclass(frozen=True)
class Case:
    m: int
    k: int
    n: int
    batch_a: tuple[int, ...] = ()
    batch_b: tuple[int, ...] = ()
    layout: str = "contiguous"
    dtype: str = "float32"
    values: str = "normal"
    seed: int = 0

    @property
    def flops(self) -> int:
        batch = int(np.prod(np.broadcast_shapes(self.batch_a, self.batch_b), dtype=np.int64))
        return 2 * self.m * self.n * self.k * batch

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def __repr__(self) -> str:
        fields = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self))
        return f"Case({fields})"


def _values(rng: np.random.Generator, shape: tuple[int, ...], case: Case) -> np.ndarray:
    scales = MAGNITUDES[case.dtype]
    x = rng.standard_normal(shape)
    if case.values == "zeros":
        x = x * (rng.random(shape) < 0.5)
    elif case.values == "huge":
        x = x * scales["huge"]
    elif case.values == "tiny":
        x = x * scales["tiny"]
    elif case.values == "mixed":
        decades = scales["decades"]
        x = x * 10.0 ** rng.uniform(-decades, decades, shape)
    elif case.values == "special":
        flat = x.reshape(-1)
        count = min(flat.size, int(rng.integers(1, 4)))
        positions = rng.choice(flat.size, size=count, replace=False)
        flat[positions] = rng.choice(np.array([np.inf, -np.inf, np.nan]), size=count)
    return x.astype(case.dtype)


def make_operands(case: Case) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) as stored: a transposed layout stores the operand's contiguous transpose."""
    rng = np.random.default_rng(case.seed)
    a = _values(rng, (*case.batch_a, case.m, case.k), case)
    b = _values(rng, (*case.batch_b, case.k, case.n), case)
    if case.layout == "transposed_a":
        a = np.ascontiguousarray(np.swapaxes(a, -1, -2))
    if case.layout == "transposed_b":
        b = np.ascontiguousarray(np.swapaxes(b, -1, -2))
    return a, b


def logical(case: Case, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    left = np.swapaxes(a, -1, -2) if case.layout == "transposed_a" else a
    right = np.swapaxes(b, -1, -2) if case.layout == "transposed_b" else b
    return left, right


def run_library(module: ModuleType, case: Case, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """`a @ b` through a library with tinygrad's API, transposing views as the layout says."""
    left = module.Tensor(a, device="CPU")
    right = module.Tensor(b, device="CPU")
    if case.layout == "transposed_a":
        left = left.transpose(-1, -2)
    if case.layout == "transposed_b":
        right = right.transpose(-1, -2)
    return np.asarray((left @ right).realize().numpy())


@dataclasses.dataclass(frozen=True)
class CaseResult:
    case: Case
    ok: bool
    tinygrad_ok: bool | None  # None: tinygrad raised
    message: str
    tinygrad: dict[str, Any] | None
    tgrad: dict[str, Any] | None
    between: dict[str, Any] | None  # tgrad vs tinygrad


def _judge(out: np.ndarray, oracle: np.ndarray, bound: np.ndarray) -> Agreement:
    return compare(out, oracle, bound)


def check(case: Case, tinygrad: ModuleType | None = None, tgrad: ModuleType | None = None) -> CaseResult:
    """Run one case through both libraries and judge tgrad (data; raises nothing for a mismatch)."""
    tinygrad = tinygrad or load("tinygrad")
    tgrad = tgrad or load("tgrad")
    a, b = make_operands(case)
    left, right = logical(case, a, b)
    with np.errstate(all="ignore"):
        oracle = left.astype(np.float64) @ right.astype(np.float64)
        bound = matmul_error_bound(left, right, out_dtype=case.dtype)
    try:
        out_tinygrad = run_library(tinygrad, case, a, b)
    except Exception as e:
        message = f"tinygrad raised {type(e).__name__}: {e} (case not judged)"
        return CaseResult(case, True, None, message, None, None, None)
    tinygrad_agreement = _judge(out_tinygrad, oracle, bound)
    try:
        out_tgrad = run_library(tgrad, case, a, b)
    except Exception as e:
        message = f"tgrad raised {type(e).__name__}: {e}"
        return CaseResult(case, False, tinygrad_agreement.ok, message, tinygrad_agreement.as_dict(), None, None)
    if out_tgrad.shape != out_tinygrad.shape or out_tgrad.dtype != out_tinygrad.dtype:
        message = (
            f"tgrad returned {out_tgrad.dtype}{list(out_tgrad.shape)}, "
            f"tinygrad {out_tinygrad.dtype}{list(out_tinygrad.shape)}"
        )
        return CaseResult(case, False, tinygrad_agreement.ok, message, tinygrad_agreement.as_dict(), None, None)
    tgrad_agreement = _judge(out_tgrad, oracle, bound)
    between = difference(out_tgrad, out_tinygrad).as_dict()
    ok = tgrad_agreement.ok or not tinygrad_agreement.ok
    if ok:
        message = "agree" if tgrad_agreement.ok else "both outside the bound (tinygrad too): not a tgrad failure"
    else:
        message = (
            f"tgrad leaves the bound where tinygrad does not: tgrad error {tgrad_agreement.max_ratio:.3g}x the bound, "
            f"{tgrad_agreement.nonfinite_mismatches} NaN/Inf mismatches; tinygrad {tinygrad_agreement.max_ratio:.3g}x"
        )
    return CaseResult(
        case, ok, tinygrad_agreement.ok, message, tinygrad_agreement.as_dict(), tgrad_agreement.as_dict(), between
    )


_LOADED: dict[str, ModuleType] = {}


def load(module_name: str) -> ModuleType:
    if module_name not in _LOADED:
        try:
            _LOADED[module_name] = import_tensor_library(module_name)[0]
        except Unavailable as e:
            raise EngineMissing(f"the differential campaign needs {module_name}: {e}") from e
    return _LOADED[module_name]


def cases() -> SearchStrategy[Case]:
    """The hypothesis strategy of cases (built lazily so importing this module does not need hypothesis)."""
    from hypothesis import strategies as st

    dims = st.one_of(st.sampled_from(AWKWARD_DIMS), st.integers(1, 160))

    @st.composite
    def strategy(draw: DrawFn) -> Case:
        m, k, n = draw(dims), draw(dims), draw(dims)
        batching = draw(st.sampled_from(BATCHING))
        p, q = draw(st.integers(1, 4)), draw(st.integers(1, 4))
        batch_a, batch_b = {
            "none": ((), ()),
            "same": ((p,), (p,)),
            "broadcast_a": ((), (p,)),
            "broadcast_b": ((p,), ()),
            "outer": ((p, 1), (1, q)),
        }[batching]
        return Case(
            m=m,
            k=k,
            n=n,
            batch_a=batch_a,
            batch_b=batch_b,
            layout=draw(st.sampled_from(LAYOUTS)),
            dtype=draw(st.sampled_from(("float32", "float16"))),
            values=draw(st.sampled_from(VALUE_REGIMES)),
            seed=draw(st.integers(0, 2**16)),
        )

    return strategy().filter(lambda case: case.flops <= MAX_FLOPS)


@dataclasses.dataclass(frozen=True)
class Failure:
    result: CaseResult
    reproducer: str
    saved_to: Path | None


@dataclasses.dataclass(frozen=True)
class Outcome:
    examples: int  # cases judged
    tinygrad_outside_bound: int  # cases where upstream itself left the bound
    tinygrad_errors: int
    seconds: float
    budget_exhausted: bool
    seed: int
    subject: str
    reference: str
    failure: Failure | None


def reproducer(case: Case) -> str:
    return (
        "# differential failure tinygrad vs tgrad, found by `python -m harness diff`; run from the repo root:\n"
        f'python -c "from harness.diff import Case, check; r = check({case!r}); print(r.ok, r.message)"\n'
    )


def _save(result: CaseResult, text: str, results: Path) -> Path:
    folder = results / "diff"
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"{stamp}-failure.json"
    record = {
        "case": result.case.as_dict(),
        "message": result.message,
        "tinygrad": result.tinygrad,
        "tgrad": result.tgrad,
        "between": result.between,
        "reproducer": text,
    }
    atomic_write_text(path, json.dumps(record, indent=1, default=str) + "\n")
    return path


def campaign(
    *,
    examples: int = 200,
    seconds: float = 120.0,
    seed: int = 0,
    results: Path | None = None,
    database: bool = True,
    subject: str = "tgrad",
    reference: str = "tinygrad",
) -> Outcome:
    """Run the campaign; a failing case is shrunk by hypothesis, saved under results/diff/ and returned."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis.database import DirectoryBasedExampleDatabase

    tinygrad, tgrad = load(reference), load(subject)
    started = time.monotonic()
    counts = {"examples": 0, "outside": 0, "errors": 0}
    last_failure: list[CaseResult] = []
    exhausted = [False]

    @hypothesis_seed(seed)
    @settings(
        max_examples=examples,
        deadline=None,
        database=DirectoryBasedExampleDatabase(".hypothesis/harness-diff") if database else None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
        print_blob=False,
    )
    @given(case=cases())
    def property_(case: Case) -> None:
        if time.monotonic() - started > seconds:
            exhausted[0] = True
            return  # out of budget: the remaining generated cases pass untested
        result = check(case, tinygrad, tgrad)
        counts["examples"] += 1
        counts["outside"] += result.tinygrad_ok is False
        counts["errors"] += result.tinygrad_ok is None
        if not result.ok:
            last_failure[:] = [result]
            raise AssertionError(result.message)

    failure: Failure | None = None
    try:
        property_()
    except AssertionError:
        if not last_failure:
            raise
        result = last_failure[0]  # hypothesis replays the shrunk case last
        text = reproducer(result.case)
        saved = _save(result, text, results) if results is not None else None
        failure = Failure(result, text, saved)
    return Outcome(
        examples=counts["examples"],
        tinygrad_outside_bound=counts["outside"],
        tinygrad_errors=counts["errors"],
        seconds=time.monotonic() - started,
        budget_exhausted=exhausted[0],
        seed=seed,
        subject=subject,
        reference=reference,
        failure=failure,
    )


def describe(outcome: Outcome) -> str:
    lines = [
        f"differential campaign {outcome.reference} vs {outcome.subject} (seed {outcome.seed}): "
        f"{outcome.examples} cases judged "
        f"in {outcome.seconds:.1f} s" + (" (time budget reached)" if outcome.budget_exhausted else ""),
        f"  {outcome.reference} itself outside the bound in {outcome.tinygrad_outside_bound} cases; "
        f"{outcome.reference} raised in {outcome.tinygrad_errors}",
    ]
    if outcome.failure is None:
        lines.append("  no difference found")
        return "\n".join(lines)
    result = outcome.failure.result
    lines += [
        f"  FAILED (shrunk): {result.case!r}",
        f"  {result.message}",
    ]
    if outcome.failure.saved_to is not None:
        lines.append(f"  saved to {outcome.failure.saved_to}")
    lines += ["", outcome.failure.reproducer]
    return "\n".join(lines)
