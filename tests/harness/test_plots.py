"""`harness plots` (make report): PNGs and an HTML page from a synthetic history, written atomically."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from lab_synthetic import synthetic_history

from harness import cli, frames, history, plots, trends

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def small_history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("plots") / "history.sqlite"
    with history.History(db) as h:
        records = synthetic_history(3, seed=11, scenarios=("S1", "S2", "S4"))
        for record in records:
            h.append(record)
        peak = {"threads": 2, "gflops_one_thread": 98.0, "gflops_all_threads": 195.0, "cpu": "synthetic"}
        h.record_peak(history.machine_id(records[0]["fingerprint"]), peak)
    return db


def test_report_writes_pngs_and_a_page(small_history: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "report"
    assert cli.main(["plots", "--history", str(small_history), "--out", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    pngs = [f"{name}.png" for name in (*plots.FIGURES, *trends.TREND_FIGURES)]
    assert names == sorted([*pngs, "index.html", "trend.html"])
    for name in pngs:
        assert (out / name).read_bytes().startswith(PNG)
    page = (out / "index.html").read_text()
    assert all(f'src="{name}.png"' in page for name in plots.FIGURES)
    assert "<td>S2 gemm-128</td>" in page and "tinygrad-jit" in page
    assert 'href="trend.html"' in page
    trend = (out / "trend.html").read_text()
    assert all(f'src="{name}.png"' in trend for name in trends.TREND_FIGURES) and 'href="index.html"' in trend
    assert "3 runs" in trend
    printed = capsys.readouterr().out
    assert str(out / "index.html") in printed and str(out / "trend.html") in printed


def test_figures_carry_the_data(small_history: Path) -> None:
    with history.History(small_history) as h:
        data = plots.collect(h)
    assert data.peak is not None and data.peak["gflops_all_threads"] == 195.0
    speedup = plots.speedup_figure(data).axes[0]
    assert [t.get_text() for t in speedup.get_legend().get_texts()] == ["over tinygrad-eager", "over tinygrad-jit"]
    gflops = plots.gflops_figure(data).axes[0]
    assert any("peak 195" in t.get_text() for t in gflops.get_legend().get_texts())
    assert {k for _, _, k, _ in data.agreement} == {64, 128, 512}
    agreement = plots.agreement_figure(data).axes[0]
    assert agreement.get_lines()[-1].get_ydata()[0] == 1.0  # the bound


def test_a_failed_write_keeps_the_old_png(small_history: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    out = tmp_path / "report"
    with history.History(small_history) as h:
        plots.write_report(h, out)
        before = (out / "speedup.png").read_bytes()

        def broken(fig: object) -> bytes:
            raise OSError("disk full")

        monkeypatch.setattr(plots, "png_bytes", broken)
        with pytest.raises(OSError, match="disk full"):
            plots.write_report(h, out)
    assert (out / "speedup.png").read_bytes() == before
    assert not list(out.glob(".tmp-*"))


def test_empty_history_is_a_usage_error(tmp_path: Path) -> None:
    assert cli.main(["plots", "--history", str(tmp_path / "none.sqlite"), "--out", str(tmp_path / "r")]) == 2


def test_trend_figure_draws_bands_and_marks_the_step() -> None:
    records = synthetic_history(12, seed=0, scenarios=("S1", "S2"), slowdown=("S2", "tgrad", 7, 1.10))
    relative = frames.relative_times(records, "numpy", ["tgrad", "tinygrad-jit"])
    steps = frames.change_points(relative)
    assert steps.loc[steps["step"] > 0.05, "scenario"].tolist() == ["S2"]
    figure = trends.trend_figure(relative, steps)
    s1, s2 = figure.axes
    assert (s1.get_title(), s2.get_title()) == ("S1 gemm-64", "S2 gemm-128")
    assert len(s2.collections) == 2  # one CI band per engine
    engine_lines = [line for line in s2.get_lines() if len(line.get_xdata()) == 12]
    assert len(engine_lines) == 2
    tgrad = next(line for line in engine_lines if line.get_color() == trends.ENGINE_COLORS["tgrad"])
    assert (
        list(tgrad.get_ydata())
        == relative.loc[(relative["scenario"] == "S2") & (relative["numerator"] == "tgrad"), "ratio"].tolist()
    )
    marks = [line for line in s2.get_lines() if list(line.get_xdata()) == [7, 7]]
    assert len(marks) == 1 and marks[0].get_color() == trends.ENGINE_COLORS["tgrad"]
    assert not [line for line in s1.get_lines() if list(line.get_xdata()) == [7, 7]]
    assert [t.get_text() for t in s2.get_xticklabels()][7].startswith(records[7]["fingerprint"]["git"]["commit"][:7])


def test_trend_page_engines_filter(small_history: Path, tmp_path: Path) -> None:
    with history.History(small_history) as h:
        data = trends.collect(h, engines=["tgrad", "numpy"])
    assert set(data.speedups["numerator"]) == {"numpy"}
    assert set(data.relative["numerator"]) == {"tgrad"}
    assert set(data.cells["engine"]) == {"tgrad", "numpy"}
    assert data.comparison is not None and data.older is not None


def test_the_comparison_pair_skips_a_newest_run_of_other_scenarios() -> None:
    """The notebook's default pair: the newest run that shares a scenario version with an earlier one
    (a newest run of another scenario file, like the float16 table's, has none) and that earlier run."""
    runs = synthetic_history(3, seed=5, scenarios=("S1",))
    other = copy.deepcopy(runs[0])
    other["run_id"] = "9" + other["run_id"]  # the newest
    for scenario in other["scenarios"]:
        scenario["version"] = "another file's"
    ids = [r["run_id"] for r in runs]
    assert trends.overlapping_pair([*runs, other]) == (ids[1], ids[2])
    assert trends.overlapping_pair([*runs, other], newer=ids[1]) == (ids[0], ids[1])
    assert trends.overlapping_pair(runs, older=ids[0]) == (ids[0], ids[2])
    with pytest.raises(ValueError, match="shares a scenario version with 9"):
        trends.overlapping_pair([*runs, other], newer=other["run_id"])
    with pytest.raises(ValueError, match="no two runs"):
        trends.overlapping_pair([runs[0], other])
    with pytest.raises(ValueError, match="no run nope"):
        trends.overlapping_pair(runs, older="nope")
