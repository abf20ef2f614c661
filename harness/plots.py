"""Plots of a run from the results history and an HTML page.

Figures are bare matplotlib Figure objects rendered by Agg: no pyplot state, no GUI backend, and
importing this module does not change a notebook's backend.

`python -m harness plots` (make report) writes under results/report/:
  speedup.png       tgrad's speedup over each tinygrad mode per benchmark, with the bootstrap 95% CIs
  timings.png       per-call time distributions per engine (box plots, log scale), one panel per benchmark
  gflops.png        GFLOPS against matrix size (equivalent n = (flops / 2)^(1/3)) per engine, numpy's line
                    drawn thick, and the machine's measured FP32 peak (`python -m harness peak`)
  agreement.png     max error / bound against reduction length K, every engine of every run of the
                    history on this machine (latest result per scenario version), the bound drawn at 1
  index.html        the run's table next to the plots, and a link to the trend page
  trend.html, ...   the history's trends (harness.trends: speedups over commits with CI bands and change
                    points, times relative to numpy, agreement over time, the run against the one before)
Numbers come from compare.build_table (speedups, GFLOPS, CIs) and harness.frames; this module only
draws them. Every file is replaced atomically. The notebook notebooks/speedups.ipynb shows the same
figures.
"""

from __future__ import annotations

import dataclasses
import html
import io
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from harness import compare, frames, report
from harness.guard import temp_prefix
from harness.history import History, HistoryError, RunInfo
from harness.record import RunRecord, ScenarioRecord

FIGURES = ("speedup", "timings", "gflops", "agreement")
PAGE_STYLE = """body{font-family:sans-serif;margin:1.5em} .page{display:flex;flex-wrap:wrap;gap:2em}
table{border-collapse:collapse;font-size:0.85em} td,th{border:1px solid #ccc;padding:0.2em 0.5em}
img{max-width:1100px;width:100%} figure{margin:0 0 1em 0}"""


@dataclasses.dataclass(frozen=True)
class ReportData:
    info: RunInfo
    record: RunRecord
    table: compare.Table
    peak: dict[str, Any] | None  # the latest peak measured on this machine
    agreement: tuple[tuple[str, str, int, float], ...]  # (scenario, engine, K, error / bound) over the history


def collect(history: History, run: str | None = None) -> ReportData:
    """The newest run of the history (or `run`) with everything the figures need."""
    runs = history.runs()
    if not runs:
        raise HistoryError(f"{history.path}: the history is empty")
    info = history.info(run) if run else runs[-1]
    record = history.load(info.run_id)
    judged = frames.cells(history, machine=info.machine_id)
    judged = judged[judged["agreement_ratio"].notna() & judged["k"].notna()]
    latest = judged.drop_duplicates(["scenario_version", "engine"], keep="last")  # rows come oldest run first
    agreement = tuple((str(r.scenario), str(r.engine), int(r.k), float(r.agreement_ratio)) for r in latest.itertuples())
    return ReportData(info, record, compare.build_table(record), history.peak(info.machine_id), agreement)


def line_handle(color: str, label: str) -> Line2D:
    """A legend entry for a line of this color."""
    return Line2D([], [], color=color, marker="o", markersize=4, label=label)


def _families(record: RunRecord) -> dict[str, str | None]:
    return {cell["engine"]: cell.get("family", "") for cell in record["cells"]}


def speedup_figure(data: ReportData) -> Figure:
    table, families = data.table, _families(data.record)
    scenarios = list(dict.fromkeys(r.scenario for r in table.rows))
    rows = {(r.scenario, r.engine): r for r in table.rows}
    engines = [
        e
        for e in dict.fromkeys(r.engine for r in table.rows)
        if families.get(e) == "tinygrad" and any(rows.get((s, e)) and rows[(s, e)].speedup for s in scenarios)
    ]
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / max(len(engines), 1)
    for i, engine in enumerate(engines):
        xs, ys, low, high = [], [], [], []
        for j, scenario in enumerate(scenarios):
            row = rows.get((scenario, engine))
            if row is None or row.speedup is None:
                continue
            xs.append(j + (i - (len(engines) - 1) / 2) * width)
            ys.append(row.speedup.point)
            low.append(row.speedup.point - row.speedup.lo)
            high.append(row.speedup.hi - row.speedup.point)
        ax.bar(xs, ys, width, yerr=[low, high], capsize=3, label=f"over {engine}")
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    titles = {r.scenario: f"{r.scenario}\n{r.title}" for r in table.rows}
    ax.set_xticks(range(len(scenarios)), [titles[s] for s in scenarios])
    ax.set_ylabel(f"speedup of {table.subject} (x, log scale)")
    ax.set_title(f"{table.subject} vs tinygrad, {table.run_id} ({table.profile}); bars: 95% bootstrap CI")
    if engines:
        ax.legend()
    return fig


def timings_figure(data: ReportData) -> Figure:
    pooled = compare.pool(data.record["cells"])
    scenarios = list(dict.fromkeys(r.scenario for r in data.table.rows))
    columns = min(3, max(len(scenarios), 1))
    rows_n = math.ceil(len(scenarios) / columns) or 1
    fig = Figure(figsize=(4.2 * columns, 3.4 * rows_n), layout="constrained")
    for index, scenario in enumerate(scenarios):
        ax = fig.add_subplot(rows_n, columns, index + 1)
        measured = [(e, entry["samples"]) for (s, e), entry in pooled.items() if s == scenario and entry["samples"]]
        if measured:
            ax.boxplot([[t * 1e3 for t in samples] for _, samples in measured], showfliers=True)
            ax.set_xticks(range(1, len(measured) + 1), [e for e, _ in measured], rotation=30, ha="right")
            ax.set_yscale("log")
        ax.set_title(scenario)
        ax.set_ylabel("ms per call")
    fig.suptitle(f"per-call times, {data.table.run_id}")
    return fig


def _square_size(scenario: ScenarioRecord) -> int | None:
    """n for a plain n x n @ n x n matmul, else None."""
    a, b = scenario.get("a") or [], scenario.get("b") or []
    if scenario.get("op") == "matmul" and len(a) == 2 and len(b) == 2 and a[0] == a[1] == b[0] == b[1]:
        return int(a[0])
    return None


def gflops_figure(data: ReportData) -> Figure:
    """Lines over the square matmuls; other scenarios as labelled points at n = (flops / 2)^(1/3)."""
    scenarios = {s["name"]: s for s in data.record["scenarios"]}
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.add_subplot()
    lines: dict[str, list[tuple[float, float]]] = {}
    others: dict[str, list[tuple[float, float, str]]] = {}
    for row in data.table.rows:
        scenario = scenarios.get(row.scenario)
        flops = scenario.get("flops") if scenario else None
        if row.gflops is None or scenario is None or not flops:
            continue
        size = _square_size(scenario)
        if size is not None:
            lines.setdefault(row.engine, []).append((size, row.gflops))
        else:
            others.setdefault(row.engine, []).append(((flops / 2) ** (1 / 3), row.gflops, row.scenario))
    for engine in dict.fromkeys([*lines, *others]):
        style: dict[str, Any] = {"color": "black", "linewidth": 2.5} if engine == "numpy" else {}
        points = sorted(lines.get(engine, []))
        (line,) = ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=engine, **style)
        extra = others.get(engine, [])
        ax.plot([p[0] for p in extra], [p[1] for p in extra], marker="s", linestyle="none", color=line.get_color())
        if engine == "numpy":
            for x, y, name in extra:
                ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 4), fontsize="small")
    if data.peak:
        peak = float(data.peak["gflops_all_threads"])
        ax.axhline(peak, color="red", linestyle="--", label=f"FP32 peak {peak:.0f} GFLOPS ({data.peak['threads']} thr)")
    else:
        ax.text(0.01, 0.98, "peak not measured: run `make peak`", transform=ax.transAxes, va="top")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("matrix size n (squares: other scenarios at (flops / 2)^(1/3))")
    ax.set_ylabel("GFLOPS")
    ax.set_title(f"throughput, {data.table.run_id}")
    if lines or others:
        ax.legend(fontsize="small")
    return fig


def agreement_figure(data: ReportData) -> Figure:
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.add_subplot()
    engines = list(dict.fromkeys(p[1] for p in data.agreement))
    for engine in engines:
        points = sorted((k, max(ratio, 1e-6)) for _, e, k, ratio in data.agreement if e == engine)
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", linestyle="none", label=engine)
    ax.axhline(1.0, color="red", linestyle="--", label="bound (gamma_K |A||B|)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("reduction length K")
    ax.set_ylabel("max |out - float64 oracle| / bound")
    ax.set_title("agreement with the oracle (<= 1 passes)")
    # outside the axes: inside, it hides the points of the longest reductions
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    return fig


DRAW = {"speedup": speedup_figure, "timings": timings_figure, "gflops": gflops_figure, "agreement": agreement_figure}


def atomic_write_bytes(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(), suffix=".part")
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def png_bytes(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def render_html(data: ReportData, images: list[str]) -> str:
    table = data.table
    header = [
        "bench",
        "engine",
        "median",
        "p10–p90",
        "GFLOPS",
        f"{table.subject} speedup [95% CI]",
        "agreement",
        "certified",
    ]
    body = []
    for row in table.rows:
        s = row.summary
        cells = [
            f"{row.scenario} {row.title}",
            row.engine,
            report.fmt_time(s.median) if s else row.status,
            report.fmt_range(s.p10, s.p90) if s else "—",
            f"{row.gflops:.3g}" if row.gflops is not None else "—",
            report.fmt_ratio(row.speedup),
            report.fmt_agreement(row),
            report.fmt_certified(row),
        ]
        body.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    figures = "\n".join(f'<figure><img src="{html.escape(i)}" alt="{html.escape(i)}"></figure>' for i in images)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>TGrad lab: {html.escape(table.run_id)}</title>
<style>{PAGE_STYLE}</style></head>
<body><h1>TGrad lab: {html.escape(table.run_id)} ({html.escape(table.profile)})</h1>
<p>Machine: {html.escape(table.machine)}</p>
<p><a href="trend.html">trends over the history</a> (speedups over commits, agreement over time)</p>
<div class="page"><div><table><thead><tr>{"".join(f"<th>{html.escape(h)}</th>" for h in header)}</tr></thead>
<tbody>{"".join(body)}</tbody></table></div>
<div>{figures}</div></div></body></html>
"""


def write_report(
    history: History, out_dir: str | Path, run: str | None = None, *, engines: list[str] | None = None
) -> list[Path]:
    """The run's PNGs and index.html, and the trend page, under out_dir; returns the paths written.
    `engines` limits the trend page's engines."""
    from harness import trends  # trends draws with this module's helpers

    data = collect(history, run)
    out = Path(out_dir)
    written = []
    for name in FIGURES:
        path = out / f"{name}.png"
        atomic_write_bytes(path, png_bytes(DRAW[name](data)))
        written.append(path)
    page = out / "index.html"
    atomic_write_bytes(page, render_html(data, [p.name for p in written]).encode())
    return [*written, page, *trends.write_trend_page(history, out, run, engines=engines)]
