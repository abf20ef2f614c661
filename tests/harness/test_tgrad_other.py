"""The tgrad-other engine: a second tgrad build beside the installed one in the same run (before/after
tables measured side by side), and --engines adding an engine the scenario file does not list."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pytest
from lab_fakes import FastFake, spec, write_scenarios

from harness import cli, store
from harness.engines.tgrad_engine import OTHER_ENV


def _run(tmp_path: Path, *extra: str) -> tuple[int, dict]:
    scenarios = write_scenarios(tmp_path, [FastFake], subject=FastFake)
    argv = ["run", str(scenarios), "--results", str(tmp_path / "results"), "--no-progress", "--no-history", *extra]
    code = cli.main(argv)
    run = store.load_run(next((tmp_path / "results" / "runs").glob("*.json")))
    return code, run


@pytest.mark.parametrize(
    ("site", "reason"),
    [(None, "TGRAD_LAB_OTHER is not set"), ("empty", "holds no tgrad package")],
)
def test_without_another_build_the_cells_say_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, site, reason):
    if site is None:
        monkeypatch.delenv(OTHER_ENV, raising=False)
    else:
        (tmp_path / site).mkdir()
        monkeypatch.setenv(OTHER_ENV, str(tmp_path / site))
    code, run = _run(tmp_path, "--engines", f"{spec(FastFake)},tgrad-other")
    assert code == 0
    cells = [c for c in run["cells"] if c["engine"] == "tgrad-other"]
    assert [c["scenario"] for c in cells] == ["T1", "T2"], "--engines adds an engine the file does not list"
    assert all(c["status"] == "unavailable" and reason in c["reason"] for c in cells), cells


def test_another_build_runs_from_its_own_site_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # the installed build stands in for the other one: the cell must import it from the named directory
    site = sysconfig.get_paths()["purelib"]
    monkeypatch.setenv(OTHER_ENV, site)
    code, run = _run(tmp_path, "--engines", "tgrad-other", "--only", "T1")
    assert code == 0
    (cell,) = run["cells"]
    assert cell["status"] == "ok", cell.get("reason")
    assert cell["info"]["site"] == site and cell["env"]["PYTHONPATH"].startswith(site)
    assert cell["agreement"]["oracle"]["ok"] is True


def test_an_unknown_engine_name_is_refused(tmp_path: Path, capsys):
    scenarios = write_scenarios(tmp_path, [FastFake], subject=FastFake)
    argv = ["run", str(scenarios), "--results", str(tmp_path / "r"), "--no-progress", "--engines", "no-such-engine"]
    assert cli.main(argv) == 2
    assert "unknown engine 'no-such-engine'" in capsys.readouterr().err
