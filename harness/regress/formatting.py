"""Formatting only: a CheckResult -> the lines `harness check` prints."""

from __future__ import annotations

from harness.regress.model import CheckResult


def _pct(ratio: float) -> str:
    return f"{(ratio - 1) * 100:+.1f}%"


def render_lines(result: CheckResult) -> list[str]:
    """One line per regression, improvement, failure and agreement failure, then a summary."""
    quantity = f"relative to {result.relative_to}" if result.relative_to else "absolute time"
    lines = []
    for change in result.cells:
        if change.state not in ("regression", "improvement") or change.change is None:
            continue
        c = change.change
        where = ""
        if change.first_bad is not None:
            where = (
                f"; first bad run {change.first_bad.run_id} (commit {change.first_bad.short_commit}),"
                f" {change.located_by}"
            )
        lines.append(
            f"{change.state.upper() if change.state == 'regression' else change.state}: {change.scenario}"
            f" {change.engine}: {_pct(c.point)} [{_pct(c.lo)}, {_pct(c.hi)}] {change.statistic} time {quantity}"
            f" (threshold {change.threshold * 100:g}%), Mann-Whitney p={change.p_value:.2g}"
            f" (Holm {change.p_adjusted:.2g}), n={change.n_new}/{change.n_base}{where}"
        )
    for alert in result.alerts:
        if alert.kind != "regression":
            lines.append(f"{alert.kind.upper()}: {alert.scenario} {alert.engine}: {alert.reason}")
    counts = result.counts()
    base = "none"
    if result.baseline is not None:
        base = f"{result.baseline.run_id} (commit {result.baseline.short_commit}, {result.baseline_source})"
    summary = ", ".join(f"{n} {state}" for state, n in counts.items() if n)
    lines.append(
        f"check: {result.newest.run_id} (commit {result.newest.short_commit}) vs {base}: {summary or 'no cells'}"
    )
    lines += [f"note: {note}" for note in result.notes]
    return lines
