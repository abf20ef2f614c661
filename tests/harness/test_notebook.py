"""notebooks/speedups.ipynb: committed without outputs, and runs clean with a real kernel on a small history."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from lab_synthetic import synthetic_history

from harness import history

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "speedups.ipynb"


def test_committed_notebook_has_no_outputs() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


def test_notebook_executes_on_a_small_history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # jupyter_core's path-migration warning, answered
    db = tmp_path / "history.sqlite"
    with history.History(db) as h:
        for record in synthetic_history(2, seed=21, scenarios=("S1", "S2")):
            h.append(record)
    monkeypatch.setenv(history.ENV_VAR, str(db))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    client.execute()  # raises CellExecutionError if any cell errors
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 4
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "2 runs" in printed and "check:" in printed
