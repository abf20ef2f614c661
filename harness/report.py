"""Formatting only: a compare.Table -> markdown (printed and results/latest.md) and CSV. No statistics here."""

from __future__ import annotations

import csv
import io

from harness.compare import Row, Table
from harness.stats import Interval

# rounds below which a table's CIs are marked rough: a percentile bootstrap over 3 processes covers the
# true ratio of a cell whose processes differ in about 4 of 5 runs, over 5 in about 19 of 20
QUOTABLE_ROUNDS = 5


def _digits(x: float) -> str:
    """Three significant digits, and whole numbers from 1000 up (never an exponent: 5730, not 5.73e+03)."""
    return f"{x:.3g}" if abs(x) < 1000 else f"{x:.0f}"


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1e-3:
        return f"{_digits(seconds * 1e6)} µs"
    if seconds < 1:
        return f"{_digits(seconds * 1e3)} ms"
    return f"{_digits(seconds)} s"


def fmt_range(lo: float, hi: float) -> str:
    """A range (p10-p90, fastest-slowest) in the unit of the lower end."""
    if lo < 1e-3:
        scale, unit = 1e6, "µs"
    elif lo < 1:
        scale, unit = 1e3, "ms"
    else:
        scale, unit = 1.0, "s"
    return f"{_digits(lo * scale)}–{_digits(hi * scale)} {unit}"


def fmt_ratio(interval: Interval | None) -> str:
    if interval is None:
        return "—"
    return f"{interval.point:.3g}x [{interval.lo:.3g}–{interval.hi:.3g}]"


def fmt_agreement(row: Row) -> str:
    """verdict, err/gamma_K, err/gamma_D (D: the rounding depth) and the exact check where there are any."""
    if row.agreement_ok is None:
        return "—"
    verdict = "ok" if row.agreement_ok else "FAIL"
    text = f"{verdict} K {row.agreement_ratio:.2g}"
    if row.agreement_ratio_d is not None:
        depth = f" (D={row.rounding_depth})" if row.rounding_depth is not None else ""
        text += f", D {row.agreement_ratio_d:.2g}{depth}"
    if row.exact_ratio is not None:
        text += f"; exact {row.exact_ratio:.2g} of {row.exact_bound} at {row.exact_samples}"
    if row.agreement_error:
        text += f": {row.agreement_error}"
    return text


# a compute-bound cell above this fraction of the measured FP32 peak exposes a wrong peak, not a fast kernel (clock
# boost between the probe's run and the cell's, and timer resolution, stay well inside it); a memory-bound one
# above it of the streaming-read bandwidth is marked too
PEAK_SLACK = 1.05


def fmt_ceiling(row: Row) -> str:
    """The cell's share of its ceiling: "83% peak", "41% bw", with " 1t" when read against one thread."""
    cell = row.ceiling
    if cell is None or cell.fraction is None:
        return "—"
    kind = "peak" if cell.kind == "peak" else "bw"
    text = f"{100 * cell.fraction:.3g}% {kind}" + (" 1t" if cell.threads == "one" else "")
    interval = cell.interval
    if interval is not None:
        text += f" [{100 * interval[0]:.3g}–{100 * interval[1]:.3g}]"
    if cell.kind == "peak" and cell.fraction > PEAK_SLACK:
        # no kernel outruns the FMA units: the probe under-measured the peak (make peak measures it again)
        text += " (above the measured peak: the peak probe is wrong)"
    elif cell.kind == "bandwidth" and cell.fraction > PEAK_SLACK:
        # the probe streams arrays several times the last-level cache from one or all threads; a cell can beat it
        # where its operands fit a cache or its access pattern prefetches better
        text += " (above the measured streaming bandwidth)"
    return text


def fmt_certified(row: Row) -> str:
    return "—" if row.certified is None else row.certified.replace("|", "/")


def _note(row: Row) -> str:
    parts = []
    if row.emulated:
        parts.append(f"{row.emulated}: not GPU timings")
    if row.status != "ok":
        parts.append(f"{row.status}: {row.reason}" if row.reason else row.status)
    if row.search_s is not None and row.status == "ok":
        parts.append(f"search {fmt_time(row.search_s)}")
    if row.reference_identical:
        parts.append("bitwise = ref")
    elif row.reference_max_abs is not None:
        parts.append(f"max abs diff vs ref {row.reference_max_abs:.2g}")
    return "; ".join(parts).replace("|", "/")


def fmt_first_call(row: Row) -> str:
    """The median first call, and the range over rounds where there are several."""
    text = fmt_time(row.first_call_s)
    if row.first_call_range is not None:
        text += f" [{fmt_range(*row.first_call_range)}]"
    return text


def _cells(row: Row) -> list[str]:
    label = f"{row.scenario} {row.title}".strip()
    if row.summary is None:
        status = "**" + row.status + "**"
        first_call = fmt_first_call(row)
        if row.status == "search-timeout" and row.search_s is not None:
            first_call = f"> {fmt_time(row.search_s)}"
        return [label, row.engine, status, "—", "—", "—", "—", "—", first_call, "—", fmt_certified(row), _note(row)]
    s = row.summary
    return [
        label,
        row.engine,
        fmt_time(s.median),
        fmt_range(s.p10, s.p90),
        f"{row.gflops:.3g}" if row.gflops is not None else "—",
        fmt_ceiling(row),
        fmt_ratio(row.speedup),
        fmt_ratio(row.speedup_single_thread),
        fmt_first_call(row),
        fmt_agreement(row),
        fmt_certified(row),
        _note(row),
    ]


def verdict_lines(table: Table) -> list[str]:
    lines = []
    for v in table.verdicts:
        label = f"{v.scenario} {v.title}".strip()
        if v.ok is None:
            lines.append(f"- {label}: no output to judge")
        elif v.ok:
            lines.append(f"- {label}: PASS (worst: {v.worst_engine} at {v.worst_ratio:.3g} of the bound)")
        else:
            command = table.reproduce.format(scenario=v.scenario, seed=v.seed)
            lines.append(f"- {label}: FAIL ({'; '.join(v.failures)}); seed {v.seed}; reproduce: `{command}`")
    return lines


def failure_messages(table: Table) -> list[str]:
    """One line per problem that makes the run fail (for stderr)."""
    messages = []
    for v in table.verdicts:
        if v.ok is False:
            command = table.reproduce.format(scenario=v.scenario, seed=v.seed)
            for failure in v.failures:
                messages.append(f"agreement FAILED in {v.scenario} (seed {v.seed}): {failure}; reproduce: {command}")
    for row in table.failed_cells:
        messages.append(f"cell FAILED: {row.scenario} {row.engine}: {row.status}: {row.reason}")
    return messages


def _emulated_lines(table: Table) -> list[str]:
    """The legend for cells whose engine stood in for a GPU (none when no row did)."""
    if not any(row.emulated for row in table.rows):
        return []
    return [
        "Cells noted 'not GPU timings' ran GPU kernels on the CPU (an emulator, or OpenCL on PoCL): their agreement",
        "with the oracle counts as for any engine, but their times are CPU times and say nothing about a GPU's speed.",
    ]


def ceiling_lines(table: Table) -> list[str]:
    """The legend of the "of ceiling" column: which ceilings, where they came from, what each label means."""
    ceiling = table.ceiling
    if ceiling is None or ceiling["source"] == "none":
        why = ceiling.get("reason", "") if ceiling else "this run recorded no ceilings"
        return [f"of ceiling: — ({why}); run `make peak` to measure the machine's FP32 peak and memory bandwidth."]
    where = (
        f"the history's latest peak for this machine, measured {ceiling.get('measured', '?')[:16]}"
        if ceiling["source"] == "history"
        else "measured at the start of this run"
    )
    threads = ceiling.get("threads")
    peaks = f"FP32 peak {ceiling.get('gflops_all_threads', 0):.4g} GFLOPS on {threads} threads, "
    peaks += f"{ceiling.get('gflops_one_thread', 0):.4g} on 1"
    lines = [f"of ceiling: each CPU cell against the machine's measured ceilings ({where}): {peaks};"]
    if "gbps_all_threads" in ceiling:
        balance = ceiling.get("gflops_all_threads", 0) / ceiling["gbps_all_threads"]
        lines += [
            f"streaming-read bandwidth {ceiling['gbps_all_threads']:.3g} GB/s on {threads} threads, "
            f"{ceiling.get('gbps_one_thread', 0):.3g} on 1. peak: GFLOPS / FP32 peak. bw: bytes moved per second",
            "(operands read and output written once) / bandwidth, for a memory-bound cell: fewer flops per byte",
            f"than the machine balance (peak / bandwidth: {balance:.3g} on all threads); operands that fit in cache",
            "can pass 100% bw.",
        ]
    else:
        lines += [
            "bandwidth not measured (a peak recorded before the bandwidth probe; run `make peak`), so a",
            "matrix-vector product shows —. peak: GFLOPS / FP32 peak.",
        ]
    lines.append("1t: against the one-thread ceilings (a single-thread engine); other cells against all threads.")
    if any(row.ceiling is not None and row.ceiling.per_round for row in table.rows):
        lines += [
            "Per round: the FP32 peak and bandwidth were measured again, briefly, before each round of each CPU",
            "scenario; a cell's share is the median over its rounds of the round's median against that round's",
            "ceiling, [95% CI] resampling rounds. The ceilings above decide only whether a cell is memory-bound.",
        ]
    if table.unstated_threads:
        lines.append(f"{', '.join(table.unstated_threads)}: threads not stated, read against all threads.")
    return lines


def render_markdown(table: Table) -> str:
    subject = table.subject or "subject"
    single = table.subject_single_thread or "1 thread"
    header = [
        "bench",
        "engine",
        "median",
        "p10–p90",
        "GFLOPS",
        "of ceiling",
        f"{subject} speedup [95% CI]",
        f"{single} speedup [95% CI]",
        "first call",
        "agreement (err/bound)",
        "certified",
        "note",
    ]
    lines = [f"## TGrad lab: {table.run_id} ({table.profile})", "", f"Machine: {table.machine}", ""]
    if table.profile == "quick":
        lines += ["Quick profile: small budget (few samples, wide CIs); BEAM cells are left out.", ""]
    lines += [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for row in table.rows:
        lines.append("| " + " | ".join(_cells(row)) + " |")
    lines += [
        "",
        f"Speedup = engine's median time / {subject}'s median time in this run (> 1: {subject} is faster);",
        "Median: of the rounds' medians (each round ran in a process of its own). CI: percentile bootstrap of the",
        "ratio of medians, resampling rounds and then the calls within each; one round: its calls only.",
        "Spread: p10–p90 of per-call times, all rounds pooled.",
        *(
            [
                f"This run has {table.rounds} round(s): too few processes for the CI to carry their spread; quote",
                f"ratios from runs of {QUOTABLE_ROUNDS} or more (--rounds {QUOTABLE_ROUNDS}).",
            ]
            if 0 < table.rounds < QUOTABLE_ROUNDS
            else []
        ),
        "Agreement: max |out - float64 oracle| / error bound; <= 1 passes. K: Higham's gamma_K |A||B|;",
        "D: gamma_D |A||B| with D the plan's rounding depth (tgrad's CPU GEMMs state it, far below K when K is",
        "blocked); both bounds include the float64 oracle's own error.",
        "exact: max |out - exact sum| / bound (gamma_D, else gamma_K) at the sampled outputs (tile, block and chunk",
        "boundaries, random ones; exact dyadic sums of the float32 products), at N samples.",
        "certified: yes when a proof (certificates/) covers every kernel of the cell's plan; — for engines that",
        "do not report their kernels.",
        "ULP distances are in the CSV and the run file (near-zero outputs make them large without meaning much).",
        f"ref = {table.reference or 'none'}. First call includes compiling: tinygrad with CACHELEVEL=0, tgrad with "
        "an empty kernel cache (TGRAD_CACHE=off), in every round's process: the median over rounds [fastest–slowest];",
        "the BEAM cells' first call is their search, in the first round.",
        "Each cell ran in its own process: BEAM must be set before tinygrad is imported, and OpenBLAS's",
        "worker busy-waits ~0.11 s after each numpy call, which would slow whatever ran next in the process.",
        *_emulated_lines(table),
        *ceiling_lines(table),
        "",
        "Agreement verdicts:",
        *verdict_lines(table),
        "",
        "Engines:",
        *[f"- {note}" for note in table.notes],
    ]
    return "\n".join(lines) + "\n"


CSV_COLUMNS = (
    "scenario title engine status reason n median_s p10_s p90_s gflops first_call_s search_s speedup speedup_lo "
    "speedup_hi speedup_1t speedup_1t_lo speedup_1t_hi agreement_ok agreement_ratio max_ulp reference_max_ulp "
    "reference_max_abs emulated certified rounding_depth agreement_ratio_d exact_ratio exact_samples exact_bound "
    "ceiling_kind ceiling_threads ceiling_fraction ceiling_achieved ceiling_value ceiling_lo ceiling_hi "
    "ceiling_rounds first_call_lo first_call_hi"
).split()


def _csv_values(row: Row) -> list[object]:
    s = row.summary
    values: list[object] = [row.scenario, row.title, row.engine, row.status, row.reason]
    values += [s.n, s.median, s.p10, s.p90] if s else ["", "", "", ""]
    values += [row.gflops, row.first_call_s, row.search_s]
    for interval in (row.speedup, row.speedup_single_thread):
        values += [interval.point, interval.lo, interval.hi] if interval else ["", "", ""]
    values += [row.agreement_ok, row.agreement_ratio, row.max_ulp, row.reference_max_ulp, row.reference_max_abs]
    values.append(row.emulated)
    values += [row.certified, row.rounding_depth, row.agreement_ratio_d]
    values += [row.exact_ratio, row.exact_samples, row.exact_bound]
    cell = row.ceiling
    values += [cell.kind, cell.threads, cell.fraction, cell.achieved, cell.ceiling] if cell else [None] * 5
    bounds = cell.interval if cell else None
    values += [*(bounds or (None, None)), len(cell.per_round) if cell else None]
    values += [*(row.first_call_range or (None, None))]
    return ["" if v is None else v for v in values]


def render_csv(table: Table) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in table.rows:
        writer.writerow(_csv_values(row))
    return buffer.getvalue()
