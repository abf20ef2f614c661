"""Results on disk: run files that are written atomically and never overwritten, and the latest table.

A run file is written to a temporary file in the same folder, flushed to disk, then hard-linked to its
final name, which fails instead of replacing an existing file (another name is then chosen). The
latest table (results/latest.md, .csv) is replaced atomically with os.replace. An interrupted write
leaves at most a hidden temporary file behind (`.tmp-<pid>-*.part`), never a truncated result; the next
run removes it (guard.sweep_temp_files).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from harness.guard import temp_prefix
from harness.record import SCHEMA_VERSION, RunRecord, SchemaError, validate_run

__all__ = ["RESULTS_DIR", "SCHEMA_VERSION", "StoreError", "load_run", "parse_json", "write_run"]
RESULTS_DIR = Path(__file__).resolve().parent.parent / "results"


class StoreError(ValueError):
    pass


def _write_temp(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=folder, prefix=temp_prefix(), suffix=".part")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def atomic_write_text(path: Path, text: str) -> None:
    """Replace `path` with `text` so readers see the old or the new content, never a mix."""
    temp = _write_temp(path.parent, text)
    try:
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def write_new(folder: Path, stem: str, text: str, suffix: str = ".json") -> Path:
    """Write `text` to folder/stem.json, or stem-1.json, ... : an existing file is never replaced."""
    temp = _write_temp(folder, text)
    try:
        for attempt in range(1000):
            path = folder / (f"{stem}{suffix}" if attempt == 0 else f"{stem}-{attempt}{suffix}")
            try:
                os.link(temp, path)
                return path
            except FileExistsError:
                continue
        raise StoreError(f"no free file name for {stem} in {folder}")
    finally:
        temp.unlink(missing_ok=True)


def write_run(run: RunRecord, runs_dir: Path) -> Path:
    """Write a run file under its run id; when two runs start in the same second, the later one gets the
    next free `<id>-N`, and its `run_id` is renamed to match, so ids stay unique (the history keys on them)."""
    base = run["run_id"]
    for attempt in range(1000):
        run["run_id"] = base if attempt == 0 else f"{base}-{attempt}"
        if (runs_dir / f"{run['run_id']}.json").exists():
            continue
        path = write_new(runs_dir, run["run_id"], json.dumps(run, indent=1, default=str) + "\n")
        if path.stem == run["run_id"]:
            return path
        path.unlink()  # lost a race for the name: try the next one
    raise StoreError(f"no free run id for {base} in {runs_dir}")


def parse_json(path: Path) -> Any:
    """The JSON value in a file, or StoreError naming the file and what is wrong with it."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise StoreError(f"{path}: cannot read: {e.strerror}") from e
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise StoreError(f"{path}: not a UTF-8 text file (byte {e.start}); a binary file?") from e
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise StoreError(f"{path}:{e.lineno}: not valid JSON: {e.msg}") from e
    except RecursionError as e:
        raise StoreError(f"{path}: JSON nested too deeply") from e


def load_run(path: str | Path) -> RunRecord:
    """A run file, validated against the run record's schema (harness.record)."""
    path = Path(path)
    data = parse_json(path)
    try:
        return validate_run(data, str(path))
    except SchemaError as e:
        raise StoreError(str(e)) from e
