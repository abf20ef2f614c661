"""The torch engine on the CPU (issue 17 item 6): optional, unavailable with the reason when torch is
absent or broken, on the usable cores when present, and judged against the oracle like every engine.

The worker imports whichever `torch` comes first on PYTHONPATH, so these tests put a stand-in there: one
that is missing, one that is broken, and one that computes with numpy (its answer can be made wrong).
CI never installs torch; where it is installed, the real one is run too (TGRAD_REQUIRE_TORCH=1 makes
that test fail instead of skipping when torch is missing).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest
from lab_fakes import FastFake, write_scenarios

from harness import cli, compare, scenario, store
from harness.engines.torch_engine import usable_cores

MISSING = "raise ImportError(\"No module named 'torch' (hidden by the test)\")\n"
BROKEN = 'raise ValueError("libcublasLt.so.*[0-9] not found in the system path")\n'
NUMPY_TORCH = """
import os
import tomllib
import numpy as np

__version__ = "0.0+numpy"
_error = float(os.environ.get("FAKE_TORCH_ERROR", "0"))
_threads = [64]


class version:
    cuda = None


class backends:
    class cuda:
        class matmul:
            allow_tf32 = True


class cuda:
    @staticmethod
    def is_available():
        return False


def set_num_threads(n):
    _threads[0] = int(n)


def get_num_threads():
    return _threads[0]


def set_num_interop_threads(n):
    pass


class Tensor:
    def __init__(self, a):
        self.a = a

    def to(self, device):
        return self

    def transpose(self, i, j):
        return Tensor(np.swapaxes(self.a, i, j))

    def __matmul__(self, other):
        return Tensor((self.a @ other.a * (1 + _error)).astype(self.a.dtype))

    def __add__(self, other):
        return Tensor(self.a + other.a)

    def cpu(self):
        return self

    def numpy(self):
        return self.a


def from_numpy(a):
    return Tensor(a)


def relu(t):
    return Tensor(np.maximum(t.a, 0))
"""


def _with_torch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str) -> None:
    package = tmp_path / "stand-in" / "torch"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(source)
    monkeypatch.setenv("PYTHONPATH", str(package.parent))


def _run(tmp_path: Path) -> tuple[int, dict]:
    scenarios = write_scenarios(tmp_path, [FastFake, "torch"], subject=FastFake)
    code = cli.main(["run", str(scenarios), "--results", str(tmp_path / "results"), "--no-progress"])
    run = store.load_run(next((tmp_path / "results" / "runs").glob("*.json")))
    return code, run


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        (MISSING, "torch is not installed (No module named 'torch' (hidden by the test)); it is optional: "
         "pip install '.[torch-cpu]'"),
        (BROKEN, "torch cannot be imported: ValueError: libcublasLt.so.*[0-9] not found"),
    ],
)  # fmt: skip
def test_without_a_usable_torch_the_cells_say_why(
    source: str, reason: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_torch(tmp_path, monkeypatch, source)
    code, run = _run(tmp_path)
    assert code == 0  # an optional engine missing is not a failure
    torch_cells = [c for c in run["cells"] if c["engine"] == "torch"]
    assert [c["scenario"] for c in torch_cells] == ["T1", "T2"]
    assert all(c["status"] == "unavailable" and reason in c["reason"] for c in torch_cells)
    assert "unavailable: " + reason.split(" (")[0] in (tmp_path / "results" / "latest.md").read_text()


def test_torch_on_the_cpu_uses_the_usable_cores_and_is_judged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _with_torch(tmp_path, monkeypatch, NUMPY_TORCH)
    code, run = _run(tmp_path)
    assert code == 0
    cells = [c for c in run["cells"] if c["engine"] == "torch"]
    assert [c["status"] for c in cells] == ["ok", "ok"]
    cores = usable_cores()
    for cell in cells:
        assert cell["info"]["threads"] == cores and cell["info"]["version"] == "0.0+numpy"
        assert cell["env"]["OMP_NUM_THREADS"] == cell["env"]["MKL_NUM_THREADS"] == str(cores)
        assert cell["agreement"]["oracle"]["ok"] is True
    rows = {(r.scenario, r.engine): r for r in compare.build_table(run).rows}
    assert rows[("T2", "torch")].speedup is not None and rows[("T2", "torch")].agreement_ok is True


def test_a_wrong_torch_answer_fails_the_run_like_any_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    _with_torch(tmp_path, monkeypatch, NUMPY_TORCH)
    monkeypatch.setenv("FAKE_TORCH_ERROR", "0.01")
    code, run = _run(tmp_path)
    assert code == 1
    assert "agreement FAILED in T1 (seed 7): torch: max error is" in capsys.readouterr().err
    assert all(c["agreement"]["oracle"]["ok"] is False for c in run["cells"] if c["engine"] == "torch")


def test_the_real_torch_when_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        import torch  # noqa: F401
    except Exception as e:
        if os.environ.get("TGRAD_REQUIRE_TORCH") == "1":
            raise AssertionError(f"TGRAD_REQUIRE_TORCH=1 but torch cannot be imported: {e}") from e
        pytest.skip(f"torch is not installed here ({type(e).__name__}); CI runs the stand-ins above")
    monkeypatch.setenv("PYTHONPATH", "")
    code, run = _run(tmp_path)
    assert code == 0
    cells = [c for c in run["cells"] if c["engine"] == "torch"]
    assert [c["status"] for c in cells] == ["ok", "ok"]
    assert all(c["info"]["threads"] == usable_cores() and c["agreement"]["oracle"]["ok"] for c in cells)


def test_torch_is_optional_and_in_the_cpu_table() -> None:
    root = Path(__file__).resolve().parents[2]
    groups = tomllib.loads((root / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(r.startswith("torch") for r in groups["torch-cpu"])
    assert not [r for name, group in groups.items() if name != "torch-cpu" for r in group if r.startswith("torch")]
    not_in_setup = next(
        line for line in (root / "Makefile").read_text().splitlines() if line.startswith("NOT_IN_SETUP")
    )
    assert "torch-cpu" in not_in_setup.split(":=")[1].split()  # make setup never installs it
    assert "torch" in scenario.load(root / "scenarios" / "five.toml").lab.engines
