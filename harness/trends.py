"""Trend views of the results history: figures drawn from harness.frames, and the report's trend page.

  trend_figure          a within-run ratio (tgrad's speedup over each engine, or each engine's time
                        relative to a reference) per benchmark over the runs, oldest first, with the
                        95% bootstrap CI as a band and the change points of each series marked
                        (frames.change_points: the regression check's e-divisive search)
  agreement_figure      each engine's max error / bound per benchmark over the runs, the bound at 1
  comparison_figure     two runs compared cell by cell (frames.compare_runs), CIs as error bars
  write_trend_page      trend.png, relative.png, agreement-trend.png, comparison.png and trend.html

The x axis is the run's position in the history (labelled with its commit and UTC start time), or its
start time with `x="date"`. A benchmark whose definition changed (another scenario version) starts a
new line. Figures are bare matplotlib Figures (Agg), as in harness.plots; nothing here computes a
statistic.
"""

from __future__ import annotations

import dataclasses
import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from harness import frames, plots
from harness.compare import Ratios
from harness.history import History, HistoryError
from harness.record import RunRecord

TREND_FIGURES = ("trend", "relative", "agreement-trend", "comparison")
# one color per engine in every figure; engines not listed take the remaining colors in turn
ENGINE_COLORS = {
    "tinygrad-eager": "tab:blue",
    "tinygrad-jit": "tab:orange",
    "tinygrad-beam": "tab:green",
    "tgrad": "tab:red",
    "tgrad-1t": "tab:purple",
    "tgrad-beam": "tab:brown",
    "numpy": "black",
    "torch": "tab:pink",
}
SPARE_COLORS = ("tab:gray", "tab:olive", "tab:cyan", "gold", "navy", "lime")


def _run_axis(frame: pd.DataFrame, x: str) -> tuple[dict[str, Any], list[Any], list[str]]:
    """Run id -> x value, the tick positions and their labels."""
    runs = frame[["run_id", "started", "commit", "dirty"]].drop_duplicates("run_id").sort_values("started")
    labels = [
        f"{(commit if isinstance(commit, str) else 'unknown')[:7]}{'+' if dirty is True else ''}\n{started:%m-%d %H:%M}"
        for commit, dirty, started in zip(runs["commit"], runs["dirty"], runs["started"], strict=True)
    ]
    if x == "date":
        positions = [started.to_pydatetime() for started in runs["started"]]
    else:
        positions = list(range(len(runs)))
    return dict(zip(runs["run_id"], positions, strict=True)), positions, labels


def _grid(count: int, width: float = 5.2, height: float = 3.6) -> tuple[Figure, int, int]:
    columns = min(3, max(count, 1))
    rows = max(math.ceil(count / columns), 1)
    return Figure(figsize=(width * columns, height * rows + 0.8), layout="constrained"), rows, columns


def _colors(names: Sequence[str]) -> dict[str, str]:
    others = [n for n in names if n not in ENGINE_COLORS]
    spare = {name: SPARE_COLORS[i % len(SPARE_COLORS)] for i, name in enumerate(others)}
    return {name: ENGINE_COLORS.get(name) or spare[name] for name in names}


def _plain_log(axis: Any) -> None:
    """Log-scale tick labels as plain numbers (0.5, 1, 2); minor ticks are labelled only when the axis
    spans less than a decade (else it would show no number at all)."""

    def minor(value: float, _: object) -> str:
        low, high = sorted(axis.get_view_interval())
        return f"{value:g}" if low > 0 and high / low < 10 else ""

    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(FuncFormatter(minor))


def _ticks(ax: Any, positions: list[Any], labels: list[str], x: str) -> None:
    if x == "date":
        ax.tick_params(axis="x", labelrotation=90, labelsize="x-small")
    else:
        ax.set_xticks(positions, labels, rotation=90, fontsize="x-small")


def trend_figure(
    ratio_frame: pd.DataFrame,
    steps: pd.DataFrame | None = None,
    *,
    ylabel: str = "ratio of medians",
    title: str = "",
    x: str = "run",
) -> Figure:
    """One panel per benchmark; one line per numerator engine with its CI band; steps marked."""
    scenarios = list(dict.fromkeys(ratio_frame["scenario"]))
    engines = list(dict.fromkeys(ratio_frame["numerator"]))
    colors = _colors(engines)
    where, positions, labels = _run_axis(ratio_frame, x) if len(ratio_frame) else ({}, [], [])
    fig, rows, columns = _grid(len(scenarios))
    for index, scenario in enumerate(scenarios):
        ax = fig.add_subplot(rows, columns, index + 1)
        panel = ratio_frame[ratio_frame["scenario"] == scenario]
        for (engine, _version), line in panel.groupby(["numerator", "scenario_version"], sort=False, dropna=False):
            xs = [where[r] for r in line["run_id"]]
            ax.fill_between(xs, line["lo"], line["hi"], color=colors[engine], alpha=0.25, linewidth=0)
            ax.plot(xs, line["ratio"], marker="o", markersize=3, color=colors[engine])
        if steps is not None:
            for step in steps[steps["scenario"] == scenario].itertuples():
                if step.numerator not in colors or step.run_id not in where:
                    continue
                ax.axvline(where[step.run_id], color=colors[step.numerator], linestyle="--", linewidth=1)
                ax.annotate(
                    f"{step.step:+.0%}",
                    (where[step.run_id], 1.0),
                    xycoords=("data", "axes fraction"),
                    xytext=(2, -2),
                    textcoords="offset points",
                    va="top",
                    fontsize="x-small",
                    color=colors[step.numerator],
                )
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_yscale("log")
        _plain_log(ax.yaxis)
        ax.set_title(f"{scenario} {panel['title'].iloc[0] if len(panel) else ''}".strip())
        ax.set_ylabel(ylabel)
        _ticks(ax, positions, labels, x)
    handles = [plots.line_handle(colors[e], e) for e in engines]
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 7), fontsize="small")
    fig.suptitle(title or "within-run ratios over the history; bands: 95% bootstrap CI; dashed: change points")
    return fig


def agreement_figure(cell_frame: pd.DataFrame, *, x: str = "run") -> Figure:
    """Each engine's agreement (max error / bound, <= 1 passes) per benchmark over the runs."""
    judged = cell_frame[cell_frame["agreement_ratio"].notna()]
    scenarios = list(dict.fromkeys(judged["scenario"]))
    engines = list(dict.fromkeys(judged["engine"]))
    colors = _colors(engines)
    where, positions, labels = _run_axis(judged, x) if len(judged) else ({}, [], [])
    fig, rows, columns = _grid(len(scenarios))
    for index, scenario in enumerate(scenarios):
        ax = fig.add_subplot(rows, columns, index + 1)
        panel = judged[judged["scenario"] == scenario]
        for engine, line in panel.groupby("engine", sort=False):
            ys = line["agreement_ratio"].clip(lower=1e-6)
            ax.plot([where[r] for r in line["run_id"]], ys, marker="o", markersize=3, color=colors[str(engine)])
        ax.axhline(1.0, color="red", linestyle="--", linewidth=1)
        ax.set_yscale("log")
        ax.set_title(str(scenario))
        ax.set_ylabel("max |out - oracle| / bound")
        _ticks(ax, positions, labels, x)
    handles = [plots.line_handle(colors[e], e) for e in engines]
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 7), fontsize="small")
    fig.suptitle("agreement with the float64 oracle over the history (<= 1 passes; red: the bound)")
    return fig


STATE_COLORS = {"regression": "tab:red", "improvement": "tab:green", "unchanged": "tab:gray"}


def comparison_figure(change_frame: pd.DataFrame, older: str, newer: str, reference: str | None = "numpy") -> Figure:
    """Each cell's change from `older` to `newer` (time relative to the reference, > 1: slower)."""
    measured = change_frame[change_frame["change"].notna()]
    fig = Figure(figsize=(7.5, 0.25 * len(measured) + 1.6), layout="constrained")
    ax = fig.add_subplot()
    labels = [f"{s} {e}" for s, e in zip(measured["scenario"], measured["engine"], strict=True)]
    ys = list(range(len(measured)))[::-1]
    for y, row in zip(ys, measured.itertuples(), strict=True):
        color = STATE_COLORS.get(str(row.state), "tab:gray")
        ax.errorbar(row.change, y, xerr=[[row.change - row.lo], [row.hi - row.change]], fmt="o", color=color)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xscale("log")
    _plain_log(ax.xaxis)
    ax.set_yticks(ys, labels, fontsize="x-small")
    if measured.empty:
        ax.text(0.5, 0.5, "no cell measured in both runs", transform=ax.transAxes, ha="center", va="center")
    quantity = f"time relative to {reference}" if reference else "absolute time"
    ax.set_xlabel(f"change of the {quantity}, {newer} / {older} (> 1: slower)")
    ax.set_title("two runs compared; red: regression, green: improvement (regression check rules)")
    return fig


@dataclasses.dataclass(frozen=True)
class TrendData:
    subject: str
    reference: str | None
    cells: pd.DataFrame
    speedups: pd.DataFrame
    speedup_steps: pd.DataFrame
    relative: pd.DataFrame
    relative_steps: pd.DataFrame
    older: str | None
    newer: str | None
    comparison: pd.DataFrame | None


def collect(
    history: History,
    run: str | None = None,
    *,
    engines: Sequence[str] | None = None,
    machine: str | None = None,
    profile: str | None = None,
) -> TrendData:
    """The frames of the trend page: the runs of `run`'s machine and profile (the newest run by
    default) up to `run`, its subject's speedups, times relative to its reference engine (numpy when
    measured), agreement, and `run` against the run before it."""
    everything = history.runs()
    if not everything:
        raise HistoryError(f"{history.path}: the history is empty")
    newest = history.info(run) if run else everything[-1]
    peers = history.runs(machine=machine or newest.machine_id, profile=profile or newest.profile)
    ids = [p.run_id for p in peers]
    upto = ids[: ids.index(newest.run_id) + 1] if newest.run_id in ids else ids
    records = frames.load(history, runs=upto)
    lab = history.load(newest.run_id).get("lab", {})
    subject = lab.get("subject") or "tgrad"
    cells = frames.cells(records, engines=engines)
    reference = "numpy" if (cells["engine"] == "numpy").any() else lab.get("reference")
    over = [e for e in dict.fromkeys(cells["engine"]) if e != subject] if engines is not None else None
    cache: dict[str, Ratios] = {}  # each cell resampled once for both ratio frames
    speedups = frames.speedups(records, subject, over, cache=cache)
    relative = frames.typed([], frames.RATIO_COLUMNS)
    if reference:
        relative = frames.relative_times(records, reference, engines, cache=cache)
    older = previous_overlapping(records)
    comparison = frames.compare_runs(records, older, upto[-1], reference=reference) if older else None
    return TrendData(
        subject,
        reference,
        cells,
        speedups,
        frames.change_points(speedups),
        relative,
        frames.change_points(relative),
        older,
        upto[-1] if upto else None,
        comparison,
    )


def previous_overlapping(records: Sequence[RunRecord]) -> str | None:
    """The latest run before the last one that shares a scenario version with it."""
    if not records:
        return None
    versions = {(s["name"], s.get("version")) for s in records[-1].get("scenarios", [])}
    for record in reversed(records[:-1]):
        if versions & {(s["name"], s.get("version")) for s in record.get("scenarios", [])}:
            return str(record["run_id"])
    return None


def overlapping_pair(
    records: Sequence[RunRecord], older: str | None = None, newer: str | None = None
) -> tuple[str, str]:
    """(older, newer) run ids to compare: the given ones; else `newer` (default: the newest run that
    shares a scenario version with an earlier one) and the latest earlier run sharing one with it.
    ValueError when no such pair exists (a history of runs of different scenario files)."""
    ids = [str(r["run_id"]) for r in records]
    for given in (older, newer):
        if given is not None and given not in ids:
            raise ValueError(f"no run {given} in the history")
    ends = [ids.index(newer)] if newer is not None else range(len(records) - 1, 0, -1)
    for end in ends:
        found = older or previous_overlapping(records[: end + 1])
        if found is not None:
            return found, ids[end]
    raise ValueError(
        f"no earlier run shares a scenario version with {newer}"
        if newer is not None
        else "no two runs of the history share a scenario version"
    )


def _figures(data: TrendData) -> dict[str, Figure]:
    drawn = {
        "trend": trend_figure(
            data.speedups,
            data.speedup_steps,
            ylabel=f"speedup of {data.subject} (x)",
            title=f"{data.subject}'s speedup over each engine, run by run (> 1: {data.subject} faster)",
        ),
        "relative": trend_figure(
            data.relative,
            data.relative_steps,
            ylabel=f"time / {data.reference}'s",
            title=f"time relative to {data.reference} in the same run (the regression check's quantity)",
        ),
        "agreement-trend": agreement_figure(data.cells),
    }
    if data.comparison is not None and data.older and data.newer:
        drawn["comparison"] = comparison_figure(data.comparison, data.older, data.newer, data.reference)
    return drawn


def _steps_table(steps: pd.DataFrame, subject: str) -> str:
    if steps.empty:
        return "<p>No change point found in any series (e-divisive search, permutation p &lt; 0.05).</p>"
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(v))}</td>"
            for v in (s.scenario, f"{subject} vs {s.numerator}", s.run_id, str(s.commit)[:10], f"{s.step:+.1%}")
        )
        + f"<td>{s.p_value:.3g}</td></tr>"
        for s in steps.itertuples()
    )
    header = "".join(f"<th>{h}</th>" for h in ("bench", "series", "first run after", "commit", "step", "p"))
    return f"<table><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>"


def render_page(data: TrendData, images: list[str]) -> str:
    figures = "\n".join(f'<figure><img src="{html.escape(i)}" alt="{html.escape(i)}"></figure>' for i in images)
    runs = data.cells.drop_duplicates("run_id")
    span = f"{len(runs)} runs" + (
        f", {runs['started'].min():%Y-%m-%d} to {runs['started'].max():%Y-%m-%d}" if len(runs) else ""
    )
    compared = (
        f"<p>Compared: {html.escape(str(data.newer))} against {html.escape(str(data.older))}.</p>" if data.older else ""
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>TGrad lab: trends</title>
<style>{plots.PAGE_STYLE}</style></head>
<body><h1>TGrad lab: trends over the history</h1>
<p><a href="index.html">the newest run's page</a> · {html.escape(span)} (one machine, one profile).
Ratios are of medians measured in the same run; bands are 95% bootstrap CIs.</p>
<h2>Change points of {html.escape(data.subject)}'s speedups</h2>
{_steps_table(data.speedup_steps, data.subject)}
{compared}
<div>{figures}</div></body></html>
"""


def write_trend_page(
    history: History, out_dir: str | Path, run: str | None = None, *, engines: Sequence[str] | None = None
) -> list[Path]:
    """The trend PNGs and trend.html under out_dir; returns the paths written."""
    data = collect(history, run, engines=engines)
    out = Path(out_dir)
    written = []
    for name, figure in _figures(data).items():
        path = out / f"{name}.png"
        plots.atomic_write_bytes(path, plots.png_bytes(figure))
        written.append(path)
    page = out / "trend.html"
    plots.atomic_write_bytes(page, render_page(data, [p.name for p in written]).encode())
    return [*written, page]
