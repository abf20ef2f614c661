"""`harness plots` (make report): PNGs and an HTML page from a synthetic history, written atomically."""

from __future__ import annotations

from pathlib import Path

import pytest
from lab_synthetic import synthetic_history

from harness import cli, history, plots

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
    assert names == ["agreement.png", "gflops.png", "index.html", "speedup.png", "timings.png"]
    for name in plots.FIGURES:
        assert (out / f"{name}.png").read_bytes().startswith(PNG)
    page = (out / "index.html").read_text()
    assert all(f'src="{name}.png"' in page for name in plots.FIGURES)
    assert "<td>S2 gemm-128</td>" in page and "tinygrad-jit" in page
    assert str(out / "index.html") in capsys.readouterr().out


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
