"""Regression alerts: the newest run against a baseline, cell by cell, and where a step change began.

What is compared. On these shared machines absolute times move 15-30% between runs (PERF_NOTES.md)
while ratios of engines measured side by side in one run are stable. So by default each cell's time is
divided by the time of a reference engine measured in the same run (`relative_to`, numpy): the
quantity compared is q = stat(cell) / stat(reference cell of the same scenario), where stat of a cell
is stat over its rounds of each round's stat (the table's median of round medians), and the change is
q(newest) / q(baseline) (> 1: the cell got slower relative to the reference). `relative_to=None`
compares absolute times instead. The reference cell itself is then in state `reference`.

The rule for a cell is parsed data, `[SCENARIO_GLOB=]STAT:PCT%` (e.g. `median:5%`, `B3=median:10%`;
the last matching rule wins; STAT is median or mean). A cell is
  regression    change > 1 + threshold, the 95% bootstrap CI of the change lies above 1, and the
                two-sided Mann-Whitney U test is significant (p < alpha after Holm's correction over
                all cells compared in this check, so a table of 30 cells has ~alpha chance in total,
                not 30 x alpha, of a false alarm from within-run noise)
  improvement   the mirror image (change < 1 / (1 + threshold), CI below 1, significant)
  unchanged     neither
  incomparable  the scenario's version hash changed, the cell or its reference was not measured in
                one of the runs, or there is no baseline
  failed        the cell errored or timed out in the newest run (an alert, also when it already had)
  fixed         it failed in the baseline and is measured now
Agreement failures in the newest run are alerts too. The bootstrap resamples each run's rounds, then
the samples within them (as the table's CIs do; a cell and its reference pick the same rounds, so the
pairing of alternating rounds is kept), the newest and the baseline run independently; the U test
ranks the newest run's samples against the baseline's, each divided by its own run's reference
statistic.

Where a step began: for each regression (and improvement) the cell's quantity over the runs of the
same machine and profile, from up to `context` runs before the baseline through the newest, is split
by binary segmentation with the e-divisive energy statistic (Matteson & James 2014, as in MongoDB's
signal processing and Apache Otava): the split maximising the energy distance between the two sides
is kept when a permutation test (the series shuffled `permutations` times, seeded) gives p < cp_alpha,
and both sides are split again. The last kept split after the baseline whose step has the regression's
direction and size (> threshold) names the first bad run and its commit; without one the newest run is
the first bad run.

Everything here returns data (CheckResult); `render_lines` only formats it. By topic: model.py (rules,
options, result types), statistics.py (Mann-Whitney U, Holm), changepoints.py (e-divisive
segmentation), comparison.py (two runs, then over a history), formatting.py (the printed lines); the
bootstrap over rounds is the table's own (stats.bootstrap_rounds).
"""

from harness.regress.changepoints import ChangePoint, change_points, energy_statistics
from harness.regress.comparison import check, check_records, compare_runs
from harness.regress.formatting import render_lines
from harness.regress.model import (
    DEFAULT_RULE,
    FAILING,
    REPORT_KIND,
    REPORT_VERSION,
    STATES,
    STATISTICS,
    Alert,
    CellChange,
    CheckResult,
    Options,
    Rule,
    RuleError,
    parse_rule,
    rule_for,
)
from harness.regress.statistics import holm, mann_whitney_u

__all__ = [
    "DEFAULT_RULE",
    "FAILING",
    "REPORT_KIND",
    "REPORT_VERSION",
    "STATES",
    "STATISTICS",
    "Alert",
    "CellChange",
    "ChangePoint",
    "CheckResult",
    "Options",
    "Rule",
    "RuleError",
    "change_points",
    "check",
    "check_records",
    "compare_runs",
    "energy_statistics",
    "holm",
    "mann_whitney_u",
    "parse_rule",
    "render_lines",
    "rule_for",
]
