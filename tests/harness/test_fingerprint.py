"""The fingerprint's git state: a tree whose code differs from its commit is dirty; lab outputs are not code."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from harness import fingerprint

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    _git(tmp_path, "init", "-q")
    (tmp_path / "engine.py").write_text("x = 1\n")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "latest.md").write_text("table\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "c")
    monkeypatch.setattr(fingerprint, "REPO_ROOT", tmp_path)
    return tmp_path


def test_a_clean_tree_is_not_dirty(repo: Path) -> None:
    info = fingerprint.git()
    assert info["dirty"] is False and len(info["commit"]) == 40


def test_a_new_results_table_leaves_the_tree_clean(repo: Path) -> None:
    (repo / "results" / "latest.md").write_text("a newer table\n")
    assert fingerprint.git()["dirty"] is False


def test_changed_code_makes_the_tree_dirty(repo: Path) -> None:
    (repo / "results" / "latest.md").write_text("a newer table\n")
    (repo / "engine.py").write_text("x = 2\n")
    assert fingerprint.git()["dirty"] is True


@pytest.mark.parametrize(
    ("stated", "expected"),
    [
        (
            "0123456789abcdef0123456789abcdef01234567",
            {"commit": "0123456789abcdef0123456789abcdef01234567", "dirty": False},
        ),
        ("abcdef1+dirty", {"commit": "abcdef1", "dirty": True}),
        ("not a commit; rm -rf /", {"commit": None, "dirty": None}),
    ],
)
def test_a_tree_without_git_takes_the_stated_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stated: str, expected: dict[str, object]
) -> None:
    """A copy of the tree on a lent GPU machine has no .git: TGRAD_LAB_COMMIT (from .whl/COMMIT) names the
    commit its wheels were built from; anything but a commit hash is ignored."""
    monkeypatch.setattr(fingerprint, "REPO_ROOT", tmp_path)  # no repository here
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    monkeypatch.setenv("TGRAD_LAB_COMMIT", stated)
    assert fingerprint.git() == expected


def test_a_repository_wins_over_the_stated_commit(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TGRAD_LAB_COMMIT", "abcdef1")
    assert fingerprint.git()["commit"] != "abcdef1"
