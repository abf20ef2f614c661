"""Command line: `python -m harness {run,diff,report,peak,import,check,plots} --help`.

Exit status: 0 success; 1 agreement failed or a cell crashed/hung (a differential campaign found a
difference; check found a significant regression, a failed cell or an agreement failure); 2 usage
error, malformed scenario file or unreadable run file or history, a required engine unavailable
(diff), or an engine's library that is a debug build (refused before anything is timed); 130
interrupted (no run file is written and earlier results stay as they were).
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from harness.record import CeilingRecord, RoundCeilingRecord, RunRecord
from harness.store import RESULTS_DIR

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
Measured = tuple[str, dict[str, Any], dict[str, Any]]  # machine id, Peak.as_dict(), Bandwidth.as_dict()


def _number(kind: type[int] | type[float], low: float, high: float = math.inf) -> Callable[[str], int | float]:
    """An argparse type: a finite number of `kind` in [low, high] (NaN and inf refused)."""

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a{'n integer' if kind is int else ' number'}: {text!r}") from None
        if not math.isfinite(value) or not low <= value <= high:
            bounds = f"at least {low:g}" if high == math.inf else f"between {low:g} and {high:g}"
            raise argparse.ArgumentTypeError(f"must be a finite number {bounds}; got {text!r}")
        return value

    return parse


def _split(values: list[str] | None) -> tuple[str, ...]:
    out: list[str] = []
    for value in values or []:
        out.extend(item for item in value.split(",") if item)
    return tuple(out)


def _sigterm_as_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def cmd_run(args: argparse.Namespace) -> int:
    from harness import compare, report, runner, scenario, store

    try:
        sfile = scenario.load(args.scenarios, quick=args.quick)
    except scenario.ScenarioError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    options = runner.RunOptions(
        quick=args.quick,
        only=_split(args.only),
        engines=_split(args.engines),
        seed=args.seed,
        search_limit_s=args.search_limit,
        fresh_search=args.fresh_search,
        rounds=args.rounds,
        progress=not args.no_progress,
    )
    results = Path(args.results)
    _tidy(results, None if args.no_history else _history_path(args))
    measured: list[Measured] = []  # ceilings measured at the start of the run, kept with it in the history
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        try:
            run = runner.run(
                sfile,
                options,
                argv=sys.argv,
                ceiling=_ceiling_source(args, measured),
                round_ceiling=None if args.no_round_ceilings else _round_ceiling,
            )
        except (runner.UnknownEngine, runner.SelectionError) as e:
            print(f"error: {args.scenarios}: {e}", file=sys.stderr)
            return EXIT_USAGE
        except runner.Refused as e:
            print(f"error: refused: {e}; no run file written", file=sys.stderr)
            return EXIT_USAGE
        table = compare.build_table(run)
        path = store.write_run(run, results / "runs")
        markdown = report.render_markdown(table)
        # each scenario file names its own table ([lab] table), so an odd-shapes or float16 run
        # never replaces the five-benchmark table; quick runs (CI, development) must not overwrite
        # the committed full table either
        stem = sfile.lab.table + ("-quick" if args.quick else "")
        md_path, csv_path = results / f"{stem}.md", results / f"{stem}.csv"
        store.atomic_write_text(md_path, markdown)
        store.atomic_write_text(csv_path, report.render_csv(table))
    except KeyboardInterrupt:
        print("\ninterrupted: no run file written; earlier results are untouched", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(markdown)
    print(f"run written to {path}; table in {md_path} and {csv_path}", file=sys.stderr)
    if not args.no_history:
        _record(run, path, _history_path(args), measured)
    failures = report.failure_messages(table)
    for message in failures:
        print(message, file=sys.stderr)
    return EXIT_FAILED if failures else EXIT_OK


def _ceiling_source(args: argparse.Namespace, measured: list[Measured]) -> Callable[[dict[str, Any]], CeilingRecord]:
    """What the runner asks for the machine's ceilings: the history's latest peak for the machine (read even
    with --no-history), else measured at the start of the run; a measurement is appended to `measured`, for
    the history to keep with the run."""
    from harness import ceiling, history

    def source(fingerprint: dict[str, Any]) -> CeilingRecord:
        machine = history.machine_id(fingerprint)
        found = ceiling.for_run(machine, _history_path(args), say=_say)
        if found.measured is not None:
            measured.append((machine, *found.measured))
        return found.record

    return source


def _round_ceiling(scenario: str, round_index: int) -> RoundCeilingRecord:
    from harness import ceiling

    return ceiling.measure_round(scenario, round_index)


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def _tidy(results: Path, history_path: Path | None) -> None:
    """What a killed run left behind: its temporary files are removed, and a run file it wrote but did
    not add to the history is imported now (with a note)."""
    from harness import guard, history

    for folder in (results, results / "runs"):
        guard.sweep_temp_files(folder)
    if history_path is None or not (results / "runs").is_dir():
        return
    try:
        with history.History(history_path) as h:
            imported, problems = history.import_pending(h, results / "runs")
    except (history.HistoryError, OSError) as e:
        print(f"warning: run files not checked against the history: {e}", file=sys.stderr)
        return
    for path in imported:
        print(f"note: {path} was not in the history (its run stopped before adding it): imported", file=sys.stderr)
    for problem in problems:
        print(f"warning: a run file not in the history cannot be imported: {problem}", file=sys.stderr)


def _history_path(args: argparse.Namespace) -> Path:
    from harness import history

    return Path(args.history) if args.history else history.default_path(getattr(args, "results", None))


def _record(run: RunRecord, run_file: Path, history_path: Path, measured: list[Measured]) -> None:
    """Append a written run to the history, and the ceilings measured at its start (so later runs read
    them instead of measuring again); a failure there never loses the run file."""
    from harness import history

    try:
        with history.History(history_path) as h:
            h.append(run, imported_from=str(run_file.resolve()))
            for machine, flops, moved in measured:
                h.record_peak(machine, flops, moved)
        print(f"run appended to the history {history_path}", file=sys.stderr)
    except (history.HistoryError, OSError, KeyboardInterrupt) as e:
        reason = "interrupted" if isinstance(e, KeyboardInterrupt) else str(e)
        print(
            f"warning: run not added to the history ({reason}); `python -m harness import {run_file}` adds it",
            file=sys.stderr,
        )


def cmd_import(args: argparse.Namespace) -> int:
    from harness import history

    files: list[Path] = []
    for name in args.files:
        path = Path(name)
        files += sorted(path.glob("*.json")) if path.is_dir() else [path]
    if not files:
        print(f"error: no run files in {' '.join(args.files)}", file=sys.stderr)
        return EXIT_USAGE
    refused = 0
    try:
        with history.History(_history_path(args)) as h:
            for path in files:
                try:
                    run_id, added = history.import_file(h, path)
                except history.HistoryError as e:  # a malformed file: refused, the others still imported
                    print(f"error: {e}", file=sys.stderr)
                    refused += 1
                    continue
                print(f"{'added' if added else 'already present'}: {run_id} ({path})")
    except history.HistoryError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    if refused:
        print(f"{refused} of {len(files)} files refused; nothing of them was added", file=sys.stderr)
    return EXIT_USAGE if refused else EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    import json

    from harness import history, regress, store

    try:
        rules = tuple(regress.parse_rule(r) for r in (args.rule or ["median:5%"]))
        options = regress.Options(
            rules=rules, relative_to=None if args.relative_to == "none" else args.relative_to, alpha=args.alpha
        )
        with history.History(_history_path(args)) as h:
            result = regress.check(
                h,
                run=args.run,
                baseline=args.baseline,
                baseline_file=args.baseline_file,
                any_machine=args.any_machine,
                options=options,
            )
    except (regress.RuleError, history.HistoryError, store.StoreError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    for line in regress.render_lines(result):
        print(line)
    output = Path(args.output)
    store.atomic_write_text(output, json.dumps(result.as_dict(), indent=1, default=str) + "\n")
    print(f"report written to {output}", file=sys.stderr)
    return EXIT_FAILED if result.alerting else EXIT_OK


def cmd_plots(args: argparse.Namespace) -> int:
    from harness import history, plots, store

    try:
        with history.History(_history_path(args)) as h:
            written = plots.write_report(h, args.out, run=args.run, engines=list(_split(args.engines)) or None)
    except (history.HistoryError, store.StoreError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    for path in written:
        print(path)
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from harness import compare, report, store

    try:
        run = store.load_run(args.run)
    except store.StoreError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    table = compare.build_table(run)
    text = report.render_csv(table) if args.format == "csv" else report.render_markdown(table)
    print(text, end="")
    return EXIT_OK if not report.failure_messages(table) else EXIT_FAILED


def cmd_diff(args: argparse.Namespace) -> int:
    from harness import diff

    try:
        outcome = diff.campaign(
            examples=args.examples,
            seconds=args.seconds,
            seed=args.seed,
            results=Path(args.results),
            subject=args.subject,
        )
    except diff.EngineMissing as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    print(diff.describe(outcome))
    return EXIT_OK if outcome.failure is None else EXIT_FAILED


def cmd_peak(args: argparse.Namespace) -> int:
    from harness import peak

    size = None if args.bandwidth_mib is None else int(args.bandwidth_mib * 2**20)
    try:
        flops = peak.measure(seconds=args.seconds, threads=args.threads)
        print(peak.describe(flops))
        moved = peak.measure_bandwidth(size, threads=args.threads, passes=args.passes)
        print(peak.describe_bandwidth(moved))
    except peak.PeakError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    if not args.no_history:
        from harness import fingerprint, history

        try:
            with history.History(_history_path(args)) as h:
                h.record_peak(history.machine_id(fingerprint.collect()), flops.as_dict(), moved.as_dict())
        except (history.HistoryError, OSError) as e:
            print(f"warning: peak not recorded in the history: {e}", file=sys.stderr)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m harness",
        description="The TGrad lab: identical scenarios against tinygrad, tgrad and numpy.",
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a scenario file and print the table", description=cmd_run_doc)
    run.add_argument("scenarios", help="scenario file, e.g. scenarios/five.toml")
    run.add_argument("--quick", action="store_true", help="small budget ([quick] table); BEAM cells left out")
    run.add_argument("--only", action="append", metavar="NAMES", help="scenario names or globs, comma separated")
    run.add_argument(
        "--engines",
        action="append",
        metavar="NAMES",
        help="engines to run, comma separated: the file's, or any other registry name or module:Class spec",
    )
    run.add_argument("--seed", type=_number(int, 0), help="replace every scenario's input seed")
    run.add_argument(
        "--search-limit", type=_number(float, 0, 604_800), metavar="S", help="cap each BEAM search at S seconds"
    )
    run.add_argument("--fresh-search", action="store_true", help="BEAM ignores its search cache")
    run.add_argument(
        "--rounds", type=_number(int, 1, 1000), default=1, help="alternate all engines this many times per scenario"
    )
    run.add_argument(
        "--no-round-ceilings",
        action="store_true",
        help="read cells against the run's ceilings only, without measuring them again before each round",
    )
    run.add_argument("--results", default=str(RESULTS_DIR), help="results folder (default: %(default)s)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    _history_option(run)
    run.add_argument("--no-history", action="store_true", help="do not append the run to the results history")
    run.set_defaults(handler=cmd_run)

    diff = sub.add_parser("diff", help="property-based differential campaign tinygrad vs tgrad")
    diff.add_argument(
        "--examples", type=_number(int, 1), default=200, help="hypothesis examples to try (default %(default)s)"
    )
    diff.add_argument("--seconds", type=_number(float, 0), default=120.0, help="stop generating after this long")
    diff.add_argument("--seed", type=_number(int, 0), default=0, help="hypothesis seed (default %(default)s)")
    diff.add_argument("--results", default=str(RESULTS_DIR), help="where failures are saved (under diff/)")
    diff.add_argument("--subject", default="tgrad", help="module with tinygrad's API to test (default %(default)s)")
    diff.set_defaults(handler=cmd_diff)

    rep = sub.add_parser("report", help="print the table of a stored run")
    rep.add_argument("run", help="a results/runs/*.json file")
    rep.add_argument("--format", choices=("md", "csv"), default="md")
    rep.set_defaults(handler=cmd_report)

    pk = sub.add_parser(
        "peak",
        help="measure the machine's FP32 peak (an FMA loop) and memory bandwidth (a streaming read; needs clang or cc)",
    )
    pk.add_argument(
        "--seconds", type=_number(float, 0.001, 3600), default=0.5, help="duration of each FP32 peak measurement"
    )
    pk.add_argument(
        "--threads", type=_number(int, 1, 4096), help="threads for the all-core measurements (default: usable cores)"
    )
    pk.add_argument(
        "--bandwidth-mib",
        type=_number(float, 1, 2**20),
        metavar="MIB",
        help="size of the array the bandwidth probe reads (default: 256 MiB or 4x the last-level cache, if more)",
    )
    pk.add_argument(
        "--passes",
        type=_number(int, 1, 10_000),
        default=10,
        help="bandwidth passes per thread count; the best counts (default %(default)s)",
    )
    _history_option(pk)
    pk.add_argument("--no-history", action="store_true", help="do not record the peak in the results history")
    pk.set_defaults(handler=cmd_peak)

    imp = sub.add_parser("import", help="add run files or pytest-benchmark JSON files to the results history")
    imp.add_argument("files", nargs="+", help="run files (results/runs/*.json), pytest-benchmark JSON, or folders")
    _history_option(imp)
    imp.set_defaults(handler=cmd_import)

    chk = sub.add_parser(
        "check", help="compare the newest run with a baseline; exit 1 on a regression", description=cmd_check_doc
    )
    _history_option(chk)
    chk.add_argument("--run", metavar="RUN_ID", help="the run to check (default: the newest in the history)")
    base = chk.add_mutually_exclusive_group()
    base.add_argument("--baseline", metavar="RUN_ID", help="compare with this run of the history")
    base.add_argument("--baseline-file", metavar="FILE", help="compare with this run file (a committed baseline)")
    chk.add_argument(
        "--rule",
        action="append",
        metavar="RULE",
        help="alert rule [SCENARIO_GLOB=]STAT:PCT%%, e.g. median:5%% or 'B1=median:10%%' (repeatable; last match wins)",
    )
    chk.add_argument(
        "--relative-to",
        default="numpy",
        metavar="ENGINE",
        help="compare each cell's time relative to this engine of the same run (default %(default)s); none: absolute",
    )
    chk.add_argument(
        "--alpha",
        type=_number(float, 1e-12, 0.5),
        default=0.05,
        help="family-wise significance level (default %(default)s)",
    )
    chk.add_argument("--any-machine", action="store_true", help="also compare runs of other machine fingerprints")
    chk.add_argument(
        "--output", default=str(RESULTS_DIR / "check.json"), help="machine-readable report (default: %(default)s)"
    )
    chk.set_defaults(handler=cmd_check)

    plt = sub.add_parser(
        "plots", help="PNG plots and HTML pages of a run of the history and of its trends (make report)"
    )
    _history_option(plt)
    plt.add_argument("--run", metavar="RUN_ID", help="the run to plot (default: the newest)")
    plt.add_argument("--out", default=str(RESULTS_DIR / "report"), help="output folder (default: %(default)s)")
    plt.add_argument("--engines", action="append", metavar="NAMES", help="engines on the trend page, comma separated")
    plt.set_defaults(handler=cmd_plots)
    return parser


def _history_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--history",
        metavar="FILE",
        help="results history (default: $TGRAD_LAB_HISTORY, else history.sqlite in the results folder)",
    )


cmd_check_doc = """Compare the newest run of the results history with a baseline (by default the previous run with
the same machine fingerprint and profile), cell by cell: the change of each cell's time relative to
numpy measured in the same run, with a bootstrap CI, a Mann-Whitney U test and a threshold. Prints one
line per regression, improvement, failed cell and agreement failure, writes a JSON report, and exits 1
when there is an alert. See harness/regress/ and results/README.md."""


cmd_run_doc = """Run every (scenario, engine) cell of a scenario file, each in its own process, check agreement
with a float64 oracle, write results/runs/<timestamp>-<host>.json and the table (results/latest.md and
latest.csv, or the stem the file's [lab] table names; -quick appended for --quick), and print it.
Exits 1 when an engine's output exceeds the error bound."""


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))
